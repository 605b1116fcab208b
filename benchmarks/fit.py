"""Mean-field fitting: recovering (eta_bar, w_jump) from a bursting target, jaxmf.fit beside SciPy.

    python benchmarks/fit.py [--t1 600] [--steps 400] [--n-starts 32] [--repeats 3] [--nm-starts 32]
        [--free eta_bar,w_jump] [--optimizers adam,lbfgs,lm]

Target: the exact mean field (Chen & Campbell 2022) at eta_bar = 0.12, w_jump = 0.0189 (bursting),
solved from zeros to t1 at rtol 1e-10 and saved every 0.5; the loss is `jaxmf.fit.trace_mse` after a
transient of t1/4, identical for every method, with the fitted solves at rtol 1e-6, atol 1e-9.

- jaxmf, 1 start: `jaxmf.fit` (adam, learning rate 3e-2 decaying x0.3 every 100 steps; early
  stopping tol 1e-6, patience 30), optax.lbfgs (zoom line search, patience 5) and
  optimistix.LevenbergMarquardt (rtol 1e-8, atol 1e-10, on `trace_residuals`, whose sum of squares
  is the same loss; patience 5), from (1.3 eta_bar, 1.3 w_jump). With `--free` naming more
  parameters (e.g. eta_bar,w_jump,delta_eta,a,tau_s) the others start 10% above their true values:
  a gradient step costs the same whatever their number, a simplex needs more evaluations.
- jaxmf, N starts: the same start plus N - 1 starts drawn +-30% around it, all in one vmapped loop.
- SciPy Nelder-Mead (xatol 1e-6 relative, fatol 1e-14) on the same loss as a function of
  (each free parameter over its true value), each evaluation a jitted jaxmf solve + loss (compiled
  once, so the comparison is of optimisers, not of solvers); for N starts a loop over the same
  starts.

Network loss gradient (--parts network): the loss is `trace_mse` of the differentiable spiking
network (`jaxmf.netfit.ThetaNetwork`: N = --network-n neurons, deterministic Lorentzian quantiles,
dt = --network-dt, float32, rate in bins of 0.5) against the mean-field trace, as `jaxmf.fit(...,
model="network")` evaluates it, over --network-t1 time units. Reported: one forward simulation +
loss, one reverse-mode gradient in (eta_bar, w_jump) through the checkpointed scan (and its compiled
working memory), the forward-mode gradient `fit` uses for a few parameters (jacfwd), and the
finite-difference gradient it replaces (central differences: 2 forward runs per parameter,
measured). Medians of --repeats runs after a compiling run.

"ok" counts starts within 1% relative of every true value. Times are medians of --repeats runs
after one compiling run (compile reported separately). "iters" is optimiser steps (jaxmf; mean over
starts; an L-BFGS step also evaluates the loss in its line search) or loss evaluations
(Nelder-Mead). "x NM" is Nelder-Mead's wall time over jaxmf's.
"""

from __future__ import annotations

import argparse
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import optimistix as optx  # noqa: E402
from _timing import median_runs  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

import jaxmf  # noqa: E402
from jaxmf import BurstTarget, fit, trace_mse, trace_residuals  # noqa: E402

ETA, W_JUMP = 0.12, 0.0189


def timed(fn, repeats):
    """(last output, median run s, compile s)."""
    run, compile_s, out = median_runs(fn, repeats)
    return out, run, compile_s


