import numpy as np
import pytest

import jaxmf
from jaxmf import Comparison, plot
from jaxmf.meanfield import MeanFieldResult, StepInput

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _meanfield(model="chen_campbell", n_pop=1, t1=2.0):
    """A synthetic mean-field result (plots need no solve), on the network's recording grid."""
    t = np.linspace(0.0, t1, int(round(t1 / 0.1)) + 1)
    wave = 0.08 + 0.07 * np.sin(2 * np.pi * t / 1.0)[:, None] * np.ones((1, n_pop))
    return MeanFieldResult(
        t=t,
        r=wave,
        v=0.3 + wave,
        w=0.1 + 0.2 * wave,
        s=3 * wave,
        status=np.int32(0),
        n_steps=np.int32(50),
        model=model,
    )


@pytest.fixture(scope="module")
def network():
    # The CLI tests' size and bin, so the compiled network is reused.
    params = jaxmf.presets.get("bursting")
    return jaxmf.simulate_network(
        params, n=200, t1=2.0, dtype=np.float32, raster=200, progress=False
    )


def _png(path):
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 5_000
    return data


def test_plot_comparison_has_five_panels(tmp_path, network):
    cmp = Comparison(
        network=network,
        meanfield={"chen_campbell": _meanfield(), "nicola_campbell": _meanfield("nicola_campbell")},
        metrics={"transient": 0.5},
    )
    fig = plot.plot_comparison(cmp, tmp_path / "cmp.png", title="tiny")
    assert len(fig.axes) == 5
    raster, rate = fig.axes[0], fig.axes[1]
    assert len(raster.collections) >= 1
    labels = [line.get_label() for line in rate.get_lines()]
    assert labels == ["network (N=200)", "Chen–Campbell (exact)", "Nicola–Campbell 2013"]
    # The network rate is smoothed over one time unit (10 bins): flatter than the raw bins.
    assert np.std(rate.get_lines()[0].get_ydata()) <= np.std(np.asarray(network.r)) + 1e-12
    _png(tmp_path / "cmp.png")
    plt.close(fig)


def test_plot_meanfield_has_four_traces_and_a_phase_plane(tmp_path):
    res = _meanfield(n_pop=2)
    params = jaxmf.presets.get("two_population")
    fig = plot.plot_meanfield(
        res, tmp_path / "mf.png", params=params, i_ext=StepInput(times=[1.0], values=[0.0, 0.1])
    )
    assert len(fig.axes) == 5
    ylabels = sorted(ax.get_ylabel() for ax in fig.axes)
    v, w = r"$\langle v \rangle$", r"$\langle w \rangle$"
    assert ylabels == sorted([v, w, "rate r", "rate r", "s"])
    (phase,) = [ax for ax in fig.axes if ax.get_xlabel() == w]
    curves = [line for line in phase.get_lines() if len(line.get_xdata()) > 1]
    assert len(curves) == 2  # one per population
    assert len(fig.axes[0].get_lines()) == 2 + 1  # two populations and the switch time
    _png(tmp_path / "mf.png")
    plt.close(fig)


def test_plot_phase_draws_each_result_into_given_axes():
    fig, ax = plt.subplots()
    out = plot.plot_phase(
        {"a": _meanfield(), "b": _meanfield("mpr")}, x="v", y="s", ax=ax, t_from=1.0
    )
    assert out is ax
    curves = [line for line in ax.get_lines() if len(line.get_xdata()) > 1]
    assert len(curves) == 2
    np.testing.assert_allclose(curves[0].get_xdata(), _meanfield().v[10:, 0])
    with pytest.raises(ValueError, match="x='q'"):
        plot.plot_phase(_meanfield(), x="q", ax=ax)
    plt.close(fig)


def test_plot_error_vs_n_log_log_with_guide(tmp_path):
    ns = [1000, 3000, 10_000]
    err = np.array([[0.03, 0.05], [0.02, 0.025], [0.01, 0.012]])
    study = {"n": ns, "seeds": [0, 1], "rel_err_r_mean": err}
    fig = plot.plot_error_vs_n(study, path=tmp_path / "err.png")
    (ax,) = fig.axes
    assert ax.get_xscale() == ax.get_yscale() == "log"
    guide = [line for line in ax.get_lines() if "sqrt" in line.get_label()]
    assert len(guide) == 1
    x, y = guide[0].get_xdata(), guide[0].get_ydata()
    np.testing.assert_allclose(y * np.sqrt(x), y[0] * np.sqrt(x[0]))  # c / sqrt(N)
    _png(tmp_path / "err.png")
    with pytest.raises(ValueError, match="nope"):
        plot.plot_error_vs_n(study, metric="nope")
    plt.close(fig)


def test_plot_meanfield_draws_equilibria():
    res = _meanfield()
    equilibria = [
        {"r": [0.05], "w": [0.12], "stable": False},
        {"r": [0.11], "w": [0.13], "stable": True},
    ]
    fig = plot.plot_meanfield(res, equilibria=equilibria)
    rate = fig.axes[0]
    flat = [
        line
        for line in rate.get_lines()
        if np.ptp(line.get_ydata()) == 0 and len(line.get_ydata()) == 2
    ]
    assert sorted(float(line.get_ydata()[0]) for line in flat) == [0.05, 0.11]
    assert {line.get_linestyle() for line in flat} == {"-", ":"}  # stable solid, unstable dotted
    legend = [text.get_text() for text in rate.get_legend().get_texts()]
    assert "stable equilibrium" in legend and "unstable equilibrium" in legend
    (phase,) = [ax for ax in fig.axes if ax.get_xlabel() == r"$\langle w \rangle$"]
    marks = [
        (float(line.get_xdata()[0]), float(line.get_ydata()[0]))
        for line in phase.get_lines()
        if line.get_marker() == "D"
    ]
    assert sorted(marks) == [(0.12, 0.05), (0.13, 0.11)]
    plt.close(fig)


