"""Optimizer specifications, with torch.optim's class names, keywords and defaults.

Every optimizer, built-in or a user's, is one subclass of :class:`Optimizer`: its
hyper-parameters, its named state and its update rule, which :mod:`optbench.codegen` compiles
into the kernels of the plans that use it (CPU, CUDA and ``VectorOptimizer`` alike). The
built-ins below give their rules in the whole-block form (hand-tuned loops in
:mod:`optbench.kernels.optimizers`); a user usually writes the per-coordinate form (see
:class:`Optimizer` and the README section "Bring your own optimizer").

Differences from torch are extras only: Adam's ``bias_correction`` and ``eps_inside_sqrt``
keywords select the variants found in the literature; ``Lion`` (absent from torch) follows
optax.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
from numpy.typing import NDArray

from .kernels import optimizers as k
from .spec import (Registry, Spec, boolean, choice, init_signature, integer, is_builtin, real,
                   real_pair, stand_in, suggest)

REGISTRY: Registry = Registry("optimizer")

#: names a per-coordinate rule may take besides the definition's own
RULE_ARGUMENTS = ("x", "g", "lr", "t")


class hyper:
    """A declared hyper-parameter: default, bounds, and for a pair the names its two values
    take in the rule (``betas`` gives ``beta1``, ``beta2`` unless ``names`` says otherwise)."""

    def __init__(self, default: object, lo: float = -math.inf, hi: float = math.inf,
                 names: Sequence[str] | None = None) -> None:
        self.default, self.lo, self.hi, self.names = default, lo, hi, names

    def check(self, owner: str, name: str, value: object) -> bool | int | float | tuple[float, ...]:
        """``value`` validated (one-line ValueError naming ``owner`` and ``name``)."""
        if isinstance(self.default, bool):
            return boolean(owner, name, value)
        if isinstance(self.default, (tuple, list)):
            return real_pair(owner, name, value, lo=self.lo, hi=self.hi, hi_open=False)
        if isinstance(self.default, int):
            return integer(owner, name, value, lo=None if self.lo == -math.inf else self.lo)
        return real(owner, name, value, lo=self.lo, hi=self.hi)

    def scalar_names(self, name: str) -> tuple[str, ...]:
        """The names of this hyper-parameter's value(s) in the rule."""
        if not isinstance(self.default, (tuple, list)):
            return (name,)
        if self.names is not None:
            return tuple(self.names)
        if name == "betas":
            return ("beta1", "beta2")
        return tuple(f"{name}_{i}" for i in range(len(self.default)))


