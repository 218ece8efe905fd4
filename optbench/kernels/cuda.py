"""CUDA engine: two kernels over the CPU's own ``@njit`` math (no formula exists here).

Both kernels take the CPU kernel's arguments, the bundles ``(inputs, per_lane, outputs)`` of
``Packed(...).kernel_args()`` (``layout.Inputs``, ``Lanes``, ``Outputs``; numba-cuda passes a
tuple's fields as separate kernel parameters), adapted per mode by
``cuda_backend.kernel_args``.

Thread mode, ``run_grid_cuda``: one GPU thread per trajectory. One change to the bundles:
``SC``, the optimizer's scalar state, gets a lane axis, shape (blocks, lanes, SCALAR_SLOTS),
because the lanes of a block now run in different threads and must not share it (NAdam's
running product, SGD's first-step flag). Thread ``t`` calls ``run_lane(t, ...)``, which runs
lane ``b = t % lanes`` of block ``blk = t // lanes`` as ``run_block(blk, ...)`` on one-lane
*views* of the packed arrays (``one_lane``: ``X[:, :, b:b+1]`` ...): every update rule,
schedule value, problem gradient, noise draw and plateau step is the ``@njit`` function the CPU
engine runs, compiled by numba-cuda as a device function. The lanes of a block share a
configuration, so a warp takes the same branches, and lane ``b`` is the fastest axis of every
per-lane array, so a warp's accesses are coalesced.

Block mode, ``run_grid_cuda_blocks``: one thread block per trajectory (a packing with one lane
per block), for large problems; its ``Lanes`` bundle has ``SC`` and ``C`` empty (each thread
keeps its own copies). Thread ``tid`` of ``nt`` owns coordinates tid, tid + nt, ...
(consecutive threads, consecutive addresses). Per step k:

  1. f_k, grad f(x_k): families with a rows form (``problems.problem_rows``) run it on each
     thread's rows, phase by phase with a barrier between phases; the others run the per-point
     form in thread 0 (serial fallback). Each thread sums its loss terms and its g_i^2;
     ``_block_sums`` adds them up in shared memory (a tree, log2(nt) barriers).
  2. Thread 0 alone: minibatch gradient (finite sums have no rows form), the verdict
     (``engine.check_lane``), then, with dist_to_opt reduced like the norm, the records and the
     freeze (``engine.report_lane``); the verdict reaches the other threads in shared memory.
  3. Every thread: noise on its rows (``noise.perturb_gradient_rows``), then the update rule
     (``optimizers.optimizer_step``) on its rows, which is elementwise over coordinates. The
     rule's scalar state (SGD's first-step flag, NAdam's mu product) and per-lane coefficients
     are thread-local copies: every thread computes the same values.
  4. Thread 0: projection (constrained families) and the ReduceLROnPlateau step.

Block mode computes the full-data gradient at every step, also on the minibatch steps where
the CPU skips it (``engine`` docstring, "Minibatch runs"): the recorded values are the same;
only a non-finite full-data gradient with a finite f between record steps, which the CPU
does not see there, stops the trajectory earlier in block mode.

Block mode sums f, |g|^2 and |x - x*|^2 in a different order than the CPU (per thread, then a
tree), so it agrees with the CPU to round-off (relative 1e-15 or so for sums of nonnegative
terms; more where terms cancel), not bit for bit; everything elementwise is bitwise the same.

Under numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) the kernel bodies run as Python (``_arr``
gives the bundles their NumPy arrays back) and the ``@njit`` functions they call are the
CPU-compiled ones (cached on disk like the CPU kernel), so the simulator checks the kernels'
wiring and barriers, not the CUDA compilation of the math; compiling the kernels to PTX checks
that (tests/test_cuda.py says which check proves what). Numerics on a real GPU: NVVM contracts
a*b + c into fused multiply-adds (its default; numba-cuda only changes it with fastmath, which
stays off) and takes exp/log/sin/cos/pow from libdevice, so GPU numbers agree with the CPU's to
round-off; the integer random streams (SplitMix64 on uint64) are bitwise identical, the normal
draws built on them to round-off.

Both kernels are cached on disk (``cache=True``) under the package's kernel-source stamp (see
``optbench.kernels``). This module imports ``numba.cuda``; ``optbench.cuda_backend`` imports it
only when the CUDA backend is asked for.
"""
import math

from numba import config, cuda, float64, int64, njit
from numba.cuda.core import caching as cuda_caching

from ..layout import (F_FSTAR, F_NOISE_DOF, F_NOISE_SCALE, F_PL_EMA, F_TARGET, FINISHED, I_BATCH,
                      I_DIM, I_NOISE_KIND, I_OPT, I_PLATEAU, I_PROB, I_PROB_LEN, I_PROB_OFF,
                      I_REPLACE, I_SCHED_ROW, I_XS_COUNT, I_XS_OFF, L_ACTIVE, L_GNORM, L_LOSS,
                      L_LR, L_SAMPLED, Inputs, Lanes)
from . import register_locator, template
from .engine import (ZERO, check_lane, init_lane, plateau_lane, record_step_sizes,
                     records_step_channels, report_lane, run_block, schedule_values, sq_dist_rows)
