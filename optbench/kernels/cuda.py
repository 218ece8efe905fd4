"""CUDA engine: one GPU thread per trajectory, running the CPU's own ``run_block``.

``run_grid_cuda`` takes the CPU kernel's argument list (``Packed(...).kernel_args()``) with one
change: ``SC``, the optimizer's scalar state, gets a lane axis, shape (blocks, lanes,
SCALAR_SLOTS), because the lanes of a block now run in different threads and must not share
it (NAdam's running product, SGD's first-step flag). Thread ``t`` calls ``run_lane(t, ...)``,
which runs lane ``b = t % lanes`` of block ``blk = t // lanes`` as ``run_block(blk, ...)`` on
one-lane *views* of the packed arrays (``X[:, :, b:b+1]`` ...): every update rule, schedule
value, problem gradient, noise draw and plateau step is the ``@njit`` function the CPU engine
runs, compiled by numba-cuda as a device function. No formula exists here.

Under numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) the kernel body runs as Python and
``run_lane`` is the CPU-compiled function (cached on disk like the CPU kernel), so the
simulator checks the kernel's wiring, not the CUDA compilation of the math; compiling the
kernel to PTX checks that (tests/test_cuda.py says which check proves what).

Layout: the lanes of a block share a configuration (problem, optimizer, schedule), so a warp
of consecutive threads takes the same branches of the rule dispatch, and lane ``b`` is the
fastest axis of every per-lane array, so a warp's loads and stores of one coordinate are
coalesced. Empty lanes (``lane_traj < 0``) return at once.

Numerics on a real GPU: NVVM contracts a*b + c into fused multiply-adds (its default; numba-cuda
only changes it with fastmath, which stays off) and takes exp/log/sin/cos/pow from libdevice, so
GPU numbers agree with the CPU's to round-off, not bit for bit; the integer random streams
(SplitMix64 on uint64) are bitwise identical, the normal draws built on them to round-off.

This module imports ``numba.cuda``; ``optbench.cuda_backend`` imports it only when the CUDA
backend is asked for.
"""
from numba import config, cuda, njit

from .engine import run_block

#: True when numba runs CUDA kernels in its Python simulator (NUMBA_ENABLE_CUDASIM=1)
SIMULATOR = bool(config.ENABLE_CUDASIM)

if SIMULATOR:
    def _arr(a):
        """The simulator hands a kernel wrapped NumPy arrays, which compiled (@njit) code
        cannot take; unwrap them. (On the device this is the identity below.)"""
        return a._item._ary
else:
    @cuda.jit(device=True, forceinline=True)
    def _arr(a):
        return a


@njit(cache=True, error_model="numpy")
def run_lane(t, n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data, xs_data,
             lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C, PS, LS, E,
             out_trace, out_x, out_status, out_final):
    """Thread ``t``'s work: lane ``t % lanes`` of block ``t // lanes`` (nothing for a thread
    past the grid or an empty lane), as ``run_block`` on one-lane views of the block."""
    lanes = lane_traj.shape[1]
    blk = t // lanes
    if blk >= lane_traj.shape[0]:
        return
    b = t - blk * lanes
    if lane_traj[blk, b] < 0:
        return
    run_block(blk, n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data, xs_data,
              lane_traj[:, b:b + 1], noise_keys[:, b:b + 1], blowup, rec_steps, slots,
              X[:, :, b:b + 1], G[:, :, b:b + 1], W[:, :, b:b + 1], S[:, :, :, b:b + 1],
              SC[:, b, :], C[:, :, b:b + 1], PS[:, :, b:b + 1], LS[:, :, b:b + 1],
              E[:, :, b:b + 1], out_trace, out_x, out_status, out_final)


@cuda.jit
def run_grid_cuda(n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data, xs_data,
                  lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C, PS, LS, E,
                  out_trace, out_x, out_status, out_final):
    """One thread per trajectory: thread t runs ``run_lane(t, ...)``."""
    run_lane(cuda.grid(1), n_steps, _arr(bmeta), _arr(bfmeta), _arr(hp), _arr(lr_table),
             _arr(mom_table), _arr(prob_data), _arr(xs_data), _arr(lane_traj),
             _arr(noise_keys), blowup, _arr(rec_steps), _arr(slots), _arr(X), _arr(G),
             _arr(W), _arr(S), _arr(SC), _arr(C), _arr(PS), _arr(LS), _arr(E),
             _arr(out_trace), _arr(out_x), _arr(out_status), _arr(out_final))
