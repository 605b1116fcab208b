"""The differentiable theta-neuron network: smooth spikes, agreement with the spiking network,
gradients against finite differences, bounded memory, float32, and fitting with it."""

import importlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxmf
from jaxmf._results import RESULTS
from jaxmf.netfit import ThetaNetwork, simulate_theta, spike_pulse
from jaxmf.params import ParameterError

F = importlib.import_module("jaxmf._fit")

TRUTH = jaxmf.presets.bursting()
W_JUMP = float(TRUTH.w_jump[0])


@pytest.mark.parametrize("order", [1, 2, 8])
def test_pulse_is_normalised_and_integrates_to_its_antiderivative(order):
    theta = jnp.linspace(-math.pi, math.pi, 20_001)
    p, s = spike_pulse(theta, order)
    # Independent reference: (1 - cos)^n normalised by numerical quadrature.
    shape = (1 - jnp.cos(theta)) ** order
    ref = shape / jnp.trapezoid(shape, theta)
    np.testing.assert_allclose(p, ref, atol=1e-9)
    assert float(jnp.trapezoid(p, theta)) == pytest.approx(1.0, abs=1e-9)
    q = lambda x: x / (2 * math.pi) + spike_pulse(x, order)[1]
    dq = jax.vmap(jax.grad(q))(theta)
    np.testing.assert_allclose(dq, p, atol=1e-12)
    # One crossing of pi counts exactly one spike, wherever the step starts and ends.
    assert float(q(jnp.asarray(2.5)) - q(jnp.asarray(2.5 - 2 * math.pi))) == pytest.approx(1.0)


def test_theta_network_matches_the_spiking_network():
    # Tonic firing: the time-averaged rate of the smooth network against the paper's Euler
    # network with reset at v_peak = 200 (same N, quantiles, dt). Tolerance 1%: the pulse
    # spreads spikes over ~0.25 time units and v_peak = 200 is not infinity.
    params = jaxmf.presets.tonic()
    n, t1 = 500, 40.0
    theta = simulate_theta(params, t1, 100, model=ThetaNetwork(n=n, dt=1e-3))
    net = jaxmf.simulate_network(
        params, n=n, t1=t1, dt=1e-3, record_every=100, dtype=jnp.float64, progress=False
    )
    late = np.asarray(theta.t) > 20
    assert theta.status == RESULTS.successful
    r_theta, r_net = float(np.mean(theta.r[late])), float(np.mean(net.r[late]))
    assert r_theta == pytest.approx(r_net, rel=0.01)
    assert float(np.mean(theta.w_mean[late])) == pytest.approx(
        float(np.mean(net.w_mean[late])), rel=0.01
    )


@pytest.fixture(scope="module")
def small():
    """A 50-neuron network over 20 time units at dt = 1e-3 (2e4 steps) and a loss on its rate."""
    model = ThetaNetwork(n=50, dt=1e-3)
    target = simulate_theta(TRUTH.replace(eta_bar=0.13), 20.0, 100, model=model).r

    def loss(x, model=model):
        r = simulate_theta(TRUTH.replace(eta_bar=x[0], w_jump=x[1]), 20.0, 100, model=model).r
        return jnp.mean((r - target) ** 2)

    return model, loss


def test_gradients_match_finite_differences_and_checkpointing_bounds_memory(small):
    model, loss = small
    x = jnp.asarray([0.12, W_JUMP])
    value = jax.jit(loss)
    compiled = {}
    grads = {}
    for ck in (True, False):
        f = jax.jit(jax.grad(lambda z: loss(z, ThetaNetwork(n=50, dt=1e-3, checkpoint=ck))))
        compiled[ck] = f.lower(x).compile()
        grads[ck] = np.asarray(compiled[ck](x))
    for i in range(2):
        h = 1e-6 * float(x[i])
        e = jnp.zeros(2).at[i].set(h)
        fd = (float(value(x + e)) - float(value(x - e))) / (2 * h)
        # Central differences of a smooth function: truncation ~h^2, round-off ~1e-16 / h.
        assert abs(grads[True][i]) > 0
        assert grads[True][i] == pytest.approx(fd, rel=1e-6)
    # Checkpointing recomputes the same arithmetic.
    np.testing.assert_allclose(grads[True], grads[False], rtol=1e-10)
    mem = {ck: c.memory_analysis().temp_size_in_bytes for ck, c in compiled.items()}
    # Storing every step needs >= steps * N * 8 B = 8 MB; the checkpointed scan a few states.
    assert mem[False] > 2e4 * 50 * 8
    assert mem[True] < mem[False] / 100


