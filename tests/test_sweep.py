"""Sweeps: grids, agreement with per-point solves, closed-form equilibria, per-point status,
sharding (4 fake CPU devices), two jax.distributed processes, resume after Ctrl-C and SIGKILL,
bad input. One mean-field setting (MF) and one chunk size serve most tests, so the compiled chunk
is reused."""

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

import jaxmf
from jaxmf import Grid, load_sweep, regime_map, sweep
from jaxmf._results import Interrupted, NumericalError
from jaxmf.analysis import classify_regime, detect_bursts
from jaxmf.cli import main

# The module (jaxmf.sweep is also the name of the function exported by the package).
sweep_module = importlib.import_module("jaxmf._sweep")

MF = dict(t1=1500.0, transient=1000.0, save_dt=1.0)
OBS = ("regime", "r_mean", "burst_period", "w_mean")
AXES = {"eta_bar": [-12.0, 0.12, 0.3], "w_jump": [0.0189, 0.01]}
CHUNK = 4  # 6 points: a full chunk and a padded one
PPD = 1  # points per device and call: 4 calls per chunk on one device, 1 on four devices
ROOT = Path(__file__).resolve().parents[1]


def _base():
    return jaxmf.presets.chen_campbell_2022()


@pytest.fixture(scope="module")
def reference():
    """The 3 x 2 regime map, in memory (no file)."""
    return regime_map(
        _base(),
        AXES,
        observables=OBS,
        chunk_size=CHUNK,
        points_per_device=PPD,
        progress=False,
        **MF,
    )


def _data(ds):
    """Every data variable and coordinate as numpy (attrs, i.e. provenance, left out)."""
    return {k: np.asarray(v.values) for k, v in {**ds.data_vars, **ds.coords}.items()}


def assert_same_data(a, b):
    da, db = _data(a), _data(b)
    assert sorted(da) == sorted(db)
    for k in da:
        x, y = da[k], db[k]
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=k)  # bit for bit, NaN where NaN
        else:
            assert (x.astype(str) == y.astype(str)).all(), k


# Grid designs (no JAX)


def test_grid_designs():
    g = Grid.product(eta_bar=[0.0, 0.1, 0.2], **{"w_jump[0]": [1e-2, 2e-2]})
    assert g.names == ("eta_bar", "w_jump_0") and g.shape == (3, 2) and g.n_points == 6
    v = g.values()
    np.testing.assert_array_equal(v[:, 0], np.repeat([0.0, 0.1, 0.2], 2))  # C order
    np.testing.assert_array_equal(v[:, 1], np.tile([1e-2, 2e-2], 3))
    np.testing.assert_array_equal(g.values(2, 5), v[2:5])

    pts = Grid.points(eta_bar=[0.1, 0.2], delta_eta=[0.01, 0.03])
    assert pts.dims == ("point",) and pts.shape == (2,)
    np.testing.assert_array_equal(pts.values(), [[0.1, 0.01], [0.2, 0.03]])

    r1 = Grid.random(50, seed=3, eta_bar=(0.0, 0.3), w_jump=(0.005, 0.1))
    r2 = Grid.random(50, seed=3, eta_bar=(0.0, 0.3), w_jump=(0.005, 0.1))
    np.testing.assert_array_equal(r1.values(), r2.values())
    assert np.all((r1.values() >= [0.0, 0.005]) & (r1.values() < [0.3, 0.1]))
    assert not np.array_equal(
        r1.values(), Grid.random(50, seed=4, eta_bar=(0.0, 0.3), w_jump=(0.005, 0.1)).values()
    )

    n = 40
    lhs = Grid.latin_hypercube(n, seed=1, eta_bar=(0.0, 0.3), kappa=(0.5, 0.9))
    for col, (lo, hi) in zip(lhs.values().T, [(0.0, 0.3), (0.5, 0.9)]):
        strata = np.floor((col - lo) / (hi - lo) * n).astype(int)
        assert sorted(strata) == list(range(n))  # exactly one point per stratum

    assert g.chunks(4) == [(0, 4), (4, 6)]
    assert g.chunks(memory_budget=1000, bytes_per_point=300) == [(0, 3), (3, 6)]
    assert Grid.product(**{"g[0,1]": [1.0]}).names == ("g_0_1",)


# Mean field: the right answers


@jax.jit
def _solve_point(eta_bar, w_jump):
    """solve_meanfield and jaxmf.analysis at one point: (regime, mean r, mean w, burst period)."""
    p = _base().replace(eta_bar=eta_bar, w_jump=w_jump)
    ts = jnp.linspace(MF["transient"], MF["t1"], 501)
    res = jaxmf.solve_meanfield(
        p, MF["t1"], ts=ts, rtol=1e-6, atol=1e-9, max_steps=20_000, throw=False
    )
    r = res.r[:, 0]
    return (
        classify_regime(res.t, r),
        jnp.mean(r),
        jnp.mean(res.w[:, 0]),
        detect_bursts(res.t, r).period,
        jnp.all(jnp.isfinite(res.r)),
    )


