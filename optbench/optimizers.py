"""Optimizer specifications, with torch.optim's class names, keywords and defaults.

A spec holds hyper-parameters only; the update rule itself lives once, in
:mod:`optbench.kernels.optimizers`, and is shared by the CPU and CUDA engines. Specs validate
their arguments on construction and raise ``ValueError`` naming the bad one.

Differences from torch are extras only: Adam's ``bias_correction`` and ``eps_inside_sqrt``
keywords select the variants found in the literature; ``Lion`` (absent from torch) follows
optax.
"""
from __future__ import annotations

import numpy as np

from .kernels import optimizers as k
from .spec import Registry, Spec, boolean, choice, real, real_pair

REGISTRY = Registry("optimizer")


class Optimizer(Spec):
    """Base class: ``code`` picks the kernel rule, ``hyperparams()`` fills its vector."""

    registry = REGISTRY
    code: int
    #: the name of the keyword a momentum-cycling schedule changes ("momentum", "betas", None)
    momentum_keyword: str | None = None
    #: True when the rule scales each coordinate's step by that coordinate's gradient history
    #: (or sign), so its effective step |dx_i| / |g_i| differs from the lr
    adaptive: bool = False

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        REGISTRY.register(cls)

    def hyperparams(self) -> np.ndarray:
        hp = np.zeros(k.HP_SIZE)
        for index, value in self._slots().items():
            hp[index] = float(value)
        return hp

    def base_momentum(self) -> float:
        """The momentum/beta1 the rule uses when no schedule overrides it."""
        return float(self.hyperparams()[k.HP_MOMENTUM])

    def _slots(self) -> dict:
        raise NotImplementedError


def _lr(owner, lr):
    return real(owner, "lr", lr, lo=0.0)


def _wd(owner, weight_decay):
    return real(owner, "weight_decay", weight_decay, lo=0.0)


def _eps(owner, eps):
    return real(owner, "eps", eps, lo=0.0)


class SGD(Optimizer):
    """Stochastic gradient descent with optional heavy-ball or Nesterov momentum.

    b <- momentum*b + (1-dampening)*g;  x <- x - lr*(g + momentum*b if nesterov else b).
    torch.optim.SGD semantics (momentum=0 is plain gradient descent).
    """

    code = k.SGD
    momentum_keyword = "momentum"

    def __init__(self, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, maximize=False):
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

    def _slots(self):
        return {0: self.lr, 1: self.momentum, 2: self.dampening, 4: self.weight_decay,
                5: self.maximize, 6: self.nesterov}


_BIAS_MODES = {True: k.BIAS_BOTH, False: k.BIAS_NONE, "second_moment_only": k.BIAS_SECOND_ONLY}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with torch.optim.Adam's semantics, plus literature variants.

    m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2;  x <- x - lr * m_hat / (sqrt(v_hat) + eps)
    with m_hat = m/(1-b1^t), v_hat = v/(1-b2^t).

    Extra keywords (not in torch):
      bias_correction=False          x <- x - lr * m / (sqrt(v) + eps)
      bias_correction="second_moment_only"   x <- x - lr * m / (sqrt(v_hat) + eps)
      eps_inside_sqrt=True           denominator sqrt(v_hat + eps) instead of sqrt(v_hat) + eps
    ``amsgrad=True`` uses the running maximum of v (Reddi et al., 2018);
    ``decoupled_weight_decay=True`` is AdamW.
    """

    code = k.ADAM
    adaptive = True
    momentum_keyword = "betas"

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False, decoupled_weight_decay=False, bias_correction=True,
                 eps_inside_sqrt=False):
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

    def _slots(self):
        return {0: self.lr, 1: self.betas[0], 2: self.betas[1], 3: self.eps,
                4: self.weight_decay, 5: self.maximize, 6: self.amsgrad,
                7: self.decoupled_weight_decay, 8: _BIAS_MODES[self.bias_correction],
                9: self.eps_inside_sqrt}


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay x <- x*(1 - lr*wd) (torch.optim.AdamW).

    Loshchilov & Hutter, ICLR 2019. Same keywords as :class:`Adam`, weight_decay=1e-2.
    """

    decoupled_weight_decay = True  # fixed, not a keyword (as in torch.optim.AdamW)

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False, bias_correction=True, eps_inside_sqrt=False):
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=True,
                         bias_correction=bias_correction, eps_inside_sqrt=eps_inside_sqrt)



class Adamax(Optimizer):
    """Adamax, Adam with the infinity norm (torch.optim.Adamax).

    m <- b1*m + (1-b1)*g;  u <- max(b2*u, |g| + eps);  x <- x - lr/(1-b1^t) * m/u.
    """

    code = k.ADAMAX
    adaptive = True
    momentum_keyword = "betas"

    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
        n = "Adamax"
        lr = _lr(n, lr)
        betas = real_pair(n, "betas", betas)
        eps = _eps(n, eps)
        weight_decay = _wd(n, weight_decay)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _slots(self):
        return {0: self.lr, 1: self.betas[0], 2: self.betas[1], 3: self.eps,
                4: self.weight_decay, 5: self.maximize}


