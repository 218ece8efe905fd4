"""Learning-rate schedule specifications, with torch.optim.lr_scheduler's names and keywords.

A spec holds parameters only; the formulas live once, in :mod:`optbench.schedule_tables`,
shared by the CPU and CUDA engines. Every class takes torch's keywords and defaults minus
``optimizer``, ``last_epoch`` and ``verbose``; the optimizer's own lr plays the part of
torch's ``initial_lr`` / ``base_lrs``.

Per-step convention: ``tables(optimizer, n_steps)`` returns ``(lr, momentum)``, each of
length ``n_steps + 1``: ``lr[k]`` is torch's ``optimizer.param_groups[0]['lr']`` after k calls
of ``scheduler.step()`` (one after each ``optimizer.step()``), i.e. the lr of optimizer step k;
``momentum[k]`` likewise for ``momentum`` (SGD, RMSprop) or ``betas[0]`` (the Adam family),
NaN where no schedule sets it.

Integer step-count parameters (``T_max``, ``total_steps``, ``total_iters``, ``step_size``,
``milestones`` entries, ``T_0``, ``decay_steps``, ``warmup_steps``, ...) may be given relative
to the run length as a string: ``"steps"``, ``"steps/2"``, ``"0.5*steps"``, ``"steps - 100"``
(numbers, ``steps``, ``+ - * / //`` and parentheses; the value is rounded down).
``bind(n_steps)`` resolves them.

Schedules torch lacks: :class:`InverseTimeDecay` (Keras), :class:`WarmupCosine` (optax),
:class:`PerStepLR` (explicit per-step values) and :class:`FunctionLR` (a jitted function of
the step, torch's LambdaLR).

A user's schedule is a subclass with parameters (a validating ``__init__`` that calls
``self._store(locals())``) and ``lr_at``: a numba-compilable function returning the lr of
step k, its arguments taken by name from ``k``, ``base_lr`` (the optimizer's lr) and the
schedule's parameters; optionally ``momentum_at`` (``k``, ``base_momentum``: the optimizer's
momentum or beta1, and the parameters). It runs on its own (not inside SequentialLR or
ChainedScheduler); suites name it ``module:object``; run directories record its source hash
and reading them never imports it.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import importlib
import math
import re

import numpy as np

from . import schedule_tables as ks
from .spec import Registry, Spec, boolean, choice, integer, is_builtin, real, stand_in

REGISTRY = Registry("schedule")


# ---- relative step counts ---------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|(steps)\b|(//|[-+*/()]))")


def _tokens(text):
    pos = 0
    out = []
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

    def peek():
        return toks[pos] if pos < len(toks) else (None, None)

    def take():
        nonlocal pos
        tok = peek()
        pos += 1
        return tok

    def expr():
        value = term()
        while peek() in (("op", "+"), ("op", "-")):
            op = take()[1]
            rhs = term()
            value = value + rhs if op == "+" else value - rhs
        return value

    def term():
        value = factor()
        while peek() in (("op", "*"), ("op", "/"), ("op", "//")):
            op = take()[1]
            rhs = factor()
            if op != "*" and rhs == 0:
                raise ValueError("division by zero")
            value = value * rhs if op == "*" else value / rhs if op == "/" else value // rhs
        return value

    def factor():
        kind, value = take()
        if kind == "num":
            return value
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


def _steps(owner, name, value, lo=None):
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


def _steps_list(owner, name, value, lo=None):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{owner}: {name} must be a list of step counts, got {value!r}")
    return tuple(_steps(owner, f"{name}[{i}]", v, lo=lo) for i, v in enumerate(value))


def _is_relative(value):
    if isinstance(value, tuple):
        return any(isinstance(v, str) for v in value)
    return isinstance(value, str)


def _n_steps(n_steps):
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
    _step_params: tuple = ()
    #: a user's schedule: lr of step k from ``k``, ``base_lr`` and its parameters (module doc)
    lr_at = None
    #: a user's schedule, optionally: momentum/beta1 of step k from ``k``, ``base_momentum``
    #: and its parameters
    momentum_at = None

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if is_builtin(cls):
            REGISTRY.register(cls)  # a user's schedule is named "module:object"

    # -- run-length binding
    def is_relative(self) -> bool:
        """Whether some step-count parameter is given relative to the run length."""
        return any(_is_relative(getattr(self, name)) for name in self._step_params)

    def bind(self, n_steps):
        """The concrete schedule for a run of ``n_steps`` (``self`` when nothing is relative)."""
        n_steps = _n_steps(n_steps)
        changes = {}
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
    def check(self, optimizer, n_steps) -> None:
        """Raise ValueError (one line) if this schedule cannot drive ``optimizer`` for
        ``n_steps`` steps exactly as torch would; nothing runs before this passes."""
        from .optimizers import Optimizer

        n_steps = _n_steps(n_steps)
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"{type(self).__name__}: optimizer must be an optimizer spec, "
                             f"got {optimizer!r}")
        bound = self.bind(n_steps)
        for child, max_epoch, reset in bound._epoch_ranges(n_steps):
            if child.lr_at is not None and child is not bound:
                raise ValueError(f"{child.type_name()}: a user schedule runs on its own, not "
                                 f"inside {type(bound).__name__}")
            child._check_leaf(optimizer, max_epoch, reset)

    def tables(self, optimizer, n_steps):
        """``(lr, momentum)``: float64 arrays of length ``n_steps + 1`` (see module doc)."""
        n_steps = _n_steps(n_steps)
        self.check(optimizer, n_steps)
        bound = self.bind(n_steps)
        if bound.lr_at is not None:
            return bound._user_tables(optimizer, n_steps)
        children = bound._children()
        data = []
        codes = np.zeros(len(children), dtype=np.int64)
        params = np.zeros((len(children), ks.N_PARAMS))
        for c, child in enumerate(children):
            code, row = child._encode(n_steps, data)
            codes[c] = code
            params[c, :len(row)] = row
        data_arr = np.array(data if data else [0.0], dtype=np.float64)
        milestones = np.array(bound._seq_milestones(), dtype=np.int64)
        lr = np.empty(n_steps + 1)
        mom = np.empty(n_steps + 1)
        group = np.empty(ks.N_GROUP)
        state = np.zeros((len(children), ks.N_STATE))
        ks.fill_tables(bound._kind(), codes, params, data_arr, milestones, float(optimizer.lr),
                       group, state, lr, mom)
        return lr, mom

    # -- hooks (leaves use these defaults; compositions override)
    def _kind(self):
        return ks.K_CHAINED

    def _children(self):
        return (self,)

    def _seq_milestones(self):
        return []

    def _epoch_ranges(self, n_steps):
        """(leaf, largest last_epoch it reaches, whether SequentialLR resets it to 0)."""
        return [(self, n_steps, False)]

    def _check_leaf(self, optimizer, max_epoch, reset) -> None:
        if getattr(self, "cycle_momentum", False) and optimizer.momentum_keyword is None:
            raise ValueError(
                f"{type(self).__name__}: cycle_momentum=True needs an optimizer with momentum "
                f"or betas, and {type(optimizer).__name__} has neither "
                f"(set cycle_momentum=False)"
            )
        if self.lr_at is not None:
            from .codegen import check_compiles, check_names

            check_names(type(self))
            check_compiles(type(self))
            if self.momentum_at is not None and optimizer.momentum_keyword is None:
                raise ValueError(f"{type(self).type_name()}: momentum_at needs an optimizer "
                                 f"with momentum or betas, and {type(optimizer).__name__} "
                                 "has neither")

    def _user_tables(self, optimizer, n_steps):
        """A user schedule's (lr, momentum) tables: its compiled functions at k = 0..n_steps."""
        from .codegen import _arguments, compiled_rule

        values = {"base_lr": float(optimizer.lr), **self.params()}
        if self.momentum_at is not None:
            values["base_momentum"] = float(optimizer.hyperparams()[1])
        tables = []
        for fn_name in ("lr_at", "momentum_at"):
            if getattr(self, fn_name) is None:
                tables.append(np.full(n_steps + 1, np.nan))
                continue
            fn = compiled_rule(type(self), fn_name)
            names = _arguments(getattr(self, fn_name))
            tables.append(np.array([fn(*(k if a == "k" else values[a] for a in names))
                                    for k in range(n_steps + 1)], dtype=np.float64))
        return tables[0], tables[1]

    def _encode(self, n_steps, data):
        raise NotImplementedError

    @property
    def sets_momentum(self) -> bool:
        """Whether this schedule writes the optimizer's momentum/beta1."""
        return any(getattr(c, "cycle_momentum", False) or c.momentum_at is not None
                   for c in self._children())


