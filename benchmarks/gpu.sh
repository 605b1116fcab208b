#!/usr/bin/env bash
# One GPU run of jaxmf: network throughput at N = 1e6, 1e7, 1e8 (float32), a 1e5-point mean-field
# sweep and a 256-start fit, printed as one table. Under 8 minutes on one H200.
#
#   bash benchmarks/gpu.sh            # on the GPU machine (jax with CUDA, diffrax, equinox, optax,
#                                     # optimistix, xarray preinstalled; no package registry)
#   bash benchmarks/gpu.sh --smoke    # tiny sizes, any machine (CPU included): checks the script
#   PYTHON=/path/to/python bash benchmarks/gpu.sh [--no-install] [--smoke]
#
# jaxmf is installed with `pip install --no-deps --no-build-isolation --no-index -e .`, so pip
# neither resolves dependencies nor fetches a build backend: it uses the interpreter's
# setuptools (where that fails, the checkout goes on PYTHONPATH instead).
# No compiler options are passed on GPU (the CPU-only vector-width flag of jaxmf.network is
# chosen only when the backend is the CPU).
#
# Network bytes per neuron-step: 20 B in float32, i.e. v, w and the excitability eta read and
# v, w written once per step (5 words of 4 B); the bandwidth column is
# neuron-steps/s * 20 B / 4.3 TB/s (the H200's HBM3e peak). Fusing several steps into one pass
# (the scan is unrolled by 3) can move fewer bytes, so the fraction may exceed what the copy
# bandwidth alone allows.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
py="${PYTHON:-python3}"
smoke=0
install=1
for arg in "$@"; do
    case "$arg" in
        --smoke) smoke=1 ;;
        --no-install) install=0 ;;
        *) echo "usage: bash benchmarks/gpu.sh [--smoke] [--no-install]" >&2; exit 2 ;;
    esac
done
if [ "$install" = 1 ]; then
    # A setuptools too old for pyproject's license field fails the build: then import jaxmf
    # from the checkout itself (it is pure Python).
    log="${TMPDIR:-/tmp}/jaxmf_pip.log"
    if ! "$py" -m pip install --quiet --no-deps --no-build-isolation --no-index -e . >"$log" 2>&1; then
        echo "pip install -e . failed (see $log); using PYTHONPATH=$PWD" >&2
        export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
    fi
fi
SMOKE="$smoke" "$py" - <<'PY'
import os
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)  # the fits and sweeps below pick float32/64 explicitly
import jax.numpy as jnp
import numpy as np
import optimistix as optx

import jaxmf
from jaxmf import network as nw

SMOKE = os.environ.get("SMOKE") == "1"
HBM_BYTES_PER_S = 4.3e12
BYTES_PER_NEURON_STEP = 20  # float32: read v, w, eta; write v, w
dev = jax.devices()[0]
print(f"# jaxmf {jaxmf.__version__}, jax {jax.__version__}, {dev.platform}: {dev.device_kind}"
      f"{' (smoke sizes)' if SMOKE else ''}", flush=True)
rows = []
started = time.perf_counter()


def timed(fn, repeats):
    """(median run s, compile s = first call - median, last output)."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    run = statistics.median(times)
    return run, max(first - run, 0.0), out


def network(n, scheme, dt, neuron_steps):
    p = jaxmf.presets.bursting()
    net = nw.make_network(p, n, dtype=jnp.float32)
    state = nw.init(net, dtype=jnp.float32)
    record_every = 100
    n_records = max(1, int(neuron_steps // (n * record_every)))

    def f(p, st):
        return nw.run(p, net, st, dt=dt, n_records=n_records, record_every=record_every,
                      scheme=scheme)

    t0 = time.perf_counter()
    compiled = jax.jit(f, compiler_options=nw._compiler_options()).lower(p, state).compile()
    compile_s = time.perf_counter() - t0
    run, _, (_, rec) = timed(lambda: compiled(p, state), 2)
    rate = n * n_records * record_every / run
    name = type(scheme).__name__
    rows.append((f"network {name}", f"N={n:.0e}", compile_s, run,
                 f"{rate:.3e} neuron-steps/s",
                 f"{100 * rate * BYTES_PER_NEURON_STEP / HBM_BYTES_PER_S:.1f}% of 4.3 TB/s",
                 f"rate {float(jnp.mean(rec.r)):.4f}"))
    print(rows[-1], flush=True)


sizes = (10**3, 10**4) if SMOKE else (10**6, 10**7, 10**8)
budget = 2e7 if SMOKE else 2e11
for n in sizes:
    network(n, nw.EulerReset(), 1e-3, budget)
    network(n, nw.MobiusPassage(), 1.6e-2, budget / 4)

# Mean-field sweep: eta_bar x w_jump, regime and mean rate at every point.
side = 10 if SMOKE else 317  # 317^2 = 100489 points
grid = jaxmf.Grid.product(eta_bar=np.linspace(0.0, 0.3, side), w_jump=np.linspace(0.0, 0.04, side))
p = jaxmf.presets.chen_campbell_2022()


def one_sweep():
    return jaxmf.sweep(p, grid, "meanfield", t1=400.0 if SMOKE else 2000.0, progress=False)


t0 = time.perf_counter()
ds = one_sweep()
first = time.perf_counter() - t0
if first < 90:  # time a second, compiled sweep when the budget allows
    t0 = time.perf_counter()
    ds = one_sweep()
    wall = time.perf_counter() - t0
    compile_s, note = max(first - wall, 0.0), ""
else:
    wall, compile_s, note = first, float("nan"), " (compile included)"
bursting = int((np.asarray(ds["regime"].values).astype(str) == "bursting").sum())
rows.append(("meanfield sweep", f"{side * side} points", compile_s, wall,
             f"{side * side / wall:.3e} points/s{note}", f"{bursting} bursting", ""))
print(rows[-1], flush=True)

# 256-start Levenberg-Marquardt fit of (eta_bar, w_jump) to a bursting mean-field trace.
starts = 8 if SMOKE else 256
t1 = 200.0 if SMOKE else 600.0
truth = jaxmf.presets.bursting()
ts = jnp.linspace(0.0, t1, int(t1 / 0.5) + 1)
sim = jaxmf.solve_meanfield(truth, t1, ts=ts, rtol=1e-10, atol=1e-12)
target = jaxmf.BurstTarget.from_trace(sim.t, sim.r, transient=t1 / 4)
solver = optx.LevenbergMarquardt(rtol=1e-6, atol=1e-9)
steps = 5 if SMOKE else 40


def one_fit():
    return jaxmf.fit(truth.replace(eta_bar=0.13, w_jump=0.017), target, n_starts=starts,
                     optimizer=solver, steps=steps, tol=1e-8, patience=5)


run, compile_s, res = timed(one_fit, 1)
rows.append(("fit (LM, mean field)", f"{starts} starts", compile_s, run,
             f"{starts / run:.3e} starts/s",
             f"best eta_bar {float(res.best_params.eta_bar[0]):.5f} (truth 0.12)", ""))
print(rows[-1], flush=True)

print(f"\n{'benchmark':28s} {'size':>14s} {'compile s':>9s} {'run s':>8s}  result")
for name, size, comp, run, *rest in rows:
    print(f"{name:28s} {size:>14s} {comp:9.2f} {run:8.3f}  " + "; ".join(x for x in rest if x))
print(f"total {time.perf_counter() - started:.0f} s")
PY
