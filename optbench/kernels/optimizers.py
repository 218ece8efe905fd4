"""Update rules of every optimizer, written once as device-safe ``@njit`` functions.

Each rule updates one *block* of trajectories that share a configuration, in place:

    rule(hp, lr, mom, t, X, G, S, SC, C)

- ``hp``: the optimizer's hyper-parameters, in the order of its spec's ``slot_names``
  (``hp[0]`` is the base lr, ``hp[1]`` the base momentum or beta1);
- ``lr``: the learning rate of this step, one per lane (ReduceLROnPlateau gives every
  trajectory its own); ``mom``: the momentum/beta1 of this step (a schedule may change both);
- ``t``: the 1-based step count (torch's ``state['step']`` after its increment);
- ``X``, ``G``: parameters and gradients, shape (d, B): coordinate i of lane b is [i, b];
  ``G`` is read, never written;
- ``S``: per-coordinate state, shape (slots, d, B), named and initialised by the spec's
  ``state``; ``SC``: scalar state shared by the block (it depends only on the step and the
  hyper-parameters; the spec's ``step_state``); ``C``: per-lane scratch for step
  coefficients, shape (at least 3, B), of X's element type.

These are the built-in optimizers' rules in the whole-block form of an optimizer definition
(``optbench.optimizers.Optimizer.rule``); :mod:`optbench.codegen` compiles the dispatch over
the rules a plan uses, as for a user's.

Every rule is elementwise over coordinates, so any subset of rows is a valid block. The CPU
engine passes C-contiguous blocks of up to 128 lanes, so the inner loop over lanes vectorises;
the CUDA thread-mode kernel passes one-lane column views, the block-mode kernel each thread's
rows (X[tid::nt]) with its own copies of ``SC`` and ``C``. Nothing allocates. Semantics follow
torch.optim 2.x single-tensor implementations (float64), including the order of
floating-point operations; Lion follows optax.

Precision: the per-step scalars (bias corrections, step sizes) are computed in float64; the
per-coordinate arithmetic runs in X's element type, each coefficient rounded to it once before
the loops (``as_elem``, or a store into ``C``), as torch updates a float32 tensor in float32
with its Python-float hyper-parameters cast to float32. For float64 blocks the casts are
identities. (No array is passed to a helper inside the loops: numba would reference-count it
there and the loops would not vectorise.)
"""
import math

from numba import njit

# Adam's bias-correction modes (hp[8]).
BIAS_NONE, BIAS_BOTH, BIAS_SECOND_ONLY = 0.0, 1.0, 2.0

_KW = dict(error_model="numpy")  # IEEE division (inf/nan flag divergence), vectorisable


@njit(inline="always", **_KW)
def as_elem(A, value):
    """``value`` rounded to the element type of array A (identity for float64)."""
    return A.dtype.type(value)


@njit(inline="always", **_KW)
def lerp_weights(A, weight):
    """(w, 1 - w) in A's element type: torch.lerp's scalar weight and its complement."""
    w = as_elem(A, weight)
    return w, as_elem(A, 1.0 - w)


@njit(inline="always", **_KW)
def lerp(start, end, w, w_rest):
    """torch.lerp for a scalar weight w (w_rest = 1 - w, from ``lerp_weights``): the
    two-branch form torch uses for accuracy."""
    if abs(w) < 0.5:
        return start + w * (end - start)
    return end - (end - start) * w_rest


@njit(inline="always", **_KW)
def _coupled_grad(g, x, maximize, wd):
    """Gradient with maximize and L2 (coupled) weight decay applied: g + wd * x."""
    gi = -g if maximize else g
    if wd != 0.0:
        gi = gi + wd * x
    return gi


@njit(inline="always", **_KW)
def _decayed(g, x, decay, maximize, wd, decoupled):
    """(gradient, parameter) after maximize and weight decay, coupled (g + wd*x) or
    decoupled (x*decay, decay = 1 - lr*wd: AdamW), as the Adam family applies them before
    the moments."""
    if decoupled and wd != 0.0:
        return (-g if maximize else g), x * decay
    return _coupled_grad(g, x, maximize, wd), x


@njit(inline="always", **_KW)
def _decay_factors(lr, wd, decoupled, out):
    """out[b] = 1 - lr[b]*wd (decoupled weight decay's per-lane factor) when it applies."""
    if decoupled and wd != 0.0:
        for b in range(out.shape[0]):
            out[b] = 1.0 - lr[b] * wd


