"""Parameter sweeps at scale: grids, chunked vmap, sharding across devices and hosts, resume.

    grid = Grid.product(eta_bar=jnp.linspace(0, 0.3, 400), w_jump=jnp.linspace(0.005, 0.1, 400))
    ds = sweep(presets.chen_campbell_2022(), grid, model="meanfield", t1=2000.0,
               observables=("regime", "r_mean", "burst_period"), out="scan.nc")
    ds["regime"].sel(eta_bar=0.12, w_jump=0.0189, method="nearest")   # 'bursting'

A sweep evaluates a model at every grid point: the mean field (`MeanFieldModel`), a batch of
networks (`NetworkModel`) or any function of `Params`. Points are taken in chunks; inside a chunk
they run under `jax.vmap`, split across the local devices with `jax.shard_map` (each device runs
its own share to completion, so a slow point holds up only its own device). With several JAX
processes (`jax.distributed.initialize`) each process takes every k-th chunk on its own devices and
the results are gathered across processes; process 0 writes the file.

Numerical failure is per point: `status` is 'ok', 'diverged' (the state blew up or became
non-finite) or 'max_steps' (the solver's step budget ran out); such points get NaN observables
and regime 'none', and the chunk carries on.

Each device always evaluates `points_per_device` points per call (the last call of a chunk is
padded), so a point's numbers do not depend on how many devices or processes share the work:
sharded, unsharded and multi-process sweeps give bit-identical datasets.

With `out`, every finished chunk is written at once (atomically) to `<out>.parts/`, and the whole
dataset to `<out>` (netCDF, via xarray) when the last chunk is done. Calling `sweep` again with the
same arguments skips the finished chunks, so an interrupted sweep (Ctrl-C, kill, a lost node)
loses at most the chunks in flight; calling it on a complete `out` just loads it. Whether a stored
chunk belongs to the same sweep is decided by a fingerprint of the parameters, grid, model
options, observable names and seed (a user function is known by its qualified name only).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._loop import Progress
from .analysis import REGIME_NAMES, classify_regime, detect_bursts, smooth
from .heterogeneity import Quantiles
from .meanfield import MODELS, MeanFieldState, _qss
from .network import EulerReset, init, make_network, run
from .params import PER_POPULATION_FIELDS, ParameterError, Params

__all__ = [
    "Grid", "MeanFieldModel", "NetworkModel", "Trace", "OBSERVABLES", "STATUS_NAMES",
    "STATUS_OK", "STATUS_DIVERGED", "STATUS_MAX_STEPS", "SweepInterrupted", "sweep",
    "regime_map", "load_sweep",
]

STATUS_OK, STATUS_DIVERGED, STATUS_MAX_STEPS = 0, 1, 2
STATUS_NAMES = ("ok", "diverged", "max_steps")
NO_REGIME = "none"  # the regime label of a point whose status is not 'ok'
DEFAULT_OBSERVABLES = ("regime", "r_mean", "burst_period")
FORMAT = "jaxmf.sweep"
FORMAT_VERSION = 1
# Points per device and chunk when nothing else decides: on CPU ~512 amortises the Python loop
# and bounds the waste of a vmapped solve (every point pays for the slowest one in its chunk;
# benchmarks/meanfield_throughput.py); accelerators want far wider batches.
_PER_DEVICE = {"meanfield": {"cpu": 512, "other": 8192},
               "network": {"cpu": 8, "other": 256},
               "function": {"cpu": 512, "other": 8192}}
_DEFAULT_MEMORY_BUDGET = 2**30  # bytes per device


# ------------------------------------------------------------------------------------------------
# Grid designs


_SCALAR_FIELDS = ("v_peak", "v_reset")
_NAME = re.compile(r"^([a-z_]+?)(?:\[(\d+)(?:,\s*(\d+))?\]|_(\d+)(?:_(\d+))?)?$")


class _Spec(NamedTuple):
    field: str                       # a Params field, or "kappa"
    index: tuple[int, ...] | None    # population (or (m, k) of g); None sets every entry


def _parse_name(name: str) -> tuple[str, _Spec]:
    """'w_jump' (every population), 'w_jump[1]' or 'w_jump_1' (population 1), 'g[0,1]' or 'g_0_1'
    (one conductance), 'kappa' (fractions = [kappa, 1 - kappa]); returns (canonical name, spec)."""
    m = _NAME.match(str(name).strip())
    known = (*PER_POPULATION_FIELDS, "g", *_SCALAR_FIELDS, "kappa")
    field = m.group(1) if m else None
    if field not in known:
        raise ParameterError(str(name), "not a sweepable parameter; use one of "
                             f"{', '.join(known)}, with [k] (or _k) for population k only and "
                             "[m,k] for one entry of g")
    idx = [int(x) for x in (m.group(2), m.group(3)) if x is not None] or \
        [int(x) for x in (m.group(4), m.group(5)) if x is not None]
    if field in (*_SCALAR_FIELDS, "kappa") and idx:
        raise ParameterError(str(name), f"{field} has no populations to index")
    if field == "g" and len(idx) == 1:
        raise ParameterError(str(name), "g is a (P, P) matrix: give g (every entry) or g[m,k]")
    if field != "g" and len(idx) > 1:
        raise ParameterError(str(name), f"{field} takes one population index, e.g. {field}[0]")
    canonical = field + "".join(f"_{i}" for i in idx)
    return canonical, _Spec(field, tuple(idx) or None)


def _column(name: str, values) -> np.ndarray:
    x = np.asarray(values, dtype=float).reshape(-1) if np.ndim(values) <= 1 else None
    if x is None:
        raise ParameterError(name, f"grid values must be a 1-D list of numbers; got shape "
                             f"{np.shape(values)}")
    if x.size == 0:
        raise ParameterError(name, "grid values are empty")
    if not np.all(np.isfinite(x)):
        bad = x[~np.isfinite(x)][:3].tolist()
        raise ParameterError(name, f"grid values must be finite; got {bad}")
    return x


def _range(name: str, bounds) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ParameterError(name, f"give a range (low, high); got {bounds!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ParameterError(name, f"range must be finite with low < high; got ({lo}, {hi})")
    return lo, hi


def _count(n) -> int:
    if isinstance(n, bool) or not float(n).is_integer() or n < 1:
        raise ParameterError("n", f"number of points must be a whole number >= 1; got {n!r}")
    return int(n)


class Grid(eqx.Module):
    """Where a sweep evaluates the model: values of some `Params` fields at each point.

    Names are Params fields: `eta_bar` sets every population, `eta_bar[1]` (or `eta_bar_1`)
    population 1 only, `g[0,1]` one conductance, `kappa` the fractions [kappa, 1 - kappa] of two
    populations. Build one with `Grid.product` (a full factorial: the dataset has one dimension
    per name), `Grid.points` (an explicit list), `Grid.random` or `Grid.latin_hypercube`
    (designs of n points in given ranges; the dataset has one dimension `point`).
    """

    names: tuple[str, ...] = eqx.field(static=True)
    design: str = eqx.field(static=True)
    columns: tuple[np.ndarray, ...]  # product: the axes; otherwise one value per point
    seed: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if not self.names:
            raise ParameterError("grid", "needs at least one parameter")
        if len(set(self.names)) != len(self.names):
            raise ParameterError("grid", f"a parameter appears twice: {list(self.names)}")
        if self.design != "product" and len({c.size for c in self.columns}) != 1:
            sizes = {n: c.size for n, c in zip(self.names, self.columns)}
            raise ParameterError("grid", f"every parameter needs one value per point; got {sizes}")

    @classmethod
    def _make(cls, design, columns: Mapping[str, Any], seed=None) -> "Grid":
        names, cols = [], []
        for raw, values in columns.items():
            name, _ = _parse_name(raw)
            names.append(name)
            cols.append(_column(name, values))
        return cls(names=tuple(names), design=design, columns=tuple(cols), seed=seed)

    @classmethod
    def product(cls, **axes) -> "Grid":
        """Every combination of the given axes, e.g. product(eta_bar=..., w_jump=...)."""
        return cls._make("product", axes)

    @classmethod
    def points(cls, **columns) -> "Grid":
        """An explicit list of points: one equally long list of values per parameter."""
        return cls._make("points", columns)

    @classmethod
    def random(cls, n: int, *, seed: int = 0, **ranges) -> "Grid":
        """n points drawn uniformly in the given (low, high) ranges (numpy PCG64 from `seed`)."""
        n = _count(n)
        rng = np.random.Generator(np.random.PCG64(seed))
        cols = {}
        for name, bounds in ranges.items():
            lo, hi = _range(name, bounds)
            cols[name] = lo + (hi - lo) * rng.random(n)
        return cls._make("random", cols, seed=seed)

    @classmethod
    def latin_hypercube(cls, n: int, *, seed: int = 0, **ranges) -> "Grid":
        """n points in the given (low, high) ranges such that each parameter has exactly one
        point in each of n equal strata (Latin hypercube; jittered within strata)."""
        n = _count(n)
        rng = np.random.Generator(np.random.PCG64(seed))
        cols = {}
        for name, bounds in ranges.items():
            lo, hi = _range(name, bounds)
            u = (rng.permutation(n) + rng.random(n)) / n
            cols[name] = lo + (hi - lo) * u
        return cls._make("latin_hypercube", cols, seed=seed)

    @property
    def shape(self) -> tuple[int, ...]:
        """Dataset shape: one length per axis (product) or (n_points,)."""
        if self.design == "product":
            return tuple(c.size for c in self.columns)
        return (self.columns[0].size,)

    @property
    def dims(self) -> tuple[str, ...]:
        return self.names if self.design == "product" else ("point",)

    @property
    def n_points(self) -> int:
        return int(np.prod(self.shape))

    @property
    def specs(self) -> tuple[_Spec, ...]:
        return tuple(_parse_name(n)[1] for n in self.names)

    def values(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(points, names) values of points start..stop in C order (the last axis fastest)."""
        stop = self.n_points if stop is None else stop
        flat = np.arange(start, stop)
        if self.design != "product":
            return np.stack([c[flat] for c in self.columns], axis=1)
        idx = np.unravel_index(flat, self.shape)
        return np.stack([c[i] for c, i in zip(self.columns, idx)], axis=1)

    def chunks(self, size: int | None = None, *, memory_budget: float | None = None,
               bytes_per_point: float | None = None) -> list[tuple[int, int]]:
        """(start, stop) of consecutive chunks of at most `size` points, or of as many points as
        fit in `memory_budget` bytes at `bytes_per_point` each."""
        if size is None:
            if memory_budget is None or bytes_per_point is None:
                raise ParameterError("chunk_size", "give a size or a memory_budget and "
                                     "bytes_per_point")
            size = max(1, int(memory_budget // max(bytes_per_point, 1)))
        if isinstance(size, bool) or not float(size).is_integer() or size < 1:
            raise ParameterError("chunk_size", f"must be a whole number >= 1; got {size!r}")
        size = int(size)
        return [(a, min(a + size, self.n_points)) for a in range(0, self.n_points, size)]

    def coords(self) -> dict[str, Any]:
        if self.design == "product":
            return {n: c for n, c in zip(self.names, self.columns)}
        return {n: ("point", c) for n, c in zip(self.names, self.columns)}

    def describe(self) -> dict[str, Any]:
        digest = hashlib.sha256()
        for c in self.columns:
            digest.update(np.ascontiguousarray(c, dtype="<f8").tobytes())
            digest.update(b"|")
        return {"design": self.design, "names": list(self.names), "shape": list(self.shape),
                "seed": self.seed, "values_sha256": digest.hexdigest()}


def _apply(params: Params, specs: Sequence[_Spec], x) -> Params:
    """params with the grid values x (names,) set (traceable: no validation)."""
    new: dict[str, jax.Array] = {}
    for spec, xi in zip(specs, x):
        if spec.field == "kappa":
            cur = params.fractions
            xi = jnp.asarray(xi, cur.dtype)
            new["fractions"] = jnp.stack([xi, 1 - xi])
            continue
        cur = new.get(spec.field, getattr(params, spec.field))
        xi = jnp.asarray(xi, cur.dtype)
        new[spec.field] = (jnp.full_like(cur, xi) if spec.index is None
                           else cur.at[spec.index].set(xi))
    names = list(new)
    return eqx.tree_at(lambda p: [getattr(p, n) for n in names], params, [new[n] for n in names])


def _validate_grid(params: Params, grid: Grid) -> None:
    """Each grid value must give valid Params (checked at each parameter's min and max)."""
    n_pop = params.n_populations
    for name, spec, col in zip(grid.names, grid.specs, grid.columns):
        if spec.field == "kappa" and n_pop != 2:
            raise ParameterError(name, f"kappa needs two populations; these params have {n_pop}")
        if spec.index is not None and any(i >= n_pop for i in spec.index):
            raise ParameterError(name, f"population index out of range: these params have "
                                 f"{n_pop} population(s), indices 0..{n_pop - 1}")
        for v in (float(col.min()), float(col.max())):
            current = np.asarray(getattr(params, "fractions" if spec.field == "kappa"
                                         else spec.field))
            if spec.field == "kappa":
                value = np.array([v, 1 - v])
            elif spec.index is None:
                value = np.full_like(current, v)
            else:
                value = current.copy()
                value[spec.index] = v
            try:
                params.replace(**{"fractions" if spec.field == "kappa" else spec.field: value})
            except ParameterError as e:
                if spec.field == "kappa":
                    raise ParameterError(name, f"grid value {v:g} is outside the allowed range "
                                         "(0, 1)") from None
                raise ParameterError(name, f"grid value {v:g} is not allowed: {e}") from None


# ------------------------------------------------------------------------------------------------
# Models and observables


class Trace(NamedTuple):
    """Population traces after the transient: t (T,), r, v, w, s (T, P). What observables see."""

    t: jax.Array
    r: jax.Array
    v: jax.Array
    w: jax.Array
    s: jax.Array


def _per_population(fn):
    return lambda tr, window: jax.vmap(lambda x: fn(tr.t, x, window), in_axes=1)(tr.r)


def _bursts(tr, window):
    return jax.vmap(lambda x: detect_bursts(tr.t, smooth(x, window)), in_axes=1)(tr.r)


# name -> (function of (Trace, smooth_window) giving one value per population, kind)
OBSERVABLES: dict[str, tuple[Callable, str]] = {
    "regime": (_per_population(lambda t, x, k: classify_regime(t, x, smooth_window=k)
                               .astype(jnp.int8)), "regime"),
    "r_mean": (lambda tr, k: jnp.mean(tr.r, axis=0), "float"),
    "r_max": (lambda tr, k: jnp.max(tr.r, axis=0), "float"),
    "r_min": (lambda tr, k: jnp.min(tr.r, axis=0), "float"),
    "v_mean": (lambda tr, k: jnp.mean(tr.v, axis=0), "float"),
    "w_mean": (lambda tr, k: jnp.mean(tr.w, axis=0), "float"),
    "s_mean": (lambda tr, k: jnp.mean(tr.s, axis=0), "float"),
    "burst_period": (lambda tr, k: _bursts(tr, k).period, "float"),
    "burst_peak": (lambda tr, k: _bursts(tr, k).peak, "float"),
    "duty_cycle": (lambda tr, k: _bursts(tr, k).duty_cycle, "float"),
    "n_bursts": (lambda tr, k: _bursts(tr, k).n_bursts.astype(jnp.int32), "int"),
}
_OBSERVABLE_DOCS = {
    "regime": "'quiescent' / 'tonic' / 'bursting' (analysis.classify_regime)",
    "burst_period": "mean onset-to-onset interval (NaN without two bursts)",
}


def _positive(name, x, *, allow_zero=False) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ParameterError(name, f"must be a number; got {x!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ParameterError(name, f"must be a finite number {'>=' if allow_zero else '>'} 0; "
                             f"got {x!r}")
    return v


def _whole(name, x, minimum=1) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) \
            or not float(x).is_integer() or x < minimum:
        raise ParameterError(name, f"must be a whole number >= {minimum}; got {x!r}")
    return int(x)


class MeanFieldModel(eqx.Module):
    """The mean field at each point: `solve_meanfield` from the all-zero state to t1, saving every
    `save_dt` over (transient, t1] (default transient t1/2), which the observables see.

    rtol/atol: step-size control (1e-6/1e-9 keep regimes and rates right to ~1e-5 at a fraction
    of the cost of the library's 1e-8 default). max_steps: step budget per point, rejected steps
    included. model: 'chen_campbell' (exact), 'nicola_campbell' or 'mpr'. blowup: a point
    whose |r|, |v|, |w| or |s| exceeds this is stopped and flagged 'diverged'.
    """

    t1: float = eqx.field(static=True, default=2000.0)
    transient: float | None = eqx.field(static=True, default=None)
    save_dt: float = eqx.field(static=True, default=0.5)
    rtol: float = eqx.field(static=True, default=1e-6)
    atol: float = eqx.field(static=True, default=1e-9)
    max_steps: int = eqx.field(static=True, default=20_000)
    model: str = eqx.field(static=True, default="chen_campbell")
    blowup: float = eqx.field(static=True, default=1e8)

    kind = "meanfield"

    def __check_init__(self):
        t1 = _positive("t1", self.t1)
        if self.transient is not None:
            tr = _positive("transient", self.transient, allow_zero=True)
            if tr >= t1:
                raise ParameterError("transient", f"must be < t1={t1:g}; got {tr:g}")
        _positive("save_dt", self.save_dt)
        if self.n_save < 3:
            raise ParameterError("save_dt", f"must leave >= 3 samples in (transient, t1] = "
                                 f"({self.start:g}, {t1:g}]; got save_dt={self.save_dt:g}")
        _positive("rtol", self.rtol)
        _positive("atol", self.atol)
        _whole("max_steps", self.max_steps)
        if self.model not in MODELS:
            raise ParameterError("model", f"must be one of {', '.join(MODELS)}; got {self.model!r}")
        _positive("blowup", self.blowup)

    @property
    def start(self) -> float:
        return float(self.t1) / 2 if self.transient is None else float(self.transient)

    @property
    def n_save(self) -> int:
        return int(round((float(self.t1) - self.start) / float(self.save_dt))) + 1

    smooth_window = 1

    def prepare(self, params: Params, seed: int, grid: Grid):
        return None

    def trace(self, params: Params, aux) -> tuple[Trace, jax.Array]:
        # solve_meanfield's solve (same solver, controller and initial state) plus an event
        # that stops a blow-up: without it a diverging point would spend its whole step budget
        # on rejected steps and be indistinguishable from one that ran out of steps.
        dtype = params.eta_bar.dtype
        ts = jnp.linspace(self.start, float(self.t1), self.n_save, dtype=dtype)
        p = params.n_populations
        y0 = MeanFieldState(*(jnp.zeros((p,), dtype) for _ in range(4)))
        bound = float(self.blowup)
        event = diffrax.Event(lambda t, y, args, **kw: jnp.max(jnp.abs(jnp.stack(y))) > bound)
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(MODELS[self.model]), diffrax.Tsit5(), jnp.asarray(0.0, dtype),
            jnp.asarray(float(self.t1), dtype), None, y0, args=(params, None),
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.PIDController(rtol=self.rtol, atol=self.atol),
            max_steps=int(self.max_steps), event=event, throw=False)
        ys = sol.ys
        if self.model == "nicola_campbell":
            rate, v_qss = jax.vmap(lambda w, s: _qss(params, w, s, params.i_ext))(ys.w, ys.s)
            ys = ys._replace(r=rate, v=v_qss)
        tr = Trace(t=ts, r=ys.r, v=ys.v, w=ys.w, s=ys.s)
        code = sol.result
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in tr[1:]]))
        ok = code == diffrax.RESULTS.successful
        status = jnp.where(ok & finite, STATUS_OK,
                           jnp.where(code == diffrax.RESULTS.max_steps_reached, STATUS_MAX_STEPS,
                                     STATUS_DIVERGED))
        return tr, status.astype(jnp.int8)

    def bytes_per_point(self, params: Params) -> float:
        p = params.n_populations
        itemsize = np.dtype(params.eta_bar.dtype).itemsize
        # saved states, their copies in observables (sorts for percentiles), solver stages
        return itemsize * (6 * self.n_save * (4 * p + 1) + 64 * 4 * p) + 4096

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, **{f.name: getattr(self, f.name)
                                      for f in dataclasses.fields(self)}}


