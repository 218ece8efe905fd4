"""An optimizer spec applied to one long parameter vector, in place: the engine's update
rules (``optbench.kernels.optimizers``) run over a single vector, parallel over chunks.

    from optbench import VectorOptimizer
    from optbench.optimizers import Adam
    opt = VectorOptimizer(Adam(lr=1e-3), x0)      # copies x0 (float64 or float32)
    opt.grad[:] = g                                # the gradient buffer, written in place
    opt.step()                                     # x <- Adam step t = 1, 2, ...
    opt.params                                     # the current parameters (a view)

``step(lr=..., momentum=...)`` overrides the step's lr and momentum/beta1, as a schedule
does. Semantics are those of the spec (torch.optim's for every optimizer but Lion).
"""
from __future__ import annotations

import numpy as np

from .codegen import kernel_for
from .kernels.vector import CHUNK_ROWS, VECTOR_LANES
from .optimizers import Optimizer
from .spec import real

DTYPES = (np.float64, np.float32)


class VectorOptimizer:
    """Optimizer state and storage for one parameter vector of n coordinates."""

    def __init__(self, optimizer: Optimizer, params, dtype=None):
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"VectorOptimizer: optimizer must be an optimizer spec, "
                             f"got {type(optimizer).__name__}")
        x = np.asarray(params)
        if x.ndim != 1 or x.size == 0:
            raise ValueError(f"VectorOptimizer: params must be a non-empty 1-D array, "
                             f"got shape {x.shape}")
        dtype = np.dtype(dtype if dtype is not None else
                         (x.dtype if x.dtype in DTYPES else np.float64))
        if dtype not in DTYPES:
            raise ValueError(f"VectorOptimizer: dtype must be float64 or float32, got {dtype}")
        self.optimizer = optimizer
        self.n = x.size
        rows = -(-self.n // VECTOR_LANES)
        chunk_rows = min(CHUNK_ROWS, rows)
        n_chunks = -(-rows // chunk_rows)
        self._X = np.zeros((n_chunks * chunk_rows, VECTOR_LANES), dtype=dtype)
        self._G = np.zeros_like(self._X)
        self._kernel = kernel_for([optimizer], "vector")
        self._S = np.zeros((n_chunks, self._kernel.state_slots, chunk_rows, VECTOR_LANES),
                           dtype=dtype)
        self._SC = np.zeros(self._kernel.scalar_slots)
        self._hp = optimizer.hyperparams()
        self.params = self._X.reshape(-1)[: self.n]
        self.grad = self._G.reshape(-1)[: self.n]
        self.params[:] = x
        for chunk in self._S:
            self._kernel.optimizer_init(0, self._hp, chunk, self._SC)
        self.t = 0

    def state(self, slot: int | str) -> np.ndarray:
        """Per-coordinate state ``slot``, a copy: its index or its name in the optimizer's
        ``state`` (Adam: ``"exp_avg"``, ``"exp_avg_sq"``, ``"max_exp_avg_sq"``)."""
        if isinstance(slot, str):
            slot = list(type(self.optimizer).definition().state).index(slot)
        return self._S[:, slot].reshape(-1)[: self.n]

    def step(self, lr: float | None = None, momentum: float | None = None) -> None:
        """One update of ``params`` from ``grad`` (step t = previous t + 1)."""
        lr = self._hp[0] if lr is None else real("step", "lr", lr, lo=0.0)
        mom = self._hp[1] if momentum is None else real("step", "momentum", momentum)
        self.t += 1
        self._kernel.step_vector(0, self._hp, lr, mom, float(self.t), self._X, self._G,
                                 self._S, self._SC)
