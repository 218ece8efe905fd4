"""Findings: the answer to "which optimizer and schedule should I use on this kind of
problem?", from held-out seeds, with tests that can reach a verdict.

Protocol (``findings(results)``):

1. Tuning: ``tune`` picks each optimizer variant's lr per (problem, schedule) on the tuning
   seeds (``split_seeds``: the first quarter); everything below reads only the evaluation
   seeds (``select_seeds``).
2. Solvers are (variant at its tuned lr, schedule) pairs; each run is scored by the rank key
   of :mod:`.scores` (round-off ties, steps to the floor among solved runs, diverged worst).
3. Per problem class (``optbench.problems.classes``): blocks are (problem, evaluation seed)
   pairs; the best solver has the lowest average rank over the class's blocks (Demsar 2006).
   It is compared with the runner-up and the baselines (Adam with torch's defaults, lr 1e-3
   and a constant lr; SGD with momentum 0.9 at its tuned lr) by two-sided Wilcoxon
   signed-rank tests on the paired keys (the seeds share start points), Holm-corrected within
   the class; effect size: matched-pairs rank-biserial r = (W+ - W-)/(W+ + W-) (Kerby 2014)
   with a percentile-bootstrap interval over blocks. A difference is called only when the
   Holm-adjusted p < alpha; "not distinguishable" only when the test could have reached alpha
   (2 m / 2^n < alpha for n non-zero differences and m tests), else "too few seeds"; "tied on
   every seed" when no difference is non-zero. The class's verdict is "best" only when the
   best is significantly better than the runner-up, else "inconclusive".
4. Speed-up over a baseline: median over blocks of (evaluations of the baseline to the target
   g_k <= tau g_0) / (those of the best), a run that never reaches it counting the whole
   budget T + 1 (so a speed-up against a failing baseline is a lower bound), with a bootstrap
   interval; "inconclusive" when the interval contains 1.
5. Across problems: the Friedman test on the solvers' median keys per problem, average ranks
   and the Nemenyi critical difference CD = q_alpha sqrt(k (k + 1) / (6 N)) (Demsar,
   Statistical comparisons of classifiers over multiple data sets, JMLR 7, 2006).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

from ..problems.classes import CLASSES, problem_class
from ._common import select_seeds, variant_label
from .scores import scores
from .stats import bootstrap_ci, compare_two, holm
from .tuning import split_seeds, tune

ALPHA = 0.05
N_BOOT = 2000
#: the named baselines: (label, variant, lr or None for the tuned lr, schedule label)
BASELINES = (("Adam defaults", "Adam", 1e-3, "constant"),
             ("SGD-momentum", "SGD(momentum=0.9)", None, "constant"))


@dataclass
class Comparison:
    """Best solver against another on one class's blocks."""

    against: str
    label: str  # "runner-up" or the baseline's name
    n: int  # blocks with a non-zero difference
    p: float
    p_holm: float
    effect: float  # rank-biserial r, > 0: the best is better
    effect_ci: tuple
    speedup: float  # median ratio of evaluations to target (other / best)
    speedup_ci: tuple
    censored: bool  # the other never reached the target on some block: a lower bound
    verdict: str


@dataclass
class ClassFinding:
    problem_class: str
    problems: list
    blocks: int
    best: str
    best_rank: float
    best_rank_ci: tuple
    median_rel_gap: float  # median over blocks of g_T / g_0 of the best solver
    median_rel_gap_ci: tuple
    success: float  # fraction of blocks where the best reached the target
    ranking: list  # (solver, average rank), best first
    comparisons: list = field(default_factory=list)
    verdict: str = ""


@dataclass
class Findings:
    classes: list
    solvers: list
    friedman_stat: float
    friedman_p: float
    average_ranks: np.ndarray
    cd: float
    n_problems: int
    nemenyi_p: np.ndarray  # (k, k) Nemenyi p-values (scikit-posthocs) or None
    tuning_seeds: list
    eval_seeds: list
    grid: dict  # variant -> sorted lr grid
    edge_warnings: list
    diverged_warnings: list
    budget: int
    tau: float
    alpha: float
    recorded_steps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    notes: list = field(default_factory=list)
    #: what the run's lr-grid extension did (``tuning.lr_extension``), None when it was off
    extension: dict | None = None


