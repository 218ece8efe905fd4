"""VectorOptimizer: the engine's update rules on one long vector (workload C of the speed
benchmarks) reproduce the stored torch/optax/numpy reference trajectories coordinate by
coordinate, across chunk boundaries and the padded last row."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from optbench import VectorOptimizer
from optbench import optimizers as opt_mod
from optbench.kernels.vector import CHUNK_ROWS, VECTOR_LANES

REFERENCE = Path(__file__).resolve().parent / "reference" / "optimizers.npz"
with np.load(REFERENCE) as _data:
    DATA = {key: _data[key] for key in _data.files}
N_CASES = len(DATA["config"])
D = DATA["x0"].shape[1]
SMALL = 7  # 35 coordinates: one full row of lanes and a padded one
LARGE = CHUNK_ROWS * VECTOR_LANES // D + 1  # two parallel chunks, the last row padded
#: one case per optimizer class runs LARGE (chunked); every case runs SMALL
FIRST_OF_EACH = sorted({json.loads(str(c))["type"]: i
                        for i, c in reversed(list(enumerate(DATA["config"])))}.values())


def test_vector_sizes_cover_chunks_and_padding():
    assert D * SMALL % VECTOR_LANES != 0
    assert D * LARGE > CHUNK_ROWS * VECTOR_LANES and D * LARGE % VECTOR_LANES != 0
    assert len(FIRST_OF_EACH) == len(opt_mod.REGISTRY)


@pytest.mark.parametrize("i, tiles", [(i, SMALL) for i in range(N_CASES)]
                         + [(i, LARGE) for i in FIRST_OF_EACH])
def test_vector_step_matches_reference(i, tiles):
    """Case i replayed on the reference point tiled ``tiles`` times: every tile is the stored
    trajectory (rtol 1e-10, the tolerance of the rule-level reference tests)."""
    spec = opt_mod.Optimizer.from_dict(json.loads(str(DATA["config"][i])))
    steps = int(DATA["steps"])
    sigma = float(DATA["sigma"][i])
    H, c = np.tile(DATA["H"], tiles), np.tile(DATA["c"], tiles)
    opt = VectorOptimizer(spec, np.tile(DATA["x0"][i], tiles))
    ref = DATA["trajectory"][i]
    for step in range(steps):
        if DATA["protocol"][i] == 0:
            opt.grad[:] = sigma * H * (opt.params - c) + np.tile(DATA["s_quad"][step], tiles)
        else:
            opt.grad[:] = np.tile(DATA["s_seq"][step], tiles)
        opt.step(lr=DATA["lr"][i, step] if DATA["has_lr"][i] else None,
                 momentum=DATA["mom"][i, step] if DATA["has_mom"][i] else None)
        if step + 1 in (1, steps // 2, steps):
            copies = opt.params.reshape(tiles, D)
            np.testing.assert_allclose(copies, np.broadcast_to(ref[step + 1], copies.shape),
                                       rtol=1e-10, atol=1e-300)
    assert opt.t == steps


def test_float32_follows_float64():
    x0 = np.linspace(-2.0, 2.0, 100_003)
    g = np.cos(np.arange(x0.size) * 0.37)
    out = {}
    for dtype in (np.float64, np.float32):
        opt = VectorOptimizer(opt_mod.Adam(lr=1e-2), x0, dtype=dtype)
        for _ in range(20):
            opt.grad[:] = g
            opt.step()
        assert opt.params.dtype == dtype
        out[dtype] = opt.params.astype(np.float64)
    np.testing.assert_allclose(out[np.float32], out[np.float64], rtol=1e-5, atol=1e-6)
    assert not np.array_equal(out[np.float64], x0)


def _adam_float32_numpy(x, grads, lr, b1, b2, eps, wd):
    """Adam + decoupled weight decay in float32 numpy arithmetic, in the rule's operation
    order: the per-step scalars in float64, rounded to float32 once (as torch does)."""
    f32 = np.float32
    x = x.astype(f32)
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    for k, g in enumerate(grads, start=1):
        g = g.astype(f32)
        x = x * f32(1.0 - lr * wd)
        w = f32(1.0 - b1)
        m = m + w * (g - m)  # torch.lerp, weight < 0.5
        v = v * f32(b2) + f32(1.0 - b2) * g * g
        denom = np.sqrt(v) * f32(1.0 / np.sqrt(1.0 - b2**k)) + f32(eps)
        x = x - f32(lr / (1.0 - b1**k)) * (m / denom)
    return x


def test_float32_updates_are_float32_arithmetic():
    """A float32 vector is updated in float32 arithmetic (torch's behaviour for float32
    tensors), bit for bit the float32 transcription; float64 arithmetic would round
    differently in the last bit."""
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal(4099)
    grads = [rng.standard_normal(x0.size) * 10.0 ** rng.integers(-3, 3) for _ in range(25)]
    opt = VectorOptimizer(opt_mod.AdamW(lr=3e-2, weight_decay=0.1), x0, dtype=np.float32)
    for g in grads:
        opt.grad[:] = g
        opt.step()
    expected = _adam_float32_numpy(x0, grads, 3e-2, 0.9, 0.999, 1e-8, 0.1)
    np.testing.assert_array_equal(opt.params, expected)


def test_state_view_and_padding_stay_zero():
    opt = VectorOptimizer(opt_mod.Adam(lr=1e-3), np.ones(40))
    opt.grad[:] = 2.0
    opt.step()
    np.testing.assert_allclose(opt.state(0), 0.2)  # m = (1 - beta1) g
    np.testing.assert_allclose(opt.state(1), 0.004)  # v = (1 - beta2) g^2
    assert np.all(opt._X.reshape(-1)[40:] == 0.0)


@pytest.mark.parametrize("bad, message", [
    (dict(optimizer="Adam", params=np.ones(3)), "optimizer must be an optimizer spec"),
    (dict(optimizer=opt_mod.SGD(), params=np.ones((2, 2))), "non-empty 1-D array"),
    (dict(optimizer=opt_mod.SGD(), params=np.ones(3), dtype=np.int32), "float64 or float32"),
])
def test_bad_input_names_the_problem(bad, message):
    with pytest.raises(ValueError, match=message):
        VectorOptimizer(**bad)


def test_negative_step_lr_is_refused():
    opt = VectorOptimizer(opt_mod.SGD(lr=0.1), np.ones(3))
    with pytest.raises(ValueError, match="lr"):
        opt.step(lr=-1.0)
    assert opt.t == 0
