"""CPU driver: the blocks of one kernel's rules in a shard, in parallel over blocks.

Each CPU kernel (``optbench.codegen``: the built-in rules together, each user rule or
problem alone) compiles the trajectory loop ``run_block`` for its rules. This driver is
compiled once per argument types (dtype, record layout), whatever the kernel: it takes the
kernel's entry ``cpu_block`` (its ``run_block``: ``codegen._cpu_entry_source``) as a
first-class function (numba's ``FunctionType``, called through its C wrapper's address)
and runs the listed blocks in ``prange``. One indirect call per block costs nothing next to
a block's steps, and a kernel's compile is its trajectory loop alone: the ``prange`` driver,
compiled into every kernel, took twice as long again as the loop (6.7 s and 13.8 s for a
user rule's kernel). Blocks are independent, so results do not
depend on how ``prange`` splits them or on the thread count.
"""
import numpy as np
from numba import njit, prange, typeof
from numba.core.types.function_type import CompileResultWAP


@njit(parallel=True, cache=True, error_model="numpy")
def run_blocks(run_block, blocks, n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data,
               xs_data, lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C,
               PS, LS, E, out_trace, out_x, out_status, out_final):
    """Run the blocks listed in ``blocks`` (rows of ``bmeta``) with ``run_block``, a
    kernel's ``cpu_block`` (``engine.run_block``'s arguments after ``blocks``)."""
    for i in prange(blocks.size):
        run_block(blocks[i], n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data,
                  xs_data, lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C,
                  PS, LS, E, out_trace, out_x, out_status, out_final)


_LOOPS: dict = {}


def run_kernel_blocks(dispatcher, blocks, *args) -> None:
    """``run_blocks`` over ``blocks`` with the trajectory loop ``dispatcher`` (a generated
    kernel's ``cpu_block``), compiling or loading both for these arguments first. Later
    calls go straight to the compiled driver: typing 28 arguments through the dispatcher
    took 75 us a call, more than a short run's steps (0.2 ms for 1,000 steps of one lane)."""
    key = (dispatcher, *map(_fingerprint, (blocks, *args)))
    if key not in _LOOPS:
        signature = tuple(typeof(a) for a in (blocks[:1].dtype.type(0), *args))
        dispatcher.compile(signature)
        # the compiled loop as a first-class function: run_blocks is typed by its signature
        # alone, so every kernel shares one compiled (and disk-cached) run_blocks
        loop = CompileResultWAP(dispatcher.overloads[signature])
        driver = (typeof(loop), typeof(blocks), *signature[1:])
        run_blocks.compile(driver)
        _LOOPS[key] = loop, run_blocks.overloads[driver].entry_point
    loop, driver_entry = _LOOPS[key]
    driver_entry(loop, blocks, *args)


def _fingerprint(value):
    """What numba's type of ``value`` depends on (an array's dtype, rank, layout and flags;
    a scalar's class), cheaper to read than ``typeof`` (150 us for the 28 arguments)."""
    if isinstance(value, np.ndarray):
        flags = value.flags
        return (value.dtype.str, value.ndim, flags.c_contiguous, flags.f_contiguous,
                flags.writeable, flags.aligned)
    return type(value)