def rank_biserial(a, b) -> float:
    """Matched-pairs rank-biserial correlation of the differences b - a: (W+ - W-)/(W+ + W-)
    over the non-zero differences (ranks of |d|, ties averaged); +1: b always larger (a
    better when lower is better), 0 when all differences are zero. Kerby, Compr. Psychol. 3
    (2014)."""
    d = _finite_diff(a, b)
    if len(d) == 0:
        return 0.0
    r = sps.rankdata(np.abs(d))
    return float((r[d > 0].sum() - r[d < 0].sum()) / r.sum())


def _finite_diff(a, b):
    """Differences b - a with inf (a failure) as a value worse than every finite one."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    both = np.concatenate([a, b])
    fin = both[np.isfinite(both)]
    big = (np.abs(fin).max() * 10.0 + 1.0) if fin.size else 1.0
    a, b = np.where(np.isposinf(a), big, a), np.where(np.isposinf(b), big, b)
    d = b - a
    return d[d != 0]


def wilcoxon_p(a, b) -> tuple:
    """(non-zero pairs, two-sided p) of the Wilcoxon signed-rank test of paired a, b: what
    ``scipy.stats.wilcoxon(a, b)`` gives (``stats.compare_two``, whose exact tie-aware null
    distribution is enumerated in numpy instead of scipy's slow permutation loop); inf
    counts as worse than any finite value; p = 1 with no non-zero difference."""
    d = _finite_diff(a, b)
    if len(d) == 0:
        return 0, 1.0
    return len(d), float(compare_two(a, b, paired=True)[2])


def nemenyi_cd(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi critical difference of average ranks, k solvers over n blocks:
    q_alpha sqrt(k (k + 1) / (6 n)), q_alpha the studentized range quantile / sqrt(2)
    (Demsar 2006, sec. 3.2.2; k = 4, alpha = 0.05: q = 2.569)."""
    if k < 2 or n < 1:
        return math.nan
    q = sps.studentized_range.ppf(1.0 - alpha, k, np.inf) / math.sqrt(2.0)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n)))


def _rank_rows(m):
    """Ranks 1..k within each row (ties averaged; inf ties with inf)."""
    return np.array([sps.rankdata(np.where(np.isnan(r), np.inf, r)) for r in m])


def _boot(values, stat, seed=0):
    return bootstrap_ci(values, statistic=stat, n_boot=N_BOOT, seed=seed)


def _speedup(cost_other, cost_best, seed=0):
    ratio = np.asarray(cost_other, float) / np.asarray(cost_best, float)
    est, lo, hi = _boot(ratio, np.median, seed)
    return float(np.median(ratio)), (float(lo), float(hi))


