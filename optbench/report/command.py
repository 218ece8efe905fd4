"""``optbench report RUN_DIR [--out DIR]``: build the report of a stored run (no kernels run)."""
from __future__ import annotations

import sys
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", help="a stored run directory (written by `optbench run`)")
    parser.add_argument("--out", help="report directory (default: reports/<run name>, "
                        "or <run name>-2, ... if that holds another run's report)")
    parser.add_argument("--quiet", action="store_true", help="no progress line, no summary")


def run_command(args) -> int:
    from ..store import load
    from .build import build_report

    run_dir = Path(args.run_dir)
    if not run_dir.exists():
        raise ValueError(f"run directory {run_dir} does not exist")
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir} is not a run directory")
    results = load(run_dir)
    if "loss" not in results.recorded:
        raise ValueError(f"{run_dir} recorded {', '.join(results.recorded) or 'no trace'}; a "
                         "report needs the loss: run the suite again with 'loss' in record "
                         "(the default records loss, lr, grad_norm, suboptimality, dist_to_opt)")
    out = build_report(results, out=args.out, progress=False if args.quiet else None)
    if not args.quiet:
        for text in ("findings.txt", "questions.txt"):
            if (out / text).exists():
                print((out / text).read_text(encoding="utf-8").rstrip("\n"), file=sys.stdout)
        print(f"report written to {out / 'index.html'} (and report.md, figures/, tables/)",
              file=sys.stdout)
    return 0
