"""The automatic lr-grid extension (issue 16): a grid whose best lr, judged on the tuning
seeds, sits on its edge is widened at its own log spacing, at most ``extend_lr_grid``
points a side; stages are stored with the run, resumable bit for bit, and reported."""
import dataclasses
import json
import warnings

import numpy as np
import pytest

import optbench
from optbench import api
from optbench.analysis import tune
from optbench.analysis.findings import findings, summary_lines
from optbench.analysis.tuning import extension_stage
from optbench.cli import main
from optbench.optimizers import SGD
from optbench.problems import Quadratic
from optbench.report.build import build_report
from optbench.results import Results

# L = 0.01, mu = 0.005: gradient descent is best near lr = 2 / (L + mu) = 133 and diverges
# above 2 / L = 200; a grid of 1..10 (half decades) lies far below the optimum
SMALL_L = Quadratic(eigenvalues=[1e-2, 5e-3])
LOW_GRID = [1.0, 3.16227766017, 10.0]
R = 10 ** 0.5  # the grid's log spacing


def run(grid=LOW_GRID, bound=5, seeds=4, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the diverging top probe's warning
        return optbench.run(problems=[SMALL_L], optimizers=[SGD(lr=lr) for lr in grid],
                            steps=100, seeds=seeds, extend_lr_grid=bound, progress=False, **kw)


def only_group(results):
    ext = results.manifest["lr_extension"]
    assert ext["extended"] == len(ext["groups"]) == 1
    return ext, ext["groups"][0]


def test_a_grid_below_the_optimum_is_extended_until_its_top_lr_diverges():
    plain = tune(run(bound=0)).iloc[0]
    assert plain["best_lr"] == 10.0 and plain["edge"] == "high"
    res = run(bound=5)
    ext, group = only_group(res)
    np.testing.assert_allclose(group["added"], [10 * R, 100.0, 100 * R], rtol=1e-11)
    # the third point (316 > 2/L) diverged on the tuning seed: the edge is real, and the
    # extension stopped there, 2 points before its bound
    assert group["stopped"] == "diverged" and ext["stages"] == 3 and ext["on_edge"] == 0
    tuned = tune(res).iloc[0]
    assert tuned["best_lr"] == group["best_lr"] == 100.0 and tuned["edge"] == ""
    assert tuned["eval_median"] < plain["eval_median"]  # a better lr, on held-out seeds
    assert ext["trajectories"] == 3 * 4 == res.plan.n_trials - 12


def test_the_extension_stops_at_its_bound_and_the_report_says_the_edge_remains(tmp_path):
    res = run(bound=2, out=tmp_path / "run")
    ext, group = only_group(res)
    np.testing.assert_allclose(group["added"], [10 * R, 100.0], rtol=1e-11)
    assert (group["stopped"], group["edge"], ext["on_edge"]) == ("edge", "high", 1)
    text = "\n".join(summary_lines(findings(res)))
    assert "lr grid extended for 1 " in text and "1 still on the edge after the bound" in text
    assert "best lr 100 is the high end of the grid" in text
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # matplotlib on a one-problem run
        out = build_report(tmp_path / "run", tmp_path / "report", progress=False)
    for page in ("report.md", "index.html"):
        page = (out / page).read_text()
        assert "lr grid extended for 1 " in page and "+ 8 of the lr-grid extension" in page


def test_a_bottom_edge_is_extended_downwards():
    res = run(grid=[100.0, 316.227766017, 1000.0], bound=3)  # 316 and 1000 diverge
    _, group = only_group(res)
    np.testing.assert_allclose(group["added"], [100 / R], rtol=1e-11)
    assert group["stopped"] == "interior" and group["best_lr"] == 100.0


def test_off_by_default_and_validated():
    res = optbench.run(problems=[SMALL_L], optimizers=[SGD(lr=1.0), SGD(lr=10.0)], steps=10,
                       seeds=2, progress=False)
    assert "lr_extension" not in res.manifest and "extend_lr_grid" not in res.plan.config()
    with pytest.raises(ValueError, match="extend_lr_grid needs at least 2 seeds"):
        run(seeds=1)
    with pytest.raises(ValueError, match="extend_lr_grid"):
        run(bound=-1)


def _swap_rows(results, seeds, a_lr, b_lr):
    """``results`` with the rows of lr ``a_lr`` and ``b_lr`` exchanged on ``seeds``."""
    plan = results.plan
    lrs = np.array([plan.optimizers[o].lr for o in plan.trial_ids[:, 1]])
    seed = plan.trial_ids[:, 3]
    a = np.flatnonzero((lrs == a_lr) & np.isin(seed, seeds))
    b = np.flatnonzero((lrs == b_lr) & np.isin(seed, seeds))
    perm = np.arange(plan.n_trials)
    perm[a], perm[b] = b, a
    return Results(plan, {k: v[perm] for k, v in results.arrays.items()}, results.manifest)


def test_only_the_tuning_seeds_decide_which_points_are_added():
    grid_only = run(bound=0)
    grid_only.plan = dataclasses.replace(grid_only.plan, extend_lr_grid=3)
    assert [p["lr"] for p in extension_stage(grid_only)] == [pytest.approx(10 * R)]
    # the evaluation seeds (1, 2, 3) made to favour the bottom lr: no change
    fooled = _swap_rows(grid_only, [1, 2, 3], 1.0, 10.0)
    assert tune(fooled, tuning_seeds=[1, 2, 3], eval_seeds=[0]).iloc[0]["edge"] == "low"
    assert extension_stage(fooled) == extension_stage(grid_only)
    # the tuning seed (0) made to favour it: the grid grows downwards
    assert [p["lr"] for p in extension_stage(_swap_rows(grid_only, [0], 1.0, 10.0))] == \
        [pytest.approx(1 / R)]
    # whole runs whose evaluation seeds differ add the same points
    a, b = run(seeds=[0, 1, 2, 3]), run(seeds=[0, 7, 8, 9])
    assert a.plan.config()["extension"] == b.plan.config()["extension"]


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("stop_at", [2, 4, 6])  # in the grid; stage 1 recorded, not run; stage 3
def test_an_interrupted_extended_run_resumes_to_the_uninterrupted_bytes(tmp_path, monkeypatch,
                                                                       stop_at):
    ref = run(out=tmp_path / "ref", shard_size=4)  # 3 grid shards, then one shard a stage
    assert len(ref.plan.shards()) == 6
    calls, real = [0], api._local_shard

    def interrupted(*args):
        calls[0] += 1
        if calls[0] == stop_at:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(api, "_local_shard", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(out=tmp_path / "run", shard_size=4)
    monkeypatch.setattr(api, "_local_shard", real)
    stored = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert stored["status"] == "running" and len(stored["shard_sha256"]) == stop_at - 1
    res = run(out=tmp_path / "run", shard_size=4, resume=True)
    assert res.manifest["timings"]["shards_resumed"] == stop_at - 1
    assert _files(tmp_path / "run" / "shards") == _files(tmp_path / "ref" / "shards")
    assert (tmp_path / "run" / "trials.csv").read_bytes() == \
        (tmp_path / "ref" / "trials.csv").read_bytes()
    got, want = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("run", "ref"))
    for key in ("config", "config_hash", "base_config_hash", "shards", "shard_sha256",
                "lr_extension"):
        assert got[key] == want[key], key
    loaded = optbench.load(tmp_path / "run")
    assert loaded.plan.n_trials == 24 and loaded.manifest["lr_extension"]["stages"] == 3
    np.testing.assert_array_equal(loaded.trace("loss"), ref.trace("loss"))


SUITE = """
name = "extended"
[run]
steps = 100
seeds = 4
extend_lr_grid = 2
[[problems]]
type = "Quadratic"
eigenvalues = [1e-2, 5e-3]
[[optimizers]]
type = "SGD"
lr = [1.0, 3.16227766017, 10.0]
"""


def test_cli_runs_resumes_and_refuses_bad_values(tmp_path, capsys):
    path = tmp_path / "suite.toml"
    path.write_text(SUITE)
    out = str(tmp_path / "run")
    assert main(["run", str(path), "--out", out, "--quiet"]) == 0
    first = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert [p["lr"] for st in first["config"]["extension"] for p in st] == \
        [pytest.approx(10 * R), 100.0]
    assert main(["run", str(path), "--out", out, "--quiet", "--resume"]) == 0  # complete: same
    again = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert again["config_hash"] == first["config_hash"]
    assert again["timings"]["shards_run"] == 0
    path.write_text(SUITE.replace("10.0]", "30.0]"))
    assert main(["run", str(path), "--out", out, "--quiet", "--resume"]) == 2
    assert "another configuration" in capsys.readouterr().err
    for bad, says in (("extend_lr_grid = -1", "extend_lr_grid"),
                      ("extend_lr_grid = 2.5", "extend_lr_grid"),
                      ("seeds = 1", "extend_lr_grid needs at least 2 seeds")):
        key = bad.split(" =")[0]
        text = "\n".join(bad if line.startswith(key + " =") else line
                         for line in SUITE.splitlines())
        path.write_text(text)
        assert main(["run", str(path), "--out", str(tmp_path / "bad"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("optbench: error: ") and err.count("\n") == 1 and says in err
