import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmf.analysis import (
    BURSTING,
    QUIESCENT,
    TONIC,
    bin_counts_to_rate,
    classify_regime,
    detect_bursts,
    smooth,
    trace_summary,
    transient_time,
)


def _square(period=200.0, duty=0.3, high=0.15, low=0.01, t1=2000.0, dt=0.1, noise=0.0, seed=0):
    t = np.arange(0, t1, dt)
    x = np.where((t % period) < duty * period, high, low)
    x = x + noise * np.random.default_rng(seed).standard_normal(t.size)
    return jnp.asarray(t), jnp.asarray(x)


def test_bursts_of_a_known_square_wave():
    t, x = _square(noise=0.005)
    st = detect_bursts(t, x)
    assert int(st.n_bursts) == 9  # the burst in progress at t = 0 has no onset
    np.testing.assert_allclose(st.period, 200.0, rtol=1e-3)
    np.testing.assert_allclose(st.duty_cycle, 0.3, atol=2e-3)
    np.testing.assert_allclose(np.asarray(st.onsets[:3]), [200.0, 400.0, 600.0], atol=0.2)
    np.testing.assert_allclose(np.asarray(st.offsets[:2]), [260.0, 460.0], atol=0.2)
    assert 0.15 < float(st.peak) < 0.2


def test_regime_labels():
    t, burst = _square()
    assert int(classify_regime(t, burst)) == BURSTING
    assert int(classify_regime(t, jnp.full_like(t, 0.1))) == TONIC
    assert int(classify_regime(t, jnp.full_like(t, 1e-5))) == QUIESCENT
    ripple = 0.1 + 0.005 * jnp.sin(2 * jnp.pi * t / 50)  # small oscillation around tonic firing
    assert int(classify_regime(t, ripple)) == TONIC


def test_vmap_equals_loop_and_jit():
    traces = [_square(period=p)[1] for p in (150.0, 200.0, 250.0)]
    t = _square()[0]
    batch = jax.vmap(lambda x: detect_bursts(t, x).period)(jnp.stack(traces))
    np.testing.assert_allclose(batch, [detect_bursts(t, x).period for x in traces], rtol=1e-12)
    np.testing.assert_allclose(jax.jit(lambda x: classify_regime(t, x))(traces[0]), BURSTING)


def test_smoothing_and_rates():
    x = jnp.arange(100.0)
    np.testing.assert_allclose(smooth(x, 5)[2:-2], x[2:-2], rtol=1e-12)  # linear is preserved
    np.testing.assert_allclose(smooth(jnp.ones(50), 7), 1.0, rtol=1e-12)
    assert smooth(jnp.ones(5), 100).shape == (5,)  # a window longer than the trace
    counts = jnp.full((20,), 30.0)
    np.testing.assert_allclose(bin_counts_to_rate(counts, n=1000, bin_time=0.1), 0.3, rtol=1e-12)


@pytest.mark.slow  # an edge case of the regime classifier (~4 CPU-s)
def test_one_onset_with_a_large_swing_is_not_tonic():
    # A square wave of period 220 seen through a 300-long window: one onset, the period cannot
    # be measured (NaN), but the trace oscillates: bursting, as over a longer window.
    t, x = _square(period=220.0, duty=0.3, t1=400.0)
    keep = t > 100.0
    short = trace_summary(t[keep], x[keep])
    assert int(short.n_bursts) == 1 and np.isnan(float(short.period))
    assert int(short.regime) == BURSTING
    assert int(classify_regime(t[keep], x[keep])) == BURSTING
    t, x = _square(period=220.0, duty=0.3, t1=1500.0)
    long = trace_summary(t[t > 100.0], x[t > 100.0])
    assert int(long.regime) == BURSTING and float(long.period) == pytest.approx(220.0, abs=0.2)
    # A flat trace with one small wiggle stays tonic (its swing is small).
    flat = np.where(np.asarray(t) > 700.0, 0.051, 0.05)
    assert int(trace_summary(t[t > 100.0], jnp.asarray(flat[t > 100.0])).regime) == TONIC


def test_meanfield_trace_of_the_issue_is_bursting():
    # `jaxmf meanfield --set eta_bar=0.125 --set w_jump=0.02 --t1 400`: period ~220 over longer
    # runs, one onset after the default transient of t1/4.
    import jaxmf

    p = jaxmf.presets.chen_campbell_2022().replace(eta_bar=0.125, w_jump=0.02)
    mf = jaxmf.solve_meanfield(p, t1=400.0)
    keep = np.asarray(mf.t) > transient_time(400.0)
    assert transient_time(400.0) == 100.0
    summary = trace_summary(mf.t[keep], mf.r[keep, 0])
    assert int(summary.regime) == BURSTING
