"""Synaptic transmission delays: the delayed network's spike buffer, the delay-differential mean
field and the stability of its equilibria.

Model (`Params.delay`, shape (P, P), `delay[m, k]` from population k onto m). A spike of a
neuron of population k reaches population m `delay[m, k]` time units after it was fired. The
synaptic variable that m feels from k then obeys s_mk' = -s_mk / tau_s,k + s_jump,k r_k(t -
tau_mk); s is linear in the spike train, so s_mk(t) = s_k(t - tau_mk) with s_k the undelayed
variable (the same equation without delay). Every equation of the network and the mean field
keeps its form, with the conductance terms read from the past:

    (gs)_m(t)   = sum_k g[m, k] f_k s_k(t - delay[m, k])
    (gse)_m(t)  = sum_k g[m, k] f_k s_k(t - delay[m, k]) e_r[k]

The mean field (Chen & Campbell 2022 with this drive) becomes a system of delay-differential
equations in the state (r, v, w, s); its equilibria are those of the undelayed model (a constant
past is the present), and their stability is decided by the roots of the characteristic equation
det(lambda I - A0 - sum_mk A_mk exp(-lambda delay[m, k])) = 0.

History: the state before t0 is a history function; by default the initial state, held constant
(the network does the same: its spike buffer starts filled with the initial s). Writing the
delay on the rate instead (s_mk driven by r_k(t - tau), the form of synaptic-delay mean fields
such as Devalle, Montbrio & Pazo 2018) gives the same equilibria, the same characteristic
equation and the same solutions once t > t0 + tau; the two differ only in what the history of
s means on [t0, t0 + tau].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from ._field import exact_rates
from ._results import RESULTS
from .dde import characteristic_roots, solve_dde
from .inputs import StepInput
from .params import (
    ParameterError,
    Params,
    synaptic_drive,
)

__all__ = [
    "DelayLine",
    "delay_steps",
    "max_delay_steps",
    "init_delay_line",
    "delayed_synaptic_drive",
    "network_drive",
    "check_delay_line",
    "uses_dde",
    "delayed_meanfield_field",
    "DelayedSolution",
    "solve_delayed_meanfield",
    "delayed_jacobians",
    "delayed_eigenvalues",
    "delayed_stability",
]


class DelayLine(eqx.Module):
    """The past of the network's synaptic variables: a ring buffer of the last L values of s.

    Carried in `NetworkState.past` when the parameters have a delay; slot `head` holds the
    current s, slot (head - d) mod L the value d steps ago.

    Attributes
    ----------
    s : jax.Array
        Shape (L, P). The synaptic variables of the last L steps.
    head : jax.Array
        The slot of the current step (int32).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> line = init_delay_line(jnp.array([0.5]), 3)
    >>> line.s.shape, int(line.head)
    ((4, 1), 0)
    """

    s: jax.Array
    head: jax.Array

    @property
    def length(self) -> int:
        """L, the number of stored steps (the longest delay it serves is L - 1 steps)."""
        return int(self.s.shape[-2])

    def push(self, s_new: jax.Array) -> DelayLine:
        """The line one step later, with `s_new` as the current value.

        Parameters
        ----------
        s_new : jax.Array
            Shape (P,). The synaptic variables after the step.

        Returns
        -------
        DelayLine
            The advanced line.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> line = init_delay_line(jnp.zeros(1), 2).push(jnp.ones(1))
        >>> line.s[:, 0].tolist(), int(line.head)
        ([0.0, 1.0, 0.0], 1)
        """
        head = (self.head + 1) % self.length
        return DelayLine(s=self.s.at[head].set(s_new), head=head)

    def lagged(self, steps: jax.Array) -> jax.Array:
        """s_k a given number of steps ago, per (post, pre) pair.

        Parameters
        ----------
        steps : jax.Array
            Shape (P, P), integers in [0, L - 1]: steps[m, k] steps back for the pair (m, k).

        Returns
        -------
        jax.Array
            Shape (P, P): out[m, k] = s_k(now - steps[m, k]).

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> line = init_delay_line(jnp.zeros(1), 2).push(jnp.ones(1))
        >>> line.lagged(jnp.array([[1]])).tolist(), line.lagged(jnp.array([[0]])).tolist()
        ([[0.0]], [[1.0]])
        """
        slot = (self.head - jnp.asarray(steps).astype(self.head.dtype)) % self.length
        pre = jnp.arange(self.s.shape[-1])
        return self.s[slot, pre[None, :]]


def delay_steps(params: Params, dt: float) -> np.ndarray:
    """The delays as whole numbers of time steps, checked.

    The delayed network is exact when every delay is a multiple of dt (a spike fired in a
    step arrives a whole number of steps later); other delays are refused rather than rounded.

    Parameters
    ----------
    params : Params
        Parameters with a (concrete) `delay`, possibly batched (stacked).
    dt : float
        The time step.

    Returns
    -------
    numpy.ndarray
        delay / dt as integers, the shape of `params.delay`.

    Raises
    ------
    ParameterError
        When the parameters have no delay, the delay is traced (it sizes the spike buffer), or
        a delay is not a multiple of dt (the message names both).

    Examples
    --------
    >>> from jaxmf import Params
    >>> delay_steps(Params(delay=0.5), 1e-3).tolist()
    [[500]]
    """
    if params.delay is None:
        raise ParameterError("delay", "these parameters have no delay (delay=None)")
    if isinstance(params.delay, jax.core.Tracer):
        raise ParameterError(
            "delay",
            "the network needs concrete delays (they size its spike buffer); batch over delays "
            "with stacked Params instead of tracing them",
        )
    tau = np.asarray(params.delay, float)
    steps = np.rint(tau / dt)
    bad = np.abs(steps * dt - tau) > 1e-9 * np.maximum(1.0, np.abs(tau))
    if np.any(bad):
        worst = float(tau[bad].flat[0])
        raise ParameterError(
            "delay",
            f"delay={worst:g} is not a whole number of time steps dt={dt:g}: the network is "
            f"exact only for multiples of dt (e.g. delay={round(worst / dt) * dt:g})",
        )
    return steps.astype(np.int64)


def init_delay_line(s0: jax.Array, max_steps: int) -> DelayLine:
    """A delay line for delays of up to `max_steps` steps, its past all equal to `s0`.

    The network's history is its initial state held constant, as the mean field's default.

    Parameters
    ----------
    s0 : jax.Array
        Shape (..., P). The initial synaptic variables (a leading batch axis is kept).
    max_steps : int
        The longest delay in steps (the line stores max_steps + 1 values).

    Returns
    -------
    DelayLine
        head 0, every slot s0.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> init_delay_line(jnp.array([0.1, 0.2]), 1).s.tolist()
    [[0.1, 0.2], [0.1, 0.2]]
    """
    s0 = jnp.asarray(s0)
    length = int(max_steps) + 1
    s = jnp.broadcast_to(s0[..., None, :], (*s0.shape[:-1], length, s0.shape[-1]))
    return DelayLine(s=s, head=jnp.zeros(s0.shape[:-1], jnp.int32))


def delayed_synaptic_drive(params: Params, lagged: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(gs)_m and (gse)_m from the delayed synaptic variables of each (post, pre) pair.

    Row m of `lagged` is the s that population m sees; each row goes through `synaptic_drive`
    (the undelayed definition), so a zero delay gives the undelayed drive bit for bit.

    Parameters
    ----------
    params : Params
        The parameter set (unbatched).
    lagged : jax.Array
        Shape (P, P): lagged[m, k] = s_k(t - delay[m, k]).

    Returns
    -------
    gs, gs_er : jax.Array
        Shape (P,) each.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import Params
    >>> gs, gse = delayed_synaptic_drive(Params(g=2.0, e_r=0.5, delay=1.0), jnp.array([[0.25]]))
    >>> float(gs[0]), float(gse[0])
    (0.5, 0.25)
    """
    n_pop = lagged.shape[-1]
    rows = [synaptic_drive(params, lagged[m]) for m in range(n_pop)]
    return jnp.stack([gs[m] for m, (gs, _) in enumerate(rows)]), jnp.stack(
        [gse[m] for m, (_, gse) in enumerate(rows)]
    )


