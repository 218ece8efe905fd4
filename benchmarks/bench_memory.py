"""Peak memory of workload A with log-spaced records, against what the run must hold.

Workload A: Adam + cosine, Rosenbrock d=10, N=10,000, T=1,000, float64, record_every="log"
(200 log-spaced steps) with the default channels (loss, lr, grad_norm, suboptimality,
dist_to_opt), kept in memory (no ``out``). The reference is the recorded arrays (the
``Results.arrays`` the call returns: traces, statuses, final values) plus the state arrays
(iterates, gradients, optimizer state, coefficient and status scratch: everything
``engine.Packed`` allocates besides its outputs, for all N trajectories). Two measurements of
one ``optbench.run`` call, after a warm-up call (kernel loaded, caches filled):

- tracemalloc: the peak of Python-tracked allocations during the call, numpy's arrays
  included (numpy reports its buffers to tracemalloc);
- resident memory: Linux's peak resident set (VmHWM, reset through /proc/self/clear_refs
  before the call) minus the resident set before it: what the process really touched.

    python benchmarks/bench_memory.py          # BENCH_N, BENCH_T, BENCH_D to scale
"""
from __future__ import annotations

import gc
import os
import tracemalloc

import numpy as np

import optbench
from optbench.engine import Packed
from optbench.optimizers import Adam
from optbench.plan import Plan
from optbench.problems import Rosenbrock
from optbench.schedules import CosineAnnealingLR

N = int(os.environ.get("BENCH_N", "10000"))
T = int(os.environ.get("BENCH_T", "1000"))
D = int(os.environ.get("BENCH_D", "10"))
TARGET = 1.5


def workload():
    return {"problems": Rosenbrock(dim=D), "optimizers": Adam(lr=1e-3),
            "schedules": CosineAnnealingLR(T_max=T), "steps": T, "seeds": N,
            "record_every": "log"}


def _status_kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def resident_peak(fn):
    """(bytes the resident set grew to at its peak during fn(), fn's result); None where
    Linux's peak counter cannot be reset."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current resident set
    except OSError:
        return None, fn()
    before = _status_kib("VmRSS")
    result = fn()
    return (_status_kib("VmHWM") - before) * 1024, result


def traced_peak(fn):
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak, result


def main():
    def call():
        return optbench.run(**workload(), progress=False)

    res = call()  # warm-up: kernel loaded, lazy imports done
    recorded = sum(a.nbytes for a in res.arrays.values())
    n_rec = len(res.steps)
    del res
    plan = Plan(**workload(), shard_size=N)
    packed = Packed(plan, 0, N)
    state = sum(a.nbytes for a in (*packed.inputs, *packed.lanes, packed.block_kernel)
                if isinstance(a, np.ndarray))  # all but the outputs (packed.out)
    del packed, plan
    gc.collect()
    reference = recorded + state
    rss, res = resident_peak(call)
    del res
    gc.collect()
    traced, res = traced_peak(call)
    trials = int(res.trials.memory_usage(deep=True).sum())  # a pandas DataFrame
    mib = 2**20
    print(f"workload A, record_every='log': Adam + cosine, Rosenbrock d={D}, N={N}, T={T}, "
          f"{n_rec} recorded steps x {len(res.recorded)} channels, float64, in memory")
    print(f"recorded arrays (Results.arrays)         {recorded / mib:8.1f} MiB")
    print(f"state arrays (X, G, S, scratch; all N)   {state / mib:8.1f} MiB")
    print(f"reference: recorded + state              {reference / mib:8.1f} MiB")
    print(f"(trials table, not in the reference)     {trials / mib:8.1f} MiB")
    print(f"peak traced allocations (tracemalloc)    {traced / mib:8.1f} MiB   "
          f"{traced / reference:5.2f}x the reference (target <= {TARGET}x)")
    if rss is None:
        print("peak resident memory: /proc/self/clear_refs not writable here, not measured")
    else:
        print(f"peak resident growth (VmHWM - VmRSS)     {rss / mib:8.1f} MiB   "
              f"{rss / reference:5.2f}x the reference")


if __name__ == "__main__":
    main()
