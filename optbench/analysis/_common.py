"""Shared helpers of the analysis: configurations (groups of seeds), metric traces, JSON."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from ..plan import Trials

#: metrics that are >= 0 and go to 0 at a solution (rates and targets use these)
ERROR_METRICS = ("suboptimality", "dist_to_opt", "grad_norm")
#: metric name meaning "per problem: suboptimality where its f* is known, else loss"
AUTO = "auto"


@dataclass(frozen=True)
class Config:
    """One configuration (problem, optimizer, schedule): its plan indices, its labels and
    the trials (rows of ``results.trials``) that ran it, one per seed."""

    problem: int
    optimizer: int
    schedule: int  # -1: constant lr
    problem_label: str
    optimizer_label: str
    schedule_label: str
    trials: tuple

    @property
    def key(self) -> tuple:
        return (self.problem_label, self.optimizer_label, self.schedule_label)

    @property
    def name(self) -> str:
        return " | ".join(self.key)


def configs(results) -> list[Config]:
    """The run's configurations in plan order, each with the trial indices of its seeds."""
    plan = results.plan
    order: dict = {}
    for index, t in enumerate(plan.trials):
        order.setdefault((t.problem, t.optimizer, t.schedule), []).append(index)
    out = []
    for (p, o, s), rows in order.items():
        out.append(Config(p, o, s, plan.problems[p].label(), plan.optimizers[o].label(),
                          plan.schedules[s].label() if s >= 0 else "constant", tuple(rows)))
    return out


def problem_of(results, trial: int):
    return results.plan.problems[results.plan.trials[trial].problem]


def has_trace(results, name: str) -> bool:
    return name in results.arrays and name in results.plan.record


def problem_metric(results, problem: int) -> str:
    """The natural metric of plan problem ``problem``: suboptimality (f - f*) where its f* is
    known and the loss or the suboptimality was recorded, else loss."""
    known = np.isfinite(results.plan.problems[problem].f_star)
    if known and (has_trace(results, "suboptimality") or has_trace(results, "loss")):
        return "suboptimality"
    return "loss"


def _per_problem(results, fn) -> np.ndarray:
    """Rows of ``fn(metric)`` for each problem's ``problem_metric`` (metric ``"auto"``)."""
    t_problem = np.array([t.problem for t in results.plan.trials])
    out = None
    cache: dict = {}
    for p in range(len(results.plan.problems)):
        rows = t_problem == p
        if not rows.any():
            continue
        m = problem_metric(results, p)
        if m not in cache:
            cache[m] = fn(m)
        if out is None:
            out = np.full(cache[m].shape, np.nan)
        out[rows] = cache[m][rows]
    return out


def metric_trace(results, metric: str) -> np.ndarray:
    """Trace ``metric`` (n_trials x n_recorded). ``suboptimality`` falls back to loss - f*
    where the loss was recorded and f* is known; ``dist_to_opt`` and ``grad_norm`` must have
    been recorded; ``"auto"``: each problem's ``problem_metric``. Unknown values are NaN."""
    if metric == AUTO:
        return _per_problem(results, lambda m: metric_trace(results, m))
    if has_trace(results, metric):
        return np.asarray(results.trace(metric), dtype=np.float64)
    if metric == "suboptimality" and has_trace(results, "loss"):
        fstar = np.array([problem_of(results, i).f_star for i in range(len(results))])
        return np.asarray(results.trace("loss"), dtype=np.float64) - fstar[:, None]
    raise KeyError(f"metric {metric!r} was not recorded; recorded: {', '.join(results.recorded)}")


def censored_trace(results, metric: str) -> np.ndarray:
    """``metric_trace`` with each diverged trajectory set to +inf from its divergence step
    on (a failure counts as worse than any value)."""
    v = metric_trace(results, metric).copy()
    div = np.asarray(results.trials["status"]) == "diverged"
    if np.any(div):
        step_of_div = np.asarray(results.trials["status_step"], dtype=np.float64)
        after = np.asarray(results.steps)[None, :] >= step_of_div[:, None]
        v[div[:, None] & (after | ~np.isfinite(v))] = np.inf
    return v


def metric_names(results, metric: str) -> list:
    """The metric of each plan problem: ``metric``, or each ``problem_metric`` for "auto"."""
    return [problem_metric(results, p) if metric == AUTO else metric
            for p in range(len(results.plan.problems))]


