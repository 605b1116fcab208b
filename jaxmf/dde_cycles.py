"""Periodic orbits of delay-differential equations: collocation, Floquet multipliers, continuation.

A periodic orbit y(t) = y(t + T) of y' = f(t, y(t), y(t - tau_1), ..., y(t - tau_K), args) (the
vector-field form of `jaxmf.dde.solve_dde`, autonomous: t is passed as 0) is computed in scaled
time s = t / T on [0, 1] by orthogonal collocation, as in DDE-BIFTOOL (Engelborghs, Luzyanina,
Samaey & Roose 2001) and AUTO for ODEs: the profile is a continuous piecewise polynomial of degree
`ncol` on `ntst` equal intervals (values at `ncol + 1` equally spaced nodes per interval, the last
node of the period identified with the first), and

    p'(s_c) = T f(p(s_c), p(s_c - tau_1 / T), ..., p(s_c - tau_K / T))

holds at the `ncol` Gauss-Legendre points s_c of every interval, the delayed values read from the
periodic profile itself (s - tau/T taken modulo 1). One integral phase condition against a
reference profile, int_0^1 <p(s), p_ref'(s)> ds = 0, fixes the time shift. Newton's method runs on
the dense Jacobian (jax.jacfwd).

Floquet multipliers are the eigenvalues of the monodromy operator, which maps a perturbation of
the solution on [-tau_max, 0] to the perturbed solution on [T - tau_max, T]. It is discretised on
the same collocation mesh extended backwards over the delay interval (the history mesh is the
period's last intervals shifted by one period, so the map is square): the linearised collocation
equations on [0, 1] express the perturbation on (0, 1] through the history values; the values on
the final stretch are the image. One multiplier is 1 (the orbit's phase); the orbit is stable
when every other has modulus < 1.

`continue_dde_cycles` follows a branch of orbits in one parameter by pseudo-arclength
continuation, detects folds of cycles (turning points), period doublings (a real multiplier
through -1) and torus (Neimark-Sacker) bifurcations (a complex pair through the unit circle), and
refines each by the secant method on the arclength.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._newton import dense_step, newton, regula_falsi
from ._results import RESULTS, NumericalError
from .params import ParameterError, check_positive, check_whole

__all__ = [
    "DDECycle",
    "DDECycleBranch",
    "DDESpecialPoint",
    "dde_cycle",
    "dde_cycle_from_solution",
    "dde_multipliers",
    "continue_dde_cycles",
]


class DDECycle(eqx.Module):
    """A periodic orbit of a DDE on its collocation mesh.

    Attributes
    ----------
    nodes : jax.Array
        (ntst * ncol, n) the profile at the mesh nodes s = (j + i / ncol) / ntst, j < ntst,
        i < ncol, in scaled time (s = 1 is s = 0 again).
    period : jax.Array
        The period T.
    multipliers : numpy.ndarray
        The Floquet multipliers of largest modulus (complex, by decreasing modulus).
    status : RESULTS
        successful, or not_converged when Newton's method did not converge.
    residual : float
        The largest collocation residual at the end.
    ntst, ncol : int
        Mesh intervals and the polynomial degree (static).

    Examples
    --------
    A rotation read from the past, y' = J R(tau) y(t - tau) + (1 - |y|^2) y, has the unit circle
    as its orbit, of period 2 pi, for any delay tau:

    >>> import jax; jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp
    >>> from jaxmf.dde_cycles import dde_cycle
    >>> def f(t, y, lag, tau):
    ...     c, s = jnp.cos(tau), jnp.sin(tau)
    ...     yd = lag[0]
    ...     rot = jnp.stack([-(s * yd[0] + c * yd[1]), c * yd[0] - s * yd[1]])
    ...     return rot + (1.0 - y @ y) * y
    >>> guess = lambda s: jnp.stack([1.1 * jnp.cos(2 * jnp.pi * s), jnp.sin(2 * jnp.pi * s)], -1)
    >>> cyc = dde_cycle(f, guess, 6.0, jnp.array([1.0]), args=1.0, ntst=20)
    >>> round(float(cyc.period), 6), round(float(jnp.max(jnp.abs(cyc.nodes))), 6)
    (6.283185, 1.0)
    """

    nodes: jax.Array
    period: jax.Array
    multipliers: np.ndarray
    status: Any
    residual: float
    ntst: int = eqx.field(static=True)
    ncol: int = eqx.field(static=True)

    @property
    def stable(self) -> bool:
        """Whether every multiplier but the trivial one (the closest to 1) has modulus < 1.

        Returns
        -------
        bool
            True for an orbitally stable cycle.
        """
        return bool(np.all(np.abs(_nontrivial(self.multipliers)) < 1.0))

    def __call__(self, t) -> jax.Array:
        """The orbit at times t (any real t: the profile repeats with the period).

        Parameters
        ----------
        t : array_like
            Times.

        Returns
        -------
        jax.Array
            (..., n) the states.
        """
        s = jnp.asarray(t) / self.period
        return jax.vmap(lambda u: _periodic_eval(self.nodes, u, self.ntst, self.ncol))(
            jnp.ravel(s)
        ).reshape(*jnp.shape(s), -1)


class DDESpecialPoint(NamedTuple):
    """A bifurcation of cycles on a `DDECycleBranch`.

    Attributes
    ----------
    kind : str
        'lpc' (fold of cycles), 'pd' (period doubling) or 'ns' (torus, Neimark-Sacker).
    parameter : float
        The parameter value.
    period : float
        The cycle's period there.
    multipliers : numpy.ndarray
        The multipliers there (by decreasing modulus).
    index : int
        The branch point after which it lies.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.dde_cycles import DDESpecialPoint
    >>> sp = DDESpecialPoint("ns", 9.0213, 12.295, np.array([0.98 + 0.19j, 0.98 - 0.19j]), 41)
    >>> sp.kind, round(float(abs(sp.multipliers[0])), 2)
    ('ns', 1.0)
    """

    kind: str
    parameter: float
    period: float
    multipliers: np.ndarray
    index: int  # type: ignore[assignment]  # shadows tuple.index, as ParameterAddress does


class DDECycleBranch(NamedTuple):
    """A branch of periodic orbits of a DDE, from `continue_dde_cycles`.

    Attributes
    ----------
    parameter : numpy.ndarray
        (N,) the continuation parameter.
    period : numpy.ndarray
        (N,) periods.
    maximum, minimum : numpy.ndarray
        (N, n) each component's largest and smallest value on the mesh nodes.
    multipliers : numpy.ndarray
        (N, k) the k largest multipliers (complex).
    stable : numpy.ndarray
        (N,) orbital stability.
    cycles : list of DDECycle
        The orbits.
    special_points : list of DDESpecialPoint
        Folds, period doublings and torus bifurcations, refined.
    status : RESULTS
        successful, or not_converged when the continuation stopped before the bound.

    Examples
    --------
    See `continue_dde_cycles`, which makes it; its fields are arrays along the branch:

    >>> import numpy as np
    >>> from jaxmf._results import RESULTS
    >>> from jaxmf.dde_cycles import DDECycleBranch
    >>> b = DDECycleBranch(np.array([0.0, 0.1]), np.array([6.28, 6.3]), np.ones((2, 1)),
    ...                    -np.ones((2, 1)), np.zeros((2, 0), complex), np.array([True, True]),
    ...                    [], [], RESULTS.successful)
    >>> len(b.parameter), bool(b.stable.all())
    (2, True)
    """

    parameter: np.ndarray
    period: np.ndarray
    maximum: np.ndarray
    minimum: np.ndarray
    multipliers: np.ndarray
    stable: np.ndarray
    cycles: list
    special_points: list
    status: Any


def _nontrivial(mult: np.ndarray) -> np.ndarray:
    mult = np.asarray(mult)
    if mult.size == 0:
        return mult
    return np.delete(mult, int(np.argmin(np.abs(mult - 1.0))))


def _lagrange(xi, m: int):
    """Values of the m + 1 Lagrange polynomials on the equally spaced nodes i / m at xi."""
    nodes = np.arange(m + 1) / m
    rows = []
    for i in range(m + 1):
        term = jnp.ones_like(xi)
        for j in range(m + 1):
            if j != i:
                term = term * (xi - nodes[j]) / (nodes[i] - nodes[j])
        rows.append(term)
    return jnp.stack(rows, -1)


def _basis_tables(m: int):
    """Gauss-Legendre points and weights on [0, 1], and the Lagrange values and derivatives
    there ((m, m + 1) each), in float64 numpy."""
    x, w = np.polynomial.legendre.leggauss(m)
    xc, wc = (x + 1) / 2, w / 2
    nodes = np.arange(m + 1) / m
    values = np.ones((m, m + 1))
    derivs = np.zeros((m, m + 1))
    for i in range(m + 1):
        others = [j for j in range(m + 1) if j != i]
        denom = np.prod([nodes[i] - nodes[j] for j in others])
        values[:, i] = np.prod([xc - nodes[j] for j in others], axis=0) / denom
        for skip in others:
            rest = [j for j in others if j != skip]
            derivs[:, i] += np.prod([xc - nodes[j] for j in rest], axis=0) / denom
    return xc, wc, values, derivs


def _periodic_eval(nodes, s, ntst: int, m: int):
    s = s - jnp.floor(s)
    x = s * ntst
    jf = jnp.clip(jnp.floor(x), 0, ntst - 1)
    idx = (jf.astype(jnp.int32) * m + jnp.arange(m + 1, dtype=jnp.int32)) % (ntst * m)
    return _lagrange(x - jf, m) @ nodes[idx]


def _blocks(nodes, ntst: int, m: int):
    idx = (np.arange(ntst)[:, None] * m + np.arange(m + 1)[None, :]) % (ntst * m)
    return nodes[idx]  # (ntst, m + 1, n)


def _delays_of(delays, args) -> jax.Array:
    d = delays(args) if callable(delays) else delays
    return jnp.atleast_1d(jnp.asarray(d))


def _collocation(f, nodes, period, args, delays, ntst: int, m: int):
    """The collocation residual (ntst, m, n), the states and lagged states at the points."""
    xc, _, values, derivs = _basis_tables(m)
    dtype = nodes.dtype
    blocks = _blocks(nodes, ntst, m)
    x = jnp.einsum("ci,jin->jcn", jnp.asarray(values, dtype), blocks)
    dx = ntst * jnp.einsum("ci,jin->jcn", jnp.asarray(derivs, dtype), blocks)
    s = (np.arange(ntst)[:, None] + xc[None, :]) / ntst
    s = jnp.asarray(s, dtype)
    taus = _delays_of(delays, args).astype(dtype)

    def lagged(u):
        return jax.vmap(lambda tau: _periodic_eval(nodes, u - tau / period, ntst, m))(taus)

    lags = jax.vmap(jax.vmap(lagged))(s)  # (ntst, m, K, n)
    zero = jnp.zeros((), dtype)
    rhs = jax.vmap(jax.vmap(lambda y, lag: jnp.asarray(f(zero, y, lag, args), dtype)))(x, lags)
    return dx - period * rhs, x, lags


def _phase(nodes, ref, ntst: int, m: int):
    """int_0^1 <p(s), p_ref'(s)> ds by the Gauss rule of each interval."""
    _, wc, values, derivs = _basis_tables(m)
    dtype = nodes.dtype
    x = jnp.einsum("ci,jin->jcn", jnp.asarray(values, dtype), _blocks(nodes, ntst, m))
    dref = ntst * jnp.einsum("ci,jin->jcn", jnp.asarray(derivs, dtype), _blocks(ref, ntst, m))
    return jnp.sum(jnp.asarray(wc, dtype)[None, :] * jnp.sum(x * dref, -1)) / ntst


