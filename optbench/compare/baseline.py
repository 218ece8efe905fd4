"""A compact copy of a run to commit as the regression baseline.

    python -m optbench.compare.baseline RUN_DIR BASELINE_DIR [--points 100]

The copy is itself a run directory (``optbench.load`` and ``optbench compare`` read it) with
the same specs, seeds, statuses, final values and timings, but only the ``loss`` and
``suboptimality`` traces, at log-spaced steps (``record_every="log"``). Its manifest keeps the
source run's provenance and timings and names the source in ``baseline_of``.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

from ..plan import Plan
from ..results import Results
from ..store import TMP_SUFFIX, RunStore

KEEP = ("loss", "suboptimality")


def load_run(path):
    """``optbench.load`` with every failure turned into a one-line ValueError."""
    from ..store import load

    path = Path(path)
    if not path.exists():
        raise ValueError(f"compare: run directory {str(path)!r} does not exist")
    if not path.is_dir():
        raise ValueError(f"compare: {str(path)!r} is not a run directory")
    try:
        return load(path)
    except ValueError as exc:
        if str(path) in str(exc):
            raise ValueError(f"compare: {exc}".splitlines()[0]) from None
        raise ValueError(f"compare: cannot read run {str(path)!r}: {exc}".splitlines()[0]) \
            from None
    except Exception as exc:  # corrupt shards, a manifest of another format, ...
        raise ValueError(f"compare: cannot read run {str(path)!r}: "
                         f"{type(exc).__name__}: {exc}".splitlines()[0]) from None


def make_baseline(source, dest, points: int = 100) -> Path:
    """Write the compact copy of the run in ``source`` to ``dest`` (replacing a run there)."""
    src = load_run(source)
    dest = Path(dest)
    RunStore(dest).check_usable()  # replaces only a run optbench made
    record = tuple(r for r in KEEP if r in src.recorded)
    config = dict(src.plan.config(), record=list(record), record_every="log",
                  record_points=int(points))
    plan = Plan.from_config(config, src.manifest.get("plugins"))
    have = {int(s): i for i, s in enumerate(src.steps)}
    missing = [int(s) for s in plan.record_steps if int(s) not in have]
    if missing:
        raise ValueError(f"{source}: the run did not record step(s) {missing[:5]} needed for "
                         "log-spaced baseline traces (run it with record_every=1)")
    cols = np.array([have[int(s)] for s in plan.record_steps])
    arrays = {k: src.arrays[k] for k in src.arrays
              if k.startswith("final_") or k in ("status", "status_step")}
    for name in record:
        arrays[name] = np.ascontiguousarray(src.arrays[name][:, cols])

    manifest = {k: v for k, v in src.manifest.items() if k not in ("run_id", "shard_sha256")}
    manifest["baseline_of"] = {"config_hash": src.manifest.get("config_hash"),
                               "path": str(source), "traces": list(record),
                               "record_points": int(points)}
    tmp = dest.with_name(f".{dest.name}{TMP_SUFFIX}")
    if tmp.exists():
        shutil.rmtree(tmp)
    store = RunStore(tmp)
    with store.lock():
        new, _, _ = store.open(plan)
        new.update({k: v for k, v in manifest.items() if k not in new or k == "provenance"})
        new["timings"] = manifest.get("timings", {})
        for index, (start, stop) in enumerate(plan.shards()):
            store.store_shard(new, index, {k: v[start:stop] for k, v in arrays.items()})
        store.finish(new, Results(plan, arrays, new, path=tmp))
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optbench.compare.baseline",
                                     description="write a compact copy of a run as a baseline")
    parser.add_argument("run", help="run directory (e.g. from `optbench run problems/smoke.toml`)")
    parser.add_argument("dest", help="baseline directory (e.g. reports/baseline)")
    parser.add_argument("--points", type=int, default=100,
                        help="log-spaced trace points to keep (default 100)")
    args = parser.parse_args(argv)
    try:
        if args.points < 2:
            raise ValueError(f"--points must be >= 2, got {args.points}")
        dest = make_baseline(args.run, args.dest, args.points)
    except (ValueError, OSError) as exc:
        print(f"optbench: error: {exc}", file=sys.stderr)
        return 2
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"baseline written to {dest} ({size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
