"""Nonconvex families: the test functions (rows or per-point form) and the finite-sum terms
of MatrixFactorization, PhaseRetrieval and MLP."""
import math

from numba import njit

from .convex import softmax_cross_entropy


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
def rosenbrock_rows(X, G, W, F, data, phase, i0, i1, di):
    """f(x) = sum_{i<d-1} a (x_{i+1} - x_i^2)^2 + (1 - x_i)^2  (Rosenbrock, 1960).

    Rows form: with r_i = x_{i+1} - x_i^2 and s_i = 1 - x_i, row i holds the term
    a r_i^2 + s_i^2 (i < d-1) and g_i = 2a r_{i-1} (i > 0) - 4a r_i x_i - 2 s_i (i < d-1).
    data = [a] (a = 100 classically); minimum 0 at x = (1, ..., 1). Each gradient row is
    written once from rows i-1, i, i+1 (no read-modify-write passes): the lanes vectorise.
    """
    a = data[0]
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
def rastrigin_rows(X, G, W, F, data, phase, i0, i1, di):
    """f(x) = A d + sum_i x_i^2 - A cos(2 pi x_i);  g_i = 2 x_i + 2 pi A sin(2 pi x_i).

    Rows form; row 0 also holds the constant A d. data = [A].
    """
    a = data[0]
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
def ackley_loss_grad(x, g, data, work):
    """f(x) = -a exp(-b sqrt(mean x^2)) - exp(mean cos(c x)) + a + e; data = [a, b, c]."""
    a = data[0]
    b = data[1]
    c = data[2]
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
def griewank_loss_grad(x, g, data, work):
    """f(x) = 1 + sum x_i^2/4000 - prod cos(x_i / sqrt(i+1)); work: d (prefix products)."""
    d = x.shape[0]
    f = 1.0
    prod = 1.0
    for i in range(d):  # work[i] = prod_{j<i} cos_j
        work[i] = prod
        prod *= math.cos(x[i] / math.sqrt(i + 1.0))
        f += x[i] * x[i] / 4000.0
    suffix = 1.0
    for i in range(d - 1, -1, -1):
        s = math.sqrt(i + 1.0)
        g[i] = x[i] / 2000.0 + work[i] * suffix * math.sin(x[i] / s) / s
        suffix *= math.cos(x[i] / s)
    return f - prod


@njit(error_model="numpy")
def levy_rows(X, G, W, F, data, phase, i0, i1, di):
    """Levy: with v_i = 1 + (x_i - 1)/4, f = sin^2(pi v_1) + (v_d - 1)^2 (1 + sin^2(2 pi v_d))
    + sum_{i<d} (v_i - 1)^2 (1 + 10 sin^2(pi v_i + 1)).

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
def styblinski_tang_rows(X, G, W, F, data, phase, i0, i1, di):
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
def beale_loss_grad(x, g, data, work):
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
def booth_loss_grad(x, g, data, work):
    """f = (x + 2y - 7)^2 + (2x + y - 5)^2."""
    t1 = x[0] + 2.0 * x[1] - 7.0
    t2 = 2.0 * x[0] + x[1] - 5.0
    g[0] = 2.0 * t1 + 4.0 * t2
    g[1] = 4.0 * t1 + 2.0 * t2
    return t1 * t1 + t2 * t2


@njit(error_model="numpy")
def himmelblau_loss_grad(x, g, data, work):
    """f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2."""
    u = x[0]
    v = x[1]
    t1 = u * u + v - 11.0
    t2 = u + v * v - 7.0
    g[0] = 4.0 * u * t1 + 2.0 * t2
    g[1] = 2.0 * t1 + 4.0 * v * t2
    return t1 * t1 + t2 * t2


@njit(error_model="numpy")
def goldstein_price_loss_grad(x, g, data, work):
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
def six_hump_camel_loss_grad(x, g, data, work):
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
