"""A dependency-free progress line on stderr for long runs."""

from __future__ import annotations

import sys
import time


class Progress:
    """Prints `label: 45% [what] rate, ETA` on stderr: in place on a terminal, else every 10%."""

    def __init__(self, label: str, total: float, enabled: bool = True, unit: str = ""):
        self.label, self.total, self.enabled, self.unit = label, float(total), enabled, unit
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self._last_decile = -1

    def update(self, done: float, extra: str = "") -> None:
        if not self.enabled or self.total <= 0:
            return
        frac = min(done / self.total, 1.0)
        elapsed = time.perf_counter() - self.start
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        line = f"{self.label}: {100 * frac:5.1f}% [{done:g}/{self.total:g}{self.unit}] {extra} " \
               f"elapsed {elapsed:.1f}s, ETA {eta:.1f}s"
        if self.tty:
            sys.stderr.write("\r" + line)
            if frac >= 1:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif int(frac * 10) > self._last_decile:
            self._last_decile = int(frac * 10)
            print(line, file=sys.stderr, flush=True)

    def close(self, message: str = "") -> None:
        if self.enabled and message:
            if self.tty:
                sys.stderr.write("\n")
            print(f"{self.label}: {message}", file=sys.stderr, flush=True)
