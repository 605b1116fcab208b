"""`jaxmf bifurcation`: the one- (and optionally two-) parameter diagram of the exact mean field.

    jaxmf bifurcation --preset rounded --param eta_bar
    jaxmf bifurcation --param eta_bar --bounds 0,0.3 --second w_jump --bounds2 0.005,0.05
    jaxmf bifurcation --preset rounded --param eta_bar --second a --bounds2 0.005,0.03

Writes OUT/NAME.json (provenance, every special point, the branch files, the timing of every
call), one CSV and one JSON per branch (OUT/NAME_equilibria.csv, OUT/NAME_cycles_0.csv,
OUT/NAME_hopf_0.csv, OUT/NAME_lpc_0.csv, OUT/NAME_homoclinic_0.csv, ...) and OUT/NAME.png
(r and <w> against the parameter: equilibria and the cycles' min/max envelope, solid where
stable, dashed where unstable; with --second, the parameter plane with every curve).

With --second, the curves in the two parameters are: Hopf and fold curves of equilibria (from
the equilibrium branch at PARAM2's value and at both ends of --bounds2, so that a fold curve
born at a cusp inside the plane is drawn too), LPC,
PD and NS curves of cycles (from each cycle bifurcation found in PARAM), and homoclinic curves
(cycles of period --homoclinic-period continued at that period), started from each cycle
family that ends at a homoclinic orbit and from each end of an LPC curve where the period
grew (LPC curves accumulate on the homoclinic curve). Then the region of stable bursting
(`jaxmf.bursting_region` in the two parameters: exact ranges in PARAM on --region-rows values
of PARAM2, bisected where they change, the boundary following the curves) is shaded in the
figure and written to OUT/NAME_region.csv (its polygons) and the JSON (each row's ranges with
the kinds of their ends); --check-map NX,NY also simulates a regime map and reports where it
disagrees with the region.
"""

from __future__ import annotations

import argparse
import math

from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_output_options,
    add_parameter_options,
    add_quiet,
    fail,
    prepare_out,
    preset_title,
    short,
    whole,
)
from ._common import timings as command_timing

__all__ = ["add_parser", "figure_title", "run"]

_DEFAULT_BOUNDS = {"eta_bar": (0.0, 0.3), "i_ext": (-0.1, 0.3), "kappa": (0.05, 1.0)}
# The paper's bifurcation diagrams were computed with its 4-digit rounded values.
DEFAULT_PRESET = "rounded"


def _interval(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LO,HI (two numbers), got {short(text)}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise argparse.ArgumentTypeError(f"need finite LO < HI; got {short(text)}")
    return lo, hi


def _grid(text: str) -> tuple[int, int]:
    try:
        nx, ny = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected NX,NY (two whole numbers), got {short(text)}"
        ) from None
    if nx < 2 or ny < 2:
        raise argparse.ArgumentTypeError(f"need NX, NY >= 2; got {short(text)}")
    return nx, ny


