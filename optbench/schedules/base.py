"""The schedule spec base class: relative step counts, checks, tables, and what a run
directory records of a user's schedule (see the package docstring)."""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, cast

import numpy as np
from numpy.typing import NDArray

from .. import schedule_tables as ks
from ..spec import Registry, Spec, integer, is_builtin, real, stand_in

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..optimizers import Optimizer


REGISTRY: Registry = Registry("schedule")


# ---- relative step counts ---------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|(steps)\b|(//|[-+*/()]))")


#: a token: ("num", its float), ("steps", None) or ("op", its text); (None, None) past the end
_Token = tuple[str | None, Any]


def _tokens(text: str) -> list[_Token]:
    pos = 0
    out: list[_Token] = []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"unexpected {text[pos:].strip()[:10]!r}")
        num, steps, op = m.groups()
        out.append(("num", float(num)) if num else ("steps", None) if steps else ("op", op))
        pos = m.end()
    return out


def eval_steps(text: str, n_steps: int) -> float:
    """Value of a step-count expression such as ``"steps/2"`` (a tiny parser, no eval)."""
    toks = _tokens(text)
    pos = 0

    def peek() -> _Token:
        return toks[pos] if pos < len(toks) else (None, None)

    def take() -> _Token:
        nonlocal pos
        tok = peek()
        pos += 1
        return tok

    def expr() -> float:
        value = term()
        while peek() in (("op", "+"), ("op", "-")):
            op = take()[1]
            rhs = term()
            value = value + rhs if op == "+" else value - rhs
        return value

    def term() -> float:
        value = factor()
        while peek() in (("op", "*"), ("op", "/"), ("op", "//")):
            op = take()[1]
            rhs = factor()
            if op != "*" and rhs == 0:
                raise ValueError("division by zero")
            value = value * rhs if op == "*" else value / rhs if op == "/" else value // rhs
        return value

    def factor() -> float:
        kind, value = take()
        if kind == "num":
            number: float = value
            return number
        if kind == "steps":
            return float(n_steps)
        if (kind, value) == ("op", "-"):
            return -factor()
        if (kind, value) == ("op", "("):
            inner = expr()
            if take() != ("op", ")"):
                raise ValueError("missing ')'")
            return inner
        raise ValueError("incomplete expression" if kind is None else f"unexpected {value!r}")

    value = expr()
    if pos != len(toks):
        raise ValueError(f"unexpected {toks[pos][1]!r}")
    return value


def resolve_steps(text: str, n_steps: int) -> int:
    """``eval_steps`` rounded down to an integer (with a 1e-9 relative allowance)."""
    value = eval_steps(text, n_steps)
    return int(math.floor(value + 1e-9 * max(1.0, abs(value))))


