"""`jaxmf meanfield`: solve a mean-field model, write OUT/NAME.npz, .json and .png.

jaxmf meanfield --preset bursting --t1 1600 --switch 800:0.1 --equilibria
"""

from __future__ import annotations

import argparse
import functools
import math
import time

from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_max_memory,
    add_output_options,
    add_parameter_options,
    add_quiet,
    check_memory,
    fail,
    numbers,
    positive,
    prepare_out,
    preset_title,
    short,
    timings,
    tolerance,
)

__all__ = ["add_parser", "run", "step_input"]


def _switch(text: str) -> tuple[float, list[float]]:
    """T:VALUE, VALUE a number or a comma-separated list (one per population)."""
    time_, sep, value = text.partition(":")
    try:
        if not sep:
            raise ValueError
        t, values = float(time_), [float(x) for x in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected T:VALUE (e.g. 800:0.1, the extra input from time T on), got {short(text)}"
        ) from None
    if not all(math.isfinite(x) for x in (t, *values)):
        raise argparse.ArgumentTypeError(f"time and value must be finite; got {short(text)}")
    return t, values


def add_parser(sub) -> None:
    mf = sub.add_parser(
        "meanfield",
        help="solve a mean-field model",
        description="Solve a mean-field model (diffrax, adaptive steps) from the "
        "network's initial state (all zeros); writes OUT/NAME.npz, .json and .png.",
    )
    add_parameter_options(mf)
    mf.add_argument("--t1", type=positive, default=800.0, help="end time (default 800)")
    mf.add_argument(
        "--model",
        default="chen_campbell",
        choices=("chen_campbell", "nicola_campbell", "mpr"),
        help="chen_campbell: the exact mean field (default); nicola_campbell: the "
        "2013 model; mpr: no adaptation (Montbrio-Pazo-Roxin)",
    )
    mf.add_argument(
        "--rtol", type=tolerance, default=1e-8, help="relative tolerance, in (0, 1) (default 1e-8)"
    )
    mf.add_argument(
        "--atol",
        type=tolerance,
        default=1e-10,
        help="absolute tolerance, in (0, 1) (default 1e-10)",
    )
    mf.add_argument(
        "--switch",
        metavar="T:VALUE",
        type=_switch,
        action="append",
        default=[],
        help="from time T on, add VALUE to I_ext (a,b for per-population values; "
        "repeatable), e.g. 800:0.1 turns bursting into tonic firing",
    )
    mf.add_argument(
        "--equilibria",
        action="store_true",
        help="also find the equilibria and their stability (at each input level) "
        "and draw them on the figure",
    )
    mf.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float64",
        help="floating-point type (default float64)",
    )
    add_max_memory(mf, "the saved solution")
    add_output_options(mf, "meanfield")
    add_quiet(mf)
    mf.set_defaults(run=run)


