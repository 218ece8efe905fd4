"""CPU driver: the blocks of one kernel in a shard, in parallel over blocks.

Each CPU kernel (``optbench.codegen``) has a trajectory loop ``run_block``: the built-in
rules' kernel compiles it with their dispatch inlined; a user's rule (or the rules on a
user's problem) runs in a loop compiled per problem group, which takes the rules' dispatch
as first-class functions (numba's ``FunctionType``, called through their C wrappers'
addresses), so that a new rule or an edit compiles the rule alone. This driver is compiled
once per argument types (dtype, record layout), whatever the kernel: it takes the kernel's
entry ``cpu_block`` (its ``run_block``: ``codegen._cpu_entry_source``) as a first-class
function too and runs the listed blocks in ``prange``. One indirect call per block, or per
step of a block for the rule, costs little next to a block's steps (PlainAdam in a loop
taking its rule runs workload A at 1.01x the built-in kernel's time on 2 threads: README,
"Speed"), and a kernel's
compile is its trajectory loop alone: the ``prange`` driver, compiled into every kernel,
took twice as long again as the loop (6.7 s and 13.8 s for a user rule's kernel). Blocks
are independent, so results do not depend on how ``prange`` splits them or on the thread
count.
"""
import warnings

import numpy as np
from numba import njit, prange, typeof, types
from numba.core.errors import NumbaExperimentalFeatureWarning
from numba.core.types.function_type import CompileResultWAP


@njit(parallel=True, cache=True, error_model="numpy")
def run_blocks(run_block, blocks, *args):
    """Run the blocks listed in ``blocks`` with ``run_block``, a kernel's ``cpu_block``
    (its arguments after the block index: ``args``, the rules' dispatch when the loop takes
    it, then the fields of the bundles ``layout.Inputs``, ``Lanes``, ``Outputs``)."""
    for i in prange(blocks.size):
        run_block(blocks[i], *args)


_LOOPS: dict = {}


def run_kernel_blocks(entry, blocks, *bundles, functions=(), signatures=tuple) -> None:
    """``run_blocks`` over ``blocks`` with the trajectory loop ``entry`` (a generated
    kernel's ``cpu_block``) on ``bundles`` (``engine.run_block``'s arguments after the block
    index, ``Packed.kernel_args``), passed as their fields one after the other (numba's
    ``prange`` cannot pass a tuple of arrays into its loop body; ``cpu_block`` bundles them
    again), compiling or loading both for these arguments first; ``functions``: for a loop
    that takes its rules' dispatch as arguments, those dispatchers, passed compiled for the
    argument types ``signatures()`` returns (called only to compile). Later calls go
    straight to the compiled driver: typing 28 arguments through the dispatcher took 75 us
    a call, more than a short run's steps (0.2 ms for 1,000 steps of one lane)."""
    args = _fields(bundles)
    key = (entry, functions, *map(_fingerprint, (blocks, *args)))
    if key not in _LOOPS:
        with warnings.catch_warnings():  # numba's note that first-class functions are new
            warnings.simplefilter("ignore", NumbaExperimentalFeatureWarning)
            function_signatures = signatures() if functions else ()
            compiled = tuple(_first_class(fn, signature)
                             for fn, signature in zip(functions, function_signatures))
            _LOOPS[key] = (compiled, *compile_loop(entry, blocks, bundles, function_signatures))
    compiled, loop, driver_entry = _LOOPS[key]
    driver_entry(loop, blocks, (*compiled, *args))


def compile_loop(entry, blocks, bundles, function_signatures=()) -> tuple:
    """(the trajectory loop ``entry`` as a first-class function, the entry point of the
    driver that runs it), each compiled or loaded from the disk cache for these arguments
    (``bundles``, as ``run_kernel_blocks`` takes them) and, for a loop that takes its rules'
    dispatch, for functions of the argument types ``function_signatures`` that return nothing
    (what a rule module's dispatch compiles to). The types alone: a loop compiles before any
    rule exists (``optbench.prebuild``)."""
    functions = tuple(types.FunctionType(types.none(*signature))
                      for signature in function_signatures)
    arguments = (*functions, *map(typeof, _fields(bundles)))
    # the compiled loop as a first-class function: run_blocks is typed by its signature
    # alone, so every kernel shares one compiled (and disk-cached) run_blocks
    loop = _first_class(entry, (typeof(blocks[:1].dtype.type(0)), *arguments))
    driver = (typeof(loop), typeof(blocks), types.BaseTuple.from_types(arguments))  # *args
    run_blocks.compile(driver)
    return loop, run_blocks.overloads[driver].entry_point


def _fields(bundles) -> tuple:
    """The fields of ``bundles``, one after the other."""
    return tuple(field for bundle in bundles for field in bundle)


def _first_class(dispatcher, signature):
    """``dispatcher`` compiled (or loaded) for ``signature``, as a first-class function."""
    dispatcher.compile(signature)
    return CompileResultWAP(dispatcher.overloads[signature])


def _fingerprint(value):
    """What numba's type of ``value`` depends on (an array's dtype, rank, layout and flags;
    a scalar's class), cheaper to read than ``typeof`` (150 us for the 28 arguments)."""
    if isinstance(value, np.ndarray):
        flags = value.flags
        return (value.dtype.str, value.ndim, flags.c_contiguous, flags.f_contiguous,
                flags.writeable, flags.aligned)
    return type(value)
