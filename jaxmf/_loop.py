"""One mechanism for long runs: a progress line, work in chunks, and Ctrl-C kept as a result.

`run_chunks` drives every long computation that can be cut into pieces (a network simulation in
compiled chunks of steps, a sweep in chunks of grid points, a fit in segments of iterations):
it calls `compute` on each piece, reports progress after each, lets `compute` stop the loop
early (a blow-up), and turns Ctrl-C into a flag so the caller can raise its `Interrupted` with
the finished part. `Progress` is the line itself; `report` is its form for use inside compiled
code (through `jax.debug.callback`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

__all__ = [
    "Progress",
    "ChunkRun",
    "run_chunks",
    "available_memory",
    "check_memory",
    "compiler_options",
    "format_bytes",
]


class Progress:
    """Prints `label: 45% [done/total unit] extra elapsed, ETA` on stderr: in place on a terminal,
    else every `step` (a fraction, default 10%) of the work."""

    def __init__(
        self, label: str, total: float, enabled: bool = True, unit: str = "", step: float = 0.1
    ):
        self.label, self.total, self.enabled, self.unit = label, float(total), enabled, unit
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.step = step
        self._last = -1

    def update(self, done: float, extra: str = "") -> None:
        if not self.enabled or self.total <= 0:
            return
        frac = min(done / self.total, 1.0)
        elapsed = time.perf_counter() - self.start
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        line = (
            f"{self.label}: {100 * frac:5.1f}% [{done:g}/{self.total:g}{self.unit}] {extra} "
            f"elapsed {elapsed:.1f}s, ETA {eta:.1f}s"
        )
        if self.tty:
            sys.stderr.write("\r" + line)
            if frac >= 1:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif int(frac / self.step) > self._last:
            self._last = int(frac / self.step)
            print(line, file=sys.stderr, flush=True)

    def close(self, message: str = "") -> None:
        if self.enabled and message:
            if self.tty:
                sys.stderr.write("\n")
            print(f"{self.label}: {message}", file=sys.stderr, flush=True)

    def print(self, message: str) -> None:
        """A line of its own (e.g. 'resuming ...'), only when progress is enabled."""
        if self.enabled:
            print(f"{self.label}: {message}", file=sys.stderr, flush=True)


class ChunkRun(NamedTuple):
    """What `run_chunks` did: the outputs of the finished pieces, whether the loop was stopped by
    `compute` (`stopped`) or by Ctrl-C (`interrupted`)."""

    outputs: list
    stopped: bool
    interrupted: bool


def run_chunks(
    pieces: Iterable[Any],
    compute: Callable[[Any], tuple[Any, bool]],
    *,
    progress: Progress | None = None,
    position: Callable[[Any, Any], tuple[float, str]] | None = None,
) -> ChunkRun:
    """Run `compute(piece) -> (output, stop)` over `pieces` in order.

    After each piece, `position(piece, output) -> (done, extra text)` updates `progress`. A True
    `stop` ends the loop after keeping that piece's output. Ctrl-C (KeyboardInterrupt) ends it
    too, keeping every finished piece; the caller decides what to raise.
    """
    outputs: list = []
    try:
        for piece in pieces:
            out, stop = compute(piece)
            outputs.append(out)
            if progress is not None and position is not None:
                done, extra = position(piece, out)
                progress.update(done, extra)
            if stop:
                return ChunkRun(outputs, True, False)
    except KeyboardInterrupt:
        return ChunkRun(outputs, False, True)
    return ChunkRun(outputs, False, False)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (Linux MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"


def check_memory(
    need: float,
    name: str,
    what: str,
    max_memory: float | None = None,
    override: str = "max_memory=",
) -> None:
    """Refuse up front (a ParameterError naming `name`) a computation needing `need` bytes for
    `what` when that exceeds `max_memory` or else the memory available now: JAX/XLA would abort
    the process or exhaust the machine instead of raising. `override` names the way to raise the
    limit on a bigger machine (an argument or a command-line option)."""
    from .params import ParameterError

    if max_memory is not None and not (isinstance(max_memory, (int, float)) and max_memory > 0):
        raise ParameterError("max_memory", f"must be a number of bytes > 0; got {max_memory!r}")
    limit = max_memory if max_memory is not None else available_memory()
    if limit is not None and need > limit:
        where = override.rstrip("= ") if max_memory is not None else "available memory"
        raise ParameterError(
            name,
            f"{what} need about {format_bytes(need)}; {where} is {format_bytes(limit)} "
            f"(raise the limit with {override}BYTES on a bigger machine)",
        )


def compiler_options(platform: str, *, memory_schedule: bool = False) -> dict:
    """XLA options for jaxmf's long compiled loops (the network's step loop, the sweep's
    chunks); none changes a number, bit for bit. On CPU: copy insertion by region analysis
    (fewer or cheaper copies of a while loop's carried arrays: 1.03-1.12x on the network step,
    1.2x on a mean-field chunk), on CPUs with AVX-512 512-bit vectors (XLA's default is 256:
    1.1-1.3x), and with `memory_schedule` the memory-optimised schedule (1.04x on a mean-field
    chunk). Other platforms: none.

    Parameters
    ----------
    platform : str
        The devices' platform ("cpu", "gpu", ...).
    memory_schedule : bool
        Add XLA's memory-optimised CPU schedule.

    Returns
    -------
    dict
        ``compiler_options`` for `jax.jit`.

    Examples
    --------
    >>> compiler_options("gpu")
    {}
    >>> compiler_options("cpu")["xla_cpu_copy_insertion_use_region_analysis"]
    True
    """
    if platform != "cpu":
        return {}
    options: dict = {"xla_cpu_copy_insertion_use_region_analysis": True}
    if memory_schedule:
        options["xla_cpu_scheduler_type"] = "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"
    try:
        with open("/proc/cpuinfo") as f:
            if "avx512f" in f.read():
                options["xla_cpu_prefer_vector_width"] = "512"
    except OSError:
        pass
    return options