def _pack(nodes, period, mu=None):
    parts = [jnp.ravel(nodes), jnp.atleast_1d(period)]
    if mu is not None:
        parts.append(jnp.atleast_1d(mu))
    return jnp.concatenate(parts)


@eqx.filter_jit
def _system(z, ref, f, args, delays, ntst, m, n, parameter):
    """G(z): the collocation residual and the phase condition; z = (nodes, T[, mu])."""
    k = ntst * m * n
    nodes = z[:k].reshape(ntst * m, n)
    period = z[k]
    if parameter is not None:
        args = parameter(args, z[k + 1])
    res, _, _ = _collocation(f, nodes, period, args, delays, ntst, m)
    return jnp.concatenate([jnp.ravel(res), _phase(nodes, ref, ntst, m)[None]])


@eqx.filter_jit
def _system_jacobian(z, ref, f, args, delays, ntst, m, n, parameter):
    fun = lambda u: _system(u, ref, f, args, delays, ntst, m, n, parameter)
    return fun(z), jax.jacfwd(fun)(z)


def _newton(z, ref, f, args, delays, ntst, m, n, *, tol, max_iter, parameter=None, border=None):
    """Newton on G(z) = 0 (square: z without mu) or, with `parameter` and `border` = (tangent,
    predictor), on [G; tangent . (z - predictor)] = 0. Returns (z, converged, residual)."""
    z, err, res = _corrector(z, ref, f, args, delays, ntst, m, n, parameter, border, tol, max_iter)
    res = float(res)
    return z, bool(float(err) <= tol) and np.isfinite(res), res