@njit(inline="always", **_KW)
def _lanes_as_elem(values, out):
    """out[b] = values[b] rounded to out's element type (per-lane lr for the inner loops)."""
    for b in range(out.shape[0]):
        out[b] = values[b]
    return out


@njit(inline="always", **_KW)
def _lanes_over(lr, divisor, out):
    """out[b] = lr[b] / divisor (rounded to out's element type), with one division for the
    block when its lanes share their lr (stopped lanes' lr is 0, and 0 / divisor = 0 for a
    positive divisor): a division per lane added a tenth to the divider's work in workload
    A (ten coordinates a lane, one division and one square root each). Blocks of under 8
    lanes divide per lane (the test costs more there than it saves)."""
    shared = lr[0]
    uniform = lr.shape[0] >= 8 and divisor > 0.0 and shared != 0.0
    for b in range(lr.shape[0]):
        uniform &= (lr[b] == shared) | (lr[b] == 0.0)
    if uniform:
        quotient = shared / divisor
        for b in range(lr.shape[0]):
            out[b] = quotient if lr[b] != 0.0 else lr[b]
    else:
        for b in range(lr.shape[0]):
            out[b] = lr[b] / divisor
    return out


@njit(inline="always", **_KW)
def _adam_coefs(A, beta1, beta2, eps, wd):
    """The Adam family's loop constants in A's element type: (w1, 1 - w1) for the first
    moment's lerp (w1 = 1 - b1), b2, 1 - b2, eps and the coupled weight decay."""
    w1, w1_rest = lerp_weights(A, 1.0 - beta1)
    return (w1, w1_rest, as_elem(A, beta2), as_elem(A, 1.0 - beta2), as_elem(A, eps),
            as_elem(A, wd))


@njit(inline="always", **_KW)
def _moments(m, v, g, w1, w1_rest, beta2, beta2_rest):
    """Adam's moments: m <- lerp(m, g, 1 - b1), v <- b2*v + (1 - b2)*g^2 (weights from
    ``lerp_weights``; beta2_rest = 1 - b2)."""
    return lerp(m, g, w1, w1_rest), v * beta2 + beta2_rest * g * g


@njit(cache=True, **_KW)
def sgd_step(hp, lr, mom, t, X, G, S, SC, C):
    """SGD with heavy-ball or Nesterov momentum (torch.optim.SGD).

    b <- mom*b + (1 - dampening)*g (b = g on the first momentum step);
    d = g + mom*b (Nesterov) or b; x <- x - lr*d.  hp: [lr, momentum, dampening, -, wd,
    maximize, nesterov].  Sutskever et al., ICML 2013.
    """
    damp_rest = as_elem(X, 1.0 - hp[2])
    wd = as_elem(X, hp[4])
    maximize = hp[5] != 0.0
    nesterov = hp[6] != 0.0
    first = SC[0] == 0.0
    if mom != 0.0:
        SC[0] = 1.0
    mom_e = as_elem(X, mom)
    d, nb = X.shape
    lr_e = _lanes_as_elem(lr, C[0])
    for i in range(d):
        x = X[i]
        g = G[i]
        buf = S[0, i]
        for b in range(nb):
            gi = _coupled_grad(g[b], x[b], maximize, wd)
            if mom != 0.0:
                if first:
                    bi = gi
                else:
                    bi = buf[b] * mom_e + damp_rest * gi
                buf[b] = bi
                if nesterov:
                    gi = gi + mom_e * bi
                else:
                    gi = bi
            x[b] = x[b] - lr_e[b] * gi


@njit(cache=True, **_KW)
def adam_step(hp, lr, beta1, t, X, G, S, SC, C):
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
    # the loop-invariant divisions by (1 - b2^t) and its root are multiplications by the
    # reciprocal (within an ulp of torch's order; the divider is this loop's bottleneck)
    inv_bias_correction2 = as_elem(X, 1.0 / bias_correction2)
    inv_bias_correction2_sqrt = as_elem(X, 1.0 / math.sqrt(bias_correction2))
    step_size = _lanes_over(lr, bias_correction1, C[0])
    decay = C[1]
    _decay_factors(lr, wd, decoupled, decay)
    w1, w1_rest, b2, b2_rest, eps_e, wd_e = _adam_coefs(X, beta1, beta2, eps, wd)
    # one loop per denominator form, and one for plain Adam whose flags are constants: no
    # branch on them in the inner loop (the flag tests cost VectorOptimizer 1.3x on 1e7
    # coordinates; the same values either way)
    if not (eps_inside or maximize or amsgrad or wd != 0.0):
        _adam_family_rows(ADAM, X, G, S, step_size, step_size, decay, w1, w1_rest, b2,
                          b2_rest, eps_e, wd_e, False, False, False, False, False,
                          inv_bias_correction2, inv_bias_correction2_sqrt, eps_e)
    elif eps_inside:
        _adam_family_rows(ADAM, X, G, S, step_size, step_size, decay, w1, w1_rest, b2,
                          b2_rest, eps_e, wd_e, maximize, amsgrad, decoupled, True, False,
                          inv_bias_correction2, inv_bias_correction2_sqrt, eps_e)
    else:
        _adam_family_rows(ADAM, X, G, S, step_size, step_size, decay, w1, w1_rest, b2,
                          b2_rest, eps_e, wd_e, maximize, amsgrad, decoupled, False, False,
                          inv_bias_correction2, inv_bias_correction2_sqrt, eps_e)


