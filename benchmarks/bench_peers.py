"""optbench against what users would pick instead, side by side in one run (`make bench-peers`).

Workload A (grid): Adam(lr=1e-3, default betas, eps) with CosineAnnealingLR(T_max=T) on
Rosenbrock d=10, N seeded start points, T steps, float64; every implementation computes the
same trajectories from the same start points with the analytic gradient, and the table shows
how far their final losses are from optbench's (relative). A "limit kernel" does only Adam's
unavoidable arithmetic (two moment updates, one square root, one division per element-update)
over the same elements: the machine's limit for this work.
Workload B (latency): one trajectory, d=2, T=10,000, same optimizer and schedule; then the
stages of one ``optbench.run`` call timed one by one (plan, tables, packing, kernel, results).
Workload A for every optimizer family: optbench against torch.optim's foreach form.
Workload C (bandwidth): one Adam step on a single vector of 10^7 coordinates (float32 and
float64): optbench.VectorOptimizer against torch's fused and foreach Adam and against a bare
memory-traffic kernel that reads p, g, m, v and writes p, m, v (one addition per coordinate so
every input is read): the machine's limit for this work. An experiment row runs the same
chunked step with Adam's loop flags fixed at compile time (``_fixed_flags_kernel``).

Every workload calls its implementations in interleaved rounds and reports medians, so that
load from other processes falls on all of them alike: compare ratios within one run.

Peers: numpy (vectorised over trajectories), torch.optim.Adam (foreach and fused forms, one
(N, d) parameter tensor, lr_scheduler.CosineAnnealingLR), optax.adam + optax.cosine_decay_schedule
(jax.jit, vmap over trajectories, lax.scan over steps, x64; compile time excluded). A peer that
is not installed is reported as skipped (`pip install -e ".[peers]"` installs them).

    python benchmarks/bench_peers.py            # BENCH_N, BENCH_T, BENCH_REPEATS to scale
    BENCH_WORKLOADS=B,C python benchmarks/bench_peers.py    # some of A, B, families, C
"""
from __future__ import annotations

import math
import os
import time

import numpy as np

import optbench
from optbench.families import FAMILIES
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


def interleaved(fns: dict, repeats=REPEATS):
    """{label: (median wall seconds, last result)}: one warm-up call each, then ``repeats``
    rounds that call every implementation once in turn, so that load from other processes
    (this machine is shared) falls on all of them alike and the ratios stay comparable."""
    results = {label: fn() for label, fn in fns.items()}
    times: dict = {label: [] for label in fns}
    for _ in range(repeats):
        for label, fn in fns.items():
            t0 = time.perf_counter()
            results[label] = fn()
            times[label].append(time.perf_counter() - t0)
    return {label: (float(np.median(times[label])), results[label]) for label in fns}


def rosenbrock_np(x):
    head, tail = x[:, :-1], x[:, 1:]
    r = tail - head * head
    s = 1.0 - head
    g = np.zeros_like(x)
    g[:, :-1] = -400.0 * r * head - 2.0 * s
    g[:, 1:] += 200.0 * r
    return np.sum(100.0 * r * r + s * s, axis=1), g


# ---- implementations -------------------------------------------------------------------------


def run_optbench(n, d, steps, optimizer=None, kernel_seconds=None, dtype="float64"):
    """Final losses of one whole ``optbench.run`` call; its kernel time is appended to
    ``kernel_seconds`` when given."""
    res = optbench.run(Rosenbrock(dim=d), optimizer or Adam(lr=LR),
                       schedules=CosineAnnealingLR(T_max=steps), steps=steps, seeds=n,
                       record=("loss",), record_every=steps, progress=False, dtype=dtype)
    if kernel_seconds is not None:
        kernel_seconds.append(res.manifest["timings"]["kernel_seconds"])
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


