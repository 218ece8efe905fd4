"""optbench against what users would pick instead, side by side in one run (`make bench-peers`).

Workload A (grid): Adam(lr=1e-3, default betas, eps) with CosineAnnealingLR(T_max=T) on
Rosenbrock d=10, N seeded start points, T steps, float64; every implementation computes the
same trajectories from the same start points with the analytic gradient, and the table shows
how far their final losses are from optbench's (relative).
Workload B (latency): one trajectory, d=2, T=10,000, same optimizer and schedule.
Workload A for every optimizer family: optbench against torch.optim's foreach form.
Workload C (bandwidth): one Adam step on a single vector of 10^7 coordinates (float32 and
float64): optbench.VectorOptimizer against torch's fused and foreach Adam and against a bare
memory-traffic kernel that reads p, g, m, v and writes p, m, v (one addition per coordinate so
every input is read): the machine's limit for this work.

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


def run_optbench(n, d, steps, optimizer=None):
    res = optbench.run(Rosenbrock(dim=d), optimizer or Adam(lr=LR),
                       schedules=CosineAnnealingLR(T_max=steps), steps=steps, seeds=n,
                       record=("loss",), record_every=steps, progress=False)
    return compared_losses(res)


def compared_losses(res):
    """Final losses, NaN where optbench stopped a trajectory as diverged (frozen at the
    blow-up bound, where the peers go on): those are left out of the agreement column."""
    loss = np.array(res.trials["final_loss"], dtype=np.float64)
    loss[res.trials["status"] == "diverged"] = np.nan
    return loss


def max_rel_diff(ours, theirs):
    return float(np.nanmax(np.abs(theirs - ours) / np.maximum(np.abs(ours), 1e-300)))


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


def make_torch(x0, steps, form, name="Adam", kwargs=None):
    """torch.optim.<name> over one (N, d) tensor with CosineAnnealingLR."""
    import torch

    torch.set_default_dtype(torch.float64)
    kwargs = dict(lr=LR, betas=(B1, B2), eps=EPS) if kwargs is None else kwargs

    def run():
        p = torch.tensor(x0, requires_grad=True)
        form_kw = {"foreach": True} if form == "foreach" else {"fused": True}
        opt = getattr(torch.optim, name)([p], **kwargs, **form_kw)
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
        rel = max_rel_diff(ref, final)
        rows.append((label, t, rel))
    print(f"\n{name}: Adam+cosine, Rosenbrock d={d}, N={n}, T={steps}, float64")
    print(f"{'implementation':<30} {'seconds':>9} {'optbench speed-up':>18} {'max rel. diff':>14}")
    for label, t, rel in rows:
        if t is None:
            print(f"{label:<30} {rel}")
            continue
        print(f"{label:<30} {t:9.4f} {t / t_ob:17.2f}x {rel:14.1e}")
    return rows


# ---- workload A for every optimizer family ----------------------------------------------------

FAMILIES = [  # (label, optbench/torch class name, keywords both accept)
    ("SGD", "SGD", dict(lr=1e-4)),
    ("SGD momentum", "SGD", dict(lr=1e-4, momentum=0.9)),
    ("SGD Nesterov", "SGD", dict(lr=1e-4, momentum=0.9, nesterov=True)),
    ("Adam", "Adam", dict(lr=1e-3)),
    ("AdamW", "AdamW", dict(lr=1e-3)),
    ("AMSGrad", "Adam", dict(lr=1e-3, amsgrad=True)),
    ("NAdam", "NAdam", dict(lr=1e-3)),
    ("RAdam", "RAdam", dict(lr=1e-3)),
    ("Adamax", "Adamax", dict(lr=1e-3)),
    ("RMSprop", "RMSprop", dict(lr=1e-4)),
    ("RMSprop centered+momentum", "RMSprop", dict(lr=1e-4, momentum=0.9, centered=True)),
    ("Adagrad", "Adagrad", dict(lr=1e-2)),
    ("Adadelta", "Adadelta", dict(lr=1.0)),
]


def every_family(n, d, steps):
    """Workload A with each optimizer family: optbench against torch.optim (foreach)."""
    from optbench import optimizers as ob_opt

    x0 = Rosenbrock(dim=d).start_points(list(range(n)))
    print(f"\nA, every optimizer family: cosine schedule, Rosenbrock d={d}, N={n}, T={steps}, "
          "float64")
    print(f"{'optimizer':<28} {'optbench s':>10} {'torch foreach s':>16} {'speed-up':>9} "
          f"{'max rel. diff':>14}")
    for label, name, kwargs in FAMILIES:
        spec = getattr(ob_opt, name)(**kwargs)

        t_ob, ref = best_of(lambda: run_optbench(n, d, steps, spec))
        try:
            fn = make_torch(x0, steps, "foreach", name, kwargs)
        except ImportError:
            print(f"{label:<28} {t_ob:10.3f} {'skipped (torch not installed)':>16}")
            continue
        t, final = best_of(fn, repeats=1)
        rel = max_rel_diff(ref, final)
        print(f"{label:<28} {t_ob:10.3f} {t:16.3f} {t / t_ob:8.1f}x {rel:14.1e}")


# ---- workload C: one step on one long vector ---------------------------------------------------


def _traffic_kernel():
    from numba import njit, prange

    @njit(parallel=True)
    def traffic(p, g, m, v):
        """Reads p, g, m, v and writes p, m, v: Adam's memory traffic, no Adam arithmetic."""
        for i in prange(p.size):
            a = p[i]
            p[i] = m[i]
            m[i] = v[i]
            v[i] = a + g[i]

    return traffic


