"""Theory checks with their tightness (measured / predicted, with an interval): heavy ball and
Nesterov on quadratics against the exact spectral radius of their iteration (checked here
against numpy's eigenvalues of torch's update written as a matrix) and the optimal rates, and
SGD with lr = beta/(gamma + k) on a noisy strongly convex quadratic against O(1/t)."""
import math
from pathlib import Path

import numpy as np
import pytest

import optbench
from optbench import analysis as an
from optbench.optimizers import SGD
from optbench.problems import Quadratic
from optbench.results import Results
from optbench.schedules import InverseTimeDecay

ROOT = Path(__file__).resolve().parents[1]


def _torch_matrix(lr, m, lam, nesterov):
    """torch's SGD momentum on f = lam/2 x^2 as a linear map of (x, buf):
    buf' = m buf + lam x; x' = x - lr buf' (heavy ball) or x - lr (lam x + m buf')."""
    if nesterov:
        return np.array([[1 - lr * lam * (1 + m), -lr * m * m], [lam, m]])
    return np.array([[1 - lr * lam, -lr * m], [lam, m]])


def _radius(mat):
    return float(np.max(np.abs(np.linalg.eigvals(mat))))


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_rate_is_the_worst_spectral_radius_over_the_spectrum(nesterov):
    rng = np.random.default_rng(5)
    mu, L = 0.01, 1.0
    lams = np.concatenate([np.geomspace(mu, L, 400), np.linspace(mu, L, 400)])
    for _ in range(60):  # stable and unstable parameters, real and complex roots
        lr, m = rng.uniform(0.01, 4.0), rng.uniform(0.0, 0.99)
        grid = max(_radius(_torch_matrix(lr, m, lam, nesterov)) for lam in lams)
        assert an.momentum_rate(lr, m, mu, L, nesterov) == pytest.approx(grid, rel=1e-7)


def test_momentum_rate_against_the_full_iteration_matrix():
    p = Quadratic(dim=6, kappa=50.0, rotate=True)
    A, d = p.matrix(), p.dim
    eye = np.eye(d)
    for lr, m in ((1.0, 0.9), (0.5, 0.5), (1.9, 0.2), (*an.heavy_ball_parameters(p.mu, p.L),)):
        hb = np.block([[eye - lr * A, -lr * m * eye], [A, m * eye]])
        ne = np.block([[eye - lr * (1 + m) * A, -lr * m * m * eye], [A, m * eye]])
        assert an.momentum_rate(lr, m, p.mu, p.L) == pytest.approx(_radius(hb), rel=1e-6)
        assert an.momentum_rate(lr, m, p.mu, p.L, nesterov=True) == pytest.approx(
            _radius(ne), rel=1e-6)


def test_optimal_tuning_gives_the_closed_forms():
    for mu, L in ((0.01, 1.0), (0.1, 1.0), (2.0, 50.0)):
        k = math.sqrt(L / mu)
        assert an.momentum_rate(*an.heavy_ball_parameters(mu, L), mu, L) == pytest.approx(
            (k - 1) / (k + 1), rel=1e-6)
        assert an.momentum_rate(*an.nesterov_parameters(mu, L), mu, L, nesterov=True) == (
            pytest.approx(1 - 1 / k, rel=1e-6))
    # momentum 0 is gradient descent
    assert an.momentum_rate(1.0, 0.0, 0.01, 1.0) == pytest.approx(an.gd_quadratic_rate(
        1.0, 0.01, 1.0))
    for bad in ((0.0, 0.5, 0.1, 1.0), (1.0, -0.1, 0.1, 1.0), (1.0, 0.5, 0.0, 1.0),
                (1.0, 0.5, 2.0, 1.0)):
        with pytest.raises(ValueError, match="momentum_rate"):
            an.momentum_rate(*bad)


@pytest.fixture(scope="module")
def momentum_run():
    p = Quadratic(dim=20, kappa=100.0, rotate=True)  # mu = 0.01, L = 1
    hb, ne = an.heavy_ball_parameters(p.mu, p.L), an.nesterov_parameters(p.mu, p.L)
    opts = [SGD(lr=1.0, momentum=0.9), SGD(lr=0.5, momentum=0.5),
            SGD(lr=0.5, momentum=0.5, nesterov=True), SGD(lr=hb[0], momentum=hb[1]),
            SGD(lr=ne[0], momentum=ne[1], nesterov=True), SGD(lr=2.5, momentum=0.1)]
    return optbench.run(p, opts, steps=800, seeds=3, progress=False)


def test_heavy_ball_and_nesterov_checks_are_tight(momentum_run):
    checks = {c.optimizer: c for c in an.theory_checks(momentum_run)}
    labels = [o.label() for o in momentum_run.plan.optimizers]
    hb1, hb2, ne2, hb_opt, ne_opt, big = (checks[lab] for lab in labels)
    for c, (lr, m, nesterov) in ((hb1, (1.0, 0.9, False)), (hb2, (0.5, 0.5, False)),
                                 (ne2, (0.5, 0.5, True))):
        assert c.check.endswith("exact rate of lr, momentum") and c.status == "pass"
        assert c.bound == pytest.approx(an.momentum_rate(lr, m, 0.01, 1.0, nesterov) ** 2)
        assert c.ratio == pytest.approx(1.0, abs=0.05)  # tight: measured / predicted
        assert c.ratio_ci[0] <= c.ratio <= c.ratio_ci[1]
        assert c.ratio_ci[0] > 0.9 and c.ratio_ci[1] < 1.1
    # optimal tuning: the closed forms, passed; the double root's t rho^t costs some 10 %
    assert hb_opt.check == "heavy ball, quadratic, optimal parameters"
    assert ne_opt.check == "Nesterov (torch form), quadratic, optimal parameters"
    assert hb_opt.bound == pytest.approx((9 / 11) ** 2) and ne_opt.bound == pytest.approx(0.81)
    for c in (hb_opt, ne_opt):
        assert c.status == "pass" and 0.85 < c.ratio < 1.0
    # an lr past stability: predicted to diverge (spectral radius > 1), no rate to compare
    assert big.status == "no bound" and "unstable" in big.detail


