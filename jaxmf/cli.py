"""The `jaxmf` command line: parses, calls the library, writes files.

    jaxmf simulate --preset bursting --set eta_bar=0.13 --n 10000 --t1 800 --out results/
    jaxmf meanfield --preset bursting --t1 1600 --switch 800:0.1 --equilibria
    jaxmf compare --preset bursting --n 10000 --t1 800 --models chen_campbell,nicola_campbell

Each writes OUT/NAME.npz, .json (provenance, parameters, summary numbers) and .png.
Exit codes: 0 success, 1 numerical failure (partial result saved where there is one), 2 bad
input, 130 interrupted with Ctrl-C (`simulate` saves the partial result; continue it with
--resume).
"""

from __future__ import annotations

import argparse
import importlib
import math
import shlex
import sys
from pathlib import Path

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# Defaults of the options a resumed run takes from the saved file instead.
_RUN_DEFAULTS = dict(preset="bursting", n=10_000, dt=1e-3, record_every=100, dtype="float32",
                     scheme="euler", sampler="quantiles", seed=0, raster=200)


# Modules jaxmf.NAME that add a subcommand: `add_parser(sub)` adds the subparser and sets
# `run=fn` with set_defaults, `fn(args, command: str) -> int` runs it (exit codes as above).
_MORE_COMMANDS: tuple[str, ...] = ("_cli_fit", "_cli_sweep", "_cli_bifurcation")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise _UsageError(message)


def _whole(text: str) -> int:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if not x.is_integer():
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}")
    return int(x)


