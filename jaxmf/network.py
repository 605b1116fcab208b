"""The spiking network: all-to-all Izhikevich (QIF) neurons, adaptation and conductance synapses.

Dimensionless equations (neuron i of population m, model.md section 1):

    v_i' = v_i (v_i - alpha_m) - w_i + eta_i + i_ext_m + (gs)_m (e_r - v_i)
    w_i' = a_m (b_m v_i - w_i)
    s_k' = -s_k / tau_s,k + (s_jump,k / N_k) sum_spikes delta(t - t_spike)
    (gs)_m = sum_k g[m, k] fractions[k] s_k

Pure kernels (`make_network`, `init`, `step`, `run`) are jit-, vmap- and grad-friendly;
`simulate_network` is the convenience runner with progress, chunking, resume and error reporting.
How a spike is handled is chosen by passing a scheme object: `EulerReset` (the authors' scheme,
default), `ExactPassage` (frozen-coefficient exact solution through v = +-inf) or `MobiusPassage`
(the same solution as one Möbius map of v with truncated coefficients: the fastest route to a
given accuracy, see benchmarks/work_precision.py).
With `Params.gamma` or `Params.sigma` every neuron gets independent noise kicks after each step
(`jaxmf.noise`: reproducible from the state's key, clamped at EulerReset's cut-off).
"""

from __future__ import annotations

import functools
import math
import time
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._loop import Progress, check_memory, compiler_options, run_chunks
from ._results import RESULTS, Interrupted, NumericalError, status_message
from ._results import where as status_where
from .connectivity import (
    SparseCoupling,
    build_coupling,
    check_coupling_memory,
    mean_synapse,
    sparse_step,
    split_coupling,
)
from .delay import DelayLine, check_delay_line, init_delay_line, max_delay_steps, network_drive
from .heterogeneity import Quantiles, lorentzian_quantiles
from .inputs import evaluate as evaluate_input
from .inputs import input_bound, target_mask
from .monitors import (
    Monitor,
    MonitorRecord,
    MonitorRows,
    monitor_bytes,
    monitor_every,
    monitor_indices,
    monitor_record,
    pick,
)
from .noise import add_noise, check_split_noise, has_noise, step_key
from .params import (
    ParameterError,
    Params,
    check_params,
    first_params,
    module_repr,
    stack_params,
    synaptic_drive,
)
from .synapses import (
    gap_junction_drive,
    rise_step_euler,
    rise_step_exact,
    rise_step_midpoint,
    total_gap_conductance,
    voltage_centres,
)

__all__ = [
    "EulerReset",
    "ExactPassage",
    "MobiusPassage",
    "Network",
    "NetworkState",
    "Records",
    "NetworkResult",
    "SimulationError",
    "SimulationInterrupted",
    "make_network",
    "init",
    "init_from_meanfield",
    "step",
    "run",
    "simulate_network",
    "stack_params",
    "validate_run",
    "traced_max_dt",
]


class SimulationError(NumericalError):
    """Numerical failure during a simulation (a `NumericalError`).

    Parameters
    ----------
    message : str
        What went wrong, with advice.
    result : NetworkResult
        Everything computed before the failure.

    Attributes
    ----------
    result : NetworkResult
        Everything computed before the failure, its `status` RESULTS.diverged.

    Examples
    --------
    >>> from jaxmf.network import SimulationError
    >>> from jaxmf._results import NumericalError
    >>> issubclass(SimulationError, NumericalError)
    True
    """


class _Drive(NamedTuple):
    """Per-step, per-population constants of the voltage equation v' = v^2 - A v + eta_i + c - w."""

    A: jax.Array  # alpha + (gs)
    c: jax.Array  # i_ext + (gs e_r)


class EulerReset(eqx.Module):
    """The authors' scheme (Chen & Campbell 2022, ModelDB 267382), reproduced exactly.

    Forward Euler with step dt. A neuron with v >= v_peak at the start of a step spikes: its v is
    set to v_reset - (v - v_peak) (for the paper's v_reset = -v_peak that is the reflection v -> -v;
    with `reflect=False` it is set to v_reset), w += w_jump, and it takes no Euler step that step.
    s <- min(s - dt s / tau_s + s_jump * spikes / N, s_max).

    The scheme needs small steps: see `max_dt`.

    Attributes
    ----------
    reflect : bool
        Reset to v_reset - (v - v_peak) (True, the paper's) or to v_reset (False).
    s_max : float
        Upper bound on s.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import EulerReset, simulate_network
    >>> res = simulate_network(presets.chen_campbell_2022(), n=200, t1=20.0, scheme=EulerReset(),
    ...                        progress=False)
    >>> res.r.shape, res.message
    ((200, 1), '')
    """

    reflect: bool = eqx.field(default=True, static=True)
    s_max: float = eqx.field(default=1.0, static=True)

    def prepare_eta(self, eta, dt):
        """The excitabilities as `population_step` takes them: dt * eta (one multiply less per
        neuron and step).

        Parameters
        ----------
        eta : jax.Array
            Per-neuron excitabilities of one population.
        dt : jax.Array
            The time step.

        Returns
        -------
        jax.Array
            What `population_step` receives as `eta`.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf.network import EulerReset
        >>> [round(float(x), 6) for x in EulerReset().prepare_eta(jnp.array([0.5]), 0.1)]
        [0.05]
        """
        return dt * eta  # the step below takes dt * eta: one multiply less per neuron and step

    def population_step(self, v, w, dt_eta, drive: _Drive, a, b, w_jump, v_peak, v_reset, dt):
        """Advance one population's neurons by one step; return (v, w, spiked).

        Parameters
        ----------
        v, w : jax.Array
            The neurons' potentials and adaptation.
        dt_eta : jax.Array
            Their excitabilities times dt, from `prepare_eta`.
        drive : _Drive
            The population's drive this step: A (the quadratic term's shift alpha + gs) and c
            (i_ext + gs e_r and any input), v' = v (v - A) + eta + c - w.
        a, b, w_jump : jax.Array
            The population's adaptation rate, coupling and increment per spike.
        v_peak, v_reset : jax.Array
            Cut-off and reset.
        dt : jax.Array
            The time step.

        Returns
        -------
        v, w : jax.Array
            The new state.
        spiked : jax.Array
            Which neurons fired in the step (bool).

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf.network import EulerReset, _Drive
        >>> scheme = EulerReset()
        >>> eta = scheme.prepare_eta(jnp.array([0.1, 0.1]), 0.01)
        >>> v, w, spiked = scheme.population_step(jnp.array([0.0, 1e4]), jnp.zeros(2), eta,
        ...     _Drive(A=jnp.asarray(0.6), c=jnp.asarray(0.0)), 0.01, -0.006, 0.02, 200.0, -200.0,
        ...     0.01)
        >>> spiked.tolist()  # the neuron far above the cut-off fires
        [False, True]
        """
        spiked = v >= v_peak
        # v + dt (v (v - A) + eta + c - w), regrouped into two fused multiply-adds.
        v_euler = v * (dt * v + (1 - dt * drive.A)) + ((dt_eta + dt * drive.c) - dt * w)
        w_euler = w * (1 - dt * a) + (dt * a * b) * v
        v_spk = (v_reset - (v - v_peak)) if self.reflect else jnp.broadcast_to(v_reset, v.shape)
        v_new = jnp.where(spiked, v_spk, v_euler)
        w_new = jnp.where(spiked, w + w_jump, w_euler)
        return v_new, w_new, spiked

    def synapse_step(self, s, tau_s, jump, dt):
        """The synaptic variables after one step: decay with tau_s and the step's jump
        (s_jump * spikes / N), capped at s_max.

        Parameters
        ----------
        s : jax.Array
            Shape (P,). The synaptic variables.
        tau_s : jax.Array
            Shape (P,). Their time constants.
        jump : jax.Array
            Shape (P,). The jump of this step's spikes.
        dt : jax.Array
            The time step.

        Returns
        -------
        jax.Array
            Shape (P,). The new s.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf.network import EulerReset
        >>> [round(float(x), 6) for x in EulerReset().synapse_step(jnp.array([1.0]), 2.0, 0.0, 0.1)]
        [0.95]
        """
        return jnp.minimum(s - dt * s / tau_s + jump, self.s_max)

    def rise_step(self, s, x, tau_s, tau_r, jump, dt):
        """(s, x) after one step of second-order synapses (`Params.tau_r`; equations in
        `jaxmf.synapses`): the spikes' jump enters the rise variable x.

        Parameters
        ----------
        s, x : jax.Array
            Shape (P,). Synaptic and rise variables.
        tau_s, tau_r : jax.Array
            Shape (P,). Decay and rise times.
        jump : jax.Array
            Shape (P,). The jump of this step's spikes.
        dt : jax.Array
            The time step.

        Returns
        -------
        s, x : jax.Array
            The new values.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf.network import EulerReset
        >>> s, x = EulerReset().rise_step(jnp.array([0.0]), jnp.array([1.0]), 2.0, 1.0, 0.0, 0.1)
        >>> round(float(s[0]), 6), round(float(x[0]), 6)
        (0.1, 0.9)
        """
        return rise_step_euler(s, x, tau_s, tau_r, jump, dt, self.s_max)

    def max_dt(self, params: Params, eta_max: float) -> float:
        """Largest stable dt: the smallest of `bounds` (the reset bound, tau_s and 1/a).

        Parameters
        ----------
        params : Params
            The run's parameters.
        eta_max : float
            The largest |eta_i| of the sampled network.

        Returns
        -------
        float
            The bound.

        Examples
        --------
        >>> from jaxmf import presets
        >>> from jaxmf.network import EulerReset
        >>> round(EulerReset().max_dt(presets.chen_campbell_2022(), eta_max=10.0), 6)
        0.003069
        """
        return min(self.bounds(params, eta_max).values())

    def bounds(self, params: Params, eta_max: float) -> dict[str, float]:
        """Every step-size bound of the explicit updates, by what it protects.

        'synapse (tau_s)': s <- s (1 - dt / tau_s) + jump stays positive and non-oscillating
        only for dt < tau_s (at tau_s = 1e-6 and dt = 1e-3 s swings to -99 and the population
        falls silent). 'adaptation (1/a)': likewise w <- w (1 - dt a) + ... needs dt < 1/a.
        'reset (v_peak)': the bound of `reset_dt`. Each population's smallest value counts.

        Parameters
        ----------
        params : Params
            The run's parameters.
        eta_max : float
            The largest |eta_i| of the sampled network.

        Returns
        -------
        dict of str to float
            Each bound, by what it protects.

        Examples
        --------
        >>> from jaxmf import presets
        >>> from jaxmf.network import EulerReset
        >>> bounds = EulerReset().bounds(presets.chen_campbell_2022(), eta_max=10.0)
        >>> {k: round(v, 6) for k, v in bounds.items()}
        {'reset (v_peak)': 0.003069, 'synapse (tau_s)': 2.6, 'adaptation (1/a)': 130.0}
        """
        p = jax.tree.map(np.asarray, params)
        bounds = {
            "reset (v_peak)": self.reset_dt(params, eta_max),
            "synapse (tau_s)": float(np.min(p.tau_s)),
            "adaptation (1/a)": float(1.0 / np.max(p.a)),
        }
        if p.tau_r is not None:
            bounds["synaptic rise (tau_r)"] = float(np.min(p.tau_r))
        return bounds

    def reset_dt(self, params: Params, eta_max: float) -> float:
        """Largest dt at which a reset neuron cannot skip the passage through infinity.

        A neuron just below v_peak overshoots in one step to u = v_peak + dt F(v_peak), with
        F(v) ~ v^2 + |alpha + gs| v + eta_max + c the largest drive. After the reflection the next
        Euler step from -u is -u + dt (u^2 + A u + ...) = u (dt (u + A) - 1) + ..., which stays
        negative only if dt (u + A) < 1. At dt = 1/v_peak this fails: the neuron jumps from
        -v_peak to ~0 (or straight back above v_peak, spiking every step), which is what makes the
        rate wrong by -80%..+750% at dt = 5e-3. Solving dt (u(dt) + A) = 1 for dt gives the bound;
        with v_peak = 200 and the paper's values it is dt < 3.08e-3
        (x = dt v_peak < (sqrt 5 - 1)/2).

        Parameters
        ----------
        params : Params
            The run's parameters.
        eta_max : float
            The largest |eta_i| of the sampled network.

        Returns
        -------
        float
            The bound, found by bisection.

        Examples
        --------
        >>> from jaxmf import presets
        >>> from jaxmf.network import EulerReset
        >>> dt = EulerReset().reset_dt(presets.chen_campbell_2022(), eta_max=10.0)
        >>> round(dt, 6), dt * 200 < (5**0.5 - 1) / 2
        (0.003069, True)
        """
        p = jax.tree.map(np.asarray, params)
        vp = float(np.max(np.abs(p.v_peak if self.reflect else np.maximum(p.v_peak, -p.v_reset))))
        gs_max = float(np.max(np.sum(p.g * p.fractions[..., None, :] * self.s_max, axis=-1)))
        A = float(np.max(np.abs(p.alpha))) + gs_max + total_gap_conductance(p)
        c = float(np.max(p.i_ext)) + gs_max * float(np.max(np.abs(p.e_r))) + max(eta_max, 0.0)

        def excess(dt):
            u = vp + dt * (vp * vp + A * vp + c)
            return dt * (u + A) - 1.0

        lo, hi = 0.0, 1.0 / vp
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if excess(mid) < 0 else (lo, mid)
        return lo


