"""The CUDA backend, checked without a GPU (and on one, where there is one).

Two kernels: thread mode (``run_grid_cuda``, one thread per trajectory) and block mode
(``run_grid_cuda_blocks``, one thread block per trajectory, its threads splitting the
coordinates, with shared-memory reductions). What each check verifies, plainly:

* PTX (``test_kernel_compiles_to_ptx``): numba-cuda types and lowers both kernels and their
  *whole* call trees (run_block, every update rule, problem (rows forms included), noise model,
  RNG, plateau step: the CPU's ``@njit`` functions retargeted as device functions; shared and
  local arrays, barriers) and NVVM turns them into PTX for compute capabilities 8.0 and 9.0, in
  float64 and float32; nvJitLink then assembles that PTX into machine code (SASS) for the same
  architectures. This proves the shared math is valid CUDA device code. It runs nothing, so it
  says nothing about the GPU's numbers. (numba-cuda asks the current device for its compute
  capability while compiling device functions even inside ``compile_ptx``; without a GPU the
  check answers with the target capability.)
* Simulator (``test_simulator_matches_cpu``, NUMBA_ENABLE_CUDASIM=1 in a subprocess, since it
  must be set before numba.cuda is imported): ``optbench.run(..., backend="cuda")`` end to end
  on grids covering every optimizer, every schedule and every problem family (with their
  stochastic options), compared with ``backend="cpu"``, in thread mode (bitwise) and in block
  mode (rtol 1e-12: the block sums f, |g|^2 and |x - x*|^2 in another order; statuses and
  status steps identical), plus large problems (Quadratic and Rosenbrock, d = 300) in mode
  "auto", which must pick block mode. It checks the host side (packing, per-lane scalar
  state, launch configurations, transfers, copying back, shards and mode segments) and the
  kernels' thread -> work mapping, row splitting, reductions and barriers. The simulator runs
  kernel bodies as Python, and the ``@njit`` functions they call are the *CPU-compiled* ones
  (compiled code cannot run under a Python simulator), so agreement here does NOT verify the
  CUDA compilation of the math. Races: the simulator runs block-mode threads concurrently and
  really waits at barriers, so a missing barrier can show up as a wrong number, but nothing
  proves the absence of races; in thread mode it runs each thread's call to completion.
* Not verified without a GPU: the numbers the GPU computes and the speed. They are expected to
  agree with the CPU's to round-off, not bitwise: NVVM contracts a*b + c into fused
  multiply-adds and libdevice supplies exp/log/sin/cos/pow. ``test_gpu_matches_cpu`` checks
  that on a machine with a GPU (both modes), and says why it is skipped elsewhere.

numba-cuda is required: without it these tests fail (``pip install -e '.[cuda]'``), they do not
skip. Run as a script (``python tests/test_cuda.py ptx|sim|gpu``) to see the raw report.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
MISSING = ("numba-cuda is not installed: the CUDA backend cannot be checked "
           "(pip install -e '.[cuda]', which `make test` does)")
RTOL = 1e-12
SUBPROCESS_TIMEOUT = 1500


def _has_numba_cuda() -> bool:
    return importlib.util.find_spec("numba_cuda") is not None


# ---- the grids (shared by the simulator and GPU checks) -----------------------------------


def _decay(k):
    """A FunctionLR factor (numba-compiled by the schedule)."""
    return 1.0 / (1.0 + 0.1 * k)


def grids():
    """Runs whose union covers every optimizer, schedule and problem family (and every option
    that changes a kernel code path: noise kinds, minibatches, rotations, maximize, ...).
    Several seeds per configuration, so blocks have several lanes."""
    from optbench import families, problem_families
    from optbench import optimizers as O
    from optbench import problems as P
    from optbench import schedules as S

    every_record = ("loss", "lr", "momentum", "grad_norm", "suboptimality", "dist_to_opt",
                    "sampled_loss", "eff_step", "eff_step_p10", "eff_step_p90", "x")
    optimizers = [spec for family in families.FAMILIES for spec in family.specs()]
    problems = [p for family in problem_families.FAMILIES for p in
                family.instances + family.noise_variants + family.minibatch_variants]
    schedules = [
        S.ConstantLR(), S.StepLR(10, gamma=0.5), S.MultiStepLR([5, "steps/2"]),
        S.ExponentialLR(0.95), S.LinearLR(0.1, 0.9, "steps"), S.PolynomialLR(30, 2.0),
        S.CosineAnnealingLR("steps", eta_min=1e-4), S.CosineAnnealingWarmRestarts(10, 2),
        S.CyclicLR(0.001, 0.01, 5, 7, "exp_range", 0.99), S.OneCycleLR(0.01, "steps"),
        S.ReduceLROnPlateau(factor=0.5, patience=2, threshold=0.2),
        S.ReduceLROnPlateau(mode="max", patience=1, cooldown=2),
        S.InverseTimeDecay(10, 0.5, True), S.WarmupCosine(5, 30, 0.01, end_lr=0.001),
        S.PerStepLR([1.0 - 0.02 * k for k in range(41)], relative=True), S.FunctionLR(_decay),
        S.SequentialLR([S.LinearLR(), S.CosineAnnealingLR("steps")], ["steps/10"]),
        S.ChainedScheduler([S.ConstantLR(0.5, 10), S.OneCycleLR(0.01, total_steps=40)]),
    ]
    return {
        "optimizers": dict(problems=[P.Rosenbrock(dim=3), P.Quadratic(dim=5, kappa=20.0)],
                           optimizers=optimizers, steps=40, seeds=3, record=every_record),
        "schedules": dict(problems=[P.Rosenbrock(dim=2)],
                          optimizers=[O.SGD(lr=1e-3, momentum=0.9), O.Adam(lr=0.01)],
                          schedules=schedules, steps=40, seeds=2, record=every_record),
        "problems": dict(problems=problems, optimizers=[O.SGD(lr=1e-4), O.Adam(lr=1e-3)],
                         steps=30, seeds=2, record=every_record),
        # statuses: reached target / diverged mid-run, several shards, log-spaced records
        "statuses": dict(problems=[P.Booth(), P.Rosenbrock(dim=3)],
                         optimizers=[O.SGD(lr=0.02), O.SGD(lr=0.5), O.Adam(lr=0.1)],
                         steps=300, seeds=3, target=1e-6, blowup=1e4, shard_size=5,
                         record=("loss", "lr", "eff_step", "x"), record_every="log",
                         record_points=20),
    }


def block_grids():
    """The grids again for block mode, smaller (the simulator runs every thread of a block as a
    Python thread): one seed, fewer steps; plus large problems run in mode "auto"."""
    from optbench import optimizers as O
    from optbench import problems as P

    out = {}
    for name, kw in grids().items():
        kw = dict(kw, seeds=1 if name != "statuses" else 2, cuda_mode="block")
        if name in ("optimizers", "problems"):
            kw["steps"] = 20
        out[name] = kw
    out["large"] = dict(problems=[P.Quadratic(dim=300, kappa=100.0, rotate=True, seed=1),
                                  P.Rosenbrock(dim=300)],
                        optimizers=[O.Adam(lr=0.01), O.SGD(lr=1e-4, momentum=0.9)],
                        steps=25, seeds=2, cuda_mode="auto",
                        record=("loss", "grad_norm", "dist_to_opt", "suboptimality", "x"))
    return out


def coverage(specs):
    """Registry names covered by the grids."""
    names = {"optimizers": set(), "schedules": set(), "problems": set()}

    def walk(kind, spec):
        names[kind].add(type(spec).__name__)
        for child in getattr(spec, "schedules", None) or ():
            walk(kind, child)

    for kw in specs.values():
        for kind in names:
            for spec in kw.get(kind) or ():
                walk(kind, spec)
    return {k: sorted(v) for k, v in names.items()}


def compare(kw, backend, rtol):
    """Run ``kw`` on ``backend`` and on the CPU; a summary of how they agree."""
    import optbench

    t0 = time.perf_counter()
    dev = optbench.run(**kw, backend=backend)
    t_dev = time.perf_counter() - t0
    cpu = optbench.run(**{k: v for k, v in kw.items() if k != "cuda_mode"}, backend="cpu")
    out = {"trajectories": len(cpu), "seconds": round(t_dev, 3), "bitwise": True,
           "close": True, "max_rel_diff": 0.0, "problems": []}
    arrays = [(name, dev.trace(name), cpu.trace(name)) for name in kw["record"]]
    if list(dev.trials.columns) != list(cpu.trials.columns):
        out["close"] = False
        out["problems"].append("trials tables have different columns")
    for column in cpu.trials.columns:  # the whole trials table
        a, b = dev.trials[column], cpu.trials[column]
        if a.dtype.kind in "fiub" and b.dtype.kind in "fiub":
            arrays.append((f"trials[{column}]", a, b))
        elif list(a) != list(b):
            out["close"] = False
            out["problems"].append(f"trials[{column}] differs")
    for name, a, b in arrays:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        if a.shape != b.shape:
            out["problems"].append(f"{name}: shape {a.shape} != {b.shape}")
            continue
        same_nan = np.array_equal(np.isnan(a), np.isnan(b))
        if not np.array_equal(a, b, equal_nan=True):
            out["bitwise"] = False
        ok = np.isfinite(a) & np.isfinite(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-300)
        exact_elsewhere = np.array_equal(a[~ok], b[~ok], equal_nan=True)
        worst = float(rel.max()) if rel.size else 0.0
        out["max_rel_diff"] = max(out["max_rel_diff"], worst)
        if not (same_nan and exact_elsewhere and worst <= rtol):
            out["close"] = False
            out["problems"].append(f"{name}: max rel diff {worst:.3g}, nan pattern "
                                   f"{'same' if same_nan else 'differs'}")
    for column in ("status", "status_step"):
        if list(dev.trials[column]) != list(cpu.trials[column]):
            out["close"] = False
            out["problems"].append(f"{column} differs")
    out["statuses"] = sorted(set(cpu.status()))
    return out


# ---- subprocess bodies ----------------------------------------------------------------------


def _main_ptx():
    """Compile both kernels to PTX for cc 8.0 and 9.0 (float64, float32), assemble with
    nvJitLink; one JSON line per (kernel, dtype, cc)."""
    import numba
    import numba.cuda.dispatcher as cuda_dispatcher
    from numba import cuda

    class _Target:  # what numba-cuda asks the current device while compiling device functions
        compute_capability = (8, 0)

    cuda_dispatcher.get_current_device = lambda: _Target

    from optbench import optimizers as O
    from optbench import problems as P
    from optbench.cuda_backend import kernel, kernel_args, pack
    from optbench.plan import Plan

    for mode in ("thread", "block"):
        for dtype in ("float64", "float32"):
            plan = Plan(problems=[P.Rosenbrock()], optimizers=[O.Adam()], schedules=None,
                        seeds=[0], steps=2, record=("loss", "x"), dtype=dtype)
            packed = pack(plan, 0, 1, mode)
            sig = tuple(numba.typeof(a) for a in kernel_args(packed, mode))
            dispatcher = kernel(packed, mode)  # in the plan's generated kernel module
            name = dispatcher.py_func.__name__
            for cc in ((8, 0), (9, 0)):
                _Target.compute_capability = cc
                t0 = time.perf_counter()
                ptx, _ = cuda.compile_ptx(dispatcher.py_func, sig, cc=cc)
                seconds = time.perf_counter() - t0
                t0 = time.perf_counter()
                sass = _assemble(ptx, cc, name)
                print(json.dumps({
                    "mode": mode, "dtype": dtype, "cc": list(cc), "ptx_seconds": round(seconds, 2),
                    "ptx_bytes": len(ptx), "target": f".target sm_{cc[0]}{cc[1]}" in ptx,
                    "entry": ".entry _ZN" in ptx and f"{len(name)}{name}" in ptx,
                    "barrier": "bar.sync" in ptx,
                    "assemble_seconds": round(time.perf_counter() - t0, 2), **sass}), flush=True)
    # user rules (tests/plugin_rules.py) compile to PTX inside the same kernels
    from plugin_rules import Counted, HeavyBall, PlainAdam

    plan = Plan(problems=[P.Rosenbrock()], optimizers=[PlainAdam(), HeavyBall(), Counted()],
                schedules=None, seeds=[0], steps=2, record=("loss",), dtype="float64")
    user = _example_problem()(n=12, dim=3, batch_size=4)
    for name, problem, mode in (("rules", P.Rosenbrock(), "thread"),
                                ("problem", user, "thread"), ("problem", user, "block")):
        plan = Plan(problems=[problem], optimizers=[PlainAdam(), HeavyBall(), Counted()],
                    schedules=None, seeds=[0], steps=2, record=("loss",), dtype="float64")
        packed = pack(plan, 0, 1, mode)
        sig = tuple(numba.typeof(a) for a in kernel_args(packed, mode))
        dispatcher = kernel(packed, mode)
        ptx, _ = cuda.compile_ptx(dispatcher.py_func, sig, cc=(8, 0))
        sass = _assemble(ptx, (8, 0), dispatcher.py_func.__name__)
        print(json.dumps({"plugin": name, "mode": mode, "ptx_bytes": len(ptx), **sass}),
              flush=True)


def _main_plugin_sim():
    """User rules (tests/plugin_rules.py) in the simulator, thread and block mode, against
    the CPU: one JSON line per mode."""
    from plugin_rules import Counted, HeavyBall, PlainAdam

    from optbench import problems as P

    base = dict(problems=[P.Rosenbrock(dim=3), P.Quadratic(dim=4)],
                optimizers=[PlainAdam(lr=0.02), HeavyBall(lr=0.01, start=0.1), Counted()],
                steps=20, seeds=2, record=("loss", "x"))
    for mode in ("thread", "block"):
        summary = compare(dict(base, cuda_mode=mode), "cuda", RTOL)
        print(json.dumps({"grid": f"plugins-{mode}", **summary}), flush=True)
    # a user's problem, full-batch and minibatch, next to a built-in one
    LeastSquaresOn = _example_problem()
    problems = dict(problems=[LeastSquaresOn(n=12, dim=3), LeastSquaresOn(n=12, dim=3,
                    batch_size=4), P.Rosenbrock(dim=3)], optimizers=[PlainAdam(lr=0.05)],
                    steps=20, seeds=2, record=("loss", "x", "sampled_loss"))
    for mode in ("thread", "block"):
        summary = compare(dict(problems, cuda_mode=mode), "cuda", RTOL)
        print(json.dumps({"grid": f"user-problem-{mode}", **summary}), flush=True)
    # a whole-vector rule asked for block mode runs one thread per trajectory (its norms
    # need every coordinate): bitwise the CPU's
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
    from lamb import LAMB

    from optbench import cuda_backend

    modes, run_packed = set(), cuda_backend.run_packed
    cuda_backend.run_packed = lambda packed, mode="thread": modes.add(mode) or run_packed(
        packed, mode)
    summary = compare(dict(problems=[P.Rosenbrock(dim=5)], optimizers=[LAMB(lr=0.01)],
                           steps=20, seeds=2, record=("loss", "x"), cuda_mode="block"),
                      "cuda", RTOL)
    cuda_backend.run_packed = run_packed
    print(json.dumps({"grid": "whole-vector-block", "modes": sorted(modes), **summary}),
          flush=True)


def _example_problem():
    """examples/user_problem.py's LeastSquaresOn (a user's finite sum)."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
    from user_problem import LeastSquaresOn

    return LeastSquaresOn


