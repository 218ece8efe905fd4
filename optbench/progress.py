"""Progress display: a bar with an ETA on a terminal, silence in non-interactive logs."""
from __future__ import annotations

import sys
import time


class Progress:
    """``with Progress(total, "shards") as p: ... p.advance()``; draws only on a TTY."""

    def __init__(self, total: int, unit: str = "shards", enabled: bool | None = None, stream=None):
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        self.enabled = (self.stream.isatty() if enabled is None else enabled) and total > 0
        self.done = 0
        self.t0 = time.perf_counter()

    def __enter__(self):
        self._draw()
        return self

    def advance(self, n: int = 1):
        self.done += n
        self._draw()

    def _draw(self):
        if not self.enabled:
            return
        frac = self.done / self.total
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        eta_text = "--:--" if eta != eta else f"{int(eta) // 60:02d}:{int(eta) % 60:02d}"
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {self.unit}  ETA {eta_text} ")
        self.stream.flush()

    def __exit__(self, *exc):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
