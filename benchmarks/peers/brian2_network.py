"""Brian2 peer for the network throughput benchmark.

Same network and step order as ``numpy_network.py`` / jaxmf.  Run it with the
interpreter of the separate env (``bash benchmarks/peers/setup_brian2_env.sh``):

    benchmarks/.venv-brian2/bin/python benchmarks/peers/brian2_network.py \
        --n 100000 --steps 2000 --dtype float32 --mode cpp_standalone --threads 1

Modes: ``numpy`` and ``cython`` (runtime code generation) and
``cpp_standalone`` (generated C++ project, compiled with g++).  Prints one JSON
line.  ``run_s`` is Brian2's own measurement of the simulation main loop
(``device._last_run_time``): in runtime mode it excludes code generation and
Cython compilation (a short untimed warm-up run compiles/loads everything
first); in cpp_standalone mode it is the loop time the binary measures itself,
while code generation + compilation is ``compile_s`` and the wall time of each
whole binary invocation (process start, loading eta/connectivity, writing
results) is ``binary_wall_s``.

Time is dimensionless in the model; Brian2 needs a time unit, so one model time
unit is mapped onto one second (dt = 1e-3 s, equations divided by ``second``).

How the step order is reproduced (Brian2's default schedule is
state update -> thresholds -> resets):
  * the thresholder of G is moved to ``when='before_groups'``, so spikes are
    decided on v at the start of the step;
  * the Euler right-hand sides are multiplied by ``int(v < v_peak)``; Euler
    evaluates it on the start-of-step v, so exactly the neurons that just
    spiked take no Euler step (v, w unchanged) ...
  * ... and the resetter (``when='resets'``, after the state update) then sets
    v = -v, w += w_jump from their start-of-step values.
Shared synaptic variable s: a one-neuron group S holds ``ds/dt = -s/tau_s``
(forward Euler).  G reads it through a ``(linked)`` variable; Brian2 links a
size-1 source with index "0", i.e. as a scalar loaded once per code-object call,
so there is no per-neuron indirection.  A Synapses object G -> S with one
synapse per neuron adds s_jump/N per spike (cost proportional to spikes, not
to N).  S's state update has order=1, after G's, so G uses the old s.  A
``run_regularly`` on S after the synapses clamps s at 1 (``clip(s, 0, 1)``;
s >= 0 always, so this is min(s, 1)).  Per step this gives exactly
    s_new = min(s - dt*s/tau_s + s_jump*count/N, 1).
The alternatives (a ``(shared)`` variable in G cannot be written from
per-synapse code; a ``(summed)`` variable costs O(N) per step) are worse.
Spikes are counted with ``SpikeMonitor(G, record=False)`` (counts only).
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
from network_model import (
    ALPHA,
    DT,
    E_R,
    G_SYN,
    I_EXT,
    S_JUMP,  # noqa: E402
    TAU_S,
    V_PEAK,
    W_JUMP,
    A,
    B,
    lorentzian_quantiles,
)


def build_network(b2, n: int, dtype):
    """Create the objects in the current (runtime or standalone) device.

    The constants are handed over as numpy scalars of the simulation dtype, so
    that in float32 mode the generated code declares them ``const float`` and
    the arithmetic stays in single precision (with plain Python floats Brian2
    emits ``const double`` and every float32 expression is promoted to double).
    """
    second = b2.second
    c = np.dtype(dtype).type
    ns = dict(
        alpha=c(ALPHA),
        g=c(G_SYN),
        e_r=c(E_R),
        a=c(A),
        b=c(B),
        w_jump=c(W_JUMP),
        s_inc=c(S_JUMP / n),
        tau_s=c(TAU_S) * second,
        I_ext=c(I_EXT),
        v_peak=c(V_PEAK),
    )
    eqs = """
    dv/dt = int(v < v_peak) * (v*(v - alpha) - w + eta + I_ext + g*s*(e_r - v)) / second : 1
    dw/dt = int(v < v_peak) * a*(b*v - w) / second : 1
    eta : 1 (constant)
    s : 1 (linked)
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
    S = b2.NeuronGroup(1, "ds/dt = -s/tau_s : 1", method="euler", namespace=ns, order=1, name="S")
    G.s = b2.linked_var(S, "s")
    G.eta = lorentzian_quantiles(n)
    syn = b2.Synapses(G, S, on_pre="s_post += s_inc", namespace=ns, name="syn")
    syn.connect(i=np.arange(n), j=np.zeros(n, dtype=np.int32))
    clamp = S.run_regularly("s = clip(s, 0, 1)", when="after_synapses", name="clamp")
    mon = b2.SpikeMonitor(G, record=False, name="mon")
    net = b2.Network(G, S, syn, clamp, mon)
    return net, G, S, mon


