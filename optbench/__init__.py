"""optbench: Numba-JIT benchmarking and convergence analysis for gradient optimizers and
learning-rate schedules.

    import optbench
    from optbench.optimizers import Adam, SGD
    from optbench.problems import Rosenbrock
    res = optbench.run(Rosenbrock(dim=10), [Adam(lr=1e-3), SGD(lr=1e-4)], steps=1000, seeds=8)
    res.trials.groupby("optimizer")["final_suboptimality"].median()  # a pandas DataFrame
    res.trace("loss"), res.to_xarray()
"""
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers see of the names imported on first use below
    from . import analysis, compare, optimizers, problems, report, schedules
    from .api import run
    from .optimizers import Optimizer, hyper
    from .problems import Problem
    from .results import Results
    from .schedules import Schedule
    from .store import load
    from .vector import VectorOptimizer

__version__ = "0.1.0"

#: public names -> the submodule that defines them, imported when first named (PEP 562), so
#: that the command line starts (and takes Ctrl-C) before numba is loaded
_LAZY = {"run": "api", "load": "store", "Results": "results", "VectorOptimizer": "vector",
         "Optimizer": "optimizers", "hyper": "optimizers", "Problem": "problems",
         "Schedule": "schedules"}
#: submodules imported on first use (``optbench.analysis.rates(...)``): they pull in scipy.stats
#: and matplotlib, which running a suite does not need
LAZY_SUBMODULES = ("analysis", "report", "compare")

__all__ = ["Optimizer", "Problem", "Results", "Schedule", "VectorOptimizer", "__version__",
           "analysis", "compare", "hyper", "load", "optimizers", "problems", "report", "run",
           "schedules"]


def __getattr__(name: str) -> Any:
    """Public names and submodules, imported when first named (PEP 562)."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    if name in LAZY_SUBMODULES or name in ("optimizers", "problems", "schedules"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
