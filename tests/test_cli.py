"""`jaxmf simulate`, `meanfield` and `compare` end to end, and what every command shares."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxmf
from jaxmf import io
from jaxmf import network as nw
from jaxmf._results import RESULTS
from jaxmf.cli import main
from jaxmf.cli._common import assignment


def _assert_trees_equal(a, b):
    def arr(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        return np.asarray(x)

    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(arr(x), arr(y))


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
    for key in (
        "jaxmf",
        "jax",
        "jaxlib",
        "numpy",
        "python",
        "platform",
        "devices",
        "backend",
        "time_utc",
        "command",
    ):
        assert key in meta["provenance"]
    assert "--set eta_bar=0.13" in meta["provenance"]["command"]
    assert (meta["n"], meta["sizes"], meta["dt"], meta["record_every"]) == (200, [200], 1e-3, 100)
    assert meta["scheme"]["name"] == "EulerReset" and meta["sampler"]["name"] == "Quantiles"
    assert meta["seed"] == 0 and meta["dtype"] == "float32"
    expected = jaxmf.presets.get("bursting", eta_bar=0.13)
    params = io.params_from_dict(meta["params"])
    _assert_trees_equal(params, expected)  # exact round trip
    assert params.eta_bar.dtype == expected.eta_bar.dtype

    saved = io.load_network_result(tmp_path / "network.npz")
    assert saved.r.shape == saved.w_mean.shape == (20, 1)
    np.testing.assert_allclose(saved.t, 0.1 * np.arange(1, 21), rtol=1e-12)
    assert saved.state["v"][0].shape == (200,) and int(saved.state["step"]) == 2000
    # One transient convention (analysis.transient_time): the first quarter of the run.
    rate = saved.r[saved.t > 0.5].mean(axis=0)
    assert meta["summary"]["rate_from_t"] == 0.5
    np.testing.assert_allclose(meta["summary"]["rate"], rate, rtol=1e-6)
    assert meta["summary"]["status"] == "ok" and saved.status == RESULTS.successful
    times, ids = saved.spike_raster()
    assert times.shape == ids.shape and np.all((times > 0) & (times <= 2))


def test_simulate_float64_with_plot(tmp_path):
    assert (
        _simulate(
            tmp_path,
            "--dtype",
            "float64",
            "--set",
            "fractions=0.5,0.5",
            "--set",
            "g=1.2,0.6;0.6,1.2",
        )
        == 0
    )
    png = (tmp_path / "network.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    saved = io.load_network_result(tmp_path / "network")
    assert saved.meta["dtype"] == "float64" and saved.state["v"][0].dtype == np.float64
    assert saved.sizes == (100, 100) and saved.r.shape == (20, 2)
    np.testing.assert_array_equal(saved.params.g, [[1.2, 0.6], [0.6, 1.2]])


@pytest.mark.parametrize(
    "args, name",
    [
        (["--preset", "nope"], "preset"),
        (["--set", "tau_x=1"], "tau_x"),
        (["--set", "eta_bar=abc"], "eta_bar"),
        (["--set", "delta_eta=-0.1"], "delta_eta"),
        (["--n", "-5"], "n"),
        (["--n", "many"], "--n"),
        (["--dt", "0.01"], "dt"),
        (["--t1", "2.05"], "t1"),
        (["--scheme", "rk4"], "--scheme"),
        (["--sampler", "cauchy"], "--sampler"),
        (["--sampler", "gaussian:match=std"], "--sampler"),
        (["--sampler", "lorentzian:match=iqr"], "--sampler"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, name):
    assert _simulate(tmp_path, "--no-plot", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxmf: error: ") and name in err[0]
    assert not list(tmp_path.iterdir())


def test_sampler_option_sets_the_excitability_distribution(tmp_path, capsys):
    assert _simulate(tmp_path, "--no-plot", "--sampler", "uniform:match=iqr") == 0
    saved = io.load_network_result(tmp_path / "network.npz")
    assert saved.meta["sampler"] == {"name": "Uniform", "match": "iqr", "random": False}
    # Matched by quartiles: evenly spaced standard values inside [-2, 2], quartiles at -+1.
    z = np.sort(np.asarray(io.restore_network_result(saved).network.z[0], float))
    assert z.shape == (200,) and -2 < z[0] and z[-1] < 2
    np.testing.assert_allclose(np.diff(z), np.diff(z)[0], rtol=1e-4)
    np.testing.assert_allclose(np.quantile(z, [0.25, 0.5, 0.75]), [-1, 0, 1], atol=0.02)
    # A resumed run keeps it (the sampler is read back from the file).
    capsys.readouterr()
    resume = ["simulate", "--resume", str(tmp_path / "network.npz"), "--t1", "4", "--quiet"]
    assert main([*resume, "--no-plot"]) == 0
    again = io.load_network_result(tmp_path / "network.npz")
    assert again.meta["sampler"] == saved.meta["sampler"] and again.t[-1] == pytest.approx(4.0)


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

    resume = [
        "simulate",
        "--resume",
        str(tmp_path / "part.npz"),
        "--t1",
        "2",
        "--quiet",
        "--no-plot",
    ]
    assert main([*resume, "--n", "400"]) == 2  # the network is the saved one
    assert "--n" in capsys.readouterr().err
    assert main(resume) == 0

    full = io.load_network_result(tmp_path / "full")
    part = io.load_network_result(tmp_path / "part")
    np.testing.assert_allclose(part.t, full.t, rtol=1e-12)
    for name in (
        "r",
        "v_mean",
        "w_mean",
        "s",
        "spike_first",
        "spike_count",
        "spike_times",
        "spike_ids",
    ):
        np.testing.assert_array_equal(getattr(part, name), getattr(full, name), err_msg=name)
    _assert_trees_equal(part.state, full.state)
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
    assert assignment("eta_bar=0.13") == ("eta_bar", 0.13)
    assert assignment("eta_bar=0.1,0.2") == ("eta_bar", [0.1, 0.2])
    assert assignment("g=1,2;3,4") == ("g", [[1.0, 2.0], [3.0, 4.0]])


def test_python_dash_m_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "jaxmf", "simulate", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "--resume" in done.stdout


# `meanfield` and `compare` share the network size and bin above, so compiled code is reused.
MEANFIELD = ["meanfield", "--t1", "4", "--switch", "2:0.1", "--quiet"]
COMPARE = ["compare", "--n", "200", "--t1", "2", "--quiet"]


def _strict_json(path):
    def reject(constant):
        raise AssertionError(f"{path} holds {constant}: not strict JSON")

    return json.loads(path.read_text(), parse_constant=reject)


def test_meanfield_with_switch_and_equilibria(tmp_path, capsys):
    assert main([*MEANFIELD, "--equilibria", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "chen_campbell: ok" in out and "I_ext = 0.1:" in out and "unstable" in out
    assert out.rstrip().splitlines()[-1].startswith("time: compile ")
    for suffix in ("npz", "json", "png"):
        assert (tmp_path / f"meanfield.{suffix}").stat().st_size > 0

    meta = _strict_json(tmp_path / "meanfield.json")
    assert meta["format"] == "jaxmf.meanfield_result" and meta["model"] == "chen_campbell"
    assert meta["provenance"]["preset"] == "bursting"
    assert "--switch 2:0.1" in meta["provenance"]["command"]
    timing = meta["provenance"]["timing"]
    assert timing["compile_s"] >= 0 and timing["run_s"] >= 0
    assert timing["compile_s"] + timing["run_s"] == pytest.approx(timing["wall_s"], abs=2e-3)
    assert meta["i_ext_step"] == {"times": [2.0], "values": [0.0, 0.1]}
    first, second = meta["summary"]["windows"]
    assert [first["t_from"], first["t_to"], second["t_from"], second["t_to"]] == [0.5, 2, 2.5, 4]
    assert first["period"] == [None]  # too short to burst: NaN is written as null
    # One equilibrium per input level at eta_bar = 0.12: unstable (bursting), then stable (tonic).
    stability = [(e["i_ext"], e["stable"]) for e in meta["equilibria"]]
    assert stability == [([0.0], False), ([0.1], True)]
    assert max(e["residual"] for e in meta["equilibria"]) < 1e-10

    with np.load(tmp_path / "meanfield.npz") as f:
        assert f["r"].shape == f["w"].shape == (41, 1) and f["r"].dtype == np.float64
        np.testing.assert_allclose(f["t"], np.linspace(0, 4, 41))
        np.testing.assert_array_equal(f["i_ext_times"], [2.0])
        assert int(f["status"]) == 0
        keep = (f["t"] > 0.5) & (f["t"] <= 2.0)
        np.testing.assert_allclose(first["r_mean"][0], f["r"][keep, 0].mean(), rtol=1e-12)


def test_meanfield_failure_saves_result_and_exits_1(tmp_path, capsys, monkeypatch):
    from jaxmf import meanfield

    real = meanfield.solve_meanfield

    def fails(*args, **kwargs):  # too few steps for the run: the solver stops early
        return real(*args, **{**kwargs, "max_steps": 20})

    monkeypatch.setattr(meanfield, "solve_meanfield", fails)
    assert main([*MEANFIELD, "--no-plot", "--quiet", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "solve_meanfield (chen_campbell)" in err[0]
    assert "meanfield.npz" in err[0]
    assert _strict_json(tmp_path / "meanfield.json")["summary"]["status"] != "ok"
    with np.load(tmp_path / "meanfield.npz") as f:
        assert int(f["status"]) != 0


def test_compare_writes_metrics_and_figure(tmp_path, capsys):
    assert (
        main(
            [
                *COMPARE,
                "--models",
                "chen_campbell,nicola_campbell",
                "--out",
                str(tmp_path),
                "--name",
                "cmp",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "mean rate r" in out and "burst period" in out and "nicola_campbell" in out
    assert (tmp_path / "cmp.png").read_bytes().startswith(b"\x89PNG")

    meta = _strict_json(tmp_path / "cmp.json")
    assert meta["format"] == "jaxmf.comparison" and meta["n"] == 200 and meta["dtype"] == "float32"
    assert set(meta["models"]) == {"chen_campbell", "nicola_campbell"}
    assert all(m["status"] == "ok" and m["dtype"] == "float64" for m in meta["models"].values())
    metrics = meta["metrics"]
    assert metrics["transient"] == 0.5 and metrics["t1"] == 2.0
    assert metrics["network_regime"] in ("quiescent", "tonic", "bursting")
    assert isinstance(metrics["regime_agree"], bool) and metrics["rel_err_r_mean"] >= 0
    assert "nc_rel_err_r_mean" in metrics and metrics["mf_period"] is None  # NaN -> null
    # One network mean rate per run: the summary uses the metrics' transient.
    summary = meta["network_summary"]
    assert summary["rate_from_t"] == metrics["transient"]
    np.testing.assert_allclose(summary["rate"][0], metrics["network_r_mean"], rtol=1e-6)
    assert meta["scheme"]["name"] == "EulerReset" and meta["seed"] == 0

    with np.load(tmp_path / "cmp.npz") as f:
        assert f["network_r"].shape == (20, 1) and f["network_r"].dtype == np.float32
        assert f["mf_chen_campbell_r"].shape == f["mf_nicola_campbell_w"].shape == (21, 1)
        assert f["network_spike_times"].shape == f["network_spike_ids"].shape
        keep = f["network_t"] > 0.5
        mf_keep = f["mf_chen_campbell_t"] > 0.5
        net, mf = f["network_r"][keep, 0].mean(), f["mf_chen_campbell_r"][mf_keep, 0].mean()
    expected = abs(net - mf) / mf
    np.testing.assert_allclose(metrics["rel_err_r_mean"], expected, rtol=1e-5)


def test_compare_network_blow_up_exits_1(tmp_path, capsys, monkeypatch):
    compare_module = sys.modules["jaxmf._compare"]  # `jaxmf.compare` is the function

    def blows_up(*args, **kwargs):
        raise nw.SimulationError(
            "simulate_network: non-finite v or w at t=1; `.result` holds the run."
        )

    monkeypatch.setattr(compare_module, "simulate_network", blows_up)
    assert main([*COMPARE, "--no-plot", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0] == "jaxmf: error: simulate_network: non-finite v or w at t=1."


@pytest.mark.parametrize(
    "command, args, name",
    [
        (MEANFIELD, ["--model", "nope"], "--model"),
        (MEANFIELD, ["--switch", "bad"], "--switch"),
        (MEANFIELD, ["--switch", "5:0.1"], "--switch"),
        (MEANFIELD, ["--switch", "1:0.1,0.2"], "--switch"),
        (MEANFIELD, ["--t1", "-1"], "--t1"),
        (MEANFIELD, ["--rtol", "0"], "--rtol"),
        (MEANFIELD, ["--set", "tau_s=-1"], "tau_s"),
        (MEANFIELD, ["--units", "dimensional", "--set", "alpha=0.6"], "alpha"),
        (MEANFIELD, ["--units", "dimensional", "--set", "tau_W=-5"], "tau_w"),
        (COMPARE, ["--models", "chen_campbell,nope"], "--models"),
        (COMPARE, ["--t1", "-1"], "--t1"),
        (COMPARE, ["--transient", "2"], "--transient"),
        (COMPARE, ["--n", "0"], "n"),
        (COMPARE, ["--dt", "0.01"], "dt"),
        (COMPARE, ["--sampler", "cauchy"], "--sampler"),
    ],
)
def test_meanfield_and_compare_bad_input_is_one_line_and_exit_2(
    tmp_path, capsys, command, args, name
):
    assert main([*command, "--no-plot", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxmf: error: ") and name in err[0]
    assert not list(tmp_path.iterdir())


def test_set_in_physical_units(tmp_path, capsys):
    """--units dimensional: --set I_ext=500 is 500 pA, i.e. 500 / (k V_R^2) in the model's units
    (model.md section 1), and tau_W=100 ms gives a = C / (tau_W k |V_R|)."""
    args = [*MEANFIELD, "--no-plot", "--out", str(tmp_path), "--units", "dimensional"]
    assert main([*args, "--set", "I_ext=500", "--set", "tau_W=100"]) == 0
    params = _strict_json(tmp_path / "meanfield.json")["params"]
    np.testing.assert_allclose(params["i_ext"], [500 / (2.5 * 65**2)], rtol=1e-12)
    np.testing.assert_allclose(params["a"], [250 / (100 * 2.5 * 65)], rtol=1e-12)


def test_version_comes_from_package_metadata(capsys):
    from importlib import metadata

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"jaxmf {metadata.version('jaxmf')}"


def test_every_command_shares_the_common_options(capsys):
    from jaxmf.cli import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for module in COMMANDS:
        name = module.__name__.rsplit(".", 1)[1]
        options = {o for a in sub.choices[name]._actions for o in a.option_strings}
        assert {"--out", "--name", "--quiet"} <= options, name
        if name != "sweep":  # a sweep takes its parameters from its config
            assert {"--preset", "--set"} <= options, name
            text = sub.choices[name].format_help()
            default = "rounded" if name == "bifurcation" else "bursting"
            assert f"(default {default}" in " ".join(text.split()), name


@pytest.mark.parametrize(
    "command",
    [
        ["simulate", "--n", "200", "--t1", "2"],
        MEANFIELD,
        COMPARE,
        ["bifurcation", "--no-cycles"],
        ["fit", "--target", "TARGET"],
    ],
)
def test_unwritable_out_exits_2_before_any_computation(tmp_path, capsys, monkeypatch, command):
    import jaxmf._compare
    import jaxmf._fit
    import jaxmf.bifurcation
    import jaxmf.meanfield

    def never(*args, **kwargs):
        raise AssertionError("computed before checking --out")

    for module, name in (
        (nw, "simulate_network"),
        (jaxmf.meanfield, "solve_meanfield"),
        (jaxmf._compare, "compare"),
        (jaxmf.bifurcation, "continue_equilibria"),
        (jaxmf._fit, "fit"),
    ):
        monkeypatch.setattr(module, name, never)
    target = tmp_path / "rates.csv"
    t = np.linspace(0.0, 50.0, 101)
    np.savetxt(
        target,
        np.column_stack([t, 0.05 + 0.01 * np.sin(t)]),
        delimiter=",",
        header="t,r",
        comments="",
    )
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    args = [str(target) if a == "TARGET" else a for a in command]
    assert main([*args, "--out", str(blocker / "results")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxmf: error: --out: cannot write")


@pytest.mark.parametrize(
    "args, option",
    [
        (["--n", "1e20"], "--n"),
        (["--n", "1e9", "--max-memory", "1e9"], "--n"),
        (["--t1", "1e12"], "--t1"),  # the records of a very long run
        (["--dt", "1.0"], "--dt"),
    ],
)
def test_absurd_sizes_and_steps_are_refused_up_front(tmp_path, capsys, args, option):
    assert _simulate(tmp_path, "--no-plot", *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"jaxmf: error: {option}:")
    if option in ("--n", "--t1"):
        assert "need about" in err[0]
    assert not list(tmp_path.iterdir())


def test_meanfield_tolerance_of_one_or_more_is_refused(tmp_path, capsys):
    assert main([*MEANFIELD, "--rtol", "10", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--rtol" in err and "(0, 1)" in err and not list(tmp_path.iterdir())


def test_damaged_resume_file_is_one_line_naming_it(tmp_path, capsys):
    damaged = tmp_path / "run.npz"
    damaged.write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "run.json").write_text("{}")
    resume = ["simulate", "--resume", str(damaged), "--t1", "4", "--quiet", "--no-plot"]
    assert main(resume) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxmf: error: --resume:") and "damaged" in err[0]
    assert str(damaged) in err[0]
    damaged.write_bytes(b"")
    assert main(resume) == 2
    assert "empty" in capsys.readouterr().err


def test_compare_solver_failure_is_one_line_with_the_reason(tmp_path, capsys, monkeypatch):
    compare_module = sys.modules["jaxmf._compare"]

    class EquinoxRuntimeError(RuntimeError):  # what diffrax raises with throw=True
        pass

    def fails(*args, **kwargs):
        raise EquinoxRuntimeError(
            "Above is the stack outside of JIT. Below is the stack inside "
            "of JIT:\n  File ...\n\nequinox.EquinoxRuntimeError: The "
            "maximum number of solver steps was reached.\n\n----\n"
        )

    monkeypatch.setattr(compare_module, "compare", fails)
    assert main([*COMPARE, "--no-plot", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "maximum number of solver steps" in err[0]
    assert "stack" not in err[0]


@pytest.fixture
def _restore_cache_config():
    """The session's compilation-cache settings back after a test that changes them."""
    from jax.experimental.compilation_cache import compilation_cache

    saved = jax.config.jax_compilation_cache_dir
    yield
    jax.config.update("jax_compilation_cache_dir", saved)
    compilation_cache.reset_cache()


