"""`jaxmf compare`: the network against the mean field(s) on the same parameters.

jaxmf compare --preset bursting --n 10000 --t1 800 --models chen_campbell,nicola_campbell
"""

from __future__ import annotations

import argparse

from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    SAMPLER_HELP,
    SCHEME_HELP,
    SCHEME_NAMES,
    UsageError,
    add_max_memory,
    add_output_options,
    add_parameter_options,
    add_quiet,
    check_network_memory,
    fail,
    nonnegative,
    positive,
    prepare_out,
    preset_title,
    sampler_of,
    scheme_of,
    short,
    timings,
    whole,
)

__all__ = ["add_parser", "run"]


def _model_list(text: str) -> tuple[str, ...]:
    from .._compare import MODEL_PREFIX

    models = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in models if m not in MODEL_PREFIX]
    if unknown or not models:
        raise argparse.ArgumentTypeError(
            f"unknown model {short(unknown[0]) if unknown else short(text)}; choose from "
            f"{', '.join(MODEL_PREFIX)} (comma-separated)"
        )
    return tuple(dict.fromkeys(models))


def add_parser(sub) -> None:
    cmp = sub.add_parser(
        "compare",
        help="network versus mean field on the same parameters",
        description="Simulate the network and solve the mean field(s) from the "
        "same parameters and initial state; print and save discrepancy metrics "
        "(mean rates, burst periods, relative errors, regimes). Writes "
        "OUT/NAME.npz, .json and .png.",
    )
    add_parameter_options(cmp)
    cmp.add_argument("--n", type=whole, default=10_000, help="number of neurons (default 10000)")
    cmp.add_argument("--t1", type=positive, default=800.0, help="end time (default 800)")
    cmp.add_argument("--dt", type=positive, default=1e-3, help="network time step (default 1e-3)")
    cmp.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="network floating-point type (default float32; the mean field is solved in float64)",
    )
    cmp.add_argument(
        "--scheme",
        choices=tuple(SCHEME_NAMES),
        default="euler",
        help=SCHEME_HELP,
    )
    cmp.add_argument("--sampler", metavar="KIND[:OPTIONS]", default="quantiles", help=SAMPLER_HELP)
    cmp.add_argument("--seed", type=whole, default=0, help="PRNG seed (default 0)")
    cmp.add_argument(
        "--transient", type=nonnegative, help="metrics use t > TRANSIENT only (default t1/4)"
    )
    cmp.add_argument(
        "--models",
        type=_model_list,
        default=("chen_campbell",),
        help="mean-field models, comma-separated (default chen_campbell; also "
        "nicola_campbell, mpr)",
    )
    cmp.add_argument(
        "--input",
        metavar="KIND:NAME=VALUE,...",
        help="an input in time for both, e.g. sinusoid:amplitude=0.05,period=200 (kinds as in "
        "jaxmf simulate --input); a periodic one adds entrainment and burst phase to the table",
    )
    add_max_memory(cmp, "the network")
    add_output_options(cmp, "compare")
    add_quiet(cmp)
    cmp.set_defaults(run=run)


def _solver_failure(e: Exception) -> bool:
    # What diffrax/equinox raise for a failed solve with throw=True.
    return type(e).__name__ in ("EquinoxRuntimeError", "XlaRuntimeError", "JaxRuntimeError")