def plugin_record(cls) -> dict:
    """What a run directory records of a user's schedule class: source hash, files,
    defaults and whether it sets the momentum."""
    from .codegen import plugin_provenance

    if "record" in cls.__dict__:  # a stand-in read back from a run directory
        return cls.record
    return {**plugin_provenance(cls), "sets_momentum": cls.momentum_at is not None}


def stored_schedule(type_name: str, record: dict) -> type:
    """A stand-in for a user's schedule class named ``"module:object"`` in a run directory,
    built from the manifest's record without importing the user's code: it labels and
    hashes like the original and cannot tabulate."""

    def tables(self, optimizer, n_steps):
        raise ValueError(f"{type_name} was read back from a run directory without its code "
                         "and cannot run; run (or --resume) from the suite file")

    return stand_in(Schedule, type_name, record, {
        "tables": tables, "sets_momentum": bool(record.get("sets_momentum", False))})


def _lr_value(owner, name, value):
    return real(owner, name, value, lo=0.0)


def _push(data, values):
    off = len(data)
    data.extend(float(v) for v in values)
    return off


# ---- torch schedules -----------------------------------------------------------------------


class ConstantLR(Schedule):
    """lr = base_lr * factor for epochs < total_iters, then base_lr (torch ConstantLR).

    Chainable form: lr*factor at step 0, lr/factor at step total_iters.
    """

    _step_params = ("total_iters",)

    def __init__(self, factor=1.0 / 3, total_iters=5):
        n = "ConstantLR"
        factor = real(n, "factor", factor, lo=0.0, hi=1.0)
        total_iters = _steps(n, "total_iters", total_iters, lo=0)
        self._store(locals())

    def _check_leaf(self, optimizer, max_epoch, reset):
        super()._check_leaf(optimizer, max_epoch, reset)
        if self.factor == 0.0 and 0 < self.total_iters <= max_epoch:
            raise ValueError("ConstantLR: factor=0 divides by zero at total_iters (as in torch)")

    def _encode(self, n_steps, data):
        return ks.S_CONSTANT, (self.factor, self.total_iters)


