"""Sparse coupling throughput: jaxmf beside Brian2 cpp_standalone on the identical network.

    python benchmarks/sparse.py                          # N = 10^5, K = 1000 (10^8 synapses)
    python benchmarks/sparse.py --n 10000 --k 100 --t1 5 # a quick look

The synapses are drawn once (`jaxmf.connectivity.FixedInDegree(k).pairs`), written to one .npz
file, and both simulators read that file: jaxmf as `Connections(pre, post)`, Brian2
(`benchmarks/peers/brian2_sparse.py`, one thread) through ``Synapses.connect(i=pre, j=post)``.
Same EulerReset step, dt, t1, float dtype and excitabilities (Lorentzian quantiles), both from
rest; the mean rates printed must agree to finite-size accuracy (the two sum a step's jumps in a
different order, so spike trains drift apart after a while). Throughput is neuron-steps per
second and synaptic events (spikes x out-degree) per second of the main loop, the median of
`--repeats` runs; compilation and the connectivity's construction are reported separately.

Where a step goes (N = 10^5, K = 1000, ~20 spikes per step; `jax.profiler` median per op on one
core, session 6, us per step): neuron update v ~18 and w ~7, per-neuron synapse update ~10, the
loop's copies of v, w and s_ik ~15, spike flags ~5, zeroing the counts ~4, the spiking neurons'
target rows (one dynamic slice each, spike_batch = 8 per pass, ~3 passes) ~12, scatter-add ~15,
search and pass bookkeeping ~30 (about 25 small ops per pass). Session 6 took the rows by slices
instead of one gather (XLA's CPU gather works out an index per element: ~42 -> ~12), search
blocks of a divisor of N (no padded copy of the mask: ~10 -> ~5), `simulate_network`'s compiler
options (512-bit vectors; copy insertion with region analysis) and spike_batch 8: CPU time per
step of this run (one core, same process, interleaved) 134 -> 88 us, bit-identical states and
spike counts. Before session 5 the 3-step unroll made each step recompute the previous step's
neuron update in four fusions (~80 us each) and the contiguous search blocks needed ~2.5
passes (~100 us each).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxmf
import jaxmf.network as nw
from jaxmf.connectivity import Connections, FixedInDegree, build_coupling
from jaxmf.network import STATE_WORDS_PER_NEURON, Network, init, make_network, run

HERE = Path(__file__).resolve().parent
BRIAN_PY = HERE / ".venv-brian2" / "bin" / "python"


def run_jaxmf(pre, post, n, args):
    dtype = jnp.dtype(args.dtype)
    params = jaxmf.presets.bursting(eta_bar=args.eta_bar)
    t0 = time.perf_counter()
    coupling = build_coupling(Connections(pre, post, spike_batch=args.spike_batch), (n,))
    build_s = time.perf_counter() - t0
    base = make_network(params, n, dtype=dtype)
    network = Network(sizes=base.sizes, z=base.z, coupling=coupling)
    state = init(network, dtype=dtype)
    steps = int(round(args.t1 / args.dt))
    record_every = 1000 if steps % 1000 == 0 else steps
    # Compiled as `simulate_network` compiles its runs (the same XLA options).
    f = jax.jit(
        lambda net, st: run(
            params, net, st, dt=args.dt, n_records=steps // record_every, record_every=record_every
        ),
        compiler_options=nw._compiler_options(),
    )
    t0 = time.perf_counter()
    compiled = f.lower(network, state).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        _, rec = compiled(network, state)
        jax.block_until_ready(rec)
        times.append(time.perf_counter() - t0)
    spikes = float(np.sum(np.asarray(rec.r)) * n * args.dt * record_every)
    med = statistics.median(times)
    k_mean = pre.size / n
    return {
        "build_s": build_s,
        "compile_s": compile_s,
        "run_s": times,
        "neuron_steps_per_s": n * steps / med,
        "synaptic_events_per_s": spikes * k_mean / med,
        "mean_rate": spikes / (n * args.t1),
        "table_bytes": coupling.nbytes,
        "state_bytes": n * dtype.itemsize * (STATE_WORDS_PER_NEURON + 2),
    }


def run_brian2(path, args):
    cmd = [
        str(BRIAN_PY),
        str(HERE / "peers" / "brian2_sparse.py"),
        "--connectivity",
        str(path),
        "--t1",
        str(args.t1),
        "--dt",
        str(args.dt),
        "--eta-bar",
        str(args.eta_bar),
        "--dtype",
        args.dtype,
        "--repeats",
        str(args.repeats),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        print(f"brian2 failed:\n{out.stderr[-1500:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--t1", type=float, default=20.0)
    ap.add_argument("--dt", type=float, default=1e-3)
    ap.add_argument("--eta-bar", type=float, default=0.25)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--spike-batch", type=int, default=8)
    ap.add_argument("--no-brian2", action="store_true")
    args = ap.parse_args(argv)
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)

    t0 = time.perf_counter()
    pre, post = FixedInDegree(args.k).pairs((args.n,), jax.random.key(0))
    draw_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="jaxmf_sparse_") as folder:
        path = Path(folder) / "connectivity.npz"
        np.savez(path, pre=pre, post=post, n=np.int64(args.n))
        ours = run_jaxmf(pre, post, args.n, args)
        del pre, post
        peer = None
        if not args.no_brian2:
            if BRIAN_PY.exists():
                peer = run_brian2(path, args)
            else:
                print("(Brian2 skipped: run benchmarks/peers/setup_brian2_env.sh)", file=sys.stderr)

    load = os.getloadavg()[0]
    print(
        f"N = {args.n}, K = {args.k} ({args.n * args.k:.3g} synapses), dt = {args.dt:g}, "
        f"t1 = {args.t1:g} ({int(round(args.t1 / args.dt))} steps), eta_bar = {args.eta_bar}, "
        f"{args.dtype}, EulerReset, from rest; median of {args.repeats}; "
        f"{os.cpu_count()} CPU cores, load average {load:.1f}"
    )
    print(
        f"connectivity drawn in {draw_s:.1f} s; jaxmf target tables built in "
        f"{ours['build_s']:.1f} s, {ours['table_bytes'] / 2**20:.0f} MiB "
        f"(4 B per synapse + padding), network state {ours['state_bytes'] / 2**20:.1f} MiB"
    )
    rows = [
        ("neuron-steps/s", "neuron_steps_per_s", "{:.3g}"),
        ("synaptic events/s", "synaptic_events_per_s", "{:.3g}"),
        ("main loop (s)", None, "{:.3f}"),
        ("compile (s)", "compile_s", "{:.1f}"),
        ("mean rate", "mean_rate", "{:.5f}"),
    ]
    print("| | jaxmf | Brian2 cpp_standalone (1 thread) | jaxmf / Brian2 |")
    print("|---|---|---|---|")
    for label, key, fmt in rows:
        a = statistics.median(ours["run_s"]) if key is None else ours[key]
        b = None
        if peer is not None:
            b = statistics.median(peer["run_s"]) if key is None else peer.get(key)
        ratio = ""
        if b and key in ("neuron_steps_per_s", "synaptic_events_per_s"):
            ratio = f"{a / b:.2f}"
        elif b and key is None:
            ratio = f"{b / a:.2f}"
        print(f"| {label} | {fmt.format(a)} | {'-' if b is None else fmt.format(b)} | {ratio} |")
    if peer is not None:
        print(
            f"Brian2: code generation {peer['setup_s']:.1f} s, g++ {peer['compile_s']:.1f} s, "
            f"whole binary (loading the synapses included) {min(peer['binary_wall_s']):.1f} s"
        )
    print(json.dumps({"jaxmf": ours, "brian2": peer}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
