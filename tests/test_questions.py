"""Study questions (optbench.analysis.questions): matched contrasts, their statistics
against scipy, the power rule, validation, and the report's Questions section."""
import json

import numpy as np
import pytest
from scipy import stats as sps

import optbench
from optbench.analysis.questions import (
    _score_traces,
    answer_lines,
    answers,
    check_against,
    parse_questions,
)
from optbench.cli import main
from optbench.optimizers import SGD, Adam
from optbench.plan import Plan
from optbench.problems import Quadratic, Rosenbrock
from optbench.schedules import CosineAnnealingLR, ExponentialLR, StepLR
from optbench.suite import read_suite

BIAS = {"ask": "Does bias correction matter?", "optimizer": "Adam",
        "factor": "bias_correction", "levels": [True, False], "at": [10]}


@pytest.fixture(scope="module")
def bias_run():
    return optbench.run([Quadratic(dim=4, kappa=10.0), Rosenbrock(dim=2)],
                        [Adam(lr=lr, bias_correction=bc) for lr in (1e-2, 1e-1)
                         for bc in (True, False)],
                        steps=200, seeds=10, record_every="log", record_points=30,
                        progress=False, questions=[BIAS])


def test_contrasts_match_scipy_on_the_matched_differences(bias_run):
    res = bias_run
    (a,) = answers(res)
    assert [c.level for c in a.contrasts] and a.reference == "true"
    score = _score_traces(res)
    steps = np.asarray(res.steps)
    ids = res.plan.trial_ids
    bc = np.array([res.plan.optimizers[o].bias_correction for o in ids[:, 1]])
    lr = np.array([res.plan.optimizers[o].lr for o in ids[:, 1]])
    for c in a.contrasts:
        col = int(np.flatnonzero(steps == c.step)[0])
        prob = 0 if c.problem_class == "strongly convex" else 1
        d = []
        for rate in (1e-2, 1e-1):
            for seed in range(10):
                pick = (ids[:, 0] == prob) & (ids[:, 3] == seed) & (lr == rate)
                ref = score[pick & bc, col][0]
                lev = score[pick & ~bc, col][0]
                d.append(lev - ref)
        d = np.asarray(d)
        assert c.blocks == 20 and c.n == np.count_nonzero(d)
        assert np.isclose(c.p, sps.wilcoxon(d).pvalue, rtol=1e-9)  # exact, no ties here
        assert np.isclose(c.ratio, 10.0 ** np.median(d), rtol=1e-12)
        r = sps.rankdata(np.abs(d))
        assert np.isclose(c.effect, (r[d > 0].sum() - r[d < 0].sum()) / r.sum())
        assert c.ratio_ci[0] <= c.ratio <= c.ratio_ci[1]
    # the asked step 10 maps to the last recorded step <= 10, the final step is always there
    assert sorted({c.step for c in a.contrasts}) == [int(steps[steps <= 10][-1]), 200]
    p_holm = [c.p_holm for c in a.contrasts]
    assert all(ph >= c.p for ph, c in zip(p_holm, a.contrasts))


def test_bias_correction_matters_early_on_the_quadratic(bias_run):
    """Without bias correction Adam's first steps are lr (1 - b1)/sqrt(1 - b2) ~ 3.2 lr
    long, not lr: at a small lr, far from x*, the gap after 10 steps is smaller on every
    matched pair."""
    (a,) = answers(bias_run, [{**BIAS, "by": "lr"}])
    early = next(c for c in a.contrasts if c.problem_class == "strongly convex"
                 and c.step <= 10 and c.split == "lr=0.01")
    assert early.verdict == "smaller gap" and early.p_holm < 0.05 and early.ratio < 1.0
    assert early.n == early.blocks == 10 and early.effect == -1.0
    text = "\n".join(answer_lines([a]))
    assert "Does bias correction matter?" in text and "bias_correction=false" in text


