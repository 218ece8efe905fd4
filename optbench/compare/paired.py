"""Paired speed check: two source trees' kernels timed on one machine, in one job, interleaved.

    python -m optbench.compare.paired BASE_TREE [NEW_TREE] [--optimizer Adam] [--json FILE]

Each tree (a checkout of the base commit, e.g. a ``git worktree``, and the new one) is timed in
its own worker process that imports ``optbench`` from that tree only, so two versions of the
package never share an interpreter. The workers run the same workload (a suite file, by default
the smoke suite, optionally narrowed to one optimizer type) in turns A B B A A B ..., one sample
being as many passes as last ``--sample-seconds`` of kernel time; ``stats.paired_speed`` turns
the pairs into a verdict (regression only when the whole interval exceeds the tolerance), the
way ``asv continuous`` compares two commits.

Exit status: 0 no regression, 1 regression, 2 bad input (one line on stderr).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from . import stats
from .command import EXIT_BAD_INPUT, EXIT_OK, EXIT_REGRESSION

#: runs inside a worker: argv = tree, suite, optimizer type ('' = all), seeds (0 = the suite's),
#: sample seconds; prints one JSON line when ready (seconds per pass, over >= 1/4 sample), then
#: per line "N" on stdin the CPU seconds per pass of N passes
WORKER = r"""
import json, sys, time
tree, suite, only, seeds, sample = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
sys.path.insert(0, tree)
import optbench
from pathlib import Path
if not Path(optbench.__file__).resolve().is_relative_to(Path(tree).resolve()):
    sys.exit(f"optbench imported from {optbench.__file__}, not from the tree {tree}")
from optbench.engine import run_shard_cpu, warm_up
from optbench.plan import Plan
from optbench.suite import read_suite
kw = read_suite(suite)
kw.pop("name")
if only:
    kw["optimizers"] = [o for o in kw["optimizers"] if type(o).__name__ == only]
    if not kw["optimizers"]:
        sys.exit(f"no optimizer of type {only!r} in {suite}")
if seeds:
    kw["seeds"] = seeds
plan = Plan(**kw)
warm_up(plan)
def passes(n):
    t0 = time.process_time()
    for _ in range(n):
        for a, b in plan.shards():
            run_shard_cpu(plan, a, b)
    return (time.process_time() - t0) / n
n = 1
while passes(n) * n < sample / 4:
    n *= 2
print(json.dumps({"file": optbench.__file__, "seconds": passes(n)}), flush=True)
for line in sys.stdin:
    print(passes(int(line)), flush=True)
