"""Tests of optbench.analysis: hand-computed profiles and statistics, rate fits on known
sequences, theory checks on small engine runs, and the ``optbench analyze`` command."""
import json
import math

import numpy as np
import pytest

import optbench
from optbench import analysis as an
from optbench.optimizers import SGD, Adam
from optbench.problems import Quadratic, ReddiCounterexample
from optbench.results import Results
from optbench.schedules import InverseTimeDecay

INF = np.inf


# ---- profiles -----------------------------------------------------------------------------

def test_performance_profile_hand_computed():
    costs = np.array([[1.0, 2.0, INF],
                      [4.0, 2.0, 8.0],
                      [3.0, 3.0, 6.0],
                      [INF, INF, INF]])  # solved by nobody: a failure for everyone
    # ratios: p1 (1, 2, inf), p2 (2, 1, 4), p3 (1, 1, 2), p4 (inf, inf, inf)
    rho = an.performance_profile(costs, [1.0, 1.5, 2.0, 4.0, 100.0])
    expected = np.array([[2, 2, 0], [2, 2, 0], [3, 3, 1], [3, 3, 2], [3, 3, 2]]) / 4.0
    np.testing.assert_allclose(rho, expected)


def test_data_profile_hand_computed():
    costs = np.array([[3.0, 7.0], [5.0, INF], [10.0, 4.0]])
    dims = [2, 4, 1]  # budgets in units of n_p + 1: (1, 7/3), (1, inf), (5, 2)
    d = an.data_profile(costs, dims, [0.5, 1.0, 2.0, 3.0, 5.0])
    expected = np.array([[0, 0], [2, 0], [2, 1], [2, 2], [3, 2]]) / 3.0
    np.testing.assert_allclose(d, expected)


def test_ratios_runtime_fraction_and_budgets_in_evaluations():
    costs = np.array([[1.0, 2.0, INF], [4.0, 2.0, 8.0], [INF, INF, INF]])
    np.testing.assert_array_equal(an.performance_ratios(costs),
                                  [[1, 2, INF], [2, 1, 4], [INF, INF, INF]])
    np.testing.assert_allclose(an.runtime_fraction(costs, [2.0, 8.0]),
                               [[1 / 3, 2 / 3, 0], [2 / 3, 2 / 3, 1 / 3]])
    np.testing.assert_array_equal(an.data_profile(costs, None, [2.0, 8.0]),
                                  an.runtime_fraction(costs, [2.0, 8.0]))


def test_profile_costs_follow_more_wild_test():
    # heavy ball with momentum 0.9 is far from monotone: f_L is its best value, not its last
    res = optbench.run(Quadratic(dim=3, kappa=10.0),
                       [SGD(lr=0.05), SGD(lr=0.3), SGD(lr=1.0, momentum=0.9)], steps=40,
                       seeds=2, progress=False)
    tau = 1e-2
    pc = an.profile_costs(res, tau)
    assert pc.problems == [(res.plan.problems[0].label(), 0), (res.plan.problems[0].label(), 1)]
    loss = res.trace("loss")
    for p, seed in enumerate([0, 1]):
        rows = [i for i, t in enumerate(res.plan.trials) if t.seed == seed]
        f_L = loss[rows].min()
        for s, i in enumerate(rows):
            f0 = loss[i, 0]
            ok = [k for k in range(loss.shape[1])
                  if f0 - loss[i, :k + 1].min() >= (1 - tau) * (f0 - f_L)]
            assert pc.costs[p, s] == (ok[0] + 1 if ok else INF)  # start point = evaluation 1
    assert np.all(pc.costs[:, 1] <= pc.costs[:, 0])  # the larger lr is the faster solver
    assert np.all(np.isfinite(pc.costs[:, 2]))
    hb = loss[[i for i, t in enumerate(res.plan.trials) if t.optimizer == 2]]
    assert np.all(hb.min(axis=1) < hb[:, -1]) and hb.min() < loss[:, -1].min()
    np.testing.assert_array_equal(pc.dims, [3, 3])


# ---- rates --------------------------------------------------------------------------------

