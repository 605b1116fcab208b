"""In-place, vectorised NumPy peer for the network throughput benchmark.

Simulates the all-to-all QIF/Izhikevich network with adaptation and a single
shared synaptic variable ``s`` (see ``benchmarks/peers/README.md``), forward
Euler, and prints one JSON line to stdout.

Step order (identical to jaxmf / the Brian2 peer):
    spiking = v >= v_peak                       (v at the start of the step)
    non-spiking: v += dt*(v*(v-alpha) - w + eta + I_ext + g*s*(e_r - v))
                 w += dt*a*(b*v - w)             (old v, w, s)
    spiking:     v = -v ; w += w_jump            (no Euler step)
    s = min(s - dt*s/tau_s + s_jump*count/N, 1)

Speed: single process, no Python loop over neurons, every array operation
writes into a preallocated buffer (``out=``).  Two exact algebraic rewrites cut
the number of passes over memory per step to 9 elementwise ufuncs + the
threshold compare + ``flatnonzero``:
  * the adaptation is stored pre-multiplied by dt (W = dt*w) and eta as
    E = dt*eta, so no separate "*dt" pass is needed;
  * v*(1) + dt*(v*(v - c)) is evaluated as v*(dt*v + (1 - dt*c)), where
    c = alpha + g*s and the constant dt*(g*s*e_r + I_ext) is added separately.
Every neuron takes the Euler step; the (few) spiking neurons are then
overwritten with their reset values computed from the saved start-of-step v, w.
So the spiking neurons take no Euler step, as required.  ``s`` is kept as a
Python float (float64) scalar; arrays are in the requested dtype.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
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

G = G_SYN


class Network:
    def __init__(self, n: int, dtype) -> None:
        self.n = n
        self.dtype = np.dtype(dtype)
        dt = DT
        self.E = (dt * lorentzian_quantiles(n)).astype(self.dtype)  # dt*eta
        self.v = np.zeros(n, self.dtype)
        self.W = np.zeros(n, self.dtype)  # dt*w
        self.t = np.empty(n, self.dtype)  # scratch
        self.t2 = np.empty(n, self.dtype)  # scratch
        self.spk = np.empty(n, np.bool_)
        self.s = 0.0
        self.total_spikes = 0
        # scalar coefficients, cast once to the array dtype
        c = self.dtype.type
        self.c_vpeak = c(V_PEAK)
        self.c_dt = c(dt)
        self.c_wdecay = c(1.0 - dt * A)  # W <- (1 - dt*a) W + dt*(dt*a*b) v
        self.c_wv = c(dt * dt * A * B)
        self.c_wjump = c(dt * W_JUMP)
        self.s_decay = 1.0 - dt / TAU_S
        self.s_inc = S_JUMP / n

    def reset(self) -> None:
        self.v.fill(0)
        self.W.fill(0)
        self.s = 0.0
        self.total_spikes = 0

    def run(self, steps: int) -> None:
        v, W, E, t, t2, spk = self.v, self.W, self.E, self.t, self.t2, self.spk
        vpeak, cdt, cwd, cwv, cwj = (
            self.c_vpeak,
            self.c_dt,
            self.c_wdecay,
            self.c_wv,
            self.c_wjump,
        )
        f = self.dtype.type
        s = self.s
        s_decay, s_inc = self.s_decay, self.s_inc
        total = 0
        ge, mul, add, sub = np.greater_equal, np.multiply, np.add, np.subtract
        flatnonzero = np.flatnonzero
        for _ in range(steps):
            # threshold on start-of-step v
            ge(v, vpeak, out=spk)
            idx = flatnonzero(spk)
            count = idx.size
            if count:
                v_sp = v[idx]  # fancy indexing copies: start-of-step values
                W_sp = W[idx]
            gs = G * s
            # t = v + dt*(v*(v - alpha - g s)) = v*(dt*v + 1 - dt*(alpha + g s))
            mul(v, cdt, out=t)
            add(t, f(1.0 - DT * (ALPHA + gs)), out=t)
            mul(t, v, out=t)
            # W <- (1 - dt a) W + dt*dt*a*b*v      (old v, old W)
            mul(v, cwv, out=t2)
            sub(t, W, out=t)  # - dt*w, old W
            mul(W, cwd, out=W)
            add(W, t2, out=W)
            # + dt*eta + dt*(g s e_r + I_ext), written straight into v
            add(t, E, out=v)
            add(v, f(DT * (gs * E_R + I_EXT)), out=v)
            if count:
                v[idx] = -v_sp
                W[idx] = W_sp + cwj
                total += count
            s = s * s_decay + s_inc * count
            if s > 1.0:
                s = 1.0
        self.s = s
        self.total_spikes += total

    @property
    def w(self) -> np.ndarray:
        return self.W / self.c_dt


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--mode", default="inplace", choices=["inplace"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--warmup-steps",
        type=int,
        default=20,
        help="untimed steps before the repeats (not counted in rate)",
    )
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    net = Network(args.n, args.dtype)
    if args.warmup_steps:
        net.run(args.warmup_steps)
    net.reset()
    setup_s = time.perf_counter() - t0

    run_s, rates = [], []
    for _ in range(args.repeats):
        net.reset()
        t0 = time.perf_counter()
        net.run(args.steps)
        run_s.append(time.perf_counter() - t0)
        rates.append(net.total_spikes / (args.n * args.steps * DT))
        if not math.isfinite(float(net.v.sum())):
            print("warning: non-finite state", file=sys.stderr)
    med = statistics.median(run_s)
    out = {
        "peer": "numpy",
        "mode": args.mode,
        "n": args.n,
        "steps": args.steps,
        "dtype": args.dtype,
        "setup_s": round(setup_s, 6),
        "run_s": [round(x, 6) for x in run_s],
        "neuron_steps_per_s": args.n * args.steps / med,
        "mean_rate": rates[-1],
        "numpy": np.__version__,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
