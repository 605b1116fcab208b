"""Bifurcations of the delayed mean field: Hopf points in a delay (`continue_delay`).

Module layering: this module builds on `bifurcation` (Branch), `meanfield` (equilibria) and
`delay` (the delayed field); `delay` itself imports neither, so `meanfield` can dispatch to it
without an import cycle.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .bifurcation import Branch, SpecialPoint
from .dde import characteristic_roots
from .delay import delayed_jacobians
from .meanfield import meanfield_equilibria
from .params import ParameterError, Params, check_whole, parse_parameter, set_parameter

__all__ = ["continue_delay"]


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
    omega with omega > 0; lambda = 0 does not depend on the delay). The first Lyapunov
    coefficient of a delay equation's Hopf point is not computed (NaN).

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
        Grid points on `bounds`.
    n_nodes : int, default 20
        Chebyshev nodes of the discretisation (raise it for delays much longer than the
        slowest oscillation).

    Returns
    -------
    Branch
        kind 'equilibrium', param (param,), values (points + Hopf points, 1), eigenvalues the
        4P rightmost characteristic roots, `stable`, and `special_points` the Hopf points
        (`frequency` omega*, `data['direction']` +1 where stability is lost with growing
        delay, -1 where it is regained, `converged` when the Newton residual is below 1e-10,
        1e-4 in float32).

    Raises
    ------
    ParameterError
        `param` is not a delay, bad bounds or grid.

    Examples
    --------
    >>> from jaxmf import presets
    >>> b = continue_delay(presets.chen_campbell_2022(eta_bar=0.25), bounds=(0.0, 3.0), points=31)
    >>> [(sp.kind, round(float(sp.value), 2)) for sp in b.special_points]
    [('hopf', 1.86)]
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
    specials = []
    for j in np.nonzero(np.diff(unstable) != 0)[0]:
        # The crossing pair: nearest the imaginary axis on both sides.
        k_a, k_b = np.argmin(np.abs(re[j])), np.argmin(np.abs(re[j + 1]))
        ra, rb = roots[j, k_a], roots[j + 1, k_b]
        frac = ra.real / (ra.real - rb.real) if ra.real != rb.real else 0.5
        guess = float(values[j] + frac * (values[j + 1] - values[j]))
        omega, tau, res = _refine_hopf(
            a0, a1, base, jnp.asarray(guess, x.dtype), address, jnp.asarray(abs(ra.imag), x.dtype)
        )
        tol = 1e-10 if x.dtype == jnp.float64 else 1e-4
        ok = bool(res < tol) and float(values[j]) - 1e-9 <= float(tau) <= float(values[j + 1])
        tau = tau if ok else jnp.asarray(guess, x.dtype)
        specials.append(
            SpecialPoint(
                kind="hopf",
                param=(param,),
                value=tau,
                state=x,
                params=set_parameter(base, address, tau),
                index=int(j + 1),
                converged=ok,
                frequency=jnp.abs(omega) if ok else jnp.asarray(abs(ra.imag)),
                data={"direction": int(np.sign(unstable[j + 1] - unstable[j]))},
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
