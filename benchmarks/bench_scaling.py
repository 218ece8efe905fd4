"""How the engine's cost per element-update changes with the grid's shape: N (trajectories),
d (dimension) and T (steps) grown one at a time around a base point, Adam + cosine on
Rosenbrock (workload A's work), float64, all threads, loss recorded at the start and end only.

For each size the figure shows the kernel's time (``manifest["timings"]["kernel_seconds"]``)
and the whole ``optbench.run`` call's, divided by the element-updates N*d*T, medians of
at least BENCH_REPEATS calls (3; up to 25 for the small points) after one warm-up call, on log-log axes, into
docs/figures/scaling.png (BENCH_SCALING_PNG to write elsewhere). A flat line is a constant
cost per element-update; the table printed below explains each knee with a measured figure.

    python benchmarks/bench_scaling.py          # about 30 s on 2 cores
    BENCH_SCALING_QUICK=1 ...                   # three sizes a sweep (a smoke check)

Sizes: N = 10^2..10^6 at d=10, T=100; d = 2..10^4 at N=1,000, T=100; T = 10^2..10^5 at
N=1,000, d=10. The largest point of each sweep is 10^9 element-updates (about 2 s of kernel).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

import optbench
from optbench.optimizers import Adam
from optbench.problems import Rosenbrock
from optbench.schedules import CosineAnnealingLR

REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
QUICK = os.environ.get("BENCH_SCALING_QUICK") == "1"
SWEEPS = {  # (swept parameter, sizes, the fixed ones)
    "N": ("n", [100, 316, 1_000, 3_162, 10_000, 31_623, 100_000, 316_228, 1_000_000],
          {"d": 10, "steps": 100}),
    "d": ("d", [2, 5, 10, 32, 100, 316, 1_000, 3_162, 10_000], {"n": 1_000, "steps": 100}),
    "T": ("steps", [100, 316, 1_000, 3_162, 10_000, 31_623, 100_000], {"n": 1_000, "d": 10}),
}
FIGURE = Path(os.environ.get("BENCH_SCALING_PNG",
                             Path(__file__).resolve().parent.parent / "docs/figures/scaling.png"))


def one(n, d, steps):
    """(kernel seconds, whole-call seconds): medians of at least REPEATS calls after a
    warm-up, more (up to 25) while they have taken under a second: a small point lasts a few
    milliseconds, which one preemption by another process on this shared machine doubles."""
    kernel, call = [], []
    spent = 0.0
    i = 0
    while i <= REPEATS or (spent < 1.0 and i <= 25):
        t0 = time.perf_counter()
        res = optbench.run(Rosenbrock(dim=d), Adam(lr=1e-3),
                           schedules=CosineAnnealingLR(T_max=steps), steps=steps, seeds=n,
                           record=("loss",), record_every=steps, progress=False)
        if i:
            call.append(time.perf_counter() - t0)
            kernel.append(res.manifest["timings"]["kernel_seconds"])
            spent += call[-1]
        i += 1
    return float(np.median(kernel)), float(np.median(call))


def main():
    import numba

    from optbench.store import provenance

    print(f"machine: {provenance()['cpu']}, {os.cpu_count()} CPUs, {numba.get_num_threads()} "
          f"threads, load average {os.getloadavg()[0]:.2f} (shared machine: noisy)")
    results = {}
    t_all = time.perf_counter()
    for label, (key, sizes, fixed) in SWEEPS.items():
        if QUICK:
            sizes = sizes[:3]
        rows = []
        print(f"\n{label} grows ({', '.join(f'{k}={v}' for k, v in fixed.items())}); "
              "ns per element-update")
        print(f"{label:>9} {'element-updates':>16} {'kernel':>9} {'whole call':>11}")
        for size in sizes:
            shape = {**fixed, key: size}
            updates = shape["n"] * shape["d"] * shape["steps"]
            kernel, call = one(shape["n"], shape["d"], shape["steps"])
            rows.append((size, kernel / updates * 1e9, call / updates * 1e9))
            print(f"{size:>9} {updates:16.2e} {rows[-1][1]:9.3f} {rows[-1][2]:11.3f}", flush=True)
        results[label] = rows
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")
    plot(results)


def plot(results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for ax, (label, rows) in zip(axes, results.items()):
        sizes, kernel, call = (np.array(c) for c in zip(*rows))
        ax.loglog(sizes, kernel, "o-", label="kernel")
        ax.loglog(sizes, call, "s--", label="whole run call")
        fixed = SWEEPS[label][2]
        ax.set_xlabel(f"{label}  ({', '.join(f'{k}={v}' for k, v in fixed.items())})")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ns per element-update (N*d*T)")
    axes[0].legend()
    fig.suptitle("optbench scaling: Adam + cosine on Rosenbrock, float64, 2 shared vCPUs")
    fig.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURE, dpi=110)
    print(f"figure: {FIGURE}")


if __name__ == "__main__":
    main()
