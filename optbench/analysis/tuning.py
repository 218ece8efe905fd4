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

from ._common import AUTO, final_context, has_trace, table_from_rows, variant_label
from .scores import scores, uses_best_found
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
        labels[base_of[o]] = variant_label(opt, params)
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


def _lr_grids(results):
    """(group key, its (problem, family, schedule) labels, its sorted lrs, its candidates)
    for each (problem, optimizer family, schedule) of the run."""
    groups, labels = _groups(results, ("lr",))
    for key, cands in groups.items():
        yield key, _names(results, key, labels), sorted(c[0] for c in cands), cands


def _fmt(params, cand):
    return ", ".join(f"{p}={v!r}" for p, v in zip(params, cand))


def split_seeds(results, tuning_seeds=None, eval_seeds=None, held_out: bool = True) -> tuple:
    """(tuning seeds, evaluation seeds) of ``tune``, as sorted lists: by default the first
    quarter of the run's seeds (rounded up) tunes and the rest evaluates, so that the
    evaluation has most of the seeds (15 of 20 in the standard suite); ``held_out=False``
    tunes and evaluates on all seeds (in-sample, for runs with a single seed)."""
    seeds = sorted(set(int(s) for s in results.trials["seed"]))
    if not held_out:
        return seeds, seeds
    if tuning_seeds is None and eval_seeds is None:
        if len(seeds) < 2:
            raise ValueError("tune: needs at least 2 seeds (tuning and evaluation seeds "
                             "must differ)")
        n_tune = -(-len(seeds) // 4)
        tuning_seeds, eval_seeds = seeds[:n_tune], seeds[n_tune:]
    tuning_seeds = set(int(s) for s in tuning_seeds)
    eval_seeds = set(int(s) for s in (eval_seeds if eval_seeds is not None
                                      else [s for s in seeds if s not in tuning_seeds]))
    if tuning_seeds & eval_seeds:
        raise ValueError("tune: tuning and evaluation seeds overlap: "
                         f"{sorted(tuning_seeds & eval_seeds)}")
    if not eval_seeds:
        raise ValueError("tune: no evaluation seeds")
    return sorted(tuning_seeds), sorted(eval_seeds)


def grid_edge(values, chosen) -> str:
    """"low" or "high" when ``chosen`` is the smallest or largest of a grid of two or more
    numeric ``values`` (the optimum may lie outside the grid), else ""."""
    nums = sorted(set(v for v in values if isinstance(v, (int, float))
                      and not isinstance(v, bool)))
    if len(nums) < 2 or not isinstance(chosen, (int, float)) or isinstance(chosen, bool):
        return ""
    return "low" if chosen == nums[0] else "high" if chosen == nums[-1] else ""


def tune(results, tuning_seeds=None, eval_seeds=None, metric: str | None = None,
         params=("lr",), held_out: bool = True):
    """Tuned against default settings, per (problem, optimizer family, schedule).

    For each group, every candidate value of ``params`` is scored by the median over
    ``tuning_seeds`` of a per-run score: with ``metric`` None or "auto", the rank key of
    :mod:`optbench.analysis.scores` (f - f_ref on a log scale above the round-off floor,
    steps to the floor below it, inf when diverged: runs that differ by round-off tie and
    the faster one wins), else the final ``metric`` (diverged = inf). The best candidate
    (lowest score, ties broken by the candidate's text) is reported by its median and IQR
    over ``eval_seeds``, disjoint from the tuning seeds (default: the first quarter of the
    seeds tunes, the rest evaluates; ``held_out=False``: all seeds do both, in-sample).
    The default candidate is the one equal to the optimizer class's defaults (torch's),
    when the grid has it. ``edge`` says "low"/"high" when the best candidate sits on the
    grid's edge (widen the grid), ``all_diverged`` when every candidate diverged on every
    tuning seed (no lr works: the "tuned" setting is not a result), and ``budget`` is the
    number of tuning trajectories spent (candidates x tuning seeds). Returns a ``DataFrame``;
    ``tuned_optimizer`` and ``default_optimizer`` are the plan labels of the chosen and the
    default settings.
    """
    params = tuple(params)
    tuning_seeds, eval_seeds = split_seeds(results, tuning_seeds, eval_seeds, held_out)
    by_key = metric in (None, AUTO)
    metric, fv, names, status = final_context(results, AUTO if by_key else metric)
    rank = fv
    if by_key:  # tune on the rank key, report the gap (0 at or below the round-off floor)
        sc = scores(results)
        rank, fv = sc.key, sc.gap
        names = ["suboptimality" if not uses_best_found(p) else "gap to best found"
                 for p in results.plan.problems]
    seed_col = np.asarray(results.trials["seed"])
    in_tuning, in_eval = np.isin(seed_col, tuning_seeds), np.isin(seed_col, eval_seeds)
    groups, labels = _groups(results, params)
    plan = results.plan
    rows = []
    for key, cands in groups.items():
        problem, base, sched = _names(results, key, labels)
        first = plan.trials[next(iter(cands.values()))[0]]
        defaults = type(plan.optimizers[first.optimizer]).defaults()
        default_cand = tuple(_hashable(defaults.get(p)) for p in params)
        score = {}
        for cand, idx in cands.items():
            tune_idx = [i for i in idx if in_tuning[i]]
            score[cand] = float(median_iqr(rank[tune_idx])[0]) if tune_idx else np.inf
        best = min(score, key=lambda c: (score[c], str(c)))
        tuned_idx = [i for idx in cands.values() for i in idx if in_tuning[i]]
        all_div = bool(tuned_idx) and bool(np.all(status[tuned_idx] == "diverged"))
        edge = ",".join(e for e in (grid_edge([c[j] for c in cands], best[j])
                                    for j in range(len(params))) if e)

        def evaluate(cand):
            ev = [i for i in cands[cand] if in_eval[i]]
            return median_iqr(fv[ev]) if ev else (np.nan, np.nan, np.nan)

        def label(cand):
            return plan.optimizers[plan.trials[cands[cand][0]].optimizer].label()

        bm, b25, b75 = evaluate(best)
        row = {"problem": problem, "optimizer": base, "schedule": sched,
               "metric": names[key[0]], "candidates": len(cands), "tuned": _fmt(params, best),
               "tuning_score": score[best], "eval_median": float(bm), "eval_q25": float(b25),
               "eval_q75": float(b75), "default": "", "default_eval_median": np.nan,
               "default_eval_q25": np.nan, "default_eval_q75": np.nan,
               "tuned_optimizer": label(best), "default_optimizer": "",
               "edge": edge, "all_diverged": all_div, "budget": len(tuned_idx)}
        for p, v in zip(params, best):
            row[f"best_{p}"] = v if isinstance(v, (int, float)) else str(v)
        if default_cand in cands:
            dm, d25, d75 = evaluate(default_cand)
            row.update({"default": _fmt(params, default_cand), "default_eval_median": float(dm),
                        "default_eval_q25": float(d25), "default_eval_q75": float(d75),
                        "default_optimizer": label(default_cand)})
        rows.append(row)
    return table_from_rows(rows)


def lr_sensitivity(results, metric: str | None = None) -> list[dict]:
    """Data of lr-sensitivity curves: for each (problem, optimizer family with its other
    settings, schedule) with lr candidates, the sorted ``lr`` array and the ``median``,
    ``q25``, ``q75`` over seeds of the final ``metric`` (diverged = inf) and the
    ``diverged`` fraction at each lr. Returns a list of dicts (problem, optimizer,
    schedule, metric, lr, median, q25, q75, diverged)."""
    metric, fv, names, status = final_context(results, metric)
    out = []
    for key, (problem, base, sched), lrs, cands in _lr_grids(results):
        med, q25, q75, div = [], [], [], []
        for lr in lrs:
            idx = cands[(lr,)]
            m, a, b = median_iqr(fv[idx])
            med.append(float(m))
            q25.append(float(a))
            q75.append(float(b))
            div.append(float(np.mean(status[idx] == "diverged")))
        out.append({"problem": problem, "optimizer": base, "schedule": sched,
                    "metric": names[key[0]],
                    "lr": np.array(lrs, float), "median": np.array(med), "q25": np.array(q25),
                    "q75": np.array(q75), "diverged": np.array(div)})
    return out


def stability_map(results):
    """Largest stable lr per (problem, optimizer family, schedule) against 2/L.

    An lr is stable when no seed diverged and every seed ends with f(x_T) <= f(x_0) (when the
    loss was recorded). Reported: the largest stable lr of the grid, the smallest unstable
    one above it (inf if none), 2/L where the problem knows L (gradient descent on an
    L-smooth function is stable for lr < 2/L; Nesterov 2004, sec. 1.2.3) and the ratio
    largest_stable / (2/L). Returns a ``DataFrame``.
    """
    status = np.asarray(results.trials["status"])
    loss = results.trace("loss") if has_trace(results, "loss") else None
    rows = []
    for key, (problem, base, sched), lrs, cands in _lr_grids(results):
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


__all__ = ["split_seeds", "grid_edge", "tune", "lr_sensitivity", "stability_map"]
