"""``optbench.run``: expand a grid, run it in compiled code, return (and store) the results."""
from __future__ import annotations

import contextlib
import functools
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from . import cuda_backend, engine
from .layout import DIVERGED, ITERATE_CHANNELS
from .plan import DEFAULT_NAME, DEFAULT_RECORD, Plan
from .progress import Progress
from .results import Results
from .store import MANIFEST, RunStore, provenance, write_json

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from .optimizers import Optimizer
    from .problems import Problem
    from .schedules import Schedule

#: a backend's shard runner: (plan, start, stop) -> (arrays, kernel seconds)
ShardRunner = Callable[[Plan, int, int], "tuple[dict[str, np.ndarray], float]"]
#: finished shards as a run consumes them: (index, arrays or None if it failed, info)
ShardSource = Generator["tuple[int, dict[str, np.ndarray] | None, dict[str, Any]]", None, None]

BACKENDS = ("cpu", "cuda", "auto")
#: what a worker reports with its first shard of a run (stored under manifest["workers"])
SETUP_KEYS = ("compile", "threads", "versions", "setup_seconds")
#: trajectories per shard of a local run when none is given
LOCAL_SHARD_SIZE = 4096
#: recorded arrays (bytes) up to which a run kept in memory keeps ``LOCAL_SHARD_SIZE``
SMALL_TRACES_BYTES = 16 * 2**20


