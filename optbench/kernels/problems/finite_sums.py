"""Finite sums: one loop for the full objective and the minibatch estimate, and the keyed
sample streams (with or without replacement) that choose the minibatches."""
import math

import numpy as np
from numba import njit

from .. import rng
from .codes import (HUBER, LEAST_SQUARES, LOGISTIC, MATRIX_FACTORIZATION, MLP, PHASE_RETRIEVAL,
                    SOFTMAX, _FEISTEL_GAMMA, _SAMPLE_SALT, _U0, _U1)
from .convex import huber_term, least_squares_term, logistic_term, softmax_term
from .nonconvex import matrix_factorization_term, mlp_term, phase_retrieval_term


@njit(error_model="numpy")
def _feistel(v, half, mask, key):
    """A 4-round balanced Feistel bijection on [0, 4^half) keyed by ``key`` (uint64)."""
    left = v >> half
    right = v & mask
    for r in range(4):
        f = rng.mix64(key ^ (right + np.uint64(r + 1) * _FEISTEL_GAMMA)) & mask
        left, right = right, left ^ f
    return (left << half) | right


@njit(error_model="numpy")
def permuted_index(r, n, key):
    """perm_key(r) for a keyed random permutation of 0..n-1 (no allocation).

    A Feistel bijection of the smallest power of 4 >= n, cycle-walked back into [0, n)
    (Black & Rogaway, "Ciphers with arbitrary finite domains", CT-RSA 2002): every r in
    [0, n) maps to a distinct index in [0, n); the walk always ends since r lies on a cycle.
    """
    half = 1
    while (1 << (2 * half)) < n:
        half += 1
    h = np.uint64(half)
    mask = (_U1 << h) - _U1
    un = np.uint64(n)
    v = np.uint64(r)
    v = _feistel(v, h, mask, key)
    while v >= un:
        v = _feistel(v, h, mask, key)
    return np.int64(v)


@njit(cache=True, error_model="numpy")
def sample_index(key, step, j, batch, n, replace):
    """Index of the j-th sample of step ``step``'s minibatch.

    With replacement: uniform on 0..n-1, independent draws. Without: the sample stream
    s = step*batch + j walks epoch e = s // n through a fresh keyed permutation, so each
    epoch (n consecutive draws) visits every sample exactly once.
    """
    skey = rng.mix64(key ^ _SAMPLE_SALT)
    s = step * batch + j
    if replace:
        idx = np.int64(rng.uniform(skey, s) * n)
        return idx if idx < n else np.int64(n - 1)
    epoch = s // n
    return permuted_index(s - epoch * n, n, rng.mix64(skey + np.uint64(epoch) * _FEISTEL_GAMMA))


@njit(error_model="numpy")
def finite_sum_value_and_grad(x, g, data, work):
    """f(x) of a built-in finite sum, grad f(x) into g (the problem door's value_and_grad)."""
    return finite_sum_loss_grad(data, x, g, work, _U0, np.int64(0), np.int64(0),
                                np.bool_(False), np.bool_(True))


@njit(error_model="numpy")
def finite_sum_loss(x, data, work):
    """f(x) of a built-in finite sum alone: the terms skip their gradient work."""
    return finite_sum_loss_grad(data, x, x, work, _U0, np.int64(0), np.int64(0),
                                np.bool_(False), np.bool_(False))


@njit(error_model="numpy")
def finite_sum_sample_grad(x, g, data, work, key, step, batch, replace):
    """The minibatch estimate of step ``step`` into g; returns its loss (the door's
    sample_grad)."""
    return finite_sum_loss_grad(data, x, g, work, key, step, batch, replace, np.bool_(True))


@njit(error_model="numpy")
def finite_sum_loss_grad(p, x, g, w, key, step, batch, replace, grad):
    """A built-in finite sum: f = weight * sum_i l_i + l2/2 ||x||^2 and its gradient
    (batch = 0), or the unbiased minibatch estimate weight * n/b * sum_{i in B_step} l_i +
    l2/2 ||x||^2 of step ``step`` (batch = b > 0; ``replace``: with replacement).
    ``grad`` False: f only, g is left untouched (the terms skip their gradient work).
    The family's term l_i is chosen by its code, the last entry of p
    (``problems.convex.FiniteSum.kernel_data``).

    One loop serves both (and dispatches per term): every njit level that holds the term
    code is compiled to machine code on its own, so fewer levels compile faster. Its callers
    pass run-time values (``np.int64(0)``, ``np.bool_``), never literal constants: each
    literal signature (``Literal[int](0)``, ``Literal[bool](True)``) compiled the loop and
    every term once more.
    """
    code = int(p[p.size - 1])
    n = int(p[0])
    d = x.shape[0]
    if grad:
        for j in range(d):
            g[j] = 0.0
    count = n if batch <= 0 else batch
    f = 0.0
    for j in range(count):
        i = np.int64(j) if batch <= 0 else sample_index(key, step, j, batch, n, replace)
        if code == LEAST_SQUARES:
            f += least_squares_term(p, x, g, w, i, grad)
        elif code == LOGISTIC:
            f += logistic_term(p, x, g, w, i, grad)
        elif code == SOFTMAX:
            f += softmax_term(p, x, g, w, i, grad)
        elif code == HUBER:
            f += huber_term(p, x, g, w, i, grad)
        elif code == MATRIX_FACTORIZATION:
            f += matrix_factorization_term(p, x, g, w, i, grad)
        elif code == PHASE_RETRIEVAL:
            f += phase_retrieval_term(p, x, g, w, i, grad)
        elif code == MLP:
            f += mlp_term(p, x, g, w, i, grad)
        else:
            f = math.nan
    scale = p[1] if batch <= 0 else p[1] * n / batch
    lam = p[2]
    reg = 0.0
    for j in range(d):
        if grad:
            g[j] = g[j] * scale + lam * x[j]
        reg += x[j] * x[j]
    return f * scale + 0.5 * lam * reg
