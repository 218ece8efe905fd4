"""Per-trajectory convergence metrics that ``optbench compare`` tests over seeds.

Each metric maps a run to one value per trajectory, on a scale where larger is worse:

* ``final``: log10 of the final suboptimality f - f* (floored at ``floor``; a diverged
  trajectory counts as 1e300), or the final loss where f* is unknown (linear scale);
* ``steps``: steps to reach the target (log10 of the step; never reached counts as 2 x steps);
  the target is the run's own ``target`` when it has one, else ``rel_target`` x the
  trajectory's initial suboptimality;
* ``diverged``: 1 for a diverged trajectory, else 0 (compared as a rate);
* ``rate``: the fitted linear rate, in decades of suboptimality lost per 100 steps (negated,
  so larger is worse), fitted on the recorded trace until the target or the floor is reached;
  diverged trajectories are left out (they count in ``diverged``).

Traces are read on the steps both runs recorded, so a baseline stored with log-spaced traces
compares with a run recorded at every step.
"""
from __future__ import annotations

import json

import numpy as np

try:  # the analysis module's fits and first-hit search (compare only chooses the windows)
    from ..analysis.rates import linear_rate as _linear_rate
    from ..analysis.targets import first_hit as _first_hit
except ImportError:  # pragma: no cover - an installation without optbench.analysis
    _linear_rate = _first_hit = None

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
           "steps": np.full(n, np.nan), "rate": np.full(n, np.nan)}

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
    for i in range(n):
        y = trace[i]
        level = (target if target is not None else rel_target * y[0]) if name == "suboptimality" \
            else None
        if target is None and level is not None and np.isfinite(level):
            s = _first_step(y, k, level)
            out["steps"][i] = np.log10(max(s if np.isfinite(s) else 2.0 * n_steps, 1.0))
        if diverged[i]:
            continue
        out["rate"][i] = _fitted_rate(k, y, level, floor)
    return out


def _fitted_rate(k, y, level, floor) -> float:
    """Minus the least-squares slope of log10(y) on the step, in decades per 100 steps, over
    the recorded points up to the first one at or below the target, the floor, or ten times
    the final level (so a noise plateau or the last, round-off-limited decade is left out)."""
    tail = y[-max(1, y.size // 10):]
    tail = tail[np.isfinite(tail)]
    plateau = 10.0 * float(np.median(tail)) if tail.size else 0.0
    stop_at = max(level if level is not None and np.isfinite(level) else 0.0, floor, plateau)
    below = np.nonzero(~(y > stop_at))[0]  # also stops at the first non-finite value
    end = below[0] + 1 if below.size else y.size
    kk, yy = k[:end], y[:end]
    good = np.isfinite(yy) & (yy > 0)
    kk, yy = kk[good], yy[good]
    if kk.size < 3 or np.ptp(kk) == 0:
        return np.nan
    if _linear_rate is not None:  # least squares of log e on t over the whole window
        q = _linear_rate(yy, kk, tail=1.0, floor=0.0).rate
        slope = np.log10(q) if q > 0 else np.nan
    else:
        slope = np.polyfit(kk, np.log10(yy), 1)[0]
    return float(slope * 100.0)  # decades per 100 steps; larger (less negative) is worse


def _first_step(y, k, level) -> float:
    """First recorded step with y <= level (inf if none)."""
    if _first_hit is not None:
        return float(_first_hit(y[None, :], k, level)[0, 0])
    hit = np.nonzero(y <= level)[0]
    return float(k[hit[0]]) if hit.size else np.inf
