"""The schedules of torch.optim.lr_scheduler, with torch's names, keywords and defaults."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from .. import layout
from .. import schedule_tables as ks
from ..schedule_tables import (bisect_right, count_equal, cyclic_amplitude, cyclic_scale,
                               one_cycle, py_mod)
from ..spec import Spec, boolean, choice, integer, real
from .base import (Schedule, _is_relative, _lr_value, _n_steps, _steps, _steps_list,
                   schedule_from_dict)
from .functions import function_argument, tabulate

if TYPE_CHECKING:
    from typing_extensions import Self

    from ..optimizers import Optimizer


class ConstantLR(Schedule):
    """lr = base_lr * factor for epochs < total_iters, then base_lr (torch ConstantLR).

    Chainable form: lr*factor at step 0, lr/factor at step total_iters.
    """

    _step_params = ("total_iters",)
    factor: float
    total_iters: int | str

    def __init__(self, factor: float = 1.0 / 3, total_iters: int | str = 5) -> None:
        n = "ConstantLR"
        factor = real(n, "factor", factor, lo=0.0, hi=1.0)
        total_iters = _steps(n, "total_iters", total_iters, lo=0)
        self._store(locals())

    def _check_leaf(self, optimizer: Optimizer, max_epoch: int, reset: bool) -> None:
        super()._check_leaf(optimizer, max_epoch, reset)
        total_iters = cast(int, self.total_iters)  # a bound schedule's step counts are ints
        if self.factor == 0.0 and 0 < total_iters <= max_epoch:
            raise ValueError("ConstantLR: factor=0 divides by zero at total_iters (as in torch)")

    _door_kinds = {"factor": "float", "total_iters": "int"}

    @staticmethod
    def lr_step(k: int, lr: float, factor: float, total_iters: int) -> float:
        if k == 0:
            return lr * factor
        if k != total_iters:
            return lr
        return lr * (1.0 / factor)

    @staticmethod
    def lr_at(k: int, base_lr: float, factor: float, total_iters: int) -> float:
        return base_lr * (factor + (1.0 if k >= total_iters else 0.0) * (1.0 - factor))


class StepLR(Schedule):
    """lr = base_lr * gamma**floor(k / step_size) (torch StepLR, chainable form)."""

    _step_params = ("step_size",)
    step_size: int | str
    gamma: float

    def __init__(self, step_size: int | str, gamma: float = 0.1) -> None:
        n = "StepLR"
        step_size = _steps(n, "step_size", step_size, lo=1)
        gamma = real(n, "gamma", gamma, lo=0.0)
        self._store(locals())

    _door_kinds = {"step_size": "int", "gamma": "float"}

    @staticmethod
    def lr_step(k: int, lr: float, step_size: int, gamma: float) -> float:
        if k == 0 or k % step_size != 0:
            return lr
        return lr * gamma

    @staticmethod
    def lr_at(k: int, base_lr: float, step_size: int, gamma: float) -> float:
        return base_lr * math.pow(gamma, float(k // step_size))


class MultiStepLR(Schedule):
    """lr = base_lr * gamma**(number of milestones <= k) (torch MultiStepLR).

    Repeated milestones multiply by gamma once per repetition, as in torch.
    """

    _step_params = ("milestones",)
    extra_sequence_params = ("milestones",)  # one list, not a grid
    milestones: tuple[int | str, ...]
    gamma: float

    def __init__(self, milestones: Sequence[int | str], gamma: float = 0.1) -> None:
        n = "MultiStepLR"
        milestones = _steps_list(n, "milestones", milestones, lo=0)
        gamma = real(n, "gamma", gamma, lo=0.0)
        self._store(locals())

    _door_kinds = {"milestones": "array", "gamma": "float"}

    def _leaf_arguments(self, n_steps: int) -> dict[str, Any]:
        return {"milestones": sorted(cast("tuple[int, ...]", self.milestones)),  # bound: ints
                "gamma": self.gamma}

    @staticmethod
    def lr_step(k: int, lr: float, milestones: NDArray[np.float64], gamma: float) -> float:
        """lr*gamma**(times k occurs among the milestones)."""
        n: int = count_equal(milestones, float(k))
        if n == 0:
            return lr
        return lr * math.pow(gamma, float(n))

    @staticmethod
    def lr_at(k: int, base_lr: float, milestones: NDArray[np.float64], gamma: float) -> float:
        return base_lr * math.pow(gamma, float(bisect_right(milestones, float(k))))


class ExponentialLR(Schedule):
    """lr = base_lr * gamma**k (torch ExponentialLR, chainable form lr <- lr*gamma)."""
    gamma: float

    def __init__(self, gamma: float) -> None:
        gamma = real("ExponentialLR", "gamma", gamma, lo=0.0)
        self._store(locals())

    _door_kinds = {"gamma": "float"}

    @staticmethod
    def lr_step(k: int, lr: float, gamma: float) -> float:
        if k == 0:  # torch's _is_initial
            return lr
        return lr * gamma

    @staticmethod
    def lr_at(k: int, base_lr: float, gamma: float) -> float:
        return base_lr * math.pow(gamma, float(k))


class LinearLR(Schedule):
    """lr = base_lr * (s + (e - s) * min(k, total_iters)/total_iters), s/e the start/end
    factors (torch LinearLR, chainable form)."""

    _step_params = ("total_iters",)
    start_factor: float
    end_factor: float
    total_iters: int | str

    def __init__(self, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int | str = 5) -> None:
        n = "LinearLR"
        start_factor = real(n, "start_factor", start_factor, lo=0.0, hi=1.0, lo_open=True)
        end_factor = real(n, "end_factor", end_factor, lo=0.0, hi=1.0)
        total_iters = _steps(n, "total_iters", total_iters, lo=0)
        self._store(locals())

    def _check_leaf(self, optimizer: Optimizer, max_epoch: int, reset: bool) -> None:
        super()._check_leaf(optimizer, max_epoch, reset)
        if reset and self.total_iters == 0:
            raise ValueError("LinearLR: total_iters=0 inside SequentialLR divides by zero "
                             "at its milestone (as in torch)")

    _door_kinds = {"start_factor": "float", "end_factor": "float", "total_iters": "int"}

    @staticmethod
    def lr_step(k: int, lr: float, start_factor: float, end_factor: float,
                total_iters: int) -> float:
        if k == 0:
            return lr * start_factor
        if k > total_iters:
            return lr
        return lr * (1.0 + (end_factor - start_factor)
                     / (total_iters * start_factor + (k - 1) * (end_factor - start_factor)))

    @staticmethod
    def lr_at(k: int, base_lr: float, start_factor: float, end_factor: float,
              total_iters: int) -> float:
        return base_lr * (start_factor
                          + (end_factor - start_factor) * min(total_iters, k) / total_iters)


class PolynomialLR(Schedule):
    """lr = base_lr * (1 - min(k, total_iters)/total_iters)**power (torch PolynomialLR,
    chainable form)."""

    _step_params = ("total_iters",)
    total_iters: int | str
    power: float

    def __init__(self, total_iters: int | str = 5, power: float = 1.0) -> None:
        n = "PolynomialLR"
        total_iters = _steps(n, "total_iters", total_iters, lo=0)
        power = real(n, "power", power, lo=0.0)
        self._store(locals())

    def _check_leaf(self, optimizer: Optimizer, max_epoch: int, reset: bool) -> None:
        super()._check_leaf(optimizer, max_epoch, reset)
        if reset and self.total_iters == 0:
            raise ValueError("PolynomialLR: total_iters=0 inside SequentialLR divides by zero "
                             "at its milestone (as in torch)")

    _door_kinds = {"total_iters": "int", "power": "float"}

    @staticmethod
    def lr_step(k: int, lr: float, total_iters: int, power: float) -> float:
        if k == 0 or k > total_iters:  # k == 0: torch's _is_initial
            return lr
        decay = math.pow((1.0 - k / total_iters) / (1.0 - (k - 1) / total_iters), power)
        return lr * decay

    @staticmethod
    def lr_at(k: int, base_lr: float, total_iters: int, power: float) -> float:
        return base_lr * math.pow(1.0 - min(total_iters, k) / total_iters, power)


class CosineAnnealingLR(Schedule):
    """lr = eta_min + (base_lr - eta_min)(1 + cos(pi k/T_max))/2 for k <= T_max
    (torch CosineAnnealingLR; SGDR without restarts).

    Computed with torch's recursive ``get_lr`` form, so past T_max the lr follows torch's
    recursion (it rises back along the cosine) rather than the closed form.
    """

    _step_params = ("T_max",)
    T_max: int | str
    eta_min: float

    def __init__(self, T_max: int | str, eta_min: float = 0.0) -> None:
        n = "CosineAnnealingLR"
        T_max = _steps(n, "T_max", T_max, lo=1)
        eta_min = _lr_value(n, "eta_min", eta_min)
        self._store(locals())

    _door_kinds = {"T_max": "int", "eta_min": "float"}

    @staticmethod
    def lr_step(k: int, lr: float, base_lr: float, T_max: int, eta_min: float) -> float:
        """torch's recursive form, valid past T_max too."""
        if k == 0:  # torch's _is_initial
            return lr
        if py_mod(k - 1 - T_max, 2 * T_max) == 0:
            return lr + (base_lr - eta_min) * (1.0 - math.cos(math.pi / T_max)) / 2.0
        return ((1.0 + math.cos(math.pi * k / T_max))
                / (1.0 + math.cos(math.pi * (k - 1) / T_max))
                * (lr - eta_min) + eta_min)

    @staticmethod
    def lr_at(k: int, base_lr: float, T_max: int, eta_min: float) -> float:
        return eta_min + (base_lr - eta_min) * (1.0 + math.cos(math.pi * k / T_max)) / 2.0


