"""Convergence rates of single trajectories and of groups of seeds, and their classification.

All functions take a sequence of nonnegative error values e_r (f - f*, ||x - x*||, ||grad f||)
recorded after ``steps[r]`` optimizer steps. Traces may be recorded every k-th step or on a
log-spaced grid, so every fit is a regression on the step indices themselves, never on the
position in the array.

The rate of a run. One definition serves ``optbench analyze``, the theory checks,
``optbench compare`` and the report: the per-step contraction factor q of f - f* on the fitted
linear phase (``linear_rate``), of one trajectory or (``config_rate``) of the per-step median
over a configuration's seeds, with its confidence interval. Decades of f - f* lost per 100
steps, -100 log10 q, is only a display of the same number (``decades_per_100_steps``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ._common import (Config, configs, default_metric, final_values, metric_trace,
                      stochastic_flags, table_from_rows)

#: trajectory classes, in the order classify() tests them
CLASSES = ("diverged", "linear", "sublinear", "plateau", "stalled", "oscillating")


@dataclass(frozen=True)
class LinearRate:
    """e_t ~ C q^t: ``rate`` q (per-step contraction factor), its confidence interval
    ``ci`` = (low, high) at ``level``, the fit quality ``r2`` (of log e on t), the number of
    points ``n`` and the step range [start, stop] of the fit. NaN when fewer than 3 points
    could be used."""

    rate: float
    ci: tuple
    r2: float
    n: int
    start: int
    stop: int
    level: float = 0.95

    @property
    def log_rate(self) -> float:
        return float(np.log(self.rate)) if self.rate > 0 else float("nan")


@dataclass(frozen=True)
class SublinearOrder:
    """e_t ~ C t^(-p): ``order`` p with its confidence interval ``ci``, ``constant`` C, fit
    quality ``r2`` (of log e on log t), ``n`` points over steps [start, stop]."""

    order: float
    ci: tuple
    constant: float
    r2: float
    n: int
    start: int
    stop: int
    level: float = 0.95


@dataclass(frozen=True)
class NoiseFloor:
    """Stationary level of a stochastic run: mean ``value`` of the tail, its standard error
    ``stderr`` (over seeds when several are given, else by batch means) and ``n`` (seeds or
    tail points)."""

    value: float
    stderr: float
    n: int


_NAN_LINEAR = LinearRate(float("nan"), (float("nan"), float("nan")), float("nan"), 0, -1, -1)


def _as_xy(values, steps):
    v = np.asarray(values, dtype=np.float64).ravel()
    s = (np.arange(len(v), dtype=np.float64) if steps is None
         else np.asarray(steps, np.float64).ravel())
    if len(s) != len(v):
        raise ValueError(f"steps has {len(s)} entries but values has {len(v)}")
    if len(s) > 1 and np.any(np.diff(s) <= 0):
        raise ValueError("steps must be strictly increasing")
    return v, s


def usable(values, steps=None, floor: float = 1e-12):
    """(values, steps) before the error first fails to be positive and finite or drops to
    ``floor`` times its largest earlier value (round-off floor: points after it measure
    floating-point noise, not the method)."""
    v, s = _as_xy(values, steps)
    good = np.isfinite(v) & (v > 0)
    ref = np.maximum.accumulate(np.where(good, v, 0.0))
    ok = good & (v > floor * ref)
    bad = np.flatnonzero(~ok)
    end = bad[0] if len(bad) else len(v)
    return v[:end], s[:end]


def _tail_mask(s, tail, min_points, log=False):
    if len(s) == 0:
        return np.zeros(0, bool)
    x = np.log(s) if log else s
    cut = x[-1] - tail * (x[-1] - x[0])
    mask = x >= cut
    if mask.sum() < min_points:
        mask = np.zeros(len(s), bool)
        mask[-min_points:] = True
    return mask


def _regress(x, y, level):
    """Least squares y = a + b x: (b, a, (b_low, b_high), r2)."""
    n = len(x)
    xm, ym = x.mean(), y.mean()
    sxx = np.sum((x - xm) ** 2)
    b = np.sum((x - xm) * (y - ym)) / sxx
    a = ym - b * xm
    resid = y - a - b * x
    ssr = float(np.sum(resid ** 2))
    sst = float(np.sum((y - ym) ** 2))
    r2 = 1.0 - ssr / sst if sst > 0 else 1.0
    se = np.sqrt(ssr / (n - 2) / sxx) if n > 2 else np.inf
    half = stats.t.ppf(0.5 + level / 2.0, n - 2) * se if n > 2 else np.inf
    return b, a, (b - half, b + half), r2


def _unfrozen(values, steps):
    """(values, steps) without the repeats of the final value: a trajectory the kernel stopped
    (target reached, ``_finish_lane``) keeps its last value in the remaining records."""
    v, s = _as_xy(values, steps)
    if len(v) < 2:
        return v, s
    moved = np.flatnonzero(v != v[-1])
    end = moved[-1] + 2 if len(moved) else 1
    return v[:end], s[:end]


def linear_rate(values, steps=None, tail: float = 0.5, floor: float = 1e-12,
                level: float = 0.95, min_points: int = 3) -> LinearRate:
    """Per-step contraction factor q of a linearly converging error, e_t ~ C q^t: the rate.

    Least-squares fit of log e_t = log C + t log q on the linear phase of the trajectory:
    the points whose step lies in the last ``tail`` fraction of the usable step range (see
    ``usable``: the trajectory is cut where it first reaches ``floor`` times its running
    maximum, the round-off floor; values a stopped trajectory repeats are left out). The
    early transient, where the fast components of the error dominate, is thereby left out
    too. The confidence interval is exp of the slope's t-interval
    (b +- t_{n-2, (1+level)/2} se(b)); it measures the scatter of the tail about a straight
    line in log scale (residuals of a deterministic run are correlated, so read it as a fit
    uncertainty, not a sampling one). ``steps`` are the recorded step indices (default
    0, 1, 2, ...). For f - f* of a method whose iterates contract by rho per step, q = rho^2
    near the optimum (f - f* is quadratic in x - x*).

    Reference: Nocedal & Wright, Numerical Optimization (2006), section 2.2 (rates of
    convergence); Polyak, Introduction to Optimization (1987), section 1.4.
    """
    v, s = usable(*_unfrozen(values, steps), floor)
    if len(v) < max(min_points, 3):
        return _NAN_LINEAR
    mask = _tail_mask(s, tail, max(min_points, 3))
    x, y = s[mask], np.log(v[mask])
    b, _, (lo, hi), r2 = _regress(x, y, level)
    return LinearRate(float(np.exp(b)), (float(np.exp(lo)), float(np.exp(hi))), float(r2),
                      int(mask.sum()), int(x[0]), int(x[-1]), level)


def config_rate(errors, steps=None, tail: float = 0.5, floor: float = 1e-12,
                level: float = 0.95) -> LinearRate:
    """The rate of a configuration: ``linear_rate`` of the per-step median over its seeds.

    ``errors``: (n_seeds, R) error traces (f - f*; a diverged seed's non-finite values make
    the median non-finite where more than half the seeds diverged, and the fit stops there).
    What ``rate_table``, the theory checks, ``optbench compare`` and the report show."""
    e = np.asarray(errors, dtype=np.float64)
    with np.errstate(all="ignore"):
        med = np.median(e.reshape(-1, e.shape[-1]), axis=0)
    return linear_rate(med, steps, tail, floor, level)


def decades_per_100_steps(rate):
    """Display of a per-step contraction factor q: -100 log10 q, the decades of the error
    lost per 100 steps (q = 0.9772 per step is 1.0 decade per 100 steps); NaN for q <= 0."""
    q = np.asarray(rate, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(q > 0, -100.0 * np.log10(np.where(q > 0, q, 1.0)), np.nan)
    return float(out) if out.ndim == 0 else out


def sublinear_order(values, steps=None, tail: float = 0.5, floor: float = 1e-12,
                    level: float = 0.95, min_points: int = 3) -> SublinearOrder:
    """Order p of a sublinearly converging error, e_t ~ C t^(-p) (p = 1: O(1/t)).

    Least-squares fit of log e_t = log C - p log t on the points with step t >= 1 whose
    log t lies in the last ``tail`` fraction of the usable range of log t (a log-log fit;
    ``usable`` drops the points after the round-off floor). The interval is the t-interval
    of the slope at ``level``.

    Reference: Nesterov, Introductory Lectures on Convex Optimization (2004), ch. 2
    (the O(1/t) and O(1/t^2) rates); Bottou, Curtis & Nocedal, SIAM Review 60 (2018) sec. 4.
    """
    v, s = usable(values, steps, floor)
    keep = s >= 1
    v, s = v[keep], s[keep]
    nan = float("nan")
    if len(v) < max(min_points, 3):
        return SublinearOrder(nan, (nan, nan), nan, nan, 0, -1, -1, level)
    mask = _tail_mask(s, tail, max(min_points, 3), log=True)
    x, y = np.log(s[mask]), np.log(v[mask])
    b, a, (lo, hi), r2 = _regress(x, y, level)
    return SublinearOrder(float(-b), (float(-hi), float(-lo)), float(np.exp(a)), float(r2),
                          int(mask.sum()), int(s[mask][0]), int(s[mask][-1]), level)


def noise_floor(values, steps=None, tail: float = 0.5, batches: int = 10) -> NoiseFloor:
    """Stationary level (noise floor) of constant-step stochastic runs.

    ``values``: one trajectory (R,) or one per seed (n_seeds, R). The tail is the last
    ``tail`` fraction of the step range. With several seeds the floor is the mean over seeds
    of each seed's tail mean and the standard error is their standard deviation / sqrt(n)
    (seeds are independent); with one trajectory it is the tail mean with a batch-means
    standard error (``batches`` consecutive batches, which absorbs the autocorrelation).

    For SGD with constant step eta on f(x) = a/2 x^2 with additive gradient noise of variance
    sigma^2 the floor is E[f] = eta sigma^2 / (2 (2 - eta a)) (see ``sgd_noise_floor``).
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    n_rec = arr.shape[1]
    s = np.arange(n_rec, dtype=np.float64) if steps is None else np.asarray(steps, np.float64)
    mask = s >= s[-1] - tail * (s[-1] - s[0])
    tails = arr[:, mask]
    if arr.shape[0] > 1:
        means = tails.mean(axis=1)
        return NoiseFloor(float(means.mean()), float(means.std(ddof=1) / np.sqrt(len(means))),
                          int(len(means)))
    t = tails[0]
    k = max(2, min(batches, len(t) // 2))
    parts = np.array_split(t, k)
    bm = np.array([p.mean() for p in parts])
    return NoiseFloor(float(t.mean()), float(bm.std(ddof=1) / np.sqrt(k)), int(len(t)))


#: least r2 of the tail fit (log e on t) for a trajectory to count as linear
LINEAR_R2 = 0.9
#: a trajectory that reached the round-off floor and ends above ``REBOUND`` x that floor
#: left it again (RMSprop's late kicks): not linear
REBOUND = 1e3


def classify(values, steps=None, status=None, stochastic=None, floor: float = 1e-12,
             tail: float = 0.5, flat_order: float = 0.2, growth: float = 1e3) -> str:
    """Class of one error trajectory: one of ``CLASSES``.

    * diverged: ``status == "diverged"``, a non-finite value, or growth by ``growth`` x.
    * linear / sublinear: the tail decreases (local log-log order -d log e / d log t above
      ``flat_order``, or the round-off floor was reached). Linear when the log-slope
      d log e / dt is the same on both halves of the tail (geometric decay), sublinear when
      it shrinks like 1/t (for e ~ t^-p the slope ratio of the halves is the ratio of their
      mid steps; the threshold is half way between that ratio and 1). Linear only when,
      besides, the gap shrank (final < initial), the tail fit of ``linear_rate`` is good
      (r2 >= ``LINEAR_R2``; else sublinear) and a run that reached the round-off floor
      stayed there (else oscillating); a decreasing tail whose final gap is not below the
      initial one is stalled (no net progress).
    * plateau: a flat tail of a stochastic run (``stochastic=True``) or, when unknown, a
      flat tail that fluctuates (noise floor);
    * oscillating: a flat tail of a deterministic run that fluctuates by more than 1 %
      with frequent reversals (a stable cycle or chaotic bouncing), or a run that left the
      round-off floor again;
    * stalled: a flat tail without fluctuation (a stationary point, a boundary, lr -> 0), or
      no net progress.
    """
    v, s = _as_xy(values, steps)
    if status == "diverged" or not np.all(np.isfinite(v)):
        return "diverged"
    if len(v) < 4 or v[0] <= 0 or np.all(v == v[0]):
        return "stalled"
    if v[-1] > growth * v[0]:
        return "diverged"
    uv, us = usable(v, s, floor)
    reached = len(uv) < len(v)
    shape = _tail_shape(uv, us, reached, stochastic, tail, flat_order)
    if shape not in ("linear", "sublinear"):
        return shape
    if not v[-1] < v[0]:
        return "stalled"
    if reached and v[-1] > REBOUND * floor * np.max(v):
        return "oscillating"
    if shape == "linear" and linear_rate(v, s, tail, floor).r2 < LINEAR_R2:
        return "sublinear"
    return shape


def _tail_shape(uv, us, reached, stochastic, tail, flat_order) -> str:
    """``classify``'s reading of the usable part (uv, us) of a trajectory's tail."""
    if reached and len(uv) < 6:
        return "linear"
    tm = _tail_mask(us, tail, 4)
    tv, ts = uv[tm], us[tm]
    ly = np.log(tv)
    if not reached:
        pos = ts >= 1
        local = (-_regress(np.log(ts[pos]), ly[pos], 0.95)[0]
                 if pos.sum() >= 3 and np.ptp(ts[pos]) > 0 else 0.0)
        if local < flat_order:
            d = np.diff(ly)
            resid = ly - np.polyval(np.polyfit(ts, ly, 1), ts)
            fluct = float(np.std(resid))
            nz = d[np.abs(d) > 1e-12]
            reversals = float(np.mean(np.sign(nz[1:]) != np.sign(nz[:-1]))) if len(nz) > 2 else 0.0
            if fluct < 1e-9 or (fluct < 0.01 and stochastic is not True):
                return "stalled"
            if stochastic is True:
                return "plateau"
            if stochastic is False:
                return "oscillating" if reversals > 0.3 else "stalled"
            return "oscillating" if reversals > 0.8 else "plateau"
    half = len(ts) // 2
    if half < 2 or len(ts) - half < 2:
        return "linear"
    b1 = _regress(ts[:half + 1], ly[:half + 1], 0.95)[0] if half + 1 >= 3 else np.nan
    b2 = _regress(ts[half:], ly[half:], 0.95)[0] if len(ts) - half >= 3 else np.nan
    if not (np.isfinite(b1) and np.isfinite(b2)) or b2 >= 0 or b1 >= 0:
        return "linear" if reached else "sublinear"
    m1, m2 = ts[:half + 1].mean(), ts[half:].mean()
    expected = m2 / m1  # slope ratio b1/b2 of t^-p on these halves
    return "sublinear" if b1 / b2 > 1.0 + 0.5 * (expected - 1.0) else "linear"


# ---- results-level tables ---------------------------------------------------------------

def error_trace(results, metric: str | None = None):
    """Error trace (>= 0 where meaningful) of ``metric`` (default ``default_metric``), what
    every rate is fitted to; ``loss`` becomes loss - f* where f* is known, else loss - f_L,
    f_L the best loss any trajectory on that problem reached."""
    metric = metric or default_metric(results)
    e = metric_trace(results, metric)
    if metric == "loss":
        pidx = np.array([t.problem for t in results.plan.trials])
        e = e.copy()
        for p in np.unique(pidx):
            rows = pidx == p
            fstar = results.plan.problems[p].f_star
            best = fstar if np.isfinite(fstar) else np.nanmin(np.where(np.isfinite(e[rows]),
                                                                       e[rows], np.nan))
            e[rows] -= best
    return e


def trajectory_rates(results, metric: str | None = None, tail: float = 0.5,
                     floor: float = 1e-12):
    """One row per trajectory: linear rate (with CI and r2), sublinear order (with CI) and
    class of the error trace ``metric`` (default: suboptimality where f* is known).
    Returns a ``DataFrame``."""
    metric = metric or default_metric(results)
    e = error_trace(results, metric)
    tr = {name: np.asarray(column) for name, column in results.trials.items()}
    status = tr["status"]
    stoch = stochastic_flags(results)
    rows = []
    for i in range(len(results)):
        lr_ = linear_rate(e[i], results.steps, tail, floor)
        so = sublinear_order(e[i], results.steps, tail, floor)
        rows.append({"trial": i, "problem": tr["problem"][i], "optimizer": tr["optimizer"][i],
                     "schedule": tr["schedule"][i], "seed": int(tr["seed"][i]), "metric": metric,
                     "class": classify(e[i], results.steps, status[i], bool(stoch[i]), floor, tail),
                     "rate": lr_.rate, "rate_low": lr_.ci[0], "rate_high": lr_.ci[1],
                     "rate_r2": lr_.r2, "order": so.order, "order_low": so.ci[0],
                     "order_high": so.ci[1], "order_r2": so.r2})
    return table_from_rows(rows)


def group_rate(results, config: Config, metric: str, tail: float = 0.5,
               floor: float = 1e-12, error=None) -> dict:
    """Rates of one configuration's group of seeds: ``config_rate`` and the sublinear order
    of the per-step median over seeds (with CIs), and the median / IQR of the per-seed rates.
    error: the run's ``error_trace(results, metric)`` when the caller has it (``rate_table``
    computes it once for all configurations instead of once per configuration)."""
    e = (error_trace(results, metric) if error is None else error)[list(config.trials)]
    with np.errstate(all="ignore"):
        med = np.median(e, axis=0)
    lin = config_rate(e, results.steps, tail, floor)
    sub = sublinear_order(med, results.steps, tail, floor)
    per = np.array([linear_rate(row, results.steps, tail, floor).rate for row in e])
    fin = per[np.isfinite(per)]
    q = np.percentile(fin, [25, 50, 75]) if len(fin) else [np.nan] * 3
    return {"rate": lin, "order": sub, "seed_rate_median": float(q[1]),
            "seed_rate_q25": float(q[0]), "seed_rate_q75": float(q[2])}


def config_classes(errors, steps, status, stochastic, floor: float = 1e-12,
                   tail: float = 0.5) -> tuple[str, dict]:
    """(majority class, {class: count}) of a configuration's seeds (``classify`` of each
    row of ``errors`` with its ``status`` and ``stochastic`` flag; ties go to the class
    listed first in ``CLASSES``)."""
    classes = [classify(e, steps, st, bool(sto), floor, tail)
               for e, st, sto in zip(errors, status, stochastic)]
    counts = {c: classes.count(c) for c in CLASSES if c in classes}
    return max(counts, key=lambda c: (counts[c], -CLASSES.index(c))), counts


def rate_table(results, metric: str | None = None, tail: float = 0.5, floor: float = 1e-12):
    """One row per configuration (problem, optimizer, schedule) over its seeds.

    Columns: n_seeds; the rate q (``config_rate``) with its 95 % CI, r2 and its display in
    decades per 100 steps (``decades_per_100_steps``); the median and IQR of per-seed rates; the sublinear order p with CI
    (``sublinear_order``); the majority class over seeds (``classify``) and the count of each;
    the noise floor (``noise_floor`` over seeds) when the majority class is plateau; the
    number of diverged seeds. Returns a ``DataFrame``.
    """
    metric = metric or default_metric(results)
    e = error_trace(results, metric)
    status = np.asarray(results.trials["status"])
    stoch = stochastic_flags(results)
    rows = []
    for cfg in configs(results):
        idx = list(cfg.trials)
        g = group_rate(results, cfg, metric, tail, floor, error=e)
        major, counts = config_classes(e[idx], results.steps, status[idx], stoch[idx], floor,
                                       tail)
        row = {"problem": cfg.problem_label, "optimizer": cfg.optimizer_label,
               "schedule": cfg.schedule_label, "metric": metric, "n_seeds": len(idx),
               "class": major, "classes": " ".join(f"{c}:{n}" for c, n in counts.items()),
               "rate": g["rate"].rate, "rate_low": g["rate"].ci[0], "rate_high": g["rate"].ci[1],
               "rate_r2": g["rate"].r2,
               "decades_per_100": decades_per_100_steps(g["rate"].rate), "seed_rate_median": g["seed_rate_median"],
               "seed_rate_q25": g["seed_rate_q25"], "seed_rate_q75": g["seed_rate_q75"],
               "order": g["order"].order, "order_low": g["order"].ci[0],
               "order_high": g["order"].ci[1], "order_r2": g["order"].r2,
               "noise_floor": np.nan, "noise_floor_se": np.nan,
               "diverged": int(np.sum(status[idx] == "diverged"))}
        if major == "diverged":  # fits of blown-up traces mean nothing
            for k in ("rate", "rate_low", "rate_high", "rate_r2", "decades_per_100", "order", "order_low",
                      "order_high", "order_r2", "seed_rate_median", "seed_rate_q25",
                      "seed_rate_q75"):
                row[k] = np.nan
        if major == "plateau":
            ok = [i for i in idx if status[i] != "diverged"]
            nf = noise_floor(e[ok], results.steps, tail)
            row["noise_floor"], row["noise_floor_se"] = nf.value, nf.stderr
        rows.append(row)
    return table_from_rows(rows)


__all__ = ["CLASSES", "LINEAR_R2", "LinearRate", "SublinearOrder", "NoiseFloor", "linear_rate",
           "config_rate", "decades_per_100_steps", "sublinear_order", "noise_floor", "classify",
           "config_classes", "usable", "error_trace", "trajectory_rates", "group_rate",
           "rate_table", "final_values"]
