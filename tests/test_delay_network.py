"""The delayed network started on a mean-field state (`init_from_meanfield`): the Lorentzian
(Ott-Antonsen) state and the delay line against their definitions, a network started on the
mean field's equilibrium staying there, and (slow) the network against the DDE mean field on the
delay-induced oscillation, with and without the mean field's closure w_i = <w> imposed."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmf
from jaxmf import presets
from jaxmf._results import RESULTS
from jaxmf.heterogeneity import lorentzian_quantiles
from jaxmf.meanfield import MeanFieldResult
from jaxmf.network import MobiusPassage, init_from_meanfield, make_network, step

DT = 1e-2


def _history(t):
    """A known past: s = 0.4 + 0.1 sin(t) (two populations: shifted by 0.05); r, v, w fixed."""
    s = jnp.stack([0.4 + 0.1 * jnp.sin(t), 0.45 + 0.1 * jnp.sin(t)])
    return (jnp.full(2, 0.1), jnp.full(2, -0.2), jnp.full(2, 0.05), s)


@pytest.mark.parametrize(
    "dtype",
    [jnp.float64, pytest.param(jnp.float32, marks=pytest.mark.slow)],  # compile: 2 CPU-s
)
def test_the_state_is_the_lorentzian_of_the_mean_field_and_the_line_its_history(dtype):
    p = presets.chen_campbell_2022(
        fractions=[0.5, 0.5], g=[[1.0, 0.5], [0.5, 1.0]], delay=[[0.03, 0.0], [0.07, 0.05]]
    )
    net = make_network(p, (501, 300))
    y = jaxmf.MeanFieldState(
        jnp.array([0.2, 0.05]),
        jnp.array([-0.3, 0.4]),
        jnp.array([0.1, 0.2]),
        jnp.array([0.4, 0.45]),
    )
    t0 = 2 * np.pi  # where the history's s is y's
    state = init_from_meanfield(
        net, p, y, jax.random.key(3), history=_history, t0=t0, dt=DT, dtype=dtype
    )
    tol = 1e-12 if dtype == jnp.float64 else 1e-5
    for m, size in enumerate(net.sizes):
        v = np.sort(np.asarray(state.v[m], float))
        # The Lorentzian's quantiles: centre v, half-width pi r, so the median is v and the
        # quartiles are v -+ pi r.
        want = float(y.v[m]) + np.pi * float(y.r[m]) * np.asarray(lorentzian_quantiles(size), float)
        np.testing.assert_allclose(v, want, rtol=tol, atol=tol)
        assert abs(np.median(v) - float(y.v[m])) < tol
        assert np.all(np.asarray(state.w[m]) == np.asarray(y.w[m], dtype))
        # Randomly assigned: v_i independent of eta_i (rank correlation within ~4 / sqrt(n)).
        rank_v = np.argsort(np.argsort(np.asarray(state.v[m])))
        rank_z = np.argsort(np.argsort(np.asarray(net.z[m])))
        assert abs(np.corrcoef(rank_v, rank_z)[0, 1]) < 4 / np.sqrt(size)
    assert state.v[0].dtype == dtype and state.past.s.dtype == dtype
    np.testing.assert_array_equal(np.asarray(state.s), np.asarray(y.s, dtype))
    # The line: s_k d steps back is the history at t0 - d dt, for every lag it serves (the
    # present, d = 0, is y's s, which the history also gives here).
    lags = np.arange(state.past.length)
    for d in lags:
        got = np.asarray(state.past.lagged(jnp.full((2, 2), d)))
        want = np.asarray(_history(jnp.asarray(t0 - d * DT, dtype))[3], dtype)
        np.testing.assert_allclose(got, np.broadcast_to(want, (2, 2)), rtol=tol, atol=tol)
    assert state.past.length == 8  # the longest delay, 0.07, is 7 steps


def test_a_saved_solution_gives_its_state_and_past_and_errors_are_named():
    p = presets.chen_campbell_2022(eta_bar=0.25, delay=0.05)
    net = make_network(p, 101)
    # A solution saved every dt (any arrays will do: only t, r, v, w, s are read).
    t = np.arange(0.0, 1.0 + 1e-9, DT)
    fields = {
        f: jnp.asarray(c + 0.1 * np.sin(t + c))[:, None] for f, c in zip("rvws", (1, 2, 3, 4))
    }
    sol = MeanFieldResult(
        t=jnp.asarray(t), **fields, status=RESULTS.successful, n_steps=0, model="chen_campbell"
    )
    state = init_from_meanfield(net, p, sol, jax.random.key(0), dt=DT)
    # The end of the solution and its saved s on the line's grid (to rounding: t0 - d dt).
    assert float(jnp.median(state.v[0])) == pytest.approx(float(sol.v[-1, 0]), abs=1e-12)
    assert np.all(np.asarray(state.w[0]) == float(sol.w[-1, 0]))
    for d in range(6):
        np.testing.assert_allclose(
            np.asarray(state.past.lagged(jnp.array([[d]]))),
            np.asarray(sol.s[-1 - d])[None],
            rtol=1e-13,
        )
    y = jaxmf.MeanFieldState(sol.r[-1], sol.v[-1], sol.w[-1], sol.s[-1])
    with pytest.raises(jaxmf.ParameterError, match="dt"):
        init_from_meanfield(net, p, y)
    with pytest.raises(jaxmf.ParameterError, match="covers"):
        init_from_meanfield(net, p, y, history=sol, t0=0.02, dt=DT)
    with pytest.raises(jaxmf.ParameterError, match="positive"):
        init_from_meanfield(net, p, y._replace(r=-sol.r[-1]), dt=DT)
    with pytest.raises(jaxmf.ParameterError, match="initial state has populations"):
        jaxmf.simulate_network(p, n=50, t1=0.1, dt=DT, initial=state, progress=False)
    with pytest.raises(jaxmf.ParameterError, match="initial"):
        jaxmf.simulate_network(p, t1=0.1, dt=DT, initial=state, resume=object(), progress=False)


@pytest.fixture(scope="module")
def on_equilibrium():
    """Delay 1 (below the Hopf delay 1.8649: the tonic equilibrium is stable), N = 2000,
    started on the equilibrium and run for 20 time units."""
    p = presets.chen_campbell_2022(eta_bar=0.25, delay=1.0)
    eq = jaxmf.meanfield_equilibria(p)
    y = jaxmf.MeanFieldState(eq.r[0], eq.v[0], eq.w[0], eq.s[0])
    net = make_network(p, 2000)
    initial = init_from_meanfield(net, p, y, jax.random.key(5), dt=DT)
    res = jaxmf.simulate_network(
        p, t1=20.0, dt=DT, record_every=100, scheme=MobiusPassage(), initial=initial, progress=False
    )
    return y, res


@pytest.mark.slow  # the delayed network's compile and the equilibrium's: about 10 CPU-s
def test_a_network_started_on_the_equilibrium_stays_there(on_equilibrium):
    y, res = on_equilibrium
    r, w = np.asarray(res.r[:, 0]), np.asarray(res.w_mean[:, 0])
    # The rate of 2000 neurons over 20 time units: about 4700 spikes, a sampling error of about
    # 1.5%; from rest the rate stays below 0.04 for 3 time units and then overshoots to 0.5.
    assert abs(r.mean() - float(y.r[0])) < 0.03 * float(y.r[0])
    assert abs(r[:3].mean() - float(y.r[0])) < 0.1 * float(y.r[0])
    # <w> moves only by the rate's fluctuations times w_jump (~1e-4 over a time unit).
    assert np.max(np.abs(w - float(y.w[0]))) < 2e-3
    assert abs(float(res.s[-1, 0]) - float(y.s[0])) < 0.05 * float(y.s[0])


@pytest.mark.slow  # N = 10^4 for 500 time units and a DDE solve to t = 1000: about a minute
def test_the_network_on_the_delay_induced_oscillation_matches_the_dde_mean_field():
    """Strong coupling, delay 3 (above the Hopf delay 1.8649): the DDE mean field's stable
    cycle and a network of 10^4 neurons started on it, compared over t in [250, 500]."""
    p = presets.chen_campbell_2022(eta_bar=0.25, delay=3.0)
    sol = jaxmf.solve_meanfield(p, t1=1000.0, ts=jnp.arange(0.0, 1000.0 + 1e-9, DT))
    n = 10_000
    initial = init_from_meanfield(make_network(p, n), p, sol, jax.random.key(7), dt=DT)
    net = jaxmf.simulate_network(
        p, t1=500.0, dt=DT, record_every=10, scheme=MobiusPassage(), initial=initial, progress=False
    )
    mf = jaxmf.solve_meanfield(p, t1=500.0, ts=np.asarray(net.t), history=_solution_history(sol))

    def stats(t, r, w, s):
        keep = t > 250.0
        t, r, w, s = t[keep], r[keep], w[keep], s[keep]
        up = np.nonzero((s[:-1] < s.mean()) & (s[1:] >= s.mean()))[0]
        return r.mean(), w.mean(), np.mean(np.diff(t[up]))

    t = np.asarray(net.t)
    got = stats(t, *(np.asarray(x[:, 0]) for x in (net.r, net.w_mean, net.s)))
    want = stats(t, *(np.asarray(x[:, 0]) for x in (mf.r, mf.w, mf.s)))
    assert want[2] == pytest.approx(7.4521, abs=2e-3)  # the collocation period (test_dde_cycles)
    # Measured (N = 10^4, float64): rate +0.4%, <w> +1.4%, period +1.0% (the network's w_i
    # spread, which the mean field's closure w_i = <w> ignores, relaxes over 1/a ~ 130).
    assert got[0] == pytest.approx(want[0], rel=0.02)
    assert got[1] == pytest.approx(want[1], rel=0.03)
    assert got[2] == pytest.approx(want[2], rel=0.02)


def _solution_history(sol):
    """A saved solution as a DDE history on its own clock shifted to end at t = 0."""
    t = jnp.asarray(sol.t) - sol.t[-1]
    return lambda tt: tuple(jnp.interp(tt, t, getattr(sol, f)[:, 0])[None] for f in "rvws")


def _closure_run(p, initial, t1, every=5):
    """The network with the mean field's closure imposed: after every step each neuron's w is
    replaced by the population mean <w> (the assumption under which the mean field is exact).
    Returns the record times, the rate and s."""
    network = make_network(p, initial.v[0].shape[0])
    n = network.sizes[0]
    scheme = MobiusPassage()

    def one(state, _):
        state, counts = step(p, network, state, DT, scheme)
        w = tuple(jnp.full_like(wk, jnp.mean(wk)) for wk in state.w)
        return eqx.tree_at(lambda q: q.w, state, w), counts[0]

    def record(state, _):
        state, counts = jax.lax.scan(one, state, None, length=every)
        return state, (jnp.sum(counts).astype(state.s.dtype) / (n * DT * every), state.s[0])

    n_rec = int(round(t1 / (DT * every)))
    _, (r, s) = jax.jit(lambda st: jax.lax.scan(record, st, None, length=n_rec))(initial)
    return (np.arange(n_rec) + 1) * DT * every, np.asarray(r), np.asarray(s)


@pytest.mark.slow  # N = 10^4 for 1000 time units and a DDE solve to t = 2000: about 5 CPU-s
def test_with_the_closure_imposed_the_network_keeps_the_dde_period():
    """The network's 1% offset from the DDE mean field on the delay-induced oscillation (delay 3)
    is the closure w_i = <w>: imposed on the network, the offset goes (notebook 13, section 5)."""
    p = presets.chen_campbell_2022(eta_bar=0.25, delay=3.0)
    ts = jnp.arange(0.0, 2000.0 + 1e-9, DT)
    sol = jaxmf.solve_meanfield(p, t1=2000.0, ts=ts)
    upto = np.asarray(ts) <= 1000.0 + 1e-9
    past = MeanFieldResult(
        t=sol.t[upto],
        r=sol.r[upto],
        v=sol.v[upto],
        w=sol.w[upto],
        s=sol.s[upto],
        status=sol.status,
        n_steps=sol.n_steps,
        model=sol.model,
    )
    initial = init_from_meanfield(make_network(p, 10_000), p, past, jax.random.key(7), dt=DT)
    t, r, s = _closure_run(p, initial, 1000.0)

    def period(t, s):
        up = np.nonzero((s[:-1] < s.mean()) & (s[1:] >= s.mean()))[0]
        c = t[up] + (s.mean() - s[up]) / (s[up + 1] - s[up]) * (t[up + 1] - t[up])
        return (c[-1] - c[0]) / (len(c) - 1)

    keep = t > 200.0
    mf = np.asarray(ts) > 1200.0
    want = period(np.asarray(ts)[mf], np.asarray(sol.s[:, 0])[mf])
    assert want == pytest.approx(7.4521, abs=2e-3)  # the collocation period (test_dde_cycles)
    # Measured: 7.45054 (-0.02%; a delay offset of one step would move it by 0.0058, 0.08%),
    # rate 0.13041; without the closure 7.524 (+1.0%).
    assert period(t[keep], s[keep]) == pytest.approx(want, rel=5e-4)
    assert r[keep].mean() == pytest.approx(float(np.mean(sol.r[mf, 0])), rel=5e-3)
