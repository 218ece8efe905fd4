"""Every optimizer rule against independent reference trajectories, plus spec validation.

``tests/reference/optimizers.npz`` is written by ``scripts/make_reference_optimizers.py``
from torch.optim 2.13 (float64, for-loop implementations), optax.lion, and a plain-numpy
transcription of the Adam docstring for the variants no library has. Here the same gradient
protocol is replayed with the compiled rules called directly (the ``optimizer_init`` /
``optimizer_step`` dispatch of each optimizer's generated kernel), without torch or jax.

Tolerance: rtol = 1e-10 and atol = 1e-300. The atol only lets an exact 0 match a 1e-300-sized
value, so every compared coordinate, however small, is held to the relative bound: no stored
trajectory value is smaller than 1e-8 in magnitude unless it is exactly zero (asserted in
``test_reference_file_is_meaningful``), so the atol cannot hide a real error. Observed
agreement is round-off (largest relative error ~2e-12, on coordinates passing close to zero;
torch's CPU kernels fuse multiply-adds, the njit rules do not).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from optbench import optimizers as opt_mod
from optbench.codegen import kernel_for
from optbench.families import BY_NAME, FAMILIES
from optbench.optimizers import REGISTRY

from naive import NUMPY_RULES

RTOL = 1e-10
ATOL = 1e-300
REFERENCE = Path(__file__).resolve().parent / "reference" / "optimizers.npz"


def _load():
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files}


DATA = _load()
N_CASES = len(DATA["config"])


def _case_id(i):
    cfg = json.loads(str(DATA["config"][i]))
    name = cfg.pop("type")
    args = ",".join(f"{key}={val}" for key, val in sorted(cfg.items()))
    proto = ["quad", "seq"][int(DATA["protocol"][i])]
    tables = "+lr_table" * bool(DATA["has_lr"][i]) + "+mom_table" * bool(DATA["has_mom"][i])
    return f"{i:03d}-{name}({args})-{proto}{tables}"


LANES = 3  # every case runs as a block of identical lanes: each lane must match torch


def replay(i):
    """Our trajectory for case ``i``: the njit rule driven by the stored gradient protocol,
    run on a block of LANES identical lanes (returns lane trajectories, (LANES, steps+1, d))."""
    spec = opt_mod.Optimizer.from_dict(json.loads(str(DATA["config"][i])))
    hp = spec.hyperparams()
    steps = int(DATA["steps"])
    proto = int(DATA["protocol"][i])
    sigma = float(DATA["sigma"][i])
    H, c, s_quad, s_seq = DATA["H"], DATA["c"], DATA["s_quad"], DATA["s_seq"]
    d = DATA["x0"][i].shape[0]
    X = np.repeat(DATA["x0"][i][:, None], LANES, axis=1)  # (d, lanes)
    kernel = kernel_for([spec], "vector")
    S = np.zeros((kernel.state_slots, d, LANES))
    SC = np.zeros(kernel.scalar_slots)
    C = np.zeros((kernel.coef_slots, LANES))
    kernel.optimizer_init(0, hp, S, SC)
    traj = np.empty((LANES, steps + 1, d))
    traj[:, 0] = X.T
    for step in range(steps):
        if proto == 0:
            G = sigma * H[:, None] * (X - c[:, None]) + s_quad[step][:, None]
        else:
            G = np.repeat(s_seq[step][:, None], LANES, axis=1)
        lr = DATA["lr"][i, step] if DATA["has_lr"][i] else hp[0]
        mom = DATA["mom"][i, step] if DATA["has_mom"][i] else hp[1]
        kernel.optimizer_step(0, hp, np.full(LANES, float(lr)), float(mom), float(step + 1),
                              X, np.ascontiguousarray(G), S, SC, C)
        traj[:, step + 1] = X.T
    return traj


def replay_numpy(i):
    """Case ``i`` by the rule's plain numpy transcription (``naive.NUMPY_RULES``), one lane."""
    spec = opt_mod.Optimizer.from_dict(json.loads(str(DATA["config"][i])))
    rule = NUMPY_RULES[type(spec).definition().__name__]
    params, hp = spec.params(), spec.hyperparams()
    proto, sigma = int(DATA["protocol"][i]), float(DATA["sigma"][i])
    x, state, traj = DATA["x0"][i].copy(), {}, [DATA["x0"][i].copy()]
    for step in range(int(DATA["steps"])):
        if proto == 0:
            g = sigma * DATA["H"] * (x - DATA["c"]) + DATA["s_quad"][step]
        else:
            g = DATA["s_seq"][step].copy()
        lr = DATA["lr"][i, step] if DATA["has_lr"][i] else hp[0]
        mom = DATA["mom"][i, step] if DATA["has_mom"][i] else hp[1]
        x = rule(x, g, state, step + 1, float(lr), float(mom), params)
        traj.append(x.copy())
    return np.array(traj)


