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

Numerical failure is per point: `status` holds the short labels of `jaxmf.RESULTS` ('ok',
'diverged': the state blew up or became non-finite, 'max_steps': the solver's step budget ran
out, 'solver_failed': a step failed); such points get NaN observables and regime 'none', and the
chunk carries on. Only a sweep where no point succeeded raises (`NumericalError`, unless
throw=False).

Each device always evaluates `points_per_device` points per call (the last call of a chunk is
padded), so a point's numbers do not depend on how many devices or processes share the work:
sharded, unsharded and multi-process sweeps give bit-identical datasets.

With `out`, every finished chunk is written at once (atomically) to `<out>.parts/`, and the whole
dataset to `<out>` (netCDF, via xarray) when the last chunk is done. Calling `sweep` again with the
same arguments skips the finished chunks, so an interrupted sweep (Ctrl-C, kill, a lost node)
loses at most the chunks in flight; calling it on a complete `out` just loads it. Whether a stored
chunk belongs to the same sweep is decided by a fingerprint of the parameters, grid, model
options, observable names and seed (a user function is known by its qualified name only). Each
chunk file carries that fingerprint, its place in the grid and a checksum of its arrays, with the
file's SHA-256 beside it (`chunk-000000.npz.sha256`), so a chunk is merged only when it is this
sweep's, whole and unaltered, with or without `manifest.json`; anything else is computed again
with a warning. Copying `<out>.parts/` folders between hosts is therefore safe.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import shutil
import sys
import time
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._files import (
    atomic_write,
    atomic_write_text,
    checksum,
    dumps,
    fingerprint,
    provenance,
    read_json,
    write_json,
)
from ._loop import Progress, check_memory, compiler_options, run_chunks
from ._results import RESULTS, Interrupted, NumericalError, from_codes, status_codes, status_names
from .analysis import REGIME_NAMES, TraceSummary, trace_summary
from .delay import init_delay_line, max_delay_steps, uses_dde
from .heterogeneity import Quantiles
from .inputs import input_bound
from .meanfield import MODELS, solve_meanfield
from .network import EulerReset, init, make_network, run, validate_run
from .params import (
    ParameterAddress,
    ParameterError,
    Params,
    check_positive,
    check_whole,
    params_to_dict,
    parse_parameter,
    set_parameters,
)

__all__ = [
    "Grid",
    "MeanFieldModel",
    "NetworkModel",
    "Trace",
    "OBSERVABLES",
    "SweepInterrupted",
    "sweep",
    "regime_map",
    "load_sweep",
    "STATUS_OK",
    "STATUS_DIVERGED",
    "STATUS_MAX_STEPS",
    "STATUS_NAMES",
]

# A point's status is a `jaxmf.RESULTS` item; these are its usual values and their labels in
# the dataset's `status` variable.
STATUS_OK, STATUS_DIVERGED = RESULTS.successful, RESULTS.diverged
STATUS_MAX_STEPS = RESULTS.max_steps_reached
STATUS_NAMES = ("ok", "diverged", "max_steps")
NO_REGIME = "none"  # the regime label of a point whose status is not 'ok'
DEFAULT_OBSERVABLES = ("regime", "r_mean", "burst_period")
FORMAT = "jaxmf.sweep"
FORMAT_VERSION = 2  # 2: chunk files carry their fingerprint and checksums, status_codes
# Points per device and chunk when nothing else decides. A vmapped mean-field solve keeps a few
# hundred lanes (thousands on accelerators) busy, each taking the next point as it finishes
# (meanfield._integrate_lanes), so a call wants many points per lane: each call ends with its
# lanes draining while its slowest points finish (a 10^4-point grid in one call instead of
# three: 1.04x). Networks and functions step in lockstep, where ~512 on CPU amortises the Python
# loop and bounds the waste of the slowest element (benchmarks/meanfield_throughput.py);
# accelerators want far wider batches.
_PER_DEVICE = {
    "meanfield": {"cpu": 16384, "other": 65536},
    "network": {"cpu": 8, "other": 256},
    "function": {"cpu": 512, "other": 8192},
}
_DEFAULT_MEMORY_BUDGET = 2**30  # bytes per device


class InputAddress(NamedTuple):
    """A grid name that sets an attribute of the model's input in time (`jaxmf.inputs`):
    'input.amplitude' or 'input_amplitude' (stored as the latter) sets `amplitude` of the
    `i_ext` of a `MeanFieldModel` or `NetworkModel`, for every population.

    Attributes
    ----------
    field : str
        'input.' and the input's attribute.
    index : None
        Always None: the value is set for every population.

    Examples
    --------
    >>> from jaxmf._sweep import InputAddress
    >>> a = InputAddress("input.amplitude")
    >>> a.attribute, a.key, a.name
    ('amplitude', 'input_amplitude', 'input.amplitude')
    """

    field: str
    index: None = None  # type: ignore[assignment]

    @property
    def attribute(self) -> str:
        """The input's attribute that the grid sets."""
        return self.field[len(_INPUT_PREFIX) :]

    @property
    def key(self) -> str:
        """Identifier form, as a keyword of `Grid.product`: 'input_amplitude'."""
        return "input_" + self.attribute

    @property
    def name(self) -> str:
        """Canonical form: 'input.amplitude'."""
        return self.field


_INPUT_PREFIX = "input."


def _address(name) -> ParameterAddress | InputAddress:
    name = str(name)
    for prefix in (_INPUT_PREFIX, "input_"):
        if name.startswith(prefix) and name[len(prefix) :].isidentifier():
            return InputAddress(_INPUT_PREFIX + name[len(prefix) :])
    return parse_parameter(name)


def _input_attributes(addresses) -> tuple[tuple[int, str], ...]:
    """(column, attribute) of the grid names that set the input's attributes."""
    return tuple((j, a.attribute) for j, a in enumerate(addresses) if isinstance(a, InputAddress))


def _set_input(i_ext, attributes, values):
    """`i_ext` with each named attribute set to its value (broadcast to the attribute's shape)."""
    if not attributes:
        return i_ext
    names = [name for _, name in attributes]
    new = [
        jnp.full(jnp.shape(getattr(i_ext, name)), value, jnp.result_type(getattr(i_ext, name)))
        for name, value in zip(names, values)
    ]
    return eqx.tree_at(lambda inp: [getattr(inp, name) for name in names], i_ext, new)


def _describe_input(i_ext):
    """A JSON-ready description of an input in time (for fingerprints and provenance): an
    `equinox.Module`'s class and field values, else a function's qualified name."""
    if i_ext is None:
        return None
    cls = type(i_ext)
    if isinstance(i_ext, eqx.Module):
        fields = {}
        for f in dataclasses.fields(i_ext):
            x = getattr(i_ext, f.name)
            fields[f.name] = (
                np.asarray(x).tolist() if eqx.is_array(x) or np.isscalar(x) else repr(x)
            )
        return {"type": f"{cls.__module__}.{cls.__qualname__}", **fields}
    qualname = getattr(i_ext, "__qualname__", repr(i_ext))
    return {"function": f"{getattr(i_ext, '__module__', '?')}.{qualname}"}


def _check_input(model, grid: Grid) -> None:
    """Grid names 'input.X' need a model with an `i_ext` input that has an array attribute X."""
    for name, addr in zip(grid.names, grid.addresses):
        if not isinstance(addr, InputAddress):
            continue
        i_ext = getattr(model, "i_ext", None)
        if i_ext is None:
            raise ParameterError(
                name,
                "sets an attribute of the input in time: give the model one "
                "(i_ext=jaxmf.inputs.Sinusoid(...))",
            )
        if not isinstance(i_ext, eqx.Module) or not eqx.is_array(
            getattr(i_ext, addr.attribute, None)
        ):
            raise ParameterError(
                name,
                f"{type(i_ext).__name__} has no array attribute {addr.attribute!r} to sweep",
            )


