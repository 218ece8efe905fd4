"""One optimizer step on a single long parameter vector, in place, parallel over chunks.

The vector is stored as a (rows, VECTOR_LANES) array (zero padding at the end), so each chunk
of rows is an ordinary block for the update rules of ``optimizers.py``: the same code as the
trajectory engine, every lane with the same lr. The block's scalar state ``SC`` depends only
on the step and the hyper-parameters: each chunk works on a private copy of it and the shared
copy is advanced once afterwards, by the rule applied to zero rows.
"""
import numpy as np
from numba import njit, prange

from .optimizers import COEF_SLOTS, optimizer_step

VECTOR_LANES = 32  # a multiple of the SIMD width
CHUNK_ROWS = 1024  # rows per parallel task: 32k coordinates


@njit(parallel=True, cache=True, error_model="numpy")
def step_vector(code, hp, lr, mom, t, X, G, S, SC):
    """Step ``t`` (1-based) of optimizer ``code`` on X (rows, lanes) with gradient G."""
    rows, lanes = X.shape
    lr_lanes = np.full(lanes, lr)
    n_chunks = (rows + CHUNK_ROWS - 1) // CHUNK_ROWS
    for c in prange(n_chunks):
        r0 = c * CHUNK_ROWS
        r1 = min(r0 + CHUNK_ROWS, rows)
        optimizer_step(code, hp, lr_lanes, mom, t, X[r0:r1], G[r0:r1], S[:, r0:r1], SC.copy(),
                       np.empty((COEF_SLOTS, lanes), X.dtype))
    optimizer_step(code, hp, lr_lanes, mom, t, X[:0], G[:0], S[:, :0], SC,
                   np.empty((COEF_SLOTS, lanes), X.dtype))
