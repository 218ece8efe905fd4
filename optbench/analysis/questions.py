"""Questions a study asks of its run: does one setting matter, by how much, and when?

A question names an optimizer type, a factor (one of its parameters, or ``"schedule"``) and
two or more levels of it, the first being the reference; optionally steps to look at (the
last step is always added) and a parameter to split by (``by``, e.g. ``betas``)::

    [[questions]]
    ask = "Does bias correction matter, and when?"
    optimizer = "Adam"
    factor = "bias_correction"
    levels = [true, false]
    at = [10, 100]
    by = "betas"

Protocol (``answer``). Matched blocks: trajectories of the optimizer type that agree on
everything but the factor -- problem, every other hyper-parameter (the lr included: the
question is asked at every lr of the grid, no tuning is involved, so every seed counts),
schedule and seed. The score at step k is the relative gap s_k = log10(max(g_k, floor) /
g_0), g_k = f(x_k) - f_ref and the round-off floor of :mod:`.scores` (round-off is a tie),
+inf once diverged. Per problem class, split value, level and step: the paired differences
d = s(level) - s(reference) over the blocks, a two-sided Wilcoxon signed-rank test (Holm
over all of the question's tests), the matched-pairs rank-biserial effect r (Kerby 2014) and
the median gap ratio 10^median(d) ("x times the reference's gap"), each with a percentile
bootstrap interval over blocks. Verdict: "smaller gap" / "larger gap" when the Holm-adjusted
p < alpha, "negligible" instead when the median ratio of the pairs that differ lies within
``NEGLIGIBLE`` with its interval (a consistent but tiny difference, e.g. eps inside the
root; pairs tied at the floor do not hide a large effect among the others);
"not distinguishable" only when the test could have reached alpha (2 m / 2^n < alpha
for n non-zero differences and m tests), else "too few pairs"; "tied" when every difference
is zero (both at the floor, or both diverged).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ..problems.classes import problem_class
from .findings import ALPHA, N_BOOT, _fmt, _rb_stat, rank_biserial, wilcoxon_p
from .stats import bootstrap_ci, holm

SCHEDULE = "schedule"
#: a significant difference whose differing pairs' median gap ratio lies within
#: [1/NEGLIGIBLE, NEGLIGIBLE] (its interval included) is called negligible
NEGLIGIBLE = 1.05
KEYS = ("ask", "optimizer", "factor", "levels", "at", "by")


@dataclass(frozen=True)
class Question:
    """One question (see the module docstring); ``levels`` in the parameter's stored form
    (schedule labels for ``factor = "schedule"``)."""

    ask: str
    optimizer: str
    factor: str
    levels: tuple
    at: tuple = ()
    by: str | None = None

    def to_dict(self) -> dict:
        out = {"ask": self.ask, "optimizer": self.optimizer, "factor": self.factor,
               "levels": list(self.levels), "at": list(self.at)}
        return out if self.by is None else {**out, "by": self.by}

    @classmethod
    def from_dict(cls, data, where: str = "") -> Question:
        """A validated question; a one-line ValueError naming the key otherwise."""
        from ..optimizers import REGISTRY
        from ..spec import suggest

        if not isinstance(data, dict):
            raise ValueError(f"{where}a question must be a table")
        for key in data:
            if key not in KEYS:
                raise ValueError(f"{where}unknown key {key!r}{suggest(key, KEYS)}")
        for key in ("optimizer", "factor", "levels"):
            if key not in data:
                raise ValueError(f"{where}missing key {key!r}")
        try:
            opt = REGISTRY.lookup(data["optimizer"])
        except ValueError as exc:
            raise ValueError(f"{where}optimizer: {exc}") from None
        params = [p for p in opt.param_names() if p != "lr"] + ["lr"]
        factor = data["factor"]
        if factor != SCHEDULE and factor not in params:
            raise ValueError(f"{where}factor {factor!r} is not a parameter of {opt.type_name()} "
                             f"nor 'schedule'{suggest(factor, params + [SCHEDULE])}")
        levels = data["levels"]
        if not isinstance(levels, list) or len(levels) < 2:
            raise ValueError(f"{where}levels must be a list of two or more values, got {levels!r}")
        if factor != SCHEDULE:  # each level as the spec stores it (validated, normalised)
            levels = [opt.from_dict({factor: v}, where=f"{where}levels: ").params()[factor]
                      for v in levels]
        elif not all(isinstance(v, str) for v in levels):
            raise ValueError(f"{where}schedule levels are schedule type names or labels "
                             f"(strings), got {levels!r}")
        if len({repr(v) for v in levels}) < len(levels):
            raise ValueError(f"{where}levels repeat a value: {data['levels']!r}")
        at = data.get("at", [])
        if not isinstance(at, list) or not all(isinstance(k, int) and not isinstance(k, bool)
                                               and k >= 1 for k in at):
            raise ValueError(f"{where}at must be a list of steps >= 1, got {at!r}")
        by = data.get("by")
        if by is not None and (by not in params or by == factor):
            raise ValueError(f"{where}by {by!r} is not another parameter of {opt.type_name()}"
                             f"{suggest(str(by), params)}")
        ask = data.get("ask", f"Does {factor} of {opt.type_name()} matter?")
        if not isinstance(ask, str):
            raise ValueError(f"{where}ask must be a string, got {ask!r}")
        return cls(ask, opt.type_name(), factor, tuple(levels), tuple(sorted(set(at))), by)


def parse_questions(tables, where: str = "") -> list[Question]:
    """The ``[[questions]]`` tables of a suite (or dicts from Python), validated."""
    if tables is None:
        return []
    if not isinstance(tables, list):
        raise ValueError(f"{where}questions must be an array of tables ([[questions]])")
    return [q if isinstance(q, Question) else
            Question.from_dict(q, where=f"{where}[[questions]] #{i}: ")
            for i, q in enumerate(tables, start=1)]


@dataclass
class Contrast:
    """One level against the reference, in one class (and split value), at one step."""

    problem_class: str
    split: str  # "" or "by=value"
    level: str
    step: int  # the recorded step used (the last recorded step <= the asked one)
    blocks: int
    n: int  # blocks with a non-zero difference
    ratio: float  # median of g(level) / g(reference), in round-off-floored gaps
    ratio_ci: tuple
    effect: float  # rank-biserial r: > 0 the level's gap is larger
    effect_ci: tuple
    p: float
    p_holm: float = math.nan
    verdict: str = ""
    tiny: bool = False  # the differing pairs' median ratio is within NEGLIGIBLE (interval)


@dataclass
class Answer:
    question: Question
    reference: str
    contrasts: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def _level_text(value) -> str:
    return value if isinstance(value, str) else repr(value).replace("True", "true").replace(
        "False", "false")


def check_against(questions, plan, where: str = "") -> None:
    """Refuse (one line) a question whose optimizer type or levels the plan does not run."""
    for i, q in enumerate(questions, start=1):
        here = f"{where}question #{i} ({q.ask!r}): "
        opts = [o for o in plan.optimizers if type(o).type_name() == q.optimizer]
        if not opts:
            raise ValueError(f"{here}the run has no {q.optimizer} optimizer")
        if q.factor == SCHEDULE:
            _schedule_levels(q, plan, here)
            continue
        have = [o.params()[q.factor] for o in opts]
        missing = [_level_text(v) for v in q.levels if v not in have]
        if missing:
            raise ValueError(f"{here}level(s) {', '.join(missing)} of {q.factor} are not in the "
                             "run")


def _schedule_levels(q, plan, where: str = "") -> list:
    """The schedule label of each level of a schedule question: a level is a label, or the
    type name of exactly one of the run's schedules ("constant" when the run has none)."""
    labels = ["constant"] if plan.schedules is None else [s.label() for s in plan.schedules]
    types = [] if plan.schedules is None else [type(s).type_name() for s in plan.schedules]
    out = []
    for level in q.levels:
        if level in labels:
            out.append(level)
            continue
        of_type = [lab for lab, t in zip(labels, types) if t == level]
        if len(of_type) != 1:
            why = (f"names {len(of_type)} schedules ({'; '.join(of_type)}): give one label"
                   if of_type else f"is not in the run (schedules: {'; '.join(labels)})")
            raise ValueError(f"{where}schedule level {level!r} {why}")
        out.append(of_type[0])
    return out


