"""The trajectory loop, shared by the CPU engine and the CUDA kernels.

``run_trajectory(j, ...)`` runs trajectory ``j`` of a packed grid from its start point for
``n_steps`` optimizer steps. It is device-safe (no allocation, no exceptions), so the CPU
engine calls it inside ``prange`` and the CUDA kernel calls it once per thread.

Per step k = 0, 1, ..., n_steps:
  1. f_k, grad f(x_k) (exact, noise-free) -> recorded channels at k;
  2. status: diverged (non-finite, or f_k above the blow-up bound) or target reached
     (f_k - f* <= target): the trajectory stops and its traces stay frozen;
  3. for k < n_steps: the lr and momentum of step k (schedule table, or ReduceLROnPlateau
     state); the gradient the optimizer sees (a minibatch gradient for finite-sum problems
     run with a batch size, then the problem's noise model); the update rule with t = k + 1;
  4. ReduceLROnPlateau is fed f_k after the step, as torch's loop does (or, when asked, an
     exponential moving average of the sampled loss).

Packed per-trajectory data (column indices below): ``imeta`` int64 (codes, offsets),
``fmeta`` float64 (f*, target, noise, plateau settings).
"""
import math

import numpy as np
from numba import njit

from .noise import perturb_gradient
from .optimizers import optimizer_init, optimizer_step
from .problems import problem_loss_grad, problem_project, problem_sample_grad

# imeta columns
(I_OPT, I_SCHED_ROW, I_PROB, I_DIM, I_PROB_OFF, I_PROB_LEN, I_XS_OFF, I_XS_COUNT, I_PLATEAU,
 I_BATCH, I_REPLACE, I_NOISE_KIND) = range(12)
N_IMETA = 12
# fmeta columns
(F_FSTAR, F_TARGET, F_NOISE_SCALE, F_NOISE_DOF, F_PL_MAXIMIZE, F_PL_FACTOR, F_PL_PATIENCE,
 F_PL_THRESHOLD, F_PL_ABS, F_PL_COOLDOWN, F_PL_MIN_LR, F_PL_EPS, F_PL_EMA) = range(13)
N_FMETA = 13
# recorded scalar channels (last axis of the trace array)
C_LOSS, C_LR, C_MOMENTUM, C_GRAD_NORM, C_SUBOPT, C_DIST, C_SAMPLED_LOSS = range(7)
CHANNELS = ("loss", "lr", "momentum", "grad_norm", "suboptimality", "dist_to_opt",
            "sampled_loss")
N_CHANNELS = len(CHANNELS)
# statuses
FINISHED, REACHED_TARGET, DIVERGED = 0, 1, 2
STATUS_NAMES = ("finished", "reached_target", "diverged")
# plateau state columns (P_EMA: moving average of the sampled loss, when F_PL_EMA > 0)
P_BEST, P_BAD, P_COOLDOWN, P_LR, P_EMA = range(5)
N_PLATEAU_STATE = 5


@njit
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


@njit
def _distance_to_opt(x, xs, count):
    """Distance from x to the nearest of ``count`` known minimizers (rows of xs)."""
    d = x.shape[0]
    best = math.inf
    for m in range(count):
        acc = 0.0
        for i in range(d):
            z = x[i] - xs[m * d + i]
            acc += z * z
        if acc < best:
            best = acc
    return math.sqrt(best) if count > 0 else math.nan


@njit
def _record(out, r, slots, loss, lr, mom, gnorm, subopt, dist, sampled):
    """Write the channels that have a slot (slots[c] >= 0) into out[r]."""
    values = (loss, lr, mom, gnorm, subopt, dist, sampled)
    for c in range(N_CHANNELS):
        if slots[c] >= 0:
            out[r, slots[c]] = values[c]


@njit
def run_trajectory(j, n_steps, imeta, fmeta, hp, lr_table, mom_table, prob_data, xs_data,
                   noise_keys, blowup, rec_steps, slots, x, g, w, s, sc, ps,
                   out_trace, out_x, out_status, out_final):
    """Run trajectory ``j``; ``x[j]`` holds its start point on entry, its last iterate on exit.

    Writes out_trace[j] (records x recorded channels; channel c goes to slot slots[c], -1 for
    channels not recorded), out_x[j] (iterates, when its record axis is non-empty),
    out_status[j] = (status, step) and out_final[j] = every channel's final value.
    """
    im = imeta[j]
    fm = fmeta[j]
    d = im[I_DIM]
    xj = x[j, :d]
    gj = g[j, :d]
    wj = w[j]
    sj = s[j, :, :d]
    scj = sc[j]
    psj = ps[j]
    hpj = hp[j]
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
    key = noise_keys[j]
    record_x = out_x.shape[1] > 0
    n_rec = rec_steps.shape[0]
    trace = out_trace[j]

    optimizer_init(code, hpj, sj, scj)
    if plateau:
        psj[P_BEST] = -math.inf if fm[F_PL_MAXIMIZE] != 0.0 else math.inf
        psj[P_BAD] = 0.0
        psj[P_COOLDOWN] = 0.0
        psj[P_LR] = hpj[0]
        psj[P_EMA] = math.nan

    status = FINISHED
    status_step = n_steps
    r = 0
    loss = math.nan
    lr = math.nan
    mom = math.nan
    gnorm = math.nan
    subopt = math.nan
    dist = math.nan
    sampled = math.nan
    bound = math.inf
    for k in range(n_steps + 1):
        loss = problem_loss_grad(prob, pdata, xj, gj, wj)
        acc = 0.0
        for i in range(d):
            acc += gj[i] * gj[i]
        gnorm = math.sqrt(acc)
        subopt = loss - fstar
        dist = _distance_to_opt(xj, xs, xs_count)
        sampled = loss
        if batch > 0 and k < n_steps:  # minibatch gradient replaces the exact one
            sampled = problem_sample_grad(prob, pdata, xj, gj, wj, key, k, batch, replace)
        if k == 0:
            bound = loss + blowup * (abs(loss) + 1.0)
        if plateau:
            lr = psj[P_LR]
        else:
            lr = lr_table[row, k]
        mom = mom_table[row, k]
        if math.isnan(mom):
            mom = hpj[1]
        stop = False
        if not (math.isfinite(loss) and math.isfinite(gnorm)) or loss > bound:
            status = DIVERGED
            stop = True
        elif subopt <= target:
            status = REACHED_TARGET
            stop = True
        while r < n_rec and rec_steps[r] == k:
            _record(trace, r, slots, loss, lr, mom, gnorm, subopt, dist, sampled)
            if record_x:
                for i in range(d):
                    out_x[j, r, i] = xj[i]
            r += 1
        if stop:
            status_step = k
            break
        if k == n_steps:
            break
        if noise_kind != 0:
            perturb_gradient(noise_kind, noise_scale, noise_dof, key, k, gj)
        optimizer_step(code, hpj, lr, mom, k + 1.0, xj, gj, sj, scj)
        problem_project(prob, pdata, xj)  # constrained families (identity elsewhere)
        if plateau:
            if ema > 0.0:  # feed a moving average of the sampled loss (stochastic problems)
                if math.isnan(psj[P_EMA]):
                    psj[P_EMA] = sampled
                else:
                    psj[P_EMA] = ema * psj[P_EMA] + (1.0 - ema) * sampled
                plateau_update(fm, psj, psj[P_EMA])
            else:
                plateau_update(fm, psj, loss)

    # frozen after a stop: the remaining records repeat the last state
    while r < n_rec:
        _record(trace, r, slots, loss, lr, mom, gnorm, subopt, dist, sampled)
        if record_x:
            for i in range(d):
                out_x[j, r, i] = xj[i]
        r += 1
    all_slots = (0, 1, 2, 3, 4, 5, 6)
    out_status[j, 0] = status
    out_status[j, 1] = status_step
    _record(out_final, j, all_slots, loss, lr, mom, gnorm, subopt, dist, sampled)


def empty_x_trace(n, dtype):
    """The ``out_x`` placeholder when iterates are not recorded."""
    return np.zeros((n, 0, 1), dtype=dtype)
