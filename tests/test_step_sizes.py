"""Step channels: the effective per-coordinate step size eta_i = |x_{k+1,i} - x_{k,i}| / |g_i|
of step k, its median (``eff_step``) and 10th/90th percentiles over coordinates, stored at the
record of step k, checked against numpy on recorded iterates."""
import numpy as np
import pytest

import optbench
from optbench.optimizers import SGD, Adadelta, Adagrad, Adam, Lion, NAdam, RMSprop
from optbench.problems import LogisticRegression, Quadratic, Rosenbrock

STEP = ("eff_step", "eff_step_p10", "eff_step_p90")
LEVELS = (0.5, 0.1, 0.9)  # of STEP, in order


def _eta(problem, x0, x1):
    """Ratios |x1 - x0| / |grad f(x0)| over the coordinates with a non-zero gradient."""
    g = problem.grad(x0)
    keep = g != 0
    return np.abs(x1[keep] - x0[keep]) / np.abs(g[keep])


def test_sgd_without_momentum_steps_by_lr():
    res = optbench.run(Quadratic(dim=6, kappa=10.0, rotate=True), [SGD(lr=0.3)], steps=40,
                       seeds=3, record=STEP + ("lr",))
    for name in STEP:
        trace = res.trace(name)
        np.testing.assert_allclose(trace[:, :-1], 0.3, rtol=1e-12)
        assert np.isnan(trace[:, -1]).all()  # the last record takes no step
    assert not any(f"final_{name}" in res.trials for name in STEP)


def test_adam_first_step_is_lr_over_abs_gradient_plus_eps():
    problem = Rosenbrock(dim=9)
    opt = Adam(lr=0.1, eps=1e-3)
    res = optbench.run(problem, [opt], steps=5, seeds=2, record=STEP)
    for j, seed in enumerate(res.trials["seed"]):
        eta = 0.1 / (np.abs(problem.grad(problem.start_points([seed])[0])) + 1e-3)
        got = [res.trace(name)[j, 0] for name in STEP]
        np.testing.assert_allclose(got[0], np.median(eta), rtol=1e-12)
        np.testing.assert_allclose(got, np.quantile(eta, LEVELS), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_quantiles_of_the_recorded_iterates(dtype):
    """Every recorded step k: numpy.quantile of the ratios computed from x_k, x_{k+1}; zero
    gradient coordinates (here x_i = c_i = 0 on a diagonal quadratic) are left out."""
    quad = Quadratic(dim=7, kappa=30.0)
    x0 = np.array([0.9, 0.0, -0.7, 0.4, 0.0, 0.2, -0.5])
    optimizers = [Adam(lr=0.05), Adam(lr=0.05, amsgrad=True), NAdam(lr=0.05),
                  RMSprop(lr=0.01, centered=True), Adagrad(lr=0.2), Adadelta(lr=1.0),
                  Lion(lr=0.01), SGD(lr=0.1, momentum=0.9)]
    res = optbench.run(quad, optimizers, steps=30, seeds=1, x0=x0, dtype=dtype,
                       record=STEP + ("x",))
    xs = res.trace("x").astype(np.float64)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    for j in range(len(optimizers)):
        want = np.array([np.quantile(_eta(quad, xs[j, k], xs[j, k + 1]), LEVELS)
                         for k in range(30)])
        assert np.all(np.isfinite(want))
        for c, name in enumerate(STEP):
            got = res.trace(name)[j]
            np.testing.assert_allclose(got[:-1], want[:, c], rtol=rtol, err_msg=name)
            assert np.isnan(got[-1])


def test_quantiles_match_numpy_bitwise_in_float64():
    """The kernel's quantile is numpy's linear interpolation, to the last bit."""
    problem = Rosenbrock(dim=12)
    res = optbench.run(problem, [Adam(lr=0.01), RMSprop(lr=0.01)], steps=20, seeds=2,
                       record=STEP + ("x",))
    xs = res.trace("x")
    for j in range(len(res)):
        for k in range(20):
            want = np.quantile(_eta(problem, xs[j, k], xs[j, k + 1]), LEVELS)
            got = [res.trace(name)[j, k] for name in STEP]
            np.testing.assert_array_equal(got, want)


def test_no_step_is_nan():
    quad = Quadratic(dim=3, kappa=10.0)
    zero = optbench.run(quad, [Adam(lr=0.1)], steps=5, seeds=1, x0=np.zeros(3), record=STEP)
    assert np.isnan(zero.trace("eff_step")).all()  # every gradient coordinate is 0
    stops = optbench.run(quad, [SGD(lr=0.5), SGD(lr=2.5)], steps=200, seeds=1, target=1e-8,
                         record=STEP + ("loss",))
    assert list(stops.trials["status"]) == ["reached_target", "diverged"]
    for j, k in enumerate(stops.trials["status_step"]):
        trace = stops.trace("eff_step")[j]
        np.testing.assert_allclose(trace[:k], [0.5, 2.5][j], rtol=1e-12)
        assert np.isnan(trace[k:]).all()  # no step from the stopping step on


def test_record_every_stores_the_step_taken_at_each_record():
    kw = dict(problems=Rosenbrock(dim=5), optimizers=[Adam(lr=0.02)], steps=50, seeds=2)
    full = optbench.run(**kw, record=STEP)
    thin = optbench.run(**kw, record=("eff_step_p90",), record_every="log", record_points=10)
    np.testing.assert_array_equal(thin.trace("eff_step_p90"),
                                  full.trace("eff_step_p90")[:, thin.steps])


def test_stochastic_gradients_threads_and_shards_are_bitwise_reproducible():
    """The ratios use the gradient the optimizer saw (minibatch and noise): SGD's is lr."""
    problems = [LogisticRegression(n=60, features=6, batch_size=10),
                Quadratic(dim=8, kappa=100.0, rotate=True, noise=0.3)]
    kw = dict(problems=problems, optimizers=[SGD(lr=0.2), Adam(lr=0.01), Adagrad(lr=0.1)],
              steps=60, seeds=3, record=STEP)
    a = optbench.run(**kw, threads=1)
    b = optbench.run(**kw, threads=2, shard_size=5)
    for name in STEP:
        np.testing.assert_array_equal(a.trace(name), b.trace(name))
    sgd = a.trials["optimizer_type"] == "SGD"
    np.testing.assert_allclose(a.trace("eff_step")[sgd, :-1], 0.2, rtol=1e-12)


def test_stored_and_loaded(tmp_path):
    res = optbench.run(Rosenbrock(), [Adam(lr=0.01)], steps=10, seeds=2, record=STEP,
                       out=tmp_path / "run", progress=False)
    back = optbench.load(tmp_path / "run")
    assert back.recorded == list(STEP)
    for name in STEP:
        np.testing.assert_array_equal(back.trace(name), res.trace(name))


def test_a_misspelt_channel_is_a_one_line_error():
    with pytest.raises(ValueError) as info:
        optbench.run(Rosenbrock(), [Adam()], steps=3, record=("eff_stp",))
    message = str(info.value)
    assert "\n" not in message and "record" in message and "'eff_step'" in message