class NetworkModel(eqx.Module):
    """A network of n neurons per point (the same Lorentzian sample for every point), simulated
    with `jaxmf.network.run` from the all-zero state to t1; observables see the recorded
    population rate (one bin per `record_every` steps) after `transient` (default t1/4).

    Regime and bursts use the rate smoothed over `smooth_time` time units, so finite-size
    fluctuations are not taken for bursts. dtype: 'float32' (default, as `simulate_network`) or
    'float64'. scheme/sampler as in `simulate_network`; the sampler's key comes from the seed.
    """

    t1: float = eqx.field(static=True, default=400.0)
    n: int = eqx.field(static=True, default=1000)
    dt: float = eqx.field(static=True, default=1e-3)
    record_every: int = eqx.field(static=True, default=100)
    transient: float | None = eqx.field(static=True, default=None)
    smooth_time: float = eqx.field(static=True, default=10.0)
    dtype: str = eqx.field(static=True, default="float32")
    scheme: Any = eqx.field(static=True, default=EulerReset())
    sampler: Any = eqx.field(static=True, default=Quantiles())

    kind = "network"

    def __check_init__(self):
        t1 = _positive("t1", self.t1)
        _whole("n", self.n)
        _positive("dt", self.dt)
        _whole("record_every", self.record_every)
        if self.transient is not None:
            tr = _positive("transient", self.transient, allow_zero=True)
            if tr >= t1:
                raise ParameterError("transient", f"must be < t1={t1:g}; got {tr:g}")
        _positive("smooth_time", self.smooth_time, allow_zero=True)
        if self.dtype not in ("float32", "float64"):
            raise ParameterError("dtype", f"must be 'float32' or 'float64'; got {self.dtype!r}")
        bins = t1 / (self.dt * self.record_every)
        if abs(bins - round(bins)) > 1e-6 * max(1.0, bins):
            raise ParameterError("t1", f"t1={t1:g} is not a whole number of recording bins of "
                                 f"dt * record_every = {self.dt * self.record_every:g}")
        if self.n_records - self.first_record < 3:
            raise ParameterError("transient", "leaves fewer than 3 recording bins to analyse")

    @property
    def bin_time(self) -> float:
        return float(self.dt) * int(self.record_every)

    @property
    def n_records(self) -> int:
        return int(round(float(self.t1) / self.bin_time))

    @property
    def first_record(self) -> int:
        start = float(self.t1) / 4 if self.transient is None else float(self.transient)
        return int(math.floor(start / self.bin_time + 1e-9))

    @property
    def smooth_window(self) -> int:
        return max(1, int(round(float(self.smooth_time) / self.bin_time)))

    def prepare(self, params: Params, seed: int, grid: Grid):
        from .network import _validate_run

        for spec, name in zip(grid.specs, grid.names):
            if spec.field in ("fractions", "kappa"):
                raise ParameterError(name, "a network's population sizes are fixed: sweep "
                                     "fractions/kappa with the mean field, or run one sweep per "
                                     "network")
        dtype = jnp.dtype(self.dtype)
        network = make_network(params, int(self.n), sampler=self.sampler,
                               key=jax.random.key(seed), dtype=dtype)
        # The step must suit the most excitable point of the grid.
        worst = params
        for spec, name, col in zip(grid.specs, grid.names, grid.columns):
            if spec.field in ("eta_bar", "delta_eta", "i_ext"):
                worst = _apply(worst, [spec], [float(col.max())])
        _validate_run(jax.tree.map(np.asarray, worst), network, float(self.dt), float(self.t1),
                      0.0, int(self.record_every), self.scheme, dtype)
        return network

    def trace(self, params: Params, network) -> tuple[Trace, jax.Array]:
        dtype = jnp.dtype(self.dtype)
        state = init(network, dtype=dtype)
        _, rec = run(params, network, state, dt=float(self.dt), n_records=self.n_records,
                     record_every=int(self.record_every), scheme=self.scheme)
        k0 = self.first_record
        t = self.bin_time * jnp.arange(k0 + 1, self.n_records + 1, dtype=dtype)
        tr = Trace(t=t, r=rec.r[k0:], v=rec.v_mean[k0:], w=rec.w_mean[k0:], s=rec.s[k0:])
        bad = jnp.any(rec.n_nonfinite > 0) | ~jnp.all(jnp.isfinite(rec.s))
        return tr, jnp.where(bad, STATUS_DIVERGED, STATUS_OK).astype(jnp.int8)

    def bytes_per_point(self, params: Params) -> float:
        itemsize = np.dtype(self.dtype).itemsize
        return itemsize * (12 * int(self.n) + 8 * self.n_records * params.n_populations) + 4096

    def describe(self) -> dict[str, Any]:
        d = {"kind": self.kind}
        for f in dataclasses.fields(self):
            x = getattr(self, f.name)
            d[f.name] = repr(x) if isinstance(x, eqx.Module) else x
        return d