def _series(z, coeffs):
    out = jnp.full_like(z, coeffs[-1])
    for c in coeffs[-2::-1]:
        out = out * z + c
    return out


# cos(sqrt z) = sum (-z)^k/(2k)!, sin(sqrt z)/sqrt z = sum (-z)^k/(2k+1)!; truncated where the next
# term is below float64 round-off for |z| <= 1, the range ExactPassage.max_dt enforces.
_COS_COEFFS = tuple((-1.0) ** k / math.factorial(2 * k) for k in range(10))
_SINC_COEFFS = tuple((-1.0) ** k / math.factorial(2 * k + 1) for k in range(10))


class ExactPassage(eqx.Module):
    """Exact passage through infinity (v_peak = -v_reset = inf, the mean field's limit).

    Over one step the coefficients (w, s) are frozen and the Riccati equation
    u' = u^2 + J, u = v - A/2, J = eta + c - w - A^2/4, is solved in closed form through the
    linearisation u = -y'/y, y'' = -J y, y(0) = 1: a spike is a zero of y within the step, after
    which v re-enters from -inf; w integrates v exactly in the principal-value sense
    (int v dt = -ln|y(dt)| + A dt / 2) and jumps by w_jump per spike. There is no v_peak artefact
    (v_peak only bounds which neurons enter <v>), no skipped passage at any dt, and the error is
    first order in dt from freezing w and s. s decays exactly between steps.

    Justification: it is the integral of the model the mean field is exact for, so it converges to
    the mean field's assumptions as dt -> 0 while staying stable at dt ~ 1e-2, where the authors'
    Euler scheme with v_peak = 200 cannot run at all (see `EulerReset.max_dt`).

    Attributes
    ----------
    s_max : float
        Upper bound on s (default: none).

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import ExactPassage, simulate_network
    >>> res = simulate_network(presets.tonic(), n=200, t1=20.0, dt=2e-2, record_every=50,
    ...                        scheme=ExactPassage(), progress=False)
    >>> res.r.shape, res.message
    ((20, 1), '')
    """

    s_max: float = eqx.field(default=math.inf, static=True)

    def prepare_eta(self, eta, dt):
        """The excitabilities as `population_step` takes them (unchanged).

        Parameters
        ----------
        eta : jax.Array
            Per-neuron excitabilities of one population.
        dt : jax.Array
            The time step.

        Returns
        -------
        jax.Array
            What `population_step` receives as `eta`.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf.network import ExactPassage
        >>> [round(float(x), 6) for x in ExactPassage().prepare_eta(jnp.array([0.5]), 0.1)]
        [0.5]
        """
        return eta

    def population_step(self, v, w, eta, drive: _Drive, a, b, w_jump, v_peak, v_reset, dt):
        """Advance one population's neurons by one step; return (v, w, spiked).

        Parameters
        ----------
        v, w : jax.Array
            The neurons' potentials and adaptation.
        eta : jax.Array
            Their excitabilities, from `prepare_eta`.
        drive : _Drive
            The population's drive this step: A (the quadratic term's shift alpha + gs) and c
            (i_ext + gs e_r and any input), v' = v (v - A) + eta + c - w.
        a, b, w_jump : jax.Array
            The population's adaptation rate, coupling and increment per spike.
        v_peak, v_reset : jax.Array
            Cut-off and reset.
        dt : jax.Array
            The time step.

        Returns
        -------
        v, w : jax.Array
            The new state.
        spiked : jax.Array
            Which neurons fired in the step (bool).

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf.network import ExactPassage, _Drive
        >>> scheme = ExactPassage()
        >>> eta = scheme.prepare_eta(jnp.array([0.1, 0.1]), 0.01)
        >>> v, w, spiked = scheme.population_step(jnp.array([0.0, 1e4]), jnp.zeros(2), eta,
        ...     _Drive(A=jnp.asarray(0.6), c=jnp.asarray(0.0)), 0.01, -0.006, 0.02, 200.0, -200.0,
        ...     0.01)
        >>> spiked.tolist()  # the neuron far above the cut-off fires
        [False, True]
        """
        del v_reset
        half_A = 0.5 * drive.A
        u0 = v - half_A
        J = (eta + drive.c) - w - half_A * half_A
        dt = jnp.asarray(dt, v.dtype)
        z = J * (dt * dt)
        cz = _series(z, _COS_COEFFS)
        sz = dt * _series(z, _SINC_COEFFS)  # sin(sqrt(J) dt)/sqrt(J)
        y = cz - u0 * sz
        yp = -(J * sz) - u0 * cz
        spiked = y <= 0
        tiny = jnp.finfo(v.dtype).tiny
        y_safe = jnp.where(jnp.abs(y) < tiny, tiny, y)
        u_cap = 1.0 / (dt * jnp.finfo(v.dtype).eps)  # beyond this the time to infinity is < eps dt
        u1 = jnp.clip(-yp / y_safe, -u_cap, u_cap)
        mean_v = (half_A * dt - jnp.log(jnp.abs(y_safe))) / dt
        w_new = w + (dt * a) * (b * mean_v - w) + jnp.where(spiked, w_jump, 0.0)
        return u1 + half_A, w_new, spiked

    def synapse_step(self, s, tau_s, jump, dt):
        """The synaptic variables after one step: decay with tau_s and the step's jump
        (s_jump * spikes / N), capped at s_max.

        Parameters
        ----------
        s : jax.Array
            Shape (P,). The synaptic variables.
        tau_s : jax.Array
            Shape (P,). Their time constants.
        jump : jax.Array
            Shape (P,). The jump of this step's spikes.
        dt : jax.Array
            The time step.

        Returns
        -------
        jax.Array
            Shape (P,). The new s.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf.network import ExactPassage
        >>> s = ExactPassage().synapse_step(jnp.array([1.0]), 2.0, 0.0, 0.1)
        >>> [round(float(x), 6) for x in s]
        [0.951229]
        """
        return jnp.minimum(s * jnp.exp(-dt / tau_s) + jump, self.s_max)

    def rise_step(self, s, x, tau_s, tau_r, jump, dt):
        """(s, x) after one step of second-order synapses (`Params.tau_r`; equations in
        `jaxmf.synapses`): the spikes' jump enters the rise variable x.

        Parameters
        ----------
        s, x : jax.Array
            Shape (P,). Synaptic and rise variables.
        tau_s, tau_r : jax.Array
            Shape (P,). Decay and rise times.
        jump : jax.Array
            Shape (P,). The jump of this step's spikes.
        dt : jax.Array
            The time step.

        Returns
        -------
        s, x : jax.Array
            The new values.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf.network import ExactPassage
        >>> s, x = ExactPassage().rise_step(jnp.array([0.0]), jnp.array([1.0]), 2.0, 1.0, 0.0, 0.1)
        >>> round(float(s[0]), 6), round(float(x[0]), 6)
        (0.092784, 0.904837)
        """
        return rise_step_exact(s, x, tau_s, tau_r, jump, dt, self.s_max)

    def max_dt(self, params: Params, eta_max: float) -> float:
        """Largest dt keeping |J| dt^2 <= 1: the series for cos and sin stay accurate and a neuron
        spikes at most once per step (its period pi/sqrt(J) spans >= pi steps).

        |J| <= eta_max + |i_ext| + g |e_r| + A^2/4 + |w|, with s <= 1 (the synaptic variable of a
        population stays far below 1 in every regime of the paper) and the adaptation of the
        fastest neuron, w ~ w_jump * rate / a with rate = sqrt(eta_max)/pi.

        Parameters
        ----------
        params : Params
            The run's parameters.
        eta_max : float
            The largest |eta_i| of the sampled network.

        Returns
        -------
        float
            The bound.

        Examples
        --------
        >>> from jaxmf import presets
        >>> from jaxmf.network import ExactPassage
        >>> round(ExactPassage().max_dt(presets.tonic(), eta_max=640.0), 4)
        0.0389
        """
        p = jax.tree.map(np.asarray, params)
        gs_max = float(np.max(np.sum(p.g * p.fractions[..., None, :], axis=-1)))
        A = float(np.max(np.abs(p.alpha))) + gs_max + total_gap_conductance(p)
        w_max = float(np.max(p.w_jump / p.a)) * math.sqrt(max(eta_max, 0.0)) / math.pi
        j_max = (
            abs(eta_max)
            + float(np.max(np.abs(p.i_ext)))
            + gs_max * float(np.max(np.abs(p.e_r)))
            + A * A / 4
            + w_max
        )
        return 1.0 / math.sqrt(j_max)


class MobiusPassage(eqx.Module):
    """Frozen-coefficient passage through infinity as one Möbius map of v: the fast scheme.

    Over one step h the coefficients (w, s) are frozen, as in `ExactPassage`, and the Riccati
    equation u' = u^2 + J (u = v - A/2, J = eta + c - w - A^2/4) has the exact solution

        u1 = (C u0 + J S) / (C - S u0),    C = cos(sqrt(J) h),  S = sin(sqrt(J) h) / sqrt(J),

    a Möbius map of u0 whose denominator D = C - S u0 is y(h) of the linearisation u = -y'/y: a
    spike is D <= 0 (v passed +inf and re-entered from -inf), and int v dt = A h/2 - ln|D| (the
    principal value) drives w. C and S are even series in sqrt(J) h, truncated after the
    (J h^2)^2 term (relative error below 1.4e-3 at the largest allowed step, |J| h^2 <= 1, and
    below 1e-11 for the typical neuron at h = 1e-2), so a step costs one division and one
    logarithm, about 1.6x an Euler step instead of ExactPassage's 5x.

    The population's spikes of a step enter s with the weight exp(-h/(2 tau_s)) of a spike in
    mid-step (spike times spread evenly over the step), not as if at its end: that removes the
    first-order bias of s (h/(2 tau_s), 0.2% of s at h = 1e-2) and leaves an error about 25x
    smaller than ExactPassage's at the same h. Still first order (frozen w and s), so use
    Richardson extrapolation for the dt -> 0 limit.

    Use it for long or large runs of the model the mean field is exact for (v_peak = -v_reset =
    inf): at h = 2e-2 the mean rate, <w> and burst period of the paper's network are within 0.1%
    of their dt -> 0 limits. v_peak only bounds which neurons enter <v>.

    Attributes
    ----------
    s_max : float
        Upper bound on s (default: none).

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import MobiusPassage, simulate_network
    >>> res = simulate_network(presets.tonic(), n=200, t1=20.0, dt=2e-2, record_every=50,
    ...                        scheme=MobiusPassage(), progress=False)
    >>> res.r.shape, round(float(res.r[-10:, 0].mean()), 2)
    ((20, 1), 0.23)
    """

    s_max: float = eqx.field(default=math.inf, static=True)

    def prepare_eta(self, eta, dt):
        """The excitabilities as `population_step` takes them (unchanged).

        Parameters
        ----------
        eta : jax.Array
            Per-neuron excitabilities of one population.
        dt : jax.Array
            The time step.

        Returns
        -------
        jax.Array
            What `population_step` receives as `eta`.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf.network import MobiusPassage
        >>> [round(float(x), 6) for x in MobiusPassage().prepare_eta(jnp.array([0.5]), 0.1)]
        [0.5]
        """
        return eta

    def population_step(self, v, w, eta, drive: _Drive, a, b, w_jump, v_peak, v_reset, dt):
        """Advance one population's neurons by one step; return (v, w, spiked).

        Parameters
        ----------
        v, w : jax.Array
            The neurons' potentials and adaptation.
        eta : jax.Array
            Their excitabilities, from `prepare_eta`.
        drive : _Drive
            The population's drive this step: A (the quadratic term's shift alpha + gs) and c
            (i_ext + gs e_r and any input), v' = v (v - A) + eta + c - w.
        a, b, w_jump : jax.Array
            The population's adaptation rate, coupling and increment per spike.
        v_peak, v_reset : jax.Array
            Cut-off and reset.
        dt : jax.Array
            The time step.

        Returns
        -------
        v, w : jax.Array
            The new state.
        spiked : jax.Array
            Which neurons fired in the step (bool).

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf.network import MobiusPassage, _Drive
        >>> scheme = MobiusPassage()
        >>> eta = scheme.prepare_eta(jnp.array([0.1, 0.1]), 0.01)
        >>> v, w, spiked = scheme.population_step(jnp.array([0.0, 1e4]), jnp.zeros(2), eta,
        ...     _Drive(A=jnp.asarray(0.6), c=jnp.asarray(0.0)), 0.01, -0.006, 0.02, 200.0, -200.0,
        ...     0.01)
        >>> spiked.tolist()  # the neuron far above the cut-off fires
        [False, True]
        """
        del v_peak, v_reset
        half_A = 0.5 * drive.A
        u0 = v - half_A
        J = (eta + (drive.c - half_A * half_A)) - w
        h = jnp.asarray(dt, v.dtype)
        z = J * (h * h)
        C = 1.0 + z * (-0.5 + z * (1.0 / 24.0))
        hS = h * (1.0 + z * (-1.0 / 6.0 + z * (1.0 / 120.0)))
        D = C - hS * u0
        spiked = D <= 0
        # D = 0 exactly (v lands on infinity at the step's end) would give inf and then NaN.
        D = jnp.where(D == 0, jnp.finfo(v.dtype).tiny, D)
        u_cap = 1.0 / (h * jnp.finfo(v.dtype).eps)  # beyond this the time to infinity is < eps h
        u1 = jnp.clip((C * u0 + J * hS) / D, -u_cap, u_cap)
        mean_v = half_A - jnp.log(jnp.abs(D)) / h
        w_new = w + (h * a) * (b * mean_v - w) + jnp.where(spiked, w_jump, 0.0)
        return u1 + half_A, w_new, spiked

    def synapse_step(self, s, tau_s, jump, dt):
        """The synaptic variables after one step: decay with tau_s and the step's jump
        (s_jump * spikes / N), capped at s_max.

        Parameters
        ----------
        s : jax.Array
            Shape (P,). The synaptic variables.
        tau_s : jax.Array
            Shape (P,). Their time constants.
        jump : jax.Array
            Shape (P,). The jump of this step's spikes.
        dt : jax.Array
            The time step.

        Returns
        -------
        jax.Array
            Shape (P,). The new s.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf.network import MobiusPassage
        >>> s = MobiusPassage().synapse_step(jnp.array([1.0]), 2.0, 0.0, 0.1)
        >>> [round(float(x), 6) for x in s]
        [0.951229]
        """
        decay_half = jnp.exp(-0.5 * dt / tau_s)
        return jnp.minimum((s * decay_half + jump) * decay_half, self.s_max)

    def rise_step(self, s, x, tau_s, tau_r, jump, dt):
        """(s, x) after one step of second-order synapses (`Params.tau_r`; equations in
        `jaxmf.synapses`): the spikes' jump enters the rise variable x.

        Parameters
        ----------
        s, x : jax.Array
            Shape (P,). Synaptic and rise variables.
        tau_s, tau_r : jax.Array
            Shape (P,). Decay and rise times.
        jump : jax.Array
            Shape (P,). The jump of this step's spikes.
        dt : jax.Array
            The time step.

        Returns
        -------
        s, x : jax.Array
            The new values.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from jaxmf.network import MobiusPassage
        >>> s, x = MobiusPassage().rise_step(jnp.array([0.0]), jnp.array([1.0]), 2.0, 1.0, 0.0, 0.1)
        >>> round(float(s[0]), 6), round(float(x[0]), 6)
        (0.092784, 0.904837)
        """
        return rise_step_midpoint(s, x, tau_s, tau_r, jump, dt, self.s_max)

    def max_dt(self, params: Params, eta_max: float) -> float:
        """Largest dt keeping |J| dt^2 <= 1 (a neuron spikes at most once per step and the
        truncated series stay accurate); the same bound as `ExactPassage.max_dt`.

        Parameters
        ----------
        params : Params
            The run's parameters.
        eta_max : float
            The largest |eta_i| of the sampled network.

        Returns
        -------
        float
            The bound.

        Examples
        --------
        >>> from jaxmf import presets
        >>> from jaxmf.network import MobiusPassage
        >>> round(MobiusPassage().max_dt(presets.tonic(), eta_max=640.0), 4)
        0.0389
        """
        return ExactPassage().max_dt(params, eta_max)


