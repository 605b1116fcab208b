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
    "plot_network",
    "plot_meanfield",
    "plot_comparison",
    "plot_phase",
    "plot_error_vs_n",
    "plot_branch",
    "plot_bifurcation",
    "plot_regime_map",
    "plot_fit",
    "pyplot",
]

_MODEL_LABELS = {
    "chen_campbell": "Chen–Campbell (exact)",
    "nicola_campbell": "Nicola–Campbell 2013",
    "mpr": "MPR (no adaptation)",
}
_AXIS_LABELS = {"r": "rate r", "v": r"$\langle v \rangle$", "w": r"$\langle w \rangle$", "s": "s"}
_LINESTYLES = ("-", "--", ":", "-.")


def pyplot():
    """`matplotlib.pyplot`, with the Agg backend selected first on a headless machine (unless the
    user or MPLBACKEND chose one). Close figures with `pyplot().close(fig)`."""
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


def _scales(params):
    """(ms per time unit, Hz per unit rate) at the paper's dimensional scales, or None."""
    if params is None:
        return None
    dim = params.to_dimensional()

    def first(x):  # the scales are shared by populations
        return float(np.ravel(np.asarray(x))[0])

    return first(dim.time_unit_ms), first(dim.rate_to_hz(1.0))


def _ms_axis(ax, unit_ms):
    top = ax.secondary_xaxis("top", functions=(lambda x: x * unit_ms, lambda x: x / unit_ms))
    top.set_xlabel("time (ms)")


def _hz_axis(ax, hz_per_rate):
    hz = ax.secondary_yaxis(
        "right", functions=(lambda x: x * hz_per_rate, lambda x: x / hz_per_rate)
    )
    hz.set_ylabel("Hz")


def _draw_raster(ax, res, colors, labels):
    sizes = _population_sizes(res)
    spike_t, spike_id = res.spike_raster()
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
    ax.set_ylabel("neuron")
    if len(sizes) > 1:
        ax.legend(loc="upper right", markerscale=8 / size, fontsize="small")


def plot_network(res, path=None, title: str | None = None):
    """Raster of the recorded neurons, population rate r(t) and mean adaptation <w>(t), stacked on
    one (dimensionless) time axis, with milliseconds at the paper's scales along the top.

    res: a `NetworkResult` (one element of a batch: `res.select(i)`) or a saved run from
    `jaxmf.io.load_network_result`. path: also save the figure there (format from the suffix).
    Returns the matplotlib Figure.
    """
    if np.ndim(res.r) != 2:
        raise ValueError("plot_network: take one element of a batched result first (res.select(i))")
    plt = pyplot()
    t = np.asarray(res.t)
    r = np.asarray(res.r, dtype=float)
    w = np.asarray(res.w_mean, dtype=float)
    n_pop = len(_population_sizes(res))
    unit_ms, hz_per_rate = _scales(res.params)
    bin_width = _bin_width(res)
    t_edges = (float(t[0]) - bin_width if t.size else 0.0, float(t[-1]) if t.size else 1.0)
    colors = [f"C{m}" for m in range(n_pop)]
    labels = [f"population {m}" for m in range(n_pop)] if n_pop > 1 else [None]

    fig, (ax_raster, ax_rate, ax_w) = plt.subplots(
        3, 1, sharex=True, figsize=(9, 7), height_ratios=(2, 1.2, 1), layout="constrained"
    )
    _draw_raster(ax_raster, res, colors, labels)
    _ms_axis(ax_raster, unit_ms)
    for m in range(n_pop):
        # r is a bin average: draw it as a step over each bin.
        ax_rate.step(t, r[:, m], where="pre", color=colors[m], lw=1, label=labels[m])
        ax_w.plot(t, w[:, m], color=colors[m], lw=1, label=labels[m])
    ax_rate.set_ylabel("rate r")
    _hz_axis(ax_rate, hz_per_rate)
    ax_w.set_ylabel(_AXIS_LABELS["w"])
    ax_w.set_xlabel("time (dimensionless)")
    ax_w.set_xlim(*t_edges)
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
    res_or_results, x: str = "w", y: str = "r", ax=None, *, t_from: float = 0.0, populations=None
):
    """Trajectory in the (x, y) plane, x and y each one of 'r', 'v', 'w', 's'.

    res_or_results: a `MeanFieldResult` or `NetworkResult` (its rate smoothed over one time unit),
    a list of them, or a dict label -> result (one colour each). t_from: drop earlier times (the
    approach from the initial state) to show only the attractor. populations: which to draw
    (default all; one line style each). A circle marks the first drawn point, a square the last.
    ax: draw into these axes (default a new figure). Returns the axes.
    """
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
            xs, ys = tr[x][keep, m], tr[y][keep, m]
            if xs.size == 0:
                continue
            pop_label = label if len(pops) == 1 else f"{label}, population {m}"
            ax.plot(xs, ys, color=color, ls=_LINESTYLES[m % 4], lw=1.2, label=pop_label)
            n_lines += 1
            ax.plot(xs[0], ys[0], "o", color=color, ms=4)
            ax.plot(xs[-1], ys[-1], "s", color=color, ms=4)
    ax.set_xlabel(_AXIS_LABELS[x])
    ax.set_ylabel(_AXIS_LABELS[y])
    if n_lines > 1:
        ax.legend(fontsize="small")
    return ax