def _column(name: str, values) -> np.ndarray:
    x = np.asarray(values, dtype=float).reshape(-1) if np.ndim(values) <= 1 else None
    if x is None:
        raise ParameterError(
            name, f"grid values must be a 1-D list of numbers; got shape {np.shape(values)}"
        )
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

    Build one with `Grid.product` (a full factorial: the dataset has one dimension per name),
    `Grid.points` (an explicit list), `Grid.random` or `Grid.latin_hypercube` (designs of n
    points in given ranges; the dataset has one dimension `point`).

    Attributes
    ----------
    names : tuple of str
        Parameter addresses (`jaxmf.params.parse_parameter`), stored in their key form:
        `eta_bar` sets every population, `eta_bar[1]` (stored as `eta_bar_1`) population 1
        only, `g[0,1]` (`g_0_1`) one conductance, `kappa` the fractions [kappa, 1 - kappa] of
        two populations, `input.amplitude` (`input_amplitude`) an attribute of the model's
        input in time (`MeanFieldModel.i_ext`, `NetworkModel.i_ext`). Two names that set the
        same entry ('eta_bar' and 'eta_bar_0') are refused.
    design : str
        'product', 'points', 'random' or 'latin_hypercube'.
    columns : tuple of numpy.ndarray
        The axes of a product, else one value per point for each name.
    seed : int or None
        The seed of a random design.

    Examples
    --------
    >>> import jaxmf
    >>> grid = jaxmf.Grid.product(eta_bar=[0.1, 0.12, 0.25], w_jump=[0.01, 0.02])
    >>> grid.names, grid.design
    (('eta_bar', 'w_jump'), 'product')
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
        _check_overlap(self.names)
        if self.design != "product" and len({c.size for c in self.columns}) != 1:
            sizes = {n: c.size for n, c in zip(self.names, self.columns)}
            raise ParameterError("grid", f"every parameter needs one value per point; got {sizes}")

    @classmethod
    def _make(cls, design, columns: Mapping[str, Any], seed=None) -> Grid:
        names, cols = [], []
        for raw, values in columns.items():
            name = _address(raw).key
            names.append(name)
            cols.append(_column(name, values))
        return cls(names=tuple(names), design=design, columns=tuple(cols), seed=seed)

    @classmethod
    def product(cls, **axes) -> Grid:
        """Every combination of the given axes (a full factorial design).

        Parameters
        ----------
        **axes : array_like
            Parameter address -> 1-D values, e.g. ``eta_bar=[...], w_jump=[...]``.

        Returns
        -------
        Grid
            A 'product' grid whose dataset has one dimension per name.

        Raises
        ------
        ParameterError
            No axis, a name given twice or overlapping another, or values that are not finite.

        Examples
        --------
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmf import Grid
        >>> grid = Grid.product(eta_bar=[0.1, 0.12, 0.25], w_jump=[0.01, 0.02])
        >>> grid.shape, grid.n_points
        ((3, 2), 6)
        """
        return cls._make("product", axes)

    @classmethod
    def points(cls, **columns) -> Grid:
        """An explicit list of points: one equally long list of values per parameter.

        Parameters
        ----------
        **columns : array_like
            Parameter address -> one value per point (all of the same length).

        Returns
        -------
        Grid
            A 'points' grid; its dataset has the one dimension `point`.

        Raises
        ------
        ParameterError
            Columns of different lengths, or an invalid or overlapping name.

        Examples
        --------
        >>> from jaxmf import Grid
        >>> Grid.points(eta_bar=[0.1, 0.2], w_jump=[0.01, 0.02]).values().tolist()
        [[0.1, 0.01], [0.2, 0.02]]
        """
        return cls._make("points", columns)

    @classmethod
    def random(cls, n: int, *, seed: int = 0, **ranges) -> Grid:
        """n points drawn uniformly in the given (low, high) ranges (numpy PCG64 from `seed`).

        Parameters
        ----------
        n : int
            Number of points.
        seed : int
            Seed of the generator; the same seed gives the same points.
        **ranges : tuple of float
            Parameter address -> (low, high).

        Returns
        -------
        Grid
            A 'random' grid with one dimension `point`.

        Raises
        ------
        ParameterError
            n not a whole number >= 1, or a range that is not (low, high) with low < high.

        Examples
        --------
        >>> from jaxmf import Grid
        >>> grid = Grid.random(4, eta_bar=(0.0, 0.3))
        >>> grid.shape, grid.dims
        ((4,), ('point',))
        >>> bool(((grid.columns[0] >= 0.0) & (grid.columns[0] < 0.3)).all())
        True
        """
        n = _count(n)
        rng = np.random.Generator(np.random.PCG64(seed))
        cols = {}
        for name, bounds in ranges.items():
            lo, hi = _range(name, bounds)
            cols[name] = lo + (hi - lo) * rng.random(n)
        return cls._make("random", cols, seed=seed)

    @classmethod
    def latin_hypercube(cls, n: int, *, seed: int = 0, **ranges) -> Grid:
        """n points in the given (low, high) ranges such that each parameter has exactly one
        point in each of n equal strata (Latin hypercube; jittered within strata).

        Parameters
        ----------
        n : int
            Number of points (and of strata per parameter).
        seed : int
            Seed of the numpy PCG64 generator.
        **ranges : tuple of float
            Parameter address -> (low, high).

        Returns
        -------
        Grid
            A 'latin_hypercube' grid with one dimension `point`.

        Raises
        ------
        ParameterError
            n not a whole number >= 1, or an invalid range.

        Examples
        --------
        >>> import numpy as np
        >>> from jaxmf import Grid
        >>> grid = Grid.latin_hypercube(4, eta_bar=(0.0, 1.0))
        >>> sorted(np.floor(grid.columns[0] * 4).astype(int).tolist())
        [0, 1, 2, 3]
        """
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
    def addresses(self) -> tuple[ParameterAddress | InputAddress, ...]:
        """Where each grid parameter lives in `Params` (`jaxmf.params.parse_parameter`)."""
        return tuple(_address(n) for n in self.names)

    def values(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(points, names) values of points start..stop in C order (the last axis fastest).

        Parameters
        ----------
        start : int
            First point (flat index).
        stop : int or None
            One past the last point (default: all points).

        Returns
        -------
        numpy.ndarray
            Shape (stop - start, len(names)).

        Examples
        --------
        >>> from jaxmf import Grid
        >>> grid = Grid.product(eta_bar=[0.1, 0.12, 0.25], w_jump=[0.01, 0.02])
        >>> grid.values(0, 3).tolist()
        [[0.1, 0.01], [0.1, 0.02], [0.12, 0.01]]
        """
        stop = self.n_points if stop is None else stop
        flat = np.arange(start, stop)
        if self.design != "product":
            return np.stack([c[flat] for c in self.columns], axis=1)
        idx = np.unravel_index(flat, self.shape)
        return np.stack([c[i] for c, i in zip(self.columns, idx)], axis=1)

    def chunks(
        self,
        size: int | None = None,
        *,
        memory_budget: float | None = None,
        bytes_per_point: float | None = None,
    ) -> list[tuple[int, int]]:
        """(start, stop) of consecutive chunks of at most `size` points, or of as many points as
        fit in `memory_budget` bytes at `bytes_per_point` each.

        Parameters
        ----------
        size : int or None
            Points per chunk.
        memory_budget : float or None
            Bytes one chunk may take (used when `size` is None).
        bytes_per_point : float or None
            Bytes one point takes (used with `memory_budget`).

        Returns
        -------
        list of tuple of int
            (start, stop) flat indices covering every point once, in order.

        Raises
        ------
        ParameterError
            Neither a size nor a budget with bytes per point, or a size that is not a whole
            number >= 1.

        Examples
        --------
        >>> from jaxmf import Grid
        >>> grid = Grid.product(eta_bar=[0.1, 0.12, 0.25], w_jump=[0.01, 0.02])
        >>> grid.chunks(4)
        [(0, 4), (4, 6)]
        >>> grid.chunks(memory_budget=300.0, bytes_per_point=100.0)
        [(0, 3), (3, 6)]
        """
        if size is None:
            if memory_budget is None or bytes_per_point is None:
                raise ParameterError(
                    "chunk_size", "give a size or a memory_budget and bytes_per_point"
                )
            size = max(1, int(memory_budget // max(bytes_per_point, 1)))
        if isinstance(size, bool) or not float(size).is_integer() or size < 1:
            raise ParameterError("chunk_size", f"must be a whole number >= 1; got {size!r}")
        size = int(size)
        return [(a, min(a + size, self.n_points)) for a in range(0, self.n_points, size)]

    def coords(self) -> dict[str, Any]:
        """The dataset's coordinates: name -> axis (product), else name -> ('point', values).

        Returns
        -------
        dict
            Coordinates in the form `xarray.Dataset` takes.

        Examples
        --------
        >>> from jaxmf import Grid
        >>> Grid.product(eta_bar=[0.1, 0.2]).coords()["eta_bar"].tolist()
        [0.1, 0.2]
        >>> Grid.points(eta_bar=[0.1, 0.2]).coords()["eta_bar"][0]
        'point'
        """
        if self.design == "product":
            return {n: c for n, c in zip(self.names, self.columns)}
        return {n: ("point", c) for n, c in zip(self.names, self.columns)}

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description: design, names, shape, seed and a SHA-256 of the values
        (part of a sweep's fingerprint and provenance).

        Returns
        -------
        dict
            Keys 'design', 'names', 'shape', 'seed', 'values_sha256'.

        Examples
        --------
        >>> from jaxmf import Grid
        >>> d = Grid.product(eta_bar=[0.1, 0.2], w_jump=[0.01]).describe()
        >>> d["design"], d["shape"], len(d["values_sha256"])
        ('product', [2, 1], 64)
        """
        columns = [np.ascontiguousarray(c, dtype="<f8") for c in self.columns]
        return {
            "design": self.design,
            "names": list(self.names),
            "shape": list(self.shape),
            "seed": self.seed,
            "values_sha256": fingerprint(columns),
        }


def _check_overlap(names) -> None:
    """Refuse a grid where two names set the same entry (e.g. 'eta_bar' and 'eta_bar_0', 'g' and
    'g_0_1', 'kappa' and 'fractions'): which value wins would depend on their order."""
    addresses = [_address(n) for n in names]
    for i, a in enumerate(addresses):
        for b in addresses[i + 1 :]:
            fields = {a.field, b.field}
            same = a.field == b.field and (a.index is None or b.index is None)
            if same or fields == {"kappa", "fractions"}:
                target = b.field if same else "fractions"
                raise ParameterError(
                    "grid",
                    f"{a.key} and {b.key} both set {target}; give one "
                    "of them (an unindexed name sets every population)",
                )


def _validate_grid(params: Params, grid: Grid) -> None:
    """Each grid value must give valid Params (checked at each parameter's min and max)."""
    n_pop = params.n_populations
    for name, addr, col in zip(grid.names, grid.addresses, grid.columns):
        if isinstance(addr, InputAddress):  # checked against the model's input (_check_input)
            continue
        if addr.field == "kappa" and n_pop != 2:
            raise ParameterError(name, f"kappa needs two populations; these params have {n_pop}")
        if addr.index is not None and any(i >= n_pop for i in addr.index):
            raise ParameterError(
                name,
                f"population index out of range: these params have "
                f"{n_pop} population(s), indices 0..{n_pop - 1}",
            )
        field = "fractions" if addr.field == "kappa" else addr.field
        for v in (float(col.min()), float(col.max())):
            changed = set_parameters(params, [addr], [v])
            try:
                params.replace(**{field: np.asarray(getattr(changed, field))})
            except ParameterError as e:
                if addr.field == "kappa":
                    raise ParameterError(
                        name, f"grid value {v:g} is outside the allowed range (0, 1)"
                    ) from None
                raise ParameterError(name, f"grid value {v:g} is not allowed: {e}") from None


class Trace(NamedTuple):
    """Population traces after the transient: what an observable function sees.

    Attributes
    ----------
    t : jax.Array
        Times, shape (T,).
    r, v, w, s : jax.Array
        Rate, mean membrane potential, mean adaptation and synaptic gating, shape (T, P).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf._sweep import Trace
    >>> tr = Trace(t=jnp.arange(3.0), r=jnp.ones((3, 1)), v=jnp.zeros((3, 1)),
    ...            w=jnp.zeros((3, 1)), s=jnp.zeros((3, 1)))
    >>> float(tr.r.mean())
    1.0
    """

    t: jax.Array
    r: jax.Array
    v: jax.Array
    w: jax.Array
    s: jax.Array


def _summaries(tr: Trace, window: int) -> TraceSummary:
    """`analysis.trace_summary` of each population's rate, (P,) per field: the one definition of
    regime, bursts and period used everywhere in jaxmf."""
    return jax.vmap(lambda x: trace_summary(tr.t, x, smooth_window=window), in_axes=1)(tr.r)


# Observables read from the population summaries; a point computes them once for all of these.
_FROM_SUMMARY = {
    "regime": "regime",
    "burst_period": "period",
    "burst_peak": "peak",
    "duty_cycle": "duty_cycle",
    "n_bursts": "n_bursts",
}
_CASTS = {"regime": jnp.int8, "n_bursts": jnp.int32}


def _summary_observable(name):
    field, cast = _FROM_SUMMARY[name], _CASTS.get(name)

    def observable(tr, window, summary=None):
        summary = _summaries(tr, window) if summary is None else summary
        value = getattr(summary, field)
        return value if cast is None else value.astype(cast)

    return observable


# name -> (function of (Trace, smooth_window) giving one value per population, kind)
OBSERVABLES: dict[str, tuple[Callable, str]] = {
    "regime": (_summary_observable("regime"), "regime"),
    "r_mean": (lambda tr, k: jnp.mean(tr.r, axis=0), "float"),
    "r_max": (lambda tr, k: jnp.max(tr.r, axis=0), "float"),
    "r_min": (lambda tr, k: jnp.min(tr.r, axis=0), "float"),
    "v_mean": (lambda tr, k: jnp.mean(tr.v, axis=0), "float"),
    "w_mean": (lambda tr, k: jnp.mean(tr.w, axis=0), "float"),
    "s_mean": (lambda tr, k: jnp.mean(tr.s, axis=0), "float"),
    "burst_period": (_summary_observable("burst_period"), "float"),
    "burst_peak": (_summary_observable("burst_peak"), "float"),
    "duty_cycle": (_summary_observable("duty_cycle"), "float"),
    "n_bursts": (_summary_observable("n_bursts"), "int"),
}
_OBSERVABLE_DOCS = {
    "regime": "'quiescent' / 'tonic' / 'bursting' (analysis.classify_regime)",
    "burst_period": "mean onset-to-onset interval (NaN without two bursts)",
}


class MeanFieldModel(eqx.Module):
    """The mean field at each point: `solve_meanfield` from the all-zero state to t1, saving every
    `save_dt` over (transient, t1] (default transient t1/2), which the observables see.

    rtol/atol: step-size control (1e-6/1e-9 keep regimes and rates right to ~1e-5 at a fraction
    of the cost of the library's 1e-8 default). max_steps: step budget per point, rejected steps
    included. model: 'chen_campbell' (exact), 'nicola_campbell' or 'mpr'. blowup: a point
    whose |r|, |v|, |w| or |s| exceeds this is stopped and flagged 'diverged'.

    Attributes
    ----------
    t1 : float
        Simulated time per point.
    transient : float or None
        Time discarded before the observables (default t1 / 2).
    save_dt : float
        Sampling interval of the trace; at least 3 samples must remain after the transient.
    rtol, atol : float
        Step-size control of the solver.
    max_steps : int
        Step budget per point.
    model : str
        'chen_campbell', 'nicola_campbell' or 'mpr'.
    blowup : float
        Bound beyond which a point is stopped and flagged 'diverged'.
    i_ext : jaxmf.inputs.Input, callable or None
        An input in time common to every point (``t -> scalar or (P,)``, added to
        ``params.i_ext``; `solve_meanfield`'s `i_ext`). The grid may set its array attributes
        ('input.amplitude').

    Raises
    ------
    ParameterError
        A non-positive time or tolerance, transient >= t1, fewer than 3 samples, or an
        unknown model.

    Examples
    --------
    >>> from jaxmf import MeanFieldModel
    >>> m = MeanFieldModel(t1=200.0)
    >>> m.start, m.n_save, m.describe()["kind"]
    (100.0, 201, 'meanfield')
    """

    t1: float = eqx.field(static=True, default=2000.0)
    transient: float | None = eqx.field(static=True, default=None)
    save_dt: float = eqx.field(static=True, default=0.5)
    rtol: float = eqx.field(static=True, default=1e-6)
    atol: float = eqx.field(static=True, default=1e-9)
    max_steps: int = eqx.field(static=True, default=20_000)
    model: str = eqx.field(static=True, default="chen_campbell")
    blowup: float = eqx.field(static=True, default=1e8)
    i_ext: Any = None  # a pytree of arrays (unhashable): not a static field

    kind = "meanfield"

    def __check_init__(self):
        t1 = check_positive("t1", self.t1)
        if self.transient is not None:
            tr = check_positive("transient", self.transient, allow_zero=True)
            if tr >= t1:
                raise ParameterError("transient", f"must be < t1={t1:g}; got {tr:g}")
        check_positive("save_dt", self.save_dt)
        if self.n_save < 3:
            raise ParameterError(
                "save_dt",
                f"must leave >= 3 samples in (transient, t1] = "
                f"({self.start:g}, {t1:g}]; got save_dt={self.save_dt:g}",
            )
        check_positive("rtol", self.rtol)
        check_positive("atol", self.atol)
        check_whole("max_steps", self.max_steps)
        if self.model not in MODELS:
            raise ParameterError("model", f"must be one of {', '.join(MODELS)}; got {self.model!r}")
        check_positive("blowup", self.blowup)

    @property
    def start(self) -> float:
        """Time of the first saved sample (the end of the transient)."""
        return float(self.t1) / 2 if self.transient is None else float(self.transient)

    @property
    def n_save(self) -> int:
        """Number of saved samples in [start, t1]."""
        return int(round((float(self.t1) - self.start) / float(self.save_dt))) + 1

    smooth_window = 1

    def prepare(self, params: Params, seed: int, grid: Grid):
        """What `trace` needs besides the point's params: nothing for the mean field.

        Parameters
        ----------
        params : Params
            The base parameters.
        seed : int
            Unused.
        grid : Grid
            The sweep's grid.

        Returns
        -------
        None

        Examples
        --------
        >>> import jaxmf
        >>> grid = jaxmf.Grid.points(eta_bar=[0.1])
        >>> print(jaxmf.MeanFieldModel(t1=200.0).prepare(jaxmf.Params(), 0, grid))
        None
        """
        return None

    def trace(self, params: Params, aux, i_ext=None) -> tuple[Trace, Any]:
        """The mean field of one point, sampled after the transient.

        Parameters
        ----------
        params : Params
            One point's parameters.
        aux
            What `prepare` returned (None).
        i_ext : jaxmf.inputs.Input or callable, optional
            The point's input in time (default: the model's `i_ext`).

        Returns
        -------
        tuple
            The `Trace` and the solver's `RESULTS` status.

        Examples
        --------
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> import jaxmf
        >>> tr, status = jaxmf.MeanFieldModel(t1=200.0).trace(jaxmf.Params(), None)
        >>> tr.r.shape, float(tr.t[0]), bool(status == jaxmf.RESULTS.successful)
        ((201, 1), 100.0, True)
        """
        # `blowup` stops a diverging point: without it, it would spend its whole step budget on
        # rejected steps and be indistinguishable from one that ran out of steps.
        ts = jnp.linspace(self.start, float(self.t1), self.n_save, dtype=params.eta_bar.dtype)
        res = solve_meanfield(
            params,
            float(self.t1),
            ts=ts,
            model=self.model,
            rtol=self.rtol,
            atol=self.atol,
            max_steps=int(self.max_steps),
            blowup=float(self.blowup),
            i_ext=self.i_ext if i_ext is None else i_ext,
            throw=False,
        )
        return Trace(t=ts, r=res.r, v=res.v, w=res.w, s=res.s), res.status

    def bytes_per_point(self, params: Params) -> float:
        """Estimated bytes one point takes while a chunk is evaluated (sizes the chunks).

        Parameters
        ----------
        params : Params
            The base parameters (their dtype and number of populations).

        Returns
        -------
        float

        Examples
        --------
        >>> import jaxmf
        >>> jaxmf.MeanFieldModel(t1=200.0).bytes_per_point(jaxmf.Params()) > 0
        True
        """
        p = params.n_populations
        itemsize = np.dtype(params.eta_bar.dtype).itemsize
        # saved states, their copies in observables (sorts for percentiles), solver stages
        return itemsize * (6 * self.n_save * (4 * p + 1) + 64 * 4 * p) + 4096

    def describe(self) -> dict[str, Any]:
        """The model's kind and fields, for the sweep's fingerprint and provenance.

        Returns
        -------
        dict

        Examples
        --------
        >>> import jaxmf
        >>> d = jaxmf.MeanFieldModel(t1=200.0).describe()
        >>> d["kind"], d["t1"], d["model"]
        ('meanfield', 200.0, 'chen_campbell')
        """
        d = {"kind": self.kind}
        for f in dataclasses.fields(self):
            x = getattr(self, f.name)
            d[f.name] = _describe_input(x) if f.name == "i_ext" else x
        return d


class NetworkModel(eqx.Module):
    """A network of n neurons per point (the same Lorentzian sample for every point), simulated
    with `jaxmf.network.run` from the all-zero state to t1; observables see the recorded
    population rate (one bin per `record_every` steps) after `transient` (default t1/4).

    Regime and bursts use the rate smoothed over `smooth_time` time units, so finite-size
    fluctuations are not taken for bursts. dtype: 'float32' (default, as `simulate_network`) or
    'float64'. scheme/sampler as in `simulate_network`; the sampler's key comes from the seed.

    Attributes
    ----------
    t1 : float
        Simulated time per point; a whole number of recording bins (dt * record_every).
    n : int
        Neurons per point.
    dt : float
        Time step.
    record_every : int
        Steps per recording bin.
    transient : float or None
        Time discarded before the observables (default t1 / 4).
    smooth_time : float
        Smoothing window of the rate for regime and bursts.
    dtype : str
        'float32' or 'float64'.
    scheme, sampler
        As in `jaxmf.simulate_network`.
    i_ext : jaxmf.inputs.Input, callable or None
        An input in time common to every point and neuron (`jaxmf.network.run`'s `i_ext`).
        The grid may set its array attributes ('input.amplitude').

    Raises
    ------
    ParameterError
        Invalid values, t1 not a whole number of bins, or fewer than 3 bins after the
        transient.

    Examples
    --------
    >>> from jaxmf import NetworkModel
    >>> m = NetworkModel(t1=20.0, n=100)
    >>> round(m.bin_time, 6), m.n_records, m.first_record, m.smooth_window
    (0.1, 200, 50, 100)
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
    i_ext: Any = None  # a pytree of arrays (unhashable): not a static field

    kind = "network"

    def __check_init__(self):
        t1 = check_positive("t1", self.t1)
        check_whole("n", self.n)
        check_positive("dt", self.dt)
        check_whole("record_every", self.record_every)
        if self.transient is not None:
            tr = check_positive("transient", self.transient, allow_zero=True)
            if tr >= t1:
                raise ParameterError("transient", f"must be < t1={t1:g}; got {tr:g}")
        check_positive("smooth_time", self.smooth_time, allow_zero=True)
        if self.dtype not in ("float32", "float64"):
            raise ParameterError("dtype", f"must be 'float32' or 'float64'; got {self.dtype!r}")
        bins = t1 / (self.dt * self.record_every)
        if abs(bins - round(bins)) > 1e-6 * max(1.0, bins):
            raise ParameterError(
                "t1",
                f"t1={t1:g} is not a whole number of recording bins of "
                f"dt * record_every = {self.dt * self.record_every:g}",
            )
        if self.n_records - self.first_record < 3:
            raise ParameterError("transient", "leaves fewer than 3 recording bins to analyse")

    @property
    def bin_time(self) -> float:
        """Duration of one recording bin, dt * record_every."""
        return float(self.dt) * int(self.record_every)

    @property
    def n_records(self) -> int:
        """Number of recording bins in t1."""
        return int(round(float(self.t1) / self.bin_time))

    @property
    def first_record(self) -> int:
        """Index of the first bin after the transient."""
        start = float(self.t1) / 4 if self.transient is None else float(self.transient)
        return int(math.floor(start / self.bin_time + 1e-9))

    @property
    def smooth_window(self) -> int:
        """Bins in `smooth_time` (at least 1)."""
        return max(1, int(round(float(self.smooth_time) / self.bin_time)))

    def prepare(self, params: Params, seed: int, grid: Grid):
        """The network shared by every point (`jaxmf.make_network` with the key from `seed`),
        after checking that the step suits the most excitable point of the grid.

        Parameters
        ----------
        params : Params
            The base parameters.
        seed : int
            Seed of the sampler's key.
        grid : Grid
            The sweep's grid.

        Returns
        -------
        Network or tuple
            The network `trace` simulates; with a delay (in the parameters or the grid),
            (network, DelayLine) whose length sizes the spike buffer for the longest delay.

        Raises
        ------
        ParameterError
            The grid varies fractions or kappa (a network's population sizes are fixed), the
            step is unsuitable, or a delay is not a multiple of dt.

        Examples
        --------
        >>> import jaxmf
        >>> m = jaxmf.NetworkModel(t1=20.0, n=100)
        >>> net = m.prepare(jaxmf.Params(), 0, jaxmf.Grid.points(eta_bar=[0.1, 0.2]))
        >>> net.n
        100
        """
        for addr, name in zip(grid.addresses, grid.names):
            if isinstance(addr, InputAddress):
                continue
            if addr.field in ("fractions", "kappa"):
                raise ParameterError(
                    name,
                    "a network's population sizes are fixed: sweep "
                    "fractions/kappa with the mean field, or run one sweep per "
                    "network",
                )
        dtype = jnp.dtype(self.dtype)
        network = make_network(
            params, int(self.n), sampler=self.sampler, key=jax.random.key(seed), dtype=dtype
        )
        # The step must suit the most excitable point of the grid.
        worst = params
        for addr, col in zip(grid.addresses, grid.columns):
            if isinstance(addr, InputAddress):
                continue
            if addr.field in ("eta_bar", "delta_eta", "i_ext"):
                worst = set_parameters(worst, [addr], [float(col.max())])
        if self.i_ext is not None:
            worst = eqx.tree_at(
                lambda q: q.i_ext, worst, jnp.abs(worst.i_ext) + self._input_bound(grid)
            )
        validate_run(
            jax.tree.map(np.asarray, worst),
            network,
            float(self.dt),
            float(self.t1),
            0.0,
            int(self.record_every),
            self.scheme,
            dtype,
        )
        if not (uses_dde(params) or any(a.field == "delay" for a in grid.addresses)):
            return network
        # The delays size the spike buffer: the longest over the grid, each checked to be a
        # multiple of dt; the buffer's length rides along as the shape of a delay line.
        base = params if params.delay is not None else params.replace(delay=0.0)
        steps = max_delay_steps(base, float(self.dt))
        for addr, col in zip(grid.addresses, grid.columns):
            if isinstance(addr, ParameterAddress) and addr.field == "delay":
                for value in np.unique(np.asarray(col, float)):
                    at = set_parameters(base, [addr], [float(value)])
                    steps = max(steps, max_delay_steps(at, float(self.dt)))
        return network, init_delay_line(jnp.zeros(params.n_populations, dtype), steps)

    def _input_bound(self, grid: Grid) -> float:
        """The largest |input| over the run at any grid point: every combination of the swept
        attributes' extreme values (the bounds of the inputs are monotone in each)."""
        attributes = _input_attributes(grid.addresses)
        extremes = [
            (float(grid.columns[j].min()), float(grid.columns[j].max())) for j, _ in attributes
        ]
        bound = 0.0
        for values in itertools.product(*extremes):
            i_ext = _set_input(self.i_ext, attributes, values)
            bound = max(bound, input_bound(i_ext, 0.0, float(self.t1)))
        return bound

    def trace(self, params: Params, network, i_ext=None) -> tuple[Trace, jax.Array]:
        """Simulate one point from the all-zero state and keep the bins after the transient.

        Parameters
        ----------
        params : Params
            One point's parameters.
        network : Network
            What `prepare` returned.
        i_ext : jaxmf.inputs.Input or callable, optional
            The point's input in time (default: the model's `i_ext`).

        Returns
        -------
        tuple
            The `Trace` (population means) and `RESULTS.diverged` where a value is not finite,
            else `RESULTS.successful`.

        Examples
        --------
        >>> import jaxmf
        >>> m = jaxmf.NetworkModel(t1=2.0, n=100, transient=1.0)
        >>> p = jaxmf.Params()
        >>> tr, status = m.trace(p, m.prepare(p, 0, jaxmf.Grid.points(eta_bar=[0.1])))
        >>> tr.r.shape
        (10, 1)
        """
        dtype = jnp.dtype(self.dtype)
        steps = None
        if isinstance(network, tuple):  # with a delay: (network, a delay line of its length)
            network, line = network
            steps = line.length - 1
        state = init(network, dtype=dtype, delay_steps=steps)
        _, rec = run(
            params,
            network,
            state,
            dt=float(self.dt),
            n_records=self.n_records,
            record_every=int(self.record_every),
            scheme=self.scheme,
            i_ext=self.i_ext if i_ext is None else i_ext,
        )
        k0 = self.first_record
        t = self.bin_time * jnp.arange(k0 + 1, self.n_records + 1, dtype=dtype)
        tr = Trace(t=t, r=rec.r[k0:], v=rec.v_mean[k0:], w=rec.w_mean[k0:], s=rec.s[k0:])
        bad = jnp.any(rec.n_nonfinite > 0) | ~jnp.all(jnp.isfinite(rec.s))
        return tr, RESULTS.where(bad, RESULTS.diverged, RESULTS.successful)

    def bytes_per_point(self, params: Params) -> float:
        """Estimated bytes one point takes while a chunk is evaluated (sizes the chunks).

        Parameters
        ----------
        params : Params
            The base parameters (their number of populations).

        Returns
        -------
        float

        Examples
        --------
        >>> import jaxmf
        >>> jaxmf.NetworkModel(t1=20.0, n=100).bytes_per_point(jaxmf.Params()) > 12 * 4 * 100
        True
        """
        itemsize = np.dtype(self.dtype).itemsize
        return itemsize * (12 * int(self.n) + 8 * self.n_records * params.n_populations) + 4096

    def describe(self) -> dict[str, Any]:
        """The model's kind and fields (modules as their repr), for the fingerprint.

        Returns
        -------
        dict

        Examples
        --------
        >>> import jaxmf
        >>> d = jaxmf.NetworkModel(t1=20.0, n=100).describe()
        >>> d["kind"], d["n"], d["dtype"]
        ('network', 100, 'float32')
        """
        d = {"kind": self.kind}
        for f in dataclasses.fields(self):
            x = getattr(self, f.name)
            if f.name == "i_ext":
                d[f.name] = _describe_input(x)
            else:
                d[f.name] = repr(x) if isinstance(x, eqx.Module) else x
        return d


class _FunctionModel(eqx.Module):
    """A user function params -> {name: array}; a 'status' entry (a `RESULTS` item, or its integer
    code: 0 ok, 1 diverged, 2 max steps) is used if present, else a point is 'diverged' when any
    output is not finite."""

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
            raise ParameterError(
                "model",
                f"must be 'meanfield', 'network', a MeanFieldModel / "
                f"NetworkModel, or a function of Params; got {model!r}",
            )
        cls: Any = _MODEL_CLASSES[model]
        allowed = [f.name for f in dataclasses.fields(cls)]
        for name in options:
            if name not in allowed:
                raise ParameterError(
                    name, f"unknown option for model={model!r}; allowed: {', '.join(allowed)}"
                )
        return cls(**options)
    if options:
        name = next(iter(options))
        raise ParameterError(
            name,
            "options are given to the model object itself when `model` "
            "is not a string (e.g. MeanFieldModel(t1=...))",
        )
    if isinstance(model, (MeanFieldModel, NetworkModel)):
        return model
    if callable(model):
        return _FunctionModel(model)
    raise ParameterError(
        "model",
        f"must be 'meanfield', 'network', a model object or a function of Params; got {model!r}",
    )


def _observable_table(model, observables) -> tuple[tuple[str, Callable, str], ...]:
    if isinstance(model, _FunctionModel):
        if observables is not None:
            raise ParameterError(
                "observables",
                "a function model's outputs are the observables; leave observables out",
            )
        return ()
    if observables is None:
        observables = DEFAULT_OBSERVABLES
    if isinstance(observables, str):
        observables = (observables,)
    table = []
    for item in observables:
        if isinstance(item, str):
            if item not in OBSERVABLES:
                raise ParameterError(
                    "observables",
                    f"unknown observable {item!r}; choose from "
                    f"{', '.join(OBSERVABLES)} or pass (name, function of Trace)",
                )
            table.append((item, *OBSERVABLES[item]))
        elif isinstance(item, tuple) and len(item) == 2 and callable(item[1]):
            table.append((str(item[0]), item[1], "float"))
        else:
            raise ParameterError(
                "observables", f"each entry is a name or (name, function); got {item!r}"
            )
    names = [t[0] for t in table]
    if not names or len(set(names)) != len(names) or "status" in names:
        raise ParameterError("observables", f"need distinct names other than 'status'; got {names}")
    return tuple(table)


def _point_function(model, addresses, table):
    """f(base params, aux, x (names,)) -> ({name: value}, status) for one point."""

    attributes = _input_attributes(addresses)
    columns = [j for j, a in enumerate(addresses) if not isinstance(a, InputAddress)]
    addresses = [addresses[j] for j in columns]

    def f(base, aux, x):
        values = x[jnp.asarray(columns, jnp.int32)] if attributes else x
        params = set_parameters(base, addresses, values)
        if isinstance(model, _FunctionModel):
            out = dict(model.fn(params))
            status = out.pop("status", None)
            out = {k: jnp.asarray(v) for k, v in out.items()}
            if status is None:
                finite = [
                    jnp.all(jnp.isfinite(v))
                    for v in out.values()
                    if jnp.issubdtype(v.dtype, jnp.inexact)
                ]
                ok = jnp.all(jnp.stack(finite)) if finite else jnp.asarray(True)
                status = RESULTS.where(ok, RESULTS.successful, RESULTS.diverged)
            if isinstance(status, type(RESULTS.successful)):
                return out, status_codes(status)
            return out, jnp.asarray(status).astype(jnp.int8)
        if attributes:
            i_ext = _set_input(model.i_ext, attributes, [x[j] for j, _ in attributes])
            tr, status = model.trace(params, aux, i_ext)
        else:
            tr, status = model.trace(params, aux)
        ok = status == RESULTS.successful
        builtin = [name for name, fn, _ in table if OBSERVABLES.get(name, (None,))[0] is fn]
        summary = (
            _summaries(tr, model.smooth_window)
            if any(n in _FROM_SUMMARY for n in builtin)
            else None
        )
        out = {}
        for name, fn, kind in table:
            if name in _FROM_SUMMARY and name in builtin:
                v = fn(tr, model.smooth_window, summary)
            else:
                v = jnp.asarray(fn(tr, model.smooth_window))
            if kind == "regime":
                v = jnp.where(ok, v, -1).astype(jnp.int8)
            elif jnp.issubdtype(v.dtype, jnp.inexact):
                v = jnp.where(ok, v, jnp.nan)
            out[name] = v
        return out, status_codes(status)

    return f


def _local_devices(devices) -> list:
    local = jax.local_devices()
    if devices is None:
        return local
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise ParameterError(
                "devices", f"must be between 1 and the {len(local)} local device(s); got {devices}"
            )
        return local[: int(devices)]
    devices = list(devices)
    if not devices or any(d not in local for d in devices):
        raise ParameterError(
            "devices",
            f"must be a count or a list of this process's local devices {local}; got {devices}",
        )
    return devices


_COMPILED: dict = {}


def _compiler_options(devices) -> dict:
    """XLA options of a compiled chunk (`jaxmf._loop.compiler_options` with the memory-optimised
    schedule). On CPU without them the while loops of a mean-field chunk copy carried arrays
    every iteration; they change no number, bit for bit (benchmarks/meanfield_throughput.py,
    tests/test_sweep.py)."""
    return compiler_options(devices[0].platform, memory_schedule=True)


def _chunk_runner(model, addresses, table, devices):
    """jit(vmap) of the point function, shard_mapped over `devices` (cached: repeated sweeps
    with the same model, grid names, observables and devices compile once per chunk shape)."""
    # An input in time holds arrays (unhashable): it is known by its identity, which the cached
    # function keeps alive.
    i_ext = getattr(model, "i_ext", None)
    model_key = model if i_ext is None else (dataclasses.replace(model, i_ext=None), id(i_ext))
    key = (
        model_key,
        addresses,
        tuple((n, id(fn)) for n, fn, _ in table),
        tuple(d.id for d in devices),
    )
    if key in _COMPILED:
        return _COMPILED[key]
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    batched = jax.vmap(_point_function(model, addresses, table), in_axes=(None, None, 0))
    options = _compiler_options(devices)
    if len(devices) == 1:
        fn = jax.jit(batched, compiler_options=options)
        replicated = points = jax.sharding.SingleDeviceSharding(devices[0])
    else:
        mesh = Mesh(np.asarray(devices), ("batch",))
        # check_vma=False: diffrax's while loops carry values the per-device batch does not
        # vary; every device runs its own points independently, no collectives.
        fn = jax.jit(
            jax.shard_map(
                batched,
                mesh=mesh,
                in_specs=(P(), P(), P("batch")),
                out_specs=P("batch"),
                check_vma=False,
            ),
            compiler_options=options,
        )
        replicated, points = NamedSharding(mesh, P()), NamedSharding(mesh, P("batch"))
    _COMPILED[key] = (fn, replicated, points)
    return _COMPILED[key]


class SweepInterrupted(Interrupted):
    """Ctrl-C during `sweep`: the finished chunks are kept in `.parts` (when `out` was given);
    calling `sweep` again with the same arguments finishes the rest.

    Attributes
    ----------
    done, total : int
        Points finished, and points in the grid.
    parts : pathlib.Path or None
        The folder of the finished chunks (None without `out`; also in `.resume`).

    Examples
    --------
    >>> from jaxmf import SweepInterrupted
    >>> err = SweepInterrupted("interrupted", 3, 6, None)
    >>> err.done, err.total, err.resume
    (3, 6, None)
    """

    def __init__(self, message: str, done: int, total: int, parts: Path | None):
        super().__init__(message, resume=None if parts is None else str(parts))
        self.done, self.total, self.parts = done, total, parts


def _parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _chunk_path(parts: Path, i: int) -> Path:
    return parts / f"chunk-{i:06d}.npz"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _write_chunk(parts: Path, i: int, result: dict[str, np.ndarray], meta: dict) -> None:
    """Chunk i's arrays with what identifies them: the sweep's fingerprint, the chunk's index and
    range, and a checksum of the arrays (inside the file), plus the file's SHA-256 beside it."""
    arrays: dict[str, Any] = {
        ("status_codes" if k == "status" else k): np.asarray(v) for k, v in result.items()
    }
    stamp = {
        "fingerprint": meta["fingerprint"],
        "chunk": i,
        "start": meta["start"],
        "stop": meta["stop"],
        "data": fingerprint(arrays),
    }
    path = _chunk_path(parts, i)
    atomic_write(path, lambda f: np.savez(f, **arrays, _stamp=np.asarray(dumps(stamp))))
    atomic_write_text(_sidecar(path), checksum(path) + "\n")


def _read_chunk(parts: Path, i: int, meta: dict) -> dict[str, np.ndarray] | None:
    """Chunk i's results if the file is this sweep's chunk i, whole and unaltered; None (with a
    warning for a file that is there but unusable) means: compute it again."""
    path = _chunk_path(parts, i)
    if not path.exists():
        return None
    problem = None
    side = _sidecar(path)
    try:
        # The sidecar is written after the chunk: a kill between the two leaves none, and the
        # checksum inside the file still vouches for the arrays.
        if side.exists() and side.read_text().strip() != checksum(path):
            raise ValueError("its checksum does not match (damaged or altered)")
        with np.load(path, allow_pickle=False) as f:
            out = {k: f[k] for k in f.files}
        stamp = json.loads(str(out.pop("_stamp")))
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        problem = (
            f"unreadable ({e})"
            if not isinstance(e, ValueError) or "checksum" not in str(e)
            else str(e)
        )
        out, stamp = {}, {}
    if problem is None:
        if stamp.get("fingerprint") != meta["fingerprint"]:
            problem = "it belongs to a different sweep"
        elif (stamp.get("chunk"), stamp.get("start"), stamp.get("stop")) != (
            i,
            meta["start"],
            meta["stop"],
        ):
            problem = "it covers other grid points"
        elif stamp.get("data") != fingerprint(out):
            problem = "its values do not match its checksum (altered)"
    if problem is not None:
        warnings.warn(f"sweep: {path}: {problem}; computing this chunk again", stacklevel=3)
        return None
    out["status"] = out.pop("status_codes")
    return out


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
            x = status_names(from_codes(x.reshape(-1))).reshape(x.shape)
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
    ds["status"].attrs["labels"] = ", ".join(status_names(from_codes(jnp.arange(3))))
    return ds


def load_sweep(path):
    """The dataset of a finished sweep (`sweep(..., out=path)`), fully read into memory.

    Parameters
    ----------
    path : str or pathlib.Path
        The netCDF file the sweep wrote.

    Returns
    -------
    xarray.Dataset
        The sweep's dataset (the file is closed).

    Examples
    --------
    >>> import os, tempfile
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> import jaxmf
    >>> path = os.path.join(tempfile.mkdtemp(), "sweep.nc")
    >>> _ = jaxmf.sweep(jaxmf.Params(), jaxmf.Grid.points(eta_bar=[0.0, 0.3]), t1=200.0,
    ...                 progress=False, out=path)
    >>> jaxmf.load_sweep(path)["regime"].values.tolist()
    ['tonic', 'tonic']
    """
    import xarray as xr

    with xr.open_dataset(path, engine="scipy") as ds:
        return ds.load()


def _write_dataset(ds, out: Path) -> None:
    data = bytes(ds.to_netcdf(None, engine="scipy", format="NETCDF3_64BIT"))
    atomic_write(out, lambda f: f.write(data))


def sweep(
    params: Params,
    grid: Grid,
    model="meanfield",
    *,
    observables=None,
    out=None,
    chunk_size: int | None = None,
    points_per_device: int | None = None,
    memory_budget: float | None = None,
    max_memory: float | None = None,
    devices=None,
    seed: int = 0,
    progress: bool = True,
    overwrite: bool = False,
    provenance: dict | None = None,
    throw: bool = True,
    **options,
):
    """Evaluate `model` at every point of `grid` (values set on top of `params`).

    Parameters
    ----------
    params : Params
        The parameters the grid values are set on (one parameter set, not a batch).
    grid : Grid
        Product, points, random or Latin hypercube design.
    model : str, MeanFieldModel, NetworkModel or callable
        'meanfield' (`MeanFieldModel`; options t1, transient, save_dt, rtol, atol,
        max_steps, model, blowup, i_ext), 'network' (`NetworkModel`; options t1, n, dt,
        record_every, transient, smooth_time, dtype, scheme, sampler, i_ext), one of those
        objects, or a function params -> {name: array} (vmapped; its outputs are the
        observables). With ``i_ext=jaxmf.inputs.Sinusoid(...)`` every point gets that input in
        time; grid names 'input.amplitude' (keyword ``input_amplitude``) set its attributes.
    observables : sequence or None
        Names from `OBSERVABLES` (default regime, r_mean, burst_period) or
        (name, function of (`Trace`, smooth_window)) pairs. Regime and burst observables come
        from `jaxmf.analysis.trace_summary` of each population's rate.
    out : str, pathlib.Path or None
        netCDF path. Finished chunks go to `<out>.parts/` as they finish, each with its
        sweep's fingerprint and checksums; a later call with the same arguments resumes from
        them (a damaged or foreign chunk there is computed again, with a warning), and a call
        on a complete `out` just loads it. overwrite=True discards a different earlier sweep.
    chunk_size, points_per_device : int or None
        Points per saved chunk (default points_per_device x
        devices) and the vmap width of one device (default, mean field: 16384 on CPU, 65536 on
        accelerators; network: 8 / 256; capped by `memory_budget` bytes per device, default
        1 GiB). A resumed sweep keeps both.
    memory_budget : float or None
        Bytes one device's chunk may take (default 1 GiB).
    max_memory : float or None
        Bytes the gathered results may take (default: the memory available now); a
        larger grid is refused up front with the estimate. Raise it on a bigger machine.
    devices : int, list or None
        A count or a list of local devices (default all).
    seed : int
        For the network's Lorentzian sample with a random sampler (random grid designs take
        their own seed), recorded in the provenance.
    progress : bool
        A progress line on stderr.
    overwrite : bool
        Discard a different earlier sweep at `out`.
    provenance : dict or None
        Extra entries for the provenance record (e.g. the command line).
    throw : bool
        A failed point is data (its `status`, NaN observables), never an error; throw=True
        raises `NumericalError` (the dataset in `.result`) only when no point at all succeeded,
        throw=False returns that dataset too.
    **options
        Options of the model named by `model` (see above).

    Returns
    -------
    xarray.Dataset
        One dimension per axis of a product grid (else `point`), a `population` dimension for
        multi-population params, each observable, `status` ('ok' / 'diverged' / 'max_steps',
        `jaxmf.RESULTS` labels) and provenance in `attrs` (versions, devices, params, model,
        grid, seed, time).

    Raises
    ------
    ParameterError
        Invalid params, grid, model options or observables, or a grid too big for
        `max_memory`.
    NumericalError
        throw=True and no point succeeded (the dataset in `.result`).
    SweepInterrupted
        Ctrl-C; the finished chunks are kept when `out` was given.

    Examples
    --------
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> import jaxmf
    >>> grid = jaxmf.Grid.product(eta_bar=[0.0, 0.3], w_jump=[0.0])
    >>> ds = jaxmf.sweep(jaxmf.Params(), grid, t1=200.0, progress=False)
    >>> dict(ds.sizes)
    {'eta_bar': 2, 'w_jump': 1}
    >>> ds["status"].values.tolist()
    [['ok'], ['ok']]
    >>> bool(ds["r_mean"][1, 0] > ds["r_mean"][0, 0])
    True
    """
    if not isinstance(params, Params):
        raise ParameterError("params", f"must be jaxmf.Params; got {type(params).__name__}")
    if not isinstance(grid, Grid):
        raise ParameterError(
            "grid",
            "must be a jaxmf.Grid (Grid.product, points, random, "
            f"latin_hypercube); got {type(grid).__name__}",
        )
    if jnp.ndim(params.eta_bar) != 1:
        raise ParameterError("params", "give one parameter set (the grid varies it), not a batch")
    model = _make_model(model, options)
    table = _observable_table(model, observables)
    _validate_grid(params, grid)
    _check_input(model, grid)
    seed = check_whole("seed", seed, minimum=0)
    devices = _local_devices(devices)
    n_pop = params.n_populations
    _check_memory(grid, model, table, params, max_memory)
    # One point must fit before anything is allocated (a network's state lives on one device).
    check_memory(
        model.bytes_per_point(params),
        "n" if isinstance(model, NetworkModel) else "model",
        "one grid point",
        max_memory,
    )
    aux = model.prepare(params, seed, grid)
    nproc, pid = jax.process_count(), jax.process_index()

    description = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.describe(),
        "grid": grid.describe(),
        "observables": [n for n, _, _ in table],
        "seed": seed,
        "params": params_to_dict(params),
    }
    stamp = fingerprint(description)
    out = None if out is None else Path(out)
    parts = None if out is None else _parts_dir(out)

    if out is not None:
        # 0: no file yet, 1: this very sweep, complete, 2: something else (process 0 decides)
        found = 0 if not out.exists() else 1 if _stored_fingerprint(out) == stamp else 2
        found = _agree(nproc, found)
        if found == 1 and not overwrite:
            if progress and pid == 0:
                print(f"sweep: {out} is complete; loaded it", file=sys.stderr, flush=True)
            ds = load_sweep(out) if out.exists() else _missing(out)
            return _checked(ds, throw)
        if found == 2 and not overwrite:
            raise ParameterError(
                "out",
                f"{out} holds a different sweep (other parameters, grid, "
                "model or observables); choose another path or overwrite=True",
            )

    backend = "cpu" if devices[0].platform == "cpu" else "other"
    if memory_budget is not None:
        memory_budget = check_positive("memory_budget", memory_budget)
    by_memory = max(
        1, int((memory_budget or _DEFAULT_MEMORY_BUDGET) // model.bytes_per_point(params))
    )
    if chunk_size is not None:
        chunk_size = check_whole("chunk_size", chunk_size)
    if points_per_device is not None:
        points_per_device = check_whole("points_per_device", points_per_device)
    if parts is not None:
        chunk_size, points_per_device = _open_parts(
            parts, stamp, chunk_size, points_per_device, overwrite, pid
        )
    if points_per_device is None:
        points_per_device = min(
            _PER_DEVICE[model.kind][backend], by_memory, chunk_size or grid.n_points
        )
        if chunk_size is None:
            # Equal calls: the last call's padding points are solved too (~1 point per call
            # instead of up to a whole call's worth).
            per_call = points_per_device * len(devices)
            calls = -(-grid.n_points // per_call)
            points_per_device = -(-grid.n_points // (calls * len(devices)))
    if chunk_size is None:
        chunk_size = points_per_device * len(devices)
    # Every process must cut the grid the same way.
    chunk_size, points_per_device = _agree(nproc, chunk_size), _agree(nproc, points_per_device)
    if parts is not None and pid == 0:
        _write_manifest(parts, stamp, description, chunk_size, points_per_device)

    chunks = grid.chunks(chunk_size)
    mine = [i for i in range(len(chunks)) if i % nproc == pid]
    fn, replicated, point_sharding = _chunk_runner(model, grid.addresses, table, devices)
    # A concrete zero delay is the undelayed model (`jaxmf.delay.uses_dde`); traced in the
    # compiled runner it would take the delayed code paths.
    delayed = uses_dde(params) or any(a.field == "delay" for a in grid.addresses)
    base = jax.device_put(params if delayed else params.replace(delay=None), replicated)
    aux = jax.device_put(aux, replicated) if aux is not None else None
    dtype = params.eta_bar.dtype
    per_call = points_per_device * len(devices)

    def evaluate(x: np.ndarray) -> dict[str, np.ndarray]:
        # Each device always gets exactly `points_per_device` points, whatever the number of
        # devices: the same compiled per-device program, hence the same bits, sharded or not.
        n = x.shape[0]
        calls = -(-n // per_call)
        x = np.concatenate([x, np.repeat(x[-1:], calls * per_call - n, axis=0)])  # edge padding
        outs = [
            fn(
                base,
                aux,
                jax.device_put(
                    jnp.asarray(x[k * per_call : (k + 1) * per_call], dtype), point_sharding
                ),
            )
            for k in range(calls)
        ]
        res = {k: np.concatenate([np.asarray(o[0][k]) for o in outs])[:n] for k in outs[0][0]}
        res["status"] = np.concatenate([np.asarray(o[1]) for o in outs])[:n]
        return res

    def chunk_meta(i):
        return {"fingerprint": stamp, "start": chunks[i][0], "stop": chunks[i][1]}

    results: dict[int, dict[str, np.ndarray]] = {}
    todo = []
    for i in mine:
        stored = None if parts is None else _read_chunk(parts, i, chunk_meta(i))
        if stored is not None:
            results[i] = stored
        else:
            todo.append(i)

    def size(i):
        return chunks[i][1] - chunks[i][0]

    total = sum(size(i) for i in mine)
    already = total - sum(size(i) for i in todo)
    label = "sweep" if nproc == 1 else f"sweep (process {pid}/{nproc})"
    # The bar counts this run's points (its ETA then holds after a resume).
    bar = Progress(label, total - already, enabled=progress, unit=" points", step=0.01)
    if already:
        bar.print(f"resuming, {already} of {total} points already in {parts}")
    started = time.perf_counter()
    computed = 0

    def compute(i):
        res = evaluate(grid.values(*chunks[i]))
        if parts is not None:
            _write_chunk(parts, i, res, chunk_meta(i))
        results[i] = res
        return i, False

    def position(i, _):
        nonlocal computed
        computed += size(i)
        rate = computed / (time.perf_counter() - started)
        return computed, f"{already + computed}/{total} in all, {rate:.3g} points/s,"

    run = run_chunks(todo, compute, progress=bar, position=position)
    if run.interrupted:
        done = already + sum(size(i) for i in run.outputs)
        where = (
            f"finished chunks are in {parts}; call again with the same arguments to "
            "complete the rest"
            if parts is not None
            else "nothing was saved (no `out`)"
        )
        bar.close(f"interrupted at {done} of {total} points; {where}")
        raise SweepInterrupted(
            f"sweep interrupted at {done} of {total} points; {where}", done, total, parts
        ) from None

    template = None
    if nproc > 1:
        shapes = jax.eval_shape(
            fn,
            base,
            aux,
            jax.ShapeDtypeStruct((per_call, len(grid.names)), dtype, sharding=point_sharding),
        )
        template = {
            **{k: (v.shape[1:], v.dtype) for k, v in shapes[0].items()},
            "status": (shapes[1].shape[1:], shapes[1].dtype),
        }
    merged = _gather(results, chunks, mine, nproc, template)
    attrs = _attrs(
        description,
        stamp,
        chunk_size,
        points_per_device,
        len(chunks),
        devices,
        nproc,
        dtype,
        provenance,
    )
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
            ds = load_sweep(out)
    return _checked(ds, throw)


def _checked(ds, throw: bool):
    """The dataset, or `NumericalError` (with it) when `throw` and no point succeeded."""
    labels = ds["status"].values.astype(str)
    if throw and not np.any(labels == "ok"):
        names, counts = np.unique(labels, return_counts=True)
        summary = ", ".join(f"{c} {n}" for n, c in zip(names, counts))
        raise NumericalError(
            f"sweep: no point succeeded ({summary}); pass throw=False to get the dataset anyway", ds
        )
    return ds


def _result_bytes_per_point(model, table, params) -> float:
    """Bytes one point's results take in memory: observables, status and grid values, twice
    (chunk results and the gathered arrays both exist while the dataset is built)."""
    if isinstance(model, _FunctionModel):
        shapes = jax.eval_shape(model.fn, params)
        values = sum(
            int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(shapes)
        )
    else:
        values = 8 * params.n_populations * len(table)
    return 2.0 * (values + 1 + 8 * len(table))


def _check_memory(grid: Grid, model, table, params, max_memory) -> None:
    """Refuse up front a grid whose results would not fit in memory."""
    need = float(grid.n_points) * _result_bytes_per_point(model, table, params)
    check_memory(need, "grid", f"{grid.n_points:.3g} points' results", max_memory)


def _missing(out):
    raise FileNotFoundError(
        f"{out}: process 0 has it but this process cannot see it (no shared "
        "file system); read it on process 0"
    )


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


def _open_parts(parts: Path, stamp, chunk_size, points_per_device, overwrite, pid):
    """(chunk_size, points_per_device) of an unfinished sweep in `parts`, or the given ones when
    there is none. A different sweep there is an error unless `overwrite`; a damaged manifest
    is reported and replaced (each chunk is checked on its own)."""
    manifest = parts / "manifest.json"
    if not manifest.exists():
        return chunk_size, points_per_device
    if overwrite:
        if pid == 0:
            shutil.rmtree(parts, ignore_errors=True)
        return chunk_size, points_per_device
    try:
        old = read_json(manifest, what="sweep manifest")
        stored = int(old["chunk_size"]), int(old["points_per_device"])
        old_stamp = old["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        detail = str(e) if isinstance(e, ValueError) else f"{manifest}: damaged sweep manifest"
        warnings.warn(
            f"sweep: {detail}; replacing it (each chunk is checked on its own: "
            "damaged ones and those of another sweep are computed again)",
            stacklevel=3,
        )
        if pid == 0:
            manifest.unlink(missing_ok=True)
        return chunk_size, points_per_device
    if old_stamp != stamp:
        raise ParameterError(
            "out",
            f"{parts} holds chunks of a different, unfinished sweep "
            "(other parameters, grid, model or observables); choose another "
            "path or pass overwrite=True to discard them",
        )
    for name, given, kept in (
        ("chunk_size", chunk_size, stored[0]),
        ("points_per_device", points_per_device, stored[1]),
    ):
        if given is not None and given != kept:
            raise ParameterError(
                name,
                f"the unfinished sweep in {parts} uses {name}={kept}; "
                "resume with that (or leave it out), or pass overwrite=True to "
                "start again",
            )
    return stored


def _write_manifest(parts: Path, stamp, description, chunk_size, points_per_device) -> None:
    manifest = parts / "manifest.json"
    try:
        if read_json(manifest, what="sweep manifest").get("fingerprint") == stamp:
            return
    except (OSError, ValueError, AttributeError):
        pass
    write_json(
        manifest,
        {
            "fingerprint": stamp,
            "chunk_size": chunk_size,
            "points_per_device": points_per_device,
            "description": description,
        },
    )


def _gather(results, chunks, mine, nproc, template) -> dict[str, np.ndarray]:
    """Every chunk's results in grid order, from all processes (`template`: name -> (shape per
    point, dtype), for processes that hold no chunk)."""
    if nproc == 1:
        order = [results[i] for i in range(len(chunks))]
        return {k: np.concatenate([r[k] for r in order]) for k in order[0]}
    from jax.experimental import multihost_utils

    counts = [
        sum(b - a for a, b in (chunks[i] for i in range(p, len(chunks), nproc)))
        for p in range(nproc)
    ]
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
                merged[k][a:b] = np.asarray(everything[k])[p, offset : offset + b - a]
            offset += b - a
    return merged


def _attrs(
    description, stamp, chunk_size, points_per_device, n_chunks, devices, nproc, dtype, extra
) -> dict:
    prov = provenance(
        sweep_devices=[f"{d.platform}:{d.id}" for d in devices], processes=nproc, **(extra or {})
    )
    return {
        "title": "jaxmf parameter sweep",
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fingerprint": stamp,
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


def _json(x) -> str:
    return dumps(x, indent=None)


def regime_map(
    params: Params,
    axes: Mapping[str, Any],
    *,
    t1: float = 2000.0,
    model="meanfield",
    observables=DEFAULT_OBSERVABLES,
    **kwargs,
):
    """Brute-force regime map: `sweep` over the product of `axes` with each point classified
    'quiescent' / 'tonic' / 'bursting' (`jaxmf.analysis.trace_summary`).

    Parameters
    ----------
    params : Params
        The parameters the axes' values are set on.
    axes : mapping
        Parameter name -> values, e.g. {"eta_bar": ..., "w_jump": ...}.
    t1 : float
        The simulated time per point.
    model : str
        'meanfield' (default) or 'network'.
    observables : sequence of str
        Computed besides 'regime' (always included).
    **kwargs
        Further arguments of `sweep` (out=, devices=, rtol=, n=, throw=, ...).

    Returns
    -------
    xarray.Dataset
        The sweep's dataset; plot it with `jaxmf.plot.plot_regime_map(ds)`.

    Raises
    ------
    ParameterError
        `axes` is not a non-empty mapping, or as `sweep`.

    Examples
    --------
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> import jaxmf
    >>> ds = jaxmf.regime_map(jaxmf.Params(), {"eta_bar": [0.0, 0.3]}, t1=200.0, progress=False)
    >>> ds["regime"].values.tolist()
    ['tonic', 'tonic']
    >>> ds["regime"].attrs["labels"]
    'quiescent, tonic, bursting, none'
    """
    if not isinstance(axes, Mapping) or not axes:
        raise ParameterError(
            "axes",
            "give a mapping of parameter name to grid values, e.g. "
            "{'eta_bar': jnp.linspace(0, 0.3, 100)}",
        )
    if "regime" not in observables:
        observables = ("regime", *observables)
    return sweep(
        params, Grid.product(**dict(axes)), model, observables=observables, t1=t1, **kwargs
    )