class _FunctionModel(eqx.Module):
    """A user function params -> {name: array}; a 'status' entry (0 ok, 1 diverged, 2 max steps)
    is used if present, else a point is 'diverged' when any output is not finite."""

    fn: Callable = eqx.field(static=True)
    kind = "function"
    smooth_window = 1

    def prepare(self, params, seed, grid):
        return None

    def bytes_per_point(self, params):
        return 4096.0

    def describe(self):
        qualname = getattr(self.fn, "__qualname__", repr(self.fn))
        name = f"{getattr(self.fn, '__module__', '?')}.{qualname}"
        return {"kind": "function", "function": name}


_MODEL_CLASSES = {"meanfield": MeanFieldModel, "network": NetworkModel}


def _make_model(model, options: dict):
    if isinstance(model, str):
        if model not in _MODEL_CLASSES:
            raise ParameterError("model", f"must be 'meanfield', 'network', a MeanFieldModel / "
                                 f"NetworkModel, or a function of Params; got {model!r}")
        cls = _MODEL_CLASSES[model]
        allowed = [f.name for f in dataclasses.fields(cls)]
        for name in options:
            if name not in allowed:
                raise ParameterError(name, f"unknown option for model={model!r}; allowed: "
                                     f"{', '.join(allowed)}")
        return cls(**options)
    if options:
        name = next(iter(options))
        raise ParameterError(name, "options are given to the model object itself when `model` "
                             "is not a string (e.g. MeanFieldModel(t1=...))")
    if isinstance(model, (MeanFieldModel, NetworkModel)):
        return model
    if callable(model):
        return _FunctionModel(model)
    raise ParameterError("model", f"must be 'meanfield', 'network', a model object or a "
                         f"function of Params; got {model!r}")


