"""Orthogonal collocation of periodic orbits: the numerical core shared by `jaxmf.cycles` (cycle
branches) and `jaxmf.cycle_curves` (curves of their bifurcations).

A cycle of period T is written on the unit interval, u(s) = x(sT), on a mesh 0 = t_0 < ... <
t_N = 1; on each interval a polynomial of degree m through m + 1 equally spaced values is
collocated at the m Gauss-Legendre points (AUTO's discretisation, Doedel, Keller & Kernevez 1991).
Here: the Lagrange basis (`basis`, `lagrange_at`), the representation times and the polynomial's
values (`representation_times`, `evaluate`, `local_values`), mesh adaptation (`equidistribute`),
the bordered Newton solve on the condensed block-cyclic system (`border_row`, `solve_bordered`)
and the Floquet multipliers from the condensed blocks (`floquet_multipliers`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "basis",
    "border_row",
    "equidistribute",
    "evaluate",
    "floquet_multipliers",
    "lagrange_at",
    "local_values",
    "representation_times",
    "solve_bordered",
]


@functools.cache
def basis(m: int, n_fine: int = 8):
    """Lagrange basis through m + 1 equally spaced points of [0, 1]: values L and derivatives D at
    the m Gauss points, Gauss weights w, values at `n_fine` fine points, and the weights of the
    m-th difference (d^m/ds^m of the local polynomial).

    Parameters
    ----------
    m : int
        Collocation points per interval (the polynomial degree).
    n_fine : int, default 8
        Fine sample points per interval.

    Returns
    -------
    tuple of numpy.ndarray
        (L (m, m+1), D (m, m+1), w (m,), F (n_fine, m+1), top (m+1,)).

    Examples
    --------
    >>> from jaxmf.collocation import basis
    >>> L, D, w, F, top = basis(4)
    >>> L.shape, round(float(w.sum()), 12), round(float(L.sum(1).max()), 12)
    ((4, 5), 1.0, 1.0)
    """
    z = np.arange(m + 1) / m
    gauss, weights = np.polynomial.legendre.leggauss(m)
    gauss, weights = (gauss + 1) / 2, weights / 2
    fine = np.arange(n_fine) / n_fine
    polys = []
    for k in range(m + 1):
        others = np.delete(z, k)
        polys.append(np.poly(others) / np.prod(z[k] - others))
    L = np.array([[np.polyval(c, s) for c in polys] for s in gauss])
    D = np.array([[np.polyval(np.polyder(c), s) for c in polys] for s in gauss])
    F = np.array([[np.polyval(c, s) for c in polys] for s in fine])
    top = np.array([c[0] for c in polys]) * np.prod(np.arange(1, m + 1))  # m! x leading coeff
    return L, D, weights, F, top


def lagrange_at(m: int, s: np.ndarray) -> np.ndarray:
    """The m + 1 Lagrange basis polynomials at local coordinates s: shape (len(s), m + 1).

    Parameters
    ----------
    m : int
        The degree.
    s : numpy.ndarray
        Local coordinates in [0, 1].

    Returns
    -------
    numpy.ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.collocation import lagrange_at
    >>> np.abs(lagrange_at(2, np.array([0.0, 0.5]))).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    z = np.arange(m + 1) / m
    out = np.ones((len(s), m + 1))
    for k in range(m + 1):
        for i in range(m + 1):
            if i != k:
                out[:, k] *= (s - z[i]) / (z[k] - z[i])
    return out


def local_values(U: jax.Array) -> jax.Array:
    """(N, m, n) mesh-and-interior values -> (N, m + 1, n) values of each interval (periodic).

    Parameters
    ----------
    U : jax.Array
        (N, m, n) the values at each interval's mesh point and interior nodes.

    Returns
    -------
    jax.Array
        (N, m + 1, n): each interval's values with the next interval's first one appended.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.collocation import local_values
    >>> local_values(jnp.arange(4.0).reshape(2, 2, 1))[:, :, 0].tolist()
    [[0.0, 1.0, 2.0], [2.0, 3.0, 0.0]]
    """
    return jnp.concatenate([U, jnp.roll(U, -1, axis=0)[:, :1]], axis=1)