# ~7 CPU-s (six compilations); the horizon is also exercised by the slow
# test_exact_gradients_explode_in_bursts_and_a_horizon_gives_the_slope.
@pytest.mark.slow
def test_gradient_horizon_truncates_phase_derivatives_only():
    # 20 neurons, 10 time units at dt = 2e-3 in bins of 0.1 (smaller than `small`: six
    # compilations of value and gradient).
    base = ThetaNetwork(n=20, dt=2e-3)
    target = simulate_theta(TRUTH.replace(eta_bar=0.13), 10.0, 50, model=base).r

    def loss(x, m):
        r = simulate_theta(TRUTH.replace(eta_bar=x[0], w_jump=x[1]), 10.0, 50, model=m).r
        return jnp.mean((r - target) ** 2)

    x = jnp.asarray([0.12, W_JUMP])
    plain, exact = jax.jit(jax.value_and_grad(lambda z: loss(z, base)))(x)
    values, grads = {}, {}
    for h in (0.1, 2.0, 1e3):
        m = ThetaNetwork(n=20, dt=2e-3, gradient_horizon=h)
        values[h], grads[h] = jax.jit(jax.value_and_grad(lambda z: loss(z, m)))(x)
    # Values do not change (up to XLA's reordering of float64 sums); a horizon covering the run
    # (cut only at t = 0, where the phases are all zero) gives the exact gradient; forward mode
    # truncates the same way; shorter horizons change the gradient.
    assert all(float(v) == pytest.approx(float(plain), rel=1e-12) for v in values.values())
    np.testing.assert_allclose(grads[1e3], exact, rtol=1e-12)
    m = ThetaNetwork(n=20, dt=2e-3, gradient_horizon=2.0)
    fwd = np.asarray(jax.jit(jax.jacfwd(lambda z: loss(z, m)))(x))
    np.testing.assert_allclose(fwd, grads[2.0], rtol=1e-9)
    assert not np.allclose(grads[2.0], exact, rtol=1e-3)
    assert not np.allclose(grads[0.1], grads[2.0], rtol=1e-3)
    for bad in (0.0, -1.0, float("nan"), True, "5"):
        with pytest.raises(ParameterError, match="gradient_horizon"):
            ThetaNetwork(gradient_horizon=bad)


def test_long_runs_fit_in_memory():
    # 300 time units at dt = 1e-3 (3e5 steps), N = 1000: storing each step's state would take
    # 3e5 * 1000 * 8 B = 2.4 GB per array; the nested checkpoints keep the gradient's working
    # memory to O(N (sqrt(bins) + sqrt(steps per bin))). Compiled, not run.
    model = ThetaNetwork(n=1000, dt=1e-3)

    def loss(eta):
        return jnp.mean(
            simulate_theta(TRUTH.replace(eta_bar=eta), 300.0, 500, model=model, dtype=jnp.float32).r
        )

    compiled = jax.jit(jax.grad(loss)).lower(jnp.asarray(0.12, jnp.float32)).compile()
    assert compiled.memory_analysis().temp_size_in_bytes < 50e6