def add_parser(sub) -> None:
    bif = sub.add_parser(
        "bifurcation",
        help="bifurcation diagram of the exact mean field",
        description="Continue the mean field's equilibria in one parameter (pseudo-arclength), "
        "locate and refine folds and Hopf points (with the first Lyapunov coefficient), continue "
        "the periodic orbits born at each Hopf point (collocation, Floquet multipliers, folds of "
        "cycles, period doubling, torus and homoclinic points) and, with --second, the Hopf and "
        "fold curves in two parameters. Writes OUT/NAME.json, one CSV and JSON per branch, and "
        "OUT/NAME.png.",
    )
    add_parameter_options(
        bif,
        DEFAULT_PRESET,
        why=": the 4-digit values the paper's bifurcation diagrams were computed with",
    )
    bif.add_argument(
        "--param",
        default="eta_bar",
        help="continuation parameter: a Params field, optionally indexed "
        "('eta_bar[1]', 'g[0,1]'), or kappa for two populations (default eta_bar)",
    )
    bif.add_argument(
        "--bounds",
        type=_interval,
        help="LO,HI range of the parameter (default 0,0.3 for eta_bar; else the "
        "current value x (0.5, 1.5))",
    )
    bif.add_argument(
        "--no-cycles",
        action="store_true",
        help="skip the periodic orbits (equilibria and their special points only)",
    )
    bif.add_argument(
        "--max-points", type=whole, default=400, help="most points per branch (default 400)"
    )
    bif.add_argument(
        "--second",
        metavar="PARAM2",
        help="also continue each Hopf and fold point in (PARAM, PARAM2)",
    )
    bif.add_argument(
        "--bounds2", type=_interval, help="LO,HI range of PARAM2 (default its value x (0, 3))"
    )
    bif.add_argument(
        "--homoclinic-period",
        type=float,
        default=2000.0,
        help="with --second: the fixed period of the cycles that trace homoclinic curves "
        "(default 2000; 0 skips them)",
    )
    bif.add_argument(
        "--no-region",
        action="store_true",
        help="with --second: skip the region of stable bursting (shaded in the figure)",
    )
    bif.add_argument(
        "--region-rows",
        type=whole,
        default=7,
        help="with --second: values of PARAM2 at which the exact range of stable bursting in "
        "PARAM is computed (then bisected where it changes; default 7)",
    )
    bif.add_argument(
        "--check-map",
        metavar="NX,NY",
        type=_grid,
        help="with --second: also simulate a regime map of NX x NY points over the plane and "
        "report where it disagrees with the region of stable bursting",
    )
    add_output_options(bif, "bifurcation")
    add_quiet(bif)
    bif.set_defaults(run=run)


def _default_bounds(name: str, value: float, scale=(0.5, 1.5)) -> tuple[float, float]:
    field = name.split("[")[0]
    if field in _DEFAULT_BOUNDS:
        return _DEFAULT_BOUNDS[field]
    lo, hi = sorted((value * scale[0], value * scale[1]))
    return (lo, hi) if lo < hi else (value - 1.0, value + 1.0)


def _value(params, name: str, option: str) -> float:
    from ..params import ParameterError, get_parameter

    try:
        return float(get_parameter(params, name))
    except ParameterError as e:
        raise UsageError(option, str(e)) from None


def _timing(start: float, stats) -> dict[str, float]:
    import time

    return {"wall_s": time.perf_counter() - start, "compile_s": float(stats.compile_s)}


def _homoclinic_starts(branches, point_type):
    """(name, branch, point) to start homoclinic curves from: each cycle family that ends at a
    homoclinic orbit, and the longest cycle of each LPC curve whose period grew (LPC curves
    accumulate on the homoclinic curve), wherever the curve stopped."""
    import numpy as np

    out = []
    for name, b in list(branches.items()):
        if b.kind == "cycle":
            out += [(name, b, sp) for sp in b.special_points if sp.kind == "homoclinic"]
        elif b.kind == "lpc" and len(b) > 2:
            period = np.asarray(b.period)
            i = int(np.argmax(period))
            if period[i] > 1.2 * min(period[0], period[-1]):
                point = point_type(
                    kind="endpoint",
                    param=b.param,
                    value=b.values[i],
                    state=b.states[i],
                    params=b.params_at(i),
                    index=i,
                    period=b.period[i],
                )
                out.append((name, b, point))
    return out


def _on_curve(curve, point, box, tol: float = 1e-3) -> bool:
    """Whether `point` lies on the polyline of a two-parameter curve, within `tol` of the
    plane's size `box` ((lo1, hi1), (lo2, hi2))."""
    import numpy as np

    if len(curve.param) != 2 or len(curve) < 2:
        return False
    scale = np.array([hi - lo for lo, hi in box], float)
    v = np.asarray(curve.values, float)[:, :2] / scale
    p = np.asarray(point, float) / scale
    a, d = v[:-1], np.diff(v, axis=0)
    u = np.clip(np.sum((p - a) * d, 1) / np.maximum(np.sum(d * d, 1), 1e-300), 0.0, 1.0)
    return bool(np.min(np.linalg.norm(p - (a + u[:, None] * d), axis=1)) <= tol)


def _clocked(start: float, before) -> dict[str, float]:
    """Wall time since `start` and, run from `jaxmf.cli.main`, the compilation in it (the
    command's compile clock then against `before`)."""
    import time

    out = {"wall_s": time.perf_counter() - start}
    after = command_timing()
    if before is not None and after is not None:
        out["compile_s"] = after["compile_s"] - before["compile_s"]
    return out


