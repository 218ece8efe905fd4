"""pytest-benchmark micro-benchmarks of the engine's hot paths, for performance regressions.

    pytest benchmarks/bench_hotpaths.py --benchmark-only            # print the table

Hot paths: one compiled shard (Adam on Rosenbrock), packing a mixed grid into kernel arrays,
building the trials table, loading a stored run, and `optbench compare` itself.

In CI, keep the timings of a reference commit and fail when a later commit is slower:

    # on the reference commit (e.g. main), save the timings under .benchmarks/
    pytest benchmarks/bench_hotpaths.py --benchmark-only --benchmark-autosave
    # on the candidate: compare with the latest saved run, fail if min time grew by > 15 %
    pytest benchmarks/bench_hotpaths.py --benchmark-only --benchmark-compare \
        --benchmark-compare-fail=min:15%

``--benchmark-autosave`` writes ``.benchmarks/<machine id>/NNNN_<commit>.json``;
``--benchmark-compare`` (without a number: the latest) reads it back, and
``--benchmark-compare-fail=min:15%`` (or ``mean:...``, or an absolute ``min:0.001``) turns a
slowdown into a failing exit status. Saved timings are only comparable on the same machine
(CI runners differ), so cache ``.benchmarks/`` per runner type, or use machine-independent
``optbench compare`` speed checks (``optbench run --calibrate``, ratios to a reference kernel
timed in the same process). Sizes can be scaled with ``HOTPATH_N`` (trajectories, default
2048) and ``HOTPATH_T`` (steps, default 500).
"""
from __future__ import annotations

import os

import pytest

import optbench
from optbench import engine
from optbench.optimizers import REGISTRY as OPTIMIZERS
from optbench.optimizers import Adam
from optbench.plan import Plan
from optbench.problems import Quadratic, Rosenbrock
from optbench.results import Results, build_trials
from optbench.schedules import CosineAnnealingLR, StepLR

N = int(os.environ.get("HOTPATH_N", 2048))
T = int(os.environ.get("HOTPATH_T", 500))


@pytest.fixture(scope="module")
def adam_plan():
    plan = Plan(problems=Rosenbrock(dim=10), optimizers=Adam(lr=1e-3),
                schedules=CosineAnnealingLR(T_max=T), seeds=N, steps=T, record=("loss",),
                record_every=T, shard_size=N)
    engine.warm_up(plan)
    return plan


@pytest.fixture(scope="module")
def mixed_plan():
    """Every optimizer with its defaults x two schedules x two problems x 32 seeds."""
    optimizers = []
    for cls in OPTIMIZERS.values():
        try:
            optimizers.append(cls())
        except (TypeError, ValueError):  # an optimizer without a default lr
            optimizers.append(cls(lr=1e-2))
    plan = Plan(problems=[Quadratic(dim=10, kappa=100.0), Rosenbrock(dim=4)],
                optimizers=optimizers, schedules=[StepLR(step_size=50), CosineAnnealingLR(T_max=200)],
                seeds=32, steps=200, record=("loss", "suboptimality"), record_every="log")
    engine.warm_up(plan)
    return plan


@pytest.fixture(scope="module")
def stored(tmp_path_factory, mixed_plan):
    out = tmp_path_factory.mktemp("hotpaths") / "run"
    cfg = mixed_plan.config()
    optbench.run(problems=mixed_plan.problems, optimizers=mixed_plan.optimizers,
                 schedules=mixed_plan.schedules, seeds=cfg["seeds"], steps=cfg["steps"],
                 record=cfg["record"], record_every="log", out=out, progress=False)
    return out


def test_shard_adam_rosenbrock(benchmark, adam_plan):
    """One shard: N Adam+cosine trajectories on Rosenbrock d=10, T steps (packing + kernel)."""
    arrays, _ = benchmark(engine.run_shard_cpu, adam_plan, 0, adam_plan.n_trials)
    assert arrays["status"].shape == (N,)


def test_packing(benchmark, mixed_plan):
    """Packing a mixed grid (every optimizer x schedules x problems x seeds) into arrays."""
    packed = benchmark(engine.Packed, mixed_plan, 0, mixed_plan.n_trials)
    inputs, lanes, outputs = packed.kernel_args()
    assert lanes.X.shape[0] == inputs.bmeta.shape[0] and outputs.out_status.shape[0] > 0


def test_shard_mixed_grid(benchmark, mixed_plan):
    """The mixed grid through the kernel (divergent control flow across trajectories)."""
    arrays, _ = benchmark(engine.run_shard_cpu, mixed_plan, 0, mixed_plan.n_trials)
    assert arrays["status"].shape == (mixed_plan.n_trials,)


def test_results_building(benchmark, mixed_plan):
    """The trials table (identifiers, flattened hyper-parameters, finals) of the mixed grid."""
    arrays, _ = engine.run_shard_cpu(mixed_plan, 0, mixed_plan.n_trials)
    table = benchmark(build_trials, mixed_plan, arrays)
    assert len(table) == mixed_plan.n_trials
    assert len(Results(mixed_plan, arrays)) == mixed_plan.n_trials


def test_load(benchmark, stored):
    """Reading a stored run back (manifest, plan, shards, trials table)."""
    res = benchmark(optbench.load, stored)
    assert len(res) > 0


def test_compare(benchmark, stored):
    """`optbench compare` of a run with itself (metrics, rank tests, rendering)."""
    from optbench.compare import compare_runs

    base = optbench.load(stored)

    def go():
        cmp = compare_runs(base, base)
        return cmp, cmp.to_text(), cmp.to_markdown()

    cmp, _, _ = benchmark(go)
    assert cmp.exit_code == 0