def test_float32_path_agrees_with_float64(small):
    model, _ = small
    r64 = simulate_theta(TRUTH, 20.0, 100, model=model).r
    r32 = simulate_theta(
        jax.tree.map(lambda x: x.astype(jnp.float32), TRUTH), 20.0, 100, model=model
    ).r
    assert r32.dtype == jnp.float32 and r64.dtype == jnp.float64
    # Bin rates ~0.1 with 2e4 steps of float32 round-off: agreement to ~1e-4 absolute.
    np.testing.assert_allclose(np.asarray(r32, float), np.asarray(r64), atol=2e-4)

    def mean_rate(eta, dtype):
        p = jax.tree.map(lambda x: x.astype(dtype), TRUTH).replace(eta_bar=eta)
        return jnp.mean(simulate_theta(p, 10.0, 100, model=model).r)

    grad = jax.jit(jax.grad(mean_rate), static_argnums=1)
    g32 = grad(jnp.asarray(0.12, jnp.float32), jnp.float32)
    g64 = grad(jnp.asarray(0.12), jnp.float64)
    assert g32.dtype == jnp.float32
    assert float(g32) == pytest.approx(float(g64), rel=1e-3)


def test_vmap_over_parameters_equals_loop(small):
    model, _ = small
    etas = jnp.asarray([0.11, 0.13])
    run = lambda e: simulate_theta(TRUTH.replace(eta_bar=e), 5.0, 100, model=model).r
    batched = jax.vmap(run)(etas)
    for i in range(2):
        np.testing.assert_allclose(batched[i], run(etas[i]), rtol=1e-10, atol=1e-13)


def test_bad_settings_raise():
    with pytest.raises(ParameterError, match="dt"):
        ThetaNetwork(dt=0.0)
    with pytest.raises(ParameterError, match="pulse_order"):
        ThetaNetwork(pulse_order=0)
    with pytest.raises(ParameterError, match="t1"):
        simulate_theta(TRUTH, 1.05, 100, model=ThetaNetwork(n=10))


# ~10 CPU-s: a 60-step fit through the network; the default run keeps the network gradients
# against finite differences, the slow tests fit the network.
@pytest.mark.slow
def test_network_fit_recovers_eta_bar_float32():
    # 40 time units of a 100-neuron network at dt = 1e-2 in float32 (the fast path): the target
    # is the network at the true eta_bar, fitted from 10% above and below.
    truth = jax.tree.map(lambda x: x.astype(jnp.float32), TRUTH)
    model = ThetaNetwork(n=100, dt=1e-2)
    ts = jnp.linspace(0.0, 40.0, 81, dtype=jnp.float32)
    target = F.BurstTarget.from_trace(ts, F.simulate_on_grid(truth, ts, model, 50).r)
    res = F.fit(
        truth,
        target,
        free="eta_bar",
        model=model,
        n_starts=2,
        starts={"eta_bar": [0.132, 0.108]},
        steps=60,
        tol=1e-7,
        patience=60,
        optimizer=optax.adam(optax.exponential_decay(2e-2, 20, 0.5)),
    )
    assert res.params.eta_bar.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(res.params.eta_bar[:, 0]), 0.12, rtol=0.01)
    assert np.all(np.isfinite(np.asarray(res.final_loss)))
    assert res.loss_history.shape == (60, 2)
    with pytest.raises(ParameterError, match="multiple"):
        F.fit(truth, target, free="eta_bar", model=ThetaNetwork(n=10, dt=0.3), steps=1, n_starts=1)


@pytest.mark.slow  # ~2-3 min on two CPU cores
def test_network_fit_recovers_eta_bar_and_w_jump():
    # Both parameters of a 1000-neuron network (float32, dt = 1e-2) from 100 time units of its
    # rate, from (1.1 eta_bar, 0.9 w_jump). Over this window w_jump acts only through the slow
    # build-up of adaptation, so the loss has a shallow valley along which adam stops a little
    # short: measured -0.9% (eta_bar) and -2.6% (w_jump).
    truth = jax.tree.map(lambda x: x.astype(jnp.float32), TRUTH)
    model = ThetaNetwork(n=1000, dt=1e-2)
    ts = jnp.linspace(0.0, 100.0, 201, dtype=jnp.float32)
    target = F.BurstTarget.from_trace(ts, F.simulate_on_grid(truth, ts, model, 50).r)
    res = F.fit(
        truth,
        target,
        model=model,
        n_starts=1,
        starts={"eta_bar": [0.132], "w_jump": [0.9 * W_JUMP]},
        steps=150,
        tol=1e-7,
        patience=40,
        optimizer=optax.adam(optax.exponential_decay(2e-2, 40, 0.5)),
    )
    assert float(res.params.eta_bar[0, 0]) == pytest.approx(0.12, rel=0.02)
    assert float(res.params.w_jump[0, 0]) == pytest.approx(W_JUMP, rel=0.04)


