"""Network versus mean field on the same parameters: traces and discrepancy metrics."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .analysis import classify_regime, detect_bursts, regime_name, smooth
from .meanfield import MeanFieldResult, StepInput, solve_meanfield
from .network import EulerReset, NetworkResult, simulate_network
from .params import ParameterError, Params

__all__ = ["Comparison", "compare", "compare_traces", "finite_size_study", "MODEL_PREFIX"]

# Metric-name prefix of each mean-field model in `Comparison.metrics`.
MODEL_PREFIX = {"chen_campbell": "", "nicola_campbell": "nc_", "mpr": "mpr_"}


class Comparison(eqx.Module):
    """`network` and `meanfield` results (`meanfield` maps model name -> result) and `metrics`:
    for each mean-field model m (prefix '' for the exact model, 'nc_' for Nicola-Campbell):
    rel_err_r_mean, rel_err_v_mean, rel_err_w_mean (time averages after the transient),
    network_period, mf_period, rel_err_period, network_peak_rate, mf_peak_rate, rel_err_peak,
    network_regime, mf_regime, regime_agree, network_r_mean, mf_r_mean, network_duty_cycle,
    mf_duty_cycle; and n, t1, dt, transient. With P > 1 populations every metric is per population
    ('pop0_', 'pop1_', ... after the model prefix)."""

    network: NetworkResult
    meanfield: dict
    metrics: dict = eqx.field(static=True)


def _rel(a, b):
    return float(abs(a - b) / abs(b)) if b != 0 and np.isfinite(a) and np.isfinite(b) else float("nan")


def compare_traces(network: NetworkResult, mf: MeanFieldResult, transient: float,
                   smooth_time: float = 10.0, peak_smooth_time: float = 1.0,
                   hysteresis: float = 0.3, population: int = 0, prefix: str = "") -> dict:
    """Metrics between a network result and a mean-field result on overlapping times.

    Burst timing and the regime of the network come from its rate smoothed over `smooth_time`
    with `hysteresis` (finite-size fluctuations near the window's edges otherwise split bursts);
    its burst peak from the rate smoothed over `peak_smooth_time`, between the same thresholds."""
    t_net = np.asarray(network.t, float)
    keep = t_net > transient
    if keep.sum() < 3:
        raise ParameterError("transient", f"leaves fewer than 3 network samples (t1={t_net[-1]:g})")
    bin_time = network.dt * network.record_every
    def smoothed(time):
        window = max(1, int(round(time / bin_time)))
        return np.asarray(smooth(jnp.asarray(network.r[:, population]), window), float)[keep]

    r_net = smoothed(smooth_time)
    t_mf = np.asarray(mf.t, float)
    mkeep = t_mf > transient
    r_mf = np.asarray(mf.r[:, population], float)[mkeep]
    net_b = detect_bursts(jnp.asarray(t_net[keep]), jnp.asarray(r_net), hysteresis=hysteresis)
    net_peak = detect_bursts(jnp.asarray(t_net[keep]), jnp.asarray(smoothed(peak_smooth_time)),
                             threshold=net_b.threshold, hysteresis=hysteresis).peak
    mf_b = detect_bursts(jnp.asarray(t_mf[mkeep]), jnp.asarray(r_mf))
    net_regime = int(classify_regime(jnp.asarray(t_net[keep]), jnp.asarray(r_net)))
    mf_regime = int(classify_regime(jnp.asarray(t_mf[mkeep]), jnp.asarray(r_mf)))
    m = {
        "rel_err_r_mean": _rel(np.mean(network.r[keep, population]), np.mean(r_mf)),
        "rel_err_v_mean": _rel(np.mean(network.v_mean[keep, population]), np.mean(np.asarray(mf.v)[mkeep, population])),
        "rel_err_w_mean": _rel(np.mean(network.w_mean[keep, population]), np.mean(np.asarray(mf.w)[mkeep, population])),
        "network_r_mean": float(np.mean(network.r[keep, population])),
        "mf_r_mean": float(np.mean(r_mf)),
        "network_period": float(net_b.period),
        "mf_period": float(mf_b.period),
        "rel_err_period": _rel(float(net_b.period), float(mf_b.period)),
        "network_peak_rate": float(net_peak),
        "mf_peak_rate": float(mf_b.peak),
        "rel_err_peak": _rel(float(net_peak), float(mf_b.peak)),
        "network_duty_cycle": float(net_b.duty_cycle),
        "mf_duty_cycle": float(mf_b.duty_cycle),
        "network_regime": regime_name(net_regime),
        "mf_regime": regime_name(mf_regime),
        "regime_agree": net_regime == mf_regime,
    }
    return {prefix + k: v for k, v in m.items()}


def compare(params: Params, n: int = 10_000, t1: float = 800.0, *, dt: float = 1e-3,
            record_every: int = 100, transient: float | None = None, dtype=None,
            scheme=EulerReset(), models=("chen_campbell",), sampler=None, key=None, raster=200,
            progress: bool = True, rtol: float = 1e-8, atol: float = 1e-10,
            i_ext: StepInput | None = None) -> Comparison:
    """Simulate the network and the mean field(s) from the same Params and initial state (all
    zeros) and compute discrepancy metrics after `transient` (default t1/4).

    models: mean-field models to compare ('chen_campbell', 'nicola_campbell'); the network runs
    once for all. Mean-field traces are saved at the network's recording times. i_ext: an input
    step applied to both (the network is run piecewise with `resume=` at each switch).
    """
    unknown = [m for m in models if m not in MODEL_PREFIX]
    if unknown:
        raise ParameterError("models", f"unknown model {unknown[0]!r}; choose from {', '.join(MODEL_PREFIX)}")
    transient = t1 / 4 if transient is None else transient
    kw = {} if sampler is None else {"sampler": sampler}
    times = [] if i_ext is None else [float(x) for x in np.asarray(i_ext.times)]
    levels = [0.0] if i_ext is None else list(np.asarray(i_ext.values))
    net, start = None, 0.0
    for end, level in zip([*times, t1], levels):
        end = min(end, t1)
        if end <= start:
            continue
        net = simulate_network(params.replace(i_ext=params.i_ext + level), n=n, t1=end, dt=dt,
                               record_every=record_every, dtype=dtype, scheme=scheme, key=key,
                               raster=raster, progress=progress, resume=net, **kw)
        start = end
    ts = jnp.asarray(np.concatenate([[0.0], np.asarray(net.t)]), params.eta_bar.dtype)
    metrics, mfs = {}, {}
    for model in models:
        mf = solve_meanfield(params, t1=t1, ts=ts, model=model, rtol=rtol, atol=atol, i_ext=i_ext)
        mfs[model] = mf
        prefix = MODEL_PREFIX[model]
        for pop in range(params.n_populations):
            pre = prefix if params.n_populations == 1 else f"{prefix}pop{pop}_"
            metrics.update(compare_traces(net, mf, transient, population=pop, prefix=pre))
    metrics.update(n=int(net.network.n), t1=float(t1), dt=float(dt), transient=float(transient))
    return Comparison(network=net, meanfield=mfs, metrics=metrics)


def finite_size_study(params: Params, ns=(1000, 3000, 10_000), seeds=(0,), t1: float = 400.0, *,
                      sampler=None, progress: bool = False, **kwargs) -> dict:
    """Metrics against N (and seeds, for random sampling): {'n': [...], metric: (len(ns), len(seeds))}.
    The mean field is solved once per call of `compare`; the network dominates the cost."""
    import jax

    rows = {}
    for n in ns:
        for seed in seeds:
            cmp = compare(params, n=n, t1=t1, sampler=sampler, key=jax.random.key(seed),
                          progress=progress, **kwargs)
            for k, v in cmp.metrics.items():
                if isinstance(v, float):
                    rows.setdefault(k, []).append(v)
    shaped = {k: np.asarray(v).reshape(len(ns), len(seeds)) for k, v in rows.items()
              if len(v) == len(ns) * len(seeds)}
    return {"n": list(ns), "seeds": list(seeds), **shaped}
