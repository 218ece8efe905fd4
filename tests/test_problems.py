"""The problem suite: gradients, optima, constants, stochastic options, engine runs, suites."""
from pathlib import Path

import numpy as np
import pytest
from numba import types

import optbench
from optbench import problems as P
from optbench.kernels import noise as kn
from optbench.kernels import problems as kp
from optbench.optimizers import SGD, Adam
from optbench.problem_families import BY_NAME, FAMILIES
from optbench.suite import read_suite

ROOT = Path(__file__).resolve().parent.parent

# Every family, and every option that changes its kernel's code path or its data (the noise
# models and minibatches are tested on their own below).
INSTANCES = [p for family in FAMILIES for p in family.instances + family.hook_variants]
IDS = [repr(p) for p in INSTANCES]
FINITE_SUMS = [p for p in INSTANCES if p.unit().sample_grad is kp.finite_sum_sample_grad]


def fd_grad(fun, x, h=1e-6):
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h * max(1.0, abs(x[i]))
        g[i] = (fun(x + e) - fun(x - e)) / (2.0 * e[i])
    return g


def fd_hessian(problem, x, h=1e-5):
    d = x.size
    hess = np.empty((d, d))
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        hess[:, i] = (problem.grad(x + e) - problem.grad(x - e)) / (2.0 * h)
    return 0.5 * (hess + hess.T)


def random_points(problem, count=3, seed=0):
    rng = np.random.default_rng(seed)
    lo = np.broadcast_to(np.asarray(problem._built["x0_low"], float), (problem.dim,))
    hi = np.broadcast_to(np.asarray(problem._built["x0_high"], float), (problem.dim,))
    return [lo + (hi - lo) * rng.random(problem.dim) for _ in range(count)]


# ---- gradients ----------------------------------------------------------------------------


@pytest.mark.parametrize("problem", INSTANCES, ids=IDS)
def test_gradient_matches_central_differences(problem):
    for x in random_points(problem):
        f, g = problem.loss_grad(x)
        assert np.isfinite(f)
        fd = fd_grad(problem.loss, x)
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6 * (1.0 + np.abs(g).max()))


@pytest.mark.parametrize("problem", [p.replace(batch_size=4) for p in FINITE_SUMS],
                         ids=lambda p: repr(p))
@pytest.mark.parametrize("replace", [False, True])
def test_minibatch_gradient_is_the_gradient_of_the_minibatch_loss(problem, replace):
    key = np.uint64(12345)

    def sampled(x, step=3):
        return problem.sampled_loss_grad(x, key, step, 4, replace)

    for x in random_points(problem, count=2):
        f, g = sampled(x)
        np.testing.assert_allclose(g, fd_grad(lambda z: sampled(z)[0], x), rtol=1e-5,
                                   atol=1e-6 * (1.0 + np.abs(g).max()))
        full = problem.loss(x)  # genuine subsamples, a new one each step
        assert any(sampled(x, step=s)[0] != full for s in range(6))
        assert any(sampled(x, step=s)[0] != f for s in range(4, 10))