def bandwidth(n):
    """One Adam step on a vector of n coordinates, float32 and float64: medians of 10 steps."""
    from optbench import VectorOptimizer

    traffic = _traffic_kernel()
    rng = np.random.default_rng(0)
    x0, g0 = rng.standard_normal(n), rng.standard_normal(n)

    def median_step(step, count=10):
        step()
        times = []
        for _ in range(count):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        return float(np.median(times))

    print(f"\nC (bandwidth): one Adam step on one vector of {n:.0e} coordinates, "
          "median of 10 steps")
    print(f"{'implementation':<30} {'dtype':>8} {'ms':>8} {'GB/s':>7} {'vs traffic':>11} "
          f"{'max diff / max |x|':>19}")
    for dtype in (np.float32, np.float64):
        moved = 7 * n * np.dtype(dtype).itemsize  # read p, g, m, v; write p, m, v
        p, g, m, v = (a.astype(dtype) for a in (x0, g0, np.zeros(n), np.zeros(n)))
        t_traffic = median_step(lambda: traffic(p, g, m, v))
        rows = [("memory-traffic kernel", t_traffic, None)]
        opt = VectorOptimizer(Adam(lr=LR), x0, dtype=dtype)
        opt.grad[:] = g0
        rows.append(("optbench VectorOptimizer", median_step(opt.step), None))
        for form in ("fused", "foreach"):
            try:
                torch_step, torch_params = make_torch_vector(x0, g0, dtype, form)
            except ImportError:
                rows.append((f"torch.optim.Adam ({form})", None, None))
                continue
            t = median_step(torch_step)
            # the same number of steps from the same start: compare the parameters
            check = VectorOptimizer(Adam(lr=LR), x0, dtype=dtype)
            check.grad[:] = g0
            for _ in range(11):
                check.step()
            ours = check.params.astype(np.float64)
            rel = float(np.max(np.abs(torch_params() - ours)) / np.max(np.abs(ours)))
            rows.append((f"torch.optim.Adam ({form})", t, rel))
        for label, t, rel in rows:
            if t is None:
                print(f"{label:<30} {np.dtype(dtype).name:>8} skipped (torch not installed)")
                continue
            diff = "" if rel is None else f"{rel:14.1e}"
            print(f"{label:<30} {np.dtype(dtype).name:>8} {t * 1e3:8.2f} {moved / t / 1e9:7.1f} "
                  f"{t / t_traffic:10.2f}x {diff}")


def make_torch_vector(x0, g0, dtype, form):
    import torch

    p = torch.tensor(x0.astype(dtype))
    p.grad = torch.tensor(g0.astype(dtype))
    kwargs = {"foreach": True} if form == "foreach" else {"fused": True}
    opt = torch.optim.Adam([p], lr=LR, betas=(B1, B2), eps=EPS, **kwargs)
    return opt.step, lambda: p.detach().numpy().astype(np.float64)


def main():
    import numba

    print(f"machine: {optbench.store.provenance()['cpu']}, {numba.get_num_threads()} threads")
    n = int(os.environ.get("BENCH_N", 10_000))
    steps = int(os.environ.get("BENCH_T", 1_000))
    workload("A (grid)", n, 10, steps)
    workload("B (latency)", 1, 2, int(os.environ.get("BENCH_T_LATENCY", 10_000)))
    every_family(n, 10, steps)
    bandwidth(int(float(os.environ.get("BENCH_C_SIZE", 1e7))))


if __name__ == "__main__":
    main()