def _observable_table(model, observables) -> tuple[tuple[str, Callable, str], ...]:
    if isinstance(model, _FunctionModel):
        if observables is not None:
            raise ParameterError("observables", "a function model's outputs are the observables; "
                                 "leave observables out")
        return ()
    if observables is None:
        observables = DEFAULT_OBSERVABLES
    if isinstance(observables, str):
        observables = (observables,)
    table = []
    for item in observables:
        if isinstance(item, str):
            if item not in OBSERVABLES:
                raise ParameterError("observables", f"unknown observable {item!r}; choose from "
                                     f"{', '.join(OBSERVABLES)} or pass (name, function of Trace)")
            table.append((item, *OBSERVABLES[item]))
        elif isinstance(item, tuple) and len(item) == 2 and callable(item[1]):
            table.append((str(item[0]), item[1], "float"))
        else:
            raise ParameterError("observables", f"each entry is a name or (name, function); got "
                                 f"{item!r}")
    names = [t[0] for t in table]
    if not names or len(set(names)) != len(names) or "status" in names:
        raise ParameterError("observables", f"need distinct names other than 'status'; got {names}")
    return tuple(table)


def _point_function(model, specs, table):
    """f(base params, aux, x (names,)) -> ({name: value}, status) for one point."""

    def f(base, aux, x):
        params = _apply(base, specs, x)
        if isinstance(model, _FunctionModel):
            out = dict(model.fn(params))
            status = out.pop("status", None)
            out = {k: jnp.asarray(v) for k, v in out.items()}
            if status is None:
                finite = [jnp.all(jnp.isfinite(v)) for v in out.values()
                          if jnp.issubdtype(v.dtype, jnp.inexact)]
                ok = jnp.all(jnp.stack(finite)) if finite else jnp.asarray(True)
                status = jnp.where(ok, STATUS_OK, STATUS_DIVERGED)
            return out, jnp.asarray(status).astype(jnp.int8)
        tr, status = model.trace(params, aux)
        ok = status == STATUS_OK
        out = {}
        for name, fn, kind in table:
            v = jnp.asarray(fn(tr, model.smooth_window))
            if kind == "regime":
                v = jnp.where(ok, v, -1).astype(jnp.int8)
            elif jnp.issubdtype(v.dtype, jnp.inexact):
                v = jnp.where(ok, v, jnp.nan)
            out[name] = v
        return out, status

    return f


