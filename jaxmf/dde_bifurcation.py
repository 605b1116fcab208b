"""Bifurcations of delay-differential equations: Hopf points in a delay and Hopf curves in two
parameters.

- `continue_delay`: an equilibrium of the delayed mean field along a delay, its rightmost
  characteristic roots and the Hopf points where a pair crosses the imaginary axis.
- `continue_delay_hopf`: a Hopf point of a DDE continued in two parameters (e.g. (delay,
  eta_bar), (delay, g)) by pseudo-arclength on the defining system

      F(x, p) = 0,   Delta(i omega; x, p) v = 0,   c^H v = 1,

  with Delta(lambda) = lambda I - A0 - sum_k A_k exp(-lambda tau_k) the characteristic matrix of
  the DDE linearised at the equilibrium x (the DDE analogue of `jaxmf.continue_hopf`, which
  continues A v = i omega v). Unknowns (x, p1, p2, Re v, Im v, omega): 3n + 3 of them for
  3n + 2 equations; the pseudo-arclength condition closes the system. The phase reference c is
  the last accepted v, so the normalisation never degenerates.
- `dde_first_lyapunov_coefficient`: the first Lyapunov coefficient l1 of a DDE Hopf point
  (super- or subcritical), from the characteristic matrix (Janssens 2010); both functions above
  report it at their Hopf points.

Both return the core's `Branch` and `SpecialPoint`, so the curves plot like `continue_hopf`'s
(`jaxmf.plot.plot_branch`).

Module layering: this module builds on `bifurcation` (Branch), `meanfield` (equilibria) and
`delay` (the delayed field); `delay` itself imports neither, so `meanfield` can dispatch to it
without an import cycle.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._multilinear import complex_dtype, complex_forms
from ._newton import (
    dense_step,
    newton,
    outside_domain,
    parameter_value,
    regula_falsi,
    with_parameters,
)
from ._results import RESULTS
from .bifurcation import Branch, ContinuationError, SpecialPoint
from .dde import characteristic_roots
from .delay import delayed_jacobians, delayed_meanfield_field
from .meanfield import meanfield_equilibria
from .params import (
    ParameterError,
    Params,
    check_whole,
    parse_parameter,
    set_parameter,
    set_parameters,
)

__all__ = ["continue_delay", "continue_delay_hopf", "dde_first_lyapunov_coefficient"]


def _delays_at(base: Params, address, value) -> jax.Array:
    return jnp.reshape(set_parameter(base, address, value).delay, (-1,))


def _hopf_residual(u, a0, a1, base: Params, address, c):
    """Delta(i omega; tau) v = 0 and c^H v = 1 as 2n + 2 real equations in
    u = (Re v, Im v, omega, tau)."""
    n = a0.shape[0]
    v = jax.lax.complex(u[:n], u[n : 2 * n])
    omega, tau = u[2 * n], u[2 * n + 1]
    delta = _delta(jax.lax.complex(jnp.zeros_like(omega), omega), a0, a1, base, address, tau)
    res = jnp.concatenate([delta @ v, (jnp.conj(c) @ v - 1.0)[None]])
    return jnp.concatenate([res.real, res.imag])


def _delta(lam, a0, a1, base: Params, address, value):
    """The characteristic matrix lambda I - A0 - sum_k A_k exp(-lambda tau_k) at one delay value."""
    cdtype = lam.dtype
    tau = _delays_at(base, address, value).astype(cdtype)
    phase = jnp.exp(-lam * tau)
    eye = jnp.eye(a0.shape[0], dtype=cdtype)
    return lam * eye - a0.astype(cdtype) - jnp.einsum("k,kij->ij", phase, a1.astype(cdtype))


_SUBDIVIDE = 8  # sub-intervals of a grid interval whose crossing could not be refined
_DEPTH = 2  # how many times such an interval is subdivided


@functools.partial(jax.jit, static_argnums=(4,))
def _refine_hopf(a0, a1, base: Params, value, address, omega):
    """Newton on `_hopf_residual` from (tau, omega) = (value, omega); returns (omega, tau,
    max residual)."""
    delta = _delta(jax.lax.complex(jnp.zeros_like(omega), omega), a0, a1, base, address, value)
    _, _, vh = jnp.linalg.svd(delta)
    c = jnp.conj(vh[-1])
    n = a0.shape[0]
    u = jnp.concatenate([c.real, c.imag, jnp.stack([omega, value])])

    def step(_, u):
        f = lambda x: _hopf_residual(x, a0, a1, base, address, c)
        du = jnp.linalg.solve(jax.jacfwd(f)(u), -f(u))
        return jnp.where(jnp.all(jnp.isfinite(du)), u + du, u)

    u = jax.lax.fori_loop(0, 20, step, u)
    res = jnp.max(jnp.abs(_hopf_residual(u, a0, a1, base, address, c)))
    return u[2 * n], u[2 * n + 1], res


@functools.partial(jax.jit, static_argnums=(4, 5))
def _roots_along(a0, a1, base: Params, values, address, n_nodes: int):
    return jax.vmap(
        lambda t: characteristic_roots(
            a0, a1, _delays_at(base, address, t), n_nodes=n_nodes, n_roots=a0.shape[0]
        )
    )(values)


def continue_delay(
    params: Params,
    param: str = "delay",
    bounds=(0.0, 10.0),
    *,
    start=None,
    points: int = 201,
    n_nodes: int = 20,
):
    """An equilibrium of the delayed mean field along a delay: its stability and Hopf points.

    The equilibria do not depend on the delay (a constant past is the present), so the branch
    is one state; along the delay its characteristic roots move (`delayed_eigenvalues` on a
    grid of `points` delays). Where the number of roots with positive real part changes, a
    pair crosses the imaginary axis: the Hopf point (tau*, omega*) is refined by Newton on
    Delta(i omega; tau) v = 0, c^H v = 1 (the roots of a delay equation cross at lambda = i
    omega with omega > 0; lambda = 0 does not depend on the delay). Each Hopf point carries
    its first Lyapunov coefficient (`dde_first_lyapunov_coefficient`, the normalisation of
    `jaxmf.first_lyapunov_coefficient`): negative where the bifurcation is supercritical.

    Parameters
    ----------
    params : Params
        The parameters (a delay is added, zero, when absent).
    param : str, default 'delay'
        'delay' (every entry) or one entry 'delay[m,k]'.
    bounds : tuple of float, default (0.0, 10.0)
        The delay interval (>= 0).
    start : None, int or Array
        The equilibrium: None (the first of `meanfield_equilibria`), an index into that list,
        or a flat state (r, v, w, s blocks).
    points : int, default 201
        Grid points on `bounds`. An interval whose crossing Newton cannot refine inside it is
        scanned again on finer grids; crossings closer together than the grid spacing whose
        count changes cancel (a pair out and a pair back in) are not seen: use a grid finer than
        the closest pair of Hopf delays you expect.
    n_nodes : int, default 20
        Chebyshev nodes of the discretisation (raise it for delays much longer than the
        slowest oscillation).

    Returns
    -------
    Branch
        kind 'equilibrium', param (param,), values (points + Hopf points, 1), eigenvalues the
        4P rightmost characteristic roots, `stable`, and `special_points` the Hopf points
        (`frequency` omega*, `period` 2 pi / omega*, `first_lyapunov` l1 and so `criticality`,
        `data['direction']` +1 where stability is lost with growing delay, -1 where it is
        regained, `converged` when the Newton residual is below 1e-10, 1e-4 in float32, and
        the point lies in its grid interval; otherwise the interpolated guess, flagged, with
        l1 NaN).

    Raises
    ------
    ParameterError
        `param` is not a delay, bad bounds or grid.

    Examples
    --------
    >>> from jaxmf import presets
    >>> b = continue_delay(presets.chen_campbell_2022(eta_bar=0.25), bounds=(0.0, 3.0), points=31)
    >>> [(sp.kind, round(float(sp.value), 2), sp.criticality) for sp in b.special_points]
    [('hopf', 1.86, 'supercritical')]
    """
    address = parse_parameter(param, params.n_populations)
    if address.field != "delay":
        raise ParameterError("param", f"must be 'delay' or 'delay[m,k]'; got {param!r}")
    lo, hi = (float(x) for x in bounds)
    if not (0 <= lo < hi and math.isfinite(hi)):
        raise ParameterError("bounds", f"must satisfy 0 <= low < high; got {bounds!r}")
    points = check_whole("points", points, minimum=2)
    base = params if params.delay is not None else params.replace(delay=0.0)
    if start is None or isinstance(start, (int, np.integer)):
        eq = meanfield_equilibria(base.replace(delay=None))
        i = 0 if start is None else int(start)
        if not 0 <= i < eq.count:
            raise ParameterError("start", f"there are {eq.count} equilibria; got index {i}")
        x = jnp.concatenate([eq.r[i], eq.v[i], eq.w[i], eq.s[i]])
    else:
        x = jnp.asarray(start, base.eta_bar.dtype)
    a0, a1 = delayed_jacobians(x, base)
    values = jnp.linspace(lo, hi, points, dtype=x.dtype)
    roots = np.asarray(_roots_along(a0, a1, base, values, address, n_nodes))
    re = np.where(np.isnan(roots.real), -np.inf, roots.real)
    unstable = np.sum(re > 0, axis=1)
    tol = 1e-10 if x.dtype == jnp.float64 else 1e-4

    def crossings(grid, roots, depth: int):
        """(tau, omega, converged, direction) of each crossing on `grid`; an interval whose
        crossing Newton cannot refine inside it is scanned again on a finer grid (a coarse grid
        can pair the wrong roots), `depth` times."""
        re = np.where(np.isnan(roots.real), -np.inf, roots.real)
        count = np.sum(re > 0, axis=1)
        found = []
        for j in np.nonzero(np.diff(count) != 0)[0]:
            # The crossing pair: nearest the imaginary axis on both sides.
            k_a, k_b = np.argmin(np.abs(re[j])), np.argmin(np.abs(re[j + 1]))
            ra, rb = roots[j, k_a], roots[j + 1, k_b]
            frac = ra.real / (ra.real - rb.real) if ra.real != rb.real else 0.5
            guess = float(grid[j] + frac * (grid[j + 1] - grid[j]))
            omega, tau, res = _refine_hopf(
                a0,
                a1,
                base,
                jnp.asarray(guess, x.dtype),
                address,
                jnp.asarray(abs(ra.imag), x.dtype),
            )
            ok = bool(res < tol) and float(grid[j]) - 1e-9 <= float(tau) <= float(grid[j + 1])
            if not ok and depth > 0:
                finer = np.linspace(float(grid[j]), float(grid[j + 1]), _SUBDIVIDE + 1)
                finer_roots = np.asarray(
                    _roots_along(a0, a1, base, jnp.asarray(finer, x.dtype), address, n_nodes)
                )
                deeper = crossings(finer, finer_roots, depth - 1)
                if deeper:
                    found.extend(deeper)
                    continue
            direction = int(np.sign(count[j + 1] - count[j]))
            if ok:
                found.append((tau, jnp.abs(omega), True, direction))
            else:
                found.append(
                    (jnp.asarray(guess, x.dtype), jnp.asarray(abs(ra.imag)), False, direction)
                )
        return found

    specials = []
    for j in np.nonzero(np.diff(unstable) != 0)[0]:
        span = np.asarray(values[j : j + 2])
        for tau, omega, ok, direction in crossings(span, roots[j : j + 2], _DEPTH):
            at = set_parameter(base, address, tau)
            specials.append(
                SpecialPoint(
                    kind="hopf",
                    param=(param,),
                    value=tau,
                    state=x,
                    params=at,
                    index=int(j + 1),
                    converged=ok,
                    first_lyapunov=(
                        _meanfield_lyapunov(x, at, jnp.asarray(omega, x.dtype))
                        if ok
                        else jnp.asarray(jnp.nan, x.dtype)
                    ),
                    frequency=omega,
                    period=2 * jnp.pi / omega,
                    data={"direction": direction},
                )
            )
    stable = np.all(re < 0, axis=1)
    return Branch(
        kind="equilibrium",
        param=(param,),
        values=values[:, None],
        states=jnp.broadcast_to(x, (points, x.shape[0])),
        eigenvalues=jnp.asarray(roots),
        stable=jnp.asarray(stable),
        base=base,
        special_points=tuple(specials),
        message=f"{len(specials)} Hopf point(s) on delay in [{lo:g}, {hi:g}]",
    )


def _meanfield_field(x, lagged, p):
    return delayed_meanfield_field(0.0, x, lagged, (p, None))


def _meanfield_delays(p):
    return jnp.reshape(p.delay, (-1,))


@jax.jit
def _meanfield_lyapunov(x, p: Params, omega):
    return _lyapunov_at(lambda y, lag: _meanfield_field(y, lag, p), x, _meanfield_delays(p), omega)


def _linearise(field: Callable, delays: Callable, x, p):
    """(A0, A_k stacked, tau) of the DDE linearised at the constant state x."""
    tau = jnp.asarray(delays(p))
    lagged = jnp.broadcast_to(x, (tau.shape[0], x.shape[0]))
    a0 = jax.jacfwd(field, argnums=0)(x, lagged, p)
    a1 = jax.jacfwd(field, argnums=1)(x, lagged, p)  # (n, K, n)
    return a0, jnp.transpose(a1, (1, 0, 2)), tau


def _characteristic_matrix(lam, a0, a1, tau):
    cdtype = lam.dtype
    phase = jnp.exp(-lam * tau.astype(cdtype))
    eye = jnp.eye(a0.shape[0], dtype=cdtype)
    return lam * eye - a0.astype(cdtype) - jnp.einsum("k,kij->ij", phase, a1.astype(cdtype))


def _hopf_normal_form(f, x, tau, omega, q):
    """(c1, p, q): the cubic coefficient of the Hopf normal form z' = i omega z + c1 z|z|^2 of
    x' = f(x, lagged) at the equilibrium x (Janssens 2010; DDE-BIFTOOL's nmfm_hopf).

    The centre eigenfunction is phi(theta) = q exp(i omega theta) with Delta(i omega) q = 0 and
    |q| = 1 (as `jaxmf.first_lyapunov_coefficient`); p solves p^H Delta(i omega) = 0 with
    p^H Delta'(i omega) q = 1. The multilinear forms B, C act on the stacked arguments
    (x(t), x(t - tau_1), ..., x(t - tau_K)), a function of theta being read at theta = 0, -tau_k:

        h20 = Delta(2 i omega)^-1 B(phi, phi)      (h20(theta) = h20 exp(2 i omega theta))
        h11 = Delta(0)^-1 B(phi, conj phi)         (constant)
        c1 = p^H [C(phi, phi, conj phi) + B(conj phi, h20) + 2 B(phi, h11)] / 2.
    """
    n, k = x.shape[0], tau.shape[0]
    cdtype = complex_dtype(x.dtype)
    lagged = jnp.broadcast_to(x, (k, n))
    a0 = jax.jacfwd(f, argnums=0)(x, lagged)
    a1 = jnp.transpose(jax.jacfwd(f, argnums=1)(x, lagged), (1, 0, 2))
    iw = jax.lax.complex(jnp.zeros_like(omega), omega).astype(cdtype)
    q = q.astype(cdtype)
    q = q / jnp.linalg.norm(q).astype(cdtype)
    tau_c = tau.astype(cdtype)
    # Delta'(lambda) = I + sum_k tau_k A_k exp(-lambda tau_k).
    slope = jnp.eye(n, dtype=cdtype) + jnp.einsum(
        "k,kij->ij", tau_c * jnp.exp(-iw * tau_c), a1.astype(cdtype)
    )
    # Bordered by q and Delta'(i omega) q: regular exactly when i omega is a simple root.
    border = jnp.block(
        [
            [jnp.conj(_characteristic_matrix(iw, a0, a1, tau)).T, q[:, None]],
            [jnp.conj(slope @ q)[None, :], jnp.zeros((1, 1), cdtype)],
        ]
    )
    p = jnp.linalg.solve(border, jnp.zeros(n + 1, cdtype).at[n].set(1.0))[:n]
    theta = jnp.concatenate([jnp.zeros(1, tau.dtype), -tau]).astype(cdtype)
    u = jnp.concatenate([x[None], lagged])
    F = lambda y: f(y[0], y[1:])
    phi = jnp.exp(iw * theta)[:, None] * q[None, :]
    phib = jnp.conj(phi)
    b20, b11 = complex_forms(F, u, (phi, phi), (phi, phib))
    h20 = jnp.linalg.solve(_characteristic_matrix(2 * iw, a0, a1, tau), b20)
    h11 = jnp.linalg.solve(_characteristic_matrix(jnp.zeros((), cdtype), a0, a1, tau), b11)
    h20_t = jnp.exp(2 * iw * theta)[:, None] * h20[None, :]
    h11_t = jnp.broadcast_to(h11, (k + 1, n))
    b_h20, b_h11 = complex_forms(F, u, (phib, h20_t), (phi, h11_t))
    (c_phi,) = complex_forms(F, u, (phi, phi, phib))
    value = c_phi + b_h20 + 2 * b_h11
    return 0.5 * jnp.vdot(p, value), p, q


def _null_vector(delta):
    """Unit v with delta v = 0 (the last right singular vector)."""
    return jnp.conj(jnp.linalg.svd(delta)[2][-1])


def _lyapunov_at(f, x, tau, omega, q=None):
    """l1 = Re(c1) / omega; q by default the null vector of Delta(i omega)."""
    if q is None:
        n, k = x.shape[0], tau.shape[0]
        lagged = jnp.broadcast_to(x, (k, n))
        a0 = jax.jacfwd(f, argnums=0)(x, lagged)
        a1 = jnp.transpose(jax.jacfwd(f, argnums=1)(x, lagged), (1, 0, 2))
        iw = jax.lax.complex(jnp.zeros_like(omega), omega)
        q = _null_vector(_characteristic_matrix(iw, a0, a1, tau))
    c1, _, _ = _hopf_normal_form(f, x, tau, omega, q)
    return jnp.real(c1) / omega


def dde_first_lyapunov_coefficient(f, x, delays, omega=None, q=None, *, n_nodes: int = 20):
    """First Lyapunov coefficient of a DDE x' = f(x(t), x(t - tau_1), ..., x(t - tau_K)) at a
    Hopf equilibrium x.

    The cubic coefficient c1 of the normal form z' = i omega z + c1 z |z|^2 on the centre
    manifold, from the characteristic matrix Delta(lambda) = lambda I - A0 - sum_k A_k
    exp(-lambda tau_k) (S. G. Janssens, "On a normalization technique for codimension two
    bifurcations of equilibria of delay differential equations", MSc thesis, Utrecht, 2010; the
    formulas of DDE-BIFTOOL's nmfm_hopf): with phi(theta) = q exp(i omega theta),
    Delta(i omega) q = 0, p^H Delta(i omega) = 0, p^H Delta'(i omega) q = 1 and B, C the second
    and third derivatives of f in its stacked arguments (read at theta = 0, -tau_k),
    h20 = Delta(2 i omega)^-1 B(phi, phi), h11 = Delta(0)^-1 B(phi, conj phi) and
    c1 = p^H [C(phi, phi, conj phi) + B(conj phi, h20 e^(2 i omega .)) + 2 B(phi, h11)] / 2;
    l1 = Re(c1) / omega. q is normalised to |q| = 1, as `jaxmf.first_lyapunov_coefficient`
    does, so a DDE whose delayed terms vanish has exactly the ODE's l1 (Kuznetsov eq. 3.20,
    MatCont's convention; DDE-BIFTOOL scales unit p0, q0 both by (p0^T Delta' q0)^(-1/2), which
    multiplies l1 by 1 / |p0^T Delta' q0| and keeps its sign). Negative l1: supercritical, the
    cycle born at mu* has |z|^2 = -Re lambda'(mu*) (mu - mu*) / (omega l1) and component j
    oscillates about x with amplitude 2 |z| |q_j|; positive: subcritical. Differentiable in x
    and in f's closure when omega and q are given.

    Parameters
    ----------
    f : callable
        f(x, lagged) -> dx/dt with x of shape (n,) and lagged of shape (K, n), row k the state
        at t - tau_k (parameters fixed).
    x : array_like
        The Hopf equilibrium, shape (n,).
    delays : array_like
        The K delays (>= 0).
    omega : float, optional
        The critical frequency; by default the root of the characteristic equation with
        Im > 0 closest to the imaginary axis (`jaxmf.dde.characteristic_roots`).
    q : array_like, optional
        The critical vector, Delta(i omega) q = 0; by default the null vector of
        Delta(i omega).
    n_nodes : int, default 20
        Chebyshev nodes for the roots when `omega` is not given.

    Returns
    -------
    jax.Array
        l1, a real scalar.

    Examples
    --------
    Wright's equation x' = -alpha x(t - 1) (1 + x) has its Hopf point at alpha = pi/2 (omega
    = pi/2); its cycles, x ~ eps cos(omega t) at alpha = pi/2 + (3 pi - 2) eps^2 / 40, are
    stable, and l1 = -2 (3 pi - 2) / (5 (4 + pi^2)):

    >>> import jax, numpy as np
    >>> jax.config.update("jax_enable_x64", True)
    >>> f = lambda x, lag: -np.pi / 2 * lag[0] * (1 + x)
    >>> l1 = dde_first_lyapunov_coefficient(f, np.zeros(1), [1.0], omega=np.pi / 2)
    >>> round(float(l1), 10), round(-2 * (3 * np.pi - 2) / (5 * (4 + np.pi**2)), 10)
    (-0.2141309224, -0.2141309224)
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(float)
    tau = jnp.atleast_1d(jnp.asarray(delays, x.dtype))
    if omega is None:
        omega = _critical_frequency(
            f, jax.lax.stop_gradient(x), jax.lax.stop_gradient(tau), n_nodes
        )
    omega = jnp.asarray(omega, x.dtype)
    return _lyapunov_jit(f, x, tau, omega, None if q is None else jnp.asarray(q))