def test_minibatch_estimate_averages_to_the_full_gradient_over_an_epoch():
    problem = P.LeastSquares(n=40, features=3, l2=0.05, batch_size=8)
    x = random_points(problem, 1)[0]
    key = np.uint64(77)
    total = np.zeros(problem.dim)
    loss = 0.0
    for step in range(5, 10):  # steps 5..9 are epoch 1 exactly (5 batches of 8 out of 40)
        f_step, g = problem.sampled_loss_grad(x, key, step, 8, False)
        loss += f_step
        total += g
    f, g_full = problem.loss_grad(x)
    np.testing.assert_allclose(total / 5, g_full, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(loss / 5, f, rtol=1e-12)


def test_full_sum_loss_and_minibatch_share_one_compiled_loop():
    """The full-data loss, its gradient and the minibatch estimate run one compilation of the
    finite-sum loop: a literal argument (``Literal[int](0)``, ``Literal[bool]``) compiled the
    loop and its seven terms once more each (4 s of the smoke suite's cold compile)."""
    problem = P.LeastSquares(n=40, features=3, batch_size=8)
    data, x = problem.kernel_data, random_points(problem, 1)[0]
    g, work = np.zeros(problem.dim), np.zeros(max(problem.work_size, 1))
    full = kp.finite_sum_value_and_grad(x, g, data, work)
    assert kp.finite_sum_loss(x, data, work) == full
    kp.finite_sum_sample_grad(x, g, data, work, np.uint64(3), 2, 8, False)
    compiled = [sig for sig in kp.finite_sum_loss_grad.signatures if sig[1].layout == "C"]
    assert len(compiled) == 1, compiled
    assert not any(isinstance(t, types.Literal) for t in compiled[0])


@pytest.mark.parametrize("n, batch", [(37, 5), (40, 8), (1, 1), (1000, 64)])
def test_sampling_without_replacement_covers_each_sample_once_per_epoch(n, batch):
    key = np.uint64(2024)
    steps = -(-3 * n // batch)  # at least three epochs
    draws = np.array([kp.sample_index(key, s, j, batch, n, False)
                      for s in range(steps) for j in range(batch)])
    epochs = [draws[e * n:(e + 1) * n] for e in range(3)]
    for ep in epochs:
        np.testing.assert_array_equal(np.sort(ep), np.arange(n))
    if n > 8:  # reshuffled every epoch, and not the identity order
        assert not np.array_equal(epochs[0], epochs[1])
        assert not np.array_equal(epochs[0], np.arange(n))


def test_sampling_with_replacement_is_uniform_and_repeats():
    key = np.uint64(5)
    n = 10
    draws = np.array([kp.sample_index(key, s, j, 4, n, True) for s in range(2500)
                      for j in range(4)])
    assert draws.min() == 0 and draws.max() == n - 1
    counts = np.bincount(draws, minlength=n)
    assert np.all(np.abs(counts - 1000) < 5 * np.sqrt(1000))
    assert len(set(draws[:n].tolist())) < n or len(set(draws[n:2 * n].tolist())) < n


# ---- optima and constants ------------------------------------------------------------------


@pytest.mark.parametrize("problem", [p for p in INSTANCES if p.minimizers.size], ids=repr)
def test_listed_minimizers_attain_f_star_with_zero_gradient(problem):
    for xs in problem.minimizers:
        f, g = problem.loss_grad(xs)
        assert f == pytest.approx(problem.f_star, rel=1e-12, abs=1e-12)
        if isinstance(problem, P.ReddiCounterexample):
            assert xs[0] == -1.0 and g[0] > 0.0  # constrained optimum: the slope points out
        else:
            assert np.linalg.norm(g) < 1e-8 * (1.0 + abs(problem.f_star))


def test_published_optima():
    him = P.Himmelblau()
    published = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186),
                 (3.584428, -1.848126)]
    assert him.minimizers.shape == (4, 2)
    np.testing.assert_allclose(him.minimizers, published, atol=1e-6)
    camel = P.SixHumpCamel()
    np.testing.assert_allclose(camel.minimizers, [[0.0898, -0.7126], [-0.0898, 0.7126]],
                               atol=1e-4)
    assert camel.f_star == pytest.approx(-1.0316, abs=1e-4)
    for d in (1, 5):
        st = P.StyblinskiTang(dim=d)
        np.testing.assert_allclose(st.minimizers, np.full((1, d), -2.903534), atol=1e-6)
        assert st.f_star == pytest.approx(-39.16617 * d, abs=1e-5 * d)
    assert P.GoldsteinPrice().loss([0.0, -1.0]) == pytest.approx(3.0, rel=1e-15)
    assert P.GoldsteinPrice().f_star == 3.0
    np.testing.assert_array_equal(P.Beale().minimizers, [[3.0, 0.5]])
    np.testing.assert_array_equal(P.Booth().minimizers, [[1.0, 3.0]])
    for cls in (P.Rastrigin, P.Ackley, P.Griewank):
        p = cls(dim=4)
        assert p.loss(np.zeros(4)) == pytest.approx(0.0, abs=1e-14)
        assert p.loss(np.full(4, 0.3)) > 0.0
    assert P.Levy(dim=4).loss(np.ones(4)) == pytest.approx(0.0, abs=1e-28)
    assert P.Rosenbrock(dim=5).loss(np.ones(5)) == 0.0