def test_every_rule_has_a_numpy_transcription():
    assert set(NUMPY_RULES) == {cls.definition().__name__ for cls in REGISTRY.values()}


@pytest.mark.parametrize("i", range(N_CASES), ids=_case_id)
def test_rule_matches_its_numpy_transcription(i):
    """The compiled rule against its plain numpy loop (no torch involved), and the numpy
    loop against the library's stored trajectory: two independent checks of each case."""
    ours, numpy_traj = replay(i)[0], replay_numpy(i)
    np.testing.assert_allclose(ours, numpy_traj, rtol=RTOL, atol=ATOL, err_msg=_case_id(i))
    np.testing.assert_allclose(numpy_traj, DATA["trajectory"][i], rtol=RTOL, atol=ATOL,
                               err_msg=f"numpy vs {DATA['reference'][i]}")


@pytest.mark.parametrize("i", range(N_CASES), ids=_case_id)
def test_trajectory_matches_reference(i):
    lanes = replay(i)
    ref = DATA["trajectory"][i]
    assert np.all(np.isfinite(lanes))
    for ours in lanes:
        np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=ATOL,
                                   err_msg=f"{_case_id(i)} vs {DATA['reference'][i]}")


def test_reference_file_is_meaningful():
    """The stored cases cover every optimizer, both protocols, and actually move."""
    names = {json.loads(str(c))["type"] for c in DATA["config"]}
    assert names == set(REGISTRY), names ^ set(REGISTRY)
    assert set(DATA["protocol"].tolist()) == {0, 1}
    traj = DATA["trajectory"]
    assert traj.shape == (N_CASES, int(DATA["steps"]) + 1, 5)
    assert traj.dtype == np.float64
    moved = np.abs(traj[:, -1] - traj[:, 0]).max(axis=1)
    assert np.all(moved > 0.0)
    # ATOL never applies to a nonzero value: trajectories have no tiny nonzero entries.
    nonzero = np.abs(traj[traj != 0.0])
    assert nonzero.min() > 1e-8
    # torch cases really come from torch 2.13's for-loop implementations
    refs = [str(r) for r in DATA["reference"]]
    assert all(" 2.13" in r and "foreach=False" in r for r in refs if r.startswith("torch"))
    assert {r.split()[0] for r in refs} == {f.peer for f in FAMILIES} | {"numpy"}
    # each family's cases come from its peer, or from numpy where they use an extension
    for config, ref in zip(DATA["config"], refs):
        kw = json.loads(str(config))
        family = BY_NAME[kw["type"]]
        assert ref.split()[0] == ("numpy" if family.extensions & kw.keys() else family.peer)
    # the pure sequence has runs of exactly zero gradient, sign flips and 1e6 jumps
    seq = DATA["s_seq"]
    assert np.any(np.all(seq == 0.0, axis=1))
    assert np.abs(seq).max() / np.abs(seq[seq != 0]).min() > 1e10
    assert np.any(seq > 0) and np.any(seq < 0)
    H = DATA["H"]
    assert H.min() == pytest.approx(1e-3) and H.max() == pytest.approx(1e2)
    # per-step tables are really exercised
    assert DATA["has_lr"].sum() >= 10 and DATA["has_mom"].sum() >= 10


def test_radam_crosses_rectification_threshold():
    """Default beta2: rho_t <= 5 for t <= 5, > 5 from t = 6 (both branches are replayed)."""
    b2 = 0.999
    rho_inf = 2.0 / (1.0 - b2) - 1.0
    rho = [rho_inf - 2.0 * t * b2**t / (1.0 - b2**t) for t in range(1, 8)]
    assert all(r <= 5.0 for r in rho[:5]) and rho[5] > 5.0


# ---- spec behaviour ---------------------------------------------------------------------------

ALL = sorted(REGISTRY)


