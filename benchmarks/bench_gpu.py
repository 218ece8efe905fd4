"""GPU throughput: trajectory-steps per second of the CUDA backend, and its ratio to the CPU
engine on the same workload, timed in the same run.

Workload A, thread mode (the engine benchmark's workload A, scaled for a GPU): Adam(lr=1e-3)
with a cosine schedule (CosineAnnealingLR, T_max = T) on Rosenbrock d=10, N seeded start
points, T steps, float64 (BENCH_DTYPE=float32 for single precision), only the final loss
recorded. The GPU runs all N trajectories in one shard (one thread each); the CPU engine (all
cores) runs BENCH_CPU_N of them (default min(N, 20,000)).

Workload L, large d, both CUDA modes: the same optimizer and schedule on Rosenbrock
d=BENCH_LARGE_D (default 1,000), BENCH_LARGE_N trajectories (default 512), run once with
cuda_mode="thread" (one thread per trajectory) and once with cuda_mode="block" (one thread
block per trajectory, threads splitting the coordinates); the CPU runs the same trajectories.

The ratios compare rates, trajectory-steps per second (trajectories x steps / kernel seconds).
Kernel seconds exclude JIT compilation (a warm-up run compiles first; its time is reported)
and host<->device transfers; the best of BENCH_REPEATS runs counts. The GPU and CPU results
are checked to agree (final losses to rtol 1e-9, identical statuses) on the trajectories both
ran.

    make bench-gpu                      (= python benchmarks/bench_gpu.py)
    BENCH_N=200000 BENCH_T=2000 ...     (bigger workload)
    python benchmarks/bench_gpu.py --json out.json

Without a usable GPU (no numba-cuda, no driver or device, or the CUDA simulator) it prints
``bench-gpu: skipped, nothing measured: <reason>`` and exits 0, so ``make bench-gpu`` is harmless
on CPU-only machines; with ``--require-gpu`` it exits 3 instead.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import optbench
from optbench import cuda_backend
from optbench.optimizers import Adam
from optbench.problems import Rosenbrock
from optbench.schedules import CosineAnnealingLR

N = int(os.environ.get("BENCH_N", 100_000))
T = int(os.environ.get("BENCH_T", 1_000))
CPU_N = int(os.environ.get("BENCH_CPU_N", min(N, 20_000)))
D = 10
LARGE_D = int(os.environ.get("BENCH_LARGE_D", 1_000))
LARGE_N = int(os.environ.get("BENCH_LARGE_N", 512))
REPEATS = int(os.environ.get("BENCH_REPEATS", 3))
DTYPE = os.environ.get("BENCH_DTYPE", "float64")
EXIT_NO_GPU = 3


def workload(n, steps=T, dim=D):
    return dict(problems=Rosenbrock(dim=dim), optimizers=Adam(lr=1e-3),
                schedules=CosineAnnealingLR(T_max=steps), steps=steps, seeds=n,
                record=("loss",), record_every=steps, dtype=DTYPE, shard_size=max(n, 1),
                progress=False)


def best_run(backend, n, dim=D, cuda_mode="auto"):
    """(results, best kernel seconds over REPEATS runs)."""
    extra = {"cuda_mode": cuda_mode} if backend == "cuda" else {}
    best, res = float("inf"), None
    for _ in range(REPEATS):
        res = optbench.run(**workload(n, dim=dim), backend=backend, **extra)
        best = min(best, res.manifest["timings"]["kernel_seconds"])
    return res, best


def agree(a, b, m):
    return (list(a.trials["status"][:m]) == list(b.trials["status"][:m])
            and np.allclose(a.trials["final_loss"][:m], b.trials["final_loss"][:m],
                            rtol=1e-9, atol=0.0, equal_nan=True))


def measure() -> dict:
    import numba

    t0 = time.perf_counter()
    for mode in ("thread", "block"):  # compiles both kernels
        optbench.run(**workload(64, steps=2), backend="cuda", cuda_mode=mode)
    compile_seconds = time.perf_counter() - t0
    optbench.run(**workload(64, steps=2), backend="cpu")

    gpu, gpu_seconds = best_run("cuda", N, cuda_mode="thread")
    cpu, cpu_seconds = best_run("cpu", CPU_N)
    gpu_rate = N * T / gpu_seconds
    cpu_rate = CPU_N * T / cpu_seconds
    large = {}
    cpu_l, cpu_l_seconds = best_run("cpu", LARGE_N, dim=LARGE_D)
    large["cpu"] = {"kernel_seconds": cpu_l_seconds,
                    "traj_steps_per_s": LARGE_N * T / cpu_l_seconds}
    ok = agree(gpu, cpu, min(N, CPU_N))
    for mode in ("thread", "block"):
        res, seconds = best_run("cuda", LARGE_N, dim=LARGE_D, cuda_mode=mode)
        large[mode] = {"kernel_seconds": seconds, "traj_steps_per_s": LARGE_N * T / seconds,
                       "over_cpu": cpu_l_seconds / seconds}
        ok = ok and agree(res, cpu_l, LARGE_N)
    return {
        "device": cuda_backend.device_name(),
        "workload": f"Adam + CosineAnnealingLR on Rosenbrock d={D}, T={T}, {DTYPE}",
        "gpu_trajectories": N, "cpu_trajectories": CPU_N, "cpu_threads": numba.get_num_threads(),
        "gpu_kernel_seconds": gpu_seconds, "cpu_kernel_seconds": cpu_seconds,
        "gpu_traj_steps_per_s": gpu_rate, "cpu_traj_steps_per_s": cpu_rate,
        "gpu_over_cpu": gpu_rate / cpu_rate, "first_call_compile_seconds": compile_seconds,
        "large_workload": f"the same on Rosenbrock d={LARGE_D}, {LARGE_N} trajectories",
        "large": large, "results_agree": bool(ok),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--require-gpu", action="store_true",
                        help=f"exit {EXIT_NO_GPU} (not 0) when there is no usable GPU")
    args = parser.parse_args(argv)
    reason = cuda_backend.gpu_unavailable_reason()
    if reason is None and cuda_backend.is_simulator():
        reason = "NUMBA_ENABLE_CUDASIM=1: the simulator is not a GPU"
    if reason is not None:
        print(f"bench-gpu: skipped, nothing measured: {reason}")
        return EXIT_NO_GPU if args.require_gpu else 0
    r = measure()
    print(f"bench-gpu on {r['device']}")
    print(f"  workload: {r['workload']}")
    print(f"  GPU: {r['gpu_traj_steps_per_s']:.3e} trajectory-steps/s "
          f"({r['gpu_trajectories']} trajectories, {r['gpu_kernel_seconds']:.3f} s kernel)")
    print(f"  CPU: {r['cpu_traj_steps_per_s']:.3e} trajectory-steps/s "
          f"({r['cpu_trajectories']} trajectories, {r['cpu_threads']} threads, "
          f"{r['cpu_kernel_seconds']:.3f} s kernel)")
    print(f"  GPU / CPU: {r['gpu_over_cpu']:.1f}x   (first-call compile of both kernels "
          f"{r['first_call_compile_seconds']:.1f} s)")
    print(f"  large workload: {r['large_workload']}")
    for mode in ("thread", "block"):
        m = r["large"][mode]
        print(f"    GPU {mode} mode: {m['traj_steps_per_s']:.3e} trajectory-steps/s "
              f"({m['kernel_seconds']:.3f} s kernel, {m['over_cpu']:.1f}x the CPU)")
    print(f"    CPU: {r['large']['cpu']['traj_steps_per_s']:.3e} trajectory-steps/s "
          f"({r['large']['cpu']['kernel_seconds']:.3f} s kernel)")
    print(f"  results agree: {r['results_agree']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(r, fh, indent=2)
    return 0 if r["results_agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