class StepLR(Schedule):
    """lr = base_lr * gamma**floor(k / step_size) (torch StepLR, chainable form)."""

    _step_params = ("step_size",)

    def __init__(self, step_size, gamma=0.1):
        n = "StepLR"
        step_size = _steps(n, "step_size", step_size, lo=1)
        gamma = real(n, "gamma", gamma, lo=0.0)
        self._store(locals())

    def _encode(self, n_steps, data):
        return ks.S_STEP, (self.step_size, self.gamma)


class MultiStepLR(Schedule):
    """lr = base_lr * gamma**(number of milestones <= k) (torch MultiStepLR).

    Repeated milestones multiply by gamma once per repetition, as in torch.
    """

    _step_params = ("milestones",)
    extra_sequence_params = ("milestones",)  # one list, not a grid

    def __init__(self, milestones, gamma=0.1):
        n = "MultiStepLR"
        milestones = _steps_list(n, "milestones", milestones, lo=0)
        gamma = real(n, "gamma", gamma, lo=0.0)
        self._store(locals())

    def _encode(self, n_steps, data):
        ms = sorted(self.milestones)
        return ks.S_MULTISTEP, (self.gamma, _push(data, ms), len(ms))


class ExponentialLR(Schedule):
    """lr = base_lr * gamma**k (torch ExponentialLR, chainable form lr <- lr*gamma)."""

    def __init__(self, gamma):
        gamma = real("ExponentialLR", "gamma", gamma, lo=0.0)
        self._store(locals())

    def _encode(self, n_steps, data):
        return ks.S_EXPONENTIAL, (self.gamma,)


