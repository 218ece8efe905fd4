"""Kernels generated for the optimizer definitions and problems a plan uses, cached on disk
by content.

The CPU engine runs the built-in definitions on the built-in problems in one kernel, compiled
once per machine and dtype whatever the plan, with their dispatch inlined into its
trajectory loop (the fastest code, and a kernel of one rule costs most of what one of all of
them costs: the loop dominates its compile time). Each user definition, and the built-in
ones on a user problem (``cpu_kernel_groups``, ``problem_units``), run in a kernel made of
a rules module ("rule" target) and a trajectory loop ("cpu_loop") compiled per problem group
(every built-in family together, or a user's problem), which takes the rules' dispatch as
first-class functions (``LOOP_FUNCTIONS``): a new or edited rule compiles its own module only
(under a second), never a built-in kernel or a loop. The loop over the built-in families is
a built-in too: a process that compiles the built-in kernel compiles it in the background
(``optbench.prebuild``), so a user's first rule finds it in the cache. The problems'
dispatch stays inlined into the loop: called through a function pointer too, it made a
user's Adam 20% slower than the built-in on workload A (medians of 25 pairs). CUDA compiles
one kernel per plan over the plan's definitions and one problem group; ``VectorOptimizer``
one per definition; Python-side evaluation of a problem (``problem_kernel``) one per problem
group.

A kernel is a Python module written into the cache directory and imported from there. It
holds, for the definitions (``Optimizer.definition()`` classes) it was built for:

- ``optimizer_init(code, hp, S, SC)`` and ``optimizer_step(code, hp, lr, mom, t, X, G, S, SC,
  C)``: the dispatch over those rules only, ``code`` being a definition's index in the
  kernel (``Kernel.code``). A per-coordinate ``update`` gets a generated block loop around
  it; a whole-block ``rule`` is called as it is;
- ``problem_block_loss_grad``, ``problem_sample_grad``, ``problem_project`` and the rows
  form's ``problem_rows*``: the dispatch over the problem classes' hooks
  (``optbench.problems.Problem``), ``code`` being a class's index (``Kernel.problem_code``);
- the kernel templates of one target (``@template`` functions of ``optbench.kernels``: the
  trajectory loop, the CUDA kernels, or the vector step), compiled there from their source,
  so their calls to the dispatch resolve to this kernel's (in "cpu_loop", to its arguments).
  The CPU target's parallel driver
  (``kernels.cpu.run_blocks``) is not among them: it takes a kernel's trajectory loop as a
  first-class function and is compiled once for all kernels.

Built-in and user optimizers and problems go through this same door, and so do schedules:
``schedule_module`` generates, for the leaf schedule classes a schedule uses, the dispatch
over their ``lr_at`` / ``lr_step`` / ``momentum_at`` and compiles the interpreter of torch's
scheduler state machine (``schedule_tables``) against it. The module's file name is a hash of
its source, whose header holds the hashes of everything it runs (the package's kernel
sources, each plugin's source files, the numba and optbench versions): numba's on-disk cache
(``cache=True``) of a module-level function keyed by its file then hits in every new process
(closures over user functions would miss, numba issue 6264, and a changed callee would go
unseen), an edit to a rule gives a new file and a recompile of just the kernels that use it,
and a plan's kernel never depends on definitions it does not use. This follows the approach
of the numbox project's ``compile_kernel.py``.
"""
from __future__ import annotations

import dis
import functools
import hashlib
import importlib.util
import inspect
import marshal
import os
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .kernels import cache_dir, source_stamp
from .layout import BUNDLES
from .problems.base import HOOKS as PROBLEM_HOOKS
from .spec import is_builtin

#: the templates compiled into a kernel of each target, callees first
TARGETS = {
    "cpu": ("optbench.kernels.engine:run_block",),  # + its entry, ``cpu_block``
    # a user's rule on the CPU: its dispatch alone ("rule"), run by the trajectory loop of a
    # problem group that takes it as arguments (``LOOP_FUNCTIONS``): "cpu_loop"
    "rule": (),
    "cpu_loop": ("optbench.kernels.engine:run_block",),  # + its entry, ``cpu_block``
    "vector": ("optbench.kernels.vector:step_vector",),
    "cuda": ("optbench.kernels.engine:run_block", "optbench.kernels.cuda:run_lane",
             "optbench.kernels.cuda:run_grid_cuda", "optbench.kernels.cuda:_run_trajectory",
             "optbench.kernels.cuda:run_grid_cuda_blocks"),
    "problem": (),  # the problem hooks alone: Python-side evaluation (``problem_kernel``)
}
#: the dispatch a "cpu_loop" kernel's ``run_block`` takes as first-class functions (a rule
#: kernel's), in this order after the block index
LOOP_FUNCTIONS = ("optimizer_init", "optimizer_step")
#: per-lane step coefficients every kernel provides at least (the built-in rules use 3)
MIN_COEF_SLOTS = 3
_KW = "error_model='numpy'"
_LOCK = threading.Lock()


def kernel_dir() -> Path:
    """Where generated kernel modules (and numba's cache of them) live."""
    return cache_dir() / "kernels"


class Layout:
    """The array sizes rules of ``definitions`` need: hyper-parameter slots, state slots,
    step-state slots and coefficient rows (the largest of each)."""

    def __init__(self, definitions):
        self.hp_size = max((len(d.slot_names) for d in definitions), default=1)
        self.state_slots = max([1, *(len(d.state) for d in definitions)])
        self.scalar_slots = max([1, *(len(d.step_state) for d in definitions)])
        self.coef_slots = max([MIN_COEF_SLOTS, *(_coef_rows(d) for d in definitions)])


