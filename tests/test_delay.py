"""Synaptic delays: the delayed network against a plain NumPy loop that keeps every past s, the
zero delay against the undelayed model bit for bit, the DDE mean field against a fixed-step
reference and finite differences, and the stability of equilibria against Lambert W and the
undelayed eigenvalues."""

import json

import jax
import jax.numpy as jnp
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


@pytest.mark.slow  # a third network compilation (~2 CPU-s) for error messages
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


def meanfield_rhs(p, y, s_past):
    """The delayed mean field (one population) written out: s read tau in the past."""
    r, v, w, s = y
    g, f = p["g"][0, 0], p["fractions"][0]
    gs = g * f * s_past
    return np.array(
        [
            p["delta_eta"][0] / np.pi + 2 * r * v - r * (p["alpha"][0] + gs),
            v * v
            - p["alpha"][0] * v
            - (np.pi * r) ** 2
            + gs * p["e_r"][0]
            - gs * v
            - w
            + p["eta_bar"][0]
            + p["i_ext"][0],
            p["a"][0] * (p["b"][0] * v - w) + p["w_jump"][0] * r,
            -s / p["tau_s"][0] + p["s_jump"][0] * r,
        ]
    )


def rk4_method_of_steps(params, t1, per_delay):
    """Classical RK4 with h = tau / per_delay from the all-zero state and history: the lagged
    s sits on the grid at the step ends and is the cubic Hermite midpoint value at the
    half steps (fourth order, like the steps)."""
    p = jax_free(params)
    tau = float(p["delay"][0, 0])
    h = tau / per_delay
    n = int(round(t1 / h))
    ys, fs = [np.zeros(4)], []
    for i in range(n):
        lag = i - per_delay

        def past(j):
            return (ys[j], fs[j]) if j >= 0 else (np.zeros(4), np.zeros(4))

        y0, f0 = past(lag)
        y1, f1 = past(lag + 1)
        s_start, s_end = y0[3], y1[3]
        s_mid = (s_start + s_end) / 2 + h * (f0[3] - f1[3]) / 8
        y = ys[i]
        k1 = meanfield_rhs(p, y, s_start)
        k2 = meanfield_rhs(p, y + h / 2 * k1, s_mid)
        k3 = meanfield_rhs(p, y + h / 2 * k2, s_mid)
        k4 = meanfield_rhs(p, y + h * k3, s_end)
        fs.append(k1)
        ys.append(y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4))
    # Before t = 0 the history is constant: its derivative there is 0, which `past` supplies.
    return np.arange(n + 1) * h, np.array(ys)


@pytest.fixture(scope="module")
def bursting_delayed():
    return presets.chen_campbell_2022(eta_bar=0.12, delay=2.0)


@pytest.mark.slow  # the DDE solve's compilation and a 12 000-step Python RK4 loop ~10 CPU-s
def test_delayed_meanfield_matches_a_fixed_step_reference(bursting_delayed):
    """The adaptive method of steps against RK4 with 400 steps per delay (h = 0.005): the
    same trajectory to 1e-8 over 60 time units, through the derivative jumps at multiples of
    the delay."""
    t, ref = rk4_method_of_steps(bursting_delayed, 60.0, 400)
    every = 200
    res = jaxmf.solve_meanfield(bursting_delayed, t1=60.0, ts=t[::every], rtol=1e-11, atol=1e-13)
    got = np.stack([np.asarray(x)[:, 0] for x in (res.r, res.v, res.w, res.s)], axis=1)
    np.testing.assert_allclose(got, ref[::every], rtol=0, atol=1e-8)
    assert res.status == jaxmf.RESULTS.successful
    undelayed = jaxmf.solve_meanfield(bursting_delayed.replace(delay=None), t1=60.0, ts=t[::every])
    assert np.max(np.abs(np.asarray(undelayed.s)[:, 0] - ref[::every, 3])) > 1e-2


