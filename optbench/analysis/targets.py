"""Targets, performance and data profiles, runtime distributions (ECDFs).

Costs count function evaluations the way More & Wild (2009) do: the start point is the first
evaluation and every optimizer step evaluates once more, so a target first met after k steps
costs k + 1 evaluations. Traces recorded every k-th or log-spaced step give the first
*recorded* step at which a target is met, an upper bound on the true one (exact with
``record_every=1``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..problems.classes import MULTIMODAL, problem_class
from ._common import censored_trace, configs, default_metric, table_from_rows

#: COCO's default targets f - f* = 10^2 ... 10^-8 (51 values, Hansen et al. 2021)
COCO_TARGETS = 10.0 ** np.linspace(2.0, -8.0, 51)


def first_hit(values, steps, thresholds) -> np.ndarray:
    """First recorded step at which ``values`` (n, R) is <= each threshold.

    values: (n, R) traces; thresholds: scalar, (T,) shared, or (n, T) per row.
    Returns (n, T) floats: the step, or inf where never reached. NaN values never hit.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[None, :]
    steps = np.asarray(steps, dtype=np.float64)
    th = np.asarray(thresholds, dtype=np.float64)
    if th.ndim == 0:
        th = th[None]
    if th.ndim == 1:
        th = np.broadcast_to(th, (v.shape[0], th.shape[0]))
    # running minimum (nan -> +inf): the first hit of v <= eps equals that of min_{j<=r} v_j
    run = np.minimum.accumulate(np.where(np.isnan(v), np.inf, v), axis=1)
    out = np.full(th.shape, np.inf)
    for j in range(th.shape[1]):
        hit = run <= th[:, j:j + 1]
        any_ = hit.any(axis=1)
        first = np.argmax(hit, axis=1)
        out[any_, j] = steps[first[any_]]
    return out


def steps_to_target(results, eps, metric: str = "suboptimality", relative: bool = False,
                    f_low: str = "best"):
    """Steps to reach ``metric <= eps`` for each trajectory and each eps.

    With ``relative=False`` the target is absolute: f - f* <= eps (needs f*; any error metric
    works). With ``relative=True`` (for problems with unknown f*) it is More & Wild's test
    f(x0) - f(x) >= (1 - eps)(f(x0) - f_L) on the loss, f_L the best loss any trajectory of
    the run reached on that (problem, seed) pair (``f_low="best"``), or f* where the problem
    knows it and is not multimodal (``f_low="f_star"``: then f - f* <= eps (f(x0) - f*) on
    the suboptimality).
    Returns an (n_trials, n_eps) float array of recorded steps, inf where never reached (a
    diverged trajectory only counts steps before its divergence).
    """
    eps = np.atleast_1d(np.asarray(eps, dtype=np.float64))
    if relative:
        return _relative_hits(results, eps, f_low=f_low)
    return first_hit(censored_trace(results, metric), results.steps, eps)


def _relative_hits(results, taus, metric="loss", f_low="best"):
    """First recorded steps (n, T) of More & Wild's convergence test (see steps_to_target)."""
    if f_low not in ("best", "f_star"):
        raise ValueError(f"f_low must be 'best' or 'f_star', got {f_low!r}")
    taus = np.asarray(taus, dtype=np.float64)
    f = censored_trace(results, metric)
    f[~np.isfinite(f)] = np.inf
    f0 = f[:, 0]
    # f_L per (problem, seed): the lowest value of the run there
    keys = np.array([(t.problem, t.seed) for t in results.plan.trials]).reshape(-1, 2)
    _, group = np.unique(keys, axis=0, return_inverse=True)
    group = group.ravel()
    fL = np.full(group.max() + 1 if len(group) else 0, np.inf)
    np.minimum.at(fL, group, f.min(axis=1))
    fL = fL[group]
    # f0 - f >= (1 - tau)(f0 - fL)  <=>  f <= f0 - (1 - tau)(f0 - fL)
    th = f0[:, None] - (1.0 - taus[None, :]) * (f0 - fL)[:, None]
    if f_low == "f_star":
        # f* is the reference where known, except on multimodal problems (a local method
        # is judged against the best value found there, as COCO does)
        reach = [np.isfinite(p.f_star) and problem_class(p) != MULTIMODAL
                 for p in results.plan.problems]
        known = np.array(reach, dtype=bool)[results.plan.trial_ids[:, 0]]
        if known.any():  # f - f* <= tau (f(x0) - f*), on the suboptimality trace
            gap = censored_trace(results, "suboptimality")
            gap[~np.isfinite(gap)] = np.inf
            f[known] = gap[known]
            th[known] = taus[None, :] * gap[known, :1]
    return first_hit(f, results.steps, th)