def plot_meanfield(
    res, path=None, title: str | None = None, *, params=None, i_ext=None, equilibria=None
):
    """r(t), <v>(t), <w>(t) and s(t) stacked on one time axis, with the (<w>, r) phase plot beside
    them.

    Parameters
    ----------
    res : a `MeanFieldResult`, or a dict label -> result to overlay several (e.g. models).
    path : also save the figure there.
    title : the figure's title.
    params : the `Params` solved, to add milliseconds and Hz axes at the paper's scales.
    i_ext : the `StepInput` used, to mark its switch times.
    equilibria : equilibria to draw (dicts with r, w, stable, e.g. from
        `io.equilibria_to_dicts`): their rate as a horizontal line on the r panel and their
        (<w>, r) point in the phase plane; filled/solid where stable, open/dotted where not.

    Returns
    -------
    matplotlib Figure with five axes: r, v, w, s, phase.
    """
    plt = pyplot()
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
                    tr["t"],
                    tr[name][:, m],
                    color=f"C{j}",
                    ls=_LINESTYLES[m % 4],
                    lw=1.3,
                    label=line_label,
                )
    for name in ("r", "v", "w", "s"):
        axes[name].set_ylabel(_AXIS_LABELS[name])
        if name != "s":
            axes[name].tick_params(labelbottom=False)
        if i_ext is not None:
            for t_switch in np.atleast_1d(np.asarray(i_ext.times, float)):
                axes[name].axvline(t_switch, color="0.5", ls="--", lw=0.8)
    first = _traces(next(iter(named.values())))
    axes["s"].set_xlim(float(first["t"][0]), float(first["t"][-1]))
    axes["s"].set_xlabel("time (dimensionless)")
    levels = {tuple(np.ravel(eq.get("i_ext", 0.0))) for eq in equilibria or ()}
    for eq in equilibria or ():
        stable = bool(eq["stable"])
        label = "stable equilibrium" if stable else "unstable equilibrium"
        if len(levels) > 1:
            label += " (I_ext = " + ",".join(f"{x:g}" for x in np.ravel(eq["i_ext"])) + ")"
        seen = {line.get_label() for line in axes["r"].get_lines()}
        for m, (r, w) in enumerate(zip(np.ravel(eq["r"]), np.ravel(eq["w"]))):
            axes["r"].axhline(
                r,
                color="0.35",
                lw=0.9,
                ls="-" if stable else ":",
                label=None if label in seen or m else label,
            )
            axes["phase"].plot(
                [w], [r], "D", ms=6, color="0.2", mfc="0.2" if stable else "w", zorder=5
            )
    if len(named) > 1 or first["r"].shape[1] > 1 or equilibria:
        axes["r"].legend(fontsize="small", loc="upper right")
    scales = _scales(params)
    if scales is not None:
        _ms_axis(axes["r"], scales[0])
        _hz_axis(axes["r"], scales[1])
    plot_phase(named, "w", "r", ax=axes["phase"])
    axes["phase"].set_title("phase plane (circle: start, square: end)", fontsize="medium")
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def plot_comparison(cmp, path=None, title: str | None = None, *, smooth_time: float = 1.0):
    """The paper's figure (Chen & Campbell 2022, Fig. 1): network raster, then r(t), <v>(t), <w>(t)
    and s(t), each with the network (thin, its rate smoothed over `smooth_time` time units) against
    every mean-field model (thick), on one time axis with milliseconds along the top.

    cmp: a `Comparison` from `jaxmf.compare`. path: also save the figure there.
    Returns the matplotlib Figure (five axes).
    """
    net = cmp.network
    if np.ndim(net.r) != 2:
        raise ValueError("plot_comparison: take one element of a batched result first")
    plt = pyplot()
    sizes = _population_sizes(net)
    n_pop = len(sizes)
    unit_ms, hz_per_rate = _scales(net.params)
    fig, axes = plt.subplots(
        5, 1, sharex=True, figsize=(9, 10), height_ratios=(1.6, 1.3, 1, 1, 1), layout="constrained"
    )
    ax_raster, panels = axes[0], dict(zip(("r", "v", "w", "s"), axes[1:]))
    _draw_raster(
        ax_raster,
        net,
        ["k"] * n_pop if n_pop == 1 else [f"C{m}" for m in range(n_pop)],
        [f"population {m}" for m in range(n_pop)] if n_pop > 1 else [None],
    )
    _ms_axis(ax_raster, unit_ms)

    net_tr = _traces(net, smooth_time)
    suffix = (lambda m: "") if n_pop == 1 else (lambda m: f", population {m}")
    for name, ax in panels.items():
        for m in range(n_pop):
            ax.plot(
                net_tr["t"],
                net_tr[name][:, m],
                color="k",
                ls=_LINESTYLES[m % 4],
                lw=0.7,
                label=f"network (N={net.network.n}){suffix(m)}",
            )
            for j, (model, mf) in enumerate(cmp.meanfield.items()):
                ax.plot(
                    np.asarray(mf.t),
                    np.asarray(getattr(mf, name))[:, m],
                    color=f"C{j}",
                    ls=_LINESTYLES[m % 4],
                    lw=2.2,
                    alpha=0.75,
                    label=f"{_MODEL_LABELS.get(model, model)}{suffix(m)}",
                )
        ax.set_ylabel(_AXIS_LABELS[name])
    panels["r"].legend(fontsize="small", loc="upper right")
    _hz_axis(panels["r"], hz_per_rate)
    transient = cmp.metrics.get("transient")
    if transient:
        for ax in axes:
            ax.axvspan(0, transient, color="0.93", zorder=-10, lw=0)
    t_net = net_tr["t"]
    panels["s"].set_xlim(0.0, float(t_net[-1]) if t_net.size else 1.0)
    panels["s"].set_xlabel(
        "time (dimensionless; shaded: transient left out of the metrics)"
        if transient
        else "time (dimensionless)"
    )
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def plot_error_vs_n(study: dict, metric="rel_err_r_mean", path=None, title: str | None = None):
    """A discrepancy metric against network size N from `compare.finite_size_study`, log-log: the
    mean over seeds (markers) with the seeds' spread (min to max, bars), and a c/sqrt(N) guide
    (the finite-size fluctuation scale) fitted through the means.

    metric: a key of `study` (or a list of keys, one colour each). Non-positive or NaN values are
    left out (a log axis cannot show them). Returns the matplotlib Figure.
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
    """A regime map from a sweep dataset (`jaxmf.sweep` / `regime_map`, or one read back with
    `jaxmf.sweep.load_sweep`): quiescent / tonic / bursting per grid point, points whose status is
    not 'ok' in black, and, with `period`, the burst period (where the dataset has it) as contours.

    x, y: the two grid dimensions to draw (default the dataset's first two); any other grid
    dimension must have length 1. population: which population of a multi-population sweep.
    Returns the matplotlib Figure.
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
    fig, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
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
        loc="upper right",
        framealpha=0.85,
    )
    ax.set_xlabel(x)
    ax.set_ylabel(y)
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
    with a trailing '?'). Returns the Axes.
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
            ax.annotate(text, (px, py), textcoords="offset points", xytext=(4, 4), fontsize="small")
    ax.set_xlabel(branch.param[0])
    ax.set_ylabel(
        branch.param[1]
        if two
        else _AXIS_LABELS.get(var, var)
        + (f" (population {population})" if branch.n_populations > 1 else "")
    )
    if path is not None:
        ax.figure.savefig(path, dpi=150)
    return ax


