"""Delay-differential equations with constant delays: a solver and the characteristic roots.

diffrax has no DDE solver, so this module provides the two pieces a delayed model needs:

- `solve_dde`: the method of steps on the Dormand–Prince 5(4) pair with its continuous extension
  (Shampine's 4th-order dense output, as in Hairer & Wanner's DOPRI5), the approach of MATLAB's
  dde23/ddesd and Julia's `MethodOfSteps`. Every accepted step's interpolant is kept, so a delayed
  state y(t - tau) is read from the computed solution (or from the history before t0). Steps are
  adaptive (error per unit step, PI-free I-controller), never longer than the smallest delay (the
  delayed terms of every stage are then known: the scheme stays explicit), and they land exactly
  on the points where the history's jump at t0 makes the solution's derivatives jump
  (t0 + k1 tau1 + k2 tau2 + ..., up to a total order of `discontinuity_order`).
  It runs under `jit` and `vmap`, and differentiates in forward mode (`jax.jvp`, `jax.jacfwd`):
  the step loop is a `lax.while_loop`.
- `characteristic_roots`: the rightmost roots of det(lambda I - A0 - sum_k A_k exp(-lambda tau_k))
  = 0 of a linear DDE x' = A0 x + sum_k A_k x(t - tau_k), by a pseudospectral (Chebyshev)
  discretisation of the infinitesimal generator (Breda, Maset & Vermiglio 2005, the method of
  DDE-BIFTOOL and TRACE-DDE), each root then refined by Newton on the characteristic matrix.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._results import RESULTS, raise_or_flag, status_message
from .params import ParameterError, check_positive, check_whole

__all__ = ["DDESolution", "solve_dde", "characteristic_roots", "discontinuities"]

# Dormand–Prince 5(4): nodes, stages, 5th-order weights (= the 7th stage, FSAL), error weights
# (5th minus 4th order) and the dense-output weights of Shampine (1986).
_C = [0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0]
_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
]
_E = [71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40]
_D = [
    -12715105075 / 11282082432,
    0.0,
    87487479700 / 32700410799,
    -10690763975 / 1880347072,
    701980252875 / 199316789632,
    -1453857185 / 822651844,
    69997945 / 29380423,
]


class DDESolution(eqx.Module):
    """The result of `solve_dde`.

    Attributes
    ----------
    ts : Array
        (T,) save times.
    ys : Array
        (T, n) the solution there (from the interpolant of the step that holds each time).
    status : RESULTS
        successful; max_steps_reached (the step budget ran out before t1, `ys` beyond the last
        step is NaN); diverged (a non-finite state or a step size that fell below 1e-14 of the
        time span).
    n_steps : Array
        Accepted steps.
    n_rejected : Array
        Rejected steps.

    Examples
    --------
    y' = -y(t - 1) with history 1: on [1, 2], y = 1 - t + (t - 1)^2 / 2, so y(2) = -0.5.

    >>> import jax; jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp
    >>> sol = solve_dde(lambda t, y, lag, a: -lag[0], jnp.ones(1), 2.0, jnp.array([1.0]),
    ...                 ts=jnp.array([2.0]))
    >>> bool(sol.status == RESULTS.successful), round(float(sol.ys[0, 0]), 8)
    (True, -0.5)
    """

    ts: jax.Array
    ys: jax.Array
    status: Any
    n_steps: jax.Array
    n_rejected: jax.Array

    @property
    def message(self) -> str:
        return status_message(self.status)


def discontinuities(t0, delays, order: int) -> jax.Array:
    """Where the derivatives of a DDE's solution may jump: t0 + sum_k m_k tau_k for integer
    m_k >= 0 with 1 <= sum_k m_k <= order, sorted (duplicates kept).

    A history that does not match the solution's derivative at t0 makes y' jump at t0 + tau_k,
    y'' at t0 + tau_j + tau_k, and so on: a method of order p needs the first p of them as step
    ends to keep its order.

    Parameters
    ----------
    t0 : float
        The start time.
    delays : Array
        (K,) the constant delays.
    order : int
        The largest total multiplicity sum_k m_k.

    Returns
    -------
    Array
        The points, sorted.

    Examples
    --------
    >>> [float(x) for x in discontinuities(0.0, jnp.array([1.0]), 3)]
    [1.0, 2.0, 3.0]
    """
    delays = jnp.atleast_1d(jnp.asarray(delays))
    k = delays.shape[0]
    combos = [m for m in itertools.product(range(order + 1), repeat=k) if 1 <= sum(m) <= order]
    points = t0 + jnp.asarray(np.array(combos, float), delays.dtype) @ delays
    return jnp.sort(points)


class _Steps(eqx.Module):
    """The accepted steps' interpolants: step k covers [start[k], start[k] + h[k]] with
    y(start + theta h) = c0 + theta (c1 + (1 - theta) (c2 + theta (c3 + (1 - theta) c4)))."""

    start: jax.Array  # (M + 1,), +inf after the last accepted step
    h: jax.Array  # (M,)
    coef: jax.Array  # (M, 5, n)

    def evaluate(self, s):
        i = jnp.clip(jnp.searchsorted(self.start, s, side="right") - 1, 0, self.h.shape[0] - 1)
        h = self.h[i]
        theta = jnp.where(h > 0, (s - self.start[i]) / jnp.where(h > 0, h, 1.0), 0.0)
        c = self.coef[i]
        return c[0] + theta * (c[1] + (1 - theta) * (c[2] + theta * (c[3] + (1 - theta) * c[4])))


def _lagged(steps: _Steps, history, t0, delays, s, args):
    """y(s - tau_k) for every delay: (K, n)."""

    def one(tau):
        u = s - tau
        past = jnp.asarray(history(jnp.minimum(u, t0), args))
        return jnp.where(u <= t0, past, steps.evaluate(u))

    return jax.vmap(one)(delays)


class _State(eqx.Module):
    t: jax.Array
    y: jax.Array
    k1: jax.Array
    h: jax.Array
    steps: _Steps
    n_acc: jax.Array
    n_rej: jax.Array
    failed: jax.Array


def solve_dde(
    vector_field: Callable,
    history,
    t1: float,
    delays,
    *,
    t0: float = 0.0,
    args=None,
    ts=None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    dt0: float | None = None,
    max_steps: int = 20_000,
    discontinuity_order: int = 5,
    breakpoints=None,
    throw: bool = True,
) -> DDESolution:
    """Solve y'(t) = f(t, y(t), y(t - tau_1), ..., y(t - tau_K), args) from t0 to t1.

    Parameters
    ----------
    vector_field : callable
        f(t, y, y_lagged, args) -> y' with y of shape (n,) and y_lagged (K, n): y(t - tau_k).
    history : callable or array
        y(t) for t <= t0: a callable (t, args) -> (n,) (it must accept any t <= t0), or an array,
        the constant history. The solution starts from history(t0).
    t1 : float
        The end time.
    delays : Array
        (K,) positive constant delays (may be traced: under `jit`/`vmap` and as a
        differentiation variable).
    t0 : float, default 0.0
        The start time.
    args : Any
        Passed to the vector field and the history.
    ts : Array, optional
        Save times in [t0, t1] (default 1001 equally spaced times).
    rtol, atol : float
        Tolerances of the error per step (mixed absolute/relative, RMS norm).
    dt0 : float, optional
        The first step (default 1e-3 of the time span, capped by the smallest delay).
    max_steps : int, default 20000
        The step budget; it also sizes the stored interpolants (max_steps x 5 x n numbers).
    discontinuity_order : int, default 5
        How many generations of derivative jumps from t0 the steps land on (`discontinuities`).
    breakpoints : Array, optional
        Further times the steps land on exactly (where the vector field itself jumps, e.g. a
        piecewise-constant input); times outside (t0, t1) are ignored.
    throw : bool, default True
        Raise `NumericalError` (under `jit`: an `equinox.error_if` error) unless the status is
        successful; with False the flagged result is returned.

    Returns
    -------
    DDESolution

    Raises
    ------
    ParameterError
        A non-positive delay, t1 <= t0, bad tolerances or step budget.
    NumericalError
        With `throw`: the step budget ran out or the solution diverged.

    Examples
    --------
    y' = -y(t - 1) with history 1: y = 1 - t on [0, 1].

    >>> import jax; jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp
    >>> sol = solve_dde(lambda t, y, lag, a: -lag[0], jnp.ones(1), 1.0, jnp.array([1.0]),
    ...                 ts=jnp.array([0.5, 1.0]))
    >>> [round(float(x), 10) for x in sol.ys[:, 0]]
    [0.5, 0.0]
    """
    check_positive("rtol", rtol)
    check_positive("atol", atol)
    max_steps = check_whole("max_steps", max_steps)
    discontinuity_order = check_whole("discontinuity_order", discontinuity_order, minimum=0)
    delays = jnp.atleast_1d(jnp.asarray(delays))
    if delays.ndim != 1:
        raise ParameterError("delays", f"must be a 1-D array of delays; got shape {delays.shape}")
    concrete = not isinstance(delays, jax.core.Tracer)
    if concrete and not bool(jnp.all(delays > 0)):
        raise ParameterError("delays", f"must all be > 0; got {np.asarray(delays).tolist()}")
    for name, x in (("t0", t0), ("t1", t1)):
        if not isinstance(x, jax.core.Tracer) and not np.isfinite(float(x)):
            raise ParameterError(name, f"must be finite; got {x}")
    if not isinstance(t1, jax.core.Tracer) and not isinstance(t0, jax.core.Tracer):
        if not float(t1) > float(t0):
            raise ParameterError("t1", f"must be > t0 = {t0}; got {t1}")
    if not callable(history):
        history = _Constant(jnp.asarray(history))
    dtype = jnp.result_type(float, delays, jnp.asarray(history(jnp.asarray(t0), args)))
    delays = delays.astype(dtype)
    start, end = jnp.asarray(t0, dtype), jnp.asarray(t1, dtype)
    ts = jnp.linspace(start, end, 1001) if ts is None else jnp.asarray(ts, dtype)
    h0 = jnp.minimum(
        1e-3 * (end - start) if dt0 is None else jnp.asarray(dt0, dtype), jnp.min(delays)
    )
    tol = (jnp.asarray(rtol, dtype), jnp.asarray(atol, dtype))
    # Python floats in args become arrays: one compilation serves every value.
    args = jax.tree.map(lambda x: jnp.asarray(x, dtype) if type(x) is float else x, args)
    extra = jnp.zeros((0,), dtype) if breakpoints is None else jnp.asarray(breakpoints, dtype)
    sol = _integrate(
        vector_field,
        history,
        start,
        end,
        delays,
        args,
        ts,
        tol,
        h0,
        max_steps,
        discontinuity_order,
        jnp.atleast_1d(extra),
    )
    return _maybe_throw(sol) if throw else sol


class _Constant(eqx.Module):
    """A constant history (an array leaf: one compilation serves every value)."""

    value: jax.Array

    def __call__(self, t, args):
        return self.value


@eqx.filter_jit
def _integrate(
    vector_field, history, t0, t1, delays, args, ts, tol, h0, max_steps, discontinuity_order, extra
):
    """The step loop, compiled once per (vector field, history, shapes, max_steps, order)."""
    rtol, atol = tol
    dtype = t0.dtype
    y0 = jnp.atleast_1d(jnp.asarray(history(t0, args), dtype))
    n = y0.shape[0]
    tau_min = jnp.min(delays)
    span = t1 - t0
    jumps = discontinuities(t0, delays, discontinuity_order) if discontinuity_order else t1[None]
    # Breakpoints outside (t0, t1) become t1: the steps land there anyway.
    extra = jnp.where((extra > t0) & (extra < t1), extra, t1)
    jumps = jnp.sort(jnp.concatenate([jumps, extra, t1[None]]))

    def f(t, y, steps):
        return jnp.asarray(vector_field(t, y, _lagged(steps, history, t0, delays, t, args), args))

    steps0 = _Steps(
        start=jnp.full((max_steps + 1,), jnp.inf, dtype),
        h=jnp.zeros((max_steps,), dtype),
        coef=jnp.zeros((max_steps, 5, n), dtype),
    )
    init = _State(
        t=t0,
        y=y0,
        k1=f(t0, y0, steps0),
        h=h0,
        steps=steps0,
        n_acc=jnp.asarray(0),
        n_rej=jnp.asarray(0),
        failed=jnp.asarray(False),
    )
    tiny = 1e-14 * span

    def cond(s: _State):
        return (s.t < t1) & (s.n_acc < max_steps) & ~s.failed

    def body(s: _State):
        # Land on the next derivative jump (or t1), never step past the smallest delay.
        nxt = jumps[jnp.searchsorted(jumps, s.t + tiny, side="right")]
        h = jnp.minimum(jnp.minimum(s.h, tau_min), nxt - s.t)
        h = jnp.where(nxt - s.t - h < 1e-3 * h, nxt - s.t, h)  # no sliver step before a jump
        ks = [s.k1]
        for i in range(1, 7):
            yi = s.y + h * sum(a * k for a, k in zip(_A[i], ks) if a != 0.0)
            # The lagged values of a stage read finished steps only (h <= tau_min).
            ks.append(f(s.t + _C[i] * h, yi, s.steps))
        y_new = s.y + h * sum(a * k for a, k in zip(_A[6], ks) if a != 0.0)
        err = h * sum(e * k for e, k in zip(_E, ks) if e != 0.0)
        scale = atol + rtol * jnp.maximum(jnp.abs(s.y), jnp.abs(y_new))
        norm = jnp.sqrt(jnp.mean((err / scale) ** 2))
        finite = jnp.all(jnp.isfinite(y_new)) & jnp.isfinite(norm)
        accept = finite & (norm <= 1.0)
        factor = jnp.clip(0.9 * jnp.where(norm > 0, norm, 1e-10) ** (-1 / 5), 0.2, 5.0)
        h_next = jnp.where(finite, h * factor, 0.25 * h)

        diff = y_new - s.y
        bspl = h * ks[0] - diff
        coef = jnp.stack(
            [
                s.y,
                diff,
                bspl,
                diff - h * ks[6] - bspl,
                h * sum(d * k for d, k in zip(_D, ks) if d != 0.0),
            ]
        )
        slot = s.n_acc  # an accepted step fills this slot; a rejected one leaves it as it was
        old = s.steps
        steps = _Steps(
            start=old.start.at[slot].set(jnp.where(accept, s.t, old.start[slot])),
            h=old.h.at[slot].set(jnp.where(accept, h, old.h[slot])),
            coef=old.coef.at[slot].set(jnp.where(accept, coef, old.coef[slot])),
        )
        t_new = jnp.where(accept, jnp.where(h == nxt - s.t, nxt, s.t + h), s.t)
        return _State(
            t=t_new,
            y=jnp.where(accept, y_new, s.y),
            k1=jnp.where(accept, ks[6], s.k1),
            h=h_next,
            steps=steps,
            n_acc=s.n_acc + accept.astype(s.n_acc.dtype),
            n_rej=s.n_rej + (~accept).astype(s.n_rej.dtype),
            failed=h_next < tiny,
        )

    final = jax.lax.while_loop(cond, body, init)
    done = final.t >= t1
    status = RESULTS.where(
        done,
        RESULTS.successful,
        RESULTS.where(final.failed, RESULTS.diverged, RESULTS.max_steps_reached),
    )
    ys = jax.vmap(final.steps.evaluate)(ts)
    reached = (ts <= final.t)[:, None]
    ys = jnp.where(ts[:, None] <= t0, jax.vmap(lambda u: history(u, args))(ts), ys)
    ys = jnp.where(reached, ys, jnp.nan)
    return DDESolution(ts=ts, ys=ys, status=status, n_steps=final.n_acc, n_rejected=final.n_rej)


def _maybe_throw(sol: DDESolution) -> DDESolution:
    advice = "raise max_steps, loosen rtol/atol, or check the vector field"
    return raise_or_flag(sol, "ys", "solve_dde", advice)


def _chebyshev(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Chebyshev extremal points x_j = cos(j pi / n) on [-1, 1] and their differentiation
    matrix (Trefethen, Spectral Methods in MATLAB, cheb.m)."""
    x = np.cos(np.pi * np.arange(n + 1) / n)
    c = np.ones(n + 1)
    c[0] = c[-1] = 2.0
    c *= (-1.0) ** np.arange(n + 1)
    dx = x[:, None] - x[None, :]
    d = np.outer(c, 1.0 / c) / (dx + np.eye(n + 1))
    d -= np.diag(d.sum(axis=1))
    return x, d


