"""The command line: run, list, and one-line errors with exit status 2 for bad input."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import optbench
from optbench.cli import main

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
name = "tiny"
[run]
steps = 20
seeds = 2
[[problems]]
type = "Quadratic"
dim = 3
kappa = [10.0, 100.0]
[[optimizers]]
type = "Adam"
lr = [0.01, 0.1]
betas = [0.8, 0.99]
[[optimizers]]
type = "SGD"
lr = 0.1
"""


def write(tmp_path, text, name="suite.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_run_expands_the_grid_and_stores_it(tmp_path, capsys):
    suite = write(tmp_path, GOOD)
    assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    res = optbench.load(tmp_path / "out")
    # 2 kappas x (2 Adam lrs + 1 SGD) x 2 seeds
    assert len(res) == 12
    assert sorted(set(res.trials["opt.lr"])) == [0.01, 0.1]
    assert set(res.trials["opt.betas.0"][res.trials["optimizer_type"] == "Adam"]) == {0.8}


def test_run_prints_a_summary(tmp_path, capsys):
    suite = write(tmp_path, GOOD)
    assert main(["run", str(suite), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "Adam(lr=0.01, betas=(0.8, 0.99))" in out and "trajectories" in out


def test_overwrite_replaces_only_a_run_directory(tmp_path):
    suite = write(tmp_path, GOOD)
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--quiet"]) == 0
    assert main(["run", str(suite), "--out", str(out), "--quiet"]) == 2
    assert main(["run", str(suite), "--out", str(out), "--quiet", "--overwrite"]) == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("x")
    assert main(["run", str(suite), "--out", str(tmp_path / "mine"), "--overwrite"]) == 2
    assert (tmp_path / "mine" / "a.txt").exists()


BAD = [
    (GOOD.replace('type = "Adam"', 'type = "Adamm"'), "unknown optimizer 'Adamm' (did you mean 'Adam'?)"),
    (GOOD.replace("lr = 0.1\n", "lrr = 0.1\n"), "unknown parameter 'lrr' (did you mean 'lr'?)"),
    (GOOD.replace("lr = 0.1\n", 'lr = "fast"\n'), "lr must be a number"),
    (GOOD.replace("lr = 0.1\n", "lr = -0.1\n"), "lr must be in"),
    (GOOD.replace("betas = [0.8, 0.99]", "betas = [0.8, 1.5]"), "betas[1] must be in"),
    (GOOD.replace("steps = 20", "stepz = 20"), "unknown key 'stepz' (did you mean 'steps'?)"),
    (GOOD.replace("steps = 20", "steps = 0"), "steps must be >= 1"),
    (GOOD.replace("dim = 3", "dim = 2.5"), "dim must be an integer"),
    (GOOD + "\n[[problem]]\ntype='Rosenbrock'\n", "unknown top-level key 'problem' (did you mean 'problems'?)"),
    (GOOD.replace('type = "Quadratic"', ""), "missing key 'type'"),
    ("steps = [", "invalid TOML"),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_suite_gives_one_line_and_exit_2(tmp_path, capsys, text, message):
    suite = write(tmp_path, text)
    assert main(["run", str(suite), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("optbench: error: ")
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_suite_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.toml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_list_shows_every_registered_name(capsys):
    from optbench import optimizers, problems, schedules

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for registry in (optimizers.REGISTRY, schedules.REGISTRY, problems.REGISTRY):
        for name in registry:
            assert f"  {name}(" in out
    assert "betas=(0.9, 0.999)" in out
    assert "~" not in out  # first sentences whole, never cut mid-word
    descriptions = [line.strip() for line in out.splitlines() if line.startswith("      ")]
    assert descriptions and "Adam (Kingma & Ba, 2015) with torch.optim.Adam's semantics, plus " \
        "literature variants." in " ".join(descriptions)


def test_list_one_class_shows_its_whole_docstring(capsys):
    assert main(["list", "Adam"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08,")
    assert "x <- x - lr * m_hat / (sqrt(v_hat) + eps)" in out and "Reddi et al., 2018" in out
    assert main(["list", "Adm"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "(did you mean 'Adam'?)" in err


def test_installed_entry_point_exits_2_on_bad_input(tmp_path):
    exe = shutil.which("optbench", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "optbench.cli"]
    proc = subprocess.run(cmd + ["run", str(tmp_path / "missing.toml")], capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("optbench: error:") and "Traceback" not in proc.stderr


def test_run_does_not_import_the_analysis_stack(tmp_path):
    """`optbench run` leaves scipy.stats and matplotlib (analyze/report) unimported: they
    cost seconds of start-up on every run."""
    suite = write(tmp_path, GOOD)
    code = ("import sys; from optbench.cli import main; "
            f"rc = main(['run', {str(suite)!r}, '--out', {str(tmp_path / 'r')!r}, '--quiet']); "
            "print(rc, 'scipy.stats' in sys.modules, 'matplotlib' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.split() == ["0", "False", "False"], proc.stdout + proc.stderr


def test_smoke_suite_parses():
    from optbench.suite import read_suite

    kwargs = read_suite(ROOT / "problems" / "smoke.toml")
    assert kwargs["name"] == "smoke" and len(kwargs["optimizers"]) >= 10
    assert np.all([o.lr > 0 for o in kwargs["optimizers"]])


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_non_finite_numbers_are_refused(value):
    from optbench.optimizers import Adam

    with pytest.raises(ValueError, match="lr must be finite"):
        Adam(lr=value)


def test_report_of_a_run_without_the_loss_is_one_line(tmp_path, capsys):
    import optbench
    from optbench.optimizers import SGD
    from optbench.problems import Booth

    optbench.run(Booth(), SGD(), steps=5, seeds=1, record=("lr",), out=tmp_path / "run",
                 progress=False)
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "recorded lr; a report needs the loss" in err
    assert not (tmp_path / "rep").exists()


def test_progress_bar_is_tqdm_on_a_terminal():
    import io

    from optbench.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    with Progress(3, "shards", stream=out) as bar:
        for _ in range(3):
            bar.advance()
    text = out.getvalue()
    assert "3/3" in text and "shards" in text and "100%" in text  # tqdm's bar, closed


def test_summary_never_shows_a_negative_gap():
    """f - f* below zero is round-off under f*: the run summary shows it as 0 (solved)."""
    from types import SimpleNamespace

    from optbench.cli import summary

    n = 4
    trials = pd.DataFrame({"problem": ["P"] * n, "optimizer": ["O"] * n, "schedule": ["S"] * n,
                           "final_suboptimality": [-7.7e-31, -1e-32, 0.0, -2e-31],
                           "final_loss": [1.0] * n, "status": ["finished"] * n})
    line = summary(SimpleNamespace(trials=trials)).splitlines()[1]
    assert line.split()[-2] == "0" and "-" not in line.split()[-2]