def variant_label(optimizer, params=("lr",)) -> str:
    """An optimizer spec without the hyper-parameters ``params``, showing only its settings
    that differ from the class defaults: ``Adam(amsgrad=True)``, ``SGD(momentum=0.9)``."""
    defaults = type(optimizer).defaults()
    shown = [f"{k}={v!r}" for k, v in optimizer.params().items()
             if k not in params and (k not in defaults or json.dumps(v, default=str)
                                     != json.dumps(defaults[k], default=str))]
    name = type(optimizer).__name__
    return f"{name}({', '.join(shown)})" if shown else name


def default_metric(results) -> str:
    """suboptimality where f* is known for every problem, else loss."""
    known = all(np.isfinite(p.f_star) for p in results.plan.problems)
    if known and (has_trace(results, "suboptimality") or has_trace(results, "loss")):
        return "suboptimality"
    if has_trace(results, "loss"):
        return "loss"
    for name in ("dist_to_opt", "grad_norm"):
        if has_trace(results, name):
            return name
    raise KeyError("no loss-like trace was recorded (loss, suboptimality, dist_to_opt, grad_norm)")


def final_values(results, metric: str) -> np.ndarray:
    """Final value of ``metric`` per trajectory from the trials table (inf when diverged;
    ``"auto"``: each problem's ``problem_metric``)."""
    if metric == AUTO:
        return _per_problem(results, lambda m: final_values(results, m))
    tr = results.trials
    col = f"final_{metric}"
    if col in tr:
        v = np.asarray(tr[col], dtype=np.float64).copy()
    else:
        v = metric_trace(results, metric)[:, -1].copy()
    if metric == "suboptimality" and np.all(np.isnan(v)) and "final_loss" in tr:
        fstar = np.array([problem_of(results, i).f_star for i in range(len(results))])
        v = np.asarray(tr["final_loss"], dtype=np.float64) - fstar
    v[np.asarray(tr["status"]) == "diverged"] = np.inf
    return v


def final_context(results, metric: str | None) -> tuple:
    """(metric, final values, metric name per problem, status per trial) of a run: what the
    analyses of final values start from (metric None: ``default_metric``)."""
    metric = metric or default_metric(results)
    return (metric, final_values(results, metric), metric_names(results, metric),
            np.asarray(results.trials["status"]))


def stochastic_flags(results) -> np.ndarray:
    return np.array([problem_of(results, i).is_stochastic for i in range(len(results))])


def jsonable(obj):
    """numpy / dataclass / tuple structures -> JSON-safe Python (NaN -> None, inf -> "inf")."""
    if hasattr(obj, "__dataclass_fields__"):
        return {k: jsonable(getattr(obj, k)) for k in obj.__dataclass_fields__}
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
    return obj


def table_from_rows(rows: list[dict]):
    """A ``pandas.DataFrame`` from a list of dicts (missing entries: NaN / empty string)."""
    import pandas as pd

    names: list = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        present = [v for v in values if v is not None]
        numeric = all(isinstance(v, (int, float, np.integer, np.floating))
                      and not isinstance(v, (bool, np.bool_)) for v in present)
        if numeric and present:
            columns[name] = np.array([np.nan if v is None else float(v) for v in values])
        else:
            columns[name] = np.array(["" if v is None else v for v in values], dtype=object)
    return pd.DataFrame(columns)


def select_seeds(results, seeds):
    """The same run restricted to the trials of ``seeds`` (a new ``Results`` sharing specs;
    grid order kept). What every held-out analysis reads, so that no tuning seed leaks into
    an evaluation."""
    import copy

    from ..results import Results

    keep = sorted(set(int(s) for s in seeds))
    plan = results.plan
    missing = [s for s in keep if s not in plan.seeds]
    if missing:
        raise ValueError(f"select_seeds: seeds {missing} are not in the run (seeds "
                         f"{plan.seeds})")
    mask = np.isin(plan.trial_ids[:, 3], keep)
    if mask.all():
        return results
    sub = copy.copy(plan)
    sub.seeds = [s for s in plan.seeds if s in keep]
    sub.trial_ids = plan.trial_ids[mask]
    sub.trials = Trials(sub.trial_ids)
    if plan.x0 is not None and np.ndim(plan.x0) == 2:
        sub.x0 = plan.x0[mask]
    n = plan.n_trials
    arrays = {k: (v[mask] if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n
                  else v) for k, v in results.arrays.items()}
    return Results(sub, arrays, results.manifest, results.path)