def _lagrange_row(nodes: np.ndarray, s: float) -> np.ndarray:
    """Weights w_j with p(s) = sum_j w_j p(nodes_j) for the interpolating polynomial
    (barycentric form; exact at a node)."""
    n = len(nodes) - 1
    w = (-1.0) ** np.arange(n + 1)
    w[0] *= 0.5
    w[-1] *= 0.5
    diff = s - nodes
    hit = np.isclose(diff, 0.0, atol=1e-14 * max(1.0, np.max(np.abs(nodes))))
    if hit.any():
        return hit.astype(float) / hit.sum()
    terms = w / diff
    return terms / terms.sum()


def characteristic_roots(
    a0,
    a_delayed,
    delays,
    *,
    n_nodes: int = 40,
    n_roots: int = 8,
    newton_steps: int = 8,
) -> np.ndarray:
    """The rightmost roots of the characteristic equation of x' = A0 x + sum_k A_k x(t - tau_k):
    det(lambda I - A0 - sum_k A_k exp(-lambda tau_k)) = 0.

    The infinitesimal generator of the DDE's solution semigroup is discretised by collocation at
    `n_nodes` + 1 Chebyshev points on [-tau_max, 0] (Breda, Maset & Vermiglio, SIAM J Sci Comput
    27, 2005); its eigenvalues approximate the roots, the rightmost ones first and best. Each of
    the `n_roots` rightmost is then refined by Newton on Delta(lambda) v = 0, c^H v = 1, so the
    returned roots solve the characteristic equation to round-off.

    Parameters
    ----------
    a0 : Array
        (n, n) the undelayed Jacobian A0.
    a_delayed : Array
        (K, n, n) the Jacobians of the delayed terms.
    delays : Array
        (K,) positive delays.
    n_nodes : int, default 40
        Chebyshev nodes of the discretisation (the matrix has n (n_nodes + 1) rows).
    n_roots : int, default 8
        How many roots to return.
    newton_steps : int, default 8
        Newton iterations per root.

    Returns
    -------
    numpy.ndarray
        (n_roots,) complex roots, by decreasing real part (of a complex pair, the one with
        positive imaginary part first).

    Raises
    ------
    ParameterError
        Mismatched shapes or a non-positive delay.

    Examples
    --------
    x' = -x(t - 1): the rightmost pair is -0.3181 +- 1.3372i (Lambert W).

    >>> roots = characteristic_roots([[0.0]], [[[-1.0]]], [1.0], n_roots=2)
    >>> [round(float(z.real), 4) for z in roots], round(abs(float(roots[0].imag)), 4)
    ([-0.3181, -0.3181], 1.3372)
    """
    a0 = np.atleast_2d(np.asarray(a0, float))
    ak = np.asarray(a_delayed, float).reshape(-1, *a0.shape)
    tau = np.atleast_1d(np.asarray(delays, float))
    n = a0.shape[0]
    if a0.shape != (n, n):
        raise ParameterError("a0", f"must be square; got shape {a0.shape}")
    if ak.shape[0] != tau.shape[0]:
        raise ParameterError(
            "a_delayed", f"needs one matrix per delay: {ak.shape[0]} matrices, {tau.size} delays"
        )
    if not np.all(tau > 0):
        raise ParameterError("delays", f"must all be > 0; got {tau.tolist()}")
    n_nodes = check_whole("n_nodes", n_nodes, minimum=2)
    n_roots = check_whole("n_roots", n_roots)
    x, d = _chebyshev(n_nodes)
    tau_max = tau.max()
    theta = tau_max * (x - 1) / 2  # theta_0 = 0, theta_N = -tau_max
    d = d * (2 / tau_max)
    m = n * (n_nodes + 1)
    big = np.zeros((m, m))
    # Row block 0: the splicing condition u'(0) = A0 u(0) + sum_k A_k u(-tau_k).
    big[:n, :n] = a0
    for a, t in zip(ak, tau):
        big[:n] += np.kron(_lagrange_row(theta, -t)[None, :], a)
    # Row blocks 1..N: u'(theta_i) by spectral differentiation.
    big[n:] = np.kron(d[1:], np.eye(n))
    ev = np.linalg.eigvals(big)
    ev = ev[np.argsort(-ev.real)][: max(n_roots * 2, n_roots + 4)]
    refined = np.array([_newton_root(a0, ak, tau, z, newton_steps) for z in ev])
    # Newton may move two estimates onto one root: keep distinct roots, rightmost first.
    order = np.argsort(-refined.real)
    out: list[complex] = []
    for z in refined[order]:
        if all(abs(z - w) > 1e-8 * max(1.0, abs(z)) for w in out):
            out.append(z)
        if len(out) == n_roots:
            break
    out_arr = np.array(out)
    # Canonical order: by decreasing real part, the positive imaginary part of a pair first.
    return out_arr[np.lexsort((-out_arr.imag, -np.round(out_arr.real, 10)))]


def _newton_root(a0, ak, tau, z, steps: int) -> complex:
    """Newton on Delta(lambda) v = 0, c^H v = 1 from the eigenvalue estimate z."""
    n = a0.shape[0]

    def delta(lam):
        return lam * np.eye(n) - a0 - np.einsum("k,kij->ij", np.exp(-lam * tau), ak)

    def d_delta(lam):
        return np.eye(n) + np.einsum("k,kij->ij", tau * np.exp(-lam * tau), ak)

    # Start from the null vector of Delta(z) (smallest singular vector).
    _, _, vh = np.linalg.svd(delta(z))
    v = vh[-1].conj()
    c = v.copy()
    lam = complex(z)
    for _ in range(steps):
        jac = np.zeros((n + 1, n + 1), complex)
        jac[:n, :n] = delta(lam)
        jac[:n, n] = d_delta(lam) @ v
        jac[n, :n] = c.conj()
        res = np.concatenate([delta(lam) @ v, [c.conj() @ v - 1.0]])
        try:
            step = np.linalg.solve(jac, -res)
        except np.linalg.LinAlgError:
            break
        v = v + step[:n]
        lam = lam + step[n]
        if abs(step[n]) <= 1e-15 * max(1.0, abs(lam)):
            break
    return lam