from .noise import perturb_gradient_rows

register_locator(cuda_caching, cuda_caching.CacheImpl)

#: True when numba runs CUDA kernels in its Python simulator (NUMBA_ENABLE_CUDASIM=1)
SIMULATOR = bool(config.ENABLE_CUDASIM)
#: the most threads per block in block mode (a power of two): the shared buffers' size
MAX_BLOCK_THREADS = 128

if SIMULATOR:
    def _host(a):
        """A NumPy array for a simulator device array (``cuda.to_device``'s, possibly wrapped
        for the kernel); anything else as it is."""
        return getattr(getattr(a, "_item", a), "_ary", a)

    def _arr(bundle):
        """The simulator runs a kernel's body as Python and passes a tuple argument as it
        is, holding simulator device arrays, which compiled (@njit) code cannot take; the
        bundle with their NumPy arrays. (On the device this is the identity below.)"""
        return type(bundle)._make(map(_host, bundle))
else:
    @cuda.jit(device=True, forceinline=True)
    def _arr(bundle):
        return bundle


@njit(cache=True, error_model="numpy")
def one_lane(inputs, per_lane, b):
    """The ``layout.Inputs`` and ``layout.Lanes`` bundles of lane ``b`` alone: one-lane views
    of the per-lane arrays (thread mode's ``SC`` has a lane axis: (blocks, lanes, slots))."""
    i, p = inputs, per_lane
    return (Inputs(n_steps=i.n_steps, bmeta=i.bmeta, bfmeta=i.bfmeta, hp=i.hp,
                   lr_table=i.lr_table, mom_table=i.mom_table, prob_data=i.prob_data,
                   xs_data=i.xs_data, lane_traj=i.lane_traj[:, b:b + 1],
                   noise_keys=i.noise_keys[:, b:b + 1], blowup=i.blowup,
                   rec_steps=i.rec_steps, slots=i.slots),
            Lanes(X=p.X[:, :, b:b + 1], G=p.G[:, :, b:b + 1], W=p.W[:, :, b:b + 1],
                  S=p.S[:, :, :, b:b + 1], SC=p.SC[:, b, :], C=p.C[:, :, b:b + 1],
                  PS=p.PS[:, :, b:b + 1], LS=p.LS[:, :, b:b + 1], E=p.E[:, :, b:b + 1]))


@template("njit(cache=True, error_model='numpy')")
def run_lane(t, inputs, per_lane, outputs):
    """Thread ``t``'s work: lane ``t % lanes`` of block ``t // lanes`` (nothing for a thread
    past the grid or an empty lane), as ``run_block`` on one-lane views of the block."""
    lane_traj = inputs.lane_traj
    lanes = lane_traj.shape[1]
    blk = t // lanes
    if blk >= lane_traj.shape[0]:
        return
    b = t - blk * lanes
    if lane_traj[blk, b] < 0:
        return
    lane_inputs, lane_arrays = one_lane(inputs, per_lane, b)
    run_block(blk, lane_inputs, lane_arrays, outputs)


@template("cuda.jit(cache=True)")
def run_grid_cuda(inputs, per_lane, outputs):
    """Thread mode: thread t runs ``run_lane(t, ...)``."""
    run_lane(cuda.grid(1), _arr(inputs), _arr(per_lane), _arr(outputs))


@cuda.jit(device=True)
def _block_sums(buf, a, b):
    """(sum of a, sum of b) over the threads of the block, returned to every thread: a tree
    in shared memory ``buf`` (2, >= nt), nt a power of two."""
    tid = cuda.threadIdx.x
    buf[0, tid] = a
    buf[1, tid] = b
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            buf[0, tid] += buf[0, tid + s]
            buf[1, tid] += buf[1, tid + s]
        cuda.syncthreads()
        s //= 2
    ta = buf[0, 0]
    tb = buf[1, 0]
    cuda.syncthreads()  # buf is free again
    return ta, tb


