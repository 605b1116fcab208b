"""The `jaxmf` command line: parses, calls the library, writes files.

    jaxmf simulate --preset bursting --set eta_bar=0.13 --n 10000 --t1 800 --out results/

Exit codes: 0 success, 1 numerical failure (partial result saved), 2 bad input,
130 interrupted with Ctrl-C (partial result saved; continue it with --resume).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# Defaults of the options a resumed run takes from the saved file instead.
_RUN_DEFAULTS = dict(preset="bursting", n=10_000, dt=1e-3, record_every=100, dtype="float32",
                     scheme="euler", sampler="quantiles", seed=0, raster=200)


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


def _build_parser() -> _Parser:
    parser = _Parser(prog="jaxmf", description="Spiking Izhikevich networks with adaptation "
                     "and their exact mean field (Chen & Campbell 2022).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sim = sub.add_parser("simulate", help="simulate the spiking network",
                         description="Simulate the spiking network; writes OUT/NAME.npz, .json "
                         "and .png. Times are dimensionless (one unit is C/(k|V_R|) = 1.54 ms at "
                         "the paper's scales).")
    sim.add_argument("--preset", help=f"parameter set (default {_RUN_DEFAULTS['preset']}): "
                     "chen_campbell_2022, chen_campbell_2022_rounded, bursting, tonic, "
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
    try:
        return _simulate(args, command=shlex.join(["jaxmf", *argv]))
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