def network_drive(params: Params, past: DelayLine, dt) -> tuple[jax.Array, jax.Array]:
    """The network's conductance terms this step, read from its delay line.

    Parameters
    ----------
    params : Params
        The parameters (unbatched, in the state's dtype).
    past : DelayLine
        The line, its head at the current step.
    dt : float or jax.Array
        The time step.

    Returns
    -------
    gs, gs_er : jax.Array
        Shape (P,) each.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import Params
    >>> line = init_delay_line(jnp.zeros(1), 2).push(jnp.ones(1))
    >>> gs, _ = network_drive(Params(g=1.0, delay=1e-3), line, 1e-3)
    >>> float(gs[0])  # the value one step ago
    0.0
    """
    steps = jnp.rint(params.delay / dt).astype(jnp.int32)
    return delayed_synaptic_drive(params, past.lagged(jnp.clip(steps, 0, past.length - 1)))


def check_delay_line(past: DelayLine | None, params: Params, dt: float) -> None:
    """Refuse to resume a network whose spike buffer cannot serve these delays.

    Parameters
    ----------
    past : DelayLine or None
        The state's line.
    params : Params
        The parameters of the continued run.
    dt : float
        The time step.

    Returns
    -------
    None
        Returns only when the check passes.

    Raises
    ------
    ParameterError
        When the presence of a delay changed, or a delay needs more steps than the line holds.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import Params
    >>> check_delay_line(init_delay_line(jnp.zeros(1), 10), Params(delay=0.01), 1e-3)
    """
    if (past is None) != (params.delay is None):
        raise ParameterError(
            "resume",
            "the run to resume "
            + ("has no delay; these params have one" if past is None else "has a delay")
            + ": continue with the same model",
        )
    if past is not None:
        need = int(np.max(delay_steps(params, dt))) + 1
        if need > past.length:
            raise ParameterError(
                "delay",
                f"the run to resume buffers {past.length - 1} steps of delay; these params need "
                f"{need - 1} (max delay {float(np.max(np.asarray(params.delay))):g})",
            )


