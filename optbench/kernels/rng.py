"""Counter-based random numbers: the value depends only on (key, counter).

A trajectory's stream is keyed by (seed, stream id) and indexed by a counter (step and
coordinate), so the numbers do not depend on thread count, shard layout or backend: the CPU
and CUDA engines draw the same values. The mixing function is SplitMix64's finaliser
(Steele, Lea & Flood, OOPSLA 2014), applied to key + (counter + 1) * golden gamma.
All arithmetic is explicit uint64 so it wraps identically everywhere.
"""
import math

import numpy as np
from numba import njit

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_TWO_POW_M53 = 1.0 / 9007199254740992.0


@njit(inline="always")
def mix64(z):
    """SplitMix64 finaliser: a bijective avalanche mix of a uint64."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def stream_key(seed, stream):
    """The key of stream ``stream`` (e.g. a problem's start points) under ``seed``."""
    return mix64(mix64(np.uint64(seed) + _GAMMA) ^ (np.uint64(stream) * _M2 + _ONE))


@njit(inline="always")
def uniform(key, counter):
    """A float64 in [0, 1) from 53 random bits."""
    bits = mix64(key + (np.uint64(counter) + _ONE) * _GAMMA)
    return float(bits >> _S11) * _TWO_POW_M53


@njit
def normal(key, counter):
    """A standard normal draw (Box-Muller on counters 2c and 2c+1)."""
    u1 = uniform(key, 2 * counter)
    u2 = uniform(key, 2 * counter + 1)
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True)
def fill_uniform(key, out):
    """out[i] = uniform(key, i): a whole vector of the stream (from Python or device code)."""
    for i in range(out.shape[0]):
        out[i] = uniform(key, i)


@njit(cache=True)
def fill_normal(key, out):
    """out[i] = normal(key, i)."""
    for i in range(out.shape[0]):
        out[i] = normal(key, i)


@njit(cache=True)
def fill_stream_keys(seeds, stream, out):
    """out[r] = stream_key(seeds[r], stream): the keys of one stream for many seeds."""
    for r in range(out.shape[0]):
        out[r] = stream_key(seeds[r], stream)


@njit(cache=True)
def fill_uniform_rows(seeds, stream, out):
    """out[r, i] = uniform(stream_key(seeds[r], stream), i): one row per seed."""
    for r in range(out.shape[0]):
        key = stream_key(seeds[r], stream)
        for i in range(out.shape[1]):
            out[r, i] = uniform(key, i)
