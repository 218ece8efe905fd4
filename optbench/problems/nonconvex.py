"""Nonconvex problems."""
from __future__ import annotations

import numpy as np

from ..kernels import problems as k
from ..spec import integer, real
from .base import Problem


class Rosenbrock(Problem):
    """f(x) = sum_{i<d-1} a (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, d >= 2.

    Global minimum f* = 0 at (1, ..., 1) (Rosenbrock, The Computer Journal 3, 1960; the
    d-dimensional chained form of Dixon & Mills, JOTA 1994). Start points: uniform in
    [-2, 2]^d.
    """

    code = k.ROSENBROCK

    def __init__(self, dim=2, a=100.0, noise=0.0):
        n = "Rosenbrock"
        dim = integer(n, "dim", dim, lo=2)
        a = real(n, "a", a, lo=0.0, lo_open=True)
        noise = real(n, "noise", noise, lo=0.0)
        self._store(locals())

    def _build(self):
        return dict(data=np.array([self.a]), minimizers=np.ones((1, self.dim)), f_star=0.0,
                    x0_low=-2.0, x0_high=2.0)