def test_sweep_equals_per_point_solves(reference):
    ds = reference
    assert ds["regime"].dims == ("eta_bar", "w_jump") and ds["regime"].shape == (3, 2)
    for i, e in enumerate(AXES["eta_bar"]):
        for j, w in enumerate(AXES["w_jump"]):
            regime, r_mean, w_mean, period, finite = _solve_point(e, w)
            point = ds.isel(eta_bar=i, w_jump=j)
            assert bool(finite) and str(point["status"].values) == "ok"
            assert str(point["regime"].values) == jaxmf.analysis.regime_name(regime)
            # A vmapped chunk against one solve: XLA compiles the two differently, and a
            # round-off difference can flip one accept/reject decision of the step controller,
            # after which they differ at the solver tolerance (rtol 1e-6): compare at 1e-5.
            np.testing.assert_allclose(float(point["r_mean"]), float(r_mean), rtol=1e-5)
            np.testing.assert_allclose(float(point["w_mean"]), float(w_mean), rtol=1e-5)
            np.testing.assert_allclose(float(point["burst_period"]), float(period), rtol=1e-5)
    # The paper's regimes (model.md section 4): eta_bar = 0.12 bursts, 0.3 is tonic; the
    # Lorentzian tail keeps r above classify_regime's 1e-3 down to eta_bar ~ -10.
    labels = ds["regime"].values.astype(str)
    assert labels[1, 0] == "bursting" and list(labels[2]) == ["tonic", "tonic"]
    assert list(labels[0]) == ["quiescent", "quiescent"]
    period = ds["burst_period"].values
    assert np.isfinite(period[1, 0]) and np.isnan(period[2, 0])
    assert ds["regime"].sel(eta_bar=0.12, w_jump=0.019, method="nearest").item() == "bursting"