def border_row(grad_U, grad_q, blocks):
    """A border row (gradient over the full unknowns) condensed onto mesh values and (T, p).

    Parameters
    ----------
    grad_U : Array
        (N, m, n) gradient of the border equation over the profile values.
    grad_q : Array
        (k,) its gradient over the scalar unknowns.
    blocks : dict
        The condensed blocks of the collocation equations.

    Returns
    -------
    tuple
        (row over the mesh values (N, n), row over the scalar unknowns (k,), the interior
        part (N, m n) that `solve_bordered` subtracts from the right-hand side).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.collocation import border_row
    >>> blocks = dict(S=jnp.zeros((2, 1, 2)), left=jnp.zeros((2, 2, 1)),
    ...               right=jnp.zeros((2, 2, 1)), Etp=jnp.zeros((2, 2, 1)))
    >>> cx, cq, v = border_row(jnp.ones((2, 2, 1)), jnp.ones(1), blocks)
    >>> cx.shape, cq.tolist()
    ((2, 1), [1.0])
    """
    v = jnp.einsum("jab,ja->jb", blocks["S"], grad_U[:, 1:].reshape(grad_U.shape[0], -1))
    cx = (
        grad_U[:, 0]
        - jnp.einsum("jab,ja->jb", blocks["left"], v)
        - jnp.roll(jnp.einsum("jab,ja->jb", blocks["right"], v), 1, axis=0)
    )
    cq = grad_q - jnp.einsum("jab,ja->b", blocks["Etp"], v)
    return cx, cq, v


def _reduce(blocks, rows, rhs_x, rhs_b):
    """Solve the condensed block-cyclic system A_j x_j + B_j x_{j+1} + C_j q = rhs_x[j]
    (x_N = x_0) in the mesh values x and k scalar unknowns q with k border rows, by eliminating
    x_1 .. x_{N-1} in a `lax.scan` with one 2n x n QR per step (stable, O(N n^3), no dense
    factorisation), then back-substitution."""
    A, B, C = blocks["A"], blocks["B"], blocks["C"]
    n, k = A.shape[-1], C.shape[-1]
    cx = jnp.stack([r[0] for r in rows])
    cq = jnp.stack([r[1] for r in rows])
    zero = jnp.zeros((n, n), A.dtype)
    cx_next = jnp.concatenate([cx[:, 2:], jnp.zeros_like(cx[:, :1])], axis=1)

    def forward(carry, inp):
        At, Bt, Ct, rt, b0, bcur, bq, rho = carry
        Aj, Bj, Cj, rj, bnext = inp
        Q, R = jnp.linalg.qr(jnp.concatenate([Bt, Aj]), mode="complete")
        rest = Q.T @ jnp.concatenate(
            [
                jnp.concatenate([At, zero, Ct, rt[:, None]], axis=1),
                jnp.concatenate([zero, Bj, Cj, rj[:, None]], axis=1),
            ]
        )
        top, bottom = rest[:n], rest[n:]
        X = jax.scipy.linalg.solve_triangular(R[:n], top, lower=False)
        F0, F1, Fq, g = X[:, :n], X[:, n : 2 * n], X[:, 2 * n : 2 * n + k], X[:, -1]
        carry = (
            bottom[:, :n],
            bottom[:, n : 2 * n],
            bottom[:, 2 * n : 2 * n + k],
            bottom[:, -1],
            b0 - bcur @ F0,
            bnext - bcur @ F1,
            bq - bcur @ Fq,
            rho - bcur @ g,
        )
        return carry, (F0, F1, Fq, g)

    init = (A[0], B[0], C[0], rhs_x[0], cx[:, 0], cx[:, 1], cq, rhs_b)
    inputs = (A[1:], B[1:], C[1:], rhs_x[1:], jnp.moveaxis(cx_next, 1, 0))
    (At, Bt, Ct, rt, b0, bcur, bq, rho), saved = jax.lax.scan(forward, init, inputs)
    top = jnp.concatenate([At + Bt, Ct], axis=1)
    bot = jnp.concatenate([b0 + bcur, bq], axis=1)
    sol = jnp.linalg.solve(jnp.concatenate([top, bot]), jnp.concatenate([rt, rho]))
    x0, q = sol[:n], sol[n:]

    def backward(x_next, s):
        F0, F1, Fq, g = s
        xj = g - F0 @ x0 - F1 @ x_next - Fq @ q
        return xj, xj

    _, xs = jax.lax.scan(backward, x0, saved, reverse=True)
    return jnp.concatenate([x0[None], xs]), q


