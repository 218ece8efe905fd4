"""Update rules of every optimizer, written once as device-safe ``@njit`` functions.

Each rule updates one trajectory in place:

    rule(hp, lr, mom, t, x, g, s, sc)

- ``hp``: the optimizer's hyper-parameters (layout below; ``hp[0]`` is the base lr,
  ``hp[1]`` the base momentum or beta1, ``hp[4]`` weight decay, ``hp[5]`` maximize);
- ``lr``, ``mom``: the learning rate and momentum/beta1 applied in this step (a schedule may
  change both every step);
- ``t``: the 1-based step count (torch's ``state['step']`` after its increment);
- ``x``, ``g``: parameters and gradient (length d); ``g`` is read, never written;
- ``s``: per-coordinate state, shape (STATE_SLOTS, d); ``sc``: per-trajectory scalar state.

No rule allocates, so the CPU engine (``prange``) and the CUDA kernels call the same code.
Semantics follow torch.optim 2.x single-tensor implementations (float64), including the
order of floating-point operations where it matters; Lion follows optax.
"""
import math

from numba import njit

# Optimizer codes (what the engine reads from its data to pick a rule).
SGD = 0
ADAM = 1
ADAMAX = 2
NADAM = 3
RADAM = 4
RMSPROP = 5
ADAGRAD = 6
ADADELTA = 7
LION = 8

HP_SIZE = 10  # length of every hyper-parameter vector
STATE_SLOTS = 3  # per-coordinate state vectors per trajectory
SCALAR_SLOTS = 2  # per-trajectory scalar state

# Shared slots of the hyper-parameter vector.
HP_LR, HP_MOMENTUM, HP_BETA2, HP_EPS, HP_WEIGHT_DECAY, HP_MAXIMIZE = 0, 1, 2, 3, 4, 5

# Adam's bias-correction modes (hp[8]).
BIAS_NONE, BIAS_BOTH, BIAS_SECOND_ONLY = 0.0, 1.0, 2.0