class CosineAnnealingWarmRestarts(Schedule):
    """lr = eta_min + (base_lr - eta_min)(1 + cos(pi T_cur/T_i))/2, T_cur reset to 0 and
    T_i <- T_i*T_mult at each restart (torch CosineAnnealingWarmRestarts; SGDR,
    Loshchilov & Hutter 2017)."""

    _step_params = ("T_0",)
    T_0: int | str
    T_mult: int
    eta_min: float

    def __init__(self, T_0: int | str, T_mult: int = 1, eta_min: float = 0.0) -> None:
        n = "CosineAnnealingWarmRestarts"
        T_0 = _steps(n, "T_0", T_0, lo=1)
        T_mult = integer(n, "T_mult", T_mult, lo=1)
        eta_min = _lr_value(n, "eta_min", eta_min)
        self._store(locals())

    _door_kinds = {"T_0": "int", "T_mult": "int", "eta_min": "float"}

    @staticmethod
    def lr_at(k: int, base_lr: float, T_0: int, T_mult: int, eta_min: float) -> float:
        """T_cur and T_i of epoch k as torch's step() counts them (integers: exact, unlike
        torch's step(epoch) with a logarithm), then get_lr."""
        t_i = T_0
        if T_mult == 1:
            t_cur = k % T_0
        else:
            t_cur = k
            while t_cur >= t_i:
                t_cur -= t_i
                t_i *= T_mult
        return eta_min + (base_lr - eta_min) * (1.0 + math.cos(math.pi * t_cur / t_i)) / 2.0


