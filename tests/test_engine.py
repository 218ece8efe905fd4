"""The engine loop: wiring against a naive Python loop, statuses, determinism, dtypes."""
import numpy as np
import pytest

import optbench
from optbench.optimizers import SGD, Adam, Adagrad, NAdam, RMSprop
from optbench.plan import record_steps
from optbench.problems import MLP, LeastSquares, LogisticRegression, Quadratic, Rosenbrock
from optbench.schedules import StepLR

from naive import run_naive

OPTIMIZERS = [SGD(lr=2e-4, momentum=0.9, nesterov=True), Adam(lr=0.02, amsgrad=True),
              NAdam(lr=0.01), RMSprop(lr=0.01, centered=True, momentum=0.5),
              Adagrad(lr=0.3, lr_decay=0.01)]
PROBLEMS = [Quadratic(dim=4, kappa=50.0, rotate=True, seed=7), Rosenbrock(dim=3)]


def test_engine_matches_naive_loop_for_every_trace():
    res = optbench.run(PROBLEMS, OPTIMIZERS, steps=60, seeds=[3, 11],
                       record=("loss", "lr", "grad_norm", "suboptimality", "dist_to_opt", "x"))
    x_trace = res.trace("x")
    for j, t in enumerate(res.plan.trials):
        problem, optimizer = res.plan.problems[t.problem], res.plan.optimizers[t.optimizer]
        x0 = problem.start_points([t.seed])[0]
        xs, losses, gnorms = run_naive(problem, optimizer, x0, 60)
        d = problem.dim
        np.testing.assert_array_equal(x_trace[j, :, :d], xs)
        np.testing.assert_array_equal(res.trace("loss")[j], losses)
        np.testing.assert_array_equal(res.trace("grad_norm")[j], gnorms)
        np.testing.assert_array_equal(res.trace("suboptimality")[j], losses - problem.f_star)
        dist = np.linalg.norm(xs - problem.minimizers[0], axis=1)
        np.testing.assert_allclose(res.trace("dist_to_opt")[j], dist, rtol=1e-14)
        np.testing.assert_array_equal(res.trace("lr")[j], optimizer.lr)
        assert res.trials["status"][j] == "finished"
        assert res.trials["final_loss"][j] == losses[-1]


def test_trace_zero_is_the_start_point_and_same_for_every_optimizer():
    res = optbench.run(Rosenbrock(dim=5), [Adam(), SGD(lr=1e-4)], steps=5, seeds=[0, 1],
                       record=("x",))
    x = res.trace("x")
    seeds = res.trials["seed"]
    for seed in (0, 1):
        rows = np.flatnonzero(seeds == seed)
        np.testing.assert_array_equal(x[rows[0], 0], x[rows[1], 0])
        np.testing.assert_array_equal(x[rows[0], 0], Rosenbrock(dim=5).start_points([seed])[0])
    assert not np.array_equal(x[0, 0], x[1, 0])  # different seeds, different starts


def test_explicit_start_points():
    one = np.array([0.5, -0.5])
    res = optbench.run(Rosenbrock(), [SGD(lr=1e-3)], steps=3, seeds=2, x0=one, record=("x",))
    np.testing.assert_array_equal(res.trace("x")[:, 0], [one, one])
    per = np.array([[0.1, 0.2], [0.3, 0.4]])
    res = optbench.run(Rosenbrock(), [SGD(lr=1e-3)], steps=3, seeds=2, x0=per, record=("x",))
    np.testing.assert_array_equal(res.trace("x")[:, 0], per)
    with pytest.raises(ValueError, match="x0"):
        optbench.run(Rosenbrock(), [SGD()], steps=3, seeds=2, x0=np.zeros(3))
    with pytest.raises(ValueError, match="x0"):
        optbench.run(Rosenbrock(), [SGD()], steps=3, seeds=2, x0=np.zeros((3, 2)))


