"""The trajectory loop a user's rule runs in, compiled in the background with the built-ins.

A user's rule (and only it) compiles when first run; the trajectory loop that runs it on the
built-in problems (``codegen``: the "cpu_loop" kernel over every built-in family, which takes
the rule's dispatch as first-class functions) holds no user code, so it is a built-in like
the built-in rules' kernel, compiled once per machine and dtype (about 12 s). When a process
has just compiled the built-in CPU kernel, which holds the problems' dispatch the loop
inlines (so the cache was cold), ``start`` launches ``python -m optbench.prebuild DTYPE``
to compile that loop and its driver from the disk cache the process filled, on a core the
compiling process leaves idle; the process then goes on with its run, and waits for the
build before it runs a rule's loop itself and before it exits (``wait``): no compile is
done twice and none outlives the process that started it. ``OPTBENCH_PREBUILD=0`` turns
this off.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

_BUILDS: dict = {}  # dtype -> the running build's process


def enabled() -> bool:
    """Whether ``start`` launches builds (``OPTBENCH_PREBUILD``, default on)."""
    return os.environ.get("OPTBENCH_PREBUILD", "1") != "0"


def start(dtype: str) -> None:
    """Build the rule loop over the built-in problems for ``dtype`` in a background process,
    once per process and dtype, into this process's kernel cache."""
    if not enabled() or dtype in _BUILDS:
        return
    from .kernels import cache_dir

    package_root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OPTBENCH_CACHE_DIR": str(cache_dir()), "PYTHONPATH": path}
    if not _BUILDS:
        atexit.register(wait)
    _BUILDS[dtype] = subprocess.Popen(
        [sys.executable, "-m", "optbench.prebuild", dtype], env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait() -> None:
    """Wait for the builds this process started (a failed one leaves the compile to the
    first run that needs the loop)."""
    while _BUILDS:
        _BUILDS.popitem()[1].wait()


def build(dtype: str) -> None:
    """Compile (or load) the rule loop over the built-in problems for ``dtype`` and the
    parallel driver's overload for it: for the argument types a plan of that dtype packs,
    and rules of the types ``engine.loop_signatures`` gives, so that a user's rule finds
    both in the cache."""
    from .codegen import builtin_problem_units, kernel_for
    from .engine import Packed, loop_signatures
    from .kernels.cpu import compile_loop
    from .optimizers import SGD
    from .plan import Plan
    from .problems import Quadratic

    plan = Plan(problems=[Quadratic(dim=1)], optimizers=[SGD(lr=0.1)], schedules=None,
                seeds=[0], steps=1, dtype=dtype)
    packed = Packed(plan, 0, plan.n_trials)
    loop = kernel_for((), "cpu_loop", builtin_problem_units())
    compile_loop(loop.cpu_block, np.arange(1), packed.kernel_args(), loop_signatures(packed))


if __name__ == "__main__":
    build(sys.argv[1])