_CYCLIC_MODES = {"triangular": ks.CYCLIC_TRIANGULAR, "triangular2": ks.CYCLIC_TRIANGULAR2,
                 "exp_range": ks.CYCLIC_EXP_RANGE}


class CyclicLR(Schedule):
    """Cyclical learning rate (Smith, 2017), torch CyclicLR semantics.

    cycle = floor(1 + k/(up + down)), x = 1 + k/(up + down) - cycle,
    s = x/r if x <= r else (x - 1)/(r - 1) with r = up/(up + down);
    lr = base_lr + (max_lr - base_lr) * s * a, a = 1 (triangular), 1/2**(cycle-1)
    (triangular2) or gamma**k (exp_range); or, with ``scale_fn`` (a numba-compilable function,
    or a ``"module:name"`` string, as FunctionLR's ``fn``; ``mode`` is then ignored),
    a = scale_fn(cycle) (``scale_mode="cycle"``) or scale_fn(k) (``"iterations"``).
    With ``cycle_momentum`` the momentum (or beta1) runs the other way: max_momentum -
    (max_momentum - base_momentum) * s * a. As in torch, the optimizer's lr is replaced by
    ``base_lr`` (and its momentum by ``max_momentum``) at construction; cycle_momentum needs
    an optimizer with momentum or betas.
    """

    _step_params = ("step_size_up", "step_size_down")
    #: True for a spec built inside ``reading_back()`` whose scale_fn stays unimported
    read_back = False
    base_lr: float
    max_lr: float
    step_size_up: int | str
    step_size_down: int | str | None
    mode: str
    gamma: float
    scale_fn: Callable[[int], float] | str | None
    scale_mode: str
    cycle_momentum: bool
    base_momentum: float
    max_momentum: float

    def __init__(self, base_lr: float, max_lr: float, step_size_up: int | str = 2000,
                 step_size_down: int | str | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Callable[[int], float] | str | None = None,
                 scale_mode: str = "cycle", cycle_momentum: bool = True, base_momentum: float = 0.8,
                 max_momentum: float = 0.9) -> None:
        n = "CyclicLR"
        if scale_fn is not None:
            scale_fn, self.read_back = function_argument(n, "scale_fn", scale_fn)
        choice(n, "scale_mode", scale_mode, ("cycle", "iterations"))
        base_lr = _lr_value(n, "base_lr", base_lr)
        max_lr = _lr_value(n, "max_lr", max_lr)
        step_size_up = _steps(n, "step_size_up", step_size_up, lo=1)
        if step_size_down is not None:
            step_size_down = _steps(n, "step_size_down", step_size_down, lo=0)
        choice(n, "mode", mode, list(_CYCLIC_MODES))
        gamma = real(n, "gamma", gamma, lo=0.0)
        cycle_momentum = boolean(n, "cycle_momentum", cycle_momentum)
        base_momentum = real(n, "base_momentum", base_momentum, lo=0.0)
        max_momentum = real(n, "max_momentum", max_momentum, lo=0.0)
        self._store(locals())

    _door_kinds = {"max_lr": "float", "total_size": "float", "step_ratio": "float",
                   "mode": "int", "gamma": "float", "scale": "array", "base_momentum": "float",
                   "max_momentum": "float"}

    def _leaf_arguments(self, n_steps: int) -> dict[str, Any]:
        up = float(self.step_size_up)
        down = float(self.step_size_down) if self.step_size_down is not None else up
        total = up + down
        mode, table = _CYCLIC_MODES[self.mode], np.zeros(0)
        if self.scale_fn is not None:  # tabulated at every cycle (or step) the run reaches
            by_cycle = self.scale_mode == "cycle"
            n = int(1 + n_steps // total) + 1 if by_cycle else n_steps + 1
            table = tabulate("CyclicLR", "scale_fn", self.scale_fn, n, self.read_back)
            mode = ks.CYCLIC_TABLE_CYCLE if by_cycle else ks.CYCLIC_TABLE_ITERATIONS
        return {"max_lr": self.max_lr, "total_size": total, "step_ratio": up / total,
                "mode": mode, "gamma": self.gamma, "scale": table,
                "base_momentum": self.base_momentum, "max_momentum": self.max_momentum}

    def group_at_construction(self) -> list[tuple[str, float]]:
        """The group's lr is base_lr (and its momentum max_momentum) from construction on;
        the scheduler's base_lrs become base_lr after its initial step."""
        sets = [("lr", self.base_lr)]
        if self.cycle_momentum:
            sets += [("momentum", self.max_momentum), ("max_momentum", self.max_momentum),
                     ("base_momentum", self.base_momentum)]
        return sets + [("base_lrs", self.base_lr)]

    @property
    def sets_momentum(self) -> bool:
        return self.cycle_momentum

    @staticmethod
    def lr_at(k: int, base_lr: float, max_lr: float, total_size: float, step_ratio: float,
              mode: int, gamma: float, scale: NDArray[np.float64]) -> float:
        """CyclicLR.get_lr (Smith, 2017): lr in [base_lr, max_lr]."""
        cycle, scale_factor = cyclic_scale(k, total_size, step_ratio)
        base_height = (max_lr - base_lr) * scale_factor
        return float(base_lr + base_height * cyclic_amplitude(k, cycle, mode, gamma, scale))

    @staticmethod
    def momentum_at(k: int, base_momentum: float, max_momentum: float, total_size: float,
                    step_ratio: float, mode: int, gamma: float,
                    scale: NDArray[np.float64]) -> float:
        """max_momentum - (max - base)*scale, opposite to the lr."""
        cycle, scale_factor = cyclic_scale(k, total_size, step_ratio)
        base_height = (max_momentum - base_momentum) * scale_factor
        return float(max_momentum
                     - base_height * cyclic_amplitude(k, cycle, mode, gamma, scale))

    def _check_leaf(self, optimizer: Optimizer, max_epoch: int, reset: bool) -> None:
        super()._check_leaf(optimizer, max_epoch, reset)
        if self.scale_fn is not None and not self.read_back:
            tabulate("CyclicLR", "scale_fn", self.scale_fn, 1, False)


class OneCycleLR(Schedule):
    """1cycle policy (Smith & Topin, 2018), torch OneCycleLR semantics.

    Starts at max_lr/div_factor, anneals (cos or linear) up to max_lr over the first
    pct_start*total_steps steps, then down to max_lr/(div_factor*final_div_factor) at step
    total_steps - 1 (three_phase: back to the initial lr at 2*pct_start*total_steps, then
    down to the minimum). With ``cycle_momentum`` momentum/beta1 runs the opposite way
    between base_momentum and max_momentum. Give ``total_steps`` (may be ``"steps"``) or
    torch's ``epochs`` and ``steps_per_epoch``. A run longer than total_steps is refused
    (torch raises when stepped past total_steps); the optimizer's own lr is not used.
    """

    _step_params = ("total_steps",)
    max_lr: float
    total_steps: int | str | None
    epochs: int | None
    steps_per_epoch: int | None
    pct_start: float
    anneal_strategy: str
    cycle_momentum: bool
    base_momentum: float
    max_momentum: float
    div_factor: float
    final_div_factor: float
    three_phase: bool

    def __init__(self, max_lr: float, total_steps: int | str | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float = 0.85, max_momentum: float = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False) -> None:
        n = "OneCycleLR"
        max_lr = _lr_value(n, "max_lr", max_lr)
        if total_steps is not None:
            total_steps = _steps(n, "total_steps", total_steps, lo=1)
        if epochs is not None:
            epochs = integer(n, "epochs", epochs, lo=1)
        if steps_per_epoch is not None:
            steps_per_epoch = integer(n, "steps_per_epoch", steps_per_epoch, lo=1)
        if total_steps is None and (epochs is None or steps_per_epoch is None):
            raise ValueError("OneCycleLR: total_steps is required (or both epochs and "
                             "steps_per_epoch)")
        pct_start = real(n, "pct_start", pct_start, lo=0.0, hi=1.0)
        choice(n, "anneal_strategy", anneal_strategy, ["cos", "linear"])
        cycle_momentum = boolean(n, "cycle_momentum", cycle_momentum)
        base_momentum = real(n, "base_momentum", base_momentum, lo=0.0)
        max_momentum = real(n, "max_momentum", max_momentum, lo=0.0)
        div_factor = real(n, "div_factor", div_factor, lo=0.0, lo_open=True)
        final_div_factor = real(n, "final_div_factor", final_div_factor, lo=0.0, lo_open=True)
        three_phase = boolean(n, "three_phase", three_phase)
        self._store(locals())

    @property
    def steps_total(self) -> int:
        """total_steps, or epochs * steps_per_epoch."""
        if self.total_steps is not None:
            return cast(int, self.total_steps)  # bound: an int
        # __init__ asked for both epochs and steps_per_epoch without total_steps
        return cast(int, self.epochs) * cast(int, self.steps_per_epoch)

    def _check_leaf(self, optimizer: Optimizer, max_epoch: int, reset: bool) -> None:
        super()._check_leaf(optimizer, max_epoch, reset)
        total = self.steps_total
        if max_epoch > total:
            raise ValueError(
                f"OneCycleLR: total_steps={total} is shorter than the run ({max_epoch} steps); "
                f"torch raises when stepped past total_steps"
            )
        ends = [float(self.pct_start * total) - 1.0]
        if self.three_phase:
            ends.append(float(2 * self.pct_start * total) - 2.0)
        ends.append(total - 1.0)
        starts = [0.0] + ends[:-1]
        if any(e == s for s, e in zip(starts, ends)):
            raise ValueError(
                f"OneCycleLR: pct_start={self.pct_start} with total_steps={total} gives a phase "
                f"of zero length (torch divides by zero)"
            )

    _door_kinds = {"total_steps": "int", "pct_start": "float", "anneal": "int",
                   "three_phase": "bool"}

    def _leaf_arguments(self, n_steps: int) -> dict[str, Any]:
        return {"total_steps": self.steps_total, "pct_start": self.pct_start,
                "anneal": ks.ANNEAL_COS if self.anneal_strategy == "cos" else ks.ANNEAL_LINEAR,
                "three_phase": self.three_phase}

    def group_at_construction(self) -> list[tuple[str, float]]:
        """torch stores initial_lr, max_lr, min_lr (and the momenta) in the group."""
        initial_lr = self.max_lr / self.div_factor
        sets = [("initial_lr", initial_lr), ("max_lr", self.max_lr),
                ("min_lr", initial_lr / self.final_div_factor)]
        if self.cycle_momentum:
            sets += [("momentum", self.max_momentum), ("max_momentum", self.max_momentum),
                     ("base_momentum", self.base_momentum)]
        return sets

    @property
    def sets_momentum(self) -> bool:
        return self.cycle_momentum

    @staticmethod
    def lr_step(k: int, total_steps: int, pct_start: float, anneal: int, three_phase: bool,
                group_initial_lr: float, group_max_lr: float, group_min_lr: float,
                group_max_momentum: float, group_base_momentum: float) -> float:
        """OneCycleLR.get_lr, from the values torch keeps in the param group."""
        return float(one_cycle(float(k), total_steps, pct_start, anneal, three_phase,
                               group_initial_lr, group_max_lr, group_min_lr,
                               group_max_momentum, group_base_momentum)[0])

    @staticmethod
    def momentum_at(k: int, total_steps: int, pct_start: float, anneal: int,
                    three_phase: bool, group_initial_lr: float, group_max_lr: float,
                    group_min_lr: float, group_max_momentum: float,
                    group_base_momentum: float) -> float:
        return float(one_cycle(float(k), total_steps, pct_start, anneal, three_phase,
                               group_initial_lr, group_max_lr, group_min_lr,
                               group_max_momentum, group_base_momentum)[1])


class ReduceLROnPlateau(Schedule):
    """Divide the lr by 1/factor when the loss stops improving (torch ReduceLROnPlateau).

    better: rel/min  loss < best*(1 - threshold);  abs/min  loss < best - threshold
    (mirrored for mode='max'). After more than ``patience`` non-improving steps outside a
    cooldown: lr <- max(lr*factor, min_lr), skipped when the change is at most eps; then
    ``cooldown`` steps during which bad steps are not counted. The engine feeds it, after
    each step, the loss recorded for that step, per trajectory (``plateau_update`` in
    :mod:`optbench.kernels.engine`); ``tables`` only holds the base lr.

    Extra keyword (not in torch): ``loss_ema`` in [0, 1). With 0 (the default) the metric is
    the exact recorded loss, as in torch. For stochastic problems, ``loss_ema = beta`` feeds
    instead an exponential moving average of the sampled (minibatch) loss,
    a_k = beta*a_{k-1} + (1 - beta)*l_k with a_0 = l_0: what a training loop without access to
    the full objective would monitor.
    """

    is_plateau = True
    mode: str
    factor: float
    patience: int
    threshold: float
    threshold_mode: str
    cooldown: int
    min_lr: float
    eps: float
    loss_ema: float

    def __init__(self, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8, loss_ema: float = 0.0) -> None:
        n = "ReduceLROnPlateau"
        choice(n, "mode", mode, ["min", "max"])
        factor = real(n, "factor", factor, lo=0.0, hi=1.0, hi_open=True)
        patience = integer(n, "patience", patience, lo=0)
        threshold = real(n, "threshold", threshold, lo=0.0)
        choice(n, "threshold_mode", threshold_mode, ["rel", "abs"])
        cooldown = integer(n, "cooldown", cooldown, lo=0)
        min_lr = _lr_value(n, "min_lr", min_lr)
        eps = real(n, "eps", eps, lo=0.0)
        loss_ema = real(n, "loss_ema", loss_ema, lo=0.0, hi=1.0, hi_open=True)
        self._store(locals())

    def plateau_fmeta(self) -> dict[int, float]:
        """{fmeta column (``optbench.layout``): value} for the kernels' ``plateau_update``."""
        return {
            layout.F_PL_MAXIMIZE: 1.0 if self.mode == "max" else 0.0,
            layout.F_PL_FACTOR: self.factor,
            layout.F_PL_PATIENCE: float(self.patience),
            layout.F_PL_THRESHOLD: self.threshold,
            layout.F_PL_ABS: 1.0 if self.threshold_mode == "abs" else 0.0,
            layout.F_PL_COOLDOWN: float(self.cooldown),
            layout.F_PL_MIN_LR: self.min_lr,
            layout.F_PL_EPS: self.eps,
            layout.F_PL_EMA: self.loss_ema,
        }

    _door_kinds: dict[str, str] = {}

    @staticmethod
    def lr_step(k: int, lr: float) -> float:
        """Its table holds the optimizer's lr; the engine lowers it (``plateau_update``)."""
        return lr


# ---- compositions ---------------------------------------------------------------------------


def _schedule_list(owner: str, value: object) -> tuple[Schedule, ...]:
    if isinstance(value, (str, bytes, Spec, dict)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{owner}: schedulers must be a list of schedules, got {value!r}")
    out = []
    for i, item in enumerate(value):
        where = f"{owner}: schedulers[{i}]: "
        if isinstance(item, dict):
            try:
                item = schedule_from_dict(item)
            except ValueError as exc:
                raise ValueError(f"{where}{exc}") from None
        if not isinstance(item, Schedule):
            raise ValueError(f"{where}must be a schedule, got {item!r}")
        if item.is_plateau:
            raise ValueError(f"{owner}: schedulers[{i}]: ReduceLROnPlateau cannot be "
                             f"composed (it needs the loss at each step; torch refuses it too)")
        if isinstance(item, (SequentialLR, ChainedScheduler)):
            raise ValueError(f"{owner}: schedulers[{i}]: nested compositions are not supported")
        out.append(item)
    if not out:
        raise ValueError(f"{owner}: schedulers must hold at least one schedule")
    return tuple(out)


class SequentialLR(Schedule):
    """Run ``schedulers[i]`` from milestone i-1 to milestone i (torch SequentialLR).

    torch's exact semantics, warts included: every child is constructed in order on the
    same optimizer (so construction side effects such as OneCycleLR's initial_lr apply),
    the lr is then reset to the initial lr and the first child redoes its initial step; at
    each milestone the next child is restarted at its epoch 0 (its closed form where torch
    has one). Children must be plain schedules (no ReduceLROnPlateau, no nesting);
    milestones must be strictly increasing and >= 1, one fewer than the schedulers.
    """

    _step_params = ("milestones",)
    extra_sequence_params = ("milestones",)  # one list, not a grid
    schedulers: tuple[Schedule, ...]
    milestones: tuple[int | str, ...]

    def __init__(self, schedulers: Iterable[Schedule | Mapping[str, Any]],
                 milestones: Sequence[int | str]) -> None:
        n = "SequentialLR"
        schedulers = _schedule_list(n, schedulers)
        milestones = _steps_list(n, "milestones", milestones, lo=1)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"SequentialLR: milestones must have one entry fewer than schedulers "
                f"({len(schedulers)} schedulers), got {len(milestones)} milestones"
            )
        if not _is_relative(milestones):
            _increasing(cast("tuple[int, ...]", milestones))
        self._store(locals())

    def bind(self, n_steps: int) -> Self:
        bound = super().bind(n_steps)
        children = tuple(c.bind(n_steps) for c in bound.schedulers)
        if all(a is b for a, b in zip(children, bound.schedulers)):
            return bound
        return bound.replace(schedulers=children)

    def is_relative(self) -> bool:
        return super().is_relative() or any(c.is_relative() for c in self.schedulers)

    def check(self, optimizer: object, n_steps: int) -> None:
        _increasing(cast("tuple[int, ...]", self.bind(_n_steps(n_steps)).milestones))
        super().check(optimizer, n_steps)

    def _kind(self) -> int:
        return ks.K_SEQUENTIAL

    def _children(self) -> tuple[Schedule, ...]:
        return self.schedulers

    def _seq_milestones(self) -> list[int]:
        return list(cast("tuple[int, ...]", self.milestones))  # bound: ints

    def _epoch_ranges(self, n_steps: int) -> list[tuple[Schedule, int, bool]]:
        out: list[tuple[Schedule, int, bool]] = []
        milestones = cast("tuple[int, ...]", self.milestones)  # bound: ints
        starts = [0] + list(milestones)
        ends = list(milestones) + [n_steps + 1]
        for i, child in enumerate(self.schedulers):
            if starts[i] > n_steps:
                out.append((child, 0, False))
            else:
                out.append((child, min(n_steps, ends[i] - 1) - starts[i], i > 0))
        return out

    def label(self) -> str:
        parts = " -> ".join(c.label() for c in self.schedulers)
        return f"SequentialLR({parts} @ {list(self.milestones)})"


def _increasing(milestones: Sequence[int]) -> None:
    for a, b in zip(milestones, milestones[1:]):
        if not b > a:
            raise ValueError(f"SequentialLR: milestones must be strictly increasing, "
                             f"got {list(milestones)}")


class ChainedScheduler(Schedule):
    """Step every schedule in order after each optimizer step (torch ChainedScheduler).

    The chainable schedules then multiply their factors; schedules that set the lr outright
    (CyclicLR, OneCycleLR, CosineAnnealingWarmRestarts, the LambdaLR-like ones) override
    what the earlier ones wrote, exactly as in torch. Children are constructed in order on
    one optimizer, so their construction steps chain too. No ReduceLROnPlateau, no nesting.
    """
    schedulers: tuple[Schedule, ...]

    def __init__(self, schedulers: Iterable[Schedule | Mapping[str, Any]]) -> None:
        schedulers = _schedule_list("ChainedScheduler", schedulers)
        self._store(locals())

    def bind(self, n_steps: int) -> Self:
        children = tuple(c.bind(n_steps) for c in self.schedulers)
        if all(a is b for a, b in zip(children, self.schedulers)):
            return self
        return self.replace(schedulers=children)

    def is_relative(self) -> bool:
        return any(c.is_relative() for c in self.schedulers)

    def _children(self) -> tuple[Schedule, ...]:
        return self.schedulers

    def _epoch_ranges(self, n_steps: int) -> list[tuple[Schedule, int, bool]]:
        return [(c, n_steps, False) for c in self.schedulers]

    def label(self) -> str:
        return f"ChainedScheduler({' * '.join(c.label() for c in self.schedulers)})"


# ---- schedules torch lacks -----------------------------------------------------------------
