"""Where workload A's time goes: the engine's phases timed one by one on the same blocks.

Workload A (Adam + cosine, Rosenbrock d=10, N=10,000, T=1,000, float64) runs as 79 blocks of
(10, 128) on 2 threads. Each phase below runs alone over every block for T steps, in parallel over blocks,
exactly as inside the engine's kernel; the last rows give the whole kernel and a floor: the
one division and one square root per coordinate that Adam cannot avoid in IEEE arithmetic
(x <- x - s * m / (sqrt(v) * c + eps)), with no other work.

    python benchmarks/profile_engine.py        # BENCH_N, BENCH_T to scale; NUMBA_NUM_THREADS
"""
from __future__ import annotations

import math
import os
import time

import numpy as np
from numba import njit, prange

from optbench.engine import Packed, aligned_zeros
from optbench.engine import run_blocks
from optbench.kernels.optimizers import adam_step
from optbench.kernels.problems import rosenbrock_rows
from optbench.optimizers import Adam
from optbench.plan import Plan
from optbench.problems import Rosenbrock
from optbench.schedules import CosineAnnealingLR

N = int(os.environ.get("BENCH_N", 10_000))
T = int(os.environ.get("BENCH_T", 1_000))
D = 10


@njit(parallel=True, error_model="numpy")
def problem_only(p, X, G, F, steps):
    """Rosenbrock's rows form on every block, as the generated kernel runs it."""
    for blk in prange(X.shape[0]):
        for _ in range(steps):
            f = F[blk]
            for b in range(f.shape[0]):
                f[b] = 0.0
            rosenbrock_rows(X[blk], G[blk], G[blk], f, p, 0, 0, X.shape[1], 1)


@njit(parallel=True, error_model="numpy")
def grad_norm_only(G, F, steps):
    for blk in prange(G.shape[0]):
        g, f = G[blk], F[blk]
        for _ in range(steps):
            for b in range(g.shape[1]):
                f[b] = 0.0
            for i in range(g.shape[0]):
                for b in range(g.shape[1]):
                    f[b] += g[i, b] * g[i, b]
            for b in range(g.shape[1]):
                f[b] = math.sqrt(f[b])


@njit(parallel=True, error_model="numpy")
def adam_only(hp, lr, X, G, S, SC, C, steps):
    for blk in prange(X.shape[0]):
        for k in range(steps):
            adam_step(hp, lr[blk], hp[1], k + 1.0, X[blk], G[blk], S[blk], SC[blk], C[blk])


@njit(parallel=True, error_model="numpy")
def divide_and_root_floor(X, M, V, steps):
    for blk in prange(X.shape[0]):
        x, m, v = X[blk], M[blk], V[blk]
        for k in range(steps):
            c = 1.0 / (k + 1.0)
            for i in range(x.shape[0]):
                for b in range(x.shape[1]):
                    x[i, b] = x[i, b] - 1e-3 * (m[i, b] / (math.sqrt(v[i, b]) * c + 1e-8))


def timed(fn, *args):
    fn(*args[:-1], 1)  # compile
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    import numba

    plan = Plan(problems=Rosenbrock(dim=D), optimizers=Adam(lr=1e-3),
                schedules=CosineAnnealingLR(T_max=T), steps=T, seeds=N, record=("loss",),
                record_every=T, shard_size=N)
    packed = Packed(plan, 0, N)
    nb, _, lanes = packed.lanes.X.shape  # the engine's blocks, rows aligned as it packs them

    def aligned(values):
        out = aligned_zeros(values.shape)
        out[...] = values
        return out

    rng = np.random.default_rng(0)
    X = aligned(rng.uniform(-2.0, 2.0, (nb, D, lanes)))
    G = aligned(rng.standard_normal((nb, D, lanes)))
    F = aligned_zeros((nb, lanes))
    layout = packed.kernels[0]
    S = aligned_zeros((nb, layout.state_slots, D, lanes))
    hp = Adam(lr=1e-3).hyperparams()
    lr = np.full((nb, lanes), 1e-3)
    rows = [
        ("Rosenbrock loss + gradient", timed(problem_only, np.array([100.0]), aligned(X), G, F,
                                             T)),
        ("gradient norm", timed(grad_norm_only, G, F, T)),
        ("Adam step", timed(adam_only, hp, lr, aligned(X), G, S,
                            np.zeros((nb, layout.scalar_slots)),
                            aligned_zeros((nb, layout.coef_slots, lanes)), T)),
    ]
    run_blocks(Packed(plan, 0, N))  # compile or load
    kernel = math.inf
    for _ in range(3):
        packed = Packed(plan, 0, N)
        t0 = time.perf_counter()
        run_blocks(packed)
        kernel = min(kernel, time.perf_counter() - t0)
    rows.append(("whole kernel (all phases, status checks, records)", kernel))
    rows.append(("floor: one division + one square root per coordinate",
                 timed(divide_and_root_floor, aligned(X), aligned(G * 0.1),
                       aligned(np.abs(G) + 1.0), T)))
    updates = N * D * T
    print(f"workload A phases: Rosenbrock d={D}, N={N}, T={T}, float64, "
          f"{numba.get_num_threads()} threads, {nb} blocks of {lanes} lanes")
    print(f"{'phase':<55} {'seconds':>8} {'ns/coordinate-step':>19} {'of kernel':>10}")
    for label, seconds in rows:
        print(f"{label:<55} {seconds:8.3f} {seconds / updates * 1e9:19.2f} "
              f"{seconds / kernel:9.0%}")


if __name__ == "__main__":
    main()
