"""Cycle bifurcations in two parameters: folds (LPC), period doublings (PD) and tori (NS) of
periodic orbits, and large fixed-period cycles that trace a homoclinic curve.

Each curve is continued on an extended boundary-value problem discretised by the orthogonal
collocation of `jaxmf.cycles` (same mesh, same Gauss points, same condensation of the interior
values), as AUTO does for periodic orbits (Doedel, Govaerts & Kuznetsov 2003; AUTO-07p's ISW=2):
the cycle u (period T, parameters p1, p2) is solved together with a critical eigenfunction v of
the linearised periodic problem,

- LPC: v' = T f_u(u) v + vT f(u), v(1) = v(0), int v . uref' = 0, int |v|^2 + vT^2 = 1 (v, vT is
  the kernel of the collocation Jacobian in (u, T): the trivial multiplier is double);
- PD: v' = T f_u(u) v, v(1) = -v(0), int |v|^2 = 1 (a multiplier -1);
- NS: v = vr + i vi, v' = T f_u(u) v, v(1) = e^(i theta) v(0), int |v|^2 = 1,
  int (vr . vi_ref - vi . vr_ref) = 0 (a pair e^(+-i theta));
- fixed period (homoclinic curve): the cycle alone at T = T_fixed (AUTO's large-period approach).

So every curve is the periodic collocation problem of an augmented vector field (u, v) with a few
scalar unknowns q = (T, p1, p2, ...) and as many scalar equations (phase, normalisations,
pseudo-arclength), with a boundary map x(1) = S(q) x(0). One Newton step eliminates the interior
values interval by interval and solves the block-cyclic rest with k border rows
(`jaxmf.collocation.solve_bordered`, the solve of the cycle branches too).

Codimension-two points are zeros of test functions along the curve, located by regula falsi in
the arclength (each trial point corrected), from the Floquet multipliers mu of the cycle (the
critical ones removed): on LPC curves 'cpc' (cusp of cycles: the curve's parameter tangent turns
back), 'lppd' (fold-flip: a multiplier -1), 'lpns' (fold-torus: a pair on the unit circle), 'r1'
(1:1 resonance: a third multiplier 1), and 'gh' where the curve ends at a generalised Hopf point
(the cycle shrinks to zero amplitude; refined as the zero of l1 on the Hopf curve); on PD curves
'lppd', 'r2' (1:2 resonance), 'pdns'; on NS curves 'r1' (theta = 0), 'r2' (theta = pi), 'r3',
'r4' (theta = 2 pi / 3, pi / 2), 'lpns', 'pdns'.
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
from ._newton import newton, outside_domain, regula_falsi, with_parameter, with_parameters
from ._results import RESULTS
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
    floquet_multipliers,
    lagrange_at,
    representation_times,
    solve_bordered,
)
from .params import ParameterError, check_positive, get_parameter

__all__ = [
    "continue_lpc",
    "continue_pd",
    "continue_ns",
    "continue_homoclinic",
    "merge_repeated",
    "CurveStats",
]

# Augmented state size (in units of n) and number of scalar unknowns q of each defining system.
# q = (T, p1, p2, extra): extra is vT (lpc) or theta (ns).
_SIZE = {"cycle": 1, "lpc": 2, "pd": 2, "ns": 3}
_SCALARS = {"cycle": 3, "lpc": 4, "pd": 3, "ns": 4}


class _Ext(eqx.Module):
    """One extended collocation problem: the augmented vector field, its boundary map and its
    scalar equations. `pin` (kind 'cycle') is the index of the scalar held at `ref['target']`
    (0: the period, for the fixed-period curve; 2: p2, for a one-parameter cycle)."""

    f: Callable = eqx.field(static=True)
    kind: str = eqx.field(static=True)
    names: tuple[str, str] = eqx.field(static=True)
    m: int = eqx.field(static=True)
    n: int = eqx.field(static=True)
    pin: int = eqx.field(static=True, default=0)

    @property
    def nx(self) -> int:
        return self.n * _SIZE[self.kind]

    @property
    def k(self) -> int:
        return _SCALARS[self.kind]

    def split(self, z, N):
        return z[: -self.k].reshape(N, self.m, self.nx), z[-self.k :]

    def field(self, x, q, params):
        n = self.n
        p = with_parameters(params, self.names, q[1:3])
        fx = lambda y: self.f(y, p)
        u = x[:n]
        if self.kind == "cycle":
            return q[0] * fx(u)
        if self.kind == "ns":
            fu, jr = jax.jvp(fx, (u,), (x[n : 2 * n],))
            _, ji = jax.jvp(fx, (u,), (x[2 * n :],))
            return q[0] * jnp.concatenate([fu, jr, ji])
        fu, jv = jax.jvp(fx, (u,), (x[n:],))
        if self.kind == "lpc":
            return jnp.concatenate([q[0] * fu, q[0] * jv + q[3] * fu])
        return q[0] * jnp.concatenate([fu, jv])

    def end(self, x0, q):
        """x(1) from x(0): periodic u; v antiperiodic (pd) or rotated by theta (ns)."""
        n = self.n
        if self.kind == "pd":
            return jnp.concatenate([x0[:n], -x0[n:]])
        if self.kind == "ns":
            c, s = jnp.cos(q[3]), jnp.sin(q[3])
            vr, vi = x0[n : 2 * n], x0[2 * n :]
            return jnp.concatenate([x0[:n], c * vr - s * vi, s * vr + c * vi])
        return x0

    def local(self, z, N):
        """(N, m + 1, nx) values of each interval, the last one closed by the boundary map."""
        U, q = self.split(z, N)
        last = self.end(U[0, 0], q)
        nxt = jnp.concatenate([U[1:, :1], last[None, None]], axis=0)
        return jnp.concatenate([U, nxt], axis=1)

    def interval_residual(self, xloc, h, q, params):
        L, D, *_ = basis(self.m)
        xc = jnp.asarray(L) @ xloc
        fc = jax.vmap(lambda x: self.field(x, q, params))(xc)
        return ((jnp.asarray(D) @ xloc) / h - fc).reshape(-1)

    def quad(self, a, b, t):
        """int a . b ds of two (N, m + 1, d) local arrays."""
        L, _, w, *_ = basis(self.m)
        La = jnp.einsum("ck,jkn->jcn", jnp.asarray(L), a)
        Lb = jnp.einsum("ck,jkn->jcn", jnp.asarray(L), b)
        return jnp.einsum("j,c,jcn,jcn->", jnp.diff(t), jnp.asarray(w), La, Lb)

    def dquad(self, a, bref):
        """int a . bref' ds (bref's derivative on each interval; no mesh factor needed)."""
        L, D, w, *_ = basis(self.m)
        La = jnp.einsum("ck,jkn->jcn", jnp.asarray(L), a)
        Db = jnp.einsum("ck,jkn->jcn", jnp.asarray(D), bref)
        return jnp.einsum("c,jcn,jcn->", jnp.asarray(w), La, Db)

    def inner(self, za, zb, t):
        """Arclength inner product: int u_a . u_b ds + p1_a p1_b + p2_a p2_b (cycle part only)."""
        N, n = t.shape[0] - 1, self.n
        xa, xb = self.local(za, N), self.local(zb, N)
        qa, qb = za[-self.k :], zb[-self.k :]
        return self.quad(xa[..., :n], xb[..., :n], t) + qa[1] * qb[1] + qa[2] * qb[2]

    def equations(self, z, ref, t):
        """The k scalar equations, the pseudo-arclength condition last."""
        N, n = t.shape[0] - 1, self.n
        x = self.local(z, N)
        q = z[-self.k :]
        uref = ref["uref"]
        eqs = [self.dquad(x[..., :n], uref)]
        if self.kind == "cycle":
            eqs.append(q[self.pin] - ref["target"])
        elif self.kind == "lpc":
            v = x[..., n:]
            eqs += [self.dquad(v, uref), self.quad(v, v, t) + q[3] ** 2 - 1.0]
        elif self.kind == "pd":
            v = x[..., n:]
            eqs.append(self.quad(v, v, t) - 1.0)
        else:
            v, vr, vi = x[..., n:], x[..., n : 2 * n], x[..., 2 * n :]
            vref = ref["vref"]
            eqs += [
                self.quad(v, v, t) - 1.0,
                self.quad(vr, vref[..., n:], t) - self.quad(vi, vref[..., :n], t),
            ]
        eqs.append(self.inner(z - ref["z_prev"], ref["tau_prev"], t) - ref["ds"])
        return jnp.stack(eqs)


def _linearise_k(sys: _Ext, z, t, params):
    """Residuals and condensed blocks (as `cycles._linearise`, with k scalar unknowns and the
    boundary map's chain rule on the last interval)."""
    m, nx = sys.m, sys.nx
    N = t.shape[0] - 1
    U, q = sys.split(z, N)
    h = jnp.diff(t)
    xloc = sys.local(z, N)
    res = jax.vmap(sys.interval_residual, (0, 0, None, None))(xloc, h, q, params)
    jx, jq = jax.vmap(jax.jacfwd(sys.interval_residual, argnums=(0, 2)), (0, 0, None, None))(
        xloc, h, q, params
    )
    E = jx.reshape(N, m * nx, (m + 1) * nx)
    left, inner, right = E[:, :, :nx], E[:, :, nx : m * nx], E[:, :, m * nx :]
    dx0, dq = jax.jacfwd(sys.end, argnums=(0, 1))(U[0, 0], q)
    Etp = jq.at[-1].add(right[-1] @ dq)
    right = right.at[-1].set(right[-1] @ dx0)
    Q, R = jnp.linalg.qr(inner, mode="complete")
    kk = (m - 1) * nx
    Q1, Q2 = Q[:, :, :kk], Q[:, :, kk:]
    S = jax.vmap(lambda r, qq: jax.scipy.linalg.solve_triangular(r[:kk], qq.T, lower=False))(R, Q1)
    q2t = lambda X: jnp.einsum("jab,jac->jbc", Q2, X)
    blocks = dict(
        left=left, right=right, Etp=Etp, S=S, A=q2t(left), B=q2t(right), C=q2t(Etp), Q2=Q2
    )
    return res, blocks


def _system_k(sys: _Ext, z, ref, t, params):
    N = t.shape[0] - 1
    res, blocks = _linearise_k(sys, z, t, params)
    eqs = sys.equations(z, ref, t)
    grads = jax.jacrev(sys.equations)(z, ref, t)
    rows = []
    for g in grads:
        gU, gq = sys.split(g, N)
        rows.append(border_row(gU, gq, blocks))
    return res, eqs, blocks, rows


@functools.partial(jax.jit, static_argnames=("sys",))
def _base_multipliers(sys: _Ext, z, t, params):
    """Floquet multipliers of the cycle part u of an extended solution.

    A program of its own, run after the corrector's: jaxlib's batched CPU QR waits on the
    intra-op thread pool, and two of them running concurrently in one program (the corrector's
    linearisation and this one's) deadlocked a 2-core machine."""
    base = _Ext(f=sys.f, kind="cycle", names=sys.names, m=sys.m, n=sys.n)
    N = t.shape[0] - 1
    U, q = sys.split(z, N)
    zb = jnp.concatenate([U[..., : sys.n].reshape(-1), q[:3]])
    _, blocks = _linearise_k(base, zb, t, params)
    return floquet_multipliers(blocks)


@functools.partial(jax.jit, static_argnames=("sys",))
def _correct(sys: _Ext, z0, ref, t, params, tol, max_iter):
    """Newton on the extended system from z0; then the tangent (the kernel of the Jacobian
    without the arclength row, normalised in `inner`) and the size of one more Newton update
    at the solution (the rounding floor). The multipliers are `_base_multipliers`."""

    def step(z):
        res, eqs, blocks, rows = _system_k(sys, z, ref, t, params)
        return solve_bordered(blocks, rows, -res, -eqs, sys.m)

    def relative(z, dz):
        return jnp.max(jnp.abs(dz)) / (1 + jnp.max(jnp.abs(z)))

    z, it, size = newton(step, z0, tol=tol, max_iter=max_iter, size=relative)
    res, eqs, blocks, rows = _system_k(sys, z, ref, t, params)
    e_last = jnp.zeros(sys.k, z.dtype).at[-1].set(1.0)
    tau = solve_bordered(blocks, rows, jnp.zeros_like(res), e_last, sys.m)
    tau = tau / jnp.sqrt(sys.inner(tau, tau, t))
    resid = jnp.maximum(jnp.max(jnp.abs(res)), jnp.max(jnp.abs(eqs)))
    ok = jnp.isfinite(size) & (size <= tol) & (resid < 1e3 * tol)
    # One more Newton update at the solution: its size is the rounding floor of the system
    # (ill-conditioned for long, slow-fast cycles), which no tolerance below it can meet.
    floor = relative(z, solve_bordered(blocks, rows, -res, -eqs, sys.m))
    return z, ok, it, tau, floor


@functools.partial(jax.jit, static_argnames=("sys",))
def _interval_jacobians(sys: _Ext, z, t, params):
    """Per-interval Jacobians of a cycle's collocation equations: in its local values (the
    discrete operator v -> v' - T f_u(u) v, (N, m n, (m + 1) n)) and in (T, p1, p2)."""
    N = t.shape[0] - 1
    _, q = sys.split(z, N)
    xloc = sys.local(z, N)
    jx, jq = jax.vmap(jax.jacfwd(sys.interval_residual, argnums=(0, 2)), (0, 0, None, None))(
        xloc, jnp.diff(t), q, params
    )
    return jx.reshape(N, sys.m * sys.n, (sys.m + 1) * sys.n), jq


def _eigenfunction(E, mu, column=None, row=None, iterations: int = 3):
    """The Floquet function v(1) = mu v(0) of the discrete linearised problem (values at the
    N m representation points) by bordered inverse iteration on its sparse matrix. With
    `column` and `row` the matrix gains them as a last column and row (the period's column and
    the phase condition: the kernel (v, vT) at a fold of cycles)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    N, mn, width = E.shape
    n = width - mn
    size = N * mn
    rows, cols, vals = [], [], []
    for j in range(N):
        block = E[j].astype(complex)
        block[:, mn:] *= mu if j == N - 1 else 1.0
        r = np.arange(j * mn, (j + 1) * mn)
        c = np.concatenate([r, ((j + 1) % N) * mn + np.arange(n)])
        rr, cc = np.meshgrid(r, c, indexing="ij")
        rows.append(rr.ravel())
        cols.append(cc.ravel())
        vals.append(block.ravel())
    M = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size)
    ).tocsc()
    if column is not None and row is not None:
        corner = sp.csc_matrix(np.array([[row[-1]]], complex))
        M = sp.bmat([[M, sp.csc_matrix(column[:, None])], [sp.csc_matrix(row[None, :-1]), corner]])
        size += 1
    rng = np.random.default_rng(0)
    b = rng.standard_normal(size)
    c = rng.standard_normal(size)
    rhs = np.zeros(size + 1, complex)
    rhs[-1] = 1.0
    for _ in range(iterations):
        K = sp.bmat([[M, sp.csc_matrix(b[:, None])], [sp.csc_matrix(np.conj(c)[None, :]), None]])
        v = spla.spsolve(K.tocsc(), rhs)[:-1]
        c = v / np.linalg.norm(v)
    return c


def _phase_row(m, n, uref_loc):
    """Gradient of int u . uref' ds in the representation values U (N, m, n), flattened."""
    L, D, w, *_ = basis(m)
    dref = np.einsum("ck,jkn->jcn", D, uref_loc)  # (N, m, n) at the Gauss points
    g = np.einsum("c,ck,jcn->jkn", w, L, dref)  # (N, m + 1, n) in the local values
    out = g[:, :m].copy()
    out[:, 0] += np.roll(g[:, m], 1, axis=0)
    return out.reshape(-1)


def _end_np(kind: str, n: int, x0, q):
    if kind == "pd":
        return np.concatenate([x0[:n], -x0[n:]])
    if kind == "ns":
        c, s = np.cos(q[3]), np.sin(q[3])
        vr, vi = x0[n : 2 * n], x0[2 * n :]
        return np.concatenate([x0[:n], c * vr - s * vi, s * vr + c * vi])
    return x0


def _local_np(kind, n, U, q):
    last = _end_np(kind, n, U[0, 0], q)
    nxt = np.concatenate([U[1:, :1], last[None, None]], axis=0)
    return np.concatenate([U, nxt], axis=1)


def _evaluate_np(kind, n, U, q, t, s):
    """The collocation polynomial at times s in [0, 1) (closed by the boundary map)."""
    N, m, _ = U.shape
    j = np.clip(np.searchsorted(t, s, side="right") - 1, 0, N - 1)
    loc = (s - t[j]) / (t[j + 1] - t[j])
    xloc = _local_np(kind, n, U, q)
    return np.einsum("ik,ikn->in", lagrange_at(m, loc), xloc[j])


def _remesh_np(sys: _Ext, z, t, t_new):
    N, k = t.shape[0] - 1, sys.k
    U, q = z[:-k].reshape(N, sys.m, sys.nx), z[-k:]
    s = representation_times(t_new, sys.m).reshape(-1)
    U_new = _evaluate_np(sys.kind, sys.n, U, q, t, s)
    return np.concatenate([U_new.reshape(-1), q])


def _inner_np(sys: _Ext, za, zb, t) -> float:
    N, n, k = t.shape[0] - 1, sys.n, sys.k
    L, _, w, *_ = basis(sys.m)
    xa = _local_np(sys.kind, n, za[:-k].reshape(N, sys.m, sys.nx), za[-k:])[..., :n]
    xb = _local_np(sys.kind, n, zb[:-k].reshape(N, sys.m, sys.nx), zb[-k:])[..., :n]
    ua, ub = np.einsum("ck,jkn->jcn", L, xa), np.einsum("ck,jkn->jcn", L, xb)
    prof = np.einsum("j,c,jcn,jcn->", np.diff(t), w, ua, ub)
    return float(prof + za[-k + 1] * zb[-k + 1] + za[-k + 2] * zb[-k + 2])


def _unit(x):
    """A bounded, sign-preserving version of x (so products of multipliers neither overflow nor
    change sign)."""
    return x / (1.0 + np.abs(x))


def _remove_nearest(mu, targets):
    mu = list(mu)
    for target in targets:
        if not mu:
            break
        i = int(np.argmin([abs(x - target) for x in mu]))
        mu.pop(i)
    return np.asarray(mu, complex)


def _prod_real(values) -> float:
    return float(np.real(np.prod(values))) if len(values) else 1.0


def _pairs(mu):
    i, j = np.triu_indices(len(mu), 1)
    return _unit(mu[i] * mu[j]) - _unit(np.ones(len(i)))


# Test functions of codimension-two points along each curve, by label (see the module doc).
_TESTS = {
    "lpc": ("lppd", "lpns", "r1"),
    "pd": ("lppd", "r2", "pdns"),
    "ns": ("r1", "r3", "r4", "lpns", "pdns"),
    "cycle": (),
}


def _tests(kind: str, mult, theta: float = np.nan) -> np.ndarray:
    """Values of the multiplier test functions of `_TESTS[kind]` at one point."""
    mu = np.asarray(mult, complex)
    if kind == "lpc":
        rest = _remove_nearest(mu, (1.0, 1.0))
        return np.array(
            [
                _prod_real(_unit(rest + 1)),
                _prod_real(_pairs(rest)),
                _prod_real(_unit(rest - 1)),
            ]
        )
    if kind == "pd":
        rest = _remove_nearest(mu, (1.0, -1.0))
        return np.array(
            [
                _prod_real(_unit(rest - 1)),
                _prod_real(_unit(rest + 1)),
                _prod_real(_pairs(rest)),
            ]
        )
    if kind == "ns":
        e = np.exp(1j * theta)
        rest = _remove_nearest(mu, (1.0, e, np.conj(e)))
        # sin(theta) vanishes at theta = 0 (r1) and pi (r2, relabelled by the sign of
        # cos(theta) when located); cos(theta) + 1/2 and cos(theta) vanish at the 1:3 and 1:4
        # resonances.
        return np.array(
            [
                np.sin(theta),
                np.cos(theta) + 0.5,
                np.cos(theta),
                _prod_real(_unit(rest - 1)),
                _prod_real(_unit(rest + 1)),
            ]
        )
    return np.zeros(0)


class CurveStats(eqx.Module):
    """Work done by a curve continuation (with `return_stats=True`).

    Attributes
    ----------
    compile_s : float
        Wall time of the first (compiling) correction.
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
    >>> cyc = jaxmf.continue_cycles(p, hopf, "eta_bar", (0.0, 0.3))
    >>> lpc = next(sp for sp in cyc.special_points if sp.kind == "lpc")
    >>> curve, stats = jaxmf.continue_lpc(p, lpc, ("eta_bar", "a"), ((0.0, 0.3), (0.005, 0.03)),
    ...                                   branch=cyc, return_stats=True, throw=False)
    >>> stats.points > 0
    True
    """

    compile_s: float = eqx.field(static=True)
    run_s: float = eqx.field(static=True)
    points: int = eqx.field(static=True)
    rejected: int = eqx.field(static=True)
    newton_iterations: int = eqx.field(static=True)


def _critical_targets(kind: str, theta: float):
    """Multipliers that are critical on a curve of this kind (removed before stability)."""
    if kind == "lpc":
        return (1.0, 1.0)
    if kind == "pd":
        return (1.0, -1.0)
    if kind == "ns":
        e = np.exp(1j * theta)
        return (1.0, e, np.conj(e))
    return (1.0,)


# The loosest Newton tolerance a rounding floor may impose (relative; AUTO demos use 1e-6 to
# 1e-7 for EPSL and EPSU).
_TOL_MAX = 1e-7


class _Tracer:
    """Host-side driver of one curve: predictor-corrector steps with step control, mesh
    adaptation, detection of codimension-two points between consecutive points, and the reasons
    a direction ends."""

    def __init__(
        self,
        sys: _Ext,
        base,
        N,
        *,
        bnds,
        ds,
        ds_min,
        ds_max,
        max_points,
        tol,
        max_iter,
        target,
        detect,
        amplitude_min,
        progress: Progress,
    ):
        self.sys, self.base, self.N = sys, base, N
        self.bnds = bnds
        self.ds, self.ds_min, self.ds_max, self.max_points = ds, ds_min, ds_max, max_points
        self.tol, self.max_iter, self.target = tol, max_iter, target
        self.detect, self.amplitude_min = detect, amplitude_min
        self.progress = progress
        self.rejected = self.iterations = 0
        self.compile_s: float | None = None
        self.t0 = time.perf_counter()
        self.amp_max = 0.0
        self.done = 0
        self.period_max = np.inf
        # The rounding floor of the corrector at the last point (nan: not measured yet).
        self.floor = np.nan

    def tolerance(self) -> float:
        """The Newton tolerance: `tol`, or ten times the rounding floor measured at the last
        corrected point where that is larger (long periods), up to `_TOL_MAX`."""
        if not np.isfinite(self.floor):
            return self.tol
        return max(self.tol, min(10.0 * self.floor, _TOL_MAX))

    def correct(self, z0, z_prev, tau_prev, step, t, uref, vref):
        dtype = np.asarray(z0).dtype
        ref = dict(
            uref=jnp.asarray(uref),
            vref=jnp.asarray(vref),
            z_prev=jnp.asarray(z_prev),
            tau_prev=jnp.asarray(tau_prev),
            ds=jnp.asarray(step, dtype),
            target=jnp.asarray(self.target, dtype),
        )
        start = time.perf_counter()
        out = _correct(
            self.sys,
            jnp.asarray(z0),
            ref,
            jnp.asarray(t),
            self.base,
            jnp.asarray(self.tolerance(), dtype),
            jnp.asarray(self.max_iter, jnp.int32),
        )
        z, ok, it, tau, floor = (np.asarray(x) for x in out)
        if ok or not np.isfinite(self.floor):
            self.floor = float(floor)
        mult, logmod = (
            np.asarray(x)
            for x in _base_multipliers(self.sys, jnp.asarray(z), jnp.asarray(t), self.base)
        )
        if self.compile_s is None:
            self.compile_s = time.perf_counter() - start
            self.t_run = time.perf_counter()
        self.iterations += int(it)
        return z, bool(ok), int(it), tau, mult, logmod

    def refs(self, z):
        sys, N = self.sys, self.N
        U = z[: -sys.k].reshape(N, sys.m, sys.nx)
        xloc = _local_np(sys.kind, sys.n, U, z[-sys.k :])
        return xloc[..., : sys.n], xloc[..., sys.n :]

    def step_from(self, row, s):
        """Corrected point at arclength s from `row` (predictor along its tangent), or None."""
        z, ok, it, tau, mult, logmod = self.correct(
            row["z"] + s * row["tau"], row["z"], row["tau"], s, row["t"], row["uref"], row["vref"]
        )
        return (z, tau, mult, logmod, it) if ok else None

    def record(self, z, tau, mult, logmod, t):
        sys, N = self.sys, self.N
        k, n, m = sys.k, sys.n, sys.m
        q = z[-k:]
        U = z[:-k].reshape(N, m, sys.nx)
        uloc = _local_np(sys.kind, n, U, q)[..., :n]
        vals = np.einsum("fk,jkn->jfn", basis(m)[3], uloc).reshape(-1, n)
        theta = float(q[3]) if sys.kind == "ns" else np.nan
        rest = _remove_nearest(mult, _critical_targets(sys.kind, theta))
        uref, vref = self.refs(z)
        amp = float(np.max(vals.max(0) - vals.min(0)))
        self.amp_max = max(self.amp_max, amp)
        return dict(
            z=z,
            tau=tau,
            t=np.asarray(t).copy(),
            z_out=z,
            t_out=np.asarray(t).copy(),
            mult=mult,
            T=float(q[0]),
            p=np.asarray(q[1:3], float),
            theta=theta,
            state=U[0, 0, :n].copy(),
            min=vals.min(0),
            max=vals.max(0),
            amp=amp,
            stable=bool(np.all(np.abs(rest) < 1.0)),
            tests=_tests(sys.kind, mult, theta),
            tp=np.asarray(tau[len(tau) - k + 1 : len(tau) - k + 3], float),
            uref=uref,
            vref=vref,
        )

    def prepare(self, row):
        """Re-equidistribute the mesh on the new point (its cycle part) for the next step."""
        sys, N = self.sys, self.N
        U = row["z"][: -sys.k].reshape(N, sys.m, sys.nx)[..., : sys.n]
        t_new, _ = equidistribute(U, row["t"], N)
        row["z"] = _remesh_np(sys, row["z"], row["t"], t_new)
        tau = _remesh_np(sys, row["tau"], row["t"], t_new)
        row["tau"] = tau / np.sqrt(_inner_np(sys, tau, tau, t_new))
        row["t"] = t_new
        row["uref"], row["vref"] = self.refs(row["z"])

    def inside(self, p) -> bool:
        return all(lo <= x <= hi for x, (lo, hi) in zip(p, self.bnds))

    def trace(self, start, sign):
        """Rows from `start` along sign * its tangent until a reason to stop; returns (rows,
        located points as (row index, kind, out), status name, message)."""
        first = dict(start, tau=sign * start["tau"], tp=sign * start["tp"])
        rows, found = [first], []
        h = self.ds
        names = self.sys.names
        while len(rows) < self.max_points:
            prev = rows[-1]
            new = self.step_from(prev, h)
            if new is not None and float(_inner_np(self.sys, new[1], prev["tau"], prev["t"])) < 0.5:
                new = None  # the tangent turned by more than ~60 degrees: a jump
            if new is None:
                self.rejected += 1
                h *= 0.5
                if h < self.ds_min:
                    T0, T1 = rows[0]["T"], rows[-1]["T"]
                    hint = f" (the period rose from {T0:.6g} to {T1:.6g})" if T1 > 1.2 * T0 else ""
                    return (
                        rows,
                        found,
                        "not_converged",
                        f"step size below ds_min={self.ds_min}{hint}",
                    )
                continue
            z, tau, mult, logmod, it = new
            row = self.record(z, tau, mult, logmod, prev["t"])
            row["ds"] = h
            if self.sys.kind == "lpc" and _correlation(prev, row) < 0:
                # The cycle's deviation from its mean flipped sign: the curve passed through
                # zero amplitude (a generalised Hopf point) between the last two points.
                return rows, found, "successful", "amplitude shrank to zero (generalised Hopf)"
            why = outside_domain(self.base, names, row["p"])
            if why:
                return (
                    rows,
                    found,
                    "out_of_domain",
                    f"stopped at the edge of the valid domain ({why})",
                )
            if self.detect:
                found += [(len(rows), *x) for x in self.locate(prev, row)]
            rows.append(row)
            self.progress.update(
                self.done + len(rows),
                f"{names[0]}={row['p'][0]:.6g} {names[1]}={row['p'][1]:.6g} T={row['T']:.5g}",
            )
            if not self.inside(row["p"]):
                return rows, found, "successful", "left bounds"
            if row["T"] > self.period_max:
                return rows, found, "successful", f"period {row['T']:.6g} > {self.period_max:.6g}"
            if self.sys.kind == "lpc" and row["amp"] < self.amplitude_min * self.amp_max:
                return rows, found, "successful", "amplitude shrank to zero (generalised Hopf)"
            if (
                len(rows) > 8
                and np.linalg.norm(row["p"] - rows[0]["p"]) < 0.5 * h
                and abs(row["T"] - rows[0]["T"]) < 1e-3 * rows[0]["T"]
                and row["tp"] @ rows[0]["tp"] > 0
                and _distance(row, rows[0]) < 0.5 * h
            ):
                return rows, found, "successful", "closed curve"
            self.prepare(row)
            h = min(self.ds_max, 1.3 * h) if it <= 3 else (0.7 * h if it >= 6 else h)
        return rows, found, "max_steps_reached", f"max_points={self.max_points} reached"

    def locate(self, prev, row):
        """Codimension-two points between two consecutive rows: (kind, out) each, located by
        regula falsi in the arclength from `prev` (every trial point corrected)."""
        out = []
        kinds = _TESTS[self.sys.kind]
        h = row["ds"]
        for j, kind in enumerate(kinds):
            fa, fb = prev["tests"][j], row["tests"][j]
            if not (np.isfinite(fa) and np.isfinite(fb) and fa * fb < 0):
                continue

            def test(s, j=j):
                new = self.step_from(prev, s)
                if new is None:
                    return np.nan, None
                theta = float(new[0][-1]) if self.sys.kind == "ns" else np.nan
                return _tests(self.sys.kind, new[2], theta)[j], new

            new, _ = regula_falsi(test, fa, fb, b=h, x_tol=1e-9 * max(h, 1e-12), max_iter=40)
            if new is None:
                continue
            label = kind
            if kind == "r1" and self.sys.kind == "ns" and np.cos(float(new[0][-1])) < 0:
                label = "r2"
            out.append((label, new))
        if self.sys.kind == "lpc":
            ref = prev["tp"]
            fa, fb = float(ref @ ref), float(row["tp"] @ ref)
            if fb < 0:

                def cusp(s):
                    new = self.step_from(prev, s)
                    if new is None:
                        return np.nan, None
                    tau = new[1]
                    k = self.sys.k
                    return float(tau[len(tau) - k + 1 : len(tau) - k + 3] @ ref), new

                new, _ = regula_falsi(cusp, fa, fb, b=h, x_tol=1e-9 * max(h, 1e-12), max_iter=40)
                if new is not None:
                    out.append(("cpc", new))
        return out


def _correlation(a, b) -> float:
    """Correlation of two rows' cycle profiles' deviations from their means (sampled on a
    common grid of times)."""
    s = np.linspace(0.0, 1.0, 64, endpoint=False)

    def dev(r):
        U = r["uref"][:, :-1]
        x = _evaluate_np("cycle", U.shape[-1], U, None, r["t"], s)
        return (x - x.mean(0)).reshape(-1)

    x, y = dev(a), dev(b)
    return float(x @ y / np.sqrt((x @ x) * (y @ y) + 1e-300))


def _distance(a, b) -> float:
    """RMS distance of two rows' cycle profiles (sampled on a common grid of times)."""
    s = np.linspace(0.0, 1.0, 64, endpoint=False)
    x = [
        _evaluate_np("cycle", r["uref"].shape[-1], r["uref"][:, :-1], None, r["t"], s)
        for r in (a, b)
    ]
    return float(np.sqrt(np.mean(np.sum((x[0] - x[1]) ** 2, axis=1))))


def _check_names(params, param, bounds):
    names = (param,) if isinstance(param, str) else tuple(param)
    if len(names) != 2 or names[0] == names[1]:
        raise ParameterError("param", f"needs two different parameter names; got {names}")
    if (
        bounds is None
        or isinstance(bounds, (str, bytes))
        or np.ndim(bounds) == 0
        or len(bounds) != 2
    ):
        raise ParameterError("bounds", "needs one (lo, hi) interval per parameter")
    bnds = []
    for name, b in zip(names, bounds):
        try:
            lo, hi = (float(x) for x in b)
        except (TypeError, ValueError):
            raise ParameterError("bounds", f"give the interval of {name} as (lo, hi)") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ParameterError("bounds", f"need finite lo < hi for {name}; got {b}")
        bnds.append((lo, hi))
    return names, bnds


def _check_steps(ds, ds_min, ds_max, tol, max_points, ncol):
    for label, x in (("ds", ds), ("ds_min", ds_min), ("ds_max", ds_max), ("tol", tol)):
        check_positive(label, x)
    if (
        isinstance(max_points, bool)
        or not isinstance(max_points, (int, np.integer))
        or max_points < 2
    ):
        raise ParameterError("max_points", f"must be an integer >= 2; got {max_points!r}")
    if ncol < 2:
        raise ParameterError("ncol", f"need ncol >= 2; got {ncol}")


def _cycle_from_branch(branch: Branch, index: int, m: int, n: int, ntst: int | None):
    """(U (N, m, n), period, parameter value, mesh t) of a cycle branch's row, on `ntst`
    intervals (re-equidistributed) when that differs from the branch's."""
    if branch.profiles is None or branch.mesh is None or len(branch) == 0:
        raise ParameterError("branch", "needs a cycle branch with profiles (from continue_cycles)")
    i = int(np.clip(index, 0, len(branch) - 1))
    times = np.asarray(branch.mesh[i])
    N0 = (times.shape[0] - 1) // m
    if N0 * m + 1 != times.shape[0]:
        raise ParameterError("ncol", f"does not match the branch's mesh ({times.shape[0]} times)")
    t = np.concatenate([times[:-1:m], [1.0]])
    U = np.asarray(branch.profiles[i])[:-1].reshape(N0, m, n)
    T, p = float(branch.period[i]), float(np.asarray(branch.values)[i, 0])
    N = ntst or N0
    if N != N0:
        t_new, _ = equidistribute(U, t, N)
        U = _evaluate_np(
            "cycle", n, U, None, t, representation_times(t_new, m).reshape(-1)
        ).reshape(N, m, n)
        t = t_new
    return U, T, p, t


def _cycle_from_point(point: SpecialPoint, f, m: int, N: int):
    """(U, period, value, t) by integrating one period from the point's state (diffrax,
    tolerance 1e-10) and sampling at the collocation representation points of a uniform mesh."""
    import diffrax

    T = float(point.period)
    if not np.isfinite(T) or T <= 0:
        raise ParameterError("point", "has no period: pass the cycle branch it was found on")
    t = np.linspace(0.0, 1.0, N + 1)
    s = representation_times(t, m).reshape(-1)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda _, y, args: f(y, args)),
        diffrax.Tsit5(),
        0.0,
        T,
        T / 1000,
        jnp.asarray(point.state, float),
        args=point.params,
        saveat=diffrax.SaveAt(ts=jnp.asarray(s * T)),
        stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-12),
        max_steps=1_000_000,
    )
    n = int(np.shape(point.state)[0])
    U = np.asarray(sol.ys).reshape(N, m, n)
    return U, T, float(np.asarray(point.value).reshape(-1)[0]), t