def findings(results, alpha: float = ALPHA, baselines=BASELINES) -> Findings:
    """The findings of a run (see the module's protocol). Needs two or more seeds."""
    t_seeds, e_seeds = split_seeds(results)
    tt = tune(results)
    ev = select_seeds(results, e_seeds)
    sc = scores(ev)
    plan = ev.plan
    labels = [o.label() for o in plan.optimizers]
    sched_labels = [s.label() for s in plan.schedules] or ["constant"]
    shown = [schedule_name(s, plan.schedules) for s in plan.schedules] or ["constant"]
    problems = [p.label() for p in plan.problems]
    tuned = {}  # (problem index, variant, schedule label) -> optimizer index
    edge, diverged = [], []
    for r in tt.to_dict("records"):
        p = problems.index(r["problem"])
        tuned[(p, r["optimizer"], r["schedule"])] = labels.index(r["tuned_optimizer"])
        who = f"{r['optimizer']} | {shown[sched_labels.index(r['schedule'])]} on {r['problem']}"
        if r["all_diverged"]:
            diverged.append(who)
        elif r["edge"]:
            edge.append(f"{who}: best lr {r['best_lr']:g} is the {r['edge']} end of the grid")
    ids = plan.trial_ids
    row_of = {(int(a), int(b), int(max(c, 0)), int(d)): i for i, (a, b, c, d) in enumerate(ids)}
    variants = list(dict.fromkeys(variant_label(o) for o in plan.optimizers))
    solvers = [(v, s) for v in variants for s in sched_labels]
    names = [f"{v} | {shown[sched_labels.index(s)]}" for v, s in solvers]
    seeds = sorted(e_seeds)

    def rows_of(p, o, s):
        return [row_of.get((p, o, s, seed)) for seed in seeds]

    def solver_rows(p, v, s):
        o = tuned.get((p, v, sched_labels[s]))
        return None if o is None else rows_of(p, o, s)

    def fixed_rows(p, v, lr, s):
        for o, opt in enumerate(plan.optimizers):
            if variant_label(opt) == v and math.isclose(opt.params().get("lr", math.nan), lr):
                return rows_of(p, o, s)
        return None

    key = sc.key
    cost = np.where(np.isfinite(sc.steps_target), sc.steps_target, plan.steps) + 1.0
    rel = np.where(sc.gap0 > 0, sc.gap / np.where(sc.gap0 > 0, sc.gap0, 1.0), np.nan)
    classes = {}
    for p, prob in enumerate(plan.problems):
        classes.setdefault(problem_class(prob), []).append(p)
    out = []
    for cname in [c for c in CLASSES if c in classes]:
        ps = classes[cname]
        cols = [j for j, (v, s) in enumerate(solvers)
                if all(solver_rows(p, v, sched_labels.index(s)) is not None for p in ps)]
        if len(cols) < 2:
            continue
        R = {j: np.concatenate([solver_rows(p, *_vs(solvers[j], sched_labels)) for p in ps])
             for j in cols}
        if any(any(r is None for r in rr) for rr in R.values()):
            continue
        K = np.column_stack([key[np.array(R[j], int)] for j in cols])
        ranks = _rank_rows(K)
        avg = ranks.mean(axis=0)
        order = np.argsort(avg, kind="stable")
        b = cols[order[0]]
        bi = np.array(R[b], int)
        _, lo, hi = _boot(ranks[:, order[0]], np.mean)
        gm, glo, ghi = _boot(rel[bi], np.median, seed=1)
        f = ClassFinding(cname, [problems[p] for p in ps], len(bi), names[b], float(avg[order[0]]),
                         (float(lo), float(hi)), float(np.nanmedian(rel[bi])), (float(glo), float(ghi)),
                         float(np.mean(np.isfinite(sc.steps_target[bi]))),
                         [(names[cols[i]], float(avg[i])) for i in order])
        others = [("runner-up", cols[order[1]], np.array(R[cols[order[1]]], int))]
        for blabel, v, lr, s in baselines:
            if s not in shown:
                continue
            s_i = shown.index(s)
            rr = [fixed_rows(p, v, lr, s_i) if lr is not None else solver_rows(p, v, s_i)
                  for p in ps]
            if any(r is None or None in r for r in rr):
                continue
            rows = np.concatenate(rr).astype(int)
            if np.array_equal(rows, bi):
                continue
            others.append((blabel, None, rows))
        tested = [wilcoxon_p(key[bi], key[rows]) for _, _, rows in others]
        adj = holm([t[1] for t in tested])
        m = len(others)
        for (olabel, j, rows), (n, p_), q in zip(others, tested, adj):
            other = names[j] if j is not None else _describe(plan, rows[0], sched_labels)
            eff = rank_biserial(key[bi], key[rows])
            _, elo, ehi = bootstrap_ci(np.arange(len(bi)), statistic=lambda ix, axis=None:
                                       _rb_stat(key[bi], key[rows], ix, axis),
                                       n_boot=N_BOOT, seed=2)
            su, su_ci = _speedup(cost[rows], cost[bi], seed=3)
            censored = bool(np.any(~np.isfinite(sc.steps_target[rows])))
            powered = n > 0 and m * 2.0 ** (1 - n) < alpha
            if n == 0:
                verdict = "tied on every seed"
            elif q < alpha:
                verdict = "better" if eff > 0 else "worse"
            elif powered:
                verdict = "not distinguishable"
            else:
                verdict = "too few seeds"
            f.comparisons.append(Comparison(other, olabel, n, p_, float(q), eff,
                                            (float(elo), float(ehi)), su, su_ci, censored,
                                            verdict))
        ru = f.comparisons[0]
        if ru.verdict == "better":
            f.verdict = "best"
        elif ru.verdict == "worse":  # lower average rank, but the paired test favours it
            f.verdict = f"inconclusive: ranks and the paired test disagree ({ru.against})"
        else:
            f.verdict = f"inconclusive: {ru.verdict} with {ru.against}"
        out.append(f)
    # across problems: median key per problem and solver
    full_cols = [j for j, (v, s) in enumerate(solvers)
                 if all(solver_rows(p, v, sched_labels.index(s)) is not None
                        for p in range(len(problems)))]
    M = np.array([[np.median(key[np.array(solver_rows(p, *_vs(solvers[j], sched_labels)), int)])
                   for j in full_cols] for p in range(len(problems))]) if full_cols else np.zeros((0, 0))
    fstat, fp, avg_all, cd, nem = math.nan, math.nan, np.full(len(full_cols), np.nan), math.nan, None
    if len(full_cols) >= 3 and len(problems) >= 2:
        Mf = np.where(np.isfinite(M), M, np.nanmax(np.where(np.isfinite(M), M, np.nan)) + 1.0
                      if np.isfinite(M).any() else 0.0)
        try:
            res = sps.friedmanchisquare(*Mf.T)
            fstat, fp = float(res.statistic), float(res.pvalue)
        except ValueError:
            pass
        avg_all = _rank_rows(M).mean(axis=0)
        cd = nemenyi_cd(len(full_cols), len(problems), alpha)
        nem = nemenyi_matrix(Mf)
    grid = {}
    for o, opt in enumerate(plan.optimizers):
        grid.setdefault(variant_label(opt), set()).add(opt.params().get("lr", math.nan))
    budget = int(np.nansum(tt["budget"])) if len(tt) else 0
    return Findings(out, [names[j] for j in full_cols], fstat, fp, avg_all, cd, len(problems),
                    nem, t_seeds, e_seeds, {k: sorted(v) for k, v in grid.items()}, edge,
                    diverged, budget, sc.tau, alpha, np.asarray(results.steps),
                    extension=results.manifest.get("lr_extension"))


