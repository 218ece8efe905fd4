"""Results store: a run directory written shard by shard, atomically, resumable.

    RUN_DIR/.optbench-run      marker: format and run id, written first (optbench owns it)
    RUN_DIR/.optbench.lock     held (flock) by the one process writing the run
    RUN_DIR/manifest.json      provenance, configuration and its hash, SHA-256 of each shard
    RUN_DIR/shards/NNNNN.npz   arrays of trials [start, stop) (plain numpy, no optbench needed)
    RUN_DIR/trials.csv         one row per trajectory (written when the run completes)

Every file is written to a unique temporary name and renamed into place, so an interrupted
run leaves only whole shards; ``resume`` runs the missing or damaged ones and gives the same
bytes. Loading checks the configuration hash and every shard's SHA-256.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .paths import read_marker
from .plan import Plan, check_plugins

if TYPE_CHECKING:
    from .results import Results

MANIFEST = "manifest.json"
MARKER = ".optbench-run"
LOCK = ".optbench.lock"
FORMAT_VERSION = 2  # 1: no marker, run id or shard hashes (still loadable)
TMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def _atomic_file(path: Path):
    """A binary file object whose content replaces ``path`` when the block ends; on any
    failure its unique temporary file is removed."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    with _atomic_file(path) as fh:
        fh.write(data)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @property
    def shard_dir(self) -> Path:
        return self.path / "shards"

    def shard_path(self, index: int) -> Path:
        return self.shard_dir / f"{index:05d}.npz"

    def read_manifest(self) -> dict:
        try:
            manifest = json.loads((self.path / MANIFEST).read_text())
        except FileNotFoundError:
            raise ValueError(f"{self.path}: not a run directory (no {MANIFEST})") from None
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.path / MANIFEST}: unreadable ({exc})") from None
        if not isinstance(manifest, dict) or "config" not in manifest:
            raise ValueError(f"{self.path / MANIFEST}: not an optbench manifest")
        return manifest

    def plan(self, manifest: dict) -> Plan:
        """The manifest's plan, after checking its configuration against its hash."""
        where = self.path / MANIFEST
        try:
            plan = Plan.from_config(manifest["config"], manifest.get("plugins"))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{where}: malformed configuration ({type(exc).__name__}: {exc})") \
                from None
        if plan.config_hash() != manifest.get("config_hash"):
            raise ValueError(f"{where}: the configuration does not match its hash "
                             f"{manifest.get('config_hash')} (edited or damaged)")
        return plan

    def owned(self) -> bool:
        """Whether optbench provably made this directory: its marker, with the manifest's
        run id when there is a manifest."""
        marker = read_marker(self.path / MARKER, "run")
        if marker is None:
            return False
        if not (self.path / MANIFEST).exists():
            return True
        try:
            return self.read_manifest().get("run_id") == marker.get("run_id")
        except ValueError:
            return False

    def check_usable(self) -> None:
        """Refuse (one line) a directory that holds files optbench did not make."""
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"--out {self.path} exists and is not a directory")
        if self.path.exists() and any(p.name != LOCK for p in self.path.iterdir()) \
                and not self.owned():
            raise ValueError(f"{self.path} exists and is not a run directory made by this "
                             f"optbench (no valid {MARKER}); nothing was changed, choose "
                             "another --out")

    @contextlib.contextmanager
    def lock(self):
        """Hold the run directory's exclusive lock (created if need be) for the block; a
        one-line ValueError naming the holder's pid and host when another process has it."""
        import fcntl

        self.check_usable()  # never create a lock file among someone else's files
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
                raise ValueError(f"{self.path} is in use by another optbench run ({holder}); "
                                 "wait for it to finish") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
            yield self
        finally:
            os.close(fd)

    def open(self, plan: Plan, resume: bool = False, overwrite: bool = False) -> tuple:
        """Create the run directory, or reopen it with ``resume``, or replace a run optbench
        made there with ``overwrite``; call with the lock held. Returns (manifest, done
        shard indices, damaged shards {index: what is wrong})."""
        self.check_usable()
        if (self.path / MANIFEST).exists() and not overwrite:
            old = self.read_manifest()
            if not resume:
                raise ValueError(f"{self.path} already holds a run (config {old.get('config_hash')});"
                                 " pass --resume to complete it, --overwrite to replace it, or "
                                 "choose another --out")
            base = old.get("base_config_hash", old.get("config_hash"))
            if base != plan.config_hash():
                raise ValueError(f"{self.path} holds a run of another configuration "
                                 f"({base} vs {plan.config_hash()}); nothing was changed")
            self.plan(old)
            check_plugins(old.get("plugins", {}), plan.plugins(), self.path)
            self.remove_temp_files()
            done, damaged = self.check_shards(old, len(self.extended(plan, old).shards()))
            return old, done, damaged
        for entry in self.path.iterdir():  # owned (check_usable): a run or a bare marker,
            if entry.name not in (LOCK, MARKER):  # which stays until replaced: still owned
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        run_id = uuid.uuid4().hex
        created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        write_json(self.path / MARKER, {"kind": "run", "format": FORMAT_VERSION, "run_id": run_id,
                                        "created": created})
        self.shard_dir.mkdir()
        manifest = {
            "format": FORMAT_VERSION,
            "run_id": run_id,
            "status": "running",
            "created": created,
            "config_hash": plan.config_hash(),
            "config": plan.config(),
            "plugins": plan.plugins(),
            "provenance": provenance(),
            "shards": [list(s) for s in plan.shards()],
            "shard_sha256": {},
            "timings": {},
        }
        if plan.extend_lr_grid:  # the hash --resume checks: the suite's, before extension
            manifest["base_config_hash"] = plan.config_hash()
        write_json(self.path / MANIFEST, manifest)
        return manifest, set(), {}

    def extended(self, plan: Plan, manifest: dict) -> Plan:
        """``plan`` (a suite's grid) with the lr-grid extension stages ``manifest`` records
        (a resumed run continues from them), checked against the manifest's hash."""
        stages = manifest.get("config", {}).get("extension")
        if not stages:
            return plan
        full = plan.with_extension(stages)
        if full.config_hash() != manifest.get("config_hash"):
            raise ValueError(f"{self.path / MANIFEST}: the lr-grid extension does not match "
                             f"the hash {manifest.get('config_hash')} (edited or damaged)")
        return full

    def remove_temp_files(self) -> None:
        """Delete temporary files an interrupted writer left behind (lock held)."""
        for folder in (self.path, self.shard_dir):
            for tmp in folder.glob(f".*{TMP_SUFFIX}"):
                tmp.unlink()

    def check_shards(self, manifest: dict, count: int) -> tuple[set, dict]:
        """(shards whose file matches its recorded SHA-256, {index: what is wrong} for
        present files that do not). A file without a recorded hash (written just before an
        interruption) is neither: it is run again."""
        hashes = manifest.get("shard_sha256", {})
        done, damaged = set(), {}
        for i in range(count):
            path = self.shard_path(i)
            if not path.exists() or str(i) not in hashes:
                continue
            if sha256_file(path) == hashes[str(i)]:
                done.add(i)
            else:
                damaged[i] = "SHA-256 mismatch"
        return done, damaged

    def verify(self, manifest: dict, count: int) -> None:
        """Check that every shard is present and, from format 2 on, matches its SHA-256."""
        missing = [i for i in range(count) if not self.shard_path(i).exists()]
        if missing:
            raise ValueError(f"{self.path}: run is incomplete ({len(missing)} of {count} shards "
                             "missing); complete it with `optbench run ... --resume`")
        if manifest.get("format", 1) < 2:
            return
        hashes = manifest.get("shard_sha256", {})
        for i in range(count):
            if str(i) not in hashes:
                raise ValueError(f"{self.shard_path(i)}: no SHA-256 recorded in {MANIFEST} "
                                 "(run interrupted?); complete it with `optbench run ... --resume`")
            if sha256_file(self.shard_path(i)) != hashes[str(i)]:
                raise ValueError(f"{self.shard_path(i)}: SHA-256 differs from {MANIFEST}'s "
                                 "(damaged or replaced); `optbench run ... --resume` rewrites it")

    def write_shard(self, index: int, arrays: dict) -> str:
        """Write shard ``index`` atomically as an .npz whose bytes depend only on the arrays
        (fixed member timestamps), so equal results give equal files wherever they ran;
        returns its SHA-256."""
        path = self.shard_path(index)
        with _atomic_file(path) as fh, zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) \
                as archive:
            for key, value in arrays.items():
                member = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                with archive.open(member, "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, np.asanyarray(value), allow_pickle=False)
        return sha256_file(path)

    def store_shard(self, manifest: dict, index: int, arrays: dict) -> None:
        """Write shard ``index``, then record its SHA-256 in the manifest."""
        manifest.setdefault("shard_sha256", {})[str(index)] = self.write_shard(index, arrays)
        write_json(self.path / MANIFEST, manifest)

    def read_shard(self, index: int, names=None) -> dict:
        """Arrays ``names`` (default all) of shard ``index``."""
        return self._npz(index, lambda data: {k: data[k] for k in (names or data.files)})

    def arrays(self, count: int) -> ShardArrays:
        """The arrays of shards 0..count-1 by name, read on first use."""
        return ShardArrays(self, count, self._npz(0, lambda data: list(data.files)))

    def _npz(self, index: int, use):
        """``use(NpzFile)`` of shard ``index``; a one-line ValueError naming the file when
        it is missing or unreadable."""
        path = self.shard_path(index)
        try:
            with np.load(path, allow_pickle=False) as data:
                return use(data)
        except FileNotFoundError:
            raise ValueError(f"{path}: shard missing") from None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: corrupt or truncated shard ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''})") from None

    def finish(self, manifest: dict, results) -> None:
        from .results import to_csv

        _atomic_write_bytes(self.path / "trials.csv", to_csv(results.trials).encode())
        manifest["status"] = "complete"
        write_json(self.path / MANIFEST, manifest)


class ShardArrays(Mapping):
    """A stored run's arrays by name, each read from the shards on first use (a run never
    holds more than the arrays asked for)."""

    def __init__(self, store: RunStore, count: int, names: list):
        self.store, self.count, self.names = store, count, names
        self._cache: dict = {}

    def __getitem__(self, name):
        if name not in self.names:
            raise KeyError(name)
        if name not in self._cache:
            self._cache[name] = np.concatenate(
                [self.store.read_shard(i, [name])[name] for i in range(self.count)])
        return self._cache[name]

    def __contains__(self, name):
        return name in self.names

    def __iter__(self):
        return iter(self.names)

    def __len__(self):
        return len(self.names)


def concat_shards(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def load(path: str | os.PathLike[str]) -> Results:
    """Read a stored run back as ``Results`` (the same object ``run`` returned), after
    checking its configuration hash and shards; traces are read when first used."""
    from .results import Results

    store = RunStore(path)
    manifest = store.read_manifest()
    plan = store.plan(manifest)
    store.verify(manifest, len(plan.shards()))
    return Results(plan, store.arrays(len(plan.shards())), manifest, path=Path(path))
