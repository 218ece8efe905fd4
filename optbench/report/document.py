"""The report documents: ``index.html`` (self-contained) and ``report.md``."""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from ..markup import markdown_literal
from . import tables as T

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1180px;margin:2em auto;
padding:0 1.2em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.05em;margin-bottom:.3em}
figure{margin:1.2em 0 2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption,.caption{font-size:.9em;color:#444;margin-top:.3em}
.stamp{color:#777;font-size:.85em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 .3em 0}
th,td{padding:.18em .6em;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid #444}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.tablewrap{max-height:32em;overflow:auto;border:1px solid #f0f0f0}
.files a{margin-right:.6em;font-size:.85em}
pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:.85em}
nav ul{columns:2;font-size:.9em}ul.findings{list-style:none;padding-left:0}
ul.findings li{margin:.45em 0}.cmp{font-size:.88em;color:#333}.who{color:#555}.note{background:#fff8e1;padding:.5em .8em;border-left:3px solid #e69f00}
"""


def _anchor(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def html_document(ctx) -> str:
    """``ctx``: the report context (figures with their files, tables, notes, stamp, ...)."""
    st = ctx.stamp
    e = html.escape
    out = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>optbench report: {e(st['run'])}</title>",
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
           f"<meta name=\"generator\" content=\"optbench {e(st['version'])}\">",
           f"<meta name=\"optbench-config-hash\" content=\"{e(st['config_hash'])}\">",
           f"<style>{CSS}</style></head><body>",
           f"<h1>optbench report: {e(st['run'])}</h1>",
           f"<p class=\"stamp\">optbench {e(st['version'])} &middot; configuration hash "
           f"<code>{e(st['config_hash'])}</code> &middot; run created {e(ctx.created)}</p>",
           ]
    out += _findings_html(ctx)
    out += _questions_html(ctx)
    out.append(f"<p>{e(ctx.summary)}</p>")
    out.append("<nav><ul>")
    out.append("<li><a href=\"#provenance\">Provenance</a></li>")
    for fig in ctx.figures:
        out.append(f"<li><a href=\"#fig-{_anchor(fig.data.name)}\">Figure: {e(fig.data.title)}</a></li>")
    for tab in ctx.tables:
        out.append(f"<li><a href=\"#tab-{_anchor(tab.name)}\">Table: {e(tab.title)}</a></li>")
    out.append("<li><a href=\"#notes\">Notes</a></li><li><a href=\"#cite\">Citation</a></li>")
    out.append("</ul></nav>")
    out.append("<h2 id=\"provenance\">Provenance</h2><table><tbody>")
    for k, v in ctx.provenance_rows:
        out.append(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>")
    out.append("</tbody></table><p class=\"files\"><a href=\"manifest.json\">manifest.json</a></p>")
    out.append("<h2 id=\"figures\">Figures</h2>")
    for fig in ctx.figures:
        png = fig.files["png"].read_bytes()
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        links = " ".join(f"<a href=\"figures/{e(p.name)}\">{fmt.upper()}</a>"
                         for fmt, p in fig.files.items())
        out.append(f"<figure id=\"fig-{_anchor(fig.data.name)}\"><h3>{e(fig.data.title)}</h3>"
                   f"<img src=\"{uri}\" alt=\"{e(fig.data.title)}\" "
                   f"data-figure=\"{e(fig.data.name)}\">"
                   f"<figcaption>{e(T.caption_with_stamp(fig.data.caption, st))}</figcaption>"
                   f"<p class=\"files\">figures/{e(fig.data.name)}: {links}</p></figure>")
    out.append("<h2 id=\"tables\">Tables</h2>")
    for tab in ctx.tables:
        out.append(f"<h3 id=\"tab-{_anchor(tab.name)}\">{e(tab.title)}</h3>")
        out.append(f"<div class=\"tablewrap\">{T.to_html(tab)}</div>")
        out.append(f"<p class=\"caption\">{e(T.caption_with_stamp(tab.caption, st))}</p>")
        out.append(f"<p class=\"files\">tables/{e(tab.name)}: <a href=\"tables/{e(tab.name)}.csv\">CSV</a>"
                   f" <a href=\"tables/{e(tab.name)}.tex\">LaTeX</a></p>")
    out.append("<h2 id=\"notes\">Notes</h2>")
    if ctx.notes:
        out.append("<ul>" + "".join(f"<li class=\"note\">{e(n)}</li>" for n in ctx.notes) + "</ul>")
    else:
        out.append("<p>None.</p>")
    out.append("<h2 id=\"cite\">Citation</h2><p>If you use these results, please cite optbench:</p>")
    out.append(f"<pre>{e(ctx.bibtex)}</pre>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _cd_caption(ctx) -> str:
    f = ctx.findings
    return (f"Critical-difference diagram (Demsar 2006) of the {len(f.solvers)} optimizer x "
            f"schedule solvers over {f.n_problems} problems (median rank key per problem on "
            f"the held-out seeds): average rank (1 = best); Friedman p = "
            f"{f.friedman_p:.2g}; solvers joined by a bar differ by less than the Nemenyi "
            f"critical difference CD = {f.cd:.2f} (alpha = {f.alpha:g}).")


def _findings_html(ctx) -> list:
    """The first screen: findings in words, the per-class table, the CD diagram."""
    e = html.escape
    if ctx.findings is None:
        return ["<p class=\"note\">No findings: the run has a single seed, so no lr can be "
                "tuned on seeds held out from the evaluation.</p>"]
    from ..analysis.findings import _fmt, speedup_text

    f = ctx.findings
    out = ["<h2 id=\"findings\">Findings</h2>", f"<p>{e(ctx.findings_lines[0])}</p>",
           "<ul class=\"findings\">"]
    for c in f.classes:
        cmps = "; ".join(
            f"vs {e(cmp.label)} <span class=\"who\">{e(cmp.against)}</span>: "
            f"<b>{e(cmp.verdict)}</b> (p<sub>Holm</sub> {_fmt(cmp.p_holm)}, r = {cmp.effect:+.2f}), "
            f"speed-up {e(speedup_text(cmp))}" for cmp in c.comparisons)
        out.append(
            f"<li><b>{e(c.problem_class)}</b> ({len(c.problems)} problem"
            f"{'' if len(c.problems) == 1 else 's'}, {c.blocks} held-out runs): "
            f"<b>{e(c.best)}</b> &mdash; <i>{e(c.verdict)}</i>. Median final gap / initial gap "
            f"{_fmt(c.median_rel_gap)} [{_fmt(c.median_rel_gap_ci[0])}, "
            f"{_fmt(c.median_rel_gap_ci[1])}], target reached in {100 * c.success:.0f}% of "
            f"runs, average rank {c.best_rank:.1f} [{c.best_rank_ci[0]:.1f}, "
            f"{c.best_rank_ci[1]:.1f}].<br><span class=\"cmp\">{cmps}.</span></li>")
    out.append("</ul>")
    out += [f"<p class=\"note\">{e(line)}</p>" for line in ctx.findings_lines
            if line.startswith(("Across", "Warning", "lr grid extended", "Tuning budget"))]
    out.append(f"<div class=\"tablewrap\">{T.to_html(ctx.findings_table)}</div>")
    out.append(f"<p class=\"caption\">{e(T.caption_with_stamp(ctx.findings_table.caption, ctx.stamp))}</p>")
    if ctx.cd_files:
        png = ctx.cd_files["png"].read_bytes()
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        out.append(f"<figure id=\"fig-critical_difference\"><img src=\"{uri}\" "
                   f"alt=\"critical difference diagram\" data-figure=\"critical_difference\">"
                   f"<figcaption>{e(_cd_caption(ctx))}</figcaption></figure>")
    return out


def _findings_markdown(ctx) -> list:
    if ctx.findings is None:
        return ["No findings: the run has a single seed.", ""]
    out = ["## Findings", "", "```text", *ctx.findings_lines, "```", "",
           T.to_markdown(ctx.findings_table), "",
           f"*{T.caption_with_stamp(ctx.findings_table.caption, ctx.stamp)}*", ""]
    if ctx.cd_files:
        out += ["![Critical difference diagram](figures/critical_difference.png)", "",
                f"*{_cd_caption(ctx)}*", ""]
    return out


def _questions_html(ctx) -> list:
    """The study's questions answered (``analysis.questions``), after the findings."""
    if ctx.questions_table is None:
        return []
    e = html.escape
    out = ["<h2 id=\"questions\">Questions</h2>", "<ul class=\"findings\">"]
    out += [f"<li>{e(line.strip())}</li>" for line in ctx.question_lines]
    out.append("</ul>")
    out.append(f"<div class=\"tablewrap\">{T.to_html(ctx.questions_table)}</div>")
    out.append(f"<p class=\"caption\">"
               f"{e(T.caption_with_stamp(ctx.questions_table.caption, ctx.stamp))}</p>")
    return out


def _questions_markdown(ctx) -> list:
    if ctx.questions_table is None:
        return []
    return ["## Questions", "", "```text", *ctx.question_lines, "```", "",
            T.to_markdown(ctx.questions_table), "",
            f"*{T.caption_with_stamp(ctx.questions_table.caption, ctx.stamp)}*", ""]


def markdown_document(ctx) -> str:
    st = ctx.stamp
    out = [f"# optbench report: {markdown_literal(st['run'])}", "",
           f"optbench {st['version']} · configuration hash `{st['config_hash']}` · "
           f"run created {ctx.created}", ""]
    out += _findings_markdown(ctx)
    out += _questions_markdown(ctx)
    out += [ctx.summary, "", "## Provenance", "",
           "| key | value |", "|---|---|"]
    out += [f"| {k} | {markdown_literal(v)} |" for k, v in ctx.provenance_rows]
    out += ["", "Full manifest: [manifest.json](manifest.json)", "", "## Figures", ""]
    for fig in ctx.figures:
        out += [f"### {fig.data.title}", "",
                f"![{fig.data.title}](figures/{fig.data.name}.png)", "",
                f"*{T.caption_with_stamp(fig.data.caption, st)}*", "",
                "Files: " + ", ".join(f"[{fmt.upper()}](figures/{p.name})"
                                      for fmt, p in fig.files.items()), ""]
    out += ["## Tables", ""]
    for tab in ctx.tables:
        out += [f"### {tab.title}", "", T.to_markdown(tab), "",
                f"*{T.caption_with_stamp(tab.caption, st)}*", "",
                f"Files: [CSV](tables/{tab.name}.csv), [LaTeX](tables/{tab.name}.tex)", ""]
    out += ["## Notes", ""]
    out += [f"- {n}" for n in ctx.notes] or ["None."]
    out += ["", "## Citation", "", "```bibtex", ctx.bibtex, "```", ""]
    return "\n".join(out)


def bibtex(version: str) -> str:
    """A BibTeX entry for optbench, from CITATION.cff when it is found next to the package."""
    title = ("optbench: Numba-JIT benchmarking and convergence analysis for gradient optimizers "
             "and learning-rate schedules")
    author = "{optbench developers}"
    year = None
    cff = Path(__file__).resolve().parents[2] / "CITATION.cff"
    try:
        text = cff.read_text(encoding="utf-8")
    except OSError:
        text = ""
    m = re.search(r'^title:\s*"?(.*?)"?\s*$', text, re.M)
    if m:
        title = m.group(1)
    m = re.search(r"^date-released:\s*(\d{4})", text, re.M)
    if m:
        year = m.group(1)
    names = re.findall(r'^\s*-\s*name:\s*"?(.*?)"?\s*$', text, re.M)
    if names:
        author = " and ".join("{" + n + "}" for n in names)
    lines = ["@software{optbench,", f"  author  = {{{author}}},",
             f"  title   = {{{{{title}}}}},",
             f"  version = {{{version}}},"]
    if year:
        lines.append(f"  year    = {{{year}}},")
    lines.append("  note    = {Numba-JIT optimizer benchmarking toolkit}")
    lines.append("}")
    return "\n".join(lines)
