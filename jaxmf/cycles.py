"""Limit cycles of the mean field: continuation from a Hopf point by orthogonal collocation.

The cycle x(t) of period T is written on the unit interval, u(s) = x(sT), u' = T f(u, p),
and discretised as in AUTO (Doedel, Keller & Kernevez 1991): a mesh 0 = t_0 < ... < t_N = 1 of
`ntst` intervals, on each a polynomial of degree `ncol` through ncol + 1 equally spaced values,
collocated at the ncol Gauss-Legendre points. Unknowns are the profile values, T and the
parameter p; the equations are the collocation equations, periodicity (built into the
representation), the integral phase condition int u . u_prev' ds = 0 and pseudo-arclength.

Newton steps eliminate the interior values of every interval (condensation of parameters, one QR
per interval under `vmap`); the remaining system in the mesh values, T and p is block-cyclic with
two border rows, solved by `jaxmf.collocation.solve_bordered` (the collocation core shared with
`jaxmf.cycle_curves`). The condensed blocks are the per-interval transfer
matrices whose product is the monodromy matrix, so the Floquet multipliers come for free.

The mesh is adapted after every step by equidistributing the (ncol+1)-th root of the estimated
(ncol+1)-th derivative (Russell & Christiansen 1978, as in AUTO), which resolves the slow-fast
bursting cycles of the mean field, whose fast transitions take a small share of the period.

The Newton loop and the regula falsi that locates folds (LPC), flips (PD) and tori (NS) are
those of `jaxmf._newton`, shared with `jaxmf.bifurcation`; the Hopf point where a family ends
is refined by `locate_hopf`. `continue_cycles` is a small driver (`_CycleTracer`): a
predictor-corrector step with step control, detection, the one test that decides why the branch
ends (`Branch.status`, `Branch.message`), then the next step size and mesh. Vector fields have
the signature f(x, params), params being `Params` or a dict of scalars.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._loop import Progress
from ._newton import newton, outside_domain, parameter_value, regula_falsi, with_parameter
from ._results import RESULTS, status_message
from .bifurcation import (
    Branch,
    ContinuationError,
    SpecialPoint,
    locate_hopf,
    meanfield_vector_field,
)
from .collocation import (
    basis,
    border_row,
    equidistribute,
    evaluate,
    floquet_multipliers,
    local_values,
    representation_times,
    solve_bordered,
)
from .params import ParameterError, check_positive

__all__ = [
    "continue_cycles",
    "cycle_at",
    "cycle_from_trajectory",
    "Cycle",
    "CycleStats",
    "meanfield_vector_field",
    "refine_hopf",
]


class _Problem(eqx.Module):
    f: Callable = eqx.field(static=True)
    name: str = eqx.field(static=True)
    m: int = eqx.field(static=True)
    n: int = eqx.field(static=True)
    theta_period: float = eqx.field(static=True)

    def split(self, z, N):
        return z[:-2].reshape(N, self.m, self.n), z[-2], z[-1]

    def rhs(self, x, params, p):
        return self.f(x, with_parameter(params, self.name, p))

    def interval_residual(self, uloc, h, T, p, params):
        L, D, *_ = basis(self.m)
        xc = jnp.asarray(L) @ uloc
        fc = jax.vmap(lambda x: self.rhs(x, params, p))(xc)
        return ((jnp.asarray(D) @ uloc) / h - T * fc).reshape(-1)

    def inner(self, za, zb, t):
        """Arclength inner product: int u_a . u_b ds + theta_T T_a T_b + p_a p_b."""
        L, _, w, *_ = basis(self.m)
        N = t.shape[0] - 1
        Ua, Ta, pa = self.split(za, N)
        Ub, Tb, pb = self.split(zb, N)
        ua = jnp.einsum("ck,jkn->jcn", jnp.asarray(L), local_values(Ua))
        ub = jnp.einsum("ck,jkn->jcn", jnp.asarray(L), local_values(Ub))
        prof = jnp.einsum("j,c,jcn,jcn->", jnp.diff(t), jnp.asarray(w), ua, ub)
        return prof + self.theta_period * Ta * Tb + pa * pb

    def phase(self, z, uref, t):
        """int u . uref' ds (zero at the solution: the phase is fixed relative to uref)."""
        L, D, w, *_ = basis(self.m)
        U, _, _ = self.split(z, t.shape[0] - 1)
        u = jnp.einsum("ck,jkn->jcn", jnp.asarray(L), local_values(U))
        du = jnp.einsum("ck,jkn->jcn", jnp.asarray(D), local_values(uref))
        return jnp.einsum("c,jcn,jcn->", jnp.asarray(w), u, du)


def _linearise(prob: _Problem, z, t, params):
    """Residuals and condensed blocks of the collocation equations at z."""
    m, n = prob.m, prob.n
    N = t.shape[0] - 1
    U, T, p = prob.split(z, N)
    h = jnp.diff(t)
    uloc = local_values(U)
    res = jax.vmap(prob.interval_residual, (0, 0, None, None, None))(uloc, h, T, p, params)
    jac = jax.vmap(jax.jacfwd(prob.interval_residual, argnums=(0, 2, 3)), (0, 0, None, None, None))(
        uloc, h, T, p, params
    )
    E = jac[0].reshape(N, m * n, (m + 1) * n)
    Etp = jnp.stack([jac[1], jac[2]], axis=-1)  # (N, mn, 2)
    left, inner, right = E[:, :, :n], E[:, :, n : m * n], E[:, :, m * n :]
    Q, R = jnp.linalg.qr(inner, mode="complete")
    k = (m - 1) * n
    Q1, Q2 = Q[:, :, :k], Q[:, :, k:]
    S = jax.vmap(lambda r, q: jax.scipy.linalg.solve_triangular(r[:k], q.T, lower=False))(R, Q1)
    q2t = lambda X: jnp.einsum("jab,jac->jbc", Q2, X)
    blocks = dict(
        left=left, right=right, Etp=Etp, S=S, A=q2t(left), B=q2t(right), C=q2t(Etp), Q2=Q2
    )
    return res, blocks


def _system(prob, z, z_prev, tau_prev, ds, uref, t, params):
    N = t.shape[0] - 1
    res, blocks = _linearise(prob, z, t, params)
    g_phase = jax.grad(lambda zz: prob.phase(zz, uref, t))(z)
    g_arc = jax.grad(lambda zz: prob.inner(zz, tau_prev, t))(z)
    rows = []
    for g in (g_phase, g_arc):
        gU, _, _ = prob.split(g, N)
        rows.append(border_row(gU, g[-2:], blocks))
    border = jnp.stack([prob.phase(z, uref, t), prob.inner(z - z_prev, tau_prev, t) - ds])
    return res, border, blocks, rows


@functools.partial(jax.jit, static_argnames=("prob",))
def _correct(prob, z0, z_prev, tau_prev, ds, uref, t, params, tol, max_iter):
    """Newton on (collocation, phase, arclength) from the predictor z0; then the new tangent and
    the Floquet multipliers at the solution."""

    def step(z):
        res, border, blocks, rows = _system(prob, z, z_prev, tau_prev, ds, uref, t, params)
        return solve_bordered(blocks, rows, -res, -border, prob.m)

    def relative(z, dz):
        return jnp.max(jnp.abs(dz)) / (1 + jnp.max(jnp.abs(z)))

    z, it, size = newton(step, z0, tol=tol, max_iter=max_iter, size=relative)
    finite = jnp.isfinite(size)
    res, border, blocks, rows = _system(prob, z, z_prev, tau_prev, ds, uref, t, params)
    tau = solve_bordered(blocks, rows, jnp.zeros_like(res), jnp.array([0.0, 1.0], z.dtype), prob.m)
    tau = tau / jnp.sqrt(prob.inner(tau, tau, t))
    resid = jnp.maximum(jnp.max(jnp.abs(res)), jnp.max(jnp.abs(border)))
    ok = finite & (size <= tol) & (resid < 1e3 * tol)
    mult, logmod = floquet_multipliers(blocks)
    return z, ok, it, tau, mult, logmod, resid


def _inner_np(prob, za: np.ndarray, zb: np.ndarray, t: np.ndarray) -> float:
    """`_Problem.inner` in numpy, for the driver."""
    L, _, w, *_ = basis(prob.m)
    N = t.shape[0] - 1
    loc = lambda z: np.concatenate(
        [
            z[:-2].reshape(N, prob.m, prob.n),
            np.roll(z[:-2].reshape(N, prob.m, prob.n), -1, axis=0)[:, :1],
        ],
        axis=1,
    )
    ua = np.einsum("ck,jkn->jcn", L, loc(za))
    ub = np.einsum("ck,jkn->jcn", L, loc(zb))
    prof = np.einsum("j,c,jcn,jcn->", np.diff(t), w, ua, ub)
    return float(prof + prob.theta_period * za[-2] * zb[-2] + za[-1] * zb[-1])


