import functools
import importlib
import json
import signal
import subprocess
import sys
import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optimistix as optx
import pytest

import jaxmf
from jaxmf._results import Interrupted, NumericalError, status_names
from jaxmf.params import ParameterError

from .conftest import tree_allclose

# The module, not the function `jaxmf.fit` that shadows it on the package.
F = importlib.import_module("jaxmf._fit")

ETA, W_JUMP = 0.12, 0.0189
T1, TRANSIENT = 600.0, 150.0


@pytest.fixture(scope="module")
def truth():
    return jaxmf.presets.bursting(w_jump=W_JUMP)


@pytest.fixture(scope="module")
def target(truth):
    ts = jnp.linspace(0.0, T1, int(T1 / 0.5) + 1)
    sim = jaxmf.solve_meanfield(truth, T1, ts=ts, rtol=1e-10, atol=1e-12)
    return F.BurstTarget.from_trace(sim.t, sim.r, transient=TRANSIENT)


def test_target_features_agree_with_analysis(target):
    # Smooth features vs the hard threshold definitions of jaxmf.analysis (tolerances: the
    # smooth duty/peak differ by construction, a few percent).
    assert target.stats.n_bursts >= 2
    assert float(target.period) == pytest.approx(float(target.stats.period), rel=0.01)
    assert float(target.peak) == pytest.approx(float(target.stats.peak), rel=0.03)
    assert float(target.duty) == pytest.approx(float(target.stats.duty_cycle), rel=0.05)
    assert float(target.mean) == pytest.approx(float(target.stats.mean), rel=1e-12)


@pytest.mark.parametrize("period", [7.0, 20.0, 33.0])
def test_burst_features_period_is_the_period_not_a_multiple(period):
    # A perfectly periodic trace correlates as well at 2T, 3T, ... as at T: the period reported
    # must be T itself (to the autocorrelation estimator's window bias, under 1% with six
    # periods or more), for a sine and for a train of narrow bursts with small noise.
    t = jnp.linspace(0.0, 200.0, 2001)
    sine = 1.0 + jnp.sin(2 * jnp.pi * t / period)
    phase = jnp.mod(t, period) / period
    noise = 0.01 * jax.random.normal(jax.random.key(1), t.shape)
    bursts = jnp.exp(-(((phase - 0.5) / 0.05) ** 2)) + noise
    for trace in (sine, bursts):
        assert float(F.burst_features(t, trace).period) == pytest.approx(period, rel=0.01)


def test_from_features_subset_and_errors(target):
    tg = F.BurstTarget.from_features(
        period=float(target.period), mean=float(target.mean), transient=TRANSIENT
    )
    assert np.isnan(tg.duty) and np.isnan(tg.peak) and not tg.has_trace
    with pytest.raises(ParameterError):
        F.BurstTarget.from_features()
    with pytest.raises(ParameterError, match="trace"):
        F.trace_mse(None, tg)


@pytest.mark.slow  # ~15 s; test_levenberg_marquardt_recovers_... is the fast recovery check
def test_recovery_from_starts_30_percent_away(truth, target):
    starts = dict(eta_bar=[1.3 * ETA, 1.3 * ETA, 0.7 * ETA], w_jump=[1.3 * W_JUMP, W_JUMP, W_JUMP])
    opt = optax.adam(optax.exponential_decay(3e-2, 100, 0.3))
    res = F.fit(
        truth.replace(eta_bar=1.3 * ETA, w_jump=1.3 * W_JUMP),
        target,
        loss=F.trace_mse,
        n_starts=3,
        starts=starts,
        steps=400,
        optimizer=opt,
        tol=1e-6,
        patience=30,
    )
    eta, wj = np.asarray(res.params.eta_bar[:, 0]), np.asarray(res.params.w_jump[:, 0])
    np.testing.assert_allclose(eta, ETA, rtol=0.01)
    np.testing.assert_allclose(wj, W_JUMP, rtol=0.01)
    assert np.all(res.status == F.OK) and np.all(res.converged)
    best = res.best_params
    assert float(best.eta_bar[0]) == pytest.approx(ETA, rel=1e-3)
    assert float(best.w_jump[0]) == pytest.approx(W_JUMP, rel=1e-3)
    assert res.loss_history.shape == (400, 3)


@pytest.mark.slow  # ~17 s, mostly compiling the line search
def test_line_search_optimizer_recovers(truth, target):
    # optax.lbfgs needs the loss itself (value_fn) for its zoom line search.
    res = F.fit(
        truth.replace(eta_bar=1.3 * ETA, w_jump=1.3 * W_JUMP),
        target,
        loss=F.trace_mse,
        n_starts=1,
        steps=100,
        optimizer=optax.lbfgs(),
        tol=1e-6,
        patience=5,
    )
    assert status_names(res.status)[0] == "ok"
    assert float(res.best_params.eta_bar[0]) == pytest.approx(ETA, rel=1e-4)
    assert float(res.best_params.w_jump[0]) == pytest.approx(W_JUMP, rel=1e-4)


