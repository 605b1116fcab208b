import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.optimize

import jaxmf
from jaxmf import network as nw
from jaxmf._results import RESULTS, Interrupted, NumericalError
from jaxmf.params import ParameterError

from .conftest import run_on_fake_devices, tree_allclose

BASE = jaxmf.presets.chen_campbell_2022()


def _uncoupled(eta_bar):
    """Non-adapting, uncoupled, homogeneous neurons: v' = v (v - alpha) + eta_bar."""
    return BASE.replace(g=0.0, w_jump=0.0, b=0.0, delta_eta=0.0, eta_bar=eta_bar)


def _isi_rate(res):
    t, _ = res.spike_raster()
    return (len(t) - 1) / (t[-1] - t[0])


ETAS = (0.25, 0.5, 1.0)


def _qif_rates(dt, scheme):
    batch = jaxmf.stack_params([_uncoupled(e) for e in ETAS])
    res = jaxmf.simulate_network(
        batch,
        n=1,
        t1=120.0,
        dt=dt,
        record_every=int(round(0.1 / dt)),
        scheme=scheme,
        raster=1,
        progress=False,
    )
    return np.array([_isi_rate(res.select(i)) for i in range(len(ETAS))])


def test_qif_rate_exact_passage_matches_analytic():
    # sqrt(I - alpha^2/4)/pi for the QIF with peak and reset at infinity; the frozen-coefficient
    # solution is exact when nothing but v moves, so a large step gives it to ISI resolution.
    alpha = float(BASE.alpha[0])
    analytic = np.sqrt(np.array(ETAS) - alpha**2 / 4) / np.pi
    np.testing.assert_allclose(_qif_rates(1e-2, jaxmf.ExactPassage()), analytic, rtol=2e-4)


@pytest.mark.parametrize("dtype, rtol", [(jnp.float64, 1e-9), (jnp.float32, 2e-3)])
def test_mobius_passage_follows_the_analytic_qif_solution_at_large_steps(dtype, rtol):
    # u' = u^2 + J (u = v - alpha/2, no adaptation, no coupling) has the solution
    # u = sqrt(J) tan(sqrt(J) t + phi0): the phase advances uniformly and each pi is one spike.
    # The Möbius map is that solution up to its truncated series (~(J dt^2)^3/720 per step).
    alpha = float(BASE.alpha[0])
    eta, t1, dt = 1.0, 20.0, 0.04
    sq = np.sqrt(eta - alpha**2 / 4)
    phase = sq * t1 + np.arctan(-alpha / 2 / sq)
    res = jaxmf.simulate_network(
        _uncoupled(eta),
        n=1,
        t1=t1,
        dt=dt,
        record_every=25,
        dtype=dtype,
        scheme=nw.MobiusPassage(),
        raster=1,
        progress=False,
    )
    assert int(res.spike_count.sum()) == int(np.floor((phase + np.pi / 2) / np.pi))
    u1 = float(res.state.v[0][0]) - alpha / 2
    wrapped = (phase + np.pi / 2) % np.pi - np.pi / 2
    np.testing.assert_allclose(np.arctan(u1 / sq), wrapped, rtol=rtol, atol=rtol)


def _theta_neuron_w(eta, a, w_jump, t1):
    """w(t1) of one adapting QIF neuron (b = 0) integrated in its theta form, v - alpha/2 =
    tan(theta/2): theta' = 1 - cos theta + (1 + cos theta) J, a spike at each theta = pi."""
    alpha = float(BASE.alpha[0])

    def f(_, y):
        c = np.cos(y[0])
        return [(1 - c) + (1 + c) * (eta - y[1] - alpha**2 / 4), -a * y[1]]

    def spike(_, y):
        return y[0] - np.pi

    spike.terminal, spike.direction = True, 1
    t, y = 0.0, [2 * np.arctan(-alpha / 2), 0.0]
    while True:
        sol = scipy.integrate.solve_ivp(
            f, (t, t1), y, events=spike, rtol=1e-10, atol=1e-12, method="DOP853"
        )
        if sol.status != 1:
            return sol.y[1, -1]
        t, y = sol.t_events[0][0], [-np.pi, sol.y_events[0][0][1] + w_jump]