@pytest.mark.slow  # a reverse-mode solve builds a forward-mode Jacobian (~40 CPU-s to compile)
def test_gradient_in_delay_and_eta_bar_matches_finite_differences():
    import jax

    def rate(eta_bar, tau):
        p = presets.chen_campbell_2022(eta_bar=eta_bar, delay=tau)
        return jaxmf.solve_meanfield(p, t1=50.0, ts=np.array([50.0])).r[-1, 0]

    grad = jax.grad(rate, argnums=(0, 1))(0.25, 2.0)
    fwd = jax.jacfwd(rate, argnums=(0, 1))(0.25, 2.0)
    eps = 1e-5
    fd = (
        (rate(0.25 + eps, 2.0) - rate(0.25 - eps, 2.0)) / (2 * eps),
        (rate(0.25, 2.0 + eps) - rate(0.25, 2.0 - eps)) / (2 * eps),
    )
    for g, f, d in zip(grad, fwd, fd):
        assert abs(float(g) - float(d)) < 1e-5 * max(1.0, abs(float(d)))
        assert abs(float(g) - float(f)) < 1e-10 * max(1.0, abs(float(f)))


@pytest.mark.slow  # vmapped compilations of the DDE solve and its gradient ~15 CPU-s
def test_vmap_over_delays_equals_the_loop():
    import jax

    def final(tau):
        p = presets.chen_campbell_2022(eta_bar=0.25, delay=tau)
        return jaxmf.solve_meanfield(p, t1=40.0, ts=np.array([20.0, 40.0])).r[:, 0]

    taus = np.array([0.5, 1.5, 3.0])
    # The batch steps in lockstep (each lane's own accepted steps): values and gradients in
    # the delay equal the single solves' up to rounding.
    batch = jax.vmap(final)(taus)
    for i, tau in enumerate(taus):
        np.testing.assert_allclose(np.asarray(batch[i]), np.asarray(final(tau)), rtol=1e-9)
    slope = lambda tau: jax.grad(lambda t: final(t)[-1])(tau)
    slopes = jax.vmap(slope)(taus)
    for i, tau in enumerate(taus):
        assert abs(float(slopes[i]) - float(slope(tau))) <= 1e-9 * max(1.0, abs(float(slope(tau))))


@pytest.mark.slow  # equilibria and characteristic roots compile ~12 CPU-s
def test_equilibria_eigenvalues_tend_to_the_undelayed_as_delay_goes_to_zero():
    p = presets.chen_campbell_2022(eta_bar=0.25)
    plain = np.asarray(jaxmf.meanfield_equilibria(p).eigenvalues[0])
    for tau in (1e-2, 1e-3):
        delayed = np.asarray(jaxmf.meanfield_equilibria(p.replace(delay=tau)).eigenvalues[0])
        # Each root moves by O(tau) from the undelayed eigenvalue.
        gap = max(np.min(np.abs(delayed - z)) for z in plain)
        assert gap < 2 * tau
    zero = jaxmf.meanfield_equilibria(p.replace(delay=0.0))
    np.testing.assert_array_equal(
        np.asarray(zero.eigenvalues), np.asarray(jaxmf.meanfield_equilibria(p).eigenvalues)
    )


def cooke_grossman_hopf_delays(a0, a1, tau_max):
    """Hopf delays of det(lambda I - A0 - A1 e^{-lambda tau}) = p0 + p1 e^{-lambda tau} (A1 of
    rank one): at lambda = i omega, |p0| = |p1| fixes omega, and e^{-i omega tau} = -p0 / p1
    the delays tau = (phi + 2 pi k) / omega."""
    n = a0.shape[0]
    p0 = lambda lam: np.linalg.det(lam * np.eye(n) - a0)
    p1 = lambda lam: np.linalg.det(lam * np.eye(n) - a0 - a1) - p0(lam)
    gap = lambda om: abs(p0(1j * om)) - abs(p1(1j * om))
    grid = np.linspace(1e-4, 5.0, 20001)
    vals = np.array([gap(x) for x in grid])
    out = []
    for i in np.nonzero(np.sign(vals[:-1]) != np.sign(vals[1:]))[0]:
        lo, hi = grid[i], grid[i + 1]
        for _ in range(100):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if np.sign(gap(mid)) == np.sign(gap(lo)) else (lo, mid)
        om = (lo + hi) / 2
        phi = np.mod(-np.angle(-p0(1j * om) / p1(1j * om)), 2 * np.pi)
        out += [
            ((phi + 2 * np.pi * k) / om, om)
            for k in range(10)
            if phi + 2 * np.pi * k < om * tau_max
        ]
    return sorted(out)


