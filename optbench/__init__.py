"""optbench: Numba-JIT benchmarking and convergence analysis for gradient optimizers and
learning-rate schedules.

    import optbench
    from optbench.optimizers import Adam, SGD
    from optbench.problems import Rosenbrock
    res = optbench.run(Rosenbrock(dim=10), [Adam(lr=1e-3), SGD(lr=1e-4)], steps=1000, seeds=8)
    res.trials["final_suboptimality"], res.trace("loss")
"""
__version__ = "0.1.0"

from .api import run  # noqa: E402
from .optimizers import Optimizer, hyper  # noqa: E402
from .results import Results  # noqa: E402
from .store import load  # noqa: E402
from .vector import VectorOptimizer  # noqa: E402

__all__ = ["run", "load", "Results", "VectorOptimizer", "Optimizer", "hyper", "__version__"]