def test_divergence_is_marked_and_frozen_while_others_continue():
    q = Quadratic(dim=3, kappa=10.0)
    # lr 2.5 > 2/L = 2: gradient descent blows up geometrically on the top eigenvalue
    res = optbench.run(q, [SGD(lr=2.5), SGD(lr=0.5)], steps=400, seeds=1,
                       record=("loss",))
    status = res.trials["status"]
    assert list(status) == ["diverged", "finished"]
    k = res.trials["status_step"][0]
    assert 0 < k < 400
    loss = res.trace("loss")[0]
    assert np.all(loss[k:] == loss[k])  # frozen after the diverging step
    alone = optbench.run(q, [SGD(lr=0.5)], steps=400, seeds=1, record=("loss",))
    np.testing.assert_array_equal(alone.trace("loss")[0], res.trace("loss")[1])


def test_non_finite_loss_diverges():
    res = optbench.run(Rosenbrock(), [SGD(lr=1e3)], steps=50, seeds=1, blowup=1e300)
    assert res.trials["status"][0] == "diverged"
    final = [res.trials["final_loss"][0], res.trials["final_grad_norm"][0]]
    assert not np.all(np.isfinite(final))  # the loss or the gradient overflowed


def test_target_reached_with_its_step():
    q = Quadratic(dim=2, eigenvalues=[1.0, 1.0])
    res = optbench.run(q, [SGD(lr=0.5)], steps=100, seeds=1, target=1e-8, record=("loss",))
    loss = res.trace("loss")[0]
    k = int(res.trials["status_step"][0])
    assert res.trials["status"][0] == "reached_target"
    assert loss[k] <= 1e-8 < loss[k - 1]
    assert np.all(loss[k:] == loss[k])


MINIBATCH = [LeastSquares(n=40, features=3, batch_size=6),
             LogisticRegression(n=50, features=4, batch_size=8, replacement=True),
             MLP(hidden=(5,), activation="relu", n=20, batch_size=7)]


def _expected_status(losses, f_star, target, blowup):
    """(status, step) by the engine's rule, from the exact losses of every step."""
    bound = losses[0] + blowup * (abs(losses[0]) + 1.0)
    for k, f in enumerate(losses):
        if not np.isfinite(f) or f > bound:
            return "diverged", k
        if target is not None and f - f_star <= target:
            return "reached_target", k
    return "finished", len(losses) - 1


@pytest.mark.parametrize("target, blowup", [(None, 1e10), (0.3, 2.0)])
def test_minibatch_runs_match_a_loop_that_takes_the_exact_gradient_every_step(target, blowup):
    """Minibatch runs compute the full-data gradient only where it is read (record steps, a
    stop): traces, statuses, stop steps and final values are the naive loop's, which computes
    f and grad f exactly at every step."""
    steps = 60
    optimizers = [SGD(lr=0.05, momentum=0.9), Adam(lr=0.05), SGD(lr=2.0)]
    res = optbench.run(MINIBATCH, optimizers, steps=steps, seeds=[0, 4], target=target,
                       blowup=blowup, record=("loss", "grad_norm", "sampled_loss", "x"),
                       record_every=9)
    rec = res.steps
    stops = []
    for j, t in enumerate(res.plan.trials):
        problem, optimizer = res.plan.problems[t.problem], res.plan.optimizers[t.optimizer]
        x0 = problem.start_points([t.seed])[0]
        xs, losses, gnorms = run_naive(problem, optimizer, x0, steps, seed=t.seed)
        status, k = _expected_status(losses, problem.f_star, target, blowup)
        assert (res.trials["status"][j], res.trials["status_step"][j]) == (status, k)
        stops.append((status, k))
        at = np.minimum(rec, k)  # records after a stop repeat the state of the stop step
        np.testing.assert_array_equal(res.trace("loss")[j], losses[at])
        np.testing.assert_array_equal(res.trace("grad_norm")[j], gnorms[at])
        np.testing.assert_array_equal(res.trace("x")[j][:, :problem.dim], xs[at])
        assert res.trials["final_loss"][j] == losses[k]
        assert res.trials["final_grad_norm"][j] == gnorms[k]
    if target is not None:  # both kinds of stop happen, and between record steps
        for kind in ("diverged", "reached_target"):
            assert any(s == kind and k not in rec for s, k in stops), kind


