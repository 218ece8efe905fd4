"""Progress display: a tqdm bar on a terminal (a widget in a notebook, ``tqdm.auto``); off a
terminal (a log, ``make bench`` piped), one plain line every ``LOG_EVERY`` seconds so a long
run is never silent."""
from __future__ import annotations

import sys
import threading
import time

from tqdm.auto import tqdm

LOG_EVERY = 10.0  # seconds between progress lines off a terminal


class Progress:
    """``with Progress(total, "shards") as p: ... p.advance()``; a tqdm bar on a TTY, a line
    every ``interval`` seconds elsewhere; ``enabled=False``: silent, True: the bar."""

    def __init__(self, total: int, unit: str = "shards", enabled: bool | None = None, stream=None,
                 interval: float = LOG_EVERY):
        self.total = total
        self.unit = unit
        self.stream = stream or sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = (tty if enabled is None else enabled) and total > 0
        self.log = enabled is None and not tty and total > 0
        self.interval = interval
        self.done = 0
        self.t0 = time.perf_counter()
        self._stop = threading.Event()
        self._ticker = None
        self._bar = None

    def __enter__(self):
        if self.enabled:
            self._bar = tqdm(total=self.total, unit=f" {self.unit}", file=self.stream,
                             dynamic_ncols=True)
        if self.log:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def advance(self, n: int = 1):
        self.done += n
        if self._bar is not None:
            self._bar.update(n)

    def _eta(self) -> str:
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        return "--:--" if eta != eta else f"{int(eta) // 60:02d}:{int(eta) % 60:02d}"

    def _tick(self):
        while not self._stop.wait(self.interval):
            elapsed = time.perf_counter() - self.t0
            self.stream.write(f"optbench: {self.done}/{self.total} {self.unit} done, "
                              f"{elapsed:.0f} s elapsed, ETA {self._eta()}\n")
            self.stream.flush()

    def __exit__(self, *exc):
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._bar is not None:
            self._bar.close()
