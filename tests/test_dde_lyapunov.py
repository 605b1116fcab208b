"""The first Lyapunov coefficient of DDE Hopf points against independent references: Wright's
equation (a Poincare-Lindstedt expansion by hand), ODEs (the delayed terms absent or the delay
zero: `jaxmf.first_lyapunov_coefficient`, the Hopf normal form) and the delayed mean field's
simulated cycle amplitudes near its first Hopf point in the delay."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmf
from jaxmf import bifurcation as bf
from jaxmf import presets
from jaxmf.dde import characteristic_roots
from jaxmf.dde_bifurcation import _hopf_normal_form, dde_first_lyapunov_coefficient
from jaxmf.delay import delayed_jacobians, delayed_meanfield_field

PI = np.pi


def wright(alpha):
    """x' = -alpha x(t - 1) (1 + x(t)); Hopf at alpha = pi/2 with omega = pi/2."""
    return lambda x, lag: -alpha * lag[0] * (1 + x)


def wright_reference():
    """(l1, Im c1) of Wright's equation at alpha = pi/2 from the Poincare-Lindstedt expansion.

    With x(t) = y(omega t), omega y'(s) = -alpha y(s - omega) (1 + y(s)), y = eps cos s + eps^2
    y2 + ..., order eps^2 gives y2 = cos(2 s)/5 + sin(2 s)/10 and the solvability of order eps^3
    alpha = pi/2 + (3 pi - 2)/40 eps^2, omega = pi/2 - eps^2/20 (harmonic balance, done here
    with sympy; the method of the classical analyses of Wright's equation, whose printed
    constants I could not consult; the slow test below checks the amplitude). The normal form
    z' = lambda(alpha) z + c1 z|z|^2 with x = 2 Re(z q), |q| = 1, has the cycle |z| = eps/2 at
    Re lambda'(alpha*) (alpha - alpha*) + Re c1 eps^2/4 = 0 and frequency Im lambda' (alpha -
    alpha*) + Im c1 eps^2/4 = omega - pi/2. From lambda + alpha exp(-lambda) = 0,
    lambda' = -exp(-lambda)/(1 + lambda) = (pi/2 + i)/(1 + pi^2/4) at lambda = i pi/2."""
    alpha2, omega2 = (3 * PI - 2) / 40, -1 / 20
    slope = (PI / 2 + 1j) / (1 + PI**2 / 4)
    re_c1 = -4 * alpha2 * slope.real
    im_c1 = 4 * (omega2 - slope.imag * alpha2)
    return re_c1 / (PI / 2), im_c1


def test_wright_equation_matches_the_lindstedt_expansion():
    l1_ref, im_ref = wright_reference()
    assert abs(l1_ref - (-2 * (3 * PI - 2) / (5 * (4 + PI**2)))) < 1e-15  # the closed form
    f = wright(PI / 2)
    l1 = dde_first_lyapunov_coefficient(f, np.zeros(1), [1.0], omega=PI / 2)
    assert abs(float(l1) - l1_ref) < 1e-12
    assert l1 < 0  # supercritical: the cycles born at pi/2 are stable
    normal_form = jax.jit(_hopf_normal_form, static_argnums=0)
    c1, p, q = normal_form(f, jnp.zeros(1), jnp.ones(1), jnp.asarray(PI / 2), jnp.ones(1))
    assert abs(complex(c1).imag - im_ref) < 1e-12
    # p^H Delta'(i omega) q = 1 with Delta(lambda) = lambda + alpha exp(-lambda) (delay 1).
    assert abs(complex(np.conj(p[0]) * (1 - PI / 2 * np.exp(-1j * PI / 2)) * q[0]) - 1) < 1e-14


def test_wright_equation_in_float32():
    l1_ref, _ = wright_reference()
    f = lambda x, lag: -jnp.float32(PI / 2) * lag[0] * (1 + x)
    l1 = dde_first_lyapunov_coefficient(f, jnp.zeros(1, jnp.float32), [1.0], jnp.float32(PI / 2))
    assert l1.dtype == jnp.float32
    assert abs(float(l1) - l1_ref) < 1e-5