@pytest.mark.slow  # roots on 101- and 26-point grids and the Hopf Newton compile ~12 CPU-s
def test_hopf_delays_match_the_closed_form_of_the_crossing():
    from jaxmf.dde_bifurcation import continue_delay
    from jaxmf.delay import delayed_jacobians

    p = presets.chen_campbell_2022(eta_bar=0.25)
    branch = continue_delay(p, bounds=(0.0, 10.0), points=101)
    x = branch.states[0]
    a0, a1 = (np.asarray(m) for m in delayed_jacobians(x, p.replace(delay=1.0)))
    expected = cooke_grossman_hopf_delays(a0, a1[0], 10.0)
    found = sorted((float(sp.value), float(sp.frequency)) for sp in branch.special_points)
    assert len(found) == len(expected) >= 2
    for (tau, om), (tau_e, om_e) in zip(found, expected):
        assert abs(tau - tau_e) < 1e-9 and abs(om - om_e) < 1e-9
    assert all(sp.converged for sp in branch.special_points)
    first = min(branch.special_points, key=lambda sp: float(sp.value))
    assert first.data["direction"] == 1  # the tonic state loses stability as the delay grows
    stable = np.asarray(branch.stable)
    assert stable[0] and not stable[np.searchsorted(np.asarray(branch.values[:, 0]), 2.0)]
    # On a coarse grid (spacing 0.4, the crossings at 9.09 and 9.42 in neighbouring intervals)
    # the intervals whose crossing Newton cannot refine are scanned again on finer grids.
    coarse = continue_delay(p, bounds=(0.0, 10.0), points=26)
    found = sorted((float(sp.value), float(sp.frequency)) for sp in coarse.special_points)
    assert len(found) == len(expected) and all(sp.converged for sp in coarse.special_points)
    for (tau, om), (tau_e, om_e) in zip(found, expected):
        assert abs(tau - tau_e) < 1e-9 and abs(om - om_e) < 1e-9


def test_code_without_the_delayed_model_refuses_a_delay_instead_of_ignoring_it():
    p = jaxmf.presets.chen_campbell_2022(eta_bar=0.25, delay=2.0)
    with pytest.raises(jaxmf.ParameterError, match="delay"):
        jaxmf.continue_equilibria(p, "eta_bar", (0.2, 0.3))
    with pytest.raises(jaxmf.ParameterError, match="delay"):
        jaxmf.simulate_theta(p, t1=1.0, record_every=10)
    with pytest.raises(jaxmf.ParameterError, match="dde_cycles"):
        jaxmf.continue_cycles(p, None, "eta_bar", (0.2, 0.3))
    with pytest.raises(jaxmf.ParameterError, match="sparse connectivity"):
        jaxmf.simulate_network(
            p.replace(delay=0.002), n=50, t1=1.0, connectivity=jaxmf.FixedInDegree(k=5)
        )


def linear_hopf_curve(a, b_start, bounds_b, branch=0):
    """The Hopf curve of x' = a x + b x(t - tau) in (tau, b) from the crossing on `branch`."""
    from jaxmf.bifurcation import SpecialPoint

    omega = np.sqrt(b_start**2 - a**2)
    tau0 = (np.arccos(-a / b_start) + 2 * np.pi * branch) / omega
    p = {"a": a, "b": b_start, "tau": tau0}
    hopf = SpecialPoint(
        kind="hopf", param=("tau",), value=tau0, state=np.zeros(1), params=p, frequency=omega
    )
    return jaxmf.continue_delay_hopf(
        p,
        hopf,
        ("tau", "b"),
        ((0.0, 30.0), bounds_b),
        vector_field=lambda x, lag, q: q["a"] * x + q["b"] * lag[0],
        delays=lambda q: q["tau"][None],
    )


