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
from .meanfield import solve_meanfield
from .params import ParameterError, check_positive, check_whole

__all__ = ["BurstingRegion", "bursting_region"]


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
) -> BurstingRegion:
    """The exact range of stable bursting (stable mean-field cycles) in one parameter.

    A regime map over `points` values in `bounds` (`jaxmf.regime_map`, simulations of length
    t1) marks bursting points. From one point of each run of them not yet covered, a long
    simulation (`simulate` time units, the second half kept) is turned into a cycle
    (`cycle_from_trajectory`) and its family continued both ways (`continue_cycles`, ntst
    intervals, stopping at period_max as a homoclinic end). The stable stretches of these
    families, with the special points bounding them (folds of cycles, flips, tori, homoclinic
    or Hopf ends), are the result: exact where the map only brackets to its resolution. A
    bursting window narrower than the map's spacing can be missed: refine `points`.

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

    Returns
    -------
    BurstingRegion

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
    grid = np.linspace(lo, hi, points)
    regimes = regime_map(params, {param: jnp.asarray(grid)}, t1=t1, progress=progress)
    bursting = np.asarray(regimes["regime"].values).astype(str).reshape(-1) == "bursting"
    runs: list[list[int]] = []
    for i in np.flatnonzero(bursting):
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(int(i))
        else:
            runs.append([int(i)])
    found: list[tuple[float, float, Any, Any]] = []
    branches: list[Branch] = []
    seeds: list[float] = []
    for run in runs:
        covered = [g for g in grid[run] if any(a <= g <= b for a, b, *_ in found)]
        if len(covered) == len(run):
            continue
        value = float(grid[run[len(run) // 2]])
        seeds.append(value)
        at = with_parameter(params, param, value)
        sol = solve_meanfield(
            at,
            t1=simulate,
            ts=jnp.arange(simulate / 2, simulate, 0.1),
            rtol=1e-10,
            atol=1e-12,
        )
        cycle = cycle_from_trajectory(at, sol.t, sol, param, ntst=ntst, throw=False)
        if not cycle.converged:
            continue
        branch = continue_cycles(
            at,
            cycle,
            param,
            (lo, hi),
            ntst=ntst,
            period_max=period_max,
            max_points=max_points,
            progress=progress,
            throw=False,
        )
        branches.append(branch)
        for stretch in _stable_stretches(branch):
            if not any(abs(stretch[0] - a) + abs(stretch[1] - b) < 1e-9 for a, b, *_ in found):
                found.append(stretch)
    found.sort(key=lambda s: s[0])
    return BurstingRegion(
        param=param,
        intervals=np.array([[a, b] for a, b, *_ in found]).reshape(-1, 2),
        ends=tuple((s[2], s[3]) for s in found),
        branches=tuple(branches),
        seeds=np.asarray(seeds),
        regimes=regimes,
    )