# ------------------------------------------------------------------------------------------------
# Devices and compiled chunk functions


def _local_devices(devices) -> list:
    local = jax.local_devices()
    if devices is None:
        return local
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise ParameterError("devices", f"must be between 1 and the {len(local)} local "
                                 f"device(s); got {devices}")
        return local[: int(devices)]
    devices = list(devices)
    if not devices or any(d not in local for d in devices):
        raise ParameterError("devices", f"must be a count or a list of this process's local "
                             f"devices {local}; got {devices}")
    return devices


_COMPILED: dict = {}


def _chunk_runner(model, specs, table, devices):
    """jit(vmap) of the point function, shard_mapped over `devices` (cached: repeated sweeps
    with the same model, grid names, observables and devices compile once per chunk shape)."""
    key = (model, specs, tuple((n, id(fn)) for n, fn, _ in table), tuple(d.id for d in devices))
    if key in _COMPILED:
        return _COMPILED[key]
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    batched = jax.vmap(_point_function(model, specs, table), in_axes=(None, None, 0))
    if len(devices) == 1:
        fn = jax.jit(batched)
        replicated = points = jax.sharding.SingleDeviceSharding(devices[0])
    else:
        mesh = Mesh(np.asarray(devices), ("batch",))
        # check_vma=False: diffrax's while loops carry values the per-device batch does not
        # vary; every device runs its own points independently, no collectives.
        fn = jax.jit(jax.shard_map(batched, mesh=mesh, in_specs=(P(), P(), P("batch")),
                                   out_specs=P("batch"), check_vma=False))
        replicated, points = NamedSharding(mesh, P()), NamedSharding(mesh, P("batch"))
    _COMPILED[key] = (fn, replicated, points)
    return _COMPILED[key]


