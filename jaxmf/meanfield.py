"""Mean-field models of the network: vector fields, `solve_meanfield` (diffrax) and equilibria.

Chen & Campbell 2022 exact mean field, per population m with (gs)_m = sum_k g[m,k] f_k s_k and
(gse)_m = sum_k g[m,k] f_k s_k e_r[k]:

    r' = delta_eta/pi + 2 r v - r (alpha + gs)
    v' = v^2 - alpha v - pi^2 r^2 + gse - gs v - w + eta_bar + i_ext
    w' = a (b v - w) + w_jump r
    s' = -s / tau_s + s_jump r

With noise (`Params.gamma`, `Params.sigma`) delta_eta reads `jaxmf.noise.effective_half_width`:
delta_eta + gamma (Cauchy noise, exact) + gamma_sigma (Gaussian noise, an approximation).
With gap junctions (`Params.g_el`), r' gains -G r and v' gains (G vbar) - G v, with
G_m = sum_k g_el[m,k] f_k and (G vbar)_m = sum_k g_el[m,k] f_k v_k; with second-order synapses
(`Params.tau_r`) the state is a `MeanFieldRiseState` with x, and s' = -s / tau_s + x / tau_r,
x' = -x / tau_r + s_jump r (equations and normalisation in `jaxmf.synapses`).

Nicola & Campbell 2013 (2-D, (s, w) driven by the quasi-steady QIF rate) and the
Montbrio-Pazo-Roxin limit (w_jump = b = 0) are provided for comparison. All vector fields have the
diffrax signature `f(t, y, args)` with `args = (params, input)` and are pure, so users can pass them
to their own `diffrax.diffeqsolve`.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from ._field import exact_rates
from ._results import RESULTS, from_diffrax, raise_or_flag, status_message
from .delay import DDE_MAX_STEPS, delayed_stability, solve_delayed_meanfield, uses_dde
from .inputs import StepInput, jump_times
from .noise import effective_half_width
from .params import (
    ParameterError,
    Params,
    check_params,
    module_repr,
    promote_params,
    synaptic_drive,
)
from .synapses import gap_junction_drive

__all__ = [
    "MeanFieldState",
    "MeanFieldRiseState",
    "MeanFieldResult",
    "Equilibria",
    "StepInput",
    "chen_campbell",
    "nicola_campbell",
    "mpr",
    "quasi_steady_state",
    "solve_meanfield",
    "meanfield_equilibria",
    "MODELS",
]


class MeanFieldState(NamedTuple):
    """The state of the mean field: rate, mean voltage, mean adaptation and synaptic variable.

    A NamedTuple, so it is a pytree that diffrax integrates and `jnp.concatenate` flattens.

    Attributes
    ----------
    r : jax.Array
        Shape (P,). Population firing rate.
    v : jax.Array
        Shape (P,). Mean membrane potential.
    w : jax.Array
        Shape (P,). Mean adaptation current.
    s : jax.Array
        Shape (P,). Synaptic gating variable.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.meanfield import MeanFieldState
    >>> y = MeanFieldState(*(jnp.full(1, x) for x in (0.1, -0.5, 0.0, 0.0)))
    >>> y.r.shape, y._fields
    ((1,), ('r', 'v', 'w', 's'))
    """

    r: jax.Array
    v: jax.Array
    w: jax.Array
    s: jax.Array


class MeanFieldRiseState(NamedTuple):
    """The mean field's state with second-order synapses (`Params.tau_r`): `MeanFieldState`'s
    (r, v, w, s) and the synaptic rise variable x (equations in `jaxmf.synapses`).

    Attributes
    ----------
    r, v, w, s : jax.Array
        Shape (P,). As in `MeanFieldState`.
    x : jax.Array
        Shape (P,). Synaptic rise variable: x' = -x / tau_r + s_jump r, s' = -s / tau_s + x / tau_r.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.meanfield import MeanFieldRiseState
    >>> y = MeanFieldRiseState(*(jnp.full(1, x) for x in (0.1, -0.5, 0.0, 0.0, 0.0)))
    >>> y._fields
    ('r', 'v', 'w', 's', 'x')
    """

    r: jax.Array
    v: jax.Array
    w: jax.Array
    s: jax.Array
    x: jax.Array


def _default_adjoint(inputs) -> diffrax.AbstractAdjoint:
    """ForwardMode when any input carries a forward-mode tangent (jvp/jacfwd), else the
    memory-bounded reverse-mode RecursiveCheckpointAdjoint (a custom VJP, which jvp refuses)."""
    forward = any(isinstance(x, jax.interpreters.ad.JVPTracer) for x in jax.tree.leaves(inputs))
    return diffrax.ForwardMode() if forward else diffrax.RecursiveCheckpointAdjoint()


def _input(inp, t, dtype):
    return jnp.zeros((), dtype) if inp is None else jnp.asarray(inp(t), dtype)


def chen_campbell(
    t, y: MeanFieldState | MeanFieldRiseState, args
) -> MeanFieldState | MeanFieldRiseState:
    """The exact mean field (Chen & Campbell 2022), in diffrax's ``f(t, y, args)`` form.

    Parameters
    ----------
    t : float or jax.Array
        Time (used by the extra input only).
    y : MeanFieldState
        The state, each field of shape (P,).
    args : tuple
        ``(params, input)``: the `Params` and the extra input (None, a `StepInput` or any
        callable ``t -> scalar or (P,)``).

    Returns
    -------
    MeanFieldState
        The time derivatives (r', v', w', s') of the equations in the module docstring.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets
    >>> from jaxmf.meanfield import MeanFieldState, chen_campbell
    >>> params = presets.chen_campbell_2022(eta_bar=0.25)
    >>> y = MeanFieldState(*(jnp.full(1, x) for x in (0.1, -0.5, 0.0, 0.0)))
    >>> [round(float(d[0]), 4) for d in chen_campbell(0.0, y, (params, None))]
    [-0.1558, 0.7121, 0.0019, 0.1231]
    """
    params, inp = args
    r, v, w, s = y[:4]
    gs, gse = synaptic_drive(params, s)
    i_total = params.i_ext + _input(inp, t, params.i_ext.dtype)
    dr, dv, dw, ds = exact_rates(params, r, v, w, s, gs, gse, i_total)
    if params.tau_r is not None:
        ds, dx = _rise_rates(params, s, _rise_state(y), r)
        return MeanFieldRiseState(dr, dv, dw, ds, dx)
    return MeanFieldState(dr, dv, dw, ds)


def _rise_state(y) -> jax.Array:
    if not isinstance(y, MeanFieldRiseState):
        raise ParameterError(
            "y0", "with tau_r (second-order synapses) the state is a MeanFieldRiseState (with x)"
        )
    return y.x


def _rise_rates(params: Params, s, x, rate):
    """(s', x') of second-order synapses driven by the rate (jaxmf.synapses)."""
    return -s / params.tau_s + x / params.tau_r, -x / params.tau_r + params.s_jump * rate


def mpr(t, y: MeanFieldState | MeanFieldRiseState, args) -> MeanFieldState | MeanFieldRiseState:
    """The Montbrio-Pazo-Roxin limit: the exact mean field without adaptation.

    `chen_campbell` with w_jump = b = 0 and w frozen at its initial value.

    Parameters
    ----------
    t : float or jax.Array
        Time (used by the extra input only).
    y : MeanFieldState
        The state, each field of shape (P,).
    args : tuple
        ``(params, input)``: the `Params` and the extra input (None, a `StepInput` or any
        callable ``t -> scalar or (P,)``).

    Returns
    -------
    MeanFieldState
        The time derivatives; w' is zero.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets
    >>> from jaxmf.meanfield import MeanFieldState, mpr
    >>> params = presets.chen_campbell_2022(eta_bar=0.25)
    >>> y = MeanFieldState(*(jnp.full(1, x) for x in (0.1, -0.5, 0.0, 0.0)))
    >>> [round(float(d[0]), 4) for d in mpr(0.0, y, (params, None))]
    [-0.1558, 0.7121, 0.0, 0.1231]
    """
    params, inp = args
    d = chen_campbell(t, y, (params.replace(w_jump=0.0, b=0.0), inp))
    return d._replace(w=jnp.zeros_like(y.w))


def quasi_steady_state(params: Params, w, s, i_total):
    """Quasi-steady QIF rate and mean voltage for frozen (w, s) (the Nicola-Campbell reduction).

    Parameters
    ----------
    params : Params
        The model parameters.
    w : jax.Array
        Shape (P,). Adaptation, held fixed.
    s : jax.Array
        Shape (P,). Synaptic variable, held fixed.
    i_total : float or jax.Array
        Scalar or shape (P,). Total input current (``params.i_ext`` plus any extra input).

    Returns
    -------
    rate : jax.Array
        Shape (P,). The rate Re z / pi, with z = sqrt(eta_bar + i Delta - c).
    v : jax.Array
        Shape (P,). The mean voltage A/2 - Im z.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets
    >>> from jaxmf.meanfield import quasi_steady_state
    >>> params = presets.chen_campbell_2022(eta_bar=0.25)
    >>> rate, v = quasi_steady_state(params, jnp.zeros(1), jnp.zeros(1), params.i_ext)
    >>> round(float(rate[0]), 4), round(float(v[0]), 4)
    (0.1249, 0.2853)
    """
    gs, gse = synaptic_drive(params, s)
    A = params.alpha + gs
    c = w - gse + A * A / 4 - i_total
    z = jnp.sqrt(jax.lax.complex(params.eta_bar - c, effective_half_width(params)))
    return jnp.real(z) / jnp.pi, A / 2 - jnp.imag(z)


def nicola_campbell(
    t, y: MeanFieldState | MeanFieldRiseState, args
) -> MeanFieldState | MeanFieldRiseState:
    """Nicola & Campbell 2013: (s, w) driven by the quasi-steady rate R(s, w).

    r and v are slaved to (w, s): their derivatives are zero here, and `solve_meanfield` fills
    them from `quasi_steady_state`.

    Parameters
    ----------
    t : float or jax.Array
        Time (used by the extra input only).
    y : MeanFieldState
        The state, each field of shape (P,).
    args : tuple
        ``(params, input)``: the `Params` and the extra input (None, a `StepInput` or any
        callable ``t -> scalar or (P,)``).

    Returns
    -------
    MeanFieldState
        The time derivatives; r' and v' are zero.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets
    >>> from jaxmf.meanfield import MeanFieldState, nicola_campbell
    >>> params = presets.chen_campbell_2022(eta_bar=0.25)
    >>> y = MeanFieldState(*(jnp.full(1, x) for x in (0.1, -0.5, 0.0, 0.0)))
    >>> [round(float(d[0]), 4) for d in nicola_campbell(0.0, y, (params, None))]
    [0.0, 0.0, 0.0024, 0.1538]
    """
    params, inp = args
    rate, v_qss = quasi_steady_state(
        params, y.w, y.s, params.i_ext + _input(inp, t, params.i_ext.dtype)
    )
    dw = params.a * (params.b * v_qss - y.w) + params.w_jump * rate
    zero = jnp.zeros_like(y.r)
    if params.tau_r is not None:
        ds, dx = _rise_rates(params, y.s, _rise_state(y), rate)
        return MeanFieldRiseState(zero, zero, dw, ds, dx)
    ds = -y.s / params.tau_s + params.s_jump * rate
    return MeanFieldState(zero, zero, dw, ds)


MODELS: dict[str, Callable] = {
    "chen_campbell": chen_campbell,
    "nicola_campbell": nicola_campbell,
    "mpr": mpr,
}


class MeanFieldResult(eqx.Module):
    """A mean-field solution at the saved times, as returned by `solve_meanfield`.

    Attributes
    ----------
    t : jax.Array
        Shape (T,). The saved times.
    r, v, w, s : jax.Array
        Shape (T, P). Rate, mean voltage, mean adaptation and synaptic variable.
    status : RESULTS
        successful, max_steps_reached, solver_failed (diffrax's failures), or diverged
        (non-finite values, or the `blowup` bound crossed).
    n_steps : jax.Array
        The accepted steps.
    model : str
        The model solved ('chen_campbell', 'nicola_campbell' or 'mpr').
    x : jax.Array or None
        Shape (T, P). Synaptic rise variable with second-order synapses (`Params.tau_r`), else
        None.
    message : str
        The status in words (empty when successful).
    dtype : numpy.dtype
        The precision the solve ran in.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.meanfield import solve_meanfield
    >>> res = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.25), t1=200.0)
    >>> res.t.shape, res.r.shape, res.model, res.message
    ((2001,), (2001, 1), 'chen_campbell', '')
    """

    t: jax.Array
    r: jax.Array
    v: jax.Array
    w: jax.Array
    s: jax.Array
    status: RESULTS
    n_steps: jax.Array
    model: str = eqx.field(static=True)
    x: jax.Array | None = None

    @property
    def message(self) -> str:
        return status_message(self.status)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.r.dtype)

    def __repr__(self) -> str:
        return module_repr(
            self,
            ("t", "r", "v", "w", "s", "status", "n_steps"),
            extra={"model": self.model, "dtype": str(self.dtype)},
        )


def working_precision(params: Params, dtype, caller: str) -> Params:
    """`params` in the precision a mean-field computation runs in: `dtype` if given, else the
    params' own (their widest field; a float32 field among float64 ones is widened). Warns
    (`UserWarning`) when that is float32 although float64 was asked for or x64 is enabled.

    Parameters
    ----------
    params : Params
        The model parameters.
    dtype : None or dtype
        None (follow the params) or float32/float64.
    caller : str
        The calling function's name, for the warning.

    Returns
    -------
    Params
        `params` with every field in the working dtype.

    Raises
    ------
    ParameterError
        When `dtype` is neither float32 nor float64.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets
    >>> from jaxmf.meanfield import working_precision
    >>> params = presets.chen_campbell_2022()
    >>> str(working_precision(params, jnp.float32, "demo").eta_bar.dtype)
    'float32'
    """
    kinds = {getattr(x, "dtype", None) for x in jax.tree.leaves(params)}
    if len(kinds) == 1 and next(iter(kinds)) in (np.float32, np.float64):
        have = np.dtype(next(iter(kinds)))  # one dtype already: nothing to promote
    else:
        params = promote_params(params)
        have = jnp.dtype(params.dtype)
    x64 = bool(jax.config.read("jax_enable_x64"))
    if dtype is not None:
        want = jnp.dtype(dtype)
        if want not in (jnp.float32, jnp.float64):
            raise ParameterError("dtype", f"must be float32 or float64; got {dtype}")
        if want == jnp.float64 and not x64:
            warnings.warn(
                f"{caller}: float64 was asked for but jax_enable_x64 is off; computing "
                "in float32 (call jax.config.update('jax_enable_x64', True) before "
                "creating any arrays)",
                UserWarning,
                stacklevel=3,
            )
            want = jnp.dtype(jnp.float32)
        if want != have:
            params = jax.tree.map(lambda x: jnp.asarray(x, want), params)
    elif x64 and have == jnp.float32:
        warnings.warn(
            f"{caller}: the parameters are float32 although jax_enable_x64 is on; "
            "computing in float32 (create the Params after enabling x64, or pass "
            "dtype=jnp.float64)",
            UserWarning,
            stacklevel=3,
        )
    return params


def _concrete_float(name: str, x) -> float | None:
    if isinstance(x, jax.core.Tracer):
        return None
    if isinstance(x, (str, bytes, bool)):
        raise ParameterError(name, f"must be a real number; got {x!r}")
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ParameterError(name, f"must be a real number; got {x!r}") from None


def _check_solve(t0, t1, ts, y0, rtol, atol, max_steps, blowup) -> None:
    """Refuse settings that cannot give a right answer, before any computation."""
    t0_, t1_ = _concrete_float("t0", t0), _concrete_float("t1", t1)
    if t0_ is not None and not math.isfinite(t0_):
        raise ParameterError("t0", f"must be finite; got {t0_}")
    if t1_ is not None and not math.isfinite(t1_):
        raise ParameterError("t1", f"must be a finite end time; got {t1_}")
    if t0_ is not None and t1_ is not None and not t1_ > t0_:
        raise ParameterError("t1", f"must be > t0={t0_:g}; got {t1_:g}")
    if ts is not None and not isinstance(ts, jax.core.Tracer):
        arr = np.asarray(ts, dtype=float)
        if arr.ndim != 1 or arr.size == 0:
            raise ParameterError("ts", f"must be a 1-D array of save times; got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ParameterError("ts", "save times must be finite")
        if np.any(np.diff(arr) < 0):
            raise ParameterError("ts", "save times must be non-decreasing")
        lo, hi = (t0_ if t0_ is not None else -np.inf), (t1_ if t1_ is not None else np.inf)
        slack = 1e-9 * max(
            1.0, abs(lo) if np.isfinite(lo) else 1.0, abs(hi) if np.isfinite(hi) else 1.0
        )  # times built as k * bin_time may overshoot by round-off
        if arr[0] < lo - slack or arr[-1] > hi + slack:
            raise ParameterError(
                "ts",
                f"save times must lie in [t0, t1] = [{lo:g}, {hi:g}]; got "
                f"[{arr[0]:g}, {arr[-1]:g}]",
            )
    for name, x in (("rtol", rtol), ("atol", atol)):
        v = _concrete_float(name, x)
        if v is not None and not (math.isfinite(v) and 0 <= v < 1):
            raise ParameterError(name, f"must be a tolerance in [0, 1); got {v:g}")
    if _concrete_float("rtol", rtol) == 0 and _concrete_float("atol", atol) == 0:
        raise ParameterError("rtol", "rtol and atol cannot both be 0")
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ParameterError("max_steps", f"must be an integer >= 1; got {max_steps!r}")
    if blowup is not None:
        v = _concrete_float("blowup", blowup)
        if v is not None and not v > 0:
            raise ParameterError("blowup", f"must be a bound > 0 on max|y|; got {v:g}")
    if y0 is not None:
        leaves = [x for x in jax.tree.leaves(y0) if not isinstance(x, jax.core.Tracer)]
        if any(not np.all(np.isfinite(np.asarray(x, dtype=float))) for x in leaves):
            raise ParameterError("y0", "the initial state must be finite")


def solve_meanfield(
    params: Params,
    t1: float = 800.0,
    ts=None,
    *,
    t0: float = 0.0,
    y0=None,
    model: str = "chen_campbell",
    i_ext=None,
    solver=None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    dt0: float | None = None,
    max_steps: int = 1_000_000,
    adjoint=None,
    blowup: float | None = None,
    dtype=None,
    throw: bool = True,
    history=None,
) -> MeanFieldResult:
    """Integrate a mean-field model with diffrax from t0 to t1, saving at `ts`.

    Works under jit, vmap (over params), grad and jacfwd. With the defaults (an explicit
    Runge-Kutta solver, `adjoint=None`, no input or a `jaxmf.inputs` object) the forward solve runs
    diffrax's solver and step-size controller in one compiled loop that keeps the interpolant
    of each step reaching a grid point and evaluates the grid after the loop (the steps and
    saved values of `diffrax.diffeqsolve`, without its per-point save loop or step-budget
    buffers); reverse-mode derivatives of that loop come from diffrax's
    `RecursiveCheckpointAdjoint`. When the inputs carry forward-mode tangents (`jax.jvp`,
    `jax.jacfwd`, optimistix' forward Jacobians) or an adjoint is given, the solve is
    `diffrax.diffeqsolve` itself (`diffrax.ForwardMode()` for forward mode). Under `jax.vmap`
    (Tsit5, no input) each point takes its own steps: a few hundred lanes (thousands on an
    accelerator) step together and a lane takes the next point when its own finishes, so a
    batch costs about the sum of its points' steps, not the slowest point's steps times the
    batch size; a point's values do not depend on the batch it is in.

    With a nonzero `params.delay` the model is a delay-differential equation (`jaxmf.delay`),
    solved by the method of steps on Dormand-Prince 5(4) (`jaxmf.dde.solve_dde`; `solver` and
    `adjoint` do not apply, the default step budget is `jaxmf.delay.DDE_MAX_STEPS`); only
    'chen_campbell' has a delayed form. A delay of zero everywhere is the ODE.

    Parameters
    ----------
    params : Params
        The model parameters; the solve runs in their dtype (see `dtype`).
    t1 : float
        End time.
    ts : array_like, optional
        Save times in [t0, t1] (default every 0.1 time unit).
    t0 : float
        Start time.
    y0 : MeanFieldState, optional
        Initial state (default all zeros, the network's initial state); with `Params.tau_r` a
        `MeanFieldRiseState`, or the four fields with x = 0.
    model : str
        'chen_campbell' (exact), 'nicola_campbell' or 'mpr'.
    i_ext : jaxmf.inputs.Input or callable, optional
        Extra input in time, added to ``params.i_ext``: a `jaxmf.inputs` object (`StepInput`,
        `Sinusoid`, `PulseTrain`, `PiecewiseLinear`, `Sampled`) or any callable
        ``t -> scalar or (P,)``. The reduction is exact for any input common to a population;
        jumps and kinks of the `jaxmf.inputs` objects are stepped to exactly.
    solver : diffrax.AbstractSolver, optional
        Any diffrax solver (default Tsit5; diffrax.Kvaerno5 for very fast adaptation).
    rtol, atol : float
        PID controller tolerances.
    dt0 : float, optional
        First step (default: chosen by diffrax).
    max_steps : int
        Step budget (accepted and rejected steps).
    adjoint : diffrax.AbstractAdjoint, optional
        Adjoint for gradients (default: chosen as above; pass one to force it).
    blowup : float, optional
        If given, the solve stops once max|y| exceeds it and the status is diverged (a diverging
        point then costs a few steps instead of the whole step budget).
    dtype : None or dtype
        None (the params' precision) or float32/float64; a `UserWarning` says when the solve
        runs in float32 although x64 is enabled or float64 was asked for.
    throw : bool
        Raise `NumericalError` (under jit: an `equinox.error_if` error) on any status other than
        successful; with False the result comes back flagged.
    history : callable, optional
        With a delay: t -> (r, v, w, s) for t <= t0 (default: y0 held constant).

    Returns
    -------
    MeanFieldResult
        The solution at the saved times.

    Raises
    ------
    ParameterError
        Settings that cannot give a right answer (unknown model, t1 <= t0, save times outside
        [t0, t1], non-finite y0, ...).
    NumericalError
        When the solve fails and `throw` is True.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.meanfield import StepInput, solve_meanfield
    >>> res = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.25), t1=200.0)
    >>> round(float(res.r[-1, 0]), 3), res.message  # the tonic rate
    (0.118, '')
    >>> step = StepInput(times=[100.0], values=[0.0, 0.1])
    >>> res = solve_meanfield(presets.chen_campbell_2022(eta_bar=0.25), t1=200.0, i_ext=step)
    >>> bool(res.r[-1, 0] > 0.118)  # more input, a higher rate
    True
    """
    params = check_params(params)
    if model not in MODELS:
        raise ParameterError("model", f"must be one of {', '.join(MODELS)}; got {model!r}")
    _check_solve(t0, t1, ts, y0, rtol, atol, max_steps, blowup)
    params = working_precision(params, dtype, "solve_meanfield")
    dtype = params.eta_bar.dtype
    n_default = None
    if ts is None:
        if isinstance(t1, jax.core.Tracer) or isinstance(t0, jax.core.Tracer):
            raise ParameterError(
                "ts",
                "give the save times ts when t0 or t1 is traced (the "
                "default grid's length depends on their values)",
            )
        n_default = _default_count(t0, t1)
    else:
        ts = jnp.asarray(ts, dtype)  # diffrax promotes the state to the time dtype
    p = params.n_populations
    if y0 is not None:
        try:
            fields = [jnp.broadcast_to(jnp.asarray(x, dtype), (p,)) for x in y0]
        except (ValueError, TypeError):
            shapes = [np.shape(x) for x in y0]
            raise ParameterError(
                "y0", f"needs r, v, w, s of shape ({p},) (or scalars); got shapes {shapes}"
            ) from None
        if len(fields) == 5 and params.tau_r is None:
            raise ParameterError("y0", "x (a synaptic rise variable) needs tau_r")
        if params.tau_r is None:
            y0 = MeanFieldState(*fields)
        else:  # x defaults to 0: no spikes in flight
            r0, v0, w0, s0 = fields[:4]
            x0 = fields[4] if len(fields) == 5 else jnp.zeros_like(r0)
            y0 = MeanFieldRiseState(r0, v0, w0, s0, x0)
    if uses_dde(params):
        if params.tau_r is not None:
            raise ParameterError(
                "tau_r",
                "second-order synapses are not available with a synaptic delay; give one of "
                "the two",
            )
        if model != "chen_campbell" or solver is not None or adjoint is not None:
            raise ParameterError(
                "delay", "the delayed mean field is model='chen_campbell' with its own DDE solver"
            )
        sol = solve_delayed_meanfield(
            params,
            jnp.linspace(t0, t1, n_default, dtype=dtype) if ts is None else ts,
            t0=t0,
            t1=t1,
            y0=y0,
            history=history,
            i_ext=i_ext,
            rtol=rtol,
            atol=atol,
            dt0=dt0,
            max_steps=DDE_MAX_STEPS if max_steps == 1_000_000 else max_steps,
            blowup=blowup,
        )
        res = MeanFieldResult(*sol, model="chen_campbell")
        if not throw:
            return res
        return raise_or_flag(
            res,
            "r",
            "solve_meanfield (chen_campbell with delay)",
            "try looser rtol/atol or a larger max_steps",
        )
    if history is not None:
        raise ParameterError("history", "a history function needs a nonzero delay")
    solver = solver or _TSIT5
    # Concrete scalars go in as Python floats (cast inside the compiled solve): no eager array
    # per argument, and 1000 and 1000.0 share one compilation.
    inputs = _SolveInputs(
        params=params,
        y0=y0,
        ts=ts,
        t0=_scalar(t0),
        t1=_scalar(t1),
        rtol=_scalar(rtol),
        atol=_scalar(atol),
        dt0=None if dt0 is None else _scalar(dt0),
        blowup=None if blowup is None else _scalar(blowup),
        i_ext=i_ext,
        jump_ts=_input_jumps(i_ext, t0, t1, dtype),
    )
    n_save = n_default if ts is None else int(np.shape(ts)[0])
    config = _SolveConfig(
        model,
        solver,
        int(max_steps),
        n_default,
        _lane_block(n_save, t0, t1),
    )
    if _fast_path_applies(solver, i_ext, inputs, adjoint):
        solve = _solve_fast if _reverse_mode(inputs, adjoint) else _solve_forward
        t, ys, status, n_steps, bad = solve(config, inputs)
    else:
        t, ys, status, n_steps = _solve_diffrax(config, inputs, adjoint or _default_adjoint(inputs))
        bad = status != RESULTS.successful
    res = MeanFieldResult(
        t=t,
        r=ys.r,
        v=ys.v,
        w=ys.w,
        s=ys.s,
        status=status,
        n_steps=n_steps,
        model=model,
        x=getattr(ys, "x", None),
    )
    return (
        _maybe_throw(
            res,
            f"solve_meanfield ({model})",
            "try looser rtol/atol, a larger max_steps or a stiff solver (diffrax.Kvaerno5)",
            bad,
        )
        if throw
        else res
    )


_TSIT5 = diffrax.Tsit5()


def _scalar(x):
    return x if isinstance(x, jax.core.Tracer) else float(x)


def _default_count(t0, t1) -> int:
    return int(max(2, round((float(t1) - float(t0)) / 0.1) + 1))


class _SolveConfig(NamedTuple):
    """What one compiled solve depends on besides array values (hashable: a jit cache key)."""

    model: str
    solver: diffrax.AbstractSolver
    max_steps: int
    n_default: int | None  # default save grid: this many points over [t0, t1]
    lane_block: int  # grid points saved per iteration by each lane of `_integrate_lanes`


class _SolveInputs(NamedTuple):
    """The array inputs of a solve (what its derivatives are taken with respect to); a
    NamedTuple, which builds and flattens several times faster than a Module, once per call."""

    params: Params
    y0: MeanFieldState | None
    ts: jax.Array | None
    t0: jax.Array
    t1: jax.Array
    rtol: jax.Array
    atol: jax.Array
    dt0: jax.Array | None
    blowup: jax.Array | None
    i_ext: StepInput | None
    jump_ts: jax.Array | None = None  # an input's jumps and kinks (StepInput's come from it)


def _input_jumps(i_ext, t0, t1, dtype) -> jax.Array | None:
    """The jump and kink times the solver steps to, for inputs other than `StepInput` (whose
    possibly traced switch times the controller reads from the input itself)."""
    t0_, t1_ = _concrete_float("t0", t0), _concrete_float("t1", t1)
    if isinstance(i_ext, StepInput) or t0_ is None or t1_ is None:
        return None
    times = jump_times(i_ext, t0_, t1_)
    return None if times is None or times.size == 0 else jnp.asarray(times, dtype)


def _pytree_input(i_ext) -> bool:
    """An input whose every leaf is an array (an `jaxmf.inputs.Input`): it can be an argument
    of the compiled solve; a plain function may close over tracers."""
    return isinstance(i_ext, eqx.Module) and all(eqx.is_array(x) for x in jax.tree.leaves(i_ext))


def _fast_path_applies(solver, i_ext, inputs: _SolveInputs, adjoint=None) -> bool:
    """The single-loop solve replays explicit Runge-Kutta steps; implicit solvers (whose root
    finders take their tolerances from the controller inside diffeqsolve), arbitrary input
    callables (which may close over tracers), adjoints other than forward mode, and vmapped
    calls with another solver than Tsit5 or with an input go to diffeqsolve."""
    if not isinstance(solver, diffrax.AbstractERK) or not (i_ext is None or _pytree_input(i_ext)):
        return False
    try:
        hash(solver)
    except TypeError:
        return False
    leaves = jax.tree.leaves(inputs)
    if not _reverse_mode(inputs, adjoint):
        # Forward mode differentiates the loop itself (jvp of a `lax.while_loop`: the derivative
        # of the same discrete steps that diffrax.ForwardMode differentiates), also batched.
        return adjoint is None or isinstance(adjoint, diffrax.ForwardMode)
    if adjoint is not None:
        return False
    # Vmapped, the loop runs `_integrate_lanes` (each point its own steps) for Tsit5 without an
    # input; otherwise diffeqsolve is the faster of the two under vmap (its loops are built for
    # batched predicates).
    return not any(_batched(x) for x in leaves) or (type(solver) is diffrax.Tsit5 and i_ext is None)


def _reverse_mode(inputs: _SolveInputs, adjoint) -> bool:
    """Whether a solve is differentiated (if at all) in reverse mode: no forward-mode tangent
    among its inputs and no `diffrax.ForwardMode` asked for."""
    if isinstance(adjoint, diffrax.ForwardMode):
        return False
    return not any(isinstance(x, jax.interpreters.ad.JVPTracer) for x in jax.tree.leaves(inputs))


def _batched(x) -> bool:
    # jax exposes no public BatchTracer class; its name is stable across versions.
    return isinstance(x, jax.core.Tracer) and any(
        cls.__name__ == "BatchTracer" for cls in type(x).__mro__
    )


def _prepare(config: _SolveConfig, inputs: _SolveInputs):
    """(term, solver, controller, t0, t1, dt0, y0, args, ts) of a solve, as diffeqsolve gets
    them."""
    params = inputs.params
    dtype = params.eta_bar.dtype
    cast = lambda x: None if x is None else jnp.asarray(x, dtype)
    t0, t1, dt0 = cast(inputs.t0), cast(inputs.t1), cast(inputs.dt0)
    ts = inputs.ts
    if ts is None:
        ts = jnp.linspace(t0, t1, config.n_default, dtype=dtype)
    y0: MeanFieldState | MeanFieldRiseState | None = inputs.y0
    if y0 is None:
        y0 = MeanFieldState(*(jnp.zeros((params.n_populations,), dtype) for _ in range(4)))
        if params.tau_r is not None:
            y0 = MeanFieldRiseState(*y0, jnp.zeros((params.n_populations,), dtype))
    controller = diffrax.PIDController(rtol=cast(inputs.rtol), atol=cast(inputs.atol))
    if isinstance(inputs.i_ext, StepInput):
        controller = diffrax.ClipStepSizeController(
            controller, jump_ts=inputs.i_ext.times.astype(dtype)
        )
    elif inputs.jump_ts is not None:
        controller = diffrax.ClipStepSizeController(controller, jump_ts=inputs.jump_ts)
    return (
        diffrax.ODETerm(MODELS[config.model]),
        config.solver,
        controller,
        t0,
        t1,
        dt0,
        y0,
        (params, inputs.i_ext),
        ts,
    )


def _finish(config: _SolveConfig, inputs: _SolveInputs, t, ys, status, event):
    """Slaved variables of the Nicola-Campbell model, and the status of the saved values."""
    params, i_ext = inputs.params, inputs.i_ext
    if config.model == "nicola_campbell":
        i_t = jax.vmap(lambda t: params.i_ext + _input(i_ext, t, params.i_ext.dtype))(t)
        rate, v_qss = jax.vmap(lambda w, s, i: quasi_steady_state(params, w, s, i))(ys.w, ys.s, i_t)
        ys = ys._replace(r=rate, v=v_qss)
    if event is not None:
        status = RESULTS.where(event, RESULTS.diverged, status)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(ys)]))
    status = RESULTS.where((status == RESULTS.successful) & ~finite, RESULTS.diverged, status)
    return ys, status


def _solve_diffrax(config: _SolveConfig, inputs: _SolveInputs, adjoint):
    """`diffrax.diffeqsolve` with `adjoint`: (t, ys, status, accepted steps)."""
    term, solver, controller, t0, t1, dt0, y0, args, ts = _prepare(config, inputs)
    event = (
        None
        if inputs.blowup is None
        else diffrax.Event(_Blowup(jnp.asarray(inputs.blowup, t0.dtype)))
    )
    sol = diffrax.diffeqsolve(
        term,
        solver,
        t0,
        t1,
        dt0,
        y0,
        args=args,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=controller,
        adjoint=adjoint,
        max_steps=config.max_steps,
        event=event,
        throw=False,
    )
    ys, status = _finish(
        config,
        inputs,
        sol.ts,
        sol.ys,
        from_diffrax(sol.result),
        None if event is None else jnp.any(sol.event_mask),
    )
    return sol.ts, ys, status, sol.stats["num_accepted_steps"]


def _clip_to_end(tprev, tnext, t1, t1_clip_floor, keep_step):
    """diffrax's rounding of a step end within 100 ULP of t1 to t1 (or halfway after a reject)."""
    return jnp.where(
        tnext > t1_clip_floor, jnp.where(keep_step, t1, tprev + 0.5 * (t1 - tprev)), tnext
    )


class _DiffraxStepper:
    """A diffrax solver's step and interpolant on the `MeanFieldState` pytree."""

    def __init__(self, solver, term, args):
        self.solver, self.term, self.args = solver, term, args

    def flat(self, y):
        return y

    def unflat(self, y):
        return y

    def init(self, t0, t1, y0):
        return self.solver.init(self.term, t0, t1, y0, self.args)

    def step(self, t0, t1, y0, state, made_jump):
        y1, y_error, dense, state, result = self.solver.step(
            self.term, t0, t1, y0, self.args, state, made_jump
        )
        return y1, y_error, dense, state, result

    def evaluate(self, t0, t1, dense, ts):
        interpolator = self.solver.interpolation_cls(t0=t0, t1=t1, **dense)
        return jax.vmap(interpolator.evaluate)(ts)


def _tsit5_powers() -> np.ndarray:
    """diffrax's Tsit5 interpolation weights b_i(theta) (Tsitouras 2011; diffrax's factored
    forms) in powers of theta: row i, column j is the coefficient of theta^(j+1) in b_i."""
    P = np.polynomial.polynomial
    t, t2 = [0.0, 1.0], [0.0, 0.0, 1.0]
    lin = lambda r: [-r, 1.0]
    quad = lambda p, q: [q, p, 1.0]
    forms = [
        (
            -1.0530884977290216,
            [t, lin(1.3299890189751412), quad(-1.4364028541716351, 0.7139816917074209)],
        ),
        (0.1017, [t2, quad(-2.1966568338249754, 1.2949852507374631)]),
        (2.490627285651252793, [t2, quad(-2.38535645472061657, 1.57803468208092486)]),
        (-16.54810288924490272, [t2, lin(1.21712927295533244), lin(0.61620406037800089)]),
        (47.37952196281928122, [t2, lin(1.203071208372362603), lin(0.658047292653547382)]),
        (-34.87065786149660974, [t2, lin(1.2), lin(0.666666666666666667)]),
        (2.5, [t2, lin(1.0), lin(0.6)]),
    ]
    rows = []
    for scale, factors in forms:
        poly = np.array([scale])
        for f in factors:
            poly = P.polymul(poly, f)
        rows.append(np.pad(poly, (0, 5 - poly.size))[1:5])
    return np.array(rows)


_TSIT5_POWERS = _tsit5_powers()


class _Tsit5Stepper(_DiffraxStepper):
    """diffrax's Tsit5 step written out on the flattened state: its tableau, stage times,
    first-same-as-last reuse and interpolant. diffrax runs the seven stages in a loop, which on
    CPU costs more than the arithmetic of this small system. Each stage is a short sum of
    scalar-times-array terms, which XLA fuses with the vector field (a tableau dot is a kernel
    of its own, and under vmap a batched dot costing ~8x the step's arithmetic). The steps
    agree with diffrax's to rounding; like any change of rounding (vmap, another compiler
    fusion, a 1e-15 change of a parameter), that can move the adaptive step sequence, and the
    solution, within its tolerance."""

    def __init__(self, solver, term, args, dtype):
        super().__init__(solver, term, args)
        tableau = diffrax.Tsit5.tableau
        self.a_rows = [[float(x) for x in row] for row in tableau.a_lower]
        self.b_err = [float(x) for x in tableau.b_error]
        self.c = [float(tableau.c1), *map(float, tableau.c)]
        self.n = tableau.num_stages
        self.state_type = MeanFieldState if args[0].tau_r is None else MeanFieldRiseState

    def flat(self, y):
        return jnp.concatenate(y, axis=-1)

    def unflat(self, x):
        return self.state_type(*jnp.split(x, len(self.state_type._fields), axis=-1))

    def f(self, t, x):
        return self.flat(self.term.vf(t, self.unflat(x), self.args))

    def init(self, t0, t1, y0):
        return self.f(t0, y0)

    @staticmethod
    def _combine(weights, ks):
        terms = [w * k for w, k in zip(weights, ks) if w != 0]
        return functools.reduce(lambda x, y: x + y, terms)

    def step(self, t0, t1, y0, f0, made_jump):
        if made_jump is not False:
            f0 = jnp.where(made_jump, self.f(t0, y0), f0)
        dt = t1 - t0
        ks = [f0 * dt]
        f1, y1 = f0, y0
        for i in range(1, self.n):
            c = self.c[i]
            y1 = y0 + self._combine(self.a_rows[i - 1], ks)
            f1 = self.f(t1 if c == 1 else t0 + c * dt, y1)
            ks.append(f1 * dt)
        y_error = self._combine(self.b_err, ks)
        return y1, y_error, self.dense(y0, ks), f1, diffrax.RESULTS.successful

    @staticmethod
    def dense(y0, ks):
        """The step's interpolant as y0 + sum_j c_j theta^(j+1), j = 0..3 (c: 4 rows)."""
        c = [
            functools.reduce(lambda x, y: x + y, [float(w) * k for w, k in zip(col, ks) if w != 0])
            for col in _TSIT5_POWERS.T
        ]
        return dict(y0=y0, c=jnp.stack(c))

    def evaluate(self, t0, t1, dense, ts):
        # Horner in theta: 4 multiply-adds per saved value (diffrax's form, seven weight
        # polynomials times seven stages, costs ~5x that at every grid point).
        same = t0 == t1
        t = (jnp.where(same, 0, ts - t0) / jnp.where(same, 1, t1 - t0))[:, None]
        c = dense["c"]
        return dense["y0"] + t * (c[0] + t * (c[1] + t * (c[2] + t * c[3])))


def _packing(tree):
    """(pack, unpack) between `tree` and one vector per leaf dtype: a loop whose state is a few
    vectors updates each with one kernel, where a pytree of scalars takes a kernel per leaf."""
    leaves, treedef = jax.tree.flatten(tree)
    dtypes = sorted({jnp.result_type(x) for x in leaves}, key=str)
    shapes = [jnp.shape(x) for x in leaves]
    sizes = [math.prod(s) for s in shapes]

    def pack(t):
        xs = jax.tree.leaves(t)
        return tuple(
            jnp.concatenate([jnp.ravel(x) for x in xs if jnp.result_type(x) == d]) for d in dtypes
        )

    def unpack(vectors):
        at = {d: 0 for d in dtypes}
        out = []
        for x, shape, size in zip(leaves, shapes, sizes):
            d = jnp.result_type(x)
            v = vectors[dtypes.index(d)]
            out.append(v[at[d] : at[d] + size].reshape(shape))
            at[d] += size
        return jax.tree.unflatten(treedef, out)

    return pack, unpack


def _integrate(config: _SolveConfig, inputs: _SolveInputs):
    """diffrax's adaptive step loop with its solver and controller (the same steps, step-size
    decisions and dense interpolation as `diffeqsolve`), saving `ts` from the steps'
    interpolants after the loop: (t, ys, diffrax result, blowup hit or None, accepted steps).
    Not reverse-differentiable by itself (a `lax.while_loop`); `_solve_fast` supplies the
    reverse mode.

    An iteration takes one step and keeps the accepted step's interpolant as a row of a table
    when the step reaches the first grid point no row has been kept for; the grid is evaluated
    from the table in one vectorised pass at the end. On CPU the loop is launch-bound (a few
    dozen tiny kernels per step), so interpolating inside it costs ~40% of a solve. Each kept
    row moves the counter past one grid point, so the table needs at most min(len(ts),
    max_steps) rows (for Tsit5 a row is 2 + 5 x 4P numbers, five saved points' worth), and a
    step containing grid points is always kept: the counter never passes a point before the
    step reaching it has been taken."""
    term, solver, controller, t0, t1, dt0, y0, args, ts = _prepare(config, inputs)
    dtype = t0.dtype
    error_order = solver.error_order(term)
    if dt0 is None:
        # diffeqsolve hands the controller its term wrapped (a `WrapTerm`, not an `ODETerm`),
        # for which PIDController's initial-step heuristic returns 0.01: the same first step.
        dt0 = jnp.asarray(0.01, dtype)
    tnext, controller_state = controller.init(term, t0, t1, y0, dt0, args, solver.func, error_order)
    tnext = jnp.minimum(tnext, t1)
    stepper = (
        _Tsit5Stepper(solver, term, args, dtype)
        if type(solver) is diffrax.Tsit5
        else _DiffraxStepper(solver, term, args)
    )
    y0 = stepper.flat(y0)
    solver_state = stepper.init(t0, tnext, y0)
    t1_clip_floor = t1
    for _ in range(100):
        t1_clip_floor = jnp.nextafter(t1_clip_floor, jnp.asarray(-jnp.inf, dtype))
    n_save = ts.shape[0]
    ts_pad = jnp.concatenate([ts, jnp.full((1,), jnp.inf, dtype)])
    _, _, dense0, _, _ = eqx.filter_eval_shape(stepper.step, t0, tnext, y0, solver_state, False)
    # One row per kept step: its start, its end and its interpolant, packed into one vector so
    # that keeping a step is a single in-place write. At most min(len(ts), max_steps) steps are
    # kept; the last row takes the writes of steps not kept.
    row0 = (t0, t0, jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), dense0))
    flat_row0, unpack = jax.flatten_util.ravel_pytree(row0)
    n_rows = min(n_save, config.max_steps) + 1
    table = jnp.zeros((n_rows, flat_row0.shape[0]), flat_row0.dtype)
    jumps = isinstance(controller, diffrax.ClipStepSizeController)
    bound = None if inputs.blowup is None else jnp.asarray(inputs.blowup, dtype)
    ok = diffrax.RESULTS.successful
    zero = jnp.zeros((), jnp.int32)

    def cond(c):
        tprev, result, n_steps, event = c["tprev"], c["result"], c["n_steps"], c["event"]
        return (tprev < t1) & (result == ok) & (n_steps < config.max_steps) & ~event

    def body(c):
        tprev, tnext, y = c["tprev"], c["tnext"], c["y"]
        solver_state, controller_state, made_jump = c["solver"], c["controller"], c["jump"]
        y1, y_error, dense_info, solver_state1, solver_result = stepper.step(
            tprev, tnext, y, solver_state, made_jump if jumps else False
        )
        y_error = jax.tree.map(lambda x: jnp.where(jnp.isnan(x), jnp.inf, x), y_error)
        keep, tprev1, tnext1, made_jump1, controller_state1, controller_result = (
            controller.adapt_step_size(
                tprev, tnext, y, y1, args, y_error, error_order, controller_state
            )
        )
        tprev1 = jnp.minimum(tprev1, t1)
        tnext1 = _clip_to_end(tprev1, tnext1, t1, t1_clip_floor, keep)
        solver_result = diffrax.RESULTS.where(keep, solver_result, ok)
        result = c["result"]
        result1 = diffrax.RESULTS.where(result == ok, solver_result, result)
        result1 = diffrax.RESULTS.where(result1 == ok, controller_result, result1)
        take = lambda a, b: jnp.where(keep, a, b)
        index = c["index"]
        kept = keep & (ts_pad[index] <= tnext)
        row = jax.flatten_util.ravel_pytree((tprev, tnext, dense_info))[0]
        out = dict(
            tprev=tprev1,
            tnext=tnext1,
            y=jax.tree.map(take, y1, y),
            solver=jax.tree.map(take, solver_state1, solver_state),
            controller=controller_state1,
            jump=take(made_jump1, made_jump) if jumps else made_jump,
            result=result1,
            n_steps=c["n_steps"] + 1,
            n_accepted=c["n_accepted"] + keep.astype(jnp.int32),
            index=index + kept.astype(jnp.int32),
            # Row `index` is free until a step is kept there: writing it every step is harmless.
            table=jax.lax.dynamic_update_slice_in_dim(c["table"], row[None], index, 0),
            event=c["event"],
        )
        if bound is not None:
            out["event"] = jnp.max(jnp.abs(jnp.stack(stepper.unflat(out["y"])))) > bound
        return out

    init = dict(
        tprev=t0,
        tnext=tnext,
        y=y0,
        solver=solver_state,
        controller=controller_state,
        jump=jnp.asarray(False) if jumps else False,
        result=ok,
        n_steps=zero,
        n_accepted=zero,
        index=zero,
        event=jnp.asarray(False),
    )
    if not jumps:
        del init["jump"]
    pack, unpack_state = _packing(init)
    step_body = _with_jump(body, jumps)

    def packed_body(c):
        out = step_body(dict(unpack_state(c[0]), table=c[1]))
        table = out.pop("table")
        return pack(out), table

    packed = jax.lax.while_loop(
        lambda c: cond(unpack_state(c[0])), packed_body, (pack(init), table)
    )
    final = dict(unpack_state(packed[0]), table=packed[1])
    result = diffrax.RESULTS.where(
        (final["tprev"] < t1) & (final["result"] == ok) & ~final["event"],
        diffrax.RESULTS.max_steps_reached,
        final["result"],
    )
    kept = final["index"]
    rows = jax.vmap(unpack)(final["table"])
    ends = jnp.where(jnp.arange(n_rows, dtype=jnp.int32) < kept, rows[1], jnp.inf)
    # The first kept step ending at or after each save time contains it.
    which = jnp.searchsorted(ends, ts, side="left").astype(jnp.int32)
    saved = which < kept
    row_t0, row_t1, dense = jax.tree.map(lambda x: x[which], rows)
    ys = jax.vmap(
        lambda a, b, d, s: jax.tree.map(lambda x: x[0], stepper.evaluate(a, b, d, s[None]))
    )(row_t0, row_t1, dense, ts)
    t = jnp.where(saved, ts, jnp.inf)
    ys = jax.tree.map(
        lambda b: jnp.where(saved.reshape(-1, *([1] * (b.ndim - 1))), b, jnp.inf),
        stepper.unflat(ys),
    )
    return t, ys, result, (final["event"] if bound is not None else None), final["n_accepted"]


def _lanes(backend: str, n: int) -> int:
    """Lanes of `_integrate_lanes`: every lane steps each iteration, so on a CPU a few hundred
    (each iteration's fixed cost spread, yet many points per lane so that refilling keeps the
    lanes busy), on an accelerator thousands."""
    return max(1, min(n, 256 if backend == "cpu" else 8192))


def _lane_block(n_save: int, t0, t1) -> int:
    """Grid points a lane saves per iteration: about the points in one time unit (these solves
    step about one time unit), a power of two in [1, 8]; a longer step holds the lane until
    its points are saved."""
    t0_, t1_ = _concrete_float("t0", t0), _concrete_float("t1", t1)
    if t0_ is None or t1_ is None:
        return 4
    density = n_save / max(t1_ - t0_, 1e-300)
    return int(min(8, max(1, 2 ** math.ceil(math.log2(max(density, 1.0))))))


def _integrate_lanes(
    config: _SolveConfig,
    inputs: _SolveInputs,
    batched,
    n: int,
    lanes: int,
    block: int,
    refill_every: int = 16,
):
    """Many solves at once, each with its own steps: `lanes` solves advance together, one step
    per iteration, and every `refill_every` iterations the lanes whose solve has finished take
    the next points. A vmapped adaptive solve runs every point for as many iterations as the
    slowest one needs (finished points paying for masked steps); this loop runs about
    sum(steps) / lanes iterations (and up to `refill_every` idle ones per point).

    `batched` flags the leaves of `inputs.params` that carry a leading axis of `n` points (the
    others are shared by all points); `inputs.y0` is None or batched. Each lane replays
    `_integrate`'s step loop (diffrax's Tsit5 tableau and PID controller, the same saving in
    blocks), so a point's values do not depend on its lane or on the other points. A lane
    starting a point spends one iteration evaluating the vector field at its start (a step of
    length zero gives it through the first-same-as-last stage). Returns (t, ys, diffrax result,
    blowup hit or None, accepted steps), each with the batch axis."""
    params_b = inputs.params
    dtype = params_b.eta_bar.dtype
    cast = lambda x: jnp.asarray(x, dtype)
    t0, t1 = cast(inputs.t0), cast(inputs.t1)
    ts = (
        jnp.linspace(t0, t1, config.n_default, dtype=dtype)
        if inputs.ts is None
        else cast(inputs.ts)
    )
    p = params_b.eta_bar.shape[-1]
    term = diffrax.ODETerm(MODELS[config.model])
    solver = config.solver
    controller = diffrax.PIDController(rtol=cast(inputs.rtol), atol=cast(inputs.atol))
    error_order = solver.error_order(term)
    # As in `_integrate`: diffeqsolve's first step is 0.01 unless dt0 is given.
    dt0 = jnp.asarray(0.01, dtype) if inputs.dt0 is None else cast(inputs.dt0)
    axes = jax.tree.map(lambda b: 0 if b else None, batched)
    first = jax.tree.map(lambda x, b: x[0] if b else x, params_b, batched)
    zeros = MeanFieldState(*(jnp.zeros((p,), dtype) for _ in range(4)))
    tnext0, controller0 = controller.init(
        term, t0, t1, zeros, dt0, (first, None), solver.func, error_order
    )
    tnext0 = jnp.minimum(tnext0, t1)
    t1_clip_floor = t1
    for _ in range(100):
        t1_clip_floor = jnp.nextafter(t1_clip_floor, jnp.asarray(-jnp.inf, dtype))
    n_save = ts.shape[0]
    ts_pad = jnp.concatenate([ts, jnp.full((block,), jnp.inf, dtype)])
    bound = None if inputs.blowup is None else cast(inputs.blowup)
    ok = diffrax.RESULTS.successful
    y0_b = (
        jnp.zeros((n, 4 * p), dtype)
        if inputs.y0 is None
        else jnp.concatenate([cast(x).reshape(n, p) for x in inputs.y0], axis=-1)
    )

    def stepper(q):
        return _Tsit5Stepper(solver, term, (q, None), dtype)

    _, _, dense0, _, _ = eqx.filter_eval_shape(
        stepper(first).step, t0, tnext0, y0_b[0], y0_b[0], False
    )
    dense0 = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), dense0)

    def start(point, y0):
        return dict(
            point=point,
            tprev=t0,
            tnext=tnext0,
            y=y0,
            f0=jnp.zeros_like(y0),
            controller=controller0,
            result=ok,
            n_steps=jnp.zeros((), jnp.int32),
            n_accepted=jnp.zeros((), jnp.int32),
            index=jnp.zeros((), jnp.int32),
            last=(t0, jnp.full((), -jnp.inf, dtype), dense0),
            event=jnp.asarray(False),
            fresh=jnp.asarray(True),
        )

    def running(c):
        return (c["tprev"] < t1) & (c["result"] == ok) & ~c["event"]

    def stepping(c):
        return (c["point"] < n) & running(c) & (c["n_steps"] < config.max_steps)

    def save(q, c):
        last_t0, last_t1, last_dense = c["last"]
        t_block = jax.lax.dynamic_slice_in_dim(ts_pad, c["index"], block)
        y_block = stepper(q).evaluate(last_t0, last_t1, last_dense, t_block)
        return y_block, jnp.sum(t_block <= last_t1, dtype=jnp.int32)

    def advance(q, c):
        tprev, tnext, y, f0, fresh = c["tprev"], c["tnext"], c["y"], c["f0"], c["fresh"]
        go = stepping(c) & ~(ts_pad[c["index"]] <= c["last"][1]) & ~fresh
        y1, y_error, dense_info, f1, _ = stepper(q).step(
            tprev, jnp.where(fresh, tprev, tnext), y, f0, False
        )
        y_error = jnp.where(jnp.isnan(y_error), jnp.inf, y_error)
        keep, tprev1, tnext1, _, controller1, controller_result = controller.adapt_step_size(
            tprev, tnext, y, y1, None, y_error, error_order, c["controller"]
        )
        tprev1 = jnp.minimum(tprev1, t1)
        tnext1 = _clip_to_end(tprev1, tnext1, t1, t1_clip_floor, keep)
        result = c["result"]
        result1 = diffrax.RESULTS.where(result == ok, controller_result, result)
        accept = go & keep
        take = lambda a, b: jnp.where(accept, a, b)
        step = lambda a, b: jnp.where(go, a, b)
        out = dict(
            c,
            tprev=step(tprev1, tprev),
            tnext=step(tnext1, tnext),
            y=take(y1, y),
            f0=jnp.where(accept | fresh, f1, f0),
            controller=jax.tree.map(step, controller1, c["controller"]),
            result=diffrax.RESULTS.where(go, result1, result),
            n_steps=c["n_steps"] + go.astype(jnp.int32),
            n_accepted=c["n_accepted"] + accept.astype(jnp.int32),
            last=jax.tree.map(take, (tprev, tnext, dense_info), c["last"]),
            fresh=jnp.asarray(False),
        )
        if bound is not None:
            out["event"] = step(jnp.max(jnp.abs(y1)) > bound, c["event"])
        return out

    def per_lane(mask, a, b):
        return jnp.where(mask.reshape(-1, *([1] * (a.ndim - 1))), a, b)

    def take_points(idx):
        safe = jnp.minimum(idx, n - 1)
        q = jax.tree.map(lambda x, b: x[safe] if b else x, params_b, batched)
        return q, y0_b[safe]

    def pick(mask, new, old):
        return jax.tree.map(
            lambda a, b, flag: per_lane(mask, a, b) if flag else b, new, old, batched
        )

    n_lanes = min(lanes, n)
    points0 = jnp.arange(n_lanes, dtype=jnp.int32)
    q0, y00 = take_points(points0)
    record = dict(
        result=jax.tree.map(lambda x: jnp.zeros((n, *x.shape), x.dtype), ok),
        n_accepted=jnp.zeros((n,), jnp.int32),
        index=jnp.zeros((n,), jnp.int32),
        event=jnp.zeros((n,), bool),
        unfinished=jnp.zeros((n,), bool),
    )
    init = dict(
        lanes=jax.vmap(start)(points0, y00),
        params=q0,
        queue=jnp.asarray(n_lanes, jnp.int32),
        buffer=jnp.zeros((n, n_save + block, 4 * p), dtype),
        record=record,
    )

    def step_all(_, c):
        lane, q = c["lanes"], c["params"]
        y_block, count = jax.vmap(save, in_axes=(axes, 0))(q, lane)
        rows = lane["index"][:, None] + jnp.arange(block, dtype=jnp.int32)
        # Rows from `index` on are not saved yet: writing the whole block there is harmless.
        buffer = c["buffer"].at[lane["point"][:, None], rows].set(y_block, mode="drop")
        lane = jax.vmap(advance, in_axes=(axes, 0))(q, dict(lane, index=lane["index"] + count))
        return dict(c, lanes=lane, buffer=buffer)

    def refill(c):
        lane, q = c["lanes"], c["params"]
        pending = ts_pad[lane["index"]] <= lane["last"][1]
        done = (lane["point"] < n) & ~jax.vmap(stepping)(lane) & ~pending
        at = jnp.where(done, lane["point"], n)
        put = lambda store, x: store.at[at].set(x, mode="drop")
        rec = c["record"]
        record = dict(
            result=jax.tree.map(put, rec["result"], lane["result"]),
            n_accepted=put(rec["n_accepted"], lane["n_accepted"]),
            index=put(rec["index"], lane["index"]),
            event=put(rec["event"], lane["event"]),
            unfinished=put(rec["unfinished"], jax.vmap(running)(lane)),
        )
        nxt = c["queue"] + jnp.cumsum(done, dtype=jnp.int32) - 1
        nxt = jnp.where(done, jnp.minimum(nxt, n), lane["point"])
        load = done & (nxt < n)
        q_new, y_new = take_points(nxt)
        lane = jax.tree.map(functools.partial(per_lane, load), jax.vmap(start)(nxt, y_new), lane)
        lane["point"] = nxt
        return dict(
            c,
            lanes=lane,
            params=pick(load, q_new, q),
            queue=c["queue"] + jnp.sum(done, dtype=jnp.int32),
            record=record,
        )

    def body(c):
        return refill(jax.lax.fori_loop(0, refill_every, step_all, c))

    final = jax.lax.while_loop(lambda c: jnp.any(c["lanes"]["point"] < n), body, init)
    rec = final["record"]
    result = jax.vmap(
        lambda unfinished, r: diffrax.RESULTS.where(
            unfinished, diffrax.RESULTS.max_steps_reached, r
        )
    )(rec["unfinished"], rec["result"])
    saved = jnp.arange(n_save, dtype=jnp.int32)[None, :] < rec["index"][:, None]
    t = jnp.where(saved, ts, jnp.inf)
    flat = jnp.where(saved[..., None], final["buffer"][:, :n_save], jnp.inf)
    ys = MeanFieldState(*jnp.split(flat, 4, axis=-1))
    return t, ys, result, (rec["event"] if bound is not None else None), rec["n_accepted"]


