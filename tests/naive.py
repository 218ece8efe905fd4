"""Slow, obvious reference for the engine loop: a Python for-loop over steps that calls the
same update rule and gradient the kernel uses. It checks the engine's wiring (start point,
lr/momentum per step, step count t, records, statuses), not the rules themselves (those are
checked against torch in test_optimizers_reference.py).
"""
import numpy as np

from optbench.codegen import kernel_for
from optbench.kernels import problems as kp
from optbench.kernels import rng


def _norm(g):
    """sqrt(g_0^2 + g_1^2 + ...), summed left to right as the engine does."""
    acc = 0.0
    for v in g:
        acc += v * v
    return np.sqrt(acc)


def run_naive(problem, optimizer, x0, steps, lr=None, momentum=None, seed=0):
    """Iterates x_0..x_T, exact losses f(x_k) and grad norms ||grad f(x_k)|| at every step;
    lr/momentum: optional per-step arrays. A problem with a batch size steps along the
    minibatch gradient of trajectory ``seed``'s stream (no gradient noise model)."""
    hp = optimizer.hyperparams()
    d = problem.dim
    key = np.uint64(rng.stream_key(seed, problem.stream_id ^ 0x0153))
    work = np.zeros(max(problem.work_size, 1))
    x = np.array(x0, dtype=np.float64).reshape(d, 1)  # a one-lane block
    kernel = kernel_for([optimizer], "vector")
    s = np.zeros((kernel.state_slots, d, 1))
    sc = np.zeros(kernel.scalar_slots)
    c = np.zeros((kernel.coef_slots, 1))
    kernel.optimizer_init(0, hp, s, sc)
    xs, losses, gnorms = [x[:, 0].copy()], [], []
    for k in range(steps + 1):
        f, g = problem.loss_grad(x[:, 0])
        losses.append(f)
        gnorms.append(_norm(g))
        if k == steps:
            break
        if problem.batch_size > 0:
            kp.problem_sample_grad(problem.code, problem.data, x[:, 0].copy(), g, work, key, k,
                                   problem.batch_size, problem.with_replacement)
        step_lr = hp[0] if lr is None else lr[k]
        step_mom = hp[1] if momentum is None or np.isnan(momentum[k]) else momentum[k]
        kernel.optimizer_step(0, hp, np.array([step_lr]), step_mom, k + 1.0, x,
                              g.reshape(d, 1), s, sc, c)
        xs.append(x[:, 0].copy())
    return np.array(xs), np.array(losses), np.array(gnorms)
