"""Convex problems: quadratics, regression and classification losses, Reddi et al.'s
counterexample for Adam.

Data-driven problems are finite sums f(x) = weight * sum_i l_i(x) + l2/2 ||x||^2; their
``batch_size`` > 0 makes the optimizer see an unbiased minibatch estimate (with or without
``replacement``; without, each epoch visits every sample once) while the recorded ``loss``
stays the full objective. Every problem also takes the gradient-noise options ``noise``
(scale), ``noise_kind`` ("gaussian", "student_t", "multiplicative") and ``noise_dof``.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..kernels import problems as k
from ..kernels import rng
from ..spec import boolean, choice, integer, real
from . import _data
from .base import Problem, _FiniteSum, check_batch, check_noise, check_unset_by_dataset, evaluate

_DATA_ONLY_SKIP = ("batch_size", "replacement", "noise", "noise_kind", "noise_dof")
_FSTAR_CACHE: dict[str, tuple[NDArray[np.float64], float]] = {}


def _data_key(problem: Problem) -> str:
    """Key of the parameters that define the data (not the noise or sampling options)."""
    params = {kk: v for kk, v in problem.to_dict().items() if kk not in _DATA_ONLY_SKIP}
    return json.dumps(params, sort_keys=True)


def _newton_optimum(problem: Problem, data: NDArray[np.float64], work: int,
                    hess: Callable[[NDArray[np.float64]], NDArray[np.float64]],
                    x0: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """(x*, f*) of a smooth convex problem: scipy's trust-region Newton (exact Hessian) to
    a gradient norm ~1e-13, then polished by plain Newton steps. Cached per data."""
    key = _data_key(problem)
    if key in _FSTAR_CACHE:
        return _FSTAR_CACHE[key]
    from scipy.optimize import minimize  # type: ignore[import-untyped]  # no scipy stubs here

    def loss_grad(z: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        return evaluate(type(problem), problem._kernel_data(data), z, work)

    res = minimize(loss_grad, x0, jac=True, hess=hess, method="trust-exact",
                   options={"gtol": 1e-13, "maxiter": 500})
    x: NDArray[np.float64] = res.x
    for _ in range(3):  # quadratic convergence: round-off level in a step or two
        _, g = loss_grad(x)
        step = np.linalg.lstsq(hess(x), g, rcond=None)[0]
        _, g_new = loss_grad(x - step)
        if not (np.linalg.norm(g_new) < np.linalg.norm(g)):
            break
        x = x - step
    out = (x, float(loss_grad(x)[0]))
    _FSTAR_CACHE[key] = out
    return out


def _linear_box(fan_in: int) -> tuple[float, float]:
    """torch nn.Linear's default init range: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = float(1.0 / np.sqrt(fan_in))
    return -bound, bound


def _design(a: NDArray[np.float64], bias: bool) -> NDArray[np.float64]:
    return np.hstack([a, np.ones((a.shape[0], 1))]) if bias else a


class Quadratic(Problem):
    """f(x) = 1/2 (x - c)^T A (x - c), A = Q diag(lam) Q^T symmetric positive definite.

    Eigenvalues log-spaced in [1/kappa, 1] (so L = 1, mu = 1/kappa) or given explicitly;
    ``rotate=True`` draws Q uniformly (Haar, from ``seed``), else Q = I. Minimizer c
    (default 0), f* = 0. Start points: uniform in c + [-1, 1]^d.
    Nesterov, Introductory Lectures on Convex Optimization (2004), section 2.1.
    """

    rows = staticmethod(k.quadratic_rows)
    rows_phases = staticmethod(k.quadratic_phases)
    rows_scale = 0.5  # the terms sum to 2f
    problem_class = "strongly convex"  # optbench.problems.classes
    extra_sequence_params = ("eigenvalues", "minimizer")
    dim: int
    kappa: float
    eigenvalues: list[float] | None
    minimizer: list[float] | None
    rotate: bool
    seed: int

    def __init__(self, dim: int = 10, kappa: float = 10.0, eigenvalues: ArrayLike | None = None,
                 minimizer: ArrayLike | None = None, rotate: bool = False, seed: int = 0,
                 noise: float = 0.0,
                 noise_kind: str = "gaussian", noise_dof: float = 3.0) -> None:
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
        noise, noise_kind, noise_dof = check_noise(n, noise, noise_kind, noise_dof)
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
        a: NDArray[np.float64] = (q * self.eigenvalues_array()) @ q.T
        return a

    def _build(self) -> dict[str, Any]:
        lam = self.eigenvalues_array()
        c = np.zeros(self.dim) if self.minimizer is None else np.asarray(self.minimizer, float)
        parts: list[ArrayLike] = [[1.0 if self.rotate else 0.0], lam, c]
        if self.rotate:
            parts.append(self.rotation().ravel())
        return dict(data=np.concatenate(parts), work=2 * self.dim, minimizers=c[None, :],
                    f_star=0.0, L=float(lam.max()), mu=float(lam.min()),
                    x0_low=c - 1.0, x0_high=c + 1.0)


