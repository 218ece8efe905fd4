"""Tables: data preparation (pure functions of the run view) and writers (CSV, LaTeX
booktabs, Markdown, HTML)."""
from __future__ import annotations

import csv
import html
import io
import math

import numpy as np

from .. import analysis as an
from .data import RunView, fmt_num, slug
from .model import TableData

ALPHA = 0.05
TIE_MARK = "\u2248"  # not significantly worse than the best


# ---- tables -------------------------------------------------------------------------------

def final_tables(view: RunView) -> list[TableData]:
    """Per problem: one row per configuration (optimizer setting x schedule): median final
    metric with 95% CI and divergences (``analysis.final_value_stats``); best median in
    bold; mark for configurations the tests against the best cannot tell from it
    (``analysis.pairwise_tests(against="best")``)."""
    stats = view.final_stats()
    tests = an.pairwise_tests(view.results, an.AUTO, alpha=ALPHA, against="best")
    p_holm = {(r["problem"], r["b"]): r["p_holm"] for r in tests.rows()}
    how = ("median with a 95% percentile-bootstrap interval (seeded, "
           "optbench.analysis.final_value_stats)")
    test = (f"{TIE_MARK}: not significantly different from the best (two-sided paired "
            "Wilcoxon signed-rank test over seeds against the best configuration, "
            "optbench.analysis.pairwise_tests(against='best'), Holm-corrected, "
            f"alpha = {ALPHA})")
    tables = []
    n_seeds = len(view.plan.seeds)
    for p, plabel in enumerate(view.problem_labels):
        cs = view.configs_of(p=p)
        meds = np.array([view.median_final(c) for c in cs])
        finite = np.isfinite(meds)
        best = np.nanmin(meds[finite]) if finite.any() else math.nan
        best_idx = [i for i, m in enumerate(meds) if m == best]
        m = max(len(cs) - 1, 1)
        p_min = min(1.0, m * 2.0 ** (1 - n_seeds))  # all n paired differences of one sign
        power = (f" With {n_seeds} seeds and {m} comparisons the smallest attainable adjusted "
                 f"p is {p_min:.2g}, so no difference can reach significance; add seeds."
                 if p_min >= ALPHA else "")
        rows, bold = [], []
        for i, c in enumerate(cs):
            st = stats[c.index]
            name = f"{view.optimizer_labels[c.optimizer]} | {view.schedule_labels[c.schedule]}"
            adj = p_holm.get((plabel, name), math.nan)
            mark = TIE_MARK if best_idx and i not in best_idx and adj >= ALPHA else ""
            rows.append([view.variants[c.optimizer], view.lrs[c.optimizer],
                         view.schedule_labels[c.schedule], st["median"], st["ci_low"],
                         st["ci_high"], f"{int(st['diverged'])}/{int(st['n'])}", mark, adj])
            bold.append({3} if i in best_idx else set())
        tables.append(TableData(
            name=f"final_{slug(plabel)}", title=f"Final {view.metric_label(p)} on {plabel}",
            caption=(f"Final {view.metric_label(p)} on {plabel} over {n_seeds} seeds per "
                     f"configuration (diverged = inf): {how}; bold: best median; {test}.{power}"),
            columns=["optimizer", "lr", "schedule", "median", "ci_low", "ci_high", "diverged",
                     "mark", "p_holm"],
            rows=rows, bold=bold,
            formats={"median": ".3g", "ci_low": ".3g", "ci_high": ".3g", "lr": "g",
                     "p_holm": ".2g"}))
    return tables


def tuned_table(view: RunView) -> TableData:
    """Tuned against default hyper-parameters (``analysis.tune``): per problem, schedule and
    variant, the lr chosen on the tuning seeds and the class default lr, each with its median
    final value over the evaluation seeds, and the tuned setting's median steps to the
    target tau = 1e-3 over those seeds (``analysis.steps_to_target``)."""
    from .data import PROFILE_TAU, tuned_text

    stt = view.steps_to_target(PROFILE_TAU)
    evaluated = np.isin(view.t_seed, view.eval_seeds())
    grid: dict = {}
    for c in view.configs:
        grid.setdefault((c.problem, c.schedule, view.variants[c.optimizer]), []).append(
            view.lrs[c.optimizer])
    by_key = {(r["problem"], r["schedule"], r["optimizer"]): r for r in view.tuning()}
    rows, bold = [], []
    for p, plabel in enumerate(view.problem_labels):
        for s, slabel in enumerate(view.schedule_labels):
            tuned = view.tuned(p, s)
            found = {v: by_key[(plabel, slabel, v)] for v in tuned}
            meds = {v: r["eval_median"] for v, r in found.items()}
            best = min(meds.values()) if meds else math.nan
            for v, c in tuned.items():
                r = found[v]
                d_lr = (view.lrs[view.optimizer_labels.index(r["default_optimizer"])]
                        if r["default_optimizer"] else math.nan)
                st = float(an.median_iqr(stt[c.trials[evaluated[c.trials]]])[0])
                rows.append([plabel, slabel, v, view.lrs[c.optimizer],
                             " ".join(f"{x:g}" for x in sorted(grid[(p, s, v)])), meds[v],
                             d_lr, r["default_eval_median"],
                             int(st) if np.isfinite(st) else "never"])
                bold.append({5} if meds[v] == best and np.isfinite(best) else set())
    seeds = ("the evaluation seeds (the second half, held out from tuning)" if view.held_out
             else "the run's single seed")
    return TableData(
        name="tuned_hyperparameters", title="Tuned hyper-parameters",
        caption=(f"Tuned against default lr per problem, schedule and optimizer variant: the "
                 f"{tuned_text(view)}, chosen from the lr grid shown, and the class default lr "
                 "(torch's; n/a: not in the grid), each with its median final value over "
                 f"{seeds} (bold: best on the problem and schedule), and the tuned setting's "
                 f"median steps to reach target tau = {PROFILE_TAU:g} over those seeds "
                 "(resolved to recorded steps)."),
        columns=["problem", "schedule", "optimizer", "best_lr", "lr_grid", "median_final",
                 "default_lr", "default_median_final", "median_steps_to_target"],
        rows=rows, bold=bold, formats={"best_lr": "g", "median_final": ".3g",
                                       "default_lr": "g", "default_median_final": ".3g"})