def _first_value(point: SpecialPoint) -> float:
    return float(np.asarray(point.value).reshape(-1)[0])


def _run_curve(
    sys: _Ext,
    base,
    bnds,
    z0,
    t,
    *,
    target,
    options,
    progress,
    what,
    orient=2,
    period_max=None,
    hold=None,
):
    """Correct z0 with <z - z0, hold> = 0 (`inner`; default hold = e_p2: p2 fixed), then trace
    both directions ('forward': scalar `orient` of (T, p1, p2) grows at the start); returns
    (tracer, pieces, stats)."""
    ds, ds_min, ds_max = options["ds"], options["ds_min"], options["ds_max"]
    N = t.shape[0] - 1
    tracer = _Tracer(
        sys,
        base,
        N,
        bnds=bnds,
        ds=ds,
        ds_min=ds_min,
        ds_max=ds_max,
        max_points=options["max_points"],
        tol=options["tol"],
        max_iter=options["max_iter"],
        target=target,
        detect=options["detect"],
        amplitude_min=options.get("amplitude_min", 0.0),
        progress=Progress(what, 2 * options["max_points"], enabled=progress, unit=" points"),
    )
    if hold is None:
        hold = np.zeros_like(z0)
        hold[len(z0) - sys.k + 2] = 1.0
    uref, vref = tracer.refs(z0)
    z, ok, _, tau, mult, logmod = tracer.correct(z0, z0, hold, 0.0, t, uref, vref)
    if not ok and tracer.tolerance() > tracer.tol:
        # The floor measured at the first try is above `tol`: try again to the floor.
        z, ok, _, tau, mult, logmod = tracer.correct(z0, z0, hold, 0.0, t, uref, vref)
    if not ok:
        raise ContinuationError(
            f"{what}: Newton did not converge onto the curve from the given point "
            f"(try a larger ntst, or the branch the point was found on)"
        )
    start = tracer.record(z, tau, mult, logmod, t)
    tracer.period_max = np.inf if period_max is None else float(period_max)
    k = sys.k
    if start["tau"][len(z0) - k + orient] < 0:
        start["tau"], start["tp"] = -start["tau"], -start["tp"]
    tracer.prepare(start)
    pieces = {}
    for label, sign in (("forward", 1.0), ("backward", -1.0)):
        if options["direction"] not in ("both", label):
            continue
        rows, found, status, message = tracer.trace(start, sign)
        tracer.done += len(rows)
        pieces[label] = (rows, found, status, message)
    run_s = time.perf_counter() - getattr(tracer, "t_run", tracer.t0)
    stats = CurveStats(
        compile_s=float(tracer.compile_s or 0.0),
        run_s=float(run_s),
        points=sum(len(p[0]) for p in pieces.values()),
        rejected=tracer.rejected,
        newton_iterations=tracer.iterations,
    )
    tracer.progress.close("; ".join(f"{k}: {v[3]}" for k, v in pieces.items()))
    return tracer, pieces, stats


