"""The trajectory loop, shared by the CPU engine and the CUDA kernels.

Trajectories that share a configuration (problem, optimizer, schedule; seeds differ) are
grouped into blocks of B lanes stored as (d, B) arrays. ``run_block(blk, inputs, per_lane,
outputs)`` runs block ``blk`` for ``n_steps`` optimizer steps; its arguments are three
bundles, ``layout.Inputs``, ``layout.Lanes`` and ``layout.Outputs``. The per-step scalars of
the rule (bias corrections, schedule values) are computed once per block and the inner loops
run over lanes, so they vectorise. It is device-safe (no allocation, no exceptions): the CPU
driver (``cpu.run_blocks``) calls it inside ``prange`` over blocks, the CUDA
thread-per-trajectory kernel once per thread on one-lane blocks. Its per-lane pieces
(``init_lane``, ``schedule_values``, ``check_lane``, ``report_lane``, ``plateau_lane``) are
what thread 0 of the CUDA block-per-trajectory kernel runs, so the status, record and plateau
logic exists once.

Per step k = 0, 1, ..., n_steps:
  1. f_k, grad f(x_k) (exact, noise-free) -> recorded channels at k;
  2. status: diverged (non-finite f_k or gradient, or f_k above the blow-up bound) or target
     reached (f_k - f* <= target): the trajectory stops and its traces stay frozen;
  3. for k < n_steps: the lr and momentum of step k (schedule table, or ReduceLROnPlateau
     state); the gradient the optimizer sees (a minibatch gradient for finite-sum problems
     run with a batch size, then the problem's noise model); the update rule with t = k + 1;
  4. ReduceLROnPlateau is fed f_k after the step, as torch's loop does (or, when asked, an
     exponential moving average of the sampled loss).

Step channels describe step k (x_k -> x_{k+1}) and are stored at the record of k: the
effective per-coordinate step size eta_i = |x_{k+1,i} - x_{k,i}| / |g_{k,i}| over the
coordinates with g_{k,i} != 0, g the gradient the update rule saw (after minibatch sampling
and noise; x_{k+1} after projection); ``eff_step`` is its median over coordinates,
``eff_step_p10``/``eff_step_p90`` its 10th/90th percentiles (numpy's default quantile: linear
interpolation at position (m - 1) q of the m sorted values). NaN where no step is taken
(k = n_steps, a lane stopping at k) or every g_i is 0. Computed only when recorded.

Minibatch runs (batch > 0) need f_k every step but grad f(x_k) only where it is read, so they
compute the full-data gradient at record steps, at k = 0 and n_steps, and at a step where a
lane stops (f_k non-finite, above the bound or on target; the test is then redone with it).
Elsewhere the status test reads f_k alone: every recorded value and status is what the exact
gradient at every step would give, except that a non-finite full-data gradient with a finite
f_k goes unseen between record steps.

Packed per-block data (column indices below): ``bmeta`` int64 (codes, offsets),
``bfmeta`` float64 (f*, target, noise, plateau settings). A lane that stops is frozen: its
remaining records repeat its state, and its lr is 0 from then on.
"""
import math

import numpy as np
from numba import njit

from ..layout import (C_STEP, C_STEP_P10, C_STEP_P90, DIVERGED, F_FSTAR, F_NOISE_DOF,
                      F_NOISE_SCALE, F_PL_ABS, F_PL_COOLDOWN, F_PL_EMA, F_PL_EPS, F_PL_FACTOR,
                      F_PL_MAXIMIZE, F_PL_MIN_LR, F_PL_PATIENCE, F_PL_THRESHOLD, F_TARGET,
                      FINAL_SLOTS, FINISHED, I_BATCH, I_DIM, I_NOISE_KIND, I_OPT, I_PLATEAU,
                      I_PROB, I_PROB_LEN, I_PROB_OFF, I_REPLACE, I_SCHED_ROW, I_XS_COUNT,
                      I_XS_OFF, L_ACTIVE, L_BOUND, L_GNORM, L_LOSS, L_LR, L_SAMPLED, N_CHANNELS,
                      P_BAD, P_BEST, P_COOLDOWN, P_EMA, P_LR, REACHED_TARGET, STEP_QUANTILES)
from . import template
from .noise import perturb_gradient

