"""Objective functions and their analytic gradients, written once as ``@njit`` functions.

Every problem family has one function: either the per-point form

    loss = family_loss_grad(p, x, g, w)

that returns f(x) and writes the gradient into ``g``, or, for families whose gradient splits
by coordinate, the *rows form*

    family_rows(p, X, G, W, F, [phase,] i0, i1, di)

over the lanes of a block (columns of X, shape (d, B), the loop over lanes innermost so it
vectorises): it writes rows i = i0, i0 + di, ... < i1 of G and adds those rows' terms of the
loss into F[b]. A family may need several phases (each over all rows, in order; the rotated
Quadratic has three); f = ``problem_rows_loss(code, sum of the terms)``. The CPU engine runs
each phase over [0, d); the CUDA block-per-trajectory kernel splits the rows between the
threads of a block, synchronises between phases and sums the terms in shared memory. Rows
forms: Quadratic, Rosenbrock, Rastrigin, Levy, StyblinskiTang (Ackley and Griewank couple
every coordinate through a sum or product inside a nonlinearity: per-point form).

``problem_block_loss_grad`` serves both kinds to the engine; ``evaluate`` to Python. ``p`` is
the instance's parameter vector (layout in each docstring, built by the spec in
:mod:`optbench.problems`), ``w`` a scratch vector of the length the spec asks for. Nothing
allocates, so the CPU engine and the CUDA kernels share these functions;
``problem_loss_grad`` dispatches on the family code.

Finite-sum families (f = weight * sum_i l_i(x) + l2/2 ||x||^2) share one header in ``p``:

    p[0] = n (number of terms), p[1] = weight (1/n for a mean, 1 for a plain sum),
    p[2] = l2, then the family's own data from p[3] on,

and one per-term function ``family_term(p, x, g, w, i, grad)`` that returns l_i and, when
``grad`` is True, adds grad l_i into g. The full objective and the minibatch estimate are one
loop over that function (``finite_sum_loss_grad``), so the math exists once. The loss alone
(``grad`` False) is cheaper: a minibatch run needs the exact full-data f at every step but the
full-data gradient only where it is recorded.

Stochastic hooks used by the engine:

* ``problem_sample_grad(code, p, x, g, w, key, step, batch, replace)``: called every step
  when the spec's ``batch_size`` > 0; replaces g by a minibatch (or, for online problems such
  as Reddi et al.'s counterexample, the step's own) gradient and returns its loss;
* ``problem_project(code, p, X)``: called after every optimizer step; projects the lanes onto the
  feasible set of constrained families (the identity elsewhere).

Files: ``codes`` (family codes, stream salts), ``convex`` and ``nonconvex`` (the families'
functions), ``finite_sums`` (the one loop and the minibatch streams); the dispatch over the
codes is here.
"""
import math

import numpy as np
from numba import njit

from .codes import (ACKLEY, BEALE, BOOTH, GOLDSTEIN_PRICE, GRIEWANK, HIMMELBLAU, HUBER,
                    LEAST_SQUARES, LEVY, LOGISTIC, MATRIX_FACTORIZATION, MLP, PHASE_RETRIEVAL,
                    QUADRATIC, RASTRIGIN, REDDI, ROSENBROCK, SIX_HUMP_CAMEL, SOFTMAX,
                    STYBLINSKI_TANG, _U0)
from .convex import quadratic_rows, reddi_loss_grad, reddi_sample_grad
from .finite_sums import finite_sum_loss_grad, is_finite_sum, permuted_index, sample_index
from .nonconvex import (ackley_loss_grad, beale_loss_grad, booth_loss_grad,
                        goldstein_price_loss_grad, griewank_loss_grad, himmelblau_loss_grad,
                        levy_rows, rastrigin_rows, rosenbrock_rows, six_hump_camel_loss_grad,
                        styblinski_tang_rows)


@njit(cache=True, error_model="numpy")
def problem_loss_grad(code, p, x, g, w, grad):
    """f(x) of family ``code``; writes grad f(x) into g (finite sums skip it when ``grad``
    is False; the other families are cheap and always write it)."""
    if is_finite_sum(code):
        return finite_sum_loss_grad(code, p, x, g, w, _U0, 0, 0, False, grad)
    elif code == REDDI:
        return reddi_loss_grad(p, x, g, w)
    elif code == ACKLEY:
        return ackley_loss_grad(p, x, g, w)
    elif code == GRIEWANK:
        return griewank_loss_grad(p, x, g, w)
    elif code == BEALE:
        return beale_loss_grad(p, x, g, w)
    elif code == BOOTH:
        return booth_loss_grad(p, x, g, w)
    elif code == HIMMELBLAU:
        return himmelblau_loss_grad(p, x, g, w)
    elif code == GOLDSTEIN_PRICE:
        return goldstein_price_loss_grad(p, x, g, w)
    elif code == SIX_HUMP_CAMEL:
        return six_hump_camel_loss_grad(p, x, g, w)
    return math.nan  # rows families and unknown codes: never silently a number