class Network(eqx.Module):
    """The network's fixed structure: population sizes and standard Lorentzian samples.

    Built by `make_network`; eta_i = eta_bar + delta_eta * z_i.

    Attributes
    ----------
    sizes : tuple of int
        Neurons per population.
    z : tuple of jax.Array
        One array of shape (sizes[m],) per population: the standard Lorentzian samples z_i.
    n : int
        The total number of neurons.
    coupling : SparseCoupling or None
        The sparse connectivity (None: all-to-all).

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import make_network
    >>> net = make_network(presets.chen_campbell_2022(), 100)
    >>> net.sizes, net.n
    ((100,), 100)
    """

    sizes: tuple[int, ...] = eqx.field(static=True)
    z: tuple[jax.Array, ...]
    coupling: SparseCoupling | None = None

    @property
    def n(self) -> int:
        return sum(self.sizes)


class NetworkState(eqx.Module):
    """Everything needed to continue a run, from `init`, `step` or `run`.

    Attributes
    ----------
    v, w : tuple of jax.Array
        Per population, shape (sizes[m],): membrane potentials and adaptation currents.
    s : jax.Array
        Shape (P,). Synaptic variables.
    step : jax.Array
        The number of steps taken.
    key : jax.Array
        A PRNG key; with noise, step k draws from ``fold_in(key, k)`` (`jaxmf.noise`).
    syn : tuple of jax.Array or None
        With a sparse connectivity, per population the per-neuron synaptic variables s_ik,
        shape (sizes[m], P) (None: all-to-all, `s` is shared).
    past : DelayLine or None
        The synaptic variables of the last steps, when the parameters have a delay.
    x : jax.Array or None
        Shape (P,). Rise variables of second-order synapses (`Params.tau_r`, see
        `jaxmf.synapses`); None until a run with tau_r starts them at 0.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import init, make_network
    >>> state = init(make_network(presets.chen_campbell_2022(), 100))
    >>> state.v[0].shape, state.s.shape, int(state.step)
    ((100,), (1,), 0)
    """

    v: tuple[jax.Array, ...]
    w: tuple[jax.Array, ...]
    s: jax.Array
    step: jax.Array
    key: jax.Array
    syn: tuple[jax.Array, ...] | None = None
    past: DelayLine | None = None
    x: jax.Array | None = None


class Records(NamedTuple):
    """Population observables per recording bin, as returned by `run`.

    Shapes are (bins, P) for the observables and (bins, R) for the R recorded neurons, with a
    leading batch axis for batched runs.

    Attributes
    ----------
    r : jax.Array
        Spikes per neuron per time unit over the bin.
    v_mean, w_mean : jax.Array
        Mean v and w over neurons with |v| <= v_peak, at the end of the bin.
    s : jax.Array
        Synaptic variables at the end of the bin.
    n_nonfinite : jax.Array
        Neurons whose v or w is NaN or inf.
    spike_first : jax.Array
        The step offset (0..record_every-1) of each recorded neuron's first spike in the bin, or -1.
    spike_count : jax.Array
        Each recorded neuron's spike count in the bin.
    monitor : MonitorRows or None
        A `Monitor`'s samples in the bin (None without a monitor).

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import init, make_network, run
    >>> params = presets.chen_campbell_2022()
    >>> net = make_network(params, 100)
    >>> _, rec = run(params, net, init(net), dt=1e-3, n_records=5, record_every=100)
    >>> rec.r.shape, rec.spike_first.shape
    ((5, 1), (5, 0))
    """

    r: jax.Array
    v_mean: jax.Array
    w_mean: jax.Array
    s: jax.Array
    n_nonfinite: jax.Array
    spike_first: jax.Array
    spike_count: jax.Array
    monitor: MonitorRows | None = None


def population_sizes(params: Params, n: int | tuple[int, ...]) -> tuple[int, ...]:
    """Split n neurons between populations by `fractions` (or take per-population sizes).

    Parameters
    ----------
    params : Params
        The model parameters (their `fractions` split n).
    n : int or tuple of int
        The total number of neurons, or one size per population.

    Returns
    -------
    tuple of int
        Neurons per population.

    Raises
    ------
    ParameterError
        When n is not a whole number, the sizes do not match the populations, or a population gets
        no neuron.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import population_sizes
    >>> population_sizes(presets.chen_campbell_2022(), 100)
    (100,)
    """
    n_pop = params.n_populations
    if isinstance(n, (tuple, list)):
        sizes = tuple(int(x) for x in n)
        if len(sizes) != n_pop:
            raise ParameterError("n", f"got {len(sizes)} population sizes for {n_pop} populations")
    else:
        if isinstance(n, bool) or not float(n).is_integer():
            raise ParameterError("n", f"must be a whole number of neurons >= 1; got {n!r}")
        n = int(n)
        if n_pop == 1:
            sizes = (n,)
        else:
            frac = np.asarray(params.fractions, dtype=float)
            if frac.ndim != 1:
                raise ParameterError("n", "with batched fractions give per-population sizes")
            cuts = np.round(np.cumsum(frac) * n).astype(int)
            sizes = tuple(int(x) for x in np.diff(np.concatenate([[0], cuts])))
    for k, size in enumerate(sizes):
        if size < 1:
            raise ParameterError(
                "n", f"every population needs >= 1 neuron; population {k} gets {size} of n={n}"
            )
    return sizes


def make_network(
    params: Params, n, *, sampler=Quantiles(), key=None, dtype=None, connectivity=None
) -> Network:
    """Population sizes and Lorentzian samples for a network of n neurons.

    Parameters
    ----------
    params : Params
        The model parameters (their `fractions` split n).
    n : int or tuple of int
        The total number of neurons, or one size per population.
    sampler : Quantiles, RandomDraws, Gaussian, Uniform or FromSamples
        How the standard samples are drawn (the random ones need `key`).
    key : jax.Array, optional
        PRNG key for a random sampler.
    dtype : dtype, optional
        The samples' dtype (default: the enabled precision).
    connectivity : FixedInDegree, FixedProbability or Connections, optional
        Sparse coupling drawn from `key` (see `jaxmf.connectivity`; None: all-to-all).

    Returns
    -------
    Network
        The sizes and samples.

    Raises
    ------
    ParameterError
        When n does not fit the populations (see `population_sizes`).

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import make_network
    >>> net = make_network(presets.chen_campbell_2022(), 100)  # quantiles: symmetric about 0
    >>> net.sizes, round(float(net.z[0][0]), 3), round(float(net.z[0][-1]), 3)
    ((100,), -32.139, 32.139)
    """
    sizes = population_sizes(params, n)
    keys = [None] * len(sizes) if key is None else list(jax.random.split(key, len(sizes)))
    z = tuple(sampler(k, size, dtype=dtype) for k, size in zip(keys, sizes))
    if connectivity is None:
        return Network(sizes=sizes, z=z)
    # Its own stream: the same key draws the same excitabilities with or without coupling.
    ckey = None if key is None else jax.random.fold_in(key, 0x5C)
    return Network(sizes=sizes, z=z, coupling=build_coupling(connectivity, sizes, ckey))


def init(
    network: Network, *, dtype=None, key=None, v0=0.0, w0=0.0, s0=0.0, delay_steps=None
) -> NetworkState:
    """Initial state (all zeros, as in the paper, unless v0, w0, s0 are given).

    Parameters
    ----------
    network : Network
        The network's structure.
    dtype : dtype, optional
        The state's dtype (default: the enabled precision).
    key : jax.Array, optional
        PRNG key carried in the state (default ``jax.random.key(0)``).
    v0, w0 : float or array_like
        Initial v and w, broadcast to every neuron of each population.
    s0 : float or array_like
        Initial synaptic variables, broadcast to (P,).
    delay_steps : int, optional
        For parameters with a delay: the longest delay in steps (`jaxmf.delay.max_delay_steps`);
        the state then carries a `DelayLine` whose past is s0.

    Returns
    -------
    NetworkState
        The state at step 0.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import init, make_network
    >>> state = init(make_network(presets.chen_campbell_2022(), 100), v0=-1.0)
    >>> float(state.v[0][0]), state.s.tolist(), int(state.step)
    (-1.0, [0.0], 0)
    """
    dtype = dtype or jax.dtypes.canonicalize_dtype(float)
    n_pop = len(network.sizes)
    v = tuple(jnp.broadcast_to(jnp.asarray(v0, dtype), (m,)).copy() for m in network.sizes)
    w = tuple(jnp.broadcast_to(jnp.asarray(w0, dtype), (m,)).copy() for m in network.sizes)
    s = jnp.broadcast_to(jnp.asarray(s0, dtype), (n_pop,)).copy()
    key = jax.random.key(0) if key is None else key
    syn = None
    if network.coupling is not None:
        syn = tuple(jnp.broadcast_to(s, (m, n_pop)).copy() for m in network.sizes)
    past = None if delay_steps is None else init_delay_line(s, delay_steps)
    return NetworkState(v=v, w=w, s=s, step=jnp.zeros((), jnp.int32), key=key, syn=syn, past=past)


