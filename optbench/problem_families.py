"""The built-in problem families in one table: the instances that together reach every branch
of each family's kernel code and data building, noise models and minibatches included.

Read by the problem tests (``tests/test_problems.py``: gradients, optima, spec round trips and
engine runs of every deterministic instance; every registered family has an entry, and nothing
else) and by the CUDA grids (``tests/test_cuda.py``: the instances and the noise-model and
minibatch variants, on the simulator and the GPU), as :mod:`optbench.families` does for the
optimizers. Adding a built-in problem family is its class in :mod:`optbench.problems` and one
entry here. A run never imports this module.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import problems as P


@dataclass(frozen=True)
class ProblemFamily:
    """One problem family: its class and its covering instances, by what they vary."""

    #: the problem class
    spec: type[P.Problem]
    #: deterministic instances, run by the problem tests and the CUDA grids alike
    instances: tuple[P.Problem, ...]
    #: deterministic instances that vary only what the family's hooks compute (bias, l2, a
    #: dataset, label noise, a given minimizer, d = 1, ...): the problem tests check them; the
    #: CUDA grids leave them out (the simulator calls the hooks CPU-compiled: they would add
    #: nothing it checks, and minutes)
    hook_variants: tuple[P.Problem, ...] = ()
    #: the noise models (``noise_kind``), one family's worth: every family shares that code
    noise_variants: tuple[P.Problem, ...] = ()
    #: minibatch gradients (``batch_size``, ``replacement``) of a finite sum
    minibatch_variants: tuple[P.Problem, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.__name__


FAMILIES: tuple[ProblemFamily, ...] = (
    ProblemFamily(
        P.Quadratic, (P.Quadratic(dim=4, kappa=30.0, rotate=True, seed=3),),
        hook_variants=(
            P.Quadratic(dim=5, kappa=30.0),
            P.Quadratic(dim=5, kappa=30.0, rotate=True, seed=3, minimizer=[1, 2, 3, 4, 5])),
        noise_variants=(
            P.Quadratic(dim=3, kappa=10.0, noise=0.1),
            P.Quadratic(dim=3, kappa=10.0, noise=0.1, noise_kind="student_t", noise_dof=2.5),
            P.Quadratic(dim=3, kappa=10.0, noise=0.2, noise_kind="multiplicative"))),
    ProblemFamily(
        P.LeastSquares, (P.LeastSquares(n=30, features=4),),
        hook_variants=(P.LeastSquares(n=30, features=4, bias=False, l2=0.1, seed=2),
                       P.LeastSquares.tutorial()),
        minibatch_variants=(P.LeastSquares(n=30, features=4, batch_size=5),)),
    ProblemFamily(
        P.LogisticRegression, (P.LogisticRegression(n=40, features=5),),
        hook_variants=(P.LogisticRegression(dataset="wdbc", bias=False, l2=0.01),),
        minibatch_variants=(
            P.LogisticRegression(n=40, features=5, batch_size=8, replacement=True),)),
    ProblemFamily(
        P.SoftmaxRegression, (P.SoftmaxRegression(n=40, features=3, classes=3),),
        hook_variants=(P.SoftmaxRegression(dataset="iris", bias=False),),
        minibatch_variants=(P.SoftmaxRegression(n=40, features=3, classes=3, batch_size=7),)),
    ProblemFamily(P.Huber, (P.Huber(n=40, features=3, delta=0.5, outliers=0.3),)),
    ProblemFamily(P.ReddiCounterexample, (
        P.ReddiCounterexample(), P.ReddiCounterexample(C=10.0, stochastic=True, delta=0.2))),
    ProblemFamily(P.Rosenbrock, (P.Rosenbrock(dim=4),)),
    ProblemFamily(P.Rastrigin, (P.Rastrigin(dim=3),)),
    ProblemFamily(P.Ackley, (P.Ackley(dim=3),)),
    ProblemFamily(P.Griewank, (P.Griewank(dim=4),)),
    ProblemFamily(P.Levy, (P.Levy(dim=3),), hook_variants=(P.Levy(dim=1),)),
    ProblemFamily(P.StyblinskiTang, (P.StyblinskiTang(dim=3),)),
    ProblemFamily(P.Beale, (P.Beale(),)),
    ProblemFamily(P.Booth, (P.Booth(),)),
    ProblemFamily(P.Himmelblau, (P.Himmelblau(),)),
    ProblemFamily(P.GoldsteinPrice, (P.GoldsteinPrice(),)),
    ProblemFamily(P.SixHumpCamel, (P.SixHumpCamel(),)),
    ProblemFamily(
        P.MatrixFactorization, (P.MatrixFactorization(rows=6, cols=5, rank=2),),
        hook_variants=(P.MatrixFactorization(rows=6, cols=5, rank=2, label_noise=0.3),)),
    ProblemFamily(P.PhaseRetrieval, (P.PhaseRetrieval(dim=4, m=30),)),
    ProblemFamily(
        P.MLP, (P.MLP(hidden=(5,), activation="tanh", n=15),),
        hook_variants=(P.MLP(hidden=(5,), activation="relu", n=15),
                       P.MLP(hidden=(4, 3), activation="tanh", n=15, l2=0.01),
                       P.MLP(hidden=(4, 3), activation="relu", n=15)),
        minibatch_variants=(P.MLP(hidden=(4, 3), activation="relu", n=15, batch_size=4),)),
)

#: the table by class name, the key of :data:`optbench.problems.REGISTRY`
BY_NAME: dict[str, ProblemFamily] = {f.name: f for f in FAMILIES}