def test_linear_rate_known_contraction_with_ci():
    rng = np.random.default_rng(7)
    steps = np.arange(0, 600, 3)  # recorded every 3rd step
    values = 5.0 * 0.97 ** steps * np.exp(0.05 * rng.standard_normal(len(steps)))
    fit = an.linear_rate(values, steps)
    assert fit.ci[0] <= 0.97 <= fit.ci[1]
    assert fit.ci[1] - fit.ci[0] < 2e-3
    assert fit.r2 > 0.99 and fit.start >= 290
    exact = an.linear_rate(2.0 * 0.9 ** steps, steps)
    assert exact.rate == pytest.approx(0.9, rel=1e-12)
    # log-spaced steps, and the round-off floor cut: nothing below 1e-12 x max is used
    s = np.unique(np.round(np.logspace(0, 3, 80))).astype(int)
    v = np.maximum(0.95 ** s, 1e-300)
    fit = an.linear_rate(v, s)
    assert fit.rate == pytest.approx(0.95, rel=1e-10) and fit.stop <= 540


def test_sublinear_order_from_power_law():
    t = np.unique(np.round(np.logspace(0, 4, 120))).astype(int)
    fit = an.sublinear_order(3.0 * t ** -1.5, t)
    assert fit.order == pytest.approx(1.5, abs=1e-10)
    assert fit.constant == pytest.approx(3.0, rel=1e-8)
    rng = np.random.default_rng(3)
    noisy = 2.0 * t ** -0.5 * np.exp(0.1 * rng.standard_normal(len(t)))
    fit = an.sublinear_order(noisy, t)
    assert fit.ci[0] <= 0.5 <= fit.ci[1] and fit.ci[1] - fit.ci[0] < 0.2


def test_classification_of_synthetic_sequences():
    t = np.arange(1, 2001)
    rng = np.random.default_rng(0)
    cases = {
        "linear": (3 * 0.99 ** t, None),
        "sublinear": (t ** -1.0, None),
        "plateau": (1e-3 * (1 + 0.5 * rng.random(len(t))), True),
        "oscillating": (1.0 + 0.5 * (-1.0) ** t, False),
        "stalled": (np.full(len(t), 0.3), False),
        "diverged": (np.exp(0.01 * t), None),
    }
    for expected, (v, stochastic) in cases.items():
        assert an.classify(v, t, stochastic=stochastic) == expected, expected
    assert an.classify(0.5 ** t, t) == "linear"  # reaches the round-off floor
    assert an.classify(np.ones(10), status="diverged") == "diverged"
    assert an.classify(np.r_[1.0, 0.5, np.nan, 0.1]) == "diverged"
    assert an.classify(5 * t ** -0.5, t) == "sublinear"


def test_noise_floor_over_seeds_and_batches():
    rng = np.random.default_rng(1)
    v = 2.0 + rng.standard_normal((50, 400))
    nf = an.noise_floor(v)
    assert nf.n == 50 and abs(nf.value - 2.0) < 4 * nf.stderr
    assert nf.stderr == pytest.approx(1 / math.sqrt(200 * 50), rel=0.3)
    one = an.noise_floor(v[0])
    assert one.n == 200 and abs(one.value - 2.0) < 4 * one.stderr


# ---- theory checks ------------------------------------------------------------------------

def _by_optimizer(checks):
    out = {}
    for c in checks:
        out.setdefault(c.optimizer, []).append(c)
    return out


@pytest.fixture(scope="module")
def quad_run():
    p = Quadratic(dim=10, kappa=100.0)  # eigenvalues log-spaced in [0.01, 1]: L = 1, mu = 0.01
    mu, L = p.mu, p.L
    hb_lr, hb_m = an.heavy_ball_parameters(mu, L)
    ne_lr, ne_m = an.nesterov_parameters(mu, L)
    opts = [SGD(lr=1.0), SGD(lr=2 / (mu + L)), SGD(lr=hb_lr, momentum=hb_m),
            SGD(lr=ne_lr, momentum=ne_m, nesterov=True), SGD(lr=1.0, momentum=0.5),
            SGD(lr=2.5), Adam(lr=0.01)]
    return optbench.run(p, opts, steps=1000, seeds=2, progress=False)


