"""Bifurcation analysis of the exact mean field: branches, special points, continuation.

Continuation parameters are named by strings over `Params` fields:

- ``"eta_bar"``: every population's entry moves together (one value);
- ``"eta_bar[1]"``: population 1 only; ``"g[0,1]"``: one entry of the conductance matrix;
- ``"kappa"``: the share of the first population (fractions = (kappa, 1 - kappa), P = 2).

States are flat vectors in the order (r, v, w, s), each block of length P (`flat_state`,
`unflat_state`). A `Branch` holds a continued family (equilibria, cycles, or a curve of
codimension-one points in two parameters) with one row per point; `SpecialPoint`s mark the
detected and refined bifurcations on it.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .meanfield import MeanFieldState
from .params import PER_POPULATION_FIELDS, ParameterError, Params

__all__ = [
    "Branch", "SpecialPoint", "get_parameter", "set_parameter", "flat_state", "unflat_state",
    "SPECIAL_KINDS", "BRANCH_KINDS",
]

# Special-point labels: equilibria (fold = limit point LP, hopf = HB, bp = branch point),
# cycles (lpc = fold of cycles, pd = period doubling, ns = Neimark-Sacker/torus, homoclinic =
# period blow-up), codimension two (bt = Bogdanov-Takens, cusp, gh = generalised Hopf (Bautin),
# zh = zero-Hopf, hh = double Hopf), and 'endpoint' where continuation stopped.
SPECIAL_KINDS = ("fold", "hopf", "bp", "lpc", "pd", "ns", "homoclinic", "bt", "cusp", "gh", "zh",
                 "hh", "endpoint")
BRANCH_KINDS = ("equilibrium", "cycle", "hopf", "fold", "lpc")
_VARIABLES = ("r", "v", "w", "s")
_NAME = re.compile(r"^([a-z_]+)(?:\[(\d+)(?:,\s*(\d+))?\])?$")


def _parse(name: str, params: Params) -> tuple[str, tuple[int, ...] | None]:
    m = _NAME.match(name.strip()) if isinstance(name, str) else None
    fields = (*PER_POPULATION_FIELDS, "g", "kappa")
    if m is None or m.group(1) not in fields:
        raise ParameterError("parameter", f"unknown continuation parameter {name!r}; use a Params "
                             f"field ({', '.join(fields)}), optionally indexed: 'eta_bar[1]', "
                             "'g[0,1]'")
    field, i, j = m.group(1), m.group(2), m.group(3)
    p = params.n_populations
    if field == "kappa":
        if p != 2 or i is not None:
            raise ParameterError("kappa", f"needs two populations (got P={p}) and no index")
        return field, None
    index = tuple(int(x) for x in (i, j) if x is not None) or None
    want = 2 if field == "g" else 1
    if index is not None and (len(index) != want or any(k >= p for k in index)):
        raise ParameterError(name, f"index must be {want} integer(s) in [0, {p - 1}]")
    return field, index


def get_parameter(params: Params, name: str) -> jax.Array:
    """The scalar value of a continuation parameter (first entry for an unindexed field)."""
    field, index = _parse(name, params)
    if field == "kappa":
        return params.fractions[0]
    x = getattr(params, field)
    return x[index] if index is not None else x.reshape(-1)[0]


def set_parameter(params: Params, name: str, value) -> Params:
    """`params` with the continuation parameter set to `value` (traceable: works under jit/grad)."""
    field, index = _parse(name, params)
    if field == "kappa":
        value = jnp.asarray(value, params.fractions.dtype)
        return eqx.tree_at(lambda q: q.fractions, params, jnp.stack([value, 1 - value]))
    x = getattr(params, field)
    value = jnp.asarray(value, x.dtype)
    new = x.at[index].set(value) if index is not None else jnp.full_like(x, value)
    return eqx.tree_at(lambda q: getattr(q, field), params, new)


def flat_state(y: MeanFieldState) -> jax.Array:
    """(r, v, w, s) blocks of length P -> one vector of length 4P."""
    return jnp.concatenate([jnp.atleast_1d(x) for x in y])


def unflat_state(x: jax.Array) -> MeanFieldState:
    return MeanFieldState(*jnp.split(x, 4))


class SpecialPoint(eqx.Module):
    """A detected (and, where `converged`, Newton-refined) bifurcation point.

    kind: one of SPECIAL_KINDS. param: the continuation parameter name(s). value: the parameter
    value (a scalar; shape (2,) for codimension-two points and points on two-parameter curves).
    state: flat equilibrium state, or for cycles the state at the cycle's phase origin.
    params: the full `Params` at the point. index: position of the nearest point on its branch.
    first_lyapunov: Kuznetsov's l1 (eq. 3.20 normalisation) at Hopf points, else NaN (negative:
    supercritical). frequency: omega at Hopf points (period 2 pi / omega), else NaN. period: cycle
    period for cycle points. multiplier: the critical Floquet multiplier (cycle points).
    data: other quantities by name (e.g. test-function values, l2 at a GH point).
    """

    kind: str = eqx.field(static=True)
    param: tuple[str, ...] = eqx.field(static=True)
    value: jax.Array
    state: jax.Array
    params: Params
    index: int = eqx.field(static=True, default=-1)
    converged: bool = eqx.field(static=True, default=True)
    first_lyapunov: jax.Array = eqx.field(default_factory=lambda: jnp.asarray(jnp.nan))
    frequency: jax.Array = eqx.field(default_factory=lambda: jnp.asarray(jnp.nan))
    period: jax.Array = eqx.field(default_factory=lambda: jnp.asarray(jnp.nan))
    multiplier: jax.Array = eqx.field(default_factory=lambda: jnp.asarray(jnp.nan + 0j))
    data: dict = eqx.field(default_factory=dict)

    def __check_init__(self):
        if self.kind not in SPECIAL_KINDS:
            raise ParameterError("kind", f"must be one of {', '.join(SPECIAL_KINDS)}; got "
                                 f"{self.kind!r}")

    @property
    def criticality(self) -> str:
        """'subcritical' / 'supercritical' from the sign of l1 (Hopf points), else ''."""
        l1 = float(np.asarray(self.first_lyapunov))
        if self.kind != "hopf" or not np.isfinite(l1):
            return ""
        return "subcritical" if l1 > 0 else "supercritical"

    def summary(self) -> dict[str, Any]:
        """A JSON-ready dict of the point's scalars."""
        out = {"kind": self.kind, "param": list(self.param), "value": _tolist(self.value),
               "index": self.index, "converged": self.converged,
               "state": _tolist(self.state)}
        for name in ("first_lyapunov", "frequency", "period"):
            x = np.asarray(getattr(self, name))
            if np.all(np.isfinite(x)):
                out[name] = _tolist(x)
        m = np.asarray(self.multiplier)
        if np.all(np.isfinite(m)):
            out["multiplier"] = [float(m.real), float(m.imag)]
        if self.criticality:
            out["criticality"] = self.criticality
        out.update({k: _tolist(v) for k, v in self.data.items()})
        return out

    def __repr__(self) -> str:
        extra = f", l1={float(np.asarray(self.first_lyapunov)):.4g}" if self.kind == "hopf" else ""
        return f"SpecialPoint({self.kind!r}, {self.param}={_tolist(self.value)}{extra})"


