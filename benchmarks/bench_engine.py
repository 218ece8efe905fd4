"""Engine throughput on the grid workload, against a vectorised numpy implementation of the
same computation timed in the same run.

Workload (issue 2 / 9, workload A): Adam(lr=1e-3, default betas) with a cosine schedule
(CosineAnnealingLR, T_max = T) on Rosenbrock d=10, N=10,000 seeded start points, T=1,000
steps, float64, all cores. Figures: element-updates per second (N*d*T / seconds) and the
engine's speed-up over numpy. Compile time of the first call and the cost of a cached call
in a fresh process are reported separately.

    make bench-speed                         (pytest-benchmark, prints the table)
    python benchmarks/bench_engine.py        (same figures, no pytest)
    BENCH_N=2000 BENCH_T=500 ...             (smaller workload)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

import optbench
from optbench.optimizers import Adam
from optbench.problems import Rosenbrock
from optbench.schedules import CosineAnnealingLR

N = int(os.environ.get("BENCH_N", 10_000))
T = int(os.environ.get("BENCH_T", 1_000))
D = 10
REPEATS = int(os.environ.get("BENCH_REPEATS", 5))


def workload():
    return dict(problems=Rosenbrock(dim=D), optimizers=Adam(lr=1e-3),
                schedules=CosineAnnealingLR(T_max=T), steps=T, seeds=N, record=("loss",),
                record_every=T, progress=False)


def run_engine():
    """One engine call; returns (results, kernel seconds, total seconds incl. packing)."""
    t0 = time.perf_counter()
    res = optbench.run(**workload())
    return res, res.manifest["timings"]["kernel_seconds"], time.perf_counter() - t0


def run_numpy(x0, lr_table):
    """The same trajectories, vectorised over (N, d) with numpy; torch's Adam semantics."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    x = x0.copy()
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    g = np.empty_like(x)
    loss = None
    for k in range(T + 1):
        head, tail = x[:, :-1], x[:, 1:]
        r = tail - head * head
        s = 1.0 - head
        loss = np.sum(100.0 * r * r + s * s, axis=1)
        g[:, :-1] = -400.0 * r * head - 2.0 * s
        g[:, -1] = 0.0
        g[:, 1:] += 200.0 * r
        if k == T:
            break
        t = k + 1.0
        m += (1.0 - b1) * (g - m)
        v *= b2
        v += (1.0 - b2) * g * g
        step = lr_table[k] / (1.0 - b1**t)
        x -= step * (m / (np.sqrt(v) * (1.0 / np.sqrt(1.0 - b2**t)) + eps))
    return loss


def cold_and_cached_call() -> dict:
    """First-call JIT time with an empty cache, and the cached call in a new process."""
    import tempfile

    code = ("import optbench, json; from optbench.optimizers import Adam; "
            "from optbench.problems import Rosenbrock; "
            "r = optbench.run(Rosenbrock(10), Adam(), steps=10, seeds=2, progress=False); "
            "print(json.dumps(r.manifest['timings']['warm_up']))")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, OPTBENCH_CACHE_DIR=cache)
        out = {}
        for label in ("cold", "cached"):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                  text=True, check=True)
            out[label] = json.loads(proc.stdout.strip().splitlines()[-1])
            out[label]["process_seconds"] = time.perf_counter() - t0
    return out


def measure() -> dict:
    """Engine and numpy timed in alternation (pairs), so that both see the same machine
    state; the speed-ups are medians of the per-pair ratios, with their range."""
    res, _, _ = run_engine()  # warm-up (compile) outside the timings
    plan = res.plan
    x0 = plan.problems[0].start_points(plan.seeds)
    lr_table, _ = plan.schedules[0].tables(plan.optimizers[0], T)
    kernel, total, numpy_s = [], [], []
    for _ in range(REPEATS):
        res, k_s, t_s = run_engine()
        kernel.append(k_s)
        total.append(t_s)
        t0 = time.perf_counter()
        ref_loss = run_numpy(x0, lr_table)
        numpy_s.append(time.perf_counter() - t0)
    engine_loss = res.trials["final_loss"]
    rel = np.max(np.abs(engine_loss - ref_loss) / np.maximum(np.abs(ref_loss), 1e-300))
    updates = N * D * T
    ratio_kernel = np.array(numpy_s) / np.array(kernel)
    ratio_total = np.array(numpy_s) / np.array(total)
    return {
        "workload": f"Adam+cosine, Rosenbrock d={D}, N={N}, T={T}, float64",
        "threads": res.manifest["provenance"]["threads"],
        "cpu": res.manifest["provenance"]["cpu"],
        "pairs": REPEATS,
        "engine_kernel_s": float(np.median(kernel)),
        "engine_total_s": float(np.median(total)),
        "numpy_s": float(np.median(numpy_s)),
        "engine_updates_per_s": updates / float(np.median(kernel)),
        "numpy_updates_per_s": updates / float(np.median(numpy_s)),
        "speedup_kernel": float(np.median(ratio_kernel)),
        "speedup_kernel_range": (float(ratio_kernel.min()), float(ratio_kernel.max())),
        "speedup_total": float(np.median(ratio_total)),
        "speedup_total_range": (float(ratio_total.min()), float(ratio_total.max())),
        "max_rel_diff_final_loss": float(rel),
    }


def report(m: dict) -> str:
    return "\n".join([
        f"workload: {m['workload']} ({m['threads']} threads, {m['cpu']})",
        f"engine kernel : {m['engine_kernel_s']:.3f} s  {m['engine_updates_per_s']:.3e} element-updates/s",
        f"engine total  : {m['engine_total_s']:.3f} s  (packing, kernel, results table)",
        f"numpy         : {m['numpy_s']:.3f} s  {m['numpy_updates_per_s']:.3e} element-updates/s",
        f"speed-up over numpy (median of {m['pairs']} alternating pairs, range): "
        f"{m['speedup_kernel']:.1f}x kernel ({m['speedup_kernel_range'][0]:.1f}-"
        f"{m['speedup_kernel_range'][1]:.1f}), {m['speedup_total']:.1f}x total "
        f"({m['speedup_total_range'][0]:.1f}-{m['speedup_total_range'][1]:.1f})",
        f"final losses agree with numpy to {m['max_rel_diff_final_loss']:.1e} (relative)",
    ])


def test_grid_workload(benchmark):
    """pytest-benchmark times the whole engine call; the table compares with numpy."""
    run_engine()
    benchmark.pedantic(run_engine, rounds=REPEATS, iterations=1)
    m = measure()
    print("\n" + report(m))
    assert m["max_rel_diff_final_loss"] < 1e-9


def test_compile_and_cache(benchmark):
    out = benchmark.pedantic(cold_and_cached_call, rounds=1, iterations=1)
    print(f"\nfirst call JIT (empty cache): {out['cold']['jit_seconds']:.2f} s; "
          f"cached call in a new process: {out['cached']['jit_seconds']:.2f} s "
          f"(cache hit: {out['cached']['cache_hit']}); whole processes "
          f"{out['cold']['process_seconds']:.1f} s / {out['cached']['process_seconds']:.1f} s")
    assert out["cached"]["cache_hit"]


if __name__ == "__main__":
    print(report(measure()))
    out = cold_and_cached_call()
    print(f"first call JIT: {out['cold']['jit_seconds']:.2f} s; cached call in a new process: "
          f"{out['cached']['jit_seconds']:.2f} s (hit: {out['cached']['cache_hit']})")