def test_torch_parametrisations_of_the_bounds():
    lr, m = an.heavy_ball_parameters(0.01, 1.0)
    assert lr == pytest.approx(4 / 1.1 ** 2) and m == pytest.approx((9 / 11) ** 2)
    assert an.heavy_ball_rate(0.01, 1.0) == pytest.approx(9 / 11)
    assert an.nesterov_parameters(0.01, 1.0) == pytest.approx((1.0, 9 / 11))
    assert an.nesterov_rate(0.01, 1.0) == pytest.approx(0.9)
    assert an.gd_quadratic_rate(1.0, 0.01, 1.0) == pytest.approx(0.99)
    assert an.gd_quadratic_rate(2 / 1.01, 0.01, 1.0) == pytest.approx(99 / 101)


def test_theory_checks_on_quadratic(quad_run):
    checks = _by_optimizer(an.theory_checks(quad_run))
    labels = [o.label() for o in quad_run.plan.optimizers]
    gd, gd2, hb, ne, wrong, big, adam = (checks[lab] for lab in labels)
    rate = {c.check: c for c in gd}
    c = rate["GD step 1/L (quadratic)"]  # iterate rate rho: f - f* contracts by rho^2
    assert c.status == "pass" and c.bound == pytest.approx(0.99 ** 2)
    assert c.quantity == "f - f* rate" and c.ratio == pytest.approx(1.0, abs=0.02)
    assert c.measured == pytest.approx(0.99 ** 2, abs=4e-4)  # tight on this spectrum
    assert c.ci[0] <= c.measured <= c.ci[1] and c.problem_class == "strongly convex"
    assert rate["GD smooth convex O(1/t)"].status == "pass"
    assert rate["GD smooth convex O(1/t)"].measured < rate["GD smooth convex O(1/t)"].bound
    assert gd2[0].check == "GD step 2/(mu+L) (quadratic)" and gd2[0].status == "pass"
    assert gd2[0].measured == pytest.approx((99 / 101) ** 2, abs=4e-4)
    assert hb[0].status == "pass" and hb[0].bound == pytest.approx((9 / 11) ** 2)
    assert (9 / 11) ** 2 - 2e-3 < hb[0].measured < (9 / 11) ** 1.8  # t rho^t: a little above
    # torch's nesterov=True (Sutskever form) contracts by 1 - 1/sqrt(kappa) per step
    assert ne[0].status == "pass" and ne[0].bound == pytest.approx(0.81)
    assert 0.81 - 2e-3 < ne[0].measured < 0.9 ** 1.8
    # heavy ball away from Polyak's parameters: the exact rate of its lr and momentum
    (w,) = wrong
    assert w.check == "heavy ball, quadratic, exact rate of lr, momentum" and w.status == "pass"
    assert w.bound == pytest.approx(an.momentum_rate(1.0, 0.5, 0.01, 1.0) ** 2)
    assert w.ratio == pytest.approx(1.0, abs=0.05) and "optimal tuning" in w.detail
    for rows in (big, adam):  # lr > 2/L, Adam: no bound
        assert [r.status for r in rows] == ["no bound"]
        assert math.isnan(rows[0].bound)
    assert "2/L" in big[0].detail


def test_theory_check_can_fail(quad_run):
    arrays = dict(quad_run.arrays)
    slow = 1.02 ** quad_run.steps  # a run 2 % per step slower than it really was
    for name in ("dist_to_opt", "suboptimality"):
        arrays[name] = arrays[name] * slow ** (2 if name == "suboptimality" else 1)
    doctored = Results(quad_run.plan, arrays, quad_run.manifest)
    status = {(c.optimizer, c.check): c.status for c in an.theory_checks(doctored)}
    assert status[("SGD(lr=1.0)", "GD step 1/L (quadratic)")] == "fail"
    assert status[("SGD(lr=1.0)", "GD smooth convex O(1/t)")] == "fail"


