"""Host side of the CUDA backend: device detection, modes, transfers, running a shard.

``run_shard_cuda(plan, start, stop, mode)`` is the CUDA twin of ``engine.run_shard_cpu``. Two
modes (``kernels.cuda`` describes the kernels):

* ``"thread"``: one GPU thread per trajectory, the shard packed with the CPU engine's
  ``Packed`` in blocks of up to ``WARP`` lanes that share a configuration (one block, one warp);
* ``"block"``: one thread block of ``BLOCK_THREADS`` threads per trajectory (``Packed`` with one
  lane per block), the threads splitting the coordinates: for large problems, where one
  thread per trajectory would leave the GPU idle or run out of registers;
* ``"auto"`` (the default): block mode for problems of dimension >= ``BLOCK_MODE_MIN_DIM``,
  thread mode for the others (a shard mixing both runs as consecutive segments).

Block mode splits a trajectory's coordinates across threads, which only a rule that updates
each coordinate from its own values allows (``Optimizer.splits_coordinates``): a user's
whole-vector rule (LAMB's trust ratio) runs in thread mode in every mode.

Each segment's inputs are copied to the GPU, the kernel runs, and only the outputs (traces,
statuses, final values) come back, into the same arrays the CPU backend fills, so the results
store, trials table and traces are built by the same code. GPU memory holds one segment at a
time: ``shard_size`` bounds it (a GPU wants large shards, tens of thousands of trajectories
in thread mode, to fill its SMs).

Nothing here imports ``numba.cuda`` until a CUDA run (or ``gpu_unavailable_reason``) asks for
it, so the CPU backend never pays for it.
"""
from __future__ import annotations

import functools
import importlib.util
import math
import time

import numpy as np

from .codegen import kernel_for, problem_units
from .engine import Packed
from .plan import Plan

#: lanes per block in thread mode: one warp of trajectories that share a configuration
WARP = 32
#: threads per CUDA thread block in thread mode (whole warps)
THREADS_PER_BLOCK = 128
#: threads per trajectory in block mode (a power of two, <= kernels.cuda.MAX_BLOCK_THREADS);
#: the simulator runs each thread as a Python thread, so it gets fewer
BLOCK_THREADS = 128
SIMULATOR_BLOCK_THREADS = 8
#: in mode "auto", problems of this dimension or more run in block mode: from here on a
#: trajectory gives each of the 128 threads at least two coordinates, and one thread per
#: trajectory would hold d-long state vectors per thread
BLOCK_MODE_MIN_DIM = 256
MODES = ("auto", "thread", "block")


@functools.lru_cache(maxsize=1)
def gpu_unavailable_reason() -> str | None:
    """None when a CUDA GPU (or numba's CUDA simulator) can run the kernels, else why not,
    in one line."""
    if importlib.util.find_spec("numba_cuda") is None:
        return "numba-cuda is not installed (pip install 'optbench[cuda]')"
    try:
        from numba import cuda
    except Exception as exc:  # a broken install must not take the CPU backend down
        return f"numba.cuda does not import ({_one_line(exc)})"
    if getattr(cuda, "implementation", None) != "NVIDIA":
        return "numba.cuda is numba's built-in target, not numba-cuda (pip install numba-cuda)"
    try:
        if not cuda.is_available():
            error = cuda.cuda_error() if hasattr(cuda, "cuda_error") else None
            return f"no usable CUDA GPU ({_one_line(error) if error else 'none found'})"
        cuda.get_current_device()
    except Exception as exc:
        return f"no usable CUDA GPU ({_one_line(exc)})"
    return None


def _one_line(exc) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines)[:300] if lines else type(exc).__name__


def available() -> bool:
    """True when a real GPU can run the kernels: what ``backend='auto'`` asks (numba's CUDA
    simulator runs ``backend='cuda'``, for tests, but ``auto`` never picks it)."""
    return gpu_unavailable_reason() is None and not is_simulator()


def require_gpu(context: str = "run") -> None:
    """Raise ValueError (one line, naming the reason) unless the CUDA backend can run."""
    reason = gpu_unavailable_reason()
    if reason is not None:
        raise ValueError(f"{context}: backend 'cuda' cannot run: {reason}; "
                         f"use backend 'cpu' or 'auto'")