def test_least_squares_tutorial_and_normal_equations():
    tut = P.LeastSquares.tutorial()
    assert tut.dim == 2 and tut.n == 100
    np.testing.assert_allclose(tut.minimizers[0], [2.0, 1.0], atol=1e-12)
    assert tut.f_star == pytest.approx(0.0, abs=1e-20)
    a, y = tut.arrays()
    np.testing.assert_allclose(y, 2.0 * a[:, 0] + 1.0)
    # torch's MSELoss on nn.Linear(1, 1): mean((w a + b - y)^2)
    x = np.array([0.5, -0.25])
    assert tut.loss(x) == pytest.approx(np.mean((0.5 * a[:, 0] - 0.25 - y) ** 2), rel=1e-14)
    noisy = P.LeastSquares(n=50, features=3, label_noise=0.5, seed=4)
    a, y = noisy.arrays()
    at = np.hstack([a, np.ones((50, 1))])
    x_ref = np.linalg.lstsq(at, y, rcond=None)[0]
    np.testing.assert_allclose(noisy.minimizers[0], x_ref, rtol=1e-10)
    assert noisy.f_star == pytest.approx(np.mean((at @ x_ref - y) ** 2), rel=1e-12)


@pytest.mark.parametrize("problem", [
    P.LogisticRegression(n=60, features=4, seed=1),
    P.LogisticRegression(dataset="wdbc"),
    P.SoftmaxRegression(dataset="iris"),
    P.Huber(n=60, features=3),
], ids=repr)
def test_f_star_is_not_beaten_by_an_independent_solver(problem):
    from scipy.optimize import minimize

    res = minimize(problem.loss_grad, np.zeros(problem.dim), jac=True, method="BFGS",
                   options={"gtol": 1e-10, "maxiter": 5000})
    assert problem.f_star <= res.fun + 1e-13
    assert res.fun - problem.f_star < 1e-8


def test_constants_match_hessian_eigenvalues():
    # constant Hessians: L and mu are the extreme eigenvalues
    for problem in (P.Quadratic(dim=6, kappa=50.0, rotate=True, seed=1),
                    P.LeastSquares(n=30, features=4, l2=0.01), P.Booth()):
        eig = np.linalg.eigvalsh(fd_hessian(problem, random_points(problem, 1)[0]))
        assert problem.L == pytest.approx(eig[-1], rel=1e-6)
        assert problem.mu == pytest.approx(eig[0], rel=1e-6, abs=1e-9)
    # Rastrigin: L is the Hessian's maximum, attained at integer points
    r = P.Rastrigin(dim=2)
    assert np.linalg.eigvalsh(fd_hessian(r, np.zeros(2)))[-1] == pytest.approx(r.L, rel=1e-6)
    # global bounds: every Hessian's spectrum lies in [mu, L]
    for problem in (P.LogisticRegression(n=60, features=4), P.SoftmaxRegression(dataset="iris"),
                    P.Huber(n=60, features=3)):
        for x in random_points(problem, 3) + [problem.minimizers[0]]:
            eig = np.linalg.eigvalsh(fd_hessian(problem, x))
            assert eig[0] >= problem.mu - 1e-6 and eig[-1] <= problem.L + 1e-6
    # the exact Hessians used for f* agree with finite differences
    for problem in (P.LogisticRegression(n=30, features=3), P.SoftmaxRegression(n=30, features=3,
                                                                               classes=3)):
        x = random_points(problem, 1)[0]
        np.testing.assert_allclose(problem.hessian(x), fd_hessian(problem, x), atol=1e-7)
    # Huber is not strongly convex: far from the data its Hessian vanishes
    h = P.Huber(n=60, features=3)
    assert h.mu == 0.0
    assert np.abs(fd_hessian(h, np.full(h.dim, 100.0))).max() < 1e-6