def test_sgd_noise_floor_matches_formula():
    a, sigma, eta = 2.0, 0.5, 0.3
    floor = eta * sigma ** 2 / (2 * (2 - eta * a))  # = 0.0267857...
    assert an.sgd_noise_floor(eta, sigma, [a]) == pytest.approx(0.075 / 2.8)
    res = optbench.run(Quadratic(dim=1, eigenvalues=[a], noise=sigma), SGD(lr=eta), steps=1000,
                       seeds=300, progress=False)
    gap = res.trace("suboptimality")[:, res.steps >= 500]
    per_seed = gap.mean(axis=1)
    se = per_seed.std(ddof=1) / math.sqrt(len(per_seed))
    assert abs(per_seed.mean() - floor) < 4 * se and se < 0.05 * floor
    (check,) = an.theory_checks(res)
    assert check.check == "SGD constant step: noise floor" and check.status == "pass"
    assert check.bound == pytest.approx(floor) and check.measured == pytest.approx(per_seed.mean())
    rates = an.rate_table(res)
    assert rates["class"][0] == "plateau"
    assert abs(rates["noise_floor"][0] - floor) < 4 * rates["noise_floor_se"][0]


def test_sgd_inverse_time_decay_order_one():
    a, sigma = 2.0, 0.5  # lr_k = 1/(a (k + 1)): E[f - f*] = sigma^2/(2 a k) exactly
    res = optbench.run(Quadratic(dim=1, eigenvalues=[a], noise=sigma), SGD(lr=1 / a),
                       InverseTimeDecay(decay_steps=1, decay_rate=1.0), steps=1000, seeds=1000,
                       progress=False)
    (check,) = an.theory_checks(res)
    assert check.status == "pass" and check.bound == 1.0
    assert abs(check.measured - 1.0) < 0.15
    final = res.trace("suboptimality")[:, -1]
    k = res.steps[-1]
    se = final.std(ddof=1) / math.sqrt(len(final))
    assert abs(final.mean() - sigma ** 2 / (2 * a * k)) < 4 * se
    # beta mu < 1 is outside the theorem: no bound
    res2 = optbench.run(Quadratic(dim=1, eigenvalues=[a], noise=sigma), SGD(lr=0.1),
                        InverseTimeDecay(decay_steps=1, decay_rate=1.0), steps=50, seeds=2,
                        progress=False)
    assert [c.status for c in an.theory_checks(res2)] == ["no bound"]


def test_reddi_adam_against_amsgrad():
    C = 3.0
    betas = (0.0, 1.0 / (1.0 + C ** 2))
    res = optbench.run(ReddiCounterexample(C=C),
                       [Adam(lr=0.01, betas=betas), Adam(lr=0.01, betas=betas, amsgrad=True),
                        Adam(lr=0.01)], steps=3000, seeds=3, progress=False)
    adam, ams, default = _by_optimizer(an.theory_checks(res)).values()
    assert adam[0].status == "pass" and adam[0].measured > 0.9  # x_T at the wrong end, +1
    assert ams[0].status == "pass" and ams[0].measured < -0.9   # near x* = -1
    assert default[0].status == "no bound"


# ---- statistics ---------------------------------------------------------------------------

