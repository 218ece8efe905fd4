"""Compare two runs: per-configuration verdicts on convergence, a run-level speed verdict.

    cmp = compare_runs(optbench.load("reports/baseline"), optbench.load("runs/new"))
    cmp.regressed, cmp.exit_code, cmp.to_text(), cmp.to_markdown(), cmp.to_dict()

Configurations are matched by their full specs (problem, optimizer, schedule), seeds within a
configuration form the samples. Runs must come from the same suite: same name, number of
steps, dtype, target and blow-up rule; the recording settings and the seeds may differ.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from . import machine, stats
from .metrics import common_steps, config_key, configuration_rate, trial_metrics

#: the configuration fields two runs must share to be comparable
SUITE_FIELDS = ("name", "steps", "dtype", "target", "blowup")

METRICS = ("final", "steps", "diverged", "rate")
METRIC_TITLES = {"final": "final subopt.", "steps": "steps to target", "diverged": "diverged",
                 "rate": "fitted rate"}


@dataclass
class Thresholds:
    """Significance level and practical-size thresholds (all configurable on the CLI)."""

    alpha: float = 0.01            # one-sided test level, per metric and configuration
    final_factor: float = 2.0      # final suboptimality: worse by at least this factor
    final_rel_loss: float = 0.1    # final loss (f* unknown): worse by this fraction of |median|
    steps_factor: float = 1.25     # steps to target: at least this factor more steps
    divergence: float = 0.25       # divergence rate: at least this much higher (absolute)
    rate_rel: float = 0.25         # fitted rate: slower by this fraction of the baseline's rate
    speed_tolerance: float = 0.3   # normalised kernel time: at most this fraction slower
    floor: float = 1e-12           # suboptimalities below this count as converged (equal)
    rel_target: float = 1e-3       # steps-to-target target, relative to the initial subopt.
    rate_min: float = 0.05         # decades per 100 steps: slower baseline rates are not judged

    def validate(self) -> "Thresholds":
        def check(name, lo, hi=math.inf, lo_open=True):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or math.isnan(v) or v > hi or v < lo or \
                    (lo_open and v == lo):
                raise ValueError(f"compare: {name.replace('_', '-')} must be in "
                                 f"{'(' if lo_open else '['}{lo}, {hi}], got {v!r}")
        check("alpha", 0.0, 1.0)
        check("final_factor", 1.0, lo_open=False)
        check("final_rel_loss", 0.0, lo_open=False)
        check("steps_factor", 1.0, lo_open=False)
        check("divergence", 0.0, 1.0, lo_open=False)
        check("rate_rel", 0.0, lo_open=False)
        check("speed_tolerance", 0.0, lo_open=False)
        check("floor", 0.0)
        check("rel_target", 0.0, 1.0)
        check("rate_min", 0.0, lo_open=False)
        return self


@dataclass
class MetricResult:
    metric: str
    verdict: str                 # ok | regression | improvement | n/a
    base_median: float = math.nan
    new_median: float = math.nan
    effect: float = math.nan     # on the metric's test scale, positive = worse
    threshold: float = math.nan
    p_value: float = math.nan
    n_base: int = 0
    n_new: int = 0
    note: str = ""


@dataclass
class ConfigResult:
    problem: str
    optimizer: str
    schedule: str
    verdict: str                 # ok | regression | improvement | missing | added
    metrics: dict = field(default_factory=dict)
    #: for verdict ok: "bitwise equal" (same seeds, identical per-seed values) or
    #: "statistically equal" (the values differ, no significant and practical change)
    equality: str = ""


@dataclass
class Comparison:
    baseline: dict
    new: dict
    thresholds: Thresholds
    configs: list
    speed: dict
    notes: list
    final_kind: str = "log10_suboptimality"   # or "loss" where f* is unknown
    steps: int = 0                             # the runs' length

    @property
    def regressed_configs(self) -> list:
        return [c for c in self.configs if c.verdict in ("regression", "missing")]

    @property
    def regressed(self) -> bool:
        return bool(self.regressed_configs) or self.speed.get("verdict") == "regression"

    @property
    def exit_code(self) -> int:
        return 1 if self.regressed else 0

    def to_dict(self) -> dict:
        return {
            "verdict": "regression" if self.regressed else "ok",
            "exit_code": self.exit_code,
            "baseline": self.baseline,
            "new": self.new,
            "thresholds": asdict(self.thresholds),
            "summary": self.summary(),
            "configurations": [_clean(asdict(c)) for c in self.configs],
            "speed": _clean(self.speed),
            "notes": list(self.notes),
            "final_metric": self.final_kind,
        }

    def summary(self) -> dict:
        counts: dict = {}
        for c in self.configs:
            counts[c.verdict] = counts.get(c.verdict, 0) + 1
            if c.equality:
                counts[c.equality] = counts.get(c.equality, 0) + 1
        return {"configurations": len(self.configs), **counts,
                "speed": self.speed.get("verdict", "n/a")}

    def to_text(self, table: bool = False) -> str:
        from .render import text

        return text(self, table)

    def to_markdown(self) -> str:
        from .render import markdown

        return markdown(self)


def _clean(obj):
    """JSON-safe: NaN and infinities become None."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def run_info(results) -> dict:
    m = results.manifest or {}
    prov = m.get("provenance", {})
    return {"path": str(results.path) if results.path is not None else None,
            "name": results.plan.name, "config_hash": m.get("config_hash"),
            "trials": len(results), "seeds": list(results.plan.seeds),
            "git_commit": prov.get("git_commit"), "created": m.get("created"),
            "cpu": prov.get("cpu"), "threads": prov.get("threads")}


