"""Gradient noise models, applied to the gradient the optimizer sees (never to the recorded
loss). Draws come from the counter-based stream of the trajectory, indexed by step and
coordinate, so CPU and CUDA runs (any thread count, any shard layout) see the same noise.

Kinds (the spec's ``noise_kind``):

* GAUSSIAN        g + sigma z,            z ~ N(0, I)
* STUDENT_T       g + sigma t,            t_i ~ Student-t with ``dof`` degrees of freedom
                  (heavy tails: variance dof/(dof-2) for dof > 2, infinite for dof <= 2)
* MULTIPLICATIVE  g * (1 + sigma z),      z ~ N(0, I) (noise proportional to the gradient)

Step k, coordinate i uses counter c = k*d + i of the trajectory's key (Gaussian kinds), or of
a derived key (Student-t, which may use several uniform pairs per draw).
"""
import math

import numpy as np
from numba import njit

from . import rng

NONE = 0
GAUSSIAN = 1  # g + sigma * z,  z ~ N(0, I)
STUDENT_T = 2  # g + sigma * t,  t ~ t(dof)
MULTIPLICATIVE = 3  # g * (1 + sigma * z)

KINDS = {"gaussian": GAUSSIAN, "student_t": STUDENT_T, "multiplicative": MULTIPLICATIVE}

_STUDENT_SALT = np.uint64(0x7D2B5E0F13A9C647)
_MAX_TRIES = 64  # rejection tries per draw; P(all fail) = (1 - pi/4)^64 < 1e-42


@njit(error_model="numpy")
def student_t(key, counter, dof):
    """A Student-t draw with ``dof`` > 0 degrees of freedom: Bailey's polar method
    (Math. Comp. 62, 1994): (u, v) uniform in the unit disc, w = u^2 + v^2,
    t = u sqrt(dof (w^(-2/dof) - 1) / w). Try j uses uniform counters
    (counter*_MAX_TRIES + j)*2 and +1, so the draw depends on (key, counter) only."""
    base = counter * _MAX_TRIES
    for j in range(_MAX_TRIES):
        u = 2.0 * rng.uniform(key, 2 * (base + j)) - 1.0
        v = 2.0 * rng.uniform(key, 2 * (base + j) + 1) - 1.0
        w = u * u + v * v
        if 0.0 < w <= 1.0:
            return u * math.sqrt(dof * (w ** (-2.0 / dof) - 1.0) / w)
    return 0.0


@njit(cache=True, error_model="numpy")
def perturb_gradient_rows(kind, scale, dof, key, step, g, i0, i1, di):
    """Add noise of model ``kind`` to rows i = i0, i0 + di, ... < i1 of g in place (the CUDA
    block kernel splits the rows between threads); row i of step k uses counter k*d + i."""
    d = g.shape[0]
    if kind == GAUSSIAN:
        for i in range(i0, i1, di):
            g[i] += scale * rng.normal(key, step * d + i)
    elif kind == STUDENT_T:
        tkey = rng.mix64(key ^ _STUDENT_SALT)
        for i in range(i0, i1, di):
            g[i] += scale * student_t(tkey, step * d + i, dof)
    elif kind == MULTIPLICATIVE:
        for i in range(i0, i1, di):
            g[i] *= 1.0 + scale * rng.normal(key, step * d + i)


@njit(cache=True, error_model="numpy")
def perturb_gradient(kind, scale, dof, key, step, g):
    """Add noise of model ``kind`` to every coordinate of g in place (step k uses counters
    k*d .. k*d + d - 1)."""
    perturb_gradient_rows(kind, scale, dof, key, step, g, 0, g.shape[0], 1)
