"""Curves of cycle bifurcations in two parameters (jaxmf.cycle_curves) against closed forms, an
independent shooting computation and the one-parameter continuation."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from jaxmf import presets
from jaxmf._results import RESULTS
from jaxmf.bifurcation import Branch, SpecialPoint, continue_equilibria, continue_hopf
from jaxmf.collocation import representation_times
from jaxmf.cycle_curves import (
    _cycle_from_branch,
    continue_homoclinic,
    continue_lpc,
    continue_ns,
    continue_pd,
    merge_repeated,
)
from jaxmf.cycles import continue_cycles, cycle_at, refine_hopf
from jaxmf.params import ParameterError


def bautin(x, p):
    """Bautin (generalised Hopf) normal form in polar form r' = (b1 + b2 r^2 - r^4) r,
    theta' = 1. Cycles r^2 = R with b1 + b2 R - R^2 = 0 fold where the discriminant
    b2^2 + 4 b1 vanishes: the LPC curve is b1 = -b2^2 / 4 (b2 > 0), at R = b2 / 2, period 2 pi;
    it ends at the generalised Hopf point b1 = b2 = 0 (Hopf at b1 = 0, l1 ~ b2)."""
    r2 = x[0] ** 2 + x[1] ** 2
    g = p["b1"] + p["b2"] * r2 - r2 * r2
    return jnp.stack([g * x[0] - x[1], x[0] + g * x[1]])


@pytest.fixture(scope="module")
def bautin_curve():
    params = {"b1": jnp.asarray(-0.25), "b2": jnp.asarray(1.0)}
    # The fold of cycles at b2 = 1 from the closed form; without a branch the start is one
    # period integrated from the point's state.
    lpc = SpecialPoint(
        kind="lpc",
        param=("b1",),
        value=jnp.asarray(-0.25),
        state=jnp.asarray([np.sqrt(0.5), 0.0]),
        params=params,
        period=jnp.asarray(2 * np.pi),
    )
    return continue_lpc(
        params,
        lpc,
        ("b1", "b2"),
        ((-1.0, 0.1), (-0.5, 1.5)),
        vector_field=bautin,
        ntst=10,
        ds=0.1,
        ds_max=0.2,
    )


def test_bautin_lpc_curve_closed_form(bautin_curve, tmp_path):
    curve = bautin_curve
    assert isinstance(curve, Branch) and curve.kind == "lpc" and curve.param == ("b1", "b2")
    assert curve.status == RESULTS.successful
    assert "left bounds" in curve.message and "generalised Hopf" in curve.message
    b1, b2 = np.asarray(curve.values).T
    assert b2.max() > 1.45 and b2.min() < 0.05  # from the upper bound down to the GH point
    np.testing.assert_allclose(b1, -(b2**2) / 4, atol=1e-10)
    np.testing.assert_allclose(np.asarray(curve.period), 2 * np.pi, rtol=1e-8)
    # The cycle's radius^2 is b2 / 2 (phase-0 state on the circle).
    r2 = np.sum(np.asarray(curve.states) ** 2, axis=1)
    np.testing.assert_allclose(r2, b2 / 2, atol=1e-9)
    # Both multipliers are 1 at a fold of cycles of a planar system.
    np.testing.assert_allclose(np.asarray(curve.eigenvalues), 1.0, atol=1e-6)
    (gh,) = curve.special_points
    assert gh.kind == "gh" and gh.converged
    np.testing.assert_allclose(np.asarray(gh.value), [0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(float(gh.period), 2 * np.pi, rtol=1e-9)
    lines = curve.to_csv(tmp_path / "lpc.csv").read_text().splitlines()
    assert lines[0].startswith("b1,b2,") and len(lines) == len(curve) + 1
    assert sum(line.endswith(",gh") for line in lines) == 1


def _circle_branch(ntst, m=4):
    """A Bautin cycle branch at b2 = 1 with the exact profiles (r^2 = R, period 2 pi) on a
    non-uniform mesh of `ntst` intervals: no continuation needed."""
    params = {"b1": jnp.asarray(-0.25), "b2": jnp.asarray(1.0)}
    t = np.linspace(0.0, 1.0, ntst + 1) ** 1.3
    s = np.concatenate([representation_times(t, m).reshape(-1), [1.0]])
    R = np.array([0.3, 0.5, 0.7])
    profiles = np.sqrt(R)[:, None, None] * np.stack(
        [np.cos(2 * np.pi * s), np.sin(2 * np.pi * s)], axis=-1
    )
    return Branch(
        kind="cycle",
        param=("b1",),
        values=jnp.asarray((R * R - R)[:, None]),
        states=jnp.asarray(profiles[:, 0]),
        eigenvalues=jnp.ones((3, 2), complex),
        stable=jnp.zeros(3, bool),
        base=params,
        period=jnp.full(3, 2 * np.pi),
        profiles=jnp.asarray(profiles),
        mesh=jnp.asarray(np.broadcast_to(s, (3, s.size))),
    )


def test_cycle_from_branch_remeshes_onto_another_ntst():
    # The start of continue_lpc / pd / ns / homoclinic with ntst different from the branch's:
    # the cycle is re-equidistributed onto the requested mesh and still the exact circle.
    branch = _circle_branch(12)
    for ntst in (12, 7, 20):
        U, T, p, t = _cycle_from_branch(branch, 1, 4, 2, ntst)
        assert U.shape == (ntst, 4, 2) and t.shape == (ntst + 1,) and t[0] == 0 and t[-1] == 1
        assert T == 2 * np.pi and p == float(branch.values[1, 0])
        s = representation_times(t, 4)
        exact = np.sqrt(0.5) * np.stack([np.cos(2 * np.pi * s), np.sin(2 * np.pi * s)], -1)
        # Degree-4 interpolation of the circle on 12 intervals: ~3e-6.
        np.testing.assert_allclose(U, exact, atol=1e-5 if ntst != 12 else 1e-15)


@pytest.mark.slow  # compiles the cycle corrector and the LPC corrector on two meshes (~20 CPU-s)
def test_lpc_curve_on_another_mesh_than_the_branch(bautin_curve):
    params = {"b1": jnp.asarray(-0.5), "b2": jnp.asarray(1.0)}
    hopf = SpecialPoint(
        kind="hopf",
        param=("b1",),
        value=jnp.asarray(0.0),
        state=jnp.zeros(2),
        params={"b1": jnp.asarray(0.0), "b2": jnp.asarray(1.0)},
        frequency=jnp.asarray(1.0),
    )
    cyc = continue_cycles(params, hopf, bounds=(-0.5, 0.5), vector_field=bautin, ntst=8)
    (lpc,) = [sp for sp in cyc.special_points if sp.kind == "lpc"]
    plane = ((-1.0, 0.1), (-0.5, 1.5))
    options = dict(branch=cyc, vector_field=bautin, ds=0.1, ds_max=0.2)
    same = continue_lpc(params, lpc, ("b1", "b2"), plane, **options)
    finer = continue_lpc(params, lpc, ("b1", "b2"), plane, ntst=14, **options)
    for curve, ntst in ((same, 8), (finer, 14)):
        assert curve.status == RESULTS.successful and "generalised Hopf" in curve.message
        assert (np.asarray(curve.mesh).shape[1] - 1) // 4 == ntst
        b1, b2 = np.asarray(curve.values).T
        assert b2.max() > 1.45 and b2.min() < 0.05
        np.testing.assert_allclose(b1, -(b2**2) / 4, atol=1e-9)  # the closed form
    # The two meshes give the same curve (the fold's b1(b2) at common b2 values).
    b1s, b2s = np.asarray(same.values).T
    b1f, b2f = np.asarray(finer.values).T
    grid = np.linspace(0.1, 1.4, 9)
    order_s, order_f = np.argsort(b2s), np.argsort(b2f)
    np.testing.assert_allclose(
        np.interp(grid, b2s[order_s], b1s[order_s]),
        np.interp(grid, b2f[order_f], b1f[order_f]),
        atol=2e-3,  # linear interpolation between curve points (ds_max = 0.2)
    )
    gh_s, gh_f = (next(sp for sp in c.special_points if sp.kind == "gh") for c in (same, finer))
    np.testing.assert_allclose(np.asarray(gh_s.value), np.asarray(gh_f.value), atol=1e-9)


def test_curve_arguments_are_checked(bautin_curve):
    params = {"b1": jnp.asarray(-0.25), "b2": jnp.asarray(1.0)}
    pd = SpecialPoint(
        kind="pd", param=("b1",), value=jnp.asarray(0.0), state=jnp.zeros(2), params=params
    )
    with pytest.raises(ParameterError, match="needs a 'lpc' point"):
        continue_lpc(params, pd, ("b1", "b2"), ((-1, 1), (-1, 1)), vector_field=bautin)
    lpc = dataclasses.replace(pd, kind="lpc")
    with pytest.raises(ParameterError, match="two different"):
        continue_lpc(params, lpc, ("b1", "b1"), ((-1, 1), (-1, 1)), vector_field=bautin)
    with pytest.raises(ParameterError, match="first parameter"):
        continue_lpc(params, lpc, ("b2", "b1"), ((-1, 1), (-1, 1)), vector_field=bautin)
    with pytest.raises(ParameterError, match="bounds"):
        continue_lpc(params, lpc, ("b1", "b2"), ((-1, 1),), vector_field=bautin)
    with pytest.raises(ParameterError, match="direction"):
        continue_lpc(
            params, lpc, ("b1", "b2"), ((-1, 1), (-1, 1)), vector_field=bautin, direction="up"
        )


def _lpc_point(value, index):
    return SpecialPoint(
        kind="lpc",
        param=("eta_bar",),
        value=jnp.asarray(value),
        state=jnp.zeros(4),
        params=presets.chen_campbell_2022(rounded=True),
        index=index,
    )


def test_merge_repeated_collapses_same_parameter_folds():
    p = presets.chen_campbell_2022(rounded=True)
    pts = (
        _lpc_point(0.2, 3),
        _lpc_point(0.3, 10),
        _lpc_point(0.3 + 1e-11, 11),
        _lpc_point(0.3 - 2e-11, 12),
        _lpc_point(0.3 + 1e-6, 13),
    )
    branch = Branch(
        kind="cycle",
        param=("eta_bar",),
        values=jnp.zeros((14, 1)),
        states=jnp.zeros((14, 4)),
        eigenvalues=jnp.zeros((14, 4), complex),
        stable=jnp.zeros(14, bool),
        base=p,
        special_points=pts[::-1],
    )
    merged = merge_repeated(branch)
    assert [sp.index for sp in merged.special_points] == [3, 10, 13]
    assert merged.special_points[1].data["repeats"] == 3
    assert "repeats" not in merged.special_points[0].data
    assert len(merge_repeated(branch, tol=1e-5).special_points) == 2
    np.testing.assert_array_equal(np.asarray(merged.values), np.asarray(branch.values))


def rossler(x, p):
    """Rossler system x' = -y - z, y' = x + a y, z' = b + z (x - c)."""
    return jnp.stack([-x[1] - x[2], x[0] + p["a"] * x[1], p["b"] + x[2] * (x[0] - p["c"])])