def _with_jump(body, jumps: bool):
    """`body` on a carry without the static `jump` entry (False) when the controller never
    jumps."""
    if jumps:
        return body

    def wrapped(c):
        out = body({**c, "jump": False})
        del out["jump"]
        return out

    return wrapped


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _fast_core(config: _SolveConfig, inputs: _SolveInputs):
    # Arrays throughout: custom_vmap batches array arguments only.
    inputs = jax.tree.map(jnp.asarray, inputs)
    return _batchable_core(config)(inputs)


def _single_core(config: _SolveConfig, inputs: _SolveInputs):
    t, ys, result, event, n_accepted = _integrate(config, inputs)
    ys, status = _finish(config, inputs, t, ys, from_diffrax(result), event)
    return t, ys, status, n_accepted


@functools.cache
def _batchable_core(config: _SolveConfig):
    """`_single_core` for `config`, which under vmap runs `_integrate_lanes` (each point its own
    steps) when only the parameters and the initial state are batched, and the lockstep vmap
    of the single loop otherwise."""

    @jax.custom_batching.custom_vmap
    def core(inputs):
        return _single_core(config, inputs)

    @core.def_vmap
    def rule(axis_size, in_batched, inputs):
        (in_batched,) = in_batched
        shared = eqx.tree_at(lambda i: (i.params, i.y0), in_batched, (None, None), is_leaf=_none)
        if (
            type(config.solver) is not diffrax.Tsit5
            or inputs.i_ext is not None
            or any(jax.tree.leaves(shared))
        ):
            axes = jax.tree.map(lambda b: 0 if b else None, in_batched)
            out = jax.vmap(functools.partial(_single_core, config), in_axes=(axes,))(inputs)
            return out, jax.tree.map(lambda _: True, out)
        widen = lambda x, b: x if b else jnp.broadcast_to(x, (axis_size, *jnp.shape(x)))
        if inputs.y0 is not None:
            inputs = eqx.tree_at(
                lambda i: i.y0, inputs, jax.tree.map(widen, inputs.y0, in_batched.y0)
            )
        lanes = _lanes(jax.default_backend(), axis_size)
        t, ys, result, event, n_accepted = _integrate_lanes(
            config, inputs, in_batched.params, axis_size, lanes, config.lane_block
        )
        p_axes = jax.tree.map(lambda b: 0 if b else None, in_batched.params)

        def finish(q, t, ys, result, event):
            one = eqx.tree_at(lambda i: i.params, inputs, q)
            return _finish(config, one, t, ys, from_diffrax(result), event)

        ys, status = jax.vmap(finish, in_axes=(p_axes, 0, 0, 0, 0))(
            inputs.params, t, ys, result, jnp.zeros(axis_size, bool) if event is None else event
        )
        out = (t, ys, status, n_accepted)
        return out, jax.tree.map(lambda _: True, out)

    return core