def test_matrix_factorization_optimum_is_eckart_young():
    for noise in (0.0, 0.5):
        mf = P.MatrixFactorization(rows=8, cols=6, rank=2, label_noise=noise)
        x = mf.a_minimizer()
        f, g = mf.loss_grad(x)
        assert f == pytest.approx(mf.f_star, rel=1e-10, abs=1e-20)
        assert np.linalg.norm(g) < 1e-10
        assert mf.loss(x + 0.01) > mf.f_star
    assert P.MatrixFactorization(rows=8, cols=6, rank=2, label_noise=0.5).f_star > 0.0


# ---- noise ---------------------------------------------------------------------------------


def test_noise_models_have_the_right_distributions():
    key = np.uint64(99)
    d = 20000
    g = np.zeros(d)
    kn.perturb_gradient(kn.GAUSSIAN, 2.0, 0.0, key, 0, g)
    assert abs(g.std() - 2.0) < 0.05 and abs(g.mean()) < 0.05
    t = np.zeros(d)
    kn.perturb_gradient(kn.STUDENT_T, 1.0, 5.0, key, 0, t)
    assert abs(t.var() - 5.0 / 3.0) < 0.15  # Var t(5) = 5/3
    assert np.mean(np.abs(t) > 4.032) == pytest.approx(0.01, abs=0.004)  # 99.5% quantile
    c = np.zeros(d)
    kn.perturb_gradient(kn.STUDENT_T, 1.0, 1.0, key, 0, c)  # Cauchy: heavy tails
    assert np.median(np.abs(c)) == pytest.approx(1.0, abs=0.05)
    assert np.abs(c).max() > 1000.0
    m = np.full(d, 3.0)
    kn.perturb_gradient(kn.MULTIPLICATIVE, 0.5, 0.0, key, 0, m)
    assert abs(m.mean() - 3.0) < 0.05 and abs(m.std() - 1.5) < 0.05
    zero = np.zeros(5)
    kn.perturb_gradient(kn.MULTIPLICATIVE, 0.5, 0.0, key, 0, zero)
    assert not zero.any()  # multiplicative noise vanishes with the gradient
    again = np.zeros(d)
    kn.perturb_gradient(kn.STUDENT_T, 1.0, 5.0, key, 0, again)
    np.testing.assert_array_equal(again, t)


def test_noise_options_reach_the_engine():
    q = P.Quadratic(dim=3, noise=0.5, noise_kind="student_t", noise_dof=2.5)
    assert q.noise_model() == (kn.STUDENT_T, 0.5, 2.5)
    assert P.Quadratic(dim=3, noise=0.5, noise_kind="multiplicative").noise_model() == (
        kn.MULTIPLICATIVE, 0.5, 0.0)
    assert P.Quadratic(dim=3, noise_kind="student_t").noise_model()[0] == kn.NONE
    assert P.LeastSquares(batch_size=4, replacement=True).with_replacement
    assert P.LeastSquares(batch_size=4).batch_size == 4
    assert P.LeastSquares().batch_size == 0 and not P.LeastSquares().is_stochastic
    assert P.ReddiCounterexample().batch_size == 1


STOCHASTIC = [
    P.Quadratic(dim=4, kappa=10.0, rotate=True, noise=0.2),
    P.Rosenbrock(dim=3, noise=0.5, noise_kind="student_t", noise_dof=2.0),
    P.Rastrigin(dim=3, noise=0.3, noise_kind="multiplicative"),
    P.LeastSquares(n=50, features=4, batch_size=5),
    P.LogisticRegression(n=50, features=4, batch_size=8, replacement=True, noise=0.1),
    P.MLP(hidden=(6,), n=20, batch_size=10),
    P.ReddiCounterexample(C=10.0, stochastic=True),
]


