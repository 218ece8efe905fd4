"""Compile times of generated kernels and the speed of a user's rule against the built-in.

Figures (each in fresh processes, with a cache directory of its own):

1. ``optbench run problems/smoke.toml`` from an empty cache (every built-in family), then the
   same in a second process (kernel loaded from the disk cache);
2. a suite of one user optimizer (the README's AdaBelief) + Adam on two problems, from the
   cache step 1 left, then the same in a second process, then after an edit to the rule's
   file (wall time of each run);
3. workload A (Adam + cosine, Rosenbrock d=10, N=10,000, T=1,000, float64, all threads): the
   built-in Adam against ``PlainAdam``, Adam written as a user would in the per-coordinate
   form (tests/plugin_rules.py), timed in alternating pairs in one process; the ratio of
   their kernel times (median of the pairs, with the range);
4. with ``--base DIR`` (a checkout of an earlier commit, e.g. ``git worktree add /tmp/base
   HEAD~1``): workload A's kernel time of that tree against this one, alternating
   subprocesses, each the best of 3 calls.

    python benchmarks/bench_plugins.py [--base DIR] [--pairs 5]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

PLUGIN_SUITE = """
name = "plugin"
[run]
steps = 200
seeds = 5
[[problems]]
type = "Quadratic"
dim = 5
[[problems]]
type = "Rosenbrock"
dim = 2
[[optimizers]]
type = "adabelief:AdaBelief"
lr = 1e-2
[[optimizers]]
type = "Adam"
lr = 1e-2
"""

WORKLOAD_A = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {tests!r})
    import optbench
    from optbench.optimizers import Adam
    from optbench.problems import Rosenbrock
    from optbench.schedules import CosineAnnealingLR
    {extra}
    def kernel(opt):
        res = optbench.run(problems=Rosenbrock(dim=10), optimizers=opt,
                           schedules=CosineAnnealingLR(T_max=1000), steps=1000, seeds=10_000,
                           record=("loss",), record_every=1000, progress=False)
        return res.manifest["timings"]["kernel_seconds"], res.trials["final_loss"]
""")


def _timed_cli(args, cache, cwd) -> float:
    env = {**os.environ, "OPTBENCH_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "optbench.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return time.perf_counter() - t0


def compile_figures() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache"
        smoke = ["run", str(ROOT / "problems" / "smoke.toml"), "--quiet", "--overwrite",
                 "--out", str(tmp / "smoke")]
        out = {"smoke_cold_s": _timed_cli(smoke, cache, tmp),
               "smoke_cached_s": _timed_cli(smoke, cache, tmp)}
        (tmp / "adabelief.py").write_text((ROOT / "examples" / "adabelief.py").read_text())
        (tmp / "plugin.toml").write_text(PLUGIN_SUITE)
        plugin = ["run", str(tmp / "plugin.toml"), "--quiet", "--overwrite", "--out",
                  str(tmp / "plugin")]
        out["plugin_first_s"] = _timed_cli(plugin, cache, tmp)
        out["plugin_cached_s"] = _timed_cli(plugin, cache, tmp)
        rule = tmp / "adabelief.py"  # an edit (any change to its file) recompiles the rule
        rule.write_text(rule.read_text() + "\n# edited\n")
        out["plugin_edited_s"] = _timed_cli(plugin, cache, tmp)
    return out


def plugin_speed(pairs: int) -> dict:
    """Built-in Adam vs PlainAdam on workload A, alternating, in one process."""
    scope: dict = {}
    exec(WORKLOAD_A.format(tests=str(ROOT / "tests"), extra="from plugin_rules import PlainAdam"),
         scope)
    kernel, adam, plain = scope["kernel"], scope["Adam"](lr=1e-3), scope["PlainAdam"](lr=1e-3)
    built_final = kernel(adam)[1]
    plain_final = kernel(plain)[1]  # compile both first
    ratios, times = [], {"builtin": [], "plugin": []}
    for _ in range(pairs):
        b, _ = kernel(adam)
        p, _ = kernel(plain)
        times["builtin"].append(b)
        times["plugin"].append(p)
        ratios.append(p / b)
    return {"builtin_kernel_s": min(times["builtin"]), "plugin_kernel_s": min(times["plugin"]),
            "plugin_over_builtin_median": float(np.median(ratios)),
            "range": [min(ratios), max(ratios)],
            "bitwise_equal": bool(np.array_equal(built_final, plain_final))}


def base_speed(base: Path, pairs: int) -> dict:
    """Workload A's kernel time, this tree against ``base``, alternating subprocesses."""
    code = WORKLOAD_A.format(tests="", extra="") + textwrap.dedent("""
        kernel(Adam(lr=1e-3))
        print(json.dumps(min(kernel(Adam(lr=1e-3))[0] for _ in range(3))))
    """)

    def one(tree):
        env = {**os.environ, "PYTHONPATH": str(tree)}
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, cwd=tree)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        return json.loads(proc.stdout.strip().splitlines()[-1])

    ratios, this, old = [], [], []
    for _ in range(pairs):
        old.append(one(base))
        this.append(one(ROOT))
        ratios.append(this[-1] / old[-1])
    return {"base_kernel_s": min(old), "this_kernel_s": min(this),
            "this_over_base_median": float(np.median(ratios)), "range": [min(ratios), max(ratios)]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--skip-compile", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_compile:
        print(json.dumps({"compile": compile_figures()}), flush=True)
    print(json.dumps({"workload_A_plugin": plugin_speed(args.pairs)}), flush=True)
    if args.base:
        print(json.dumps({"workload_A_vs_base": base_speed(args.base, args.pairs)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
