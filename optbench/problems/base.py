"""Problem base class: packed data for the kernels, optima, constants, start points."""
from __future__ import annotations

import hashlib
from functools import cached_property

import numpy as np

from ..kernels import noise, rng
from ..kernels.problems import evaluate
from ..spec import Registry, Spec, boolean, choice, integer, is_builtin, real, stand_in

REGISTRY = Registry("problem")


class Problem(Spec):
    """Base class. Subclasses implement ``_build()`` and have a ``dim``; built-ins set
    ``code`` (their family in ``optbench.kernels.problems``), a user's problem gives
    ``value_and_grad`` instead.

    ``_build()`` returns a dict with ``data`` (the kernel's parameter vector), and optionally
    ``work`` (scratch length), ``minimizers`` (k x d), ``f_star``, ``L``, ``mu``,
    ``x0_low`` / ``x0_high`` (the box the default start points are drawn from, uniformly).

    ``value_and_grad(x, g, data) -> f`` (a user's problem, ``@staticmethod``): f(x), writing
    grad f(x) into ``g``, for one point; a plain numba-compilable function of the 1-D arrays
    x, g and ``data`` (what ``_build`` returned), compiled into the kernels of the plans that
    use it (``optbench.codegen``), CPU and CUDA alike. Noise options work as for built-ins.

    Minibatches: a finite sum f(x) = 1/n sum_i l_i(x) also gives
    ``example_loss_grad(x, g, data, i) -> l_i(x)``, which *adds* grad l_i(x) into ``g``, and
    ``_build`` returns ``examples=n``; with a ``batch_size`` parameter b > 0 the optimizer
    then sees 1/b sum_{i in B_k} grad l_i(x_k), B_k drawn per step and trajectory from the
    counter-based stream as for the built-in finite sums (``replacement`` selects with or
    without replacement; ``check_batch`` validates both).
    """

    registry = REGISTRY
    code: int = -1
    value_and_grad = None
    example_loss_grad = None

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if is_builtin(cls) and not cls.__name__.startswith("_"):
            REGISTRY.register(cls)  # private helper bases and users' problems stay unregistered

    @classmethod
    def plugin_class(cls) -> type | None:
        """The class itself when it brings its own ``value_and_grad`` (a user's problem,
        compiled into kernels of its own), else None (the built-in families)."""
        return cls if cls.value_and_grad is not None else None

    def _build(self) -> dict:
        raise NotImplementedError

    @cached_property
    def _built(self) -> dict:
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
    def data(self) -> np.ndarray:
        return self._built["data"]

    @property
    def kernel_data(self) -> np.ndarray:
        """What the kernels read: ``data``, then the example count n for a user's finite sum
        (its generated hooks hand the user's functions ``data`` alone)."""
        n = self.example_count()
        return self.data if n is None else np.concatenate([self.data, [float(n)]])

    def example_count(self) -> int | None:
        """n of a user's finite sum (``example_loss_grad``, and ``examples=n`` from
        ``_build``), else None; a one-line ValueError when the minibatch contract is broken
        (``batch_size`` > 0 without ``example_loss_grad``, or no ``examples``)."""
        if self.plugin_class() is None:
            return None
        if type(self).example_loss_grad is None:
            if self.batch_size > 0:
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
    def minimizers(self) -> np.ndarray:
        """Known global minimizers, one per row (empty when unknown)."""
        return self._built["minimizers"]

    @property
    def f_star(self) -> float:
        """Optimal value f* (NaN when unknown)."""
        return float(self._built["f_star"])

    @property
    def L(self):
        """Smoothness constant (largest Hessian eigenvalue bound), or None."""
        return self._built["L"]

    @property
    def mu(self):
        """Strong-convexity constant, or None."""
        return self._built["mu"]

    def noise_model(self) -> tuple:
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

    def start_points(self, seeds) -> np.ndarray:
        """Default start points, one row per seed: uniform in the problem's start box.

        Keyed by (seed, problem): every optimizer gets the same start for the same seed.
        """
        low = np.broadcast_to(np.asarray(self._built["x0_low"], float), (self.dim,))
        high = np.broadcast_to(np.asarray(self._built["x0_high"], float), (self.dim,))
        u = np.empty((len(seeds), self.dim))
        rng.fill_uniform_rows(np.asarray(seeds, dtype=np.int64), self.stream_id, u)
        return low + (high - low) * u

    # ---- Python-side evaluation (users, tests, plots) --------------------------------
    def loss_grad(self, x):
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != (self.dim,):
            raise ValueError(f"{type(self).__name__}: x must have shape ({self.dim},), got {x.shape}")
        if self.plugin_class():
            from ..codegen import compiled_rule

            g = np.empty_like(x)
            return float(compiled_rule(type(self), "value_and_grad")(x, g, self.data)), g
        return evaluate(self.code, self.data, x, self.work_size)

    def loss(self, x) -> float:
        return self.loss_grad(x)[0]

    def grad(self, x) -> np.ndarray:
        return self.loss_grad(x)[1]


def plugin_record(cls, instances) -> dict:
    """What a run directory records of a user's problem class: source hash and files,
    defaults, and per instance (by its spec key) what analysis reads: dim, f*, L, mu and
    the known minimizers."""
    from ..codegen import plugin_provenance

    if "record" in cls.__dict__:  # a stand-in read back from a run directory
        return cls.record
    return {**plugin_provenance(cls),
            "instances": {p.key(): {"dim": p.dim, "f_star": p.f_star, "L": p.L, "mu": p.mu,
                                    "minimizers": p.minimizers.tolist()} for p in instances}}


def stored_problem(type_name: str, record: dict) -> type:
    """A stand-in for a user's problem class named ``"module:object"`` in a run directory,
    built from the manifest's record without importing the user's code: it labels, hashes
    and answers dim, f*, L, mu and minimizers like the original, and cannot run."""

    def instance(self):
        return record.get("instances", {}).get(self.key(), {})

    def _build(self):
        built = instance(self)
        return dict(data=np.zeros(1), minimizers=built.get("minimizers", []),
                    f_star=np.nan if built.get("f_star") is None else built["f_star"],
                    L=built.get("L"), mu=built.get("mu"))

    namespace = {"_build": _build}
    if "dim" not in record.get("defaults", {}):
        namespace["dim"] = property(lambda self: int(instance(self).get("dim", 0)))
    return stand_in(Problem, type_name, record, namespace)


# ---- shared argument checks ------------------------------------------------------------

NOISE_KINDS = tuple(noise.KINDS)


def check_unset_by_dataset(owner, dataset, **sizes):
    """Refuse size arguments (n, features, ...) that a shipped data set already fixes."""
    for name, value in sizes.items():
        if value is not None:
            raise ValueError(f"{owner}: {name} is fixed by dataset {dataset!r}; leave it unset, "
                             f"got {value!r}")


def check_noise(owner, noise_, noise_kind, noise_dof):
    """Validate the noise options every problem takes; returns them normalised."""
    noise_ = real(owner, "noise", noise_, lo=0.0)
    noise_kind = choice(owner, "noise_kind", noise_kind, NOISE_KINDS)
    noise_dof = real(owner, "noise_dof", noise_dof, lo=0.0, lo_open=True)
    return noise_, noise_kind, noise_dof


def check_batch(owner, batch_size, replacement, n):
    """Validate minibatch options against the number of samples n (0: full batch)."""
    batch_size = integer(owner, "batch_size", batch_size, lo=0)
    if batch_size > n:
        raise ValueError(f"{owner}: batch_size must be <= the {n} samples, got {batch_size}")
    replacement = boolean(owner, "replacement", replacement)
    return batch_size, replacement