def _rossler_shooting(a, b, c, y0, T):
    """Period and Floquet multipliers of a Rossler cycle by single shooting with the variational
    equations (scipy DOP853, tolerance 1e-12): an independent method."""

    def rhs(_, y):
        x, yy, z = y[:3]
        J = np.array([[0, -1, -1], [1, a, 0], [z, 0, x - c]])
        f = [-yy - z, x + a * yy, b + z * (x - c)]
        return np.concatenate([f, (J @ y[3:].reshape(3, 3)).ravel()])

    def flow(y0, T):
        s = solve_ivp(
            rhs,
            (0, T),
            np.concatenate([y0, np.eye(3).ravel()]),
            method="DOP853",
            rtol=1e-12,
            atol=1e-12,
        )
        return s.y[:3, -1], s.y[3:, -1].reshape(3, 3)

    for _ in range(30):
        yT, M = flow(y0, T)
        J = np.zeros((4, 4))
        J[:3, :3] = M - np.eye(3)
        J[:3, 3] = [-yT[1] - yT[2], yT[0] + a * yT[1], b + yT[2] * (yT[0] - c)]
        J[3, 1] = 1.0  # the section y = y0[1]
        d = np.linalg.solve(J, -np.concatenate([yT - y0, [0.0]]))
        y0, T = y0 + d[:3], T + d[3]
        if np.max(np.abs(d)) < 1e-11:
            break
    return y0, T, np.linalg.eigvals(flow(y0, T)[1])


