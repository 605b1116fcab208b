"""Network versus mean field on the same parameters: traces and discrepancy metrics.

One analysis convention (`jaxmf.analysis`): one transient, one network mean rate per run, each
trace's regime and period from `trace_summary`, and burst peaks of equally smoothed rates."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._results import RESULTS, status_message
from .analysis import detect_bursts, regime_name, smooth, trace_summary, transient_time
from .meanfield import MeanFieldResult, solve_meanfield
from .network import EulerReset, NetworkResult, simulate_network
from .params import ParameterError, Params, check_params

__all__ = [
    "Comparison",
    "compare",
    "compare_traces",
    "entrainment",
    "finite_size_study",
    "MODEL_PREFIX",
]

MODEL_PREFIX = {"chen_campbell": "", "nicola_campbell": "nc_", "mpr": "mpr_"}
"""Metric-name prefix of each mean-field model in `Comparison.metrics`."""


class Comparison(eqx.Module):
    """A network run and its mean field(s) on the same parameters, with discrepancy metrics.

    Made by `compare`. A pytree: the results are arrays, `metrics` is static.

    Attributes
    ----------
    network : NetworkResult
        The network run.
    meanfield : dict of str to MeanFieldResult
        One mean-field solution per model name ('chen_campbell', 'nicola_campbell', 'mpr'), saved at
        the network's recording times.
    metrics : dict of str to float, str or bool
        For each mean-field model, names prefixed by `MODEL_PREFIX` ('' for the exact model,
        'nc_' for Nicola-Campbell, 'mpr_'): rel_err_r_mean, rel_err_v_mean, rel_err_w_mean
        (relative errors of the time averages after the transient), network_r_mean, mf_r_mean,
        network_period, mf_period, rel_err_period, network_peak_rate, mf_peak_rate,
        rel_err_peak, network_duty_cycle, mf_duty_cycle, network_regime, mf_regime,
        regime_agree; with a periodic input (`Sinusoid`, `PulseTrain`) also network_entrainment,
        mf_entrainment (bursts per forcing period), network_burst_phase, mf_burst_phase (onset
        phase in cycles), network_locking, mf_locking and burst_phase_diff (network minus mean
        field, in [-0.5, 0.5) cycles; see `entrainment`); and n, t1, dt, transient. With P > 1
        populations every metric is per
        population ('pop0_', 'pop1_', ... after the model prefix). Rates are dimensionless
        (spikes per neuron per time unit).

    Examples
    --------
    >>> import jaxmf
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> type(cmp).__name__, list(cmp.meanfield)
    ('Comparison', ['chen_campbell'])
    >>> cmp.metrics["n"], cmp.metrics["transient"]
    (100, 10.0)
    """

    network: NetworkResult
    meanfield: dict
    metrics: dict = eqx.field(static=True)

    @property
    def status(self) -> RESULTS:
        """The first failed run's status, or `RESULTS.successful` when every run succeeded.

        Returns
        -------
        RESULTS
            A status item (batched like the failed run's).
        """
        for res in (self.network, *self.meanfield.values()):
            if not np.all(np.asarray(res.status == RESULTS.successful)):
                return res.status
        return RESULTS.successful  # type: ignore[return-value]  # equinox#1121: items typed str

    @property
    def message(self) -> str:
        """Why the comparison failed, or '' when every run succeeded.

        Returns
        -------
        str
            The messages of the failed status (`RESULTS`).
        """
        return status_message(self.status)


def _rel(a, b):
    return (
        float(abs(a - b) / abs(b)) if b != 0 and np.isfinite(a) and np.isfinite(b) else float("nan")
    )


def _window(time: float, spacing: float) -> int:
    return max(1, int(round(time / spacing)))


def compare_traces(
    network: NetworkResult,
    mf: MeanFieldResult,
    transient: float,
    smooth_time: float = 10.0,
    peak_smooth_time: float = 1.0,
    hysteresis: float = 0.3,
    population: int = 0,
    prefix: str = "",
) -> dict:
    """Discrepancy metrics between a network result and a mean-field result.

    Both traces are analysed after `transient` with `analysis.trace_summary`: the network's rate
    smoothed over `smooth_time` with `hysteresis` (finite-size fluctuations near the threshold
    otherwise split bursts), the mean field's as it is. The network mean rate is the time average
    of its unsmoothed rate, the one value reported for the run. Burst peaks compare like with like:
    both rates are smoothed over the same `peak_smooth_time` before the per-burst maxima are taken
    (the network's between the thresholds of its burst detection). A network's bursts carry fast
    oscillations (period ~3 time units at the paper's values) that a 1-unit window keeps: its peak
    then stands above the mean field's smooth plateau (about +30% at N = 10^4); a
    `peak_smooth_time` of ~5 compares the envelopes.

    Parameters
    ----------
    network : NetworkResult
        The network run.
    mf : MeanFieldResult
        The mean-field solution, saved on times covering the network's.
    transient : float
        Start of the analysed window (see `analysis.transient_time`).
    smooth_time : float, default 10.0
        Smoothing window of the network's rate for regime and period (time units).
    peak_smooth_time : float, default 1.0
        Smoothing window of both rates for the burst peaks (time units).
    hysteresis : float, default 0.3
        Hysteresis of the burst detection (`analysis.detect_bursts`).
    population : int, default 0
        Which population to compare.
    prefix : str, default ""
        Prepended to every metric name.

    Returns
    -------
    dict of str to float, str or bool
        The metrics listed under `Comparison.metrics` (without n, t1, dt, transient).

    Raises
    ------
    ParameterError
        When the window after `transient` holds fewer than 3 samples of either trace.

    Examples
    --------
    >>> import jaxmf
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> m = jaxmf.compare_traces(cmp.network, cmp.meanfield["chen_campbell"], transient=20.0)
    >>> m["network_regime"] in ("quiescent", "tonic", "bursting"), 0.0 <= m["rel_err_r_mean"] < 1.0
    (True, True)
    """
    t_net = np.asarray(network.t, float)
    keep = t_net > transient
    if keep.sum() < 3:
        raise ParameterError("transient", f"leaves fewer than 3 network samples (t1={t_net[-1]:g})")
    t_mf = np.asarray(mf.t, float)
    mkeep = t_mf > transient
    if mkeep.sum() < 3:
        raise ParameterError(
            "transient", f"leaves fewer than 3 mean-field samples (t1={t_mf[-1]:g})"
        )
    bin_time = network.dt * network.record_every
    mf_spacing = float(np.median(np.diff(t_mf))) if t_mf.size > 1 else bin_time
    r_net = jnp.asarray(np.asarray(network.r[:, population], float))
    r_mf_all = jnp.asarray(np.asarray(mf.r[:, population], float))
    tn, tm = jnp.asarray(t_net[keep]), jnp.asarray(t_mf[mkeep])
    net = trace_summary(
        tn, r_net[keep], smooth_window=_window(smooth_time, bin_time), hysteresis=hysteresis
    )
    mfs = trace_summary(tm, r_mf_all[mkeep])
    # The threshold of the network's burst detection (on its smoothed rate) bounds its bursts
    # for the peaks too: a lightly smoothed finite-size rate would otherwise split them.
    net_b = detect_bursts(
        tn, smooth(r_net[keep], _window(smooth_time, bin_time)), hysteresis=hysteresis
    )
    net_peak = detect_bursts(
        tn,
        smooth(r_net, _window(peak_smooth_time, bin_time))[keep],
        threshold=net_b.threshold,
        hysteresis=hysteresis,
    ).peak
    mf_peak = detect_bursts(
        tm, smooth(r_mf_all, _window(peak_smooth_time, mf_spacing))[mkeep], hysteresis=hysteresis
    ).peak
    net_regime, mf_regime = int(net.regime), int(mfs.regime)
    net_mean = float(net.mean)
    m = {
        "rel_err_r_mean": _rel(net_mean, float(mfs.mean)),
        "rel_err_v_mean": _rel(
            np.mean(network.v_mean[keep, population]), np.mean(np.asarray(mf.v)[mkeep, population])
        ),
        "rel_err_w_mean": _rel(
            np.mean(network.w_mean[keep, population]), np.mean(np.asarray(mf.w)[mkeep, population])
        ),
        "network_r_mean": net_mean,
        "mf_r_mean": float(mfs.mean),
        "network_period": float(net.period),
        "mf_period": float(mfs.period),
        "rel_err_period": _rel(float(net.period), float(mfs.period)),
        "network_peak_rate": float(net_peak),
        "mf_peak_rate": float(mf_peak),
        "rel_err_peak": _rel(float(net_peak), float(mf_peak)),
        "network_duty_cycle": float(net.duty_cycle),
        "mf_duty_cycle": float(mfs.duty_cycle),
        "network_regime": regime_name(net_regime),
        "mf_regime": regime_name(mf_regime),
        "regime_agree": net_regime == mf_regime,
    }
    return {prefix + k: v for k, v in m.items()}


def entrainment(
    t,
    rate,
    period: float,
    *,
    transient: float = 0.0,
    smooth_time: float = 0.0,
    hysteresis: float = 0.3,
    max_bursts: int = 4096,
) -> dict:
    """How bursts lock to a periodic input: bursts per forcing period and their phase.

    Burst onsets come from `analysis.detect_bursts` on the rate after `transient` (smoothed over
    `smooth_time` with a centred window, which does not shift the onsets); each onset's phase is
    its time modulo `period`, in cycles. The phase is their circular mean and the locking index
    the length of the mean phase vector (1: every burst starts at the same phase of the input,
    ~0: no relation).

    Parameters
    ----------
    t : array_like
        Shape (T,). Times, evenly spaced.
    rate : array_like
        Shape (T,). A population rate.
    period : float
        The input's period (the phase is measured from t = 0, where a `Sinusoid` with phase 0
        starts rising).
    transient : float
        Start of the analysed window.
    smooth_time : float
        Smoothing window of the rate (time units): ~10 for a finite network, 0 for a mean field.
    hysteresis : float
        Passed to `detect_bursts`.
    max_bursts : int
        Most onsets counted.

    Returns
    -------
    dict of str to float
        ratio (bursts per forcing period: the period over the mean onset-to-onset interval; 0
        with fewer than two bursts), phase (in [0, 1) cycles), locking (in [0, 1]) and
        n_bursts.

    Raises
    ------
    ParameterError
        When the window after `transient` holds fewer than 3 samples or period <= 0.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf import entrainment
    >>> t = np.linspace(0.0, 1000.0, 10001)
    >>> rate = 1.0 + np.cos(2 * np.pi * (t - 25.0) / 100.0)  # peaks at t = 25 + 100 k
    >>> m = entrainment(t, rate, period=100.0)  # onsets: crossing the threshold 0.05 cycles in
    >>> round(m["ratio"], 3), round(m["phase"], 2), round(m["locking"], 3), m["n_bursts"]
    (1.0, 0.05, 1.0, 10)
    """
    if not period > 0:
        raise ParameterError("period", f"must be > 0; got {period!r}")
    t = np.asarray(t, float)
    keep = t > transient
    if keep.sum() < 3:
        raise ParameterError("transient", f"leaves fewer than 3 samples (t1={t[-1]:g})")
    spacing = float(np.median(np.diff(t)))
    x = smooth(jnp.asarray(np.asarray(rate, float)), _window(smooth_time, spacing))
    b = detect_bursts(
        jnp.asarray(t[keep]),
        jnp.asarray(x)[keep],
        hysteresis=hysteresis,
        max_bursts=max_bursts,
    )
    onsets = np.asarray(b.onsets, float)[: int(b.n_bursts)]
    mean = np.mean(np.exp(2j * np.pi * onsets / period)) if onsets.size else 0j
    return {
        "ratio": float(period / np.mean(np.diff(onsets))) if onsets.size > 1 else 0.0,
        "phase": float(np.mod(np.angle(mean) / (2 * np.pi), 1.0)) if onsets.size else float("nan"),
        "locking": min(1.0, float(abs(mean))),
        "n_bursts": int(onsets.size),
    }


def _phase_diff(a: float, b: float) -> float:
    """a - b in cycles, wrapped to [-0.5, 0.5)."""
    return float(np.mod(a - b + 0.5, 1.0) - 0.5)


def compare(
    params: Params,
    n: int = 10_000,
    t1: float = 800.0,
    *,
    dt: float = 1e-3,
    record_every: int = 100,
    transient: float | None = None,
    dtype=None,
    scheme=EulerReset(),
    models=("chen_campbell",),
    sampler=None,
    key=None,
    raster=200,
    progress: bool = True,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    i_ext=None,
    throw: bool = True,
    monitor=None,
) -> Comparison:
    """Simulate the network and the mean field(s) on the same parameters and compare them.

    Both start from the same initial state (all zeros); the metrics are computed after the
    transient by `compare_traces`. The network runs once for every mean-field model.

    Parameters
    ----------
    params : Params
        One parameter set (dimensionless).
    n : int, default 10000
        Number of neurons per network.
    t1 : float, default 800.0
        End time (dimensionless; about 1.54 ms per unit at the paper's scales).
    dt : float, default 1e-3
        Network time step; must respect the scheme's bound (`EulerReset.max_dt`).
    record_every : int, default 100
        Network steps per recorded sample; mean-field traces are saved at the same times.
    transient : float, optional
        Start of the analysed window; t1/4 by default (`analysis.transient_time`).
    dtype : numpy.dtype, optional
        Floating dtype of the network run (the params' by default).
    scheme : EulerReset or ExactPassage, default EulerReset()
        Spike scheme of the network.
    models : tuple of str, default ('chen_campbell',)
        Mean-field models to compare: 'chen_campbell' (exact), 'nicola_campbell', 'mpr'.
    sampler : Quantiles or RandomDraws, optional
        How per-neuron excitabilities are drawn (deterministic Lorentzian quantiles by default).
    key : jax.Array, optional
        PRNG key of the network run (random samplers).
    raster : int, default 200
        Neurons whose spikes are recorded for a raster.
    progress : bool, default True
        Print a progress line for the network run.
    rtol : float, default 1e-8
        Relative tolerance of the mean-field solves.
    atol : float, default 1e-10
        Absolute tolerance of the mean-field solves.
    i_ext : jaxmf.inputs.Input or callable, optional
        An input in time applied to both (`jaxmf.inputs`: `StepInput`, `Sinusoid`, `PulseTrain`,
        `PiecewiseLinear`, `Sampled`, or a JAX function ``t -> scalar or (P,)``): the network
        evaluates it at each step's start, the mean field integrates it (exact for an input
        common to the population).
    throw : bool, default True
        Raise (the `NumericalError` family) when a run fails; with False the comparison comes back
        with the failed run's `status`, and the metrics of non-finite traces are NaN.
    monitor : jaxmf.monitors.Monitor, optional
        Neurons of the network whose v, w and spikes are recorded (``network.monitor``).

    Returns
    -------
    Comparison
        Both results and the metrics.

    Raises
    ------
    ParameterError
        When `params` is not a `Params`, a model is unknown, or a run argument is invalid.
    NumericalError
        When a run fails and `throw` is True.

    Examples
    --------
    >>> import jaxmf
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> bool(cmp.status == jaxmf.RESULTS.successful), cmp.message
    (True, '')
    >>> sorted(k for k in cmp.metrics if k.startswith("rel_err"))  # doctest: +NORMALIZE_WHITESPACE
    ['rel_err_peak', 'rel_err_period', 'rel_err_r_mean', 'rel_err_v_mean', 'rel_err_w_mean']
    """
    params = check_params(params)
    unknown = [m for m in models if m not in MODEL_PREFIX]
    if unknown:
        raise ParameterError(
            "models", f"unknown model {unknown[0]!r}; choose from {', '.join(MODEL_PREFIX)}"
        )
    transient = transient_time(t1, transient)
    kw = {} if sampler is None else {"sampler": sampler}
    # A StepInput's network run equals the former piecewise run with resume= at each switch.
    net = simulate_network(
        params,
        n=n,
        t1=t1,
        dt=dt,
        record_every=record_every,
        dtype=dtype,
        scheme=scheme,
        key=key,
        raster=raster,
        progress=progress,
        throw=throw,
        i_ext=i_ext,
        monitor=monitor,
        **kw,
    )
    ts = jnp.asarray(np.concatenate([[0.0], np.asarray(net.t)]), params.eta_bar.dtype)
    metrics, mfs = {}, {}
    forcing = _forcing_period(i_ext)
    for model in models:
        mf = solve_meanfield(
            params, t1=t1, ts=ts, model=model, rtol=rtol, atol=atol, i_ext=i_ext, throw=throw
        )
        mfs[model] = mf
        prefix = MODEL_PREFIX[model]
        for pop in range(params.n_populations):
            pre = prefix if params.n_populations == 1 else f"{prefix}pop{pop}_"
            metrics.update(compare_traces(net, mf, transient, population=pop, prefix=pre))
            if forcing is not None:
                metrics.update(_entrainment_metrics(net, mf, forcing, transient, pop, pre))
    metrics.update(n=int(net.network.n), t1=float(t1), dt=float(dt), transient=float(transient))
    return Comparison(network=net, meanfield=mfs, metrics=metrics)


def _forcing_period(i_ext) -> float | None:
    """The period of a periodic input with one concrete period (Sinusoid, PulseTrain)."""
    period = getattr(i_ext, "period", None)
    if period is None or isinstance(period, jax.core.Tracer) or np.size(period) != 1:
        return None
    return float(np.asarray(period))


def _entrainment_metrics(net, mf, period, transient, pop, prefix) -> dict:
    bin_time = net.dt * net.record_every
    network = entrainment(
        net.t,
        np.asarray(net.r)[:, pop],
        period,
        transient=transient,
        smooth_time=max(10.0, bin_time),
    )
    mean_field = entrainment(mf.t, np.asarray(mf.r)[:, pop], period, transient=transient)
    m = {
        "network_entrainment": network["ratio"],
        "mf_entrainment": mean_field["ratio"],
        "network_burst_phase": network["phase"],
        "mf_burst_phase": mean_field["phase"],
        "network_locking": network["locking"],
        "mf_locking": mean_field["locking"],
        "burst_phase_diff": _phase_diff(network["phase"], mean_field["phase"]),
    }
    return {prefix + k: v for k, v in m.items()}


def finite_size_study(
    params: Params,
    ns=(1000, 3000, 10_000),
    seeds=(0,),
    t1: float = 400.0,
    *,
    sampler=None,
    progress: bool = False,
    **kwargs,
) -> dict:
    """Comparison metrics against the network size N (and seeds, for random sampling).

    Runs `compare` once per (N, seed); the network dominates the cost.

    Parameters
    ----------
    params : Params
        One parameter set.
    ns : Sequence of int, default (1000, 3000, 10000)
        Network sizes.
    seeds : Sequence of int, default (0,)
        PRNG seeds (they matter for a random `sampler`).
    t1 : float, default 400.0
        End time of each run.
    sampler : Quantiles or RandomDraws, optional
        How per-neuron excitabilities are drawn.
    progress : bool, default False
        Print progress lines of the network runs.
    **kwargs : Any
        Passed to `compare` (dt, record_every, transient, models, ...).

    Returns
    -------
    dict
        'n' and 'seeds' (the lists given), and each float metric of `Comparison.metrics` as an
        array of shape (len(ns), len(seeds)).

    Raises
    ------
    ParameterError
        When an argument is invalid (see `compare`).
    NumericalError
        When a run fails.

    Examples
    --------
    >>> import jaxmf
    >>> study = jaxmf.finite_size_study(jaxmf.presets.tonic(), ns=(100,), seeds=(0, 1), t1=40.0)
    >>> study["n"], study["rel_err_r_mean"].shape
    ([100], (1, 2))
    """

    rows: dict[str, list[float]] = {}
    for n in ns:
        for seed in seeds:
            cmp = compare(
                params,
                n=n,
                t1=t1,
                sampler=sampler,
                key=jax.random.key(seed),
                progress=progress,
                **kwargs,
            )
            for k, v in cmp.metrics.items():
                if isinstance(v, float):
                    rows.setdefault(k, []).append(v)
    shaped = {
        k: np.asarray(v).reshape(len(ns), len(seeds))
        for k, v in rows.items()
        if len(v) == len(ns) * len(seeds)
    }
    return {"n": list(ns), "seeds": list(seeds), **shaped}
