"""Specification base class shared by optimizers, schedules and problems.

A spec is a small immutable value: a class name plus keyword parameters, validated on
construction. Specs turn into plain dicts (for manifests and suite files) and back, and
compare and hash by that dict, so a stored run can be matched against a new one.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import inspect
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Self

_T = TypeVar("_T")
_SpecT = TypeVar("_SpecT", bound="Spec")


class Registry(dict[str, "type[Spec]"]):
    """Name -> built-in spec class, with lookup errors that suggest the closest name. A user's
    class (a plugin) is named ``"module:object"`` and imported on lookup."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, cls: type[_SpecT]) -> type[_SpecT]:
        self[cls.__name__] = cls
        return cls

    def lookup(self, name: object) -> type[Spec]:
        if not isinstance(name, str):
            raise ValueError(f"{self.kind} type must be a string, got {name!r}")
        if name in self:
            return self[name]
        if ":" in name:
            return self.import_plugin(name)
        raise ValueError(f"unknown {self.kind} {name!r}{suggest(name, self)}")

    def import_plugin(self, name: str) -> type[Spec]:
        """The class named ``"module:object"`` (importable from ``sys.path``), checked to be a
        spec of this family."""
        module_name, _, qualname = name.partition(":")
        try:
            obj: object = importlib.import_module(module_name)
        except Exception as exc:  # any failure of user code is one line
            raise ValueError(f"{self.kind} {name!r}: module {module_name!r} does not import "
                             f"({type(exc).__name__}: {exc})") from None
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        member = next(iter(self.values()))
        family = next(c for c in member.__mro__ if c.__dict__.get("registry") is self)
        if not (isinstance(obj, type) and issubclass(obj, family) and issubclass(obj, Spec)):
            raise ValueError(f"{self.kind} {name!r}: {qualname!r} is not an {self.kind} class "
                             f"(a subclass of optbench's {family.__name__})")
        return obj


def is_builtin(cls: type) -> bool:
    """True for a class defined in the package (named by its class name); a user's class is
    a plugin, named ``"module:object"``."""
    return cls.__module__.startswith("optbench.")


def suggest(name: object, choices: Iterable[str]) -> str:
    """A ' (did you mean ...?)' hint, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Spec:
    """Base class: subclasses write an explicit ``__init__`` that validates and calls
    ``self._store(locals())``; parameters are the ``__init__`` keywords."""

    registry: Registry  # set by each family (optimizers, schedules, problems)
    #: parameters whose value is itself a sequence (beyond those with a tuple default)
    extra_sequence_params: tuple[str, ...] = ()

    def _store(self, values: Mapping[str, Any]) -> None:
        for name in self.param_names():
            object.__setattr__(self, name, values[name])
        object.__setattr__(self, "_frozen", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"{type(self).__name__} is immutable; build a new one")
        object.__setattr__(self, name, value)

    @classmethod
    def param_names(cls) -> list[str]:
        return list(_signature(cls)[0])

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return dict(_signature(cls)[1])

    @classmethod
    def sequence_params(cls) -> set[str]:
        """Parameters that take a list as one value (a suite file expands lists of lists)."""
        tuple_defaults = {k for k, v in cls.defaults().items() if isinstance(v, (tuple, list))}
        return tuple_defaults | set(cls.extra_sequence_params)

    def params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names()}

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type_name(), **{k: _plain(v) for k, v in self.params().items()}}

    @classmethod
    def type_name(cls) -> str:
        """The name suite files and manifests use: the class name of a built-in,
        ``"module:qualname"`` of a user's class."""
        if is_builtin(cls):
            return cls.__name__
        return f"{cls.__module__}:{cls.__qualname__}"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "") -> Spec:
        """Build a spec from ``{"type": Name, **params}``, naming any bad key."""
        data = dict(data)
        name = data.pop("type", None) if cls.registry is not None else None
        target = cls.registry.lookup(name) if name is not None else cls
        allowed = target.param_names()
        for key in data:
            if key not in allowed:
                raise ValueError(
                    f"{where}{target.__name__}: unknown parameter {key!r}{suggest(key, allowed)}"
                )
        try:
            return target(**data)
        except TypeError as exc:  # missing required argument
            raise ValueError(f"{where}{target.__name__}: {exc}") from None
        except ValueError as exc:
            raise ValueError(f"{where}{exc}") from None

    def replace(self, **changes: Any) -> Self:
        return type(self)(**{**self.params(), **changes})

    def key(self) -> str:
        """Canonical JSON of the spec: equal specs have equal keys."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def __eq__(self, other: object) -> bool:
        return (type(self) is type(other) and isinstance(other, Spec)
                and self.key() == other.key())

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        defaults = self.defaults()
        shown = [
            f"{k}={v!r}"
            for k, v in self.params().items()
            if k not in defaults or _plain(defaults[k]) != _plain(v)
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def label(self) -> str:
        """Short human-readable name used in tables and figure legends."""
        return repr(self)


def init_signature(defaults: Mapping[str, Any]) -> inspect.Signature:
    """The signature ``__init__(self, name=default, ...)`` a generated constructor shows (the
    spec's parameters and defaults are read from it)."""
    return inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(k, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=v)
           for k, v in defaults.items()])


_STAND_INS: dict[tuple[type, str, str], type] = {}