@pytest.mark.slow  # ~2 min: three 10^4-neuron runs over 300 time units and two jvps
def test_exact_gradients_explode_in_bursts_and_a_horizon_gives_the_slope():
    # The paper's network (Euler with reset, N = 10^4, dt = 1e-3) as the target, the theta network
    # (dt = 1e-2) moved along the line from (1.1 eta_bar, 0.9 w_jump) towards the truth. The
    # reference is the loss's slope by central differences over 1% of that line, where it is
    # smooth: the exact derivative of a 300-unit bursting run is dominated by the chaotic
    # divergence of spike times and is orders of magnitude off (measured +59.6 against
    # -0.0025); with gradient_horizon = 5 it has the slope's sign and its order of magnitude
    # (measured -3.4e-4).
    n, t1, every = 10_000, 300.0, 50
    net = jaxmf.simulate_network(TRUTH, n=n, t1=t1, dt=1e-3, record_every=100, progress=False)
    target = F.BurstTarget.from_network(net, transient=20.0, smooth_time=10.0)
    ts = jnp.asarray(target.t)

    def loss(a, model):
        p = TRUTH.replace(
            eta_bar=TRUTH.eta_bar * (1.1 - 0.1 * a), w_jump=TRUTH.w_jump * (0.9 + 0.1 * a)
        )
        sim = F.simulate_on_grid(p, ts, model, every)
        return jnp.sum(F.trace_residuals(sim, target, smooth=10.0) ** 2)

    exact, truncated = ThetaNetwork(n=n, dt=1e-2), ThetaNetwork(n=n, dt=1e-2, gradient_horizon=5.0)
    value = jax.jit(lambda a: loss(a, exact))
    h = 1e-2
    slope = (float(value(jnp.asarray(h))) - float(value(jnp.asarray(-h)))) / (2 * h)
    assert slope < 0  # the loss falls towards the truth
    slope_of = lambda m: float(
        jax.jit(lambda a: jax.jvp(lambda b: loss(b, m), (a,), (jnp.ones_like(a),))[1])(
            jnp.asarray(0.0)
        )
    )
    assert abs(slope_of(exact)) > 100 * abs(slope)
    d = slope_of(truncated)
    assert d < 0 and abs(slope) / 30 < abs(d) < 3 * abs(slope)


@pytest.mark.slow  # ~2 min on two CPU cores
def test_levenberg_marquardt_fits_the_papers_network():
    # The target is the paper's spiking network (Euler with reset, dt = 1e-3, N = 2000, float32)
    # at known (eta_bar, w_jump): 300 time units with one and a half bursts, smoothed over 10. The
    # theta network (dt = 1e-2, gradient_horizon 5) from (1.1 eta_bar, 0.9 w_jump) must land
    # within 1% of the network's values (measured -0.10% / +0.00% in 20 iterations, 83 s).
    import functools

    import optimistix as optx

    truth = jax.tree.map(lambda x: x.astype(jnp.float32), TRUTH)
    n = 2000
    net = jaxmf.simulate_network(
        truth, n=n, t1=300.0, dt=1e-3, record_every=100, dtype=jnp.float32, progress=False
    )
    target = F.BurstTarget.from_network(net, transient=20.0, smooth_time=10.0)
    res = F.fit(
        truth,
        target,
        model=ThetaNetwork(n=n, dt=1e-2, gradient_horizon=5.0),
        n_starts=1,
        starts={"eta_bar": [0.132], "w_jump": [0.9 * W_JUMP]},
        steps=15,
        optimizer=optx.LevenbergMarquardt(rtol=1e-5, atol=1e-7),
        tol=1e-7,
        patience=4,
        loss=functools.partial(F.trace_residuals, smooth=10.0),
    )
    assert float(res.params.eta_bar[0, 0]) == pytest.approx(0.12, rel=0.01)
    assert float(res.params.w_jump[0, 0]) == pytest.approx(W_JUMP, rel=0.01)
    hist = np.asarray(res.loss_history[:, 0])
    assert np.nanmin(hist) < 1e-3 * hist[0]


@pytest.mark.slow  # ~9 CPU-s: five theta-network compilations (values and a gradient)
def test_theta_network_takes_an_input_in_time():
    model = ThetaNetwork(n=100, dt=1e-2)
    p = jaxmf.presets.chen_campbell_2022(eta_bar=0.25)

    def run(i_ext=None, params=p):
        return simulate_theta(params, 10.0, 20, model=model, i_ext=i_ext)

    # A constant input is a shift of params.i_ext.
    const = run(jaxmf.inputs.Sinusoid(0.0, 1.0, offset=0.1))
    shifted = run(params=p.replace(i_ext=p.i_ext + 0.1))
    np.testing.assert_allclose(const.r, shifted.r, rtol=0, atol=1e-12)
    np.testing.assert_allclose(const.w_mean, shifted.w_mean, rtol=0, atol=1e-12)
    # Evaluated at each step's start in absolute time, across checkpointed blocks: a switch at
    # t = 3.37 (step 337) first changes bin 337 // 20 = 16, and nothing before it.
    base = run()
    switched = run(jaxmf.inputs.StepInput([3.37], [0.0, 0.3]))
    changed = np.nonzero(np.any(np.asarray(switched.r) != np.asarray(base.r), axis=1))[0]
    assert changed[0] == 16 and changed[-1] == 49
    # Differentiable in the input's arrays: the gradient equals a central difference.
    mean_rate = lambda a: run(jaxmf.inputs.Sinusoid(a, 5.0)).r.mean()
    h = 1e-6
    fd = (float(mean_rate(0.05 + h)) - float(mean_rate(0.05 - h))) / (2 * h)
    np.testing.assert_allclose(float(jax.grad(mean_rate)(0.05)), fd, rtol=1e-5)


@pytest.mark.slow  # ~15 CPU-s: two network fits of 60 steps
def test_network_fit_with_an_input_in_time_recovers_eta_bar():
    # The target is the network driven by a sinusoid; the fit given the same input finds the
    # true eta_bar, one without it a biased value (the input's mean effect is not zero).
    truth = jax.tree.map(lambda x: x.astype(jnp.float32), TRUTH)
    model = ThetaNetwork(n=100, dt=1e-2)
    drive = jaxmf.inputs.Sinusoid(amplitude=jnp.float32(0.1), period=jnp.float32(10.0))
    ts = jnp.linspace(0.0, 40.0, 81, dtype=jnp.float32)
    target = F.BurstTarget.from_trace(ts, F.simulate_on_grid(truth, ts, model, 50, i_ext=drive).r)
    kw = dict(
        free="eta_bar",
        model=model,
        steps=60,
        tol=1e-7,
        patience=60,
        optimizer=optax.adam(optax.exponential_decay(2e-2, 20, 0.5)),
    )
    res = F.fit(truth, target, n_starts=2, starts={"eta_bar": [0.132, 0.108]}, i_ext=drive, **kw)
    np.testing.assert_allclose(np.asarray(res.params.eta_bar[:, 0]), 0.12, rtol=2e-3)
    blind = F.fit(truth, target, n_starts=1, starts={"eta_bar": [0.132]}, **kw)
    assert abs(float(blind.params.eta_bar[0, 0]) / 0.12 - 1) > 0.01