def recovered(ratios):
    """ratios: (n_starts, n_free) fitted over true values."""
    return np.all(np.abs(np.asarray(ratios) - 1) < 0.01, axis=-1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t1", type=float, default=600.0)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--n-starts", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--nm-starts", type=int, default=32, help="Nelder-Mead starts (a loop)")
    ap.add_argument("--free", default="eta_bar,w_jump")
    ap.add_argument("--optimizers", default="adam,lbfgs,lm")
    ap.add_argument("--parts", default="meanfield,network")
    ap.add_argument("--network-n", type=int, default=10_000)
    ap.add_argument("--network-t1", type=float, default=20.0)
    ap.add_argument("--network-dt", type=float, default=1e-3)
    args = ap.parse_args()
    parts = args.parts.split(",")
    if "network" in parts:
        network_gradient(args)
    if "meanfield" not in parts:
        return
    free = tuple(args.free.split(","))

    truth = jaxmf.presets.bursting(w_jump=W_JUMP)
    ts = jnp.linspace(0.0, args.t1, int(args.t1 / 0.5) + 1)
    sim = jaxmf.solve_meanfield(truth, args.t1, ts=ts, rtol=1e-10, atol=1e-12)
    target = BurstTarget.from_trace(sim.t, sim.r, transient=args.t1 / 4)
    true = np.array([float(getattr(truth, n)[0]) for n in free])
    factor = np.array([1.3 if n in ("eta_bar", "w_jump") else 1.1 for n in free])
    p0 = truth.replace(**{n: v for n, v in zip(free, true * factor)})
    optimizers = {
        "adam": (optax.adam(optax.exponential_decay(3e-2, 100, 0.3)), 30),
        "lbfgs": (optax.lbfgs(), 5),
        "lm": (optx.LevenbergMarquardt(rtol=1e-8, atol=1e-10), 5),
    }

    rows = []

    def run_fit(n, name):
        opt, patience = optimizers[name]

        def go():
            res = fit(
                p0,
                target,
                free=free,
                optimizer=opt,
                steps=args.steps,
                loss=trace_residuals if name == "lm" else trace_mse,
                tol=1e-6,
                patience=patience,
                n_starts=n,
                key=jax.random.key(0),
            )
            res.final_loss.block_until_ready()
            return res

        res, run, compile_s = timed(go, args.repeats)
        ok = recovered(
            np.stack([np.asarray(getattr(res.params, m)[:, 0]) for m in free], -1) / true
        )
        rows.append(
            (
                f"jaxmf.fit {name}, {n} start{'s' * (n > 1)}{' (vmap)' * (n > 1)}",
                n,
                run,
                compile_s,
                float(np.mean(np.asarray(res.n_iterations))),
                int(ok.sum()),
                float(np.max(np.abs(np.asarray(res.best_params.eta_bar) / ETA - 1))),
            )
        )
        return res

    for name in args.optimizers.split(","):
        many = run_fit(1, name)
        if args.n_starts > 1:
            many = run_fit(args.n_starts, name)

    @jax.jit
    def loss(z):
        p = truth.replace(**{n: z[i] * true[i] for i, n in enumerate(free)})
        s = jaxmf.solve_meanfield(p, args.t1, ts=target.t, rtol=1e-6, atol=1e-9, throw=False)
        val = trace_mse(s, target)
        return jnp.where(s.status == jaxmf.RESULTS.successful, val, jnp.inf)

    f = lambda z: float(loss(jnp.asarray(z)))
    t = time.perf_counter()
    f(factor)
    nm_compile = time.perf_counter() - t
    starts = np.stack([np.asarray(many.initial[n][:, 0]) for n in free], -1) / true
    opts = dict(xatol=1e-6, fatol=1e-14, maxfev=4000)

    def nm(points):
        out = [minimize(f, x0, method="Nelder-Mead", options=opts) for x0 in points]
        return out

    for n in sorted({1, min(args.nm_starts, len(starts))}):
        res, run, _ = timed(
            lambda: nm(starts[:n]), max(1, args.repeats - 2) if n > 1 else args.repeats
        )
        xs = np.array([r.x for r in res])
        ok = recovered(xs)
        best = xs[int(np.argmin([r.fun for r in res]))]
        rows.append(
            (
                f"scipy Nelder-Mead, {n} start{'s' * (n > 1)}{' (loop)' * (n > 1)}",
                n,
                run,
                nm_compile,
                float(np.mean([r.nfev for r in res])),
                int(ok.sum()),
                float(abs(best[0] - 1)),
            )
        )

    def time_of(n):
        return next(r[2] for r in rows if r[1] == n and r[0].startswith("scipy"))

    print(
        f"jax {jax.__version__}, {jax.devices()[0].platform}; t1 = {args.t1}, "
        f"{ts.shape[0]} samples, target eta_bar = {ETA}, w_jump = {W_JUMP}; free: {', '.join(free)}"
    )
    head = (
        f"{'method':38s} {'starts':>6s} {'wall s':>8s} {'compile s':>9s} {'iters':>7s} "
        f"{'ok':>5s} {'best |d eta|/eta':>16s} {'x NM':>6s}"
    )
    print(head)
    print("-" * len(head))
    for name, n, run, comp, iters, ok, err in rows:
        ratio = (
            time_of(n) / run
            if not name.startswith("scipy")
            and any(r[1] == n and r[0].startswith("scipy") for r in rows)
            else float("nan")
        )
        print(
            f"{name:38s} {n:6d} {run:8.2f} {comp:9.2f} {iters:7.1f} {ok:3d}/{n:<2d}"
            f" {err:16.2e} {ratio:6.2f}"
        )


def network_gradient(args):
    from jaxmf._fit import simulate_on_grid
    from jaxmf.netfit import ThetaNetwork

    f32 = lambda tree: jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)
    truth = f32(jaxmf.presets.bursting(w_jump=W_JUMP))
    t1, dt = args.network_t1, args.network_dt
    ts64 = jnp.linspace(0.0, t1, int(round(t1 / 0.5)) + 1)
    mf = jaxmf.solve_meanfield(
        jaxmf.presets.bursting(w_jump=W_JUMP), t1, ts=ts64, rtol=1e-10, atol=1e-12
    )
    target = BurstTarget.from_trace(ts64.astype(jnp.float32), mf.r.astype(jnp.float32))
    model = ThetaNetwork(n=args.network_n, dt=dt)
    every = int(round(0.5 / dt))

    def loss(x):
        p = truth.replace(eta_bar=x[0], w_jump=x[1])
        return trace_mse(simulate_on_grid(p, target.t, model, every), target)

    x = jnp.asarray([ETA * 1.05, W_JUMP * 0.95], jnp.float32)
    value, grad, jac = jax.jit(loss), jax.jit(jax.grad(loss)), jax.jit(jax.jacfwd(loss))
    rows = []
    for name, fn in (
        ("forward (simulate + loss)", lambda: value(x).block_until_ready()),
        ("gradient (reverse mode, checkpointed)", lambda: grad(x).block_until_ready()),
        ("gradient (forward mode, jacfwd)", lambda: jac(x).block_until_ready()),
    ):
        _, run, compile_s = timed(fn, args.repeats)
        rows.append((name, run, compile_s))

    def finite_difference():
        out = []
        for i in range(2):
            h = jnp.zeros(2, jnp.float32).at[i].set(1e-3 * x[i])
            out.append((value(x + h) - value(x - h)) / (2 * h[i]))
        return jnp.stack(out).block_until_ready()

    fd, run, _ = timed(finite_difference, args.repeats)
    rows.append(("finite differences (central, 2 params)", run, 0.0))
    memory = grad.lower(x).compile().memory_analysis().temp_size_in_bytes
    steps = int(round(t1 / dt))
    print(
        f"jax {jax.__version__}, {jax.devices()[0].platform}; network loss gradient: "
        f"N = {args.network_n}, dt = {dt:g}, t1 = {t1:g} ({steps} steps), float32; "
        f"gradient working memory {memory / 1e6:.1f} MB (storing every step would need "
        f">= {steps * args.network_n * 4 * 3 / 1e9:.1f} GB)"
    )
    head = (
        f"{'evaluation':42s} {'wall s':>8s} {'compile s':>9s} {'x forward':>9s} "
        f"{'s per time unit':>15s}"
    )
    print(head)
    print("-" * len(head))
    for name, run, comp in rows:
        print(f"{name:42s} {run:8.3f} {comp:9.2f} {run / rows[0][1]:9.2f} {run / t1:15.4f}")
    g = np.asarray(grad(x))
    print(
        f"gradient {g.tolist()} vs finite differences {np.asarray(fd).tolist()} (float32, "
        f"h = 1e-3 relative)\n"
    )


if __name__ == "__main__":
    main()
