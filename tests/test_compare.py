"""`optbench compare`: planted regressions are caught, identical and noise-only runs are not.

Planted convergence regression: the new run is made with a worse setting (a smaller Adam lr,
or an SGD lr past the stability limit) and then given the baseline's configuration in its
manifest, exactly what a code change that makes an optimizer worse under an unchanged suite
looks like. Planted slowdown: the stored, calibrated timings of a copy are scaled.
"""
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import optbench
from optbench.cli import main
from optbench.compare import Thresholds, compare_runs
from optbench.compare import machine, paired, stats
from optbench.compare.baseline import make_baseline
from optbench.optimizers import SGD, Adam, Adagrad
from optbench.problems import Quadratic, Rosenbrock

ROOT = Path(__file__).resolve().parents[1]
SEEDS = 8
PROBLEMS = [Quadratic(dim=5, kappa=10.0), Rosenbrock(dim=2)]


def grid(optimizers, seeds=SEEDS, **kw):
    return dict(problems=PROBLEMS, optimizers=optimizers, steps=200, seeds=seeds,
                progress=False, name="cmp", **kw)


def relabel(run_dir: Path, as_dir: Path) -> None:
    """Give the run in ``run_dir`` the configuration of the run in ``as_dir``."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    other = json.loads((as_dir / "manifest.json").read_text())
    manifest["config"], manifest["config_hash"] = other["config"], other["config_hash"]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    base = root / "base"
    optbench.run(**grid([Adam(lr=1e-2), SGD(lr=0.1)]), out=base, calibrate=True)
    worse = root / "worse"  # Adam with a 5x smaller lr, relabelled as the baseline's Adam
    optbench.run(**grid([Adam(lr=2e-3), SGD(lr=0.1)]), out=worse)
    relabel(worse, base)
    unstable = root / "unstable"  # SGD past 2/L (L = 1) on the quadratic: diverges
    optbench.run(**grid([Adam(lr=1e-2), SGD(lr=2.5)]), out=unstable)
    relabel(unstable, base)
    return {"root": root, "base": base, "worse": worse, "unstable": unstable}


def cli(capsys, *args):
    rc = main(["compare", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def verdicts(cmp):
    return {(c.problem, c.optimizer): c.verdict for c in cmp.configs}


# ---- planted regressions ------------------------------------------------------------------

def test_planted_convergence_regression_is_caught(runs, capsys, tmp_path):
    rc, out, err = cli(capsys, runs["base"], runs["worse"], "--json", tmp_path / "c.json",
                       "--markdown", tmp_path / "c.md")
    assert rc == 1, out + err
    assert "REGRESSION" in out and err == ""
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["verdict"] == "regression" and data["exit_code"] == 1
    flagged = {(c["problem"], c["optimizer"]) for c in data["configurations"]
               if c["verdict"] == "regression"}
    assert ("Quadratic(dim=5)", "Adam(lr=0.01)") in flagged
    assert not any(opt.startswith("SGD") for _, opt in flagged)  # unchanged: not flagged
    quad_adam = next(c for c in data["configurations"]
                     if c["problem"] == "Quadratic(dim=5)" and c["optimizer"] == "Adam(lr=0.01)")
    final = quad_adam["metrics"]["final"]
    assert final["verdict"] == "regression" and final["p_value"] <= 0.01
    assert final["effect"] >= math.log10(2.0)
    md = (tmp_path / "c.md").read_text()
    assert md.startswith("### optbench compare: ❌ regression")
    assert "| Quadratic(dim=5) | Adam(lr=0.01) | constant |" in md


def test_planted_divergence_is_caught(runs):
    cmp = compare_runs(optbench.load(runs["base"]), optbench.load(runs["unstable"]))
    assert cmp.exit_code == 1
    sgd = next(c for c in cmp.configs if c.problem == "Quadratic(dim=5)"
               and c.optimizer == "SGD(lr=0.1)")
    assert sgd.verdict == "regression"
    div = sgd.metrics["diverged"]
    assert div.verdict == "regression" and div.base_median == 0.0 and div.new_median == 1.0
    assert verdicts(cmp)[("Quadratic(dim=5)", "Adam(lr=0.01)")] == "ok"


def test_a_practically_small_change_is_not_flagged(runs):
    """Thresholds are practical sizes: a factor of 1e6 hides even a large real change."""
    th = Thresholds(final_factor=1e6, steps_factor=100.0, rate_rel=10.0)
    cmp = compare_runs(optbench.load(runs["base"]), optbench.load(runs["worse"]), th)
    assert cmp.exit_code == 0


def test_planted_slowdown_is_caught(runs, capsys, tmp_path):
    base = runs["base"]
    timings = json.loads((base / "manifest.json").read_text())["timings"]
    assert timings["reference_seconds"] > 0 and timings["kernel_best_seconds"] > 0
    assert timings["kernel_best_seconds"] <= timings["kernel_seconds"]
    assert timings["reference_workload"]["version"] == 1

    def scaled(name, kernel=1.0, reference=1.0):
        path = tmp_path / name
        shutil.copytree(base, path)
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["timings"]["kernel_best_seconds"] *= kernel
        manifest["timings"]["reference_seconds"] *= reference
        (path / "manifest.json").write_text(json.dumps(manifest))
        return path

    rc, out, _ = cli(capsys, base, scaled("slow", kernel=1.6))
    assert rc == 1 and "speed: kernel / reference time" in out and "+60.0%" in out
    # a machine twice as slow (run and reference alike) is no regression
    rc, out, _ = cli(capsys, base, scaled("slow_machine", kernel=2.0, reference=2.0))
    assert rc == 0, out
    rc, _, _ = cli(capsys, base, scaled("noise", kernel=1.1))
    assert rc == 0
    rc, _, _ = cli(capsys, base, scaled("slow2", kernel=1.6), "--speed-tolerance", "1.0")
    assert rc == 0
    rc, _, _ = cli(capsys, base, scaled("slow3", kernel=1.6), "--no-speed")
    assert rc == 0


def test_speed_is_skipped_with_a_note_without_calibration(runs):
    cmp = compare_runs(optbench.load(runs["base"]), optbench.load(runs["worse"]))
    assert cmp.speed["verdict"] == "n/a" and "--calibrate" in cmp.speed["note"]
    assert "--calibrate" in cmp.to_text() and "--calibrate" in cmp.to_markdown()


# ---- no false alarms ----------------------------------------------------------------------

def test_identical_runs_compare_clean(runs, capsys):
    rc, out, err = cli(capsys, runs["base"], runs["base"], "--format", "json")
    assert rc == 0, out
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert data["verdict"] == "ok"
    assert {c["verdict"] for c in data["configurations"]} == {"ok"}
    assert data["speed"]["verdict"] == "ok" and data["speed"]["change"] == 0.0
    for c in data["configurations"]:
        assert c["equality"] == "bitwise equal"
        for m in c["metrics"].values():
            assert m["effect"] in (0.0, None)


def test_a_rerun_compares_clean(runs, tmp_path):
    again = optbench.run(**grid([Adam(lr=1e-2), SGD(lr=0.1)]), out=tmp_path / "again")
    cmp = compare_runs(optbench.load(runs["base"]), again)
    assert cmp.exit_code == 0 and {c.verdict for c in cmp.configs} == {"ok"}


@pytest.mark.parametrize("split", [0, 1])
def test_noise_only_differences_raise_no_alarm(split):
    """Different seeds of the same stochastic configuration: the distributions are equal."""
    kw = dict(problems=[Quadratic(dim=5, noise=0.1), Quadratic(dim=5, kappa=100.0, noise=0.1)],
              optimizers=[Adam(lr=1e-2), SGD(lr=0.1), SGD(lr=0.05, momentum=0.9),
                          Adagrad(lr=0.1)], steps=200, progress=False, name="noisy")
    a = optbench.run(**kw, seeds=list(range(16 * split, 16 * split + 8)))
    b = optbench.run(**kw, seeds=list(range(16 * split + 8, 16 * split + 16)))
    assert not np.array_equal(a.trials["final_suboptimality"], b.trials["final_suboptimality"])
    cmp = compare_runs(a, b)
    assert cmp.exit_code == 0, cmp.to_text()
    assert any("seeds differ" in n for n in cmp.notes)
    assert {c.equality for c in cmp.configs} == {"statistically equal"}
    assert "0 bitwise equal, 8 statistically equal" in cmp.to_text().splitlines()[0]


# ---- bad input: exit 2, one line ----------------------------------------------------------

def _bad(capsys, *args):
    rc, out, err = cli(capsys, *args)
    assert rc == 2, out + err
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("optbench: error:")
    assert "Traceback" not in err
    return err


def test_bad_input_exits_2_with_one_line(runs, capsys, tmp_path):
    base = runs["base"]
    assert "does not exist" in _bad(capsys, base, tmp_path / "nope")
    assert "does not exist" in _bad(capsys, tmp_path / "nope", base)
    (tmp_path / "empty").mkdir()
    assert "not a run directory" in _bad(capsys, base, tmp_path / "empty")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "manifest.json").write_text("{not json")
    assert "unreadable" in _bad(capsys, base, garbage)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(base, corrupt)
    (corrupt / "shards" / "00000.npz").write_bytes(b"not a zip file")
    assert "00000.npz: SHA-256 differs" in _bad(capsys, base, corrupt)
    nomfest = tmp_path / "nomanifestconfig"
    shutil.copytree(base, nomfest)
    (nomfest / "manifest.json").write_text("{}")
    assert "manifest.json: not an optbench manifest" in _bad(capsys, base, nomfest)
    assert "alpha" in _bad(capsys, base, base, "--alpha", "2")
    assert "final-factor" in _bad(capsys, base, base, "--final-factor", "0.5")


def test_runs_of_different_suites_exit_2(runs, capsys, tmp_path):
    other = tmp_path / "other"
    optbench.run(**dict(grid([Adam(lr=1e-2)], seeds=2), name="other"), out=other)
    assert "different suites (name" in _bad(capsys, runs["base"], other)
    longer = tmp_path / "longer"
    optbench.run(**dict(grid([Adam(lr=1e-2)], seeds=2), steps=300), out=longer)
    assert "different suites (steps" in _bad(capsys, runs["base"], longer)
    disjoint = tmp_path / "disjoint"
    optbench.run(**grid([Adam(lr=0.5)], seeds=2), out=disjoint)
    assert "no configuration" in _bad(capsys, runs["base"], disjoint)


def test_missing_configuration_is_a_regression(runs, tmp_path):
    smaller = tmp_path / "smaller"
    optbench.run(**grid([Adam(lr=1e-2)]), out=smaller)
    cmp = compare_runs(optbench.load(runs["base"]), optbench.load(smaller))
    assert cmp.exit_code == 1
    assert {c.verdict for c in cmp.configs if c.optimizer.startswith("SGD")} == {"missing"}
    back = compare_runs(optbench.load(smaller), optbench.load(runs["base"]))
    assert back.exit_code == 0  # added configurations have no baseline: reported, not failed
    assert {c.verdict for c in back.configs if c.optimizer.startswith("SGD")} == {"added"}


# ---- the compact baseline -----------------------------------------------------------------

def test_compact_baseline_compares_like_the_full_run(runs, tmp_path):
    slim = make_baseline(runs["base"], tmp_path / "baseline", points=60)
    res = optbench.load(slim)
    assert res.plan.record_every == "log" and set(res.recorded) == {"loss", "suboptimality"}
    full = optbench.load(runs["base"])
    np.testing.assert_array_equal(res.trials["final_suboptimality"],
                                  full.trials["final_suboptimality"])
    assert res.manifest["timings"] == full.manifest["timings"]
    assert compare_runs(res, full).exit_code == 0
    assert compare_runs(res, optbench.load(runs["worse"])).exit_code == 1
    size = sum(p.stat().st_size for p in slim.rglob("*") if p.is_file())
    full_size = sum(p.stat().st_size for p in runs["base"].rglob("*") if p.is_file())
    assert size < full_size / 2


def test_committed_baseline_is_the_smoke_suite():
    from optbench.plan import Plan
    from optbench.suite import read_suite

    path = ROOT / "reports" / "baseline"
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    assert size < 512 * 1024
    res = optbench.load(path)
    smoke = Plan(**read_suite(ROOT / "problems" / "smoke.toml")).config()
    for key in ("name", "problems", "optimizers", "schedules", "seeds", "steps"):
        assert res.plan.config()[key] == smoke[key], f"{key}: run `make baseline`"
    assert res.manifest["timings"].get("reference_seconds"), "baseline made without --calibrate"


# ---- statistics ---------------------------------------------------------------------------

def test_exact_rank_test_matches_scipy_and_its_limits():
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(3)
    for _ in range(20):
        a, b = rng.normal(size=6), rng.normal(size=5) + 0.5
        ref = mannwhitneyu(a, b, alternative="greater", method="exact").pvalue
        assert stats.mann_whitney_worse(a, b) == pytest.approx(ref, rel=1e-12)
    assert stats.mann_whitney_worse([2, 3, 4], [0, 1, 1.5]) == pytest.approx(0.05)
    assert stats.min_attainable_p(3, 3) == pytest.approx(0.05)
    assert stats.mann_whitney_worse([1, 1, 1], [1, 1, 1]) == 1.0
    assert stats.hodges_lehmann([3.0, 4.0], [1.0, 2.0]) == 2.0
    assert stats.fisher_worse(3, 3, 0, 3) == pytest.approx(0.05)
    assert stats.fisher_worse(0, 3, 0, 3) == 1.0
    assert stats.significant(0.05000000000000001, 0.05)


# ---- speed: same machine only, paired -----------------------------------------------------

def _with_machine(src: Path, dst: Path, **changes) -> Path:
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["timings"]["machine"].update(changes)
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def test_calibrated_run_stores_the_machine_fingerprint(runs):
    fp = json.loads((runs["base"] / "manifest.json").read_text())["timings"]["machine"]
    assert set(fp) == set(machine.FIELDS) and fp["dtype"] == "float64" and fp["threads"] >= 1


def test_other_machine_speed_is_not_comparable_and_does_not_fail(runs, capsys, tmp_path):
    other = _with_machine(runs["base"], tmp_path / "other", cpu="Some Other CPU", llvmlite="0.1")
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["timings"]["kernel_best_seconds"] *= 3.0  # would be a speed regression
    (other / "manifest.json").write_text(json.dumps(manifest))
    rc, out, _ = cli(capsys, runs["base"], other)
    assert rc == 0, out
    speed = next(line for line in out.splitlines() if line.startswith("speed: not comparable"))
    assert "baseline from " in speed and "this run on Some Other CPU" in speed
    assert "differ: cpu, llvmlite" in speed
    # the convergence verdict still counts: a worse run from another machine fails
    worse = tmp_path / "worse"
    shutil.copytree(runs["worse"], worse)
    manifest = json.loads((worse / "manifest.json").read_text())
    manifest["timings"].update({k: v for k, v in json.loads(
        (other / "manifest.json").read_text())["timings"].items()})
    (worse / "manifest.json").write_text(json.dumps(manifest))
    rc, out, _ = cli(capsys, runs["base"], worse)
    assert rc == 1 and "speed: not comparable" in out


def test_committed_baseline_without_fingerprint_passes(runs, capsys):
    """`make regress` on any machine: the committed baseline's speed is not comparable."""
    rc, out, _ = cli(capsys, ROOT / "reports" / "baseline", ROOT / "reports" / "baseline")
    assert rc == 0 and "not comparable: baseline from an unrecorded machine" in out


