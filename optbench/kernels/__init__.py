"""Compiled kernels: the math of every update rule, schedule and problem, written once.

Kernel *templates* (``@template``: the trajectory loop ``engine.run_block``, the CPU and CUDA
drivers, ``vector.step_vector``) call ``optimizer_init`` / ``optimizer_step`` without defining
them: :mod:`optbench.codegen` compiles them inside a generated module whose dispatch holds the
update rules of the optimizer definitions a plan uses, built-in or a user's, the same way.

Numba's on-disk cache only watches the file of the cached function itself, so a change to a
callee (an update rule, a gradient) would leave a stale kernel behind. The locator below keys
every cached kernel of this package on a hash of its file and of every package file it
imports, transitively (``source_closure``): an edit recompiles what depends on it, and an
unrelated file (the CUDA kernels for a CPU run) never does. The cache lives in
``$OPTBENCH_CACHE_DIR`` (default ``~/.cache/optbench/numba``). numba-cuda has its own
copy of numba's caching module; ``kernels.cuda`` registers the same locator there, so the
CUDA kernels (``@cuda.jit(cache=True)``) are cached and invalidated the same way.
"""
import functools
import hashlib
import os
import re
from pathlib import Path

from numba.core import caching

KERNEL_DIR = Path(__file__).resolve().parent


def kernel_source_hash(*paths) -> str:
    """SHA-256 over the kernel source files ``paths`` and every package file they import,
    transitively (``source_closure``): a cached kernel's freshness stamp, so an edit
    recompiles what depends on the edited file and nothing else."""
    digest = hashlib.sha256()
    for path in source_closure(paths):
        digest.update(os.path.relpath(path, KERNEL_DIR.parent).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def source_closure(paths) -> list:
    """The files of ``paths`` and of the package modules they import by relative import
    (``from .x import``, ``from .. import x``), transitively, sorted."""
    seen: set = set()
    todo = [Path(p).resolve() for p in paths]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        todo += _imported_paths(path, path.stat().st_mtime_ns)
    return sorted(seen)


_RELATIVE_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.+)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|.*)$",
                              re.MULTILINE)


@functools.lru_cache(maxsize=None)
def _imported_paths(path: Path, mtime_ns: int) -> list:
    """The candidate files of the relative imports in ``path`` (read once per version of it:
    every kernel's stamp walks the same files)."""
    out = []
    for dots, module, names in _RELATIVE_IMPORT.findall(path.read_text()):
        base = path.parent
        for _ in range(len(dots) - 1):
            base = base.parent
        parts = module.split(".") if module else []
        target = base.joinpath(*parts)
        if parts:
            out += [target.with_suffix(".py"), target / "__init__.py"]
        for name in re.sub(r"#[^\n]*", "", names).strip("()").split(","):
            name = name.split(" as ")[0].strip()
            if name:  # `from . import rng`: a module, or a name in one
                out += [target / f"{name}.py", target / name / "__init__.py",
                        target / "__init__.py"]
    return out


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
            return source_stamp(self._py_file)

        @classmethod
        def from_function(cls, py_func, py_file):
            if KERNEL_DIR.parent not in Path(py_file).resolve().parents:
                return None  # not this package's (schedule_tables' interpreter included)
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


_STAMPS: dict = {}


def source_stamp(*paths) -> str:
    """``kernel_source_hash(*paths)`` as this process first read it."""
    key = tuple(str(Path(p).resolve()) for p in paths)
    if key not in _STAMPS:
        _STAMPS[key] = kernel_source_hash(*paths)
    return _STAMPS[key]


def register_locator(caching, cache_impl) -> None:
    """Put this package's locator first in ``cache_impl``'s list (once)."""
    if not any(getattr(c, "_optbench", False) for c in cache_impl._locator_classes):
        locator = _locator_class(caching)
        locator._optbench = True
        cache_impl._locator_classes.insert(0, locator)


register_locator(caching, getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl"))
