"""Synaptic delays: the delayed network against a plain NumPy loop that keeps every past s, the
zero delay against the undelayed model bit for bit, the DDE mean field against a fixed-step
reference and finite differences, and the stability of equilibria against Lambert W and the
undelayed eigenvalues."""

import numpy as np
import pytest

import jaxmf
from jaxmf import presets
from jaxmf.network import EulerReset, MobiusPassage, simulate_network


def euler_reference(params, n_per_pop, dt, steps):
    """The authors' Euler scheme with delays, written out in NumPy: every step's s is kept and
    population m reads s_k from delay[m, k] / dt steps back (before t = 0: the initial s = 0)."""
    p = jax_free(params)
    n_pop = len(n_per_pop)
    z = [np.asarray(x) for x in jaxmf.network.make_network(params, tuple(n_per_pop)).z]
    eta = [p["eta_bar"][m] + p["delta_eta"][m] * z[m] for m in range(n_pop)]
    v = [np.zeros(k) for k in n_per_pop]
    w = [np.zeros(k) for k in n_per_pop]
    lag = np.rint(p["delay"] / dt).astype(int)
    history = [np.zeros(n_pop)]
    rates = []
    for _ in range(steps):
        now = len(history) - 1
        seen = np.array(
            [[history[max(now - lag[m, k], 0)][k] for k in range(n_pop)] for m in range(n_pop)]
        )
        counts = np.zeros(n_pop)
        for m in range(n_pop):
            fs = p["fractions"] * seen[m]
            gs, gse = p["g"][m] @ fs, p["g"][m] @ (fs * p["e_r"])
            spiked = v[m] >= p["v_peak"]
            dv = v[m] * (v[m] - p["alpha"][m] - gs) + eta[m] + p["i_ext"][m] + gse - w[m]
            dw = p["a"][m] * (p["b"][m] * v[m] - w[m])
            v[m], w[m] = (
                np.where(spiked, -v[m], v[m] + dt * dv),
                np.where(spiked, w[m] + p["w_jump"][m], w[m] + dt * dw),
            )
            counts[m] = spiked.sum()
        s = history[-1]
        s_new = np.minimum(s - dt * s / p["tau_s"] + p["s_jump"] * counts / n_per_pop, 1.0)
        history.append(s_new)
        rates.append(counts)
    return np.array(rates), np.array(history[1:])


def jax_free(params):
    return {
        k: np.asarray(getattr(params, k))
        for k in (
            "alpha eta_bar delta_eta i_ext a b w_jump tau_s s_jump e_r fractions g v_peak delay"
        ).split()
    }


def test_delayed_network_matches_a_plain_loop_with_every_past_s():
    """Two populations, a different delay per (post, pre) pair (0 to 7 steps), 800 steps: the
    ring buffer reads the same past as a loop that keeps all of it."""
    dt = 1e-2
    params = presets.two_population(
        eta_bar=[3.0, 2.0],
        delay=[[0.0, 0.05], [0.02, 0.07]],
        g=[[2.0, 1.0], [1.5, 2.5]],
        v_peak=40.0,
        v_reset=-40.0,
    )
    res = simulate_network(
        params, n=(30, 20), t1=8.0, dt=dt, record_every=1, scheme=EulerReset(), progress=False
    )
    counts, s = euler_reference(params, (30, 20), dt, 800)
    np.testing.assert_allclose(np.asarray(res.s), s, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(np.rint(np.asarray(res.r) * np.array([30, 20]) * dt), counts)
    assert counts.sum() > 100  # the run has spikes, so the delays matter
    undelayed = simulate_network(
        params.replace(delay=None),
        n=(30, 20),
        t1=8.0,
        dt=dt,
        record_every=1,
        scheme=EulerReset(),
        progress=False,
    )
    assert not np.allclose(np.asarray(undelayed.s), s)


@pytest.mark.parametrize(
    "scheme, dt",
    [
        (EulerReset(), 1e-3),
        # Every scheme reads the drive through the same code: one more compilation, slow.
        pytest.param(MobiusPassage(), 1e-2, marks=pytest.mark.slow),
    ],
)
def test_zero_delay_is_the_undelayed_network_bit_for_bit(scheme, dt):
    p = presets.chen_campbell_2022(eta_bar=0.3)
    kw = dict(n=200, t1=2.0, dt=dt, record_every=100, scheme=scheme, progress=False)
    a = simulate_network(p, **kw)
    b = simulate_network(p.replace(delay=0.0), **kw)
    assert b.state.past is not None and a.state.past is None
    for name in ("r", "v_mean", "w_mean", "s"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))


def test_non_multiple_of_dt_and_resume_mismatch_are_named():
    p = presets.chen_campbell_2022(delay=0.0105)
    with pytest.raises(jaxmf.ParameterError, match=r"delay=0.0105 .*dt=0.001"):
        simulate_network(p, n=10, t1=0.1, progress=False)
    first = simulate_network(p.replace(delay=0.001), n=10, t1=0.1, progress=False)
    with pytest.raises(jaxmf.ParameterError, match="buffers 1 steps"):
        simulate_network(p.replace(delay=0.01), t1=0.2, resume=first, progress=False)
    with pytest.raises(jaxmf.ParameterError, match="has a delay"):
        simulate_network(p.replace(delay=None), t1=0.2, resume=first, progress=False)


@pytest.mark.slow  # three compilations (plain, resumed, vmapped) ~8 CPU-s
def test_resume_carries_the_buffer_and_vmap_equals_the_loop():
    dt = 1e-2
    p = presets.chen_campbell_2022(eta_bar=0.25, delay=0.5)
    kw = dict(dt=dt, record_every=10, scheme=MobiusPassage(), progress=False)
    whole = simulate_network(p, n=300, t1=6.0, **kw)
    part = simulate_network(p, n=300, t1=3.0, **kw)
    rest = simulate_network(p, t1=6.0, resume=part, **kw)
    np.testing.assert_array_equal(np.asarray(rest.r), np.asarray(whole.r))
    batch = jaxmf.stack_params([p, p.replace(delay=0.2)])
    both = simulate_network(batch, n=300, t1=6.0, **kw)
    np.testing.assert_allclose(np.asarray(both.r[0]), np.asarray(whole.r), rtol=0, atol=1e-12)
    single = simulate_network(p.replace(delay=0.2), n=300, t1=6.0, **kw)
    np.testing.assert_allclose(np.asarray(both.r[1]), np.asarray(single.r), rtol=0, atol=1e-12)
