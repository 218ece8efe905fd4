"""A user schedule: the Transformer's inverse square-root warm-up, through ``FunctionLR``.

Vaswani et al., "Attention Is All You Need", NeurIPS 2017, section 5.3:

    lr_k = lr_0 * min((k + 1)^-1/2, (k + 1) * warmup^-3/2) * warmup^1/2

(scaled so that the peak, at k + 1 = warmup, is lr_0; k is the 0-based optimizer step).
``FunctionLR`` takes any numba-compilable function of the step returning the factor (torch's
LambdaLR), evaluated once into the run's lr table.

Run it: ``python examples/warmup_schedule.py`` prints the peak step and lr, checks the table
against the formula in numpy, and compares constant lr with the warm-up for Adam.
"""
import numpy as np

WARMUP = 50


def inverse_sqrt_warmup(k):
    """The factor of step k (0-based)."""
    step = k + 1.0
    return min(step ** -0.5, step * WARMUP ** -1.5) * WARMUP ** 0.5


def main() -> int:
    import optbench
    from optbench.optimizers import Adam
    from optbench.problems import Rosenbrock
    from optbench.schedules import FunctionLR

    common = dict(problems=Rosenbrock(dim=4), optimizers=Adam(lr=0.05), steps=400, seeds=5,
                  record=("lr", "loss"))
    res = optbench.run(schedules=FunctionLR(inverse_sqrt_warmup), **common)
    constant = optbench.run(**common)
    lr = res.trace("lr")[0]
    k = np.arange(lr.size)
    expected = 0.05 * np.minimum((k + 1.0) ** -0.5, (k + 1.0) * WARMUP ** -1.5) * WARMUP ** 0.5
    print(f"peak lr {lr.max():.4g} at step {int(lr.argmax())}; max relative difference from "
          f"the formula {np.max(np.abs(lr - expected) / expected):.2e}")
    print(f"median final loss: constant {np.median(constant.trials['final_loss']):.4g}, "
          f"warm-up {np.median(res.trials['final_loss']):.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
