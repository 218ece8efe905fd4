"""Run directories that cannot be damaged (issue 17): ownership marker, lock, shard hashes,
one-line errors for damaged files, temporary files, streaming and the resource estimate."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

import optbench
from optbench import api
from optbench.cli import main
from optbench.optimizers import Adam
from optbench.problems import Quadratic

KW = {"problems": [Quadratic(dim=3, kappa=20.0)], "optimizers": [Adam(lr=0.01), Adam(lr=0.1)],
      "steps": 30, "seeds": 3, "record": ("loss", "x"), "shard_size": 2}

SUITE = """
name = "tiny"
[run]
steps = 30
seeds = 3
shard_size = 2
record = ["loss", "x"]
[[problems]]
type = "Quadratic"
dim = 3
[[optimizers]]
type = "Adam"
lr = [0.01, 0.1]
"""


def suite(tmp_path, text=SUITE, name="suite.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def one_line(err):
    assert err.startswith("optbench: error: ") and err.count("\n") == 1 and "Traceback" not in err
    return err


# ---- 1. --overwrite deletes only what optbench made, after validating the new suite -----

def test_overwrite_refuses_a_directory_with_a_foreign_manifest(tmp_path, capsys):
    other = tmp_path / "report"  # e.g. a report directory: it has a manifest.json too
    other.mkdir()
    (other / "manifest.json").write_text("{}")
    (other / "index.html").write_text("mine")
    assert main(["run", suite(tmp_path), "--out", str(other), "--overwrite", "--quiet"]) == 2
    assert "no valid .optbench-run" in one_line(capsys.readouterr().err)
    assert (other / "index.html").read_text() == "mine"


def test_overwrite_with_an_invalid_suite_keeps_the_old_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", suite(tmp_path), "--out", str(out), "--quiet"]) == 0
    before = (out / "manifest.json").read_bytes()
    bad = suite(tmp_path, SUITE.replace("steps = 30", "steps = 0"), "bad.toml")
    assert main(["run", bad, "--out", str(out), "--overwrite", "--quiet"]) == 2
    assert "steps must be >= 1" in one_line(capsys.readouterr().err)
    assert (out / "manifest.json").read_bytes() == before
    optbench.load(out)


# ---- 2. names are safe path components; reports go only where optbench may write ----------

@pytest.mark.parametrize("name", ["/an/absolute/path", "../../x", "a/b", "a\\b", "..", "x\x07y"])
def test_unsafe_names_are_refused(tmp_path, capsys, name):
    text = SUITE.replace('name = "tiny"', f"name = {json.dumps(name)}")
    assert main(["run", suite(tmp_path, text), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert "not a safe file name" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="run: name .* not a safe file name"):
        optbench.run(**KW, name=name)


def test_report_writes_only_into_a_new_empty_or_report_directory(tmp_path, capsys):
    run = tmp_path / "run"
    optbench.run(**dict(KW, seeds=2), out=run)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("my notes")
    assert main(["report", str(run), "--out", str(mine), "--quiet"]) == 2
    assert "neither empty nor an optbench report" in one_line(capsys.readouterr().err)
    assert (mine / "report.md").read_text() == "my notes"
    fresh = tmp_path / "fresh"
    assert main(["report", str(run), "--out", str(fresh), "--quiet"]) == 0
    assert main(["report", str(run), "--out", str(fresh), "--quiet"]) == 0  # its own report


# ---- 3. one writer at a time ------------------------------------------------------------

def test_a_second_writer_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import time; from optbench.store import RunStore\n"
                                f"with RunStore({str(out)!r}).lock():\n"
                                " print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["run", suite(tmp_path), "--out", str(out), "--resume", "--quiet"]) == 2
        err = one_line(capsys.readouterr().err)
        assert f"in use by another optbench run (pid {holder.pid} on host " in err
    finally:
        holder.kill()
        holder.wait()
    assert main(["run", suite(tmp_path), "--out", str(out), "--resume", "--quiet"]) == 0


# ---- 4, 5. damaged files are found, named, and re-run on resume -------------------------

def test_a_replaced_shard_is_refused_and_rerun_on_resume(tmp_path, capsys):
    out = tmp_path / "run"
    full = optbench.run(**KW, out=out)
    shard1 = out / "shards" / "00001.npz"
    good = shard1.read_bytes()
    shard1.write_bytes((out / "shards" / "00000.npz").read_bytes())
    with pytest.raises(ValueError, match=r"00001\.npz: SHA-256 differs"):
        optbench.load(out)
    assert main(["compare", str(out), str(out)]) == 2
    assert "00001.npz: SHA-256 differs" in one_line(capsys.readouterr().err)
    resumed = optbench.run(**KW, out=out, resume=True)
    assert "re-running damaged shard(s) 00001.npz (SHA-256 mismatch)" in capsys.readouterr().err
    assert resumed.manifest["timings"]["shards_damaged"] == [1]
    assert resumed.manifest["timings"]["shards_run"] == 1
    assert shard1.read_bytes() == good
    np.testing.assert_array_equal(optbench.load(out).trace("x"), full.trace("x"))


def test_a_configuration_edited_under_a_stale_hash_is_refused(tmp_path):
    out = tmp_path / "run"
    optbench.run(**KW, out=out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["config"]["blowup"] = 1e3
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"manifest\.json: the configuration does not match"):
        optbench.load(out)


@pytest.mark.parametrize("legacy", [False, True])
def test_a_truncated_shard_is_one_line_naming_the_file(tmp_path, legacy):
    out = tmp_path / "run"
    optbench.run(**KW, out=out)
    if legacy:  # a format-1 run (no hashes): the read itself names the file
        manifest = json.loads((out / "manifest.json").read_text())
        manifest.update(format=1, shard_sha256={})
        (out / "manifest.json").write_text(json.dumps(manifest))
    shard = out / "shards" / "00002.npz"
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(ValueError) as info:
        optbench.load(out).trace("x")
    assert str(info.value).startswith(f"{shard}: ") and "\n" not in str(info.value)
    assert ("corrupt or truncated shard" if legacy else "SHA-256 differs") in str(info.value)


# ---- 6. temporary files -----------------------------------------------------------------

def test_a_failed_write_leaves_no_temp_file_and_resume_cleans_stale_ones(tmp_path, monkeypatch):
    out = tmp_path / "run"
    real, calls = np.lib.format.write_array, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 9:  # inside the third shard's write
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(OSError, match="disk full"):
        optbench.run(**KW, out=out)
    assert [p for p in out.rglob("*") if ".tmp" in p.name] == []
    monkeypatch.setattr(np.lib.format, "write_array", real)
    stale = [out / ".trials.csv.12345.tmp", out / "shards" / ".00004.npz.abc.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    optbench.run(**KW, out=out, resume=True)
    assert [p for p in out.rglob("*") if ".tmp" in p.name] == []


# ---- 7. streaming and the resource estimate ---------------------------------------------

def test_a_stored_run_does_not_hold_all_shards(tmp_path):
    # x traces large next to what else a run allocates on the way (a few MB that vary with
    # the tests run before: the bound must measure shards, not that)
    kw = dict(KW, problems=[Quadratic(dim=200)], seeds=64, steps=200, shard_size=4)
    optbench.run(**kw, out=tmp_path / "warm")  # compile outside the measurement
    tracemalloc.start()
    res = optbench.run(**kw, out=tmp_path / "run")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    x_bytes = 128 * 201 * 200 * 8  # the run's x trace (41 MB; a shard's 1.3 MB)
    assert peak < x_bytes / 2, (peak, x_bytes)
    assert res.trace("x").nbytes == x_bytes  # read from the shards when asked for
    assert len(res.trials) == 128


def test_a_run_larger_than_the_free_disk_is_refused_with_the_estimate(tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.setattr(api.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(1, 1, 1000))
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=r"needs about 0\.00 GiB of disk \(6 trajectories x 31 "
                                         r"recorded steps x 4 fields\)"):
        optbench.run(**KW, out=out)
    assert not out.exists()
    assert main(["run", suite(tmp_path), "--out", str(out), "--quiet"]) == 2
    assert "pass --force" in one_line(capsys.readouterr().err)
    assert main(["run", suite(tmp_path), "--out", str(out), "--quiet", "--force"]) == 0
    monkeypatch.setattr(api, "available_memory", lambda: 1000)
    with pytest.raises(ValueError, match="of memory .* kept in memory without out"):
        optbench.run(**KW)


# ---- 8. kill it anywhere, resume, and get the same bytes ----------------------------------

def _cli(*args):
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "optbench.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _lock_holder(run_dir):
    try:
        return (run_dir / ".optbench.lock").read_text()
    except OSError:
        return ""


def test_killed_and_resumed_runs_equal_an_uninterrupted_one(tmp_path):
    text = (SUITE.replace("steps = 30", "steps = 8000\nrecord_every = 1000")
            .replace("seeds = 3", "seeds = 8").replace("dim = 3", "dim = 500"))  # 8 shards
    path = suite(tmp_path, text)
    t0 = time.perf_counter()
    ref = _cli("run", path, "--out", str(tmp_path / "ref"), "--quiet")
    assert ref.wait(60) == 0, ref.stderr.read()
    span = time.perf_counter() - t0
    rng = np.random.default_rng(17)
    out = tmp_path / "run"

    def stored():
        return len(list((out / "shards").glob("*.npz"))) if (out / "shards").is_dir() else 0

    kills = midway = 0  # midway: kills that left some but not all of the 8 shards
    while kills < 20:
        before = stored()
        proc = _cli("run", path, "--out", str(out), "--quiet", "--resume")
        if rng.random() < 0.5 or before >= 7:  # any moment, start-up included
            time.sleep(rng.uniform(0.0, 1.0) * span)
        else:  # a moment soon after this process stored a shard (timing-proof)
            while proc.poll() is None and stored() <= before:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.2))
        if kills % 2 == 0:  # Ctrl-C reaches optbench only once the interpreter is up: a
            # SIGINT during Python's own start-up is the interpreter's traceback, not ours
            while proc.poll() is None and f"pid {proc.pid} " not in _lock_holder(out):
                time.sleep(0.005)
        if proc.poll() is not None:  # finished first: start again from nothing
            assert proc.returncode == 0, proc.stderr.read()
            shutil.rmtree(out)
            continue
        proc.send_signal(signal.SIGKILL if kills % 2 else signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        kills += 1
        midway += 0 < stored() < 8
    final = _cli("run", path, "--out", str(out), "--quiet", "--resume")
    assert final.wait(60) == 0, final.stderr.read()
    got, want = _files(out / "shards"), _files(tmp_path / "ref" / "shards")
    assert got == want
    assert (out / "trials.csv").read_bytes() == (tmp_path / "ref" / "trials.csv").read_bytes()
    assert [p for p in out.rglob("*") if ".tmp" in p.name] == []
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    assert midway >= 3, midway  # the kills reached the shard writes, not only start-up


@pytest.mark.parametrize("delay", [0.3, 0.6, 1.2])  # after Python's own start-up
def test_ctrl_c_during_start_up_prints_no_traceback(tmp_path, delay):
    proc = _cli("run", suite(tmp_path), "--out", str(tmp_path / "run"), "--quiet")
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert proc.returncode in (0, 130, -signal.SIGINT)  # finished, or stopped quietly


def test_ctrl_c_inside_a_compiler_callback_prints_no_traceback(monkeypatch, capsys):
    """numba's compiler calls Python through ctypes: a Ctrl-C there is 'ignored' with a
    traceback by Python; the command line raises it again in its own code instead."""
    import ctypes

    from optbench import cli

    def interrupted():
        raise KeyboardInterrupt

    callback = ctypes.CFUNCTYPE(None)(interrupted)

    def start_up(argv):
        callback()
        for _ in range(500):  # the interrupt arrives here, within 5 s
            time.sleep(0.01)
        return 0

    monkeypatch.setattr(cli, "_main", start_up)
    hook = sys.unraisablehook
    assert main([]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err, err
    assert sys.unraisablehook is hook


# ---- names are shown literally in compare's Markdown ------------------------------------

def test_compare_markdown_escapes_names(tmp_path):
    from optbench.compare import compare_runs

    kw = dict(KW, name="a|b<i>*c_")
    runs = [optbench.run(**kw, out=tmp_path / d) for d in ("base", "new")]
    md = compare_runs(*runs).to_markdown()
    assert "Suite **a\\|b&lt;i&gt;\\*c\\_**:" in md
    assert "<i>" not in md
