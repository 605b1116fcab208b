"""`jaxmf bifurcation`: the paper's one-parameter diagram from the command line."""

import json

import numpy as np
import pytest

import jaxmf
from jaxmf.bifurcation import Branch
from jaxmf.cli import main


def _max_real_eigenvalue(params, eta):
    eq = jaxmf.meanfield_equilibria(params.replace(eta_bar=eta))
    assert int(np.sum(np.asarray(eq.valid))) == 1
    return float(np.max(np.asarray(eq.eigenvalues)[0].real))


def _hopf_values(meta):
    return sorted(
        sp["value"]
        for sp in meta["special_points"]
        if sp["kind"] == "hopf" and sp["branch"] == "equilibria"
    )


@pytest.fixture(scope="module")
def equilibria_only(tmp_path_factory):
    out = tmp_path_factory.mktemp("bif")
    code = main(
        [
            "bifurcation",
            "--param",
            "eta_bar",
            "--no-cycles",
            "--quiet",
            "--out",
            str(out),
            "--name",
            "bif",
        ]
    )
    assert code == 0
    return out


def test_equilibria_and_hopf_points(equilibria_only, capsys):
    meta = json.loads((equilibria_only / "bif.json").read_text())
    assert meta["preset"] == "rounded"  # the default of this command: the paper's diagrams
    assert (equilibria_only / "bif.png").stat().st_size > 10_000
    hopf = _hopf_values(meta)
    # model.md section 4: Hopf points near 0.075 and 0.19, both subcritical.
    assert len(hopf) == 2 and abs(hopf[0] - 0.075) < 0.005 and abs(hopf[1] - 0.19) < 0.005
    assert all(
        sp.get("criticality") == "subcritical"
        for sp in meta["special_points"]
        if sp["kind"] == "hopf"
    )
    # Independent check with the closed-form equilibria: the leading eigenvalue's real part
    # changes sign across each reported value.
    params = jaxmf.presets.chen_campbell_2022(rounded=True)
    for h in hopf:
        assert _max_real_eigenvalue(params, h - 1e-6) * _max_real_eigenvalue(params, h + 1e-6) < 0
    eq = Branch.from_json(equilibria_only / "bif_equilibria.json")
    assert np.asarray(eq.values)[:, 0].min() == pytest.approx(0.0, abs=1e-12)
    assert np.asarray(eq.values)[:, 0].max() == pytest.approx(0.3, abs=1e-12)
    assert set(meta["files"]) == {"equilibria"} and not meta["failures"]


@pytest.mark.slow
def test_one_parameter_diagram_with_cycles(tmp_path, capsys):
    assert (
        main(
            [
                "bifurcation",
                "--preset",
                "rounded",
                "--param",
                "eta_bar",
                "--out",
                str(tmp_path),
                "--name",
                "bif",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    meta = json.loads((tmp_path / "bif.json").read_text())
    hopf = _hopf_values(meta)
    assert len(hopf) == 2
    # One cycle family joins the two Hopf points through two folds of cycles, each just outside
    # the Hopf interval (subcritical Hopf points: thin bistable windows).
    lpc = sorted(sp["value"] for sp in meta["special_points"] if sp["kind"] == "lpc")
    assert len(lpc) == 2 and lpc[0] < hopf[0] and lpc[1] > hopf[1]
    assert lpc[0] > hopf[0] - 0.01 and lpc[1] < hopf[1] + 0.01
    cyc = Branch.from_json(tmp_path / "bif_cycles_0.json")
    period = np.asarray(cyc.period)
    assert 100 < period.min() and period.max() > 400  # model.md: hundreds of time units
    header = (tmp_path / "bif_cycles_0.csv").read_text().splitlines()[0].split(",")
    assert {"eta_bar", "period", "r0_min", "r0_max", "stable", "label"} <= set(header)
    assert "hopf at eta_bar = 0.0748" in out and "lpc" in out


def test_bad_input_exits_2(tmp_path, capsys):
    assert main(["bifurcation", "--param", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxmf: error: --param: nope") and "unknown" in err
    assert main(["bifurcation", "--bounds", "0.3,0.1", "--out", str(tmp_path)]) == 2
    assert "--bounds" in capsys.readouterr().err
    assert main(["bifurcation", "--param", "kappa", "--out", str(tmp_path)]) == 2
    assert "kappa" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # the whole (eta_bar, a) diagram: cycles, Hopf, LPC and homoclinic curves
def test_two_parameter_diagram_with_lpc_and_homoclinic_curves(tmp_path, capsys):
    argv = ["bifurcation", "--preset", "rounded", "--param", "eta_bar", "--second", "a"]
    argv += ["--bounds2", "0.005,0.03", "--quiet", "--out", str(tmp_path), "--name", "bif"]
    code = main(argv)
    out = capsys.readouterr().out
    meta = json.loads((tmp_path / "bif.json").read_text())
    assert code == 0 and not meta["failures"], meta["failures"]
    assert {"lpc_0", "lpc_1", "homoclinic_0"} <= set(meta["files"])
    lpc = [Branch.from_json(tmp_path / f"bif_lpc_{k}.json") for k in (0, 1)]
    assert all(b.kind == "lpc" and b.param == ("eta_bar", "a") for b in lpc)
    # Issue 15: the end of stable bursting at a ~ 0.0216 is where an LPC curve turns.
    a_max = max(float(np.max(np.asarray(b.values)[:, 1])) for b in lpc)
    assert 0.02155 < a_max < 0.0217
    kinds = {(sp["branch"].split("_")[0], sp["kind"]) for sp in meta["special_points"]}
    assert {("lpc", "gh"), ("hopf", "gh"), ("hopf", "bt")} <= kinds
    hom = Branch.from_json(tmp_path / "bif_homoclinic_0.json")
    assert hom.kind == "homoclinic" and float(hom.period[0]) >= 2000
    # Every call is timed, the collocation ones with their compilation separately.
    assert set(meta["timings"]) == set(meta["files"])
    assert all("compile_s" in meta["timings"][k] for k in meta["files"] if k[:3] in ("cyc", "lpc"))
    assert "timing: lpc_0" in out and "compile" in out
    assert (tmp_path / "bif.png").stat().st_size > 10_000
    # The region of stable bursting: exact ranges on rows of a, shaded and written out. Its
    # highest row with stable bursting lies below the LPC curve's turning point, within one
    # bisection step (0.025 / 6 / 2**3) of it; every range is bounded by folds of cycles or
    # by the Hopf curve where that is supercritical (below GH, a < 0.00647).
    region = meta["region"]
    top = max(row["value"] for row in region["rows"] if row["intervals"])
    assert a_max - 0.025 / 6 / 8 < top < a_max
    for row in region["rows"]:
        for lo_hi in row["ends"]:
            assert set(lo_hi) <= {"lpc", "hopf", "bound"}
            assert "hopf" not in lo_hi or row["value"] < 0.00647
    assert region["polygons"] and (tmp_path / "bif_region.csv").exists()
    assert "region: a = " in out
