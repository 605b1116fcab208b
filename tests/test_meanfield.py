import warnings

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.optimize

import jaxmf
from jaxmf._results import RESULTS, NumericalError
from jaxmf.meanfield import (
    MeanFieldState,
    StepInput,
    meanfield_equilibria,
    solve_meanfield,
)

from .conftest import assert_tree_allclose


def _scalars(p):
    return {
        k: float(np.ravel(getattr(p, k))[0])
        for k in (
            "alpha",
            "eta_bar",
            "delta_eta",
            "i_ext",
            "a",
            "b",
            "w_jump",
            "tau_s",
            "s_jump",
            "e_r",
            "g",
        )
    }


def _rhs_numpy(P):
    """model.md section 3, written out again in NumPy for scipy (independent of jaxmf)."""

    def f(t, y):
        r, v, w, s = y
        gs = P["g"] * s
        return [
            P["delta_eta"] / np.pi + 2 * r * v - r * (P["alpha"] + gs),
            v * v
            - P["alpha"] * v
            - np.pi**2 * r * r
            + gs * (P["e_r"] - v)
            - w
            + P["eta_bar"]
            + P["i_ext"],
            P["a"] * (P["b"] * v - w) + P["w_jump"] * r,
            -s / P["tau_s"] + P["s_jump"] * r,
        ]

    return f


@pytest.mark.parametrize("eta_bar", [0.25, 0.12])
def test_solve_matches_scipy(eta_bar):
    p = jaxmf.presets.chen_campbell_2022(eta_bar=eta_bar)
    ts = np.linspace(0, 300, 601)
    mf = solve_meanfield(p, t1=300.0, ts=ts, rtol=1e-11, atol=1e-13)
    ref = scipy.integrate.solve_ivp(
        _rhs_numpy(_scalars(p)),
        (0, 300),
        [0, 0, 0, 0],
        t_eval=ts,
        method="DOP853",
        rtol=1e-12,
        atol=1e-14,
    )
    ours = np.stack([mf.r[:, 0], mf.v[:, 0], mf.w[:, 0], mf.s[:, 0]])
    scale = np.max(np.abs(ref.y), axis=1, keepdims=True)
    assert np.max(np.abs(ours - ref.y) / scale) < 1e-6


def test_equilibria_closed_form_and_vector_field():
    for eta_bar in (0.01, 0.12, 0.25):
        p = jaxmf.presets.chen_campbell_2022(eta_bar=eta_bar)
        P = _scalars(p)
        eq = meanfield_equilibria(p)
        assert eq.count >= 1
        for k in range(eq.count):
            r, v, w, s = (float(x[k, 0]) for x in (eq.r, eq.v, eq.w, eq.s))
            # model.md: s* = tau_s s_jump r*, v* = (alpha + g s*)/2 - Delta/(2 pi r*),
            # w* = b v* + w_jump r*/a
            np.testing.assert_allclose(s, P["tau_s"] * P["s_jump"] * r, rtol=1e-10)
            np.testing.assert_allclose(
                v, (P["alpha"] + P["g"] * s) / 2 - P["delta_eta"] / (2 * np.pi * r), rtol=1e-10
            )
            np.testing.assert_allclose(
                w, P["b"] * v + P["w_jump"] * r / P["a"], rtol=1e-10, atol=1e-14
            )
            c = w - P["g"] * P["e_r"] * s + (P["alpha"] + P["g"] * s) ** 2 / 4 - P["i_ext"]
            np.testing.assert_allclose(
                r, np.sqrt(complex(P["eta_bar"] - c, P["delta_eta"])).real / np.pi, rtol=1e-10
            )
            assert np.max(np.abs(_rhs_numpy(P)(0, [r, v, w, s]))) < 1e-12