def _plane(region):
    """`bursting_region` with `second` returns a BurstingPlane (narrowed for the type checker)."""
    from .._bursting import BurstingPlane

    assert isinstance(region, BurstingPlane)
    return region


def _kind(point) -> str:
    return "bound" if point is None else point.kind


def figure_title(
    preset: str, overrides: dict, n_populations: int, param: str, second: str | None = None
) -> str:
    """The figure's title: the model, the preset with its overrides, and what was continued.

    Parameters
    ----------
    preset : str
        The --preset name.
    overrides : dict
        The --set overrides.
    n_populations : int
        Populations of the mean field (named when more than one).
    param, second : str
        The continued parameter(s): one for a diagram in PARAM, two for the parameter plane.

    Returns
    -------
    str
        e.g. 'Chen & Campbell 2022 mean field (rounded): (eta_bar, a)'.

    Examples
    --------
    >>> figure_title("rounded", {}, 1, "eta_bar", "a")
    'Chen & Campbell 2022 mean field (rounded): (eta_bar, a)'
    >>> figure_title("two_population", {"kappa": 0.8}, 2, "eta_bar")
    'Chen & Campbell 2022 mean field, 2 populations (two_population kappa=0.8): eta_bar'
    """
    model = "Chen & Campbell 2022 mean field"
    if n_populations > 1:
        model += f", {n_populations} populations"
    drawn = param if second is None else f"({param}, {second})"
    return f"{model} ({preset_title(preset, overrides)}): {drawn}"


def _region_summary(region, agreement) -> dict:
    """The region of stable bursting for the JSON sidecar: each row's exact ranges with the
    kinds of their ends, the boundary polygons and, with --check-map, the map's agreement."""
    out: dict = {
        "rows": [
            {
                "value": float(value2),
                "intervals": [[float(a), float(b)] for a, b in reg.intervals],
                "ends": [[_kind(lo), _kind(hi)] for lo, hi in reg.ends],
            }
            for value2, reg in zip(region.rows, region.regions)
        ],
        "polygons": [poly.tolist() for poly in region.polygons],
    }
    if agreement is not None:
        out["map_agreement"] = {
            "bursting": agreement.bursting,
            "inside": agreement.inside,
            "outside_bursting": agreement.outside_bursting.tolist(),
            "inside_not_bursting": agreement.inside_not_bursting.tolist(),
            "cells": agreement.cells.tolist(),
            "spacing": list(agreement.spacing),
        }
    return out


