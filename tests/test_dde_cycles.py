"""Periodic orbits of DDEs against closed forms: a rotation read from the past (the unit circle,
period 2 pi, for any delay), a radial fold (beta = r^4 - 2 r^2), and a decoupled linear delayed
mode whose Floquet multipliers are exp(lambda T) with lambda from the Lambert W function."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import lambertw

from jaxmf._results import RESULTS, NumericalError
from jaxmf.dde import solve_dde
from jaxmf.dde_cycles import (
    continue_dde_cycles,
    dde_cycle,
    dde_cycle_from_solution,
    dde_multipliers,
)

TWO_PI = 2 * math.pi


def rotation(y, yd, tau):
    """J R(tau) y(t - tau): on a circle turning at unit speed it equals J y(t)."""
    c, s = jnp.cos(tau), jnp.sin(tau)
    return jnp.stack([-(s * yd[0] + c * yd[1]), c * yd[0] - s * yd[1]])


def circle(t, y, lag, args):
    tau, _, _ = args
    return rotation(y, lag[0], tau) + (1.0 - y @ y) * y


def with_mode(t, y, lag, args):
    """The circle in (y0, y1) and z' = -c z + d z(t - tau_z), not coupled to it."""
    tau, c, d = args
    x, xd = y[:2], lag[0][:2]
    dx = rotation(x, xd, tau) + (1.0 - x @ x) * x
    return jnp.concatenate([dx, (-c * y[2] + d * lag[1][2])[None]])


def fold(t, y, lag, beta):
    r2 = y @ y
    return rotation(y, lag[0], 1.0) + (beta + 2 * r2 - r2 * r2) * y


def ring(radius, phase=0.0, squash=1.0):
    return lambda s: (
        radius * jnp.stack([jnp.cos(TWO_PI * s + phase), squash * jnp.sin(TWO_PI * s + phase)], -1)
    )


def rightmost_root(c, d, tau):
    """The rightmost root of lambda = -c + d exp(-lambda tau) (Lambert W, principal branch)."""
    return -c + complex(lambertw(d * tau * math.exp(c * tau), 0)) / tau


@pytest.mark.parametrize(
    "tau",
    [0.5, pytest.param(2.5, marks=pytest.mark.slow)],  # a delay under and over T / 3
)
def test_rotation_cycle_has_period_two_pi_and_unit_radius(tau):
    args = (tau, 0.0, 0.0)
    cyc = dde_cycle(circle, ring(1.2, squash=0.8), 5.5, jnp.array([tau]), args=args, ntst=24)
    assert abs(float(cyc.period) - TWO_PI) < 1e-8
    np.testing.assert_allclose(np.linalg.norm(np.asarray(cyc.nodes), axis=1), 1.0, atol=1e-8)
    # The orbit attracts (the radial multiplier is well inside) and one multiplier is 1.
    assert cyc.stable and np.min(np.abs(cyc.multipliers - 1.0)) < 1e-8
    # Evaluating the cycle at any time follows the circle's phase.
    t = jnp.linspace(0.0, 20.0, 7)
    y = cyc(t)
    phase0 = math.atan2(float(y[0, 1]), float(y[0, 0]))
    np.testing.assert_allclose(
        np.asarray(y), np.stack([np.cos(t + phase0), np.sin(t + phase0)], -1), atol=1e-7
    )


def test_a_guess_that_collapses_onto_the_equilibrium_is_no_cycle():
    # A small ring around the unstable equilibrium 0: Newton lands on the constant solution,
    # which solves the collocation equations for any period. Reported, not returned as a cycle.
    args = (0.5, 0.0, 0.0)
    kw = dict(args=args, ntst=24)
    with pytest.raises(NumericalError, match="collapsed onto a constant"):
        dde_cycle(circle, ring(1e-2, squash=0.8), 5.5, jnp.array([0.5]), **kw)
    cyc = dde_cycle(circle, ring(1e-2, squash=0.8), 5.5, jnp.array([0.5]), throw=False, **kw)
    assert cyc.status == RESULTS.not_converged


@pytest.mark.slow  # a simulation and a second compilation (~6 CPU-s)
def test_cycle_from_a_simulation_equals_the_closed_form():
    args = (1.0, 0.0, 0.0)
    ts = jnp.linspace(0.0, 60.0, 6001)
    sol = solve_dde(circle, jnp.array([0.3, 0.0]), 60.0, jnp.array([1.0]), args=args, ts=ts)
    cyc = dde_cycle_from_solution(circle, sol.ts, sol.ys, jnp.array([1.0]), args=args, ntst=24)
    assert abs(float(cyc.period) - TWO_PI) < 1e-8


def test_multipliers_of_a_decoupled_delayed_mode_are_exp_lambda_t():
    c, d, tau_z = 0.5, -1.2, 1.0
    args = (1.0, c, d)
    delays = jnp.array([1.0, tau_z])
    guess = lambda s: jnp.concatenate([ring(1.0)(s), 0.0 * s[:, None]], -1)
    cyc = dde_cycle(with_mode, guess, TWO_PI, delays, args=args, ntst=24, multipliers=False)
    mult = dde_multipliers(with_mode, cyc, delays, args=args, n_multipliers=20)
    lam = rightmost_root(c, d, tau_z)
    assert lam.imag != 0.0  # a complex pair: a candidate torus bifurcation
    expected = np.exp(lam * TWO_PI)
    for mu in (expected, np.conj(expected)):
        assert np.min(np.abs(mult - mu)) < 1e-7 * max(1.0, abs(mu))
    assert np.min(np.abs(mult - 1.0)) < 1e-8  # the orbit's phase


