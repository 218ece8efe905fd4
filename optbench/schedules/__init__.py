"""Learning-rate schedule specifications, with torch.optim.lr_scheduler's names and keywords.

A spec holds parameters; each leaf class defines its formulas once, as numba-compilable
functions of the step (``lr_at``, ``lr_step``, ``momentum_at``: the door described in
:class:`Schedule`, the same a user's schedule goes through), and
:mod:`optbench.schedule_tables` replays torch's scheduler state machine over them into the
per-step tables the CPU and CUDA engines read. Every class takes torch's keywords and
defaults minus ``optimizer``, ``last_epoch`` and ``verbose``; the optimizer's own lr plays
the part of torch's ``initial_lr`` / ``base_lrs``.

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
momentum or beta1, and the parameters) and ``lr_step``, a chainable form from the current
``lr`` (see :class:`Schedule` for every name these functions may take). It runs on its own
or inside SequentialLR and ChainedScheduler, as a leaf of the same state machine as the
built-ins (with ``lr_at`` alone it is closed-form, as torch's LambdaLR: it sets the lr of
its epoch rather than scaling the current one); suites
name it ``module:object``; run directories record its source hash and reading them never
imports it.
"""
from .base import (REGISTRY, Schedule, eval_steps, plugin_record, resolve_steps,
                   schedule_from_dict, stored_schedule)
from .extra import FunctionLR, InverseTimeDecay, PerStepLR, WarmupCosine
from .functions import reading_back
from .lr_scheduler import (ChainedScheduler, ConstantLR, CosineAnnealingLR,
                           CosineAnnealingWarmRestarts, CyclicLR, ExponentialLR, LinearLR,
                           MultiStepLR, OneCycleLR, PolynomialLR, ReduceLROnPlateau,
                           SequentialLR, StepLR)

__all__ = ["Schedule", "REGISTRY", "ConstantLR", "StepLR", "MultiStepLR", "ExponentialLR",
           "LinearLR", "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
           "CyclicLR", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "ChainedScheduler",
           "InverseTimeDecay", "WarmupCosine", "PerStepLR", "FunctionLR", "eval_steps",
           "resolve_steps", "plugin_record", "schedule_from_dict", "stored_schedule",
           "reading_back"]