_SEVERITY = ("successful", "max_steps_reached", "out_of_domain", "not_converged")


def _assemble(tracer: _Tracer, pieces, kind: str, base, refine_gh):
    """One Branch from the traced directions (backward reversed, then forward), with its
    special points."""
    sys = tracer.sys
    names, n, N, m = sys.names, sys.n, tracer.N, sys.m
    back = pieces.get("backward", ([], [], "successful", ""))
    fwd = pieces.get("forward", ([], [], "successful", ""))
    nb = len(back[0])
    rows = back[0][::-1] + (fwd[0][1:] if nb else fwd[0])
    offset_f = nb - 1 if nb else 0

    def index(direction, i):
        return nb - 1 - i if direction == "backward" else offset_f + i

    special = []
    for direction, piece in (("backward", back), ("forward", fwd)):
        for i, label, out in piece[1]:
            special.append(_codim2_point(sys, base, label, out, N, index(direction, i)))
        if refine_gh and "generalised Hopf" in piece[3] and len(piece[0]) >= 3:
            special.append(refine_gh(piece[0], index(direction, len(piece[0]) - 1)))
    special.sort(key=lambda sp: sp.index)
    messages = [f"{d}: {pieces[d][3]}" for d in ("forward", "backward") if d in pieces]
    status = max((pieces[d][2] for d in pieces), key=_SEVERITY.index)
    times = np.stack(
        [np.concatenate([representation_times(r["t_out"], m).reshape(-1), [1.0]]) for r in rows]
    )
    profiles = []
    for r in rows:
        U = r["z_out"][: -sys.k].reshape(N, m, sys.nx)[..., :n]
        profiles.append(np.concatenate([U.reshape(-1, n), U[:1, 0]]))
    data = {}
    if sys.kind == "ns":
        data["theta"] = jnp.asarray([r["theta"] for r in rows])
    return Branch(
        kind=kind,
        param=names,
        values=jnp.asarray(np.stack([r["p"] for r in rows])),
        states=jnp.asarray(np.stack([r["state"] for r in rows])),
        eigenvalues=jnp.asarray(np.stack([r["mult"] for r in rows]).astype(complex)),
        stable=jnp.asarray([r["stable"] for r in rows]),
        base=base,
        special_points=tuple(special),
        period=jnp.asarray([r["T"] for r in rows]),
        minima=jnp.asarray(np.stack([r["min"] for r in rows])),
        maxima=jnp.asarray(np.stack([r["max"] for r in rows])),
        profiles=jnp.asarray(np.stack(profiles)),
        mesh=jnp.asarray(times),
        message="; ".join(messages),
        data=data,
        status=getattr(RESULTS, status),
    )


