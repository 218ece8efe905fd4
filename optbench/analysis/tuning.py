"""Tuning protocol, learning-rate sensitivity and stability maps over an lr grid.

A run whose optimizers differ only in the lr (or in other listed hyper-parameters) forms, for
each (problem, optimizer family with its other settings, schedule), a grid of candidates.
``tune`` picks the best candidate on tuning seeds and reports it on separate evaluation
seeds (so the reported number is not the maximum of noisy estimates), next to the default
setting when the grid contains it.
"""
from __future__ import annotations

import json

import numpy as np

from ._common import default_metric, final_values, has_trace, table_from_rows
from .stats import median_iqr


def _hashable(v):
    return tuple(_hashable(e) for e in v) if isinstance(v, (list, tuple)) else v


def _groups(results, params):
    """{(problem, base optimizer key, schedule): {candidate tuple: [trial indices]}} and the
    base labels."""
    plan = results.plan
    base_of, cand_of, labels = {}, {}, {}
    for o, opt in enumerate(plan.optimizers):
        d = opt.to_dict()
        for p in params:
            if p not in d:
                raise ValueError(f"tune: {type(opt).__name__} has no hyper-parameter {p!r}")
        cand_of[o] = tuple(_hashable(d.pop(p)) for p in params)
        base_of[o] = json.dumps(d, sort_keys=True)
        shown = {k: v for k, v in opt.params().items() if k not in params
                 and json.dumps(v, default=str)
                 != json.dumps(type(opt).defaults().get(k), default=str)}
        labels[base_of[o]] = (f"{type(opt).__name__}("
                              + ", ".join([f"{p}=*" for p in params]
                                          + [f"{k}={v!r}" for k, v in shown.items()]) + ")")
    groups: dict = {}
    for i, t in enumerate(plan.trials):
        key = (t.problem, base_of[t.optimizer], t.schedule)
        groups.setdefault(key, {}).setdefault(cand_of[t.optimizer], []).append(i)
    return groups, labels


def _names(results, key, labels):
    plan = results.plan
    p, base, s = key
    return (plan.problems[p].label(), labels[base],
            plan.schedules[s].label() if s >= 0 else "constant")


def _fmt(params, cand):
    return ", ".join(f"{p}={v!r}" for p, v in zip(params, cand))


def tune(results, tuning_seeds=None, eval_seeds=None, metric: str | None = None,
         params=("lr",)):
    """Tuned against default settings, per (problem, optimizer family, schedule).

    For each group, every candidate value of ``params`` is scored by the median over
    ``tuning_seeds`` of the final ``metric`` (diverged = inf; default metric suboptimality
    where f* is known, else loss); the best candidate is then reported by its median and IQR
    over ``eval_seeds``, which must be disjoint from the tuning seeds (default: the first
    half of the run's seeds tunes, the second half evaluates). The default candidate is the
    one equal to the optimizer class's defaults (torch's), when the grid has it. Returns a
    ``Table``.
    """
    metric = metric or default_metric(results)
    params = tuple(params)
    seeds = sorted(set(int(s) for s in results.trials["seed"]))
    if tuning_seeds is None and eval_seeds is None:
        if len(seeds) < 2:
            raise ValueError("tune: needs at least 2 seeds (tuning and evaluation seeds "
                             "must differ)")
        half = len(seeds) // 2
        tuning_seeds, eval_seeds = seeds[:half], seeds[half:]
    tuning_seeds = set(int(s) for s in tuning_seeds)
    eval_seeds = set(int(s) for s in (eval_seeds if eval_seeds is not None
                                      else [s for s in seeds if s not in tuning_seeds]))
    if tuning_seeds & eval_seeds:
        raise ValueError("tune: tuning and evaluation seeds overlap: "
                         f"{sorted(tuning_seeds & eval_seeds)}")
    if not eval_seeds:
        raise ValueError("tune: no evaluation seeds")
    fv = final_values(results, metric)
    seed_col = np.asarray(results.trials["seed"])
    groups, labels = _groups(results, params)
    rows = []
    for key, cands in groups.items():
        problem, base, sched = _names(results, key, labels)
        first = results.plan.trials[next(iter(cands.values()))[0]]
        opt_cls = type(results.plan.optimizers[first.optimizer])
        defaults = opt_cls.defaults()
        default_cand = tuple(_hashable(defaults.get(p)) for p in params)
        scores = {}
        for cand, idx in cands.items():
            tune_idx = [i for i in idx if seed_col[i] in tuning_seeds]
            scores[cand] = float(median_iqr(fv[tune_idx])[0]) if tune_idx else np.inf
        best = min(scores, key=lambda c: (scores[c], str(c)))

        def evaluate(cand):
            ev = [i for i in cands[cand] if seed_col[i] in eval_seeds]
            return median_iqr(fv[ev]) if ev else (np.nan, np.nan, np.nan)

        bm, b25, b75 = evaluate(best)
        row = {"problem": problem, "optimizer": base, "schedule": sched, "metric": metric,
               "candidates": len(cands), "tuned": _fmt(params, best),
               "tuning_score": scores[best], "eval_median": float(bm), "eval_q25": float(b25),
               "eval_q75": float(b75), "default": "", "default_eval_median": np.nan,
               "default_eval_q25": np.nan, "default_eval_q75": np.nan}
        for p, v in zip(params, best):
            row[f"best_{p}"] = v if isinstance(v, (int, float)) else str(v)
        if default_cand in cands:
            dm, d25, d75 = evaluate(default_cand)
            row.update({"default": _fmt(params, default_cand), "default_eval_median": float(dm),
                        "default_eval_q25": float(d25), "default_eval_q75": float(d75)})
        rows.append(row)
    return table_from_rows(rows)