def planar(x):
    """A planar ODE with a Hopf point at 0 (trace 0, det 1.21: omega = 1.1) and generic
    quadratic and cubic terms."""
    return jnp.stack(
        [
            0.3 * x[0] - 1.3 * x[1] + 0.4 * x[0] * x[1] - 0.2 * x[1] ** 2 + 0.1 * x[0] ** 3,
            x[0] - 0.3 * x[1] + 0.7 * x[0] ** 2 - 0.5 * x[0] * x[1] ** 2,
        ]
    )


def test_without_delayed_terms_it_is_the_ode_l1():
    ode = float(jax.jit(lambda x: jaxmf.first_lyapunov_coefficient(planar, x))(jnp.zeros(2)))
    # The delayed argument has a zero coefficient (up to third order: no contribution).
    absent = lambda x, lag: planar(x) + 0.0 * lag[0] ** 3
    dde = dde_first_lyapunov_coefficient(absent, jnp.zeros(2), [1.7], omega=1.1)
    assert abs(float(dde) - ode) < 1e-12 * abs(ode)
    # A zero delay: the arguments split between present and past in any way give the ODE.
    split = lambda x, lag: jnp.stack(
        [
            0.3 * x[0]
            - 1.3 * lag[0, 1]
            + 0.4 * lag[0, 0] * x[1]
            - 0.2 * x[1] * lag[0, 1]
            + 0.1 * x[0] * lag[0, 0] ** 2,
            lag[0, 0] - 0.3 * x[1] + 0.7 * x[0] * lag[0, 0] - 0.5 * lag[0, 0] * x[1] ** 2,
        ]
    )
    dde0 = dde_first_lyapunov_coefficient(split, jnp.zeros(2), [0.0], omega=1.1)
    assert abs(float(dde0) - ode) < 1e-12 * abs(ode)


@pytest.mark.slow  # two DDE solves over ~10^3 time units: ~10 CPU-s
def test_wright_cycle_amplitude_by_simulation():
    """Wright's equation at alpha = pi/2 + d, started on the predicted cycle: the simulated
    half peak-to-peak amplitude tends to eps = 2 |z|, |z|^2 = -Re lambda' d / (omega l1), with
    l1 from `dde_first_lyapunov_coefficient` (ratio 1 + O(d))."""
    from jaxmf.dde import solve_dde

    l1 = float(dde_first_lyapunov_coefficient(wright(PI / 2), [0.0], [1.0], omega=PI / 2))
    slope = 2 * PI / (4 + PI**2)  # Re lambda'(pi/2), see wright_reference
    f = lambda t, y, lag, alpha: -alpha * lag[0] * (1 + y)
    ratios = []
    for d, t1 in ((0.01, 1000.0), (0.02, 500.0)):
        eps = np.sqrt(-4 * slope * d / (PI / 2 * l1))
        history = lambda t, alpha, eps=eps: jnp.atleast_1d(eps * jnp.cos(PI / 2 * t))
        ts = jnp.linspace(t1 - 40.0, t1, 4001)
        sol = solve_dde(f, history, t1, jnp.array([1.0]), args=PI / 2 + d, ts=ts, max_steps=10**5)
        y = np.asarray(sol.ys[:, 0])
        ratios.append((y.max() - y.min()) / 2 / eps)
    assert abs(ratios[0] - 1) < 0.005 and abs(ratios[1] - 1) < 0.01
    assert abs(2 * ratios[0] - ratios[1] - 1) < 5e-4


@pytest.mark.slow  # characteristic_roots compiles for each system: ~3 CPU-s
def test_default_frequency_comes_from_the_characteristic_roots():
    l1_ref, _ = wright_reference()
    assert abs(float(dde_first_lyapunov_coefficient(wright(PI / 2), [0.0], [1.0])) - l1_ref) < 1e-12
    ode = float(jax.jit(lambda x: jaxmf.first_lyapunov_coefficient(planar, x))(jnp.zeros(2)))
    absent = lambda x, lag: planar(x) + 0.0 * lag[0] ** 3
    dde = dde_first_lyapunov_coefficient(absent, jnp.zeros(2), [1.7])
    assert abs(float(dde) - ode) < 1e-12 * abs(ode)