def _assignment(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE a number, a comma-separated list (one per population) or
    semicolon-separated rows of such lists (a matrix, e.g. g)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        rows = [[float(x) for x in row.split(",")] for row in value.split(";")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{key}: {value!r} is not a number or a comma-separated "
                                         "list of numbers") from None
    if ";" in value:
        return key, rows
    return key, rows[0][0] if len(rows[0]) == 1 and "," not in value else rows[0]


def _positive(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; got {text}")
    return x


def _nonnegative(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not (math.isfinite(x) and x >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0; got {text}")
    return x


def _switch(text: str) -> tuple[float, list[float]]:
    """T:VALUE, VALUE a number or a comma-separated list (one per population)."""
    time, sep, value = text.partition(":")
    try:
        if not sep:
            raise ValueError
        t, values = float(time), [float(x) for x in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected T:VALUE (e.g. 800:0.1, the extra input from "
                                         f"time T on), got {text!r}") from None
    if not all(math.isfinite(x) for x in (t, *values)):
        raise argparse.ArgumentTypeError(f"time and value must be finite; got {text!r}")
    return t, values


def _model_list(text: str) -> tuple[str, ...]:
    from .meanfield import MODELS

    models = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise argparse.ArgumentTypeError(f"unknown model {unknown[0] if unknown else text!r}; "
                                         f"choose from {', '.join(MODELS)} (comma-separated)")
    return tuple(dict.fromkeys(models))


def _add_parameter_options(parser, default_preset: str) -> None:
    parser.add_argument("--preset", default=default_preset,
                        help=f"parameter set (default {default_preset}): chen_campbell_2022, "
                        "chen_campbell_2022_rounded (or rounded), bursting, tonic, two_population")
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", type=_assignment,
                        action="append", default=[],
                        help="override a parameter, e.g. eta_bar=0.13; a,b for per-population "
                        "values; rows separated by ';' for the matrix g (repeatable)")


def _build_parser() -> _Parser:
    parser = _Parser(prog="jaxmf", description="Spiking Izhikevich networks with adaptation "
                     "and their exact mean field (Chen & Campbell 2022).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sim = sub.add_parser("simulate", help="simulate the spiking network",
                         description="Simulate the spiking network; writes OUT/NAME.npz, .json "
                         "and .png. Times are dimensionless (one unit is C/(k|V_R|) = 1.54 ms at "
                         "the paper's scales).")
    sim.add_argument("--preset", help=f"parameter set (default {_RUN_DEFAULTS['preset']}): "
                     "chen_campbell_2022, chen_campbell_2022_rounded (rounded), bursting, tonic, "
                     "two_population")
    sim.add_argument("--set", dest="overrides", metavar="KEY=VALUE", type=_assignment,
                     action="append", default=[],
                     help="override a parameter, e.g. eta_bar=0.13; a,b for per-population "
                     "values; rows separated by ';' for the matrix g (repeatable)")
    sim.add_argument("--n", type=_whole, help="number of neurons (default 10000)")
    sim.add_argument("--t1", type=float, default=800.0, help="end time (default 800)")
    sim.add_argument("--dt", type=float, help="time step (default 1e-3)")
    sim.add_argument("--record-every", type=_whole, help="steps per recording bin (default 100)")
    sim.add_argument("--dtype", choices=("float32", "float64"),
                     help="floating-point type (default float32)")
    sim.add_argument("--scheme", choices=("euler", "exact"),
                     help="euler: the paper's Euler-with-reset (default); exact: exact passage "
                     "through infinity")
    sim.add_argument("--sampler", choices=("quantiles", "random"),
                     help="Lorentzian excitabilities: deterministic quantiles (default) or random")
    sim.add_argument("--seed", type=_whole, help="PRNG seed (default 0)")
    sim.add_argument("--raster", type=_whole, help="neurons whose spikes are kept (default 200)")
    sim.add_argument("--out", type=Path, help="output folder (default results/; with --resume "
                     "the resumed file's folder)")
    sim.add_argument("--name", help="file stem (default network; with --resume the resumed "
                     "file's stem)")
    sim.add_argument("--resume", type=Path, metavar="PATH.npz",
                     help="continue a saved run to --t1 (parameters may be changed with --set)")
    sim.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")

    mf = sub.add_parser("meanfield", help="solve a mean-field model",
                        description="Solve a mean-field model (diffrax, adaptive steps) from the "
                        "network's initial state (all zeros); writes OUT/NAME.npz, .json and .png.")
    _add_parameter_options(mf, "bursting")
    mf.add_argument("--t1", type=_positive, default=800.0, help="end time (default 800)")
    mf.add_argument("--model", default="chen_campbell",
                    choices=("chen_campbell", "nicola_campbell", "mpr"),
                    help="chen_campbell: the exact mean field (default); nicola_campbell: the "
                    "2013 model; mpr: no adaptation (Montbrio-Pazo-Roxin)")
    mf.add_argument("--rtol", type=_positive, default=1e-8,
                    help="relative tolerance (default 1e-8)")
    mf.add_argument("--atol", type=_positive, default=1e-10,
                    help="absolute tolerance (default 1e-10)")
    mf.add_argument("--switch", metavar="T:VALUE", type=_switch, action="append", default=[],
                    help="from time T on, add VALUE to I_ext (a,b for per-population values; "
                    "repeatable), e.g. 800:0.1 turns bursting into tonic firing")
    mf.add_argument("--equilibria", action="store_true",
                    help="also find the equilibria and their stability (at each input level)")
    mf.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                    help="floating-point type (default float64)")
    mf.add_argument("--out", type=Path, default=Path("results"),
                    help="output folder (default results/)")
    mf.add_argument("--name", default="meanfield", help="file stem (default meanfield)")
    mf.add_argument("--no-plot", action="store_true", help="do not write the PNG")

    cmp = sub.add_parser("compare", help="network versus mean field on the same parameters",
                         description="Simulate the network and solve the mean field(s) from the "
                         "same parameters and initial state; print and save discrepancy metrics "
                         "(mean rates, burst periods, relative errors, regimes). Writes "
                         "OUT/NAME.npz, .json and .png.")
    _add_parameter_options(cmp, "bursting")
    cmp.add_argument("--n", type=_whole, default=10_000, help="number of neurons (default 10000)")
    cmp.add_argument("--t1", type=_positive, default=800.0, help="end time (default 800)")
    cmp.add_argument("--dt", type=_positive, default=1e-3, help="network time step (default 1e-3)")
    cmp.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                     help="network floating-point type (default float32; the mean field is "
                     "solved in float64)")
    cmp.add_argument("--scheme", choices=("euler", "exact"), default="euler",
                     help="euler: the paper's Euler-with-reset (default); exact: exact passage "
                     "through infinity")
    cmp.add_argument("--sampler", choices=("quantiles", "random"), default="quantiles",
                     help="Lorentzian excitabilities: deterministic quantiles (default) or random")
    cmp.add_argument("--seed", type=_whole, default=0, help="PRNG seed (default 0)")
    cmp.add_argument("--transient", type=_nonnegative,
                     help="metrics use t > TRANSIENT only (default t1/4)")
    cmp.add_argument("--models", type=_model_list, default=("chen_campbell",),
                     help="mean-field models, comma-separated (default chen_campbell; also "
                     "nicola_campbell, mpr)")
    cmp.add_argument("--out", type=Path, default=Path("results"),
                     help="output folder (default results/)")
    cmp.add_argument("--name", default="compare", help="file stem (default compare)")
    cmp.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    cmp.add_argument("--quiet", action="store_true", help="no progress bar")
    for name in _MORE_COMMANDS:
        importlib.import_module(f"jaxmf.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `jaxmf` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = _build_parser().parse_args(argv)
    except _UsageError as e:
        return _fail(str(e), EXIT_USAGE)
    except SystemExit as e:  # --help
        return int(e.code or 0)
    run = {"simulate": _simulate, "meanfield": _meanfield, "compare": _compare}.get(args.command)
    run = run or args.run  # subcommands from _MORE_COMMANDS set `run` with set_defaults
    try:
        return run(args, command=shlex.join(["jaxmf", *argv]))
    except OSError as e:  # reading --resume is handled where it happens: this is writing
        return _fail(f"cannot write results: {e}", EXIT_FAILED)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)


def _fail(message: str, code: int) -> int:
    print(f"jaxmf: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def _simulate(args, command: str) -> int:
    import jax

    from . import io
    from .heterogeneity import Quantiles, RandomDraws
    from .network import EulerReset, ExactPassage, SimulationError, SimulationInterrupted, \
        simulate_network
    from .params import ParameterError
    from .presets import get as get_preset

    overrides = dict(args.overrides)
    prior, saved_meta = None, {}
    if args.resume is not None:
        given = [name for name in ("preset", "n", "dt", "record_every", "dtype", "sampler",
                                   "seed", "raster") if getattr(args, name) is not None]
        if given:
            return _fail(f"--{given[0].replace('_', '-')}: taken from the resumed run; "
                         "change parameters with --set", EXIT_USAGE)
        try:
            saved = io.load_network_result(args.resume)
            if saved.meta["dtype"] == "float64":
                jax.config.update("jax_enable_x64", True)
            prior = io.restore_network_result(saved)
        except (OSError, KeyError, ValueError) as e:
            return _fail(f"--resume: cannot read {args.resume}: {e}", EXIT_USAGE)
        saved_meta = saved.meta
        stem = io._stem(args.resume)
        args.out = args.out or stem.parent
        args.name = args.name or stem.name
        args.dt, args.record_every = saved_meta["dt"], saved_meta["record_every"]
        args.dtype = saved_meta["dtype"]
        args.sampler = {"RandomDraws": "random"}.get((saved_meta["sampler"] or {}).get("name"),
                                                     "quantiles")
        args.seed = saved_meta["seed"]
        args.scheme = args.scheme or {"ExactPassage": "exact"}.get(
            (saved_meta["scheme"] or {}).get("name"), "euler")
    for name, default in _RUN_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    args.out = args.out or Path("results")
    args.name = args.name or "network"
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)

    scheme = {"euler": EulerReset(), "exact": ExactPassage()}[args.scheme]
    sampler = {"quantiles": Quantiles(), "random": RandomDraws()}[args.sampler]
    stem = args.out / args.name
    extra = {"command": command, "preset": args.preset}
    if prior is not None:
        # The earlier segment's record (it may have had other parameters), chained per resume.
        extra.update(preset=saved_meta["provenance"].get("preset") or "resumed", resumed_from={
            **saved_meta["provenance"], "t_end": saved_meta["summary"]["t_end"],
            "params": saved_meta["params"], "scheme": saved_meta["scheme"]})
    save = lambda res: io.save_network_result(stem, res, scheme=scheme, sampler=sampler,
                                              seed=args.seed, **extra)
    try:
        if prior is None:
            params = get_preset(args.preset, **overrides)
        else:
            params = prior.params.replace(**overrides) if overrides else prior.params
        res = simulate_network(
            params, n=args.n, t1=args.t1, dt=args.dt, record_every=args.record_every,
            dtype=jax.numpy.dtype(args.dtype), scheme=scheme, sampler=sampler,
            key=jax.random.key(args.seed), raster=args.raster, resume=prior,
            progress=not args.quiet)
    except ParameterError as e:
        return _fail(str(e), EXIT_USAGE)
    except SimulationError as e:
        npz, _ = save(e.result)
        message = str(e).replace("; `.result` holds the run.", ".")
        return _fail(f"{message} Partial result saved to {npz}.", EXIT_FAILED)
    except SimulationInterrupted as e:
        npz, _ = save(e.result)
        t_end = float(e.result.t[-1]) if len(e.result.t) else 0.0
        print(f"jaxmf: interrupted at t={t_end:g}; partial result saved to {npz}\n"
              f"jaxmf: continue with: jaxmf simulate --resume {shlex.quote(str(npz))} "
              f"--t1 {args.t1:g}", file=sys.stderr)
        return EXIT_INTERRUPTED

    npz, sidecar = save(res)
    png = None
    if not args.no_plot:
        import matplotlib.pyplot as plt

        from .plot import plot_network

        png = stem.with_name(stem.name + ".png")
        plt.close(plot_network(res, png, title=_title(extra["preset"], overrides, res)))
    _print_summary(io.summarize(res), [npz, sidecar, png])
    return EXIT_OK


def _title(preset, overrides, res) -> str:
    extra = "".join(f" {k}={v}" for k, v in overrides.items())
    return f"{preset}{extra} (N={res.network.n}, dt={res.dt:g})"


def _print_summary(summary: dict, paths) -> None:
    print(f"status: {summary['message']}, t = 0..{summary['t_end']:g} "
          f"({summary['n_records']} records)")
    if "rate" in summary:
        per_pop = ", ".join(f"{r:.4g} ({hz:.3g} Hz)"
                            for r, hz in zip(summary["rate"], summary["rate_hz"]))
        label = "mean rate" if len(summary["rate"]) == 1 else "mean rate per population"
        print(f"{label} for t > {summary['rate_from_t']:g}: {per_pop}")
        if len(summary["rate"]) > 1:
            print(f"network mean rate: {summary['network_rate']:.4g} "
                  f"({summary['network_rate_hz']:.3g} Hz)")
    for path in paths:
        if path is not None:
            print(f"wrote {path}")


def _solver_failure(e: Exception) -> bool:
    # What diffrax/equinox raise for a failed solve with throw=True.
    return type(e).__name__ in ("EquinoxRuntimeError", "XlaRuntimeError", "JaxRuntimeError")


def _cast_params(params, dtype):
    import jax
    import jax.numpy as jnp

    return jax.tree.map(lambda x: jnp.asarray(x, dtype), params)


def _step_input(switches, t1: float, params):
    """A `StepInput` from --switch T:VALUE pairs (zero before the first switch), or None."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from .meanfield import StepInput
    from .params import ParameterError

    if not switches:
        return None
    switches = sorted(switches, key=lambda tv: tv[0])
    times = [t for t, _ in switches]
    for t in times:
        if not 0 < t < t1:
            raise ParameterError("--switch", f"time {t:g} must be inside the run (0, {t1:g})")
    if len(set(times)) < len(times):
        raise ParameterError("--switch", "two switches at the same time")
    p = params.n_populations
    rows = []
    for t, values in switches:
        if len(values) not in (1, p):
            raise ParameterError("--switch", f"at {t:g}: {len(values)} values for {p} "
                                 "population(s); give one, or one per population")
        rows.append(np.broadcast_to(values, (p,)) if p > 1 else values[0])
    step = StepInput(times=np.asarray(times), values=np.asarray([np.zeros(p) if p > 1 else 0.0,
                                                                  *rows]))
    # In the solve's dtype (StepInput itself builds default-float arrays).
    return jax.tree.map(lambda x: jnp.asarray(x, params.eta_bar.dtype), step)


def _preset_title(preset, overrides) -> str:
    return preset + "".join(f" {k}={v}" for k, v in overrides.items())


def _meanfield(args, command: str) -> int:
    import jax

    # The mean field resolves rates near 1e-3 and slow adaptation: float64 by default.
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np

    from . import io
    from .meanfield import meanfield_equilibria, solve_meanfield
    from .params import ParameterError
    from .presets import get as get_preset

    overrides = dict(args.overrides)
    try:
        params = _cast_params(get_preset(args.preset, **overrides), args.dtype)
        step = _step_input(args.switch, args.t1, params)
        # Save times in the solve's dtype: diffrax promotes the state to the time dtype.
        ts = jnp.linspace(0.0, args.t1, int(round(args.t1 / 0.1)) + 1, dtype=params.eta_bar.dtype)
        res = solve_meanfield(params, t1=args.t1, ts=ts, model=args.model, i_ext=step,
                              rtol=args.rtol, atol=args.atol, throw=False)
    except ParameterError as e:
        return _fail(str(e), EXIT_USAGE)

    edges = [0.0, *(np.asarray(step.times).tolist() if step is not None else []), args.t1]
    # Each input level's window leaves out its first quarter (the switch transient).
    windows = [(a + (b - a) / 4, b) for a, b in zip(edges[:-1], edges[1:])]
    levels = [np.asarray(params.i_ext)] if step is None else \
        [np.asarray(params.i_ext) + np.asarray(v) for v in np.asarray(step.values)]
    distinct_levels = list({tuple(np.ravel(x)): x for x in levels}.values())
    equilibria = None
    if args.equilibria:
        find = jax.jit(meanfield_equilibria)
        equilibria = []
        for level in distinct_levels:
            eq = find(params.replace(i_ext=level.astype(params.eta_bar.dtype)))
            equilibria += io.equilibria_to_dicts(eq, i_ext=level.tolist())
    stem = args.out / args.name
    npz, sidecar = io.save_meanfield_result(stem, res, params=params, i_ext=step, windows=windows,
                                            equilibria=equilibria, command=command,
                                            preset=args.preset)
    if int(np.max(np.asarray(res.status))) != 0:
        return _fail(f"solve_meanfield ({args.model}): {res.message}; try looser --rtol/--atol "
                     f"or a shorter --t1. Result up to the failure saved to {npz}.", EXIT_FAILED)
    png = None
    if not args.no_plot:
        import matplotlib.pyplot as plt

        from .plot import plot_meanfield

        png = stem.with_name(stem.name + ".png")
        title = f"{_preset_title(args.preset, overrides)}, {args.model}" + "".join(
            f", I_ext += {_numbers(v)} at t={t:g}" for t, v in sorted(args.switch))
        plt.close(plot_meanfield(res, png, title=title, params=params, i_ext=step))
    summary = io.summarize_meanfield(res, params, windows)
    print(f"{args.model}: {summary['message']}, t = 0..{summary['t_end']:g} "
          f"({summary['n_steps']} steps, {np.asarray(res.r).dtype})")
    for row, level in zip(summary["windows"], levels):
        if "r_mean" not in row:
            continue
        for m, regime in enumerate(row["regime"]):
            pop = f" population {m}:" if len(row["regime"]) > 1 else ""
            text = (f"t in ({row['t_from']:g}, {row['t_to']:g}], I_ext = {_numbers(level)}:{pop} "
                    f"{regime}, mean r = {row['r_mean'][m]:.4g} ({row['r_mean_hz'][m]:.3g} Hz)")
            if regime == "bursting":
                text += (f", period {row['period'][m]:.4g}, r between {row['low'][m]:.3g} and "
                         f"{row['peak'][m]:.3g}")
            print(text)
    if equilibria is not None:
        for level in distinct_levels:
            rows = [e for e in equilibria if e["i_ext"] == level.tolist()]
            count = {0: "none found", 1: "1 equilibrium"}.get(len(rows), f"{len(rows)} equilibria")
            print(f"I_ext = {_numbers(level)}: {count}")
            for e in rows:
                values = "  ".join(f"{k} = {_numbers(np.asarray(e[k]))}" for k in "rvws")
                print(f"  {values}  {'stable' if e['stable'] else 'unstable'} "
                      f"(max Re eigenvalue {e['max_real_eigenvalue']:.3g})")
    for path in (npz, sidecar, png):
        if path is not None:
            print(f"wrote {path}")
    return EXIT_OK


def _numbers(x) -> str:
    import numpy as np

    values = np.ravel(np.asarray(x, float))
    return ",".join(f"{v:g}" for v in values) if values.size > 1 else f"{values[0]:g}"


def _compare(args, command: str) -> int:
    import jax

    # The mean field is solved in float64; the network runs in --dtype (float32 by default).
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    from . import io
    from ._compare import compare
    from .heterogeneity import Quantiles, RandomDraws
    from .network import EulerReset, ExactPassage, SimulationError
    from .params import ParameterError
    from .presets import get as get_preset

    overrides = dict(args.overrides)
    scheme = {"euler": EulerReset(), "exact": ExactPassage()}[args.scheme]
    sampler = {"quantiles": Quantiles(), "random": RandomDraws()}[args.sampler]
    if args.transient is not None and args.transient >= args.t1:
        return _fail(f"--transient: must be < t1={args.t1:g}; got {args.transient:g}", EXIT_USAGE)
    try:
        params = get_preset(args.preset, **overrides)
        cmp = compare(params, n=args.n, t1=args.t1, dt=args.dt, transient=args.transient,
                      dtype=jnp.dtype(args.dtype), scheme=scheme, models=args.models,
                      sampler=sampler, key=jax.random.key(args.seed), progress=not args.quiet)
    except ParameterError as e:
        return _fail(str(e), EXIT_USAGE)
    except SimulationError as e:
        return _fail(str(e).replace("; `.result` holds the run.", "."), EXIT_FAILED)
    except RuntimeError as e:
        if not _solver_failure(e):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return _fail(f"solve_meanfield failed: {first}", EXIT_FAILED)

    stem = args.out / args.name
    npz, sidecar = io.save_comparison(stem, cmp, scheme=scheme, sampler=sampler, seed=args.seed,
                                      command=command, preset=args.preset)
    png = None
    if not args.no_plot:
        import matplotlib.pyplot as plt

        from .plot import plot_comparison

        png = stem.with_name(stem.name + ".png")
        title = (f"{_preset_title(args.preset, overrides)} (N={cmp.network.network.n}, "
                 f"dt={args.dt:g}, {args.dtype}, {args.scheme}, {args.sampler})")
        plt.close(plot_comparison(cmp, png, title=title))
    _print_comparison(cmp, params, args)
    for path in (npz, sidecar, png):
        if path is not None:
            print(f"wrote {path}")
    return EXIT_OK


def _metric_prefix(model: str) -> str:
    from ._compare import MODEL_PREFIX

    return MODEL_PREFIX[model]


def _print_comparison(cmp, params, args) -> None:
    import numpy as np

    m = cmp.metrics
    hz = float(np.ravel(np.asarray(params.to_dimensional().rate_to_hz(1.0)))[0])
    n_pop = params.n_populations
    models = list(cmp.meanfield)
    print(f"network N={cmp.network.network.n} ({args.dtype}, {args.scheme}, {args.sampler}) vs "
          f"mean field ({np.asarray(cmp.meanfield[models[0]].r).dtype}); metrics over "
          f"t > {m['transient']:g} of 0..{m['t1']:g}; (x%) = |network - model| / |model|")
    fmt = lambda x, spec=".4g": "n/a" if not np.isfinite(x) else format(x, spec)
    pct = lambda x: "" if not np.isfinite(x) else f" ({100 * x:.2g}%)"
    width = max(16, *(len(name) + 2 for name in models))
    for pop in range(n_pop):
        keys = [_metric_prefix(model) + ("" if n_pop == 1 else f"pop{pop}_") for model in models]
        if n_pop > 1:
            print(f"population {pop}:")
        print((f"{'':<18}{'network':<{width}}" + "".join(f"{name:<{width}}" for name in models))
              .rstrip())
        net = lambda k: m[keys[0] + k]
        rows = [
            ("mean rate r", fmt(net("network_r_mean")),
             [fmt(m[k + "mf_r_mean"]) + pct(m[k + "rel_err_r_mean"]) for k in keys]),
            ("mean rate (Hz)", fmt(hz * net("network_r_mean"), ".3g"),
             [fmt(hz * m[k + "mf_r_mean"], ".3g") for k in keys]),
            ("burst period", fmt(net("network_period")),
             [fmt(m[k + "mf_period"]) + pct(m[k + "rel_err_period"]) for k in keys]),
            ("peak rate", fmt(net("network_peak_rate")),
             [fmt(m[k + "mf_peak_rate"]) + pct(m[k + "rel_err_peak"]) for k in keys]),
            ("regime", net("network_regime"), [m[k + "mf_regime"] for k in keys]),
            ("rel. err <v>, <w>", "",
             [f"{fmt(100 * m[k + 'rel_err_v_mean'], '.2g')}%, "
              f"{fmt(100 * m[k + 'rel_err_w_mean'], '.2g')}%" for k in keys]),
        ]
        for label, first, rest in rows:
            line = f"{label:<18}{first:<{width}}" + "".join(f"{x:<{width}}" for x in rest)
            print(line.rstrip())
