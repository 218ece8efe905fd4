"""Names that become path components, and output directories optbench may write into."""
from __future__ import annotations

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


def claim_report_dir(out: Path) -> None:
    """Make ``out`` a report directory: it must be new, empty or a previous optbench report
    (its marker), else a one-line ValueError. Writes the marker."""
    from .store import write_json

    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"--out {out} exists and is not a directory")
        if any(out.iterdir()) and read_marker(out / REPORT_MARKER, "report") is None:
            raise ValueError(f"--out {out} is neither empty nor an optbench report "
                             f"(no {REPORT_MARKER}); refusing to write into it")
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / REPORT_MARKER, {"kind": "report", "format": 1})
