"""The `jaxmf` command line: parses, calls the library, writes files.

    jaxmf simulate --preset bursting --set eta_bar=0.13 --n 10000 --t1 800 --out results/
    jaxmf meanfield --preset bursting --t1 1600 --switch 800:0.1 --equilibria
    jaxmf compare --preset bursting --n 10000 --t1 800 --models chen_campbell,nicola_campbell
    jaxmf bifurcation --param eta_bar
    jaxmf fit --target results/meanfield.npz --free eta_bar,w_jump
    jaxmf sweep examples/sweep.toml

Every command takes --preset/--set (default preset: bursting; bifurcation: rounded, the paper's
diagrams), writes into the folder --out as --name.* and shows progress on stderr unless --quiet.
Compiled programs are kept in a persistent cache (default ~/.cache/jaxmf/xla; --cache-dir,
JAXMF_CACHE_DIR), so a repeated command compiles little; --no-cache or JAXMF_NO_CACHE=1 turn it
off. Every command ends with a line splitting its time into compiling and running, and its JSON
summary carries the same figures ("timing").
The output folder is checked before any computation. Exit codes: 0 success, 1 numerical failure
(partial result saved where there is one), 2 bad input (one line naming it), 130 interrupted
with Ctrl-C (`simulate` saves the partial result; continue it with --resume; `fit` and `sweep`
resume when run again).
"""

from __future__ import annotations

import shlex
import sys

from .._files import package_version
from .._results import NumericalError
from ..params import ParameterError
from . import bifurcation, compare, fit, meanfield, simulate, sweep
from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Parser,
    add_cache_options,
    fail,
    start_run,
    timing_line,
)

__all__ = ["main", "build_parser", "COMMANDS"]

# Each module adds its subcommand (`add_parser(sub)`, which sets `run` with set_defaults).
COMMANDS = (simulate, meanfield, compare, bifurcation, fit, sweep)


def build_parser() -> Parser:
    """The `jaxmf` argument parser with every subcommand of `COMMANDS`."""
    parser = Parser(
        prog="jaxmf",
        description="Spiking Izhikevich networks with adaptation "
        "and their exact mean field (Chen & Campbell 2022).",
    )
    parser.add_argument("--version", action="version", version=f"jaxmf {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    for subparser in sub.choices.values():
        add_cache_options(subparser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `jaxmf` console script.

    Parameters
    ----------
    argv : the arguments after `jaxmf` (default `sys.argv[1:]`).

    Returns
    -------
    int
        The exit status: EXIT_OK (0), EXIT_FAILED (1), EXIT_USAGE (2) or EXIT_INTERRUPTED (130).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except ParameterError as e:
        return fail(str(e), EXIT_USAGE)
    except SystemExit as e:  # --help, --version
        return int(e.code or 0)
    start_run(args)
    try:
        code = args.run(args, command=shlex.join(["jaxmf", *argv]))
        print(timing_line())
        return code
    except ParameterError as e:  # every bad input, on the command line or in a file it names
        return fail(str(e), EXIT_USAGE)
    except OSError as e:  # reading inputs is handled where it happens: this is writing
        return fail(f"cannot write results: {e}", EXIT_FAILED)
    except NumericalError as e:  # a failure a command did not handle itself: one line, exit 1
        return fail(str(e), EXIT_FAILED)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