@pytest.mark.slow  # compiles the cycle and PD correctors (~30 CPU-s) and shoots with scipy
def test_rossler_period_doubling_curve():
    params = {"a": jnp.asarray(0.2), "b": jnp.asarray(0.2), "c": jnp.asarray(0.4)}
    hopf = refine_hopf(params, "c", jnp.asarray([0.2, -1.0, 1.0]), vector_field=rossler)
    cyc = continue_cycles(params, hopf, bounds=(0.3, 3.0), vector_field=rossler, ntst=40, ds=0.05)
    (pd,) = [sp for sp in cyc.special_points if sp.kind == "pd"]
    curve = continue_pd(
        params,
        pd,
        ("c", "a"),
        ((1.0, 8.0), (0.05, 0.35)),
        branch=cyc,
        vector_field=rossler,
        ds=0.05,
        ds_max=0.2,
    )
    assert curve.kind == "pd" and curve.status == RESULTS.successful
    c, a = np.asarray(curve.values).T
    assert a.min() < 0.1 and a.max() > 0.3
    # Every point has a multiplier -1 (to the corrector's tolerance).
    mult = np.asarray(curve.eigenvalues)
    assert np.max(np.min(np.abs(mult + 1), axis=1)) < 1e-8
    # c = 2.8324 at a = b = 0.2 (the one-parameter value of test_cycles) has no citable
    # source: AUTO-07p (github auto-07p/auto-07p at 44cc1c4, all 2095 commits) has no Rossler
    # demo and its manual no Rossler value. The published check is the period-1 orbit at
    # c = 5.7 (test_rossler_cycle_against_published_periodic_orbit, ChaosBook); the curve's
    # independent check is the shooting below.
    np.testing.assert_allclose(
        np.interp(0.2, a[np.argsort(a)], c[np.argsort(a)]), 2.8324, atol=2e-4
    )
    # Independent: shooting with the variational equations at three points of the curve, c
    # found by Brent's method where the smallest multiplier is -1.
    for i in np.linspace(5, len(curve) - 5, 3).astype(int):
        ci, ai, Ti = c[i], a[i], float(curve.period[i])
        y0 = np.asarray(curve.states[i], float)
        state = {"y0": y0, "T": Ti}

        def flip(cc, ai=ai, state=state):
            state["y0"], state["T"], mu = _rossler_shooting(ai, 0.2, cc, state["y0"], state["T"])
            return np.min(mu.real) + 1

        c_shoot = brentq(flip, ci - 0.01, ci + 0.01, xtol=1e-12)
        assert abs(ci - c_shoot) < 1e-7, (ai, ci, c_shoot)
        np.testing.assert_allclose(state["T"], Ti, rtol=1e-7)