def test_vmapped_solves_refill_lanes_and_do_not_depend_on_the_batch(monkeypatch):
    # Under vmap each point takes its own steps (meanfield._integrate_lanes): with 2 lanes for
    # 5 points, a lane takes the next point when its own finishes. A point's values are the same
    # bits in whatever batch and lane it is solved, agree with the single-solve loop (another
    # compiled loop) to the solver tolerance, and a point out of steps is flagged alone.
    mf = importlib.import_module("jaxmf.meanfield")
    monkeypatch.setattr(mf, "_lanes", lambda backend, n: min(n, 2))
    ts = jnp.linspace(150.0, 300.0, 31)

    def solve(eta):
        res = jaxmf.solve_meanfield(
            _base().replace(eta_bar=eta), 300.0, ts=ts, max_steps=700, throw=False
        )
        return res.r[:, 0], res.v[:, 0], res.status._value, res.n_steps

    etas = jnp.asarray([-12.0, 0.12, 0.3, 0.2, -1.0])
    order = jnp.asarray([3, 0, 4, 2, 1])
    batch = jax.jit(jax.vmap(solve))
    a, b = batch(etas), batch(etas[order])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x)[order], np.asarray(y))
    single = jax.jit(solve)
    statuses = []
    for i, eta in enumerate(etas):
        r, v, status, steps = single(eta)
        statuses.append(int(status))
        assert int(a[2][i]) == int(status)
        if int(status) == 0:
            np.testing.assert_allclose(a[0][i], r, rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(a[1][i], v, rtol=1e-6, atol=1e-9)
    # Some run out of steps (their saved tails are inf) beside others that finish.
    ok, out_of_steps = jaxmf.RESULTS.successful._value, jaxmf.RESULTS.max_steps_reached._value
    assert set(statuses) == {int(ok), int(out_of_steps)}
    for i, status in enumerate(statuses):
        assert np.isinf(np.asarray(a[0][i, -1])) == (status == int(out_of_steps))


def _loop_function(p):
    """A while loop carrying an array, with transcendental functions and selects: what the
    sweep's CPU compile options act on (copies of loop-carried values, the schedule, the
    vector width)."""

    def body(c):
        i, x, acc = c
        step = 0.01 * jnp.sin(x) * jnp.exp(-(x**2)) + 0.001 * jnp.abs(p.eta_bar) ** 1.5
        x = jnp.where(x > 2.0, x - 1.0, x + step)
        return i + 1, x, acc.at[i % 8].add(jnp.log1p(x[0] ** 2))

    x0 = jnp.concatenate([p.eta_bar, p.eta_bar / 3])
    _, x, acc = jax.lax.while_loop(
        lambda c: c[0] < 200 + (p.eta_bar[0] * 100).astype(jnp.int32),
        body,
        (jnp.int32(0), x0, jnp.zeros(8, x0.dtype)),
    )
    return {"x": x[1], "acc": jnp.sum(acc)}


def test_cpu_compile_options_change_no_number(monkeypatch):
    # jaxmf.sweep compiles its chunks with XLA options of its own on CPU (copy insertion by
    # region analysis, the memory-optimised schedule, 512-bit vectors with AVX-512): faster
    # loops, the same bits as XLA's defaults (the mean field: a slow test below).
    assert sweep_module._compiler_options(jax.local_devices())  # on CPU: not vacuous
    grid = Grid.product(eta_bar=np.linspace(0.0, 1.0, 300))
    fast = sweep(_base(), grid, _loop_function, progress=False)
    monkeypatch.setattr(sweep_module, "_compiler_options", lambda devices: {})
    monkeypatch.setattr(sweep_module, "_COMPILED", {})
    plain = sweep(_base(), grid, _loop_function, progress=False)
    assert_same_data(fast, plain)
    assert np.all(np.isfinite(fast["acc"].values)) and np.ptp(fast["x"].values) > 0


@pytest.mark.slow  # ~7 CPU-s: two compilations of a 300-point mean-field chunk (256 lanes)
def test_cpu_compile_options_change_no_meanfield_number(monkeypatch):
    axes = {"eta_bar": np.linspace(0.0, 0.3, 20), "w_jump": np.linspace(0.005, 0.05, 15)}
    fast = regime_map(_base(), axes, t1=600.0, progress=False)
    monkeypatch.setattr(sweep_module, "_compiler_options", lambda devices: {})
    monkeypatch.setattr(sweep_module, "_COMPILED", {})
    plain = regime_map(_base(), axes, t1=600.0, progress=False)
    assert_same_data(fast, plain)
    assert set(fast["regime"].values.ravel().astype(str)) >= {"tonic", "bursting"}


def _equilibrium_rate(p):
    """r* of the one-population mean field from the scalar root problem of model.md section 3,
    solved with scipy in plain floats (independent of jaxmf's equilibrium code)."""
    f = {
        k: float(np.ravel(np.asarray(getattr(p, k)))[0])
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

    def residual(r):
        s = f["tau_s"] * f["s_jump"] * r
        gs = f["g"] * s
        v = (f["alpha"] + gs) / 2 - f["delta_eta"] / (2 * np.pi * r)
        w = f["b"] * v + f["w_jump"] / f["a"] * r
        c = w - gs * f["e_r"] + (f["alpha"] + gs) ** 2 / 4 - f["i_ext"]
        return np.pi * r - np.sqrt(complex(f["eta_bar"] - c, f["delta_eta"])).real

    rs = np.geomspace(1e-9, 2.0, 4000)
    vals = np.array([residual(r) for r in rs])
    roots = [
        brentq(residual, rs[k], rs[k + 1], xtol=1e-15, rtol=1e-13)
        for k in np.nonzero(np.sign(vals[:-1]) != np.sign(vals[1:]))[0]
    ]
    assert len(roots) == 1, roots
    return roots[0]


def test_equilibrium_rates_match_closed_form(reference):
    for eta, label in ((-12.0, "quiescent"), (0.3, "tonic")):
        for w in AXES["w_jump"]:
            point = reference.sel(eta_bar=eta, w_jump=w)
            assert point["regime"].item() == label
            r_star = _equilibrium_rate(_base().replace(eta_bar=eta, w_jump=w))
            np.testing.assert_allclose(float(point["r_mean"]), r_star, rtol=1e-4)


def test_diverging_and_max_steps_points_are_flagged(tmp_path):
    # delta_eta = 0 leaves r = 0: v obeys v' = v^2 - alpha v + eta_bar - w, which blows up in
    # finite time for eta_bar > (alpha + b)^2 / 4 ~ 0.095 and settles below it.
    grid = Grid.points(delta_eta=[0.0, 0.02, 0.0], eta_bar=[0.3, 0.3, 0.05])
    ds = sweep(
        _base(),
        grid,
        observables=OBS,
        chunk_size=CHUNK,
        progress=False,
        out=tmp_path / "div.nc",
        **MF,
    )
    assert list(ds["status"].values.astype(str)) == ["diverged", "ok", "ok"]
    assert list(ds["regime"].values.astype(str)) == ["none", "tonic", "quiescent"]
    assert np.isnan(ds["r_mean"].values[0]) and np.all(np.isfinite(ds["r_mean"].values[1:]))
    assert ds["r_mean"].values[2] == 0.0

    few = sweep(
        _base(),
        Grid.points(eta_bar=[0.3]),
        observables=("r_mean",),
        progress=False,
        max_steps=20,
        throw=False,
        **MF,
    )
    assert few["status"].item() == "max_steps" and np.isnan(few["r_mean"].item())


def test_function_model_and_multi_population():
    grid = Grid.points(eta_bar=[0.1, 0.2, 0.3])
    ds = sweep(
        _base(),
        grid,
        model=lambda p: {"twice": 2 * p.eta_bar[0], "log": jnp.log(p.eta_bar[0] - 0.15)},
        progress=False,
    )
    np.testing.assert_allclose(ds["twice"].values, [0.2, 0.4, 0.6], rtol=1e-15)
    assert list(ds["status"].values.astype(str)) == ["diverged", "ok", "ok"]

    two = jaxmf.presets.two_population(kappa=0.8)
    ds2 = sweep(
        two,
        Grid.points(**{"w_jump[1]": [0.001, 0.002]}, kappa=[0.6, 0.7]),
        model=lambda p: {"wj": p.w_jump, "f": p.fractions},
        progress=False,
    )
    assert ds2["wj"].dims == ("point", "population")
    np.testing.assert_allclose(ds2["wj"].values[:, 1], [0.001, 0.002], rtol=1e-15)
    np.testing.assert_allclose(ds2["wj"].values[:, 0], float(two.w_jump[0]), rtol=1e-15)
    np.testing.assert_allclose(ds2["f"].values, [[0.6, 0.4], [0.7, 0.3]], rtol=1e-15)


def test_network_sweep_equals_batched_simulation():
    grid = Grid.product(eta_bar=[0.1, 0.3])
    opts = dict(n=64, t1=2.0, dt=1e-3, record_every=100, transient=0.5, dtype="float64")
    ds = sweep(
        _base(), grid, model="network", observables=("r_mean", "v_mean"), progress=False, **opts
    )
    batch = jaxmf.stack_params([_base().replace(eta_bar=e) for e in (0.1, 0.3)])
    res = jaxmf.simulate_network(
        batch, n=64, t1=2.0, dt=1e-3, record_every=100, dtype=jnp.float64, progress=False
    )
    keep = np.asarray(res.t) > 0.5 + 1e-9
    np.testing.assert_allclose(
        ds["r_mean"].values, np.asarray(res.r)[:, keep, 0].mean(1), rtol=1e-12
    )
    np.testing.assert_allclose(
        ds["v_mean"].values, np.asarray(res.v_mean)[:, keep, 0].mean(1), rtol=1e-12
    )
    assert list(ds["status"].values.astype(str)) == ["ok", "ok"]


def test_network_sweep_with_an_input_in_time_equals_single_runs():
    # The input's amplitude is a grid axis; each point equals its own run with that input.
    drive = jaxmf.inputs.Sinusoid(amplitude=0.0, period=0.5, offset=0.2)
    grid = Grid.product(input_amplitude=[0.0, 0.8], eta_bar=[0.3])
    opts = dict(n=64, t1=2.0, dt=1e-3, record_every=100, transient=0.5, dtype="float64")
    ds = sweep(
        _base(),
        grid,
        model="network",
        observables=("r_mean", "v_mean"),
        progress=False,
        i_ext=drive,
        **opts,
    )
    assert ds["r_mean"].dims == ("input_amplitude", "eta_bar")
    for i, amplitude in enumerate((0.0, 0.8)):
        for j, eta in enumerate((0.3,)):
            res = jaxmf.simulate_network(
                _base().replace(eta_bar=eta),
                n=64,
                t1=2.0,
                dt=1e-3,
                record_every=100,
                dtype=jnp.float64,
                progress=False,
                i_ext=jaxmf.inputs.Sinusoid(amplitude=amplitude, period=0.5, offset=0.2),
            )
            keep = np.asarray(res.t) > 0.5 + 1e-9
            np.testing.assert_allclose(
                float(ds["v_mean"][i, j]), np.asarray(res.v_mean)[keep, 0].mean(), rtol=1e-12
            )
            np.testing.assert_allclose(
                float(ds["r_mean"][i, j]), np.asarray(res.r)[keep, 0].mean(), rtol=1e-12
            )
    # The input reached the network, and the dataset's provenance records it.
    assert not np.allclose(ds["v_mean"][0], ds["v_mean"][1])
    model = json.loads(ds.attrs["model"])
    assert model["i_ext"]["type"].endswith("Sinusoid") and model["i_ext"]["offset"] == 0.2


@pytest.mark.slow  # ~10 CPU-s: compiles the vmapped mean-field solve with an input
def test_meanfield_sweep_with_an_input_in_time_equals_single_solves():
    drive = jaxmf.inputs.Sinusoid(amplitude=0.05, period=100.0)
    grid = Grid.product(input_amplitude=[0.0, 0.05], eta_bar=[0.12, 0.2])
    opts = dict(t1=400.0, transient=200.0, save_dt=0.5)
    ds = sweep(
        _base(),
        grid,
        observables=("r_mean", "w_mean", "burst_period"),
        progress=False,
        i_ext=drive,
        **opts,
    )
    plain = sweep(
        _base(), Grid.product(eta_bar=[0.12, 0.2]), observables=("r_mean",), progress=False, **opts
    )
    ts = np.linspace(200.0, 400.0, 401)
    for i, amplitude in enumerate((0.0, 0.05)):
        for j, eta in enumerate((0.12, 0.2)):
            res = jaxmf.solve_meanfield(
                _base().replace(eta_bar=eta),
                t1=400.0,
                ts=ts,
                rtol=1e-6,
                atol=1e-9,
                i_ext=jaxmf.inputs.Sinusoid(amplitude=amplitude, period=100.0),
            )
            np.testing.assert_allclose(float(ds["r_mean"][i, j]), np.mean(res.r), rtol=1e-5)
            np.testing.assert_allclose(float(ds["w_mean"][i, j]), np.mean(res.w), rtol=1e-5)
    # Zero amplitude is the unforced sweep; the forcing moves the rate.
    np.testing.assert_allclose(ds["r_mean"][0].values, plain["r_mean"].values, rtol=1e-5)
    assert np.all(np.abs(ds["r_mean"][1].values / ds["r_mean"][0].values - 1) > 1e-3)


# Files, resume, interruption


def test_resume_after_ctrl_c_completes_identically(tmp_path, reference, monkeypatch):
    out = tmp_path / "scan.nc"
    real_write = sweep_module._write_chunk
    writes = []

    def interrupt_second(parts, i, *rest):
        writes.append(i)
        if len(writes) == 2:
            raise KeyboardInterrupt
        real_write(parts, i, *rest)

    monkeypatch.setattr(sweep_module, "_write_chunk", interrupt_second)
    with pytest.raises(sweep_module.SweepInterrupted) as err:
        regime_map(
            _base(),
            AXES,
            observables=OBS,
            chunk_size=CHUNK,
            points_per_device=PPD,
            progress=False,
            out=out,
            **MF,
        )
    assert err.value.done == CHUNK and not out.exists()
    assert sorted(p.name for p in (tmp_path / "scan.nc.parts").glob("chunk-*.npz")) == [
        "chunk-000000.npz"
    ]

    monkeypatch.setattr(
        sweep_module, "_write_chunk", lambda *a: (writes.append(a[1]), real_write(*a))
    )
    writes.clear()
    ds = regime_map(_base(), AXES, observables=OBS, progress=False, out=out, **MF)
    assert writes == [1]  # only the unfinished chunk was computed (chunk size from the manifest)
    assert_same_data(ds, reference)
    assert_same_data(load_sweep(out), reference)
    assert not (tmp_path / "scan.nc.parts").exists()
    prov = json.loads(ds.attrs["provenance"])
    assert {"jaxmf", "jax", "devices", "time_utc", "sweep_devices"} <= set(prov)
    assert json.loads(ds.attrs["params"])["eta_bar"] == [0.12] and ds.attrs["seed"] == 0

    # Complete: a third call only reads the file; a different sweep at the same path is refused.
    writes.clear()
    again = regime_map(_base(), AXES, observables=OBS, progress=False, out=out, **MF)
    assert writes == [] and again.attrs["fingerprint"] == ds.attrs["fingerprint"]
    with pytest.raises(jaxmf.ParameterError, match="different sweep"):
        regime_map(_base(), AXES, observables=("regime",), progress=False, out=out, **MF)


_WRITE_CHUNK = sweep_module._write_chunk


def _square(p):
    return {"sq": p.eta_bar[0] ** 2}


def _square_sweep(out, values, monkeypatch=None, stop_after=None):
    """A cheap function-model sweep of eta_bar^2 in chunks of 2; with `stop_after`, Ctrl-C
    after that many chunks are written (the rest stay unfinished in OUT.parts)."""
    real = _WRITE_CHUNK
    written = []

    def write(parts, i, *rest):
        if stop_after is not None and len(written) == stop_after:
            raise KeyboardInterrupt
        written.append(i)
        real(parts, i, *rest)

    if monkeypatch is not None:
        monkeypatch.setattr(sweep_module, "_write_chunk", write)
    try:
        ds = sweep(
            _base(),
            Grid.points(eta_bar=values),
            model=_square,
            chunk_size=2,
            progress=False,
            out=out,
        )
    except sweep_module.SweepInterrupted:
        ds = None
    return ds, written


def test_resume_never_merges_a_foreign_or_damaged_chunk(tmp_path, monkeypatch):
    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    out, parts = tmp_path / "sq.nc", tmp_path / "sq.nc.parts"
    _square_sweep(out, values, monkeypatch, stop_after=3)
    chunks = sorted(parts.glob("chunk-*.npz"))
    assert len(chunks) == 3 and issubclass(sweep_module.SweepInterrupted, Interrupted)
    # Chunks of another sweep (other grid values), copied in as from another host's OUT.parts.
    other = tmp_path / "other.nc"
    _square_sweep(other, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], monkeypatch, stop_after=3)
    foreign = tmp_path / "other.nc.parts" / "chunk-000001.npz"
    for suffix in ("", ".sha256"):
        (parts / (chunks[1].name + suffix)).write_bytes(Path(str(foreign) + suffix).read_bytes())
    chunks[0].write_bytes(chunks[0].read_bytes()[:50])  # truncated
    # Values altered and the file rewritten without its checksum beside it.
    with np.load(chunks[2]) as f:
        altered = {k: f[k] for k in f.files}
    altered["sq"] = altered["sq"] + 1.0
    np.savez(chunks[2], **altered)
    Path(str(chunks[2]) + ".sha256").unlink()
    (parts / "manifest.json").write_text("{ not json")  # damaged, not "a different sweep"

    with pytest.warns(UserWarning) as caught:
        ds, written = _square_sweep(out, values, monkeypatch)
    text = " ".join(str(w.message) for w in caught)
    assert "damaged sweep manifest" in text and "different sweep" in text
    assert "checksum does not match" in text and "altered" in text
    assert written == [0, 1, 2, 3]  # every chunk recomputed, none merged
    np.testing.assert_allclose(ds["sq"].values, np.square(values), rtol=1e-15)
    assert list(ds["status"].values.astype(str)) == ["ok"] * 8

    # Without a manifest, a foreign chunk is still refused by its own fingerprint.
    _square_sweep(out.with_name("b.nc"), values, monkeypatch, stop_after=1)
    b_parts = tmp_path / "b.nc.parts"
    (b_parts / "manifest.json").unlink()
    for suffix in ("", ".sha256"):
        (b_parts / ("chunk-000001.npz" + suffix)).write_bytes(
            Path(str(foreign) + suffix).read_bytes()
        )
    with pytest.warns(UserWarning, match="different sweep"):
        ds, written = _square_sweep(out.with_name("b.nc"), values, monkeypatch)
    assert written == [1, 2, 3]
    np.testing.assert_allclose(ds["sq"].values, np.square(values), rtol=1e-15)


def test_size_guard_and_throw():
    huge = Grid.product(
        eta_bar=np.linspace(0, 0.3, 10**4),
        w_jump=np.linspace(0.01, 0.1, 10**4),
        delta_eta=np.linspace(0.01, 0.1, 10**4),
    )
    with pytest.raises(jaxmf.ParameterError) as err:
        sweep(_base(), huge, progress=False)
    assert err.value.name == "grid" and "1e+12 points" in str(err.value)
    assert "available memory" in str(err.value) and "max_memory" in str(err.value)
    small = Grid.points(eta_bar=[0.1, 0.2])
    with pytest.raises(jaxmf.ParameterError, match="max_memory is 10 B"):
        sweep(_base(), small, model=_square, max_memory=10, progress=False)
    # Every point failing is the whole sweep failing: raised unless throw=False.
    failing = lambda p: {"x": jnp.log(p.eta_bar[0] - 1.0)}  # noqa: E731
    with pytest.raises(NumericalError, match="no point succeeded") as err:
        sweep(_base(), small, model=failing, progress=False, max_memory=1e9)
    assert list(err.value.result["status"].values.astype(str)) == ["diverged", "diverged"]
    ds = sweep(_base(), small, model=failing, progress=False, throw=False)
    assert np.all(np.isnan(ds["x"].values))


def _run_python(code: str, env_extra=None, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


_CONSTANTS = f"""
import importlib
import jax
jax.config.update("jax_enable_x64", True)
MF, OBS, AXES, CHUNK, PPD = {MF!r}, {OBS!r}, {AXES!r}, {CHUNK}, {PPD}
"""
_SETUP = (
    _CONSTANTS
    + """
import jaxmf
S = importlib.import_module("jaxmf._sweep")
"""
)


# ~10 CPU-s (a second Python process that imports and compiles everything); the resume logic
# itself is checked in-process by test_resume_after_ctrl_c_completes_identically.
@pytest.mark.slow
def test_killed_sweep_resumes_identically(tmp_path, reference):
    out = tmp_path / "killed.nc"
    parts = tmp_path / "killed.nc.parts"
    # two chunks, with a pause after each write so the kill lands between them
    proc = _run_python(
        _SETUP
        + f"""
import time
real = S._write_chunk
S._write_chunk = lambda *a: (real(*a), time.sleep(30))
S.regime_map(jaxmf.presets.chen_campbell_2022(), AXES, observables=OBS, chunk_size=CHUNK,
             points_per_device=PPD, progress=False, out={str(out)!r}, **MF)
"""
    )
    try:
        deadline = time.time() + 120
        while not list(parts.glob("chunk-*.npz")):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        proc.kill()
    assert [p.name for p in parts.glob("chunk-*.npz")] == ["chunk-000000.npz"]
    assert not out.exists()
    ds = regime_map(_base(), AXES, observables=OBS, progress=False, out=out, **MF)
    assert ds.attrs["chunk_size"] == CHUNK
    assert_same_data(ds, reference)


FOUR_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}


def _sharded(tmp_path, reference, counts):
    # The reference ran one point per call on one device; here each call puts one point on each
    # of 4 devices (one call per chunk), or on each of 3 (two calls, the second padded).
    proc = _run_python(
        _SETUP
        + f"""
assert len(jax.devices()) == 4
for n in {counts!r}:
    S.regime_map(jaxmf.presets.chen_campbell_2022(), AXES, observables=OBS, chunk_size=CHUNK,
                 points_per_device=PPD, devices=n, progress=False, out=f"{tmp_path}/d{{n}}.nc",
                 **MF)
""",
        env_extra=FOUR_DEVICES,
    )
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    for n in counts:
        ds = load_sweep(tmp_path / f"d{n}.nc")
        assert len(json.loads(ds.attrs["provenance"])["sweep_devices"]) == n
        assert_same_data(ds, reference)


@pytest.mark.slow  # ~6 CPU-s; the network's device tests cover splitting
def test_sharded_equals_unsharded_on_four_fake_devices(tmp_path, reference):
    _sharded(tmp_path, reference, (4,))


@pytest.mark.slow
def test_sharded_on_three_devices_with_padding(tmp_path, reference):
    _sharded(tmp_path, reference, (3,))


@pytest.mark.slow
def test_sharded_network_batch_equals_unsharded():
    proc = _run_python(
        _SETUP
        + """
import numpy as np
base = jaxmf.presets.chen_campbell_2022()
net = dict(model="network", observables=("r_mean", "regime"), n=64, t1=2.0, transient=0.5,
           smooth_time=0.2, dtype="float64", chunk_size=4, points_per_device=1, progress=False)
grid = S.Grid.product(eta_bar=[0.0, 0.1, 0.2, 0.3, 0.4])
one = S.sweep(base, grid, devices=1, **net)
four = S.sweep(base, grid, devices=4, **net)
print("RESULT", all(np.array_equal(one[k].values, four[k].values) for k in one.data_vars))
""",
        env_extra=FOUR_DEVICES,
    )
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    assert "RESULT True" in stdout, stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # ~15 s in two fresh processes; the four-device test is the fast equivalent
def test_two_processes_give_the_same_dataset(tmp_path, reference):
    out = tmp_path / "dist.nc"
    port = _free_port()
    code = (
        _CONSTANTS
        + """
jax.distributed.initialize(coordinator_address="127.0.0.1:{port}", num_processes=2,
                           process_id={pid}, initialization_timeout=120)
import jaxmf
S = importlib.import_module("jaxmf._sweep")
ds = S.regime_map(jaxmf.presets.chen_campbell_2022(), AXES, observables=OBS, chunk_size=CHUNK,
                  points_per_device=PPD, progress=False, out={out!r}, **MF)
print("RESULT", jax.process_index(), jax.process_count(), ds.attrs["fingerprint"])
"""
    )
    procs = [
        _run_python(
            code.replace("{port}", str(port))
            .replace("{pid}", str(i))
            .replace("{out!r}", repr(str(out)))
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=300))
    finally:
        for p in procs:
            p.kill()
    for p, (_, se) in zip(procs, outputs):
        assert p.returncode == 0, se[-3000:]
    results = sorted(
        next(x for x in so.splitlines() if x.startswith("RESULT")).split()[1:3] for so, _ in outputs
    )
    assert results == [["0", "2"], ["1", "2"]]
    ds = load_sweep(out)
    assert json.loads(ds.attrs["provenance"])["processes"] == 2
    assert_same_data(ds, reference)


# Bad input and the command line


@pytest.mark.parametrize(
    "call, name, words",
    [
        (lambda: Grid.product(eta=[0.1]), "eta", "unknown parameter"),
        (lambda: Grid.product(eta_bar=[0.1, float("nan")]), "eta_bar", "finite"),
        (lambda: Grid.product(eta_bar=[]), "eta_bar", "empty"),
        (lambda: Grid.random(0, eta_bar=(0, 1)), "n", ">= 1"),
        (lambda: Grid.random(5, eta_bar=(1, 0)), "eta_bar", "low < high"),
        (lambda: Grid.points(eta_bar=[0.1, 0.2], w_jump=[0.01]), "grid", "one value per point"),
        (lambda: Grid.product(eta_bar=[0.1], eta_bar_0=[0.2]), "grid", "both set eta_bar"),
        (lambda: Grid.product(g=[0.1], **{"g[0,0]": [0.2]}), "grid", "both set g"),
        (lambda: sweep(_base(), Grid.product(delta_eta=[-0.01, 0.02])), "delta_eta", ">= 0"),
        (lambda: sweep(_base(), Grid.product(**{"w_jump[1]": [0.01]})), "w_jump_1", "out of range"),
        (lambda: sweep(_base(), Grid.product(kappa=[0.5])), "kappa", "two populations"),
        (
            lambda: sweep(_base(), Grid.product(input_amplitude=[0.1])),
            "input_amplitude",
            "give the model one",
        ),
        (
            lambda: sweep(
                _base(),
                Grid.product(input_width=[0.1]),
                i_ext=jaxmf.inputs.Sinusoid(0.1, 10.0),
            ),
            "input_width",
            "no array attribute 'width'",
        ),
        (
            lambda: sweep(_base(), Grid.product(eta_bar=[0.1]), rtoll=1e-3),
            "rtoll",
            "unknown option",
        ),
        (lambda: sweep(_base(), Grid.product(eta_bar=[0.1]), t1=-5.0), "t1", "> 0"),
        (
            lambda: sweep(_base(), Grid.product(eta_bar=[0.1]), t1=100.0, transient=100.0),
            "transient",
            "< t1",
        ),
        (
            lambda: sweep(_base(), Grid.product(eta_bar=[0.1]), observables=("rate",)),
            "observables",
            "unknown observable",
        ),
        (
            lambda: sweep(_base(), Grid.product(eta_bar=[0.1]), model="spiking"),
            "model",
            "meanfield",
        ),
        (lambda: sweep(_base(), Grid.product(eta_bar=[0.1]), chunk_size=0), "chunk_size", ">= 1"),
        (lambda: sweep(_base(), Grid.product(eta_bar=[0.1]), devices=99), "devices", "between 1"),
        (
            lambda: sweep(_base(), Grid.product(eta_bar=[0.1]), model="network", dt=0.01),
            "dt",
            "too large",
        ),
    ],
)
def test_bad_input_raises_parameter_error(call, name, words):
    with pytest.raises(jaxmf.ParameterError) as err:
        call()
    assert err.value.name == name and words in str(err.value)


_CONFIG = """
preset = "chen_campbell_2022"
observables = {obs}
out = "{out}"
chunk_size = {chunk}
points_per_device = {ppd}
[grid]
eta_bar = [-12.0, 0.12, 0.3]
w_jump = {{ start = 0.0189, stop = 0.01, num = 2 }}
[options]
t1 = {t1}
transient = {transient}
save_dt = {save_dt}
"""


def test_cli_sweep_writes_dataset_and_plot(tmp_path, capsys, reference):
    # --out is a folder, as for every command: the config's file name goes into it.
    folder = tmp_path / "maps"
    out = folder / "map.nc"
    config = tmp_path / "map.toml"
    config.write_text(
        _CONFIG.format(
            obs=json.dumps(list(OBS)),
            out=tmp_path / "elsewhere" / "map.nc",
            chunk=CHUNK,
            ppd=PPD,
            **MF,
        )
    )
    assert main(["sweep", str(config), "--quiet", "--out", str(folder)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and f"wrote {out.with_suffix('.png')}" in printed
    assert "bursting: 1" in printed and "ok: 6" in printed
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    assert not (tmp_path / "elsewhere").exists()
    ds = load_sweep(out)
    assert_same_data(ds, reference)
    assert "jaxmf sweep" in json.loads(ds.attrs["provenance"])["command"]
    assert main(["sweep", str(config), "--no-plot", "--out", str(folder)]) == 0  # only reads
    assert "is complete" in capsys.readouterr().err


def test_cli_sweep_output_path():
    from jaxmf.cli.sweep import output_path

    config = Path("cfg/map.toml")
    assert output_path(config, None, None, None) == Path("results/map.nc")
    assert output_path(config, Path("a/b.nc"), None, None) == Path("a/b.nc")
    assert output_path(config, Path("a/b.nc"), Path("f"), None) == Path("f/b.nc")
    assert output_path(config, Path("a/b.nc"), Path("f"), "c") == Path("f/c.nc")
    assert output_path(config, None, None, "c") == Path("results/c.nc")


def test_cli_sweep_unwritable_out_exits_2_before_computing(tmp_path, capsys):
    config = tmp_path / "map.toml"
    config.write_text("[grid]\neta_bar = [0.1]\n")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["sweep", str(config), "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxmf: error: --out: cannot write")


@pytest.mark.parametrize(
    "content, words",
    [
        (bytes(range(256)) * 4, "not a text file"),
        (b"a = " + b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'preset = "' + b"x" * (2 << 20) + b'"', "a sweep config is a few lines"),
        (b'preset = "' + b"x" * 100_000 + b'"\n[grid]\neta_bar = [0.1]', "unknown preset"),
    ],
)
def test_cli_damaged_or_huge_config_is_one_short_line(tmp_path, capsys, content, words):
    config = tmp_path / "bad.toml"
    config.write_bytes(content)
    assert main(["sweep", str(config)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err and str(config) in err
    assert len(err) < 1200  # the file's content is not echoed


@pytest.mark.parametrize(
    "text, words",
    [
        ("presett = 'x'\n[grid]\neta_bar = [0.1]\n", "presett: unknown key in the config"),
        ("[grid]\neta_bar = [0.1]\n[options]\nrtoll = 1e-3\n", "rtoll: unknown option"),
        ("[grid]\ndelta_eta = [-0.1, 0.02]\n", "delta_eta: grid value -0.1 is not allowed"),
        ("[grid]\neta_bar = { start = 0, stop = 1 }\n", "eta_bar: an axis is a list"),
        ("[grid]\ndesign = 'sobol'\neta_bar = [0.1]\n", "grid.design: must be one of"),
        ("[grid]\ndesign = 'random'\neta_bar = [0.0, 0.3]\n", "grid.n: a random design needs n"),
        ("model = 'meanfield'\n", "grid: the config needs a [grid] table"),
        ("[grid\n", "not valid TOML"),
    ],
)
def test_cli_bad_config_exits_2(tmp_path, capsys, text, words):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main(["sweep", str(config)]) == 2
    err = capsys.readouterr().err
    assert words in err and str(config) in err


def test_example_config_parses():
    from jaxmf.cli.sweep import load_config

    kwargs = load_config(ROOT / "examples" / "sweep.toml")
    assert kwargs["grid"].shape == (400, 400) and kwargs["t1"] == 2000.0
    assert kwargs["model"] == "meanfield" and kwargs["plot"] is True


def test_config_input_is_the_cli_input_and_its_attributes_are_axes(tmp_path):
    from jaxmf.cli.sweep import load_config
    from jaxmf.params import ParameterError

    config = tmp_path / "forced.toml"
    config.write_text(
        "input = 'sinusoid:amplitude=0.05,period=200'\n"
        "[grid]\neta_bar = [0.1, 0.2]\ninput_amplitude = [0.0, 0.05]\n"
    )
    kwargs = load_config(config)
    drive = kwargs["i_ext"]
    assert isinstance(drive, jaxmf.inputs.Sinusoid)
    assert float(drive.amplitude) == 0.05 and float(drive.period) == 200.0
    assert kwargs["grid"].shape == (2, 2)
    config.write_text("input = 'sinusoid:amplitude=x'\n[grid]\neta_bar = [0.1]\n")
    with pytest.raises(ParameterError, match="^input: "):
        load_config(config)


def test_config_sampler_takes_the_cli_sampler_values():
    from jaxmf.cli.sweep import _network_options
    from jaxmf.heterogeneity import RandomDraws, Uniform

    assert _network_options({"sampler": "uniform:match=iqr"})["sampler"] == Uniform(match="iqr")
    assert isinstance(_network_options({"sampler": "random"})["sampler"], RandomDraws)


@pytest.mark.parametrize(
    "text, words",
    [
        ("[grid]\neta_bar = [0.1]\n[set]\neta_bar = 'abc'\n", "set.eta_bar: must be a number"),
        ("[grid]\neta_bar = [0.1]\n[set]\neta_bar = {a = 1}\n", "set.eta_bar: must be a number"),
        (
            "model = 'network'\n[grid]\neta_bar = [0.1]\n[options]\nscheme = [1]\n",
            "options.scheme: must be one of",
        ),
        (
            "model = 'network'\n[grid]\neta_bar = [0.1]\n"
            "[options]\nsampler = 'gaussian:match=std'\n",
            "options.sampler: gaussian takes the options",
        ),
    ],
)
def test_cli_config_values_of_the_wrong_type_exit_2(tmp_path, capsys, text, words):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    assert main(["sweep", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
