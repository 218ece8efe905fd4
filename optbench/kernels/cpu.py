"""CPU driver: a range of blocks of a shard in one compiled call, without the GIL.

The host (``optbench.engine``) splits a shard's blocks into chunks and runs them on a pool of
threads (blocks are independent, so results do not depend on the split or the thread count).
Threads from the host rather than ``prange``: a ``parallel=True`` kernel compiled the
trajectory loop a second time as a gufunc, which tripled the compile time of every kernel.
"""
from . import template
from .engine import run_block


@template("njit(nogil=True, cache=True, error_model='numpy')")
def run_blocks(first, last, n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data,
               xs_data, lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C,
               PS, LS, E, out_trace, out_x, out_status, out_final):
    """Run blocks ``first`` .. ``last - 1`` (rows of ``bmeta``); see ``run_block``."""
    for blk in range(first, last):
        run_block(blk, n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data, xs_data,
                  lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C, PS, LS, E,
                  out_trace, out_x, out_status, out_final)