def _assemble(ptx, cc, name):
    """PTX -> SASS with nvJitLink (no GPU needed); registers and stack of the kernel."""
    import re

    from cuda.bindings import nvjitlink as nj

    options = [f"-arch=sm_{cc[0]}{cc[1]}", "-verbose"]
    handle = nj.create(len(options), options)
    try:
        data = ptx.encode()
        nj.add_data(handle, nj.InputType.PTX, data, len(data), f"{name}.ptx")
        try:
            nj.complete(handle)
        except Exception as exc:
            log = bytearray(nj.get_error_log_size(handle))
            nj.get_error_log(handle, log)
            return {"cubin_bytes": 0, "error": f"{exc}: {log.decode(errors='replace')[-2000:]}"}
        cubin = bytearray(nj.get_linked_cubin_size(handle))
        nj.get_linked_cubin(handle, cubin)
        info = bytearray(nj.get_info_log_size(handle))
        nj.get_info_log(handle, info)
    finally:
        nj.destroy(handle)
    text = info.decode(errors="replace")
    entry = text[text.find(f"{len(name)}{name}"):]
    regs = re.search(r"Used (\d+) registers", entry)
    stack = re.search(r"(\d+) bytes stack frame", entry)
    return {"cubin_bytes": len(cubin), "registers": int(regs.group(1)) if regs else None,
            "stack_bytes": int(stack.group(1)) if stack else None}