def test_a_wrong_prediction_or_a_slower_run_fails(momentum_run):
    idx = [i for i, t in enumerate(momentum_run.plan.trials) if t.optimizer == 1]
    gap = an.metric_trace(momentum_run, "suboptimality")[idx]  # heavy ball lr 0.5, momentum 0.5
    steps = momentum_run.steps
    exact = an.momentum_rate(0.5, 0.5, 0.01, 1.0) ** 2
    ok = an.rate_tightness(gap, steps, exact)
    assert ok.verdict == "pass" and ok.ratio == pytest.approx(1.0, abs=0.05)
    wrong = an.rate_tightness(gap, steps, an.heavy_ball_rate(0.01, 1.0) ** 2)  # optimal's rate
    assert wrong.verdict == "fail" and wrong.ratio < 0.2
    assert wrong.measured == ok.measured and wrong.ci == ok.ci
    with pytest.raises(ValueError, match="rate_tightness"):
        an.rate_tightness(gap, steps, 1.5)
    # the same run 2 % per step slower than it was: its theory check fails
    arrays = dict(momentum_run.arrays)
    arrays["suboptimality"] = arrays["suboptimality"] * 1.02 ** (2 * steps)
    doctored = Results(momentum_run.plan, arrays, momentum_run.manifest)
    label = momentum_run.plan.optimizers[1].label()
    (c,) = [c for c in an.theory_checks(doctored) if c.optimizer == label]
    assert c.status == "fail" and c.ratio < 0.5


def test_a_double_root_is_allowed_its_factor_t():
    t = np.arange(0, 3000)
    q = 0.99 ** 2
    jordan = (1.0 + t) ** 2 * q ** t  # f - f* of a double root rho = 0.99: t^2 rho^(2t)
    plain = an.rate_tightness(jordan, t, q, rate_rtol=0.05)
    assert plain.verdict == "fail" and 0.85 < plain.ratio < 0.95
    allowed = an.rate_tightness(jordan, t, q, rate_rtol=0.05, double_root=True)
    assert allowed.verdict == "pass" and allowed.ratio == plain.ratio
    slower = an.rate_tightness((1.0 + t) ** 2 * 0.985 ** t, t, q, rate_rtol=0.05,
                               double_root=True)  # slower than any t^2 factor explains
    assert slower.verdict == "fail"


def _noisy_sgd(steps, seeds):
    p = Quadratic(dim=10, kappa=10.0, rotate=True, noise=0.1)  # mu = 0.1, L = 1
    # lr_k = 1/(1 + k/20) = 20/(20 + k): beta = gamma = 20, beta mu = 2, lr_0 = 1/L
    return optbench.run(p, SGD(lr=1.0), InverseTimeDecay(decay_steps=20, decay_rate=1.0),
                        steps=steps, seeds=seeds, progress=False)


def test_sgd_with_inverse_time_steps_is_order_one_over_t():
    (c,) = an.theory_checks(_noisy_sgd(1000, 100))
    assert c.check.startswith("SGD lr = beta/(gamma+k)") and c.status == "pass"
    assert c.bound == 1.0 and c.ratio == c.measured
    assert c.ci[0] <= 1.0 <= c.ci[1] + 0.05 and c.ci[1] - c.ci[0] < 0.3
    assert abs(c.measured - 1.0) < 0.15 and "gamma = 20" in c.detail
    # too few steps to see the asymptotic order: inconclusive, not pass or fail
    (short,) = an.theory_checks(_noisy_sgd(100, 100))
    assert short.status == "inconclusive" and "decades" in short.detail


def test_order_tightness_on_known_sequences():
    rng = np.random.default_rng(2)
    t = np.arange(0, 1001)
    noise = np.exp(0.3 * rng.standard_normal((100, len(t))))
    one = an.order_tightness(noise / (20.0 + t), t, offset=20.0)
    assert one.verdict == "pass" and one.ci[0] <= 1.0 <= one.ci[1]
    # against log t instead of log(t + gamma) the same sequence looks slower than 1/t
    shifted = an.order_tightness(noise / (20.0 + t), t)
    assert shifted.verdict == "fail" and shifted.ci[1] < 1.0
    half = an.order_tightness(noise / np.sqrt(20.0 + t), t, offset=20.0)  # O(1/sqrt(t))
    assert half.verdict == "fail" and half.ratio == pytest.approx(0.5, abs=0.05)
    steep = an.order_tightness(noise / (20.0 + t) ** 2, t, offset=20.0)  # faster is fine
    assert steep.verdict == "pass" and steep.ratio > 1.8
    noisy = an.order_tightness(np.exp(3 * rng.standard_normal((3, len(t)))) / (20.0 + t), t,
                               offset=20.0)
    assert noisy.verdict == "inconclusive" and "noisy" in noisy.why
    with pytest.raises(ValueError, match="offset"):
        an.order_tightness(noise, t, offset=-1.0)


def test_theory_suite_shows_the_checks():
    from optbench.suite import read_suite

    kwargs = read_suite(ROOT / "problems" / "theory.toml")
    assert kwargs["name"] == "theory"
    opts = kwargs["optimizers"]
    assert any(o.nesterov for o in opts) and any(o.momentum > 0 and not o.nesterov
                                                 for o in opts)
    assert any(type(s).__name__ == "InverseTimeDecay" for s in kwargs["schedules"])