def test_a_factor_without_effect_is_tied_and_few_seeds_say_too_few():
    # AMSGrad's max(vmax, v) changes nothing while v only grows (a few tiny steps)
    res = optbench.run(Quadratic(dim=3), [Adam(lr=1e-6, amsgrad=a) for a in (False, True)],
                       steps=5, seeds=4, progress=False)
    (a,) = answers(res, [{"optimizer": "Adam", "factor": "amsgrad", "levels": [False, True]}])
    assert {c.verdict for c in a.contrasts} == {"tied"} and all(c.n == 0 for c in a.contrasts)
    res = optbench.run(Quadratic(dim=3), [Adam(lr=0.1, bias_correction=b) for b in (True, False)],
                       steps=20, seeds=3, progress=False)
    (a,) = answers(res, [BIAS])
    # 3 pairs: the smallest two-sided p is 2/2^3 = 0.25, so no verdict either way
    assert {c.verdict for c in a.contrasts} == {"too few pairs"}


def test_schedule_questions_and_splits():
    res = optbench.run(Quadratic(dim=3, kappa=10.0),
                       [SGD(lr=lr, momentum=0.9) for lr in (0.01, 0.05)],
                       schedules=[StepLR(step_size=20, gamma=0.5), ExponentialLR(gamma=0.97),
                                  CosineAnnealingLR(T_max=60)],
                       steps=60, seeds=6, progress=False)
    q = {"optimizer": "SGD", "factor": "schedule",
         "levels": ["StepLR", "ExponentialLR", "CosineAnnealingLR"], "by": "lr"}
    (a,) = answers(res, [q])
    assert a.reference == "StepLR"
    assert {c.level for c in a.contrasts} == {"ExponentialLR", "CosineAnnealingLR"}
    assert {c.split for c in a.contrasts} == {"lr=0.01", "lr=0.05"}
    assert all(c.blocks == 6 for c in a.contrasts)


@pytest.mark.parametrize("question, message", [
    ({"optimizer": "Adam", "factor": "bias_corection", "levels": [True, False]},
     "factor 'bias_corection' is not a parameter of Adam nor 'schedule' (did you mean "
     "'bias_correction'?)"),
    ({"optimizer": "Adamm", "factor": "lr", "levels": [0.1, 0.2]}, "optimizer: "),
    ({"optimizer": "Adam", "factor": "lr", "levels": [0.1]}, "two or more values"),
    ({"optimizer": "Adam", "factor": "lr", "levels": [0.1, 0.1]}, "repeat a value"),
    ({"optimizer": "Adam", "factor": "lr", "levels": [0.1, -1.0]}, "lr"),
    ({"optimizer": "Adam", "factor": "lr", "levels": [0.1, 0.2], "at": [0]}, "at must be"),
    ({"optimizer": "Adam", "factor": "lr", "levels": [0.1, 0.2], "by": "lr"}, "by 'lr'"),
    ({"optimizer": "Adam", "factor": "lr", "levels": [0.1, 0.2], "when": 3}, "unknown key 'when'"),
    ({"optimizer": "Adam", "factor": "schedule", "levels": [1, 2]}, "schedule levels are"),
])
def test_bad_questions_get_one_line(question, message):
    with pytest.raises(ValueError) as err:
        parse_questions([question], "s.toml: ")
    text = str(err.value)
    assert "\n" not in text and text.startswith("s.toml: [[questions]] #1: ") and message in text


def test_questions_the_run_cannot_answer_are_refused_before_running(tmp_path):
    plan = Plan(problems=[Quadratic()], optimizers=[Adam(lr=0.1), Adam(lr=0.2)],
                schedules=[ExponentialLR(gamma=0.9), ExponentialLR(gamma=0.99)], seeds=1,
                steps=5)
    for q, message in [({"optimizer": "SGD", "factor": "lr", "levels": [0.1, 0.2]},
                        "the run has no SGD optimizer"),
                       ({"optimizer": "Adam", "factor": "lr", "levels": [0.1, 0.3]},
                        "level(s) 0.3 of lr are not in the run"),
                       ({"optimizer": "Adam", "factor": "schedule",
                         "levels": ["ExponentialLR", "StepLR"]}, "names 2 schedules")]:
        with pytest.raises(ValueError, match="question #1") as err:
            check_against(parse_questions([q]), plan)
        assert message in str(err.value)
    with pytest.raises(ValueError, match="not in the run"):
        optbench.run(Quadratic(), [Adam(lr=0.1)], steps=5, out=tmp_path / "r", progress=False,
                     questions=[{"optimizer": "Adam", "factor": "lr", "levels": [0.1, 0.3]}])
    assert not (tmp_path / "r").exists()  # nothing stored