def test_equilibria_stability_matches_paper():
    # model.md section 4: stable equilibrium below ~0.075 and above ~0.19, unstable in between.
    stable = {
        e: bool(meanfield_equilibria(jaxmf.presets.chen_campbell_2022(eta_bar=e)).stable[0])
        for e in (0.05, 0.1, 0.12, 0.17, 0.25)
    }
    assert stable == {0.05: True, 0.1: False, 0.12: False, 0.17: False, 0.25: True}


def test_equilibria_find_every_root():
    # Three equilibria (a fold pair) appear where adaptation is weak and the drive low: compare the
    # count with a dense independent scan of the scalar equation.
    p = jaxmf.presets.chen_campbell_2022(eta_bar=0.0, w_jump=0.0, b=0.0, delta_eta=0.01)
    P = _scalars(p)

    def F(r):
        s = P["tau_s"] * P["s_jump"] * r
        # w* = b v* + w_jump r*/a vanishes here (b = w_jump = 0), so v* does not enter c.
        c = -P["g"] * P["e_r"] * s + (P["alpha"] + P["g"] * s) ** 2 / 4
        return np.pi * r - np.sqrt(complex(P["eta_bar"] - c, P["delta_eta"])).real

    grid = np.logspace(-8, 1, 200_000)
    vals = np.array([F(r) for r in grid])
    brackets = np.nonzero(np.sign(vals[:-1]) != np.sign(vals[1:]))[0]
    roots = sorted(scipy.optimize.brentq(F, grid[i], grid[i + 1], xtol=1e-15) for i in brackets)
    eq = meanfield_equilibria(p)
    assert eq.count == len(roots) == 3
    np.testing.assert_allclose(np.sort(eq.r[: eq.count, 0]), roots, rtol=1e-9)


def test_mpr_limit_fixed_point():
    # Closed-form MPR equilibrium (brentq) vs equilibria and the long-time solution of 'mpr'.
    p = jaxmf.presets.chen_campbell_2022(w_jump=0.0, b=0.0, eta_bar=0.05, delta_eta=0.05)
    P = _scalars(p)

    def F(r):
        s = P["tau_s"] * P["s_jump"] * r
        c = -P["g"] * P["e_r"] * s + (P["alpha"] + P["g"] * s) ** 2 / 4
        return r - np.sqrt(complex(P["eta_bar"] - c, P["delta_eta"])).real / np.pi

    r_star = scipy.optimize.brentq(F, 1e-9, 10, xtol=1e-15)
    np.testing.assert_allclose(meanfield_equilibria(p).r[0, 0], r_star, rtol=1e-10)
    mf = solve_meanfield(
        jaxmf.presets.chen_campbell_2022(eta_bar=0.05, delta_eta=0.05), t1=400.0, model="mpr"
    )
    np.testing.assert_allclose(mf.r[-1, 0], r_star, rtol=1e-6)


def test_nicola_campbell_shares_the_equilibrium():
    p = jaxmf.presets.tonic()
    eq = meanfield_equilibria(p)
    nc = solve_meanfield(p, t1=3000.0, model="nicola_campbell")
    np.testing.assert_allclose(nc.r[-1, 0], eq.r[0, 0], rtol=1e-5)
    np.testing.assert_allclose(nc.w[-1, 0], eq.w[0, 0], rtol=1e-5)


def test_bursting_amplitude_and_switching_input():
    p = jaxmf.presets.bursting()
    mf = solve_meanfield(p, t1=1600.0, i_ext=StepInput([800.0], [0.0, 0.1]))
    before = np.asarray(mf.r[(mf.t > 300) & (mf.t < 800), 0])
    after = np.asarray(mf.r[mf.t > 1300, 0])
    # model.md section 4: r alternates between ~0.01 and ~0.15; I_ext = 0.1 makes it tonic.
    assert 0.005 < before.min() < 0.02 and 0.12 < before.max() < 0.18
    assert after.max() - after.min() < 1e-3
    eq = meanfield_equilibria(p.replace(i_ext=0.1))
    np.testing.assert_allclose(after[-1], eq.r[0, 0], rtol=1e-4)


