"""A differentiable spiking network for gradient-based fitting: the theta-neuron form with smooth
spikes, run in a memory-bounded (checkpointed) scan.

The quadratic integrate-and-fire neuron of the model (model.md section 1, v_peak = -v_reset = inf)

    v' = v^2 - A v + I - w,   A = alpha + (gs),  I = eta_i + i_ext + (gs e_r)

becomes, with v = tan(theta / 2), the theta neuron

    theta' = (1 - cos theta) - A sin theta + (I - w)(1 + cos theta),

smooth everywhere: the passage of v through infinity is theta crossing pi. The spike train
sum_k delta(t - t_k) of a neuron is P(theta) theta' with P a smooth pulse of unit mass peaked at
pi, P(theta) = c_n (1 - cos theta)^n (`pulse_order` n; the delta is the limit n -> inf). Its
integral over a step is the difference Q(theta_new) - Q(theta_old) of the antiderivative
Q(theta) = theta / 2pi + (periodic trigonometric polynomial): a smooth spike count that adds up to
exactly 1 per crossing at any step size. That count drives the synapse
(s <- s - dt s / tau_s + s_jump * mean count) and the adaptation (w <- w + dt a (b v - w) +
w_jump * count), so the whole simulation, and any loss of its rate, is a smooth function of the
parameters: gradients are exact (for this model) and match finite differences (over long bursting
runs they explode, as for any chaotic system: see `ThetaNetwork.gradient_horizon`). In w' the term
b v uses the regularised tan(theta / 2) = sin theta / (1 + cos theta + delta), odd about pi and
bounded by v_peak, with delta = 1 / (2 v_peak^2) (the principal value the mean field's <v> takes).

Memory: reverse-mode differentiation of a plain scan stores every step. Here the steps of a
recording bin run in checkpointed blocks (about sqrt(steps per bin) each), bins in checkpointed
chunks (about sqrt(bins)), so the stored state is O(N (sqrt(bins) + sqrt(steps per bin) + block))
at the cost of recomputing the forward pass a few times: a few hundred time units at dt = 1e-3
(10^5+ steps) and N = 10^4 fit in a few hundred MB.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._results import RESULTS, status_message
from .heterogeneity import Quantiles
from .inputs import evaluate as evaluate_input
from .network import SimulationError, make_network
from .params import (
    OPTIONAL_FIELDS,
    ParameterError,
    Params,
    check_params,
    first_params,
    module_repr,
    synaptic_drive,
)

__all__ = ["ThetaNetwork", "ThetaResult", "simulate_theta", "spike_pulse"]


class ThetaNetwork(eqx.Module):
    """Settings of the differentiable network (what `jaxmf.fit(..., model=...)` simulates).

    n: total neurons (split by `fractions`) or per-population sizes; their excitabilities are
    deterministic Lorentzian quantiles (`sampler`, default `Quantiles()`; a random sampler needs
    `key`), so a loss is a deterministic function of the parameters. dt: Euler step (dimensionless;
    the theta form is smooth, so steps up to ~1e-2 stay stable, but the rate of the fastest
    neurons needs dt well below 1 / max eta_i for accuracy). pulse_order: sharpness n of the spike
    pulse (width ~ sqrt(2 / n) rad, i.e. about 1 / sqrt(2 n) time units; larger is closer to the
    delta spike, smaller smoother). checkpoint: False stores every step (faster, memory O(steps N);
    for short runs and tests of the checkpointing itself).

    gradient_horizon: None (default) gives the exact derivatives of this finite network. Inside
    bursts the network is chaotic: a spike time's derivative grows exponentially, so over long
    runs exact gradients are correct for the deterministic network but useless for fitting (N =
    10^4, 300 time units: dL/dp = +59.6 by forward and reverse mode alike, where the loss falls
    with slope -0.0025 over relative steps of 1e-2). A number H (time units) truncates the
    derivatives of the neuron phases every H (rounded to whole recording bins) while adaptation
    and synapses keep theirs: values are unchanged, the gradient is a biased estimate of the
    loss's slope at population scale (measured at H = 5: the right sign, magnitude about 7x
    smaller) that gradient-based fitting can follow. H = 5 fits 300 time units of a 10^4-neuron
    network (examples/network_fit.py); above ~20 the derivatives explode again.

    Attributes
    ----------
    n : int or tuple of int
        Total neurons or per-population sizes.
    dt : float
        Euler step.
    pulse_order : int
        Sharpness of the spike pulse, in [1, 64].
    checkpoint : bool
        Checkpoint the scan (memory-bounded gradients).
    sampler : Quantiles or RandomDraws
        How the Lorentzian excitabilities are drawn.
    key : jax.Array or None
        PRNG key for a random sampler.
    gradient_horizon : float or None
        None for exact derivatives, or the truncation horizon H in time units.

    Raises
    ------
    ParameterError
        When dt, pulse_order or gradient_horizon is out of range.

    Examples
    --------
    >>> from jaxmf.netfit import ThetaNetwork
    >>> model = ThetaNetwork(n=100, dt=1e-2)
    >>> model.n, model.dt, model.pulse_order, model.gradient_horizon
    (100, 0.01, 8, None)
    """

    n: int | tuple = eqx.field(static=True, default=10_000)
    dt: float = eqx.field(static=True, default=1e-3)
    pulse_order: int = eqx.field(static=True, default=8)
    checkpoint: bool = eqx.field(static=True, default=True)
    sampler: object = eqx.field(static=True, default=Quantiles())
    key: jax.Array | None = None
    gradient_horizon: float | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if not (isinstance(self.dt, (int, float)) and math.isfinite(self.dt) and self.dt > 0):
            raise ParameterError("dt", f"must be a finite number > 0; got {self.dt!r}")
        if not (isinstance(self.pulse_order, int) and 1 <= self.pulse_order <= 64):
            raise ParameterError(
                "pulse_order", f"must be an integer in [1, 64]; got {self.pulse_order!r}"
            )
        h = self.gradient_horizon
        if h is not None and not (
            isinstance(h, (int, float)) and not isinstance(h, bool) and math.isfinite(h) and h > 0
        ):
            raise ParameterError(
                "gradient_horizon",
                f"must be None (exact gradients) or a finite number of time units > 0; got {h!r}",
            )


class ThetaResult(eqx.Module):
    """Output of `simulate_theta`, per recording bin (time, population).

    Attributes
    ----------
    t : jax.Array
        Shape (T,). The bin end times.
    r : jax.Array
        Shape (T, P). Spikes per neuron per time unit over the bin (smooth count).
    v_mean : jax.Array
        Shape (T, P). Mean regularised tan(theta/2) at the bin end.
    w_mean : jax.Array
        Shape (T, P). Mean adaptation at the bin end.
    s : jax.Array
        Shape (T, P). Synaptic variables at the bin end.
    status : RESULTS
        successful, or diverged if the state became non-finite.
    message : str
        The status in words (empty when successful).

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.netfit import ThetaNetwork, simulate_theta
    >>> res = simulate_theta(presets.chen_campbell_2022(), t1=10.0, record_every=10,
    ...                      model=ThetaNetwork(n=100, dt=1e-2))
    >>> res.t.shape, res.r.shape, res.message
    ((100,), (100, 1), '')
    """

    t: jax.Array
    r: jax.Array
    v_mean: jax.Array
    w_mean: jax.Array
    s: jax.Array
    status: RESULTS

    @property
    def message(self) -> str:
        return status_message(self.status)

    def __repr__(self) -> str:
        return module_repr(self, ("t", "r", "v_mean", "w_mean", "s", "status"))


def _pulse_coefficients(order: int) -> np.ndarray:
    """beta_k, k = 1..n, of (1 - cos theta)^n / mass = (1 / 2pi)(1 + 2 sum_k beta_k cos k theta)."""
    mid = math.comb(2 * order, order)
    return np.array(
        [(-1) ** k * math.comb(2 * order, order - k) / mid for k in range(1, order + 1)]
    )


def spike_pulse(theta, order: int = 8):
    """The smooth spike pulse and the periodic part of its antiderivative.

    P(theta) = c_n (1 - cos theta)^n has unit mass over a period and its peak at theta = pi;
    its antiderivative is Q(theta) = theta / 2pi + S(theta).

    Parameters
    ----------
    theta : jax.Array
        Phases.
    order : int
        The pulse's sharpness n.

    Returns
    -------
    pulse : jax.Array
        P(theta), shaped like `theta`.
    periodic : jax.Array
        S(theta), shaped like `theta`.

    Examples
    --------
    >>> import math
    >>> import jax.numpy as jnp
    >>> from jaxmf.netfit import spike_pulse
    >>> theta = jnp.linspace(-math.pi, math.pi, 2001)
    >>> pulse, periodic = spike_pulse(theta)
    >>> round(float(jnp.trapezoid(pulse, theta)), 4)  # unit mass
    1.0
    >>> round(float(pulse[1000]), 4), round(float(pulse[-1]), 4)  # zero at 0, peak at pi
    (0.0, 0.8104)
    """
    beta = _pulse_coefficients(order)
    c, s = jnp.cos(theta), jnp.sin(theta)
    return _pulse_from_trig(c, s, beta)


def _pulse_from_trig(c, s, beta):
    # cos k theta, sin k theta by the Chebyshev recurrences from cos theta, sin theta.
    ck, sk = c, s
    c_prev, s_prev = jnp.ones_like(c), jnp.zeros_like(s)
    p = jnp.zeros_like(c)
    q = jnp.zeros_like(c)
    for k, b in enumerate(map(float, beta), start=1):
        p = p + b * ck
        q = q + (b / k) * sk
        if k < len(beta):
            ck, c_prev = 2 * c * ck - c_prev, ck
            sk, s_prev = 2 * c * sk - s_prev, sk
    return (1 + 2 * p) / (2 * math.pi), q / math.pi


class _Carry(NamedTuple):
    theta: tuple
    w: tuple
    s: jax.Array
    k: jax.Array  # bins done


def _block_size(n: int) -> int:
    """The divisor of n nearest to sqrt(n) from below: blocks of it balance stored states
    (n / block) against stored steps (block)."""
    b = max(1, int(math.isqrt(n)))
    while n % b:
        b -= 1
    return b


def simulate_theta(
    params: Params,
    t1: float,
    record_every: int,
    *,
    model: ThetaNetwork = ThetaNetwork(),
    dtype=None,
    throw: bool = True,
    i_ext=None,
) -> ThetaResult:
    """Simulate the differentiable theta-neuron network from the all-zero state (theta = v = 0,
    w = 0, s = 0) to t1, recording every `record_every` steps of `model.dt`.

    Pure and differentiable in `params` (jit, grad, vmap over parameter sets). Gradient memory
    is bounded by checkpointing (module doc).

    Parameters
    ----------
    params : Params
        One parameter set (vmap for a batch).
    t1 : float
        End time, a whole number of bins (dt * record_every).
    record_every : int
        Euler steps per recording bin.
    model : ThetaNetwork
        The network's settings (n, dt, pulse order, checkpointing).
    dtype : dtype, optional
        float32/float64 (default: the params' dtype).
    throw : bool
        Raise `SimulationError` (under jit: an `equinox.error_if` error) when the state becomes
        non-finite; with False the result comes back with status RESULTS.diverged.
    i_ext : jaxmf.inputs.Input or callable, optional
        An input in time (``t -> scalar or (P,)``) added to ``params.i_ext``, evaluated at each
        step's start n dt as in `jaxmf.simulate_network`; differentiable in its arrays.

    Returns
    -------
    ThetaResult
        The records per bin.

    Raises
    ------
    ParameterError
        When record_every is not an integer >= 1 or t1 is not a whole number of bins.
    SimulationError
        A non-finite state (with throw=True).

    Examples
    --------
    >>> import jax
    >>> from jaxmf import presets
    >>> from jaxmf.netfit import ThetaNetwork, simulate_theta
    >>> model = ThetaNetwork(n=100, dt=1e-2)
    >>> def mean_rate(eta_bar):
    ...     params = presets.chen_campbell_2022(eta_bar=eta_bar)
    ...     return simulate_theta(params, t1=10.0, record_every=10, model=model).r.mean()
    >>> round(float(mean_rate(0.25)), 2), bool(jax.grad(mean_rate)(0.25) > 0)  # more drive
    (0.15, True)
    """
    params = check_params(params)
    present = [name for name in OPTIONAL_FIELDS if getattr(params, name) is not None]
    if present:
        raise ParameterError(
            present[0],
            "the theta network has none of the model extensions (gamma, sigma, g_el, tau_r, "
            "delay); simulate them with simulate_network",
        )
    dtype = jnp.dtype(dtype or params.eta_bar.dtype)
    dt = model.dt
    if (
        isinstance(record_every, bool)
        or not isinstance(record_every, (int, np.integer))
        or record_every < 1
    ):
        raise ParameterError("record_every", f"must be an integer >= 1; got {record_every!r}")
    n_records = t1 / (dt * record_every)
    if not (math.isfinite(t1) and t1 > 0) or abs(n_records - round(n_records)) > 1e-6 * max(
        1, n_records
    ):
        raise ParameterError(
            "t1",
            f"must be a whole number > 0 of bins dt * record_every = "
            f"{dt * record_every:g}; got {t1!r}",
        )
    n_records = int(round(n_records))
    network = make_network(
        first_params(params), model.n, sampler=model.sampler, key=model.key, dtype=dtype
    )
    p = jax.tree.map(lambda x: jnp.asarray(x, dtype), params)
    sizes = network.sizes
    n_pop = len(sizes)
    beta = _pulse_coefficients(model.pulse_order)
    etas = tuple((p.eta_bar[m] + p.delta_eta[m] * z).astype(dtype) for m, z in enumerate(network.z))
    delta = 0.5 / (p.v_peak * p.v_peak)
    two_pi = 2 * math.pi

    def step(carry, n):
        # Carry: theta, cos, sin, S(theta) per population (the trigonometric values are
        # recomputed from theta at each checkpoint, not stored), w per population, s.
        # n: the step's index from t = 0.
        theta, cos, sin, q, w, s = carry
        gs, gse = synaptic_drive(p, s)
        A, c = p.alpha + gs, p.i_ext + gse
        if i_ext is not None:
            c = c + evaluate_input(i_ext, n.astype(dtype) * jnp.asarray(dt, dtype), n_pop, dtype)
        new = ([], [], [], [], [])
        counts = []
        for m in range(n_pop):
            drive = (etas[m] + c[m]) - w[m]
            dtheta = dt * ((1 - cos[m]) - A[m] * sin[m] + drive * (1 + cos[m]))
            th_u = theta[m] + dtheta
            th = jnp.where(th_u > math.pi, th_u - two_pi, th_u)
            cn, sn = jnp.cos(th), jnp.sin(th)
            _, qn = _pulse_from_trig(cn, sn, beta)
            count = dtheta / two_pi + (qn - q[m])  # smooth spikes this step
            v = sin[m] / (1 + cos[m] + delta)
            wn = w[m] + (dt * p.a[m]) * (p.b[m] * v - w[m]) + p.w_jump[m] * count
            for lst, x in zip(new, (th, cn, sn, qn, wn)):
                lst.append(x)
            counts.append(jnp.mean(count))
        counts = jnp.stack(counts)
        s_new = s - dt * s / p.tau_s + p.s_jump * counts
        th, cn, sn, qn, wn = (tuple(x) for x in new)
        return (th, cn, sn, qn, wn, s_new), counts

    def expand(c: _Carry):
        trig = [(jnp.cos(t), jnp.sin(t)) for t in c.theta]
        cos = tuple(x for x, _ in trig)
        sin = tuple(y for _, y in trig)
        q = tuple(_pulse_from_trig(x, y, beta)[1] for x, y in trig)
        return c.theta, cos, sin, q, c.w, c.s

    def one_bin(c: _Carry):
        if model.gradient_horizon is not None:
            # Truncated sensitivities: the phases' derivatives restart every horizon (in whole
            # bins); adaptation and synapses keep theirs. Values are unchanged.
            every = max(1, int(round(model.gradient_horizon / (dt * record_every))))
            cut = c.k % every == 0
            c = c._replace(
                theta=tuple(jnp.where(cut, jax.lax.stop_gradient(x), x) for x in c.theta)
            )

        length = _block_size(record_every) if model.checkpoint else record_every

        def block(c: _Carry, b):
            # Steps of block b of bin c.k: n = c.k * record_every + b * length + j.
            first = c.k * record_every + b * length
            full, counts = jax.lax.scan(
                lambda k, j: step(k, first + j), expand(c), jnp.arange(length)
            )
            return _Carry(full[0], full[4], full[5], c.k), jnp.sum(counts, axis=0)

        if model.checkpoint:
            block = jax.checkpoint(block)
            c, counts = jax.lax.scan(block, c, jnp.arange(record_every // length))
            counts = jnp.sum(counts, axis=0)
        else:
            c, counts = block(c, 0)
        v_mean = jnp.stack([jnp.mean(jnp.sin(t) / (1 + jnp.cos(t) + delta)) for t in c.theta])
        w_mean = jnp.stack([jnp.mean(x) for x in c.w])
        rec = (counts / (dt * record_every), v_mean, w_mean, c.s)
        return c._replace(k=c.k + 1), rec

    def bins(c: _Carry, length: int):
        if length == 0:
            return c, tuple(jnp.zeros((0, n_pop), dtype) for _ in range(4))
        bin_fn = jax.checkpoint(one_bin) if model.checkpoint else one_bin
        return jax.lax.scan(lambda k, _: bin_fn(k), c, None, length=length)

    zeros = lambda: tuple(jnp.zeros((m,), dtype) for m in sizes)
    c0 = _Carry(zeros(), zeros(), jnp.zeros((n_pop,), dtype), jnp.asarray(0))
    if model.checkpoint and n_records > 3:
        per_chunk = max(1, int(math.isqrt(n_records)))
        n_chunks, rest = divmod(n_records, per_chunk)
        chunk_fn = jax.checkpoint(lambda k: bins(k, per_chunk))
        c, recs = jax.lax.scan(lambda k, _: chunk_fn(k), c0, None, length=n_chunks)
        recs = tuple(x.reshape(n_chunks * per_chunk, n_pop) for x in recs)
        if rest:
            c, tail = bins(c, rest)
            recs = tuple(jnp.concatenate([a, b]) for a, b in zip(recs, tail))
    else:
        c, recs = bins(c0, n_records)
    r, v_mean, w_mean, s = recs
    finite = jnp.all(jnp.isfinite(r)) & jnp.all(jnp.isfinite(w_mean)) & jnp.all(jnp.isfinite(s))
    t = jnp.asarray(dt * record_every * np.arange(1, n_records + 1), dtype)
    message = "simulate_theta: non-finite state (blow-up); reduce model.dt"
    if throw:
        if any(isinstance(x, jax.core.Tracer) for x in (r, w_mean, s)):
            r = eqx.error_if(r, ~finite, message)
        elif not bool(finite):
            raise SimulationError(
                message,
                ThetaResult(
                    t=t,
                    r=r,
                    v_mean=v_mean,
                    w_mean=w_mean,
                    s=s,
                    # mypy types equinox Enumeration items as str (equinox#1121).
                    status=RESULTS.diverged,  # type: ignore[arg-type]
                ),
            )
    return ThetaResult(
        t=t,
        r=r,
        v_mean=v_mean,
        w_mean=w_mean,
        s=s,
        status=RESULTS.where(finite, RESULTS.successful, RESULTS.diverged),
    )
