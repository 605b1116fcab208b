"""Shared timing helper of the benchmark scripts (run as `python benchmarks/NAME.py`)."""

import statistics
import time


def median_runs(fn, repeats):
    """(median run s over `repeats` calls, compile s = first call - median, last output)."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    run = statistics.median(times)
    return run, max(first - run, 0.0), out
