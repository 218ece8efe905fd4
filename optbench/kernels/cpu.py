"""CPU engine: one parallel region over all blocks of a shard."""
from numba import njit, prange

from .engine import run_block


@njit(parallel=True, cache=True, error_model="numpy")
def run_grid_cpu(n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data, xs_data,
                 lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C, PS, LS, E,
                 out_trace, out_x, out_status, out_final):
    """Run every block (rows of ``bmeta``) in parallel; see ``run_block``."""
    for blk in prange(bmeta.shape[0]):
        run_block(blk, n_steps, bmeta, bfmeta, hp, lr_table, mom_table, prob_data, xs_data,
                  lane_traj, noise_keys, blowup, rec_steps, slots, X, G, W, S, SC, C, PS, LS, E,
                  out_trace, out_x, out_status, out_final)
