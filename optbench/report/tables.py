"""Tables: data preparation (pure functions of the run view) and writers (CSV, LaTeX
booktabs, Markdown, HTML)."""
from __future__ import annotations

import csv
import html
import io
import math

import numpy as np

from .data import RunView, fmt_num, slug
from .model import TableData

ALPHA = 0.05
TIE_MARK = "\u2248"  # not significantly worse than the best


# ---- simple statistics (used where the analysis module provides none) ---------------------

def median_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Median and its distribution-free confidence interval from order statistics (binomial):
    the narrowest symmetric pair (x_(j), x_(n-j+1)) covering the median with probability
    >= level, or (min, max) when n is too small for that."""
    from scipy.stats import binom

    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan
    med = float(np.median(x))
    # [x_(k), x_(n-k+1)] covers the median with probability 1 - 2 P(B <= k - 1), B ~ Bin(n, 1/2)
    k = 1
    for cand in range(n // 2, 0, -1):
        if 1.0 - 2.0 * binom.cdf(cand - 1, n, 0.5) >= level:
            k = cand
            break
    return med, float(x[k - 1]), float(x[n - k])


def worse_than_best(best_vals, vals) -> float:
    """p-value of a one-sided paired test (Wilcoxon signed-rank over seeds, which share start
    points) that ``vals`` are larger than ``best_vals``; 1.0 when it cannot be computed."""
    from scipy.stats import wilcoxon

    a = np.where(np.isfinite(best_vals), best_vals, 1e300)
    b = np.where(np.isfinite(vals), vals, 1e300)
    d = b - a
    if len(d) < 2 or np.all(d == 0):
        return 1.0
    try:
        return float(wilcoxon(b, a, alternative="greater", zero_method="zsplit").pvalue)
    except ValueError:
        return 1.0


def holm(pvalues) -> np.ndarray:
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p, kind="stable")
    adj = np.empty_like(p)
    running = 0.0
    m = len(p)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


# ---- tables -------------------------------------------------------------------------------

def final_tables(view: RunView) -> list[TableData]:
    """Per problem: one row per configuration (optimizer setting x schedule): median final
    metric with 95% CI, divergences; best median in bold; mark for configurations the tests
    cannot tell from the best."""
    from .theory import analysis_module

    an = analysis_module()
    if an is not None and all(hasattr(an, f) for f in ("bootstrap_ci", "compare_two", "holm")):
        ci_of = an.bootstrap_ci  # seeded percentile bootstrap: deterministic

        def p_worse(a, b):
            return an.compare_two(a, b, paired=True)[2]

        adjust = an.holm
        how = ("median with a 95% percentile-bootstrap interval (seeded, "
               "optbench.analysis.bootstrap_ci)")
        test = (f"{TIE_MARK}: not significantly different from the best (two-sided paired "
                "Wilcoxon signed-rank test over seeds, optbench.analysis.compare_two, "
                f"Holm-corrected, alpha = {ALPHA})")
    else:
        ci_of, p_worse, adjust = median_ci, worse_than_best, holm
        how = ("median with a distribution-free 95% interval (order statistics; (min, max) for "
               "few seeds)")
        test = (f"{TIE_MARK}: not significantly worse than the best (one-sided paired Wilcoxon "
                f"signed-rank test over seeds, Holm-corrected, alpha = {ALPHA})")
    tables = []
    n_seeds = len(view.plan.seeds)
    for p, plabel in enumerate(view.problem_labels):
        cs = view.configs_of(p=p)
        meds = np.array([view.median_final(c) for c in cs])
        finite = np.isfinite(meds)
        best = np.nanmin(meds[finite]) if finite.any() else math.nan
        best_idx = [i for i, m in enumerate(meds) if m == best]
        pvals = []
        if best_idx:
            by_seed = {int(view.t_seed[t]): t for t in cs[best_idx[0]].trials}
            ref = cs[best_idx[0]]
            for c in cs:
                seeds = [int(view.t_seed[t]) for t in c.trials]
                common = [sd for sd in seeds if sd in by_seed]
                a = view.final[[by_seed[sd] for sd in common]]
                b = view.final[[t for t, sd in zip(c.trials, seeds) if sd in by_seed]]
                pvals.append(1.0 if c is ref else float(p_worse(a, b)))
        adj = adjust(pvals) if pvals else []
        m = max(len(cs) - 1, 1)
        p_min = min(1.0, m * 2.0 ** (1 - n_seeds))  # all n paired differences of one sign
        power = (f" With {n_seeds} seeds and {m} comparisons the smallest attainable adjusted "
                 f"p is {p_min:.2g}, so no difference can reach significance; add seeds."
                 if p_min >= ALPHA else "")
        rows, bold = [], []
        for i, c in enumerate(cs):
            med, lo, hi = ci_of(view.final[c.trials])
            ndiv = int(view.diverged[c.trials].sum())
            mark = ""
            if best_idx and i not in best_idx and adj[i] >= ALPHA:
                mark = TIE_MARK
            rows.append([view.variants[c.optimizer], view.lrs[c.optimizer],
                         view.schedule_labels[c.schedule], med, lo, hi,
                         f"{ndiv}/{len(c.trials)}", mark,
                         float(adj[i]) if len(adj) else math.nan])
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
    """Tuned hyper-parameters: per problem, schedule and variant, the lr of lowest median
    final value, with that median and the median steps to the target tau = 1e-3."""
    from .data import PROFILE_TAU

    stt = view.steps_to_target(PROFILE_TAU)
    rows, bold = [], []
    for p, plabel in enumerate(view.problem_labels):
        for s, slabel in enumerate(view.schedule_labels):
            tuned = view.tuned(p, s)
            grid = {}
            for c in view.configs_of(p=p, s=s):
                grid.setdefault(view.variants[c.optimizer], []).append(view.lrs[c.optimizer])
            meds = {v: view.median_final(c) for v, c in tuned.items()}
            best = min(meds.values()) if meds else math.nan
            for v, c in tuned.items():
                st = np.median(np.where(np.isfinite(stt[c.trials]), stt[c.trials], 1e300))
                rows.append([plabel, slabel, v, view.lrs[c.optimizer],
                             " ".join(f"{x:g}" for x in sorted(grid[v])), meds[v],
                             "never" if st >= 1e299 else int(st)])
                bold.append({5} if meds[v] == best and np.isfinite(best) else set())
    return TableData(
        name="tuned_hyperparameters", title="Tuned hyper-parameters",
        caption=("Best lr per problem, schedule and optimizer variant (lowest median final value "
                 f"over seeds, chosen from the lr grid shown), its median final value (bold: best "
                 "on the problem and schedule) and median steps to reach target "
                 f"tau = {PROFILE_TAU:g} (resolved to recorded steps)."),
        columns=["problem", "schedule", "optimizer", "best_lr", "lr_grid", "median_final",
                 "median_steps_to_target"],
        rows=rows, bold=bold, formats={"best_lr": "g", "median_final": ".3g"})


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


__all__ = ["final_tables", "tuned_table", "to_csv", "to_latex", "to_markdown", "to_html",
           "median_ci", "holm", "fmt_num"]
