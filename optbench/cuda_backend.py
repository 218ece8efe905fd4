"""Host side of the CUDA backend: device detection, transfers, running a shard.

``run_shard_cuda(plan, start, stop)`` is the CUDA twin of ``engine.run_shard_cpu``: it packs the
shard with the CPU engine's ``Packed`` (blocks of up to ``WARP`` lanes that share a
configuration, so one block is one warp), copies the inputs to the GPU, runs
``kernels.cuda.run_grid_cuda`` with one thread per trajectory, and copies back only the outputs
(traces, statuses, final values) into the same arrays the CPU backend fills, so the results
store, trials table and traces are built by the same code. GPU memory holds one shard at a time
and is released when the shard is done: ``shard_size`` bounds it (a GPU wants large shards,
tens of thousands of trajectories, to fill its SMs).

Nothing here imports ``numba.cuda`` until a CUDA run (or ``gpu_unavailable_reason``) asks for
it, so the CPU backend never pays for it.
"""
from __future__ import annotations

import functools
import importlib.util
import math
import time

import numpy as np

from .engine import Packed
from .kernels import optimizers as ko
from .plan import Plan

#: lanes per block: one warp of trajectories that share a configuration
WARP = 32
#: threads per CUDA thread block (whole warps)
THREADS_PER_BLOCK = 128
#: the kernel arguments copied back after a run
_OUTPUTS = ("out_trace", "out_x", "out_status", "out_final")


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


def kernel_args(packed: Packed) -> list:
    """``packed.kernel_args()`` with the CUDA kernel's one change: per-lane scalar state
    ``SC`` of shape (blocks, lanes, SCALAR_SLOTS), since lanes run in separate threads."""
    args = list(packed.kernel_args())
    nb, width = packed.lane_traj.shape
    (i,) = [i for i, a in enumerate(args) if a is packed.SC]
    args[i] = np.zeros((nb, width, ko.SCALAR_SLOTS))
    return args


def launch_config(packed: Packed) -> tuple[int, int]:
    """(blocks, threads per block) covering one thread per lane of every block."""
    n_threads = packed.lane_traj.size
    return max(1, math.ceil(n_threads / THREADS_PER_BLOCK)), THREADS_PER_BLOCK


def compile_kernel(args) -> float:
    """Compile ``run_grid_cuda`` for these host arguments' types (no-op when done); seconds."""
    import numba

    from .kernels.cuda import run_grid_cuda

    if is_simulator():
        return 0.0
    sig = tuple(numba.typeof(a) for a in args)
    t0 = time.perf_counter()
    run_grid_cuda.compile(sig)
    return time.perf_counter() - t0


def run_packed(packed: Packed) -> float:
    """Run a packed shard on the GPU; fills packed's output arrays. Returns kernel seconds
    (launch to completion; compilation and transfers excluded)."""
    from numba import cuda

    from .kernels.cuda import run_grid_cuda

    args = kernel_args(packed)
    outputs = {i: name for i, a in enumerate(args) for name in _OUTPUTS
               if a is getattr(packed, name)}
    compile_kernel(args)
    stream = cuda.stream()
    dev = [cuda.to_device(a, stream=stream) if isinstance(a, np.ndarray) else a for a in args]
    stream.synchronize()
    grid, block = launch_config(packed)
    t0 = time.perf_counter()
    run_grid_cuda[grid, block, stream](*dev)
    stream.synchronize()
    seconds = time.perf_counter() - t0
    for i, name in outputs.items():
        host = getattr(packed, name)
        if host.size:
            dev[i].copy_to_host(host, stream=stream)
    stream.synchronize()
    del dev  # device memory goes back before the next shard
    return seconds


def run_shard_cuda(plan: Plan, start: int, stop: int) -> tuple[dict, float]:
    """Run trials [start, stop) on the GPU; returns (stored arrays, kernel seconds), exactly
    what ``engine.run_shard_cpu`` returns."""
    require_gpu()
    packed = Packed(plan, start, stop, lanes=WARP)
    seconds = run_packed(packed)
    return packed.outputs(plan.record), seconds
