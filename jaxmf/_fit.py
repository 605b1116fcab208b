"""Gradient-based fitting to burst patterns (optax, multi-start under vmap), of the mean field or
of the differentiable spiking network (`jaxmf.netfit.ThetaNetwork`).

A target is a `BurstTarget`: a recorded population rate r(t) (`from_trace`), a network run
(`from_network`: smoothed and resampled binned rate, e.g. to fit a mean field to a network) or
burst features (`from_features`: period, duty cycle, peak and mean rate, any subset). Losses
compare a simulated `MeanFieldResult` (or `NetworkTrace`) with a target and are pure and
differentiable:

- `trace_mse`: mean-squared error on the target's time grid, optionally minimised over time shifts;
- `spectral_loss`: distance between normalised autocorrelations (or power spectra), phase free;
- `feature_loss`: relative errors of differentiable burst features (`burst_features`).

Any callable `(sim, target) -> scalar` can be used instead. `fit` optimises the
free parameters with any optax optimiser from several starts at once (vmap), each through a small
bijector so positivity and bounds hold, with per-start early stopping and a per-start status.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optimistix as optx

from ._files import (
    atomic_write,
    atomic_write_text,
    checksum,
    dumps,
    fingerprint,
    read_json,
    write_json,
)
from ._loop import Progress, run_chunks
from ._results import RESULTS, Interrupted, NumericalError, from_codes, status_message
from .analysis import TraceSummary, trace_summary
from .analysis import smooth as moving_average
from .delay import uses_dde
from .meanfield import MeanFieldResult, solve_meanfield
from .netfit import ThetaNetwork, simulate_theta
from .params import (
    OPTIONAL_FIELDS,
    PER_POPULATION_FIELDS,
    ParameterError,
    Params,
    check_whole,
    parse_parameter,
    replace_deferred,
)

__all__ = [
    "BurstTarget",
    "BurstFeatures",
    "burst_features",
    "trace_mse",
    "trace_residuals",
    "spectral_loss",
    "feature_loss",
    "feature_residuals",
    "Identity",
    "Log",
    "Sigmoid",
    "FitResult",
    "fit",
    "POSITIVE_FIELDS",
    "FITTABLE_FIELDS",
    "OK",
    "DIVERGED",
    "MAX_STEPS",
    "FORWARD_MODE_MAX",
    "REFINE_RTOL",
    "FitInterrupted",
    "remove_checkpoint",
    "NetworkTrace",
    "simulate_on_grid",
]

# Each start's outcome (`FitResult.status`).
OK, DIVERGED, MAX_STEPS = RESULTS.successful, RESULTS.diverged, RESULTS.max_steps_reached
# The loop keeps them as the integer codes of `jaxmf._results.status_codes` (also what a
# checkpoint stores), -1 while a start runs; `from_codes` turns them into RESULTS items.
_RUNNING, _OK, _DIVERGED, _MAX_STEPS = -1, 0, 1, 2
# g_el and tau_r: gap junctions and synaptic rise time (jaxmf.synapses), fittable once present.
FITTABLE_FIELDS = (
    *(f for f in PER_POPULATION_FIELDS if f != "fractions"),
    "gamma",
    "sigma",
    "g_el",
    "tau_r",
    "delay",
)
FORWARD_MODE_MAX = 6  # free unknowns up to which `fit` uses forward-mode gradients by default
POSITIVE_FIELDS = (
    "delta_eta",
    "a",
    "tau_s",
    "w_jump",
    "s_jump",
    "g",
    "gamma",
    "sigma",
    "tau_r",
    "delay",
)
FEATURES = ("period", "duty", "peak", "mean")
PEAK_SHARE = (
    0.9  # autocorrelation peaks this close to the largest count as the period (burst_features)
)


class BurstFeatures(NamedTuple):
    """Smooth burst features of a trace, as computed by `burst_features`.

    Attributes
    ----------
    period : jax.Array
        Burst period (time units).
    duty : jax.Array
        Fraction of time above the mid level.
    peak : jax.Array
        Soft maximum rate.
    trough : jax.Array
        Soft minimum rate.
    mean : jax.Array
        Mean rate.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import burst_features
    >>> t = jnp.linspace(0.0, 100.0, 1001)
    >>> f = burst_features(t, 1.0 + jnp.sin(2 * jnp.pi * t / 20.0))
    >>> f._fields
    ('period', 'duty', 'peak', 'trough', 'mean')
    """

    period: jax.Array
    duty: jax.Array
    peak: jax.Array
    trough: jax.Array
    mean: jax.Array


def _window(t, transient):
    return (t >= transient).astype(t.dtype)


def _autocorrelation(x, mask):
    """Normalised autocorrelation of the masked, mean-removed signal at lags 0..T-1 (each lag
    averaged over the pairs available, via zero-padded FFTs) and the pair counts."""
    n = x.shape[0]
    size = 2 * n
    mean = jnp.sum(x * mask) / jnp.sum(mask)
    xc = (x - mean) * mask
    spec = jnp.fft.rfft(xc, size)
    raw = jnp.fft.irfft(spec * jnp.conj(spec), size)[:n]
    mspec = jnp.fft.rfft(mask, size)
    counts = jnp.round(jnp.fft.irfft(mspec * jnp.conj(mspec), size)[:n])
    ac = raw / jnp.maximum(counts, 1.0)
    tiny = jnp.asarray(1e-30, x.dtype)
    return ac / (ac[0] + tiny), counts


def burst_features(
    t: jax.Array, r: jax.Array, *, transient=0.0, sharpness: float = 0.02, min_overlap: float = 0.25
) -> BurstFeatures:
    """Burst features of r(t) (uniform grid t) after `transient`, differentiable in r.

    How each is made differentiable:
    - period: the first autocorrelation peak after its first zero crossing that reaches 90% of
      the largest one (lags with at least `min_overlap` of the window's pairs; the 90% keeps a
      multiple of the period from winning on a perfectly periodic trace) is located by argmax (a
      discrete choice, no gradient) and refined by the vertex of the parabola through it and its
      two neighbours, which is a smooth function of the trace; the gradient is exact except
      where the choice jumps.
    - peak / trough: softmax-weighted means of r, r * softmax(+-r / tau), with temperature
      tau = sharpness * (max r - min r): the mean height of the burst tops (bottoms).
    - duty: mean of sigmoid((r - theta) / tau) with theta = (peak + trough) / 2.
    - mean: the plain time average.
    Smaller `sharpness` approaches the hard definitions of `jaxmf.analysis.detect_bursts`.

    Parameters
    ----------
    t : jax.Array
        Shape (T,). Uniform time grid.
    r : jax.Array
        Shape (T,). The rate.
    transient : float
        Samples before it are ignored.
    sharpness : float
        Temperature of the soft peak, trough and duty, relative to the trace's range.
    min_overlap : float
        Smallest share of the window's sample pairs a lag of the period search must have.

    Returns
    -------
    BurstFeatures
        period, duty, peak, trough and mean.

    Examples
    --------
    A sine of period 20 (its autocorrelation peaks equally at 20, 40 and 60; the first wins):

    >>> import jax.numpy as jnp
    >>> from jaxmf import burst_features
    >>> t = jnp.linspace(0.0, 100.0, 1001)
    >>> f = burst_features(t, 1.0 + jnp.sin(2 * jnp.pi * t / 20.0))
    >>> round(float(f.period), 1), round(float(f.duty), 2), round(float(f.mean), 2)
    (20.1, 0.5, 1.0)
    """
    t = jnp.asarray(t)
    r = jnp.asarray(r, t.dtype)
    mask = _window(t, transient)
    n_win = jnp.sum(mask)
    dt = t[1] - t[0]
    ac, counts = _autocorrelation(r, mask)
    lags = jnp.arange(r.shape[0])
    first_neg = jnp.argmax(ac < 0)
    searchable = (
        (lags > first_neg)
        & (counts >= min_overlap * n_win)
        & (lags >= 1)
        & (lags < r.shape[0] - 1)
        & (first_neg > 0)
    )
    # A periodic trace correlates (almost) equally well at every multiple of its period, so the
    # largest peak can be a multiple: take the first run of lags within PEAK_SHARE of the largest
    # peak and its maximum (a run, not the first local maximum, so noise ripples near the top of
    # the true peak cannot win).
    acs = jax.lax.stop_gradient(ac)
    best = jnp.max(jnp.where(searchable, acs, -jnp.inf))
    above = searchable & (acs >= PEAK_SHARE * best)
    start = jnp.argmax(above)
    gap = (lags > start) & ~above
    stop = jnp.where(jnp.any(gap), jnp.argmax(gap), r.shape[0])
    run = (lags >= start) & (lags < stop) & (best > 0)
    k = jnp.argmax(
        jnp.where(jnp.any(run), jnp.where(run, acs, -jnp.inf), jnp.where(searchable, acs, -jnp.inf))
    )
    k = jnp.clip(k, 1, r.shape[0] - 2)
    a_m, a_0, a_p = ac[k - 1], ac[k], ac[k + 1]
    curv = a_m - 2 * a_0 + a_p
    safe = jnp.where(curv < 0, curv, -1.0)
    shift = jnp.where(curv < 0, 0.5 * (a_m - a_p) / safe, 0.0)
    period = (k.astype(t.dtype) + jnp.clip(shift, -0.5, 0.5)) * dt

    big = jnp.max(jnp.where(mask > 0, r, -jnp.inf))
    small = jnp.min(jnp.where(mask > 0, r, jnp.inf))
    tau = sharpness * (big - small) + jnp.asarray(1e-12, t.dtype)
    logm = jnp.log(jnp.where(mask > 0, 1.0, 1e-300))

    def soft_extreme(sign):
        wts = jax.nn.softmax(sign * r / tau + logm)
        return jnp.sum(wts * r)

    peak, trough = soft_extreme(1.0), soft_extreme(-1.0)
    theta = (peak + trough) / 2
    duty = jnp.sum(mask * jax.nn.sigmoid((r - theta) / tau)) / n_win
    mean = jnp.sum(mask * r) / n_win
    return BurstFeatures(period=period, duty=duty, peak=peak, trough=trough, mean=mean)


def _nan(dtype=None):
    return jnp.asarray(jnp.nan, dtype or jax.dtypes.canonicalize_dtype(float))


class BurstTarget(eqx.Module):
    """What to fit: a rate trace `t`, `r` (T,) (None when only features are known) and burst
    features `period`, `duty`, `peak`, `mean` (NaN where not given). Samples before `transient`
    are ignored by every loss. `stats` holds `jaxmf.analysis.trace_summary` of the trace after
    the transient (regime, period, ...: the numbers jaxmf reports everywhere), for reference
    (the losses use the smooth `burst_features`). `population` is the column of the
    simulated r that is compared. `offset` (T,), when given, is added to the simulated rate
    before every loss sees it (`fit(init='meanfield')` carries the network-minus-mean-field
    difference in it).

    Build it with `from_trace`, `from_network` or `from_features`.

    Attributes
    ----------
    t, r : jax.Array or None
        Shape (T,). The target trace (None for a feature target).
    period, duty, peak, mean : jax.Array
        The burst features (NaN where not given).
    stats : TraceSummary or None
        `jaxmf.analysis.trace_summary` of the trace after the transient.
    transient : float
        Samples before it are ignored by every loss.
    population : int
        The column of the simulated r that is compared.
    dt : float or None
        The trace's sample spacing.
    start : int
        The index of the first sample after the transient.
    offset : jax.Array or None
        Shape (T,). Added to the simulated rate before every loss.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets, solve_meanfield, BurstTarget
    >>> ts = jnp.arange(0.0, 100.5, 0.5)
    >>> sim = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.25), t1=100.0, ts=ts)
    >>> target = BurstTarget.from_trace(sim.t, sim.r, transient=50.0)
    >>> other = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.3), t1=100.0, ts=ts)
    >>> round(float(target.mean), 3), target.dt, target.start
    (0.176, 0.5, 100)
    >>> BurstTarget.from_features(period=20.0, mean=0.1).has_trace
    False
    """

    t: jax.Array | None
    r: jax.Array | None
    period: jax.Array
    duty: jax.Array
    peak: jax.Array
    mean: jax.Array
    stats: TraceSummary | None
    transient: float = eqx.field(static=True, default=0.0)
    population: int = eqx.field(static=True, default=0)
    dt: float | None = eqx.field(static=True, default=None)
    start: int = eqx.field(static=True, default=0)
    offset: jax.Array | None = None

    @classmethod
    def from_trace(
        cls, t, r, *, transient: float = 0.0, population: int = 0, sharpness: float = 0.02
    ) -> BurstTarget:
        """Target from a recorded rate r(t) on a uniform grid (a (T, P) array uses column
        `population`). Features are computed with `burst_features` (same definitions as the
        feature loss) after `transient`.

        Parameters
        ----------
        t : array_like
            Shape (T,). Uniform time grid, T >= 4.
        r : array_like
            Shape (T,) or (T, P). Rates, finite and >= 0.
        transient : float
            In [t[0], t[-1]); samples before it are ignored.
        population : int
            The column of a (T, P) `r`, and of the simulated rate.
        sharpness : float
            As in `burst_features`.

        Returns
        -------
        BurstTarget
            The target with its trace and features.

        Raises
        ------
        ParameterError
            For a non-uniform grid, mismatched shapes, a transient outside the trace, or
            negative or non-finite rates.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf import BurstTarget
        >>> t = jnp.arange(0.0, 100.25, 0.25)  # uniform to rounding
        >>> target = BurstTarget.from_trace(t, 1.0 + jnp.sin(2 * jnp.pi * t / 20.0))
        >>> target.start, target.dt, round(float(target.mean), 2)
        (0, 0.25, 1.0)
        """
        t = jnp.asarray(t)
        if not jnp.issubdtype(t.dtype, jnp.floating):
            t = t.astype(float)
        r = jnp.asarray(r)
        r = (r[:, population] if r.ndim == 2 else r).astype(t.dtype)
        if t.ndim != 1 or r.shape != t.shape or t.shape[0] < 4:
            raise ParameterError(
                "target", f"t and r must be 1-D of equal length >= 4; got {t.shape} and {r.shape}"
            )
        dt = np.diff(np.asarray(t))
        if not np.allclose(dt, dt[0], rtol=1e-6, atol=0):
            raise ParameterError("t", "must be a uniform time grid (resample the trace first)")
        if not float(t[0]) <= transient < float(t[-1]):
            raise ParameterError(
                "transient", f"must lie in [{float(t[0])}, {float(t[-1])}); got {transient}"
            )
        if not isinstance(r, jax.core.Tracer):
            values = np.asarray(r)
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                bad = values[~(np.isfinite(values) & (values >= 0))][:3].tolist()
                raise ParameterError("r", f"rates must be finite and >= 0; got {bad}")
        f = burst_features(t, r, transient=transient, sharpness=sharpness)
        keep = t >= transient
        stats = trace_summary(t[keep], r[keep])
        return cls(
            t=t,
            r=r,
            period=f.period,
            duty=f.duty,
            peak=f.peak,
            mean=f.mean,
            stats=stats,
            transient=float(transient),
            population=population,
            dt=float(dt[0]),
            start=int(np.argmax(np.asarray(keep))),
        )

    @classmethod
    def from_network(
        cls,
        result,
        *,
        transient: float = 0.0,
        population: int = 0,
        smooth_time: float = 1.0,
        dt: float | None = 0.5,
        sharpness: float = 0.02,
    ) -> BurstTarget:
        """Target from a network run (`NetworkResult` of `simulate_network`, a saved run from
        `jaxmf.io.load_network_result`, or anything with `t` (bin end times) and `r` (T, P)),
        e.g. to fit a mean field to it.

        The binned rate is smoothed by a centred moving average over `smooth_time` (finite-size
        spike noise), resampled every `dt` (a multiple of the bin width; None keeps every bin, a
        coarser grid makes every loss evaluation cheaper) and starts at t = 0 with r = 0 (the
        all-zero initial state, where `fit` starts its simulations). Each sample is the rate
        averaged over the bin ending there (half a bin of lag; negligible against burst
        periods).

        Parameters
        ----------
        result : NetworkResult
            Or anything with `t` (bin end times, from one bin width) and `r` (T, P).
        transient : float
            Samples before it are ignored.
        population : int
            The column of `r` to use.
        smooth_time : float
            Width of the centred moving average (time units).
        dt : float or None
            Resampling step, a multiple of the bin width (None keeps every bin).
        sharpness : float
            As in `burst_features`.

        Returns
        -------
        BurstTarget
            The target, starting at t = 0 with r = 0.

        Raises
        ------
        ParameterError
            For a batched result, a result that does not start at t = 0, or a `dt` that is not
            a multiple of the bin width.

        Examples
        --------
        >>> from jaxmf import presets, simulate_network, BurstTarget
        >>> run = simulate_network(presets.chen_campbell_2022(), n=200, t1=20.0, progress=False)
        >>> target = BurstTarget.from_network(run, transient=5.0, dt=0.5)
        >>> target.t.shape, float(target.t[0]), float(target.r[0])
        ((41,), 0.0, 0.0)
        """
        t = np.asarray(result.t, float)
        r = np.asarray(result.r, float)
        if r.ndim == 3:
            raise ParameterError(
                "result", "take one element of a batched result first (result.select(i))"
            )
        r = r[:, population] if r.ndim == 2 else r
        if t.ndim != 1 or t.shape != r.shape or t.size < 4:
            raise ParameterError(
                "result", f"needs t and r of equal length >= 4; got {t.shape} and {r.shape}"
            )
        width = float(t[1] - t[0])
        if not np.isclose(t[0], width, rtol=1e-6):
            raise ParameterError(
                "result",
                "must start at t = 0 (its first bin ends at one bin "
                f"width); got first time {t[0]:g} with bin {width:g}",
            )
        window = max(1, int(round(smooth_time / width)))
        r = np.asarray(moving_average(jnp.asarray(r), window))
        stride = 1 if dt is None else int(round(dt / width))
        if stride < 1 or not np.isclose(stride * width, dt or width, rtol=1e-6):
            raise ParameterError(
                "dt", f"must be a whole multiple of the bin width {width:g}; got {dt}"
            )
        r = np.concatenate([[0.0], r[stride - 1 :: stride]])
        t_new = stride * width * np.arange(r.size)
        dtype = jax.dtypes.canonicalize_dtype(float)
        return cls.from_trace(
            jnp.asarray(t_new, dtype),
            jnp.asarray(r, dtype),
            transient=transient,
            sharpness=sharpness,
        )

    def with_transient(self, transient: float) -> BurstTarget:
        """The same target with another transient (features are kept as they are).

        Parameters
        ----------
        transient : float
            The new transient.

        Returns
        -------
        BurstTarget
            A copy with the new transient and its first sample index.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf import BurstTarget
        >>> t = jnp.arange(0.0, 100.25, 0.25)
        >>> target = BurstTarget.from_trace(t, 1.0 + jnp.sin(2 * jnp.pi * t / 20.0))
        >>> later = target.with_transient(50.0)
        >>> later.transient, later.start
        (50.0, 200)
        """
        start = 0 if self.t is None else int(np.argmax(np.asarray(self.t) >= transient))
        return dataclasses.replace(self, transient=float(transient), start=start)

    @classmethod
    def from_features(
        cls,
        *,
        period=None,
        duty=None,
        peak=None,
        mean=None,
        transient: float = 0.0,
        population: int = 0,
    ) -> BurstTarget:
        """Target from burst features only (any subset; only `feature_loss` applies).

        Parameters
        ----------
        period : float, optional
            Burst period in time units, > 0.
        duty : float, optional
            Duty cycle, in (0, 1).
        peak, mean : float, optional
            Rates, >= 0.
        transient : float
            Samples of the simulation before it are ignored.
        population : int
            The column of the simulated rate that is compared.

        Returns
        -------
        BurstTarget
            A target without a trace; the features not given are NaN.

        Raises
        ------
        ParameterError
            When no feature is given or one is out of its range.

        Examples
        --------
        >>> from jaxmf import BurstTarget
        >>> target = BurstTarget.from_features(period=20.0, mean=0.1)
        >>> float(target.period), bool(target.duty != target.duty)  # duty not given: NaN
        (20.0, True)
        """
        given = dict(period=period, duty=duty, peak=peak, mean=mean)
        if all(v is None for v in given.values()):
            raise ParameterError("features", f"give at least one of {', '.join(FEATURES)}")
        allowed = {
            "period": ("> 0", lambda x: x > 0),
            "duty": ("in (0, 1)", lambda x: 0 < x < 1),
            "peak": (">= 0", lambda x: x >= 0),
            "mean": (">= 0", lambda x: x >= 0),
        }
        for name, value in given.items():
            if value is None or isinstance(value, jax.core.Tracer):
                continue
            what, ok = allowed[name]
            try:
                if isinstance(value, (str, bytes, bool)):
                    raise TypeError
                x = float(value)
            except (TypeError, ValueError):
                raise ParameterError(name, f"must be a number {what}; got {value!r}") from None
            if not (math.isfinite(x) and ok(x)):
                raise ParameterError(name, f"must be a finite number {what}; got {value!r}")
        if not (
            isinstance(transient, (int, float)) and math.isfinite(transient) and transient >= 0
        ):
            raise ParameterError("transient", f"must be a number >= 0; got {transient!r}")
        dtype = jax.dtypes.canonicalize_dtype(float)
        vals: dict[str, Any] = {
            k: _nan() if v is None else jnp.asarray(v, dtype) for k, v in given.items()
        }
        return cls(
            t=None, r=None, stats=None, transient=float(transient), population=population, **vals
        )

    @property
    def has_trace(self) -> bool:
        return self.r is not None


def _sim_rate(sim, target: BurstTarget):
    # A MeanFieldResult, a network result on the target's grid (see `fit`) or a plain array.
    r = jnp.asarray(sim.r if hasattr(sim, "r") else sim)
    r = r[:, target.population] if r.ndim == 2 else r
    return r if target.offset is None else r + target.offset.astype(r.dtype)


def _need_trace(target, name):
    if not target.has_trace:
        raise ParameterError(
            "target",
            f"{name} needs a target trace (BurstTarget.from_trace); "
            "use feature_loss for feature targets",
        )


def _check_smooth(smooth):
    if smooth is not None and not (isinstance(smooth, (int, float)) and smooth >= 0):
        raise ParameterError(
            "smooth", f"must be a number of time units >= 0 (or None); got {smooth!r}"
        )


def _smoothed_rate(sim, target, smooth):
    r = _sim_rate(sim, target).astype(target.r.dtype)
    if smooth:
        r = moving_average(r, max(1, int(round(smooth / target.dt))))
    return r


def trace_residuals(
    sim: MeanFieldResult, target: BurstTarget, *, smooth: float | None = None
) -> jax.Array:
    """Residuals of `trace_mse` (without alignment) for least-squares solvers such as
    `optimistix.LevenbergMarquardt`: (r_sim - r_target) / sqrt(n) at each of the n samples after
    the transient, 0 before it, so their sum of squares is `trace_mse(sim, target, smooth=smooth)`.

    Parameters
    ----------
    sim : MeanFieldResult or NetworkTrace
        The simulation, saved on the target's time grid.
    target : BurstTarget
        The target, with a trace.
    smooth : float, optional
        As in `trace_mse`.

    Returns
    -------
    jax.Array
        Shape (T,). The residuals.

    Raises
    ------
    ParameterError
        When the target has no trace, or `smooth` is invalid.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets, solve_meanfield, BurstTarget
    >>> ts = jnp.arange(0.0, 100.5, 0.5)
    >>> sim = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.25), t1=100.0, ts=ts)
    >>> target = BurstTarget.from_trace(sim.t, sim.r, transient=50.0)
    >>> other = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.3), t1=100.0, ts=ts)
    >>> from jaxmf import trace_mse, trace_residuals
    >>> res = trace_residuals(other, target)
    >>> res.shape, bool(jnp.isclose(jnp.sum(res**2), trace_mse(other, target)))
    ((201,), True)
    """
    _need_trace(target, "trace_residuals")
    _check_smooth(smooth)
    r = _smoothed_rate(sim, target, smooth)
    mask = _window(target.t, target.transient)
    return mask * (r - target.r) / jnp.sqrt(jnp.sum(mask))


def trace_mse(
    sim: MeanFieldResult,
    target: BurstTarget,
    *,
    align: float | None = None,
    temperature: float | None = None,
    smooth: float | None = None,
) -> jax.Array:
    """Mean-squared error between the simulated and target rate after the transient, with the
    simulation saved on the target's time grid.

    smooth: centred moving average of the simulated rate over `smooth` time units first (give the
    `smooth_time` the target was made with by `BurstTarget.from_network`, to compare burst shapes
    without the fast, phase-sensitive oscillations inside a network's bursts).

    align: largest time shift (time units) to search; the error is the minimum over integer
    sample shifts s in [-align, align] of mean (r_sim[i + s] - r_target[i])^2 over the samples
    valid for every shift (the window shrunk by `align` at both ends). The hard minimum is
    differentiable except where the best shift changes; `temperature` replaces it with a softmin,
    -T log mean exp(-mse_s / T), smooth everywhere (T in squared-rate units).

    Parameters
    ----------
    sim : MeanFieldResult or NetworkTrace
        The simulation, saved on the target's time grid.
    target : BurstTarget
        The target, with a trace.
    align : float, optional
        Largest time shift to search (time units).
    temperature : float, optional
        Softmin temperature over the shifts.
    smooth : float, optional
        Moving-average width for the simulated rate (time units).

    Returns
    -------
    jax.Array
        The scalar error.

    Raises
    ------
    ParameterError
        When the target has no trace, or `align` leaves no samples.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets, solve_meanfield, BurstTarget
    >>> ts = jnp.arange(0.0, 100.5, 0.5)
    >>> sim = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.25), t1=100.0, ts=ts)
    >>> target = BurstTarget.from_trace(sim.t, sim.r, transient=50.0)
    >>> other = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.3), t1=100.0, ts=ts)
    >>> from jaxmf import trace_mse
    >>> float(trace_mse(sim, target)), round(float(trace_mse(other, target)), 5)
    (0.0, 0.00021)
    """
    if not align:
        return jnp.sum(trace_residuals(sim, target, smooth=smooth) ** 2)
    _check_smooth(smooth)
    r = _smoothed_rate(sim, target, smooth)
    k = int(round(align / target.dt))
    n = r.shape[0]
    if n - 2 * k - target.start < 2:
        raise ParameterError("align", f"{align} leaves no samples after the transient")
    idx = jnp.arange(n)
    # Shifted samples must stay after the transient and inside the trace.
    valid = ((idx >= target.start + k) & (idx < n - k)).astype(r.dtype)

    def mse(s):
        shifted = r[jnp.clip(idx + s, 0, n - 1)]
        return jnp.sum(valid * (shifted - target.r) ** 2) / jnp.maximum(jnp.sum(valid), 1.0)

    errs = jax.vmap(mse)(jnp.arange(-k, k + 1))
    if temperature is None:
        return jnp.min(errs)
    temp = jnp.asarray(temperature, errs.dtype)
    n_shifts = jnp.asarray(errs.shape[0], errs.dtype)
    return -temp * (jax.nn.logsumexp(-errs / temp) - jnp.log(n_shifts))


def spectral_loss(
    sim: MeanFieldResult,
    target: BurstTarget,
    *,
    kind: str = "autocorrelation",
    max_lag: float | None = None,
) -> jax.Array:
    """Phase-independent distance between simulated and target rate after the transient.

    kind='autocorrelation': mean squared difference of the normalised autocorrelations at lags up
    to `max_lag` (default: half the window), smooth in the burst period and shape.
    kind='power': squared L2 distance between power spectra (Hann window) normalised to unit sum.
    Both ignore the phase (and the mean rate; add `feature_loss` for it).

    Parameters
    ----------
    sim : MeanFieldResult or NetworkTrace
        The simulation, saved on the target's time grid.
    target : BurstTarget
        The target, with a trace.
    kind : str
        'autocorrelation' or 'power'.
    max_lag : float, optional
        Largest lag compared (time units; 'autocorrelation' only).

    Returns
    -------
    jax.Array
        The scalar distance.

    Raises
    ------
    ParameterError
        When the target has no trace, or `kind` is unknown.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets, solve_meanfield, BurstTarget
    >>> ts = jnp.arange(0.0, 100.5, 0.5)
    >>> sim = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.25), t1=100.0, ts=ts)
    >>> target = BurstTarget.from_trace(sim.t, sim.r, transient=50.0)
    >>> other = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.3), t1=100.0, ts=ts)
    >>> from jaxmf import spectral_loss
    >>> float(spectral_loss(sim, target)), bool(spectral_loss(other, target, kind="power") >= 0)
    (0.0, True)
    """
    _need_trace(target, "spectral_loss")
    r = _sim_rate(sim, target).astype(target.r.dtype)
    mask = _window(target.t, target.transient)
    if kind == "autocorrelation":
        n_win = r.shape[0] - target.start
        n_lag = n_win // 2 if max_lag is None else min(int(round(max_lag / target.dt)) + 1, n_win)
        ac_sim, _ = _autocorrelation(r, mask)
        ac_tgt, _ = _autocorrelation(target.r, mask)
        return jnp.mean((ac_sim[:n_lag] - ac_tgt[:n_lag]) ** 2)
    if kind == "power":
        start = target.start
        n_win = r.shape[0] - start
        hann = jnp.asarray(np.hanning(n_win), r.dtype)

        def spectrum(x):
            seg = jax.lax.dynamic_slice_in_dim(x, start, n_win)
            seg = (seg - jnp.mean(seg)) * hann
            p = jnp.abs(jnp.fft.rfft(seg)) ** 2
            return p / (jnp.sum(p) + jnp.asarray(1e-30, r.dtype))

        return jnp.sum((spectrum(r) - spectrum(target.r)) ** 2)
    raise ParameterError("kind", f"must be 'autocorrelation' or 'power'; got {kind!r}")


def feature_residuals(
    sim: MeanFieldResult, target: BurstTarget, *, weights=None, sharpness: float = 0.02
) -> jax.Array:
    """Residuals of `feature_loss` for least-squares solvers: sqrt(weight) * (sim - target) /
    target for period, duty, peak and mean in that order (0 for features the target does not
    give), so their sum of squares is `feature_loss`.

    Parameters
    ----------
    sim : MeanFieldResult or NetworkTrace
        The simulation.
    target : BurstTarget
        The target's features.
    weights : dict of str to float, optional
        Feature -> weight >= 0 (default 1 each).
    sharpness : float
        As in `burst_features`.

    Returns
    -------
    jax.Array
        Shape (4,). The residuals.

    Raises
    ------
    ParameterError
        For unknown features or negative weights.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets, solve_meanfield, BurstTarget
    >>> ts = jnp.arange(0.0, 100.5, 0.5)
    >>> sim = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.25), t1=100.0, ts=ts)
    >>> target = BurstTarget.from_trace(sim.t, sim.r, transient=50.0)
    >>> other = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.3), t1=100.0, ts=ts)
    >>> from jaxmf import feature_loss, feature_residuals
    >>> res = feature_residuals(other, target)
    >>> res.shape, bool(jnp.isclose(jnp.sum(res**2), feature_loss(other, target)))
    ((4,), True)
    """
    t = sim.t
    f = burst_features(
        t, _sim_rate(sim, target).astype(t.dtype), transient=target.transient, sharpness=sharpness
    )
    weights = {} if weights is None else dict(weights)
    unknown = set(weights) - set(FEATURES)
    if unknown:
        raise ParameterError("weights", f"unknown features {sorted(unknown)}; known: {FEATURES}")
    bad = {
        k: w
        for k, w in weights.items()
        if np.ndim(w) != 0 or (not isinstance(w, jax.core.Tracer) and not float(w) >= 0)
    }
    if bad:
        raise ParameterError("weights", f"must be numbers >= 0; got {bad}")
    out = []
    for name in FEATURES:
        goal = jnp.asarray(getattr(target, name), t.dtype)
        given = jnp.isfinite(goal)
        safe_goal = jnp.where(given, goal, 1.0)
        rel = (getattr(f, name) - safe_goal) / safe_goal
        weight = jnp.asarray(weights.get(name, 1.0), t.dtype)
        out.append(jnp.where(given, jnp.sqrt(weight) * rel, 0.0))
    return jnp.stack(out)


def feature_loss(
    sim: MeanFieldResult, target: BurstTarget, *, weights=None, sharpness: float = 0.02
) -> jax.Array:
    """Sum over the target's given features of weight * ((sim - target) / target)^2, with the
    simulated features from `burst_features` (differentiable; see there) after the transient.

    Parameters
    ----------
    sim : MeanFieldResult or NetworkTrace
        The simulation.
    target : BurstTarget
        The target's features.
    weights : dict of str to float, optional
        Feature -> weight >= 0 (default 1 for each of period, duty, peak, mean).
    sharpness : float
        As in `burst_features`.

    Returns
    -------
    jax.Array
        The scalar loss.

    Raises
    ------
    ParameterError
        For unknown features or negative weights.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets, solve_meanfield, BurstTarget
    >>> ts = jnp.arange(0.0, 100.5, 0.5)
    >>> sim = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.25), t1=100.0, ts=ts)
    >>> target = BurstTarget.from_trace(sim.t, sim.r, transient=50.0)
    >>> other = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.3), t1=100.0, ts=ts)
    >>> from jaxmf import feature_loss
    >>> float(feature_loss(sim, target)), round(float(feature_loss(other, target)), 3)
    (0.0, 0.027)
    >>> float(feature_loss(other, BurstTarget.from_features(mean=float(target.mean)),
    ...                    weights={"mean": 0.0}))
    0.0
    """
    return jnp.sum(feature_residuals(sim, target, weights=weights, sharpness=sharpness) ** 2)


class Identity(eqx.Module):
    """x = scale * u: unconstrained, optimised in units of `scale` (the initial magnitude), so one
    learning rate suits parameters of different sizes.

    Attributes
    ----------
    scale : jax.Array
        The unit.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf._fit import Identity
    >>> float(Identity(jnp.asarray(4.0)).inverse(2.0))
    0.5
    """

    scale: jax.Array

    def forward(self, u):
        """The parameter value of an optimiser coordinate, scale * u.

        Parameters
        ----------
        u : jax.Array
            The optimiser's coordinate.

        Returns
        -------
        jax.Array
            The parameter value.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf._fit import Identity
        >>> float(Identity(jnp.asarray(4.0)).forward(0.5))
        2.0
        """
        return self.scale * u

    def inverse(self, x):
        """The optimiser coordinate of a parameter value, x / scale.

        Parameters
        ----------
        x : jax.Array
            The parameter value.

        Returns
        -------
        jax.Array
            The optimiser's coordinate.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf._fit import Identity
        >>> float(Identity(jnp.asarray(4.0)).inverse(2.0))
        0.5
        """
        return x / self.scale


class Log(eqx.Module):
    """x = exp(u): positive, optimised in relative (log) units.

    Examples
    --------
    >>> from jaxmf._fit import Log
    >>> round(float(Log().forward(Log().inverse(2.0))), 6)
    2.0
    """

    def forward(self, u):
        """The parameter value of an optimiser coordinate, exp(u) (always > 0).

        Parameters
        ----------
        u : jax.Array
            The optimiser's coordinate.

        Returns
        -------
        jax.Array
            The parameter value.

        Examples
        --------
        >>> from jaxmf._fit import Log
        >>> float(Log().forward(0.0))
        1.0
        """
        return jnp.exp(u)

    def inverse(self, x):
        """The optimiser coordinate of a positive parameter value, log(x).

        Parameters
        ----------
        x : jax.Array
            The parameter value (> 0).

        Returns
        -------
        jax.Array
            The optimiser's coordinate.

        Examples
        --------
        >>> from jaxmf._fit import Log
        >>> float(Log().inverse(1.0))
        0.0
        """
        return jnp.log(x)


class Sigmoid(eqx.Module):
    """x = lo + (hi - lo) sigmoid(u): bounded to (lo, hi).

    Attributes
    ----------
    lo, hi : jax.Array
        The bounds.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf._fit import Sigmoid
    >>> float(Sigmoid(jnp.asarray(0.0), jnp.asarray(1.0)).forward(0.0))  # the middle
    0.5
    """

    lo: jax.Array
    hi: jax.Array

    def forward(self, u):
        """The parameter value of an optimiser coordinate, inside (lo, hi).

        Parameters
        ----------
        u : jax.Array
            The optimiser's coordinate.

        Returns
        -------
        jax.Array
            The parameter value.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf._fit import Sigmoid
        >>> float(Sigmoid(jnp.asarray(1.0), jnp.asarray(3.0)).forward(0.0))
        2.0
        """
        return self.lo + (self.hi - self.lo) * jax.nn.sigmoid(u)

    def inverse(self, x):
        """The optimiser coordinate of a parameter value in (lo, hi), the logit of its position.

        Parameters
        ----------
        x : jax.Array
            The parameter value, lo < x < hi.

        Returns
        -------
        jax.Array
            The optimiser's coordinate.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf._fit import Sigmoid
        >>> float(Sigmoid(jnp.asarray(1.0), jnp.asarray(3.0)).inverse(2.0))
        0.0
        """
        q = (x - self.lo) / (self.hi - self.lo)
        return jnp.log(q) - jnp.log1p(-q)


def _bijector(name, value, bounds):
    if name in bounds:
        lo, hi = (float(b) for b in bounds[name])
        if not lo < hi:
            raise ParameterError("bounds", f"{name}: need lo < hi; got ({lo}, {hi})")
        # Traced values (fit inside the user's jit / vmap) cannot be checked here.
        v = None if isinstance(value, jax.core.Tracer) else np.asarray(value)
        if v is not None and (np.any(v <= lo) or np.any(v >= hi)):
            raise ParameterError(name, f"initial value {v.tolist()} is outside bounds ({lo}, {hi})")
        return Sigmoid(jnp.asarray(lo, value.dtype), jnp.asarray(hi, value.dtype))
    if name in POSITIVE_FIELDS:
        if not isinstance(value, jax.core.Tracer) and np.any(np.asarray(value) <= 0):
            raise ParameterError(
                name, f"must be > 0 to be fitted (log transform); got {np.asarray(value).tolist()}"
            )
        return Log()
    scale = jnp.where(jnp.abs(value) > 0, jnp.abs(value), 1.0)
    return Identity(scale)


class FitResult(eqx.Module):
    """Outcome of `fit`, one entry per start.

    params: `Params` batched over starts (fields (n_starts, P)): each start's best parameters.
    best_params: the start with the lowest loss. loss_history (steps, n_starts): loss at each
    iteration, NaN after a start stopped. final_loss (n_starts,): lowest loss reached (NaN if a
    start diverged before any finite loss). status: a `jaxmf.RESULTS` item batched over starts:
    successful (`OK`, converged by the tolerance), diverged (`DIVERGED`: loss, gradient or solve
    failed; frozen at its last finite point) or max_steps_reached (`MAX_STEPS`); compare with
    `res.status == jaxmf.RESULTS.successful`. converged (n_starts,) bool: status is successful.
    n_iterations (n_starts,): gradient steps taken. best_index: argmin of final_loss. initial
    (dict name -> (n_starts, P)): the starting values.

    Attributes
    ----------
    params : Params
        Batched over starts (fields (n_starts, P)): each start's best parameters.
    best_params : Params
        The start with the lowest loss.
    loss_history : jax.Array
        Shape (steps, n_starts). Loss at each iteration, NaN after a start stopped.
    final_loss : jax.Array
        Shape (n_starts,). Lowest loss reached.
    converged : jax.Array
        Shape (n_starts,). True where the status is successful.
    status : RESULTS
        Batched over starts: successful, diverged or max_steps_reached.
    n_iterations : jax.Array
        Shape (n_starts,). Gradient steps taken.
    best_index : jax.Array
        The argmin of final_loss.
    initial : dict
        Name -> (n_starts, P): the starting values.
    free : tuple of str
        The fitted fields.
    message : str
        Why starts did not converge ('' when all did).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets, solve_meanfield, BurstTarget, fit
    >>> ts = jnp.arange(0.0, 100.5, 0.5)
    >>> sim = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.25), t1=100.0, ts=ts)
    >>> target = BurstTarget.from_trace(sim.t, sim.r, transient=50.0)
    >>> res = fit(presets.chen_campbell_2022(eta_bar=0.3), target, free=("eta_bar",),
    ...           n_starts=2, steps=30)
    >>> res.values("eta_bar").shape, round(float(res.best_params.eta_bar[0]), 3)
    ((2, 1), 0.25)
    """

    params: Params
    best_params: Params
    loss_history: jax.Array
    final_loss: jax.Array
    converged: jax.Array
    status: RESULTS
    n_iterations: jax.Array
    best_index: jax.Array
    initial: dict
    free: tuple = eqx.field(static=True)

    def values(self, name: str) -> jax.Array:
        """Fitted values of a free parameter.

        Parameters
        ----------
        name : str
            A field of `free`.

        Returns
        -------
        jax.Array
            Shape (n_starts, P).

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf import presets, solve_meanfield, BurstTarget, fit
        >>> ts = jnp.arange(0.0, 100.5, 0.5)
        >>> sim = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.25), t1=100.0, ts=ts)
        >>> target = BurstTarget.from_trace(sim.t, sim.r, transient=50.0)
        >>> res = fit(presets.chen_campbell_2022(eta_bar=0.3), target, free=("eta_bar",),
        ...           n_starts=2, steps=30)
        >>> [round(float(x), 2) for x in res.values("eta_bar")[:, 0]]  # one per start
        [0.25, 0.25]
        """
        return getattr(self.params, name)

    @property
    def message(self) -> str:
        """Why starts did not converge ('' when all did)."""
        return status_message(self.status)


class _Config(NamedTuple):
    free: tuple
    t1: float
    steps: int
    tol: float
    patience: int
    rtol: float
    atol: float
    max_steps: int
    mf_model: str
    network: ThetaNetwork | None = None  # None: fit the mean field
    record_every: int = 0
    progress: bool = False
    i_ext: Callable | None = None  # an input in time (its arrays are traced by filter_jit)
    # A fixed, concretely zero delay: solve the undelayed model (traced, it would take the DDE).
    undelayed: bool = False


class _Reporter:
    """The fit's progress line, fed from inside the compiled loop (`jax.debug.callback`, once per
    start and iteration, in any order of starts): an iteration is reported with the lowest loss
    of its running starts once a later iteration begins (or at the end)."""

    def __init__(self, progress: Progress, n_starts: int):
        self.progress, self.n_starts = progress, n_starts
        self.k = -1
        self.losses: dict[int, float] = {}

    def add(self, start: int, k: int, value: float) -> None:
        if k > self.k:
            self.flush()
            self.k, self.losses = k, {}
        self.losses[start] = value

    def flush(self) -> None:
        if self.losses:
            finite = [v for v in self.losses.values() if math.isfinite(v)]
            best = min(finite) if finite else math.nan
            self.progress.update(
                self.k + 1,
                f"loss {best:.6g} ({len(self.losses)} of {self.n_starts} starts running),",
            )
            self.losses = {}


_REPORTERS: list[_Reporter] = []  # the progress of the fit running now (compiled loops are shared)


def _report(start, k, val, running):
    if not bool(running):
        return
    if _REPORTERS:
        _REPORTERS[-1].add(int(start), int(k), float(val))
    else:  # a fit under the user's own jit, running after `fit` returned
        Progress("fit", 1).print(f"start {int(start)} iteration {int(k) + 1} loss {float(val):.6g}")


class NetworkTrace(NamedTuple):
    """A `ThetaNetwork` simulation on the target's grid, as the losses see it: `t` (T,), `r`,
    `v`, `w`, `s` (T, P) with the all-zero initial state at t = 0 followed by the bin averages
    (rate) and end-of-bin values of each later grid interval, and `status` (`simulate_theta`'s).

    Attributes
    ----------
    t : jax.Array
        Shape (T,). The target's grid.
    r, v, w, s : jax.Array
        Shape (T, P). Rate (bin averages), mean v, w and s (bin ends), zero at t = 0.
    status : RESULTS
        The status of `simulate_theta`.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets, simulate_on_grid, ThetaNetwork
    >>> trace = simulate_on_grid(presets.chen_campbell_2022(), jnp.arange(0.0, 5.5, 0.5),
    ...                          ThetaNetwork(n=100, dt=1e-2), record_every=50)
    >>> trace._fields
    ('t', 'r', 'v', 'w', 's', 'status')
    """

    t: jax.Array
    r: jax.Array
    v: jax.Array
    w: jax.Array
    s: jax.Array
    status: RESULTS


def simulate_on_grid(
    params: Params, ts, network: ThetaNetwork, record_every: int, *, throw: bool = True, i_ext=None
) -> NetworkTrace:
    """Simulate the differentiable network (`jaxmf.netfit.simulate_theta`) to ts[-1] and give it
    on the uniform grid `ts` (ts[0] = 0, spacing `record_every * network.dt`).

    Parameters
    ----------
    params : Params
        The model parameters.
    ts : jax.Array
        Shape (T,). The uniform grid, from 0.
    network : ThetaNetwork
        The network's settings.
    record_every : int
        Steps of `network.dt` per grid interval.
    throw : bool
        As for `jaxmf.netfit.simulate_theta`: raise when the state becomes non-finite; with
        False the trace comes back with status diverged.
    i_ext : jaxmf.inputs.Input or callable, optional
        An input in time (`simulate_theta`'s `i_ext`).

    Returns
    -------
    NetworkTrace
        The simulation on `ts`, with the all-zero state at t = 0.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets, simulate_on_grid, ThetaNetwork
    >>> trace = simulate_on_grid(presets.chen_campbell_2022(), jnp.arange(0.0, 5.5, 0.5),
    ...                          ThetaNetwork(n=100, dt=1e-2), record_every=50)
    >>> trace.r.shape, float(trace.r[0, 0])
    ((11, 1), 0.0)
    """
    t1 = (ts.shape[0] - 1) * record_every * network.dt  # static, also when ts is traced
    res = simulate_theta(
        params, t1, record_every, model=network, dtype=ts.dtype, throw=throw, i_ext=i_ext
    )
    pad = lambda x: jnp.concatenate([jnp.zeros((1, x.shape[1]), x.dtype), x])
    return NetworkTrace(
        t=ts, r=pad(res.r), v=pad(res.v_mean), w=pad(res.w_mean), s=pad(res.s), status=res.status
    )


def _make_loss(params, target, ts, bijectors, loss, adjoint, cfg: _Config):
    # A fixed zero delay is the undelayed model (the ODE solver); dropped here, outside the
    # traced loss, so that no run-time check enters the compiled program.
    base = params.replace(delay=None) if cfg.undelayed else params

    def value(u):
        x = {n: bijectors[n].forward(u[n].astype(ts.dtype)) for n in cfg.free}
        # Out-of-range values (bounds wider than a field's range, or an underflowing log
        # transform) count as a failed evaluation, like a failed solve: the point is rejected
        # (least squares) or the start stops as diverged. Checked here, not by equinox.error_if
        # inside Params, whose host callback would keep the fit out of the compilation cache.
        p, out_of_range = replace_deferred(base, **x)
        if cfg.network is None:
            sim = solve_meanfield(
                p,
                cfg.t1,
                ts=ts,
                model=cfg.mf_model,
                rtol=cfg.rtol,
                atol=cfg.atol,
                max_steps=cfg.max_steps,
                # The delayed model has its own DDE solver and derivatives.
                adjoint=None if p.delay is not None else adjoint,
                throw=False,
                i_ext=cfg.i_ext,
            )
        else:
            sim = simulate_on_grid(
                p, ts, cfg.network, cfg.record_every, throw=False, i_ext=cfg.i_ext
            )
        return jnp.asarray(loss(sim, target), ts.dtype), _failed(sim.status) | (out_of_range != 0)

    return value


def _failed(status) -> jax.Array:
    """True where a simulation's status (a `RESULTS` item, or an integer code with 0 = ok) says
    it failed."""
    if isinstance(status, type(RESULTS.successful)):
        return jnp.asarray(status != RESULTS.successful)
    return jnp.asarray(status) != 0


def _reverse_via_forward(value):
    """`value` (u -> (loss, status)) with its reverse-mode derivative computed in forward mode:
    one solve carrying a tangent per free unknown (jacfwd through `diffrax.ForwardMode`), ~2x a
    plain solve for a few unknowns where reverse mode through checkpoints costs ~7x. Any
    reverse-mode consumer (our loop, optax line searches) can then differentiate it."""

    def with_value(u):
        val, status = value(u)
        return val, (val, status)

    @jax.custom_vjp
    def f(u):
        return value(u)

    def fwd(u):
        grad, out = jax.jacfwd(with_value, has_aux=True)(u)
        return out, grad

    def bwd(grad, cotangents):
        g = cotangents[0]
        return (jax.tree.map(lambda x: g * x, grad),)

    f.defvjp(fwd, bwd)
    return f


class _Carry(NamedTuple):
    """Per-start loop state (batched over starts); what a fit checkpoint holds."""

    k: jax.Array
    u: dict
    opt: object  # optax state, or the array part of the optimistix solver state
    best: jax.Array
    best_u: dict
    stalled: jax.Array
    status: jax.Array  # -1 while running
    history: jax.Array
    last_u: dict  # least squares: the last accepted point, not yet evaluated by a step

    @classmethod
    def start(cls, u_init: dict, opt, dtype, steps: int) -> _Carry:
        """The state of a start before its first iteration."""
        running, none_yet = jnp.asarray(-1), jnp.asarray(0)
        return cls(
            none_yet,
            u_init,
            opt,
            jnp.asarray(jnp.inf, dtype),
            u_init,
            none_yet,
            running,
            jnp.full((steps,), jnp.nan, dtype),
            u_init,
        )


def _all_finite(tree):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _select(flag, a, b):
    return jax.tree.map(lambda x, y: jnp.where(flag, x, y), a, b)


def _bookkeeping(c: _Carry, val, ok, bad, cfg: _Config, done=False):
    """Best point, stall count and status after evaluating c.u (loss val)."""
    running = c.status < 0
    improved = val < c.best - cfg.tol * jnp.abs(c.best)
    improved = improved | (~jnp.isfinite(c.best) & jnp.isfinite(val))
    better = running & ok & (val < c.best)
    best = jnp.where(better, val, c.best)
    best_u = _select(better, c.u, c.best_u)
    stalled = jnp.where(improved, 0, c.stalled + 1)
    status = jnp.where(
        running & bad,
        _DIVERGED,
        jnp.where(running & (done | (stalled >= cfg.patience)), _OK, c.status),
    )
    history = c.history.at[c.k].set(jnp.where(running, val, jnp.nan))
    return best, best_u, stalled, status, history


def _optax_loop(params, target, ts, u_ref, bijectors, optimizer, loss, adjoint, cfg: _Config):
    """(init(u, index) -> _Carry, body(_Carry) -> _Carry, finish(_Carry) -> _Carry) of one start
    of an optax optimiser."""
    value = _make_loss(params, target, ts, bijectors, loss, adjoint, cfg)
    if isinstance(adjoint, diffrax.ForwardMode):
        value = _reverse_via_forward(value)
    value_and_grad = jax.value_and_grad(value, has_aux=True)
    optimizer = optax.with_extra_args_support(optimizer)

    def value_fn(u):  # for optimisers with line searches (optax.lbfgs): failed solves count as inf
        val, status = value(u)
        return jnp.where(~status & jnp.isfinite(val), val, jnp.inf)

    def init(u_init, index):
        with jax.numpy_dtype_promotion("standard"):
            opt0 = optimizer.init(u_init)
        return _Carry.start(u_init, opt0, ts.dtype, cfg.steps)

    def body(c: _Carry, index):
        running = c.status < 0
        # A diverged start is evaluated at the reference point (known to solve) and ignored,
        # so a failing solve does not slow every later batched iteration.
        u_eval = _select(c.status == _DIVERGED, u_ref, c.u)
        (val, solve_status), grad = value_and_grad(u_eval)
        if cfg.progress:
            jax.debug.callback(_report, index, c.k, val, running)
        bad = ~jnp.isfinite(val) | solve_status | ~_all_finite(grad)
        best, best_u, stalled, status, history = _bookkeeping(c, val, ~bad, bad, cfg)
        grad = jax.tree.map(lambda g: jnp.where(bad, jnp.zeros_like(g), g), grad)
        with jax.numpy_dtype_promotion("standard"):  # optax mixes int counts and floats
            updates, opt = optimizer.update(
                grad, c.opt, c.u, value=val, grad=grad, value_fn=value_fn
            )
        u_new = optax.apply_updates(c.u, updates)
        move = running & ~bad
        return _Carry(
            c.k + 1,
            _select(move, u_new, c.u),
            _select(move, opt, c.opt),
            best,
            best_u,
            stalled,
            status,
            history,
            c.last_u,
        )

    return init, body, lambda c: c


def _least_squares_loop(params, target, ts, u_ref, bijectors, solver, loss, adjoint, cfg: _Config):
    """`_optax_loop` for an optimistix least-squares solver: the loss gives residuals and each
    start is iterated with the solver's own init / step / terminate (one Jacobian per step, in
    forward mode unless a reverse-mode adjoint was asked for)."""
    value = _make_loss(params, target, ts, bijectors, loss, adjoint, cfg)

    def fn(u, args):
        res, status = value(u)
        # A failed solve gives NaN residuals, which the solvers' searches reject. The solver
        # works in the unknowns' dtype (float64 under x64, see `fit`) throughout.
        res = jnp.where(~status & jnp.all(jnp.isfinite(res)), res, jnp.nan)
        res = res.astype(jax.tree.leaves(u)[0].dtype)
        return res, (jnp.sum(res * res).astype(ts.dtype), status)

    options = {
        "jac": "fwd" if adjoint is None or isinstance(adjoint, diffrax.ForwardMode) else "bwd"
    }
    tags: frozenset = frozenset()
    f_struct, aux_struct = jax.eval_shape(fn, u_ref, None)
    solver_init = lambda u: solver.init(fn, u, None, options, f_struct, aux_struct, tags)
    static = eqx.partition(solver_init(u_ref), eqx.is_array)[1]
    dyn_ref = eqx.partition(solver_init(u_ref), eqx.is_array)[0]

    def init(u_init, index):
        dyn0 = eqx.partition(solver_init(u_init), eqx.is_array)[0]
        return _Carry.start(u_init, dyn0, ts.dtype, cfg.steps)

    def body(c: _Carry, index):
        running = c.status < 0
        state = eqx.combine(c.opt, static)
        # `step` evaluates a trial point and returns the loss at the accepted point c.u.
        u_new, state_new, (val, solve_status) = solver.step(fn, c.u, None, options, state, tags)
        done, result = solver.terminate(fn, u_new, None, options, state_new, tags)
        if cfg.progress:
            jax.debug.callback(_report, index, c.k, val, running)
        ok = jnp.isfinite(val) & ~solve_status
        bad = ~ok | ~_all_finite(u_new) | (result != optx.RESULTS.successful)
        best, best_u, stalled, status, history = _bookkeeping(c, val, ok, bad, cfg, done)
        # A start that stopped restarts from the reference point (known to solve), so its
        # idle iterations in the batch cost no failing solves; its results are frozen.
        moving = status < 0
        dyn_new = eqx.partition(state_new, eqx.is_array)[0]
        last_u = _select(running & ~bad, u_new, c.last_u)
        return _Carry(
            c.k + 1,
            _select(moving, u_new, u_ref),
            _select(moving, dyn_new, dyn_ref),
            best,
            best_u,
            stalled,
            status,
            history,
            last_u,
        )

    def finish(c: _Carry):
        # The last accepted point has not been evaluated by a step: one more solve.
        _, (val, solve_status) = fn(c.last_u, None)
        better = jnp.isfinite(val) & ~solve_status & (val < c.best)
        return c._replace(
            best=jnp.where(better, val, c.best), best_u=_select(better, c.last_u, c.best_u)
        )

    return init, body, finish


def _loop(least_squares, *args):
    return (_least_squares_loop if least_squares else _optax_loop)(*args)


def _indices(u):
    return jnp.arange(jax.tree.leaves(u)[0].shape[0])


def _start_impl(
    least_squares, params, target, ts, u0, u_ref, bijectors, optimizer, loss, adjoint, cfg: _Config
):
    init, _, _ = _loop(
        least_squares, params, target, ts, u_ref, bijectors, optimizer, loss, adjoint, cfg
    )
    return jax.vmap(init)(u0, _indices(u0))


_start = eqx.filter_jit(_start_impl)


def _advance_impl(
    least_squares,
    params,
    target,
    ts,
    carry,
    u_ref,
    bijectors,
    optimizer,
    loss,
    adjoint,
    cfg: _Config,
    k_stop,
):
    _, body, _ = _loop(
        least_squares, params, target, ts, u_ref, bijectors, optimizer, loss, adjoint, cfg
    )

    def one_start(c, index):
        return jax.lax.while_loop(
            lambda c: (c.k < k_stop) & (c.status < 0), lambda c: body(c, index), c
        )

    return jax.vmap(one_start)(carry, _indices(carry.u))


_advance = eqx.filter_jit(_advance_impl)


def _finish_impl(
    least_squares,
    params,
    target,
    ts,
    carry,
    u_ref,
    bijectors,
    optimizer,
    loss,
    adjoint,
    cfg: _Config,
):
    _, _, finish = _loop(
        least_squares, params, target, ts, u_ref, bijectors, optimizer, loss, adjoint, cfg
    )
    c = jax.vmap(finish)(carry)
    status = jnp.where(c.status < 0, _MAX_STEPS, c.status)
    n_iter = jnp.sum(jnp.isfinite(c.history), axis=1)
    x = {n: bijectors[n].forward(c.best_u[n].astype(ts.dtype)) for n in cfg.free}
    # Every start's best point passed the range check when it was evaluated (the starting
    # values were checked on the host).
    batched = jax.vmap(lambda xi: replace_deferred(params, **xi)[0])(x)
    final = jnp.where(jnp.isfinite(c.best), c.best, jnp.nan)
    best_index = jnp.argmin(jnp.where(jnp.isfinite(final), final, jnp.inf))
    best_params = replace_deferred(params, **{n: x[n][best_index] for n in cfg.free})[0]
    return batched, best_params, c.history.T, final, status, n_iter, best_index


_finish = eqx.filter_jit(_finish_impl)


@eqx.filter_jit
def _run(
    least_squares, params, target, ts, u0, u_ref, bijectors, optimizer, loss, adjoint, cfg: _Config
):
    """The whole fit as one compiled loop (no checkpoints)."""
    carry = _start_impl(
        least_squares, params, target, ts, u0, u_ref, bijectors, optimizer, loss, adjoint, cfg
    )
    carry = _advance_impl(
        least_squares,
        params,
        target,
        ts,
        carry,
        u_ref,
        bijectors,
        optimizer,
        loss,
        adjoint,
        cfg,
        cfg.steps,
    )
    return _finish_impl(
        least_squares, params, target, ts, carry, u_ref, bijectors, optimizer, loss, adjoint, cfg
    )


class FitInterrupted(Interrupted):
    """Ctrl-C during a `fit` with a `checkpoint`: the iterations up to the last checkpoint are
    saved there; calling `fit` again with the same arguments resumes from them. `iteration` is
    the last saved iteration, `checkpoint` the path (also in `.resume`).

    Parameters
    ----------
    message : str
        What happened.
    iteration : int
        The last saved iteration.
    checkpoint : pathlib.Path
        The checkpoint file.

    Attributes
    ----------
    iteration : int
        The last saved iteration.
    checkpoint : pathlib.Path
        The checkpoint file (also in `.resume`).

    Examples
    --------
    >>> from pathlib import Path
    >>> from jaxmf import FitInterrupted
    >>> err = FitInterrupted("interrupted", 10, Path("fit.ckpt"))
    >>> err.iteration, err.resume
    (10, 'fit.ckpt')
    """

    def __init__(self, message: str, iteration: int, checkpoint: Path):
        super().__init__(message, resume=str(checkpoint))
        self.iteration, self.checkpoint = iteration, checkpoint


def _fingerprint(least_squares, params, target, u0, optimizer, loss, cfg: _Config) -> dict:
    """What must match for a checkpoint to be resumed: the problem, the starts, the settings."""
    problem = [
        np.asarray(leaf)
        for leaf in jax.tree.leaves(
            (params, target.t, target.r if target.has_trace else None, target.offset)
        )
        + [x for x in jax.tree.leaves(cfg.i_ext) if eqx.is_array(x)]
    ]
    name = lambda obj: getattr(obj, "__name__", None) or type(obj).__name__
    return {
        "free": list(cfg.free),
        "u0": {n: np.asarray(u0[n]).tolist() for n in cfg.free},
        "steps": cfg.steps,
        "tol": cfg.tol,
        "patience": cfg.patience,
        "t1": cfg.t1,
        "model": repr(cfg.network) if cfg.network is not None else cfg.mf_model,
        "optimizer": name(optimizer),
        "least_squares": bool(least_squares),
        "loss": [
            name(getattr(loss, "func", loss)),
            repr(getattr(loss, "args", ())),
            repr(sorted(getattr(loss, "keywords", {}).items())),
        ],
        "problem": fingerprint(problem),
    }


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _sum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def remove_checkpoint(path) -> None:
    """Delete a fit checkpoint with its PATH.json and PATH.sha256 (once the result is kept
    elsewhere).

    Parameters
    ----------
    path : str or pathlib.Path
        The checkpoint given to `fit`; missing files are ignored.

    Returns
    -------
    None
        The files are gone.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from jaxmf._fit import remove_checkpoint
    >>> path = Path(tempfile.mkdtemp()) / "fit.ckpt"
    >>> for name in ("fit.ckpt", "fit.ckpt.json", "fit.ckpt.sha256"):
    ...     _ = (path.parent / name).write_text("x")
    >>> remove_checkpoint(path)
    >>> sorted(p.name for p in path.parent.iterdir())
    []
    """
    path = Path(path)
    for p in (path, _meta_path(path), _sum_path(path)):
        p.unlink(missing_ok=True)


def _save_carry(path: Path, carry: _Carry) -> None:
    # Atomic and fsync'ed: an interrupt or crash while writing leaves the previous checkpoint
    # intact. The checksum beside it is written after it, so a crash between the two makes
    # the checkpoint look damaged (recomputed), never trusted when it is not whole.
    atomic_write(path, lambda f: eqx.tree_serialise_leaves(f, carry))
    atomic_write_text(_sum_path(path), checksum(path) + "\n")


def _load_carry(path: Path, like: _Carry) -> _Carry | None:
    """The checkpoint's loop state, or None (with a warning) when it is damaged or truncated."""
    try:
        side = _sum_path(path)
        if not side.exists() or side.read_text().strip() != checksum(path):
            raise ValueError("its checksum does not match")
        return eqx.tree_deserialise_leaves(path, like)
    except (OSError, ValueError, EOFError, RuntimeError) as e:
        warnings.warn(
            f"fit: checkpoint {path} is damaged or truncated ({e}); starting the fit "
            "again from its first iteration",
            stacklevel=4,
        )
        return None


def _run_checkpointed(
    path,
    every,
    progress,
    least_squares,
    params,
    target,
    ts,
    u0,
    u_ref,
    bijectors,
    optimizer,
    loss,
    adjoint,
    cfg: _Config,
):
    """`_run` in segments of `every` iterations, the loop state saved to `path` after each."""
    path = Path(path)
    statics = (least_squares, params, target, ts)
    rest = (u_ref, bijectors, optimizer, loss, adjoint, cfg)
    meta = _fingerprint(least_squares, params, target, u0, optimizer, loss, cfg)
    meta_path = _meta_path(path)  # which fit the checkpoint belongs to
    resumed = None
    if path.exists():
        try:
            saved = read_json(meta_path, what="fit checkpoint description")
        except FileNotFoundError:
            saved = None
        except ValueError as e:
            warnings.warn(f"fit: {e}; starting the fit again", stacklevel=3)
            saved = _as_json(meta)
            path.unlink(missing_ok=True)
        # The description went through JSON: compare it in that form.
        if saved != _as_json(meta):
            raise ParameterError(
                "checkpoint",
                f"{path} holds a different fit (other data, "
                "starts or settings); delete it or give another path",
            )
    carry = _start(*statics, u0, *rest)
    if path.exists():
        resumed = _load_carry(path, carry)
    if resumed is None:
        write_json(meta_path, meta)
    else:
        carry = resumed
    k0 = int(jnp.max(carry.k))
    if k0 and progress.enabled:
        progress.print(f"resuming from iteration {k0} saved in {path}")
    segments = range(k0 + every, cfg.steps + every, every)
    state = {"carry": carry}

    def compute(k_stop):
        k_stop = min(k_stop, cfg.steps)
        state["carry"] = jax.block_until_ready(
            _advance(least_squares, params, target, ts, state["carry"], *rest, jnp.asarray(k_stop))
        )
        _save_carry(path, state["carry"])
        return k_stop, not bool(jnp.any(state["carry"].status < 0))

    if bool(jnp.any(carry.status < 0)):
        run = run_chunks(segments, compute)
        if run.interrupted:
            k = run.outputs[-1] if run.outputs else k0
            saved = f"iterations up to {k} are saved in {path}" if k else "nothing was saved yet"
            raise FitInterrupted(
                f"fit interrupted; {saved}: call fit again with the same arguments to resume",
                k,
                path,
            ) from None
    return _finish(*statics, state["carry"], *rest)


def _as_json(obj):
    """`obj` as it reads back from `write_json` (tuples as lists, NaN as None, ...)."""
    return json.loads(dumps(obj, indent=None))


# The refinement of fit(init='meanfield') stops when no parameter moves by more than this
# (relative): a tenth of the 0.2% a network fit is asked for.
REFINE_RTOL = 2e-4


def _fit_by_space_mapping(params, target, free, network, shared, starts_kw, progress) -> FitResult:
    """fit(init='meanfield'): a mean-field fit, then output space mapping on the network."""
    if not isinstance(target, BurstTarget) or not target.has_trace:
        raise ParameterError("init", "init='meanfield' needs a trace target (from_trace)")
    if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((params, target))):
        raise ParameterError("init", "init='meanfield' iterates on the host; not under jit/vmap")
    free = _free_names(free, params)
    transient = shared["transient"]
    base = target if transient is None else target.with_transient(transient)
    ts = jnp.asarray(np.asarray(base.t, params.eta_bar.dtype))
    spacing = float(ts[1] - ts[0])
    record_every = int(round(spacing / network.dt))
    if record_every < 1 or not np.isclose(record_every * network.dt, spacing, rtol=1e-6):
        raise ParameterError(
            "target",
            f"its sample spacing {spacing:g} must be a whole multiple of the network's "
            f"dt={network.dt:g}",
        )
    loss = shared["loss"]
    least_squares = isinstance(shared["optimizer"], optx.AbstractLeastSquaresSolver)
    if loss is None:
        loss = trace_residuals if least_squares else trace_mse
    mf_kw = dict(shared, transient=None, loss=loss, progress=False)
    zero = jnp.zeros_like(base.r)
    coarse = fit(params, dataclasses.replace(base, offset=zero), free, **mf_kw, **starts_kw)
    initial = {n: getattr(coarse.best_params, n)[None] for n in free}
    current = coarse.best_params
    t1 = float(ts[-1])

    def network_loss(p):
        sim = simulate_on_grid(p, ts, network, record_every, i_ext=shared["i_ext"])
        value = jnp.asarray(loss(sim, base))
        return sim, float(jnp.sum(value**2) if least_squares else value), _failed(sim.status)

    history, failed, moved = [], False, math.inf
    bar = Progress("fit", shared["steps"], enabled=progress, unit=" network runs")
    for k in range(shared["steps"]):
        sim, value, bad = network_loss(current)
        history.append(value)
        bar.update(k + 1, f"network loss {value:.3g}, last move {moved:.2g}")
        if bool(bad) or not math.isfinite(value):
            failed = True
            break
        if moved < REFINE_RTOL:
            break
        mf = solve_meanfield(
            current, t1, ts=ts, model=shared["meanfield_model"], rtol=shared["rtol"],
            atol=shared["atol"], max_steps=shared["max_steps"], throw=False,
            i_ext=shared["i_ext"],
        )  # fmt: skip
        offset = _sim_rate(sim, base) - _sim_rate(mf, base)
        step = fit(current, dataclasses.replace(base, offset=offset), free, n_starts=1, **mf_kw)
        new = step.best_params
        moved = max(
            float(jnp.max(jnp.abs(getattr(new, n) / getattr(current, n) - 1))) for n in free
        )
        current = new
    bar.close()
    converged = moved < REFINE_RTOL and not failed
    code = _OK if converged else (_DIVERGED if failed else _MAX_STEPS)
    codes = jnp.asarray([code])
    return FitResult(
        params=jax.tree.map(lambda x: jnp.asarray(x)[None], current),
        best_params=current,
        loss_history=jnp.asarray(history)[:, None],
        final_loss=jnp.asarray([history[-1]]),
        converged=codes == _OK,
        status=from_codes(codes),
        n_iterations=jnp.asarray([len(history)]),
        best_index=jnp.asarray(0),
        initial=initial,
        free=free,
    )


