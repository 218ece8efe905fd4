"""Statistics across seeds: medians and IQR bands, bootstrap intervals, pairwise tests with
Holm's correction, average ranks."""
from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ._common import (censored_trace, configs, default_metric, final_context, final_values,
                      table_from_rows)


_BIG = 1e300  # +-inf stand-in inside quantiles (interpolating with inf itself gives nan)


def _quantile(x, q, axis=None):
    """``numpy.nanquantile`` (linear interpolation, NaN ignored; an all-NaN slice gives NaN)
    where +-inf is a legitimate extreme value: a quantile that interpolates with an infinite
    value is that infinity."""
    x = np.asarray(x, dtype=np.float64)
    y = np.where(np.isposinf(x), _BIG, np.where(np.isneginf(x), -_BIG, x))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "All-NaN slice encountered"
        # nanquantile loops in Python over slices: only for NaN
        r = np.asarray((np.nanquantile if np.isnan(y).any() else np.quantile)(y, q, axis=axis))
    return np.where(r >= _BIG / 10, np.inf, np.where(r <= -_BIG / 10, -np.inf, r))


def median_iqr(values, axis=None) -> tuple:
    """(median, 25th percentile, 75th percentile), ignoring NaN; inf (a failure) is a
    legitimate large value."""
    q = _quantile(values, [0.5, 0.25, 0.75], axis=axis)
    return q[0], q[1], q[2]


def bootstrap_ci(values, statistic=np.median, level: float = 0.95, n_boot: int = 2000,
                 seed: int = 0) -> tuple:
    """(estimate, low, high): percentile bootstrap interval of ``statistic``.

    ``n_boot`` resamples with replacement drawn from ``numpy.random.default_rng(seed)``, so
    the interval is reproducible; the interval is the (1 - level)/2 and (1 + level)/2
    quantiles of the resampled statistic (Efron & Tibshirani, An Introduction to the
    Bootstrap, 1993, ch. 13).
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return (np.nan, np.nan, np.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    with np.errstate(all="ignore"):
        try:  # numpy reductions take axis: all resamples at once
            boot = np.asarray(statistic(x[idx], axis=1), dtype=np.float64)
            if boot.shape != (n_boot,):
                raise TypeError
        except TypeError:
            boot = np.array([statistic(x[row]) for row in idx])
    lo, hi = _quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return (float(statistic(x)), float(lo), float(hi))


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values: with p_(1) <= ... <= p_(m),
    p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)); reject H_(i) at family-wise level alpha
    iff p~_(i) <= alpha. Holm, A simple sequentially rejective multiple test procedure,
    Scand. J. Statist. 6 (1979) 65-70."""
    p = np.asarray(pvalues, dtype=np.float64).ravel()
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adj = np.maximum.accumulate(adj)
    out = np.empty(m)
    out[order] = adj
    return out


def _finite_for_ranks(a, b):
    """Failures (inf) as a value worse than every finite one, preserving order."""
    both = np.concatenate([a, b])
    fin = both[np.isfinite(both)]
    big = (np.max(np.abs(fin)) * 10.0 + 1.0) if len(fin) else 1.0
    return np.where(np.isposinf(a), big, a), np.where(np.isposinf(b), big, b)


