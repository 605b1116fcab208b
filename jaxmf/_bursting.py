"""Where the mean field bursts stably, exactly: a coarse regime map (simulation) finds bursting
points, each is turned into a cycle by collocation (`cycle_from_trajectory`) and its family is
continued (`continue_cycles`), so that families connected to no Hopf point (isolas, families
ending in homoclinic orbits) are found too; the stretches of stable cycles are bounded by the
special points where stability is lost (folds of cycles, flips, tori) or where the family ends.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from ._newton import with_parameter
from ._sweep import regime_map
from .bifurcation import Branch, SpecialPoint
from .cycles import continue_cycles, cycle_from_trajectory
from .meanfield import MeanFieldState, solve_meanfield
from .params import ParameterError, check_positive, check_whole

__all__ = [
    "BurstingPlane",
    "BurstingRegion",
    "MapAgreement",
    "bursting_region",
    "compare_regime_map",
]


class BurstingRegion(NamedTuple):
    """Stable bursting in one parameter.

    param: the parameter. intervals: (K, 2) parameter ranges of stable cycles, in increasing
    order. ends: for each interval the (lower, upper) `SpecialPoint` bounding it (kind 'lpc',
    'pd', 'ns', 'hopf' or 'homoclinic'; None where the branch merely stopped, e.g. at its
    bounds: that end is the last stable point's value, not a bifurcation). branches: the cycle
    families continued. seeds: the parameter values whose simulations started them.
    regimes: the regime map (xarray Dataset) the seeds came from.

    Examples
    --------
    >>> import jax; jax.config.update("jax_enable_x64", True)
    >>> import jaxmf
    >>> p = jaxmf.presets.chen_campbell_2022(rounded=True, a=0.0215)
    >>> region = jaxmf.bursting_region(p, "eta_bar", (0.040, 0.042), points=21)
    >>> region.param, region.intervals.shape
    ('eta_bar', (1, 2))
    """

    param: str
    intervals: np.ndarray
    ends: tuple[tuple[SpecialPoint | None, SpecialPoint | None], ...]
    branches: tuple[Branch, ...]
    seeds: np.ndarray
    regimes: Any


class BurstingPlane(NamedTuple):
    """Stable bursting in two parameters: `bursting_region` with `second`.

    params: the two parameters (horizontal, vertical). rows: the values of the second at
    which the exact one-parameter ranges were computed. regions: one `BurstingRegion` per row
    (intervals in the first parameter, bounded by special points). polygons: closed boundaries
    ((M, 2) arrays of (first, second)) of the region, one per connected piece: the rows' exact
    ends joined along the two-parameter curve both ends lie on (`with_curves`), else by a
    straight segment. regimes: the coarse two-parameter regime map the seeds came from (the
    rows' regions carry none). bounds: ((lo, hi), (lo2, hi2)). curves: the two-parameter curves
    `bursting_region` continued itself (folds, flips, tori through the rows' ends).

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf import BurstingPlane
    >>> square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    >>> plane = BurstingPlane(("eta_bar", "a"), np.array([0.0, 1.0]), (), (square,), None)
    >>> plane.contains([0.5, 2.0], [0.5, 0.5]).tolist()
    [True, False]
    """

    params: tuple[str, str]
    rows: np.ndarray
    regions: tuple[BurstingRegion, ...]
    polygons: tuple[np.ndarray, ...]
    regimes: Any
    bounds: tuple = ()
    curves: tuple = ()

    def with_curves(self, curves) -> BurstingPlane:
        """The same region with its boundary rebuilt along `curves` (two-parameter branches in
        these two parameters; others are ignored), e.g. after continuing more of them.

        Parameters
        ----------
        curves : sequence or dict of Branch
            LPC, Hopf, PD, NS or homoclinic curves.

        Returns
        -------
        BurstingPlane

        Examples
        --------
        >>> import numpy as np
        >>> from jaxmf import BurstingPlane
        >>> empty = BurstingPlane(("p", "q"), np.zeros(0), (), (), None)
        >>> empty.with_curves([]).polygons
        ()
        """
        if isinstance(curves, dict):
            curves = list(curves.values())
        planar = [c for c in curves if tuple(c.param) == tuple(self.params)]
        if self.bounds:
            box = np.asarray(self.bounds, float)
        else:
            ends = [r.intervals for r in self.regions if len(r.intervals)]
            xs = np.concatenate(ends).ravel() if ends else np.zeros(1)
            box = np.array([[xs.min(), xs.max()], [np.min(self.rows), np.max(self.rows)]])
        scale = tuple(float(s) if s > 0 else 1.0 for s in box[:, 1] - box[:, 0])
        polygons = _polygons(np.asarray(self.rows), self.regions, planar, scale, box[0])
        return self._replace(polygons=tuple(polygons))

    def contains(self, x, y) -> np.ndarray:
        """Whether the points (x, y) lie inside the region (inside any polygon; even-odd rule).

        Parameters
        ----------
        x, y : array_like
            Values of the first and second parameter (broadcast together).

        Returns
        -------
        numpy.ndarray
            Booleans of the broadcast shape.

        Examples
        --------
        >>> import numpy as np
        >>> from jaxmf import BurstingPlane
        >>> tri = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
        >>> BurstingPlane(("p", "q"), np.zeros(1), (), (tri,), None).contains(1.5, 1.5).item()
        False
        """
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        inside = np.zeros(x.shape, bool)
        for poly in self.polygons:
            inside |= _inside(poly, x, y)
        return inside

    def distance(self, x, y, scale=(1.0, 1.0)) -> np.ndarray:
        """Distance of the points (x, y) to the region's boundary, each axis divided by its
        `scale` (e.g. a map's grid spacing, giving the distance in grid cells).

        Parameters
        ----------
        x, y : array_like
            Values of the first and second parameter (broadcast together).
        scale : tuple of float, default (1.0, 1.0)
            The unit of each axis.

        Returns
        -------
        numpy.ndarray
            Non-negative distances of the broadcast shape (inf without polygons).

        Examples
        --------
        >>> import numpy as np
        >>> from jaxmf import BurstingPlane
        >>> square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
        >>> plane = BurstingPlane(("p", "q"), np.zeros(1), (), (square,), None)
        >>> float(plane.distance(0.5, 0.25))
        0.25
        """
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        sx, sy = (float(s) for s in scale)
        best = np.full(x.shape, np.inf)
        for poly in self.polygons:
            a = poly / (sx, sy)
            b = np.roll(a, -1, axis=0)
            p = np.stack([x / sx, y / sy], -1)[..., None, :]
            d = b - a
            u = np.clip(np.sum((p - a) * d, -1) / np.maximum(np.sum(d * d, -1), 1e-300), 0, 1)
            gap = np.linalg.norm(p - (a + u[..., None] * d), axis=-1)
            best = np.minimum(best, gap.min(-1))
        return best


class MapAgreement(NamedTuple):
    """How a regime map agrees with a `BurstingPlane` (`compare_regime_map`).

    bursting: map points labelled bursting. inside: map points inside the region.
    outside_bursting: (K, 2) map points labelled bursting but outside the region.
    inside_not_bursting: (K, 2) map points inside the region not labelled bursting.
    cells: for each of those mismatches (outside first), the distance to the region's
    boundary in grid cells. spacing: the map's grid spacing (first, second).

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf import MapAgreement
    >>> none = np.zeros((0, 2))
    >>> MapAgreement(3, 3, none, none, np.zeros(0), (0.1, 0.1)).mismatches
    0
    """

    bursting: int
    inside: int
    outside_bursting: np.ndarray
    inside_not_bursting: np.ndarray
    cells: np.ndarray
    spacing: tuple[float, float]

    @property
    def mismatches(self) -> int:
        """The number of map points on the wrong side of the region's boundary."""
        return len(self.outside_bursting) + len(self.inside_not_bursting)


def _inside(poly: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Even-odd ray casting of the points (x, y) against one closed polygon."""
    inside = np.zeros(x.shape, bool)
    xa, ya = poly[:, 0], poly[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    for x0, y0, x1, y1 in zip(xa, ya, xb, yb):
        if y0 == y1:
            continue
        crosses = (y0 > y) != (y1 > y)
        at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < at)
    return inside


def _stable_stretches(branch: Branch):
    """(lower, upper, lower end, upper end) for every run of stable cycles of a branch."""
    values = np.asarray(branch.values)[:, 0]
    stable = np.asarray(branch.stable, bool)
    out = []
    k = 0
    while k < len(stable):
        if not stable[k]:
            k += 1
            continue
        j = k
        while j + 1 < len(stable) and stable[j + 1]:
            j += 1
        # A loss of stability between rows i - 1 and i is reported with index i; a branch end
        # (homoclinic, Hopf) with the index of its last row.
        at_start = [
            sp
            for sp in branch.special_points
            if (sp.kind in ("lpc", "pd", "ns") and sp.index == k and k > 0)
            or (sp.kind in ("homoclinic", "hopf") and k == 0 and sp.index in (-1, 0))
        ]
        at_end = [
            sp
            for sp in branch.special_points
            if (sp.kind in ("lpc", "pd", "ns") and sp.index == j + 1)
            or (sp.kind in ("homoclinic", "hopf") and j == len(stable) - 1 and sp.index >= j)
        ]
        first = at_start[0] if at_start else None
        last = at_end[0] if at_end else None
        ps = list(values[k : j + 1])
        ps += [float(np.asarray(sp.value).reshape(-1)[0]) for sp in (first, last) if sp is not None]
        lo, hi = min(ps), max(ps)
        value_of = lambda sp: float(np.asarray(sp.value).reshape(-1)[0])
        lower = min((first, last), key=lambda sp: np.inf if sp is None else value_of(sp))
        upper = max((first, last), key=lambda sp: -np.inf if sp is None else value_of(sp))
        if first is None or last is None:
            # One end unknown: it is the side of the known end's opposite.
            known = first if first is not None else last
            if known is None:
                lower = upper = None
            elif abs(value_of(known) - lo) <= abs(value_of(known) - hi):
                lower, upper = known, None
            else:
                lower, upper = None, known
        out.append((lo, hi, lower, upper))
        k = j + 1
    return out


def _seed_cycle(params, param, value, y0, simulate, ntst):
    """The cycle a long simulation at `value` (from y0, default the all-zero state) settles on,
    or None when it settles on none."""
    at = with_parameter(params, param, value)
    if y0 is not None:
        flat = np.asarray(y0, float).reshape(-1)
        y0 = MeanFieldState(*(jnp.asarray(part) for part in np.split(flat, 4)))
    sol = solve_meanfield(
        at,
        t1=simulate,
        ts=jnp.arange(simulate / 2, simulate, 0.1),
        y0=y0,
        rtol=1e-10,
        atol=1e-12,
    )
    cycle = cycle_from_trajectory(at, sol.t, sol, param, ntst=ntst, throw=False)
    return (at, cycle) if cycle.converged else None


def _stable_intervals(
    params,
    param,
    bounds,
    grid,
    bursting,
    *,
    extra=(),
    simulate,
    ntst,
    period_max,
    max_points,
    progress,
):
    """Stable stretches of the cycle families seeded at the map's bursting runs (then at the
    `extra` (value, state) seeds), each family continued over `bounds`: (found, branches, seeds),
    found holding (lo, hi, lower end, upper end, branch)."""
    runs: list[list[int]] = []
    for i in np.flatnonzero(bursting):
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(int(i))
        else:
            runs.append([int(i)])
    candidates = [(grid[run], float(grid[run[len(run) // 2]]), None) for run in runs]
    candidates += [(np.asarray([value]), float(value), y0) for value, y0 in extra]
    found: list[tuple[float, float, Any, Any, Branch]] = []
    branches: list[Branch] = []
    seeds: list[float] = []
    for values, value, y0 in candidates:
        covered = [g for g in values if any(a <= g <= b for a, b, *_ in found)]
        if len(covered) == len(values):
            continue
        seeds.append(value)
        seed = _seed_cycle(params, param, value, y0, simulate, ntst)
        if seed is None:
            continue
        branch = continue_cycles(
            seed[0],
            seed[1],
            param,
            bounds,
            ntst=ntst,
            period_max=period_max,
            max_points=max_points,
            progress=progress,
            throw=False,
        )
        branches.append(branch)
        for stretch in _stable_stretches(branch):
            if not any(abs(stretch[0] - a) + abs(stretch[1] - b) < 1e-9 for a, b, *_ in found):
                found.append((*stretch, branch))
    return found, branches, seeds


def bursting_region(
    params,
    param: str,
    bounds,
    *,
    points: int = 41,
    t1: float = 2000.0,
    simulate: float = 6000.0,
    ntst: int = 300,
    period_max: float = 3000.0,
    max_points: int = 300,
    progress: bool = False,
    second: str | None = None,
    bounds2=None,
    rows: int = 11,
    refine: int = 3,
    curves=(),
    extend: bool = True,
) -> BurstingRegion | BurstingPlane:
    """The exact range of stable bursting (stable mean-field cycles) in one parameter, or the
    region of it in two (with `second`).

    A regime map over `points` values in `bounds` (`jaxmf.regime_map`, simulations of length
    t1) marks bursting points. From one point of each run of them not yet covered, a long
    simulation (`simulate` time units, the second half kept) is turned into a cycle
    (`cycle_from_trajectory`) and its family continued both ways (`continue_cycles`, ntst
    intervals, stopping at period_max as a homoclinic end). The stable stretches of these
    families, with the special points bounding them (folds of cycles, flips, tori, homoclinic
    or Hopf ends), are the result: exact where the map only brackets to its resolution. A
    bursting window narrower than the map's spacing can be missed: refine `points`.

    With `second`, the same on `rows` values of the second parameter over `bounds2` (one
    two-parameter regime map of points x rows seeds them; each row's families also seed the
    next row from a point of their stable cycle, so windows that narrow below the map's
    spacing, such as isolas, are followed). The region's boundary joins the rows' exact ends
    along the two-parameter curves (`curves`: LPC, Hopf, PD, NS, homoclinic branches in the
    same two parameters) that both ends of a side lie on: between rows it is as exact as the
    curves, elsewhere a straight segment.

    Parameters
    ----------
    params : Params
        One population or several.
    param : str
        The parameter swept and continued.
    bounds : tuple of float
        (lo, hi).
    points : int, default 41
        Regime-map resolution.
    t1 : float, default 2000.0
        Regime-map simulation length.
    simulate : float, default 6000.0
        Length of the seed simulations.
    ntst, period_max, max_points
        As in `continue_cycles`.
    progress : bool, default False
        Print progress.
    second : str, optional
        A second parameter: return the region in (param, second).
    bounds2 : tuple of float, optional
        (lo, hi) of the second parameter (needed with `second`).
    rows : int, default 11
        How many values of the second parameter get an exact one-parameter range.
    refine : int, default 3
        Bisections between rows whose results differ (an interval appears or ends, an end
        changes kind): corners and tips are resolved to the row spacing / 2**refine.
    curves : sequence or dict of Branch, optional
        Two-parameter curves in (param, second) the boundary follows between rows.
    extend : bool, default True
        Also continue in (param, second) the LPC, PD and NS points bounding the rows'
        intervals that lie on none of `curves` (`continue_lpc` ...; returned in
        `BurstingPlane.curves`), so that the boundary follows them too.

    Returns
    -------
    BurstingRegion or BurstingPlane
        BurstingPlane when `second` is given.

    Raises
    ------
    ParameterError
        Invalid bounds or settings.

    Examples
    --------
    >>> import jaxmf
    >>> p = jaxmf.presets.chen_campbell_2022(rounded=True, a=0.0215)
    >>> region = jaxmf.bursting_region(p, "eta_bar", (0.040, 0.042), points=21)
    >>> [(lo.kind, hi.kind) for lo, hi in region.ends]
    [('lpc', 'lpc')]

    In two parameters (rows of a; the boundary follows the curves passed):

    >>> plane = jaxmf.bursting_region(p, "eta_bar", (0.040, 0.042), points=21, second="a",
    ...                               bounds2=(0.0214, 0.0215), rows=2, extend=False)
    >>> len(plane.polygons), bool(plane.contains(0.041, 0.02145))
    (1, True)
    """
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ParameterError("bounds", f"must be (lo, hi); got {bounds!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ParameterError("bounds", f"must be finite with lo < hi; got ({lo:g}, {hi:g})")
    points = check_whole("points", points, minimum=2)
    check_positive("t1", t1)
    check_positive("simulate", simulate)
    if second is not None:
        return _bursting_plane(
            params,
            param,
            (lo, hi),
            second,
            bounds2,
            rows=rows,
            refine=refine,
            curves=curves,
            extend=extend,
            points=points,
            t1=t1,
            options=dict(
                simulate=simulate,
                ntst=ntst,
                period_max=period_max,
                max_points=max_points,
                progress=progress,
            ),
        )
    grid = np.linspace(lo, hi, points)
    regimes = regime_map(params, {param: jnp.asarray(grid)}, t1=t1, progress=progress)
    bursting = np.asarray(regimes["regime"].values).astype(str).reshape(-1) == "bursting"
    found, branches, seeds = _stable_intervals(
        params,
        param,
        (lo, hi),
        grid,
        bursting,
        simulate=simulate,
        ntst=ntst,
        period_max=period_max,
        max_points=max_points,
        progress=progress,
    )
    return _one_parameter(param, found, branches, seeds, regimes)


def _one_parameter(param, found, branches, seeds, regimes) -> BurstingRegion:
    found.sort(key=lambda s: s[0])
    return BurstingRegion(
        param=param,
        intervals=np.array([[a, b] for a, b, *_ in found]).reshape(-1, 2),
        ends=tuple((s[2], s[3]) for s in found),
        branches=tuple(branches),
        seeds=np.asarray(seeds),
        regimes=regimes,
    )


def _state_near(branch: Branch, value: float):
    """A point of the stable cycle of `branch` nearest to the parameter `value`."""
    values = np.asarray(branch.values)[:, 0]
    stable = np.asarray(branch.stable, bool)
    i = int(np.argmin(np.where(stable, np.abs(values - value), np.inf)))
    return np.asarray(branch.states[i])


def _signature(region: BurstingRegion):
    """What a row's result looks like: the kinds of its intervals' ends."""
    return [tuple(None if sp is None else sp.kind for sp in ends) for ends in region.ends]


def _bursting_plane(
    params, param, bounds, second, bounds2, *, rows, refine, curves, extend, points, t1, options
):
    try:
        lo2, hi2 = (float(b) for b in bounds2)
    except (TypeError, ValueError):
        raise ParameterError("bounds2", f"must be (lo, hi); got {bounds2!r}") from None
    if not (np.isfinite(lo2) and np.isfinite(hi2) and lo2 < hi2):
        raise ParameterError("bounds2", f"must be finite with lo < hi; got ({lo2:g}, {hi2:g})")
    rows = check_whole("rows", rows, minimum=2)
    refine = check_whole("refine", refine, minimum=0)
    grid = np.linspace(bounds[0], bounds[1], points)
    grid2 = np.linspace(lo2, hi2, rows)
    regimes = regime_map(
        params,
        {param: jnp.asarray(grid), second: jnp.asarray(grid2)},
        t1=t1,
        progress=options["progress"],
    )
    regime = regimes["regime"]
    bursting = np.asarray(regime.values).astype(str) == "bursting"
    if "population" in regime.dims:
        bursting = bursting.any(axis=regime.dims.index("population"))
    dims = [d for d in regime.dims if d != "population"]
    bursting = bursting.transpose(dims.index(param), dims.index(second))

    def row(value2, column, neighbours):
        # Families found on a neighbouring row seed this one from a point of their stable
        # cycle: windows narrower than the map's spacing (isolas) are followed from where
        # they were wide enough to be seen.
        extra = [
            (a + u * (b - a), _state_near(br, a + u * (b - a)))
            for found in neighbours
            for a, b, _, _, br in found
            for u in (0.5, 0.2, 0.8)
        ]
        # The given curves predict where this row's windows lie: between two consecutive
        # crossings of the row, started from the nearest neighbouring stable cycle.
        near = [(0.5 * (a + b), br) for found in neighbours for a, b, _, _, br in found]
        if near:
            cuts = np.sort(_crossings(planar, float(value2), bounds))
            for x in 0.5 * (cuts[:-1] + cuts[1:]):
                mid, br = min(near, key=lambda m: abs(m[0] - x))
                extra.append((float(x), _state_near(br, float(x))))
        found, branches, seeds = _stable_intervals(
            with_parameter(params, second, float(value2)),
            param,
            bounds,
            grid,
            column,
            extra=extra,
            **options,
        )
        return float(value2), _one_parameter(param, list(found), branches, seeds, None), found

    if isinstance(curves, dict):
        curves = list(curves.values())
    planar = [c for c in curves if tuple(c.param) == (param, second)]
    done = []
    for j, value2 in enumerate(grid2):
        done.append(row(value2, bursting[:, j], [done[-1][2]] if done else []))
    # Bisect between rows whose results differ (an interval appears or ends, an end changes
    # kind): the region's corners and tips are resolved to spacing / 2**refine.
    nothing = np.zeros(len(grid), bool)
    for _ in range(refine):
        inserted = [
            row(0.5 * (a[0] + b[0]), nothing, [a[2], b[2]])
            for a, b in zip(done[:-1], done[1:])
            if _signature(a[1]) != _signature(b[1])
        ]
        if not inserted:
            break
        done = sorted(done + inserted, key=lambda r: r[0])
    box = ((float(bounds[0]), float(bounds[1])), (lo2, hi2))
    added = _complete_curves(done, planar, (param, second), box, options) if extend else []
    plane = BurstingPlane(
        params=(param, second),
        rows=np.array([r[0] for r in done]),
        regions=tuple(r[1] for r in done),
        polygons=(),
        regimes=regimes,
        bounds=box,
        curves=tuple(added),
    )
    return plane.with_curves(planar + added)


def _crossings(curves, value2: float, bounds) -> np.ndarray:
    """Where the curves cross the row `value2` of the second parameter, inside `bounds`."""
    out = []
    for curve in curves:
        v = np.asarray(curve.values, float)[:, :2]
        d = v[:, 1] - value2
        i = np.flatnonzero(d[:-1] * d[1:] < 0)
        out += list(v[i, 0] + (v[i + 1, 0] - v[i, 0]) * d[i] / (d[i] - d[i + 1]))
    x = np.asarray(out, float)
    return x[(x > bounds[0]) & (x < bounds[1])]


def _complete_curves(done, curves, names, box, options) -> list[Branch]:
    """Continue, in the two parameters, the folds, flips and tori bounding the rows' intervals
    that lie on none of `curves`: the region's boundary between rows is then exact too."""
    from .cycle_curves import continue_lpc, continue_ns, continue_pd

    continue_kind = {"lpc": continue_lpc, "pd": continue_pd, "ns": continue_ns}
    scale = tuple(hi - lo for lo, hi in box)
    known = list(curves)
    added: list[Branch] = []
    for value2, _, found in done:
        for _, _, lower, upper, branch in found:
            for sp in (lower, upper):
                if sp is None or sp.kind not in continue_kind or not sp.converged:
                    continue
                point = (float(np.asarray(sp.value).reshape(-1)[0]), value2)
                if any(
                    c.kind == sp.kind and len(c) > 1 and _projection(c, point, scale)[0] < 1e-3
                    for c in known
                ):
                    continue
                try:
                    curve = continue_kind[sp.kind](
                        sp.params,
                        sp,
                        names,
                        box,
                        branch=branch,
                        max_points=options["max_points"],
                        progress=options["progress"],
                        throw=False,
                    )
                except (ArithmeticError, RuntimeError, ValueError):
                    continue
                if len(curve) > 1:
                    known.append(curve)
                    added.append(curve)
    return added


def _projection(curve: Branch, point, scale) -> tuple[float, float]:
    """(distance, position) of `point` to the polyline of a two-parameter curve, in units of
    `scale`; position = segment index + fraction along it."""
    v = np.asarray(curve.values, float)[:, :2] / scale
    p = np.asarray(point, float) / scale
    a, d = v[:-1], np.diff(v, axis=0)
    u = np.clip(np.sum((p - a) * d, 1) / np.maximum(np.sum(d * d, 1), 1e-300), 0.0, 1.0)
    gap = np.linalg.norm(p - (a + u[:, None] * d), axis=1)
    i = int(np.argmin(gap))
    return float(gap[i]), i + float(u[i])


def _along(p, sp_p, q, sp_q, curves, scale, ylim, tol: float = 1e-3):
    """The vertices of the two-parameter curve that both ends p and q (special points sp_p,
    sp_q of one kind) lie on, between them and inside the band ylim of the second parameter;
    [] when there is no such curve (the boundary is then the straight segment)."""
    if sp_p is None or sp_q is None or sp_p.kind != sp_q.kind:
        return []
    for curve in curves:
        if curve.kind != sp_p.kind or len(curve) < 2:
            continue
        (dp, sp), (dq, sq) = _projection(curve, p, scale), _projection(curve, q, scale)
        if dp > tol or dq > tol:
            continue
        idx = np.arange(int(np.floor(min(sp, sq))) + 1, int(np.ceil(max(sp, sq))))
        idx = idx[(idx > min(sp, sq)) & (idx < max(sp, sq))]
        if sp > sq:
            idx = idx[::-1]
        piece = np.asarray(curve.values, float)[idx, :2]
        slack = 1e-9 * scale[1]
        if np.all((piece[:, 1] >= ylim[0] - slack) & (piece[:, 1] <= ylim[1] + slack)):
            return [tuple(x) for x in piece]
    return []


def _polygons(grid2, regions, curves, scale, span):
    """Closed boundaries of the stable-bursting region from the rows' exact intervals: each
    chain of overlapping intervals on consecutive rows is one polygon, its sides and ends
    following the curves the rows' end points lie on."""
    chains: list[list[tuple[int, int]]] = []
    open_chains: dict[int, int] = {}
    for j, region in enumerate(regions):
        linked: dict[int, int] = {}
        for k, (a, b) in enumerate(region.intervals):
            link = None
            for kp, c in open_chains.items():
                ap, bp = regions[j - 1].intervals[kp]
                # Overlapping once each is widened by its own width: a narrowing window
                # can shift by more than its width between rows.
                wide = (a - (b - a) <= bp + (bp - ap)) and (ap - (bp - ap) <= b + (b - a))
                if wide and c not in linked.values():
                    link = c
                    break
            if link is None:
                chains.append([])
                link = len(chains) - 1
            chains[link].append((j, k))
            linked[k] = link
        open_chains = linked
    out = []
    far = (-np.inf, np.inf)
    for chain in chains:
        sides: list[list[tuple[float, float]]] = [[], []]
        for side in (0, 1):
            prev = None
            for j, k in chain:
                x = float(np.clip(regions[j].intervals[k][side], *span))
                point = (x, float(grid2[j]))
                sp = regions[j].ends[k][side]
                if prev is not None:
                    band = (grid2[j - 1], grid2[j])
                    sides[side] += _along(prev[0], prev[1], point, sp, curves, scale, band)
                sides[side].append(point)
                prev = (point, sp)
        (j0, k0), (j1, k1) = chain[0], chain[-1]
        # The ends of a chain: the curve both end points lie on closes it beyond the last
        # row (a fold curve turning round the region's tip), whatever the rows further on
        # found, since their seeds can miss a window that narrows while it shifts.
        top_band = (grid2[j1], far[1])
        top = _along(
            sides[0][-1],
            regions[j1].ends[k1][0],
            sides[1][-1],
            regions[j1].ends[k1][1],
            curves,
            scale,
            top_band,
        )
        bottom_band = (far[0], grid2[j0])
        bottom = _along(
            sides[1][0],
            regions[j0].ends[k0][1],
            sides[0][0],
            regions[j0].ends[k0][0],
            curves,
            scale,
            bottom_band,
        )
        ends_top, ends_bottom = regions[j1].ends[k1], regions[j0].ends[k0]
        if not top and j1 + 1 < len(grid2):
            # Only one end on a curve: that curve's turning point beyond the last row (a fold
            # curve turning round the region's tip) bounds the region there.
            top = _to_turn(sides[0][-1], ends_top[0], curves, scale, grid2[j1], +1)
            top += _to_turn(sides[1][-1], ends_top[1], curves, scale, grid2[j1], +1)[::-1]
        if not bottom and j0 > 0:
            bottom = _to_turn(sides[1][0], ends_bottom[1], curves, scale, grid2[j0], -1)
            bottom += _to_turn(sides[0][0], ends_bottom[0], curves, scale, grid2[j0], -1)[::-1]
        out.append(np.asarray(sides[0] + top + sides[1][::-1] + bottom, float))
    return out


def _to_turn(p, sp, curves, scale, row: float, sign: int, tol: float = 1e-3):
    """From end p (special point sp) along the curve it lies on, beyond `row` (sign +1: above,
    -1: below), up to the curve's turning point in the second parameter; [] when p lies on no
    curve of its kind or the curve does not go beyond the row from there."""
    if sp is None:
        return []
    for curve in curves:
        if curve.kind != sp.kind or len(curve) < 2:
            continue
        gap, s = _projection(curve, p, scale)
        if gap > tol:
            continue
        v = np.asarray(curve.values, float)[:, :2]
        for step in (1, -1):
            i = int(np.floor(s)) + (1 if step == 1 else 0)
            piece: list[tuple[float, ...]] = []
            while 0 <= i < len(v) and sign * (v[i, 1] - row) > 0:
                if piece and sign * (v[i, 1] - piece[-1][1]) < 0:
                    break
                piece.append(tuple(v[i]))
                i += step
            if piece:
                return piece
    return []


def compare_regime_map(region: BurstingPlane, regimes) -> MapAgreement:
    """Check a two-parameter bursting region against a brute-force regime map: which map
    points labelled bursting lie outside the region, which inside are not labelled bursting.

    Points on the boundary count as inside. Disagreement is expected within about a grid cell
    of the boundary (the map's resolution)
    and in bistable windows (a stable cycle beside a stable equilibrium: the map's all-zero
    start may pick the equilibrium); `cells` says how far each mismatch lies from the boundary.

    Parameters
    ----------
    region : BurstingPlane
        From `bursting_region(..., second=...)`.
    regimes : xarray.Dataset
        A regime map over a product grid of the region's two parameters
        (`jaxmf.regime_map`), independent of the one the region was seeded from.

    Returns
    -------
    MapAgreement

    Raises
    ------
    ValueError
        When the map is not over the region's two parameters.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> import jaxmf
    >>> square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    >>> plane = jaxmf.BurstingPlane(("p", "q"), np.zeros(1), (), (square,), None)
    >>> ds = xr.Dataset({"regime": (("p", "q"), [["bursting", "tonic"], ["tonic", "tonic"]])},
    ...                 coords={"p": [0.5, 1.5], "q": [0.5, 1.5]})
    >>> jaxmf.compare_regime_map(plane, ds).mismatches
    0
    """
    p1, p2 = region.params
    regime = regimes["regime"]
    if p1 not in regime.dims or p2 not in regime.dims:
        raise ValueError(
            f"compare_regime_map: the map's grid {tuple(regime.dims)} is not over {(p1, p2)}"
        )
    bursting = np.asarray(regime.values).astype(str) == "bursting"
    if "population" in regime.dims:
        bursting = bursting.any(axis=regime.dims.index("population"))
    dims = [d for d in regime.dims if d != "population"]
    bursting = bursting.transpose(dims.index(p1), dims.index(p2))
    x = np.asarray(regimes[p1].values, float)
    y = np.asarray(regimes[p2].values, float)
    X, Y = np.meshgrid(x, y, indexing="ij")
    spacing = (
        float(np.ptp(x) / max(len(x) - 1, 1)) or 1.0,
        float(np.ptp(y) / max(len(y) - 1, 1)) or 1.0,
    )
    # The region is closed: map points on its boundary (e.g. on the rows' bounds) are in it.
    inside = region.contains(X, Y) | (region.distance(X, Y, spacing) < 1e-9)
    out = np.stack([X[bursting & ~inside], Y[bursting & ~inside]], -1)
    missing = np.stack([X[inside & ~bursting], Y[inside & ~bursting]], -1)
    both = np.concatenate([out, missing]).reshape(-1, 2)
    return MapAgreement(
        bursting=int(bursting.sum()),
        inside=int(inside.sum()),
        outside_bursting=out.reshape(-1, 2),
        inside_not_bursting=missing.reshape(-1, 2),
        cells=region.distance(both[:, 0], both[:, 1], spacing),
        spacing=spacing,
    )
