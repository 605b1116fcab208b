import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmf.heterogeneity import Quantiles, RandomDraws, lorentzian_quantiles, lorentzian_random


def test_quantiles_formula():
    n = 11
    j = np.arange(1, n + 1)
    reference = 0.1 + 0.02 * np.tan(np.pi / 2 * (2 * j - n - 1) / (n + 1))
    np.testing.assert_allclose(
        lorentzian_quantiles(n, 0.1, 0.02), reference, rtol=1e-13, atol=1e-15
    )


@pytest.mark.parametrize("n", [1000, 1001])
def test_quantiles_median_and_quartiles(n):
    # A Lorentzian with centre c and half-width d has median c and quartiles c -+ d.
    x = np.asarray(lorentzian_quantiles(n, 0.12, 0.02))
    assert np.all(np.diff(x) > 0)
    np.testing.assert_allclose(np.median(x), 0.12, atol=1e-12)
    q1, q3 = np.quantile(x, [0.25, 0.75])
    np.testing.assert_allclose([q1, q3], [0.10, 0.14], atol=0.02 * 4 / n)
    np.testing.assert_allclose(x + x[::-1], 0.24, atol=1e-12)  # symmetric about the centre


def test_quantiles_float32_tails_are_accurate():
    n = 1_000_001
    x32 = np.asarray(lorentzian_quantiles(n, dtype=jnp.float32))
    x64 = np.tan(np.pi / 2 * (2 * np.array([1, 2, n]) - n - 1) / (n + 1))
    np.testing.assert_allclose(x32[[0, 1, -1]], x64, rtol=1e-5)
    assert np.all(np.isfinite(x32))


def test_random_draws_statistics(key):
    x = np.asarray(lorentzian_random(key, 200_000, 0.12, 0.02))
    # Sample quartiles of n draws have standard error sqrt(q(1-q)/n)/f(x_q) = 0.02*pi*0.866/sqrt(n).
    se = 0.02 * np.pi * np.sqrt(0.75) / np.sqrt(x.size)
    np.testing.assert_allclose(np.median(x), 0.12, atol=5 * 0.02 * np.pi / 2 / np.sqrt(x.size))
    np.testing.assert_allclose(np.quantile(x, [0.25, 0.75]), [0.10, 0.14], atol=5 * se)


def test_samplers_are_jittable(key):
    np.testing.assert_allclose(
        jax.jit(lambda: Quantiles()(None, 64))(), Quantiles()(None, 64), rtol=1e-13
    )
    np.testing.assert_array_equal(
        jax.jit(lambda k: RandomDraws()(k, 64))(key), RandomDraws()(key, 64)
    )
    with pytest.raises(ValueError, match="key"):
        RandomDraws()(None, 10)
