"""Brian2 peer for `benchmarks/sparse.py`: the sparsely coupled network, read from a file.

Run it with the interpreter of Brian2's own env (``bash benchmarks/peers/setup_brian2_env.sh``):

    benchmarks/.venv-brian2/bin/python benchmarks/peers/brian2_sparse.py \\
        --connectivity /tmp/net.npz --t1 10 --eta-bar 0.25 --dtype float32

The file (written by ``benchmarks/sparse.py``) holds int32 arrays ``pre``, ``post`` (one entry
per synapse) and ``n``; jaxmf simulates the same synapses (`jaxmf.connectivity.Connections`).
cpp_standalone, one thread. Prints one JSON line: ``run_s`` is the main-loop time the binary
measures (median of ``--repeats`` runs of the same binary), code generation + g++ is
``compile_s``, the binary's whole wall time (loading the 10^8 synapses included) is
``binary_wall_s``.

The step is jaxmf's EulerReset step with per-neuron synaptic variables, in Brian2's schedule:
the thresholder runs before the state update (spikes are decided on the start-of-step v), the
Euler right-hand sides of v and w are gated by ``int(v < v_peak)`` (a spiking neuron takes no
Euler step), s decays by Euler for every neuron, the synapses then add s_jump / K per spike to
their target, clipped at 1 (with non-negative increments that equals jaxmf's
min(s - dt s / tau_s + jump, 1)), and the resetter sets v = -v, w += w_jump. One model time unit
is one second of Brian2 time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from network_model import (  # noqa: E402
    ALPHA,
    E_R,
    ETA_BAR,
    G_SYN,
    I_EXT,
    S_JUMP,
    TAU_S,
    V_PEAK,
    W_JUMP,
    A,
    B,
    lorentzian_quantiles,
)


def build(b2, pre, post, n, k_mean, eta_bar, dtype):
    c = np.dtype(dtype).type
    ns = dict(
        alpha=c(ALPHA),
        g=c(G_SYN),
        e_r=c(E_R),
        a=c(A),
        b=c(B),
        w_jump=c(W_JUMP),
        s_inc=c(S_JUMP / k_mean),
        tau_s=c(TAU_S) * b2.second,
        I_ext=c(I_EXT),
        v_peak=c(V_PEAK),
    )
    eqs = """
    dv/dt = int(v < v_peak) * (v*(v - alpha) - w + eta + I_ext + g*s*(e_r - v)) / second : 1
    dw/dt = int(v < v_peak) * a*(b*v - w) / second : 1
    ds/dt = -s/tau_s : 1
    eta : 1 (constant)
    """
    G = b2.NeuronGroup(
        n,
        eqs,
        threshold="v >= v_peak",
        reset="v = -v; w += w_jump",
        method="euler",
        namespace=ns,
        name="G",
    )
    G.thresholder["spike"].when = "before_groups"
    G.eta = lorentzian_quantiles(n) - ETA_BAR + eta_bar
    syn = b2.Synapses(G, G, on_pre="s_post = clip(s_post + s_inc, 0, 1)", namespace=ns, name="syn")
    syn.connect(i=pre, j=post)
    mon = b2.SpikeMonitor(G, record=False, name="mon")
    return b2.Network(G, syn, mon), mon


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Brian2 peer of benchmarks/sparse.py")
    p.add_argument("--connectivity", required=True, help=".npz with pre, post, n")
    p.add_argument("--t1", type=float, default=10.0)
    p.add_argument("--dt", type=float, default=1e-3)
    p.add_argument("--eta-bar", type=float, default=0.25)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--build-dir", default=None)
    args = p.parse_args(argv)

    import brian2 as b2

    b2.prefs.core.default_float_dtype = np.float32 if args.dtype == "float32" else np.float64
    b2.prefs.devices.cpp_standalone.openmp_threads = 1
    b2.defaultclock.dt = args.dt * b2.second
    b2.BrianLogger.log_level_warn()
    with np.load(args.connectivity) as f:
        pre, post, n = f["pre"], f["post"], int(f["n"])
    k_mean = pre.size / n
    directory = args.build_dir or tempfile.mkdtemp(prefix="brian2_sparse_")
    t0 = time.perf_counter()
    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    net, mon = build(b2, pre, post, n, k_mean, args.eta_bar, args.dtype)
    del pre, post
    net.run(args.t1 * b2.second)
    t1 = time.perf_counter()
    b2.device.build(directory=directory, compile=True, run=False, with_output=False)
    compile_s = time.perf_counter() - t1
    run_s, wall_s = [], []
    for _ in range(args.repeats):
        b2.device.run(directory=directory, with_output=False, run_args=[])
        run_s.append(float(b2.device._last_run_time))
        wall_s.append(float(b2.device.timers["run_binary"]))
    spikes = int(np.sum(mon.count[:]))
    if not args.build_dir:
        shutil.rmtree(directory, ignore_errors=True)
    steps = int(round(args.t1 / args.dt))
    med = statistics.median(run_s)
    print(
        json.dumps(
            {
                "peer": "brian2_cpp_standalone_omp1",
                "n": n,
                "synapses": int(round(k_mean * n)),
                "steps": steps,
                "dtype": args.dtype,
                "setup_s": round(t1 - t0, 3),
                "compile_s": round(compile_s, 3),
                "run_s": [round(x, 4) for x in run_s],
                "binary_wall_s": [round(x, 3) for x in wall_s],
                "neuron_steps_per_s": n * steps / med,
                "synaptic_events_per_s": spikes * k_mean / med,
                "spikes": spikes,
                "mean_rate": spikes / (n * args.t1),
                "brian2": b2.__version__,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
