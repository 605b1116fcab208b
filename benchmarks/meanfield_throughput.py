"""Mean-field throughput: jaxmf's solve_meanfield beside SciPy and PyRates, measured in one run.

    python benchmarks/meanfield_throughput.py [--t1 1000] [--repeats 5] [--batches 1e2 1e3 1e4]
        [--max-batch 1e4] [--chunks 512] [--save-every 10] [--loop-sample 40] [--no-pyrates]
        [--json out.json]

(a0) The public call `jaxmf.solve_meanfield(p, t1)` with its defaults (saved every 0.1), beside
diffrax.diffeqsolve on the same problem (the previous default path) and SciPy LSODA at the same
tolerances on the same save grid; compile s = first call - median; "min ms" is the fastest repeat
(the median on a loaded machine measures the load); "err vs ref" as in (a).

(a) One solve of the one-population exact mean field (Chen & Campbell 2022) from zeros over
[0, t1] in the tonic (eta_bar = 0.25) and bursting (eta_bar = 0.12) regimes, rtol = 1e-8,
atol = 1e-10, float64 throughout: `jaxmf.solve_meanfield` under `jax.jit` with diffrax Tsit5 (the
default), Dopri5 (like-for-like with RK45) and Dopri8 (an 8th-order pair: fewer, costlier steps),
against `scipy.integrate.solve_ivp` (LSODA, RK45, DOP853) on the identical right-hand side written
in NumPy, and PyRates' own template for this model
(`ik_nodim`, default backend, solver='scipy'; own venv, benchmarks/peers/setup_pyrates_env.sh).
Everything saves r on the same grid (every `--dts` over [0, t1)). "err" is the sup-norm error
max_t |r - r_ref| / max_t |r_ref| against solve_ivp DOP853 at rtol = 1e-12, atol = 1e-14, so speed
is compared at stated accuracy. jaxmf's compile time is measured separately (`.lower().compile()`);
for PyRates "compile" is its first run (template load, code generation and one solve). Times are
medians of `--repeats`; "x LSODA" is solves/s over scipy LSODA's in the same regime.

(b) Parameter sweeps: N points on an eta_bar x w_jump grid (eta_bar in [0, 0.3], w_jump in
[0.005, 0.05]), each solved over [0, t1] and reduced to mean and max of r over [t1/2, t1] (saved
every `--save-every` time units) so memory stays O(N): saving less per point matters (every 1 time
unit cost ~1.7x at N = 10^4). jaxmf: `jaxmf.sweep` with its defaults, `jax.vmap` of the solve
over the whole batch, the batch in chunks (a Python loop over one compiled vmapped chunk, and
`lax.map(batch_size=...)`), and a Python loop of single jitted solves; SciPy: an LSODA loop. The
two loops run on a deterministic subsample of `--loop-sample` points and their per-point cost is
extrapolated (marked "extrap."). "cpu s" is the process CPU time of the timed run (on a loaded
machine wall times swing; CPU times much less), "x LSODA" compares points/s, "x cpu" CPU time per
point, both against the LSODA loop of the same run.

A vmapped diffrax solve in lockstep (the "previous" row) runs its while loop until the slowest
point in the batch finishes, so a chunk costs ~ chunk x max(steps) (its note gives that sum over
the chunks divided by sum(steps), the waste factor), a loop ~ sum(steps). jaxmf's vmapped
solve_meanfield instead keeps 256 lanes stepping on CPU, each taking the next point when its own
is done (`jaxmf.meanfield._integrate_lanes`), so a call costs ~ sum(steps) / 256 iterations plus
one drain at its end: `jaxmf.sweep` takes up to 16384 mean-field points per call on CPU (one call
for N = 10^4) and compiles its chunks with copy insertion by region analysis, XLA's
memory-optimised schedule and, with AVX-512, 512-bit vectors (`jaxmf._sweep._compiler_options`;
bit-identical results). The "vmap" row is compiled with XLA's defaults. Ordering points by a cost
proxy (the leading eigenvalue of each point's equilibrium) was tried for lockstep chunks and lost:
the proxy costs more than it saves. The "steps" column gives the mean and max accepted steps over
the points (over the subsample for the loops; for LSODA, function evaluations).

`--devices 2` adds a row for `jaxmf.sweep(..., devices=2)` on two fake CPU devices (a subprocess
with XLA_FLAGS=--xla_force_host_platform_device_count=2): the second core, never the headline
ratio, since the LSODA loop runs on one core.
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

jax.config.update("jax_enable_x64", True)
import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

import jaxmf  # noqa: E402

HERE = Path(__file__).resolve().parent
PYRATES_PY = HERE / ".venv-pyrates" / "bin" / "python"
REGIMES = {"tonic": 0.25, "bursting": 0.12}
FIELDS = ("alpha", "delta_eta", "g", "e_r", "a", "b", "w_jump", "tau_s", "s_jump")


def _median_time(fn, repeats):
    wall, _, out = _timed(fn, repeats)
    return wall, out


def _timed(fn, repeats):
    """Median wall and process CPU seconds of `repeats` calls, and the last output."""
    times, cpus, out = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(times), statistics.median(cpus), out


# The NumPy right-hand side (one population), parameter values read from jaxmf's Params


def constants(p) -> dict:
    c = {k: float(np.asarray(getattr(p, k)).ravel()[0]) for k in FIELDS + ("eta_bar", "i_ext")}
    c["g"] = float(np.asarray(p.g).ravel()[0]) * float(np.asarray(p.fractions).ravel()[0])
    return c


def numpy_rhs(c: dict):
    alpha, delta, g, e_r = c["alpha"], c["delta_eta"], c["g"], c["e_r"]
    a, b, w_jump, tau_s, s_jump = c["a"], c["b"], c["w_jump"], c["tau_s"], c["s_jump"]
    drive = c["eta_bar"] + c["i_ext"]
    pi, pi2 = math.pi, math.pi**2

    def f(t, y):
        r, v, w, s = y
        gs = g * s
        return np.array(
            [
                delta / pi + 2 * r * v - r * (alpha + gs),
                v * v - alpha * v - pi2 * r * r + gs * (e_r - v) - w + drive,
                a * (b * v - w) + w_jump * r,
                -s / tau_s + s_jump * r,
            ]
        )

    return f


def scipy_solve(c, t1, ts, method, rtol, atol):
    return solve_ivp(
        numpy_rhs(c), (0.0, t1), np.zeros(4), method=method, t_eval=ts, rtol=rtol, atol=atol
    )


def sup_err(r, ref):
    return float(np.max(np.abs(np.asarray(r) - ref)) / np.max(np.abs(ref)))


# (a) one solve


def bench_single(eta_bar, args, grid):
    p = jaxmf.presets.chen_campbell_2022(eta_bar=eta_bar)
    c = constants(p)
    ref = scipy_solve(c, args.t1, grid, "DOP853", 1e-12, 1e-14)
    assert ref.status == 0, ref.message
    r_ref = ref.y[0]
    rows = []
    solvers = (
        ("Tsit5", diffrax.Tsit5()),
        ("Dopri5", diffrax.Dopri5()),
        ("Dopri8", diffrax.Dopri8()),
    )
    for name, solver in solvers:

        def f(p, solver=solver):
            res = jaxmf.solve_meanfield(
                p, args.t1, ts=grid, rtol=args.rtol, atol=args.atol, solver=solver, throw=False
            )
            return res.r[:, 0], res.n_steps, res.status

        t0 = time.perf_counter()
        compiled = jax.jit(f).lower(p).compile()
        compile_s = time.perf_counter() - t0
        jax.block_until_ready(compiled(p))  # warm-up
        run_s, (r, steps, status) = _median_time(
            lambda: jax.block_until_ready(compiled(p)), args.repeats
        )
        rows.append(
            dict(
                impl=f"jaxmf jit {name}",
                run_s=run_s,
                compile_s=compile_s,
                err=sup_err(r, r_ref),
                work=f"{int(steps)} steps",
                ok=bool(status == jaxmf.RESULTS.successful),
            )
        )
    for method in ("LSODA", "RK45", "DOP853"):
        run_s, sol = _median_time(
            lambda: scipy_solve(c, args.t1, grid, method, args.rtol, args.atol), args.repeats
        )
        rows.append(
            dict(
                impl=f"scipy solve_ivp {method}",
                run_s=run_s,
                compile_s=None,
                err=sup_err(sol.y[0], r_ref),
                work=f"{sol.nfev} nfev",
                ok=sol.status == 0,
            )
        )
    if args.pyrates:
        rows += bench_pyrates(c, args, r_ref)
    ref_row = next(r for r in rows if r["impl"].endswith("LSODA"))
    for r in rows:
        r["per_s"] = 1.0 / r["run_s"]
        r["ratio"] = ref_row["run_s"] / r["run_s"]
    return rows


def bench_pyrates(c, args, r_ref):
    if not PYRATES_PY.exists():
        print(
            "  (PyRates skipped: run `bash benchmarks/peers/setup_pyrates_env.sh` first; "
            "it lives in its own venv, benchmarks/.venv-pyrates)",
            flush=True,
        )
        args.pyrates = False
        return []
    rows = []
    for method in args.pyrates_methods:
        out = Path(f"/tmp/jaxmf_pyrates_r_{os.getpid()}.npy")
        cmd = [
            str(PYRATES_PY),
            str(HERE / "peers" / "pyrates_meanfield.py"),
            "--method",
            method,
            "--t1",
            str(args.t1),
            "--dts",
            str(args.dts),
            "--rtol",
            str(args.rtol),
            "--atol",
            str(args.atol),
            "--repeats",
            str(args.repeats),
            "--out",
            str(out),
        ]
        for k in FIELDS + ("eta_bar",):
            cmd += ["--" + k.replace("_", "-"), repr(c[k])]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
            row = json.loads(line)
            r = np.load(out)
        except Exception as e:  # noqa: BLE001 - a peer failing must not sink the benchmark
            tail = (proc.stderr.strip()[-300:] if "proc" in locals() else "") or repr(e)
            print(f"  (PyRates {method} failed: {tail})", flush=True)
            continue
        finally:
            out.unlink(missing_ok=True)
        rows.append(
            dict(
                impl=f"PyRates ik_nodim scipy {method}",
                run_s=statistics.median(row["run_s"]),
                compile_s=row["setup_s"],
                err=sup_err(r, r_ref[: r.size]),
                work=f"{row['nfev']} nfev, solve_ivp {statistics.median(row['solve_s']):.3f}s",
                ok=row["status"] == 0,
            )
        )
    return rows


def print_single(regime, eta_bar, rows):
    print(f"## (a) one solve, {regime} (eta_bar = {eta_bar})")
    print(
        f"{'implementation':34s} {'wall s':>9s} {'solves/s':>9s} {'compile s':>9s} {'x LSODA':>8s} "
        f"{'err vs ref':>10s}  work"
    )
    for r in rows:
        comp = f"{r['compile_s']:9.2f}" if r["compile_s"] is not None else f"{'-':>9s}"
        flag = "" if r["ok"] else "  FAILED"
        print(
            f"{r['impl']:34s} {r['run_s']:9.4f} {r['per_s']:9.1f} {comp} {r['ratio']:8.2f} "
            f"{r['err']:10.1e}  {r['work']}{flag}",
            flush=True,
        )
    print()


# (a0) the public call with its defaults


def _times(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def bench_public(eta_bar, args):
    """`jaxmf.solve_meanfield(p, t1)` exactly as users call it (defaults: Tsit5, rtol 1e-8,
    atol 1e-10, saved every 0.1 time unit), beside diffrax.diffeqsolve on the same problem (the
    previous default path; an explicit adjoint routes there) and SciPy LSODA at the same
    tolerances saving the same grid. The fastest of the repeats is reported beside the median
    (on a loaded machine the median measures the load); "err vs ref" is as in (a), on this
    grid."""
    p = jaxmf.presets.chen_campbell_2022(eta_bar=eta_bar)
    grid = np.linspace(0.0, args.t1, int(round(args.t1 / 0.1)) + 1)
    c = constants(p)
    ref = scipy_solve(c, args.t1, grid, "DOP853", 1e-12, 1e-14)
    assert ref.status == 0, ref.message
    rows = []
    adjoint = diffrax.RecursiveCheckpointAdjoint()
    calls = (
        ("jaxmf.solve_meanfield(p, t1)", lambda: jaxmf.solve_meanfield(p, args.t1)),
        (
            "  same, inside the user's jax.jit",
            jax.jit(lambda q: jaxmf.solve_meanfield(q, args.t1, throw=False)),
        ),
        (
            "diffrax.diffeqsolve (previous path)",
            lambda: jaxmf.solve_meanfield(p, args.t1, adjoint=adjoint),
        ),
    )
    for name, fn in calls:
        call = (lambda fn=fn: fn(p)) if name.startswith("  same") else fn
        t0 = time.perf_counter()
        res = jax.block_until_ready(call())
        first = time.perf_counter() - t0
        times, res = _times(lambda: jax.block_until_ready(call()), args.repeats)
        run_s = statistics.median(times)
        rows.append(
            dict(
                impl=name,
                run_s=run_s,
                best_s=min(times),
                compile_s=max(first - run_s, 0.0),
                work=f"{int(res.n_steps)} steps, {res.r.shape[0]} saved",
                r=np.asarray(res.r[:, 0]),
            )
        )
    times, sol = _times(lambda: scipy_solve(c, args.t1, grid, "LSODA", 1e-8, 1e-10), args.repeats)
    rows.append(
        dict(
            impl="scipy solve_ivp LSODA",
            run_s=statistics.median(times),
            best_s=min(times),
            compile_s=None,
            work=f"{sol.nfev} nfev, {sol.y.shape[1]} saved",
            r=sol.y[0],
        )
    )
    for r in rows:
        r["ratio"] = rows[-1]["run_s"] / r["run_s"]
        r["best_ratio"] = rows[-1]["best_s"] / r["best_s"]
        r["err"] = sup_err(r["r"], ref.y[0])
        r["diff"] = float(np.max(np.abs(r["r"] - rows[2]["r"])) / np.max(np.abs(rows[2]["r"])))
    return rows


def print_public(regime, eta_bar, rows):
    print(f"## (a0) the public call, {regime} (eta_bar = {eta_bar}), defaults, float64")
    print(
        f"{'call':38s} {'ms/solve':>9s} {'min ms':>7s} {'compile s':>9s} {'x LSODA':>8s} "
        f"{'(min)':>6s} {'err vs ref':>10s} {'|r - diffrax|':>13s}  work"
    )
    for r in rows:
        comp = f"{r['compile_s']:9.2f}" if r["compile_s"] is not None else f"{'-':>9s}"
        print(
            f"{r['impl']:38s} {1e3 * r['run_s']:9.3f} {1e3 * r['best_s']:7.3f} {comp} "
            f"{r['ratio']:8.1f} {r['best_ratio']:6.1f} {r['err']:10.1e} {r['diff']:13.1e}  "
            f"{r['work']}",
            flush=True,
        )
    print()


# (b) parameter sweeps


def sweep_points(n):
    n_eta = max(1, int(round(math.sqrt(n))))
    n_w = max(1, int(round(n / n_eta)))
    eta, wj = np.meshgrid(
        np.linspace(0.0, 0.3, n_eta), np.linspace(0.005, 0.05, n_w), indexing="ij"
    )
    return eta.ravel(), wj.ravel()


def make_summary(args, previous=False):
    """Mean and max of r over [t1/2, t1] for one point; `previous`: the solve as jaxmf ran it
    under vmap before (diffrax.diffeqsolve, every point of a batch stepping until the slowest
    finishes; an explicit adjoint routes there)."""
    base = jaxmf.presets.chen_campbell_2022()
    ts = jnp.linspace(args.t1 / 2, args.t1, int(round(args.t1 / 2 / args.save_every)) + 1)
    extra = dict(adjoint=diffrax.RecursiveCheckpointAdjoint()) if previous else {}

    def summary(eta, wj):
        p = base.replace(eta_bar=eta, w_jump=wj)
        res = jaxmf.solve_meanfield(
            p, args.t1, ts=ts, rtol=args.rtol, atol=args.atol, throw=False, **extra
        )
        r = res.r[:, 0]
        return (
            jnp.stack([jnp.mean(r), jnp.max(r)]),
            res.n_steps,
            res.status != jaxmf.RESULTS.successful,
        )

    return base, np.asarray(ts), summary


def sweep_call(base, eta, wj, args, devices=None):
    """`jaxmf.sweep` with its defaults, the same solves and summaries as `summary`."""
    model = jaxmf.MeanFieldModel(
        t1=args.t1,
        transient=args.t1 / 2,
        save_dt=args.save_every,
        rtol=args.rtol,
        atol=args.atol,
        max_steps=1_000_000,
    )
    observables = (
        ("mean", lambda tr, _: jnp.mean(tr.r[:, 0])),
        ("max", lambda tr, _: jnp.max(tr.r[:, 0])),
    )
    grid = jaxmf.Grid.points(eta_bar=eta, w_jump=wj)

    def run():
        ds = jaxmf.sweep(
            base, grid, model, observables=observables, progress=False, devices=devices
        )
        return np.stack([ds["mean"].values, ds["max"].values], axis=1), ds

    return run


def _compile(fn, *xs):
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*xs).compile()
    return compiled, time.perf_counter() - t0


def _chunks_of(x, chunk):
    n_pad = -(-x.size // chunk) * chunk
    return jnp.pad(x, (0, n_pad - x.size), mode="edge").reshape(-1, chunk)


def lockstep_waste(steps, chunk):
    """Lane-steps a lockstep vmap spends on chunks of `chunk` points (each runs until its slowest
    point is done) over the steps the points need."""
    padded = np.asarray(_chunks_of(jnp.asarray(steps), chunk))
    return float(np.sum(padded.max(axis=1)) * chunk / np.sum(steps))


def bench_devices(n, args, devices):
    """`jaxmf.sweep(..., devices=devices)` in a subprocess with that many fake CPU devices:
    (points/s, cpu s per point, compile s) or None if it failed."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}"
    ).strip()
    code = (
        "import json, sys, time; sys.path.insert(0, {here!r}); import meanfield_throughput as m; "
        "import argparse; a = argparse.Namespace(**json.loads({args!r})); "
        "base = m.jaxmf.presets.chen_campbell_2022(); eta, wj = m.sweep_points({n}); "
        "run = m.sweep_call(base, eta, wj, a, devices={devices}); t0 = time.perf_counter(); run(); "
        "first = time.perf_counter() - t0; wall, cpu, _ = m._timed(run, 1); "
        "print(json.dumps(dict(wall=wall, cpu=cpu, first=first, n=eta.size)))"
    ).format(
        here=str(HERE),
        args=json.dumps(
            dict(t1=args.t1, save_every=args.save_every, rtol=args.rtol, atol=args.atol)
        ),
        n=n,
        devices=devices,
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1200
        )
        row = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])
    except Exception as e:  # noqa: BLE001 - the extra row must not sink the benchmark
        print(f"  (devices={devices} row failed: {e!r})", flush=True)
        return None
    return row["n"] / row["wall"], row["cpu"] / row["n"], max(row["first"] - row["wall"], 0.0)