def run(problems: Problem | Sequence[Problem], optimizers: Optimizer | Sequence[Optimizer],
        schedules: Schedule | Sequence[Schedule] | None = None, steps: int = 1000,
        seeds: int | Sequence[int] = 1, x0: ArrayLike | None = None,
        record: Sequence[str] = DEFAULT_RECORD, record_every: int | str = 1,
        record_points: int = 200, dtype: str = "float64", target: float | None = None,
        blowup: float = 1e10, shard_size: int | None = None,
        out: str | os.PathLike[str] | None = None, resume: bool = False, backend: str = "cpu",
        threads: int | None = None, progress: bool | None = None, name: str = DEFAULT_NAME,
        calibrate: bool = False, cuda_mode: str = "auto", client: Any = None,
        overwrite: bool = False, force: bool = False,
        questions: Sequence[Any] | None = None, extend_lr_grid: int = 0) -> Results:
    """Run every (problem, optimizer, schedule, seed) trajectory for ``steps`` steps.

    problems, optimizers, schedules: specs (or lists of specs); schedules=None is constant lr.
    seeds: a count (0..n-1) or a list. x0: one start point (d,) or one per trajectory
    (n_trials, d); default: each problem's seeded start distribution (the same start for every
    optimizer under one seed). record: trace names among loss, lr, momentum, grad_norm,
    suboptimality, dist_to_opt, sampled_loss, x, and the step channels eff_step,
    eff_step_p10, eff_step_p90 (median, 10th, 90th percentile over coordinates of
    ``|x_{k+1,i} - x_{k,i}| / |g_{k,i}|``, at the record of step k; NaN at the last);
    record_every: k (every k-th step) or "log" (record_points log-spaced steps). target: stop a trajectory once f - f* <= target. blowup: a trajectory
    diverges when f exceeds ``f(x0) + blowup*(|f(x0)| + 1)`` or turns non-finite.
    out: a run directory written shard by shard (``resume=True`` completes an interrupted one,
    re-running missing or damaged shards; ``overwrite=True`` replaces a run optbench made
    there, once the new plan is valid). The directory is locked while the run writes it.
    force: run even when the estimated disk size or peak memory (``estimate``) exceeds what
    is free; by default such a run is refused with the estimate.
    shard_size: trajectories per shard (results do not depend on it); default: the stored
    run's on resume, else 4096 locally and ``distributed.shard_size_for`` with a client.
    calibrate: also time a fixed reference workload (and the run's best of a few repeats when
    short) and store them in ``manifest["timings"]``, for ``optbench compare``'s speed check.
    backend: "cpu", "cuda" (a GPU; one line of error without one) or "auto" (the GPU when there
    is one). cuda_mode: the CUDA kernel, "thread" (one thread per trajectory), "block" (a
    thread block per trajectory) or "auto" (block for problems of dimension >=
    ``cuda_backend.BLOCK_MODE_MIN_DIM``); see ``optbench.cuda_backend``.
    questions: study questions (``analysis.questions.Question`` or their dicts, a suite's
    ``[[questions]]``), checked against the plan and recorded for the report to answer.
    client: a ``dask.distributed.Client``: each shard runs as a task on its cluster (same
    results, see ``optbench.distributed``); threads then sets numba's threads per worker.
    Shards whose workers die repeatedly raise ``RunIncomplete`` once the others are stored.
    extend_lr_grid: B > 0 widens, after the grid has run, each (problem, optimizer family,
    schedule) lr grid whose best lr on the tuning seeds is its top or bottom point, by one
    point at a time at the grid's log spacing (all seeds), at most B per side
    (``analysis.tuning.extension_stage``); the stages are stored with the run (``--resume``
    continues them) and ``manifest["lr_extension"]`` says what was added.
    """
    if backend not in BACKENDS:
        raise ValueError(f"run: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    cuda_backend.check_mode(cuda_mode)
    if client is not None and calibrate:
        raise ValueError("run: calibrate times this machine; it cannot be combined with client")
    if overwrite and resume:
        raise ValueError("run: overwrite and resume exclude each other")
    if threads is not None and int(threads) < 1:
        raise ValueError(f"run: threads must be >= 1, got {threads}")
    if shard_size is None and resume and out is not None and (Path(out) / MANIFEST).exists():
        shard_size = RunStore(out).read_manifest()["config"]["shard_size"]  # the run's own
    plan = Plan(problems=problems, optimizers=optimizers, schedules=schedules, seeds=seeds,
                steps=steps, record=record, record_every=record_every, record_points=record_points,
                dtype=dtype, target=target, blowup=blowup, x0=x0, name=name,
                shard_size=LOCAL_SHARD_SIZE if shard_size is None else shard_size,
                extend_lr_grid=extend_lr_grid)
    asked: list[Any] = []
    if questions:
        from .analysis.questions import check_against, parse_questions

        asked = parse_questions(list(questions), "run: questions: ")
        check_against(asked, plan, "run: ")
    if shard_size is None and client is not None:
        from .distributed import cluster_threads, shard_size_for

        plan.shard_size = shard_size_for(plan, cluster_threads(client))
    elif shard_size is None and out is None:
        plan.shard_size = in_memory_shard_size(plan)

    if not force:
        check_resources(plan, out)
    # a backend that cannot run refuses before anything is stored
    runner = _backend(backend, cuda_mode) if client is None else None
    store = RunStore(out) if out is not None else None
    with store.lock() if store is not None else contextlib.nullcontext():
        results = _execute(plan, store, resume, overwrite, runner, backend, cuda_mode, threads,
                           progress, calibrate, client, [q.to_dict() for q in asked])
    if (np.asarray(results.arrays["status"]) == DIVERGED).any():  # else 0.2 ms for nothing
        _warn_diverged(results.diverged_everywhere(), len(plan.seeds))
    return results


def _execute(plan: Plan, store: RunStore | None, resume: bool, overwrite: bool,
             runner: tuple[ShardRunner, Callable[[Plan], dict[str, Any]]] | None, backend: str,
             cuda_mode: str, threads: int | None, progress: bool | None, calibrate: bool,
             client: Any, questions: list[dict[str, Any]]) -> Results:
    """``run`` from a valid plan on, with the run directory (if any) locked; ``runner``:
    the local backend's (shard runner, warm-up), None with a client."""
    if store is not None:
        manifest, done, damaged = store.open(plan, resume, overwrite)
        if damaged and progress is not False:
            print("optbench: re-running damaged shard(s) " + ", ".join(
                f"{store.shard_path(i).name} ({why})" for i, why in sorted(damaged.items())),
                file=sys.stderr)
    else:
        manifest, done, damaged = {"config_hash": plan.config_hash(), "config": plan.config(),
                                   "provenance": provenance()}, set(), {}
    if store is not None:
        plan = store.extended(plan, manifest)  # a resumed run goes on from its stages
    shards = plan.shards()
    pending = [i for i in range(len(shards)) if i not in done]
    if runner is not None:
        if threads is not None:
            numba.set_num_threads(int(threads))
        timings: dict[str, Any] = {"warm_up": _warm_up_once(runner[1], plan)}
    else:
        timings = {}  # the workers report their compile times with their shards

    def run_part(plan: Plan, indices: list[int], parts: Assembled
                 ) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]], dict[int, str]]:
        if runner is not None:
            source = _local_shards(plan, indices, runner[0])
        else:
            from .distributed import dask_shards

            source = dask_shards(client, plan, indices, backend, cuda_mode, threads)
        with _threads_for_blocks(plan) if client is None else contextlib.nullcontext():
            return _collect(source, store, manifest, progress, len(indices), parts)

    t_run = time.perf_counter()
    parts = Assembled(shards)
    per_shard, workers, failed = run_part(plan, pending, parts)
    t_extend = time.perf_counter()
    groups = None  # the last stage decision's edge_groups: lr_extension reads them too
    while plan.extend_lr_grid and not failed:  # stages of the lr-grid extension
        from .analysis.tuning import edge_groups, extension_stage

        arrays = store.arrays(len(shards)) if store is not None else parts.arrays
        judged = Results(plan, arrays, manifest)
        groups = edge_groups(judged)
        stage = extension_stage(judged, groups)
        if not stage:
            break
        groups = None
        plan = plan.with_extension([*plan.extension, stage])
        manifest.update(config=plan.config(), config_hash=plan.config_hash(),
                        shards=[list(s) for s in plan.shards()])
        if store is not None:  # the stage is recorded before its shards run (--resume)
            write_json(store.path / MANIFEST, manifest)
        before, shards = len(shards), plan.shards()
        parts = Assembled(shards, parts.arrays)
        more_shards, more_workers, more_failed = run_part(plan, list(range(before, len(shards))),
                                                          parts)
        per_shard.update(more_shards)
        workers.update(more_workers)
        failed.update(more_failed)
    total = time.perf_counter() - t_run
    kernel_seconds = sum(i["kernel_seconds"] for i in per_shard.values())
    timings.update(kernel_seconds=kernel_seconds, total_seconds=total,
                   shards_run=len(per_shard), shards_resumed=len(done),
                   shards_damaged=sorted(damaged),
                   shards={str(i): per_shard[i] for i in sorted(per_shard)})
    if plan.extend_lr_grid:
        timings["lr_extension_seconds"] = time.perf_counter() - t_extend
    if client is not None:
        timings.update(_cluster_timings(per_shard, workers, total))
        manifest["workers"] = {**manifest.get("workers", {}), **workers}
    if calibrate and runner is not None:  # (run refuses calibrate with a client)
        from .compare.calibrate import calibrate as _calibrate

        timings.update(_calibrate(plan, runner[0], kernel_seconds, len(done), runner[1]))
    manifest["timings"] = timings
    manifest["provenance"] = provenance()
    if questions:
        manifest["questions"] = questions
    if failed:
        manifest["failed_shards"] = {str(i): failed[i] for i in sorted(failed)}
        if store is not None:
            write_json(store.path / MANIFEST, manifest)
        first = min(failed)
        raise RunIncomplete(f"{len(failed)} of {len(shards)} shards failed (shard {first}: "
                            f"{failed[first]}); the other shards are stored, --resume reruns "
                            "the failed ones", sorted(failed))
    manifest.pop("failed_shards", None)  # of an earlier part, run again now
    if store is None:
        results = Results(plan, parts.arrays, manifest)
    else:
        results = Results(plan, store.arrays(len(shards)), manifest, path=store.path)
    if plan.extend_lr_grid:
        from .analysis.tuning import lr_extension

        manifest["lr_extension"] = lr_extension(results, groups)
    if store is not None:
        store.finish(manifest, results)
    return results


