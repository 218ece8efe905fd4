"""Results store: a run directory written shard by shard, atomically, resumable.

    RUN_DIR/manifest.json      provenance, full configuration and its hash, timings
    RUN_DIR/shards/NNNNN.npz   arrays of trials [start, stop) (plain numpy, no optbench needed)
    RUN_DIR/trials.csv         one row per trajectory (written when the run completes)

Every file is written to a temporary name and renamed into place, so an interrupted run
leaves only whole shards; ``resume`` runs the missing ones and gives the same results.
"""
from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

from .plan import Plan, check_plugins

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    _atomic_write_bytes(Path(path), (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def provenance() -> dict:
    """Where and with what a run was made."""
    import numba

    from . import __version__

    return {
        "optbench_version": __version__,
        "git_commit": _git_commit(),
        "python": sys.version.split()[0],
        "numba": numba.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": numba.get_num_threads(),
    }


@functools.lru_cache(maxsize=1)
def _git_commit():
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=5)
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


@functools.lru_cache(maxsize=1)
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class RunStore:
    """A run directory on disk."""

    def __init__(self, path):
        self.path = Path(path)

    @property
    def shard_dir(self) -> Path:
        return self.path / "shards"

    def shard_path(self, index: int) -> Path:
        return self.shard_dir / f"{index:05d}.npz"

    def read_manifest(self) -> dict:
        try:
            return json.loads((self.path / MANIFEST).read_text())
        except FileNotFoundError:
            raise ValueError(f"{self.path}: not a run directory (no {MANIFEST})") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{self.path / MANIFEST}: unreadable ({exc})") from None

    def open(self, plan: Plan, resume: bool) -> tuple[dict, set]:
        """Create the run directory, or reopen it with ``resume``; returns (manifest, done)."""
        manifest_path = self.path / MANIFEST
        if manifest_path.exists():
            old = self.read_manifest()
            if not resume:
                raise ValueError(f"{self.path} already holds a run (config {old.get('config_hash')});"
                                 " pass --resume to complete it or choose another --out")
            if old.get("config_hash") != plan.config_hash():
                raise ValueError(f"{self.path} holds a run of another configuration "
                                 f"({old.get('config_hash')} vs {plan.config_hash()}); nothing was changed")
            check_plugins(old.get("plugins", {}), plan.plugins(), self.path)
            done = {i for i in range(len(plan.shards())) if self.shard_path(i).exists()}
            return old, done
        if self.path.exists() and any(self.path.iterdir()):
            raise ValueError(f"{self.path} exists and is not a run directory; choose another --out")
        self.shard_dir.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format": FORMAT_VERSION,
            "status": "running",
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "config_hash": plan.config_hash(),
            "config": plan.config(),
            "plugins": plan.plugins(),
            "provenance": provenance(),
            "shards": [list(s) for s in plan.shards()],
            "timings": {},
        }
        write_json(manifest_path, manifest)
        return manifest, set()

    def write_shard(self, index: int, arrays: dict) -> None:
        """Write shard ``index`` atomically as an .npz whose bytes depend only on the arrays
        (fixed member timestamps), so equal results give equal files wherever they ran."""
        path = self.shard_path(index)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.npz")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for key, value in arrays.items():
                member = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                with archive.open(member, "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)
        os.replace(tmp, path)

    def read_shard(self, index: int) -> dict:
        with np.load(self.shard_path(index)) as data:
            return {k: data[k] for k in data.files}

    def finish(self, manifest: dict, results) -> None:
        results.trials.to_csv(self.path / ".trials.csv.tmp")
        os.replace(self.path / ".trials.csv.tmp", self.path / "trials.csv")
        manifest["status"] = "complete"
        write_json(self.path / MANIFEST, manifest)


def concat_shards(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def load(path):
    """Read a stored run back as ``Results`` (the same object ``run`` returned)."""
    from .results import Results

    store = RunStore(path)
    manifest = store.read_manifest()
    plan = Plan.from_config(manifest["config"], manifest.get("plugins"))
    missing = [i for i in range(len(plan.shards())) if not store.shard_path(i).exists()]
    if missing:
        raise ValueError(f"{path}: run is incomplete ({len(missing)} of {len(plan.shards())} shards "
                         "missing); complete it with `optbench run ... --resume`")
    arrays = concat_shards([store.read_shard(i) for i in range(len(plan.shards()))])
    return Results(plan, arrays, manifest, path=Path(path))
