"""`jaxmf sweep CONFIG.toml`: a parameter sweep described by a TOML file (examples/sweep.toml).

    preset = "chen_campbell_2022"      # a jaxmf preset; [set] overrides its values
    model = "meanfield"                # or "network"
    observables = ["regime", "r_mean", "burst_period"]
    out = "results/regime_map.nc"
    [grid]                             # design = product | points | random | latin_hypercube
    eta_bar = { start = 0.0, stop = 0.3, num = 400 }
    w_jump = { start = 0.005, stop = 0.1, num = 400 }
    [options]                          # the model's options: t1, rtol, save_dt, ...
    t1 = 2000.0

Running it again resumes an interrupted sweep (finished chunks are kept in OUT.parts/). Several
hosts: start the same command on each with --coordinator HOST:PORT --num-processes N
--process-id I (or --distributed where JAX detects the cluster, e.g. under SLURM).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

_TOP_KEYS = {
    "preset": "a jaxmf preset name",
    "set": "a table of parameter overrides",
    "model": "'meanfield' or 'network'",
    "observables": "a list of observable names",
    "out": "the netCDF file to write",
    "seed": "a whole number >= 0",
    "chunk_size": "points per saved chunk",
    "points_per_device": "the vmap width of one device",
    "memory_budget": "bytes per device",
    "devices": "how many local devices to use",
    "plot": "true/false: write a PNG of a 2-D regime map",
    "grid": "a table: design and one entry per parameter",
    "options": "a table of model options",
}
_DESIGNS = ("product", "points", "random", "latin_hypercube")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sweep", help="parameter sweep from a TOML config (resumable)",
        description="Evaluate the mean field or a batch of networks over a parameter grid "
        "described by CONFIG (see examples/sweep.toml); write an xarray/netCDF dataset with "
        "every observable, per-point status and provenance, and a PNG regime map for 2-D grids. "
        "Finished chunks are saved as they complete: run the same command again to resume.")
    p.add_argument("config", type=Path, metavar="CONFIG.toml")
    p.add_argument("--out", type=Path, help="output file (default: `out` in the config, else "
                   "results/<config name>.nc)")
    p.add_argument("--devices", type=int, help="use this many local devices (default all)")
    p.add_argument("--overwrite", action="store_true",
                   help="discard an earlier, different sweep at the output path")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--coordinator", metavar="HOST:PORT",
                   help="multi-host: address of process 0 (with --num-processes, --process-id)")
    p.add_argument("--num-processes", type=int, help="multi-host: number of processes")
    p.add_argument("--process-id", type=int, help="multi-host: this process's index")
    p.add_argument("--distributed", action="store_true",
                   help="multi-host: jax.distributed.initialize() with the cluster's own "
                   "settings (SLURM, Open MPI, ...)")
    p.set_defaults(run=run_sweep)


def _axis(name: str, spec: Any, design: str):
    """A grid entry of the config as numbers: [list], {start, stop, num[, log]} or, for random
    designs, [low, high]."""
    import numpy as np

    from .params import ParameterError

    if design in ("random", "latin_hypercube"):
        if not (isinstance(spec, list) and len(spec) == 2):
            raise ParameterError(name, f"a {design} design takes a range [low, high]; got {spec!r}")
        return spec
    if isinstance(spec, list):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec):
            raise ParameterError(name, f"grid values must be numbers; got {spec!r}")
        return spec
    if isinstance(spec, dict):
        unknown = set(spec) - {"start", "stop", "num", "log"}
        if unknown or not {"start", "stop", "num"} <= set(spec):
            raise ParameterError(name, "an axis is a list of values or {start, stop, num} "
                                 f"(optionally log = true); got keys {sorted(spec)}")
        num = spec["num"]
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise ParameterError(f"{name}.num", f"must be a whole number >= 1; got {num!r}")
        start, stop = spec["start"], spec["stop"]
        for key, v in (("start", start), ("stop", stop)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ParameterError(f"{name}.{key}", f"must be a finite number; got {v!r}")
        if spec.get("log", False):
            if start <= 0 or stop <= 0:
                raise ParameterError(name, f"a log axis needs start, stop > 0; got {start}, {stop}")
            return np.geomspace(start, stop, num)
        return np.linspace(start, stop, num)
    raise ParameterError(name, f"an axis is a list of values or {{start, stop, num}}; got {spec!r}")


def load_config(path: Path) -> dict[str, Any]:
    """Read and check a sweep config; returns keyword arguments for `jaxmf.sweep.sweep` plus
    'plot'. Raises ParameterError naming the offending key."""
    import tomllib

    from .params import ParameterError
    from .presets import PRESETS, get as get_preset
    from ._sweep import Grid

    try:
        config = tomllib.loads(Path(path).read_text())
    except OSError as e:
        raise ParameterError("config", f"cannot read {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ParameterError("config", f"{path} is not valid TOML: {e}") from None
    unknown = [k for k in config if k not in _TOP_KEYS]
    if unknown:
        raise ParameterError(unknown[0], "unknown key in the config; allowed: "
                             + ", ".join(f"{k} ({v})" for k, v in _TOP_KEYS.items()))
    preset = config.get("preset", "chen_campbell_2022")
    if preset not in PRESETS:
        raise ParameterError("preset", f"unknown preset {preset!r}; choose one of "
                             f"{', '.join(PRESETS)}")
    overrides = config.get("set", {})
    if not isinstance(overrides, dict):
        raise ParameterError("set", "must be a table of parameter = value")
    params = get_preset(preset, **overrides)

    grid_cfg = dict(config.get("grid", {}))
    if not isinstance(config.get("grid", {}), dict) or not grid_cfg:
        raise ParameterError("grid", "the config needs a [grid] table with at least one "
                             "parameter, e.g. eta_bar = { start = 0.0, stop = 0.3, num = 100 }")
    design = grid_cfg.pop("design", "product")
    if design not in _DESIGNS:
        raise ParameterError("grid.design", f"must be one of {', '.join(_DESIGNS)}; got {design!r}")
    n = grid_cfg.pop("n", None)
    seed = config.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError("seed", f"must be a whole number >= 0; got {seed!r}")
    axes = {name: _axis(name, spec, design) for name, spec in grid_cfg.items()}
    if design in ("random", "latin_hypercube"):
        if n is None:
            raise ParameterError("grid.n", f"a {design} design needs n, the number of points")
        grid = getattr(Grid, design)(n, seed=seed, **axes)
    else:
        if n is not None:
            raise ParameterError("grid.n", f"only random and latin_hypercube designs take n; "
                                 f"this one is {design!r}")
        grid = getattr(Grid, design)(**axes)

    model = config.get("model", "meanfield")
    if model not in ("meanfield", "network"):
        raise ParameterError("model", f"must be 'meanfield' or 'network'; got {model!r}")
    options = config.get("options", {})
    if not isinstance(options, dict):
        raise ParameterError("options", "must be a table of model options")
    options = dict(options)
    if model == "network":
        options = _network_options(options)
    observables = config.get("observables")
    if observables is not None and not (isinstance(observables, list)
                                        and all(isinstance(o, str) for o in observables)):
        raise ParameterError("observables", f"must be a list of names; got {observables!r}")
    plot = config.get("plot", True)
    if not isinstance(plot, bool):
        raise ParameterError("plot", f"must be true or false; got {plot!r}")
    out = config.get("out")
    if out is not None and not isinstance(out, str):
        raise ParameterError("out", f"must be a file path; got {out!r}")
    kwargs = dict(params=params, grid=grid, model=model, observables=observables, seed=seed,
                  out=Path(out) if out else None, plot=plot, **options)
    for key in ("chunk_size", "points_per_device", "memory_budget", "devices"):
        if key in config:
            kwargs[key] = config[key]
    return kwargs


def _network_options(options: dict) -> dict:
    from .heterogeneity import Quantiles, RandomDraws
    from .network import EulerReset, ExactPassage
    from .params import ParameterError

    schemes = {"euler": EulerReset(), "exact": ExactPassage()}
    samplers = {"quantiles": Quantiles(), "random": RandomDraws()}
    for key, table in (("scheme", schemes), ("sampler", samplers)):
        if key in options:
            if options[key] not in table:
                raise ParameterError(f"options.{key}", f"must be one of {', '.join(table)}; got "
                                     f"{options[key]!r}")
            options[key] = table[options[key]]
    return options


def run_sweep(args, command: str) -> int:
    import sys

    from .cli import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, _fail

    if args.coordinator or args.num_processes is not None or args.process_id is not None:
        if not (args.coordinator and args.num_processes is not None
                and args.process_id is not None):
            return _fail("--coordinator, --num-processes and --process-id go together",
                         EXIT_USAGE)
    import jax

    # The mean field resolves rates near 1e-3 and slow adaptation: float64 (as `jaxmf meanfield`).
    jax.config.update("jax_enable_x64", True)
    if args.coordinator:
        jax.distributed.initialize(coordinator_address=args.coordinator,
                                   num_processes=args.num_processes, process_id=args.process_id)
    elif args.distributed:
        jax.distributed.initialize()

    from .params import ParameterError
    from ._sweep import SweepInterrupted, sweep

    try:
        kwargs = load_config(args.config)
        plot = kwargs.pop("plot") and not args.no_plot
        out = args.out or kwargs.pop("out") or Path("results") / (args.config.stem + ".nc")
        kwargs.pop("out", None)
        if args.devices is not None:
            kwargs["devices"] = args.devices
        ds = sweep(out=out, progress=not args.quiet, overwrite=args.overwrite,
                   provenance={"command": command, "config": args.config.read_text()}, **kwargs)
    except ParameterError as e:
        return _fail(f"{args.config}: {e}", EXIT_USAGE)
    except SweepInterrupted as e:
        print(f"jaxmf: interrupted with {e.done} of {e.total} points saved; resume with: "
              f"{command}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if jax.process_index() != 0:
        return EXIT_OK
    _print_summary(ds)
    print(f"wrote {out}")
    if plot:
        png = _plot(ds, out)
        if png is not None:
            print(f"wrote {png}")
    failed = int((ds["status"] != "ok").sum())
    if failed:
        print(f"jaxmf: {failed} point(s) did not finish cleanly (see the `status` variable)",
              file=sys.stderr)
    return EXIT_OK if failed < ds["status"].size else EXIT_FAILED


def _print_summary(ds) -> None:
    import numpy as np

    status = np.asarray(ds["status"].values).astype(str)
    counts = ", ".join(f"{k}: {int(np.sum(status == k))}" for k in np.unique(status))
    dims = " x ".join(f"{ds.sizes[d]} {d}" for d in ds["status"].dims)
    print(f"sweep of {status.size} points ({dims}): {counts}")
    if "regime" in ds:
        reg = np.asarray(ds["regime"].values).astype(str)
        print("regimes: " + ", ".join(f"{k}: {int(np.sum(reg == k))}" for k in np.unique(reg)))


def _plot(ds, out: Path):
    two_d = len(ds["status"].dims) == 2 and ds.attrs.get("grid_design") == "product"
    if "regime" not in ds or not two_d:
        return None
    import matplotlib.pyplot as plt

    from .plot import plot_regime_map

    png = out.with_suffix(".png")
    plt.close(plot_regime_map(ds, png))
    return png
