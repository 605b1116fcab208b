"""Matplotlib figures (matplotlib is imported here only, and only when a figure is made).

Without a display (a server, CI) the non-interactive Agg backend is selected, unless the user or
the environment (MPLBACKEND, an already imported pyplot) has chosen one.

    plot_network(res)         raster, r(t), <w>(t) of a network run
    plot_meanfield(res)       r, <v>, <w>, s of a mean-field solution and its (<w>, r) phase plot
    plot_comparison(cmp)      network versus mean field (Chen & Campbell 2022, Figure 1)
    plot_phase(res)           one trajectory (or several) in a plane of two variables
    plot_error_vs_n(study)    a discrepancy metric against N from `compare.finite_size_study`
    plot_branch(branch)       a continuation branch or two-parameter curve with its special points
    plot_bifurcation(brs)     the diagram of `jaxmf bifurcation`: branches against the parameter
    plot_regime_map(ds)       quiescent / tonic / bursting over two swept parameters
    plot_fit(t, target, fit)  a fitted rate against its target, with the loss history
"""

from __future__ import annotations

import os
import sys

import numpy as np

__all__ = [
    "parameter_label",
    "plot_network",
    "plot_meanfield",
    "plot_comparison",
    "plot_phase",
    "plot_error_vs_n",
    "plot_branch",
    "plot_bifurcation",
    "plot_regime_map",
    "plot_bursting_region",
    "plot_fit",
    "plot_monitor",
    "pyplot",
]

_MODEL_LABELS = {
    "chen_campbell": "Chen–Campbell (exact)",
    "nicola_campbell": "Nicola–Campbell 2013",
    "mpr": "MPR (no adaptation)",
}
_AXIS_LABELS = {"r": "rate r", "v": r"$\langle v \rangle$", "w": r"$\langle w \rangle$", "s": "s"}
_LINESTYLES = ("-", "--", ":", "-.")
UNITS = ("dimensionless", "dimensional")
# The paper's symbols for parameter names (`parameter_label`).
_SYMBOLS = {
    "alpha": r"\alpha",
    "eta_bar": r"\bar\eta",
    "delta_eta": r"\Delta_\eta",
    "i_ext": r"I_{\rm ext}",
    "a": "a",
    "b": "b",
    "w_jump": r"w_{\rm jump}",
    "tau_s": r"\tau_s",
    "s_jump": r"s_{\rm jump}",
    "e_r": "e_r",
    "g": "g",
    "kappa": r"\kappa",
    "v_peak": r"v_{\rm peak}",
    "v_reset": r"v_{\rm reset}",
}


def pyplot():
    """`matplotlib.pyplot`, with the Agg backend selected first on a headless machine.

    The backend is left alone when the user or ``MPLBACKEND`` chose one, or pyplot is already
    imported. Close figures with ``pyplot().close(fig)``.

    Returns
    -------
    module
        `matplotlib.pyplot`.

    Examples
    --------
    >>> from jaxmf import plot
    >>> plt = plot.pyplot()
    >>> fig, ax = plt.subplots()
    >>> plt.close(fig)
    """
    import matplotlib

    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if headless and "MPLBACKEND" not in os.environ and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _population_sizes(res) -> tuple[int, ...]:
    return tuple(res.network.sizes) if hasattr(res, "network") else tuple(res.sizes)


def _bin_width(res) -> float:
    meta = getattr(res, "meta", None)
    return meta["dt"] * meta["record_every"] if meta else res.dt * res.record_every


def parameter_label(name: str) -> str:
    r"""The paper's symbol for a parameter name, as matplotlib math.

    'eta_bar' gives η̄, 'delta_eta' Δ_η, 'w_jump[1]' w_jump with population index 1 as a
    superscript, 'g[0,1]' g_01. Unknown names come back unchanged.

    Parameters
    ----------
    name : str
        A parameter address (see `jaxmf.params.parse_parameter`).

    Returns
    -------
    str
        A mathtext label (between dollar signs), or `name` itself.

    Examples
    --------
    >>> from jaxmf import plot
    >>> print(plot.parameter_label("eta_bar"), plot.parameter_label("g[0,1]"))
    $\bar\eta$ $g_{01}$
    >>> plot.parameter_label("my_axis")
    'my_axis'
    """
    field, _, index = str(name).partition("[")
    symbol = _SYMBOLS.get(field)
    if symbol is None:
        return str(name)
    index = index.rstrip("]").replace(",", "").replace(" ", "")
    if index:
        symbol = f"{symbol}^{{({index})}}" if "_" in symbol else f"{symbol}_{{{index}}}"
    return f"${symbol}$"


class _Units:
    """Conversions and axis labels of the traces r, v, w, s and of time, in the dimensionless
    model units or in physical units at the parameters' scales (C, k, V_R: the paper's by
    default): ms, Hz, mV, pA. With dimensionless units and known parameters, the physical units
    are added as secondary axes."""

    _PHYSICAL = {
        "t": "time (ms)",
        "r": "rate (Hz)",
        "v": r"$\langle V \rangle$ (mV)",
        "w": r"$\langle W \rangle$ (pA)",
        "s": "s",
    }

    def __init__(self, params, units: str):
        if units not in UNITS:
            raise ValueError(f"units: must be one of {', '.join(UNITS)}; got {units!r}")
        self.dimensional = units == "dimensional"
        self.scale = None
        if params is not None:
            dim = params.to_dimensional()

            def first(x):  # the scales are shared by populations
                return float(np.ravel(np.asarray(x))[0])

            vr = abs(first(dim.v_r))
            # (scale, offset) of physical = scale * dimensionless + offset
            self.scale = {
                "t": (first(dim.time_unit_ms), 0.0),
                "r": (first(dim.rate_to_hz(1.0)), 0.0),
                "v": (vr, -vr),
                "w": (first(dim.k) * vr**2, 0.0),
                "s": (1.0, 0.0),
            }
        if self.dimensional and self.scale is None:
            raise ValueError("units='dimensional' needs the parameters (params=...)")

    def convert(self, name: str, x):
        if not self.dimensional:
            return x
        scale, offset = self.scale[name]
        return np.asarray(x) * scale + offset

    def label(self, name: str) -> str:
        if self.dimensional:
            return self._PHYSICAL[name]
        return "time (dimensionless)" if name == "t" else _AXIS_LABELS[name]

    def secondary(self, ax, name: str) -> None:
        """The physical unit as a second axis (top for time, right for a trace)."""
        if self.dimensional or self.scale is None or name == "s":
            return
        scale, offset = self.scale[name]
        forward = lambda x: x * scale + offset
        inverse = lambda x: (x - offset) / scale
        if name == "t":
            ax.secondary_xaxis("top", functions=(forward, inverse)).set_xlabel("time (ms)")
        else:
            unit = self._PHYSICAL[name].rpartition("(")[2].rstrip(")")
            ax.secondary_yaxis("right", functions=(forward, inverse)).set_ylabel(unit)