def _codim2_point(sys: _Ext, base, label, out, N, index) -> SpecialPoint:
    z, tau, mult, logmod, _ = out
    k, n = sys.k, sys.n
    q = z[-k:]
    U = z[:-k].reshape(N, sys.m, sys.nx)
    theta = float(q[3]) if sys.kind == "ns" else np.nan
    rest = _remove_nearest(mult, _critical_targets(sys.kind, theta))
    target = {"lppd": -1.0, "r2": -1.0, "pdns": None, "lpns": None}.get(label, 1.0)
    if sys.kind == "lpc" and label == "lppd":
        target = -1.0
    if sys.kind == "pd" and label == "lppd":
        target = 1.0
    if target is None or len(rest) == 0:
        crit = complex(np.nan)
    else:
        crit = complex(rest[int(np.argmin(np.abs(rest - target)))])
    data: dict[str, Any] = {}
    if sys.kind == "ns":
        data["theta"] = theta
    return SpecialPoint(
        kind=label,
        param=sys.names,
        value=jnp.asarray(q[1:3]),
        state=jnp.asarray(U[0, 0, :n]),
        params=with_parameters(base, sys.names, q[1:3]),
        index=int(index),
        converged=True,
        period=jnp.asarray(q[0]),
        multiplier=jnp.asarray(crit),
        data=data,
    )