def is_simulator() -> bool:
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def device_name() -> str:
    """The GPU the kernels run on, in words."""
    from numba import cuda

    if is_simulator():
        return "numba CUDA simulator"
    dev = cuda.get_current_device()
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    return f"{name} (compute capability {dev.compute_capability[0]}.{dev.compute_capability[1]})"


def check_mode(mode, context: str = "run") -> str:
    """``mode`` when it is one of MODES, else a one-line ValueError naming it."""
    if mode not in MODES:
        raise ValueError(f"{context}: cuda_mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def trial_modes(plan: Plan, start: int, stop: int, mode: str) -> list[str]:
    """The kernel mode of each trial in [start, stop): ``mode``, or by dimension for auto;
    thread mode for a rule that cannot split its coordinates (module docstring)."""
    splits = [o.splits_coordinates() for o in plan.optimizers]
    return ["thread" if not splits[t.optimizer] else mode if mode != "auto" else
            "block" if plan.problems[t.problem].dim >= BLOCK_MODE_MIN_DIM else "thread"
            for t in plan.trials[start:stop]]


def segments(plan: Plan, start: int, stop: int, mode: str) -> list[tuple[int, int, str]]:
    """[start, stop) cut into maximal runs of one kernel: one kernel mode and one problem
    kernel (the built-in families, or one user problem class); (start, stop, mode) each."""
    modes = trial_modes(plan, start, stop, mode)
    owners = [problem_units(plan.problems[t.problem]) for t in plan.trials[start:stop]]
    out: list[tuple[int, int, str]] = []
    for j, (m, owner) in enumerate(zip(modes, owners), start):
        if out and out[-1][2] == m and owners[out[-1][0] - start] == owner:
            out[-1] = (out[-1][0], j + 1, m)
        else:
            out.append((j, j + 1, m))
    return out


def pack(plan: Plan, start: int, stop: int, mode: str, rules: Plan | None = None) -> Packed:
    """Trials [start, stop) (one segment) packed for the ``mode`` ("thread" or "block")
    kernel of the CUDA kernel module of ``rules``' optimizers (default the plan's) and the
    segment's problem kernel."""
    units = problem_units(plan.problems[plan.trials[start].problem])
    return Packed(plan, start, stop, lanes=WARP if mode == "thread" else 1,
                  kernel=kernel_for((rules or plan).optimizers, "cuda", units))


def kernel_args(packed: Packed, mode: str = "thread") -> tuple:
    """``packed.kernel_args()`` (the bundles inputs, per_lane, outputs) as the ``mode``
    kernel takes them. Thread mode: per-lane scalar state ``SC`` of shape (blocks, lanes,
    SCALAR_SLOTS), since lanes run in separate threads. Block mode: ``SC`` and ``C`` empty
    (the kernel keeps them per thread), so that nothing is copied for them."""
    inputs, lanes, outputs = packed.kernel_args()
    if mode == "block":
        lanes = lanes._replace(SC=np.zeros((0,) * lanes.SC.ndim, lanes.SC.dtype),
                               C=np.zeros((0,) * lanes.C.ndim, lanes.C.dtype))
    else:
        nb, width = inputs.lane_traj.shape
        lanes = lanes._replace(SC=np.zeros((nb, width, packed.kernels[0].scalar_slots)))
    return inputs, lanes, outputs


def block_threads() -> int:
    return SIMULATOR_BLOCK_THREADS if is_simulator() else BLOCK_THREADS


def launch_config(packed: Packed, mode: str = "thread") -> tuple[int, int]:
    """(blocks, threads per block): thread mode covers one thread per lane of every block;
    block mode gives every packed block (one trajectory) a thread block."""
    if mode == "block":
        return packed.inputs.lane_traj.shape[0], block_threads()
    n_threads = packed.inputs.lane_traj.size
    return max(1, math.ceil(n_threads / THREADS_PER_BLOCK)), THREADS_PER_BLOCK


def kernel(packed: Packed, mode: str):
    """The CUDA kernel (dispatcher) of ``mode`` in ``packed``'s kernel module."""
    cuda_kernel = packed.kernels[0]
    return cuda_kernel.run_grid_cuda_blocks if mode == "block" else cuda_kernel.run_grid_cuda


def compile_kernel(packed: Packed, args, mode: str = "thread") -> tuple[float, bool]:
    """Compile (or load from the disk cache) the ``mode`` kernel for these host arguments'
    types; (seconds, loaded from the cache). A no-op in the simulator and when done."""
    import numba

    if is_simulator():
        return 0.0, False
    dispatcher = kernel(packed, mode)
    sig = tuple(numba.typeof(a) for a in args)
    hits = sum(dispatcher.stats.cache_hits.values())
    t0 = time.perf_counter()
    dispatcher.compile(sig)
    return time.perf_counter() - t0, sum(dispatcher.stats.cache_hits.values()) > hits


_WARM: dict = {}  # (dtype, mode, kernel module) -> the first call's figures in this process


def warm_up(plan: Plan, mode: str = "auto") -> dict:
    """Compile (or load from cache) the CUDA kernels this plan's run uses, timed on their own;
    the CUDA twin of ``engine.warm_up`` (the CPU kernel is not touched). Once per process,
    dtype and kernel mode: later runs report the first one's figures."""
    first = {}  # (mode, problem kernel) -> the first trial run by it
    for a, b in plan.shards():
        for start, _, m in segments(plan, a, b, mode):
            first.setdefault((m, problem_units(plan.problems[plan.trials[start].problem])),
                             start)
    seconds, hit, loaded = 0.0, True, True
    for (m, owner), index in first.items():
        key = (plan.dtype, m, kernel_for(plan.optimizers, "cuda", owner).module.__name__)
        if key not in _WARM:
            tiny = Plan(problems=plan.problems[plan.trials[index].problem],
                        optimizers=plan.optimizers[:1], schedules=None, seeds=[0], steps=1,
                        record=plan.record, dtype=plan.dtype)
            packed = pack(tiny, 0, 1, m, rules=plan)
            s, h = compile_kernel(packed, kernel_args(packed, m), m)
            _WARM[key] = {"jit_seconds": s, "cache_hit": h}
            loaded = False
        seconds += _WARM[key]["jit_seconds"]
        hit = hit and _WARM[key]["cache_hit"]
    return {"jit_seconds": seconds, "cache_hit": bool(hit and first), "already_loaded": loaded,
            "cuda_modes": sorted({m for m, _ in first})}


def run_packed(packed: Packed, mode: str = "thread") -> float:
    """Run a packed segment on the GPU with the ``mode`` kernel; fills packed's output arrays.
    Returns kernel seconds (launch to completion; compilation and transfers excluded)."""
    from numba import cuda

    args = kernel_args(packed, mode)
    compile_kernel(packed, args, mode)
    stream = cuda.stream()
    inputs, lanes, outputs = (
        bundle._make(cuda.to_device(a, stream=stream) if isinstance(a, np.ndarray) else a
                     for a in bundle) for bundle in args)
    stream.synchronize()
    grid, block = launch_config(packed, mode)
    t0 = time.perf_counter()
    kernel(packed, mode)[grid, block, stream](inputs, lanes, outputs)
    stream.synchronize()
    seconds = time.perf_counter() - t0
    for name, host in packed.out._asdict().items():  # only the outputs come back
        if host.size:
            getattr(outputs, name).copy_to_host(host, stream=stream)
    stream.synchronize()
    del inputs, lanes, outputs  # device memory goes back before the next segment
    return seconds


def run_shard_cuda(plan: Plan, start: int, stop: int, mode: str = "auto") -> tuple[dict, float]:
    """Run trials [start, stop) on the GPU; returns (stored arrays, kernel seconds), exactly
    what ``engine.run_shard_cpu`` returns. ``mode``: "auto", "thread" or "block"."""
    require_gpu()
    check_mode(mode)
    parts, seconds = [], 0.0
    for a, b, m in segments(plan, start, stop, mode):
        packed = pack(plan, a, b, m)
        seconds += run_packed(packed, m)
        parts.append(packed.outputs(plan.record))
    if len(parts) == 1:
        return parts[0], seconds
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, seconds