def success_rates(results, eps, metric: str = "suboptimality", relative: bool = False):
    """Fraction of seeds of each configuration that reach each target. Returns a ``DataFrame``
    with one row per (configuration, eps): success rate, median steps over the successful
    seeds, and COCO's expected running time ERT = (sum of steps over all seeds, a failed
    seed counting its full run) / (number of successes) (Hansen et al. 2021)."""
    eps = np.atleast_1d(np.asarray(eps, dtype=np.float64))
    hits = steps_to_target(results, eps, metric, relative)
    status = np.asarray(results.trials["status"])
    status_step = np.asarray(results.trials["status_step"], dtype=np.float64)
    used = np.where(status == "diverged", status_step, float(results.plan.steps))
    rows = []
    for cfg in configs(results):
        idx = list(cfg.trials)
        for j, e in enumerate(eps):
            h = hits[idx, j]
            ok = np.isfinite(h)
            spent = np.where(ok, h, used[idx]).sum()
            rows.append({"problem": cfg.problem_label, "optimizer": cfg.optimizer_label,
                         "schedule": cfg.schedule_label, "eps": float(e),
                         "relative": bool(relative), "n_seeds": len(idx),
                         "success_rate": float(ok.mean()),
                         "median_steps": float(np.median(h[ok])) if ok.any() else np.inf,
                         "ert": float(spent / ok.sum()) if ok.any() else np.inf})
    return table_from_rows(rows)


def _costs(costs, who: str) -> np.ndarray:
    t = np.asarray(costs, dtype=np.float64)
    if t.ndim != 2:
        raise ValueError(f"{who}: costs must be problems x solvers, got shape {t.shape}")
    return np.where(np.isnan(t), np.inf, t)


def performance_ratios(costs) -> np.ndarray:
    """Dolan-More performance ratios r_{p,s} = t_{p,s} / min_s t_{p,s} (inf for a failure,
    and for every solver on a problem no solver solves). costs as in performance_profile."""
    t = _costs(costs, "performance_profile")
    if np.any(t < 0):
        raise ValueError("performance_profile: costs must be >= 0")
    best = t.min(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(t), np.where(t == best, 1.0, t / best), np.inf)


def runtime_fraction(runtimes, budgets) -> np.ndarray:
    """Fraction of the runtimes (n, n_solvers) that are <= each budget, per solver (inf:
    never): an empirical cumulative distribution. Returns (len(budgets), n_solvers)."""
    r = np.asarray(runtimes, dtype=np.float64)
    budgets = np.atleast_1d(np.asarray(budgets, dtype=np.float64))
    return (r[None, :, :] <= budgets[:, None, None]).mean(axis=1)


def performance_profile(costs, taus) -> np.ndarray:
    """Dolan-More performance profile.

    costs: (n_problems, n_solvers), t_{p,s} > 0, inf (or NaN) for a failure. With the
    performance ratio r_{p,s} = t_{p,s} / min_s t_{p,s} (``performance_ratios``), the
    profile of solver s is ``rho_s(tau) = |{p : r_{p,s} <= tau}| / n_problems``. A problem no
    solver solves counts as a failure for all. Returns (len(taus), n_solvers).

    Reference: Dolan & More, Benchmarking optimization software with performance profiles,
    Math. Program. 91 (2002) 201-213.
    """
    return runtime_fraction(performance_ratios(costs), taus)


def data_profile(costs, dims, alphas) -> np.ndarray:
    """More-Wild data profile.

    costs: (n_problems, n_solvers) function evaluations t_{p,s} to pass the convergence test
    (the start point is the first evaluation), inf for a failure; dims: n_p, the dimension
    of each problem. ``d_s(alpha) = |{p : t_{p,s} / (n_p + 1) <= alpha}| / n_problems``, the
    fraction of problems solved within alpha simplex gradients. With ``dims=None`` the
    budgets alpha are evaluations (gradient methods: one gradient per step). Returns
    (len(alphas), n_solvers).

    Reference: More & Wild, Benchmarking derivative-free optimization algorithms,
    SIAM J. Optim. 20(1) (2009) 172-191.
    """
    t = _costs(costs, "data_profile")
    if dims is None:
        return runtime_fraction(t, alphas)
    n = np.asarray(dims, dtype=np.float64).reshape(-1)
    if len(n) != t.shape[0]:
        raise ValueError(f"data_profile: {len(n)} dims for {t.shape[0]} problems")
    return runtime_fraction(t / (n[:, None] + 1.0), alphas)


@dataclass
class ProfileCosts:
    """Costs of a run for profiles: ``costs`` (n_problems, n_solvers) in evaluations (inf:
    failure), ``problems`` the (problem label, seed) pairs, ``solvers`` the (optimizer,
    schedule) labels, ``dims`` n_p, ``tau`` the convergence-test tolerance."""

    costs: np.ndarray
    problems: list
    solvers: list
    dims: np.ndarray
    tau: float


