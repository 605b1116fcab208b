"""Matplotlib figures (matplotlib is imported here only, and only when a figure is made).

Without a display (a server, CI) the non-interactive Agg backend is selected, unless the user or
the environment (MPLBACKEND, an already imported pyplot) has chosen one.
"""

from __future__ import annotations

import os
import sys

import numpy as np

__all__ = ["plot_network"]


def _pyplot():
    import matplotlib

    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless and "MPLBACKEND" not in os.environ and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _population_sizes(res) -> tuple[int, ...]:
    return tuple(res.network.sizes) if hasattr(res, "network") else tuple(res.sizes)


def plot_network(res, path=None, title: str | None = None):
    """Raster of the recorded neurons, population rate r(t) and mean adaptation <w>(t), stacked on
    one (dimensionless) time axis, with milliseconds at the paper's scales along the top.

    res: a `NetworkResult` (one element of a batch: `res.select(i)`) or a saved run from
    `jaxmf.io.load_network_result`. path: also save the figure there (format from the suffix).
    Returns the matplotlib Figure.
    """
    if np.ndim(res.r) != 2:
        raise ValueError("plot_network: take one element of a batched result first (res.select(i))")
    plt = _pyplot()
    t = np.asarray(res.t)
    r = np.asarray(res.r, dtype=float)
    w = np.asarray(res.w_mean, dtype=float)
    sizes = _population_sizes(res)
    n_pop = len(sizes)
    dim = res.params.to_dimensional()
    unit_ms = float(dim.time_unit_ms)
    hz_per_rate = float(dim.rate_to_hz(1.0))
    meta = getattr(res, "meta", None)
    bin_width = meta["dt"] * meta["record_every"] if meta else res.dt * res.record_every
    t_edges = (float(t[0]) - bin_width if t.size else 0.0, float(t[-1]) if t.size else 1.0)
    colors = [f"C{m}" for m in range(n_pop)]
    labels = [f"population {m}" for m in range(n_pop)] if n_pop > 1 else [None]

    fig, (ax_raster, ax_rate, ax_w) = plt.subplots(
        3, 1, sharex=True, figsize=(9, 7), height_ratios=(2, 1.2, 1), layout="constrained")

    spike_t, spike_id = res.spike_raster()
    offsets = np.cumsum([0, *sizes])
    pop_of = np.searchsorted(offsets, spike_id, side="right") - 1
    size = 1.5 if spike_t.size > 5000 else 8.0  # sparse rasters need visible marks
    for m in range(n_pop):
        sel = pop_of == m
        ax_raster.scatter(spike_t[sel], spike_id[sel], s=size, c=colors[m], marker="|",
                          linewidths=0.6, rasterized=True, label=labels[m])
    ax_raster.set_ylim(-0.5, offsets[-1] - 0.5)
    ax_raster.set_ylabel("neuron")
    if n_pop > 1:
        ax_raster.legend(loc="upper right", markerscale=8 / size, fontsize="small")
    top = ax_raster.secondary_xaxis("top", functions=(lambda x: x * unit_ms, lambda x: x / unit_ms))
    top.set_xlabel("time (ms)")

    for m in range(n_pop):
        # r is a bin average: draw it as a step over each bin.
        ax_rate.step(t, r[:, m], where="pre", color=colors[m], lw=1, label=labels[m])
        ax_w.plot(t, w[:, m], color=colors[m], lw=1, label=labels[m])
    ax_rate.set_ylabel("rate r")
    hz = ax_rate.secondary_yaxis("right", functions=(lambda x: x * hz_per_rate,
                                                     lambda x: x / hz_per_rate))
    hz.set_ylabel("Hz")
    ax_w.set_ylabel(r"$\langle w \rangle$")
    ax_w.set_xlabel("time (dimensionless)")
    ax_w.set_xlim(*t_edges)
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig

