"""CPU driver: the blocks of one kernel's rules in a shard, in parallel over blocks.

Each CPU kernel (``optbench.codegen``: the built-in rules together, each user rule or
problem alone) runs the blocks of its rules in one compiled call; blocks are independent, so
results do not depend on how ``prange`` splits them or on the thread count. (A plain loop
run from a pool of host threads compiles in half the time, but its trajectory loop ran 6%
slower single-threaded and 10-15% slower on two threads, measured on workload A.)
"""
from numba import prange

from . import template
from .engine import run_block


@template("njit(parallel=True, cache=True, error_model='numpy')")
def run_blocks(blocks, n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data,
               xs_data, lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C,
               PS, LS, E, out_trace, out_x, out_status, out_final):
    """Run the blocks listed in ``blocks`` (rows of ``bmeta``); see ``run_block``."""
    for i in prange(blocks.size):
        run_block(blocks[i], n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data,
                  xs_data, lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C,
                  PS, LS, E, out_trace, out_x, out_status, out_final)