def _extended(group: dict) -> str:
    """One extended group of ``tuning.lr_extension`` in words."""
    return (f"{group['optimizer']} | {group['schedule']} on {group['problem']}: grid "
            f"{group['grid'][0]:g}..{group['grid'][1]:g} + "
            f"{', '.join(f'{lr:g}' for lr in group['added'])}, tuned lr {group['best_lr']:g}"
            f" ({_STOPPED.get(group['stopped'], group['stopped'])})")


#: why an extension stopped, in words (``tuning.lr_extension``'s "stopped")
_STOPPED = {"edge": "still on the edge after the bound",
            "diverged": "the lr above it diverged on every tuning seed",
            "interior": "now inside the grid"}


def schedule_name(schedule, schedules=()) -> str:
    """A schedule's short name: "constant" for one that keeps the lr constant (ConstantLR
    with factor 1), its class name when no other schedule of ``schedules`` shares it, else
    its label."""
    name = type(schedule).__name__
    if name == "ConstantLR" and schedule.params().get("factor") == 1.0:
        return "constant"
    if sum(type(s).__name__ == name for s in schedules) == 1:
        return name
    return schedule.label()


def _vs(solver, sched_labels):
    return solver[0], sched_labels.index(solver[1])


def _describe(plan, row, sched_labels):
    t = plan.trials[row]
    s = (schedule_name(plan.schedules[t.schedule], plan.schedules) if t.schedule >= 0
         else "constant")
    return f"{plan.optimizers[t.optimizer].label()} | {s}"


def _rb_stat(a, b, ix, axis=None):
    ix = np.asarray(ix)
    if ix.ndim == 1:
        return rank_biserial(a[ix.astype(int)], b[ix.astype(int)])
    return np.array([rank_biserial(a[r.astype(int)], b[r.astype(int)]) for r in ix])


def nemenyi_matrix(values):
    """Nemenyi post-hoc p-values (k x k) of a blocks x solvers matrix (lower is better):
    q_ij = |R_i - R_j| / sqrt(k (k + 1) / (6 N)) on the average ranks R, p_ij =
    P(studentized range(k, inf) >= sqrt(2) q_ij) (Demsar 2006; what scikit-posthocs'
    ``posthoc_nemenyi_friedman`` computes)."""
    v = np.asarray(values, float)
    n, k = v.shape
    r = _rank_rows(v).mean(axis=0)
    q = np.abs(r[:, None] - r[None, :]) / math.sqrt(k * (k + 1) / (6.0 * n))
    p = sps.studentized_range.sf(q * math.sqrt(2.0), k, np.inf)
    np.fill_diagonal(p, 1.0)
    return np.clip(p, 0.0, 1.0)


def _plural(n, word):
    return f"{n} {word}" + ("" if n == 1 else "s")