def _solver_message(e: Exception) -> str:
    """The reason in a diffrax/equinox runtime error (its text opens with stack traces)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("equinox.EquinoxRuntimeError:", "EquinoxRuntimeError:")):
            return line.partition(":")[2].strip().rstrip(".")
    return lines[0] if lines else type(e).__name__


def run(args, command: str) -> int:
    import jax

    # The mean field is solved in float64; the network runs in --dtype (float32 by default).
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from .. import io
    from .._compare import compare
    from ..network import SimulationError
    from ..presets import get as get_preset
    from .simulate import input_of

    overrides = dict(args.overrides)
    drive = input_of(args)
    scheme = scheme_of(args.scheme)
    sampler = sampler_of(args.sampler)
    if args.transient is not None and args.transient >= args.t1:
        raise UsageError("--transient", f"must be < t1={args.t1:g}; got {args.transient:g}")
    params = get_preset(args.preset, units=args.units, **overrides)
    itemsize = jnp.dtype(args.dtype).itemsize
    # compare records every 100 steps; per bin r, <v>, <w>, s, a non-finite count, the raster.
    check_network_memory(
        args.n,
        itemsize,
        args.max_memory,
        n_records=args.t1 / (100 * args.dt),
        record_bytes=5 * itemsize * params.n_populations + 4 * min(200, args.n),
    )
    out = prepare_out(args.out)
    try:
        cmp = compare(
            params,
            n=args.n,
            t1=args.t1,
            dt=args.dt,
            transient=args.transient,
            dtype=jnp.dtype(args.dtype),
            scheme=scheme,
            models=args.models,
            sampler=sampler,
            key=jax.random.key(args.seed),
            progress=not args.quiet,
            i_ext=drive,
        )
    except SimulationError as e:
        return fail(str(e).replace("; `.result` holds the run.", "."), EXIT_FAILED)
    except RuntimeError as e:
        if not _solver_failure(e):
            raise
        return fail(
            f"solve_meanfield failed: {_solver_message(e)}; for stiff parameters (e.g. "
            "a tiny tau_s) try `jaxmf meanfield` with looser --rtol/--atol",
            EXIT_FAILED,
        )

    stem = out / args.name
    npz, sidecar = io.save_comparison(
        stem,
        cmp,
        scheme=scheme,
        sampler=sampler,
        seed=args.seed,
        command=command,
        preset=args.preset,
        timing=timings(),
    )
    png = None
    if not args.no_plot:
        from .. import plot

        png = stem.with_name(stem.name + ".png")
        title = (
            f"{preset_title(args.preset, overrides)} (N={cmp.network.network.n}, "
            f"dt={args.dt:g}, {args.dtype}, {args.scheme}, {args.sampler})"
        )
        plot.pyplot().close(plot.plot_comparison(cmp, png, title=title))
    print_comparison(cmp, params, args)
    for path in (npz, sidecar, png):
        if path is not None:
            print(f"wrote {path}")
    return EXIT_OK


def print_comparison(cmp, params, args) -> None:
    """The metrics table: network and each model side by side, per population."""
    import numpy as np

    from .._compare import MODEL_PREFIX

    m = cmp.metrics
    hz = float(np.ravel(np.asarray(params.to_dimensional().rate_to_hz(1.0)))[0])
    n_pop = params.n_populations
    models = list(cmp.meanfield)
    print(
        f"network N={cmp.network.network.n} ({args.dtype}, {args.scheme}, {args.sampler}) vs "
        f"mean field ({np.asarray(cmp.meanfield[models[0]].r).dtype}); metrics over "
        f"t > {m['transient']:g} of 0..{m['t1']:g}; (x%) = |network - model| / |model|"
    )

    def fmt(x, spec=".4g"):
        return "n/a" if not np.isfinite(x) else format(x, spec)

    def pct(x):
        return "" if not np.isfinite(x) else f" ({100 * x:.2g}%)"

    width = max(16, *(len(name) + 2 for name in models))
    for pop in range(n_pop):
        keys = [MODEL_PREFIX[model] + ("" if n_pop == 1 else f"pop{pop}_") for model in models]
        if n_pop > 1:
            print(f"population {pop}:")
        print(
            (
                f"{'':<18}{'network':<{width}}" + "".join(f"{name:<{width}}" for name in models)
            ).rstrip()
        )

        def net(k, first=keys[0]):
            return m[first + k]

        rows = [
            (
                "mean rate r",
                fmt(net("network_r_mean")),
                [fmt(m[k + "mf_r_mean"]) + pct(m[k + "rel_err_r_mean"]) for k in keys],
            ),
            (
                "mean rate (Hz)",
                fmt(hz * net("network_r_mean"), ".3g"),
                [fmt(hz * m[k + "mf_r_mean"], ".3g") for k in keys],
            ),
            (
                "burst period",
                fmt(net("network_period")),
                [fmt(m[k + "mf_period"]) + pct(m[k + "rel_err_period"]) for k in keys],
            ),
            (
                "peak rate",
                fmt(net("network_peak_rate")),
                [fmt(m[k + "mf_peak_rate"]) + pct(m[k + "rel_err_peak"]) for k in keys],
            ),
            ("regime", net("network_regime"), [m[k + "mf_regime"] for k in keys]),
            *(
                [
                    (
                        "bursts per period",
                        fmt(net("network_entrainment")),
                        [fmt(m[k + "mf_entrainment"]) for k in keys],
                    ),
                    (
                        "burst phase",
                        fmt(net("network_burst_phase"), ".3f"),
                        [fmt(m[k + "mf_burst_phase"], ".3f") for k in keys],
                    ),
                ]
                if keys[0] + "network_entrainment" in m
                else []
            ),
            (
                "rel. err <v>, <w>",
                "",
                [
                    f"{fmt(100 * m[k + 'rel_err_v_mean'], '.2g')}%, "
                    f"{fmt(100 * m[k + 'rel_err_w_mean'], '.2g')}%"
                    for k in keys
                ],
            ),
        ]
        for label, first, rest in rows:
            line = f"{label:<18}{first:<{width}}" + "".join(f"{x:<{width}}" for x in rest)
            print(line.rstrip())