_KW = dict(error_model="numpy")  # IEEE division: inf/nan mark divergence, loops vectorise
#: 0 for a counter or index that reaches a call: numba types a literal 0 as Literal[int](0)
#: on its first pass over a loop and compiles the callee once more for it (0.8 s of a cold
#: compile for the record and step-size helpers)
ZERO = np.int64(0)



@njit(**_KW)
def plateau_update(fm, ps, metric):
    """One ``ReduceLROnPlateau.step(metric)`` (torch semantics) on state ``ps``.

    better: rel/min  metric < best*(1 - threshold);  abs/min  metric < best - threshold
    (mirrored for max). After more than ``patience`` bad steps outside cooldown:
    lr <- max(lr*factor, min_lr), applied only when the change exceeds eps.
    """
    maximize = fm[F_PL_MAXIMIZE] != 0.0
    threshold = fm[F_PL_THRESHOLD]
    best = ps[P_BEST]
    if fm[F_PL_ABS] != 0.0:
        better = metric > best + threshold if maximize else metric < best - threshold
    elif maximize:
        better = metric > best * (threshold + 1.0)
    else:
        better = metric < best * (1.0 - threshold)
    if better:
        ps[P_BEST] = metric
        ps[P_BAD] = 0.0
    else:
        ps[P_BAD] += 1.0
    if ps[P_COOLDOWN] > 0.0:
        ps[P_COOLDOWN] -= 1.0
        ps[P_BAD] = 0.0
    if ps[P_BAD] > fm[F_PL_PATIENCE]:
        old_lr = ps[P_LR]
        new_lr = max(old_lr * fm[F_PL_FACTOR], fm[F_PL_MIN_LR])
        if old_lr - new_lr > fm[F_PL_EPS]:
            ps[P_LR] = new_lr
        ps[P_COOLDOWN] = fm[F_PL_COOLDOWN]
        ps[P_BAD] = 0.0


@njit(cache=True, **_KW)
def sq_dist_rows(x, xs, m, i0, i1, di):
    """sum (x_i - x*_i)^2 over rows i = i0, i0 + di, ... < i1, x* the m-th known minimizer
    (row m of xs)."""
    d = x.shape[0]
    acc = 0.0
    for i in range(i0, i1, di):
        z = x[i] - xs[m * d + i]
        acc += z * z
    return acc


@njit(**_KW)
def _distance_to_opt(x, xs, count):
    """Distance from x to the nearest of ``count`` known minimizers (rows of xs)."""
    best = math.inf
    for m in range(count):
        acc = sq_dist_rows(x, xs, m, 0, x.shape[0], 1)
        if acc < best:
            best = acc
    return math.sqrt(best) if count > 0 else math.nan


@njit(**_KW)
def _grad_sq_norms(G, sq, exact):
    """sq[b] = ||G[:, b]||^2; 0 when ``exact`` is False (G holds no full-data gradient). Its
    root is taken only at the steps that read it (``run_block``): finite exactly when the
    norm is, and a square root per lane added a tenth to the divider's work in workload A."""
    nb = sq.shape[0]
    for b in range(nb):
        sq[b] = 0.0
    if exact:
        for i in range(G.shape[0]):
            gi = G[i]
            for b in range(nb):
                sq[b] += gi[b] * gi[b]


@njit(**_KW)
def _record(out, r, slots, values):
    """Write the channels of ``values`` that have a slot (slots[c] >= 0) into out[r]."""
    for c in range(N_CHANNELS):
        if slots[c] >= 0:
            out[r, slots[c]] = values[c]


@njit(**_KW)
def _sorted_quantile(a, m, q):
    """numpy.quantile(a[:m], q) of sorted a: linear interpolation at h = (m - 1) q, with
    numpy's two-sided lerp."""
    h = (m - 1) * q
    lo = int(math.floor(h))
    if lo >= m - 1:
        return a[m - 1]
    t = h - lo
    diff = a[lo + 1] - a[lo]
    return a[lo + 1] - diff * (1.0 - t) if t >= 0.5 else a[lo] + diff * t


@njit(**_KW)
def _sift_down(a, i, n):
    """Restore the max-heap a[:n] below node i."""
    v = a[i]
    while 2 * i + 1 < n:
        c = 2 * i + 1
        if c + 1 < n and a[c + 1] > a[c]:
            c += 1
        if a[c] <= v:
            break
        a[i] = a[c]
        i = c
    a[i] = v