def _gh_refiner(sys: _Ext, base, f, N):
    """The generalised Hopf point where an LPC curve ends: (p1, p2) extrapolated to zero
    amplitude from the last three rows (quadratic in amplitude^2), then refined as the zero of
    the first Lyapunov coefficient l1 along the Hopf curve (`locate_hopf` in p1 at fixed p2,
    secant in p2)."""
    names = sys.names

    def refine(rows, index):
        last = rows[-3:]
        a2 = np.array([r["amp"] ** 2 for r in last])
        P = np.stack([r["p"] for r in last])
        deg = min(2, len(last) - 1)
        p_est = np.array([np.polyval(np.polyfit(a2, P[:, j], deg), 0.0) for j in range(2)])
        T_est = float(np.polyval(np.polyfit(a2, [r["T"] for r in last], deg), 0.0))
        U = rows[-1]["z_out"][: -sys.k].reshape(N, sys.m, sys.nx)[..., : sys.n]
        x = U.reshape(-1, sys.n).mean(0)

        def l1_at(p2, x, omega):
            hp = locate_hopf(
                with_parameters(base, names, [p_est[0], p2]),
                names[0],
                x,
                frequency=omega,
                vector_field=f,
                throw=False,
            )
            return hp

        omega = 2 * np.pi / T_est
        pts = []
        scale = max(abs(p_est[1]), 1e-3)
        for p2 in (p_est[1], p_est[1] + 1e-4 * scale):
            hp = l1_at(p2, x, omega)
            if not hp.converged:
                break
            pts.append((p2, hp))
        converged = False
        hp = None
        while len(pts) == 2:
            (a, ha), (b, hb) = pts
            la, lb = float(ha.first_lyapunov), float(hb.first_lyapunov)
            if not np.isfinite(la - lb) or la == lb:
                break
            c = b - lb * (b - a) / (lb - la)
            hc = l1_at(c, np.asarray(hb.state), float(hb.frequency))
            if not hc.converged:
                break
            pts = [(b, hb), (c, hc)]
            if abs(c - b) <= 1e-11 * max(1.0, abs(c)):
                converged, hp = True, hc
                break
        if hp is not None:
            value = np.array([float(np.asarray(hp.value)), pts[-1][0]])
            return SpecialPoint(
                kind="gh",
                param=names,
                value=jnp.asarray(value),
                state=hp.state,
                params=with_parameters(base, names, value),
                index=int(index),
                converged=converged,
                frequency=hp.frequency,
                period=hp.period,
                first_lyapunov=hp.first_lyapunov,
                data={"extrapolated": p_est.tolist()},
            )
        return SpecialPoint(
            kind="gh",
            param=names,
            value=jnp.asarray(p_est),
            state=jnp.asarray(x),
            params=with_parameters(base, names, p_est),
            index=int(index),
            converged=False,
            period=jnp.asarray(T_est),
            frequency=jnp.asarray(omega),
            data={"extrapolated": p_est.tolist()},
        )

    return refine