# ------------------------------------------------------------------------------------------------
# Chunk files and the dataset


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during `sweep`: the finished chunks are kept in `.parts` (when `out` was given);
    calling `sweep` again with the same arguments finishes the rest."""

    def __init__(self, message: str, done: int, total: int, parts: Path | None):
        super().__init__(message)
        self.done, self.total, self.parts = done, total, parts


def _parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _chunk_path(parts: Path, i: int) -> Path:
    return parts / f"chunk-{i:06d}.npz"


def _atomic(target: Path, write) -> None:
    from .io import _atomic_write

    _atomic_write(target, write)


def _write_chunk(parts: Path, i: int, result: dict[str, np.ndarray]) -> None:
    _atomic(_chunk_path(parts, i), lambda f: np.savez(f, **result))


def _read_chunk(parts: Path, i: int, n: int) -> dict[str, np.ndarray] | None:
    path = _chunk_path(parts, i)
    try:
        with np.load(path) as f:
            out = {k: f[k] for k in f.files}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError):  # not ours or damaged: compute it again
        return None
    if out.get("status", np.zeros(0)).shape[:1] != (n,):
        return None
    return out


def _json(x) -> str:
    from .io import _json_safe

    return json.dumps(_json_safe(x), sort_keys=True, allow_nan=False, default=str)


def _fingerprint(description: dict) -> str:
    return hashlib.sha256(_json(description).encode()).hexdigest()


def _to_dataset(grid: Grid, table, results: dict[str, np.ndarray], n_pop: int, attrs: dict):
    import xarray as xr

    shape = grid.shape
    dims = grid.dims
    data = {}
    order = [n for n, _, _ in table if n in results]
    for name in [*order, *(k for k in results if k not in order)]:
        values = results[name]
        kind = next((k for n, _, k in table if n == name), "float")
        x = np.asarray(values)
        if name == "status":
            x = np.asarray(STATUS_NAMES, dtype=object)[x.astype(int)]
        elif kind == "regime":
            x = np.asarray((*REGIME_NAMES, NO_REGIME), dtype=object)[x.astype(int)]
        extra = x.shape[1:]
        if n_pop > 1 and extra[:1] == (n_pop,):
            var_dims = (*dims, "population", *(f"{name}_dim{j}" for j in range(len(extra) - 1)))
        else:
            if n_pop == 1 and extra[:1] == (1,):
                x, extra = x[:, 0], extra[1:]
            var_dims = (*dims, *(f"{name}_dim{j}" for j in range(len(extra))))
        data[name] = (var_dims, x.reshape(*shape, *x.shape[1:]))
    coords = dict(grid.coords())
    if n_pop > 1:
        coords["population"] = np.arange(n_pop)
    ds = xr.Dataset(data, coords=coords, attrs=attrs)
    if "regime" in ds:
        ds["regime"].attrs["labels"] = ", ".join((*REGIME_NAMES, NO_REGIME))
    ds["status"].attrs["labels"] = ", ".join(STATUS_NAMES)
    return ds


def load_sweep(path):
    """The dataset of a finished sweep (`sweep(..., out=path)`), fully read into memory."""
    import xarray as xr

    with xr.open_dataset(path, engine="scipy") as ds:
        return ds.load()


def _write_dataset(ds, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        ds.to_netcdf(tmp, engine="scipy", format="NETCDF3_64BIT")
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ------------------------------------------------------------------------------------------------
# sweep


def sweep(params: Params, grid: Grid, model="meanfield", *, observables=None, out=None,
          chunk_size: int | None = None, points_per_device: int | None = None,
          memory_budget: float | None = None, devices=None, seed: int = 0,
          progress: bool = True, overwrite: bool = False, provenance: dict | None = None,
          **options):
    """Evaluate `model` at every point of `grid` (values set on top of `params`); an xarray Dataset.

    model: 'meanfield' (`MeanFieldModel`; options t1, transient, save_dt, rtol, atol, max_steps,
    model), 'network' (`NetworkModel`; options t1, n, dt, record_every, transient, smooth_time,
    dtype, scheme, sampler), one of those objects, or a function params -> {name: array} (vmapped;
    its outputs are the observables). observables: names from `OBSERVABLES` (default regime,
    r_mean, burst_period) or (name, function of `Trace`) pairs. out: netCDF path; finished chunks
    go to `<out>.parts/` as they finish and the call resumes from them (see the module docstring);
    overwrite=True discards a different earlier sweep there. points_per_device: the vmap width
    of one device (default, mean field: 512 on CPU, 8192 on accelerators; network: 8 / 256;
    capped by `memory_budget` bytes per device, default 1 GiB). chunk_size: points per saved
    chunk (default points_per_device x devices); a resumed sweep keeps both. devices: a count or
    list of local devices (default all). seed: for the network's Lorentzian sample with a random
    sampler (random grid designs take their own seed), recorded in the provenance. provenance:
    extra entries for the provenance record (e.g. the command line).

    The dataset has one dimension per axis of a product grid (else `point`), a `population`
    dimension for multi-population params, each observable, `status` ('ok' / 'diverged' /
    'max_steps') and provenance in `attrs` (versions, devices, params, model, grid, seed, time).
    """
    if not isinstance(params, Params):
        raise ParameterError("params", f"must be jaxmf.Params; got {type(params).__name__}")
    if not isinstance(grid, Grid):
        raise ParameterError("grid", "must be a jaxmf.Grid (Grid.product, points, random, "
                             f"latin_hypercube); got {type(grid).__name__}")
    if jnp.ndim(params.eta_bar) != 1:
        raise ParameterError("params", "give one parameter set (the grid varies it), not a batch")
    model = _make_model(model, options)
    table = _observable_table(model, observables)
    _validate_grid(params, grid)
    seed = _whole("seed", seed, minimum=0)
    devices = _local_devices(devices)
    aux = model.prepare(params, seed, grid)
    nproc, pid = jax.process_count(), jax.process_index()
    n_pop = params.n_populations

    description = {"format": FORMAT, "format_version": FORMAT_VERSION,
                   "model": model.describe(), "grid": grid.describe(),
                   "observables": [n for n, _, _ in table], "seed": seed,
                   "params": _params_dict(params)}
    fingerprint = _fingerprint(description)
    out = None if out is None else Path(out)
    parts = None if out is None else _parts_dir(out)

    if out is not None:
        # 0: no file yet, 1: this very sweep, complete, 2: something else (process 0 decides)
        found = 0 if not out.exists() else 1 if _stored_fingerprint(out) == fingerprint else 2
        found = _agree(nproc, found)
        if found == 1 and not overwrite:
            if progress and pid == 0:
                print(f"sweep: {out} is complete; loaded it", file=sys.stderr, flush=True)
            return load_sweep(out) if out.exists() else _missing(out)
        if found == 2 and not overwrite:
            raise ParameterError("out", f"{out} holds a different sweep (other parameters, grid, "
                                 "model or observables); choose another path or overwrite=True")

    backend = "cpu" if devices[0].platform == "cpu" else "other"
    if memory_budget is not None:
        memory_budget = _positive("memory_budget", memory_budget)
    by_memory = max(1, int((memory_budget or _DEFAULT_MEMORY_BUDGET)
                           // model.bytes_per_point(params)))
    if chunk_size is not None:
        chunk_size = _whole("chunk_size", chunk_size)
    if points_per_device is not None:
        points_per_device = _whole("points_per_device", points_per_device)
    if parts is not None:
        chunk_size, points_per_device = _open_parts(parts, fingerprint, chunk_size,
                                                    points_per_device, overwrite, pid)
    if points_per_device is None:
        points_per_device = min(_PER_DEVICE[model.kind][backend], by_memory,
                                chunk_size or grid.n_points)
    if chunk_size is None:
        chunk_size = points_per_device * len(devices)
    # Every process must cut the grid the same way.
    chunk_size, points_per_device = _agree(nproc, chunk_size), _agree(nproc, points_per_device)
    if parts is not None:
        _write_manifest(parts, fingerprint, description, chunk_size, points_per_device)

    chunks = grid.chunks(chunk_size)
    mine = [i for i in range(len(chunks)) if i % nproc == pid]
    fn, replicated, point_sharding = _chunk_runner(model, grid.specs, table, devices)
    base = jax.device_put(params, replicated)
    aux = jax.device_put(aux, replicated) if aux is not None else None
    dtype = params.eta_bar.dtype
    per_call = points_per_device * len(devices)

    def evaluate(x: np.ndarray) -> dict[str, np.ndarray]:
        # Each device always gets exactly `points_per_device` points, whatever the number of
        # devices: the same compiled per-device program, hence the same bits, sharded or not.
        n = x.shape[0]
        calls = -(-n // per_call)
        x = np.concatenate([x, np.repeat(x[-1:], calls * per_call - n, axis=0)])  # edge padding
        outs = [fn(base, aux, jax.device_put(jnp.asarray(x[k * per_call:(k + 1) * per_call],
                                                         dtype), point_sharding))
                for k in range(calls)]
        res = {k: np.concatenate([np.asarray(o[0][k]) for o in outs])[:n] for k in outs[0][0]}
        res["status"] = np.concatenate([np.asarray(o[1]) for o in outs])[:n]
        return res

    results: dict[int, dict[str, np.ndarray]] = {}
    todo = []
    for i in mine:
        stored = None if parts is None else _read_chunk(parts, i, chunks[i][1] - chunks[i][0])
        if stored is not None:
            results[i] = stored
        else:
            todo.append(i)
    total = sum(b - a for a, b in (chunks[i] for i in mine))
    done = total - sum(chunks[i][1] - chunks[i][0] for i in todo)
    label = "sweep" if nproc == 1 else f"sweep (process {pid}/{nproc})"
    # The bar counts this run's points (its ETA then holds after a resume).
    bar = Progress(label, total - done, enabled=progress, unit=" points")
    if done and progress:
        print(f"{label}: resuming, {done} of {total} points already in {parts}", file=sys.stderr,
              flush=True)
    started, computed = time.perf_counter(), 0
    try:
        for i in todo:
            a, b = chunks[i]
            res = evaluate(grid.values(a, b))
            if parts is not None:
                _write_chunk(parts, i, res)
            results[i] = res
            done += b - a
            computed += b - a
            rate = computed / (time.perf_counter() - started)
            bar.update(computed, f"{done}/{total} in all, {rate:.3g} points/s,")
    except KeyboardInterrupt:
        where = f"finished chunks are in {parts}; call again with the same arguments to " \
            "complete the rest" if parts is not None else "nothing was saved (no `out`)"
        bar.close(f"interrupted at {done} of {total} points; {where}")
        raise SweepInterrupted(f"sweep interrupted at {done} of {total} points; {where}",
                               done, total, parts) from None

    template = None
    if nproc > 1:
        shapes = jax.eval_shape(fn, base, aux, jax.ShapeDtypeStruct(
            (per_call, len(grid.names)), dtype, sharding=point_sharding))
        template = {**{k: (v.shape[1:], v.dtype) for k, v in shapes[0].items()},
                    "status": (shapes[1].shape[1:], shapes[1].dtype)}
    merged = _gather(results, chunks, mine, nproc, template)
    attrs = _attrs(description, fingerprint, chunk_size, points_per_device, len(chunks), devices,
                   nproc, dtype, provenance)
    ds = _to_dataset(grid, table, merged, n_pop, attrs)
    if out is not None:
        if pid == 0:
            _write_dataset(ds, out)
            if parts.exists():
                shutil.rmtree(parts, ignore_errors=True)
        if nproc > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices("jaxmf.sweep.written")
        if pid == 0:
            if progress:
                print(f"sweep: wrote {out}", file=sys.stderr, flush=True)
            return load_sweep(out)
    return ds


def _missing(out):
    raise FileNotFoundError(f"{out}: process 0 has it but this process cannot see it (no shared "
                            "file system); read it on process 0")


def _agree(nproc: int, value: int) -> int:
    """Process 0's value of a small integer, on every process."""
    if nproc == 1:
        return value
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.asarray(value, np.int32)))


