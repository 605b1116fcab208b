"""`jaxmf simulate`: run the spiking network, write OUT/NAME.npz, .json and .png.

jaxmf simulate --preset bursting --set eta_bar=0.13 --n 10000 --t1 800 --out results/
jaxmf simulate --resume results/network.npz --t1 1600
jaxmf simulate --input sinusoid:amplitude=0.05,period=200 --monitor 0,5000,9999 --t1 800
"""

from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path

from ..params import ParameterError
from ._common import (
    DEFAULT_PRESET,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    SAMPLER_HELP,
    SCHEME_HELP,
    SCHEME_NAMES,
    UsageError,
    add_max_memory,
    add_parameter_options,
    add_quiet,
    check_network_memory,
    fail,
    positive,
    prepare_out,
    preset_title,
    sampler_of,
    sampler_spec,
    scheme_name,
    scheme_of,
    timings,
    whole,
    with_overrides,
)

__all__ = ["add_parser", "run"]

# Defaults of the options a resumed run takes from the saved file instead.
RUN_DEFAULTS = dict(
    preset=DEFAULT_PRESET,
    n=10_000,
    dt=1e-3,
    record_every=100,
    dtype="float32",
    scheme="euler",
    sampler="quantiles",
    seed=0,
    raster=200,
)


def add_parser(sub) -> None:
    sim = sub.add_parser(
        "simulate",
        help="simulate the spiking network",
        description="Simulate the spiking network; writes OUT/NAME.npz, .json "
        "and .png. Times are dimensionless (one unit is C/(k|V_R|) = 1.54 ms at "
        "the paper's scales).",
    )
    add_parameter_options(sim, None)
    sim.add_argument("--n", type=whole, help="number of neurons (default 10000)")
    sim.add_argument("--t1", type=positive, default=800.0, help="end time (default 800)")
    sim.add_argument("--dt", type=positive, help="time step (default 1e-3)")
    sim.add_argument("--record-every", type=whole, help="steps per recording bin (default 100)")
    sim.add_argument(
        "--dtype", choices=("float32", "float64"), help="floating-point type (default float32)"
    )
    sim.add_argument(
        "--scheme",
        choices=tuple(SCHEME_NAMES),
        help=SCHEME_HELP,
    )
    sim.add_argument("--sampler", metavar="KIND[:OPTIONS]", help=SAMPLER_HELP)
    sim.add_argument("--seed", type=whole, help="PRNG seed (default 0)")
    sim.add_argument("--raster", type=whole, help="neurons whose spikes are kept (default 200)")
    add_max_memory(sim, "the network")
    sim.add_argument(
        "--out",
        type=Path,
        help="output folder (default results/; with --resume the resumed file's folder)",
    )
    sim.add_argument(
        "--name", help="file stem (default network; with --resume the resumed file's stem)"
    )
    sim.add_argument(
        "--resume",
        type=Path,
        metavar="PATH.npz",
        help="continue a saved run to --t1 (parameters may be changed with --set)",
    )
    sim.add_argument(
        "--input",
        metavar="KIND:NAME=VALUE,...",
        help="an input in time added to i_ext, e.g. sinusoid:amplitude=0.05,period=200, "
        "pulses:amplitude=0.1,period=50,width=5, step:times=100,values=0;0.1, "
        "piecewise:times=0;100,values=0;0.1 or sampled:file=PATH (columns t value); "
        "give it again with --resume (it continues in absolute time)",
    )
    sim.add_argument(
        "--input-fraction",
        type=float,
        metavar="F",
        help="--input reaches only this fraction of each population (0 < F <= 1)",
    )
    sim.add_argument(
        "--monitor",
        metavar="N|I,J,...",
        help="record v, w and spikes of N evenly spaced neurons or of the neurons I,J,... "
        "(writes NAME_monitor.png)",
    )
    sim.add_argument(
        "--monitor-every",
        type=whole,
        help="steps between monitor samples; must divide --record-every (default: one per bin)",
    )
    sim.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    add_quiet(sim)
    sim.set_defaults(run=run)


def input_of(args):
    """The `jaxmf.inputs` object of --input (None without one), with --input-fraction."""
    from ..inputs import from_spec

    if args.input is None:
        if getattr(args, "input_fraction", None) is not None:
            raise UsageError("--input-fraction", "needs an --input")
        return None
    try:
        return from_spec(args.input)
    except ParameterError as e:
        raise UsageError("--input", str(e).partition(": ")[2] or str(e)) from None


def _monitor_of(args):
    from ..monitors import Monitor

    if args.monitor is None:
        if args.monitor_every is not None:
            raise UsageError("--monitor-every", "needs a --monitor")
        return None
    try:
        items = [int(x) for x in args.monitor.split(",") if x.strip()]
        spec = items[0] if len(items) == 1 and "," not in args.monitor else items
        return Monitor(spec, every=args.monitor_every)
    except (ValueError, IndexError, ParameterError):
        raise UsageError(
            "--monitor", f"give a count or comma-separated neuron indices; got {args.monitor!r}"
        ) from None


def _load_resumed(args):
    """The saved run of --resume and its metadata; fills the run options from it."""
    import jax

    from .. import io

    given = [
        name
        for name in ("preset", "n", "dt", "record_every", "dtype", "sampler", "seed", "raster")
        if getattr(args, name) is not None
    ]
    if given:
        raise UsageError(
            f"--{given[0].replace('_', '-')}",
            "taken from the resumed run; change parameters with --set",
        )
    try:
        saved = io.load_network_result(args.resume)
        if saved.meta["dtype"] == "float64":
            jax.config.update("jax_enable_x64", True)
        prior = io.restore_network_result(saved)
    except (OSError, KeyError, ValueError) as e:
        raise UsageError("--resume", f"cannot read {args.resume}: {e}") from None
    meta = saved.meta
    stem = io.stem(args.resume)
    args.out = args.out or stem.parent
    args.name = args.name or stem.name
    args.n, args.dt, args.record_every = meta["n"], meta["dt"], meta["record_every"]
    args.dtype, args.raster = meta["dtype"], meta["n_raster"]
    args.sampler = sampler_spec(meta["sampler"])
    args.seed = meta["seed"]
    args.scheme = args.scheme or scheme_name((meta["scheme"] or {}).get("name"))
    return prior, meta


