"""The schedule spec base class: relative step counts, checks, tables, and what a run
directory records of a user's schedule (see the package docstring)."""
from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn, cast

import numpy as np
from numpy.typing import NDArray

from .. import prebuild
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

    A leaf schedule (every built-in one but the compositions, and a user's) is defined by
    numba-compilable functions, staticmethods of its class, whose arguments are taken by
    name; ``tables`` runs them in one replay of torch's scheduler state machine
    (:mod:`optbench.schedule_tables`):

    - ``lr_at(k, base_lr, ...)``: the lr of epoch ``k`` in closed form (torch's
      ``_get_closed_form_lr``, or ``get_lr`` of a schedule whose lr is a function of the
      step, such as ``LambdaLR``); what a SequentialLR milestone restarts a schedule with;
    - ``lr_step(k, lr, base_lr, ...)``, optional: torch's recursive, chainable ``get_lr``,
      the lr of epoch ``k`` from ``lr``, the lr the param group holds before this step;
      when a class has it, each step uses it, and ``lr_at`` (if any) only restarts it;
      a class gives ``lr_at`` or ``lr_step`` or both;
    - ``momentum_at(k, base_momentum, ...)``, optional: the momentum (or beta1) it sets.

    Names they may take: ``k`` (the epoch, torch's ``last_epoch``: 0 at construction),
    ``base_lr`` (torch's ``base_lrs[0]``: the optimizer's lr, unless an earlier scheduler
    set ``initial_lr``), ``base_momentum`` (the optimizer's momentum or beta1), ``lr``
    (``lr_step`` only), the param-group values ``group_initial_lr``, ``group_max_lr``,
    ``group_min_lr``, ``group_max_momentum``, ``group_base_momentum`` (``lr_step`` and
    ``momentum_at``; NaN until a scheduler sets them), and the schedule's own parameters:
    floats, ints, bools, or float64 arrays for tuple-valued ones (``argument_kinds``; a
    parameter shadows a name above). A built-in class passes derived values instead of its
    parameters (``_door_kinds``, ``_leaf_arguments``).

    ``group_at_construction()`` lists what the schedule writes into the param group when
    constructed (keys ``lr``, ``initial_lr``, ``momentum``, ``max_lr``, ``min_lr``,
    ``max_momentum``, ``base_momentum``; ``base_lrs`` sets its ``base_lr`` after its
    initial step), before torch's ``group.setdefault("initial_lr", lr)``.

    Subclasses list their step-count parameters in ``_step_params`` (those accept relative
    expressions of ``steps``).
    """

    registry = REGISTRY
    #: True for ReduceLROnPlateau, whose lr depends on each trajectory's own loss
    is_plateau = False
    #: parameters holding step counts (int or relative expression, or a list of them)
    _step_params: tuple[str, ...] = ()
    #: the closed-form lr of epoch k (see the class docstring)
    lr_at: Callable[..., float] | None = None
    #: optionally, torch's chainable get_lr: the lr of epoch k from the group's lr
    lr_step: Callable[..., float] | None = None
    #: optionally, the momentum/beta1 of epoch k
    momentum_at: Callable[..., float] | None = None
    #: a built-in class's arguments and their kinds ("float", "int", "bool", "array"), None
    #: for the parameters its functions take, by their defaults' types (``argument_kinds``)
    _door_kinds: dict[str, str] | None = None

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
        (``schedule_tables.fill_tables``), compiled with the functions of its leaf classes
        (``codegen.schedule_module``): a user's schedule is a leaf of it like a built-in."""
        from ..codegen import schedule_classes, schedule_module

        n_steps = _n_steps(n_steps)
        self.check(optimizer, n_steps)
        bound = self.bind(n_steps)
        children = bound._children()
        data: list[float] = []
        rows = [child._argument_row(n_steps, data) for child in children]
        built = [[(ks.CONSTRUCTION_KEYS[key], float(value))
                  for key, value in child.group_at_construction()] for child in children]
        classes = schedule_classes(tuple(type(child) for child in children))
        module = schedule_module(classes)
        n = len(children)
        leaves = np.zeros((n, ks.N_LEAF), dtype=np.int64)
        construct = np.zeros((n, max([1, *map(len, built)]), 2))
        params = np.zeros((n, max([1, *map(len, rows)])))
        for c, child in enumerate(children):
            leaves[c] = classes.index(type(child)), child.sets_momentum, len(built[c])
            if built[c]:
                construct[c, :len(built[c])] = built[c]
            params[c, :len(rows[c])] = rows[c]
        momentum = (float(optimizer.hyperparams()[1]) if optimizer.momentum_keyword is not None
                    else math.nan)
        lr = np.empty(n_steps + 1)
        mom = np.empty(n_steps + 1)
        prebuild.wait("schedules")  # compiling the built-ins' interpreter in the background?
        module.fill_tables(bound._kind(), leaves, construct, params,
                           np.array(data if data else [0.0], dtype=np.float64),
                           np.array(bound._seq_milestones(), dtype=np.int64),
                           float(optimizer.lr), momentum, np.empty(ks.N_GROUP),
                           np.zeros((n, ks.N_STATE)), lr, mom)
        return lr, mom

    # -- the leaf's arguments and construction (see the class docstring)
    @classmethod
    def argument_kinds(cls) -> dict[str, str]:
        """The arguments this class's functions take besides the vocabulary, in the order of
        its parameter row, with their kinds: "float", "int", "bool" or "array" (float64);
        a built-in's ``_door_kinds``, else its parameters the functions take, by the types
        of their defaults (a bool, an int, a tuple or list, else a float)."""
        if cls._door_kinds is not None:
            return dict(cls._door_kinds)
        names = cls.param_names()
        defaults = cls.defaults()
        kinds: dict[str, str] = {}
        for fn_name in ("lr_at", "lr_step", "momentum_at"):
            fn = getattr(cls, fn_name)
            if fn is None:
                continue
            for arg in inspect.signature(getattr(fn, "py_func", fn)).parameters:
                if arg in names and arg not in kinds:
                    default = defaults.get(arg)
                    kinds[arg] = ("bool" if isinstance(default, bool) else "int"
                                  if isinstance(default, int) else "array"
                                  if isinstance(default, (tuple, list, np.ndarray)) else "float")
        return kinds

    def _leaf_arguments(self, n_steps: int) -> dict[str, Any]:
        """The values of ``argument_kinds()``'s names for a run of ``n_steps`` (bound)."""
        return {name: getattr(self, name) for name in self.argument_kinds()}

    def _argument_row(self, n_steps: int, data: list[float]) -> list[float]:
        """The parameter row the interpreter passes this leaf's functions; arrays go into
        ``data`` (the row holds their offset and length)."""
        values = self._leaf_arguments(n_steps)
        row: list[float] = []
        for name, kind in self.argument_kinds().items():
            value = values[name]
            try:
                if kind == "array":
                    array = np.asarray(value, dtype=np.float64).ravel()
                    row += [float(_push(data, array)), float(array.size)]
                else:
                    row.append(1.0 if kind == "bool" and value else 0.0 if kind == "bool"
                               else float(value))
            except (TypeError, ValueError):
                raise ValueError(f"{type(self).type_name()}: {name} must be a number"
                                 f"{'s' if kind == 'array' else ''} for its functions, got "
                                 f"{value!r}") from None
        return row

    def group_at_construction(self) -> list[tuple[str, float]]:
        """What constructing this scheduler writes into the optimizer's param group, in
        order (see the class docstring); none by default."""
        return []

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
        if not is_builtin(type(self)):
            from ..codegen import check_compiles, check_names

            if self.lr_at is None and self.lr_step is None:
                raise TypeError(f"{type(self).type_name()}: a schedule needs lr_at or lr_step")
            check_names(type(self))
            check_compiles(type(self))
            if self.momentum_at is not None and optimizer.momentum_keyword is None:
                raise ValueError(f"{type(self).type_name()}: momentum_at needs an optimizer "
                                 f"with momentum or betas, and {type(optimizer).__name__} "
                                 "has neither")

    @property
    def sets_momentum(self) -> bool:
        """Whether this schedule writes the optimizer's momentum/beta1."""
        children = self._children()
        if children != (self,):
            return any(c.sets_momentum for c in children)
        return self.momentum_at is not None


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
        "tables": cannot_run, "_leaf_arguments": cannot_run,
        "_check_leaf": lambda self, optimizer, max_epoch, reset: None,
        "sets_momentum": bool(record.get("sets_momentum", False))})


def _lr_value(owner: str, name: str, value: object) -> float:
    return real(owner, name, value, lo=0.0)


def _push(data: list[float], values: Iterable[float]) -> int:
    off = len(data)
    data.extend(float(v) for v in values)
    return off


# ---- torch schedules -----------------------------------------------------------------------
