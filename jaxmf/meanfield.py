"""Mean-field models of the network: vector fields, `solve_meanfield` (diffrax) and equilibria.

Chen & Campbell 2022 exact mean field, per population m with (gs)_m = sum_k g[m,k] f_k s_k and
(gse)_m = sum_k g[m,k] f_k s_k e_r[k]:

    r' = delta_eta/pi + 2 r v - r (alpha + gs)
    v' = v^2 - alpha v - pi^2 r^2 + gse - gs v - w + eta_bar + i_ext
    w' = a (b v - w) + w_jump r
    s' = -s / tau_s + s_jump r

Nicola & Campbell 2013 (2-D, (s, w) driven by the quasi-steady QIF rate) and the
Montbrio-Pazo-Roxin limit (w_jump = b = 0) are provided for comparison. All vector fields have the
diffrax signature `f(t, y, args)` with `args = (params, input)` and are pure, so users can pass them
to their own `diffrax.diffeqsolve`.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from .params import ParameterError, Params

__all__ = [
    "MeanFieldState", "MeanFieldResult", "Equilibria", "StepInput", "chen_campbell", "nicola_campbell",
    "mpr", "solve_meanfield", "meanfield_equilibria", "MODELS",
]


class MeanFieldState(NamedTuple):
    """Population rate r, mean voltage v, mean adaptation w and synaptic variable s; each (P,)."""

    r: jax.Array
    v: jax.Array
    w: jax.Array
    s: jax.Array


class StepInput(eqx.Module):
    """Piecewise-constant extra input current: `values[k]` on [times[k-1], times[k]) (values has
    one more entry than times; each entry a scalar or (P,)). Added to `params.i_ext`.
    E.g. StepInput(times=[800.0], values=[0.0, 0.1]) switches I_ext from 0 to 0.1 at t = 800."""

    times: jax.Array
    values: jax.Array

    def __init__(self, times, values):
        self.times = jnp.atleast_1d(jnp.asarray(times, dtype=float))
        self.values = jnp.asarray(values, dtype=float)
        if self.values.shape[0] != self.times.shape[0] + 1:
            raise ParameterError("values", f"needs len(times) + 1 = {self.times.shape[0] + 1} "
                                 f"entries; got {self.values.shape[0]}")

    def __call__(self, t):
        return self.values[jnp.searchsorted(self.times, t, side="right")]


def _input(inp, t, dtype):
    return jnp.zeros((), dtype) if inp is None else jnp.asarray(inp(t), dtype)


def _synaptic(params: Params, s):
    fs = params.fractions * s
    return params.g @ fs, params.g @ (fs * params.e_r)


def chen_campbell(t, y: MeanFieldState, args) -> MeanFieldState:
    """The exact mean field (Chen & Campbell 2022, eq. for r, <v>, <w>, s)."""
    params, inp = args
    r, v, w, s = y
    gs, gse = _synaptic(params, s)
    i_total = params.i_ext + _input(inp, t, params.i_ext.dtype)
    dr = params.delta_eta / jnp.pi + 2 * r * v - r * (params.alpha + gs)
    dv = v * v - params.alpha * v - (jnp.pi * r) ** 2 + gse - gs * v - w + params.eta_bar + i_total
    dw = params.a * (params.b * v - w) + params.w_jump * r
    ds = -s / params.tau_s + params.s_jump * r
    return MeanFieldState(dr, dv, dw, ds)


def mpr(t, y: MeanFieldState, args) -> MeanFieldState:
    """Montbrio-Pazo-Roxin limit (no adaptation: w_jump = b = 0, w frozen at its initial value)."""
    params, inp = args
    d = chen_campbell(t, y, (params.replace(w_jump=0.0, b=0.0), inp))
    return d._replace(w=jnp.zeros_like(y.w))


def _qss(params: Params, w, s, i_total):
    """Quasi-steady QIF rate and mean voltage for frozen (w, s): z = sqrt(eta + i Delta - c)."""
    gs, gse = _synaptic(params, s)
    A = params.alpha + gs
    c = w - gse + A * A / 4 - i_total
    z = jnp.sqrt(jax.lax.complex(params.eta_bar - c, params.delta_eta))
    return jnp.real(z) / jnp.pi, A / 2 - jnp.imag(z)


def nicola_campbell(t, y: MeanFieldState, args) -> MeanFieldState:
    """Nicola & Campbell 2013: (s, w) driven by the quasi-steady rate R(s, w); r and v are slaved
    (their derivatives are zero; `solve_meanfield` fills them from R and <v>_qss)."""
    params, inp = args
    rate, v_qss = _qss(params, y.w, y.s, params.i_ext + _input(inp, t, params.i_ext.dtype))
    dw = params.a * (params.b * v_qss - y.w) + params.w_jump * rate
    ds = -y.s / params.tau_s + params.s_jump * rate
    zero = jnp.zeros_like(y.r)
    return MeanFieldState(zero, zero, dw, ds)


MODELS: dict[str, Callable] = {"chen_campbell": chen_campbell, "nicola_campbell": nicola_campbell,
                               "mpr": mpr}


class MeanFieldResult(eqx.Module):
    """Solution at the saved times: t (T,), r, v, w, s (T, P). `status` is 0 on success (else
    diffrax's RESULTS code: max_steps reached, non-finite state, ...); `n_steps` the accepted
    steps."""

    t: jax.Array
    r: jax.Array
    v: jax.Array
    w: jax.Array
    s: jax.Array
    status: jax.Array
    n_steps: jax.Array
    model: str = eqx.field(static=True)

    @property
    def message(self) -> str:
        code = int(np.max(np.asarray(self.status)))
        return "ok" if code == 0 else f"diffrax failure (code {code})"


def _default_ts(t0, t1):
    return jnp.linspace(t0, t1, int(max(2, round((t1 - t0) / 0.1) + 1)))


def solve_meanfield(params: Params, t1: float = 800.0, ts=None, *, t0: float = 0.0, y0=None,
                    model: str = "chen_campbell", i_ext=None, solver=None, rtol: float = 1e-8,
                    atol: float = 1e-10, dt0: float | None = None, max_steps: int = 1_000_000,
                    adjoint=None, throw: bool = True) -> MeanFieldResult:
    """Integrate a mean-field model with diffrax from t0 to t1, saving at `ts`.

    ts: save times (default every 0.1 time unit). y0: `MeanFieldState` (default all zeros, the
    network's initial state). model: 'chen_campbell' (exact), 'nicola_campbell' or 'mpr'.
    i_ext: extra input, a `StepInput` or any callable t -> scalar/(P,) (jump times of a StepInput
    are stepped to exactly). solver: any diffrax solver (default Tsit5; use diffrax.Kvaerno5 for
    very fast adaptation). rtol/atol: PID controller tolerances. adjoint: diffrax adjoint for
    gradients (default RecursiveCheckpointAdjoint: memory-bounded). throw: raise on failure
    (else report it in `status`). Works under jit, vmap (over params) and grad.
    """
    if model not in MODELS:
        raise ParameterError("model", f"must be one of {', '.join(MODELS)}; got {model!r}")
    if not isinstance(t1, jax.core.Tracer) and not float(t1) > float(t0):
        raise ParameterError("t1", f"must be > t0={t0}; got {t1}")
    dtype = params.eta_bar.dtype
    ts = _default_ts(t0, t1) if ts is None else ts
    ts = jnp.asarray(ts, dtype)  # diffrax promotes the state to the time dtype
    p = params.n_populations
    if y0 is None:
        y0 = MeanFieldState(*(jnp.zeros((p,), dtype) for _ in range(4)))
    y0 = MeanFieldState(*(jnp.broadcast_to(jnp.asarray(x, dtype), (p,)) for x in y0))
    controller = diffrax.PIDController(rtol=rtol, atol=atol)
    if isinstance(i_ext, StepInput):
        controller = diffrax.ClipStepSizeController(controller, jump_ts=i_ext.times.astype(dtype))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(MODELS[model]), solver or diffrax.Tsit5(), jnp.asarray(t0, dtype),
        jnp.asarray(t1, dtype), dt0, y0,
        args=(params, i_ext), saveat=diffrax.SaveAt(ts=ts), stepsize_controller=controller,
        adjoint=adjoint or diffrax.RecursiveCheckpointAdjoint(), max_steps=max_steps, throw=throw)
    ys = sol.ys
    if model == "nicola_campbell":
        i_t = jax.vmap(lambda t: params.i_ext + _input(i_ext, t, params.i_ext.dtype))(ts)
        rate, v_qss = jax.vmap(lambda w, s, i: _qss(params, w, s, i))(ys.w, ys.s, i_t)
        ys = ys._replace(r=rate, v=v_qss)
    return MeanFieldResult(t=sol.ts, r=ys.r, v=ys.v, w=ys.w, s=ys.s,
                           status=jnp.asarray(sol.result._value, jnp.int32),
                           n_steps=sol.stats["num_accepted_steps"], model=model)


# ------------------------------------------------------------------------------------------------
# Equilibria


class Equilibria(eqx.Module):
    """Equilibria of the exact mean field, padded to a fixed count: r, v, w, s (K, P);
    `eigenvalues` (K, 4P) of the Jacobian; `stable` (K,); `valid` (K,) marks real entries
    (padding rows are NaN); `residual` (K,) the max-norm of the vector field there."""

    r: jax.Array
    v: jax.Array
    w: jax.Array
    s: jax.Array
    eigenvalues: jax.Array
    stable: jax.Array
    valid: jax.Array
    residual: jax.Array

    @property
    def count(self) -> int:
        return int(np.sum(np.asarray(self.valid)))


def _equilibrium_from_rate(params: Params, r):
    """(v*, w*, s*) of one population from its rate (model.md section 3)."""
    s = params.tau_s * params.s_jump * r
    gs, _ = _synaptic(params, s)
    v = (params.alpha + gs) / 2 - params.delta_eta / (2 * jnp.pi * r)
    w = params.b * v + params.w_jump / params.a * r
    return v, w, s


def _scalar_residual(params: Params, r):
    """pi r - Re sqrt(eta_bar + i Delta - c(r)) for one population (zero at an equilibrium)."""
    v, w, s = _equilibrium_from_rate(params, r)
    gs, gse = _synaptic(params, s)
    c = w - gse + (params.alpha + gs) ** 2 / 4 - params.i_ext
    return jnp.pi * r - jnp.real(jnp.sqrt(jax.lax.complex(params.eta_bar - c, params.delta_eta)))


def _flat(y: MeanFieldState):
    return jnp.concatenate(y)


def _unflat(x):
    return MeanFieldState(*jnp.split(x, 4))


def meanfield_equilibria(params: Params, *, max_equilibria: int = 8, r_range=(1e-10, 10.0),
                         grid: int = 4000) -> Equilibria:
    """All equilibria of the exact mean field (one population), refined by Newton.

    The scalar root problem in r (model.md section 3) is scanned on a log grid over `r_range` for
    sign changes, each bracket is bisected, and the full 4-D system is polished with optimistix'
    Newton. Jacobian eigenvalues come from jax.jacfwd; `stable` means all real parts < 0.
    Pure: works under jit and vmap (over params); output rows beyond the roots found are NaN.
    Compiled once per (shapes, options) and reused.

    With P > 1 populations there is no scalar reduction: Newton on the 4P-dimensional system runs
    from a log grid of rates per population (16^P starts for P <= 3, a diagonal of 64 beyond), and
    the distinct converged points are kept. This finds the equilibria in practice but, unlike the
    one-population bracketing, cannot prove that none was missed.
    """
    if params.n_populations > 1:
        return _equilibria_multi_jit(params, max_equilibria=max_equilibria, r_range=tuple(r_range),
                                     per_population=16 if params.n_populations <= 3 else 64)
    return _equilibria_jit(params, max_equilibria=max_equilibria, r_range=tuple(r_range), grid=grid)


def _equilibria(params: Params, *, max_equilibria: int, r_range, grid: int) -> Equilibria:
    p1 = params
    rs = jnp.logspace(np.log10(r_range[0]), np.log10(r_range[1]), grid, dtype=params.eta_bar.dtype)
    f = jax.vmap(lambda r: _scalar_residual(p1, r[None])[0])(rs)
    change = jnp.sign(f[:-1]) * jnp.sign(f[1:]) <= 0
    (idx,) = jnp.nonzero(change, size=max_equilibria, fill_value=grid - 2)
    found = change[idx] & (jnp.arange(max_equilibria) < jnp.sum(change))
    lo, hi = rs[idx], rs[idx + 1]

    def bisect(_, bounds):
        lo, hi = bounds
        mid = jnp.sqrt(lo * hi)
        f_lo = jax.vmap(lambda r: _scalar_residual(p1, r[None])[0])(lo)
        f_mid = jax.vmap(lambda r: _scalar_residual(p1, r[None])[0])(mid)
        left = jnp.sign(f_lo) * jnp.sign(f_mid) <= 0
        return jnp.where(left, lo, mid), jnp.where(left, mid, hi)

    lo, hi = jax.lax.fori_loop(0, 80, bisect, (lo, hi))
    r0 = jnp.sqrt(lo * hi)

    def polish(r):
        v, w, s = _equilibrium_from_rate(p1, r[None])
        x0 = _flat(MeanFieldState(r[None], v, w, s))
        fn = lambda x, _: _flat(chen_campbell(0.0, _unflat(x), (p1, None)))
        sol = optx.root_find(fn, optx.Newton(rtol=1e-13, atol=1e-14), x0, max_steps=50,
                             throw=False)
        x = jnp.where(sol.result == optx.RESULTS.successful, sol.value, x0)
        jac = jax.jacfwd(lambda x: fn(x, None))(x)
        eig = jnp.linalg.eigvals(jac)
        return x, eig, jnp.max(jnp.abs(fn(x, None)))

    x, eig, res = jax.vmap(polish)(r0)
    nan = jnp.nan
    x = jnp.where(found[:, None], x, nan)
    eig = jnp.where(found[:, None], eig, nan)
    y = jax.vmap(lambda xi: _unflat(xi))(x)
    stable = found & jnp.all(jnp.real(eig) < 0, axis=-1)
    return Equilibria(r=y.r, v=y.v, w=y.w, s=y.s, eigenvalues=eig, stable=stable, valid=found,
                      residual=jnp.where(found, res, nan))


_equilibria_jit = jax.jit(_equilibria, static_argnames=("max_equilibria", "r_range", "grid"))


def _equilibria_multi(params: Params, *, max_equilibria: int, r_range, per_population: int
                      ) -> Equilibria:
    n_pop = params.n_populations
    dtype = params.eta_bar.dtype
    axis = jnp.logspace(np.log10(max(r_range[0], 1e-6)), np.log10(r_range[1]), per_population,
                        dtype=dtype)
    if n_pop <= 3:
        starts = jnp.stack(jnp.meshgrid(*([axis] * n_pop), indexing="ij"), -1).reshape(-1, n_pop)
    else:
        starts = jnp.repeat(axis[:, None], n_pop, axis=1)
    fn = lambda x, _: _flat(chen_campbell(0.0, _unflat(x), (params, None)))

    def newton(r):
        v, w, s = _equilibrium_from_rate(params, r)
        sol = optx.root_find(fn, optx.Newton(rtol=1e-13, atol=1e-14), _flat(MeanFieldState(r, v, w, s)),
                             max_steps=100, throw=False)
        res = jnp.max(jnp.abs(fn(sol.value, None)))
        ok = (sol.result == optx.RESULTS.successful) & (res < 1e-9) & jnp.all(sol.value[:n_pop] > 0)
        return sol.value, ok, res

    x, ok, res = jax.vmap(newton)(starts)
    scale = 1e-7 * (1 + jnp.abs(x))
    close = jnp.all(jnp.abs(x[:, None, :] - x[None, :, :]) < scale[:, None, :], axis=-1)
    earlier = jnp.tril(jnp.ones(close.shape, bool), k=-1)
    duplicate = jnp.any(close & earlier & ok[None, :], axis=1)
    keep = ok & ~duplicate
    order = jnp.argsort(jnp.where(keep, x[:, 0], jnp.inf))
    idx = order[:max_equilibria]
    found = keep[idx]
    x, res = x[idx], res[idx]
    eig = jax.vmap(lambda xi: jnp.linalg.eigvals(jax.jacfwd(lambda z: fn(z, None))(xi)))(x)
    nan = jnp.nan
    x = jnp.where(found[:, None], x, nan)
    eig = jnp.where(found[:, None], eig, nan)
    y = jax.vmap(_unflat)(x)
    stable = found & jnp.all(jnp.real(eig) < 0, axis=-1)
    return Equilibria(r=y.r, v=y.v, w=y.w, s=y.s, eigenvalues=eig, stable=stable, valid=found,
                      residual=jnp.where(found, res, nan))


_equilibria_multi_jit = jax.jit(_equilibria_multi,
                                static_argnames=("max_equilibria", "r_range", "per_population"))