def solve_bordered(blocks, rows, b_coll, b_border, m: int):
    """Solve the bordered collocation system J dz = (b_coll, b_border): the condensed
    block-cyclic system in the mesh values and the scalar unknowns, then the interior values.

    Parameters
    ----------
    blocks : dict
        The condensed blocks of the collocation equations (left, right, Etp, S, A, B, C, Q2).
    rows : sequence
        One `border_row` per border equation (as many as scalar unknowns).
    b_coll : Array
        (N, m n) right-hand side of the collocation equations.
    b_border : Array
        (k,) right-hand side of the border equations.
    m : int
        Collocation points per interval.

    Returns
    -------
    Array
        dz: the N m n profile values, then the k scalar unknowns.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.collocation import border_row, solve_bordered
    >>> N, m, n = 2, 2, 1  # two intervals, one interior value each, one scalar unknown
    >>> blocks = dict(left=jnp.ones((N, 2, 1)), right=-jnp.ones((N, 2, 1)),
    ...               Etp=jnp.zeros((N, 2, 1)), S=jnp.ones((N, 1, 2)) / 2,
    ...               A=jnp.ones((N, 1, 1)), B=-2 * jnp.ones((N, 1, 1)), C=jnp.ones((N, 1, 1)),
    ...               Q2=jnp.ones((N, 2, 1)) / 2)
    >>> row = border_row(jnp.ones((N, m, n)), jnp.ones(1), blocks)
    >>> solve_bordered(blocks, [row], jnp.zeros((N, 2)), jnp.ones(1), m).shape
    (5,)
    """
    A = blocks["A"]
    n = A.shape[-1]
    N = b_coll.shape[0]
    rhs_x = jnp.einsum("jab,ja->jb", blocks["Q2"], b_coll)
    rhs_b = jnp.stack([b_border[i] - jnp.sum(rows[i][2] * b_coll) for i in range(len(rows))])
    dx, dq = _reduce(blocks, rows, rhs_x, rhs_b)
    dx_next = jnp.roll(dx, -1, axis=0)
    rest = (
        b_coll
        - jnp.einsum("jab,jb->ja", blocks["left"], dx)
        - jnp.einsum("jab,jb->ja", blocks["right"], dx_next)
        - jnp.einsum("jab,b->ja", blocks["Etp"], dq)
    )
    dy = jnp.einsum("jab,jb->ja", blocks["S"], rest).reshape(N, m - 1, n)
    dU = jnp.concatenate([dx[:, None], dy], axis=1)
    return jnp.concatenate([dU.reshape(-1), dq])