def _stored_fingerprint(out: Path) -> str | None:
    try:
        return load_sweep(out).attrs.get("fingerprint")
    except Exception:  # noqa: BLE001 - unreadable: treat as a different sweep
        return None


def _params_dict(params: Params) -> dict:
    from .io import params_to_dict

    return params_to_dict(params)


def _open_parts(parts: Path, fingerprint, chunk_size, points_per_device, overwrite, pid):
    """(chunk_size, points_per_device) of an unfinished sweep in `parts`, or the given ones when
    there is none. A different sweep there is an error unless `overwrite`."""
    manifest = parts / "manifest.json"
    if not manifest.exists():
        return chunk_size, points_per_device
    try:
        old = json.loads(manifest.read_text())
    except (OSError, ValueError):
        old = {}
    if old.get("fingerprint") != fingerprint and not overwrite:
        raise ParameterError("out", f"{parts} holds chunks of a different, unfinished sweep "
                             "(other parameters, grid, model or observables); choose another "
                             "path or pass overwrite=True to discard them")
    if overwrite:
        if pid == 0:
            shutil.rmtree(parts, ignore_errors=True)
        return chunk_size, points_per_device
    stored = int(old["chunk_size"]), int(old["points_per_device"])
    for name, given, kept in (("chunk_size", chunk_size, stored[0]),
                              ("points_per_device", points_per_device, stored[1])):
        if given is not None and given != kept:
            raise ParameterError(name, f"the unfinished sweep in {parts} uses {name}={kept}; "
                                 "resume with that (or leave it out), or pass overwrite=True to "
                                 "start again")
    return stored


