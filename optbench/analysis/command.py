"""``optbench analyze RUN_DIR``: rates, theory checks, targets and statistics of a stored run.

Prints a table on the terminal and writes ``analysis.json`` and one CSV per table into
``RUN_DIR/analysis/`` (or ``--json FILE`` / ``--csv DIR``). The run's own files (manifest,
trials table, shards) are never written.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", help="a run directory written by `optbench run`")
    parser.add_argument("--metric", choices=("suboptimality", "loss", "dist_to_opt", "grad_norm"),
                        help="error metric (default: suboptimality where f* is known, else loss)")
    parser.add_argument("--eps", type=float, nargs="+", default=[1e-2, 1e-4, 1e-6],
                        help="targets f - f* <= eps (relative targets where f* is unknown)")
    parser.add_argument("--tau", type=float, default=1e-3,
                        help="tolerance of the More-Wild convergence test for the profiles")
    parser.add_argument("--json", metavar="FILE",
                        help="JSON output (default: RUN_DIR/analysis/analysis.json)")
    parser.add_argument("--csv", metavar="DIR",
                        help="directory for the CSV tables (default: RUN_DIR/analysis)")
    parser.add_argument("--no-files", action="store_true", help="print only, write nothing")
    parser.add_argument("--quiet", action="store_true", help="write files, print nothing")


def _protected(run_dir: Path) -> list[Path]:
    from ..store import MANIFEST

    return [(run_dir / MANIFEST).resolve(), (run_dir / "trials.csv").resolve(),
            (run_dir / "shards").resolve()]


def _check_target(path: Path, run_dir: Path, what: str) -> Path:
    rp = path.resolve()
    for p in _protected(run_dir):
        if rp == p or p in rp.parents:
            raise ValueError(f"{what} {path} would overwrite the run's own file {p.name}; "
                             "choose another path")
    return path


def _fmt(v, width=10):
    if isinstance(v, float):
        if math.isnan(v):
            return "-".rjust(width)
        return f"{v:>{width}.4g}"
    return str(v)


def _cut(text, n):
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "~"


def format_tables(analysis: dict) -> str:
    """The terminal view: rates per configuration and the theory checks."""
    lines = [f"metric: {analysis['metric']}", "",
             f"{'problem':<24} {'optimizer':<30} {'schedule':<18} {'class':<11} "
             f"{'rate/step':>10} {'dec/100':>7} {'order':>7} {'final med':>10} {'div':>5}"]
    final = {(r["problem"], r["optimizer"], r["schedule"]): r for r in
             analysis["final"].to_dict("records")}
    for r in analysis["rates"].to_dict("records"):
        f = final.get((r["problem"], r["optimizer"], r["schedule"]), {})
        lines.append(f"{_cut(r['problem'], 24):<24} {_cut(r['optimizer'], 30):<30} "
                     f"{_cut(r['schedule'], 18):<18} {r['class']:<11} {_fmt(r['rate'])} "
                     f"{_fmt(r['decades_per_100'], 7)} {_fmt(r['order'], 7)} {_fmt(f.get('median', float('nan')))} "
                     f"{int(r['diverged']):>2}/{int(r['n_seeds']):<2}")
    rows = analysis["theory"].to_dict("records")
    n = {s: sum(r["status"] == s for r in rows)
         for s in ("pass", "fail", "inconclusive", "no bound")}
    lines += ["", "theory checks (configurations a known bound applies to; the others, and why "
              "they have none, are in the JSON/CSV output):",
              f"{'problem':<24} {'optimizer':<30} {'check':<40} {'measured':>11} {'bound':>11}"
              "  status"]
    for r in rows:
        if r["status"] != "no bound":
            lines.append(f"{_cut(r['problem'], 24):<24} {_cut(r['optimizer'], 30):<30} "
                         f"{_cut(r['check'], 40):<40} {_fmt(r['measured'], 11)} "
                         f"{_fmt(r['bound'], 11)}  {r['status']}")
    lines.append(f"{n['pass']} pass, {n['fail']} fail, {n['inconclusive']} inconclusive, "
                 f"{n['no bound']} without a bound")
    if analysis.get("findings") is not None:
        from .findings import summary_lines

        lines += [""] + summary_lines(analysis["findings"])
    return "\n".join(lines)


def run_command(args) -> int:
    import pandas as pd

    from ..results import to_csv
    from ..store import load
    from .summary import analyze, to_json

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir}: no such run directory")
    results = load(run_dir)  # ValueError with one line when unreadable or incomplete
    for name, v in (("--tau", args.tau),):
        if not (0.0 < v < 1.0):
            raise ValueError(f"{name} must be in (0, 1), got {v}")
    if any(not (e > 0) for e in args.eps):
        raise ValueError(f"--eps values must be > 0, got {args.eps}")
    try:
        analysis = analyze(results, metric=args.metric, eps=tuple(args.eps), tau=args.tau)
    except KeyError as exc:
        raise ValueError(f"{run_dir}: {exc.args[0]}") from None
    if not args.quiet:
        print(format_tables(analysis))
    if args.no_files:
        return 0
    default_dir = run_dir / "analysis"
    json_path = _check_target(Path(args.json) if args.json else default_dir / "analysis.json",
                              run_dir, "--json")
    csv_dir = _check_target(Path(args.csv) if args.csv else default_dir, run_dir, "--csv")
    csv_dir.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in analysis.items():
        if isinstance(table, pd.DataFrame):
            path = csv_dir / f"{name}.csv"
            _check_target(path, run_dir, "--csv")
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            to_csv(table, tmp)
            os.replace(tmp, path)
            written.append(path)
    doc = {"run": str(run_dir), "config_hash": results.manifest.get("config_hash"),
           **to_json(analysis)}
    tmp = json_path.with_name(f".{json_path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, json_path)
    written.append(json_path)
    if not args.quiet:
        print(f"\nwrote {json_path} and {len(written) - 1} CSV tables in {csv_dir}")
    return 0
