"""Continuation of mean-field equilibria, Hopf and fold points, and two-parameter curves,
checked against independent references: the closed-form equilibrium curve eta_bar(r), a
hand-written Jacobian and second derivative (numpy), bisection of the leading eigenvalue,
normal forms with known coefficients, finite differences and direct simulation."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq, fsolve

from jaxmf import bifurcation as bf
from jaxmf import meanfield_equilibria, presets, solve_meanfield
from jaxmf._results import RESULTS, NumericalError
from jaxmf.bifurcation import (
    Branch,
    ContinuationError,
    continue_equilibria,
    continue_fold,
    continue_hopf,
    first_lyapunov_coefficient,
    locate_hopf,
    sensitivity,
)
from jaxmf.meanfield import MeanFieldState
from jaxmf.params import ParameterError


def _scalars(p):
    names = ("alpha", "delta_eta", "i_ext", "a", "b", "w_jump", "tau_s", "s_jump", "e_r")
    out = {k: float(np.asarray(getattr(p, k))[0]) for k in names}
    out["g"] = float(np.asarray(p.g)[0, 0])
    return out


def closed_form(p, r):
    """One population: the equilibrium at rate r and the eta_bar it belongs to (model.md s3)."""
    c = _scalars(p)
    s = c["tau_s"] * c["s_jump"] * r
    v = (c["alpha"] + c["g"] * s) / 2 - c["delta_eta"] / (2 * np.pi * r)
    w = c["b"] * v + c["w_jump"] / c["a"] * r
    eta = -(
        v * v - c["alpha"] * v - (np.pi * r) ** 2 + c["g"] * s * (c["e_r"] - v) - w + c["i_ext"]
    )
    return eta, np.array([r, v, w, s])


def jacobian(p, x):
    """Hand-written Jacobian of the one-population Chen-Campbell field."""
    c = _scalars(p)
    r, v, _, s = x
    g, al = c["g"], c["alpha"]
    return np.array(
        [
            [2 * v - al - g * s, 2 * r, 0.0, -g * r],
            [-2 * np.pi**2 * r, 2 * v - al - g * s, -1.0, g * c["e_r"] - g * v],
            [c["w_jump"], c["a"] * c["b"], -c["a"], 0.0],
            [c["s_jump"], 0.0, 0.0, -1 / c["tau_s"]],
        ]
    )


def bilinear(p, u, v):
    """Hand-written second derivative B(u, v) (the field is quadratic: C = 0)."""
    g = _scalars(p)["g"]
    return np.array(
        [
            2 * (u[0] * v[1] + u[1] * v[0]) - g * (u[0] * v[3] + u[3] * v[0]),
            2 * u[1] * v[1] - 2 * np.pi**2 * u[0] * v[0] - g * (u[3] * v[1] + u[1] * v[3]),
            0 * u[0],
            0 * u[0],
        ]
    )


def lyapunov_numpy(p, x):
    """Kuznetsov (3.20) with numpy eigenvectors, <q, q> = 1, <p, q> = 1 (C = 0 here)."""
    A = jacobian(p, x)
    ev, vecs = np.linalg.eig(A)
    k = np.argmin(np.where(ev.imag > 0, np.abs(ev.real), np.inf))
    om, q = ev[k].imag, vecs[:, k] / np.linalg.norm(vecs[:, k])
    evl, left = np.linalg.eig(A.T)
    pv = left[:, np.argmin(np.abs(evl + 1j * om))]
    pv = pv / np.conj(np.vdot(pv, q))
    h11 = np.linalg.solve(A, bilinear(p, q, q.conj()))
    h20 = np.linalg.solve(2j * om * np.eye(4) - A, bilinear(p, q, q))
    return np.real(
        -2 * np.vdot(pv, bilinear(p, q, h11)) + np.vdot(pv, bilinear(p, q.conj(), h20))
    ) / (2 * om)


def hopf_by_bisection(p, r_lo, r_hi):
    """Hopf point from the sign of the leading real part along the closed-form curve (in r)."""
    lead = lambda r: np.max(np.linalg.eigvals(jacobian(p, closed_form(p, r)[1])).real)
    r = brentq(lead, r_lo, r_hi, xtol=1e-15, rtol=1e-15)
    eta, x = closed_form(p, r)
    return (
        eta,
        x,
        np.max(
            np.abs(
                np.linalg.eigvals(jacobian(p, x)).imag[
                    np.argsort(np.abs(np.linalg.eigvals(jacobian(p, x)).real))[:2]
                ]
            )
        ),
    )


@pytest.fixture(scope="module")
def rounded():
    return presets.chen_campbell_2022(rounded=True)


@pytest.fixture(scope="module")
def branch(rounded):
    return continue_equilibria(rounded, "eta_bar", (0.0, 0.3))


@pytest.fixture(scope="module")
def hopfs(branch):
    return [sp for sp in branch.special_points if sp.kind == "hopf"]


def test_branch_spans_bounds_and_matches_closed_form(rounded, branch):
    eta = np.asarray(branch.values)[:, 0]
    assert eta[0] == pytest.approx(0.0, abs=1e-12) and eta[-1] == pytest.approx(0.3, abs=1e-12)
    assert np.all(np.diff(eta) > 0)  # no folds for the paper's parameters
    for x, e in zip(np.asarray(branch.states), eta):
        eta_cf, x_cf = closed_form(rounded, x[0])
        assert eta_cf == pytest.approx(e, abs=1e-11)
        np.testing.assert_allclose(x, x_cf, rtol=1e-10, atol=1e-12)
    # and against meanfield_equilibria at sampled branch parameters
    for i in (0, len(eta) // 3, 2 * len(eta) // 3, len(eta) - 1):
        eq = meanfield_equilibria(rounded.replace(eta_bar=eta[i]))
        assert eq.count == 1
        np.testing.assert_allclose(
            np.asarray(branch.states)[i],
            np.concatenate(
                [np.asarray(eq.r[0]), np.asarray(eq.v[0]), np.asarray(eq.w[0]), np.asarray(eq.s[0])]
            ),
            rtol=1e-9,
            atol=1e-12,
        )


def test_stability_from_eigenvalues(rounded, branch, hopfs):
    eta = np.asarray(branch.values)[:, 0]
    stable = np.asarray(branch.stable)
    h1, h2 = (float(h.value) for h in hopfs)
    assert np.all(stable[(eta < h1 - 1e-9) | (eta > h2 + 1e-9)])
    assert not np.any(stable[(eta > h1 + 1e-9) & (eta < h2 - 1e-9)])
    for x, ev in zip(np.asarray(branch.states)[::7], np.asarray(branch.eigenvalues)[::7]):
        ref = np.linalg.eigvals(jacobian(rounded, x))
        np.testing.assert_allclose(np.sort_complex(ev), np.sort_complex(ref), atol=1e-12)
        assert np.all(np.diff(ev.real) <= 0)  # sorted by decreasing real part


def test_paper_hopf_points_are_subcritical(hopfs):
    assert [h.kind for h in hopfs] == ["hopf", "hopf"]
    h1, h2 = hopfs
    assert 0.07 < float(h1.value) < 0.08 and 0.18 < float(h2.value) < 0.2
    for h in hopfs:
        assert h.converged and h.criticality == "subcritical" and float(h.first_lyapunov) > 0
        assert float(h.period) == pytest.approx(2 * np.pi / float(h.frequency), rel=1e-14)


def test_hopf_points_against_bisection(rounded, hopfs):
    # Independent: closed-form equilibria, hand-written Jacobian, bracketing in r.
    for h, (lo, hi) in zip(hopfs, [(0.015, 0.03), (0.08, 0.12)]):
        eta, x, omega = hopf_by_bisection(rounded, lo, hi)
        assert float(h.value) == pytest.approx(eta, abs=1e-8)
        np.testing.assert_allclose(np.asarray(h.state), x, rtol=1e-7, atol=1e-9)
        assert 2 * np.pi / float(h.frequency) == pytest.approx(2 * np.pi / omega, rel=1e-8)
        # l1 from numpy eigenvectors and the hand-written second derivative
        l1_ref = lyapunov_numpy(rounded, x)
        assert np.sign(float(h.first_lyapunov)) == np.sign(l1_ref)
        assert float(h.first_lyapunov) == pytest.approx(l1_ref, rel=1e-4)


def test_refinement_independent_of_step_size(rounded, hopfs):
    coarse = continue_equilibria(rounded, "eta_bar", (0.0, 0.3), ds_max=0.05)
    fine = continue_equilibria(rounded, "eta_bar", (0.0, 0.3), ds_max=0.004)
    assert len(fine) > 2 * len(coarse)
    for b in (coarse, fine):
        found = [sp for sp in b.special_points if sp.kind == "hopf"]
        assert len(found) == 2
        for a, ref in zip(found, hopfs):
            assert float(a.value) == pytest.approx(float(ref.value), abs=1e-11)
            assert float(a.first_lyapunov) == pytest.approx(float(ref.first_lyapunov), rel=1e-8)


def test_directions_and_starts(rounded, hopfs):
    fwd = continue_equilibria(rounded, "eta_bar", (0.0, 0.3), direction="forward")
    bwd = continue_equilibria(rounded, "eta_bar", (0.0, 0.3), direction="backward")
    assert [float(sp.value) for sp in fwd.special_points] == pytest.approx(
        [float(hopfs[1].value)], abs=1e-12
    )
    assert [float(sp.value) for sp in bwd.special_points] == pytest.approx(
        [float(hopfs[0].value)], abs=1e-12
    )
    assert float(fwd.values[0, 0]) == float(bwd.values[0, 0]) == pytest.approx(0.12)
    assert float(fwd.values[-1, 0]) == pytest.approx(0.3) and float(
        bwd.values[-1, 0]
    ) == pytest.approx(0.0, abs=1e-12)
    # a given state (slightly off) is corrected onto the branch
    eta, x = closed_form(rounded, 0.05)
    b = continue_equilibria(
        rounded.replace(eta_bar=eta), "eta_bar", (0.0, 0.3), start=x * (1 + 1e-4)
    )
    assert [sp.kind for sp in b.special_points] == ["hopf", "hopf"]


def test_locate_hopf_from_a_rough_guess(rounded, hopfs):
    eta, x = closed_form(rounded, 0.02)  # a point on the branch near the first Hopf point
    sp = locate_hopf(rounded, "eta_bar", x, eta)
    assert sp.converged
    assert float(sp.value) == pytest.approx(float(hopfs[0].value), abs=1e-12)


def test_sensitivity_matches_finite_differences(rounded, hopfs):
    h = hopfs[0]
    for name, eps in (("w_jump", 1e-6), ("delta_eta", 1e-6), ("i_ext", 1e-6)):
        d = float(sensitivity(h, name))
        base = float(bf.get_parameter(h.params, name))
        vals = [
            float(locate_hopf(bf.set_parameter(h.params, name, base + s), "eta_bar", h.state).value)
            for s in (eps, -eps)
        ]
        fd = (vals[0] - vals[1]) / (2 * eps)
        assert d == pytest.approx(fd, rel=1e-6, abs=1e-9)
    # eta_bar and i_ext enter only as their sum: d eta_H / d i_ext = -1
    assert float(sensitivity(h, "i_ext")) == pytest.approx(-1.0, abs=1e-10)


@pytest.mark.slow
def test_simulation_on_both_sides_of_each_hopf_point(rounded, hopfs):
    # Direct simulation from a small perturbation of the equilibrium: the oscillation decays on
    # the stable side and grows on the other, at the rate of the leading eigenvalue pair.
    for h in hopfs:
        period = float(h.period)
        growth = {}
        for side in (-1, 1):
            p = rounded.replace(eta_bar=float(h.value) + side * 0.002)
            eq = meanfield_equilibria(p)
            x = np.array([float(np.asarray(getattr(eq, k))[0, 0]) for k in "rvws"])
            y0 = MeanFieldState(*(jnp.asarray([xi + 1e-9]) for xi in x))  # linear regime
            t1 = 8 * period
            res = solve_meanfield(p, t1, ts=np.linspace(0, t1, 4001), y0=y0, rtol=1e-11, atol=1e-14)
            dev = np.abs(np.asarray(res.w)[:, 0] - x[2])
            mid, last = dev[2000:3000].max(), dev[3000:].max()
            growth[side] = np.log(last / mid) / (0.25 * t1)
            lead = np.max(np.linalg.eigvals(jacobian(p, x)).real)
            assert growth[side] == pytest.approx(lead, rel=0.15)
        stable_side = -1 if h is hopfs[0] else 1
        assert growth[stable_side] < 0 < growth[-stable_side]


def test_l1_normal_form_normalisation():
    # x' = a x - y + s x (x^2 + y^2), y' = x + a y + s y (x^2 + y^2): in the coordinate z with
    # x = 2 Re(z q), <q, q> = 1, z' = i z + 2 s z |z|^2, so l1 = 2 s.
    def f(x, s):
        return jnp.stack([-x[1] + s * x[0] * (x @ x), x[0] + s * x[1] * (x @ x)])

    def rotation(a):
        return jnp.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])

    @jax.jit
    def l1(s, R, c, omega):
        # y = R^T x / c, time scaled by omega: one compiled kernel for every variant
        g = lambda y: omega * (R.T @ f(c * (R @ y), s)) / c
        return first_lyapunov_coefficient(g, jnp.zeros(2))

    for s in (1.0, -0.37):
        js = jnp.asarray(s)
        assert float(l1(js, rotation(0.0), 1.0, 1.0)) == pytest.approx(2 * s, rel=1e-12)
        # an orthogonal change of coordinates and a time rescaling leave l1 unchanged
        assert float(l1(js, rotation(0.7), 1.0, 2.5)) == pytest.approx(2 * s, rel=1e-12)
        # uniform scaling by c: the cubic coefficient becomes s c^2
        assert float(l1(js, rotation(0.7), 3.0, 1.0)) == pytest.approx(2 * s * 9, rel=1e-12)


def test_l1_with_quadratic_terms():
    # Quadratic and cubic terms together, against Kuznetsov's planar formula
    # l1 = Re(i g20 g11 + omega g21) / (2 omega^2) with the Taylor coefficients g_kl of the
    # complex form z' = <p, f(z q + conj(z q))> taken numerically (Fourier modes on a circle).
    f = lambda x: jnp.stack([-x[1] + x[0] ** 2 + 0.3 * x[0] * x[1] ** 2, x[0] - x[1] ** 2])
    q = np.array([1, -1j]) / np.sqrt(2)  # A q = i q for A = [[0, -1], [1, 0]]
    p = q.copy()  # A^T p = -i p, <p, q> = 1

    def G(z):  # the complex ODE z' = <p, f(z q + conj(z q))>
        x = 2 * np.real(z * q)
        fx = np.array([-x[1] + x[0] ** 2 + 0.3 * x[0] * x[1] ** 2, x[0] - x[1] ** 2])
        return np.vdot(p, fx)

    h = 1e-3  # Taylor coefficients by finite differences on a circle (exact for polynomials)
    th = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    vals = np.array([G(h * np.exp(1j * t)) for t in th])
    coef = lambda k, m: np.mean(vals * np.exp(-1j * (k - m) * th)) / h ** (k + m)
    g20, g11 = 2 * coef(2, 0), coef(1, 1)
    g21 = 2 * (coef(2, 1) - 1j / h**2)  # mode 1 also holds the linear term i z
    l1_planar = np.real(1j * g20 * g11 + g21) / 2
    l1 = jax.jit(lambda x: first_lyapunov_coefficient(f, x))(jnp.zeros(2))
    assert float(l1) == pytest.approx(l1_planar, rel=1e-5)
    # The critical pair given as a Python float and an array: the same value.
    given = first_lyapunov_coefficient(f, jnp.zeros(2), omega=1.0, q=q)
    assert float(given) == pytest.approx(float(l1), rel=1e-12)


def _fold_by_closed_form(p, r_lo, r_hi):
    deta = lambda r: closed_form(p, r * (1 + 1e-7))[0] - closed_form(p, r * (1 - 1e-7))[0]
    r = brentq(deta, r_lo, r_hi, xtol=1e-15)
    return closed_form(p, r)[0]


def test_folds_against_closed_form():
    p = presets.chen_campbell_2022(rounded=True, w_jump=0.001)
    b = continue_equilibria(p, "eta_bar", (-0.5, 0.3))
    folds = sorted(float(sp.value) for sp in b.special_points if sp.kind == "fold")
    assert len(folds) == 2 and all(sp.converged for sp in b.special_points)
    eta = lambda r: closed_form(p, r)[0]
    rs = np.geomspace(1e-3, 0.5, 4000)
    e = np.array([eta(r) for r in rs])
    turns = np.nonzero(np.diff(np.sign(np.diff(e))))[0]
    ref = sorted(_fold_by_closed_form(p, rs[i - 1], rs[i + 2]) for i in turns)
    np.testing.assert_allclose(folds, ref, atol=1e-8)
    kinds = [sp.kind for sp in b.special_points]
    assert "neutral_saddle" in kinds  # reported as such, not as a Hopf point
    for sp in b.special_points:
        if sp.kind == "hopf":
            ev = np.linalg.eigvals(jacobian(p, np.asarray(sp.state)))
            assert np.min(np.abs(ev.real)) < 1e-9 and np.max(np.abs(ev.imag)) > 1e-6


def test_transcritical_branch_point_at_zero_heterogeneity():
    # delta_eta = 0: r = 0 is an equilibrium for every eta_bar; the firing branch meets it in a
    # transcritical branch point at v = alpha/2, eta_bar = alpha^2/4 + b alpha/2 (w = b v).
    p = presets.chen_campbell_2022(rounded=True, delta_eta=0.0, eta_bar=0.3)
    b = continue_equilibria(p, "eta_bar", (-0.5, 0.5))
    bp = [sp for sp in b.special_points if sp.kind == "bp"]
    assert len(bp) == 1 and bp[0].converged and "rate reached zero" in b.message
    c = _scalars(p)
    assert float(bp[0].value) == pytest.approx(
        c["alpha"] ** 2 / 4 + c["b"] * c["alpha"] / 2, abs=1e-10
    )
    assert float(bp[0].state[1]) == pytest.approx(c["alpha"] / 2, abs=1e-8)


def test_mpr_limit():
    # w_jump = b = 0: <w> decouples (eigenvalue -a on the whole branch), the rest is the
    # conductance-based QIF mean field of Montbrio, Pazo & Roxin.
    p = presets.chen_campbell_2022(rounded=True, w_jump=0.0, b=0.0)
    b = continue_equilibria(p, "eta_bar", (-0.5, 0.5))
    a = float(np.asarray(p.a)[0])
    ev = np.asarray(b.eigenvalues)
    assert np.all(np.min(np.abs(ev + a), axis=1) < 1e-12)
    np.testing.assert_allclose(np.asarray(b.states)[:, 2], 0.0, atol=1e-14)
    for x, e in zip(np.asarray(b.states), np.asarray(b.values)[:, 0]):
        assert closed_form(p, x[0])[0] == pytest.approx(e, abs=1e-11)
    folds = [sp for sp in b.special_points if sp.kind == "fold"]
    eta = lambda r: closed_form(p, r)[0]
    rs = np.geomspace(1e-3, 1.0, 4000)
    e = np.array([eta(r) for r in rs])
    turns = np.nonzero(np.diff(np.sign(np.diff(e))))[0]
    assert len(folds) == len(turns)
    for sp, i in zip(sorted(folds, key=lambda s: float(s.state[0])), turns):
        assert float(sp.value) == pytest.approx(
            _fold_by_closed_form(p, rs[i - 1], rs[i + 2]), abs=1e-8
        )


@pytest.fixture(scope="module")
def wjump_curves(rounded, hopfs):
    hopf = continue_hopf(rounded, hopfs[0], ("eta_bar", "w_jump"), ((-0.5, 1.0), (0.0, 0.1)))
    p = rounded.replace(w_jump=0.001)
    b = continue_equilibria(p, "eta_bar", (-0.5, 0.3))
    fold_point = [sp for sp in b.special_points if sp.kind == "fold"][0]
    fold = continue_fold(p, fold_point, ("eta_bar", "w_jump"), ((-1.0, 1.0), (0.0, 0.1)))
    return hopf, fold


def _points(branch, kind):
    return [sp for sp in branch.special_points if sp.kind == kind]


def test_hopf_curve_satisfies_defining_equations(rounded, wjump_curves):
    hopf, _ = wjump_curves
    assert hopf.kind == "hopf" and hopf.param == ("eta_bar", "w_jump")
    omega = np.asarray(hopf.data["omega"])
    for i in range(0, len(hopf), 3):
        p = hopf.params_at(i)
        x = np.asarray(hopf.states)[i]
        assert np.max(np.abs(np.asarray(bf.meanfield_vector_field(jnp.asarray(x), p)))) < 1e-10
        ev = np.linalg.eigvals(jacobian(p, x))
        if np.isfinite(omega[i]):
            assert np.min(np.abs(ev - 1j * omega[i])) < 1e-8
    # passes through the starting Hopf point and the paper's w_jump
    w = np.asarray(hopf.values)[:, 1]
    assert w.min() == pytest.approx(0.0, abs=1e-12) and w.max() == pytest.approx(0.1, abs=1e-12)


def test_bogdanov_takens_agrees_between_hopf_and_fold_curves(rounded, wjump_curves):
    hopf, fold = wjump_curves
    bt_h, bt_f = _points(hopf, "bt"), _points(fold, "bt")
    assert len(bt_h) == 1 and bt_h[0].converged
    close = [
        b for b in bt_f if np.allclose(np.asarray(b.value), np.asarray(bt_h[0].value), atol=1e-3)
    ]
    assert len(close) == 1 and close[0].converged
    np.testing.assert_allclose(np.asarray(close[0].value), np.asarray(bt_h[0].value), atol=1e-9)
    # a double zero eigenvalue (Jordan block) at the point
    p = bt_h[0].params
    ev = np.linalg.eigvals(jacobian(p, np.asarray(bt_h[0].state)))
    assert np.sort(np.abs(ev))[1] < 1e-6 and np.sort(np.abs(ev))[2] > 1e-3


def test_cusp_against_closed_form(rounded, wjump_curves):
    _, fold = wjump_curves
    cusps = _points(fold, "cusp")
    assert len(cusps) == 1 and cusps[0].converged
    eta_c, w_c = (float(x) for x in np.asarray(cusps[0].value))

    # Independent: in the closed form eta(r; w_jump) a cusp has d eta/dr = d2 eta/dr2 = 0.
    def eqs(z):
        r, w = z
        p = rounded.replace(w_jump=w)
        e = lambda rr: closed_form(p, rr)[0]
        h = 1e-4 * r
        return [(e(r + h) - e(r - h)) / (2 * h) * 1e3, (e(r + h) - 2 * e(r) + e(r - h)) / h**2]

    r0 = float(cusps[0].state[0])
    r_c, w_ref = fsolve(eqs, [r0 * 1.01, w_c * 1.01], xtol=1e-14)
    eta_ref = closed_form(rounded.replace(w_jump=w_ref), r_c)[0]
    assert w_c == pytest.approx(w_ref, abs=1e-6)
    assert eta_c == pytest.approx(eta_ref, abs=1e-6)
    assert abs(cusps[0].data["a"]) < 1e-10


def test_generalised_hopf_changes_criticality(rounded, wjump_curves):
    hopf, _ = wjump_curves
    gh = _points(hopf, "gh")
    assert len(gh) >= 1 and all(g.converged for g in gh)
    g = gh[0]
    eta_g, w_g = (float(x) for x in np.asarray(g.value))
    l1 = []
    for dw in (-1e-4, 1e-4):
        p = rounded.replace(w_jump=w_g + dw)
        sp = locate_hopf(p, "eta_bar", g.state, eta_g)
        assert sp.converged
        l1.append(float(sp.first_lyapunov))
        assert float(sp.first_lyapunov) == pytest.approx(
            lyapunov_numpy(p, np.asarray(sp.state)), rel=1e-4
        )
    assert l1[0] * l1[1] < 0
    # the zero by a secant on the independent l1 along the curve agrees to 1e-6
    lyap = lambda w: lyapunov_numpy(
        rounded.replace(w_jump=w),
        np.asarray(locate_hopf(rounded.replace(w_jump=w), "eta_bar", g.state, eta_g).state),
    )
    w_ref = brentq(lyap, w_g - 1e-4, w_g + 1e-4, xtol=1e-13)
    assert w_g == pytest.approx(w_ref, abs=1e-6)


def test_eta_iext_plane_is_a_line(rounded, hopfs):
    # eta_bar and I_ext enter only through their sum: the Hopf curve is eta + I = eta_H.
    curve = continue_hopf(rounded, hopfs[1], ("eta_bar", "i_ext"), ((-1.0, 1.0), (-0.2, 0.2)))
    v = np.asarray(curve.values)
    np.testing.assert_allclose(v[:, 0] + v[:, 1], float(hopfs[1].value), atol=1e-10)
    assert not curve.special_points


def test_delta_eta_plane(rounded, hopfs):
    curve = continue_hopf(rounded, hopfs[0], ("eta_bar", "delta_eta"), ((-0.5, 1.0), (1e-3, 0.1)))
    v = np.asarray(curve.values)
    # one curve joins both Hopf points of the one-parameter branch at delta_eta = 0.02
    for h in hopfs:
        i = np.argmin(np.abs(v[:, 0] - float(h.value)) + np.abs(v[:, 1] - 0.02))
        assert abs(v[i, 0] - float(h.value)) < 0.01
    gh = _points(curve, "gh")
    assert len(gh) == 2 and all(g.converged for g in gh)
    for g in gh:
        assert abs(float(g.first_lyapunov)) < 1e-8


def test_no_recompilation_per_point_or_parameter(rounded, branch):
    before = bf._correct._cache_size(), bf._observe._cache_size()
    continue_equilibria(rounded, "w_jump", (0.0, 0.05))
    continue_equilibria(rounded.replace(eta_bar=0.25), "delta_eta", (0.01, 0.05))
    assert (bf._correct._cache_size(), bf._observe._cache_size()) == before


def test_round_trip(tmp_path, wjump_curves, branch):
    hopf, _ = wjump_curves
    for b in (branch, hopf):
        back = Branch.from_json(b.to_json(tmp_path / "b.json"))
        np.testing.assert_array_equal(np.asarray(back.values), np.asarray(b.values))
        np.testing.assert_array_equal(np.asarray(back.states), np.asarray(b.states))
        assert [sp.kind for sp in back.special_points] == [sp.kind for sp in b.special_points]
        assert set(back.data) == set(b.data)
        assert back.status == b.status and back.message == b.message
        b.to_csv(tmp_path / "b.csv")
        rows = (tmp_path / "b.csv").read_text().splitlines()
        assert len(rows) == len(b) + 1 and rows[0].startswith(",".join(b.param))


def test_json_convention_for_non_finite_numbers(tmp_path, branch):
    import json

    odd = np.linspace(0.0, 1.0, len(branch))
    odd[:3] = [np.nan, np.inf, -np.inf]
    b = eqx.tree_at(
        lambda b: (b.data, b.status), branch, ({"odd": jnp.asarray(odd)}, RESULTS.max_steps_reached)
    )
    path = b.to_json(tmp_path / "odd.json")
    doc = json.loads(path.read_text())  # strict JSON: no NaN/Infinity tokens
    assert doc["columns"]["odd"][:3] == [None, "inf", "-inf"]
    assert doc["status"] == "max_steps"
    back = Branch.from_json(path)
    np.testing.assert_array_equal(np.asarray(back.data["odd"]), odd)
    assert back.status == RESULTS.max_steps_reached
    (tmp_path / "cut.json").write_text(path.read_text()[:200])
    with pytest.raises(ValueError, match="cut.json"):
        Branch.from_json(tmp_path / "cut.json")


def test_status_of_a_branch(rounded, branch):
    assert branch.status == RESULTS.successful and "reached the bound" in branch.message
    short = continue_equilibria(rounded, "eta_bar", (0.0, 0.3), max_points=5)
    assert short.status == RESULTS.max_steps_reached and "max_points=5" in short.message
    assert len(short) == 9  # 5 per direction, sharing the start
    # A step far too long for the corrector, with no room to shrink it: numerical failure.
    kw = dict(ds=50.0, ds_min=50.0, ds_max=50.0)
    with pytest.raises(ContinuationError, match="corrector failed") as err:
        continue_equilibria(rounded, "eta_bar", (0.0, 0.3), **kw)
    assert isinstance(err.value, NumericalError) and not isinstance(err.value, ParameterError)
    assert err.value.result.status == RESULTS.not_converged
    failed = continue_equilibria(rounded, "eta_bar", (0.0, 0.3), throw=False, **kw)
    assert failed.status == RESULTS.not_converged and len(failed) == 1
    with pytest.raises(ContinuationError, match="did not converge"):
        continue_equilibria(rounded, "eta_bar", (0.0, 0.3), start=np.full(4, np.nan))


def test_branch_stops_at_the_edge_of_the_domain(rounded):
    # Issue 13: w_jump >= 0. Beyond the edge the old code reported a Hopf point at -0.037.
    b = continue_equilibria(rounded, "w_jump", (-0.05, 0.05))
    w = np.asarray(b.values)[:, 0]
    assert b.status == RESULTS.out_of_domain and "w_jump" in b.message
    assert w.min() == 0.0 and np.all(w >= 0.0)
    assert all(float(sp.value) >= 0 for sp in b.special_points)
    # The end point is the equilibrium of the model with w_jump = 0 (closed form).
    x = np.asarray(b.states)[np.argmin(w)]
    eta, x_cf = closed_form(rounded.replace(w_jump=0.0), x[0])
    assert eta == pytest.approx(0.12, abs=1e-10)
    np.testing.assert_allclose(x, x_cf, rtol=1e-10, atol=1e-12)
    # An open edge (tau_s > 0): the branch keeps its last valid point.
    b = continue_equilibria(rounded, "tau_s", (-1.0, 3.0), direction="backward", throw=False)
    assert b.status == RESULTS.out_of_domain and np.all(np.asarray(b.values) > 0)


def test_locate_throw(rounded, hopfs):
    with pytest.raises(ContinuationError, match="did not converge"):
        locate_hopf(rounded, "eta_bar", np.full(4, np.nan), 0.08)
    sp = locate_hopf(rounded, "eta_bar", np.full(4, np.nan), 0.08, throw=False)
    assert not sp.converged


def test_progress(rounded, capsys):
    continue_equilibria(rounded, "eta_bar", (0.1, 0.15), progress=True)
    err = capsys.readouterr().err
    assert "equilibrium branch in eta_bar" in err and "reached the bound 0.15" in err


def test_plot_branch(tmp_path, rounded, branch, hopfs, wjump_curves):
    pytest.importorskip("matplotlib")
    from jaxmf.plot import plot_branch

    ax = plot_branch(branch, "r")
    # Every drawn point of the equilibrium branch lies on the closed-form curve eta_bar(r), and
    # the dashed (unstable) pieces lie between the Hopf points found by bisection.
    h1 = hopf_by_bisection(rounded, 0.015, 0.03)[0]
    h2 = hopf_by_bisection(rounded, 0.08, 0.12)[0]
    curves = [line for line in ax.lines if line.get_linestyle() in ("-", "--")]
    assert sum(len(line.get_xdata()) for line in curves) >= len(branch)
    for line in curves:
        x, r = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        np.testing.assert_allclose([closed_form(rounded, ri)[0] for ri in r], x, atol=1e-10)
        if line.get_linestyle() == "--":
            assert np.all((x > h1 - 0.02) & (x < h2 + 0.02))
            assert np.any((x > h1) & (x < h2))
    labels = sorted(float(t.xy[0]) for t in ax.texts if t.get_text() == "H")
    np.testing.assert_allclose(labels, [h1, h2], atol=1e-8)
    ax2 = plot_branch(wjump_curves[0], ax=None)
    plot_branch(wjump_curves[1], ax=ax2)
    assert len(ax2.lines) > 2 and ax2.get_xlabel() == r"$\bar\eta$"  # the paper's symbols
    assert ax2.get_ylabel() == r"$w_{\rm jump}$"
    ax2.figure.savefig(tmp_path / "b.png")
    assert (tmp_path / "b.png").stat().st_size > 1000


def test_errors(rounded, hopfs):
    with pytest.raises(ParameterError, match="unknown parameter"):
        continue_equilibria(rounded, "eta", (0, 1))
    with pytest.raises(ParameterError, match="outside"):
        continue_equilibria(rounded, "eta_bar", (0.2, 0.3))
    with pytest.raises(ParameterError, match="chen_campbell"):
        continue_equilibria(rounded, "eta_bar", (0, 0.3), model="mpr")
    with pytest.raises(ParameterError, match="hopf"):
        continue_fold(rounded, hopfs[0], ("eta_bar", "w_jump"), ((0, 1), (0, 1)))


@pytest.mark.slow
def test_two_populations_kappa_plane():
    p = presets.two_population(0.8, rounded=True)
    b = continue_equilibria(p, "eta_bar", (0.0, 0.3))
    hopfs = [sp for sp in b.special_points if sp.kind == "hopf"]
    assert len(hopfs) == 2 and all(h.converged for h in hopfs)
    curve = continue_hopf(p, hopfs[1], ("eta_bar", "kappa"), ((-0.5, 1.0), (0.01, 0.99)))
    assert {"bt", "gh"} <= {sp.kind for sp in curve.special_points}
    for sp in curve.special_points:
        assert sp.converged
    # the saddle-node curve (from a fold at kappa = 0.2) has a cusp and meets the Hopf curve
    # at its Bogdanov-Takens point
    p2 = presets.two_population(0.2, rounded=True)
    b2 = continue_equilibria(p2, "eta_bar", (-0.5, 0.3))
    fold = [sp for sp in b2.special_points if sp.kind == "fold"][0]
    folds = continue_fold(p2, fold, ("eta_bar", "kappa"), ((-1.0, 1.0), (0.01, 0.99)))
    assert len(_points(folds, "cusp")) == 1 and _points(folds, "cusp")[0].converged
    bt = _points(curve, "bt")[0]
    assert (
        min(
            np.max(np.abs(np.asarray(b.value) - np.asarray(bt.value))) for b in _points(folds, "bt")
        )
        < 1e-8
    )
    # kappa continuation of equilibria agrees with a fresh two-population preset
    kb = continue_equilibria(p.replace(eta_bar=0.25), "kappa", (0.5, 0.9))
    i = len(kb) // 2
    kappa = float(np.asarray(kb.values)[i, 0])
    eq = meanfield_equilibria(presets.two_population(kappa, rounded=True, eta_bar=0.25))
    assert np.nanmin(np.abs(np.asarray(eq.r)[:, 0] - np.asarray(kb.states)[i, 0])) < 1e-9
    # indexed parameters: one population's excitability, one conductance
    for name, bounds in (("eta_bar[1]", (0.1, 0.4)), ("g[0,1]", (1.0, 1.5))):
        q = p.replace(eta_bar=0.25)
        br = continue_equilibria(q, name, bounds)
        j = len(br) // 3
        eq = meanfield_equilibria(br.params_at(j))
        assert np.nanmin(np.abs(np.asarray(eq.r)[:, 0] - np.asarray(br.states)[j, 0])) < 1e-9
        assert float(bf.get_parameter(br.params_at(j), name)) == float(br.values[j, 0])


def test_equilibria_at_a_fold_include_the_double_root():
    # At a fold two equilibria merge and the scalar residual touches zero without a sign change,
    # which bracketing alone cannot see. The folds come from Newton on the extended system
    # (locate_fold), started at the turning points of the closed-form curve eta_bar(r).
    p = presets.chen_campbell_2022(rounded=True, w_jump=0.001)
    rs = np.geomspace(1e-3, 0.5, 400)
    e = np.array([closed_form(p, r)[0] for r in rs])
    turns = np.nonzero(np.diff(np.sign(np.diff(e))))[0] + 1
    assert len(turns) == 2
    for i in turns:
        eta0, x0 = closed_form(p, rs[i])
        fold = bf.locate_fold(p.replace(eta_bar=eta0), "eta_bar", jnp.asarray(x0))
        r_fold = float(fold.state[0])
        eta_fold = float(fold.value)
        at = meanfield_equilibria(p.replace(eta_bar=eta_fold))
        assert at.status == RESULTS.successful and at.count == 2  # the double root once
        r = np.asarray(at.r[: at.count, 0])
        np.testing.assert_allclose(r[np.argmin(np.abs(r - r_fold))], r_fold, rtol=1e-9)
        assert float(np.max(np.asarray(at.residual)[: at.count])) < 1e-14
        # 1e-10 into the fold's three-equilibria side the pair is ~2e-5 r apart, far inside one
        # cell of the grid (0.5%): both are found, either side of the fold's rate.
        side = 1.0 if closed_form(p, rs[i])[0] < e[i - 1] else -1.0
        near = meanfield_equilibria(p.replace(eta_bar=eta_fold + side * 1e-10))
        r = np.sort(np.asarray(near.r[: near.count, 0]))
        assert near.count == 3
        pair = r[np.argsort(np.abs(r - r_fold))[:2]]
        assert pair.min() < r_fold < pair.max() and pair.max() - pair.min() < 1e-3 * r_fold


@pytest.mark.slow  # a float32 compilation of meanfield_equilibria (~3 CPU-s)
def test_equilibria_at_a_fold_in_float32():
    # In float32 the double root is found once, not split by rounding into three.
    p = presets.chen_campbell_2022(rounded=True, w_jump=0.001)
    eta0, x0 = closed_form(p, 0.0215)
    fold = bf.locate_fold(p.replace(eta_bar=eta0), "eta_bar", jnp.asarray(x0))
    r_fold = float(fold.state[0])
    f32 = meanfield_equilibria(p.replace(eta_bar=float(fold.value)), dtype=jnp.float32)
    assert f32.count == 2
    r32 = np.asarray(f32.r[: f32.count, 0])
    np.testing.assert_allclose(r32[np.argmin(np.abs(r32 - r_fold))], r_fold, rtol=1e-4)