class Kernel(Layout):
    """A generated kernel module and the layout its arrays need. On the CPU, ``loop`` is the
    module whose ``cpu_block`` runs its blocks: the kernel itself, or for a user's rule (or
    the rules on a user's problem) the problem group's "cpu_loop" kernel, called with
    ``functions`` (``LOOP_FUNCTIONS``: the rule module's dispatch) as its first arguments
    after the block index."""

    def __init__(self, module, definitions: tuple, problems: tuple, loop=None,
                 functions: tuple = ()):
        super().__init__(definitions)
        self.module = module
        self.definitions = definitions
        self.problems = problems
        self.loop = loop or module
        self.functions = functions

    @property
    def modules(self) -> tuple:
        """The generated modules this kernel runs: its own, then its loop's."""
        return (self.module,) if self.loop is self.module else (self.module, self.loop)

    @property
    def compiled(self) -> tuple:
        """The dispatchers a CPU run compiles (or loads from disk) for this kernel."""
        return (self.loop.cpu_block, *self.functions)

    def code(self, optimizer) -> int:
        """The dispatch code of ``optimizer``'s rule in this kernel."""
        return self.definitions.index(definition_of(optimizer))

    def problem_code(self, problem) -> int:
        """The dispatch code of ``problem``'s hooks (an instance or a class) in this kernel."""
        return self.problems.index(_class(problem).unit())

    def __getattr__(self, name):
        return getattr(self.module, name)


def _class(spec) -> type:
    return spec if isinstance(spec, type) else type(spec)


def definition_of(optimizer) -> type:
    """The definition (class holding the rule) of an optimizer spec or class."""
    return _class(optimizer).definition()


def definitions_of(optimizers) -> tuple:
    """The distinct definitions of ``optimizers``, in a fixed order (by module:qualname)."""
    return tuple(sorted({definition_of(o) for o in optimizers}, key=definition_name))


@functools.lru_cache(maxsize=None)
def builtin_problem_units() -> tuple:
    """The classes holding the built-in problems' hooks, in a fixed order."""
    from .problems import REGISTRY

    return tuple(sorted({cls.unit() for cls in REGISTRY.values()}, key=definition_name))


def problem_units(problem) -> tuple:
    """The problem hooks a kernel running ``problem`` (an instance or a class) holds: every
    built-in family together (one kernel, compiled once, whatever the plan), or a user's
    problem alone (its own kernels: an edit recompiles only those)."""
    unit = _class(problem).unit()
    return builtin_problem_units() if is_builtin(unit) else (unit,)


def kernel_for(optimizers, target: str, problems: tuple = ()) -> Kernel:
    """The kernel of ``target`` ("cpu", "vector", "cuda", "problem") for the rules of
    ``optimizers`` (specs or classes) and the problem hooks of ``problems`` (a
    ``problem_units`` tuple), generated and imported on first use, then cached on disk."""
    return _kernel(definitions_of(optimizers), target, tuple(problems))


def problem_kernel(problem) -> Kernel:
    """The kernel holding ``problem``'s hooks alone (no optimizer): Python-side evaluation."""
    return kernel_for((), "problem", problem_units(problem))


@functools.lru_cache(maxsize=None)
def _kernel(definitions: tuple, target: str, problems: tuple) -> Kernel:
    if target == "cpu" and not all(map(is_builtin, (*definitions, *problems))):
        # a user's rule or problem: the rules' dispatch compiled in a module of its own, run
        # by the problem group's loop, which takes it as arguments: a new rule, or an edit
        # to one, compiles the rule alone
        rule = _kernel(definitions, "rule", ())
        return Kernel(rule.module, definitions, problems,
                      loop=_kernel((), "cpu_loop", problems).module,
                      functions=tuple(getattr(rule.module, name) for name in LOOP_FUNCTIONS))
    units = (*definitions, *problems)  # whose functions it runs
    users = [unit for unit in units if not is_builtin(unit)]  # the package's are tested
    for unit in users:
        check_names(unit)
    # the problem dispatch lives in a module of its own, compiled (and cached) once per
    # problem group and imported by every kernel of that group: a user's rule never
    # recompiles the built-in problems' code
    dispatch = (_kernel((), "problem", problems).module.__name__
                if problems and target != "problem" else None)
    source = kernel_source(definitions, target, problems, dispatch)
    functions = {}  # the module globals naming the units' compiled functions
    for i, definition in enumerate(definitions):  # any class: local, __main__, ...
        functions[f"_definition_{i}"] = definition
        for fn_name in ("update", "coefficients"):
            if getattr(definition, fn_name, None) is not None:
                functions[f"_{fn_name}_{i}"] = compiled_rule(definition, fn_name)
    for i, problem in enumerate(problems if dispatch is None else ()):
        for hook in PROBLEM_HOOKS:
            if callable(getattr(problem, hook, None)):
                functions[f"_{hook}_{i}"] = compiled_rule(problem, hook)
    module = _generated_module(f"optbench_{target}_kernel", source, users, functions)
    return Kernel(module, definitions, problems)


