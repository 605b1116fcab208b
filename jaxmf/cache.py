"""JAX's persistent compilation cache for jaxmf, and a clock that splits compile from run time.

Compiling dominates short jaxmf runs (a continuation compiles for tens of seconds and computes
for one). With the persistent cache on, an executable compiled once is read back from disk by
every later process with the same program, jax version and backend. The `jaxmf` command line
turns it on by default (`--no-cache` or JAXMF_NO_CACHE=1 turn it off); library users call
`jaxmf.cache.enable_compilation_cache()` once, before their first computation.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import jax

__all__ = ["default_cache_dir", "enable_compilation_cache", "CompileClock"]

# The three stages of a compilation jax reports (tracing, lowering, XLA compile or cache read).
_COMPILE_EVENTS = frozenset(
    {
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    }
)


def default_cache_dir() -> Path:
    """Where jaxmf keeps compiled programs: $JAXMF_CACHE_DIR if set, else
    $XDG_CACHE_HOME/jaxmf/xla, else ~/.cache/jaxmf/xla.

    Returns
    -------
    The folder (not created).

    Example
    -------
    >>> jaxmf.cache.default_cache_dir()
    PosixPath('/home/me/.cache/jaxmf/xla')
    """
    if os.environ.get("JAXMF_CACHE_DIR"):
        return Path(os.environ["JAXMF_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "jaxmf" / "xla"


def enable_compilation_cache(path=None, *, min_compile_time: float = 0.0) -> Path:
    """Turn on JAX's persistent compilation cache, so that a program compiled once is read from
    disk by later processes (same program, jax version and backend) instead of compiled again.

    Parameters
    ----------
    path : cache folder (default `default_cache_dir()`); created if missing.
    min_compile_time : seconds; programs that compile faster are not stored (0 stores all: the
        many small programs of a jaxmf run add up).

    Returns
    -------
    The cache folder.

    Example
    -------
    >>> import jaxmf.cache
    >>> jaxmf.cache.enable_compilation_cache()  # before the first computation
    >>> jaxmf.solve_meanfield(jaxmf.presets.chen_campbell_2022(), t1=1000.0)  # compiled once
    """
    from jax.experimental.compilation_cache import compilation_cache

    folder = Path(path).expanduser() if path is not None else default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    # jax decides once per process whether the cache is used: start that decision again, so the
    # cache also takes effect after earlier computations.
    compilation_cache.reset_cache()
    return folder


class CompileClock:
    """Wall time since it was made, split into compiling (tracing, lowering, XLA compilation or
    reading the persistent cache, as jax reports them) and the rest.

    Example
    -------
    >>> clock = CompileClock()
    >>> jaxmf.solve_meanfield(params, t1=1000.0)
    >>> clock.times()
    {'compile_s': 1.42, 'run_s': 0.05, 'wall_s': 1.47}
    """

    def __init__(self) -> None:
        self._start = time.time()
        self._spans: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        jax.monitoring.register_event_time_span_listener(self._record)

    def _record(self, event: str, start_time: float, end_time: float, **kwargs: str | int) -> None:
        if event in _COMPILE_EVENTS and end_time >= self._start:
            with self._lock:
                self._spans.append((max(start_time, self._start), end_time))

    def compile_seconds(self) -> float:
        """Seconds spent compiling so far (overlapping reports counted once)."""
        with self._lock:
            spans = sorted(self._spans)
        total, reach = 0.0, -float("inf")
        for start, end in spans:
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total

    def times(self) -> dict[str, float]:
        """{'compile_s', 'run_s', 'wall_s'}: compile time, the rest, and their sum."""
        wall = time.time() - self._start
        compile_s = min(self.compile_seconds(), wall)
        return {"compile_s": compile_s, "run_s": wall - compile_s, "wall_s": wall}

    def close(self) -> None:
        """Stop listening (the clock keeps its figures)."""
        jax.monitoring.unregister_event_time_span_listener(self._record)
