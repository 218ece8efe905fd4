"""User optimizers through the plugin door: numbers, suites, provenance, errors, the cache."""
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from plugin_rules import Counted, HeavyBall, PlainAdam

import optbench
from optbench import Optimizer
from optbench.optimizers import SGD, Adam
from optbench import problems as P
from optbench.problems import Quadratic, Rosenbrock
from optbench.schedules import CosineAnnealingLR, OneCycleLR

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_plugin_adam_equals_the_builtin_bitwise(dtype):
    """The per-coordinate form, generated loop and coefficients, gives the hand-written
    built-in's numbers exactly, under an lr schedule and one that cycles beta1."""
    common = dict(problems=[Rosenbrock(dim=4), Quadratic(dim=6, kappa=50.0, rotate=True)],
                  steps=120, seeds=3, record=("loss", "x", "lr", "momentum"), dtype=dtype)
    for schedule in (CosineAnnealingLR(T_max=120), OneCycleLR(max_lr=0.05, total_steps=120)):
        ours = optbench.run(optimizers=[PlainAdam(lr=0.02)], schedules=[schedule], **common)
        ref = optbench.run(optimizers=[Adam(lr=0.02)], schedules=[schedule], **common)
        for name in ("x", "loss", "momentum"):
            np.testing.assert_array_equal(ours.trace(name), ref.trace(name), err_msg=name)
        assert np.isfinite(ours.trace("loss")).all()
        assert not np.array_equal(ours.trace("x")[:, 0], ours.trace("x")[:, -1])  # it moved


def test_plugin_and_builtins_share_one_run_and_a_vector_optimizer():
    """A plugin next to built-ins in one grid; its VectorOptimizer steps equal the engine's."""
    res = optbench.run(Quadratic(dim=5), [HeavyBall(lr=0.05, start=0.5), SGD(lr=0.05,
                       momentum=0.9), Counted()], steps=40, seeds=2, record=("x", "loss"))
    x = res.trace("x")
    assert x.shape[0] == 6 and np.isfinite(x).all()
    assert not np.array_equal(x[0], x[2])  # the buffer's start (0.5) is felt
    # the engine's trajectory of HeavyBall replayed with VectorOptimizer and the exact gradient
    problem = Quadratic(dim=5)
    opt = optbench.VectorOptimizer(HeavyBall(lr=0.05, start=0.5), x[0, 0])
    for k in range(40):
        opt.grad[:] = problem.loss_grad(opt.params.copy())[1]
        opt.step()
        np.testing.assert_array_equal(opt.params, x[0, k + 1])
    np.testing.assert_array_equal(opt.state("buf"), opt.state(0))
    # Counted: lr / t from its step state, so x_{k+1} = x_k - 0.1/(k+1) grad f(x_k)
    xc = x[4]
    for k in range(3):
        g = problem.loss_grad(xc[k])[1]
        np.testing.assert_array_equal(xc[k + 1], xc[k] - (0.1 / (k + 1.0)) * g)


def test_declared_constructor_is_torch_style_and_validated():
    opt = PlainAdam(2e-3, betas=(0.8, 0.99))
    assert opt.lr == 2e-3 and opt.betas == (0.8, 0.99) and opt.eps == 1e-8
    assert PlainAdam.defaults() == {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}
    assert opt.to_dict()["type"] == "plugin_rules:PlainAdam"
    assert PlainAdam.slot_names == ("lr", "beta1", "beta2", "eps")
    for bad, match in [(dict(lr=-1.0), r"^PlainAdam: lr must be in \[0, inf\], got -1\.0$"),
                       (dict(betas=(0.9, 2.0)), r"^PlainAdam: betas\[1\] must be in"),
                       (dict(epss=1.0), r"^PlainAdam: unknown parameter 'epss' \(did you mean "
                                        r"'eps'\?\)$"),
                       (dict(flip=1), None)]:
        if match is None:
            with pytest.raises(ValueError, match=r"^HeavyBall: flip must be true or false"):
                HeavyBall(**bad)
        else:
            with pytest.raises(ValueError, match=match):
                PlainAdam(**bad)


def _define(body: str) -> type:
    namespace: dict = {"Optimizer": Optimizer, "__name__": "made_by_exec"}
    exec(textwrap.dedent(body), namespace)
    return namespace["Bad"]


@pytest.mark.parametrize("body,message", [
    ("""
     class Bad(Optimizer):
         hyperparameters = {"lr": 0.1}
         state = {"lr": 0.0}
         @staticmethod
         def update(x, g, lr):
             return x - lr * g, 0.0
     """, r"^Bad: state name 'lr' clashes with a argument name$"),
    ("""
     class Bad(Optimizer):
         hyperparameters = {"eps": 0.1}
         @staticmethod
         def update(x, g):
             return x
     """, r"^Bad: hyperparameters must declare lr$"),
])
def test_name_clashes_are_one_line_errors(body, message):
    with pytest.raises(TypeError, match=message):
        _define(body)