def run_runtime(b2, args) -> dict:
    b2.prefs.codegen.target = args.mode
    t0 = time.perf_counter()
    net, G, S, mon = build_network(b2, args.n, args.dtype)
    net.store("init")
    # untimed warm-up: generates code and compiles (cython) / loads modules
    net.run(args.warmup_steps * DT * b2.second)
    setup_s = time.perf_counter() - t0
    run_s, call_s = [], []
    for _ in range(args.repeats):
        net.restore("init")
        t1 = time.perf_counter()
        net.run(args.steps * DT * b2.second)
        call_s.append(time.perf_counter() - t1)
        run_s.append(b2.device._last_run_time)
    total = int(np.sum(mon.count[:]))
    return dict(setup_s=setup_s, run_s=run_s, run_call_wall_s=call_s, total_spikes=total)


def run_standalone(b2, args) -> dict:
    b2.prefs.devices.cpp_standalone.openmp_threads = args.threads
    directory = args.build_dir or tempfile.mkdtemp(prefix="brian2_network_")
    t0 = time.perf_counter()
    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    net, G, S, mon = build_network(b2, args.n, args.dtype)
    net.run(args.steps * DT * b2.second)
    t1 = time.perf_counter()
    b2.device.build(directory=directory, compile=True, run=False, with_output=False)
    compile_s = time.perf_counter() - t1
    setup_s = t1 - t0
    run_s, wall_s = [], []
    for _ in range(args.repeats):
        b2.device.run(directory=directory, with_output=False, run_args=[])
        run_s.append(float(b2.device._last_run_time))
        wall_s.append(float(b2.device.timers["run_binary"]))
    total = int(np.sum(mon.count[:]))
    if not args.build_dir and not args.keep:
        shutil.rmtree(directory, ignore_errors=True)
    return dict(
        setup_s=setup_s,
        compile_s=compile_s,
        run_s=run_s,
        binary_wall_s=wall_s,
        total_spikes=total,
        threads=args.threads,
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Brian2 peer for the network benchmark")
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument(
        "--mode", choices=["numpy", "cython", "cpp_standalone"], default="cpp_standalone"
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="cpp_standalone: prefs.devices.cpp_standalone.openmp_threads "
        "(0 = no OpenMP, 1 = the project's 'one core' setting)",
    )
    p.add_argument(
        "--warmup-steps",
        type=int,
        default=10,
        help="runtime modes: untimed steps that trigger code generation",
    )
    p.add_argument(
        "--build-dir", default=None, help="cpp_standalone project directory (default: a temp dir)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temp build dir")
    args = p.parse_args(argv)

    import brian2 as b2

    b2.prefs.core.default_float_dtype = np.float32 if args.dtype == "float32" else np.float64
    b2.defaultclock.dt = DT * b2.second
    b2.BrianLogger.log_level_warn()

    if args.mode == "cpp_standalone":
        res = run_standalone(b2, args)
    else:
        res = run_runtime(b2, args)

    med = statistics.median(res["run_s"])
    out = {
        "peer": "brian2",
        "mode": args.mode if args.mode != "cpp_standalone" else f"cpp_standalone_omp{args.threads}",
        "n": args.n,
        "steps": args.steps,
        "dtype": args.dtype,
        "setup_s": round(res.pop("setup_s"), 4),
        "run_s": [round(x, 6) for x in res.pop("run_s")],
        "neuron_steps_per_s": args.n * args.steps / med,
        "mean_rate": res["total_spikes"] / (args.n * args.steps * DT),
    }
    for k, v in res.items():
        out[k] = (
            [round(x, 6) for x in v]
            if isinstance(v, list)
            else (round(v, 4) if isinstance(v, float) else v)
        )
    out["brian2"] = b2.__version__
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