def _generated_module(prefix: str, source: str, users, functions: dict):
    """The module of ``source``, written once into the kernel directory as ``prefix`` and a
    hash of the source, and imported with ``functions`` set as its globals first; ``users``
    (a user's classes) pass ``check_compiles`` before a new file is written."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    name = f"{prefix}_{digest}"
    path = kernel_dir() / f"{name}.py"
    with _LOCK:
        if not path.exists():
            for unit in users:
                check_compiles(unit)  # a cached module passed these checks
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(source, encoding="utf-8")
            os.replace(tmp, path)
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            for key, value in functions.items():
                setattr(module, key, value)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    return sys.modules[name]


def cpu_kernel_groups(definitions, every_builtin: bool = True) -> list:
    """The definitions each CPU kernel holds: the built-in ones together (every built-in,
    or with ``every_builtin`` False, as for a user problem's kernels, those of
    ``definitions``), then each user definition alone."""
    from .optimizers import REGISTRY

    groups = [(d,) for d in definitions if not is_builtin(d)]
    builtins = [d for d in definitions if is_builtin(d)]
    if builtins:
        groups.insert(0, definitions_of(REGISTRY.values() if every_builtin else builtins))
    return groups


def problem_hooks_called(target: str) -> tuple:
    """The problem dispatch functions (``PROBLEM_DISPATCH``) the templates of ``target``
    call."""
    names = {name for ref in TARGETS[target] for name in _global_names(_resolve(ref))}
    return tuple(name for name in PROBLEM_DISPATCH if name in names)


def in_disk_cache(dispatcher) -> bool:
    """Whether numba's disk cache holds code of ``dispatcher`` (its index file exists; it
    may still lack the signature a call needs). True when that cannot be told."""
    try:
        return os.path.exists(dispatcher._cache._cache_file._index_path)
    except AttributeError:  # not cached on disk, or numba's cache moved
        return True


def definition_name(definition) -> str:
    """``module:qualname`` of a definition (what suite files and manifests name)."""
    return f"{definition.__module__}:{definition.__qualname__}"


def source_hash(definition) -> str:
    """SHA-256 of the source files of a definition and its rule functions (of the rules'
    compiled code when there is no file: a class made by ``exec``)."""
    digest = hashlib.sha256()
    files = sorted(_source_files(definition))
    for path in files:
        digest.update(Path(path).read_bytes())
    if not files:
        for name, fn in sorted(_rule_functions(definition).items()):
            digest.update(name.encode() + marshal.dumps(plain_function(fn).__code__))
    return digest.hexdigest()


def plugin_provenance(cls, unit=None) -> dict:
    """What a run directory records of a user's spec class ``cls``: the source hash (which
    ``--resume`` checks) and files of ``unit`` (the class holding its functions; default
    ``cls``), and the constructor's defaults (stand-ins rebuild the class from them)."""
    from .spec import _plain

    unit = unit or cls
    return {"source_sha256": source_hash(unit), "files": sorted(_source_files(unit)),
            "defaults": {k: _plain(v) for k, v in cls.defaults().items()}}


def _source_files(definition) -> set:
    """The existing source files of a definition's class and rule functions."""
    candidates = [getattr(sys.modules.get(definition.__module__), "__file__", None)]
    candidates += [plain_function(fn).__code__.co_filename
                   for fn in _rule_functions(definition).values()]
    return {str(Path(c).resolve()) for c in candidates if c and Path(c).is_file()}


def _rule_functions(definition) -> dict:
    return {name: getattr(definition, name)
            for name in ("update", "coefficients", "rule", *SCHEDULE_FUNCTIONS, *PROBLEM_HOOKS)
            if callable(getattr(definition, name, None))}


def _coef_rows(definition) -> int:
    """Rows of C a per-coordinate rule uses: its coefficients, then its lr."""
    if definition.update is None:
        return 0
    return len(definition.coefficient_names) + 1


# ---- checks: one line naming the plugin, its file and line ----------------------------


def _where(definition, fn_name) -> str:
    code = plain_function(getattr(definition, fn_name)).__code__
    return f"{definition.__qualname__}.{fn_name} ({code.co_filename}:{code.co_firstlineno})"


def _arguments(fn) -> list:
    return list(inspect.signature(plain_function(fn)).parameters)


def update_names(definition) -> tuple:
    """Names a per-coordinate ``update`` may take."""
    return ("x", "g", "lr", "t", *definition.state, *_hyper_scalars(definition),
            *definition.coefficient_names)


def coefficient_names_in(definition) -> tuple:
    """Names a ``coefficients`` function may take."""
    return ("t", "lr", *_hyper_scalars(definition), *definition.step_state)


def _hyper_scalars(definition) -> tuple:
    return tuple(n for n in definition.slot_names if n and n != "lr")


def _rule_parts(definition) -> list:
    """(function name, names it may take, values it returns) of a per-coordinate rule, a
    user problem's ``value_and_grad`` (and ``example_loss_grad``) or a schedule's
    ``lr_at``, ``lr_step`` and ``momentum_at``."""
    if is_schedule(definition):
        names = tuple(definition.param_names())
        return [(fn_name, (*SCHEDULE_VOCABULARY[fn_name], *names), 1)
                for fn_name in SCHEDULE_FUNCTIONS if getattr(definition, fn_name) is not None]
    if hasattr(definition, "unit"):  # a problem: its hooks (value_and_grad or rows first)
        return [(hook, names, 0 if hook in ("rows", "project") else 1)
                for hook, names in PROBLEM_HOOKS.items()
                if callable(getattr(definition, hook, None))]
    if getattr(definition, "update", None) is None:
        return []
    parts = [("update", update_names(definition), 1 + len(definition.state))]
    if definition.coefficients is not None:
        parts.append(("coefficients", coefficient_names_in(definition),
                      len(definition.coefficient_names) + len(definition.step_state)))
    elif definition.coefficient_names or definition.step_state:
        raise TypeError(f"{definition.__qualname__}: coefficient_names and step_state need a "
                        "coefficients function")
    return parts


def check_names(definition) -> None:
    """Refuse (one-line TypeError) a rule taking an argument no name provides, or a problem
    hook whose arguments are not the door's, in its order."""
    for fn_name, allowed, _ in _rule_parts(definition):
        args = _arguments(getattr(definition, fn_name))
        for arg in args:
            if arg not in allowed:
                raise TypeError(f"{_where(definition, fn_name)}: unknown argument {arg!r} "
                                f"(known: {', '.join(allowed)})")
        if fn_name in PROBLEM_HOOKS and (args != list(allowed[:len(args)])
                                         or len(args) < len(allowed) - (allowed[-1] == "work")):
            raise TypeError(f"{_where(definition, fn_name)}: takes ({', '.join(args)}); the "
                            f"problem door passes ({', '.join(allowed)})"
                            + (" (work optional)" if allowed[-1] == "work" else ""))