def test_every_registered_optimizer_is_in_the_family_table():
    """optbench.families drives the reference script, the CUDA grids and bench_peers: a
    built-in optimizer missing there would be checked by none of them."""
    assert set(ALL) == set(BY_NAME) == {"SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam",
                                        "RMSprop", "Adagrad", "Adadelta", "Lion"}
    for family in FAMILIES:
        assert family.spec is REGISTRY[family.name]
        specs = family.specs()
        assert len(set(specs)) == len(family.variants)  # no two variants alike
        assert all(type(spec) is family.spec for spec in specs)


@pytest.mark.parametrize("name", ALL)
def test_hyperparams_length_and_base(name):
    spec = REGISTRY[name]()
    hp = spec.hyperparams()
    assert hp.shape == (len(spec.slot_names),)
    assert hp.dtype == np.float64
    assert hp[spec.slot_of("lr")] == spec.lr == hp[0]
    assert spec.base_momentum() == hp[1]


@pytest.mark.parametrize("name", ALL)
def test_round_trip_defaults(name):
    spec = REGISTRY[name]()
    data = spec.to_dict()
    assert data["type"] == name
    back = opt_mod.Optimizer.from_dict(json.loads(json.dumps(data)))
    assert back == spec and type(back) is type(spec)
    assert np.array_equal(back.hyperparams(), spec.hyperparams())


@pytest.mark.parametrize("i", range(0, N_CASES, 2))
def test_round_trip_stored_configs(i):
    spec = opt_mod.Optimizer.from_dict(json.loads(str(DATA["config"][i])))
    back = opt_mod.Optimizer.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert back == spec and hash(back) == hash(spec)
    assert np.array_equal(back.hyperparams(), spec.hyperparams())


def test_round_trip_changes_are_visible():
    a = opt_mod.Adam(lr=1e-2, amsgrad=True, bias_correction="second_moment_only")
    b = opt_mod.Adam(lr=1e-2, amsgrad=True)
    assert a != b
    assert opt_mod.Optimizer.from_dict(a.to_dict()) == a
    assert opt_mod.Optimizer.from_dict(a.to_dict()) != b


def test_defaults_follow_torch():
    """Keyword defaults as in torch.optim 2.x (Lion: optax's betas / weight decay)."""
    expect = {
        "SGD": dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                    maximize=False),
        "Adam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                     maximize=False, decoupled_weight_decay=False),
        "AdamW": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                      amsgrad=False, maximize=False),
        "NAdam": dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                      momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False),
        "RAdam": dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                      decoupled_weight_decay=False, maximize=False),
        "Adamax": dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                       maximize=False),
        "RMSprop": dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                        centered=False, maximize=False),
        "Adagrad": dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                        eps=1e-10, maximize=False),
        "Adadelta": dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False),
        "Lion": dict(betas=(0.9, 0.99), weight_decay=1e-3),
    }
    for name, defaults in expect.items():
        got = REGISTRY[name].defaults()
        for key, value in defaults.items():
            assert got[key] == value, (name, key)


def test_adamw_is_decoupled():
    hp = opt_mod.AdamW().hyperparams()
    slot = opt_mod.AdamW.slot_of
    assert hp[slot("decoupled_weight_decay")] == 1.0 and hp[slot("weight_decay")] == 1e-2
    assert "decoupled_weight_decay" not in opt_mod.AdamW.param_names()


# ---- argument validation: a ValueError that names the argument ---------------------------------

