"""A user schedule: the Transformer's inverse square-root warm-up, as a ``Schedule`` class.
========================================================================================

Vaswani et al., "Attention Is All You Need", NeurIPS 2017, section 5.3:

    lr_k = lr_0 * min((k + 1)^-1/2, (k + 1) * warmup^-3/2) * warmup^1/2

(scaled so that the peak, at k + 1 = warmup, is lr_0; k is the 0-based optimizer step).
``lr_at`` is a numba-compilable function whose arguments are taken by name: the step ``k``,
``base_lr`` (the optimizer's lr) and the schedule's parameters; it is evaluated once into
the run's lr table. (A plain factor function of the step also works: ``FunctionLR(fn)``.)

Run it: ``python examples/warmup_schedule.py`` prints the peak step and lr, checks the table
against the formula in numpy, and compares constant lr with the warm-up for Adam.
"""
import numpy as np

from optbench.schedules import Schedule
from optbench.spec import integer


class InverseSqrtWarmup(Schedule):
    """Linear warm-up over ``warmup`` steps, then decay as 1/sqrt(step)."""

    def __init__(self, warmup=50):
        warmup = integer("InverseSqrtWarmup", "warmup", warmup, lo=1)
        self._store(locals())

    @staticmethod
    def lr_at(k, base_lr, warmup):
        step = k + 1.0
        return base_lr * min(step ** -0.5, step * warmup ** -1.5) * warmup ** 0.5


def main() -> int:
    import optbench
    from optbench.optimizers import Adam
    from optbench.problems import Rosenbrock

    warmup = 50
    common = dict(problems=Rosenbrock(dim=4), optimizers=Adam(lr=0.05), steps=400, seeds=5,
                  record=("lr", "loss"))
    res = optbench.run(schedules=InverseSqrtWarmup(warmup=warmup), **common)
    constant = optbench.run(**common)
    lr = res.trace("lr")[0]
    k = np.arange(lr.size)
    expected = 0.05 * np.minimum((k + 1.0) ** -0.5, (k + 1.0) * warmup ** -1.5) * warmup ** 0.5
    print(f"peak lr {lr.max():.4g} at step {int(lr.argmax())}; max relative difference from "
          f"the formula {np.max(np.abs(lr - expected) / expected):.2e}")
    print(f"median final loss: constant {np.median(constant.trials['final_loss']):.4g}, "
          f"warm-up {np.median(res.trials['final_loss']):.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
