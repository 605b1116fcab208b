"""`jaxmf fit` end to end: a target made by `jaxmf meanfield` with hidden parameters is fitted
from another start and the hidden values come back."""

import json

import numpy as np
import pytest

from jaxmf.cli import main

HIDDEN = {"eta_bar": 0.125, "w_jump": 0.02}
START = ["--set", "eta_bar=0.11", "--set", "w_jump=0.017"]  # 12% and 15% below
# One trace length, grid, optimizer and start count for every fit here: compiled once.
FIT = ["fit", "--free", "eta_bar,w_jump", "--model", "meanfield", "--n-starts", "1", *START]


@pytest.fixture(scope="module")
def hidden_target(tmp_path_factory):
    out = tmp_path_factory.mktemp("hidden")
    code = main(
        [
            "meanfield",
            "--set",
            f"eta_bar={HIDDEN['eta_bar']}",
            "--set",
            f"w_jump={HIDDEN['w_jump']}",
            "--t1",
            "400",
            "--out",
            str(out),
            "--name",
            "hidden",
            "--no-plot",
        ]
    )
    assert code == 0
    return out / "hidden.npz"


def _fit(target, out, *extra):
    return main([*FIT, "--target", str(target), "--out", str(out), *extra])


# ~19 CPU-s with the target: compiles and runs a 200-iteration fit (slow with the CSV variant,
# which reuses its compilation); the default run keeps the refusals of bad input.
@pytest.mark.slow
def test_fit_recovers_hidden_meanfield_parameters(hidden_target, tmp_path, capsys):
    assert _fit(hidden_target, tmp_path) == 0
    out = capsys.readouterr().out
    assert "eta_bar = 0.125" in out and str(tmp_path / "fit.json") in out
    meta = json.loads((tmp_path / "fit.json").read_text())
    for name, value in HIDDEN.items():
        # The issue asks for 1%; the loss is exact up to solver tolerances, so far better holds.
        assert meta["fitted"][name] == pytest.approx(value, rel=1e-4), name
        assert meta["params"][name] == pytest.approx([value], rel=1e-4)
    assert meta["initial"] == {"eta_bar": 0.11, "w_jump": 0.017}
    assert meta["converged"] and meta["starts"][0]["status"] == "converged"
    assert meta["target"]["kind"] == "meanfield" and meta["target"]["transient"] == 100.0
    # The target's own provenance travels along: its parameters are the hidden ones.
    assert meta["target"]["params"]["eta_bar"] == [HIDDEN["eta_bar"]]
    for key in ("jaxmf", "jax", "command", "time_utc"):
        assert key in meta["provenance"]
    assert "--target" in meta["provenance"]["command"]

    with np.load(tmp_path / "fit.npz") as f:
        history, r_fit, r_target = f["loss_history"], f["r_fit"], f["r_target"]
    assert history.shape == (200, 1)
    finite = history[np.isfinite(history[:, 0]), 0]
    assert finite.size == meta["starts"][0]["iterations"] and finite[-1] < 1e-3 * finite[0]
    np.testing.assert_allclose(r_fit, r_target, atol=1e-5)  # rates ~0.01..0.15
    rows = np.loadtxt(tmp_path / "fit_loss.csv", delimiter=",", skiprows=1, ndmin=2)
    np.testing.assert_allclose(rows[:, 1], finite, rtol=1e-9)
    png = (tmp_path / "fit.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


# Reuses the fit compiled above: slow with it.
@pytest.mark.slow
def test_fit_reads_csv_targets(hidden_target, tmp_path):
    with np.load(hidden_target) as f:
        t, r = f["t"], f["r"][:, 0]
    csv = tmp_path / "rates.csv"
    np.savetxt(csv, np.column_stack([t, r]), delimiter=",", header="t,r", comments="", fmt="%.17g")
    assert _fit(csv, tmp_path, "--name", "from_csv", "--no-plot") == 0
    meta = json.loads((tmp_path / "from_csv.json").read_text())
    assert meta["target"]["kind"] == "csv" and meta["target"]["params"] is None
    for name, value in HIDDEN.items():
        assert meta["fitted"][name] == pytest.approx(value, rel=1e-4), name
    assert not (tmp_path / "from_csv.png").exists()


@pytest.mark.slow
def test_checkpointed_fit_gives_the_same_result_and_cleans_up(hidden_target, tmp_path):
    assert (
        _fit(hidden_target, tmp_path, "--name", "ck", "--no-plot", "--checkpoint-every", "4") == 0
    )
    meta = json.loads((tmp_path / "ck.json").read_text())
    for name, value in HIDDEN.items():
        assert meta["fitted"][name] == pytest.approx(value, rel=1e-4), name
    assert not (tmp_path / "ck.ckpt").exists() and not (tmp_path / "ck.ckpt.json").exists()


def _write_csv(path, t, r, header="t,r"):
    np.savetxt(path, np.column_stack([t, r]), delimiter=",", header=header, comments="")
    return path


def _truncated_npz(path):
    np.savez(path, t=np.linspace(0.0, 50.0, 101), r=np.ones(101))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    "case, option",
    [
        ("missing", "--target"),
        ("no_r_column", "--target"),
        ("uneven", "--target"),
        ("empty", "--target"),
        ("truncated", "--target"),
        ("binary", "--target"),
        ("late_start", "--target"),
        ("free", "--free"),
        ("resample", "--resample"),
        ("transient", "--transient"),
        ("population", "--population"),
        ("nan", "--target"),
        ("network_dt", "--dt"),
        ("checkpoint", "--checkpoint-every"),
        ("init", "--init"),
    ],
)
def test_bad_input_exits_2_naming_the_option(tmp_path, capsys, case, option):
    t = np.linspace(0.0, 50.0, 101)
    r = 0.05 + 0.01 * np.sin(t / 5)
    target = {
        "missing": tmp_path / "nothing.csv",
        "no_r_column": _write_csv(tmp_path / "a.csv", t, r, header="t,rate"),
        "uneven": _write_csv(tmp_path / "b.csv", t**1.1, r),
        "late_start": _write_csv(tmp_path / "c.csv", t + 1.0, r),
        "nan": _write_csv(tmp_path / "d.csv", t, np.where(t > 10, np.nan, r)),
        "empty": tmp_path / "empty.csv",
        "truncated": tmp_path / "cut.npz",
        "binary": tmp_path / "binary.csv",
    }.get(case, _write_csv(tmp_path / "ok.csv", t, r))
    if case == "empty":
        target.touch()
    elif case == "truncated":
        _truncated_npz(target)
    elif case == "binary":
        target.write_bytes(bytes(range(256)))
    extra = {
        "free": ["--free", "eta_bar,bogus"],
        "resample": ["--resample", "0.7"],
        "transient": ["--transient", "60"],
        "population": ["--population", "1"],
        "network_dt": ["--model", "network", "--dt", "0.3"],
        "checkpoint": ["--checkpoint-every", "-1"],
        "init": ["--init", "meanfield"],  # with the default --model meanfield
    }.get(case, [])
    code = main(["fit", "--target", str(target), "--out", str(tmp_path), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"jaxmf: error: {option}") or f"argument {option}" in err, err
    if case in ("empty", "truncated", "binary", "no_r_column"):
        assert str(target) in err  # the damaged file is named
    assert not (tmp_path / "fit.json").exists()


@pytest.mark.slow  # ~40 CPU-s: compiles the mean-field fit, then network runs and refits
def test_network_fit_from_a_meanfield_init(hidden_target, tmp_path, capsys):
    # A 200-neuron network fitted to the mean field's trace: the mean-field fit lands on the
    # hidden values, the space mapping moves them by the network's finite-size offset (a few
    # percent) and converges; one start comes back.
    code = main(
        [
            *FIT[:3], "--model", "network", "--init", "meanfield", "--n", "200", "--dt", "1e-2",
            "--steps", "20", *START, "--target", str(hidden_target), "--out", str(tmp_path),
            "--no-plot",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "from a mean-field fit" in out
    meta = json.loads((tmp_path / "fit.json").read_text())
    assert meta["init"] == "meanfield" and len(meta["starts"]) == 1
    for name, value in HIDDEN.items():
        assert meta["fitted"][name] == pytest.approx(value, rel=0.1), name
