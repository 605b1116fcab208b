"""Second-order synapses (Params.tau_r): the kernel against its closed form, the network's
synapse updates against the kernel, the mean field against the network and the first-order
limit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmf
from jaxmf import presets
from jaxmf.meanfield import (
    MeanFieldRiseState,
    MeanFieldState,
    chen_campbell,
    meanfield_equilibria,
)
from jaxmf.network import EulerReset, ExactPassage, MobiusPassage
from jaxmf.synapses import kernel

TAU_S = 2.6


def test_kernel_closed_forms_and_charge():
    t = np.linspace(0.0, 200.0, 200_001)
    for tau_r in (0.3, 1.0, TAU_S, 5.0):
        k = np.asarray(kernel(t, TAU_S, tau_r))
        if tau_r == TAU_S:
            expect = t / TAU_S * np.exp(-t / TAU_S)  # the alpha function
        else:
            expect = TAU_S / (TAU_S - tau_r) * (np.exp(-t / TAU_S) - np.exp(-t / tau_r))
        np.testing.assert_allclose(k, expect, rtol=1e-9, atol=1e-15)
        # the same charge as the first-order kernel: integral tau_s
        assert np.trapezoid(k, t) == pytest.approx(TAU_S, rel=1e-6)
    # next to tau_s the closed form cancels; the kernel does not
    assert float(kernel(1.0, TAU_S, TAU_S * (1 + 1e-9))) == pytest.approx(
        float(kernel(1.0, TAU_S, TAU_S)), rel=1e-8
    )
    # tau_r -> 0: the first-order kernel in L1 (not uniformly: the rise starts at 0), with an
    # error ~ 2 tau_r
    err = [
        np.trapezoid(np.abs(np.asarray(kernel(t, TAU_S, tr) - kernel(t, TAU_S))), t)
        for tr in (1e-1, 1e-2)
    ]
    assert err[1] < 0.15 * err[0] and err[1] < 0.025


@pytest.mark.parametrize(
    "scheme, shift, rtol",
    [(EulerReset(), 0.0, 2e-2), (ExactPassage(), 0.0, 1e-12), (MobiusPassage(), 0.5, 1e-12)],
)
def test_network_synapse_impulse_response(scheme, shift, rtol):
    # One population's spikes of step 0 (jump 1) and none after: the schemes' x/s updates give
    # the kernel at the step ends (MobiusPassage puts the spike in mid-step: shifted by dt/2;
    # EulerReset is first order in dt).
    dt, tau_r = 2e-2, 0.7
    s, x = jnp.zeros(1), jnp.zeros(1)
    out = []
    for n in range(400):
        jump = jnp.ones(1) if n == 0 else jnp.zeros(1)
        s, x = scheme.rise_step(s, x, jnp.full(1, TAU_S), jnp.full(1, tau_r), jump, dt)
        out.append(float(s[0]))
    t = dt * (np.arange(400) + shift)  # time since the spike at each step's end
    expect = np.asarray(kernel(t, TAU_S, tau_r))
    peak = expect.max()
    np.testing.assert_allclose(out, expect, rtol=rtol, atol=rtol * peak)


def test_meanfield_equations():
    # s' and x' as stated (jaxmf.synapses), zero at x* = tau_r s_jump r, s* = tau_s s_jump r;
    # r, v, w unchanged by tau_r at the same state.
    p = presets.chen_campbell_2022(tau_r=0.8)
    r = 0.07
    sj = float(p.s_jump[0])
    y = MeanFieldRiseState(
        *(jnp.full(1, z) for z in (r, -0.3, 0.05, TAU_S * sj * r)), x=jnp.full(1, 0.8 * sj * r)
    )
    d = chen_campbell(0.0, y, (p, None))
    np.testing.assert_allclose([d.s[0], d.x[0]], [0.0, 0.0], atol=1e-15)
    d1 = chen_campbell(0.0, y._replace(x=jnp.full(1, 0.1)), (p, None))
    np.testing.assert_allclose(d1.s, -TAU_S * sj * r / TAU_S + 0.1 / 0.8, rtol=1e-13)
    np.testing.assert_allclose(d1.x, -0.1 / 0.8 + sj * r, rtol=1e-13)
    first = chen_campbell(0.0, MeanFieldState(*y[:4]), (p.replace(tau_r=None), None))
    np.testing.assert_allclose([d.r, d.v, d.w], [first.r, first.v, first.w], rtol=1e-15)


@pytest.mark.slow  # reason: mean-field solves and equilibrium searches with tau_r (~15 CPU-s)
def test_first_order_limit_and_equilibria():
    # Same equilibria as first order (the kernel's charge is tau_s); the solution approaches
    # the first-order one linearly as tau_r -> 0.
    p0 = presets.chen_campbell_2022(eta_bar=0.25)
    e0, e1 = meanfield_equilibria(p0), meanfield_equilibria(p0.replace(tau_r=2.0))
    np.testing.assert_allclose(e1.r[0], e0.r[0], rtol=1e-10)
    ref = jaxmf.solve_meanfield(p0, t1=100.0)
    err = []
    for tau_r in (1e-1, 1e-2):
        sol = jaxmf.solve_meanfield(p0.replace(tau_r=tau_r), t1=100.0)
        err.append(float(np.max(np.abs(sol.r - ref.r))))
    assert err[1] < 0.2 * err[0]


@pytest.mark.slow  # reason: gradients and a batch of mean-field solves (~10 CPU-s)
def test_jit_vmap_grad_tau_r():
    p = presets.chen_campbell_2022(eta_bar=0.25, tau_r=1.0)
    ts = jnp.linspace(0.0, 50.0, 51)

    def mean_rate(tau_r):
        return jnp.mean(jaxmf.solve_meanfield(p.replace(tau_r=tau_r), t1=50.0, ts=ts).r)

    g = jax.jit(jax.grad(mean_rate))(1.0)
    fd = (mean_rate(1.0 + 1e-5) - mean_rate(1.0 - 1e-5)) / 2e-5
    assert float(g) == pytest.approx(float(fd), rel=1e-4)
    taus = jnp.array([0.5, 1.0, 2.0])
    batched = jax.vmap(mean_rate)(taus)
    np.testing.assert_allclose(batched, [mean_rate(t) for t in taus], rtol=1e-6)


@pytest.mark.slow  # reason: two N = 10^4 bursting networks over 1500 time units (~100 s)
@pytest.mark.parametrize("tau_r", [0.5, 2.6])
def test_network_matches_meanfield(tau_r):
    # Bursting eta_bar = 0.12 with double-exponential (tau_r = 0.5) and alpha (tau_r = tau_s)
    # synapses: burst period, mean rate and <w> within 3 %.
    p = presets.chen_campbell_2022(tau_r=tau_r)
    net = jaxmf.simulate_network(
        p, n=10_000, t1=1500.0, dt=1e-2, scheme=MobiusPassage(), record_every=50, progress=False
    )
    mf = jaxmf.solve_meanfield(p, t1=1500.0, ts=net.t)
    k = np.asarray(net.t) > 500
    sn = jaxmf.analysis.trace_summary(net.t[k], net.r[k, 0], smooth_window=20)
    sm = jaxmf.analysis.trace_summary(mf.t[k], mf.r[k, 0])
    assert float(sn.period) == pytest.approx(float(sm.period), rel=0.03)
    assert float(sn.mean) == pytest.approx(float(sm.mean), rel=0.03)
    assert float(np.mean(net.w_mean[k, 0])) == pytest.approx(float(np.mean(mf.w[k, 0])), rel=0.03)
    assert float(np.mean(net.s[k, 0])) == pytest.approx(float(np.mean(mf.s[k, 0])), rel=0.03)
