"""Built-in code compiled in background processes, on the core a compiling process leaves idle.

Compiling is single-threaded, and a cold cache has three large built-in pieces: the built-in
rules' CPU kernel (every built-in problem family and rule inlined into the trajectory loop),
the interpreter of the built-in schedules, and the trajectory loop a user's rule runs in on
the built-in problems (``codegen``: the "cpu_loop" kernel over every built-in family, which
takes the rule's dispatch as first-class functions: it holds no user code, so it is a
built-in too, compiled once per machine and dtype, about 12 s, after which a user's first
run compiles its rule alone). While ``engine.warm_up`` compiles the kernel, ``alongside``
hands parts of that work to ``python -m optbench.prebuild JOB``:

- ``schedules``, at once, when the plan has a built-in schedule and the interpreter is not
  in the cache; ``Schedule.tables`` waits for it;
- ``rules DTYPE``, at once, when the kernel is not in the cache: the built-in rules'
  dispatch (about 8 s), for the argument types the loop passes (``engine.loop_signatures``);
  the rules it compiles are cached on their own, so the kernel's compile, busy with the
  problems' dispatch first (about 11 s) and inlining that dispatch, then finds them there;
- ``loop DTYPE``, as soon as this process has compiled the built-in problems' dispatch for
  the plan's dtype (the loop inlines it: the build loads it from the cache, where numba saved
  it), unless the plan runs that loop itself; a rule's run (``engine.run_blocks``) waits for
  it.

A process waits for its builds before it exits (``wait``), so no compile is done twice,
none outlives the process that started it, and a build that fails leaves the compile to the
first run that needs it. ``OPTBENCH_PREBUILD=0`` turns this off.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from numba.core import event

_BUILDS: dict = {}  # (job, *arguments) -> the running build's process
#: the longest a process waits for a build (the longest takes about 14 s on a quiet core)
TIMEOUT_S = 600


def enabled() -> bool:
    """Whether ``start`` launches builds (``OPTBENCH_PREBUILD``, default on)."""
    return os.environ.get("OPTBENCH_PREBUILD", "1") != "0"


def start(*job: str) -> None:
    """Run ``python -m optbench.prebuild JOB...`` in the background, into this process's
    kernel cache, once per process and job."""
    if not enabled() or job in _BUILDS:
        return
    from .kernels import cache_dir

    package_root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OPTBENCH_CACHE_DIR": str(cache_dir()), "PYTHONPATH": path}
    _BUILDS[job] = subprocess.Popen(
        [sys.executable, "-m", "optbench.prebuild", *job], env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait(job: str | None = None) -> None:
    """Wait for the builds of ``job`` (default: all) this process started; one still
    running after ``TIMEOUT_S``, or when the wait is interrupted, is killed: no build
    outlives its caller."""
    for key in [key for key in _BUILDS if job in (None, key[0])]:
        process = _BUILDS.pop(key)
        try:
            process.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        finally:
            if process.poll() is None:
                process.kill()


@contextlib.contextmanager
def alongside(plan, kernels):
    """Within the context, while this process compiles ``kernels`` (``plan``'s CPU kernels),
    start the builds that ``plan`` makes worth having (see the module docstring)."""
    from .codegen import (builtin_problem_units, builtin_schedule_classes, in_disk_cache,
                          kernel_for, problem_hooks_called, schedule_module)
    from .spec import is_builtin

    if any(is_builtin(type(s)) for s in plan.schedules) and not in_disk_cache(
            schedule_module(builtin_schedule_classes()).fill_tables):
        start("schedules")
    builtin = builtin_problem_units()
    dtype = np.dtype(plan.dtype).name
    if any(not k.functions and k.problems == builtin and not in_disk_cache(k.loop.cpu_block)
           for k in kernels):
        start("rules", dtype)
    if {bool(k.functions) for k in kernels if k.problems == builtin} != {False}:
        yield  # no built-in problems, or a rule's loop on them compiles here
        return
    dispatch = kernel_for((), "problem", builtin).module
    pending = {getattr(dispatch, name) for name in problem_hooks_called("cpu_loop")}

    class ProblemsCompiled(event.Listener):
        def on_start(self, ev):
            pass

        def on_end(self, ev):
            pending.discard(ev.data["dispatcher"])
            if not pending:
                start("loop", dtype)

    with event.install_listener("numba:compile", ProblemsCompiled()):
        yield


atexit.register(wait)  # no build outlives the process that started it


def build_schedules() -> None:
    """Compile (or load) the interpreter of the built-in schedules: one table computes it
    for the argument types every table has."""
    from .optimizers import SGD
    from .schedules import CosineAnnealingLR

    CosineAnnealingLR(T_max=2).tables(SGD(lr=0.1), 2)


def _packed(dtype: str):
    """A one-trajectory plan of ``dtype`` packed: the argument types of every CPU run of
    that dtype, in the built-in rules' kernel."""
    from .engine import Packed
    from .optimizers import SGD
    from .plan import Plan
    from .problems import Quadratic

    plan = Plan(problems=[Quadratic(dim=1)], optimizers=[SGD(lr=0.1)], schedules=None,
                seeds=[0], steps=1, dtype=dtype)
    return Packed(plan, 0, plan.n_trials)


def build_rules(dtype: str) -> None:
    """Compile (or load) the built-in rules' dispatch in their kernel for ``dtype``, for the
    argument types its trajectory loop calls it with (``engine.loop_signatures``)."""
    from .codegen import LOOP_FUNCTIONS
    from .engine import loop_signatures

    packed = _packed(dtype)
    for name, signature in zip(LOOP_FUNCTIONS, loop_signatures(packed)):
        getattr(packed.kernels[0].module, name).compile(signature)


def build_loop(dtype: str) -> None:
    """Compile (or load) the rule loop over the built-in problems for ``dtype`` and the
    parallel driver's overload for it: for the argument types a plan of that dtype packs,
    and rules of the types ``engine.loop_signatures`` gives, so that a user's rule finds
    both in the cache."""
    from .codegen import builtin_problem_units, kernel_for
    from .engine import loop_signatures
    from .kernels.cpu import compile_loop

    packed = _packed(dtype)
    loop = kernel_for((), "cpu_loop", builtin_problem_units())
    compile_loop(loop.cpu_block, np.arange(1), packed.kernel_args(), loop_signatures(packed))


if __name__ == "__main__":
    {"schedules": build_schedules, "rules": build_rules,
     "loop": build_loop}[sys.argv[1]](*sys.argv[2:])
