"""Text (terminal) and Markdown (pull-request comment) renderings of a ``Comparison``."""
from __future__ import annotations

import math

from ..markup import markdown_literal

MARK = {"ok": "ok", "regression": "REGRESSION", "improvement": "improved", "missing": "MISSING",
        "added": "new", "n/a": "n/a", "not comparable": "not comparable"}
MD_MARK = {"ok": "✅ ok", "regression": "❌ **regression**", "improvement": "🟢 improved",
           "missing": "❌ **missing**", "added": "🆕 new", "n/a": "–",
           "not comparable": "– not comparable"}


def _final(v, kind):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if kind == "loss":
        return f"{v:.3g}"
    return "diverged" if v >= 299 else f"{10.0 ** v:.2g}"


def _cell(m, kind="log10_suboptimality", never=None) -> str:
    """'baseline -> new' medians of one metric, in its natural units."""
    if m is None or m.verdict == "n/a" and math.isnan(m.base_median):
        return "-"
    b, n = m.base_median, m.new_median
    if m.metric == "final":
        s = f"{_final(b, kind)} -> {_final(n, kind)}"
    elif m.metric == "steps":
        s = f"{_steps(b, never)} -> {_steps(n, never)}"
    elif m.metric == "diverged":
        s = f"{round(b * m.n_base)}/{m.n_base} -> {round(n * m.n_new)}/{m.n_new}"
    else:
        s = f"{-b:.3g} -> {-n:.3g}"
    if m.verdict in ("regression", "improvement"):
        s += " !" if m.verdict == "regression" else " +"
    return s


def _steps(v, never=None):
    if v is None or math.isnan(v):
        return "-"
    if never is not None and 10.0 ** v >= never - 0.5:
        return "never"
    return f"{10.0 ** v:.0f}"


def _cut(text, n):
    return text if len(text) <= n else text[: n - 1] + "~"


def _header_lines(cmp) -> list:
    b, n = cmp.baseline, cmp.new
    return [f"baseline: {b['path']} ({b['name']}, {b['trials']} trajectories, commit "
            f"{(b['git_commit'] or '?')[:12]})",
            f"new run:  {n['path']} ({n['name']}, {n['trials']} trajectories, commit "
            f"{(n['git_commit'] or '?')[:12]})"]


def _threshold_line(th) -> str:
    return (f"regression = one-sided test p <= {th.alpha:g} AND worse by at least: final "
            f"subopt. x{th.final_factor:g}, steps to target (subopt. <= {th.rel_target:g} x "
            f"initial, or the run's target) x{th.steps_factor:g}, divergence "
            f"rate +{th.divergence:g}, fitted rate -{th.rate_rel:.0%}; speed "
            f"+{th.speed_tolerance:.0%}")


def text(cmp, table: bool = False) -> str:
    """The verdict and why on the first lines; the per-configuration table only with ``table``."""
    s = cmp.summary()
    lines = [f"verdict: {'REGRESSION' if cmp.regressed else 'ok'} — {_counts(s)}; speed: "
             f"{s['speed']}"]
    flagged = _flagged(cmp)
    if flagged:
        lines += ["regressions:"] + [f"  {f}" for f in flagged]
    lines += ["speed: " + _speed_line(cmp.speed)]
    lines += [f"note: {note}" for note in cmp.notes]
    lines += [""] + _header_lines(cmp) + [_threshold_line(cmp.thresholds)]
    if not table:
        lines.append("per-configuration table: --table, or the --markdown / --json files")
        return "\n".join(lines)
    w = (22, 28, 14)
    cols = ("final subopt.", "steps to target", "diverged", "rate dec/100")
    head = (f"{'problem':<{w[0]}} {'optimizer':<{w[1]}} {'schedule':<{w[2]}} "
            + " ".join(f"{c:<20}" for c in cols) + " verdict")
    lines += ["", head, "-" * len(head)]
    kind = cmp.final_kind
    for c in cmp.configs:
        cells = [_cell(c.metrics.get(name), kind, 2 * cmp.steps) for name in ("final", "steps", "diverged", "rate")]
        lines.append(f"{_cut(c.problem, w[0]):<{w[0]}} {_cut(c.optimizer, w[1]):<{w[1]}} "
                     f"{_cut(c.schedule, w[2]):<{w[2]}} "
                     + " ".join(f"{x:<20}" for x in cells) + f" {_verdict(c, MARK)}")
    return "\n".join(lines)


def _counts(s) -> str:
    """'1 regressed, 0 missing, 0 improved, 23 unchanged (20 bitwise equal, 3 statistically
    equal) of 24 configurations'."""
    return (f"{s.get('regression', 0)} regressed, {s.get('missing', 0)} missing, "
            f"{s.get('improvement', 0)} improved, {s.get('ok', 0)} unchanged "
            f"({s.get('bitwise equal', 0)} bitwise equal, {s.get('statistically equal', 0)} "
            f"statistically equal) of {s['configurations']} configurations")