def _limit_kernel():
    from numba import njit, prange

    @njit(parallel=True, error_model="numpy")
    def adam_limit(X, G, M, V, steps):
        """Adam's unavoidable arithmetic per element-update and nothing else: the two moment
        updates, one square root and one division, on blocks of (d, lanes) elements (the
        engine's layout), parallel over blocks, T steps each; no gradient (a fixed G is
        read), no schedule, no status checks, no records."""
        for blk in prange(X.shape[0]):
            x, g, m, v = X[blk], G[blk], M[blk], V[blk]
            for k in range(steps):
                c = 1.0 / math.sqrt(1.0 - 0.999 ** (k + 1.0))
                for i in range(x.shape[0]):
                    for b in range(x.shape[1]):
                        mi = m[i, b] + 0.1 * (g[i, b] - m[i, b])
                        vi = 0.999 * v[i, b] + 0.001 * g[i, b] * g[i, b]
                        m[i, b] = mi
                        v[i, b] = vi
                        x[i, b] = x[i, b] - 1e-3 * (mi / (math.sqrt(vi) * c + 1e-8))

    return adam_limit


def make_limit(n, d, steps):
    """The limit kernel over N*d elements, in blocks of lanes and with rows aligned and
    placed in their pages as the engine packs A (``engine.cpu_lanes``,
    ``engine.lane_zeros``; both moments in one array, as the rules' state slots)."""
    import numba

    from optbench.engine import cpu_lanes, lane_zeros

    kernel = _limit_kernel()
    lanes = cpu_lanes(n, numba.get_num_threads())
    nb = -(-n // lanes)
    rng = np.random.default_rng(0)
    X, G = (lane_zeros(name, (nb, d, lanes)) for name in ("X", "G"))
    S = lane_zeros("S", (2, nb, d, lanes))
    M, V = S[0], S[1]
    X[...] = rng.uniform(-2.0, 2.0, X.shape)
    G[...] = rng.standard_normal(G.shape)
    kernel(X, G, M, V, 1)  # compile outside the timings
    return lambda: kernel(X, G, M, V, steps)


def workload(name, n, d, steps, limit=False):
    """One workload, every implementation interleaved (medians of BENCH_REPEATS rounds)."""
    plan_x0 = Rosenbrock(dim=d).start_points(list(range(n)))
    lr_table, _ = CosineAnnealingLR(T_max=steps).tables(Adam(lr=LR), steps)
    kernel_seconds: list = []
    kernel_seconds_f32: list = []
    fns = {"optbench (whole run call)": lambda: run_optbench(n, d, steps,
                                                             kernel_seconds=kernel_seconds),
           "optbench float32 (whole run call)": lambda: run_optbench(
               n, d, steps, kernel_seconds=kernel_seconds_f32, dtype="float32")}
    skipped = []
    peers = {"numpy": lambda: (lambda: run_numpy(plan_x0, lr_table))}
    peers["torch.optim.Adam (foreach)"] = lambda: make_torch(plan_x0, steps, "foreach")
    peers["torch.optim.Adam (fused)"] = lambda: make_torch(plan_x0, steps, "fused")
    peers["optax.adam (jit+vmap+scan)"] = lambda: make_optax(plan_x0, steps)
    if limit:
        peers["limit kernel (Adam arithmetic only)"] = lambda: make_limit(n, d, steps)
    for label, factory in peers.items():
        try:
            fns[label] = factory()
        except ImportError as exc:
            skipped.append((label, f"skipped ({exc.name} not installed)"))
    times = interleaved(fns)
    t_ob, ref = times["optbench (whole run call)"]
    t_kernel = float(np.median(kernel_seconds))
    print(f"\n{name}: Adam+cosine, Rosenbrock d={d}, N={n}, T={steps}, float64, medians of "
          f"{REPEATS} interleaved rounds")
    print(f"{'implementation':<36} {'seconds':>9} {'/ optbench call':>16} {'/ optbench kernel':>18}"
          f" {'max rel. diff':>14}")
    rows = [("optbench kernel (timings)", t_kernel, None)]
    for label, (t, final) in times.items():
        rel = max_rel_diff(ref, final) if "limit" not in label else None
        rows.append((label, t, rel))
    for label, t, rel in rows:
        diff = "" if rel is None else f"{rel:14.1e}"
        print(f"{label:<36} {t:9.4f} {t / t_ob:15.2f}x {t / t_kernel:17.2f}x {diff}")
    for label, why in skipped:
        print(f"{label:<36} {why}")
    t_kernel_f32 = float(np.median(kernel_seconds_f32))
    print(f"float32 kernel {t_kernel_f32:.4f} s: throughput {t_kernel / t_kernel_f32:.2f}x the "
          "float64 kernel's (its rel. diff above is float32 round-off against float64)")
    return rows


def latency_breakdown(d, steps, repeats=21):
    """Where workload B's ``optbench.run`` call goes: its stages timed one by one the way
    ``run`` performs them (medians of ``repeats``), next to the whole call."""
    from optbench import api, engine
    from optbench.plan import Plan
    from optbench.results import Results
    from optbench.store import concat_shards, provenance

    kwargs = {"problems": Rosenbrock(dim=d), "optimizers": Adam(lr=LR),
              "schedules": CosineAnnealingLR(T_max=steps), "steps": steps, "seeds": 1,
              "record": ("loss",), "record_every": steps}
    stages: dict = {k: [] for k in ("whole run call", "plan (expand + validate)",
                                    "warm-up check", "schedule tables (cosine, torch's form)",
                                    "packing (allocation, start points, besides tables)",
                                    "kernel", "outputs + results table")}

    def timed(label, fn, *args, **kw):
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        stages[label].append(time.perf_counter() - t0)
        return out

    def results(plan, packed):
        return Results(plan, concat_shards([packed.outputs(plan.record)]),
                       {"config": plan.config(), "provenance": provenance()})

    for _ in range(repeats + 1):
        timed("whole run call", optbench.run, **kwargs, progress=False)
        plan = timed("plan (expand + validate)", Plan, **kwargs, shard_size=4096)
        timed("warm-up check", api._warm_up_once, engine.warm_up, plan)
        timed("schedule tables (cosine, torch's form)", plan.schedules[0].tables,
              plan.optimizers[0], steps)
        packed = timed("packing (allocation, start points, besides tables)", engine.Packed,
                       plan, 0, 1)
        with api._threads_for_blocks(plan):
            timed("kernel", engine.run_blocks, packed)
        timed("outputs + results table", results, plan, packed)
    med = {k: float(np.median(v[1:])) for k, v in stages.items()}
    med["packing (allocation, start points, besides tables)"] -= med[
        "schedule tables (cosine, torch's form)"]
    rest = med["whole run call"] - sum(v for k, v in med.items() if k != "whole run call")
    print(f"\nB: where one run call goes (d={d}, T={steps}; medians of {repeats})")
    for label, t in [*med.items(), ("rest (resource check, manifest, provenance, glue)", rest)]:
        print(f"{label:<52} {t * 1e3:8.3f} ms {t / med['whole run call']:6.0%}")
    return med


# ---- workload A for every optimizer family ----------------------------------------------------

#: workload A's lr for every family is a tenth of the family table's (Rosenbrock's curvature)
FAMILY_LR_SCALE = 0.1


def every_family(n, d, steps):
    """Workload A with each optimizer family whose peer is in torch.optim (the family table's
    variants that torch implements): optbench against torch.optim (foreach)."""
    x0 = Rosenbrock(dim=d).start_points(list(range(n)))
    print(f"\nA, every optimizer family: cosine schedule, Rosenbrock d={d}, N={n}, T={steps}, "
          "float64")
    print(f"{'optimizer':<34} {'optbench s':>10} {'torch foreach s':>16} {'speed-up':>9} "
          f"{'max rel. diff':>14}")
    for family in FAMILIES:
        if not family.peer.startswith("torch.optim."):
            continue
        for label, variant in family.peer_variants():
            kwargs = dict(lr=family.lr * FAMILY_LR_SCALE, **variant)
            spec = family.spec(**kwargs)
            t_ob, ref = best_of(lambda spec=spec: run_optbench(n, d, steps, spec))
            try:
                fn = make_torch(x0, steps, "foreach", family.peer.removeprefix("torch.optim."),
                                kwargs)
            except ImportError:
                print(f"{label:<34} {t_ob:10.3f} {'skipped (torch not installed)':>16}")
                continue
            t, final = best_of(fn, repeats=1)
            rel = max_rel_diff(ref, final)
            print(f"{label:<34} {t_ob:10.3f} {t:16.3f} {t / t_ob:8.1f}x {rel:14.1e}")


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


def _fixed_flags_kernel():
    """An experiment, not a peer: VectorOptimizer's chunked step with the Adam rule's
    per-coordinate loop written with its flags (maximize, AMSGrad, weight decay, eps placement)
    fixed at compile time (off), from the rule's own helpers and in its order of operations,
    so its results are bitwise equal to the built-in rule's. The built-in rule reads those
    flags from ``hp`` at run time, and its compiled loop tests them for every 8 coordinates
    (LLVM does not unswitch them): the gap between the two rows is what that costs."""
    from numba import njit, prange

    from optbench.kernels.optimizers import _moments, as_elem, lerp_weights

    @njit(parallel=True, error_model="numpy")
    def step(hp, lr, t, X, G, S):
        n_chunks, _, chunk_rows, lanes = S.shape
        beta1, beta2, eps = hp[1], hp[2], hp[3]
        bias_correction1 = 1.0 - beta1**t
        bias_correction2 = 1.0 - beta2**t
        inv_sqrt = as_elem(X, 1.0 / math.sqrt(bias_correction2))
        w1, w1_rest = lerp_weights(X, 1.0 - beta1)
        b2, b2_rest, eps_e = as_elem(X, beta2), as_elem(X, 1.0 - beta2), as_elem(X, eps)
        for c in prange(n_chunks):
            step_size = np.empty(lanes, X.dtype)
            for b in range(lanes):
                step_size[b] = lr / bias_correction1
            r0 = c * chunk_rows
            for i in range(chunk_rows):
                x, g, m, v = X[r0 + i], G[r0 + i], S[c, 0, i], S[c, 1, i]
                for b in range(lanes):
                    mi, vi = _moments(m[b], v[b], g[b], w1, w1_rest, b2, b2_rest)
                    m[b] = mi
                    v[b] = vi
                    x[b] = x[b] - step_size[b] * (mi / (math.sqrt(vi) * inv_sqrt + eps_e))

    return step


def bandwidth(n):
    """One Adam step on a vector of n coordinates, float32 and float64: medians of
    BENCH_C_REPEATS (default 21) interleaved rounds of one step each."""
    from optbench import VectorOptimizer

    repeats = int(os.environ.get("BENCH_C_REPEATS", "21"))
    traffic = _traffic_kernel()
    fixed = _fixed_flags_kernel()
    rng = np.random.default_rng(0)
    x0, g0 = rng.standard_normal(n), rng.standard_normal(n)

    print(f"\nC (bandwidth): one Adam step on one vector of {n:.0e} coordinates, medians of "
          f"{repeats} interleaved rounds")
    print(f"{'implementation':<48} {'dtype':>8} {'ms':>8} {'GB/s':>7} {'vs traffic':>11} "
          f"{'vs optbench':>12} {'max diff / max |x|':>19}")
    for dtype in (np.float32, np.float64):
        moved = 7 * n * np.dtype(dtype).itemsize  # read p, g, m, v; write p, m, v
        p, g, m, v = (a.astype(dtype) for a in (x0, g0, np.zeros(n), np.zeros(n)))
        fns = {"memory-traffic kernel": lambda: traffic(p, g, m, v)}
        opt = VectorOptimizer(Adam(lr=LR), x0, dtype=dtype)
        opt.grad[:] = g0
        fns["optbench VectorOptimizer"] = opt.step
        exp = VectorOptimizer(Adam(lr=LR), x0, dtype=dtype)
        exp.grad[:] = g0

        def fixed_step(exp=exp):
            exp.t += 1
            fixed(exp._hp, LR, float(exp.t), exp._X, exp._G, exp._S)

        fns["Adam rule, flags fixed at compile time (exp.)"] = fixed_step
        skipped, torch_params = [], {}
        for form in ("fused", "foreach"):
            try:
                fns[f"torch.optim.Adam ({form})"], torch_params[form] = make_torch_vector(
                    x0, g0, dtype, form)
            except ImportError:
                skipped.append(f"torch.optim.Adam ({form})")
        times = interleaved(fns, repeats)
        ours = opt.params.astype(np.float64)  # after 1 + repeats steps, as every row
        rel = {"Adam rule, flags fixed at compile time (exp.)":
               float(np.max(np.abs(exp.params - ours)) / np.max(np.abs(ours)))}
        for form, params in torch_params.items():
            rel[f"torch.optim.Adam ({form})"] = float(np.max(np.abs(params() - ours))
                                                      / np.max(np.abs(ours)))
        t_traffic = times["memory-traffic kernel"][0]
        t_ours = times["optbench VectorOptimizer"][0]
        for label, (t, _) in times.items():
            diff = f"{rel[label]:19.1e}" if label in rel else ""
            print(f"{label:<48} {np.dtype(dtype).name:>8} {t * 1e3:8.2f} {moved / t / 1e9:7.1f} "
                  f"{t / t_traffic:10.2f}x {t / t_ours:11.2f}x {diff}")
        for label in skipped:
            print(f"{label:<48} {np.dtype(dtype).name:>8} skipped (torch not installed)")


def make_torch_vector(x0, g0, dtype, form):
    import torch

    p = torch.tensor(x0.astype(dtype))
    p.grad = torch.tensor(g0.astype(dtype))
    kwargs = {"foreach": True} if form == "foreach" else {"fused": True}
    opt = torch.optim.Adam([p], lr=LR, betas=(B1, B2), eps=EPS, **kwargs)
    return opt.step, lambda: p.detach().numpy().astype(np.float64)


def main():
    # numba's and torch's OpenMP pools share this process (both load lazily, after this line):
    # by default an idle pool's threads spin for a while after each parallel call, and on 2
    # cores they take the CPU from whichever implementation runs next (measured: torch foreach
    # on A 67 s interleaved with optbench; C's rows 1.2-2x slower). Passive waiting removes it.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import numba

    from optbench.store import provenance

    print(f"machine: {provenance()['cpu']}, {os.cpu_count()} CPUs, {numba.get_num_threads()} "
          f"threads, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}; load average at start "
          f"{os.getloadavg()[0]:.2f} (other processes share these CPUs: compare ratios within "
          "this run only)")
    n = int(os.environ.get("BENCH_N", 10_000))
    steps = int(os.environ.get("BENCH_T", 1_000))
    chosen = os.environ.get("BENCH_WORKLOADS", "A,B,families,C").split(",")
    if "A" in chosen:
        workload("A (grid)", n, 10, steps, limit=True)
    steps_b = int(os.environ.get("BENCH_T_LATENCY", "10000"))
    if "B" in chosen:
        workload("B (latency)", 1, 2, steps_b)
        latency_breakdown(2, steps_b)
    if "families" in chosen and os.environ.get("BENCH_FAMILIES", "1") != "0":
        every_family(n, 10, steps)
    if "C" in chosen:
        bandwidth(int(float(os.environ.get("BENCH_C_SIZE", "1e7"))))


if __name__ == "__main__":
    main()