def test_feature_loss_minimum_at_truth(truth, target):
    grid = jnp.linspace(0.10, 0.14, 9)  # spacing 0.005; truth 0.12 is a grid point

    @jax.jit
    @jax.vmap
    def loss(eta):
        sim = jaxmf.solve_meanfield(
            truth.replace(eta_bar=eta), T1, ts=target.t, rtol=1e-8, atol=1e-10, throw=False
        )
        return F.feature_loss(sim, target)

    values = np.asarray(loss(grid))
    assert np.all(np.isfinite(values))
    assert int(np.argmin(values)) == int(np.argmin(np.abs(np.asarray(grid) - ETA)))


LOSSES = {
    "trace": F.trace_mse,
    "trace_aligned": functools.partial(F.trace_mse, align=20.0),
    "trace_softmin": functools.partial(F.trace_mse, align=20.0, temperature=1e-4),
    "autocorrelation": F.spectral_loss,
    "power": functools.partial(F.spectral_loss, kind="power"),
    "feature": F.feature_loss,
}


def test_loss_gradients_match_finite_differences(truth, target):
    # Forward mode, as `fit` differentiates with a few free parameters (reverse mode through the
    # checkpointed adjoint is compared with it in test_forward_and_reverse_mode_fits_agree).
    def losses(eta):
        sim = jaxmf.solve_meanfield(
            truth.replace(eta_bar=eta),
            T1,
            ts=target.t,
            rtol=1e-11,
            atol=1e-13,
            max_steps=200_000,
            adjoint=diffrax.ForwardMode(),
        )
        return jnp.stack([fn(sim, target) for fn in LOSSES.values()])

    eta0, h = 0.125, 1e-6
    grads = np.asarray(jax.jit(jax.jacfwd(losses))(jnp.asarray(eta0)))
    both = np.asarray(jax.jit(jax.vmap(losses))(jnp.asarray([eta0 + h, eta0 - h])))
    fd = (both[0] - both[1]) / (2 * h)
    for name, g, d in zip(LOSSES, grads, fd):
        assert np.isfinite(g) and abs(g) > 0, name
        assert g == pytest.approx(d, rel=1e-4), name


# ~8 CPU-s: compiles a one-start Adam loop besides the two-start one; multi-start fits run in
# the default tests, their equality to a loop of single starts is checked here and in
# test_levenberg_marquardt_batch_equals_loop.
@pytest.mark.slow
def test_vmap_over_starts_equals_loop(truth, target):
    opt = optax.adam(1e-2)
    starts = dict(eta_bar=[0.125, 0.11], w_jump=[0.02, 0.018])
    kw = dict(loss=F.trace_mse, optimizer=opt, steps=15, patience=100)
    both = F.fit(truth, target, n_starts=2, starts=starts, **kw)
    for i in range(2):
        one = F.fit(truth, target, n_starts=1, starts={k: [v[i]] for k, v in starts.items()}, **kw)
        # Same arithmetic per start; batched XLA kernels may reorder sums (tolerance 1e-9).
        assert tree_allclose(one.loss_history[:, 0], both.loss_history[:, i], rtol=1e-9, atol=0)
        assert tree_allclose(one.params.eta_bar[0], both.params.eta_bar[i], rtol=1e-9, atol=0)
        assert tree_allclose(one.params.w_jump[0], both.params.w_jump[i], rtol=1e-9, atol=0)
    assert list(status_names(both.status)) == ["max_steps", "max_steps"]


# ~9 CPU-s: compiles two more fit loops (with progress, and through the reverse-mode adjoint);
# the default tests fit in forward mode.
@pytest.mark.slow
def test_forward_and_reverse_mode_fits_agree(truth, target, capsys):
    # Two free unknowns: the default is forward mode (jacfwd through diffrax.ForwardMode); the
    # reverse-mode checkpointed adjoint must take the same optimiser path.
    kw = dict(
        loss=F.trace_mse,
        optimizer=optax.adam(1e-2),
        steps=8,
        patience=100,
        n_starts=1,
        starts=dict(eta_bar=[0.125], w_jump=[0.02]),
    )
    fwd = F.fit(truth, target, progress=True, **kw)
    lines = capsys.readouterr().err.splitlines()  # one progress line per iteration
    assert lines[0].startswith("fit:") and "[1/8 iterations] loss" in lines[0] and len(lines) == 8
    last = float(lines[-1].split(" loss ")[1].split()[0])
    assert last == pytest.approx(float(fwd.loss_history[-1, 0]), rel=1e-5)
    rev = F.fit(truth, target, adjoint=diffrax.RecursiveCheckpointAdjoint(), **kw)
    assert tree_allclose(fwd.loss_history, rev.loss_history, rtol=1e-7, atol=0)
    assert tree_allclose(fwd.params.eta_bar, rev.params.eta_bar, rtol=1e-8, atol=0)
    assert tree_allclose(fwd.params.w_jump, rev.params.w_jump, rtol=1e-8, atol=0)
    assert float(fwd.loss_history[-1, 0]) < float(fwd.loss_history[0, 0])


