"""Names that become path components, and output directories optbench may write into."""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path


def safe_name(name, what: str = "name") -> str:
    """``name`` if it is one safe path component (no separators, ``..``, absolute paths or
    control characters), else a one-line ValueError naming ``what``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")
    bad = ("/" in name or "\\" in name or name in (".", "..") or Path(name).is_absolute()
           or any(ord(c) < 32 or ord(c) == 127 for c in name))
    if bad:
        raise ValueError(f"{what} {name!r} is not a safe file name (no path separators, "
                         "'..', absolute paths or control characters)")
    return name


def read_marker(path: Path, kind: str) -> dict | None:
    """The marker file ``path`` if it is a readable optbench marker of ``kind``, else None."""
    try:
        marker = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and marker.get("kind") == kind \
        and "format" in marker else None


REPORT_MARKER = ".optbench-report"


def claim_report_dir(out: Path, run: str | None = None) -> None:
    """Make ``out`` a report directory: it must be new, empty or a previous optbench report
    (its marker), else a one-line ValueError. Writes the marker, naming the run directory
    ``run`` the report is of (None: an in-memory run)."""
    from .store import write_json

    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"--out {out} exists and is not a directory")
        if any(out.iterdir()) and read_marker(out / REPORT_MARKER, "report") is None:
            raise ValueError(f"--out {out} is neither empty nor an optbench report "
                             f"(no {REPORT_MARKER}); refusing to write into it")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / REPORT_MARKER, {"kind": "report", "format": 1, "run": run})


def default_report_dir(results, root: Path = Path("reports")) -> Path:
    """Where the report of ``results`` goes when no directory is named: ``root/<run name>``,
    for a run left with the default name ``root/run-<UTC date-time>`` (of its creation when
    stored), then ``-2``, ``-3``, ... while that directory holds anything but a report of the
    same run directory: another run's report is never overwritten."""
    from .plan import DEFAULT_NAME

    name = safe_name(results.plan.name, "run name")
    if name == DEFAULT_NAME:
        created = results.manifest.get("created")
        when = _dt.datetime.fromisoformat(created) if created else _dt.datetime.now(_dt.timezone.utc)
        name = f"{name}-{when.astimezone(_dt.timezone.utc):%Y%m%d-%H%M%S}"
    run = report_run(results)
    out, n = Path(root) / name, 1
    while out.exists() and not (out.is_dir() and not any(out.iterdir())):
        marker = read_marker(out / REPORT_MARKER, "report")
        if run is not None and marker is not None and marker.get("run") == run:
            break  # this run's own report: rebuilt in place
        n += 1
        out = Path(root) / f"{name}-{n}"
    return out


def report_run(results) -> str | None:
    """What a report marker records of the run: its resolved directory (None in memory)."""
    return str(Path(results.path).resolve()) if results.path is not None else None