def _none(x) -> bool:
    return x is None


def _fast_core_fwd(config, inputs):
    return _fast_core(config, inputs), inputs


def _fast_core_bwd(config, inputs, cotangents):
    # The forward values are those of diffeqsolve, so its checkpointed adjoint (which solves
    # again, storing checkpoints) gives the derivative of this solve.
    _, vjp = jax.vjp(
        lambda x: _solve_diffrax(config, x, diffrax.RecursiveCheckpointAdjoint()), inputs
    )
    return vjp(cotangents)


_fast_core.defvjp(_fast_core_fwd, _fast_core_bwd)


@functools.partial(jax.jit, static_argnums=0)
def _solve_fast(config: _SolveConfig, inputs: _SolveInputs):
    """The single-loop solve, compiled once per (config, input shapes and dtypes), and its
    failure flag (checked on the host without further dispatches)."""
    t, ys, status, n_steps = _fast_core(config, inputs)
    return t, ys, status, n_steps, status != RESULTS.successful


@functools.partial(jax.jit, static_argnums=0)
def _solve_forward(config: _SolveConfig, inputs: _SolveInputs):
    """`_solve_fast` for forward-mode derivatives (jvp, jacfwd, diffrax.ForwardMode): the loop
    without the custom VJP (which jvp refuses) and, under vmap, in lockstep. Unlike diffeqsolve
    it has no run-time check of `ts` (an `equinox.error_if` host callback keeps a program out
    of JAX's persistent compilation cache)."""
    t, ys, status, n_steps = _single_core(config, jax.tree.map(jnp.asarray, inputs))
    return t, ys, status, n_steps, status != RESULTS.successful