def test_stochastic_runs_are_bitwise_reproducible_across_runs_threads_and_shards():
    kw = dict(problems=STOCHASTIC, optimizers=[SGD(lr=0.01), Adam(lr=0.01)], steps=60, seeds=3,
              record=("loss", "sampled_loss", "x"))
    a = optbench.run(**kw)
    b = optbench.run(**kw, threads=1, shard_size=5)
    c = optbench.run(**kw, threads=2, shard_size=2)
    for other in (b, c):
        for name in ("loss", "sampled_loss", "x"):
            np.testing.assert_array_equal(a.trace(name), other.trace(name))
    # the noise is genuine: seeds differ, and the sampled loss differs from the full loss
    x = a.trace("x")
    n_seeds = 3
    for i in range(0, len(x), n_seeds):
        assert not np.array_equal(x[i][-1], x[i + 1][-1])
    minibatched = [i for i, t in enumerate(a.plan.trials)
                   if a.plan.problems[t.problem].batch_size > 0]
    diff = a.trace("sampled_loss")[minibatched, 1:-1] - a.trace("loss")[minibatched, 1:-1]
    assert np.all(np.abs(diff).max(axis=1) > 0.0)


# ---- the engine ----------------------------------------------------------------------------


def test_every_problem_runs_in_the_engine_with_sensible_statuses():
    problems = [p for p in INSTANCES if not isinstance(p, P.Quadratic)]
    res = optbench.run(problems, [SGD(lr=1e-4), Adam(lr=1e-3)], steps=40, seeds=2,
                       record=("loss", "suboptimality", "x"))
    status = res.status()
    assert set(status) == {"finished"}  # small steps: nothing diverges, no target given
    loss = res.trace("loss")
    x = res.trace("x")
    for row, t in enumerate(res.plan.trials):
        p = res.plan.problems[t.problem]
        d = p.dim
        assert loss[row, 0] == pytest.approx(p.loss(x[row, 0, :d]), rel=1e-12, abs=1e-12)
        assert loss[row, -1] == pytest.approx(p.loss(x[row, -1, :d]), rel=1e-12, abs=1e-12)
        if np.isfinite(p.f_star):
            assert np.all(res.trace("suboptimality")[row] >= -1e-9)
        if not p.is_stochastic and not isinstance(p, P.Ackley):  # tiny steps descend
            assert loss[row, -1] < loss[row, 0]
    # a target stops the run with its step
    tgt = optbench.run(P.Booth(), [SGD(lr=0.02)], steps=500, seeds=1, target=1e-6)
    assert tgt.status()[0] == "reached_target"
    assert 0 < tgt.trials["status_step"][0] < 500


def test_reddi_projection_and_adam_goes_to_the_wrong_end():
    c = 3.0
    beta2 = 1.0 / (1.0 + c * c)  # the paper's Theorem 1 setting: beta1 = 0
    problem = P.ReddiCounterexample(C=c)
    opts = [Adam(lr=0.05, betas=(0.0, beta2)), Adam(lr=0.05, betas=(0.0, beta2), amsgrad=True),
            SGD(lr=0.05)]
    res = optbench.run(problem, opts, steps=1500, seeds=1, x0=np.array([1.0]),
                       record=("x", "loss"))
    x = res.trace("x")[:, :, 0]
    assert np.all(x >= -1.0) and np.all(x <= 1.0)  # projected after every step
    adam, amsgrad, sgd = x[:, -30:].mean(axis=1)  # the iterates cycle with period 3
    assert adam > 0.9  # Adam drifts to the worst point, x = +1 ...
    assert amsgrad < -0.9 and sgd < -0.9  # ... AMSGrad and SGD to the optimum x* = -1
    assert x[1, -30:].min() == -1.0 and x[0, -30:].max() == 1.0
    assert res.trace("loss")[0, -1] > 0.25 > -0.25 > res.trace("loss")[1, -1]
    # without the projection SGD would leave the box: the online gradients are C, -1, -1
    far = optbench.run(problem, [SGD(lr=1.0)], steps=30, seeds=1, x0=np.array([0.0]),
                       record=("x",))
    assert far.trace("x").min() == -1.0


def test_reddi_stochastic_version_draws_c_with_the_right_probability():
    problem = P.ReddiCounterexample(C=10.0, stochastic=True, delta=0.5)
    hits = [problem.sampled_loss_grad(np.ones(1), 3, k)[0] for k in range(20000)]
    assert np.mean(np.array(hits) == 10.0) == pytest.approx(1.5 / 11.0, abs=0.01)
    assert problem.f_star == -0.5 and problem.loss([1.0]) == pytest.approx(0.5)


