"""Problem specifications: objectives with known optima, constants and controlled noise.

Every family goes through the problem door a user's problem does (:class:`Problem`): its
class holds its parameters, builds the data vector, knows f*, the minimizers and the
constants (L, mu) where known, and names its kernel hooks, the ``@njit`` functions of
:mod:`optbench.kernels.problems`, which ``optbench.codegen`` compiles into the CPU and CUDA
kernels.

Each family declares its class (``problem_class``: strongly convex, convex, nonconvex
smooth, multimodal, online; an instance with noisy or minibatch gradients is stochastic):
see :mod:`optbench.problems.classes`. ``CONVEX`` and ``NONCONVEX`` list the families by it.
"""
from . import classes
from .base import NOISE_KINDS, REGISTRY, Problem
from .convex import (Huber, LeastSquares, LogisticRegression, Quadratic, ReddiCounterexample,
                     SoftmaxRegression)
from .nonconvex import (MLP, Ackley, Beale, Booth, GoldsteinPrice, Griewank, Himmelblau, Levy,
                        MatrixFactorization, PhaseRetrieval, Rastrigin, Rosenbrock,
                        SixHumpCamel, StyblinskiTang)

from .classes import family_class, problem_class

CONVEX = tuple(n for n, c in REGISTRY.items() if family_class(c) in classes.CONVEX_CLASSES)
NONCONVEX = tuple(n for n, c in REGISTRY.items() if family_class(c) not in classes.CONVEX_CLASSES)

__all__ = ["REGISTRY", "NOISE_KINDS", "CONVEX", "NONCONVEX", "Problem", "problem_class",
           "family_class", *CONVEX, *NONCONVEX]