@eqx.filter_jit
def _corrector(z, ref, f, args, delays, ntst, m, n, parameter, border, tol, max_iter):
    def fun(u):
        g = _system(u, ref, f, args, delays, ntst, m, n, parameter)
        if border is None:
            return g
        tangent, pred = border
        return jnp.concatenate([g, jnp.dot(tangent, u - pred)[None]])

    # The step relative to the unknowns' size, as the tolerance is.
    size = lambda y, dy: jnp.max(jnp.abs(dy)) / (1.0 + jnp.max(jnp.abs(y)))
    z, _, err = newton(dense_step(fun), z, tol=tol, max_iter=max_iter, size=size)
    return z, err, jnp.max(jnp.abs(fun(z)))


def _check_mesh(ntst, ncol) -> tuple[int, int]:
    ntst = check_whole("ntst", ntst, minimum=2)
    ncol = check_whole("ncol", ncol, minimum=2)
    if ncol > 7:
        raise ParameterError("ncol", f"must be in [2, 7] (equally spaced nodes); got {ncol}")
    return ntst, ncol


def dde_multipliers(
    vector_field: Callable, cycle: DDECycle, delays, *, args=None, n_multipliers: int = 12
) -> np.ndarray:
    """The Floquet multipliers of a DDE periodic orbit (the monodromy operator's eigenvalues).

    Parameters
    ----------
    vector_field : callable
        f(t, y, y_lagged, args) -> y', as for `jaxmf.dde.solve_dde`.
    cycle : DDECycle
        The orbit (its nodes and period are used).
    delays : array_like or callable
        (K,) the delays, or a function of `args` giving them.
    args : Any
        Passed to the vector field.
    n_multipliers : int, default 12
        How many to return (those of largest modulus).

    Returns
    -------
    numpy.ndarray
        Complex multipliers by decreasing modulus; one of them approximates 1.

    Examples
    --------
    >>> import jax; jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp
    >>> from jaxmf.dde_cycles import dde_cycle, dde_multipliers
    >>> def f(t, y, lag, tau):
    ...     c, s = jnp.cos(tau), jnp.sin(tau)
    ...     yd = lag[0]
    ...     rot = jnp.stack([-(s * yd[0] + c * yd[1]), c * yd[0] - s * yd[1]])
    ...     return rot + (1.0 - y @ y) * y
    >>> guess = lambda s: jnp.stack([jnp.cos(2 * jnp.pi * s), jnp.sin(2 * jnp.pi * s)], -1)
    >>> cyc = dde_cycle(f, guess, 6.3, jnp.array([1.0]), args=1.0, ntst=20)
    >>> mult = dde_multipliers(f, cyc, jnp.array([1.0]), args=1.0)
    >>> round(float(abs(mult[0])), 6)  # the trivial multiplier; the circle attracts
    1.0
    """
    n_multipliers = check_whole("n_multipliers", n_multipliers)
    return _multipliers(
        vector_field, cycle.nodes, cycle.period, args, delays, cycle.ntst, cycle.ncol
    )[:n_multipliers]