@pytest.mark.slow  # ~5 CPU-s: three step sizes, three compilations, 32 DOP853 references
def test_mobius_passage_converges_at_first_order_to_an_independent_reference():
    # Uncoupled adapting neurons (b = 0) against the theta form solved by DOP853 with events:
    # the frozen w (and the jump applied at the step's end) make the error first order; the mean
    # over 32 excitabilities averages out where within a step each spike falls.
    p = BASE.replace(g=0.0, b=0.0, delta_eta=0.2, eta_bar=1.0, a=0.2, w_jump=0.1)
    n, t1 = 32, 20.0
    etas = 1.0 + 0.2 * np.asarray(nw.make_network(p, n).z[0])
    w_ref = np.mean([_theta_neuron_w(e, 0.2, 0.1, t1) for e in etas])
    errs = []
    for dt in (4e-2, 2e-2, 1e-2):
        res = jaxmf.simulate_network(
            p,
            n=n,
            t1=t1,
            dt=dt,
            record_every=int(round(1 / dt)),
            scheme=nw.MobiusPassage(),
            progress=False,
        )
        errs.append(abs(float(np.mean(res.state.w[0])) - w_ref))
    assert errs[0] < 5e-4
    assert 1.6 < errs[0] / errs[1] < 3.0 and 1.6 < errs[1] / errs[2] < 3.0


def test_qif_rate_euler_converges_with_dt():
    alpha = float(BASE.alpha[0])
    J = np.array(ETAS) - alpha**2 / 4
    analytic = np.sqrt(J) / np.pi
    # With the cut-off at +-200 the period lacks the passage beyond |u| = 200 (about 2/200):
    sq = np.sqrt(J)
    finite_peak = sq / (np.arctan((200 - alpha / 2) / sq) - np.arctan((-200 - alpha / 2) / sq))
    errs = [
        np.max(np.abs(_qif_rates(dt, jaxmf.EulerReset()) / finite_peak - 1))
        for dt in (2e-3, 1e-3, 5e-4)
    ]
    assert errs[0] > errs[1] > errs[2]
    assert errs[1] < 2 * errs[2] * 1.3 and errs[1] > 2 * errs[2] / 1.3  # first order in dt
    assert np.max(np.abs(_qif_rates(1e-3, jaxmf.EulerReset()) / analytic - 1)) < 5e-3


def _mpr_fixed_point(p):
    """Closed-form equilibrium rate (model.md section 3) with w* = 0 (b = 0, w_jump = 0)."""
    P = {
        k: float(np.ravel(getattr(p, k))[0])
        for k in ("alpha", "eta_bar", "delta_eta", "i_ext", "tau_s", "s_jump", "e_r", "g")
    }

    def F(r):
        s = P["tau_s"] * P["s_jump"] * r
        c = -P["g"] * P["e_r"] * s + (P["alpha"] + P["g"] * s) ** 2 / 4 - P["i_ext"]
        return r - np.sqrt(complex(P["eta_bar"] - c, P["delta_eta"])).real / np.pi

    return scipy.optimize.brentq(F, 1e-9, 10.0, xtol=1e-14)


@pytest.mark.slow  # ~10 CPU-s; the default run has the smaller version below
def test_mpr_limit_network_matches_fixed_point_as_n_grows():
    p = BASE.replace(w_jump=0.0, b=0.0, eta_bar=0.05, delta_eta=0.05)
    r_star = _mpr_fixed_point(p)
    errors = []
    for n in (500, 2000, 16_000):
        # The exact passage needs no small step for this (see test_population_observables...).
        res = jaxmf.simulate_network(
            p, n=n, t1=60.0, dt=5e-3, record_every=200, progress=False, scheme=jaxmf.ExactPassage()
        )
        errors.append(abs(np.mean(res.r[res.t > 30, 0]) / r_star - 1))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.01