def bench_sweep(n, args, summary, previous, base, ts_np):
    eta, wj = sweep_points(n)
    n = eta.size
    e, w = jnp.asarray(eta), jnp.asarray(wj)
    rows = []
    reps = args.batch_repeats if n <= 2000 else 1

    def row(impl, run_s, cpu_s, compile_s, steps, note, points=n):
        return dict(
            impl=impl,
            n=n,
            per_s=points / run_s,
            cpu_pt=cpu_s / points,
            compile_s=compile_s,
            steps=steps,
            note=note,
        )

    t0 = time.perf_counter()
    run = sweep_call(base, eta, wj, args)
    run()
    first = time.perf_counter() - t0
    run_s, cpu_s, (stats_sweep, ds) = _timed(run, reps)
    sweep_row = row(
        "jaxmf.sweep (default)",
        run_s,
        cpu_s,
        max(first - run_s, 0.0),
        "-",
        f"{int(np.sum(ds['status'].values != 'ok'))} failed",
    )
    rows.append(sweep_row)

    vm, comp_s = _compile(jax.vmap(summary), e, w)
    run_s, cpu_s, (stats_full, steps, status) = _timed(
        lambda: jax.block_until_ready(vm(e, w)), reps
    )
    steps = np.asarray(steps)
    steps_note = f"{steps.mean():.0f}/{steps.max():d}"
    stats_full = np.asarray(stats_full)
    sweep_row["steps"] = steps_note
    sweep_row["note"] += (
        f"; |diff| vs vmap {np.max(np.abs(stats_sweep - stats_full) / np.abs(stats_full)):.0e}"
    )
    rows.append(
        row(
            "jax.vmap(solve_meanfield) (whole batch)",
            run_s,
            cpu_s,
            comp_s,
            steps_note,
            f"{int(np.sum(np.asarray(status)))} failed",
        )
    )

    # The previous path (vmapped diffeqsolve in lockstep) in chunks of 512, as the README's
    # earlier table.
    chunk = min(512, n)
    ep, wp = _chunks_of(e, chunk), _chunks_of(w, chunk)
    vp, comp_s = _compile(jax.vmap(previous), ep[0], wp[0])

    def loop_previous():
        outs = [vp(ep[i], wp[i]) for i in range(ep.shape[0])]
        return jax.block_until_ready(jnp.concatenate([o[0] for o in outs])[:n])

    run_s, cpu_s, out = _timed(loop_previous, reps)
    rows.append(
        row(
            f"previous: vmap diffeqsolve, chunks {chunk}",
            run_s,
            cpu_s,
            comp_s,
            steps_note,
            f"|diff| {np.max(np.abs(np.asarray(out) - stats_full) / np.abs(stats_full)):.0e}; "
            f"lockstep waste {lockstep_waste(steps, chunk):.2f}",
        )
    )

    for chunk in args.chunks:
        if chunk >= n:
            continue
        ep, wp = _chunks_of(e, chunk), _chunks_of(w, chunk)
        vc, comp_s = _compile(jax.vmap(summary), ep[0], wp[0])

        def loop():
            outs = [vc(ep[i], wp[i]) for i in range(ep.shape[0])]
            return jax.block_until_ready(jnp.concatenate([o[0] for o in outs])[:n])

        run_s, cpu_s, out = _timed(loop, reps)
        rows.append(
            row(
                f"jaxmf vmap chunks of {chunk} (py loop)",
                run_s,
                cpu_s,
                comp_s,
                steps_note,
                f"|diff| {np.max(np.abs(np.asarray(out) - stats_full)):.0e}",
            )
        )

        lm, comp_s = _compile(
            lambda e, w: jax.lax.map(lambda x: summary(*x), (e, w), batch_size=chunk)[0], e, w
        )
        run_s, cpu_s, out = _timed(lambda: jax.block_until_ready(lm(e, w)), reps)
        rows.append(
            row(
                f"jaxmf lax.map(batch_size={chunk})",
                run_s,
                cpu_s,
                comp_s,
                steps_note,
                f"|diff| {np.max(np.abs(np.asarray(out) - stats_full)):.0e}",
            )
        )

    # Loops over a deterministic subsample, per-point cost extrapolated.
    k = min(n, args.loop_sample)
    idx = np.unique(np.linspace(0, n - 1, k).round().astype(int))
    single, comp_s = _compile(summary, eta[0], wj[0])
    jax.block_until_ready(single(eta[0], wj[0]))
    sub_steps = []
    t0, c0 = time.perf_counter(), time.process_time()
    for i in idx:
        sub_steps.append(int(jax.block_until_ready(single(eta[i], wj[i]))[1]))
    rows.append(
        row(
            "jaxmf loop of single jit solves",
            time.perf_counter() - t0,
            time.process_time() - c0,
            comp_s,
            f"{np.mean(sub_steps):.0f}/{max(sub_steps)}",
            f"extrap. from {idx.size} pts",
            points=idx.size,
        )
    )

    c0 = constants(base)
    diffs, nfev = [], []
    t0, cpu0 = time.perf_counter(), time.process_time()
    for i in idx:
        sol = scipy_solve(
            {**c0, "eta_bar": float(eta[i]), "w_jump": float(wj[i])},
            args.t1,
            ts_np,
            "LSODA",
            args.rtol,
            args.atol,
        )
        r = sol.y[0]
        nfev.append(sol.nfev)
        diffs.append(
            np.max(np.abs(np.array([r.mean(), r.max()]) - stats_full[i]) / np.abs(stats_full[i]))
        )
    lsoda = row(
        "scipy LSODA loop",
        time.perf_counter() - t0,
        time.process_time() - cpu0,
        None,
        f"{np.mean(nfev):.0f}/{max(nfev)} nfev",
        f"extrap. from {idx.size} pts; rel diff {max(diffs):.0e}",
        points=idx.size,
    )
    rows.append(lsoda)
    if args.devices > 1:
        found = bench_devices(n, args, args.devices)
        if found is not None:
            per_s, cpu_pt, comp_s = found
            rows.append(
                dict(
                    impl=f"jaxmf.sweep, devices={args.devices} (fake CPU)",
                    n=n,
                    per_s=per_s,
                    cpu_pt=cpu_pt,
                    compile_s=comp_s,
                    steps="-",
                    note=f"{args.devices} cores: not the headline",
                )
            )
    for r in rows:
        r["ratio"] = r["per_s"] / lsoda["per_s"]
        r["cpu_ratio"] = lsoda["cpu_pt"] / r["cpu_pt"]
    return rows


