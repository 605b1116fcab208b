"""What every `jaxmf` subcommand shares: exit codes, the usage error, argument types, the
parameter and output options, the up-front checks of output folders and sizes, and `fail`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import uuid
from pathlib import Path

from .._loop import available_memory as available_memory
from .._loop import check_memory as _check_memory
from ..cache import CompileClock, default_cache_dir, enable_compilation_cache
from ..params import ParameterError
from ..presets import PRESETS

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "DEFAULT_PRESET",
    "UsageError",
    "Parser",
    "whole",
    "positive",
    "nonnegative",
    "tolerance",
    "assignment",
    "add_parameter_options",
    "add_output_options",
    "add_quiet",
    "add_max_memory",
    "prepare_out",
    "fail",
    "preset_title",
    "numbers",
    "check_memory",
    "check_network_memory",
    "available_memory",
    "short",
    "add_cache_options",
    "start_run",
    "timings",
    "timing_line",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# The parameter set of every command unless it says otherwise in its --help.
DEFAULT_PRESET = "bursting"
# Longest message `fail` prints: a value echoed from a file must not flood the terminal.
_MAX_MESSAGE = 1000


class UsageError(ParameterError):
    """Bad input on the command line or in a file it names: exit 2 with one line. `option` is
    the flag or key to blame ('--out', 'grid.n'); None for argparse's own messages."""

    def __init__(self, option: str | None, message: str):
        super().__init__(option or "", message)
        if not option:
            self.args = (message,)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises `UsageError` instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(None, message)


def short(value, limit: int = 60) -> str:
    """`repr(value)`, cut to `limit` characters (values read from files may be huge)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {short(text)}") from None


def whole(text: str) -> int:
    """A whole number; '1e4' is accepted (10000), '2.5' is not."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {short(text)}") from None
    if not x.is_integer():
        raise argparse.ArgumentTypeError(f"invalid integer {short(text)}")
    return int(x)


