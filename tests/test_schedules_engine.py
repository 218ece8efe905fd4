"""Schedules inside the engine.

The torch reference lr/momentum traces (tests/reference/schedules.npz, written by
scripts/make_reference_schedules.py from torch.optim.lr_scheduler 2.13) drive the checks:

- the lr (and, for momentum-cycling schedules, the momentum/beta1) the engine records at every
  step equals torch's trace (rtol 1e-12);
- the engine's parameter trajectory equals the naive loop (tests/naive.py) fed torch's lr and
  momentum traces (rtol 1e-10, the tolerance the rules meet against torch.optim), so the full
  trajectory is the one torch's optimizer takes under that scheduler;
- every schedule runs with every optimizer it accepts, and refuses the others up front;
- ReduceLROnPlateau inside the kernel follows torch's rule on each trajectory's own loss.
"""
import numpy as np
import pytest
from naive import run_naive
from test_schedules import DATA, INDEX, N_STEPS, TRACE_CASES, _case

import optbench
from optbench import layout
from optbench.kernels import engine as ke
from optbench.optimizers import REGISTRY as OPTIMIZERS
from optbench.problems import Quadratic, Rosenbrock
from optbench.schedules import ReduceLROnPlateau

PROBLEM = Quadratic(dim=3, kappa=10.0)


@pytest.mark.parametrize("i", TRACE_CASES, ids=[INDEX[i]["name"] for i in TRACE_CASES])
def test_engine_trajectory_follows_torch_schedule(i):
    case, schedule, optimizer = _case(i)
    res = optbench.run(PROBLEM, optimizer, schedules=schedule, steps=N_STEPS, seeds=1,
                       record=("lr", "momentum", "x"), blowup=1e300)
    lr_ref = DATA[f"lr_{i}"]
    mom_ref = DATA[f"mom_{i}"] if case["has_momentum"] else None
    np.testing.assert_allclose(res.trace("lr")[0], lr_ref, rtol=1e-12)
    if mom_ref is not None:
        np.testing.assert_allclose(res.trace("momentum")[0], mom_ref, rtol=1e-12)
    else:
        assert np.all(res.trace("momentum")[0] == optimizer.base_momentum())
    stop = int(res.trials["status_step"][0])
    xs, _, _ = run_naive(PROBLEM, optimizer, res.trace("x")[0, 0], stop, lr=lr_ref,
                         momentum=mom_ref)
    # atol: coordinates that have converged to 0 (|x| ~ 1e-20 on a trajectory of scale 1)
    # carry the lr's round-off (FunctionLR: 1e-14 relative) as a larger relative error
    np.testing.assert_allclose(res.trace("x")[0, : stop + 1], xs, rtol=1e-10, atol=1e-14)


def _one_per_type():
    seen = {}
    for i in TRACE_CASES:
        seen.setdefault(INDEX[i]["spec"]["type"], i)
    return seen


@pytest.mark.parametrize("kind", sorted(_one_per_type()))
def test_every_schedule_runs_with_every_optimizer_it_accepts(kind):
    _, schedule, _ = _case(_one_per_type()[kind])
    accepted, refused = [], []
    for cls in OPTIMIZERS.values():
        optimizer = cls(lr=1e-3)
        try:
            schedule.check(optimizer, N_STEPS)
            accepted.append(optimizer)
        except ValueError as exc:
            assert "cycle_momentum" in str(exc)  # the only reason an optimizer is refused
            refused.append(optimizer)
    assert len(accepted) >= 7
    res = optbench.run(Rosenbrock(dim=2), accepted, schedules=schedule, steps=N_STEPS, seeds=2,
                       record=("lr",), record_every=10)
    assert set(res.trials["status"]) <= {"finished", "diverged"}
    for j, t in enumerate(res.plan.trials):
        table, _ = res.plan.schedules[0].tables(res.plan.optimizers[t.optimizer], N_STEPS)
        live = res.steps <= res.trials["status_step"][j]  # a diverged trajectory is frozen
        np.testing.assert_array_equal(res.trace("lr")[j][live], table[res.steps][live])
    for optimizer in refused:
        with pytest.raises(ValueError, match="cycle_momentum"):
            optbench.run(PROBLEM, optimizer, schedules=schedule, steps=10, seeds=1)


def _replay_plateau(schedule, base_lr, losses):
    """The lr of every step when ``plateau_update`` is fed the recorded losses after each
    step (the loss of step k decides the lr of step k+1), as in torch's training loop."""
    fm = np.zeros(layout.N_FMETA)
    for column, value in schedule.plateau_fmeta().items():
        fm[column] = value
    ps = np.zeros(layout.N_PLATEAU_STATE)
    ps[layout.P_BEST] = np.inf if schedule.mode == "min" else -np.inf
    ps[layout.P_LR] = base_lr
    lrs = [base_lr]
    for f in losses[:-1]:
        ke.plateau_update(fm, ps, f)
        lrs.append(ps[layout.P_LR])
    return np.array(lrs)


@pytest.mark.parametrize("schedule", [
    ReduceLROnPlateau(factor=0.5, patience=3),
    ReduceLROnPlateau(factor=0.3, patience=0, threshold=0.05, cooldown=4, min_lr=1e-4),
    ReduceLROnPlateau(factor=0.5, patience=2, threshold=1e-3, threshold_mode="abs"),
])
def test_plateau_reacts_to_each_trajectory_own_loss(schedule):
    # noisy gradients make every seed's loss plateau at its own noise floor, at its own time
    problem = Quadratic(dim=5, kappa=10.0, noise=0.3)
    res = optbench.run(problem, optbench.optimizers.SGD(lr=0.5), schedules=schedule, steps=300,
                       seeds=4, record=("loss", "lr"))
    lrs = res.trace("lr")
    for j in range(len(res)):
        np.testing.assert_array_equal(lrs[j], _replay_plateau(schedule, 0.5, res.trace("loss")[j]))
    assert lrs[:, -1].max() < 0.5  # every trajectory was cut at least once
    assert len({tuple(row) for row in lrs}) > 1  # and not all at the same steps


def test_plateau_on_a_moving_average_of_the_sampled_loss():
    schedule = ReduceLROnPlateau(factor=0.5, patience=2, loss_ema=0.9)
    problem = Quadratic(dim=5, kappa=10.0, noise=0.3)
    res = optbench.run(problem, optbench.optimizers.SGD(lr=0.5), schedules=schedule, steps=200,
                       seeds=2, record=("loss", "sampled_loss", "lr"))
    for j in range(len(res)):
        sampled = res.trace("sampled_loss")[j]
        ema = np.empty_like(sampled)
        ema[0] = sampled[0]
        for k in range(1, len(sampled)):
            ema[k] = 0.9 * ema[k - 1] + (1 - 0.9) * sampled[k]
        np.testing.assert_array_equal(res.trace("lr")[j], _replay_plateau(schedule, 0.5, ema))
    plain = optbench.run(problem, optbench.optimizers.SGD(lr=0.5),
                         schedules=schedule.replace(loss_ema=0.0), steps=200, seeds=2,
                         record=("lr",))
    assert not np.array_equal(plain.trace("lr"), res.trace("lr"))
