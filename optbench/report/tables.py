"""Tables: data preparation (pure functions of the run view) and writers (CSV, LaTeX
booktabs, Markdown, HTML)."""
from __future__ import annotations

import csv
import html
import io
import math

import numpy as np

from .. import analysis as an
from ..markup import markdown_literal
from .data import RunView, fmt_num, slug
from .model import TableData

ALPHA = 0.05
TIE_MARK = "\u2248"  # not significantly worse than the best


# ---- tables -------------------------------------------------------------------------------

def final_tables(view: RunView) -> list[TableData]:
    """Per problem: one row per optimizer variant (at its tuned lr) and schedule, over the
    evaluation seeds: median final gap f - f_ref with a 95% bootstrap interval (0: solved to
    the round-off floor, ``analysis.scores``), solved and diverged counts, median steps to
    target; the best row (lowest median rank key) in bold; each other row tested against it
    (paired two-sided Wilcoxon signed-rank on the rank keys, Holm within the problem).
    Marks: TIE_MARK not distinguishable (the test could have reached alpha), "?" too few
    non-tied seeds to decide, blank: significantly worse. A diverged row is never best nor
    tied."""
    from ..analysis.findings import wilcoxon_p

    sc = view.scores()
    n_seeds = len(view.eval_seeds())
    tables = []
    for p, plabel in enumerate(view.problem_labels):
        cands = [(s, v, c) for s in range(len(view.schedule_labels))
                 for v, c in view.tuned(p, s).items()]
        if not cands:
            continue
        keys = [sc.key[c.trials] for _, _, c in cands]
        med_key = np.array([float(an.median_iqr(k)[0]) for k in keys])
        finite = np.isfinite(med_key)
        b = int(np.argmin(np.where(finite, med_key, np.inf))) if finite.any() else -1
        tests = [wilcoxon_p(keys[b], k) if b >= 0 and i != b and finite[i] else (0, np.nan)
                 for i, k in enumerate(keys)]
        live = [i for i, t in enumerate(tests) if np.isfinite(t[1])]
        adj = dict(zip(live, an.holm([tests[i][1] for i in live]))) if live else {}
        m = max(len(live), 1)
        rows, bold = [], []
        for i, (s, v, c) in enumerate(cands):
            gap = sc.gap[c.trials]
            med, lo, hi = an.bootstrap_ci(gap)
            n, q = tests[i][0], adj.get(i, math.nan)
            if i == b:
                mark = "best"
            elif not finite[i]:
                mark = "diverged"
            elif q < ALPHA:
                mark = ""
            elif m * 2.0 ** (1 - n) < ALPHA:
                mark = TIE_MARK
            else:
                mark = "?"
            stt = float(an.median_iqr(sc.steps_target[c.trials])[0])
            rows.append([v, view.lrs[c.optimizer], view.schedule_labels[s], float(med),
                         float(lo), float(hi), int(sc.solved[c.trials].sum()),
                         f"{int(view.diverged[c.trials].sum())}/{len(c.trials)}",
                         int(stt) if np.isfinite(stt) else "never", mark, q])
            bold.append({3} if i == b else set())
        ref = "the best value found on the seed" if an.uses_best_found(
            view.plan.problems[p]) else "f*"
        tables.append(TableData(
            name=f"final_{slug(plabel)}", title=f"Final gap on {plabel}",
            caption=(f"Final f - f_ref on {plabel} (f_ref = {ref}) over the {n_seeds} "
                     "evaluation seeds, each optimizer variant at its tuned lr: median with a "
                     "95% percentile-bootstrap interval; gaps at or below the round-off floor "
                     f"({an.ROUNDOFF_FACTOR:g} eps (g_0 + |f_ref|), optbench.analysis.scores) "
                     "count as solved (0); steps to target: first recorded step with "
                     f"g_k <= {an.TARGET_TAU:g} g_0. Marks against the best row (bold; lowest "
                     "median rank key: log gap above the floor, steps to the floor below it): "
                     f"{TIE_MARK} not distinguishable (paired two-sided Wilcoxon signed-rank "
                     f"test on the rank keys, Holm-corrected within the problem, alpha = "
                     f"{ALPHA}, with enough non-tied seeds to reach it), ? too few non-tied "
                     "seeds to decide, blank significantly worse, diverged: the median run "
                     "diverged."),
            columns=["optimizer", "lr", "schedule", "median_gap", "ci_low", "ci_high",
                     "solved", "diverged", "median_steps_to_target", "mark", "p_holm"],
            rows=rows, bold=bold,
            formats={"median_gap": ".3g", "ci_low": ".3g", "ci_high": ".3g", "lr": "g",
                     "p_holm": ".2g"}))
    return tables