def positive(text: str) -> float:
    """A finite number > 0."""
    x = _number(text)
    if not (math.isfinite(x) and x > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; got {text}")
    return x


def nonnegative(text: str) -> float:
    """A finite number >= 0."""
    x = _number(text)
    if not (math.isfinite(x) and x >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0; got {text}")
    return x


def tolerance(text: str) -> float:
    """A solver tolerance: 0 < x < 1 (a relative tolerance of 1 or more accepts any step)."""
    x = _number(text)
    if not (math.isfinite(x) and 0 < x < 1):
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1); got {text}")
    return x


def assignment(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE a number, a comma-separated list (one per population) or
    semicolon-separated rows of such lists (a matrix, e.g. g)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {short(text)}")
    try:
        rows = [[float(x) for x in row.split(",")] for row in value.split(";")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{key}: {short(value)} is not a number or a comma-separated list of numbers"
        ) from None
    if ";" in value:
        return key, rows
    return key, rows[0][0] if len(rows[0]) == 1 and "," not in value else rows[0]


def add_parameter_options(
    parser, default_preset: str | None = DEFAULT_PRESET, why: str = ""
) -> None:
    """--preset and --set. `default_preset` None leaves --preset None (the command fills it in,
    e.g. from a resumed run); `why` explains a default other than DEFAULT_PRESET."""
    shown = default_preset or DEFAULT_PRESET
    parser.add_argument(
        "--preset",
        default=default_preset,
        help=f"parameter set (default {shown}{why}): {', '.join(PRESETS)}",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        type=assignment,
        action="append",
        default=[],
        help="override a parameter, e.g. eta_bar=0.13; a,b for per-population "
        "values; rows separated by ';' for the matrix g (repeatable)",
    )
    parser.add_argument(
        "--units",
        choices=("dimensionless", "dimensional"),
        default="dimensionless",
        help="units of the --set values: dimensionless (the model's, default) or dimensional "
        "(pA, ms, mV, nS at the paper's scales C = 250 pF, k = 2.5 nS/mV, V_R = -65 mV; names "
        "of DimensionalParams or the paper's, e.g. --set I_ext=5 is 5 pA, --set tau_W=100 is "
        "100 ms)",
    )


# The spike schemes by their command-line names (`--scheme`), and the help that lists them.
SCHEME_NAMES = {"euler": "EulerReset", "exact": "ExactPassage", "mobius": "MobiusPassage"}
SCHEME_HELP = (
    "euler: the paper's Euler-with-reset (default); exact: exact passage through infinity; "
    "mobius: the same passage as one Möbius map of v (fastest to a given accuracy)"
)


def scheme_of(name: str):
    """The spike scheme of a `--scheme` name."""
    from .. import network

    return getattr(network, SCHEME_NAMES[name])()


def scheme_name(class_name: str | None) -> str:
    """The `--scheme` name of a scheme's class name (as saved in a run's metadata)."""
    by_class = {v: k for k, v in SCHEME_NAMES.items()}
    return by_class.get(class_name or "", "euler")


SAMPLER_HELP = (
    "excitability distribution of the neurons: quantiles (Lorentzian, deterministic, the "
    "default), random (Lorentzian draws from --seed), lorentzian, gaussian or uniform, with "
    "options after a colon: match=hwhm|iqr (gaussian, uniform: matched to the Lorentzian by "
    "half-width or by quartiles) and random (draws instead of quantiles), e.g. "
    "gaussian:match=iqr,random; the mean field stays the Lorentzian one"
)
SAMPLER_KINDS = ("quantiles", "random", "lorentzian", "gaussian", "uniform")


def sampler_of(text: str, option: str = "--sampler"):
    """The excitability sampler of a `--sampler` value (`SAMPLER_HELP`); `UsageError` else.

    Parameters
    ----------
    text : str
        ``KIND[:OPTION,...]``: KIND one of `SAMPLER_KINDS`, OPTION ``match=hwhm|iqr`` or
        ``random``.
    option : str
        The flag or key to blame in the error (``'options.sampler'`` in a sweep config).

    Returns
    -------
    Quantiles, RandomDraws, Gaussian or Uniform

    Raises
    ------
    UsageError
        An unknown kind or option (the CLI exits 2 with one line).

    Examples
    --------
    >>> from jaxmf.cli._common import sampler_of
    >>> sampler_of("gaussian:match=iqr,random")
    Gaussian(match='iqr', random=True)
    >>> type(sampler_of("lorentzian:random")).__name__
    'RandomDraws'
    """
    from .. import heterogeneity as het

    kind, _, rest = str(text).strip().partition(":")
    kind = kind.strip().lower()
    if kind not in SAMPLER_KINDS:
        raise UsageError(
            option,
            f"choose {', '.join(SAMPLER_KINDS)} (options :match=...,random); got {text!r}",
        )
    random, match = kind == "random", None
    for item in (x.strip() for x in rest.split(",") if x.strip()):
        name, eq, value = (x.strip() for x in item.partition("="))
        if name == "random" and not eq:
            random = True
        elif name == "match" and value in ("hwhm", "iqr") and kind in ("gaussian", "uniform"):
            match = value
        else:
            allowed = "match=hwhm|iqr, random" if kind in ("gaussian", "uniform") else "random"
            raise UsageError(option, f"{kind} takes the options {allowed}; got {item!r}")
    if kind in ("gaussian", "uniform"):
        cls = het.Gaussian if kind == "gaussian" else het.Uniform
        return cls(match=match or "hwhm", random=random)
    return het.RandomDraws() if random else het.Quantiles()


def sampler_spec(described: dict | None) -> str:
    """The `--sampler` value of a sampler as a run's metadata describes it (`jaxmf.io`).

    Parameters
    ----------
    described : dict or None
        ``{"name": class name, **fields}`` (None: the default sampler).

    Returns
    -------
    str

    Examples
    --------
    >>> from jaxmf.cli._common import sampler_spec
    >>> sampler_spec({"name": "Uniform", "match": "iqr", "random": False})
    'uniform:match=iqr'
    >>> sampler_spec(None)
    'quantiles'
    """
    described = described or {}
    name = described.get("name")
    if name in ("Gaussian", "Uniform"):
        spec = f"{name.lower()}:match={described.get('match', 'hwhm')}"
        return spec + (",random" if described.get("random") else "")
    return "random" if name == "RandomDraws" else "quantiles"


def add_output_options(parser, name: str) -> None:
    """--out FOLDER (default results/), --name STEM (default `name`) and --no-plot."""
    parser.add_argument(
        "--out", type=Path, default=Path("results"), help="output folder (default results/)"
    )
    parser.add_argument("--name", default=name, help=f"file stem (default {name})")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG")


def add_quiet(parser) -> None:
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress lines on stderr (progress is on by default)",
    )


def add_max_memory(parser, what: str = "the run") -> None:
    parser.add_argument(
        "--max-memory",
        type=positive,
        metavar="BYTES",
        help=f"memory {what} may use (default: the host's available memory); "
        "bigger runs are refused before anything is allocated",
    )


def prepare_out(folder) -> Path:
    """Create the output folder and check it can take files, before any computation: a long
    run must never be lost to an unwritable path. Raises `UsageError` naming --out."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".jaxmf-write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise UsageError("--out", f"cannot write to {folder}: {e.strerror or e}") from None
    return folder


def fail(message: str, code: int) -> int:
    """Print `jaxmf: error: MESSAGE` as one line on stderr; returns `code`."""
    text = " ".join(str(message).split())
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + f"... ({len(text)} characters)"
    print(f"jaxmf: error: {text}", file=sys.stderr)
    return code


def with_overrides(params, overrides: dict, units: str = "dimensionless"):
    """`params` with the --set `overrides`, given in `units` (see --units)."""
    if not overrides:
        return params
    if units == "dimensional":
        from ..params import set_dimensional

        return set_dimensional(params, **overrides)
    return params.replace(**overrides)


def preset_title(preset: str, overrides: dict) -> str:
    """'bursting eta_bar=0.13': the preset and the --set overrides, for figure titles."""
    return preset + "".join(f" {k}={v}" for k, v in overrides.items())


def numbers(x) -> str:
    """A number or a comma-separated list of numbers, in short form."""
    import numpy as np

    values = np.ravel(np.asarray(x, float))
    return ",".join(f"{v:g}" for v in values) if values.size > 1 else f"{values[0]:g}"


def check_memory(need: float, option: str, what: str, max_memory: float | None = None) -> None:
    """Refuse (UsageError naming `option`) a computation needing `need` bytes for `what` when
    that exceeds `max_memory` (--max-memory) or else the available memory: JAX/XLA would abort
    the process or exhaust the machine instead of raising."""
    try:
        _check_memory(need, option, what, max_memory, override="--max-memory ")
    except ParameterError as e:
        raise UsageError(option, str(e).partition(": ")[2]) from None


def check_network_memory(
    n: int,
    itemsize: int,
    max_memory: float | None = None,
    *,
    n_records: float = 0,
    record_bytes: float = 0,
) -> None:
    """Refuse a network run whose state and records would not fit in memory, before JAX
    allocates them.

    Parameters
    ----------
    n : neurons; itemsize : bytes per float (4 or 8).
    max_memory : bytes (--max-memory) replacing the available memory as the limit, e.g. for an
        accelerator with more memory than the host.
    n_records, record_bytes : recording bins and the bytes each holds (rates, means, raster).
    """
    from ..network import STATE_WORDS_PER_NEURON

    state = float(n) * itemsize * STATE_WORDS_PER_NEURON
    records = float(n_records) * record_bytes
    what = f"{n:.3g} neurons" + (f" and {n_records:.3g} records" if n_records else "")
    check_memory(state + records, "--n" if state >= records else "--t1", what, max_memory)


# The clock of the command being run (`start_run`), read by `timings`.
_CLOCK: CompileClock | None = None


def add_cache_options(parser) -> None:
    """--no-cache and --cache-dir (every subcommand gets them from `build_parser`)."""
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="compile everything afresh: do not read or write the persistent compilation cache "
        "(also: JAXMF_NO_CACHE=1)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="compilation cache folder (default $JAXMF_CACHE_DIR, else "
        f"$XDG_CACHE_HOME/jaxmf/xla, else ~/.cache/jaxmf/xla; here {default_cache_dir()})",
    )


def start_run(args) -> None:
    """Before a command runs: turn on JAX's persistent compilation cache (unless --no-cache or
    JAXMF_NO_CACHE is set to anything but 0) and start the clock that `timings` reads. A cache
    folder that cannot be created costs a warning, not the run."""
    global _CLOCK
    off = getattr(args, "no_cache", False) or os.environ.get("JAXMF_NO_CACHE", "") not in ("", "0")
    if not off:
        try:
            enable_compilation_cache(getattr(args, "cache_dir", None))
        except OSError as e:
            print(
                f"jaxmf: warning: compilation cache off ({e.strerror or e}); "
                "every program is compiled afresh",
                file=sys.stderr,
            )
    if _CLOCK is not None:
        _CLOCK.close()
    _CLOCK = CompileClock()


def timings() -> dict[str, float] | None:
    """{'compile_s', 'run_s', 'wall_s'} of the command so far (seconds, 3 decimals): what the
    commands put in their JSON summaries; None outside a command run by `jaxmf.cli.main`."""
    if _CLOCK is None:
        return None
    return {k: round(v, 3) for k, v in _CLOCK.times().items()}


def timing_line() -> str:
    """'time: compile 1.23 s, run 0.45 s (wall 1.68 s)', the last line of every command."""
    t = timings() or {"compile_s": 0.0, "run_s": 0.0, "wall_s": 0.0}
    return (
        f"time: compile {t['compile_s']:.2f} s, run {t['run_s']:.2f} s (wall {t['wall_s']:.2f} s)"
    )
