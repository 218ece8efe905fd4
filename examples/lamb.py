"""LAMB as a plugin in the whole-vector form, checked against a numpy loop.
========================================================================

LAMB (You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
ICLR 2020, Algorithm 2, one layer = the whole parameter vector):

    m <- b1*m + (1 - b1)*g;  v <- b2*v + (1 - b2)*g^2
    r = m/(1 - b1^t) / (sqrt(v/(1 - b2^t)) + eps) + wd*x
    x <- x - lr * (||x|| / ||r||) * r      (trust ratio 1 when either norm is 0)

The trust ratio needs norms over the whole vector, so the rule is written for a block of
trajectories at once: ``rule(hp, lr, mom, t, X, G, S, SC, C)`` with X, G of shape (d, B)
(column b is trajectory b), S the state (slots, d, B), ``hp`` the hyper-parameters in
``slot_names`` order and ``mom`` this step's beta1 (see optbench.kernels.optimizers).

Run it: ``python examples/lamb.py`` prints the largest relative difference from numpy.
"""
import math

import numpy as np
from numba import njit

from optbench import Optimizer, hyper


@njit(error_model="numpy")
def lamb_rule(hp, lr, beta1, t, X, G, S, SC, C):
    """LAMB on every column of X; S[2] holds the update direction r between the passes."""
    beta2, eps, wd = hp[2], hp[3], hp[4]
    bc1 = 1.0 - beta1 ** t
    bc2 = 1.0 - beta2 ** t
    d, nb = X.shape
    for b in range(nb):
        x_norm = 0.0
        r_norm = 0.0
        for i in range(d):
            m = beta1 * S[0, i, b] + (1.0 - beta1) * G[i, b]
            v = beta2 * S[1, i, b] + (1.0 - beta2) * G[i, b] * G[i, b]
            S[0, i, b] = m
            S[1, i, b] = v
            r = (m / bc1) / (math.sqrt(v / bc2) + eps) + wd * X[i, b]
            S[2, i, b] = r
            x_norm += X[i, b] * X[i, b]
            r_norm += r * r
        ratio = 1.0
        if x_norm > 0.0 and r_norm > 0.0:
            ratio = math.sqrt(x_norm) / math.sqrt(r_norm)
        for i in range(d):
            X[i, b] = X[i, b] - lr[b] * ratio * S[2, i, b]


class LAMB(Optimizer):
    """LAMB (You et al., ICLR 2020): Adam's direction scaled per layer by ||x|| / ||r||."""

    hyperparameters = {"lr": 1e-3, "betas": hyper((0.9, 0.999), lo=0.0, hi=1.0),
                       "eps": hyper(1e-6, lo=0.0), "weight_decay": hyper(0.0, lo=0.0)}
    state = {"m": 0.0, "v": 0.0, "r": 0.0}
    momentum_keyword = "betas"
    adaptive = True
    rule = staticmethod(lamb_rule)


def numpy_lamb(grad, x0, steps, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0):
    """Algorithm 2 of the paper for one layer, as a plain numpy loop: x_0 .. x_steps."""
    b1, b2 = betas
    x = np.array(x0, dtype=np.float64)
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    xs = [x.copy()]
    for t in range(1, steps + 1):
        g = grad(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        r = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps) + weight_decay * x
        x_norm, r_norm = np.linalg.norm(x), np.linalg.norm(r)
        ratio = x_norm / r_norm if x_norm > 0 and r_norm > 0 else 1.0
        x = x - lr * ratio * r
        xs.append(x.copy())
    return np.array(xs)


def main() -> int:
    import optbench
    from optbench.problems import Quadratic

    problem = Quadratic(dim=8, kappa=20.0)
    x0 = np.linspace(-1.0, 2.0, 8)
    steps = 100
    res = optbench.run(problem, LAMB(lr=0.01, weight_decay=0.01), steps=steps, x0=x0,
                       record=("x",))
    ours = res.trace("x")[0]
    ref = numpy_lamb(lambda x: problem.loss_grad(x)[1], x0, steps, lr=0.01, weight_decay=0.01)
    diff = float(np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-300)))
    print(f"LAMB vs numpy: max relative difference {diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