# Compiled per f (a new closure compiles again: still cheaper than running the nested
# derivatives op by op).
_lyapunov_jit = jax.jit(_lyapunov_at, static_argnums=(0,))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _critical_frequency(f, x, tau, n_nodes: int):
    """Im of the characteristic root with Im > 0 closest to the imaginary axis."""
    n, k = x.shape[0], tau.shape[0]
    lagged = jnp.broadcast_to(x, (k, n))
    a0 = jax.jacfwd(f, argnums=0)(x, lagged)
    a1 = jnp.transpose(jax.jacfwd(f, argnums=1)(x, lagged), (1, 0, 2))
    roots = characteristic_roots(a0, a1, tau, n_nodes=n_nodes, n_roots=2 * n + 2)
    score = jnp.where(
        (jnp.imag(roots) > 0) & ~jnp.isnan(roots.real), jnp.abs(jnp.real(roots)), jnp.inf
    )
    return jnp.imag(roots[jnp.argmin(score)])


class _HopfSystem:
    """The defining system of a DDE Hopf curve in u = (x, p1, p2, Re v, Im v, omega)."""

    def __init__(self, field: Callable, delays: Callable, names: tuple[str, str], n: int):
        self.field, self.delays, self.names, self.n = field, delays, names, n

    def __hash__(self):
        return hash((self.field, self.delays, self.names, self.n))

    def __eq__(self, other):
        return isinstance(other, _HopfSystem) and (
            (self.field, self.delays, self.names, self.n)
            == (other.field, other.delays, other.names, other.n)
        )

    def split(self, u):
        n = self.n
        return u[:n], u[n : n + 2], jax.lax.complex(u[n + 2 : 2 * n + 2], u[2 * n + 2 : 3 * n + 2])

    def residual(self, u, c, base):
        x, lam, v = self.split(u)
        omega = u[3 * self.n + 2]
        p = with_parameters(base, self.names, lam)
        a0, a1, tau = _linearise(self.field, self.delays, x, p)
        f = self.field(x, jnp.broadcast_to(x, (tau.shape[0], self.n)), p)
        delta = _characteristic_matrix(jax.lax.complex(jnp.zeros_like(omega), omega), a0, a1, tau)
        dv = delta @ v
        norm = jnp.vdot(c, v) - 1.0
        return jnp.concatenate([f, dv.real, dv.imag, jnp.stack([norm.real, norm.imag])])


