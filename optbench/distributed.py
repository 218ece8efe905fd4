"""Shards as Dask tasks: the same bytes as a local run, on as many machines as a cluster has.

``optbench.run(..., client=client)`` and ``optbench run SUITE --dask ADDRESS|local:N`` send
each shard as one task whose inputs are plain data (the plan's configuration, its plugin
records, the client's package versions) and whose key is derived from the configuration hash
and the shard index, so resubmitting is idempotent. A worker rebuilds the plan once per
configuration (``Plan.from_config(..., runnable=True)``, importing plugins by their
``module:object`` names and checking their source hashes), compiles or loads its kernels
once, and runs one kernel at a time on its share of the host's cores. Results travel back to
the client, which is the only writer (``api.run``'s loop). At most ``2 x`` the cluster's
threads shards are in flight at once.

Needs ``dask[distributed]`` (``pip install 'optbench[dask]'``), imported only here.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plan import Plan

INSTALL_HINT = "Dask runs need dask.distributed: pip install 'optbench[dask]'"
#: shards in flight per worker thread of the cluster
WINDOW_PER_THREAD = 2
#: measured by benchmarks/bench_dask.py (docs/distributed.md): a worker slot's time per shard
#: outside the kernel; and the kernel's speed on one thread in steps x (dimension + problem
#: data size) per second, on problems/standard.toml (the faster end: shards err large)
SHARD_OVERHEAD_SECONDS = 0.05
WORK_PER_SECOND = 1.25e8
#: shards per worker slot (load balance), at most this many trajectories per shard
SHARDS_PER_SLOT = 4
MAX_SHARD_SIZE = 4096


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return distributed


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (macOS, Windows)
        return os.cpu_count() or 1


def connect(address: str):
    """A ``Client`` for ``--dask ADDRESS``: ``local:N`` starts a LocalCluster of N
    single-threaded worker processes for this run (closed with the client, each numba on
    its share of the cores); anything else is a running scheduler (``tcp://host:8786``)."""
    distributed = _distributed()
    if address.startswith("local:"):
        count = address.partition(":")[2]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--dask {address}: expected local:N with N >= 1 workers")
        n = int(count)
        threads = max(1, usable_cpus() // n)
        # ":0": the scheduler's HTTP server on a free port, whatever else runs here
        cluster = distributed.LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
            env={"NUMBA_NUM_THREADS": str(threads)})
        return distributed.Client(cluster, set_as_default=False)
    if "://" not in address and ":" not in address:
        raise ValueError(f"--dask {address!r}: expected a scheduler address (tcp://host:8786) "
                         "or local:N")
    try:
        return distributed.Client(address, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"--dask {address}: no scheduler answers ({exc})") from None


def close(client) -> None:
    """Close a client from ``connect`` and the LocalCluster it started, if any."""
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def versions() -> dict:
    """What must be the same on every worker (and the client) for identical bytes."""
    import platform

    import llvmlite
    import numba
    import numpy as np

    from . import __version__
    from .store import _git_commit

    return {"optbench": __version__, "git_commit": _git_commit(),
            "python": platform.python_version(), "numba": numba.__version__,
            "llvmlite": llvmlite.__version__, "numpy": np.__version__}


# ---- worker side ----------------------------------------------------------------------

_PLANS: dict = {}  # config hash -> (plan, shard runner, numba threads), per worker process
_KERNEL_LOCK = threading.Lock()  # one kernel at a time per process: no oversubscription


def shard_task(job: dict, start: int, stop: int) -> tuple[dict, dict]:
    """Run trials [start, stop) of ``job``'s plan on this worker; returns (arrays, info):
    info holds the worker, kernel and task seconds (packing and kernel), and on the first
    shard of a configuration in this process its compile time, numba threads and versions."""
    import numba

    from .api import _backend
    from .plan import Plan

    worker = _worker_address()
    info = {"worker": worker}
    with _KERNEL_LOCK:
        entry = _PLANS.get(job["config_hash"])
        if entry is None:
            t_setup = time.perf_counter()
            mine = versions()
            for key, value in job["versions"].items():
                if mine.get(key) != value:
                    raise ValueError(f"worker {worker}: {key} {mine.get(key)} differs from the "
                                     f"client's {value}; every worker needs the same packages")
            plan = Plan.from_config(job["config"], job["plugins"], runnable=True)
            if plan.config_hash() != job["config_hash"]:
                raise ValueError(f"worker {worker}: configuration hash {plan.config_hash()} "
                                 f"differs from the client's {job['config_hash']}")
            run_shard, warm_up = _backend(job["backend"], job["cuda_mode"])
            threads = _threads(job, worker)
            numba.set_num_threads(threads)
            entry = _PLANS[job["config_hash"]] = (plan, run_shard, threads)
            info.update(compile=warm_up(plan), threads=threads, versions=mine)
            info["setup_seconds"] = time.perf_counter() - t_setup
        plan, run_shard, threads = entry
        t0 = time.perf_counter()
        numba.set_num_threads(threads)  # per calling thread in numba
        arrays, seconds = run_shard(plan, start, stop)
    info.update(kernel_seconds=seconds, task_seconds=time.perf_counter() - t0)
    return arrays, info


def _worker_address() -> str:
    from distributed import get_worker

    try:
        return get_worker().address
    except ValueError:  # called outside a worker (tests)
        return "local"


def _threads(job: dict, worker: str) -> int:
    """numba threads of this worker process: --threads, else its host's CPUs shared by the
    worker processes the client saw there, at most NUMBA_NUM_THREADS."""
    import numba

    host = worker.rpartition("://")[2].rpartition(":")[0].strip("[]")
    wanted = job["threads"] or job["threads_by_host"].get(host) or usable_cpus()
    return max(1, min(int(wanted), numba.config.NUMBA_NUM_THREADS))


# ---- client side ----------------------------------------------------------------------


def threads_by_host(client) -> dict:
    """host -> numba threads per worker process there: the host's CPUs divided among the
    worker processes the client sees on it (each runs one kernel at a time); a worker
    restarted on the same host gets the same."""
    cpus = client.run(usable_cpus)
    workers = client.scheduler_info(n_workers=-1)["workers"]
    per_host: dict = {}
    for address, worker in workers.items():
        per_host.setdefault(worker["host"], []).append(cpus.get(address, 1))
    return {host: max(1, min(counts) // len(counts)) for host, counts in per_host.items()}


def upload_plugins(client, plugins: dict) -> None:
    """Send single-file plugin modules (``module.py`` named ``module:object``) to every
    worker, present and future (not to the scheduler, which may share the client's
    process); a plugin package must be importable on the workers already."""
    from distributed.diagnostics.plugin import UploadFile

    for name, record in plugins.items():
        module = name.partition(":")[0]
        for file in record.get("files", []):
            if "." not in module and Path(file).name == f"{module}.py" and Path(file).is_file():
                client.register_plugin(UploadFile(file),
                                       name=f"optbench-upload-{module}-{record['source_sha256']}")


def cluster_threads(client) -> int:
    """The worker threads (task slots) of ``client``'s cluster now."""
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return sum(w["nthreads"] for w in workers)


def shard_size_for(plan, slots: int) -> int:
    """Trajectories per shard for a cluster of ``slots`` worker threads: SHARDS_PER_SLOT
    shards per slot, but no shard so small that the per-shard overhead exceeds 5% of its
    kernel time (estimated at WORK_PER_SECOND), rounded up to fill whole rounds of the
    slots, and none above MAX_SHARD_SIZE."""
    import math

    slots = max(1, slots)
    work = [p.dim + p.data.size for p in plan.problems]
    seconds = plan.steps * sum(work[p] for p in plan.trial_ids[:, 0]) / plan.n_trials \
        / WORK_PER_SECOND  # per trajectory, estimated
    smallest = math.ceil(20 * SHARD_OVERHEAD_SECONDS / seconds)
    size = max(math.ceil(plan.n_trials / (SHARDS_PER_SLOT * slots)), smallest, 1)
    rounds = math.ceil(plan.n_trials / size) // slots  # whole rounds of shards over the slots
    if rounds:  # no last round that leaves most slots idle: shards grow a little instead
        size = math.ceil(plan.n_trials / (rounds * slots))
    return int(min(MAX_SHARD_SIZE, size))


def task_key(config_hash: str, index: int) -> str:
    """The Dask key of shard ``index``: the same for every submission of this run."""
    return f"optbench-{config_hash}-shard-{index:05d}"


def dask_shards(client: Any, plan: Plan, indices: list[int], backend: str = "cpu",
                cuda_mode: str = "auto", threads: int | None = None
                ) -> Generator[tuple[int, dict[str, Any] | None, dict[str, Any]], None, None]:
    """Run shards ``indices`` of ``plan`` on ``client``'s cluster; yields (index, arrays,
    info) as they finish, with ``arrays`` None and ``info["error"]`` set for a shard that
    killed its workers repeatedly (KilledWorker) both with others and then alone. A task
    that raises stops the run with a ValueError naming the shard and the error. Never more than 2 x the cluster's threads
    shards in flight; leaving early (Ctrl-C, an error) cancels the rest."""
    distributed = _distributed()
    if not client.scheduler_info(n_workers=-1)["workers"]:
        client.wait_for_workers(1, timeout=60)
    plugins = plan.plugins()
    upload_plugins(client, plugins)
    job = {"config": plan.config(), "plugins": plugins, "config_hash": plan.config_hash(),
           "versions": versions(), "backend": backend, "cuda_mode": cuda_mode,
           "threads": threads, "threads_by_host": threads_by_host(client)}
    shards = plan.shards()
    todo = iter(indices)
    retried: set = set()
    suspects: list = []  # shards lost with workers that died repeatedly (KilledWorker)
    running: dict = {}  # key -> (index, future, submit time)
    completed = distributed.as_completed(loop=client.loop)

    def window() -> int:
        return max(2, WINDOW_PER_THREAD * cluster_threads(client))

    def submit(index):
        key = task_key(job["config_hash"], index) + ("-alone" if index in retried else "")
        future = client.submit(shard_task, job, *shards[index], key=key, retries=0)
        running[key] = (index, future, time.perf_counter())
        completed.add(future)

    def fill():
        while len(running) < window():
            index = next(todo, None)
            if index is None:
                return
            submit(index)

    try:
        fill()
        for future in completed:
            index, _, submitted = running.pop(future.key)
            if future.status == "error":
                exc = future.exception()
                if not isinstance(exc, distributed.KilledWorker):  # one line for the CLI
                    raise ValueError(f"shard {index}: {type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
                if index in retried:
                    yield index, None, {"error": f"{type(exc).__name__}: {exc}"}
                else:
                    suspects.append(index)
            else:
                arrays, info = future.result()
                info["roundtrip_seconds"] = time.perf_counter() - submitted
                yield index, arrays, info
            future.release()
            fill()
            if not running and suspects:
                # a shard that shared a dying worker with the guilty one may be innocent:
                # each suspect runs again alone, and fails for good only then
                index = suspects.pop(0)
                retried.add(index)
                submit(index)
    finally:
        if running:
            client.cancel([f for _, f, _ in running.values()], force=True)
