"""AdaBelief as a plugin, checked against a numpy loop of the paper, then benchmarked.
===================================================================================

AdaBelief (Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
Gradients", NeurIPS 2020), Algorithm 2, without weight decay:

    m <- b1*m + (1 - b1)*g
    s <- b2*s + (1 - b2)*(g - m)^2 + eps
    x <- x - lr/(1 - b1^t) * m / (sqrt(s/(1 - b2^t)) + eps)

Run it: ``python examples/adabelief.py [--out DIR]``. It prints the largest relative
difference from the numpy loop, runs AdaBelief against Adam and AdamW on four standard
problems (suite ``examples/adabelief.toml`` names this class as ``adabelief:AdaBelief``) and
writes the run and its report into DIR (default ``runs/adabelief``).
"""
import argparse
import math
from pathlib import Path

import numpy as np

from optbench import Optimizer, hyper


class AdaBelief(Optimizer):
    """AdaBelief (Zhuang et al., NeurIPS 2020, Algorithm 2): Adam whose second moment tracks
    (g - m)^2, the belief in the observed gradient."""

    hyperparameters = {"lr": 1e-3, "betas": hyper((0.9, 0.999), lo=0.0, hi=1.0),
                       "eps": hyper(1e-16, lo=0.0)}
    state = {"m": 0.0, "s": 0.0}
    momentum_keyword = "betas"
    adaptive = True
    coefficient_names = ("step_size", "inv_bias2")

    @staticmethod
    def coefficients(t, lr, beta1, beta2):
        return lr / (1.0 - beta1 ** t), 1.0 / (1.0 - beta2 ** t)

    @staticmethod
    def update(x, g, m, s, beta1, beta2, eps, step_size, inv_bias2):
        m = beta1 * m + (1.0 - beta1) * g
        s = beta2 * s + (1.0 - beta2) * (g - m) * (g - m) + eps
        return x - step_size * m / (math.sqrt(s * inv_bias2) + eps), m, s


def numpy_adabelief(grad, x0, steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-16):
    """Algorithm 2 of the paper as a plain numpy loop: the iterates x_0 .. x_steps."""
    b1, b2 = betas
    x = np.array(x0, dtype=np.float64)
    m = np.zeros_like(x)
    s = np.zeros_like(x)
    xs = [x.copy()]
    for t in range(1, steps + 1):
        g = grad(x)
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps
        m_hat = m / (1 - b1 ** t)
        s_hat = s / (1 - b2 ** t)
        x = x - lr * m_hat / (np.sqrt(s_hat) + eps)
        xs.append(x.copy())
    return np.array(xs)


def check_against_numpy(steps=200) -> float:
    """Largest relative difference between optbench's AdaBelief and the numpy loop on the
    2-D Rosenbrock function (float64)."""
    import optbench
    from optbench.problems import Rosenbrock

    problem = Rosenbrock(dim=2)
    x0 = np.array([-1.2, 1.0])
    res = optbench.run(problem, AdaBelief(lr=1e-2), steps=steps, x0=x0, record=("x",))
    ours = res.trace("x")[0]
    ref = numpy_adabelief(lambda x: problem.loss_grad(x)[1], x0, steps, lr=1e-2)
    return float(np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-300)))


def main(argv=None) -> int:
    from optbench.cli import main as cli

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/adabelief")
    args = parser.parse_args(argv)
    print(f"AdaBelief vs numpy Algorithm 2: max relative difference {check_against_numpy():.2e}")
    out = Path(args.out)
    suite = Path(__file__).with_name("adabelief.toml")
    code = cli(["run", str(suite), "--out", str(out / "run"), "--overwrite", "--quiet"])
    return code or cli(["report", str(out / "run"), "--out", str(out / "report")])


if __name__ == "__main__":
    raise SystemExit(main())
