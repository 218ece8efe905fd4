"""The term codes of the built-in finite sums (the last entry of their kernel data selects
the term ``finite_sums.finite_sum_loss_grad`` sums) and the salts of a trajectory's random
sub-streams."""
import numpy as np

LEAST_SQUARES = 2
LOGISTIC = 3
SOFTMAX = 4
HUBER = 5
MATRIX_FACTORIZATION = 17
PHASE_RETRIEVAL = 18
MLP = 19

# Salts that derive the sub-streams of a trajectory's key (noise uses the key itself).
_SAMPLE_SALT = np.uint64(0x5A3D1E7C9B2F4861)
_REDDI_SALT = np.uint64(0x2C1B3A4D5E6F7081)
_FEISTEL_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_U1 = np.uint64(1)
_U0 = np.uint64(0)