def _comp(x):
    if x is None:
        return f"{'-':>9s}"
    return f"{'cached':>9s}" if x < 0.05 else f"{x:9.2f}"  # jax reuses an identical earlier compile


def print_sweep(rows):
    n = rows[0]["n"]
    print(f"## (b) sweep, N = {n} (eta_bar x w_jump grid), mean & max r over [t1/2, t1]")
    print(
        f"{'implementation':42s} {'points/s':>10s} {'cpu ms/pt':>9s} {'compile s':>9s} "
        f"{'x LSODA':>8s} {'x cpu':>7s} {'steps mean/max':>19s}  note"
    )
    for r in rows:
        comp = _comp(r["compile_s"])
        print(
            f"{r['impl']:42s} {r['per_s']:10.1f} {1e3 * r['cpu_pt']:9.3f} {comp} "
            f"{r['ratio']:8.2f} {r['cpu_ratio']:7.2f} {r['steps']:>19s}  {r['note']}",
            flush=True,
        )
    print()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t1", type=float, default=1000.0)
    ap.add_argument("--dts", type=float, default=0.5, help="save grid of case (a)")
    ap.add_argument("--rtol", type=float, default=1e-8)
    ap.add_argument("--atol", type=float, default=1e-10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--regimes", nargs="+", default=list(REGIMES), choices=list(REGIMES))
    ap.add_argument("--batches", type=float, nargs="*", default=[1e2, 1e3, 1e4])
    ap.add_argument("--max-batch", type=float, default=1e4, help="skip sweeps larger than this")
    ap.add_argument("--batch-repeats", type=int, default=3, help="(N > 2000: one run)")
    ap.add_argument("--chunks", type=int, nargs="*", default=[])
    ap.add_argument(
        "--sweep-only", action="store_true", help="only section (b), the parameter sweeps"
    )
    ap.add_argument(
        "--save-every",
        type=float,
        default=10.0,
        help="sweep summaries use r saved every this many time units over [t1/2, t1]",
    )
    ap.add_argument("--loop-sample", type=int, default=40, help="points timed in the two loops")
    ap.add_argument(
        "--devices",
        type=int,
        default=1,
        help="also time jaxmf.sweep on this many fake CPU devices (a separate row)",
    )
    ap.add_argument("--no-pyrates", dest="pyrates", action="store_false")
    ap.add_argument("--pyrates-methods", nargs="+", default=["LSODA", "RK45", "DOP853"])
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"jax {jax.__version__} on {jax.devices()[0].platform}, diffrax {diffrax.__version__}, "
        f"float64; t1 = {args.t1}, rtol = {args.rtol}, atol = {args.atol}",
        flush=True,
    )
    grid = np.linspace(0.0, args.t1, int(round(args.t1 / args.dts)), endpoint=False)
    out = {}
    for regime in [] if args.sweep_only else args.regimes:
        rows = bench_public(REGIMES[regime], args)
        print_public(regime, REGIMES[regime], rows)
        out[f"public_{regime}"] = [{k: v for k, v in r.items() if k != "r"} for r in rows]
    for regime in [] if args.sweep_only else args.regimes:
        rows = bench_single(REGIMES[regime], args, grid)
        print_single(regime, REGIMES[regime], rows)
        out[regime] = rows
    base, ts_np, summary = make_summary(args)
    previous = make_summary(args, previous=True)[2]
    for n in (int(x) for x in args.batches):
        if n > args.max_batch:
            print(f"(sweep N = {n} skipped: > --max-batch {int(args.max_batch)})\n")
            continue
        rows = bench_sweep(n, args, summary, previous, base, ts_np)
        print_sweep(rows)
        out[f"sweep_{n}"] = rows
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
