"""Gap junctions (Params.g_el): the network's electrical coupling, the exact mean field's two
terms, equilibria and continuation, checked against independent computations and each other."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmf
from jaxmf import presets
from jaxmf.bifurcation import meanfield_vector_field
from jaxmf.meanfield import MeanFieldState, chen_campbell, meanfield_equilibria
from jaxmf.network import EulerReset, MobiusPassage, init, make_network, step
from jaxmf.synapses import (
    lorentzian_from_order,
    meanfield_order_parameter,
    order_parameter,
    voltage_centres,
)

from .conftest import assert_tree_allclose


def _two_identical(g_el):
    """Two identical populations (shares 0.3, 0.7): the one-population model split in two."""
    return presets.chen_campbell_2022(eta_bar=0.25, fractions=[0.3, 0.7], g_el=g_el)


def test_identical_populations_reduce_to_one():
    # A neuron couples to every other with g_el/N, so splitting a population in two (same
    # parameters, any shares) changes nothing: the split mean field equals the one-population
    # field in every block, at a state away from equilibrium.
    one = presets.chen_campbell_2022(eta_bar=0.25, g_el=0.4)
    two = _two_identical(0.4)
    y1 = MeanFieldState(*(jnp.full(1, x) for x in (0.07, -0.3, 0.05, 0.12)))
    y2 = MeanFieldState(*(jnp.full(2, x) for x in (0.07, -0.3, 0.05, 0.12)))
    d1, d2 = chen_campbell(0.0, y1, (one, None)), chen_campbell(0.0, y2, (two, None))
    assert_tree_allclose(d2, jax.tree.map(lambda x: jnp.repeat(x, 2), d1), rtol=1e-14, atol=1e-15)
    # g_el moves the field: the rate equation gains -G r (here G = 0.4) and, for one
    # population, v' is unchanged (vbar = v).
    d0 = chen_campbell(0.0, y1, (one.replace(g_el=0.0), None))
    np.testing.assert_allclose(d1.r - d0.r, -0.4 * 0.07, rtol=1e-12)
    np.testing.assert_allclose(d1.v, d0.v, rtol=1e-14)


def test_between_populations_pull_voltages_together():
    # Population 0 at v = 1 and population 1 at v = -1, coupled only across (shares 1/4, 3/4):
    # v0' gains g f1 (v1 - v0) = 0.4 * 0.75 * (-2), v1' gains 0.4 * 0.25 * 2.
    p = presets.chen_campbell_2022(fractions=[0.25, 0.75], g_el=[[0.0, 0.4], [0.4, 0.0]])
    y = MeanFieldState(
        jnp.array([0.1, 0.1]), jnp.array([1.0, -1.0]), jnp.zeros(2), jnp.array([0.05, 0.05])
    )
    d, d0 = chen_campbell(0.0, y, (p, None)), chen_campbell(0.0, y, (p.replace(g_el=0.0), None))
    np.testing.assert_allclose(d.v - d0.v, [-0.6, 0.2], rtol=1e-12)
    np.testing.assert_allclose(d.r - d0.r, [-0.1 * 0.3, -0.1 * 0.1], rtol=1e-12)


@pytest.mark.slow  # reason: compiles the one- and two-population equilibrium searches (~10 CPU-s)
def test_equilibria_scalar_reduction_agrees_with_newton():
    # One population: the scalar root problem in r (with the gap leak); two identical
    # populations: Newton on the 8-dimensional system. Independent routes, one equilibrium.
    one = meanfield_equilibria(presets.chen_campbell_2022(eta_bar=0.25, g_el=0.3))
    two = meanfield_equilibria(_two_identical(0.3))
    assert one.count == 1 and two.count >= 1
    np.testing.assert_allclose(two.r[0], np.repeat(one.r[0, 0], 2), rtol=1e-9)
    np.testing.assert_allclose(two.w[0], np.repeat(one.w[0, 0], 2), rtol=1e-9)
    # and it moved with g_el
    base = meanfield_equilibria(presets.chen_campbell_2022(eta_bar=0.25))
    assert abs(float(one.r[0, 0] - base.r[0, 0])) > 1e-4


def test_network_step_uses_the_lorentzian_centre():
    # One Euler step by hand: vbar is the centre from Z = <exp(2i arctan v)>, computed with
    # numpy's trigonometry (the library uses the rational form).
    p = presets.chen_campbell_2022(eta_bar=0.25, g_el=0.5)
    net = make_network(p, 64)
    rng = np.random.default_rng(0)
    v0 = 0.2 + 0.3 * np.tan(np.pi * (rng.random(64) - 0.5))
    st = init(net, v0=v0, w0=0.01, s0=0.05)
    new, _ = step(p, net, st, 1e-3, scheme=EulerReset())
    z = np.mean(np.exp(2j * np.arctan(v0)))
    w_conj = (1 - np.conj(z)) / (1 + np.conj(z))
    vbar = w_conj.imag
    eta = 0.25 + 0.02 * np.asarray(net.z[0])
    gs = float(p.g[0, 0]) * 0.05
    dv = v0 * (v0 - float(p.alpha[0])) - 0.01 + eta + gs * (1 - v0) + 0.5 * (vbar - v0)
    spiked = v0 >= 200
    expect = np.where(spiked, -v0, v0 + 1e-3 * dv)
    np.testing.assert_allclose(np.asarray(new.v[0]), expect, rtol=1e-12, atol=1e-12)
    # the centre and half-width recovered from Z are those of the samples' Lorentzian law
    rate, centre = lorentzian_from_order(order_parameter(jnp.asarray(v0)))
    np.testing.assert_allclose(float(centre), vbar, rtol=1e-12)
    assert float(voltage_centres((jnp.asarray(v0),))[0]) == pytest.approx(vbar, rel=1e-12)
    assert 0 < float(rate) < 1


def test_order_parameter_round_trip_and_float32():
    r, v = jnp.array([0.01, 0.1, 0.5]), jnp.array([-1.0, 0.3, 2.0])
    back = lorentzian_from_order(meanfield_order_parameter(r, v))
    assert_tree_allclose(back, (r, v), rtol=1e-12, atol=1e-14)
    q = jnp.tan(jnp.pi * (jnp.arange(1, 4000) / 4000 - 0.5)).astype(jnp.float32)
    c32 = voltage_centres((jnp.float32(-0.4) + jnp.float32(0.05) * q,))
    c64 = voltage_centres((-0.4 + 0.05 * q.astype(jnp.float64),))
    assert c32.dtype == jnp.float32
    assert float(c32[0]) == pytest.approx(float(c64[0]), abs=1e-6)
    assert float(c64[0]) == pytest.approx(-0.4, abs=2e-4)  # the quantiles' finite-N bias


@pytest.mark.slow  # reason: compiles the continuation and Hopf correctors (~15 CPU-s)
def test_hopf_in_g_el_and_continuation():
    # Gap junctions synchronise the tonic state: a Hopf point on the branch in g_el, where the
    # Jacobian of the vector field has a complex pair on the imaginary axis.
    p = presets.chen_campbell_2022(eta_bar=0.25, g_el=0.0)
    br = jaxmf.continue_equilibria(p, "g_el", bounds=(0.0, 1.0))
    hopf = [sp for sp in br.special_points if sp.kind == "hopf"]
    assert len(hopf) == 1
    sp = hopf[0]
    g_h = float(sp.value)
    assert 0.2 < g_h < 0.6
    jac = jax.jacfwd(lambda x: meanfield_vector_field(x, sp.params))(sp.state)
    eig = np.linalg.eigvals(np.asarray(jac))
    lead = eig[np.argmax(eig.real)]
    assert abs(lead.real) < 1e-7 and abs(lead.imag) > 1e-2
    # stable below, unstable above (the equilibria's own eigenvalues)
    below = meanfield_equilibria(p.replace(g_el=0.9 * g_h))
    above = meanfield_equilibria(p.replace(g_el=1.1 * g_h))
    assert bool(below.stable[0]) and not bool(above.stable[0])


@pytest.mark.slow  # reason: compiles gradients through network steps (~5 CPU-s)
def test_jit_vmap_grad():
    p = presets.chen_campbell_2022(eta_bar=0.25, g_el=0.3)
    y = MeanFieldState(*(jnp.full(1, x) for x in (0.1, -0.2, 0.03, 0.1)))
    f = lambda g: chen_campbell(0.0, y, (p.replace(g_el=g), None)).r[0]
    # r' is affine in g_el with slope -r
    assert float(jax.jit(jax.grad(f))(0.3)) == pytest.approx(-0.1, rel=1e-12)
    gs = jnp.array([0.0, 0.2, 0.5])
    batched = jax.vmap(f)(gs)
    np.testing.assert_allclose(batched, [f(g) for g in gs], rtol=1e-14)
    # the network's first steps under jit, with g_el traced, differentiate finitely
    net = make_network(p, 32)
    st = init(net, v0=np.linspace(-1.0, 1.0, 32))

    def v_after(g):
        s = st
        for _ in range(3):
            s, _ = step(p.replace(g_el=g), net, s, 1e-2, scheme=MobiusPassage())
        return jnp.mean(s.v[0])

    grad = jax.jit(jax.grad(v_after))(0.3)
    fd = (v_after(0.3 + 1e-6) - v_after(0.3 - 1e-6)) / 2e-6
    assert float(grad) == pytest.approx(float(fd), rel=1e-6)


@pytest.mark.slow  # reason: three N = 10^4 networks over 400 time units (~40 s)
def test_network_matches_meanfield_across_g_el():
    # Tonic eta_bar = 0.25: asynchronous at g_el = 0.2, synchronous oscillations past the Hopf
    # (~0.38) at 0.6 and 1.0. Rate and <w> within 3 %, oscillation period within 3 %, and the
    # oscillation amplitude grows with g_el in both.
    amp_net, amp_mf = [], []
    for g in (0.2, 0.6, 1.0):
        p = presets.chen_campbell_2022(eta_bar=0.25, g_el=g)
        net = jaxmf.simulate_network(
            p, n=10_000, t1=400.0, dt=1e-2, scheme=MobiusPassage(), record_every=10, progress=False
        )
        mf = jaxmf.solve_meanfield(p, t1=400.0, ts=net.t)
        k = np.asarray(net.t) > 200
        rn, rm = np.asarray(net.r[k, 0]), np.asarray(mf.r[k, 0])
        assert rn.mean() == pytest.approx(rm.mean(), rel=0.03)
        assert float(np.mean(net.w_mean[k, 0])) == pytest.approx(
            float(np.mean(mf.w[k, 0])), rel=0.03
        )
        amp_net.append(np.ptp(jaxmf.analysis.smooth(rn, 5)))
        amp_mf.append(np.ptp(jaxmf.analysis.smooth(rm, 5)))
        if g > 0.5:
            sn = jaxmf.analysis.trace_summary(net.t[k], rn, smooth_window=3)
            sm = jaxmf.analysis.trace_summary(mf.t[k], rm)
            assert float(sn.period) == pytest.approx(float(sm.period), rel=0.03)
    assert amp_net[0] < 0.1 * amp_net[1] and amp_net[1] < amp_net[2]
    assert amp_mf[0] < 0.1 * amp_mf[1] and amp_mf[1] < amp_mf[2]


@pytest.mark.slow  # reason: an N = 10^4 bursting network over 1500 time units (~50 s)
def test_bursting_network_matches_meanfield_with_g_el():
    # eta_bar = 0.12 with g_el = 0.1: burst period and mean rate within 3 %.
    p = presets.chen_campbell_2022(g_el=0.1)
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


@pytest.mark.slow  # reason: two N = 10^4 runs of the paper's Euler scheme (~60 s)
def test_cutoff_mean_against_lorentzian_centre(monkeypatch):
    # The alternative vbar, the mean over |v| <= v_peak, in the paper's scheme (v_peak = 200,
    # reflection), asynchronous state (g_el = 0.2): it lies near the Lorentzian centre (0.05
    # above it on average), and the network coupled through it is further from the mean field
    # (rate +5.5 %, <w> +3.2 %) than the network coupled through the centre (+1.9 %, +0.7 %),
    # on t in (100, 200].
    import jaxmf.network as network

    p = presets.chen_campbell_2022(eta_bar=0.25, g_el=0.2)
    net = make_network(p, 10_000)

    def cutoff_means(v, axis_name=None):
        inside = [jnp.abs(vm) <= 200.0 for vm in v]
        return jnp.stack(
            [
                jnp.sum(jnp.where(i, vm, 0.0)) / jnp.sum(i.astype(vm.dtype))
                for vm, i in zip(v, inside)
            ]
        )

    def simulate():
        f = jax.jit(lambda st: network.run(p, net, st, dt=1e-3, n_records=400, record_every=500))
        return f(init(net))

    st_c, rec_c = simulate()
    offset = float(cutoff_means(st_c.v)[0] - voltage_centres(st_c.v)[0])
    monkeypatch.setattr(network, "voltage_centres", cutoff_means)
    _, rec_m = simulate()
    mf = jaxmf.solve_meanfield(p, t1=200.0, ts=0.5 * np.arange(1, 401))
    k = slice(200, None)
    err = {}
    for name, rec in (("centre", rec_c), ("cutoff", rec_m)):
        err[name] = (
            abs(float(rec.r[k, 0].mean()) / float(mf.r[k, 0].mean()) - 1),
            abs(float(rec.w_mean[k, 0].mean()) / float(mf.w[k, 0].mean()) - 1),
        )
    assert abs(offset) < 0.5
    assert err["centre"][0] < 0.03 and err["centre"][1] < 0.015
    assert err["cutoff"][0] > err["centre"][0] and err["cutoff"][1] > err["centre"][1]