def plot_bifurcation(
    branches, path=None, title: str | None = None, *, variables=("r", "w"), population: int = 0
):
    """The bifurcation diagram of `jaxmf bifurcation`: one panel per variable with every
    one-parameter branch (equilibria black; each cycle family's max/min in colour), and, when
    `branches` holds two-parameter curves, a panel of the parameter plane (one colour per kind:
    Hopf, fold, LPC, PD, NS, homoclinic; each kind labelled once). `branches` maps names to
    `Branch`es (or is a sequence of them). Returns the Figure."""
    plt = pyplot()
    items = list(branches.values()) if isinstance(branches, dict) else list(branches)
    one = [b for b in items if len(b.param) == 1]
    two = [b for b in items if len(b.param) == 2]
    n_panels = len(variables) * bool(one) + bool(two)
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
            cycle += b.kind == "cycle"
            plot_branch(
                b,
                var,
                population,
                axes[k],
                color=color,
                label="equilibria" if b.kind == "equilibrium" else f"cycles {cycle}",
            )
        axes[k].legend(fontsize="small", loc="best")
    if two:
        ax = axes[-1]
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
    t, r_target, r_fit : (T,) times, the target rate and the fitted model's rate.
    loss_history : (iterations, starts) loss per iteration (NaN after a start stopped).
    path : also save the figure there.
    transient : times before it were not fitted (shaded).
    fitted, initial : parameter name -> value, shown in the title ("eta_bar: 0.11 -> 0.125").
    model, loss : names for the legend and the loss axis.

    Returns
    -------
    matplotlib Figure with two axes: the traces, the loss histories.
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
        ax.set_title(
            ", ".join(
                f"{n}: {(initial or {}).get(n, float('nan')):.4g} -> {fitted[n]:.5g}"
                for n in fitted
            ),
            fontsize="medium",
        )
    for i in range(history.shape[1]):
        h = history[:, i]
        ok = np.isfinite(h) & (h > 0)
        if ok.any():
            axl.semilogy(np.nonzero(ok)[0], h[ok], lw=1, label=f"start {i}" if i < 8 else None)
    axl.set_xlabel("iteration")
    axl.set_ylabel(f"{loss} loss")
    axl.set_title("loss history", fontsize="medium")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
