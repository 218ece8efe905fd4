"""Per-trajectory convergence metrics that ``optbench compare`` tests over seeds.

Each metric maps a run to one value per trajectory, on a scale where larger is worse:

* ``final``: log10 of the final suboptimality f - f* (floored at ``floor``; a diverged
  trajectory counts as 1e300), or the final loss where f* is unknown (linear scale);
* ``steps``: steps to reach the target (log10 of the step; never reached counts as 2 x steps);
  the target is the run's own ``target`` when it has one, else ``rel_target`` x the
  trajectory's initial suboptimality;
* ``diverged``: 1 for a diverged trajectory, else 0 (compared as a rate);
* ``rate``: the rate of ``optbench.analysis`` (``linear_rate`` of f - f*, the per-step
  contraction factor q on the fitted linear phase) shown as 100 log10 q, minus the decades of
  f - f* lost per 100 steps (``decades_per_100_steps``; larger is worse); diverged
  trajectories are left out (they count in ``diverged``). A configuration's median is
  ``config_rate``, the rate of its per-step median over seeds, as analyze and the report
  show it (``configuration_rate``).

Traces are read on the steps both runs recorded, so a baseline stored with log-spaced traces
compares with a run recorded at every step.
"""
from __future__ import annotations

import json

import numpy as np

from ..analysis.rates import (
    config_rate,
    decades_per_100_steps,
    error_trace,
    linear_rate,
)
from ..analysis.targets import first_hit

DIVERGED_LOG = 300.0


def config_key(plan, trial) -> tuple:
    """What identifies a configuration across runs: the full specs (labels are for display)."""
    p = plan.problems[trial.problem].to_dict()
    o = plan.optimizers[trial.optimizer].to_dict()
    s = plan.schedules[trial.schedule].to_dict() if trial.schedule >= 0 else None
    return tuple(json.dumps(d, sort_keys=True) for d in (p, o, s))


def common_steps(a, b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps recorded by both runs, and their column indices in each."""
    steps, ia, ib = np.intersect1d(np.asarray(a.steps), np.asarray(b.steps), return_indices=True)
    return steps, ia, ib


def convergence_trace(results):
    """(name, trace) of the recorded suboptimality, or the loss if f* is unknown; else None."""
    for name in ("suboptimality", "loss"):
        if name in results.recorded:
            trace = results.trace(name)
            if name == "suboptimality" and np.all(np.isnan(trace)):
                continue
            return name, trace
    return None, None


def trial_metrics(results, columns: np.ndarray, steps: np.ndarray, *, floor: float,
                  rel_target: float) -> dict:
    """One value per trajectory for each metric (see the module docstring)."""
    tr = results.trials
    n = len(tr)
    status = np.asarray(tr["status"]).astype(str)
    diverged = status == "diverged"
    sub = np.asarray(tr["final_suboptimality"], dtype=float)
    if np.all(np.isnan(sub)):
        final_kind = "loss"
        final = np.asarray(tr["final_loss"], dtype=float).copy()
        final[diverged | ~np.isfinite(final)] = np.inf
    else:
        final_kind = "log10_suboptimality"
        final = np.log10(np.clip(np.nan_to_num(sub, nan=np.inf), floor, 1e300))
        final[diverged] = DIVERGED_LOG
    out = {"final": final, "diverged": diverged.astype(float), "final_kind": final_kind,
           "steps": np.full(n, np.nan), "rate": np.full(n, np.nan), "error": None,
           "recorded": steps}

    n_steps = results.plan.steps
    target = results.plan.target
    if target is not None:  # the kernel stops a trajectory at the target: exact steps
        reached = status == "reached_target"
        s = np.where(reached, np.asarray(tr["status_step"], dtype=float), 2.0 * n_steps)
        out["steps"] = np.log10(np.maximum(s, 1.0))
    name, trace = convergence_trace(results)
    if trace is None or columns.size < 3:
        return out
    trace = np.asarray(trace, dtype=float)[:, columns]
    k = steps.astype(float)
    if target is None and name == "suboptimality":
        level = rel_target * trace[:, :1]
        s = np.where(np.isfinite(level[:, 0]), first_hit(trace, k, level)[:, 0], np.nan)
        out["steps"] = np.log10(np.maximum(np.where(np.isinf(s), 2.0 * n_steps, s), 1.0))
    out["error"] = error_trace(results)[:, columns]
    q = np.array([np.nan if diverged[i] else linear_rate(out["error"][i], k).rate
                  for i in range(n)])
    out["rate"] = -decades_per_100_steps(q)
    return out


def configuration_rate(metrics: dict, rows) -> float:
    """The ``rate`` metric of a configuration (trajectories ``rows`` of ``trial_metrics``'s
    run): ``config_rate`` of their f - f*, as 100 log10 q (NaN without a trace)."""
    if metrics["error"] is None:
        return float("nan")
    return -decades_per_100_steps(config_rate(metrics["error"][rows], metrics["recorded"]).rate)

