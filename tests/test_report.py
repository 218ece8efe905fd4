"""Reports: figures, tables and documents built from small stored runs (no kernels run by the
report itself)."""
from __future__ import annotations

import csv
import io
import re
import struct

import numpy as np
import pytest

import optbench
from optbench.cli import main
from optbench.optimizers import SGD, Adam, RMSprop
from optbench.problems import Quadratic, Rosenbrock
from optbench.report import build_report, prepare
from optbench.report.build import ReportContext
from optbench.report.data import RunView
from optbench.schedules import CosineAnnealingLR, StepLR

STEP = ("eff_step", "eff_step_p10", "eff_step_p90")
RECORD = ("loss", "lr", "suboptimality", "grad_norm", "dist_to_opt", "x") + STEP
OPTIMIZERS = [SGD(lr=1e-3), SGD(lr=1e-2), Adam(lr=1e-2), RMSprop(lr=1e-2)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "small"
    optbench.run([Rosenbrock(dim=2), Quadratic(dim=2)], OPTIMIZERS,
                 schedules=[CosineAnnealingLR(T_max=50), StepLR(step_size=20)], steps=50,
                 seeds=2, record=RECORD, out=out, name="small", progress=False)
    return out


@pytest.fixture(scope="module")
def report(run_dir, tmp_path_factory):
    return build_report(run_dir, out=tmp_path_factory.mktemp("rep") / "small", progress=False)


def _png_size(data: bytes):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _pdf_pages(data: bytes) -> int:
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    return len(re.findall(rb"/Type\s*/Page[^s]", data))


EXPECTED_FIGURES = ["convergence_Rosenbrock", "convergence_Quadratic_dim_2", "lr_schedules",
                    "paths_Rosenbrock", "paths_Quadratic_dim_2", "performance_profile",
                    "data_profile", "ecdf_steps_to_target", "lr_sensitivity", "rank_matrix"]


def test_every_figure_in_three_formats(report):
    figs = report / "figures"
    for name in EXPECTED_FIGURES:
        pdf = (figs / f"{name}.pdf").read_bytes()
        assert _pdf_pages(pdf) == 1, name
        assert b"/FontFile2" in pdf, "fonts must be embedded as TrueType (pdf.fonttype 42)"
        assert b"config" in pdf and b"optbench 0.1.0" in pdf  # metadata
        w, h = _png_size((figs / f"{name}.png").read_bytes())
        assert 500 < w <= 1500 and 200 < h < 3000, (name, w, h)  # one or two columns at 150 dpi
        svg = (figs / f"{name}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "optbench 0.1.0" in svg


def test_stamp_in_metadata_and_captions(report, run_dir):
    config_hash = optbench.load(run_dir).manifest["config_hash"]
    png = (report / "figures" / "lr_sensitivity.png").read_bytes()
    assert config_hash.encode() in png
    assert config_hash in (report / "figures" / "lr_sensitivity.svg").read_text()
    md = (report / "report.md").read_text()
    assert md.count(f"config {config_hash}]") >= len(EXPECTED_FIGURES) + 3
    tex = (report / "tables" / "tuned_hyperparameters.tex").read_text()
    assert f"config {config_hash}" in tex and r"\caption{" in tex
    assert (report / "manifest.json").exists()
    assert "@software{optbench," in md and "version = {0.1.0}" in md


def test_series_hold_the_data(run_dir):
    res = optbench.load(run_dir)
    ctx = ReportContext(res)
    figures, tables = prepare(ctx)
    by_name = {f.name: f for f in figures}
    conv = by_name["convergence_Quadratic_dim_2"]
    assert [p.title for p in conv.panels] == ["CosineAnnealingLR(T_max=50)", "StepLR(step_size=20)"]
    view = RunView(res)
    assert view.tuning_seeds == [0] and view.eval_seeds() == [1]
    res = view.results  # figures read the evaluation seed only
    assert set(res.trials["seed"]) == {1}
    # one series per optimizer variant (SGD, Adam, RMSprop), each its best lr's median
    lines = [s for s in conv.panels[0].series if s.kind == "line"]
    assert [s.key for s in lines] == ["SGD", "Adam", "RMSprop"]
    sgd = lines[0]
    tuned = view.tuned(1, 0)["SGD"]
    want = np.median(res.trace("suboptimality")[tuned.trials], axis=0)
    np.testing.assert_allclose(sgd.y, np.maximum(want, 1e-16 * np.median(
        res.trace("suboptimality")[view.t_problem == 1][:, 0])))
    # lr figure: the schedule's multiplier, and the adaptive variants' effective step sizes
    fig = by_name["lr_schedules"]
    lr = fig.panels[1].series[-1]
    assert lr.key is None and lr.y[0] == 1.0 and np.isclose(lr.y[-1], 0.01)
    assert [p.yscale for p in fig.panels] == ["log", "log"]
    for s, panel in enumerate(fig.panels):
        assert [sr.key for sr in panel.series] == ["Adam", "RMSprop", None]  # SGD: the lr line
        for sr in panel.series[:-1]:
            rows = np.concatenate([view.tuned(p, s)[sr.key].trials for p in range(2)])
            base = np.array([view.lrs[o] for o in view.t_optimizer[rows]])[:, None]
            for got, name in ((sr.y, "eff_step"), (sr.lo, "eff_step_p10"),
                              (sr.hi, "eff_step_p90")):
                want = np.median(res.trace(name)[rows] / base, axis=0)
                np.testing.assert_allclose(got[:-1], want[:-1], rtol=1e-15)
            assert np.isnan(sr.y[-1]) and np.all(sr.lo[:-1] <= sr.y[:-1])
            assert np.all(sr.y[:-1] <= sr.hi[:-1])
    adam = fig.panels[0].series[0]
    assert np.all(adam.y[:-1] > 0) and np.ptp(np.log10(adam.y[:-1])) > 0.1  # it adapts
    assert [k for k, _ in fig.legend] == ["Adam", "RMSprop"] and fig.legend_extra
    assert "|x_{k+1,i} - x_{k,i}| / |g_{k,i}|" in fig.caption
    # paths: the stored iterates, starting at the start point
    path = by_name["paths_Rosenbrock"].panels[0].series[0]
    t = view.tuned(0, 0)["SGD"].trials[0]
    np.testing.assert_array_equal(path.x, res.trace("x")[t, :, 0])
    # profiles end at fractions in [0, 1], non-decreasing
    for name in ("performance_profile", "data_profile", "ecdf_steps_to_target"):
        for panel in by_name[name].panels:
            for s in panel.series:
                assert np.all(np.diff(s.y) >= 0) and 0 <= s.y[-1] <= 1
    # rank matrix: ranks of the rank key among the 6 solvers (3 variants x 2 schedules)
    from scipy.stats import rankdata

    heat = by_name["rank_matrix"].panels[0].heatmap
    assert heat.values.shape == (2, 6) and heat.vmin == 1.0  # problems x solvers
    assert heat.row_labels == view.problem_labels
    key = view.scores().key
    short = {0: "CosineAnnealingLR", 1: "StepLR"}
    for p in range(2):
        solvers = [(v, s) for s in range(2) for v in view.variant_keys]
        want = rankdata([key[view.tuned(p, s)[v].trials[0]] for v, s in solvers])
        got = {lab: heat.values[p, c] for c, lab in enumerate(heat.col_labels)}
        for (v, s), w in zip(solvers, want):
            assert got[f"{v} | {short[s]}"] == w


def test_tables_rows_and_bold_best(report, run_dir):
    res = optbench.load(run_dir)
    tab = report / "tables"
    rows = list(csv.DictReader(io.StringIO((tab / "final_Rosenbrock.csv").read_text())))
    assert len(rows) == 3 * 2  # one per variant at its tuned lr x schedule
    assert sum(r["mark"] == "best" for r in rows) == 1
    view = RunView(res)
    sc = view.scores()
    gaps = {(view.variants[c.optimizer], view.schedule_labels[c.schedule]): sc.gap[c.trials]
            for s in range(2) for c in view.tuned(0, s).values()}
    for r in rows:  # the held-out seed's final gap, never negative
        assert float(r["median_gap"]) == np.median(gaps[(r["optimizer"], r["schedule"])]) >= 0
    best = [r for r in rows if r["mark"] == "best"][0]
    tex = (tab / "final_Rosenbrock.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert rf"\textbf{{{float(best['median_gap']):.3g}}}" in tex
    tuned = list(csv.DictReader(io.StringIO((tab / "tuned_hyperparameters.csv").read_text())))
    assert {r["optimizer"] for r in tuned} == {"SGD", "Adam", "RMSprop"}
    assert len(tuned) == 2 * 2 * 3  # problems x schedules x variants
    sgd = [r for r in tuned if r["optimizer"] == "SGD"]
    assert all(r["lr_grid"] == "0.001 0.01" for r in sgd)


def test_numbers_come_from_the_analysis(report, run_dir):
    from optbench import analysis as an

    res = optbench.load(run_dir)
    tab = report / "tables"
    view = RunView(res)
    # tuned table: analysis.tune (tuning seed 0, evaluation seed 1)
    tuned = {(r["problem"], r["schedule"], r["optimizer"]): r for r in
             csv.DictReader(io.StringIO((tab / "tuned_hyperparameters.csv").read_text()))}
    for r in an.tune(res, metric=an.AUTO).to_dict("records"):
        row = tuned[(r["problem"], r["schedule"], r["optimizer"])]
        assert float(row["best_lr"]) == r["best_lr"]
        assert float(row["median_final"]) == r["eval_median"]
    sgd = tuned[("Rosenbrock()", "StepLR(step_size=20)", "SGD")]
    assert float(sgd["default_lr"]) == 1e-3  # torch's SGD default is in the grid
    # stability table: analysis.stability_map
    stab = list(csv.DictReader(io.StringIO((tab / "stability.csv").read_text())))
    sm = [r for r in an.stability_map(res).to_dict("records") if r["n_lr"] > 1]
    assert [float(r["largest_stable_lr"]) for r in stab] == [r["largest_stable_lr"] for r in sm]
    # figures: lr sensitivity and the data profile
    figures, _ = prepare(ReportContext(res))
    by_name = {f.name: f for f in figures}
    sens = {(d["problem"], d["optimizer"], d["schedule"]): d
            for d in an.lr_sensitivity(view.results, "auto")}
    panel = by_name["lr_sensitivity"].panels[0]  # Rosenbrock, first schedule
    curve = [sr for sr in panel.series if sr.key == "SGD" and sr.kind == "line"][0]
    d = sens[("Rosenbrock()", "SGD", "CosineAnnealingLR(T_max=50)")]
    np.testing.assert_array_equal(curve.x, d["lr"])
    finite = np.isfinite(d["median"]) & (d["median"] > 1e-10)
    np.testing.assert_array_equal(curve.y[finite], d["median"][finite])
    pc = an.profile_costs(view.results, 1e-3, f_low="f_star")
    data = by_name["data_profile"].panels[0]
    for sr in data.series:
        cols = [pc.solvers.index((view.optimizer_labels[view.tuned(p, 0)[sr.key].optimizer],
                                  view.schedule_labels[0])) for p, _ in
                [(view.problem_labels.index(pl), seed) for pl, seed in pc.problems]]
        cost = pc.costs[np.arange(len(cols)), cols]
        np.testing.assert_array_equal(sr.y, an.data_profile(cost[:, None], None, sr.x)[:, 0])
        assert sr.x[0] == 1.0  # evaluations: step 0 is the first


def test_html_self_contained(report):
    html = (report / "index.html").read_text()
    for name in EXPECTED_FIGURES:
        assert f'data-figure="{name}"' in html
        assert f"figures/{name}.pdf" in html
    assert "data:image/png;base64," in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "http://" not in html and "https://" not in html
    for tabname in ("final_Rosenbrock", "final_Quadratic_dim_2", "tuned_hyperparameters"):
        assert f"tables/{tabname}.csv" in html


def test_cli_default_out_and_identical_rebuild(run_dir, report, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(run_dir), "--quiet"]) == 0  # default: reports/<run name>
    again = tmp_path / "reports" / "small"
    for rel in ["report.md", "index.html", "tables/final_Rosenbrock.csv",
                "tables/final_Rosenbrock.tex", "tables/tuned_hyperparameters.tex",
                "figures/lr_sensitivity.svg", "figures/lr_sensitivity.png",
                "figures/lr_sensitivity.pdf"]:
        assert (report / rel).read_bytes() == (again / rel).read_bytes(), rel
    capsys.readouterr()
    bad_out = tmp_path / "file.txt"
    bad_out.write_text("x")
    for argv in (["report", str(tmp_path / "missing")], ["report", str(tmp_path)],
                 ["report", str(run_dir), "--out", str(bad_out)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("optbench: error:") and err.count("\n") == 1, err
    assert bad_out.read_text() == "x"


def test_skips_paths_without_x(tmp_path):
    res = optbench.run(Rosenbrock(dim=2), [SGD(lr=1e-3)], steps=10, seeds=2,
                       record=("loss", "suboptimality"), progress=False)
    ctx = ReportContext(res)
    figures, tables = prepare(ctx)
    assert not any(f.name.startswith("paths_") for f in figures)
    assert any("`x` trace" in n for n in ctx.notes)
    assert any("lr" in n and "record" in n for n in ctx.notes)


def test_lr_figure_of_a_run_without_step_channels():
    """Older runs (no eff_step traces) still get the lr figure, on a linear scale."""
    res = optbench.run(Rosenbrock(dim=2), [SGD(lr=1e-3), Adam(lr=1e-2)],
                       schedules=[StepLR(step_size=5)], steps=10, seeds=2,
                       record=("loss", "lr"), progress=False)
    fig = {f.name: f for f in prepare(ReportContext(res))[0]}["lr_schedules"]
    assert [sr.key for p in fig.panels for sr in p.series] == [None]
    assert fig.panels[0].yscale == "linear" and not fig.legend and not fig.legend_extra
    np.testing.assert_allclose(fig.panels[0].series[0].y, [1.0] * 5 + [0.1] * 5 + [0.01])
    assert "did not record eff_step" in fig.caption


def test_converged_round_off_is_drawn_at_the_floor_not_marked_diverged():
    """f - f* can end at 0 or a hair below it by round-off: that is convergence, drawn at the
    display floor; only non-finite values (divergence) end a curve with an 'x'."""
    from optbench.report.data import _bound_curve, _diverged_ends, _positive

    med = np.array([1.0, 1e-20, 0.0, -1e-31])
    shown = _positive(med, floor=1e-16)
    np.testing.assert_array_equal(shown, [1.0, 1e-16, 1e-16, 1e-16])
    assert _diverged_ends("SGD", 0, np.arange(4.0), shown) == []
    blown = _positive(np.array([1.0, 10.0, np.inf]), floor=1e-16)
    assert len(_diverged_ends("SGD", 0, np.arange(3.0), blown)) == 1
    bound = _bound_curve(np.array([1.0, 1e-10, 1e-100]), floor=1e-16)
    assert np.isnan(bound[2]) and bound[1] == 1e-10


def test_markdown_shows_names_literally():
    """A name with Markdown characters (``|``, backticks, ``*``) is shown as it reads: the
    title is escaped and no table row splits."""
    from optbench.markup import markdown_literal
    from optbench.report.document import markdown_document

    assert markdown_literal("a|b `c` *d*") == "a\\|b \\`c\\` \\*d\\*"
    res = optbench.run(Rosenbrock(dim=2), [SGD(lr=1e-3)], steps=10, seeds=2,
                       record=("loss", "suboptimality"), name="exp|`1`*", progress=False)
    ctx = ReportContext(res)
    prepare(ctx)
    text = markdown_document(ctx)
    assert "# optbench report: exp\\|\\`1\\`\\*" in text
    assert "exp|`1`*" not in text  # nowhere unescaped (title, provenance, tables)
