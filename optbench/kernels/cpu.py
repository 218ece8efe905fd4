"""CPU driver: some blocks of a shard in one compiled call, without the GIL.

Each optimizer definition has its own CPU kernel (``optbench.codegen``); the host
(``optbench.engine``) hands each kernel the blocks of its rule, in chunks, on a pool of
threads (blocks are independent, so results do not depend on the split or the thread count).
Threads from the host rather than ``prange``: a ``parallel=True`` kernel compiled the
trajectory loop a second time as a gufunc, which tripled the compile time of every kernel.
"""
from . import template
from .engine import run_block


@template("njit(nogil=True, cache=True, error_model='numpy')")
def run_blocks(blocks, n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data,
               xs_data, lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C,
               PS, LS, E, out_trace, out_x, out_status, out_final):
    """Run the blocks listed in ``blocks`` (rows of ``bmeta``); see ``run_block``."""
    for blk in blocks:
        run_block(blk, n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data, xs_data,
                  lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C, PS, LS, E,
                  out_trace, out_x, out_status, out_final)
