"""The layout the kernels and the host share: columns of the per-block metadata, the
recorded channels, per-lane scalars, statuses and plateau state. Plain constants (no
numba): the plan, the results and the schedules read them without importing the
kernels; ``optbench.kernels`` stamps its cache with this file too.

It also names the trajectory loop's arguments (``kernels.engine.run_block(blk, inputs,
per_lane, outputs)``) as three bundles, ``Inputs``, ``Lanes`` and ``Outputs``: numba types
them as named tuples (arrays of any dtype and layout per field), ``engine.Packed`` builds
them, and the CUDA kernels take them as they are (numba-cuda passes a tuple's fields as
separate kernel parameters). The CPU kernels' entry ``cpu_block`` takes their fields flat
(``codegen._cpu_entry_source``: numba's ``prange`` cannot pass a tuple of arrays into its
loop body) and bundles them for the loop."""
from typing import Any, NamedTuple

# bmeta columns (int64, one row per block)
(I_OPT, I_SCHED_ROW, I_PROB, I_DIM, I_PROB_OFF, I_PROB_LEN, I_XS_OFF, I_XS_COUNT, I_PLATEAU,
 I_BATCH, I_REPLACE, I_NOISE_KIND) = range(12)
N_IMETA = 12
# bfmeta columns (float64, one row per block)
(F_FSTAR, F_TARGET, F_NOISE_SCALE, F_NOISE_DOF, F_PL_MAXIMIZE, F_PL_FACTOR, F_PL_PATIENCE,
 F_PL_THRESHOLD, F_PL_ABS, F_PL_COOLDOWN, F_PL_MIN_LR, F_PL_EPS, F_PL_EMA) = range(13)
N_FMETA = 13
# recorded scalar channels (last axis of the trace array): the iterate's, then the step's
(C_LOSS, C_LR, C_MOMENTUM, C_GRAD_NORM, C_SUBOPT, C_DIST, C_SAMPLED_LOSS, C_STEP, C_STEP_P10,
 C_STEP_P90) = range(10)
CHANNELS = ("loss", "lr", "momentum", "grad_norm", "suboptimality", "dist_to_opt",
            "sampled_loss", "eff_step", "eff_step_p10", "eff_step_p90")
N_CHANNELS = len(CHANNELS)
#: channels of the iterate x_k; the rest describe the step from x_k (the last record takes
#: none, so they have no final value)
ITERATE_CHANNELS = CHANNELS[:C_STEP]
#: quantile levels of the step channels, in channel order
STEP_QUANTILES = (0.5, 0.1, 0.9)
#: out_final columns of the channels: the iterate's own slots, none for the step channels
FINAL_SLOTS = tuple(range(C_STEP)) + (-1,) * len(STEP_QUANTILES)
# per-lane scalars of a block (rows of the LS scratch array)
L_LOSS, L_GNORM, L_SAMPLED, L_BOUND, L_LR, L_ACTIVE = range(6)
N_LANE_SCALARS = 6
# statuses
FINISHED, REACHED_TARGET, DIVERGED = 0, 1, 2
STATUS_NAMES = ("finished", "reached_target", "diverged")
# plateau state columns (P_EMA: moving average of the sampled loss, when F_PL_EMA > 0)
P_BEST, P_BAD, P_COOLDOWN, P_LR, P_EMA = range(5)
N_PLATEAU_STATE = 5


class Inputs(NamedTuple):
    """What the trajectory loop reads: the plan's packed arrays and scalars (read-only)."""
    n_steps: int  # optimizer steps per trajectory
    bmeta: Any  # (blocks, N_IMETA) int64: the I_* columns
    bfmeta: Any  # (blocks, N_FMETA) float64: the F_* columns
    hp: Any  # (blocks, hp slots): the rule's hyper-parameters
    lr_table: Any  # (schedule rows, n_steps + 1): lr of step k
    mom_table: Any  # (schedule rows, n_steps + 1): momentum of step k
    prob_data: Any  # every problem's data, concatenated (I_PROB_OFF, I_PROB_LEN)
    xs_data: Any  # every problem's known minimizers, concatenated (I_XS_OFF, I_XS_COUNT)
    lane_traj: Any  # (blocks, lanes) int64: the shard row of each lane, -1 when empty
    noise_keys: Any  # (blocks, lanes) uint64: each lane's random stream key
    blowup: float  # divergence bound factor
    rec_steps: Any  # the recorded steps, ascending
    slots: Any  # (N_CHANNELS,) int64: out_trace slot of each channel, -1 when not recorded


class Lanes(NamedTuple):
    """The per-lane work arrays (blocks first, lane axis last), written by the loop. The
    CUDA block-mode kernel keeps ``SC`` and ``C`` per thread: it is passed them empty."""
    X: Any  # (blocks, d, lanes): the iterates (start points on entry)
    G: Any  # (blocks, d, lanes): the gradients
    W: Any  # (blocks, work, lanes) float64: the problems' scratch
    S: Any  # (blocks, state slots, d, lanes): the rule's state
    SC: Any  # (blocks, scalar slots): the rule's step state (CUDA thread mode: per lane)
    C: Any  # (blocks, coef slots, lanes): the rule's per-lane step coefficients
    PS: Any  # (blocks, N_PLATEAU_STATE, lanes) float64: ReduceLROnPlateau state
    LS: Any  # (blocks, N_LANE_SCALARS, lanes) float64: the L_* lane scalars
    E: Any  # (blocks, d or 0, lanes) float64: step-channel scratch (d = 0: none recorded)


class Outputs(NamedTuple):
    """What the loop writes per trajectory j (a shard row)."""
    out_trace: Any  # (n, records, recorded channels): channel c in slot slots[c]
    out_x: Any  # (n, records or 0, max dim): the iterates, when recorded
    out_status: Any  # (n, 2) int64: (status, step)
    out_final: Any  # (n, ITERATE_CHANNELS): final value of each iterate channel


#: the trajectory loop's argument bundles, in its order after the block index
BUNDLES = (Inputs, Lanes, Outputs)