class Optimizer(Spec):
    """Base class of every optimizer: a spec (validated hyper-parameters) and a definition.

    The definition, as class attributes:

    - ``hyperparameters``: ``{name: default or hyper(default, lo, hi)}``, ``lr`` first. It
      gives the class a torch-style constructor, ``AdaBelief(lr=1e-3, betas=(0.9, 0.999))``
      (the built-ins write their own ``__init__``, with torch's validation).
    - ``state``: per-coordinate state, ``{name: initial value}``, the value a number or the
      name of a hyper-parameter (Adagrad's accumulator starts at ``initial_accumulator_value``).
    - ``momentum_keyword``: the hyper-parameter a momentum-cycling schedule changes
      (``"momentum"`` or ``"betas"``, whose first value it sets each step), or None.
    - the rule, in one of two forms:

      ``update(x, g, ...) -> (x, *state)``: one coordinate, scalars in and out, a plain
      numba-compilable function (``@staticmethod``). Its arguments are taken by name from
      ``x`` (the coordinate), ``g`` (its gradient), ``lr`` (this step's), ``t`` (the 1-based
      step), the state names, the hyper-parameters' value names and the coefficients. With
      it, optionally, ``coefficients(t, lr, ...) -> (*coefficient_names, *step_state)``:
      per-step scalars computed once per step and trajectory, in float64 (bias corrections),
      and ``step_state``, ``{name: initial value}``: scalars the coefficients carry from step
      to step (NAdam's running product of momenta). ``x``, ``g``, the state, ``lr``, the
      hyper-parameters and the coefficients reach ``update`` in the run's element type
      (float32 runs update in float32 arithmetic).

      ``rule(hp, lr, mom, t, X, G, S, SC, C)``: a whole block at once, an ``@njit``
      function over columns X[:, b] (see :mod:`optbench.kernels.optimizers`), for rules
      that need the whole vector (norms, trust ratios) or hand-tuned loops. With
      ``elementwise = True`` it promises that any subset of rows is a valid block (each
      coordinate updated from its own values: the built-ins' hand-tuned loops), so CUDA's
      block mode may split the coordinates across threads; a whole-vector rule (the
      default) always runs one thread per trajectory there.

    ``adaptive``: True when the rule scales each coordinate's step by its own gradient
    history, so the effective step ``|dx_i| / |g_i|`` differs from the lr (reports use it).
    """

    registry = REGISTRY
    #: as declared ``{name: default or hyper(...)}``; ``_declare`` makes every value a hyper
    hyperparameters: dict[str, Any] = {}
    state: dict[str, float | str] = {}
    step_state: dict[str, float | str] = {}
    coefficient_names: tuple[str, ...] = ()
    coefficients: Callable[..., Any] | None = None
    update: Callable[..., Any] | None = None
    rule: Callable[..., None] | None = None
    #: the hyper-parameter slot names, in order (slot 0 the lr, slot 1 the momentum/beta1)
    slot_names: tuple[str, ...] = ()
    momentum_keyword: str | None = None
    adaptive: bool = False
    #: a ``rule`` that updates each coordinate from its own values alone (see above)
    elementwise: bool = False
    lr: float  # every optimizer's first hyper-parameter (a parameter of the spec)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "hyperparameters" in cls.__dict__:
            _declare(cls)
        if is_builtin(cls):  # a user's is named by module:object
            REGISTRY.register(cls)

    @classmethod
    def definition(cls) -> type[Optimizer]:
        """The class whose rule this one runs (AdamW runs Adam's): the unit kernels dispatch
        on."""
        for owner in cls.__mro__:
            if "rule" in owner.__dict__ or "update" in owner.__dict__:
                return owner
        raise TypeError(f"{cls.__name__}: an optimizer needs an update or a rule")

    @classmethod
    def splits_coordinates(cls) -> bool:
        """Whether the rule may run on any subset of a vector's coordinates (a per-coordinate
        ``update``, or an ``elementwise`` rule)."""
        definition = cls.definition()
        return definition.update is not None or definition.elementwise

    @classmethod
    def slot_of(cls, name: str) -> int:
        """The hyper-parameter slot holding ``name``."""
        return cls.slot_names.index(name)

    def hyperparams(self) -> NDArray[np.float64]:
        """The hyper-parameter vector of the rule, in ``slot_names`` order."""
        scalars = self._scalars()
        return np.array([float(scalars.get(name, 0.0)) for name in self.slot_names])

    def base_momentum(self) -> float:
        """The momentum/beta1 the rule uses when no schedule overrides it."""
        return float(self.hyperparams()[1])

    def _scalars(self) -> dict[str, Any]:
        """Slot name -> value (the declared form flattens pairs: betas -> beta1, beta2)."""
        out: dict[str, Any] = {}
        for name, spec in self.hyperparameters.items():
            value = getattr(self, name)
            for scalar, v in zip(spec.scalar_names(name),
                                 value if isinstance(value, (tuple, list)) else (value,)):
                out[scalar] = v
        return out