def _remesh(z: np.ndarray, t: np.ndarray, t_new: np.ndarray, m: int, n: int) -> np.ndarray:
    N = t.shape[0] - 1
    U = z[:-2].reshape(N, m, n)
    U_new = evaluate(U, t, representation_times(t_new, m).reshape(-1)).reshape(
        t_new.shape[0] - 1, m, n
    )
    return np.concatenate([U_new.reshape(-1), z[-2:]])


def refine_hopf(
    params,
    param: str,
    state,
    *,
    vector_field: Callable | None = None,
    frequency: float | None = None,
) -> SpecialPoint:
    """A Hopf point from a nearby equilibrium `state` at `params`, to start `continue_cycles`
    when no Hopf point from `continue_equilibria` is at hand: `locate_hopf(params, param, state,
    frequency=frequency, vector_field=vector_field, throw=False)` (check `converged`).

    Parameters
    ----------
    params : Params or dict
        The parameters (a dict of scalars with `vector_field`).
    param : str
        The parameter name.
    state : Array
        A flat equilibrium near the Hopf point.
    vector_field : callable, optional
        f(x, params) (default `meanfield_vector_field`).
    frequency : float, optional
        Start from the eigenvalue nearest i * frequency (default: the pair nearest the imaginary
        axis).

    Returns
    -------
    SpecialPoint
        kind 'hopf', with value, state, frequency, period, first_lyapunov, converged.

    Examples
    --------
    The Hopf normal form x' = mu x - y - r^2 x, y' = x + mu y - r^2 y: Hopf at mu = 0, omega = 1.

    >>> import jax.numpy as jnp
    >>> from jaxmf.cycles import refine_hopf
    >>> def f(x, p):
    ...     r2 = x[0] ** 2 + x[1] ** 2
    ...     return jnp.stack([p["mu"] * x[0] - x[1] - r2 * x[0], x[0] + p["mu"] * x[1] - r2 * x[1]])
    >>> h = refine_hopf({"mu": 0.05}, "mu", jnp.zeros(2), vector_field=f)
    >>> bool(h.converged), round(float(h.value), 8), round(float(h.frequency), 8)
    (True, 0.0, 1.0)
    """
    return locate_hopf(
        params, param, state, frequency=frequency, vector_field=vector_field, throw=False
    )


class CycleStats(eqx.Module):
    """Work done by `continue_cycles` (with `return_stats=True`).

    Attributes
    ----------
    compile_s : float
        Wall time of the first step, which compiles the corrector.
    run_s : float
        Wall time of the rest.
    points : int
        Accepted points.
    rejected : int
        Rejected steps.
    newton_iterations : int
        Newton iterations in all.

    Examples
    --------
    >>> import jax; jax.config.update("jax_enable_x64", True)
    >>> import jaxmf
    >>> p = jaxmf.presets.chen_campbell_2022(rounded=True)
    >>> hopf = jaxmf.continue_equilibria(p, "eta_bar", (0.0, 0.3)).special_points[0]
    >>> branch, stats = jaxmf.continue_cycles(p, hopf, "eta_bar", (0.0, 0.3), return_stats=True)
    >>> stats.points == len(branch)
    True
    """

    compile_s: float = eqx.field(static=True)
    run_s: float = eqx.field(static=True)
    points: int = eqx.field(static=True)
    rejected: int = eqx.field(static=True)
    newton_iterations: int = eqx.field(static=True)


def continue_cycles(
    params,
    hopf_point: SpecialPoint | Cycle,
    param: str | None = None,
    bounds=None,
    *,
    ntst: int = 80,
    ncol: int = 4,
    ds: float = 0.01,
    ds_min: float = 1e-7,
    ds_max: float = 0.05,
    max_points: int = 300,
    amplitude0: float = 1e-3,
    adapt_mesh: bool = True,
    period_max: float | None = None,
    theta_period: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 8,
    detect: bool = True,
    vector_field: Callable | None = None,
    return_stats: bool = False,
    progress: bool = False,
    throw: bool = True,
):
    """Continue the family of periodic orbits born at a Hopf point, or through a given cycle
    (e.g. from `cycle_from_trajectory`: a family connected to no Hopf point), in one parameter.

    Special points: 'lpc', 'pd', 'ns' (refined by regula falsi in the arclength with the
    corrector), 'homoclinic' (period above period_max; the last point, not refined) and 'hopf'
    where the family shrinks onto an equilibrium again (refined by `locate_hopf`; the branch
    stops there). One compilation per (vector field, ntst, ncol, state size); later branches
    with the same shapes reuse it.

    Parameters
    ----------
    params : Params or dict
        The base parameters (a dict of scalars with `vector_field`).
    hopf_point : SpecialPoint or Cycle
        A Hopf point (state = flat equilibrium, value, frequency; its eigenvector is recomputed
        from the Jacobian), or a `Cycle`: the family is continued from it in both directions and
        joined (the cycle's row inside), or once round when it returns to the cycle (a closed
        family, an isola: message 'closed family').
    param : str, optional
        The continuation parameter (default: the Hopf point's or the cycle's).
    bounds : tuple of float, optional
        (lo, hi); continuation stops outside, and at the edge of the valid domain of `Params`.
    ntst, ncol : int
        Mesh intervals and Gauss points per interval (the error is O(h^(2 ncol)) at mesh
        points; ncol = 4 as in AUTO).
    ds, ds_min, ds_max : float
        Pseudo-arclength step in the norm sqrt(int |u|^2 ds + theta_period T^2 + p^2), adapted
        to the Newton iteration count.
    max_points : int
        Accepted points at most.
    amplitude0 : float
        The first step: the L2 size of the first cycle's deviation from the equilibrium.
    adapt_mesh : bool
        Re-equidistribute the mesh after every step (needed for the slow-fast bursting cycles).
    period_max : float, optional
        Stop with a 'homoclinic' point when the period exceeds it (default 25 x the Hopf
        period).
    theta_period : float
        Weight of the period in the arclength norm.
    tol, max_iter : float, int
        Newton tolerance (relative step) and iterations.
    detect : bool
        Locate special points.
    vector_field : callable, optional
        f(x, params) on flat states (default `meanfield_vector_field`).
    return_stats : bool
        Also return `CycleStats`.
    progress : bool
        Print a progress line.
    throw : bool, default True
        Raise `ContinuationError` when no cycle converged or the corrector failed before the
        branch ended (status not_converged); `.result` holds the branch.

    Returns
    -------
    Branch
        kind 'cycle': values, states (u at phase 0), eigenvalues (Floquet multipliers, by
        decreasing modulus), stable, period, minima/maxima (exact extrema of the collocation
        polynomial), profiles and mesh (the representation values and their times), special
        points, `status` and `message` (why it stopped). With return_stats, (branch,
        CycleStats).

    Raises
    ------
    ContinuationError
        With `throw`, as above.
    ParameterError
        Invalid settings.

    Examples
    --------
    >>> import jaxmf
    >>> p = jaxmf.presets.chen_campbell_2022(rounded=True)
    >>> hopf = jaxmf.continue_equilibria(p, "eta_bar", (0.0, 0.3)).special_points[0]
    >>> branch = jaxmf.continue_cycles(p, hopf, "eta_bar", (0.0, 0.3))
    >>> [sp.kind for sp in branch.special_points]
    ['lpc', 'lpc', 'hopf']
    """
    if vector_field is None and getattr(params, "delay", None) is not None:
        raise ParameterError(
            "delay",
            "cycles of the delayed mean field solve a delay-differential equation: continue "
            "them with jaxmf.dde_cycles (collocation with the delayed profile)",
        )
    f = vector_field or meanfield_vector_field
    name = param or (hopf_point.param if isinstance(hopf_point, Cycle) else hopf_point.param[0])
    if not name:
        raise ParameterError("param", "name the continuation parameter of this cycle")
    if ntst < 4 or ncol < 2:
        raise ParameterError("ntst", f"need ntst >= 4 and ncol >= 2; got {ntst}, {ncol}")
    for label, x in (
        ("ds", ds),
        ("ds_min", ds_min),
        ("ds_max", ds_max),
        ("amplitude0", amplitude0),
        ("tol", tol),
    ):
        check_positive(label, x)
    if (
        isinstance(max_points, bool)
        or not isinstance(max_points, (int, np.integer))
        or max_points < 1
    ):
        raise ParameterError("max_points", f"must be an integer >= 1; got {max_points!r}")
    if isinstance(hopf_point, Cycle):
        return _continue_from_cycle(
            params,
            hopf_point,
            name,
            bounds,
            ntst=ntst,
            ncol=ncol,
            ds=ds,
            ds_min=ds_min,
            ds_max=ds_max,
            max_points=max_points,
            amplitude0=amplitude0,
            adapt_mesh=adapt_mesh,
            period_max=period_max,
            theta_period=theta_period,
            tol=tol,
            max_iter=max_iter,
            detect=detect,
            f=f,
            return_stats=return_stats,
            progress=progress,
            throw=throw,
        )
    p0 = float(np.asarray(hopf_point.value).reshape(-1)[0])
    base = with_parameter(params, name, p0)
    x_eq = np.asarray(hopf_point.state, float)
    n = x_eq.shape[0]
    J = np.asarray(jax.jacfwd(lambda x: f(x, base))(jnp.asarray(x_eq)))
    ev, vecs = np.linalg.eig(J)
    om = float(np.asarray(hopf_point.frequency))
    k = (
        int(np.argmin(np.abs(ev - 1j * om)))
        if np.isfinite(om)
        else int(np.argmin(np.where(ev.imag > 0, np.abs(ev.real), np.inf)))
    )
    om, q = abs(float(ev[k].imag)), vecs[:, k]
    if ev[k].imag < 0:
        q = np.conj(q)
    T0 = 2 * np.pi / om
    prob = _Problem(f=f, name=name, m=ncol, n=n, theta_period=float(theta_period))
    lo, hi = (-np.inf, np.inf) if bounds is None else (float(min(bounds)), float(max(bounds)))
    tracer = _CycleTracer(
        prob,
        base,
        ntst,
        bounds=bounds,
        lo=lo,
        hi=hi,
        ds=ds,
        ds_min=ds_min,
        ds_max=ds_max,
        max_points=max_points,
        amplitude0=amplitude0,
        adapt_mesh=adapt_mesh,
        tol=tol,
        max_iter=max_iter,
        detect=detect,
        period_max=25 * T0 if period_max is None else period_max,
        progress=Progress(
            f"cycles in {name} from {p0:.6g}", max_points, enabled=progress, unit=" points"
        ),
    )
    status, message = tracer.trace(x_eq, p0, T0, q)
    branch = _to_branch(tracer.rows, base, name, tracer.special, message, status, prob, ntst)
    if throw and (status == "not_converged" or not tracer.rows):
        raise ContinuationError(
            f"cycles in {name} from the Hopf point at {p0:.10g}: "
            f"{branch.message}; the branch so far is in .result",
            branch,
        )
    if return_stats:
        return branch, tracer.stats()
    return branch


