"""Dask runs (optbench.distributed) on a LocalCluster of two single-threaded worker
processes: the same shard bytes as a local run, through a killed worker, a killed client
(then --resume), a shard that kills every worker it lands on, and a user plugin."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import dask
import numpy as np
import pytest
from distributed import Client, LocalCluster, WorkerPlugin

import optbench
import optbench.plan
from optbench import distributed as od
from optbench.api import RunIncomplete
from optbench.cli import main
from optbench.suite import read_suite

ROOT = Path(__file__).resolve().parents[1]

# ~0.1-0.5 s of kernel per shard on one thread: long enough to be killed mid-shard
SLOW_SUITE = """
name = "slow"
[run]
steps = 60000
seeds = 64
record = ["loss"]
record_every = "log"
shard_size = 32
[[problems]]
type = "Rosenbrock"
dim = 8
[[optimizers]]
type = "Adam"
lr = [1e-3, 1e-2]
[[optimizers]]
type = "SGD"
lr = 1e-4
momentum = 0.9
"""


@pytest.fixture(scope="module")
def client():
    # a shard may be on a dying worker once; the second death makes it KilledWorker
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0", env={"NUMBA_NUM_THREADS": "1"})
        with Client(cluster, set_as_default=False) as c:
            yield c
        cluster.close()


def shard_bytes(run_dir) -> dict:
    return {p.name: p.read_bytes() for p in sorted((Path(run_dir) / "shards").iterdir())}


def smoke():
    kwargs = read_suite(ROOT / "problems" / "smoke.toml")
    kwargs["shard_size"] = 10  # 12 shards
    return kwargs


def slow_suite(tmp_path) -> Path:
    path = tmp_path / "slow.toml"
    path.write_text(SLOW_SUITE)
    return path


def test_an_lr_grid_extension_on_the_cluster_writes_the_local_bytes(tmp_path, client):
    from optbench.optimizers import SGD
    from optbench.problems import Quadratic

    kw = {"problems": Quadratic(eigenvalues=[1e-2, 5e-3]), "steps": 100, "seeds": 4,
          "optimizers": [SGD(lr=lr) for lr in (1.0, 3.16227766017, 10.0)], "shard_size": 4,
          "extend_lr_grid": 5}  # 3 grid shards, then 3 stages of one shard (lr 31.6, 100, 316)
    with pytest.warns(RuntimeWarning, match="diverged on all 4 seeds"):  # the top probe
        local = optbench.run(**kw, out=tmp_path / "local")
        remote = optbench.run(**kw, out=tmp_path / "dask", client=client)
    assert local.manifest["lr_extension"]["stages"] == 3
    assert shard_bytes(tmp_path / "dask") == shard_bytes(tmp_path / "local")
    assert remote.manifest["lr_extension"] == local.manifest["lr_extension"]


def test_smoke_on_two_workers_writes_the_local_bytes(tmp_path, client):
    local = optbench.run(**smoke(), out=tmp_path / "local")
    remote = optbench.run(**smoke(), out=tmp_path / "dask", client=client)
    assert len(shard_bytes(tmp_path / "local")) == 12
    assert shard_bytes(tmp_path / "dask") == shard_bytes(tmp_path / "local")
    assert remote.trials.to_csv() == local.trials.to_csv()
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    addresses = set(client.scheduler_info()["workers"])
    ran_on = {s["worker"] for s in manifest["timings"]["shards"].values()}
    assert ran_on <= addresses and len(manifest["timings"]["shards"]) == 12
    assert set(manifest["workers"]) == ran_on
    for worker in manifest["workers"].values():
        assert worker["versions"] == od.versions() and worker["threads"] == 1
        assert worker["compile"]["jit_seconds"] >= 0
    assert manifest["timings"]["overhead_seconds_per_shard"] >= 0


def test_shard_size_follows_the_cluster_and_the_overhead(client):
    from optbench.optimizers import SGD
    from optbench.plan import Plan
    from optbench.problems import Quadratic

    # 1e5 steps x (100 + 201 data) / 1.25e8 = 0.24 s of kernel per trajectory (estimated):
    # 4 shards per worker (2 workers) of 50 trajectories
    big = Plan(Quadratic(dim=100), SGD(), None, seeds=400, steps=100_000)
    assert od.shard_size_for(big, od.cluster_threads(client)) == 50
    # 1.7e-5 s per trajectory: as large as a local run's shards (the same configuration hash)
    small = Plan(Quadratic(dim=2), SGD(), None, seeds=400, steps=300)
    assert od.shard_size_for(small, 2) == od.MAX_SHARD_SIZE == 4096
    # 1e-3 s per trajectory: no shard under ~1,000 trajectories (5% of 1 s for 0.05 s)
    mid = Plan(Quadratic(dim=3), SGD(), None, seeds=4_000, steps=12_500)
    assert 990 <= od.shard_size_for(mid, 2) <= 1010
    # 140 shards of 5 would leave 52 of 64 slots idle in a third round: 2 rounds of 6
    wide = Plan(Quadratic(dim=100), SGD(), None, seeds=700, steps=100_000)
    assert od.shard_size_for(wide, 64) == 6


def test_workers_of_a_host_share_its_cores(client):
    cpus = od.usable_cpus()
    assert od.threads_by_host(client) == {"127.0.0.1": max(1, cpus // 2)}


def test_keys_are_the_configuration_hash_and_the_shard_index():
    assert od.task_key("651874332fc669da", 7) == "optbench-651874332fc669da-shard-00007"


def test_a_worker_killed_mid_run_changes_nothing(tmp_path, client):
    kwargs = read_suite(slow_suite(tmp_path))
    optbench.run(**kwargs, out=tmp_path / "local")
    killed = {}

    def kill_a_busy_worker():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            busy = [w for w, keys in client.processing().items() if keys]
            if busy and (tmp_path / "dask" / "shards").is_dir() \
                    and any((tmp_path / "dask" / "shards").iterdir()):
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed[busy[0]] = pid
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    optbench.run(**kwargs, out=tmp_path / "dask", client=client)
    killer.join()
    assert killed, "no worker was killed while it held a shard"
    assert shard_bytes(tmp_path / "dask") == shard_bytes(tmp_path / "local")
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it


def test_a_killed_client_resumes_on_another_cluster(tmp_path, client):
    suite = slow_suite(tmp_path)
    optbench.run(**read_suite(suite), out=tmp_path / "local")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "optbench.cli", "run", str(suite), "--out",
                             str(tmp_path / "dask"), "--dask", "local:2", "--quiet"],
                            env=env, start_new_session=True)
    shards = tmp_path / "dask" / "shards"
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        if shards.is_dir() and len([p for p in shards.iterdir() if p.suffix == ".npz"]) >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the client and its LocalCluster
    proc.wait()
    # a SIGKILL mid-write may leave a temporary file (".name.tmp"), never a partial shard;
    # --resume removes the temporary files
    kept = {n: b for n, b in shard_bytes(tmp_path / "dask").items() if not n.startswith(".")}
    total = len(shard_bytes(tmp_path / "local"))
    assert 2 <= len(kept) < total, f"the client was not killed mid-run ({len(kept)} of {total})"
    for name in kept:  # whole shards only: each one reads
        with np.load(tmp_path / "dask" / "shards" / name) as shard:
            assert shard.files
    with pytest.raises(ValueError, match="incomplete"):
        optbench.load(tmp_path / "dask")
    resumed = optbench.run(**read_suite(suite), out=tmp_path / "dask", resume=True,
                           client=client)
    assert resumed.manifest["timings"]["shards_resumed"] == len(kept)
    assert shard_bytes(tmp_path / "dask") == shard_bytes(tmp_path / "local")


def test_ctrl_c_cancels_and_keeps_whole_shards(tmp_path, client):
    suite = slow_suite(tmp_path)
    optbench.run(**read_suite(suite), out=tmp_path / "local")
    proc = subprocess.Popen([sys.executable, "-m", "optbench.cli", "run", str(suite), "--out",
                             str(tmp_path / "dask"), "--dask", "local:2", "--quiet"],
                            env=dict(os.environ, PYTHONPATH=str(ROOT)), start_new_session=True,
                            stderr=subprocess.PIPE, text=True)
    shards = tmp_path / "dask" / "shards"
    deadline = time.time() + 90
    while time.time() < deadline and proc.poll() is None:
        if shards.is_dir() and any(p.suffix == ".npz" for p in shards.iterdir()):
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends: the whole group
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and "interrupted" in err.splitlines()[-1]
    kept = shard_bytes(tmp_path / "dask")
    assert all(not n.startswith(".") for n in kept)  # no partial files
    local = shard_bytes(tmp_path / "local")
    assert 1 <= len(kept) < len(local) and all(kept[n] == local[n] for n in kept)
    optbench.run(**read_suite(suite), out=tmp_path / "dask", resume=True, client=client)
    assert shard_bytes(tmp_path / "dask") == local


def test_a_worker_with_other_versions_is_refused():
    plan = optbench.plan.Plan(**smoke())
    job = {"config": plan.config(), "plugins": {}, "config_hash": plan.config_hash(),
           "versions": dict(od.versions(), numba="0.1.0"), "backend": "cpu",
           "cuda_mode": "auto", "threads": 1, "threads_by_host": {}}
    with pytest.raises(ValueError, match="numba .* differs from the client's 0.1.0"):
        od.shard_task(job, 0, 10)
    job["versions"] = od.versions()
    arrays, info = od.shard_task(job, 0, 10)
    assert info["worker"] == "local" and arrays["loss"].shape[0] == 10


def test_a_plugin_the_workers_cannot_import_stops_the_run_in_one_line(tmp_path, client):
    """A plugin package (not a single file) is not uploaded: the workers cannot import it."""
    package = tmp_path / "dask_test_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "rules.py").write_text(PLUGIN)
    suite = tmp_path / "package.toml"
    suite.write_text('name = "package"\n[run]\nsteps = 5\n[[problems]]\ntype = "Quadratic"\n'
                     'dim = 2\n[[optimizers]]\ntype = "dask_test_package.rules:SignMomentum"\n')
    with pytest.raises(ValueError, match="shard 0: ValueError: optimizer "
                                         "'dask_test_package.rules:SignMomentum': module "
                                         "'dask_test_package.rules' does not import"):
        optbench.run(**read_suite(suite), client=client)


def _deadly_task(real, job, start, stop):
    if job["config"]["name"] == "deadly" and start == 10:
        os._exit(1)  # a shard that kills every worker it runs on
    return real(job, start, stop)


class DeadlyShard(WorkerPlugin):
    """Makes shard 1 of the run named 'deadly' kill its worker (also after a restart)."""

    name = "deadly-shard"

    def setup(self, worker):
        import functools

        real = getattr(od.shard_task, "args", [od.shard_task])[0]
        od.shard_task = functools.partial(_deadly_task, real)


def test_a_shard_that_kills_its_workers_is_reported_and_the_rest_completes(tmp_path, client):
    kwargs = dict(smoke(), name="deadly")
    optbench.run(**kwargs, out=tmp_path / "local")
    client.register_plugin(DeadlyShard())
    try:
        with pytest.raises(RunIncomplete, match="shard 1: KilledWorker") as err:
            optbench.run(**kwargs, out=tmp_path / "dask", client=client)
    finally:
        client.unregister_worker_plugin(DeadlyShard.name)
    assert err.value.failed == [1]
    assert "shard-00001-alone" in str(err.value)  # it failed again when run alone
    local = shard_bytes(tmp_path / "local")
    del local["00001.npz"]
    assert shard_bytes(tmp_path / "dask") == local
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert list(manifest["failed_shards"]) == ["1"] and manifest["status"] == "running"
    client.wait_for_workers(2, timeout=60)


PLUGIN = '''
from optbench import Optimizer, hyper


class SignMomentum(Optimizer):
    """Heavy-ball momentum on the sign of the gradient (a test plugin)."""

    hyperparameters = {"lr": 1e-2, "momentum": hyper(0.9, lo=0.0)}
    state = {"buf": 0.0}
    momentum_keyword = "momentum"

    @staticmethod
    def update(x, g, buf, lr, momentum):
        s = 1.0 if g > 0.0 else (-1.0 if g < 0.0 else 0.0)
        buf = momentum * buf + s
        return x - lr * buf, buf
'''


def test_a_plugin_in_a_temporary_folder_runs_on_the_workers(tmp_path, client):
    """The workers started before the module existed: single-file plugin modules are
    uploaded to them (``distributed.upload_plugins``)."""
    (tmp_path / "dask_test_plugin.py").write_text(PLUGIN)
    suite = tmp_path / "plugin.toml"
    suite.write_text(textwrap.dedent("""
        name = "plugin"
        [run]
        steps = 50
        seeds = 4
        shard_size = 4
        [[problems]]
        type = "Quadratic"
        dim = 3
        [[optimizers]]
        type = "dask_test_plugin:SignMomentum"
        lr = [1e-3, 1e-2]
        [[optimizers]]
        type = "Adam"
        """))
    kwargs = read_suite(suite)
    assert client.run(lambda: str(tmp_path) in sys.path) == {w: False for w in
                                                            client.scheduler_info()["workers"]}
    optbench.run(**kwargs, out=tmp_path / "local")
    optbench.run(**kwargs, out=tmp_path / "dask", client=client)
    assert len(shard_bytes(tmp_path / "local")) == 3
    assert shard_bytes(tmp_path / "dask") == shard_bytes(tmp_path / "local")


def test_cli_dask_local_and_bad_addresses(tmp_path, capsys):
    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny"\n[run]\nsteps = 20\nseeds = 2\nshard_size = 2\n'
                     '[[problems]]\ntype = "Quadratic"\ndim = 2\n[[optimizers]]\ntype = "SGD"\n')
    assert main(["run", str(suite), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["run", str(suite), "--out", str(tmp_path / "b"), "--dask", "local:2",
                 "--quiet"]) == 0
    assert shard_bytes(tmp_path / "b") == shard_bytes(tmp_path / "a")
    for address, message in (("local:0", "local:N with N >= 1"),
                             ("nonsense", "expected a scheduler address"),
                             ("tcp://127.0.0.1:1", "no scheduler answers")):
        capsys.readouterr()
        assert main(["run", str(suite), "--out", str(tmp_path / "c"), "--dask", address]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1


def test_missing_dask_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ValueError, match=r"pip install 'optbench\[dask\]'"):
        od.connect("local:1")