@functools.partial(jax.jit, static_argnames=("system",))
def _correct_hopf(u_pred, t_dir, c, base, system: _HopfSystem, tol):
    """Newton from u_pred on the defining system plus t_dir . (u - u_pred) = 0; returns the
    point, the tangent there (oriented along t_dir), the iterations and max |residual|."""

    def bordered(u):
        return jnp.concatenate([system.residual(u, c, base), (t_dir @ (u - u_pred))[None]])

    u, k, _ = newton(dense_step(bordered), u_pred, tol=tol, max_iter=12)
    jac = jax.jacfwd(lambda y: system.residual(y, c, base))(u)
    rhs = jnp.zeros(u.shape, u.dtype).at[-1].set(1.0)
    t = jnp.linalg.solve(jnp.concatenate([jac, t_dir[None]]), rhs)
    return u, t / jnp.linalg.norm(t), k, jnp.max(jnp.abs(system.residual(u, c, base)))


@functools.partial(jax.jit, static_argnames=("system", "n_nodes"))
def _roots_on_curve(us, base, system: _HopfSystem, n_nodes: int):
    n = system.n

    def one(u):
        x, lam, _ = system.split(u)
        a0, a1, tau = _linearise(
            system.field, system.delays, x, with_parameters(base, system.names, lam)
        )
        roots = characteristic_roots(a0, a1, tau, n_nodes=n_nodes, n_roots=n + 2)
        return roots, _second_pair(roots, u[3 * n + 2])

    return jax.vmap(one)(us)