class _CycleTracer:
    """Host-side driver of one cycle branch: predictor-corrector steps with step control
    (`advance`), detection and every reason to stop (`ended`, the one place that decides why the
    branch ends), then the step size, phase reference and mesh for the next step (`prepare`)."""

    def __init__(
        self,
        prob: _Problem,
        base,
        N: int,
        *,
        bounds,
        lo,
        hi,
        ds,
        ds_min,
        ds_max,
        max_points,
        amplitude0,
        adapt_mesh,
        tol,
        max_iter,
        detect,
        period_max,
        progress: Progress,
    ):
        self.prob, self.base, self.N = prob, base, N
        self.bounds, self.lo, self.hi = bounds, lo, hi
        self.ds, self.ds_min, self.ds_max, self.max_points = ds, ds_min, ds_max, max_points
        self.amplitude0, self.adapt_mesh, self.detect = amplitude0, adapt_mesh, detect
        self.tol, self.max_iter, self.period_max = tol, max_iter, period_max
        self.progress = progress
        self.rows: list[dict[str, Any]] = []
        self.special: list[SpecialPoint] = []
        self.rejected = self.iterations = 0
        self.compile_s: float | None = None

    def correct(self, z_prev, tau_prev, step, uref, t):
        dtype = jnp.asarray(z_prev).dtype
        zp = z_prev + step * tau_prev
        out = _correct(
            self.prob,
            jnp.asarray(zp),
            jnp.asarray(z_prev),
            jnp.asarray(tau_prev),
            jnp.asarray(step, dtype),
            jnp.asarray(uref),
            jnp.asarray(t),
            self.base,
            jnp.asarray(self.tol, dtype),
            jnp.asarray(self.max_iter, jnp.int32),
        )
        z, ok, it, tau_new, mult, logmod, _ = out
        return (
            np.asarray(z),
            bool(ok),
            int(it),
            np.asarray(tau_new),
            np.asarray(mult),
            np.asarray(logmod),
        )

    def trace(self, x_eq, p0, T0, q) -> tuple[str, str]:
        """Start at the Hopf point (the first step of size amplitude0 along the critical
        eigenvector) and continue; returns (status name, message)."""
        N, m, n = self.N, self.prob.m, self.prob.n
        self.t = np.linspace(0.0, 1.0, N + 1)
        s = representation_times(self.t, m)
        self.z_prev = np.concatenate([np.broadcast_to(x_eq, (N, m, n)).reshape(-1), [T0, p0]])
        prof = np.real(q[None, None, :] * np.exp(2j * np.pi * s)[:, :, None])
        tau = np.concatenate([prof.reshape(-1), [0.0, 0.0]])
        self.tau_prev = tau / np.sqrt(_inner_np(self.prob, tau, tau, self.t))
        self.uref = self.tau_prev[:-2].reshape(N, m, n)
        self.step = self.amplitude0
        self.t_start = time.perf_counter()
        while len(self.rows) < self.max_points:
            row = self.advance()
            if row is None:
                status, message = (
                    "not_converged",
                    f"step size below ds_min={self.ds_min} (Newton failed)",
                )
                break
            end = self.ended(row)
            if end is not None:
                status, message = end
                break
            self.prepare(row)
        else:
            status, message = "max_steps_reached", f"max_points={self.max_points} reached"
        self.run_s = time.perf_counter() - (
            self.t_run if self.compile_s is not None else self.t_start
        )
        self.progress.close(message)
        return status, message

    def trace_from(self, z0, t0, direction: float) -> tuple[str, str]:
        """Start at the cycle z0 (mesh t0 of N intervals), stepping first towards increasing
        (direction > 0) or decreasing parameter, and continue; returns (status name, message).
        The start is the first row; coming back to it ends the branch (a closed family)."""
        N, m, n = self.N, self.prob.m, self.prob.n
        self.t = t0
        e_p = np.zeros(z0.shape[0])
        e_p[-1] = direction
        self.t_start = time.perf_counter()
        # Newton at the cycle's own parameter: the cycle again, and the tangent oriented along e_p.
        z, ok, it, tau, mult, logmod = self.correct(z0, e_p, 0.0, z0[:-2].reshape(N, m, n), t0)
        self.compile_s = time.perf_counter() - self.t_start
        self.t_run = time.perf_counter()
        if not ok:
            self.run_s = 0.0
            self.progress.close("the start does not converge")
            return "not_converged", "Newton did not converge at the starting cycle"
        self.it, self.step = it, self.ds
        self.start = self.record(z, tau, mult, logmod)
        self.rows.append(self.start)
        self.prepare(self.start)
        while len(self.rows) < self.max_points:
            row = self.advance()
            if row is None:
                status, message = (
                    "not_converged",
                    f"step size below ds_min={self.ds_min} (Newton failed)",
                )
                break
            end = self.ended(row)
            if end is not None:
                status, message = end
                break
            self.prepare(row)
        else:
            status, message = "max_steps_reached", f"max_points={self.max_points} reached"
        self.run_s = time.perf_counter() - self.t_run
        self.progress.close(message)
        return status, message

    def closed(self, prev, row) -> bool:
        """Whether the step from prev to row passed the starting cycle again: the parameter
        brackets the start's, with the period and extrema (interpolated there) the start's."""
        start = getattr(self, "start", None)
        if start is None or len(self.rows) < 5 or prev is start:
            return False
        dp = row["p"] - prev["p"]
        if dp == 0 or not min(prev["p"], row["p"]) <= start["p"] <= max(prev["p"], row["p"]):
            return False
        th = (start["p"] - prev["p"]) / dp
        at = lambda key: (1 - th) * prev[key] + th * row[key]
        size = np.max(start["max"] - start["min"])
        close_T = abs(at("T") - start["T"]) <= 1e-2 * abs(row["T"] - prev["T"]) + 1e-6 * start["T"]
        close_x = np.max(np.abs(at("max") - start["max"])) <= 1e-3 * size + 1e-2 * np.max(
            np.abs(row["max"] - prev["max"])
        )
        return bool(close_T and close_x)

    def advance(self):
        """Predictor-corrector from the last point, halving the step after a failure: the new
        row (appended), or None when the step fell below ds_min."""
        while True:
            z, ok, it, tau_new, mult, logmod = self.correct(
                self.z_prev, self.tau_prev, self.step, self.uref, self.t
            )
            if self.compile_s is None:
                self.compile_s = time.perf_counter() - self.t_start
                self.t_run = time.perf_counter()
            self.iterations += it
            if ok and self.rows:
                # Reject steps that turn the tangent by more than ~60 degrees (branch jumping).
                ok = _inner_np(self.prob, tau_new, self.tau_prev, self.t) > 0.5
            if ok:
                self.it = it
                row = self.record(z, tau_new, mult, logmod)
                self.rows.append(row)
                self.progress.update(
                    len(self.rows), f"{self.prob.name}={row['p']:.6g} T={row['T']:.5g}"
                )
                return row
            self.rejected += 1
            self.step *= 0.5
            if self.step < self.ds_min:
                return None

    def record(self, z, tau, mult, logmod):
        N, m, n = self.N, self.prob.m, self.prob.n
        U = z[:-2].reshape(N, m, n)
        lo, hi = _extrema(U, self.t)
        i_triv = int(np.argmin(np.abs(mult - 1)))
        others = np.delete(np.arange(len(mult)), i_triv)
        return dict(
            z=z,
            tau=tau,
            t=self.t.copy(),
            mult=mult,
            logmod=logmod,
            T=z[-2],
            p=z[-1],
            min=lo,
            max=hi,
            state=U[0, 0].copy(),
            stable=bool(np.all(logmod[others] < 0)),
            trivial=mult[i_triv],
            unstable=int(np.sum(logmod[others] > 0)),
            ds=self.step,
            nontrivial=mult[others],
        )

    def ended(self, row):
        """Special points between the last two rows, and why the branch ends here (status
        name, message), or None to go on."""
        rows, name, prob = self.rows, self.prob.name, self.prob
        N, m, n = self.N, prob.m, prob.n
        why = outside_domain(self.base, (name,), [row["p"]])
        if why:
            rows.pop()
            return "out_of_domain", f"stopped at the edge of the valid domain ({why})"
        if len(rows) >= 2 and _correlation(prob, self.z_prev, row["z"], self.t) < 0:
            # The profile's deviation from its mean flipped sign: the family shrank onto an
            # equilibrium (a Hopf point) between the last two points and is now retracing itself
            # half a period shifted. Drop the point and locate the Hopf point.
            prev = rows[-2]
            rows.pop()
            self.special.append(
                _arrival(prev, row, self.base, name, prob.f, N, m, n, len(rows) - 1)
            )
            return (
                "successful",
                f"reached a Hopf point at {name}={float(self.special[-1].value):.10g}",
            )
        if self.detect and len(rows) >= 2:
            found = _detect(prob, rows, self.base, name, self.correct, m, n, N)
            self.special.extend(found)
            if any(sp.kind == "hopf" for sp in found):
                # The branch passed through an equilibrium (zero amplitude) and is now retracing
                # itself, half a period shifted: drop that point and stop.
                rows.pop()
                return "successful", f"reached a Hopf point at {name}={float(found[-1].value):.10g}"
        if len(rows) >= 2 and self.closed(rows[-2], row):
            return "successful", "returned to its start: a closed family (isola)"
        if not self.lo <= row["p"] <= self.hi:
            return "successful", f"left bounds {self.bounds}"
        if row["T"] > self.period_max:
            self.special.append(
                SpecialPoint(
                    kind="homoclinic",
                    param=(name,),
                    value=jnp.asarray(row["p"]),
                    state=jnp.asarray(row["state"]),
                    params=with_parameter(self.base, name, row["p"]),
                    index=len(rows) - 1,
                    converged=False,
                    period=jnp.asarray(row["T"]),
                    data={"period_max": self.period_max},
                )
            )
            return (
                "successful",
                f"period {row['T']:.4g} > period_max={self.period_max:.4g} (homoclinic approach)",
            )
        if len(rows) > 3 and np.max(row["max"] - row["min"]) < 0.5 * self.amplitude0:
            return "successful", "amplitude shrank to zero (reached a Hopf point)"
        return None

    def prepare(self, row):
        """Step size from the Newton iteration count, new phase reference and (adapt_mesh) a
        mesh equidistributing the new cycle's error estimate."""
        N, m, n = self.N, self.prob.m, self.prob.n
        if len(self.rows) == 1:
            self.step = self.ds
        else:
            it = self.it
            self.step = (
                min(self.ds_max, self.step * 1.3)
                if it <= 4
                else (self.step * 0.7 if it >= 6 else self.step)
            )
        z = row["z"]
        self.z_prev, self.tau_prev = z, row["tau"]
        self.uref = z[:-2].reshape(N, m, n)
        if self.adapt_mesh:
            t_new, _ = equidistribute(self.uref, self.t, N)
            self.z_prev = _remesh(self.z_prev, self.t, t_new, m, n)
            tau = _remesh(self.tau_prev, self.t, t_new, m, n)
            self.tau_prev = tau / np.sqrt(_inner_np(self.prob, tau, tau, t_new))
            self.t = t_new
            self.uref = self.z_prev[:-2].reshape(N, m, n)

    def stats(self) -> CycleStats:
        return CycleStats(
            compile_s=float(self.compile_s or 0.0),
            run_s=float(self.run_s),
            points=len(self.rows),
            rejected=self.rejected,
            newton_iterations=self.iterations,
        )