def _options(**kw):
    _check_steps(kw["ds"], kw["ds_min"], kw["ds_max"], kw["tol"], kw["max_points"], kw["ncol"])
    if kw["direction"] not in ("both", "forward", "backward"):
        raise ParameterError(
            "direction", f"must be 'both', 'forward' or 'backward'; got {kw['direction']!r}"
        )
    return kw


def _start_cycle(params, point, names, branch, ncol, ntst, f, n):
    """The cycle where a curve starts: from `branch` (its row nearest the point) or by
    integrating one period from the point; returns (base, U, T, p1, t)."""
    if branch is not None:
        U, T, p, t = _cycle_from_branch(branch, point.index, ncol, n, ntst)
    else:
        U, T, p, t = _cycle_from_point(point, f, ncol, ntst or 80)
    base = with_parameter(params, names[0], _first_value(point))
    return base, U, T, p, t


def _finish(branch: Branch, stats, what: str, throw: bool, return_stats: bool):
    if throw and branch.status == RESULTS.not_converged:
        raise ContinuationError(
            f"{what}: {branch.message}; the curve so far is in .result "
            "(throw=False returns it with status not_converged)",
            branch,
        )
    return (branch, stats) if return_stats else branch


def _p2(base, names) -> float:
    return float(np.asarray(_param_value(base, names[1])))


def _param_value(params, name):
    if isinstance(params, dict):
        if name not in params:
            raise ParameterError(str(name), f"not a key of params ({', '.join(map(str, params))})")
        return jnp.asarray(params[name])
    return get_parameter(params, name)


def _extended_start(kind, cyc: _Ext, base, U, T, p1, p2, t, point):
    """The extended unknowns at the start: the cycle with its critical eigenfunction (LPC: the
    kernel (v, vT) of the collocation Jacobian in (u, T) with the phase condition; PD/NS: the
    Floquet function of the multiplier -1 / e^(i theta)), by sparse inverse iteration."""
    N, m, n = U.shape
    zc = np.concatenate([U.reshape(-1), [T, p1, p2]])
    E, Eq = (np.asarray(x) for x in _interval_jacobians(cyc, jnp.asarray(zc), jnp.asarray(t), base))
    if kind == "lpc":
        uref = _local_np("cycle", n, U, None)
        row = np.concatenate([_phase_row(m, n, uref), [0.0]])
        v = _eigenfunction(E, 1.0 + 0j, Eq[..., 0].reshape(-1), row).real
        V, VT = v[:-1].reshape(N, m, n), v[-1]
        scale = np.sqrt(_norm2(m, t, V) + VT**2)
        X = np.concatenate([U, V / scale], axis=-1)
        return np.concatenate([X.reshape(-1), [T, p1, p2, VT / scale]])
    if kind == "pd":
        v = _eigenfunction(E, -1.0 + 0j).reshape(N, m, n)
        v = v * np.exp(-1j * np.angle(v.reshape(-1)[np.argmax(np.abs(v))]))
        V = v.real / np.sqrt(_norm2(m, t, v.real))
        return np.concatenate([np.concatenate([U, V], axis=-1).reshape(-1), [T, p1, p2]])
    theta = abs(float(np.angle(complex(np.asarray(point.multiplier)))))
    v = _eigenfunction(E, np.exp(1j * theta)).reshape(N, m, n)
    scale = np.sqrt(_norm2(m, t, v.real) + _norm2(m, t, v.imag))
    X = np.concatenate([U, v.real / scale, v.imag / scale], axis=-1)
    return np.concatenate([X.reshape(-1), [T, p1, p2, theta]])


def _norm2(m, t, V) -> float:
    """int |v|^2 ds of a periodic-or-not profile given at the representation points (the last
    interval closed by its own values: only a normalisation)."""
    L, _, w, *_ = basis(m)
    Vc = np.einsum("ck,jkn->jcn", L[:, :m], V) + np.einsum(
        "c,jn->jcn", L[:, m], np.roll(V[:, 0], -1, axis=0)
    )
    return float(np.einsum("j,c,jcn,jcn->", np.diff(t), w, Vc, Vc))


def _continue_curve_of(
    kind,
    params,
    point,
    param,
    bounds,
    *,
    branch,
    ntst,
    ncol,
    vector_field,
    progress,
    throw,
    return_stats,
    options,
):
    f = vector_field or meanfield_vector_field
    if point.kind != kind:
        raise ParameterError("point", f"needs a '{kind}' point; got {point.kind!r}")
    names, bnds = _check_names(params, param, bounds)
    if point.param[0] != names[0]:
        raise ParameterError(
            "param", f"the first parameter must be the point's ({point.param[0]!r}); got {names}"
        )
    n = int(np.shape(point.state)[0])
    base, U, T, p1, t = _start_cycle(params, point, names, branch, ncol, ntst, f, n)
    p2 = _p2(base, names)
    if not all(lo <= x <= hi for x, (lo, hi) in zip((_first_value(point), p2), bnds)):
        raise ParameterError(
            "bounds", f"the start ({_first_value(point):g}, {p2:g}) is outside {bounds}"
        )
    cyc = _Ext(f=f, kind="cycle", names=names, m=ncol, n=n, pin=2)
    z0 = _extended_start(kind, cyc, base, U, T, p1, p2, t, point)
    sys = _Ext(f=f, kind=kind, names=names, m=ncol, n=n)
    what = f"{kind.upper()} curve in {', '.join(names)}"
    tracer, pieces, stats = _run_curve(
        sys, base, bnds, z0, t, target=0.0, options=options, progress=progress, what=what
    )
    N = t.shape[0] - 1
    gh = _gh_refiner(sys, base, f, N) if kind == "lpc" else None
    branch_out = _assemble(tracer, pieces, kind, base, gh)
    return _finish(branch_out, stats, what, throw, return_stats)