def fit(
    params: Params,
    target,
    free=("eta_bar", "w_jump"),
    *,
    model: str | ThetaNetwork = "meanfield",
    optimizer: optax.GradientTransformation | None = None,
    n_starts: int = 32,
    key=None,
    loss: Callable | None = None,
    t1: float | None = None,
    transient: float | None = None,
    steps: int = 300,
    bounds: dict | None = None,
    spread: float = 0.3,
    tol: float = 1e-4,
    patience: int = 20,
    starts: dict | None = None,
    dt_save: float = 0.5,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    max_steps: int = 50_000,
    adjoint=None,
    meanfield_model: str = "chen_campbell",
    progress: bool = False,
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 10,
    throw: bool = True,
    init: str | None = None,
    i_ext=None,
) -> FitResult:
    """Fit the `free` parameters of `params` so the simulated rate matches `target`.

    All starts run at once under vmap in one compiled loop of at most `steps` iterations; a
    start stops (status successful) once its best loss has not improved by a relative `tol` for
    `patience` steps, and is frozen with status diverged when its loss, gradient or solve
    (`max_steps`, rtol, atol) fails, while the others go on. `fit` itself works inside jit and
    vmap (e.g. vmapped over the rates of many recordings; the target's times stay concrete).

    Parameters
    ----------
    params : Params
        The starting parameters (start 0) and every value that is not fitted.
    target : BurstTarget
        The simulation runs from the all-zero state to t1 (default: the end of the target
        trace), saved on the target's grid (or every `dt_save` for feature targets).
    free : tuple of str
        Fields to fit, each on every population (names as in
        `jaxmf.params.parse_parameter`; any of `FITTABLE_FIELDS`).
    model : str or ThetaNetwork
        'meanfield' (the mean field `meanfield_model`, solved by diffrax), 'network' (the
        differentiable spiking network `ThetaNetwork(gradient_horizon=5.0)`: 10^4 neurons,
        deterministic Lorentzian quantiles, dt = 1e-3, neuron-phase derivatives truncated every
        5 time units because exact ones explode in bursts) or a `ThetaNetwork` with other
        settings. The network's rate is recorded in bins of the target's sample spacing (a
        multiple of its dt); gradients run through a checkpointed scan. For a network, a
        least-squares solver on `trace_residuals` (smoothed like the target) is what converges
        (examples/network_fit.py).
    optimizer : optax.GradientTransformation or optimistix least-squares solver, optional
        Any optax transformation (default adam(1e-2)); line-search optimisers such as
        optax.lbfgs() get the loss as `value_fn` (failed solves count as inf). Or an optimistix
        least-squares solver, e.g. `optimistix.LevenbergMarquardt(rtol=1e-6, atol=1e-8)`: the
        loss then returns residuals (default `trace_residuals` / `feature_residuals`; the loss
        history holds their sums of squares) and a start also stops when the solver's test is
        met; the fastest choice for trace targets with a few free parameters. Reuse one
        optimizer object across calls to reuse the compiled loop. It acts on unconstrained
        values: log for `POSITIVE_FIELDS`, sigmoid into (lo, hi) for `bounds={name: (lo, hi)}`,
        else the value in units of its initial magnitude.
    n_starts : int
        Number of starts: start 0 is `params`; the other `n_starts - 1` multiply each free
        value by 1 + spread * U(-1, 1).
    key : jax.Array, optional
        PRNG key for the starts.
    loss : callable, optional
        ``(sim: MeanFieldResult or NetworkTrace, target) -> scalar`` (residuals for a
        least-squares solver); default `trace_mse` for a trace target, `feature_loss` for a
        feature target.
    t1 : float, optional
        End of the simulation (default: the end of the target trace).
    transient : float, optional
        Overrides the target's (< t1).
    steps : int
        Iteration budget.
    bounds : dict, optional
        Name -> (lo, hi): the field is kept inside by a sigmoid. A point outside the field's
        own range (bounds wider than it) counts as a failed evaluation, like a failed solve.
    spread : float
        Relative spread of the random starts.
    tol, patience : float, int
        The stopping rule above.
    starts : dict, optional
        Name -> (n_starts,) or (n_starts, P): the starts, instead of random ones.
    dt_save, rtol, atol, max_steps : float, float, float, int
        The mean-field solve's save step (feature targets), tolerances and step budget.
    adjoint : diffrax.AbstractAdjoint, optional
        How gradients are taken. Default `diffrax.ForwardMode()` (fastest) with at most
        `FORWARD_MODE_MAX` free unknowns or a least-squares solver, else
        `RecursiveCheckpointAdjoint()` (reverse mode, memory-bounded in t1).
    meanfield_model : str
        The mean-field model ('chen_campbell', 'nicola_campbell' or 'mpr').
    progress : bool
        A progress line on stderr with the lowest loss of the running starts at each iteration
        (useful for network fits, where one iteration takes seconds to minutes).
    checkpoint : str or pathlib.Path, optional
        A file path: the loop runs in compiled segments of `checkpoint_every` iterations and its
        whole state is saved there atomically after each (PATH.json says which fit it belongs
        to, PATH.sha256 guards it against damage). Calling `fit` again with the same arguments
        resumes from it; a finished fit's checkpoint gives its result at once; one of another
        fit is refused; a damaged or truncated one is recomputed with a warning. Ctrl-C raises
        `FitInterrupted` losing at most the segment in flight. Not under jit / vmap.
    checkpoint_every : int
        Iterations per saved segment.
    throw : bool
        Raise `NumericalError` (the result in `.result`) when every start diverged before
        reaching a finite loss; single failed starts are reported in `status`, never raised.
        throw=False returns the result in every case.
    init : str, optional
        None (start from `params` / `starts`), or 'meanfield' for a network `model` and a trace
        target: first fit the mean field `meanfield_model` to the same target (the starts,
        optimizer, loss and stopping rule above; a fraction of a second per iteration), then
        refine on the network by output space mapping: run the network (forward only, no
        derivatives) at the current parameters, add its difference from the mean field's rate
        to the mean field (`BurstTarget.offset`) and fit that corrected mean field again from
        there; repeat until the parameters move by less than `REFINE_RTOL` (relative) or after
        `steps` network runs. A network that can reproduce the target has its parameters as
        the fixed point; each iteration costs one network run and a warm-started mean-field fit
        instead of a network run with tangents per optimiser iteration, and needs no network
        gradients (which are biased in bursts, see `ThetaNetwork.gradient_horizon`). The result
        has one start: `initial` holds the mean-field fit, `loss_history` the network's loss at
        each iterate, `n_iterations` the number of network runs. Not under jit / vmap.
    i_ext : jaxmf.inputs.Input or callable, optional
        An input in time the simulations get (`solve_meanfield`'s and `simulate_theta`'s
        `i_ext`), to fit a stimulus-driven response.

    Returns
    -------
    FitResult
        Each start's best parameters, loss history, status (`jaxmf.RESULTS`) and the best start.

    Raises
    ------
    ParameterError
        A setting that cannot work (named).
    NumericalError
        Every start diverged (with throw=True).

    Examples
    --------
    Recover eta_bar from a mean-field trace, from a start 20% off:

    >>> import jax.numpy as jnp
    >>> from jaxmf import presets, solve_meanfield, BurstTarget, fit
    >>> ts = jnp.arange(0.0, 100.5, 0.5)
    >>> sim = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.25), t1=100.0, ts=ts)
    >>> target = BurstTarget.from_trace(sim.t, sim.r, transient=50.0)
    >>> res = fit(presets.chen_campbell_2022(eta_bar=0.3), target, free=("eta_bar",),
    ...           n_starts=2, steps=30)
    >>> round(float(res.best_params.eta_bar[0]), 3), res.final_loss.shape
    (0.25, (2,))

    A network fit (examples/network_fit.py; minutes) starts from the mean field and refines on
    the network: ``fit(params, BurstTarget.from_network(run, transient=20.0, smooth_time=10.0),
    model=ThetaNetwork(dt=1e-2), optimizer=optimistix.LevenbergMarquardt(rtol=1e-5,
    atol=1e-7), loss=functools.partial(trace_residuals, smooth=10.0), init="meanfield")``.
    """
    if init is not None and init != "meanfield":
        raise ParameterError("init", f"must be None or 'meanfield'; got {init!r}")
    if isinstance(model, str) and model == "network":
        model = ThetaNetwork(gradient_horizon=5.0)
    if isinstance(model, ThetaNetwork) and any(
        getattr(params, name, None) is not None for name in OPTIONAL_FIELDS
    ):
        raise ParameterError(
            "model",
            "the theta network has none of the model extensions (gamma, sigma, g_el, tau_r, "
            "delay); fit them on the mean field (model='meanfield')",
        )
    if init == "meanfield":
        if not isinstance(model, ThetaNetwork):
            raise ParameterError(
                "init", "init='meanfield' starts a network fit; model is the mean field already"
            )
        if checkpoint is not None:
            raise ParameterError(
                "checkpoint",
                "init='meanfield' is not checkpointed (its network runs are forward only and "
                "few); leave checkpoint out",
            )
        return _fit_by_space_mapping(
            params, target, free, model,
            dict(
                optimizer=optimizer, loss=loss, t1=t1, transient=transient, bounds=bounds,
                tol=tol, patience=patience, rtol=rtol, atol=atol, max_steps=max_steps,
                meanfield_model=meanfield_model, steps=steps, dt_save=dt_save, throw=throw,
                i_ext=i_ext,
            ),
            dict(n_starts=n_starts, key=key, spread=spread, starts=starts),
            progress,
        )  # fmt: skip
    if not (isinstance(model, ThetaNetwork) or (isinstance(model, str) and model == "meanfield")):
        raise ParameterError(
            "model", f"must be 'meanfield', 'network' or a ThetaNetwork; got {model!r}"
        )
    network = model if isinstance(model, ThetaNetwork) else None
    if not isinstance(target, BurstTarget):
        raise ParameterError("target", "must be a BurstTarget (from_trace or from_features)")
    free = _free_names(free, params)
    n_starts, steps, patience = (
        check_whole(name, value)
        for name, value in (("n_starts", n_starts), ("steps", steps), ("patience", patience))
    )
    if checkpoint is not None:
        if (
            isinstance(checkpoint_every, bool)
            or not isinstance(checkpoint_every, int)
            or checkpoint_every < 1
        ):
            raise ParameterError(
                "checkpoint_every", f"must be an integer >= 1; got {checkpoint_every!r}"
            )
        if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(params)):
            raise ParameterError(
                "checkpoint",
                "cannot checkpoint a fit traced under jit / "
                "vmap (it saves files between compiled segments)",
            )
        if not Path(checkpoint).parent.is_dir():
            raise ParameterError("checkpoint", f"folder {Path(checkpoint).parent} does not exist")
    bounds = {} if bounds is None else dict(bounds)
    if set(bounds) - set(free):
        raise ParameterError(
            "bounds",
            f"bounds given for parameters that are not free: {sorted(set(bounds) - set(free))}",
        )
    if transient is not None:
        if not (
            isinstance(transient, (int, float)) and math.isfinite(transient) and transient >= 0
        ):
            raise ParameterError("transient", f"must be a number >= 0; got {transient!r}")
        target = target.with_transient(transient)
    dtype = params.eta_bar.dtype
    if target.has_trace:
        if isinstance(target.t, jax.core.Tracer):
            raise ParameterError(
                "target",
                "its times must be concrete (they fix the simulation's "
                "grid and length); trace or vmap over its rates only",
            )
        t_host = np.asarray(target.t, dtype)
        ts = jnp.asarray(t_host)
        t1 = float(t_host[-1]) if t1 is None else float(t1)
        if not np.isclose(t1, float(t_host[-1])):
            raise ParameterError(
                "t1", f"a trace target fixes t1 to its last time {float(t_host[-1])}"
            )
        if float(t_host[0]) != 0.0:
            raise ParameterError(
                "target",
                "the target trace must start at t = 0 (the simulation "
                "starts from the all-zero state there); shift its times",
            )
    else:
        if t1 is None:
            raise ParameterError("t1", "give t1 for a feature target")
        t1 = float(t1)
        if not (math.isfinite(t1) and t1 > 0):
            raise ParameterError("t1", f"must be a finite number > 0; got {t1!r}")
        t_host = np.linspace(0.0, t1, int(round(t1 / dt_save)) + 1).astype(dtype)
        ts = jnp.asarray(t_host)
    if target.transient >= t1:
        raise ParameterError(
            "transient",
            f"the transient {target.transient:g} leaves nothing "
            f"to fit before t1={t1:g}; give a transient < t1",
        )
    record_every = 0
    if network is not None:
        spacing = float(t_host[1] - t_host[0])
        record_every = int(round(spacing / network.dt))
        if record_every < 1 or not np.isclose(record_every * network.dt, spacing, rtol=1e-6):
            raise ParameterError(
                "target",
                f"its sample spacing {spacing:g} must be a whole "
                f"multiple of the network's dt={network.dt:g} (resample the "
                "target or change dt / dt_save)",
            )
    optimizer = optax.adam(1e-2) if optimizer is None else optimizer
    least_squares = isinstance(optimizer, optx.AbstractLeastSquaresSolver)
    if not (least_squares or isinstance(optimizer, optax.GradientTransformation)):
        raise ParameterError(
            "optimizer",
            f"must be an optax GradientTransformation (e.g. "
            f"optax.adam(1e-2), optax.lbfgs()) or an optimistix least-squares "
            f"solver (e.g. optimistix.LevenbergMarquardt(rtol=1e-6, atol=1e-8)); "
            f"got {type(optimizer).__name__}",
        )
    if loss is None:
        if least_squares:
            loss = trace_residuals if target.has_trace else feature_residuals
        else:
            loss = trace_mse if target.has_trace else feature_loss

    given = {n: getattr(params, n) for n in free}
    bijectors = {n: _bijector(n, given[n], bounds) for n in free}
    if starts is not None:
        if set(starts) != set(free):
            raise ParameterError("starts", f"give starting values for exactly {free}")
        x0 = {n: _start_values(starts[n], n_starts, jnp.shape(given[n]), dtype) for n in free}
    else:
        key = jax.random.key(0) if key is None else key
        x0 = {}
        for n, k in zip(free, jax.random.split(key, len(free))):
            shape = (n_starts, *jnp.shape(given[n]))  # (P,), or (P, P) for g_el
            factor = 1 + spread * jax.random.uniform(k, shape, dtype, -1.0, 1.0)
            factor = factor.at[0].set(1.0)
            x = given[n][None] * factor
            if n in bounds:
                lo, hi = bounds[n]
                margin = 1e-6 * (hi - lo)
                x = jnp.clip(x, lo + margin, hi - margin)
            x0[n] = x
    u0 = {n: bijectors[n].inverse(x0[n]) for n in free}
    u_ref = {n: bijectors[n].inverse(given[n]) for n in free}
    if adjoint is None:
        unknowns = sum(int(np.prod(x0[n].shape[1:])) for n in free)
        # Least squares needs the Jacobian of many residuals in few unknowns: forward mode.
        adjoint = (
            diffrax.ForwardMode()
            if unknowns <= FORWARD_MODE_MAX or least_squares
            else diffrax.RecursiveCheckpointAdjoint()
        )
    if least_squares and jax.config.read("jax_enable_x64"):
        # optimistix's damping terms are float64 under x64: keep its unknowns float64 too (the
        # model still runs in the parameters' dtype).
        u0, u_ref = (jax.tree.map(lambda x: x.astype(jnp.float64), u) for u in (u0, u_ref))
    cfg = _Config(
        free,
        t1,
        int(steps),
        float(tol),
        int(patience),
        float(rtol),
        float(atol),
        int(max_steps),
        meanfield_model,
        network,
        record_every,
        bool(progress),
        i_ext,
        params.delay is not None and "delay" not in free and not uses_dde(params),
    )
    if least_squares:
        out_shape = jax.eval_shape(
            lambda: _make_loss(params, target, ts, bijectors, loss, adjoint, cfg)(u_ref)[0]
        )
        if out_shape.ndim == 0:
            raise ParameterError(
                "loss",
                "a least-squares solver needs a loss that returns "
                "residuals (an array), e.g. trace_residuals or "
                "feature_residuals, not a scalar loss",
            )
    args = (least_squares, params, target, ts, u0, u_ref, bijectors, optimizer, loss, adjoint, cfg)
    bar = Progress(
        "fit", steps, enabled=bool(progress), unit=" iterations", step=max(1.0 / steps, 0.01)
    )
    reporter = _Reporter(bar, n_starts)
    _REPORTERS.append(reporter)
    try:
        if checkpoint is None:
            out = _run(*args)
        else:
            out = _run_checkpointed(checkpoint, checkpoint_every, bar, *args)
        if not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(out)):
            jax.block_until_ready(out)  # every iteration's report has arrived
            reporter.flush()
    finally:
        _REPORTERS.remove(reporter)
    batched, best_params, history, final, codes, n_iter, best_index = out
    status = from_codes(codes)
    result = FitResult(
        params=batched,
        best_params=best_params,
        loss_history=history,
        final_loss=final,
        converged=codes == _OK,
        status=status,
        n_iterations=n_iter,
        best_index=best_index,
        initial=x0,
        free=free,
    )
    if throw:
        nothing = ~jnp.any(jnp.isfinite(final))
        if isinstance(nothing, jax.core.Tracer):
            result = eqx.error_if(
                result,
                nothing,
                "fit: every start diverged (no finite loss); "
                "pass throw=False to get the result anyway",
            )
        elif bool(nothing):
            raise NumericalError(
                f"fit: every start diverged before reaching a finite loss "
                f"({result.message}); pass throw=False to get the result "
                "anyway",
                result,
            )
    return result