def test_record_every_and_log_spacing():
    np.testing.assert_array_equal(record_steps(10, 3), [0, 3, 6, 9, 10])
    log = record_steps(1000, "log", 50)
    assert log[0] == 0 and log[-1] == 1000 and np.all(np.diff(log) > 0)
    full = optbench.run(Rosenbrock(), [Adam()], steps=30, seeds=1, record=("loss",))
    thin = optbench.run(Rosenbrock(), [Adam()], steps=30, seeds=1, record=("loss",),
                        record_every=7)
    np.testing.assert_array_equal(thin.steps, [0, 7, 14, 21, 28, 30])
    np.testing.assert_array_equal(thin.trace("loss")[0], full.trace("loss")[0][thin.steps])


def test_bitwise_reproducible_across_threads_shards_and_runs():
    kw = dict(problems=[Quadratic(dim=6, kappa=100.0, rotate=True, noise=0.3), Rosenbrock(4)],
              optimizers=OPTIMIZERS, steps=80, seeds=3, record=("loss", "x"))
    a = optbench.run(**kw)
    b = optbench.run(**kw, threads=1, shard_size=4)
    c = optbench.run(**kw, threads=2, shard_size=7)
    for other in (b, c):
        np.testing.assert_array_equal(a.trace("loss"), other.trace("loss"))
        np.testing.assert_array_equal(a.trace("x"), other.trace("x"))


def test_block_width_and_alignment_leave_every_value_unchanged():
    """Blocks of 16 and 128 lanes, and a plan's default, give bitwise the same records; the
    lane arrays start on 64-byte boundaries (unaligned rows cost workload A 17-20%), the
    iterate, gradient, moments and coefficients each at its own offset in a 4 KiB page."""
    from optbench import engine
    from optbench.plan import Plan

    plan = Plan(problems=[Rosenbrock(5), Quadratic(dim=3, kappa=10.0)],
                optimizers=[Adam(lr=0.01), SGD(lr=0.01, momentum=0.9)], schedules=StepLR(10),
                steps=40, seeds=150, record=("loss", "grad_norm", "x"), record_every=7)
    outputs = []
    for lanes in (16, 128, None):
        packed = engine.Packed(plan, 0, plan.n_trials, lanes=lanes)
        assert all(a.ctypes.data % engine.ALIGN_BYTES == 0
                   for name, a in packed.lanes._asdict().items() if name != "SC" and a.size)
        assert {name: getattr(packed.lanes, name).ctypes.data % engine.PAGE_BYTES
                for name in ("X", "G", "S", "C")} == {"X": 0, "G": 2048, "S": 1024, "C": 3072}
        engine.run_blocks(packed)
        outputs.append(packed.outputs(plan.record))
    for other in outputs[1:]:
        for name, values in outputs[0].items():
            np.testing.assert_array_equal(values, other[name], err_msg=name)


def test_blocks_narrow_only_to_keep_every_thread_busy():
    from optbench.engine import CPU_LANES, MIN_CPU_LANES, cpu_lanes

    assert cpu_lanes(10_000, 2) == CPU_LANES
    assert cpu_lanes(1_000, 2) == CPU_LANES // 2  # 8 blocks of 128 would be under 4 a thread
    assert cpu_lanes(100, 2) == MIN_CPU_LANES
    assert cpu_lanes(1, 64) == MIN_CPU_LANES


def test_plan_trials_are_made_on_access_from_the_id_array():
    import pickle

    from optbench.plan import Plan, Trial

    plan = Plan(problems=[Quadratic(dim=2), Rosenbrock(3)], optimizers=[SGD(lr=0.1)],
                schedules=[StepLR(5), StepLR(2)], steps=3, seeds=[4, 9])
    ids = plan.trial_ids
    assert len(plan.trials) == plan.n_trials == ids.shape[0] == 8
    assert plan.trials[5] == Trial(*ids[5].tolist())
    assert plan.trials[-1] == Trial(*ids[-1].tolist())
    assert plan.trials[2:4] == [Trial(*row) for row in ids[2:4].tolist()]
    assert list(plan.trials) == [Trial(*row) for row in ids.tolist()]
    assert plan.trials == list(plan.trials) and plan.trials != list(plan.trials)[:-1]
    assert pickle.loads(pickle.dumps(plan)).trials == plan.trials