def max_delay_steps(params: Params, dt: float) -> int:
    """The longest delay in steps (over every pair and batch element), checked by
    `delay_steps`.

    Parameters
    ----------
    params : Params
        Parameters with a concrete delay.
    dt : float
        The time step.

    Returns
    -------
    int
        The number of past steps the network's delay line must hold.

    Raises
    ------
    ParameterError
        As `delay_steps`.

    Examples
    --------
    >>> from jaxmf import Params
    >>> max_delay_steps(Params(delay=[[0.0, 0.002], [0.001, 0.0]], fractions=[0.5, 0.5]), 1e-3)
    2
    """
    return int(np.max(delay_steps(params, dt)))


def uses_dde(params: Params) -> bool:
    """Whether the mean field of these parameters is a delay-differential equation: a delay is
    given and not (concretely) zero everywhere. A zero delay is the undelayed model, solved as
    an ODE.

    Parameters
    ----------
    params : Params
        The parameter set.

    Returns
    -------
    bool
        False for delay=None or a concrete all-zero delay, else True.

    Examples
    --------
    >>> from jaxmf import Params
    >>> uses_dde(Params()), uses_dde(Params(delay=0.0)), uses_dde(Params(delay=2.0))
    (False, False, True)
    """
    if params.delay is None:
        return False
    if isinstance(params.delay, jax.core.Tracer):
        return True
    return bool(np.any(np.asarray(params.delay) != 0))