@njit(inline="always")
def lerp(start, end, weight):
    """torch.lerp for a scalar weight: the two-branch form torch uses for accuracy."""
    if abs(weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


@njit(inline="always")
def _coupled_grad(g, x, i, maximize, wd):
    """Gradient with maximize and L2 (coupled) weight decay applied: g + wd * x."""
    gi = -g[i] if maximize else g[i]
    if wd != 0.0:
        gi = gi + wd * x[i]
    return gi


@njit
def sgd_step(hp, lr, mom, t, x, g, s, sc):
    """SGD with heavy-ball or Nesterov momentum (torch.optim.SGD).

    b <- mom*b + (1 - dampening)*g (b = g on the first momentum step);
    d = g + mom*b (Nesterov) or b; x <- x - lr*d.  hp: [lr, momentum, dampening, -, wd,
    maximize, nesterov].  Sutskever et al., ICML 2013.
    """
    dampening = hp[2]
    wd = hp[4]
    maximize = hp[5] != 0.0
    nesterov = hp[6] != 0.0
    buf = s[0]
    first = sc[0] == 0.0
    if mom != 0.0:
        sc[0] = 1.0
    for i in range(x.shape[0]):
        gi = _coupled_grad(g, x, i, maximize, wd)
        if mom != 0.0:
            if first:
                b = gi
            else:
                b = buf[i] * mom + (1.0 - dampening) * gi
            buf[i] = b
            if nesterov:
                gi = gi + mom * b
            else:
                gi = b
        x[i] = x[i] - lr * gi


@njit
def adam_step(hp, lr, beta1, t, x, g, s, sc):
    """Adam / AdamW / AMSGrad and the literature's variants (torch.optim.Adam, AdamW).

    m <- lerp(m, g, 1-b1); v <- b2*v + (1-b2)*g^2; (AMSGrad: vmax <- max(vmax, v));
    standard: x <- x - lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
    Variants: no bias correction (x <- x - lr*m/(sqrt(v)+eps)); second moment only
    (x <- x - lr*m/(sqrt(v_hat)+eps)); eps inside the root (denominator sqrt(v_hat + eps)).
    Decoupled weight decay (AdamW): x <- x*(1 - lr*wd) before the step.
    hp: [lr, beta1, beta2, eps, wd, maximize, amsgrad, decoupled, bias_mode, eps_inside].
    Kingma & Ba, ICLR 2015; Loshchilov & Hutter, ICLR 2019; Reddi et al., ICLR 2018.
    """
    beta2 = hp[2]
    eps = hp[3]
    wd = hp[4]
    maximize = hp[5] != 0.0
    amsgrad = hp[6] != 0.0
    decoupled = hp[7] != 0.0
    bias_mode = hp[8]
    eps_inside = hp[9] != 0.0
    bias_correction1 = 1.0 - beta1**t
    bias_correction2 = 1.0 - beta2**t
    if bias_mode == BIAS_NONE:
        bias_correction1 = 1.0
        bias_correction2 = 1.0
    elif bias_mode == BIAS_SECOND_ONLY:
        bias_correction1 = 1.0
    step_size = lr / bias_correction1
    bias_correction2_sqrt = math.sqrt(bias_correction2)
    m = s[0]
    v = s[1]
    vmax = s[2]
    for i in range(x.shape[0]):
        gi = -g[i] if maximize else g[i]
        if wd != 0.0:
            if decoupled:
                x[i] = x[i] * (1.0 - lr * wd)
            else:
                gi = gi + wd * x[i]
        m[i] = lerp(m[i], gi, 1.0 - beta1)
        v[i] = v[i] * beta2 + (1.0 - beta2) * gi * gi
        vi = v[i]
        if amsgrad:
            if vmax[i] < vi:
                vmax[i] = vi
            vi = vmax[i]
        if eps_inside:
            denom = math.sqrt(vi / bias_correction2 + eps)
        else:
            denom = math.sqrt(vi) / bias_correction2_sqrt + eps
        x[i] = x[i] - step_size * (m[i] / denom)


@njit
def adamax_step(hp, lr, beta1, t, x, g, s, sc):
    """Adamax, Adam with the infinity norm (torch.optim.Adamax).

    m <- lerp(m, g, 1-b1); u <- max(b2*u, |g| + eps); x <- x - lr/(1-b1^t) * m/u.
    hp: [lr, beta1, beta2, eps, wd, maximize].  Kingma & Ba, ICLR 2015, section 7.
    """
    beta2 = hp[2]
    eps = hp[3]
    wd = hp[4]
    maximize = hp[5] != 0.0
    clr = lr / (1.0 - beta1**t)
    m = s[0]
    u = s[1]
    for i in range(x.shape[0]):
        gi = _coupled_grad(g, x, i, maximize, wd)
        m[i] = lerp(m[i], gi, 1.0 - beta1)
        decayed = u[i] * beta2
        bound = abs(gi) + eps
        u[i] = decayed if decayed > bound else bound
        x[i] = x[i] - clr * (m[i] / u[i])


@njit
def nadam_step(hp, lr, beta1, t, x, g, s, sc):
    """NAdam, Adam with Nesterov momentum and momentum decay (torch.optim.NAdam).

    mu_t = b1*(1 - 0.5*0.96^(t*psi)); P_t = prod mu_k; m, v as Adam;
    x <- x - lr*(1-mu_t)/(1-P_t) * g/d - lr*mu_{t+1}/(1-P_t*mu_{t+1}) * m/d,
    d = sqrt(v/(1-b2^t)) + eps.  hp: [lr, beta1, beta2, eps, wd, maximize, momentum_decay,
    decoupled].  sc[0] holds P_t.  Dozat, ICLR workshop 2016.
    """
    beta2 = hp[2]
    eps = hp[3]
    wd = hp[4]
    maximize = hp[5] != 0.0
    momentum_decay = hp[6]
    decoupled = hp[7] != 0.0
    bias_correction2 = 1.0 - beta2**t
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * momentum_decay)))
    sc[0] = sc[0] * mu
    mu_product = sc[0]
    mu_product_next = mu_product * mu_next
    grad_coef = -lr * (1.0 - mu) / (1.0 - mu_product)
    avg_coef = (-lr * mu_next) / (1.0 - mu_product_next)
    m = s[0]
    v = s[1]
    for i in range(x.shape[0]):
        gi = -g[i] if maximize else g[i]
        if wd != 0.0:
            if decoupled:
                x[i] = x[i] * (1.0 - lr * wd)
            else:
                gi = gi + wd * x[i]
        m[i] = lerp(m[i], gi, 1.0 - beta1)
        v[i] = v[i] * beta2 + (1.0 - beta2) * gi * gi
        denom = math.sqrt(v[i] / bias_correction2) + eps
        x[i] = x[i] + grad_coef * (gi / denom)
        x[i] = x[i] + avg_coef * (m[i] / denom)


