"""Schedules torch lacks: InverseTimeDecay (Keras), WarmupCosine (optax), PerStepLR
(explicit per-step values) and FunctionLR (a jitted function of the step, torch's LambdaLR)."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from ..schedule_tables import table_value
from ..spec import boolean, real
from ..spec import function_ref
from .base import Schedule, _is_relative, _lr_value, _steps
from .functions import function_argument, tabulate

if TYPE_CHECKING:
    from ..optimizers import Optimizer


class InverseTimeDecay(Schedule):
    """lr = base_lr / (1 + decay_rate * k/decay_steps), with floor(k/decay_steps) when
    ``staircase`` (keras.optimizers.schedules.InverseTimeDecay; torch has none).

    Behaves like a torch LambdaLR: relative to the optimizer's (initial) lr.
    """

    _step_params = ("decay_steps",)
    decay_steps: int | str
    decay_rate: float
    staircase: bool

    def __init__(self, decay_steps: int | str, decay_rate: float, staircase: bool = False) -> None:
        n = "InverseTimeDecay"
        decay_steps = _steps(n, "decay_steps", decay_steps, lo=1)
        decay_rate = real(n, "decay_rate", decay_rate, lo=0.0)
        staircase = boolean(n, "staircase", staircase)
        self._store(locals())

    _door_kinds = {"decay_steps": "int", "decay_rate": "float", "staircase": "bool"}

    @staticmethod
    def lr_at(k: int, base_lr: float, decay_steps: int, decay_rate: float,
              staircase: bool) -> float:
        p = k / decay_steps
        if staircase:
            p = math.floor(p)
        return base_lr / (1.0 + decay_rate * p)


class WarmupCosine(Schedule):
    """Linear warm-up then cosine decay, optax.warmup_cosine_decay_schedule semantics::

        lr = init_value + (peak_lr - init_value) * k/warmup_steps      for k < warmup_steps,
        lr = peak_lr * ((1 - a) * c**exponent + a),  a = end_lr/peak_lr,
             c = (1 + cos(pi * min(k - warmup_steps, T)/T))/2,  T = decay_steps - warmup_steps.

    ``decay_steps`` counts the warm-up too (as in optax). This schedule sets absolute lrs:
    the optimizer's own lr is ignored.
    """

    _step_params = ("warmup_steps", "decay_steps")
    warmup_steps: int | str
    decay_steps: int | str
    peak_lr: float
    end_lr: float
    init_value: float
    exponent: float

    def __init__(self, warmup_steps: int | str, decay_steps: int | str, peak_lr: float,
                 end_lr: float = 0.0, init_value: float = 0.0, exponent: float = 1.0) -> None:
        n = "WarmupCosine"
        warmup_steps = _steps(n, "warmup_steps", warmup_steps, lo=0)
        decay_steps = _steps(n, "decay_steps", decay_steps, lo=1)
        peak_lr = _lr_value(n, "peak_lr", peak_lr)
        end_lr = _lr_value(n, "end_lr", end_lr)
        init_value = _lr_value(n, "init_value", init_value)
        exponent = real(n, "exponent", exponent, lo=0.0, lo_open=True)
        if not (_is_relative(warmup_steps) or _is_relative(decay_steps)):
            _warmup_fits(cast(int, warmup_steps), cast(int, decay_steps))
        self._store(locals())

    def _check_leaf(self, optimizer: Optimizer, max_epoch: int, reset: bool) -> None:
        super()._check_leaf(optimizer, max_epoch, reset)
        # a bound schedule's step counts are ints
        _warmup_fits(cast(int, self.warmup_steps), cast(int, self.decay_steps))

    _door_kinds = {"warmup_steps": "int", "decay_steps": "int", "peak_lr": "float",
                   "end_lr": "float", "init_value": "float", "exponent": "float"}

    @staticmethod
    def lr_at(k: int, warmup_steps: int, decay_steps: int, peak_lr: float, end_lr: float,
              init_value: float, exponent: float) -> float:
        if k < warmup_steps:
            count = min(max(float(k), 0.0), float(warmup_steps))
            frac = 1.0 - count / warmup_steps
            return (init_value - peak_lr) * frac + peak_lr
        alpha = 0.0 if peak_lr == 0.0 else end_lr / peak_lr
        span = float(decay_steps - warmup_steps)
        count = min(float(k - warmup_steps), span)
        cosine_decay = 0.5 * (1.0 + math.cos(math.pi * count / span))
        if exponent == 1.0:
            powered = cosine_decay
        else:
            powered = math.pow(cosine_decay, exponent)
        return peak_lr * ((1.0 - alpha) * powered + alpha)


def _warmup_fits(warmup_steps: int, decay_steps: int) -> None:
    if decay_steps <= warmup_steps:
        raise ValueError(f"WarmupCosine: decay_steps must exceed warmup_steps (optax), got "
                         f"decay_steps={decay_steps}, warmup_steps={warmup_steps}")


class PerStepLR(Schedule):
    """User-defined schedule given as an explicit array: lr of step k = values[k]
    (``relative=True``: base_lr * values[k], torch's LambdaLR with a tabulated lambda).

    Past the end of ``values`` the last entry is held; the run must not be longer than the
    array (the entry after the last step may be missing).
    """

    extra_sequence_params = ("values",)  # one list, not a grid
    values: tuple[float, ...]
    relative: bool

    def __init__(self, values: Iterable[float] | NDArray[np.float64],
                 relative: bool = False) -> None:
        n = "PerStepLR"
        if isinstance(values, np.ndarray):
            values = values.tolist()
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
            raise ValueError(f"{n}: values must be a list of numbers, got {values!r}")
        values = tuple(real(n, f"values[{i}]", v, lo=0.0) for i, v in enumerate(values))
        if not values:
            raise ValueError(f"{n}: values must not be empty")
        relative = boolean(n, "relative", relative)
        self._store(locals())

    def _check_leaf(self, optimizer: Optimizer, max_epoch: int, reset: bool) -> None:
        super()._check_leaf(optimizer, max_epoch, reset)
        if len(self.values) < max_epoch:
            raise ValueError(f"PerStepLR: values has {len(self.values)} entries, fewer than "
                             f"the {max_epoch} steps of the run")

    _door_kinds = {"values": "array", "relative": "bool"}

    @staticmethod
    def lr_at(k: int, base_lr: float, values: NDArray[np.float64], relative: bool) -> float:
        if relative:
            return float(base_lr * table_value(values, k))
        return float(table_value(values, k))

    def label(self) -> str:
        kind = "factors" if self.relative else "lrs"
        return f"PerStepLR({len(self.values)} {kind})"


class FunctionLR(Schedule):
    """User-defined schedule: lr = base_lr * fn(k) (torch's LambdaLR), ``fn`` a function of
    the integer step k returning a factor, which numba must be able to compile (it is
    compiled with ``numba.njit`` and evaluated into the table).

    ``fn`` is a function or a ``"module:name"`` string naming one; stored specs keep the
    string, so only importable functions round-trip through ``to_dict``/``from_dict``.
    """

    #: True for a spec built inside ``reading_back()``: its function is never imported
    read_back = False
    fn: Callable[[int], float] | str

    def __init__(self, fn: Callable[[int], float] | str) -> None:
        fn, self.read_back = function_argument("FunctionLR", "fn", fn)
        self._store(locals())

    def __repr__(self) -> str:
        return f"FunctionLR(fn={function_ref(self.fn)})"

    def _check_leaf(self, optimizer: Optimizer, max_epoch: int, reset: bool) -> None:
        super()._check_leaf(optimizer, max_epoch, reset)
        if not self.read_back:
            self._factors(1)

    def _factors(self, n: int) -> NDArray[np.float64]:
        return tabulate("FunctionLR", "fn", self.fn, n, self.read_back)

    _door_kinds = {"factors": "array"}

    def _leaf_arguments(self, n_steps: int) -> dict[str, Any]:
        return {"factors": self._factors(n_steps + 1)}

    @staticmethod
    def lr_at(k: int, base_lr: float, factors: NDArray[np.float64]) -> float:
        """base_lr * fn(k), fn tabulated over the run."""
        return float(base_lr * table_value(factors, k))
