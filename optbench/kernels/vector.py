"""One optimizer step on a single long parameter vector, in place, parallel over chunks.

The vector is stored as a (rows, VECTOR_LANES) array (zero padding at the end) cut into
chunks of ``chunk_rows`` rows, and its per-coordinate state chunk-major, shape (n_chunks,
state slots, chunk_rows, VECTOR_LANES), so that each chunk's state is one C-contiguous block
(a (STATE_SLOTS, rows, lanes) state sliced by rows would not be, and its loops would not
vectorise). Each chunk is an ordinary block for the update rules of ``optimizers.py``: the
same code as the trajectory engine, every lane with the same lr. The block's scalar state
``SC`` depends only on the step and the hyper-parameters: each chunk works on a private copy
of it and the shared copy is advanced once afterwards, by the rule applied to zero rows.
"""
import numpy as np
from numba import prange

from . import template

VECTOR_LANES = 32  # a multiple of the SIMD width
CHUNK_ROWS = 1024  # rows per parallel task (at most): 32k coordinates


@template("njit(parallel=True, cache=True, error_model='numpy')")
def step_vector(code, hp, lr, mom, t, X, G, S, SC):
    """Step ``t`` (1-based) of optimizer ``code`` on X (n_chunks * chunk_rows, lanes) with
    gradient G and chunk-major state S (n_chunks, state slots, chunk_rows, lanes)."""
    n_chunks, _, chunk_rows, lanes = S.shape
    lr_lanes = np.full(lanes, lr)
    for c in prange(n_chunks):
        r0 = c * chunk_rows
        optimizer_step(code, hp, lr_lanes, mom, t, X[r0:r0 + chunk_rows], G[r0:r0 + chunk_rows],
                       S[c], SC.copy(), np.empty((COEF_SLOTS, lanes), X.dtype))
    # zero rows, C-contiguous like the chunks' state: the same compiled rule advances SC
    optimizer_step(code, hp, lr_lanes, mom, t, X[:0], G[:0],
                   np.empty((S.shape[1], 0, lanes), X.dtype), SC,
                   np.empty((COEF_SLOTS, lanes), X.dtype))
