"""Figure data: pure functions of a run's ``Results`` and its analysis, no drawing.

Every number comes from :mod:`optbench.analysis`; this module selects and arranges it:

* the *metric* of a problem is ``suboptimality`` (f - f*) where f* is known, else ``loss``
  (``analysis.problem_metric``, metric ``"auto"``);
* an optimizer *variant* is its spec without the learning rate (``analysis.variant_label``:
  ``Adam(amsgrad=True)``); a variant keeps one colour in every figure, and its *tuned*
  setting on a (problem, schedule) is the lr ``analysis.tune`` picks: lowest median final
  rank key (``analysis.scores``) over the tuning seeds (the first quarter of the seeds);
  every figure, table and finding reads only the other, held-out, seeds (all seeds both tune and evaluate when the run has a single seed);
* a diverged trajectory counts as +inf from its divergence step on (worse than any value);
* a trajectory *reaches target tau* at the first recorded step k with
  f(x_k) - f_low <= tau (f(x_0) - f_low) (More & Wild's test,
  ``analysis.steps_to_target(relative=True, f_low="f_star")``), where f_low is f* if known,
  else the lowest loss any trajectory of the run reached on that problem and seed; it costs
  k + 1 evaluations (the start point is the first).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import analysis as an
from .model import Contour, FigureData, Heatmap, Panel, Series

PROFILE_TAU = 1e-3
MAX_CURVES = 6  # optimizer curves per convergence panel; the others are named in the caption
ECDF_TAUS = tuple(10.0 ** -k for k in range(1, 8))


# ---- grouping of the trials ---------------------------------------------------------------

def lr_of(optimizer) -> float:
    return float(optimizer.params().get("lr", math.nan))


def fmt_num(v: float, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if math.isinf(v):
        return "diverged" if v > 0 else "-inf"
    return f"{v:.{digits}g}"


@dataclass
class Config:
    """One configuration: a problem, an optimizer setting and a schedule; its seeds' trials;
    ``index``: its row in the analysis's per-configuration tables (``analysis.configs``)."""

    problem: int
    optimizer: int
    schedule: int
    trials: np.ndarray  # trial indices, in seed order
    index: int = 0


