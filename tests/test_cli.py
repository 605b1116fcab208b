import json
import subprocess
import sys

import numpy as np
import pytest

import jaxmf
from jaxmf import io
from jaxmf import network as nw
from jaxmf.cli import _assignment, main

from .conftest import tree_allclose

# One network size, step and bin for every run here, so the compiled chunk is reused.
RUN = ["simulate", "--n", "200", "--t1", "2", "--record-every", "100", "--quiet"]


def _simulate(tmp_path, *extra, name="network"):
    return main([*RUN, "--out", str(tmp_path), "--name", name, *extra])


def test_simulate_writes_results_with_provenance(tmp_path, capsys):
    assert _simulate(tmp_path, "--no-plot", "--set", "eta_bar=0.13") == 0
    out = capsys.readouterr().out
    assert "Hz" in out and str(tmp_path / "network.npz") in out
    assert not (tmp_path / "network.png").exists()

    meta = json.loads((tmp_path / "network.json").read_text())
    for key in ("jaxmf", "jax", "jaxlib", "numpy", "python", "platform", "devices", "backend",
                "time_utc", "command"):
        assert key in meta["provenance"]
    assert "--set eta_bar=0.13" in meta["provenance"]["command"]
    assert (meta["n"], meta["sizes"], meta["dt"], meta["record_every"]) == (200, [200], 1e-3, 100)
    assert meta["scheme"]["name"] == "EulerReset" and meta["sampler"]["name"] == "Quantiles"
    assert meta["seed"] == 0 and meta["dtype"] == "float32"
    expected = jaxmf.presets.get("bursting", eta_bar=0.13)
    params = io.params_from_dict(meta["params"])
    assert tree_allclose(params, expected, rtol=0, atol=0)  # exact round trip
    assert params.eta_bar.dtype == expected.eta_bar.dtype

    saved = io.load_network_result(tmp_path / "network.npz")
    assert saved.r.shape == saved.w_mean.shape == (20, 1)
    np.testing.assert_allclose(saved.t, 0.1 * np.arange(1, 21), rtol=1e-12)
    assert saved.state["v"][0].shape == (200,) and int(saved.state["step"]) == 2000
    rate = saved.r[saved.t > 0.4].mean(axis=0)
    np.testing.assert_allclose(meta["summary"]["rate"], rate, rtol=1e-6)
    times, ids = saved.spike_raster()
    assert times.shape == ids.shape and np.all((times > 0) & (times <= 2))


def test_simulate_float64_with_plot(tmp_path):
    assert _simulate(tmp_path, "--dtype", "float64", "--set", "fractions=0.5,0.5",
                     "--set", "g=1.2,0.6;0.6,1.2") == 0
    png = (tmp_path / "network.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    saved = io.load_network_result(tmp_path / "network")
    assert saved.meta["dtype"] == "float64" and saved.state["v"][0].dtype == np.float64
    assert saved.sizes == (100, 100) and saved.r.shape == (20, 2)
    np.testing.assert_array_equal(saved.params.g, [[1.2, 0.6], [0.6, 1.2]])


@pytest.mark.parametrize("args, name", [
    (["--preset", "nope"], "preset"),
    (["--set", "tau_x=1"], "tau_x"),
    (["--set", "eta_bar=abc"], "eta_bar"),
    (["--set", "delta_eta=-0.1"], "delta_eta"),
    (["--n", "-5"], "n"),
    (["--n", "many"], "--n"),
    (["--dt", "0.01"], "dt"),
    (["--t1", "2.05"], "t1"),
    (["--scheme", "rk4"], "--scheme"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, name):
    assert _simulate(tmp_path, "--no-plot", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxmf: error: ") and name in err[0]
    assert not list(tmp_path.iterdir())


def test_interrupt_then_resume_equals_uninterrupted_run(tmp_path, capsys, monkeypatch):
    assert _simulate(tmp_path, "--no-plot", name="full") == 0
    real = nw.simulate_network

    def interrupted_halfway(params, *, t1, **kwargs):
        raise nw.SimulationInterrupted(real(params, t1=t1 / 2, **kwargs))

    monkeypatch.setattr(nw, "simulate_network", interrupted_halfway)
    assert _simulate(tmp_path, "--no-plot", name="part") == 130
    assert f"--resume {tmp_path / 'part.npz'} --t1 2" in capsys.readouterr().err
    assert io.load_network_result(tmp_path / "part").t[-1] == pytest.approx(1.0)
    monkeypatch.undo()

    resume = ["simulate", "--resume", str(tmp_path / "part.npz"), "--t1", "2", "--quiet",
              "--no-plot"]
    assert main([*resume, "--n", "400"]) == 2  # the network is the saved one
    assert "--n" in capsys.readouterr().err
    assert main(resume) == 0

    full = io.load_network_result(tmp_path / "full")
    part = io.load_network_result(tmp_path / "part")
    np.testing.assert_allclose(part.t, full.t, rtol=1e-12)
    for name in ("r", "v_mean", "w_mean", "s", "spike_first", "spike_count", "spike_times",
                 "spike_ids"):
        np.testing.assert_array_equal(getattr(part, name), getattr(full, name), err_msg=name)
    assert tree_allclose(part.state, full.state, rtol=0, atol=0)
    assert part.meta["summary"] == full.meta["summary"]
    assert part.meta["provenance"]["resumed_from"]["t_end"] == pytest.approx(1.0)


def test_simulation_error_saves_partial_result(tmp_path, capsys, monkeypatch):
    real = nw.simulate_network

    def blows_up(params, **kwargs):
        message = "simulate_network: non-finite v or w at t=2; `.result` holds the run."
        raise nw.SimulationError(message, real(params, **kwargs))

    monkeypatch.setattr(nw, "simulate_network", blows_up)
    assert _simulate(tmp_path, "--no-plot") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxmf: error: simulate_network: non-finite")
    assert (tmp_path / "network.npz").exists() and (tmp_path / "network.json").exists()


def test_set_values_parse_as_numbers_lists_and_matrices():
    assert _assignment("eta_bar=0.13") == ("eta_bar", 0.13)
    assert _assignment("eta_bar=0.1,0.2") == ("eta_bar", [0.1, 0.2])
    assert _assignment("g=1,2;3,4") == ("g", [[1.0, 2.0], [3.0, 4.0]])


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "jaxmf", "simulate", "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--resume" in done.stdout