class LeastSquares(_FiniteSum):
    """Linear regression with squared error (torch's ``nn.MSELoss`` on ``nn.Linear``):

        f(w, b) = 1/n sum_i (a_i . w + b - y_i)^2 + l2/2 ||(w, b)||^2,  x = (w, b).

    ``dataset="synthetic"``: a_i ~ N(0, I_features), y_i = a_i . w_true + b_true +
    label_noise * e_i with w_true, b_true, e_i ~ N(0, 1), all from ``seed``.
    ``dataset="tutorial"`` (see :meth:`tutorial`): the PyTorch tutorials' one-feature example
    y = 2 a + 1 (+ label_noise * e) on n standard-normal inputs, parameters (w, b) of
    ``nn.Linear(1, 1)``.
    Optimum: x* from the normal equations (2/n A~^T A~ + l2 I) x* = 2/n A~^T y (A~ = [A, 1]),
    f* = f(x*); L and mu: the largest and smallest eigenvalue of the Hessian
    2/n A~^T A~ + l2 I. Start points: nn.Linear's init box U(-1/sqrt(features), ...).
    Source: least squares (Legendre 1805, Gauss 1809); Nocedal & Wright, Numerical
    Optimization (2006), ch. 10.
    """

    term_code = k.codes.LEAST_SQUARES
    problem_class = "convex"  # optbench.problems.classes
    n: int
    features: int
    label_noise: float
    bias: bool
    l2: float
    dataset: str
    replacement: bool
    seed: int

    def __init__(self, n: int = 200, features: int = 10, label_noise: float = 0.1,
                 bias: bool = True, l2: float = 0.0, dataset: str = "synthetic",
                 batch_size: int = 0, replacement: bool = False, seed: int = 0,
                 noise: float = 0.0,
                 noise_kind: str = "gaussian", noise_dof: float = 3.0) -> None:
        o = "LeastSquares"
        n = integer(o, "n", n, lo=1)
        features = integer(o, "features", features, lo=1)
        label_noise = real(o, "label_noise", label_noise, lo=0.0)
        bias = boolean(o, "bias", bias)
        l2 = real(o, "l2", l2, lo=0.0)
        dataset = choice(o, "dataset", dataset, ("synthetic", "tutorial"))
        if dataset == "tutorial" and features != 1:
            raise ValueError(f"{o}: features must be 1 for dataset 'tutorial', got {features}")
        batch_size, replacement = check_batch(o, batch_size, replacement, n)
        seed = integer(o, "seed", seed, lo=0)
        noise, noise_kind, noise_dof = check_noise(o, noise, noise_kind, noise_dof)
        self._store(locals())

    @classmethod
    def tutorial(cls, label_noise: float = 0.0, **kw: Any) -> LeastSquares:
        """The tutorials' example: y = 2x + 1 on 100 standard-normal inputs, nn.Linear(1, 1)
        parameters (w, b), MSE loss; noise-free by default (then x* = (2, 1), f* = 0)."""
        kw.setdefault("n", 100)
        return cls(features=1, label_noise=label_noise, bias=True, dataset="tutorial", **kw)

    @property
    def dim(self) -> int:
        return self.features + int(self.bias)

    def arrays(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(A (n x features), y (n)) of this instance."""
        n, m = self.n, self.features
        a = _data.normal(self.seed, 0x15A1, (n, m))
        e = _data.normal(self.seed, 0x15A3, (n,))
        if self.dataset == "tutorial":
            y = 2.0 * a[:, 0] + 1.0
        else:
            w_true = _data.normal(self.seed, 0x15A2, (m + 1,))
            y = a @ w_true[:m] + (w_true[m] if self.bias else 0.0)
        return a, y + self.label_noise * e

    def hessian(self) -> np.ndarray:
        a, _ = self.arrays()
        at = _design(a, self.bias)
        return 2.0 / self.n * at.T @ at + self.l2 * np.eye(self.dim)

    def _build(self) -> dict[str, Any]:
        a, y = self.arrays()
        at = _design(a, self.bias)
        h = self.hessian()
        x_star = np.linalg.solve(h, 2.0 / self.n * at.T @ y)
        r = at @ x_star - y
        f_star = float(np.mean(r * r) + 0.5 * self.l2 * x_star @ x_star)
        eig = np.linalg.eigvalsh(h)
        lo, hi = _linear_box(self.features)
        head = [self.n, 1.0 / self.n, self.l2, self.features, float(self.bias)]
        return dict(data=np.concatenate([head, a.ravel(), y]), work=1,
                    minimizers=x_star[None, :], f_star=f_star, L=float(eig[-1]),
                    mu=float(max(eig[0], 0.0)), x0_low=lo, x0_high=hi)


class LogisticRegression(_FiniteSum):
    """L2-regularised binary logistic regression:

        f(w, b) = 1/n sum_i log(1 + exp(-y_i (a_i . w + b))) + l2/2 ||(w, b)||^2,  y_i = +-1.

    ``dataset="synthetic"``: a_i ~ N(0, I), y_i = sign(a_i . w_true + label_noise e_i)
    (seeded). ``dataset="wdbc"``: the Wisconsin Diagnostic Breast Cancer data shipped in
    optbench/data (569 samples, 30 standardised features, +1 malignant; Street, Wolberg &
    Mangasarian 1993; UCI Machine Learning Repository, CC BY 4.0).
    Optimum: unique (l2 > 0); x*, f* by Newton's method with the exact Hessian (scipy's
    trust-exact, polished), cached. L = l2 + lambda_max(A~^T A~)/(4n), mu = l2 (global
    bounds on the Hessian's spectrum; A~ = [A, 1]). Start: nn.Linear's init box.
    Source: e.g. Bottou, Curtis & Nocedal, SIAM Review 60 (2018), section 2.
    """

    term_code = k.codes.LOGISTIC
    problem_class = "convex"  # optbench.problems.classes
    n: int | None
    features: int | None
    label_noise: float
    bias: bool
    l2: float
    dataset: str
    replacement: bool
    seed: int

    def __init__(self, n: int | None = None, features: int | None = None,
                 label_noise: float = 0.5, bias: bool = True, l2: float = 1e-3,
                 dataset: str = "synthetic", batch_size: int = 0, replacement: bool = False,
                 seed: int = 0, noise: float = 0.0,
                 noise_kind: str = "gaussian", noise_dof: float = 3.0) -> None:
        o = "LogisticRegression"
        dataset = choice(o, "dataset", dataset, ("synthetic", "wdbc"))
        if dataset != "synthetic":
            check_unset_by_dataset(o, dataset, n=n, features=features)
        else:
            n = integer(o, "n", 200 if n is None else n, lo=1)
            features = integer(o, "features", 10 if features is None else features, lo=1)
        label_noise = real(o, "label_noise", label_noise, lo=0.0)
        bias = boolean(o, "bias", bias)
        l2 = real(o, "l2", l2, lo=0.0, lo_open=True)
        size = 569 if dataset == "wdbc" else cast(int, n)  # n is set for synthetic data
        batch_size, replacement = check_batch(o, batch_size, replacement, size)
        seed = integer(o, "seed", seed, lo=0)
        noise, noise_kind, noise_dof = check_noise(o, noise, noise_kind, noise_dof)
        self._store(locals())

    def arrays(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(A, y): features (standardised for real data) and labels in {-1, +1}."""
        if self.dataset == "wdbc":
            a, y = _data.wdbc()
            return _data.standardize(a), y
        n, m = cast(int, self.n), cast(int, self.features)  # set for synthetic data
        a = _data.normal(self.seed, 0x1061, (n, m))
        w_true = _data.normal(self.seed, 0x1062, (m,))
        z = a @ w_true + self.label_noise * _data.normal(self.seed, 0x1063, (n,))
        return a, np.where(z >= 0.0, 1.0, -1.0)

    @property
    def dim(self) -> int:
        return (30 if self.dataset == "wdbc" else cast(int, self.features)) + int(self.bias)

    def hessian(self, x: ArrayLike) -> NDArray[np.float64]:
        a, y = self.arrays()
        at = _design(a, self.bias)
        s = 1.0 / (1.0 + np.exp(-(at @ np.asarray(x, float))))
        h: NDArray[np.float64] = ((at.T * (s * (1.0 - s))) @ at / at.shape[0]
                                  + self.l2 * np.eye(at.shape[1]))
        return h

    def _build(self) -> dict[str, Any]:
        a, y = self.arrays()
        n, m = a.shape
        at = _design(a, self.bias)
        head = [n, 1.0 / n, self.l2, m, float(self.bias)]
        lo, hi = _linear_box(m)
        data = np.concatenate([head, a.ravel(), y])
        x_star, f_star = _newton_optimum(self, data, 1, self.hessian, np.zeros(self.dim))
        return dict(data=data, work=1, minimizers=x_star[None, :], f_star=f_star,
                    L=float(self.l2 + np.linalg.eigvalsh(at.T @ at)[-1] / (4.0 * n)),
                    mu=float(self.l2), x0_low=lo, x0_high=hi)


class SoftmaxRegression(_FiniteSum):
    """L2-regularised multinomial logistic (softmax) regression, K classes:

        f(W, b) = 1/n sum_i [logsumexp(W a_i + b) - (W a_i + b)_{y_i}] + l2/2 ||(W, b)||^2,

    x = (W row-major (K x m), b (K)) as torch's ``nn.Linear(m, K)`` with
    ``nn.CrossEntropyLoss``. ``dataset="synthetic"``: K Gaussian blobs, centres
    ``separation`` * N(0, I), a_i = centre_{y_i} + N(0, I), y_i = i mod K (seeded).
    ``dataset="iris"``: Fisher's Iris data shipped in optbench/data (150 samples, 4
    standardised features, 3 classes; UCI Machine Learning Repository, CC BY 4.0).
    Optimum: unique (l2 > 0), by Newton's method with the exact Hessian, cached.
    L = l2 + lambda_max(A~^T A~)/(2n) (the softmax Hessian diag(p) - p p^T has norm <= 1/2),
    mu = l2. Start: nn.Linear's init box.
    Source: Bishop, Pattern Recognition and Machine Learning (2006), section 4.3.4.
    """

    term_code = k.codes.SOFTMAX
    problem_class = "convex"  # optbench.problems.classes
    n: int | None
    features: int | None
    classes: int | None
    separation: float
    bias: bool
    l2: float
    dataset: str
    replacement: bool
    seed: int

    def __init__(self, n: int | None = None, features: int | None = None,
                 classes: int | None = None, separation: float = 1.5, bias: bool = True,
                 l2: float = 1e-3, dataset: str = "synthetic", batch_size: int = 0,
                 replacement: bool = False, seed: int = 0, noise: float = 0.0,
                 noise_kind: str = "gaussian", noise_dof: float = 3.0) -> None:
        o = "SoftmaxRegression"
        dataset = choice(o, "dataset", dataset, ("synthetic", "iris"))
        if dataset != "synthetic":
            check_unset_by_dataset(o, dataset, n=n, features=features, classes=classes)
        else:
            n = integer(o, "n", 200 if n is None else n, lo=1)
            features = integer(o, "features", 10 if features is None else features, lo=1)
            classes = integer(o, "classes", 4 if classes is None else classes, lo=2)
        separation = real(o, "separation", separation, lo=0.0)
        bias = boolean(o, "bias", bias)
        l2 = real(o, "l2", l2, lo=0.0, lo_open=True)
        size = 150 if dataset == "iris" else cast(int, n)  # n is set for synthetic data
        batch_size, replacement = check_batch(o, batch_size, replacement, size)
        seed = integer(o, "seed", seed, lo=0)
        noise, noise_kind, noise_dof = check_noise(o, noise, noise_kind, noise_dof)
        self._store(locals())

    def arrays(self) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
        """(A, labels 0..K-1 as floats, K)."""
        if self.dataset == "iris":
            a, y = _data.iris()
            return _data.standardize(a), y, 3
        nk = cast(int, self.classes)  # classes, n and features are set for synthetic data
        n, m = cast(int, self.n), cast(int, self.features)
        centres = self.separation * _data.normal(self.seed, 0x50F1, (nk, m))
        y = (np.arange(n) % nk).astype(float)
        a = centres[y.astype(int)] + _data.normal(self.seed, 0x50F2, (n, m))
        return a, y, nk

    @property
    def dim(self) -> int:
        if self.dataset == "iris":
            return 3 * (4 + int(self.bias))
        return cast(int, self.classes) * (cast(int, self.features) + int(self.bias))

    def hessian(self, x: ArrayLike) -> NDArray[np.float64]:
        a, y, nk = self.arrays()
        n, m = a.shape
        x = np.asarray(x, float)
        w = x[:nk * m].reshape(nk, m)
        z = a @ w.T + (x[nk * m:] if self.bias else 0.0)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        p = z / z.sum(axis=1, keepdims=True)
        dmat = np.einsum("ik,kl->ikl", p, np.eye(nk)) - np.einsum("ik,il->ikl", p, p)
        at = _design(a, self.bias)
        mb = at.shape[1]
        h = np.einsum("ikl,ij,ih->kjlh", dmat, at, at).reshape(nk * mb, nk * mb) / n
        # (class k, column j) ordering -> parameter layout [W (k*m + j), b (K*m + k)]
        order = [kk * m + j if j < m else nk * m + kk for kk in range(nk) for j in range(mb)]
        perm = np.empty(nk * mb, dtype=int)
        perm[order] = np.arange(nk * mb)
        out: NDArray[np.float64] = h[np.ix_(perm, perm)] + self.l2 * np.eye(nk * mb)
        return out

    def _build(self) -> dict[str, Any]:
        a, y, nk = self.arrays()
        n, m = a.shape
        at = _design(a, self.bias)
        head = [n, 1.0 / n, self.l2, m, nk, float(self.bias)]
        lo, hi = _linear_box(m)
        data = np.concatenate([head, a.ravel(), y])
        x_star, f_star = _newton_optimum(self, data, nk, self.hessian, np.zeros(self.dim))
        return dict(data=data, work=nk, minimizers=x_star[None, :], f_star=f_star,
                    L=float(self.l2 + np.linalg.eigvalsh(at.T @ at)[-1] / (2.0 * n)),
                    mu=float(self.l2), x0_low=lo, x0_high=hi)


class Huber(_FiniteSum):
    """Robust linear regression with the Huber loss (convex, smooth, not strongly convex):

        f(w, b) = 1/n sum_i h_delta(a_i . w + b - y_i),
        h_delta(r) = r^2/2 for ``|r| <= delta``, ``delta (|r| - delta/2)`` otherwise.

    Data: a_i ~ N(0, I), y_i = a_i . w_true + b_true + e_i where e_i ~ N(0, 0.1^2) and a
    fraction ``outliers`` of the samples get an extra N(0, 10^2) error (seeded).
    Optimum: x* by a Newton iteration on the active (quadratic) set, which terminates
    finitely on this piecewise quadratic; f* = f(x*). L = lambda_max(A~^T A~)/n; mu = 0 (far
    from the data every residual is in the linear regime and the Hessian vanishes).
    Start: nn.Linear's init box. Source: Huber, Ann. Math. Statist. 35 (1964).
    """

    term_code = k.codes.HUBER
    problem_class = "convex"  # optbench.problems.classes
    n: int
    features: int
    delta: float
    outliers: float
    bias: bool
    replacement: bool
    seed: int

    def __init__(self, n: int = 200, features: int = 10, delta: float = 1.0,
                 outliers: float = 0.1, bias: bool = True, batch_size: int = 0,
                 replacement: bool = False, seed: int = 0, noise: float = 0.0,
                 noise_kind: str = "gaussian", noise_dof: float = 3.0) -> None:
        o = "Huber"
        n = integer(o, "n", n, lo=1)
        features = integer(o, "features", features, lo=1)
        delta = real(o, "delta", delta, lo=0.0, lo_open=True)
        outliers = real(o, "outliers", outliers, lo=0.0, hi=1.0)
        bias = boolean(o, "bias", bias)
        batch_size, replacement = check_batch(o, batch_size, replacement, n)
        seed = integer(o, "seed", seed, lo=0)
        noise, noise_kind, noise_dof = check_noise(o, noise, noise_kind, noise_dof)
        self._store(locals())

    @property
    def dim(self) -> int:
        return self.features + int(self.bias)

    def arrays(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        n, m = self.n, self.features
        a = _data.normal(self.seed, 0x4B1, (n, m))
        w_true = _data.normal(self.seed, 0x4B2, (m + 1,))
        y = a @ w_true[:m] + (w_true[m] if self.bias else 0.0)
        y = y + 0.1 * _data.normal(self.seed, 0x4B3, (n,))
        bad = _data.uniform(self.seed, 0x4B4, (n,)) < self.outliers
        return a, y + bad * 10.0 * _data.normal(self.seed, 0x4B5, (n,))

    def _optimum(self, a: NDArray[np.float64],
                 y: NDArray[np.float64]) -> NDArray[np.floating[Any]]:
        at = _design(a, self.bias)
        x = np.linalg.lstsq(at, y, rcond=None)[0]
        for _ in range(200):
            r = at @ x - y
            active = np.abs(r) <= self.delta
            grad = at.T @ np.clip(r, -self.delta, self.delta) / self.n
            h = at[active].T @ at[active] / self.n
            step = np.linalg.lstsq(h, grad, rcond=None)[0]
            t = 1.0  # backtracking keeps the iteration monotone
            f0 = self._f(at, y, x)
            while self._f(at, y, x - t * step) > f0 and t > 1e-12:
                t *= 0.5
            x_new = x - t * step
            if np.array_equal(np.abs(at @ x_new - y) <= self.delta, active) and t == 1.0:
                return x_new
            x = x_new
        return x

    def _f(self, at: NDArray[np.float64], y: NDArray[np.float64],
           x: NDArray[np.floating[Any]]) -> float:
        r = np.abs(at @ x - y)
        d = self.delta
        return float(np.mean(np.where(r <= d, 0.5 * r * r, d * (r - 0.5 * d))))

    def _build(self) -> dict[str, Any]:
        a, y = self.arrays()
        at = _design(a, self.bias)
        x_star = self._optimum(a, y)
        head = [self.n, 1.0 / self.n, 0.0, self.features, float(self.bias), self.delta]
        lo, hi = _linear_box(self.features)
        return dict(data=np.concatenate([head, a.ravel(), y]), work=1,
                    minimizers=x_star[None, :], f_star=self._f(at, y, x_star),
                    L=float(np.linalg.eigvalsh(at.T @ at)[-1] / self.n), mu=0.0,
                    x0_low=lo, x0_high=hi)


class ReddiCounterexample(Problem):
    """Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018.

    Online (Theorem 1): on the feasible set [-1, 1], step t = 1, 2, ... sees
    f_t(x) = C x if t mod 3 = 1, else -x (C > 2). The averaged objective
    F(x) = (C - 2)/3 x is minimised at x* = -1, F* = -(C - 2)/3, but Adam with
    beta1 = 0, beta2 = 1/(1 + C^2) drifts to x = +1; AMSGrad converges to -1.
    Stochastic (``stochastic=True``, Theorem 3): f_t(x) = C x with probability
    p = (1 + delta)/(C + 1), else -x; F(x) = E f_t(x) = delta x, x* = -1, F* = -delta.

    The recorded ``loss`` is F; the optimizer sees f_t's gradient (the engine calls the
    kernel's sample hook every step: ``batch_size`` is 1, one f_t per step) and the iterate is
    projected back onto [-1, 1] after every step. F is linear: L = mu = 0.
    Start points: uniform in [-1, 1] (the paper starts at x_1 = 1).
    """

    value_and_grad = staticmethod(k.reddi_loss_grad)
    sample_grad = staticmethod(k.reddi_sample_grad)
    project = staticmethod(k.reddi_project)
    problem_class = "online"  # optbench.problems.classes
    dim = 1
    batch_size = 1
    C: float
    stochastic: bool
    delta: float

    def __init__(self, C: float = 3.0, stochastic: bool = False, delta: float = 0.1,
                 noise: float = 0.0,
                 noise_kind: str = "gaussian", noise_dof: float = 3.0) -> None:
        o = "ReddiCounterexample"
        C = real(o, "C", C, lo=0.0, lo_open=True)
        stochastic = boolean(o, "stochastic", stochastic)
        delta = real(o, "delta", delta, lo=0.0, lo_open=True)
        if not stochastic and C <= 2.0:
            raise ValueError(f"{o}: C must be > 2 for the online example, got {C!r}")
        if stochastic and delta >= C:
            raise ValueError(f"{o}: delta must be < C (a probability (1+delta)/(C+1) < 1), "
                             f"got {delta!r}")
        noise, noise_kind, noise_dof = check_noise(o, noise, noise_kind, noise_dof)
        self._store(locals())

    @property
    def slope(self) -> float:
        return self.delta if self.stochastic else (self.C - 2.0) / 3.0

    def _build(self) -> dict[str, Any]:
        prob = (1.0 + self.delta) / (self.C + 1.0)
        return dict(data=np.array([self.C, float(self.stochastic), prob]), work=1,
                    minimizers=np.array([[-1.0]]), f_star=-self.slope, L=0.0, mu=0.0,
                    x0_low=-1.0, x0_high=1.0)