def test_plot_fit_traces_and_loss_history(tmp_path):
    t = np.linspace(0.0, 10.0, 101)
    target = 0.1 + 0.05 * np.sin(t)
    history = np.array([[1.0, 2.0], [0.1, 0.5], [0.01, np.nan]])
    fig = plot.plot_fit(
        t,
        target,
        target * 1.01,
        history,
        tmp_path / "fit.png",
        transient=2.5,
        fitted={"eta_bar": 0.125},
        initial={"eta_bar": 0.11},
        loss="trace",
    )
    ax, axl = fig.axes
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), target)
    assert ax.get_title() == r"$\bar\eta$: 0.11 → 0.125"  # the paper's symbol, not the code name
    legend = [text.get_text() for text in axl.get_legend().get_texts()]
    assert legend == ["start 0", "start 1"]  # the colours of the starts are named
    assert axl.get_yscale() == "log" and axl.get_ylabel() == "trace loss"
    # One curve per start; the NaN after start 1 stopped is left out.
    lengths = sorted(len(line.get_xdata()) for line in axl.get_lines())
    assert lengths == [2, 3]
    _png(tmp_path / "fit.png")
    plt.close(fig)


def test_dimensional_units_convert_every_trace():
    """units='dimensional' draws ms, Hz, mV and pA: the drawn data equal the conversions of
    `DimensionalParams` (time unit C/(k|V_R|), V = (v - 1)|V_R|, W = w k V_R^2)."""
    res = _meanfield()
    params = jaxmf.presets.bursting()
    dim = params.to_dimensional()
    fig = plot.plot_meanfield(res, params=params, units="dimensional")
    phase = r"$\langle W \rangle$ (pA)"
    by_label = {ax.get_ylabel(): ax for ax in fig.axes if ax.get_xlabel() != phase}
    rate, volt = by_label["rate (Hz)"], by_label[r"$\langle V \rangle$ (mV)"]
    adapt, syn = by_label[r"$\langle W \rangle$ (pA)"], by_label["s"]
    ms = float(dim.time_unit_ms)
    np.testing.assert_allclose(rate.get_lines()[0].get_xdata(), res.t * ms)
    np.testing.assert_allclose(rate.get_lines()[0].get_ydata(), dim.rate_to_hz(res.r[:, 0]))
    np.testing.assert_allclose(volt.get_lines()[0].get_ydata(), (res.v[:, 0] - 1) * 65.0)
    np.testing.assert_allclose(adapt.get_lines()[0].get_ydata(), res.w[:, 0] * 2.5 * 65.0**2)
    assert syn.get_xlabel() == "time (ms)"
    plt.close(fig)
    with pytest.raises(ValueError, match="units"):
        plot.plot_meanfield(res, params=params, units="SI")
    with pytest.raises(ValueError, match="params"):
        plot.plot_meanfield(res, units="dimensional")


def test_raster_states_the_recorded_subset(network):
    fig = plot.plot_network(network)
    assert "200 of 200 recorded" in fig.axes[0].get_ylabel()
    plt.close(fig)


@pytest.mark.parametrize(
    "name, label",
    [
        ("eta_bar", r"$\bar\eta$"),
        ("delta_eta", r"$\Delta_\eta$"),
        ("tau_s", r"$\tau_s$"),
        ("w_jump[1]", r"$w_{\rm jump}^{(1)}$"),
        ("g[0,1]", "$g_{01}$"),
        ("something", "something"),
    ],
)
def test_parameter_label_uses_the_papers_symbols(name, label):
    assert plot.parameter_label(name) == label


def test_branch_labels_use_symbols_and_do_not_overlap():
    """Close special points get stacked labels on light boxes; axes carry the paper's symbols;
    cycle families are named as their files (cycles_0, ...)."""
    from jaxmf.bifurcation import Branch, SpecialPoint

    n = 20
    x = np.linspace(0.0, 0.3, n)
    states = np.zeros((n, 4))
    states[:, 0] = 0.1 + x
    params = jaxmf.presets.bursting()
    points = tuple(
        SpecialPoint(
            kind=kind, param=("eta_bar",), value=v, state=states[i], params=params, index=i
        )
        for kind, v, i in (("hopf", 0.0749, 5), ("fold", 0.0752, 5), ("hopf", 0.19, 13))
    )
    branch = Branch(
        kind="equilibrium",
        param=("eta_bar",),
        values=x[:, None],
        states=states,
        eigenvalues=np.zeros((n, 4), complex),
        stable=np.ones(n, bool),
        base=params,
        special_points=points,
    )
    ax = plot.plot_branch(branch)
    texts = [t for t in ax.texts]
    assert [t.get_text() for t in texts] == ["H", "LP", "H"]
    offsets = [t.xyann[1] for t in texts]
    assert offsets[0] != offsets[1] and offsets[2] == offsets[0]  # the close pair is stacked
    assert all(t.get_bbox_patch() is not None for t in texts)
    assert ax.get_xlabel() == r"$\bar\eta$"
    plt.close(ax.figure)
    fig = plot.plot_bifurcation({"equilibria": branch})
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["equilibria"]
    plt.close(fig)
