"""optbench: Numba-JIT benchmarking and convergence analysis for gradient optimizers and
learning-rate schedules.

    import optbench
    from optbench.optimizers import Adam, SGD
    from optbench.problems import Rosenbrock
    res = optbench.run(Rosenbrock(dim=10), [Adam(lr=1e-3), SGD(lr=1e-4)], steps=1000, seeds=8)
    res.trials["final_suboptimality"], res.trace("loss")
"""
__version__ = "0.1.0"

import importlib  # noqa: E402

from . import optimizers, problems, schedules  # noqa: E402
from .api import run  # noqa: E402
from .optimizers import Optimizer, hyper  # noqa: E402
from .problems import Problem  # noqa: E402
from .results import Results  # noqa: E402
from .schedules import Schedule  # noqa: E402
from .store import load  # noqa: E402
from .vector import VectorOptimizer  # noqa: E402

#: submodules imported on first use (``optbench.analysis.rates(...)``): they pull in scipy.stats
#: and matplotlib, which running a suite does not need
LAZY_SUBMODULES = ("analysis", "report", "compare")

__all__ = ["run", "load", "Results", "VectorOptimizer", "Optimizer", "Problem", "Schedule",
           "hyper", "optimizers", "problems", "schedules", *LAZY_SUBMODULES, "__version__"]


def __getattr__(name):
    """``optbench.analysis``, ``optbench.report``, ``optbench.compare``: imported when first
    named (PEP 562)."""
    if name in LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