@functools.partial(jax.jit, static_argnames=("system",))
def _lyapunov_on_curve(us, base, system: _HopfSystem):
    """l1 at each point of a Hopf curve, with the curve's own v as the critical vector."""
    n = system.n

    def one(u):
        x, lam, v = system.split(u)
        p = with_parameters(base, system.names, lam)
        tau = jnp.asarray(system.delays(p)).astype(x.dtype)
        return _lyapunov_at(lambda y, lag: system.field(y, lag, p), x, tau, u[3 * n + 2], v)

    return jax.vmap(one)(us)


def _second_pair(roots, omega):
    """The rightmost root off the critical pair +-i omega (the double-Hopf test: its real part
    crosses zero where a second pair reaches the imaginary axis)."""
    iw = jax.lax.complex(jnp.zeros_like(omega), omega)
    k = jnp.arange(roots.shape[0])
    off = (k != jnp.argmin(jnp.abs(roots - iw))) & (k != jnp.argmin(jnp.abs(roots + iw)))
    re = jnp.where(off & ~jnp.isnan(roots.real), roots.real, -jnp.inf)
    return roots[jnp.argmax(re)]


def _unit_null_vector(m: np.ndarray) -> np.ndarray:
    return np.linalg.svd(m)[2][-1].conj()


class _Tracer:
    """Host-side pseudo-arclength along the Hopf curve (predictor, corrector, step control,
    bounds and domain)."""

    def __init__(self, system: _HopfSystem, base, bounds, tol: float, physical: Callable):
        self.system, self.base, self.bounds, self.tol = system, base, bounds, tol
        self.physical = physical

    def correct(self, u_pred, t_dir, c):
        u, t, k, res = _correct_hopf(
            jnp.asarray(u_pred),
            jnp.asarray(t_dir),
            jnp.asarray(c),
            self.base,
            self.system,
            self.tol,
        )
        u, t, res = np.asarray(u), np.asarray(t), float(res)
        return u, t, int(k), bool(np.isfinite(res) and res < 1e3 * self.tol)

    def phase(self, u) -> np.ndarray:
        """The reference c with c^H v = 1 at u."""
        v = np.asarray(self.system.split(jnp.asarray(u))[2])
        return v / np.vdot(v, v).real

    def outside(self, u) -> str:
        n = self.system.n
        if u[3 * n + 2] <= 0:
            return "the frequency reached zero"
        if not self.physical(u[:n]):
            return "the rate reached zero"
        return outside_domain(self.base, self.system.names, u[n : n + 2])

    def trace(self, u0, t0, *, ds, ds_min, ds_max, max_points):
        n = self.system.n
        us, ts = [np.asarray(u0)], [np.asarray(t0)]
        c = self.phase(u0)
        h = ds
        while len(us) < max_points:
            u, t = us[-1], ts[-1]
            up = u + h * t
            un, tn, iters, ok = self.correct(up, t, c)
            # Reject jumps to another branch: the tangent may turn by less than ~25 degrees and
            # the corrector must stay near the prediction.
            ok = ok and float(t @ tn) > 0.9 and float(np.linalg.norm(un - up)) < max(0.5 * h, 1e-9)
            if not ok:
                if h <= ds_min * (1 + 1e-9):
                    return us, ts, "not_converged", f"corrector failed at step size ds_min={ds_min}"
                h = max(h / 2, ds_min)
                continue
            for k, (lo, hi) in enumerate(self.bounds):
                i = n + k
                if not lo <= un[i] <= hi:
                    b = lo if un[i] < lo else hi
                    guess = u + (b - u[i]) / (un[i] - u[i]) * (un - u)
                    e = np.zeros_like(u)
                    e[i] = 1.0
                    ue, te, _, okb = self.correct(guess, e, c)
                    if okb:
                        us.append(ue)
                        ts.append(te if te @ t > 0 else -te)
                    name = self.system.names[k]
                    return us, ts, "successful", f"reached the bound {b:g} of {name}"
            why = self.outside(un)
            if why:
                return us, ts, "out_of_domain", f"stopped: {why}"
            us.append(un)
            ts.append(tn)
            c = self.phase(un)
            if len(us) > 8 and float(np.linalg.norm(un - us[0])) < 0.75 * h and t @ ts[0] > 0:
                return us, ts, "successful", "closed curve"
            if iters <= 3:
                h = min(1.5 * h, ds_max)
            elif iters >= 6:
                h = max(h / 2, ds_min)
        return us, ts, "max_steps_reached", f"max_points={max_points} reached"