def test_cache_is_used_unless_turned_off(tmp_path, monkeypatch, _restore_cache_config):
    import argparse

    from jaxmf.cli._common import start_run

    def fresh_program():  # a program no earlier test compiled
        return jax.jit(lambda x: x * 3.0 + 7.0)(jax.numpy.arange(5.0))

    monkeypatch.delenv("JAXMF_NO_CACHE", raising=False)
    folder = tmp_path / "cache"
    start_run(argparse.Namespace(no_cache=False, cache_dir=folder))
    assert jax.config.jax_compilation_cache_dir == str(folder)
    fresh_program()
    assert any(folder.iterdir()), "the compiled program was not written to the cache"

    for args, env in (((True, tmp_path / "off"), None), ((False, tmp_path / "env"), "1")):
        if env:
            monkeypatch.setenv("JAXMF_NO_CACHE", env)
        start_run(argparse.Namespace(no_cache=args[0], cache_dir=args[1]))
        assert jax.config.jax_compilation_cache_dir == str(folder)  # left as it was
        assert not args[1].exists()


@pytest.mark.slow  # three CLI processes (~25 CPU-s)
def test_second_process_reads_the_cache(tmp_path):
    def run(cache, *extra):
        out = tmp_path / "out"
        env = {**os.environ, "JAXMF_CACHE_DIR": str(cache)}
        env.pop("JAXMF_NO_CACHE", None)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "jaxmf",
                "meanfield",
                "--t1",
                "20",
                "--no-plot",
                "--quiet",
                "--out",
                str(out),
                *extra,
            ],
            check=True,
            env=env,
            capture_output=True,
            timeout=600,
        )
        return json.loads((out / "meanfield.json").read_text())["provenance"]["timing"]

    first = run(tmp_path / "cache")
    stored = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert stored, "nothing was written to the cache"
    second = run(tmp_path / "cache")
    # The second process reads the executables back instead of compiling them.
    assert second["compile_s"] < 0.6 * first["compile_s"]
    run(tmp_path / "unused", "--no-cache")
    assert not (tmp_path / "unused").exists()
