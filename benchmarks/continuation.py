"""Continuation and regime maps: jaxmf against JaxCont and a SciPy LSODA loop.

(1) The one-parameter bifurcation diagram of the exact mean field in eta_bar in [0, 0.3] (rounded
preset of Chen & Campbell 2022): equilibria with their refined special points (Hopf points with
l1), plus the two cycle branches continued from the Hopf points (collocation, ntst = 80, ncol = 4,
Floquet multipliers, folds of cycles). Wall time after compilation (median of --repeats; the
compile time, first call minus median, separately), beside JaxCont (PyPI `jaxcont`), run in its own
environment by benchmarks/peers/jaxcont_continuation.py: its equilibrium branch with Fold/Hopf
events (second run; the first includes compilation) and its cycle continuation from a simulated
orbit at eta_bar = 0.12 (fixed uniform mesh, 300 steps). The special points each tool reports are
listed side by side, each checked by the real part of the critical eigenvalue pair of the
equilibrium at the reported parameter (jaxmf's Jacobian: zero at an exact Hopf point).

(2) A brute-force regime map (mean field from the all-zero state, classified over (t1/2, t1]) on a
--map-size^2 grid of (eta_bar, w_jump): `jaxmf.regime_map` (vmapped, chunked) against a loop of
`scipy.integrate.solve_ivp` (LSODA, same rtol/atol and save times, the same `classify_regime`)
timed on a deterministic sample of --lsoda-sample points and projected to the whole grid
(per-point median x number of points: a projection, not a measurement). The sampled points'
regimes are compared between the two.

    python benchmarks/continuation.py [--quick] [--repeats 3] [--no-peer]
        [--peer-python benchmarks/.venv-jaxcont/bin/python]

JaxCont's environment: bash benchmarks/peers/setup_jaxcont_env.sh (-> benchmarks/.venv-jaxcont).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _timing import median_runs  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import jaxmf  # noqa: E402
from jaxmf.analysis import REGIME_NAMES, classify_regime  # noqa: E402
from jaxmf.bifurcation import continue_equilibria  # noqa: E402
from jaxmf.cycles import continue_cycles, meanfield_vector_field  # noqa: E402

HERE = Path(__file__).resolve().parent
PEER = HERE / "peers" / "jaxcont_continuation.py"
SPAN = (0.0, 0.3)
RTOL, ATOL, SAVE_DT = 1e-6, 1e-9, 0.5  # the regime map's (MeanFieldModel's) defaults


def _parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="small sizes: 1 repeat, 24 x 24 map, 6 LSODA points, peer without cycles",
    )
    ap.add_argument("--repeats", type=int, default=3, help="timed runs after the compiling one")
    ap.add_argument("--ntst", type=int, default=80, help="collocation intervals (both tools)")
    ap.add_argument("--map-size", type=int, default=200, help="the map is SIZE x SIZE points")
    ap.add_argument("--map-t1", type=float, default=2000.0)
    ap.add_argument("--map-repeats", type=int, default=1, help="timed runs of the whole map")
    ap.add_argument("--lsoda-sample", type=int, default=40, help="points timed in the LSODA loop")
    ap.add_argument("--no-peer", action="store_true", help="skip JaxCont")
    ap.add_argument(
        "--peer-python",
        default=str(HERE / ".venv-jaxcont" / "bin" / "python"),
        help="python of JaxCont's environment",
    )
    ap.add_argument("--peer-timeout", type=float, default=1200.0, help="seconds")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.map_size, args.lsoda_sample = 1, 24, 6
    return args


# (1) the one-parameter diagram


def diagram(params, ntst):
    """Equilibria (special points refined) and the cycles from every Hopf point; per-part times."""
    times = {}
    t0 = time.perf_counter()
    eq = continue_equilibria(params, "eta_bar", SPAN)
    times["equilibria"] = time.perf_counter() - t0
    cycles = []
    for k, h in enumerate(sp for sp in eq.special_points if sp.kind == "hopf" and sp.converged):
        t0 = time.perf_counter()
        cycles.append(continue_cycles(params, h, bounds=SPAN, ntst=ntst))
        times[f"cycles from H{k + 1}"] = time.perf_counter() - t0
    return eq, cycles, times


def critical_eigenvalues(params, value, near_state) -> str:
    """The two eigenvalues nearest the imaginary axis of the equilibrium at eta_bar = value that
    lies nearest `near_state` (jaxmf's Jacobian), as text: 're +- im i' for a complex pair (re = 0
    at an exact Hopf point), else the two real values."""
    p = params.replace(eta_bar=value)
    eq = jaxmf.meanfield_equilibria(p)
    states = np.stack([np.asarray(x)[:, 0] for x in (eq.r, eq.v, eq.w, eq.s)], axis=1)
    states = states[np.all(np.isfinite(states), axis=1)]
    if states.size == 0:
        return "no equilibrium found"
    x = states[np.argmin(np.linalg.norm(states - near_state, axis=1))]
    ev = np.linalg.eigvals(np.asarray(jax.jacfwd(meanfield_vector_field)(jnp.asarray(x), p)))
    two = ev[np.argsort(np.abs(ev.real))[:2]]
    if abs(two[0].imag) > 1e-12 and abs(two[0] - np.conj(two[1])) < 1e-9:
        return f"{two[0].real:.2e} +- {abs(two[0].imag):.4f}i"
    return ", ".join(
        f"{z.real:.4g}" + (f"{z.imag:+.2g}i" if abs(z.imag) > 1e-12 else "") for z in two
    )


def run_peer(args):
    if args.no_peer:
        return None, "skipped (--no-peer)"
    if not Path(args.peer_python).exists():
        return None, (
            f"no JaxCont environment at {args.peer_python} (bash "
            "benchmarks/peers/setup_jaxcont_env.sh, or --peer-python)"
        )
    cmd = [args.peer_python, str(PEER), "--ntst", str(args.ntst)]
    if args.quick:
        cmd.append("--no-cycles")
    try:
        out = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=args.peer_timeout,
            env={**os.environ, "JAX_PLATFORMS": "cpu"},
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {args.peer_timeout:g} s"
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        return None, f"failed (exit {out.returncode}): {out.stderr.strip()[-300:]}"
    return json.loads(lines[-1]), ""


def bench_diagram(args, params):
    parts = []

    def timed_diagram():
        out = diagram(params, args.ntst)
        parts.append(out[2])
        return out

    run, compile_s, (eq, cycles, _) = median_runs(timed_diagram, args.repeats)
    part_s = {k: statistics.median(p[k] for p in parts[1:] or parts) for k in parts[0]}
    peer, why = run_peer(args)
    hopfs = [sp for sp in eq.special_points if sp.kind == "hopf"]

    print(
        f"## (1) one-parameter diagram, eta_bar in [{SPAN[0]}, {SPAN[1]}] (rounded preset), "
        f"ntst = {args.ntst}, ncol = 4"
    )
    head = f"{'task':34s} {'jaxmf s':>9s} {'points':>6s} {'eta_bar covered':>17s} |"
    head += f" {'JaxCont s':>9s} {'points':>6s} {'eta_bar covered':>17s} | {'JaxCont/jaxmf':>13s}"
    print(head)

    def row(task, ours, n, cov, theirs=None, tn=None, tcov=None, note=""):
        ratio = f"{theirs / ours:13.1f}" if theirs is not None and ours else f"{'-':>13s}"
        ts = f"{theirs:9.3f}" if theirs is not None else f"{'-':>9s}"
        tn = f"{tn:6d}" if tn is not None else f"{'-':>6s}"
        print(
            f"{task:34s} {ours:9.3f} {n:6d} {cov:>17s} | {ts} {tn} {tcov or '-':>17s} | "
            f"{ratio}  {note}"
        )

    cover = lambda b: f"{np.min(b.values):.4f}-{np.max(b.values):.4f}"  # noqa: E731
    pe = peer["equilibria"] if peer else None
    pc = peer.get("cycles") if peer else None
    row(
        "equilibria + special points",
        part_s["equilibria"],
        len(eq),
        cover(eq),
        pe and pe["second_s"],
        pe and pe["points"],
        pe and f"{SPAN[0]:.4f}-{SPAN[1]:.4f}",
    )
    for k, c in enumerate(cycles):
        name = f"cycles from H{k + 1}"
        if k == 0 and pc and "error" not in pc:
            lo, hi = pc["p_range"]
            row(
                name,
                part_s[name],
                len(c),
                cover(c),
                pc["second_s"],
                pc["points"],
                f"{lo:.4f}-{hi:.4f}",
                "JaxCont: from a simulated orbit at 0.12, 300 steps",
            )
        else:
            row(name, part_s[name], len(c), cover(c))
    total_peer = None
    if pe and pc and "error" not in pc:
        total_peer = pe["second_s"] + pc["second_s"]
    row(
        "full diagram",
        run,
        len(eq) + sum(len(c) for c in cycles),
        cover(eq),
        total_peer,
        note="JaxCont: equilibria + its one (partial) cycle run" if total_peer else "",
    )
    print(
        f"compile (first call - median): jaxmf {compile_s:.2f} s"
        + (f"; JaxCont first runs: equilibria {pe['first_s']:.2f} s" if pe else "")
        + (
            f", cycles {pc['first_s']:.2f} s (+ setup {pc['setup_s']:.2f} s)"
            if pc and "error" not in pc
            else ""
        )
    )
    if pc and "error" in pc:
        print(f"JaxCont cycles: {pc['error']}")
    if peer is None:
        print(f"JaxCont: {why}")
    if pc and "error" not in pc:
        print(
            f"JaxCont cycle run: {pc['points']} points, eta_bar {pc['p_range'][0]:.5f}-"
            f"{pc['p_range'][1]:.5f}, period {pc['period_range'][0]:.2f}-"
            f"{pc['period_range'][1]:.2f} (simulated {pc['period_simulated']:.2f}); "
            f"jaxmf's cycles cover {cover(cycles[0])} in {len(cycles[0])} points"
        )
        ours = part_s["cycles from H1"] / len(cycles[0])
        theirs = pc["second_s"] / pc["points"]
        print(
            f"cycle time per accepted point: jaxmf {ours * 1e3:.1f} ms, JaxCont "
            f"{theirs * 1e3:.1f} ms (JaxCont/jaxmf {theirs / ours:.1f})"
        )
    print()

    # Special points side by side.
    print(
        "## special points (l1: jaxmf uses Kuznetsov's normalisation <q, q> = 1, JaxCont its "
        "own; critical eigenvalues: the two nearest the imaginary axis of the equilibrium at "
        "the reported eta_bar, jaxmf's Jacobian)"
    )
    print(
        f"{'tool':8s} {'kind':12s} {'eta_bar':>20s} {'l1':>11s} {'critical eigenvalues':>24s}  note"
    )
    ref = np.asarray(hopfs[0].state) if hopfs else np.zeros(4)
    listed = []
    for sp in eq.special_points:
        listed.append(
            (
                "jaxmf",
                sp.kind,
                float(sp.value),
                float(sp.first_lyapunov),
                np.asarray(sp.state),
                "converged" if sp.converged else "not converged",
            )
        )
    for k, c in enumerate(cycles):
        for sp in c.special_points:
            if sp.kind != "hopf":
                listed.append(
                    (
                        "jaxmf",
                        sp.kind,
                        float(sp.value),
                        np.nan,
                        None,
                        f"on cycles from H{k + 1}, period {float(sp.period):.2f}",
                    )
                )
    for e in (pe or {}).get("events", []):
        inside = SPAN[0] <= e["value"] <= SPAN[1]
        note = [f"omega {e.get('omega0', np.nan):.3g}"]
        if not e.get("converged", 1):
            note.append("not converged")
        if not inside:
            note.append("outside the span")
        listed.append(
            ("JaxCont", e["kind"], e["value"], e.get("l1", np.nan), None, ", ".join(note))
        )
    for e in (pc or {}).get("events", []) if pc and "error" not in pc else []:
        listed.append(("JaxCont", f"{e['kind']} (cycle)", e["value"], np.nan, None, "on cycles"))
    for tool, kind, value, l1, state, note in sorted(listed, key=lambda x: (x[2], x[0])):
        crit = ""
        if kind in ("hopf", "neutral_saddle", "fold") and SPAN[0] - 0.05 <= value <= SPAN[1] + 0.05:
            crit = critical_eigenvalues(params, value, ref if state is None else state)
        l1s = f"{l1:11.5g}" if np.isfinite(l1) else f"{'':11s}"
        print(f"{tool:8s} {kind:12s} {value:20.15g} {l1s} {crit:>24s}  {note}")
    print()
    return run


# (2) the regime map


def numpy_rhs(params):
    """The one-population exact mean field (model.md section 3) on Python floats: the LSODA
    loop's right-hand side, written out so that SciPy pays no JAX dispatch per call."""
    c = {
        k: float(np.asarray(getattr(params, k)).reshape(-1)[0])
        for k in (
            "alpha",
            "eta_bar",
            "delta_eta",
            "i_ext",
            "a",
            "b",
            "w_jump",
            "tau_s",
            "s_jump",
            "e_r",
            "g",
        )
    }
    d_pi, pi2 = c["delta_eta"] / np.pi, np.pi**2

    def f(t, y):
        r, v, w, s = y
        gs = c["g"] * s
        return [
            d_pi + 2 * r * v - r * (c["alpha"] + gs),
            v * v
            - c["alpha"] * v
            - pi2 * r * r
            + gs * (c["e_r"] - v)
            - w
            + c["eta_bar"]
            + c["i_ext"],
            c["a"] * (c["b"] * v - w) + c["w_jump"] * r,
            -s / c["tau_s"] + c["s_jump"] * r,
        ]

    return f