def floquet_multipliers(blocks, sweeps: int = 3):
    """Floquet multipliers of the monodromy matrix, the product of the per-interval transfer
    matrices P_j = -B_j^-1 A_j. Returns (multipliers, log-moduli), by decreasing modulus.

    The explicit product (kept scaled, with its log-scale summed, so long cycles neither overflow
    nor underflow) gives eigenvalues accurate only to ~eps times its norm, which is poor for the
    small multipliers and, on canard-like cycles with large transient growth, even for the trivial
    one. So the real multipliers are recomputed by a periodic QR (orthogonal) iteration along the
    orbit, P_j Z_j = Z_{j+1} R_j, started from the explicit eigenvectors: each converged column
    gives mu = prod_j R_j[k, k], summed as logs, with every factor handled in its own scale
    (the idea of the periodic Schur decomposition, Fairgrieve & Jepson 1991). Complex pairs keep
    the explicit values.

    Parameters
    ----------
    blocks : dict
        'A' and 'B', (N, n, n) each: the condensed collocation system's blocks of every interval
        (B_j u_{j+1} + A_j u_j = 0 for the linearised flow).
    sweeps : int, default 3
        Periodic QR sweeps refining the real multipliers.

    Returns
    -------
    multipliers : jax.Array
        (n,) complex, by decreasing modulus.
    log_moduli : jax.Array
        (n,) their log-moduli, accurate also where the moduli under- or overflow.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.collocation import floquet_multipliers
    >>> # two intervals, each transfer matrix diag(2, 0.5): monodromy diag(4, 0.25)
    >>> blocks = dict(A=jnp.broadcast_to(-jnp.diag(jnp.array([2.0, 0.5])), (2, 2, 2)),
    ...               B=jnp.broadcast_to(jnp.eye(2), (2, 2, 2)))
    >>> mult, logmod = floquet_multipliers(blocks)
    >>> [round(float(x), 10) for x in mult.real]
    [4.0, 0.25]
    """
    P = -jnp.linalg.solve(blocks["B"], blocks["A"])
    n = P.shape[-1]
    dtype = P.dtype

    def product(carry, Pj):
        M, logscale = carry
        M = Pj @ M
        s = jnp.max(jnp.abs(M))
        return (M / s, logscale + jnp.log(s)), None

    (M, logscale), _ = jax.lax.scan(product, (jnp.eye(n, dtype=dtype), jnp.zeros((), dtype)), P)
    ev, vec = jnp.linalg.eig(M)
    order = jnp.argsort(-jnp.abs(ev))
    ev, vec = ev[order], vec[:, order]
    logmod = jnp.log(jnp.abs(ev)) + logscale
    mult = ev * jnp.exp(logscale).astype(ev.dtype)

    complex_ = jnp.abs(ev.imag) > 1e-10 * jnp.abs(ev)
    W = jnp.where((ev.imag < 0)[None, :] & complex_[None, :], vec.imag, vec.real)
    Z0, _ = jnp.linalg.qr(W)
    eye2 = jnp.broadcast_to(jnp.eye(2, dtype=dtype), (n - 1, 2, 2))

    def sweep(Z, _):
        def step(carry, Pj):
            Z, logd, sign, blocks2, log2 = carry
            Q, R = jnp.linalg.qr(Pj @ Z)
            d = jnp.diagonal(R)
            # Adjacent 2x2 diagonal blocks of the product of the R_j, each in its own scale
            # (a complex pair's block does not become triangular).
            Rb = jnp.stack([R[k : k + 2, k : k + 2] for k in range(n - 1)])
            blocks2 = Rb @ blocks2
            s = jnp.max(jnp.abs(blocks2), axis=(1, 2))
            return (
                Q,
                logd + jnp.log(jnp.abs(d)),
                sign * jnp.sign(d),
                blocks2 / s[:, None, None],
                log2 + jnp.log(s),
            ), None

        init = (Z, jnp.zeros((n,), dtype), jnp.ones((n,), dtype), eye2, jnp.zeros((n - 1,), dtype))
        (ZN, logd, sign, blocks2, log2), _ = jax.lax.scan(step, init, P)
        return ZN, (logd, sign, blocks2, log2, Z.T @ ZN)

    _, (logd, sign, blocks2, log2, G) = jax.lax.scan(sweep, Z0, None, length=sweeps)
    logd, sign, blocks2, log2, G = logd[-1], sign[-1], blocks2[-1], log2[-1], G[-1]
    # Z0^T M Z0 = G R with G = Z0^T Z_N: block diagonal (+-1 or 2x2 rotations) at convergence.
    real_ok = (jnp.abs(jnp.diagonal(G)) > 1 - 1e-8) & jnp.isfinite(logd)
    real_mu = (sign * jnp.sign(jnp.diagonal(G)) * jnp.exp(logd)).astype(mult.dtype)
    Gb = jnp.stack([G[k : k + 2, k : k + 2] for k in range(n - 1)])
    pair_ok = jnp.abs(jnp.linalg.det(Gb)) > 1 - 1e-8
    pair_ev = jnp.linalg.eigvals(Gb @ blocks2)  # (n-1, 2), times exp(log2)
    pair_log = jnp.log(jnp.abs(pair_ev)) + log2[:, None]
    pair_mu = pair_ev * jnp.exp(log2)[:, None].astype(pair_ev.dtype)
    out_mu, out_log = [], []
    second = jnp.asarray(False)
    for k in range(n):
        first = (~real_ok[k]) & (~second) & pair_ok[k] if k < n - 1 else jnp.asarray(False)
        mu_k = jnp.where(real_ok[k] & ~second, real_mu[k], mult[k])
        lg_k = jnp.where(real_ok[k] & ~second, logd[k], logmod[k])
        if k < n - 1:
            mu_k = jnp.where(first, pair_mu[k, 0], mu_k)
            lg_k = jnp.where(first, pair_log[k, 0], lg_k)
        if k > 0:
            mu_k = jnp.where(second, pair_mu[k - 1, 1], mu_k)
            lg_k = jnp.where(second, pair_log[k - 1, 1], lg_k)
        out_mu.append(mu_k)
        out_log.append(lg_k)
        second = first
    mult, logmod = jnp.stack(out_mu), jnp.stack(out_log)
    order = jnp.argsort(-logmod)
    return mult[order], logmod[order]