def _multipliers(f, nodes, period, args, delays, ntst: int, m: int) -> np.ndarray:
    nodes = jnp.asarray(nodes)
    n = nodes.shape[1]
    span = float(jnp.max(_delays_of(delays, args))) / float(period)
    k = max(1, int(math.ceil(span * ntst - 1e-9)))
    mat = np.asarray(_linearised(f, nodes, period, args, delays, ntst, m, k))
    n_init = (k * m + 1) * n
    a_init, a_rest = mat[:, :n_init], mat[:, n_init:]
    rest = -np.linalg.solve(a_rest, a_init)
    full = np.vstack([np.eye(n_init), rest])
    final = full[ntst * m * n : (ntst * m + k * m + 1) * n]
    mult = np.linalg.eigvals(final)
    return mult[np.argsort(-np.abs(mult), kind="stable")]


@eqx.filter_jit
def _linearised(f, nodes, period, args, delays, ntst: int, m: int, k: int):
    """The linearised collocation equations on [0, 1] as a matrix acting on the perturbation's
    node values on the extended mesh [-k / ntst, 1] ((k + ntst) m + 1 nodes)."""
    dtype = nodes.dtype
    n = nodes.shape[1]
    taus = _delays_of(delays, args).astype(dtype)
    xc, _, values, derivs = _basis_tables(m)
    _, x, lags = _collocation(f, nodes, period, args, delays, ntst, m)
    zero = jnp.zeros((), dtype)
    a0 = jax.vmap(jax.vmap(jax.jacfwd(lambda y, lag: f(zero, y, lag, args), 0)))(x, lags)
    ak = jax.vmap(jax.vmap(jax.jacfwd(lambda y, lag: f(zero, y, lag, args), 1)))(x, lags)
    total = (k + ntst) * m + 1

    def p_ext(u, s):
        x_ = s * ntst
        gf = jnp.clip(jnp.floor(x_) + k, 0, k + ntst - 1)
        g = gf.astype(jnp.int32)
        return _lagrange(x_ - (gf - k), m) @ u[g * m + jnp.arange(m + 1, dtype=jnp.int32)]

    s = jnp.asarray((np.arange(ntst)[:, None] + xc[None, :]) / ntst, dtype)
    idx = (np.arange(ntst)[:, None] + k) * m + np.arange(m + 1)[None, :]

    def linear(u_flat):
        u = u_flat.reshape(total, n)
        du = ntst * jnp.einsum("ci,jin->jcn", jnp.asarray(derivs, dtype), u[idx])
        here = jnp.einsum("ci,jin->jcn", jnp.asarray(values, dtype), u[idx])
        lagged = jax.vmap(
            jax.vmap(lambda sc: jax.vmap(lambda tau: p_ext(u, sc - tau / period))(taus))
        )(s)
        rhs = jnp.einsum("jcab,jcb->jca", a0, here) + jnp.einsum("jcakb,jckb->jca", ak, lagged)
        return jnp.ravel(du - period * rhs)

    return jax.jacfwd(linear)(jnp.zeros(total * n, dtype))