def _zero_on_curve(tracer: _Tracer, us, j: int, fa: float, fb: float, observe: Callable):
    """Where g changes sign between points j and j + 1 of the curve: regula falsi along the
    chord, each trial corrected onto the curve on the hyperplane through the chord point
    orthogonal to the chord. observe(u) -> (g, extra). Returns (u, g, extra) of the last
    trial, or (us[j], nan, None) when none could be corrected."""
    ua, d = us[j], us[j + 1] - us[j]
    c = tracer.phase(ua)
    direction = d / np.linalg.norm(d)

    def evaluate(s):
        u, _, _, ok = tracer.correct(ua + s * d, direction, c)
        if not ok:
            return np.nan, None
        g, extra = observe(u)
        return g, (u, extra)

    found, g = regula_falsi(evaluate, fa, fb, x_tol=1e-14)
    if found is None:
        return us[j], float("nan"), None
    return found[0], g, found[1]


def _double_hopf(tracer: _Tracer, us, j: int, fa: float, fb: float, n_nodes: int):
    """The double-Hopf point between points j and j + 1 of the curve: the real part of the
    second pair crosses zero."""

    def second_pair(u):
        _, second = _roots_on_curve(jnp.asarray(u)[None], tracer.base, tracer.system, n_nodes)
        second = complex(np.asarray(second)[0])
        return second.real, second

    u, g, second = _zero_on_curve(tracer, us, j, fa, fb, second_pair)
    omega2 = abs(second.imag) if second is not None else np.nan
    return _curve_point("hh", tracer, us, j, u, bool(abs(g) < 1e-9), {"omega2": omega2})