@pytest.mark.slow  # ~4 CPU-s; the network-vs-mean-field comparisons cover the limit
def test_mpr_limit_network_approaches_fixed_point():
    # The fast version: the error falls with N (over a shorter average than the slow test's, so
    # the finite-time part of the error weighs more: 6.6%, 3.7% at N = 250, 4000).
    p = BASE.replace(w_jump=0.0, b=0.0, eta_bar=0.05, delta_eta=0.05)
    r_star = _mpr_fixed_point(p)
    errors = []
    for n in (250, 1000, 4000):
        res = jaxmf.simulate_network(
            p, n=n, t1=40.0, dt=5e-3, record_every=200, progress=False, scheme=jaxmf.ExactPassage()
        )
        errors.append(abs(np.mean(res.r[res.t > 20, 0]) / r_star - 1))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.05


def _tonic_trace(dt, scheme, n=1000, t1=10.0):
    """s(t) and <w>(t) every 0.5 time units: smooth population observables (<v> over
    |v| <= v_peak jumps by ~v_peak/n whenever one neuron crosses the cut-off)."""
    res = jaxmf.simulate_network(
        jaxmf.presets.tonic(),
        n=n,
        t1=t1,
        dt=dt,
        record_every=int(round(0.5 / dt)),
        scheme=scheme,
        progress=False,
    )
    return np.concatenate([res.s[:, 0], res.w_mean[:, 0]]), res


@pytest.mark.slow  # ~15 CPU-s; the default run has the smaller version below
def test_population_observables_converge_in_dt():
    # Same neurons (deterministic quantiles) at every dt: differences are discretisation error.
    euler = [_tonic_trace(dt, jaxmf.EulerReset())[0] for dt in (2e-3, 1e-3, 5e-4, 6.25e-5)]
    errs = [np.abs(x - euler[-1]).max() for x in euler[:-1]]
    assert errs[0] > errs[1] > errs[2]
    assert 1.5 < errs[0] / errs[1] < 2.7  # first order
    exact = [_tonic_trace(dt, jaxmf.ExactPassage())[0] for dt in (4e-3, 1e-3, 1.25e-4)]
    errs_exact = [np.abs(x - exact[-1]).max() for x in exact[:-1]]
    assert errs_exact[0] > errs_exact[1]
    # The exact passage at 4x the step is more accurate than the authors' scheme.
    assert errs_exact[0] < errs[1]


def test_population_observables_converge_in_dt_small():
    # 200 neurons over 5 time units, references at 8x smaller steps (within 15% of the limit).
    trace = lambda dt, scheme: _tonic_trace(dt, scheme, n=200, t1=5.0)[0]
    euler = [trace(dt, jaxmf.EulerReset()) for dt in (2e-3, 1e-3, 2.5e-4)]
    errs = [np.abs(x - euler[-1]).max() for x in euler[:-1]]
    assert errs[0] > errs[1]
    assert 1.5 < errs[0] / errs[1] < 3.0  # first order: (2 - 1/4) / (1 - 1/4) = 2.3
    exact = [trace(dt, jaxmf.ExactPassage()) for dt in (4e-3, 5e-4)]
    assert np.abs(exact[0] - exact[1]).max() < errs[1]
    # The two discretisations meet at small steps (s(t), up to the Euler cut-off v_peak = 200).
    n_s = euler[-1].size // 2
    np.testing.assert_allclose(euler[-1][:n_s], exact[-1][:n_s], atol=0.01)


