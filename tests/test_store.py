"""Run directories: round trip, atomic shards, resume after an interruption, refusals."""
import json

import numpy as np
import pandas as pd
import pytest

import optbench
from optbench import engine
from optbench.optimizers import SGD, Adam
from optbench.problems import Quadratic, Rosenbrock
from optbench.results import to_csv

KW = dict(problems=[Quadratic(dim=3, kappa=20.0), Rosenbrock(2)],
          optimizers=[Adam(lr=0.01), SGD(lr=1e-3, momentum=0.9)], steps=40, seeds=3,
          record=("loss", "lr", "x"), shard_size=5)


def test_load_gives_back_the_same_results(tmp_path):
    res = optbench.run(**KW, out=tmp_path / "run")
    back = optbench.load(tmp_path / "run")
    assert back.plan.config_hash() == res.plan.config_hash()
    for name in ("loss", "lr", "x"):
        np.testing.assert_array_equal(back.trace(name), res.trace(name))
    pd.testing.assert_frame_equal(back.trials, res.trials)  # values and dtypes
    assert (tmp_path / "run" / "trials.csv").read_text() == to_csv(res.trials)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    for key in ("optbench_version", "numba", "numpy", "cpu", "threads", "git_commit"):
        assert key in manifest["provenance"]
    assert manifest["timings"]["kernel_seconds"] >= 0
    assert "jit_seconds" in manifest["timings"]["warm_up"]
    # shards load with plain numpy, trials.csv has one row per trajectory plus a header
    with np.load(tmp_path / "run" / "shards" / "00000.npz") as shard:
        assert shard["loss"].shape == (5, 41)
    assert len((tmp_path / "run" / "trials.csv").read_text().splitlines()) == len(res) + 1


def test_resume_after_interruption_gives_identical_results(tmp_path, monkeypatch):
    full = optbench.run(**KW)
    calls = {"n": 0}
    real = engine.run_shard_cpu

    def flaky(plan, start, stop):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(plan, start, stop)

    monkeypatch.setattr(engine, "run_shard_cpu", flaky)
    with pytest.raises(KeyboardInterrupt):
        optbench.run(**KW, out=tmp_path / "run")
    kept = sorted(p.name for p in (tmp_path / "run" / "shards").iterdir())
    assert kept == ["00000.npz", "00001.npz"]  # finished shards survive, no partial files
    with pytest.raises(ValueError, match="incomplete"):
        optbench.load(tmp_path / "run")
    monkeypatch.setattr(engine, "run_shard_cpu", real)
    resumed = optbench.run(**KW, out=tmp_path / "run", resume=True)
    assert resumed.manifest["timings"]["shards_resumed"] == 2
    np.testing.assert_array_equal(resumed.trace("x"), full.trace("x"))
    np.testing.assert_array_equal(optbench.load(tmp_path / "run").trace("loss"), full.trace("loss"))


def test_existing_run_is_never_overwritten(tmp_path):
    optbench.run(**KW, out=tmp_path / "run")
    before = (tmp_path / "run" / "manifest.json").read_bytes()
    with pytest.raises(ValueError, match="already holds a run"):
        optbench.run(**KW, out=tmp_path / "run")
    other = dict(KW, steps=41)
    with pytest.raises(ValueError, match="another configuration"):
        optbench.run(**other, out=tmp_path / "run", resume=True)
    assert (tmp_path / "run" / "manifest.json").read_bytes() == before
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a run directory"):
        optbench.run(**KW, out=tmp_path / "stuff")
    assert (tmp_path / "stuff" / "notes.txt").read_text() == "mine"


def test_load_of_a_missing_run_names_the_path(tmp_path):
    with pytest.raises(ValueError, match="not a run directory"):
        optbench.load(tmp_path / "nope")


def test_resume_without_a_shard_size_takes_the_runs_own(tmp_path):
    """A run started with another shard size (e.g. picked for a Dask cluster) resumes here."""
    first = optbench.run(**dict(KW, shard_size=3), out=tmp_path / "run")
    (tmp_path / "run" / "shards" / "00002.npz").unlink()
    kw = {k: v for k, v in KW.items() if k != "shard_size"}
    resumed = optbench.run(**kw, out=tmp_path / "run", resume=True)
    assert resumed.plan.shard_size == 3
    assert resumed.manifest["timings"]["shards_run"] == 1
    np.testing.assert_array_equal(resumed.trace("x"), first.trace("x"))