class _Blowup(eqx.Module):
    """Event condition max|y| > bound; the bound is an array, so one compiled solve serves
    every bound."""

    bound: jax.Array

    def __call__(self, t, y, args, **kwargs):
        return jnp.max(jnp.abs(jnp.stack(y))) > self.bound


def _maybe_throw(res, what: str, advice: str, bad=None):
    """`raise_or_flag` on the rate: raise on a failed concrete status, fail at run time under
    tracing."""
    return raise_or_flag(res, "r", what, advice, bad)


class Equilibria(eqx.Module):
    """Equilibria of the exact mean field, padded to a fixed count K, from `meanfield_equilibria`.

    Attributes
    ----------
    r, v, w, s : jax.Array
        Shape (K, P). The equilibria; padding rows are NaN.
    eigenvalues : jax.Array
        Shape (K, 4P). Eigenvalues of the Jacobian at each equilibrium.
    stable : jax.Array
        Shape (K,). True where all eigenvalues have negative real parts.
    valid : jax.Array
        Shape (K,). True for the real entries, False for padding.
    residual : jax.Array
        Shape (K,). The max-norm of the vector field there.
    status : RESULTS
        successful; not_converged when a root's residual is above sqrt(eps) (scaled by the
        state's size); out_of_domain when a root lies above the searched rate range (one
        population: the residual is still negative at r_range[1]).
    count : int
        The number of equilibria (an array for a batch or a traced result).
    message : str
        The status in words (empty when successful).
    dtype : numpy.dtype
        The precision of the computation.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.meanfield import meanfield_equilibria
    >>> eq = meanfield_equilibria(presets.chen_campbell_2022(eta_bar=0.25))
    >>> eq.r.shape, eq.count, bool(eq.valid[0]), bool(eq.valid[1])
    ((8, 1), 1, True, False)
    """

    r: jax.Array
    v: jax.Array
    w: jax.Array
    s: jax.Array
    eigenvalues: jax.Array
    stable: jax.Array
    valid: jax.Array
    residual: jax.Array
    status: RESULTS

    @property
    def count(self):
        """Number of equilibria (an int; an array for a batch or a traced result)."""
        valid = self.valid
        if isinstance(valid, jax.core.Tracer):
            return jnp.sum(valid, axis=-1)
        total = np.sum(np.asarray(valid), axis=-1)
        return int(total) if np.ndim(total) == 0 else total

    @property
    def message(self) -> str:
        return status_message(self.status)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.r.dtype)

    def __repr__(self) -> str:
        fields = ("r", "v", "w", "s", "stable", "residual", "status")
        if isinstance(self.valid, jax.core.Tracer) or np.ndim(self.valid) != 1:
            return module_repr(self, fields)
        keep = np.asarray(self.valid)  # the padding rows are NaN: show the equilibria only
        values = {name: np.asarray(getattr(self, name))[keep] for name in fields[:-1]}
        return module_repr(
            self, fields, values=values, extra={"count": int(keep.sum()), "dtype": str(self.dtype)}
        )


