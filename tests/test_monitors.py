"""State monitors (jaxmf.monitors): a monitored neuron's trace against an independent
integration of that neuron alone, nothing else changed, resume, memory and files."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxmf import presets
from jaxmf.inputs import Sinusoid
from jaxmf.monitors import (
    Monitor,
    monitor_arrays,
    monitor_bytes,
    monitor_from_arrays,
    monitor_indices,
)
from jaxmf.network import simulate_network
from jaxmf.params import ParameterError

PARAMS = presets.chen_campbell_2022(eta_bar=0.12)
DRIVE = Sinusoid(amplitude=0.3, period=3.0)
RUN = dict(n=200, t1=3.0, dt=1e-3, record_every=1, progress=False, i_ext=DRIVE)
WATCHED = [0, 150, 199]  # the most and least excitable neurons and one above the centre


@pytest.fixture(scope="module")
def runs():
    plain = simulate_network(PARAMS, **RUN)
    watched = simulate_network(PARAMS, monitor=Monitor(WATCHED, every=1), **RUN)
    return plain, watched


def _alone(params, eta, s_start, i_start, dt):
    """One neuron of the paper's Euler scheme, fed the recorded s and the same input (both at
    each step's start), in plain Python floats."""
    p = {
        k: float(np.ravel(getattr(params, k))[0])
        for k in ("alpha", "a", "b", "w_jump", "g", "e_r", "v_peak", "v_reset")
    }
    v = w = 0.0
    vs, ws, spikes = [], [], []
    for s_k, i_t in zip(s_start, i_start):
        gs = p["g"] * s_k
        e_r, v_peak, v_reset = p["e_r"], p["v_peak"], p["v_reset"]
        if v >= v_peak:
            v, w, spiked = v_reset - (v - v_peak), w + p["w_jump"], 1
        else:
            dv = v * (v - p["alpha"]) - w + eta + i_t + gs * (e_r - v)
            v, w, spiked = v + dt * dv, w + dt * p["a"] * (p["b"] * v - w), 0
        vs.append(v)
        ws.append(w)
        spikes.append(spiked)
    return np.array(vs), np.array(ws), np.array(spikes)


def test_monitored_trace_equals_the_neuron_integrated_alone(runs):
    _, watched = runs
    rec = watched.monitor
    dt, n_steps = RUN["dt"], int(round(RUN["t1"] / RUN["dt"]))
    np.testing.assert_allclose(rec.t, dt * np.arange(1, n_steps + 1), rtol=1e-12)
    # The synaptic variable at each step's start: 0, then the recorded end of each step.
    s_start = np.concatenate([[0.0], np.asarray(watched.s[:-1, 0])])
    eta = np.asarray(PARAMS.eta_bar[0] + PARAMS.delta_eta[0] * watched.network.z[0])
    assert int(np.sum(rec.spikes)) > 0  # the test covers spikes and resets
    i_start = np.asarray(DRIVE(jnp.asarray(dt * np.arange(n_steps))))
    for j, i in enumerate(WATCHED):
        v, w, spk = _alone(PARAMS, float(eta[i]), s_start, i_start, dt)
        np.testing.assert_allclose(rec.v[:, j], v, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(rec.w[:, j], w, rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(rec.spikes[:, j], spk)


def test_monitoring_changes_nothing_else_bit_for_bit(runs):
    plain, watched = runs
    for name in ("r", "v_mean", "w_mean", "s", "spike_first", "spike_count"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(watched, name))
    np.testing.assert_array_equal(plain.state.v[0], watched.state.v[0])
    assert plain.monitor is None


@pytest.mark.slow  # about 10 CPU-s: three more compiled runs
def test_monitor_survives_resume_and_sparse_sampling():
    kw = dict(n=120, dt=1e-3, record_every=50, progress=False)
    monitor = Monitor(4, every=10)
    whole = simulate_network(PARAMS, t1=1.0, monitor=monitor, **kw)
    first = simulate_network(PARAMS, t1=0.5, monitor=monitor, **kw)
    more = simulate_network(PARAMS, t1=1.0, resume=first, **kw)
    assert more.monitor.indices == whole.monitor.indices
    for name in ("t", "v", "w", "spikes"):
        np.testing.assert_array_equal(getattr(more.monitor, name), getattr(whole.monitor, name))
    assert whole.monitor.v.shape == (100, 4)
    np.testing.assert_allclose(whole.monitor.t[:3], [0.01, 0.02, 0.03], rtol=1e-12)
    # The last sample is the final state of those neurons.
    np.testing.assert_array_equal(
        whole.monitor.v[-1], np.asarray(whole.state.v[0])[list(whole.monitor.indices)]
    )


def test_monitor_indices_count_across_populations():
    sizes = (80, 20)
    index = monitor_indices(Monitor([0, 79, 80, 99]), sizes)
    assert [ix.tolist() for ix in index] == [[0, 79], [0, 19]]
    with pytest.raises(ParameterError, match="100 neurons"):
        monitor_indices(Monitor([100]), sizes)


def test_monitor_size_is_known_and_checked_before_the_run():
    assert (
        monitor_bytes(Monitor([0, 1, 2], every=1), (100,), 10_000, 100, jnp.float64)
        == 10_000 * 3 * 20
    )
    with pytest.raises(ParameterError, match="monitor"):
        simulate_network(
            PARAMS, n=100, t1=1.0, monitor=Monitor(50, every=1), max_memory=1e5, progress=False
        )
    with pytest.raises(ParameterError, match="every"):
        simulate_network(PARAMS, n=100, t1=1.0, monitor=Monitor(2, every=30), progress=False)


def test_monitor_round_trips_through_arrays(runs):
    _, watched = runs
    back = monitor_from_arrays(monitor_arrays(watched.monitor))
    assert back.indices == watched.monitor.indices and back.every == 1
    for name in ("t", "v", "w", "spikes"):
        np.testing.assert_array_equal(getattr(back, name), getattr(watched.monitor, name))