def _draw_raster(ax, res, colors, labels, time=lambda x: x):
    sizes = _population_sizes(res)
    spike_t, spike_id = res.spike_raster()
    spike_t = time(spike_t)
    offsets = np.cumsum([0, *sizes])
    pop_of = np.searchsorted(offsets, spike_id, side="right") - 1
    size = 1.5 if spike_t.size > 5000 else 8.0  # sparse rasters need visible marks
    for m in range(len(sizes)):
        sel = pop_of == m
        ax.scatter(
            spike_t[sel],
            spike_id[sel],
            s=size,
            c=colors[m],
            marker="|",
            linewidths=0.6,
            rasterized=True,
            label=labels[m],
        )
    ax.set_ylim(-0.5, offsets[-1] - 0.5)
    kept = sum(np.size(ix) for ix in res.raster_index) if hasattr(res, "raster_index") else None
    shown = f"{kept} of {offsets[-1]} recorded" if kept is not None else "recorded"
    ax.set_ylabel(f"neuron\n({shown})")
    if len(sizes) > 1:
        ax.legend(loc="upper right", markerscale=8 / size, fontsize="small")


def plot_network(res, path=None, title: str | None = None, *, units: str = "dimensionless"):
    r"""Raster, population rate r(t) and mean adaptation ⟨w⟩(t) of a network run, on one time axis.

    The raster's label says how many of the neurons it shows (those recorded, ``raster=`` of the
    run). The rate is drawn as a step over each recording bin (it is a bin average).

    Parameters
    ----------
    res : NetworkResult or SavedRun
        One network run (take one element of a batch with ``res.select(i)``), or a saved run from
        `jaxmf.io.load_network_result`.
    path : str or os.PathLike, optional
        Also save the figure there (format from the suffix, 150 dpi).
    title : str, optional
        The figure's title.
    units : {'dimensionless', 'dimensional'}, default 'dimensionless'
        'dimensionless': the model's units, with ms, Hz and pA at the parameters' scales as
        secondary axes. 'dimensional': ms, Hz, pA on the axes themselves.

    Returns
    -------
    matplotlib.figure.Figure
        Three axes: raster, rate, adaptation.

    Raises
    ------
    ValueError
        When `res` is batched or `units` is unknown.

    Examples
    --------
    >>> import jaxmf
    >>> from jaxmf import plot
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> fig = plot.plot_network(cmp.network, units="dimensional")
    >>> [ax.get_ylabel() for ax in fig.axes[1:]]
    ['rate (Hz)', '$\\langle W \\rangle$ (pA)']
    >>> plot.pyplot().close(fig)
    """
    if np.ndim(res.r) != 2:
        raise ValueError("plot_network: take one element of a batched result first (res.select(i))")
    plt = pyplot()
    u = _Units(res.params, units)
    t = np.asarray(res.t)
    r = np.asarray(res.r, dtype=float)
    w = np.asarray(res.w_mean, dtype=float)
    n_pop = len(_population_sizes(res))
    bin_width = _bin_width(res)
    t_edges = (float(t[0]) - bin_width if t.size else 0.0, float(t[-1]) if t.size else 1.0)
    colors = [f"C{m}" for m in range(n_pop)]
    labels = [f"population {m}" for m in range(n_pop)] if n_pop > 1 else [None]

    fig, (ax_raster, ax_rate, ax_w) = plt.subplots(
        3, 1, sharex=True, figsize=(9, 7), height_ratios=(2, 1.2, 1), layout="constrained"
    )
    _draw_raster(ax_raster, res, colors, labels, time=lambda x: u.convert("t", x))
    u.secondary(ax_raster, "t")
    for m in range(n_pop):
        # r is a bin average: draw it as a step over each bin.
        tt = u.convert("t", t)
        ax_rate.step(
            tt, u.convert("r", r[:, m]), where="pre", color=colors[m], lw=1, label=labels[m]
        )
        ax_w.plot(tt, u.convert("w", w[:, m]), color=colors[m], lw=1, label=labels[m])
    ax_rate.set_ylabel(u.label("r"))
    u.secondary(ax_rate, "r")
    ax_w.set_ylabel(u.label("w"))
    u.secondary(ax_w, "w")
    ax_w.set_xlabel(u.label("t"))
    ax_w.set_xlim(*u.convert("t", np.asarray(t_edges)))
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0 (edges use the available samples), like
    `analysis.smooth` but in numpy for plotting."""
    if window <= 1:
        return x
    kernel = np.ones(window)
    num = np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="same"), 0, x)
    den = np.convolve(np.ones(x.shape[0]), kernel, mode="same")
    return num / den.reshape((-1,) + (1,) * (x.ndim - 1))


def _traces(res, smooth_time: float = 1.0) -> dict[str, np.ndarray]:
    """t, r, v, w, s (T, P) of a mean-field or network result; a network's rate is smoothed over
    `smooth_time` time units (its raw bin averages are dominated by finite-size noise)."""
    if hasattr(res, "v_mean"):
        window = max(1, int(round(smooth_time / _bin_width(res))))
        return {
            "t": np.asarray(res.t, float),
            "r": _moving_average(np.asarray(res.r, float), window),
            "v": np.asarray(res.v_mean, float),
            "w": np.asarray(res.w_mean, float),
            "s": np.asarray(res.s, float),
        }
    return {k: np.asarray(getattr(res, k), float) for k in ("t", "r", "v", "w", "s")}


def _as_named(res_or_results) -> dict:
    if isinstance(res_or_results, dict):
        return dict(res_or_results)
    if isinstance(res_or_results, (list, tuple)):
        return {_label(res, i): res for i, res in enumerate(res_or_results)}
    return {_label(res_or_results, 0): res_or_results}


def _label(res, i) -> str:
    if hasattr(res, "v_mean"):
        return f"network (N={res.network.n})" if hasattr(res, "network") else "network"
    model = getattr(res, "model", None)
    return _MODEL_LABELS.get(model, model) if model else f"result {i}"


def plot_phase(
    res_or_results,
    x: str = "w",
    y: str = "r",
    ax=None,
    *,
    t_from: float = 0.0,
    populations=None,
    units="dimensionless",
    params=None,
):
    """Trajectories in the plane of two variables, each one of 'r', 'v', 'w', 's'.

    A circle marks the first drawn point, a square the last. A network's rate is smoothed over one
    time unit.

    Parameters
    ----------
    res_or_results : MeanFieldResult or NetworkResult or list or dict
        One result, a list of them, or a dict label -> result (one colour each).
    x : {'r', 'v', 'w', 's'}, default 'w'
        The variable along the horizontal axis.
    y : {'r', 'v', 'w', 's'}, default 'r'
        The variable along the vertical axis.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes (default a new figure).
    t_from : float, default 0.0
        Drop earlier times (the approach from the initial state) to show only the attractor.
    populations : Sequence of int, optional
        Which populations to draw (default all; one line style each).
    units : {'dimensionless', 'dimensional'}, default 'dimensionless'
        'dimensional' draws Hz, mV, pA at the scales of `params`.
    params : Params, optional
        The parameters, needed for dimensional units.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into.

    Raises
    ------
    ValueError
        When `x` or `y` is not one of r, v, w, s, a result is batched, or dimensional units lack
        `params`.

    Examples
    --------
    >>> import jaxmf
    >>> from jaxmf import plot
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> ax = plot.plot_phase(cmp.meanfield["chen_campbell"], "w", "r", t_from=10.0)
    >>> ax.get_ylabel(), len(ax.get_lines())  # the trajectory, its start and its end
    ('rate r', 3)
    >>> plot.pyplot().close(ax.figure)
    """
    u = units if isinstance(units, _Units) else _Units(params, units)
    for name, value in (("x", x), ("y", y)):
        if value not in _AXIS_LABELS:
            raise ValueError(f"plot_phase: {name}={value!r} must be one of r, v, w, s")
    if ax is None:
        plt = pyplot()
        _, ax = plt.subplots(figsize=(5, 4.5), layout="constrained")
    named = _as_named(res_or_results)
    n_lines = 0
    for j, (label, res) in enumerate(named.items()):
        tr = _traces(res)
        if tr["r"].ndim != 2:
            raise ValueError("plot_phase: take one element of a batched result first")
        keep = tr["t"] >= t_from
        pops = range(tr["r"].shape[1]) if populations is None else populations
        color = f"C{j}"
        for m in pops:
            xs, ys = u.convert(x, tr[x][keep, m]), u.convert(y, tr[y][keep, m])
            if xs.size == 0:
                continue
            pop_label = label if len(pops) == 1 else f"{label}, population {m}"
            ax.plot(xs, ys, color=color, ls=_LINESTYLES[m % 4], lw=1.2, label=pop_label)
            n_lines += 1
            ax.plot(xs[0], ys[0], "o", color=color, ms=4)
            ax.plot(xs[-1], ys[-1], "s", color=color, ms=4)
    ax.set_xlabel(u.label(x))
    ax.set_ylabel(u.label(y))
    if n_lines > 1:
        ax.legend(fontsize="small")
    return ax


def plot_meanfield(
    res,
    path=None,
    title: str | None = None,
    *,
    params=None,
    i_ext=None,
    equilibria=None,
    units: str = "dimensionless",
):
    """r(t), ⟨v⟩(t), ⟨w⟩(t) and s(t) of a mean-field solution on one time axis, with the (⟨w⟩, r)
    phase plane beside them.

    Parameters
    ----------
    res : MeanFieldResult or dict of str to MeanFieldResult
        One solution, or a dict label -> solution to overlay several (e.g. models).
    path : str or os.PathLike, optional
        Also save the figure there.
    title : str, optional
        The figure's title.
    params : Params, optional
        The parameters solved, to add physical units (ms, Hz, mV, pA) at their scales.
    i_ext : StepInput, optional
        The input used, to mark its switch times.
    equilibria : list of dict, optional
        Equilibria to draw (dicts with r, w, stable, e.g. from `jaxmf.io.equilibria_to_dicts`):
        their rate as a horizontal line on the r panel and their (⟨w⟩, r) point in the phase plane;
        filled / solid where stable, open / dotted where not.
    units : {'dimensionless', 'dimensional'}, default 'dimensionless'
        'dimensionless': the model's units (with `params`, physical units as secondary axes).
        'dimensional': ms, Hz, mV, pA on the axes; needs `params`.

    Returns
    -------
    matplotlib.figure.Figure
        Five axes: r, v, w, s and the phase plane.

    Raises
    ------
    ValueError
        When a result is batched, `units` is unknown, or dimensional units lack `params`.

    Examples
    --------
    >>> import jaxmf
    >>> from jaxmf import plot
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> from jaxmf import io
    >>> p = jaxmf.presets.tonic()
    >>> eq = io.equilibria_to_dicts(jaxmf.meanfield_equilibria(p))
    >>> fig = plot.plot_meanfield(cmp.meanfield["chen_campbell"], params=p, equilibria=eq)
    >>> len(fig.axes)
    5
    >>> plot.pyplot().close(fig)
    """
    plt = pyplot()
    u = _Units(params, units)
    named = _as_named(res)
    fig, axes = plt.subplot_mosaic(
        [["r", "phase"], ["v", "phase"], ["w", "phase"], ["s", "phase"]],
        figsize=(12, 7.5),
        width_ratios=(2.2, 1),
        layout="constrained",
    )
    for name in ("v", "w", "s"):
        axes[name].sharex(axes["r"])
    for j, (label, one) in enumerate(named.items()):
        tr = _traces(one)
        if tr["r"].ndim != 2:
            raise ValueError("plot_meanfield: take one element of a batched result first")
        n_pop = tr["r"].shape[1]
        for name in ("r", "v", "w", "s"):
            for m in range(n_pop):
                line_label = label if n_pop == 1 else f"{label}, population {m}"
                axes[name].plot(
                    u.convert("t", tr["t"]),
                    u.convert(name, tr[name][:, m]),
                    color=f"C{j}",
                    ls=_LINESTYLES[m % 4],
                    lw=1.3,
                    label=line_label,
                )
    for name in ("r", "v", "w", "s"):
        axes[name].set_ylabel(u.label(name))
        u.secondary(axes[name], name)
        if name != "s":
            axes[name].tick_params(labelbottom=False)
        if i_ext is not None:
            for t_switch in np.atleast_1d(np.asarray(i_ext.times, float)):
                axes[name].axvline(u.convert("t", t_switch), color="0.5", ls="--", lw=0.8)
    first = _traces(next(iter(named.values())))
    axes["s"].set_xlim(*u.convert("t", np.asarray([first["t"][0], first["t"][-1]], float)))
    axes["s"].set_xlabel(u.label("t"))
    levels = {tuple(np.ravel(eq.get("i_ext", 0.0))) for eq in equilibria or ()}
    for eq in equilibria or ():
        stable = bool(eq["stable"])
        label = "stable equilibrium" if stable else "unstable equilibrium"
        if len(levels) > 1:
            label += " (I_ext = " + ",".join(f"{x:g}" for x in np.ravel(eq["i_ext"])) + ")"
        seen = {line.get_label() for line in axes["r"].get_lines()}
        for m, (r, w) in enumerate(zip(np.ravel(eq["r"]), np.ravel(eq["w"]))):
            axes["r"].axhline(
                u.convert("r", r),
                color="0.35",
                lw=0.9,
                ls="-" if stable else ":",
                label=None if label in seen or m else label,
            )
            axes["phase"].plot(
                [u.convert("w", w)],
                [u.convert("r", r)],
                "D",
                ms=6,
                color="0.2",
                mfc="0.2" if stable else "w",
                zorder=5,
            )
    if len(named) > 1 or first["r"].shape[1] > 1 or equilibria:
        axes["r"].legend(fontsize="small", loc="upper right")
    u.secondary(axes["r"], "t")
    plot_phase(named, "w", "r", ax=axes["phase"], units=u)
    axes["phase"].set_title("phase plane (circle: start, square: end)", fontsize="medium")
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def plot_comparison(
    cmp,
    path=None,
    title: str | None = None,
    *,
    smooth_time: float = 1.0,
    units: str = "dimensionless",
):
    """Network against mean field, as in the paper's Figure 1 (Chen & Campbell 2022).

    The network raster, then r(t), ⟨v⟩(t), ⟨w⟩(t) and s(t), each with the network (thin, its rate
    smoothed over `smooth_time`) against every mean-field model (thick), on one time axis with
    milliseconds along the top. The transient left out of the metrics is shaded.

    Parameters
    ----------
    cmp : Comparison
        From `jaxmf.compare`.
    path : str or os.PathLike, optional
        Also save the figure there.
    title : str, optional
        The figure's title.
    smooth_time : float, default 1.0
        Smoothing window of the network's rate (time units).
    units : {'dimensionless', 'dimensional'}, default 'dimensionless'
        'dimensionless': the model's units, physical units as secondary axes. 'dimensional': ms,
        Hz, mV, pA on the axes.

    Returns
    -------
    matplotlib.figure.Figure
        Five axes: raster, r, v, w, s.

    Raises
    ------
    ValueError
        When the comparison's network run is batched or `units` is unknown.

    Examples
    --------
    >>> import jaxmf
    >>> from jaxmf import plot
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> fig = plot.plot_comparison(cmp)
    >>> fig.axes[-1].get_xlabel()
    'time (dimensionless; shaded: transient left out of the metrics)'
    >>> plot.pyplot().close(fig)
    """
    net = cmp.network
    if np.ndim(net.r) != 2:
        raise ValueError("plot_comparison: take one element of a batched result first")
    plt = pyplot()
    sizes = _population_sizes(net)
    n_pop = len(sizes)
    u = _Units(net.params, units)
    fig, axes = plt.subplots(
        5, 1, sharex=True, figsize=(9, 10), height_ratios=(1.6, 1.3, 1, 1, 1), layout="constrained"
    )
    ax_raster, panels = axes[0], dict(zip(("r", "v", "w", "s"), axes[1:]))
    _draw_raster(
        ax_raster,
        net,
        ["k"] * n_pop if n_pop == 1 else [f"C{m}" for m in range(n_pop)],
        [f"population {m}" for m in range(n_pop)] if n_pop > 1 else [None],
        time=lambda x: u.convert("t", x),
    )
    u.secondary(ax_raster, "t")

    net_tr = _traces(net, smooth_time)
    suffix = (lambda m: "") if n_pop == 1 else (lambda m: f", population {m}")
    for name, ax in panels.items():
        for m in range(n_pop):
            ax.plot(
                u.convert("t", net_tr["t"]),
                u.convert(name, net_tr[name][:, m]),
                color="k",
                ls=_LINESTYLES[m % 4],
                lw=0.7,
                label=f"network (N={net.network.n}){suffix(m)}",
            )
            for j, (model, mf) in enumerate(cmp.meanfield.items()):
                ax.plot(
                    u.convert("t", np.asarray(mf.t)),
                    u.convert(name, np.asarray(getattr(mf, name))[:, m]),
                    color=f"C{j}",
                    ls=_LINESTYLES[m % 4],
                    lw=2.2,
                    alpha=0.75,
                    label=f"{_MODEL_LABELS.get(model, model)}{suffix(m)}",
                )
        ax.set_ylabel(u.label(name))
        u.secondary(ax, name)
    panels["r"].legend(fontsize="small", loc="upper right")
    transient = cmp.metrics.get("transient")
    if transient:
        for ax in axes:
            ax.axvspan(0, u.convert("t", transient), color="0.93", zorder=-10, lw=0)
    t_net = net_tr["t"]
    panels["s"].set_xlim(0.0, u.convert("t", float(t_net[-1]) if t_net.size else 1.0))
    time_label = u.label("t")
    panels["s"].set_xlabel(
        f"{time_label[:-1]}; shaded: transient left out of the metrics)"
        if transient
        else time_label
    )
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def plot_error_vs_n(study: dict, metric="rel_err_r_mean", path=None, title: str | None = None):
    """A discrepancy metric against network size N, log-log.

    The mean over seeds (markers) with the seeds' spread (min to max, bars), and a c/sqrt(N) guide
    (the finite-size fluctuation scale) fitted through the means. Non-positive or NaN values are
    left out (a log axis cannot show them).

    Parameters
    ----------
    study : dict
        From `jaxmf.finite_size_study`.
    metric : str or list of str, default 'rel_err_r_mean'
        A key of `study`, or several (one colour each).
    path : str or os.PathLike, optional
        Also save the figure there.
    title : str, optional
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        One log-log axes.

    Raises
    ------
    ValueError
        When a metric is not in the study.

    Examples
    --------
    >>> import jaxmf
    >>> from jaxmf import plot
    >>> study = jaxmf.finite_size_study(jaxmf.presets.tonic(), ns=(100,), t1=40.0)
    >>> fig = plot.plot_error_vs_n(study, metric=["rel_err_r_mean", "rel_err_w_mean"])
    >>> fig.axes[0].get_xscale(), fig.axes[0].get_xlabel()
    ('log', 'network size N')
    >>> plot.pyplot().close(fig)
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    for name in metrics:
        if name not in study:
            choices = ", ".join(k for k in study if k not in ("n", "seeds"))
            raise ValueError(f"plot_error_vs_n: metric {name!r} not in the study; one of {choices}")
    plt = pyplot()
    ns = np.asarray(study["n"], float)
    fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
    anchors = []
    for j, name in enumerate(metrics):
        values = np.asarray(study[name], float).reshape(len(ns), -1)
        values = np.where(values > 0, values, np.nan)
        ok = np.any(np.isfinite(values), axis=1)
        if not ok.any():
            continue
        mean = np.nanmean(values[ok], axis=1)
        lo, hi = np.nanmin(values[ok], axis=1), np.nanmax(values[ok], axis=1)
        ax.errorbar(
            ns[ok],
            mean,
            yerr=(mean - lo, hi - mean),
            fmt="o-",
            color=f"C{j}",
            capsize=3,
            label=f"{name} ({values.shape[1]} seed{'s' * (values.shape[1] > 1)})",
        )
        anchors.append((ns[ok], mean))
    if anchors:
        # Least squares in log space for c in c / sqrt(N), over every plotted mean.
        n_all = np.concatenate([a for a, _ in anchors])
        m_all = np.concatenate([b for _, b in anchors])
        c = np.exp(np.mean(np.log(m_all) + 0.5 * np.log(n_all)))
        grid = np.geomspace(ns.min(), ns.max(), 50)
        ax.plot(grid, c / np.sqrt(grid), color="0.5", ls="--", lw=1, label=r"$\propto 1/\sqrt{N}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("network size N")
    ax.set_ylabel(metrics[0] if len(metrics) == 1 else "metric")
    ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def plot_regime_map(
    ds,
    path=None,
    title: str | None = None,
    *,
    x: str | None = None,
    y: str | None = None,
    population: int = 0,
    period: bool = True,
):
    """A regime map from a sweep dataset: quiescent / tonic / bursting per grid point.

    Points whose status is not 'ok' are black; with `period`, the burst period (where the dataset
    has it) is drawn as contours. The legend sits beside the map and counts the points of each
    regime; the axes carry the paper's symbols (`parameter_label`).

    Parameters
    ----------
    ds : xarray.Dataset
        From `jaxmf.sweep` / `jaxmf.regime_map`, or read back with `jaxmf.load_sweep`; needs
        'regime' and 'status' over the grid dimensions.
    path : str or os.PathLike, optional
        Also save the figure there.
    title : str, optional
        The title (default the grid size).
    x : str, optional
        The grid dimension along the horizontal axis (default the first).
    y : str, optional
        The grid dimension along the vertical axis (default the second).
    population : int, default 0
        Which population of a multi-population sweep.
    period : bool, default True
        Draw burst-period contours.

    Returns
    -------
    matplotlib.figure.Figure
        One axes.

    Raises
    ------
    ValueError
        When the dataset has no 'regime', fewer than two grid dimensions, or another grid
        dimension with more than one value.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from jaxmf import plot
    >>> dims = ("eta_bar", "w_jump")
    >>> ds = xr.Dataset(
    ...     {"regime": (dims, [["quiescent", "tonic"], ["bursting", "bursting"]]),
    ...      "status": (dims, [["ok", "ok"], ["ok", "ok"]])},
    ...     coords={"eta_bar": [0.0, 0.1], "w_jump": [0.01, 0.02]},
    ... )
    >>> fig = plot.plot_regime_map(ds)
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['quiescent (1)', 'tonic (1)', 'bursting (2)']
    >>> plot.pyplot().close(fig)
    """
    plt = pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if "regime" not in ds:
        raise ValueError(
            "plot_regime_map: the dataset has no 'regime' (sweep with observables=('regime', ...))"
        )
    grid_dims = [d for d in ds["status"].dims]
    if len(grid_dims) < 2:
        raise ValueError(
            f"plot_regime_map: needs a 2-D product grid; the dataset's grid "
            f"dimensions are {grid_dims}"
        )
    x = x or grid_dims[0]
    y = y or grid_dims[1]
    for name in (x, y):
        if name not in grid_dims:
            raise ValueError(f"plot_regime_map: {name!r} is not a grid dimension ({grid_dims})")
    sel = {d: 0 for d in grid_dims if d not in (x, y) and ds.sizes[d] == 1}
    rest = [d for d in grid_dims if d not in (x, y, *sel)]
    if rest:
        raise ValueError(
            f"plot_regime_map: dimensions {rest} have more than one value; pick "
            "one with ds.isel(...) first"
        )
    ds2 = ds.isel(sel)
    if "population" in ds2["regime"].dims:
        ds2 = ds2.isel(population=population)
    labels = ("quiescent", "tonic", "bursting")
    regime = np.asarray(ds2["regime"].transpose(y, x).values).astype(str)
    status = np.asarray(ds2["status"].transpose(y, x).values).astype(str)
    code = np.full(regime.shape, 3, float)
    for k, label in enumerate(labels):
        code[regime == label] = k
    code[status != "ok"] = 3
    xs, ys = np.asarray(ds2[x].values, float), np.asarray(ds2[y].values, float)
    colors = ("#d9d9d9", "#4c72b0", "#dd8452", "#000000")
    fig, ax = plt.subplots(figsize=(7.6, 4.8), layout="constrained")
    ax.pcolormesh(xs, ys, code, cmap=ListedColormap(colors), vmin=-0.5, vmax=3.5, shading="nearest")
    if period and "burst_period" in ds2 and xs.size > 1 and ys.size > 1:
        per = np.asarray(ds2["burst_period"].transpose(y, x).values, float)
        per = np.where(code == 2, per, np.nan)
        if np.isfinite(per).sum() >= 4 and np.nanmax(per) > np.nanmin(per):
            cs = ax.contour(xs, ys, per, levels=6, colors="white", linewidths=0.7)
            ax.clabel(cs, fontsize="x-small", fmt="%.0f")
    present = [k for k in range(4) if np.any(code == k)]
    names = (*labels, "failed (see status)")
    counts = {k: int(np.sum(code == k)) for k in present}
    ax.legend(
        handles=[Patch(color=colors[k], label=f"{names[k]} ({counts[k]})") for k in present],
        fontsize="small",
        # Beside the map, not on it: the bursting region is often where a corner legend sits.
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
    )
    ax.set_xlabel(parameter_label(x))
    ax.set_ylabel(parameter_label(y))
    if title is None:
        title = f"regime map, {ds2.sizes[x]} x {ds2.sizes[y]} points"
        if period and "burst_period" in ds2:
            title += " (contours: burst period)"
    ax.set_title(title)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


_SPECIAL_LABELS = {
    "fold": "LP",
    "hopf": "H",
    "bp": "BP",
    "lpc": "LPC",
    "pd": "PD",
    "ns": "NS",
    "homoclinic": "Hom",
    "bt": "BT",
    "cusp": "CP",
    "gh": "GH",
    "zh": "ZH",
    "hh": "HH",
    "endpoint": "EP",
    "neutral_saddle": "NSad",
    "cpc": "CPC",
    "lppd": "LPPD",
    "lpns": "LPNS",
    "pdns": "PDNS",
    "r1": "R1",
    "r2": "R2",
    "r3": "R3",
    "r4": "R4",
}
# Colours of the two-parameter curves in `plot_bifurcation`, by kind.
_CURVE_COLORS = {
    "hopf": "C0",
    "fold": "k",
    "lpc": "C3",
    "pd": "C2",
    "ns": "C4",
    "homoclinic": "C1",
}


def plot_branch(
    branch,
    var: str = "r",
    population: int = 0,
    ax=None,
    *,
    color=None,
    label: str | None = None,
    annotate: bool = True,
    path=None,
):
    """Draw a continuation `Branch` (jaxmf.bifurcation) into `ax` (a new figure if None).

    One-parameter branches ('equilibrium', 'cycle'): `var` ('r', 'v', 'w', 's') of `population`
    against the parameter, stable parts solid and unstable parts dashed (cycles: their maximum
    and minimum). Two-parameter curves ('hopf', 'fold', 'lpc', 'pd', 'ns', 'homoclinic'): the
    curve in the parameter plane, dashed where the non-critical eigenvalues are not all stable
    and, on a Hopf curve, dotted on its neutral-saddle part (omega undefined). Special points
    are marked and labelled (H, LP, BP, BT, CP, GH, ZH, CPC, LPPD, R1, ...; unconverged ones
    with a trailing '?'), on light boxes, the labels of close points stacked; the axes carry the
    paper's symbols (`parameter_label`).

    Parameters
    ----------
    branch : Branch
        From `continue_equilibria`, `continue_cycles` or a two-parameter continuation.
    var : str, default 'r'
        The variable of a one-parameter branch: 'r', 'v', 'w' or 's'.
    population : int, default 0
        Which population.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes (default a new figure).
    color : str, optional
        The line colour (default the next of the axes' cycle).
    label : str, optional
        The legend label (default '<kind> branch').
    annotate : bool, default True
        Write the special points' labels.
    path : str or Path, optional
        Also save the figure there.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import jax; jax.config.update("jax_enable_x64", True)
    >>> import jaxmf
    >>> from jaxmf import plot
    >>> branch = jaxmf.continue_equilibria(jaxmf.presets.chen_campbell_2022(rounded=True),
    ...                                    "eta_bar", (0.0, 0.3))
    >>> ax = plot.plot_branch(branch, "r")
    >>> [t.get_text() for t in ax.texts], ax.get_xlabel() == plot.parameter_label("eta_bar")
    (['H', 'H'], True)
    >>> plot.pyplot().close(ax.figure)
    """
    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
    values = np.asarray(branch.values)
    stable = np.asarray(branch.stable, bool)
    color = color or f"C{len(ax.lines) % 10}"
    two = len(branch.param) == 2
    if two:
        x, ys = values[:, 0], [values[:, 1]]
        neutral = (
            ~np.isfinite(np.asarray(branch.data["omega"]))
            if "omega" in branch.data
            else np.zeros(len(x), bool)
        )
    else:
        x = values[:, 0]
        ys = (
            [branch.variable(var, population, "max"), branch.variable(var, population, "min")]
            if branch.kind == "cycle"
            else [branch.variable(var, population)]
        )
        neutral = np.zeros(len(x), bool)
    style = np.where(neutral, 2, np.where(stable, 0, 1))
    first = True
    for y in ys:
        start = 0
        for i in range(1, len(x) + 1):
            if i == len(x) or style[i] != style[start]:
                stop = min(i + 1, len(x))  # overlap one point so the pieces join
                ls = ("-", "--", ":")[style[start]]
                ax.plot(
                    x[start:stop],
                    y[start:stop],
                    ls=ls,
                    color=color,
                    label=(label or f"{branch.kind} branch") if first else None,
                )
                first = False
                start = i
    placed: list[float] = []  # x of the labels drawn so far, to stack close ones
    span = float(np.ptp(x)) if len(x) else 1.0
    for sp in branch.special_points:
        value = np.atleast_1d(np.asarray(sp.value))
        if two:
            px, py = value[0], value[1]
        elif branch.kind == "cycle" and branch.maxima is not None and 0 <= sp.index < len(x):
            # A cycle's state is its phase origin, an arbitrary point: mark its maximum instead.
            px, py = value[0], branch.variable(var, population, "max")[sp.index]
        else:
            px = value[0]
            state = np.asarray(sp.state)
            py = state[["r", "v", "w", "s"].index(var) * branch.n_populations + population]
        text = _SPECIAL_LABELS.get(sp.kind, sp.kind) + ("" if sp.converged else "?")
        ax.plot([px], [py], "o", ms=5, color="k", mfc="w" if not sp.converged else "k")
        if annotate:
            # Labels of points close in x are stacked, each on a light box so no curve hides it.
            near = sum(abs(px - q) < 0.02 * span for q in placed)
            placed.append(px)
            ax.annotate(
                text,
                (px, py),
                textcoords="offset points",
                xytext=(5, 5 + 11 * near),
                fontsize="small",
                bbox=dict(boxstyle="round,pad=0.1", fc="w", ec="none", alpha=0.8),
            )
    ax.set_xlabel(parameter_label(branch.param[0]))
    ax.set_ylabel(
        parameter_label(branch.param[1])
        if two
        else _AXIS_LABELS.get(var, var)
        + (f" (population {population})" if branch.n_populations > 1 else "")
    )
    if path is not None:
        ax.figure.savefig(path, dpi=150)
    return ax


def plot_bifurcation(
    branches,
    path=None,
    title: str | None = None,
    *,
    variables=("r", "w"),
    population: int = 0,
    region=None,
    regimes=None,
):
    """The bifurcation diagram of `jaxmf bifurcation`: one panel per variable with every
    one-parameter branch (equilibria black; each cycle family's max/min in colour), and, when
    `branches` holds two-parameter curves, a panel of the parameter plane (one colour per kind:
    Hopf, fold, LPC, PD, NS, homoclinic; each kind labelled once). Cycle families are named in
    the legend as their files (cycles_0, cycles_1, ...).

    Parameters
    ----------
    branches : dict or sequence of Branch
        Names -> branches (or the branches).
    path : str or Path, optional
        Also save the figure there.
    title : str, optional
        The figure's title ("(solid: stable, dashed: unstable)" is appended).
    variables : tuple of str, default ('r', 'w')
        One panel per variable for the one-parameter branches.
    population : int, default 0
        Which population.
    region : BurstingPlane, optional
        The region of stable bursting (`jaxmf.bursting_region` with `second`), shaded in
        the parameter plane.
    regimes : xarray.Dataset, optional
        A regime map over the same plane: the points where it disagrees with `region` are
        marked (x: bursting outside the region, +: inside but not bursting).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import jax; jax.config.update("jax_enable_x64", True)
    >>> import jaxmf
    >>> from jaxmf import plot
    >>> branch = jaxmf.continue_equilibria(jaxmf.presets.chen_campbell_2022(rounded=True),
    ...                                    "eta_bar", (0.0, 0.3))
    >>> fig = plot.plot_bifurcation({"equilibria": branch})
    >>> len(fig.axes), [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    (2, ['equilibria'])
    >>> plot.pyplot().close(fig)
    """
    plt = pyplot()
    items = list(branches.values()) if isinstance(branches, dict) else list(branches)
    one = [b for b in items if len(b.param) == 1]
    two = [b for b in items if len(b.param) == 2]
    n_panels = len(variables) * bool(one) + bool(two or region is not None)
    fig, axes = plt.subplots(
        1,
        max(n_panels, 1),
        figsize=(5.2 * max(n_panels, 1), 4.2),
        layout="constrained",
        squeeze=False,
    )
    axes = list(axes[0])
    for k, var in enumerate(variables if one else ()):
        cycle = 0
        for b in one:
            color = "k" if b.kind == "equilibrium" else f"C{cycle % 10}"
            # Cycle families are numbered from 0, as their files (NAME_cycles_0.csv, ...).
            label = "equilibria" if b.kind == "equilibrium" else f"cycles_{cycle}"
            cycle += b.kind == "cycle"
            plot_branch(b, var, population, axes[k], color=color, label=label)
        axes[k].legend(fontsize="small", loc="best")
    if two or region is not None:
        ax = axes[-1]
        if region is not None:
            plot_bursting_region(region, regimes, ax)
        seen: set[str] = set()
        for j, b in enumerate(two):
            label = "_nolegend_" if b.kind in seen else f"{b.kind} curve"
            seen.add(b.kind)
            color = _CURVE_COLORS.get(b.kind, f"C{j % 10}")
            plot_branch(b, ax=ax, color=color, label=label)
        ax.legend(fontsize="small", loc="best")
    if title:
        fig.suptitle(title + " (solid: stable, dashed: unstable)")
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def plot_bursting_region(region, regimes=None, ax=None, *, path=None):
    """Shade the region of stable bursting of `jaxmf.bursting_region(..., second=...)` and,
    given a regime map over the same plane, mark where the map disagrees with it.

    Parameters
    ----------
    region : BurstingPlane
        The region (its polygons are filled).
    regimes : xarray.Dataset, optional
        A regime map (`jaxmf.regime_map`) over the region's two parameters: its bursting
        points outside the region are marked x, its other points inside +.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes (default a new figure).
    path : str or Path, optional
        Also save the figure there.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf import BurstingPlane, plot
    >>> square = np.array([[0.0, 0.0], [0.1, 0.0], [0.1, 0.01], [0.0, 0.01]])
    >>> ax = plot.plot_bursting_region(BurstingPlane(("eta_bar", "a"), np.zeros(1), (),
    ...                                              (square,), None))
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['stable bursting']
    >>> plot.pyplot().close(ax.figure)
    """
    from ._bursting import compare_regime_map

    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
    for k, poly in enumerate(region.polygons):
        ax.fill(
            poly[:, 0],
            poly[:, 1],
            color="#fdd49e",
            alpha=0.8,
            lw=0,
            zorder=0,
            label="stable bursting" if k == 0 else "_nolegend_",
        )
    if regimes is not None:
        agreement = compare_regime_map(region, regimes)
        for points, marker, text in (
            (agreement.outside_bursting, "x", "map: bursting outside"),
            (agreement.inside_not_bursting, "+", "map: not bursting inside"),
        ):
            if len(points):
                ax.plot(points[:, 0], points[:, 1], marker, color="C3", ms=4, ls="", label=text)
    ax.set_xlabel(parameter_label(region.params[0]))
    ax.set_ylabel(parameter_label(region.params[1]))
    ax.legend(fontsize="small", loc="best")
    if path is not None:
        ax.figure.savefig(path, dpi=150)
    return ax


def plot_fit(
    t,
    r_target,
    r_fit,
    loss_history,
    path=None,
    *,
    transient: float | None = None,
    fitted: dict | None = None,
    initial: dict | None = None,
    model: str = "meanfield",
    loss: str = "loss",
):
    """A fitted rate against its target, with every start's loss history beside it.

    Parameters
    ----------
    t : array_like
        Shape (T,). Times.
    r_target : array_like
        Shape (T,). The target rate.
    r_fit : array_like
        Shape (T,). The fitted model's rate.
    loss_history : array_like
        Shape (iterations, starts). Loss per iteration (NaN after a start stopped).
    path : str or os.PathLike, optional
        Also save the figure there (120 dpi).
    transient : float, optional
        Times before it were not fitted (shaded).
    fitted : dict of str to float, optional
        Fitted parameter values, shown in the title with `initial` (η̄: 0.11 → 0.125, the
        paper's symbols).
    initial : dict of str to float, optional
        Starting parameter values.
    model : str, default 'meanfield'
        The fitted model's name, for the legend.
    loss : str, default 'loss'
        The loss's name, for the loss axis.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: the traces, the loss histories.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf import plot
    >>> t = np.linspace(0.0, 10.0, 11)
    >>> history = np.array([[1.0, 2.0], [0.5, 1.0], [0.1, np.nan]])
    >>> fig = plot.plot_fit(t, np.sin(t), np.sin(t) + 0.1, history,
    ...                     fitted={"eta_bar": 0.125}, initial={"eta_bar": 0.11})
    >>> fig.axes[0].get_title().endswith(": 0.11 → 0.125")
    True
    >>> plot.pyplot().close(fig)
    """
    plt = pyplot()
    t = np.asarray(t, float)
    history = np.asarray(loss_history, float).reshape(len(loss_history), -1)
    fig, (ax, axl) = plt.subplots(
        1, 2, figsize=(12, 4), width_ratios=(2.4, 1), layout="constrained"
    )
    ax.plot(t, r_target, color="k", lw=1.4, label="target")
    ax.plot(t, r_fit, color="C3", lw=1.1, ls="--", label=f"fit ({model})")
    if transient:
        ax.axvspan(t[0], transient, color="0.9", label="transient (not fitted)")
    ax.set_xlabel("time (dimensionless)")
    ax.set_ylabel("rate r")
    ax.set_xlim(t[0], t[-1])
    ax.legend(fontsize="small", loc="upper right")
    if fitted:
        start = initial or {}
        ax.set_title(
            ", ".join(
                f"{parameter_label(n)}: {start.get(n, float('nan')):.4g} → {fitted[n]:.5g}"
                for n in fitted
            ),
            fontsize="medium",
        )
    n_starts = history.shape[1]
    for i in range(n_starts):
        h = history[:, i]
        ok = np.isfinite(h) & (h > 0)
        if ok.any():
            axl.semilogy(np.nonzero(ok)[0], h[ok], lw=1, label=f"start {i}" if i < 8 else None)
    if n_starts > 1:
        more = f" (first 8 of {n_starts} labelled)" if n_starts > 8 else ""
        axl.legend(fontsize="x-small", title=f"starts{more}", title_fontsize="x-small")
    axl.set_xlabel("iteration")
    axl.set_ylabel(loss if loss.endswith("loss") else f"{loss} loss")
    axl.set_title("loss history", fontsize="medium")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def plot_monitor(res, path=None, title: str | None = None, *, v_clip: float | None = 3.0):
    """The monitored neurons of a network run: v(t) and w(t) of each, spikes marked.

    Parameters
    ----------
    res : NetworkResult or MonitorRecord
        A run with a monitor (``simulate_network(..., monitor=Monitor(...))``; one element of a
        batch: ``res.select(i)``), or its `MonitorRecord`.
    path : str or os.PathLike, optional
        Also save the figure there (150 dpi).
    title : str, optional
        The figure's title.
    v_clip : float or None, default 3.0
        The v axis shows [-v_clip, v_clip], the trace leaving a gap beyond: the passage to
        +-v_peak at a spike would flatten the subthreshold trace (None: the whole range).
        Spikes are marked by ticks above it.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: v and w.

    Raises
    ------
    ValueError
        When the run has no monitor or is batched.

    Examples
    --------
    >>> import jaxmf
    >>> from jaxmf import plot
    >>> res = jaxmf.simulate_network(jaxmf.presets.tonic(), n=100, t1=20.0, record_every=10,
    ...                              monitor=jaxmf.Monitor([10, 90]), progress=False)
    >>> fig = plot.plot_monitor(res)
    >>> [ax.get_ylabel() for ax in fig.axes], len(fig.axes[1].lines)  # one w trace per neuron
    (['v', 'w'], 2)
    >>> plot.pyplot().close(fig)
    """
    rec = res if hasattr(res, "spikes") else getattr(res, "monitor", None)
    if rec is None:
        raise ValueError("plot_monitor: the run has no monitor (simulate_network(monitor=...))")
    v = np.asarray(rec.v, dtype=float)
    if v.ndim != 2:
        raise ValueError("plot_monitor: take one element of a batched result first")
    plt = pyplot()
    t = np.asarray(rec.t, dtype=float)
    w = np.asarray(rec.w, dtype=float)
    spikes = np.asarray(rec.spikes)
    fig, (ax_v, ax_w) = plt.subplots(2, 1, sharex=True, figsize=(9, 5), layout="constrained")
    for j, index in enumerate(rec.indices):
        color = f"C{j % 10}"
        # Outside the window the trace is left out (a gap), not clipped to a false plateau.
        shown = v[:, j] if v_clip is None else np.where(np.abs(v[:, j]) <= v_clip, v[:, j], np.nan)
        ax_v.plot(t, shown, color=color, lw=0.8, label=f"neuron {index}")
        ax_w.plot(t, w[:, j], color=color, lw=0.8)
        fired = t[spikes[:, j] > 0]
        if v_clip is not None and fired.size:
            ax_v.plot(fired, np.full(fired.size, 1.05 * v_clip), "|", color=color, ms=6)
    ax_v.set_ylabel("v")
    if v_clip is not None:
        ax_v.set_ylim(-v_clip, 1.12 * v_clip)
    ax_w.set_ylabel("w")
    ax_w.set_xlabel("t")
    if len(rec.indices) <= 10:
        ax_v.legend(loc="upper right", fontsize="small")
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig
