"""Per-neuron excitabilities eta_i drawn from a Lorentzian (Cauchy) distribution.

Two samplers, both pure and jit-able: `Quantiles` (deterministic, the default: the j-th of N
neurons sits at the j/(N+1) quantile, which removes sampling noise) and `RandomDraws`
(independent Cauchy draws from a PRNG key). Samplers return *standard* Lorentzian values z
(centre 0, half-width 1); a population's eta is eta_bar + delta_eta * z, so the same sample can be
reused for every parameter set of a sweep.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

__all__ = ["lorentzian_quantiles", "lorentzian_random", "Quantiles", "RandomDraws"]


def lorentzian_quantiles(n: int, center=0.0, half_width=1.0, dtype=None) -> jax.Array:
    """eta_j = center + half_width * tan((pi/2)(2j - n - 1)/(n + 1)), j = 1..n (ascending)."""
    dtype = dtype or jax.dtypes.canonicalize_dtype(float)
    j = jnp.arange(1, n + 1)
    # tan(pi j/(n+1) - pi/2) = -cot(pi j/(n+1)); folding onto the smaller angle keeps the tails
    # accurate in float32 instead of evaluating tan next to pi/2.
    m = jnp.minimum(j, n + 1 - j)
    sign = jnp.where(2 * j < n + 1, -1.0, 1.0).astype(dtype)
    z = sign / jnp.tan(jnp.pi * m.astype(dtype) / (n + 1))
    z = jnp.where(2 * j == n + 1, 0.0, z).astype(dtype)
    return center + half_width * z


def lorentzian_random(key: jax.Array, n: int, center=0.0, half_width=1.0, dtype=None) -> jax.Array:
    """eta_j = center + half_width * tan(pi (U_j - 1/2)), U_j uniform on (0, 1)."""
    dtype = dtype or jax.dtypes.canonicalize_dtype(float)
    return center + half_width * jax.random.cauchy(key, (n,), dtype=dtype)


class Quantiles(eqx.Module):
    """Deterministic Lorentzian quantiles (the paper's default sampling)."""

    def __call__(self, key: jax.Array | None, n: int, dtype=None) -> jax.Array:
        del key
        return lorentzian_quantiles(n, dtype=dtype)


class RandomDraws(eqx.Module):
    """Independent Lorentzian draws; needs a PRNG key (the paper's Figure 7 comparison)."""

    def __call__(self, key: jax.Array | None, n: int, dtype=None) -> jax.Array:
        if key is None:
            raise ValueError("key: RandomDraws needs a PRNG key, e.g. key=jax.random.key(0)")
        return lorentzian_random(key, n, dtype=dtype)