@pytest.mark.slow  # reverse mode through third derivatives compiles for ~1-2 CPU-s
def test_hopf_normal_form_value_and_gradient():
    """x' = -y + s x r^2, y' = x + s y r^2 (r^2 = x^2 + y^2) has l1 = 2 s with |q| = 1 (the
    convention of `first_lyapunov_coefficient`), so dl1/ds = 2; the same under jit."""

    def l1(s):
        f = lambda x, lag: (
            jnp.stack([-x[1] + s * x[0] * (x @ x), x[0] + s * x[1] * (x @ x)]) + (0.0 * lag[0])
        )
        q = jnp.array([1.0, -1.0j]) / jnp.sqrt(2.0)
        return dde_first_lyapunov_coefficient(f, jnp.zeros(2), [2.0], omega=1.0, q=q)

    value, grad = jax.jit(jax.value_and_grad(l1))(-0.5)
    assert abs(float(value) + 1.0) < 1e-13
    assert abs(float(grad) - 2.0) < 1e-12


@pytest.mark.slow  # the ODE Hopf point by locate_hopf: ~7 CPU-s of compilation
def test_meanfield_with_zero_delay_has_the_ode_hopf_l1():
    """The delayed mean field with delay 0 at the undelayed Hopf point in eta_bar (the
    subcritical one at 0.0749): the ODE side's l1 (Kuznetsov 3.20)."""
    p = presets.chen_campbell_2022(rounded=True, eta_bar=0.0749)
    eq = jaxmf.meanfield_equilibria(p)
    x0 = jnp.concatenate([eq.r[0], eq.v[0], eq.w[0], eq.s[0]])
    hopf = bf.locate_hopf(p, "eta_bar", x0)
    ph = hopf.params.replace(delay=0.0)
    f = lambda y, lag: delayed_meanfield_field(0.0, y, lag, (ph, None))
    l1 = dde_first_lyapunov_coefficient(f, hopf.state, [0.0], omega=hopf.frequency)
    ode = float(hopf.first_lyapunov)
    assert ode > 0
    assert abs(float(l1) - ode) < 1e-10 * abs(ode)


@pytest.mark.slow  # the two-population equilibrium branch and its Hopf points: ~10 CPU-s
def test_two_populations_with_zero_delays_have_the_ode_hopf_l1():
    """Four (post, pre) delays, all zero: each lagged s is read at theta = 0, so the ODE's l1."""
    p = presets.two_population(eta_bar=0.1)
    branch = bf.continue_equilibria(p, "eta_bar", (0.0, 0.4))
    hopf = [sp for sp in branch.special_points if sp.kind == "hopf"]
    assert len(hopf) >= 1
    for h in hopf:
        ph = h.params.replace(delay=jnp.zeros((2, 2)))
        f = lambda y, lag, ph=ph: delayed_meanfield_field(0.0, y, lag, (ph, None))
        l1 = dde_first_lyapunov_coefficient(f, h.state, jnp.zeros(4), omega=h.frequency)
        assert abs(float(l1) - float(h.first_lyapunov)) < 1e-10 * abs(float(h.first_lyapunov))