# the Adam family's update forms (``_adam_family_rows``): each rule passes its own as a
# constant, so the shared loop compiles to one branch-free loop per rule
ADAM, NADAM, RADAM = 0, 1, 2


@njit(inline="always", **_KW)
def _adam_family_rows(form, X, G, S, lane_a, lane_b, decay, w1, w1_rest, beta2, beta2_rest,
                      eps, wd, maximize, amsgrad, decoupled, eps_inside, rectified, c1, c2, c3):
    """The per-coordinate loop of Adam, NAdam and RAdam over a block: weight decay, the two
    moments (AMSGrad: v <- max(vmax, v)), then the form's step, with every coefficient
    already in X's element type (per lane: ``lane_a``, ``lane_b``; per block: c1, c2, c3):

    - ADAM:  x <- x - a*m/den, den = sqrt(v)*c2 + eps, or sqrt(v*c1 + eps) with eps inside
      (a = lr/(1-b1^t), c1 = 1/(1-b2^t), c2 = 1/sqrt(1-b2^t));
    - NADAM: x <- (x + a*g/den) + b*m/den, den = sqrt(v*c1) + eps (c1 = 1/(1-b2^t));
    - RADAM: x <- x - (m*c1)*a*(c2/(sqrt(v) + eps))*c3 when rectified, else x - (m*c1)*a
      (a = lr, c1 = 1/(1-b1^t), c2 = sqrt(1-b2^t), c3 the rectification term).
    """
    d, nb = X.shape
    for i in range(d):
        x = X[i]
        g = G[i]
        m = S[0, i]
        v = S[1, i]
        vmax = S[2, i] if amsgrad else v
        for b in range(nb):
            gi, xi = _decayed(g[b], x[b], decay[b], maximize, wd, decoupled)
            mi, vi = _moments(m[b], v[b], gi, w1, w1_rest, beta2, beta2_rest)
            m[b] = mi
            v[b] = vi
            if amsgrad:
                vi = max(vmax[b], vi)
                vmax[b] = vi
            if form == ADAM:
                if eps_inside:
                    denom = math.sqrt(vi * c1 + eps)
                else:
                    denom = math.sqrt(vi) * c2 + eps
                x[b] = xi - lane_a[b] * (mi / denom)
            elif form == NADAM:
                denom = math.sqrt(vi * c1) + eps
                xi = xi + lane_a[b] * (gi / denom)
                x[b] = xi + lane_b[b] * (mi / denom)
            else:
                corrected = mi * c1
                if rectified:
                    adaptive = c2 / (math.sqrt(vi) + eps)
                    x[b] = xi - corrected * lane_a[b] * adaptive * c3
                else:
                    x[b] = xi - corrected * lane_a[b]


@njit(cache=True, **_KW)
def adamax_step(hp, lr, beta1, t, X, G, S, SC, C):
    """Adamax, Adam with the infinity norm (torch.optim.Adamax).

    m <- lerp(m, g, 1-b1); u <- max(b2*u, |g| + eps); x <- x - lr/(1-b1^t) * m/u.
    hp: [lr, beta1, beta2, eps, wd, maximize].  Kingma & Ba, ICLR 2015, section 7.
    """
    beta2 = as_elem(X, hp[2])
    eps = as_elem(X, hp[3])
    wd = as_elem(X, hp[4])
    maximize = hp[5] != 0.0
    bias_correction = 1.0 - beta1**t
    w1, w1_rest = lerp_weights(X, 1.0 - beta1)
    d, nb = X.shape
    clr = _lanes_over(lr, bias_correction, C[0])
    for i in range(d):
        x = X[i]
        g = G[i]
        m = S[0, i]
        u = S[1, i]
        for b in range(nb):
            gi = _coupled_grad(g[b], x[b], maximize, wd)
            mi = lerp(m[b], gi, w1, w1_rest)
            m[b] = mi
            decayed = u[b] * beta2
            bound = abs(gi) + eps
            ui = decayed if decayed > bound else bound
            u[b] = ui
            x[b] = x[b] - clr[b] * (mi / ui)