_WARMED: dict[tuple[Any, ...], dict[str, Any]] = {}  # (dtype, rules, user problems) -> the CPU warm-up's answer once loaded


def _warm_up_once(warm_up: Callable[[Plan], dict[str, Any]], plan: Plan) -> dict[str, Any]:
    """``warm_up(plan)``, or, once the CPU's has loaded the same kernels in this process, its
    "already loaded" answer without building its tiny plan and packing it again (0.16 ms
    measured, against 0.0015 ms; a one-trajectory run spends about 0.8 ms in Python)."""
    if warm_up is not engine.warm_up:  # the CUDA backend's: a new partial every run
        return warm_up(plan)
    key = (plan.dtype, frozenset(type(o).definition() for o in plan.optimizers),
           frozenset(type(p).unit() for p in plan.problems))
    if key in _WARMED:
        return dict(_WARMED[key])
    info = warm_up(plan)
    _WARMED[key] = {"jit_seconds": 0.0, "cache_hit": info["cache_hit"], "already_loaded": True,
                    "kernels": info["kernels"]}
    return info


@contextlib.contextmanager
def _threads_for_blocks(plan: Plan) -> Iterator[None]:
    """Numba's threads capped at the plan's block count while its shards run (restored
    after). A kernel call wakes every pool thread even with fewer blocks than threads, and on
    a busy machine an idle thread's wake-up waits for a scheduler time slice (8-12 ms
    measured on 2 shared cores): a one-trajectory run (one block) then runs on the calling
    thread alone. Results do not depend on the thread count."""
    before = numba.get_num_threads()
    cap = before
    lanes = engine.cpu_lanes(plan.n_trials, before)
    if plan.n_trials < before * lanes:  # else there are at least ``before`` blocks
        cap = min(before, len(engine.blocks_of(plan.trial_ids[:, :3], lanes)))
    if cap == before:
        yield
        return
    numba.set_num_threads(cap)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def in_memory_shard_size(plan: Plan) -> int:
    """Shard size of a local run kept in memory (no ``out``) when none is given. Besides the
    run's arrays, a shard's exist twice at the peak (the kernel's output arrays and their
    copies from ``Packed.outputs``), so with large traces shards of an eighth of the run
    keep the peak near 1.25 times the run's arrays; never under eight full blocks a thread
    (each kernel call must keep numba's threads busy) nor over ``LOCAL_SHARD_SIZE``. Runs with at
    most ``SMALL_TRACES_BYTES`` of recorded arrays keep ``LOCAL_SHARD_SIZE``."""
    if _per_trial_bytes(plan) * plan.n_trials <= SMALL_TRACES_BYTES:
        return LOCAL_SHARD_SIZE
    floor = 8 * engine.CPU_LANES * numba.get_num_threads()
    return max(min(floor, LOCAL_SHARD_SIZE), min(LOCAL_SHARD_SIZE, -(-plan.n_trials // 8)))


def _per_trial_bytes(plan: Plan) -> int:
    """Upper bound of one trajectory's recorded arrays: recorded steps x fields, final
    values and status, 8 bytes a value."""
    fields = sum(max(p.dim for p in plan.problems) if r == "x" else 1 for r in plan.record)
    return 8 * (len(plan.record_steps) * fields + len(ITERATE_CHANNELS) + 2)


def estimate(plan: Plan, stored: bool) -> dict[str, Any]:
    """Upper bounds, in bytes, of a run's disk size and peak memory from its plan: recorded
    steps x trajectories x fields at 8 bytes a value (a stored run holds about three
    shards' worth at once, an unstored one its whole results and two shards' worth)."""
    fields = sum(max(p.dim for p in plan.problems) if r == "x" else 1 for r in plan.record)
    per_trial = _per_trial_bytes(plan)
    disk = per_trial * plan.n_trials
    table = 200 * plan.n_trials  # the trials table and plan, roughly
    shard = per_trial * min(plan.shard_size, plan.n_trials)
    memory = table + (3 * shard if stored else disk + 2 * shard)
    return {"disk_bytes": disk if stored else 0, "memory_bytes": memory,
            "what": f"{plan.n_trials} trajectories x {len(plan.record_steps)} recorded steps x "
                    f"{fields} fields"}


def check_resources(plan: Plan, out: str | os.PathLike[str] | None) -> None:
    """Refuse (one line, with the estimate) a run that would not fit on disk or in memory."""
    need = estimate(plan, out is not None)
    if out is not None:
        where = Path(out).absolute()
        while not where.exists():
            where = where.parent
        free = shutil.disk_usage(where).free
        if need["disk_bytes"] > free:
            raise ValueError(f"run: needs about {_gib(need['disk_bytes'])} of disk ({need['what']}) "
                             f"but {where} has {_gib(free)} free; pass --force (force=True) to "
                             "run anyway")
    available = available_memory()
    if available is not None and need["memory_bytes"] > available:
        raise ValueError(f"run: needs about {_gib(need['memory_bytes'])} of memory "
                         f"({need['what']}{'' if out is not None else ', kept in memory without out'})"
                         f" but {_gib(available)} is available; pass --force (force=True) to run "
                         "anyway")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def _warn_diverged(configurations: list[str], seeds: int) -> None:
    """One RuntimeWarning naming the configurations whose every seed diverged (the first
    three, then a count): a setting that never converges is a finding, not a silent row."""
    if configurations:
        more = f"; and {len(configurations) - 3} more" if len(configurations) > 3 else ""
        warnings.warn(f"{len(configurations)} configuration(s) diverged on all {seeds} seeds: "
                      f"{'; '.join(configurations[:3])}{more}", RuntimeWarning, stacklevel=3)


class RunIncomplete(RuntimeError):
    """Some shards failed (their workers died each time they ran them); ``failed`` lists
    their indices. The others are stored; ``resume=True`` runs the failed ones again."""

    def __init__(self, message: str, failed: list[int]):
        super().__init__(message)
        self.failed = failed


class Assembled:
    """The arrays of a run kept in memory (no ``out``), each shard's copied into arrays of
    the whole run as it arrives and then dropped: no shard outlives its copy, and no final
    concatenation holds the traces twice. The same arrays as concatenating the shards.
    ``previous``: the arrays of the trials before these shards (an lr-grid extension stage
    grows the run), copied in front when the first shard arrives."""

    def __init__(self, shards: list[tuple[int, int]],
                 previous: dict[str, np.ndarray] | None = None):
        self.shards = shards
        self.arrays: dict[str, np.ndarray] = previous or {}
        self.grown = False  # arrays of the whole run allocated

    def add(self, index: int, arrays: dict[str, np.ndarray]) -> None:
        start, stop = self.shards[index]
        if not self.grown:
            n, before = self.shards[-1][1], self.arrays
            self.arrays = {k: np.empty((n, *a.shape[1:]), dtype=a.dtype)
                           for k, a in arrays.items()}
            for k, a in before.items():
                self.arrays[k][:len(a)] = a
            self.grown = True
        for k, a in arrays.items():
            self.arrays[k][start:stop] = a


def _collect(source: ShardSource, store: RunStore | None, manifest: dict[str, Any],
             progress: bool | None, total: int,
             parts: Assembled) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]],
                                        dict[int, str]]:
    """The one loop of every run: take each finished shard from ``source`` (local or Dask),
    write it and its hash (``store``) or copy it into the run's arrays (``parts``), drop it,
    advance the progress bar. Returns (per-shard info, per-worker setup info, failed
    shards' errors by index)."""
    per_shard, workers, failed = {}, {}, {}
    with Progress(total, enabled=progress) as bar, contextlib.closing(source):
        for index, arrays, info in source:
            if arrays is None:
                failed[index] = info["error"]
            else:
                t_write = time.perf_counter()
                if store is not None:
                    store.store_shard(manifest, index, arrays)
                else:
                    parts.add(index, arrays)
                arrays = None  # not held while the next shard runs
                info["write_seconds"] = time.perf_counter() - t_write
                per_shard[index] = info
                if "compile" in info:  # a worker's first shard of this run
                    workers[info["worker"]] = {k: info.pop(k) for k in SETUP_KEYS}
            bar.advance()
    return per_shard, workers, failed


