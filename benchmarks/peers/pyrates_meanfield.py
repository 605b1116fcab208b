"""PyRates peer for `benchmarks/meanfield_throughput.py`: one solve of Chen & Campbell's mean field.

Runs in its own environment (benchmarks/peers/setup_pyrates_env.sh):

    benchmarks/.venv-pyrates/bin/python benchmarks/peers/pyrates_meanfield.py --eta-bar 0.12 \\
        --method RK45 --t1 1000 --dts 0.5 --repeats 3 [--out r.npy] [--alpha ... --s-jump ...]

Model: PyRates' shipped template `model_templates.neural_mass_models.ik.ik_nodim` (dimensionless
Izhikevich mean field with Lorentzian background input, tau = 1), which is term for term the exact
mean field jaxmf integrates:

    r' = Delta/pi + r (2 v - alpha - g s)
    v' = v^2 - alpha v + eta + I - u + g s (E_r - v) - (pi r)^2
    u' = a (b v - u) + d r
    s' = -s/tau_s + r_in,   r_in = weight * r (self edge)

with d = w_jump and the self-edge weight = s_jump. Default ("numpy") backend, `solver='scipy'`
(scipy.integrate.solve_ivp with `method`, rtol, atol; PyRates passes first_step = step_size).

Prints one JSON line: peer, mode, method, setup_s (first run: template load + code generation +
solve), run_s[] (later runs: whole `CircuitTemplate.run`, template rebuilt each time because run()
consumes it), solve_s[] (the solve_ivp call inside each run), nfev, r_mean. `--out` saves r on the
grid linspace(0, t1, t1/dts, endpoint=False) (PyRates' own output grid).
"""

from __future__ import annotations

import argparse
import json
import time
from copy import deepcopy

import numpy as np
import pyrates
import scipy.integrate
from pyrates import CircuitTemplate

TEMPLATE = "model_templates.neural_mass_models.ik.ik_nodim"
OP = "p/ik_nodim_op"

_solve_log: list = []
_orig_solve_ivp = scipy.integrate.solve_ivp


def _timed_solve_ivp(*args, **kwargs):
    t0 = time.perf_counter()
    sol = _orig_solve_ivp(*args, **kwargs)
    _solve_log.append((time.perf_counter() - t0, int(sol.nfev), int(sol.status)))
    return sol


# PyRates imports solve_ivp from scipy.integrate at call time, so this times just the integration.
scipy.integrate.solve_ivp = _timed_solve_ivp


def build(a):
    c = CircuitTemplate.from_yaml(TEMPLATE)
    node_vars = {
        f"{OP}/{k}": v
        for k, v in dict(
            Delta=a.delta_eta,
            tau=1.0,
            eta=a.eta_bar,
            alpha=a.alpha,
            g=a.g,
            E_r=a.e_r,
            b=a.b,
            a=a.a,
            d=a.w_jump,
            tau_s=a.tau_s,
        ).items()
    }
    c.update_var(node_vars=node_vars, edge_vars=[(f"{OP}/r", f"{OP}/r_in", {"weight": a.s_jump})])
    return c


def one_run(a, template):
    c = deepcopy(template)  # run() mutates the (cached) template's edge list: work on a copy
    t0 = time.perf_counter()
    res = c.run(
        simulation_time=a.t1,
        step_size=a.step_size,
        sampling_step_size=a.dts,
        outputs={"r": f"{OP}/r"},
        solver="scipy",
        method=a.method,
        rtol=a.rtol,
        atol=a.atol,
        backend="default",
        verbose=False,
        clear=True,
    )
    return time.perf_counter() - t0, np.asarray(res["r"]).ravel()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eta-bar", type=float, required=True)
    ap.add_argument("--method", default="RK45")
    ap.add_argument("--t1", type=float, default=1000.0)
    ap.add_argument("--dts", type=float, default=0.5)
    ap.add_argument("--step-size", type=float, default=1e-3, help="PyRates step_size = first_step")
    ap.add_argument("--rtol", type=float, default=1e-8)
    ap.add_argument("--atol", type=float, default=1e-10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", help="save r (grid of --dts) to this .npy")
    # Parameter values (dimensionless); the caller passes jaxmf's so both solve the same system.
    for name, default in dict(
        alpha=1 - 24.6 / 65,
        delta_eta=0.02,
        g=200 / (2.5 * 65),
        e_r=1.0,
        a=250 / (200 * 2.5 * 65),
        b=-1 / (2.5 * 65),
        w_jump=200 / (2.5 * 65**2),
        tau_s=4 * 2.5 * 65 / 250,
        s_jump=0.8 * 250 / (2.5 * 65),
    ).items():
        ap.add_argument("--" + name.replace("_", "-"), type=float, default=default)
    a = ap.parse_args(argv)

    template = build(a)
    t0 = time.perf_counter()
    _, r = one_run(a, template)
    setup_s = time.perf_counter() - t0
    runs, solves = [], []
    for _ in range(a.repeats):
        _solve_log.clear()
        dt, r = one_run(a, template)
        runs.append(dt)
        solves.append(sum(s[0] for s in _solve_log))
    nfev = _solve_log[-1][1] if _solve_log else None
    status = _solve_log[-1][2] if _solve_log else None
    if a.out:
        np.save(a.out, r)
    print(
        json.dumps(
            dict(
                peer=f"PyRates {pyrates.__version__}",
                mode="default backend, solver=scipy",
                method=a.method,
                eta_bar=a.eta_bar,
                setup_s=setup_s,
                run_s=runs,
                solve_s=solves,
                nfev=nfev,
                status=status,
                r_mean=float(np.mean(r)),
                n_out=int(r.size),
            )
        )
    )


if __name__ == "__main__":
    main()