# One optimizer object and one setting for the diverging-start tests: one compiled loop.
DIVERGE_KW = dict(
    n_starts=2,
    loss=F.trace_mse,
    steps=150,
    optimizer=optax.adam(1e-2),
    patience=10,
    tol=1e-3,
    max_steps=4000,
)


@pytest.mark.slow  # test_levenberg_marquardt_reports_divergence covers flagged starts
def test_diverging_start_is_reported(truth, target):
    # eta_bar = 1e4 drives rates so high that the solve runs out of steps: that start is frozen
    # with status DIVERGED while the other one converges.
    starts = dict(eta_bar=[0.125, 1e4], w_jump=[W_JUMP, W_JUMP])
    res = F.fit(truth, target, starts=starts, **DIVERGE_KW)
    assert list(status_names(res.status)) == ["ok", "diverged"]
    assert bool(res.converged[0]) and not bool(res.converged[1])
    assert "non-finite" in res.message
    assert np.isnan(res.final_loss[1]) and np.isfinite(res.final_loss[0])
    assert int(res.best_index) == 0
    assert np.all(np.isnan(np.asarray(res.loss_history[:, 1])))


@pytest.mark.slow  # ~5 CPU-s; the fits' recovery tests run through the same bijectors
def test_bijectors_keep_constraints(truth, target):
    lo, hi = 0.10, 0.14
    res = F.fit(
        truth.replace(eta_bar=0.13),
        target,
        free=("eta_bar", "delta_eta"),
        n_starts=3,
        key=jax.random.key(0),
        bounds={"eta_bar": (lo, hi)},
        spread=0.5,
        steps=5,
        optimizer=optax.sgd(10.0),
        loss=F.trace_mse,
    )
    eta = np.asarray(res.params.eta_bar)
    assert np.all((eta > lo) & (eta < hi))
    assert np.all(np.asarray(res.params.delta_eta) > 0)
    for bij, x in [
        (F.Log(), 0.3),
        (F.Sigmoid(jnp.asarray(lo), jnp.asarray(hi)), 0.13),
        (F.Identity(jnp.asarray(0.2)), -0.7),
    ]:
        assert float(bij.forward(bij.inverse(jnp.asarray(x)))) == pytest.approx(x, rel=1e-12)
    with pytest.raises(ParameterError, match="bounds"):
        F.fit(truth, target, bounds={"eta_bar": (0.2, 0.3)}, steps=1, n_starts=1)
    with pytest.raises(ParameterError, match="model"):
        F.fit(truth, target, model="spiking")


# ~7 CPU-s: one more compiled fit loop (feature loss); the feature loss itself is checked in
# the default run by test_feature_loss_minimum_at_truth.
@pytest.mark.slow
def test_feature_target_fit_and_custom_loss(truth, target):
    tg = F.BurstTarget.from_features(
        period=float(target.period), mean=float(target.mean), transient=TRANSIENT
    )
    mean_only = lambda sim, t: (jnp.mean(sim.r[300:, 0]) / t.mean - 1.0) ** 2
    for loss in (F.feature_loss, mean_only):
        res = F.fit(
            truth.replace(eta_bar=0.123),
            tg,
            free="eta_bar",
            t1=T1,
            n_starts=1,
            steps=40,
            loss=loss,
            optimizer=optax.adam(1e-3),
        )
        first = float(res.loss_history[0, 0])
        assert float(res.final_loss[0]) < first


class _Run:
    """Stands in for a NetworkResult: bin end times t and binned rate r (T, P)."""

    def __init__(self, t, r):
        self.t, self.r = t, r


