"""The built-in optimizer families in one table: the trusted implementation each one is
checked against, an lr that is stable on the small test problems, and the settings that
together reach every branch of its rule.

Read by the reference-data script (``scripts/make_reference_optimizers.py``: which library
produces each family's trajectories), the reference tests (every family has stored cases
from its peer, and nothing else is registered), the CUDA grids (``tests/test_cuda.py``) and
the peer benchmarks (``benchmarks/bench_peers.py``), as numbagg's ``COMPARISONS`` and optax's
``_OPTIMIZERS_UNDER_TEST`` drive theirs. Adding a built-in optimizer is its class in
:mod:`optbench.optimizers` and one entry here. A run never imports this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import optimizers as O


@dataclass(frozen=True)
class Family:
    """One optimizer family: its class, its peer, a stable lr and its covering variants."""

    #: the optimizer class
    spec: type[O.Optimizer]
    #: the trusted implementation, ``"torch.optim.<Name>"`` or ``"optax.<name>"``
    peer: str
    #: an lr at which every variant stays finite on the test problems (Quadratic, Rosenbrock)
    lr: float
    #: (label, keywords) pairs that together reach every branch of the rule
    variants: tuple[tuple[str, dict[str, Any]], ...] = (("", {}),)
    #: keywords the peer lacks: cases using them are checked against a numpy transcription
    extensions: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        return self.spec.__name__

    def specs(self, lr: float | None = None) -> list[O.Optimizer]:
        """One spec per variant, at ``lr`` (default: the family's)."""
        return [self.spec(lr=self.lr if lr is None else lr, **kw) for _, kw in self.variants]

    def peer_variants(self) -> list[tuple[str, dict[str, Any]]]:
        """(label, keywords) of the variants the peer implements as such (named after the
        family; maximizing ones left out, since a benchmark minimizes)."""
        return [(f"{self.name} {label}".strip(), kw) for label, kw in self.variants
                if not (self.extensions & kw.keys()) and not kw.get("maximize", False)]


_ADAM_EXTENSIONS = frozenset({"bias_correction", "eps_inside_sqrt"})

FAMILIES: tuple[Family, ...] = (
    Family(O.SGD, "torch.optim.SGD", 1e-3, (
        ("", {}),
        ("momentum", dict(momentum=0.9)),
        ("Nesterov", dict(momentum=0.9, nesterov=True, weight_decay=0.01)),
        ("dampened, maximize", dict(momentum=0.8, dampening=0.3, maximize=True)))),
    Family(O.Adam, "torch.optim.Adam", 0.01, (
        ("", {}),
        ("AMSGrad", dict(amsgrad=True, weight_decay=0.01)),
        ("no bias correction, eps inside", dict(bias_correction=False, eps_inside_sqrt=True))),
        _ADAM_EXTENSIONS),
    Family(O.AdamW, "torch.optim.AdamW", 0.01, extensions=_ADAM_EXTENSIONS),
    Family(O.Adamax, "torch.optim.Adamax", 0.01),
    Family(O.NAdam, "torch.optim.NAdam", 0.01, (
        ("", {}),
        ("decoupled", dict(decoupled_weight_decay=True, weight_decay=0.01)))),
    Family(O.RAdam, "torch.optim.RAdam", 0.01),
    Family(O.RMSprop, "torch.optim.RMSprop", 0.003, (
        ("", {}),
        ("centered, momentum", dict(centered=True, momentum=0.5)))),
    Family(O.Adagrad, "torch.optim.Adagrad", 0.1, (
        ("", dict(lr_decay=0.01, initial_accumulator_value=0.1)),)),
    Family(O.Adadelta, "torch.optim.Adadelta", 1.0),
    Family(O.Lion, "optax.lion", 1e-3),
)

#: the table by class name
BY_NAME: dict[str, Family] = {f.name: f for f in FAMILIES}