def _to_branch(rows, base, name, special, message, status, prob, N):
    m, n = prob.m, prob.n
    if not rows:
        # Nothing converged: an empty branch saying why (raised with throw=True).
        empty = np.zeros((0, n))
        return Branch(
            kind="cycle",
            param=(name,),
            values=jnp.zeros((0, 1)),
            states=jnp.asarray(empty),
            eigenvalues=jnp.asarray(empty.astype(complex)),
            stable=jnp.zeros((0,), bool),
            base=base,
            special_points=tuple(special),
            period=jnp.zeros((0,)),
            minima=jnp.asarray(empty),
            maxima=jnp.asarray(empty),
            profiles=jnp.zeros((0, N * m + 1, n)),
            mesh=jnp.zeros((0, N * m + 1)),
            message=f"no cycle converged: {message}",
            status=getattr(RESULTS, "not_converged" if status == "successful" else status),
        )
    times = np.stack(
        [np.concatenate([representation_times(r["t"], m).reshape(-1), [1.0]]) for r in rows]
    )
    profiles = np.stack(
        [np.concatenate([r["z"][:-2].reshape(N * m, n), r["z"][: 1 * n][None]]) for r in rows]
    )
    mults = np.stack([r["mult"] for r in rows]).astype(complex)
    return Branch(
        kind="cycle",
        param=(name,),
        values=jnp.asarray([[r["p"]] for r in rows]),
        states=jnp.asarray(np.stack([r["state"] for r in rows])),
        eigenvalues=jnp.asarray(mults),
        stable=jnp.asarray([r["stable"] for r in rows]),
        base=base,
        special_points=tuple(special),
        period=jnp.asarray([r["T"] for r in rows]),
        minima=jnp.asarray(np.stack([r["min"] for r in rows])),
        maxima=jnp.asarray(np.stack([r["max"] for r in rows])),
        profiles=jnp.asarray(profiles),
        mesh=jnp.asarray(times),
        message=message,
        status=getattr(RESULTS, status),
    )


class Cycle(eqx.Module):
    """One periodic orbit at a fixed parameter value: period, state at phase 0, minima/maxima per
    variable (exact extrema of the collocation polynomial), Floquet multipliers (decreasing
    modulus), stable, profile (M, n) at times mesh (M,) in [0, 1], whether Newton converged, and
    `status` (RESULTS.successful, not_converged or out_of_domain) with its `message`. A cycle
    that was not found carries NaN in place of numbers. `param` names the parameter `value` is
    of (the start of `continue_cycles`).

    Examples
    --------
    >>> import jax; jax.config.update("jax_enable_x64", True)
    >>> import jaxmf
    >>> p = jaxmf.presets.chen_campbell_2022(rounded=True)
    >>> hopf = jaxmf.continue_equilibria(p, "eta_bar", (0.0, 0.3)).special_points[0]
    >>> cyc = jaxmf.cycle_at(p, jaxmf.continue_cycles(p, hopf, "eta_bar", (0.0, 0.3)), 0.12)
    >>> round(float(cyc.period)), bool(cyc.stable), bool(cyc.status == jaxmf.RESULTS.successful)
    (227, True, True)
    """

    value: jax.Array
    period: jax.Array
    state: jax.Array
    minima: jax.Array
    maxima: jax.Array
    multipliers: jax.Array
    stable: jax.Array
    profile: jax.Array
    mesh: jax.Array
    converged: bool = eqx.field(static=True)
    status: Any = eqx.field(default_factory=lambda: RESULTS.successful)
    param: str = eqx.field(static=True, default="")

    @property
    def message(self) -> str:
        return status_message(self.status)