def test_target_from_network_smooths_resamples_and_starts_at_zero():
    # A known rate f(t) in bins of 0.1 plus +-0.02 alternating "spike noise" that the centred
    # 1.0-wide moving average (10 bins) removes exactly; f varies slowly (period 50), so the
    # smoothing bias is ~(2 pi * 1.0 / 50)^2 / 24 of its amplitude, ~2e-5 absolute. Each
    # sample is a bin average, centred half a bin (0.05) before its time stamp.
    t = 0.1 * np.arange(1, 3001)
    f = lambda x: 0.05 + 0.03 * np.sin(2 * np.pi * x / 50.0)
    noise = 0.02 * (-1.0) ** np.arange(t.size)
    tg = F.BurstTarget.from_network(_Run(t, (f(t) + noise)[:, None]), transient=50.0)
    assert float(tg.t[0]) == 0.0 and float(tg.r[0]) == 0.0
    np.testing.assert_allclose(np.diff(np.asarray(tg.t)), 0.5, rtol=1e-12)
    assert float(tg.t[-1]) == pytest.approx(300.0)
    inner = (np.asarray(tg.t) > 2) & (np.asarray(tg.t) < 298)
    np.testing.assert_allclose(
        np.asarray(tg.r)[inner], f(np.asarray(tg.t)[inner] - 0.05), atol=3e-5
    )
    assert float(tg.mean) == pytest.approx(0.05, abs=1e-3)  # 5 periods after the transient
    with pytest.raises(ParameterError, match="dt"):
        F.BurstTarget.from_network(_Run(t, f(t)[:, None]), dt=0.25)
    with pytest.raises(ParameterError, match="t = 0"):
        F.BurstTarget.from_network(_Run(t + 5.0, f(t)[:, None]))


@pytest.mark.slow  # ~5 s network + ~15 s fit
def test_meanfield_fit_to_a_network_recovers_its_parameters():
    # The paper's network (Euler with reset, dt = 1e-3, N = 1e4, deterministic quantiles) at
    # known (eta_bar, w_jump); the mean field fitted to its rate recovers them up to the
    # network's finite-size and closure error (measured: +1.1% and -3.0%).
    truth = jaxmf.presets.bursting(w_jump=W_JUMP)
    net = jaxmf.simulate_network(
        truth, n=10_000, t1=T1, dt=1e-3, record_every=100, dtype=jnp.float32, progress=False
    )
    target = F.BurstTarget.from_network(net, transient=TRANSIENT)
    res = F.fit(
        truth.replace(eta_bar=0.11, w_jump=0.017),
        target,
        loss=F.trace_mse,
        n_starts=1,
        steps=100,
        optimizer=optax.lbfgs(),
        tol=1e-7,
        patience=5,
    )
    assert status_names(res.status)[0] == "ok"
    assert float(res.best_params.eta_bar[0]) == pytest.approx(ETA, rel=0.03)
    assert float(res.best_params.w_jump[0]) == pytest.approx(W_JUMP, rel=0.05)


def test_trace_mse_smooth_compares_moving_averages():
    # The smoothed loss is the plain MSE of a centred moving average (numpy, edges averaged over
    # the samples available) of the simulated rate against the target.
    t = np.linspace(0.0, 100.0, 201)
    target = F.BurstTarget.from_trace(
        jnp.asarray(t), jnp.asarray(0.05 + 0.01 * np.sin(t / 7)), transient=10.0
    )
    sim = 0.05 + 0.01 * np.sin(t / 7) + 0.02 * np.sin(2 * np.pi * t / 2.5)  # fast oscillation
    k = 5  # 2.5 time units at dt = 0.5: one full fast period
    avg = np.convolve(sim, np.ones(k), "same") / np.convolve(np.ones_like(sim), np.ones(k), "same")
    keep = t >= 10.0
    expected = np.mean((avg - np.asarray(target.r))[keep] ** 2)
    got = float(F.trace_mse(jnp.asarray(sim), target, smooth=2.5))
    assert got == pytest.approx(expected, rel=1e-10)
    assert got < 1e-2 * float(F.trace_mse(jnp.asarray(sim), target))  # fast part averaged out
    with pytest.raises(ParameterError, match="smooth"):
        F.trace_mse(jnp.asarray(sim), target, smooth=-1.0)


def test_residual_losses_square_to_the_scalar_losses(truth, target):
    # trace_residuals / feature_residuals are what least-squares solvers see; their sums of
    # squares must be exactly the scalar losses that adam / L-BFGS minimise.
    ts = jnp.asarray(target.t)
    sim = jaxmf.solve_meanfield(truth.replace(eta_bar=0.125), T1, ts=ts)
    for smooth in (None, 10.0):
        res = F.trace_residuals(sim, target, smooth=smooth)
        assert res.shape == ts.shape and float(jnp.sum(jnp.abs(res[ts < TRANSIENT]))) == 0.0
        assert float(jnp.sum(res**2)) == pytest.approx(
            float(F.trace_mse(sim, target, smooth=smooth)), rel=1e-12
        )
    weights = {"period": 2.0, "duty": 0.5}
    res = F.feature_residuals(sim, target, weights=weights)
    assert res.shape == (4,)
    assert float(jnp.sum(res**2)) == pytest.approx(
        float(F.feature_loss(sim, target, weights=weights)), rel=1e-12
    )
    with pytest.raises(ParameterError, match="weights"):
        F.feature_residuals(sim, target, weights={"period": -1.0})


