"""Trace analysis: smoothing, burst detection and statistics, regime labels.

Works on any population trace (network or mean field): a time grid `t` (T,) and a signal `x` (T,)
such as r(t) or ⟨w⟩(t). Everything is jnp with fixed-size outputs, so it runs under jit and vmap
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
"""The word for each regime code: QUIESCENT = 0, TONIC = 1, BURSTING = 2."""
# The one transient convention: summaries, comparisons, CLI reports and plots leave out the
# first quarter of a run unless a transient is given.
TRANSIENT_FRACTION = 0.25
"""The share of a run left out as transient unless one is given (`transient_time`)."""


class BurstStats(NamedTuple):
    """Bursts of a trace, as found by `detect_bursts`.

    Fixed-size arrays (padded with NaN), so a batch of traces under `vmap` gives one `BurstStats`
    with a leading batch axis.

    Attributes
    ----------
    onsets : jax.Array
        Shape (max_bursts,). Burst start times, NaN-padded.
    offsets : jax.Array
        Shape (max_bursts,). Burst end times, NaN for padding and for a burst still on at the end.
    n_bursts : jax.Array
        Number of onsets (at most max_bursts).
    period : jax.Array
        Mean onset-to-onset interval; NaN with fewer than two onsets.
    duty_cycle : jax.Array
        Fraction of whole cycles (first to last onset) spent above threshold; NaN with fewer than
        two onsets.
    peak : jax.Array
        Mean of the per-burst maxima; the trace maximum when no burst completes.
    low : jax.Array
        Trace minimum.
    mean : jax.Array
        Trace mean.
    threshold : jax.Array
        The threshold used.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import analysis
    >>> t = jnp.linspace(0.0, 100.0, 1001)
    >>> x = 1.0 + jnp.sin(2 * jnp.pi * t / 20.0)  # one burst every 20 time units
    >>> b = analysis.detect_bursts(t, x, max_bursts=8)
    >>> b.onsets.shape, int(b.n_bursts), [round(v, 1) for v in b.onsets[:2].tolist()]
    ((8,), 5, [0.4, 20.4])
    """

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
    """Centred moving average over `window` samples.

    The edges average the samples available, so a constant trace stays constant.

    Parameters
    ----------
    x : jax.Array
        Shape (T,). The trace.
    window : int
        Samples averaged; 1 (or less) returns `x` unchanged, a window longer than `x` is shortened
        to its length.

    Returns
    -------
    jax.Array
        Shape (T,). The smoothed trace.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import analysis
    >>> analysis.smooth(jnp.array([0.0, 3.0, 0.0, 3.0]), 3).tolist()
    [1.5, 1.0, 2.0, 1.5]
    """
    window = min(int(window), x.shape[-1])  # "same" convolution keeps the longer length
    if window <= 1:
        return x
    kernel = jnp.ones((window,), x.dtype)
    num = jnp.convolve(x, kernel, mode="same")
    den = jnp.convolve(jnp.ones_like(x), kernel, mode="same")
    return num / den


def bin_counts_to_rate(counts: jax.Array, n: int, bin_time: float, window: int = 1) -> jax.Array:
    """Population rate from spike counts per bin, smoothed over `window` bins.

    Parameters
    ----------
    counts : jax.Array
        Shape (T,). Spikes of the whole population in each bin.
    n : int
        Number of neurons.
    bin_time : float
        Bin width (dimensionless time).
    window : int, default 1
        Bins of centred moving average (`smooth`).

    Returns
    -------
    jax.Array
        Shape (T,). Spikes per neuron per time unit.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import analysis
    >>> rate = analysis.bin_counts_to_rate(jnp.array([10.0, 20.0]), n=100, bin_time=0.5)
    >>> [round(v, 6) for v in rate.tolist()]
    [0.2, 0.4]
    """
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
    """Bursts as excursions of a trace above a threshold, with hysteresis.

    A burst starts when x rises above threshold + h and ends when it falls below threshold - h,
    with h = hysteresis * (p95 - p5) / 2, so noise around the threshold does not split bursts.
    A trace whose p95 - p5 spread is below `min_relative_swing` times its mean has no bursts (a flat
    trace's round-off is not a burst). Runs under jit and vmap.

    Parameters
    ----------
    t : jax.Array
        Shape (T,). Times.
    x : jax.Array
        Shape (T,). The trace, e.g. a population rate after its transient.
    threshold : float, optional
        The threshold; halfway between the 5th and 95th percentiles of `x` by default.
    hysteresis : float, default 0.1
        Half-width of the hysteresis band, as a fraction of half the p5-p95 spread.
    min_relative_swing : float, default 0.05
        The smallest p5-p95 spread, relative to the mean, that can hold bursts.
    max_bursts : int, default 256
        Size of the onset and offset arrays; later bursts are not recorded.

    Returns
    -------
    BurstStats
        Onsets, offsets, count, period, duty cycle, peak, low, mean and threshold.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import analysis
    >>> t = jnp.linspace(0.0, 100.0, 1001)
    >>> x = 1.0 + jnp.sin(2 * jnp.pi * t / 20.0)  # one burst every 20 time units
    >>> b = analysis.detect_bursts(t, x, max_bursts=8)
    >>> int(b.n_bursts), round(float(b.period), 3), round(float(b.duty_cycle), 3)
    (5, 20.0, 0.5)
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
    """The start of the analysed window: the one transient convention of jaxmf.

    Summaries, comparisons, CLI reports and plots leave out the first quarter of a run
    (`TRANSIENT_FRACTION`) unless a transient is given.

    Parameters
    ----------
    t_end : float
        End of the run.
    transient : float, optional
        The start of the window, when given explicitly (returned unchanged).
    t_start : float, default 0.0
        Start of the run.

    Returns
    -------
    float
        The first time of the analysed window.

    Examples
    --------
    >>> from jaxmf import analysis
    >>> analysis.transient_time(800.0), analysis.transient_time(800.0, transient=50.0)
    (200.0, 50.0)
    """
    if transient is not None:
        return float(transient)
    return float(t_start) + TRANSIENT_FRACTION * (float(t_end) - float(t_start))


class TraceSummary(NamedTuple):
    """One trace's numbers, computed once by `trace_summary` and reported everywhere.

    compare, the CLI summaries, sweeps, fits and plots all use these values. Batched traces under
    `vmap` give arrays with a leading batch axis.

    Attributes
    ----------
    regime : jax.Array
        QUIESCENT (0), TONIC (1) or BURSTING (2); `regime_name` gives the word.
    mean : jax.Array
        Time average of the unsmoothed trace.
    period : jax.Array
        Mean onset-to-onset interval; NaN with fewer than two onsets.
    duty_cycle : jax.Array
        Fraction of whole cycles above threshold; NaN with fewer than two onsets.
    peak : jax.Array
        Mean per-burst maximum (the trace maximum when no burst completes).
    low : jax.Array
        Trace minimum.
    n_bursts : jax.Array
        Number of burst onsets.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import analysis
    >>> t = jnp.linspace(0.0, 100.0, 1001)
    >>> x = 1.0 + jnp.sin(2 * jnp.pi * t / 20.0)  # one burst every 20 time units
    >>> s = analysis.trace_summary(t, x)
    >>> round(float(s.mean), 3), round(float(s.peak), 3), round(float(s.duty_cycle), 2)
    (1.0, 2.0, 0.5)
    """

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
    """Regime, mean and burst statistics of a trace already cut to its analysed window.

    Cut the trace with `transient_time` first. The trace is smoothed over `smooth_window` samples
    before burst detection: a few time units for a finite network's rate, 1 for a mean-field
    solution. Runs under jit and vmap.

    Parameters
    ----------
    t : jax.Array
        Shape (T,). Times.
    r : jax.Array
        Shape (T,). Values, e.g. a population rate after the transient.
    smooth_window : int, default 1
        Samples of centred moving average applied before burst detection.
    hysteresis : float, default 0.1
        Passed to `detect_bursts`.

    Returns
    -------
    TraceSummary
        Regime, mean, period, duty cycle, peak, low and number of bursts.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import analysis
    >>> t = jnp.linspace(0.0, 100.0, 1001)
    >>> x = 1.0 + jnp.sin(2 * jnp.pi * t / 20.0)  # one burst every 20 time units
    >>> s = analysis.trace_summary(t, x)
    >>> analysis.regime_name(s.regime), round(float(s.period), 3), int(s.n_bursts)
    ('bursting', 20.0, 5)
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
    """The regime of a trace: QUIESCENT, TONIC or BURSTING.

    QUIESCENT when the mean rate is below `quiescent_rate`; BURSTING with at least `min_bursts`
    onsets (or one onset, when the window is too short for more) and a 1st-99th percentile swing
    above `min_relative_amplitude` times the mean; TONIC otherwise (see the module docstring).
    Pass a trace after its transient. For a network trace, smooth over a few time units
    (`smooth_window` samples) so finite-size fluctuations are not taken for bursts.

    Parameters
    ----------
    t : jax.Array
        Shape (T,). Times.
    r : jax.Array
        Shape (T,). Population rate (spikes per neuron per time unit).
    quiescent_rate : float, default 1e-3
        Mean rate below which the population is quiescent.
    min_relative_amplitude : float, default 1.0
        Smallest percentile swing, relative to the mean, of a bursting trace.
    min_bursts : int, default 2
        Onsets needed for BURSTING (one onset with a large swing also counts).
    smooth_window : int, default 1
        Samples of centred moving average applied first.

    Returns
    -------
    jax.Array
        An integer scalar: `QUIESCENT` (0), `TONIC` (1) or `BURSTING` (2).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import analysis
    >>> t = jnp.linspace(0.0, 100.0, 1001)
    >>> x = 1.0 + jnp.sin(2 * jnp.pi * t / 20.0)  # one burst every 20 time units
    >>> int(analysis.classify_regime(t, x)) == analysis.BURSTING
    True
    >>> int(analysis.classify_regime(t, jnp.full_like(t, 0.5))) == analysis.TONIC
    True
    """
    r = smooth(r, smooth_window)
    return _regime(r, detect_bursts(t, r), quiescent_rate, min_relative_amplitude, min_bursts)


def regime_name(code) -> str:
    """The word for a regime code.

    Parameters
    ----------
    code : int or array_like
        `QUIESCENT` (0), `TONIC` (1) or `BURSTING` (2), as a scalar.

    Returns
    -------
    str
        'quiescent', 'tonic' or 'bursting' (`REGIME_NAMES`).

    Examples
    --------
    >>> from jaxmf import analysis
    >>> analysis.regime_name(analysis.BURSTING)
    'bursting'
    """
    return REGIME_NAMES[int(code)]