def init_from_meanfield(
    network: Network,
    params: Params,
    y,
    key: jax.Array | None = None,
    *,
    history=None,
    t0=None,
    dt: float | None = None,
    dtype=None,
) -> NetworkState:
    """A network state on a mean-field state: the Ott-Antonsen (Lorentzian) state of (r, v, w, s).

    Each population's potentials v_i are the n quantiles of the Lorentzian of centre v and
    half-width pi r, assigned to the neurons in a random order drawn from `key`: the marginal
    density is the mean field's without sampling noise, and v_i is independent of eta_i, so
    the state lies on the Ott-Antonsen manifold (the conditional density of v given eta is the
    same Lorentzian for every eta, an analytic function of eta), where the mean field is exact.
    Every w_i is w and the synaptic variables are s (the rise variables x too, when y has them).
    A delayed network's delay line is filled with the past s: slot d steps back holds
    s(t0 - d dt), so the network starts on the same history as the delay-differential mean field
    (`jaxmf.solve_meanfield(..., history=...)`). Without a history the past is s held constant,
    as `init` does.

    Parameters
    ----------
    network : Network
        The network's structure (`make_network`).
    params : Params
        The parameters (unbatched); their delay sizes the delay line.
    y : MeanFieldState or MeanFieldResult
        The mean-field state, fields r, v, w, s of shape (P,); or a solution, taken at t0
        (default: its last saved time, linearly interpolated between saved times), which is
        then also the default history.
    key : jax.Array, optional
        PRNG key for the order of the v_i (default ``jax.random.key(0)``); the state carries
        ``fold_in(key, 1)`` for the noise of the run.
    history : MeanFieldResult or callable, optional
        The past for a delayed network: a solution whose saved times cover [t0 - max delay, t0]
        (its s linearly interpolated), or a JAX function t -> (r, v, w, s) (the form
        `solve_meanfield`'s `history` takes; only s is used), evaluated under vmap.
    t0 : float, optional
        The time of y on the history's clock (default: the last saved time of a solution given
        as y or history, else 0).
    dt : float, optional
        The time step of the run (needed with a delay: the line holds s every dt).
    dtype : dtype, optional
        The state's dtype (default: the enabled precision).

    Returns
    -------
    NetworkState
        A state at step 0 for `run`, or for `simulate_network(..., initial=state)` (with the same
        n and dt).

    Raises
    ------
    ParameterError
        When y's shapes do not match the populations, r is not positive, a delayed network has
        no dt, or the history does not reach back over the longest delay.

    Examples
    --------
    >>> import jax
    >>> import jaxmf
    >>> from jaxmf.network import init_from_meanfield, make_network
    >>> p = jaxmf.presets.chen_campbell_2022(eta_bar=0.25)
    >>> eq = jaxmf.meanfield_equilibria(p)
    >>> y = jaxmf.MeanFieldState(eq.r[0], eq.v[0], eq.w[0], eq.s[0])
    >>> state = init_from_meanfield(make_network(p, 1001), p, y, jax.random.key(1))
    >>> v = state.v[0]
    >>> bool(abs(float(jax.numpy.median(v)) - float(y.v[0])) < 1e-12)  # the Lorentzian's centre
    True
    """
    dtype = dtype or jax.dtypes.canonicalize_dtype(float)
    key = jax.random.key(0) if key is None else key
    n_pop = len(network.sizes)
    solution = y if hasattr(y, "t") else None
    if history is None and solution is not None:
        history = solution
    if t0 is None:
        saved = solution if solution is not None else history if hasattr(history, "t") else None
        t0 = 0.0 if saved is None else float(np.asarray(saved.t)[-1])
    if solution is not None:
        y = tuple(
            _interpolate(solution, name, np.asarray([t0]))[0] for name in ("r", "v", "w", "s")
        )
        x = None if getattr(solution, "x", None) is None else _interpolate(solution, "x", [t0])[0]
    else:
        x = getattr(y, "x", None)
    r, v, w, s = (jnp.asarray(f, dtype) for f in tuple(y)[:4])
    for name, f in zip("rvws", (r, v, w, s)):
        if f.shape != (n_pop,):
            raise ParameterError(
                "y", f"{name} must have shape ({n_pop},) (one value per population); got {f.shape}"
            )
    if not _is_traced(r) and not bool(jnp.all(r > 0)):
        raise ParameterError("y", f"the rate must be positive (the Lorentzian's width); got {r}")
    vs, ws = _lorentzian_state(key, r, v, w, network.sizes)
    base = init(network, dtype=dtype, key=jax.random.fold_in(key, 1), s0=s)
    past = None
    if params.delay is not None:
        if dt is None:
            raise ParameterError("dt", "a delayed network needs dt to lay out its delay line")
        length = max_delay_steps(params, dt) + 1
        times = t0 - np.arange(length) * dt  # line[d] = s(t0 - d dt)
        if history is None:
            line = jnp.broadcast_to(s, (length, n_pop))
        elif hasattr(history, "t"):
            line = jnp.asarray(_interpolate(history, "s", times), dtype)
        else:
            past_s = jax.vmap(history)(jnp.asarray(times, dtype))[3]
            line = jnp.reshape(jnp.asarray(past_s, dtype), (length, n_pop))
        # Slot (head - d) mod L holds the value d steps back, with head = 0; the present is y's s.
        past = DelayLine(s=jnp.concatenate([s[None], line[:0:-1]]), head=jnp.zeros((), jnp.int32))
    return NetworkState(
        v=vs,
        w=ws,
        s=base.s,
        step=base.step,
        key=base.key,
        syn=base.syn,
        past=past,
        x=None if x is None else jnp.asarray(x, dtype),
    )


@functools.partial(jax.jit, static_argnames="sizes")
def _lorentzian_state(key, r, v, w, sizes):
    """Per population: the Lorentzian quantiles of centre v and half-width pi r in a random
    order, and w for every neuron (one compiled call for all populations)."""
    keys = jax.random.split(key, len(sizes))
    vs = tuple(
        v[m]
        + jnp.pi * r[m] * jax.random.permutation(keys[m], lorentzian_quantiles(n, dtype=v.dtype))
        for m, n in enumerate(sizes)
    )
    return vs, tuple(jnp.full((n,), w[m]) for m, n in enumerate(sizes))


def _interpolate(solution, name: str, ts) -> np.ndarray:
    """A saved solution's field `name` at times `ts` (linear between saved times), shape
    (len(ts), P); refuses times outside the saved ones."""
    t = np.asarray(solution.t, float)
    f = np.asarray(getattr(solution, name), float)
    ts = np.asarray(ts, float)
    span = 1e-9 * max(1.0, abs(t[-1]))
    if ts.min() < t[0] - span or ts.max() > t[-1] + span:
        raise ParameterError(
            "history",
            f"the solution covers t in [{t[0]:g}, {t[-1]:g}]; the network needs its "
            f"{name} on [{ts.min():g}, {ts.max():g}] (solve the mean field from earlier)",
        )
    return np.stack([np.interp(ts, t, f[:, k]) for k in range(f.shape[1])], axis=-1)


class _Carry(NamedTuple):
    """The state a step advances: per population v and w, the population synaptic variables s,
    and what the model's extensions add (None when absent): per-neuron synaptic variables of a
    sparse connectivity, the delay line, the rise variables of second-order synapses."""

    v: tuple
    w: tuple
    s: jax.Array
    syn: tuple | None = None
    past: DelayLine | None = None
    x: jax.Array | None = None


def _carry(params: Params, state: NetworkState) -> _Carry:
    x = None
    if params.tau_r is not None:  # zero when not started: no spikes in flight
        x = jnp.zeros_like(state.s) if state.x is None else state.x
    return _Carry(state.v, state.w, state.s, state.syn, state.past, x)


def _population_s(carry: _Carry, axis_name=None) -> jax.Array:
    """s of each population: the carried one, or the mean over neurons with sparse coupling."""
    return carry.s if carry.syn is None else mean_synapse(carry.syn, axis_name)


def _drives(params: Params, s: jax.Array, i_t=None, past=None, dt=None) -> _Drive:
    gs, gse = synaptic_drive(params, s) if past is None else network_drive(params, past, dt)
    i_ext = params.i_ext if i_t is None else params.i_ext + i_t
    return _Drive(A=params.alpha + gs, c=i_ext + gse)


def _etas(params: Params, network: Network, dtype) -> tuple[jax.Array, ...]:
    return tuple(
        (params.eta_bar[m] + params.delta_eta[m] * z).astype(dtype) for m, z in enumerate(network.z)
    )


def _cast(params: Params, dtype) -> Params:
    return jax.tree.map(lambda x: jnp.asarray(x, dtype), params)


def _step(
    params,
    etas,
    sizes,
    carry: _Carry,
    dt,
    scheme,
    axis_name=None,
    coupling=None,
    i_t=None,
    targets=None,
) -> tuple[_Carry, jax.Array, list]:
    if coupling is not None:
        if i_t is not None:  # a common input (a subset with a connectivity is refused)
            params = eqx.tree_at(lambda q: q.i_ext, params, params.i_ext + i_t)
        vwss, counts, masks = sparse_step(
            coupling,
            params,
            etas,
            sizes,
            (carry.v, carry.w, carry.s, carry.syn),
            dt,
            scheme,
            axis_name,
        )
        return carry._replace(v=vwss[0], w=vwss[1], s=vwss[2], syn=vwss[3]), counts, masks
    v, w, s = carry.v, carry.w, carry.s
    # i_t: the input in time at the step's start, (P,); `targets`: per population, the 0/1 mask
    # of the neurons that receive it (None: all of them). With a delay the conductances are
    # read from the delay line.
    drive = _drives(params, s, i_t if targets is None else None, carry.past, dt)
    if params.g_el is not None:
        G, G_vbar = gap_junction_drive(params, voltage_centres(v, axis_name))
        drive = _Drive(A=drive.A + G, c=drive.c + G_vbar)
    new_v, new_w, masks, counts = [], [], [], []
    for m in range(len(sizes)):
        c_m = drive.c[m] if targets is None else drive.c[m] + targets[m] * i_t[m]
        vm, wm, spk = scheme.population_step(
            v[m],
            w[m],
            etas[m],
            _Drive(drive.A[m], c_m),
            params.a[m],
            params.b[m],
            params.w_jump[m],
            params.v_peak,
            params.v_reset,
            dt,
        )
        new_v.append(vm)
        new_w.append(wm)
        masks.append(spk)
        # A float sum fuses into the update pass (an int sum materialises an int32 mask and a
        # chain of reduce-windows); it is exact while the population is below 2^mantissa.
        exact_float = sizes[m] < 2 ** jnp.finfo(vm.dtype).nmant
        counts.append(
            jnp.sum(spk.astype(vm.dtype)).astype(jnp.int32)
            if exact_float
            else jnp.sum(spk, dtype=jnp.int32)
        )
    counts = jnp.stack(counts)
    if axis_name is not None:
        # Neurons split across devices: every device needs the whole population's spikes.
        counts = jax.lax.psum(counts, axis_name)
    sizes_arr = jnp.asarray(sizes, s.dtype)
    x_new = carry.x
    if params.tau_r is not None:
        jump = params.s_jump * counts.astype(s.dtype) / sizes_arr
        s_new, x_new = scheme.rise_step(s, carry.x, params.tau_s, params.tau_r, jump, dt)
    else:
        s_new = scheme.synapse_step(
            s, params.tau_s, params.s_jump * counts.astype(s.dtype) / sizes_arr, dt
        )
    past = None if carry.past is None else carry.past.push(s_new)
    new = carry._replace(v=tuple(new_v), w=tuple(new_w), s=s_new, past=past, x=x_new)
    return new, counts, masks


def step(
    params: Params,
    network: Network,
    state: NetworkState,
    dt: float,
    scheme=EulerReset(),
    i_ext=None,
) -> tuple[NetworkState, jax.Array]:
    """One time step; returns the new state and the spike count of each population.

    Parameters
    ----------
    params : Params
        The model parameters (cast to the state's dtype).
    network : Network
        The network's structure.
    state : NetworkState
        The state before the step.
    dt : float
        The time step.
    scheme : EulerReset, ExactPassage or MobiusPassage
        How a spike is handled.
    i_ext : callable, optional
        An input in time (`jaxmf.inputs`), evaluated at the step's start ``state.step * dt``.

    Returns
    -------
    state : NetworkState
        The state after the step.
    counts : jax.Array
        Shape (P,). Spikes of each population in the step.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import init, make_network, step
    >>> params = presets.chen_campbell_2022()
    >>> net = make_network(params, 100)
    >>> state, counts = step(params, net, init(net), 1e-3)
    >>> int(state.step), counts.tolist()
    (1, [0])
    """
    dtype = state.s.dtype
    p = _cast(params, dtype)
    etas = tuple(scheme.prepare_eta(e, jnp.asarray(dt, dtype)) for e in _etas(p, network, dtype))
    i_t = None
    if i_ext is not None:
        t = state.step.astype(dtype) * jnp.asarray(dt, dtype)
        i_t = evaluate_input(i_ext, t, len(network.sizes), dtype)
    carry, counts, _ = _step(
        p, etas, network.sizes, _carry(p, state), dt, scheme, coupling=network.coupling, i_t=i_t
    )
    if has_noise(p):
        kicked = add_noise(
            p, carry.v, step_key(state.key, state.step), dt, _noise_bounds(p, scheme)
        )
        carry = carry._replace(v=kicked)
    return _state_after(carry, state, state.step + 1), counts


def _state_after(carry: _Carry, state: NetworkState, step, axis_name=None) -> NetworkState:
    return NetworkState(
        v=carry.v,
        w=carry.w,
        s=_population_s(carry, axis_name),
        step=step,
        key=state.key,
        syn=carry.syn,
        past=carry.past,
        x=carry.x if carry.x is not None else state.x,
    )


def _noise_bounds(params: Params, scheme):
    """The cut-off that clamps noise kicks (see jaxmf.noise): EulerReset's, none for passages."""
    return (params.v_reset, params.v_peak) if isinstance(scheme, EulerReset) else None


def _observe(params, v, w, axis_name=None):
    total = (lambda x: x) if axis_name is None else (lambda x: jax.lax.psum(x, axis_name))
    vm, wm, bad = [], [], []
    for vk, wk in zip(v, w):
        inside = jnp.abs(vk) <= params.v_peak
        n_in = jnp.maximum(total(jnp.sum(inside, dtype=jnp.int32)), 1).astype(vk.dtype)
        vm.append(total(jnp.sum(jnp.where(inside, vk, 0.0))) / n_in)
        wm.append(total(jnp.sum(jnp.where(inside, wk, 0.0))) / n_in)
        bad.append(total(jnp.sum(~(jnp.isfinite(vk) & jnp.isfinite(wk)), dtype=jnp.int32)))
    return jnp.stack(vm), jnp.stack(wm), jnp.stack(bad)


