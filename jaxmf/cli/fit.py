"""`jaxmf fit`: fit mean-field (or network) parameters to a recorded rate trace.

    jaxmf fit --target rates.csv --free eta_bar,w_jump --model meanfield
    jaxmf fit --target results/meanfield.npz --set eta_bar=0.15 --out results/ --name fit

The target is a CSV file with columns t,r (a header line naming them; t uniform from 0), an
.npz written by `jaxmf meanfield`, or an .npz written by `jaxmf simulate` (its binned rate,
smoothed and resampled with `BurstTarget.from_network`). The starting point is --preset with --set
overrides. Writes OUT/NAME.json (fitted parameters, every start's outcome, provenance),
OUT/NAME.npz (loss history, target and fitted traces), OUT/NAME_loss.csv (loss history) and
OUT/NAME.png (target vs fit).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
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
    short,
    timings,
    whole,
)

__all__ = ["add_parser", "run"]

LOSSES = ("trace", "aligned", "autocorrelation", "power", "feature")
OPTIMIZERS = ("lm", "lbfgs", "adam", "sgd")


def _names(text: str) -> tuple[str, ...]:
    from ..params import PER_POPULATION_FIELDS

    names = tuple(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    allowed = [f for f in PER_POPULATION_FIELDS if f != "fractions"]
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"cannot fit {short(bad[0] if bad else text)}; "
            "choose from "
            f"{', '.join(allowed)} (comma-separated)"
        )
    return names


def add_parser(sub) -> None:
    p = sub.add_parser(
        "fit",
        help="fit parameters to a rate trace (gradient-based, optax)",
        description="Fit the --free parameters of a mean field (or of the "
        "differentiable spiking network) so its rate reproduces --target; "
        "starts from --preset/--set. Writes OUT/NAME.json (fitted parameters, "
        "provenance), .npz (loss history, traces), _loss.csv and .png.",
    )
    p.add_argument(
        "--target",
        type=Path,
        required=True,
        metavar="PATH",
        help="rate trace: CSV with columns t,r (header line; uniform t from 0), or "
        "an .npz from `jaxmf meanfield` or `jaxmf simulate`",
    )
    p.add_argument(
        "--free",
        type=_names,
        default=("eta_bar", "w_jump"),
        help="parameters to fit, comma-separated (default eta_bar,w_jump)",
    )
    p.add_argument(
        "--model",
        choices=("meanfield", "network"),
        default="meanfield",
        help="meanfield: the exact mean field (default); network: the differentiable "
        "theta-neuron network (slow: use small --n or a short trace)",
    )
    p.add_argument(
        "--init",
        choices=("none", "meanfield"),
        default="none",
        help="--model network: meanfield fits the mean field first and refines its result on "
        "the network by space mapping (forward network runs only; the fast way), none starts "
        "the network fit from --preset/--set (default)",
    )
    add_parameter_options(p)
    p.add_argument(
        "--population", type=whole, default=0, help="column of the target's rate to fit (default 0)"
    )
    p.add_argument(
        "--transient",
        type=nonnegative,
        help="ignore t < TRANSIENT in the loss (default a quarter of the trace)",
    )
    p.add_argument(
        "--resample",
        type=positive,
        metavar="DT",
        help="use every DT time units of the target (a multiple of its spacing; "
        "default 0.5 where the spacing is finer, else the spacing)",
    )
    p.add_argument(
        "--loss",
        choices=LOSSES,
        default="trace",
        help="trace: mean-squared error (default); aligned: the same minimised over "
        "time shifts up to a tenth of the trace; autocorrelation, power: phase-free "
        "spectral distances; feature: burst period, duty, peak and mean",
    )
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="lm",
        help="lm: Levenberg-Marquardt on the residuals (optimistix; default, needs "
        "--loss trace or feature); lbfgs (line search), adam or sgd (optax)",
    )
    p.add_argument(
        "--learning-rate",
        type=positive,
        default=3e-2,
        help="adam/sgd learning rate in unconstrained units (default 3e-2)",
    )
    p.add_argument("--steps", type=whole, default=200, help="most gradient steps (default 200)")
    p.add_argument(
        "--n-starts",
        type=whole,
        default=4,
        help="starts (the given point and others spread around it; default 4)",
    )
    p.add_argument(
        "--spread",
        type=positive,
        default=0.3,
        help="relative spread of the extra starts (default 0.3)",
    )
    p.add_argument("--seed", type=whole, default=0, help="PRNG seed of the starts (default 0)")
    p.add_argument(
        "--tol",
        type=positive,
        default=1e-7,
        help="stop when the relative improvement stays below TOL (default 1e-7)",
    )
    p.add_argument(
        "--n", type=whole, default=10_000, help="--model network: neurons (default 10000)"
    )
    p.add_argument(
        "--dt", type=positive, default=1e-3, help="--model network: time step (default 1e-3)"
    )
    add_max_memory(p, "--model network's network")
    p.add_argument(
        "--gradient-horizon",
        type=nonnegative,
        default=5.0,
        metavar="H",
        help="--model network: neuron phases carry derivatives over H time units "
        "(ThetaNetwork.gradient_horizon; default 5; 0 = exact gradients, which "
        "explode over long bursting runs)",
    )
    add_output_options(p, "fit")
    add_quiet(p)
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="K",
        help="save the fit's state to OUT/NAME.ckpt every K iterations, so Ctrl-C "
        "loses at most K and rerunning the same command resumes (default 5 for "
        "--model network, 0 = off for the mean field); removed once the fit ends",
    )
    p.set_defaults(run=run)


def _read_target(path: Path, population: int):
    """(t, r, kind, meta) from a CSV or a jaxmf .npz; raises UsageError naming --target."""
    import numpy as np

    from .. import io

    if not path.exists():
        raise UsageError("--target", f"{path} does not exist")
    meta = None
    try:
        if path.suffix.lower() == ".npz":
            arrays = io.read_npz(path, what="rate trace")
            sidecar = path.with_suffix(".json")
            if sidecar.exists():
                try:
                    meta = io.read_json(sidecar, what="sidecar")
                except ValueError:
                    meta = None  # the target's provenance is a courtesy; its arrays are read
            if "t" not in arrays or "r" not in arrays:
                raise UsageError(
                    "--target",
                    f"{path} has no arrays 't' and 'r' (expected an "
                    ".npz written by `jaxmf meanfield` or `jaxmf simulate`)",
                )
            t, r = arrays["t"], arrays["r"]
            kind = "network" if "state_step" in arrays else "meanfield"
        else:
            table = io.read_csv(path, what="rate trace")
            if "t" not in table or "r" not in table:
                raise UsageError(
                    "--target",
                    f"{path} needs a header line with columns t,r; "
                    f"found {', '.join(table) or 'none'}",
                )
            t, r = table["t"], table["r"]
            kind = "csv"
    except (OSError, ValueError) as e:
        if isinstance(e, UsageError):
            raise
        raise UsageError("--target", str(e)) from None
    t = np.asarray(t, float)
    r = np.asarray(r, float)
    if r.ndim == 2:
        if not 0 <= population < r.shape[1]:
            raise UsageError("--population", f"must be in [0, {r.shape[1] - 1}]; got {population}")
        r = r[:, population]
    elif r.ndim != 1 or population != 0:
        if r.ndim != 1:
            raise UsageError("--target", f"r must be 1-D or (time, population); got {r.shape}")
        raise UsageError("--population", f"the target has one population; got {population}")
    if t.ndim != 1 or t.shape != r.shape or t.size < 8:
        raise UsageError(
            "--target", f"needs t and r of equal length >= 8; got {t.shape} and {r.shape}"
        )
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(r))):
        raise UsageError("--target", "t and r must be finite (no NaN or inf)")
    return t, r, kind, meta


def _target(t, r, kind, args):
    """The `BurstTarget` of the trace, every option checked before the (slower) analysis."""
    import types

    import jax.numpy as jnp
    import numpy as np

    from .._fit import BurstTarget
    from ..analysis import transient_time

    spacing = float(t[1] - t[0])
    if not np.all(np.diff(t) > 0) or not np.allclose(np.diff(t), spacing, rtol=1e-6, atol=0):
        raise UsageError("--target", "t must be increasing and uniformly spaced")
    resample = args.resample if args.resample is not None else max(spacing, 0.5)
    stride = int(round(resample / spacing))
    if stride < 1 or not np.isclose(stride * spacing, resample, rtol=1e-6):
        raise UsageError(
            "--resample",
            f"must be a whole multiple of the target's spacing {spacing:g}; got {args.resample:g}",
        )
    if kind == "network":
        if not np.isclose(t[0], spacing, rtol=1e-6):
            raise UsageError("--target", "a network run must start at t = 0")
    elif abs(t[0]) > 1e-9 * max(1.0, abs(t[-1])):
        raise UsageError(
            "--target",
            f"the trace must start at t = 0 (fits start from the "
            f"all-zero state there); its first time is {t[0]:g}",
        )
    end = float(t[-1])
    transient = transient_time(end, args.transient)
    if not 0 <= transient < 0.9 * end:
        raise UsageError(
            "--transient",
            f"must be in [0, {0.9 * end:g}) for a trace ending at {end:g}; got {transient:g}",
        )
    steps = resample / args.dt
    if args.model == "network" and abs(steps - round(steps)) > 1e-6 * steps:
        raise UsageError(
            "--dt",
            f"the target's spacing {resample:g} (see --resample) must be "
            f"a whole multiple of the network's step; got {args.dt:g}",
        )
    if kind == "network":
        run = types.SimpleNamespace(t=t, r=r[:, None])
        return BurstTarget.from_network(run, transient=transient, dt=resample)
    keep = slice(None, None, stride)
    return BurstTarget.from_trace(jnp.asarray(t[keep]), jnp.asarray(r[keep]), transient=transient)


# One object per setting: `fit` compiles once per optimizer and loss object, so repeated fits in
# one process (tests, notebooks calling `main`) reuse the compiled loop.
_CACHE: dict = {}


def _optimizer(name: str, learning_rate: float, tol: float):
    import optax
    import optimistix as optx

    make = {
        "lm": lambda: optx.LevenbergMarquardt(rtol=tol, atol=1e-3 * tol),
        "lbfgs": lambda: optax.lbfgs(),
        "adam": lambda: optax.adam(learning_rate),
        "sgd": lambda: optax.sgd(learning_rate),
    }[name]
    key = (name, tol if name == "lm" else None if name == "lbfgs" else learning_rate)
    return _CACHE.setdefault(key, make())


def _loss(name: str, t1: float, residuals: bool = False):
    import functools

    from .._fit import feature_loss, feature_residuals, spectral_loss, trace_mse, trace_residuals

    if residuals:
        if name not in ("trace", "feature"):
            raise UsageError(
                "--optimizer",
                f"lm works on residuals: give --loss trace or "
                f"feature (or another --optimizer for --loss {name})",
            )
        return {"trace": trace_residuals, "feature": feature_residuals}[name]
    make = {
        "trace": lambda: trace_mse,
        "aligned": lambda: functools.partial(trace_mse, align=t1 / 10),
        "autocorrelation": lambda: spectral_loss,
        "power": lambda: functools.partial(spectral_loss, kind="power"),
        "feature": lambda: feature_loss,
    }[name]
    return _CACHE.setdefault(("loss", name, t1), make())


def run(args, command: str) -> int:
    import jax

    jax.config.update("jax_enable_x64", True)  # rates near 1e-3 and slow adaptation
    import jax.numpy as jnp
    import numpy as np

    from .. import io
    from .._fit import FitInterrupted, fit, remove_checkpoint, simulate_on_grid
    from ..meanfield import solve_meanfield
    from ..netfit import ThetaNetwork
    from ..params import ParameterError
    from ..presets import get as get_preset

    overrides = dict(args.overrides)
    if args.n_starts < 1 or args.steps < 1:
        raise UsageError("--n-starts" if args.n_starts < 1 else "--steps", "must be >= 1")
    every = (
        (5 if args.model == "network" else 0)
        if args.checkpoint_every is None
        else args.checkpoint_every
    )
    if every < 0:
        raise UsageError("--checkpoint-every", f"must be >= 0 (0: no checkpoint); got {every}")
    if args.init == "meanfield":
        if args.model != "network":
            raise UsageError("--init", "meanfield starts a --model network fit")
        every = 0  # a few forward network runs: nothing worth checkpointing
    if args.model == "network":
        check_network_memory(args.n, 8, args.max_memory)
    out = prepare_out(args.out)
    try:
        t_raw, r_raw, kind, target_meta = _read_target(args.target, args.population)
        start = get_preset(args.preset, units=args.units, **overrides)
        if start.n_populations != 1:
            raise UsageError("--preset", "fitting from the command line takes one population")
        target = _target(t_raw, r_raw, kind, args)
        network = (
            None
            if args.model == "meanfield"
            else ThetaNetwork(n=args.n, dt=args.dt, gradient_horizon=args.gradient_horizon or None)
        )
        optimizer = _optimizer(args.optimizer, args.learning_rate, args.tol)
        t1 = float(target.t[-1])
        loss = _loss(args.loss, t1, residuals=args.optimizer == "lm")
        checkpoint = out / f"{args.name}.ckpt" if every else None
        res = fit(
            start,
            target,
            free=args.free,
            optimizer=optimizer,
            model="meanfield" if network is None else network,
            n_starts=args.n_starts,
            key=jax.random.key(args.seed),
            loss=loss,
            steps=args.steps,
            spread=args.spread,
            tol=args.tol,
            patience=5 if args.optimizer in ("lbfgs", "lm") else 30,
            progress=not args.quiet,
            checkpoint=checkpoint,
            checkpoint_every=max(every, 1),
            throw=False,
            init=None if args.init == "none" else args.init,
        )
    except FitInterrupted as e:
        print(
            f"jaxmf: interrupted; {e.iteration} iterations saved in {e.checkpoint}; resume "
            f"with: {command}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except ParameterError as e:
        if isinstance(e, UsageError):
            raise
        option = {
            "free": "--free",
            "target": "--target",
            "transient": "--transient",
            "t1": "--target",
            "dt": "--dt",
            "n": "--n",
        }.get(e.name, e.name)
        message = str(e)
        if not message.startswith("--"):
            message = f"{option}: {message.partition(': ')[2] or message}"
        raise UsageError(None, message) from None

    status = io.status_codes(res.status)
    labels = {0: "converged", 1: "diverged"}  # status codes (jaxmf.RESULTS order)
    best = res.best_params
    ts = jnp.asarray(target.t)
    if network is None:
        rates = solve_meanfield(best, t1, ts=ts, rtol=1e-10, atol=1e-12, throw=False).r
    else:
        rates = simulate_on_grid(best, ts, network, int(round(float(ts[1] - ts[0]) / args.dt))).r
    r_fit = np.asarray(rates)[:, 0]

    fitted = {n: float(np.asarray(getattr(best, n))[0]) for n in args.free}
    initial = {n: float(np.asarray(getattr(start, n))[0]) for n in args.free}
    history = np.asarray(res.loss_history)
    starts = [
        {
            "initial": {n: float(np.asarray(res.initial[n])[i, 0]) for n in args.free},
            "fitted": {n: float(np.asarray(res.values(n))[i, 0]) for n in args.free},
            "final_loss": float(np.asarray(res.final_loss)[i]),
            "status": labels.get(int(status[i]), "max_steps"),
            "iterations": int(np.asarray(res.n_iterations)[i]),
        }
        for i in range(int(np.size(res.final_loss)))  # one with --init meanfield
    ]
    best_i = int(res.best_index)
    meta = {
        "format": "jaxmf.fit_result",
        "format_version": io.FORMAT_VERSION,
        "provenance": io.provenance(command=command, preset=args.preset, timing=timings()),
        "target": {
            "path": str(args.target),
            "kind": kind,
            "population": args.population,
            "n_samples": int(ts.shape[0]),
            "spacing": float(ts[1] - ts[0]),
            "transient": target.transient,
            "params": (target_meta or {}).get("params"),
            "features": {k: float(getattr(target, k)) for k in ("period", "duty", "peak", "mean")},
        },
        "model": args.model,
        "init": args.init,
        "network": {"n": args.n, "dt": args.dt, "gradient_horizon": args.gradient_horizon or None}
        if args.model == "network"
        else None,
        "free": list(args.free),
        "loss": args.loss,
        "optimizer": args.optimizer,
        "learning_rate": args.learning_rate if args.optimizer in ("adam", "sgd") else None,
        "steps": args.steps,
        "tol": args.tol,
        "seed": args.seed,
        "spread": args.spread,
        "initial": initial,
        "fitted": fitted,
        "best_start": best_i,
        "final_loss": float(np.asarray(res.final_loss)[best_i]),
        "converged": bool(status[best_i] == 0),
        "starts": starts,
        "params": io.params_to_dict(best),
    }
    stem = out / args.name
    arrays = {
        "loss_history": history,
        "status": status,
        "final_loss": np.asarray(res.final_loss),
        "n_iterations": np.asarray(res.n_iterations),
        "t": np.asarray(ts),
        "r_target": np.asarray(target.r),
        "r_fit": r_fit,
        **{f"fitted_{n}": np.asarray(res.values(n))[:, 0] for n in args.free},
        **{f"initial_{n}": np.asarray(res.initial[n])[:, 0] for n in args.free},
    }
    npz, sidecar = io.write_pair(stem, arrays, meta)
    csv = stem.with_name(stem.name + "_loss.csv")
    header = "iteration," + ",".join(f"start_{i}" for i in range(history.shape[1]))
    rows = np.column_stack([np.arange(history.shape[0]), history])
    keep = np.any(np.isfinite(history), axis=1)
    io.write_csv(csv, rows[keep], header)
    png = None
    if not args.no_plot:
        from .. import plot

        png = stem.with_name(stem.name + ".png")
        plot.pyplot().close(
            plot.plot_fit(
                np.asarray(ts),
                np.asarray(target.r),
                r_fit,
                history,
                png,
                transient=target.transient,
                fitted=fitted,
                initial=initial,
                model=args.model,
                loss=args.loss,
            )
        )

    if checkpoint is not None:  # everything it held is in the outputs now
        remove_checkpoint(checkpoint)
    n_ok = int(np.sum(status == 0))
    n_div = int(np.sum(status == 1))
    print(
        f"fit ({args.model}, {args.loss} loss, {args.optimizer}"
        f"{', from a mean-field fit' if args.init == 'meanfield' else ''}): best of "
        f"{int(np.size(res.final_loss))} start(s) is #{best_i}, loss {meta['final_loss']:.4g}, "
        f"{n_ok} converged, {n_div} diverged"
    )
    for n in args.free:
        print(f"  {n} = {fitted[n]:.8g} (started at {initial[n]:.6g})")
    for path in (npz, sidecar, csv, png):
        if path is not None:
            print(f"wrote {path}")
    if not np.isfinite(meta["final_loss"]):
        return fail(
            "every start diverged (non-finite loss or failed solve); try starts closer "
            "to the target or a smaller --learning-rate",
            EXIT_FAILED,
        )
    return EXIT_OK
