"""Higher derivatives of a vector field as multilinear forms, for normal-form coefficients
(first Lyapunov coefficients of ODE and DDE Hopf points, fold coefficients): nested forward
mode, extended to complex arguments by expanding each one in its real and imaginary parts."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp

__all__ = ["complex_dtype", "complex_forms", "derivative"]


def complex_dtype(dtype):
    """The complex dtype of a real dtype's precision."""
    return jnp.complex128 if jnp.dtype(dtype) == jnp.float64 else jnp.complex64


def derivative(F, u, directions):
    """D^k F(u)[d_1, ..., d_k] for real directions, by nested forward mode."""
    if not directions:
        return F(u)
    *inner, last = directions
    return jax.jvp(lambda y: derivative(F, y, inner), (u,), (last,))[1]


def complex_forms(F, u, *arguments):
    """The multilinear forms D^k F(u)[z_1, ..., z_k] extended to complex z, one per tuple
    (z_1, ..., z_k) in `arguments` (all of one order k): each z = re + i im gives 2^k real
    derivatives, evaluated together under one `vmap` (one derivative graph to compile, not
    one per term). Returns shape (len(arguments),) + F's output shape."""
    cdtype = complex_dtype(u.dtype)
    order = len(arguments[0])
    picks = list(itertools.product((0, 1), repeat=order))
    real = [
        jnp.stack(
            [jnp.imag(z[i]) if pick[i] else jnp.real(z[i]) for z in arguments for pick in picks]
        )
        for i in range(order)
    ]
    terms = jax.vmap(lambda *d: derivative(F, u, list(d)))(*real).astype(cdtype)
    weights = jnp.asarray([1j ** sum(pick) for pick in picks], cdtype)
    return jnp.einsum(
        "p,mp...->m...", weights, terms.reshape((len(arguments), len(picks)) + terms.shape[1:])
    )