def run(args, command: str) -> int:
    import jax

    jax.config.update("jax_enable_x64", True)
    import time

    import numpy as np

    from .. import io
    from .._files import atomic_write_text
    from .._loop import Progress
    from .._results import NumericalError, status_names
    from ..bifurcation import SpecialPoint, continue_equilibria, continue_fold, continue_hopf
    from ..cycle_curves import (
        continue_homoclinic,
        continue_lpc,
        continue_ns,
        continue_pd,
        merge_repeated,
    )
    from ..cycles import continue_cycles
    from ..delay import uses_dde
    from ..params import set_parameter
    from ..presets import get as get_preset

    overrides = dict(args.overrides)
    params = get_preset(args.preset, units=args.units, **overrides)
    value = _value(params, args.param, "--param")
    bounds = args.bounds or _default_bounds(args.param, value)
    if args.second is not None:
        value2 = _value(params, args.second, "--second")
        bounds2 = args.bounds2 or _default_bounds(args.second, value2, (0.0, 3.0))
    stem = prepare_out(args.out) / args.name
    bar = Progress("bifurcation", 1, enabled=not args.quiet, unit=" branches")
    bar.print(f"equilibria in {args.param} over [{bounds[0]:g}, {bounds[1]:g}]")
    timings: dict[str, dict[str, float]] = {}
    start = time.perf_counter()
    try:
        eqb = continue_equilibria(
            params, args.param, bounds, max_points=args.max_points, progress=not args.quiet
        )
    except NumericalError as e:
        return fail(f"continuation of the equilibria in {args.param} failed: {e}", EXIT_FAILED)
    timings["equilibria"] = {"wall_s": time.perf_counter() - start}

    branches = {"equilibria": eqb}
    failures: list[str] = []
    notes: list[str] = []
    hopfs = [sp for sp in eqb.special_points if sp.kind == "hopf" and sp.converged]
    folds = [sp for sp in eqb.special_points if sp.kind == "fold" and sp.converged]
    # The rest of the work, one unit per branch still to continue.
    bar.total = (
        1
        + len(hopfs) * (not args.no_cycles)
        + (len(hopfs) + len(folds)) * (args.second is not None)
    )
    done = 1
    bar.update(done, f"{len(eqb)} equilibria, {len(hopfs)} Hopf, {len(folds)} fold,")
    if not args.no_cycles:
        # Hopf points where an earlier cycle branch ended: the same family, not continued again.
        reached: list[float] = []
        for k, sp in enumerate(hopfs):
            value = float(sp.value)
            done += 1
            if any(abs(value - v) <= 1e-8 * max(1.0, abs(value)) for v in reached):
                bar.update(done, f"cycles from {args.param} = {value:.6g} already found,")
                continue
            start = time.perf_counter()
            try:
                # throw=False: a branch whose corrector fails part-way is kept, flagged.
                cyc, stats = continue_cycles(
                    params,
                    sp,
                    args.param,
                    bounds,
                    max_points=args.max_points,
                    progress=not args.quiet,
                    return_stats=True,
                    throw=False,
                )
            except (ArithmeticError, RuntimeError, ValueError) as e:
                failures.append(f"cycles from the Hopf point at {args.param} = {value:.10g}: {e}")
                bar.update(done, f"cycles from {args.param} = {value:.6g} failed,")
                continue
            # Near a homoclinic orbit the branch reports one fold of cycles several times.
            cyc = merge_repeated(cyc)
            branches[f"cycles_{k}"] = cyc
            timings[f"cycles_{k}"] = _timing(start, stats)
            reached += [float(q.value) for q in cyc.special_points if q.kind == "hopf"]
            bar.update(done, f"cycles from {args.param} = {value:.6g}: {len(cyc)} points,")
    if args.second is not None:
        both = (args.param, args.second)

        def point_curve(at, sp):
            # throw=False: a curve whose corrector fails part-way is kept, flagged.
            cont = continue_hopf if sp.kind == "hopf" else continue_fold
            return cont(
                at,
                sp,
                both,
                bounds=(bounds, bounds2),
                max_points=args.max_points,
                progress=not args.quiet,
                throw=False,
            )

        for kind, points in (("hopf", hopfs), ("fold", folds)):
            for k, sp in enumerate(points):
                done += 1
                start = time.perf_counter()
                try:
                    branches[f"{kind}_{k}"] = point_curve(params, sp)
                    timings[f"{kind}_{k}"] = {"wall_s": time.perf_counter() - start}
                except (ArithmeticError, RuntimeError, ValueError) as e:
                    failures.append(f"{kind} curve from {args.param} = {float(sp.value):.10g}: {e}")
                bar.update(done, f"{kind} curve {k},")
        # A curve that does not cross the base row of PARAM2 (a fold curve born at a cusp
        # inside the plane) is started from the equilibria at the ends of PARAM2's range.
        for value2 in bounds2:
            start = time.perf_counter()
            at_edge = set_parameter(params, args.second, value2)
            try:
                edge = continue_equilibria(
                    at_edge,
                    args.param,
                    bounds,
                    max_points=args.max_points,
                    progress=False,
                )
            except NumericalError as e:
                notes.append(f"no equilibria at {args.second} = {value2:g}: {e}")
                continue
            for sp in edge.special_points:
                if sp.kind not in ("hopf", "fold") or not sp.converged:
                    continue
                point = (float(sp.value), float(value2))
                if any(
                    b.kind == sp.kind and _on_curve(b, point, (bounds, bounds2))
                    for b in branches.values()
                ):
                    continue
                key = f"{sp.kind}_{sum(b.kind == sp.kind for b in branches.values())}"
                try:
                    branches[key] = point_curve(at_edge, sp)
                except (ArithmeticError, RuntimeError, ValueError) as e:
                    failures.append(
                        f"{sp.kind} curve from ({args.param}, {args.second}) = {point}: {e}"
                    )
                    continue
                timings[key] = {"wall_s": time.perf_counter() - start}
                bar.print(f"{key} from {args.second} = {value2:g}: {len(branches[key])} points")
                start = time.perf_counter()
        cycle_branches = [b for b in branches.values() if b.kind == "cycle"]
        curves = {"lpc": continue_lpc, "pd": continue_pd, "ns": continue_ns}
        started: dict[str, list[float]] = {kind: [] for kind in curves}
        for cyc in cycle_branches:
            for sp in cyc.special_points:
                if sp.kind not in curves or not sp.converged:
                    continue
                value = float(sp.value)
                if any(abs(value - v) <= 1e-8 * max(1.0, abs(value)) for v in started[sp.kind]):
                    continue  # the same point on another branch of the same family
                started[sp.kind].append(value)
                key = f"{sp.kind}_{len(started[sp.kind]) - 1}"
                start = time.perf_counter()
                try:
                    curve, stats = curves[sp.kind](
                        params,
                        sp,
                        both,
                        (bounds, bounds2),
                        branch=cyc,
                        max_points=args.max_points,
                        progress=not args.quiet,
                        return_stats=True,
                        throw=False,
                    )
                except (ArithmeticError, RuntimeError, ValueError) as e:
                    failures.append(f"{sp.kind} curve from {args.param} = {value:.10g}: {e}")
                    continue
                branches[key] = curve
                timings[key] = _timing(start, stats)
                bar.print(f"{key} from {args.param} = {value:.6g}: {len(curve)} points")
        if args.homoclinic_period > 0:
            for key, src, point in _homoclinic_starts(branches, SpecialPoint):
                start = time.perf_counter()
                try:
                    curve, stats = continue_homoclinic(
                        params,
                        point,
                        both,
                        (bounds, bounds2),
                        branch=src,
                        period=max(args.homoclinic_period, float(point.period)),
                        ntst=200,
                        max_points=args.max_points,
                        progress=not args.quiet,
                        return_stats=True,
                        throw=False,
                    )
                except (ArithmeticError, RuntimeError, ValueError) as e:
                    if src.kind == "cycle":
                        failures.append(f"homoclinic curve from {key}: {e}")
                    else:
                        # An LPC curve's end is only a candidate start: its family need not
                        # reach the period at fixed PARAM2 (it may turn back at a fold).
                        notes.append(f"no homoclinic curve from the end of {key}: {e}")
                    continue
                name = f"homoclinic_{sum(b.kind == 'homoclinic' for b in branches.values())}"
                branches[name] = curve
                timings[name] = _timing(start, stats)
                bar.print(f"{name} (from {key}): {len(curve)} points")

    region = agreement = None
    regimes = None
    if args.second is not None and not args.no_region and not args.no_cycles and uses_dde(params):
        # The region is traced with the ODE's cycle continuation and a regime map of ODE solves;
        # the delayed model's cycles are jaxmf.dde_cycles, not drawn here.
        bar.print("no region of stable bursting for a delayed model (its cycles: jaxmf.dde_cycles)")
    elif args.second is not None and not args.no_region and not args.no_cycles:
        from .._bursting import bursting_region, compare_regime_map

        bar.print(f"region of stable bursting on {args.region_rows} rows of {args.second}")
        start, clock = time.perf_counter(), command_timing()
        try:
            region = _plane(
                bursting_region(
                    params,
                    args.param,
                    bounds,
                    second=args.second,
                    bounds2=bounds2,
                    rows=args.region_rows,
                    curves=[b for b in branches.values() if len(b.param) == 2],
                    progress=not args.quiet,
                )
            )
        except (ArithmeticError, RuntimeError, ValueError) as e:
            failures.append(f"region of stable bursting: {e}")
        else:
            timings["region"] = _clocked(start, clock)
            for curve in region.curves:
                name = f"{curve.kind}_{sum(b.kind == curve.kind for b in branches.values())}"
                branches[name] = curve
        if region is not None and args.check_map is not None:
            import jax.numpy as jnp

            from .._sweep import regime_map

            start, clock = time.perf_counter(), command_timing()
            nx, ny = args.check_map
            regimes = regime_map(
                params,
                {
                    args.param: jnp.linspace(bounds[0], bounds[1], nx),
                    args.second: jnp.linspace(bounds2[0], bounds2[1], ny),
                },
                progress=not args.quiet,
            )
            agreement = compare_regime_map(region, regimes)
            timings["check_map"] = _clocked(start, clock)

    files = {}
    if region is not None:
        rows = [(k, float(x), float(y)) for k, poly in enumerate(region.polygons) for x, y in poly]
        path = stem.with_name(f"{stem.name}_region.csv")
        atomic_write_text(
            path,
            f"polygon,{args.param},{args.second}\n"
            + "".join(f"{k},{x!r},{y!r}\n" for k, x, y in rows),
        )
        files["region"] = [str(path)]
    for name, branch in branches.items():
        files[name] = [
            str(branch.to_csv(stem.with_name(f"{stem.name}_{name}.csv"))),
            str(branch.to_json(stem.with_name(f"{stem.name}_{name}.json"))),
        ]
    special = [
        {"branch": name, **sp.summary()}
        for name, branch in branches.items()
        for sp in branch.special_points
    ]
    meta = io.provenance(
        command=command,
        preset=args.preset,
        param=args.param,
        bounds=list(bounds),
        second=args.second,
        bounds2=list(bounds2) if args.second is not None else None,
    )
    meta.update(
        params=io.params_to_dict(params),
        special_points=special,
        files=files,
        messages={name: b.message for name, b in branches.items()},
        timings=timings,
        timing=command_timing(),
        status={name: str(status_names(b.status)) for name, b in branches.items()},
        failures=failures,
        notes=notes,
    )
    if region is not None:
        meta["region"] = _region_summary(region, agreement)
    sidecar = io.write_json(stem.with_name(stem.name + ".json"), meta)
    png = None
    if not args.no_plot:
        from .. import plot

        png = stem.with_name(stem.name + ".png")
        plot.pyplot().close(
            plot.plot_bifurcation(
                branches,
                png,
                title=figure_title(
                    args.preset, overrides, params.n_populations, args.param, args.second
                ),
                region=region,
                regimes=regimes,
            )
        )

    print(
        f"{args.param} in [{bounds[0]:g}, {bounds[1]:g}]: {len(eqb)} equilibria"
        + "".join(f", {len(b)} points on {n}" for n, b in branches.items() if n != "equilibria")
    )
    for row in special:
        at = ", ".join(f"{v:.10g}" for v in np.atleast_1d(row["value"]))
        text = f"  {row['branch']}: {row['kind']} at {', '.join(row['param'])} = {at}"
        for key in ("first_lyapunov", "period", "criticality"):
            if key in row:
                text += f", {key} {row[key]:.6g}" if key != "criticality" else f" ({row[key]})"
        print(text)
    for name, branch in branches.items():
        if branch.message:
            print(f"  {name} stopped: {branch.message}")
    for name, t in timings.items():
        compile_s = f" (compile {t['compile_s']:.1f} s)" if "compile_s" in t else ""
        print(f"  timing: {name} {t['wall_s']:.1f} s{compile_s}")
    if region is not None:
        for value2, reg in zip(region.rows, region.regions):
            ranges = ", ".join(
                f"[{a:.10g} ({_kind(lo)}), {b:.10g} ({_kind(hi)})]"
                for (a, b), (lo, hi) in zip(reg.intervals, reg.ends)
            )
            print(f"  region: {args.second} = {value2:.6g}: {ranges or 'no stable bursting'}")
    if agreement is not None:
        print(
            f"  region vs regime map ({agreement.bursting} bursting points): "
            f"{len(agreement.outside_bursting)} bursting outside, "
            f"{len(agreement.inside_not_bursting)} inside not bursting"
            + (
                f", at most {float(agreement.cells.max()):.2f} grid cells from the boundary"
                if agreement.mismatches
                else ""
            )
        )
    for note in notes:
        print(f"  note: {note}")
    for f in failures:
        print(f"  failed: {f}")
    print("wrote " + ", ".join(str(p) for p in (sidecar, png) if p) + " and the branch files")
    return EXIT_FAILED if failures else EXIT_OK