def lr_sensitivity(results, metric: str | None = None) -> list[dict]:
    """Data of lr-sensitivity curves: for each (problem, optimizer family with its other
    settings, schedule) with lr candidates, the sorted ``lr`` array and the ``median``,
    ``q25``, ``q75`` over seeds of the final ``metric`` (diverged = inf) and the
    ``diverged`` fraction at each lr. Returns a list of dicts (problem, optimizer,
    schedule, metric, lr, median, q25, q75, diverged)."""
    metric = metric or default_metric(results)
    fv = final_values(results, metric)
    status = np.asarray(results.trials["status"])
    groups, labels = _groups(results, ("lr",))
    out = []
    for key, cands in groups.items():
        problem, base, sched = _names(results, key, labels)
        lrs = sorted(c[0] for c in cands)
        med, q25, q75, div = [], [], [], []
        for lr in lrs:
            idx = cands[(lr,)]
            m, a, b = median_iqr(fv[idx])
            med.append(float(m))
            q25.append(float(a))
            q75.append(float(b))
            div.append(float(np.mean(status[idx] == "diverged")))
        out.append({"problem": problem, "optimizer": base, "schedule": sched, "metric": metric,
                    "lr": np.array(lrs, float), "median": np.array(med), "q25": np.array(q25),
                    "q75": np.array(q75), "diverged": np.array(div)})
    return out


def stability_map(results):
    """Largest stable lr per (problem, optimizer family, schedule) against 2/L.

    An lr is stable when no seed diverged and every seed ends with f(x_T) <= f(x_0) (when the
    loss was recorded). Reported: the largest stable lr of the grid, the smallest unstable
    one above it (inf if none), 2/L where the problem knows L (gradient descent on an
    L-smooth function is stable for lr < 2/L; Nesterov 2004, sec. 1.2.3) and the ratio
    largest_stable / (2/L). Returns a ``Table``.
    """
    status = np.asarray(results.trials["status"])
    loss = results.trace("loss") if has_trace(results, "loss") else None
    groups, labels = _groups(results, ("lr",))
    rows = []
    for key, cands in groups.items():
        problem, base, sched = _names(results, key, labels)
        lrs = sorted(c[0] for c in cands)
        stable = []
        for lr in lrs:
            idx = cands[(lr,)]
            ok = not np.any(status[idx] == "diverged")
            if ok and loss is not None:
                with np.errstate(invalid="ignore"):
                    ok = bool(np.all(loss[idx, -1] <= loss[idx, 0]))
            stable.append(ok)
        stable_lrs = [lr for lr, ok in zip(lrs, stable) if ok]
        largest = max(stable_lrs) if stable_lrs else np.nan
        above = [lr for lr, ok in zip(lrs, stable) if not ok and (not stable_lrs or lr > largest)]
        L = results.plan.problems[key[0]].L
        two_over_L = 2.0 / L if L else np.nan
        rows.append({"problem": problem, "optimizer": base, "schedule": sched,
                     "n_lr": len(lrs), "largest_stable_lr": float(largest),
                     "smallest_unstable_lr": float(min(above)) if above else np.inf,
                     "two_over_L": float(two_over_L),
                     "ratio_to_2_over_L": float(largest / two_over_L) if L else np.nan})
    return table_from_rows(rows)


__all__ = ["tune", "lr_sensitivity", "stability_map"]
