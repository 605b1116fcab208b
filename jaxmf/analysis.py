"""Trace analysis: smoothing, burst detection and statistics, regime labels.

Works on any population trace (network or mean field): a time grid `t` (T,) and a signal `x` (T,)
such as r(t) or <w>(t). Everything is jnp with fixed-size outputs, so it runs under jit and vmap
(sweeps classify thousands of traces at once).

Conventions, shared by compare, the CLI summaries, sweeps, fits and plots:
- the analysed window starts after a transient, a quarter of the run unless given
  (`transient_time`, `TRANSIENT_FRACTION`);
- a burst is an excursion above the midpoint of the 5th and 95th percentiles, with hysteresis
  (`detect_bursts`); the period is the mean onset-to-onset interval, NaN with fewer than two
  onsets in the window;
- the regime is QUIESCENT when the mean rate is below `quiescent_rate`, BURSTING when the
  trace's 1st-99th percentile swing exceeds `min_relative_amplitude` times its mean and it has
  at least `min_bursts` onsets, and TONIC otherwise. When the window holds fewer than two onsets
  the period cannot be measured, but a trace with a large swing and one onset is still
  oscillating, only more slowly than the window resolves: it is labelled BURSTING with a NaN
  period, never a confident TONIC (e.g. eta_bar = 0.125, w_jump = 0.02 over t1 = 400: one
  onset in (100, 400], period about 220 over a longer run). Lengthen the run to measure its
  period.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "QUIESCENT",
    "TONIC",
    "BURSTING",
    "REGIME_NAMES",
    "BurstStats",
    "smooth",
    "bin_counts_to_rate",
    "detect_bursts",
    "classify_regime",
    "regime_name",
    "TRANSIENT_FRACTION",
    "transient_time",
    "TraceSummary",
    "trace_summary",
]

QUIESCENT, TONIC, BURSTING = 0, 1, 2
REGIME_NAMES = ("quiescent", "tonic", "bursting")
# The one transient convention: summaries, comparisons, CLI reports and plots leave out the
# first quarter of a run unless a transient is given.
TRANSIENT_FRACTION = 0.25


class BurstStats(NamedTuple):
    """Bursts of a trace: `onsets`/`offsets` (max_bursts,) times (NaN-padded), `n_bursts`,
    inter-burst `period` (mean onset-to-onset interval; NaN with < 2 onsets), `duty_cycle`
    (fraction of whole cycles spent above threshold), `peak` (mean of per-burst maxima; the trace
    maximum when no burst completes), `low` (trace minimum), `mean`, `threshold`."""

    onsets: jax.Array
    offsets: jax.Array
    n_bursts: jax.Array
    period: jax.Array
    duty_cycle: jax.Array
    peak: jax.Array
    low: jax.Array
    mean: jax.Array
    threshold: jax.Array


def smooth(x: jax.Array, window: int) -> jax.Array:
    """Centred moving average over `window` samples (edges use the available samples)."""
    window = min(int(window), x.shape[-1])  # "same" convolution keeps the longer length
    if window <= 1:
        return x
    kernel = jnp.ones((window,), x.dtype)
    num = jnp.convolve(x, kernel, mode="same")
    den = jnp.convolve(jnp.ones_like(x), kernel, mode="same")
    return num / den


def bin_counts_to_rate(counts: jax.Array, n: int, bin_time: float, window: int = 1) -> jax.Array:
    """Population rate (spikes per neuron per time unit) from spike counts per bin, smoothed over
    `window` bins."""
    return smooth(counts / (n * bin_time), window)


def detect_bursts(
    t: jax.Array,
    x: jax.Array,
    *,
    threshold=None,
    hysteresis: float = 0.1,
    min_relative_swing: float = 0.05,
    max_bursts: int = 256,
) -> BurstStats:
    """Bursts as excursions of x above a threshold, with hysteresis.

    threshold: default halfway between the 5th and 95th percentiles. A burst starts when x rises
    above threshold + h and ends when it falls below threshold - h, h = hysteresis * (p95 - p5) / 2,
    so noise around the threshold does not split bursts. A trace whose p95 - p5 spread is below
    `min_relative_swing` times its mean has no bursts (a flat trace's round-off is not a burst).
    """
    lo_q, hi_q = jnp.percentile(x, 5.0), jnp.percentile(x, 95.0)
    theta = (lo_q + hi_q) / 2 if threshold is None else jnp.asarray(threshold, x.dtype)
    h = hysteresis * (hi_q - lo_q) / 2

    def step(active, xi):
        now = jnp.where(active, xi > theta - h, xi > theta + h)
        return now, now

    _, above = jax.lax.scan(step, x[0] > theta + h, x)
    above = above & (hi_q - lo_q > min_relative_swing * jnp.abs(jnp.mean(x)))
    rise = above[1:] & ~above[:-1]
    fall = ~above[1:] & above[:-1]
    t_mid = t[1:]
    (on_idx,) = jnp.nonzero(rise, size=max_bursts, fill_value=-1)
    n_on = jnp.minimum(jnp.sum(rise), max_bursts)
    slot = jnp.arange(max_bursts)
    onsets = jnp.where(slot < n_on, t_mid[on_idx], jnp.nan)
    # First fall after each onset closes that burst.
    fall_times = jnp.where(fall, t_mid, jnp.inf)
    next_fall = jax.vmap(lambda t_on: jnp.min(jnp.where(t_mid > t_on, fall_times, jnp.inf)))(onsets)
    complete = (slot < n_on) & jnp.isfinite(next_fall)
    offsets = jnp.where(complete, next_fall, jnp.nan)
    first, last = onsets[0], jnp.where(n_on > 0, onsets[jnp.maximum(n_on - 1, 0)], jnp.nan)
    period = jnp.where(
        n_on >= 2, (last - first) / jnp.maximum(n_on - 1, 1).astype(t.dtype), jnp.nan
    )
    # Duty cycle over whole cycles [first onset, last onset).
    dt_samples = jnp.diff(t)
    in_cycles = (t_mid >= first) & (t_mid < last)
    duty = jnp.sum(jnp.where(in_cycles & above[1:], dt_samples, 0.0)) / jnp.maximum(
        jnp.sum(jnp.where(in_cycles, dt_samples, 0.0)), jnp.finfo(x.dtype).tiny
    )
    duty = jnp.where(n_on >= 2, duty, jnp.nan)
    # Peak of each complete burst.
    peaks = jax.vmap(lambda a, b: jnp.max(jnp.where((t >= a) & (t <= b), x, -jnp.inf)))(
        onsets, offsets
    )
    n_complete = jnp.sum(complete)
    peak = jnp.where(
        n_complete > 0,
        jnp.sum(jnp.where(complete, peaks, 0.0)) / jnp.maximum(n_complete, 1).astype(x.dtype),
        jnp.max(x),
    )
    return BurstStats(
        onsets=onsets,
        offsets=offsets,
        n_bursts=n_on,
        period=period,
        duty_cycle=duty,
        peak=peak,
        low=jnp.min(x),
        mean=jnp.mean(x),
        threshold=theta,
    )


def transient_time(t_end: float, transient: float | None = None, t_start: float = 0.0) -> float:
    """The start of the analysed window: `transient` if given, else `t_start` plus a quarter
    (`TRANSIENT_FRACTION`) of the run."""
    if transient is not None:
        return float(transient)
    return float(t_start) + TRANSIENT_FRACTION * (float(t_end) - float(t_start))


class TraceSummary(NamedTuple):
    """One trace's numbers, computed once by `trace_summary` and reported everywhere (compare,
    the CLI summaries, sweeps, fits, plots): `regime` (QUIESCENT / TONIC / BURSTING), `mean`
    (time average of the unsmoothed trace), and the burst statistics of the analysed trace
    (`period`, `duty_cycle`, `peak`, `low`, `n_bursts`; NaN period/duty with fewer than two
    onsets)."""

    regime: jax.Array
    mean: jax.Array
    period: jax.Array
    duty_cycle: jax.Array
    peak: jax.Array
    low: jax.Array
    n_bursts: jax.Array


def trace_summary(
    t: jax.Array, r: jax.Array, *, smooth_window: int = 1, hysteresis: float = 0.1
) -> TraceSummary:
    """Regime, mean and burst statistics of a trace already cut to its analysed window (see
    `transient_time`). `smooth_window` samples of moving average first (use a few time units for
    a finite network's rate, 1 for a mean-field solution). Runs under jit and vmap.

    Parameters
    ----------
    t, r : (T,) times and values (e.g. a population rate after the transient).
    smooth_window : samples of centred moving average applied before burst detection.
    hysteresis : passed to `detect_bursts`.

    Returns
    -------
    TraceSummary
    """
    x = smooth(r, smooth_window)
    stats = detect_bursts(t, x, hysteresis=hysteresis)
    regime = _regime(x, stats)
    return TraceSummary(
        regime=regime,
        mean=jnp.mean(r),
        period=stats.period,
        duty_cycle=stats.duty_cycle,
        peak=stats.peak,
        low=stats.low,
        n_bursts=stats.n_bursts,
    )


def _regime(
    r,
    stats: BurstStats,
    quiescent_rate: float = 1e-3,
    min_relative_amplitude: float = 1.0,
    min_bursts: int = 2,
) -> jax.Array:
    mean = jnp.mean(r)
    swing = (jnp.percentile(r, 99.0) - jnp.percentile(r, 1.0)) / jnp.maximum(
        mean, jnp.finfo(r.dtype).tiny
    )
    # One onset with a large swing is an oscillation slower than the window (its period is NaN),
    # not a tonic state: see the module docstring.
    onsets = (stats.n_bursts >= min_bursts) | (stats.n_bursts == 1)
    bursting = onsets & (swing > min_relative_amplitude)
    return jnp.where(mean < quiescent_rate, QUIESCENT, jnp.where(bursting, BURSTING, TONIC))


def classify_regime(
    t: jax.Array,
    r: jax.Array,
    *,
    quiescent_rate: float = 1e-3,
    min_relative_amplitude: float = 1.0,
    min_bursts: int = 2,
    smooth_window: int = 1,
) -> jax.Array:
    """QUIESCENT (mean rate below `quiescent_rate`), BURSTING (at least `min_bursts` onsets, or
    one onset when the window is too short for more, and a peak-to-trough swing above
    `min_relative_amplitude` times the mean) or TONIC (module docstring).

    Pass a trace after its transient. For a network trace, smooth over a few time units
    (`smooth_window` samples) so finite-size fluctuations are not taken for bursts.
    """
    r = smooth(r, smooth_window)
    return _regime(r, detect_bursts(t, r), quiescent_rate, min_relative_amplitude, min_bursts)


def regime_name(code) -> str:
    return REGIME_NAMES[int(code)]