def _verdict(c, marks) -> str:
    return marks[c.verdict] + (f" ({c.equality})" if c.equality else "")


def _flagged(cmp) -> list:
    out = []
    for c in cmp.configs:
        label = f"{c.problem} / {c.optimizer} / {c.schedule}"
        if c.verdict == "missing":
            out.append(f"{label}: missing from the new run")
        for m in c.metrics.values():
            if m.verdict == "regression":
                out.append(f"{label}: {describe(m, cmp.final_kind, 2 * cmp.steps)}")
    return out


def describe(m, kind="log10_suboptimality", never=None) -> str:
    """One sentence on a metric's change: medians, effect, threshold, p."""
    p = f"p = {m.p_value:.3g}, n = {m.n_base}/{m.n_new}"
    if m.metric == "final" and kind != "loss":
        return (f"final suboptimality {_final(m.base_median, kind)} -> "
                f"{_final(m.new_median, kind)} (Hodges-Lehmann ratio x{_pow(m.effect)}, "
                f"threshold x{_pow(m.threshold)}; {p})")
    if m.metric == "final":
        return (f"final loss {m.base_median:.4g} -> {m.new_median:.4g} (shift {m.effect:+.3g}, "
                f"threshold {m.threshold:.3g}; {p})")
    if m.metric == "steps":
        return (f"steps to target {_steps(m.base_median, never)} -> {_steps(m.new_median, never)} "
                f"(ratio x{_pow(m.effect)}, threshold x{_pow(m.threshold)}; {p})")
    if m.metric == "diverged":
        return (f"divergence rate {m.base_median:.0%} -> {m.new_median:.0%} "
                f"(+{m.effect:.0%}, threshold +{m.threshold:.0%}; Fisher {p})")
    return (f"fitted rate {-m.base_median:.3g} -> {-m.new_median:.3g} decades/100 steps "
            f"(slower by {m.effect:.3g}, threshold {m.threshold:.3g}; {p})")


def _pow(v):
    if v is None or math.isnan(v):
        return "-"
    return f"{10.0 ** min(v, 300):.3g}"


def _speed_line(sp) -> str:
    if sp.get("verdict") == "n/a" or "change" not in sp:
        return sp.get("note", "n/a")
    b, n = sp["baseline"], sp["new"]
    line = (f"kernel / reference time {b['ratio']:.3g} -> {n['ratio']:.3g} "
            f"({sp['change']:+.1%}, tolerance +{sp['tolerance']:.0%}): {MARK[sp['verdict']]}")
    return line + (f" ({sp['note']})" if sp.get("note") else "")


def markdown(cmp) -> str:
    s = cmp.summary()
    title = "❌ regression" if cmp.regressed else "✅ no regression"
    b, n = cmp.baseline, cmp.new
    lines = [f"### optbench compare: {title}", "",
             f"Suite **{markdown_literal(n['name'])}**: {_counts(s)}; "
             f"speed: {MD_MARK.get(s['speed'], s['speed'])}.", "",
             f"Baseline `{(b['git_commit'] or '?')[:12]}` ({len(b['seeds'])} seeds) vs new "
             f"`{(n['git_commit'] or '?')[:12]}` ({len(n['seeds'])} seeds). {_threshold_line(cmp.thresholds)}."]
    flagged = [c for c in cmp.configs if c.verdict in ("regression", "missing")]
    if flagged:
        lines += ["", "| problem | optimizer | schedule | what got worse |", "|---|---|---|---|"]
        for c in flagged:
            what = ("missing from the new run" if c.verdict == "missing" else
                    "<br>".join(describe(m, cmp.final_kind, 2 * cmp.steps) for m in c.metrics.values()
                                if m.verdict == "regression"))
            lines.append(f"| {_names(c)} | {_md(what)} |")
    lines += ["", f"**Speed:** {_speed_line(cmp.speed)}"]
    if cmp.notes:
        lines += [""] + [f"> {note}" for note in cmp.notes]
    lines += ["", "<details><summary>All configurations (median baseline -> new)</summary>", "",
              "| problem | optimizer | schedule | final subopt. | steps to target | diverged | "
              "rate (dec/100 steps) | verdict |", "|---|---|---|---|---|---|---|---|"]
    for c in cmp.configs:
        cells = [_cell(c.metrics.get(name), cmp.final_kind, 2 * cmp.steps)
                 for name in ("final", "steps", "diverged", "rate")]
        lines.append(f"| {_names(c)} | "
                     + " | ".join(_md(x) for x in cells) + f" | {_verdict(c, MD_MARK)} |")
    lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def _md(text) -> str:
    return str(text).replace("|", "\\|")




def _names(c) -> str:
    return f"{markdown_literal(c.problem)} | {markdown_literal(c.optimizer)} | {markdown_literal(c.schedule)}"