class RunView:
    """Indices of a run and the analysis results that every figure and table shares."""

    def __init__(self, results):
        #: the whole run (tuning reads its tuning seeds); every figure, table and finding
        #: reads ``results``: the evaluation seeds only (all seeds when the run has one)
        self.full = results
        self.held_out = len(set(int(s) for s in results.trials["seed"])) >= 2
        self.tuning_seeds, self._eval_seeds = an.split_seeds(results, held_out=self.held_out)
        results = an.select_seeds(results, self._eval_seeds)
        self.results = results
        plan = results.plan
        self.plan = plan
        self.problem_labels = [p.label() for p in plan.problems]
        self.optimizer_labels = [o.label() for o in plan.optimizers]
        self.schedule_labels = [s.label() for s in plan.schedules] or ["constant"]
        self.variants = [an.variant_label(o) for o in plan.optimizers]
        self.variant_keys = list(dict.fromkeys(self.variants))
        self.lrs = [lr_of(o) for o in plan.optimizers]
        self.steps = np.asarray(results.steps)
        self.log_steps = plan.record_every == "log"
        trials = plan.trials
        self.t_problem = np.array([t.problem for t in trials])
        self.t_optimizer = np.array([t.optimizer for t in trials])
        self.t_schedule = np.array([max(t.schedule, 0) for t in trials])
        self.t_seed = np.array([t.seed for t in trials])
        tr = results.trials
        self.status = np.asarray(tr["status"])
        self.status_step = np.asarray(tr["status_step"])
        self.diverged = self.status == "diverged"
        self.seeds = sorted(set(int(s) for s in self.t_seed))
        self.metric = [an.problem_metric(results, p) for p in range(len(plan.problems))]
        self.final = an.final_values(results, an.AUTO)
        self.configs = [Config(c.problem, c.optimizer, max(c.schedule, 0), np.array(c.trials), i)
                        for i, c in enumerate(an.configs(results))]
        self._by_key = {(c.problem, c.optimizer, c.schedule): c for c in self.configs}
        self._cache: dict = {}

    def _cached(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    # ---- labels -------------------------------------------------------------------------
    def setting_label(self, o: int) -> str:
        lr = self.lrs[o]
        return f"{self.variants[o]}, lr={lr:g}" if np.isfinite(lr) else self.variants[o]

    def metric_label(self, p: int) -> str:
        return "f(x) - f*" if self.metric[p] == "suboptimality" else "f(x)"

    # ---- analysis results ---------------------------------------------------------------
    def metric_trace(self, p: int) -> np.ndarray:
        """Each trial's trace of its problem's metric (rows of all problems)."""
        return self._cached("trace", lambda: an.metric_trace(self.results, an.AUTO))

    def bands(self) -> "an.Bands":
        """Median and IQR bands per configuration (``analysis.convergence_summary``)."""
        return self._cached("bands", lambda: an.convergence_summary(self.results, an.AUTO))

    def final_stats(self) -> list:
        """Rows of ``analysis.final_value_stats`` per configuration (in ``configs`` order)."""
        return self._cached("final", lambda: an.final_value_stats(self.results, an.AUTO)
                            .to_dict("records"))

    def tuning(self) -> list:
        """Rows of ``analysis.tune`` on the whole run (held-out seeds where it has two or
        more)."""
        return self._cached("tune", lambda: an.tune(self.full, metric=an.AUTO,
                                                    held_out=self.held_out).to_dict("records"))

    def eval_seeds(self) -> list:
        return list(self._eval_seeds)

    def scores(self) -> "an.Scores":
        """``analysis.scores`` of the evaluation seeds (gap, round-off floor, rank key)."""
        return self._cached("scores", lambda: an.scores(self.results))

    def findings(self):
        """``analysis.findings`` of the whole run (None with a single seed)."""
        from ..analysis.findings import findings

        return self._cached("findings", lambda: findings(self.full) if self.held_out else None)

    def config(self, p: int, o: int, s: int) -> Config | None:
        return self._by_key.get((p, o, s))

    def configs_of(self, p=None, o=None, s=None) -> list:
        return [c for c in self.configs if (p is None or c.problem == p)
                and (o is None or c.optimizer == o) and (s is None or c.schedule == s)]

    def median_final(self, c: Config) -> float:
        return float(self.final_stats()[c.index]["median"])

    def tuned(self, p: int, s: int) -> dict:
        """variant -> the configuration of its tuned lr on problem p with schedule s."""
        def make():
            out: dict = {}
            for row in self.tuning():
                key = (self.problem_labels.index(row["problem"]),
                       self.schedule_labels.index(row["schedule"]))
                o = self.optimizer_labels.index(row["tuned_optimizer"])
                out.setdefault(key, {})[row["optimizer"]] = self.config(key[0], o, key[1])
            return {k: {v: d[v] for v in self.variant_keys if v in d} for k, d in out.items()}
        return self._cached("tuned", make).get((p, s), {})

    def all_diverged(self, p: int, s: int) -> list:
        """Variants that diverged at every lr on every tuning seed of problem p, schedule s
        (``analysis.tune``'s ``all_diverged``): their "tuned" setting is not a result."""
        def make():
            out: dict = {}
            for row in self.tuning():
                if row["all_diverged"]:
                    key = (self.problem_labels.index(row["problem"]),
                           self.schedule_labels.index(row["schedule"]))
                    out.setdefault(key, []).append(row["optimizer"])
            return out
        return self._cached("all_div", make).get((p, s), [])

    def drawn(self, p: int, s: int, limit: int = MAX_CURVES) -> tuple[dict, list]:
        """(variant -> configuration, notes): the tuned configurations a panel draws: not
        those that diverged at every lr, and at most ``limit``, the best by median rank key
        on the evaluation seeds."""
        tuned = self.tuned(p, s)
        dead = [v for v in self.all_diverged(p, s) if v in tuned]
        live = {v: c for v, c in tuned.items() if v not in dead}
        notes = [f"{', '.join(dead)} (diverged at every lr of the grid)"] if dead else []
        if len(live) > limit:
            key = self.scores().key
            order = sorted(live, key=lambda v: float(an.median_iqr(key[live[v].trials])[0]))
            notes.append(f"{len(live) - limit} more variants not drawn "
                         f"({', '.join(order[limit:])}; see the tables)")
            live = {v: live[v] for v in self.variant_keys if v in order[:limit]}
        return live, notes

    def steps_to_target(self, tau: float) -> np.ndarray:
        """Per trial: the first recorded step meeting the target tau (inf if never)."""
        return self._cached(("stt", tau), lambda: an.steps_to_target(
            self.results, [tau], relative=True, f_low="f_star")[:, 0])


FLOOR = 1e-16  # relative to the initial value: below it, differences are round-off


def _positive(y, floor: float = 0.0):
    """Values for a log axis: infinite (diverged) or NaN -> nan (not drawn); with a floor,
    values below it -> ``floor`` (zero and round-off below f* included: converged, not
    failed); without one, non-positive values -> nan."""
    if y is None:
        return None
    y = np.array(y, dtype=float)
    finite = np.isfinite(y)
    y[~finite] = np.nan
    if floor > 0:
        y[finite & (y < floor)] = floor
    else:
        y[finite & (y <= 0)] = np.nan
    return y


def _bound_curve(y, floor: float):
    """A theory bound for a log axis: drawn down to the display floor, not below it."""
    y = np.array(y, dtype=float)
    y[~(np.isfinite(y) & (y > max(floor, 0.0)))] = np.nan
    return y


def display_floor(view: "RunView", p: int) -> float:
    """FLOOR times the median initial value of problem p's metric (0 if unknown)."""
    start = view.metric_trace(p)[view.t_problem == p][:, 0]
    start = start[np.isfinite(start) & (start > 0)]
    return float(FLOOR * np.median(start)) if start.size else 0.0


def _diverged_ends(label, key, x, med):
    """An 'x' at the last drawn point of a median curve that ends in divergence."""
    ok = np.isfinite(med)
    if ok.any() and not ok[-1]:
        last = np.flatnonzero(ok)[-1]
        return [Series(f"{label} diverged", x[last:last + 1], med[last:last + 1], key=key,
                       kind="points", marker="x")]
    return []


def tuned_text(view: RunView) -> str:
    """How the tuned lr was chosen, for captions."""
    if view.held_out:
        return ("tuned lr (optbench.analysis.tune: lowest median rank key over the tuning "
                f"seeds {', '.join(map(str, view.tuning_seeds))}; drawn on the other seeds)")
    return ("tuned lr (optbench.analysis.tune: lowest median final value; the run has one "
            "seed, so the choice is in-sample)")


def _xsteps(view: RunView):
    """Recorded steps as plotted (log axes drop step 0)."""
    keep = view.steps > 0 if view.log_steps else np.ones(len(view.steps), bool)
    return view.steps[keep], keep, ("log" if view.log_steps else "linear")


# ---- figures ----------------------------------------------------------------------------

def convergence_figures(view: RunView, bounds=None) -> list[FigureData]:
    """Per problem: median and interquartile band over seeds of the metric, one series per
    optimizer variant at its tuned lr, one panel per schedule; theory bounds overlaid.

    ``bounds``: {(problem, optimizer, schedule): [(steps, values, label)]} from the analysis.
    """
    bounds = bounds or {}
    x, keep, xscale = _xsteps(view)
    figures = []
    for p, plabel in enumerate(view.problem_labels):
        panels = []
        trace = view.metric_trace(p)
        bands = view.bands()
        floor = display_floor(view, p)
        top = 0.0
        omitted = []
        for s, slabel in enumerate(view.schedule_labels):
            series = []
            drawn, notes = view.drawn(p, s)
            omitted += [f"{slabel}: {n}" if len(view.schedule_labels) > 1 else n
                        for n in notes]
            for v, c in drawn.items():
                med, lo, hi = (b[c.index, keep] for b in (bands.median, bands.q25, bands.q75))
                med = _positive(med, floor)
                series.append(Series(view.setting_label(c.optimizer), x, med, key=v,
                                     lo=_positive(lo, floor), hi=_positive(hi, floor)))
                series += _diverged_ends(view.setting_label(c.optimizer), v, x, med)
                start = trace[c.trials, 0]
                start = start[np.isfinite(start)]
                top = max(top, float(np.max(start)) if start.size else 0.0)
                for bx, by, blabel in bounds.get((p, c.optimizer, s), []):
                    bx = np.asarray(bx, float)
                    m = bx > 0 if xscale == "log" else np.ones(len(bx), bool)
                    series.append(Series(f"{blabel} ({view.variants[c.optimizer]})", bx[m],
                                         _bound_curve(np.asarray(by, float)[m], floor),
                                         key=v, kind="bound"))
            panels.append(Panel(title=slabel if len(view.schedule_labels) > 1 else plabel,
                                xlabel="step", ylabel=view.metric_label(p), xscale=xscale,
                                yscale="log", series=series))
        if top > 0:  # keep blow-ups from squashing the curves: they leave through the top
            for pn in panels:
                pn.ylim = (None, top * 1e3)
        has_bound = any(sr.kind == "bound" for pn in panels for sr in pn.series)
        figures.append(FigureData(
            name=f"convergence_{slug(plabel)}",
            title=f"Convergence on {plabel}",
            caption=(f"{view.metric_label(p)} on {plabel} over steps: median (line) and "
                     f"interquartile range (band) over the {len(view.plan.seeds)} evaluation "
                     "seeds, each "
                     f"optimizer at its {tuned_text(view)}"
                     + ("; dotted lines in an optimizer's colour: the theory bounds that apply "
                        "to it (see the rate-check table)" if has_bound else "")
                     + "; x: the median run diverged there (curves leave through the top)"
                     + f"; values below {FLOOR:g} of the initial value are drawn at that floor"
                     + (", one panel per schedule" if len(panels) > 1 else "") + "."
                     + (" Not drawn: " + "; ".join(omitted) + "." if omitted else "")),
            panels=panels,
            legend=_legend(view, panels),
            legend_extra=[("theory bound", "bound")] if has_bound else [],
        ))
    return figures


STEP_TRACES = ("eff_step", "eff_step_p10", "eff_step_p90")  # median, 10th, 90th percentile


def lr_figure(view: RunView) -> FigureData | None:
    """Per schedule: the lr multiplier (lr / base lr) over steps, median and band over all
    trajectories with that schedule (the band shows loss-driven schedules' spread); where the
    run recorded the step channels (``STEP_TRACES``), on a log scale with each adaptive
    variant's effective per-coordinate step size over its base lr (``_step_size_series``)."""
    if "lr" not in view.results.recorded:
        return None
    x, keep, xscale = _xsteps(view)
    lr = an.censored_trace(view.results, "lr")[:, keep]
    base = np.array([view.lrs[o] for o in view.t_optimizer])
    adaptive = [v for v in view.variant_keys
                if view.plan.optimizers[view.variants.index(v)].adaptive]
    recorded = all(name in view.results.recorded for name in STEP_TRACES)
    log = recorded and bool(adaptive)
    with np.errstate(divide="ignore", invalid="ignore"):
        mult = lr / base[:, None]
        steps = [view.results.trace(name)[:, keep] / base[:, None] for name in STEP_TRACES] \
            if log else None
    panels = []
    for s, slabel in enumerate(view.schedule_labels):
        rows = np.flatnonzero((view.t_schedule == s) & (base > 0))
        if not len(rows):
            continue
        med, lo, hi = (_positive(q) if log else np.where(np.isfinite(q), q, np.nan)
                       for q in an.median_iqr(mult[rows], axis=0))
        series = _step_size_series(view, s, x, steps, adaptive) if log else []
        series.append(Series("lr / base lr", x, med, key=None, lo=lo, hi=hi))  # drawn on top
        panels.append(Panel(title=slabel, xlabel="step",
                            ylabel="step size / base lr" if log else "lr / base lr",
                            xscale=xscale, yscale="log" if log else "linear", series=series))
    caption = ("Learning-rate multiplier lr_k / lr_0 (applied lr over the optimizer's lr) over "
               "steps, one panel per schedule: median and interquartile range over all "
               "trajectories (the band is non-zero only for loss-driven schedules such as "
               "ReduceLROnPlateau)")
    if log:
        caption += ("; grey. In colour, the effective per-coordinate step size of step k, "
                    "eta_{k,i} = |x_{k+1,i} - x_{k,i}| / |g_{k,i}| (g_k: the gradient the "
                    "optimizer saw, after minibatch sampling and noise; coordinates with "
                    "g_{k,i} = 0 left out), over lr_0, of each adaptive optimizer variant at its "
                    f"{tuned_text(view)}: line, the median over coordinates; band, the 10th to "
                    "90th percentiles over coordinates (numpy's linear quantiles); each the "
                    "median over problems and seeds. SGD without momentum has eta = lr_k (the "
                    "grey line); Adam's first step has eta_{0,i} = lr_0 / (|g_{0,i}| + eps). "
                    "Curves fall, or stop, late in a run where many trajectories have converged: "
                    "a step below the round-off of x leaves x_{k+1,i} = x_{k,i} (eta = 0, off "
                    "the log axis), and where every g_{k,i} = 0 there is no value.")
    else:
        caption += (". The effective per-coordinate step size of the adaptive methods is not "
                    "shown: " + ("the run did not record " + ", ".join(STEP_TRACES)
                                 if not recorded else "the run has no adaptive optimizer")
                    + ".")
    return FigureData(
        name="lr_schedules",
        title="Learning rate and effective step size" if log else "Learning rate over steps",
        caption=caption, panels=panels, legend=_legend(view, panels),
        legend_extra=[("lr / base lr (every optimizer)", "line")] if log else [],
        ncols=min(len(panels), 2) if log else None, panel_height=2.6 if log else 2.3)


def _step_size_series(view: RunView, s: int, x, traces, variants) -> list[Series]:
    """Per variant on schedule s: the median, over the trials of its tuned configurations
    (every problem and seed), of each trial's ``traces`` (the step traces over base lr)."""
    series = []
    for v in variants:
        configs = [view.tuned(p, s).get(v) for p in range(len(view.problem_labels))]
        rows = [c.trials for c in configs if c is not None]
        if rows:
            rows = np.concatenate(rows)
            med, lo, hi = (_positive(an.median_iqr(t[rows], axis=0)[0]) for t in traces)
            series.append(Series(v, x, med, key=v, lo=lo, hi=hi))
    return series


def iterate_figures(view: RunView) -> list[FigureData]:
    """The iterate x_t of each one-dimensional problem over steps (median and interquartile
    band over the evaluation seeds, each variant at its tuned lr, one panel per schedule),
    with the minimizer x* as a neutral line: on Reddi et al.'s (2018) counterexample, Adam
    with betas (0, 1/(1 + C^2)) drifts to +1 while AMSGrad approaches x* = -1."""
    one_d = [p for p, prob in enumerate(view.plan.problems) if prob.dim == 1]
    if not one_d or "x" not in view.results.recorded:
        return []
    xs = np.asarray(view.results.trace("x"), dtype=float)[:, :, 0]
    figures = []
    for p in one_d:
        prob = view.plan.problems[p]
        panels = []
        for s, slabel in enumerate(view.schedule_labels):
            series = []
            for v, c in view.tuned(p, s).items():
                med, lo, hi = an.median_iqr(xs[c.trials], axis=0)
                series.append(Series(v, view.steps, med, key=v, lo=lo, hi=hi))
            for m in np.asarray(prob.minimizers, float).reshape(-1):
                series.append(Series("x*", view.steps, np.full(len(view.steps), m),
                                     kind="bound"))
            panels.append(Panel(title=slabel if len(view.schedule_labels) > 1 else "",
                                xlabel="step", ylabel="x_t", series=series,
                                xscale="log" if view.log_steps else "linear"))
        plabel = view.problem_labels[p]
        figures.append(FigureData(
            name=f"iterates_{slug(plabel)}", title=f"Iterates on {plabel}",
            caption=(f"Iterate x_t on {plabel}: median and interquartile band over the "
                     f"evaluation seeds, each optimizer variant at its {tuned_text(view)}; "
                     "dotted: the minimizer x*."),
            panels=panels, legend=_legend(view, panels), legend_extra=[("x*", "bound")]))
    return figures


def regret_figures(view: RunView, checks=()) -> list[FigureData]:
    """Average regret R_T/T (``analysis.reddi_average_regret``) on each online Reddi et al.
    (2018) counterexample whose iterates were recorded at every step: median and
    interquartile band over the evaluation seeds, each variant at its tuned lr, one panel
    per schedule (log steps; R_T/T clipped to [0, 4 (C - 2)/3]), with Theorem 1's limit
    2 (C - 2)/3 of a method stuck at x = +1 and 0 as neutral lines. The caption gives each
    variant's final x_T and R_T/T and the verdict of the Reddi theory ``checks``
    (``analysis.TheoryCheck``): the paper's result is reproduced when Adam ends at +1 and
    AMSGrad near x* = -1 (not reproduced when a check fails; checks whose run ended first,
    inconclusive, are named)."""
    steps = view.steps
    every_step = np.array_equal(steps, np.arange(len(steps)))
    online = [p for p, prob in enumerate(view.plan.problems)
              if type(prob).__name__ == "ReddiCounterexample" and not prob.stochastic]
    if not online or "x" not in view.results.recorded or not every_step:
        return []
    xs = np.asarray(view.results.trace("x"), dtype=float)[:, :-1, 0]  # x_0 .. x_{T-1}
    t = steps[1:].astype(float)
    figures = []
    for p in online:
        prob, plabel = view.plan.problems[p], view.problem_labels[p]
        limit = 2.0 * (prob.C - 2.0) / 3.0
        panels, ends = [], []
        for s, slabel in enumerate(view.schedule_labels):
            series = []
            for v, c in view.tuned(p, s).items():
                med, lo, hi = an.median_iqr(an.reddi_average_regret(xs[c.trials], prob.C), axis=0)
                series.append(Series(v, t, med, key=v, lo=lo, hi=hi))
                x_end = float(np.median(view.results.trace("x")[c.trials, -1, 0]))
                ends.append(f"{v}{'' if len(view.schedule_labels) == 1 else ' | ' + slabel}: "
                            f"x_T = {x_end:+.2f}, R_T/T = {med[-1]:.3f}")
            series += [Series("limit at x = +1", t, np.full(len(t), limit), kind="bound"),
                       Series("0", t, np.zeros(len(t)), kind="line")]
            panels.append(Panel(title=slabel if len(view.schedule_labels) > 1 else "",
                                xlabel="step T", ylabel="R_T / T", series=series,
                                xscale="log", ylim=(-0.05 * limit, 2.0 * limit)))
        verdict = _reddi_verdict([c for c in checks if c.problem == plabel])
        figures.append(FigureData(
            name=f"regret_{slug(plabel)}", title=f"Average regret on {plabel}",
            caption=(f"Average regret R_T/T on {plabel} (f_t(x) = {prob.C:g} x at steps "
                     "t = 1, 4, 7, ..., else -x, on [-1, 1]): median and interquartile band over "
                     f"the evaluation seeds, each optimizer variant at its {tuned_text(view)}; "
                     f"dotted: {limit:.3g} = 2 (C - 2)/3, the limit of a method that stays at "
                     "x = +1 (Reddi et al. 2018, Theorem 1), and 0. Final values: "
                     + "; ".join(ends) + f". Reddi et al. (2018) {verdict}."),
            panels=panels, legend=_legend(view, panels),
            legend_extra=[("limit at x = +1", "bound")]))
    return figures


def _reddi_verdict(rows) -> str:
    """The paper's verdict from the Reddi theory checks ``rows`` of one problem."""
    if not rows:
        return "no Reddi check applies (it needs Adam with betas (0, 1/(1+C^2)) and AMSGrad)"
    failed = [c for c in rows if c.status == "fail"]
    if failed:
        return "NOT reproduced: " + "; ".join(f"{c.optimizer} {c.schedule}: {c.check}: fail"
                                              for c in failed)
    short = "; ".join(f"{c.optimizer} {c.schedule}" for c in rows if c.status == "inconclusive")
    if not any(c.status == "pass" for c in rows):
        return f"inconclusive: every run ended first ({short})"
    return ("reproduced: Adam ends at +1 and AMSGrad near x* = -1 in every check"
            + (f" whose run was long enough (inconclusive: {short})" if short else ""))


def path_figures(view: RunView, grid: int = 120) -> tuple[list[FigureData], list[str]]:
    """Iterate paths on loss contours for the two-dimensional problems (seed of the first
    trial, each variant at its tuned lr, one panel per schedule)."""
    notes = []
    two_d = [p for p, prob in enumerate(view.plan.problems) if prob.dim == 2]
    if not two_d:
        return [], notes
    if "x" not in view.results.recorded:
        names = ", ".join(view.problem_labels[p] for p in two_d)
        notes.append(f"Iterate paths on contour plots of the two-dimensional problems ({names}) "
                     "are skipped: the run did not record the `x` trace (add \"x\" to record).")
        return [], notes
    xs = view.results.trace("x")
    figures = []
    for p in two_d:
        prob = view.plan.problems[p]
        seed = view.plan.seeds[0]
        paths = []  # (schedule, variant, setting label, path)
        for s in range(len(view.schedule_labels)):
            for v, c in view.tuned(p, s).items():
                t = c.trials[view.t_seed[c.trials] == seed][0]
                path = np.array(xs[t, :, :2], dtype=float)
                if view.diverged[t]:
                    path = path[view.steps < view.status_step[t]]
                path = path[np.all(np.isfinite(path), axis=1)]
                paths.append((s, v, view.setting_label(c.optimizer), path))
        pts = [pa for *_, pa in paths if len(pa)]
        mins = np.asarray(prob.minimizers, dtype=float).reshape(-1, 2)
        allpts = np.concatenate(pts + [mins]) if pts or len(mins) else np.zeros((1, 2))
        lo = np.percentile(allpts, 1, axis=0)
        hi = np.percentile(allpts, 99, axis=0)
        starts = np.array([pa[0] for pa in pts]) if pts else np.zeros((0, 2))
        box = np.concatenate([[lo, hi], starts, mins]) if len(starts) or len(mins) else np.array([lo, hi])
        lo, hi = box.min(axis=0), box.max(axis=0)
        span = np.maximum(hi - lo, 1e-3)
        lo, hi = lo - 0.12 * span, hi + 0.12 * span
        gx = np.linspace(lo[0], hi[0], grid)
        gy = np.linspace(lo[1], hi[1], grid)
        z = np.empty((grid, grid))
        for j, yv in enumerate(gy):
            for i, xv in enumerate(gx):
                z[j, i] = prob.loss(np.array([xv, yv]))
        f_low = prob.f_star if np.isfinite(prob.f_star) else np.nanmin(z)
        z = np.maximum(z - f_low, 0) + max(1e-12, 1e-9 * np.nanmax(np.abs(z - f_low)))
        contour = Contour(gx, gy, z, mins)
        panels = []
        for s, slabel in enumerate(view.schedule_labels):
            series = [Series(label, pa[:, 0], pa[:, 1], key=v, kind="path")
                      for ss, v, label, pa in paths if ss == s and len(pa)]
            panels.append(Panel(title=slabel if len(view.schedule_labels) > 1 else "",
                                xlabel="x1", ylabel="x2", series=series,
                                contour=Contour(gx, gy, z, mins),
                                xscale="linear", yscale="linear"))
        del contour
        plabel = view.problem_labels[p]
        figures.append(FigureData(
            name=f"paths_{slug(plabel)}", title=f"Iterate paths on {plabel}",
            caption=(f"Iterates x_k of each optimizer (best lr) from the start point of seed "
                     f"{seed} on {plabel}, over log-scaled contours of f(x) - f*; circle: start, "
                     "star: known minimizer(s)"
                     + (", one panel per schedule" if len(panels) > 1 else "") + "."),
            panels=panels, legend=_legend(view, panels), panel_height=2.6))
    return figures, notes


def profile_figures(view: RunView, tau: float = PROFILE_TAU,
                    taus=ECDF_TAUS) -> list[FigureData]:
    """Performance profile, data profile (tau fixed) and ECDF of evaluations to target (over
    taus), one panel per schedule: ``analysis.profile_costs`` (f_low = f* where known),
    ``performance_profile``, ``data_profile`` and ``runtime_fraction``.

    Solvers: optimizer variants at their tuned lr per problem (and schedule); instances:
    (problem, seed) pairs.
    """
    multi = len(view.schedule_labels) > 1
    pcs = {t: an.profile_costs(view.results, t, f_low="f_star") for t in set(taus) | {tau}}
    first = pcs[tau]
    instances = [(view.problem_labels.index(pl), seed) for pl, seed in first.problems]
    solver_col = {key: j for j, key in enumerate(first.solvers)}
    xscale = "log" if view.log_steps else "linear"
    # budgets in evaluations: each recorded step k costs k + 1
    budgets = np.unique(np.concatenate([view.steps, [max(view.plan.steps, 1)]]).astype(float)) + 1
    perf_panels, data_panels, ecdf_panels = [], [], []
    for s, slabel in enumerate(view.schedule_labels):
        keys = [v for v in view.variant_keys
                if any(v in view.tuned(p, s) for p in range(len(view.problem_labels)))]
        cols = np.full((len(instances), len(keys)), -1)
        for i, (p, _) in enumerate(instances):
            for j, v in enumerate(keys):
                c = view.tuned(p, s).get(v)
                if c is not None:
                    cols[i, j] = solver_col[(view.optimizer_labels[c.optimizer], slabel)]

        def costs(tau_):
            pc = pcs[tau_].costs
            rows = np.arange(len(instances))[:, None]
            return np.where(cols >= 0, pc[rows, np.maximum(cols, 0)], np.inf)

        cost = costs(tau)
        ratio = an.performance_ratios(cost)
        finite = ratio[np.isfinite(ratio)]
        rmax = max(float(finite.max()) if finite.size else 2.0, 2.0) * 1.5
        r_grid = np.unique(np.concatenate([np.logspace(0, np.log10(rmax), 200), finite]))
        rho = an.performance_profile(cost, r_grid)
        solved = an.data_profile(cost, None, budgets)
        runtimes = an.runtime_fraction(np.concatenate([costs(t) for t in taus]), budgets)
        title = slabel if multi else ""
        perf = Panel(title=title, xlabel="performance ratio r",
                     ylabel="fraction of problems", xscale="log", ylim=(0, 1.02))
        data = Panel(title=title, xlabel="evaluations (steps + 1)",
                     ylabel="fraction of problems solved", xscale=xscale, ylim=(0, 1.02))
        ecdf = Panel(title=title, xlabel="evaluations (steps + 1)",
                     ylabel="fraction of (problem, target) pairs", xscale=xscale, ylim=(0, 1.02))
        for j, v in enumerate(keys):
            perf.series.append(Series(v, r_grid, rho[:, j], key=v, kind="step"))
            data.series.append(Series(v, budgets, solved[:, j], key=v, kind="step"))
            ecdf.series.append(Series(v, budgets, runtimes[:, j], key=v, kind="step"))
        perf_panels.append(perf)
        data_panels.append(data)
        ecdf_panels.append(ecdf)
    n_inst = len(instances)
    tail = (" Solvers are optimizer variants at their " + tuned_text(view) + " per problem"
            + (" (one panel per schedule)" if multi else "") + f"; problems are the {n_inst} "
            "(problem, seed) pairs. A trajectory meets target tau when "
            "f(x_k) - f_low <= tau (f(x_0) - f_low), f_low = f* where known, else the lowest value "
            "of the run on that problem and seed (optbench.analysis.profile_costs); meeting it "
            "at recorded step k costs k + 1 evaluations (the start point is the first).")
    return [
        FigureData("performance_profile", "Performance profile",
                   f"Performance profile (Dolan & More 2002) for tau = {tau:g}: fraction of "
                   "problems a solver meets the target within r times the evaluations of the "
                   "fastest solver." + tail, perf_panels, legend=_legend(view, perf_panels)),
        FigureData("data_profile", "Data profile",
                   f"Data profile (More & Wild 2009) for tau = {tau:g}: fraction of problems "
                   "solved within a budget of evaluations." + tail, data_panels,
                   legend=_legend(view, data_panels)),
        FigureData("ecdf_steps_to_target", "ECDF of steps to target",
                   "Empirical cumulative distribution of evaluations to target (COCO-style "
                   f"runtime distribution) over the targets tau = {', '.join(f'{t:g}' for t in taus)} "
                   "and all problems." + tail, ecdf_panels, legend=_legend(view, ecdf_panels)),
    ]


def lr_sensitivity_figure(view: RunView, max_panels: int = 12) -> tuple[FigureData | None, list]:
    """Median final metric (with interquartile band) against lr, per optimizer variant
    (``analysis.lr_sensitivity``); one panel per problem (x schedule when several). Diverged
    medians are marked at the top."""
    notes = []
    panels = []
    curves = {(d["problem"], d["optimizer"], d["schedule"]): d
              for d in view._cached("sens", lambda: an.lr_sensitivity(view.results, an.AUTO))}
    pairs = [(p, s) for s in range(len(view.schedule_labels))
             for p in range(len(view.problem_labels))]
    if len(pairs) > max_panels:
        notes.append(f"lr sensitivity: only the first {max_panels} (problem, schedule) pairs "
                     "are drawn.")
        pairs = pairs[:max_panels]
    any_grid = False
    for p, s in pairs:
        floor = display_floor(view, p)
        series = []
        for v in view.variant_keys:
            d = curves.get((view.problem_labels[p], v, view.schedule_labels[s]))
            if d is None:
                continue
            lrs, med = d["lr"], d["median"]
            any_grid |= len(lrs) > 1
            series.append(Series(v, lrs, _positive(med, floor), key=v,
                                 lo=_positive(d["q25"], floor), hi=_positive(d["q75"], floor),
                                 marker="o"))
            div = np.isposinf(med)
            if div.any():
                series.append(Series(f"{v} diverged", lrs[div], np.full(div.sum(), np.inf), key=v,
                                     kind="points", marker="x"))
        title = view.problem_labels[p] + (f" / {view.schedule_labels[s]}"
                                          if len(view.schedule_labels) > 1 else "")
        panels.append(Panel(title=title, xlabel="lr", ylabel=f"final {view.metric_label(p)}",
                            xscale="log", yscale="log", series=series))
    if not any_grid:
        notes.append("lr sensitivity curves need more than one lr per optimizer; the run has one.")
    return FigureData(
        "lr_sensitivity", "Sensitivity to the learning rate",
        ("Final value against the learning rate: median (markers) and interquartile range "
         "(band) over seeds per optimizer variant (optbench.analysis.lr_sensitivity); x at the "
         "top: median run diverged; values "
         f"below {FLOOR:g} of the initial value are drawn at that floor."),
        panels, legend=_legend(view, panels)), notes


def rank_matrix_figure(view: RunView) -> FigureData:
    """Average rank of each (optimizer variant at its tuned lr, schedule) on each problem:
    within each evaluation seed the solvers are ranked by the rank key of
    ``analysis.scores`` (round-off ties share a rank; solved runs by steps to the floor;
    diverged last), then averaged over the seeds (Demsar 2006). Rows in order of the mean
    rank over problems; colour 1 (best) .. number of solvers."""
    from scipy.stats import rankdata

    sc = view.scores()
    solvers = [(v, s) for s in range(len(view.schedule_labels)) for v in view.variant_keys]
    rank = np.full((len(solvers), len(view.problem_labels)), np.nan)
    div = np.zeros(rank.shape, bool)
    for p in range(len(view.problem_labels)):
        cols = [(j, view.tuned(p, s).get(v)) for j, (v, s) in enumerate(solvers)]
        cols = [(j, c) for j, c in cols if c is not None]
        if len(cols) < 2:
            continue
        K = np.column_stack([sc.key[c.trials] for _, c in cols])
        R = np.array([rankdata(row) for row in K]).mean(axis=0)
        for (j, c), r in zip(cols, R):
            rank[j, p] = r
            div[j, p] = np.median(sc.key[c.trials]) == np.inf
    from ..analysis.findings import schedule_name

    keep = ~np.all(np.isnan(rank), axis=1)
    with np.errstate(all="ignore"):
        mean = np.array([np.nanmean(r) if k else np.inf for r, k in zip(rank, keep)])
    order = [j for j in np.argsort(mean, kind="stable") if keep[j]]
    sched = [schedule_name(x, view.plan.schedules) for x in view.plan.schedules] or ["constant"]
    labels = [f"{solvers[j][0]} | {sched[solvers[j][1]]}" for j in order]
    vals = rank[order].T  # problems x solvers
    text = [["div." if div[j, p] else ("" if np.isnan(rank[j, p]) else f"{rank[j, p]:.1f}")
             for j in order] for p in range(len(view.problem_labels))]
    panel = Panel(title="", heatmap=Heatmap(
        vals, list(view.problem_labels), labels, text,
        colorbar_label="average rank (1 = best)", vmin=1.0))
    return FigureData(
        "rank_matrix", "Rank matrix: optimizer x schedule per problem",
        ("Average rank of each optimizer variant (at its " + tuned_text(view) + ") and "
         "schedule on each problem: per evaluation seed, solvers ranked by the rank key "
         "(optbench.analysis.scores: log10 of the final gap above the round-off floor; runs "
         "at the floor tie on the gap and are ordered by steps to reach it; diverged runs "
         "last), averaged over seeds; 'div.': the median run diverged. Columns sorted by "
         "mean rank over problems (best first)."),
        [panel], ncols=1, width="two",
        panel_height=max(2.0, 0.17 * len(view.problem_labels) + 1.2))


def _legend(view: RunView, panels) -> list:
    seen = {}
    for pn in panels:
        for sr in pn.series:
            if sr.key is not None and sr.kind not in ("bound", "points") and sr.key not in seen:
                seen[sr.key] = sr.key
    return [(k, k) for k in view.variant_keys if k in seen]


def slug(text: str) -> str:
    out = []
    for ch in text:
        out.append(ch if ch.isalnum() else "_")
    s = "".join(out).strip("_")
    while "__" in s:
        s = s.replace("__", "_")
    return s or "x"