def stand_in(base: type[_SpecT], type_name: str, record: Mapping[str, Any],
             namespace: Mapping[str, Any]) -> type[_SpecT]:
    """A class standing in for a user's spec class named ``"module:object"`` in a run
    directory, built from the manifest's ``record`` (its ``defaults`` give the constructor)
    plus ``namespace``, without importing the user's code; one per (name, record)."""
    key = (base, type_name, repr(record))
    if key not in _STAND_INS:
        module, _, qualname = type_name.partition(":")
        defaults = record.get("defaults", {})

        def __init__(self: Spec, **params: Any) -> None:
            self._store({**defaults, **params})

        __init__.__dict__["__signature__"] = init_signature(defaults)  # what inspect reads
        _STAND_INS[key] = type(qualname.rsplit(".", 1)[-1], (base,), {
            "__init__": __init__, "__module__": module, "__qualname__": qualname,
            "record": record, **namespace})
    return _STAND_INS[key]


_SIGNATURES: dict[type, tuple[tuple[str, ...], dict[str, Any]]] = {}


def _signature(cls: type[Spec]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """(parameter names, defaults) of ``cls.__init__``, computed once per class."""
    if cls not in _SIGNATURES:
        params = inspect.signature(cls.__init__).parameters
        names = tuple(p for p in params if p != "self")
        defaults = {n: params[n].default for n in names
                    if params[n].default is not inspect.Parameter.empty}
        _SIGNATURES[cls] = (names, defaults)
    return _SIGNATURES[cls]


def _plain(value: object) -> Any:
    """JSON-friendly form of a parameter value (tuples become lists, functions their
    ``function_ref``)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Spec):
        return value.to_dict()
    if callable(value) and not isinstance(value, type):
        return function_ref(value)
    return value


def import_ref(text: str) -> Any:
    """The object named ``"module:qualname"``, imported."""
    module, _, name = text.partition(":")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def function_ref(fn: object) -> str:
    """How a function parameter is stored: its ``"module:qualname"`` when that name leads
    back to it (it round-trips), else ``"<unimportable qualname digest>"``, unique per code."""
    if isinstance(fn, str):
        return fn
    py = getattr(fn, "py_func", fn)
    module = getattr(py, "__module__", None)
    qualname = getattr(py, "__qualname__", None)
    if module and qualname and "<" not in qualname:
        ref = f"{module}:{qualname}"
        try:
            target = import_ref(ref)
        except Exception:
            target = None
        if target is fn or target is py or getattr(target, "py_func", None) is py:
            return ref
    code = getattr(py, "__code__", None)
    blob = repr((code.co_code, code.co_consts, code.co_names)) if code else repr(py)
    return f"<unimportable {qualname or '?'} {hashlib.sha256(blob.encode()).hexdigest()[:12]}>"


# ---- validators: each raises ValueError naming the spec and argument ------------------


def _fail(owner: str, name: str, msg: str, value: object) -> NoReturn:
    raise ValueError(f"{owner}: {name} {msg}, got {value!r}")


def real(owner: str, name: str, value: object, lo: float = -math.inf, hi: float = math.inf,
         lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number in [lo, hi] (open ends when asked)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        _fail(owner, name, "must be a number", value)
    value = float(value)
    if not math.isfinite(value):
        _fail(owner, name, "must be finite", value)
    bad_lo = value <= lo if lo_open else value < lo
    bad_hi = value >= hi if hi_open else value > hi
    if bad_lo or bad_hi:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        _fail(owner, name, f"must be in {left}{lo:g}, {hi:g}{right}", value)
    return value


#: the largest integer parameter magnitude: the kernels carry parameters in float64 rows and
#: convert them to int64, exact only up to 2**53 (larger values overflowed there: SIGFPE)
INT_LIMIT = 2**53


def integer(owner: str, name: str, value: object, lo: float | None = None,
            hi: float | None = None) -> int:
    """``value`` as an int in [lo, hi] (and within +-INT_LIMIT), or a one-line ValueError."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            _fail(owner, name, "must be an integer", value)
    value = int(value)
    if lo is not None and value < lo:
        _fail(owner, name, f"must be >= {lo}", value)
    if hi is not None and value > hi:
        _fail(owner, name, f"must be <= {hi}", value)
    if abs(value) > INT_LIMIT:
        _fail(owner, name, f"must be within +-2**53 ({INT_LIMIT})", value)
    return value


def boolean(owner: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        _fail(owner, name, "must be true or false", value)
    return value


def choice(owner: str, name: str, value: _T, options: Sequence[object]) -> _T:
    if value not in options:
        raise ValueError(
            f"{owner}: {name} must be one of {', '.join(map(repr, options))}, "
            f"got {value!r}{suggest(value, [str(o) for o in options])}"
        )
    return value


def real_pair(owner: str, name: str, value: object, lo: float = 0.0, hi: float = 1.0,
              hi_open: bool = True) -> tuple[float, ...]:
    """A pair of reals, each in [lo, hi) by default (Adam's betas)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        _fail(owner, name, "must be a pair of numbers", value)
    return tuple(
        real(owner, f"{name}[{i}]", v, lo=lo, hi=hi, hi_open=hi_open) for i, v in enumerate(value)
    )
