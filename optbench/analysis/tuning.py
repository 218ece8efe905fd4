"""Tuning protocol, learning-rate sensitivity and stability maps over an lr grid.

A run whose optimizers differ only in the lr (or in other listed hyper-parameters) forms, for
each (problem, optimizer family with its other settings, schedule), a grid of candidates.
``tune`` picks the best candidate on tuning seeds and reports it on separate evaluation
seeds (so the reported number is not the maximum of noisy estimates), next to the default
setting when the grid contains it. ``extension_stage`` widens a grid whose best lr sits on
its edge (the run's ``extend_lr_grid``), ``lr_extension`` says what the widening did.
"""
from __future__ import annotations

import json

import numpy as np

from ._common import (AUTO, final_context, has_trace, select_seeds, table_from_rows,
                      variant_label)
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


def edge_groups(results) -> list[tuple]:
    """Per lr group, judged on the tuning seeds alone (``split_seeds``' default, the same
    split as ``tune`` and the findings): (group key, labels, ``tune``'s row, the grid's
    sorted lrs, the extension's lrs below and above them, whether the top added lr
    diverged on every tuning seed, the index of a grid optimizer of the group). What
    ``extension_stage`` and ``lr_extension`` read: a run computes it once per stage."""
    return list(_edge_groups(results))


def _edge_groups(results):
    plan = results.plan
    sub = select_seeds(results, split_seeds(results)[0])
    groups, labels = _groups(sub, ("lr",))
    rows = tune(sub, held_out=False).to_dict("records")  # rows in the order of the groups
    status = np.asarray(sub.trials["status"])
    for (key, cands), row in zip(groups.items(), rows):
        assert _names(sub, key, labels) == (row["problem"], row["optimizer"], row["schedule"])
        optimizer_of = {c[0]: sub.plan.trials[idx[0]].optimizer for c, idx in cands.items()}
        grid = sorted(lr for lr, o in optimizer_of.items() if o < plan.n_grid_optimizers)
        added = sorted(lr for lr, o in optimizer_of.items() if o >= plan.n_grid_optimizers)
        low = [lr for lr in added if lr < grid[0]]
        high = [lr for lr in added if lr > grid[-1]]
        top_diverged = bool(high) and bool(np.all(status[cands[(high[-1],)]] == "diverged"))
        yield (key, _names(sub, key, labels), row, grid, low, high, top_diverged,
               optimizer_of[grid[0]])


def extension_stage(results, groups: list[tuple] | None = None) -> list[dict]:
    """The next stage of the automatic lr-grid extension (the run's ``extend_lr_grid`` = B):
    for each (problem, optimizer family with its other settings, schedule) group whose best
    lr on the *tuning* seeds (``tune`` on them alone, so the evaluation seeds never steer the
    grid) is the grid's top or bottom point, one more lr beyond that edge at the grid's own
    log spacing, lr_j = lr_edge * r^(+-j) for the j-th added point (j <= B), r = (lr_max /
    lr_min)^(1/(n-1)) the mean ratio of the grid's n points.
    A side stops when the best leaves its edge, after B points, or (top side) when its last
    added lr diverged on every tuning seed (the edge is then real: the stability limit).
    Groups where every lr diverged are left alone (the tuned lr is no result there).
    Protocol: a grid whose optimum lies on its boundary under-reports the optimizer (Choi et
    al. 2019, "On empirical comparisons of optimizers for deep learning"; DeepOBS and
    AlgoPerf tune on held-out runs). Returns points {"problem", "schedule", "optimizer" (a
    grid optimizer's index), "lr"} in group order; [] when no group needs one. ``groups``:
    ``edge_groups(results)`` when already computed."""
    plan = results.plan
    points = []
    for key, _, row, grid, low, high, top_diverged, o in (
            edge_groups(results) if groups is None else groups):
        side = row["edge"]
        if row["all_diverged"] or side not in ("low", "high") or len(grid) < 2:
            continue
        done = high if side == "high" else low
        if len(done) >= plan.extend_lr_grid or (side == "high" and top_diverged):
            continue
        step = (grid[-1] / grid[0]) ** (1.0 / (len(grid) - 1))  # the grid's mean log spacing
        edge, step = (grid[-1], step) if side == "high" else (grid[0], 1.0 / step)
        lr = float(f"{edge * step ** (len(done) + 1):.12g}")
        try:  # an lr the optimizer or schedule refuses ends that side
            spec = plan.optimizers[o].replace(lr=lr)
            if key[2] >= 0:
                plan.schedules[key[2]].check(spec, plan.steps)
        except ValueError:
            continue
        points.append({"problem": int(key[0]), "schedule": int(key[2]), "optimizer": int(o),
                       "lr": lr})
    return points


def lr_extension(results, groups: list[tuple] | None = None) -> dict | None:
    """What the automatic lr-grid extension did (None when the run had it off): ``bound``
    (points per side and group), ``stages``, ``trajectories`` (added, on all seeds: the
    extension's cost), ``extended`` (groups given points), ``on_edge``
    (of those, the ones whose tuned lr is still on an edge: the bound was reached or the
    optimizer refused the next lr), and per extended group its labels, the ``grid`` span,
    the ``added`` lrs, the tuned ``best_lr`` and why it ``stopped``: "interior" (the best
    moved inside), "diverged" (the added top lr diverged on every tuning seed) or "edge"
    (still on an edge). ``groups``: ``edge_groups(results)`` when already computed."""
    plan = results.plan
    if not plan.extend_lr_grid:
        return None
    extended = []
    for _, (problem, optimizer, schedule), row, grid, low, high, top_diverged, _o in (
            edge_groups(results) if groups is None else groups):
        if not (low or high):
            continue
        stopped = ("edge" if row["edge"] else "diverged" if top_diverged and not low
                   else "interior")
        extended.append({"problem": problem, "optimizer": optimizer, "schedule": schedule,
                         "grid": [grid[0], grid[-1]], "added": low + high,
                         "best_lr": row["best_lr"], "edge": row["edge"], "stopped": stopped})
    return {"bound": plan.extend_lr_grid, "stages": len(plan.extension),
            "trajectories": plan.n_trials - plan.stage_starts[1], "extended": len(extended),
            "on_edge": sum(g["stopped"] == "edge" for g in extended), "groups": extended}


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


__all__ = ["split_seeds", "grid_edge", "tune", "extension_stage", "lr_extension",
           "lr_sensitivity", "stability_map"]