@pytest.mark.slow  # ~10 CPU-s: two 1.6e5-step runs
def test_schemes_agree_at_small_dt():
    # Two independent discretisations of the same network meet as dt -> 0, up to the Euler
    # scheme's finite cut-off v_peak = 200.
    euler = _tonic_trace(1.25e-4, jaxmf.EulerReset(), t1=20.0)[1]
    exact = _tonic_trace(1.25e-4, jaxmf.ExactPassage(), t1=20.0)[1]
    np.testing.assert_allclose(euler.r[20:].mean(), exact.r[20:].mean(), rtol=0.01)
    np.testing.assert_allclose(euler.s[:, 0], exact.s[:, 0], atol=0.01)


def test_dt_bound_is_enforced_and_real():
    with pytest.raises(ParameterError, match="dt=0.005 is too large") as err:
        jaxmf.simulate_network(BASE, n=100, t1=1.0, dt=5e-3, record_every=10, progress=False)
    assert err.value.name == "dt"
    bound = jaxmf.EulerReset().max_dt(BASE, eta_max=1.0)
    # Analytic limit for v_peak = 200 without drive terms: dt v_peak (1 + dt v_peak) < 1.
    assert 0.9 * (np.sqrt(5) - 1) / 2 / 200 < bound < (np.sqrt(5) - 1) / 2 / 200
    # Just above the bound, a neuron reset from the overshoot -u lands at v > 0 in one step: it
    # skips the passage from -inf to 0. Just below, it stays negative.
    p = _uncoupled(0.25)
    net = nw.make_network(p, 1)
    for dt, skips in ((1.02 * bound, True), (0.98 * bound, False)):
        st = nw.init(net, v0=199.9)
        st, counts = nw.step(p, net, st, dt)  # overshoots past v_peak
        st, counts = nw.step(p, net, st, dt)  # spikes, v -> -u
        assert int(counts[0]) == 1 and float(st.v[0][0]) < -200
        st, counts = nw.step(p, net, st, dt)
        assert (float(st.v[0][0]) > 0) == skips


def test_jit_equals_eager_and_vmap_equals_loop():
    p = jaxmf.presets.bursting()
    net = nw.make_network(p, 300)
    st = nw.init(net)
    kw = dict(dt=1e-3, n_records=5, record_every=40)
    eager = nw.run(p, net, st, **kw)
    jitted = jax.jit(lambda q, s: nw.run(q, net, s, **kw))(p, st)
    assert tree_allclose(eager, jitted, rtol=1e-12, atol=1e-12)
    plist = [p.replace(eta_bar=e) for e in (0.1, 0.2, 0.3)]
    batch = jaxmf.simulate_network(
        jaxmf.stack_params(plist), n=300, t1=2.0, record_every=40, progress=False
    )
    for i, q in enumerate(plist):
        single = jaxmf.simulate_network(q, n=300, t1=2.0, record_every=40, progress=False)
        assert tree_allclose(
            (single.r, single.v_mean, single.w_mean, single.s, single.state.v),
            (
                batch.r[i],
                batch.v_mean[i],
                batch.w_mean[i],
                batch.s[i],
                tuple(v[i] for v in batch.state.v),
            ),
            rtol=1e-12,
            atol=1e-12,
        )


def test_simulate_network_under_jit_and_grad():
    p = jaxmf.presets.chen_campbell_2022(eta_bar=0.05)

    def loss(eta_bar):
        res = jaxmf.simulate_network(p.replace(eta_bar=eta_bar), n=100, t1=0.5, record_every=50)
        return jnp.mean(res.v_mean)

    # Before the first spike (no neuron reaches v_peak by t = 0.5) the loss is smooth in eta_bar.
    g = jax.grad(loss)(0.05)
    fd = (loss(0.05 + 1e-5) - loss(0.05 - 1e-5)) / 2e-5
    np.testing.assert_allclose(g, fd, rtol=1e-5)
    np.testing.assert_allclose(jax.jit(loss)(0.05), loss(0.05), rtol=1e-12)