def _tolist(x):
    x = np.asarray(x)
    if np.iscomplexobj(x):
        return [_tolist(x.real), _tolist(x.imag)]
    return x.tolist()


class Branch(eqx.Module):
    """A continued family, one row per point.

    kind: 'equilibrium', 'cycle', or the codimension-one curve it traces in two parameters
    ('hopf', 'fold', 'lpc'). param: continuation parameter name(s), len 1 or 2.
    values (n, len(param)): parameter values. states (n, 4P): flat equilibrium state; for cycles
    the state at phase 0. eigenvalues (n, 4P) complex: Jacobian eigenvalues (equilibria) or
    Floquet multipliers (cycles), sorted by decreasing real part / modulus. stable (n,).
    period, minima, maxima (cycles only: (n,), (n, 4P), (n, 4P)); profiles (n, M, 4P) and
    mesh (n, M) on [0, 1] (cycles, optional). base: the Params of the other (fixed) values.
    special_points: detected bifurcations. message: why continuation stopped.
    """

    kind: str = eqx.field(static=True)
    param: tuple[str, ...] = eqx.field(static=True)
    values: jax.Array
    states: jax.Array
    eigenvalues: jax.Array
    stable: jax.Array
    base: Params
    special_points: tuple[SpecialPoint, ...] = ()
    period: jax.Array | None = None
    minima: jax.Array | None = None
    maxima: jax.Array | None = None
    profiles: jax.Array | None = None
    mesh: jax.Array | None = None
    message: str = eqx.field(static=True, default="")

    def __check_init__(self):
        if self.kind not in BRANCH_KINDS:
            raise ParameterError("kind", f"must be one of {', '.join(BRANCH_KINDS)}; got "
                                 f"{self.kind!r}")

    def __len__(self) -> int:
        return int(np.shape(self.values)[0])

    @property
    def n_populations(self) -> int:
        return int(np.shape(self.states)[-1]) // 4

    def params_at(self, i: int) -> Params:
        """The full Params of point i."""
        p = self.base
        for name, x in zip(self.param, np.asarray(self.values)[i]):
            p = set_parameter(p, name, x)
        return p

    def variable(self, name: str, population: int = 0, which: str = "state") -> np.ndarray:
        """Column of a variable ('r', 'v', 'w', 's') of one population; `which` = 'state',
        'min' or 'max' (cycles)."""
        if name not in _VARIABLES:
            raise ParameterError("variable", f"must be one of r, v, w, s; got {name!r}")
        col = _VARIABLES.index(name) * self.n_populations + population
        table = {"state": self.states, "min": self.minima, "max": self.maxima}[which]
        if table is None:
            raise ParameterError("which", f"{which!r} needs a cycle branch")
        return np.asarray(table)[:, col]

    def labels(self) -> list[str]:
        """Per-point special-point label ('' where none), at each point's `index`."""
        out = [""] * len(self)
        for sp in self.special_points:
            if 0 <= sp.index < len(self):
                out[sp.index] = ",".join(x for x in (out[sp.index], sp.kind) if x)
        return out

    # -- saving and loading -------------------------------------------------------------------

    def _columns(self) -> dict[str, np.ndarray]:
        p = self.n_populations
        cols: dict[str, np.ndarray] = {}
        values = np.asarray(self.values)
        for k, name in enumerate(self.param):
            cols[name] = values[:, k]
        names = [f"{v}{i}" for v in _VARIABLES for i in range(p)]
        for j, name in enumerate(names):
            cols[name] = np.asarray(self.states)[:, j]
        if self.period is not None:
            cols["period"] = np.asarray(self.period)
        for label, table in (("min", self.minima), ("max", self.maxima)):
            if table is not None:
                for j, name in enumerate(names):
                    cols[f"{name}_{label}"] = np.asarray(table)[:, j]
        ev = np.asarray(self.eigenvalues)
        for j in range(ev.shape[1]):
            cols[f"ev{j}_re"], cols[f"ev{j}_im"] = ev[:, j].real, ev[:, j].imag
        cols["stable"] = np.asarray(self.stable).astype(int)
        return cols

    def to_csv(self, path) -> Path:
        """One row per point: parameter(s), state, period/min/max (cycles), eigenvalues or
        multipliers (re, im), stable (0/1), label."""
        path = Path(path)
        cols = self._columns()
        labels = self.labels()
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([*cols, "label"])
            for i in range(len(self)):
                writer.writerow([repr(float(c[i])) for c in cols.values()] + [labels[i]])
        return path

    def to_json(self, path) -> Path:
        """Everything needed by `Branch.from_json`: columns, base parameters, special points."""
        path = Path(path)
        base = {f.name: _tolist(getattr(self.base, f.name)) for f in _fields(self.base)}
        doc = {"kind": self.kind, "param": list(self.param), "message": self.message,
               "base": base, "n_populations": self.n_populations,
               "columns": {k: v.tolist() for k, v in self._columns().items()},
               "special_points": [sp.summary() for sp in self.special_points]}
        if self.profiles is not None:
            doc["profiles"] = np.asarray(self.profiles).tolist()
            doc["mesh"] = np.asarray(self.mesh).tolist()
        path.write_text(json.dumps(_finite_or_null(doc), indent=1, allow_nan=False))
        return path

    @classmethod
    def from_json(cls, path) -> "Branch":
        doc = json.loads(Path(path).read_text())
        # NaN was written as null: dtype=float turns it back.
        cols = {k: np.asarray(v, dtype=float) for k, v in doc["columns"].items()}
        p = doc["n_populations"]
        names = [f"{v}{i}" for v in _VARIABLES for i in range(p)]
        base = Params(**{k: np.asarray(v, dtype=float) for k, v in doc["base"].items()})
        n_ev = sum(1 for k in cols if k.startswith("ev") and k.endswith("_re"))
        ev = np.stack([cols[f"ev{j}_re"] + 1j * cols[f"ev{j}_im"] for j in range(n_ev)], axis=1)
        table = (lambda suffix: np.stack([cols[f"{n}{suffix}"] for n in names], axis=1)
                 if f"{names[0]}{suffix}" in cols else None)
        param = tuple(doc["param"])
        sps = []
        for d in doc["special_points"]:
            value = np.asarray(d["value"])
            q = base
            for name, x in zip(param if value.ndim else param[:1], np.atleast_1d(value)):
                q = set_parameter(q, name, x)
            extra = {k: np.asarray(v) for k, v in d.items()
                     if k not in ("kind", "param", "value", "index", "converged", "state",
                                  "first_lyapunov", "frequency", "period", "multiplier",
                                  "criticality")}
            mult = d.get("multiplier")
            sps.append(SpecialPoint(
                kind=d["kind"], param=tuple(d["param"]), value=jnp.asarray(value),
                state=jnp.asarray(d["state"]), params=q, index=d["index"],
                converged=d["converged"],
                first_lyapunov=jnp.asarray(d.get("first_lyapunov", np.nan)),
                frequency=jnp.asarray(d.get("frequency", np.nan)),
                period=jnp.asarray(d.get("period", np.nan)),
                multiplier=jnp.asarray(complex(*mult) if mult else np.nan + 0j), data=extra))
        return cls(kind=doc["kind"], param=param,
                   values=jnp.asarray(np.stack([cols[n] for n in param], axis=1)),
                   states=jnp.asarray(table("")), eigenvalues=jnp.asarray(ev),
                   stable=jnp.asarray(cols["stable"].astype(bool)), base=base,
                   special_points=tuple(sps),
                   period=jnp.asarray(cols["period"]) if "period" in cols else None,
                   minima=_maybe(table("_min")), maxima=_maybe(table("_max")),
                   profiles=_maybe(doc.get("profiles")), mesh=_maybe(doc.get("mesh")),
                   message=doc["message"])


def _maybe(x):
    return None if x is None else jnp.asarray(np.asarray(x, dtype=float))


def _finite_or_null(x):
    """JSON has no NaN: write null (read back as NaN by dtype=float)."""
    if isinstance(x, dict):
        return {k: _finite_or_null(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite_or_null(v) for v in x]
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def _fields(module):
    import dataclasses

    return [f for f in dataclasses.fields(module) if not f.metadata.get("static", False)]
