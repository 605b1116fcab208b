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
    """The n quantiles j/(n + 1) of a Lorentzian, in ascending order.

    eta_j = center + half_width * tan((pi/2)(2j - n - 1)/(n + 1)), j = 1..n, computed through
    the smaller of the two complementary angles so that the tails stay accurate in float32.

    Parameters
    ----------
    n : int
        The number of samples.
    center : float or jax.Array
        The Lorentzian's centre (eta_bar).
    half_width : float or jax.Array
        Its half-width at half maximum (delta_eta).
    dtype : dtype, optional
        The samples' dtype (default: the enabled precision).

    Returns
    -------
    jax.Array
        Shape (n,). The quantiles, symmetric about `center`.

    Examples
    --------
    >>> from jaxmf.heterogeneity import lorentzian_quantiles
    >>> [round(x, 4) for x in lorentzian_quantiles(5).tolist()]  # tan(-pi/3), tan(-pi/6), ...
    [-1.7321, -0.5774, 0.0, 0.5774, 1.7321]
    >>> [round(x, 4) for x in lorentzian_quantiles(3, center=0.25, half_width=0.02).tolist()]
    [0.23, 0.25, 0.27]
    """
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
    """n independent Lorentzian (Cauchy) draws.

    eta_j = center + half_width * tan(pi (U_j - 1/2)), U_j uniform on (0, 1).

    Parameters
    ----------
    key : jax.Array
        PRNG key.
    n : int
        The number of samples.
    center : float or jax.Array
        The Lorentzian's centre (eta_bar).
    half_width : float or jax.Array
        Its half-width at half maximum (delta_eta).
    dtype : dtype, optional
        The samples' dtype (default: the enabled precision).

    Returns
    -------
    jax.Array
        Shape (n,). The draws.

    Examples
    --------
    >>> import jax
    >>> import jax.numpy as jnp
    >>> from jaxmf.heterogeneity import lorentzian_random
    >>> z = lorentzian_random(jax.random.key(0), 1000)
    >>> z.shape, bool(abs(jnp.median(z)) < 0.2)  # the median of a Lorentzian is its centre
    ((1000,), True)
    """
    dtype = dtype or jax.dtypes.canonicalize_dtype(float)
    return center + half_width * jax.random.cauchy(key, (n,), dtype=dtype)


class Quantiles(eqx.Module):
    """Deterministic Lorentzian quantiles (the paper's default sampling).

    Called as ``sampler(key, n, dtype=None)``, it returns ``lorentzian_quantiles(n)`` (standard
    values: centre 0, half-width 1) and ignores the key.

    Examples
    --------
    >>> from jaxmf.heterogeneity import Quantiles
    >>> [round(x, 4) for x in Quantiles()(None, 4).tolist()]
    [-1.3764, -0.3249, 0.3249, 1.3764]
    """

    def __call__(self, key: jax.Array | None, n: int, dtype=None) -> jax.Array:
        del key
        return lorentzian_quantiles(n, dtype=dtype)


class RandomDraws(eqx.Module):
    """Independent Lorentzian draws (the paper's Figure 7 comparison).

    Called as ``sampler(key, n, dtype=None)``, it returns ``lorentzian_random(key, n)``
    (standard values: centre 0, half-width 1).

    Raises
    ------
    ValueError
        When called without a PRNG key.

    Examples
    --------
    >>> import jax
    >>> from jaxmf.heterogeneity import RandomDraws
    >>> RandomDraws()(jax.random.key(0), 4).shape
    (4,)
    >>> RandomDraws()(None, 4)
    Traceback (most recent call last):
        ...
    ValueError: key: RandomDraws needs a PRNG key, e.g. key=jax.random.key(0)
    """

    def __call__(self, key: jax.Array | None, n: int, dtype=None) -> jax.Array:
        if key is None:
            raise ValueError("key: RandomDraws needs a PRNG key, e.g. key=jax.random.key(0)")
        return lorentzian_random(key, n, dtype=dtype)