_COMPILED: dict = {}


def compiled_rule(definition: type, fn_name: str) -> Callable[..., Any]:
    """The ``@njit`` dispatcher of a per-coordinate rule's function, one per process: the
    check's compilation is reused by the kernel (same float64 signature)."""
    from numba import njit

    fn = getattr(definition, fn_name)
    if hasattr(fn, "py_func"):  # already a dispatcher (the built-in problems' hooks)
        return fn
    key = (definition, fn_name)
    if key not in _COMPILED:
        _COMPILED[key] = njit(error_model="numpy")(fn)
    return _COMPILED[key]


#: the functions ``check_compiles`` compiles on their own (float64 arrays and scalars in)
CHECKED = ("update", "coefficients", "lr_at", "lr_step", "momentum_at", "value_and_grad",
           "value", "example_loss_grad")


def check_compiles(definition) -> None:
    """Refuse (one-line TypeError) a rule numba cannot compile on float64 scalars, or one
    returning the wrong number of values."""
    from numba import types
    from numba.core.errors import NumbaError

    for fn_name, _, n_out in _rule_parts(definition):
        if fn_name not in CHECKED:
            continue  # compiled with its kernel
        where = _where(definition, fn_name)
        signature = _check_signature(definition, fn_name)
        compiled = compiled_rule(definition, fn_name)
        try:
            compiled.compile(signature)
        except NumbaError as exc:
            first = next((line for line in str(exc).splitlines() if line.strip()), "")
            raise TypeError(f"{where} does not compile with numba: {first.strip()}") from None
        returned = compiled.overloads[signature].signature.return_type
        count = len(returned) if isinstance(returned, types.BaseTuple) else 1
        if count != n_out:
            raise TypeError(f"{where} returns {count} value(s), expected {n_out}")


def _check_signature(definition, fn_name) -> tuple:
    """The numba types a rule function is checked with: float64 arrays (an int64 example
    index ``i``) for a problem's functions; float64 scalars (booleans for boolean
    hyper-parameters) for a rule."""
    from numba import types

    args = _arguments(getattr(definition, fn_name))
    if fn_name in ("value_and_grad", "value", "example_loss_grad"):
        return tuple(types.int64 if a == "i" else types.float64[:] for a in args)
    if fn_name in SCHEDULE_FUNCTIONS:  # the arguments as the generated dispatch passes them
        kinds = {"bool": types.boolean, "int": types.int64, "array": types.float64[::1]}
        own = definition.argument_kinds()
        return tuple(types.int64 if a == "k" else kinds.get(own.get(a, "float"), types.float64)
                     for a in args)
    return tuple(types.boolean if _is_bool(definition, a) else types.float64 for a in args)


def _is_bool(definition, scalar) -> bool:
    for key, spec in definition.hyperparameters.items():
        if scalar in spec.scalar_names(key):
            return isinstance(spec.default, bool)
    return False


# ---- source generation -----------------------------------------------------------------


def kernel_source(definitions: tuple, target: str, problems: tuple,
                  dispatch: str | None = None) -> str:
    """The text of the kernel module of ``target`` for the rules ``definitions`` and the
    problem hooks of ``problems``: their dispatch written here (the "problem" target), or
    imported from the module ``dispatch`` that holds it."""
    templates = [_resolve(ref) for ref in TARGETS[target]]
    layout = Layout(definitions)
    units = (*definitions, *problems)
    lines = [*_module_header(f"{target} kernel", units,
                             f"kernel sources {kernel_stamp(templates, definitions, problems)}"),
             "from optbench.kernels.problems import sample_index"]
    lines += _template_imports(templates, {
        "optimizer_init", "optimizer_step", "STATE_SLOTS", "SCALAR_SLOTS", "COEF_SLOTS",
        "sample_index", *PROBLEM_DISPATCH})
    lines.append("# _definition_0, ...: the definitions above, set by optbench.codegen")
    if definitions:
        lines += ["", f"STATE_SLOTS = {layout.state_slots}",
                  f"SCALAR_SLOTS = {layout.scalar_slots}", f"COEF_SLOTS = {layout.coef_slots}",
                  ""]
        for i, definition in enumerate(definitions):
            lines += _rule_source(i, definition)
        lines += _dispatch_source(definitions, inline=target == "cpu")
    if problems and dispatch is None:
        lines += _problems_source(problems)
    elif problems:
        lines += ["", f"from {dispatch} import ({', '.join(PROBLEM_DISPATCH)})"]
    for fn in templates:
        body = _body(fn)
        if target == "cpu_loop":  # the dispatch becomes arguments after the block index
            first = next(iter(inspect.signature(fn).parameters))
            body[0] = body[0].replace(f"({first}, ", f"({first}, {', '.join(LOOP_FUNCTIONS)}, ",
                                      1)
        lines += ["", "", f"@{fn.kernel_decorator}", *body]
    if target in ("cpu", "cpu_loop"):
        lines += _cpu_entry_source(templates[0], target == "cpu_loop")
    return "\n".join(lines) + "\n"


def _module_header(title: str, units, stamp: str) -> list:
    """A generated module's first lines: the docstring naming its units and the hashes of
    everything it runs (``stamp``: the package sources; each user unit's source; numba's
    version), then the imports every generated module has."""
    return [f'"""optbench {title} for {", ".join(map(definition_name, units))}.', "",
            "Generated by optbench.codegen; never edited. Inputs:", f"  optbench {stamp}",
            *(f"  {definition_name(u)} {source_hash(u)}" for u in units if not is_builtin(u)),
            f"  numba {_numba_version()}", '"""', "import math", "", "from numba import njit",
            ""]