def run(
    params: Params,
    network: Network,
    state: NetworkState,
    *,
    dt: float | jax.Array,
    n_records: int,
    record_every: int,
    scheme=EulerReset(),
    raster: tuple[jax.Array, ...] = (),
    n_active=None,
    axis_name=None,
    i_ext=None,
    targets=None,
    monitor: Monitor | None = None,
) -> tuple[NetworkState, Records]:
    """Advance `n_records * record_every` steps and record once per `record_every` steps.

    Pure (jit/vmap/grad-friendly). `raster` holds, per population, indices of neurons whose spikes
    are recorded (empty: none). `n_active` (traced int) stops after that many records; the rest of
    the output is zero-filled, so chunks of one static length serve any run length.
    `axis_name`: inside `jax.shard_map` over the neurons (each population split along that mesh
    axis, `network.sizes` the whole populations'), the spike counts and the population sums of
    the records are summed across it; no raster then. A network with a sparse connectivity
    (`network.coupling`, see `jaxmf.connectivity`) advances the per-neuron synaptic variables
    `state.syn`; its records' s is their mean.

    Parameters
    ----------
    params : Params
        The model parameters (cast to the state's dtype).
    network : Network
        The network's structure.
    state : NetworkState
        The state to start from.
    dt : float or jax.Array
        The time step.
    n_records : int
        Recording bins (static).
    record_every : int
        Steps per recording bin (static).
    scheme : EulerReset, ExactPassage or MobiusPassage
        How a spike is handled.
    raster : tuple of jax.Array
        Per population, the indices of the neurons whose spikes are recorded.
    n_active : int or jax.Array, optional
        Stop after that many records; the rest is zero-filled.
    axis_name : str, optional
        The `jax.shard_map` mesh axis the neurons are split along.
    i_ext : callable, optional
        An input in time (`jaxmf.inputs`; ``t -> scalar or (P,)``), added to ``params.i_ext`` and
        evaluated at each step's start t_n = n dt, n counted from ``state.step``.
    targets : tuple of jax.Array, optional
        Per population, a 0/1 mask of the neurons that receive `i_ext` (None: all;
        `jaxmf.inputs.target_mask`).
    monitor : Monitor, optional
        Neurons whose v, w and spikes are sampled (`Records.monitor`).

    Returns
    -------
    state : NetworkState
        The state after the run.
    records : Records
        One row per recording bin.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import init, make_network, run
    >>> params = presets.chen_campbell_2022()
    >>> net = make_network(params, 100)
    >>> state, rec = run(params, net, init(net), dt=1e-3, n_records=5, record_every=100)
    >>> int(state.step), rec.r.shape
    (500, (5, 1))
    """
    dtype = state.s.dtype
    p = _cast(params, dtype)
    sizes = network.sizes
    dt = jnp.asarray(dt, dtype)
    etas = tuple(scheme.prepare_eta(e, dt) for e in _etas(p, network, dtype))
    bin_time = dt * record_every
    sizes_arr = jnp.asarray(sizes, dtype)
    raster = tuple(jnp.asarray(ix, jnp.int32) for ix in raster) or tuple(
        jnp.zeros((0,), jnp.int32) for _ in sizes
    )
    n_ras = sum(int(ix.shape[0]) for ix in raster)
    noise_bounds = _noise_bounds(p, scheme)
    mon_ix = (
        () if monitor is None else tuple(jnp.asarray(ix) for ix in monitor_indices(monitor, sizes))
    )
    every = 0 if monitor is None else monitor_every(monitor, record_every)
    n_mon = sum(int(ix.shape[0]) for ix in mon_ix)
    masks_in = None if targets is None else tuple(jnp.asarray(x, dtype) for x in targets)

    def one_step(i, carry, n0):
        vws, count, first, nspk = carry[:4]
        i_t = None
        if i_ext is not None:
            # The step's start in absolute time: a resumed run continues the input.
            i_t = evaluate_input(i_ext, (n0 + i).astype(dtype) * dt, len(sizes), dtype)
        vws, counts, masks = _step(
            p,
            etas,
            sizes,
            vws,
            dt,
            scheme,
            axis_name,
            coupling=network.coupling,
            i_t=i_t,
            targets=masks_in,
        )
        if has_noise(p):
            # The noise of a step depends on its absolute index only.
            kicked = add_noise(p, vws.v, step_key(state.key, n0 + i), dt, noise_bounds, axis_name)
            vws = vws._replace(v=kicked)
        if n_ras:
            hit = jnp.concatenate([mk[ix] for mk, ix in zip(masks, raster)])
            first = jnp.where((first < 0) & hit, jnp.asarray(i, jnp.int32), first)
            nspk = nspk + hit.astype(jnp.int32)
        if monitor is None:
            return vws, count + counts, first, nspk
        mv, mw, ms = carry[4]
        slot = i // every
        # Split across devices, each fills in the neurons it holds (zero elsewhere): the buffers
        # are summed across the devices once per bin.
        hit = jnp.concatenate([pick(mk, ix, axis_name) for mk, ix in zip(masks, mon_ix)])
        hit = hit.astype(jnp.int32)
        ms = ms.at[slot].add(hit)
        write = (i + 1) % every == 0
        v_now = jnp.concatenate([pick(vk, ix, axis_name) for vk, ix in zip(vws.v, mon_ix)])
        w_now = jnp.concatenate([pick(wk, ix, axis_name) for wk, ix in zip(vws.w, mon_ix)])
        mv = mv.at[slot].set(jnp.where(write, v_now, mv[slot]))
        mw = mw.at[slot].set(jnp.where(write, w_now, mw[slot]))
        return vws, count + counts, first, nspk, (mv, mw, ms)

    def one_bin(vws, k):
        zero_counts = jnp.zeros((len(sizes),), jnp.int32)
        init_c = (
            vws,
            zero_counts,
            jnp.full((n_ras,), -1, jnp.int32),
            jnp.zeros((n_ras,), jnp.int32),
        )
        if monitor is not None:
            per_bin = record_every // every
            buffers = (
                jnp.zeros((per_bin, n_mon), dtype),
                jnp.zeros((per_bin, n_mon), dtype),
                jnp.zeros((per_bin, n_mon), jnp.int32),
            )
            if axis_name is not None:  # each device fills in its own neurons
                buffers = jax.lax.pcast(buffers, (axis_name,), to="varying")
            init_c = (*init_c, buffers)
        n0 = state.step + k * record_every
        # Unrolling 3 steps lets XLA fuse consecutive steps' passes (measured best on CPU); not
        # with a sparse connectivity, whose spike search makes each step recompute the last.
        out = jax.lax.fori_loop(
            0,
            record_every,
            lambda i, c: one_step(i, c, n0),
            init_c,
            unroll=1 if network.coupling is not None else min(3, record_every),
        )
        vws, count, first, nspk = out[:4]
        mon = None
        if monitor is not None:
            rows = out[4] if axis_name is None else jax.lax.psum(out[4], axis_name)
            mon = MonitorRows(*(x.reshape(-1) for x in rows))
        v_mean, w_mean, bad = _observe(p, vws.v, vws.w, axis_name)
        rec = Records(
            r=count.astype(dtype) / (sizes_arr * bin_time),
            v_mean=v_mean,
            w_mean=w_mean,
            s=_population_s(vws, axis_name),
            n_nonfinite=bad,
            spike_first=first,
            spike_count=nspk,
            monitor=mon,
        )
        return vws, rec

    def empty_bin(vws, k):
        z = jnp.zeros((len(sizes),), dtype)
        per_bin = 0 if monitor is None else record_every // every
        mon = None
        if monitor is not None:
            zm = jnp.zeros((per_bin * n_mon,), dtype)
            mon = MonitorRows(zm, zm, jnp.zeros_like(zm, jnp.int32))
        return vws, Records(
            r=z,
            v_mean=z,
            w_mean=z,
            s=z,
            n_nonfinite=jnp.zeros_like(z, jnp.int32),
            spike_first=jnp.full((n_ras,), -1, jnp.int32),
            spike_count=jnp.zeros((n_ras,), jnp.int32),
            monitor=mon,
        )

    def body(vws, k):
        if n_active is None:
            return one_bin(vws, k)
        return jax.lax.cond(k < jnp.asarray(n_active, jnp.int32), one_bin, empty_bin, vws, k)

    vws, records = jax.lax.scan(body, _carry(p, state), jnp.arange(n_records, dtype=jnp.int32))
    done = n_records if n_active is None else jnp.minimum(n_active, n_records)
    return _state_after(vws, state, state.step + done * record_every, axis_name), records


class SimulationInterrupted(Interrupted):
    """Ctrl-C during `simulate_network` (an `Interrupted`).

    Parameters
    ----------
    result : NetworkResult
        Every finished chunk and the state to resume from.

    Attributes
    ----------
    result : NetworkResult
        Resume with ``simulate_network(..., resume=err.result)``.

    Examples
    --------
    >>> from jaxmf.network import SimulationInterrupted
    >>> from jaxmf._results import Interrupted
    >>> issubclass(SimulationInterrupted, Interrupted)
    True
    """

    def __init__(self, result: NetworkResult):
        super().__init__(
            f"interrupted at t={float(result.t[-1]) if len(result.t) else 0.0:g}; "
            "resume with simulate_network(..., resume=<this>.result)",
            result,
            "simulate_network(..., resume=<this>.result)",
        )


class NetworkResult(eqx.Module):
    """Output of `simulate_network`.

    Observables are (time, population), with a leading batch axis for batched parameters.

    Attributes
    ----------
    t : jax.Array
        Shape (T,). The end time of each recording bin.
    r, v_mean, w_mean, s, n_nonfinite : jax.Array
        Shape (T, P). The population observables of `Records`.
    spike_first, spike_count : jax.Array
        Shape (T, R). The recorded neurons' first spike offsets and spike counts.
    raster_index : tuple of jax.Array
        Per population, the indices of the recorded neurons.
    state : NetworkState
        The final state, to continue the run (`resume=`).
    network : Network
        The network's structure.
    params : Params
        The parameters of the run.
    status : RESULTS
        successful, diverged (a non-finite state) or interrupted (batched like the parameters).
    dt : float
        The time step.
    record_every : int
        Steps per recording bin.
    monitor : MonitorRecord or None
        What a `Monitor` recorded: times, neuron indices, v, w and spikes (None without one).
    message : str
        The status in words (empty when successful).
    dtype : numpy.dtype
        The precision the network was simulated in.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import simulate_network
    >>> res = simulate_network(presets.chen_campbell_2022(), n=200, t1=20.0, progress=False)
    >>> res.t.shape, res.r.shape, round(float(res.t[-1]), 3), res.message
    ((200,), (200, 1), 20.0, '')
    """

    t: jax.Array
    r: jax.Array
    v_mean: jax.Array
    w_mean: jax.Array
    s: jax.Array
    n_nonfinite: jax.Array
    spike_first: jax.Array
    spike_count: jax.Array
    raster_index: tuple[jax.Array, ...]
    state: NetworkState
    network: Network
    params: Params
    status: RESULTS
    dt: float = eqx.field(static=True)
    record_every: int = eqx.field(static=True)
    monitor: MonitorRecord | None = None

    @property
    def message(self) -> str:
        return status_message(self.status)

    @property
    def dtype(self) -> np.dtype:
        """The precision the network was simulated in."""
        return np.dtype(self.state.s.dtype)

    def __repr__(self) -> str:
        return module_repr(
            self,
            ("t", "r", "v_mean", "w_mean", "s", "status"),
            extra={"n": self.network.n, "dt": self.dt, "record_every": self.record_every},
        )

    def select(self, i: int) -> NetworkResult:
        """Element i of a batched result (from stacked params).

        Parameters
        ----------
        i : int
            The index in the batch.

        Returns
        -------
        NetworkResult
            The result of parameter set i.

        Examples
        --------
        >>> from jaxmf import presets
        >>> from jaxmf.network import simulate_network, stack_params
        >>> params = stack_params([presets.chen_campbell_2022(eta_bar=e) for e in (0.2, 0.3)])
        >>> res = simulate_network(params, n=100, t1=5.0, progress=False)
        >>> res.r.shape, res.select(1).r.shape
        ((2, 50, 1), (50, 1))
        """
        pick = lambda x: x[i]
        return NetworkResult(
            t=self.t,
            r=pick(self.r),
            v_mean=pick(self.v_mean),
            w_mean=pick(self.w_mean),
            s=pick(self.s),
            n_nonfinite=pick(self.n_nonfinite),
            spike_first=pick(self.spike_first),
            spike_count=pick(self.spike_count),
            raster_index=self.raster_index,
            state=jax.tree.map(pick, self.state),
            network=self.network,
            params=jax.tree.map(pick, self.params),
            status=jax.tree.map(pick, self.status),
            dt=self.dt,
            record_every=self.record_every,
            monitor=None if self.monitor is None else self.monitor.select(i),
        )

    def spike_raster(self) -> tuple[np.ndarray, np.ndarray]:
        """(spike times, neuron indices) of the recorded neurons, for a raster plot.

        Times are bin start + (first spike offset + 1) dt; a neuron that fired more than once in a
        bin contributes its first spike only (`spike_count` has the true counts).

        Returns
        -------
        times : numpy.ndarray
            The spike times.
        neurons : numpy.ndarray
            The neurons' indices in the whole network.

        Raises
        ------
        ValueError
            For a batched result (take one element with `select` first).

        Examples
        --------
        >>> from jaxmf import presets
        >>> from jaxmf.network import simulate_network
        >>> res = simulate_network(presets.chen_campbell_2022(), n=200, t1=20.0, raster=4,
        ...                        progress=False)
        >>> times, neurons = res.spike_raster()
        >>> res.raster_index[0].tolist()  # evenly spaced across the excitability range
        [0, 66, 133, 199]
        >>> times.shape == neurons.shape, set(neurons.tolist()) <= {0, 66, 133, 199}
        (True, True)
        """
        first = np.asarray(self.spike_first)
        if first.ndim != 2:
            raise ValueError("spike_raster: take one element of a batched result first")
        offsets = np.cumsum([0, *self.network.sizes[:-1]])
        ids = np.concatenate([np.asarray(ix) + off for ix, off in zip(self.raster_index, offsets)])
        k, j = np.nonzero(first >= 0)
        t_start = np.asarray(self.t)[k] - self.record_every * self.dt
        return t_start + (first[k, j] + 1) * self.dt, ids[j]