def stability_table(view: RunView) -> TableData | None:
    """Largest stable lr of the grid against 2/L (``analysis.stability_map``), for runs with
    an lr grid; None otherwise."""
    rows = [r for r in an.stability_map(view.results).rows() if r["n_lr"] > 1]
    if not rows:
        return None
    cols = ["problem", "optimizer", "schedule", "n_lr", "largest_stable_lr",
            "smallest_unstable_lr", "two_over_L", "ratio_to_2_over_L"]
    return TableData(
        name="stability", title="Stability over the lr grid",
        caption=("Largest stable lr of the grid per problem, optimizer variant and schedule "
                 "(stable: no seed diverged and every seed ends at or below its start value), "
                 "the smallest unstable lr above it (inf: none), 2/L where the problem knows its "
                 "smoothness L (gradient descent is stable for lr < 2/L) and their ratio "
                 "(optbench.analysis.stability_map)."),
        columns=cols, rows=[[r[k] for k in cols] for r in rows],
        formats={"largest_stable_lr": "g", "smallest_unstable_lr": "g", "two_over_L": ".3g",
                 "ratio_to_2_over_L": ".3g"})


# ---- writers ------------------------------------------------------------------------------

def cell_text(table: TableData, col: int, value) -> str:
    name = table.columns[col]
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "diverged" if value > 0 else "-inf"
        return format(value, table.formats.get(name, ".4g"))
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return str(value)


def to_csv(table: TableData, stamp: dict) -> str:
    """Full-precision CSV; the last two columns carry the provenance stamp."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(table.columns) + ["optbench_version", "config_hash"])
    for row in table.rows:
        out = []
        for v in row:
            if isinstance(v, (float, np.floating)):
                v = float(v)
                out.append("" if math.isnan(v) else ("inf" if math.isinf(v) else repr(v)))
            else:
                out.append(str(v))
        w.writerow(out + [stamp["version"], stamp["config_hash"]])
    return buf.getvalue()


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        TIE_MARK: r"$\approx$"}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def to_latex(table: TableData, stamp: dict) -> str:
    """A booktabs table (needs \\usepackage{booktabs}); floats in the table's formats."""
    cols = [i for i, c in enumerate(table.columns) if c not in table.hidden]
    align = "".join("r" if _numeric_col(table, i) else "l" for i in cols)
    lines = [f"% {table.title}: optbench {stamp['version']}, config {stamp['config_hash']}",
             r"\begin{table}[htbp]", r"\centering", r"\small",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(tex_escape(table.columns[i].replace("_", " ")) for i in cols) + r" \\",
             r"\midrule"]
    for r, row in enumerate(table.rows):
        cells = []
        for i in cols:
            text = tex_escape(cell_text(table, i, row[i]))
            if table.bold and i in table.bold[r]:
                text = rf"\textbf{{{text}}}"
            cells.append(text)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}",
              rf"\caption{{{tex_escape(caption_with_stamp(table.caption, stamp))}}}",
              rf"\label{{tab:optbench-{table.name.replace('_', '-')}}}", r"\end{table}", ""]
    return "\n".join(lines)


def to_markdown(table: TableData) -> str:
    cols = [i for i, c in enumerate(table.columns) if c not in table.hidden]
    lines = ["| " + " | ".join(table.columns[i] for i in cols) + " |",
             "|" + "|".join("---:" if _numeric_col(table, i) else "---" for i in cols) + "|"]
    for r, row in enumerate(table.rows):
        cells = []
        for i in cols:
            text = cell_text(table, i, row[i]).replace("|", "\\|")
            if table.bold and i in table.bold[r]:
                text = f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def to_html(table: TableData) -> str:
    cols = [i for i, c in enumerate(table.columns) if c not in table.hidden]
    out = ["<table>", "<thead><tr>" + "".join(
        f"<th class=\"{'num' if _numeric_col(table, i) else ''}\">{html.escape(table.columns[i])}</th>"
        for i in cols) + "</tr></thead>", "<tbody>"]
    for r, row in enumerate(table.rows):
        cells = []
        for i in cols:
            text = html.escape(cell_text(table, i, row[i]))
            if table.bold and i in table.bold[r]:
                text = f"<b>{text}</b>"
            cls = " class=\"num\"" if _numeric_col(table, i) else ""
            cells.append(f"<td{cls}>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def caption_with_stamp(caption: str, stamp: dict) -> str:
    return f"{caption} [optbench {stamp['version']}, config {stamp['config_hash']}]"


def _numeric_col(table: TableData, i: int) -> bool:
    vals = [row[i] for row in table.rows]
    return bool(vals) and all(isinstance(v, (int, float, np.integer, np.floating))
                              and not isinstance(v, bool) for v in vals)


__all__ = ["final_tables", "tuned_table", "stability_table", "to_csv", "to_latex",
           "to_markdown", "to_html", "fmt_num"]