@pytest.mark.slow  # continues the Rossler cycles to c = 5.7 (compiles the cycle corrector)
def test_rossler_cycle_against_published_periodic_orbit():
    # Published reference: the period-1 orbit of the Rossler system at a = b = 0.2, c = 5.7
    # (the orbit whose period doubling test_rossler_period_doubling_curve continues), found by
    # Newton on Poincare return maps: period T = 5.88108845586, Jacobian (multiplier)
    # eigenvalues 1.000000003, -2.403953527, ~0 (ChaosBook.org, "Roessler's model",
    # http://cns.physics.gatech.edu/ChaosBook/extras/simon/Roessler.html). The branch is
    # continued from the Hopf point at c ~ 0.4 through its period doubling (multiplier -1
    # at c ~ 2.83) to c = 5.7, where the flip multiplier has passed -1 to -2.40.
    params = {"a": jnp.asarray(0.2), "b": jnp.asarray(0.2), "c": jnp.asarray(0.4)}
    hopf = refine_hopf(params, "c", jnp.asarray([0.2, -1.0, 1.0]), vector_field=rossler)
    cyc = continue_cycles(
        params, hopf, bounds=(0.3, 6.0), vector_field=rossler, ntst=60, ds=0.05, ds_max=0.2
    )
    assert [sp.kind for sp in cyc.special_points].count("pd") == 1
    orbit = cycle_at(params, cyc, 5.7, vector_field=rossler)
    assert orbit.converged
    np.testing.assert_allclose(float(orbit.period), 5.88108845586, rtol=1e-9)
    mult = np.sort_complex(np.asarray(orbit.multipliers))
    np.testing.assert_allclose(mult.real[0], -2.403953527, atol=5e-8)
    np.testing.assert_allclose(np.abs(mult.imag), 0.0, atol=1e-8)
    assert np.min(np.abs(mult - 1.0)) < 1e-8 and np.min(np.abs(mult)) < 1e-8