# ---- specs and suites ----------------------------------------------------------------------


@pytest.mark.parametrize("problem", INSTANCES, ids=IDS)
def test_specs_round_trip(problem):
    again = P.Problem.from_dict(problem.to_dict())
    assert again == problem and again.key() == problem.key()
    np.testing.assert_array_equal(again.data, problem.data)


@pytest.mark.parametrize("make, match", [
    (lambda: P.LeastSquares(n=0), "LeastSquares: n"),
    (lambda: P.LeastSquares(batch_size=500, n=100), "LeastSquares: batch_size"),
    (lambda: P.LeastSquares(features=2, dataset="tutorial"), "LeastSquares: features"),
    (lambda: P.LogisticRegression(dataset="wdbc", n=10), "LogisticRegression: n"),
    (lambda: P.LogisticRegression(l2=0.0), "LogisticRegression: l2"),
    (lambda: P.LogisticRegression(dataset="mnist"), "LogisticRegression: dataset"),
    (lambda: P.SoftmaxRegression(classes=1), "SoftmaxRegression: classes"),
    (lambda: P.Huber(delta=0.0), "Huber: delta"),
    (lambda: P.ReddiCounterexample(C=2.0), "ReddiCounterexample: C"),
    (lambda: P.Rastrigin(dim=0), "Rastrigin: dim"),
    (lambda: P.Beale(noise=-1.0), "Beale: noise"),
    (lambda: P.Rosenbrock(noise_kind="cauchy"), "Rosenbrock: noise_kind"),
    (lambda: P.Ackley(noise_dof=0.0), "Ackley: noise_dof"),
    (lambda: P.MatrixFactorization(rank=30), "MatrixFactorization: rank"),
    (lambda: P.PhaseRetrieval(m=0), "PhaseRetrieval: m"),
    (lambda: P.MLP(hidden=(4, 4, 4)), "MLP: hidden"),
    (lambda: P.MLP(activation="gelu"), "MLP: activation"),
    (lambda: P.MLP(batch_size=1000), "MLP: batch_size"),
])
def test_bad_arguments_name_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_registry_lists_every_family_once():
    assert set(P.REGISTRY) == set(P.CONVEX) | set(P.NONCONVEX)
    codes = [cls.term_code for cls in P.REGISTRY.values() if hasattr(cls, "term_code")]
    assert len(codes) == len(set(codes)) == 7  # the finite sums' terms
    for cls in P.REGISTRY.values():
        assert cls.__doc__ and len(cls.__doc__) > 80


def test_every_registered_problem_is_in_the_family_table():
    """optbench.problem_families drives these tests and the CUDA grids: a built-in problem
    missing there would be checked by neither."""
    assert set(BY_NAME) == set(P.REGISTRY)
    assert len(BY_NAME) == len(FAMILIES)  # one entry per family
    for family in FAMILIES:
        assert family.spec is P.REGISTRY[family.name]
        covering = (family.instances + family.hook_variants + family.noise_variants
                    + family.minibatch_variants)
        assert family.instances and len(set(covering)) == len(covering)  # no two alike
        assert all(type(p) is family.spec for p in covering)
        assert all(p.noise > 0.0 for p in family.noise_variants)
        assert all(p.batch_size > 0 for p in family.minibatch_variants)
        assert not any(p.noise for p in family.instances + family.hook_variants)


@pytest.mark.parametrize("name", ["standard", "full", "adam-decay"])
def test_suites_parse_and_cover_the_problems(name):
    kwargs = read_suite(ROOT / "problems" / f"{name}.toml")
    kinds = {type(p).__name__ for p in kwargs["problems"]}
    if name in ("standard", "full"):
        assert kinds == set(P.REGISTRY)
    else:
        assert kinds & set(P.CONVEX) and kinds & set(P.NONCONVEX)
    assert kwargs["optimizers"] and kwargs["schedules"]