@pytest.mark.slow  # two curves, the corrector and the characteristic roots compile ~8 CPU-s
def test_hopf_curve_of_the_scalar_dde_is_the_closed_form():
    # Hayes / Cooke-Grossman: at lambda = i omega, a + b cos(omega tau) = 0 and
    # omega = -b sin(omega tau), so omega = sqrt(b^2 - a^2), tau = (arccos(-a/b) + 2 pi k)/omega.
    a = -1.0
    for branch in (0, 1):
        curve = linear_hopf_curve(a, -2.0, (-4.0, -1.2), branch)
        tau, b = np.asarray(curve.values).T
        omega = np.sqrt(b**2 - a**2)
        assert len(tau) > 10 and np.ptp(b) > 2.7  # from bound to bound
        assert np.max(np.abs(tau - (np.arccos(-a / b) + 2 * np.pi * branch) / omega)) < 1e-8
        assert np.max(np.abs(np.asarray(curve.data["omega"]) - omega)) < 1e-8
        # The first crossing leaves every other root in the left half plane; on the second,
        # the first pair is already unstable.
        stable = np.asarray(curve.stable)
        assert (np.all(stable), np.any(stable)) == ((True, True) if branch == 0 else (False, False))
        assert curve.special_points == ()


@pytest.fixture(scope="module")
def delayed_hopf_curves():
    p = presets.chen_campbell_2022(eta_bar=0.25)
    hopf = jaxmf.continue_delay(p, bounds=(0.0, 10.0), points=101).special_points
    curves = [
        jaxmf.continue_delay_hopf(p, sp, ("delay", "eta_bar"), ((0.0, 10.0), (0.0, 0.5)))
        for sp in hopf
    ]
    return p, hopf, curves


@pytest.mark.slow  # three curves, roots along them and continue_delay at 4 eta_bar ~60 CPU-s
def test_delayed_meanfield_hopf_curve_agrees_with_one_parameter_hopf_points(
    delayed_hopf_curves,
):
    from jaxmf.dde import characteristic_roots
    from jaxmf.delay import delayed_jacobians

    p, hopf, curves = delayed_hopf_curves
    first = curves[0]
    values, omega = np.asarray(first.values), np.asarray(first.data["omega"])
    # The curve passes through the point it started from.
    start = np.array([float(hopf[0].value), 0.25])
    assert np.min(np.linalg.norm(values - start, axis=1)) < 1e-12
    for i in np.linspace(0, len(values) - 1, 4).astype(int):
        tau, eta = values[i]
        q = p.replace(eta_bar=eta, delay=tau)
        eq = jaxmf.meanfield_equilibria(q.replace(delay=None))
        x = np.concatenate([eq.r[0], eq.v[0], eq.w[0], eq.s[0]])
        assert np.max(np.abs(x - np.asarray(first.states[i]))) < 1e-10
        a0, a1 = delayed_jacobians(x, q)
        roots = characteristic_roots(a0, a1, np.reshape(tau, (1,)), n_roots=6)
        on_axis = roots[np.abs(roots.real) < 1e-8]
        assert np.allclose(np.sort(on_axis.imag), [-omega[i], omega[i]], atol=1e-8)
        # The one-parameter continuation at this eta_bar finds the same point.
        branch = jaxmf.continue_delay(
            p.replace(eta_bar=eta), bounds=(max(tau - 0.5, 0.0), tau + 0.5), points=21
        )
        taus = [float(sp.value) for sp in branch.special_points]
        k = int(np.argmin(np.abs(np.array(taus) - tau)))
        assert abs(taus[k] - tau) < 1e-8
        assert abs(float(branch.special_points[k].frequency) - omega[i]) < 1e-8
    # The curves from the second and third Hopf points cross at one double-Hopf point, found
    # on each with the two frequencies swapped.
    (hh2,), (hh3,) = curves[1].special_points, curves[2].special_points
    assert hh2.kind == hh3.kind == "hh" and hh2.converged and hh3.converged
    assert np.max(np.abs(np.asarray(hh2.value) - np.asarray(hh3.value))) < 1e-8
    assert abs(float(hh2.frequency) - hh3.data["omega2"]) < 1e-8
    assert abs(float(hh3.frequency) - hh2.data["omega2"]) < 1e-8