def check_same_suite(base, new) -> list:
    """Raise ValueError when the runs are not comparable; return notes on lesser differences."""
    a, b = base.plan.config(), new.plan.config()
    for key in SUITE_FIELDS:
        if a[key] != b[key]:
            raise ValueError(f"compare: the runs are of different suites ({key}: "
                             f"{a[key]!r} in the baseline, {b[key]!r} in the new run)")
    notes = []
    if a["seeds"] != b["seeds"]:
        notes.append(f"seeds differ (baseline {_short(a['seeds'])}, new {_short(b['seeds'])}): "
                     "the samples come from different start points / noise streams")
    return notes


def _short(seeds):
    return f"{seeds[0]}..{seeds[-1]} ({len(seeds)})" if len(seeds) > 4 else str(seeds)


def compare_runs(base, new, thresholds: Thresholds | None = None, speed: bool = True) -> Comparison:
    th = (thresholds or Thresholds()).validate()
    notes = check_same_suite(base, new)
    steps, ia, ib = common_steps(base, new)
    mb = trial_metrics(base, ia, steps, floor=th.floor, rel_target=th.rel_target)
    mn = trial_metrics(new, ib, steps, floor=th.floor, rel_target=th.rel_target)
    if mb["final_kind"] != mn["final_kind"]:
        raise ValueError("compare: one run records the suboptimality and the other does not")
    groups_b = _groups(base)
    groups_n = _groups(new)
    if not set(groups_b) & set(groups_n):
        raise ValueError("compare: the runs have no configuration (problem, optimizer, "
                         "schedule) in common")
    small = {(len(groups_b[k][1]), len(groups_n[k][1])) for k in groups_b if k in groups_n}
    worst = max(stats.min_attainable_p(nn, nb) for nb, nn in small)
    if not stats.significant(worst, th.alpha):
        notes.append(f"too few seeds for the rank test to reach alpha={th.alpha:g} in some "
                     f"configurations (smallest attainable p = {worst:.3g}); their convergence "
                     "metrics cannot be flagged: run more seeds (>= 5 for alpha=0.01)")
    configs = []
    for key in list(groups_b) + [k for k in groups_n if k not in groups_b]:
        labels = (groups_b.get(key) or groups_n.get(key))[0]
        if key not in groups_n:
            configs.append(ConfigResult(*labels, verdict="missing"))
            continue
        if key not in groups_b:
            configs.append(ConfigResult(*labels, verdict="added"))
            continue
        rb, rn = groups_b[key][1], groups_n[key][1]
        metrics = {name: _compare_metric(name, mb, mn, rb, rn, th) for name in METRICS}
        verdicts = {m.verdict for m in metrics.values()}
        verdict = ("regression" if "regression" in verdicts else
                   "improvement" if "improvement" in verdicts else "ok")
        equality = ("" if verdict != "ok" else "bitwise equal"
                    if _bitwise_equal(base, new, mb, mn, rb, rn) else "statistically equal")
        configs.append(ConfigResult(*labels, verdict=verdict, metrics=metrics, equality=equality))
    if any(c.verdict == "missing" for c in configs):
        notes.append("configurations of the baseline are missing from the new run (a smaller "
                     "grid); refresh the baseline if that is intended")
    if any(c.verdict == "added" for c in configs):
        notes.append("the new run has configurations without a baseline (not compared)")
    speed_result = compare_speed(base, new, th) if speed else {"verdict": "n/a",
                                                               "note": "speed check disabled"}
    return Comparison(baseline=run_info(base), new=run_info(new), thresholds=th, configs=configs,
                      speed=speed_result, notes=notes, final_kind=mb["final_kind"],
                      steps=base.plan.steps)


def _groups(results) -> dict:
    """config key -> ((problem, optimizer, schedule) labels, row indices), in plan order."""
    problem, optimizer, schedule = (np.asarray(results.trials[c])
                                    for c in ("problem", "optimizer", "schedule"))
    out: dict = {}
    for i, trial in enumerate(results.plan.trials):
        key = config_key(results.plan, trial)
        if key not in out:
            out[key] = ((str(problem[i]), str(optimizer[i]), str(schedule[i])), [])
        out[key][1].append(i)
    return {k: (labels, np.array(rows)) for k, (labels, rows) in out.items()}


