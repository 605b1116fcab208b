"""The DDE solver and characteristic roots against closed forms: the method of steps solved by
hand, eigenfunction solutions e^(lambda t), and the Lambert W roots of the scalar equation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import lambertw

import jaxmf
from jaxmf._results import status_names
from jaxmf.dde import characteristic_roots, discontinuities, solve_dde


def scalar(t, y, lag, args):
    a, b = args
    return a * y + b * lag[0]


def by_hand(t: float) -> float:
    """y' = -y(t - 1), y = 1 for t <= 0, by the method of steps: on [n - 1, n],
    y(t) = sum_{k=0}^{n} (-1)^k (t - (k - 1))^k / k!."""
    n = int(np.floor(t)) + 1
    return sum((-1) ** k * (t - (k - 1)) ** k / math.factorial(k) for k in range(n + 1))


def lambert_roots(a: float, b: float, tau: float, branches=range(-3, 4)) -> np.ndarray:
    """Roots of lambda = a + b exp(-lambda tau): lambda = a + W_k(b tau exp(-a tau)) / tau."""
    z = np.array([a + lambertw(b * tau * np.exp(-a * tau), k) / tau for k in branches])
    return z[np.argsort(-z.real)]


def test_method_of_steps_by_hand_to_1e_10():
    ts = jnp.linspace(0.0, 8.0, 161)
    sol = solve_dde(
        scalar, jnp.ones(1), 8.0, jnp.array([1.0]), args=(0.0, -1.0), ts=ts, rtol=1e-10, atol=1e-12
    )
    assert sol.status == jaxmf.RESULTS.successful
    exact = np.array([by_hand(float(t)) for t in ts])
    assert np.max(np.abs(np.asarray(sol.ys[:, 0]) - exact)) < 1e-9
    # Default tolerances (1e-8, 1e-10): within 1e-8 of the hand solution too.
    loose = solve_dde(scalar, jnp.ones(1), 8.0, jnp.array([1.0]), args=(0.0, -1.0), ts=ts)
    assert np.max(np.abs(np.asarray(loose.ys[:, 0]) - exact)) < 5e-8


@pytest.mark.slow  # a second compilation (callable history); the by-hand test covers accuracy
def test_eigenfunction_history_is_followed_exactly():
    """With history Re exp(lambda t) for a characteristic root lambda, the solution is
    Re exp(lambda t) for all t: the solver and the roots check each other."""
    a, b, tau = -0.5, -1.2, 1.7
    lam = complex(lambert_roots(a, b, tau)[0])
    history = lambda t, args: jnp.atleast_1d(jnp.exp(lam.real * t) * jnp.cos(lam.imag * t))
    ts = jnp.linspace(0.0, 12.0, 121)
    sol = solve_dde(
        scalar, history, 12.0, jnp.array([tau]), args=(a, b), ts=ts, rtol=1e-10, atol=1e-13
    )
    exact = np.real(np.exp(lam * np.asarray(ts)))
    assert np.max(np.abs(np.asarray(sol.ys[:, 0]) - exact)) < 1e-8


@pytest.mark.parametrize("a, b, tau", [(0.0, -1.0, 1.0), (-0.5, -1.2, 1.7), (0.3, 0.5, 2.0)])
def test_characteristic_roots_match_lambert_w(a, b, tau):
    roots = characteristic_roots([[a]], [[[b]]], [tau], n_roots=5)
    exact = lambert_roots(a, b, tau)
    for z in roots:
        assert np.min(np.abs(exact - z)) < 1e-10
    assert abs(roots[0].real - exact[0].real) < 1e-10  # the rightmost is found first


def test_system_roots_solve_the_characteristic_equation_and_converge():
    a0 = np.array([[-1.0, 0.5], [0.2, -0.3]])
    ak = np.array([[[0.0, -1.0], [0.3, 0.0]], [[-0.4, 0.0], [0.0, 0.1]]])
    tau = np.array([0.8, 2.5])
    coarse = characteristic_roots(a0, ak, tau, n_nodes=30, n_roots=5)
    fine = characteristic_roots(a0, ak, tau, n_nodes=60, n_roots=5)
    np.testing.assert_allclose(coarse, fine, atol=1e-10)
    for lam in fine:
        delta = lam * np.eye(2) - a0 - np.einsum("k,kij->ij", np.exp(-lam * tau), ak)
        assert abs(np.linalg.det(delta)) < 1e-10


@pytest.mark.slow  # three compilations (jit of vmap, jacfwd, plain) ~10 CPU-s
def test_jit_vmap_and_forward_derivative():
    """Batched over the delay and differentiated in the coupling: d y(4)/d b against central
    differences."""
    ts = jnp.array([4.0])

    def y_end(b, tau):
        sol = solve_dde(scalar, jnp.ones(1), 4.0, jnp.atleast_1d(tau), args=(0.0, b), ts=ts)
        return sol.ys[0, 0]

    batch = jax.jit(jax.vmap(y_end, in_axes=(None, 0)))(-1.0, jnp.array([1.0, 2.0]))
    assert abs(float(batch[0]) - by_hand(4.0)) < 5e-8
    # tau = 2: on [0, 2] y = 1 - t, on [2, 4] y = 1 - t + (t - 2)^2 / 2 -> y(4) = -1.
    assert abs(float(batch[1]) + 1.0) < 5e-8
    slope = jax.jacfwd(y_end)(-1.0, 1.0)
    eps = 1e-5
    fd = (y_end(-1.0 + eps, 1.0) - y_end(-1.0 - eps, 1.0)) / (2 * eps)
    assert abs(float(slope) - float(fd)) < 1e-6


def test_failures_are_flagged_and_bad_input_named():
    out = solve_dde(
        scalar, jnp.ones(1), 8.0, jnp.array([1.0]), args=(0.0, -1.0), max_steps=5, throw=False
    )
    assert out.status == jaxmf.RESULTS.max_steps_reached
    assert np.isnan(np.asarray(out.ys[-1, 0]))
    with pytest.raises(jaxmf.NumericalError, match="max"):
        solve_dde(scalar, jnp.ones(1), 8.0, jnp.array([1.0]), args=(0.0, -1.0), max_steps=5)
    with pytest.raises(jaxmf.ParameterError, match="delays"):
        solve_dde(scalar, jnp.ones(1), 8.0, jnp.array([-1.0]), args=(0.0, -1.0))
    with pytest.raises(jaxmf.ParameterError, match="t1"):
        solve_dde(scalar, jnp.ones(1), 0.0, jnp.array([1.0]), args=(0.0, -1.0))


def test_float32_path():
    ts = jnp.linspace(0.0, 3.0, 7, dtype=jnp.float32)
    sol = solve_dde(
        scalar,
        jnp.ones(1, jnp.float32),
        jnp.float32(3.0),
        jnp.array([1.0], jnp.float32),
        args=(jnp.float32(0.0), jnp.float32(-1.0)),
        ts=ts,
        rtol=1e-5,
        atol=1e-6,
    )
    assert sol.ys.dtype == jnp.float32
    exact = np.array([by_hand(float(t)) for t in ts])
    assert np.max(np.abs(np.asarray(sol.ys[:, 0]) - exact)) < 1e-4


def test_discontinuities_are_sums_of_delays():
    pts = np.asarray(discontinuities(0.0, jnp.array([1.0, 2.5]), 2))
    np.testing.assert_allclose(pts, sorted([1.0, 2.5, 2.0, 3.5, 5.0]))


@pytest.mark.slow  # a callable history compiles a second solver loop (~6 CPU-s)
def test_linear_system_follows_its_characteristic_root():
    """x' = A0 x + A1 x(t - tau) in two dimensions with history Re(v exp(lambda t)) for the
    rightmost root lambda and its null vector v: the solution is that eigenfunction to 1e-8."""
    a0 = np.array([[-1.0, 0.5], [0.2, -0.3]])
    a1 = np.array([[0.0, -1.0], [0.3, 0.0]])
    tau = 1.3
    lam = complex(characteristic_roots(a0, a1[None], [tau], n_roots=1)[0])
    delta = lam * np.eye(2) - a0 - a1 * np.exp(-lam * tau)
    v = np.linalg.svd(delta)[2][-1].conj()
    assert np.linalg.norm(delta @ v) < 1e-12
    mode = lambda t: (
        jnp.exp(lam.real * t)
        * (
            jnp.asarray(v.real) * jnp.cos(lam.imag * t)
            - jnp.asarray(v.imag) * jnp.sin(lam.imag * t)
        )
    )
    ts = jnp.linspace(0.0, 10.0, 51)
    sol = solve_dde(
        lambda t, y, lag, args: args[0] @ y + args[1] @ lag[0],
        lambda t, args: mode(t),
        10.0,
        jnp.array([tau]),
        args=(jnp.asarray(a0), jnp.asarray(a1)),
        ts=ts,
        rtol=1e-11,
        atol=1e-13,
    )
    exact = np.stack([np.asarray(mode(t)) for t in ts])
    assert np.max(np.abs(np.asarray(sol.ys) - exact)) < 1e-8


@pytest.mark.slow  # one more compilation of the roots (~1.5 CPU-s); the Lambert W tests cover them
def test_characteristic_roots_under_jit_and_vmap_and_with_a_zero_delay():
    """Traced delays give the eager roots; a zero delay gives the eigenvalues of A0 + A1."""
    a0, a1 = np.array([[-0.5]]), np.array([[[-1.2]]])
    taus = jnp.array([0.0, 1.7])
    batch = jax.jit(
        jax.vmap(lambda t: characteristic_roots(a0, a1, t[None], n_nodes=12, n_roots=3))
    )(taus)
    eager = characteristic_roots(a0, a1, [1.7], n_nodes=12, n_roots=3)
    np.testing.assert_allclose(np.asarray(batch[1]), eager, atol=1e-12)
    assert abs(complex(batch[0, 0]) - (-1.7)) < 1e-12
    assert np.all(np.isnan(np.asarray(batch[0, 1:])))  # a zero delay leaves one root
    exact = lambert_roots(-0.5, -1.2, 1.7)
    assert np.min(np.abs(exact - eager[0])) < 1e-10


def test_batched_lanes_step_on_their_own_and_stop_on_their_own():
    """Under vmap one lane runs out of steps while the other finishes: the finished lane is the
    hand solution and the stopped lane is flagged (its steps spent, NaN beyond), so each lane
    keeps its own steps and status in the batch."""
    ts = jnp.linspace(0.0, 4.0, 9)

    def solve(a):
        return solve_dde(
            scalar, jnp.ones(1), 4.0, jnp.array([1.0]), args=(a, -1.0), ts=ts, max_steps=200,
            throw=False,
        )  # fmt: skip

    # a = -400 is stiff: an explicit method needs steps below ~3.3/400.
    sol = jax.jit(jax.vmap(solve))(jnp.array([0.0, -400.0]))
    assert list(status_names(sol.status)) == ["ok", "max_steps"]
    exact = np.array([by_hand(float(t)) for t in ts])
    assert np.max(np.abs(np.asarray(sol.ys[0, :, 0]) - exact)) < 5e-8
    assert int(sol.n_steps[0]) < 200 and int(sol.n_steps[1]) == 200
    assert np.isnan(np.asarray(sol.ys[1, -1, 0]))


def test_vmap_of_jvp_with_an_unbatched_tangent_matches_the_closed_form():
    """y' = b y(t - tau), history 1: on [tau, 2 tau], y = 1 + b t + b^2 (t - tau)^2 / 2, so
    dy/dtau = -b^2 (t - tau) and dy/db = t + b (t - tau)^2. Lanes differ in tau; the tangent
    (one direction for all lanes) is not batched."""
    t1, b = 1.5, -1.0
    taus = jnp.array([1.0, 1.2])

    def y_end(tau, bb):
        sol = solve_dde(scalar, jnp.ones(1), t1, tau[None], args=(0.0, bb), ts=jnp.array([t1]))
        return sol.ys[0, 0]

    def both(tau):
        return jax.jvp(y_end, (tau, jnp.asarray(b)), (jnp.asarray(1.0), jnp.asarray(2.0)))

    value, slope = jax.jit(jax.vmap(both))(taus)
    tau = np.asarray(taus)
    exact = 1 + b * t1 + b**2 * (t1 - tau) ** 2 / 2
    exact_slope = -(b**2) * (t1 - tau) + 2.0 * (t1 + b * (t1 - tau) ** 2)
    np.testing.assert_allclose(np.asarray(value), exact, rtol=0, atol=5e-8)
    np.testing.assert_allclose(np.asarray(slope), exact_slope, rtol=0, atol=1e-6)


@pytest.mark.slow  # two more compilations (jacfwd batched and single) ~6 CPU-s
def test_jacfwd_under_vmap_equals_the_single_jacobians():
    def y_end(theta):
        tau, b = theta
        sol = solve_dde(scalar, jnp.ones(1), 1.5, tau[None], args=(0.0, b), ts=jnp.array([1.5]))
        return sol.ys[0, 0]

    thetas = jnp.array([[1.0, -1.0], [1.2, -0.5], [0.9, -2.0]])
    batch = jax.jit(jax.vmap(jax.jacfwd(y_end)))(thetas)
    single = jax.jit(jax.jacfwd(y_end))
    for i in range(3):
        np.testing.assert_allclose(np.asarray(batch[i]), np.asarray(single(thetas[i])), atol=1e-12)
        tau, b = np.asarray(thetas[i])
        exact = [-(b**2) * (1.5 - tau), 1.5 + b * (1.5 - tau) ** 2]
        np.testing.assert_allclose(np.asarray(batch[i]), exact, atol=1e-6)