@njit(cache=True, **_KW)
def nadam_step(hp, lr, beta1, t, X, G, S, SC, C):
    """NAdam, Adam with Nesterov momentum and momentum decay (torch.optim.NAdam).

    mu_t = b1*(1 - 0.5*0.96^(t*psi)); P_t = prod mu_k; m, v as Adam;
    x <- x - lr*(1-mu_t)/(1-P_t) * g/d - lr*mu_{t+1}/(1-P_t*mu_{t+1}) * m/d,
    d = sqrt(v/(1-b2^t)) + eps.  hp: [lr, beta1, beta2, eps, wd, maximize, momentum_decay,
    decoupled].  SC[0] holds P_t.  Dozat, ICLR workshop 2016.
    """
    beta2 = hp[2]
    eps = hp[3]
    wd = hp[4]
    maximize = hp[5] != 0.0
    momentum_decay = hp[6]
    decoupled = hp[7] != 0.0
    inv_bias_correction2 = as_elem(X, 1.0 / (1.0 - beta2**t))  # reciprocal: see adam_step
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * momentum_decay)))
    SC[0] = SC[0] * mu
    mu_product = SC[0]
    mu_product_next = mu_product * mu_next
    d, nb = X.shape
    grad_coef = C[0]
    avg_coef = C[1]
    decay = C[2]
    for b in range(nb):
        grad_coef[b] = -lr[b] * (1.0 - mu) / (1.0 - mu_product)
        avg_coef[b] = (-lr[b] * mu_next) / (1.0 - mu_product_next)
    _decay_factors(lr, wd, decoupled, decay)
    w1, w1_rest, b2, b2_rest, eps_e, wd_e = _adam_coefs(X, beta1, beta2, eps, wd)
    _adam_family_rows(NADAM, X, G, S, grad_coef, avg_coef, decay, w1, w1_rest, b2, b2_rest,
                      eps_e, wd_e, maximize, False, decoupled, False, False,
                      inv_bias_correction2, inv_bias_correction2, eps_e)


@njit(cache=True, **_KW)
def radam_step(hp, lr, beta1, t, X, G, S, SC, C):
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
    bias_correction2_sqrt = as_elem(X, math.sqrt(bias_correction2))
    inv_bias_correction1 = as_elem(X, 1.0 / bias_correction1)  # reciprocal: see adam_step
    rect_e = as_elem(X, rect)
    lr_e = _lanes_as_elem(lr, C[0])
    decay = C[1]
    _decay_factors(lr, wd, decoupled, decay)
    w1, w1_rest, b2, b2_rest, eps_e, wd_e = _adam_coefs(X, beta1, beta2, eps, wd)
    _adam_family_rows(RADAM, X, G, S, lr_e, lr_e, decay, w1, w1_rest, b2, b2_rest, eps_e,
                      wd_e, maximize, False, decoupled, False, rectified, inv_bias_correction1,
                      bias_correction2_sqrt, rect_e)


@njit(cache=True, **_KW)
def rmsprop_step(hp, lr, mom, t, X, G, S, SC, C):
    """RMSprop, optionally centered and with momentum (torch.optim.RMSprop).

    a <- alpha*a + (1-alpha)*g^2; (centered: c <- lerp(c, g, 1-alpha), a' = a - c^2);
    d = sqrt(a') + eps; momentum: b <- mom*b + g/d, x <- x - lr*b; else x <- x - lr*g/d.
    hp: [lr, momentum, alpha, eps, wd, maximize, centered].  Hinton, Coursera lecture 6e.
    """
    alpha = as_elem(X, hp[2])
    alpha_rest, w_rest = lerp_weights(X, 1.0 - hp[2])  # 1 - alpha, also the lerp weight
    eps = as_elem(X, hp[3])
    wd = as_elem(X, hp[4])
    maximize = hp[5] != 0.0
    centered = hp[6] != 0.0
    mom_e = as_elem(X, mom)
    minus_one = as_elem(X, -1.0)
    d, nb = X.shape
    lr_e = _lanes_as_elem(lr, C[0])
    for i in range(d):
        x = X[i]
        g = G[i]
        square_avg = S[0, i]
        grad_avg = S[1, i]
        buf = S[2, i]
        for b in range(nb):
            gi = _coupled_grad(g[b], x[b], maximize, wd)
            sq = square_avg[b] * alpha + alpha_rest * gi * gi
            square_avg[b] = sq
            if centered:
                ga = lerp(grad_avg[b], gi, alpha_rest, w_rest)
                grad_avg[b] = ga
                avg = math.sqrt(sq + minus_one * ga * ga)
            else:
                avg = math.sqrt(sq)
            avg = avg + eps
            if mom > 0.0:
                bi = buf[b] * mom_e + gi / avg
                buf[b] = bi
                x[b] = x[b] - lr_e[b] * bi
            else:
                x[b] = x[b] - lr_e[b] * (gi / avg)