@njit(**_KW)
def _heapsort(a, m):
    """Sort a[:m] (no NaN) in place, ascending: O(m log m), no allocation."""
    for i in range(m // 2 - 1, -1, -1):
        _sift_down(a, i, m)
    for n in range(m - 1, 0, -1):
        a[0], a[n] = a[n], a[0]
        _sift_down(a, ZERO, n)


@njit(**_KW)
def records_step_channels(slots):
    """Whether any step channel (eff_step and its quantiles) is recorded."""
    return slots[C_STEP] >= 0 or slots[C_STEP_P10] >= 0 or slots[C_STEP_P90] >= 0


@njit(**_KW)
def record_step_sizes(out_trace, r, slots, lanes, active, X, G, E):
    """Step channels of the step just taken into record r of every active lane.

    E (d, B) holds x_k on entry; column b is overwritten with the sorted ratios
    eta_i = |x_{k+1,i} - x_{k,i}| / |g_i| (g_i != 0), whose quantiles are recorded.
    """
    d, nb = X.shape
    for b in range(nb):
        if active[b] == 0.0:
            continue
        col = E[:, b]
        m = ZERO
        bad = False
        for i in range(d):
            g = abs(G[i, b])
            if g != 0.0:
                eta = abs(X[i, b] - col[i]) / g
                bad |= math.isnan(eta)
                col[m] = eta
                m += 1
        if not bad:
            _heapsort(col, m)
        for s in range(len(STEP_QUANTILES)):
            slot = slots[C_STEP + s]
            if slot >= 0:
                value = math.nan
                if m > 0 and not bad:
                    value = _sorted_quantile(col, m, STEP_QUANTILES[s])
                out_trace[lanes[b], r, slot] = value


@njit(**_KW)
def _finish_lane(j, r, n_rec, slots, out_trace, out_x, X, b, d, record_x,
                 out_status, out_final, status, step, values):
    """Freeze lane b (trajectory j): records r.. repeat its state; status and finals."""
    for rr in range(r, n_rec):
        _record(out_trace[j], rr, slots, values)
        if record_x:
            for i in range(d):
                out_x[j, rr, i] = X[i, b]
    out_status[j, 0] = status
    out_status[j, 1] = step
    _record(out_final, j, FINAL_SLOTS, values)


@njit(cache=True, **_KW)
def init_lane(b, traj, plateau, fm, hpb, PS, LS):
    """Lane b (trajectory ``traj``, -1: empty) before step 0: active unless empty, lr 0,
    fresh plateau state (torch's ReduceLROnPlateau at construction)."""
    LS[L_ACTIVE, b] = 1.0 if traj >= 0 else 0.0
    LS[L_LR, b] = 0.0
    if plateau:
        PS[P_BEST, b] = -math.inf if fm[F_PL_MAXIMIZE] != 0.0 else math.inf
        PS[P_BAD, b] = 0.0
        PS[P_COOLDOWN, b] = 0.0
        PS[P_LR, b] = hpb[0]
        PS[P_EMA, b] = math.nan


@njit(cache=True, inline="always", **_KW)
def schedule_values(row, k, lr_table, mom_table):
    """(lr, momentum) of step k from the schedule tables (the momentum table holds the rule's
    own where the schedule sets none: ``engine.Packed``)."""
    return lr_table[row, k], mom_table[row, k]


@njit(cache=True, **_KW)
def check_lane(k, b, plateau, lr_k, blowup, fstar, target, PS, LS):
    """Step k's verdict on active lane b from f_k and |grad f(x_k)| (LS): sets the blow-up
    bound (k = 0) and the lane's lr; returns FINISHED (go on), DIVERGED or REACHED_TARGET."""
    f = LS[L_LOSS, b]
    if k == 0:
        LS[L_BOUND, b] = f + blowup * (abs(f) + 1.0)
    LS[L_LR, b] = PS[P_LR, b] if plateau else lr_k
    if not (math.isfinite(f) and math.isfinite(LS[L_GNORM, b])) or f > LS[L_BOUND, b]:
        return DIVERGED
    if f - fstar <= target:
        return REACHED_TARGET
    return FINISHED


@njit(cache=True, **_KW)
def report_lane(j, b, r, k, recording, status, last, mom, fstar, dist, X, d, slots, LS,
                out_trace, out_x, out_status, out_final):
    """Record step k of lane b (trajectory j) in record r when ``recording``; when it stops
    (status != FINISHED) or ``last``, freeze it (``_finish_lane``) and mark it inactive.
    Returns 1 when the lane stopped, else 0."""
    f = LS[L_LOSS, b]
    values = (f, LS[L_LR, b], mom, LS[L_GNORM, b], f - fstar, dist, LS[L_SAMPLED, b],
              math.nan, math.nan, math.nan)  # step channels: set after the step
    record_x = out_x.shape[1] > 0
    if recording:
        _record(out_trace[j], r, slots, values)
        if record_x:
            for i in range(d):
                out_x[j, r, i] = X[i, b]
    if status == FINISHED and not last:
        return 0
    _finish_lane(j, r + 1 if recording else r, out_trace.shape[1], slots, out_trace, out_x,
                 X, b, d, record_x, out_status, out_final, status, k, values)
    LS[L_ACTIVE, b] = 0.0
    LS[L_LR, b] = 0.0
    return 1


@njit(cache=True, **_KW)
def plateau_lane(b, fm, ema, PS, LS):
    """Feed lane b's ReduceLROnPlateau after the step: f_k, or (``ema`` > 0, stochastic
    problems) a moving average of the sampled loss."""
    if ema > 0.0:
        if math.isnan(PS[P_EMA, b]):
            PS[P_EMA, b] = LS[L_SAMPLED, b]
        else:
            PS[P_EMA, b] = ema * PS[P_EMA, b] + (1.0 - ema) * LS[L_SAMPLED, b]
        plateau_update(fm, PS[:, b], PS[P_EMA, b])
    else:
        plateau_update(fm, PS[:, b], LS[L_LOSS, b])


@template("njit(error_model='numpy')")
def run_block(blk, inputs, per_lane, outputs):
    """Run block ``blk``: lanes sharing one configuration (problem, optimizer, schedule).

    A template (``optbench.codegen``): ``optimizer_init`` / ``optimizer_step`` are the
    generated module's dispatch over its optimizer rules (``I_OPT`` is the rule's index there).

    ``inputs``, ``per_lane``, ``outputs``: the bundles ``layout.Inputs``, ``layout.Lanes``
    and ``layout.Outputs`` (their fields are described there), unpacked here once (the lane
    arrays as ``X_all``, ``G_all``, ...; ``X`` is block ``blk``'s slice of ``X_all``).
    ``X_all[blk]`` (d, B) holds the lanes' start points on entry. ``lane_traj[blk, b]`` is
    the shard row of lane b (-1: empty lane). ``E_all[blk]`` (d, B) float64 is scratch for
    the step channels (its coordinate axis may be empty when none is recorded). Writes, per
    trajectory j: out_trace[j] (channel c in slot slots[c], -1 when not recorded), out_x[j]
    (when its record axis is non-empty), out_status[j] = (status, step), out_final[j] = the
    final value of every channel of the iterate.
    """
    # in the bundles' field order (layout.py)
    (n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data, xs_data, lane_traj, noise_keys,
     blowup, rec_steps, slots) = inputs
    X_all, G_all, W_all, S_all, SC_all, C_all, PS_all, LS_all, E_all = per_lane
    out_trace, out_x, out_status, out_final = outputs
    im = bmeta[blk]
    fm = bfmeta[blk]
    hpb = hp[blk]
    d = im[I_DIM]
    X = X_all[blk, :d]
    G = G_all[blk, :d]
    W = W_all[blk]
    S = S_all[blk]
    SC = SC_all[blk]
    C = C_all[blk]
    PS = PS_all[blk]
    LS = LS_all[blk]
    E = E_all[blk, :d]
    lanes = lane_traj[blk]
    keys = noise_keys[blk]
    nb = X.shape[1]
    code = im[I_OPT]
    prob = im[I_PROB]
    pdata = prob_data[im[I_PROB_OFF]:im[I_PROB_OFF] + im[I_PROB_LEN]]
    xs = xs_data[im[I_XS_OFF]:im[I_XS_OFF] + im[I_XS_COUNT] * d]
    xs_count = im[I_XS_COUNT]
    row = im[I_SCHED_ROW]
    fstar = fm[F_FSTAR]
    target = fm[F_TARGET]
    batch = im[I_BATCH]
    replace = im[I_REPLACE] != 0
    noise_kind = im[I_NOISE_KIND]
    noise_scale = fm[F_NOISE_SCALE]
    noise_dof = fm[F_NOISE_DOF]
    ema = fm[F_PL_EMA]
    plateau = im[I_PLATEAU] != 0
    record_step = records_step_channels(slots)
    n_rec = rec_steps.shape[0]
    loss = LS[L_LOSS]
    gnorm = LS[L_GNORM]
    sampled = LS[L_SAMPLED]
    bound = LS[L_BOUND]
    lr = LS[L_LR]
    active = LS[L_ACTIVE]

    optimizer_init(code, hpb, S, SC)
    n_active = 0
    for b in range(nb):
        init_lane(b, lanes[b], plateau, fm, hpb, PS, LS)
        n_active += lanes[b] >= 0

    r = ZERO
    for k in range(n_steps + 1):
        recording = r < n_rec and rec_steps[r] == k
        lr_k, mom = schedule_values(row, k, lr_table, mom_table)
        # fast path: one branch-free pass over the lanes finds whether any lane needs attention
        attention = recording or k == 0 or k == n_steps
        exact = attention or batch <= 0  # minibatch runs: see "Minibatch runs" above
        problem_block_loss_grad(prob, pdata, X, G, W, loss, exact)
        _grad_sq_norms(G, gnorm, exact)  # its root where read, below
        if not attention:  # a boolean or-reduction (vectorises; a float sum would not)
            flagged = False
            for b in range(nb):
                f = loss[b]
                ok = (f <= bound[b]) & (f > -math.inf) & (gnorm[b] < math.inf) & (
                    not (f - fstar <= target))
                flagged |= (active[b] != 0.0) & (not ok)
            attention = flagged
            if attention and not exact:  # a lane stops here: its exact gradient is recorded
                # (``not exact``, True here, is a run-time bool: a literal True would compile
                # every problem's code a second time, for Literal[bool])
                problem_block_loss_grad(prob, pdata, X, G, W, loss, not exact)
                _grad_sq_norms(G, gnorm, not exact)
        for b in range(nb):
            sampled[b] = loss[b]
        if batch > 0 and k < n_steps:  # minibatch gradients replace the exact ones
            for b in range(nb):
                if active[b] != 0.0:
                    sampled[b] = problem_sample_grad(prob, pdata, X[:, b], G[:, b], W[:, b],
                                                     keys[b], k, batch, replace)
        if not attention:
            for b in range(nb):
                lr[b] = (PS[P_LR, b] if plateau else lr_k) * active[b]
        else:
            for b in range(nb):
                gnorm[b] = math.sqrt(gnorm[b])
            for b in range(nb):
                if active[b] == 0.0:
                    lr[b] = 0.0  # frozen lanes: the update leaves them in place
                    continue
                status = check_lane(k, b, plateau, lr_k, blowup, fstar, target, PS, LS)
                last = k == n_steps
                if recording or status != FINISHED or last:
                    dist = _distance_to_opt(X[:, b], xs, xs_count)
                    n_active -= report_lane(lanes[b], b, r, k, recording, status, last, mom,
                                            fstar, dist, X, d, slots, LS, out_trace, out_x,
                                            out_status, out_final)
        if recording:
            r += 1
        if n_active == 0 or k == n_steps:
            break
        if noise_kind != 0:
            for b in range(nb):
                perturb_gradient(noise_kind, noise_scale, noise_dof, keys[b], k, G[:, b])
        record_step_k = recording and record_step
        if record_step_k:
            for i in range(d):
                for b in range(nb):
                    E[i, b] = X[i, b]
        optimizer_step(code, hpb, lr, mom, k + 1.0, X, G, S, SC, C)
        problem_project(prob, pdata, X)  # constrained families (identity elsewhere)
        if record_step_k:
            record_step_sizes(out_trace, r - 1, slots, lanes, active, X, G, E)
        if plateau:
            for b in range(nb):
                if active[b] != 0.0:
                    plateau_lane(b, fm, ema, PS, LS)


def empty_x_trace(n, dtype):
    """The ``out_x`` placeholder when iterates are not recorded."""
    return np.zeros((n, 0, 1), dtype=dtype)