def test_two_identical_populations_equal_one():
    # (gs)_m = g (s_1/2 + s_2/2) = g s when both halves are copies of a one-population network.
    one = jaxmf.simulate_network(BASE, n=400, t1=5.0, record_every=100, progress=False)
    two_p = BASE.replace(
        eta_bar=[0.12, 0.12], fractions=[0.5, 0.5], g=np.full((2, 2), float(BASE.g[0, 0]))
    )
    two = jaxmf.simulate_network(two_p, n=(400, 400), t1=5.0, record_every=100, progress=False)
    for name in ("r", "v_mean", "w_mean", "s"):
        np.testing.assert_allclose(
            getattr(two, name)[:, 0], getattr(one, name)[:, 0], rtol=1e-9, atol=1e-12
        )
        np.testing.assert_allclose(
            getattr(two, name)[:, 1], getattr(one, name)[:, 0], rtol=1e-9, atol=1e-12
        )


def test_two_population_preset_runs_and_splits_neurons():
    res = jaxmf.simulate_network(
        jaxmf.presets.two_population(), n=1000, t1=2.0, record_every=100, progress=False, raster=10
    )
    assert res.network.sizes == (800, 200)
    assert res.r.shape == (20, 2)
    t, ids = res.spike_raster()
    assert np.all(ids < 1000)


def test_float32_path_agrees_with_float64():
    kw = dict(n=1000, t1=20.0, record_every=500, progress=False)
    r64 = jaxmf.simulate_network(jaxmf.presets.tonic(), dtype=jnp.float64, **kw)
    r32 = jaxmf.simulate_network(jaxmf.presets.tonic(), dtype=jnp.float32, **kw)
    assert r32.r.dtype == np.float32
    np.testing.assert_allclose(r32.r[10:].mean(), r64.r[10:].mean(), rtol=0.01)


def test_resume_equals_uninterrupted_run():
    kw = dict(n=300, dt=1e-3, record_every=100, progress=False, raster=5)
    full = jaxmf.simulate_network(BASE, t1=4.0, **kw)
    half = jaxmf.simulate_network(BASE, t1=2.0, **kw)
    rest = jaxmf.simulate_network(BASE, t1=4.0, resume=half, **kw)
    assert tree_allclose(
        (full.t, full.r, full.v_mean, full.spike_first, full.state.v, full.state.s),
        (rest.t, rest.r, rest.v_mean, rest.spike_first, rest.state.v, rest.state.s),
        rtol=0,
        atol=0,
    )


def test_interrupt_keeps_finished_chunks(monkeypatch):
    kw = dict(n=300, dt=1e-3, record_every=100, progress=False)
    full = jaxmf.simulate_network(BASE, t1=4.0, **kw)
    real, calls = nw._run_jit, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(nw, "_run_jit", flaky)
    # chunk_steps makes each chunk 10 records (1 time unit): two finish before Ctrl-C.
    with pytest.raises(jaxmf.SimulationInterrupted) as err:
        jaxmf.simulate_network(BASE, t1=4.0, chunk_steps=300 * 100 * 10, **kw)
    part = err.value.result
    assert part.status == RESULTS.interrupted and part.t[-1] == pytest.approx(2.0)
    assert isinstance(err.value, Interrupted) and err.value.result is part
    monkeypatch.setattr(nw, "_run_jit", real)
    rest = jaxmf.simulate_network(BASE, t1=4.0, resume=part, **kw)
    np.testing.assert_array_equal(rest.r, full.r)