@njit(cache=True, **_KW)
def adagrad_step(hp, lr, mom, t, X, G, S, SC, C):
    """AdaGrad (torch.optim.Adagrad).

    clr = lr/(1 + (t-1)*lr_decay); G <- G + g^2; x <- x - clr * g/(sqrt(G) + eps).
    hp: [lr, -, lr_decay, eps, wd, maximize, initial_accumulator_value].
    Duchi, Hazan & Singer, JMLR 2011.
    """
    lr_decay = hp[2]
    eps = as_elem(X, hp[3])
    wd = as_elem(X, hp[4])
    maximize = hp[5] != 0.0
    one = as_elem(X, 1.0)
    d, nb = X.shape
    clr = _lanes_over(lr, 1.0 + (t - 1.0) * lr_decay, C[0])
    for i in range(d):
        x = X[i]
        g = G[i]
        state_sum = S[0, i]
        for b in range(nb):
            gi = _coupled_grad(g[b], x[b], maximize, wd)
            acc = state_sum[b] + one * gi * gi
            state_sum[b] = acc
            std = math.sqrt(acc) + eps
            x[b] = x[b] - clr[b] * (gi / std)


@njit(cache=True, **_KW)
def adadelta_step(hp, lr, mom, t, X, G, S, SC, C):
    """Adadelta (torch.optim.Adadelta).

    a <- rho*a + (1-rho)*g^2; d = sqrt(u + eps)/sqrt(a + eps) * g;
    u <- rho*u + (1-rho)*d^2; x <- x - lr*d.  hp: [lr, -, rho, eps, wd, maximize].
    Zeiler, arXiv:1212.5701.
    """
    rho = as_elem(X, hp[2])
    rho_rest = as_elem(X, 1.0 - hp[2])
    eps = as_elem(X, hp[3])
    wd = as_elem(X, hp[4])
    maximize = hp[5] != 0.0
    d, nb = X.shape
    lr_e = _lanes_as_elem(lr, C[0])
    for i in range(d):
        x = X[i]
        g = G[i]
        square_avg = S[0, i]
        acc_delta = S[1, i]
        for b in range(nb):
            gi = _coupled_grad(g[b], x[b], maximize, wd)
            sq = square_avg[b] * rho + rho_rest * gi * gi
            square_avg[b] = sq
            std = math.sqrt(sq + eps)
            delta = math.sqrt(acc_delta[b] + eps)
            delta = delta / std * gi
            acc_delta[b] = acc_delta[b] * rho + rho_rest * delta * delta
            x[b] = x[b] - lr_e[b] * delta


@njit(cache=True, **_KW)
def lion_step(hp, lr, beta1, t, X, G, S, SC, C):
    """Lion, sign of an interpolated momentum (optax.lion semantics; torch has no Lion).

    u = sign((1-b1)*g + b1*m) + wd*x; m <- (1-b2)*g + b2*m; x <- x - lr*u.
    hp: [lr, beta1, beta2, -, wd, maximize].  Chen et al., NeurIPS 2023.
    """
    b1, b1_rest = as_elem(X, beta1), as_elem(X, 1.0 - beta1)
    b2, b2_rest = as_elem(X, hp[2]), as_elem(X, 1.0 - hp[2])
    wd = as_elem(X, hp[4])
    maximize = hp[5] != 0.0
    zero, one = as_elem(X, 0.0), as_elem(X, 1.0)
    d, nb = X.shape
    lr_e = _lanes_as_elem(lr, C[0])
    for i in range(d):
        x = X[i]
        g = G[i]
        m = S[0, i]
        for b in range(nb):
            gi = -g[b] if maximize else g[b]
            c = b1_rest * gi + b1 * m[b]
            u = zero
            if c > zero:
                u = one
            elif c < zero:
                u = -one
            u = u + wd * x[b]
            m[b] = b2_rest * gi + b2 * m[b]
            x[b] = x[b] - lr_e[b] * u