def findings_table(f) -> TableData:
    """One row per problem class (``analysis.findings``): the best optimizer x schedule,
    its average rank and median relative gap on the held-out seeds with 95% bootstrap
    intervals, and its comparison with the runner-up and each named baseline."""
    from ..analysis.findings import BASELINES, _fmt, speedup_text

    def ci(a, b):
        return f"[{_fmt(a)}, {_fmt(b)}]"

    labels = ["runner-up"] + [b[0] for b in BASELINES]
    rows = []
    for c in f.classes:
        row = [c.problem_class, len(c.problems), c.best,
               f"{c.best_rank:.1f} {ci(*c.best_rank_ci)}",
               f"{_fmt(c.median_rel_gap)} {ci(*c.median_rel_gap_ci)}",
               f"{100 * c.success:.0f}%", c.verdict]
        by = {cmp.label: cmp for cmp in c.comparisons}
        short, detail = [], []
        for lab in labels:
            cmp = by.get(lab)
            if cmp is None:
                short.append("n/a")
                detail.append("n/a")
                continue
            short.append(f"{cmp.verdict}; {speedup_text(cmp)}")
            detail.append(f"{cmp.against}: p_holm {cmp.p_holm:.3g}; r = {cmp.effect:+.2f} "
                          f"[{cmp.effect_ci[0]:+.2f}, {cmp.effect_ci[1]:+.2f}]")
        rows.append(row + short + detail)
    return TableData(
        name="findings", title="Findings per problem class",
        caption=(f"Per problem class, on the {len(f.eval_seeds)} held-out seeds (lr tuned on "
                 f"seeds {', '.join(map(str, f.tuning_seeds))}): the optimizer x schedule "
                 "with the lowest average rank over (problem, seed) blocks, its rank and its "
                 "median final gap / initial gap with 95% bootstrap intervals, the fraction "
                 f"of runs reaching the target g <= {f.tau:g} g_0, and its comparison with "
                 "the runner-up and the baselines: paired two-sided Wilcoxon signed-rank "
                 f"tests, Holm within the class (alpha = {f.alpha:g}); 'not distinguishable' "
                 "only where the test could reach alpha, else 'too few seeds'; r: "
                 "matched-pairs rank-biserial effect size (> 0: the best is better) with a "
                 "bootstrap interval; speed-up: median ratio of evaluations to target "
                 "(other / best; '>=': the other missed the target on some runs, counted at "
                 f"the full budget; steps are resolved to the recorded steps{_resolution(f)}). "
                 "optbench.analysis.findings."),
        columns=["class", "problems", "best", "avg_rank", "median_gap_ratio", "reached",
                 "verdict"] + [f"vs {lab}" for lab in labels]
                + [f"vs {lab} (test)" for lab in labels],
        rows=rows, bold=[{2} for _ in rows],
        hidden=tuple(f"vs {lab} (test)" for lab in labels))


def questions_table(answers) -> TableData:
    """One row per contrast of the study's questions (``analysis.questions``)."""
    from ..analysis.findings import _fmt

    rows = [[a.question.ask, f"{a.question.factor}={c.level} vs {a.reference}",
             c.problem_class + (f", {c.split}" if c.split else ""), c.step,
             f"{c.n} / {c.blocks}",
             f"{_fmt(c.ratio)} [{_fmt(c.ratio_ci[0])}, {_fmt(c.ratio_ci[1])}]",
             f"{c.effect:+.2f} [{c.effect_ci[0]:+.2f}, {c.effect_ci[1]:+.2f}]",
             f"{c.p_holm:.3g}", c.verdict] for a in answers for c in a.contrasts]
    return TableData(
        name="questions", title="Questions of the study",
        caption=("Each level against the reference level on matched blocks (same problem, "
                 "other hyper-parameters, lr, schedule and seed), at the recorded step at or "
                 "before each asked step and at the last: pairs that differ / pairs; gap "
                 "ratio: median of g(level) / g(reference) with a 95% bootstrap interval (gaps "
                 "floored at round-off); r: matched-pairs rank-biserial effect (> 0: the "
                 "level's gap is larger); two-sided Wilcoxon signed-rank tests, Holm over the "
                 "question's tests; 'not distinguishable' only where the test could reach "
                 "alpha, else 'too few pairs'. optbench.analysis.questions."),
        columns=["question", "contrast", "class", "step", "differ", "gap_ratio", "effect_r",
                 "p_holm", "verdict"],
        rows=rows, hidden=())


def _resolution(f) -> str:
    """", so speed-ups below 1.2x are not resolved": the median ratio of consecutive recorded
    steps from step 10 on (log-spaced records), "" when it is below 1.05."""
    steps = np.asarray(f.recorded_steps, float)
    steps = steps[steps >= 10]
    if len(steps) < 2:
        return ""
    ratio = float(np.median(steps[1:] / steps[:-1]))
    return f", so speed-ups below {ratio:.2g}x are not resolved" if ratio > 1.05 else ""


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
    seeds = ("the evaluation seeds (held out from tuning)" if view.held_out
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
    rows = [r for r in an.stability_map(view.results).to_dict("records") if r["n_lr"] > 1]
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
            text = markdown_literal(cell_text(table, i, row[i]))
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