def traced_max_dt(scheme, params: Params, network: Network) -> jax.Array:
    """`scheme.max_dt` for parameters that may be traced (jnp, closed form): the bound that
    `simulate_network` checks at run time when the parameters are only known then.

    Parameters
    ----------
    scheme : EulerReset, ExactPassage or MobiusPassage
        The spike scheme (the last two share the bound).
    params : Params
        The parameters (any batch shape; the bound covers every element).
    network : Network
        The network whose Lorentzian samples give the largest excitability.

    Returns
    -------
    jax.Array
        A scalar: the largest stable dt.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import EulerReset, make_network, traced_max_dt
    >>> params = presets.chen_campbell_2022()
    >>> round(float(traced_max_dt(EulerReset(), params, make_network(params, 100))), 5)
    0.00307
    """
    z_max = jnp.max(jnp.stack([jnp.max(jnp.abs(z)) for z in network.z]))
    eta_max = jnp.max(jnp.abs(params.eta_bar + params.delta_eta * z_max))
    gs_unit = jnp.max(jnp.sum(params.g * params.fractions[..., None, :], axis=-1))
    gap: float | jax.Array = 0.0  # the gap junctions' leak G, added to the synaptic one
    if params.g_el is not None:
        gap = jnp.max(jnp.sum(params.g_el * params.fractions[..., None, :], axis=-1))
    if isinstance(scheme, EulerReset):
        vp = jnp.max(
            jnp.abs(
                params.v_peak if scheme.reflect else jnp.maximum(params.v_peak, -params.v_reset)
            )
        )
        gs_max = gs_unit * scheme.s_max
        A = jnp.max(jnp.abs(params.alpha)) + gs_max + gap
        c = jnp.max(params.i_ext) + gs_max * jnp.max(jnp.abs(params.e_r)) + eta_max
        # dt (u + A) = 1 with u = vp + dt K is K dt^2 + (vp + A) dt - 1 = 0 (see reset_dt).
        K = vp * vp + A * vp + c
        reset = 2.0 / ((vp + A) + jnp.sqrt((vp + A) ** 2 + 4.0 * K))
        tau_min = jnp.min(params.tau_s)
        if params.tau_r is not None:
            tau_min = jnp.minimum(tau_min, jnp.min(params.tau_r))
        return jnp.minimum(reset, jnp.minimum(tau_min, 1.0 / jnp.max(params.a)))
    A = jnp.max(jnp.abs(params.alpha)) + gs_unit + gap
    w_max = jnp.max(params.w_jump / params.a) * jnp.sqrt(eta_max) / jnp.pi
    j_max = (
        eta_max
        + jnp.max(jnp.abs(params.i_ext))
        + gs_unit * jnp.max(jnp.abs(params.e_r))
        + A * A / 4
        + w_max
    )
    return 1.0 / jnp.sqrt(j_max)


def _is_traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(tree))


def _raster_indices(sizes, raster, fractions) -> tuple[np.ndarray, ...]:
    if raster is None or (isinstance(raster, int) and raster == 0):
        return tuple(np.zeros((0,), np.int32) for _ in sizes)
    if isinstance(raster, (int, np.integer)):
        if raster < 0:
            raise ParameterError("raster", f"must be >= 0 neurons; got {raster}")
        frac = np.asarray(fractions, float).reshape(-1, len(sizes))[0]
        counts = [min(size, max(1, int(round(raster * f)))) for size, f in zip(sizes, frac)]
        # Evenly spaced in index, i.e. across the excitability range for quantile sampling.
        return tuple(
            np.unique(np.round(np.linspace(0, size - 1, c)).astype(np.int32))
            for size, c in zip(sizes, counts)
        )
    raster = tuple(np.asarray(ix, np.int32).reshape(-1) for ix in raster)
    if len(raster) != len(sizes):
        raise ParameterError("raster", f"give one index array per population ({len(sizes)})")
    for m, (ix, size) in enumerate(zip(raster, sizes)):
        if ix.size and (ix.min() < 0 or ix.max() >= size):
            raise ParameterError("raster", f"population {m} indices must be in [0, {size - 1}]")
    return raster


def validate_run(params, network, dt, t1, t0, record_every, scheme, dtype) -> int:
    """Check a run's settings before any computation and return its number of recording bins.

    Parameters
    ----------
    params : Params
        The run's parameters (concrete or traced; the step-size bound needs concrete values).
    network : Network
        The network (sizes and Lorentzian samples) the run uses.
    dt : float
        The time step, a static Python float.
    t1, t0 : float
        The end and start times.
    record_every : int
        Steps per recording bin.
    scheme : EulerReset, ExactPassage or MobiusPassage
        The spike scheme; its `max_dt` bounds dt.
    dtype : dtype
        float32 or float64.

    Returns
    -------
    int
        The number of recording bins in (t0, t1].

    Raises
    ------
    ParameterError
        Naming the bad setting.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets
    >>> from jaxmf.network import EulerReset, make_network, validate_run
    >>> params = presets.chen_campbell_2022()
    >>> net = make_network(params, 100)
    >>> validate_run(params, net, 1e-3, 10.0, 0.0, 100, EulerReset(), jnp.float32)
    100
    """
    if (
        isinstance(record_every, bool)
        or not isinstance(record_every, (int, np.integer))
        or record_every < 1
    ):
        raise ParameterError(
            "record_every",
            f"must be an integer >= 1 (steps per recording bin); got {record_every!r}",
        )
    if isinstance(dt, jax.core.Tracer) or (isinstance(dt, jax.Array) and dt.ndim == 0):
        raise ParameterError(
            "dt",
            "dt must be a static Python float (it fixes the compiled step "
            "and the recording grid); got a JAX array or tracer",
        )
    if not (isinstance(dt, (int, float, np.floating)) and math.isfinite(dt) and dt > 0):
        raise ParameterError("dt", f"must be a finite number > 0; got {dt!r}")
    if isinstance(t1, jax.core.Tracer):
        raise ParameterError(
            "t1", "t1 must be a static Python float (it fixes the number of steps); got a tracer"
        )
    if not (math.isfinite(t1) and t1 > t0):
        raise ParameterError("t1", f"must be a finite end time > {t0:g}; got {t1!r}")
    if dtype not in (jnp.float32, jnp.float64):
        raise ParameterError("dtype", f"must be float32 or float64; got {dtype}")
    if jnp.dtype(dtype) == jnp.float64 and not jax.config.read("jax_enable_x64"):
        raise ParameterError(
            "dtype", "float64 needs jax.config.update('jax_enable_x64', True) before any JAX work"
        )
    if not _is_traced(params):
        eta_max = max(
            float(
                np.max(
                    np.abs(
                        np.asarray(params.eta_bar)[..., m]
                        + np.asarray(params.delta_eta)[..., m] * np.max(np.abs(np.asarray(z)))
                    )
                )
            )
            for m, z in enumerate(network.z)
        )
        limit = scheme.max_dt(params, eta_max)
        if dt > limit:
            bounds = scheme.bounds(params, eta_max) if hasattr(scheme, "bounds") else {}
            which = min(bounds, key=bounds.get) if bounds else "reset (v_peak)"
            why = (
                f"v_peak={float(np.max(params.v_peak)):g}, largest sampled eta={eta_max:.4g}"
                if which.startswith("reset")
                else f"the explicit {which} update is unstable above it"
            )
            raise ParameterError(
                "dt",
                f"dt={dt:g} is too large for {type(scheme).__name__}: it must "
                f"be < {limit:.4g} here ({which} bound; {why}); see "
                f"{type(scheme).__name__}.max_dt",
            )
    bin_time = dt * record_every
    n_records = (t1 - t0) / bin_time
    if abs(n_records - round(n_records)) > 1e-6 * max(1.0, n_records):
        raise ParameterError(
            "t1",
            f"t1 - t0 = {t1 - t0:g} is not a whole number of recording "
            f"bins of dt * record_every = {bin_time:g}",
        )
    return int(round(n_records))


def _check_resume(resume: NetworkResult, params: Params, n, dt, record_every, dtype) -> None:
    if resume.dt != dt or resume.record_every != record_every:
        raise ParameterError(
            "resume",
            f"continue with the same dt={resume.dt:g} and record_every={resume.record_every}",
        )
    sizes = resume.network.sizes
    if params.n_populations != len(sizes):
        raise ParameterError(
            "resume",
            f"the run to resume has {len(sizes)} population(s); these "
            f"params have {params.n_populations}",
        )
    if n is not None and population_sizes(first_params(params), n) != sizes:
        raise ParameterError(
            "n",
            f"the run to resume has population sizes {list(sizes)}; got "
            f"n={n!r} (leave n out to continue it)",
        )
    if dtype is not None and jnp.dtype(dtype) != resume.state.s.dtype:
        raise ParameterError(
            "dtype",
            f"the run to resume is in {resume.state.s.dtype}; got "
            f"{jnp.dtype(dtype)} (leave dtype out to continue it)",
        )
    if (
        jnp.ndim(params.eta_bar) != jnp.ndim(resume.state.s)
        or jnp.shape(params.eta_bar)[:-1] != jnp.shape(resume.state.s)[:-1]
    ):
        raise ParameterError(
            "resume",
            f"the run to resume has batch shape "
            f"{tuple(jnp.shape(resume.state.s)[:-1])}; these params have "
            f"{tuple(jnp.shape(params.eta_bar)[:-1])}",
        )


# Per neuron: v, w and the Lorentzian sample, each held about twice (the scan's carry and its
# update), plus the threshold mask and margin for XLA's temporaries.
STATE_WORDS_PER_NEURON = 12


def _check_initial(initial: NetworkState, params: Params, n, dt, dtype):
    """The (n, dtype) of a run started from `initial`, checked against the ones asked for."""
    sizes = tuple(int(x.shape[-1]) for x in initial.v)
    if n is not None and population_sizes(first_params(params), n) != sizes:
        raise ParameterError(
            "initial",
            f"the initial state has populations of {sizes} neurons; n={n!r} asks for "
            f"{population_sizes(first_params(params), n)}",
        )
    have = initial.s.dtype
    if dtype is not None and jnp.dtype(dtype) != have:
        raise ParameterError("initial", f"the initial state is {have}; dtype={dtype} was asked")
    if jnp.ndim(initial.step) != 0:
        raise ParameterError("initial", "give one unbatched state (batched params share it)")
    check_delay_line(initial.past, params, dt)
    return sizes, have


def _check_size(params: Params, n, dtype, max_memory) -> None:
    """Refuse a network whose state would not fit in memory, before JAX allocates it (XLA
    aborts the whole process on an allocation it cannot make)."""
    if n is None or isinstance(n, (tuple, list)):
        total = 10_000 if n is None else sum(float(k) for k in n if isinstance(k, (int, float)))
    elif isinstance(n, (int, float, np.integer, np.floating)) and not isinstance(n, bool):
        total = float(n)
    else:
        return  # population_sizes names the problem
    batch = params.eta_bar.shape[0] if jnp.ndim(params.eta_bar) == 2 else 1
    need = total * batch * np.dtype(dtype).itemsize * STATE_WORDS_PER_NEURON
    check_memory(
        need,
        "n",
        f"{total:.3g} neurons" + (f" x {batch} parameter sets" if batch > 1 else ""),
        max_memory,
    )