def test_two_identical_populations_equal_one():
    one = solve_meanfield(jaxmf.presets.bursting(), t1=200.0)
    p2 = jaxmf.presets.bursting().replace(
        eta_bar=[0.12, 0.12],
        fractions=[0.5, 0.5],
        g=np.full((2, 2), float(jaxmf.presets.bursting().g[0, 0])),
    )
    two = solve_meanfield(p2, t1=200.0)
    for k in range(2):
        np.testing.assert_allclose(two.r[:, k], one.r[:, 0], rtol=1e-7, atol=1e-10)


def test_jit_vmap_and_grad():
    p = jaxmf.presets.bursting()
    ts = jnp.linspace(0, 40, 81)
    loss = lambda e: jnp.mean(solve_meanfield(p.replace(eta_bar=e), t1=40.0, ts=ts).r ** 2)
    eager = loss(0.12)
    np.testing.assert_allclose(jax.jit(loss)(0.12), eager, rtol=1e-12)
    # vmap of solves: test_sweep.py's lane test (each point its own steps) checks it; here the
    # call with its default save grid (ts=None) under vmap, against single solves.
    etas = jnp.array([0.1, 0.12, 0.2])
    batch = jax.vmap(lambda e: solve_meanfield(p.replace(eta_bar=e), t1=10.0))(etas)
    for k, e in enumerate(etas):
        one = solve_meanfield(p.replace(eta_bar=e), t1=10.0)
        np.testing.assert_allclose(batch.t[k], one.t, rtol=0, atol=0)
        np.testing.assert_allclose(batch.r[k], one.r, rtol=1e-12, atol=1e-14)
    g = jax.grad(loss)(0.12)
    fd = (loss(0.12 + 1e-6) - loss(0.12 - 1e-6)) / 2e-6
    np.testing.assert_allclose(g, fd, rtol=1e-5)
    eq = jax.vmap(lambda e: meanfield_equilibria(p.replace(eta_bar=e)).r[0, 0])(etas)
    np.testing.assert_allclose(
        eq, [meanfield_equilibria(p.replace(eta_bar=e)).r[0, 0] for e in etas], rtol=1e-12
    )


def test_bad_arguments():
    with pytest.raises(jaxmf.ParameterError, match="model"):
        solve_meanfield(jaxmf.presets.bursting(), model="nope")
    with pytest.raises(jaxmf.ParameterError, match="t1"):
        solve_meanfield(jaxmf.presets.bursting(), t1=-1.0)
    with pytest.raises(jaxmf.ParameterError, match="values"):
        StepInput([1.0, 2.0], [0.0, 0.1])


def test_two_population_equilibria():
    p = jaxmf.presets.two_population(eta_bar=0.25)
    eq = meanfield_equilibria(p)
    assert eq.count == 1 and bool(eq.stable[0])
    # The vector field vanishes there (written out again in NumPy for P populations) ...
    P = {
        k: np.asarray(getattr(p, k), float)
        for k in (
            "alpha",
            "eta_bar",
            "delta_eta",
            "i_ext",
            "a",
            "b",
            "w_jump",
            "tau_s",
            "s_jump",
            "e_r",
            "g",
            "fractions",
        )
    }
    r, v, w, s = (np.asarray(x[0], float) for x in (eq.r, eq.v, eq.w, eq.s))
    gs = P["g"] @ (P["fractions"] * s)
    gse = P["g"] @ (P["fractions"] * s * P["e_r"])
    rhs = [
        P["delta_eta"] / np.pi + 2 * r * v - r * (P["alpha"] + gs),
        v * v - P["alpha"] * v - np.pi**2 * r * r + gse - gs * v - w + P["eta_bar"] + P["i_ext"],
        P["a"] * (P["b"] * v - w) + P["w_jump"] * r,
        -s / P["tau_s"] + P["s_jump"] * r,
    ]
    assert np.max(np.abs(rhs)) < 1e-12
    # ... and the stable equilibrium is where the dynamics settle.
    mf = solve_meanfield(p, t1=3000.0)
    np.testing.assert_allclose(mf.r[-1], eq.r[0], rtol=1e-5)
    # Two identical halves have the one-population equilibrium.
    b = jaxmf.presets.bursting()
    halves = b.replace(
        eta_bar=[0.12, 0.12], fractions=[0.5, 0.5], g=np.full((2, 2), float(b.g[0, 0]))
    )
    e2 = meanfield_equilibria(halves)
    assert e2.count == 1
    np.testing.assert_allclose(e2.r[0], meanfield_equilibria(b).r[0, 0], rtol=1e-10)