def _template_imports(templates, defined) -> list:
    """``from module import name`` for each global the ``templates`` read that the generated
    module does not define (``defined``, the templates and the header's imports aside)."""
    defined = {*defined, "math", "njit", *(t.__name__ for t in templates)}
    imports = {}
    for fn in templates:
        for name in _global_names(fn):
            if name not in defined and name in fn.__globals__:  # not a builtin
                imports.setdefault(name, fn.__module__)
    return [f"from {module} import {name}" for name, module in sorted(imports.items())]


def _cpu_entry_source(loop, takes_functions: bool) -> list:
    """``cpu_block``: the CPU kernel's entry, what ``kernels.cpu.run_blocks`` calls per block
    (with ``takes_functions``, ``LOOP_FUNCTIONS`` after the block index), then the fields of
    the loop's argument bundles (``layout.BUNDLES``) flat: numba's ``prange`` cannot pass a
    tuple of arrays into its loop body, so the bundles are built here. It only calls the
    trajectory loop ``loop``, so that LLVM optimizes the loop a second time, inlined here:
    compiled on its own, the loop ran workload A 6-7% slower."""
    first = next(iter(inspect.signature(loop).parameters))
    leading = [first, *(LOOP_FUNCTIONS if takes_functions else ())]
    fields = [name for bundle in BUNDLES for name in bundle._fields]
    bundles = [f"{bundle.__name__}({', '.join(bundle._fields)})" for bundle in BUNDLES]
    return ["", "", f"from optbench.layout import {', '.join(b.__name__ for b in BUNDLES)}",
            "", "", f"@njit(cache=True, {_KW})",
            f"def cpu_block({', '.join(leading + fields)}):",
            f'    """{loop.__name__}, optimized once more inlined (codegen._cpu_entry_source)."""',
            f"    {loop.__name__}({', '.join(leading + bundles)})"]


def kernel_stamp(templates, definitions, problems=()) -> str:
    """The source stamp of a kernel: its templates' files, the built-in rules' files and the
    built-in problems' hooks' files, with the package files they import
    (``kernels.source_stamp``); a user's rule or problem is hashed on its own
    (``source_hash``)."""
    files = {inspect.getsourcefile(fn) for fn in templates}
    files |= {plain_function(d.rule).__code__.co_filename for d in definitions
              if is_builtin(d) and d.rule is not None}
    for unit in problems:  # the hooks' files (constants like rows_scale are in the source)
        if is_builtin(unit):
            files |= {plain_function(fn).__code__.co_filename
                      for fn in _rule_functions(unit).values()}
    return source_stamp(*sorted(files))


def _resolve(ref: str):
    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def _numba_version() -> str:
    import numba

    return numba.__version__


def _global_names(fn) -> list:
    """The globals a function's code reads (LOAD_GLOBAL), in order of first use."""
    names = []
    for ins in dis.get_instructions(fn):
        if ins.opname == "LOAD_GLOBAL" and ins.argval not in names:
            names.append(ins.argval)
    return names


def _body(fn) -> list:
    """A template's source without its decorators."""
    lines = inspect.getsource(fn).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("def "))
    return lines[start:]


def _dispatch_source(definitions, inline: bool = False) -> list:
    """``optimizer_init`` and ``optimizer_step`` over ``definitions``. With ``inline`` (the
    built-in kernel, which calls them directly; a rule loop takes them as first-class
    functions) numba inlines the step's dispatch into the loop: one call a step fewer, each
    passing every array field by field (workload B's kernel 1.73 -> 1.62 ms, A's 75.0 ->
    74.3 ms). The built-in rules are cached on their own (``cache=True``), so the kernel's
    compile loads them from the background build (``optbench.prebuild``) as it loaded the
    dispatch before (smoke suite from an empty cache 33.8 s; 41.9 s with uncached rules)."""
    step_kw = f"cache=True, {_KW}, inline='always'" if inline else f"cache=True, {_KW}"
    init = ["", "", f"@njit(cache=True, {_KW})", "def optimizer_init(code, hp, S, SC):",
            '    """Fresh state of rule ``code`` for one block."""',
            "    S[:, :, :] = 0.0", "    SC[:] = 0.0"]
    step = ["", "", f"@njit({step_kw})",
            "def optimizer_step(code, hp, lr, mom, t, X, G, S, SC, C):",
            '    """Step ``t`` (1-based) of rule ``code`` on one block, in place."""']
    initialised = 0  # branches written into optimizer_init
    for i, definition in enumerate(definitions):
        sets = [f"S[{j}, :, :] = {_initial(definition, v)}"
                for j, v in enumerate(definition.state.values()) if v != 0.0]
        sets += [f"SC[{j}] = {_initial(definition, v)}"
                 for j, v in enumerate(definition.step_state.values()) if v != 0.0]
        if sets:
            init += [f"    {'elif' if initialised else 'if'} code == {i}:",
                     *(f"        {s}" for s in sets)]
            initialised += 1
        if len(definitions) == 1:
            step.append("    _step_0(hp, lr, mom, t, X, G, S, SC, C)")
        else:
            step += [f"    {'elif' if i else 'if'} code == {i}:",
                     f"        _step_{i}(hp, lr, mom, t, X, G, S, SC, C)"]
    return init + step


#: the problem dispatch every kernel module defines (templates call them by these names)
PROBLEM_DISPATCH = ("problem_block_loss_grad", "problem_sample_grad", "problem_project",
                    "problem_rows_phases", "problem_rows", "problem_rows_loss")


