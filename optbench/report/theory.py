"""Theory checks for the report, read from :mod:`optbench.analysis` (``theory_checks``).

The report tabulates the analysis's checks and overlays, on the convergence curves, the bound
of each check that is a curve in f - f* over steps:

* ``GD smooth convex O(1/t)``: ||x0 - x*||^2 / (2 lr t) (``analysis.gd_convex_bound``, with
  the median ||x0 - x*|| over seeds);
* rate checks on f ("f rate"): (f(x0) - f*) rho^t from the median start value;
* ``GD constant step (quadratic)`` (an iterate rate rho): (f(x0) - f*) rho^(2t), since on a
  quadratic every eigen-component of x - x* contracts by at most rho per step, so f - f*
  (a weighted sum of their squares) contracts by rho^2.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import analysis
from .model import TableData


@dataclass
class Checks:
    bounds: dict = field(default_factory=dict)  # (problem, optimizer, schedule) -> [(x, y, label)]
    table: object = None  # TableData or None
    notes: list = field(default_factory=list)


def checks(results, view) -> Checks:
    all_checks = analysis.theory_checks(results)
    out = Checks()
    index = {(p, o, s): (p, o, s) for p in range(len(view.problem_labels))
             for o in range(len(view.optimizer_labels)) for s in range(len(view.schedule_labels))}
    by_label = {(view.problem_labels[p], view.optimizer_labels[o], view.schedule_labels[s]): k
                for k, (p, o, s) in index.items()}
    rows, bold = [], []
    n_none = 0
    for c in all_checks:
        if c.status == "no bound":
            n_none += 1
            continue
        rows.append([c.problem, c.optimizer, c.schedule, c.check, c.quantity, c.bound,
                     c.measured, c.status, c.reference])
        bold.append({7} if c.status == "fail" else set())
        key = by_label.get((c.problem, c.optimizer, c.schedule))
        if key is None or c.status == "fail" and not np.isfinite(c.bound):
            continue
        curve = _bound_curve(results, view, key, c)
        if curve is not None:
            out.bounds.setdefault(key, []).append(curve)
    if rows:
        n_fail = sum(r[7] == "fail" for r in rows)
        out.table = TableData(
            name="rate_checks", title="Rate checks: measured against theory",
            caption=(f"Configurations with a known bound ({len(rows)} checks, {n_fail} failed; "
                     f"{n_none} configurations have no applicable bound): the bound and the "
                     "measured value of the quantity, pass or fail (bold: fail), as computed by "
                     "optbench.analysis.theory_checks; references in the CSV file."),
            columns=["problem", "optimizer", "schedule", "check", "quantity", "bound",
                     "measured", "result", "reference"],
            rows=rows, bold=bold, formats={"bound": ".6g", "measured": ".6g"},
            hidden=("reference",))
    else:
        out.notes.append(f"Rate checks: none of the run's {n_none} configurations has a known "
                         "theoretical bound (they need, e.g., plain SGD on a problem with known "
                         "mu and L), so the rate-check table is left out.")
    return out


def _bound_curve(results, view, key, c):
    p, o, s = key
    rows = view.config(p, o, s).trials
    steps = view.steps.astype(float)
    if "suboptimality" not in results.recorded:
        return None
    f0 = float(np.median(np.asarray(results.trace("suboptimality"))[rows, 0]))
    if c.check.startswith("GD smooth convex") and "dist_to_opt" in results.recorded:
        d0 = float(np.median(np.asarray(results.trace("dist_to_opt"))[rows, 0]))
        t = steps[steps >= 1]
        return t, analysis.gd_convex_bound(t, d0 ** 2, view.lrs[o]), "O(1/t) bound"
    if c.quantity == "f rate" and 0 < c.bound < 1:
        return steps, f0 * c.bound ** steps, f"rate bound {c.bound:.4g}"
    if c.check == "GD constant step (quadratic)" and 0 < c.bound < 1:
        return steps, f0 * c.bound ** (2 * steps), f"rate bound {c.bound:.4g}"
    return None