def _declare(cls: type[Optimizer]) -> None:
    """Turn a class's declared ``hyperparameters`` into its constructor and slot layout, and
    check the definition's names (one-line TypeError naming the clash)."""
    name = cls.__name__
    specs = {key: value if isinstance(value, hyper) else hyper(value)
             for key, value in cls.hyperparameters.items()}
    if "lr" not in specs:
        raise TypeError(f"{name}: hyperparameters must declare lr")
    specs["lr"] = hyper(specs["lr"].default, lo=max(specs["lr"].lo, 0.0), hi=specs["lr"].hi)
    cls.hyperparameters = specs
    scalars = [s for key, spec in specs.items() for s in spec.scalar_names(key)]
    momentum = (specs[cls.momentum_keyword].scalar_names(cls.momentum_keyword)[0]
                if cls.momentum_keyword in specs else None)
    if cls.momentum_keyword is not None and momentum is None:
        raise TypeError(f"{name}: momentum_keyword {cls.momentum_keyword!r} is not a "
                        f"hyper-parameter")
    rest = [s for s in scalars if s not in ("lr", momentum)]
    cls.slot_names = ("lr", momentum or "", *rest)
    seen: dict[str, str] = {}
    for kind, names in (("argument", RULE_ARGUMENTS), ("hyper-parameter value", scalars),
                        ("state", tuple(cls.state)), ("step state", tuple(cls.step_state)),
                        ("coefficient", tuple(cls.coefficient_names))):
        for n in names:
            if not n.isidentifier():
                raise TypeError(f"{name}: {kind} name {n!r} is not a Python identifier")
            if n in seen and not (kind == "hyper-parameter value" and n == "lr"):
                raise TypeError(f"{name}: {kind} name {n!r} clashes with a {seen[n]} name")
            seen.setdefault(n, kind)
    for key, initial in {**cls.state, **cls.step_state}.items():
        if isinstance(initial, str) and initial not in scalars:
            raise TypeError(f"{name}: state {key!r} starts at {initial!r}, which is not a "
                            f"hyper-parameter value")

    def __init__(self: Optimizer, *args: Any, **kwargs: Any) -> None:
        params = list(specs)
        if len(args) > len(params):
            raise ValueError(f"{name}: takes at most {len(params)} positional arguments")
        values = {key: spec.default for key, spec in specs.items()}
        values.update(zip(params, args))
        for key, value in kwargs.items():
            if key not in specs:
                raise ValueError(f"{name}: unknown parameter {key!r}{suggest(key, params)}")
            values[key] = value
        self._store({key: specs[key].check(name, key, v) for key, v in values.items()})

    __init__.__dict__["__signature__"] = init_signature(  # what inspect reads
        {key: spec.default for key, spec in specs.items()})
    # a generated constructor replaces the class's (mypy does not allow assigning a method)
    cls.__init__ = __init__  # type: ignore[method-assign, assignment]


def stored_optimizer(type_name: str, record: Mapping[str, Any]) -> type[Optimizer]:
    """A stand-in for a user's optimizer class named ``"module:object"`` in a run directory,
    built from what the manifest recorded (its defaults, ``adaptive``, ``momentum_keyword``)
    without importing the user's code: it labels, tabulates and hashes like the original,
    and refuses to run (``--resume`` imports the real class from the suite file)."""

    def definition(cls: type[Optimizer]) -> NoReturn:
        raise ValueError(f"{type_name} was read back from a run directory without its code "
                         "and cannot run; run (or --resume) from the suite file")

    return stand_in(Optimizer, type_name, record, {
        "definition": classmethod(definition), "adaptive": bool(record.get("adaptive", False)),
        "momentum_keyword": record.get("momentum_keyword")})


def plugin_record(cls: type[Optimizer]) -> dict[str, Any]:
    """What a run directory records of a user's optimizer class: its source hash and files
    (``--resume`` checks the hash), defaults, ``adaptive`` and ``momentum_keyword``."""
    from .codegen import plugin_provenance

    if "record" in cls.__dict__:  # a stand-in read back from a run directory
        record: dict[str, Any] = cls.__dict__["record"]
        return record
    return {**plugin_provenance(cls, cls.definition()), "adaptive": bool(cls.adaptive),
            "momentum_keyword": cls.momentum_keyword}


def _lr(owner: str, lr: object) -> float:
    return real(owner, "lr", lr, lo=0.0)


def _wd(owner: str, weight_decay: object) -> float:
    return real(owner, "weight_decay", weight_decay, lo=0.0)


def _eps(owner: str, eps: object) -> float:
    return real(owner, "eps", eps, lo=0.0)


class SGD(Optimizer):
    """Stochastic gradient descent with optional heavy-ball or Nesterov momentum.

    b <- momentum*b + (1-dampening)*g;  x <- x - lr*(g + momentum*b if nesterov else b).
    torch.optim.SGD semantics (momentum=0 is plain gradient descent).
    """

    rule = staticmethod(k.sgd_step)
    elementwise = True
    state = {"momentum_buffer": 0.0}
    step_state = {"momentum_started": 0.0}
    slot_names = ("lr", "momentum", "dampening", "", "weight_decay", "maximize", "nesterov")
    momentum_keyword = "momentum"
    momentum: float
    dampening: float
    weight_decay: float
    nesterov: bool
    maximize: bool

    def __init__(self, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False) -> None:
        n = "SGD"
        lr = _lr(n, lr)
        momentum = real(n, "momentum", momentum, lo=0.0)
        dampening = real(n, "dampening", dampening)
        weight_decay = _wd(n, weight_decay)
        nesterov = boolean(n, "nesterov", nesterov)
        maximize = boolean(n, "maximize", maximize)
        if nesterov and (momentum <= 0.0 or dampening != 0.0):
            raise ValueError("SGD: nesterov requires momentum > 0 and dampening = 0")
        self._store(locals())

    def _scalars(self) -> dict[str, Any]:
        return dict(lr=self.lr, momentum=self.momentum, dampening=self.dampening,
                    weight_decay=self.weight_decay, maximize=self.maximize,
                    nesterov=self.nesterov)