@njit(cache=True, error_model="numpy")
def problem_rows_phases(code, p):
    """Phases of family ``code``'s rows form (0: it has none)."""
    if code == QUADRATIC:
        return 1 if p[0] == 0.0 else 3
    if code == ROSENBROCK or code == RASTRIGIN or code == LEVY or code == STYBLINSKI_TANG:
        return 1
    return 0


@njit(cache=True, error_model="numpy")
def problem_rows(code, phase, p, X, G, W, F, i0, i1, di):
    """Phase ``phase`` of family ``code``'s rows form on rows i0, i0 + di, ... < i1."""
    if code == QUADRATIC:
        quadratic_rows(p, X, G, W, F, phase, i0, i1, di)
    elif code == ROSENBROCK:
        rosenbrock_rows(p, X, G, F, i0, i1, di)
    elif code == RASTRIGIN:
        rastrigin_rows(p, X, G, F, i0, i1, di)
    elif code == LEVY:
        levy_rows(p, X, G, F, i0, i1, di)
    elif code == STYBLINSKI_TANG:
        styblinski_tang_rows(p, X, G, F, i0, i1, di)


@njit(cache=True, error_model="numpy")
def problem_rows_loss(code, total):
    """f from the sum of every row's terms."""
    if code == QUADRATIC or code == STYBLINSKI_TANG:
        return 0.5 * total
    return total


@njit(cache=True, error_model="numpy")
def problem_block_loss_grad(code, p, X, G, W, F, grad):
    """f and grad f for every lane of a block: F[b], G[:, b] for lane b = column b of X
    (``grad`` False: F only, where the family can skip the gradient; see problem_loss_grad).

    Families with a rows form run it over [0, d) (the loop over lanes innermost, so it
    vectorises); the others run once per lane on column views.
    """
    phases = problem_rows_phases(code, p)
    if phases > 0:
        for b in range(X.shape[1]):
            F[b] = 0.0
        for phase in range(phases):
            problem_rows(code, phase, p, X, G, W, F, 0, X.shape[0], 1)
        for b in range(X.shape[1]):
            F[b] = problem_rows_loss(code, F[b])
    else:
        for b in range(X.shape[1]):
            F[b] = problem_loss_grad(code, p, X[:, b], G[:, b], W[:, b], grad)


def evaluate(code, p, x, work=1):
    """(f(x), grad f(x)) for one point, from Python (specs, tests, plots)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    X = x.reshape(-1, 1).copy()
    G = np.empty_like(X)
    W = np.empty((max(int(work), 1), 1))
    F = np.empty(1)
    problem_block_loss_grad(code, p, X, G, W, F, True)
    return float(F[0]), G[:, 0].copy()


@njit(cache=True, error_model="numpy")
def problem_sample_grad(code, p, x, g, w, key, step, batch, replace):
    """The gradient the optimizer sees in step ``step`` (0-based) into g; returns its loss.

    Finite-sum families: a minibatch of ``batch`` samples (``replace``: with replacement).
    Reddi et al.'s counterexample: f_t of step t = step + 1 (online or stochastic).
    Other families keep the exact gradient already in g and return NaN.
    """
    if is_finite_sum(code):
        return finite_sum_loss_grad(code, p, x, g, w, key, step, batch, replace, True)
    elif code == REDDI:
        return reddi_sample_grad(p, x, g, key, step)
    return math.nan


@njit(cache=True, error_model="numpy")
def problem_project(code, p, X):
    """Project every lane (column of X) onto the family's feasible set after a step
    (Reddi: [-1, 1]); the identity for unconstrained families."""
    if code == REDDI:
        for b in range(X.shape[1]):
            if X[0, b] > 1.0:
                X[0, b] = 1.0
            elif X[0, b] < -1.0:
                X[0, b] = -1.0


__all__ = ["QUADRATIC", "ROSENBROCK", "LEAST_SQUARES", "LOGISTIC", "SOFTMAX", "HUBER", "REDDI",
           "RASTRIGIN", "ACKLEY", "GRIEWANK", "LEVY", "STYBLINSKI_TANG", "BEALE", "BOOTH",
           "HIMMELBLAU", "GOLDSTEIN_PRICE", "SIX_HUMP_CAMEL", "MATRIX_FACTORIZATION",
           "PHASE_RETRIEVAL", "MLP", "problem_loss_grad", "problem_rows_phases", "problem_rows",
           "problem_rows_loss", "problem_block_loss_grad", "evaluate", "problem_sample_grad",
           "problem_project", "finite_sum_loss_grad", "is_finite_sum", "permuted_index",
           "sample_index"]
