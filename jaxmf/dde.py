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
  the step loop is a `lax.while_loop`. Under `vmap` each lane takes its own steps and the loop
  runs until the last lane is done, without copying the stored interpolants at every step.
- `characteristic_roots`: the rightmost roots of det(lambda I - A0 - sum_k A_k exp(-lambda tau_k))
  = 0 of a linear DDE x' = A0 x + sum_k A_k x(t - tau_k), by a pseudospectral (Chebyshev)
  discretisation of the infinitesimal generator (Breda, Maset & Vermiglio 2005, the method of
  DDE-BIFTOOL and TRACE-DDE), each root then refined by Newton on the characteristic matrix.
"""

from __future__ import annotations

import functools
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


# Steps per block of the two-level search in `_Steps.locate`.
_BLOCK = 64


def _count_le(sorted_values, x):
    """How many of `sorted_values` are <= x (`searchsorted`, side right). A short array is
    compared whole (no inner loop in the step loop: faster, and nothing for XLA to copy)."""
    method = "compare_all" if sorted_values.shape[0] <= 2048 else "scan"
    return jnp.searchsorted(sorted_values, x, side="right", method=method)


class _Steps(eqx.Module):
    """The accepted steps' interpolants: step k covers [start[k], start[k] + h[k]] with
    y(start + theta h) = c0 + theta (c1 + (1 - theta) (c2 + theta (c3 + (1 - theta) c4))).
    `first` holds every `_BLOCK`-th start, for the search; h rides along as a sixth row of the
    coefficients (one read per evaluation)."""

    start: jax.Array  # (B * (M // B + 1),) >= M + 1, +inf after the last accepted step
    first: jax.Array  # (M // B + 1,): start[::B]
    coef: jax.Array  # (M, 6, n): c0..c4, then h in every column

    @classmethod
    def empty(cls, max_steps: int, n: int, dtype) -> _Steps:
        blocks = max_steps // _BLOCK + 1
        return cls(
            start=jnp.full((blocks * _BLOCK,), jnp.inf, dtype),
            first=jnp.full((blocks,), jnp.inf, dtype),
            coef=jnp.zeros((max_steps, 6, n), dtype),
        )

    def record(self, slot, accept, t, h, coef) -> _Steps:
        """Step `slot` set to (t, h, coef) where `accept`, else left as it was.

        One index per write, said unique: the forward-mode rule of a scatter that may repeat
        an index works on the whole store (max_steps numbers per step), this one on the slot.
        """
        block, offset = jnp.divmod(slot, _BLOCK)
        starts_block = accept & (offset == 0)
        coef = jnp.concatenate([coef, jnp.broadcast_to(h, coef[:1].shape)])

        def put(store, i, value, keep):
            return store.at[i].set(jnp.where(keep, value, store[i]), unique_indices=True)

        return _Steps(
            start=put(self.start, slot, t, accept),
            first=put(self.first, block, t, starts_block),
            coef=put(self.coef, slot, coef, accept),
        )

    def locate(self, s):
        """The step that holds s, the last one starting at or before s (0 before the first),
        and its start.

        A bisection of the block starts, then a count within one block: under `vmap` a gather
        from the (lanes x max_steps) store costs in proportion to max_steps on a CPU, and
        this reads the store once (a block) instead of once per bisection level.
        """
        block = jnp.clip(_count_le(self.first, s) - 1, 0, None)
        window = jax.lax.dynamic_slice(self.start, (block * _BLOCK,), (_BLOCK,))
        count = jnp.sum(window <= s, dtype=block.dtype)
        i = jnp.clip(block * _BLOCK + count - 1, 0, self.coef.shape[0] - 1)
        return i, window[jnp.clip(i - block * _BLOCK, 0, _BLOCK - 1)]

    def evaluate(self, s):
        i, start = self.locate(s)
        c = self.coef[i]
        h = c[5, 0]
        theta = jnp.where(h > 0, (s - start) / jnp.where(h > 0, h, 1.0), 0.0)
        return c[0] + theta * (c[1] + (1 - theta) * (c[2] + theta * (c[3] + (1 - theta) * c[4])))


def _lagged(steps: _Steps, history, t0, delays, s, args):
    """y(s - tau_k) for every delay: (K, n)."""

    def one(tau):
        u = s - tau
        past = jnp.asarray(history(jnp.minimum(u, t0), args))
        return jnp.where(u <= t0, past, steps.evaluate(u))

    return jax.vmap(one)(delays)


@jax.custom_batching.custom_vmap
def _any_lane(running):
    """`running` itself; under `vmap`, whether any lane is running, unbatched.

    A `lax.while_loop` whose predicate is batched runs until every lane is done and keeps the
    finished lanes' carry by a select over the whole carry at every iteration: with the stored
    interpolants in the carry, a copy of max_steps x 6 x n numbers per step. With this predicate
    the loop stays unbatched and the body leaves a finished lane as it was itself (`go` in
    `_integrate`): no copy, and each lane's numbers are those of the batched body as before
    (lanes finish on their own steps). Only the predicate passes
    through here (the while loop's forward-mode rule reads it on the primal values only), so
    `jvp`, `jacfwd` and their `vmap`s see an ordinary loop.
    """
    return running


@_any_lane.def_vmap
def _any_lane_vmap(axis_size, in_batched, running):
    return jnp.any(running), False


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
        The step budget; it also sizes the stored interpolants (max_steps x 6 x n numbers).
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

    steps0 = _Steps.empty(max_steps, n, dtype)
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

    def running(s: _State):
        return (s.t < t1) & (s.n_acc < max_steps) & ~s.failed

    def body(s: _State):
        go = running(s)  # False only in a finished lane of a batch: that lane stays as it was
        # Land on the next derivative jump (or t1), never step past the smallest delay.
        nxt = jumps[_count_le(jumps, s.t + tiny)]
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
        accept = accept & go
        steps = s.steps.record(slot, accept, s.t, h, coef)
        t_new = jnp.where(accept, jnp.where(h == nxt - s.t, nxt, s.t + h), s.t)
        return _State(
            t=t_new,
            y=jnp.where(accept, y_new, s.y),
            k1=jnp.where(accept, ks[6], s.k1),
            h=jnp.where(go, h_next, s.h),
            steps=steps,
            n_acc=s.n_acc + accept.astype(s.n_acc.dtype),
            n_rej=s.n_rej + (go & ~accept).astype(s.n_rej.dtype),
            failed=jnp.where(go, h_next < tiny, s.failed),
        )

    final = jax.lax.while_loop(lambda s: _any_lane(running(s)), body, init)
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


def _lagrange_row(nodes, s):
    """Weights w_j with p(s) = sum_j w_j p(nodes_j) for the interpolating polynomial at the
    Chebyshev extremal points (barycentric form; exact at a node). Traceable in s and nodes."""
    n = nodes.shape[0] - 1
    w = (-1.0) ** np.arange(n + 1)
    w[0] *= 0.5
    w[-1] *= 0.5
    diff = s - nodes
    hit = jnp.abs(diff) <= 1e-14 * jnp.maximum(1.0, jnp.max(jnp.abs(nodes)))
    terms = jnp.asarray(w, diff.dtype) / jnp.where(hit, 1.0, diff)
    exact = hit.astype(diff.dtype) / jnp.maximum(jnp.sum(hit.astype(diff.dtype)), 1.0)
    return jnp.where(jnp.any(hit), exact, terms / jnp.sum(terms))


def characteristic_roots(
    a0,
    a_delayed,
    delays,
    *,
    n_nodes: int = 40,
    n_roots: int = 8,
    newton_steps: int = 8,
) -> np.ndarray | jax.Array:
    """The rightmost roots of the characteristic equation of x' = A0 x + sum_k A_k x(t - tau_k):
    det(lambda I - A0 - sum_k A_k exp(-lambda tau_k)) = 0.

    The infinitesimal generator of the DDE's solution semigroup is discretised by collocation at
    `n_nodes` + 1 Chebyshev points on [-tau_max, 0] (Breda, Maset & Vermiglio, SIAM J Sci Comput
    27, 2005); its eigenvalues approximate the roots, the rightmost ones first and best. Each of
    the `n_roots` rightmost is then refined by Newton on Delta(lambda) v = 0, c^H v = 1, so the
    returned roots solve the characteristic equation to round-off. A zero delay is read from the
    present (its matrix joins A0). Traceable: runs under `jit` and `vmap` (matrices and delays
    may be traced), compiled once per (shapes, n_nodes, n_roots, newton_steps).

    Parameters
    ----------
    a0 : Array
        (n, n) the undelayed Jacobian A0.
    a_delayed : Array
        (K, n, n) the Jacobians of the delayed terms.
    delays : Array
        (K,) delays >= 0.
    n_nodes : int, default 40
        Chebyshev nodes of the discretisation (the matrix has n (n_nodes + 1) rows).
    n_roots : int, default 8
        How many roots to return.
    newton_steps : int, default 8
        Newton iterations per root.

    Returns
    -------
    numpy.ndarray or jax.Array
        (n_roots,) complex roots (a NumPy array, or a JAX array under tracing), by decreasing
        real part (of a complex pair, the one with
        positive imaginary part first); NaN where fewer distinct roots were found (with all
        delays zero: the n eigenvalues of A0 + sum_k A_k).

    Raises
    ------
    ParameterError
        Mismatched shapes or a negative (concrete) delay.

    Examples
    --------
    x' = -x(t - 1): the rightmost pair is -0.3181 +- 1.3372i (Lambert W).

    >>> roots = characteristic_roots([[0.0]], [[[-1.0]]], [1.0], n_roots=2)
    >>> [round(float(z.real), 4) for z in roots], round(abs(float(roots[0].imag)), 4)
    ([-0.3181, -0.3181], 1.3372)
    """
    a0 = jnp.atleast_2d(jnp.asarray(a0))
    dtype = jnp.result_type(float, a0)
    a0 = a0.astype(dtype)
    n = a0.shape[0]
    if a0.shape != (n, n):
        raise ParameterError("a0", f"must be square; got shape {a0.shape}")
    ak = jnp.asarray(a_delayed, dtype).reshape(-1, n, n)
    tau = jnp.atleast_1d(jnp.asarray(delays, dtype))
    if ak.shape[0] != tau.shape[0]:
        raise ParameterError(
            "a_delayed", f"needs one matrix per delay: {ak.shape[0]} matrices, {tau.size} delays"
        )
    if not isinstance(tau, jax.core.Tracer) and not bool(jnp.all(tau >= 0)):
        raise ParameterError("delays", f"must all be >= 0; got {np.asarray(tau).tolist()}")
    n_nodes = check_whole("n_nodes", n_nodes, minimum=2)
    n_roots = check_whole("n_roots", n_roots)
    newton_steps = check_whole("newton_steps", newton_steps, minimum=0)
    out = _roots(a0, ak, tau, n_nodes, n_roots, newton_steps)
    return out if isinstance(out, jax.core.Tracer) else np.asarray(out)


@functools.partial(jax.jit, static_argnums=(3, 4, 5))
def _roots(a0, ak, tau, n_nodes: int, n_roots: int, newton_steps: int):
    n = a0.shape[0]
    zero = tau == 0
    # A zero delay reads the present: its matrix joins A0 and a stand-in delay keeps the grid.
    a0 = a0 + jnp.sum(jnp.where(zero[:, None, None], ak, 0.0), axis=0)
    ak = jnp.where(zero[:, None, None], 0.0, ak)
    tau_max = jnp.max(tau)
    tau_max = jnp.where(tau_max > 0, tau_max, 1.0)
    tau = jnp.where(zero, tau_max, tau)
    x, d = _chebyshev(n_nodes)
    theta = tau_max * (jnp.asarray(x, a0.dtype) - 1) / 2  # theta_0 = 0, theta_N = -tau_max
    big_d = jnp.asarray(d, a0.dtype) * (2 / tau_max)
    # Row block 0: the splicing condition u'(0) = A0 u(0) + sum_k A_k u(-tau_k).
    rows = jax.vmap(lambda t: _lagrange_row(theta, -t))(tau)  # (K, N + 1)
    top = jnp.einsum("kj,kab->ajb", rows, ak).reshape(n, n * (n_nodes + 1))
    top = top.at[:, :n].add(a0)
    # Row blocks 1..N: u'(theta_i) by spectral differentiation.
    rest = jnp.kron(big_d[1:], jnp.eye(n, dtype=a0.dtype))
    ev = jnp.linalg.eigvals(jnp.concatenate([top, rest]))
    count = min(ev.shape[0], max(2 * n_roots, n_roots + 4))
    ev = ev[jnp.argsort(-ev.real)][:count]
    refined = jax.vmap(lambda z: _newton_root(a0, ak, tau, z, newton_steps))(ev)
    # Newton may move two estimates onto one root: keep distinct roots, rightmost first.
    refined = refined[jnp.argsort(-refined.real)]
    close = (
        jnp.abs(refined[:, None] - refined[None, :])
        <= 1e-8 * jnp.maximum(1.0, jnp.abs(refined))[:, None]
    )
    earlier = jnp.tril(jnp.ones((count, count), bool), k=-1)
    dup = jnp.any(close & earlier, axis=1)
    nan = jnp.asarray(jnp.nan + 0j, refined.dtype)
    keep = jnp.where(dup, nan, refined)
    # Canonical order: by decreasing real part, the positive imaginary part of a pair first;
    # NaN (duplicates) last.
    key_re = jnp.where(dup, jnp.inf, -jnp.round(keep.real, 10))
    key_im = jnp.where(dup, jnp.inf, -keep.imag)
    order = jnp.lexsort((key_im, key_re))
    out = keep[order][:n_roots]
    if out.shape[0] < n_roots:
        out = jnp.concatenate([out, jnp.full((n_roots - out.shape[0],), nan)])
    return out


def _newton_root(a0, ak, tau, z, steps: int):
    """Newton on Delta(lambda) v = 0, c^H v = 1 from the eigenvalue estimate z (a step that is
    not finite leaves the iterate where it was)."""
    n = a0.shape[0]
    cdtype = jnp.complex128 if a0.dtype == jnp.float64 else jnp.complex64
    eye = jnp.eye(n, dtype=cdtype)
    a0, ak, tau = a0.astype(cdtype), ak.astype(cdtype), tau.astype(cdtype)

    def delta(lam):
        return lam * eye - a0 - jnp.einsum("k,kij->ij", jnp.exp(-lam * tau), ak)

    def d_delta(lam):
        return eye + jnp.einsum("k,kij->ij", tau * jnp.exp(-lam * tau), ak)

    # Start from the null vector of Delta(z) (smallest singular vector).
    z = z.astype(cdtype)
    _, _, vh = jnp.linalg.svd(delta(z))
    v = vh[-1].conj()
    c = v

    def step(_, carry):
        v, lam = carry
        jac = jnp.zeros((n + 1, n + 1), cdtype)
        jac = jac.at[:n, :n].set(delta(lam))
        jac = jac.at[:n, n].set(d_delta(lam) @ v)
        jac = jac.at[n, :n].set(c.conj())
        res = jnp.concatenate([delta(lam) @ v, (c.conj() @ v - 1.0)[None]])
        dx = jnp.linalg.solve(jac, -res)
        ok = jnp.all(jnp.isfinite(dx))
        return jnp.where(ok, v + dx[:n], v), jnp.where(ok, lam + dx[n], lam)

    _, lam = jax.lax.fori_loop(0, steps, step, (v, z))
    # Newton from a poor estimate (far left, where exp(-lambda tau) is huge) can wander off:
    # its result counts only if it solves the equation to round-off, else the estimate stays.
    weight = jnp.abs(jnp.exp(-lam * tau))
    scale = jnp.abs(lam) + jnp.max(jnp.abs(a0)) + jnp.sum(weight * jnp.max(jnp.abs(ak), (1, 2)))
    smallest = jnp.linalg.svd(delta(lam), compute_uv=False)[-1]
    solved = jnp.isfinite(lam) & (smallest <= 1e-10 * scale)
    return jnp.where(solved, lam, z)