_BIAS_MODES = {True: k.BIAS_BOTH, False: k.BIAS_NONE, "second_moment_only": k.BIAS_SECOND_ONLY}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with torch.optim.Adam's semantics, plus literature variants.

    m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2;  x <- x - lr * m_hat / (sqrt(v_hat) + eps)
    with m_hat = m/(1-b1^t), v_hat = v/(1-b2^t).

    Extra keywords (not in torch)::

      bias_correction=False          x <- x - lr * m / (sqrt(v) + eps)
      bias_correction="second_moment_only"   x <- x - lr * m / (sqrt(v_hat) + eps)
      eps_inside_sqrt=True           denominator sqrt(v_hat + eps) instead of sqrt(v_hat) + eps

    ``amsgrad=True`` uses the running maximum of v (Reddi et al., 2018);
    ``decoupled_weight_decay=True`` is AdamW.
    """

    rule = staticmethod(k.adam_step)
    elementwise = True
    state = {"exp_avg": 0.0, "exp_avg_sq": 0.0, "max_exp_avg_sq": 0.0}
    slot_names = ("lr", "beta1", "beta2", "eps", "weight_decay", "maximize", "amsgrad",
                  "decoupled_weight_decay", "bias_mode", "eps_inside_sqrt")
    adaptive = True
    momentum_keyword = "betas"
    betas: tuple[float, ...]
    eps: float
    weight_decay: float
    amsgrad: bool
    maximize: bool
    decoupled_weight_decay: bool
    bias_correction: bool | str
    eps_inside_sqrt: bool

    def __init__(self, lr: float = 1e-3, betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False,
                 decoupled_weight_decay: bool = False, bias_correction: bool | str = True,
                 eps_inside_sqrt: bool = False) -> None:
        n = type(self).__name__
        lr = _lr(n, lr)
        betas = real_pair(n, "betas", betas)
        eps = _eps(n, eps)
        weight_decay = _wd(n, weight_decay)
        amsgrad = boolean(n, "amsgrad", amsgrad)
        maximize = boolean(n, "maximize", maximize)
        decoupled_weight_decay = boolean(n, "decoupled_weight_decay", decoupled_weight_decay)
        choice(n, "bias_correction", bias_correction, list(_BIAS_MODES))
        eps_inside_sqrt = boolean(n, "eps_inside_sqrt", eps_inside_sqrt)
        self._store(locals())

    def _scalars(self) -> dict[str, Any]:
        return dict(lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], eps=self.eps,
                    weight_decay=self.weight_decay, maximize=self.maximize,
                    amsgrad=self.amsgrad, decoupled_weight_decay=self.decoupled_weight_decay,
                    bias_mode=_BIAS_MODES[self.bias_correction],
                    eps_inside_sqrt=self.eps_inside_sqrt)


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay x <- x*(1 - lr*wd) (torch.optim.AdamW).

    Loshchilov & Hutter, ICLR 2019. Same keywords as :class:`Adam`, weight_decay=1e-2.
    """

    decoupled_weight_decay = True  # fixed, not a keyword (as in torch.optim.AdamW)

    def __init__(self, lr: float = 1e-3, betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, maximize: bool = False,
                 bias_correction: bool | str = True, eps_inside_sqrt: bool = False) -> None:
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=True,
                         bias_correction=bias_correction, eps_inside_sqrt=eps_inside_sqrt)



class Adamax(Optimizer):
    """Adamax, Adam with the infinity norm (torch.optim.Adamax).

    m <- b1*m + (1-b1)*g;  u <- max(b2*u, ``|g|`` + eps);  x <- x - lr/(1-b1^t) * m/u.
    """

    rule = staticmethod(k.adamax_step)
    elementwise = True
    state = {"exp_avg": 0.0, "exp_inf": 0.0}
    slot_names = ("lr", "beta1", "beta2", "eps", "weight_decay", "maximize")
    adaptive = True
    momentum_keyword = "betas"
    betas: tuple[float, ...]
    eps: float
    weight_decay: float
    maximize: bool

    def __init__(self, lr: float = 2e-3, betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, maximize: bool = False) -> None:
        n = "Adamax"
        lr = _lr(n, lr)
        betas = real_pair(n, "betas", betas)
        eps = _eps(n, eps)
        weight_decay = _wd(n, weight_decay)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _scalars(self) -> dict[str, Any]:
        return dict(lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], eps=self.eps,
                    weight_decay=self.weight_decay, maximize=self.maximize)