def _generalised_hopf(tracer: _Tracer, us, j: int, fa: float, fb: float):
    """The generalised Hopf (Bautin) point between points j and j + 1 of the curve: l1 crosses
    zero (relative to its size at the two ends)."""

    def lyapunov(u):
        return float(_lyapunov_on_curve(jnp.asarray(u)[None], tracer.base, tracer.system)[0]), None

    u, g, _ = _zero_on_curve(tracer, us, j, fa, fb, lyapunov)
    return _curve_point("gh", tracer, us, j, u, bool(abs(g) < 1e-9 * max(abs(fa), abs(fb))), {})


def _curve_point(kind: str, tracer: _Tracer, us, j: int, u, converged: bool, data):
    """A codimension-two point u found between points j and j + 1 of a Hopf curve, with the
    curve pair's l1, omega and period."""
    system, n = tracer.system, tracer.system.n
    lam = u[n : n + 2]
    omega = u[3 * n + 2]
    l1 = _lyapunov_on_curve(jnp.asarray(u)[None], tracer.base, system)[0]
    return SpecialPoint(
        kind=kind,
        param=system.names,
        value=jnp.asarray(lam),
        state=jnp.asarray(u[:n]),
        params=with_parameters(tracer.base, system.names, jnp.asarray(lam)),
        index=int(
            j if converged and np.linalg.norm(u - us[j]) <= np.linalg.norm(u - us[j + 1]) else j + 1
        ),
        converged=converged,
        first_lyapunov=l1,
        frequency=jnp.asarray(omega),
        period=jnp.asarray(2 * np.pi / omega),
        data=data,
    )