def _signed_rank_rows(a, b) -> tuple:
    """(statistics, p-values) of two-sided Wilcoxon signed-rank tests of the paired rows
    a[i], b[i] (2-D arrays of one shape, finite), each exactly what
    ``scipy.stats.wilcoxon(a[i], b[i])`` gives: the rows are tested in batches that scipy
    treats alike (exact null distribution without ties or zeros; with them, the exact
    permutation distribution up to 13 pairs, the normal approximation above 13; the normal
    approximation above 50 pairs). Rows with all differences zero get statistic 0, p = 1."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n_rows, n = a.shape
    stat, p = np.zeros(n_rows), np.ones(n_rows)
    if n_rows == 0 or n == 0:
        return stat, p
    d = a - b
    zero = d == 0
    live = ~zero.all(axis=1)
    srt = np.sort(np.where(zero, np.nan, np.abs(d)), axis=1)
    tied = zero.any(axis=1) | (np.diff(srt, axis=1) == 0).any(axis=1)
    if n > 50:
        kinds = [("asymptotic", live)]
    else:
        kinds = [("exact", live & ~tied),
                 (stats.PermutationMethod() if n <= 13 else "asymptotic", live & tied)]
    for method, rows in kinds:
        if not rows.any():
            continue
        if isinstance(method, stats.PermutationMethod):
            stat[rows], p[rows] = _signed_rank_permutation(d[rows])
        else:
            res = stats.wilcoxon(a[rows], b[rows], axis=1, method=method)
            stat[rows], p[rows] = res.statistic, res.pvalue
    return stat, p


def _signed_rank_permutation(d, chunk: int = 256) -> tuple:
    """What ``scipy.stats.wilcoxon(d, method=PermutationMethod())`` gives for each row of d
    (n <= 13 pairs: all 2^n sign flips enumerated, an exact test), vectorised over the rows:
    the null distribution of W+ (sum of the average ranks of |d| over positive d; zero
    differences dropped, Wilcoxon's rule) is the sum of the ranks over every subset of the
    pairs; the two-sided p-value is twice the smaller tail, with scipy's relative tolerance
    100 eps for ties of the statistic with the null distribution."""
    n = d.shape[1]
    absd = np.where(d == 0, np.nan, np.abs(d))
    ranks = stats.rankdata(absd, axis=1, nan_policy="omit")
    ranks = np.where(np.isnan(ranks), 0.0, ranks)
    w_plus = np.sum(np.where(d > 0, ranks, 0.0), axis=1)
    w_minus = np.sum(np.where(d < 0, ranks, 0.0), axis=1)
    flips = ((np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1).astype(np.float64)
    gamma = np.abs(np.finfo(np.float64).eps * 100 * w_plus)
    p = np.empty(len(d))
    for lo in range(0, len(d), chunk):
        null = flips @ ranks[lo:lo + chunk].T  # (2^n, rows)
        obs, g = w_plus[lo:lo + chunk], gamma[lo:lo + chunk]
        less = np.count_nonzero(null <= obs + g, axis=0) / float(2 ** n)
        greater = np.count_nonzero(null >= obs - g, axis=0) / float(2 ** n)
        p[lo:lo + chunk] = np.clip(np.minimum(less, greater) * 2, 0.0, 1.0)
    return np.minimum(w_plus, w_minus), p


def compare_two(a, b, paired: bool = True) -> tuple:
    """(test name, statistic, p-value): two-sided Wilcoxon signed-rank test on paired
    samples (a_i, b_i) (Wilcoxon 1945), else Mann-Whitney U (Mann & Whitney 1947).
    Failures (inf) count as worse than any finite value; identical samples give p = 1."""
    a, b = _finite_for_ranks(np.asarray(a, float), np.asarray(b, float))
    if paired:
        if len(a) != len(b):
            raise ValueError(f"paired test needs equal sample sizes, got {len(a)} and {len(b)}")
        ok = ~(np.isnan(a) | np.isnan(b))
        stat, p = _signed_rank_rows(a[None, ok], b[None, ok])
        return ("wilcoxon", float(stat[0]), float(p[0]))
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return ("mannwhitneyu", np.nan, 1.0)
    if np.all(np.concatenate([a, b]) == a[0]):
        return ("mannwhitneyu", float(len(a) * len(b) / 2), 1.0)
    res = stats.mannwhitneyu(a, b, alternative="two-sided")
    return ("mannwhitneyu", float(res.statistic), float(res.pvalue))


def _test_pairs(pairs, paired) -> list:
    """compare_two over a list of (a, b) samples; paired tests of equal-length NaN-free pairs
    run as one batch of rows per length (``_signed_rank_rows``)."""
    out = [None] * len(pairs)
    batches: dict = {}
    for k, (xa, xb) in enumerate(pairs):
        pr = (len(xa) == len(xb)) if paired is None else paired
        if pr and len(xa) == len(xb) and not (np.isnan(xa).any() or np.isnan(xb).any()):
            batches.setdefault(len(xa), []).append(k)
        else:
            out[k] = compare_two(xa, xb, pr)
    for ks in batches.values():
        fa, fb = zip(*(_finite_for_ranks(*pairs[k]) for k in ks))
        stat, p = _signed_rank_rows(np.array(fa), np.array(fb))
        for k, st, pv in zip(ks, stat, p):
            out[k] = ("wilcoxon", float(st), float(pv))
    return out


def pairwise_tests(data, metric: str | None = None, paired: bool | None = None,
                   alpha: float = 0.05, against: str | None = None):
    """Pairwise two-sided tests between methods, Holm-corrected.

    data: a dict {method name: sample} (one family of tests), or a ``Results``: then for each
    problem the methods are its (optimizer, schedule) configurations, the sample the final
    ``metric`` per seed (default suboptimality where f* is known, else loss; ``"auto"``: per
    problem; diverged = inf), and each problem is one family. against: None tests every
    pair; ``"best"`` tests each method against the best of its family only (lowest median,
    the first one on ties), m - 1 tests instead of m (m - 1) / 2. paired (default: True when
    the samples have equal length, or share their seeds): Wilcoxon signed-rank on paired
    seeds, else Mann-Whitney U. Holm (1979) adjusts the p-values within each family.
    Returns a ``DataFrame`` with columns problem, a, b, test, statistic, p, p_holm, reject,
    median_a, median_b, better (with ``against="best"``, a is the best).
    """
    if against not in (None, "best"):
        raise ValueError(f"pairwise_tests: against must be None or 'best', got {against!r}")
    families = []
    if isinstance(data, dict):
        families.append(("", {k: np.asarray(v, float) for k, v in data.items()}))
    else:
        results = data
        metric = metric or default_metric(results)
        fv = final_values(results, metric)
        seeds = np.asarray(results.trials["seed"])
        by_problem: dict = {}
        for cfg in configs(results):
            idx = np.array(cfg.trials)
            order = np.argsort(seeds[idx], kind="stable")
            name = f"{cfg.optimizer_label} | {cfg.schedule_label}"
            by_problem.setdefault(cfg.problem_label, {})[name] = fv[idx[order]]
        families.extend(by_problem.items())
    fams, meds = [], []
    for problem, samples in families:
        names = list(samples)
        med = {k: float(_quantile(samples[k], 0.5)) for k in names}
        meds.append(med)
        if against == "best" and names:
            best = min(names, key=lambda k: (np.isnan(med[k]), med[k]))
            fams.append((problem, [(best, k) for k in names if k != best]))
        else:
            fams.append((problem, list(itertools.combinations(names, 2))))
    samples_of = dict(families)
    flat = [(samples_of[problem][a], samples_of[problem][b])
            for problem, pairs in fams for a, b in pairs]
    tested = iter(_test_pairs(flat, paired))
    rows = []
    for (problem, pairs), med in zip(fams, meds):
        fam = []
        for a, b in pairs:
            test, stat, p = next(tested)
            ma, mb = med[a], med[b]
            fam.append({"problem": problem, "a": a, "b": b, "test": test, "statistic": stat,
                        "p": p, "median_a": ma, "median_b": mb,
                        "better": a if ma < mb else b if mb < ma else ""})
        adj = holm([r["p"] for r in fam]) if fam else []
        for r, q in zip(fam, adj):
            r["p_holm"] = float(q)
            r["reject"] = bool(q <= alpha)
        rows.extend(fam)
    return table_from_rows(rows)


def average_ranks(values, lower_is_better: bool = True) -> np.ndarray:
    """Mean rank of each solver over blocks: values (n_blocks, n_solvers); within each block
    solvers are ranked 1..n (ties share the average rank, NaN counts as worst, inf as a
    failure). Demsar, Statistical comparisons of classifiers over multiple data sets,
    JMLR 7 (2006) 1-30."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"average_ranks: values must be blocks x solvers, got shape {v.shape}")
    v = np.where(np.isnan(v), np.inf, v)
    if not lower_is_better:
        v = -v
    ranks = np.array([stats.rankdata(row) for row in v])
    return ranks.mean(axis=0)


def rank_table(results, metric: str | None = None):
    """Average ranks of the (optimizer, schedule) solvers over (problem, seed) blocks on the
    final ``metric``, with the Friedman test p-value over the complete blocks. Returns a
    ``DataFrame`` (one row per solver, sorted by rank)."""
    metric = metric or default_metric(results)
    fv = final_values(results, metric)
    plan = results.plan
    blocks, solvers = [], []
    for t in plan.trials:
        if (t.problem, t.seed) not in blocks:
            blocks.append((t.problem, t.seed))
        if (t.optimizer, t.schedule) not in solvers:
            solvers.append((t.optimizer, t.schedule))
    m = np.full((len(blocks), len(solvers)), np.nan)
    for i, t in enumerate(plan.trials):
        m[blocks.index((t.problem, t.seed)), solvers.index((t.optimizer, t.schedule))] = fv[i]
    complete = ~np.isnan(m).any(axis=1)
    ranks = average_ranks(m[complete]) if complete.any() else np.full(len(solvers), np.nan)
    p = np.nan
    if len(solvers) >= 3 and complete.sum() >= 2:
        mm = _finite_for_ranks(m[complete], m[complete])[0]
        try:
            p = float(stats.friedmanchisquare(*mm.T).pvalue)
        except ValueError:
            p = np.nan
    rows = [{"optimizer": plan.optimizers[o].label(),
             "schedule": plan.schedules[s].label() if s >= 0 else "constant",
             "average_rank": float(r), "blocks": int(complete.sum()), "friedman_p": p}
            for (o, s), r in zip(solvers, ranks)]
    rows.sort(key=lambda r: r["average_rank"])
    return table_from_rows(rows)


def final_value_stats(results, metric: str | None = None, level: float = 0.95,
                      n_boot: int = 2000, seed: int = 0):
    """Per configuration: n, median, IQR, mean, min, max of the final ``metric`` over seeds
    (diverged = inf), a seeded percentile-bootstrap interval of the median
    (``bootstrap_ci``) and the number diverged. Returns a ``DataFrame``."""
    metric, fv, names, status = final_context(results, metric)
    rows = []
    for cfg in configs(results):
        x = fv[list(cfg.trials)]
        med, q25, q75 = median_iqr(x)
        est, lo, hi = bootstrap_ci(x, level=level, n_boot=n_boot, seed=seed)
        with np.errstate(all="ignore"):
            rows.append({"problem": cfg.problem_label, "optimizer": cfg.optimizer_label,
                         "schedule": cfg.schedule_label, "metric": names[cfg.problem],
                         "n": len(x),
                         "median": float(med), "q25": float(q25), "q75": float(q75),
                         "ci_low": lo, "ci_high": hi, "mean": float(np.mean(x)),
                         "min": float(np.min(x)), "max": float(np.max(x)),
                         "diverged": int(np.sum(status[list(cfg.trials)] == "diverged"))})
    return table_from_rows(rows)


@dataclass
class Bands:
    """Median and IQR bands over seeds per configuration: ``median[c, r]`` etc. at
    ``steps[r]``; ``configs[c]`` = (problem, optimizer, schedule) labels."""

    metric: str
    steps: np.ndarray
    configs: list
    median: np.ndarray
    q25: np.ndarray
    q75: np.ndarray
    n_seeds: np.ndarray


def convergence_summary(results, metric: str | None = None) -> Bands:
    """Per configuration and recorded step, the median and interquartile range over seeds of
    ``metric`` (``"auto"``: per problem). A diverged trajectory counts as +inf from its
    divergence step on, so a band quantile that reaches a diverged seed is inf there (a
    median curve ends where the median run diverged). The data of convergence plots with
    IQR bands."""
    metric = metric or default_metric(results)
    tr = censored_trace(results, metric)
    cfgs = configs(results)
    R = len(results.steps)
    med, q25, q75 = (np.full((len(cfgs), R), np.nan) for _ in range(3))
    by_size: dict = {}  # configurations with as many seeds: one quantile call
    for c, cfg in enumerate(cfgs):
        by_size.setdefault(len(cfg.trials), []).append(c)
    for cs in by_size.values():
        idx = np.array([cfgs[c].trials for c in cs])  # (configs, seeds)
        m, a, b = median_iqr(tr[idx], axis=1)
        med[cs], q25[cs], q75[cs] = m, a, b
    return Bands(metric, np.asarray(results.steps), [c.key for c in cfgs], med, q25, q75,
                 np.array([len(c.trials) for c in cfgs]))


__all__ = ["median_iqr", "bootstrap_ci", "holm", "compare_two", "pairwise_tests",
           "average_ranks", "rank_table", "final_value_stats", "Bands", "convergence_summary"]
