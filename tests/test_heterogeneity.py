import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import ndtri

from jaxmf.heterogeneity import (
    FromSamples,
    Gaussian,
    Quantiles,
    RandomDraws,
    Uniform,
    lorentzian_quantiles,
    lorentzian_random,
)


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


def test_gaussian_is_matched_to_the_lorentzian():
    # 'hwhm': the density at z = +-1 is half its maximum, like the Lorentzian of half-width 1;
    # 'iqr': the quartiles are -+1, those of the standard Lorentzian.
    std = Gaussian().std
    np.testing.assert_allclose(np.exp(-1 / (2 * std**2)), 0.5, rtol=1e-14)
    np.testing.assert_allclose(ndtri(0.75) * Gaussian(match="iqr").std, 1.0, rtol=1e-14)
    # Deterministic quantiles j/(n+1) of N(0, std), against scipy, float32 tails included.
    n = 1001
    reference = std * ndtri(np.arange(1, n + 1) / (n + 1))
    for dtype, tol in ((jnp.float64, 1e-12), (jnp.float32, 2e-6)):
        z = np.asarray(Gaussian()(None, n, dtype=dtype))
        np.testing.assert_allclose(z, reference, rtol=tol, atol=tol)
        assert z.dtype == dtype and z[n // 2] == 0.0


def test_uniform_is_matched_to_the_lorentzian():
    n = 999
    z = np.asarray(Uniform(match="iqr")(None, n))
    np.testing.assert_allclose(np.diff(z), 4 / (n + 1), rtol=1e-12)  # evenly spaced in (-2, 2)
    np.testing.assert_allclose(np.quantile(z, [0.25, 0.75]), [-1, 1], atol=4 / n)
    assert -1 < float(Uniform()(None, n).min()) < -0.99


@pytest.mark.slow  # 2e5 random draws and their statistics: about 1.5 CPU-s
def test_random_samplers_draw_the_distribution(key):
    n = 100_000
    g = np.asarray(Gaussian(random=True)(key, n))
    # Sample standard deviation: standard error std / sqrt(2n).
    np.testing.assert_allclose(g.std(), Gaussian().std, rtol=5 / np.sqrt(2 * n))
    u = np.asarray(Uniform(match="iqr", random=True)(key, n))
    assert u.min() >= -2 and u.max() <= 2
    # Sample quartiles of the uniform on (-2, 2): standard error 4 sqrt(3/16/n).
    np.testing.assert_allclose(np.quantile(u, [0.25, 0.75]), [-1, 1], atol=20 * np.sqrt(3 / 16 / n))
    for sampler in (
        Gaussian(random=True),
        Uniform(random=True),
        FromSamples([0, 1, 2], random=True),
    ):
        with pytest.raises(ValueError, match="key"):
            sampler(None, 4)
    with pytest.raises(ValueError, match="match"):
        Gaussian(match="fwhm")
    x = np.random.default_rng(0).gamma(3.0, 0.01, 501)
    drawn = np.asarray(FromSamples(x, random=True)(key, 50))
    assert np.all(np.isin(drawn, FromSamples(x).z))


def test_from_samples_reproduces_the_samples():
    x = np.random.default_rng(0).gamma(3.0, 0.01, 501) + 0.05  # skewed excitabilities
    s = FromSamples(x)
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    assert s.center == pytest.approx(med) and s.half_width == pytest.approx((q3 - q1) / 2)
    # eta_bar + delta_eta z with the matched Lorentzian's centre and half-width gives x back.
    np.testing.assert_allclose(
        s.center + s.half_width * np.asarray(s(None, 501)), np.sort(x), rtol=1e-12
    )
    # Other sizes: empirical quantiles j/(n+1), so the quartiles stay those of the samples
    # (their distance is 2, the matched Lorentzian's interquartile range; skewed about 0).
    z = np.asarray(s(None, 2001))
    quartiles = np.quantile(z, [0.25, 0.5, 0.75])
    np.testing.assert_allclose(quartiles, (np.array([q1, med, q3]) - med) / s.half_width, atol=0.01)
    assert quartiles[2] - quartiles[0] == pytest.approx(2, abs=0.01)
    with pytest.raises(ValueError, match="interquartile"):
        FromSamples([1.0, 1.0, 1.0, 1.0])


@pytest.mark.slow  # eight networks of 10^4 neurons to t = 800: about 100 CPU-s
@pytest.mark.parametrize(
    "sampler", [Gaussian(), Gaussian(match="iqr"), Uniform(), Uniform(match="iqr")], ids=repr
)
def test_lorentzian_meanfield_approximates_other_distributions(sampler):
    # The Lorentzian mean field for a non-Lorentzian network, measured at N = 10^4 (the notebook
    # quotes the figures): tonic firing within 0.5% (closer than the Lorentzian network itself,
    # whose fast tail neurons break the closure w_i = <w>), while bursting the period is 20-45%
    # longer than the mean field's.
    import jaxmf
    from jaxmf import presets

    def metrics(eta_bar):
        return jaxmf.compare(
            presets.chen_campbell_2022(eta_bar=eta_bar),
            n=10_000,
            t1=800.0,
            dt=2e-2,
            record_every=50,
            scheme=jaxmf.MobiusPassage(),
            sampler=sampler,
            raster=0,
            progress=False,
        ).metrics

    tonic = metrics(0.25)
    assert abs(tonic["rel_err_r_mean"]) < 0.005 and abs(tonic["rel_err_w_mean"]) < 0.005
    bursting = metrics(0.12)
    assert bursting["network_regime"] == bursting["mf_regime"] == "bursting"
    assert 0.1 < bursting["rel_err_period"] < 0.5