@template("cuda.jit(device=True)")
def _run_trajectory(blk, red, verdict, sc, coef, part, inputs, per_lane, outputs):
    """Trajectory ``blk`` (one-lane block ``blk`` of the packing) run by this thread block;
    the steps are listed in the module docstring. ``sc`` and ``coef`` stand for the bundle's
    ``SC`` and ``C`` (empty in block mode)."""
    # in the bundles' field order (layout.py)
    (n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data, xs_data, lane_traj, noise_keys,
     blowup, rec_steps, slots) = inputs
    X_all, G_all, W_all, S_all, PS_all, LS_all, E_all = (
        per_lane.X, per_lane.G, per_lane.W, per_lane.S, per_lane.PS, per_lane.LS, per_lane.E)
    out_trace, out_x, out_status, out_final = outputs
    j = lane_traj[blk, 0]
    if j < 0:
        return
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    im = bmeta[blk]
    fm = bfmeta[blk]
    hpb = hp[blk]
    d = im[I_DIM]
    X = X_all[blk, :d]
    G = G_all[blk, :d]
    W = W_all[blk]
    PS = PS_all[blk]
    LS = LS_all[blk]
    X_rows = X[tid:d:nt]
    G_rows = G[tid:d:nt]
    S_rows = S_all[blk, :, tid:d:nt]
    key = noise_keys[blk, 0]
    code = im[I_OPT]
    prob = im[I_PROB]
    pdata = prob_data[im[I_PROB_OFF]:im[I_PROB_OFF] + im[I_PROB_LEN]]
    xs_count = im[I_XS_COUNT]
    xs = xs_data[im[I_XS_OFF]:im[I_XS_OFF] + xs_count * d]
    row = im[I_SCHED_ROW]
    batch = im[I_BATCH]
    noise_kind = im[I_NOISE_KIND]
    plateau = im[I_PLATEAU] != 0
    n_rec = rec_steps.shape[0]
    phases = problem_rows_phases(prob, pdata)
    record_step = records_step_channels(slots)
    E = E_all[blk, :d]  # coordinate axis empty when no step channel is recorded

    optimizer_init(code, hpb, S_rows, sc)
    if tid == 0:
        init_lane(0, j, plateau, fm, hpb, PS, LS)
    r = ZERO
    for k in range(n_steps + 1):
        cuda.syncthreads()  # x_k is complete: every thread's update, thread 0's projection
        part[0] = 0.0
        if phases > 0:
            for phase in range(phases):
                if phase > 0:
                    cuda.syncthreads()
                problem_rows(prob, phase, pdata, X, G, W, part, tid, d, nt)
        else:
            if tid == 0:  # grad: a run-time True (a literal compiles the problems twice)
                problem_block_loss_grad(prob, pdata, X, G, W, part, tid == 0)
            cuda.syncthreads()
        g2 = 0.0
        for i in range(tid, d, nt):
            g2 += G[i, 0] * G[i, 0]
        f_sum, g2_sum = _block_sums(red, part[0], g2)
        lr_k, mom = schedule_values(row, k, lr_table, mom_table)
        if tid == 0:
            LS[L_LOSS, 0] = problem_rows_loss(prob, f_sum) if phases > 0 else f_sum
            LS[L_GNORM, 0] = math.sqrt(g2_sum)
            LS[L_SAMPLED, 0] = LS[L_LOSS, 0]
            if batch > 0 and k < n_steps:  # a minibatch gradient replaces the exact one
                LS[L_SAMPLED, 0] = problem_sample_grad(prob, pdata, X[:, 0], G[:, 0], W[:, 0],
                                                       key, k, batch, im[I_REPLACE] != 0)
            verdict[0] = check_lane(k, 0, plateau, lr_k, blowup, fm[F_FSTAR], fm[F_TARGET],
                                    PS, LS)
        cuda.syncthreads()
        status = verdict[0]
        recording = r < n_rec and rec_steps[r] == k
        last = k == n_steps
        if recording or status != FINISHED or last:
            best = math.inf
            for m in range(xs_count):
                s2, _ = _block_sums(red, sq_dist_rows(X[:, 0], xs, m, tid, d, nt), 0.0)
                if s2 < best:
                    best = s2
            if tid == 0:
                report_lane(j, 0, r, k, recording, status, last, mom, fm[F_FSTAR],
                            math.sqrt(best) if xs_count > 0 else math.nan, X, d, slots, LS,
                            out_trace, out_x, out_status, out_final)
            cuda.syncthreads()  # x_k is recorded before the update moves it
        if status != FINISHED or last:
            return
        if recording:
            r += 1
        if noise_kind != 0:
            perturb_gradient_rows(noise_kind, fm[F_NOISE_SCALE], fm[F_NOISE_DOF], key, k,
                                  G[:, 0], tid, d, nt)
        record_step_k = recording and record_step
        if record_step_k:  # x_k of this thread's rows, for the step channels
            for i in range(tid, d, nt):
                E[i, 0] = X[i, 0]
        optimizer_step(code, hpb, LS[L_LR], mom, k + 1.0, X_rows, G_rows, S_rows, sc, coef)
        cuda.syncthreads()
        if tid == 0:
            problem_project(prob, pdata, X)  # constrained families (identity elsewhere)
            if record_step_k:
                record_step_sizes(out_trace, r - 1, slots, lane_traj[blk], LS[L_ACTIVE], X, G,
                                  E)
            if plateau:
                plateau_lane(0, fm, fm[F_PL_EMA], PS, LS)


@template("cuda.jit(cache=True)")
def run_grid_cuda_blocks(inputs, per_lane, outputs):
    """Block mode: thread block ``blk`` runs trajectory ``blk`` (the CPU kernel's bundles,
    packed one lane per block, with ``SC`` and ``C`` empty: those are per thread here)."""
    red = cuda.shared.array((2, MAX_BLOCK_THREADS), float64)
    verdict = cuda.shared.array(1, int64)
    sc = cuda.local.array(SCALAR_SLOTS, float64)
    coef = cuda.local.array((COEF_SLOTS, 1), per_lane.X.dtype)
    part = cuda.local.array(1, float64)
    _run_trajectory(cuda.blockIdx.x, red, verdict, sc, coef, part, _arr(inputs), _arr(per_lane),
                    _arr(outputs))