def dde_cycle(
    vector_field: Callable,
    guess,
    period,
    delays,
    *,
    args=None,
    ntst: int = 40,
    ncol: int = 4,
    tol: float = 1e-10,
    max_iter: int = 20,
    multipliers: bool = True,
    throw: bool = True,
) -> DDECycle:
    """A periodic orbit of a DDE by collocation and Newton's method, from a guess.

    Parameters
    ----------
    vector_field : callable
        f(t, y, y_lagged, args) -> y' (autonomous: t is passed as 0), as for `solve_dde`.
    guess : callable or array_like
        The orbit's guess in scaled time: a function s -> (n,) on [0, 1) (vectorised over s), or
        the (ntst * ncol, n) node values.
    period : float
        The period's guess.
    delays : array_like or callable
        (K,) positive delays, or a function of `args` giving them.
    args : Any
        Passed to the vector field.
    ntst : int, default 40
        Mesh intervals.
    ncol : int, default 4
        Polynomial degree per interval (collocation points per interval), 2 to 7.
    tol : float, default 1e-10
        Newton's step tolerance (relative to the unknowns' size).
    max_iter : int, default 20
        Newton iterations.
    multipliers : bool, default True
        Compute the Floquet multipliers.
    throw : bool, default True
        Raise `NumericalError` when Newton's method does not converge or its iterate collapses
        onto a constant solution (an equilibrium, which is no periodic orbit); with False the
        cycle comes back with status not_converged.

    Returns
    -------
    DDECycle
        The orbit; the phase condition is taken against the guess.

    Raises
    ------
    ParameterError
        A bad mesh, period or delay.
    NumericalError
        With `throw`, when Newton's method does not converge or collapses onto a constant.

    Examples
    --------
    >>> import jax; jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp
    >>> from jaxmf.dde_cycles import dde_cycle
    >>> def f(t, y, lag, tau):  # a rotation read from the past: the unit circle, period 2 pi
    ...     c, s = jnp.cos(tau), jnp.sin(tau)
    ...     yd = lag[0]
    ...     rot = jnp.stack([-(s * yd[0] + c * yd[1]), c * yd[0] - s * yd[1]])
    ...     return rot + (1.0 - y @ y) * y
    >>> guess = lambda s: jnp.stack([jnp.cos(2 * jnp.pi * s), 0.9 * jnp.sin(2 * jnp.pi * s)], -1)
    >>> cyc = dde_cycle(f, guess, 6.0, jnp.array([2.0]), args=2.0, ntst=20)
    >>> round(float(cyc.period), 6), cyc.stable
    (6.283185, True)
    """
    ntst, ncol = _check_mesh(ntst, ncol)
    check_positive("period", float(period))
    check_positive("tol", tol)
    max_iter = check_whole("max_iter", max_iter)
    taus = np.asarray(_delays_of(delays, args), dtype=float)
    if not np.all(taus > 0):
        raise ParameterError("delays", f"must all be > 0; got {taus.tolist()}")
    nodes = _initial_nodes(guess, ntst, ncol)
    n = nodes.shape[1]
    z0 = _pack(nodes, jnp.asarray(period, nodes.dtype))
    z, ok, res = _newton(
        z0, nodes, vector_field, args, delays, ntst, ncol, n, tol=tol, max_iter=max_iter
    )
    k = ntst * ncol * n
    cyc_nodes, cyc_period = z[:k].reshape(ntst * ncol, n), z[k]
    ok = ok and float(cyc_period) > 0
    # A constant profile solves the collocation equations for any period: Newton started near
    # an equilibrium can land there (or stall on the singular Jacobian next to it), which is no
    # periodic orbit.
    spread = float(jnp.max(jnp.ptp(cyc_nodes, axis=0)))
    collapsed = spread <= 1e-8 * max(1.0, float(jnp.max(jnp.abs(cyc_nodes))))
    ok = ok and not collapsed
    if not ok and throw:
        if collapsed:
            raise NumericalError(
                f"dde_cycle: Newton's iterate collapsed onto a constant solution (profile "
                f"spread {spread:.3g}, residual {res:.3g}): the guess is too close to an "
                "equilibrium; start from a larger oscillation or continue the cycle from a Hopf "
                "point (continue_dde_cycles)",
                RESULTS.not_converged,
            )
        raise NumericalError(
            f"dde_cycle: Newton's method did not converge (residual {res:.3g}, period "
            f"{float(cyc_period):.6g}); improve the guess or refine the mesh (ntst)",
            RESULTS.not_converged,
        )
    mult = (
        _multipliers(vector_field, cyc_nodes, cyc_period, args, delays, ntst, ncol)[:12]
        if ok and multipliers
        else np.zeros(0, complex)
    )
    return DDECycle(
        nodes=cyc_nodes,
        period=cyc_period,
        multipliers=mult,
        status=RESULTS.successful if ok else RESULTS.not_converged,
        residual=res,
        ntst=ntst,
        ncol=ncol,
    )


def _initial_nodes(guess, ntst: int, m: int) -> jax.Array:
    if callable(guess):
        s = jnp.asarray(
            (np.arange(ntst)[:, None] * m + np.arange(m)[None, :]).ravel() / (ntst * m), float
        )
        nodes = jnp.asarray(guess(s))
    else:
        nodes = jnp.asarray(guess)
    if nodes.ndim == 1:
        nodes = nodes[:, None]
    if nodes.shape[0] != ntst * m:
        raise ParameterError(
            "guess", f"needs {ntst * m} node values (ntst * ncol); got shape {nodes.shape}"
        )
    return nodes.astype(jnp.result_type(float, nodes))