_SEVERITY = ("successful", "out_of_domain", "max_steps_reached", "not_converged")


def continue_delay_hopf(
    params,
    point: SpecialPoint,
    param,
    bounds,
    *,
    vector_field: Callable | None = None,
    delays: Callable | None = None,
    ds: float = 0.02,
    ds_min: float = 1e-6,
    ds_max: float = 0.2,
    max_points: int = 500,
    direction: str = "both",
    n_nodes: int = 20,
    throw: bool = True,
) -> Branch:
    """Continue a Hopf point of a delay-differential equation in two parameters.

    Pseudo-arclength on F(x, p) = 0, Delta(i omega; x, p) v = 0, c^H v = 1 (module docstring),
    with Delta the characteristic matrix of the DDE linearised at the equilibrium x; Newton is
    the core's (`jaxmf._newton`), the Jacobians exact (forward mode). Any two parameters: the
    delay itself or one of its entries ('delay', 'delay[0,1]') and any other (e.g. 'eta_bar',
    'g'). The delayed mean field is the default system; another DDE x' = f(x, x(t - tau_1),
    ..., x(t - tau_K); p) is given by `vector_field` and `delays` with `params` a dict of
    scalars. Along the curve the rightmost characteristic roots and the first Lyapunov
    coefficient l1 (`dde_first_lyapunov_coefficient`) are reported; double-Hopf points (a
    second pair on the imaginary axis) and generalised Hopf points (l1 = 0, where the
    bifurcation turns from super- to subcritical) are located on the curve.

    Parameters
    ----------
    params : Params or dict
        Supplies the other parameter values (a dict of scalars with `vector_field`), the
        point's own parameter set to its `value`.
    point : SpecialPoint
        A 'hopf' point: `state` the equilibrium, `frequency` omega, `param` and `value` where
        it lies (from `continue_delay`; with a dict, `params` the parameters there).
    param : tuple of str
        The two names (p1, p2).
    bounds : tuple
        ((lo1, hi1), (lo2, hi2)); the curve also ends at the edge of the valid domain of
        `Params`, where the rate or omega reaches zero.
    vector_field : callable, optional
        f(x, lagged, params) -> x' with lagged of shape (K, n) (row k: x(t - tau_k)); default
        the delayed mean field (`jaxmf.delay.delayed_meanfield_field`).
    delays : callable, optional
        params -> (K,) the delays (default: `params.delay` flattened, row-major).
    ds, ds_min, ds_max : float
        First, smallest and largest arclength step in (x, p1, p2, v, omega).
    max_points : int, default 500
        Points per direction.
    direction : str, default 'both'
        'both', 'forward' (from the point in the direction of growing p1) or 'backward'.
    n_nodes : int, default 20
        Chebyshev nodes for the characteristic roots along the curve.
    throw : bool, default True
        Raise `ContinuationError` when the corrector fails.

    Returns
    -------
    Branch
        kind 'hopf', values (m, 2), states (m, n) the equilibria, eigenvalues (m, n + 2) the
        rightmost characteristic roots, `stable` where every root off the critical pair has a
        negative real part, data['omega'] the frequency, data['l1'] the first Lyapunov
        coefficient, `special_points` the double-Hopf points ('hh', data['omega2'] the second
        pair's frequency) and generalised Hopf points ('gh', l1 = 0), each with the curve
        pair's `frequency`, `period` and `first_lyapunov`, `status` and `message`.

    Raises
    ------
    ParameterError
        A point of another kind, bad names, bounds or steps, a missing `delays`.
    ContinuationError
        With `throw`, when the corrector fails.

    Examples
    --------
    x' = a x + b x(t - tau) has a Hopf curve b cos(omega tau) = -a, omega = -b sin(omega tau):

    >>> import jax, numpy as np
    >>> jax.config.update("jax_enable_x64", True)
    >>> from jaxmf.bifurcation import SpecialPoint
    >>> f = lambda x, lag, p: p["a"] * x + p["b"] * lag[0]
    >>> p = {"a": -1.0, "b": -2.0, "tau": 2 * np.pi / 3 / np.sqrt(3)}  # omega = sqrt(3)
    >>> hopf = SpecialPoint(kind="hopf", param=("tau",), value=p["tau"], state=np.zeros(1),
    ...                     params=p, frequency=np.sqrt(3.0))
    >>> curve = continue_delay_hopf(p, hopf, ("tau", "b"), ((0.0, 5.0), (-4.0, -1.2)),
    ...                             vector_field=f, delays=lambda p: p["tau"][None])
    >>> tau, b = np.asarray(curve.values).T
    >>> omega = np.sqrt(b**2 - 1.0)
    >>> bool(np.max(np.abs(tau - np.arccos(1.0 / b) / omega)) < 1e-10), curve.message
    (True, 'backward: reached the bound -4 of b; forward: reached the bound -1.2 of b')
    """
    if not isinstance(point, SpecialPoint) or point.kind != "hopf":
        raise ParameterError("point", "needs a 'hopf' SpecialPoint (e.g. from continue_delay)")
    if direction not in ("both", "forward", "backward"):
        raise ParameterError(
            "direction", f"must be 'both', 'forward' or 'backward'; got {direction!r}"
        )
    if not 0 < ds_min <= ds <= ds_max:
        raise ParameterError(
            "ds", f"needs 0 < ds_min <= ds <= ds_max; got {ds_min}, {ds}, {ds_max}"
        )
    max_points = check_whole("max_points", max_points, minimum=2)
    names = tuple(param)
    if len(names) != 2 or names[0] == names[1]:
        raise ParameterError("param", f"needs two different names; got {param!r}")
    try:
        bnds = [(float(lo), float(hi)) for lo, hi in bounds]
    except (TypeError, ValueError):
        raise ParameterError("bounds", f"needs ((lo1, hi1), (lo2, hi2)); got {bounds!r}") from None
    if len(bnds) != 2 or not all(lo < hi for lo, hi in bnds):
        raise ParameterError(
            "bounds", f"needs ((lo1, hi1), (lo2, hi2)) with lo < hi; got {bounds!r}"
        )
    base: Any
    if vector_field is None:
        if not isinstance(params, Params):
            raise ParameterError("params", "give Params, or vector_field and delays for a dict")
        field, delay_fn = _meanfield_field, _meanfield_delays
        values = np.atleast_1d(np.asarray(point.value))
        base = set_parameters(params, point.param[: len(values)], values)
        for name in names:
            parse_parameter(name, base.n_populations)
        n_pop = base.n_populations
        physical: Callable = lambda x: bool(np.all(x[:n_pop] > 0))
    else:
        if delays is None:
            raise ParameterError("delays", "a vector_field needs delays(params) -> (K,)")
        field, delay_fn = vector_field, delays
        base = {**params, **point.params} if isinstance(point.params, dict) else params
        physical = lambda x: True
    x = jnp.asarray(point.state, float)
    dtype = x.dtype
    lam = jnp.stack([jnp.asarray(parameter_value(base, k), dtype) for k in names])
    for k, (lo, hi) in enumerate(bnds):
        if not lo <= float(lam[k]) <= hi:
            raise ParameterError("bounds", f"the point's {names[k]}={float(lam[k]):g} is outside")
    n = int(x.shape[0])
    system = _HopfSystem(field, delay_fn, names, n)
    omega = float(np.asarray(point.frequency))
    if not (math.isfinite(omega) and omega > 0):
        raise ParameterError("point", f"needs its frequency omega > 0; got {omega}")
    a0, a1, tau = _linearise(field, delay_fn, x, with_parameters(base, names, lam))
    delta = np.asarray(_characteristic_matrix(jnp.asarray(1j * omega), a0, a1, tau))
    v = _unit_null_vector(delta)
    u0 = np.concatenate([np.asarray(x), np.asarray(lam), v.real, v.imag, [omega]])
    tol = 1e-12 if dtype == jnp.float64 else 1e-4
    tracer = _Tracer(system, base, bnds, tol, physical)
    jac = np.asarray(jax.jacfwd(lambda y: system.residual(y, jnp.asarray(v), base))(u0))
    t0 = _unit_null_vector(jac).real
    # Forward is the direction in which p1 grows (p2 where the curve is vertical in p1).
    lead = t0[n] if abs(t0[n]) > 1e-6 else t0[n + 1]
    t0 = -t0 if lead < 0 else t0
    u0, t0, _, ok = tracer.correct(u0, t0, v)
    if not ok:
        raise ParameterError("point", "is not a Hopf point of this system (Newton failed there)")
    kwargs = dict(ds=ds, ds_min=ds_min, ds_max=ds_max, max_points=max_points)
    us, messages, statuses = [u0], [], []
    if direction in ("both", "backward"):
        ub, _, sb, mb = tracer.trace(u0, -t0, **kwargs)
        us = ub[::-1] if direction == "both" else ub
        messages.append(f"backward: {mb}")
        statuses.append(sb)
    if direction in ("both", "forward"):
        uf, _, sf, mf = tracer.trace(u0, t0, **kwargs)
        us = us + uf[1:] if direction == "both" else uf
        messages.append(f"forward: {mf}")
        statuses.append(sf)
    arr = jnp.asarray(np.stack(us))
    roots, second = (np.asarray(a) for a in _roots_on_curve(arr, base, system, n_nodes))
    # Off the critical pair, the rightmost root decides stability; where its real part changes
    # sign a second pair crosses: a double-Hopf point.
    stable = second.real < 0
    l1 = np.asarray(_lyapunov_on_curve(arr, base, system))
    specials = []
    for j in np.nonzero(np.sign(second.real[:-1]) * np.sign(second.real[1:]) < 0)[0]:
        specials.append(
            _double_hopf(tracer, np.stack(us), int(j), second.real[j], second.real[j + 1], n_nodes)
        )
    for j in np.nonzero(np.sign(l1[:-1]) * np.sign(l1[1:]) < 0)[0]:
        specials.append(_generalised_hopf(tracer, np.stack(us), int(j), l1[j], l1[j + 1]))
    specials.sort(key=lambda sp: sp.index)
    status = max(statuses, key=_SEVERITY.index)
    message = "; ".join(messages)
    branch = Branch(
        kind="hopf",
        param=names,
        values=arr[:, n : n + 2],
        states=arr[:, :n],
        eigenvalues=jnp.asarray(roots),
        stable=jnp.asarray(stable),
        base=base,
        special_points=tuple(specials),
        message=message,
        data={"omega": arr[:, 3 * n + 2], "l1": jnp.asarray(l1)},
        status=getattr(RESULTS, status),
    )
    if throw and status == "not_converged":
        raise ContinuationError(
            f"DDE Hopf curve in {', '.join(names)}: {message}; the branch so far is in .result "
            "(throw=False returns it)",
            branch,
        )
    return branch
