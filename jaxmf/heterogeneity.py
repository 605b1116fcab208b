"""Per-neuron excitabilities eta_i: Lorentzian (Cauchy) samples and other distributions.

Two Lorentzian samplers, both pure and jit-able: `Quantiles` (deterministic, the default: the j-th
of N neurons sits at the j/(N+1) quantile, which removes sampling noise) and `RandomDraws`
(independent Cauchy draws from a PRNG key). Samplers return *standard* values z (for the
Lorentzian: centre 0, half-width 1); a population's eta is eta_bar + delta_eta * z, so the same
sample can be reused for every parameter set of a sweep.

Other distributions for the network (the mean field stays the Lorentzian one, an approximation
for them): `Gaussian`, `Uniform` and `FromSamples`. Each is scaled so that its eta has the same
centre (median) as the Lorentzian of centre eta_bar and half-width delta_eta, and is *matched* to
that Lorentzian by

- ``match="hwhm"`` (default): the same half-width at half maximum, delta_eta. A Gaussian of
  standard deviation delta_eta / sqrt(2 ln 2) = 0.8493 delta_eta; a uniform density on
  [eta_bar - delta_eta, eta_bar + delta_eta] (its half maximum is reached at its edges);
- ``match="iqr"``: the same quartiles eta_bar -+ delta_eta (the same interquartile range,
  2 delta_eta). A Gaussian of standard deviation delta_eta / 0.6745 = 1.4826 delta_eta; a uniform
  density on [eta_bar - 2 delta_eta, eta_bar + 2 delta_eta].

`FromSamples` takes measured excitabilities and matches by quartiles: its `center` (median) and
`half_width` (half the interquartile range) are the Lorentzian's eta_bar and delta_eta, with which
eta_bar + delta_eta * z reproduces the samples. The error of the Lorentzian mean field for these
distributions is measured against the network in tests/test_heterogeneity.py and
notebooks/10_noise_and_heterogeneity.ipynb.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "lorentzian_quantiles",
    "lorentzian_random",
    "Quantiles",
    "RandomDraws",
    "Gaussian",
    "Uniform",
    "FromSamples",
]


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


_MATCHES = ("hwhm", "iqr")
# The standard normal's quartile, Phi^-1(3/4).
_NORMAL_QUARTILE = 0.6744897501960817


def _check_match(match: str) -> None:
    if match not in _MATCHES:
        raise ValueError(f"match: choose 'hwhm' or 'iqr'; got {match!r}")


def _levels(n: int, dtype) -> jax.Array:
    """The n probability levels j/(n + 1), j = 1..n."""
    return jnp.arange(1, n + 1, dtype=dtype) / (n + 1)


class Gaussian(eqx.Module):
    """Gaussian excitabilities matched to the Lorentzian of half-width 1 (see the module docs).

    Called as ``sampler(key, n, dtype=None)``, it returns standard values z of standard
    deviation `std`: the normal quantiles at j/(n + 1) (default, deterministic) or, with
    ``random=True``, independent draws from `key`. A population's eta is eta_bar + delta_eta z:
    a Gaussian of mean eta_bar and standard deviation delta_eta * std.

    Attributes
    ----------
    match : str
        'hwhm' (the Lorentzian's half-width at half maximum, std = 1/sqrt(2 ln 2)) or 'iqr'
        (its quartiles, std = 1/0.6745).
    random : bool
        Independent draws (needs a key) instead of deterministic quantiles.

    Raises
    ------
    ValueError
        An unknown `match`, or ``random=True`` called without a key.

    Examples
    --------
    >>> from jaxmf.heterogeneity import Gaussian
    >>> round(Gaussian().std, 4), round(Gaussian(match="iqr").std, 4)
    (0.8493, 1.4826)
    >>> [round(x, 4) for x in Gaussian(match="iqr")(None, 3).tolist()]  # quartiles at -+1
    [-1.0, 0.0, 1.0]
    """

    match: str = eqx.field(default="hwhm", static=True)
    random: bool = eqx.field(default=False, static=True)

    def __check_init__(self):
        _check_match(self.match)

    @property
    def std(self) -> float:
        """The standard deviation of z."""
        if self.match == "hwhm":
            return 1.0 / math.sqrt(2.0 * math.log(2.0))
        return 1.0 / _NORMAL_QUARTILE

    def __call__(self, key: jax.Array | None, n: int, dtype=None) -> jax.Array:
        dtype = dtype or jax.dtypes.canonicalize_dtype(float)
        if self.random:
            if key is None:
                raise ValueError("key: Gaussian(random=True) needs a PRNG key")
            return self.std * jax.random.normal(key, (n,), dtype=dtype)
        # Folded onto the lower tail, where the levels m/(n + 1) are exact in float32 too.
        j = jnp.arange(1, n + 1)
        m = jnp.minimum(j, n + 1 - j).astype(dtype)
        sign = jnp.where(2 * j < n + 1, 1.0, -1.0).astype(dtype)
        z = sign * jax.scipy.special.ndtri(m / (n + 1))
        return (self.std * jnp.where(2 * j == n + 1, 0.0, z)).astype(dtype)


class Uniform(eqx.Module):
    """Uniform excitabilities matched to the Lorentzian of half-width 1 (see the module docs).

    Called as ``sampler(key, n, dtype=None)``, it returns standard values z uniform on
    [-half_range, half_range]: evenly spaced at the quantiles j/(n + 1) (default) or, with
    ``random=True``, independent draws from `key`.

    Attributes
    ----------
    match : str
        'hwhm' (half_range = 1: the density is at half its maximum only at its edges, taken as
        the half-width) or 'iqr' (half_range = 2: quartiles at -+1).
    random : bool
        Independent draws (needs a key) instead of deterministic quantiles.

    Raises
    ------
    ValueError
        An unknown `match`, or ``random=True`` called without a key.

    Examples
    --------
    >>> from jaxmf.heterogeneity import Uniform
    >>> [round(x, 4) for x in Uniform()(None, 3).tolist()]
    [-0.5, 0.0, 0.5]
    >>> Uniform(match="iqr").half_range
    2.0
    """

    match: str = eqx.field(default="hwhm", static=True)
    random: bool = eqx.field(default=False, static=True)

    def __check_init__(self):
        _check_match(self.match)

    @property
    def half_range(self) -> float:
        """Half the width of the support of z."""
        return 1.0 if self.match == "hwhm" else 2.0

    def __call__(self, key: jax.Array | None, n: int, dtype=None) -> jax.Array:
        dtype = dtype or jax.dtypes.canonicalize_dtype(float)
        h = self.half_range
        if self.random:
            if key is None:
                raise ValueError("key: Uniform(random=True) needs a PRNG key")
            return jax.random.uniform(key, (n,), dtype=dtype, minval=-h, maxval=h)
        return (h * (2.0 * _levels(n, dtype) - 1.0)).astype(dtype)


class FromSamples(eqx.Module):
    """Excitabilities from given samples (measured or from any distribution).

    The samples are standardised by the Lorentzian with the same quartiles: z = (x - center) /
    half_width with `center` the median and `half_width` half the interquartile range. Use
    ``params.replace(eta_bar=s.center, delta_eta=s.half_width)`` to simulate the samples
    themselves (eta = eta_bar + delta_eta z) and to give the mean field that Lorentzian.
    Called as ``sampler(key, n, dtype=None)``: with n equal to the number of samples, the sorted
    samples; otherwise the empirical quantiles at j/(n + 1) (linear interpolation between order
    statistics); with ``random=True``, n draws with replacement from `key`.

    Parameters
    ----------
    samples : array_like
        Shape (M,), M >= 2, finite, not all equal.
    random : bool
        Resample with replacement (needs a key) instead of taking quantiles.

    Attributes
    ----------
    z : numpy.ndarray
        The standardised samples, sorted.
    center, half_width : float
        The median and half the interquartile range of the samples.

    Raises
    ------
    ValueError
        Too few, non-finite or constant samples (zero interquartile range), or ``random=True``
        called without a key.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.heterogeneity import FromSamples
    >>> s = FromSamples(np.array([0.1, 0.2, 0.3, 0.4, 0.5]))
    >>> round(s.center, 6), round(s.half_width, 6)
    (0.3, 0.1)
    >>> [round(x, 6) for x in s(None, 5).tolist()]
    [-2.0, -1.0, 0.0, 1.0, 2.0]
    """

    z: np.ndarray
    center: float = eqx.field(static=True)
    half_width: float = eqx.field(static=True)
    random: bool = eqx.field(default=False, static=True)

    def __init__(self, samples, random: bool = False):
        x = np.sort(np.asarray(samples, dtype=float).ravel())
        if x.size < 2 or not np.all(np.isfinite(x)):
            raise ValueError(f"samples: need >= 2 finite values; got {x.size} values")
        q1, median, q3 = np.quantile(x, [0.25, 0.5, 0.75])
        if not q3 > q1:
            raise ValueError("samples: the interquartile range is 0; give spread-out samples")
        self.center = float(median)
        self.half_width = float(0.5 * (q3 - q1))
        self.z = (x - self.center) / self.half_width
        self.random = random

    def __call__(self, key: jax.Array | None, n: int, dtype=None) -> jax.Array:
        dtype = dtype or jax.dtypes.canonicalize_dtype(float)
        if self.random:
            if key is None:
                raise ValueError("key: FromSamples(random=True) needs a PRNG key")
            return jax.random.choice(key, jnp.asarray(self.z, dtype), (n,), replace=True)
        if n == self.z.size:
            return jnp.asarray(self.z, dtype)
        levels = np.arange(1, n + 1) / (n + 1)
        return jnp.asarray(np.quantile(self.z, levels), dtype)
