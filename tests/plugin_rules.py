"""User optimizers for tests/test_plugins.py, written as a user would (outside the package)."""
import math

from optbench import Optimizer, hyper


class PlainAdam(Optimizer):
    """torch.optim.Adam's default rule in the per-coordinate form, with the built-in's order
    of floating-point operations (so it must equal the built-in bit for bit)."""

    hyperparameters = {"lr": 1e-3, "betas": hyper((0.9, 0.999), lo=0.0, hi=1.0),
                       "eps": hyper(1e-8, lo=0.0)}
    state = {"exp_avg": 0.0, "exp_avg_sq": 0.0}
    momentum_keyword = "betas"
    adaptive = True
    coefficient_names = ("step_size", "inv_root_bc2", "w1", "beta2_rest")

    @staticmethod
    def coefficients(t, lr, beta1, beta2):
        return lr / (1.0 - beta1 ** t), 1.0 / math.sqrt(1.0 - beta2 ** t), 1.0 - beta1, 1.0 - beta2

    @staticmethod
    def update(x, g, exp_avg, exp_avg_sq, beta2, eps, step_size, inv_root_bc2, w1, beta2_rest):
        m = exp_avg + w1 * (g - exp_avg)  # torch.lerp(m, g, 1 - beta1), weight < 0.5
        v = exp_avg_sq * beta2 + beta2_rest * g * g
        return x - step_size * (m / (math.sqrt(v) * inv_root_bc2 + eps)), m, v


class HeavyBall(Optimizer):
    """SGD with heavy-ball momentum and a flag: no coefficients, a boolean hyper-parameter,
    state starting at a hyper-parameter's value."""

    hyperparameters = {"lr": 1e-2, "momentum": hyper(0.9, lo=0.0), "start": 0.0,
                       "flip": False}
    state = {"buf": "start"}
    momentum_keyword = "momentum"

    @staticmethod
    def update(x, g, buf, lr, momentum, flip):
        step = -g if flip else g
        buf = momentum * buf + step
        return x - lr * buf, buf


class Counted(Optimizer):
    """Gradient descent with lr / t from a step state counting steps (t itself is not read)."""

    hyperparameters = {"lr": 0.1}
    step_state = {"steps": 0.0}
    coefficient_names = ("rate",)

    @staticmethod
    def coefficients(lr, steps):
        return lr / (steps + 1.0), steps + 1.0

    @staticmethod
    def update(x, g, rate):
        return x - rate * g