def evaluate(U: np.ndarray, t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The collocation polynomial (mesh t, values U (N, m, n)) at times s in [0, 1].

    Parameters
    ----------
    U : numpy.ndarray
        (N, m, n) values at the representation times.
    t : numpy.ndarray
        (N + 1,) the mesh on [0, 1].
    s : numpy.ndarray
        Times (taken modulo 1: the profile is periodic).

    Returns
    -------
    numpy.ndarray
        (len(s), n) the polynomial's values.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.collocation import evaluate, representation_times
    >>> t = np.linspace(0.0, 1.0, 5)
    >>> U = np.sin(2 * np.pi * representation_times(t, 4))[..., None]
    >>> abs(float(evaluate(U, t, np.array([0.3]))[0, 0] - np.sin(0.6 * np.pi))) < 1e-3
    True
    """
    N, m, _ = U.shape
    s = np.mod(s, 1.0)
    j = np.clip(np.searchsorted(t, s, side="right") - 1, 0, N - 1)
    loc = (s - t[j]) / (t[j + 1] - t[j])
    uloc = np.concatenate([U, np.roll(U, -1, axis=0)[:, :1]], axis=1)
    Lv = lagrange_at(m, loc)
    return np.einsum("ik,ikn->in", Lv, uloc[j])


def representation_times(t: np.ndarray, m: int) -> np.ndarray:
    """Times of the representation values (N, m): mesh points and equally spaced interior.

    Parameters
    ----------
    t : numpy.ndarray
        (N + 1,) the mesh.
    m : int
        Nodes per interval (the polynomial degree).

    Returns
    -------
    numpy.ndarray
        (N, m) the times.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.collocation import representation_times
    >>> representation_times(np.array([0.0, 0.5, 1.0]), 2).tolist()
    [[0.0, 0.25], [0.5, 0.75]]
    """
    h = np.diff(t)
    return t[:-1, None] + h[:, None] * (np.arange(m) / m)[None, :]


def equidistribute(
    U: np.ndarray, t: np.ndarray, N_new: int, uniform: float = 0.05
) -> tuple[np.ndarray, float]:
    """New mesh equidistributing |u^(m+1)|^(1/(m+1)) (AUTO's estimate from jumps of the m-th
    derivative of the piecewise polynomial), and the estimated max error h^(m+1)|u^(m+1)|.

    Parameters
    ----------
    U : numpy.ndarray
        (N, m, n) representation values on the mesh t.
    t : numpy.ndarray
        (N + 1,) mesh in [0, 1].
    N_new : int
        Intervals of the new mesh.
    uniform : float, default 0.05
        Share of a uniform density mixed in (keeps intervals from growing without bound).

    Returns
    -------
    tuple
        (new mesh (N_new + 1,), error estimate).

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.collocation import equidistribute, representation_times
    >>> t = np.linspace(0.0, 1.0, 41)
    >>> U = np.exp(np.cos(2 * np.pi * representation_times(t, 4)) * 5)[..., None]
    >>> t_new, err = equidistribute(U, t, 40)
    >>> t_new.shape, bool(np.diff(t_new).min() < np.diff(t_new).max())
    ((41,), True)
    """
    N, m, _ = U.shape
    top = basis(m)[4]
    h = np.diff(t)
    uloc = np.concatenate([U, np.roll(U, -1, axis=0)[:, :1]], axis=1)
    dm = np.einsum("k,jkn->jn", top, uloc) / h[:, None] ** m
    jump = (np.roll(dm, -1, axis=0) - dm) / (0.5 * (h + np.roll(h, -1)))[:, None]
    d1 = 0.5 * (jump + np.roll(jump, 1, axis=0))
    mag = np.max(np.abs(d1), axis=1)
    phi = mag ** (1.0 / (m + 1))
    phi = phi + uniform * np.mean(phi) + 1e-300
    cum = np.concatenate([[0.0], np.cumsum(phi * h)])
    levels = np.linspace(0.0, cum[-1], N_new + 1)
    t_new = np.interp(levels, cum, t)
    t_new[0], t_new[-1] = 0.0, 1.0
    err = float(np.max(h ** (m + 1) * mag))
    return t_new, err
