"""Network throughput: neuron-steps per second, jaxmf beside peers measured in the same run.

    python benchmarks/network_throughput.py [--sizes 1e4 1e5 1e6] [--repeats 5] [--no-peers]

jaxmf runs the paper's network (eta_bar = 0.12, deterministic Lorentzian quantiles, dt = 1e-3,
v_peak = 200, all-to-all conductance synapse) with `jaxmf.network.run` under jit: compile time is
measured separately (`.lower().compile()`), run time is the median of `--repeats` runs. Peers
simulate the identical network: an in-place vectorised NumPy loop
(benchmarks/peers/numpy_network.py) and Brian2 (runtime numpy/cython and cpp_standalone), the
latter from its own environment (benchmarks/peers/setup_brian2_env.sh) because Brian2 2.9 does not
import with numpy >= 2.4.
The ratio column is jaxmf's throughput over Brian2 cpp_standalone's at the same N and dtype.

Memory traffic of one Euler step is about 5 words per neuron (read v, w, eta; write v, w): 20 B in
float32, 40 B in float64. Once the state leaves the last-level cache the copy bandwidth bounds the
throughput at bandwidth / (20 B); below that the step is compute bound.
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

import jaxmf  # noqa: E402
from jaxmf import network as nw  # noqa: E402

HERE = Path(__file__).resolve().parent
BRIAN_PY = HERE / ".venv-brian2" / "bin" / "python"


def steps_for(n: int, budget: float = 1e9) -> int:
    return int(max(2000, min(200_000, budget // n)) // 100 * 100)


def bench_jaxmf(n, dtype, scheme, repeats, batch=None):
    p = jaxmf.presets.bursting()
    if batch:
        p = jaxmf.stack_params([p.replace(eta_bar=0.10 + 0.01 * i) for i in range(batch)])
    net = nw.make_network(jaxmf.params.first_params(p), n, dtype=dtype)
    state = nw.init(net, dtype=dtype)
    if batch:
        state = jax.tree.map(lambda x: jnp.broadcast_to(x, (batch, *x.shape)), state)
    steps = steps_for(n * (batch or 1))
    record_every = 100

    def f(p, st):
        return nw._run_maybe_batched(
            p,
            net,
            st,
            1e-3,
            None,
            (),
            scheme,
            n_records=steps // record_every,
            record_every=record_every,
            batched=bool(batch),
        )

    t0 = time.perf_counter()
    compiled = jax.jit(f, compiler_options=nw._compiler_options()).lower(p, state).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):  # every repeat from the same initial state, as the peers do
        t0 = time.perf_counter()
        _, rec = compiled(p, state)
        jax.block_until_ready(rec)
        times.append(time.perf_counter() - t0)
    rate = float(jnp.mean(rec.r))
    return dict(
        peer=f"jaxmf {type(scheme).__name__}" + (f" vmap x{batch}" if batch else ""),
        n=n * (batch or 1),
        steps=steps,
        dtype=jnp.dtype(dtype).name,
        compile_s=compile_s,
        neuron_steps_per_s=n * (batch or 1) * steps / statistics.median(times),
        mean_rate=rate,
    )


def run_peer(python, script, args):
    cmd = [str(python), str(HERE / "peers" / script), *args]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return None
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        print(f"  peer failed: {' '.join(cmd)}\n  {out.stderr.strip()[-400:]}", file=sys.stderr)
        return None
    row = json.loads(lines[-1])
    runs = row.get("run_s") or []
    row["compile_s"] = row.get("compile_s", row.get("setup_s", float("nan")))
    if runs and "neuron_steps_per_s" not in row:
        row["neuron_steps_per_s"] = row["n"] * row["steps"] / statistics.median(runs)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5, 1e6])
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--brian-modes", nargs="+", default=["cpp_standalone", "cython", "numpy"])
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"jax {jax.__version__} on {jax.devices()[0].platform}",
        flush=True,
    )
    rows = []
    for n in (int(x) for x in args.sizes):
        for dtype in args.dtypes:
            dt = jnp.float32 if dtype == "float32" else jnp.float64
            group = [
                bench_jaxmf(n, dt, jaxmf.EulerReset(), args.repeats),
                bench_jaxmf(n, dt, jaxmf.ExactPassage(), args.repeats),
                bench_jaxmf(n, dt, nw.MobiusPassage(), args.repeats),
            ]
            if n <= 1e5:
                group.append(bench_jaxmf(n, dt, jaxmf.EulerReset(), args.repeats, batch=8))
            steps = str(group[0]["steps"])
            if not args.no_peers:
                peer_args = [
                    "--n",
                    str(n),
                    "--steps",
                    steps,
                    "--dtype",
                    dtype,
                    "--repeats",
                    str(min(args.repeats, 3)),
                ]
                row = run_peer(sys.executable, "numpy_network.py", peer_args)
                group += [row] if row else []
                if BRIAN_PY.exists():
                    for mode in args.brian_modes:
                        if mode == "numpy" and n > 1e5:
                            continue  # minutes per point, and far behind
                        row = run_peer(BRIAN_PY, "brian2_network.py", [*peer_args, "--mode", mode])
                        group += [row] if row else []
                else:
                    print(
                        "  (Brian2 skipped: run benchmarks/peers/setup_brian2_env.sh first)",
                        file=sys.stderr,
                    )
            ref = next((r for r in group if "cpp_standalone" in str(r.get("mode", ""))), None)
            for r in group:
                r.setdefault("dtype", dtype)
                r["vs_brian2_cpp"] = (
                    (r["neuron_steps_per_s"] / ref["neuron_steps_per_s"]) if ref else None
                )
            rows += group
            print_table(group)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


def print_table(rows):
    print(
        f"{'implementation':38s} {'N':>9s} {'dtype':>7s} {'steps':>7s} {'neuron-steps/s':>15s} "
        f"{'compile s':>9s} {'mean rate':>9s} {'x Brian2 cpp':>12s}"
    )
    for r in rows:
        name = r["peer"] + (f" {r['mode']}" if r.get("mode") else "")
        ratio = f"{r['vs_brian2_cpp']:.2f}" if r.get("vs_brian2_cpp") else "-"
        print(
            f"{name:38s} {r['n']:9d} {r['dtype']:>7s} {r['steps']:7d} "
            f"{r['neuron_steps_per_s']:15.3e} {r.get('compile_s', float('nan')):9.2f} "
            f"{r.get('mean_rate', float('nan')):9.4f} {ratio:>12s}",
            flush=True,
        )
    print()


if __name__ == "__main__":
    main()
