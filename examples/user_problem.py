"""A user problem with its own data: least squares on a matrix the user brings.
============================================================================

    f(x) = 1/(2n) ||A x - b||^2,   grad f(x) = A^T (A x - b) / n,
    x* = argmin f (numpy's lstsq), f* = f(x*), L and mu the extreme eigenvalues of A^T A / n.

The class gives ``_build`` (the data array the kernel reads, optimum and constants) and
``value_and_grad(x, g, data)``, a numba-compilable function of one point. As a finite sum
f = 1/n sum_i l_i with l_i(x) = (a_i . x - b_i)^2 / 2, it also gives
``example_loss_grad(x, g, data, i)`` (adds grad l_i into g), so ``batch_size=b`` runs
minibatch SGD on it. Run it: ``python examples/user_problem.py`` prints each optimizer's
distance to x* after 300 steps, how f - f* compares with gradient descent's linear rate
(1 - mu/L)^k at lr = 1/L, and where minibatch SGD with a decaying step ends.
"""
import numpy as np

from optbench.problems import Problem
from optbench.problems.base import check_batch
from optbench.spec import integer


class LeastSquaresOn(Problem):
    """f(x) = 1/(2n) ||A x - b||^2 on a random (seeded) n x dim matrix A and vector b."""

    def __init__(self, n=50, dim=5, seed=0, batch_size=0, replacement=False):
        n = integer("LeastSquaresOn", "n", n, lo=1)
        dim = integer("LeastSquaresOn", "dim", dim, lo=1)
        seed = integer("LeastSquaresOn", "seed", seed, lo=0)
        batch_size, replacement = check_batch("LeastSquaresOn", batch_size, replacement, n)
        self._store(locals())

    def matrices(self):
        rng = np.random.default_rng(self.seed)
        return rng.standard_normal((self.n, self.dim)), rng.standard_normal(self.n)

    def _build(self):
        A, b = self.matrices()
        x_star = np.linalg.lstsq(A, b, rcond=None)[0]
        r = A @ x_star - b
        eigenvalues = np.linalg.eigvalsh(A.T @ A / self.n)
        return dict(data=np.concatenate([[self.n, self.dim], A.ravel(), b]),
                    minimizers=x_star[None], f_star=0.5 * (r @ r) / self.n,
                    L=float(eigenvalues[-1]), mu=float(eigenvalues[0]),
                    x0_low=x_star - 1.0, x0_high=x_star + 1.0, examples=self.n)

    @staticmethod
    def value_and_grad(x, g, data):
        n = int(data[0])
        d = int(data[1])
        for j in range(d):
            g[j] = 0.0
        f = 0.0
        for i in range(n):
            r = -data[2 + n * d + i]
            for j in range(d):
                r += data[2 + i * d + j] * x[j]
            f += 0.5 * r * r
            for j in range(d):
                g[j] += r * data[2 + i * d + j]
        for j in range(d):
            g[j] /= n
        return f / n

    @staticmethod
    def example_loss_grad(x, g, data, i):
        n = int(data[0])
        d = int(data[1])
        r = -data[2 + n * d + i]
        for j in range(d):
            r += data[2 + i * d + j] * x[j]
        for j in range(d):
            g[j] += r * data[2 + i * d + j]
        return 0.5 * r * r


def main() -> int:
    import optbench
    from optbench.optimizers import SGD, Adam

    problem = LeastSquaresOn()
    steps = 300
    res = optbench.run(problem, [SGD(lr=1.0 / problem.L), Adam(lr=0.05)], steps=steps,
                       seeds=4, record=("suboptimality", "dist_to_opt"))
    for label, rows in (("SGD(lr=1/L)", slice(0, 4)), ("Adam(lr=0.05)", slice(4, 8))):
        print(f"{label}: median distance to x* {np.median(res.trials['final_dist_to_opt'][rows]):.2e}")
    gap = res.trace("suboptimality")[:4]
    bound = gap[:, 0] * (1.0 - problem.mu / problem.L) ** steps
    print(f"gradient descent within its linear-rate bound: {bool(np.all(gap[:, -1] <= bound))}")
    from optbench.schedules import InverseTimeDecay

    sgd = optbench.run(LeastSquaresOn(batch_size=5), SGD(lr=0.5 / problem.L),
                       schedules=InverseTimeDecay(decay_steps=20, decay_rate=1.0), steps=steps,
                       seeds=4, record=("suboptimality",))
    print(f"minibatch SGD (b=5, lr_k = lr_0 / (1 + k/20)): median f - f* "
          f"{np.median(sgd.trace('suboptimality')[:, 0]):.2e} -> "
          f"{np.median(sgd.trials['final_suboptimality']):.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
