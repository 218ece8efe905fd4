"""Measured error rates of the regression checks, on this machine, while it is loaded.

    python benchmarks/regress_error_rates.py [--runs 20] [--pairs 10] [--json FILE]

(a) false alarms: the paired speed check (``optbench.compare.paired``) of unchanged code
    against itself, ``--runs`` times, while a second process runs optbench suites in a loop;
(b), (c) detections: the same check against a copy of the tree whose Adam rule does 1.5x
    (1.2x) the iterations of its coordinate loop;
(d) a convergence regression: a copy whose Adam step is scaled by 0.1, run on the smoke suite
    and compared with reports/baseline by ``optbench compare``; the flagged configurations are
    named.

Planted changes go into temporary copies of ``optbench/`` only, by patching source text found
by a marker; a marker that is not found exactly once stops the script (the kernels moved).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from optbench.compare.paired import describe, paired_check  # noqa: E402

RULES = "optbench/kernels/optimizers.py"
#: the Adam family's coordinate loop and Adam's update line (``_adam_family_rows``)
LOOP_MARKER = ("def _adam_family_rows(", "    for i in range(d):\n")
STEP_MARKER = "x[b] = xi - lane_a[b] * (mi / denom)"
#: the speed workload: Adam on a 100-dimensional quadratic (the rule is most of the kernel)
WORKLOAD = """name = "error-rates"
[run]
steps = 200
seeds = 16
record_every = 200
[[problems]]
type = "Quadratic"
dim = 100
[[optimizers]]
type = "Adam"
lr = 1e-2
"""
LOAD = """import sys
sys.path.insert(0, sys.argv[1])
import optbench
from optbench.suite import read_suite
kw = read_suite(sys.argv[2])
kw["seeds"] = 64
while True:
    optbench.run(**kw, progress=False)
"""


def planted_tree(tmp: Path, name: str, patch) -> Path:
    """A copy of the package with ``patch(source) -> source`` applied to the optimizer rules."""
    tree = tmp / name
    shutil.copytree(ROOT / "optbench", tree / "optbench",
                    ignore=shutil.ignore_patterns("__pycache__"))
    path = tree / RULES
    path.write_text(patch(path.read_text()))
    return tree


def slower_loop(num: int, den: int):
    """Patch: the Adam rule's coordinate loop runs num/den times its iterations."""
    def patch(src: str) -> str:
        start = src.find(LOOP_MARKER[0])
        at = src.find(LOOP_MARKER[1], start)
        if start < 0 or at < 0 or src.count(LOOP_MARKER[0]) != 1:
            sys.exit(f"cannot plant the slowdown: marker {LOOP_MARKER!r} not found in {RULES}")
        loop = f"    for _k in range((d * {num}) // {den}):\n        i = _k % d\n"
        return src[:at] + loop + src[at + len(LOOP_MARKER[1]):]
    return patch


def smaller_step(src: str) -> str:
    """Patch: Adam's step scaled by 0.1."""
    if src.count(STEP_MARKER) != 1:
        sys.exit(f"cannot plant the convergence regression: {STEP_MARKER!r} not found once")
    return src.replace(STEP_MARKER, STEP_MARKER.replace("lane_a[b]", "0.1 * lane_a[b]"))


def speed_trials(base: Path, new: Path, suite: Path, runs: int, pairs: int, label: str) -> dict:
    results = []
    for k in range(runs):
        r = paired_check(base, new, suite, pairs=pairs)
        results.append(r)
        print(f"{label} {k + 1}/{runs}: {describe(r)} [{r['wall_seconds']:.1f} s]", flush=True)
    alarms = sum(r["verdict"] == "regression" for r in results)
    return {"runs": runs, "regressions": alarms,
            "ratios": [round(r["ratio"], 4) for r in results],
            "wall_seconds": [round(r["wall_seconds"], 2) for r in results]}


def convergence_trials(tree: Path, tmp: Path, runs: int) -> dict:
    detected, named = 0, set()
    cli = f"import sys; sys.path.insert(0, {str(tree)!r}); from optbench.cli import main; " \
          "sys.exit(main(sys.argv[1:]))"
    for k in range(runs):
        out, js = tmp / f"conv{k}", tmp / f"conv{k}.json"
        subprocess.run([sys.executable, "-c", cli, "run", str(ROOT / "problems/smoke.toml"),
                        "--out", str(out), "--quiet"], check=True)
        rc = subprocess.run([sys.executable, "-c", cli, "compare", str(ROOT / "reports/baseline"),
                             str(out), "--json", str(js)], capture_output=True).returncode
        flagged = {f"{c['problem']} / {c['optimizer']} / {c['schedule']}"
                   for c in json.loads(js.read_text())["configurations"]
                   if c["verdict"] == "regression"}
        detected += rc == 1 and bool(flagged)
        named |= flagged
        print(f"convergence {k + 1}/{runs}: exit {rc}, {len(flagged)} configurations flagged",
              flush=True)
    return {"runs": runs, "detected": detected, "configurations": sorted(named)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--json", default="runs/error-rates.json")
    args = p.parse_args()
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="optbench-error-rates-"))
    suite = tmp / "workload.toml"
    suite.write_text(WORKLOAD)
    load = subprocess.Popen([sys.executable, "-c", LOAD, str(ROOT), str(ROOT / "problems/smoke.toml")])
    try:
        out = {"unchanged": speed_trials(ROOT, ROOT, suite, args.runs, args.pairs, "unchanged"),
               "slower_1.5x": speed_trials(ROOT, planted_tree(tmp, "slow15", slower_loop(3, 2)),
                                           suite, args.runs, args.pairs, "1.5x"),
               "slower_1.2x": speed_trials(ROOT, planted_tree(tmp, "slow12", slower_loop(6, 5)),
                                           suite, args.runs, args.pairs, "1.2x"),
               "convergence": convergence_trials(planted_tree(tmp, "step01", smaller_step), tmp,
                                                 args.runs)}
    finally:
        load.terminate()
        load.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    out["total_seconds"] = round(time.perf_counter() - t0, 1)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    s = out
    print(f"false speed alarms on unchanged code: {s['unchanged']['regressions']}/{args.runs}; "
          f"1.5x rule slowdown detected {s['slower_1.5x']['regressions']}/{args.runs}; 1.2x "
          f"{s['slower_1.2x']['regressions']}/{args.runs}; convergence regression detected "
          f"{s['convergence']['detected']}/{args.runs} ({', '.join(s['convergence']['configurations'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
