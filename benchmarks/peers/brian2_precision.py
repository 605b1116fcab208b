"""Brian2 peer for the work-precision benchmark (benchmarks/work_precision.py).

The network of ``brian2_network.py`` (same step order as jaxmf's EulerReset) at a given dt, t1 and
eta_bar, in cpp_standalone mode with one thread, recording what the benchmark compares: the
population rate per recording bin (a PopulationRateMonitor, averaged over the bin's steps) and
<w> over the neurons with |v| <= v_peak at the start of each bin (times `w_t`; two summed
variables of a Synapses object on the bin's clock, so the O(N) sum costs once per bin, not per
step). Prints one JSON line with the
loop time Brian2 measures itself (``run_s``), the code generation + compilation time
(``compile_s``) and the recorded traces. Run it with the interpreter of the Brian2 env
(``bash benchmarks/peers/setup_brian2_env.sh``):

    benchmarks/.venv-brian2/bin/python benchmarks/peers/brian2_precision.py \
        --n 10000 --t1 600 --dt 2.5e-3 --eta-bar 0.25 --bin 0.8
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from brian2_network import build_network  # noqa: E402
from network_model import ETA_BAR, V_PEAK, lorentzian_quantiles  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Brian2 peer for the work-precision benchmark")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--t1", type=float, default=600.0)
    p.add_argument("--dt", type=float, default=1e-3)
    p.add_argument("--eta-bar", type=float, default=ETA_BAR)
    p.add_argument("--bin", type=float, default=0.8, help="recording bin (time units)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1, help="binary runs; run_s is their median")
    args = p.parse_args(argv)
    steps_per_bin = int(round(args.bin / args.dt))
    n_bins = int(round(args.t1 / args.bin))

    import brian2 as b2

    b2.prefs.core.default_float_dtype = np.float32 if args.dtype == "float32" else np.float64
    b2.prefs.devices.cpp_standalone.openmp_threads = args.threads
    b2.BrianLogger.log_level_warn()
    directory = tempfile.mkdtemp(prefix="brian2_precision_")
    try:
        t0 = time.perf_counter()
        b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
        b2.defaultclock.dt = args.dt * b2.second
        net, G, S, _ = build_network(b2, args.n, args.dtype)
        G.eta = lorentzian_quantiles(args.n) - ETA_BAR + args.eta_bar
        bin_dt = args.bin * b2.second
        acc = b2.NeuronGroup(1, "wsum : 1\nnin : 1", dt=bin_dt, name="acc")
        inside = f"int(abs(v_pre) <= {V_PEAK!r})"
        summer = b2.Synapses(
            G,
            acc,
            f"wsum_post = w_pre * {inside} : 1 (summed)\nnin_post = {inside} : 1 (summed)",
            dt=bin_dt,
            name="summer",
        )
        summer.connect(i=np.arange(args.n), j=np.zeros(args.n, dtype=np.int32))
        w_mon = b2.StateMonitor(acc, ["wsum", "nin"], record=0, dt=bin_dt, when="end")
        rate_mon = b2.PopulationRateMonitor(G)
        net.add(acc, summer, w_mon, rate_mon)
        net.run(n_bins * steps_per_bin * args.dt * b2.second)
        t1 = time.perf_counter()
        b2.device.build(directory=directory, compile=True, run=False, with_output=False)
        compile_s = time.perf_counter() - t1
        runs = []
        for _ in range(max(1, args.repeats)):
            b2.device.run(directory=directory, with_output=False, run_args=[])
            runs.append(float(b2.device._last_run_time))
        run_s = float(np.median(runs))
        rate_steps = np.asarray(rate_mon.rate_)[: n_bins * steps_per_bin]
        rate = rate_steps.reshape(n_bins, steps_per_bin).mean(axis=1)
        w_mean = np.asarray(w_mon.wsum[0]) / np.maximum(np.asarray(w_mon.nin[0]), 1)
        out = dict(
            peer="brian2",
            mode=f"cpp_standalone_omp{args.threads}",
            n=args.n,
            dt=args.dt,
            t1=args.t1,
            eta_bar=args.eta_bar,
            dtype=args.dtype,
            setup_s=round(t1 - t0, 4),
            compile_s=round(compile_s, 4),
            run_s=run_s,
            runs_s=runs,
            bin=args.bin,
            rate=rate.tolist(),
            w_mean=w_mean[:n_bins].tolist(),
            w_t=np.asarray(w_mon.t_)[:n_bins].tolist(),
            brian2=b2.__version__,
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