LM = optx.LevenbergMarquardt(rtol=1e-8, atol=1e-10)


def test_levenberg_marquardt_recovers_from_starts_30_percent_away(truth, target, capsys):
    starts = dict(eta_bar=[1.3 * ETA, 1.3 * ETA, 0.7 * ETA], w_jump=[1.3 * W_JUMP, W_JUMP, W_JUMP])
    res = F.fit(
        truth,
        target,
        n_starts=3,
        starts=starts,
        steps=60,
        optimizer=LM,
        tol=1e-10,
        patience=8,
        progress=True,
    )
    np.testing.assert_allclose(np.asarray(res.params.eta_bar[:, 0]), ETA, rtol=1e-3)
    np.testing.assert_allclose(np.asarray(res.params.w_jump[:, 0]), W_JUMP, rtol=1e-3)
    assert np.all(res.status == F.OK)
    # The history holds sums of squared residuals, i.e. trace_mse, never increasing (LM only
    # accepts improving steps) and stopping well before the step limit.
    hist = np.asarray(res.loss_history)
    for i in range(3):
        h = hist[np.isfinite(hist[:, i]), i]
        assert np.all(np.diff(h) <= 1e-15) and h[-1] < 1e-6 * h[0]
        assert 3 <= int(res.n_iterations[i]) < 60
    start = truth.replace(eta_bar=1.3 * ETA, w_jump=1.3 * W_JUMP)
    first = F.trace_mse(jaxmf.solve_meanfield(start, T1, ts=jnp.asarray(target.t)), target)
    assert float(hist[0, 0]) == pytest.approx(float(first), rel=1e-6)
    err = capsys.readouterr().err
    assert "[1/60 iterations] loss" in err and "(3 of 3 starts running)" in err


# One least-squares setting for the tests below (and the checkpoint test): one compiled loop.
LM_KW = dict(optimizer=LM, n_starts=2, steps=12, patience=100, tol=0.0, max_steps=4000)
LM_DIVERGING = dict(eta_bar=[0.125, 1e4], w_jump=[0.02, W_JUMP])


@pytest.fixture(scope="module")
def lm_diverging(truth, target):
    """Two LM starts, the second at eta_bar = 1e4, where the solve runs out of steps."""
    return F.fit(truth, target, starts=LM_DIVERGING, **LM_KW)


def test_levenberg_marquardt_reports_divergence(lm_diverging):
    # The start that cannot be solved is DIVERGED; the other goes on.
    status = status_names(lm_diverging.status)
    assert status[1] == "diverged" and np.isnan(lm_diverging.final_loss[1])
    assert status[0] in ("ok", "max_steps") and np.isfinite(lm_diverging.final_loss[0])
    assert int(lm_diverging.best_index) == 0


@pytest.mark.slow  # ~12 CPU-s: compiles an LM loop with a bounded bijector
def test_start_outside_a_fields_range_is_reported_not_raised(truth, target):
    # Bounds may be wider than a field's own range (w_jump >= 0): a start at w_jump < 0 is a
    # failed evaluation (no error from inside the compiled loss, no number with status ok), and
    # the start inside the range still converges to the truth.
    starts = dict(eta_bar=[0.125, 0.125], w_jump=[0.02, -0.005])
    res = F.fit(truth, target, starts=starts, bounds={"w_jump": (-0.01, 0.05)}, **LM_KW)
    status = status_names(res.status)
    assert status[1] == "diverged" and np.isnan(res.final_loss[1])
    assert status[0] in ("ok", "max_steps") and int(res.best_index) == 0
    assert abs(float(res.params.eta_bar[0, 0]) - ETA) < 1e-3 * ETA
    assert abs(float(res.params.w_jump[0, 0]) - W_JUMP) < 1e-3 * W_JUMP


