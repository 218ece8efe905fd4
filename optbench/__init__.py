"""optbench: Numba-JIT benchmarking and convergence analysis for gradient optimizers and
learning-rate schedules.

    import optbench
    from optbench.optimizers import Adam, SGD
    from optbench.problems import Rosenbrock
    res = optbench.run(Rosenbrock(dim=10), [Adam(lr=1e-3), SGD(lr=1e-4)], steps=1000, seeds=8)
    res.trials["final_suboptimality"], res.trace("loss")
"""
__version__ = "0.1.0"

#: public names, imported on first use so that the command line starts (and takes Ctrl-C)
#: before numba is loaded
_LAZY = {"run": "api", "load": "store", "Results": "results", "VectorOptimizer": "vector",
         "Optimizer": "optimizers", "hyper": "optimizers"}

__all__ = ["run", "load", "Results", "VectorOptimizer", "Optimizer", "hyper", "__version__"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'optbench' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