def test_sweep_network_model_sizes_its_spike_buffer_from_the_grid():
    # No compilation: prepare only builds the network and checks the step.
    p = presets.chen_campbell_2022(eta_bar=0.25)
    model = jaxmf.NetworkModel(t1=2.0, n=50, transient=1.0)
    grid = jaxmf.Grid.points(delay=[0.0, 0.004, 0.002])
    net, line = model.prepare(p, 0, grid)
    assert line.length - 1 == 4  # the longest delay, 0.004 / dt steps
    _, line = model.prepare(p.replace(delay=0.007), 0, jaxmf.Grid.points(eta_bar=[0.2]))
    assert line.length - 1 == 7
    # A zero delay that the grid does not vary is the undelayed network: no buffer.
    plain = model.prepare(p.replace(delay=0.0), 0, jaxmf.Grid.points(eta_bar=[0.2]))
    assert not isinstance(plain, tuple) and plain.n == net.n
    with pytest.raises(jaxmf.ParameterError, match="multiple|whole number"):
        model.prepare(p, 0, jaxmf.Grid.points(delay=[0.0015]))


def _same_dataset(a, b):
    return list(a.data_vars) == list(b.data_vars) and all(
        np.array_equal(a[k].values, b[k].values, equal_nan=a[k].dtype.kind == "f")
        for k in a.data_vars
    )


@pytest.mark.slow  # four sweeps and three networks compile ~25 CPU-s
def test_sweep_over_delay_matches_single_runs_and_zero_delay_is_no_delay():
    p = presets.chen_campbell_2022(eta_bar=0.25)
    grid = jaxmf.Grid.product(eta_bar=[0.1, 0.25])
    for model, options in (("meanfield", dict(t1=50.0)), ("network", dict(t1=4.0, n=100))):
        plain = jaxmf.sweep(p, grid, model, progress=False, **options)
        zero = jaxmf.sweep(p.replace(delay=0.0), grid, model, progress=False, **options)
        assert _same_dataset(plain, zero)
    delays = [0.0, 0.5, 2.0]
    net = jaxmf.sweep(
        p, jaxmf.Grid.product(delay=delays), "network", t1=10.0, n=100, transient=2.0,
        progress=False,
    )  # fmt: skip
    mf = jaxmf.sweep(
        p, jaxmf.Grid.product(delay=delays), "meanfield", t1=100.0, transient=50.0, progress=False
    )
    for i, d in enumerate(delays):
        run = jaxmf.simulate_network(p.replace(delay=d), n=100, t1=10.0, progress=False)
        r = np.asarray(run.r, np.float64)[20:]  # bins of 0.1 after the transient 2.0
        assert abs(float(net["r_mean"].values[i]) - r.mean()) < 1e-6 * r.mean()
        # The sweep solves the DDE (delay 0 too) at rtol 1e-6: equal to that accuracy.
        grid_model = jaxmf.MeanFieldModel(t1=100.0, transient=50.0)
        ts = jnp.linspace(grid_model.start, 100.0, grid_model.n_save)
        sol = jaxmf.solve_meanfield(p.replace(delay=d), t1=100.0, ts=ts)
        assert abs(float(mf["r_mean"].values[i]) - float(sol.r.mean())) < 1e-5 * float(sol.r.mean())
    # The delay acts: the network's rate moves with it (the undelayed run ignored it before).
    assert np.ptp(net["r_mean"].values) > 0.01 and np.ptp(mf["r_mean"].values) > 1e-3


