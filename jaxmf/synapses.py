"""Electrical synapses (gap junctions) and second-order chemical synapses, network and mean field.

Both extensions are optional `Params` fields (None: absent, no code path); this module holds
their equations, shared by `jaxmf.network` and `jaxmf.meanfield`.

Gap junctions (`Params.g_el`, Pietras et al. 2019, PRE 100:042412; Montbrio & Pazo 2020, PRL
125:248101). Neuron i of population m is coupled to every neuron j of population k by a
conductance g_el[m, k] / N, like the chemical synapses of `g`, so it feels

    I_el,i = sum_k g_el[m, k] f_k (vbar_k - v_i),     f_k = fractions[k],

a scalar g_el means the same total coupling however the network is split into populations.
The current is linear in v_i, so the Lorentzian ansatz stays exact (the closure w_i ~ <w> of
the adaptation is the only approximation, as without gap junctions). With G_m = sum_k g_el[m, k]
f_k and (G vbar)_m = sum_k g_el[m, k] f_k v_k, the exact mean field of Chen & Campbell 2022
gains two terms:

    r' = ... - G r,      v' = ... + (G vbar) - G v.

For one population the v terms cancel (vbar = v): electrical coupling acts through the rate
equation only, narrowing the voltage distribution (its half-width pi r shrinks at rate G).

What vbar is in the network. The mean field's v is the centre of the Lorentzian voltage
density, its principal-value mean. A network has two estimates of it:

- the cut-off mean, the average of v_j over neurons with |v_j| <= v_peak (Pietras et al.'s
  network mean; what `Records.v_mean` records). It tends to the centre only as v_peak =
  -v_reset -> inf: at finite v_peak a neuron near the cut-off counts with a large weight, and
  with an asymmetric reset (v_reset != -v_peak) the mean is shifted by a term proportional to the
  rate, the "virtual chemical synapse" of Montbrio & Pazo 2020 that the Lorentzian mean field
  does not have. It also depends on v_peak, which for `ExactPassage` and `MobiusPassage` is only
  an observation bound.
- the Lorentzian centre (used here): with theta_j = 2 arctan v_j, the Kuramoto order parameter
  Z = <exp(i theta_j)> = <((1 - v_j^2) + 2 i v_j) / (1 + v_j^2)> and the conformal map
  pi r + i v = (1 - conj Z) / (1 + conj Z) of Montbrio, Pazo & Roxin 2015 (exact for a
  Lorentzian) give v_c = 2 Im Z / |1 + Z|^2. Every neuron counts with a bounded weight, a neuron
  at +-inf counts as theta = pi, there is no cut-off, no dependence on the scheme or on v_peak,
  and it is the quantity the mean field's v is. It costs one division per neuron and step,
  like the cut-off mean, and is smooth in v (gradients pass).

We couple the network through the Lorentzian centre: the network then simulates the model
whose N -> inf limit the mean field describes. Measured with the paper's scheme (`EulerReset`,
v_peak = -v_reset = 200, N = 10^4, eta_bar = 0.25, g_el = 0.2, t in (100, 200]): the cut-off
mean lies 0.05 above the centre on average (the voltage densities of the fast neurons are not
centred on 0, the cut-off is), and the network coupled through it is further from the mean field,
rate +5.5 % and <w> +3.2 % against +1.9 % and +0.7 % with the centre
(tests/test_gap_junctions.py). `order_parameter` and `meanfield_order_parameter` give |Z|, the
synchrony that gap junctions induce, for both.

Synaptic kinetics (`Params.tau_r`). With tau_r absent, population k's synaptic variable obeys
the first-order s_k' = -s_k / tau_s + s_jump r_k (a spike jumps s by s_jump / N). Given tau_r,
each spike instead jumps a rise variable x_k, which feeds s_k:

    x_k' = -x_k / tau_r + s_jump r_k,        s_k' = -s_k / tau_s + x_k / tau_r.

One spike at t = 0 gives the double-exponential kernel (`kernel`)

    s(t) = (s_jump / N) tau_s / (tau_s - tau_r) (exp(-t / tau_s) - exp(-t / tau_r)),

the alpha function (s_jump / N) (t / tau) exp(-t / tau) at tau_r = tau_s = tau. Normalisation:
the kernel's integral, s_jump tau_s / N, equals the first-order kernel's, so each spike brings
the same synaptic charge, the equilibria (s* = tau_s s_jump r*) are those of the first-order
model (only their stability changes), and as tau_r -> 0 the kernel tends to the first-order
exp(-t / tau_s). The network's x_k is a population quantity like s_k, so the mean field stays
exact with x as one more state variable per population (`MeanFieldState.x`).

Examples
--------
>>> import jax.numpy as jnp
>>> from jaxmf.synapses import lorentzian_from_order, order_parameter
>>> q = jnp.tan(jnp.pi * (jnp.arange(1, 20_000) / 20_000 - 0.5))  # Lorentzian quantiles
>>> rate, centre = lorentzian_from_order(order_parameter(0.3 + 0.05 * q))
>>> round(float(centre), 3), round(float(jnp.pi * rate), 3)  # centre 0.3, half-width 0.05
(0.3, 0.05)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "gap_junction_drive",
    "total_gap_conductance",
    "order_parameter",
    "lorentzian_from_order",
    "meanfield_order_parameter",
    "voltage_centres",
    "kernel",
    "rise_flow",
    "rise_step_euler",
    "rise_step_exact",
    "rise_step_midpoint",
]


def gap_junction_drive(params, v_bar) -> tuple[jax.Array, jax.Array]:
    """The gap-junction terms each population feels: G_m and (G vbar)_m.

    G_m = sum_k g_el[m, k] f_k and (G vbar)_m = sum_k g_el[m, k] f_k vbar_k, so that neuron i of
    population m feels (G vbar)_m - G_m v_i. Call it only when ``params.g_el`` is present.

    Parameters
    ----------
    params : Params
        The parameters, with ``g_el`` of shape (P, P).
    v_bar : jax.Array
        Shape (P,). Each population's mean voltage (the Lorentzian centre).

    Returns
    -------
    G : jax.Array
        Shape (P,). Total gap-junction conductance onto each population.
    G_vbar : jax.Array
        Shape (P,). The conductance-weighted mean voltages.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.params import Params
    >>> from jaxmf.synapses import gap_junction_drive
    >>> p = Params(eta_bar=[0.1, 0.2], fractions=[0.25, 0.75], g_el=[[0.0, 0.4], [0.4, 0.0]])
    >>> G, Gv = gap_junction_drive(p, jnp.array([1.0, -1.0]))
    >>> [round(x, 6) for x in G.tolist()], [round(x, 6) for x in Gv.tolist()]
    ([0.3, 0.1], [-0.3, 0.1])
    """
    return params.g_el @ params.fractions, params.g_el @ (params.fractions * v_bar)


def total_gap_conductance(params) -> float:
    """The largest G_m = sum_k g_el[m, k] f_k over populations (and batch elements); 0 when
    ``g_el`` is absent. The step-size bounds of the network add it to the leak term.

    Parameters
    ----------
    params : Params
        Concrete parameters.

    Returns
    -------
    float
        max_m G_m.

    Examples
    --------
    >>> from jaxmf.params import Params
    >>> from jaxmf.synapses import total_gap_conductance
    >>> total_gap_conductance(Params()), round(total_gap_conductance(Params(g_el=0.3)), 6)
    (0.0, 0.3)
    """
    if params.g_el is None:
        return 0.0
    g_el, f = np.asarray(params.g_el), np.asarray(params.fractions)
    return float(np.max(np.sum(g_el * f[..., None, :], axis=-1)))


def _order_sums(v):
    """(sum cos theta, sum sin theta) over the last axis, theta = 2 arctan v, without trig."""
    inv = 1.0 / (1.0 + v * v)
    return jnp.sum(2.0 * inv - 1.0, axis=-1), jnp.sum(2.0 * v * inv, axis=-1)


def order_parameter(v) -> jax.Array:
    """The Kuramoto order parameter Z = <exp(i theta_j)> of voltages v_j = tan(theta_j / 2).

    |Z| is 0 for an asynchronous population (uniform phases) and 1 in full synchrony. For a
    Lorentzian voltage density of centre v and half-width pi r, Z = (1 - conj W)/(1 + conj W)
    with W = pi r + i v (Montbrio, Pazo & Roxin 2015). A neuron at v = +-inf counts as theta = pi.

    Parameters
    ----------
    v : array_like
        Shape (..., N). Voltages of N neurons (over the last axis).

    Returns
    -------
    jax.Array
        Shape (...). Complex Z.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.synapses import order_parameter
    >>> complex(order_parameter(jnp.zeros(10)))  # every neuron at v = 0: theta = 0
    (1+0j)
    """
    v = jnp.asarray(v)
    c, s = _order_sums(v)
    n = v.shape[-1]
    return jax.lax.complex(c / n, s / n)


def lorentzian_from_order(z) -> tuple[jax.Array, jax.Array]:
    """(rate, centre) of the Lorentzian voltage density with order parameter z.

    pi r + i v = (1 - conj z) / (1 + conj z): r = (1 - |z|^2) / (pi |1 + z|^2) and
    v = 2 Im z / |1 + z|^2.

    Parameters
    ----------
    z : array_like
        Complex order parameter(s), |z| < 1.

    Returns
    -------
    rate : jax.Array
        The half-width over pi (the mean field's firing rate).
    centre : jax.Array
        The centre (the mean field's v).

    Examples
    --------
    >>> from jaxmf.synapses import lorentzian_from_order, meanfield_order_parameter
    >>> r, v = lorentzian_from_order(meanfield_order_parameter(0.1, -0.4))
    >>> round(float(r), 6), round(float(v), 6)
    (0.1, -0.4)
    """
    z = jnp.asarray(z)
    x, y = jnp.real(z), jnp.imag(z)
    den = (1.0 + x) ** 2 + y * y
    den = jnp.maximum(den, jnp.finfo(den.dtype).tiny)
    return (1.0 - x * x - y * y) / (jnp.pi * den), 2.0 * y / den


def meanfield_order_parameter(r, v) -> jax.Array:
    """The Kuramoto order parameter of the mean field's state: Z = (1 - conj W)/(1 + conj W).

    Parameters
    ----------
    r, v : array_like
        Rate and mean voltage (any matching shapes), W = pi r + i v.

    Returns
    -------
    jax.Array
        Complex Z, |Z| < 1 for r > 0.

    Examples
    --------
    >>> from jaxmf.synapses import meanfield_order_parameter
    >>> round(abs(complex(meanfield_order_parameter(1e-3, 0.0))), 4)  # narrow at v = 0
    0.9937
    """
    r, v = jnp.asarray(r), jnp.asarray(v)
    dtype = jnp.result_type(r, v, float)
    w_conj = jax.lax.complex(jnp.pi * r.astype(dtype), -v.astype(dtype))
    return (1.0 - w_conj) / (1.0 + w_conj)


def voltage_centres(v, axis_name=None) -> jax.Array:
    """The Lorentzian centre of each population's voltages: vbar of the gap-junction current.

    Parameters
    ----------
    v : tuple of jax.Array
        One array of shape (N_m,) per population.
    axis_name : str, optional
        Inside `jax.shard_map` with the neurons split along this mesh axis: the sums are
        `psum`'d (the populations' sizes are then the sum over devices).

    Returns
    -------
    jax.Array
        Shape (P,). The centres 2 Im Z / |1 + Z|^2 (see the module docstring).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.synapses import voltage_centres
    >>> q = jnp.tan(jnp.pi * (jnp.arange(1, 20_000) / 20_000 - 0.5))  # standard Lorentzian
    >>> [round(x, 3) for x in voltage_centres((0.5 + 0.1 * q, -1.0 + 0.2 * q)).tolist()]
    [0.5, -1.0]
    """
    out = []
    for vm in v:
        c, s = _order_sums(vm)
        n = jnp.asarray(vm.shape[-1], vm.dtype)
        if axis_name is not None:
            c, s, n = jax.lax.psum((c, s, n), axis_name)
        out.append(lorentzian_from_order(jax.lax.complex(c / n, s / n))[1])
    return jnp.stack(out)


def kernel(t, tau_s, tau_r=None) -> jax.Array:
    """The synaptic kernel: s(t) after one unit jump at t = 0 (per unit of s_jump / N).

    First order (tau_r None): exp(-t / tau_s). Second order: tau_s / (tau_s - tau_r)
    (exp(-t / tau_s) - exp(-t / tau_r)), or (t / tau) exp(-t / tau) at tau_r = tau_s = tau
    (computed stably near it); its integral is tau_s in every case. Zero for t < 0.

    Parameters
    ----------
    t : array_like
        Times after the spike.
    tau_s : float or array_like
        Decay time (> 0).
    tau_r : float or array_like, optional
        Rise time (> 0); None: first order.

    Returns
    -------
    jax.Array
        The kernel at t.

    Examples
    --------
    >>> from jaxmf.synapses import kernel
    >>> round(float(kernel(2.0, 2.0, 2.0)), 6), round(float(kernel(1.0, 2.6)), 6)  # alpha: e^-1
    (0.367879, 0.680712)
    """
    t = jnp.asarray(t, float)
    if tau_r is None:
        out = jnp.exp(-t / tau_s)
    else:
        # tau_s/(tau_s - tau_r) (e^{-t/tau_s} - e^{-t/tau_r}) = (t/tau_r) e^{-t/tau_s} phi(t k),
        # k = 1/tau_r - 1/tau_s, phi(z) = (1 - e^{-z})/z: no cancellation at tau_r = tau_s.
        out = (t / tau_r) * jnp.exp(-t / tau_s) * _phi(t * (1.0 / tau_r - 1.0 / tau_s))
    return jnp.where(t >= 0, out, 0.0)


def _phi(z):
    """(1 - exp(-z)) / z, 1 at z = 0, with finite gradients there."""
    small = jnp.abs(z) < 1e-6
    z_safe = jnp.where(small, 1.0, z)
    return jnp.where(small, 1.0 - 0.5 * z + z * z / 6.0, -jnp.expm1(-z_safe) / z_safe)


def rise_flow(s, x, h, tau_s, tau_r) -> tuple[jax.Array, jax.Array]:
    """The exact flow over a time h of x' = -x / tau_r, s' = -s / tau_s + x / tau_r (no spikes).

    Parameters
    ----------
    s, x : jax.Array
        Shape (P,). Synaptic and rise variables.
    h : float or jax.Array
        The time.
    tau_s, tau_r : jax.Array
        Shape (P,). Decay and rise times.

    Returns
    -------
    s, x : jax.Array
        The values after h.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.synapses import kernel, rise_flow
    >>> s, x = rise_flow(jnp.zeros(1), jnp.ones(1), 3.0, jnp.array([2.6]), jnp.array([0.5]))
    >>> bool(jnp.allclose(s, kernel(3.0, 2.6, 0.5))), round(float(x[0]), 6)  # x = e^{-6}
    (True, 0.002479)
    """
    decay_s = jnp.exp(-h / tau_s)
    s_new = s * decay_s + x * (h / tau_r) * decay_s * _phi(h * (1.0 / tau_r - 1.0 / tau_s))
    return s_new, x * jnp.exp(-h / tau_r)


def rise_step_euler(s, x, tau_s, tau_r, jump, dt, s_max) -> tuple[jax.Array, jax.Array]:
    """`EulerReset`'s step of the second-order synapse (the first-order update with x).

    x <- x - dt x / tau_r + jump, s <- min(s - dt s / tau_s + dt x / tau_r, s_max): forward
    Euler with the spikes of the step entering x at its end, as they enter s without tau_r.

    Parameters
    ----------
    s, x : jax.Array
        Shape (P,). Synaptic and rise variables before the step.
    tau_s, tau_r : jax.Array
        Shape (P,). Decay and rise times.
    jump : jax.Array
        Shape (P,). s_jump times the population's spikes of the step over its size.
    dt : float or jax.Array
        The step.
    s_max : float
        Upper bound on s.

    Returns
    -------
    s, x : jax.Array
        After the step.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.synapses import rise_step_euler
    >>> s, x = rise_step_euler(jnp.zeros(1), jnp.zeros(1), 2.6, 0.5, jnp.ones(1), 1e-3, 1.0)
    >>> float(s[0]), float(x[0])  # the spike reaches s one step later
    (0.0, 1.0)
    """
    s_new = jnp.minimum(s - dt * s / tau_s + dt * x / tau_r, s_max)
    return s_new, x - dt * x / tau_r + jump


def rise_step_exact(s, x, tau_s, tau_r, jump, dt, s_max) -> tuple[jax.Array, jax.Array]:
    """`ExactPassage`'s step: the exact flow over dt, then the step's spikes jump x.

    Parameters
    ----------
    s, x : jax.Array
        Shape (P,). Synaptic and rise variables.
    tau_s, tau_r : jax.Array
        Shape (P,). Decay and rise times.
    jump : jax.Array
        Shape (P,). The step's spikes' jump (s_jump * spikes / N).
    dt : jax.Array
        The time step.
    s_max : float or jax.Array
        The cap on s.

    Returns
    -------
    s, x : jax.Array
        The new values.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.synapses import rise_step_exact
    >>> s, x = rise_step_exact(jnp.zeros(1), jnp.zeros(1), 2.6, 0.5, jnp.ones(1), 1e-2, jnp.inf)
    >>> float(s[0]), float(x[0])
    (0.0, 1.0)
    """
    s_new, x_new = rise_flow(s, x, dt, tau_s, tau_r)
    return jnp.minimum(s_new, s_max), x_new + jump


def rise_step_midpoint(s, x, tau_s, tau_r, jump, dt, s_max) -> tuple[jax.Array, jax.Array]:
    """`MobiusPassage`'s step: the step's spikes jump x in mid-step (spike times spread evenly
    over the step), between two exact half-step flows.

    Parameters
    ----------
    s, x : jax.Array
        Shape (P,). Synaptic and rise variables.
    tau_s, tau_r : jax.Array
        Shape (P,). Decay and rise times.
    jump : jax.Array
        Shape (P,). The step's spikes' jump (s_jump * spikes / N).
    dt : jax.Array
        The time step.
    s_max : float or jax.Array
        The cap on s.

    Returns
    -------
    s, x : jax.Array
        The new values.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.synapses import rise_step_midpoint
    >>> s, x = rise_step_midpoint(jnp.zeros(1), jnp.zeros(1), 2.6, 0.5, jnp.ones(1), 1e-2,
    ...                           jnp.inf)
    >>> round(float(x[0]), 6), bool(s[0] > 0)  # x = e^{-h/(2 tau_r)}; s has started to rise
    (0.99005, True)
    """
    s_half, x_half = rise_flow(s, x, 0.5 * dt, tau_s, tau_r)
    s_new, x_new = rise_flow(s_half, x_half + jump, 0.5 * dt, tau_s, tau_r)
    return jnp.minimum(s_new, s_max), x_new
