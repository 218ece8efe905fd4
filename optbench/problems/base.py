"""Problem base class: packed data for the kernels, optima, constants, start points."""
from __future__ import annotations

import hashlib
from functools import cached_property

import numpy as np

from ..kernels import noise, rng
from ..kernels.problems import problem_loss_grad
from ..spec import Registry, Spec

REGISTRY = Registry("problem")


class Problem(Spec):
    """Base class. Subclasses set ``code`` and implement ``_build()``.

    ``_build()`` returns a dict with ``data`` (the kernel's parameter vector), and optionally
    ``work`` (scratch length), ``minimizers`` (k x d), ``f_star``, ``L``, ``mu``,
    ``x0_low`` / ``x0_high`` (the box the default start points are drawn from, uniformly).
    """

    registry = REGISTRY
    code: int

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        REGISTRY.register(cls)

    def _build(self) -> dict:
        raise NotImplementedError

    @cached_property
    def _built(self) -> dict:
        built = self._build()
        built["data"] = np.ascontiguousarray(built["data"], dtype=np.float64)
        d = self.dim
        built.setdefault("work", 1)
        built["minimizers"] = np.asarray(built.get("minimizers", np.zeros((0, d))),
                                         dtype=np.float64).reshape(-1, d)
        built.setdefault("f_star", np.nan)
        built.setdefault("L", None)
        built.setdefault("mu", None)
        return built

    # ---- what the engine and the analysis read ----------------------------------------
    @property
    def data(self) -> np.ndarray:
        return self._built["data"]

    @property
    def work_size(self) -> int:
        return int(self._built["work"])

    @property
    def minimizers(self) -> np.ndarray:
        """Known global minimizers, one per row (empty when unknown)."""
        return self._built["minimizers"]

    @property
    def f_star(self) -> float:
        """Optimal value f* (NaN when unknown)."""
        return float(self._built["f_star"])

    @property
    def L(self):
        """Smoothness constant (largest Hessian eigenvalue bound), or None."""
        return self._built["L"]

    @property
    def mu(self):
        """Strong-convexity constant, or None."""
        return self._built["mu"]

    def noise_model(self) -> tuple:
        """(kind, scale, dof) of the gradient noise (codes in kernels.noise); kind 0: exact."""
        sigma = float(getattr(self, "noise", 0.0))
        return (noise.GAUSSIAN, sigma, 0.0) if sigma > 0.0 else (noise.NONE, 0.0, 0.0)

    @property
    def batch_size(self) -> int:
        """Minibatch size for finite-sum problems (0: full-batch gradients)."""
        return 0

    @property
    def with_replacement(self) -> bool:
        return False

    @cached_property
    def stream_id(self) -> int:
        """A stable 63-bit id of this instance, keying its random streams."""
        return int.from_bytes(hashlib.sha256(self.key().encode()).digest()[:8], "little") >> 1

    def start_points(self, seeds) -> np.ndarray:
        """Default start points, one row per seed: uniform in the problem's start box.

        Keyed by (seed, problem): every optimizer gets the same start for the same seed.
        """
        low = np.broadcast_to(np.asarray(self._built["x0_low"], float), (self.dim,))
        high = np.broadcast_to(np.asarray(self._built["x0_high"], float), (self.dim,))
        out = np.empty((len(seeds), self.dim))
        for row, seed in enumerate(seeds):
            u = np.empty(self.dim)
            rng.fill_uniform(np.uint64(rng.stream_key(int(seed), self.stream_id)), u)
            out[row] = low + (high - low) * u
        return out

    # ---- Python-side evaluation (users, tests, plots) --------------------------------
    def loss_grad(self, x):
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != (self.dim,):
            raise ValueError(f"{type(self).__name__}: x must have shape ({self.dim},), got {x.shape}")
        g = np.empty_like(x)
        w = np.empty(self.work_size)
        f = problem_loss_grad(self.code, self.data, x, g, w)
        return f, g

    def loss(self, x) -> float:
        return self.loss_grad(x)[0]

    def grad(self, x) -> np.ndarray:
        return self.loss_grad(x)[1]
