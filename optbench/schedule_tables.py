"""Learning-rate and momentum schedule tables, computed on the host before a run.

Kernels read the tables these functions fill (one lr and momentum per step), never the
functions themselves, so this module lives outside ``optbench.kernels``: editing it leaves
every compiled kernel valid.

Two layers:

1. One small scalar function per schedule family (``step_lr``, ``cosine_annealing_lr``,
   ``one_cycle``, ...). Each is the formula of torch's ``get_lr`` (the recursive, chainable
   form where torch has one) or ``_get_closed_form_lr``, with torch's order of floating-point
   operations, or the optax / Keras formula for schedules torch lacks.
2. ``fill_tables``: a small interpreter that replays torch's scheduler state machine
   (construction side effects, the initial step, ``step()``, SequentialLR's undo/redo and
   milestone resets, ChainedScheduler's in-order stepping) on a flat description of a
   schedule (integer codes, parameter rows, a data array) and writes the per-step lr and
   momentum tables. It calls the family functions above and nothing else does the math.

Everything here is scalars and preallocated arrays in, nothing allocated, no exceptions
(``error_model="numpy"``: a division by zero gives inf/nan instead of raising; the Python
side refuses such configurations before they get here).

Table convention (n_steps + 1 entries): entry k is what torch's ``param_groups[0]['lr']``
holds after k calls of ``scheduler.step()``, i.e. the lr applied in optimizer step k; the
momentum table likewise holds ``momentum`` / ``betas[0]``, NaN while no schedule has set it.
"""
import math

from numba import njit

from . import kernels  # noqa: F401  (registers the cache locator before fill_tables)

# ---- leaf schedule codes ----------------------------------------------------------------
S_HOLD = 0  # leaves the lr alone (ReduceLROnPlateau's placeholder table)
S_CONSTANT = 1
S_STEP = 2
S_MULTISTEP = 3
S_EXPONENTIAL = 4
S_LINEAR = 5
S_POLYNOMIAL = 6
S_COSINE = 7
S_WARM_RESTARTS = 8
S_CYCLIC = 9
S_ONE_CYCLE = 10
S_FACTOR_TABLE = 11  # LambdaLR with a tabulated factor: lr = base_lr * table[epoch]
S_VALUE_TABLE = 12  # absolute per-step lrs: lr = table[epoch] (and momenta, optionally)
S_INVERSE_TIME = 13
S_WARMUP_COSINE = 14

# composition kinds: a single schedule is a ChainedScheduler of one
K_CHAINED = 0
K_SEQUENTIAL = 1

N_PARAMS = 12  # length of each leaf's parameter row

# parameter row layouts (index into params[c])
# ConstantLR: factor, total_iters
# StepLR: step_size, gamma
# MultiStepLR: gamma, data offset, count (sorted milestones in data)
# ExponentialLR: gamma
# LinearLR: start_factor, end_factor, total_iters
# PolynomialLR: total_iters, power
# CosineAnnealingLR: T_max, eta_min
# CosineAnnealingWarmRestarts: T_0, T_mult, eta_min
# CyclicLR: base_lr, max_lr, total_size, step_ratio, mode, gamma, cycle_momentum,
#           base_momentum, max_momentum
# OneCycleLR: max_lr, total_steps, pct_start, anneal (0 cos, 1 linear), cycle_momentum,
#             base_momentum, max_momentum, div_factor, final_div_factor, three_phase
# factor / value tables: data offset, count; value tables also: momentum data offset,
#     whether momenta are given (a user's schedule: its lr_at / momentum_at, tabulated)
# InverseTimeDecay: decay_steps, decay_rate, staircase
# WarmupCosine: warmup_steps, decay_steps, peak_lr, end_lr, init_value, exponent
CY_BASE_LR = 0
CYCLIC_TRIANGULAR, CYCLIC_TRIANGULAR2, CYCLIC_EXP_RANGE = 0, 1, 2
# a user's scale_fn, tabulated by cycle or by iteration (torch's scale_mode)
CYCLIC_TABLE_CYCLE, CYCLIC_TABLE_ITERATIONS = 3, 4
ANNEAL_COS, ANNEAL_LINEAR = 0, 1

# per-leaf state columns: torch's last_epoch, _step_count, base_lrs[0], T_cur, T_i
ST_EPOCH, ST_COUNT, ST_BASE, ST_TCUR, ST_TI = range(5)
N_STATE = 5
# optimizer param-group columns (torch's group dict): lr, initial_lr (+ whether set),
# momentum/beta1, and the keys OneCycleLR/CyclicLR store in the group
G_LR, G_INITIAL_LR, G_HAS_INITIAL, G_MOMENTUM, G_MAX_LR, G_MIN_LR, G_MAX_MOM, G_BASE_MOM = range(8)
N_GROUP = 8