def _equilibrium_from_rate(params: Params, r):
    """(v*, w*, s*) of one population from its rate (model.md section 3); r' = 0 gives v* for
    every population from its own rate, with gap junctions too (their leak G joins alpha)."""
    s = params.tau_s * params.s_jump * r
    gs, _ = synaptic_drive(params, s)
    leak = params.alpha + gs
    if params.g_el is not None:
        leak = leak + gap_junction_drive(params, jnp.zeros_like(r))[0]
    v = leak / 2 - effective_half_width(params) / (2 * jnp.pi * r)
    w = params.b * v + params.w_jump / params.a * r
    return v, w, s


def _scalar_residual(params: Params, r):
    """pi r - Re sqrt(eta_bar + i Delta - c(r)) for one population (zero at an equilibrium)."""
    v, w, s = _equilibrium_from_rate(params, r)
    gs, gse = synaptic_drive(params, s)
    if params.g_el is None:
        c = w - gse + (params.alpha + gs) ** 2 / 4 - params.i_ext
    else:
        G, G_vbar = gap_junction_drive(params, v)  # one population: vbar = v
        c = w - gse - G_vbar + (params.alpha + gs + G) ** 2 / 4 - params.i_ext
    width = effective_half_width(params)
    return jnp.pi * r - jnp.real(jnp.sqrt(jax.lax.complex(params.eta_bar - c, width)))


