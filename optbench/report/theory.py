"""Theory checks for the report, read from :mod:`optbench.analysis` (``theory_checks``).

The report tabulates the analysis's checks (the rates table: problem class, the fitted rate
of f - f* with its interval, the predicted rate, their ratio -- the tightness -- with its
interval, and the verdict) and overlays,
on the convergence curves, the bound of each check that is a curve in f - f* over steps:

* ``GD smooth convex O(1/t)``: ||x0 - x*||^2 / (2 lr t) (``analysis.gd_convex_bound``, with
  the median ||x0 - x*|| over seeds);
* rate checks ("f - f* rate", an iterate bound rho already squared): (f(x0) - f*) q^t from
  the median start value, q the predicted rate of f - f*.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import analysis
from .model import TableData


COLUMNS = ["problem", "class", "optimizer", "schedule", "check", "phase", "measured",
           "interval", "predicted", "ratio", "ratio_interval", "verdict", "quantity",
           "measured_low", "measured_high", "reference"]
VERDICT = COLUMNS.index("verdict")


@dataclass
class Checks:
    bounds: dict = field(default_factory=dict)  # (problem, optimizer, schedule) -> [(x, y, label)]
    table: object = None  # TableData or None
    notes: list = field(default_factory=list)
    reddi: list = field(default_factory=list)  # the TheoryChecks on Reddi's counterexample


def checks(results, view) -> Checks:
    all_checks = analysis.theory_checks(results)
    out = Checks(reddi=[c for c in all_checks if "Reddi" in c.check])
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
        rows.append([c.problem, c.problem_class, c.optimizer, c.schedule, c.check, c.phase,
                     c.measured, _interval(c.ci), c.bound, c.ratio, _interval(c.ratio_ci, ".3f"),
                     c.status, c.quantity, c.ci[0], c.ci[1], c.reference])
        bold.append({VERDICT} if c.status == "fail" else set())
        key = by_label.get((c.problem, c.optimizer, c.schedule))
        if key is None or c.status == "fail" and not np.isfinite(c.bound):
            continue
        curve = _bound_curve(results, view, key, c)
        if curve is not None:
            out.bounds.setdefault(key, []).append(curve)
    if rows:
        n = {v: sum(r[VERDICT] == v for r in rows) for v in ("fail", "inconclusive")}
        out.table = TableData(
            name="rate_checks", title="Rates and theory checks: measured against predicted",
            caption=(f"Configurations with a known bound ({len(rows)} checks, {n['fail']} "
                     f"failed, {n['inconclusive']} inconclusive; {n_none} configurations have "
                     "no applicable bound). For a rate check, measured is the rate q of f - f* "
                     "(per-step contraction factor on the fitted linear phase of the median over "
                     "seeds, with its 95% interval; the rate analyze and compare report), "
                     "predicted the bound's rate of f - f*, ratio log q / log q_predicted (the "
                     "ratio of their decades per 100 steps: 1 is as fast as predicted; the "
                     "tightness where the prediction is exact, as for GD, heavy ball and "
                     "Nesterov on quadratics) with its interval from q's, phase "
                     "the seeds' majority class; a rate slower than predicted is inconclusive "
                     "when the run is still sublinear (the budget ended before its linear "
                     "phase); heavy ball and Nesterov checks also pass when the rate is within a "
                     "double root's factor t of the prediction over the fit's steps. "
                     "Other checks: ratio is measured / predicted, interval the check's own (the "
                     "noise floor: +-1.96 standard errors; Reddi: the range over seeds; the "
                     "O(1/t) check: the fitted order p of the median f - f* against "
                     "log(gamma + t) with its 95% interval, predicted 1, passing when the "
                     "interval reaches 1, inconclusive when the fit spans under 0.75 decades or the "
                     "interval is wider than 0.5). Bold: "
                     "fail. Computed by optbench.analysis.theory_checks; quantities and "
                     "references in the CSV file."),
            columns=COLUMNS,
            rows=rows, bold=bold,
            formats={"measured": ".6g", "predicted": ".6g", "ratio": ".3f",
                     "measured_low": ".6g", "measured_high": ".6g"},
            hidden=("quantity", "measured_low", "measured_high", "reference"))
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
    if c.quantity == "f - f* rate" and 0 < c.bound < 1:
        return steps, f0 * c.bound ** steps, f"rate bound {c.bound:.4g}"
    return None


def _interval(ci, fmt=".6g") -> str:
    low, high = ci
    return (f"[{low:{fmt}}, {high:{fmt}}]" if np.isfinite(low) and np.isfinite(high) else "")