@njit
def radam_step(hp, lr, beta1, t, x, g, s, sc):
    """RAdam, Adam with a variance-rectified step (torch.optim.RAdam).

    rho_inf = 2/(1-b2) - 1; rho_t = rho_inf - 2t*b2^t/(1-b2^t); if rho_t > 5:
    x <- x - lr * m_hat * r_t * sqrt(1-b2^t)/(sqrt(v)+eps), r_t the rectification term;
    else x <- x - lr * m_hat.  hp: [lr, beta1, beta2, eps, wd, maximize, decoupled].
    Liu et al., ICLR 2020.
    """
    beta2 = hp[2]
    eps = hp[3]
    wd = hp[4]
    maximize = hp[5] != 0.0
    decoupled = hp[6] != 0.0
    bias_correction1 = 1.0 - beta1**t
    bias_correction2 = 1.0 - beta2**t
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    rho_t = rho_inf - 2.0 * t * (beta2**t) / bias_correction2
    rectified = rho_t > 5.0
    rect = 0.0
    if rectified:
        rect = math.sqrt(
            (rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)
        )
    bias_correction2_sqrt = math.sqrt(bias_correction2)
    m = s[0]
    v = s[1]
    for i in range(x.shape[0]):
        gi = -g[i] if maximize else g[i]
        if wd != 0.0:
            if decoupled:
                x[i] = x[i] * (1.0 - lr * wd)
            else:
                gi = gi + wd * x[i]
        m[i] = lerp(m[i], gi, 1.0 - beta1)
        v[i] = v[i] * beta2 + (1.0 - beta2) * gi * gi
        corrected = m[i] / bias_correction1
        if rectified:
            adaptive = bias_correction2_sqrt / (math.sqrt(v[i]) + eps)
            x[i] = x[i] - corrected * lr * adaptive * rect
        else:
            x[i] = x[i] - corrected * lr


@njit
def rmsprop_step(hp, lr, mom, t, x, g, s, sc):
    """RMSprop, optionally centered and with momentum (torch.optim.RMSprop).

    a <- alpha*a + (1-alpha)*g^2; (centered: c <- lerp(c, g, 1-alpha), a' = a - c^2);
    d = sqrt(a') + eps; momentum: b <- mom*b + g/d, x <- x - lr*b; else x <- x - lr*g/d.
    hp: [lr, momentum, alpha, eps, wd, maximize, centered].  Hinton, Coursera lecture 6e.
    """
    alpha = hp[2]
    eps = hp[3]
    wd = hp[4]
    maximize = hp[5] != 0.0
    centered = hp[6] != 0.0
    square_avg = s[0]
    grad_avg = s[1]
    buf = s[2]
    for i in range(x.shape[0]):
        gi = _coupled_grad(g, x, i, maximize, wd)
        square_avg[i] = square_avg[i] * alpha + (1.0 - alpha) * gi * gi
        if centered:
            grad_avg[i] = lerp(grad_avg[i], gi, 1.0 - alpha)
            avg = math.sqrt(square_avg[i] + (-1.0) * grad_avg[i] * grad_avg[i])
        else:
            avg = math.sqrt(square_avg[i])
        avg = avg + eps
        if mom > 0.0:
            buf[i] = buf[i] * mom + gi / avg
            x[i] = x[i] - lr * buf[i]
        else:
            x[i] = x[i] - lr * (gi / avg)