def _equilibrium_state(params: Params, r, v, w, s):
    """The state (with x* = tau_r s_jump r* for second-order synapses) of an equilibrium."""
    if params.tau_r is None:
        return MeanFieldState(r, v, w, s)
    return MeanFieldRiseState(r, v, w, s, params.tau_r * params.s_jump * r)


def _flat(y):
    return jnp.concatenate(y)


def _unflat(x, params: Params):
    if params.tau_r is None:
        return MeanFieldState(*jnp.split(x, 4))
    return MeanFieldRiseState(*jnp.split(x, 5))


def meanfield_equilibria(
    params: Params,
    *,
    max_equilibria: int = 8,
    r_range=(1e-10, 10.0),
    grid: int = 4000,
    dtype=None,
    throw: bool = True,
) -> Equilibria:
    """All equilibria of the exact mean field, refined by Newton.

    One population: the scalar root problem in r (model.md section 3) is scanned on a log grid
    over `r_range` for sign changes, each bracket is bisected, and the full 4-D system is
    polished with optimistix' Newton. The residual's extrema (sign changes of its derivative,
    bisected) join the grid, so that two roots closer than its spacing are both found, and an
    extremum where the residual is zero to rounding is a double root: the equilibrium exactly
    at a fold, which has no sign change (its rate is the extremum's; Newton, singular there,
    is skipped). With P > 1 populations there is no scalar reduction:
    Newton on the 4P-dimensional system runs from a log grid of rates per population (16^P
    starts for P <= 3, a diagonal of 64 beyond), and the distinct converged points are kept.
    This finds the equilibria in practice but, unlike the one-population bracketing, cannot prove
    that none was missed. Jacobian eigenvalues come from jax.jacfwd; `stable` means all real
    parts < 0. Pure: works under jit, vmap (over params), grad and jacfwd; compiled once per
    (shapes, options) and reused. With a nonzero delay the equilibria are the same and
    `eigenvalues` are the 4P rightmost roots of the characteristic equation
    (`jaxmf.delay.delayed_stability`).

    Parameters
    ----------
    params : Params
        The model parameters; computed in their dtype (see `dtype`).
    max_equilibria : int
        Rows of the output (rows beyond the roots found are NaN).
    r_range : tuple of float
        (low, high) rates searched, 0 < low < high (a log grid needs low > 0).
    grid : int
        Grid points of the one-population scan.
    dtype : None or dtype
        None (the params' precision) or float32/float64; warns as `solve_meanfield` does.
    throw : bool
        Raise `NumericalError` (under jit: an `equinox.error_if` error) when the status is not
        successful (a root not converged, or one above r_range); with False the result comes
        back flagged.

    Returns
    -------
    Equilibria
        The equilibria with their eigenvalues and stability.

    Raises
    ------
    ParameterError
        When `max_equilibria`, `r_range` or `grid` is invalid.
    NumericalError
        When the status is not successful and `throw` is True.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.meanfield import meanfield_equilibria
    >>> eq = meanfield_equilibria(presets.chen_campbell_2022(rounded=True, w_jump=0.001))
    >>> eq.count, [round(r, 4) for r in eq.r[: eq.count, 0].tolist()], bool(eq.stable[0])
    (1, [0.1983], True)
    """
    params = check_params(params)
    if (
        isinstance(max_equilibria, bool)
        or not isinstance(max_equilibria, (int, np.integer))
        or max_equilibria < 1
    ):
        raise ParameterError("max_equilibria", f"must be an integer >= 1; got {max_equilibria!r}")
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 2:
        raise ParameterError("grid", f"must be an integer >= 2; got {grid!r}")
    try:
        lo, hi = (float(x) for x in r_range)
    except (TypeError, ValueError):
        raise ParameterError("r_range", f"must be two rates (low, high); got {r_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise ParameterError(
            "r_range",
            f"must satisfy 0 < low < high (finite; the scan is on a log "
            f"grid and an equilibrium has r > 0); got ({lo:g}, {hi:g})",
        )
    params = working_precision(params, dtype, "meanfield_equilibria")
    if params.n_populations > 1:
        res = _equilibria_multi_jit(
            params,
            max_equilibria=int(max_equilibria),
            r_range=(lo, hi),
            per_population=16 if params.n_populations <= 3 else 64,
        )
    else:
        res = _equilibria_jit(
            params, max_equilibria=int(max_equilibria), r_range=(lo, hi), grid=int(grid)
        )
    if uses_dde(params):
        res = delayed_stability(res, params)
    if not throw:
        return res
    return _maybe_throw(
        res, "meanfield_equilibria", "widen r_range, or inspect the equilibria found"
    )