def test_float32_solve_tracks_float64():
    p64 = jaxmf.presets.bursting()
    p32 = jax.tree.map(lambda x: x.astype(jnp.float32), p64)
    ts = np.linspace(0, 300, 61)
    r64 = solve_meanfield(p64, t1=300.0, ts=ts).r
    with pytest.warns(UserWarning, match="float32 although jax_enable_x64 is on"):
        res32 = solve_meanfield(p32, t1=300.0, ts=ts, rtol=1e-5, atol=1e-7)
    r32 = res32.r
    assert r32.dtype == jnp.float32 and res32.dtype == np.float32
    np.testing.assert_allclose(
        np.asarray(r32, float), np.asarray(r64), atol=2e-3 * float(np.max(r64))
    )


def test_status_items_and_throw():
    p = jaxmf.presets.bursting()
    ok = solve_meanfield(p, t1=20.0)
    assert ok.status == RESULTS.successful and ok.message == ""
    # Too few steps: flagged with throw=False, a NumericalError carrying the result otherwise.
    short = solve_meanfield(p, t1=20.0, max_steps=3, throw=False)
    assert short.status == RESULTS.max_steps_reached
    with pytest.raises(NumericalError, match="maximum number of steps") as err:
        solve_meanfield(p, t1=20.0, max_steps=3)
    assert err.value.result.status == RESULTS.max_steps_reached
    # Under jit the check runs at run time.
    with pytest.raises(Exception, match="solve_meanfield"):
        jax.block_until_ready(
            jax.jit(
                lambda e: (
                    solve_meanfield(
                        p.replace(eta_bar=e), t1=20.0, ts=jnp.linspace(0, 20, 5), max_steps=3
                    ).r
                )
            )(0.12)
        )


def test_blowup_event_stops_and_default_path_is_unchanged():
    p = jaxmf.presets.bursting()
    ts = jnp.linspace(0, 50, 101)
    plain = solve_meanfield(p, t1=50.0, ts=ts)
    # A bound never reached: the same steps and values, bit for bit.
    loose = solve_meanfield(p, t1=50.0, ts=ts, blowup=1e6)
    np.testing.assert_array_equal(loose.r, plain.r)
    assert int(loose.n_steps) == int(plain.n_steps)
    # A bound the rate's first rise crosses (max r ~ 0.22 over this run): stopped early.
    stopped = solve_meanfield(p, t1=50.0, ts=ts, blowup=0.1, throw=False)
    assert stopped.status == RESULTS.diverged
    assert int(stopped.n_steps) < int(plain.n_steps)
    crossed = np.nonzero(
        np.max(np.abs(np.stack([plain.r, plain.v, plain.w, plain.s])), axis=(0, 2)) > 0.1
    )[0][0]
    assert np.all(np.isfinite(stopped.r[: crossed - 1])) and not np.all(np.isfinite(stopped.r))
    with pytest.raises(NumericalError, match="non-finite"):
        solve_meanfield(p, t1=50.0, ts=ts, blowup=0.1)