def _bitwise_equal(base, new, mb, mn, rb, rn) -> bool:
    """Same seeds in the same order and identical per-seed results: the final values and
    status columns of the trials table and every metric (NaN equal to NaN)."""
    if not np.array_equal(base.trials["seed"][rb], new.trials["seed"][rn]):
        return False
    columns = [c for c in base.trials.columns
               if (c.startswith("final_") or c in ("status", "status_step")) and c in new.trials.columns]
    pairs = [(np.asarray(base.trials[c])[rb], np.asarray(new.trials[c])[rn]) for c in columns]
    pairs += [(mb[name][rb], mn[name][rn]) for name in METRICS]
    return all(np.array_equal(a, b, equal_nan=a.dtype.kind == "f") for a, b in pairs)


def _compare_metric(name, mb, mn, rb, rn, th: Thresholds) -> MetricResult:
    b, n = mb[name][rb], mn[name][rn]
    if name == "diverged":
        kb, kn = int(b.sum()), int(n.sum())
        res = MetricResult(name, "ok", kb / b.size, kn / n.size, kn / n.size - kb / b.size,
                           th.divergence, n_base=b.size, n_new=n.size)
        res.p_value = stats.fisher_worse(kn, n.size, kb, b.size)
        p_better = stats.fisher_worse(kb, b.size, kn, n.size)
        return _decide(res, th.alpha, p_better, -res.effect)
    b, n = b[~np.isnan(b)], n[~np.isnan(n)]
    res = MetricResult(name, "n/a", n_base=b.size, n_new=n.size)
    if b.size == 0 or n.size == 0:
        res.note = "not measurable in both runs"
        return res
    res.base_median, res.new_median = float(np.median(b)), float(np.median(n))
    if name == "final" and mb["final_kind"] == "loss":
        b, n = np.nan_to_num(b, posinf=1e300), np.nan_to_num(n, posinf=1e300)
        res.threshold = th.final_rel_loss * max(abs(res.base_median), 1e-300)
    elif name == "final":
        res.threshold = math.log10(th.final_factor)
        if res.base_median <= math.log10(th.floor) and res.new_median <= math.log10(th.floor):
            res.verdict, res.note = "ok", "both converged below the floor"
            res.effect, res.p_value = 0.0, 1.0
            return res
    elif name == "steps":
        res.threshold = math.log10(th.steps_factor)
    elif name == "rate":  # shown as analyze shows it: the rate of the median over seeds
        res.base_median = configuration_rate(mb, rb)
        res.new_median = configuration_rate(mn, rn)
        if not -res.base_median >= th.rate_min:
            res.note = "baseline does not converge linearly (rate below rate-min)"
            return res
        res.threshold = th.rate_rel * abs(res.base_median)
    res.effect = stats.hodges_lehmann(n, b)
    res.p_value = stats.mann_whitney_worse(n, b)
    res.verdict = "ok"
    return _decide(res, th.alpha, stats.mann_whitney_worse(b, n), -res.effect)


def _decide(res: MetricResult, alpha, p_better, effect_better) -> MetricResult:
    if stats.significant(res.p_value, alpha) and res.effect >= res.threshold and res.effect > 0:
        res.verdict = "regression"
    elif stats.significant(p_better, alpha) and effect_better >= res.threshold and effect_better > 0:
        res.verdict = "improvement"
    return res


def speed_figures(results) -> dict | None:
    t = (results.manifest or {}).get("timings", {})
    ref = t.get("reference_seconds")
    kernel = t.get("kernel_best_seconds", t.get("kernel_seconds"))
    if not ref or not kernel or t.get("shards_resumed"):
        return None
    return {"kernel_seconds": float(kernel), "reference_seconds": float(ref),
            "ratio": float(kernel) / float(ref),
            "reference_version": (t.get("reference_workload") or {}).get("version"),
            "machine": t.get("machine")}


def compare_speed(base, new, th: Thresholds) -> dict:
    """Kernel time normalised by the reference workload timed in the same process; judged only
    when both runs come from machines with equal fingerprints (``machine.py``)."""
    fb, fn = speed_figures(base), speed_figures(new)
    if fb is None or fn is None:
        which = " and ".join(w for w, f in (("baseline", fb), ("new run", fn)) if f is None)
        return {"verdict": "n/a", "note": f"skipped: no calibrated timings in the {which} "
                "(make it with `optbench run --calibrate`; resumed runs have none)"}
    if fb["reference_version"] != fn["reference_version"]:
        return {"verdict": "n/a", "baseline": fb, "new": fn,
                "note": "skipped: the runs were calibrated with different reference workloads"}
    differ = machine.differences(fb["machine"], fn["machine"])
    if differ:
        return {"verdict": "not comparable", "baseline": fb, "new": fn, "differ": differ,
                "note": f"not comparable: baseline from {machine.describe(fb['machine'])}, this "
                        f"run on {machine.describe(fn['machine'])} (differ: {', '.join(differ)});"
                        " compare speed on one machine with the paired check "
                        "(`make regress-speed`)"}
    change = fn["ratio"] / fb["ratio"] - 1.0
    verdict = ("regression" if change > th.speed_tolerance else
               "improvement" if change < -th.speed_tolerance / (1 + th.speed_tolerance) else "ok")
    return {"verdict": verdict, "baseline": fb, "new": fn, "change": change,
            "tolerance": th.speed_tolerance}