def _broadcast_params(params: Params, n: int) -> Params:
    """`params` repeated along a new leading axis of length n: vmapped root finds then see
    batched parameters like their batched starts (optimistix' implicit derivative needs the
    parameters batched wherever the solution is)."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *jnp.shape(x))), params)


def _residual_ok(x, res, dtype):
    return res <= math.sqrt(float(jnp.finfo(dtype).eps)) * (1 + jnp.max(jnp.abs(x), axis=-1))


def _equilibria(params: Params, *, max_equilibria: int, r_range, grid: int) -> Equilibria:
    p1 = params
    dtype = params.eta_bar.dtype
    scalar = jax.vmap(lambda r: _scalar_residual(p1, r[None])[0])
    rs = jnp.logspace(np.log10(r_range[0]), np.log10(r_range[1]), grid, dtype=dtype)
    f = scalar(rs)
    # A tangency (double root, at a fold) has no sign change: the extrema of the residual are
    # found by bracketing its derivative, and one whose value is zero to rounding is a root.
    # They also join the grid, so that two roots closer than its spacing are both bracketed.
    residual = lambda r: _scalar_residual(p1, r[None])[0]
    slope = jax.vmap(jax.grad(residual))
    r_ext, has_ext = _bisect_changes(slope, rs, slope(rs), max_equilibria, strict=True)
    f_ext = scalar(r_ext)
    noise = 1e3 * jnp.finfo(dtype).eps * (jnp.pi * r_ext + jnp.abs(jnp.pi * r_ext - f_ext))
    tangent = has_ext & (jnp.abs(f_ext) <= noise)
    inf = jnp.asarray(jnp.inf, dtype)
    r_all = jnp.concatenate([rs, jnp.where(has_ext, r_ext, inf)])
    f_all = jnp.concatenate([f, jnp.where(has_ext, f_ext, jnp.nan)])
    order = jnp.argsort(r_all)
    r_sign, found_sign = _bisect_changes(scalar, r_all[order], f_all[order], max_equilibria)
    # Sign changes within the rounding band of a tangency (|F| <= noise, F ~ F'' dr^2 / 2 from
    # the double root) are that double root split by rounding.
    curvature = jnp.abs(jax.vmap(jax.grad(jax.grad(residual)))(r_ext))
    band = 4 * jnp.sqrt(2 * noise / jnp.where(curvature > 0, curvature, jnp.inf))
    split = jnp.any(
        tangent[None, :] & (jnp.abs(r_sign[:, None] - r_ext[None, :]) <= band[None, :]), axis=1
    )
    roots = jnp.concatenate(
        [jnp.where(found_sign & ~split, r_sign, inf), jnp.where(tangent, r_ext, inf)]
    )
    is_tangent = jnp.concatenate([jnp.zeros(max_equilibria, bool), tangent])
    keep = jnp.argsort(roots)[:max_equilibria]
    r0, found, is_tangent = roots[keep], jnp.isfinite(roots[keep]), is_tangent[keep]
    r0 = jnp.where(found, r0, rs[-1])

    def polish(r, p, double):
        v, w, s = _equilibrium_from_rate(p, r[None])
        x0 = _flat(_equilibrium_state(p, r[None], v, w, s))
        fn = lambda x, _: _flat(chen_campbell(0.0, _unflat(x, p), (p, None)))
        sol = optx.root_find(fn, optx.Newton(rtol=1e-13, atol=1e-14), x0, max_steps=50, throw=False)
        # At a tangency the Jacobian is singular: the rate from the bracketed extremum is exact.
        x = jnp.where((sol.result == optx.RESULTS.successful) & ~double, sol.value, x0)
        jac = jax.jacfwd(lambda x: fn(x, None))(x)
        eig = jnp.linalg.eigvals(jac)
        return x, eig, jnp.max(jnp.abs(fn(x, None)))

    x, eig, res = jax.vmap(polish)(r0, _broadcast_params(p1, max_equilibria), is_tangent)
    converged = _residual_ok(x, res, dtype)
    nan = jnp.nan
    x = jnp.where(found[:, None], x, nan)
    eig = jnp.where(found[:, None], eig, nan)
    y = jax.vmap(lambda xi: _unflat(xi, p1))(x)
    stable = found & jnp.all(jnp.real(eig) < 0, axis=-1)
    # The residual pi r - Re sqrt(.) grows like pi r at large r; still negative at the top of the
    # range, it crosses zero above it: a root the scan cannot see.
    above = f[-1] < 0
    status = RESULTS.where(
        jnp.any(found & ~converged),
        RESULTS.not_converged,
        RESULTS.where(above, RESULTS.out_of_domain, RESULTS.successful),
    )
    return Equilibria(
        r=y.r,
        v=y.v,
        w=y.w,
        s=y.s,
        eigenvalues=eig,
        stable=stable,
        valid=found,
        residual=jnp.where(found, res, nan),
        status=status,
    )


_equilibria_jit = jax.jit(_equilibria, static_argnames=("max_equilibria", "r_range", "grid"))


def _bisect_changes(fn, rs, values, count: int, strict: bool = False):
    """Roots of the vectorised scalar `fn` in the first `count` cells of the increasing points rs
    where `values` (fn at rs; NaN for none) changes sign (strict: a zero does not count), each
    bisected geometrically to rounding. Returns (roots, found); roots not found are rs[-2]."""
    prod = jnp.sign(values[:-1]) * jnp.sign(values[1:])
    change = prod < 0 if strict else prod <= 0
    (idx,) = jnp.nonzero(change, size=count, fill_value=rs.shape[0] - 2)
    found = change[idx] & (jnp.arange(count) < jnp.sum(change))

    def bisect(_, bounds):
        lo, hi = bounds
        mid = jnp.sqrt(lo * hi)
        left = jnp.sign(fn(lo)) * jnp.sign(fn(mid)) <= 0
        return jnp.where(left, lo, mid), jnp.where(left, mid, hi)

    lo, hi = jax.lax.fori_loop(0, 80, bisect, (rs[idx], rs[idx + 1]))
    return jnp.sqrt(lo * hi), found


def _equilibria_multi(
    params: Params, *, max_equilibria: int, r_range, per_population: int
) -> Equilibria:
    n_pop = params.n_populations
    dtype = params.eta_bar.dtype
    axis = jnp.logspace(
        np.log10(max(r_range[0], 1e-6)), np.log10(r_range[1]), per_population, dtype=dtype
    )
    if n_pop <= 3:
        starts = jnp.stack(jnp.meshgrid(*([axis] * n_pop), indexing="ij"), -1).reshape(-1, n_pop)
    else:
        starts = jnp.repeat(axis[:, None], n_pop, axis=1)
    field = lambda x, p: _flat(chen_campbell(0.0, _unflat(x, p), (p, None)))

    def newton(r, p):
        v, w, s = _equilibrium_from_rate(p, r)
        sol = optx.root_find(
            field,
            optx.Newton(rtol=1e-13, atol=1e-14),
            _flat(_equilibrium_state(p, r, v, w, s)),
            args=p,
            max_steps=100,
            throw=False,
        )
        res = jnp.max(jnp.abs(field(sol.value, p)))
        ok = (sol.result == optx.RESULTS.successful) & (res < 1e-9) & jnp.all(sol.value[:n_pop] > 0)
        return sol.value, ok, res

    x, ok, res = jax.vmap(newton)(starts, _broadcast_params(params, starts.shape[0]))
    scale = 1e-7 * (1 + jnp.abs(x))
    close = jnp.all(jnp.abs(x[:, None, :] - x[None, :, :]) < scale[:, None, :], axis=-1)
    earlier = jnp.tril(jnp.ones(close.shape, bool), k=-1)
    duplicate = jnp.any(close & earlier & ok[None, :], axis=1)
    keep = ok & ~duplicate
    order = jnp.argsort(jnp.where(keep, x[:, 0], jnp.inf))
    idx = order[:max_equilibria]
    found = keep[idx]
    x, res = x[idx], res[idx]
    eig = jax.vmap(lambda xi, p: jnp.linalg.eigvals(jax.jacfwd(lambda z: field(z, p))(xi)))(
        x, _broadcast_params(params, x.shape[0])
    )
    nan = jnp.nan
    x = jnp.where(found[:, None], x, nan)
    eig = jnp.where(found[:, None], eig, nan)
    y = jax.vmap(lambda xi: _unflat(xi, params))(x)
    stable = found & jnp.all(jnp.real(eig) < 0, axis=-1)
    return Equilibria(
        r=y.r,
        v=y.v,
        w=y.w,
        s=y.s,
        eigenvalues=eig,
        stable=stable,
        valid=found,
        residual=jnp.where(found, res, nan),
        # mypy types equinox Enumeration items as str (equinox#1121).
        status=RESULTS.successful,  # type: ignore[arg-type]
    )


_equilibria_multi_jit = jax.jit(
    _equilibria_multi, static_argnames=("max_equilibria", "r_range", "per_population")
)