@pytest.mark.parametrize("body,message", [
    ("""
     class Bad(Optimizer):
         hyperparameters = {"lr": 0.1}
         state = {"m": 0.0}
         @staticmethod
         def update(x, g, m, lr):
             return x - lr * g
     """, r"returns 1 value\(s\), expected 2$"),
    ("""
     class Bad(Optimizer):
         hyperparameters = {"lr": 0.1}
         @staticmethod
         def update(x, g, lr, beta):
             return x - lr * g
     """, r"unknown argument 'beta' \(known: x, g, lr, t\)$"),
    ("""
     class Bad(Optimizer):
         hyperparameters = {"lr": 0.1}
         @staticmethod
         def update(x, g, lr):
             return x - lr * g.nonexistent
     """, r"does not compile with numba: "),
])
def test_broken_rules_are_one_line_errors_naming_the_plugin(body, message, tmp_path,
                                                           monkeypatch):
    monkeypatch.setenv("OPTBENCH_CACHE_DIR", str(tmp_path))
    bad = _define(body)
    with pytest.raises(TypeError, match=message) as info:
        optbench.run(Quadratic(dim=2), bad(), steps=2)
    text = str(info.value)
    assert "\n" not in text and text.startswith("Bad.update (<string>:")


def test_non_finite_results_mark_the_trajectory_diverged():
    class Exploding(Optimizer):
        hyperparameters = {"lr": 0.1}

        @staticmethod
        def update(x, g, lr):
            return x / (g - g)  # 0/0 or x/0: NaN or inf at the first step

    res = optbench.run(Quadratic(dim=3), [Exploding(), SGD(lr=0.1)], steps=5, seeds=2)
    status = res.trials["status"]
    assert list(status[:2]) == ["diverged"] * 2 and list(status[2:]) == ["finished"] * 2


SUITE = """
name = "mine"
[run]
steps = 30
seeds = 2
[[problems]]
type = "Quadratic"
dim = 3
[[optimizers]]
type = "myrules:Halving"
lr = [0.1, 0.2]
[[optimizers]]
type = "Adam"
"""

RULE = """
from optbench import Optimizer


class Halving(Optimizer):
    hyperparameters = {"lr": 0.1}

    @staticmethod
    def update(x, g, lr):
        return x - SCALE * lr * g


SCALE = 1.0
"""


def _suite(tmp_path, scale="1.0"):
    (tmp_path / "myrules.py").write_text(RULE.replace("SCALE = 1.0", f"SCALE = {scale}"))
    (tmp_path / "suite.toml").write_text(SUITE)
    return tmp_path / "suite.toml"


def _cli(args, cwd, cache=None):
    """``optbench ARGS`` in a new process; ``cache``: its own kernel cache (default this
    session's, so built-in kernels compile once for all such tests)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if cache is not None:
        env["OPTBENCH_CACHE_DIR"] = str(cache)
    return subprocess.run([sys.executable, "-m", "optbench.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_suite_names_a_plugin_and_reading_never_imports_it(tmp_path):
    """A suite names module:object (imported from the suite's folder); the manifest records
    the plugin's source hash; load/report/compare work after the module is gone; --resume
    refuses a changed source."""
    work = tmp_path / "work"
    work.mkdir()
    suite = _suite(work)
    out = tmp_path / "run"
    proc = _cli(["run", str(suite), "--out", str(out), "--quiet"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    record = manifest["plugins"]["myrules:Halving"]
    assert record["source_sha256"] == hashlib.sha256(
        (work / "myrules.py").read_bytes()).hexdigest()
    assert record["defaults"] == {"lr": 0.1}
    (work / "myrules.py").unlink()  # reading needs no user code
    res = optbench.load(out)
    assert "myrules" not in sys.modules
    assert list(res.trials["optimizer"][:4]) == ["Halving()"] * 2 + ["Halving(lr=0.2)"] * 2
    assert res.plan.optimizers[0].to_dict() == {"type": "myrules:Halving", "lr": 0.1}
    report = _cli(["report", str(out), "--out", str(tmp_path / "report"), "--quiet"],
                  tmp_path)
    assert report.returncode == 0, report.stderr
    # --resume with an edited rule: one line, nothing changed
    _suite(work, scale="0.5")
    before = (out / "manifest.json").read_bytes()
    proc = _cli(["run", str(suite), "--out", str(out), "--resume", "--quiet"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "plugin myrules:Halving changed" in proc.stderr
    assert (out / "manifest.json").read_bytes() == before


def test_bad_plugin_names_in_a_suite_are_one_line_errors(tmp_path):
    (tmp_path / "notaplugin.py").write_text("class Thing:\n    pass\n")
    for name, message in [("nosuchmodule:X", "module 'nosuchmodule' does not import"),
                          ("notaplugin:Thing", "'Thing' is not an optimizer class")]:
        (tmp_path / "s.toml").write_text(SUITE.replace("myrules:Halving", name))
        proc = _cli(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o"), "--quiet"],
                    tmp_path, tmp_path / "cache")
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert message in proc.stderr and not (tmp_path / "o").exists()


TIMED = """
import json, time, sys
t0 = time.perf_counter()
import optbench
from optbench.problems import Quadratic
from optbench.suite import read_suite
kwargs = read_suite(sys.argv[1])
res = optbench.run(**kwargs)
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "warm_up": res.manifest["timings"]["warm_up"],
                  "x": res.trace("loss")[:, -1].tolist()}))