def _write_manifest(parts: Path, fingerprint, description, chunk_size,
                    points_per_device) -> None:
    manifest = parts / "manifest.json"
    try:
        if json.loads(manifest.read_text()).get("fingerprint") == fingerprint:
            return
    except (OSError, ValueError):
        pass
    text = json.dumps({"fingerprint": fingerprint, "chunk_size": chunk_size,
                       "points_per_device": points_per_device,
                       "description": json.loads(_json(description))}, indent=1) + "\n"
    _atomic(manifest, lambda f: f.write(text.encode()))


def _gather(results, chunks, mine, nproc, template) -> dict[str, np.ndarray]:
    """Every chunk's results in grid order, from all processes (`template`: name -> (shape per
    point, dtype), for processes that hold no chunk)."""
    if nproc == 1:
        order = [results[i] for i in range(len(chunks))]
        return {k: np.concatenate([r[k] for r in order]) for k in order[0]}
    from jax.experimental import multihost_utils

    counts = [sum(b - a for a, b in (chunks[i] for i in range(p, len(chunks), nproc)))
              for p in range(nproc)]
    width = max(counts)
    local = [results[i] for i in mine]
    padded = {}
    for k, (shape, dtype) in template.items():
        parts = [np.asarray(r[k], dtype) for r in local]
        pad = np.zeros((width - sum(p.shape[0] for p in parts), *shape), dtype)
        padded[k] = np.concatenate([*parts, pad])
    everything = multihost_utils.process_allgather(padded)  # (nproc, width, ...)
    n = chunks[-1][1]
    merged = {k: np.zeros((n, *shape), dtype) for k, (shape, dtype) in template.items()}
    for p in range(nproc):
        offset = 0
        for i in range(p, len(chunks), nproc):
            a, b = chunks[i]
            for k in merged:
                merged[k][a:b] = np.asarray(everything[k])[p, offset:offset + b - a]
            offset += b - a
    return merged


def _attrs(description, fingerprint, chunk_size, points_per_device, n_chunks, devices, nproc,
           dtype, extra) -> dict:
    from .io import provenance

    prov = provenance(sweep_devices=[f"{d.platform}:{d.id}" for d in devices],
                      processes=nproc, **(extra or {}))
    return {
        "title": "jaxmf parameter sweep",
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "fingerprint": fingerprint,
        "model": _json(description["model"]),
        "grid": _json(description["grid"]),
        "grid_design": description["grid"]["design"],
        "observables": _json(description["observables"]),
        "params": _json(description["params"]),
        "seed": description["seed"],
        "dtype": str(np.dtype(dtype)),
        "chunk_size": chunk_size,
        "points_per_device": points_per_device,
        "n_chunks": n_chunks,
        "provenance": _json(prov),
    }


def regime_map(params: Params, axes: Mapping[str, Any], *, t1: float = 2000.0,
               model="meanfield", observables=DEFAULT_OBSERVABLES, **kwargs):
    """Brute-force regime map: `sweep` over the product of `axes` (e.g. {"eta_bar": ...,
    "w_jump": ...}) with each point classified 'quiescent' / 'tonic' / 'bursting'.

    model: 'meanfield' (default) or 'network'; t1 and other keyword arguments go to `sweep`
    (out=, devices=, rtol=, n=, ...). Plot it with `jaxmf.plot.plot_regime_map(ds)`.
    """
    if not isinstance(axes, Mapping) or not axes:
        raise ParameterError("axes", "give a mapping of parameter name to grid values, e.g. "
                             "{'eta_bar': jnp.linspace(0, 0.3, 100)}")
    if "regime" not in observables:
        observables = ("regime", *observables)
    return sweep(params, Grid.product(**dict(axes)), model, observables=observables, t1=t1,
                 **kwargs)
