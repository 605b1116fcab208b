"""Where one mean-field solve spends its time: XLA kernels per iteration of the step loop.

    python benchmarks/meanfield_kernels.py [--t1 1000] [--repeats 200]

For `jaxmf.solve_meanfield(p, t1)` with its defaults (Tsit5, rtol 1e-8, atol 1e-10, saved every
0.1) in the tonic (eta_bar = 0.25) and bursting (eta_bar = 0.12) regimes: the compiled program's
while-loop body and condition by operation (each `fusion`, `dot`, `copy`, ... runs as one kernel
on CPU; the binary search that assigns the save grid to the steps after the loop is left
out), the accepted steps, the time of the public call (median and 10th percentile of
`--repeats` calls, compilation excluded) and its time per accepted step, beside SciPy LSODA at the
same tolerances on the same save grid in the same run (ratio column). On CPU the loop's cost is
about its kernel count times a per-kernel overhead, not the arithmetic of the 4-variable system.
"""

from __future__ import annotations

import argparse
import collections
import re
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)
import numpy as np  # noqa: E402
from meanfield_throughput import REGIMES, constants, scipy_solve  # noqa: E402

import jaxmf  # noqa: E402
from jaxmf import meanfield as mf  # noqa: E402

_BOOKKEEPING = {"get-tuple-element", "constant", "bitcast", "tuple", "parameter"}


def loop_kernels(hlo: str) -> collections.Counter:
    """Operations (kernels) of the body and condition of every while loop but `searchsorted`'s
    in optimised HLO text."""
    comps: dict[str, list[str]] = {}
    current = None
    for line in hlo.splitlines():
        head = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$", line)
        if head and not line.startswith(" "):
            current = head.group(1)
            comps[current] = []
        elif current and line.startswith("  "):
            comps[current].append(line.strip())
    ops: collections.Counter = collections.Counter()
    for lines in list(comps.values()):
        for line in lines:
            if " while(" not in line or "searchsorted" in line:
                continue
            for part in ("body", "condition"):
                name = re.search(part + r"=%?([\w.\-]+)", line)
                for op_line in comps[name.group(1)] if name else []:
                    op = re.search(r"= \S+ (\w[\w\-]*)\(", op_line)
                    if op and op.group(1) not in _BOOKKEEPING:
                        ops[op.group(1)] += 1
    return ops


def compiled_solve(p, t1):
    """The compiled program `solve_meanfield(p, t1)` runs, and its inputs."""
    seen = {}
    solve = mf._solve_fast

    def spy(config, inputs):
        seen["args"] = (config, inputs)
        return solve(config, inputs)

    mf._solve_fast = spy
    try:
        jaxmf.solve_meanfield(p, t1)
    finally:
        mf._solve_fast = solve
    return solve.lower(*seen["args"]).compile()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t1", type=float, default=1000.0)
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args(argv)
    print(f"# jax {jax.__version__} on {jax.devices()[0].platform}, float64, t1 = {args.t1}")
    header = (
        f"{'regime':9s} {'kernels/iter':>12s} {'steps':>6s} {'ms/solve':>9s} {'p10 ms':>7s} "
        f"{'us/step':>8s} {'LSODA ms':>9s} {'x LSODA':>8s}  kernels"
    )
    print(header)
    for regime, eta in REGIMES.items():
        p = jaxmf.presets.chen_campbell_2022(eta_bar=eta)
        ops = loop_kernels(compiled_solve(p, args.t1).as_text())
        res = jax.block_until_ready(jaxmf.solve_meanfield(p, args.t1))
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(jaxmf.solve_meanfield(p, args.t1))
            times.append(time.perf_counter() - t0)
        run_s = statistics.median(times)
        grid = np.asarray(res.t)
        lsoda = []
        for _ in range(max(3, args.repeats // 20)):
            t0 = time.perf_counter()
            scipy_solve(constants(p), args.t1, grid, "LSODA", 1e-8, 1e-10)
            lsoda.append(time.perf_counter() - t0)
        lsoda_s = statistics.median(lsoda)
        steps = int(res.n_steps)
        detail = ", ".join(f"{k} {v}" for k, v in ops.most_common())
        print(
            f"{regime:9s} {sum(ops.values()):12d} {steps:6d} {1e3 * run_s:9.3f} "
            f"{1e3 * np.percentile(times, 10):7.3f} {1e6 * run_s / steps:8.2f} "
            f"{1e3 * lsoda_s:9.2f} {lsoda_s / run_s:8.1f}  {detail}",
            flush=True,
        )


if __name__ == "__main__":
    main()