def test_nonfinite_state_is_reported():
    kw = dict(n=300, dt=1e-3, record_every=100, progress=False)
    start = jaxmf.simulate_network(BASE, t1=1.0, **kw)
    poisoned = jax.tree_util.tree_map(lambda x: x, start)
    import equinox as eqx

    poisoned = eqx.tree_at(lambda r: r.state.w, poisoned, (start.state.w[0].at[7].set(jnp.nan),))
    with pytest.raises(jaxmf.SimulationError, match="non-finite") as err:
        jaxmf.simulate_network(BASE, t1=3.0, resume=poisoned, **kw)
    assert err.value.result.status == RESULTS.diverged
    assert isinstance(err.value, NumericalError)
    assert err.value.result.t[-1] == pytest.approx(1.1)
    quiet = jaxmf.simulate_network(BASE, t1=3.0, resume=poisoned, throw=False, **kw)
    assert quiet.status == RESULTS.diverged


def test_bad_arguments_name_the_parameter():
    for kwargs, name in [
        (dict(n=0), "n"),
        (dict(n=2.5), "n"),
        (dict(record_every=0), "record_every"),
        (dict(dt=-1.0), "dt"),
        (dict(t1=-5.0), "t1"),
        (dict(t1=1.05), "t1"),
    ]:
        args = dict(n=100, t1=1.0, record_every=100, progress=False) | kwargs
        with pytest.raises(ParameterError) as err:
            jaxmf.simulate_network(BASE, **args)
        assert err.value.name == name


def test_batched_two_populations_match_single_runs():
    # Batch size 3 differs from P = 2: shape handling of the (B, P, P) conductances.
    p = jaxmf.presets.two_population()
    plist = [p.replace(eta_bar=[e, e]) for e in (0.1, 0.2, 0.3)]
    batch = jaxmf.simulate_network(
        jaxmf.stack_params(plist), n=300, t1=1.0, record_every=100, progress=False
    )
    single = jaxmf.simulate_network(plist[1], n=300, t1=1.0, record_every=100, progress=False)
    np.testing.assert_allclose(batch.r[1], single.r, rtol=1e-12)


def test_every_explicit_update_bound_is_enforced():
    # tau_s < dt: the Euler synapse update s (1 - dt / tau_s) flips sign every step (s swings to
    # -99 and the population falls silent); refused, naming dt and the bound.
    p = jaxmf.presets.tonic(tau_s=1e-6)
    with pytest.raises(ParameterError, match=r"tau_s") as err:
        jaxmf.simulate_network(p, n=100, t1=1.0, progress=False)
    assert err.value.name == "dt" and "1e-06" in str(err.value)
    # Independent check of the instability: one Euler synapse step from s = 1 without input.
    assert 1.0 - 1e-3 / 1e-6 < -1
    bounds = jaxmf.EulerReset().bounds(jaxmf.presets.tonic(), 1.0)
    assert bounds["synapse (tau_s)"] == pytest.approx(float(jaxmf.presets.tonic().tau_s[0]))
    assert bounds["adaptation (1/a)"] == pytest.approx(1 / float(jaxmf.presets.tonic().a[0]))
    # dt = 1 blames dt (not t1, which is not a whole number of bins of it).
    with pytest.raises(ParameterError) as err:
        jaxmf.simulate_network(BASE, n=100, t1=10.5, dt=1.0, record_every=1, progress=False)
    assert err.value.name == "dt"


def test_resume_with_other_sizes_precision_or_populations_is_refused():
    kw = dict(t1=0.2, dt=1e-3, record_every=100, progress=False)
    first = jaxmf.simulate_network(BASE, n=100, **kw)
    for change, name in [(dict(n=200), "n"), (dict(dtype=jnp.float32), "dtype")]:
        with pytest.raises(ParameterError) as err:
            jaxmf.simulate_network(BASE, **(kw | dict(t1=0.4, resume=first) | change))
        assert err.value.name == name
    with pytest.raises(ParameterError, match="population"):
        jaxmf.simulate_network(jaxmf.presets.two_population(), resume=first, **(kw | dict(t1=0.4)))
    same = jaxmf.simulate_network(BASE, n=100, resume=first, **(kw | dict(t1=0.4)))
    assert same.t.shape == (4,)


