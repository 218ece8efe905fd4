"""``Results``: the trials DataFrame and its CSV, ``to_xarray``, the notebook view, and where
a report goes when no directory is named."""
import csv
import io
import json
import math
import sys

import numpy as np
import pandas as pd
import pytest

import optbench
from optbench.optimizers import SGD, Adam
from optbench.paths import (
    REPORT_MARKER,
    claim_report_dir,
    default_report_dir,
    report_run,
)
from optbench.problems import Quadratic, Rosenbrock
from optbench.results import to_csv

KW = {"problems": [Quadratic(dim=3, kappa=20.0), Rosenbrock(2)],
      "optimizers": [Adam(lr=0.01), SGD(lr=0.1, momentum=0.9)], "steps": 30, "seeds": 3,
      "record": ("loss", "lr", "x"), "progress": False}


@pytest.fixture(scope="module")
def res():
    with pytest.warns(RuntimeWarning, match="diverged on all 3 seeds"):  # SGD on Rosenbrock
        return optbench.run(**KW)


def naive_csv(table: pd.DataFrame) -> str:
    """The trials.csv format, written row by row: floats as repr, NaN empty."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.itertuples(index=False):
        writer.writerow(["" if isinstance(v, float) and math.isnan(v) else
                         repr(v) if isinstance(v, float) else v for v in row])
    return buf.getvalue()


def test_trials_is_a_dataframe_with_typed_columns(res):
    tr = res.trials
    assert isinstance(tr, pd.DataFrame) and len(tr) == len(res) == 12
    assert list(tr["trial"]) == list(range(12))
    for name in ("trial", "seed", "status_step", "dim"):
        assert tr[name].dtype == np.int64, name
    for name in ("opt.lr", "final_loss", "final_suboptimality", "opt.momentum"):
        assert tr[name].dtype == np.float64, name
    assert pd.api.types.is_string_dtype(tr["status"]) and pd.api.types.is_string_dtype(tr["problem"])
    assert np.isnan(tr["opt.momentum"][tr["optimizer_type"] == "Adam"]).all()  # not Adam's
    np.testing.assert_array_equal(tr["final_loss"], res.trace("loss")[:, -1])
    # pandas as researchers use it: per-configuration medians, as numpy gives them
    medians = tr.groupby(["problem", "optimizer"], sort=False)["final_loss"].median()
    for (problem, optimizer), value in medians.items():
        rows = (tr["problem"] == problem) & (tr["optimizer"] == optimizer)
        assert value == np.median(res.trace("loss")[rows.to_numpy(), -1]) or np.isnan(value)


def test_csv_is_the_row_by_row_format(res, tmp_path):
    text = to_csv(res.trials, tmp_path / "t.csv")
    assert text == naive_csv(res.trials) == (tmp_path / "t.csv").read_text()
    assert "\r" not in text and text.count("\n") == len(res) + 1
    assert ",," in text  # NaN (a hyper-parameter another optimizer lacks) is an empty field


def test_to_xarray_has_traces_and_configuration_coordinates(res):
    ds = res.to_xarray()
    assert dict(ds.sizes) == {"trajectory": 12, "step": 31, "coordinate": 3}
    assert ds["loss"].dims == ("trajectory", "step")
    assert ds["x"].dims == ("trajectory", "step", "coordinate")
    np.testing.assert_array_equal(ds["loss"].values, res.trace("loss"))
    np.testing.assert_array_equal(ds["step"].values, res.steps)
    for name in ("problem", "optimizer", "schedule", "seed", "opt.lr"):
        assert ds[name].dims == ("trajectory",)
        assert list(ds[name].values) == list(res.trials[name]), name
    assert list(ds["status"].values) == list(res.trials["status"])
    assert ds.attrs["config_hash"] == res.plan.config_hash()
    adam = ds["loss"].where(ds["optimizer"] == "Adam(lr=0.01)", drop=True)
    assert adam.sizes["trajectory"] == 6
    assert next(iter(res.to_xarray(["lr"]).data_vars)) == "lr"


def test_to_xarray_without_xarray_names_the_extra(res, monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(ImportError, match=r"^Results.to_xarray needs xarray: pip install "
                                          r"optbench\[xarray\]$"):
        res.to_xarray()


def test_repr_and_notebook_view(res):
    text = repr(res)
    assert "\n" not in text and text.startswith("Results('run': 12 trajectories, 30 steps")
    page = res._repr_html_()
    assert res.plan.config_hash() in page
    assert "12 = 2 problems x 2 optimizer settings x 1 schedules x 3 seeds" in page
    diverged = int((res.trials["status"] == "diverged").sum())
    assert diverged == 3 and "3 of 12" in page  # SGD with momentum on Rosenbrock, 3 seeds
    assert page.count("</tr>") == len(res.overview()) + 1 + 5  # summary, header, 5 rows
    assert "first 5 of 12 rows" in page


def test_default_report_dir_never_takes_another_runs_report(res, tmp_path):
    stored = optbench.run(**dict(KW, problems=Quadratic(dim=3), optimizers=Adam(lr=0.01)),
                          out=tmp_path / "runs" / "a", name="exp")
    reports = tmp_path / "reports"
    first = default_report_dir(stored, reports)
    assert first == reports / "exp"
    claim_report_dir(first, report_run(stored))
    assert json.loads((first / REPORT_MARKER).read_text())["run"] == str(tmp_path / "runs" / "a")
    assert default_report_dir(stored, reports) == first  # its own report: rebuilt in place
    again = optbench.load(tmp_path / "runs" / "a")
    assert default_report_dir(again, reports) == first
    other = optbench.run(**dict(KW, problems=Quadratic(dim=3), optimizers=Adam(lr=0.01)),
                         out=tmp_path / "runs" / "b", name="exp")
    assert default_report_dir(other, reports) == reports / "exp-2"  # not exp's report
    (reports / "exp-2").mkdir()
    (reports / "exp-2" / "notes.txt").write_text("mine")
    assert default_report_dir(other, reports) == reports / "exp-3"  # nor anything else
    # an API run left with the default name: its date, never reports/run
    name = default_report_dir(res, reports).name
    assert name.startswith("run-") and len(name) == len("run-20260101-000000")
    claim_report_dir(reports / name, report_run(res))
    assert default_report_dir(res, reports).name == f"{name}-2"  # in memory: always new


def test_build_report_of_an_api_run_goes_to_a_dated_directory(tmp_path, monkeypatch):
    from optbench.report import build_report

    monkeypatch.chdir(tmp_path)
    small = optbench.run(Quadratic(dim=2), Adam(lr=0.1), steps=20, seeds=1, progress=False)
    out = build_report(small, progress=False)
    assert out.parent == tmp_path.joinpath("reports").relative_to(tmp_path)
    assert out.name.startswith("run-") and (out / "index.html").exists()
    assert json.loads((out / REPORT_MARKER).read_text()) == {"kind": "report", "format": 1,
                                                             "run": None}
