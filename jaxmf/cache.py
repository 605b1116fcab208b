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
    pathlib.Path
        The folder (not created).

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> from jaxmf.cache import default_cache_dir
    >>> with mock.patch.dict(os.environ, {"XDG_CACHE_HOME": "/tmp/xdg"}, clear=True):
    ...     print(default_cache_dir())
    /tmp/xdg/jaxmf/xla
    >>> with mock.patch.dict(os.environ, {"JAXMF_CACHE_DIR": "/tmp/mine"}):
    ...     print(default_cache_dir())
    /tmp/mine
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
    path : str or pathlib.Path, optional
        Cache folder (default `default_cache_dir()`); created if missing.
    min_compile_time : float
        Seconds; programs that compile faster are not stored (0 stores all: the many small
        programs of a jaxmf run add up).

    Returns
    -------
    pathlib.Path
        The cache folder.

    Examples
    --------
    Call it once, before the first computation. The settings are process-wide, so this example
    puts the previous ones back at its end:

    >>> import tempfile
    >>> import jax
    >>> from jax.experimental.compilation_cache import compilation_cache
    >>> from jaxmf.cache import enable_compilation_cache
    >>> names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
    ...          "jax_persistent_cache_min_entry_size_bytes")
    >>> before = {name: getattr(jax.config, name) for name in names}
    >>> folder = enable_compilation_cache(tempfile.mkdtemp())
    >>> jax.config.jax_compilation_cache_dir == str(folder), folder.is_dir()
    (True, True)
    >>> for name, value in before.items():
    ...     jax.config.update(name, value)
    >>> compilation_cache.reset_cache()
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

    It listens to jax's compile events from its creation until `close`.

    Examples
    --------
    >>> import jax
    >>> from jaxmf.cache import CompileClock
    >>> clock = CompileClock()
    >>> _ = jax.jit(lambda x: 2.0 * x + 1.0)(1.0)  # traced and compiled: counted as compiling
    >>> times = clock.times()
    >>> clock.close()
    >>> sorted(times), times["compile_s"] > 0
    (['compile_s', 'run_s', 'wall_s'], True)
    >>> abs(times["compile_s"] + times["run_s"] - times["wall_s"]) < 1e-9
    True
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
        """Seconds spent compiling so far (overlapping reports counted once).

        Returns
        -------
        float
            The union of the compile spans' lengths.

        Examples
        --------
        >>> import jax
        >>> clock = CompileClock()
        >>> _ = jax.jit(lambda x: x - 3.0)(1.0)
        >>> clock.compile_seconds() > 0
        True
        >>> clock.close()
        """
        with self._lock:
            spans = sorted(self._spans)
        total, reach = 0.0, -float("inf")
        for start, end in spans:
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total

    def times(self) -> dict[str, float]:
        """Compile time, the rest, and their sum, in seconds.

        Returns
        -------
        dict of str to float
            {'compile_s', 'run_s', 'wall_s'}.

        Examples
        --------
        >>> clock = CompileClock()
        >>> t = clock.times()
        >>> clock.close()
        >>> abs(t["compile_s"] + t["run_s"] - t["wall_s"]) < 1e-9
        True
        """
        wall = time.time() - self._start
        compile_s = min(self.compile_seconds(), wall)
        return {"compile_s": compile_s, "run_s": wall - compile_s, "wall_s": wall}

    def close(self) -> None:
        """Stop listening (the clock keeps its figures).

        Returns
        -------
        None
            The clock counts no further compilation.

        Examples
        --------
        >>> import jax
        >>> clock = CompileClock()
        >>> clock.close()
        >>> _ = jax.jit(lambda x: x * 7.0)(1.0)  # after close: not counted
        >>> clock.compile_seconds()
        0.0
        """
        jax.monitoring.unregister_event_time_span_listener(self._record)