def _pairs(params: Params) -> tuple[jax.Array, jax.Array]:
    """The delays of the (post, pre) pairs, flattened row-major, as the DDE solver's delays:
    zero delays (read from the present) replaced by a positive stand-in, and their mask."""
    tau = jnp.reshape(params.delay, (-1,))
    zero = tau == 0
    stand_in = jnp.where(jnp.any(~zero), jnp.max(tau), jnp.ones((), tau.dtype))
    return jnp.where(zero, stand_in, tau), zero


def delayed_meanfield_field(t, y, lagged, args):
    """The delayed exact mean field on a flat state, in `solve_dde`'s form f(t, y, y_lagged, args).

    Chen & Campbell 2022 with the conductance terms of the module docstring. The lags are the
    P x P (post, pre) pairs, row-major; only their s block is read.

    Parameters
    ----------
    t : float or jax.Array
        Time (read by the extra input only).
    y : jax.Array
        Shape (4P,). The state (r, v, w, s blocks).
    lagged : jax.Array
        Shape (P * P, 4P): y(t - delay[m, k]) in row m * P + k.
    args : tuple
        ``(params, input)``: the `Params` (with a delay) and the extra input (None or a callable
        ``t -> scalar or (P,)``).

    Returns
    -------
    jax.Array
        Shape (4P,). dy/dt.

    Examples
    --------
    At an equilibrium the past equals the present and the field vanishes.

    >>> import jax.numpy as jnp
    >>> from jaxmf import presets, meanfield_equilibria
    >>> p = presets.chen_campbell_2022(eta_bar=0.25, delay=2.0)
    >>> eq = meanfield_equilibria(p)
    >>> y = jnp.concatenate([eq.r[0], eq.v[0], eq.w[0], eq.s[0]])
    >>> bool(jnp.max(jnp.abs(delayed_meanfield_field(0.0, y, y[None], (p, None)))) < 1e-12)
    True
    """
    params, inp = args
    _, zero = _pairs(params)
    return _field(t, y, lagged, params, inp, zero)


def _field(t, y, lagged, params: Params, inp, zero):
    """The delayed field; pairs where `zero` read s from the present instead of the past."""
    n_pop = params.eta_bar.shape[-1]
    r, v, w, s = jnp.split(y, 4)
    pre = jnp.tile(jnp.arange(n_pop), n_pop)
    past = lagged[jnp.arange(n_pop * n_pop), 3 * n_pop + pre]
    seen = jnp.where(zero, s[pre], past).reshape(n_pop, n_pop)
    gs, gse = delayed_synaptic_drive(params, seen)
    extra = jnp.zeros((), y.dtype) if inp is None else jnp.asarray(inp(t), y.dtype)
    return jnp.concatenate(exact_rates(params, r, v, w, s, gs, gse, params.i_ext + extra))


class _History(eqx.Module):
    """A user's history t -> (r, v, w, s) as `solve_dde` wants it: (t, args) -> flat state."""

    fn: Callable

    def __call__(self, t, args):
        return jnp.concatenate([jnp.atleast_1d(jnp.asarray(x)) for x in self.fn(t)])


# The solve_meanfield default step budget (1e6) stands for this one on the DDE path, where the
# budget also sizes the stored interpolants (max_steps x 6 x 4P numbers).
DDE_MAX_STEPS = 50_000


