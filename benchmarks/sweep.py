"""Sweep throughput: `jaxmf.sweep` against a plain Python loop over the same points.

(a) Mean field: points per second of a regime-map sweep (eta_bar x w_jump, solved to t1 and
classified over (t1/2, t1], observables regime, r_mean, burst_period) for several vmap widths
(`points_per_device`; 0 is the sweep's default) and device counts. On a CPU the devices are
fake host devices (XLA_FLAGS=--xla_force_host_platform_device_count, set here before JAX
starts); they share the machine's cores, so more devices help only while there are idle
cores. Also the cost of writing chunks (`out=`: chunk files, then the netCDF dataset).
Baselines, on a deterministic subsample of the same points (per-point cost extrapolated): a plain
loop of `solve_meanfield` + `classify_regime` + `detect_bursts` (what one writes without the sweep)
and a loop of one jitted per-point function (the fair loop: compiled once).

(b) Networks: neuron-steps per second of a batch of networks (eta_bar values, N neurons each,
Euler dt = 1e-3) under `sweep(model="network")`, against a loop of `simulate_network` per point.

Each figure is the median of --repeats runs after a warm-up run; compile time (the warm-up minus
one run) is reported separately. Ratios are against the plain loop ("x loop") and, for the mean
field, the jitted loop ("x jit loop").
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile


def _parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--points",
        type=int,
        default=1024,
        help="mean-field grid points (a ~square eta_bar x w_jump grid)",
    )
    ap.add_argument("--t1", type=float, default=2000.0)
    ap.add_argument(
        "--ppd",
        type=int,
        nargs="+",
        default=[0, 64, 256, 512],
        help="points_per_device values (vmap width; 0: the sweep's default)",
    )
    ap.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loop-sample", type=int, default=24, help="points timed in the loops")
    ap.add_argument("--network-n", type=int, default=1000)
    ap.add_argument("--network-batch", type=int, default=16)
    ap.add_argument("--network-t1", type=float, default=10.0)
    ap.add_argument("--network-ppd", type=int, nargs="+", default=[4, 16])
    ap.add_argument("--skip-network", action="store_true")
    return ap.parse_args()


ARGS = _parse()
if "jax" not in sys.modules and "xla_force_host_platform_device_count" not in os.environ.get(
    "XLA_FLAGS", ""
):
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + f" --xla_force_host_platform_device_count={max(ARGS.devices)}"
    )

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _timing import median_runs  # noqa: E402

import jaxmf  # noqa: E402
from jaxmf import Grid, sweep  # noqa: E402
from jaxmf.analysis import classify_regime, detect_bursts  # noqa: E402


def _grid(n):
    n_eta = max(1, int(round(np.sqrt(n))))
    n_w = max(1, int(round(n / n_eta)))
    return Grid.product(eta_bar=np.linspace(0.0, 0.3, n_eta), w_jump=np.linspace(0.005, 0.1, n_w))


def bench_meanfield(base, grid):
    opts = dict(t1=ARGS.t1, progress=False)
    n = grid.n_points
    rows = []
    reference = None
    for d in ARGS.devices:
        if d > len(jax.local_devices()):
            continue
        for ppd in ARGS.ppd:
            run, comp, ds = median_runs(
                lambda: sweep(base, grid, points_per_device=ppd or None, devices=d, **opts),
                ARGS.repeats,
            )
            if reference is None:
                reference = ds
            same = all(
                np.array_equal(np.asarray(ds[k].values), np.asarray(reference[k].values))
                for k in ("regime", "status")
            )
            rows.append(
                dict(
                    impl=f"sweep, {d} device(s) x {ppd or 'default'} points",
                    per_s=n / run,
                    compile_s=comp,
                    note="" if same else "regimes differ from first row",
                )
            )
    # Writing chunks as they finish, and the dataset at the end.
    d, ppd = ARGS.devices[0], ARGS.ppd[-1]
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))
        run, _, _ = median_runs(
            lambda: sweep(
                base,
                grid,
                points_per_device=ppd,
                devices=d,
                out=os.path.join(tmp, f"s{next(counter)}.nc"),
                **opts,
            ),
            ARGS.repeats,
        )
    rows.append(
        dict(
            impl=f"sweep, {d} device(s) x {ppd}, out=",
            per_s=n / run,
            compile_s=None,
            note="chunk files + netCDF",
        )
    )

    # Loops over a subsample of the same points.
    values = grid.values()
    idx = np.unique(np.linspace(0, n - 1, min(n, ARGS.loop_sample)).round().astype(int))
    t_from = ARGS.t1 / 2
    ts = jnp.linspace(t_from, ARGS.t1, int(round((ARGS.t1 - t_from) / 0.5)) + 1)

    def one(eta, wj):
        p = base.replace(eta_bar=eta, w_jump=wj)
        res = jaxmf.solve_meanfield(
            p, ARGS.t1, ts=ts, rtol=1e-6, atol=1e-9, max_steps=20_000, throw=False
        )
        r = res.r[:, 0]
        return classify_regime(res.t, r), jnp.mean(r), detect_bursts(res.t, r).period

    def plain_loop():
        return [jax.block_until_ready(one(float(values[i, 0]), float(values[i, 1]))) for i in idx]

    run, comp, _ = median_runs(plain_loop, 1)
    loop_per_s = idx.size / run
    rows.append(
        dict(
            impl="plain loop: solve_meanfield + analysis",
            per_s=loop_per_s,
            compile_s=comp,
            note=f"extrap. from {idx.size} points",
        )
    )
    jitted = jax.jit(one)
    run, comp, _ = median_runs(
        lambda: [jax.block_until_ready(jitted(values[i, 0], values[i, 1])) for i in idx],
        ARGS.repeats,
    )
    rows.append(
        dict(
            impl="loop of one jitted point",
            per_s=idx.size / run,
            compile_s=comp,
            note=f"extrap. from {idx.size} points",
        )
    )
    jit_per_s = rows[-1]["per_s"]
    for r in rows:
        r["ratio"] = r["per_s"] / loop_per_s
        r["ratio_jit"] = r["per_s"] / jit_per_s
    return rows


def bench_network(base):
    b, n, t1 = ARGS.network_batch, ARGS.network_n, ARGS.network_t1
    grid = Grid.product(eta_bar=np.linspace(0.05, 0.3, b))
    steps = int(round(t1 / 1e-3))
    work = b * n * steps
    opts = dict(
        model="network", observables=("r_mean",), n=n, t1=t1, dtype="float32", progress=False
    )
    rows = []
    for d in ARGS.devices:
        if d > len(jax.local_devices()):
            continue
        for ppd in ARGS.network_ppd:
            run, comp, _ = median_runs(
                lambda: sweep(base, grid, points_per_device=ppd, devices=d, **opts), ARGS.repeats
            )
            rows.append(
                dict(
                    impl=f"sweep network, {d} device(s) x {ppd}",
                    per_s=work / run,
                    compile_s=comp,
                    note="",
                )
            )
    etas = np.asarray(grid.columns[0])
    k = min(b, 4)

    def loop():
        for e in etas[:k]:
            res = jaxmf.simulate_network(base.replace(eta_bar=float(e)), n=n, t1=t1, progress=False)
            jax.block_until_ready(res.r)

    run, comp, _ = median_runs(loop, 1)
    loop_per_s = k * n * steps / run
    rows.append(
        dict(
            impl="loop of simulate_network",
            per_s=loop_per_s,
            compile_s=comp,
            note=f"extrap. from {k} networks",
        )
    )
    for r in rows:
        r["ratio"] = r["per_s"] / loop_per_s
    return rows


def _print(title, unit, rows):
    jit = "ratio_jit" in rows[0]
    print(f"## {title}")
    print(
        f"{'implementation':42s} {unit:>14s} {'compile s':>9s} {'x loop':>8s}"
        + (f" {'x jit loop':>10s}" if jit else "")
        + "  note"
    )
    for r in rows:
        comp = "-" if r["compile_s"] is None else f"{r['compile_s']:.2f}"
        print(
            f"{r['impl']:42s} {r['per_s']:14.4g} {comp:>9s} {r['ratio']:8.2f}"
            + (f" {r['ratio_jit']:10.2f}" if jit else "")
            + f"  {r['note']}",
            flush=True,
        )
    print()


def main():
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax "
        f"{jax.__version__} on {jax.devices()[0].platform} ({len(jax.local_devices())} "
        f"devices), float64; t1 = {ARGS.t1}, rtol = 1e-6, save every 0.5 over (t1/2, t1]",
        flush=True,
    )
    base = jaxmf.presets.chen_campbell_2022()
    grid = _grid(ARGS.points)
    rows = bench_meanfield(base, grid)
    _print(
        f"(a) mean field, {grid.n_points} points ({' x '.join(map(str, grid.shape))} "
        "eta_bar x w_jump)",
        "points/s",
        rows,
    )
    best = max(r["per_s"] for r in rows)
    print(f"400 x 400 map at this t1: ~{160_000 / best / 60:.1f} min at the best rate above\n")
    if not ARGS.skip_network:
        rows = bench_network(base)
        _print(
            f"(b) networks: {ARGS.network_batch} networks x {ARGS.network_n} neurons x "
            f"{int(round(ARGS.network_t1 / 1e-3))} steps (float32, Euler dt = 1e-3)",
            "neuron-steps/s",
            rows,
        )


if __name__ == "__main__":
    main()