def _steps(owner: str, name: str, value: object, lo: int | None = None) -> int | str:
    """An integer step count, or a relative expression of ``steps`` (kept as a string)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            eval_steps(text, 1000)
        except ValueError as exc:
            raise ValueError(
                f"{owner}: {name} must be an integer or an expression of 'steps' such as "
                f"'steps/2' ({exc}), got {value!r}"
            ) from None
        return text
    return integer(owner, name, value, lo=lo)


def _steps_list(owner: str, name: str, value: object,
               lo: int | None = None) -> tuple[int | str, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{owner}: {name} must be a list of step counts, got {value!r}")
    return tuple(_steps(owner, f"{name}[{i}]", v, lo=lo) for i, v in enumerate(value))


def _is_relative(value: object) -> bool:
    if isinstance(value, tuple):
        return any(isinstance(v, str) for v in value)
    return isinstance(value, str)


def _n_steps(n_steps: object) -> int:
    return integer("schedule", "n_steps", n_steps, lo=0)


# ---- base class ----------------------------------------------------------------------------


class Schedule(Spec):
    """Base class of every schedule spec.

    Subclasses list their step-count parameters in ``_step_params`` (those accept relative
    expressions of ``steps``) and implement ``_encode`` (the kernel code and parameter row).
    """

    registry = REGISTRY
    #: True for ReduceLROnPlateau, whose lr depends on each trajectory's own loss
    is_plateau = False
    #: parameters holding step counts (int or relative expression, or a list of them)
    _step_params: tuple[str, ...] = ()
    #: a user's schedule: lr of step k from ``k``, ``base_lr`` and its parameters (module doc)
    lr_at: Callable[..., float] | None = None
    #: a user's schedule, optionally: momentum/beta1 of step k from ``k``, ``base_momentum``
    #: and its parameters
    momentum_at: Callable[..., float] | None = None

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if is_builtin(cls):
            REGISTRY.register(cls)  # a user's schedule is named "module:object"

    # -- run-length binding
    def is_relative(self) -> bool:
        """Whether some step-count parameter is given relative to the run length."""
        return any(_is_relative(getattr(self, name)) for name in self._step_params)

    def bind(self, n_steps: int) -> Self:
        """The concrete schedule for a run of ``n_steps`` (``self`` when nothing is relative)."""
        n_steps = _n_steps(n_steps)
        changes: dict[str, Any] = {}
        name = None
        for name in self._step_params:
            value = getattr(self, name)
            if isinstance(value, tuple):
                if any(isinstance(v, str) for v in value):
                    changes[name] = [resolve_steps(v, n_steps) if isinstance(v, str) else v
                                     for v in value]
            elif isinstance(value, str):
                changes[name] = resolve_steps(value, n_steps)
        if not changes:
            return self
        try:
            return self.replace(**changes)
        except ValueError as exc:
            raise ValueError(f"{exc} (resolved for a run of {n_steps} steps)") from None

    # -- checks and tables
    def check(self, optimizer: object, n_steps: int) -> None:
        """Raise ValueError (one line) if this schedule cannot drive ``optimizer`` for
        ``n_steps`` steps exactly as torch would; nothing runs before this passes."""
        from ..optimizers import Optimizer

        n_steps = _n_steps(n_steps)
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"{type(self).__name__}: optimizer must be an optimizer spec, "
                             f"got {optimizer!r}")
        bound = self.bind(n_steps)
        for child, max_epoch, reset in bound._epoch_ranges(n_steps):
            child._check_leaf(optimizer, max_epoch, reset)

    def tables(self, optimizer: Optimizer,
               n_steps: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(lr, momentum)``: float64 arrays of length ``n_steps + 1`` (see module doc).

        Every schedule runs through one interpreter of torch's scheduler state machine
        (``schedule_tables.fill_tables``). A user's schedule is a leaf of it like a built-in
        one: its ``lr_at`` (and ``momentum_at``) tabulated over the epochs it reaches, with
        ``base_lr`` the lr torch's scheduler would hold as its base (the optimizer's, unless
        an earlier CyclicLR or OneCycleLR in a composition set ``initial_lr``): read from a
        first pass of the interpreter that only constructs the schedules."""
        n_steps = _n_steps(n_steps)
        self.check(optimizer, n_steps)
        bound = self.bind(n_steps)
        users = {c: (child, max_epoch) for c, (child, max_epoch, _) in
                 enumerate(bound._epoch_ranges(n_steps)) if child.lr_at is not None}
        user_rows: dict[int, Any] = {}
        if users:
            state = bound._interpret(optimizer, 0, {c: (ks.S_HOLD, ()) for c in users})[2]
            for c, (child, max_epoch) in users.items():
                user_rows[c] = child._user_leaf(optimizer, float(state[c, ks.ST_BASE]),
                                                max_epoch)
        lr, mom, _ = bound._interpret(optimizer, n_steps, user_rows)
        return lr, mom

    def _interpret(self, optimizer: Optimizer, n_steps: int, user_leaves: dict[int, Any]
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """(lr, momentum, final interpreter state) of this bound schedule; ``user_leaves``:
        child index -> ``(code, row)`` or a ``(lr_values, momentum_values | None)`` table
        pair for the user's schedules among the children."""
        children = self._children()
        data: list[float] = []
        codes = np.zeros(len(children), dtype=np.int64)
        params = np.zeros((len(children), ks.N_PARAMS))
        for c, child in enumerate(children):
            if c not in user_leaves:
                code, row = child._encode(n_steps, data)
            elif isinstance(user_leaves[c][0], np.ndarray):
                lr_values, mom_values = user_leaves[c]
                code, row = ks.S_VALUE_TABLE, (
                    _push(data, lr_values), len(lr_values),
                    _push(data, lr_values if mom_values is None else mom_values),
                    mom_values is not None)
            else:
                code, row = user_leaves[c]
            codes[c] = code
            params[c, :len(row)] = row
        data_arr = np.array(data if data else [0.0], dtype=np.float64)
        milestones = np.array(self._seq_milestones(), dtype=np.int64)
        lr = np.empty(n_steps + 1)
        mom = np.empty(n_steps + 1)
        group = np.empty(ks.N_GROUP)
        state = np.zeros((len(children), ks.N_STATE))
        ks.fill_tables(self._kind(), codes, params, data_arr, milestones, float(optimizer.lr),
                       group, state, lr, mom)
        return lr, mom, state

    # -- hooks (leaves use these defaults; compositions override)
    def _kind(self) -> int:
        return ks.K_CHAINED

    def _children(self) -> tuple[Schedule, ...]:
        return (self,)

    def _seq_milestones(self) -> list[int]:
        return []

    def _epoch_ranges(self, n_steps: int) -> list[tuple[Schedule, int, bool]]:
        """(leaf, largest last_epoch it reaches, whether SequentialLR resets it to 0)."""
        return [(self, n_steps, False)]

    def _check_leaf(self, optimizer: Optimizer, max_epoch: int, reset: bool) -> None:
        if getattr(self, "cycle_momentum", False) and optimizer.momentum_keyword is None:
            raise ValueError(
                f"{type(self).__name__}: cycle_momentum=True needs an optimizer with momentum "
                f"or betas, and {type(optimizer).__name__} has neither "
                f"(set cycle_momentum=False)"
            )
        if self.lr_at is not None:
            from ..codegen import check_compiles, check_names

            check_names(type(self))
            check_compiles(type(self))
            if self.momentum_at is not None and optimizer.momentum_keyword is None:
                raise ValueError(f"{type(self).type_name()}: momentum_at needs an optimizer "
                                 f"with momentum or betas, and {type(optimizer).__name__} "
                                 "has neither")

    def _user_leaf(self, optimizer: Optimizer, base_lr: float, max_epoch: int
                   ) -> tuple[NDArray[np.float64] | None, NDArray[np.float64] | None]:
        """A user schedule's (lr, momentum or None) values at epochs 0..max_epoch: its
        compiled ``lr_at`` / ``momentum_at`` (arguments by name: ``k``, ``base_lr``,
        ``base_momentum`` (the optimizer's) and the parameters)."""
        from ..codegen import _arguments, compiled_rule

        values = {"base_lr": base_lr, **self.params()}
        if self.momentum_at is not None:
            values["base_momentum"] = float(optimizer.hyperparams()[1])
        tables: list[NDArray[np.float64] | None] = []
        for fn_name in ("lr_at", "momentum_at"):
            if getattr(self, fn_name) is None:
                tables.append(None)
                continue
            fn = compiled_rule(type(self), fn_name)
            names = _arguments(getattr(self, fn_name))
            tables.append(np.array([fn(*(k if a == "k" else values[a] for a in names))
                                    for k in range(max_epoch + 1)], dtype=np.float64))
        return tables[0], tables[1]

    def _encode(self, n_steps: int, data: list[float]) -> tuple[int, tuple[float | str, ...]]:
        raise NotImplementedError

    @property
    def sets_momentum(self) -> bool:
        """Whether this schedule writes the optimizer's momentum/beta1."""
        children = self._children()
        if children != (self,):
            return any(c.sets_momentum for c in children)
        return bool(getattr(self, "cycle_momentum", False) or self.momentum_at is not None)


def plugin_record(cls: type[Schedule]) -> dict[str, Any]:
    """What a run directory records of a user's schedule class: source hash, files,
    defaults and whether it sets the momentum."""
    from ..codegen import plugin_provenance

    if "record" in cls.__dict__:  # a stand-in read back from a run directory
        record: dict[str, Any] = cls.__dict__["record"]
        return record
    return {**plugin_provenance(cls), "sets_momentum": cls.momentum_at is not None}


def schedule_from_dict(data: Mapping[str, Any], where: str = "") -> Schedule:
    """A schedule from ``{"type": ..., **params}``; inside ``reading_back(plugins)`` a user's
    schedule (``module:object``) is a stand-in built from its record, its code unimported."""
    from .functions import read_back_records

    records = read_back_records()
    name = data.get("type", "")
    if records is not None and isinstance(name, str) and ":" in name:
        params = {k: v for k, v in data.items() if k != "type"}
        return stored_schedule(name, records.get(name, {}))(**params)
    return cast(Schedule, Schedule.from_dict(dict(data), where))


def stored_schedule(type_name: str, record: Mapping[str, Any]) -> type[Schedule]:
    """A stand-in for a user's schedule class named ``"module:object"`` in a run directory,
    built from the manifest's record without importing the user's code: it labels and
    hashes like the original and cannot tabulate."""

    def cannot_run(self: Schedule, *args: Any) -> NoReturn:
        raise ValueError(f"{type_name} was read back from a run directory without its code "
                         "and cannot run; run (or --resume) from the suite file")

    return stand_in(Schedule, type_name, record, {
        "tables": cannot_run, "_encode": cannot_run,
        "_check_leaf": lambda self, optimizer, max_epoch, reset: None,
        "sets_momentum": bool(record.get("sets_momentum", False))})


def _lr_value(owner: str, name: str, value: object) -> float:
    return real(owner, name, value, lo=0.0)


def _push(data: list[float], values: Iterable[float]) -> int:
    off = len(data)
    data.extend(float(v) for v in values)
    return off


# ---- torch schedules -----------------------------------------------------------------------