class DelayedSolution(NamedTuple):
    """The delayed mean field at the save times, as `solve_delayed_meanfield` returns it
    (`solve_meanfield` wraps it in a `MeanFieldResult`).

    Attributes
    ----------
    t : jax.Array
        Shape (T,). The save times.
    r, v, w, s : jax.Array
        Shape (T, P) each.
    status : RESULTS
        successful, max_steps_reached, or diverged (non-finite values or `blowup` crossed).
    n_steps : jax.Array
        The accepted steps.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets
    >>> sol = solve_delayed_meanfield(presets.chen_campbell_2022(eta_bar=0.25, delay=1.0),
    ...                               jnp.linspace(0.0, 10.0, 3), t0=0.0, t1=10.0)
    >>> sol._fields
    ('t', 'r', 'v', 'w', 's', 'status', 'n_steps')
    """

    t: jax.Array
    r: jax.Array
    v: jax.Array
    w: jax.Array
    s: jax.Array
    status: Any
    n_steps: jax.Array


def solve_delayed_meanfield(
    params: Params,
    ts: jax.Array,
    *,
    t0,
    t1,
    y0=None,
    history=None,
    i_ext=None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    dt0=None,
    max_steps: int = DDE_MAX_STEPS,
    blowup=None,
) -> DelayedSolution:
    """The delayed exact mean field by the method of steps (`jaxmf.dde.solve_dde`).

    Called by `solve_meanfield` for parameters with a delay (`uses_dde`), which wraps the
    solution in a `MeanFieldResult` and raises on failure; use that. Runs under jit and vmap;
    differentiates in forward mode (jvp, jacfwd: the step loop's derivative) and in reverse
    mode (grad: a custom VJP whose backward pass is the Jacobian of the saved states with
    respect to the parameters and initial state, computed in forward mode during the forward
    pass, one batched solve with one direction per input number).

    Parameters
    ----------
    params : Params
        The parameters, with a delay, in the working precision.
    ts : jax.Array
        The save times in [t0, t1].
    t0, t1 : float
        The start and end times.
    y0 : MeanFieldState, optional
        The initial state, also the constant history (default all zeros).
    history : callable, optional
        t -> (r, v, w, s) for t <= t0 (instead of y0); the solution starts from history(t0).
    i_ext : StepInput or callable, optional
        Extra input; a StepInput's switch times are stepped to exactly.
    rtol, atol : float
        Error tolerances per step.
    dt0 : float, optional
        The first step.
    max_steps : int
        The step budget (it sizes the stored interpolants).
    blowup : float, optional
        Flag the solve as diverged when max |y| at the saved times exceeds this.

    Returns
    -------
    DelayedSolution
        The solution at `ts` and its status (never raises on a failed solve).

    Raises
    ------
    ParameterError
        Both y0 and history given.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets
    >>> sol = solve_delayed_meanfield(presets.chen_campbell_2022(eta_bar=0.25, delay=1.0),
    ...                               jnp.linspace(0.0, 100.0, 11), t0=0.0, t1=100.0)
    >>> sol.r.shape, sol.status == RESULTS.successful
    ((11, 1), Array(True, dtype=bool))
    """
    if y0 is not None and history is not None:
        raise ParameterError("history", "give either y0 (a constant history) or history")
    dtype = params.eta_bar.dtype
    n_pop = params.eta_bar.shape[-1]
    if history is None:
        flat0 = (
            jnp.zeros((4 * n_pop,), dtype)
            if y0 is None
            else jnp.concatenate([jnp.asarray(x, dtype) for x in y0])
        )
        hist: Any = flat0
    else:
        hist = _History(history)
    breakpoints = i_ext.times if isinstance(i_ext, StepInput) else None
    config = _DDEConfig(int(max_steps), rtol, atol, dt0)
    ys, status, n_steps = _solve(
        (params, hist, i_ext),
        ts,
        jnp.asarray(t0, dtype),
        jnp.asarray(t1, dtype),
        breakpoints,
        config,
    )
    finite = jnp.all(jnp.isfinite(ys))
    status = RESULTS.where((status == RESULTS.successful) & ~finite, RESULTS.diverged, status)
    if blowup is not None:
        over = jnp.nanmax(jnp.abs(ys)) > blowup
        status = RESULTS.where(over, RESULTS.diverged, status)
    r, v, w, s = jnp.split(ys, 4, axis=-1)
    return DelayedSolution(t=ts, r=r, v=v, w=w, s=s, status=status, n_steps=n_steps)