def _problems_source(problems) -> list:
    """The problem dispatch over ``problems``' hooks, ``code`` being a class's index in the
    kernel (``Kernel.problem_code``): per class ``_block_i`` (f and grad f of every lane: the
    rows form over [0, d) phase by phase, or the per-point hook on each lane), the minibatch
    hook (``sample_grad``, or a loop of ``example_loss_grad`` over the keyed sample stream,
    whose data ends with n: ``Problem.kernel_data``), the projection and, for the CUDA
    block kernel, the rows form by phase."""
    kw = f"@njit(cache=True, {_KW})"
    kw_inline = f"@njit(cache=True, {_KW}, inline='always')"  # one call site each
    lines = ["", "", "# _value_and_grad_0, _rows_0, ...: the problems' hooks, compiled "
             "(codegen.compiled_rule)"]
    block, sample, project, phases, rows, rows_loss = {}, {}, {}, {}, {}, {}  # code -> body
    for i, unit in enumerate(problems):
        n_suffix = unit.example_loss_grad is not None and unit.sample_grad is None
        data = "p[:p.size - 1]" if n_suffix else "p"
        lines += ["", "", kw_inline, f"def _block_{i}(p, X, G, W, F, grad):",
                  f'    """{unit.__qualname__}: f and grad f of every lane."""',
                  f"    data = {data}"]
        if unit.rows is not None:
            count = (f"_rows_phases_{i}(data)" if callable(unit.rows_phases)
                     else str(int(unit.rows_phases)))
            scale = float(unit.rows_scale)
            lines += ["    for b in range(X.shape[1]):", "        F[b] = 0.0",
                      f"    for phase in range({count}):",
                      f"        _rows_{i}(X, G, W, F, data, phase, 0, X.shape[0], 1)"]
            if scale != 1.0:
                lines += ["    for b in range(X.shape[1]):", f"        F[b] = {scale!r} * F[b]"]
            phases[i] = [f"        data = {data}", f"        return {count}"]
            rows[i] = [f"        _rows_{i}(X, G, W, F, {data}, phase, i0, i1, di)"]
            if scale != 1.0:
                rows_loss[i] = [f"        return {scale!r} * total"]
        else:
            work = ", W[:, b]" if len(_arguments(unit.value_and_grad)) == 4 else ""
            full = f"_value_and_grad_{i}(X[:, b], G[:, b], data{work})"
            lines.append("    for b in range(X.shape[1]):")
            if unit.value is not None:
                vwork = ", W[:, b]" if len(_arguments(unit.value)) == 3 else ""
                lines += ["        if grad:", f"            F[b] = {full}", "        else:",
                          f"            F[b] = _value_{i}(X[:, b], data{vwork})"]
            else:
                lines.append(f"        F[b] = {full}")
        if unit.sample_grad is not None:
            sample[i] = [f"        return _sample_grad_{i}(x, g, p, w, key, step, batch, "
                         "replace)"]
        elif unit.example_loss_grad is not None:
            lines += ["", "", kw, f"def _sample_{i}(p, x, g, key, step, batch, replace):",
                      '    """1/b sum_{i in B_step} l_i and its gradient into g."""',
                      "    n = int(p[p.size - 1])", "    data = p[:p.size - 1]",
                      "    for i in range(g.shape[0]):", "        g[i] = 0.0", "    f = 0.0",
                      "    for j in range(batch):",
                      f"        f += _example_loss_grad_{i}(x, g, data, "
                      "sample_index(key, step, j, batch, n, replace))",
                      "    for i in range(g.shape[0]):", "        g[i] /= batch",
                      "    return f / batch"]
            sample[i] = [f"        return _sample_{i}(p, x, g, key, step, batch, replace)"]
        if unit.project is not None:
            project[i] = [f"        _project_{i}(X, p)"]
        block[i] = [f"        _block_{i}(p, X, G, W, F, grad)"]

    def fn(signature, doc, cases, end):
        return ["", "", kw, f"def {signature}:", f'    """{doc}"""', *_branches(cases), end]

    return lines + [
        *fn("problem_block_loss_grad(code, p, X, G, W, F, grad)",
            "f and grad f of every lane of a block (grad False: f only, where cheaper).",
            block, "    return"),
        *fn("problem_sample_grad(code, p, x, g, w, key, step, batch, replace)",
            "The gradient the optimizer sees in step ``step`` into g, its loss returned "
            "(NaN: the exact gradient stays).", sample, "    return math.nan"),
        *fn("problem_project(code, p, X)", "Project every lane onto the feasible set.",
            project, "    return"),
        *fn("problem_rows_phases(code, p)", "Phases of the rows form (0: none).", phases,
            "    return 0"),
        *fn("problem_rows(code, phase, p, X, G, W, F, i0, i1, di)",
            "Phase ``phase`` of the rows form on rows i0, i0 + di, ... < i1.", rows,
            "    return"),
        *fn("problem_rows_loss(code, total)", "f from the sum of the rows' terms.", rows_loss,
            "    return total"),
    ]


def _branches(cases: dict) -> list:
    """``if code == i:`` / ``elif code == j:`` ... over ``cases`` (code -> body lines)."""
    out = []
    for k, (code, body) in enumerate(cases.items()):
        out += [f"    {'elif' if k else 'if'} code == {code}:", *body]
    return out


def _initial(definition, value) -> str:
    if isinstance(value, str):
        return f"hp[{definition.slot_of(value)}]"
    return repr(float(value))