def _start_values(value, n_starts: int, shape: tuple[int, ...], dtype) -> jax.Array:
    """Given starting values: one per start, or one full field (shape) per start."""
    x = jnp.asarray(value, dtype)
    per_start = (n_starts, *([1] * len(shape))) if x.size == n_starts else (n_starts, *shape)
    return jnp.broadcast_to(x.reshape(per_start), (n_starts, *shape))


def _free_names(free, params: Params) -> tuple[str, ...]:
    """The fields to fit, checked through `jaxmf.params.parse_parameter`: each fittable field
    (every population of it), at least one, none twice."""
    names = (free,) if isinstance(free, str) else tuple(free)
    if not names:
        raise ParameterError(
            "free", f"give at least one parameter to fit, from {', '.join(FITTABLE_FIELDS)}"
        )
    out = []
    for name in names:
        try:
            addr = parse_parameter(name, params.n_populations)
        except ParameterError as e:
            raise ParameterError("free", str(e)) from None
        if addr.field not in FITTABLE_FIELDS:
            raise ParameterError(
                "free", f"cannot fit {name!r}; choose from {', '.join(FITTABLE_FIELDS)}"
            )
        if addr.index is not None:
            raise ParameterError(
                "free", f"{name!r}: fit fits a field on every population; give {addr.field!r}"
            )
        out.append(addr.field)
    if len(set(out)) != len(out):
        raise ParameterError("free", f"a parameter appears twice: {list(names)}")
    return tuple(out)
