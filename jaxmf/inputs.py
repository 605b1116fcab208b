"""Inputs in time: external currents that change during a run, common to a population.

An input is any function of time ``t -> scalar or (P,)`` added to ``params.i_ext``. The classes
here are `equinox.Module`s, so they are pytrees: their numbers are JAX arrays that `jax.grad`
differentiates (a fit can target a stimulus-driven response), `jax.vmap` batches and `jax.jit`
traces without recompiling when only the numbers change. A plain user function (a lambda) works
too; one made afresh for each call recompiles the network run each time.

Where each model evaluates it:

- `solve_meanfield` integrates ``I(t)`` with its adaptive solver; the reduction stays exact for
  an input common to all neurons of a population, whatever its time course. Discontinuities and
  kinks (`Input.jump_times`) are stepped to exactly.
- `simulate_network` evaluates it once per step, at the step's start t_n = n dt (n the number of
  steps taken since t = 0, so a resumed run continues the input in absolute time): the forward
  Euler convention, and the frozen-coefficient one of `ExactPassage`/`MobiusPassage`. A switch
  at T takes effect from the first step whose start n dt (in the state's precision) is >= T.

With ``simulate_network(..., input_neurons=...)`` the time-dependent input reaches only part of
each population. That network is no longer the homogeneous one: its exact mean field is the
population split in two, with and without the input (`split_population`), valid when the targeted
neurons' excitabilities are Lorentzian like the rest (an evenly spaced fraction of the quantile
samples is). The one-population mean field with the input scaled by the fraction is not exact:
the rate is not linear in the input.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .params import OPTIONAL_FIELDS, ParameterError, Params, check_real

__all__ = [
    "Input",
    "StepInput",
    "Sinusoid",
    "PulseTrain",
    "PiecewiseLinear",
    "Sampled",
    "evaluate",
    "jump_times",
    "input_bound",
    "target_mask",
    "split_population",
    "merge_split",
    "from_spec",
]


def _array(name: str, x) -> jax.Array:
    x = check_real(name, x)
    if isinstance(x, jax.Array):
        # Traced or concrete JAX values keep their dtype (and their tangents).
        return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(float)
    return jnp.asarray(x, dtype=float)


def _like(x: jax.Array, t) -> jax.Array:
    """`x` in the precision of the time `t` (strict dtype promotion refuses mixing)."""
    t = jnp.asarray(t)
    return x.astype(t.dtype) if jnp.issubdtype(t.dtype, jnp.floating) else x


def _concrete(x) -> np.ndarray | None:
    return None if isinstance(x, jax.core.Tracer) else np.asarray(x, dtype=float)


class Input(eqx.Module):
    """Base class of the inputs in time: ``input(t)`` is the extra current at time t.

    Subclasses define ``__call__``; `jump_times` (discontinuities and kinks the mean-field solver
    steps to) and `bound` (the largest |input|, for the network's step-size check) have generic
    defaults.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.inputs import Input
    >>> class Ramp(Input):
    ...     slope: jnp.ndarray
    ...     def __call__(self, t):
    ...         return self.slope * t
    >>> float(Ramp(jnp.asarray(0.5))(2.0))
    1.0
    """

    def __call__(self, t):
        raise NotImplementedError

    def jump_times(self, t0: float, t1: float) -> np.ndarray | None:
        """Times in [t0, t1] where the input jumps or kinks (None: it is smooth).

        Parameters
        ----------
        t0, t1 : float
            The run's interval.

        Returns
        -------
        numpy.ndarray or None
            The times, increasing.

        Examples
        --------
        >>> from jaxmf.inputs import Sinusoid
        >>> Sinusoid(0.05, 100.0).jump_times(0.0, 800.0) is None
        True
        """
        return None

    def bound(self) -> float | None:
        """The largest |input| over all times (None: unknown, sampled by `input_bound`).

        Returns
        -------
        float or None
            The bound.

        Examples
        --------
        >>> from jaxmf.inputs import Sinusoid
        >>> Sinusoid(0.05, 100.0, offset=0.01).bound()
        0.060000000000000005
        """
        return None


class StepInput(Input):
    """Piecewise-constant extra input current, added to `params.i_ext`.

    `values[k]` holds on [times[k-1], times[k]); `solve_meanfield` steps exactly to the switch
    times.

    Parameters
    ----------
    times : array_like
        Shape (K,). Switch times, finite and increasing.
    values : array_like
        Shape (K + 1,) or (K + 1, P). The input before the first switch, then after each one.

    Attributes
    ----------
    times : jax.Array
        Shape (K,). The switch times.
    values : jax.Array
        Shape (K + 1,) or (K + 1, P). The input on each interval.

    Raises
    ------
    ParameterError
        When `values` does not have one more entry than `times`, or the times are not finite and
        increasing.

    Examples
    --------
    >>> from jaxmf.inputs import StepInput
    >>> inp = StepInput(times=[100.0], values=[0.0, 0.1])  # I_ext from 0 to 0.1 at t = 100
    >>> float(inp(50.0)), round(float(inp(150.0)), 6)
    (0.0, 0.1)
    """

    times: jax.Array
    values: jax.Array

    def __init__(self, times, values):
        self.times = jnp.atleast_1d(jnp.asarray(check_real("times", times), dtype=float))
        self.values = jnp.asarray(check_real("values", values), dtype=float)
        if self.values.shape[0] != self.times.shape[0] + 1:
            raise ParameterError(
                "values",
                f"needs len(times) + 1 = {self.times.shape[0] + 1} "
                f"entries; got {self.values.shape[0]}",
            )
        if not isinstance(self.times, jax.core.Tracer):
            times = np.asarray(self.times)
            if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
                raise ParameterError(
                    "times", f"switch times must be finite and increasing; got {times.tolist()}"
                )

    def __call__(self, t):
        return self.values[jnp.searchsorted(_like(self.times, t), t, side="right")]

    def jump_times(self, t0: float, t1: float) -> np.ndarray | None:
        """The switch times in [t0, t1]: where the mean-field solver
        steps to (see `Input.jump_times`).

        Parameters
        ----------
        t0, t1 : float
            The run's interval.

        Returns
        -------
        numpy.ndarray or None
            The times (None when they are traced or the input is smooth).

        Examples
        --------
        >>> from jaxmf.inputs import StepInput
        >>> times = StepInput(times=[10.0, 20.0], values=[0.0, 0.1, -0.05]).jump_times(0.0, 100.0)
        >>> None if times is None else [float(x) for x in times]
        [10.0, 20.0]
        """
        times = _concrete(self.times)
        return None if times is None else times[(times >= t0) & (times <= t1)]

    def bound(self) -> float | None:
        """The largest |input| over all times (for the network's step-size check).

        Returns
        -------
        float or None
            The bound (None when the values are traced).

        Examples
        --------
        >>> from jaxmf.inputs import StepInput
        >>> round(StepInput(times=[10.0, 20.0], values=[0.0, 0.1, -0.05]).bound(), 6)
        0.1
        """
        values = _concrete(self.values)
        return None if values is None else float(np.max(np.abs(values)))


class Sinusoid(Input):
    """``offset + amplitude * sin(2 pi t / period + phase)``: periodic forcing.

    Parameters
    ----------
    amplitude : float or array_like
        Scalar or (P,): the forcing amplitude (dimensionless current).
    period : float or array_like
        Scalar or (P,), > 0: the forcing period (time units).
    phase : float or array_like
        Scalar or (P,): the phase at t = 0 (radians).
    offset : float or array_like
        Scalar or (P,): a constant added to the sinusoid.

    Raises
    ------
    ParameterError
        When a value is not real, or a concrete period is not > 0.

    Examples
    --------
    >>> from jaxmf.inputs import Sinusoid
    >>> drive = Sinusoid(amplitude=0.05, period=100.0)
    >>> round(float(drive(25.0)), 6), round(float(drive(75.0)), 6)
    (0.05, -0.05)
    """

    amplitude: jax.Array
    period: jax.Array
    phase: jax.Array
    offset: jax.Array

    def __init__(self, amplitude, period, phase=0.0, offset=0.0):
        self.amplitude = _array("amplitude", amplitude)
        self.period = _array("period", period)
        self.phase = _array("phase", phase)
        self.offset = _array("offset", offset)
        period = _concrete(self.period)
        if period is not None and not np.all(period > 0):
            raise ParameterError("period", f"must be > 0; got {period.tolist()}")

    def __call__(self, t):
        arg = (2 * math.pi) * t / _like(self.period, t) + _like(self.phase, t)
        return _like(self.offset, t) + _like(self.amplitude, t) * jnp.sin(arg)

    def bound(self) -> float | None:
        """The largest |input| over all times (for the network's step-size check).

        Returns
        -------
        float or None
            The bound (None when the values are traced).

        Examples
        --------
        >>> from jaxmf.inputs import Sinusoid
        >>> round(Sinusoid(amplitude=0.05, period=100.0, offset=0.01).bound(), 6)
        0.06
        """
        a, c = _concrete(self.amplitude), _concrete(self.offset)
        return None if a is None or c is None else float(np.max(np.abs(c) + np.abs(a)))


class PulseTrain(Input):
    """Rectangular pulses: ``offset + amplitude`` during [start + k period, start + k period +
    width) for k = 0, 1, ... while before `stop`, else ``offset``.

    Parameters
    ----------
    amplitude : float or array_like
        Scalar or (P,): the pulse height.
    period : float
        > 0: time between pulse onsets.
    width : float
        In (0, period]: the pulse duration.
    start : float
        The first onset.
    stop : float
        No pulse starts at or after `stop` (default: never stops).
    offset : float or array_like
        Scalar or (P,): the baseline.

    Raises
    ------
    ParameterError
        When a value is not real or the timing is inconsistent.

    Examples
    --------
    >>> from jaxmf.inputs import PulseTrain
    >>> pulses = PulseTrain(amplitude=0.1, period=50.0, width=5.0, start=10.0)
    >>> [round(float(pulses(t)), 6) for t in (5.0, 12.0, 20.0, 62.0)]
    [0.0, 0.1, 0.0, 0.1]
    """

    amplitude: jax.Array
    period: jax.Array
    width: jax.Array
    start: jax.Array
    stop: jax.Array
    offset: jax.Array

    def __init__(self, amplitude, period, width, start=0.0, stop=math.inf, offset=0.0):
        self.amplitude = _array("amplitude", amplitude)
        self.period = _array("period", period)
        self.width = _array("width", width)
        self.start = _array("start", start)
        self.stop = jnp.asarray(check_real("stop", stop), dtype=float)
        self.offset = _array("offset", offset)
        period, width = _concrete(self.period), _concrete(self.width)
        if period is not None and not np.all(period > 0):
            raise ParameterError("period", f"must be > 0; got {period.tolist()}")
        if period is not None and width is not None and not np.all((width > 0) & (width <= period)):
            raise ParameterError("width", f"must be in (0, period]; got {width.tolist()}")

    def __call__(self, t):
        start, period = _like(self.start, t), _like(self.period, t)
        since = t - start
        k = jnp.floor(since / period)
        onset = start + k * period
        on = (since >= 0) & (t - onset < _like(self.width, t)) & (onset < _like(self.stop, t))
        return _like(self.offset, t) + jnp.where(on, _like(self.amplitude, t), 0.0)

    def jump_times(self, t0: float, t1: float) -> np.ndarray | None:
        """Each pulse's onset and end in [t0, t1]: where the mean-field solver
        steps to (see `Input.jump_times`).

        Parameters
        ----------
        t0, t1 : float
            The run's interval.

        Returns
        -------
        numpy.ndarray or None
            The times (None when they are traced or the input is smooth).

        Examples
        --------
        >>> from jaxmf.inputs import PulseTrain
        >>> times = PulseTrain(amplitude=0.1, period=50.0, width=5.0).jump_times(0.0, 100.0)
        >>> None if times is None else [float(x) for x in times]
        [0.0, 5.0, 50.0, 55.0, 100.0]
        """
        start, period, width = (_concrete(x) for x in (self.start, self.period, self.width))
        stop = _concrete(self.stop)
        if start is None or period is None or width is None or stop is None:
            return None
        k = np.arange(max(0.0, np.floor((t0 - start) / period)), np.ceil((t1 - start) / period) + 1)
        onsets = start + k * period
        onsets = onsets[onsets < stop]
        times = np.sort(np.concatenate([onsets, onsets + width]))
        return times[(times >= t0) & (times <= t1)]

    def bound(self) -> float | None:
        """The largest |input| over all times (for the network's step-size check).

        Returns
        -------
        float or None
            The bound (None when the values are traced).

        Examples
        --------
        >>> from jaxmf.inputs import PulseTrain
        >>> round(PulseTrain(amplitude=0.1, period=50.0, width=5.0).bound(), 6)
        0.1
        """
        a, c = _concrete(self.amplitude), _concrete(self.offset)
        return None if a is None or c is None else float(np.max(np.abs(c) + np.abs(a)))


def _check_series(times, values) -> tuple[jax.Array, jax.Array]:
    times = jnp.atleast_1d(_array("times", times))
    values = _array("values", values)
    if values.ndim == 0 or values.shape[0] != times.shape[0]:
        raise ParameterError(
            "values", f"needs one entry per time ({times.shape[0]}); got shape {values.shape}"
        )
    concrete = _concrete(times)
    if concrete is not None and (
        not np.all(np.isfinite(concrete)) or np.any(np.diff(concrete) <= 0)
    ):
        raise ParameterError("times", "must be finite and increasing")
    return times, values


def _interp(t, times, values):
    """Linear interpolation along axis 0 of `values` (per population), constant outside."""
    times = _like(times, t)
    values = _like(values, t)
    i = jnp.clip(jnp.searchsorted(times, t, side="right"), 1, times.shape[0] - 1)
    t_lo, t_hi = times[i - 1], times[i]
    frac = jnp.clip((t - t_lo) / (t_hi - t_lo), 0.0, 1.0)
    lo, hi = values[i - 1], values[i]
    return lo + frac * (hi - lo)


class PiecewiseLinear(Input):
    """Straight lines between breakpoints ``(times[k], values[k])``; constant outside them.

    For a designed protocol (ramps, plateaus); `solve_meanfield` steps to every breakpoint.

    Parameters
    ----------
    times : array_like
        Shape (K,), K >= 2, finite and increasing: the breakpoints.
    values : array_like
        Shape (K,) or (K, P): the input at each breakpoint.

    Raises
    ------
    ParameterError
        When the shapes disagree or the times are not increasing.

    Examples
    --------
    >>> from jaxmf.inputs import PiecewiseLinear
    >>> ramp = PiecewiseLinear(times=[100.0, 200.0], values=[0.0, 0.1])  # a ramp up to 0.1
    >>> [round(float(ramp(t)), 6) for t in (50.0, 150.0, 300.0)]
    [0.0, 0.05, 0.1]
    """

    times: jax.Array
    values: jax.Array

    def __init__(self, times, values):
        self.times, self.values = _check_series(times, values)
        if self.times.shape[0] < 2:
            raise ParameterError("times", "needs at least two breakpoints")

    def __call__(self, t):
        return _interp(t, self.times, self.values)

    def jump_times(self, t0: float, t1: float) -> np.ndarray | None:
        """The breakpoints (kinks) in [t0, t1]: where the mean-field solver
        steps to (see `Input.jump_times`).

        Parameters
        ----------
        t0, t1 : float
            The run's interval.

        Returns
        -------
        numpy.ndarray or None
            The times (None when they are traced or the input is smooth).

        Examples
        --------
        >>> from jaxmf.inputs import PiecewiseLinear
        >>> ramp = PiecewiseLinear(times=[0.0, 10.0, 30.0], values=[0.0, 0.2, 0.0])
        >>> times = ramp.jump_times(0.0, 100.0)
        >>> None if times is None else [float(x) for x in times]
        [0.0, 10.0, 30.0]
        """
        times = _concrete(self.times)
        return None if times is None else times[(times >= t0) & (times <= t1)]

    def bound(self) -> float | None:
        """The largest |input| over all times (for the network's step-size check).

        Returns
        -------
        float or None
            The bound (None when the values are traced).

        Examples
        --------
        >>> from jaxmf.inputs import PiecewiseLinear
        >>> round(PiecewiseLinear(times=[0.0, 10.0, 30.0], values=[0.0, 0.2, 0.0]).bound(), 6)
        0.2
        """
        values = _concrete(self.values)
        return None if values is None else float(np.max(np.abs(values)))


class Sampled(Input):
    """A sampled signal (a recorded stimulus, a noise realisation), interpolated in time.

    ``method='linear'`` joins the samples by straight lines; ``'hold'`` keeps each sample until
    the next one (a sample-and-hold, like a stimulator's output). Before the first sample and
    after the last the end values hold. Unlike `PiecewiseLinear` the samples are data: the
    mean-field solver does not step to each of them with 'linear' (it follows the signal with
    its error control), but does with 'hold' (each is a jump).

    Parameters
    ----------
    times : array_like
        Shape (K,), K >= 2, finite and increasing: the sample times.
    values : array_like
        Shape (K,) or (K, P): the samples.
    method : {'linear', 'hold'}
        The interpolation.

    Raises
    ------
    ParameterError
        When the shapes disagree, the times are not increasing or the method is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.inputs import Sampled
    >>> sig = Sampled(times=np.arange(4.0), values=[0.0, 0.1, 0.0, -0.1])
    >>> round(float(sig(0.5)), 6), round(float(Sampled(np.arange(4.0), [0.0, 0.1, 0.0, -0.1],
    ...                                                method="hold")(0.5)), 6)
    (0.05, 0.0)
    """

    times: jax.Array
    values: jax.Array
    method: str = eqx.field(static=True)

    def __init__(self, times, values, method: str = "linear"):
        if method not in ("linear", "hold"):
            raise ParameterError("method", f"must be 'linear' or 'hold'; got {method!r}")
        self.times, self.values = _check_series(times, values)
        if self.times.shape[0] < 2:
            raise ParameterError("times", "needs at least two samples")
        self.method = method

    def __call__(self, t):
        if self.method == "linear":
            return _interp(t, self.times, self.values)
        i = jnp.searchsorted(_like(self.times, t), t, side="right")
        return _like(self.values, t)[jnp.maximum(i - 1, 0)]

    def jump_times(self, t0: float, t1: float) -> np.ndarray | None:
        """The sample times in [t0, t1] with 'hold', where the mean-field solver steps to (None
        with 'linear': the signal is followed, not stepped to; see `Input.jump_times`).

        Parameters
        ----------
        t0, t1 : float
            The run's interval.

        Returns
        -------
        numpy.ndarray or None
            The times (None when they are traced or the input is smooth).

        Examples
        --------
        >>> from jaxmf.inputs import Sampled
        >>> held = Sampled(times=[0.0, 1.0, 2.0], values=[0.0, 0.3, -0.1], method="hold")
        >>> times = held.jump_times(0.0, 100.0)
        >>> None if times is None else [float(x) for x in times]
        [0.0, 1.0, 2.0]
        """
        times = _concrete(self.times)
        if self.method == "linear" or times is None:
            return None
        return times[(times >= t0) & (times <= t1)]

    def bound(self) -> float | None:
        """The largest |input| over all times (for the network's step-size check).

        Returns
        -------
        float or None
            The bound (None when the values are traced).

        Examples
        --------
        >>> from jaxmf.inputs import Sampled
        >>> round(Sampled(times=[0.0, 1.0, 2.0], values=[0.0, 0.3, -0.1], method="hold").bound(), 6)
        0.3
        """
        values = _concrete(self.values)
        return None if values is None else float(np.max(np.abs(values)))


def evaluate(i_ext: Callable | None, t, n_populations: int, dtype) -> jax.Array:
    """The input at time t as a (P,) array of `dtype` (zeros without an input).

    Parameters
    ----------
    i_ext : callable or None
        The input, ``t -> scalar or (P,)``.
    t : float or jax.Array
        The time (cast to `dtype` before the call).
    n_populations : int
        P.
    dtype : dtype
        The result's dtype.

    Returns
    -------
    jax.Array
        Shape (P,).

    Raises
    ------
    ParameterError
        When the input's value is neither a scalar nor of shape (P,).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.inputs import Sinusoid, evaluate
    >>> evaluate(Sinusoid(0.1, 4.0), 1.0, 2, jnp.float32).tolist()
    [0.10000000149011612, 0.10000000149011612]
    """
    if i_ext is None:
        return jnp.zeros((n_populations,), dtype)
    value = jnp.asarray(i_ext(jnp.asarray(t, dtype)))
    if value.shape not in ((), (1,), (n_populations,)):
        raise ParameterError(
            "i_ext",
            f"an input in time must return a scalar or one value per population "
            f"({n_populations}); got shape {value.shape}",
        )
    return jnp.broadcast_to(value.astype(dtype), (n_populations,))


def jump_times(i_ext, t0: float, t1: float) -> np.ndarray | None:
    """The jump and kink times of an input in [t0, t1] (None for a plain callable or none).

    Parameters
    ----------
    i_ext : callable or None
        The input.
    t0, t1 : float
        The interval.

    Returns
    -------
    numpy.ndarray or None
        The times.

    Examples
    --------
    >>> from jaxmf.inputs import StepInput, jump_times
    >>> jump_times(StepInput([100.0, 300.0], [0.0, 0.1, 0.0]), 0.0, 200.0).tolist()
    [100.0]
    """
    return i_ext.jump_times(t0, t1) if isinstance(i_ext, Input) else None


def input_bound(i_ext, t0: float, t1: float, n_samples: int = 1001) -> float:
    """The largest |input| over [t0, t1]: `Input.bound`, else the maximum of samples.

    For a plain callable the input is sampled at `n_samples` evenly spaced times (a bound for the
    network's step-size check, which it tightens only when the input is large).

    Parameters
    ----------
    i_ext : callable or None
        The input (None: 0).
    t0, t1 : float
        The interval.
    n_samples : int
        Samples of a plain callable.

    Returns
    -------
    float
        The bound (0.0 without an input, or for an input traced under jit or grad).

    Examples
    --------
    >>> from jaxmf.inputs import input_bound
    >>> round(input_bound(lambda t: 0.1 * t / 100.0, 0.0, 100.0), 6)
    0.1
    """
    if i_ext is None:
        return 0.0
    bound = i_ext.bound() if isinstance(i_ext, Input) else None
    if bound is not None:
        return bound
    ts = np.linspace(t0, t1, n_samples)
    values = jax.vmap(i_ext)(jnp.asarray(ts))
    if isinstance(values, jax.core.Tracer):
        return 0.0  # a traced input (under jit or grad) is known only when the run runs
    return float(np.max(np.abs(np.asarray(values, dtype=float))))


def target_mask(sizes: tuple[int, ...], neurons, dtype) -> tuple[jax.Array, ...] | None:
    """Per population, 1.0 for the neurons that receive the input in time and 0.0 for the rest.

    Parameters
    ----------
    sizes : tuple of int
        Neurons per population.
    neurons : None, float or tuple of array_like
        None: every neuron (returns None). A fraction in (0, 1]: that share of each population,
        evenly spaced in index, i.e. across the excitability range for quantile samples, so the
        targeted neurons are Lorentzian like the others (round(fraction * size) neurons). Per
        population index arrays: exactly those neurons.
    dtype : dtype
        The masks' dtype.

    Returns
    -------
    tuple of jax.Array or None
        One mask of shape (sizes[m],) per population.

    Raises
    ------
    ParameterError
        When the fraction is outside (0, 1] or an index is out of range.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.inputs import target_mask
    >>> target_mask((10,), 0.3, jnp.float32)[0].tolist()
    [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    """
    if neurons is None:
        return None
    if isinstance(neurons, (float, int, np.floating, np.integer)) and not isinstance(neurons, bool):
        if not 0 < neurons <= 1:
            raise ParameterError("input_neurons", f"a fraction must be in (0, 1]; got {neurons}")
        index = tuple(
            np.unique(np.round(np.linspace(0, m - 1, max(1, round(neurons * m)))).astype(int))
            for m in sizes
        )
    else:
        index = tuple(np.asarray(ix, dtype=int).reshape(-1) for ix in neurons)
        if len(index) != len(sizes):
            raise ParameterError(
                "input_neurons", f"give one index array per population ({len(sizes)})"
            )
        for m, (ix, size) in enumerate(zip(index, sizes)):
            if ix.size and (ix.min() < 0 or ix.max() >= size):
                raise ParameterError(
                    "input_neurons", f"population {m} indices must be in [0, {size - 1}]"
                )
    masks = []
    for ix, size in zip(index, sizes):
        mask = np.zeros(size)
        mask[ix] = 1.0
        masks.append(jnp.asarray(mask, dtype))
    return tuple(masks)


class _SplitInput(eqx.Module):
    inner: Callable
    n_populations: int = eqx.field(static=True)

    def __call__(self, t):
        value = jnp.broadcast_to(jnp.asarray(self.inner(t)), (self.n_populations,))
        return jnp.concatenate([value, jnp.zeros_like(value)])


def split_population(params: Params, i_ext: Callable, fraction) -> tuple[Params, Callable]:
    """The exact mean field of a network whose input reaches a fraction of each population.

    Each population k becomes two: k (the targeted share `fraction`, feeling `i_ext`) and P + k
    (the rest, without it). Both keep k's parameters and Lorentzian excitability; their synapses
    together give k's: (gs)_m = sum_k g[m,k] f_k (phi s_k,in + (1 - phi) s_k,out), so the split
    model has fractions (phi f, (1 - phi) f) and the conductance matrix [[g, g], [g, g]]. Exact
    in the limit N -> inf when the targeted neurons' excitabilities are Lorentzian with the
    population's centre and width (as `target_mask`'s evenly spaced fraction of quantile samples
    is). The population's rate is phi r_in + (1 - phi) r_out (`merge_split`).

    Parameters
    ----------
    params : Params
        P populations, without optional extensions.
    i_ext : callable
        The input in time of the targeted neurons.
    fraction : float or array_like
        phi, scalar or (P,), in (0, 1).

    Returns
    -------
    params : Params
        2P populations.
    i_ext : callable
        The input of the 2P populations (zero for the untargeted halves).

    Raises
    ------
    ParameterError
        When the fraction is not in (0, 1) or `params` has optional extensions.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.inputs import Sinusoid, split_population
    >>> p2, drive2 = split_population(presets.chen_campbell_2022(), Sinusoid(0.05, 100.0), 0.3)
    >>> p2.n_populations, [round(float(x), 6) for x in p2.fractions]
    (2, [0.3, 0.7])
    >>> [round(float(x), 6) for x in drive2(25.0)]
    [0.05, 0.0]
    """
    n_pop = params.n_populations
    phi = _array("fraction", fraction)
    concrete = _concrete(phi)
    if concrete is not None and not np.all((concrete > 0) & (concrete < 1)):
        raise ParameterError("fraction", f"must be in (0, 1); got {concrete.tolist()}")
    if any(getattr(params, name) is not None for name in OPTIONAL_FIELDS):
        raise ParameterError("params", "split_population covers the model without extensions")
    phi = jnp.broadcast_to(phi.astype(params.fractions.dtype), (n_pop,))
    fields = {}
    for name in ("alpha", "eta_bar", "delta_eta", "i_ext", "a", "b", "w_jump", "tau_s", "s_jump"):
        x = getattr(params, name)
        fields[name] = jnp.concatenate([x, x])
    fields["e_r"] = jnp.concatenate([params.e_r, params.e_r])
    fields["fractions"] = jnp.concatenate([phi * params.fractions, (1 - phi) * params.fractions])
    fields["g"] = jnp.block([[params.g, params.g], [params.g, params.g]])
    split = Params(**fields, v_peak=params.v_peak, v_reset=params.v_reset)
    return split, _SplitInput(i_ext, n_pop)


def merge_split(x, fraction, n_populations: int):
    """Population averages of a split model's per-population trace (`split_population`).

    Parameters
    ----------
    x : array_like
        Shape (..., 2P): a trace of the split model (r, v, w or s).
    fraction : float or array_like
        phi, as given to `split_population`.
    n_populations : int
        P, the original number of populations.

    Returns
    -------
    numpy.ndarray
        Shape (..., P): phi x_in + (1 - phi) x_out.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.inputs import merge_split
    >>> merge_split(np.array([[1.0, 0.0]]), 0.3, 1).tolist()
    [[0.3]]
    """
    x = np.asarray(x)
    phi = np.broadcast_to(np.asarray(fraction, dtype=float), (n_populations,))
    return phi * x[..., :n_populations] + (1 - phi) * x[..., n_populations:]


_SPEC_KINDS = {
    "sinusoid": ("Sinusoid", ("amplitude", "period", "phase", "offset")),
    "pulses": ("PulseTrain", ("amplitude", "period", "width", "start", "stop", "offset")),
    "step": ("StepInput", ("times", "values")),
    "piecewise": ("PiecewiseLinear", ("times", "values")),
    "sampled": ("Sampled", ("file", "method")),
}


def from_spec(text: str) -> Input:
    """An input from a short text, as the command line's ``--input`` takes it.

    ``KIND:NAME=VALUE,NAME=VALUE``; lists are separated by ';'. Kinds: ``sinusoid`` (amplitude,
    period, phase, offset), ``pulses`` (`PulseTrain`: amplitude, period, width, start, stop,
    offset), ``step`` (`StepInput`: times, values), ``piecewise`` (`PiecewiseLinear`: times,
    values) and ``sampled`` (`Sampled` from a two-column text file ``t value``: file, method).

    Parameters
    ----------
    text : str
        The description.

    Returns
    -------
    Input
        The input.

    Raises
    ------
    ParameterError
        Naming what is wrong with the text.

    Examples
    --------
    >>> from jaxmf.inputs import from_spec
    >>> round(float(from_spec("sinusoid:amplitude=0.05,period=100")(25.0)), 6)
    0.05
    >>> round(float(from_spec("step:times=100;300,values=0;0.1;0")(200.0)), 6)
    0.1
    """
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind not in _SPEC_KINDS:
        raise ParameterError(
            "input", f"unknown kind {kind!r} in {text!r}; choose from {', '.join(_SPEC_KINDS)}"
        )
    cls_name, allowed = _SPEC_KINDS[kind]
    fields: dict = {}
    for item in filter(None, (x.strip() for x in rest.split(","))):
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or name not in allowed:
            raise ParameterError(
                "input", f"{kind} takes NAME=VALUE with NAME in {', '.join(allowed)}; got {item!r}"
            )
        if name in ("file", "method"):
            fields[name] = value.strip()
            continue
        try:
            numbers = [float(x) for x in value.split(";")]
        except ValueError:
            raise ParameterError("input", f"{name}={value!r} is not a number or list") from None
        fields[name] = numbers if name in ("times", "values") else numbers[0]
    try:
        if kind == "sampled":
            if "file" not in fields:
                raise ParameterError("input", "sampled needs file=PATH (two columns: t value)")
            table = np.loadtxt(fields.pop("file"), ndmin=2)
            return Sampled(
                table[:, 0],
                table[:, 1:].squeeze(-1) if table.shape[1] == 2 else table[:, 1:],
                **fields,
            )
        return globals()[cls_name](**fields)
    except TypeError as e:
        raise ParameterError("input", f"{kind}: {e}") from None
    except OSError as e:
        raise ParameterError("input", f"cannot read the samples: {e}") from None
