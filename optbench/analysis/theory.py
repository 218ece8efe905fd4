"""Theory checks: measured rates against the classical bounds, where a bound is known.

Each configuration (problem, optimizer, schedule) of a run is matched against the bounds
below. A bound is claimed only when its hypotheses hold for that configuration (problem
class and constants, optimizer and its exact parameters, schedule); otherwise the row says
"no bound" with the reason. Notation: mu, L the strong-convexity and smoothness constants,
kappa = L/mu, x* the minimizer, t the number of steps, eta the lr.

torch parametrisations (optbench's SGD is torch.optim.SGD):

* Heavy ball. torch keeps b_{k+1} = m b_k + (1 - tau) g_k (b_1 = g_0) and steps
  x_{k+1} = x_k - eta b_{k+1}. Since x_k - x_{k-1} = -eta b_k,
      x_{k+1} = x_k - eta (1 - tau) g_k + m (x_k - x_{k-1}),
  which is Polyak's heavy ball x_{k+1} = x_k - alpha g_k + beta (x_k - x_{k-1}) with
  alpha = eta (1 - tau), beta = m, started with x_{-1} = x_0 (torch's first step uses the
  undamped g_0; this changes one step, not the rate). Polyak's optimal parameters
  alpha = 4/(sqrt(L) + sqrt(mu))^2, beta = ((sqrt(kappa) - 1)/(sqrt(kappa) + 1))^2 give, on
  quadratics, iterates contracting by rho = (sqrt(kappa) - 1)/(sqrt(kappa) + 1) per step
  (Polyak 1964; every eigenvalue of the iteration has modulus sqrt(beta) = rho, with a double
  root at mu and at L, so the error behaves like t rho^t).
* Nesterov. torch's SGD(nesterov=True) steps x_{k+1} = x_k - eta (g_k + m b_{k+1}) with
  b_{k+1} = m b_k + g_k. With v_k = -eta b_k this is x_{k+1} = x_k + m^2 v_k - (1 + m) eta
  g(x_k), which is Sutskever et al.'s (2013) form v_{k+1} = m v_k - eta g(z_k + m v_k),
  z_{k+1} = z_k + v_{k+1} written in the look-ahead variable x_k = z_k + m v_k, i.e.
  Nesterov's (2004, scheme 2.2.19) extrapolated point y_k. On an eigenvalue lam of a
  quadratic, y_{k+1} = (1 + m)(1 - eta lam) y_k - m (1 - eta lam) y_{k-1}; with eta = 1/L,
  m = (sqrt(kappa) - 1)/(sqrt(kappa) + 1) the characteristic polynomial has at lam = mu
  the double root 1 - 1/sqrt(kappa), and for lam > mu complex roots of modulus
  sqrt(m (1 - lam/L)) < 1 - 1/sqrt(kappa). So the iterates contract by 1 - 1/sqrt(kappa)
  per step (times a factor t), and f - f* by its square. (Checked numerically in
  tests/test_analysis.py.)

Tightness: every check reports measured / predicted (``ratio``) with an interval
(``ratio_ci``); for rates log q / log q_predicted (``rate_tightness``), for the 1/t order
p / 1 (``order_tightness``). Where the prediction is exact (GD, heavy ball and Nesterov on
quadratics) a ratio near 1 shows the theory is tight; at exactly optimal momentum tuning the
double root's t rho^t makes the fit over float64's range some 10 % slower, and the momentum
checks allow that factor over the fit window (``rate_tightness(double_root=True)``).

Bounds (``quantity`` says what is compared). Every rate is compared as the rate of
f - f* (``rates.config_rate``, the one rate of analyze, compare and the report): an iterate
bound rho (||x_t - x*|| <= C rho^t) predicts rho^2 for f - f*, since f - f* is a quadratic
form in x - x* on a quadratic and lies between mu/2 and L/2 times ||x - x*||^2 on a smooth
strongly convex problem.

=================================  ==========================================  =================
configuration                      bound                                        quantity
=================================  ==========================================  =================
GD, constant eta in (0, 2/L),      rho = max(|1 - eta mu|, |1 - eta L|):         iterate rate
quadratic (mu > 0)                 1 - 1/kappa at 1/L, (kappa-1)/(kappa+1) at
                                   2/(mu+L) (Nesterov 2004, 1.2.2 and 2.1.5)
GD, eta = 1/L, strongly convex     f - f* rate <= 1 - 1/kappa (Nesterov 2004,    f rate
(not quadratic)                    Thm 2.1.15 / Polyak-Lojasiewicz)
GD, eta = 2/(mu+L), str. convex    ||x - x*|| rate <= (kappa-1)/(kappa+1)        iterate rate
(not quadratic)                    (Nesterov 2004, Thm 2.1.15)
GD, eta <= 1/L, smooth convex      f(x_t) - f* <= ||x0 - x*||^2/(2 eta t)         f(x_t) - f*, all t
                                   (= L ||x0-x*||^2/(2t) at 1/L; Beck & Teboulle
                                   2009, Thm 3.1)
heavy ball, any stable eta, m,     exact: max over lam in {mu, L} of the        iterate rate
quadratic                          spectral radius of the 2x2 iteration
                                   (``momentum_rate``); Polyak's parameters:
                                   (sqrt(kappa)-1)/(sqrt(kappa)+1) (Polyak 1964)
Nesterov (torch), any stable       exact, likewise (``momentum_rate``; Lessard    iterate rate
eta, m, quadratic                  et al. 2016); at eta = 1/L,
                                   m = (sqrt(k)-1)/(sqrt(k)+1): 1 - 1/sqrt(kappa)
Nesterov (torch), eta = 1/L,       1 - 1/sqrt(kappa) (Nesterov 2004, Thm 2.2.3)   f rate
m = (sqrt(k)-1)/(sqrt(k)+1),
strongly convex (not quadratic)
Nesterov, smooth convex            2 L ||x0-x*||^2/(t+1)^2 needs the momentum     (no bound with a
                                   sequence (t_k - 1)/t_{k+1} (Nesterov 1983;     constant momentum)
                                   Beck & Teboulle 2009, Thm 4.4)
SGD, eta_k = beta/(gamma + k),     E[f - f*] = O(1/(gamma + t)) (Bottou, Curtis  order of the
beta mu >= 1, eta_0 <= 1/L,        & Nocedal 2018, Thm 4.7; exactly              median over
quadratic with Gaussian noise      sigma^2/(2 mu t) in 1-D with                   seeds in
                                   eta_k = 1/(mu (k+1)))                          log(gamma + t)
SGD, constant eta < 2/L,           E[f - f*] -> sum_i eta sigma^2/(2(2 - eta      tail mean over
quadratic with Gaussian noise      lam_i)) (1-D: eta sigma^2/(2(2 - eta a)))      seeds
Adam, betas = (0, 1/(1+C^2)),      x_t -> +1, the worst point (Reddi et al.       final x
Reddi online counterexample        2018, Thm 1)
AMSGrad (beta1 < sqrt(beta2),      x_t near x* = -1 (Reddi et al. 2018, Thm 4;   final x
lr <= 0.1), same problem           with a constant lr, within O(lr))
=================================  ==========================================  =================

The noise floor: for x_{k+1} = x_k - eta (a x_k + sigma z_k), z_k ~ N(0, 1) independent,
the mean stays 0 (x* = 0) and V_k = E[x_k^2] obeys V_{k+1} = (1 - eta a)^2 V_k + eta^2 sigma^2,
whose fixed point (stable iff |1 - eta a| < 1, i.e. 0 < eta a < 2) is
V = eta^2 sigma^2 / (1 - (1 - eta a)^2) = eta sigma^2 / (a (2 - eta a)); so
E[f - f*] = a/2 V = eta sigma^2 / (2 (2 - eta a)). Isotropic noise keeps the eigen-coordinates
independent, so a d-dimensional quadratic sums this over its eigenvalues.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ..problems import CONVEX as CONVEX_FAMILIES
from ..problems.classes import problem_class
from ._common import configs, final_values, has_trace, metric_trace, table_from_rows
from .rates import (
    config_classes,
    config_rate,
    error_trace,
    noise_floor,
    sublinear_order,
)

QUADRATIC_TYPES = ("Quadratic", "LeastSquares", "Booth")
#: convex families, by their declared class (optbench.problems.classes)
CONVEX_TYPES = CONVEX_FAMILIES

REFERENCES = {
    "polyak1964": "Polyak, Some methods of speeding up the convergence of iteration methods, "
                  "USSR Comp. Math. Math. Phys. 4(5), 1964",
    "nesterov2004": "Nesterov, Introductory Lectures on Convex Optimization, Kluwer 2004",
    "beck2009": "Beck & Teboulle, A fast iterative shrinkage-thresholding algorithm, "
                "SIAM J. Imaging Sci. 2(1), 2009",
    "bottou2018": "Bottou, Curtis & Nocedal, Optimization methods for large-scale machine "
                  "learning, SIAM Review 60(2), 2018",
    "reddi2018": "Reddi, Kale & Kumar, On the convergence of Adam and beyond, ICLR 2018",
    "lessard2016": "Lessard, Recht & Packard, Analysis and design of optimization algorithms "
                   "via integral quadratic constraints, SIAM J. Optim. 26(1), 2016",
}


@dataclass(frozen=True)
class TheoryCheck:
    """One check: ``status`` is "pass", "fail", "inconclusive" (a rate slower than predicted
    while the run is still sublinear: the budget ended before its linear phase) or "no bound";
    ``measured`` and ``bound`` (the predicted value) are the two numbers compared (NaN with
    "no bound"); ``ci`` the measured value's interval where it has one; ``ratio`` measured
    over predicted, the check's tightness (for a rate q: log q / log q_bound, the ratio of
    their decades per 100 steps; 1 = as fast as predicted) and ``ratio_ci`` its interval
    (the measured interval mapped the same way); ``phase`` the configuration's majority
    trajectory class (``rates.classify``) for rate checks; ``problem_class`` the problem's
    class; ``detail`` says how they were compared or why no bound applies."""

    problem: str
    optimizer: str
    schedule: str
    check: str
    quantity: str
    bound: float
    measured: float
    status: str
    detail: str
    reference: str = ""
    ci: tuple = field(default=(float("nan"), float("nan")))
    ratio: float = float("nan")
    phase: str = ""
    problem_class: str = ""
    ratio_ci: tuple = field(default=(float("nan"), float("nan")))

    @property
    def passed(self):
        return self.status == "pass" if self.status in ("pass", "fail") else None


# ---- closed-form bounds (pure functions, usable on their own) ---------------------------

def gd_quadratic_rate(lr, mu, L) -> float:
    """Contraction factor ``max(|1 - lr mu|, |1 - lr L|)`` of gradient descent on a quadratic
    with spectrum in [mu, L] (1 - 1/kappa at lr = 1/L, (kappa-1)/(kappa+1) at 2/(mu+L))."""
    return max(abs(1.0 - lr * mu), abs(1.0 - lr * L))


def heavy_ball_parameters(mu, L) -> tuple:
    """Polyak's optimal heavy-ball parameters as torch SGD keywords (dampening=0):
    (lr, momentum) = (4/(sqrt(L) + sqrt(mu))^2, ((sqrt(kappa) - 1)/(sqrt(kappa) + 1))^2)."""
    k = math.sqrt(L / mu)
    return 4.0 / (math.sqrt(L) + math.sqrt(mu)) ** 2, ((k - 1.0) / (k + 1.0)) ** 2


def heavy_ball_rate(mu, L) -> float:
    """(sqrt(kappa) - 1)/(sqrt(kappa) + 1) (Polyak 1964)."""
    k = math.sqrt(L / mu)
    return (k - 1.0) / (k + 1.0)


def nesterov_parameters(mu, L) -> tuple:
    """torch SGD(nesterov=True) keywords (lr, momentum) = (1/L, (sqrt(k)-1)/(sqrt(k)+1))."""
    k = math.sqrt(L / mu)
    return 1.0 / L, (k - 1.0) / (k + 1.0)


def nesterov_rate(mu, L) -> float:
    """1 - 1/sqrt(kappa) (Nesterov 2004, Thm 2.2.3)."""
    return 1.0 - math.sqrt(mu / L)


def momentum_rate(lr, momentum, mu, L, nesterov=False) -> float:
    """Asymptotic iterate rate rho of torch's SGD with momentum m (dampening 0; with
    dampening tau pass lr (1 - tau)) on a quadratic with spectrum in [mu, L]: the largest
    spectral radius over lam in [mu, L] of the 2x2 iteration on an eigen-coordinate, whose
    characteristic polynomial is (Polyak 1964; Lessard, Recht & Packard 2016)::

        heavy ball:  z^2 - (1 + m - lr lam) z + m
        Nesterov:    z^2 - (1 + m)(1 - lr lam) z + m (1 - lr lam)

    (complex roots have modulus sqrt of the constant term; the Nesterov recursion is the one
    of the module docstring, in torch's look-ahead iterate). f - f* contracts by rho^2 per
    step. The worst lam is an endpoint: with b the linear coefficient and c the constant
    term, the largest root modulus grows with abs(b) at fixed c = m (heavy ball; abs(b) is
    convex in lam) and, for Nesterov, with abs(1 - lr lam) on each side of lam = 1/lr; a grid
    scan agrees (tests/test_theory_tightness.py). Polyak's parameters give (sqrt(kappa)-1)/(sqrt(kappa)+1)
    (``heavy_ball_rate``), Nesterov's 1 - 1/sqrt(kappa) (``nesterov_rate``). rho >= 1: the
    iteration diverges on some eigen-direction."""
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"momentum_rate: lr must be a finite number > 0, got {lr}")
    if not (0 <= momentum < math.inf):
        raise ValueError(f"momentum_rate: momentum must be >= 0, got {momentum}")
    if not (0 < mu <= L < math.inf):
        raise ValueError(f"momentum_rate: needs 0 < mu <= L < inf, got mu = {mu}, L = {L}")
    worst = 0.0
    for lam in (mu, L):
        if nesterov:
            c = momentum * (1.0 - lr * lam)
            b = (1.0 + momentum) * (1.0 - lr * lam)
        else:
            c = momentum
            b = 1.0 + momentum - lr * lam
        disc = b * b - 4.0 * c
        r = (abs(b) + math.sqrt(disc)) / 2.0 if disc >= 0 else math.sqrt(c)
        worst = max(worst, r)
    return worst


def gd_convex_bound(t, dist0_sq, lr) -> np.ndarray:
    """||x0 - x*||^2 / (2 lr t) for lr <= 1/L (L ||x0 - x*||^2/(2t) at lr = 1/L)."""
    return dist0_sq / (2.0 * lr * np.asarray(t, dtype=np.float64))


def nesterov_convex_bound(t, dist0_sq, L) -> np.ndarray:
    """2 L ||x0 - x*||^2 / (t + 1)^2 (Beck & Teboulle 2009, Thm 4.4; needs the momentum
    sequence of Nesterov 1983, not a constant momentum)."""
    return 2.0 * L * dist0_sq / (np.asarray(t, dtype=np.float64) + 1.0) ** 2


def sgd_noise_floor(lr, sigma, eigenvalues) -> float:
    """Stationary E[f - f*] of constant-step SGD on 1/2 x^T A x with gradient noise
    sigma z, z ~ N(0, I): sum_i lr sigma^2 / (2 (2 - lr lam_i)) (needs lr lam_i < 2)."""
    lam = np.atleast_1d(np.asarray(eigenvalues, dtype=np.float64))
    if np.any(lr * lam >= 2.0) or lr <= 0:
        return float("inf")
    return float(np.sum(lr * sigma ** 2 / (2.0 * (2.0 - lr * lam))))


def reddi_average_regret(x, C) -> np.ndarray:
    """Average regret R_T / T, T = 1, 2, ..., of iterates x_0, x_1, ... on Reddi et al.'s
    (2018) online problem: step k plays x_k against f_{k+1}(x) = C x if k mod 3 = 0, else
    -x, and R_T = sum_{k<T} f_{k+1}(x_k) - min_{x in [-1, 1]} sum_{k<T} f_{k+1}(x) (the
    minimum is minus the absolute sum of the slopes). ``x``: (..., T) iterates recorded at
    every step.
    Theorem 1: Adam with beta1 = 0, beta2 = 1/(1 + C^2) has x_t -> +1 and R_T / T ->
    2 (C - 2)/3; AMSGrad (Theorem 4) has R_T / T -> 0."""
    x = np.asarray(x, dtype=np.float64)
    k = np.arange(x.shape[-1])
    slope = np.where(k % 3 == 0, float(C), -1.0)
    best = -np.abs(np.cumsum(slope))
    return (np.cumsum(slope * x, axis=-1) - best) / (k + 1.0)


# ---- measured against predicted (the tightness of a check) --------------------------------

@dataclass(frozen=True)
class Tightness:
    """A measured quantity against its prediction: ``measured`` with its interval ``ci``,
    ``predicted``, the tightness ``ratio`` with its interval ``ratio_ci``, ``verdict``
    ("pass", "fail" or "inconclusive"), the fit it came from (``fit``: a ``LinearRate`` or a
    ``SublinearOrder``) and ``why`` (how the verdict was reached)."""

    measured: float
    ci: tuple
    predicted: float
    ratio: float
    ratio_ci: tuple
    verdict: str
    fit: object
    why: str


def rate_tightness(errors, steps, predicted, rate_rtol: float = 0.1,
                   phase: str | None = None, double_root: bool = False) -> Tightness:
    """The rate q of f - f* (``rates.config_rate`` of the median over the rows of
    ``errors``) against a predicted rate q_p in (0, 1): ratio log q / log q_p (their decades
    per 100 steps; 1 = exactly as fast), its interval from q's. Pass when
    log q / log q_a >= 1 - rate_rtol (at least that fast: a bound is an upper bound), where
    q_a = q_p, or also with ``double_root`` (a 2x2 iteration such as heavy ball or Nesterov,
    whose roots may coincide or nearly so: the norm of M^t is at most C t rho^t, a double root
    behaving like t rho^t) q_a = q_p (t2/t1)^(2/(t2 - t1)), the slowest fitted rate of
    t^2 rho^(2t) over the fit's steps [t1, t2]; a slower run is "inconclusive" when ``phase``
    (the seeds' majority ``rates.classify`` class; computed when None) is "sublinear", the
    budget having ended before the linear phase, else "fail"; "inconclusive" too when no
    rate could be fitted."""
    if not 0 < predicted < 1:
        raise ValueError(f"rate_tightness: predicted rate must be in (0, 1), got {predicted}")
    e = np.atleast_2d(np.asarray(errors, dtype=np.float64))
    fit = config_rate(e, steps)
    nan2 = (float("nan"), float("nan"))
    if not np.isfinite(fit.rate):
        return Tightness(float("nan"), nan2, predicted, float("nan"), nan2, "inconclusive", fit,
                         "too few recorded points above the round-off floor to fit a rate")
    if phase is None:
        phase = config_classes(e, steps, ["finished"] * len(e), [False] * len(e))[0]
    lp = math.log(predicted)
    with np.errstate(divide="ignore"):
        ratio = float(np.log(fit.rate) / lp)
        ratio_ci = tuple(sorted(float(np.log(c) / lp) for c in fit.ci))
    la, allowed = lp, ""
    if double_root:
        t1, t2 = max(fit.start, 1), fit.stop
        la = lp + 2.0 * math.log(t2 / t1) / (t2 - t1) if t2 > t1 else 0.0
        allowed = (f" (predicted {predicted:.6g} times the factor t^2 of a double root over "
                   f"steps {t1}-{t2}: {math.exp(la):.6g})")
    speed = math.log(fit.rate) / la if la < 0 else -math.inf  # window too short for it
    ok = max(ratio, speed) >= 1.0 - rate_rtol
    verdict = "pass" if ok else "inconclusive" if phase == "sublinear" else "fail"
    why = (f"pass if log(measured)/log(predicted) >= {1 - rate_rtol:g}, it is {ratio:.3f}"
           + (f", or log(measured)/log(allowed{allowed}) is, it is {speed:.3f}"
              if double_root else "")
           + ("; inconclusive: slower, still sublinear when the budget ended"
              if verdict == "inconclusive" else ""))
    return Tightness(fit.rate, fit.ci, predicted, ratio, ratio_ci, verdict, fit, why)


def order_tightness(errors, steps, predicted: float = 1.0, offset: float = 0.0,
                    order_tol: float = 0.0, min_decades: float = 0.75,
                    max_width: float = 0.5, n_boot: int = 400,
                    max_points: int = 100) -> Tightness:
    """The order p of the median over the rows (seeds) of ``errors``, e ~ C (t + offset)^-p
    (``rates.sublinear_order`` against log(t + offset): the last half of that log range),
    against a predicted order (1 for O(1/t)); ratio p / predicted. The interval is a
    percentile bootstrap over seeds (``stats.bootstrap_ci``, ``n_boot`` resamples of the
    rows, the same window thinned to ``max_points`` log-spaced records, which give the
    measured order too; the regression's t-interval with one row): the median's errors are
    correlated from step to step, so the t-interval of the fit would be far too narrow.
    Pass when the interval reaches predicted (1 - order_tol) (it contains the predicted
    order or is steeper: an O(1/t) bound allows faster); "inconclusive" when the fitted
    window spans fewer than ``min_decades`` decades of t + offset (too short to tell the
    asymptotic order) or the interval is wider than ``max_width`` (too noisy); else "fail".
    For lr_t = beta/(gamma + t) the bound is nu/(gamma + t) (Bottou, Curtis & Nocedal 2018,
    Thm 4.7): pass gamma as ``offset``, since the slope of 1/(gamma + t) against log t is
    t/(gamma + t) < 1. The median is at most twice the mean (Markov), so the bound on
    E[f - f*] bounds the median too."""
    from .stats import bootstrap_ci

    e = np.atleast_2d(np.asarray(errors, dtype=np.float64))
    s = np.asarray(steps, dtype=np.float64) + float(offset)
    if not (offset >= 0 and np.all(np.isfinite(s))):
        raise ValueError(f"order_tightness: offset must be a finite number >= 0, got {offset}")
    with np.errstate(all="ignore"):
        med = np.median(e, axis=0)
    fit = sublinear_order(med, s)
    nan2 = (float("nan"), float("nan"))
    if not np.isfinite(fit.order):
        return Tightness(float("nan"), nan2, predicted, float("nan"), nan2, "inconclusive", fit,
                         "too few recorded points to fit an order")
    order, ci = fit.order, fit.ci
    if len(e) > 1:  # the fitted window (start/stop are truncated; steps are >= 1 apart)
        cols = np.flatnonzero((s >= fit.start) & (s < fit.stop + 1))
        if len(cols) > max_points:  # log-spaced records: neighbours add cost, not information
            near = np.searchsorted(s[cols], np.geomspace(s[cols[0]], s[cols[-1]], max_points))
            cols = cols[np.unique(np.minimum(near, len(cols) - 1))]
        ew, sw = e[:, cols], s[cols]

        def window_order(rows):
            with np.errstate(all="ignore"):
                m = np.median(ew[rows.astype(np.intp)], axis=0)
            return sublinear_order(m, sw, tail=1.0).order

        order, low, high = bootstrap_ci(np.arange(len(e)), window_order, n_boot=n_boot)
        ci = (low, high)
    ratio, ratio_ci = order / predicted, (ci[0] / predicted, ci[1] / predicted)
    decades = math.log10(max(fit.stop, 1) / max(fit.start, 1))
    width = ci[1] - ci[0]
    if decades < min_decades:
        verdict, why = "inconclusive", (f"inconclusive: the fit spans {decades:.2f} decades of "
                                        f"t + {offset:g} (needs >= {min_decades:g})")
    elif not width <= max_width:
        verdict, why = "inconclusive", (f"inconclusive: interval width {width:.2f} > "
                                        f"{max_width:g} (too noisy)")
    else:
        ok = ci[1] >= predicted * (1.0 - order_tol)
        verdict = "pass" if ok else "fail"
        why = (f"pass if the order's interval reaches {predicted * (1 - order_tol):g} "
               f"(contains it or is steeper); it is [{ci[0]:.3f}, {ci[1]:.3f}]")
    return Tightness(order, ci, predicted, ratio, ratio_ci, verdict, fit, why)


# ---- matching configurations to bounds ----------------------------------------------------

def _close(a, b, rtol=1e-6):
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-300)


class _Ctx:
    """What the checks read about one configuration."""

    def __init__(self, results, cfg, errors):
        self.results, self.cfg = results, cfg
        self._errors = errors
        plan = results.plan
        self.problem = plan.problems[cfg.problem]
        self.opt = plan.optimizers[cfg.optimizer]
        self.sched = plan.schedules[cfg.schedule] if cfg.schedule >= 0 else None
        self.ptype = type(self.problem).__name__
        self.otype = type(self.opt).__name__
        self.idx = list(cfg.trials)
        self.mu = self.problem.mu
        self.L = self.problem.L
        self.stochastic = self.problem.is_stochastic
        self.status = np.asarray(results.trials["status"])[self.idx]

    @property
    def error(self) -> np.ndarray:
        """f - f* of the configuration's seeds (``rates.error_trace``)."""
        return self._errors()[self.idx]

    def row(self, check, quantity, bound, measured, ok, detail, ref, ci=(np.nan, np.nan),
            ratio=np.nan, phase="", ratio_ci=None):
        """One ``TheoryCheck``; ratio (and, from ``ci``, its interval) measured / bound
        unless given."""
        status = ok if isinstance(ok, str) else "no bound" if ok is None else (
            "pass" if ok else "fail")
        scaled = bound != 0 and np.isfinite(bound)
        if np.isnan(ratio) and scaled:
            ratio = measured / bound
        if ratio_ci is None:
            ratio_ci = (tuple(sorted(c / bound for c in ci)) if scaled
                        else (np.nan, np.nan))
        return TheoryCheck(self.cfg.problem_label, self.cfg.optimizer_label,
                           self.cfg.schedule_label, check, quantity, float(bound),
                           float(measured), status, detail, REFERENCES.get(ref, ref),
                           tuple(float(c) for c in ci), float(ratio), phase,
                           problem_class(self.problem), tuple(float(c) for c in ratio_ci))

    def phase(self) -> str:
        """The majority class of the seeds' f - f* traces (``rates.config_classes``)."""
        stochastic = np.full(len(self.idx), self.stochastic)
        return config_classes(self.error, self.results.steps, self.status, stochastic)[0]

    @property
    def constant_lr(self) -> bool:
        if self.sched is None:
            return True
        if has_trace(self.results, "lr"):
            lr = self.results.trace("lr")[self.idx]
            return bool(np.all(lr == float(self.opt.lr)))
        return False

    @property
    def plain_sgd(self) -> bool:
        o = self.opt
        return (self.otype == "SGD" and o.momentum == 0.0 and o.weight_decay == 0.0
                and not o.maximize)

    @property
    def known_constants(self) -> bool:
        return (self.L is not None and self.mu is not None and self.L > 0
                and math.isfinite(self.L))

    @property
    def strongly_convex(self) -> bool:
        return self.ptype in CONVEX_TYPES and self.known_constants and self.mu > 0


def _rate_row(ctx, check, bound, ref, rate_rtol, iterate=True, note="", double_root=False):
    """Rate check of f - f*: ``rate_tightness`` of the configuration's seeds against the
    predicted rate, ``bound`` ** 2 for an iterate bound (``iterate``), else ``bound``;
    ``note`` ends the detail."""
    predicted = bound ** 2 if iterate else bound
    quantity = "f - f* rate"
    if np.any(ctx.status == "diverged"):
        return ctx.row(check, quantity, predicted, np.nan, False,
                       f"{int(np.sum(ctx.status == 'diverged'))} seed(s) diverged", ref)
    phase = ctx.phase()
    t = rate_tightness(ctx.error, ctx.results.steps, predicted, rate_rtol, phase, double_root)
    if not np.isfinite(t.measured):
        return ctx.row(check, quantity, predicted, np.nan, t.verdict, t.why, ref, phase=phase)
    fit = t.fit
    detail = (f"rate of the median f - f* over steps {fit.start}-{fit.stop} (r2 {fit.r2:.4f}; "
              f"phase {phase}); predicted "
              + (f"{bound:.6g}^2 (iterate rate squared)" if iterate else f"{bound:.6g}")
              + f"; {t.why}" + (f"; {note}" if note else ""))
    return ctx.row(check, quantity, predicted, t.measured, t.verdict, detail, ref, t.ci,
                   t.ratio, phase, t.ratio_ci)


def _check_gd(ctx, rate_rtol):
    """Plain GD, deterministic, constant lr: the rate checks."""
    if not ctx.plain_sgd:
        return None
    if ctx.stochastic:
        return None  # handled by the SGD checks
    if not ctx.constant_lr:
        return "GD bounds need a constant lr"
    if not ctx.known_constants or ctx.ptype not in CONVEX_TYPES:
        return f"{ctx.ptype} does not know L (or is not convex)"
    lr, L, mu = float(ctx.opt.lr), ctx.L, ctx.mu
    out = []
    if mu > 0:
        if ctx.ptype in QUADRATIC_TYPES:
            if lr * L >= 2.0:
                return f"lr = {lr:g} >= 2/L = {2 / L:g}: GD diverges on this quadratic"
            name = ("GD step 1/L" if _close(lr, 1 / L) else
                    "GD step 2/(mu+L)" if _close(lr, 2 / (mu + L)) else "GD constant step")
            out.append(_rate_row(ctx, name + " (quadratic)", gd_quadratic_rate(lr, mu, L),
                                 "nesterov2004", rate_rtol))
        elif _close(lr, 1 / L):
            out.append(_rate_row(ctx, "GD step 1/L (strongly convex)", 1 - mu / L,
                                 "nesterov2004", rate_rtol, iterate=False))
        elif _close(lr, 2 / (mu + L)):
            out.append(_rate_row(ctx, "GD step 2/(mu+L) (strongly convex)", (L - mu) / (L + mu),
                                 "nesterov2004", rate_rtol))
    if lr <= L ** -1 * (1 + 1e-9):
        out.append(_check_gd_convex(ctx, lr))
    return out or f"no rate bound for GD with lr = {lr:g} on {ctx.ptype} (mu = {mu})"


def _check_gd_convex(ctx, lr):
    ref = "beck2009"
    name = "GD smooth convex O(1/t)"
    res = ctx.results
    if len(ctx.problem.minimizers) == 0 or not np.isfinite(ctx.problem.f_star):
        return ctx.row(name, "f(x_t) - f*", np.nan, np.nan, None, "x* or f* unknown", ref)
    if not has_trace(res, "dist_to_opt"):
        return ctx.row(name, "f(x_t) - f*", np.nan, np.nan, None,
                       "needs the dist_to_opt trace (for ||x0 - x*||)", ref)
    if np.any(ctx.status == "diverged"):
        return ctx.row(name, "f(x_t) - f*", np.nan, np.nan, False, "diverged", ref)
    gap = metric_trace(res, "suboptimality")[ctx.idx]
    d0 = metric_trace(res, "dist_to_opt")[ctx.idx, 0]
    t = res.steps.astype(np.float64)
    pos = t >= 1
    bound = gd_convex_bound(t[pos][None, :], (d0 ** 2)[:, None], lr)
    slack = 1e-12 * (abs(ctx.problem.f_star) + 1.0)  # round-off of f - f*
    ratio = (gap[:, pos] - slack) / bound
    worst = float(np.nanmax(ratio))
    ok = worst <= 1.0 + 1e-9
    detail = (f"for every recorded t >= 1 and seed, f - f* <= ||x0-x*||^2/(2 lr t); "
              f"max ratio (f - f*)/bound = {worst:.3g}; numbers: median at t = {int(t[-1])}")
    return ctx.row(name, "f(x_t) - f*", float(np.median(bound[:, -1])),
                   float(np.median(gap[:, -1])), ok, detail, ref)


def _momentum_row(ctx, rate_rtol, nesterov):
    """Heavy ball or Nesterov (torch's SGD with momentum, constant lr) on a strongly convex
    quadratic: the predicted rate is the exact spectral radius (``momentum_rate``) of the
    parameters run, compared in the detail with the optimally tuned rate."""
    o, mu, L = ctx.opt, ctx.mu, ctx.L
    lr = float(o.lr) * (1.0 - float(o.dampening))
    m = float(o.momentum)
    what = "Nesterov (torch form)" if nesterov else "heavy ball"
    if not lr > 0:
        return f"{what}: lr (1 - dampening) = {lr:g} takes no step"
    rho = momentum_rate(lr, m, mu, L, nesterov)
    if rho >= 1.0:
        return (f"{what} with lr {lr:g}, momentum {m:g} is unstable on [mu, L] = [{mu:g}, "
                f"{L:g}] (spectral radius {rho:.6g} >= 1)")
    best_lr, best_m = (nesterov_parameters if nesterov else heavy_ball_parameters)(mu, L)
    best = (nesterov_rate if nesterov else heavy_ball_rate)(mu, L)
    tuned = _close(lr, best_lr) and _close(m, best_m)
    name = (f"{what}, quadratic, "
            + ("optimal parameters" if tuned else "exact rate of lr, momentum"))
    note = (f"optimal tuning (lr {best_lr:.6g}, momentum {best_m:.6g}) gives iterate rate "
            f"{best:.6g}" + ("" if tuned else f", {math.log(best) / math.log(rho):.3g}x as "
                             "fast as these parameters"))
    ref = ("polyak1964" if not nesterov else "nesterov2004" if tuned else "lessard2016")
    return [_rate_row(ctx, name, rho, ref, rate_rtol, note=note, double_root=True)]


def _check_heavy_ball(ctx, rate_rtol):
    o = ctx.opt
    if not (ctx.otype == "SGD" and o.momentum > 0 and not o.nesterov):
        return None
    if ctx.stochastic or not ctx.constant_lr or o.weight_decay != 0 or o.maximize:
        return "heavy-ball bound: needs a deterministic problem, constant lr, no weight decay"
    if ctx.ptype not in QUADRATIC_TYPES or not ctx.strongly_convex:
        return (f"heavy ball has an accelerated bound only on strongly convex quadratics "
                f"({ctx.ptype} is not one)")
    return _momentum_row(ctx, rate_rtol, nesterov=False)


def _check_nesterov(ctx, rate_rtol):
    o = ctx.opt
    if not (ctx.otype == "SGD" and o.nesterov):
        return None
    if ctx.stochastic or not ctx.constant_lr or o.weight_decay != 0 or o.maximize:
        return "Nesterov bound: needs a deterministic problem, constant lr, no weight decay"
    if not ctx.known_constants or ctx.ptype not in CONVEX_TYPES:
        return f"{ctx.ptype} does not know L (or is not convex)"
    if ctx.mu <= 0:
        return ("Nesterov's O(1/t^2) bound on smooth convex problems needs the momentum "
                "sequence (t_k - 1)/t_{k+1}; a constant momentum has no such bound")
    if ctx.ptype in QUADRATIC_TYPES:
        return _momentum_row(ctx, rate_rtol, nesterov=True)
    lr_n, m_n = nesterov_parameters(ctx.mu, ctx.L)
    if not (_close(float(o.lr), lr_n) and _close(float(o.momentum), m_n)):
        return (f"lr {o.lr:g}, momentum {o.momentum:g} are not (1/L, (sqrt(kappa)-1)/"
                f"(sqrt(kappa)+1)) = ({lr_n:.6g}, {m_n:.6g})")
    return [_rate_row(ctx, "Nesterov (torch form), strongly convex", nesterov_rate(ctx.mu, ctx.L),
                      "nesterov2004", rate_rtol, iterate=False)]


def _gaussian_quadratic(ctx):
    kind, sigma, _ = ctx.problem.noise_model()
    return (ctx.ptype == "Quadratic" and kind == 1 and ctx.problem.batch_size == 0, sigma)


def _check_sgd_decay(ctx, order_tol):
    """SGD with lr_k = beta/(gamma + k) (``InverseTimeDecay``: beta = lr d_s/d_r,
    gamma = d_s/d_r) on a Quadratic with Gaussian gradient noise: E[f - f*] <= nu/(gamma + k)
    when beta mu > 1 and the first step lr <= 1/L (Bottou, Curtis & Nocedal 2018, Thm 4.7,
    their c = mu and mu = M_G = 1 for additive noise; on a quadratic the second-moment
    recursion V <- (1 - lr_k lam)^2 V + lr_k^2 sigma^2 gives O(1/k) already for
    2 beta lam > 1, so beta mu = 1 is accepted). ``order_tightness`` of the median f - f*
    against log(gamma + k)."""
    if not (ctx.plain_sgd and ctx.stochastic) or ctx.sched is None:
        return None
    ok, _ = _gaussian_quadratic(ctx)
    s = ctx.sched
    if type(s).__name__ != "InverseTimeDecay":
        return f"no bound for SGD under {type(s).__name__}"
    if not ok:
        return "the 1/(mu t) check needs a Quadratic with Gaussian additive gradient noise"
    if s.staircase or s.decay_rate <= 0 or isinstance(s.decay_steps, str):
        return "InverseTimeDecay must be smooth (staircase=False) with decay_rate > 0"
    gamma = s.decay_steps / s.decay_rate
    beta = float(ctx.opt.lr) * gamma
    if beta * ctx.mu < 1.0 - 1e-9 or float(ctx.opt.lr) > (1 + 1e-9) / ctx.L:
        return (f"lr_k = beta/(gamma + k) with beta mu = {beta * ctx.mu:.3g} (needs >= 1) and "
                f"lr_0 = {ctx.opt.lr:g} (needs <= 1/L)")
    ref = "bottou2018"
    name = "SGD lr = beta/(gamma+k), beta >= 1/mu: O(1/t)"
    quantity = "order p of median f - f*"
    if np.any(ctx.status == "diverged"):
        return [ctx.row(name, quantity, 1.0, np.nan, False, "diverged", ref)]
    t = order_tightness(metric_trace(ctx.results, "suboptimality")[ctx.idx], ctx.results.steps,
                        1.0, gamma, order_tol)
    fit = t.fit
    detail = (f"log-log fit of the median over {len(ctx.idx)} seeds against log(gamma + t), "
              f"gamma = {gamma:g}, beta mu = {beta * ctx.mu:.3g}, steps "
              f"{fit.start - gamma:g}-{fit.stop - gamma:g} (r2 {fit.r2:.3f}); {t.why}")
    return [ctx.row(name, quantity, 1.0, t.measured, t.verdict, detail, ref, t.ci, t.ratio,
                    ratio_ci=t.ratio_ci)]


def _check_sgd_floor(ctx, z_tol):
    if not (ctx.plain_sgd and ctx.stochastic) or not ctx.constant_lr:
        return None
    ok, sigma = _gaussian_quadratic(ctx)
    if not ok:
        return "the noise-floor formula needs a Quadratic with Gaussian additive gradient noise"
    lr = float(ctx.opt.lr)
    lam = ctx.problem.eigenvalues_array()
    if lr * lam.max() >= 2.0:
        return f"lr = {lr:g} >= 2/L: constant-step SGD has no stationary regime"
    ref = "bottou2018"
    name = "SGD constant step: noise floor"
    predicted = sgd_noise_floor(lr, sigma, lam)
    if np.any(ctx.status == "diverged"):
        return [ctx.row(name, "E[f - f*] stationary", predicted, np.nan, False, "diverged", ref)]
    steps = ctx.results.steps
    gap = metric_trace(ctx.results, "suboptimality")[ctx.idx]
    t0 = steps[-1] / 2.0
    transient = float(np.median(gap[:, 0])) * (1.0 - lr * lam.min()) ** (2 * t0)
    if transient > 0.01 * predicted:
        return ("run too short for the stationary regime (transient "
                f"{transient:.3g} > 1% of the floor at step {int(t0)})")
    if len(ctx.idx) < 2:
        return "the noise-floor check needs at least 2 seeds"
    nf = noise_floor(gap, steps, tail=0.5)
    z = (nf.value - predicted) / nf.stderr if nf.stderr > 0 else np.inf
    detail = (f"mean over {nf.n} seeds of each seed's mean f - f* over steps >= {int(t0)}, "
              f"standard error {nf.stderr:.3g}; pass if |z| <= {z_tol:g}, z = {z:.2f}")
    ci = (nf.value - 1.96 * nf.stderr, nf.value + 1.96 * nf.stderr)
    return [ctx.row(name, "E[f - f*] stationary", predicted, nf.value, abs(z) <= z_tol,
                    detail, ref, ci)]


def _check_reddi(ctx):
    if ctx.ptype != "ReddiCounterexample" or ctx.otype not in ("Adam", "AdamW"):
        return None
    p, o = ctx.problem, ctx.opt
    if p.stochastic:
        return "no check for the stochastic counterexample (Theorem 3 needs C, delta tuned)"
    if o.weight_decay != 0 or o.maximize or p.noise > 0:
        return "Reddi check: needs no weight decay, no extra noise"
    b1, b2 = o.betas
    x_final = final_values(ctx.results, "loss")[ctx.idx] / p.slope  # F(x) = slope * x
    ref = "reddi2018"
    med = float(np.median(x_final))
    q = (float(np.min(x_final)), float(np.max(x_final)))
    if not o.amsgrad:
        if not (b1 == 0.0 and _close(b2, 1.0 / (1.0 + p.C ** 2))):
            return (f"Adam fails provably on this instance only with betas = (0, 1/(1+C^2)) = "
                    f"(0, {1 / (1 + p.C ** 2):.6g}); got {tuple(o.betas)}")
        return [ctx.row("Adam on Reddi's counterexample ends at x = +1", "final x", 1.0, med,
                        _reddi_verdict(ctx, med >= 0.75, 1.0), "median final x over seeds "
                        "(x* = -1); pass if >= 0.75 (the wrong end of [-1, 1])" + _STILL_MOVING,
                        ref, q)]
    lr_final = float(o.lr)
    if has_trace(ctx.results, "lr"):
        lr_final = float(np.max(ctx.results.trace("lr")[ctx.idx, -1]))
    if not (b1 < math.sqrt(b2)) or lr_final > 0.1:
        return "AMSGrad check: needs beta1 < sqrt(beta2) and a final lr <= 0.1"
    return [ctx.row("AMSGrad on Reddi's counterexample ends near x* = -1", "final x", -1.0, med,
                    _reddi_verdict(ctx, med <= -0.75, -1.0), "median final x over seeds; pass "
                    "if <= -0.75 (constant lr: a neighbourhood of size O(lr))" + _STILL_MOVING,
                    ref, q)]


_STILL_MOVING = ("; inconclusive when the run ended first: the median x_t still moved toward "
                 "it by more than 0.05 over the second half of the run, or the lr applied in "
                 "that half sums to less than the distance left (Adam-type steps move x by "
                 "about lr)")


def _reddi_verdict(ctx, ok, target):
    """True (pass), or, for a median x_t short of ``target``: "inconclusive" when the budget
    ended first (x_t still moves toward it by > 0.05 from the middle of the run to its end,
    or the second half's sum of lr is below the distance left), else False (fail)."""
    if ok:
        return True
    x = np.median(metric_trace(ctx.results, "loss")[ctx.idx] / ctx.problem.slope, axis=0)
    steps = ctx.results.steps.astype(np.float64)
    mid = int(np.searchsorted(steps, steps[-1] / 2.0, side="right")) - 1
    if has_trace(ctx.results, "lr"):
        lr = np.median(ctx.results.trace("lr")[ctx.idx], axis=0)
        lr_sum = float(np.sum(0.5 * (lr[mid + 1:] + lr[mid:-1]) * np.diff(steps[mid:])))
    else:
        lr_sum = float(ctx.opt.lr) * (steps[-1] - steps[mid])
    moving = (x[-1] - x[mid]) * np.sign(target - x[mid]) > 0.05
    return "inconclusive" if moving or lr_sum < abs(target - x[-1]) else False


def theory_checks(results, rate_rtol: float = 0.1, order_tol: float = 0.0,
                  z_tol: float = 4.0) -> list[TheoryCheck]:
    """Compare each configuration's measured behaviour with the bound that applies to it.

    Returns one ``TheoryCheck`` per (configuration, bound), and a "no bound" row (with the
    reason) for every configuration no bound applies to. Rate bounds pass when the
    configuration's rate q of f - f* (``rates.config_rate``) and the predicted rate q_b of
    f - f* satisfy log q <= (1 - rate_rtol) log q_b, i.e. the run converges at least
    (1 - rate_rtol) as fast as the bound says (slack for the t rho^t transients of double
    eigenvalues; heavy ball and Nesterov are also allowed a double root's factor t over the
    fit's steps, ``rate_tightness(double_root=True)``); a slower run is "inconclusive" when
    its seeds are still sublinear at the
    end of the budget (``rates.classify``: it ended before the linear phase), else it fails;
    the
    smooth-convex bound must hold at every recorded step; the interval of the 1/t order
    must reach 1 - order_tol (``order_tightness``: inconclusive when too short or noisy);
    the noise floor must agree within z_tol standard errors over seeds. See
    the module docstring for the bounds, their hypotheses and references (Polyak 1964;
    Nesterov 2004; Beck & Teboulle 2009; Bottou et al. 2018; Reddi et al. 2018).
    """
    out = []
    errors = functools.cache(lambda: error_trace(results))  # once, when a rate check needs it
    for cfg in configs(results):
        ctx = _Ctx(results, cfg, errors)
        reasons, rows = [], []
        for check in (lambda: _check_gd(ctx, rate_rtol), lambda: _check_heavy_ball(ctx, rate_rtol),
                      lambda: _check_nesterov(ctx, rate_rtol),
                      lambda: _check_sgd_decay(ctx, order_tol),
                      lambda: _check_sgd_floor(ctx, z_tol), lambda: _check_reddi(ctx)):
            got = check()
            if isinstance(got, str):
                reasons.append(got)
            elif got:
                rows.extend(got)
        if not rows:
            why = "; ".join(reasons) or f"no known bound for {ctx.otype} on {ctx.ptype}"
            rows.append(ctx.row("no bound", "", np.nan, np.nan, None, why, ""))
        out.extend(rows)
    return out


def theory_table(results, **kw):
    """``theory_checks`` as a ``DataFrame`` (for CSV and the terminal)."""
    rows = []
    for c in theory_checks(results, **kw):
        rows.append({"problem": c.problem, "optimizer": c.optimizer, "schedule": c.schedule,
                     "problem_class": c.problem_class, "check": c.check, "quantity": c.quantity,
                     "measured": c.measured, "measured_low": c.ci[0], "measured_high": c.ci[1],
                     "bound": c.bound, "ratio": c.ratio, "ratio_low": c.ratio_ci[0],
                     "ratio_high": c.ratio_ci[1], "phase": c.phase,
                     "status": c.status, "detail": c.detail, "reference": c.reference})
    return table_from_rows(rows)


__all__ = ["TheoryCheck", "Tightness", "theory_checks", "theory_table", "rate_tightness",
           "order_tightness", "momentum_rate", "gd_quadratic_rate",
           "heavy_ball_parameters", "heavy_ball_rate", "nesterov_parameters", "nesterov_rate",
           "gd_convex_bound", "nesterov_convex_bound", "sgd_noise_floor",
           "reddi_average_regret", "QUADRATIC_TYPES", "CONVEX_TYPES"]
