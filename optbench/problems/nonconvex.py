"""Nonconvex problems: classic global-optimization test functions (any dimension and 2-D),
and small learning problems (matrix factorization, phase retrieval, a multilayer perceptron).

Formulas, optima and start boxes of the test functions follow Surjanovic & Bingham, "Virtual
Library of Simulation Experiments: Test Functions and Datasets" (Simon Fraser University,
2013) and Jamil & Yang, "A literature survey of benchmark functions for global optimisation
problems", Int. J. Math. Modelling and Numerical Optimisation 4(2), 2013. Published minimizers
given to a few digits are polished here to machine precision by Newton's method on the
analytic gradient. Every problem takes the noise options ``noise``, ``noise_kind``,
``noise_dof``; the finite sums (MatrixFactorization, PhaseRetrieval, MLP) also
``batch_size`` and ``replacement``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..kernels import problems as k
from ..spec import choice, integer, real
from . import _data
from .base import Problem, _FiniteSum, check_batch, check_noise, evaluate


def _polish(cls: type[Problem], data: NDArray[np.float64],
            x: NDArray[np.float64] | Sequence[float], work: int = 1,
            steps: int = 8) -> NDArray[np.float64]:
    """Newton's method on the kernel's gradient (central-difference Jacobian): a published
    minimizer to the exact zero of the gradient, to round-off."""
    x = np.array(x, dtype=np.float64)
    d = x.size

    def grad(z: NDArray[np.float64]) -> NDArray[np.float64]:
        return evaluate(cls, data, z, work)[1]

    for _ in range(steps):
        g = grad(x)
        if not np.any(g):
            break
        jac = np.empty((d, d))
        for j in range(d):
            e = np.zeros(d)
            e[j] = 1e-6 * max(1.0, abs(x[j]))
            jac[:, j] = (grad(x + e) - grad(x - e)) / (2.0 * e[j])
        x = x - np.linalg.solve(0.5 * (jac + jac.T), g)
    return x


def _value(cls: type[Problem], data: NDArray[np.float64], x: ArrayLike,
           work: int = 1) -> float:
    return evaluate(cls, data, x, work)[0]


class Rosenbrock(Problem):
    """f(x) = sum_{i<d-1} a (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, d >= 2.

    Global minimum f* = 0 at (1, ..., 1) (Rosenbrock, The Computer Journal 3, 1960; the
    d-dimensional chained form of Dixon & Mills, JOTA 1994). Start points: uniform in
    [-2, 2]^d.
    """

    rows = staticmethod(k.rosenbrock_rows)
    problem_class = "nonconvex smooth"  # optbench.problems.classes

    dim: int
    a: float

    def __init__(self, dim: int = 2, a: float = 100.0, noise: float = 0.0,
                 noise_kind: str = "gaussian", noise_dof: float = 3.0) -> None:
        n = "Rosenbrock"
        dim = integer(n, "dim", dim, lo=2)
        a = real(n, "a", a, lo=0.0, lo_open=True)
        noise, noise_kind, noise_dof = check_noise(n, noise, noise_kind, noise_dof)
        self._store(locals())

    def _build(self) -> dict[str, Any]:
        return dict(data=np.array([self.a]), minimizers=np.ones((1, self.dim)), f_star=0.0,
                    x0_low=-2.0, x0_high=2.0)


class Rastrigin(Problem):
    """f(x) = A d + sum_i (x_i^2 - A cos(2 pi x_i)), A = 10 classically.

    Highly multimodal (a local minimum near every integer point); global minimum f* = 0 at
    x = 0. Hessian diag(2 + 4 pi^2 A cos(2 pi x_i)): L = 2 + 4 pi^2 A (attained at integer
    points). Start points: uniform in [-5.12, 5.12]^d. Rastrigin (1974); Muehlenbein et al.,
    Parallel Computing 17 (1991).
    """

    rows = staticmethod(k.rastrigin_rows)
    problem_class = "multimodal"  # optbench.problems.classes

    dim: int
    A: float

    def __init__(self, dim: int = 2, A: float = 10.0, noise: float = 0.0,
                 noise_kind: str = "gaussian", noise_dof: float = 3.0) -> None:
        n = "Rastrigin"
        dim = integer(n, "dim", dim, lo=1)
        A = real(n, "A", A, lo=0.0)
        noise, noise_kind, noise_dof = check_noise(n, noise, noise_kind, noise_dof)
        self._store(locals())

    def _build(self) -> dict[str, Any]:
        return dict(data=np.array([self.A]), minimizers=np.zeros((1, self.dim)), f_star=0.0,
                    L=2.0 + 4.0 * np.pi ** 2 * self.A, x0_low=-5.12, x0_high=5.12)


class Ackley(Problem):
    """f(x) = -a exp(-b sqrt(1/d sum x_i^2)) - exp(1/d sum cos(c x_i)) + a + e,
    a = 20, b = 0.2, c = 2 pi.

    Nearly flat outer region with many local minima; global minimum f* = 0 at x = 0 (a cone
    tip: the kernel returns the subgradient 0 there). Start points: uniform in
    [-32.768, 32.768]^d. Ackley, A connectionist machine for genetic hillclimbing (1987).
    """

    value_and_grad = staticmethod(k.ackley_loss_grad)
    problem_class = "multimodal"  # optbench.problems.classes

    dim: int
    a: float
    b: float
    c: float

    def __init__(self, dim: int = 2, a: float = 20.0, b: float = 0.2, c: float = 2.0 * np.pi,
                 noise: float = 0.0, noise_kind: str = "gaussian",
                 noise_dof: float = 3.0) -> None:
        n = "Ackley"
        dim = integer(n, "dim", dim, lo=1)
        a = real(n, "a", a)
        b = real(n, "b", b, lo=0.0, lo_open=True)
        c = real(n, "c", c)
        noise, noise_kind, noise_dof = check_noise(n, noise, noise_kind, noise_dof)
        self._store(locals())

    def _build(self) -> dict[str, Any]:
        return dict(data=np.array([self.a, self.b, self.c]), minimizers=np.zeros((1, self.dim)),
                    f_star=0.0, x0_low=-32.768, x0_high=32.768)


class Griewank(Problem):
    """f(x) = 1 + sum_i x_i^2 / 4000 - prod_i cos(x_i / sqrt(i)), i = 1..d.

    Global minimum f* = 0 at x = 0; many regularly spaced local minima. Start points:
    uniform in [-600, 600]^d. Griewank, J. Optim. Theory Appl. 34 (1981).
    """

    value_and_grad = staticmethod(k.griewank_loss_grad)
    problem_class = "multimodal"  # optbench.problems.classes
    dim: int

    def __init__(self, dim: int = 2, noise: float = 0.0, noise_kind: str = "gaussian",
                 noise_dof: float = 3.0) -> None:
        n = "Griewank"
        dim = integer(n, "dim", dim, lo=1)
        noise, noise_kind, noise_dof = check_noise(n, noise, noise_kind, noise_dof)
        self._store(locals())

    def _build(self) -> dict[str, Any]:
        return dict(data=np.zeros(1), work=self.dim, minimizers=np.zeros((1, self.dim)),
                    f_star=0.0, x0_low=-600.0, x0_high=600.0)


class Levy(Problem):
    """f(x) = sin^2(pi v_1) + sum_{i<d} (v_i - 1)^2 [1 + 10 sin^2(pi v_i + 1)]
             + (v_d - 1)^2 [1 + sin^2(2 pi v_d)],  v_i = 1 + (x_i - 1)/4.

    Global minimum f* = 0 at x = (1, ..., 1). Start points: uniform in [-10, 10]^d.
    Levy & Montalvo, SIAM J. Sci. Stat. Comput. 6 (1985); form of Surjanovic & Bingham.
    """

    rows = staticmethod(k.levy_rows)
    problem_class = "multimodal"  # optbench.problems.classes
    dim: int

    def __init__(self, dim: int = 2, noise: float = 0.0, noise_kind: str = "gaussian",
                 noise_dof: float = 3.0) -> None:
        n = "Levy"
        dim = integer(n, "dim", dim, lo=1)
        noise, noise_kind, noise_dof = check_noise(n, noise, noise_kind, noise_dof)
        self._store(locals())

    def _build(self) -> dict[str, Any]:
        return dict(data=np.zeros(1), minimizers=np.ones((1, self.dim)), f_star=0.0,
                    x0_low=-10.0, x0_high=10.0)


#: the root of 4x^3 - 32x + 5 = 0 near -2.903534 (Styblinski-Tang's minimizer per coordinate)
def _styblinski_root() -> float:
    roots = np.roots([4.0, 0.0, -32.0, 5.0]).real
    x = float(roots.min())
    for _ in range(5):
        x -= (4 * x ** 3 - 32 * x + 5) / (12 * x ** 2 - 32)
    return x


class StyblinskiTang(Problem):
    """f(x) = 1/2 sum_i (x_i^4 - 16 x_i^2 + 5 x_i).

    2^d local minima (each coordinate near -2.9035 or 2.7468); global minimum at
    x_i = -2.903534... (the smaller root of 4x^3 - 32x + 5), f* = -39.16616570... d.
    Start points: uniform in [-5, 5]^d. Styblinski & Tang, Neural Networks 3 (1990).
    """

    rows = staticmethod(k.styblinski_tang_rows)
    rows_scale = 0.5  # the terms sum to 2f
    problem_class = "multimodal"  # optbench.problems.classes
    dim: int

    def __init__(self, dim: int = 2, noise: float = 0.0, noise_kind: str = "gaussian",
                 noise_dof: float = 3.0) -> None:
        n = "StyblinskiTang"
        dim = integer(n, "dim", dim, lo=1)
        noise, noise_kind, noise_dof = check_noise(n, noise, noise_kind, noise_dof)
        self._store(locals())

    def _build(self) -> dict[str, Any]:
        r = _styblinski_root()
        f1 = 0.5 * (r ** 4 - 16 * r ** 2 + 5 * r)
        return dict(data=np.zeros(1), minimizers=np.full((1, self.dim), r),
                    f_star=f1 * self.dim, x0_low=-5.0, x0_high=5.0)


class _TwoD(Problem):
    """Shared parts of the fixed 2-D test functions."""

    dim = 2
    _published: list[tuple[float, float]] = []
    _f_star = 0.0
    _box = (-5.0, 5.0)

    def __init__(self, noise: float = 0.0, noise_kind: str = "gaussian",
                 noise_dof: float = 3.0) -> None:
        noise, noise_kind, noise_dof = check_noise(type(self).__name__, noise, noise_kind,
                                                   noise_dof)
        self._store(locals())

    def _build(self) -> dict[str, Any]:
        data = np.zeros(1)
        xs = np.array([_polish(type(self), data, x) for x in self._published])
        lo, hi = self._box
        return dict(data=data, minimizers=xs, f_star=self._f_star, x0_low=lo, x0_high=hi,
                    **self._constants())

    def _constants(self) -> dict[str, float]:
        return {}


class Beale(_TwoD):
    """f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2.

    Global minimum f* = 0 at (3, 0.5); flat valleys and steep walls. Start points: uniform in
    [-4.5, 4.5]^2. Beale, On an iterative method for finding a local minimum of a function of
    more than one variable (Princeton, 1958).
    """

    value_and_grad = staticmethod(k.beale_loss_grad)
    problem_class = "nonconvex smooth"  # optbench.problems.classes
    _published = [(3.0, 0.5)]
    _box = (-4.5, 4.5)

    def __init__(self, noise: float = 0.0, noise_kind: str = "gaussian",
                 noise_dof: float = 3.0) -> None:
        super().__init__(noise, noise_kind, noise_dof)


class Booth(_TwoD):
    """f(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2: a convex quadratic, Hessian
    [[10, 8], [8, 10]] (L = 18, mu = 2). Global minimum f* = 0 at (1, 3). Start points:
    uniform in [-10, 10]^2. Jamil & Yang (2013), function 25.
    """

    value_and_grad = staticmethod(k.booth_loss_grad)
    problem_class = "strongly convex"  # optbench.problems.classes
    _published = [(1.0, 3.0)]
    _box = (-10.0, 10.0)

    def __init__(self, noise: float = 0.0, noise_kind: str = "gaussian",
                 noise_dof: float = 3.0) -> None:
        super().__init__(noise, noise_kind, noise_dof)

    def _constants(self) -> dict[str, float]:
        return dict(L=18.0, mu=2.0)


class Himmelblau(_TwoD):
    """f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2.

    Four global minima, f* = 0: (3, 2), (-2.805118, 3.131312), (-3.779310, -3.283186),
    (3.584428, -1.848126). Start points: uniform in [-5, 5]^2. Himmelblau, Applied Nonlinear
    Programming (McGraw-Hill, 1972).
    """

    value_and_grad = staticmethod(k.himmelblau_loss_grad)
    problem_class = "multimodal"  # optbench.problems.classes
    _published = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186),
                  (3.584428, -1.848126)]

    def __init__(self, noise: float = 0.0, noise_kind: str = "gaussian",
                 noise_dof: float = 3.0) -> None:
        super().__init__(noise, noise_kind, noise_dof)


class GoldsteinPrice(_TwoD):
    """f(x, y) = [1 + (x + y + 1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]
               * [30 + (2x - 3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)].

    Global minimum f* = 3 at (0, -1); several local minima. Start points: uniform in
    [-2, 2]^2. Goldstein & Price, Math. Comp. 25 (1971).
    """

    value_and_grad = staticmethod(k.goldstein_price_loss_grad)
    problem_class = "multimodal"  # optbench.problems.classes
    _published = [(0.0, -1.0)]
    _f_star = 3.0
    _box = (-2.0, 2.0)

    def __init__(self, noise: float = 0.0, noise_kind: str = "gaussian",
                 noise_dof: float = 3.0) -> None:
        super().__init__(noise, noise_kind, noise_dof)


class SixHumpCamel(_TwoD):
    """f(x, y) = (4 - 2.1 x^2 + x^4/3) x^2 + x y + (-4 + 4 y^2) y^2.

    Six local minima; two global ones, f* = -1.0316284534898774, at
    +-(0.0898420131, -0.7126564033). Start points: uniform in [-3, 3] x [-2, 2].
    Dixon & Szegoe, Towards Global Optimisation 2 (1978).
    """

    value_and_grad = staticmethod(k.six_hump_camel_loss_grad)
    problem_class = "multimodal"  # optbench.problems.classes
    _published = [(0.0898, -0.7126), (-0.0898, 0.7126)]

    def __init__(self, noise: float = 0.0, noise_kind: str = "gaussian",
                 noise_dof: float = 3.0) -> None:
        super().__init__(noise, noise_kind, noise_dof)

    def _build(self) -> dict[str, Any]:
        built = super()._build()
        built.update(f_star=_value(type(self), built["data"], built["minimizers"][0]),
                     x0_low=np.array([-3.0, -2.0]), x0_high=np.array([3.0, 2.0]))
        return built


class MatrixFactorization(_FiniteSum):
    """f(U, V) = 1/2 ||U V^T - M||_F^2, U (rows x rank), V (cols x rank), x = (U, V) row-major.

    M = U0 V0^T / sqrt(rank) + label_noise * E with U0, V0, E standard normal (seeded).
    Nonconvex but benign: every local minimum is global (for the exact low-rank case; Ge, Jin
    & Zheng, ICML 2017). f* = 1/2 sum_{i > rank} sigma_i(M)^2 (Eckart & Young, 1936); the
    minimizers form a continuum (U G, V G^-T) and are not listed. A finite sum over the rows
    of M (terms weighted 1: the minibatch estimate is rows/batch times a sum of rows).
    Start points: uniform in [-0.5, 0.5]^d.
    """

    term_code = k.codes.MATRIX_FACTORIZATION
    problem_class = "nonconvex smooth"  # optbench.problems.classes
    # the parameter ``rows`` (an instance attribute) shadows the ``rows`` hook of Problem,
    # which this finite sum leaves unset (None) at class level: mypy has one type per name
    rows: int  # type: ignore[assignment]
    cols: int
    rank: int
    label_noise: float
    seed: int

    def __init__(self, rows: int = 20, cols: int = 15, rank: int = 3, label_noise: float = 0.0,
                 batch_size: int = 0, replacement: bool = False, seed: int = 0,
                 noise: float = 0.0, noise_kind: str = "gaussian",
                 noise_dof: float = 3.0) -> None:
        o = "MatrixFactorization"
        rows = integer(o, "rows", rows, lo=1)
        cols = integer(o, "cols", cols, lo=1)
        rank = integer(o, "rank", rank, lo=1, hi=min(rows, cols))
        label_noise = real(o, "label_noise", label_noise, lo=0.0)
        batch_size, replacement = check_batch(o, batch_size, replacement, rows)
        seed = integer(o, "seed", seed, lo=0)
        noise, noise_kind, noise_dof = check_noise(o, noise, noise_kind, noise_dof)
        self._store(locals())

    @property
    def dim(self) -> int:
        return (self.rows + self.cols) * self.rank

    def matrix(self) -> np.ndarray:
        u = _data.normal(self.seed, 0x3F1, (self.rows, self.rank))
        v = _data.normal(self.seed, 0x3F2, (self.cols, self.rank))
        e = _data.normal(self.seed, 0x3F3, (self.rows, self.cols))
        m: NDArray[np.float64] = u @ v.T / np.sqrt(self.rank) + self.label_noise * e
        return m

    def a_minimizer(self) -> np.ndarray:
        """One global minimizer: U = U_r S^1/2, V = V_r S^1/2 from the SVD of M."""
        uu, s, vt = np.linalg.svd(self.matrix(), full_matrices=False)
        r = self.rank
        root = np.sqrt(s[:r])
        x: NDArray[np.float64] = np.concatenate([(uu[:, :r] * root).ravel(),
                                                 (vt[:r].T * root).ravel()])
        return x

    def _build(self) -> dict[str, Any]:
        m = self.matrix()
        s = np.linalg.svd(m, compute_uv=False)
        head = [self.rows, 1.0, 0.0, self.rows, self.cols, self.rank]
        return dict(data=np.concatenate([head, m.ravel()]), work=1,
                    f_star=float(0.5 * np.sum(s[self.rank:] ** 2)), x0_low=-0.5, x0_high=0.5)


class PhaseRetrieval(_FiniteSum):
    """Real phase retrieval: recover x from y_i = (a_i . x*)^2, i = 1..m,

        f(x) = 1/(4m) sum_i ((a_i . x)^2 - y_i)^2,

    a_i ~ N(0, I_d), x* a seeded unit vector. Global minima f* = 0 at +-x* (the sign is not
    identifiable); with m >~ d log d measurements there are no spurious local minima (Sun, Qu
    & Wright, Found. Comput. Math. 18, 2018). Loss of Candes, Li & Soltanolkotabi's Wirtinger
    flow (IEEE Trans. Inf. Theory 61, 2015). Start points: uniform in [-1, 1]^d sqrt(3/d)
    (mean squared norm 1).
    """

    term_code = k.codes.PHASE_RETRIEVAL
    problem_class = "nonconvex smooth"  # optbench.problems.classes

    dim: int
    m: int
    seed: int

    def __init__(self, dim: int = 10, m: int = 80, batch_size: int = 0,
                 replacement: bool = False, seed: int = 0, noise: float = 0.0,
                 noise_kind: str = "gaussian", noise_dof: float = 3.0) -> None:
        o = "PhaseRetrieval"
        dim = integer(o, "dim", dim, lo=1)
        m = integer(o, "m", m, lo=1)
        batch_size, replacement = check_batch(o, batch_size, replacement, m)
        seed = integer(o, "seed", seed, lo=0)
        noise, noise_kind, noise_dof = check_noise(o, noise, noise_kind, noise_dof)
        self._store(locals())

    def _build(self) -> dict[str, Any]:
        a = _data.normal(self.seed, 0x9A1, (self.m, self.dim))
        xs = _data.normal(self.seed, 0x9A2, (self.dim,))
        xs /= np.linalg.norm(xs)
        y = (a @ xs) ** 2
        head = [self.m, 1.0 / self.m, 0.0]
        box = np.sqrt(3.0 / self.dim)
        return dict(data=np.concatenate([head, a.ravel(), y]), work=1,
                    minimizers=np.stack([xs, -xs]), f_star=0.0, x0_low=-box, x0_high=box)


class MLP(_FiniteSum):
    """A multilayer perceptron classifying the two-spirals data (Lang & Witbrock, 1988):

        f(theta) = 1/n sum_i CE(softmax(net(a_i)), y_i) + l2/2 ||theta||^2,
        net = Linear(2, h1) -> act [-> Linear(h1, h2) -> act] -> Linear(h_last, 2),

    act = tanh or ReLU; parameters packed as torch's ``nn.Linear`` weights (row-major) and
    biases, layer by layer. Data: ``n`` points per class on two interleaved spirals of
    ``turns`` turns with N(0, spiral_noise^2) jitter (seeded). Forward and backward pass run
    inside the kernel, per sample, in the scratch vector. f* unknown (NaN). Start points:
    torch's default nn.Linear init box per layer, U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """

    term_code = k.codes.MLP
    problem_class = "nonconvex smooth"  # optbench.problems.classes
    extra_sequence_params = ("hidden",)
    hidden: tuple[int, ...]
    activation: str
    n: int
    turns: float
    spiral_noise: float
    l2: float
    seed: int

    def __init__(self, hidden: int | Sequence[int] = (16,), activation: str = "tanh",
                 n: int = 100, turns: float = 1.0, spiral_noise: float = 0.05, l2: float = 0.0,
                 batch_size: int = 0, replacement: bool = False, seed: int = 0,
                 noise: float = 0.0, noise_kind: str = "gaussian",
                 noise_dof: float = 3.0) -> None:
        o = "MLP"
        hidden = np.atleast_1d(hidden).tolist() if not isinstance(hidden, (list, tuple)) \
            else list(hidden)
        if not 1 <= len(hidden) <= 2:
            raise ValueError(f"{o}: hidden must list 1 or 2 layer widths, got {hidden!r}")
        hidden = tuple(integer(o, f"hidden[{i}]", h, lo=1) for i, h in enumerate(hidden))
        activation = choice(o, "activation", activation, ("tanh", "relu"))
        n = integer(o, "n", n, lo=1)
        turns = real(o, "turns", turns, lo=0.0, lo_open=True)
        spiral_noise = real(o, "spiral_noise", spiral_noise, lo=0.0)
        l2 = real(o, "l2", l2, lo=0.0)
        batch_size, replacement = check_batch(o, batch_size, replacement, 2 * n)
        seed = integer(o, "seed", seed, lo=0)
        noise, noise_kind, noise_dof = check_noise(o, noise, noise_kind, noise_dof)
        self._store(locals())

    def layers(self) -> list[tuple[int, int]]:
        """(fan_in, fan_out) of each Linear layer."""
        widths = [2, *self.hidden, 2]
        return list(zip(widths[:-1], widths[1:]))

    @property
    def dim(self) -> int:
        return sum(i * o + o for i, o in self.layers())

    def _build(self) -> dict[str, Any]:
        pts, labels = _data.two_spirals(self.n, self.turns, self.spiral_noise, self.seed)
        h1 = self.hidden[0]
        h2 = self.hidden[1] if len(self.hidden) > 1 else 0
        nk = 2
        size = 2 * self.n
        head = [size, 1.0 / size, self.l2, 2, h1, h2, nk,
                1.0 if self.activation == "relu" else 0.0]
        bounds = np.concatenate([np.full(i * o + o, 1.0 / np.sqrt(i)) for i, o in self.layers()])
        return dict(data=np.concatenate([head, pts.ravel(), labels]),
                    work=2 * h1 + 2 * h2 + nk, x0_low=-bounds, x0_high=bounds)