def dde_cycle_from_solution(
    vector_field: Callable,
    t,
    y,
    delays,
    *,
    args=None,
    component: int = 0,
    ntst: int = 40,
    ncol: int = 4,
    tol: float = 1e-10,
    throw: bool = True,
) -> DDECycle:
    """A periodic orbit started from a simulated trajectory (e.g. `solve_dde`'s ts and ys).

    The last full period is found from the last two upward crossings of `component` through
    the mean of the trajectory's second half; the profile between them is resampled on the mesh
    and corrected by `dde_cycle`.

    Parameters
    ----------
    vector_field : callable
        f(t, y, y_lagged, args) -> y'.
    t : array_like
        (T,) increasing times, finely spaced (many points per period).
    y : array_like
        (T, n) states, settled on the orbit at the end.
    delays : array_like or callable
        The delays.
    args : Any
        Passed to the vector field.
    component : int, default 0
        The component whose crossings mark the period.
    ntst, ncol, tol, throw
        As for `dde_cycle`.

    Returns
    -------
    DDECycle
        The corrected orbit.

    Raises
    ------
    NumericalError
        When fewer than two crossings are found (no oscillation) or Newton's method fails.

    Examples
    --------
    >>> import jax; jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp
    >>> from jaxmf.dde import solve_dde
    >>> from jaxmf.dde_cycles import dde_cycle_from_solution
    >>> def f(t, y, lag, tau):
    ...     c, s = jnp.cos(tau), jnp.sin(tau)
    ...     yd = lag[0]
    ...     rot = jnp.stack([-(s * yd[0] + c * yd[1]), c * yd[0] - s * yd[1]])
    ...     return rot + (1.0 - y @ y) * y
    >>> ts = jnp.linspace(0.0, 40.0, 4001)
    >>> sol = solve_dde(f, jnp.array([0.5, 0.0]), 40.0, jnp.array([1.0]), args=1.0, ts=ts)
    >>> cyc = dde_cycle_from_solution(f, sol.ts, sol.ys, jnp.array([1.0]), args=1.0, ntst=20)
    >>> round(float(cyc.period), 6)
    6.283185
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    half = len(t) // 2
    level = float(np.mean(y[half:, component]))
    u = y[:, component] - level
    up = np.nonzero((u[:-1] < 0) & (u[1:] >= 0))[0]
    up = up[up >= half]
    if len(up) < 2:
        raise NumericalError(
            "dde_cycle_from_solution: fewer than two upward crossings in the trajectory's second "
            "half: no oscillation to start from (simulate longer or check the regime)",
            RESULTS.not_converged,
        )

    def crossing(i):
        return t[i] + (t[i + 1] - t[i]) * (-u[i]) / (u[i + 1] - u[i])

    t_start, t_end = crossing(up[-2]), crossing(up[-1])
    period = t_end - t_start
    s = (np.arange(ntst)[:, None] * ncol + np.arange(ncol)[None, :]).ravel() / (ntst * ncol)
    nodes = np.stack([np.interp(t_start + s * period, t, y[:, i]) for i in range(y.shape[1])], -1)
    return dde_cycle(
        vector_field,
        nodes,
        period,
        delays,
        args=args,
        ntst=ntst,
        ncol=ncol,
        tol=tol,
        throw=throw,
    )


class _Point(NamedTuple):
    z: jax.Array
    tangent: jax.Array
    mult: np.ndarray
    residual: float


def continue_dde_cycles(
    vector_field: Callable,
    cycle: DDECycle,
    delays,
    parameter: Callable[[Any, jax.Array], Any],
    start: float,
    bounds: tuple[float, float],
    *,
    args=None,
    ds: float = 0.05,
    ds_max: float = 0.5,
    ds_min: float = 1e-7,
    max_points: int = 200,
    direction: int = 1,
    tol: float = 1e-10,
    detect: bool = True,
) -> DDECycleBranch:
    """Continue a DDE periodic orbit in one parameter (pseudo-arclength), with its bifurcations.

    The arclength weighs the profile by its root mean square over the mesh nodes, so a step
    `ds` moves the period, the parameter and the profile's typical size by about ds together.
    Folds of cycles are turning points of the parameter; period doublings and torus bifurcations
    are where a real multiplier crosses -1 or a complex pair crosses the unit circle. Each is
    refined by the secant method on the arclength (a fold to where the parameter's tangent
    component vanishes, the others to where the crossing multiplier's modulus is 1).

    Parameters
    ----------
    vector_field : callable
        f(t, y, y_lagged, args) -> y'.
    cycle : DDECycle
        A converged orbit at the parameter value `start`.
    delays : array_like or callable
        (K,) the delays, or a function of the (changed) args giving them (to continue in a
        delay).
    parameter : callable
        (args, mu) -> args with the continuation parameter set to mu (traceable).
    start : float
        The parameter value of `cycle`.
    bounds : tuple of float
        (lo, hi): the continuation stops when the parameter leaves it.
    args : Any
        The fixed arguments of the vector field (the parameter is set on them).
    ds, ds_max, ds_min : float
        First, largest and smallest arclength step.
    max_points : int, default 200
        The most points on the branch.
    direction : {1, -1}
        Whether the parameter first increases or decreases.
    tol : float, default 1e-10
        Newton's step tolerance.
    detect : bool, default True
        Compute multipliers at every point and detect period doublings and torus bifurcations
        (folds are always detected).

    Returns
    -------
    DDECycleBranch
        The points and the refined special points; status not_converged when the corrector
        failed at the smallest step before a bound was reached.

    Raises
    ------
    ParameterError
        Bad bounds, steps, direction or a start outside the bounds.

    Examples
    --------
    A rotation read from the past with a radial fold: the cycles of radius r have period
    2 pi and beta = r^4 - 2 r^2, so the branch turns at beta = -1 (r = 1).

    >>> import jax; jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp
    >>> from jaxmf.dde_cycles import dde_cycle, continue_dde_cycles
    >>> def f(t, y, lag, beta):
    ...     c, s = jnp.cos(1.0), jnp.sin(1.0)
    ...     yd = lag[0]
    ...     rot = jnp.stack([-(s * yd[0] + c * yd[1]), c * yd[0] - s * yd[1]])
    ...     r2 = y @ y
    ...     return rot + (beta + 2 * r2 - r2 * r2) * y
    >>> r = 1.3; beta0 = r**4 - 2 * r**2
    >>> guess = lambda s: r * jnp.stack([jnp.cos(2 * jnp.pi * s), jnp.sin(2 * jnp.pi * s)], -1)
    >>> cyc = dde_cycle(f, guess, 6.3, jnp.array([1.0]), args=beta0, ntst=12)
    >>> br = continue_dde_cycles(f, cyc, jnp.array([1.0]), lambda a, mu: mu, beta0,
    ...                          (-2.0, -0.5), args=beta0, direction=-1, ds=0.1, detect=False)
    >>> [(sp.kind, round(sp.parameter, 6)) for sp in br.special_points]
    [('lpc', -1.0)]
    """
    lo, hi = (float(b) for b in bounds)
    if not lo < hi:
        raise ParameterError("bounds", f"need lo < hi; got ({lo}, {hi})")
    if not lo <= float(start) <= hi:
        raise ParameterError("start", f"must lie in bounds ({lo}, {hi}); got {start}")
    if direction not in (1, -1):
        raise ParameterError("direction", f"must be 1 or -1; got {direction}")
    for name, x in (("ds", ds), ("ds_max", ds_max), ("ds_min", ds_min)):
        check_positive(name, x)
    max_points = check_whole("max_points", max_points, minimum=2)
    ntst, m = cycle.ntst, cycle.ncol
    n = cycle.nodes.shape[1]
    size = ntst * m * n
    dtype = cycle.nodes.dtype
    weights = jnp.concatenate(
        [jnp.full(size, 1.0 / math.sqrt(ntst * m), dtype), jnp.ones(2, dtype)]
    )
    w2 = weights**2

    def unpack(z):
        return z[:size].reshape(ntst * m, n), z[size], z[size + 1]

    def full_jacobian(z, ref):
        return _system_jacobian(z, ref, vector_field, args, delays, ntst, m, n, parameter)[1]

    def tangent_at(z, ref, previous):
        jac = full_jacobian(z, ref)
        rhs = jnp.concatenate([jnp.zeros(jac.shape[0], dtype), jnp.ones(1, dtype)])
        t = jnp.linalg.solve(jnp.concatenate([jac, (w2 * previous)[None, :]], 0), rhs)
        return t / jnp.sqrt(jnp.sum(w2 * t * t))

    def multipliers_at(z):
        if not detect:
            return np.zeros(0, complex)
        nodes, period, mu = unpack(z)
        a = parameter(args, mu)
        return _multipliers(vector_field, nodes, period, a, delays, ntst, m)[:12]

    def correct(base: _Point, sigma: float):
        pred = base.z + sigma * base.tangent
        ref = unpack(base.z)[0]
        z, ok, res = _newton(
            pred,
            ref,
            vector_field,
            args,
            delays,
            ntst,
            m,
            n,
            tol=tol,
            max_iter=8,
            parameter=parameter,
            border=(w2 * base.tangent, pred),
        )
        if not ok or float(unpack(z)[1]) <= 0:
            return None
        return _Point(z, tangent_at(z, ref, base.tangent), np.zeros(0, complex), res)

    z0 = _pack(cycle.nodes, cycle.period, jnp.asarray(start, dtype))
    e_mu = jnp.zeros(size + 2, dtype).at[-1].set(float(direction))
    t0 = tangent_at(z0, cycle.nodes, e_mu)
    if float(t0[-1]) * direction < 0:
        t0 = -t0
    points = [_Point(z0, t0, multipliers_at(z0), cycle.residual)]
    steps_used: list[float] = []
    status = RESULTS.successful
    step = float(ds)
    while len(points) < max_points:
        new = correct(points[-1], step)
        if new is None:
            step /= 2
            if step < ds_min:
                status = RESULTS.not_converged
                break
            continue
        new = new._replace(mult=multipliers_at(new.z))
        points.append(new)
        steps_used.append(step)
        mu = float(unpack(new.z)[2])
        if not lo <= mu <= hi:
            break
        step = min(step * 1.3, float(ds_max))

    special = _special_points(points, steps_used, correct, multipliers_at, unpack, detect)
    params = np.array([float(unpack(p.z)[2]) for p in points])
    cycles = [
        DDECycle(
            nodes=unpack(p.z)[0],
            period=unpack(p.z)[1],
            multipliers=p.mult,
            status=RESULTS.successful,
            residual=p.residual,
            ntst=ntst,
            ncol=m,
        )
        for p in points
    ]
    nodes_all = np.stack([np.asarray(c.nodes) for c in cycles])
    mult = (
        np.stack([np.pad(p.mult, (0, 12 - len(p.mult))) for p in points])
        if detect
        else (np.zeros((len(points), 0), complex))
    )
    return DDECycleBranch(
        parameter=params,
        period=np.array([float(c.period) for c in cycles]),
        maximum=nodes_all.max(axis=1),
        minimum=nodes_all.min(axis=1),
        multipliers=mult,
        stable=np.array([c.stable if detect else False for c in cycles]),
        cycles=cycles,
        special_points=special,
        status=status,
    )


def _crossings(mult: np.ndarray) -> tuple[int, int]:
    """Unstable complex pairs' members and unstable negative real multipliers (nontrivial)."""
    rest = _nontrivial(mult)
    real = np.abs(rest.imag) <= 1e-6 * np.maximum(1.0, np.abs(rest))
    unstable = np.abs(rest) > 1.0
    return int(np.sum(unstable & ~real)), int(np.sum(unstable & real & (rest.real < 0)))


def _ns_test(mult: np.ndarray) -> float:
    rest = _nontrivial(mult)
    cx = rest[np.abs(rest.imag) > 1e-6 * np.maximum(1.0, np.abs(rest))]
    return float(np.abs(cx[np.argmin(np.abs(np.abs(cx) - 1.0))]) - 1.0) if cx.size else np.nan


def _pd_test(mult: np.ndarray) -> float:
    rest = _nontrivial(mult)
    neg = rest[(np.abs(rest.imag) <= 1e-6 * np.maximum(1.0, np.abs(rest))) & (rest.real < 0)]
    return float(-neg.real[np.argmin(np.abs(neg.real + 1.0))] - 1.0) if neg.size else np.nan


def _secant(phi, a: float, b: float, fa: float, fb: float, ftol: float = 1e-7):
    """The zero of phi(sigma) on [a, b] (fa fb < 0) by the core's regula falsi: the point where
    |phi| < ftol, or None (a test function that jumps across zero, e.g. a pair of real
    multipliers turning complex away from the unit circle, is no bifurcation)."""
    point, value = regula_falsi(phi, fa, fb, a=a, b=b, x_tol=1e-12 * (b - a), max_iter=40)
    return point if point is not None and abs(value) < ftol else None


def _special_points(points, steps_used, correct, multipliers_at, unpack, detect):
    found: list[DDESpecialPoint] = []
    for i in range(len(points) - 1):
        a, b, h = points[i], points[i + 1], steps_used[i]

        def at(sigma, test=None, a=a):
            p = correct(a, sigma)
            if p is None:
                return np.nan, None
            if test is None:
                return float(p.tangent[-1]), p
            mult = multipliers_at(p.z)
            return test(mult), p._replace(mult=mult)

        if float(a.tangent[-1]) * float(b.tangent[-1]) < 0:
            p = _secant(at, 0.0, h, float(a.tangent[-1]), float(b.tangent[-1]))
            if p is not None:
                mult = multipliers_at(p.z) if detect else np.zeros(0, complex)
                found.append(_special("lpc", p._replace(mult=mult), unpack, i))
        if not detect:
            continue
        (ns_a, pd_a), (ns_b, pd_b) = _crossings(a.mult), _crossings(b.mult)
        for kind, test, changed in (
            ("ns", _ns_test, ns_a != ns_b),
            ("pd", _pd_test, pd_a != pd_b),
        ):
            fa, fb = test(a.mult), test(b.mult)
            if changed and np.isfinite(fa) and np.isfinite(fb) and fa * fb < 0:
                p = _secant(lambda s, test=test: at(s, test), 0.0, h, fa, fb)
                if p is not None:
                    found.append(_special(kind, p, unpack, i))
    return found


def _special(kind: str, p: _Point, unpack, index: int) -> DDESpecialPoint:
    _, period, mu = unpack(p.z)
    return DDESpecialPoint(
        kind=kind, parameter=float(mu), period=float(period), multipliers=p.mult, index=index
    )
