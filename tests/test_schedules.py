"""Learning-rate schedules against stored torch / optax / Keras traces, plus spec behaviour.

``tests/reference/schedules.npz`` is written by ``scripts/make_reference_schedules.py`` from
torch.optim.lr_scheduler 2.13 (float64), optax.warmup_cosine_decay_schedule (x64) and the
Keras InverseTimeDecay formula; see that script. Here ``Schedule.tables`` (the njit kernels in
``optbench.schedule_tables``) is compared with every stored trace at rtol 1e-12, and
ReduceLROnPlateau is replayed through the engine's ``plateau_update`` on the stored losses.
No torch or jax is imported.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from optbench import schedules as S
from optbench import layout
from optbench.kernels import engine as ke
from optbench.optimizers import REGISTRY as OPTIMIZERS
from optbench.optimizers import SGD, Adadelta, Adagrad, Adam, RMSprop
from optbench.schedules import REGISTRY

RTOL = 1e-12
REFERENCE = Path(__file__).resolve().parent / "reference" / "schedules.npz"


# FunctionLR's and CyclicLR's user functions, identical to scripts/make_reference_schedules.py
def warmup_decay(k):
    return min(1.0, (k + 1) / 100.0) * 0.999 ** k


def cosine_bump(k):
    return 0.5 * (1.0 + math.cos(math.pi * k / 250.0)) + 0.01


def cycle_decay(cycle):
    return 0.8 ** (cycle - 1)


def iteration_decay(k):
    return 1.0 / (1.0 + k / 200.0)


FUNCTIONS = {"warmup_decay": warmup_decay, "cosine_bump": cosine_bump,
             "cycle_decay": cycle_decay, "iteration_decay": iteration_decay}


def _load():
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files}


DATA = _load()
INDEX = json.loads(str(DATA["index"]))
META = json.loads(str(DATA["meta"]))
N_STEPS = META["n_steps"]
TRACE_CASES = [i for i, c in enumerate(INDEX) if not c["loss"]]
PLATEAU_CASES = [i for i, c in enumerate(INDEX) if c["loss"]]


def _with_functions(value):
    """Replace the "@name" placeholders (FunctionLR's fn, CyclicLR's scale_fn) by the
    functions above."""
    if isinstance(value, dict):
        value = {k: _with_functions(v) for k, v in value.items()}
        for key in ("fn", "scale_fn"):
            if isinstance(value.get(key), str) and value[key].startswith("@"):
                value[key] = FUNCTIONS[value[key][1:]]
        return value
    if isinstance(value, list):
        return [_with_functions(v) for v in value]
    return value


def _case(i):
    case = INDEX[i]
    schedule = S.Schedule.from_dict(_with_functions(case["spec"]))
    optimizer = OPTIMIZERS.lookup(case["optimizer"]["type"]).from_dict(case["optimizer"])
    return case, schedule, optimizer


def _rel_err(ours, ref):
    return np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-300))


def test_reference_file_is_complete():
    assert META["torch"].startswith("2.13.0")
    assert REFERENCE.stat().st_size < 2_000_000
    kinds = set()

    def collect(spec):
        kinds.add(spec["type"])
        for child in spec.get("schedulers", []):
            collect(child)

    for case in INDEX:
        collect(case["spec"])
    assert kinds == set(REGISTRY), set(REGISTRY) ^ kinds
    modes = {c["spec"].get("mode", "triangular") for c in INDEX if c["spec"]["type"] == "CyclicLR"}
    assert modes == {"triangular", "triangular2", "exp_range"}
    scaled = {c["spec"].get("scale_mode", "cycle") for c in INDEX
              if c["spec"]["type"] == "CyclicLR" and c["spec"].get("scale_fn")}
    assert scaled == {"cycle", "iterations"}  # torch's scale_fn in both scale modes
    plateau = [c["spec"] for c in INDEX if c["loss"]]
    assert {(p.get("mode", "min"), p.get("threshold_mode", "rel")) for p in plateau} == {
        ("min", "rel"), ("min", "abs"), ("max", "rel"), ("max", "abs")}


@pytest.mark.parametrize("i", TRACE_CASES, ids=[INDEX[i]["name"] for i in TRACE_CASES])
def test_tables_match_reference(i):
    case, schedule, optimizer = _case(i)
    lr, mom = schedule.tables(optimizer, N_STEPS)
    assert lr.shape == mom.shape == (N_STEPS + 1,)
    assert lr.dtype == mom.dtype == np.float64
    ref = DATA[f"lr_{i}"]
    assert len(np.unique(ref)) > 1  # the reference moves, so the comparison means something
    np.testing.assert_allclose(lr, ref, rtol=RTOL, atol=0.0)
    if case["has_momentum"]:
        np.testing.assert_allclose(mom, DATA[f"mom_{i}"], rtol=RTOL, atol=0.0)
        assert schedule.sets_momentum
    else:
        assert np.all(np.isnan(mom))
        assert not schedule.sets_momentum


def _replay_plateau(schedule, base_lr, loss):
    fm = np.zeros(layout.N_FMETA)
    for column, value in schedule.plateau_fmeta().items():
        fm[column] = value
    ps = np.zeros(layout.N_PLATEAU_STATE)
    ps[layout.P_BEST] = -math.inf if schedule.mode == "max" else math.inf
    ps[layout.P_LR] = base_lr
    out = [ps[layout.P_LR]]
    for value in loss:
        ke.plateau_update(fm, ps, value)
        out.append(ps[layout.P_LR])
    return np.array(out)


@pytest.mark.parametrize("i", PLATEAU_CASES, ids=[INDEX[i]["name"] for i in PLATEAU_CASES])
def test_plateau_replay_matches_reference(i):
    case, schedule, optimizer = _case(i)
    assert schedule.is_plateau
    loss = DATA[f"loss_{case['loss']}"]
    ref = DATA[f"lr_{i}"]
    assert len(np.unique(ref)) > 2  # it does reduce, more than once
    ours = _replay_plateau(schedule, optimizer.lr, loss[:N_STEPS])
    np.testing.assert_allclose(ours, ref, rtol=RTOL, atol=0.0)
    lr, mom = schedule.tables(optimizer, N_STEPS)
    assert np.all(lr == optimizer.lr) and np.all(np.isnan(mom))


def test_plateau_fmeta_columns():
    fm = S.ReduceLROnPlateau(mode="max", factor=0.5, patience=3, threshold=0.01,
                             threshold_mode="abs", cooldown=2, min_lr=1e-4,
                             eps=1e-9).plateau_fmeta()
    assert fm == {layout.F_PL_MAXIMIZE: 1.0, layout.F_PL_FACTOR: 0.5, layout.F_PL_PATIENCE: 3.0,
                  layout.F_PL_THRESHOLD: 0.01, layout.F_PL_ABS: 1.0, layout.F_PL_COOLDOWN: 2.0,
                  layout.F_PL_MIN_LR: 1e-4, layout.F_PL_EPS: 1e-9, layout.F_PL_EMA: 0.0}
    assert S.ReduceLROnPlateau().plateau_fmeta()[layout.F_PL_MAXIMIZE] == 0.0
    assert S.ReduceLROnPlateau(loss_ema=0.9).plateau_fmeta()[layout.F_PL_EMA] == 0.9
    with pytest.raises(ValueError, match="loss_ema"):
        S.ReduceLROnPlateau(loss_ema=1.0)
    assert not S.StepLR(10).is_plateau and S.ReduceLROnPlateau.is_plateau


def test_largest_error_is_tiny():
    """Most traces are bitwise torch's; the worst is a user function's k-th power."""
    worst = 0.0
    for i in TRACE_CASES:
        _, schedule, optimizer = _case(i)
        worst = max(worst, _rel_err(schedule.tables(optimizer, N_STEPS)[0], DATA[f"lr_{i}"]))
    assert worst < 1e-13


# ---- schedules with no library counterpart here ----------------------------------------------


def test_per_step_absolute_values_and_hold():
    values = [0.3, 0.2, 0.1, 0.05]
    lr, mom = S.PerStepLR(values).tables(SGD(lr=7.0), 4)
    assert lr.tolist() == [0.3, 0.2, 0.1, 0.05, 0.05]
    assert np.all(np.isnan(mom))
    rel, _ = S.PerStepLR(values, relative=True).tables(SGD(lr=2.0), 4)
    np.testing.assert_array_equal(rel, [0.6, 0.4, 0.2, 0.1, 0.1])
    with pytest.raises(ValueError, match="PerStepLR: values has 4 entries"):
        S.PerStepLR(values).check(SGD(), 5)


def test_function_lr_tabulates_and_rejects_unjittable():
    lr, _ = S.FunctionLR(cosine_bump).tables(Adam(lr=0.5), 10)
    np.testing.assert_allclose(lr, [0.5 * cosine_bump(k) for k in range(11)], rtol=1e-15)

    def needs_python(k):
        return float(len({k: object()}))

    with pytest.raises(ValueError, match="FunctionLR: fn cannot be compiled"):
        S.FunctionLR(needs_python).check(SGD(), 10)
    with pytest.raises(ValueError, match="FunctionLR: fn"):
        S.FunctionLR(3.0)
    with pytest.raises(ValueError, match="FunctionLR: fn 'no_such_module_xyz:f'"):
        S.FunctionLR("no_such_module_xyz:f")


def test_cycle_momentum_overwrites_optimizer_momentum():
    """torch sets momentum=max_momentum at construction, even on SGD(momentum=0)."""
    _, mom = S.CyclicLR(0.01, 0.1, step_size_up=10).tables(SGD(lr=0.1), 20)
    assert mom[0] == 0.9 and mom[10] == pytest.approx(0.8) and mom[20] == pytest.approx(0.9)
    _, mom = S.OneCycleLR(0.1, total_steps=20).tables(RMSprop(), 20)
    assert mom[0] == 0.95 and mom.min() == pytest.approx(0.85)
    _, mom = S.OneCycleLR(0.1, total_steps=20, cycle_momentum=False).tables(Adagrad(), 20)
    assert np.all(np.isnan(mom))


# ---- validation and composition errors ----------------------------------------------------

BAD_ARGS = [
    (S.ConstantLR, {"factor": 1.5}, "factor"),
    (S.ConstantLR, {"total_iters": -1}, "total_iters"),
    (S.StepLR, {"step_size": 0}, "step_size"),
    (S.StepLR, {"step_size": 2.5}, "step_size"),
    (S.StepLR, {"step_size": 10, "gamma": "x"}, "gamma"),
    (S.MultiStepLR, {"milestones": 5}, "milestones"),
    (S.MultiStepLR, {"milestones": [10, -3]}, "milestones[1]"),
    (S.ExponentialLR, {"gamma": float("nan")}, "gamma"),
    (S.LinearLR, {"start_factor": 0.0}, "start_factor"),
    (S.LinearLR, {"end_factor": 2.0}, "end_factor"),
    (S.PolynomialLR, {"power": -1.0}, "power"),
    (S.CosineAnnealingLR, {"T_max": 0}, "T_max"),
    (S.CosineAnnealingLR, {"T_max": "steps^2"}, "T_max"),
    (S.CosineAnnealingLR, {"T_max": "__import__('os')"}, "T_max"),
    (S.CosineAnnealingLR, {"T_max": 10, "eta_min": -1.0}, "eta_min"),
    (S.CosineAnnealingWarmRestarts, {"T_0": 10, "T_mult": 0}, "T_mult"),
    (S.CyclicLR, {"base_lr": 0.1, "max_lr": 1.0, "mode": "triangle"}, "mode"),
    (S.CyclicLR, {"base_lr": -0.1, "max_lr": 1.0}, "base_lr"),
    (S.CyclicLR, {"base_lr": 0.1, "max_lr": 1.0, "step_size_up": 0}, "step_size_up"),
    (S.CyclicLR, {"base_lr": 0.1, "max_lr": 1.0, "cycle_momentum": 1}, "cycle_momentum"),
    (S.OneCycleLR, {"max_lr": 1.0}, "total_steps"),
    (S.OneCycleLR, {"max_lr": 1.0, "total_steps": 100, "pct_start": 1.5}, "pct_start"),
    (S.OneCycleLR, {"max_lr": 1.0, "total_steps": 100, "anneal_strategy": "cosine"},
     "anneal_strategy"),
    (S.OneCycleLR, {"max_lr": 1.0, "total_steps": 100, "div_factor": 0.0}, "div_factor"),
    (S.ReduceLROnPlateau, {"mode": "minimum"}, "mode"),
    (S.ReduceLROnPlateau, {"factor": 1.0}, "factor"),
    (S.ReduceLROnPlateau, {"threshold_mode": "relative"}, "threshold_mode"),
    (S.ReduceLROnPlateau, {"patience": -1}, "patience"),
    (S.ReduceLROnPlateau, {"cooldown": 1.5}, "cooldown"),
    (S.InverseTimeDecay, {"decay_steps": 0, "decay_rate": 0.5}, "decay_steps"),
    (S.InverseTimeDecay, {"decay_steps": 10, "decay_rate": -0.5}, "decay_rate"),
    (S.WarmupCosine, {"warmup_steps": 100, "decay_steps": 100, "peak_lr": 0.1}, "decay_steps"),
    (S.WarmupCosine, {"warmup_steps": -1, "decay_steps": 100, "peak_lr": 0.1}, "warmup_steps"),
    (S.PerStepLR, {"values": [0.1, -0.1]}, "values[1]"),
    (S.PerStepLR, {"values": []}, "values"),
    (S.SequentialLR, {"schedulers": [], "milestones": []}, "schedulers"),
    (S.SequentialLR, {"schedulers": [{"type": "StepLR", "step_size": 0}], "milestones": []},
     "step_size"),
    (S.ChainedScheduler, {"schedulers": "StepLR"}, "schedulers"),
]


@pytest.mark.parametrize("cls,kwargs,name", BAD_ARGS,
                         ids=[f"{c.__name__}-{n}" for c, _, n in BAD_ARGS])
def test_bad_argument_names_it(cls, kwargs, name):
    with pytest.raises(ValueError) as info:
        cls(**kwargs)
    message = str(info.value)
    assert cls.__name__ in message and name in message
    assert "\n" not in message


COMPOSITION_ERRORS = [
    (lambda: S.SequentialLR([S.StepLR(10), S.ExponentialLR(0.9)], [5, 10]), None, 100,
     "milestones must have one entry fewer"),
    (lambda: S.SequentialLR([S.StepLR(10), S.ExponentialLR(0.9), S.LinearLR()], [50, 20]),
     None, 100, "strictly increasing"),
    (lambda: S.SequentialLR([S.StepLR(10), S.ExponentialLR(0.9), S.LinearLR()],
                            ["steps/2", 100]), SGD(), 1000, "strictly increasing"),
    (lambda: S.SequentialLR([S.StepLR(10), S.ReduceLROnPlateau()], [5]), None, 100,
     "ReduceLROnPlateau cannot be composed"),
    (lambda: S.ChainedScheduler([S.StepLR(10), S.ChainedScheduler([S.StepLR(5)])]), None, 100,
     "nested compositions"),
    (lambda: S.OneCycleLR(1.0, total_steps=999), SGD(), 1000, "total_steps=999 is shorter"),
    (lambda: S.OneCycleLR(1.0, epochs=9, steps_per_epoch=100), SGD(), 1000,
     "total_steps=900 is shorter"),
    (lambda: S.OneCycleLR(1.0, total_steps=10, pct_start=0.1), SGD(), 10, "zero length"),
    (lambda: S.OneCycleLR(1.0, total_steps=100), Adagrad(), 100, "cycle_momentum=True needs"),
    (lambda: S.CyclicLR(0.1, 1.0), Adadelta(), 100, "Adadelta has neither"),
    (lambda: S.SequentialLR([S.LinearLR(), S.CyclicLR(0.1, 1.0)], [10]), Adagrad(), 100,
     "cycle_momentum=True needs"),
    (lambda: S.SequentialLR([S.LinearLR(), S.OneCycleLR(1.0, total_steps=50)], [10]), SGD(),
     100, r"total_steps=50 is shorter than the run \(90 steps\)"),
    (lambda: S.WarmupCosine("steps/2", "steps/4", 0.1), SGD(), 1000, "decay_steps must exceed"),
    (lambda: S.CosineAnnealingLR("steps/2000"), SGD(), 1000, "T_max must be >= 1"),
    (lambda: S.ConstantLR(factor=0.0, total_iters=10), SGD(), 100, "factor=0 divides by zero"),
    (lambda: S.SequentialLR([S.StepLR(5), S.LinearLR(total_iters=0)], [10]), SGD(), 100,
     "total_iters=0 inside SequentialLR"),
]


@pytest.mark.parametrize("build,optimizer,n_steps,match", COMPOSITION_ERRORS,
                         ids=[m[:30] for *_, m in COMPOSITION_ERRORS])
def test_composition_errors(build, optimizer, n_steps, match):
    with pytest.raises(ValueError, match=match) as info:
        build().check(optimizer, n_steps) if optimizer is not None else build()
    assert "\n" not in str(info.value)


def test_check_passes_where_torch_runs():
    S.OneCycleLR(1.0, total_steps=1000).check(SGD(), 1000)  # stepping to total_steps is fine
    S.OneCycleLR(1.0, total_steps=100, cycle_momentum=False).check(Adagrad(), 100)
    S.SequentialLR([S.LinearLR(), S.OneCycleLR(1.0, total_steps=90)], [10]).check(SGD(), 100)
    S.CyclicLR(0.1, 1.0, cycle_momentum=False).check(Adagrad(), 100)
    S.PerStepLR([0.1] * 10).check(SGD(), 10)
    with pytest.raises(ValueError, match="optimizer must be an optimizer spec"):
        S.StepLR(10).check("SGD", 10)


# ---- relative step counts -----------------------------------------------------------------


@pytest.mark.parametrize("text,steps,value", [
    ("steps", 1000, 1000), ("steps/2", 1000, 500), ("0.5*steps", 1001, 500),
    ("steps - 100", 1000, 900), ("(steps + 1)//3", 1000, 333), ("0.3*steps", 1000, 300),
    ("steps/3", 1000, 333), ("2*steps/3", 999, 666), ("-(-steps)", 7, 7), ("1e2", 5, 100),
])
def test_resolve_steps(text, steps, value):
    assert S.resolve_steps(text, steps) == value


@pytest.mark.parametrize("text", ["steps**2", "steps/", "steps/0", "(steps", "step", "1 2",
                                  "steps; import os", "len(steps)"])
def test_bad_step_expressions(text):
    with pytest.raises(ValueError):
        S.resolve_steps(text, 100)
    with pytest.raises(ValueError, match="T_max"):
        S.CosineAnnealingLR(text)


def test_bind_resolves_relative_parameters():
    assert S.CosineAnnealingLR("steps/2").bind(1000) == S.CosineAnnealingLR(500)
    assert S.OneCycleLR(1.0, total_steps="steps").bind(321).total_steps == 321
    assert S.MultiStepLR(["steps/2", 900]).bind(1000).milestones == (500, 900)
    assert S.WarmupCosine("0.1*steps", "steps", 0.1).bind(200) == S.WarmupCosine(20, 200, 0.1)
    seq = S.SequentialLR([S.LinearLR(total_iters="steps/10"), S.CosineAnnealingLR("steps")],
                         ["steps/10"])
    assert seq.is_relative()
    bound = seq.bind(1000)
    assert not bound.is_relative()
    assert bound == S.SequentialLR([S.LinearLR(total_iters=100), S.CosineAnnealingLR(1000)],
                                   [100])
    chain = S.ChainedScheduler([S.StepLR("steps/4"), S.ExponentialLR(0.99)])
    assert chain.bind(400).schedulers[0].step_size == 100
    fixed = S.CosineAnnealingLR(10)
    assert fixed.bind(1000) is fixed and not fixed.is_relative()
    assert seq.bind(1000).bind(5) == bound  # bound schedules stay put
    # tables resolve by themselves, identically
    lr_rel, _ = seq.tables(SGD(lr=0.1), 1000)
    lr_abs, _ = bound.tables(SGD(lr=0.1), 1000)
    np.testing.assert_array_equal(lr_rel, lr_abs)
    lr_short, _ = seq.tables(SGD(lr=0.1), 100)
    expected = 0.1 * 0.5 * (1 + math.cos(math.pi * 90 / 100))  # cosine child at its epoch 90
    assert lr_short.shape == (101,) and lr_short[100] == pytest.approx(expected, rel=1e-12)


# ---- serialisation and registry -------------------------------------------------------------

ROUND_TRIP = [
    S.ConstantLR(), S.StepLR(30, gamma=0.5), S.MultiStepLR([10, "steps/2"]),
    S.ExponentialLR(0.99), S.LinearLR(0.1, 0.9, "steps"), S.PolynomialLR(100, 2.0),
    S.CosineAnnealingLR("steps", eta_min=1e-4), S.CosineAnnealingWarmRestarts(10, 2),
    S.CyclicLR(0.01, 0.1, 20, 30, "exp_range", 0.99), S.OneCycleLR(0.1, "steps"),
    S.OneCycleLR(0.1, epochs=3, steps_per_epoch=10, three_phase=True),
    S.ReduceLROnPlateau(mode="max", patience=3), S.InverseTimeDecay(10, 0.5, True),
    S.WarmupCosine(10, 100, 0.1, end_lr=0.001), S.PerStepLR([0.3, 0.2, 0.1], relative=True),
    S.FunctionLR(math.cos), S.FunctionLR("math:exp"),
    S.SequentialLR([S.LinearLR(), S.CosineAnnealingLR("steps")], ["steps/10"]),
    S.ChainedScheduler([S.ConstantLR(0.5, 10), S.OneCycleLR(0.1, total_steps=100)]),
]


@pytest.mark.parametrize("spec", ROUND_TRIP, ids=[type(s).__name__ for s in ROUND_TRIP])
def test_round_trip(spec):
    data = json.loads(json.dumps(spec.to_dict()))
    back = S.Schedule.from_dict(data)
    assert back == spec and hash(back) == hash(spec) and type(back) is type(spec)
    assert back.to_dict() == spec.to_dict()
    assert isinstance(spec.label(), str) and spec.label()


def test_changed_spec_is_not_equal():
    assert S.StepLR(30) != S.StepLR(31)
    assert S.FunctionLR(lambda k: 1.0) != S.FunctionLR(lambda k: 2.0)
    with pytest.raises(AttributeError):
        S.StepLR(30).step_size = 3


def test_unimportable_function_does_not_load():
    data = S.FunctionLR(lambda k: 1.0).to_dict()
    with pytest.raises(ValueError, match="FunctionLR: fn"):
        S.Schedule.from_dict(data)


def test_registry_lookup_suggests_names():
    assert REGISTRY.lookup("CosineAnnealingLR") is S.CosineAnnealingLR
    with pytest.raises(ValueError, match=r"unknown schedule 'CosineAnealingLR' \(did you mean "
                                         r"'CosineAnnealingLR'\?\)"):
        REGISTRY.lookup("CosineAnealingLR")
    with pytest.raises(ValueError, match="did you mean 'StepLR'"):
        S.Schedule.from_dict({"type": "StepLr", "step_size": 3})
    with pytest.raises(ValueError, match="StepLR: unknown parameter 'step_sise' "
                                         r"\(did you mean 'step_size'\?\)"):
        S.Schedule.from_dict({"type": "StepLR", "step_sise": 3})
    with pytest.raises(ValueError, match=r"schedulers\[1\]: .*did you mean 'ExponentialLR'"):
        S.Schedule.from_dict({"type": "ChainedScheduler", "schedulers": [
            {"type": "StepLR", "step_size": 3}, {"type": "ExponentialLr", "gamma": 0.9}]})
    assert set(S.__all__) >= set(REGISTRY) | {"Schedule", "REGISTRY"}
    assert "Schedule" not in REGISTRY


def test_torch_defaults():
    assert S.ConstantLR.defaults() == {"factor": 1.0 / 3, "total_iters": 5}
    assert S.LinearLR.defaults() == {"start_factor": 1.0 / 3, "end_factor": 1.0,
                                     "total_iters": 5}
    assert S.CyclicLR.defaults()["step_size_up"] == 2000
    assert S.CyclicLR.defaults()["base_momentum"] == 0.8
    assert S.OneCycleLR.defaults()["final_div_factor"] == 1e4
    assert S.ReduceLROnPlateau.defaults() == {
        "mode": "min", "factor": 0.1, "patience": 10, "threshold": 1e-4,
        "threshold_mode": "rel", "cooldown": 0, "min_lr": 0.0, "eps": 1e-8,
        "loss_ema": 0.0}  # the one extra keyword; 0 is torch's behaviour


def test_optimizer_momentum_keywords():
    expected = {"SGD": "momentum", "RMSprop": "momentum", "Adam": "betas", "AdamW": "betas",
                "Adamax": "betas", "NAdam": "betas", "RAdam": "betas", "Lion": "betas",
                "Adagrad": None, "Adadelta": None}
    assert {name: cls.momentum_keyword for name, cls in OPTIMIZERS.items()} == expected
    assert SGD(momentum=0.7).base_momentum() == 0.7
    assert Adam(betas=(0.8, 0.99)).base_momentum() == 0.8


def test_tables_reject_bad_step_count():
    with pytest.raises(ValueError, match="n_steps"):
        S.StepLR(3).tables(SGD(), -1)
    lr, mom = S.StepLR(3).tables(SGD(lr=0.2), 0)
    assert lr.tolist() == [0.2] and np.isnan(mom[0])


# ---- integer parameters at the kernels' range -------------------------------------------

_REQUIRED = {"StepLR": {"step_size": 3}, "MultiStepLR": {"milestones": [2]},
             "CosineAnnealingLR": {"T_max": 5}, "CosineAnnealingWarmRestarts": {"T_0": 3},
             "CyclicLR": {"base_lr": 0.001, "max_lr": 0.1},
             "OneCycleLR": {"max_lr": 0.1, "total_steps": 60},
             "InverseTimeDecay": {"decay_steps": 3, "decay_rate": 0.5},
             "WarmupCosine": {"peak_lr": 0.1, "warmup_steps": 3, "decay_steps": 40}}
_INTEGER_PARAMS = [("CosineAnnealingLR", "T_max"), ("StepLR", "step_size"),
                   ("CosineAnnealingWarmRestarts", "T_0"), ("CosineAnnealingWarmRestarts", "T_mult"),
                   ("CyclicLR", "step_size_up"), ("CyclicLR", "step_size_down"),
                   ("OneCycleLR", "total_steps"), ("ConstantLR", "total_iters"),
                   ("LinearLR", "total_iters"), ("PolynomialLR", "total_iters"),
                   ("ReduceLROnPlateau", "patience"), ("ReduceLROnPlateau", "cooldown"),
                   ("InverseTimeDecay", "decay_steps"), ("WarmupCosine", "warmup_steps"),
                   ("WarmupCosine", "decay_steps"), ("MultiStepLR", "milestones")]


@pytest.mark.parametrize("name,param", _INTEGER_PARAMS)
def test_huge_integer_parameters_are_one_line_errors_not_crashes(name, param):
    """Past 2**53 an integer parameter is refused by name (the kernels' float64 parameter
    rows convert it to int64: 1e19 used to kill the process with SIGFPE); at 2**53 the
    tables are computed and finite."""
    limit = 2**53
    required = dict(_REQUIRED.get(name, {}))
    top = limit
    if (name, param) == ("WarmupCosine", "warmup_steps"):  # decay_steps must exceed it
        required["decay_steps"], top = limit, limit - 1

    def make(value):
        return REGISTRY[name](**{**required, param: [value] if param == "milestones" else value})

    with pytest.raises(ValueError, match=rf"^{name}: {param}(\[0\])? must be within \+-2\*\*53 "
                                         rf"\({limit}\), got {10**19}$"):
        make(10**19)
    with pytest.raises(ValueError, match=rf"^{name}: {param}(\[0\])? must be "):
        make(-(10**19))
    lr, mom = make(top).tables(SGD(lr=0.1, momentum=0.9), 50)
    assert np.isfinite(lr).all() and lr.shape == (51,)


def test_suite_list_valued_parameters_are_one_value_unless_nested():
    """In a suite file a list-valued parameter (milestones, values) is one list; a list of
    lists is a grid of them (the rule in ``optbench.suite``'s docstring)."""
    from optbench.suite import parse_suite

    def schedules(table):
        data = {"problems": [{"type": "Booth"}], "optimizers": [{"type": "SGD"}],
                "schedules": [table]}
        return parse_suite(data)["schedules"]

    assert schedules({"type": "MultiStepLR", "milestones": [2, 5]}) == [
        S.MultiStepLR(milestones=[2, 5])]
    assert schedules({"type": "MultiStepLR", "milestones": [[2, 5], [3]]}) == [
        S.MultiStepLR(milestones=[2, 5]), S.MultiStepLR(milestones=[3])]
    assert schedules({"type": "PerStepLR", "values": [0.1, 0.2]}) == [
        S.PerStepLR(values=[0.1, 0.2])]
    assert len(schedules({"type": "StepLR", "step_size": [2, 3]})) == 2


def test_cyclic_scale_fn_arguments_and_reading_back():
    """scale_fn: a function or an importable "module:name", one line otherwise; scale_mode one
    of torch's; a stored spec read back keeps the name and never imports it."""
    with pytest.raises(ValueError, match=r"^CyclicLR: scale_fn 'nosuchmodule:f' cannot be "
                                         r"imported \(No module named 'nosuchmodule'\)$"):
        S.CyclicLR(base_lr=0.01, max_lr=0.1, scale_fn="nosuchmodule:f")
    with pytest.raises(ValueError, match=r"^CyclicLR: scale_fn must be a function"):
        S.CyclicLR(base_lr=0.01, max_lr=0.1, scale_fn=3.0)
    with pytest.raises(ValueError, match=r"^CyclicLR: scale_mode must be one of 'cycle', "
                                         r"'iterations', got 'epoch'"):
        S.CyclicLR(base_lr=0.01, max_lr=0.1, scale_fn=cycle_decay, scale_mode="epoch")
    stored = S.CyclicLR(base_lr=0.01, max_lr=0.1, scale_fn="math:sqrt").to_dict()
    assert stored["scale_fn"] == "math:sqrt"
    with S.reading_back():
        back = S.Schedule.from_dict({**stored, "scale_fn": "never_imported_module:f"})
    assert back.to_dict()["scale_fn"] == "never_imported_module:f"
    with pytest.raises(ValueError, match="was read back from a run directory"):
        back.tables(SGD(lr=0.1, momentum=0.9), 10)
