"""The ``optbench`` command line: the same engine as the Python API.

    optbench run SUITE.toml [--out DIR] [--resume | --overwrite] [--force] [--threads N]
                            [--backend cpu|cuda|auto] [--cuda-mode auto|thread|block]
                            [--dask ADDRESS|local:N]
    optbench list [optimizers|schedules|problems]
    optbench cache info|clear

Bad input (unknown names, wrong types, out-of-range values, unreadable files) ends with one
line on stderr naming the offending key or value, and exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
import textwrap
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1  # a run whose shards could not all be computed (the rest is stored)

#: subcommands implemented in their own packages: each module has
#: ``add_arguments(parser)`` and ``run_command(args) -> int``
COMMAND_MODULES = {
    "analyze": ("optbench.analysis.command", "analyse a stored run: rates, theory checks, profiles"),
    "report": ("optbench.report.command", "build the report (HTML, Markdown, figures, tables) of a run"),
    "compare": ("optbench.compare.command", "compare two runs: regression verdict and exit code"),
}


def _command_modules(names=None) -> dict:
    """The subcommand modules of ``names`` (default: all) that are installed; imported only
    when needed, so that ``optbench run`` does not pay for scipy.stats and matplotlib."""
    modules = {}
    for name, (path, _) in COMMAND_MODULES.items():
        if names is not None and name not in names:
            continue
        try:
            modules[name] = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if not path.startswith(exc.name or "?"):
                raise
    return modules


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage too)
        self.exit(EXIT_BAD_INPUT, f"optbench: error: {message}\n")


def build_parser(argv=None) -> argparse.ArgumentParser:
    """The parser; the arguments of analyze/report/compare are added only when ``argv``
    names that command or none (their modules are heavy to import)."""
    parser = _Parser(prog="optbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("run", help="run a suite file and store the results")
    p.add_argument("suite", help="suite file (TOML), e.g. problems/smoke.toml")
    p.add_argument("--out", help="run directory (default: runs/<suite name>)")
    p.add_argument("--resume", action="store_true", help="complete an interrupted run in --out")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a previous run in --out (only one optbench made, after the "
                        "new suite is validated)")
    p.add_argument("--force", action="store_true",
                   help="run even when the estimated disk size or memory exceeds what is free")
    p.add_argument("--threads", type=int,
                   help="CPU threads (default: all cores; with --dask: per worker, default its "
                        "host's cores shared among the workers there)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run the shards on a Dask cluster: a scheduler (tcp://host:8786) or "
                        "local:N (N single-threaded worker processes here, for this run)")
    p.add_argument("--backend", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--cuda-mode", default="auto", choices=("auto", "thread", "block"),
                   help="CUDA kernel: a thread per trajectory, a thread block per trajectory, "
                        "or by problem dimension (auto)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    p.add_argument("--calibrate", action="store_true",
                   help="also time a fixed reference kernel in this process and record the "
                        "machine's fingerprint (for the speed check of `optbench compare`, "
                        "made only between equal fingerprints)")

    p = sub.add_parser("cache", help="the compiled-kernel cache: its size, or clear it")
    p.add_argument("action", choices=("info", "clear"))

    p = sub.add_parser("list", help="list registered optimizers, schedules and problems, or "
                                    "show one (optbench list Adam)")
    p.add_argument("what", nargs="?",
                   help="optimizers, schedules or problems (one family), or a class name")

    words = sys.argv[1:] if argv is None else list(argv)
    named = [w for w in words if w in COMMAND_MODULES or w in ("run", "list", "cache")][:1]
    loaded = _command_modules(None if not named else named)
    for name in COMMAND_MODULES:
        p = sub.add_parser(name, help=COMMAND_MODULES[name][1])
        if name in loaded:
            loaded[name].add_arguments(p)
    return parser


def main(argv=None) -> int:
    hook, sys.unraisablehook = sys.unraisablehook, _interrupt_later
    try:
        return _main(argv)
    except KeyboardInterrupt:  # also during start-up (imports, compiling): no traceback
        print("optbench: interrupted; finished shards are kept (use --resume)", file=sys.stderr)
        return 130
    finally:
        sys.unraisablehook = hook
        while _PENDING:
            _PENDING.pop().cancel()


_PENDING: list = []  # timers that raise an interrupt again (see _interrupt_later)


def _interrupt_later(unraisable) -> None:
    """A Ctrl-C that lands in a callback (numba's compiler calls Python through ctypes) is
    not printed there with a traceback but raised again in the main code."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        import _thread
        import threading

        timer = threading.Timer(0.05, _thread.interrupt_main)  # once this hook has returned
        timer.daemon = True
        _PENDING.append(timer)
        timer.start()
    else:
        sys.__unraisablehook__(unraisable)


def _main(argv) -> int:
    args = build_parser(argv).parse_args(argv)
    if args.version:
        from . import __version__

        print(f"optbench {__version__}")
        return 0
    if args.command is None:
        build_parser().print_help()
        return EXIT_BAD_INPUT
    try:
        if args.command in ("run", "list", "cache"):
            return {"run": cmd_run, "list": cmd_list, "cache": cmd_cache}[args.command](args)
        return _command_modules([args.command])[args.command].run_command(args)
    except (ValueError, OSError) as exc:
        print(f"optbench: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def cmd_run(args) -> int:
    from .api import RunIncomplete, run
    from .paths import safe_name
    from .suite import read_suite

    kwargs = read_suite(args.suite)
    out = Path(args.out) if args.out else Path("runs") / safe_name(kwargs["name"], "suite name")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    if args.overwrite and args.resume:
        raise ValueError("--overwrite and --resume exclude each other")
    client = None
    if args.dask:
        from .distributed import connect

        client = connect(args.dask)
    try:
        results = run(**kwargs, out=out, resume=args.resume, overwrite=args.overwrite,
                      force=args.force, backend=args.backend,
                      cuda_mode=args.cuda_mode, threads=args.threads,
                      progress=False if args.quiet else None, calibrate=args.calibrate,
                      client=client)
    except RunIncomplete as exc:
        print(f"optbench: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if client is not None:
            from .distributed import close

            close(client)
    if not args.quiet:
        print(summary(results))
        t = results.manifest["timings"]
        if client is None:
            jit = (f"jit {'cache load' if t['warm_up']['cache_hit'] else 'compile'} "
                   f"{t['warm_up']['jit_seconds']:.2f} s")
        else:
            n = len(t["compile_seconds"])
            jit = (f"shards on {n} Dask worker{'s' if n != 1 else ''}, "
                   f"{t['total_seconds']:.2f} s of wall time")
        print(f"\n{len(results)} trajectories x {results.plan.steps} steps in "
              f"{t['kernel_seconds']:.2f} s of kernel time ({jit}); results in {out}")
    return 0


def summary(results, max_rows: int = 40) -> str:
    """Median final suboptimality (or loss) and divergences per configuration; past
    ``max_rows`` configurations, one line per problem (its best median and divergences):
    the report's findings are the place for the rest."""
    tr = results.trials
    value = tr["final_suboptimality"].clip(lower=0.0)  # f - f* < 0: round-off below f*, 0
    value = value.fillna(tr["final_loss"])  # f* unknown: the loss
    per_config = (value.to_frame("value").assign(diverged=tr["status"] == "diverged")
                  .groupby([tr["problem"], tr["optimizer"], tr["schedule"]], sort=False)
                  .agg(median=("value", lambda v: v.median(skipna=False)),
                       diverged=("diverged", "sum"), n=("value", "size")))
    if len(per_config) > max_rows:
        by_problem = per_config.groupby(level=0, sort=False).agg(
            configurations=("n", "size"), best=("median", "min"), diverged=("diverged", "sum"),
            n=("n", "sum"))
        lines = [f"{'problem':<40} {'configurations':>14} {'best median final':>18} "
                 f"{'diverged':>13}"]
        for r in by_problem.itertuples():
            lines.append(f"{_cut(r.Index, 40):<40} {r.configurations:>14} {r.best:>18.4g} "
                         f"{r.diverged:>6}/{r.n:<6}")
        return "\n".join(lines)
    lines = [f"{'problem':<28} {'optimizer':<34} {'schedule':<26} {'median final':>13} {'diverged':>9}"]
    for r in per_config.itertuples():
        problem, optimizer, schedule = r.Index
        lines.append(f"{_cut(problem, 28):<28} {_cut(optimizer, 34):<34} {_cut(schedule, 26):<26} "
                     f"{r.median:>13.4g} {r.diverged:>4}/{r.n:<4}")
    return "\n".join(lines)


def _cut(text, n):
    return text if len(text) <= n else text[: n - 1] + "~"


def cmd_cache(args) -> int:
    from . import codegen

    info = codegen.cache_clear() if args.action == "clear" else codegen.cache_info()
    verb = "cleared" if args.action == "clear" else "cache"
    print(f"{verb}: {info['path']}\nkernels: {info['kernels']}\nfiles: {info['files']}\n"
          f"size: {info['bytes'] / 2**20:.1f} MiB")
    return 0


def cmd_list(args) -> int:
    """The registered classes with their signatures and first sentences, one family or all;
    ``optbench list NAME``: that class's signature and whole docstring (formula, reference)."""
    from . import optimizers, problems, schedules
    from .spec import suggest

    families = {"optimizers": optimizers.REGISTRY, "schedules": schedules.REGISTRY,
                "problems": problems.REGISTRY}
    classes = {name: cls for registry in families.values() for name, cls in registry.items()}
    if args.what in classes:
        cls = classes[args.what]
        print(f"{args.what}{_signature(cls)}\n\n{inspect.cleandoc(cls.__doc__ or '')}")
        return 0
    if args.what and args.what not in families:
        raise ValueError(f"list: {args.what!r} is neither optimizers, schedules, problems nor a "
                         f"class name{suggest(args.what, [*families, *classes])}")
    for family, registry in families.items():
        if args.what and args.what != family:
            continue
        print(f"{family}:")
        for name, cls in registry.items():
            print(f"  {name}{_signature(cls)}")
            sentence = first_sentence(cls.__doc__ or "")
            if sentence:
                print(textwrap.fill(sentence, 96, initial_indent=" " * 6,
                                    subsequent_indent=" " * 6))
        print()
    return 0


def _signature(cls) -> str:
    """``(name=default, ...)`` of a spec class's constructor."""
    params = [name if p.default is inspect.Parameter.empty else f"{name}={p.default!r}"
              for name, p in inspect.signature(cls.__init__).parameters.items() if name != "self"]
    return f"({', '.join(params)})"


def first_sentence(doc: str) -> str:
    """The docstring's first sentence, whole (up to the first period that ends a sentence,
    or the first paragraph)."""
    paragraph = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())
    match = re.search(r"^(.+?[.!?])(\s|$)", paragraph)
    return match.group(1) if match else paragraph


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