"""


BUILTIN_SUITE = """
name = "builtin"
[run]
steps = 5
[[problems]]
type = "Rosenbrock"
dim = 2
[[optimizers]]
type = "SGD"
lr = 1e-3
[[schedules]]
type = "CosineAnnealingLR"
T_max = 5
"""


def test_kernel_cache_hits_in_a_new_process_and_an_edit_recompiles(tmp_path):
    """A process that compiles the built-in kernel also builds (in background processes) the
    built-in schedules' interpreter and the loop a user's rule runs in: the first run of a
    user rule compiles its rule alone. Second
    process: everything loads from the disk cache. An edit to the rule: a new module of the
    rule alone (never stale code), and the numbers change."""
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    suite = _suite(work)
    (work / "builtin.toml").write_text(BUILTIN_SUITE)
    env = {**os.environ, "OPTBENCH_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    env.pop("OPTBENCH_PREBUILD", None)

    def timed(suite_file):
        proc = subprocess.run([sys.executable, "-c", TIMED, str(suite_file)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    def compiled():
        """numba's cached code files (one per compiled signature)"""
        return set(cache.rglob("*.nbc"))

    def modules_of(paths):
        """the generated modules (name without its hash) or package files of ``paths``"""
        return {path.name.split(".")[0].rsplit("_", 1)[0] for path in paths}

    builtins = timed(work / "builtin.toml")
    assert not builtins["warm_up"]["cache_hit"]
    before = compiled()
    assert {"optbench_cpu_loop_kernel", "optbench_schedule_tables"} <= modules_of(before)
    first, second = timed(suite), timed(suite)
    assert not first["warm_up"]["cache_hit"] and second["warm_up"]["cache_hit"]
    assert modules_of(compiled() - before) == {"optbench_rule_kernel"}, compiled() - before
    assert first["x"] == second["x"]
    modules = set((cache / "kernels").glob("optbench_*.py"))
    _suite(work, scale="0.5")
    edited = timed(suite)
    assert not edited["warm_up"]["cache_hit"]
    assert edited["x"][:4] != first["x"][:4] and edited["x"][4:] == first["x"][4:]
    # the edit makes a new module of the rule alone; its trajectory loop is not recompiled
    new = set((cache / "kernels").glob("optbench_*.py")) - modules
    assert [path.name.split("_kernel_")[0] for path in new] == ["optbench_rule"], new
    # optbench cache info / clear
    info = subprocess.run([sys.executable, "-m", "optbench.cli", "cache", "info"], env=env,
                          capture_output=True, text=True, timeout=120)
    # six kernel modules: the problem dispatch over every built-in family, the built-in
    # rules' kernel, the built-in schedules' interpreter, the loop taking a user's rule on
    # the built-in families, Halving's rule, the edited Halving's
    problem_kernels = sorted((cache / "kernels").glob("optbench_problem_kernel_*.py"))
    headers = [path.read_text().splitlines()[0].count(":") for path in problem_kernels]
    assert len(headers) == 1 and headers[0] > 10, headers
    assert info.returncode == 0 and "kernels: 6" in info.stdout, info.stdout + info.stderr
    clear = subprocess.run([sys.executable, "-m", "optbench.cli", "cache", "clear"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert clear.returncode == 0 and not cache.exists()


def test_a_background_build_never_outlives_its_caller(monkeypatch):
    """``prebuild.wait`` (also run at exit) kills a build still running after its timeout."""
    from optbench import prebuild

    monkeypatch.setattr(prebuild, "TIMEOUT_S", 0.5)
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    prebuild._BUILDS["float64"] = process
    prebuild.wait()
    assert process.wait(timeout=5) != 0 and not prebuild._BUILDS


def test_examples_run(tmp_path):
    """examples/: AdaBelief equals the paper's Algorithm 2 as a numpy loop and gets a report;
    LAMB's whole-vector rule equals its numpy loop; the user problem converges within
    gradient descent's rate; the warm-up schedule's lr table is the Transformer paper's
    formula."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "adabelief.py"), "--out",
                           str(tmp_path / "ab")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "max relative difference 0.00e+00" in proc.stdout
    assert (tmp_path / "ab" / "report" / "index.html").exists()
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "lamb.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LAMB vs numpy: max relative difference" in proc.stdout
    diff = float(proc.stdout.split("max relative difference")[1].split()[0])
    assert diff < 1e-12
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "user_problem.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "gradient descent within its linear-rate bound: True" in proc.stdout
    start, end = map(float, proc.stdout.split("median f - f* ")[1].split(" -> "))
    assert end < 1e-3 * start  # minibatch SGD with a decaying step closes in on x*
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "warmup_schedule.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "peak lr 0.05 at step 49" in proc.stdout
    diff = float(proc.stdout.split("from the formula")[1].split()[0])
    assert diff < 1e-12


# ---- a user's problem ------------------------------------------------------------------

def _user_problem():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from user_problem import LeastSquaresOn
    finally:
        sys.path.remove(str(ROOT / "examples"))
    return LeastSquaresOn


def test_user_problem_steps_equal_a_numpy_loop_and_reach_its_optimum():
    """Gradient descent on the user's data: the first steps equal x - lr A^T(Ax - b)/n in
    numpy (to round-off: numpy sums in another order), and it converges to lstsq's x*."""
    problem = _user_problem()(n=30, dim=4, seed=3)
    A, b = problem.matrices()
    lr = 1.0 / problem.L
    res = optbench.run([problem, Quadratic(dim=4)], [SGD(lr=lr), Adam(lr=0.05)], steps=400,
                       seeds=2, record=("x", "suboptimality"))
    x = res.trace("x")[0]
    for k in range(5):
        expected = x[k] - lr * (A.T @ (A @ x[k] - b)) / problem.n
        np.testing.assert_allclose(x[k + 1], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(x[-1], problem.minimizers[0], rtol=1e-9, atol=1e-12)
    assert res.trials["final_suboptimality"][0] < 1e-14
    assert np.isfinite(res.trace("suboptimality")).all()
    f, g = problem.loss_grad(np.zeros(4))
    assert f == pytest.approx(0.5 * b @ b / problem.n)
    np.testing.assert_allclose(g, -A.T @ b / problem.n, rtol=1e-12)


def test_user_problem_minibatches_equal_a_numpy_loop():
    """batch_size=b: SGD steps along 1/b sum of the user's example gradients over the
    indices the built-in finite sums draw (``sample_index`` on the trajectory's stream),
    with and without replacement; the recorded sampled loss is the minibatch mean."""
    from optbench.kernels import rng
    from optbench.kernels.problems import sample_index

    LeastSquaresOn = _user_problem()
    for replacement in (False, True):
        problem = LeastSquaresOn(n=12, dim=3, seed=1, batch_size=5, replacement=replacement)
        A, b = problem.matrices()
        lr = 0.5 / problem.L
        res = optbench.run(problem, SGD(lr=lr), steps=8, seeds=[4],
                           record=("x", "sampled_loss", "loss"))
        x = res.trace("x")[0]
        key = np.uint64(rng.stream_key(4, problem.stream_id ^ 0x0153))
        drawn = []
        for k in range(8):
            idx = [sample_index(key, k, j, 5, 12, replacement) for j in range(5)]
            drawn += idx
            r = A[idx] @ x[k] - b[idx]
            np.testing.assert_allclose(x[k + 1], x[k] - lr * (A[idx].T @ r) / 5, rtol=1e-13,
                                       atol=1e-15)
            assert res.trace("sampled_loss")[0, k] == pytest.approx(0.5 * (r @ r) / 5,
                                                                    rel=1e-13)
        if not replacement:  # epochs of 12 draws visit every example once
            assert sorted(drawn[:12]) == list(range(12))
        assert not np.allclose(res.trace("sampled_loss")[0, :8], res.trace("loss")[0, :8])


def test_user_problem_minibatch_contract_is_checked_before_anything_runs(tmp_path):
    from optbench.problems import Problem

    LeastSquaresOn = _user_problem()

    class NoExamples(LeastSquaresOn):
        example_loss_grad = None

    class NoCount(LeastSquaresOn):
        def _build(self):
            return {k: v for k, v in super()._build().items() if k != "examples"}

    with pytest.raises(ValueError, match=r"^test_plugins:.*NoExamples: batch_size > 0 needs an "
                                         r"example_loss_grad\(x, g, data, i\) function$"):
        optbench.run(NoExamples(batch_size=2), SGD(), steps=2, out=tmp_path / "a")
    with pytest.raises(ValueError, match=r"NoCount: _build must return examples=n .*got None$"):
        optbench.run(NoCount(), SGD(), steps=2, out=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert NoExamples().kernel_data.size == NoExamples().data.size  # full batch: no count
    assert issubclass(NoCount, Problem)


def test_whole_vector_rules_never_split_their_coordinates_on_cuda():
    """Block mode splits coordinates across threads: a user's whole-vector rule (LAMB's
    trust ratio) runs in thread mode whatever the mode asked; per-coordinate and elementwise
    rules follow the mode."""
    from optbench import cuda_backend
    from optbench.plan import Plan

    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from lamb import LAMB
    finally:
        sys.path.remove(str(ROOT / "examples"))
    assert not LAMB.splits_coordinates()
    assert Adam.splits_coordinates() and PlainAdam.splits_coordinates()
    plan = Plan(problems=[Rosenbrock(dim=4)], optimizers=[LAMB(), Adam(), PlainAdam()],
                schedules=None, seeds=1, steps=2, record=("loss",))
    assert cuda_backend.trial_modes(plan, 0, 3, "block") == ["thread", "block", "block"]
    assert cuda_backend.segments(plan, 0, 3, "block") == [(0, 1, "thread"), (1, 3, "block")]


def test_user_rules_run_in_a_loop_per_problem_group_that_takes_their_functions():
    """The built-in rules' CPU kernel holds every built-in problem family and rule, inlined
    into its loop (compiled once per machine); a user rule, and the built-in rules on a user
    problem, are modules of their own, run by a trajectory loop of the problem group (the
    plan's built-in families, or the user problem) that takes the rules' dispatch as
    arguments: a new rule, or an edit, compiles its own module alone. All kernels' loops run
    in the one compiled parallel driver."""
    from optbench.codegen import LOOP_FUNCTIONS, builtin_problem_units
    from optbench.engine import Packed
    from optbench.kernels import cpu
    from optbench.plan import Plan

    mine = _user_problem()(n=10, dim=3)
    problems = [Quadratic(dim=3), Rosenbrock(dim=2), Quadratic(dim=4, kappa=3.0)]
    plan = Plan(problems=[*problems, mine],
                optimizers=[PlainAdam(lr=0.01), HeavyBall(), Adam(lr=0.01)],
                schedules=None, seeds=2, steps=5, record=("loss",), dtype="float64")
    kernels = Packed(plan, 0, plan.n_trials).kernels
    builtin = next(k for k in kernels if len(k.definitions) > 2)
    assert builtin.problems == builtin_problem_units() and builtin.functions == ()
    assert builtin.loop is builtin.module and hasattr(builtin.module, "optimizer_step")
    others = [k for k in kernels if k is not builtin]
    families = builtin_problem_units()  # a user rule's loop on built-in problems: all of them
    expected = {((PlainAdam.definition(),), families), ((HeavyBall.definition(),), families),
                ((PlainAdam.definition(),), (type(mine),)),
                ((HeavyBall.definition(),), (type(mine),)),
                ((Adam.definition(),), (type(mine),))}
    assert {(k.definitions, k.problems) for k in others} == expected
    for kernel in others:
        assert [f.__name__ for f in kernel.functions] == list(LOOP_FUNCTIONS)
        assert not hasattr(kernel.module, "run_block")  # the rules alone
        assert not hasattr(kernel.loop, "optimizer_step")  # the loop takes them as arguments
    assert len({kernel.loop for kernel in others}) == 2  # one per problem group
    before = set(cpu.run_blocks.overloads)
    res = optbench.run(problems=[*problems, mine],
                       optimizers=[PlainAdam(lr=0.01), Adam(lr=0.01)], steps=5, seeds=2,
                       record=("loss",), progress=False)
    # at most two: for the built-in kernel's loop and for the loops taking their rules
    assert len(set(cpu.run_blocks.overloads) - before) <= 2  # not one per kernel
    plain = res.trials["optimizer_type"].to_numpy() == "PlainAdam"
    assert plain.sum() == 8  # PlainAdam is Adam, bit for bit, in either loop
    np.testing.assert_array_equal(res.trace("loss")[plain], res.trace("loss")[~plain])


def test_user_problems_get_their_own_cuda_kernels():
    """CUDA segments never mix problem kernels: a user problem's trials run in a kernel
    generated with its functions, the built-in families' in the plan's other kernel."""
    from optbench import cuda_backend, layout
    from optbench.codegen import builtin_problem_units
    from optbench.plan import Plan

    user = _user_problem()(n=10, dim=3)
    plan = Plan(problems=[Quadratic(dim=3), user, Rosenbrock(dim=3)], optimizers=[SGD()],
                schedules=None, seeds=2, steps=2, record=("loss",), dtype="float64")
    assert cuda_backend.segments(plan, 0, 6, "thread") == [(0, 2, "thread"), (2, 4, "thread"),
                                                          (4, 6, "thread")]
    packed = [cuda_backend.pack(plan, a, b, m) for a, b, m in cuda_backend.segments(plan, 0, 6,
                                                                                      "thread")]
    modules = [p.kernels[0].module for p in packed]
    assert modules[0] is modules[2] and modules[1] is not modules[0]
    assert packed[1].kernels[0].problems == (type(user),)
    assert packed[0].kernels[0].problems == builtin_problem_units()
    assert packed[1].inputs.bmeta[0, layout.I_PROB] == 0
    assert packed[2].inputs.bmeta[0, layout.I_PROB] == builtin_problem_units().index(Rosenbrock)


def test_user_problem_in_a_suite_reads_back_without_its_code(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "userprob.py").write_text((ROOT / "examples" / "user_problem.py").read_text())
    (work / "s.toml").write_text('name = "p"\n[run]\nsteps = 50\nseeds = 2\n'
                                 '[[problems]]\ntype = "userprob:LeastSquaresOn"\ndim = [3, 4]\n'
                                 '[[optimizers]]\ntype = "SGD"\nlr = 0.05\n')
    out = tmp_path / "run"
    proc = _cli(["run", str(work / "s.toml"), "--out", str(out), "--quiet"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    (work / "userprob.py").unlink()
    res = optbench.load(out)
    assert "userprob" not in sys.modules
    dims = [p.dim for p in res.plan.problems]
    assert dims == [3, 4] and all(np.isfinite(p.f_star) for p in res.plan.problems)
    assert res.plan.problems[1].minimizers.shape == (1, 4)
    assert np.all(res.trials["final_suboptimality"] >= 0.0)


def test_user_problem_with_a_broken_function_is_a_one_line_error(tmp_path, monkeypatch):
    from optbench.problems import Problem

    class Broken(Problem):
        dim = 2

        def __init__(self):
            self._store(locals())

        def _build(self):
            return dict(data=np.zeros(1), x0_low=-1.0, x0_high=1.0)

        @staticmethod
        def value_and_grad(x, g, data, extra):
            return 0.0

    monkeypatch.setenv("OPTBENCH_CACHE_DIR", str(tmp_path))
    with pytest.raises(TypeError, match=r"Broken.value_and_grad \(.*\): unknown argument "
                                        r"'extra' \(known: x, g, data, work\)$"):
        optbench.run(Broken(), SGD(), steps=2)


# ---- a user's schedule ------------------------------------------------------------------

SCHEDULE = '''
from optbench.schedules import Schedule
from optbench.spec import integer, real


class Warmup(Schedule):
    """Linear warm-up to base_lr over `warmup` steps, beta1/momentum ramping down with it."""

    def __init__(self, warmup=10, floor=0.5):
        warmup = integer("Warmup", "warmup", warmup, lo=1)
        floor = real("Warmup", "floor", floor, lo=0.0, hi=1.0)
        self._store(locals())

    @staticmethod
    def lr_at(k, base_lr, warmup):
        return base_lr * min(1.0, (k + 1.0) / warmup)

    @staticmethod
    def momentum_at(k, base_momentum, warmup, floor):
        return base_momentum * (floor + (1.0 - floor) * min(1.0, k / warmup))
'''


def _schedule_module(tmp_path, name="userwarm"):
    (tmp_path / f"{name}.py").write_text(SCHEDULE)
    sys.path.insert(0, str(tmp_path))
    try:
        module = __import__(name)
    finally:
        sys.path.remove(str(tmp_path))
    return module


def test_user_schedule_tables_reach_the_engine(tmp_path):
    """lr_at and momentum_at, arguments by name, give the lr and beta1 the run records and
    the rule uses: Adam under the schedule equals Adam run on the same tables as PerStepLR
    values and an explicit per-step momentum (here: bitwise, by replaying the steps with
    VectorOptimizer)."""
    Warmup = _schedule_module(tmp_path).Warmup
    sched = Warmup(warmup=8, floor=0.25)
    res = optbench.run(Quadratic(dim=3), Adam(lr=0.1), schedules=sched, steps=20, seeds=1,
                       record=("lr", "momentum", "x"))
    k = np.arange(21)
    np.testing.assert_array_equal(res.trace("lr")[0], 0.1 * np.minimum(1.0, (k + 1.0) / 8))
    np.testing.assert_allclose(res.trace("momentum")[0],
                               0.9 * (0.25 + 0.75 * np.minimum(1.0, k / 8)), rtol=1e-15)
    lr, mom = sched.tables(Adam(lr=0.1), 20)
    assert sched.sets_momentum and lr.shape == mom.shape == (21,)
    x = res.trace("x")[0]
    problem = Quadratic(dim=3)
    opt = optbench.VectorOptimizer(Adam(lr=0.1), x[0])
    for step in range(20):
        opt.grad[:] = problem.loss_grad(opt.params.copy())[1]
        opt.step(lr=lr[step], momentum=mom[step])
        np.testing.assert_array_equal(opt.params, x[step + 1])


def test_user_schedule_errors_are_one_line(tmp_path):
    from optbench.optimizers import Adagrad
    from optbench.schedules import Schedule, SequentialLR, StepLR

    Warmup = _schedule_module(tmp_path, "userwarm2").Warmup
    with pytest.raises(ValueError, match=r"^userwarm2:Warmup: momentum_at needs an optimizer "
                                         r"with momentum or betas, and Adagrad has neither$"):
        optbench.run(Quadratic(dim=2), Adagrad(), schedules=Warmup(), steps=5)
    with pytest.raises(ValueError, match=r"^userwarm2:Warmup: momentum_at needs an optimizer "
                                         r"with momentum or betas, and Adagrad has neither$"):
        optbench.run(Quadratic(dim=2), Adagrad(), steps=20, schedules=SequentialLR(
            [Warmup(), StepLR(step_size=5)], milestones=[10]))

    class Typo(Schedule):
        def __init__(self, warmup=3):
            self._store(locals())

        @staticmethod
        def lr_at(k, base_lr, warmpu):
            return base_lr

    with pytest.raises(TypeError, match=r"Typo.lr_at \(.*test_plugins.py:\d+\): unknown "
                                        r"argument 'warmpu' \(known: k, base_lr, warmup\)$"):
        optbench.run(Quadratic(dim=2), SGD(), schedules=Typo(), steps=5)


def test_user_schedules_compose_like_torchs_closed_form_schedules(tmp_path):
    """Inside SequentialLR and ChainedScheduler a user's schedule is a leaf of torch's state
    machine that sets the lr (and beta1) of its own epoch, as LambdaLR does: the same tables,
    bit for bit, as PerStepLR holding its values (a built-in closed-form leaf), and a warm-up
    before StepLR equal to LinearLR's warm-up to round-off."""
    from optbench.schedules import (ChainedScheduler, ExponentialLR, LinearLR, PerStepLR,
                                    SequentialLR, StepLR)

    Warmup = _schedule_module(tmp_path, "userwarm3").Warmup
    adam, steps = Adam(lr=0.1), 40
    user_lr, user_mom = Warmup(warmup=8, floor=0.25).tables(adam, steps)
    values = PerStepLR(list(user_lr), relative=False)
    for compose in (lambda first: ChainedScheduler([first, ExponentialLR(0.9)]),
                    lambda first: SequentialLR([first, StepLR(5, gamma=0.5)], [12]),
                    lambda first: SequentialLR([StepLR(5, gamma=0.5), first], [12])):
        lr, mom = compose(Warmup(warmup=8, floor=0.25)).tables(adam, steps)
        lr_values, _ = compose(values).tables(adam, steps)
        np.testing.assert_array_equal(lr, lr_values)
        assert np.isfinite(mom).any() and compose(Warmup()).sets_momentum
    lr, mom = SequentialLR([Warmup(warmup=8, floor=0.25), StepLR(5, gamma=0.5)],
                           [12]).tables(adam, steps)
    np.testing.assert_array_equal(mom[:12], user_mom[:12])  # its own beta1 while it runs
    linear, _ = SequentialLR([LinearLR(1 / 8, 1.0, 7), StepLR(5, gamma=0.5)],
                             [12]).tables(adam, steps)
    np.testing.assert_allclose(lr, linear, rtol=1e-14)
    assert lr[5] == pytest.approx(0.1 * 6 / 8) and lr[12] == lr[16] == 0.1
    assert lr[17] == pytest.approx(0.05)


def _run_schedule_suite(tmp_path, module, schedules):
    """Run a suite with ``schedules`` (TOML) using the Warmup schedule in ``module``, delete
    the module, and return (its manifest record, the run loaded back, which never imports it)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / f"{module}.py").write_text(SCHEDULE)
    (work / "s.toml").write_text('name = "w"\n[run]\nsteps = 30\nseeds = 2\n'
                                 '[[problems]]\ntype = "Quadratic"\ndim = 3\n'
                                 '[[optimizers]]\ntype = "SGD"\nlr = 0.05\nmomentum = 0.9\n'
                                 f'[[schedules]]\n{schedules}\n')
    out = tmp_path / "run"
    proc = _cli(["run", str(work / "s.toml"), "--out", str(out), "--quiet"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((out / "manifest.json").read_text())["plugins"][f"{module}:Warmup"]
    assert record["source_sha256"] == hashlib.sha256(SCHEDULE.encode()).hexdigest()
    (work / f"{module}.py").unlink()
    res = optbench.load(out)
    assert module not in sys.modules
    return record, res


def test_a_composed_user_schedule_reads_back_without_its_code(tmp_path):
    _, res = _run_schedule_suite(tmp_path, "nested", (
        'type = "SequentialLR"\nmilestones = [10]\nschedulers = [{type = "nested:Warmup", '
        'warmup = 5}, {type = "CosineAnnealingLR", T_max = 20}]'))
    inner = res.plan.schedules[0].schedulers[0]
    assert inner.to_dict() == {"type": "nested:Warmup", "warmup": 5, "floor": 0.5}
    assert res.plan.schedules[0].sets_momentum
    np.testing.assert_allclose(res.trace("lr")[0, :5], 0.05 * np.arange(1, 6) / 5.0,
                               rtol=1e-15)
    with pytest.raises(ValueError, match="read back from a run directory without its code"):
        res.plan.schedules[0].tables(res.plan.optimizers[0], 30)


def test_user_schedule_in_a_suite_reads_back_without_its_code(tmp_path):
    record, res = _run_schedule_suite(tmp_path, "mysched",
                                      'type = "mysched:Warmup"\nwarmup = [5, 10]')
    assert record["defaults"] == {"warmup": 10, "floor": 0.5} and record["sets_momentum"]
    assert [s.to_dict() for s in res.plan.schedules] == [
        {"type": "mysched:Warmup", "warmup": 5, "floor": 0.5},
        {"type": "mysched:Warmup", "warmup": 10, "floor": 0.5}]
    assert res.plan.schedules[0].sets_momentum
    np.testing.assert_array_equal(res.trace("lr")[:2, :5],  # stored tables, read back
                                  [0.05 * (np.arange(1, 6) / 5.0)] * 2)
    with pytest.raises(ValueError, match="read back from a run directory without its code"):
        res.plan.schedules[0].tables(res.plan.optimizers[0], 30)


def test_loading_a_function_schedule_never_imports_its_module(tmp_path, monkeypatch):
    """FunctionLR(fn="module:name") in a run directory: load keeps the name (labels and
    hashes unchanged) and never imports the module, also nested in SequentialLR."""
    from optbench.schedules import FunctionLR, SequentialLR, StepLR

    (tmp_path / "halving.py").write_text("def factor(k):\n    return 0.5 ** (k // 5)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    schedules = [FunctionLR("halving:factor"),
                 SequentialLR([StepLR(step_size=3), FunctionLR("halving:factor")],
                              milestones=[4])]
    ran = optbench.run(Quadratic(dim=2), SGD(lr=0.1), schedules=schedules, steps=12,
                       out=tmp_path / "run")
    assert ran.trace("lr")[0, 5] == 0.05
    del sys.modules["halving"]
    (tmp_path / "halving.py").write_text("raise SystemExit('opening results ran my code')\n")
    res = optbench.load(tmp_path / "run")
    assert "halving" not in sys.modules
    assert res.manifest["config_hash"] == ran.manifest["config_hash"] == res.plan.config_hash()
    assert [s.label() for s in res.plan.schedules] == [s.label() for s in ran.plan.schedules]
    np.testing.assert_array_equal(res.trace("lr"), ran.trace("lr"))
    with pytest.raises(ValueError, match=r"^FunctionLR: fn 'halving:factor' was read back "):
        res.plan.schedules[0].tables(SGD(), 5)


def test_kernel_stamps_follow_imports_not_unrelated_files(tmp_path):
    """A cached kernel's stamp hashes its file and the package files it imports: an edit to
    an imported file changes it, an unrelated file does not (the CPU kernels do not depend
    on the CUDA kernels' source)."""
    from optbench.kernels import KERNEL_DIR, kernel_source_hash, source_closure

    cpu = {path.relative_to(KERNEL_DIR.parent).as_posix()
           for path in source_closure([KERNEL_DIR / "engine.py"])}
    assert {"kernels/engine.py", "kernels/noise.py", "layout.py"} <= cpu
    # the problems' and rules' files enter a kernel's stamp through its units, not its loop
    assert not cpu & {"kernels/cuda.py", "kernels/vector.py", "kernels/optimizers.py",
                      "kernels/problems/finite_sums.py", "kernels/cpu.py"}
    # the parallel driver takes any kernel's loop as a function: no kernel source in its stamp
    assert [p.name for p in source_closure([KERNEL_DIR / "cpu.py"])] == ["cpu.py"]
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import f\nfrom . import c as _c\n")
    (pkg / "b.py").write_text("def f():\n    return 1\n")
    (pkg / "c.py").write_text("X = 1\n")
    (pkg / "d.py").write_text("Y = 1\n")
    before = kernel_source_hash(pkg / "a.py")
    (pkg / "d.py").write_text("Y = 2\n")
    assert kernel_source_hash(pkg / "a.py") == before
    for name in ("b.py", "c.py"):
        (pkg / name).write_text((pkg / name).read_text() + "# edited\n")
        assert kernel_source_hash(pkg / "a.py") != before
        before = kernel_source_hash(pkg / "a.py")


@pytest.mark.parametrize("builtin", [
    Quadratic(dim=4, kappa=10.0, rotate=True), P.LeastSquares(n=12, features=3, batch_size=4),
    P.ReddiCounterexample(C=3.0, stochastic=True, delta=0.1, noise=0.1)], ids=repr)
def test_the_builtin_problems_go_through_the_users_door(builtin):
    """A class defined here (outside the package) that names a built-in family's hooks gets
    kernels of its own, generated as for any user's problem, and runs the same trajectories
    bit for bit: rows form in phases, finite sum with minibatches, online problem with its
    own stochastic gradient, a projection and gradient noise."""
    from optbench.codegen import builtin_problem_units, problem_units
    from optbench.problems.base import HOOKS

    unit = type(builtin).unit()
    hooks = {k: v for k, v in vars(unit).items() if k in HOOKS or k == "rows_scale"}
    copy_cls = type(f"Copy{type(builtin).__name__}", (type(builtin),),
                    {**hooks, "__module__": __name__, "stream_id": builtin.stream_id})
    copy = copy_cls(**builtin.params())
    assert problem_units(copy) == (copy_cls,) and unit in builtin_problem_units()
    kw = dict(optimizers=[Adam(lr=0.01), SGD(lr=1e-3, momentum=0.9)], steps=60, seeds=3,
              record=("loss", "grad_norm", "sampled_loss", "x"), progress=False)
    ours, theirs = optbench.run(builtin, **kw), optbench.run(copy, **kw)
    for name in ours.arrays:
        np.testing.assert_array_equal(ours.arrays[name], theirs.arrays[name], err_msg=name)
    assert np.isfinite(ours.trace("loss")).all()
