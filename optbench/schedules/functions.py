"""Functions as schedule parameters (FunctionLR's ``fn``, CyclicLR's ``scale_fn``): a
numba-compilable function, or a ``"module:name"`` string naming one, tabulated on the host.

A spec built inside ``reading_back()`` (a run directory being read) keeps a named function
as its name and never imports it: opening results never runs their code.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import schedule_tables as ks
from ..spec import import_ref

#: None, or while a run directory is read, its manifest's plugin records
_READING_BACK: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "reading_back", default=None)


@contextlib.contextmanager
def reading_back(plugins: dict[str, Any] | None = None) -> Iterator[None]:
    """Specs built inside read a run directory: functions named ``"module:name"`` stay
    names, never imported, and a user's schedule class becomes a stand-in built from its
    record in ``plugins`` (the manifest's); such a spec labels and hashes, and cannot
    tabulate."""
    token = _READING_BACK.set(dict(plugins or {}))
    try:
        yield
    finally:
        _READING_BACK.reset(token)


def read_back_records() -> dict[str, Any] | None:
    """The plugin records of the run directory being read, None when none is."""
    return _READING_BACK.get()


def function_argument(owner: str, name: str, fn: object) -> tuple[Any, bool]:
    """(fn, read_back): ``fn`` checked to be a function or a ``"module:name"`` string that
    imports one (one-line ValueError otherwise); read_back True for a name kept unimported
    inside ``reading_back()``."""
    if isinstance(fn, str):
        if _READING_BACK.get() is not None:
            return fn, True
        try:
            target = import_ref(fn)
        except Exception as exc:
            raise ValueError(f"{owner}: {name} {fn!r} cannot be imported ({exc})") from None
        if not callable(target):
            raise ValueError(f"{owner}: {name} {fn!r} is not a function")
    elif not callable(fn):
        raise ValueError(f"{owner}: {name} must be a function of the step or a 'module:name' "
                         f"string, got {fn!r}")
    return fn, False


def tabulate(owner: str, name: str, fn: Callable[[int], float] | str, n: int,
             read_back: bool) -> NDArray[np.float64]:
    """fn(k) for k = 0..n-1, by ``fn`` compiled with numba (one-line ValueError when it cannot
    be compiled or run, or was read back without its code)."""
    if read_back:
        raise ValueError(f"{owner}: {name} {fn!r} was read back from a run directory and is "
                         "not imported; run (or --resume) from the suite file")
    fn = import_ref(fn) if isinstance(fn, str) else fn
    out = np.empty(n)
    try:
        ks.function_factor_table(_jit(fn), out)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{owner}: {name} cannot be compiled and run by numba: {first}") \
            from None
    return out


@functools.lru_cache(maxsize=None)
def _jit(fn: Callable[[int], float]) -> object:
    import numba
    from numba.core.registry import CPUDispatcher

    return fn if isinstance(fn, CPUDispatcher) else numba.njit(fn)
