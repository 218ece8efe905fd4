"""Convex families: Quadratic (rows form), the finite-sum terms of LeastSquares,
LogisticRegression, SoftmaxRegression and Huber, and Reddi et al.'s online counterexample."""
import math

from numba import njit

from .. import rng
from .codes import _REDDI_SALT


@njit(error_model="numpy")
def quadratic_phases(data):
    """Phases of the Quadratic's rows form: 1 unrotated, 3 rotated."""
    return 1 if data[0] == 0.0 else 3


@njit(error_model="numpy")
def quadratic_rows(X, G, W, F, data, phase, i0, i1, di):
    """f(x) = 1/2 (x - c)^T Q diag(lam) Q^T (x - c);  grad = Q diag(lam) Q^T (x - c).

    Rows form (module docstring); the terms sum to 2f. Unrotated, one phase: g_i = lam_i z_i,
    term lam_i z_i^2 (z = x - c). Rotated, three phases over W = [Z; Y] (2d, B): 0: Z_i = z_i;
    1: y_k = (Q^T z)_k, term lam_k y_k^2, Y_k = lam_k y_k; 2: g_i = (Q Y)_i.
    data = [rotated, lam (d), c (d), Q (d*d, row-major, only when rotated)].
    """
    d, nb = X.shape
    lam = data[1:1 + d]
    c = data[1 + d:1 + 2 * d]
    if data[0] == 0.0:
        for i in range(i0, i1, di):
            x = X[i]
            g = G[i]
            for b in range(nb):
                z = x[b] - c[i]
                gi = lam[i] * z
                g[b] = gi
                F[b] += gi * z
        return
    q = data[1 + 2 * d:1 + 2 * d + d * d]
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
def reddi_loss_grad(x, g, data, work):
    """The averaged objective of Reddi et al.'s counterexample: F(x) = s x on [-1, 1].

    data = [C, stochastic (0/1), prob]; s = (C - 2)/3 (online: the mean of C x, -x, -x) or
    s = prob C - (1 - prob) = delta (stochastic, prob = (1 + delta)/(C + 1)).
    """
    c = data[0]
    if data[1] != 0.0:
        s = data[2] * c - (1.0 - data[2])
    else:
        s = (c - 2.0) / 3.0
    g[0] = s
    return s * x[0]


@njit(error_model="numpy")
def reddi_sample_grad(x, g, data, work, key, step, batch, replace):
    """f_t(x) of step t = step + 1: C x if t mod 3 = 1 else -x (online); stochastic:
    C x with probability prob, else -x (a draw of the trajectory's stream)."""
    c = data[0]
    if data[1] != 0.0:
        hit = rng.uniform(rng.mix64(key ^ _REDDI_SALT), step) < data[2]
    else:
        hit = (step + 1) % 3 == 1
    s = c if hit else -1.0
    g[0] = s
    return s * x[0]


@njit(error_model="numpy")
def reddi_project(X, data):
    """Project every lane (column of X) onto the feasible set [-1, 1] after a step."""
    for b in range(X.shape[1]):
        if X[0, b] > 1.0:
            X[0, b] = 1.0
        elif X[0, b] < -1.0:
            X[0, b] = -1.0