def continue_lpc(
    params,
    point: SpecialPoint,
    param,
    bounds,
    *,
    branch: Branch | None = None,
    ntst: int | None = None,
    ncol: int = 4,
    ds: float = 0.01,
    ds_min: float = 1e-7,
    ds_max: float = 0.05,
    max_points: int = 300,
    direction: str = "both",
    amplitude_min: float = 0.02,
    tol: float = 1e-10,
    max_iter: int = 8,
    detect: bool = True,
    vector_field: Callable | None = None,
    return_stats: bool = False,
    progress: bool = False,
    throw: bool = True,
):
    """Continue a fold of cycles (LPC) in two parameters.

    The cycle and the kernel (v, vT) of its collocation Jacobian in (u, T) are solved together
    (the module doc); codimension-two points: 'cpc' (cusp of cycles), 'lppd' (fold-flip),
    'lpns' (fold-torus), 'r1' (1:1 resonance), and 'gh' where the cycle shrinks onto the Hopf
    curve (the curve ends; refined as the zero of l1).

    Parameters
    ----------
    params : Params or dict
        The base parameters (a dict of scalars with `vector_field`).
    point : SpecialPoint
        An 'lpc' point from `continue_cycles` (its parameter is p1).
    param : tuple of str
        The names (p1, p2).
    bounds : tuple
        ((lo1, hi1), (lo2, hi2)); the curve also ends at the edge of the valid domain of
        `Params`.
    branch : Branch, optional
        The cycle branch the point was found on (its cycle at the point's index starts the
        curve; without it one period is integrated from the point's state).
    ntst, ncol : int
        Mesh (default the branch's ntst, else 80; ncol as the branch's).
    ds, ds_min, ds_max : float
        Pseudo-arclength steps (norm sqrt(int |u|^2 ds + p1^2 + p2^2)).
    max_points : int
        Per direction.
    direction : str
        'both', 'forward' (p2 increasing at the start) or 'backward'.
    amplitude_min : float
        End at a generalised Hopf point when the cycle's amplitude falls below this fraction of
        the largest on the curve.
    tol, max_iter : float, int
        Newton tolerance (relative update) and iterations. Where the extended system's rounding
        floor is above `tol` (long slow-fast cycles: ~5e-8 at period 750 in the mean field),
        points are accepted to ten times the floor measured at the previous point, at most
        1e-7.
    detect : bool
        Locate codimension-two points.
    vector_field : callable, optional
        f(x, params) (default the mean field).
    return_stats : bool
        Also return `CurveStats`.
    progress : bool
        A progress line.
    throw : bool, default True
        Raise `ContinuationError` when the corrector failed.

    Returns
    -------
    Branch
        kind 'lpc', with values (n, 2), states (u at phase 0), eigenvalues (Floquet
        multipliers), stable (the non-critical multipliers inside the unit circle), period,
        minima, maxima, profiles, mesh, special points, status and message; with return_stats,
        (branch, CurveStats).

    Raises
    ------
    ParameterError
        A point of another kind or bad arguments.
    ContinuationError
        The start does not converge (or, with throw, the corrector fails along the curve).

    Examples
    --------
    >>> import jaxmf
    >>> p = jaxmf.presets.chen_campbell_2022(rounded=True)
    >>> hopf = jaxmf.continue_equilibria(p, "eta_bar", (0.0, 0.3)).special_points[0]
    >>> cyc = jaxmf.continue_cycles(p, hopf, "eta_bar", (0.0, 0.3))
    >>> lpc = next(sp for sp in cyc.special_points if sp.kind == "lpc")
    >>> curve = jaxmf.continue_lpc(p, lpc, ("eta_bar", "a"), ((0.0, 0.3), (0.005, 0.03)),
    ...                            branch=cyc)
    """
    options = _options(
        ds=ds,
        ds_min=ds_min,
        ds_max=ds_max,
        max_points=max_points,
        tol=tol,
        max_iter=max_iter,
        ncol=ncol,
        direction=direction,
        detect=detect,
        amplitude_min=amplitude_min,
    )
    return _continue_curve_of(
        "lpc",
        params,
        point,
        param,
        bounds,
        branch=branch,
        ntst=ntst,
        ncol=ncol,
        vector_field=vector_field,
        progress=progress,
        throw=throw,
        return_stats=return_stats,
        options=options,
    )


def continue_pd(
    params,
    point: SpecialPoint,
    param,
    bounds,
    *,
    branch: Branch | None = None,
    ntst: int | None = None,
    ncol: int = 4,
    ds: float = 0.01,
    ds_min: float = 1e-7,
    ds_max: float = 0.05,
    max_points: int = 300,
    direction: str = "both",
    tol: float = 1e-10,
    max_iter: int = 8,
    detect: bool = True,
    vector_field: Callable | None = None,
    return_stats: bool = False,
    progress: bool = False,
    throw: bool = True,
):
    """Continue a period doubling (flip, PD) of cycles in two parameters: the cycle and its
    antiperiodic Floquet function v (v(1) = -v(0), multiplier -1) solved together.
    Codimension-two points: 'lppd' (fold-flip), 'r2' (1:2 resonance), 'pdns' (flip-torus).

    Parameters
    ----------
    params, param, bounds, branch, ntst, ncol, ds, ds_min, ds_max, max_points, direction
        As in `continue_lpc`.
    point : SpecialPoint
        A 'pd' point from `continue_cycles`.
    tol, max_iter, detect, vector_field, return_stats, progress, throw
        As in `continue_lpc`.

    Returns
    -------
    Branch
        kind 'pd'; with return_stats, (branch, CurveStats).

    Raises
    ------
    ParameterError
        A point of another kind or bad arguments.
    ContinuationError
        As in `continue_lpc`.

    Examples
    --------
    With `cyc` a cycle branch of the Rössler system (`vector_field=rossler`) that has a period
    doubling:

    >>> pd = next(sp for sp in cyc.special_points if sp.kind == "pd")  # doctest: +SKIP
    >>> curve = continue_pd(p, pd, ("c", "a"), ((2, 4), (0.1, 0.3)), branch=cyc,
    ...                     vector_field=rossler)  # doctest: +SKIP
    """
    options = _options(
        ds=ds,
        ds_min=ds_min,
        ds_max=ds_max,
        max_points=max_points,
        tol=tol,
        max_iter=max_iter,
        ncol=ncol,
        direction=direction,
        detect=detect,
    )
    return _continue_curve_of(
        "pd",
        params,
        point,
        param,
        bounds,
        branch=branch,
        ntst=ntst,
        ncol=ncol,
        vector_field=vector_field,
        progress=progress,
        throw=throw,
        return_stats=return_stats,
        options=options,
    )


def continue_ns(
    params,
    point: SpecialPoint,
    param,
    bounds,
    *,
    branch: Branch | None = None,
    ntst: int | None = None,
    ncol: int = 4,
    ds: float = 0.01,
    ds_min: float = 1e-7,
    ds_max: float = 0.05,
    max_points: int = 300,
    direction: str = "both",
    tol: float = 1e-10,
    max_iter: int = 8,
    detect: bool = True,
    vector_field: Callable | None = None,
    return_stats: bool = False,
    progress: bool = False,
    throw: bool = True,
):
    """Continue a torus (Neimark-Sacker, NS) bifurcation of cycles in two parameters: the cycle,
    its complex Floquet function v (v(1) = e^(i theta) v(0)) and theta solved together.
    Codimension-two points: 'r1' / 'r2' (theta = 0 / pi), 'r3', 'r4' (theta = 2 pi / 3,
    pi / 2), 'lpns' (fold-torus), 'pdns' (flip-torus). data['theta'] per point.

    Parameters
    ----------
    params, param, bounds, branch, ntst, ncol, ds, ds_min, ds_max, max_points, direction
        As in `continue_lpc`.
    point : SpecialPoint
        An 'ns' point from `continue_cycles`, whose multiplier gives theta.
    tol, max_iter, detect, vector_field, return_stats, progress, throw
        As in `continue_lpc`.

    Returns
    -------
    Branch
        kind 'ns', with data['theta']; with return_stats, (branch, CurveStats).

    Raises
    ------
    ParameterError
        A point of another kind or bad arguments.
    ContinuationError
        As in `continue_lpc`.

    Examples
    --------
    With `cyc` a cycle branch (`vector_field=field`) that has a torus bifurcation:

    >>> ns = next(sp for sp in cyc.special_points if sp.kind == "ns")  # doctest: +SKIP
    >>> curve = continue_ns(p, ns, ("beta", "alpha"), ((-1, 1), (0.1, 0.6)), branch=cyc,
    ...                     vector_field=field)  # doctest: +SKIP
    """
    options = _options(
        ds=ds,
        ds_min=ds_min,
        ds_max=ds_max,
        max_points=max_points,
        tol=tol,
        max_iter=max_iter,
        ncol=ncol,
        direction=direction,
        detect=detect,
    )
    return _continue_curve_of(
        "ns",
        params,
        point,
        param,
        bounds,
        branch=branch,
        ntst=ntst,
        ncol=ncol,
        vector_field=vector_field,
        progress=progress,
        throw=throw,
        return_stats=return_stats,
        options=options,
    )