def test_traced_dt_is_reported_as_static():
    with pytest.raises(ParameterError, match="static Python float"):
        jax.jit(lambda dt: jaxmf.simulate_network(BASE, n=50, t1=0.1, dt=dt, progress=False).r)(
            1e-3
        )


def test_results_print_values_and_statuses():
    res = jaxmf.simulate_network(BASE, n=50, t1=0.2, progress=False)
    text = repr(res)
    assert "status=ok" in text and "t=[0.1, 0.2]" in text and "n=50" in text
    assert res.dtype == np.float64


def test_step_bound_is_checked_at_run_time_for_traced_parameters():
    # The closed form of the traced bound equals the eager bisection.
    net = nw.make_network(BASE, 300)
    z_max = float(np.max(np.abs(np.asarray(net.z[0]))))
    eta_max = abs(float(BASE.eta_bar[0]) + float(BASE.delta_eta[0]) * z_max)
    for scheme in (jaxmf.EulerReset(), jaxmf.ExactPassage()):
        assert float(nw.traced_max_dt(scheme, BASE, net)) == pytest.approx(
            scheme.max_dt(BASE, eta_max), rel=1e-12
        )
    # dt = 5e-3 is refused eagerly; under jit it is flagged (throw=False) or fails at run time.
    run = lambda e, throw: jaxmf.simulate_network(
        BASE.replace(eta_bar=e), n=300, t1=0.1, dt=5e-3, record_every=10, throw=throw
    )
    status = jax.jit(lambda e: run(e, False).status)(0.12)
    assert status == RESULTS.out_of_domain
    with pytest.raises(Exception, match="stability bound"):
        jax.block_until_ready(jax.jit(lambda e: run(e, True).r)(0.12))


_SHARDED_SCRIPT = """
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp, numpy as np, jaxmf
from jaxmf import network as nw
assert len(jax.devices()) == 4
cases = [
    (nw.EulerReset(), 1e-3, jaxmf.presets.bursting(), 400, jnp.float64),
    (nw.MobiusPassage(), 2e-2, jaxmf.presets.two_population(), (320, 80), jnp.float32),
]
for scheme, dt, p, n, dtype in cases:
    kw = dict(n=n, t1=4.0, dt=dt, record_every=int(round(0.4 / dt)), scheme=scheme,
              dtype=dtype, progress=False)
    one = jaxmf.simulate_network(p, **kw)
    four = jaxmf.simulate_network(p, devices=4, **kw)
    assert four.state.v[0].sharding.spec == jax.sharding.PartitionSpec("neurons")
    for a, b in [(one.r, four.r), (one.s, four.s), *zip(one.state.v, four.state.v),
                 *zip(one.state.w, four.state.w)]:
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert float(np.sum(one.r)) > 0
    # <v>, <w>: sums of per-device sums, equal to rounding.
    np.testing.assert_allclose(four.w_mean, one.w_mean, rtol=4 * np.finfo(dtype).eps)
print("ok")
"""


@pytest.mark.slow  # ~7 CPU-s: a fresh interpreter with 4 fake devices compiling four runs
def test_network_split_across_four_devices_equals_one_device():
    # Fake CPU devices need the flag before JAX starts: a fresh interpreter. The spike counts
    # are psum'd integers, so the state, rates and s are bit-identical to the one-device run.
    run_on_fake_devices(_SHARDED_SCRIPT)


def test_devices_needs_divisible_populations_and_one_parameter_set():
    with pytest.raises(ParameterError, match="multiple of the 2 devices") as err:
        nw._neuron_mesh([jax.devices()[0]] * 1 + [jax.devices()[0]], (5,))
    assert err.value.name == "n"
    with pytest.raises(ParameterError, match="devices"):
        jaxmf.simulate_network(BASE, n=100, t1=1.0, devices=0, progress=False)
    with pytest.raises(ParameterError, match="without a raster"):
        jaxmf.simulate_network(BASE, n=100, t1=1.0, devices=1, raster=5, progress=False)