@pytest.mark.slow  # compiles a one-start loop; test_vmap_over_starts_equals_loop is the fast one
def test_levenberg_marquardt_batch_equals_loop(truth, target, lm_diverging):
    kw = {**LM_KW, "n_starts": 1}
    one = F.fit(truth, target, starts={k: [v[0]] for k, v in LM_DIVERGING.items()}, **kw)
    # Same arithmetic per start; batched XLA kernels may reorder sums (tolerance 1e-9; NaN
    # after the start stopped).
    np.testing.assert_allclose(one.loss_history[:, 0], lm_diverging.loss_history[:, 0], rtol=1e-9)
    assert tree_allclose(one.params.eta_bar[0], lm_diverging.params.eta_bar[0], rtol=1e-9, atol=0)


def test_least_squares_needs_residuals_and_known_optimizers(truth, target):
    with pytest.raises(ParameterError, match="residuals"):
        F.fit(truth, target, optimizer=LM, loss=F.trace_mse, n_starts=1, steps=1)
    with pytest.raises(ParameterError, match="optimizer"):
        F.fit(truth, target, optimizer="adam", n_starts=1, steps=1)


# ~18 CPU-s: compiles the segmented least-squares loop; slow to keep the default run within
# its CPU budget (fit checkpointing is also exercised by the slow CLI checkpoint tests).
@pytest.mark.slow
def test_checkpointed_fit_resumes_after_an_interrupt(truth, target, tmp_path, monkeypatch):
    kw = dict(starts=dict(eta_bar=[0.13, 0.11], w_jump=[0.02, 0.017]), **LM_KW)
    whole = F.fit(truth, target, **kw)
    ckpt = tmp_path / "fit.ckpt"
    calls = []
    advance = F._advance

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return advance(*args)

    monkeypatch.setattr(F, "_advance", interrupted)
    with pytest.raises(F.FitInterrupted) as info:
        F.fit(truth, target, checkpoint=ckpt, checkpoint_every=4, **kw)
    assert info.value.iteration == 4 and ckpt.exists()
    assert json.loads((tmp_path / "fit.ckpt.json").read_text())["free"] == ["eta_bar", "w_jump"]
    monkeypatch.setattr(F, "_advance", advance)
    resumed = F.fit(truth, target, checkpoint=ckpt, checkpoint_every=4, **kw)
    assert len(calls) == 2  # the resumed fit started at iteration 4, not 0
    # Segments run the same loop body: the same path as one compiled loop (tolerance 1e-10 for
    # XLA compiling the segments separately).
    np.testing.assert_allclose(resumed.loss_history, whole.loss_history, rtol=1e-10)
    np.testing.assert_allclose(resumed.params.eta_bar, whole.params.eta_bar, rtol=1e-10)
    np.testing.assert_array_equal(status_names(resumed.status), status_names(whole.status))
    # A finished checkpoint gives the result again; one of another fit is refused.
    again = F.fit(truth, target, checkpoint=ckpt, checkpoint_every=4, **kw)
    np.testing.assert_array_equal(again.params.w_jump, resumed.params.w_jump)
    # A truncated checkpoint is not trusted: the fit starts over (with a warning) and arrives
    # at the same result.
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.warns(UserWarning, match="damaged or truncated"):
        redone = F.fit(truth, target, checkpoint=ckpt, checkpoint_every=4, **kw)
    np.testing.assert_allclose(redone.loss_history, whole.loss_history, rtol=1e-10)
    with pytest.raises(ParameterError, match="different fit"):
        F.fit(truth, target, checkpoint=ckpt, **{**kw, "steps": 13})
    with pytest.raises(ParameterError, match="different fit"):  # same loss, other settings
        F.fit(
            truth,
            target,
            checkpoint=ckpt,
            loss=functools.partial(F.trace_residuals, smooth=5.0),
            **kw,
        )
    F.remove_checkpoint(ckpt)
    assert not any(tmp_path.glob("fit.ckpt*"))
    with pytest.raises(ParameterError, match="checkpoint_every"):
        F.fit(truth, target, checkpoint=tmp_path / "b", checkpoint_every=0, **kw)
    with pytest.raises(ParameterError, match="does not exist"):
        F.fit(truth, target, checkpoint=tmp_path / "no" / "c", **kw)