def test_a_suite_asks_and_the_report_answers(tmp_path, capsys):
    suite = tmp_path / "study.toml"
    suite.write_text("""
name = "study"
[run]
steps = 100
seeds = 6
[[problems]]
type = "Quadratic"
dim = 3
[[optimizers]]
type = "Adam"
lr = [0.01, 0.1]
bias_correction = [true, false]
[[questions]]
ask = "Does bias correction matter?"
optimizer = "Adam"
factor = "bias_correction"
levels = [true, false]
at = [10]
""")
    run_dir, report = tmp_path / "run", tmp_path / "report"
    assert main(["run", str(suite), "--out", str(run_dir), "--quiet"]) == 0
    stored = optbench.load(run_dir)
    assert stored.questions == [{"ask": "Does bias correction matter?", "optimizer": "Adam",
                                 "factor": "bias_correction", "levels": [True, False],
                                 "at": [10]}]
    assert json.loads((run_dir / "manifest.json").read_text())["questions"] == stored.questions
    capsys.readouterr()
    assert main(["report", str(run_dir), "--out", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "Q: Does bias correction matter?" in printed
    assert (report / "questions.txt").read_text().startswith("Q: Does bias correction matter?")
    html = (report / "index.html").read_text()
    assert '<h2 id="questions">Questions</h2>' in html
    assert html.index('id="questions"') < html.index('id="provenance"')  # first screen
    csv = (report / "tables" / "questions.csv").read_text()
    assert "bias_correction=false vs true" in csv
    assert "## Questions" in (report / "report.md").read_text()


def test_a_typo_in_a_suite_question_is_one_line_and_exit_2(tmp_path, capsys):
    suite = tmp_path / "s.toml"
    suite.write_text('[[problems]]\ntype = "Quadratic"\n[[optimizers]]\ntype = "Adam"\n'
                     '[[questions]]\noptimizer = "Adam"\nfactor = "amsgrd"\n'
                     'levels = [false, true]\n')
    assert main(["run", str(suite), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "[[questions]] #1: factor 'amsgrd'" in err
    assert "did you mean 'amsgrad'" in err and not (tmp_path / "r").exists()


def test_the_study_suite_asks_what_it_runs():
    kw = read_suite("problems/adam-decay.toml")
    plan = Plan(problems=kw["problems"], optimizers=kw["optimizers"], schedules=kw["schedules"],
                seeds=kw["seeds"], steps=kw["steps"])
    check_against(kw["questions"], plan)
    assert [q.factor for q in kw["questions"]] == ["bias_correction", "eps_inside_sqrt",
                                                   "amsgrad", "schedule", "schedule"]


def test_a_consistent_but_tiny_difference_is_called_negligible():
    # eps = 1e-8 inside or outside the root, far from x*: every pair differs the same way,
    # by parts per ten million
    res = optbench.run(Quadratic(dim=4, kappa=10.0),
                       [Adam(lr=0.01, eps_inside_sqrt=e) for e in (False, True)],
                       steps=20, seeds=12, progress=False)
    (a,) = answers(res, [{"optimizer": "Adam", "factor": "eps_inside_sqrt",
                          "levels": [False, True]}])
    (c,) = a.contrasts
    assert c.n == c.blocks == 12 and c.p_holm < 0.05
    assert c.verdict == "negligible (within 5%)" and abs(c.ratio - 1.0) < 1e-6
