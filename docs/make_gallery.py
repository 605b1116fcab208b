"""Make the figures of the documentation's gallery (docs/gallery.md) into docs/images/.

    python docs/make_gallery.py          # about two minutes on two CPU cores

Every figure comes from the library's own plotting functions (`jaxmf.plot`) on the paper's
parameters, so the gallery shows what users get.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import optimistix as optx  # noqa: E402

import jaxmf  # noqa: E402
from jaxmf import io, plot  # noqa: E402

OUT = Path(__file__).resolve().parent / "images"


def save(fig, name: str) -> None:
    fig.savefig(OUT / f"{name}.png", dpi=110)
    plot.pyplot().close(fig)
    print(f"wrote docs/images/{name}.png")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    start = time.perf_counter()
    p = jaxmf.presets.bursting()

    cmp = jaxmf.compare(p, n=10_000, t1=800.0, dtype=jnp.float32, progress=False)
    save(
        plot.plot_comparison(cmp, title="network (N = 10⁴) against the exact mean field"),
        "comparison",
    )
    save(
        plot.plot_network(cmp.network, units="dimensional", title="network, physical units"),
        "network",
    )

    mf = jaxmf.solve_meanfield(p, t1=1200.0)
    eq = io.equilibria_to_dicts(jaxmf.meanfield_equilibria(p))
    save(
        plot.plot_meanfield(mf, params=p, equilibria=eq, title="mean field, η̄ = 0.12"), "meanfield"
    )

    rounded = jaxmf.presets.chen_campbell_2022(rounded=True)
    eqb = jaxmf.continue_equilibria(rounded, "eta_bar", (0.0, 0.3))
    hopf = [sp for sp in eqb.special_points if sp.kind == "hopf"]
    cycles = [jaxmf.continue_cycles(rounded, h, "eta_bar", (0.0, 0.3)) for h in hopf[:1]]
    save(plot.plot_bifurcation([eqb, *cycles], title="bifurcation diagram in η̄"), "bifurcation")

    curve = jaxmf.continue_hopf(
        rounded, hopf[0], ("eta_bar", "w_jump"), ((0.0, 0.3), (0.001, 0.06))
    )
    fig = plot.plot_branch(curve).figure
    save(fig, "hopf_curve")

    grid = {"eta_bar": jnp.linspace(0.0, 0.3, 61), "w_jump": jnp.linspace(0.005, 0.06, 34)}
    save(plot.plot_regime_map(jaxmf.regime_map(p, grid, t1=1500.0, progress=False)), "regime_map")

    target = jaxmf.BurstTarget.from_trace(mf.t, mf.r[:, 0], transient=300.0)
    fit = jaxmf.fit(
        p.replace(eta_bar=0.13, w_jump=0.021),
        target,
        n_starts=1,
        t1=1200.0,
        optimizer=optx.LevenbergMarquardt(rtol=1e-8, atol=1e-10),
    )
    best = jaxmf.solve_meanfield(fit.best_params, t1=1200.0, ts=target.t)
    save(
        plot.plot_fit(
            target.t,
            target.r,
            best.r[:, 0],
            fit.loss_history,
            transient=300.0,
            fitted={k: float(fit.values(k)[0, 0]) for k in fit.free},
            initial={k: float(v[0, 0]) for k, v in fit.initial.items()},
        ),
        "fit",
    )

    study = jaxmf.finite_size_study(
        jaxmf.presets.tonic(),
        ns=(500, 1000, 2000, 4000),
        seeds=(0, 1, 2),
        t1=300.0,
        sampler=jaxmf.RandomDraws(),
    )
    save(plot.plot_error_vs_n(study, "rel_err_r_mean"), "error_vs_n")
    monitor_figure()
    print(f"done in {time.perf_counter() - start:.0f} s")


def monitor_figure() -> None:
    """Three neurons of a bursting network under periodic forcing, recorded by a monitor."""
    net = jaxmf.simulate_network(
        jaxmf.presets.bursting(),
        n=2000,
        t1=600.0,
        i_ext=jaxmf.Sinusoid(amplitude=0.05, period=200.0),
        monitor=jaxmf.Monitor(indices=(100, 1000, 1900), every=10),
        progress=False,
    )
    save(plot.plot_monitor(net, title="three neurons under periodic forcing"), "monitor")


if __name__ == "__main__":
    main()