class LinearLR(Schedule):
    """lr = base_lr * (s + (e - s) * min(k, total_iters)/total_iters), s/e the start/end
    factors (torch LinearLR, chainable form)."""

    _step_params = ("total_iters",)

    def __init__(self, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        n = "LinearLR"
        start_factor = real(n, "start_factor", start_factor, lo=0.0, hi=1.0, lo_open=True)
        end_factor = real(n, "end_factor", end_factor, lo=0.0, hi=1.0)
        total_iters = _steps(n, "total_iters", total_iters, lo=0)
        self._store(locals())

    def _check_leaf(self, optimizer, max_epoch, reset):
        super()._check_leaf(optimizer, max_epoch, reset)
        if reset and self.total_iters == 0:
            raise ValueError("LinearLR: total_iters=0 inside SequentialLR divides by zero "
                             "at its milestone (as in torch)")

    def _encode(self, n_steps, data):
        return ks.S_LINEAR, (self.start_factor, self.end_factor, self.total_iters)


class PolynomialLR(Schedule):
    """lr = base_lr * (1 - min(k, total_iters)/total_iters)**power (torch PolynomialLR,
    chainable form)."""

    _step_params = ("total_iters",)

    def __init__(self, total_iters=5, power=1.0):
        n = "PolynomialLR"
        total_iters = _steps(n, "total_iters", total_iters, lo=0)
        power = real(n, "power", power, lo=0.0)
        self._store(locals())

    def _check_leaf(self, optimizer, max_epoch, reset):
        super()._check_leaf(optimizer, max_epoch, reset)
        if reset and self.total_iters == 0:
            raise ValueError("PolynomialLR: total_iters=0 inside SequentialLR divides by zero "
                             "at its milestone (as in torch)")

    def _encode(self, n_steps, data):
        return ks.S_POLYNOMIAL, (self.total_iters, self.power)


class CosineAnnealingLR(Schedule):
    """lr = eta_min + (base_lr - eta_min)(1 + cos(pi k/T_max))/2 for k <= T_max
    (torch CosineAnnealingLR; SGDR without restarts).

    Computed with torch's recursive ``get_lr`` form, so past T_max the lr follows torch's
    recursion (it rises back along the cosine) rather than the closed form.
    """

    _step_params = ("T_max",)

    def __init__(self, T_max, eta_min=0.0):
        n = "CosineAnnealingLR"
        T_max = _steps(n, "T_max", T_max, lo=1)
        eta_min = _lr_value(n, "eta_min", eta_min)
        self._store(locals())

    def _encode(self, n_steps, data):
        return ks.S_COSINE, (self.T_max, self.eta_min)


class CosineAnnealingWarmRestarts(Schedule):
    """lr = eta_min + (base_lr - eta_min)(1 + cos(pi T_cur/T_i))/2, T_cur reset to 0 and
    T_i <- T_i*T_mult at each restart (torch CosineAnnealingWarmRestarts; SGDR,
    Loshchilov & Hutter 2017)."""

    _step_params = ("T_0",)

    def __init__(self, T_0, T_mult=1, eta_min=0.0):
        n = "CosineAnnealingWarmRestarts"
        T_0 = _steps(n, "T_0", T_0, lo=1)
        T_mult = integer(n, "T_mult", T_mult, lo=1)
        eta_min = _lr_value(n, "eta_min", eta_min)
        self._store(locals())

    def _encode(self, n_steps, data):
        return ks.S_WARM_RESTARTS, (self.T_0, self.T_mult, self.eta_min)


_CYCLIC_MODES = {"triangular": ks.CYCLIC_TRIANGULAR, "triangular2": ks.CYCLIC_TRIANGULAR2,
                 "exp_range": ks.CYCLIC_EXP_RANGE}


class CyclicLR(Schedule):
    """Cyclical learning rate (Smith, 2017), torch CyclicLR semantics.

    cycle = floor(1 + k/(up + down)), x = 1 + k/(up + down) - cycle,
    s = x/r if x <= r else (x - 1)/(r - 1) with r = up/(up + down);
    lr = base_lr + (max_lr - base_lr) * s * a, a = 1 (triangular), 1/2**(cycle-1)
    (triangular2) or gamma**k (exp_range). With ``cycle_momentum`` the momentum (or beta1)
    runs the other way: max_momentum - (max_momentum - base_momentum) * s * a.
    As in torch, the optimizer's lr is replaced by ``base_lr`` (and its momentum by
    ``max_momentum``) at construction; cycle_momentum needs an optimizer with momentum or
    betas. torch's ``scale_fn``/``scale_mode`` are not supported.
    """

    _step_params = ("step_size_up", "step_size_down")

    def __init__(self, base_lr, max_lr, step_size_up=2000, step_size_down=None,
                 mode="triangular", gamma=1.0, cycle_momentum=True, base_momentum=0.8,
                 max_momentum=0.9):
        n = "CyclicLR"
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

    def _encode(self, n_steps, data):
        up = float(self.step_size_up)
        down = float(self.step_size_down) if self.step_size_down is not None else up
        total = up + down
        return ks.S_CYCLIC, (self.base_lr, self.max_lr, total, up / total,
                             _CYCLIC_MODES[self.mode], self.gamma, self.cycle_momentum,
                             self.base_momentum, self.max_momentum)


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

    def __init__(self, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False):
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
    def steps_total(self):
        """total_steps, or epochs * steps_per_epoch."""
        if self.total_steps is not None:
            return self.total_steps
        return self.epochs * self.steps_per_epoch

    def _check_leaf(self, optimizer, max_epoch, reset):
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

    def _encode(self, n_steps, data):
        return ks.S_ONE_CYCLE, (self.max_lr, self.steps_total, self.pct_start,
                                ks.ANNEAL_COS if self.anneal_strategy == "cos"
                                else ks.ANNEAL_LINEAR,
                                self.cycle_momentum, self.base_momentum, self.max_momentum,
                                self.div_factor, self.final_div_factor, self.three_phase)


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

    def __init__(self, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8, loss_ema=0.0):
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

    def plateau_fmeta(self) -> dict:
        """{fmeta column of optbench.kernels.engine: value} for ``plateau_update``."""
        from .kernels import engine as ke

        return {
            ke.F_PL_MAXIMIZE: 1.0 if self.mode == "max" else 0.0,
            ke.F_PL_FACTOR: self.factor,
            ke.F_PL_PATIENCE: float(self.patience),
            ke.F_PL_THRESHOLD: self.threshold,
            ke.F_PL_ABS: 1.0 if self.threshold_mode == "abs" else 0.0,
            ke.F_PL_COOLDOWN: float(self.cooldown),
            ke.F_PL_MIN_LR: self.min_lr,
            ke.F_PL_EPS: self.eps,
            ke.F_PL_EMA: self.loss_ema,
        }

    def _encode(self, n_steps, data):
        return ks.S_HOLD, ()


# ---- compositions ---------------------------------------------------------------------------


def _schedule_list(owner, value):
    if isinstance(value, (str, bytes, Spec, dict)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{owner}: schedulers must be a list of schedules, got {value!r}")
    out = []
    for i, item in enumerate(value):
        where = f"{owner}: schedulers[{i}]: "
        if isinstance(item, dict):
            try:
                item = Schedule.from_dict(item)
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

    def __init__(self, schedulers, milestones):
        n = "SequentialLR"
        schedulers = _schedule_list(n, schedulers)
        milestones = _steps_list(n, "milestones", milestones, lo=1)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"SequentialLR: milestones must have one entry fewer than schedulers "
                f"({len(schedulers)} schedulers), got {len(milestones)} milestones"
            )
        if not _is_relative(milestones):
            _increasing(milestones)
        self._store(locals())

    def bind(self, n_steps):
        bound = super().bind(n_steps)
        children = tuple(c.bind(n_steps) for c in bound.schedulers)
        if all(a is b for a, b in zip(children, bound.schedulers)):
            return bound
        return bound.replace(schedulers=children)

    def is_relative(self):
        return super().is_relative() or any(c.is_relative() for c in self.schedulers)

    def check(self, optimizer, n_steps):
        _increasing(self.bind(_n_steps(n_steps)).milestones)
        super().check(optimizer, n_steps)

    def _kind(self):
        return ks.K_SEQUENTIAL

    def _children(self):
        return self.schedulers

    def _seq_milestones(self):
        return list(self.milestones)

    def _epoch_ranges(self, n_steps):
        out = []
        starts = [0] + list(self.milestones)
        ends = list(self.milestones) + [n_steps + 1]
        for i, child in enumerate(self.schedulers):
            if starts[i] > n_steps:
                out.append((child, 0, False))
            else:
                out.append((child, min(n_steps, ends[i] - 1) - starts[i], i > 0))
        return out

    def label(self):
        parts = " -> ".join(c.label() for c in self.schedulers)
        return f"SequentialLR({parts} @ {list(self.milestones)})"


def _increasing(milestones):
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

    def __init__(self, schedulers):
        schedulers = _schedule_list("ChainedScheduler", schedulers)
        self._store(locals())

    def bind(self, n_steps):
        children = tuple(c.bind(n_steps) for c in self.schedulers)
        if all(a is b for a, b in zip(children, self.schedulers)):
            return self
        return self.replace(schedulers=children)

    def is_relative(self):
        return any(c.is_relative() for c in self.schedulers)

    def _children(self):
        return self.schedulers

    def _epoch_ranges(self, n_steps):
        return [(c, n_steps, False) for c in self.schedulers]

    def label(self):
        return f"ChainedScheduler({' * '.join(c.label() for c in self.schedulers)})"


# ---- schedules torch lacks -----------------------------------------------------------------


class InverseTimeDecay(Schedule):
    """lr = base_lr / (1 + decay_rate * k/decay_steps), with floor(k/decay_steps) when
    ``staircase`` (keras.optimizers.schedules.InverseTimeDecay; torch has none).

    Behaves like a torch LambdaLR: relative to the optimizer's (initial) lr.
    """

    _step_params = ("decay_steps",)

    def __init__(self, decay_steps, decay_rate, staircase=False):
        n = "InverseTimeDecay"
        decay_steps = _steps(n, "decay_steps", decay_steps, lo=1)
        decay_rate = real(n, "decay_rate", decay_rate, lo=0.0)
        staircase = boolean(n, "staircase", staircase)
        self._store(locals())

    def _encode(self, n_steps, data):
        return ks.S_INVERSE_TIME, (self.decay_steps, self.decay_rate, self.staircase)


class WarmupCosine(Schedule):
    """Linear warm-up then cosine decay, optax.warmup_cosine_decay_schedule semantics:

    lr = init_value + (peak_lr - init_value) * k/warmup_steps      for k < warmup_steps,
    lr = peak_lr * ((1 - a) * c**exponent + a),  a = end_lr/peak_lr,
         c = (1 + cos(pi * min(k - warmup_steps, T)/T))/2,  T = decay_steps - warmup_steps.

    ``decay_steps`` counts the warm-up too (as in optax). This schedule sets absolute lrs:
    the optimizer's own lr is ignored.
    """

    _step_params = ("warmup_steps", "decay_steps")

    def __init__(self, warmup_steps, decay_steps, peak_lr, end_lr=0.0, init_value=0.0,
                 exponent=1.0):
        n = "WarmupCosine"
        warmup_steps = _steps(n, "warmup_steps", warmup_steps, lo=0)
        decay_steps = _steps(n, "decay_steps", decay_steps, lo=1)
        peak_lr = _lr_value(n, "peak_lr", peak_lr)
        end_lr = _lr_value(n, "end_lr", end_lr)
        init_value = _lr_value(n, "init_value", init_value)
        exponent = real(n, "exponent", exponent, lo=0.0, lo_open=True)
        if not (_is_relative(warmup_steps) or _is_relative(decay_steps)):
            _warmup_fits(warmup_steps, decay_steps)
        self._store(locals())

    def _check_leaf(self, optimizer, max_epoch, reset):
        super()._check_leaf(optimizer, max_epoch, reset)
        _warmup_fits(self.warmup_steps, self.decay_steps)

    def _encode(self, n_steps, data):
        return ks.S_WARMUP_COSINE, (self.warmup_steps, self.decay_steps, self.peak_lr,
                                    self.end_lr, self.init_value, self.exponent)


def _warmup_fits(warmup_steps, decay_steps):
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

    def __init__(self, values, relative=False):
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

    def _check_leaf(self, optimizer, max_epoch, reset):
        super()._check_leaf(optimizer, max_epoch, reset)
        if len(self.values) < max_epoch:
            raise ValueError(f"PerStepLR: values has {len(self.values)} entries, fewer than "
                             f"the {max_epoch} steps of the run")

    def _encode(self, n_steps, data):
        code = ks.S_FACTOR_TABLE if self.relative else ks.S_VALUE_TABLE
        return code, (_push(data, self.values), len(self.values))

    def label(self):
        kind = "factors" if self.relative else "lrs"
        return f"PerStepLR({len(self.values)} {kind})"


_READING_BACK = contextvars.ContextVar("reading_back", default=False)


@contextlib.contextmanager
def reading_back():
    """Specs built inside read a run directory: a ``FunctionLR`` whose ``fn`` names a module
    keeps the name and never imports it (opening results never runs their code); such a
    spec labels and hashes, and cannot tabulate."""
    token = _READING_BACK.set(True)
    try:
        yield
    finally:
        _READING_BACK.reset(token)


@functools.lru_cache(maxsize=None)
def _jit(fn):
    import numba
    from numba.core.registry import CPUDispatcher

    return fn if isinstance(fn, CPUDispatcher) else numba.njit(fn)


def _import_ref(text):
    module, _, name = text.partition(":")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _function_ref(fn):
    """'module:qualname' of a function, or None when that name does not lead back to it."""
    py = getattr(fn, "py_func", fn)
    module = getattr(py, "__module__", None)
    qualname = getattr(py, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        return None
    ref = f"{module}:{qualname}"
    try:
        target = _import_ref(ref)
    except Exception:
        return None
    return ref if target is fn or getattr(target, "py_func", None) is py or target is py else None


class FunctionLR(Schedule):
    """User-defined schedule: lr = base_lr * fn(k) (torch's LambdaLR), ``fn`` a function of
    the integer step k returning a factor, which numba must be able to compile (it is
    compiled with ``numba.njit`` and evaluated into the table).

    ``fn`` is a function or a ``"module:name"`` string naming one; stored specs keep the
    string, so only importable functions round-trip through ``to_dict``/``from_dict``.
    """

    def __init__(self, fn):
        n = "FunctionLR"
        if isinstance(fn, str) and _READING_BACK.get():
            self.read_back = True
        elif isinstance(fn, str):
            try:
                target = _import_ref(fn)
            except Exception as exc:
                raise ValueError(f"{n}: fn {fn!r} cannot be imported ({exc})") from None
            if not callable(target):
                raise ValueError(f"{n}: fn {fn!r} is not a function")
        elif not callable(fn):
            raise ValueError(f"{n}: fn must be a function of the step or a 'module:name' "
                             f"string, got {fn!r}")
        self._store(locals())

    #: True for a spec built inside ``reading_back()``: its function is never imported
    read_back = False

    def function(self):
        if self.read_back:
            raise ValueError(f"FunctionLR: fn {self.fn!r} was read back from a run directory "
                             "and is not imported; run (or --resume) from the suite file")
        return _import_ref(self.fn) if isinstance(self.fn, str) else self.fn

    def to_dict(self):
        if isinstance(self.fn, str):
            ref = self.fn
        else:
            ref = _function_ref(self.fn)
            if ref is None:  # not importable: unique per code, not loadable
                py = getattr(self.fn, "py_func", self.fn)
                code = getattr(py, "__code__", None)
                blob = repr((code.co_code, code.co_consts, code.co_names)) if code else repr(py)
                digest = hashlib.sha256(blob.encode()).hexdigest()[:12]
                ref = f"<unimportable {getattr(py, '__qualname__', '?')} {digest}>"
        return {"type": "FunctionLR", "fn": ref}

    def __repr__(self):
        return f"FunctionLR(fn={self.to_dict()['fn']})"

    def _check_leaf(self, optimizer, max_epoch, reset):
        super()._check_leaf(optimizer, max_epoch, reset)
        if not self.read_back:
            self._factors(1)

    def _factors(self, n):
        out = np.empty(n)
        fn = self.function()  # a read-back spec refuses here, in its own words
        try:
            ks.function_factor_table(_jit(fn), out)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"FunctionLR: fn cannot be compiled and run by numba: {first}") \
                from None
        return out

    def _encode(self, n_steps, data):
        factors = self._factors(n_steps + 1)
        return ks.S_FACTOR_TABLE, (_push(data, factors), len(factors))


__all__ = ["Schedule", "REGISTRY", "ConstantLR", "StepLR", "MultiStepLR", "ExponentialLR",
           "LinearLR", "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
           "CyclicLR", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "ChainedScheduler",
           "InverseTimeDecay", "WarmupCosine", "PerStepLR", "FunctionLR", "eval_steps",
           "resolve_steps"]
