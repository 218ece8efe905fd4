"""The statistics of a comparison: one-sided rank tests and effect sizes over seeds.

Every convergence metric is compared as two samples, one value per seed (trajectory) in the
baseline and one per seed in the new run, oriented so that larger is worse. A metric regresses
when the new sample is both

* statistically worse: a one-sided test gives ``p <= alpha``; the Mann-Whitney U test for
  continuous metrics (no distributional assumption, robust to outliers and to the heavy tails of
  suboptimalities), Fisher's exact test for the divergence rate; and
* practically worse: the effect size exceeds the metric's threshold. For continuous metrics the
  effect is the Hodges-Lehmann shift, the median of all pairwise differences new - baseline (on
  the metric's scale, e.g. log10 of the suboptimality, so a shift is a ratio); for divergence it
  is the difference of the two rates.

Either condition alone is not enough: with many seeds a tiny, irrelevant shift is significant;
with few seeds a large shift can be chance.
"""
from __future__ import annotations

import math

import numpy as np

#: p-values are compared with alpha up to this relative round-off (exact tests hit alpha)
_P_ROUNDOFF = 1e-9


def significant(p: float, alpha: float) -> bool:
    return p <= alpha * (1.0 + _P_ROUNDOFF)


def hodges_lehmann(new, base) -> float:
    """Median of all pairwise differences new_j - base_i (the shift estimate of the U test)."""
    new = np.asarray(new, dtype=float)
    base = np.asarray(base, dtype=float)
    if new.size == 0 or base.size == 0:
        return math.nan
    diff = new[:, None] - base[None, :]
    return float(np.median(diff))


def mann_whitney_worse(new, base) -> float:
    """One-sided p-value of "new tends to be larger than base" (Mann-Whitney U).

    Exact (all splits of the pooled sample, ties included) when that is at most 50,000 splits,
    the normal approximation with tie correction otherwise. Identical samples give p = 1.
    """
    from scipy import stats

    new = np.asarray(new, dtype=float)
    base = np.asarray(base, dtype=float)
    n, m = new.size, base.size
    if n == 0 or m == 0:
        return math.nan
    pooled = np.concatenate([new, base])
    if np.all(pooled == pooled[0]):
        return 1.0
    if math.comb(n + m, n) <= 50_000:
        return _exact_rank_p(pooled, n)
    return float(stats.mannwhitneyu(new, base, alternative="greater", method="asymptotic").pvalue)


def _exact_rank_p(pooled, n: int) -> float:
    """Permutation p-value of the rank sum of the first ``n`` pooled values (ties: mid-ranks)."""
    from itertools import combinations

    from scipy.stats import rankdata

    ranks = rankdata(pooled)
    observed = ranks[:n].sum()
    combos = np.array(list(combinations(range(pooled.size), n)), dtype=np.int64)
    sums = ranks[combos].sum(axis=1)
    return float(np.mean(sums >= observed - 1e-9))


def fisher_worse(k_new: int, n_new: int, k_base: int, n_base: int) -> float:
    """One-sided p-value of "the new run diverges more often" (Fisher's exact test)."""
    from scipy import stats

    if n_new == 0 or n_base == 0:
        return math.nan
    if k_new * n_base <= k_base * n_new:
        return 1.0
    table = [[k_new, n_new - k_new], [k_base, n_base - k_base]]
    return float(stats.fisher_exact(table, alternative="greater").pvalue)


def min_attainable_p(n_new: int, n_base: int) -> float:
    """The smallest one-sided p-value the rank test can give for these sample sizes."""
    if n_new == 0 or n_base == 0:
        return 1.0
    return 1.0 / math.comb(n_new + n_base, n_new)


def paired_speed(base, new, tolerance: float, confidence: float = 0.95,
                 resamples: int = 2000, seed: int = 0) -> dict:
    """Speed verdict from interleaved timings of two commits: ``base[i]`` and ``new[i]`` were
    taken back to back, so their ratio cancels slow changes of the machine's load.

    The estimate is the median of the per-pair ratios new/base with a bootstrap interval (over
    pairs) at ``confidence``; the ratio of the minima is reported alongside. Regression only
    when the whole interval lies above ``1 + tolerance`` (improvement: below
    ``1 / (1 + tolerance)``), so noise that widens the interval cannot raise an alarm.
    """
    base = np.asarray(base, dtype=float)
    new = np.asarray(new, dtype=float)
    if base.size != new.size or base.size < 3:
        raise ValueError("paired speed check: needs >= 3 pairs of timings")
    ratios = new / base
    rng = np.random.default_rng(seed)
    boot = np.median(ratios[rng.integers(0, ratios.size, (resamples, ratios.size))], axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = (float(q) for q in np.quantile(boot, [tail, 1.0 - tail]))
    verdict = ("regression" if low > 1.0 + tolerance else
               "improvement" if high < 1.0 / (1.0 + tolerance) else "ok")
    return {"verdict": verdict, "ratio": float(np.median(ratios)), "interval": [low, high],
            "confidence": confidence, "ratio_of_minima": float(new.min() / base.min()),
            "tolerance": tolerance, "pairs": int(ratios.size)}