def cycle_at(
    params,
    branch: Branch,
    value: float,
    *,
    ntst: int | None = None,
    ncol: int = 4,
    mesh_iterations: int = 3,
    tol: float = 1e-11,
    vector_field: Callable | None = None,
    near: int | None = None,
    throw: bool = True,
) -> Cycle:
    """The cycle of a branch at a given parameter value. Use it to read off a cycle at a parameter
    value, or, with a larger ntst, to check the discretisation error.

    The cycle is followed along the branch segment whose end points bracket `value` (the one
    holding the branch point nearest `value`, or nearest `near`): pseudo-arclength steps from
    one end towards the other (so a fold between them is followed, not jumped) until the
    parameter passes `value`, regula falsi in the arclength of that step (well conditioned also
    next to a fold or a Hopf point), then Newton at fixed parameter on re-equidistributed
    meshes, which must not move the cycle beyond the discretisation error. Should that fail,
    everything is repeated on a mesh of 2 ntst intervals.

    Parameters
    ----------
    params : Params or dict
        The base parameters (as given to `continue_cycles`).
    branch : Branch
        From `continue_cycles` (same `ncol`).
    value : float
        The parameter value.
    ntst : int, optional
        Mesh intervals (default: the branch's).
    ncol : int, default 4
        Gauss points per interval.
    mesh_iterations : int
        Newton solves after the first, each on a re-equidistributed mesh.
    tol : float
        Newton tolerance (relative step).
    vector_field : callable, optional
        As in `continue_cycles`.
    near : int, optional
        A branch index: where several cycles of the branch have this parameter value (e.g.
        either side of a fold of cycles), the one on the segment nearest this point.
    throw : bool, default True
        Raise `ContinuationError` when no cycle is found.

    Returns
    -------
    Cycle
        Without throw, a failure comes back with NaN period, state, extrema and multipliers and
        status not_converged (Newton failed, or converged off the branch) or out_of_domain
        (`value` outside the range of the branch's parameter values).

    Raises
    ------
    ContinuationError
        With throw: no cycle found; `.result` is the flagged Cycle.
    ParameterError
        An empty branch, a non-finite value, or `near` not a branch index.

    Examples
    --------
    >>> import jaxmf
    >>> p = jaxmf.presets.chen_campbell_2022(rounded=True)
    >>> hopf = jaxmf.continue_equilibria(p, "eta_bar", (0.0, 0.3)).special_points[0]
    >>> branch = jaxmf.continue_cycles(p, hopf, "eta_bar", (0.0, 0.3))
    >>> cyc = jaxmf.cycle_at(p, branch, 0.12)
    >>> round(float(cyc.period)), bool(cyc.stable)
    (227, True)
    """
    f = vector_field or meanfield_vector_field
    name = branch.param[0]
    n = np.shape(branch.states)[-1]
    m = ncol
    values = np.asarray(branch.values)[:, 0]
    if values.size == 0:
        raise ParameterError("branch", "has no cycles")
    value = float(value)
    if not np.isfinite(value):
        raise ParameterError("value", f"must be finite; got {value}")
    if near is not None and not (
        isinstance(near, (int, np.integer)) and -len(values) <= near < len(values)
    ):
        raise ParameterError("near", f"must be a branch index; got {near!r}")
    prob = _Problem(f=f, name=name, m=m, n=n, theta_period=0.0)
    base = with_parameter(params, name, value)
    dtype = np.asarray(branch.profiles).dtype

    def fail(status, message):
        cycle = _failed_cycle(value, n, status, name)
        if throw:
            raise ContinuationError(f"cycle at {name}={value:.10g}: {message}", cycle)
        return cycle

    segment = _bracketing_segment(branch, value, near)
    if segment is None:
        return fail(
            "out_of_domain",
            f"outside the branch's range [{values.min():.10g}, {values.max():.10g}]",
        )
    za, ta = _branch_point(branch, segment[0], m, n)
    zb, tb = _branch_point(branch, segment[1], m, n)
    N0 = ta.shape[0] - 1
    N = ntst or N0
    tries: list[str] = []
    found = None
    for N_try in (N, 2 * N):
        t = ta if N_try == N0 else equidistribute(za[:-2].reshape(N0, m, n), ta, N_try)[0]
        a, b = _remesh(za, ta, t, m, n), _remesh(zb, tb, t, m, n)
        solved = _solve_on_segment(prob, base, a, b, t, value, tol, mesh_iterations, dtype)
        if isinstance(solved, str):
            tries.append(f"ntst={N_try}: {solved} (tol={tol:g})")
            if "branch point itself" in solved:
                break  # the known cycle does not converge: a tolerance, not a mesh, problem
            continue
        why = _off_walk(prob, solved[0], solved[1], solved[4], t)
        if not why:
            found = solved
            break
        tries.append(f"ntst={N_try}: converged to another cycle ({why})")
    if found is None:
        return fail("not_converged", "; ".join(tries))
    z, t, mult, logmod, _ = found
    return _make_cycle(z, t, mult, logmod, m, n, name)


def _make_cycle(z, t, mult, logmod, m, n, name) -> Cycle:
    """A converged `Cycle` from the unknowns z on mesh t and its multipliers."""
    U = z[:-2].reshape(t.shape[0] - 1, m, n)
    lo, hi = _extrema(U, t)
    others = _nontrivial_index(mult)
    return Cycle(
        value=jnp.asarray(z[-1]),
        period=jnp.asarray(z[-2]),
        state=jnp.asarray(U[0, 0]),
        minima=jnp.asarray(lo),
        maxima=jnp.asarray(hi),
        multipliers=jnp.asarray(mult),
        stable=jnp.asarray(bool(np.all(logmod[others] < 0))),
        profile=jnp.asarray(np.concatenate([U.reshape(-1, n), U[:1, 0]])),
        mesh=jnp.asarray(np.concatenate([representation_times(t, m).reshape(-1), [1.0]])),
        converged=True,
        status=RESULTS.successful,
        param=name,
    )


def _failed_cycle(value, n, status, name) -> Cycle:
    """A `Cycle` that was not found: NaN numbers, no profile, the status."""
    nan = np.full(n, np.nan)
    return Cycle(
        value=jnp.asarray(value),
        period=jnp.asarray(np.nan),
        state=jnp.asarray(nan),
        minima=jnp.asarray(nan),
        maxima=jnp.asarray(nan),
        multipliers=jnp.asarray(np.full(n, np.nan + 0j)),
        stable=jnp.asarray(False),
        profile=jnp.zeros((0, n)),
        mesh=jnp.zeros((0,)),
        converged=False,
        status=getattr(RESULTS, status),
        param=name,
    )


def _bracketing_segment(branch: Branch, value: float, near: int | None):
    """(i, i + 1) of the branch segment whose parameter range holds `value`, the one starting
    nearest branch index `near` or, without it, the one holding the point nearest `value`;
    (0, 0) for a one-point branch at exactly `value`; None when no segment holds it. A
    segment with a fold of cycles ('lpc' special point) between its ends reaches the fold."""
    values = np.asarray(branch.values)[:, 0]
    if values.size == 1:
        return (0, 0) if values[0] == value else None
    lo = np.minimum(values[:-1], values[1:])
    hi = np.maximum(values[:-1], values[1:])
    for sp in branch.special_points:
        if sp.kind == "lpc" and sp.converged and 1 <= sp.index < values.size:
            fold = float(np.asarray(sp.value).reshape(-1)[0])
            lo[sp.index - 1] = min(lo[sp.index - 1], fold)
            hi[sp.index - 1] = max(hi[sp.index - 1], fold)
    inside = np.flatnonzero((lo <= value) & (value <= hi))
    if inside.size == 0:
        return None
    if near is not None:
        key = np.abs(inside + 0.25 - (near % values.size))
    else:
        key = np.minimum(np.abs(values[inside] - value), np.abs(values[inside + 1] - value))
    i = int(inside[np.argmin(key)])
    return i, i + 1