def torus_field(x, p):
    """A Stuart-Landau cycle (radius^2 = alpha, period 2 pi) with a transverse oscillator y
    whose growth rate is beta - r^2 and frequency 1 + r^2: on the cycle its multipliers are
    exp((beta - alpha +- i (1 + alpha)) 2 pi). A torus bifurcation of the cycle where beta = alpha,
    with rotation number theta = 2 pi alpha (mod 2 pi): 1:4, 1:3 and 1:2 resonances at
    alpha = 1/4, 1/3, 1/2."""
    r2 = x[0] ** 2 + x[1] ** 2
    q2 = x[2] ** 2 + x[3] ** 2
    g, h, nu = p["alpha"] - r2, p["beta"] - r2 - q2, 1.0 + r2
    return jnp.stack([g * x[0] - x[1], x[0] + g * x[1], h * x[2] - nu * x[3], nu * x[2] + h * x[3]])


@pytest.mark.slow  # compiles the cycle and the torus correctors (~40 CPU-s)
def test_torus_curve_closed_form():
    params = {"alpha": jnp.asarray(0.0), "beta": jnp.asarray(0.3)}
    hopf = SpecialPoint(
        kind="hopf",
        param=("alpha",),
        value=jnp.asarray(0.0),
        state=jnp.zeros(4),
        params=params,
        frequency=jnp.asarray(1.0),
    )
    cyc = continue_cycles(params, hopf, bounds=(-0.1, 0.6), vector_field=torus_field, ntst=20)
    (ns,) = [sp for sp in cyc.special_points if sp.kind == "ns"]
    np.testing.assert_allclose(float(ns.value), 0.3, atol=1e-9)
    curve = continue_ns(
        params,
        ns,
        ("alpha", "beta"),
        ((0.05, 0.7), (-1.0, 1.0)),
        branch=cyc,
        vector_field=torus_field,
        ds=0.05,
        ds_max=0.1,
    )
    assert curve.kind == "ns" and curve.status == RESULTS.successful
    alpha, beta = np.asarray(curve.values).T
    assert alpha.min() < 0.06 and alpha.max() > 0.69
    np.testing.assert_allclose(beta, alpha, atol=1e-12)
    theta = np.asarray(curve.data["theta"])
    np.testing.assert_allclose(np.cos(theta), np.cos(2 * np.pi * alpha), atol=1e-8)
    np.testing.assert_allclose(np.asarray(curve.period), 2 * np.pi, rtol=1e-9)
    found = sorted((float(sp.value[0]), sp.kind) for sp in curve.special_points)
    assert [kind for _, kind in found] == ["r4", "r3", "r2", "r3"]
    # 1:2 resonance is a double multiplier -1: located to ~1e-7 only.
    np.testing.assert_allclose([x for x, _ in found], [1 / 4, 1 / 3, 1 / 2, 2 / 3], atol=1e-6)
    for sp in curve.special_points:
        want = {"r4": np.pi / 2, "r3": 2 * np.pi / 3, "r2": np.pi}[sp.kind]
        assert abs(np.cos(sp.data["theta"]) - np.cos(want)) < 1e-6


def bogdanov_takens(x, p):
    """x' = y, y' = b1 + b2 x + x^2 - x y (Kuznetsov, section 8.4): homoclinic orbit at
    b1 = -(6/25) b2^2 + o(b2^2) for b2 < 0."""
    return jnp.stack([x[1], p["b1"] + p["b2"] * x[0] + x[0] ** 2 - x[0] * x[1]])


