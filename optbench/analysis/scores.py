"""Scores of trajectories that comparisons can trust: gaps to a reference value, a round-off
floor below which a run counts as solved, steps to target, and one rank key.

Gap. For each trajectory, g_k = f(x_k) - f_ref, where f_ref is f* when the problem knows it
and is not multimodal, else the best value any trajectory of the run reached on that
(problem, seed) (COCO's reference for problems whose f* a local method cannot be expected to
reach; Hansen et al. 2021). A diverged run's gap is +inf from its divergence on.

Round-off floor. floor = c eps (g_0 + |f_ref|), eps the machine epsilon of the run's dtype
and c = ``ROUNDOFF_FACTOR``: below it f - f* is round-off (f(x) itself is computed with a
relative error of a few eps, and f* with as much), so gaps at or below the floor are
*solved*, shown as 0 and never negative; 1.6e-161 and 8.7e-47 are a tie.

Rank key. key = log10(g_T / floor) > 0 for an unsolved run, s / (T + 1) - 1 in [-1, 0) for a
run solved at step s (earlier is better: ties among solved runs are broken by steps to the
floor), +inf for a diverged run. Lower is better; a diverged run is never best nor tied.
Paired rank tests and average ranks use this key.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..problems.classes import MULTIMODAL, problem_class
from ._common import AUTO, censored_trace, final_values
from .targets import first_hit

#: the round-off floor in units of eps (machine epsilon of the run's dtype)
ROUNDOFF_FACTOR = 1024.0
#: the relative target tau of steps to target: g_k <= tau g_0 (More & Wild 2009)
TARGET_TAU = 1e-3


@dataclass
class Scores:
    """Per trajectory (plan order): ``gap`` the final f - f_ref (>= 0; 0 when solved; inf
    when diverged), ``gap0`` the initial gap, ``floor``, ``solved`` (final gap <= floor),
    ``steps_solved`` (first recorded step at or below the floor, inf if never),
    ``steps_target`` (first recorded step with g_k <= tau g_0, inf if never), ``key`` the
    rank key, ``reference`` "f*" or "best found" per trajectory, ``tau``, ``steps`` (T),
    ``ref`` the value the ``auto`` metric's trace minus gives the gap g_k."""

    gap: np.ndarray
    gap0: np.ndarray
    floor: np.ndarray
    solved: np.ndarray
    steps_solved: np.ndarray
    steps_target: np.ndarray
    key: np.ndarray
    reference: np.ndarray
    tau: float
    steps: int
    ref: np.ndarray


def uses_best_found(problem) -> bool:
    """Judge against the best value found (not f*): f* unknown, or a multimodal problem
    (the rule of ``steps_to_target(..., f_low="f_star")`` too)."""
    return not np.isfinite(problem.f_star) or problem_class(problem) == MULTIMODAL


def roundoff_floor(gap0, f_ref, dtype: str = "float64") -> np.ndarray:
    """``c eps(dtype) (|g_0| + |f_ref|)``, the level below which f - f_ref is round-off."""
    eps = float(np.finfo(np.dtype(dtype)).eps)
    return ROUNDOFF_FACTOR * eps * (np.abs(gap0) + np.abs(f_ref))


def scores(results, tau: float = TARGET_TAU) -> Scores:
    """``Scores`` of every trajectory of ``results`` (see the module's definitions)."""
    plan = results.plan
    trace = censored_trace(results, AUTO)  # f - f* where f* is known, else f
    final = final_values(results, AUTO)
    prob = plan.trial_ids[:, 0]
    seed = plan.trial_ids[:, 3]
    best_found = np.array([uses_best_found(p) for p in plan.problems])[prob]
    fstar = np.array([p.f_star for p in plan.problems])[prob]
    ref = np.zeros(len(prob))
    if best_found.any():
        low = np.where(np.isfinite(trace), trace, np.inf).min(axis=1)
        low = np.minimum(low, np.where(np.isfinite(final), final, np.inf))
        keys = prob * (int(seed.max()) + 1) + seed
        for k in np.unique(keys[best_found]):
            rows = keys == k
            ref[rows] = low[rows].min()
    ref = np.where(best_found, ref, 0.0)
    ref[~np.isfinite(ref)] = 0.0
    # |f_ref| in loss units: f* itself, or the best found (loss, or gap + f* when known)
    abs_ref = np.abs(np.where(np.isfinite(fstar), fstar + ref, ref))
    gap_trace = trace - ref[:, None]
    gap0 = gap_trace[:, 0]
    floor = roundoff_floor(np.where(np.isfinite(gap0), gap0, 0.0), abs_ref, plan.dtype)
    gap = final - ref
    solved = np.isfinite(gap) & (gap <= floor)
    gap = np.where(solved, 0.0, gap)
    steps = np.asarray(results.steps)
    steps_solved = first_hit(gap_trace, steps, floor[:, None])[:, 0]
    steps_solved = np.where(solved, np.minimum(steps_solved, plan.steps), steps_solved)
    steps_target = first_hit(gap_trace, steps, (tau * np.maximum(gap0, 0.0))[:, None])[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        unsolved = np.log10(gap / np.where(floor > 0, floor, np.finfo(float).tiny))
    key = np.where(solved, np.where(np.isfinite(steps_solved), steps_solved, plan.steps)
                   / (plan.steps + 1.0) - 1.0, unsolved)
    key = np.where(np.isnan(key), np.inf, key)
    reference = np.where(best_found, "best found", "f*").astype(object)
    return Scores(gap, gap0, floor, solved, steps_solved, steps_target, key, reference,
                  float(tau), int(plan.steps), ref)


__all__ = ["ROUNDOFF_FACTOR", "TARGET_TAU", "Scores", "roundoff_floor", "scores",
           "uses_best_found"]
