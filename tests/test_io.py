"""io: statuses as RESULTS codes, old files, damaged files named, summaries on one convention."""

import json

import numpy as np
import pytest

import jaxmf
from jaxmf import io
from jaxmf._results import RESULTS, status_names


@pytest.fixture(scope="module")
def run():
    # The CLI tests' size, step and bin, so the compiled network is reused in one session.
    return jaxmf.simulate_network(
        jaxmf.presets.get("bursting"), n=200, t1=2.0, dtype=np.float32, progress=False
    )


def test_status_codes_follow_the_results_enumeration():
    items = [
        RESULTS.successful,
        RESULTS.diverged,
        RESULTS.max_steps_reached,
        RESULTS.interrupted,
        RESULTS.out_of_domain,
    ]
    assert [int(io.status_codes(item)) for item in items] == [0, 1, 2, 3, 6]
    codes = np.array([[0, 1], [3, 2]], np.int8)
    labels = io.status_labels(codes)
    assert labels == [["ok", "diverged"], ["interrupted", "max_steps"]]
    assert io.status_labels(RESULTS.successful) == "ok"


def test_saved_run_reads_back_its_status_and_old_files_map_their_codes(run, tmp_path):
    npz, sidecar = io.save_network_result(tmp_path / "run", run, seed=0)
    saved = io.load_network_result(npz)
    assert status_names(saved.status) == "ok"
    with np.load(npz) as f:
        assert f["status"].dtype == np.int8 and int(f["status"]) == 0
    # A format-1 file stored the network's own codes: 2 meant interrupted (now code 3).
    arrays = dict(np.load(npz))
    arrays["status"] = np.asarray(2, np.int32)
    meta = json.loads(sidecar.read_text())
    meta["format_version"] = 1
    io.write_pair(tmp_path / "old", arrays, meta)
    assert status_names(io.load_network_result(tmp_path / "old").status) == "interrupted"


def test_summary_uses_the_first_quarter_as_transient(run):
    summary = io.summarize(run)
    t = np.asarray(run.t)
    assert summary["rate_from_t"] == jaxmf.analysis.transient_time(float(t[-1]))
    np.testing.assert_allclose(summary["rate"], np.asarray(run.r)[t > 0.5].mean(0), rtol=1e-6)
    assert summary["regime"][0] in jaxmf.analysis.REGIME_NAMES


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "empty"),
        (b"PK\x03\x04 cut short", "damaged"),
        (b"\x00\x01 not a zip", "damaged"),
    ],
)
def test_damaged_npz_raises_value_error_naming_the_file(tmp_path, content, words):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=words) as err:
        io.read_npz(path)
    assert str(path) in str(err.value)
    with pytest.raises(FileNotFoundError):
        io.read_npz(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    "content, words",
    [
        ("", "empty"),
        ("t,r\n", "no rows"),
        ("t,r\n1,abc\n", "not a number"),
        ("t,r\n1,2,3\n", "2 values"),
    ],
)
def test_bad_csv_raises_value_error_naming_the_file(tmp_path, content, words):
    path = tmp_path / "x.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=words) as err:
        io.read_csv(path)
    assert str(path) in str(err.value)


def test_csv_round_trip_and_strict_json(tmp_path):
    rows = np.array([[0.0, 1.5], [1.0, np.nan]])
    io.write_csv(tmp_path / "a.csv", rows, "t,r")
    table = io.read_csv(tmp_path / "a.csv")
    np.testing.assert_array_equal(table["t"], [0.0, 1.0])
    np.testing.assert_array_equal(table["r"], [1.5, np.nan])
    _, sidecar = io.write_pair(
        tmp_path / "b", {"x": np.arange(3)}, {"nan": float("nan"), "inf": float("inf")}
    )
    assert json.loads(sidecar.read_text()) == {"nan": None, "inf": "inf"}


def test_provenance_version_is_the_installed_package_version():
    from importlib import metadata

    assert io.provenance(command="x")["jaxmf"] == metadata.version("jaxmf")


def test_meanfield_summary_carries_both_units():
    """With the parameters, every number of a window also comes in Hz, ms, mV and pA, by the
    conversions of `DimensionalParams` (independent formulas: 650 Hz and 1.538 ms per unit)."""
    from jaxmf.meanfield import MeanFieldResult

    t = np.linspace(0.0, 400.0, 4001)
    r = (0.08 + 0.07 * np.sin(2 * np.pi * t / 100.0))[:, None]
    res = MeanFieldResult(
        t=t,
        r=r,
        v=0.3 + r,
        w=0.1 + r,
        s=r,
        status=RESULTS.successful,
        n_steps=np.int32(1),
        model="chen_campbell",
    )
    row = io.summarize_meanfield(res, jaxmf.presets.bursting())["windows"][0]
    unit_ms = 250.0 / (2.5 * 65.0)
    np.testing.assert_allclose(row["r_mean_hz"], np.asarray(row["r_mean"]) * 1000 / unit_ms)
    np.testing.assert_allclose(row["period_ms"], np.asarray(row["period"]) * unit_ms)
    np.testing.assert_allclose(row["v_mean_mv"], (np.asarray(row["v_mean"]) - 1) * 65.0)
    np.testing.assert_allclose(row["w_mean_pa"], np.asarray(row["w_mean"]) * 2.5 * 65.0**2)
    assert abs(row["period"][0] - 100.0) < 1.0


@pytest.mark.parametrize(
    "extension, kwargs",
    [
        ("delay and rise time", dict(params=dict(delay=0.004, tau_r=0.5))),
        pytest.param(
            "sparse coupling and a monitor",
            dict(connectivity=True),
            marks=pytest.mark.slow,  # ~3 CPU-s; the delay case runs the same save and restore
        ),
    ],
)
def test_saved_extended_run_resumes_like_an_uninterrupted_one(extension, kwargs, tmp_path):
    # The state of the model's extensions (delay line, rise variables, per-neuron synapses and
    # their tables, the monitor) is saved: the restored run continues bit for bit.
    p = jaxmf.presets.chen_campbell_2022(eta_bar=0.25, **kwargs.get("params", {}))
    extra = {}
    if kwargs.get("connectivity"):
        extra = dict(connectivity=jaxmf.FixedInDegree(k=20), monitor=jaxmf.Monitor(indices=2))
    run = lambda t1, **kw: jaxmf.simulate_network(
        p, n=100, t1=t1, dt=1e-3, record_every=100, progress=False, **extra, **kw
    )
    whole = run(4.0)
    half = run(2.0)
    io.save_network_result(tmp_path / "half", half)
    restored = io.restore_network_result(tmp_path / "half")
    resumed = (
        run(4.0, resume=restored)
        if not extra
        else jaxmf.simulate_network(
            p, t1=4.0, dt=1e-3, record_every=100, progress=False, resume=restored
        )
    )
    np.testing.assert_array_equal(np.asarray(resumed.r), np.asarray(whole.r))
    np.testing.assert_array_equal(np.asarray(resumed.s), np.asarray(whole.s))
    if extra:
        np.testing.assert_array_equal(np.asarray(resumed.monitor.v), np.asarray(whole.monitor.v))