@pytest.mark.slow  # compiles the cycle corrector twice (one- and two-parameter, ~30 CPU-s)
def test_homoclinic_curve_of_bogdanov_takens():
    params = {"b1": jnp.asarray(0.0), "b2": jnp.asarray(-0.1)}
    hopf = refine_hopf(params, "b1", jnp.asarray([0.01, -0.02]), vector_field=bogdanov_takens)
    cyc = continue_cycles(
        params, hopf, vector_field=bogdanov_takens, ntst=60, ds=0.01, period_max=400.0
    )
    (hom,) = [sp for sp in cyc.special_points if sp.kind == "homoclinic"]
    curve = continue_homoclinic(
        params,
        hom,
        ("b1", "b2"),
        ((-0.1, 0.1), (-0.2, -0.05)),
        branch=cyc,
        vector_field=bogdanov_takens,
        ds=0.005,
    )
    assert curve.kind == "homoclinic" and curve.status == RESULTS.successful
    T = np.asarray(curve.period)
    np.testing.assert_allclose(T, T[0], rtol=1e-12)
    b1, b2 = np.asarray(curve.values).T
    assert b2.min() < -0.19 and b2.max() > -0.06
    # Leading-order asymptotics (o(b2^2) correction: ~1% at b2 = -0.1, ~2% at -0.2).
    np.testing.assert_allclose(b1, -6 / 25 * b2**2, rtol=0.03)


@pytest.mark.slow  # the mean field's cycles, LPC and Hopf curves (~60 CPU-s)
def test_meanfield_lpc_curves_reach_the_end_of_bursting(tmp_path):
    p = presets.chen_campbell_2022(rounded=True)
    eq = continue_equilibria(p, "eta_bar", (0.0, 0.3))
    hopfs = [sp for sp in eq.special_points if sp.kind == "hopf"]
    cyc = continue_cycles(p, hopfs[0], "eta_bar", (0.0, 0.3), throw=False)
    lpcs = [sp for sp in cyc.special_points if sp.kind == "lpc"]
    assert len(lpcs) == 2
    plane = ((0.0, 0.3), (0.005, 0.03))
    low, high = (
        continue_lpc(p, sp, ("eta_bar", "a"), plane, branch=cyc, throw=False) for sp in lpcs
    )
    # Issue 15: stable bursting ends at a ~ 0.0216 (simulation), where the LPC curve turns.
    a_high = np.asarray(high.values)[:, 1]
    assert 0.02155 < a_high.max() < 0.02170
    # The low LPC curve ends at a generalised Hopf point; the Hopf curve's own GH point (the
    # zero of l1 along the Hopf curve, an independent test function) is the same point.
    (gh,) = [sp for sp in low.special_points if sp.kind == "gh"]
    assert gh.converged
    hopf_curve = continue_hopf(p, hopfs[0], ("eta_bar", "a"), plane)
    gh_hopf = [np.asarray(sp.value) for sp in hopf_curve.special_points if sp.kind == "gh"]
    assert min(np.max(np.abs(np.asarray(gh.value) - g)) for g in gh_hopf) < 1e-7
    # Where the curves cross another a, the one-parameter continuation there finds a fold of
    # cycles (the low curve stops at a ~ 0.009, where its period grows: only the high one
    # crosses a = 0.015).
    a = 0.015
    pa = p.replace(a=a)
    eqa = continue_equilibria(pa, "eta_bar", (0.0, 0.3))
    cyca = continue_cycles(
        pa,
        [sp for sp in eqa.special_points if sp.kind == "hopf"][0],
        "eta_bar",
        (0.0, 0.3),
        throw=False,
    )
    one = np.array([float(sp.value) for sp in cyca.special_points if sp.kind == "lpc"])
    crossings = []
    for curve in (low, high):
        v = np.asarray(curve.values)
        for i in np.flatnonzero(np.diff(np.sign(v[:, 1] - a))):
            w = (a - v[i, 1]) / (v[i + 1, 1] - v[i, 1])
            crossings.append(v[i, 0] + w * (v[i + 1, 0] - v[i, 0]))
    assert crossings
    for eta in crossings:  # linear interpolation between curve points: ~1e-5
        assert np.min(np.abs(one - eta)) < 2e-5, (eta, one)
    back = Branch.from_json(high.to_json(tmp_path / "lpc.json"))
    np.testing.assert_allclose(np.asarray(back.values), np.asarray(high.values), rtol=0)
    assert back.kind == "lpc" and back.param == ("eta_bar", "a")