@pytest.mark.slow  # ~16 s in a fresh process; the interrupt itself is tested in-process above
def test_ctrl_c_during_a_checkpointed_fit_saves_and_says_so(tmp_path):
    # A real SIGINT to a fit running in another process: it stops with FitInterrupted after
    # saving, and the checkpoint on disk is a whole segment.
    script = tmp_path / "run.py"
    ckpt = tmp_path / "fit.ckpt"
    script.write_text(f"""
import importlib, sys, jax, jax.numpy as jnp, optax
jax.config.update("jax_enable_x64", True)
import jaxmf
F = importlib.import_module("jaxmf._fit")
truth = jaxmf.presets.bursting(w_jump={W_JUMP})
ts = jnp.linspace(0.0, 200.0, 401)
target = F.BurstTarget.from_trace(ts, jaxmf.solve_meanfield(truth, 200.0, ts=ts).r, transient=50.0)
try:
    F.fit(truth.replace(eta_bar=0.13), target, optimizer=optax.adam(1e-3), n_starts=1,
          steps=10**6, patience=10**6, tol=0.0, checkpoint={str(ckpt)!r}, checkpoint_every=20)
except F.FitInterrupted as e:
    print("interrupted at", e.iteration, e)
    sys.exit(130)
""")
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    saved = int(out.split("interrupted at ")[1].split()[0])
    assert saved >= 20 and saved % 20 == 0
    assert f"up to {saved} are saved in {ckpt}" in out
    assert "call fit again with the same arguments" in out


@pytest.mark.slow  # ~15 s: compiles the least-squares loop once more, in float32
def test_levenberg_marquardt_float32_parameters(truth, target):
    # float32 model under x64: the solver's unknowns and residuals are float64 (optimistix's
    # damping is), the solves float32. Recovery to ~1e-5, float32 round-off in the trace.
    t32 = jax.tree.map(lambda x: x.astype(jnp.float32), truth)
    tg = F.BurstTarget.from_trace(
        jnp.asarray(target.t, jnp.float32), jnp.asarray(target.r, jnp.float32), transient=TRANSIENT
    )
    res = F.fit(
        t32,
        tg,
        n_starts=2,
        starts=dict(eta_bar=[0.13, 0.11], w_jump=[0.02, 0.017]),
        steps=40,
        optimizer=LM,
        patience=5,
        tol=1e-6,
        rtol=1e-5,
        atol=1e-8,
    )
    assert res.params.eta_bar.dtype == jnp.float32 and res.loss_history.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(res.params.eta_bar[:, 0], float), ETA, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(res.params.w_jump[:, 0], float), W_JUMP, rtol=1e-4)
    assert np.all(res.status == F.OK)


@pytest.mark.slow  # ~20 s: compiles the whole fit under jit(vmap) and once more unbatched
def test_fit_works_under_jit_and_vmap_over_target_rates(truth, target):
    # Users fitting many recordings: vmap the whole fit over the target's rates (same times).
    other = jaxmf.solve_meanfield(
        truth.replace(eta_bar=0.125, w_jump=0.02),
        T1,
        ts=jnp.asarray(target.t),
        rtol=1e-10,
        atol=1e-12,
    ).r[:, 0]
    rates = jnp.stack([target.r, other])
    start = truth.replace(eta_bar=jnp.asarray([0.122]), w_jump=jnp.asarray([0.0195]))
    kw = dict(optimizer=LM, n_starts=1, steps=40, patience=5, tol=1e-10)

    def fitted(r):
        res = F.fit(start, eqx.tree_at(lambda t: t.r, target, r), **kw)
        return jnp.concatenate([res.best_params.eta_bar, res.best_params.w_jump])

    batched = np.asarray(jax.jit(jax.vmap(fitted))(rates))
    for i, r in enumerate(rates):
        np.testing.assert_allclose(batched[i], np.asarray(fitted(r)), rtol=1e-9)
    np.testing.assert_allclose(batched, [[ETA, W_JUMP], [0.125, 0.02]], rtol=1e-4)


def test_fit_under_jit_needs_concrete_target_times(truth, target):
    with pytest.raises(ParameterError, match="concrete"):
        jax.jit(
            lambda t: F.fit(
                truth, eqx.tree_at(lambda x: x.t, target, t), optimizer=LM, n_starts=1, steps=2
            )
        )(target.t)


@pytest.mark.parametrize(
    "call, name, words",
    [
        (lambda p, tg: F.fit(p, tg, free=()), "free", "at least one"),
        (lambda p, tg: F.fit(p, tg, free=("fractions",)), "free", "cannot fit"),
        (lambda p, tg: F.fit(p, tg, free=("eta_bar", "eta_bar")), "free", "twice"),
        (lambda p, tg: F.fit(p, tg, free=("eta",)), "free", "unknown parameter"),
        (lambda p, tg: F.fit(p, tg, n_starts=2.5), "n_starts", "whole number"),
        (lambda p, tg: F.fit(p, tg, steps=0), "steps", "whole number"),
        (lambda p, tg: F.fit(p, tg, transient=T1 + 10.0), "transient", "< t1"),
        (
            lambda p, tg: F.fit(
                p, F.BurstTarget.from_features(period=50.0, transient=300.0), t1=200.0
            ),
            "transient",
            "< t1",
        ),
        (lambda p, tg: F.BurstTarget.from_trace(tg.t, tg.r.at[5].set(jnp.nan)), "r", "finite"),
        (lambda p, tg: F.BurstTarget.from_trace(tg.t, tg.r.at[5].set(-1.0)), "r", ">= 0"),
        (lambda p, tg: F.BurstTarget.from_trace(tg.t, tg.r.at[5].set(jnp.inf)), "r", "finite"),
        (lambda p, tg: F.BurstTarget.from_features(period=-5.0), "period", "> 0"),
        (lambda p, tg: F.BurstTarget.from_features(duty=2.0), "duty", "in (0, 1)"),
        (lambda p, tg: F.BurstTarget.from_features(mean=float("nan")), "mean", "finite"),
    ],
)
def test_bad_fit_input_raises_parameter_error(truth, target, call, name, words):
    with pytest.raises(ParameterError) as err:
        call(truth, target)
    assert err.value.name == name and words in str(err.value)


