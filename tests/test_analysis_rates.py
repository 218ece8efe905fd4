"""One rate definition: ``optbench analyze``, the theory checks, ``optbench compare`` and the
report give one configuration the same rate (the per-step contraction factor of f - f* on the
fitted linear phase, ``analysis.config_rate``), and "linear" means a shrinking gap."""
import json
import math

import numpy as np
import pytest

import optbench
from optbench import analysis as an
from optbench.cli import main
from optbench.optimizers import SGD, Adam, RMSprop
from optbench.problems import Booth, Quadratic, ReddiCounterexample
from optbench.report.data import RunView
from optbench.report.theory import checks as report_checks
from optbench.results import Results


def test_one_configuration_has_one_rate_in_analyze_theory_compare_and_report(tmp_path):
    # before: analyze 0.98009/step, the theory check 0.98999 (an iterate rate), compare
    # 3.28 decades/100 steps (0.9273/step, fitted on the early transient)
    p = Quadratic(dim=20, kappa=100.0, rotate=True)
    run_dir = tmp_path / "run"
    optbench.run(p, SGD(lr=1.0 / p.L), steps=1000, seeds=5, out=run_dir, record_every="log",
                 record_points=40, progress=False)
    assert main(["analyze", str(run_dir), "--json", str(tmp_path / "a.json"), "--csv",
                 str(tmp_path / "csv"), "--quiet"]) == 0
    doc = json.loads((tmp_path / "a.json").read_text())
    (rates,) = doc["rates"]
    theory = next(r for r in doc["theory"] if r["check"] == "GD step 1/L (quadratic)")
    assert main(["compare", str(run_dir), str(run_dir), "--json", str(tmp_path / "c.json")]) == 0
    (cmp,) = json.loads((tmp_path / "c.json").read_text())["configurations"]
    compare_rate = 10.0 ** (cmp["metrics"]["rate"]["base_median"] / 100.0)
    res = optbench.load(run_dir)
    table = report_checks(res, RunView(res)).table
    row = dict(zip(table.columns, next(r for r in table.rows
                                       if r[4] == "GD step 1/L (quadratic)")))

    q = rates["rate"]
    assert q == pytest.approx(0.99 ** 2, abs=4e-4)  # (1 - 1/kappa)^2: the slowest mode
    assert theory["measured"] == q and row["measured"] == q
    assert compare_rate == pytest.approx(q, rel=1e-12)
    assert rates["decades_per_100"] == pytest.approx(-100 * math.log10(q), rel=1e-12)
    assert -cmp["metrics"]["rate"]["base_median"] == pytest.approx(rates["decades_per_100"])
    assert (theory["measured_low"], theory["measured_high"]) == (rates["rate_low"],
                                                                 rates["rate_high"])
    assert rates["rate_low"] < q < rates["rate_high"]
    # the report's rates table: class, rate and interval, predicted, ratio, verdict
    assert row["class"] == "strongly convex" and row["verdict"] == "pass"
    assert row["predicted"] == pytest.approx(0.99 ** 2)
    assert row["ratio"] == pytest.approx(math.log(q) / math.log(0.99 ** 2))
    assert row["interval"] == f"[{rates['rate_low']:.6g}, {rates['rate_high']:.6g}]"


def test_decades_per_100_steps_is_a_display_of_the_rate():
    assert an.decades_per_100_steps(0.1 ** 0.01) == pytest.approx(1.0)
    assert an.decades_per_100_steps(1.0) == 0.0
    assert math.isnan(an.decades_per_100_steps(float("nan")))
    assert math.isnan(an.decades_per_100_steps(0.0))
    np.testing.assert_allclose(an.decades_per_100_steps(np.array([0.1 ** 0.02, 1.0])),
                               [2.0, 0.0])


