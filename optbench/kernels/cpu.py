"""CPU driver: the blocks of one kernel's rules in a shard, in parallel over blocks.

Each CPU kernel (``optbench.codegen``: the built-in rules together, each user rule or
problem alone) compiles the trajectory loop ``run_block`` for its rules. This driver is
compiled once per argument types (dtype, record layout), whatever the kernel: it takes the
kernel's ``run_block`` as a first-class function (numba's ``FunctionType``, called through
its C wrapper's address) and runs the listed blocks in ``prange``. One indirect call per
block costs nothing next to a block's steps, and a kernel's compile is its trajectory loop
alone: the ``prange`` driver, compiled into every kernel, took twice as long again as the
loop (6.7 s and 13.8 s for a user rule's kernel). Blocks are independent, so results do not
depend on how ``prange`` splits them or on the thread count.
"""
from numba import njit, prange, typeof
from numba.core.types.function_type import CompileResultWAP


@njit(parallel=True, cache=True, error_model="numpy")
def run_blocks(run_block, blocks, n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data,
               xs_data, lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C,
               PS, LS, E, out_trace, out_x, out_status, out_final):
    """Run the blocks listed in ``blocks`` (rows of ``bmeta``) with ``run_block``, a
    kernel's trajectory loop (``engine.run_block``, the arguments after ``blocks`` its own)."""
    for i in prange(blocks.size):
        run_block(blocks[i], n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data,
                  xs_data, lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C,
                  PS, LS, E, out_trace, out_x, out_status, out_final)


_LOOPS: dict = {}


def run_kernel_blocks(dispatcher, blocks, *args) -> None:
    """``run_blocks`` over ``blocks`` with the trajectory loop ``dispatcher`` (a generated
    kernel's ``run_block``), compiling or loading it for these arguments first."""
    arg_types = tuple(typeof(a) for a in (blocks[:1].dtype.type(0), *args))
    key = (dispatcher, arg_types)
    if key not in _LOOPS:
        dispatcher.compile(arg_types)
        # the compiled loop as a first-class function: run_blocks is typed by its signature
        # alone, so every kernel shares one compiled (and disk-cached) run_blocks
        _LOOPS[key] = CompileResultWAP(dispatcher.overloads[arg_types])
    run_blocks(_LOOPS[key], blocks, *args)
