"""Problem base class: packed data for the kernels, optima, constants, start points."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..kernels import noise, rng
from ..kernels import problems as kp
from ..spec import Registry, Spec, boolean, choice, integer, is_builtin, real, stand_in

REGISTRY: Registry = Registry("problem")
#: the problem door's hooks and the arguments the kernels pass each, in this order (a
#: trailing ``work`` is optional); ``rows_phases`` may also be an int, ``rows_scale`` is one
HOOKS = {
    "value_and_grad": ("x", "g", "data", "work"),
    "value": ("x", "data", "work"),
    "example_loss_grad": ("x", "g", "data", "i"),
    "sample_grad": ("x", "g", "data", "work", "key", "step", "batch", "replace"),
    "rows": ("X", "G", "W", "F", "data", "phase", "i0", "i1", "di"),
    "rows_phases": ("data",),
    "project": ("X", "data"),
}


class Problem(Spec):
    """Base class: the problem door. Subclasses implement ``_build()``, have a ``dim`` and
    give the kernel hooks below; built-in and user problems alike (a subclass that only
    changes ``_build`` runs its parent's hooks).

    ``_build()`` returns a dict with ``data`` (the vector the hooks read), and optionally
    ``work`` (scratch length), ``minimizers`` (k x d), ``f_star``, ``L``, ``mu``,
    ``x0_low`` / ``x0_high`` (the box the default start points are drawn from, uniformly).

    Hooks (``@staticmethod``, plain numba-compilable functions of 1-D float64 arrays, compiled
    into the kernels of the plans that use them, ``optbench.codegen``, CPU and CUDA alike):

    - ``value_and_grad(x, g, data[, work]) -> f``: f(x), writing grad f(x) into ``g``, for
      one point (``work``: a scratch vector of the length ``_build`` asked for);
    - ``value(x, data[, work]) -> f`` (optional): f alone, where skipping the gradient is
      cheaper (a minibatch run needs the exact f at every step, its gradient only where
      recorded);
    - ``example_loss_grad(x, g, data, i) -> l_i(x)`` (optional): a finite sum
      f(x) = 1/n sum_i l_i(x) that *adds* grad l_i(x) into ``g``, with ``examples=n`` from
      ``_build``; with a ``batch_size`` parameter b > 0 the optimizer then sees
      1/b sum_{i in B_k} grad l_i(x_k), B_k drawn per step and trajectory from the
      counter-based stream (``replacement`` selects with or without replacement;
      ``check_batch`` validates both);
    - ``sample_grad(x, g, data, work, key, step, batch, replace) -> f`` (optional, instead of
      ``example_loss_grad``): the gradient the optimizer sees in step ``step`` (0-based) into
      g, its loss returned (the built-in finite sums' minibatches, an online problem's f_t);
    - ``rows(X, G, W, F, data, phase, i0, i1, di)`` (optional, instead of ``value_and_grad``):
      the lane-vectorised form of ``optbench.kernels.problems`` (rows i0, i0 + di, ... < i1
      of G for every lane, their terms added into F), in ``rows_phases`` phases (an int or a
      function of ``data``); f = ``rows_scale`` * the sum of the terms;
    - ``project(X, data)`` (optional): onto the feasible set after every step, every lane.

    Noise options work for every problem.
    """

    registry = REGISTRY
    value_and_grad: Callable[..., float] | None = None
    value: Callable[..., float] | None = None
    example_loss_grad: Callable[..., float] | None = None
    sample_grad: Callable[..., float] | None = None
    rows: Callable[..., None] | None = None
    rows_phases: int | Callable[..., int] = 1
    rows_scale = 1.0
    project: Callable[..., None] | None = None

    if TYPE_CHECKING:  # a parameter, a class attribute or a property, per family
        @property
        def dim(self) -> int: ...

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if is_builtin(cls) and not cls.__name__.startswith("_"):
            REGISTRY.register(cls)  # private helper bases and users' problems stay unregistered

    @classmethod
    def unit(cls) -> type[Problem]:
        """The class whose hooks run this problem: itself, or the nearest base that sets a
        hook (a subclass that only changes ``_build`` runs its parent's kernel code)."""
        names = {*HOOKS, "rows_scale"}
        unit = cast("type[Problem]",  # a class of the MRO below Problem: a Problem
                    next(k for k in cls.__mro__ if k is Problem or names & set(k.__dict__)))
        if unit.value_and_grad is None and unit.rows is None:
            raise TypeError(f"{cls.type_name()}: a problem needs a value_and_grad(x, g, data) "
                            "(or rows) function")
        return unit

    def _build(self) -> dict[str, Any]:
        raise NotImplementedError

    @cached_property
    def _built(self) -> dict[str, Any]:
        built = self._build()
        built["data"] = np.ascontiguousarray(built["data"], dtype=np.float64)
        d = self.dim
        built.setdefault("work", 1)
        built["minimizers"] = np.asarray(built.get("minimizers", np.zeros((0, d))),
                                         dtype=np.float64).reshape(-1, d)
        built.setdefault("f_star", np.nan)
        built.setdefault("L", None)
        built.setdefault("mu", None)
        return built

    # ---- what the engine and the analysis read ----------------------------------------
    @property
    def data(self) -> NDArray[np.float64]:
        data: NDArray[np.float64] = self._built["data"]
        return data

    @property
    def kernel_data(self) -> NDArray[np.float64]:
        """What the kernels read: ``data``, then the example count n for a finite sum through
        ``example_loss_grad`` (its generated hooks hand the functions ``data`` alone)."""
        return self._kernel_data(self.data)

    def _kernel_data(self, data: NDArray[np.float64]) -> NDArray[np.float64]:
        n = self.example_count()
        return data if n is None else np.concatenate([data, [float(n)]])

    def example_count(self) -> int | None:
        """n of a finite sum through ``example_loss_grad`` (and ``examples=n`` from
        ``_build``), else None; a one-line ValueError when the minibatch contract is broken
        (``batch_size`` > 0 without ``example_loss_grad`` or ``sample_grad``, or no
        ``examples``)."""
        unit = type(self)
        if unit.value_and_grad is None and unit.rows is None:
            return None  # a stand-in read back from a run directory: it cannot run
        if unit.example_loss_grad is None or unit.sample_grad is not None:
            if self.batch_size > 0 and unit.sample_grad is None:
                raise ValueError(f"{type(self).type_name()}: batch_size > 0 needs an "
                                 "example_loss_grad(x, g, data, i) function")
            return None
        examples = self._built.get("examples")
        if not isinstance(examples, (int, np.integer)) or examples < 1:
            raise ValueError(f"{type(self).type_name()}: _build must return examples=n (the "
                             f"number of terms example_loss_grad sums over), got {examples!r}")
        return int(examples)

    @property
    def work_size(self) -> int:
        return int(self._built["work"])

    @property
    def minimizers(self) -> NDArray[np.float64]:
        """Known global minimizers, one per row (empty when unknown)."""
        minimizers: NDArray[np.float64] = self._built["minimizers"]
        return minimizers

    @property
    def f_star(self) -> float:
        """Optimal value f* (NaN when unknown)."""
        return float(self._built["f_star"])

    @property
    def L(self) -> float | None:
        """Smoothness constant (largest Hessian eigenvalue bound), or None."""
        L: float | None = self._built["L"]
        return L

    @property
    def mu(self) -> float | None:
        """Strong-convexity constant, or None."""
        mu: float | None = self._built["mu"]
        return mu

    def noise_model(self) -> tuple[int, float, float]:
        """(kind, scale, dof) of the gradient noise (codes in kernels.noise); kind 0: exact.

        Read from the spec's ``noise`` (scale), ``noise_kind`` ("gaussian", "student_t",
        "multiplicative") and ``noise_dof`` (Student-t degrees of freedom) parameters.
        """
        sigma = float(getattr(self, "noise", 0.0))
        if sigma <= 0.0:
            return (noise.NONE, 0.0, 0.0)
        kind = noise.KINDS[getattr(self, "noise_kind", "gaussian")]
        dof = float(getattr(self, "noise_dof", 0.0)) if kind == noise.STUDENT_T else 0.0
        return (kind, sigma, dof)

    #: Minibatch size for finite-sum problems (0: full-batch gradients); specs with a
    #: ``batch_size`` parameter shadow this default. The engine calls the kernel's
    #: ``problem_sample_grad`` every step when it is > 0.
    batch_size = 0

    @property
    def with_replacement(self) -> bool:
        return bool(getattr(self, "replacement", False))

    @property
    def is_stochastic(self) -> bool:
        """True when the gradient the optimizer sees is random or step-dependent."""
        return self.batch_size > 0 or self.noise_model()[0] != noise.NONE

    @cached_property
    def stream_id(self) -> int:
        """A stable 63-bit id of this instance, keying its random streams."""
        return int.from_bytes(hashlib.sha256(self.key().encode()).digest()[:8], "little") >> 1

    def start_points(self, seeds: Sequence[int] | NDArray[np.integer[Any]]
                     ) -> NDArray[np.float64]:
        """Default start points, one row per seed: uniform in the problem's start box.

        Keyed by (seed, problem): every optimizer gets the same start for the same seed.
        """
        low = np.broadcast_to(np.asarray(self._built["x0_low"], float), (self.dim,))
        high = np.broadcast_to(np.asarray(self._built["x0_high"], float), (self.dim,))
        u = np.empty((len(seeds), self.dim))
        rng.fill_uniform_rows(np.asarray(seeds, dtype=np.int64), self.stream_id, u)
        points: NDArray[np.float64] = low + (high - low) * u
        return points

    # ---- Python-side evaluation (users, tests, plots) --------------------------------
    def loss_grad(self, x: ArrayLike) -> tuple[float, NDArray[np.float64]]:
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != (self.dim,):
            raise ValueError(f"{type(self).__name__}: x must have shape ({self.dim},), got {x.shape}")
        return evaluate(type(self), self.kernel_data, x, self.work_size)

    def sampled_loss_grad(self, x: ArrayLike, key: int, step: int, batch: int | None = None,
                          replace: bool | None = None) -> tuple[float, NDArray[np.float64]]:
        """(loss, gradient) the optimizer sees in step ``step`` (0-based) of the trajectory
        whose stream key is ``key``: a minibatch of ``batch`` (default ``batch_size``), or
        an online problem's f_t; NaN loss and the exact gradient where there is none."""
        from ..codegen import problem_kernel

        kernel = problem_kernel(type(self))
        g = self.loss_grad(x)[1]
        w = np.empty(max(self.work_size, 1))
        sampled = kernel.problem_sample_grad(
            kernel.problem_code(type(self)), self.kernel_data, np.array(x, dtype=np.float64), g,
            w, np.uint64(key), int(step), int(self.batch_size if batch is None else batch),
            bool(self.with_replacement if replace is None else replace))
        return float(sampled), g

    def loss(self, x: ArrayLike) -> float:
        return self.loss_grad(x)[0]

    def grad(self, x: ArrayLike) -> NDArray[np.float64]:
        return self.loss_grad(x)[1]


class _FiniteSum(Problem):
    """Base of the built-in finite sums f = weight * sum_i l_i + l2/2 ||x||^2: one set of
    hooks (``kernels.problems.finite_sums``) whose loop sums the term of the subclass's
    ``term_code``, carried as the last entry of the kernel data."""

    term_code: int = -1
    value_and_grad = staticmethod(kp.finite_sum_value_and_grad)
    value = staticmethod(kp.finite_sum_loss)
    sample_grad = staticmethod(kp.finite_sum_sample_grad)

    def _kernel_data(self, data: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.concatenate([data, [float(self.term_code)]])


def evaluate(cls: type[Problem], data: NDArray[np.float64], x: ArrayLike,
             work: int = 1) -> tuple[float, NDArray[np.float64]]:
    """(f(x), grad f(x)) of problem class ``cls`` at one point, with kernel data ``data``,
    from Python (specs, tests, plots): through the kernel of its hooks (``codegen``)."""
    from ..codegen import problem_kernel

    kernel = problem_kernel(cls)
    X = np.ascontiguousarray(x, dtype=np.float64).reshape(-1, 1).copy()
    G = np.empty_like(X)
    W = np.empty((max(int(work), 1), 1))
    F = np.empty(1)
    kernel.problem_block_loss_grad(kernel.problem_code(cls), data, X, G, W, F, True)
    return float(F[0]), G[:, 0].copy()


def plugin_record(cls: type[Problem], instances: Iterable[Problem]) -> dict[str, Any]:
    """What a run directory records of a user's problem class: source hash and files,
    defaults, and per instance (by its spec key) what analysis reads: dim, f*, L, mu and
    the known minimizers."""
    from ..codegen import plugin_provenance

    if "record" in cls.__dict__:  # a stand-in read back from a run directory
        record: dict[str, Any] = cls.__dict__["record"]
        return record
    return {**plugin_provenance(cls),
            "instances": {p.key(): {"dim": p.dim, "f_star": p.f_star, "L": p.L, "mu": p.mu,
                                    "minimizers": p.minimizers.tolist()} for p in instances}}


def stored_problem(type_name: str, record: Mapping[str, Any]) -> type[Problem]:
    """A stand-in for a user's problem class named ``"module:object"`` in a run directory,
    built from the manifest's record without importing the user's code: it labels, hashes
    and answers dim, f*, L, mu and minimizers like the original, and cannot run."""

    def instance(self: Problem) -> dict[str, Any]:
        found: dict[str, Any] = record.get("instances", {}).get(self.key(), {})
        return found

    def _build(self: Problem) -> dict[str, Any]:
        built = instance(self)
        return dict(data=np.zeros(1), minimizers=built.get("minimizers", []),
                    f_star=np.nan if built.get("f_star") is None else built["f_star"],
                    L=built.get("L"), mu=built.get("mu"))

    namespace: dict[str, object] = {"_build": _build}
    if "dim" not in record.get("defaults", {}):
        namespace["dim"] = property(lambda self: int(instance(self).get("dim", 0)))
    return stand_in(Problem, type_name, record, namespace)


# ---- shared argument checks ------------------------------------------------------------

NOISE_KINDS = tuple(noise.KINDS)


def check_unset_by_dataset(owner: str, dataset: str, **sizes: object) -> None:
    """Refuse size arguments (n, features, ...) that a shipped data set already fixes."""
    for name, value in sizes.items():
        if value is not None:
            raise ValueError(f"{owner}: {name} is fixed by dataset {dataset!r}; leave it unset, "
                             f"got {value!r}")


def check_noise(owner: str, noise_: object, noise_kind: str,
                noise_dof: object) -> tuple[float, str, float]:
    """Validate the noise options every problem takes; returns them normalised."""
    noise_ = real(owner, "noise", noise_, lo=0.0)
    noise_kind = choice(owner, "noise_kind", noise_kind, NOISE_KINDS)
    noise_dof = real(owner, "noise_dof", noise_dof, lo=0.0, lo_open=True)
    return noise_, noise_kind, noise_dof


def check_batch(owner: str, batch_size: object, replacement: object,
                n: int) -> tuple[int, bool]:
    """Validate minibatch options against the number of samples n (0: full batch)."""
    batch_size = integer(owner, "batch_size", batch_size, lo=0)
    if batch_size > n:
        raise ValueError(f"{owner}: batch_size must be <= the {n} samples, got {batch_size}")
    replacement = boolean(owner, "replacement", replacement)
    return batch_size, replacement