class NAdam(Optimizer):
    """NAdam, Adam with Nesterov momentum (Dozat, 2016), torch.optim.NAdam semantics.

    mu_t = b1*(1 - 0.5*0.96^(t*momentum_decay));
    x <- x - lr*(1-mu_t)/(1-prod mu) * g/d - lr*mu_{t+1}/(1-prod mu * mu_{t+1}) * m/d,
    d = sqrt(v/(1-b2^t)) + eps.
    """

    code = k.NADAM
    adaptive = True
    momentum_keyword = "betas"

    def __init__(self, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
        n = "NAdam"
        lr = _lr(n, lr)
        betas = real_pair(n, "betas", betas)
        eps = _eps(n, eps)
        weight_decay = _wd(n, weight_decay)
        momentum_decay = real(n, "momentum_decay", momentum_decay, lo=0.0)
        decoupled_weight_decay = boolean(n, "decoupled_weight_decay", decoupled_weight_decay)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _slots(self):
        return {0: self.lr, 1: self.betas[0], 2: self.betas[1], 3: self.eps,
                4: self.weight_decay, 5: self.maximize, 6: self.momentum_decay,
                7: self.decoupled_weight_decay}


class RAdam(Optimizer):
    """RAdam, rectified Adam (Liu et al., 2020), torch.optim.RAdam semantics.

    Plain momentum steps x <- x - lr*m_hat while rho_t <= 5, then Adam steps scaled by the
    variance rectification term r_t.
    """

    code = k.RADAM
    adaptive = True
    momentum_keyword = "betas"

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, maximize=False):
        n = "RAdam"
        lr = _lr(n, lr)
        betas = real_pair(n, "betas", betas)
        eps = _eps(n, eps)
        weight_decay = _wd(n, weight_decay)
        decoupled_weight_decay = boolean(n, "decoupled_weight_decay", decoupled_weight_decay)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _slots(self):
        return {0: self.lr, 1: self.betas[0], 2: self.betas[1], 3: self.eps,
                4: self.weight_decay, 5: self.maximize, 6: self.decoupled_weight_decay}


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), torch.optim.RMSprop semantics.

    a <- alpha*a + (1-alpha)*g^2;  x <- x - lr * g/(sqrt(a) + eps); ``centered`` subtracts
    the squared running mean of g inside the root; ``momentum`` accumulates g/(sqrt(a)+eps).
    """

    code = k.RMSPROP
    adaptive = True
    momentum_keyword = "momentum"

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, maximize=False):
        n = "RMSprop"
        lr = _lr(n, lr)
        alpha = real(n, "alpha", alpha, lo=0.0)
        eps = _eps(n, eps)
        weight_decay = _wd(n, weight_decay)
        momentum = real(n, "momentum", momentum, lo=0.0)
        centered = boolean(n, "centered", centered)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _slots(self):
        return {0: self.lr, 1: self.momentum, 2: self.alpha, 3: self.eps,
                4: self.weight_decay, 5: self.maximize, 6: self.centered}


class Adagrad(Optimizer):
    """AdaGrad (Duchi et al., 2011), torch.optim.Adagrad semantics.

    G <- G + g^2;  x <- x - lr/(1 + (t-1)*lr_decay) * g/(sqrt(G) + eps).
    """

    code = k.ADAGRAD
    adaptive = True

    def __init__(self, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, maximize=False):
        n = "Adagrad"
        lr = _lr(n, lr)
        lr_decay = real(n, "lr_decay", lr_decay, lo=0.0)
        weight_decay = _wd(n, weight_decay)
        initial_accumulator_value = real(n, "initial_accumulator_value",
                                         initial_accumulator_value, lo=0.0)
        eps = _eps(n, eps)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _slots(self):
        return {0: self.lr, 2: self.lr_decay, 3: self.eps, 4: self.weight_decay,
                5: self.maximize, 6: self.initial_accumulator_value}


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012), torch.optim.Adadelta semantics.

    a <- rho*a + (1-rho)*g^2;  d = sqrt(u+eps)/sqrt(a+eps) * g;  u <- rho*u + (1-rho)*d^2;
    x <- x - lr*d.
    """

    code = k.ADADELTA
    adaptive = True

    def __init__(self, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
        n = "Adadelta"
        lr = _lr(n, lr)
        rho = real(n, "rho", rho, lo=0.0, hi=1.0)
        eps = _eps(n, eps)
        weight_decay = _wd(n, weight_decay)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _slots(self):
        return {0: self.lr, 2: self.rho, 3: self.eps, 4: self.weight_decay, 5: self.maximize}


class Lion(Optimizer):
    """Lion (Chen et al., 2023) with optax.lion semantics (torch.optim has no Lion).

    u = sign((1-b1)*g + b1*m) + weight_decay*x;  m <- (1-b2)*g + b2*m;  x <- x - lr*u.
    Defaults are optax's (b1=0.9, b2=0.99, weight_decay=1e-3); lr defaults to 1e-4, the
    paper's advice of a 3-10x smaller lr than AdamW.
    """

    code = k.LION
    adaptive = True
    momentum_keyword = "betas"

    def __init__(self, lr=1e-4, betas=(0.9, 0.99), weight_decay=1e-3, maximize=False):
        n = "Lion"
        lr = _lr(n, lr)
        betas = real_pair(n, "betas", betas, hi=1.0, hi_open=False)
        weight_decay = _wd(n, weight_decay)
        maximize = boolean(n, "maximize", maximize)
        self._store(locals())

    def _slots(self):
        return {0: self.lr, 1: self.betas[0], 2: self.betas[1], 4: self.weight_decay,
                5: self.maximize}


__all__ = ["Optimizer", "REGISTRY", "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam",
           "RMSprop", "Adagrad", "Adadelta", "Lion"]