def _main_compare(backend, rtol, specs):
    from optbench import cuda_backend

    launches = []
    run_packed = cuda_backend.run_packed

    def counted(packed, mode="thread"):  # proof that a CUDA kernel ran, not a CPU fallback
        launches.append((mode, packed.inputs.lane_traj.shape[0] * cuda_backend.block_threads()
                         if mode == "block" else packed.inputs.lane_traj.size))
        return run_packed(packed, mode)

    cuda_backend.run_packed = counted
    print(json.dumps({"coverage": coverage(specs)}), flush=True)
    for name, kw in specs.items():
        del launches[:]
        summary = compare(kw, backend, rtol)
        print(json.dumps({"grid": name, "kernel_launches": len(launches),
                          "modes": sorted({m for m, _ in launches}),
                          "threads": sum(n for _, n in launches), **summary}), flush=True)


def _main_warm_up():
    """A CUDA run warms up the CUDA kernels only: the CPU kernel stays uncompiled."""
    import optbench
    from optbench import engine
    from optbench.optimizers import SGD
    from optbench.problems import Booth

    res = optbench.run(Booth(), SGD(), steps=2, backend="cuda", record=("loss",))
    print(json.dumps({"warm_up": res.manifest["timings"]["warm_up"],
                      "cpu_kernel_compiled": bool(engine._WARM)}), flush=True)