def test_target_stats_are_the_trace_summary(target):
    # One analysis convention: the target's reported numbers are jaxmf.analysis.trace_summary
    # of the trace after the transient, the same call the sweep and the CLI make.
    keep = np.asarray(target.t) >= TRANSIENT
    summary = jaxmf.analysis.trace_summary(target.t[keep], target.r[keep])
    assert tree_allclose(target.stats, summary, rtol=0, atol=0)
    assert int(target.stats.regime) == jaxmf.analysis.BURSTING


def test_every_start_diverging_raises_unless_throw_false(truth, target):
    kw = dict(starts=dict(eta_bar=[1e4, 2e4], w_jump=[W_JUMP, W_JUMP]), **DIVERGE_KW)
    with pytest.raises(NumericalError) as err:
        F.fit(truth, target, **kw)
    assert list(status_names(err.value.result.status)) == ["diverged", "diverged"]
    res = F.fit(truth, target, throw=False, **kw)
    assert not np.any(res.converged) and np.all(np.isnan(res.final_loss))
    assert issubclass(F.FitInterrupted, Interrupted)


@pytest.mark.slow  # ~40 CPU-s: compiles the mean-field loop, then ~10 network runs and refits
def test_meanfield_init_starts_the_network_fit_near_the_truth(truth):
    # The target is a 200-neuron theta network at the true (eta_bar, w_jump), bursting over 600
    # time units. The mean field fitted first lands nearer the truth than the start (it differs
    # from the finite network by its closure and finite size: measured -2.9%, -2.8%); the
    # space-mapping refinement on the network recovers the network's own parameters.
    model = jaxmf.ThetaNetwork(n=200, dt=1e-2, gradient_horizon=5.0)
    ts = jnp.linspace(0.0, T1, int(T1 / 0.5) + 1)
    sim = F.simulate_on_grid(truth, ts, model, 50)
    # Smoothed as the loss smooths the fitted rate (10 time units = 20 samples); the smooth
    # spike count dips below 0 by round-off (~1e-8) between spikes.
    r = jaxmf.analysis.smooth(jnp.maximum(sim.r[:, 0], 0.0), 20)
    target = F.BurstTarget.from_trace(ts, r, transient=TRANSIENT)
    start = truth.replace(eta_bar=1.1 * ETA, w_jump=0.9 * W_JUMP)
    res = F.fit(
        start,
        target,
        model=model,
        init="meanfield",
        n_starts=1,
        steps=30,
        optimizer=optx.LevenbergMarquardt(rtol=1e-6, atol=1e-9),
        loss=functools.partial(F.trace_residuals, smooth=10.0),
        tol=1e-8,
        patience=5,
    )
    first = np.array([float(np.ravel(res.initial[n])[0]) for n in ("eta_bar", "w_jump")])
    true = np.array([ETA, W_JUMP])
    begin = np.array([1.1 * ETA, 0.9 * W_JUMP])
    assert np.max(np.abs(first / true - 1)) < np.max(np.abs(begin / true - 1))
    fitted = np.array([float(res.best_params.eta_bar[0]), float(res.best_params.w_jump[0])])
    print(first / true - 1, fitted / true - 1, int(res.n_iterations[0]), res.loss_history[:, 0])
    np.testing.assert_allclose(fitted, true, rtol=2e-3)
    assert bool(res.converged[0]) and int(res.n_iterations[0]) <= 15


def test_meanfield_init_needs_a_network_model(truth):
    target = None  # refused before the target is looked at
    with pytest.raises(ParameterError, match="init"):
        F.fit(truth, target, init="meanfield", steps=1, n_starts=1)
    with pytest.raises(ParameterError, match="init"):
        F.fit(truth, target, model=jaxmf.ThetaNetwork(n=10), init="network", steps=1)