"""


class Worker:
    """One tree's timing process."""

    def __init__(self, tree: Path, suite: Path, optimizer: str, seeds: int, sample_seconds: float,
                 threads: int):
        self.tree = tree
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tree), str(suite), optimizer, str(seeds),
             str(sample_seconds)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(tree), "NUMBA_NUM_THREADS": str(threads)})

    def ready(self) -> dict:
        return json.loads(self._line())

    def time(self, passes: int) -> float:
        self.proc.stdin.write(f"{passes}\n")
        self.proc.stdin.flush()
        return float(self._line())

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read().strip().splitlines()
            raise ValueError(f"paired: the worker for {self.tree} failed: "
                             f"{err[-1] if err else 'no output'}")
        return line

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def paired_check(base_tree, new_tree, suite, optimizer: str = "", seeds: int = 0,
                 pairs: int = 10, sample_seconds: float = 0.2, tolerance: float = 0.2,
                 confidence: float = 0.95, threads: int = 1, processes: int = 2) -> dict:
    """Time both trees' kernels in interleaved samples; ``stats.paired_speed``'s result plus
    the samples, the passes per sample and the wall time.

    Samples are process CPU seconds of ``threads`` numba threads (default 1): time spent
    descheduled by other load on the machine does not count, which a wall clock would. The
    pairs are spread over ``processes`` fresh pairs of workers, as ``asv`` does: a process's
    memory layout alone can shift its timings by ~10%."""
    t0 = time.perf_counter()
    base_tree, new_tree, suite = Path(base_tree), Path(new_tree), Path(suite)
    for what, tree in (("base", base_tree), ("new", new_tree)):
        if not (tree / "optbench" / "__init__.py").is_file():
            raise ValueError(f"paired: {what} tree {str(tree)!r} has no optbench package")
    if not suite.is_file():
        raise ValueError(f"paired: suite file {str(suite)!r} not found")
    if pairs < 3 or sample_seconds <= 0 or tolerance < 0 or threads < 1 or processes < 1:
        raise ValueError("paired: needs --pairs >= 3, --sample-seconds > 0, --tolerance >= 0, "
                         "--threads >= 1, --processes >= 1")
    samples, passes = ([], []), 0
    for r in range(processes):
        workers = [Worker(t, suite.resolve(), optimizer, seeds, sample_seconds, threads)
                   for t in (base_tree, new_tree)]
        try:
            per_pass = min(w.ready()["seconds"] for w in workers)
            passes = passes or max(1, math.ceil(sample_seconds / per_pass))
            for i in range(r, pairs, processes):
                for side in ((0, 1) if i % 2 == 0 else (1, 0)):
                    samples[side].append(workers[side].time(passes))
        finally:
            for w in workers:
                w.close()
    out = stats.paired_speed(samples[0], samples[1], tolerance, confidence)
    out.update(base_tree=str(base_tree), new_tree=str(new_tree), suite=str(suite),
               optimizer=optimizer or "all", threads=threads, passes=passes, sample_seconds=passes * min(samples[0]),
               base_seconds=samples[0], new_seconds=samples[1],
               wall_seconds=time.perf_counter() - t0)
    return out


def describe(r: dict) -> str:
    """One line: the verdict and why."""
    low, high = r["interval"]
    return (f"speed (paired, same machine): new / base kernel CPU time {r['ratio']:.3f} "
            f"[{low:.3f}, {high:.3f}] ({r['confidence']:.0%} interval, {r['pairs']} pairs of "
            f"{r['passes']} passes, ~{r['sample_seconds']:.2f} s each), ratio of minima "
            f"{r['ratio_of_minima']:.3f}; tolerance +{r['tolerance']:.0%}: "
            f"{'REGRESSION' if r['verdict'] == 'regression' else r['verdict']}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m optbench.compare.paired",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("base", help="source tree of the base commit (e.g. a git worktree)")
    p.add_argument("new", nargs="?", default=".", help="source tree of the new commit (default .)")
    p.add_argument("--suite", default="problems/smoke.toml", help="workload (default smoke)")
    p.add_argument("--optimizer", default="", help="time only this optimizer type, e.g. Adam")
    p.add_argument("--seeds", type=int, default=0, help="seeds per configuration (default the suite's)")
    p.add_argument("--pairs", type=int, default=10, help="interleaved pairs of samples (default 10)")
    p.add_argument("--sample-seconds", type=float, default=0.2,
                   help="kernel time per sample (default 0.2)")
    p.add_argument("--tolerance", type=float, default=0.2,
                   help="regression when surely slower by more than this fraction (default 0.2)")
    p.add_argument("--threads", type=int, default=1, help="numba threads per worker (default 1)")
    p.add_argument("--processes", type=int, default=2,
                   help="fresh worker processes per side, the pairs spread over them (default 2)")
    p.add_argument("--json", metavar="FILE", help="also write the result to FILE")
    args = p.parse_args(argv)
    try:
        r = paired_check(args.base, args.new, args.suite, args.optimizer, args.seeds, args.pairs,
                         args.sample_seconds, args.tolerance, threads=args.threads,
                         processes=args.processes)
    except ValueError as exc:
        print(f"optbench: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(describe(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    return EXIT_REGRESSION if r["verdict"] == "regression" else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