@njit
def adagrad_step(hp, lr, mom, t, x, g, s, sc):
    """AdaGrad (torch.optim.Adagrad).

    clr = lr/(1 + (t-1)*lr_decay); G <- G + g^2; x <- x - clr * g/(sqrt(G) + eps).
    hp: [lr, -, lr_decay, eps, wd, maximize, initial_accumulator_value].
    Duchi, Hazan & Singer, JMLR 2011.
    """
    lr_decay = hp[2]
    eps = hp[3]
    wd = hp[4]
    maximize = hp[5] != 0.0
    clr = lr / (1.0 + (t - 1.0) * lr_decay)
    state_sum = s[0]
    for i in range(x.shape[0]):
        gi = _coupled_grad(g, x, i, maximize, wd)
        state_sum[i] = state_sum[i] + 1.0 * gi * gi
        std = math.sqrt(state_sum[i]) + eps
        x[i] = x[i] - clr * (gi / std)


@njit
def adadelta_step(hp, lr, mom, t, x, g, s, sc):
    """Adadelta (torch.optim.Adadelta).

    a <- rho*a + (1-rho)*g^2; d = sqrt(u + eps)/sqrt(a + eps) * g;
    u <- rho*u + (1-rho)*d^2; x <- x - lr*d.  hp: [lr, -, rho, eps, wd, maximize].
    Zeiler, arXiv:1212.5701.
    """
    rho = hp[2]
    eps = hp[3]
    wd = hp[4]
    maximize = hp[5] != 0.0
    square_avg = s[0]
    acc_delta = s[1]
    for i in range(x.shape[0]):
        gi = _coupled_grad(g, x, i, maximize, wd)
        square_avg[i] = square_avg[i] * rho + (1.0 - rho) * gi * gi
        std = math.sqrt(square_avg[i] + eps)
        delta = math.sqrt(acc_delta[i] + eps)
        delta = delta / std * gi
        acc_delta[i] = acc_delta[i] * rho + (1.0 - rho) * delta * delta
        x[i] = x[i] - lr * delta


@njit
def lion_step(hp, lr, beta1, t, x, g, s, sc):
    """Lion, sign of an interpolated momentum (optax.lion semantics; torch has no Lion).

    u = sign((1-b1)*g + b1*m) + wd*x; m <- (1-b2)*g + b2*m; x <- x - lr*u.
    hp: [lr, beta1, beta2, -, wd, maximize].  Chen et al., NeurIPS 2023.
    """
    beta2 = hp[2]
    wd = hp[4]
    maximize = hp[5] != 0.0
    m = s[0]
    for i in range(x.shape[0]):
        gi = -g[i] if maximize else g[i]
        c = (1.0 - beta1) * gi + beta1 * m[i]
        u = 0.0
        if c > 0.0:
            u = 1.0
        elif c < 0.0:
            u = -1.0
        u = u + wd * x[i]
        m[i] = (1.0 - beta2) * gi + beta2 * m[i]
        x[i] = x[i] - lr * u


@njit
def optimizer_init(code, hp, s, sc):
    """Fresh optimizer state for one trajectory."""
    s[:, :] = 0.0
    sc[:] = 0.0
    if code == ADAGRAD:
        s[0, :] = hp[6]
    elif code == NADAM:
        sc[0] = 1.0


@njit
def optimizer_step(code, hp, lr, mom, t, x, g, s, sc):
    """Apply step ``t`` (1-based) of optimizer ``code`` to one trajectory in place."""
    if code == SGD:
        sgd_step(hp, lr, mom, t, x, g, s, sc)
    elif code == ADAM:
        adam_step(hp, lr, mom, t, x, g, s, sc)
    elif code == ADAMAX:
        adamax_step(hp, lr, mom, t, x, g, s, sc)
    elif code == NADAM:
        nadam_step(hp, lr, mom, t, x, g, s, sc)
    elif code == RADAM:
        radam_step(hp, lr, mom, t, x, g, s, sc)
    elif code == RMSPROP:
        rmsprop_step(hp, lr, mom, t, x, g, s, sc)
    elif code == ADAGRAD:
        adagrad_step(hp, lr, mom, t, x, g, s, sc)
    elif code == ADADELTA:
        adadelta_step(hp, lr, mom, t, x, g, s, sc)
    elif code == LION:
        lion_step(hp, lr, mom, t, x, g, s, sc)