# ---- the tests ---------------------------------------------------------------------------------


def _require_numba_cuda():
    if not _has_numba_cuda():
        pytest.fail(MISSING, pytrace=False)


def _start(mode, **env):
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), mode], cwd=HERE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})


@pytest.fixture(scope="module")
def subprocesses():
    """The PTX and simulator checks, started together (they are independent and slow)."""
    if not _has_numba_cuda():
        yield {}
        return
    procs = {"ptx": _start("ptx", NUMBA_ENABLE_CUDASIM="0"),
             "sim": _start("sim", NUMBA_ENABLE_CUDASIM="1"),
             "pluginsim": _start("pluginsim", NUMBA_ENABLE_CUDASIM="1"),
             "simblock": _start("simblock", NUMBA_ENABLE_CUDASIM="1")}
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()


def _finish(procs, mode):
    proc = procs[mode]
    t0 = time.perf_counter()
    try:
        out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"{mode} check did not finish in {SUBPROCESS_TIMEOUT} s")
    assert proc.returncode == 0, f"{mode} check failed:\n{err[-6000:]}"
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    print(f"{mode} check ({time.perf_counter() - t0:.0f} s waited):")
    for row in rows:
        print("  ", json.dumps(row))
    return rows


def test_numba_cuda_is_installed():
    _require_numba_cuda()
    from numba import cuda

    assert cuda.implementation == "NVIDIA", "numba.cuda is numba's built-in target"