def speedup_text(cmp) -> str:
    """"1.4x [1.2, 1.7]", with ">=" when the other run missed the target somewhere and
    "(inconclusive)" when the interval contains 1."""
    out = (f"{'>=' if cmp.censored else ''}{_fmt(cmp.speedup)}x "
           f"[{_fmt(cmp.speedup_ci[0])}, {_fmt(cmp.speedup_ci[1])}]")
    if cmp.speedup_ci[0] <= 1.0 <= cmp.speedup_ci[1]:
        out += " (inconclusive)"
    return out


def _fmt(v, digits=2):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if math.isinf(v):
        return "inf"
    return f"{v:.{digits}g}"


def summary_lines(f: Findings, max_lines: int = 40) -> list:
    """The findings as plain text lines (what `make bench` prints and the report opens with)."""
    lines = [f"Findings ({len(f.eval_seeds)} held-out seeds; lr tuned on seeds "
             f"{', '.join(map(str, f.tuning_seeds))}; Holm alpha = {f.alpha:g}; target "
             f"f - f_ref <= {f.tau:g} (f(x0) - f_ref))"]
    if not f.classes:
        lines.append("No comparison: no problem class has two or more optimizer x schedule "
                     "solvers on all of its problems.")
    for c in f.classes:
        lines.append(f"* {c.problem_class} ({_plural(len(c.problems), 'problem')}, {c.blocks} runs): "
                     f"{c.best} (rank {c.best_rank:.1f} [{c.best_rank_ci[0]:.1f}, "
                     f"{c.best_rank_ci[1]:.1f}]; median gap/initial {_fmt(c.median_rel_gap)} "
                     f"[{_fmt(c.median_rel_gap_ci[0])}, {_fmt(c.median_rel_gap_ci[1])}]; "
                     f"target reached {100 * c.success:.0f}%) -- {c.verdict}")
        for cmp in c.comparisons:
            su = f"speed-up {speedup_text(cmp)}"
            lines.append(f"    vs {cmp.label} {cmp.against}: {cmp.verdict} (p_holm "
                         f"{_fmt(cmp.p_holm)}, r = {cmp.effect:+.2f} [{cmp.effect_ci[0]:+.2f}, "
                         f"{cmp.effect_ci[1]:+.2f}]); {su}")
    if f.solvers and f.n_problems >= 2 and np.isfinite(f.average_ranks).all():
        order = np.argsort(f.average_ranks, kind="stable")
        top = ", ".join(f"{f.solvers[i]} {f.average_ranks[i]:.1f}" for i in order[:4])
        lines.append(f"Across {f.n_problems} problems: Friedman p = {_fmt(f.friedman_p)}; "
                     f"Nemenyi CD = {f.cd:.2f} ranks; best average ranks: {top}")
    if f.diverged_warnings:
        lines.append(f"Warning: every lr diverged for {len(f.diverged_warnings)} (variant, "
                     f"schedule, problem) triples, e.g. {f.diverged_warnings[0]}")
    if f.edge_warnings:
        lines.append(f"Warning: the tuned lr is on the grid's edge for {len(f.edge_warnings)} "
                     f"triples, e.g. {f.edge_warnings[0]}")
    if f.extension is not None:
        x = f.extension
        diverged = sum(g["stopped"] == "diverged" for g in x["groups"])
        lines.append(f"lr grid extended for {x['extended']} (variant, schedule, problem) triples "
                     f"(at most {x['bound']} points a side, judged on the tuning seeds; "
                     f"{x['trajectories']} trajectories on all seeds): {x['on_edge']} still on "
                     f"the edge after the bound, {diverged} stopped by a diverging top lr"
                     + (f", e.g. {_extended(x['groups'][0])}" if x["groups"] else ""))
    lines.append(f"Tuning budget: {f.budget} trajectories on {len(f.tuning_seeds)} seeds; lr "
                 "grids: " + "; ".join(f"{v}: {len(g)} points {min(g):g}..{max(g):g}"
                                       for v, g in list(f.grid.items())[:3])
                 + ("; ..." if len(f.grid) > 3 else ""))
    return lines[:max_lines]


__all__ = ["ALPHA", "BASELINES", "Comparison", "ClassFinding", "Findings", "findings",
           "nemenyi_cd", "nemenyi_matrix", "rank_biserial", "schedule_name", "summary_lines", "wilcoxon_p"]
