"""JaxCont (PyPI `jaxcont`) on the exact mean field: the peer of benchmarks/continuation.py.

Runs in its own environment (benchmarks/peers/setup_jaxcont_env.sh -> benchmarks/.venv-jaxcont)
and prints one JSON object: for the equilibrium branch in eta_bar (Fold and Hopf events) and for
the cycle branch from a simulated bursting orbit at eta_bar = 0.12 (JaxCont's fixed uniform
collocation mesh, Fold-of-cycles events), the wall time of the first (compiling) and of a second
run, the number of points and the events found.

    benchmarks/.venv-jaxcont/bin/python benchmarks/peers/jaxcont_continuation.py [--ntst 80]
"""

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import jaxcont as jc  # noqa: E402
import numpy as np  # noqa: E402
from jaxcont.core.collocation import Collocation  # noqa: E402
from jaxcont.problems.periodic import periodic_orbit_problem  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

# The rounded parameters of Chen & Campbell 2022 (jaxmf.presets.chen_campbell_2022(rounded=True)).
P = dict(
    alpha=0.6215,
    delta_eta=0.02,
    a=0.0077,
    b=-0.0062,
    w_jump=0.0189,
    tau_s=2.6,
    s_jump=1.2308,
    e_r=1.0,
    g=1.2308,
)


def f(u, eta, args=None):
    r, v, w, s = u
    return jnp.stack(
        [
            P["delta_eta"] / jnp.pi + 2 * r * v - r * (P["alpha"] + P["g"] * s),
            v * v - P["alpha"] * v - jnp.pi**2 * r * r + P["g"] * s * (P["e_r"] - v) - w + eta,
            P["a"] * (P["b"] * v - w) + P["w_jump"] * r,
            -s / P["tau_s"] + P["s_jump"] * r,
        ]
    )


def timed(fn):
    t = time.perf_counter()
    out = fn()
    jax.block_until_ready(jax.tree.leaves(out))
    return out, time.perf_counter() - t


def _event(e):
    info = {
        k: (float(v) if np.ndim(v) == 0 and not isinstance(v, str) else v)
        for k, v in e.info.items()
        if isinstance(v, (str, bool, float, int, np.floating)) or np.ndim(v) == 0
    }
    return {"kind": e.kind, "value": float(e.p), **info}


def equilibria(p_span=(0.0, 0.3)):
    u0 = solve_ivp(
        lambda t, u: np.asarray(f(jnp.asarray(u), p_span[0])),
        (0, 5000),
        [0.01, -1.0, 0.0, 0.03],
        rtol=1e-12,
        atol=1e-14,
        method="LSODA",
    ).y[:, -1]
    prob = jc.bif_problem(f, jnp.asarray(u0), p_span[0])
    settings = jc.ContinuationPar(ds=1e-3, ds_max=5e-3, max_steps=2000, newton_tol=1e-10)
    run = lambda: jc.continuation(
        prob,
        p_span=p_span,
        settings=settings,  # noqa: E731
        events=[jc.Fold(), jc.Hopf()],
    )
    res, first = timed(run)
    res, second = timed(run)
    return {
        "first_s": first,
        "second_s": second,
        "points": res.branch.n_valid,
        "events": [_event(e) for e in res.events],
    }


def cycles(ntst: int, eta0=0.12, p_span=(0.12, 0.2)):
    sol = solve_ivp(
        lambda t, u: np.asarray(f(jnp.asarray(u), eta0)),
        (0, 3000),
        [0.0, 0.0, 0.0, 0.0],
        rtol=1e-10,
        atol=1e-12,
        method="LSODA",
        dense_output=True,
    )
    t = np.linspace(1500, 3000, 60001)
    w = sol.sol(t)[2]
    peaks = t[1:-1][(w[1:-1] > w[:-2]) & (w[1:-1] >= w[2:])]
    period = float(np.median(np.diff(peaks[peaks > peaks[0] + 1e-9])))
    tt = np.linspace(peaks[-3], peaks[-3] + period, 4001)
    traj = sol.sol(tt).T
    mesh = Collocation(ntst=ntst, ncol=4)
    prob, setup = timed(
        lambda: periodic_orbit_problem(
            f, jnp.asarray(traj), jnp.asarray(tt - tt[0]), period, eta0, mesh
        )
    )
    settings = jc.ContinuationPar(ds=1e-3, ds_max=5e-3, max_steps=300, newton_tol=1e-8)
    run = lambda: jc.continuation(
        prob,
        p_span=p_span,
        settings=settings,  # noqa: E731
        events=[jc.Fold()],
    )
    res, first = timed(run)
    res, second = timed(run)
    p = np.asarray(res.branch.params)
    T = np.asarray(res.branch.states)[:, -1]
    return {
        "ntst": ntst,
        "ncol": 4,
        "period_simulated": period,
        "setup_s": setup,
        "first_s": first,
        "second_s": second,
        "points": res.branch.n_valid,
        "p_range": [float(np.min(p)), float(np.max(p))],
        "period_range": [float(np.min(T)), float(np.max(T))],
        "period_at_start": float(T[0]),
        "events": [_event(e) for e in res.events],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ntst", type=int, default=80)
    ap.add_argument("--no-cycles", action="store_true")
    args = ap.parse_args()
    out = {"jaxcont": jc.__version__, "jax": jax.__version__, "equilibria": equilibria()}
    if not args.no_cycles:
        try:
            out["cycles"] = cycles(args.ntst)
        except Exception as e:  # report the peer's failure in the table rather than crash
            out["cycles"] = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
