"""CPU engine: one parallel region over all trajectories of a shard."""
from numba import njit, prange

from .engine import run_trajectory


@njit(parallel=True, cache=True)
def run_grid_cpu(n_steps, imeta, fmeta, hp, lr_table, mom_table, prob_data, xs_data,
                 noise_keys, blowup, rec_steps, slots, x, g, w, s, sc, ps,
                 out_trace, out_x, out_status, out_final):
    """Run every trajectory (rows of ``imeta``) in parallel; see ``run_trajectory``."""
    for j in prange(imeta.shape[0]):
        run_trajectory(j, n_steps, imeta, fmeta, hp, lr_table, mom_table, prob_data, xs_data,
                       noise_keys, blowup, rec_steps, slots, x, g, w, s, sc, ps,
                       out_trace, out_x, out_status, out_final)
