"""Inputs in time (jaxmf.inputs): values, derivatives, the network's step convention, resume,
inputs to a subset of neurons, and periodic forcing of the bursting population, network vs
mean field."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmf
from jaxmf import inputs, presets
from jaxmf.inputs import PiecewiseLinear, PulseTrain, Sampled, Sinusoid, StepInput
from jaxmf.network import MobiusPassage, simulate_network
from jaxmf.params import ParameterError

BURSTING = presets.chen_campbell_2022(eta_bar=0.12)
SMALL = dict(n=100, t1=2.0, dt=1e-3, record_every=100, progress=False)


def test_values_against_their_formulas():
    # The inputs act elementwise on an array of times (the models call them on scalars).
    t = np.array([0.0, 12.5, 30.0, 77.0, 151.0])
    tj = jnp.asarray(t)
    sin = Sinusoid(amplitude=0.05, period=100.0, phase=0.3, offset=0.01)
    np.testing.assert_allclose(
        sin(tj), 0.01 + 0.05 * np.sin(2 * np.pi * t / 100.0 + 0.3), rtol=1e-14
    )
    pulses = PulseTrain(amplitude=0.1, period=50.0, width=5.0, start=10.0, stop=100.0)
    on = (t >= 10.0) & (np.mod(t - 10.0, 50.0) < 5.0) & (t < 105.0)
    np.testing.assert_array_equal(np.asarray(pulses(tj)), 0.1 * on)
    ramp = PiecewiseLinear(times=[10.0, 50.0, 100.0], values=[0.0, 0.2, -0.2])
    np.testing.assert_allclose(ramp(tj), np.interp(t, [10.0, 50.0, 100.0], [0.0, 0.2, -0.2]))
    samples_t, samples = np.arange(0.0, 200.0, 7.0), np.cos(np.arange(0.0, 200.0, 7.0))
    np.testing.assert_allclose(Sampled(samples_t, samples)(tj), np.interp(t, samples_t, samples))
    held = Sampled(samples_t, samples, method="hold")(tj)
    np.testing.assert_array_equal(np.asarray(held), samples[(t // 7.0).astype(int)])
    step = StepInput([20.0, 100.0], [[0.0, 1.0], [0.1, 1.1], [0.2, 1.2]])
    assert np.asarray(step(50.0)).tolist() == [0.1, 1.1]


def test_steps_and_kinks_are_given_to_the_solver():
    pulses = PulseTrain(amplitude=0.1, period=50.0, width=5.0, start=10.0, stop=100.0)
    assert pulses.jump_times(0.0, 200.0).tolist() == [10.0, 15.0, 60.0, 65.0]
    assert inputs.jump_times(Sinusoid(0.1, 10.0), 0.0, 100.0) is None
    assert inputs.jump_times(lambda t: t, 0.0, 100.0) is None
    assert inputs.input_bound(Sinusoid(0.05, 10.0, offset=-0.02), 0.0, 1.0) == pytest.approx(0.07)


def test_bad_inputs_are_refused_by_name():
    with pytest.raises(ParameterError, match="period"):
        Sinusoid(0.1, period=0.0)
    with pytest.raises(ParameterError, match="width"):
        PulseTrain(0.1, period=10.0, width=20.0)
    with pytest.raises(ParameterError, match="times"):
        PiecewiseLinear([1.0, 0.0], [0.0, 1.0])
    with pytest.raises(ParameterError, match="method"):
        Sampled([0.0, 1.0], [0.0, 1.0], method="cubic")
    with pytest.raises(ParameterError, match="i_ext"):
        inputs.evaluate(lambda t: jnp.ones(3), 0.0, 2, jnp.float64)


def test_stepinput_moved_but_still_importable_from_meanfield():
    assert jaxmf.meanfield.StepInput is StepInput is jaxmf.StepInput


def test_gradient_through_the_amplitude_is_the_analytic_one():
    t = 12.0
    g = jax.grad(lambda a: Sinusoid(a, 100.0, phase=0.1)(t))(0.05)
    assert float(g) == pytest.approx(math.sin(2 * math.pi * t / 100.0 + 0.1), rel=1e-14)


@pytest.fixture(scope="module")
def constant_runs():
    level = 0.05
    plain = simulate_network(BURSTING.replace(i_ext=level), **SMALL)
    as_function = simulate_network(BURSTING, i_ext=lambda t: level, **SMALL)
    return plain, as_function


def test_constant_function_equals_the_constant_bit_for_bit(constant_runs):
    plain, as_function = constant_runs
    for name in ("r", "v_mean", "w_mean", "s"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(as_function, name))
    np.testing.assert_array_equal(plain.state.v[0], as_function.state.v[0])


@pytest.mark.slow  # about 8 CPU-s: three compiled runs
def test_stepinput_equals_the_piecewise_resumed_run_bit_for_bit():
    # The former `compare(..., i_ext=StepInput)` path: run to the switch, then resume with the
    # new level in params.i_ext.
    first = simulate_network(BURSTING, **{**SMALL, "t1": 1.0})
    resumed = simulate_network(BURSTING.replace(i_ext=0.1), **SMALL, resume=first)
    stepped = simulate_network(BURSTING, i_ext=StepInput([1.0], [0.0, 0.1]), **SMALL)
    for name in ("r", "v_mean", "w_mean", "s"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(stepped, name))


@pytest.mark.slow  # about 8 CPU-s: three compiled runs
def test_resume_continues_the_input_in_absolute_time():
    drive = Sinusoid(0.5, 0.7)  # period below t1: a restart at t = 0 would show
    whole = simulate_network(BURSTING, i_ext=drive, **SMALL)
    first = simulate_network(BURSTING, i_ext=drive, **{**SMALL, "t1": 1.0})
    more = simulate_network(BURSTING, i_ext=drive, **SMALL, resume=first)
    for name in ("r", "v_mean", "w_mean", "s"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(more, name))


@pytest.mark.slow  # about 5 CPU-s: two eager steps
def test_the_input_is_taken_at_each_steps_start():
    # One neuron-free check of the convention: with s = 0 and w = 0 frozen out (a = 0 and no
    # synapses), the mean of v after one step is dt * (eta_i + I(0)) summed over quantiles.
    params = BURSTING.replace(g=0.0, a=1e-12, w_jump=0.0)
    net = jaxmf.network.make_network(params, 10)
    state = jaxmf.network.init(net)
    drive = PiecewiseLinear([0.0, 1.0], [0.3, 1.3])
    after, _ = jaxmf.network.step(params, net, state, 0.1, i_ext=drive)
    eta = np.asarray(params.eta_bar[0] + params.delta_eta[0] * net.z[0])
    np.testing.assert_allclose(after.v[0], 0.1 * (eta + 0.3), rtol=1e-12)
    again, _ = jaxmf.network.step(params, net, after, 0.1, i_ext=drive)
    v = 0.1 * (eta + 0.3)
    np.testing.assert_allclose(
        again.v[0], v + 0.1 * (v * (v - float(params.alpha[0])) + eta + 0.4), rtol=1e-12
    )


@pytest.mark.slow  # about 3 CPU-s: one more compiled run
def test_float32_runs_take_the_input_in_float32():
    res = simulate_network(
        BURSTING, i_ext=Sinusoid(0.05, 1.0), dtype=jnp.float32, **{**SMALL, "t1": 1.0}
    )
    assert res.r.dtype == np.float32 and np.all(np.isfinite(res.v_mean))


@pytest.mark.slow  # about 6 CPU-s: two compiled runs
def test_every_neuron_targeted_equals_the_common_input():
    drive = Sinusoid(0.1, 1.0)
    common = simulate_network(BURSTING, i_ext=drive, **SMALL)
    everyone = simulate_network(BURSTING, i_ext=drive, input_neurons=1.0, **SMALL)
    np.testing.assert_allclose(everyone.v_mean, common.v_mean, rtol=1e-12, atol=1e-12)


@pytest.mark.slow  # about 10 CPU-s: two mean-field compilations
def test_split_mean_field_without_input_is_the_unsplit_one():
    split, zero = inputs.split_population(BURSTING, lambda t: 0.0, 0.3)
    ts = jnp.linspace(0.0, 100.0, 101)
    whole = jaxmf.solve_meanfield(BURSTING, t1=100.0, ts=ts)
    halves = jaxmf.solve_meanfield(split, t1=100.0, ts=ts, i_ext=zero)
    np.testing.assert_allclose(halves.r[:, 0], halves.r[:, 1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(inputs.merge_split(halves.r, 0.3, 1), whole.r, rtol=1e-6, atol=1e-9)


def _forced(n, t1, dt, scheme=None, record_every=10):
    kw = {} if scheme is None else {"scheme": scheme}
    return jaxmf.compare(
        BURSTING,
        n=n,
        t1=t1,
        dt=dt,
        record_every=record_every,
        i_ext=Sinusoid(amplitude=0.05, period=200.0),
        transient=t1 / 4,
        raster=0,
        progress=False,
        **kw,
    ).metrics


@pytest.mark.slow  # about 60 CPU-s: the forced network over 2000 time units
def test_periodic_forcing_entrains_network_and_mean_field_alike_small():
    # A 1:1 locking of the bursts (natural period ~230) to a forcing period of 200.
    m = _forced(500, 2000.0, 2e-2, MobiusPassage())
    assert m["mf_entrainment"] == pytest.approx(1.0, abs=0.02)
    assert m["network_entrainment"] == pytest.approx(m["mf_entrainment"], abs=0.05)
    assert abs(m["burst_phase_diff"]) < 0.03
    assert m["network_locking"] > 0.95 and m["mf_locking"] > 0.95


@pytest.mark.slow  # about 100 s: N = 10^4 with the paper's scheme (dt = 1e-3) over 2000 units
def test_periodic_forcing_entrains_network_and_mean_field_alike():
    m = _forced(10_000, 2000.0, 1e-3, record_every=100)
    assert m["network_entrainment"] == pytest.approx(m["mf_entrainment"], abs=0.02)
    assert abs(m["burst_phase_diff"]) < 0.01
    assert m["network_locking"] > 0.98


@pytest.mark.slow  # about 40 s: compiled solves with tangents
def test_gradient_of_a_forced_mean_field_through_the_amplitude():
    def final_rate(amplitude):
        res = jaxmf.solve_meanfield(BURSTING, t1=150.0, i_ext=Sinusoid(amplitude, 100.0))
        return res.r[-1, 0]

    grad = float(jax.grad(final_rate)(0.05))
    eps = 1e-6
    fd = (float(final_rate(0.05 + eps)) - float(final_rate(0.05 - eps))) / (2 * eps)
    assert grad == pytest.approx(fd, rel=1e-4)


@pytest.mark.slow  # about 35 CPU-s: a 2-start fit
def test_fit_targets_a_stimulus_driven_response():
    drive = Sinusoid(0.05, 50.0)
    ts = jnp.arange(0.0, 100.5, 0.5)
    sim = jaxmf.solve_meanfield(
        presets.chen_campbell_2022(eta_bar=0.25), t1=100.0, ts=ts, i_ext=drive
    )
    target = jaxmf.BurstTarget.from_trace(sim.t, sim.r, transient=50.0)
    start = presets.chen_campbell_2022(eta_bar=0.3)
    res = jaxmf.fit(start, target, free=("eta_bar",), n_starts=2, steps=30, i_ext=drive)
    assert float(res.best_params.eta_bar[0]) == pytest.approx(0.25, abs=1e-3)


@pytest.mark.slow  # about 30 CPU-s: N = 10^4 with the input to 30% of the neurons
def test_input_to_a_subset_matches_the_split_mean_field():
    fraction, t1 = 0.3, 400.0
    params = presets.chen_campbell_2022(eta_bar=0.25)
    drive = StepInput([200.0], [0.0, 0.5])
    # MobiusPassage at dt = 1e-2: ten times fewer steps than the paper's scheme.
    net = simulate_network(
        params,
        n=10_000,
        t1=t1,
        dt=1e-2,
        record_every=10,
        scheme=MobiusPassage(),
        i_ext=drive,
        input_neurons=fraction,
        progress=False,
    )
    split, drive2 = inputs.split_population(params, drive, fraction)
    mf = jaxmf.solve_meanfield(split, t1=t1, ts=net.t, i_ext=drive2)
    # The homogeneous mean field with the input scaled by the fraction answers differently (3%
    # above: the rate is concave in the input).
    scaled = jaxmf.solve_meanfield(params, t1=t1, ts=net.t, i_ext=lambda t: fraction * drive(t))
    t = np.asarray(net.t)
    before, late = (t > 150.0) & (t <= 200.0), t > 300.0
    r_net = np.asarray(net.r)[:, 0]

    def error(r_mf):
        # The error after the step less the one before it (the same for both mean fields, which
        # agree without input): the network's static finite-N offset (+0.6% here) drops out.
        d = r_net - np.asarray(r_mf)[:, 0]
        return np.mean(d[late]) - np.mean(d[before])

    e_split = error(inputs.merge_split(mf.r, fraction, 1))
    e_scaled = error(scaled.r)
    assert abs(e_split) < 0.01 * np.mean(r_net[late])
    assert abs(e_split) < 0.3 * abs(e_scaled)


def test_cli_input_specs_are_read_or_refused_by_name():
    from jaxmf.cli import main

    assert float(inputs.from_spec("pulses:amplitude=0.1,period=50,width=5")(2.0)) == 0.1
    with pytest.raises(ParameterError, match="unknown kind"):
        inputs.from_spec("square:amplitude=1")
    with pytest.raises(ParameterError, match="sinusoid takes"):
        inputs.from_spec("sinusoid:amp=1,period=2")
    assert main(["simulate", "--input", "wave:x=1", "--t1", "1", "--quiet", "--no-plot"]) == 2


@pytest.mark.slow  # about 15 CPU-s: a CLI run with an input, a monitor and its figure
def test_cli_simulate_with_input_and_monitor(tmp_path, capsys):
    from jaxmf.cli import main

    args = ["simulate", "--n", "200", "--t1", "2", "--record-every", "100", "--quiet"]
    extra = ["--input", "sinusoid:amplitude=0.05,period=1", "--monitor", "0,199"]
    assert main([*args, "--out", str(tmp_path), *extra, "--monitor-every", "10"]) == 0
    out = capsys.readouterr().out
    assert "network_monitor.png" in out and (tmp_path / "network_monitor.png").stat().st_size > 0
    sidecar = json.loads((tmp_path / "network.json").read_text())
    assert sidecar["provenance"]["input"] == "sinusoid:amplitude=0.05,period=1"
    direct = simulate_network(
        presets.get("bursting"),
        n=200,
        t1=2.0,
        i_ext=Sinusoid(0.05, 1.0),
        dtype=jnp.float32,
        progress=False,
    )
    saved = jaxmf.io.load_network_result(tmp_path / "network")
    np.testing.assert_array_equal(saved.r, direct.r)
