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
"""
import math

import numpy as np
from numba import njit

from . import rng

# Problem family codes (stable: stored runs and CUDA kernels refer to them).
QUADRATIC = 0
ROSENBROCK = 1
LEAST_SQUARES = 2
LOGISTIC = 3
SOFTMAX = 4
HUBER = 5
REDDI = 6
RASTRIGIN = 7
ACKLEY = 8
GRIEWANK = 9
LEVY = 10
STYBLINSKI_TANG = 11
BEALE = 12
BOOTH = 13
HIMMELBLAU = 14
GOLDSTEIN_PRICE = 15
SIX_HUMP_CAMEL = 16
MATRIX_FACTORIZATION = 17
PHASE_RETRIEVAL = 18
MLP = 19

# Salts that derive the sub-streams of a trajectory's key (noise uses the key itself).
_SAMPLE_SALT = np.uint64(0x5A3D1E7C9B2F4861)
_REDDI_SALT = np.uint64(0x2C1B3A4D5E6F7081)
_FEISTEL_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_U1 = np.uint64(1)
_U0 = np.uint64(0)


# ---- convex ---------------------------------------------------------------------------


@njit(error_model="numpy")
def quadratic_rows(p, X, G, W, F, phase, i0, i1, di):
    """f(x) = 1/2 (x - c)^T Q diag(lam) Q^T (x - c);  grad = Q diag(lam) Q^T (x - c).

    Rows form (module docstring); the terms sum to 2f. Unrotated, one phase: g_i = lam_i z_i,
    term lam_i z_i^2 (z = x - c). Rotated, three phases over W = [Z; Y] (2d, B): 0: Z_i = z_i;
    1: y_k = (Q^T z)_k, term lam_k y_k^2, Y_k = lam_k y_k; 2: g_i = (Q Y)_i.
    p = [rotated, lam (d), c (d), Q (d*d, row-major, only when rotated)].
    """
    d, nb = X.shape
    lam = p[1:1 + d]
    c = p[1 + d:1 + 2 * d]
    if p[0] == 0.0:
        for i in range(i0, i1, di):
            x = X[i]
            g = G[i]
            for b in range(nb):
                z = x[b] - c[i]
                gi = lam[i] * z
                g[b] = gi
                F[b] += gi * z
        return
    q = p[1 + 2 * d:1 + 2 * d + d * d]
    Z = W[:d]
    Y = W[d:2 * d]
    if phase == 0:
        for i in range(i0, i1, di):
            for b in range(nb):
                Z[i, b] = X[i, b] - c[i]
    elif phase == 1:  # y = Q^T z, scaled by lam
        for k in range(i0, i1, di):
            y = Y[k]
            for b in range(nb):
                y[b] = 0.0
            for i in range(d):
                qik = q[i * d + k]
                z = Z[i]
                for b in range(nb):
                    y[b] += qik * z[b]
            for b in range(nb):
                F[b] += lam[k] * y[b] * y[b]
                y[b] = lam[k] * y[b]
    else:  # g = Q y
        for i in range(i0, i1, di):
            g = G[i]
            for b in range(nb):
                g[b] = 0.0
            for k in range(d):
                qik = q[i * d + k]
                y = Y[k]
                for b in range(nb):
                    g[b] += qik * y[b]


@njit(error_model="numpy")
def least_squares_term(p, x, g, w, i, grad):
    """l_i = (a_i . w + b - y_i)^2 (squared error, torch's MSELoss summand).

    p[3:] = [m (features), bias (0/1), A (n*m, row-major), y (n)]; x = [w (m), b].
    """
    n = int(p[0])
    m = int(p[3])
    bias = p[4] != 0.0
    a = p[5 + i * m:5 + (i + 1) * m]
    r = -p[5 + n * m + i]
    for j in range(m):
        r += a[j] * x[j]
    if bias:
        r += x[m]
    if grad:
        for j in range(m):
            g[j] += 2.0 * r * a[j]
        if bias:
            g[m] += 2.0 * r
    return r * r


@njit(error_model="numpy")
def logistic_term(p, x, g, w, i, grad):
    """l_i = log(1 + exp(-y_i (a_i . w + b))), y_i in {-1, +1}.

    p[3:] = [m, bias (0/1), A (n*m), y (n)]; x = [w (m), b].
    """
    n = int(p[0])
    m = int(p[3])
    bias = p[4] != 0.0
    a = p[5 + i * m:5 + (i + 1) * m]
    y = p[5 + n * m + i]
    z = 0.0
    for j in range(m):
        z += a[j] * x[j]
    if bias:
        z += x[m]
    yz = y * z
    if yz > 0.0:  # log(1 + e^-yz) and sigma(-yz), without overflow
        e = math.exp(-yz)
        loss = math.log1p(e)
        s = e / (1.0 + e)
    else:
        e = math.exp(yz)
        loss = -yz + math.log1p(e)
        s = 1.0 / (1.0 + e)
    if grad:
        c = -y * s
        for j in range(m):
            g[j] += c * a[j]
        if bias:
            g[m] += c
    return loss


@njit(error_model="numpy")
def softmax_cross_entropy(z, nk, y):
    """Cross-entropy logsumexp(z) - z_y of logits z[:nk] against class y (max-shifted for
    stability); z is overwritten with its gradient softmax(z) - onehot(y)."""
    zmax = -math.inf
    for k in range(nk):
        if z[k] > zmax:
            zmax = z[k]
    total = 0.0
    for k in range(nk):
        z[k] = math.exp(z[k] - zmax)
        total += z[k]
    loss = math.log(total) + zmax
    for k in range(nk):
        prob = z[k] / total
        if k == y:
            loss -= math.log(z[k]) + zmax
            prob -= 1.0
        z[k] = prob
    return loss


@njit(error_model="numpy")
def softmax_term(p, x, g, w, i, grad):
    """l_i = logsumexp(W a_i + b) - (W a_i + b)_{y_i}  (multinomial cross-entropy).

    p[3:] = [m, K, bias (0/1), A (n*m), labels (n, as floats 0..K-1)];
    x = [W (K*m, row-major), b (K)]; w: K (logits, then probabilities).
    """
    n = int(p[0])
    m = int(p[3])
    nk = int(p[4])
    bias = p[5] != 0.0
    a = p[6 + i * m:6 + (i + 1) * m]
    y = int(p[6 + n * m + i])
    z = w[:nk]
    for k in range(nk):
        acc = x[nk * m + k] if bias else 0.0
        for j in range(m):
            acc += x[k * m + j] * a[j]
        z[k] = acc
    loss = softmax_cross_entropy(z, nk, y)
    if grad:
        for k in range(nk):
            prob = z[k]
            for j in range(m):
                g[k * m + j] += prob * a[j]
            if bias:
                g[nk * m + k] += prob
    return loss


@njit(error_model="numpy")
def huber_term(p, x, g, w, i, grad):
    """l_i = h_delta(a_i . w + b - y_i), h(r) = r^2/2 (|r| <= delta), delta (|r| - delta/2).

    p[3:] = [m, bias (0/1), delta, A (n*m), y (n)]; x = [w (m), b].
    """
    n = int(p[0])
    m = int(p[3])
    bias = p[4] != 0.0
    delta = p[5]
    a = p[6 + i * m:6 + (i + 1) * m]
    r = -p[6 + n * m + i]
    for j in range(m):
        r += a[j] * x[j]
    if bias:
        r += x[m]
    if abs(r) <= delta:
        loss = 0.5 * r * r
        c = r
    else:
        loss = delta * (abs(r) - 0.5 * delta)
        c = delta if r > 0.0 else -delta
    if grad:
        for j in range(m):
            g[j] += c * a[j]
        if bias:
            g[m] += c
    return loss


@njit(error_model="numpy")
def reddi_loss_grad(p, x, g, w):
    """The averaged objective of Reddi et al.'s counterexample: F(x) = s x on [-1, 1].

    p = [C, stochastic (0/1), prob]; s = (C - 2)/3 (online: the mean of C x, -x, -x) or
    s = prob C - (1 - prob) = delta (stochastic, prob = (1 + delta)/(C + 1)).
    """
    c = p[0]
    if p[1] != 0.0:
        s = p[2] * c - (1.0 - p[2])
    else:
        s = (c - 2.0) / 3.0
    g[0] = s
    return s * x[0]


@njit(error_model="numpy")
def reddi_sample_grad(p, x, g, key, step):
    """f_t(x) of step t = step + 1: C x if t mod 3 = 1 else -x (online); stochastic:
    C x with probability prob, else -x (a draw of the trajectory's stream)."""
    c = p[0]
    if p[1] != 0.0:
        hit = rng.uniform(rng.mix64(key ^ _REDDI_SALT), step) < p[2]
    else:
        hit = (step + 1) % 3 == 1
    s = c if hit else -1.0
    g[0] = s
    return s * x[0]


# ---- nonconvex ------------------------------------------------------------------------


@njit(inline="always", error_model="numpy")
def _rosenbrock_coordinate(a, x_prev, x_i, x_next, first, last):
    """Term i of f and coordinate i of grad f for Rosenbrock:
    f_i = a r_i^2 + s_i^2 (i < d-1),  g_i = 2a r_{i-1} - 4a r_i x_i - 2 s_i,
    with r_i = x_{i+1} - x_i^2, s_i = 1 - x_i (terms past either end are absent)."""
    f = 0.0
    g = 0.0
    if not first:
        g = 2.0 * a * (x_i - x_prev * x_prev)
    if not last:
        r = x_next - x_i * x_i
        s = 1.0 - x_i
        f = a * r * r + s * s
        g = g + (-4.0 * a * r * x_i - 2.0 * s)
    return f, g


@njit(error_model="numpy")
def rosenbrock_rows(p, X, G, F, i0, i1, di):
    """f(x) = sum_{i<d-1} a (x_{i+1} - x_i^2)^2 + (1 - x_i)^2  (Rosenbrock, 1960).

    Rows form: with r_i = x_{i+1} - x_i^2 and s_i = 1 - x_i, row i holds the term
    a r_i^2 + s_i^2 (i < d-1) and g_i = 2a r_{i-1} (i > 0) - 4a r_i x_i - 2 s_i (i < d-1).
    p = [a] (a = 100 classically); minimum 0 at x = (1, ..., 1). Each gradient row is
    written once from rows i-1, i, i+1 (no read-modify-write passes): the lanes vectorise.
    """
    a = p[0]
    d = X.shape[0]
    i = i0
    if i == 0 and i < i1:
        _rosenbrock_row(a, X, G, F, 0, True, False)
        i += di
    while i < min(i1, d - 1):  # interior rows: one tight loop
        _rosenbrock_row(a, X, G, F, i, False, False)
        i += di
    if i == d - 1 and i < i1:
        _rosenbrock_row(a, X, G, F, i, False, True)


@njit(inline="always", error_model="numpy")
def _rosenbrock_row(a, X, G, F, i, first, last):
    """Row i of the gradient and term i of f for every lane (flags constant once inlined)."""
    x_prev = X[i - 1]  # unused (wraps) in the first row
    x = X[i]
    x_next = X[i + 1] if not last else X[i]
    g = G[i]
    for b in range(X.shape[1]):
        f, gi = _rosenbrock_coordinate(a, x_prev[b], x[b], x_next[b], first, last)
        F[b] += f
        g[b] = gi


@njit(error_model="numpy")
def rastrigin_rows(p, X, G, F, i0, i1, di):
    """f(x) = A d + sum_i x_i^2 - A cos(2 pi x_i);  g_i = 2 x_i + 2 pi A sin(2 pi x_i).

    Rows form; row 0 also holds the constant A d. p = [A].
    """
    a = p[0]
    d, nb = X.shape
    tau = 2.0 * math.pi
    for i in range(i0, i1, di):
        x = X[i]
        g = G[i]
        if i == 0:
            for b in range(nb):
                F[b] += a * d
        for b in range(nb):
            xi = x[b]
            F[b] += xi * xi - a * math.cos(tau * xi)
            g[b] = 2.0 * xi + tau * a * math.sin(tau * xi)


@njit(error_model="numpy")
def ackley_loss_grad(p, x, g, w):
    """f(x) = -a exp(-b sqrt(mean x^2)) - exp(mean cos(c x)) + a + e; p = [a, b, c]."""
    a = p[0]
    b = p[1]
    c = p[2]
    d = x.shape[0]
    s1 = 0.0
    s2 = 0.0
    for i in range(d):
        s1 += x[i] * x[i]
        s2 += math.cos(c * x[i])
    r = math.sqrt(s1 / d)
    e1 = math.exp(-b * r)
    e2 = math.exp(s2 / d)
    k1 = a * b * e1 / (d * r) if r > 0.0 else 0.0  # the cone's tip: subgradient 0
    for i in range(d):
        g[i] = k1 * x[i] + e2 * c * math.sin(c * x[i]) / d
    return -a * e1 - e2 + a + math.e


@njit(error_model="numpy")
def griewank_loss_grad(p, x, g, w):
    """f(x) = 1 + sum x_i^2/4000 - prod cos(x_i / sqrt(i+1)); w: d (prefix products)."""
    d = x.shape[0]
    f = 1.0
    prod = 1.0
    for i in range(d):  # w[i] = prod_{j<i} cos_j
        w[i] = prod
        prod *= math.cos(x[i] / math.sqrt(i + 1.0))
        f += x[i] * x[i] / 4000.0
    suffix = 1.0
    for i in range(d - 1, -1, -1):
        s = math.sqrt(i + 1.0)
        g[i] = x[i] / 2000.0 + w[i] * suffix * math.sin(x[i] / s) / s
        suffix *= math.cos(x[i] / s)
    return f - prod


@njit(error_model="numpy")
def levy_rows(p, X, G, F, i0, i1, di):
    """Levy: with v_i = 1 + (x_i - 1)/4,
    f = sin^2(pi v_1) + sum_{i<d} (v_i - 1)^2 (1 + 10 sin^2(pi v_i + 1))
        + (v_d - 1)^2 (1 + sin^2(2 pi v_d)).

    Rows form: every term depends on one coordinate (row 0 holds the first term too).
    """
    d, nb = X.shape
    pi = math.pi
    for i in range(i0, i1, di):
        x = X[i]
        g = G[i]
        for b in range(nb):
            v = 1.0 + (x[b] - 1.0) / 4.0
            gi = 0.0
            if i == 0:
                F[b] += math.sin(pi * v) ** 2
                gi = pi * math.sin(2.0 * pi * v) / 4.0
            if i < d - 1:
                s = math.sin(pi * v + 1.0)
                F[b] += (v - 1.0) ** 2 * (1.0 + 10.0 * s * s)
                gi += (2.0 * (v - 1.0) * (1.0 + 10.0 * s * s)
                       + (v - 1.0) ** 2 * 10.0 * pi * math.sin(2.0 * (pi * v + 1.0))) / 4.0
            else:
                s = math.sin(2.0 * pi * v)
                F[b] += (v - 1.0) ** 2 * (1.0 + s * s)
                gi += (2.0 * (v - 1.0) * (1.0 + s * s)
                       + (v - 1.0) ** 2 * 2.0 * pi * math.sin(4.0 * pi * v)) / 4.0
            g[b] = gi


@njit(error_model="numpy")
def styblinski_tang_rows(p, X, G, F, i0, i1, di):
    """f(x) = 1/2 sum_i x_i^4 - 16 x_i^2 + 5 x_i;  g_i = 2 x_i^3 - 16 x_i + 2.5.

    Rows form; the terms sum to 2f.
    """
    nb = X.shape[1]
    for i in range(i0, i1, di):
        x = X[i]
        g = G[i]
        for b in range(nb):
            xi = x[b]
            x2 = xi * xi
            F[b] += x2 * x2 - 16.0 * x2 + 5.0 * xi
            g[b] = 2.0 * x2 * xi - 16.0 * xi + 2.5


@njit(error_model="numpy")
def beale_loss_grad(p, x, g, w):
    """f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2."""
    u = x[0]
    v = x[1]
    t1 = 1.5 - u + u * v
    t2 = 2.25 - u + u * v * v
    t3 = 2.625 - u + u * v * v * v
    g[0] = 2.0 * (t1 * (v - 1.0) + t2 * (v * v - 1.0) + t3 * (v * v * v - 1.0))
    g[1] = 2.0 * (t1 * u + 2.0 * t2 * u * v + 3.0 * t3 * u * v * v)
    return t1 * t1 + t2 * t2 + t3 * t3


@njit(error_model="numpy")
def booth_loss_grad(p, x, g, w):
    """f = (x + 2y - 7)^2 + (2x + y - 5)^2."""
    t1 = x[0] + 2.0 * x[1] - 7.0
    t2 = 2.0 * x[0] + x[1] - 5.0
    g[0] = 2.0 * t1 + 4.0 * t2
    g[1] = 4.0 * t1 + 2.0 * t2
    return t1 * t1 + t2 * t2


@njit(error_model="numpy")
def himmelblau_loss_grad(p, x, g, w):
    """f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2."""
    u = x[0]
    v = x[1]
    t1 = u * u + v - 11.0
    t2 = u + v * v - 7.0
    g[0] = 4.0 * u * t1 + 2.0 * t2
    g[1] = 2.0 * t1 + 4.0 * v * t2
    return t1 * t1 + t2 * t2


@njit(error_model="numpy")
def goldstein_price_loss_grad(p, x, g, w):
    """f = [1 + (x+y+1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]
         * [30 + (2x-3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]."""
    u = x[0]
    v = x[1]
    s = u + v + 1.0
    pp = 19.0 - 14.0 * u + 3.0 * u * u - 14.0 * v + 6.0 * u * v + 3.0 * v * v
    dp = -14.0 + 6.0 * u + 6.0 * v  # dP/du = dP/dv
    fa = 1.0 + s * s * pp
    da = 2.0 * s * pp + s * s * dp  # dA/du = dA/dv
    t = 2.0 * u - 3.0 * v
    q = 18.0 - 32.0 * u + 12.0 * u * u + 48.0 * v - 36.0 * u * v + 27.0 * v * v
    fb = 30.0 + t * t * q
    dbu = 4.0 * t * q + t * t * (-32.0 + 24.0 * u - 36.0 * v)
    dbv = -6.0 * t * q + t * t * (48.0 - 36.0 * u + 54.0 * v)
    g[0] = da * fb + fa * dbu
    g[1] = da * fb + fa * dbv
    return fa * fb


@njit(error_model="numpy")
def six_hump_camel_loss_grad(p, x, g, w):
    """f = (4 - 2.1 x^2 + x^4/3) x^2 + x y + (-4 + 4 y^2) y^2."""
    u = x[0]
    v = x[1]
    u2 = u * u
    v2 = v * v
    g[0] = 8.0 * u - 8.4 * u2 * u + 2.0 * u2 * u2 * u + v
    g[1] = u - 8.0 * v + 16.0 * v2 * v
    return (4.0 - 2.1 * u2 + u2 * u2 / 3.0) * u2 + u * v + (-4.0 + 4.0 * v2) * v2


@njit(error_model="numpy")
def matrix_factorization_term(p, x, g, w, i, grad):
    """l_i = 1/2 ||U_i V^T - M_i||^2 (row i of M); f = sum_i l_i = 1/2 ||U V^T - M||_F^2.

    p[3:] = [rows, cols, rank, M (rows*cols, row-major)]; x = [U (rows*r), V (cols*r)].
    """
    nr = int(p[3])
    nc = int(p[4])
    r = int(p[5])
    mrow = p[6 + i * nc:6 + (i + 1) * nc]
    voff = nr * r
    loss = 0.0
    for j in range(nc):
        e = -mrow[j]
        for k in range(r):
            e += x[i * r + k] * x[voff + j * r + k]
        loss += 0.5 * e * e
        if grad:
            for k in range(r):
                g[i * r + k] += e * x[voff + j * r + k]
                g[voff + j * r + k] += e * x[i * r + k]
    return loss


@njit(error_model="numpy")
def phase_retrieval_term(p, x, g, w, i, grad):
    """l_i = 1/4 ((a_i . x)^2 - y_i)^2 (real Wirtinger-flow loss; weight 1/m).

    p[3:] = [A (m*d, row-major), y (m)].
    """
    n = int(p[0])
    d = x.shape[0]
    a = p[3 + i * d:3 + (i + 1) * d]
    z = 0.0
    for j in range(d):
        z += a[j] * x[j]
    r = z * z - p[3 + n * d + i]
    if grad:
        c = r * z
        for j in range(d):
            g[j] += c * a[j]
    return 0.25 * r * r


@njit(error_model="numpy")
def _act(z, relu):
    if relu:
        return z if z > 0.0 else 0.0
    return math.tanh(z)


@njit(error_model="numpy")
def _act_deriv(a, relu):
    """Derivative of the activation, written in terms of its output a."""
    if relu:
        return 1.0 if a > 0.0 else 0.0
    return 1.0 - a * a


@njit(error_model="numpy")
def mlp_term(p, x, g, w, i, grad):
    """Softmax cross-entropy of sample i through a 1- or 2-hidden-layer perceptron.

    p[3:] = [n_in, h1, h2 (0: one hidden layer), K, relu (0/1), X (n*n_in), labels (n)];
    x = [W1 (h1*n_in), b1 (h1), (W2 (h2*h1), b2 (h2)), W3 (K*h), b3 (K)], weight rows
    row-major as in torch's nn.Linear; w: 2 h1 + 2 h2 + K (activations, deltas, logits).
    """
    n = int(p[0])
    nin = int(p[3])
    h1 = int(p[4])
    h2 = int(p[5])
    nk = int(p[6])
    relu = p[7] != 0.0
    xin = p[8 + i * nin:8 + (i + 1) * nin]
    y = int(p[8 + n * nin + i])
    a1 = w[:h1]
    d1 = w[h1:2 * h1]
    a2 = w[2 * h1:2 * h1 + h2]
    d2 = w[2 * h1 + h2:2 * h1 + 2 * h2]
    z = w[2 * h1 + 2 * h2:2 * h1 + 2 * h2 + nk]
    o_w1 = 0
    o_b1 = h1 * nin
    o_w2 = o_b1 + h1
    o_b2 = o_w2 + h2 * h1
    o_w3 = o_b2 + h2 if h2 > 0 else o_w2
    hl = h2 if h2 > 0 else h1
    o_b3 = o_w3 + nk * hl
    # forward
    for u in range(h1):
        acc = x[o_b1 + u]
        for j in range(nin):
            acc += x[o_w1 + u * nin + j] * xin[j]
        a1[u] = _act(acc, relu)
    last = a1
    dlast = d1
    if h2 > 0:
        for u in range(h2):
            acc = x[o_b2 + u]
            for j in range(h1):
                acc += x[o_w2 + u * h1 + j] * a1[j]
            a2[u] = _act(acc, relu)
        last = a2
        dlast = d2
    for k in range(nk):
        acc = x[o_b3 + k]
        for j in range(hl):
            acc += x[o_w3 + k * hl + j] * last[j]
        z[k] = acc
    loss = softmax_cross_entropy(z, nk, y)
    if not grad:
        return loss
    # backward: z now holds dz = softmax - onehot
    for k in range(nk):
        dz = z[k]
        g[o_b3 + k] += dz
        for j in range(hl):
            g[o_w3 + k * hl + j] += dz * last[j]
    for j in range(hl):
        acc = 0.0
        for k in range(nk):
            acc += x[o_w3 + k * hl + j] * z[k]
        dlast[j] = acc * _act_deriv(last[j], relu)
    if h2 > 0:
        for u in range(h2):
            g[o_b2 + u] += d2[u]
            for j in range(h1):
                g[o_w2 + u * h1 + j] += d2[u] * a1[j]
        for j in range(h1):
            acc = 0.0
            for u in range(h2):
                acc += x[o_w2 + u * h1 + j] * d2[u]
            d1[j] = acc * _act_deriv(a1[j], relu)
    for u in range(h1):
        g[o_b1 + u] += d1[u]
        for j in range(nin):
            g[o_w1 + u * nin + j] += d1[u] * xin[j]
    return loss


# ---- finite sums: one loop for the full objective and the minibatch -------------------


@njit(error_model="numpy")
def is_finite_sum(code):
    return (code == LEAST_SQUARES or code == LOGISTIC or code == SOFTMAX or code == HUBER
            or code == MATRIX_FACTORIZATION or code == PHASE_RETRIEVAL or code == MLP)


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
def finite_sum_loss_grad(code, p, x, g, w, key, step, batch, replace, grad):
    """Finite-sum family ``code``: f = weight * sum_i l_i + l2/2 ||x||^2 and its gradient
    (batch = 0), or the unbiased minibatch estimate weight * n/b * sum_{i in B_step} l_i +
    l2/2 ||x||^2 of step ``step`` (batch = b > 0; ``replace``: with replacement).
    ``grad`` False: f only, g is left untouched (the terms skip their gradient work).

    One loop serves both (and dispatches per term): every njit level that holds the term
    code is compiled to machine code on its own, so fewer levels compile faster.
    """
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


# ---- dispatch ---------------------------------------------------------------------------


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