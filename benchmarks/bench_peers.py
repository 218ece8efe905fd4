"""optbench against what users would pick instead, side by side in one run (`make bench-peers`).

Workload A (grid): Adam(lr=1e-3, default betas, eps) with CosineAnnealingLR(T_max=T) on
Rosenbrock d=10, N seeded start points, T steps, float64; every implementation computes the
same trajectories from the same start points with the analytic gradient, and the table shows
how far their final losses are from optbench's (relative).
Workload B (latency): one trajectory, d=2, T=10,000, same optimizer and schedule.

Peers: numpy (vectorised over trajectories), torch.optim.Adam (foreach and fused forms, one
(N, d) parameter tensor, lr_scheduler.CosineAnnealingLR), optax.adam + optax.cosine_decay_schedule
(jax.jit, vmap over trajectories, lax.scan over steps, x64; compile time excluded). A peer that
is not installed is reported as skipped (`pip install -e ".[peers]"` installs them).

    python benchmarks/bench_peers.py            # BENCH_N, BENCH_T, BENCH_REPEATS to scale
"""
from __future__ import annotations

import math
import os
import time

import numpy as np

import optbench
from optbench.optimizers import Adam
from optbench.problems import Rosenbrock
from optbench.schedules import CosineAnnealingLR

B1, B2, EPS, LR = 0.9, 0.999, 1e-8, 1e-3
REPEATS = int(os.environ.get("BENCH_REPEATS", 3))


def best_of(fn, repeats=REPEATS):
    """(best wall seconds, last result) over ``repeats`` calls, after one warm-up call."""
    result = fn()
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def rosenbrock_np(x):
    head, tail = x[:, :-1], x[:, 1:]
    r = tail - head * head
    s = 1.0 - head
    g = np.zeros_like(x)
    g[:, :-1] = -400.0 * r * head - 2.0 * s
    g[:, 1:] += 200.0 * r
    return np.sum(100.0 * r * r + s * s, axis=1), g


# ---- implementations -------------------------------------------------------------------------


def run_optbench(n, d, steps):
    res = optbench.run(Rosenbrock(dim=d), Adam(lr=LR), schedules=CosineAnnealingLR(T_max=steps),
                       steps=steps, seeds=n, record=("loss",), record_every=steps,
                       progress=False)
    return res.trials["final_loss"]


def run_numpy(x0, lr_table):
    x = x0.copy()
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    for k in range(len(lr_table) - 1):
        _, g = rosenbrock_np(x)
        t = k + 1.0
        m += (1.0 - B1) * (g - m)
        v *= B2
        v += (1.0 - B2) * g * g
        x -= lr_table[k] / (1.0 - B1**t) * (m / (np.sqrt(v) * (1.0 / math.sqrt(1.0 - B2**t)) + EPS))
    return rosenbrock_np(x)[0]


def make_torch(x0, steps, form):
    import torch

    torch.set_default_dtype(torch.float64)

    def run():
        p = torch.tensor(x0, requires_grad=True)
        kwargs = {"foreach": True} if form == "foreach" else {"fused": True}
        opt = torch.optim.Adam([p], lr=LR, betas=(B1, B2), eps=EPS, **kwargs)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
        with torch.no_grad():
            for _ in range(steps):
                head, tail = p[:, :-1], p[:, 1:]
                r = tail - head * head
                s = 1.0 - head
                g = torch.zeros_like(p)
                g[:, :-1] = -400.0 * r * head - 2.0 * s
                g[:, 1:] += 200.0 * r
                p.grad = g
                opt.step()
                sched.step()
            return rosenbrock_np(p.detach().numpy())[0]

    return run


def make_optax(x0, steps):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    schedule = optax.cosine_decay_schedule(LR, steps)  # equals torch's closed form in float64
    tx = optax.adam(schedule, b1=B1, b2=B2, eps=EPS)

    def grad(x):
        head, tail = x[:-1], x[1:]
        r = tail - head * head
        s = 1.0 - head
        g = jnp.zeros_like(x)
        g = g.at[:-1].set(-400.0 * r * head - 2.0 * s)
        return g.at[1:].add(200.0 * r)

    def trajectory(x):
        def body(carry, _):
            x, state = carry
            updates, state = tx.update(grad(x), state, x)
            return (optax.apply_updates(x, updates), state), None

        (x, _), _ = jax.lax.scan(body, (x, tx.init(x)), None, length=steps)
        return x

    batched = jax.jit(jax.vmap(trajectory))
    xs = jnp.asarray(x0)
    batched(xs).block_until_ready()  # compile outside the timings

    def run():
        return rosenbrock_np(np.asarray(batched(xs).block_until_ready()))[0]

    return run


# ---- the table -------------------------------------------------------------------------------


def workload(name, n, d, steps):
    rows = []
    t_ob, ref = best_of(lambda: run_optbench(n, d, steps))
    rows.append(("optbench", t_ob, 0.0))
    plan_x0 = Rosenbrock(dim=d).start_points(list(range(n)))
    lr_table, _ = CosineAnnealingLR(T_max=steps).tables(Adam(lr=LR), steps)
    peers = {"numpy": lambda: (lambda: run_numpy(plan_x0, lr_table))}
    peers["torch.optim.Adam (foreach)"] = lambda: make_torch(plan_x0, steps, "foreach")
    peers["torch.optim.Adam (fused)"] = lambda: make_torch(plan_x0, steps, "fused")
    peers["optax.adam (jit+vmap+scan)"] = lambda: make_optax(plan_x0, steps)
    for label, factory in peers.items():
        try:
            fn = factory()
        except ImportError as exc:
            rows.append((label, None, f"skipped ({exc.name} not installed)"))
            continue
        t, final = best_of(fn, repeats=max(1, REPEATS // 2 if label != "numpy" else REPEATS))
        rel = float(np.max(np.abs(final - ref) / np.maximum(np.abs(ref), 1e-300)))
        rows.append((label, t, rel))
    print(f"\n{name}: Adam+cosine, Rosenbrock d={d}, N={n}, T={steps}, float64")
    print(f"{'implementation':<30} {'seconds':>9} {'optbench speed-up':>18} {'max rel. diff':>14}")
    for label, t, rel in rows:
        if t is None:
            print(f"{label:<30} {rel}")
            continue
        print(f"{label:<30} {t:9.3f} {t / t_ob:17.1f}x {rel:14.1e}")
    return rows


def main():
    import numba

    print(f"machine: {optbench.store.provenance()['cpu']}, {numba.get_num_threads()} threads")
    workload("A (grid)", int(os.environ.get("BENCH_N", 10_000)), 10,
             int(os.environ.get("BENCH_T", 1_000)))
    workload("B (latency)", 1, 2, int(os.environ.get("BENCH_T_LATENCY", 10_000)))


if __name__ == "__main__":
    main()