def profile_costs(results, tau: float = 1e-3, metric: str = "loss",
                  f_low: str = "best") -> ProfileCosts:
    """Evaluations each solver needs on each problem to pass More & Wild's test
    f(x0) - f(x) >= (1 - tau)(f(x0) - f_L).

    A "problem" is a (problem, seed) pair (the seed fixes the start point, shared by all
    optimizers); a "solver" an (optimizer, schedule) pair; histories are replaced by their
    running minimum; f_L is the smallest value any solver reached on the problem
    (``f_low="f_star"``: f* where the problem knows it, see ``steps_to_target``); the cost
    of a pass after k steps is k + 1 (the start point is the first evaluation).
    """
    hits = _relative_hits(results, np.array([tau]), metric, f_low)
    plan = results.plan
    pkeys: dict = {}
    skeys: dict = {}
    for t in plan.trials:
        pkeys.setdefault((t.problem, t.seed), len(pkeys))
        skeys.setdefault((t.optimizer, t.schedule), len(skeys))
    a = np.array([pkeys[(t.problem, t.seed)] for t in plan.trials], dtype=np.intp)
    b = np.array([skeys[(t.optimizer, t.schedule)] for t in plan.trials], dtype=np.intp)
    costs = np.full((len(pkeys), len(skeys)), np.inf)
    np.minimum.at(costs, (a, b), hits[:, 0] + 1.0)
    problems = [(plan.problems[p].label(), s) for p, s in pkeys]
    solvers = [(plan.optimizers[o].label(), plan.schedules[s].label() if s >= 0 else "constant")
               for o, s in skeys]
    dims = np.array([plan.problems[p].dim for p, _ in pkeys], dtype=np.float64)
    return ProfileCosts(costs, problems, solvers, dims, float(tau))


@dataclass
class ECDF:
    """Runtime distribution per solver: ``fraction[s, b]`` of (problem, target, seed)
    triples solved within ``budgets[b]`` (steps, or steps / dim with ``per_dim``)."""

    budgets: np.ndarray
    fraction: np.ndarray
    solvers: list
    targets: np.ndarray
    per_dim: bool


def ecdf_steps_to_target(results, targets=None, metric: str = "suboptimality",
                         budgets=None, per_dim: bool = False) -> ECDF:
    """COCO-style empirical cumulative distribution of the runtime to reach targets.

    For each solver (optimizer, schedule) and budget b: the fraction of all (problem, target,
    seed) triples whose target f - f* <= target was reached within b steps (b (steps) / dim
    with ``per_dim``), the runtime being the evaluations k + 1 to the first hit (start point
    included), inf when never reached. Targets default to COCO's 10^2 .. 10^-8 (51 values).
    Budgets default to 100 log-spaced values from 1 to the run's last step + 1.

    Reference: Hansen, Auger, Ros, Mersmann, Tusar & Brockhoff, COCO: a platform for
    comparing continuous optimizers in a black-box setting, Optim. Methods Softw. 36 (2021).
    """
    targets = COCO_TARGETS if targets is None else np.atleast_1d(np.asarray(targets, float))
    hits = steps_to_target(results, targets, metric) + 1.0  # evaluations
    dims = np.array([results.plan.problems[t.problem].dim for t in results.plan.trials], float)
    if per_dim:
        hits = hits / dims[:, None]
    if budgets is None:
        top = (results.plan.steps + 1.0) / (dims.min() if per_dim else 1.0)
        budgets = np.logspace(0.0 if not per_dim else np.log10(1.0 / dims.max()),
                              np.log10(top), 100)
    budgets = np.asarray(budgets, dtype=np.float64)
    skeys: dict = {}
    for i, t in enumerate(results.plan.trials):
        skeys.setdefault((t.optimizer, t.schedule), []).append(i)
    frac = np.zeros((len(skeys), len(budgets)))
    for s, rows in enumerate(skeys.values()):
        frac[s] = runtime_fraction(hits[rows].reshape(-1, 1), budgets)[:, 0]
    plan = results.plan
    solvers = [(plan.optimizers[o].label(), plan.schedules[s].label() if s >= 0 else "constant")
               for o, s in skeys]
    return ECDF(budgets, frac, solvers, targets, per_dim)


def target_table(results, eps=(1e-2, 1e-4, 1e-6), metric: str | None = None):
    """``success_rates`` at absolute targets where f* is known, else at relative ones."""
    metric = metric or default_metric(results)
    if metric == "loss":
        return success_rates(results, eps, relative=True)
    return success_rates(results, eps, metric)


__all__ = ["COCO_TARGETS", "first_hit", "steps_to_target", "success_rates",
           "performance_ratios", "runtime_fraction", "performance_profile", "data_profile", "ProfileCosts", "profile_costs", "ECDF",
           "ecdf_steps_to_target", "target_table"]
