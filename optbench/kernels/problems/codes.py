"""Problem family codes (stable: stored runs and CUDA kernels refer to them) and the salts
of a trajectory's random sub-streams."""
import numpy as np

# Problem family codes (stable: stored runs and CUDA kernels refer to them).
QUADRATIC = 0
ROSENBROCK = 1
LEAST_SQUARES = 2
LOGISTIC = 3
SOFTMAX = 4
HUBER = 5
REDDI = 6
RASTRIGIN = 7
ACKLEY = 8
GRIEWANK = 9
LEVY = 10
STYBLINSKI_TANG = 11
BEALE = 12
BOOTH = 13
HIMMELBLAU = 14
GOLDSTEIN_PRICE = 15
SIX_HUMP_CAMEL = 16
MATRIX_FACTORIZATION = 17
PHASE_RETRIEVAL = 18
MLP = 19

# Salts that derive the sub-streams of a trajectory's key (noise uses the key itself).
_SAMPLE_SALT = np.uint64(0x5A3D1E7C9B2F4861)
_REDDI_SALT = np.uint64(0x2C1B3A4D5E6F7081)
_FEISTEL_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_U1 = np.uint64(1)
_U0 = np.uint64(0)
