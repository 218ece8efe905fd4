"""Compiled kernels: the math of every update rule, schedule and problem, written once.

Kernel *templates* (``@template``: the trajectory loop ``engine.run_block``, the CPU and CUDA
drivers, ``vector.step_vector``) call ``optimizer_init`` / ``optimizer_step`` without defining
them: :mod:`optbench.codegen` compiles them inside a generated module whose dispatch holds the
update rules of the optimizer definitions a plan uses, built-in or a user's, the same way.

Numba's on-disk cache only watches the file of the cached function itself, so a change to a
callee (an update rule, a gradient) would leave a stale kernel behind. The locator below keys
every cached kernel of this package on a hash of *all* kernel sources instead, and keeps the
cache in ``$OPTBENCH_CACHE_DIR`` (default ``~/.cache/optbench/numba``). numba-cuda has its own
copy of numba's caching module; ``kernels.cuda`` registers the same locator there, so the
CUDA kernels (``@cuda.jit(cache=True)``) are cached and invalidated the same way.
"""
import hashlib
import os
from pathlib import Path

from numba.core import caching

KERNEL_DIR = Path(__file__).resolve().parent
#: the array layout the kernels share with the host (``optbench.layout``), stamped with them
LAYOUT = KERNEL_DIR.parent / "layout.py"


def kernel_source_hash() -> str:
    """SHA-256 over every kernel source file and the layout: the cache's freshness stamp (read
    once per process by ``source_stamp``)."""
    digest = hashlib.sha256()
    for path in sorted(KERNEL_DIR.rglob("*.py")) + [LAYOUT]:
        digest.update(path.relative_to(KERNEL_DIR.parent).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "optbench" / "numba"
    return Path(os.environ.get("OPTBENCH_CACHE_DIR", default))


def _locator_class(caching):
    """The cache locator for this package's kernels, built on ``caching`` (numba's CPU caching
    module or numba-cuda's copy of it), stamped with ``kernel_source_hash()``."""

    class KernelSourceLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        def __init__(self, py_func, py_file):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = str(cache_dir() / self.get_suitable_cache_subpath(py_file))

        def get_cache_path(self):
            return self._cache_path

        def get_source_stamp(self):
            return source_stamp()

        @classmethod
        def from_function(cls, py_func, py_file):
            if KERNEL_DIR not in Path(py_file).resolve().parents:
                return None
            return super().from_function(py_func, py_file)

    return KernelSourceLocator


def template(decorator: str):
    """Mark a kernel function as a template: it stays plain Python here and is compiled, under
    ``decorator`` (numba decorator source, e.g. ``"njit(error_model='numpy')"``), inside each
    generated kernel module, whose globals name that plan's optimizer rules."""

    def mark(fn):
        fn.kernel_decorator = decorator
        return fn

    return mark


_STAMP: list = []


def source_stamp() -> str:
    """``kernel_source_hash()`` as this process first read it."""
    if not _STAMP:
        _STAMP.append(kernel_source_hash())
    return _STAMP[0]


def register_locator(caching, cache_impl) -> None:
    """Put this package's locator first in ``cache_impl``'s list (once)."""
    if not any(getattr(c, "_optbench", False) for c in cache_impl._locator_classes):
        locator = _locator_class(caching)
        locator._optbench = True
        cache_impl._locator_classes.insert(0, locator)


register_locator(caching, getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl"))
