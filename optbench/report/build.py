"""Build a report from a run: prepare data, render figures, write tables and documents."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import data as D
from . import document, render, style
from . import tables as T
from . import theory


@dataclass
class RenderedFigure:
    data: object
    files: dict


class ReportContext:
    """What the documents are written from."""

    def __init__(self, results):
        from .. import __version__

        self.results = results
        self.view = D.RunView(results)
        manifest = results.manifest or {}
        self.manifest = manifest
        config_hash = manifest.get("config_hash") or results.plan.config_hash()
        self.stamp = {"version": __version__, "config_hash": config_hash,
                      "run": results.plan.name, "date": style.build_date(manifest)}
        self.created = manifest.get("created", "unknown")
        self.figures: list = []
        self.tables: list = []
        self.notes: list = []
        self.bibtex = document.bibtex(__version__)
        self.findings = None  # analysis.findings (None with a single seed)
        self.findings_lines: list = []
        self.findings_table = None
        self.cd_files: dict = {}
        self.question_lines: list = []  # analysis.questions (the run's study questions)
        self.questions_table = None
        plan = results.plan
        n_div = int(np.sum(np.asarray(results.trials["status"]) == "diverged"))  # all seeds
        self.summary = (
            f"{plan.n_trials} trajectories: {len(plan.problems)} problems x "
            f"{plan.n_grid_optimizers} optimizer settings ({len(self.view.variant_keys)} variants) x "
            f"{len(self.view.schedule_labels)} schedules x {len(plan.seeds)} seeds"
            + (f" + {plan.n_trials - plan.stage_starts[1]} of the lr-grid extension"
               if plan.extension else "")
            + (f" ({len(self.view.tuning_seeds)} tune the lr, {len(self.view.eval_seeds())} "
               "evaluate)" if self.view.held_out else "") + ", "
            f"{plan.steps} steps each, {len(results.steps)} recorded steps "
            f"({'log-spaced' if plan.record_every == 'log' else f'every {plan.record_every}'}); "
            f"{n_div} diverged. Recorded traces: {', '.join(results.recorded)}.")
        prov = manifest.get("provenance", {})
        self.provenance_rows = [("run name", plan.name), ("configuration hash", config_hash),
                                ("report built by", f"optbench {__version__}")]
        for key in ("optbench_version", "git_commit", "python", "numba", "numpy", "platform",
                    "cpu", "cpu_count", "threads"):
            if key in prov:
                self.provenance_rows.append((key, str(prov[key])))
        timings = manifest.get("timings", {})
        if "kernel_seconds" in timings:
            self.provenance_rows.append(("kernel seconds", f"{timings['kernel_seconds']:.3g}"))
        self.provenance_rows.append(("run directory", str(results.path) if results.path else "-"))


def prepare(ctx: ReportContext) -> tuple[list, list]:
    """All figure and table data of a report (pure: no files, no matplotlib)."""
    view = ctx.view
    checks = theory.checks(view.results, view)
    ctx.notes.extend(checks.notes)
    figures = list(D.convergence_figures(view, checks.bounds))
    lr = D.lr_figure(view)
    if lr is not None:
        figures.append(lr)
    else:
        ctx.notes.append("The lr-over-steps figure is skipped: the run did not record `lr`.")
    figures += D.iterate_figures(view)
    figures += D.regret_figures(view, checks.reddi)
    paths, notes = D.path_figures(view)
    figures += paths
    ctx.notes.extend(notes)
    figures += D.profile_figures(view)
    sens, notes = D.lr_sensitivity_figure(view)
    figures.append(sens)
    ctx.notes.extend(notes)
    figures.append(D.rank_matrix_figure(view))
    tables = T.final_tables(view)
    if checks.table is not None:
        tables.append(checks.table)
    tables.append(T.tuned_table(view))
    stability = T.stability_table(view)
    if stability is not None:
        tables.append(stability)
    _unique_names(figures)
    _unique_names(tables)
    return figures, tables


def _unique_names(items):
    seen = {}
    for it in items:
        base = it.name
        if base in seen:
            seen[base] += 1
            it.name = f"{base}_{seen[base]}"
        else:
            seen[base] = 0


def build_report(run, out=None, progress=None) -> Path:
    """Write the report of ``run`` (a ``Results`` or a run directory) into ``out``: a new or
    empty directory or an earlier report (default ``paths.default_report_dir``:
    ``reports/<run name>``, never another run's report); returns the output directory. Runs
    no kernel."""
    from ..paths import claim_report_dir, default_report_dir, report_run
    from ..results import Results
    from ..store import load

    results = run if isinstance(run, Results) else load(run)
    out = Path(out) if out is not None else default_report_dir(results)
    claim_report_dir(out, report_run(results))  # new, empty or a report, else one line
    ctx = ReportContext(results)
    fig_dir, tab_dir = out / "figures", out / "tables"
    fig_dir.mkdir(parents=True, exist_ok=True)
    tab_dir.mkdir(parents=True, exist_ok=True)

    from ..progress import Progress

    with Progress(1, "analysis steps (findings, tables, figure data)",
                  enabled=False if progress is False else None) as bar:
        figures, tables = prepare(ctx)
        f = ctx.view.findings()
        bar.advance()
    if f is not None:
        from ..analysis.findings import summary_lines

        ctx.findings = f
        ctx.findings_lines = summary_lines(f)
        ctx.findings_table = T.findings_table(f)
        _write(out / "findings.txt", "\n".join(ctx.findings_lines) + "\n")
        _write(tab_dir / "findings.csv", T.to_csv(ctx.findings_table, ctx.stamp))
        _write(tab_dir / "findings.tex", T.to_latex(ctx.findings_table, ctx.stamp))
        if len(f.solvers) >= 2 and f.n_problems >= 2:
            ctx.cd_files = render.save_cd_diagram(f.solvers, f.average_ranks, f.cd, fig_dir,
                                                  ctx.stamp)
    if results.questions:
        from ..analysis.questions import answer_lines, answers

        found = answers(results)
        ctx.question_lines = answer_lines(found)
        ctx.questions_table = T.questions_table(found)
        _write(out / "questions.txt", "\n".join(ctx.question_lines) + "\n")
        _write(tab_dir / "questions.csv", T.to_csv(ctx.questions_table, ctx.stamp))
        _write(tab_dir / "questions.tex", T.to_latex(ctx.questions_table, ctx.stamp))
    styles = style.StyleMap(ctx.view.variant_keys)
    with Progress(len(figures) + len(tables) + 1, "items", enabled=progress) as bar:
        for fig in figures:
            ctx.figures.append(RenderedFigure(fig, render.save(fig, styles, fig_dir, ctx.stamp)))
            bar.advance()
        for tab in tables:
            _write(tab_dir / f"{tab.name}.csv", T.to_csv(tab, ctx.stamp))
            _write(tab_dir / f"{tab.name}.tex", T.to_latex(tab, ctx.stamp))
            ctx.tables.append(tab)
            bar.advance()
        _write(out / "manifest.json", json.dumps(ctx.manifest or {"config": results.plan.config(),
                                                                  "config_hash": ctx.stamp["config_hash"]},
                                                 indent=2, sort_keys=True) + "\n")
        _write(out / "report.md", document.markdown_document(ctx))
        _write(out / "index.html", document.html_document(ctx))
        bar.advance()
    return out


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", newline="\n")