def _rule_source(i, definition) -> list:
    """``_step_i``: the definition's rule as a whole-block function. A per-coordinate
    ``update`` gets the loop: the coefficients, in the element type, once per block (scalars)
    or per lane (rows of C), and the lanes' lr (a row of C), then every coordinate of every
    lane. Generated names carry a prefix (h_ hyper-parameter, e_ its element-type copy, ss_
    step state, s_ state row, u_ coefficient scalar, c_ coefficient row, r_ other rows) so no
    user name can shadow them."""
    if definition.update is None:
        return [f"_step_{i} = _definition_{i}.rule", ""]
    state = list(definition.state)
    coefs = list(definition.coefficient_names)
    step_state = list(definition.step_state)
    momentum = definition.slot_names[1]
    lines = [f"# _update_{i}, _coefficients_{i}: its functions, compiled (codegen.compiled_rule)",
             "", "", f"@njit({_KW})", f"def _step_{i}(hp, lr, mom, t, X, G, S, SC, C):",
              f'    """{definition.__qualname__}: the per-coordinate update over a block."""',
              "    d, nb = X.shape"]
    for slot, name in enumerate(definition.slot_names):
        if name and name != "lr":
            value = "mom" if name == momentum else f"hp[{slot}]"
            lines.append(f"    h_{name} = {value} != 0.0" if _is_bool(definition, name)
                         else f"    h_{name} = {value}")
    for j, name in enumerate(step_state):
        lines.append(f"    ss_{name} = SC[{j}]")
    lr_row = len(coefs)
    args = _arguments(definition.update)
    names = {"x": "r_x[b]", "g": "r_g[b]", "lr": "r_lr[b]", "t": "t",
             **{n: f"s_{n}[b]" for n in state}, **{n: f"c_{n}[b]" for n in coefs}}
    for name in _hyper_scalars(definition):
        if name in args:
            boolean = _is_bool(definition, name)
            names[name] = f"h_{name}" if boolean else f"e_{name}"
            if not boolean:
                lines.append(f"    e_{name} = X.dtype.type(h_{name})")
    lines += ["    for b in range(nb):", f"        C[{lr_row}, b] = lr[b]",
              f"    r_lr = C[{lr_row}]"]

    def update_loop(indent, names):
        """Every coordinate of every lane, the update's arguments named by ``names``."""
        pad = " " * indent
        out = [f"{pad}for i in range(d):", f"{pad}    r_x = X[i]", f"{pad}    r_g = G[i]"]
        out += [f"{pad}    s_{name} = S[{j}, i]" for j, name in enumerate(state)]
        out += [f"{pad}    for b in range(nb):",
                f"{pad}        _r = _update_{i}({', '.join(names[a] for a in args)})"]
        if not state:
            return out + [f"{pad}        r_x[b] = _r"]
        return out + [f"{pad}        r_x[b] = _r[0]", *(f"{pad}        s_{name}[b] = _r[{j + 1}]"
                                                      for j, name in enumerate(state))]

    if definition.coefficients is None:
        return lines + update_loop(4, names) + [""]
    # once per block when every lane has the same lr (all but ReduceLROnPlateau's blocks:
    # the per-lane calls, pow included, cost more than a small block's update), the inner
    # loop then reading them as scalars (per-lane loads of equal values cost PlainAdam 5-10%
    # on workload A); else per lane, into rows of C; the same values either way
    arg_names = {"t": "t", **{n: f"ss_{n}" for n in step_state}}

    def call(lr):
        values = (lr if a == "lr" else arg_names.get(a, f"h_{a}")
                  for a in _arguments(definition.coefficients))
        return f"_coefficients_{i}({', '.join(values)})"

    n_out = len(coefs) + len(step_state)
    outs = ["_c" if n_out == 1 else f"_c[{j}]" for j in range(n_out)]
    lines += ["    uniform = True", "    for b in range(1, nb):",
              "        uniform = uniform and lr[b] == lr[0]",
              "    if uniform and nb > 0:", f"        _c = {call('lr[0]')}"]
    lines += [f"        u_{name} = X.dtype.type({got})" for name, got in zip(coefs, outs)]
    lines += [f"        SC[{j}] = {got}" for j, got in enumerate(outs[len(coefs):])]
    lines += update_loop(8, {**names, **{n: f"u_{n}" for n in coefs}})
    lines += ["    else:", "        for b in range(nb):", f"            _c = {call('lr[b]')}"]
    for j, got in enumerate(outs):
        target = f"C[{j}, b]" if j < len(coefs) else f"SC[{j - len(coefs)}]"
        lines.append(f"            {target} = {got}")
    lines += [f"        c_{name} = C[{j}]" for j, name in enumerate(coefs)]
    return lines + update_loop(8, names) + [""]


def plain_function(fn):
    """The Python function behind a rule (a plain function or an ``@njit`` one)."""
    return getattr(fn, "py_func", fn)


# ---- the cache as a user sees it ---------------------------------------------------------


def cache_info() -> dict:
    """Size and entries of the compiled-kernel cache."""
    root = cache_dir()
    files = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    return {"path": str(root), "bytes": sum(p.stat().st_size for p in files),
            "kernels": len(list(kernel_dir().glob("optbench_*.py"))) if root.exists() else 0,
            "files": len(files)}


def cache_clear() -> dict:
    """Delete the compiled-kernel cache; returns what it held."""
    info = cache_info()
    shutil.rmtree(cache_dir(), ignore_errors=True)
    _kernel.cache_clear()
    return info


# ---- schedules: the leaves' functions and torch's state machine --------------------------

#: a schedule's functions (``optbench.schedules.Schedule``)
SCHEDULE_FUNCTIONS = ("lr_at", "lr_step", "momentum_at")
#: the names each function may take besides the schedule's arguments
SCHEDULE_VOCABULARY = {
    "lr_at": ("k", "base_lr"),
    "lr_step": ("k", "lr", "base_lr", "group_initial_lr", "group_max_lr", "group_min_lr",
                "group_max_momentum", "group_base_momentum"),
    "momentum_at": ("k", "base_momentum", "group_initial_lr", "group_max_lr", "group_min_lr",
                    "group_max_momentum", "group_base_momentum"),
}