def _score_traces(results):
    """s_k = log10(max(g_k, floor) / g_0) per trajectory and recorded step (+inf once
    diverged, NaN where g_0 <= 0: the start is already optimal)."""
    from ._common import AUTO, censored_trace
    from .scores import scores

    sc = scores(results)
    trace = censored_trace(results, AUTO) - sc.ref[:, None]
    floor = sc.floor[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.log10(np.maximum(trace, floor) / sc.gap0[:, None])
    s = np.where(np.isnan(trace) | np.isposinf(trace), np.inf, s)
    return np.where((sc.gap0 > 0)[:, None], s, np.nan)


def answer(results, question: Question, alpha: float = ALPHA, score=None) -> Answer:
    """The answer to ``question`` from ``results`` (see the module's protocol); ``score``:
    the run's relative-gap scores when already computed (``answers`` shares them)."""
    plan = results.plan
    check_against([question], plan)
    steps = np.asarray(results.steps)
    asked = [k for k in question.at if k < plan.steps] + [plan.steps]
    columns = sorted({int(np.searchsorted(steps, k, side="right")) - 1 for k in asked})
    columns = [c for c in columns if c >= 0]
    score = _score_traces(results) if score is None else score
    ids = plan.trial_ids
    reference = _level_text(question.levels[0])
    out = Answer(question, reference)
    cells: dict = {}  # (class, split, level, column) -> (reference scores, level scores)
    blocks: dict = {}  # matched block -> {level index: trial}
    named = (_schedule_levels(question, plan) if question.factor == SCHEDULE
             else question.levels)
    levels = {repr(v): i for i, v in enumerate(named)}
    labels = ["constant"] if plan.schedules is None else [s.label() for s in plan.schedules]
    for trial, (p, o, s, seed) in enumerate(ids[:, :4]):
        opt = plan.optimizers[o]
        if type(opt).type_name() != question.optimizer:
            continue
        params = opt.params()
        if question.factor == SCHEDULE:
            level, s_key = levels.get(repr(labels[s] if s >= 0 else "constant")), None
        else:
            level, s_key = levels.get(repr(params[question.factor])), s
        if level is None:
            continue
        rest = tuple((k, repr(v)) for k, v in sorted(params.items()) if k != question.factor)
        blocks.setdefault((p, rest, s_key, seed), {})[level] = trial
    for (p, rest, _, _), members in blocks.items():
        if 0 not in members:
            continue
        cls = problem_class(plan.problems[p])
        split = "" if question.by is None else f"{question.by}={dict(rest)[question.by]}"
        for level, trial in members.items():
            if level == 0:
                continue
            for c in columns:
                cell = cells.setdefault((cls, split, level, c), ([], []))
                cell[0].append(score[members[0], c])
                cell[1].append(score[trial, c])
    if not cells:
        out.notes.append("no matched blocks: no two levels ran with everything else equal")
        return out
    for (cls, split, level, c), (ref, lev) in sorted(cells.items()):
        ref, lev = np.asarray(ref), np.asarray(lev)
        keep = ~(np.isnan(ref) | np.isnan(lev))
        ref, lev = ref[keep], lev[keep]
        n, p = wilcoxon_p(ref, lev)
        d = lev - ref
        finite = np.isfinite(d)
        ratio = [math.nan] * 3
        if finite.any():
            ratio = bootstrap_ci(d[finite], np.median, n_boot=N_BOOT)
        moved = d[finite & (d != 0.0)]  # the pairs that differ, by how much
        tiny = False
        if moved.size:
            _, lo, hi = bootstrap_ci(moved, np.median, n_boot=N_BOOT)
            tiny = -math.log10(NEGLIGIBLE) <= lo and hi <= math.log10(NEGLIGIBLE)
        r_ci = bootstrap_ci(np.arange(len(ref)), functools.partial(_rb_stat, ref, lev), n_boot=N_BOOT)
        out.contrasts.append(Contrast(
            cls, split, _level_text(question.levels[level]), int(steps[c]), int(keep.sum()), n,
            10.0 ** ratio[0], (10.0 ** ratio[1], 10.0 ** ratio[2]), rank_biserial(ref, lev),
            (r_ci[1], r_ci[2]), p, tiny=tiny))
    adjusted = holm([c.p for c in out.contrasts])
    m = len(out.contrasts)
    for c, ph in zip(out.contrasts, adjusted):
        c.p_holm = float(ph)
        if c.n == 0:
            c.verdict = "tied"
        elif ph < alpha and c.tiny:
            c.verdict = f"negligible (within {100 * (NEGLIGIBLE - 1):.0f}%)"
        elif ph < alpha:
            c.verdict = "larger gap" if c.effect > 0 else "smaller gap"
        elif m * 2.0 ** (1 - c.n) < alpha:  # the smallest p of n pairs, Holm-adjusted
            c.verdict = "not distinguishable"
        else:
            c.verdict = "too few pairs"
    return out


def answers(results, questions=None, alpha: float = ALPHA) -> list[Answer]:
    """Answers to ``questions`` (default: those the run recorded, ``Results.questions``)."""
    qs = parse_questions(results.questions if questions is None else list(questions))
    score = _score_traces(results) if qs else None  # one pass over the run's traces
    return [answer(results, q, alpha, score) for q in qs]


def answer_lines(ans: list, max_lines: int = 60) -> list:
    """The answers as plain text (the report's "Questions" section, ``questions.txt``)."""
    lines = []
    for a in ans:
        q = a.question
        lines.append(f"Q: {q.ask} ({q.optimizer}, {q.factor}: each level against "
                     f"{a.reference}, matched on everything else; Holm alpha = {ALPHA:g})")
        lines += [f"    {note}" for note in a.notes]
        for c in a.contrasts:
            where = c.problem_class + (f", {c.split}" if c.split else "")
            lines.append(f"  * {where}, step {c.step}: {q.factor}={c.level} -> {c.verdict} "
                         f"(gap ratio {_fmt(c.ratio)} [{_fmt(c.ratio_ci[0])}, "
                         f"{_fmt(c.ratio_ci[1])}], r = {c.effect:+.2f} [{c.effect_ci[0]:+.2f}, "
                         f"{c.effect_ci[1]:+.2f}], p_holm {_fmt(c.p_holm)}, {c.n} of "
                         f"{c.blocks} pairs differ)")
    if len(lines) > max_lines:
        more = len(lines) - max_lines + 1
        lines = [*lines[:max_lines - 1], f"  ... ({more} more lines in tables/questions.csv)"]
    return lines


__all__ = ["Answer", "Contrast", "Question", "answer", "answer_lines", "answers",
           "check_against", "parse_questions"]
