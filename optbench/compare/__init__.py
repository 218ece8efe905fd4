"""Regression checks: compare a run with a baseline run of the same suite.

    from optbench.compare import compare_runs, Thresholds
    cmp = compare_runs(optbench.load("reports/baseline"), optbench.load("runs/smoke"))
    cmp.exit_code        # 0 no regression, 1 regression
    print(cmp.to_text()); cmp.to_markdown(); cmp.to_dict()

Command line: ``optbench compare BASELINE NEW`` (``command.py``); a compact baseline is written
by ``python -m optbench.compare.baseline RUN DIR`` (``baseline.py``); speed figures come from
``optbench.run(..., calibrate=True)`` / ``optbench run --calibrate`` (``calibrate.py``) and are
compared only under equal machine fingerprints (``machine.py``). Two commits' speed on one
machine: ``python -m optbench.compare.paired BASE_TREE [NEW_TREE]`` (``paired.py``).
"""
from .core import Comparison, Thresholds, compare_runs

__all__ = ["Comparison", "Thresholds", "compare_runs", "load_run", "make_baseline",
           "reference_seconds"]


def __getattr__(name):  # lazy, so that `python -m optbench.compare.baseline` runs cleanly
    if name in ("load_run", "make_baseline"):
        from . import baseline

        return getattr(baseline, name)
    if name == "reference_seconds":
        from .calibrate import reference_seconds

        return reference_seconds
    raise AttributeError(f"module 'optbench.compare' has no attribute {name!r}")
