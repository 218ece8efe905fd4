"""Shared fixtures. Kernels compile once per process (and are cached on disk after that)."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