def step_input(switches, t1: float, params):
    """A `StepInput` from --switch T:VALUE pairs (zero before the first switch), or None."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ..meanfield import StepInput

    if not switches:
        return None
    switches = sorted(switches, key=lambda tv: tv[0])
    times = [t for t, _ in switches]
    for t in times:
        if not 0 < t < t1:
            raise UsageError("--switch", f"time {t:g} must be inside the run (0, {t1:g})")
    if len(set(times)) < len(times):
        raise UsageError("--switch", "two switches at the same time")
    p = params.n_populations
    rows = []
    for t, values in switches:
        if len(values) not in (1, p):
            raise UsageError(
                "--switch",
                f"at {t:g}: {len(values)} values for {p} "
                "population(s); give one, or one per population",
            )
        rows.append(np.broadcast_to(values, (p,)) if p > 1 else values[0])
    step = StepInput(
        times=np.asarray(times), values=np.asarray([np.zeros(p) if p > 1 else 0.0, *rows])
    )
    # In the solve's dtype (StepInput itself builds default-float arrays).
    return jax.tree.map(lambda x: jnp.asarray(x, params.eta_bar.dtype), step)


def run(args, command: str) -> int:
    import jax

    # The mean field resolves rates near 1e-3 and slow adaptation: float64 by default.
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    from .. import io
    from .._loop import Progress
    from ..analysis import transient_time
    from ..meanfield import meanfield_equilibria, solve_meanfield
    from ..presets import get as get_preset

    overrides = dict(args.overrides)
    params = jax.tree.map(
        lambda x: jnp.asarray(x, args.dtype), get_preset(args.preset, units=args.units, **overrides)
    )
    step = step_input(args.switch, args.t1, params)
    # The solution is saved every 0.1 time units: t and r, v, w, s per population (and copies).
    n_saves = args.t1 / 0.1 + 1
    check_memory(
        n_saves * (1 + 4 * params.n_populations) * 8 * 3,
        "--t1",
        f"{n_saves:.3g} saved times",
        args.max_memory,
    )
    out = prepare_out(args.out)
    edges = [0.0, *(np.asarray(step.times).tolist() if step is not None else []), args.t1]
    # Each input level is analysed after its own transient (the first quarter of its window).
    windows = [(transient_time(b, t_start=a), b) for a, b in zip(edges[:-1], edges[1:])]
    levels = (
        [np.asarray(params.i_ext)]
        if step is None
        else [np.asarray(params.i_ext) + np.asarray(v) for v in np.asarray(step.values)]
    )
    distinct_levels = list({tuple(np.ravel(x)): x for x in levels}.values())

    stages = Progress(
        "meanfield",
        1 + len(distinct_levels) * args.equilibria,
        enabled=not args.quiet,
        unit=" stages",
    )
    started = time.perf_counter()
    stages.print(f"solving {args.model} to t1={args.t1:g}")
    # Save times in the solve's dtype: diffrax promotes the state to the time dtype.
    ts = jnp.linspace(0.0, args.t1, int(round(args.t1 / 0.1)) + 1, dtype=params.eta_bar.dtype)
    res = solve_meanfield(
        params,
        t1=args.t1,
        ts=ts,
        model=args.model,
        i_ext=step,
        rtol=args.rtol,
        atol=args.atol,
        throw=False,
    )
    stages.update(1, f"solved ({time.perf_counter() - started:.1f}s),")
    equilibria = None
    if args.equilibria:
        # A search that cannot finish is reported with the level, not raised from inside jit.
        find = jax.jit(functools.partial(meanfield_equilibria, throw=False))
        equilibria, search_failed = [], {}
        for k, level in enumerate(distinct_levels):
            eq = find(params.replace(i_ext=level.astype(params.eta_bar.dtype)))
            equilibria += io.equilibria_to_dicts(eq, i_ext=level.tolist())
            if eq.message:
                search_failed[tuple(np.ravel(level))] = eq.message
            stages.update(2 + k, f"equilibria at I_ext = {numbers(level)},")
    stem = out / args.name
    npz, sidecar = io.save_meanfield_result(
        stem,
        res,
        params=params,
        i_ext=step,
        windows=windows,
        equilibria=equilibria,
        command=command,
        preset=args.preset,
        timing=timings(),
    )
    if np.any(io.status_codes(res.status) != 0):
        return fail(
            f"solve_meanfield ({args.model}): {res.message}; try looser --rtol/--atol "
            f"or a shorter --t1. Result up to the failure saved to {npz}.",
            EXIT_FAILED,
        )
    png = None
    if not args.no_plot:
        from .. import plot

        png = stem.with_name(stem.name + ".png")
        title = f"{preset_title(args.preset, overrides)}, {args.model}" + "".join(
            f", I_ext += {numbers(v)} at t={t:g}" for t, v in sorted(args.switch)
        )
        plot.pyplot().close(
            plot.plot_meanfield(
                res, png, title=title, params=params, i_ext=step, equilibria=equilibria
            )
        )
    summary = io.summarize_meanfield(res, params, windows)
    print(
        f"{args.model}: {summary['message'] or 'ok'}, t = 0..{summary['t_end']:g} "
        f"({summary['n_steps']} steps, {np.asarray(res.r).dtype})"
    )
    for row, level in zip(summary["windows"], levels):
        if "r_mean" not in row:
            continue
        for m, regime in enumerate(row["regime"]):
            pop = f" population {m}:" if len(row["regime"]) > 1 else ""
            text = (
                f"t in ({row['t_from']:g}, {row['t_to']:g}], I_ext = {numbers(level)}:{pop} "
                f"{regime}, mean r = {row['r_mean'][m]:.4g} ({row['r_mean_hz'][m]:.3g} Hz)"
            )
            if regime == "bursting":
                period = row["period"][m]
                text += ", period " + (
                    f"{period:.4g}" if np.isfinite(period) else "longer than the window"
                )
                text += f", r between {row['low'][m]:.3g} and {row['peak'][m]:.3g}"
            print(text)
    if equilibria is not None:
        for level in distinct_levels:
            rows = [e for e in equilibria if e["i_ext"] == level.tolist()]
            count = {0: "none found", 1: "1 equilibrium"}.get(len(rows), f"{len(rows)} equilibria")
            why = search_failed.get(tuple(np.ravel(level)))
            print(f"I_ext = {numbers(level)}: {count}" + (f" ({why})" if why else ""))
            for e in rows:
                values = "  ".join(f"{k} = {numbers(np.asarray(e[k]))}" for k in "rvws")
                print(
                    f"  {values}  {'stable' if e['stable'] else 'unstable'} "
                    f"(max Re eigenvalue {e['max_real_eigenvalue']:.3g})"
                )
    for path in (npz, sidecar, png):
        if path is not None:
            print(f"wrote {path}")
    return EXIT_OK