def test_holm_hand_computed():
    adj = an.holm([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(0.06, 1*0.04)
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(an.holm([0.5, 0.9]), [1.0, 1.0])


def test_bootstrap_ci_is_reproducible():
    x = np.arange(1.0, 101.0)
    a = an.bootstrap_ci(x, seed=11)
    b = an.bootstrap_ci(x, seed=11)
    c = an.bootstrap_ci(x, seed=12)
    assert a == b and a != c
    est, lo, hi = a
    assert est == 50.5 and 40 < lo < est < hi < 61


def test_signed_rank_batches_match_scipy_row_by_row():
    # rows without ties (exact), with ties or zeros (permutation up to 13 pairs, normal
    # approximation above), long rows (normal approximation), all-zero rows (p = 1)
    from scipy import stats

    from optbench.analysis.stats import _signed_rank_rows

    rng = np.random.default_rng(3)
    for n in (3, 6, 10, 13, 14, 30, 60):
        a = rng.normal(size=(24, n))
        b = a + rng.normal(size=(24, n))
        b[1::4] = np.round(b[1::4], 0)
        a[1::4] = np.round(a[1::4], 0)  # ties and zeros
        b[2::4, :2] = a[2::4, :2]  # zeros only
        b[3] = a[3]  # identical
        stat, p = _signed_rank_rows(a, b)
        for i in range(len(a)):
            if np.all(a[i] == b[i]):
                assert (stat[i], p[i]) == (0.0, 1.0)
                continue
            ref = stats.wilcoxon(a[i], b[i])
            assert (stat[i], p[i]) == (ref.statistic, ref.pvalue), (n, i)


def test_pairwise_against_the_best():
    rng = np.random.default_rng(7)
    base = rng.random(12)
    samples = {"slow": base + 1.0, "best": base, "close": base + 1e-3 * (-1.0) ** np.arange(12),
               "worse": base + 0.5}
    t = an.pairwise_tests(samples, against="best")
    assert list(t["a"]) == ["best"] * 3 and list(t["b"]) == ["slow", "close", "worse"]
    assert list(t["reject"]) == [True, False, True]
    full = {(r["a"], r["b"]): r["p"] for r in an.pairwise_tests(samples).to_dict("records")}
    for r in t.to_dict("records"):  # the same tests as in the full table, fewer of them to correct for
        assert r["p"] == full.get((r["a"], r["b"]), full.get((r["b"], r["a"])))
    np.testing.assert_allclose(t["p_holm"], an.holm(t["p"]))
    with pytest.raises(ValueError, match="against"):
        an.pairwise_tests(samples, against="worst")


def test_quantiles_with_failures_interpolate_linearly():
    med, q25, q75 = an.median_iqr([1.0, 2.0, 3.0, INF])
    assert (med, q25, q75) == (2.5, 1.75, INF)  # as numpy on finite data; inf where it reaches
    assert an.median_iqr([1.0, INF])[0] == INF and an.median_iqr([INF, INF])[0] == INF
    rows = np.array([[1.0, 2.0, np.nan], [3.0, INF, 5.0]])
    np.testing.assert_array_equal(an.median_iqr(rows, axis=1)[0], [1.5, 5.0])


def test_bootstrap_ci_vectorised_as_the_loop():
    x = np.random.default_rng(2).lognormal(size=9)
    x[3] = INF
    fast = an.bootstrap_ci(x, seed=4)  # np.median takes axis: all resamples at once
    slow = an.bootstrap_ci(x, statistic=lambda v: np.median(v), seed=4)  # one at a time
    assert fast == slow


def test_pairwise_tests_and_ranks():
    rng = np.random.default_rng(5)
    base = rng.random(20)
    flip = 1e-3 * (-1.0) ** np.arange(20)  # symmetric differences: W+ = W-, p = 1
    samples = {"a": base, "b": base + 1.0, "c": base + flip}
    t = an.pairwise_tests(samples)
    rows = {(r["a"], r["b"]): r for r in t.to_dict("records")}
    assert rows[("a", "b")]["test"] == "wilcoxon" and rows[("a", "b")]["reject"]
    assert rows[("a", "b")]["better"] == "a"
    assert not rows[("a", "c")]["reject"] and rows[("a", "c")]["p"] > 0.9
    np.testing.assert_allclose(t["p_holm"], an.holm(t["p"]))
    mw = an.pairwise_tests({"a": base, "b": base[:10] + 5.0})
    assert mw["test"][0] == "mannwhitneyu" and mw["reject"][0]
    ranks = an.average_ranks([[1, 2, 3], [3, 2, 1], [1, 1, 5]])
    np.testing.assert_allclose(ranks, [5.5 / 3, 5.5 / 3, 7 / 3])


def test_summaries_of_a_run(quad_run):
    bands = an.convergence_summary(quad_run, "suboptimality")
    sub = quad_run.trace("suboptimality")
    np.testing.assert_allclose(bands.median[0], np.median(sub[:2], axis=0))
    assert bands.median.shape == (7, len(quad_run.steps)) and bands.configs[0][1] == "SGD(lr=1.0)"
    # a diverged trajectory is inf from its divergence on: the median band of SGD(lr=2.5) ends
    first, last = np.sort(quad_run.trials["status_step"][10:12])  # its two seeds
    assert np.all(np.isinf(bands.median[5][quad_run.steps >= first]))
    assert np.all(np.isfinite(bands.median[5][quad_run.steps < first]))
    assert np.all(np.isinf(bands.q25[5][quad_run.steps >= last]))
    fs = an.final_value_stats(quad_run)
    assert fs["median"][0] == pytest.approx(np.median(quad_run.trials["final_suboptimality"][:2]))
    assert fs["diverged"][5] == 2 and fs["median"][5] == INF  # SGD(lr=2.5)
    assert list(an.final_value_stats(quad_run, an.AUTO)["median"][:5]) == list(fs["median"][:5])
    classes = list(an.rate_table(quad_run)["class"])
    assert classes[:4] == ["linear"] * 4 and classes[5] == "diverged"


# ---- targets ------------------------------------------------------------------------------

def test_steps_to_target_and_ecdf():
    # x_k = 0.5^k, f = 0.5 * 0.25^k: f <= 0.1 from k = 2, f <= 1e-3 from k = 5, 1e-30 never
    res = optbench.run(Quadratic(dim=1, eigenvalues=[1.0]), SGD(lr=0.5), steps=20, seeds=1,
                       x0=np.array([1.0]), progress=False)
    hits = an.steps_to_target(res, [0.1, 1e-3, 1e-30])
    np.testing.assert_array_equal(hits, [[2, 5, INF]])
    sparse = optbench.run(Quadratic(dim=1, eigenvalues=[1.0]), SGD(lr=0.5), steps=20, seeds=1,
                          x0=np.array([1.0]), record_every=2, progress=False)
    np.testing.assert_array_equal(an.steps_to_target(sparse, [0.1, 1e-3]), [[2, 6]])
    e = an.ecdf_steps_to_target(res, [0.1, 1e-3, 1e-30], budgets=[1, 2, 3, 6, 100])
    np.testing.assert_allclose(e.fraction, [[0, 0, 1 / 3, 2 / 3, 2 / 3]])  # evaluations k + 1
    # relative targets: f - f_low <= tau (f0 - f_low); f0 = 0.5; f_low = f* = 0 or the run's best
    np.testing.assert_array_equal(
        an.steps_to_target(res, [0.2, 2e-3], relative=True, f_low="f_star"), [[2, 5]])
    best = res.trace("loss")[0].min()
    th = 0.5 - (1 - 2e-3) * (0.5 - best)
    want = np.flatnonzero(res.trace("loss")[0] <= th)[0]
    np.testing.assert_array_equal(an.steps_to_target(res, [2e-3], relative=True), [[want]])
    with pytest.raises(ValueError, match="f_low"):
        an.steps_to_target(res, [0.1], relative=True, f_low="zero")
    sr = an.success_rates(res, [1e-3, 1e-30])
    np.testing.assert_allclose(sr["success_rate"], [1.0, 0.0])
    assert sr["ert"][0] == 5 and sr["ert"][1] == INF


# ---- tuning -------------------------------------------------------------------------------

def test_tune_sensitivity_stability():
    res = optbench.run(Quadratic(dim=3, kappa=10.0),
                       [SGD(lr=lr) for lr in (1e-3, 0.1, 0.5, 1.0, 1.9, 2.1, 3.0)],
                       steps=300, seeds=4, progress=False)
    t = an.tune(res)
    assert t["tuned"][0] == "lr=1.0" and t["default"][0] == "lr=0.001"
    seeds, lrs = res.trials["seed"], res.trials["opt.lr"]
    sc = an.scores(res)  # lr = 1/L solves to round-off: its evaluation gap is exactly 0
    ev = (lrs == 1.0) & (seeds >= 1)
    assert sc.solved[ev].all() and t["eval_median"][0] == 0.0
    assert t["edge"][0] == "" and t["budget"][0] == 7 and not t["all_diverged"][0]
    assert t["default_eval_median"][0] > 1e3 * t["eval_median"][0]
    assert t["optimizer"][0] == "SGD" and t["tuned_optimizer"][0] == "SGD(lr=1.0)"
    assert t["default_optimizer"][0] == SGD(lr=1e-3).label()
    with pytest.raises(ValueError, match="overlap"):
        an.tune(res, tuning_seeds=[0, 1], eval_seeds=[1, 2])
    assert an.split_seeds(res) == ([0], [1, 2, 3])  # a quarter tunes, the rest evaluates
    inside = an.tune(res, held_out=False)  # in-sample: every seed tunes and evaluates
    assert inside["eval_median"][0] == np.median(sc.gap[lrs == inside["best_lr"][0]])
    assert an.variant_label(SGD(lr=0.5, momentum=0.9)) == "SGD(momentum=0.9)"
    assert an.variant_label(Adam(lr=0.5)) == "Adam"
    (sens,) = an.lr_sensitivity(res)
    np.testing.assert_array_equal(sens["lr"], [1e-3, 0.1, 0.5, 1.0, 1.9, 2.1, 3.0])
    np.testing.assert_array_equal(sens["diverged"], [0, 0, 0, 0, 0, 1, 1])
    sm = an.stability_map(res)
    assert sm["largest_stable_lr"][0] == 1.9 and sm["smallest_unstable_lr"][0] == 2.1
    assert sm["two_over_L"][0] == pytest.approx(2.0)


# ---- the command --------------------------------------------------------------------------

def test_analyze_command(tmp_path, capsys):
    from optbench.cli import main

    run_dir = tmp_path / "run"
    optbench.run(Quadratic(dim=4, kappa=10.0), [SGD(lr=1.0), SGD(lr=0.1), Adam(lr=0.05)],
                 steps=200, seeds=3, out=run_dir, progress=False)
    manifest = (run_dir / "manifest.json").read_bytes()
    assert main(["analyze", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "theory checks" in out and "GD step 1/L (quadratic)" in out and "pass" in out
    assert "without a bound" in out and "  no bound" not in out  # counted, not listed
    assert "SGD(lr=0.1)" in out
    doc = json.loads((run_dir / "analysis" / "analysis.json").read_text())
    assert {"rates", "theory", "final", "targets", "profiles", "pairwise"} <= set(doc)
    assert len(doc["rates"]) == 3
    # pairwise: each configuration against the problem's best only (m - 1 tests, not all pairs)
    pw = doc["pairwise"]
    best = min(doc["final"], key=lambda r: r["median"])
    best_name = f"{best['optimizer']} | {best['schedule']}"
    assert len(pw) == 2 and {r["a"] for r in pw} == {best_name}
    assert {r["b"] for r in pw} == {f"{r['optimizer']} | {r['schedule']}"
                                    for r in doc["final"]} - {best_name}
    assert all(r["median_a"] <= r["median_b"] for r in pw)
    # findings: the report's first screen, held-out seeds 1 and 2 (seed 0 tunes)
    assert "Findings (2 held-out seeds; lr tuned on seeds 0;" in out
    assert doc["findings"]["eval_seeds"] == [1, 2] and doc["findings"]["tuning_seeds"] == [0]
    header = (run_dir / "analysis" / "theory.csv").read_text().splitlines()[0]
    assert header.startswith("problem,optimizer,schedule,problem_class,check")
    # explicit outputs, and the run's own files are never written
    assert main(["analyze", str(run_dir), "--json", str(tmp_path / "a.json"), "--csv",
                 str(tmp_path / "csv"), "--quiet"]) == 0
    assert (tmp_path / "a.json").exists() and (tmp_path / "csv" / "rates.csv").exists()
    assert main(["analyze", str(run_dir), "--json", str(run_dir / "manifest.json")]) == 2
    assert main(["analyze", str(run_dir), "--csv", str(run_dir / "shards")]) == 2
    assert (run_dir / "manifest.json").read_bytes() == manifest
    assert main(["analyze", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "no such run directory" in err and err.count("\n") >= 1
    assert "Traceback" not in err
