"""Gradient noise models, applied to the gradient the optimizer sees (never to the recorded
loss). Draws come from the counter-based stream of the trajectory, indexed by step and
coordinate, so CPU and CUDA runs see the same noise.
"""
from numba import njit

from . import rng

NONE = 0
GAUSSIAN = 1  # g + sigma * z,  z ~ N(0, I)


@njit
def perturb_gradient(kind, scale, dof, key, step, g):
    """Add noise of model ``kind`` to g in place (step k uses counters k*d .. k*d + d - 1)."""
    d = g.shape[0]
    if kind == GAUSSIAN:
        for i in range(d):
            g[i] += scale * rng.normal(key, step * d + i)