class _DDEConfig(NamedTuple):
    max_steps: int
    rtol: float
    atol: float
    dt0: float | None


def _forward(inputs, ts, t0, t1, breakpoints, config: _DDEConfig):
    params, hist, i_ext = inputs
    delays, _ = _pairs(params)
    sol = solve_dde(
        delayed_meanfield_field,
        hist,
        t1,
        delays,
        t0=t0,
        args=(params, i_ext),
        ts=ts,
        rtol=config.rtol,
        atol=config.atol,
        dt0=config.dt0,
        max_steps=config.max_steps,
        breakpoints=breakpoints,
        throw=False,
    )
    return sol.ys, sol.status, sol.n_steps


def _solve(inputs, ts, t0, t1, breakpoints, config: _DDEConfig):
    """Forward mode through the step loop when tangents come in; otherwise the custom VJP."""
    forward = any(isinstance(x, jax.interpreters.ad.JVPTracer) for x in jax.tree.leaves(inputs))
    if forward:
        return _forward(inputs, ts, t0, t1, breakpoints, config)
    return _solve_vjp(inputs, ts, t0, t1, breakpoints, config)


@eqx.filter_custom_vjp
def _solve_vjp(inputs, ts, t0, t1, breakpoints, config):
    return _forward(inputs, ts, t0, t1, breakpoints, config)


@_solve_vjp.def_fwd
def _solve_vjp_fwd(perturbed, inputs, ts, t0, t1, breakpoints, config):
    diff, rest = eqx.partition(inputs, perturbed)
    flat, unravel = jax.flatten_util.ravel_pytree(diff)

    def states(x):
        ys, _, _ = _forward(eqx.combine(unravel(x), rest), ts, t0, t1, breakpoints, config)
        return ys

    out = _forward(inputs, ts, t0, t1, breakpoints, config)
    jac = jax.jacfwd(states)(flat)  # (T, 4P, n_inputs)
    return out, jac


@_solve_vjp.def_bwd
def _solve_vjp_bwd(jac, grad_obj, perturbed, inputs, ts, t0, t1, breakpoints, config):
    g_ys = grad_obj[0]
    diff, _ = eqx.partition(inputs, perturbed)
    flat, unravel = jax.flatten_util.ravel_pytree(diff)
    if g_ys is None:
        g_flat = jnp.zeros_like(flat)
    else:
        g_flat = jnp.einsum("tn,tni->i", g_ys, jac)
    return unravel(g_flat)  # the structure of `inputs`, None where not differentiated


def delayed_jacobians(x: jax.Array, params: Params) -> tuple[jax.Array, jax.Array]:
    """The linearisation of the delayed mean field at a constant state x: A0 (the present) and
    one matrix per (post, pre) pair (the past), so that near x the DDE reads
    y' = A0 y + sum_mk A_mk y(t - delay[m, k]).

    Parameters
    ----------
    x : jax.Array
        Shape (4P,). The state (an equilibrium).
    params : Params
        Parameters with a delay.

    Returns
    -------
    a0 : jax.Array
        Shape (4P, 4P).
    a_delayed : jax.Array
        Shape (P * P, 4P, 4P), pair (m, k) in row m * P + k (for every pair, whatever its
        delay: they do not depend on the delays).

    Examples
    --------
    Their sum is the undelayed Jacobian.

    >>> import jax, jax.numpy as jnp
    >>> from jaxmf import presets
    >>> from jaxmf.bifurcation import meanfield_vector_field
    >>> p = presets.chen_campbell_2022(eta_bar=0.25, delay=2.0)
    >>> x = jnp.array([0.1, -0.2, 0.01, 0.3])
    >>> a0, a1 = delayed_jacobians(x, p)
    >>> bool(jnp.allclose(a0 + a1.sum(0), jax.jacfwd(meanfield_vector_field)(x, p)))
    True
    """
    n_pairs = params.delay.size
    past = jnp.broadcast_to(x, (n_pairs, x.shape[0]))
    # Every pair is read from the past here, a zero delay too: characteristic_roots moves
    # the matrix of a zero delay into A0 itself, so the matrices do not depend on the delays.
    every = jnp.zeros((n_pairs,), bool)
    field = lambda y, lag: _field(0.0, y, lag, params, None, every)
    a0 = jax.jacfwd(field, argnums=0)(x, past)
    a1 = jax.jacfwd(field, argnums=1)(x, past)  # (4P, K, 4P)
    return a0, jnp.transpose(a1, (1, 0, 2))