BAD = [
    ("SGD", {"lr": -0.1}, "lr"),
    ("SGD", {"lr": float("nan")}, "lr"),
    ("SGD", {"lr": "0.1"}, "lr"),
    ("SGD", {"momentum": -0.5}, "momentum"),
    ("SGD", {"weight_decay": -1.0}, "weight_decay"),
    ("SGD", {"nesterov": True}, "nesterov"),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov"),
    ("SGD", {"maximize": 1}, "maximize"),
    ("Adam", {"lr": -1e-3}, "lr"),
    ("Adam", {"betas": (1.0, 0.999)}, "betas[0]"),
    ("Adam", {"betas": (0.9, -0.1)}, "betas[1]"),
    ("Adam", {"betas": (0.9, 1.5)}, "betas[1]"),
    ("Adam", {"betas": 0.9}, "betas"),
    ("Adam", {"betas": (0.9, 0.99, 0.9)}, "betas"),
    ("Adam", {"eps": -1e-8}, "eps"),
    ("Adam", {"weight_decay": -0.1}, "weight_decay"),
    ("Adam", {"amsgrad": "yes"}, "amsgrad"),
    ("Adam", {"bias_correction": "first_only"}, "bias_correction"),
    ("Adam", {"eps_inside_sqrt": 0}, "eps_inside_sqrt"),
    ("Adam", {"decoupled_weight_decay": None}, "decoupled_weight_decay"),
    ("AdamW", {"betas": (-0.1, 0.999)}, "betas[0]"),
    ("Adamax", {"betas": (0.9, 1.0)}, "betas[1]"),
    ("Adamax", {"eps": -1.0}, "eps"),
    ("NAdam", {"momentum_decay": -0.004}, "momentum_decay"),
    ("NAdam", {"betas": (1.2, 0.999)}, "betas[0]"),
    ("RAdam", {"betas": (0.9, 1.0)}, "betas[1]"),
    ("RAdam", {"weight_decay": -1e-2}, "weight_decay"),
    ("RMSprop", {"alpha": -0.1}, "alpha"),
    ("RMSprop", {"momentum": -0.9}, "momentum"),
    ("RMSprop", {"centered": "no"}, "centered"),
    ("Adagrad", {"lr_decay": -0.1}, "lr_decay"),
    ("Adagrad", {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
    ("Adagrad", {"eps": -1e-10}, "eps"),
    ("Adadelta", {"rho": 1.5}, "rho"),
    ("Adadelta", {"rho": -0.1}, "rho"),
    ("Adadelta", {"lr": -1.0}, "lr"),
    ("Lion", {"betas": (0.9, 1.5)}, "betas[1]"),
    ("Lion", {"weight_decay": -1.0}, "weight_decay"),
    ("Lion", {"lr": -1e-4}, "lr"),
]


@pytest.mark.parametrize("name,kwargs,arg", BAD,
                         ids=[f"{n}-{a}-{i}" for i, (n, _, a) in enumerate(BAD)])
def test_bad_arguments_name_the_argument(name, kwargs, arg):
    with pytest.raises(ValueError) as info:
        REGISTRY[name](**kwargs)
    message = str(info.value)
    assert arg in message and name in message, message
    # the same through from_dict (suite files), as a one-line error
    with pytest.raises(ValueError) as info:
        opt_mod.Optimizer.from_dict({"type": name, **kwargs})
    assert arg in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", ALL)
def test_good_edge_values_are_accepted(name):
    cls = REGISTRY[name]
    cls(lr=0.0)
    if "betas" in cls.param_names():
        cls(betas=(0.0, 0.0))
    if "weight_decay" in cls.param_names():
        cls(weight_decay=0.0)


def test_unknown_keyword_is_named_with_hint():
    with pytest.raises(ValueError, match=r"'betass'.*did you mean 'betas'"):
        opt_mod.Optimizer.from_dict({"type": "Adam", "betass": [0.9, 0.99]})
    with pytest.raises(ValueError, match="momentum"):
        opt_mod.Optimizer.from_dict({"type": "SGD", "momentun": 0.9})


@pytest.mark.parametrize("wrong,right", [("Adamm", "Adam"), ("AdamWW", "AdamW"),
                                         ("RMSProp", "RMSprop"), ("Adagard", "Adagrad"),
                                         ("SDG", "SGD"), ("Lino", "Lion"),
                                         ("Nadam", "NAdam"), ("Adadleta", "Adadelta")])
def test_misspelled_name_gives_hint(wrong, right):
    with pytest.raises(ValueError, match=rf"unknown optimizer '{wrong}'.*did you mean '{right}'"):
        REGISTRY.lookup(wrong)
    with pytest.raises(ValueError, match=rf"did you mean '{right}'"):
        opt_mod.Optimizer.from_dict({"type": wrong})


def test_lookup_of_far_name_has_no_hint():
    with pytest.raises(ValueError) as info:
        REGISTRY.lookup("Shampoo")
    assert "did you mean" not in str(info.value) and "Shampoo" in str(info.value)
    with pytest.raises(ValueError):
        REGISTRY.lookup(3)


def test_specs_are_immutable():
    spec = opt_mod.SGD(lr=0.1)
    with pytest.raises(AttributeError):
        spec.lr = 0.2
    assert spec.replace(lr=0.2).lr == 0.2 and spec.lr == 0.1
