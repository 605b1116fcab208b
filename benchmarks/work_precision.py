"""Network time-to-accuracy: work-precision of every jaxmf spike scheme beside Brian2, same run.

    python benchmarks/work_precision.py [--quick] [--regimes tonic bursting] [--no-brian2]
                                        [--plot results/work_precision.png] [--json FILE]

The paper's network (deterministic Lorentzian quantiles, Delta_eta = 0.02, float32), N = 10^5 and
t1 = 1000 (`--quick`: N = 10^4, t1 = 640), in the tonic (eta_bar = 0.25) and bursting
(eta_bar = 0.12) regimes. Each scheme runs a ladder of three steps halving dt; for each run the
mean rate and the mean <w> over t > t1/4 and, when bursting, the burst period (mean interval
between upward crossings, interpolated within a bin, of the run's own mean rate with hysteresis)
are measured. Every scheme is first order in dt (EulerReset and Brian2's identical Euler step;
ExactPassage and MobiusPassage freeze w and s over a step), so each quantity's dt -> 0 limit is
the order-1 Richardson extrapolation from the two finest steps, x0 = 2 x(h/2) - x(h); the observed
order log2(|x(h) - x(h/2)| / |x(h/2) - x(h/4)|) is printed as a check. A run's error is the
largest relative deviation of its quantities from the scheme's own limit; the time-to-accuracy is
the run time (median of `--repeats` runs; compilation excluded, reported apart) of the fastest
run within `--tol` (0.2%).
The ratio column is Brian2's time-to-accuracy over the scheme's. Brian2 2.9 runs in
cpp_standalone mode with one OpenMP thread (its best mode on this kind of machine, see
benchmarks/network_throughput.py), from its own environment (benchmarks/peers/setup_brian2_env.sh),
the step Brian2 measures itself (`run_s`) against jaxmf's compiled run.

The work-precision plot (error against run time, log-log, one panel per regime) goes to `--plot`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxmf
from jaxmf import network as nw

HERE = Path(__file__).resolve().parent
BRIAN_PY = HERE / ".venv-brian2" / "bin" / "python"
REGIMES = {"tonic": 0.25, "bursting": 0.12}
BIN = 0.8  # recording bin: a whole number of steps for every dt below (0.64 with --quick)
LADDERS = {
    "EulerReset": (2.5e-3, 1.25e-3, 6.25e-4),  # its reset bound is dt < 3.08e-3
    "ExactPassage": (2e-2, 1e-2, 5e-3),
    "MobiusPassage": (3.2e-2, 1.6e-2, 8e-3),  # |J| dt^2 <= 1 allows dt < 0.039 at N = 10^5
    "brian2": (2.5e-3, 1.25e-3, 6.25e-4),
}
SCHEMES = {
    "EulerReset": nw.EulerReset(),
    "ExactPassage": nw.ExactPassage(),
    "MobiusPassage": nw.MobiusPassage(),
}


def ladder(name, n):
    """The steps of a scheme; MobiusPassage starts one doubling higher where its bound allows
    (|J| dt^2 <= 1 with the largest Lorentzian quantile: dt < 0.12 at N = 10^4, 0.039 at 10^5)."""
    if name == "MobiusPassage":
        p = jaxmf.presets.chen_campbell_2022(eta_bar=max(REGIMES.values()))
        z_max = math.tan(math.pi / 2 * (n - 1) / (n + 1))
        eta_max = float(p.eta_bar[0]) + float(p.delta_eta[0]) * z_max
        fits = abs(BIN / 6.4e-2 - round(BIN / 6.4e-2)) < 1e-9
        if fits and nw.MobiusPassage().max_dt(p, eta_max) > 6.4e-2:
            return (6.4e-2, 3.2e-2, 1.6e-2)
    return LADDERS[name]


def period(t, r, hysteresis=0.1):
    """Mean interval between upward crossings of r's mean, linearly interpolated within a bin;
    a crossing counts only after r fell below mean - h (h = hysteresis * (p95 - p5) / 2)."""
    level = float(np.mean(r))
    h = hysteresis * float(np.percentile(r, 95) - np.percentile(r, 5)) / 2
    armed, crossings = False, []
    for i in range(1, len(r)):
        if r[i] < level - h:
            armed = True
        elif armed and r[i - 1] < level <= r[i]:
            crossings.append(t[i - 1] + (level - r[i - 1]) / (r[i] - r[i - 1]) * (t[i] - t[i - 1]))
            armed = False
    return float(np.mean(np.diff(crossings))) if len(crossings) >= 2 else math.nan


def quantities(t, r, w_t, w_mean, t1, bursting):
    keep, keep_w = t > t1 / 4, w_t > t1 / 4
    out = {"rate": float(np.mean(r[keep])), "w": float(np.mean(w_mean[keep_w]))}
    if bursting:
        # A 4-time-unit moving average keeps finite-size noise from adding crossings.
        smooth = np.convolve(r, np.ones(5) / 5, mode="same")
        out["period"] = period(t[keep], smooth[keep])
    return out


def run_jaxmf(name, n, t1, dt, eta_bar, dtype, repeats):
    p = jaxmf.presets.chen_campbell_2022(eta_bar=eta_bar)
    net = nw.make_network(p, n, dtype=dtype)
    state = nw.init(net, dtype=dtype)
    record_every = int(round(BIN / dt))
    n_records = int(round(t1 / BIN))
    nw.validate_run(p, net, dt, t1, 0.0, record_every, SCHEMES[name], dtype)

    def f(p, st):
        return nw.run(
            p, net, st, dt=dt, n_records=n_records, record_every=record_every, scheme=SCHEMES[name]
        )

    t0 = time.perf_counter()
    compiled = jax.jit(f, compiler_options=nw._compiler_options()).lower(p, state).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, rec = compiled(p, state)
        jax.block_until_ready(rec)
        times.append(time.perf_counter() - t0)
    run_s = statistics.median(times)
    t = BIN * np.arange(1, n_records + 1)
    return dict(
        run_s=run_s,
        compile_s=compile_s,
        t=t,
        r=np.asarray(rec.r[:, 0], float),
        w_t=t,
        w_mean=np.asarray(rec.w_mean[:, 0], float),
    )


def run_brian2(n, t1, dt, eta_bar, dtype, repeats):
    cmd = [
        str(BRIAN_PY),
        str(HERE / "peers" / "brian2_precision.py"),
        *("--n", str(n), "--t1", str(t1), "--dt", repr(dt), "--eta-bar", repr(eta_bar)),
        *("--bin", repr(BIN), "--dtype", jnp.dtype(dtype).name, "--threads", "1"),
        *("--repeats", str(repeats)),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        print(f"  brian2 failed: {' '.join(cmd)}\n  {out.stderr.strip()[-600:]}", file=sys.stderr)
        return None
    row = json.loads(lines[-1])
    t = BIN * np.arange(1, len(row["rate"]) + 1)
    return dict(
        run_s=row["run_s"],
        compile_s=row["compile_s"],
        t=t,
        r=np.asarray(row["rate"]),
        w_t=np.asarray(row["w_t"]),
        w_mean=np.asarray(row["w_mean"]),
    )


def extrapolate(rows):
    """Order-1 Richardson limits from the two finest steps, the observed order, and each run's
    largest relative error against the limits."""
    rows = sorted(rows, key=lambda r: -r["dt"])
    keys = list(rows[0]["q"])
    limit = {k: 2 * rows[-1]["q"][k] - rows[-2]["q"][k] for k in keys}
    order = {}
    for k in keys:
        d1 = rows[0]["q"][k] - rows[1]["q"][k]
        d2 = rows[1]["q"][k] - rows[2]["q"][k]
        order[k] = math.log2(abs(d1 / d2)) if d2 != 0 and d1 != 0 else math.nan
    for r in rows:
        r["err"] = max(abs(r["q"][k] / limit[k] - 1) for k in keys)
    return limit, order


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 10^4, t1 = 640")
    ap.add_argument("--n", type=float, help="neurons (default 1e5, --quick 1e4)")
    ap.add_argument("--t1", type=float, help="end time (default 1000, --quick 640)")
    ap.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    ap.add_argument("--schemes", nargs="+", default=list(LADDERS), choices=list(LADDERS))
    ap.add_argument("--no-brian2", action="store_true")
    ap.add_argument("--repeats", type=int, default=1, help="runs per step; the median counts")
    ap.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="float32 (default); at N = 10^4 float32 round-off in the Euler reset near v_peak "
        "makes the dt ladder noisy at the 0.3%% level, float64 shows the discretisation alone",
    )
    ap.add_argument("--tol", type=float, default=2e-3, help="relative accuracy bar (0.2%%)")
    ap.add_argument("--plot", type=Path, default=Path("results/work_precision.png"))
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    dtype = jnp.float32 if args.dtype == "float32" else jnp.float64
    if dtype == jnp.float64:
        jax.config.update("jax_enable_x64", True)
    n = int(args.n or (1e4 if args.quick else 1e5))
    t1 = float(args.t1 or (640.0 if args.quick else 1000.0))
    global BIN
    BIN = 0.64 if math.isclose(t1 / 0.64, round(t1 / 0.64)) else 0.8
    if not math.isclose(t1 / BIN, round(t1 / BIN)):
        ap.error(f"t1 must be a multiple of 0.8 or 0.64 (the recording bins); got {t1:g}")
    schemes = [s for s in args.schemes if not (s == "brian2" and args.no_brian2)]
    if "brian2" in schemes and not BRIAN_PY.exists():
        print("(Brian2 skipped: run benchmarks/peers/setup_brian2_env.sh first)", file=sys.stderr)
        schemes.remove("brian2")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load {load:.2f}, jax {jax.__version__} on {jax.devices()[0].platform}; N = {n}, "
        f"t1 = {t1:g}, {args.dtype}, tolerance {100 * args.tol:g}%; "
        "limits: order-1 Richardson from the two finest dt",
        flush=True,
    )
    rows, summary = [], []
    for regime in args.regimes:
        eta_bar, bursting = REGIMES[regime], regime == "bursting"
        per_scheme = {}
        for name in schemes:
            group = []
            for dt in ladder(name, n):
                out = (
                    run_brian2(n, t1, dt, eta_bar, dtype, args.repeats)
                    if name == "brian2"
                    else run_jaxmf(name, n, t1, dt, eta_bar, dtype, args.repeats)
                )
                if out is None:
                    break
                q = quantities(out["t"], out["r"], out["w_t"], out["w_mean"], t1, bursting)
                group.append(
                    dict(
                        regime=regime,
                        scheme=name,
                        dt=dt,
                        run_s=out["run_s"],
                        compile_s=out["compile_s"],
                        q=q,
                    )
                )
                print(f"  {regime} {name} dt={dt:g}: {out['run_s']:.2f} s, {q}", flush=True)
            if len(group) == len(ladder(name, n)):
                limit, order = extrapolate(group)
                per_scheme[name] = (group, limit, order)
                rows += group
        print_table(regime, per_scheme, args.tol, summary)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if rows and args.plot:
        plot(rows, args.plot, args.tol, n, t1)
        print(f"work-precision plot: {args.plot}")
    return summary


def print_table(regime, per_scheme, tol, summary):
    print(f"\n## {regime}")
    print(
        f"{'scheme':15s} {'dt':>9s} {'run s':>8s} {'compile s':>9s} {'rate':>10s} {'<w>':>10s} "
        f"{'period':>9s} {'error %':>8s}"
    )
    best = {}
    for name, (group, limit, order) in per_scheme.items():
        for r in group:
            q = r["q"]
            print(
                f"{name:15s} {r['dt']:9.3g} {r['run_s']:8.2f} {r['compile_s']:9.2f} "
                f"{q['rate']:10.6f} {q['w']:10.6f} {q.get('period', math.nan):9.3f} "
                f"{100 * r['err']:8.3f}"
            )
        lim = " ".join(f"{k}={v:.6g}" for k, v in limit.items())
        obs = " ".join(f"{k}={v:.2f}" for k, v in order.items())
        print(f"{'':15s} limit: {lim}; observed order: {obs}")
        ok = [r for r in group if r["err"] <= tol]
        best[name] = min(ok, key=lambda r: r["run_s"]) if ok else None
    print(f"\n{'scheme':15s} {'time-to-accuracy s':>19s} {'at dt':>8s} {'Brian2 / scheme':>16s}")
    ref = best.get("brian2")
    for name, r in best.items():
        ratio = ref["run_s"] / r["run_s"] if (ref and r) else math.nan
        tta = f"{r['run_s']:19.2f} {r['dt']:8.3g}" if r else f"{'not reached':>19s} {'-':>8s}"
        print(f"{name:15s} {tta} {ratio:16.2f}")
        summary.append(dict(regime=regime, scheme=name, time_s=r and r["run_s"], ratio=ratio))
    print(flush=True)


def plot(rows, path, tol, n, t1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regimes = sorted({r["regime"] for r in rows}, key=list(REGIMES).index)
    fig, axes = plt.subplots(1, len(regimes), figsize=(5.5 * len(regimes), 4.2), squeeze=False)
    for ax, regime in zip(axes[0], regimes):
        for name in LADDERS:
            group = sorted(
                (r for r in rows if r["regime"] == regime and r["scheme"] == name),
                key=lambda r: r["run_s"],
            )
            if group:
                err = [max(r["err"], 1e-7) for r in group]
                ax.loglog([r["run_s"] for r in group], err, "o-", label=name)
        ax.axhline(tol, color="k", lw=0.8, ls="--", label=f"{100 * tol:g}%")
        ax.set(xlabel="run time (s)", ylabel="relative error vs own dt->0 limit")
        ax.set_title(f"{regime} (eta_bar = {REGIMES[regime]}), N = {n}, t1 = {t1:g}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