def test_bifurcation_figure_title_names_model_and_parameters():
    import matplotlib

    matplotlib.use("Agg")
    from jaxmf import plot
    from jaxmf.cli.bifurcation import figure_title

    title = figure_title("rounded", {}, 1, "eta_bar", "a")
    assert title == "Chen & Campbell 2022 mean field (rounded): (eta_bar, a)"
    assert figure_title("rounded", {"a": 0.01}, 1, "eta_bar") == (
        "Chen & Campbell 2022 mean field (rounded a=0.01): eta_bar"
    )
    assert figure_title("two_population", {}, 2, "eta_bar", "kappa").startswith(
        "Chen & Campbell 2022 mean field, 2 populations (two_population): "
    )
    # The figure carries it (a three-point equilibrium branch: no continuation).
    p = presets.chen_campbell_2022(rounded=True)
    tiny = Branch(
        kind="equilibrium",
        param=("eta_bar",),
        values=jnp.asarray([[0.0], [0.1], [0.2]]),
        states=jnp.ones((3, 4)),
        eigenvalues=-jnp.ones((3, 4), complex),
        stable=jnp.ones(3, bool),
        base=p,
    )
    fig = plot.plot_bifurcation({"equilibria": tiny}, title=title)
    assert fig._suptitle.get_text().startswith(title)
    plot.pyplot().close(fig)


def test_point_on_a_two_parameter_curve():
    from jaxmf.cli.bifurcation import _on_curve

    p = presets.chen_campbell_2022(rounded=True)
    curve = Branch(
        kind="fold",
        param=("eta_bar", "a"),
        values=jnp.asarray([[0.0, 0.0], [0.1, 0.01], [0.2, 0.01]]),
        states=jnp.zeros((3, 4)),
        eigenvalues=jnp.zeros((3, 4), complex),
        stable=jnp.zeros(3, bool),
        base=p,
    )
    box = ((0.0, 0.3), (0.0, 0.03))
    assert _on_curve(curve, (0.05, 0.005), box)  # inside a segment
    assert _on_curve(curve, (0.15, 0.01 + 1e-5), box)  # 3e-4 of the box's height off
    assert not _on_curve(curve, (0.15, 0.0105), box)
    assert not _on_curve(curve, (0.25, 0.01), box)  # beyond the last point


@pytest.mark.slow  # continues equilibria at three values of a, two Hopf and a fold curve (~40 s)
def test_cli_draws_the_fold_curve_born_inside_the_plane(tmp_path):
    import json

    from jaxmf.cli import main

    # At the base a = 0.0077 the equilibria have no fold; the saddle-node curve is born at a
    # cusp inside (eta_bar, a) and is started from the equilibria at a = 0.03.
    code = main(
        "bifurcation --param eta_bar --second a --bounds2 0.005,0.03 --no-cycles --no-plot "
        f"--quiet --out {tmp_path} --name bif".split()
    )
    assert code == 0
    meta = json.loads((tmp_path / "bif.json").read_text())
    points = {(sp["branch"], sp["kind"]): sp["value"] for sp in meta["special_points"]}
    assert ("fold_0", "cusp") in points
    eta_c, a_c = points[("fold_0", "cusp")]
    assert 0.005 < a_c < 0.03
    # Independent: the fold curve crosses a = a_c + 0.003 twice; between the crossings the
    # closed-form scan finds three equilibria, and one at a_c - 0.003 (below the cusp).
    from jaxmf.meanfield import meanfield_equilibria

    fold = np.asarray(Branch.from_json(tmp_path / "bif_fold_0.json").values)
    d = fold[:, 1] - (a_c + 0.003)
    k = np.flatnonzero(d[:-1] * d[1:] < 0)
    assert len(k) == 2
    eta = np.mean(fold[k, 0] + (fold[k + 1, 0] - fold[k, 0]) * d[k] / (d[k] - d[k + 1]))
    p = presets.chen_campbell_2022(rounded=True)
    for a, want in ((a_c + 0.003, 3), (a_c - 0.003, 1)):
        found = meanfield_equilibria(p.replace(eta_bar=float(eta), a=float(a)))
        assert int(np.sum(np.asarray(found.valid))) == want, (eta, a)
    # The Bogdanov-Takens point is found on the Hopf curve and on the fold curve (two
    # independent defining systems).
    np.testing.assert_allclose(points[("fold_0", "bt")], points[("hopf_0", "bt")], atol=1e-8)