class NAdam(Optimizer):
    """NAdam, Adam with Nesterov momentum (Dozat, 2016), torch.optim.NAdam semantics.

    mu_t = b1*(1 - 0.5*0.96^(t*momentum_decay));
    x <- x - lr*(1-mu_t)/(1-prod mu) * g/d - lr*mu_{t+1}/(1-prod mu * mu_{t+1}) * m/d,
    d = sqrt(v/(1-b2^t)) + eps.
    """

    rule = staticmethod(k.nadam_step)
    elementwise = True
    state = {"exp_avg": 0.0, "exp_avg_sq": 0.0}
    step_state = {"mu_product": 1.0}
    slot_names = ("lr", "beta1", "beta2", "eps", "weight_decay", "maximize", "momentum_decay",
                  "decoupled_weight_decay")
    adaptive = True
    momentum_keyword = "betas"
    betas: tuple[float, ...]
    eps: float
    weight_decay: float
    momentum_decay: float
    decoupled_weight_decay: bool
    maximize: bool

    def __init__(self, lr: float = 2e-3, betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, maximize: bool = False) -> None:
        n = "NAdam"
        lr = _lr(n, lr)
        betas = real_pair(n, "betas", betas)
        eps = _eps(n, eps)
        weight_decay = _wd(n, weight_decay)
        momentum_decay = real(n, "momentum_decay", momentum_decay, lo=0.0)
        decoupled_weight_decay = boolean(n, "decoupled_weight_decay", decoupled_weight_decay)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _scalars(self) -> dict[str, Any]:
        return dict(lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], eps=self.eps,
                    weight_decay=self.weight_decay, maximize=self.maximize,
                    momentum_decay=self.momentum_decay,
                    decoupled_weight_decay=self.decoupled_weight_decay)


