"""Problem classes: what a problem is, for theory checks, grouping in reports and profiles.

Each built-in family declares its deterministic, full-batch class as the class attribute
``problem_class``; ``problem_class(problem)`` refines it for an instance:

* ``"online"``: a sequence of adversarial losses f_t (Reddi et al. 2018), regret setting;
* ``"stochastic"``: the optimizer sees noisy or minibatch gradients (``is_stochastic``);
* ``"strongly convex"``: a convex family whose instance has mu > 0 (f(y) >= f(x) +
  g(x)^T (y - x) + mu/2 ||y - x||^2; Nesterov 2004, Def. 2.1.3);
* ``"convex"``, ``"nonconvex smooth"`` (one basin of global minima or benign landscapes),
  ``"multimodal"`` (spurious local minima: a local method's answer depends on its start);
* ``"unclassified"``: a user's problem that declares no class.
"""
from __future__ import annotations

STRONGLY_CONVEX = "strongly convex"
CONVEX = "convex"
NONCONVEX_SMOOTH = "nonconvex smooth"
MULTIMODAL = "multimodal"
STOCHASTIC = "stochastic"
ONLINE = "online"
UNCLASSIFIED = "unclassified"

#: the classes in the order reports list them
CLASSES = (STRONGLY_CONVEX, CONVEX, NONCONVEX_SMOOTH, MULTIMODAL, STOCHASTIC, ONLINE, UNCLASSIFIED)
#: family classes that are convex (the online example is convex in each f_t)
CONVEX_CLASSES = (STRONGLY_CONVEX, CONVEX, ONLINE)


def family_class(cls: type) -> str:
    """The class a problem family declares (``problem_class``), or "unclassified"."""
    value: str | None = getattr(cls, "problem_class", None)
    if value is None:
        return UNCLASSIFIED
    if value not in CLASSES:
        raise ValueError(f"{cls.__name__}.problem_class must be one of {', '.join(CLASSES)}, "
                         f"got {value!r}")
    return value


def is_convex(problem: object) -> bool:
    """True when the problem's family is convex (deterministic part; noise aside)."""
    return family_class(type(problem)) in CONVEX_CLASSES


def problem_class(problem: object) -> str:
    """The class of a problem instance: online before stochastic before the family's class;
    a convex family with a known mu > 0 is strongly convex."""
    base = family_class(type(problem))
    if base == ONLINE:
        return ONLINE
    if getattr(problem, "is_stochastic", False):
        return STOCHASTIC
    if base == CONVEX:
        mu = getattr(problem, "mu", None)
        if mu is not None and mu > 0:
            return STRONGLY_CONVEX
    return base


__all__ = ["CLASSES", "CONVEX_CLASSES", "STRONGLY_CONVEX", "CONVEX", "NONCONVEX_SMOOTH",
           "MULTIMODAL", "STOCHASTIC", "ONLINE", "UNCLASSIFIED", "family_class", "is_convex",
           "problem_class"]
