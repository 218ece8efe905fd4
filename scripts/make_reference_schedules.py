"""Regenerate tests/reference/schedules.npz: lr (and momentum) traces of every schedule.

Sources (float64 throughout):
  - torch 2.13.0 ``torch.optim.lr_scheduler`` driving a dummy SGD(lr=0.1, momentum=0.9) or
    Adam(lr=0.01) optimizer: trace[k] = ``param_groups[0]['lr']`` (and ``momentum`` /
    ``betas[0]``) after k calls of ``scheduler.step()``, each preceded by
    ``optimizer.step()``; ReduceLROnPlateau is fed a stored synthetic loss sequence;
  - InverseTimeDecay: the formula of keras.optimizers.schedules.InverseTimeDecay written out
    in numpy (keras is not installed): lr0 / (1 + decay_rate * k/decay_steps), floor under
    staircase;
  - WarmupCosine: optax.warmup_cosine_decay_schedule with jax x64 enabled;
  - PerStepLR(relative=True) and FunctionLR: torch LambdaLR with the same table/function.

Each case stores our spec (``to_dict`` form, possibly with relative step counts such as
"steps/3"; ``torch_kwargs`` overrides give the resolved integers to torch), the optimizer
spec, and the traces. FunctionLR's fn and CyclicLR's scale_fn name their function "@name";
the test maps those names to the functions defined identically there (FUNCTIONS below).

Usage (needs torch==2.13.0, jax, optax):  python scripts/make_reference_schedules.py
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

N_STEPS = 1000
OUT = Path(__file__).resolve().parents[1] / "tests" / "reference" / "schedules.npz"

SGD = {"type": "SGD", "lr": 0.1, "momentum": 0.9}
ADAM = {"type": "Adam", "lr": 0.01}


# ---- user functions for FunctionLR (duplicated verbatim in tests/test_schedules.py) ---------

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


# ---- synthetic loss sequences for ReduceLROnPlateau --------------------------------------

def loss_sequences():
    rng = np.random.default_rng(20240613)
    t = np.arange(N_STEPS, dtype=float)
    # decreasing with flat stretches (every other block of 80 steps frozen) and noise
    smooth = np.exp(-t / 200.0)
    block = (t // 80).astype(int)
    frozen = smooth.copy()
    for b in range(block.max() + 1):
        if b % 2 == 1:
            frozen[block == b] = smooth[block == b][0]
    stair = frozen * (1.0 + 2e-3 * rng.standard_normal(N_STEPS))
    # tiny improvements (1e-6 a step, below the default rel threshold 1e-4) between drops
    tiny = np.empty(N_STEPS)
    value = 1.0
    for k in range(N_STEPS):
        value *= 1.0 - (1e-6 if (k // 150) % 2 == 0 else 3e-3)
        tiny[k] = value
    # noisy plateau around a level that drops in jumps, some values negative
    jumps = 0.4 - 0.15 * (t // 250) + 0.05 * rng.standard_normal(N_STEPS)
    return {"stair": stair, "tiny": tiny, "jumps": jumps, "accuracy": 1.0 - stair}


# ---- the cases ------------------------------------------------------------------------------

def S(type_, **kw):
    return {"type": type_, **kw}


def cases():
    out = []

    def add(name, spec, opt=SGD, torch_kwargs=None, loss=None):
        out.append({"name": name, "spec": spec, "optimizer": opt,
                    "torch_kwargs": torch_kwargs or {}, "loss": loss})

    add("constant-default", S("ConstantLR"))
    add("constant-half-100", S("ConstantLR", factor=0.5, total_iters=100))
    add("step-100", S("StepLR", step_size=100))
    add("step-33-0.9", S("StepLR", step_size=33, gamma=0.9), ADAM)
    add("multistep-dup", S("MultiStepLR", milestones=[700, 100, 300, 300], gamma=0.5))
    add("multistep-zero", S("MultiStepLR", milestones=[0, 500], gamma=0.1))
    add("exponential", S("ExponentialLR", gamma=0.995))
    add("linear-default", S("LinearLR"))
    add("linear-0.1-0.5-200", S("LinearLR", start_factor=0.1, end_factor=0.5, total_iters=200))
    add("linear-to-zero-1000", S("LinearLR", start_factor=1.0, end_factor=0.0, total_iters=1000))
    add("polynomial-default", S("PolynomialLR"))
    add("polynomial-800-2", S("PolynomialLR", total_iters=800, power=2.0))
    add("polynomial-1000-0.5", S("PolynomialLR", total_iters=1000, power=0.5))
    add("cosine-1000", S("CosineAnnealingLR", T_max=1000))
    add("cosine-300-past-tmax", S("CosineAnnealingLR", T_max=300, eta_min=0.001))
    add("cosine-steps/3", S("CosineAnnealingLR", T_max="steps/3"), torch_kwargs={"T_max": 333})
    add("cosine-7-past-tmax", S("CosineAnnealingLR", T_max=7, eta_min=0.001), ADAM)
    add("warm-restarts-100", S("CosineAnnealingWarmRestarts", T_0=100))
    add("warm-restarts-50x2", S("CosineAnnealingWarmRestarts", T_0=50, T_mult=2, eta_min=0.001))
    add("warm-restarts-7x3", S("CosineAnnealingWarmRestarts", T_0=7, T_mult=3))
    for opt, tag in ((SGD, "sgd"), (ADAM, "adam")):
        add(f"cyclic-triangular-{tag}", S("CyclicLR", base_lr=0.001, max_lr=0.1, step_size_up=100), opt)
        add(f"cyclic-triangular2-{tag}", S("CyclicLR", base_lr=0.001, max_lr=0.1, step_size_up=50,
                                           step_size_down=150, mode="triangular2"), opt)
        add(f"cyclic-exp-range-{tag}", S("CyclicLR", base_lr=0.002, max_lr=0.05, step_size_up=75,
                                         mode="exp_range", gamma=0.998, base_momentum=0.85,
                                         max_momentum=0.95), opt)
        add(f"cyclic-scale-fn-cycle-{tag}", S("CyclicLR", base_lr=0.001, max_lr=0.1,
                                               step_size_up=60, step_size_down=90,
                                               scale_fn="@cycle_decay"), opt)
        add(f"cyclic-scale-fn-iterations-{tag}", S("CyclicLR", base_lr=0.002, max_lr=0.05,
                                                    step_size_up=40, scale_fn="@iteration_decay",
                                                    scale_mode="iterations"), opt)
        add(f"onecycle-cos-{tag}", S("OneCycleLR", max_lr=1.0, total_steps=1000), opt)
        add(f"onecycle-linear-{tag}", S("OneCycleLR", max_lr=0.5, total_steps=1000,
                                        anneal_strategy="linear"), opt)
        add(f"onecycle-three-phase-{tag}", S("OneCycleLR", max_lr=0.5, total_steps=1000,
                                             three_phase=True), opt)
        add(f"onecycle-three-phase-linear-{tag}", S("OneCycleLR", max_lr=0.5, total_steps=1000,
                                                    three_phase=True, anneal_strategy="linear",
                                                    pct_start=0.2), opt)
    add("cyclic-no-momentum", S("CyclicLR", base_lr=0.01, max_lr=0.2, step_size_up=40,
                                mode="triangular2", cycle_momentum=False))
    add("cyclic-sawtooth", S("CyclicLR", base_lr=0.01, max_lr=0.2, step_size_up=100,
                             step_size_down=0))
    add("onecycle-1200-custom", S("OneCycleLR", max_lr=0.3, total_steps=1200, pct_start=0.25,
                                  div_factor=10.0, final_div_factor=100.0, base_momentum=0.8,
                                  max_momentum=0.99))
    add("onecycle-epochs-nomom", S("OneCycleLR", max_lr=0.3, epochs=10, steps_per_epoch=100,
                                   cycle_momentum=False), ADAM)
    add("onecycle-steps", S("OneCycleLR", max_lr=0.2, total_steps="steps", pct_start=0.1),
        torch_kwargs={"total_steps": 1000})
    add("inverse-time", S("InverseTimeDecay", decay_steps=100, decay_rate=0.5))
    add("inverse-time-staircase", S("InverseTimeDecay", decay_steps=100, decay_rate=0.5,
                                    staircase=True))
    add("inverse-time-1", S("InverseTimeDecay", decay_steps=1, decay_rate=0.01), ADAM)
    add("warmup-cosine", S("WarmupCosine", warmup_steps=100, decay_steps=1000, peak_lr=0.5))
    add("warmup-cosine-past-end", S("WarmupCosine", warmup_steps=50, decay_steps=800, peak_lr=1.0,
                                    end_lr=0.01, init_value=0.1))
    add("warmup-cosine-exp2-nowarmup", S("WarmupCosine", warmup_steps=0, decay_steps=600,
                                         peak_lr=0.3, end_lr=0.003, exponent=2.0))
    add("function-warmup-decay", S("FunctionLR", fn="@warmup_decay"))
    add("function-cosine-bump", S("FunctionLR", fn="@cosine_bump"), ADAM)
    add("perstep-relative", S("PerStepLR", values=list(0.5 + 0.5 * np.cos(np.arange(1001) / 37.0)),
                              relative=True))
    # compositions
    add("seq-linear-cosine", S("SequentialLR", schedulers=[
        S("LinearLR", start_factor=0.01, end_factor=1.0, total_iters=100),
        S("CosineAnnealingLR", T_max=900)], milestones=[100]))
    add("seq-constant-exp-step", S("SequentialLR", schedulers=[
        S("ConstantLR", factor=0.1, total_iters=50), S("ExponentialLR", gamma=0.99),
        S("StepLR", step_size=100, gamma=0.5)], milestones=[50, 400]))
    add("seq-closed-forms", S("SequentialLR", schedulers=[
        S("LinearLR", start_factor=0.5, end_factor=1.0, total_iters=50),
        S("MultiStepLR", milestones=[100, 200], gamma=0.5),
        S("PolynomialLR", total_iters=300, power=2.0),
        S("ConstantLR", factor=0.25, total_iters=30)], milestones=[50, 500, 900]))
    add("seq-exp-warm-restarts", S("SequentialLR", schedulers=[
        S("ExponentialLR", gamma=0.99), S("CosineAnnealingWarmRestarts", T_0=100)],
        milestones=[200]))
    add("seq-linear-onecycle", S("SequentialLR", schedulers=[
        S("LinearLR"), S("OneCycleLR", max_lr=0.5, total_steps=900)], milestones=[100]))
    add("seq-cyclic-cosine-adam", S("SequentialLR", schedulers=[
        S("CyclicLR", base_lr=0.001, max_lr=0.1, step_size_up=50),
        S("CosineAnnealingLR", T_max=500)], milestones=[300]), ADAM)
    add("seq-relative", S("SequentialLR", schedulers=[
        S("ConstantLR", factor=0.5, total_iters=1000), S("CosineAnnealingLR", T_max="steps/2")],
        milestones=["steps/10"]), torch_kwargs={"milestones": [100], "1.T_max": 500})
    add("seq-linear-function", S("SequentialLR", schedulers=[
        S("LinearLR", start_factor=0.1, total_iters=100), S("FunctionLR", fn="@cosine_bump")],
        milestones=[100]))
    add("seq-linear-inverse-time", S("SequentialLR", schedulers=[
        S("LinearLR", start_factor=0.1, total_iters=50),
        S("InverseTimeDecay", decay_steps=100, decay_rate=1.0)], milestones=[50]))
    add("seq-cosine-past-warm", S("SequentialLR", schedulers=[
        S("CosineAnnealingLR", T_max=50), S("WarmupCosine", warmup_steps=20, decay_steps=400,
                                             peak_lr=0.2, end_lr=0.001)], milestones=[150]))
    add("chain-constant-exp", S("ChainedScheduler", schedulers=[
        S("ConstantLR", factor=0.1, total_iters=20), S("ExponentialLR", gamma=0.995)]))
    add("chain-linear-cosine", S("ChainedScheduler", schedulers=[
        S("LinearLR", start_factor=0.1, end_factor=1.0, total_iters=100),
        S("CosineAnnealingLR", T_max=1000)]))
    add("chain-step-warm-restarts", S("ChainedScheduler", schedulers=[
        S("StepLR", step_size=200, gamma=0.5), S("CosineAnnealingWarmRestarts", T_0=100)]))
    add("chain-cosine-multistep", S("ChainedScheduler", schedulers=[
        S("CosineAnnealingLR", T_max=300, eta_min=0.001),
        S("MultiStepLR", milestones=[100, 500], gamma=0.3)]), ADAM)
    add("chain-linear-cyclic", S("ChainedScheduler", schedulers=[
        S("LinearLR", start_factor=0.5, total_iters=100),
        S("CyclicLR", base_lr=0.001, max_lr=0.1, step_size_up=60)]))
    add("chain-onecycle-exp", S("ChainedScheduler", schedulers=[
        S("OneCycleLR", max_lr=0.5, total_steps=1000), S("ExponentialLR", gamma=0.999)]), ADAM)
    add("chain-poly-function", S("ChainedScheduler", schedulers=[
        S("PolynomialLR", total_iters=500, power=1.5), S("FunctionLR", fn="@warmup_decay")]))
    add("chain-poly-perstep", S("ChainedScheduler", schedulers=[
        S("PolynomialLR", total_iters=500, power=1.5),
        S("PerStepLR", values=list(1.0 / (1.0 + np.arange(1001) / 50.0)), relative=True)]))
    # ReduceLROnPlateau on stored loss sequences
    add("plateau-default-stair", S("ReduceLROnPlateau"), loss="stair")
    add("plateau-default-tiny", S("ReduceLROnPlateau", patience=5), loss="tiny")
    add("plateau-abs-jumps", S("ReduceLROnPlateau", threshold=0.01, threshold_mode="abs",
                               patience=5, factor=0.5), loss="jumps")
    add("plateau-rel-jumps-negative", S("ReduceLROnPlateau", threshold=0.05, patience=3,
                                        factor=0.7), loss="jumps")
    add("plateau-max-rel", S("ReduceLROnPlateau", mode="max", patience=4, threshold=1e-3),
        ADAM, loss="accuracy")
    add("plateau-max-abs-cooldown", S("ReduceLROnPlateau", mode="max", threshold_mode="abs",
                                      threshold=1e-3, patience=2, cooldown=10, factor=0.8),
        loss="accuracy")
    add("plateau-cooldown-minlr", S("ReduceLROnPlateau", factor=0.5, patience=3, cooldown=5,
                                    min_lr=1e-3), loss="stair")
    add("plateau-eps-suppresses", S("ReduceLROnPlateau", factor=0.5, patience=2, eps=0.02),
        loss="jumps")
    add("plateau-patience0", S("ReduceLROnPlateau", factor=0.9, patience=0, threshold=0.0),
        loss="stair")
    return out


# ---- torch / optax / keras evaluation -------------------------------------------------------

def torch_scheduler(torch, opt, spec, overrides, prefix=""):
    """Build the torch scheduler for one of our spec dicts on ``opt``."""
    ls = torch.optim.lr_scheduler
    spec = dict(spec)
    kind = spec.pop("type")
    for key, value in overrides.items():
        if key.startswith(prefix) and "." not in key[len(prefix):]:
            spec[key[len(prefix):]] = value
    if kind in ("SequentialLR", "ChainedScheduler"):
        children = [torch_scheduler(torch, opt, child, overrides, f"{i}.")
                    for i, child in enumerate(spec.pop("schedulers"))]
        if kind == "SequentialLR":
            return ls.SequentialLR(opt, children, milestones=spec["milestones"])
        return ls.ChainedScheduler(children)
    if kind == "FunctionLR":
        return ls.LambdaLR(opt, FUNCTIONS[spec["fn"][1:]])
    if kind == "CyclicLR" and spec.get("scale_fn"):
        spec["scale_fn"] = FUNCTIONS[spec["scale_fn"][1:]]
    if kind == "PerStepLR":
        assert spec["relative"]
        values = spec["values"]
        return ls.LambdaLR(opt, lambda k: values[min(k, len(values) - 1)])
    if kind == "InverseTimeDecay":  # inside compositions only: Keras formula as a LambdaLR
        return ls.LambdaLR(opt, lambda k: 1.0 / (1.0 + spec["decay_rate"] * (k / spec["decay_steps"])))
    if kind == "WarmupCosine":  # inside compositions only: absolute optax values
        fn = optax_warmup_cosine(spec)
        base = opt.param_groups[0]["initial_lr"] if "initial_lr" in opt.param_groups[0] \
            else opt.param_groups[0]["lr"]
        return ls.LambdaLR(opt, lambda k: fn(k) / base)
    return getattr(ls, kind)(opt, **spec)


def optax_warmup_cosine(spec):
    import jax
    import optax

    jax.config.update("jax_enable_x64", True)
    fn = optax.warmup_cosine_decay_schedule(
        init_value=spec.get("init_value", 0.0), peak_value=spec["peak_lr"],
        warmup_steps=spec["warmup_steps"], decay_steps=spec["decay_steps"],
        end_value=spec.get("end_lr", 0.0), exponent=spec.get("exponent", 1.0))
    return lambda k: float(fn(k))


def run_case(torch, case, losses):
    spec = case["spec"]
    kind = spec["type"]
    base_lr = case["optimizer"]["lr"]
    if kind == "InverseTimeDecay":  # keras.optimizers.schedules.InverseTimeDecay
        k = np.arange(N_STEPS + 1, dtype=float)
        p = k / spec["decay_steps"]
        if spec.get("staircase", False):
            p = np.floor(p)
        return base_lr / (1.0 + spec["decay_rate"] * p), None
    if kind == "WarmupCosine":
        fn = optax_warmup_cosine(spec)
        return np.array([fn(k) for k in range(N_STEPS + 1)]), None

    param = torch.zeros(1, requires_grad=True)
    optdesc = case["optimizer"]
    if optdesc["type"] == "SGD":
        opt = torch.optim.SGD([param], lr=optdesc["lr"], momentum=optdesc["momentum"])
        mom_key = "momentum"
    else:
        opt = torch.optim.Adam([param], lr=optdesc["lr"])
        mom_key = "betas"
    sched = torch_scheduler(torch, opt, spec, case["torch_kwargs"])
    group = opt.param_groups[0]
    base_mom = group[mom_key] if mom_key == "momentum" else group["betas"][0]

    def momentum():
        return group[mom_key] if mom_key == "momentum" else group["betas"][0]

    lrs = [group["lr"]]
    moms = [momentum()]
    loss = losses[case["loss"]] if case["loss"] else None
    for k in range(N_STEPS):
        opt.step()
        if loss is not None:
            sched.step(float(loss[k]))
        else:
            sched.step()
        lrs.append(group["lr"])
        moms.append(momentum())
    lrs = np.array(lrs, dtype=float)
    moms = np.array(moms, dtype=float)
    cycles = '"cycle_momentum": false' not in json.dumps(spec) and (
        "CyclicLR" in json.dumps(spec) or "OneCycleLR" in json.dumps(spec))
    if not cycles:
        assert np.all(moms == base_mom), case["name"]
        moms = None
    return lrs, moms


def main():
    import torch

    assert torch.__version__.startswith("2.13.0"), torch.__version__
    torch.set_default_dtype(torch.float64)
    import jax
    import optax

    losses = loss_sequences()
    arrays = {}
    index = []
    for i, case in enumerate(cases()):
        lr, mom = run_case(torch, case, losses)
        arrays[f"lr_{i}"] = lr
        entry = {k: case[k] for k in ("name", "spec", "optimizer", "loss")}
        if mom is not None:
            arrays[f"mom_{i}"] = mom
        entry["has_momentum"] = mom is not None
        index.append(entry)
    for name, seq in losses.items():
        arrays[f"loss_{name}"] = seq
    meta = {"n_steps": N_STEPS, "torch": torch.__version__, "jax": jax.__version__,
            "optax": optax.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0]}
    arrays["index"] = np.array(json.dumps(index))
    arrays["meta"] = np.array(json.dumps(meta))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB, {len(index)} cases)")


if __name__ == "__main__":
    main()