def delayed_eigenvalues(x: jax.Array, params: Params, n_roots: int | None = None, n_nodes=20):
    """The rightmost characteristic roots of the delayed mean field linearised at x (the
    eigenvalues of its equilibrium), by `jaxmf.dde.characteristic_roots`.

    Parameters
    ----------
    x : jax.Array
        Shape (4P,). An equilibrium.
    params : Params
        Parameters with a delay.
    n_roots : int, optional
        How many roots (default 4P, as many as the undelayed eigenvalues).
    n_nodes : int, default 20
        Chebyshev nodes of the discretisation (its eigenvalues only start Newton, so a coarse
        one serves; raise it for delays much longer than the slowest oscillation).

    Returns
    -------
    jax.Array or numpy.ndarray
        (n_roots,) complex, by decreasing real part.

    Examples
    --------
    >>> from jaxmf import presets, meanfield_equilibria
    >>> import jax.numpy as jnp
    >>> p = presets.chen_campbell_2022(eta_bar=0.25, delay=2.0)
    >>> eq = meanfield_equilibria(p)
    >>> x = jnp.concatenate([eq.r[0], eq.v[0], eq.w[0], eq.s[0]])
    >>> bool(jnp.allclose(delayed_eigenvalues(x, p), eq.eigenvalues[0]))
    True
    """
    a0, a1 = delayed_jacobians(x, params)
    n_roots = x.shape[0] if n_roots is None else n_roots
    return characteristic_roots(
        a0, a1, jnp.reshape(params.delay, (-1,)), n_nodes=n_nodes, n_roots=n_roots
    )


def delayed_stability(eq, params: Params):
    """`Equilibria` of the delayed mean field with their eigenvalues and stability: the
    rightmost 4P characteristic roots of each equilibrium (the equilibria themselves are the
    undelayed model's). Used by `meanfield_equilibria`.

    Parameters
    ----------
    eq : Equilibria
        The equilibria of the model without delay (same points).
    params : Params
        Parameters with a delay (unbatched; vmap for a batch).

    Returns
    -------
    Equilibria
        `eigenvalues` the rightmost characteristic roots, `stable` where all have negative
        real parts.

    Examples
    --------
    >>> from jaxmf import presets, meanfield_equilibria
    >>> eq = meanfield_equilibria(presets.chen_campbell_2022(eta_bar=0.25, delay=2.0))
    >>> eq.eigenvalues.shape, bool(eq.stable[0])
    ((8, 4), False)
    """
    x = jnp.concatenate([eq.r, eq.v, eq.w, eq.s], axis=-1)
    valid = eq.valid
    safe = jnp.where(valid[:, None], x, jnp.nan_to_num(x[0]) + 1.0)
    roots = jax.vmap(lambda xi: delayed_eigenvalues(xi, params))(safe)
    roots = jnp.where(valid[:, None], roots, jnp.full_like(roots, jnp.nan))
    top = jnp.max(jnp.where(jnp.isnan(roots.real), -jnp.inf, roots.real), axis=-1)
    stable = valid & (top < 0)
    return eqx.tree_at(lambda e: (e.eigenvalues, e.stable), eq, (roots, stable))
