"""``optbench.run``: expand a grid, run it in compiled code, return (and store) the results."""
from __future__ import annotations

import functools
import time

import numba

from . import cuda_backend, engine
from .plan import DEFAULT_RECORD, Plan
from .progress import Progress
from .results import Results
from .store import RunStore, concat_shards, provenance

BACKENDS = ("cpu", "cuda", "auto")


def run(problems, optimizers, schedules=None, steps=1000, seeds=1, x0=None,
        record=DEFAULT_RECORD, record_every=1, record_points=200, dtype="float64", target=None,
        blowup=1e10, shard_size=4096, out=None, resume=False, backend="cpu", threads=None,
        progress=None, name="run", calibrate=False, cuda_mode="auto") -> Results:
    """Run every (problem, optimizer, schedule, seed) trajectory for ``steps`` steps.

    problems, optimizers, schedules: specs (or lists of specs); schedules=None is constant lr.
    seeds: a count (0..n-1) or a list. x0: one start point (d,) or one per trajectory
    (n_trials, d); default: each problem's seeded start distribution (the same start for every
    optimizer under one seed). record: trace names among loss, lr, momentum, grad_norm,
    suboptimality, dist_to_opt, sampled_loss, x, and the step channels eff_step,
    eff_step_p10, eff_step_p90 (median, 10th, 90th percentile over coordinates of
    |x_{k+1,i} - x_{k,i}| / |g_{k,i}|, at the record of step k; NaN at the last);
    record_every: k (every k-th step) or "log" (record_points log-spaced steps). target: stop a trajectory once f - f* <= target. blowup: a trajectory
    diverges when f exceeds f(x0) + blowup*(|f(x0)| + 1) or turns non-finite.
    out: a run directory written shard by shard (``resume=True`` completes an interrupted one).
    calibrate: also time a fixed reference workload (and the run's best of a few repeats when
    short) and store them in ``manifest["timings"]``, for ``optbench compare``'s speed check.
    backend: "cpu", "cuda" (a GPU; one line of error without one) or "auto" (the GPU when there
    is one). cuda_mode: the CUDA kernel, "thread" (one thread per trajectory), "block" (a
    thread block per trajectory) or "auto" (block for problems of dimension >=
    ``cuda_backend.BLOCK_MODE_MIN_DIM``); see ``optbench.cuda_backend``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"run: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    cuda_backend.check_mode(cuda_mode)
    plan = Plan(problems=problems, optimizers=optimizers, schedules=schedules, seeds=seeds,
                steps=steps, record=record, record_every=record_every, record_points=record_points,
                dtype=dtype, target=target, blowup=blowup, shard_size=shard_size, x0=x0, name=name)
    run_shard, warm_up = _backend(backend, cuda_mode)
    if threads is not None:
        numba.set_num_threads(int(threads))

    store = RunStore(out) if out is not None else None
    if store is not None:
        manifest, done = store.open(plan, resume)
    else:
        manifest, done = {"config_hash": plan.config_hash(), "config": plan.config(),
                          "provenance": provenance()}, set()

    timings = {"warm_up": warm_up(plan)}
    shards = plan.shards()
    parts: dict = {}
    t_run = time.perf_counter()
    kernel_seconds = 0.0
    with Progress(len(shards) - len(done), enabled=progress) as bar:
        for index, (start, stop) in enumerate(shards):
            if index in done:
                parts[index] = store.read_shard(index)
                continue
            arrays, seconds = run_shard(plan, start, stop)
            kernel_seconds += seconds
            if store is not None:
                store.write_shard(index, arrays)
            parts[index] = arrays
            bar.advance()
    timings.update(kernel_seconds=kernel_seconds, total_seconds=time.perf_counter() - t_run,
                   shards_run=len(shards) - len(done), shards_resumed=len(done))
    if calibrate:
        from .compare.calibrate import calibrate as _calibrate

        timings.update(_calibrate(plan, run_shard, kernel_seconds, len(done), warm_up))
    manifest["timings"] = timings
    manifest["provenance"] = provenance()
    results = Results(plan, concat_shards([parts[i] for i in range(len(shards))]), manifest,
                      path=store.path if store is not None else None)
    if store is not None:
        store.finish(manifest, results)
    return results


def _backend(name, cuda_mode="auto"):
    """(shard runner, warm-up) of backend ``name``: 'cuda' needs a usable GPU (else a one-line
    ValueError naming why), 'auto' takes the GPU when there is one and the CPU otherwise. The
    CUDA backend's warm-up compiles its own kernels, never the CPU's."""
    if name == "cpu":
        return engine.run_shard_cpu, engine.warm_up
    if name == "cuda":
        cuda_backend.require_gpu()
    elif not cuda_backend.available():
        return engine.run_shard_cpu, engine.warm_up
    return (functools.partial(cuda_backend.run_shard_cuda, mode=cuda_mode),
            functools.partial(cuda_backend.warm_up, mode=cuda_mode))