def run(args, command: str) -> int:
    import jax

    from .. import io
    from ..network import (
        SimulationError,
        SimulationInterrupted,
        simulate_network,
    )
    from ..presets import get as get_preset

    overrides = dict(args.overrides)
    prior, saved_meta = None, {}
    if args.resume is not None:
        prior, saved_meta = _load_resumed(args)
    for name, default in RUN_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    sampler = sampler_of(args.sampler)
    if prior is None:
        params = get_preset(args.preset, units=args.units, **overrides)
    else:
        params = with_overrides(prior.params, overrides, args.units)
    bin_time = args.dt * args.record_every
    if prior is None and 0 < args.t1 < bin_time:
        # Else the library's first complaint is that t1 is not a whole number of bins.
        raise UsageError(
            "--dt",
            f"one recording bin (dt * record_every = {bin_time:g}) is "
            f"longer than the run to t1={args.t1:g}; lower --dt or --record-every",
        )
    if prior is None and bin_time > 0 and math.isfinite(args.t1):
        itemsize = 8 if args.dtype == "float64" else 4
        # Per bin: r, <v>, <w>, s and a non-finite count per population, and the raster.
        per_record = 5 * itemsize * params.n_populations + 4 * min(args.raster, args.n)
        check_network_memory(
            args.n, itemsize, args.max_memory, n_records=args.t1 / bin_time, record_bytes=per_record
        )
    out = prepare_out(args.out or Path("results"))
    stem = out / (args.name or "network")
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)

    scheme = scheme_of(args.scheme)
    drive, monitor = input_of(args), _monitor_of(args)
    extra = {"command": command, "preset": args.preset}
    if drive is not None:
        extra.update(input=args.input, input_fraction=args.input_fraction)
    if prior is not None:
        # The earlier segment's record (it may have had other parameters), chained per resume.
        extra.update(
            preset=saved_meta["provenance"].get("preset") or "resumed",
            resumed_from={
                **saved_meta["provenance"],
                "t_end": saved_meta["summary"]["t_end"],
                "params": saved_meta["params"],
                "scheme": saved_meta["scheme"],
            },
        )

    def save(res):
        return io.save_network_result(
            stem, res, scheme=scheme, sampler=sampler, seed=args.seed, timing=timings(), **extra
        )

    try:
        res = simulate_network(
            params,
            n=args.n,
            t1=args.t1,
            dt=args.dt,
            record_every=args.record_every,
            dtype=jax.numpy.dtype(args.dtype),
            scheme=scheme,
            sampler=sampler,
            key=jax.random.key(args.seed),
            raster=args.raster,
            resume=prior,
            progress=not args.quiet,
            i_ext=drive,
            input_neurons=args.input_fraction,
            monitor=monitor,
        )
    except SimulationError as e:
        npz, _ = save(e.result)
        message = str(e).replace("; `.result` holds the run.", ".")
        return fail(f"{message} Partial result saved to {npz}.", EXIT_FAILED)
    except SimulationInterrupted as e:
        npz, _ = save(e.result)
        t_end = float(e.result.t[-1]) if len(e.result.t) else 0.0
        print(
            f"jaxmf: interrupted at t={t_end:g}; partial result saved to {npz}\n"
            f"jaxmf: continue with: jaxmf simulate --resume {shlex.quote(str(npz))} "
            f"--t1 {args.t1:g}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED

    npz, sidecar = save(res)
    png = mon_png = None
    if not args.no_plot:
        from .. import plot

        png = stem.with_name(stem.name + ".png")
        title = f"{preset_title(extra['preset'], overrides)} (N={res.network.n}, dt={res.dt:g})"
        plot.pyplot().close(plot.plot_network(res, png, title=title))
        if res.monitor is not None:
            mon_png = stem.with_name(stem.name + "_monitor.png")
            plot.pyplot().close(plot.plot_monitor(res, mon_png, title=title))
    print_summary(io.summarize(res), [npz, sidecar, png, mon_png])
    return EXIT_OK


def print_summary(summary: dict, paths) -> None:
    """The run's status, mean rates (per population and over the network) and written files."""
    print(
        f"status: {summary['message'] or 'ok'}, t = 0..{summary['t_end']:g} "
        f"({summary['n_records']} records)"
    )
    if "rate" in summary:
        per_pop = ", ".join(
            f"{r:.4g} ({hz:.3g} Hz)" for r, hz in zip(summary["rate"], summary["rate_hz"])
        )
        label = "mean rate" if len(summary["rate"]) == 1 else "mean rate per population"
        print(f"{label} for t > {summary['rate_from_t']:g}: {per_pop}")
        if len(summary["rate"]) > 1:
            print(
                f"network mean rate: {summary['network_rate']:.4g} "
                f"({summary['network_rate_hz']:.3g} Hz)"
            )
        if "regime" in summary:
            for m, (regime, period) in enumerate(zip(summary["regime"], summary["period"])):
                pop = f"population {m}: " if len(summary["regime"]) > 1 else ""
                text = f", burst period {period:.4g}" if regime == "bursting" else ""
                print(f"{pop}{regime}{text}")
    for path in paths:
        if path is not None:
            print(f"wrote {path}")