def test_first_screen_is_the_verdict_and_the_table_is_optional(runs, capsys):
    rc, out, _ = cli(capsys, runs["base"], runs["worse"])
    lines = out.splitlines()
    assert rc == 1 and lines[0].startswith("verdict: REGRESSION") and lines[1] == "regressions:"
    assert "Quadratic(dim=5) / Adam(lr=0.01)" in lines[2]
    assert not any(line.startswith("problem ") for line in lines)
    assert len(lines) < 20
    _, out, _ = cli(capsys, runs["base"], runs["worse"], "--table")
    assert any(line.startswith("problem ") for line in out.splitlines())
    assert "ok (bitwise equal)" in out


@pytest.mark.parametrize("factor, verdict", [(1.0, "ok"), (1.5, "regression"),
                                             (1 / 1.5, "improvement")])
def test_paired_speed_statistic_on_synthetic_samples(factor, verdict):
    """Noisy pairs (5% log-normal noise, shared slow drifts of the machine's load): equal
    distributions never alarm, a 1.5x shift always does."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        drift = rng.uniform(1.0, 3.0, 10)
        base = drift * rng.lognormal(0.0, 0.05, 10)
        new = factor * drift * rng.lognormal(0.0, 0.05, 10)
        r = stats.paired_speed(base, new, tolerance=0.2)
        assert r["verdict"] == verdict, r
        assert r["interval"][0] <= r["ratio"] <= r["interval"][1]


def test_paired_speed_needs_pairs():
    with pytest.raises(ValueError, match=">= 3 pairs"):
        stats.paired_speed([1.0, 1.0], [1.0, 1.0], 0.2)


def test_paired_check_bad_input_exits_2_with_one_line(capsys, tmp_path):
    for args in (["nope"], [str(ROOT), str(ROOT), "--suite", str(tmp_path / "none.toml")],
                 [str(ROOT), str(ROOT), "--pairs", "2"]):
        assert paired.main(args) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("optbench: error: paired:")


def test_planted_changes_still_apply_to_the_kernels():
    """benchmarks/regress_error_rates.py patches the rules by markers: they must be there."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "regress_error_rates", ROOT / "benchmarks" / "regress_error_rates.py")
    er = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(er)
    src = (ROOT / er.RULES).read_text()
    slow = er.slower_loop(3, 2)(src)
    assert "for _k in range((d * 3) // 2):" in slow and slow.count("i = _k % d") == 1
    compile(slow, "rules", "exec")
    small = er.smaller_step(src)
    assert small != src and "0.1 * lane_a[b]" in small