def is_schedule(cls) -> bool:
    """Whether ``cls`` is a leaf schedule class (one with ``lr_at`` or ``lr_step``)."""
    return (isinstance(cls, type) and hasattr(cls, "is_plateau")
            and any(getattr(cls, f, None) is not None for f in ("lr_at", "lr_step")))


@functools.lru_cache(maxsize=None)
def builtin_schedule_classes() -> tuple:
    """Every built-in leaf schedule class, in a fixed order."""
    from .schedules import REGISTRY

    return tuple(sorted((c for c in REGISTRY.values() if is_schedule(c)), key=definition_name))


def schedule_classes(classes) -> tuple:
    """The leaf classes the interpreter module running ``classes`` holds: every built-in one
    (one module, compiled once per machine, whatever the schedule), or, for a schedule with
    a user's leaf, the distinct classes it uses (a user's edit recompiles only those)."""
    if all(is_builtin(c) for c in classes):
        return builtin_schedule_classes()
    return tuple(sorted(set(classes), key=definition_name))


@functools.lru_cache(maxsize=None)
def schedule_module(classes: tuple):
    """The generated module holding torch's scheduler state machine
    (``schedule_tables.fill_tables``) over the leaf schedule ``classes``, whose functions
    it calls through ``leaf_lr`` and ``leaf_momentum``, ``code`` being a class's index in
    ``classes``; imported on first use, cached on disk like the kernels."""
    users = [cls for cls in classes if not is_builtin(cls)]
    for cls in users:
        check_names(cls)
    functions = {f"_{fn_name}_{i}": compiled_rule(cls, fn_name)
                 for i, cls in enumerate(classes) for fn_name in SCHEDULE_FUNCTIONS
                 if getattr(cls, fn_name) is not None}
    return _generated_module("optbench_schedule_tables", schedule_source(classes), users,
                             functions)


def schedule_source(classes: tuple) -> str:
    """The text of the schedule module for the leaf ``classes``: the dispatch over their
    functions, each argument taken by name (``schedule_arguments``), then the interpreter's
    templates."""
    from . import schedule_tables as st

    files = {inspect.getsourcefile(st)}
    files |= {plain_function(getattr(cls, f)).__code__.co_filename for cls in classes
              if is_builtin(cls) for f in SCHEDULE_FUNCTIONS if getattr(cls, f) is not None}
    lines = [*_module_header("schedule tables", classes,
                             f"schedule sources {source_stamp(*sorted(files))}"),
             *_template_imports(st.INTERPRETER, {"leaf_lr", "leaf_momentum"})]
    lines.append("# _lr_at_0, _lr_step_0, _momentum_at_0, ...: the classes' functions, compiled "
                 "(codegen.compiled_rule)")
    lr_cases, mom_cases = {}, {}
    for i, cls in enumerate(classes):
        exprs = schedule_arguments(cls)

        def call(fn_name, i=i, cls=cls, exprs=exprs):
            args = ", ".join(exprs[a] for a in _arguments(getattr(cls, fn_name)))
            return f"_{fn_name}_{i}({args})"

        if cls.lr_at is not None and cls.lr_step is not None:
            lr_cases[i] = ["        if closed:", f"            return {call('lr_at')}",
                           f"        return {call('lr_step')}"]
        else:
            lr_cases[i] = [f"        return {call('lr_at' if cls.lr_step is None else 'lr_step')}"]
        if cls.momentum_at is not None:
            mom_cases[i] = [f"        return {call('momentum_at')}"]
    kw = f"@{st.INLINED}"  # the dispatch, inlined with the leaf calls
    lines += ["", "", kw, "def leaf_lr(code, closed, k, lr, base_lr, base_momentum, g, p, data):",
              '    """The lr leaf class ``code`` sets at its epoch ``k``: ``get_lr()`` (its lr_step, '
              'else its lr_at),', "    or with ``closed`` its closed form (its lr_at, else its "
              'lr_step)."""', *_branches(lr_cases), "    return lr"]
    lines += ["", "", kw, "def leaf_momentum(code, k, base_lr, base_momentum, g, p, data):",
              '    """The momentum (or beta1) leaf class ``code`` sets at its epoch ``k``."""',
              *_branches(mom_cases), "    return math.nan"]
    for fn in st.INTERPRETER:
        lines += ["", "", f"@{fn.kernel_decorator}", *_body(fn)]
    return "\n".join(lines) + "\n"


def schedule_arguments(cls) -> dict:
    """name -> the expression the dispatch passes for it: the vocabulary (``k``, ``lr``,
    ``base_lr``, ``base_momentum``, the ``group_*`` values of the param group ``g``), then
    the class's arguments (``Schedule.argument_kinds``, which take precedence) from its
    parameter row ``p``: a float, an int, a bool or an array of ``data`` (offset, length)."""
    from .schedule_tables import GROUP_NAMES

    exprs = {"k": "k", "lr": "lr", "base_lr": "base_lr", "base_momentum": "base_momentum",
             **{name: f"g[{col}]" for name, col in GROUP_NAMES.items()}}
    slot = 0
    for name, kind in cls.argument_kinds().items():
        if kind == "array":
            exprs[name] = f"data[int(p[{slot}]):int(p[{slot}]) + int(p[{slot + 1}])]"
            slot += 2
            continue
        exprs[name] = {"int": f"int(p[{slot}])", "bool": f"p[{slot}] != 0.0"}.get(kind, f"p[{slot}]")
        slot += 1
    return exprs