@pytest.mark.slow  # test_float32_solve_tracks_float64 covers the float32 path
def test_precision_follows_the_params_and_mixed_fields_are_widened():
    p = jaxmf.presets.bursting()
    ts = jnp.linspace(0, 20, 5)
    # A float32 eta_bar among float64 fields: widened to float64, no crash, no warning.
    mixed = eqx.tree_at(lambda q: q.eta_bar, p, p.eta_bar.astype(jnp.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = solve_meanfield(mixed, t1=20.0, ts=ts)
        eq = meanfield_equilibria(mixed)
    assert res.dtype == np.float64 and eq.dtype == np.float64
    rounded = p.replace(eta_bar=float(np.float32(p.eta_bar[0])))
    np.testing.assert_allclose(res.r, solve_meanfield(rounded, t1=20.0, ts=ts).r, rtol=1e-12)
    # All float32 under x64: computed in float32 and said so; dtype= asks for float64.
    p32 = jax.tree.map(lambda x: x.astype(jnp.float32), p)
    with pytest.warns(UserWarning, match="float32"):
        eq32 = meanfield_equilibria(p32)
    assert eq32.dtype == np.float32 and eq32.status == RESULTS.successful
    np.testing.assert_allclose(eq32.r[0, 0], meanfield_equilibria(p).r[0, 0], rtol=1e-4)
    assert solve_meanfield(p32, t1=20.0, ts=ts, dtype=jnp.float64).dtype == np.float64


def test_equilibria_range_is_checked_and_roots_outside_are_reported():
    p = jaxmf.presets.bursting()
    for bad in [(0.0, 10.0), (-1.0, 10.0), (5.0, 1.0), (1e-10, np.inf)]:
        with pytest.raises(jaxmf.ParameterError, match="r_range"):
            meanfield_equilibria(p, r_range=bad)
    # eta_bar = 1e6: the rate (of order sqrt(eta_bar)/pi) lies far above the default range.
    far = p.replace(eta_bar=1e6)
    eq = meanfield_equilibria(far, throw=False)
    assert eq.status == RESULTS.out_of_domain and eq.count == 0
    with pytest.raises(NumericalError, match="parameter domain"):
        meanfield_equilibria(far)
    wide = meanfield_equilibria(far, r_range=(1e-10, 1e4))
    assert wide.status == RESULTS.successful and wide.count == 1
    y = [float(x[0, 0]) for x in (wide.r, wide.v, wide.w, wide.s)]
    rhs = _rhs_numpy(_scalars(far))(0.0, y)  # the vector field, written out in NumPy, vanishes
    assert np.max(np.abs(rhs)) < 1e-9 * (1 + max(abs(x) for x in y)) ** 2
    assert y[0] > 10.0


# The two-population root find differentiates like the one-population one (slow: ~4 CPU-s of
# compilation for the same code path).
# Both slow (~7 CPU-s): the bifurcation sensitivity test differentiates equilibria too.
@pytest.mark.slow
@pytest.mark.parametrize("two", [False, True])
def test_grad_through_equilibria_matches_finite_differences(two):
    p = jaxmf.presets.two_population(eta_bar=0.25) if two else jaxmf.presets.tonic()

    def rate(e):
        q = p.replace(eta_bar=jnp.full((p.n_populations,), e))
        return meanfield_equilibria(q).r[0, 0]

    e0, h = float(p.eta_bar[0]), 1e-6
    fd = (rate(e0 + h) - rate(e0 - h)) / (2 * h)
    np.testing.assert_allclose(jax.grad(rate)(e0), fd, rtol=1e-6)
    if not two:  # forward mode once (the two-population root find differentiates alike)
        np.testing.assert_allclose(jax.jacfwd(rate)(e0), fd, rtol=1e-6)


@pytest.mark.slow  # the Levenberg-Marquardt fit tests take forward-mode Jacobians through solves
def test_forward_mode_through_solve_with_forward_adjoint():
    p = jaxmf.presets.bursting()
    ts = jnp.linspace(0, 20, 11)
    f = lambda e: solve_meanfield(
        p.replace(eta_bar=e), t1=20.0, ts=ts, adjoint=diffrax.ForwardMode()
    ).r[:, 0]
    fwd = jax.jacfwd(f)(0.12)
    fd = (f(0.12 + 1e-6) - f(0.12 - 1e-6)) / 2e-6
    np.testing.assert_allclose(fwd, fd, rtol=1e-5, atol=1e-9)


def test_bad_inputs_are_refused_up_front():
    p = jaxmf.presets.bursting()
    cases = [
        (dict(ts=[np.nan]), "ts"),
        (dict(ts=[5.0, 1.0]), "ts"),
        (dict(ts=[-1.0, 5.0]), "ts"),
        (dict(ts=[1.0, 200.0]), "ts"),
        (dict(t1=np.inf), "t1"),
        (dict(rtol=-1e-6), "rtol"),
        (dict(rtol=10.0), "rtol"),
        (dict(max_steps=0), "max_steps"),
        (dict(y0=MeanFieldState(np.nan, 0.0, 0.0, 0.0)), "y0"),
        (dict(blowup=-1.0), "blowup"),
    ]
    for kwargs, name in cases:
        with pytest.raises(jaxmf.ParameterError) as err:
            solve_meanfield(p, **({"t1": 100.0} | kwargs))
        assert err.value.name == name, kwargs
    with pytest.raises(jaxmf.ParameterError, match="times"):
        StepInput([50.0, 10.0], [0.0, 0.1, 0.2])


def test_results_print_their_values():
    p = jaxmf.presets.tonic()
    text = repr(p)
    assert f"eta_bar={float(p.eta_bar[0]):.6g}" in text and "Array(" not in text
    eq = meanfield_equilibria(p)
    assert f"r={float(eq.r[0, 0]):.6g}" in repr(eq) and "status=ok" in repr(eq)
    res = solve_meanfield(p, t1=10.0)
    assert "status=ok" in repr(res) and "float64[101, 1]" in repr(res)
    assert "v_t=-24.6" in repr(p.to_dimensional())


def _paths(p, **kwargs):
    """The default solve (the single compiled loop) and `diffrax.diffeqsolve` on the same problem
    (an explicit adjoint routes there)."""
    fast = solve_meanfield(p, throw=False, **kwargs)
    ref = solve_meanfield(p, throw=False, adjoint=diffrax.RecursiveCheckpointAdjoint(), **kwargs)
    return fast, ref


def test_default_solve_equals_diffeqsolve_step_for_step():
    # Bursting, the default save grid (every 0.1): the same accepted steps, and values equal to
    # rounding (the interpolant's weights summed in another order).
    fast, ref = _paths(jaxmf.presets.bursting(), t1=100.0)
    assert int(fast.n_steps) == int(ref.n_steps) and fast.status == ref.status
    assert_tree_allclose(
        (fast.t, fast.r, fast.v, fast.w, fast.s),
        (ref.t, ref.r, ref.v, ref.w, ref.s),
        rtol=1e-12,
        atol=1e-12,
    )


def test_steps_spanning_hundreds_of_save_times_equal_diffeqsolve():
    # Quiescent (eta_bar = -0.2): steps of up to ~4 time units over a grid every 0.01, so one
    # step holds hundreds of save times, and repeated times at both ends; each save time is
    # evaluated from the step containing it, as diffeqsolve's per-point save loop does. The
    # stages are summed term by term where diffrax takes a dot: the same steps, values equal to
    # rounding accumulated over the solve (1.4e-12 in v, where the dot agreed to 1.1e-13).
    p = jaxmf.presets.chen_campbell_2022(eta_bar=-0.2)
    grid = jnp.linspace(0.0, 200.0, 20001)
    ts = jnp.concatenate([jnp.zeros(2), grid, jnp.full((3,), 200.0)])
    fast, ref = _paths(p, t1=200.0, ts=ts)
    assert fast.status == ref.status == RESULTS.successful
    assert int(fast.n_steps) == int(ref.n_steps) < 200  # < 1% of the save times
    assert_tree_allclose(
        (fast.t, fast.r, fast.v, fast.w, fast.s),
        (ref.t, ref.r, ref.v, ref.w, ref.s),
        rtol=1e-11,
        atol=1e-11,
    )


@pytest.mark.slow  # two reverse-mode diffrax compilations (~15 CPU-s); eager grad is default-tested
def test_grad_of_jitted_default_solve_is_diffrax_adjoint():
    # Reverse mode through a jit that hides the differentiation from solve_meanfield: the
    # single loop's custom VJP, against diffrax's checkpointed adjoint and differences.
    p = jaxmf.presets.bursting()
    ts = jnp.linspace(0, 30, 31)

    def loss(e, adjoint=None):
        res = solve_meanfield(p.replace(eta_bar=e), t1=30.0, ts=ts, adjoint=adjoint)
        return jnp.mean(res.r**2)

    g = jax.grad(jax.jit(loss))(0.12)
    g_ref = jax.grad(lambda e: loss(e, diffrax.RecursiveCheckpointAdjoint()))(0.12)
    np.testing.assert_allclose(g, g_ref, rtol=1e-12)
    fd = (loss(0.12 + 1e-6) - loss(0.12 - 1e-6)) / 2e-6
    np.testing.assert_allclose(g, fd, rtol=1e-5)


@pytest.mark.slow  # four more compiled solves of each path (~15 CPU-s)
@pytest.mark.parametrize(
    "case",
    [
        dict(t1=60.0, i_ext=StepInput([20.0], [0.0, 0.1])),  # a jump stepped to exactly
        dict(t1=60.0, model="nicola_campbell"),
        dict(t1=50.0, ts=jnp.linspace(0, 50, 101), blowup=0.1),  # stopped: diverged, inf tail
        dict(t1=60.0, max_steps=40),  # max_steps_reached, the unsaved tail inf
        dict(t1=60.0, dtype=jnp.float32),
        dict(t1=60.0, ts=jnp.linspace(10, 60, 3), solver=diffrax.Dopri5(), dt0=0.01),
    ],
)
def test_default_solve_equals_diffeqsolve_in_every_mode(case):
    fast, ref = _paths(jaxmf.presets.bursting(), **case)
    assert fast.status == ref.status
    if case.get("dtype") == jnp.float32:
        # rtol 1e-8 is below float32's resolution: rounding picks the steps, and both paths are
        # ~5e-7 from the float64 solution.
        tol = 2e-6
    else:
        assert int(fast.n_steps) == int(ref.n_steps)
        tol = 1e-12
    assert_tree_allclose(
        (fast.t, fast.r, fast.v, fast.w, fast.s),
        (ref.t, ref.r, ref.v, ref.w, ref.s),
        rtol=tol,
        atol=tol,
    )


@pytest.mark.slow  # one more diffeqsolve compilation (~3 CPU-s)
def test_callable_input_goes_to_diffeqsolve_and_matches_step_input():
    # Any callable t -> input is solved by diffeqsolve (it may close over tracers); the same
    # switch as a StepInput, whose jump the single loop steps to exactly.
    p = jaxmf.presets.bursting()
    ramp = solve_meanfield(p, t1=40.0, i_ext=lambda t: jnp.where(t > 20.0, 0.1, 0.0))
    step = solve_meanfield(p, t1=40.0, i_ext=StepInput([20.0], [0.0, 0.1]))
    assert ramp.status == step.status == RESULTS.successful
    np.testing.assert_allclose(ramp.r, step.r, atol=1e-6)
