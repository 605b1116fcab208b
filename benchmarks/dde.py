"""Batched DDE solves: the delayed mean field under `vmap` beside a loop of single solves.

    python benchmarks/dde.py [--t1 200] [--lanes 2 16] [--max-steps 5000 50000] [--repeats 3]
        [--parts solve,grad,fit] [--fit-steps 20] [--fit-max-steps 5000 50000]

Model: the exact mean field with a synaptic delay (`presets.chen_campbell_2022(eta_bar=0.25,
delay=tau)`, strong coupling: oscillations), solved from zeros to --t1 by `solve_meanfield`
(the DDE method of steps, rtol 1e-8, atol 1e-10), saved every 0.5. Lanes differ in the delay
(evenly spaced in [1.5, 3]).

- solve: one jitted solve of lane 0 ("1 solve"), then `jax.vmap` over L lanes, beside the peer:
  a Python loop of the same jitted single solve over the same L delays. The step budget
  `max_steps` sizes the stored interpolants; a batched solve should not pay for it.
- grad: d r(t1) / d delay by `jax.grad` (the custom VJP: a forward-mode Jacobian), one lane and
  vmapped over L lanes, beside the loop of single gradients.
- fit: `jaxmf.fit` of the delay (free=("delay",), 2 starts, adam, --fit-steps steps) to the rate
  of the model at delay 2.5 from delay 2.4, at each --fit-max-steps. The peer: the same fit with
  n_starts=1, run twice (the loop of starts).

Times are medians of --repeats runs after a compiling run (compile = first run minus the median,
reported separately). "x loop" is the batched time over the loop's: below 1 the batch is faster
than solving its lanes one after another. Every batched lane is checked against its single solve
(max abs difference printed; 0 means bit for bit).
"""

from __future__ import annotations

import argparse
import platform
import time

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from _timing import median_runs  # noqa: E402

import jaxmf  # noqa: E402
from jaxmf import presets  # noqa: E402


def _parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t1", type=float, default=200.0)
    ap.add_argument("--lanes", type=int, nargs="+", default=[2, 16])
    ap.add_argument("--max-steps", type=int, nargs="+", default=[5000, 50000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--parts", default="solve,grad,fit")
    ap.add_argument("--fit-steps", type=int, default=20)
    ap.add_argument("--fit-max-steps", type=int, nargs="+", default=[5000, 50000])
    return ap.parse_args()


def _params(tau):
    return presets.chen_campbell_2022(eta_bar=0.25, delay=jnp.reshape(tau, (1, 1)))


def _block(x):
    return jax.tree.map(
        lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, x
    )


def _row(cells, widths):
    return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))


HEADER = ("case", "max_steps", "lanes", "run s", "compile s", "loop s", "x loop", "max |diff|")
WIDTHS = (12, 9, 5, 9, 9, 9, 7, 10)


def _solves(args, report):
    ts = jnp.arange(0.0, args.t1 + 0.25, 0.5)
    for max_steps in args.max_steps:

        def final(tau, max_steps=max_steps):
            res = jaxmf.solve_meanfield(
                _params(tau), t1=args.t1, ts=ts, max_steps=max_steps, throw=False
            )
            return res.r[:, 0], res.status, res.n_steps

        single = jax.jit(final)
        batched = jax.jit(jax.vmap(final))
        run1, comp1, out1 = median_runs(lambda: _block(single(jnp.asarray(1.5))), args.repeats)
        report(("1 solve", max_steps, 1, run1, comp1, "", "", f"steps {int(out1[2])}"))
        for lanes in args.lanes:
            taus = jnp.linspace(1.5, 3.0, lanes)
            run, comp, out = median_runs(lambda: _block(batched(taus)), args.repeats)
            loop, _, ref = median_runs(lambda: [_block(single(t)) for t in taus], args.repeats)
            diff = max(float(jnp.max(jnp.abs(out[0][i] - ref[i][0]))) for i in range(lanes))
            report(("vmap solve", max_steps, lanes, run, comp, loop, run / loop, diff))


def _grads(args, report):
    ts = jnp.asarray([args.t1])
    max_steps = min(args.max_steps)

    def rate(tau):
        res = jaxmf.solve_meanfield(_params(tau), t1=args.t1, ts=ts, max_steps=max_steps)
        return res.r[-1, 0]

    single = jax.jit(jax.grad(rate))
    run1, comp1, _ = median_runs(lambda: _block(single(jnp.asarray(1.5))), args.repeats)
    report(("1 grad", max_steps, 1, run1, comp1, "", "", ""))
    batched = jax.jit(jax.vmap(jax.grad(rate)))
    for lanes in args.lanes:
        taus = jnp.linspace(1.5, 3.0, lanes)
        run, comp, out = median_runs(lambda: _block(batched(taus)), args.repeats)
        loop, _, ref = median_runs(lambda: [_block(single(t)) for t in taus], args.repeats)
        diff = max(abs(float(out[i]) - float(ref[i])) for i in range(lanes))
        report(("vmap grad", max_steps, lanes, run, comp, loop, run / loop, diff))


def _fits(args, report):
    ts = jnp.arange(0.0, 40.25, 0.5)
    truth = jaxmf.solve_meanfield(_params(2.5), t1=40.0, ts=ts)
    target = jaxmf.BurstTarget.from_trace(truth.t, truth.r, transient=0.0)
    start = _params(2.4)
    for max_steps in args.fit_max_steps:
        kw = dict(
            free=("delay",),
            steps=args.fit_steps,
            max_steps=max_steps,
            loss=jaxmf.trace_mse,
            optimizer=optax.adam(0.01),
            key=jax.random.key(0),
        )
        run, comp, out = median_runs(
            lambda: _block(jaxmf.fit(start, target, n_starts=2, **kw)), args.repeats
        )
        loop, _, _ = median_runs(
            lambda: [_block(jaxmf.fit(start, target, n_starts=1, **kw)) for _ in range(2)],
            args.repeats,
        )
        best = float(np.ravel(out.best_params.delay)[0])
        report(("fit 2 starts", max_steps, 2, run, comp, loop, run / loop, f"delay {best:.4f}"))


def main():
    args = _parse()
    print(f"jax {jax.__version__}, {platform.processor() or platform.machine()}, "
          f"{jax.devices()[0].platform}, t1 = {args.t1}, repeats = {args.repeats}")  # fmt: skip
    print(_row(HEADER, WIDTHS))

    def report(cells):
        out = [f"{c:.3g}" if isinstance(c, float) else c for c in cells]
        print(_row(out, WIDTHS), flush=True)

    t0 = time.perf_counter()
    parts = args.parts.split(",")
    if "solve" in parts:
        _solves(args, report)
    if "grad" in parts:
        _grads(args, report)
    if "fit" in parts:
        _fits(args, report)
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
