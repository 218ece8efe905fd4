"""Machine fingerprint: stored speed figures are compared only between equal fingerprints.

A kernel time depends on the CPU (model and instruction-set flags), the cores and threads
numba may use, the compiler stack (numba, llvmlite) and the element type. Two runs whose
fingerprints differ in any of these are "not comparable" for speed; their convergence results
still are.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: fields that must be equal for two stored timings to be compared
FIELDS = ("cpu", "cpu_flags", "cpu_count", "threads", "numba", "llvmlite", "dtype")


def _cpuinfo() -> tuple[str, str]:
    """(CPU model name, short hash of its sorted feature flags); '?' where unknown."""
    model, flags = "?", "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "?":
                model = value.strip()
            elif key.strip() == "flags" and flags == "?":
                flags = hashlib.sha256(" ".join(sorted(value.split())).encode()).hexdigest()[:12]
    except OSError:
        pass
    return model, flags


def fingerprint(dtype: str) -> dict:
    """This process's machine fingerprint for kernels of element type ``dtype``."""
    import llvmlite
    import numba

    model, flags = _cpuinfo()
    return {"cpu": model, "cpu_flags": flags, "cpu_count": os.cpu_count(),
            "threads": numba.get_num_threads(), "numba": numba.__version__,
            "llvmlite": llvmlite.__version__, "dtype": dtype}


def differences(a: dict | None, b: dict | None) -> list:
    """The fingerprint fields in which ``a`` and ``b`` differ (all of them if one is missing)."""
    if not a or not b:
        return list(FIELDS)
    return [f for f in FIELDS if a.get(f) != b.get(f)]


def describe(fp: dict | None) -> str:
    """One line: 'Intel Xeon (flags 1a2b..), 2 cpus, 2 threads, numba 0.60 / llvmlite 0.43, float64'."""
    if not fp:
        return "an unrecorded machine (no fingerprint: made before fingerprints were stored)"
    return (f"{fp.get('cpu')} (flags {fp.get('cpu_flags')}), {fp.get('cpu_count')} cpus, "
            f"{fp.get('threads')} threads, numba {fp.get('numba')} / llvmlite "
            f"{fp.get('llvmlite')}, {fp.get('dtype')}")
