"""Convex problems."""
from __future__ import annotations

import numpy as np

from ..kernels import problems as k
from ..kernels import rng
from ..spec import boolean, integer, real
from .base import Problem


class Quadratic(Problem):
    """f(x) = 1/2 (x - c)^T A (x - c), A = Q diag(lam) Q^T symmetric positive definite.

    Eigenvalues log-spaced in [1/kappa, 1] (so L = 1, mu = 1/kappa) or given explicitly;
    ``rotate=True`` draws Q uniformly (Haar, from ``seed``), else Q = I. Minimizer c
    (default 0), f* = 0. Start points: uniform in c + [-1, 1]^d.
    Nesterov, Introductory Lectures on Convex Optimization (2004), section 2.1.
    """

    code = k.QUADRATIC
    extra_sequence_params = ("eigenvalues", "minimizer")

    def __init__(self, dim=10, kappa=10.0, eigenvalues=None, minimizer=None, rotate=False,
                 seed=0, noise=0.0):
        n = "Quadratic"
        if eigenvalues is not None:
            eigenvalues = [real(n, f"eigenvalues[{i}]", e, lo=0.0, lo_open=True)
                           for i, e in enumerate(np.atleast_1d(eigenvalues).tolist())]
            dim = len(eigenvalues)
        dim = integer(n, "dim", dim, lo=1)
        kappa = real(n, "kappa", kappa, lo=1.0)
        if minimizer is not None:
            minimizer = [real(n, f"minimizer[{i}]", v)
                         for i, v in enumerate(np.atleast_1d(minimizer).tolist())]
            if len(minimizer) != dim:
                raise ValueError(f"{n}: minimizer must have {dim} entries, got {len(minimizer)}")
        rotate = boolean(n, "rotate", rotate)
        seed = integer(n, "seed", seed, lo=0)
        noise = real(n, "noise", noise, lo=0.0)
        self._store(locals())

    def eigenvalues_array(self) -> np.ndarray:
        if self.eigenvalues is not None:
            return np.asarray(self.eigenvalues, dtype=np.float64)
        if self.dim == 1:
            return np.ones(1)
        return np.logspace(-np.log10(self.kappa), 0.0, self.dim)

    def rotation(self) -> np.ndarray:
        """Q: identity, or a Haar-random orthogonal matrix from ``seed``."""
        d = self.dim
        if not self.rotate:
            return np.eye(d)
        z = np.empty(d * d)
        rng.fill_normal(np.uint64(rng.stream_key(self.seed, 0x51A7E)), z)
        q, r = np.linalg.qr(z.reshape(d, d))
        return q * np.sign(np.diag(r))

    def matrix(self) -> np.ndarray:
        q = self.rotation()
        return (q * self.eigenvalues_array()) @ q.T

    def _build(self):
        lam = self.eigenvalues_array()
        c = np.zeros(self.dim) if self.minimizer is None else np.asarray(self.minimizer, float)
        parts = [[1.0 if self.rotate else 0.0], lam, c]
        if self.rotate:
            parts.append(self.rotation().ravel())
        return dict(data=np.concatenate(parts), work=2 * self.dim, minimizers=c[None, :],
                    f_star=0.0, L=float(lam.max()), mu=float(lam.min()),
                    x0_low=c - 1.0, x0_high=c + 1.0)
