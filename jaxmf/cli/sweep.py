"""`jaxmf sweep CONFIG.toml`: a parameter sweep described by a TOML file (examples/sweep.toml).

    preset = "bursting"                # a jaxmf preset (default bursting); [set] overrides it
    model = "meanfield"                # or "network"
    observables = ["regime", "r_mean", "burst_period"]
    out = "results/regime_map.nc"      # --out FOLDER puts this file's name in FOLDER
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
import sys
from pathlib import Path
from typing import Any

from ._common import (
    DEFAULT_PRESET,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    SAMPLER_HELP,
    SCHEME_NAMES,
    UsageError,
    add_quiet,
    fail,
    prepare_out,
    sampler_of,
    scheme_of,
    short,
)

__all__ = ["add_parser", "run", "load_config", "output_path"]

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
    "input": "an input in time for every point, as --input: 'sinusoid:amplitude=0.05,period=100'",
}
_DESIGNS = ("product", "points", "random", "latin_hypercube")
# A sweep config is a few lines; anything bigger is not one (and is not echoed back).
MAX_CONFIG_BYTES = 1 << 20


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="parameter sweep from a TOML config (resumable)",
        description="Evaluate the mean field or a batch of networks over a parameter grid "
        "described by CONFIG (see examples/sweep.toml); write an xarray/netCDF dataset with "
        "every observable, per-point status and provenance, and a PNG regime map for 2-D grids. "
        "Finished chunks are saved as they complete: run the same command again to resume.",
    )
    p.add_argument("config", type=Path, metavar="CONFIG.toml")
    p.add_argument(
        "--out",
        type=Path,
        help="output folder (default: the folder of `out` in the config, else results/)",
    )
    p.add_argument(
        "--name",
        help="file stem of the dataset (default: the name of `out` in the "
        "config, else the config's name)",
    )
    p.add_argument("--devices", type=int, help="use this many local devices (default all)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="discard an earlier, different sweep at the output path",
    )
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    add_quiet(p)
    p.add_argument(
        "--coordinator",
        metavar="HOST:PORT",
        help="multi-host: address of process 0 (with --num-processes, --process-id)",
    )
    p.add_argument("--num-processes", type=int, help="multi-host: number of processes")
    p.add_argument("--process-id", type=int, help="multi-host: this process's index")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="multi-host: jax.distributed.initialize() with the cluster's own "
        "settings (SLURM, Open MPI, ...)",
    )
    p.set_defaults(run=run)


def _axis(name: str, spec: Any, design: str):
    """A grid entry of the config as numbers: [list], {start, stop, num[, log]} or, for random
    designs, [low, high]."""
    import numpy as np

    from ..params import ParameterError

    if design in ("random", "latin_hypercube"):
        if not (isinstance(spec, list) and len(spec) == 2):
            raise ParameterError(
                name, f"a {design} design takes a range [low, high]; got {short(spec)}"
            )
        return spec
    if isinstance(spec, list):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec):
            raise ParameterError(name, f"grid values must be numbers; got {short(spec)}")
        return spec
    if isinstance(spec, dict):
        unknown = set(spec) - {"start", "stop", "num", "log"}
        if unknown or not {"start", "stop", "num"} <= set(spec):
            raise ParameterError(
                name,
                "an axis is a list of values or {start, stop, num} "
                f"(optionally log = true); got keys {sorted(spec)}",
            )
        num = spec["num"]
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise ParameterError(f"{name}.num", f"must be a whole number >= 1; got {short(num)}")
        start, stop = spec["start"], spec["stop"]
        for key, v in (("start", start), ("stop", stop)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ParameterError(f"{name}.{key}", f"must be a finite number; got {short(v)}")
        if spec.get("log", False):
            if start <= 0 or stop <= 0:
                raise ParameterError(name, f"a log axis needs start, stop > 0; got {start}, {stop}")
            return np.geomspace(start, stop, num)
        return np.linspace(start, stop, num)
    raise ParameterError(
        name, f"an axis is a list of values or {{start, stop, num}}; got {short(spec)}"
    )


def _read_toml(path: Path) -> dict[str, Any]:
    """The TOML file's table; a missing, huge, binary, damaged or absurdly nested file raises
    ParameterError('config') with one line that does not repeat the file's content."""
    import tomllib

    from ..params import ParameterError

    try:
        size = Path(path).stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ParameterError(
                "config",
                f"{path} is {size} bytes; a sweep config is a few "
                f"lines (at most {MAX_CONFIG_BYTES} bytes)",
            )
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as e:
        raise ParameterError("config", f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ParameterError("config", f"{path} is not a text file (not UTF-8)") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ParameterError("config", f"{path} is not valid TOML: {short(str(e), 120)}") from None
    except RecursionError:
        raise ParameterError(
            "config", f"{path} is nested too deeply to be a sweep config"
        ) from None


def _key(key: str) -> str:
    """A key of the config for a message: as written, cut when huge."""
    return key if len(key) <= 40 else short(key, 40)


def _numbers_only(value) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_numbers_only(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_config(path: Path) -> dict[str, Any]:
    """Read and check a sweep config.

    Parameters
    ----------
    path : the TOML file (see examples/sweep.toml).

    Returns
    -------
    dict
        Keyword arguments for `jaxmf.sweep` plus 'plot' (bool) and 'out' (a Path or None).
        Raises ParameterError naming the offending key.
    """
    from .._sweep import Grid
    from ..params import ParameterError
    from ..presets import PRESETS
    from ..presets import get as get_preset

    config = _read_toml(path)
    unknown = [k for k in config if k not in _TOP_KEYS]
    if unknown:
        raise ParameterError(
            _key(unknown[0]),
            "unknown key in the config; "
            "allowed: " + ", ".join(f"{k} ({v})" for k, v in _TOP_KEYS.items()),
        )
    preset = config.get("preset", DEFAULT_PRESET)
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ParameterError(
            "preset", f"unknown preset {short(preset)}; choose one of {', '.join(PRESETS)}"
        )
    overrides = config.get("set", {})
    if not isinstance(overrides, dict):
        raise ParameterError("set", "must be a table of parameter = value")
    for key, value in overrides.items():
        if not _numbers_only(value):
            raise ParameterError(
                f"set.{_key(key)}",
                f"must be a number or a list of numbers (one per population); got {short(value)}",
            )
    params = get_preset(preset, **overrides)

    grid_cfg = dict(config.get("grid", {}))
    if not isinstance(config.get("grid", {}), dict) or not grid_cfg:
        raise ParameterError(
            "grid",
            "the config needs a [grid] table with at least one "
            "parameter, e.g. eta_bar = { start = 0.0, stop = 0.3, num = 100 }",
        )
    design = grid_cfg.pop("design", "product")
    if design not in _DESIGNS:
        raise ParameterError(
            "grid.design", f"must be one of {', '.join(_DESIGNS)}; got {short(design)}"
        )
    n = grid_cfg.pop("n", None)
    seed = config.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError("seed", f"must be a whole number >= 0; got {short(seed)}")
    axes = {name: _axis(name, spec, design) for name, spec in grid_cfg.items()}
    if design in ("random", "latin_hypercube"):
        if n is None:
            raise ParameterError("grid.n", f"a {design} design needs n, the number of points")
        grid = getattr(Grid, design)(n, seed=seed, **axes)
    else:
        if n is not None:
            raise ParameterError(
                "grid.n", f"only random and latin_hypercube designs take n; this one is {design!r}"
            )
        grid = getattr(Grid, design)(**axes)

    model = config.get("model", "meanfield")
    if model not in ("meanfield", "network"):
        raise ParameterError("model", f"must be 'meanfield' or 'network'; got {short(model)}")
    options = config.get("options", {})
    if not isinstance(options, dict):
        raise ParameterError("options", "must be a table of model options")
    options = dict(options)
    if model == "network":
        options = _network_options(options)
    if "input" in config:
        options["i_ext"] = _input(config["input"])
    observables = config.get("observables")
    if observables is not None and not (
        isinstance(observables, list) and all(isinstance(o, str) for o in observables)
    ):
        raise ParameterError("observables", f"must be a list of names; got {short(observables)}")
    plot = config.get("plot", True)
    if not isinstance(plot, bool):
        raise ParameterError("plot", f"must be true or false; got {short(plot)}")
    out = config.get("out")
    if out is not None and not isinstance(out, str):
        raise ParameterError("out", f"must be a file path; got {short(out)}")
    kwargs = dict(
        params=params,
        grid=grid,
        model=model,
        observables=observables,
        seed=seed,
        out=Path(out) if out else None,
        plot=plot,
        **options,
    )
    for key in ("chunk_size", "points_per_device", "memory_budget", "devices"):
        if key in config:
            kwargs[key] = config[key]
    return kwargs


def _input(spec: Any):
    """The config's `input` as a `jaxmf.inputs` object (its grid axes: input.<attribute>)."""
    from ..inputs import from_spec
    from ..params import ParameterError

    if not isinstance(spec, str):
        raise ParameterError(
            "input", f"must be a string such as {_TOP_KEYS['input'].split(': ')[1]}"
        )
    try:
        return from_spec(spec)
    except ParameterError as e:
        raise ParameterError("input", str(e)) from None


def _network_options(options: dict) -> dict:
    from ..params import ParameterError

    schemes = {name: scheme_of(name) for name in SCHEME_NAMES}
    if "scheme" in options:
        if not isinstance(options["scheme"], str) or options["scheme"] not in schemes:
            raise ParameterError(
                "options.scheme",
                f"must be one of {', '.join(schemes)}; got {short(options['scheme'])}",
            )
        options["scheme"] = schemes[options["scheme"]]
    if "sampler" in options:
        if not isinstance(options["sampler"], str):
            raise ParameterError(
                "options.sampler",
                f"must be a string ({SAMPLER_HELP}); got {short(options['sampler'])}",
            )
        options["sampler"] = sampler_of(options["sampler"], "options.sampler")
    return options


def output_path(
    config_path: Path, config_out: Path | None, folder: Path | None, name: str | None
) -> Path:
    """Where the dataset goes: the config's `out` (default results/<config name>.nc), moved into
    --out FOLDER and renamed to --name NAME.nc when they are given."""
    default = config_out or Path("results") / (Path(config_path).stem + ".nc")
    suffix = default.suffix or ".nc"
    return (folder or default.parent) / ((name + suffix) if name else default.name)


def run(args, command: str) -> int:
    if args.coordinator or args.num_processes is not None or args.process_id is not None:
        if not (
            args.coordinator and args.num_processes is not None and args.process_id is not None
        ):
            raise UsageError(
                "--coordinator", "--coordinator, --num-processes and --process-id go together"
            )
    import jax

    # The mean field resolves rates near 1e-3 and slow adaptation: float64 (as `jaxmf meanfield`).
    jax.config.update("jax_enable_x64", True)
    if args.coordinator:
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )
    elif args.distributed:
        jax.distributed.initialize()

    from .._sweep import SweepInterrupted, sweep
    from ..params import ParameterError

    try:
        kwargs = load_config(args.config)
    except ParameterError as e:
        raise UsageError(None, f"{args.config}: {e}") from None
    plot = kwargs.pop("plot") and not args.no_plot
    out = output_path(args.config, kwargs.pop("out"), args.out, args.name)
    if args.devices is not None:
        kwargs["devices"] = args.devices
    prepare_out(out.parent)
    try:
        ds = sweep(
            out=out,
            progress=not args.quiet,
            overwrite=args.overwrite,
            throw=False,
            provenance={"command": command, "config": args.config.read_text()},
            **kwargs,
        )
    except ParameterError as e:
        raise UsageError(None, f"{args.config}: {e}") from None
    except SweepInterrupted as e:
        print(
            f"jaxmf: interrupted with {e.done} of {e.total} points saved; resume with: {command}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if jax.process_index() != 0:
        return EXIT_OK
    print_summary(ds)
    print(f"wrote {out}")
    if (
        plot
        and "regime" in ds
        and len(ds["status"].dims) == 2
        and ds.attrs.get("grid_design") == "product"
    ):
        from .. import plot as plots

        png = out.with_suffix(".png")
        plots.pyplot().close(plots.plot_regime_map(ds, png))
        print(f"wrote {png}")
    failed = int((ds["status"] != "ok").sum())
    if failed == ds["status"].size:
        return fail(
            f"none of the {failed} points finished cleanly (see the `status` variable in {out})",
            EXIT_FAILED,
        )
    if failed:
        print(
            f"jaxmf: {failed} point(s) did not finish cleanly (see the `status` variable)",
            file=sys.stderr,
        )
    return EXIT_OK


def print_summary(ds) -> None:
    """Point count per status and per regime."""
    import numpy as np

    status = np.asarray(ds["status"].values).astype(str)
    counts = ", ".join(f"{k}: {int(np.sum(status == k))}" for k in np.unique(status))
    dims = " x ".join(f"{ds.sizes[d]} {d}" for d in ds["status"].dims)
    print(f"sweep of {status.size} points ({dims}): {counts}")
    if "regime" in ds:
        reg = np.asarray(ds["regime"].values).astype(str)
        print("regimes: " + ", ".join(f"{k}: {int(np.sum(reg == k))}" for k in np.unique(reg)))