@pytest.mark.slow  # continue_delay and five long DDE solves (t1 up to 24000): ~40 CPU-s
def test_meanfield_first_hopf_in_the_delay_predicts_the_cycle_amplitude():
    """At the first Hopf point in the delay (tau* = 1.8649, eta_bar = 0.25) l1 < 0, and the
    normal form predicts the r amplitude 2 |z| |q_r| with |z|^2 = -Re lambda'(tau*) (tau -
    tau*) / (omega l1). The simulated amplitudes (solve_meanfield, long runs) approach it as
    tau -> tau* (their ratio to it is 1 + O(tau - tau*): extrapolated to within 0.5%), and the
    cycle grows like sqrt(tau - tau*)."""
    p = presets.chen_campbell_2022(eta_bar=0.25)
    hopf = jaxmf.continue_delay(p, bounds=(1.5, 2.5), points=11).special_points
    assert len(hopf) == 1 and hopf[0].converged
    tau_star, omega = float(hopf[0].value), float(hopf[0].frequency)
    l1 = float(hopf[0].first_lyapunov)
    assert l1 < 0 and hopf[0].criticality == "supercritical"
    assert abs(float(hopf[0].period) - 2 * PI / omega) < 1e-12
    x = np.asarray(hopf[0].state)
    # Independently of the normal-form code: Re lambda' by central differences of the
    # characteristic roots, q by an SVD of Delta(i omega).
    a0, a1 = delayed_jacobians(jnp.asarray(x), p.replace(delay=tau_star))

    def root(tau):
        r = np.asarray(characteristic_roots(a0, a1, jnp.array([tau]), n_nodes=20, n_roots=4))
        return r[np.argmin(np.abs(r - 1j * omega))]

    h = 1e-5
    slope = ((root(tau_star + h) - root(tau_star - h)) / (2 * h)).real
    assert slope > 0
    delta = (
        1j * omega * np.eye(4) - np.asarray(a0) - np.asarray(a1[0]) * np.exp(-1j * omega * tau_star)
    )
    q = np.linalg.svd(delta)[2][-1].conj()
    ratios = []
    for d, t1 in ((0.0025, 24000.0), (0.005, 12000.0)):
        predicted = 2 * np.sqrt(-slope * d / (omega * l1)) * abs(q[0])
        # Start near the predicted cycle; the last 100 time units (~14 periods) are measured
        # after > 9 relaxation times 1 / (2 Re lambda).
        y0 = tuple(np.array([x[i] + (predicted if i == 0 else 0.0)]) for i in range(4))
        ts = jnp.linspace(t1 - 100.0, t1, 2001)
        sol = jaxmf.solve_meanfield(
            p.replace(delay=tau_star + d), t1=t1, ts=ts, y0=y0, max_steps=800_000
        )
        r = np.asarray(sol.r).reshape(-1)
        ratios.append((r.max() - r.min()) / 2 / predicted)
    assert abs(ratios[0] - 1) < 0.02 and abs(ratios[1] - 1) < 0.035
    assert abs(2 * ratios[0] - ratios[1] - 1) < 0.005


@pytest.mark.slow  # a Hopf curve of the delayed mean field and three continue_delay runs: ~70 CPU-s
def test_hopf_curve_l1_and_its_generalised_hopf_point():
    """Along the (delay, eta_bar) Hopf curve through tau* = 1.8649 l1 changes sign at a
    generalised Hopf point; the curve's l1 equals continue_delay's at the eta_bar where they
    meet, and continue_delay's Hopf points on either side of the GH point have l1 of the
    opposite signs."""
    p = presets.chen_campbell_2022(eta_bar=0.25)
    first = jaxmf.continue_delay(p, bounds=(1.5, 2.5), points=11).special_points[0]
    curve = jaxmf.continue_delay_hopf(
        p, first, ("delay", "eta_bar"), ((1.0, 4.0), (0.15, 0.3)), ds_max=0.1
    )
    l1 = np.asarray(curve.data["l1"])
    values = np.asarray(curve.values)
    k = int(np.argmin(np.abs(values[:, 0] - float(first.value)) + np.abs(values[:, 1] - 0.25)))
    assert abs(values[k, 1] - 0.25) < 1e-9
    assert abs(l1[k] - float(first.first_lyapunov)) < 1e-9
    gh = [sp for sp in curve.special_points if sp.kind == "gh"]
    assert len(gh) == 1 and gh[0].converged
    assert abs(float(gh[0].first_lyapunov)) < 1e-8
    tau_gh, eta_gh = np.asarray(gh[0].value)
    signs = []
    for eta in (eta_gh - 0.003, eta_gh + 0.003):
        pts = jaxmf.continue_delay(
            p.replace(eta_bar=eta), bounds=(tau_gh - 0.3, tau_gh + 0.3), points=13
        ).special_points
        # The pair of the curve: a second (slow) pair crosses near the double-Hopf point.
        near = min(pts, key=lambda sp: abs(float(sp.frequency) - float(gh[0].frequency)))
        signs.append(np.sign(float(near.first_lyapunov)))
    assert signs[0] == -signs[1]