@pytest.mark.slow  # two continuations with refinement (~40 s)
def test_fold_of_cycles_and_torus_bifurcation_against_closed_forms():
    r = 1.3
    beta0 = r**4 - 2 * r**2
    cyc = dde_cycle(fold, ring(r), 6.3, jnp.array([1.0]), args=beta0, ntst=16)
    br = continue_dde_cycles(
        fold,
        cyc,
        jnp.array([1.0]),
        lambda a, mu: mu,
        beta0,
        (-2.0, -0.4),
        args=beta0,
        direction=-1,
        ds=0.1,
    )
    lpc = [sp for sp in br.special_points if sp.kind == "lpc"]
    assert len(lpc) == 1 and abs(lpc[0].parameter + 1.0) < 1e-7
    np.testing.assert_allclose(br.period, TWO_PI, atol=1e-7)
    # Every cycle's radius solves beta + 2 r^2 - r^4 = 0; the outer ones are stable.
    radius = np.array([np.linalg.norm(np.asarray(cc.nodes), axis=1).mean() for cc in br.cycles])
    np.testing.assert_allclose(br.parameter + 2 * radius**2 - radius**4, 0.0, atol=1e-7)
    assert np.all(br.stable[radius > 1.0 + 1e-3]) and not np.any(br.stable[radius < 1.0 - 1e-3])

    # Torus: the decoupled mode's Hopf point d* (Re lambda = 0) is where its multipliers
    # exp(lambda T) leave the unit circle as a complex pair.
    c, tau_z = 0.5, 1.0
    d_star = brentq(lambda d: rightmost_root(c, d, tau_z).real, -2.0, -0.6)
    guess = lambda s: jnp.concatenate([ring(1.0)(s), 0.0 * s[:, None]], -1)
    delays = jnp.array([1.0, tau_z])
    cyc = dde_cycle(with_mode, guess, TWO_PI, delays, args=(1.0, c, -0.8), ntst=16)
    br = continue_dde_cycles(
        with_mode,
        cyc,
        delays,
        lambda a, mu: (a[0], a[1], mu),
        -0.8,
        (-2.0, -0.8),
        args=(1.0, c, -0.8),
        direction=-1,
        ds=0.2,
    )
    ns = [sp for sp in br.special_points if sp.kind == "ns"]
    assert len(ns) == 1 and abs(ns[0].parameter - d_star) < 1e-6
    assert br.stable[0] and not br.stable[-1]


@pytest.mark.slow  # a DDE simulation and two continuations of the delayed mean field (~3 min)
def test_delayed_meanfield_cycle_and_its_torus_bifurcation():
    import jaxmf
    from jaxmf.delay import delayed_meanfield_field
    from jaxmf.params import set_parameter

    # The delay-induced oscillation at eta_bar = 0.25, tau = 3 (Chen & Campbell 2023's strong
    # coupling): the collocation period equals the simulated one (a second method).
    p = jaxmf.presets.chen_campbell_2022(eta_bar=0.25, delay=3.0)
    sim = jaxmf.solve_meanfield(p, t1=1500.0, ts=jnp.linspace(0.0, 1500.0, 60001))
    ys = jnp.stack([sim.r[:, 0], sim.v[:, 0], sim.w[:, 0], sim.s[:, 0]], -1)
    delays = lambda a: a[0].delay.ravel()
    args = (p, None)
    s = np.asarray(sim.s[:, 0])
    t = np.asarray(sim.t)
    level = s[t > 750].mean()
    up = np.nonzero((s[:-1] < level) & (s[1:] >= level) & (t[:-1] > 750))[0]
    crossings = t[up] + (level - s[up]) / (s[up + 1] - s[up]) * (t[up + 1] - t[up])
    ns = []
    for ntst in (40, 80):
        cyc = dde_cycle_from_solution(
            delayed_meanfield_field, sim.t, ys, delays, args=args, ntst=ntst
        )
        assert abs(float(cyc.period) - np.mean(np.diff(crossings))) < 1e-5 * float(cyc.period)
        assert cyc.stable
        branch = continue_dde_cycles(
            delayed_meanfield_field,
            cyc,
            delays,
            lambda a, mu: (set_parameter(a[0], "delay", mu), a[1]),
            3.0,
            (1.0, 9.3),
            args=args,
            ds=0.02,
            ds_max=0.2,
        )
        ns.append([sp for sp in branch.special_points if sp.kind == "ns"])
        before, after = branch.parameter < ns[-1][0].parameter, branch.parameter > 9.05
        assert np.all(branch.stable[before]) and not np.any(branch.stable[after])
    # One torus bifurcation, converged in the mesh: a complex pair on the unit circle turning
    # by about 0.19 per cycle, a slow modulation of about 400 time units over the fast
    # oscillation of period 12.3: the two nested frequencies.
    assert len(ns[0]) == len(ns[1]) == 1
    coarse, fine = ns[0][0], ns[1][0]
    assert abs(coarse.parameter - fine.parameter) < 5e-4 and 9.0 < fine.parameter < 9.05
    pair = fine.multipliers[np.abs(fine.multipliers.imag) > 1e-6]
    pair = pair[np.argmin(np.abs(np.abs(pair) - 1.0))]
    assert abs(abs(pair) - 1.0) < 1e-6
    slow = 2 * np.pi * fine.period / abs(np.angle(pair))
    assert 12.2 < fine.period < 12.4 and 350 < slow < 450