def test_kernel_compiles_to_ptx(subprocesses):
    _require_numba_cuda()
    rows = _finish(subprocesses, "ptx")
    plugin = [r for r in rows if r.get("plugin")]
    assert [(r["plugin"], r["mode"]) for r in plugin] == [("rules", "thread"),
                                                          ("problem", "thread"),
                                                          ("problem", "block")], plugin
    for r in plugin:  # user rules, a user's problem and its minibatch hook in device code
        assert r["ptx_bytes"] > 10_000 and r["cubin_bytes"] > 0, r.get("error", r)
    rows = [r for r in rows if not r.get("plugin")]
    done = {(r["mode"], r["dtype"], tuple(r["cc"])) for r in rows}
    assert done == {(m, d, cc) for m in ("thread", "block") for d in ("float64", "float32")
                    for cc in ((8, 0), (9, 0))}
    for r in rows:
        assert r["target"] and r["entry"] and r["ptx_bytes"] > 10_000, r
        assert r["cubin_bytes"] > 0, r.get("error", r)
        assert r["barrier"] == (r["mode"] == "block"), r  # block mode synchronises its threads


def _check_grids(rows, expected, modes):
    from optbench import optimizers as O
    from optbench import problems as P
    from optbench import schedules as S

    covered = rows[0]["coverage"]
    assert set(covered["optimizers"]) == set(O.REGISTRY), "grid misses an optimizer"
    assert set(covered["schedules"]) == set(S.REGISTRY), "grid misses a schedule"
    assert set(covered["problems"]) == set(P.REGISTRY), "grid misses a problem family"
    results = {r["grid"]: r for r in rows[1:] if "grid" in r}
    assert set(results) == set(expected)
    for name, r in results.items():
        assert r["kernel_launches"] > 0 and r["threads"] >= r["trajectories"] > 0, r
        assert r["modes"] == modes, r
        assert r["close"], f"{name}: {r['problems']}"
    assert results["statuses"]["kernel_launches"] > 1  # one per shard
    assert set(results["statuses"]["statuses"]) == {"finished", "reached_target", "diverged"}
    return results


