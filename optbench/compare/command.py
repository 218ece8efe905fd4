"""``optbench compare BASELINE_RUN NEW_RUN``: regression verdict and exit code.

Exit status: 0 no regression, 1 regression, 2 bad input (a missing or unreadable run, runs of
different suites, out-of-range options), with one line on stderr.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .core import Thresholds

EXIT_OK, EXIT_REGRESSION, EXIT_BAD_INPUT = 0, 1, 2

_OPTIONS = (  # (flag, Thresholds field, help)
    ("--alpha", "alpha", "significance level of the one-sided tests"),
    ("--final-factor", "final_factor", "final suboptimality: flag when worse by this factor"),
    ("--final-rel-loss", "final_rel_loss",
     "final loss (where f* is unknown): flag when worse by this fraction"),
    ("--steps-factor", "steps_factor", "steps to target: flag when this factor more steps"),
    ("--divergence", "divergence", "divergence rate: flag when higher by this much (0..1)"),
    ("--rate-rel", "rate_rel", "fitted rate: flag when slower by this fraction"),
    ("--speed-tolerance", "speed_tolerance",
     "speed: flag when the normalised kernel time grows by more than this fraction"),
    ("--floor", "floor", "suboptimalities below this count as converged"),
    ("--rel-target", "rel_target",
     "target for steps-to-target, relative to the initial suboptimality (runs without target)"),
    ("--rate-min", "rate_min", "do not judge rates of baselines slower than this "
     "(decades per 100 steps)"),
)


def add_arguments(parser) -> None:
    parser.description = ("Compare a new run with a baseline run of the same suite. Metrics are "
                          "compared over seeds per (problem, optimizer, schedule): a regression "
                          "needs a one-sided test at --alpha and a change beyond the metric's "
                          "threshold. Exit 0: none, 1: regression, 2: bad input.")
    parser.add_argument("baseline", help="baseline run directory (e.g. reports/baseline)")
    parser.add_argument("new", help="new run directory")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                        help="what to print on stdout (default text)")
    parser.add_argument("--json", metavar="FILE", help="also write the JSON result to FILE")
    parser.add_argument("--markdown", metavar="FILE",
                        help="also write a Markdown summary (for a pull-request comment) to FILE")
    parser.add_argument("--table", action="store_true",
                        help="text format: also print the per-configuration table")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed comparison")
    defaults = Thresholds()
    for flag, name, text in _OPTIONS:
        parser.add_argument(flag, dest=f"th_{name}", type=float, default=getattr(defaults, name),
                            metavar="X", help=f"{text} (default {getattr(defaults, name):g})")


def run_command(args) -> int:
    from .baseline import load_run
    from .core import compare_runs

    thresholds = Thresholds(**{name: getattr(args, f"th_{name}") for _, name, _ in _OPTIONS})
    thresholds.validate()
    for flag in ("json", "markdown"):
        target = getattr(args, flag)
        if target and not Path(target).parent.exists():
            raise ValueError(f"compare: --{flag}: directory {str(Path(target).parent)!r} "
                             "does not exist")
    base = load_run(args.baseline)
    new = load_run(args.new)
    cmp = compare_runs(base, new, thresholds, speed=not args.no_speed)
    as_json = json.dumps(cmp.to_dict(), indent=2) + "\n"
    if args.json:
        Path(args.json).write_text(as_json, encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(cmp.to_markdown(), encoding="utf-8")
    out = {"text": lambda: cmp.to_text(args.table) + "\n", "json": lambda: as_json,
           "markdown": cmp.to_markdown}[args.format]()
    sys.stdout.write(out)
    return cmp.exit_code