def bench_map(args, params):
    size, t1 = args.map_size, args.map_t1
    etas = np.linspace(SPAN[0], SPAN[1], size)
    wjs = np.linspace(0.002, 0.04, size)
    axes = {"eta_bar": jnp.asarray(etas), "w_jump": jnp.asarray(wjs)}
    n = size * size
    ppd = 512
    # The compile: one chunk of ppd points (the sweep pads every call to ppd points).
    t0 = time.perf_counter()
    jaxmf.regime_map(
        params,
        {"eta_bar": jnp.linspace(0.1, 0.2, 2), "w_jump": jnp.full(1, 0.0189)},
        t1=t1,
        progress=False,
        points_per_device=ppd,
    )
    first_chunk = time.perf_counter() - t0
    times = []
    for _ in range(max(args.map_repeats, 1)):
        t0 = time.perf_counter()
        ds = jaxmf.regime_map(params, axes, t1=t1, progress=False, points_per_device=ppd)
        times.append(time.perf_counter() - t0)
    run = statistics.median(times)
    n_chunks = -(-n // ppd)
    compile_s = max(first_chunk - run / n_chunks, 0.0)
    regime = np.asarray(ds["regime"].transpose("eta_bar", "w_jump").values).astype(str)

    # The LSODA loop: the same model (NumPy right-hand side, checked against jaxmf's below), save
    # times and classifier (jitted once, outside the timing), on a deterministic sample of the grid.
    classify = jax.jit(classify_regime)
    ts = np.linspace(t1 / 2, t1, int(round(t1 / 2 / SAVE_DT)) + 1)
    idx = np.unique(np.linspace(0, n - 1, min(n, args.lsoda_sample)).round().astype(int))
    classify(jnp.asarray(ts), jnp.asarray(ts)).block_until_ready()
    y = np.array([0.03, -0.4, 0.1, 0.05])
    np.testing.assert_allclose(
        numpy_rhs(params)(0.0, y),
        np.asarray(meanfield_vector_field(jnp.asarray(y), params)),
        rtol=1e-12,
        atol=1e-15,
    )
    per_point, agree, n_eval = [], 0, []
    for i in idx:
        a, b = divmod(int(i), size)
        p = params.replace(eta_bar=float(etas[a]), w_jump=float(wjs[b]))
        t0 = time.perf_counter()
        sol = solve_ivp(
            numpy_rhs(p), (0.0, t1), np.zeros(4), method="LSODA", t_eval=ts, rtol=RTOL, atol=ATOL
        )
        code = int(classify(jnp.asarray(sol.t), jnp.asarray(sol.y[0])))
        per_point.append(time.perf_counter() - t0)
        n_eval.append(sol.nfev)
        agree += REGIME_NAMES[code] == regime[a, b]
    loop_s = statistics.median(per_point)
    projected = loop_s * n

    print(
        f"## (2) regime map, {size} x {size} = {n} points (eta_bar in [0, 0.3] x w_jump in "
        f"[0.002, 0.04]), t1 = {t1:g}, rtol = {RTOL:g}, atol = {ATOL:g}, classified over "
        f"(t1/2, t1]"
    )
    print(
        f"{'implementation':44s} {'time s':>10s} {'points/s':>10s} {'compile s':>9s} "
        f"{'x LSODA':>8s}  note"
    )
    print(
        f"{'jaxmf.regime_map (vmap, chunks of 512)':44s} {run:10.2f} {n / run:10.1f} "
        f"{compile_s:9.2f} {projected / run:8.1f}  measured, median of {len(times)}"
    )
    print(
        f"{'scipy solve_ivp LSODA loop':44s} {projected:10.2f} {1 / loop_s:10.1f} "
        f"{'-':>9s} {1.0:8.1f}  PROJECTED: {len(idx)} points timed (median "
        f"{loop_s * 1e3:.1f} ms/point, {int(np.median(n_eval))} RHS calls) x {n}"
    )
    counts = {str(k): int(v) for k, v in zip(*np.unique(regime, return_counts=True))}
    print(
        f"regimes in the map: {counts}; LSODA agrees with the map at {agree}/{len(idx)} "
        "sampled points"
    )
    print()


def main():
    args = _parse()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax "
        f"{jax.__version__} on {jax.devices()[0].platform}, float64, jaxmf "
        f"{jaxmf.__version__}; repeats = {args.repeats}" + (" (--quick)" if args.quick else ""),
        flush=True,
    )
    params = jaxmf.presets.chen_campbell_2022(rounded=True)
    bench_diagram(args, params)
    sys.stdout.flush()
    bench_map(args, params)


if __name__ == "__main__":
    main()