def test_simulator_matches_cpu(subprocesses):
    """Thread mode: every optimizer, schedule and problem family, bitwise in fact."""
    _require_numba_cuda()
    results = _check_grids(_finish(subprocesses, "sim"), grids(), ["thread"])
    assert all(r["bitwise"] for r in results.values()), results


def test_user_rules_in_the_simulator_match_cpu(subprocesses):
    """A user's per-coordinate rules (with coefficients, step state, a boolean and a state
    starting at a hyper-parameter) run in both CUDA kernels as on the CPU."""
    _require_numba_cuda()
    rows = {r["grid"]: r for r in _finish(subprocesses, "pluginsim")}
    assert set(rows) == {"plugins-thread", "plugins-block", "user-problem-thread",
                         "user-problem-block", "whole-vector-block"}
    assert rows["whole-vector-block"]["bitwise"], rows["whole-vector-block"]
    assert rows["whole-vector-block"]["modes"] == ["thread"], rows["whole-vector-block"]
    rows.pop("whole-vector-block")
    assert rows["plugins-thread"]["bitwise"], rows["plugins-thread"]
    assert rows["plugins-block"]["close"], rows["plugins-block"]
    assert rows["user-problem-thread"]["bitwise"], rows["user-problem-thread"]
    assert rows["user-problem-block"]["close"], rows["user-problem-block"]
    assert [rows[g]["trajectories"] for g in sorted(rows)] == [12, 12, 6, 6], rows


def test_simulator_block_mode_matches_cpu(subprocesses):
    """Block mode: every optimizer, schedule and problem family within rtol 1e-12 with the
    same statuses; d = 300 problems in mode "auto" run in block mode; a CUDA run compiles no
    CPU kernel."""
    _require_numba_cuda()
    rows = _finish(subprocesses, "simblock")
    warm = [r for r in rows if "warm_up" in r]
    assert warm and warm[0]["cpu_kernel_compiled"] is False, warm
    results = _check_grids([r for r in rows if "warm_up" not in r], block_grids(), ["block"])
    assert results["large"]["max_rel_diff"] <= RTOL


def test_auto_mode_picks_block_mode_by_dimension_and_cuts_mixed_shards():
    from optbench import cuda_backend
    from optbench.optimizers import Adam
    from optbench.plan import Plan
    from optbench.problems import Quadratic, Rosenbrock

    big = cuda_backend.BLOCK_MODE_MIN_DIM
    plan = Plan(problems=[Rosenbrock(dim=5), Quadratic(dim=big), Rosenbrock(dim=big - 1)],
                optimizers=[Adam()], schedules=None, seeds=2, steps=2, record=("loss",))
    assert cuda_backend.segments(plan, 0, 6, "auto") == [(0, 2, "thread"), (2, 4, "block"),
                                                          (4, 6, "thread")]
    assert cuda_backend.segments(plan, 1, 3, "block") == [(1, 3, "block")]
    assert cuda_backend.segments(plan, 3, 6, "thread") == [(3, 6, "thread")]


def test_bad_cuda_mode_is_a_one_line_error():
    import optbench
    from optbench.optimizers import SGD
    from optbench.problems import Booth

    with pytest.raises(ValueError, match=r"^run: cuda_mode must be one of auto, thread, block, "
                                         r"got 'warp'$"):
        optbench.run(Booth(), SGD(), steps=3, cuda_mode="warp")


def test_cuda_kernels_are_cached_with_their_generated_module(tmp_path):
    """Both CUDA kernels live in the plan's generated kernel module under $OPTBENCH_CACHE_DIR,
    and numba-cuda's disk cache sits beside it (the module's file name is the hash of its
    inputs, so a cached kernel is never stale). (Saving and loading a cached kernel needs a
    GPU: ``bind`` loads the cubin; not checked here.)"""
    _require_numba_cuda()
    code = ("import json\n"
            "from optbench.codegen import kernel_for\n"
            "from optbench.optimizers import SGD\n"
            "kc = kernel_for([SGD()], 'cuda')\n"
            "out = {}\n"
            "for f in (kc.run_grid_cuda, kc.run_grid_cuda_blocks):\n"
            "    out[f.py_func.__name__] = f._cache._impl.locator.get_cache_path()\n"
            "print(json.dumps([out, kc.module.__file__]))\n")
    env = {**os.environ, "OPTBENCH_CACHE_DIR": str(tmp_path), "NUMBA_ENABLE_CUDASIM": "0"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    kernels, module_file = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(kernels) == {"run_grid_cuda", "run_grid_cuda_blocks"}
    assert module_file.startswith(str(tmp_path / "kernels"))
    for path in kernels.values():
        assert path.startswith(str(tmp_path / "kernels"))


def test_without_a_gpu_cuda_is_a_one_line_error_and_auto_uses_the_cpu(monkeypatch, tmp_path):
    import optbench
    from optbench import cuda_backend
    from optbench.cli import main
    from optbench.problems import Booth

    reason = "no usable CUDA GPU (test double)"
    monkeypatch.setattr(cuda_backend, "gpu_unavailable_reason", lambda: reason)
    with pytest.raises(ValueError) as info:
        optbench.run(Booth(), optbench.optimizers.SGD(), steps=3, backend="cuda")
    message = str(info.value)
    assert "\n" not in message and reason in message and "'cuda'" in message
    auto = optbench.run(Booth(), optbench.optimizers.SGD(), steps=3, backend="auto",
                        record=("loss",))
    cpu = optbench.run(Booth(), optbench.optimizers.SGD(), steps=3, backend="cpu",
                       record=("loss",))
    np.testing.assert_array_equal(auto.trace("loss"), cpu.trace("loss"))
    suite = tmp_path / "s.toml"
    suite.write_text('name = "t"\n[run]\nsteps = 3\n[[problems]]\ntype = "Booth"\n'
                     '[[optimizers]]\ntype = "SGD"\n')
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--backend", "cuda", "--quiet"]) == 2
    assert not out.exists()  # nothing stored
    assert main(["run", str(suite), "--out", str(out), "--backend", "auto", "--quiet"]) == 0


def test_unavailable_reason_is_one_line_or_none():
    _require_numba_cuda()
    from optbench import cuda_backend

    reason = cuda_backend.gpu_unavailable_reason()
    assert reason is None or (reason and "\n" not in reason)


def test_cuda_kernel_arguments_per_mode():
    """Thread mode: each lane its own scalar state. Block mode: one lane per packed block, no
    SC or C (thread-local in the kernel), a thread block per trajectory."""
    from optbench import cuda_backend
    from optbench.optimizers import NAdam
    from optbench.plan import Plan
    from optbench.problems import Booth

    plan = Plan(problems=[Booth()], optimizers=[NAdam()], schedules=None, seeds=40, steps=2,
                record=("loss",), dtype="float64")
    packed = cuda_backend.pack(plan, 0, 40, "thread")
    inputs, lanes, outputs = cuda_backend.kernel_args(packed, "thread")
    slots = packed.kernels[0].scalar_slots
    assert slots == len(NAdam.step_state) == 1
    assert lanes.SC.shape == (2, 32, slots) and lanes.SC.dtype == np.float64
    assert packed.lanes.SC.shape == (2, slots)  # the CPU's, shared by a block's lanes
    assert inputs is packed.inputs and outputs is packed.out
    assert all(a is b for a, b in zip(lanes, packed.lanes) if a is not lanes.SC)
    assert cuda_backend.launch_config(packed, "thread") == (1, cuda_backend.THREADS_PER_BLOCK)
    packed = cuda_backend.pack(plan, 0, 40, "block")
    inputs, lanes, outputs = cuda_backend.kernel_args(packed, "block")
    assert lanes.SC.size == 0 and lanes.C.size == 0
    assert lanes.C.dtype == packed.lanes.C.dtype and lanes.C.ndim == packed.lanes.C.ndim
    assert lanes.X is packed.lanes.X and packed.lanes.X.shape == (40, 2, 1)
    assert cuda_backend.launch_config(packed, "block") == (40, cuda_backend.block_threads())


def test_gpu_matches_cpu():
    """On a machine with a GPU: the grids on the GPU (both modes) agree with the CPU to
    round-off (FMA contraction and libdevice make bitwise agreement impossible) with identical
    statuses."""
    _require_numba_cuda()
    from optbench import cuda_backend

    reason = cuda_backend.gpu_unavailable_reason()
    if reason is not None or cuda_backend.is_simulator():
        pytest.skip(f"no GPU here ({reason or 'simulator'}); PTX and simulator checks ran instead")
    for name, kw in {**grids(), **{f"block {k}": v for k, v in block_grids().items()}}.items():
        r = compare(kw, "cuda", rtol=1e-9)
        assert r["close"], f"{name}: {r['problems']}"


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if not _has_numba_cuda():
        sys.exit(MISSING)
    if mode == "ptx":
        _main_ptx()
    elif mode in ("sim", "simblock", "pluginsim"):
        from numba import config

        if not config.ENABLE_CUDASIM:
            sys.exit(f"{mode}: set NUMBA_ENABLE_CUDASIM=1 before running")
        # the simulator's block manager busy-polls for threads waiting at a barrier while
        # holding the GIL: with the default 5 ms switch interval every barrier costs ~5 ms
        sys.setswitchinterval(2e-5)
        if mode == "sim":
            _main_compare("cuda", RTOL, {k: dict(kw, cuda_mode="thread")
                                         for k, kw in grids().items()})
        elif mode == "pluginsim":
            _main_plugin_sim()
        else:
            _main_warm_up()
            _main_compare("cuda", RTOL, block_grids())
    elif mode == "gpu":
        _main_compare("cuda", 1e-9, {**grids(), **block_grids()})
    else:
        sys.exit("usage: python tests/test_cuda.py ptx|sim|simblock|gpu")