def _branch_point(branch: Branch, i: int, m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The unknowns z = (profile values, T, p) and the mesh of branch point i."""
    times = np.asarray(branch.mesh[i])
    t = np.concatenate([times[:-1:m], [1.0]])
    z = np.concatenate(
        [
            np.asarray(branch.profiles[i])[:-1].reshape(-1),
            [float(branch.period[i]), float(branch.values[i, 0])],
        ]
    )
    return z, t


def _fixed_parameter(prob, base, z, t, value, tol, dtype):
    """Newton at parameter `value` from z (phase relative to z)."""
    N, m, n = t.shape[0] - 1, prob.m, prob.n
    e_p = np.zeros(z.shape[0])
    e_p[-1] = 1.0
    out = _correct(
        prob,
        jnp.asarray(z, dtype),
        jnp.asarray(z, dtype),
        jnp.asarray(e_p, dtype),
        jnp.asarray(value - z[-1], dtype),
        jnp.asarray(z[:-2].reshape(N, m, n), dtype),
        jnp.asarray(t, dtype),
        base,
        jnp.asarray(tol, dtype),
        jnp.asarray(20, jnp.int32),
    )
    return np.asarray(out[0]), bool(out[1]), np.asarray(out[4]), np.asarray(out[5])


def _arclength_step(prob, base, z, tau, s, t, tol, dtype):
    """Pseudo-arclength correction at distance s from the cycle z along tau (phase relative to
    z): (cycle, tangent, multipliers, log-moduli), or None where Newton fails."""
    N, m, n = t.shape[0] - 1, prob.m, prob.n
    out = _correct(
        prob,
        jnp.asarray(z + s * tau, dtype),
        jnp.asarray(z, dtype),
        jnp.asarray(tau, dtype),
        jnp.asarray(s, dtype),
        jnp.asarray(z[:-2].reshape(N, m, n), dtype),
        jnp.asarray(t, dtype),
        base,
        jnp.asarray(tol, dtype),
        jnp.asarray(20, jnp.int32),
    )
    if not bool(out[1]):
        return None
    return tuple(np.asarray(x) for x in (out[0], out[3], out[4], out[5]))


def _walk(prob, base, a, b, t, value, tol, dtype, steps: int = 8):
    """The cycle at parameter `value` on the branch from cycle a towards cycle b (same mesh t):
    pseudo-arclength steps of a fraction of their distance (so a fold between them is followed,
    not jumped) until the parameter passes `value`, then regula falsi in the arclength of the
    last step. Returns (cycle, multipliers, log-moduli) with |p - value| at rounding level, or
    why not (a string)."""
    d = b - a
    length = np.sqrt(max(_inner_np(prob, d, d, t), 0.0))
    if not np.isfinite(length):
        return "the branch points are not finite"
    if length == 0.0:
        z, ok, mult, logmod = _fixed_parameter(prob, base, a, t, value, tol, dtype)
        return (z, mult, logmod) if ok else "Newton did not converge at the branch point itself"
    # The tangent at a, oriented towards b (a zero step along the secant).
    start = _arclength_step(prob, base, a, d / length, 0.0, t, tol, dtype)
    if start is None:
        return "Newton did not converge at the branch point itself"
    z, tau = start[0], start[1]
    if abs(z[-1] - value) <= 1e-12 * (1 + abs(value)):
        return z, start[2], start[3]
    h, travelled = length / steps, 0.0
    while travelled < 3 * length:
        nxt = _arclength_step(prob, base, z, tau, h, t, tol, dtype)
        if nxt is None:
            h *= 0.5
            if h < 1e-6 * length:
                return "Newton failed along the branch"
            continue
        g0, g1 = z[-1] - value, nxt[0][-1] - value
        if g1 == 0.0:
            return nxt[0], nxt[2], nxt[3]
        if g0 * g1 < 0:

            def evaluate(s, z0=z, tau0=tau):
                out = _arclength_step(prob, base, z0, tau0, s, t, tol, dtype)
                return (np.nan, None) if out is None else (out[0][-1] - value, out)

            best, g = regula_falsi(evaluate, g0, g1, a=0.0, b=h, x_tol=1e-13 * h, max_iter=60)
            if best is None or not abs(g) <= 1e-12 * (1 + abs(value)):
                return "Newton failed along the branch"
            return best[0], best[2], best[3]
        z, tau = nxt[0], nxt[1]
        travelled += h
    return "the parameter value was not reached along the branch"


def _solve_on_segment(prob, base, a, b, t, value, tol, mesh_iterations, dtype):
    """The cycle at `value` on the branch from a to b (mesh t), then mesh iterations (Newton at
    fixed parameter on re-equidistributed meshes). Next to a fold or a Hopf point the
    fixed-parameter problem is ill conditioned while the arclength one is not: where Newton at
    fixed parameter fails on the first mesh, the arclength solution (its parameter at rounding
    level from `value`) is the answer; a later mesh that fails keeps the previous one.
    Returns (z, t, multipliers, log-moduli, z on the walk) or why not (a string)."""
    m, n = prob.m, prob.n
    N = t.shape[0] - 1
    # Beyond both ends (towards a fold between them) the parameter turns inside the segment:
    # shorter steps, so that both crossings of `value` are seen.
    beyond = not min(a[-1], b[-1]) <= value <= max(a[-1], b[-1])
    walked = _walk(prob, base, a, b, t, value, tol, dtype, steps=32 if beyond else 8)
    if isinstance(walked, str):
        return walked
    z, mult, logmod = walked
    z_walk = z
    for k in range(mesh_iterations + 1):
        if k > 0:
            t_new, _ = equidistribute(z[:-2].reshape(N, m, n), t, N)
            z_try, t_try = _remesh(z, t, t_new, m, n), t_new
        else:
            z_try, t_try = z, t
        z_new, ok, mult_new, logmod_new = _fixed_parameter(
            prob, base, z_try, t_try, value, tol, dtype
        )
        if not ok:
            if k == 0:
                continue
            break
        z, t, mult, logmod = z_new, t_try, mult_new, logmod_new
    return z, t, mult, logmod, z_walk


def _off_walk(prob, z, t, z_walk, t_walk) -> str:
    """Why the final cycle z (mesh t) is not the one found along the branch, z_walk (mesh
    t_walk), or '' (the mesh iterations change it by the discretisation error only)."""
    m, n = prob.m, prob.n
    T = z[-2]
    if not (np.isfinite(T) and T > 0 and np.all(np.isfinite(z))):
        return f"period {T:.6g}"
    if abs(T - z_walk[-2]) > 1e-3 * z_walk[-2]:
        return f"period {T:.10g} moved from {z_walk[-2]:.10g} on the mesh iterations"
    w = _remesh(z_walk, t_walk, t, m, n)
    d = z - w
    d[-2] = 0.0
    dist = np.sqrt(max(_inner_np(prob, d, d, t), 0.0))
    scale = np.sqrt(max(_inner_np(prob, w, w, t), 0.0))
    if dist > 1e-2 * scale:
        return f"profile moved by {dist:.3g} (size {scale:.3g}) on the mesh iterations"
    return ""


def _extrema(U: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact minima and maxima per variable of the collocation polynomial (mesh t, values U
    (N, m, n)): on each interval, the roots of its derivative (companion eigenvalues, then two
    Newton steps) and the interval's ends."""
    N, m, n = U.shape
    uloc = np.concatenate([U, np.roll(U, -1, axis=0)[:, :1]], axis=1)  # (N, m + 1, n)
    coef = np.einsum("ik,jkn->jni", _monomial(m), uloc)  # local polynomial, increasing powers
    lo, hi = uloc.min(axis=(0, 1)), uloc.max(axis=(0, 1))
    if m < 2:
        return lo, hi
    dcoef = coef[..., 1:] * np.arange(1, m + 1)  # derivative, degree m - 1
    lead = dcoef[..., -1]
    size = np.max(np.abs(dcoef), axis=-1)
    usable = np.abs(lead) > 1e-14 * size
    safe = np.where(usable, lead, 1.0)[..., None]
    k = m - 1
    comp = np.zeros((N, n, k, k))
    comp[..., 0, :] = -dcoef[..., -2::-1] / safe
    if k > 1:
        comp[..., np.arange(1, k), np.arange(k - 1)] = 1.0
    roots = np.linalg.eigvals(comp)  # (N, n, k)
    keep = usable[..., None] & (np.abs(roots.imag) < 1e-6) & (roots.real > -1e-3)
    keep &= roots.real < 1 + 1e-3
    s = np.clip(roots.real, 0.0, 1.0)
    powers = np.arange(m + 1)
    for _ in range(2):
        d1 = np.einsum("jni,jnri->jnr", dcoef, s[..., None] ** powers[None, None, None, :m])
        d2 = np.einsum(
            "jni,jnri->jnr",
            dcoef[..., 1:] * np.arange(1, m),
            s[..., None] ** powers[None, None, None, : m - 1],
        )
        step = np.where(np.abs(d2) > 0, d1 / np.where(d2 == 0, 1.0, d2), 0.0)
        s = np.clip(s - step, 0.0, 1.0)
    vals = np.einsum("jni,jnri->jnr", coef, s[..., None] ** powers)
    lo = np.minimum(lo, np.min(np.where(keep, vals, np.inf), axis=(0, 2)))
    hi = np.maximum(hi, np.max(np.where(keep, vals, -np.inf), axis=(0, 2)))
    return lo, hi


@functools.cache
def _monomial(m: int) -> np.ndarray:
    """Matrix taking the values at the m + 1 equally spaced local points to the coefficients
    of the local polynomial in increasing powers of s in [0, 1]."""
    z = np.arange(m + 1) / m
    return np.linalg.inv(np.vander(z, m + 1, increasing=True))


def _start_mesh(cycle: Cycle, N: int, m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The unknowns and mesh of a `Cycle` (collocation degree m), on N intervals."""
    times = np.asarray(cycle.mesh)
    profile = np.asarray(cycle.profile)
    if times.size < 2 or (times.shape[0] - 1) % m:
        raise ParameterError("cycle", f"needs a converged cycle of collocation degree ncol={m}")
    t = np.concatenate([times[:-1:m], [1.0]])
    z = np.concatenate([profile[:-1].reshape(-1), [float(cycle.period), float(cycle.value)]])
    N0 = t.shape[0] - 1
    if N0 != N:
        t_new, _ = equidistribute(z[:-2].reshape(N0, m, n), t, N)
        z, t = _remesh(z, t, t_new, m, n), t_new
    return z, t


def _continue_from_cycle(params, cycle: Cycle, name: str, bounds, *, f, **options):
    """`continue_cycles` from a `Cycle`: both directions joined, or once round a closed family."""
    if not cycle.converged or not np.isfinite(float(cycle.period)):
        raise ParameterError("cycle", f"is not a converged cycle ({cycle.message})")
    ntst, ncol = options["ntst"], options["ncol"]
    n = int(np.shape(cycle.state)[-1])
    p0 = float(cycle.value)
    base = with_parameter(params, name, p0)
    prob = _Problem(f=f, name=name, m=ncol, n=n, theta_period=float(options["theta_period"]))
    z0, t0 = _start_mesh(cycle, ntst, ncol, n)
    lo, hi = (-np.inf, np.inf) if bounds is None else (float(min(bounds)), float(max(bounds)))
    progress = options["progress"]

    def tracer(direction):
        return _CycleTracer(
            prob,
            base,
            ntst,
            bounds=bounds,
            lo=lo,
            hi=hi,
            ds=options["ds"],
            ds_min=options["ds_min"],
            ds_max=options["ds_max"],
            max_points=options["max_points"],
            amplitude0=options["amplitude0"],
            adapt_mesh=options["adapt_mesh"],
            tol=options["tol"],
            max_iter=options["max_iter"],
            detect=options["detect"],
            period_max=(
                25 * float(cycle.period) if options["period_max"] is None else options["period_max"]
            ),
            progress=Progress(
                f"cycles in {name} from the cycle at {p0:.6g} ({'+' if direction > 0 else '-'})",
                options["max_points"],
                enabled=progress,
                unit=" points",
            ),
        )

    up = tracer(1.0)
    status_up, message_up = up.trace_from(z0, t0, 1.0)
    if "closed family" in message_up or not up.rows:
        rows, special, status, message = up.rows, up.special, status_up, message_up
        tracers = [up]
    else:
        down = tracer(-1.0)
        status_down, message_down = down.trace_from(z0, t0, -1.0)
        if "closed family" in message_down:
            rows, special, status, message = down.rows, down.special, status_down, message_down
        else:
            rows, special = _join(down.rows, down.special, up.rows, up.special)
            order = ("not_converged", "max_steps_reached", "out_of_domain", "successful")
            status = min((status_down, status_up), key=order.index)
            message = f"decreasing {name}: {message_down}; increasing {name}: {message_up}"
        tracers = [up, down]
    branch = _to_branch(rows, base, name, special, message, status, prob, ntst)
    if options["throw"] and (status == "not_converged" or not rows):
        raise ContinuationError(
            f"cycles in {name} from the cycle at {p0:.10g}: "
            f"{branch.message}; the branch so far is in .result",
            branch,
        )
    if options["return_stats"]:
        stats = [tr.stats() for tr in tracers]
        return branch, CycleStats(
            compile_s=stats[0].compile_s,
            run_s=sum(s.run_s for s in stats),
            points=len(rows),
            rejected=sum(s.rejected for s in stats),
            newton_iterations=sum(s.newton_iterations for s in stats),
        )
    return branch


def _join(rows_down, special_down, rows_up, special_up):
    """One branch from two half-branches that start at the same cycle: the first reversed,
    then the second without its start; special points re-indexed (a fold, flip or torus
    between rows k - 1 and k keeps that meaning)."""
    L = len(rows_down)
    rows = rows_down[::-1] + rows_up[1:]
    special = []
    for sp in special_down[::-1]:
        between = sp.kind in ("lpc", "pd", "ns")
        special.append(dataclasses.replace(sp, index=L - sp.index if between else L - 1 - sp.index))
    for sp in special_up:
        special.append(dataclasses.replace(sp, index=L - 1 + sp.index))
    return rows, special


def _flat_trajectory(y) -> np.ndarray:
    """(M, n) states from an array or a mean-field trajectory (fields r, v, w, s of (M, P))."""
    if all(hasattr(y, k) for k in ("r", "v", "w", "s")):
        return np.concatenate([np.asarray(getattr(y, k)).reshape(len(y.r), -1) for k in "rvws"], 1)
    Y = np.asarray(y, float)
    if Y.ndim == 1:
        Y = Y[:, None]
    return Y


def cycle_from_trajectory(
    params,
    t,
    y,
    param: str = "eta_bar",
    *,
    ntst: int = 300,
    ncol: int = 4,
    mesh_iterations: int = 3,
    closeness: float = 1e-2,
    tol: float = 1e-11,
    vector_field: Callable | None = None,
    throw: bool = True,
) -> Cycle:
    """The periodic orbit a simulated trajectory has converged to, solved by collocation: one
    period is read off the end of the trajectory (the last return to its final state), put on
    a mesh equidistributing its arclength, and Newton at fixed parameter polishes it on
    re-equidistributed meshes. Start `continue_cycles` from the result to follow its family,
    also one connected to no Hopf point (an isola).

    Parameters
    ----------
    params : Params or dict
        The parameters the trajectory was simulated at (a dict of scalars with
        `vector_field`).
    t : Array
        (M,) increasing times.
    y : Array or MeanFieldResult
        (M, n) flat states, or a mean-field trajectory (`solve_meanfield`'s result).
    param : str
        The parameter the cycle is labelled with (for continuation).
    ntst, ncol : int
        The collocation mesh.
    mesh_iterations : int
        Newton solves after the first, each on a re-equidistributed mesh.
    closeness : float
        How near (relative to the trajectory's range per variable, max-norm) the trajectory
        must come back to its final state.
    tol : float
        Newton tolerance.
    vector_field : callable, optional
        f(x, params) (default the mean field).
    throw : bool, default True
        Raise `ContinuationError` when no cycle is found.

    Returns
    -------
    Cycle
        Status not_converged and NaN numbers without throw when the trajectory does not return
        to its final state, or Newton fails or lands away from it.

    Raises
    ------
    ContinuationError
        With throw: no cycle found; `.result` is the flagged Cycle.
    ParameterError
        t and y do not match, or t is not increasing.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> import jaxmf
    >>> p = jaxmf.presets.chen_campbell_2022(rounded=True, a=0.0215, eta_bar=0.041)
    >>> sol = jaxmf.solve_meanfield(p, t1=3000.0, ts=jnp.arange(1500.0, 3000.0, 0.1))
    >>> cycle = jaxmf.cycle_from_trajectory(p, sol.t, sol)
    >>> branch = jaxmf.continue_cycles(p, cycle, "eta_bar", (0.0, 0.1))
    """
    f = vector_field or meanfield_vector_field
    t = np.asarray(t, float).reshape(-1)
    Y = _flat_trajectory(y)
    if Y.shape[0] != t.shape[0] or t.shape[0] < 8 or not np.all(np.diff(t) > 0):
        raise ParameterError(
            "t", f"need >= 8 increasing times matching y; got t {t.shape}, y {Y.shape}"
        )
    if ntst < 4 or ncol < 2:
        raise ParameterError("ntst", f"need ntst >= 4 and ncol >= 2; got {ntst}, {ncol}")
    n, m = Y.shape[1], ncol
    value = float(np.asarray(parameter_value(params, param)).reshape(-1)[0])

    def fail(message):
        cycle = _failed_cycle(value, n, "not_converged", param)
        if throw:
            raise ContinuationError(
                f"cycle from the trajectory at {param}={value:.10g}: {message}", cycle
            )
        return cycle

    span = Y.max(0) - Y.min(0)
    scale = np.where(span > 0, span, 1.0)
    dist = np.max(np.abs(Y - Y[-1]) / scale, axis=1)
    # Back from the end: leave the final state's neighbourhood, then find the last return.
    away = np.flatnonzero(dist > 10 * closeness)
    if away.size == 0:
        return fail("the trajectory does not move (an equilibrium?)")
    before = np.flatnonzero(dist[: away[-1]] <= closeness)
    if before.size == 0:
        return fail(f"it does not come back within closeness={closeness:g} of its final state")
    last = before[-1]
    run = last
    while run > 0 and dist[run - 1] <= closeness:
        run -= 1
    i0 = run + int(np.argmin(dist[run : last + 1]))
    T0 = t[-1] - t[i0]
    seg_t, seg_y = (t[i0:] - t[i0]) / T0, Y[i0:]
    # Mesh: equal shares of the (scaled) arclength and of time.
    step = np.max(np.abs(np.diff(seg_y, axis=0)) / scale, axis=1)
    cum = np.concatenate([[0.0], np.cumsum(step + np.mean(step) * 0.2)])
    mesh = np.interp(np.linspace(0.0, cum[-1], ntst + 1), cum, seg_t)
    mesh[0], mesh[-1] = 0.0, 1.0
    s = representation_times(mesh, m).reshape(-1)
    U = np.stack([np.interp(s, seg_t, seg_y[:, k]) for k in range(n)], axis=1)
    z = np.concatenate([U.reshape(-1), [T0, value]])
    prob = _Problem(f=f, name=param, m=m, n=n, theta_period=0.0)
    base = with_parameter(params, param, value)
    dtype = np.float64 if jax.config.read("jax_enable_x64") else np.float32
    z, ok, mult, logmod = _fixed_parameter(prob, base, z, mesh, value, tol, dtype)
    if not ok:
        return fail(f"Newton did not converge from the period of length {T0:.6g} (tol={tol:g})")
    for _ in range(mesh_iterations):
        t_new, _ = equidistribute(z[:-2].reshape(ntst, m, n), mesh, ntst)
        z_new, ok, mult_new, logmod_new = _fixed_parameter(
            prob, base, _remesh(z, mesh, t_new, m, n), t_new, value, tol, dtype
        )
        if not ok:
            break
        z, mesh, mult, logmod = z_new, t_new, mult_new, logmod_new
    U = z[:-2].reshape(ntst, m, n)
    size = np.max((U.max((0, 1)) - U.min((0, 1))) / scale)
    if not (np.isfinite(z[-2]) and abs(z[-2] - T0) <= 0.1 * T0 and size > 0.5):
        return fail(
            f"Newton went from the trajectory's period {T0:.6g} to {z[-2]:.6g} "
            f"(range {size:.3g} of the trajectory's)"
        )
    return _make_cycle(z, mesh, mult, logmod, m, n, param)


def _nontrivial_index(mult):
    return np.delete(np.arange(len(mult)), int(np.argmin(np.abs(mult - 1))))


def _critical(row, kind):
    """Test function of a crossing: log|mu| of the non-trivial multiplier of the given type
    nearest the unit circle."""
    mu = row["nontrivial"]
    lm = np.log(np.abs(mu) + 1e-300)
    if kind == "pd":
        sel = (np.abs(mu.imag) <= 1e-8 * np.abs(mu)) & (mu.real < 0)
    else:
        sel = np.abs(mu.imag) > 1e-8 * np.abs(mu)
    if not np.any(sel):
        return np.nan, np.nan + 0j
    i = np.flatnonzero(sel)[np.argmin(np.abs(lm[sel]))]
    return float(lm[i]), complex(mu[i])


def _detect(prob, rows, base, name, correct, m, n, N):
    """Folds (LPC), flips (PD) and tori (NS) between the last two rows, each located by regula
    falsi in the arclength from the previous row (every trial point corrected); a fold at zero
    amplitude is the Hopf point where the family ends."""
    prev, cur = rows[-2], rows[-1]
    found = []
    index = len(rows) - 1

    def make(kind, out, mult=np.nan + 0j, data=None):
        z, tau_, mu, logmod = out
        U = z[:-2].reshape(N, m, n)
        return SpecialPoint(
            kind=kind,
            param=(name,),
            value=jnp.asarray(z[-1]),
            state=jnp.asarray(U[0, 0]),
            params=with_parameter(base, name, z[-1]),
            index=index,
            converged=True,
            period=jnp.asarray(z[-2]),
            multiplier=jnp.asarray(complex(mult)),
            data=data or {},
        )

    def from_prev(s):
        uref = prev["z"][:-2].reshape(N, m, n)
        z, ok, it, tau_, mult, logmod = correct(prev["z"], prev["tau"], s, uref, prev["t"])
        return (z, tau_, mult, logmod) if ok else None

    tp0, tp1 = prev["tau"][-1], cur["tau"][-1]
    if tp0 * tp1 < 0:

        def fold_test(s):
            out = from_prev(s)
            return (np.nan, None) if out is None else (float(out[1][-1]), out)

        # p is quadratic in s near the fold, so s to 1e-6 gives p to ~1e-10.
        out, _ = regula_falsi(
            fold_test, tp0, tp1, b=cur["ds"], x_tol=1e-7 * max(cur["ds"], 1e-12), max_iter=30
        )
        amp_max = max(_amplitude(r["z"], N, m, n) for r in rows)
        if out is not None and _amplitude(out[0], N, m, n) < 1e-3 * amp_max:
            # A turning point at zero amplitude is not a fold of cycles: the family shrank
            # onto an equilibrium at a Hopf point.
            z = out[0]
            x = z[:-2].reshape(N, m, n)[:, 0].mean(0)
            found.append(
                SpecialPoint(
                    kind="hopf",
                    param=(name,),
                    value=jnp.asarray(z[-1]),
                    state=jnp.asarray(x),
                    params=with_parameter(base, name, z[-1]),
                    index=index - 1,
                    converged=True,
                    period=jnp.asarray(z[-2]),
                    frequency=jnp.asarray(2 * np.pi / z[-2]),
                    data={"arrival": True},
                )
            )
            return found
        if out is not None:
            found.append(make("lpc", out, 1.0 + 0j, {"tangent_p": float(out[1][-1])}))
        else:
            found.append(
                SpecialPoint(
                    kind="lpc",
                    param=(name,),
                    value=jnp.asarray(cur["p"]),
                    state=jnp.asarray(cur["state"]),
                    params=with_parameter(base, name, cur["p"]),
                    index=index,
                    converged=False,
                    period=jnp.asarray(cur["T"]),
                )
            )
    if prev["unstable"] != cur["unstable"]:
        for kind in ("pd", "ns"):
            g0, _ = _critical(prev, kind)
            g1, _ = _critical(cur, kind)
            if not (np.isfinite(g0) and np.isfinite(g1) and g0 * g1 < 0):
                continue

            def multiplier_test(s, kind=kind):
                out = from_prev(s)
                if out is None:
                    return np.nan, None
                row = dict(nontrivial=_nontrivial(out[2]))
                return _critical(row, kind)[0], out

            out, _ = regula_falsi(
                multiplier_test, g0, g1, b=cur["ds"], x_tol=1e-6 * cur["ds"], max_iter=30
            )
            if out is None:
                continue
            mu = _critical(dict(nontrivial=_nontrivial(out[2])), kind)[1]
            found.append(make(kind, out, mu))
    return found


def _correlation(prob, za, zb, t):
    """Correlation of the two profiles' deviations from their means (same mesh t)."""
    N = t.shape[0] - 1

    def dev(z):
        U = z[:-2].reshape(N, prob.m, prob.n)
        mean = np.einsum("j,jkn->n", np.diff(t), U) / prob.m
        return np.concatenate([(U - mean).reshape(-1), [0.0, 0.0]])

    a, b = dev(za), dev(zb)
    return _inner_np(prob, a, b, t) / np.sqrt(_inner_np(prob, a, a, t) * _inner_np(prob, b, b, t))


def _arrival(prev, cur, base, name, f, N, m, n, index):
    """Hopf point between two cycles on either side of zero amplitude: p = p_H + c A^2 through both,
    then Newton (`locate_hopf`) from there."""
    a0, a1 = _amplitude(prev["z"], N, m, n), _amplitude(cur["z"], N, m, n)
    c = (prev["p"] - cur["p"]) / (a0**2 - a1**2) if a0 != a1 else 0.0
    p_h = prev["p"] - c * a0**2
    c_t = (prev["T"] - cur["T"]) / (a0**2 - a1**2) if a0 != a1 else 0.0
    t_h = prev["T"] - c_t * a0**2
    x = prev["z"][:-2].reshape(N, m, n)[:, 0].mean(0)
    hp = locate_hopf(
        with_parameter(base, name, p_h),
        name,
        x,
        vector_field=f,
        frequency=2 * np.pi / t_h,
        throw=False,
    )
    if hp.converged and abs(float(hp.value) - p_h) < 10 * abs(cur["p"] - prev["p"]) + 1e-8:
        return SpecialPoint(
            kind="hopf",
            param=(name,),
            value=hp.value,
            state=hp.state,
            params=hp.params,
            index=index,
            converged=True,
            frequency=hp.frequency,
            period=2 * np.pi / hp.frequency,
            first_lyapunov=hp.first_lyapunov,
            data={"arrival": True},
        )
    # Newton failed or wandered off: keep the estimate, flagged.
    return SpecialPoint(
        kind="hopf",
        param=(name,),
        value=jnp.asarray(p_h),
        state=jnp.asarray(x),
        params=with_parameter(base, name, p_h),
        index=index,
        converged=False,
        frequency=jnp.asarray(2 * np.pi / t_h),
        period=jnp.asarray(t_h),
        data={"arrival": True},
    )


def _amplitude(z, N, m, n):
    U = z[:-2].reshape(N, m, n)
    return float(np.max(U.max((0, 1)) - U.min((0, 1))))


def _nontrivial(mult):
    i = int(np.argmin(np.abs(mult - 1)))
    return np.delete(mult, i)
