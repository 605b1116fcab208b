"""Limit-cycle continuation (jaxmf.cycles) against closed forms and direct simulation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmf import presets
from jaxmf._results import RESULTS
from jaxmf.bifurcation import Branch, ContinuationError, SpecialPoint
from jaxmf.cycles import (
    continue_cycles,
    cycle_at,
    cycle_from_trajectory,
    meanfield_vector_field,
    refine_hopf,
)
from jaxmf.meanfield import MeanFieldState, meanfield_equilibria, solve_meanfield


def stuart_landau(x, p):
    """Hopf normal form, supercritical: radius sqrt(mu), period 2 pi / omega."""
    r2 = x[0] ** 2 + x[1] ** 2
    return jnp.stack(
        [
            p["mu"] * x[0] - p["omega"] * x[1] - x[0] * r2,
            p["omega"] * x[0] + p["mu"] * x[1] - x[1] * r2,
        ]
    )


def bautin(x, p, xp=jnp):
    """r' = (mu + r^2 - r^4) r, theta' = omega: subcritical Hopf at mu = 0, fold of cycles at
    mu = -1/4 (r^2 = 1/2); cycles r^2 = (1 +- sqrt(1 + 4 mu)) / 2."""
    r2 = x[0] ** 2 + x[1] ** 2
    g = p["mu"] + r2 - r2 * r2
    return xp.stack([g * x[0] - p["omega"] * x[1], p["omega"] * x[0] + g * x[1]])


def stuart_landau_stiff(x, p):
    """Stuart-Landau plus decoupled stable directions: one real (rate 20) and a complex pair
    (rate 40, frequency 1.3). Over the period pi their multipliers are e^-20pi ~ 1e-27 and
    e^((-40 +- 1.3i) pi) ~ 1e-55: a test of multipliers over many decades."""
    return jnp.concatenate(
        [
            stuart_landau(x[:2], p),
            jnp.stack([-20.0 * x[2], -40.0 * x[3] - 1.3 * x[4], 1.3 * x[3] - 40.0 * x[4]]),
        ]
    )


def hopf_at_origin(params, name, n, omega):
    """The Hopf point of the normal forms below, known exactly: x = 0 at mu = 0 (or the given
    parameter value), frequency omega. (`refine_hopf` is tested on the Bogdanov-Takens form.)"""
    return SpecialPoint(
        kind="hopf",
        param=(name,),
        value=jnp.asarray(params[name]),
        state=jnp.zeros(n),
        params=params,
        frequency=jnp.asarray(omega),
    )


def _trivial(mult):
    mult = np.asarray(mult)
    return mult[np.arange(len(mult)), np.argmin(np.abs(mult - 1), axis=1)]


@pytest.mark.slow  # the Bautin tests check the collocation against closed forms
def test_stuart_landau_radius_period_multipliers():
    params = {"mu": jnp.asarray(0.0), "omega": jnp.asarray(2.0)}
    hopf = hopf_at_origin(params, "mu", 5, 2.0)
    branch = continue_cycles(
        params, hopf, bounds=(-1.0, 0.3), vector_field=stuart_landau_stiff, ntst=80, ds=0.05
    )
    assert isinstance(branch, Branch) and branch.kind == "cycle" and len(branch) > 5
    assert branch.status == RESULTS.successful and "left bounds" in branch.message
    mu = np.asarray(branch.values)[:, 0]
    assert np.all(mu > 0)  # supercritical: cycles exist for mu > 0
    # Collocation at Gauss points is superconvergent: the radius and period are exact to ~1e-10.
    np.testing.assert_allclose(np.asarray(branch.maxima)[:, 0], np.sqrt(mu), atol=1e-9)
    np.testing.assert_allclose(np.asarray(branch.minima)[:, 1], -np.sqrt(mu), atol=1e-9)
    np.testing.assert_allclose(np.asarray(branch.period), np.pi, rtol=1e-9)
    assert np.all(np.asarray(branch.stable))
    # Multipliers over ~55 decades: 1, e^(-2 mu pi), e^(-20 pi), e^((-40 +- 1.3i) pi).
    mult = np.asarray(branch.eigenvalues)
    np.testing.assert_allclose(mult[:, 0], 1.0, atol=1e-9)
    np.testing.assert_allclose(mult[:, 1].real, np.exp(-2 * mu * np.pi), rtol=1e-6)
    np.testing.assert_allclose(mult[:, 2].real, np.exp(-20 * np.pi), rtol=1e-5)
    pair = mult[:, 3:][np.arange(len(mu))[:, None], np.argsort(mult[:, 3:].imag, axis=1)]
    want = np.exp((-40 + 1.3j) * np.pi)
    # (rtol: collocation error of the fast rate-40 mode, h * 40 ~ 0.3 per interval.)
    np.testing.assert_allclose(pair, np.broadcast_to([want, np.conj(want)], pair.shape), rtol=1e-3)


def test_bautin_fold_of_cycles():
    params = {"mu": jnp.asarray(0.0), "omega": jnp.asarray(1.0)}
    hopf = hopf_at_origin(params, "mu", 2, 1.0)
    branch = continue_cycles(
        params, hopf, bounds=(-1.0, 0.5), vector_field=bautin, ntst=20, ds=0.05
    )
    lpc = [sp for sp in branch.special_points if sp.kind == "lpc"]
    assert len(lpc) == 1
    assert abs(float(lpc[0].value) + 0.25) < 1e-8
    np.testing.assert_allclose(float(lpc[0].period), 2 * np.pi, rtol=1e-9)
    mu = np.asarray(branch.values)[:, 0]
    r = np.asarray(branch.maxima)[:, 0]
    stable = np.asarray(branch.stable)
    # Small cycles (r^2 < 1/2) are unstable, large ones stable; radius from the closed form.
    assert np.all(stable == (r**2 > 0.5))
    root = np.sqrt(1 + 4 * mu)
    np.testing.assert_allclose(r**2, np.where(stable, (1 + root) / 2, (1 - root) / 2), atol=1e-8)


def bogdanov_takens(x, p):
    """x' = y, y' = b1 + b2 x + x^2 - x y (Kuznetsov, section 8.4): Hopf at b1 = 0 (b2 < 0),
    homoclinic orbit at b1 = -(6/25) b2^2 + o(b2^2)."""
    return jnp.stack([x[1], p["b1"] + p["b2"] * x[0] + x[0] ** 2 - x[0] * x[1]])


def test_period_blow_up_at_homoclinic():
    params = {"b1": jnp.asarray(0.0), "b2": jnp.asarray(-0.1)}
    hopf = refine_hopf(params, "b1", jnp.asarray([0.01, -0.02]), vector_field=bogdanov_takens)
    assert hopf.converged and abs(float(hopf.value)) < 1e-12
    np.testing.assert_allclose(np.asarray(hopf.state), 0.0, atol=1e-12)
    t_hopf = 2 * np.pi / float(hopf.frequency)
    np.testing.assert_allclose(t_hopf, 2 * np.pi / np.sqrt(0.1), rtol=1e-12)
    branch = continue_cycles(params, hopf, vector_field=bogdanov_takens, ntst=40, ds=0.01)
    assert [sp.kind for sp in branch.special_points] == ["homoclinic"]
    assert branch.status == RESULTS.successful and "homoclinic" in branch.message
    hom = branch.special_points[0]
    assert float(hom.period) > 25 * t_hopf
    # Leading-order asymptotics; the o(b2^2) correction is ~1% at b2 = -0.1.
    np.testing.assert_allclose(float(hom.value), -6 / 25 * 0.01, rtol=0.03)
    np.testing.assert_allclose(float(branch.period[0]), t_hopf, rtol=1e-3)


def stuart_landau_on_params(x, p):
    """Stuart-Landau with mu = 0.05 - w_jump: a user vector field over `Params`. Its cycles
    (radius sqrt(mu), period 2 pi) grow as w_jump falls towards the edge of its valid domain,
    w_jump = 0."""
    mu = 0.05 - p.w_jump[0]
    r2 = x[0] ** 2 + x[1] ** 2
    return jnp.stack([mu * x[0] - x[1] - x[0] * r2, x[0] + mu * x[1] - x[1] * r2])


def test_cycles_stop_at_the_edge_of_the_domain(capsys):
    params = presets.chen_campbell_2022(rounded=True, w_jump=0.05)
    hopf = SpecialPoint(
        kind="hopf",
        param=("w_jump",),
        value=jnp.asarray(0.05),
        state=jnp.zeros(2),
        params=params,
        frequency=jnp.asarray(1.0),
    )
    kw = dict(vector_field=stuart_landau_on_params, ntst=10, ds=0.02, ds_max=0.02)
    branch = continue_cycles(params, hopf, bounds=(-1.0, 1.0), progress=True, **kw)
    w = np.asarray(branch.values)[:, 0]
    assert branch.status == RESULTS.out_of_domain and "w_jump" in branch.message
    assert np.all(w >= 0) and w.min() < 0.01
    np.testing.assert_allclose(np.asarray(branch.maxima)[:, 0], np.sqrt(0.05 - w), atol=1e-6)
    assert "cycles in w_jump" in capsys.readouterr().err
    # Newton that cannot converge (one iteration to a tolerance below rounding): no cycle at all.
    bad = dict(kw, tol=1e-30, max_iter=1)
    with pytest.raises(ContinuationError, match="no cycle converged") as err:
        continue_cycles(params, hopf, bounds=(-1.0, 1.0), **bad)
    assert err.value.result.status == RESULTS.not_converged and len(err.value.result) == 0
    failed = continue_cycles(params, hopf, bounds=(-1.0, 1.0), throw=False, **bad)
    assert failed.status == RESULTS.not_converged


def rossler(x, p):
    """Rossler system, a = b = 0.2: Hopf at c = 0.4, first period doubling at c = 2.8324."""
    return jnp.stack([-x[1] - x[2], x[0] + 0.2 * x[1], 0.2 + x[2] * (x[0] - p["c"])])


@pytest.mark.slow
def test_period_doubling_rossler():
    z = 1.0  # equilibrium at c = 0.4: x = 0.2 z, y = -z, 0.2 + z (0.2 z - 0.4) = 0
    hopf = refine_hopf(
        {"c": jnp.asarray(0.4)}, "c", jnp.asarray([0.2 * z, -z, z]), vector_field=rossler
    )
    assert hopf.converged and abs(float(hopf.value) - 0.4) < 1e-12
    branch = continue_cycles(
        {"c": jnp.asarray(0.4)}, hopf, bounds=(0.3, 3.0), vector_field=rossler, ntst=40, ds=0.05
    )
    pd = [sp for sp in branch.special_points if sp.kind == "pd"]
    assert len(pd) == 1
    np.testing.assert_allclose(float(pd[0].value), 2.8324, atol=2e-4)
    assert abs(complex(pd[0].multiplier) + 1) < 1e-8
    c = np.asarray(branch.values)[:, 0]
    stable = np.asarray(branch.stable)
    c_pd = float(pd[0].value)
    assert np.all(stable[c < c_pd - 1e-3]) and not np.any(stable[c > c_pd + 1e-3])


@pytest.fixture(scope="module")
def rounded():
    return presets.chen_campbell_2022(rounded=True)


@pytest.fixture(scope="module")
def hopf_low(rounded):
    p = rounded.replace(eta_bar=0.075)
    eq = meanfield_equilibria(p)
    x = jnp.asarray([eq.r[0, 0], eq.v[0, 0], eq.w[0, 0], eq.s[0, 0]])
    return refine_hopf(p, "eta_bar", x)


@pytest.fixture(scope="module")
def branch_low(rounded, hopf_low):
    return continue_cycles(rounded, hopf_low, bounds=(0.0, 0.4))


def test_refine_hopf_meanfield(hopf_low):
    assert hopf_low.converged
    p = hopf_low.params
    x = hopf_low.state
    assert float(jnp.max(jnp.abs(meanfield_vector_field(x, p)))) < 1e-12
    ev = np.linalg.eigvals(np.asarray(jax.jacfwd(lambda y: meanfield_vector_field(y, p))(x)))
    k = np.argmin(np.abs(ev - 1j * float(hopf_low.frequency)))
    assert abs(ev[k] - 1j * float(hopf_low.frequency)) < 1e-10
    assert 0.07 < float(hopf_low.value) < 0.08


def test_meanfield_branch_structure(branch_low, hopf_low, rounded):
    kinds = [sp.kind for sp in branch_low.special_points]
    assert kinds == ["lpc", "lpc", "hopf"], branch_low.special_points
    lpc1, lpc2, end = branch_low.special_points
    # Subcritical Hopf points: the unstable cycles fold back (LPC) beyond each Hopf point.
    assert float(lpc1.value) < float(hopf_low.value)
    assert 0.074 < float(lpc1.value) < 0.075 and 0.19 < float(lpc2.value) < 0.2
    # The branch ends on the upper Hopf point, found independently by Newton.
    eq = meanfield_equilibria(rounded.replace(eta_bar=0.19))
    x = jnp.asarray([eq.r[0, 0], eq.v[0, 0], eq.w[0, 0], eq.s[0, 0]])
    hopf_high = refine_hopf(rounded.replace(eta_bar=0.19), "eta_bar", x)
    assert end.converged and abs(float(end.value) - float(hopf_high.value)) < 1e-9
    # Period -> 2 pi / omega at both ends.
    period = np.asarray(branch_low.period)
    np.testing.assert_allclose(period[0], 2 * np.pi / float(hopf_low.frequency), rtol=1e-3)
    np.testing.assert_allclose(period[-1], 2 * np.pi / float(hopf_high.frequency), rtol=1e-3)
    # Stable exactly between the folds.
    eta = np.asarray(branch_low.values)[:, 0]
    stable = np.asarray(branch_low.stable)
    i1, i2 = lpc1.index, lpc2.index
    assert not np.any(stable[:i1]) and np.all(stable[i1 + 1 : i2]) and not np.any(stable[i2 + 1 :])
    assert np.all((eta > 0.0747) & (eta < 0.1936))
    # Bursting: r between ~0.01 and ~0.15, periods of hundreds of time units.
    mid = np.argmin(np.abs(eta - 0.12))
    assert 0.005 < float(branch_low.minima[mid, 0]) < 0.02
    assert 0.12 < float(branch_low.maxima[mid, 0]) < 0.2
    assert 150 < period[mid] < 300


def test_meanfield_trivial_multiplier(branch_low):
    eta = np.asarray(branch_low.values)[:, 0]
    lpc1, lpc2 = [sp for sp in branch_low.special_points if sp.kind == "lpc"]
    # Away from the canard explosion at the lower fold (where the monodromy product is
    # ill-conditioned) the trivial multiplier is 1 to 1e-6.
    inner = eta > float(lpc1.value) + 1e-4
    assert np.sum(inner) > 10
    assert np.max(np.abs(_trivial(np.asarray(branch_low.eigenvalues)[inner]) - 1)) < 1e-6


def _period_from_simulation(params, t1=3000.0, transient=1500.0):
    sol = solve_meanfield(
        params,
        t1=t1,
        ts=jnp.arange(0.0, t1, 0.1),
        rtol=1e-11,
        atol=1e-13,
        y0=MeanFieldState(*(jnp.asarray([x]) for x in (0.05, -0.5, 0.1, 0.1))),
    )
    t, w, r = np.asarray(sol.t), np.asarray(sol.w[:, 0]), np.asarray(sol.r[:, 0])
    keep = t > transient
    t, w, r = t[keep], w[keep], r[keep]
    level = 0.5 * (w.min() + w.max())
    up = np.flatnonzero((w[:-1] < level) & (w[1:] >= level))
    crossings = t[up] + (level - w[up]) / (w[up + 1] - w[up]) * (t[up + 1] - t[up])
    return np.mean(np.diff(crossings)), r.min(), r.max(), w.min(), w.max()


def test_cycle_matches_simulation(rounded, branch_low):
    cyc = cycle_at(rounded, branch_low, 0.12)
    assert cyc.converged and abs(float(cyc.value) - 0.12) < 1e-14
    assert cyc.status == RESULTS.successful and cyc.message == ""
    period, rmin, rmax, wmin, wmax = _period_from_simulation(rounded.replace(eta_bar=0.12))
    # A stable cycle: simulation from elsewhere converges to it, with the same period and range.
    assert bool(cyc.stable)
    np.testing.assert_allclose(float(cyc.period), period, rtol=1e-5)
    np.testing.assert_allclose(
        [float(cyc.minima[0]), float(cyc.maxima[0])], [rmin, rmax], rtol=1e-3
    )
    np.testing.assert_allclose(
        [float(cyc.minima[2]), float(cyc.maxima[2])], [wmin, wmax], rtol=1e-5
    )
    assert 220 < float(cyc.period) < 235
    mult = np.asarray(cyc.multipliers)
    assert abs(_trivial(mult[None])[0] - 1) < 1e-6


def test_cycle_at_throw(rounded, branch_low):
    with pytest.raises(ContinuationError, match="did not converge"):
        cycle_at(rounded, branch_low, 0.12, tol=1e-30, mesh_iterations=0)
    cyc = cycle_at(rounded, branch_low, 0.12, tol=1e-30, mesh_iterations=0, throw=False)
    assert not cyc.converged and cyc.status == RESULTS.not_converged and cyc.message


@pytest.mark.slow
def test_mesh_refinement(rounded, branch_low):
    coarse = cycle_at(rounded, branch_low, 0.12)
    fine = cycle_at(rounded, branch_low, 0.12, ntst=2 * (np.shape(branch_low.mesh)[1] - 1) // 4)
    assert coarse.converged and fine.converged
    assert abs(float(fine.period) / float(coarse.period) - 1) < 1e-6
    np.testing.assert_allclose(np.asarray(fine.maxima), np.asarray(coarse.maxima), rtol=1e-5)


@pytest.mark.slow
def test_both_hopf_points_give_the_same_branch(rounded, branch_low):
    end = branch_low.special_points[-1]
    other = continue_cycles(rounded, end, bounds=(0.0, 0.4))
    kinds = [sp.kind for sp in other.special_points]
    assert kinds == ["lpc", "lpc", "hopf"]
    a = sorted(float(sp.value) for sp in branch_low.special_points if sp.kind == "lpc")
    b = sorted(float(sp.value) for sp in other.special_points if sp.kind == "lpc")
    np.testing.assert_allclose(a, b, atol=1e-8)


def test_cycle_at_follows_the_branch(rounded, branch_low):
    # Inside the canard explosion at the lower fold the period changes by ~100 between points;
    # Newton at fixed eta_bar from the nearest point used to return negative periods there, or
    # "converge" to the equilibrium (T = 0). Every answer must lie on its segment: the branch's
    # own points (independent continuation steps) bound it.
    eta = np.asarray(branch_low.values)[:, 0]
    period = np.asarray(branch_low.period)
    lpc1 = [sp for sp in branch_low.special_points if sp.kind == "lpc"][0]
    for k in (lpc1.index, lpc1.index + 2):
        value = 0.5 * (eta[k] + eta[k + 1])
        cyc = cycle_at(rounded, branch_low, value, near=k)
        assert cyc.converged and cyc.status == RESULTS.successful
        assert abs(float(cyc.value) - value) < 1e-14
        lo, hi = sorted(period[k : k + 2])
        assert lo - 0.5 * (hi - lo) < float(cyc.period) < hi + 0.5 * (hi - lo)
        if branch_low.stable[k] == branch_low.stable[k + 1]:
            assert bool(cyc.stable) == bool(branch_low.stable[k])
    # At a branch point the answer is that point (the first one is ~1e-7 from the Hopf point).
    for k in (0, lpc1.index):
        cyc = cycle_at(rounded, branch_low, eta[k], near=k)
        np.testing.assert_allclose(float(cyc.period), period[k], rtol=1e-7)


def test_cycle_at_two_cycles_either_side_of_a_fold(rounded, branch_low, hopf_low):
    eta = np.asarray(branch_low.values)[:, 0]
    period = np.asarray(branch_low.period)
    lpc1 = [sp for sp in branch_low.special_points if sp.kind == "lpc"][0]
    fold, i = float(lpc1.value), lpc1.index
    # Between the fold and the Hopf point there are two cycles: the unstable one grown from the
    # Hopf point (before the fold) and the stable bursting one (after it).
    value = 0.5 * (fold + float(hopf_low.value))
    before = cycle_at(rounded, branch_low, value, near=0)
    k = i + int(np.flatnonzero(eta[i:] > value)[0])  # first point of the stable side beyond it
    after = cycle_at(rounded, branch_low, value, near=k)
    assert before.converged and after.converged
    assert not bool(before.stable) and bool(after.stable)
    assert float(before.period) < period[i - 1] < period[i] < float(after.period)
    # Between the fold and its nearest branch point (1e-9 away in the canard) too.
    close = fold + 0.5 * (eta[i] - fold)
    cyc = cycle_at(rounded, branch_low, close, near=i - 1)
    assert cyc.converged and abs(float(cyc.value) - close) < 1e-14
    assert min(period[i - 1 : i + 1]) - 10 < float(cyc.period) < max(period[i - 1 : i + 1]) + 10
    # Below the fold no cycle of this family exists.
    outside = cycle_at(rounded, branch_low, fold - 1e-4, throw=False)
    assert outside.status == RESULTS.out_of_domain and not outside.converged
    assert np.isnan(float(outside.period)) and np.all(np.isnan(np.asarray(outside.maxima)))
    with pytest.raises(ContinuationError, match="outside the branch's range"):
        cycle_at(rounded, branch_low, fold - 1e-4)


def test_extrema_are_those_of_the_collocation_polynomial(branch_low):
    from jaxmf.collocation import basis, evaluate
    from jaxmf.cycles import _extrema

    m, n = 4, 4
    k = int(np.argmax(np.asarray(branch_low.maxima)[:, 0]))  # the sharpest spike
    times = np.asarray(branch_low.mesh[k])
    t = np.concatenate([times[:-1:m], [1.0]])
    U = np.asarray(branch_low.profiles[k])[:-1].reshape(-1, m, n)
    lo, hi = _extrema(U, t)
    np.testing.assert_allclose(np.asarray(branch_low.maxima[k]), hi, rtol=0, atol=0)
    # Brute force: the same polynomial on 2000 points per interval never exceeds them and comes
    # within its sampling error (~u'' (h / 2000)^2 / 8).
    s = (t[:-1, None] + np.diff(t)[:, None] * np.linspace(0, 1, 2001)[None, :]).reshape(-1)
    dense = evaluate(U, t, s)
    assert np.all(dense.max(0) <= hi + 1e-14) and np.all(dense.min(0) >= lo - 1e-14)
    np.testing.assert_allclose(dense.max(0), hi, rtol=0, atol=1e-9)
    np.testing.assert_allclose(dense.min(0), lo, rtol=0, atol=1e-9)
    # Eight samples per interval (the former reading) are low by far more.
    uloc = np.concatenate([U, np.roll(U, -1, axis=0)[:, :1]], axis=1)
    sampled = np.einsum("fk,jkn->jfn", basis(m)[3], uloc).reshape(-1, n).max(0)
    assert hi[0] - sampled[0] > 100 * abs(hi[0] - dense.max(0)[0])


@pytest.mark.slow  # a 300-interval branch (~10 s) and a 600-interval refinement
def test_cycle_at_issue_example_either_side_of_the_upper_fold():
    # Issue 15: on this 29-point branch cycle_at(p, cyc, 0.327687414) returned period -3474.3;
    # AUTO-07p gives 132.5 for the unstable cycle there (the stable one is the other cycle).
    p = presets.chen_campbell_2022(rounded=True, w_jump=0.03)
    eq = meanfield_equilibria(p.replace(eta_bar=0.106))
    x = jnp.asarray([eq.r[0, 0], eq.v[0, 0], eq.w[0, 0], eq.s[0, 0]])
    hopf = refine_hopf(p.replace(eta_bar=0.106), "eta_bar", x)
    branch = continue_cycles(p, hopf, "eta_bar", (-0.5, 1.0), ntst=300, period_max=3000)
    (lpc,) = [sp for sp in branch.special_points if sp.kind == "lpc"]
    value = 0.327687414
    unstable = cycle_at(p, branch, value, near=lpc.index - 1)
    stable = cycle_at(p, branch, value, near=lpc.index - 2)
    np.testing.assert_allclose(float(unstable.period), 132.5, atol=0.05)
    assert not bool(unstable.stable) and bool(stable.stable)
    assert float(unstable.period) < float(lpc.period) < float(stable.period)
    # The extrema are the polynomial's: on twice the mesh r_max agrees to the collocation
    # error (the 8-samples-per-interval reading was low by ~1e-5 on such spikes).
    fine = cycle_at(p, branch, value, near=lpc.index - 2, ntst=600)
    np.testing.assert_allclose(float(fine.period), float(stable.period), rtol=1e-8)
    np.testing.assert_allclose(np.asarray(fine.maxima), np.asarray(stable.maxima), atol=1e-8)


def isola(x, p, xp=jnp):
    """x' = g x - omega y, y' = omega x + g y with g = eps - mu^2 - (r^2 - 1)^2: cycles on the
    closed curve mu^2 + (r^2 - 1)^2 = eps (an isola, no Hopf point: the origin stays a stable
    focus), stable outside r^2 = 1, folds of cycles at mu = +-sqrt(eps), period 2 pi / omega."""
    r2 = x[0] ** 2 + x[1] ** 2
    g = p["eps"] - p["mu"] ** 2 - (r2 - 1) ** 2
    return xp.stack([g * x[0] - p["omega"] * x[1], p["omega"] * x[0] + g * x[1]])


def _simulate(f, params, x0, t1, dt=0.05):
    """A classical RK4 trajectory in numpy (independent of jaxmf's integrators); f takes the
    array module as `xp`."""
    p = {k: float(v) for k, v in params.items()}
    rhs = lambda x: np.asarray(f(x, p, xp=np))
    ts = np.arange(0.0, t1, dt)
    xs = [np.asarray(x0, float)]
    for _ in ts[1:]:
        x = xs[-1]
        k1 = rhs(x)
        k2 = rhs(x + dt / 2 * k1)
        k3 = rhs(x + dt / 2 * k2)
        k4 = rhs(x + dt * k3)
        xs.append(x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4))
    return ts, np.stack(xs)


def test_cycle_from_simulation_continues_round_an_isola():
    params = {"mu": jnp.asarray(0.0), "eps": jnp.asarray(0.25), "omega": jnp.asarray(2.0)}
    t, y = _simulate(isola, params, [1.2, 0.0], 40.0)
    cyc = cycle_from_trajectory(params, t, y, "mu", ntst=20, vector_field=isola)
    assert cyc.converged and cyc.param == "mu" and bool(cyc.stable)
    np.testing.assert_allclose(float(cyc.period), np.pi, rtol=1e-9)
    # (Extrema between mesh points carry the polynomial's O(h^5) error, ~1e-8 on 20 intervals.)
    np.testing.assert_allclose(float(cyc.maxima[0]) ** 2, 1.5, rtol=1e-7)
    branch = continue_cycles(params, cyc, bounds=(-1.0, 1.0), vector_field=isola, ntst=20, ds=0.05)
    assert branch.status == RESULTS.successful and "closed family" in branch.message
    lpc = sorted(float(sp.value) for sp in branch.special_points if sp.kind == "lpc")
    np.testing.assert_allclose(lpc, [-0.5, 0.5], atol=1e-8)
    mu = np.asarray(branch.values)[:, 0]
    r2 = np.asarray(branch.maxima)[:, 0] ** 2
    np.testing.assert_allclose(mu**2 + (r2 - 1) ** 2, 0.25, atol=1e-7)
    np.testing.assert_allclose(np.asarray(branch.stable), r2 > 1)
    # A trajectory that settles on the equilibrium gives no cycle.
    t, y = _simulate(isola, {**params, "mu": jnp.asarray(0.7)}, [1.2, 0.0], 20.0)
    flat = cycle_from_trajectory(params, t, y, "mu", ntst=20, vector_field=isola, throw=False)
    assert not flat.converged and flat.status == RESULTS.not_converged
    assert np.isnan(float(flat.period))


@pytest.mark.slow  # joined branches are also checked by the bursting_region tests (slow)
def test_bautin_branch_from_a_simulated_cycle_joins_both_directions():
    # From the stable big cycle at mu = -0.1 the family runs one way to the fold of cycles at
    # mu = -1/4 and back down to the Hopf point at mu = 0, the other way to the bounds.
    params = {"mu": jnp.asarray(-0.1), "omega": jnp.asarray(1.0)}
    t, y = _simulate(bautin, params, [1.0, 0.0], 60.0)
    cyc = cycle_from_trajectory(params, t, y, "mu", ntst=20, vector_field=bautin)
    branch = continue_cycles(params, cyc, bounds=(-1.0, 0.5), vector_field=bautin, ntst=20, ds=0.05)
    kinds = [sp.kind for sp in branch.special_points]
    assert kinds == ["lpc", "hopf"] or kinds == ["hopf", "lpc"], branch.special_points
    (lpc,) = [sp for sp in branch.special_points if sp.kind == "lpc"]
    assert abs(float(lpc.value) + 0.25) < 1e-8
    mu = np.asarray(branch.values)[:, 0]
    r = np.asarray(branch.maxima)[:, 0]
    stable = np.asarray(branch.stable)
    # The joined rows are one branch: the fold's index still separates stable from unstable.
    assert stable[lpc.index] != stable[lpc.index - 1]
    root = np.sqrt(1 + 4 * mu)
    np.testing.assert_allclose(r**2, np.where(stable, (1 + root) / 2, (1 - root) / 2), atol=1e-8)


def test_cycle_from_simulation_equals_the_hopf_branch(rounded, branch_low):
    sol = solve_meanfield(
        rounded.replace(eta_bar=0.12),
        t1=3000.0,
        ts=jnp.arange(0.0, 3000.0, 0.1),
        rtol=1e-11,
        atol=1e-13,
        y0=MeanFieldState(*(jnp.asarray([x]) for x in (0.05, -0.5, 0.1, 0.1))),
    )
    keep = np.asarray(sol.t) > 1500
    y = np.stack([np.asarray(getattr(sol, k))[keep, 0] for k in "rvws"], axis=1)
    # The same simulation as test_cycle_matches_simulation (compiled once), the branch's mesh.
    from_sim = cycle_from_trajectory(
        rounded.replace(eta_bar=0.12), np.asarray(sol.t)[keep], y, ntst=80
    )
    from_hopf = cycle_at(rounded, branch_low, 0.12)
    np.testing.assert_allclose(float(from_sim.period), float(from_hopf.period), rtol=1e-8)
    np.testing.assert_allclose(
        np.asarray(from_sim.maxima), np.asarray(from_hopf.maxima), rtol=1e-6, atol=1e-9
    )
    assert bool(from_sim.stable)


def _r_range_and_period(params, y0, t1=6000.0):
    sol = solve_meanfield(
        params, t1=t1, ts=jnp.arange(t1 / 2, t1, 0.2), y0=y0, rtol=1e-10, atol=1e-12
    )
    r, w = np.asarray(sol.r[:, 0]), np.asarray(sol.w[:, 0])
    level = 0.5 * (w.min() + w.max())
    up = np.flatnonzero((w[:-1] < level) & (w[1:] >= level))
    period = np.mean(np.diff(np.asarray(sol.t)[up])) if len(up) > 2 else np.nan
    return r.max() - r.min(), period


@pytest.mark.slow  # regime map, seed simulation, a 300-interval family and 4 long simulations
def test_bursting_region_finds_the_isola_and_simulation_confirms_it():
    from jaxmf._bursting import bursting_region

    # Issue 15: at a = 0.0215 the stable bursting cycles belong to a family connected to no
    # Hopf point; simulation shows bursting there.
    p = presets.chen_campbell_2022(rounded=True, a=0.0215)
    region = bursting_region(p, "eta_bar", (0.040, 0.042), points=21)
    assert region.intervals.shape == (1, 2)
    lo, hi = region.intervals[0]
    low_end, high_end = region.ends[0]
    assert low_end.kind == "lpc" and high_end.kind == "lpc"
    assert float(low_end.value) == lo and float(high_end.value) == hi
    (branch,) = region.branches
    hopf = [sp for sp in branch.special_points if sp.kind == "hopf"]
    assert not hopf and [sp.kind for sp in branch.special_points].count("homoclinic") == 2
    # Every bursting point of the map lies inside the interval.
    eta = np.asarray(region.regimes["eta_bar"].values)
    bursting = np.asarray(region.regimes["regime"].values).astype(str) == "bursting"
    assert bursting.any() and np.all((eta[bursting] > lo) & (eta[bursting] < hi))
    # Direct simulation, started on the cycle: inside (5% of the width from either end) it
    # keeps bursting with the cycle's period; outside it settles (no stable cycle there).
    width = hi - lo
    for value in (lo + 0.05 * width, hi - 0.05 * width):
        cyc = cycle_at(p, branch, value, near=int(np.argmin(np.abs(branch.values[:, 0] - value))))
        assert bool(cyc.stable)
        y0 = MeanFieldState(*(jnp.asarray([x]) for x in np.asarray(cyc.state)))
        amplitude, period = _r_range_and_period(p.replace(eta_bar=value), y0)
        assert amplitude > 0.1
        np.testing.assert_allclose(period, float(cyc.period), rtol=1e-3)
    for value in (lo - 0.05 * width, hi + 0.05 * width):
        y0 = MeanFieldState(*(jnp.asarray([x]) for x in np.asarray(branch.states[0])))
        amplitude, _ = _r_range_and_period(p.replace(eta_bar=value), y0, t1=12000.0)
        assert amplitude < 1e-3


@pytest.mark.slow  # regime map, seed simulation, a 300-interval family
def test_bursting_region_at_the_issue_example():
    from jaxmf._bursting import bursting_region

    # Issue 15: continue_cycles from either slow Hopf point at a = 0.0214 finds no stable
    # cycle and no LPC; the family seeded by simulation has both.
    p = presets.chen_campbell_2022(rounded=True, a=0.0214)
    region = bursting_region(p, "eta_bar", (0.040, 0.042), points=21)
    assert region.intervals.shape == (1, 2)
    ((low_end, high_end),) = region.ends
    assert low_end.kind == "lpc" and high_end.kind == "lpc"
    assert 0.0408 < float(low_end.value) < 0.0410 < 0.0416 < float(high_end.value) < 0.0418
    (branch,) = region.branches
    lpcs = [sp for sp in branch.special_points if sp.kind == "lpc"]
    assert len(lpcs) == 2 and all(sp.converged for sp in lpcs)
    stable = np.asarray(branch.stable)
    for sp in lpcs:
        assert stable[sp.index] != stable[sp.index - 1]
