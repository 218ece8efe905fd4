"""The layout the kernels and the host share: columns of the per-block metadata, the
recorded channels, per-lane scalars, statuses and plateau state. Plain constants (no
numba): the plan, the results and the schedules read them without importing the
kernels; ``optbench.kernels`` stamps its cache with this file too."""

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