def test_gradient_noise_changes_the_path_but_not_the_recorded_loss_definition():
    exact = optbench.run(Quadratic(dim=3), [SGD(lr=0.1)], steps=20, seeds=1, record=("x", "loss"))
    noisy = optbench.run(Quadratic(dim=3, noise=0.5), [SGD(lr=0.1)], steps=20, seeds=1,
                         record=("x", "loss"))
    assert not np.array_equal(exact.trace("x"), noisy.trace("x"))
    q = Quadratic(dim=3)
    x = noisy.trace("x")[0]
    np.testing.assert_allclose(noisy.trace("loss")[0], [q.loss(xi) for xi in x], rtol=1e-15)


def test_float32_runs_close_to_float64():
    kw = dict(problems=Quadratic(dim=5, kappa=10.0), optimizers=[Adam(lr=0.05), SGD(lr=0.5)],
              steps=100, seeds=2, record=("loss", "x"))
    r64 = optbench.run(**kw)
    r32 = optbench.run(**kw, dtype="float32")
    assert r32.trace("x").dtype == np.float32
    np.testing.assert_allclose(r32.trace("x"), r64.trace("x"), atol=1e-5)


def test_trials_table_columns_and_grid_order():
    res = optbench.run([Quadratic(dim=2), Rosenbrock()], [Adam(lr=0.1), SGD(lr=1e-4)], steps=3,
                       seeds=[5, 6])
    tr = res.trials
    assert len(tr) == 8
    assert list(tr["problem_type"]) == ["Quadratic"] * 4 + ["Rosenbrock"] * 4
    assert list(tr["optimizer_type"][:4]) == ["Adam", "Adam", "SGD", "SGD"]
    assert list(tr["seed"][:4]) == [5, 6, 5, 6]
    assert tr["opt.lr"][0] == 0.1 and tr["opt.lr"][2] == 1e-4
    assert np.isnan(tr["opt.momentum"][0]) and tr["opt.momentum"][2] == 0.0
    assert set(tr["status"]) == {"finished"}


@pytest.mark.parametrize("bad, match", [
    (dict(steps=0), "steps"), (dict(seeds=[]), "seeds"), (dict(seeds=[1, 1]), "distinct"),
    (dict(record=("loss", "los")), "record"), (dict(dtype="float16"), "dtype"),
    (dict(record_every=0), "record_every"), (dict(backend="tpu"), "backend"),
    (dict(schedules=[None, StepLR(step_size=2)]), r"^run: expected a schedule spec, got None$"),
    (dict(optimizers="Adam"), r"^run: expected an optimizer spec, got 'Adam' \(a name is "
                              r"looked up in suite files only; pass an instance such as Adam\(\)\)$"),
    (dict(x0="abc"), r"^run: x0 must be an array of numbers, got 'abc'$"),
    (dict(x0=[np.nan, 1.0]), r"^run: x0 must be finite \(it holds NaN or inf\)$"),
    (dict(x0=np.zeros(3)), r"^run: x0 has 3 entries but the problems have dimension \[2\]$"),
    (dict(name=3), r"^run: name must be a non-empty string, got 3$"),
    (dict(seeds=2**60), r"^run: seeds must be within \+-2\*\*53"),
])
def test_bad_run_arguments_name_the_argument(bad, match):
    """One line naming the argument (never an AttributeError or numpy's own message)."""
    kw = dict(problems=Rosenbrock(), optimizers=[Adam()], steps=5, seeds=1)
    kw.update(bad)
    with pytest.raises(ValueError, match=match) as info:
        optbench.run(**kw)
    assert "\n" not in str(info.value)


def test_a_configuration_diverging_on_every_seed_is_named_in_a_warning():
    import warnings

    with pytest.warns(RuntimeWarning, match=r"^1 configuration\(s\) diverged on all 3 seeds: "
                                            r"SGD\(momentum=0\.9\) on Rosenbrock\(dim=10\) "
                                            r"\(from step \d+\)$"):
        res = optbench.run(Rosenbrock(dim=10), [SGD(lr=1e-3, momentum=0.9), Adam()], steps=50,
                           seeds=3)
    assert len(res.diverged_everywhere()) == 1
    assert list(res.trials["status"][3:]) == ["finished"] * 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a run where something converges stays quiet
        optbench.run(Rosenbrock(dim=10), Adam(), steps=50, seeds=3)
