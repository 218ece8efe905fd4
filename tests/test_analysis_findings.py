"""Problem classes, the round-off floor, the tuning protocol and the findings' statistics,
checked against scipy and scikit-posthocs on the same numbers."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import optbench
from optbench import analysis as an
from optbench import problems as P
from optbench.analysis import findings as F
from optbench.optimizers import SGD, Adam
from optbench.schedules import ConstantLR

CONSTANT = ConstantLR(factor=1.0, total_iters=1)


# ---- problem classes ----------------------------------------------------------------------

def test_problem_classes_are_declared_and_used():
    assert "Booth" in P.CONVEX and "Booth" not in P.NONCONVEX  # its docstring: a convex quadratic
    assert set(P.CONVEX) | set(P.NONCONVEX) == set(P.REGISTRY)
    assert all(P.family_class(c) != "unclassified" for c in P.REGISTRY.values())
    assert an.theory.CONVEX_TYPES == P.CONVEX
    cases = [(P.Booth(), "strongly convex"), (P.Quadratic(dim=3), "strongly convex"),
             (P.LeastSquares(n=50, features=5), "strongly convex"),  # mu > 0
             (P.Huber(n=50, features=5), "convex"),  # mu = 0
             (P.LogisticRegression(n=50, features=5, batch_size=5), "stochastic"),
             (P.Rosenbrock(dim=2), "nonconvex smooth"), (P.Rastrigin(dim=2), "multimodal"),
             (P.ReddiCounterexample(), "online"), (P.Quadratic(dim=3, noise=0.1), "stochastic")]
    for prob, want in cases:
        assert P.problem_class(prob) == want, prob.label()

    class Odd:
        problem_class = "weird"

    with pytest.raises(ValueError, match="problem_class must be one of"):
        P.family_class(Odd)


# ---- round-off floor and rank key ---------------------------------------------------------

@pytest.fixture(scope="module")
def floor_run():
    # L = 1, mu = 1/4: lr 1 contracts by 0.75 per step, lr 1.5 by 0.625 (faster); both solve
    # the quadratic to round-off, lr 3 > 2/L diverges
    return optbench.run(P.Quadratic(dim=3, kappa=4.0), [SGD(lr=1.0), SGD(lr=1.5), SGD(lr=3.0)],
                        steps=400, seeds=4, progress=False)


def test_roundoff_floor_ties_and_never_negative(floor_run):
    res = floor_run
    sc = an.scores(res)
    lr = res.trials["opt.lr"]
    raw = res.trials["final_suboptimality"]
    solved = lr < 2.0
    assert np.all(raw[solved] < 1e-20)  # round-off values, different from run to run
    assert sc.solved[solved].all() and np.all(sc.gap[solved] == 0.0)
    assert np.all(sc.gap[np.isfinite(sc.gap)] >= 0)
    want_floor = an.ROUNDOFF_FACTOR * np.finfo(np.float64).eps * (
        np.asarray(res.trace("suboptimality"))[:, 0] + 0.0)
    np.testing.assert_allclose(sc.floor, want_floor)
    # solved runs: key in [-1, 0), earlier solve = lower key; diverged: inf
    assert np.all((sc.key[solved] >= -1) & (sc.key[solved] < 0))
    np.testing.assert_allclose(sc.key[solved], sc.steps_solved[solved] / 401.0 - 1.0)
    assert np.all(sc.key[lr == 3.0] == np.inf) and np.all(~sc.solved[lr == 3.0])
    fast, slow = sc.steps_solved[lr == 1.5], sc.steps_solved[lr == 1.0]
    assert np.all(fast < slow)
    t = an.tune(res)
    assert t["best_lr"][0] == 1.5 and t["eval_median"][0] == 0.0  # tie on the gap, faster wins
    assert t["edge"][0] == ""  # inside the grid 1, 1.5, 3


def test_floor_is_dtype_dependent():
    f64 = an.roundoff_floor(np.array([1.0]), np.array([0.0]), "float64")
    f32 = an.roundoff_floor(np.array([1.0]), np.array([0.0]), "float32")
    assert f32[0] / f64[0] == pytest.approx(np.finfo(np.float32).eps / np.finfo(np.float64).eps)


def test_diverged_row_never_best_or_tied(floor_run, tmp_path):
    from optbench.report.data import RunView
    from optbench.report.tables import TIE_MARK, final_tables

    (tab,) = final_tables(RunView(floor_run))
    marks = {r[1]: r[9] for r in tab.rows}  # lr -> mark
    # a single variant: one row, its tuned lr; the diverged lr 3.0 is not tuned
    assert list(marks.values()) == ["best"] and 3.0 not in marks
    res = optbench.run(P.Quadratic(dim=3, kappa=4.0), [SGD(lr=1.0), Adam(lr=50.0)],
                       steps=200, seeds=8, progress=False)
    view = RunView(res)
    (tab,) = final_tables(view)
    by = {r[0]: r for r in tab.rows}
    assert by["SGD"][9] == "best"
    assert by["Adam"][9] not in ("best", TIE_MARK)


# ---- tuning protocol ----------------------------------------------------------------------

def test_tuning_flags_edges_and_all_diverged():
    res = optbench.run(P.Rosenbrock(dim=2), [SGD(lr=lr) for lr in (1.0, 3.0, 10.0)] +
                       [Adam(lr=lr) for lr in (1e-4, 3e-4, 1e-3)], steps=100, seeds=4,
                       progress=False)
    t = {r["optimizer"]: r for r in an.tune(res).to_dict("records")}
    assert t["SGD"]["all_diverged"] and t["SGD"]["budget"] == 3  # 3 lrs x 1 tuning seed
    assert t["Adam"]["edge"] == "high" and not t["Adam"]["all_diverged"]
    f = F.findings(res)
    assert f.tuning_seeds == [0] and f.eval_seeds == [1, 2, 3]
    assert any("SGD" in w for w in f.diverged_warnings)
    assert any("Adam" in w and "high" in w for w in f.edge_warnings)
    text = "\n".join(F.summary_lines(f))
    assert "every lr diverged" in text and "grid's edge" in text
    assert an.grid_edge([1, 2, 3], 2) == "" and an.grid_edge([1, 2, 3], 3) == "high"
    assert an.grid_edge([1], 1) == ""


def test_select_seeds_keeps_rows_of_those_seeds(floor_run):
    sub = an.select_seeds(floor_run, [1, 3])
    keep = np.isin(floor_run.trials["seed"], [1, 3])
    assert len(sub) == keep.sum() and set(sub.trials["seed"]) == {1, 3}
    np.testing.assert_array_equal(sub.trace("loss"), floor_run.trace("loss")[keep])
    np.testing.assert_array_equal(sub.trials["final_loss"], floor_run.trials["final_loss"][keep])
    with pytest.raises(ValueError, match="not in the run"):
        an.select_seeds(floor_run, [7])


# ---- statistics against scipy and scikit-posthocs -----------------------------------------

def test_wilcoxon_and_rank_biserial_match_scipy():
    rng = np.random.default_rng(3)
    a = rng.normal(size=15)
    b = a + rng.normal(0.5, 1.0, size=15)
    n, p = F.wilcoxon_p(a, b)
    assert n == 15 and p == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-12)
    d = b - a
    r = stats.rankdata(np.abs(d))
    w_plus, w_minus = r[d > 0].sum(), r[d < 0].sum()
    assert F.rank_biserial(a, b) == pytest.approx((w_plus - w_minus) / (n * (n + 1) / 2))
    # a failure (inf) counts as worse than any finite value; equal pairs drop out
    assert F.rank_biserial([1, 2, 3], [np.inf, np.inf, np.inf]) == 1.0
    assert F.wilcoxon_p([1, 2], [1, 2]) == (0, 1.0)


def test_nemenyi_and_cd_match_scikit_posthocs_and_demsar():
    sp = pytest.importorskip("scikit_posthocs")
    rng = np.random.default_rng(0)
    m = rng.normal(size=(14, 4)) + np.array([0.0, 0.3, 0.8, 1.5])
    np.testing.assert_allclose(F.nemenyi_matrix(m),
                               np.asarray(sp.posthoc_nemenyi_friedman(m), float), atol=1e-6)
    # Demsar (2006), sec. 3.2.2: k = 4 classifiers, N = 14 data sets, alpha = 0.05: CD = 1.25
    assert F.nemenyi_cd(4, 14) == pytest.approx(2.569 * math.sqrt(4 * 5 / (6 * 14)), abs=2e-3)
    assert round(F.nemenyi_cd(4, 14), 2) == 1.25


@pytest.fixture(scope="module")
def two_class_run():
    lrs = (1e-3, 1e-2, 1e-1, 0.3)
    return optbench.run([P.Quadratic(dim=4, kappa=10.0), P.Booth(), P.Rosenbrock(dim=2),
                         P.Beale()],
                        [SGD(lr=lr) for lr in lrs] + [SGD(lr=lr, momentum=0.9) for lr in lrs]
                        + [Adam(lr=lr) for lr in lrs],
                        schedules=[CONSTANT], steps=300, seeds=16, progress=False)


def test_findings_statistics_reproduce(two_class_run):
    res = two_class_run
    f = F.findings(res)
    assert f.tuning_seeds == [0, 1, 2, 3] and f.eval_seeds == list(range(4, 16))
    assert [c.problem_class for c in f.classes] == ["strongly convex", "nonconvex smooth"]
    ev = an.select_seeds(res, f.eval_seeds)
    key = an.scores(ev).key
    tuned = {(r["problem"], r["optimizer"]): r["tuned_optimizer"] for r in an.tune(res).to_dict("records")}
    labels = [o.label() for o in ev.plan.optimizers]

    def keys(problem, variant, optimizer_label=None):
        o = labels.index(optimizer_label or tuned[(problem, variant)])
        rows = [i for i, t in enumerate(ev.plan.trials)
                if ev.plan.problems[t.problem].label() == problem and t.optimizer == o]
        return key[rows]

    sc_ = f.classes[0]
    probs = sc_.problems
    assert probs == ["Quadratic(dim=4)", "Booth()"]
    variants = ["SGD", "SGD(momentum=0.9)", "Adam"]
    K = np.column_stack([np.concatenate([keys(p, v) for p in probs]) for v in variants])
    ranks = np.array([stats.rankdata(r) for r in K]).mean(axis=0)
    assert sc_.best == f"{variants[int(np.argmin(ranks))]} | constant"
    assert sc_.best_rank == pytest.approx(ranks.min())
    # comparisons: Wilcoxon p-values from scipy on the same keys, Holm within the class
    best_keys = K[:, int(np.argmin(ranks))]
    adam = np.concatenate([keys(p, "Adam", Adam(lr=1e-3).label()) for p in probs])
    cmp = {c.label: c for c in sc_.comparisons}
    raw = []
    for c in sc_.comparisons:
        other = adam if c.label == "Adam defaults" else None
        if other is not None:
            d = other - best_keys
            d = d[d != 0]
            assert c.p == pytest.approx(stats.wilcoxon(d).pvalue, rel=1e-12)
        raw.append(c.p)
    np.testing.assert_allclose([c.p_holm for c in sc_.comparisons], an.holm(raw))
    assert cmp["Adam defaults"].verdict == "better" and cmp["Adam defaults"].effect > 0.9
    assert cmp["Adam defaults"].speedup_ci[0] > 1.0
    # across problems: scipy's Friedman test on the median keys per problem
    M = np.array([[np.median(keys(p, v)) for v in variants] for p in
                  [pp.label() for pp in res.plan.problems]])
    assert f.friedman_p == pytest.approx(stats.friedmanchisquare(*M.T).pvalue)
    np.testing.assert_allclose(f.average_ranks,
                               np.array([stats.rankdata(r) for r in M]).mean(axis=0))
    lines = F.summary_lines(f)
    assert len(lines) <= 40 and lines[0].startswith("Findings (12 held-out seeds")
    assert any(line.startswith("Across 4 problems: Friedman p") for line in lines)


def test_too_few_seeds_is_not_a_tie():
    res = optbench.run([P.Quadratic(dim=2, kappa=10.0)], [SGD(lr=0.1), SGD(lr=0.1, momentum=0.9)],
                       schedules=[CONSTANT], steps=50, seeds=3, progress=False)
    f = F.findings(res)
    (c,) = f.classes
    assert c.comparisons[0].verdict in ("too few seeds", "better", "worse")
    assert c.comparisons[0].n <= 2 and c.comparisons[0].verdict == "too few seeds"


def test_wilcoxon_with_ties_matches_scipy():
    """Tied |differences| and zeros: scipy's exact permutation distribution (n <= 13)."""
    a = np.array([0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    b = a + np.array([1.0, 1, -1, 2, 2, 0, 3, 1, -2, 2, 1, 0])
    n, p = F.wilcoxon_p(a, b)
    assert n == 10 and p == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-12)
    big = np.array([np.inf, 1.0, 2.0, np.inf])
    small = np.array([0.5, 0.5, 0.5, 0.5])
    d = np.array([1e300, 0.5, 1.5, 1e300])  # a failure: larger than any finite difference
    assert F.wilcoxon_p(small, big)[1] == pytest.approx(stats.wilcoxon(d).pvalue)


def test_a_single_solver_has_no_comparison():
    res = optbench.run([P.Booth()], [SGD(lr=0.01), SGD(lr=0.05)], steps=50, seeds=3,
                       progress=False)
    f = F.findings(res)
    assert f.classes == [] and "No comparison" in F.summary_lines(f)[1]
