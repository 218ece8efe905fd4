"""Slow, obvious reference for the engine loop: a Python for-loop over steps that calls the
same update rule and gradient the kernel uses. It checks the engine's wiring (start point,
lr/momentum per step, step count t, records, statuses), not the rules themselves (those are
checked against torch in test_optimizers_reference.py).
"""
import numpy as np

from optbench.codegen import kernel_for
from optbench.kernels import rng


def _norm(g):
    """sqrt(g_0^2 + g_1^2 + ...), summed left to right as the engine does."""
    acc = 0.0
    for v in g:
        acc += v * v
    return np.sqrt(acc)


def run_naive(problem, optimizer, x0, steps, lr=None, momentum=None, seed=0):
    """Iterates x_0..x_T, exact losses f(x_k) and grad norms ||grad f(x_k)|| at every step;
    lr/momentum: optional per-step arrays. A problem with a batch size steps along the
    minibatch gradient of trajectory ``seed``'s stream (no gradient noise model)."""
    hp = optimizer.hyperparams()
    d = problem.dim
    key = np.uint64(rng.stream_key(seed, problem.stream_id ^ 0x0153))
    x = np.array(x0, dtype=np.float64).reshape(d, 1)  # a one-lane block
    kernel = kernel_for([optimizer], "vector")
    s = np.zeros((kernel.state_slots, d, 1))
    sc = np.zeros(kernel.scalar_slots)
    c = np.zeros((kernel.coef_slots, 1))
    kernel.optimizer_init(0, hp, s, sc)
    xs, losses, gnorms = [x[:, 0].copy()], [], []
    for k in range(steps + 1):
        f, g = problem.loss_grad(x[:, 0])
        losses.append(f)
        gnorms.append(_norm(g))
        if k == steps:
            break
        if problem.batch_size > 0:
            g = problem.sampled_loss_grad(x[:, 0], key, k)[1]
        step_lr = hp[0] if lr is None else lr[k]
        step_mom = hp[1] if momentum is None or np.isnan(momentum[k]) else momentum[k]
        kernel.optimizer_step(0, hp, np.array([step_lr]), step_mom, k + 1.0, x,
                              g.reshape(d, 1), s, sc, c)
        xs.append(x[:, 0].copy())
    return np.array(xs), np.array(losses), np.array(gnorms)


# ---- each update rule as a plain numpy transcription of its library's algorithm ---------
#
# One function per optimizer definition (the unit the kernels dispatch on): state is a dict
# of numpy arrays (created on first use), ``t`` the 1-based step, ``lr`` and ``mom`` this
# step's lr and momentum/beta1 (a schedule may set both), ``p`` the spec's parameters. They
# follow the torch.optim 2.x single-tensor loops (Lion: optax.lion) operation by operation,
# but in numpy's own order, so they agree with the compiled rules to round-off; a rule can be
# checked without torch (tests/test_optimizers_reference.py replays the stored cases).

def _signed_decayed(x, g, p, lr, decoupled=False):
    """(x, g) after maximize and weight decay: L2 (g + wd x) or decoupled (x (1 - lr wd))."""
    g = -g if p.get("maximize", False) else g
    wd = p.get("weight_decay", 0.0)
    if wd != 0.0:
        if decoupled:
            x = x * (1.0 - lr * wd)
        else:
            g = g + wd * x
    return x, g


def numpy_sgd(x, g, s, t, lr, mom, p):
    """torch.optim.SGD: buf <- g (first step with momentum), else mom*buf + (1-dampening) g;
    nesterov: g + mom*buf, else buf; x <- x - lr*that."""
    x, g = _signed_decayed(x, g, p, lr)
    if mom != 0.0:
        if "buf" not in s:
            s["buf"] = g.copy()
        else:
            s["buf"] = mom * s["buf"] + (1.0 - p["dampening"]) * g
        g = g + mom * s["buf"] if p["nesterov"] else s["buf"]
    return x - lr * g


def numpy_adam(x, g, s, t, lr, mom, p):
    """torch.optim.Adam / AdamW and the variants of ``optbench.optimizers.Adam``'s docstring."""
    x, g = _signed_decayed(x, g, p, lr, p.get("decoupled_weight_decay", True))  # AdamW: always
    b2, eps = p["betas"][1], p["eps"]
    s["m"] = s.get("m", 0.0) + (1.0 - mom) * (g - s.get("m", 0.0))
    s["v"] = b2 * s.get("v", 0.0) + (1.0 - b2) * g * g
    v = s["v"]
    if p["amsgrad"]:
        s["vmax"] = np.maximum(s.get("vmax", 0.0), v)
        v = s["vmax"]
    bias = p["bias_correction"]
    bc1 = 1.0 - mom ** t if bias is True else 1.0
    bc2 = 1.0 - b2 ** t if bias else 1.0
    denom = np.sqrt(v / bc2 + eps) if p["eps_inside_sqrt"] else np.sqrt(v) / np.sqrt(bc2) + eps
    return x - (lr / bc1) * (s["m"] / denom)


def numpy_adamax(x, g, s, t, lr, mom, p):
    """torch.optim.Adamax: u <- max(b2 u, |g| + eps); x <- x - lr/(1-b1^t) m/u."""
    x, g = _signed_decayed(x, g, p, lr)
    s["m"] = s.get("m", 0.0) + (1.0 - mom) * (g - s.get("m", 0.0))
    s["u"] = np.maximum(p["betas"][1] * s.get("u", 0.0), np.abs(g) + p["eps"])
    return x - (lr / (1.0 - mom ** t)) * (s["m"] / s["u"])