# ---- family formulas (torch.optim.lr_scheduler 2.x unless noted) -------------------------


@njit(error_model="numpy")
def constant_lr(lr, epoch, factor, total_iters):
    """ConstantLR.get_lr: lr*factor at epoch 0, lr/factor back at total_iters."""
    if epoch == 0:
        return lr * factor
    if epoch != total_iters:
        return lr
    return lr * (1.0 / factor)


@njit(error_model="numpy")
def constant_lr_closed(base_lr, epoch, factor, total_iters):
    return base_lr * (factor + (1.0 if epoch >= total_iters else 0.0) * (1.0 - factor))


@njit(error_model="numpy")
def step_lr(lr, epoch, step_size, gamma):
    """StepLR.get_lr: lr*gamma every step_size epochs."""
    if epoch == 0 or epoch % step_size != 0:
        return lr
    return lr * gamma


@njit(error_model="numpy")
def step_lr_closed(base_lr, epoch, step_size, gamma):
    return base_lr * math.pow(gamma, float(epoch // step_size))


@njit(error_model="numpy")
def _count_equal(data, off, count, value):
    n = 0
    for i in range(count):
        if data[off + i] == value:
            n += 1
    return n


@njit(error_model="numpy")
def _bisect_right(data, off, count, value):
    """Python's bisect_right on the sorted slice data[off:off+count]."""
    lo = 0
    hi = count
    while lo < hi:
        mid = (lo + hi) // 2
        if value < data[off + mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(error_model="numpy")
def multistep_lr(lr, epoch, gamma, data, off, count):
    """MultiStepLR.get_lr: lr*gamma**(times epoch occurs among the milestones)."""
    n = _count_equal(data, off, count, float(epoch))
    if n == 0:
        return lr
    return lr * math.pow(gamma, float(n))


@njit(error_model="numpy")
def multistep_lr_closed(base_lr, epoch, gamma, data, off, count):
    return base_lr * math.pow(gamma, float(_bisect_right(data, off, count, float(epoch))))


@njit(error_model="numpy")
def exponential_lr(lr, gamma, is_initial):
    """ExponentialLR.get_lr: lr*gamma each step (unchanged by the initial step)."""
    if is_initial:
        return lr
    return lr * gamma


@njit(error_model="numpy")
def exponential_lr_closed(base_lr, epoch, gamma):
    return base_lr * math.pow(gamma, float(epoch))


@njit(error_model="numpy")
def linear_lr(lr, epoch, start_factor, end_factor, total_iters, is_initial):
    """LinearLR.get_lr (chainable form)."""
    if epoch == 0:
        return lr * start_factor
    if is_initial or epoch > total_iters:
        return lr
    return lr * (1.0 + (end_factor - start_factor)
                 / (total_iters * start_factor + (epoch - 1) * (end_factor - start_factor)))


@njit(error_model="numpy")
def linear_lr_closed(base_lr, epoch, start_factor, end_factor, total_iters):
    return base_lr * (start_factor
                      + (end_factor - start_factor) * min(total_iters, epoch) / total_iters)


@njit(error_model="numpy")
def polynomial_lr(lr, epoch, total_iters, power, is_initial):
    """PolynomialLR.get_lr (chainable form)."""
    if is_initial or epoch > total_iters:
        return lr
    decay = math.pow((1.0 - epoch / total_iters) / (1.0 - (epoch - 1) / total_iters), power)
    return lr * decay


@njit(error_model="numpy")
def polynomial_lr_closed(base_lr, epoch, total_iters, power):
    return base_lr * math.pow(1.0 - min(total_iters, epoch) / total_iters, power)


@njit(error_model="numpy")
def _py_mod(a, b):
    """Python's integer modulo (sign of the divisor)."""
    r = a % b
    if r != 0 and (r < 0) != (b < 0):
        r += b
    return r


@njit(error_model="numpy")
def cosine_annealing_lr(lr, base_lr, epoch, step_count, t_max, eta_min, is_initial):
    """CosineAnnealingLR.get_lr: torch's recursive form, valid past T_max too."""
    if is_initial:
        return lr
    if step_count == 1 and epoch > 0:
        return eta_min + (base_lr - eta_min) * (1.0 + math.cos(epoch * math.pi / t_max)) / 2.0
    if _py_mod(epoch - 1 - t_max, 2 * t_max) == 0:
        return lr + (base_lr - eta_min) * (1.0 - math.cos(math.pi / t_max)) / 2.0
    return ((1.0 + math.cos(math.pi * epoch / t_max))
            / (1.0 + math.cos(math.pi * (epoch - 1) / t_max))
            * (lr - eta_min) + eta_min)


@njit(error_model="numpy")
def cosine_annealing_lr_closed(base_lr, epoch, t_max, eta_min):
    return eta_min + (base_lr - eta_min) * (1.0 + math.cos(math.pi * epoch / t_max)) / 2.0


@njit(error_model="numpy")
def warm_restarts_lr(base_lr, t_cur, t_i, eta_min):
    """CosineAnnealingWarmRestarts.get_lr (SGDR, Loshchilov & Hutter 2017)."""
    return eta_min + (base_lr - eta_min) * (1.0 + math.cos(math.pi * t_cur / t_i)) / 2.0


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
def cyclic_amplitude(epoch, cycle, mode, gamma, data, table):
    """CyclicLR's scale_fn: triangular 1, triangular2 1/2**(cycle-1), exp_range gamma**epoch,
    or a user's scale_fn tabulated at ``data[table:]`` by cycle or by iteration."""
    if mode == CYCLIC_TRIANGULAR:
        return 1.0
    if mode == CYCLIC_TRIANGULAR2:
        return 1.0 / math.pow(2.0, float(cycle - 1))
    if mode == CYCLIC_TABLE_CYCLE:
        return data[table + cycle]
    if mode == CYCLIC_TABLE_ITERATIONS:
        return data[table + epoch]
    return math.pow(gamma, float(epoch))


@njit(error_model="numpy")
def cyclic_lr(base_lr, max_lr, epoch, total_size, step_ratio, mode, gamma, data, table):
    """CyclicLR.get_lr (Smith, 2017): lr in [base_lr, max_lr]."""
    cycle, scale_factor = cyclic_scale(epoch, total_size, step_ratio)
    base_height = (max_lr - base_lr) * scale_factor
    return base_lr + base_height * cyclic_amplitude(epoch, cycle, mode, gamma, data, table)


@njit(error_model="numpy")
def cyclic_momentum(base_momentum, max_momentum, epoch, total_size, step_ratio, mode, gamma,
                    data, table):
    """CyclicLR's momentum: max_momentum - (max - base)*scale, opposite to the lr."""
    cycle, scale_factor = cyclic_scale(epoch, total_size, step_ratio)
    base_height = (max_momentum - base_momentum) * scale_factor
    return max_momentum - base_height * cyclic_amplitude(epoch, cycle, mode, gamma, data, table)


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
def inverse_time_lr(base_lr, epoch, decay_steps, decay_rate, staircase):
    """keras.optimizers.schedules.InverseTimeDecay: lr0 / (1 + rate * k/decay_steps)."""
    p = epoch / decay_steps
    if staircase:
        p = math.floor(p)
    return base_lr / (1.0 + decay_rate * p)


@njit(error_model="numpy")
def warmup_cosine_lr(epoch, warmup_steps, decay_steps, peak, end, init, exponent):
    """optax.warmup_cosine_decay_schedule (linear warm-up, then cosine decay to ``end``)."""
    if epoch < warmup_steps:
        count = min(max(float(epoch), 0.0), float(warmup_steps))
        frac = 1.0 - count / warmup_steps
        return (init - peak) * frac + peak
    alpha = 0.0 if peak == 0.0 else end / peak
    span = float(decay_steps - warmup_steps)
    count = min(float(epoch - warmup_steps), span)
    cosine_decay = 0.5 * (1.0 + math.cos(math.pi * count / span))
    if exponent == 1.0:
        powered = cosine_decay
    else:
        powered = math.pow(cosine_decay, exponent)
    return peak * ((1.0 - alpha) * powered + alpha)


@njit(error_model="numpy")
def table_value(data, off, count, epoch):
    """data[off + epoch], holding the last entry past the end."""
    i = epoch if epoch < count else count - 1
    return data[off + i]


# ---- torch's scheduler state machine ------------------------------------------------------


@njit(inline="always", error_model="numpy")
def _get_lr(code, p, data, group, st, is_initial):
    """The leaf's ``get_lr()``; may write the group's momentum (cycling schedules)."""
    lr = group[G_LR]
    epoch = int(st[ST_EPOCH])
    base_lr = st[ST_BASE]
    if code == S_CONSTANT:
        return constant_lr(lr, epoch, p[0], int(p[1]))
    if code == S_STEP:
        return step_lr(lr, epoch, int(p[0]), p[1])
    if code == S_MULTISTEP:
        return multistep_lr(lr, epoch, p[0], data, int(p[1]), int(p[2]))
    if code == S_EXPONENTIAL:
        return exponential_lr(lr, p[0], is_initial)
    if code == S_LINEAR:
        return linear_lr(lr, epoch, p[0], p[1], int(p[2]), is_initial)
    if code == S_POLYNOMIAL:
        return polynomial_lr(lr, epoch, int(p[0]), p[1], is_initial)
    if code == S_COSINE:
        return cosine_annealing_lr(lr, base_lr, epoch, int(st[ST_COUNT]), int(p[0]), p[1],
                                   is_initial)
    if code == S_WARM_RESTARTS:
        return warm_restarts_lr(base_lr, int(st[ST_TCUR]), int(st[ST_TI]), p[2])
    if code == S_CYCLIC:
        if p[6] != 0.0:
            group[G_MOMENTUM] = cyclic_momentum(p[7], p[8], epoch, p[2], p[3], int(p[4]), p[5],
                                                data, int(p[9]))
        return cyclic_lr(base_lr, p[1], epoch, p[2], p[3], int(p[4]), p[5], data, int(p[9]))
    if code == S_ONE_CYCLE:
        new_lr, mom = one_cycle(float(epoch), int(p[1]), p[2], int(p[3]), p[9] != 0.0,
                                group[G_INITIAL_LR], group[G_MAX_LR], group[G_MIN_LR],
                                group[G_MAX_MOM], group[G_BASE_MOM])
        if p[4] != 0.0:
            group[G_MOMENTUM] = mom
        return new_lr
    if code == S_FACTOR_TABLE:
        return base_lr * table_value(data, int(p[0]), int(p[1]), epoch)
    if code == S_VALUE_TABLE:
        if p[3] != 0.0:
            group[G_MOMENTUM] = table_value(data, int(p[2]), int(p[1]), epoch)
        return table_value(data, int(p[0]), int(p[1]), epoch)
    if code == S_INVERSE_TIME:
        return inverse_time_lr(base_lr, epoch, int(p[0]), p[1], p[2] != 0.0)
    if code == S_WARMUP_COSINE:
        return warmup_cosine_lr(epoch, int(p[0]), int(p[1]), p[2], p[3], p[4], p[5])
    return lr  # S_HOLD


@njit(error_model="numpy")
def _has_closed_form(code):
    return (code == S_CONSTANT or code == S_STEP or code == S_MULTISTEP
            or code == S_EXPONENTIAL or code == S_LINEAR or code == S_POLYNOMIAL
            or code == S_COSINE)


@njit(error_model="numpy")
def _closed_form_lr(code, p, data, st):
    """The leaf's ``_get_closed_form_lr()`` (only for codes with ``_has_closed_form``)."""
    epoch = int(st[ST_EPOCH])
    base_lr = st[ST_BASE]
    if code == S_CONSTANT:
        return constant_lr_closed(base_lr, epoch, p[0], int(p[1]))
    if code == S_STEP:
        return step_lr_closed(base_lr, epoch, int(p[0]), p[1])
    if code == S_MULTISTEP:
        return multistep_lr_closed(base_lr, epoch, p[0], data, int(p[1]), int(p[2]))
    if code == S_EXPONENTIAL:
        return exponential_lr_closed(base_lr, epoch, p[0])
    if code == S_LINEAR:
        return linear_lr_closed(base_lr, epoch, p[0], p[1], int(p[2]))
    if code == S_POLYNOMIAL:
        return polynomial_lr_closed(base_lr, epoch, int(p[0]), p[1])
    return cosine_annealing_lr_closed(base_lr, epoch, int(p[0]), p[1])


@njit(error_model="numpy")
def _construct(code, p, group, st):
    """The leaf's ``__init__`` up to its initial step (side effects on the group included)."""
    if code == S_CYCLIC:
        group[G_LR] = p[0]
        if p[6] != 0.0:
            group[G_MOMENTUM] = p[8]
            group[G_MAX_MOM] = p[8]
            group[G_BASE_MOM] = p[7]
    elif code == S_ONE_CYCLE:
        group[G_INITIAL_LR] = p[0] / p[7]
        group[G_HAS_INITIAL] = 1.0
        group[G_MAX_LR] = p[0]
        group[G_MIN_LR] = group[G_INITIAL_LR] / p[8]
        if p[4] != 0.0:
            group[G_MOMENTUM] = p[6]
            group[G_MAX_MOM] = p[6]
            group[G_BASE_MOM] = p[5]
    if group[G_HAS_INITIAL] == 0.0:  # LRScheduler.__init__: group.setdefault("initial_lr", lr)
        group[G_INITIAL_LR] = group[G_LR]
        group[G_HAS_INITIAL] = 1.0
    st[ST_BASE] = group[G_INITIAL_LR]
    st[ST_EPOCH] = -1.0
    st[ST_COUNT] = 0.0
    st[ST_TCUR] = -1.0
    st[ST_TI] = p[0] if code == S_WARM_RESTARTS else 0.0


@njit(inline="always", error_model="numpy")
def _step(code, p, data, group, st, is_initial):
    """The leaf's ``step()``."""
    if code == S_WARM_RESTARTS:  # CosineAnnealingWarmRestarts overrides step()
        if st[ST_EPOCH] < 0.0:
            st[ST_TI] = p[0]
            st[ST_TCUR] = 0.0
            st[ST_EPOCH] = 0.0
        else:
            st[ST_EPOCH] += 1.0
            st[ST_TCUR] += 1.0
            if st[ST_TCUR] >= st[ST_TI]:
                st[ST_TCUR] = float(int(st[ST_TCUR]) % int(st[ST_TI]))
                st[ST_TI] = st[ST_TI] * p[1]
    else:
        st[ST_COUNT] += 1.0
        st[ST_EPOCH] += 1.0
    group[G_LR] = _get_lr(code, p, data, group, st, is_initial)


@njit(error_model="numpy")
def _initial_step(code, p, data, group, st):
    st[ST_COUNT] = 0.0
    _step(code, p, data, group, st, True)


@njit(error_model="numpy")
def _reset_to_zero(code, p, data, group, st):
    """``_update_lr(0)``, what SequentialLR calls on reaching a milestone."""
    st[ST_EPOCH] = 0.0
    if _has_closed_form(code):
        group[G_LR] = _closed_form_lr(code, p, data, st)
    else:
        group[G_LR] = _get_lr(code, p, data, group, st, False)


@njit(error_model="numpy")
def _bisect_right_int(a, value):
    lo = 0
    hi = a.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if value < a[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, error_model="numpy")
def fill_tables(kind, codes, params, data, milestones, base_lr, group, state, out_lr, out_mom):
    """Fill ``out_lr``/``out_mom`` (n_steps + 1 entries) with torch's schedule trace.

    kind: K_CHAINED (ChainedScheduler; a single schedule is a chain of one) or K_SEQUENTIAL
    (SequentialLR with int64 ``milestones``); codes[c], params[c]: the child schedules in
    construction order; data: milestone lists and tables the params point into; base_lr:
    the optimizer's lr; group (N_GROUP) and state (n_children, N_STATE): scratch.
    """
    n_children = codes.shape[0]
    for i in range(N_GROUP):
        group[i] = math.nan
    group[G_LR] = base_lr
    group[G_HAS_INITIAL] = 0.0
    # every child scheduler is constructed (and takes its initial step) in order
    for c in range(n_children):
        _construct(codes[c], params[c], group, state[c])
        _initial_step(codes[c], params[c], data, group, state[c])
        if codes[c] == S_CYCLIC:  # CyclicLR sets its base_lrs after its initial step
            state[c, ST_BASE] = params[c, CY_BASE_LR]
    seq_epoch = 0
    if kind == K_SEQUENTIAL:
        group[G_LR] = group[G_INITIAL_LR]
        for c in range(n_children):
            state[c, ST_EPOCH] -= 1.0
        idx = _bisect_right_int(milestones, 0)
        _initial_step(codes[idx], params[idx], data, group, state[idx])
    out_lr[0] = group[G_LR]
    out_mom[0] = group[G_MOMENTUM]
    for k in range(1, out_lr.shape[0]):
        if kind == K_SEQUENTIAL:
            seq_epoch += 1
            idx = _bisect_right_int(milestones, seq_epoch)
            if idx > 0 and milestones[idx - 1] == seq_epoch:
                _reset_to_zero(codes[idx], params[idx], data, group, state[idx])
            else:
                _step(codes[idx], params[idx], data, group, state[idx], False)
        else:
            for c in range(n_children):
                _step(codes[c], params[c], data, group, state[c], False)
        out_lr[k] = group[G_LR]
        out_mom[k] = group[G_MOMENTUM]


@njit
def function_factor_table(fn, out):
    """out[k] = fn(k): a user's jitted factor function tabulated for FunctionLR."""
    for k in range(out.shape[0]):
        out[k] = fn(k)