def test_a_stopped_trajectory_is_fitted_before_it_stopped():
    t = np.arange(200.0)
    e = np.where(t < 80, 0.9 ** t, 0.9 ** 79)  # the kernel keeps the value of a stopped run
    assert an.linear_rate(e, t).rate == pytest.approx(0.9, rel=1e-12)
    assert an.config_rate(np.vstack([e, e]), t).rate == pytest.approx(0.9, rel=1e-12)


def test_linear_needs_a_shrinking_gap_and_a_kept_floor():
    t = np.arange(300.0)
    assert an.classify(10 * 0.95 ** t, t) == "linear"
    # rose 100x first, then decays geometrically but ends above the initial gap
    rising = np.where(t == 0, 1.0, 100.0 * 0.995 ** t)
    assert rising[-1] > rising[0] and an.linear_rate(rising, t).r2 > 0.99
    assert an.classify(rising, t) == "stalled"
    # reached the round-off floor, then kicked back out to a gap of order 1 (RMSprop)
    rebound = np.where(t < 250, 100.0 * 0.8 ** t, 5.0)
    assert an.classify(rebound, t) == "oscillating"


def test_rmsprop_kicked_off_the_floor_is_not_linear():
    res = optbench.run(Booth(), RMSprop(lr=1.0), steps=1000, seeds=3, record_every="log",
                       record_points=36, progress=False)
    gap = an.metric_trace(res, "suboptimality")
    assert np.all(gap.min(axis=1) < 1e-12 * gap.max(axis=1))  # each seed reached the floor
    assert np.all(gap[:, -1] > 1e-3)                           # and left it again
    (row,) = an.rate_table(res).to_dict("records")
    assert row["class"] != "linear" and "linear" not in row["classes"]


def test_a_slower_rate_is_inconclusive_only_before_the_linear_phase():
    p = Quadratic(dim=10, kappa=100.0)
    res = optbench.run(p, SGD(lr=1.0), steps=1000, seeds=2, progress=False)
    steps = res.steps.astype(float)

    def verdict(gap):
        arrays = dict(res.arrays)
        arrays["suboptimality"] = np.broadcast_to(gap, res.arrays["suboptimality"].shape)
        doctored = Results(res.plan, arrays, res.manifest)
        (c,) = [c for c in an.theory_checks(doctored) if c.quantity == "f - f* rate"]
        return c

    sublinear = verdict(1.0 / (1.0 + steps))  # still O(1/t) when the budget ends
    assert sublinear.phase == "sublinear" and sublinear.status == "inconclusive"
    slow = verdict(0.995 ** steps)  # linear, but slower than (1 - 1/kappa)^2 = 0.9801
    assert slow.phase == "linear" and slow.status == "fail"
    assert slow.ratio == pytest.approx(math.log(0.995) / math.log(0.9801), rel=1e-6)


def test_reddi_checks_short_of_the_end_point_are_inconclusive_or_fail():
    betas = (0.0, 0.1)  # 1/(1 + C^2) for C = 3
    res = optbench.run(ReddiCounterexample(C=3.0), [Adam(lr=1e-3, betas=betas, amsgrad=True),
                                                    Adam(lr=1e-2, betas=betas, amsgrad=True)],
                       steps=300, seeds=3, progress=False)
    short, enough = an.theory_checks(res)
    # lr 1e-3 for 300 steps cannot carry x to -1: the budget ended first
    assert short.measured > -0.75 and short.status == "inconclusive"
    assert enough.status == "inconclusive"  # still moving toward -1 at step 300
    arrays = dict(res.arrays)  # an AMSGrad that stays at x = 0 with lr enough to move: fails
    arrays["loss"] = np.zeros_like(res.arrays["loss"])
    stuck = an.theory_checks(Results(res.plan, arrays, res.manifest))
    assert [c.status for c in stuck] == ["inconclusive", "fail"]


def test_theory_checks_without_a_loss_trace_need_no_rate():
    res = optbench.run(Quadratic(dim=3, kappa=10.0), Adam(lr=0.01), steps=50, seeds=2,
                       record=("x",), progress=False)
    assert [c.status for c in an.theory_checks(res)] == ["no bound"]  # no error trace read
