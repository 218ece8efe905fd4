"""Learning-rate and momentum schedule tables, computed on the host before a run.

Kernels read the tables filled here (one lr and momentum per step), never the schedules'
functions themselves, so this module lives outside ``optbench.kernels``: editing it leaves
every compiled kernel valid.

One mechanism for every schedule, built-in or a user's:

1. Each leaf schedule class (``optbench.schedules``) defines its math as numba-compilable
   functions whose arguments are taken by name (the door, ``Schedule``'s docstring):
   ``lr_at`` (the closed form of step k: torch's ``_get_closed_form_lr``, or ``get_lr`` of
   the schedules whose lr is a function of the step), ``lr_step`` (torch's recursive,
   chainable ``get_lr``, where torch has one) and ``momentum_at``, with torch's order of
   floating-point operations (the optax / Keras formula for schedules torch lacks); what it
   does to the optimizer's param group at construction is a list of constants
   (``Schedule.group_at_construction``). The small helpers below (``one_cycle``,
   ``cyclic_scale``, ``table_value``, ...) are shared by those functions.
2. The interpreter (``fill_tables`` and its helpers, below): one generic replay of torch's
   scheduler state machine (construction side effects with ``setdefault('initial_lr')``,
   the initial step, ``step()``, SequentialLR's undo/redo and milestone resets,
   ChainedScheduler's in-order stepping) that calls a leaf's functions through
   ``leaf_lr`` / ``leaf_momentum`` and writes the per-step lr and momentum tables. The
   interpreter functions are templates: ``optbench.codegen.schedule_module`` writes them,
   with a dispatch over leaf classes (every built-in one together, compiled once per
   machine, or for a schedule with a user's leaf the classes that schedule uses), into a
   module in the cache directory named by a hash of its source, compiled with
   ``cache=True``. ReduceLROnPlateau's leaf only holds the lr (the engine lowers it).

Everything here is scalars and preallocated arrays in, nothing allocated, no exceptions
(``error_model="numpy"``: a division by zero gives inf/nan instead of raising; the Python
side refuses such configurations before they get here).

Table convention (n_steps + 1 entries): entry k is what torch's ``param_groups[0]['lr']``
holds after k calls of ``scheduler.step()``, i.e. the lr applied in optimizer step k; the
momentum table likewise holds ``momentum`` / ``betas[0]``, NaN while no schedule has set it.

Why a leaf's state needs no more than its epoch: torch's ``_is_initial`` (ExponentialLR,
LinearLR, PolynomialLR, CosineAnnealingLR) is True exactly when a step reaches epoch 0 here
(a SequentialLR milestone resets to epoch 0 through the closed form, never through
``step()``), so ``lr_step`` tests ``k == 0``; CosineAnnealingLR's ``_step_count == 1 and
last_epoch > 0`` branch (a scheduler resumed with ``last_epoch``) is never reached; and
CosineAnnealingWarmRestarts' integer ``T_cur`` / ``T_i`` are those of epoch k (also after
SequentialLR's ``step(0)``, which sets ``T_cur = 0, T_i = T_0``).
"""
import math

from numba import njit

from .kernels import template

# composition kinds: a single schedule is a ChainedScheduler of one
K_CHAINED = 0
K_SEQUENTIAL = 1

# per-leaf integer columns: the leaf class's index in the dispatch, whether it sets the
# momentum, how many construction entries it has
L_CODE, L_MOMENTUM, L_N_CONSTRUCT = range(3)
N_LEAF = 3
# per-leaf state columns: torch's last_epoch, base_lrs[0]
ST_EPOCH, ST_BASE = range(2)
N_STATE = 2
# optimizer param-group columns (torch's group dict): lr, initial_lr (+ whether set),
# momentum/beta1, and the keys OneCycleLR/CyclicLR store in the group
G_LR, G_INITIAL_LR, G_HAS_INITIAL, G_MOMENTUM, G_MAX_LR, G_MIN_LR, G_MAX_MOM, G_BASE_MOM = range(8)
N_GROUP = 8
#: a construction entry that sets the scheduler's base_lrs after its initial step (CyclicLR)
C_BASE_LRS = N_GROUP
#: construction keys (``Schedule.group_at_construction``) -> column
CONSTRUCTION_KEYS = {"lr": G_LR, "initial_lr": G_INITIAL_LR, "momentum": G_MOMENTUM,
                     "max_lr": G_MAX_LR, "min_lr": G_MIN_LR, "max_momentum": G_MAX_MOM,
                     "base_momentum": G_BASE_MOM, "base_lrs": C_BASE_LRS}
#: group values a leaf's ``lr_step`` / ``momentum_at`` may take by name -> column
GROUP_NAMES = {"group_initial_lr": G_INITIAL_LR, "group_max_lr": G_MAX_LR,
               "group_min_lr": G_MIN_LR, "group_max_momentum": G_MAX_MOM,
               "group_base_momentum": G_BASE_MOM}