class RAdam(Optimizer):
    """RAdam, rectified Adam (Liu et al., 2020), torch.optim.RAdam semantics.

    Plain momentum steps x <- x - lr*m_hat while rho_t <= 5, then Adam steps scaled by the
    variance rectification term r_t.
    """

    rule = staticmethod(k.radam_step)
    elementwise = True
    state = {"exp_avg": 0.0, "exp_avg_sq": 0.0}
    slot_names = ("lr", "beta1", "beta2", "eps", "weight_decay", "maximize",
                  "decoupled_weight_decay")
    adaptive = True
    momentum_keyword = "betas"
    betas: tuple[float, ...]
    eps: float
    weight_decay: float
    decoupled_weight_decay: bool
    maximize: bool

    def __init__(self, lr: float = 1e-3, betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False,
                 maximize: bool = False) -> None:
        n = "RAdam"
        lr = _lr(n, lr)
        betas = real_pair(n, "betas", betas)
        eps = _eps(n, eps)
        weight_decay = _wd(n, weight_decay)
        decoupled_weight_decay = boolean(n, "decoupled_weight_decay", decoupled_weight_decay)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _scalars(self) -> dict[str, Any]:
        return dict(lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], eps=self.eps,
                    weight_decay=self.weight_decay, maximize=self.maximize,
                    decoupled_weight_decay=self.decoupled_weight_decay)


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), torch.optim.RMSprop semantics.

    a <- alpha*a + (1-alpha)*g^2;  x <- x - lr * g/(sqrt(a) + eps); ``centered`` subtracts
    the squared running mean of g inside the root; ``momentum`` accumulates g/(sqrt(a)+eps).
    """

    rule = staticmethod(k.rmsprop_step)
    elementwise = True
    state = {"square_avg": 0.0, "grad_avg": 0.0, "momentum_buffer": 0.0}
    slot_names = ("lr", "momentum", "alpha", "eps", "weight_decay", "maximize", "centered")
    adaptive = True
    momentum_keyword = "momentum"
    alpha: float
    eps: float
    weight_decay: float
    momentum: float
    centered: bool
    maximize: bool

    def __init__(self, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 maximize: bool = False) -> None:
        n = "RMSprop"
        lr = _lr(n, lr)
        alpha = real(n, "alpha", alpha, lo=0.0)
        eps = _eps(n, eps)
        weight_decay = _wd(n, weight_decay)
        momentum = real(n, "momentum", momentum, lo=0.0)
        centered = boolean(n, "centered", centered)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _scalars(self) -> dict[str, Any]:
        return dict(lr=self.lr, momentum=self.momentum, alpha=self.alpha, eps=self.eps,
                    weight_decay=self.weight_decay, maximize=self.maximize,
                    centered=self.centered)


class Adagrad(Optimizer):
    """AdaGrad (Duchi et al., 2011), torch.optim.Adagrad semantics.

    G <- G + g^2;  x <- x - lr/(1 + (t-1)*lr_decay) * g/(sqrt(G) + eps).
    """

    rule = staticmethod(k.adagrad_step)
    elementwise = True
    state = {"sum": "initial_accumulator_value"}
    slot_names = ("lr", "", "lr_decay", "eps", "weight_decay", "maximize",
                  "initial_accumulator_value")
    adaptive = True
    lr_decay: float
    weight_decay: float
    initial_accumulator_value: float
    eps: float
    maximize: bool

    def __init__(self, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10,
                 maximize: bool = False) -> None:
        n = "Adagrad"
        lr = _lr(n, lr)
        lr_decay = real(n, "lr_decay", lr_decay, lo=0.0)
        weight_decay = _wd(n, weight_decay)
        initial_accumulator_value = real(n, "initial_accumulator_value",
                                         initial_accumulator_value, lo=0.0)
        eps = _eps(n, eps)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _scalars(self) -> dict[str, Any]:
        return dict(lr=self.lr, lr_decay=self.lr_decay, eps=self.eps,
                    weight_decay=self.weight_decay, maximize=self.maximize,
                    initial_accumulator_value=self.initial_accumulator_value)


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012), torch.optim.Adadelta semantics.

    a <- rho*a + (1-rho)*g^2;  d = sqrt(u+eps)/sqrt(a+eps) * g;  u <- rho*u + (1-rho)*d^2;
    x <- x - lr*d.
    """

    rule = staticmethod(k.adadelta_step)
    elementwise = True
    state = {"square_avg": 0.0, "acc_delta": 0.0}
    slot_names = ("lr", "", "rho", "eps", "weight_decay", "maximize")
    adaptive = True
    rho: float
    eps: float
    weight_decay: float
    maximize: bool

    def __init__(self, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, maximize: bool = False) -> None:
        n = "Adadelta"
        lr = _lr(n, lr)
        rho = real(n, "rho", rho, lo=0.0, hi=1.0)
        eps = _eps(n, eps)
        weight_decay = _wd(n, weight_decay)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _scalars(self) -> dict[str, Any]:
        return dict(lr=self.lr, rho=self.rho, eps=self.eps, weight_decay=self.weight_decay,
                    maximize=self.maximize)


class Lion(Optimizer):
    """Lion (Chen et al., 2023) with optax.lion semantics (torch.optim has no Lion).

    u = sign((1-b1)*g + b1*m) + weight_decay*x;  m <- (1-b2)*g + b2*m;  x <- x - lr*u.
    Defaults are optax's (b1=0.9, b2=0.99, weight_decay=1e-3); lr defaults to 1e-4, the
    paper's advice of a 3-10x smaller lr than AdamW.
    """

    rule = staticmethod(k.lion_step)
    elementwise = True
    state = {"exp_avg": 0.0}
    slot_names = ("lr", "beta1", "beta2", "", "weight_decay", "maximize")
    adaptive = True
    momentum_keyword = "betas"
    betas: tuple[float, ...]
    weight_decay: float
    maximize: bool

    def __init__(self, lr: float = 1e-4, betas: Sequence[float] = (0.9, 0.99),
                 weight_decay: float = 1e-3, maximize: bool = False) -> None:
        n = "Lion"
        lr = _lr(n, lr)
        betas = real_pair(n, "betas", betas, hi=1.0, hi_open=False)
        weight_decay = _wd(n, weight_decay)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _scalars(self) -> dict[str, Any]:
        return dict(lr=self.lr, beta1=self.betas[0], beta2=self.betas[1],
                    weight_decay=self.weight_decay, maximize=self.maximize)


__all__ = ["Optimizer", "REGISTRY", "hyper", "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam",
           "RMSprop", "Adagrad", "Adadelta", "Lion"]