def numpy_nadam(x, g, s, t, lr, mom, p):
    """torch.optim.NAdam: mu_t = b1 (1 - 0.96^(t psi)/2), P_t = prod mu;
    x <- x - lr (1-mu_t)/(1-P_t) g/d - lr mu_{t+1}/(1 - P_t mu_{t+1}) m/d."""
    x, g = _signed_decayed(x, g, p, lr, p["decoupled_weight_decay"])
    b2, psi = p["betas"][1], p["momentum_decay"]
    mu = mom * (1.0 - 0.5 * 0.96 ** (t * psi))
    mu_next = mom * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
    s["P"] = s.get("P", 1.0) * mu
    s["m"] = s.get("m", 0.0) + (1.0 - mom) * (g - s.get("m", 0.0))
    s["v"] = b2 * s.get("v", 0.0) + (1.0 - b2) * g * g
    denom = np.sqrt(s["v"] / (1.0 - b2 ** t)) + p["eps"]
    x = x - lr * (1.0 - mu) / (1.0 - s["P"]) * (g / denom)
    return x - lr * mu_next / (1.0 - s["P"] * mu_next) * (s["m"] / denom)


def numpy_radam(x, g, s, t, lr, mom, p):
    """torch.optim.RAdam: the rectified step when rho_t > 5, else lr times m_hat."""
    x, g = _signed_decayed(x, g, p, lr, p["decoupled_weight_decay"])
    b2 = p["betas"][1]
    s["m"] = s.get("m", 0.0) + (1.0 - mom) * (g - s.get("m", 0.0))
    s["v"] = b2 * s.get("v", 0.0) + (1.0 - b2) * g * g
    bc2 = 1.0 - b2 ** t
    m_hat = s["m"] / (1.0 - mom ** t)
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    rho_t = rho_inf - 2.0 * t * b2 ** t / bc2
    if rho_t <= 5.0:
        return x - lr * m_hat
    rect = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return x - lr * m_hat * np.sqrt(bc2) / (np.sqrt(s["v"]) + p["eps"]) * rect


def numpy_rmsprop(x, g, s, t, lr, mom, p):
    """torch.optim.RMSprop: sq <- a sq + (1-a) g^2; centered: minus the squared mean;
    momentum: buf <- mom buf + g/avg, x <- x - lr buf; else x <- x - lr g/avg."""
    x, g = _signed_decayed(x, g, p, lr)
    a = p["alpha"]
    s["sq"] = a * s.get("sq", 0.0) + (1.0 - a) * g * g
    if p["centered"]:
        s["ga"] = s.get("ga", 0.0) + (1.0 - a) * (g - s.get("ga", 0.0))
        avg = np.sqrt(s["sq"] - s["ga"] * s["ga"]) + p["eps"]
    else:
        avg = np.sqrt(s["sq"]) + p["eps"]
    if mom > 0.0:
        s["buf"] = mom * s.get("buf", 0.0) + g / avg
        return x - lr * s["buf"]
    return x - lr * g / avg


def numpy_adagrad(x, g, s, t, lr, mom, p):
    """torch.optim.Adagrad: sum <- sum + g^2; x <- x - lr/(1 + (t-1) lr_decay) g/(sqrt(sum)+eps)."""
    x, g = _signed_decayed(x, g, p, lr)
    s["sum"] = s.get("sum", p["initial_accumulator_value"]) + g * g
    return x - lr / (1.0 + (t - 1) * p["lr_decay"]) * g / (np.sqrt(s["sum"]) + p["eps"])


def numpy_adadelta(x, g, s, t, lr, mom, p):
    """torch.optim.Adadelta: sq <- rho sq + (1-rho) g^2; delta = sqrt(acc+eps)/sqrt(sq+eps) g;
    acc <- rho acc + (1-rho) delta^2; x <- x - lr delta."""
    x, g = _signed_decayed(x, g, p, lr)
    rho, eps = p["rho"], p["eps"]
    s["sq"] = rho * s.get("sq", 0.0) + (1.0 - rho) * g * g
    delta = np.sqrt(s.get("acc", 0.0) + eps) / np.sqrt(s["sq"] + eps) * g
    s["acc"] = rho * s.get("acc", 0.0) + (1.0 - rho) * delta * delta
    return x - lr * delta


def numpy_lion(x, g, s, t, lr, mom, p):
    """optax.lion: u = sign(b1 m + (1-b1) g); m <- b2 m + (1-b2) g; x <- x - lr (u + wd x)."""
    g = -g if p["maximize"] else g
    m = s.get("m", 0.0)
    update = np.sign(mom * m + (1.0 - mom) * g)
    s["m"] = p["betas"][1] * m + (1.0 - p["betas"][1]) * g
    return x - lr * (update + p["weight_decay"] * x)


#: optimizer definition name -> its numpy transcription
NUMPY_RULES = {"SGD": numpy_sgd, "Adam": numpy_adam, "Adamax": numpy_adamax,
               "NAdam": numpy_nadam, "RAdam": numpy_radam, "RMSprop": numpy_rmsprop,
               "Adagrad": numpy_adagrad, "Adadelta": numpy_adadelta, "Lion": numpy_lion}