def _local_shards(plan: Plan, indices: list[int], run_shard: ShardRunner) -> ShardSource:
    """Run shards ``indices`` here, in order; yields (index, arrays, info) like
    ``distributed.dask_shards``."""
    shards = plan.shards()
    for index in indices:
        # no local name holds the arrays while the generator waits for the next shard
        yield (index, *_local_shard(plan, shards[index], run_shard))


def _local_shard(plan: Plan, shard: tuple[int, int],
                 run_shard: ShardRunner) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    t0 = time.perf_counter()
    arrays, seconds = run_shard(plan, *shard)
    return arrays, {"worker": "local", "kernel_seconds": seconds,
                    "task_seconds": time.perf_counter() - t0}


def _cluster_timings(per_shard: dict[int, dict[str, Any]], workers: dict[str, dict[str, Any]],
                     total: float) -> dict[str, Any]:
    """Where a Dask run's time went: compile per worker, and the scheduling overhead: wall
    time beyond the workers' task and setup (plan, kernels) time spread evenly over them;
    per shard, the time a worker spent on each shard outside the task: scheduling,
    transfer, the client's writes, worker start-up, and idling where shards are few."""
    tasks = sum(i["task_seconds"] for i in per_shard.values())
    setup = sum(w["setup_seconds"] for w in workers.values())
    slots = len({i["worker"] for i in per_shard.values()}) or 1
    overhead = max(0.0, total - (tasks + setup) / slots)
    return {"compile_seconds": {w: v["compile"]["jit_seconds"] for w, v in workers.items()},
            "task_seconds": tasks,
            "write_seconds": sum(i["write_seconds"] for i in per_shard.values()),
            "overhead_seconds": overhead,
            "overhead_seconds_per_shard": overhead * slots / max(len(per_shard), 1)}


def _backend(name: str, cuda_mode: str = "auto"
             ) -> tuple[ShardRunner, Callable[[Plan], dict[str, Any]]]:
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