def simulate_network(
    params: Params,
    n: int | tuple[int, ...] | None = None,
    t1: float = 800.0,
    dt: float = 1e-3,
    record_every: int = 100,
    *,
    dtype=None,
    scheme=EulerReset(),
    sampler=Quantiles(),
    key=None,
    raster=0,
    resume: NetworkResult | None = None,
    chunk_steps: float = 5e8,
    progress: bool = True,
    throw: bool = True,
    max_memory: float | None = None,
    devices=None,
    connectivity=None,
    i_ext=None,
    input_neurons=None,
    monitor: Monitor | None = None,
    initial: NetworkState | None = None,
) -> NetworkResult:
    """Simulate the spiking network from t = 0 (or from `resume`'s end) to t1.

    Parameters
    ----------
    params : Params
        The model parameters; with a leading batch axis (see `stack_params`) the batch runs
        under vmap.
    n : int or tuple of int, optional
        Total neurons (split by `fractions`) or per-population sizes (default 10_000; a resumed
        run keeps its own, and a different n is refused).
    t1 : float
        End time (dimensionless).
    dt : float
        Time step (a static float; the default 1e-3 is the paper's).
    record_every : int
        Steps per recording bin.
    dtype : dtype, optional
        float32/float64 (default: the enabled precision; a resumed run keeps its own).
    scheme : EulerReset, ExactPassage or MobiusPassage
        `EulerReset()` (the paper's), `ExactPassage()` or `MobiusPassage()` (the fastest to a
        given accuracy: dt = 2e-2 reaches 0.1% where EulerReset needs dt <= 2.5e-3).
    sampler : Quantiles, RandomDraws, Gaussian, Uniform or FromSamples
        How the excitabilities are drawn (`jaxmf.heterogeneity`; the random ones need `key`).
    key : jax.Array, optional
        PRNG key for a random sampler and for the noise (`Params.gamma`, `Params.sigma`;
        default ``jax.random.key(0)``).
    raster : int or tuple of array_like
        Number of neurons (or per-population index arrays) whose spikes are kept.
    resume : NetworkResult, optional
        A previous result to continue to the new t1 (params may change, e.g. to switch an input
        on); records are concatenated.
    chunk_steps : float
        Neuron-steps per compiled chunk (progress granularity; Ctrl-C loses at most one chunk).
    progress : bool
        Show a progress line.
    throw : bool
        Raise `SimulationError` (a `NumericalError`) on a non-finite state; with False the
        result comes back with `status` RESULTS.diverged.
    max_memory : float, optional
        Bytes the network's state may take (default: the memory available now); a network that
        needs more is refused before anything is allocated. Raise it for an accelerator with
        more memory than the host.
    devices : None, int, list of devices or 'all'
        None (one device), a count of local devices, a list of devices, or 'all' (every
        device of every process): one network's neurons split evenly across them
        (`jax.shard_map`; each population's size must be a multiple of the count). Each step
        the devices sum their populations' spike counts (P integers), so the state, rates and
        s equal the one-device run's bit for bit; <v> and <w> are sums of per-device sums
        (equal to rounding). Each device holds N / D neurons' v, w and eta (about
        `STATE_WORDS_PER_NEURON` words each with the scan's temporaries: 48 B per neuron in
        float32), so N = 10^9 in float32 needs about 48 GB spread over the devices. Across
        hosts: call ``jax.distributed.initialize(...)`` first and run the same script on every
        host with ``devices='all'`` (or a list from ``jax.devices()``); the spike counts are
        summed across processes, the records come back on every process, and the final
        state's v and w are global arrays (each process holds its devices' neurons). Every
        process still builds the whole network and initial state (z, v, w: 12 B per neuron in
        float32) on its first device and copies it to the host before handing each device its
        part, so that device and the host bound N. Not with batched params, `raster` or traced
        parameters. Noise, an input in time (also to a subset) and a monitor
        give the one-device run bit for bit: each device draws its own neurons' share of the
        one-device noise stream (`jaxmf.noise.split_draws`; needs JAX's default partitionable
        threefry PRNG) and fills in the monitored neurons it holds. With `connectivity`, each
        device holds its neurons' s_ik (P words each) and the synapses onto its neurons
        (`jaxmf.connectivity.split_coupling`: about 1 / D of the int32 table, each row padded
        to the largest out-degree into one device); each step the devices all-gather their
        spike masks (N booleans, 1 B per neuron, to every device) and each propagates every
        spike into its own neurons' integer counts, so the state and rates equal the
        one-device run's bit for bit and s (the mean of the s_ik) to rounding. The whole
        table is still built once on the host and the first device (it stays in
        `result.network.coupling` for resume) before each device gets its part.
    connectivity : FixedInDegree, FixedProbability or Connections, optional
        Sparse coupling (see `jaxmf.connectivity`): each neuron's synaptic variables are its
        own, driven by its presynaptic neurons' spikes with weight g / K; drawn from `key`
        (default ``jax.random.key(0)``) and kept in `result.network.coupling`, so a resumed run
        continues on the same synapses. Its int32 tables (4 B per synapse) count against
        `max_memory`. None (default): all-to-all.
    i_ext : jaxmf.inputs.Input or callable, optional
        An input in time added to ``params.i_ext`` (`jaxmf.inputs.Sinusoid`, `PulseTrain`,
        `PiecewiseLinear`, `Sampled`, `StepInput` or any JAX function ``t -> scalar or (P,)``),
        evaluated at each step's start t_n = n dt (the Euler convention; n counts steps from
        t = 0, so a resumed run, given the input again, continues it in absolute time).
        Pass `jaxmf.inputs` objects rather than fresh lambdas: their numbers are traced, so
        new values reuse the compiled run.
    input_neurons : None, float or tuple of array_like
        Which neurons receive `i_ext` (`jaxmf.inputs.target_mask`): None (all), a fraction of
        each population (evenly spaced across its excitability range) or per-population index
        arrays. Its exact mean field is the split model of `jaxmf.inputs.split_population`.
    monitor : Monitor, optional
        Record v, w and spikes of chosen neurons (`jaxmf.monitors.Monitor`) into
        ``result.monitor``; its size is checked against the memory before the run. A resumed
        run continues the monitor of the run it resumes.
    initial : NetworkState, optional
        The state at t = 0 instead of `init`'s (all neurons at v0 = 0): e.g. a mean-field state
        with its history from `init_from_meanfield`, built for the same n (default: its sizes)
        and dt. Not with `resume`.

    Returns
    -------
    NetworkResult
        The records and the final state. Ctrl-C raises `SimulationInterrupted` (an
        `Interrupted`) holding the part computed so far.

    Raises
    ------
    ParameterError
        A bad setting, named.
    SimulationError
        A non-finite state (with throw=True).

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.network import MobiusPassage, simulate_network
    >>> res = simulate_network(presets.tonic(), n=200, t1=20.0, dt=2e-2, record_every=50,
    ...                        scheme=MobiusPassage(), progress=False)
    >>> res.r.shape, round(float(res.t[-1]), 3)
    ((20, 1), 20.0)
    >>> more = simulate_network(presets.tonic(), n=200, t1=30.0, dt=2e-2, record_every=50,
    ...                         scheme=MobiusPassage(), resume=res, progress=False)
    >>> more.r.shape, round(float(more.t[-1]), 3)
    ((30, 1), 30.0)

    On several devices the neurons are split between them (``devices=4`` needs four devices
    and population sizes that are multiples of 4). On several hosts, after
    ``jax.distributed.initialize(coordinator_address="host0:1234", num_processes=2,
    process_id=...)`` on each: ``simulate_network(p, n=10**8, devices="all")``.
    """
    params = check_params(params)
    if resume is not None and initial is not None:
        raise ParameterError("initial", "give either initial (a state at t = 0) or resume")
    if resume is not None:
        _check_resume(resume, params, n, dt, record_every, dtype)
        check_delay_line(resume.state.past, params, dt)
        coupling = resume.network.coupling
        if connectivity is not None and (
            coupling is None or not eqx.tree_equal(coupling.rule, connectivity)
        ):
            raise ParameterError(
                "connectivity",
                "the run to resume has another connectivity "
                f"({'all-to-all' if coupling is None else coupling.rule}); leave connectivity "
                "out to continue on its synapses",
            )
        network, state = resume.network, resume.state
        dtype = state.s.dtype
        t0 = float(np.max(np.asarray(state.step))) * dt
    else:
        if initial is not None:
            n, dtype = _check_initial(initial, params, n, dt, dtype)
        dtype = jnp.dtype(dtype or jax.dtypes.canonicalize_dtype(float))
        _check_size(params, n, dtype, max_memory)
        if connectivity is not None:
            sizes = population_sizes(first_params(params), 10_000 if n is None else n)
            check_coupling_memory(connectivity, sizes, max_memory)
        network = make_network(
            first_params(params),
            10_000 if n is None else n,
            sampler=sampler,
            key=key,
            dtype=dtype,
            connectivity=connectivity,
        )
        delay = None if params.delay is None else max_delay_steps(params, dt)
        state = (
            init(network, dtype=dtype, key=key, delay_steps=delay) if initial is None else initial
        )
        t0 = 0.0
    if resume is not None and monitor is None and resume.monitor is not None:
        monitor = resume.monitor.monitor
    if monitor is not None:
        steps = int(round((t1 - t0) / dt))
        need = monitor_bytes(monitor, network.sizes, steps, record_every, dtype)
        check_memory(need, "monitor", f"a monitor of {need / 1e6:.3g} MB", max_memory)
    for field, what in (
        ("delay", "a synaptic delay"),
        ("tau_r", "a synaptic rise time"),
        ("g_el", "gap-junction coupling"),
    ):
        if network.coupling is not None and getattr(params, field) is not None:
            raise ParameterError(
                field,
                f"{what} is not available with a sparse connectivity (each neuron's synapses "
                f"are its own); use the all-to-all network or leave {field} out",
            )
    if input_neurons is not None and network.coupling is not None:
        raise ParameterError(
            "input_neurons",
            "an input to a subset of neurons is not available with a sparse connectivity; "
            "give the input to every neuron (input_neurons=None)",
        )
    targets = target_mask(network.sizes, input_neurons, dtype)
    checked = params
    if i_ext is not None:
        # The step-size bound with the input at its largest.
        bound = input_bound(i_ext, t0, t1)
        checked = eqx.tree_at(lambda q: q.i_ext, params, jnp.abs(params.i_ext) + bound)
    n_records = validate_run(checked, network, dt, t1, t0, record_every, scheme, dtype)
    k0 = int(round(t0 / (dt * record_every)))  # records already taken
    raster_index = (
        resume.raster_index
        if resume is not None
        else _raster_indices(network.sizes, raster, params.fractions)
    )
    raster_j = tuple(jnp.asarray(ix) for ix in raster_index)
    batched = jnp.ndim(params.eta_bar) == 2
    mesh = _neuron_mesh(devices, network.sizes)
    if mesh is not None and (
        batched or sum(len(ix) for ix in raster_index) > 0 or _is_traced(params)
    ):
        raise ParameterError(
            "devices",
            "a network split across devices runs one concrete parameter set without a raster",
        )
    if mesh is not None:
        check_split_noise(params)
    split_network = network
    if mesh is not None and network.coupling is not None:
        # Each device holds the synapses onto its own neurons.
        split = split_coupling(network.coupling, network.sizes, mesh.size)
        # Put on the devices once, not at every chunk.
        tables = _on_mesh(split.targets, mesh, jax.sharding.PartitionSpec("neurons"))
        split_network = eqx.tree_at(lambda q: q.coupling.targets, network, tables)
    if batched and resume is None:
        n_batch = params.eta_bar.shape[0]
        state = jax.tree.map(lambda x: jnp.broadcast_to(x, (n_batch, *jnp.shape(x))), state)

    if _is_traced(params) or _is_traced(state):
        state, rec = _run_maybe_batched(
            params,
            network,
            state,
            dt,
            None,
            raster_j,
            scheme,
            i_ext,
            targets,
            n_records=n_records,
            record_every=record_every,
            batched=batched,
            monitor=monitor,
        )
        bad = jnp.any(rec.n_nonfinite > 0, axis=(-2, -1))
        # A NaN/inf parameter (refused eagerly) is flagged too, even where it never reached the
        # state in this run (a spike-triggered jump of a neuron that did not spike).
        lead = (params.eta_bar.shape[0], -1) if batched else (1, -1)
        bad = bad | jnp.any(
            jnp.stack(
                [
                    jnp.any(~jnp.isfinite(jnp.reshape(x, lead)), axis=-1)
                    for x in jax.tree.leaves(params)
                ]
            ),
            axis=0,
        ).reshape(jnp.shape(bad))
        # The step-size bound of traced parameters is known only when the run runs.
        too_big = (
            jnp.asarray(False)
            if not _is_traced(params)
            else dt > traced_max_dt(scheme, params, network)
        )
        if throw:
            rec = rec._replace(
                r=eqx.error_if(
                    rec.r,
                    too_big,
                    f"simulate_network: dt={dt:g} is above {type(scheme).__name__}'s "
                    "stability bound for these parameters (see max_dt); reduce dt",
                )
            )
            rec = rec._replace(
                r=eqx.error_if(
                    rec.r, bad, "simulate_network: non-finite state (blow-up); reduce dt"
                )
            )
        status = status_where(bad, RESULTS.diverged, RESULTS.successful)
        status = status_where(
            jnp.broadcast_to(too_big, jnp.shape(bad)), RESULTS.out_of_domain, status
        )
        t = dt * record_every * (k0 + np.arange(1, n_records + 1))
        return _result(
            t, rec, raster_index, state, network, params, status, dt, record_every, resume, monitor
        )

    steps_per_record = record_every * network.n * (params.eta_bar.shape[0] if batched else 1)
    chunk = int(max(1, min(n_records, chunk_steps // max(steps_per_record, 1))))
    i_dyn, i_static = eqx.partition(i_ext, eqx.is_array) if i_ext is not None else (None, None)
    bar = Progress("simulate_network", t1, enabled=progress)
    batch_failed = np.zeros(params.eta_bar.shape[0] if batched else (), bool)
    started = time.perf_counter()
    done = 0

    def compute(n_now):
        nonlocal batch_failed, done
        if mesh is not None:
            # dt traced, as in the one-device run: a constant step compiles to other rounding.
            sharded_params, sharded_network, sharded_state, n_active = _sharded_inputs(
                params, split_network, last[0], jnp.asarray(n_now, jnp.int32), mesh
            )
            new_state, rec = _run_sharded_jit(
                sharded_params,
                sharded_network,
                sharded_state,
                dt,
                n_active,
                *_sharded_extras(i_dyn, targets, mesh),
                scheme=scheme,
                n_records=chunk,
                record_every=record_every,
                mesh=mesh,
                i_ext_static=i_static,
                monitor=monitor,
            )
        else:
            new_state, rec = _run_jit(
                params,
                network,
                last[0],
                dt,
                jnp.asarray(n_now, jnp.int32),
                raster_j,
                scheme,
                i_dyn,
                targets,
                n_records=chunk,
                record_every=record_every,
                batched=batched,
                i_ext_static=i_static,
                monitor=monitor,
            )
        rec = jax.tree.map(lambda x: np.asarray(x)[..., :n_now, :], rec)
        failed = (rec.n_nonfinite > 0).any(-1) | ~np.isfinite(rec.s).all(-1)
        if batched:
            # Per-element status: a diverging parameter set must not stop the others.
            batch_failed = batch_failed | failed.any(-1)
            failed = failed.all(0)
        bad = np.nonzero(failed)[0]
        if bad.size:
            rec = jax.tree.map(lambda x: x[..., : bad[0] + 1, :], rec)
        done += rec.r.shape[-2]
        last[0] = new_state
        return (new_state, rec), bool(bad.size)

    def position(_, out):
        rate = done * steps_per_record / (time.perf_counter() - started)
        return t0 + done * dt * record_every, f"{rate:.2e} neuron-steps/s,"

    last = [state]
    pieces = [min(chunk, n_records - k) for k in range(0, n_records, chunk)]
    ran = run_chunks(pieces, compute, progress=bar, position=position)
    if ran.outputs:
        state = ran.outputs[-1][0]
    shape = np.shape(batch_failed)
    if ran.interrupted:
        status = status_where(np.ones(shape, bool), RESULTS.interrupted, RESULTS.successful)
    elif batched:
        status = status_where(batch_failed, RESULTS.diverged, RESULTS.successful)
    else:
        status = RESULTS.diverged if ran.stopped else RESULTS.successful
    result = _result(
        dt * record_every * (k0 + np.arange(1, done + 1)),
        _concat_records([rec for _, rec in ran.outputs], network, raster_index, dtype),
        raster_index,
        state,
        network,
        params,
        status,
        dt,
        record_every,
        resume,
        monitor,
    )
    if ran.interrupted:
        bar.close(f"interrupted at t={t0 + done * dt * record_every:g}; partial result kept")
        raise SimulationInterrupted(result)
    failed = np.asarray(status != RESULTS.successful)
    if np.any(failed):
        where = (
            f"in batch elements {np.nonzero(failed)[0].tolist()} "
            if batched
            else f"at t={float(result.t[-1]):g} "
            f"({int(np.max(result.n_nonfinite[..., -1, :]))} neurons); the run stopped there"
        )
        msg = (
            f"simulate_network: non-finite v or w {where}. "
            f"Reduce dt (dt={dt:g}) or check the parameters; `.result` holds the run."
        )
        bar.close(msg)
        if throw:
            raise SimulationError(msg, result)
    return result


def _run_maybe_batched(
    params,
    network,
    state,
    dt,
    n_active,
    raster,
    scheme,
    i_ext=None,
    targets=None,
    *,
    n_records,
    record_every,
    batched,
    i_ext_static=None,
    monitor=None,
):
    # The input arrives split (eqx.partition) so that jit traces its arrays and hashes the rest.
    i_ext = eqx.combine(i_ext, i_ext_static) if i_ext_static is not None else i_ext
    f = lambda p, st: run(
        p,
        network,
        st,
        dt=dt,
        n_records=n_records,
        record_every=record_every,
        scheme=scheme,
        raster=raster,
        n_active=n_active,
        i_ext=i_ext,
        targets=targets,
        monitor=monitor,
    )
    return jax.vmap(f)(params, state) if batched else f(params, state)


# One compilation per (shapes, scheme, chunk length, record_every): repeated runs reuse it.
def _compiler_options() -> dict:
    """`jaxmf._loop.compiler_options` for the default backend: 512-bit vectors on CPUs with
    AVX-512 (1.2-1.3x on the network step) and copy insertion by region analysis (1.03-1.12x,
    all-to-all, vmapped and sparse); the same numbers."""
    return compiler_options(jax.default_backend())


_run_jit_cache: dict = {}


def _run_jit(*args, **kwargs):
    # Built on first use: the backend must be initialised to choose compiler options.
    if "f" not in _run_jit_cache:
        _run_jit_cache["f"] = jax.jit(
            _run_maybe_batched,
            compiler_options=_compiler_options(),
            static_argnames=("n_records", "record_every", "batched", "i_ext_static", "monitor"),
        )
    return _run_jit_cache["f"](*args, **kwargs)


def _neuron_mesh(devices, sizes) -> jax.sharding.Mesh | None:
    """The mesh that splits every population's neurons across `devices` (None: one device):
    a count of local devices, a list of devices (of any process under `jax.distributed`) or
    'all' (every device of every process)."""
    if devices is None:
        return None
    local = jax.local_devices()
    if isinstance(devices, str):
        if devices != "all":
            raise ParameterError("devices", f"must be a count, a list or 'all'; got {devices!r}")
        devices = jax.devices()
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise ParameterError(
                "devices", f"must be between 1 and the {len(local)} local device(s); got {devices}"
            )
        devices = local[: int(devices)]
    devices = list(devices)
    every = jax.devices()
    if not devices or any(d not in every for d in devices):
        raise ParameterError(
            "devices", f"must be a count, 'all' or a list of devices {every}; got {devices}"
        )
    if jax.process_count() > 1 and not any(d in local for d in devices):
        raise ParameterError(
            "devices", f"must include a device of this process ({jax.process_index()})"
        )
    for m, size in enumerate(sizes):
        if size % len(devices):
            raise ParameterError(
                "n",
                f"population {m} has {size} neurons, not a multiple of the {len(devices)} "
                "devices that share it",
            )
    return jax.sharding.Mesh(np.asarray(devices), ("neurons",))


def _on_mesh(tree, mesh: jax.sharding.Mesh, spec):
    """`tree`'s arrays as global arrays on a mesh that spans several processes, each process
    putting the shards of its own devices (`spec`: P() replicated, P('neurons') split); the
    arrays already there pass through. Every process holds the same values (the network and
    its initial state are built alike everywhere), so the global array is the one-process
    run's."""
    sharding = jax.sharding.NamedSharding(mesh, spec)

    def put(x):
        if isinstance(x, jax.Array) and x.sharding.is_equivalent_to(sharding, np.ndim(x)):
            return x
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(put, tree)


def _spans_processes(mesh: jax.sharding.Mesh) -> bool:
    return any(d.process_index != jax.process_index() for d in mesh.devices.flat)


def _run_sharded(
    params,
    network,
    state,
    dt,
    n_active,
    i_ext=None,
    targets=None,
    *,
    scheme,
    n_records,
    record_every,
    mesh,
    i_ext_static=None,
    monitor=None,
):
    """`run` with every population's neurons split across `mesh` (shard_map; the spike counts
    and population sums are psum'd each step, so the state and rates equal the one-device
    run's). The raster is empty. The input in time is replicated, its target masks split like
    the neurons; each device draws its neurons' share of the noise and fills in the monitored
    neurons it holds (`jaxmf.noise.add_noise`, `jaxmf.monitors.pick`)."""
    from jax.sharding import PartitionSpec as P

    split = tuple(P("neurons") for _ in network.sizes)
    i_ext = eqx.combine(i_ext, i_ext_static) if i_ext_static is not None else i_ext
    i_dyn, i_static = eqx.partition(i_ext, eqx.is_array) if i_ext is not None else (None, None)

    def local(params, z, v, w, s, step, dt, n_active, past, x, key, i_dyn, targets, syn, cp):
        st = NetworkState(v=v, w=w, s=s, step=step, key=key, syn=syn, past=past, x=x)
        i_local = eqx.combine(i_dyn, i_static) if i_static is not None else i_dyn
        if cp is not None:  # this device's part of the tables: (1, N_k + 1, D'_k) each
            cp = eqx.tree_at(lambda c: c.targets, cp, tuple(t[0] for t in cp.targets))
        new, rec = run(
            params,
            Network(sizes=network.sizes, z=z, coupling=cp),
            st,
            dt=dt,
            n_records=n_records,
            record_every=record_every,
            scheme=scheme,
            n_active=n_active,
            axis_name="neurons",
            i_ext=i_local,
            targets=targets,
            monitor=monitor,
        )
        return new.v, new.w, new.s, new.step, rec, new.past, new.x, new.syn

    cp = network.coupling
    cp_spec = None
    if cp is not None:  # the tables split (`split_coupling`), the rest replicated
        cp_spec = eqx.tree_at(
            lambda c: c.targets,
            jax.tree.map(lambda _: P(), cp),
            tuple(P("neurons") for _ in cp.targets),
        )
    v, w, s_new, step_new, rec, past, x, syn = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(
            *(P(), split, split, split, P(), P(), P(), P(), P(), P(), P(), P()),
            P() if targets is None else split,
            P() if state.syn is None else split,
            P() if cp is None else cp_spec,
        ),
        out_specs=(split, split, P(), P(), P(), P(), P(), P() if state.syn is None else split),
    )(
        params,
        network.z,
        state.v,
        state.w,
        state.s,
        state.step,
        dt,
        n_active,
        state.past,
        state.x,
        state.key,
        i_dyn,
        targets,
        state.syn,
        cp,
    )
    state = NetworkState(v=v, w=w, s=s_new, step=step_new, key=state.key, syn=syn, past=past, x=x)
    return state, rec


def _sharded_extras(i_dyn, targets, mesh) -> tuple:
    """(input arrays, target masks) for `_run_sharded_jit`, as global arrays across processes."""
    if not _spans_processes(mesh):
        return i_dyn, targets
    from jax.sharding import PartitionSpec as P

    return (
        None if i_dyn is None else _on_mesh(i_dyn, mesh, P()),
        None if targets is None else _on_mesh(targets, mesh, P("neurons")),
    )


def _sharded_inputs(params, network, state, n_active, mesh):
    """(params, network, state, n_active) for `_run_sharded_jit`: unchanged on one process;
    across processes, global arrays (the neurons split, the rest replicated)."""
    if not _spans_processes(mesh):
        return params, network, state, n_active
    from jax.sharding import PartitionSpec as P

    split = P("neurons")
    coupling = network.coupling
    if coupling is not None:  # the tables split like the neurons, the rest replicated
        coupling = SparseCoupling(
            targets=_on_mesh(coupling.targets, mesh, split),
            in_degree=_on_mesh(coupling.in_degree, mesh, P()),
            n_synapses=coupling.n_synapses,
            spike_batch=coupling.spike_batch,
            rule=_on_mesh(coupling.rule, mesh, P()),
        )
    network = Network(sizes=network.sizes, z=_on_mesh(network.z, mesh, split), coupling=coupling)
    state = NetworkState(
        v=_on_mesh(state.v, mesh, split),
        w=_on_mesh(state.w, mesh, split),
        s=_on_mesh(state.s, mesh, P()),
        step=_on_mesh(state.step, mesh, P()),
        key=jax.random.wrap_key_data(
            _on_mesh(jax.random.key_data(state.key), mesh, P()),
            impl=jax.random.key_impl(state.key),
        ),
        past=None if state.past is None else _on_mesh(state.past, mesh, P()),
        x=None if state.x is None else _on_mesh(state.x, mesh, P()),
        syn=None if state.syn is None else _on_mesh(state.syn, mesh, split),
    )
    return _on_mesh(params, mesh, P()), network, state, _on_mesh(n_active, mesh, P())


def _run_sharded_jit(*args, **kwargs):
    # The one-device run's compiler options: the same vector code gives the same rounding.
    if "sharded" not in _run_jit_cache:
        _run_jit_cache["sharded"] = jax.jit(
            _run_sharded,
            compiler_options=_compiler_options(),
            static_argnames=(
                "scheme",
                "n_records",
                "record_every",
                "mesh",
                "i_ext_static",
                "monitor",
            ),
        )
    return _run_jit_cache["sharded"](*args, **kwargs)


def _concat_records(pieces, network, raster_index, dtype) -> Records:
    if pieces:
        return jax.tree.map(lambda *xs: np.concatenate(xs, axis=-2), *pieces)
    n_pop, n_ras = len(network.sizes), sum(len(ix) for ix in raster_index)
    z = np.zeros((0, n_pop), dtype)
    first, count = np.zeros((0, n_ras), np.int32), np.zeros((0, n_ras), np.int32)
    # Host arrays like the concatenated pieces above: mypy wants the jax.Array of `run`'s records.
    return Records(z, z, z, z, z.astype(np.int32), first, count)  # type: ignore[arg-type]


def _result(
    t, rec, raster_index, state, network, params, status, dt, record_every, resume, monitor=None
):
    mon = None
    if monitor is not None:
        rows = rec.monitor
        if rows is None:  # no chunk ran
            rows = MonitorRows(*(np.zeros((0, 0), d) for d in (rec.r.dtype, rec.r.dtype, np.int32)))
        mon = monitor_record(rows, t, monitor, network.sizes, dt, record_every)
    if resume is not None:
        xp = jnp if _is_traced(rec) else np
        rec = Records(
            *(
                xp.concatenate([np.asarray(getattr(resume, f)), x], axis=-2)
                for f, x in zip(Records._fields[:7], rec[:7])
            )
        )
        t = xp.concatenate([np.asarray(resume.t), t])
        if mon is not None and resume.monitor is not None:
            mon = MonitorRecord(
                xp.concatenate([np.asarray(resume.monitor.t), mon.t]),
                mon.indices,
                *(
                    xp.concatenate([np.asarray(getattr(resume.monitor, f)), getattr(mon, f)], -2)
                    for f in ("v", "w", "spikes")
                ),
                every=mon.every,
            )
    return NetworkResult(
        t=t,
        r=rec.r,
        v_mean=rec.v_mean,
        w_mean=rec.w_mean,
        s=rec.s,
        n_nonfinite=rec.n_nonfinite,
        spike_first=rec.spike_first,
        spike_count=rec.spike_count,
        raster_index=raster_index,
        state=state,
        network=network,
        params=params,
        status=status,
        dt=dt,
        record_every=record_every,
        monitor=mon,
    )
