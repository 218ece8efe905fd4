"""Where workload A's time goes: the engine's phases timed one by one on the same blocks.

Workload A (Adam + cosine, Rosenbrock d=10, N=10,000, T=1,000, float64) runs as 79 blocks of
(10, 128) on 2 threads. Each phase below runs alone over every block for T steps, in parallel
over blocks, exactly as inside the engine's kernel; then the whole kernel and a floor: the one
division and one square root per coordinate that Adam cannot avoid in IEEE arithmetic
(x <- x - s * m / (sqrt(v) * c + eps)), with no other work. The two "ideal step" rows bound what
fusing could gain: gradient, loss, gradient norm and Adam's update with nothing else (no
schedule table, status checks, records or calls), first phase after phase as the engine runs
them, then with each gradient row followed at once by the update of the row before it (the
last row Rosenbrock's gradient reads), so that the gradient's arithmetic can overlap the
divider's.

    python benchmarks/profile_engine.py        # BENCH_N, BENCH_T to scale; NUMBA_NUM_THREADS
"""
from __future__ import annotations

import math
import os
import time

import numpy as np
from numba import njit, prange

from optbench.engine import Packed, aligned_zeros, lane_zeros
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


@njit(inline="always", error_model="numpy")
def _update_row(X, G, M, V, norm, i, step_size, c):
    """Adam's update of row i of a block (moments, then x), its gradient's squares summed."""
    x, g, m, v = X[i], G[i], M[i], V[i]
    for b in range(x.shape[0]):
        gi = g[b]
        norm[b] += gi * gi
        mi = m[b] + 0.1 * (gi - m[b])
        vi = 0.999 * v[b] + 0.001 * gi * gi
        m[b] = mi
        v[b] = vi
        x[b] = x[b] - step_size * (mi / (math.sqrt(vi) * c + 1e-8))


@njit(parallel=True, error_model="numpy")
def ideal_step(p, X, G, M, V, F, interleave, steps):
    """Rosenbrock's loss and gradient, the gradient norm and Adam's update, nothing else:
    phase after phase, or (``interleave``) row i's gradient followed by row i-1's update."""
    for blk in prange(X.shape[0]):
        x, g, m, v, f = X[blk], G[blk], M[blk], V[blk], F[blk]
        d = x.shape[0]
        norm = np.zeros(f.shape[0])
        for k in range(steps):
            c = 1.0 / math.sqrt(1.0 - 0.999 ** (k + 1.0))
            for b in range(f.shape[0]):
                f[b] = 0.0
                norm[b] = 0.0
            if interleave:
                rosenbrock_rows(x, g, g, f, p, 0, 0, 1, 1)
                for i in range(1, d):
                    rosenbrock_rows(x, g, g, f, p, 0, i, i + 1, 1)
                    _update_row(x, g, m, v, norm, i - 1, 1e-3, c)
                _update_row(x, g, m, v, norm, d - 1, 1e-3, c)
            else:
                rosenbrock_rows(x, g, g, f, p, 0, 0, d, 1)
                for i in range(d):
                    _update_row(x, g, m, v, norm, i, 1e-3, c)


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

    def aligned(values, lane_array="X"):
        """values in an array placed as the engine places its lane array ``lane_array``."""
        out = lane_zeros(lane_array, values.shape)
        out[...] = values
        return out

    rng = np.random.default_rng(0)
    X = aligned(rng.uniform(-2.0, 2.0, (nb, D, lanes)))
    G = aligned(rng.standard_normal((nb, D, lanes)), "G")
    F = aligned_zeros((nb, lanes))
    layout = packed.kernels[0]
    S = lane_zeros("S", (nb, layout.state_slots, D, lanes))
    hp = Adam(lr=1e-3).hyperparams()
    lr = np.full((nb, lanes), 1e-3)
    rows = [
        ("Rosenbrock loss + gradient", timed(problem_only, np.array([100.0]), aligned(X), G, F,
                                             T)),
        ("gradient norm", timed(grad_norm_only, G, F, T)),
        ("Adam step", timed(adam_only, hp, lr, aligned(X), G, S,
                            np.zeros((nb, layout.scalar_slots)),
                            lane_zeros("C", (nb, layout.coef_slots, lanes)), T)),
    ]
    run_blocks(Packed(plan, 0, N))  # compile or load
    kernel = math.inf
    for _ in range(3):
        packed = Packed(plan, 0, N)
        t0 = time.perf_counter()
        run_blocks(packed)
        kernel = min(kernel, time.perf_counter() - t0)
    rows.append(("whole kernel (all phases, status checks, records)", kernel))
    for label, interleave in (("phases apart", False), ("gradient rows interleaved", True)):
        moments = lane_zeros("S", (2, *X.shape))
        rows.append((f"ideal step, {label}",
                     timed(ideal_step, np.array([100.0]), aligned(X), aligned(G, "G"),
                           moments[0], moments[1], F, interleave, T)))
    rows.append(("floor: one division + one square root per coordinate",
                 timed(divide_and_root_floor, aligned(X), aligned(G * 0.1, "G"),
                       aligned(np.abs(G) + 1.0, "S"), T)))
    updates = N * D * T
    print(f"workload A phases: Rosenbrock d={D}, N={N}, T={T}, float64, "
          f"{numba.get_num_threads()} threads, {nb} blocks of {lanes} lanes")
    print(f"{'phase':<55} {'seconds':>8} {'ns/coordinate-step':>19} {'of kernel':>10}")
    for label, seconds in rows:
        print(f"{label:<55} {seconds:8.3f} {seconds / updates * 1e9:19.2f} "
              f"{seconds / kernel:9.0%}")


if __name__ == "__main__":
    main()