@pytest.mark.slow  # three networks and the DDE mean field compile ~25 CPU-s
def test_compare_with_a_delay_runs_the_dde_and_zero_delay_is_no_delay():
    p = presets.chen_campbell_2022(eta_bar=0.25)
    kw = dict(n=200, t1=20.0, progress=False)
    plain, zero = jaxmf.compare(p, **kw), jaxmf.compare(p.replace(delay=0.0), **kw)
    pairs = [(plain.network.r, zero.network.r), (plain.network.s, zero.network.s)] + [
        (getattr(plain.meanfield["chen_campbell"], k), getattr(zero.meanfield["chen_campbell"], k))
        for k in ("r", "v", "w", "s")
    ]
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in pairs)
    assert plain.metrics.keys() == zero.metrics.keys()
    same = lambda a, b: a == b or (a != a and b != b)  # NaN equals NaN here
    assert all(same(plain.metrics[k], zero.metrics[k]) for k in plain.metrics)
    q = p.replace(delay=1.0)
    cmp = jaxmf.compare(q, n=1000, t1=60.0, progress=False)
    mf = cmp.meanfield["chen_campbell"]
    ref = jaxmf.solve_meanfield(q, t1=60.0, ts=mf.t)
    assert np.max(np.abs(np.asarray(mf.r) - np.asarray(ref.r))) < 1e-10
    # Below the first Hopf delay (1.865) the tonic state is stable: rates agree within a few %.
    assert cmp.metrics["rel_err_r_mean"] < 0.05


@pytest.mark.slow  # the fit loop through the DDE solve and its VJP compiles ~15 CPU-s
def test_fit_recovers_a_delay_and_a_zero_delay_fits_as_no_delay():
    import optax

    p = presets.chen_campbell_2022(eta_bar=0.25, delay=2.5)
    ts = jnp.arange(0.0, 40.5, 0.5)
    truth = jaxmf.solve_meanfield(p, t1=40.0, ts=ts)
    target = jaxmf.BurstTarget.from_trace(truth.t, truth.r, transient=0.0)
    res = jaxmf.fit(
        p.replace(delay=2.4), target, free=("delay",), n_starts=1, steps=40, max_steps=5000,
        loss=jaxmf.trace_mse, optimizer=optax.adam(0.01),
    )  # fmt: skip
    assert abs(float(np.ravel(res.best_params.delay)[0]) - 2.5) < 0.01
    assert float(res.final_loss[0]) < 1e-3 * float(np.ravel(res.loss_history)[0])
    q = presets.chen_campbell_2022(eta_bar=0.25)
    undelayed = jaxmf.solve_meanfield(q, t1=40.0, ts=ts)
    target = jaxmf.BurstTarget.from_trace(undelayed.t, undelayed.r, transient=0.0)
    kw = dict(free=("eta_bar",), n_starts=2, steps=3, loss=jaxmf.trace_mse, key=jax.random.key(1))
    plain = jaxmf.fit(q.replace(eta_bar=0.3), target, **kw)
    zero = jaxmf.fit(q.replace(eta_bar=0.3, delay=0.0), target, **kw)
    assert np.array_equal(np.asarray(plain.loss_history), np.asarray(zero.loss_history))
    assert np.array_equal(
        np.asarray(plain.best_params.eta_bar), np.asarray(zero.best_params.eta_bar)
    )
    assert float(np.ravel(zero.best_params.delay)[0]) == 0.0  # the result keeps the given delay


@pytest.mark.slow  # three CLI mean-field runs compile ~20 CPU-s
def test_cli_set_delay(tmp_path):
    from jaxmf.cli import main

    args = ["meanfield", "--preset", "tonic", "--t1", "20", "--quiet", "--no-plot"]
    out = {}
    for name, extra in (
        ("none", []),
        ("zero", ["--set", "delay=0"]),
        ("two", ["--set", "delay=2"]),
    ):
        assert main([*args, *extra, "--out", str(tmp_path / name)]) == 0
        with np.load(tmp_path / name / "meanfield.npz") as f:
            out[name] = {k: f[k] for k in ("t", "r", "v", "w", "s")}
    assert all(np.array_equal(out["none"][k], out["zero"][k]) for k in out["none"])
    meta = json.loads((tmp_path / "two" / "meanfield.json").read_text())
    assert meta["params"]["delay"] == [[2.0]]
    p = presets.tonic(delay=2.0)
    ref = jaxmf.solve_meanfield(p, t1=20.0, ts=jnp.asarray(out["two"]["t"]))
    np.testing.assert_allclose(out["two"]["r"], np.asarray(ref.r), rtol=0, atol=1e-12)
    assert not np.allclose(out["two"]["r"], out["none"]["r"])  # the delay acts
