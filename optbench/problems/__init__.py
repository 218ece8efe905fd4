"""Problem specifications: objectives with known optima, constants and controlled noise.

Each problem's loss and gradient are compiled once in :mod:`optbench.kernels.problems` and
shared by the CPU and CUDA engines; the spec classes here hold parameters, build the packed
parameter vector, and know f*, the minimizers and the constants (L, mu) where known.
"""
from .base import REGISTRY, Problem
from .convex import Quadratic
from .nonconvex import Rosenbrock

__all__ = ["REGISTRY", "Problem", "Quadratic", "Rosenbrock"]
