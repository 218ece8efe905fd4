"""A Dask run against a local run, and what each shard costs on the way.

1. ``problems/standard.toml`` run locally (all cores, one process) and on ``--dask local:N``
   (N single-threaded worker processes, each numba on its share of the cores; shard size
   picked for the cluster); wall times of the ``optbench.run`` calls (the cluster's start is
   timed on its own), kernel times, and a check that the results are byte-identical.
2. Per-shard overhead: a run of tiny shards (one 2-D trajectory of 10 steps each) on the same
   cluster: wall time per shard with the cluster kept busy (scheduling, transfer, the
   client's write), the serialised size and pickling time of a task and of a standard shard's
   result, and the client's write time of a tiny and of a standard shard.
3. From these, the expected wall time of ``problems/full.toml`` on 1, 8, 64 and 512
   single-threaded workers (``expected_walls``), with the shard size the run would pick.

    python benchmarks/bench_dask.py [--workers 2] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def expected_walls(plan, kernel_seconds, overhead, setup, write_bytes_per_second,
                   run_bytes, workers=(1, 8, 64, 512)) -> list[dict]:
    """Expected wall time of ``plan`` on single-threaded workers (one core each):
    ``kernel_seconds`` of one-thread kernel time in all, each shard costing ``overhead``
    besides its kernel, ``setup`` per worker (start, plan, cached kernels), the client
    writing ``run_bytes`` at ``write_bytes_per_second`` (overlapped with the shards)."""
    import math

    from optbench.distributed import shard_size_for

    rows = []
    for w in workers:
        size = shard_size_for(plan, w)
        shards = math.ceil(plan.n_trials / size)
        per_shard = kernel_seconds * size / plan.n_trials
        compute = math.ceil(shards / w) * (per_shard + overhead)
        wall = setup + max(compute, run_bytes / write_bytes_per_second)
        rows.append({"workers": w, "shard_size": size, "shards": shards,
                     "kernel_seconds_per_shard": per_shard, "wall_seconds": wall,
                     "overhead_share": overhead / (per_shard + overhead),
                     "efficiency": kernel_seconds / w / wall})
    return rows


def main(argv=None) -> int:
    import optbench
    from optbench import distributed as od
    from optbench.optimizers import SGD
    from optbench.plan import Plan
    from optbench.problems import Quadratic
    from optbench.store import RunStore
    from optbench.suite import read_suite

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--suite", default=str(ROOT / "problems" / "standard.toml"))
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--full-kernel-seconds", type=float, default=2 * 2039.0,
                        help="one-thread kernel seconds of problems/full.toml (README: 2,039 s "
                             "on two threads)")
    parser.add_argument("--full-bytes", type=float, default=218e6,
                        help="size of a run directory of problems/full.toml (README: 218 MB)")
    args = parser.parse_args(argv)
    suite = read_suite(args.suite)
    out = {"workers": args.workers, "suite": Path(args.suite).name}

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        local, out["local_wall_seconds"] = timed(optbench.run, **suite, out=tmp / "local",
                                                 progress=False)
        out["local_kernel_seconds"] = local.manifest["timings"]["kernel_seconds"]
        client, out["cluster_start_seconds"] = timed(od.connect, f"local:{args.workers}")
        try:
            remote, out["dask_wall_seconds"] = timed(optbench.run, **suite, out=tmp / "dask",
                                                     client=client, progress=False)
            t = remote.manifest["timings"]
            out["dask_kernel_seconds"] = t["kernel_seconds"]
            out["dask_compile_seconds"] = t["compile_seconds"]
            out["dask_overhead_seconds_per_shard"] = t["overhead_seconds_per_shard"]
            out["shards"] = t["shards_run"]
            out["dask_shard_size"] = remote.plan.shard_size  # picked for the cluster
            out["identical_arrays"] = all(  # the shards differ when the shard sizes do
                local.arrays[k].tobytes() == remote.arrays[k].tobytes() for k in local.arrays)
            out["ratio_dask_to_local"] = out["dask_wall_seconds"] / out["local_wall_seconds"]

            res, wall = timed(optbench.run, Quadratic(dim=2), SGD(lr=0.1), steps=10, seeds=400,
                              shard_size=1, record=("loss",), out=tmp / "tiny", client=client,
                              progress=False)
            n = res.manifest["timings"]["shards_run"]
            tt = res.manifest["timings"]
            out["tiny_shards"] = n
            out["tiny_wall_seconds"] = wall
            out["tiny_seconds_per_shard"] = wall / n  # cluster kept busy: the throughput
            out["tiny_worker_slot_seconds_per_shard"] = wall * args.workers / n
            out["tiny_task_seconds_per_shard"] = tt["task_seconds"] / n
            out["write_seconds_per_shard"] = tt["write_seconds"] / n
            plan = remote.plan
            job = {"config": plan.config(), "plugins": plan.plugins(),
                   "config_hash": plan.config_hash(), "versions": od.versions()}
            task, out["task_pickle_seconds"] = timed(pickle.dumps, (job, 0, plan.shard_size))
            out["task_bytes"] = len(task)
            from optbench.engine import run_shard_cpu

            arrays, _ = run_shard_cpu(plan, 0, plan.shard_size)
            blob, out["result_pickle_seconds"] = timed(pickle.dumps, arrays)
            out["result_bytes"] = len(blob)
            store = RunStore(tmp / "write")
            store.shard_dir.mkdir(parents=True)
            _, out["result_write_seconds"] = timed(store.write_shard, 0, arrays)
        finally:
            od.close(client)
    full = Plan(**read_suite(ROOT / "problems" / "full.toml"))
    setup = max(w["setup_seconds"] for w in remote.manifest["workers"].values())
    out["full_toml"] = expected_walls(
        full, args.full_kernel_seconds, out["tiny_worker_slot_seconds_per_shard"], setup,
        out["result_bytes"] / out["result_write_seconds"], args.full_bytes)

    width = max(map(len, out))
    for key, value in out.items():
        if key != "full_toml":
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            print(f"{key:<{width}}  {text}")
    print("\nproblems/full.toml, expected (single-threaded workers, one core each):")
    print("| workers | shard size | shards | kernel per shard | wall | overhead share |")
    print("|---|---|---|---|---|---|")
    for r in out["full_toml"]:
        print(f"| {r['workers']} | {r['shard_size']} | {r['shards']} | "
              f"{r['kernel_seconds_per_shard']:.2f} s | {r['wall_seconds']:.0f} s | "
              f"{100 * r['overhead_share']:.1f}% |")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
