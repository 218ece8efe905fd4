"""Compiled kernels: the math of every update rule, schedule and problem, written once.

Numba's on-disk cache only watches the file of the cached function itself, so a change to a
callee (an update rule, a gradient) would leave a stale kernel behind. The locator below keys
every cached kernel of this package on a hash of *all* kernel sources instead, and keeps the
cache in ``$OPTBENCH_CACHE_DIR`` (default ``~/.cache/optbench/numba``).
"""
import hashlib
import os
from pathlib import Path

from numba.core import caching

KERNEL_DIR = Path(__file__).resolve().parent


def kernel_source_hash() -> str:
    """SHA-256 over every kernel source file: the cache's freshness stamp."""
    digest = hashlib.sha256()
    for path in sorted(KERNEL_DIR.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "optbench" / "numba"
    return Path(os.environ.get("OPTBENCH_CACHE_DIR", default))


class _KernelSourceLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
    """Cache locator for this package's kernels, stamped with ``kernel_source_hash()``."""

    _stamp = None

    def __init__(self, py_func, py_file):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(cache_dir() / self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        if _KernelSourceLocator._stamp is None:
            _KernelSourceLocator._stamp = kernel_source_hash()
        return _KernelSourceLocator._stamp

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != KERNEL_DIR:
            return None
        return super().from_function(py_func, py_file)


_CACHE_IMPL = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")
if _KernelSourceLocator not in _CACHE_IMPL._locator_classes:
    _CACHE_IMPL._locator_classes.insert(0, _KernelSourceLocator)
