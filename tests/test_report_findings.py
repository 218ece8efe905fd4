"""The report's first screen (findings), its terminal output and progress off a terminal."""
from __future__ import annotations

import csv
import dataclasses
import io
import time

import numpy as np
import pytest
from scipy import stats

import optbench
from optbench import analysis as an
from optbench.cli import main
from optbench.optimizers import SGD, Adam
from optbench.problems import Booth, Quadratic, Rosenbrock
from optbench.progress import Progress
from optbench.report import build_report
from optbench.report.data import RunView
from optbench.schedules import ConstantLR, CosineAnnealingLR

LRS = (1e-3, 1e-2, 1e-1)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "fnd"
    optbench.run([Quadratic(dim=3, kappa=10.0), Booth(), Rosenbrock(dim=2)],
                 [SGD(lr=lr, momentum=0.9) for lr in LRS] + [Adam(lr=lr) for lr in LRS],
                 schedules=[ConstantLR(factor=1.0, total_iters=1), CosineAnnealingLR(T_max=150)],
                 steps=150, seeds=8, out=out, name="fnd", progress=False)
    return out


def test_findings_come_first_and_cli_prints_them(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Findings (6 held-out seeds; lr tuned on seeds 0, 1;")
    assert out[-1].startswith("report written to ") and len(out) <= 41
    html = (tmp_path / "rep" / "index.html").read_text()
    assert html.index('id="findings"') < html.index("<nav>") < html.index('id="provenance"')
    assert 'data-figure="critical_difference"' in html
    md = (tmp_path / "rep" / "report.md").read_text()
    assert md.index("## Findings") < md.index("## Provenance")
    for name in ("findings.csv", "findings.tex"):
        assert (tmp_path / "rep" / "tables" / name).exists()
    rows = list(csv.DictReader(io.StringIO(
        (tmp_path / "rep" / "tables" / "findings.csv").read_text())))
    assert [r["class"] for r in rows] == ["strongly convex", "nonconvex smooth"]
    assert all(r["best"].endswith(("| constant", "| CosineAnnealingLR(T_max=150)")) for r in rows)


def test_final_table_tests_match_scipy(run_dir, tmp_path):
    rep = build_report(run_dir, out=tmp_path / "rep", progress=False)
    view = RunView(optbench.load(run_dir))
    key = view.scores().key
    rows = list(csv.DictReader(io.StringIO((rep / "tables" / "final_Booth.csv").read_text())))
    cands = {(v, view.schedule_labels[s]): c.trials for s in range(2)
             for v, c in view.tuned(1, s).items()}
    best = [r for r in rows if r["mark"] == "best"][0]
    kb = key[cands[(best["optimizer"], best["schedule"])]]
    raw, names = [], []
    for r in rows:
        if r is best or r["mark"] == "diverged":
            continue
        d = key[cands[(r["optimizer"], r["schedule"])]] - kb
        d = np.where(np.isinf(d), 1e300, d)
        d = d[d != 0]
        raw.append(stats.wilcoxon(d).pvalue if len(d) else 1.0)
        names.append(r)
    for r, q in zip(names, an.holm(raw)):
        assert float(r["p_holm"]) == pytest.approx(q, rel=1e-9)


def test_progress_lines_off_a_terminal():
    buf = io.StringIO()  # not a TTY
    with Progress(3, "shards", stream=buf, interval=0.05) as bar:
        time.sleep(0.18)
        bar.advance()
        time.sleep(0.12)
    lines = buf.getvalue().splitlines()
    assert len(lines) >= 3 and lines[0].startswith("optbench: 0/3 shards done")
    assert any(line.startswith("optbench: 1/3 shards done") for line in lines)
    quiet = io.StringIO()
    with Progress(3, stream=quiet, enabled=False, interval=0.01):
        time.sleep(0.05)
    assert quiet.getvalue() == ""


def test_readme_findings_snippet_runs(capsys):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = readme.split("```python\n")[1:]
    (code,) = [b.split("```")[0] for b in blocks if "summary_lines" in b]
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("Findings (6 held-out seeds; lr tuned on seeds 0, 1;")
    assert "* strongly convex (2 problems, 12 runs)" in out and "Adam defaults" in out


def test_reddi_suite_shows_adam_failing_and_amsgrad_converging():
    from pathlib import Path

    from optbench.report.data import iterate_figures, regret_figures
    from optbench.suite import read_suite

    kwargs = read_suite(Path(__file__).resolve().parents[1] / "problems" / "reddi.toml")
    res = optbench.run(**kwargs, progress=False)
    (fig,) = iterate_figures(RunView(res))
    final = {sr.label: sr.y[-1] for sr in fig.panels[0].series}
    assert final["Adam(betas=(0.0, 0.1))"] > 0.9  # the wrong end of [-1, 1]
    assert final["Adam(betas=(0.0, 0.1), amsgrad=True)"] < -0.9  # near x* = -1
    assert final["x*"] == -1.0
    checks = [c for c in an.theory_checks(res) if c.status != "no bound"]
    assert len(checks) == 4 and all(c.status == "pass" for c in checks)
    # the average regret: Adam's tends to 2 (C - 2)/3 = 2/3 (x = +1), AMSGrad's to 0
    (regret,) = regret_figures(RunView(res), checks)
    final = {sr.label: sr.y[-1] for sr in regret.panels[0].series}
    assert final["Adam(betas=(0.0, 0.1))"] > 0.5 and final["limit at x = +1"] == 2 / 3
    assert final["Adam(betas=(0.0, 0.1), amsgrad=True)"] < 0.25
    assert "Reddi et al. (2018) reproduced" in regret.caption
    failed = [dataclasses.replace(checks[0], status="fail")] + checks[1:]
    assert "NOT reproduced" in regret_figures(RunView(res), failed)[0].caption
    short = [dataclasses.replace(checks[0], status="inconclusive")] + checks[1:]
    caption = regret_figures(RunView(res), short)[0].caption
    assert "reproduced" in caption and "NOT" not in caption
    assert f"(inconclusive: {checks[0].optimizer} constant)" in caption
    none = [dataclasses.replace(c, status="inconclusive") for c in checks]
    assert "inconclusive: every run ended first" in regret_figures(RunView(res), none)[0].caption
    # `make bench` runs this suite next to the standard one
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    recipe = makefile.split("\nbench:")[1].split("\n\n")[0]
    assert "run problems/reddi.toml" in recipe and "report runs/reddi" in recipe


def test_reddi_average_regret_hand_computed():
    C = 3.0
    x = np.zeros((3, 6))
    x[1], x[2] = -1.0, 1.0
    r = an.reddi_average_regret(x, C)  # slopes C, -1, -1, C, -1, -1: sums 3, 2, 1, 4, 3, 2
    np.testing.assert_allclose(r[0], [3 / 1, 2 / 2, 1 / 3, 4 / 4, 3 / 5, 2 / 6])
    np.testing.assert_allclose(r[1], 0.0, atol=1e-15)  # x* = -1 has no regret
    np.testing.assert_allclose(r[2, [2, 5]], 2 * (C - 2) / 3)  # x = +1: 2 (C - 2) a period


def test_convergence_panels_skip_all_diverged_and_cap_curves():
    from optbench.optimizers import Adagrad, Adamax, NAdam, RMSprop
    from optbench.report.data import MAX_CURVES, convergence_figures

    opts = ([SGD(lr=lr, momentum=0.9) for lr in (5.0, 10.0)]  # diverges at every lr
            + [SGD(lr=1e-4)] + [cls(lr=1e-2) for cls in (Adam, RMSprop, Adagrad, NAdam, Adamax)]
            + [Adam(lr=1e-2, amsgrad=True)])
    res = optbench.run([Rosenbrock(dim=2)], opts, steps=100, seeds=4, progress=False)
    view = RunView(res)
    assert view.all_diverged(0, 0) == ["SGD(momentum=0.9)"]
    (fig,) = convergence_figures(view)
    drawn = [s.key for s in fig.panels[0].series if s.kind == "line"]
    assert len(drawn) == MAX_CURVES == 6 and "SGD(momentum=0.9)" not in drawn
    assert "SGD(momentum=0.9) (diverged at every lr of the grid)" in fig.caption
    assert "1 more variants not drawn" in fig.caption
    # the one left out is the worst by median rank key on the evaluation seeds
    key = view.scores().key
    med = {v: np.median(key[c.trials]) for v, c in view.tuned(0, 0).items()
           if v != "SGD(momentum=0.9)"}
    (left,) = set(med) - set(drawn)
    assert med[left] == max(med.values())
