"""Problem specifications: objectives with known optima, constants and controlled noise.

Each problem's loss and gradient are compiled once in :mod:`optbench.kernels.problems` and
shared by the CPU and CUDA engines; the spec classes here hold parameters, build the packed
parameter vector, and know f*, the minimizers and the constants (L, mu) where known.

Convex: Quadratic, LeastSquares, LogisticRegression, SoftmaxRegression, Huber,
ReddiCounterexample. Nonconvex: Rosenbrock, Rastrigin, Ackley, Griewank, Levy,
StyblinskiTang, Beale, Booth, Himmelblau, GoldsteinPrice, SixHumpCamel,
MatrixFactorization, PhaseRetrieval, MLP.
"""
from .base import NOISE_KINDS, REGISTRY, Problem
from .convex import (Huber, LeastSquares, LogisticRegression, Quadratic, ReddiCounterexample,
                     SoftmaxRegression)
from .nonconvex import (MLP, Ackley, Beale, Booth, GoldsteinPrice, Griewank, Himmelblau, Levy,
                        MatrixFactorization, PhaseRetrieval, Rastrigin, Rosenbrock,
                        SixHumpCamel, StyblinskiTang)

CONVEX = ("Quadratic", "LeastSquares", "LogisticRegression", "SoftmaxRegression", "Huber",
          "ReddiCounterexample")
NONCONVEX = ("Rosenbrock", "Rastrigin", "Ackley", "Griewank", "Levy", "StyblinskiTang",
             "Beale", "Booth", "Himmelblau", "GoldsteinPrice", "SixHumpCamel",
             "MatrixFactorization", "PhaseRetrieval", "MLP")

__all__ = ["REGISTRY", "NOISE_KINDS", "CONVEX", "NONCONVEX", "Problem", *CONVEX, *NONCONVEX]
