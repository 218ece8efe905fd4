"""Objective functions and their analytic gradients, written once as ``@njit`` functions.

Every problem family has one function

    loss = family_loss_grad(p, x, g, w)

that returns f(x) and writes the gradient into ``g``. ``p`` is the instance's parameter
vector (layout in each docstring, built by the spec in :mod:`optbench.problems`), ``w`` a
scratch vector of the length the spec asks for. Nothing allocates, so the CPU engine and the
CUDA kernels share these functions; ``problem_loss_grad`` dispatches on the family code.
"""
import math

from numba import njit

# Problem family codes.
QUADRATIC = 0
ROSENBROCK = 1


@njit
def quadratic_loss_grad(p, x, g, w):
    """f(x) = 1/2 (x - c)^T Q diag(lam) Q^T (x - c);  grad = Q diag(lam) Q^T (x - c).

    p = [rotated, lam (d), c (d), Q (d*d, row-major, only when rotated)]; w: 2d.
    """
    d = x.shape[0]
    rotated = p[0] != 0.0
    lam = p[1:1 + d]
    c = p[1 + d:1 + 2 * d]
    if not rotated:
        f = 0.0
        for i in range(d):
            z = x[i] - c[i]
            gi = lam[i] * z
            g[i] = gi
            f += gi * z
        return 0.5 * f
    q = p[1 + 2 * d:1 + 2 * d + d * d]
    z = w[:d]
    y = w[d:2 * d]
    for i in range(d):
        z[i] = x[i] - c[i]
    f = 0.0
    for k in range(d):  # y = Q^T z, scaled by lam
        acc = 0.0
        for i in range(d):
            acc += q[i * d + k] * z[i]
        f += lam[k] * acc * acc
        y[k] = lam[k] * acc
    for i in range(d):  # g = Q y
        acc = 0.0
        for k in range(d):
            acc += q[i * d + k] * y[k]
        g[i] = acc
    return 0.5 * f


@njit
def rosenbrock_loss_grad(p, x, g, w):
    """f(x) = sum_{i<d-1} a (x_{i+1} - x_i^2)^2 + (1 - x_i)^2  (Rosenbrock, 1960).

    p = [a] (a = 100 classically); minimum 0 at x = (1, ..., 1).
    """
    a = p[0]
    d = x.shape[0]
    f = 0.0
    for i in range(d):
        g[i] = 0.0
    for i in range(d - 1):
        xi = x[i]
        r = x[i + 1] - xi * xi
        s = 1.0 - xi
        f += a * r * r + s * s
        g[i] += -4.0 * a * r * xi - 2.0 * s
        g[i + 1] += 2.0 * a * r
    return f


@njit
def problem_loss_grad(code, p, x, g, w):
    """f(x) of family ``code``; writes grad f(x) into g."""
    if code == QUADRATIC:
        return quadratic_loss_grad(p, x, g, w)
    elif code == ROSENBROCK:
        return rosenbrock_loss_grad(p, x, g, w)
    return math.nan  # unknown code: surfaces as a diverged trajectory, never silently


@njit
def problem_sample_grad(code, p, x, g, w, key, step, batch, replace):
    """Minibatch gradient of a finite-sum family into g; returns the minibatch loss.

    Families without a finite-sum form keep the exact gradient already in g and return NaN.
    """
    return math.nan