CYCLIC_TRIANGULAR, CYCLIC_TRIANGULAR2, CYCLIC_EXP_RANGE = 0, 1, 2
# a user's scale_fn, tabulated by cycle or by iteration (torch's scale_mode)
CYCLIC_TABLE_CYCLE, CYCLIC_TABLE_ITERATIONS = 3, 4
ANNEAL_COS, ANNEAL_LINEAR = 0, 1


# ---- helpers of the leaves' functions (torch.optim.lr_scheduler 2.x unless noted) --------


@njit(error_model="numpy")
def count_equal(values, value):
    """How many entries of ``values`` equal ``value``."""
    n = 0
    for i in range(values.shape[0]):
        if values[i] == value:
            n += 1
    return n


@njit(error_model="numpy")
def bisect_right(values, value):
    """Python's bisect_right on the sorted array ``values``."""
    lo = 0
    hi = values.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if value < values[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(error_model="numpy")
def py_mod(a, b):
    """Python's integer modulo (sign of the divisor)."""
    r = a % b
    if r != 0 and (r < 0) != (b < 0):
        r += b
    return r


@njit(error_model="numpy")
def cyclic_scale(epoch, total_size, step_ratio):
    """CyclicLR's (cycle, scale_factor) at ``epoch``."""
    cycle = math.floor(1.0 + epoch / total_size)
    x = 1.0 + epoch / total_size - cycle
    if x <= step_ratio:
        scale_factor = x / step_ratio
    else:
        scale_factor = (x - 1.0) / (step_ratio - 1.0)
    return cycle, scale_factor


@njit(error_model="numpy")
def cyclic_amplitude(epoch, cycle, mode, gamma, table):
    """CyclicLR's scale_fn: triangular 1, triangular2 1/2**(cycle-1), exp_range gamma**epoch,
    or a user's scale_fn tabulated in ``table`` by cycle or by iteration."""
    if mode == CYCLIC_TRIANGULAR:
        return 1.0
    if mode == CYCLIC_TRIANGULAR2:
        return 1.0 / math.pow(2.0, float(cycle - 1))
    if mode == CYCLIC_TABLE_CYCLE:
        return table[cycle]
    if mode == CYCLIC_TABLE_ITERATIONS:
        return table[epoch]
    return math.pow(gamma, float(epoch))


@njit(error_model="numpy")
def _anneal(start, end, pct, strategy):
    if strategy == ANNEAL_COS:
        cos_out = math.cos(math.pi * pct) + 1.0
        return end + (start - end) / 2.0 * cos_out
    return (end - start) * pct + start


@njit(error_model="numpy")
def one_cycle(step_num, total_steps, pct_start, strategy, three_phase, initial_lr, max_lr,
              min_lr, max_momentum, base_momentum):
    """OneCycleLR.get_lr (Smith & Topin, 2018): (lr, momentum) at ``step_num``."""
    n_phases = 3 if three_phase else 2
    start_step = 0.0
    lr = math.nan
    mom = math.nan
    for i in range(n_phases):
        if i == n_phases - 1:
            end_step = total_steps - 1.0
        elif i == 0:
            end_step = pct_start * total_steps - 1.0
        else:
            end_step = 2.0 * pct_start * total_steps - 2.0
        if step_num <= end_step or i == n_phases - 1:
            pct = (step_num - start_step) / (end_step - start_step)
            if i == 0:
                lr = _anneal(initial_lr, max_lr, pct, strategy)
                mom = _anneal(max_momentum, base_momentum, pct, strategy)
            elif i == n_phases - 1 and three_phase:
                lr = _anneal(initial_lr, min_lr, pct, strategy)
                mom = _anneal(max_momentum, max_momentum, pct, strategy)
            elif i == n_phases - 1:
                lr = _anneal(max_lr, min_lr, pct, strategy)
                mom = _anneal(base_momentum, max_momentum, pct, strategy)
            else:
                lr = _anneal(max_lr, initial_lr, pct, strategy)
                mom = _anneal(base_momentum, max_momentum, pct, strategy)
            break
        start_step = end_step
    return lr, mom


@njit(error_model="numpy")
def table_value(values, epoch):
    """values[epoch], holding the last entry past the end."""
    count = values.shape[0]
    i = epoch if epoch < count else count - 1
    return values[i]


@njit
def function_factor_table(fn, out):
    """out[k] = fn(k): a user's jitted factor function tabulated (FunctionLR, CyclicLR)."""
    for k in range(out.shape[0]):
        out[k] = fn(k)


# ---- the interpreter: torch's scheduler state machine (templates, see the module doc) ------

_DECORATOR = "njit(cache=True, error_model='numpy')"
#: a step's leaf calls, inlined into the interpreter's loop (with the generated dispatch):
#: called, they made a 10,000-step cosine table 2.2x slower (0.96 ms against 0.36 ms), for
#: 4 s more of compile once per machine (13.5 s against 9.5 s)
INLINED = "njit(cache=True, inline='always', error_model='numpy')"


@template(INLINED)
def _leaf_set(c, closed, k, leaves, params, data, base_momentum, group, state):
    """Leaf ``c``'s lr (and momentum) of its epoch ``k`` into the group: ``get_lr()``
    (``closed`` False: its ``lr_step``, else its ``lr_at``) or, ``closed``, torch's
    ``_get_closed_form_lr()`` (its ``lr_at``, else its ``lr_step``)."""
    code = leaves[c, L_CODE]
    p = params[c]
    base_lr = state[c, ST_BASE]
    if leaves[c, L_MOMENTUM] != 0:
        group[G_MOMENTUM] = leaf_momentum(code, k, base_lr, base_momentum, group, p, data)  # noqa: F821
    group[G_LR] = leaf_lr(code, closed, k, group[G_LR], base_lr, base_momentum, group, p,  # noqa: F821
                          data)


@template(INLINED)
def _leaf_step(c, leaves, params, data, base_momentum, group, state):
    """The leaf's ``step()``: last_epoch += 1, then ``get_lr()``."""
    state[c, ST_EPOCH] += 1.0
    _leaf_set(c, False, int(state[c, ST_EPOCH]), leaves, params, data, base_momentum, group,
              state)


@template(_DECORATOR)
def _construct(c, leaves, construct, params, data, base_momentum, group, state):
    """The leaf's ``__init__``: its side effects on the group in order, LRScheduler's
    ``group.setdefault("initial_lr", lr)`` and ``base_lrs``, the initial step, and what it
    sets after that (CyclicLR's ``base_lrs``)."""
    n = leaves[c, L_N_CONSTRUCT]
    for j in range(n):
        key = int(construct[c, j, 0])
        if key < N_GROUP:
            group[key] = construct[c, j, 1]
            if key == G_INITIAL_LR:
                group[G_HAS_INITIAL] = 1.0
    if group[G_HAS_INITIAL] == 0.0:
        group[G_INITIAL_LR] = group[G_LR]
        group[G_HAS_INITIAL] = 1.0
    state[c, ST_BASE] = group[G_INITIAL_LR]
    state[c, ST_EPOCH] = -1.0
    _leaf_step(c, leaves, params, data, base_momentum, group, state)  # the initial step
    for j in range(n):
        if int(construct[c, j, 0]) == C_BASE_LRS:
            state[c, ST_BASE] = construct[c, j, 1]


@template(_DECORATOR)
def fill_tables(kind, leaves, construct, params, data, milestones, base_lr, base_momentum,
                group, state, out_lr, out_mom):
    """Fill ``out_lr``/``out_mom`` (n_steps + 1 entries) with torch's schedule trace.

    kind: K_CHAINED (ChainedScheduler; a single schedule is a chain of one) or K_SEQUENTIAL
    (SequentialLR with int64 ``milestones``); per child schedule c, in construction order:
    leaves[c] (N_LEAF ints), construct[c] ((key, value) rows), params[c] (its arguments'
    row: numbers, and offset and length of arrays in ``data``); base_lr, base_momentum: the
    optimizer's lr and momentum (or beta1); group (N_GROUP) and state (children, N_STATE):
    scratch.
    """
    n_children = leaves.shape[0]
    for i in range(N_GROUP):
        group[i] = math.nan
    group[G_LR] = base_lr
    group[G_HAS_INITIAL] = 0.0
    # every child scheduler is constructed (and takes its initial step) in order
    for c in range(n_children):
        _construct(c, leaves, construct, params, data, base_momentum, group, state)
    if kind == K_SEQUENTIAL:
        group[G_LR] = group[G_INITIAL_LR]
        for c in range(n_children):
            state[c, ST_EPOCH] -= 1.0
        _leaf_step(bisect_right(milestones, 0), leaves, params, data, base_momentum,
                   group, state)
    out_lr[0] = group[G_LR]
    out_mom[0] = group[G_MOMENTUM]
    seq_epoch = 0
    for k in range(1, out_lr.shape[0]):
        if kind == K_SEQUENTIAL:
            seq_epoch += 1
            idx = bisect_right(milestones, seq_epoch)
            if idx > 0 and milestones[idx - 1] == seq_epoch:  # step(0): epoch 0, closed form
                state[idx, ST_EPOCH] = 0.0
                _leaf_set(idx, True, 0, leaves, params, data, base_momentum, group, state)
            else:
                _leaf_step(idx, leaves, params, data, base_momentum, group, state)
        else:
            for c in range(n_children):
                _leaf_step(c, leaves, params, data, base_momentum, group, state)
        out_lr[k] = group[G_LR]
        out_mom[k] = group[G_MOMENTUM]


#: the interpreter's templates, callees first (what ``codegen.schedule_module`` compiles)
INTERPRETER = (_leaf_set, _leaf_step, _construct, fill_tables)
