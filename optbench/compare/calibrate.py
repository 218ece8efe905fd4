"""Speed calibration: time a fixed reference workload in the same process as a run.

A run's kernel time alone says little across machines (a CI runner is slower than a laptop,
a busy runner slower than an idle one). ``optbench run --calibrate`` (``run(calibrate=True)``)
therefore also times a small fixed grid through the same engine and stores it in the manifest
next to the run's own kernel time. ``optbench compare`` compares the ratio
``kernel seconds / reference seconds`` of two runs, which cancels part of the machine's speed; the figures are compared only where the machine
fingerprints (``machine.py``) of the two runs are equal.

Both figures are minima over repeated batches (the minimum is the least disturbed by other
load), timed alternately: a batch runs the workload as many times as it takes to last at least
``BATCH_SECONDS`` (like ``timeit``'s autorange), and batches go on until each side has
``MIN_BATCHES`` and ``BUDGET_SECONDS`` have been spent. A run whose kernels took more than
``REPEAT_BELOW_SECONDS`` is long enough to time once and is not repeated.
"""
from __future__ import annotations

import time

#: the reference workload: a fixed grid, independent of the suite being run
REFERENCE = {
    "problem": "Rosenbrock(dim=8)",
    "optimizer": "Adam(lr=1e-3)",
    "seeds": 256,
    "steps": 200,
    "record": "final values only",
}
#: bump when the reference workload changes: ratios of different versions are not comparable
REFERENCE_VERSION = 1
MIN_BATCHES = 5
BATCH_SECONDS = 0.02
BUDGET_SECONDS = 1.0
REPEAT_BELOW_SECONDS = 0.5


def reference_plan():
    from ..optimizers import Adam
    from ..plan import Plan
    from ..problems import Rosenbrock

    steps = REFERENCE["steps"]
    return Plan(problems=Rosenbrock(dim=8), optimizers=Adam(lr=1e-3), schedules=None,
                seeds=REFERENCE["seeds"], steps=steps, record=("loss",), record_every=steps,
                name="optbench-reference")


def _batch(plan, run_shard) -> float:
    """Seconds per run of the plan's kernels, over a batch lasting >= BATCH_SECONDS."""
    total, count = 0.0, 0
    while total < BATCH_SECONDS or count == 0:
        total += sum(run_shard(plan, a, b)[1] for a, b in plan.shards())
        count += 1
    return total / count


def reference_seconds(run_shard=None, batches: int = MIN_BATCHES) -> float:
    """Best-of-``batches`` kernel seconds of the reference workload (compiled first)."""
    from .. import engine

    run_shard = run_shard or engine.run_shard_cpu
    plan = reference_plan()
    engine.warm_up(plan)
    return min(_batch(plan, run_shard) for _ in range(batches))


def calibrate(plan, run_shard, kernel_seconds: float, shards_resumed: int = 0,
              warm_up=None) -> dict:
    """Timings to add to a run's manifest: the reference time and the run's best kernel time.

    ``run_shard(plan, start, stop) -> (arrays, seconds)`` is the engine's shard runner used by
    the run and ``warm_up(plan)`` its compiler (default: the CPU engine's); ``kernel_seconds``
    the run's own (first) measurement.
    """
    from .. import engine
    from .machine import fingerprint

    ref_plan = reference_plan()
    (warm_up or engine.warm_up)(ref_plan)
    repeat_run = not shards_resumed and kernel_seconds < REPEAT_BELOW_SECONDS
    ref, best = [], [kernel_seconds]
    t0 = time.perf_counter()
    while len(ref) < MIN_BATCHES or time.perf_counter() - t0 < BUDGET_SECONDS:
        ref.append(_batch(ref_plan, run_shard))
        if repeat_run:
            best.append(_batch(plan, run_shard))
    return {
        "reference_seconds": min(ref),
        "reference_workload": dict(REFERENCE, version=REFERENCE_VERSION, batches=len(ref)),
        # a resumed run's kernel time covers part of it only: no speed figure
        "kernel_best_seconds": None if shards_resumed else min(best),
        "kernel_batches": len(best),
        "machine": fingerprint(plan.dtype),
    }