def continue_homoclinic(
    params,
    point: SpecialPoint,
    param,
    bounds,
    *,
    branch: Branch,
    period: float | None = None,
    ntst: int | None = None,
    ncol: int = 4,
    ds: float = 0.01,
    ds_min: float = 1e-7,
    ds_max: float = 0.05,
    max_points: int = 300,
    direction: str = "both",
    tol: float = 1e-10,
    max_iter: int = 8,
    vector_field: Callable | None = None,
    return_stats: bool = False,
    progress: bool = False,
    throw: bool = True,
):
    """Continue a large-period cycle at fixed period in two parameters: the curve it traces
    approximates the homoclinic curve where cycle families end (AUTO's fixed-large-period
    approach; the distance to the homoclinic curve falls exponentially with the period).

    The start is the row of `branch` nearest the point's index; when `period` is above its
    period, the cycle is first continued in p1 at fixed p2 (period growing) until it reaches
    `period`, and that cycle's period is then held.

    Parameters
    ----------
    params : Params or dict
        The base parameters.
    point : SpecialPoint
        A point on `branch` (e.g. its 'homoclinic' point, or the last point of an LPC curve
        approaching a homoclinic orbit).
    param : tuple of str
        (p1, p2), p1 the branch's first parameter.
    bounds : tuple
        ((lo1, hi1), (lo2, hi2)).
    branch : Branch
        A cycle branch or a curve of cycle bifurcations (anything with profiles).
    period : float, optional
        The period to hold (default the starting row's).
    ntst : int, optional
        Mesh intervals (default the branch's; long periods need more).
    ncol, ds, ds_min, ds_max, max_points, direction, tol, max_iter, vector_field
        As in `continue_lpc`.
    return_stats, progress, throw
        As in `continue_lpc`.

    Returns
    -------
    Branch
        kind 'homoclinic', cycles of one period; with return_stats, (branch, CurveStats).

    Raises
    ------
    ParameterError
        Bad arguments.
    ContinuationError
        The start does not converge or the period is not reached (or, with throw, the corrector
        fails along the curve).

    Examples
    --------
    >>> cyc = continue_cycles(p, hopf, "eta_bar", (0, 0.4), period_max=2000)  # doctest: +SKIP
    >>> hom = next(sp for sp in cyc.special_points if sp.kind == "homoclinic")  # doctest: +SKIP
    >>> curve = continue_homoclinic(p, hom, ("eta_bar", "a"), ((0, 0.4), (0.005, 0.03)),
    ...                             branch=cyc)  # doctest: +SKIP
    """
    f = vector_field or meanfield_vector_field
    options = _options(
        ds=ds,
        ds_min=ds_min,
        ds_max=ds_max,
        max_points=max_points,
        tol=tol,
        max_iter=max_iter,
        ncol=ncol,
        direction=direction,
        detect=False,
    )
    names, bnds = _check_names(params, param, bounds)
    if branch is None or branch.profiles is None or branch.param[0] != names[0]:
        raise ParameterError(
            "branch", f"needs the branch in {names[0]!r} the point is on, with its profiles"
        )
    n = int(np.shape(branch.states)[-1])
    i = int(point.index) if 0 <= int(point.index) < len(branch) else len(branch) - 1
    U, T, p1, t = _cycle_from_branch(branch, i, ncol, n, ntst)
    row_values = np.asarray(branch.values)[i]
    base = with_parameters(params, branch.param, row_values)
    p2 = _p2(base, names)
    what = f"homoclinic curve in {', '.join(names)}"
    stats = []
    if period is not None:
        check_positive("period", period)
    if period is not None and period > T:
        # Stage 1: the family at fixed p2, followed while its period grows to `period`.
        grow = _Ext(f=f, kind="cycle", names=names, m=ncol, n=n, pin=2)
        z0 = np.concatenate([U.reshape(-1), [T, p1, p2]])
        wide = [(-np.inf, np.inf), bnds[1]]
        # Hold the profile's size, not p1: the start may be a fold of cycles in p1.
        hold = np.concatenate([(U - U.reshape(-1, n).mean(0)).reshape(-1), [0.0, 0.0, 0.0]])
        hold /= np.sqrt(_inner_np(grow, hold, hold, t))
        tracer, pieces, st = _run_curve(
            grow,
            base,
            wide,
            z0,
            t,
            target=p2,
            options=dict(options, direction="forward", max_points=max(max_points, 400)),
            progress=progress,
            what=f"cycles in {names[0]} up to period {period:g}",
            orient=0,
            period_max=period,
            hold=hold,
        )
        stats.append(st)
        rows = pieces["forward"][0]
        if rows[-1]["T"] < period:
            raise ContinuationError(
                f"{what}: the cycles' period reached only {rows[-1]['T']:.6g} < {period:g} "
                f"({pieces['forward'][3]})"
            )
        last = rows[-1]
        N = t.shape[0] - 1
        U = last["z_out"][:-3].reshape(N, ncol, n)
        T, p1, t = float(last["T"]), float(last["p"][0]), last["t_out"]
        base = with_parameter(base, names[0], p1)
    sys = _Ext(f=f, kind="cycle", names=names, m=ncol, n=n, pin=0)
    z0 = np.concatenate([U.reshape(-1), [T, p1, p2]])
    what = f"homoclinic curve (period {T:.6g}) in {', '.join(names)}"
    tracer, pieces, st = _run_curve(
        sys, base, bnds, z0, t, target=T, options=options, progress=progress, what=what
    )
    stats.append(st)
    out = _assemble(tracer, pieces, "homoclinic", base, None)
    total = CurveStats(
        compile_s=sum(x.compile_s for x in stats),
        run_s=sum(x.run_s for x in stats),
        points=sum(x.points for x in stats),
        rejected=sum(x.rejected for x in stats),
        newton_iterations=sum(x.newton_iterations for x in stats),
    )
    return _finish(out, total, what, throw, return_stats)


def merge_repeated(branch: Branch, kind: str = "lpc", tol: float = 1e-9) -> Branch:
    """The branch with consecutive special points of one kind at the same parameter value (within
    tol (1 + |value|)) merged into the first, which gets data['repeats'] (how many were merged).

    Near a homoclinic orbit a cycle branch zigzags in a tiny parameter interval and reports
    several folds of cycles at the same value (to ~1e-11); they are one feature of the diagram.

    Parameters
    ----------
    branch : Branch
        Any branch.
    kind : str, default 'lpc'
        The special-point kind to merge.
    tol : float, default 1e-9
        Relative tolerance.

    Returns
    -------
    Branch
        Equal to `branch` but for its special points.

    Examples
    --------
    >>> import jax; jax.config.update("jax_enable_x64", True)
    >>> import jaxmf
    >>> p = jaxmf.presets.chen_campbell_2022(rounded=True)
    >>> hopf = jaxmf.continue_equilibria(p, "eta_bar", (0.0, 0.3)).special_points[0]
    >>> cyc = jaxmf.merge_repeated(jaxmf.continue_cycles(p, hopf, "eta_bar", (0.0, 0.3)))
    >>> [sp.kind for sp in cyc.special_points]
    ['lpc', 'lpc', 'hopf']
    """
    check_positive("tol", tol)
    points = sorted(branch.special_points, key=lambda sp: sp.index)
    merged: list[SpecialPoint] = []
    for sp in points:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and sp.kind == kind
            and prev.kind == kind
            and np.all(
                np.abs(np.asarray(sp.value) - np.asarray(prev.value))
                <= tol * (1 + np.abs(np.asarray(prev.value)))
            )
        ):
            repeats = int(prev.data.get("repeats", 1)) + 1
            merged[-1] = dataclasses.replace(prev, data={**prev.data, "repeats": repeats})
            continue
        merged.append(sp)
    return dataclasses.replace(branch, special_points=tuple(merged))
