"""Bifurcation analysis of the exact mean field: branches, special points, continuation.

Continuation parameters are the addresses of `jaxmf.params` (`parse_parameter`):

- ``"eta_bar"``: every population's entry moves together (one value);
- ``"eta_bar[1]"``: population 1 only; ``"g[0,1]"``: one entry of the conductance matrix;
- ``"kappa"``: the share of the first population (fractions = (kappa, 1 - kappa), P = 2).

Every vector field has the signature f(x, params) (`meanfield_vector_field`).

States are flat vectors in the order (r, v, w, s), each block of length P (`flat_state`,
`unflat_state`). A `Branch` holds a continued family (equilibria, cycles, or a curve of
codimension-one points in two parameters) with one row per point; `SpecialPoint`s mark the
detected and refined bifurcations on it.

Continuation (pseudo-arclength, Keller): `continue_equilibria` traces equilibria in one parameter
and detects folds, Hopf points (refined with `locate_fold` / `locate_hopf`, Kuznetsov's l1 via
`first_lyapunov_coefficient`) and branch points; `continue_hopf` / `continue_fold` trace those
points in two parameters and locate Bogdanov-Takens, cusp, generalised-Hopf, zero-Hopf and
double-Hopf points; `sensitivity` differentiates a refined point with respect to another
parameter (implicit function theorem). One compiled corrector per defining system serves every
point, every parameter name and every call; the Newton loop and the regula falsi are those of
`jaxmf._newton`, shared with `jaxmf.cycles`.

A branch ends at its bounds, at the edge of the valid parameter domain, after `max_points`, or
where the corrector fails; `Branch.status` (a `jaxmf.RESULTS` item) and `Branch.message` say
which. With `throw=True` (the default) a numerical failure raises `ContinuationError`.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._files import atomic_write_text, from_json_number, read_json, write_json
from ._loop import Progress
from ._multilinear import complex_forms, derivative
from ._newton import (
    newton,
    newton_root,
    outside_domain,
    parameter_value,
    regula_falsi,
    with_parameter,
    with_parameters,
)
from ._results import RESULTS, NumericalError, from_codes, status_codes, status_names
from .delay import uses_dde
from .meanfield import MeanFieldRiseState, MeanFieldState, chen_campbell, meanfield_equilibria
from .params import (
    ParameterError,
    Params,
    check_params,
    check_positive,
    check_real,
    get_parameter,
    parse_parameter,
    set_parameter,
    set_parameters,
)

__all__ = [
    "Branch",
    "SpecialPoint",
    "ContinuationError",
    "get_parameter",
    "set_parameter",
    "flat_state",
    "unflat_state",
    "meanfield_vector_field",
    "SPECIAL_KINDS",
    "BRANCH_KINDS",
    "continue_equilibria",
    "continue_hopf",
    "continue_fold",
    "locate_hopf",
    "locate_fold",
    "sensitivity",
    "hopf_sensitivity",
    "first_lyapunov_coefficient",
]


class ContinuationError(NumericalError):
    """A continuation, a refinement (`locate_hopf`, `locate_fold`) or a cycle (`cycle_at`)
    failed numerically.

    Attributes
    ----------
    result : Branch, SpecialPoint, Cycle or None
        What was computed, with its status, or None when nothing was.

    Examples
    --------
    x' = x - mu has no fold (its Jacobian is never singular), so the refinement fails:

    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp
    >>> from jaxmf.bifurcation import ContinuationError, locate_fold
    >>> try:
    ...     locate_fold({"mu": 1.0}, "mu", jnp.array([1.0]), vector_field=lambda x, p: x - p["mu"])
    ... except ContinuationError as err:
    ...     print(err.result.kind, err.result.converged)
    fold False
    """


# Special-point labels: equilibria (fold = limit point LP, hopf = HB, bp = branch point),
# cycles (lpc = fold of cycles, pd = period doubling, ns = Neimark-Sacker/torus, homoclinic =
# period blow-up), codimension two (bt = Bogdanov-Takens, cusp, gh = generalised Hopf (Bautin),
# zh = zero-Hopf, hh = double Hopf), 'endpoint' where continuation stopped, 'neutral_saddle'
# (a real eigenvalue pair +-mu: the Hopf test function vanishes there but nothing bifurcates),
# and on curves of cycle bifurcations (jaxmf.cycle_curves): cpc = cusp of cycles, lppd =
# fold-flip, lpns = fold-torus, pdns = flip-torus, r1 .. r4 = 1:1 .. 1:4 resonances.
SPECIAL_KINDS = (
    "fold",
    "hopf",
    "bp",
    "lpc",
    "pd",
    "ns",
    "homoclinic",
    "bt",
    "cusp",
    "gh",
    "zh",
    "hh",
    "endpoint",
    "neutral_saddle",
    "cpc",
    "lppd",
    "lpns",
    "pdns",
    "r1",
    "r2",
    "r3",
    "r4",
)
BRANCH_KINDS = ("equilibrium", "cycle", "hopf", "fold", "lpc", "pd", "ns", "homoclinic")
_VARIABLES = ("r", "v", "w", "s")


def flat_state(y: MeanFieldState | MeanFieldRiseState) -> jax.Array:
    """(r, v, w, s) blocks of length P -> one vector of length 4P (5P with the rise variable x
    of second-order synapses).

    Parameters
    ----------
    y : MeanFieldState
        Fields r, v, w, s, each of shape (P,) (or scalars).

    Returns
    -------
    jax.Array
        Shape (4P,): all r, then all v, w and s.

    Examples
    --------
    >>> from jaxmf.bifurcation import flat_state
    >>> from jaxmf.meanfield import MeanFieldState
    >>> flat_state(MeanFieldState(r=1.0, v=2.0, w=3.0, s=4.0)).tolist()
    [1.0, 2.0, 3.0, 4.0]
    """
    return jnp.concatenate([jnp.atleast_1d(x) for x in y])


def unflat_state(x: jax.Array, params: Params | None = None) -> MeanFieldState | MeanFieldRiseState:
    """One vector of length 4P -> a `MeanFieldState` of (P,) blocks (inverse of `flat_state`).

    Parameters
    ----------
    x : jax.Array
        Shape (4P,), or (5P,) with second-order synapses.
    params : Params, optional
        With ``params.tau_r`` present the vector holds five blocks (r, v, w, s, x).

    Returns
    -------
    MeanFieldState or MeanFieldRiseState

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.bifurcation import unflat_state
    >>> unflat_state(jnp.arange(8.0)).v.tolist()
    [2.0, 3.0]
    """
    if params is None or params.tau_r is None:
        return MeanFieldState(*jnp.split(x, 4))
    return MeanFieldRiseState(*jnp.split(x, 5))


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

    Attributes
    ----------
    kind : str
        One of SPECIAL_KINDS.
    param : tuple of str
        The continuation parameter name(s).
    value : jax.Array
        The parameter value (shape (2,) on two-parameter curves).
    state : jax.Array
        The flat state.
    params : Params
        The full parameters at the point.
    index : int
        Position of the nearest point on its branch.
    converged : bool
        Whether Newton refined it.
    first_lyapunov, frequency, period : jax.Array
        l1 and omega (Hopf points), period (cycle points); NaN elsewhere.
    multiplier : jax.Array
        Critical Floquet multiplier (cycle points).
    data : dict
        Other quantities by name.

    Examples
    --------
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> from jaxmf import bifurcation as bf, presets
    >>> p = presets.chen_campbell_2022(rounded=True, eta_bar=0.08)
    >>> b = bf.continue_equilibria(p, "eta_bar", (0.05, 0.1))
    >>> [(sp.kind, round(float(sp.value), 4)) for sp in b.special_points]
    [('hopf', 0.0749)]
    >>> b.special_points[0].criticality
    'subcritical'
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
            raise ParameterError(
                "kind", f"must be one of {', '.join(SPECIAL_KINDS)}; got {self.kind!r}"
            )

    @property
    def criticality(self) -> str:
        """'subcritical' / 'supercritical' from the sign of l1 (Hopf points), else ''."""
        l1 = float(np.asarray(self.first_lyapunov))
        if self.kind != "hopf" or not np.isfinite(l1):
            return ""
        return "subcritical" if l1 > 0 else "supercritical"

    def summary(self) -> dict[str, Any]:
        """A JSON-ready dict of the point's scalars.

        Returns
        -------
        dict
            kind, param, value, index, converged, state, the finite ones of first_lyapunov,
            frequency, period and multiplier, criticality (Hopf points) and `data`.

        Examples
        --------
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmf import bifurcation as bf, presets
        >>> p = presets.chen_campbell_2022(rounded=True, eta_bar=0.08)
        >>> b = bf.continue_equilibria(p, "eta_bar", (0.05, 0.1))
        >>> d = b.special_points[0].summary()
        >>> d["kind"], round(d["value"], 4), d["criticality"]
        ('hopf', 0.0749, 'subcritical')
        """
        out = {
            "kind": self.kind,
            "param": list(self.param),
            "value": _tolist(self.value),
            "index": self.index,
            "converged": self.converged,
            "state": _tolist(self.state),
        }
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
    ('hopf', 'fold', 'lpc', 'pd', 'ns', 'homoclinic' (fixed large period)). param: continuation
    parameter name(s), len 1 or 2.
    values (n, len(param)): parameter values. states (n, 4P): flat equilibrium state; for cycles
    the state at phase 0. eigenvalues (n, 4P) complex: Jacobian eigenvalues (equilibria) or
    Floquet multipliers (cycles), sorted by decreasing real part / modulus. stable (n,).
    period, minima, maxima (cycles only: (n,), (n, 4P), (n, 4P)); profiles (n, M, 4P) and
    mesh (n, M) on [0, 1] (cycles, optional). base: the Params of the other (fixed) values.
    special_points: detected bifurcations. message: why continuation stopped (per direction).
    status: how it stopped, a `jaxmf.RESULTS` item: successful (a bound, r reaching 0, a closed
    curve; cycles: back at a Hopf point or a homoclinic approach), out_of_domain (the edge of the
    valid parameter domain), max_steps_reached (max_points) or not_converged (the corrector
    failed). data: further per-point columns by name, each (n,) (e.g. 'omega', 'l1', 'kappa' on
    a Hopf curve, 'a' on a fold curve); written to CSV/JSON as extra columns.

    Attributes
    ----------
    kind : str
        One of BRANCH_KINDS.
    param : tuple of str
        Continuation parameter name(s).
    values : jax.Array
        Shape (n, len(param)).
    states, eigenvalues : jax.Array
        Shape (n, 4P); eigenvalues are complex.
    stable : jax.Array
        Shape (n,).
    base : Params
        The fixed parameters.
    special_points : tuple of SpecialPoint
    period, minima, maxima, profiles, mesh : jax.Array or None
        Cycle branches only.
    message : str
    data : dict
    status : RESULTS

    Examples
    --------
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> from jaxmf import bifurcation as bf, presets
    >>> p = presets.chen_campbell_2022(rounded=True, eta_bar=0.08)
    >>> b = bf.continue_equilibria(p, "eta_bar", (0.05, 0.1))
    >>> b.kind, b.param, b.values.shape[1], b.states.shape[1]
    ('equilibrium', ('eta_bar',), 1, 4)
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
    data: dict = eqx.field(default_factory=dict)
    status: Any = eqx.field(default_factory=lambda: RESULTS.successful)

    def __check_init__(self):
        if self.kind not in BRANCH_KINDS:
            raise ParameterError(
                "kind", f"must be one of {', '.join(BRANCH_KINDS)}; got {self.kind!r}"
            )

    def __len__(self) -> int:
        return int(np.shape(self.values)[0])

    @property
    def n_populations(self) -> int:
        return int(np.shape(self.states)[-1]) // (
            4 if getattr(self.base, "tau_r", None) is None else 5
        )

    def params_at(self, i: int) -> Params:
        """The full Params of point i.

        Parameters
        ----------
        i : int
            Point index.

        Returns
        -------
        Params
            `base` with the continuation parameter(s) set to point i's values.

        Examples
        --------
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmf import bifurcation as bf, presets
        >>> p = presets.chen_campbell_2022(rounded=True, eta_bar=0.08)
        >>> b = bf.continue_equilibria(p, "eta_bar", (0.05, 0.1))
        >>> float(b.params_at(0).eta_bar[0]) == float(b.values[0, 0])
        True
        """
        p = self.base
        for name, x in zip(self.param, np.asarray(self.values)[i]):
            p = set_parameter(p, name, x)
        return p

    def variable(self, name: str, population: int = 0, which: str = "state") -> np.ndarray:
        """Column of a variable of one population.

        Parameters
        ----------
        name : str
            'r', 'v', 'w' or 's'.
        population : int
            Population index.
        which : str
            'state', or 'min' / 'max' (cycle branches).

        Returns
        -------
        numpy.ndarray
            Shape (n,).

        Raises
        ------
        ParameterError
            An unknown variable, or 'min' / 'max' on a branch of equilibria.

        Examples
        --------
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmf import bifurcation as bf, presets
        >>> p = presets.chen_campbell_2022(rounded=True, eta_bar=0.08)
        >>> b = bf.continue_equilibria(p, "eta_bar", (0.05, 0.1))
        >>> bool((b.variable("r") > 0).all())
        True
        """
        if name not in _VARIABLES:
            raise ParameterError("variable", f"must be one of r, v, w, s; got {name!r}")
        col = _VARIABLES.index(name) * self.n_populations + population
        table = {"state": self.states, "min": self.minima, "max": self.maxima}[which]
        if table is None:
            raise ParameterError("which", f"{which!r} needs a cycle branch")
        return np.asarray(table)[:, col]

    def labels(self) -> list[str]:
        """Per-point special-point label ('' where none), at each point's `index`.

        Returns
        -------
        list of str
            One label per point; several kinds at one point are joined by commas.

        Examples
        --------
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmf import bifurcation as bf, presets
        >>> p = presets.chen_campbell_2022(rounded=True, eta_bar=0.08)
        >>> b = bf.continue_equilibria(p, "eta_bar", (0.05, 0.1))
        >>> [label for label in b.labels() if label]
        ['hopf']
        """
        out = [""] * len(self)
        for sp in self.special_points:
            if 0 <= sp.index < len(self):
                out[sp.index] = ",".join(x for x in (out[sp.index], sp.kind) if x)
        return out

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
        for name, x in self.data.items():
            cols.setdefault(name, np.asarray(x))
        return cols

    def to_csv(self, path) -> Path:
        """One row per point: parameter(s), state, period/min/max (cycles), eigenvalues or
        multipliers (re, im), stable (0/1), label. Written atomically.

        Parameters
        ----------
        path : str or pathlib.Path

        Returns
        -------
        pathlib.Path
            The file written.

        Examples
        --------
        >>> import csv, os, tempfile
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmf import bifurcation as bf, presets
        >>> p = presets.chen_campbell_2022(rounded=True, eta_bar=0.08)
        >>> b = bf.continue_equilibria(p, "eta_bar", (0.05, 0.1))
        >>> path = b.to_csv(os.path.join(tempfile.mkdtemp(), "branch.csv"))
        >>> rows = list(csv.DictReader(open(path)))
        >>> len(rows) == len(b), [r["label"] for r in rows if r["label"]]
        (True, ['hopf'])
        """
        cols = self._columns()
        labels = self.labels()
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow([*cols, "label"])
        for i in range(len(self)):
            writer.writerow([repr(float(c[i])) for c in cols.values()] + [labels[i]])
        return atomic_write_text(path, text.getvalue())

    def to_json(self, path) -> Path:
        """Everything needed by `Branch.from_json`: columns, base parameters, special points,
        status. Strict JSON, written atomically (NaN as null, infinities as "inf"/"-inf").

        Parameters
        ----------
        path : str or pathlib.Path

        Returns
        -------
        pathlib.Path
            The file written.

        Examples
        --------
        >>> import json, os, tempfile
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmf import bifurcation as bf, presets
        >>> p = presets.chen_campbell_2022(rounded=True, eta_bar=0.08)
        >>> b = bf.continue_equilibria(p, "eta_bar", (0.05, 0.1))
        >>> path = b.to_json(os.path.join(tempfile.mkdtemp(), "branch.json"))
        >>> doc = json.load(open(path))
        >>> doc["kind"], doc["status"], len(doc["special_points"])
        ('equilibrium', 'ok', 1)
        """
        base = {f.name: getattr(self.base, f.name) for f in _fields(self.base)}
        doc = {
            "kind": self.kind,
            "param": list(self.param),
            "message": self.message,
            "status": str(_status_name(self.status)),
            "status_code": int(status_codes(self.status)),
            "base": base,
            "n_populations": self.n_populations,
            "columns": self._columns(),
            "special_points": [sp.summary() for sp in self.special_points],
        }
        if self.profiles is not None:
            doc["profiles"] = np.asarray(self.profiles)
            doc["mesh"] = np.asarray(self.mesh)
        return write_json(path, doc)

    @classmethod
    def from_json(cls, path) -> Branch:
        """Read a branch written by `to_json`.

        Parameters
        ----------
        path : str or pathlib.Path

        Returns
        -------
        Branch

        Raises
        ------
        ValueError
            A damaged file (the message names it).

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> import jax
        >>> jax.config.update("jax_enable_x64", True)
        >>> from jaxmf import bifurcation as bf, presets
        >>> p = presets.chen_campbell_2022(rounded=True, eta_bar=0.08)
        >>> b = bf.continue_equilibria(p, "eta_bar", (0.05, 0.1))
        >>> back = bf.Branch.from_json(b.to_json(os.path.join(tempfile.mkdtemp(), "b.json")))
        >>> bool(np.array_equal(back.states, b.states)), back.labels() == b.labels()
        (True, True)
        """
        doc = read_json(path, what="branch file")
        number = lambda v: np.asarray(from_json_number(v), dtype=float)
        cols = {k: number(v) for k, v in doc["columns"].items()}
        p = doc["n_populations"]
        names = [f"{v}{i}" for v in _VARIABLES for i in range(p)]
        base = Params(**{k: number(v) for k, v in doc["base"].items()})
        n_ev = sum(1 for k in cols if k.startswith("ev") and k.endswith("_re"))
        ev = np.stack([cols[f"ev{j}_re"] + 1j * cols[f"ev{j}_im"] for j in range(n_ev)], axis=1)
        table = lambda suffix: (
            np.stack([cols[f"{n}{suffix}"] for n in names], axis=1)
            if f"{names[0]}{suffix}" in cols
            else None
        )
        param = tuple(doc["param"])
        standard = set(
            cls(
                kind=doc["kind"],
                param=param,
                values=jnp.zeros((1, len(param))),
                states=jnp.zeros((1, 4 * p)),
                eigenvalues=jnp.zeros((1, n_ev)),
                stable=jnp.zeros(1, bool),
                base=base,
                period=jnp.zeros(1) if "period" in cols else None,
                minima=jnp.zeros((1, 4 * p)) if table("_min") is not None else None,
                maxima=jnp.zeros((1, 4 * p)) if table("_max") is not None else None,
            )._columns()
        )
        data = {k: jnp.asarray(v) for k, v in cols.items() if k not in standard}
        sps = []
        for d in doc["special_points"]:
            value = number(d["value"])
            q = base
            for name, x in zip(param if value.ndim else param[:1], np.atleast_1d(value)):
                q = set_parameter(q, name, x)
            extra = {
                k: np.asarray(from_json_number(v))
                for k, v in d.items()
                if k
                not in (
                    "kind",
                    "param",
                    "value",
                    "index",
                    "converged",
                    "state",
                    "first_lyapunov",
                    "frequency",
                    "period",
                    "multiplier",
                    "criticality",
                )
            }
            mult = d.get("multiplier")
            sps.append(
                SpecialPoint(
                    kind=d["kind"],
                    param=tuple(d["param"]),
                    value=jnp.asarray(value),
                    state=jnp.asarray(number(d["state"])),
                    params=q,
                    index=d["index"],
                    converged=d["converged"],
                    first_lyapunov=jnp.asarray(number(d.get("first_lyapunov", np.nan))),
                    frequency=jnp.asarray(number(d.get("frequency", np.nan))),
                    period=jnp.asarray(number(d.get("period", np.nan))),
                    multiplier=jnp.asarray(
                        complex(*from_json_number(mult)) if mult else np.nan + 0j
                    ),
                    data=extra,
                )
            )
        return cls(
            kind=doc["kind"],
            param=param,
            values=jnp.asarray(np.stack([cols[n] for n in param], axis=1)),
            states=jnp.asarray(table("")),
            eigenvalues=jnp.asarray(ev),
            stable=jnp.asarray(cols["stable"].astype(bool)),
            base=base,
            special_points=tuple(sps),
            period=jnp.asarray(cols["period"]) if "period" in cols else None,
            minima=_maybe(table("_min")),
            maxima=_maybe(table("_max")),
            profiles=_maybe(doc.get("profiles")),
            mesh=_maybe(doc.get("mesh")),
            message=doc["message"],
            data=data,
            status=from_codes(doc.get("status_code", 0)),
        )


def _maybe(x):
    return None if x is None else jnp.asarray(np.asarray(from_json_number(x), dtype=float))


def _status_name(status) -> str:
    return str(np.asarray(status_names(status)).reshape(-1)[0])


def _fields(module):
    """The array fields of a module, without static ones and absent model extensions."""
    return [
        f
        for f in dataclasses.fields(module)
        if not f.metadata.get("static", False) and getattr(module, f.name) is not None
    ]


def _on_cpu(fn):
    """Run a host-driven continuation routine on the CPU: its kernels are tiny and
    latency-bound, and the eigenvalue solver (jnp.linalg.eig) is a CPU routine in jaxlib."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            cpu = jax.devices("cpu")[0]
        except RuntimeError:
            return fn(*args, **kwargs)
        move = lambda x: jax.device_put(x, cpu) if isinstance(x, jax.Array) else x
        args, kwargs = jax.tree.map(move, (args, kwargs))
        with jax.default_device(cpu):
            return fn(*args, **kwargs)

    return wrapper


def meanfield_vector_field(x: jax.Array, params: Params) -> jax.Array:
    """The exact mean field (Chen & Campbell 2022) on a flat state (r, v, w, s), autonomous (no
    extra input). Every vector field in jaxmf's continuation has this signature, f(x, params).

    Parameters
    ----------
    x : jax.Array
        Flat state (r, v, w, s) blocks of length P.
    params : Params

    Returns
    -------
    jax.Array
        dx/dt, the same shape as x.

    Examples
    --------
    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp
    >>> from jaxmf import Params
    >>> from jaxmf.bifurcation import meanfield_vector_field
    >>> meanfield_vector_field(jnp.array([0.1, -1.0, 0.0, 0.0]), Params()).shape
    (4,)
    """
    return flat_state(chen_campbell(0.0, unflat_state(x, params), (params, None)))


class _Family(NamedTuple):
    """Params as an affine function of the free parameters: origin + sum_k lam_k directions[k].
    Every named parameter enters `Params` affinely (kappa too: fractions = (kappa, 1 - kappa)),
    so compiled kernels take the family as data and never recompile for another name. The same
    holds for a dict of scalars (the parameters of a user vector field)."""

    origin: Any
    directions: tuple[Any, ...]


def _family(params, names: tuple[str, ...]) -> _Family:
    zero = with_parameters(params, names, [0.0] * len(names))
    dirs = tuple(
        jax.tree.map(jnp.subtract, with_parameter(zero, name, 1.0), zero) for name in names
    )
    return _Family(zero, dirs)


def _at(family: _Family, lam):
    return jax.tree.map(
        lambda c, *ds: c + sum(lam[k] * d for k, d in enumerate(ds)),
        family.origin,
        *family.directions,
    )


def _d2(f, x, u, v):
    return derivative(f, x, [u, v])


def _bilinear(f, x, u, v):
    """B(u, v) = D^2 f(x)[u, v] for complex u, v."""
    return complex_forms(f, x, (u, v))[0]


def _trilinear(f, x, u, v, w):
    """C(u, v, w) = D^3 f(x)[u, v, w] for complex u, v, w."""
    return complex_forms(f, x, (u, v, w))[0]


def _adjoint_eigenvector(A, q, omega):
    """p with A^T p = -i omega p and <p, q> = conj(p) . q = 1 (bordered solve: differentiable)."""
    n = A.shape[0]
    eye = jnp.eye(n, dtype=A.dtype)
    shift = jax.lax.complex(jnp.zeros_like(eye), omega * eye).astype(q.dtype)
    M = jnp.block(
        [
            [A.T.astype(q.dtype) + shift, q[:, None]],
            [jnp.conj(q)[None, :], jnp.zeros((1, 1), q.dtype)],
        ]
    )
    rhs = jnp.zeros(n + 1, q.dtype).at[n].set(1.0)
    return jnp.linalg.solve(M, rhs)[:n]


def _lyapunov(f, x, q, omega):
    """Kuznetsov (3.20) with A q = i omega q, <q, q> = 1, A^T p = -i omega p, <p, q> = 1."""
    A = jax.jacfwd(f)(x)
    n = A.shape[0]
    q = q / jnp.linalg.norm(q).astype(q.dtype)
    p = _adjoint_eigenvector(A, q, omega)
    qb = jnp.conj(q)
    h11 = jnp.linalg.solve(A.astype(q.dtype), _bilinear(f, x, q, qb))
    eye = jnp.eye(n, dtype=A.dtype)
    h20 = jnp.linalg.solve(
        jax.lax.complex(-A, 2 * omega * eye).astype(q.dtype), _bilinear(f, x, q, q)
    )
    value = (
        jnp.vdot(p, _trilinear(f, x, q, q, qb))
        - 2 * jnp.vdot(p, _bilinear(f, x, q, h11))
        + jnp.vdot(p, _bilinear(f, x, qb, h20))
    )
    return jnp.real(value) / (2 * omega.astype(jnp.real(value).dtype))


def _critical_pair(A, frequency=None):
    """(omega, q) of the eigenvalue with the smallest |Re| among those with Im > 0, or, for a
    frequency that is not NaN, of the eigenvalue nearest i * frequency."""
    ev, vecs = jnp.linalg.eig(A)
    score = jnp.where(jnp.imag(ev) > 0, jnp.abs(jnp.real(ev)), jnp.inf)
    if frequency is not None:
        near = jnp.abs(ev - jax.lax.complex(jnp.zeros_like(frequency), frequency))
        score = jnp.where(jnp.isnan(frequency), score, near)
    k = jnp.argmin(score)
    return jnp.imag(ev[k]), vecs[:, k] / jnp.linalg.norm(vecs[:, k]).astype(vecs.dtype)


def first_lyapunov_coefficient(f, x, omega=None, q=None) -> jax.Array:
    """First Lyapunov coefficient of x' = f(x) at a Hopf equilibrium x (Kuznetsov, Elements of
    Applied Bifurcation Theory, 3rd ed., eq. (3.20), with <q, q> = 1 and <p, q> = 1).

    f: a function R^n -> R^n (parameters fixed). omega, q: the critical frequency and eigenvector
    (A q = i omega q); by default the eigenvalue pair closest to the imaginary axis (Im > 0).
    Negative l1: supercritical (stable cycle), positive: subcritical. Its value depends on the
    coordinates and on the normalisation of q (only the sign is invariant): with <q, q> = 1 (as
    in MatCont) the planar normal form x' = -y + s x (x^2 + y^2), y' = x + s y (x^2 + y^2) has
    l1 = 2 s, because the complex coordinate z with x = 2 Re(z q) is (x + i y)/sqrt(2); halve it
    for the convention in which that normal form has l1 = s. Differentiable in x and in f's
    closure when q and omega are given.

    Parameters
    ----------
    f : callable
        x -> dx/dt, R^n -> R^n.
    x : array_like
        The Hopf equilibrium.
    omega : float, optional
        The critical frequency.
    q : array_like, optional
        The critical eigenvector, A q = i omega q.

    Returns
    -------
    jax.Array
        l1, a real scalar.

    Examples
    --------
    The Hopf normal form with s = -0.5 has l1 = 2 s = -1 (supercritical):

    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp
    >>> from jaxmf import first_lyapunov_coefficient
    >>> s = -0.5
    >>> f = lambda x: jnp.array([-x[1] + s * x[0] * (x[0] ** 2 + x[1] ** 2),
    ...                          x[0] + s * x[1] * (x[0] ** 2 + x[1] ** 2)])
    >>> round(float(first_lyapunov_coefficient(f, jnp.zeros(2))), 6)
    -1.0
    """
    x = jnp.asarray(x)
    if omega is None or q is None:
        w0, q0 = _critical_pair(jax.jacfwd(f)(jax.lax.stop_gradient(x)))
        omega = w0 if omega is None else omega
        q = q0 if q is None else q
    return _lyapunov(f, x, jnp.asarray(q, complex), jnp.asarray(omega))


def _fold_coefficient(f, x, v):
    """a = 1/2 <p, B(q, q)> with q = v/|v|, A^T p = 0, <p, q> = 1 (fold normal form)."""
    A = jax.jacfwd(f)(x)
    q = v / jnp.linalg.norm(v)
    n = A.shape[0]
    M = jnp.block([[A.T, q[:, None]], [q[None, :], jnp.zeros((1, 1), q.dtype)]])
    p = jnp.linalg.solve(M, jnp.zeros(n + 1, q.dtype).at[n].set(1.0))[:n]
    return 0.5 * jnp.dot(p, _d2(f, x, q, q))


def _pair_sum_product(ev):
    """prod_{i<j} (lambda_i + lambda_j): real, the determinant of the bialternate product 2A (.) I;
    zero at Hopf points and neutral saddles."""
    i, j = np.triu_indices(ev.shape[0], 1)
    return jnp.real(jnp.prod(ev[i] + ev[j]))


def _sorted_eigenvalues(A):
    ev = jnp.linalg.eigvals(A)
    return ev[jnp.argsort(-jnp.real(ev), stable=True)]


# Defining systems. Unknowns u are flat; `names` (static) are the free parameters.
#   equilibrium: u = (x, lam)                 G = F(x, lam)
#   fold curve:  u = (x, lam1, lam2, v)       G = (F, A v, <v, v> - 1)
#   hopf curve:  u = (x, lam1, lam2, v, k)    G = (F, (A^2 + k) v, <v, v> - 1, <v, w0>), k = omega^2
# The Hopf-curve system stays regular through Bogdanov-Takens points (k = 0) and continues as a
# neutral-saddle curve (k < 0); Kuznetsov's book, section 10.2.2.


def _split(system: str, u, n: int):
    if system == "equilibrium":
        return u[:n], u[n : n + 1], None, None
    if system == "fold":
        return u[:n], u[n : n + 2], u[n + 2 : 2 * n + 2], None
    return u[:n], u[n : n + 2], u[n + 2 : 2 * n + 2], u[2 * n + 2]


def _system(system: str, n: int, u, args):
    x, lam, v, k = _split(system, u, n)
    p = _at(args[0], lam)
    f = lambda y: meanfield_vector_field(y, p)
    if system == "equilibrium":
        return f(x)
    fx, Av = jax.jvp(f, (x,), (v,))
    if system == "fold":
        return jnp.concatenate([fx, Av, (v @ v - 1)[None]])
    AAv = jax.jvp(f, (x,), (Av,))[1]
    w0 = args[1]
    return jnp.concatenate([fx, AAv + k * v, (v @ v - 1)[None], (v @ w0)[None]])


@partial(jax.jit, static_argnames=("system", "n", "max_iter"))
def _correct(system, n, u_pred, c, target, t_orient, args, tol, max_iter=12):
    """Newton on [G(u); c.u - target] = 0 from u_pred (bordered system), then the tangent t with
    [G_u; t_orient^T] t = e_last (keeps orientation), |t| = 1."""
    G = lambda u: _system(system, n, u, args)
    m = u_pred.shape[0]

    def step(u):
        g = jnp.concatenate([G(u), (c @ u - target)[None]])
        M = jnp.concatenate([jax.jacfwd(G)(u), c[None]], axis=0)
        return -jnp.linalg.solve(M, g)

    u, k, err = newton(step, u_pred, tol=tol, max_iter=max_iter)
    Gu = jax.jacfwd(G)(u)
    e = jnp.zeros(m, u.dtype).at[-1].set(1.0)
    t = jnp.linalg.solve(jnp.concatenate([Gu, t_orient[None]], axis=0), e)
    t = t / jnp.linalg.norm(t)
    residual = jnp.max(jnp.abs(G(u)))
    ok = (err <= tol) & (residual < 1e3 * tol) & jnp.all(jnp.isfinite(u)) & jnp.all(jnp.isfinite(t))
    return u, t, k, ok


@partial(jax.jit, static_argnames=("system", "n"))
def _observe(system, n, u, t, args):
    """Eigenvalues (sorted by decreasing real part), stability and the test functions at a point.

    equilibrium: (fold: t_lam, hopf: bialternate determinant, bp: det [G_u; t^T]);
    fold curve:  (bt: det [[A, v], [v^T, 0]], cusp: a, zh: bialternate of the n-1 others);
    hopf curve:  (bt: k, gh: l1, zh: product of the n-2 others, hh: their bialternate).
    """
    x, lam, v, k = _split(system, u, n)
    p = _at(args[0], lam)
    f = lambda y: meanfield_vector_field(y, p)
    A = jax.jacfwd(f)(x)
    ev = _sorted_eigenvalues(A)
    if system == "equilibrium":
        Gu = jax.jacfwd(lambda w: _system(system, n, w, args))(u)
        bp = jnp.linalg.det(jnp.concatenate([Gu, t[None]], axis=0))
        tests = jnp.stack([t[-1], _pair_sum_product(ev), bp])
        return ev, jnp.all(jnp.real(ev) < 0), tests
    if system == "fold":
        others = ev[jnp.argsort(jnp.abs(ev))[1:]]
        bordered = jnp.block([[A, v[:, None]], [v[None, :], jnp.zeros((1, 1), A.dtype)]])
        tests = jnp.stack(
            [jnp.linalg.det(bordered), _fold_coefficient(f, x, v), _pair_sum_product(others)]
        )
        return ev, jnp.all(jnp.real(others) < 0), tests
    mu = jnp.sqrt((-k).astype(ev.dtype))
    dist = jnp.minimum(jnp.abs(ev - mu), jnp.abs(ev + mu))
    others = ev[jnp.argsort(dist)[2:]]
    omega = jnp.sqrt(jnp.maximum(k, 0.0))
    q = jax.lax.complex(A @ v, omega * v)
    l1 = jnp.where(k > 0, _lyapunov(f, x, q, jnp.where(k > 0, omega, 1.0)), jnp.nan)
    tests = jnp.stack([k, l1, jnp.real(jnp.prod(others)), _pair_sum_product(others)])
    return ev, jnp.all(jnp.real(others) < 0), tests


# Newton refinement of fold and Hopf points on their standard defining systems (the refined point
# is differentiable in `params` by the implicit function theorem):
#   fold: y = (x, lam, v),             F = 0, A v = 0, <v, v> = 1
#   hopf: y = (x, lam, Re q, Im q, w), F = 0, (A - i w) q = 0, <q0, q> = 1 (q0 fixed reference)


def _fold_residual(y, args, n, f):
    family, _ = args
    x, v = y[:n], y[n + 1 :]
    p = _at(family, y[n : n + 1])
    fx, Av = jax.jvp(lambda z: f(z, p), (x,), (v,))
    return jnp.concatenate([fx, Av, (v @ v - 1)[None]])


def _hopf_residual(y, args, n, f):
    family, q0 = args
    x, qr, qi, om = y[:n], y[n + 1 : 2 * n + 1], y[2 * n + 1 : 3 * n + 1], y[3 * n + 1]
    p = _at(family, y[n : n + 1])
    fp = lambda z: f(z, p)
    fx, Aqr = jax.jvp(fp, (x,), (qr,))
    Aqi = jax.jvp(fp, (x,), (qi,))[1]
    q0r, q0i = jnp.real(q0), jnp.imag(q0)
    norm = jnp.stack([q0r @ qr + q0i @ qi - 1, q0r @ qi - q0i @ qr])
    return jnp.concatenate([fx, Aqr + om * qi, Aqi - om * qr, norm])


_NEWTON_TOL = 1e-10


@partial(jax.jit, static_argnames=("kind", "n", "vector_field"))
def _refine(kind, n, family, y0, ref, vector_field=meanfield_vector_field):
    """Newton on the defining system; returns (y, converged, residual, coefficient) where the
    coefficient is l1 (Hopf) or the fold normal-form coefficient a."""
    residual = partial(_fold_residual if kind == "fold" else _hopf_residual, n=n, f=vector_field)
    y = newton_root(lambda z: residual(z, (family, ref)), y0)
    res = jnp.max(jnp.abs(residual(y, (family, ref))))
    ok = (res < _NEWTON_TOL) & jnp.all(jnp.isfinite(y))
    x = y[:n]
    f = lambda z: vector_field(z, _at(family, y[n : n + 1]))
    if kind == "fold":
        coefficient = _fold_coefficient(f, x, y[n + 1 :])
    else:
        q = jax.lax.complex(y[n + 1 : 2 * n + 1], y[2 * n + 1 : 3 * n + 1])
        coefficient = _lyapunov(f, x, q, jnp.abs(y[3 * n + 1]))
    return y, ok, res, coefficient


def _refine_guess(
    kind: str, name: str, params, state, value, frequency=None, vector_field=meanfield_vector_field
):
    """Initial y and reference vector for `_refine` from an approximate point."""
    frequency = jnp.asarray(np.nan if frequency is None else frequency, float)
    return _refine_guess_jit(
        kind,
        _family(params, (name,)),
        jnp.asarray(state, float),
        jnp.asarray(value, float),
        frequency,
        vector_field,
    )


@partial(jax.jit, static_argnames=("kind", "vector_field"))
def _refine_guess_jit(kind, family, x, value, frequency, vector_field):
    p = _at(family, value.reshape(1))
    A = jax.jacfwd(lambda z: vector_field(z, p))(x)
    lam = value.reshape(1)
    if kind == "fold":
        ev, vecs = jnp.linalg.eig(A)
        k = jnp.argmin(jnp.abs(ev))
        v = jnp.real(vecs[:, k])
        v = v / jnp.linalg.norm(v)
        return jnp.concatenate([x, lam, v]), v
    omega, q = _critical_pair(A, frequency)
    return jnp.concatenate([x, lam, jnp.real(q), jnp.imag(q), omega[None]]), q


def _special_from_refined(
    kind: str, name: str, params, y, ok: bool, coefficient, index: int, n: int
) -> SpecialPoint:
    x, lam = y[:n], y[n]
    p = with_parameter(params, name, lam)
    if kind == "fold":
        a = coefficient
        return SpecialPoint(
            kind="fold",
            param=(name,),
            value=lam,
            state=x,
            params=p,
            index=index,
            converged=bool(ok),
            data={"a": a},
        )
    omega = jnp.abs(y[3 * n + 1])
    l1 = coefficient
    return SpecialPoint(
        kind="hopf",
        param=(name,),
        value=lam,
        state=x,
        params=p,
        index=index,
        converged=bool(ok),
        first_lyapunov=l1,
        frequency=omega,
        period=2 * jnp.pi / omega,
    )


def _locate(kind, params, param, state, value, index, frequency, vector_field, throw):
    f = meanfield_vector_field if vector_field is None else vector_field
    if vector_field is None:
        params = check_params(params)
        parse_parameter(param, params.n_populations)
    check_real("state", state)
    blocks = 4 if vector_field is not None or params.tau_r is None else 5
    if np.ndim(state) != 1 or (
        vector_field is None and np.shape(state)[0] != blocks * params.n_populations
    ):
        want = "(4P,) = (r, v, w, s) blocks" if vector_field is None else "1-D"
        raise ParameterError(
            "state", f"must be a flat state of shape {want}; got shape {np.shape(state)}"
        )
    if value is not None and np.ndim(check_real("value", value)) != 0:
        raise ParameterError("value", f"must be a scalar; got shape {np.shape(value)}")
    value = parameter_value(params, param) if value is None else value
    y0, ref = _refine_guess(kind, param, params, state, value, frequency, f)
    n = int(np.shape(state)[0])
    y, ok, res, coefficient = _refine(kind, n, _family(params, (param,)), y0, ref, f)
    sp = _special_from_refined(kind, param, params, y, ok, coefficient, index, n)
    if throw and not sp.converged:
        raise ContinuationError(
            f"{kind} point in {param}: Newton did not converge (residual "
            f"{float(res):.3g}, needs < {_NEWTON_TOL:g}) from {param}="
            f"{float(np.asarray(value)):.10g}",
            sp,
        )
    return sp


@_on_cpu
def locate_fold(
    params,
    param: str,
    state,
    value=None,
    *,
    index: int = -1,
    vector_field: Callable | None = None,
    throw: bool = True,
) -> SpecialPoint:
    """Refine a fold (limit point) of equilibria by Newton on F = 0, A v = 0, <v, v> = 1.

    Parameters
    ----------
    params : Params
        The parameters (or a dict of scalars, with `vector_field`).
    param : str
        The parameter name, e.g. 'eta_bar'.
    state : Array
        An approximate equilibrium (flat: (r, v, w, s) blocks of length P).
    value : float, optional
        The parameter value there (default: the one in `params`).
    index : int, default -1
        Stored in the point (its position on a branch).
    vector_field : callable, optional
        f(x, params) (default `meanfield_vector_field`).
    throw : bool, default True
        Raise `ContinuationError` when Newton does not reach a residual below 1e-10.

    Returns
    -------
    SpecialPoint
        kind 'fold', with data['a'], the normal-form coefficient a = <p, B(q, q)>/2, and
        `converged` (False only with throw=False).

    Raises
    ------
    ContinuationError
        With `throw`, when Newton does not converge.

    Examples
    --------
    x' = mu - x^2 has its fold at mu = 0, x = 0, with a = -1:

    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> import jax.numpy as jnp
    >>> from jaxmf.bifurcation import locate_fold
    >>> f = lambda x, p: p["mu"] - x ** 2
    >>> sp = locate_fold({"mu": 0.01}, "mu", jnp.array([0.1]), vector_field=f)
    >>> round(float(sp.value), 8), round(float(sp.state[0]), 6), round(float(sp.data["a"]), 6)
    (0.0, 0.0, -1.0)
    """
    return _locate("fold", params, param, state, value, index, None, vector_field, throw)


@_on_cpu
def locate_hopf(
    params,
    param: str,
    state,
    value=None,
    *,
    index: int = -1,
    frequency: float | None = None,
    vector_field: Callable | None = None,
    throw: bool = True,
) -> SpecialPoint:
    """Refine a Hopf point of equilibria by Newton on F = 0, (A - i omega) q = 0, <q0, q> = 1.

    Parameters
    ----------
    params : Params
        The parameters (or a dict of scalars, with `vector_field`).
    param : str
        The parameter name, e.g. 'eta_bar'.
    state : Array
        An approximate equilibrium (flat: (r, v, w, s) blocks of length P).
    value : float, optional
        The parameter value there (default: the one in `params`).
    index : int, default -1
        Stored in the point.
    frequency : float, optional
        Start from the eigenvalue nearest i * frequency (default: the pair nearest the imaginary
        axis); q0 is its eigenvector.
    vector_field : callable, optional
        f(x, params) (default `meanfield_vector_field`).
    throw : bool, default True
        Raise `ContinuationError` when Newton does not reach a residual below 1e-10.

    Returns
    -------
    SpecialPoint
        kind 'hopf', with `frequency` (omega), `period` (2 pi / omega), `first_lyapunov`
        (Kuznetsov's l1) and `converged` (False only with throw=False).

    Raises
    ------
    ContinuationError
        With `throw`, when Newton does not converge.

    Examples
    --------
    Refine from the branch point next to the detected Hopf point (the same value):

    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> from jaxmf import bifurcation as bf, presets
    >>> p = presets.chen_campbell_2022(rounded=True, eta_bar=0.08)
    >>> b = bf.continue_equilibria(p, "eta_bar", (0.05, 0.1))
    >>> i = b.special_points[0].index
    >>> hopf = bf.locate_hopf(p, "eta_bar", b.states[i], float(b.values[i, 0]))
    >>> round(float(hopf.value), 4), round(float(hopf.frequency), 3), hopf.criticality
    (0.0749, 0.028, 'subcritical')
    """
    return _locate("hopf", params, param, state, value, index, frequency, vector_field, throw)


@_on_cpu
def sensitivity(point: SpecialPoint, name: str) -> jax.Array:
    """d(point.value)/d(name): how a refined fold or Hopf point moves in its continuation
    parameter when another parameter `name` changes (implicit function theorem on the defining
    system: forward-mode derivative through lax.custom_root around the Newton solve; one compiled
    kernel for every `name`). Compare `locate_hopf` at nearby parameter values for a
    finite-difference check.

    Parameters
    ----------
    point : SpecialPoint
        A one-parameter 'fold' or 'hopf' point of the mean field.
    name : str
        Another parameter address, e.g. 'w_jump'.

    Returns
    -------
    Array
        The derivative, a scalar.

    Raises
    ------
    ParameterError
        A point of another kind or of two parameters, or `name` equal to its own parameter.

    Examples
    --------
    The derivative agrees with a finite difference of `locate_hopf`:

    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> from jaxmf import bifurcation as bf, presets
    >>> p = presets.chen_campbell_2022(rounded=True, eta_bar=0.08)
    >>> b = bf.continue_equilibria(p, "eta_bar", (0.05, 0.1))
    >>> hopf = b.special_points[0]
    >>> d = float(bf.sensitivity(hopf, "w_jump"))
    >>> h = 1e-5
    >>> moved = bf.locate_hopf(p.replace(w_jump=p.w_jump + h), "eta_bar", hopf.state,
    ...                        float(hopf.value))
    >>> bool(abs((float(moved.value) - float(hopf.value)) / h - d) < 1e-3 * abs(d))
    True
    """
    if point.kind not in ("fold", "hopf") or len(point.param) != 1:
        raise ParameterError(
            "point", f"needs a one-parameter fold or Hopf point; got {point.kind} in {point.param}"
        )
    kind, param = point.kind, point.param[0]
    parse_parameter(name, point.params.n_populations)
    if name == param:
        raise ParameterError("name", f"must differ from the point's own parameter {param!r}")
    y0, ref = _refine_guess(kind, param, point.params, point.state, point.value)
    n = int(point.state.shape[0])
    direction = _family(point.params, (name,)).directions[0]
    dy = _refine_tangent(kind, n, _family(point.params, (param,)), y0, ref, direction)
    return dy[n]


@partial(jax.jit, static_argnames=("kind", "n"))
def _refine_tangent(kind, n, family, y0, ref, direction):
    def solution(theta):
        origin = jax.tree.map(lambda c, d: c + theta * d, family.origin, direction)
        return _refine(kind, n, _Family(origin, family.directions), y0, ref)[0]

    zero = jnp.zeros((), y0.dtype)
    return jax.jvp(solution, (zero,), (jnp.ones_like(zero),))[1]


hopf_sensitivity = sensitivity


# Pseudo-arclength continuation (Keller): tangent predictor u + ds t, corrector on
# [G(u); t.(u - u_pred)] = 0, step adapted to the Newton iteration count. One compiled corrector
# and one compiled observer per (system, parameter names, dimension), reused for every point.

_TESTS = {
    "equilibrium": ("fold", "hopf", "bp"),
    "fold": ("bt", "cusp", "zh"),
    "hopf": ("bt", "gh", "zh", "hh"),
}
_TOL = 1e-10
# How a two-way branch reports its ends: the worse of the two directions.
_SEVERITY = ("successful", "max_steps_reached", "out_of_domain", "not_converged")


class _Curve:
    """Host-side handle on one defining system: correct, observe, trace, locate."""

    def __init__(self, system: str, names: tuple[str, ...], n: int, args, params: Params):
        self.system, self.names, self.n, self.args = system, names, n, args
        self.params = params
        self.n_populations = params.n_populations
        self.progress: Progress | None = None
        self.done = 0

    def correct(self, u_pred, c, target, t_orient, tol=_TOL):
        u, t, k, ok = _correct(
            self.system,
            self.n,
            jnp.asarray(u_pred),
            jnp.asarray(c),
            jnp.asarray(target),
            jnp.asarray(t_orient),
            self.args,
            tol,
        )
        return np.asarray(u), np.asarray(t), int(k), bool(ok)

    def observe(self, u, t):
        ev, stable, tests = _observe(self.system, self.n, jnp.asarray(u), jnp.asarray(t), self.args)
        return np.asarray(ev), bool(stable), np.asarray(tests)

    def update(self, u):
        """Hook for systems whose borders follow the curve (the Hopf curve's w0)."""

    def physical(self, u) -> bool:
        return bool(np.all(u[: self.n_populations] > 0))

    def outside(self, u) -> str:
        """Why the parameters of u break a range rule of `Params`, or ''."""
        return outside_domain(self.params, self.names, u[self.n : self.n + len(self.names)])

    def step(self, u, t, h):
        """One predictor-corrector step of size h: (u, t, Newton iterations), None if rejected."""
        up = u + h * t
        un, tn, iters, ok = self.correct(up, t, t @ up, t)
        # Reject jumps: the tangent may turn by less than ~25 degrees and the corrector must
        # stay near the prediction.
        ok = ok and float(t @ tn) > 0.9 and float(np.linalg.norm(un - up)) < max(0.5 * h, 1e-9)
        return (un, tn, iters) if ok else None

    def trace(self, u0, t0, *, ds, ds_min, ds_max, max_points, bounds):
        """Points (list of u) and tangents along one direction from (u0, t0) until a bound
        (index into u, lo, hi), the edge of the valid parameter domain, max_points, or a step
        below ds_min. Returns (us, ts, status name, message)."""
        us, ts = [np.asarray(u0)], [np.asarray(t0)]
        h = ds
        while len(us) < max_points:
            new = self.step(us[-1], ts[-1], h)
            if new is None:
                if h <= ds_min * (1 + 1e-9):
                    return us, ts, "not_converged", f"corrector failed at step size ds_min={ds_min}"
                h = max(h / 2, ds_min)
                continue
            un, tn, iters = new
            end = self.edge(us, ts, un, tn, bounds)
            if end is not None:
                return us, ts, *end
            us.append(un)
            ts.append(tn)
            self.update(un)
            self.report(un)
            if len(us) > 8 and float(np.linalg.norm(un - us[0])) < 0.75 * h and ts[-2] @ ts[0] > 0:
                return us, ts, "successful", "closed curve"
            if iters <= 3:
                h = min(1.5 * h, ds_max)
            elif iters >= 6:
                h = max(h / 2, ds_min)
        return us, ts, "max_steps_reached", f"max_points={max_points} reached"

    def edge(self, us, ts, un, tn, bounds):
        """(status, message) when the step to un leaves the bounds, the valid parameter domain
        or the physical states (r > 0), after appending the end point; None to go on."""
        u, t = us[-1], ts[-1]
        crossings = []  # (fraction of the step, index into u, value there, status, message)
        for i, lo, hi in bounds:
            if not lo <= un[i] <= hi:
                b = lo if un[i] < lo else hi
                crossings.append(
                    (
                        (b - u[i]) / (un[i] - u[i]),
                        i,
                        b,
                        "successful",
                        f"reached the bound {b:g} of {self._label(i)}",
                    )
                )
        why = self.outside(un)
        if why:
            # The range rules are sign conditions (w_jump >= 0, tau_s > 0, ...): land on 0 when a
            # parameter crosses it and 0 itself is valid, else stop at the last valid point.
            k = len(self.names)
            zero = [i for i in range(self.n, self.n + k) if u[i] * un[i] < 0]
            land = [i for i in zero if not self.outside(np.where(np.arange(len(u)) == i, 0.0, u))]
            if land:
                i = land[0]
                crossings.append(
                    (
                        u[i] / (u[i] - un[i]),
                        i,
                        0.0,
                        "out_of_domain",
                        f"reached the edge of the valid domain, {self._label(i)} = 0 "
                        f"(beyond: {why})",
                    )
                )
            else:
                crossings.append(
                    (
                        0.0,
                        None,
                        None,
                        "out_of_domain",
                        f"stopped at the edge of the valid domain ({why})",
                    )
                )
        if crossings:
            _, i, b, status, message = min(crossings, key=lambda c: c[0])
            if i is not None:
                guess = u + (b - u[i]) / (un[i] - u[i]) * (un - u)
                c = np.zeros_like(u)
                c[i] = 1.0
                ue, te, _, ok = self.correct(guess, c, b, t)
                if ok:
                    us.append(ue)
                    ts.append(te)
            return status, message
        if not self.physical(un):
            # Keep this first point past r = 0 so that a crossing (e.g. the transcritical
            # branch point with the r = 0 branch at delta_eta = 0) is still detected.
            us.append(un)
            ts.append(tn)
            return "successful", "rate reached zero"
        return None

    def report(self, u):
        self.done += 1
        if self.progress is not None:
            values = ", ".join(f"{name}={u[self.n + k]:.6g}" for k, name in enumerate(self.names))
            self.progress.update(self.done, values)

    def _label(self, i):
        k = i - self.n
        return self.names[k] if 0 <= k < len(self.names) else f"u[{i}]"

    def locate(self, ua, ta, ub, j, fa, fb, max_iter=60):
        """Zero of test function j between consecutive points a, b (regula falsi on the chord
        parameter; every trial point is corrected onto the curve on the hyperplane orthogonal to
        the chord). Returns (u, t, value, converged)."""
        d = ub - ua
        c = d / np.linalg.norm(d)
        scale = max(abs(fa), abs(fb))

        def evaluate(s):
            up = ua + s * d
            u, t, _, ok = self.correct(up, c, c @ up, ta)
            return (float(self.observe(u, t)[2][j]), (u, t)) if ok else (np.nan, None)

        found, fs = regula_falsi(
            evaluate, fa, fb, x_tol=1e-13 / np.linalg.norm(d), max_iter=max_iter
        )
        if found is None:
            u, t, fs = (ua, ta, fa) if abs(fa) < abs(fb) else (ub, ta, fb)
        else:
            u, t = found
        return u, t, fs, bool(abs(fs) <= 1e-9 * scale)


class _HopfCurve(_Curve):
    def update(self, u):
        self.args = (self.args[0], _hopf_border(self.n, jnp.asarray(u), self.args[0]))


@partial(jax.jit, static_argnames=("n",))
def _hopf_border(n, u, family):
    """w0 = A v - (v.A v) v normalised: in the critical 2-plane, orthogonal to the current v."""
    x, lam, v, _ = _split("hopf", u, n)
    p = _at(family, lam)
    Av = jax.jvp(lambda y: meanfield_vector_field(y, p), (x,), (v,))[1]
    w = Av - (v @ Av) * v
    return w / jnp.linalg.norm(w)


def _both_directions(curve: _Curve, u0, t0, direction: str, progress: bool, **kwargs):
    """Trace forward (+t0) and/or backward; merge into one consistently oriented list.
    Returns (us, ts, status, message)."""
    if direction not in ("both", "forward", "backward"):
        raise ParameterError(
            "direction", f"must be 'both', 'forward' or 'backward'; got {direction!r}"
        )
    ways = 2 if direction == "both" else 1
    curve.progress = Progress(
        f"{curve.system} branch in {', '.join(curve.names)}",
        ways * kwargs["max_points"],
        enabled=progress,
        unit=" points",
    )
    us, ts, messages, statuses = [np.asarray(u0)], [np.asarray(t0)], [], []
    args0 = curve.args
    if direction in ("both", "backward"):
        ub, tb, sb, mb = curve.trace(u0, -t0, **kwargs)
        us, ts = [u for u in ub[::-1]], [-t for t in tb[::-1]]
        messages.append(f"backward: {mb}")
        statuses.append(sb)
    if direction in ("both", "forward"):
        curve.args = args0
        uf, tf, sf, mf = curve.trace(u0, t0, **kwargs)
        us, ts = us + uf[1:], ts + tf[1:]
        messages.append(f"forward: {mf}")
        statuses.append(sf)
    if direction == "backward":
        # Report the branch in the order it was traced.
        us, ts = us[::-1], [-t for t in ts[::-1]]
    curve.args = args0
    message = "; ".join(messages)
    curve.progress.close(message)
    status = getattr(RESULTS, max(statuses, key=_SEVERITY.index))
    return np.stack(us), np.stack(ts), status, message


def _scan(curve: _Curve, us, ts):
    obs = [curve.observe(u, t) for u, t in zip(us, ts)]
    ev = np.stack([o[0] for o in obs])
    stable = np.array([o[1] for o in obs])
    tests = np.stack([o[2] for o in obs])
    return ev, stable, tests


def _sign_changes(tests, j):
    f = tests[:, j]
    with np.errstate(invalid="ignore"):
        change = np.sign(f[:-1]) * np.sign(f[1:]) < 0
    return [int(i) for i in np.nonzero(change)[0]]


def _nearest(us, u, i):
    return i if np.linalg.norm(us[i] - u) <= np.linalg.norm(us[i + 1] - u) else i + 1


def _critical_kind(ev, tol=1e-8):
    """'hopf' when the eigenvalue pair with the smallest |l_i + l_j| is complex, else
    'neutral_saddle' (a real pair +-mu: the bialternate test vanishes but nothing bifurcates)."""
    i, j = np.triu_indices(len(ev), 1)
    k = int(np.argmin(np.abs(ev[i] + ev[j])))
    a, b = ev[i[k]], ev[j[k]]
    return "hopf" if min(abs(a.imag), abs(b.imag)) > tol * (1 + abs(a)) else "neutral_saddle"


def _default_state(params: Params, param: str, start):
    """Flat starting equilibrium: `start` as a state (4P), an index into meanfield_equilibria's
    list, or None (the first equilibrium found)."""
    if start is not None and np.ndim(start) > 0:
        return jnp.asarray(start, float)
    eq = meanfield_equilibria(params)
    valid = np.nonzero(np.asarray(eq.valid))[0]
    if valid.size == 0:
        raise ParameterError(
            "start",
            f"meanfield_equilibria found no equilibrium at {param}="
            f"{float(get_parameter(params, param))}; pass a state",
        )
    k = 0 if start is None else int(start)
    if k >= valid.size:
        raise ParameterError("start", f"index {k} but only {valid.size} equilibria were found")
    i = valid[k]
    y: MeanFieldState | MeanFieldRiseState = MeanFieldState(eq.r[i], eq.v[i], eq.w[i], eq.s[i])
    if params.tau_r is not None:  # x* = tau_r s_jump r* of second-order synapses
        y = MeanFieldRiseState(y.r, y.v, y.w, y.s, params.tau_r * params.s_jump * eq.r[i])
    return flat_state(y)


@partial(jax.jit, static_argnames=("system", "n"))
def _system_jacobian(system, n, u, args):
    return jax.jacfwd(lambda w: _system(system, n, w, args))(u)


@jax.jit
def _jacobian(x, params):
    return jax.jacfwd(meanfield_vector_field)(x, params)


@jax.jit
def _critical_pair_jit(x, params):
    return _critical_pair(_jacobian(x, params))


def _initial_tangent(curve: _Curve, u, sign_index: int):
    """Kernel of G_u at u (last right singular vector), oriented so that u[sign_index] grows."""
    Gu = np.asarray(_system_jacobian(curve.system, curve.n, jnp.asarray(u), curve.args))
    t = np.linalg.svd(Gu)[2][-1]
    if t[sign_index] < 0:
        t = -t
    return t


def _check_model(model: str):
    if model != "chen_campbell":
        raise ParameterError(
            "model",
            f"continuation is implemented for the exact mean field "
            f"'chen_campbell' only; got {model!r}",
        )


def _check_bounds(name, bounds, value):
    try:
        if isinstance(bounds, (str, bytes)) or len(bounds) != 2:
            raise TypeError
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ParameterError(
            "bounds", f"give the interval of {name} as (lo, hi); got {bounds!r}"
        ) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ParameterError("bounds", f"need finite lo < hi for {name}; got {bounds}")
    if not lo <= float(value) <= hi:
        raise ParameterError("bounds", f"the start {name}={float(value):g} is outside {bounds}")
    return lo, hi


def _check_steps(ds, ds_min, ds_max, max_points):
    for name, x in (("ds", ds), ("ds_min", ds_min), ("ds_max", ds_max)):
        check_positive(name, x)
    if (
        isinstance(max_points, bool)
        or not isinstance(max_points, (int, np.integer))
        or max_points < 2
    ):
        raise ParameterError("max_points", f"must be an integer >= 2; got {max_points!r}")


def _finish(branch: Branch, what: str, throw: bool) -> Branch:
    """The branch, or (throw=True) ContinuationError when its corrector failed."""
    if throw and branch.status == RESULTS.not_converged:
        raise ContinuationError(
            f"{what}: {branch.message}; the branch so far is in .result "
            "(throw=False returns it with status not_converged)",
            branch,
        )
    return branch


@_on_cpu
def continue_equilibria(
    params: Params,
    param: str,
    bounds=(0.0, 0.3),
    *,
    start=None,
    ds: float = 0.005,
    ds_min: float = 1e-6,
    ds_max: float = 0.02,
    max_points: int = 1000,
    direction: str = "both",
    model: str = "chen_campbell",
    progress: bool = False,
    throw: bool = True,
) -> Branch:
    """Continue a branch of equilibria of the exact mean field in one parameter.

    Stability from the Jacobian's eigenvalues (jax.jacfwd). Special points: folds (the tangent's
    parameter component changes sign) and Hopf points (the bialternate-product determinant
    prod_{i<j}(l_i + l_j) changes sign with a complex critical pair), both refined by Newton on
    their standard defining systems (`locate_fold`, `locate_hopf`) to a residual below 1e-10,
    with l1 and omega at Hopf points; sign changes with a real critical pair are reported as
    'neutral_saddle', not Hopf. Branch points ('bp'): sign change of det [G_u; t^T], located by
    regula falsi along the branch. A point whose refinement failed is kept with
    `converged=False` (its value is then the located zero of the test function).

    Parameters
    ----------
    params : Params
        The starting parameters (P populations).
    param : str
        Any parameter address: 'eta_bar', 'eta_bar[1]', 'delta_eta', 'w_jump', 'i_ext',
        'g[0,1]', 'kappa', ...
    bounds : tuple of float, default (0.0, 0.3)
        The parameter interval; the branch ends on either bound (its last point lies on it)
        and at the edge of the valid domain of `Params` (e.g. w_jump >= 0).
    start : None, int or Array, optional
        The starting equilibrium: None (the first of `meanfield_equilibria`), an index into that
        list, or a flat state (r, v, w, s blocks).
    ds, ds_min, ds_max : float
        Initial, smallest and largest pseudo-arclength step in (state, parameter) space; lower
        ds_max for a finer table.
    max_points : int, default 1000
        Most points per direction.
    direction : str, default 'both'
        'both', 'forward' (increasing the parameter) or 'backward'.
    model : str, default 'chen_campbell'
        The mean-field model.
    progress : bool, default False
        Print a progress line.
    throw : bool, default True
        Raise `ContinuationError` when Newton fails at the start or the corrector fails before
        the branch ends.

    Returns
    -------
    Branch
        kind 'equilibrium'; `status` says how it ended (successful: a bound, r reaching 0 or a
        closed curve; out_of_domain; max_steps_reached; not_converged) and `message` why.

    Raises
    ------
    ParameterError
        An unknown parameter or model, bad bounds or step sizes.
    ContinuationError
        With `throw`, when the corrector fails.

    Examples
    --------
    >>> import jaxmf
    >>> branch = jaxmf.continue_equilibria(jaxmf.presets.chen_campbell_2022(rounded=True),
    ...                                    "eta_bar", (0.0, 0.3))
    >>> [sp.kind for sp in branch.special_points]
    ['hopf', 'hopf']
    """
    params = check_params(params)
    if params.delay is not None:
        if parse_parameter(param, params.n_populations).field == "delay":
            # Imported here: jaxmf.dde_bifurcation builds on this module's Branch.
            from .dde_bifurcation import continue_delay

            return continue_delay(params, param, bounds, start=start)
        raise ParameterError(
            "delay",
            "equilibria of the delayed mean field are continued in the delay "
            "(continue_equilibria(p, 'delay', ...) or jaxmf.continue_delay); in another "
            "parameter their stability needs the characteristic roots, not done here: "
            "continue with delay=None and check points with meanfield_equilibria",
        )
    _check_model(model)
    _check_steps(ds, ds_min, ds_max, max_points)
    value = get_parameter(params, param)
    lo, hi = _check_bounds(param, bounds, value)
    x0 = _default_state(params, param, start)
    n = int(x0.shape[0])
    names = (param,)
    curve = _Curve("equilibrium", names, n, (_family(params, names),), params)
    u0 = np.concatenate([np.asarray(x0), [float(value)]])
    c = np.zeros(n + 1)
    c[n] = 1.0
    u0, _, _, ok = curve.correct(u0, c, float(value), c)
    if not ok:
        raise ContinuationError(
            f"Newton did not converge to an equilibrium at {param}="
            f"{float(value):g} from the given start"
        )
    t0 = _initial_tangent(curve, u0, n)
    us, ts, status, message = _both_directions(
        curve,
        u0,
        t0,
        direction,
        progress,
        ds=ds,
        ds_min=ds_min,
        ds_max=ds_max,
        max_points=max_points,
        bounds=[(n, lo, hi)],
    )
    ev, stable, tests = _scan(curve, us, ts)
    points = []
    for j, kind in enumerate(_TESTS["equilibrium"]):
        for i in _sign_changes(tests, j):
            u, t, _, found = curve.locate(us[i], ts[i], us[i + 1], j, tests[i, j], tests[i + 1, j])
            index = _nearest(us, u, i)
            located = dict(
                param=names,
                value=jnp.asarray(u[n]),
                state=jnp.asarray(u[:n]),
                params=set_parameter(params, param, u[n]),
                index=index,
            )
            if kind == "bp":
                points.append(SpecialPoint(kind="bp", converged=found, **located))
                continue
            if kind == "hopf" and _critical_kind(curve.observe(u, t)[0]) == "neutral_saddle":
                points.append(SpecialPoint(kind="neutral_saddle", converged=found, **located))
                continue
            locate = locate_fold if kind == "fold" else locate_hopf
            sp = locate(params, param, u[:n], u[n], index=index, throw=False)
            if not sp.converged or abs(float(sp.value) - u[n]) > 1e-3 * (1 + abs(u[n])):
                # Newton failed or wandered off: keep the located zero, flagged.
                sp = SpecialPoint(
                    kind=kind,
                    converged=False,
                    first_lyapunov=sp.first_lyapunov,
                    frequency=sp.frequency,
                    period=sp.period,
                    **located,
                )
            points.append(sp)
    points.sort(key=lambda sp: (sp.index, float(np.asarray(sp.value))))
    branch = Branch(
        kind="equilibrium",
        param=names,
        values=jnp.asarray(us[:, n:]),
        states=jnp.asarray(us[:, :n]),
        eigenvalues=jnp.asarray(ev),
        stable=jnp.asarray(stable),
        base=params,
        special_points=tuple(points),
        message=message,
        status=status,
    )
    return _finish(branch, f"equilibria in {param}", throw)


def _check_pair(params: Params, names, bounds):
    names = (names,) if isinstance(names, str) else tuple(names)
    if len(names) != 2 or names[0] == names[1]:
        raise ParameterError("param", f"needs two different parameter names; got {names}")
    for name in names:
        parse_parameter(name, params.n_populations)
    if (
        bounds is None
        or isinstance(bounds, (str, bytes))
        or np.ndim(bounds) == 0
        or len(bounds) != 2
    ):
        raise ParameterError("bounds", "needs one (lo, hi) interval per parameter")
    return names, [
        _check_bounds(name, b, get_parameter(params, name)) for name, b in zip(names, bounds)
    ]


def _point_params(params: Params, point: SpecialPoint) -> Params:
    """`params` with the point's own parameter values (the refined location)."""
    values = np.atleast_1d(np.asarray(point.value))
    return set_parameters(params, point.param[: len(values)], values)


def _curve_point(kind, names, u, n, base, index, converged, **extra) -> SpecialPoint:
    p = set_parameters(base, names, u[n : n + 2])
    return SpecialPoint(
        kind=kind,
        param=names,
        value=jnp.asarray(u[n : n + 2]),
        state=jnp.asarray(u[:n]),
        params=p,
        index=index,
        converged=converged,
        **extra,
    )


@_on_cpu
def continue_hopf(
    params: Params,
    point: SpecialPoint,
    param,
    bounds,
    *,
    ds: float = 0.005,
    ds_min: float = 1e-6,
    ds_max: float = 0.02,
    max_points: int = 2000,
    direction: str = "both",
    progress: bool = False,
    throw: bool = True,
) -> Branch:
    """Continue a Hopf point in two parameters by pseudo-arclength on F = 0, (A^2 + k) v = 0,
    <v, v> = 1, <v, w0> = 0 (k = omega^2; w0 follows the curve). The system stays regular at
    Bogdanov-Takens points, beyond which (k < 0) the curve continues as a neutral-saddle curve.
    Codimension-two points (refined by regula falsi along the curve): 'bt' (k = 0), 'gh'
    (generalised Hopf, l1 = 0), 'zh' (zero-Hopf: a real eigenvalue crosses 0), 'hh' (double
    Hopf: a second pair crosses the imaginary axis). A Hopf point of the delayed mean field
    (a nonzero delay) is continued by `jaxmf.continue_delay_hopf` (no progress bar).

    Parameters
    ----------
    params : Params
        Supplies the other parameter values.
    point : SpecialPoint
        A 'hopf' point (e.g. from `continue_equilibria`).
    param : tuple of str
        The two names (p1, p2).
    bounds : tuple
        ((lo1, hi1), (lo2, hi2)); the curve also ends at the edge of the valid domain of
        `Params`.
    ds, ds_min, ds_max, max_points, direction, progress, throw
        As in `continue_equilibria`.

    Returns
    -------
    Branch
        kind 'hopf', with values (n, 2), data['omega'] (NaN on the neutral-saddle part),
        data['l1'], data['kappa'], `stable` (every non-critical eigenvalue in the left half
        plane), `status` and `message`.

    Raises
    ------
    ParameterError
        A point of another kind, unknown names, bad bounds.
    ContinuationError
        With `throw`, when the corrector fails.

    Examples
    --------
    Along the curve the Jacobian keeps a pair of eigenvalues on the imaginary axis:

    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> import numpy as np
    >>> from jaxmf import bifurcation as bf, presets
    >>> p = presets.chen_campbell_2022(rounded=True, eta_bar=0.08)
    >>> b = bf.continue_equilibria(p, "eta_bar", (0.05, 0.1))
    >>> curve = bf.continue_hopf(p, b.special_points[0], ("eta_bar", "w_jump"),
    ...                          ((0.0, 0.3), (0.0, 0.05)), max_points=10)
    >>> curve.kind, curve.values.shape[1]
    ('hopf', 2)
    >>> x, (eta, w_jump) = curve.states[-1], curve.values[-1]
    >>> A = jax.jacfwd(bf.meanfield_vector_field)(x, p.replace(eta_bar=eta, w_jump=w_jump))
    >>> ev = np.linalg.eigvals(np.asarray(A))
    >>> bool(np.min(np.abs(ev[np.abs(ev.imag) > 1e-6].real)) < 1e-8)
    True
    """
    params = check_params(params)
    if point.kind != "hopf":
        raise ParameterError("point", f"needs a 'hopf' point; got {point.kind!r}")
    _check_steps(ds, ds_min, ds_max, max_points)
    base = _point_params(params, point)
    if uses_dde(base):
        # Imported here: jaxmf.dde_bifurcation builds on this module's Branch.
        from .dde_bifurcation import continue_delay_hopf

        return continue_delay_hopf(
            params, point, param, bounds, ds=ds, ds_min=ds_min, ds_max=ds_max,
            max_points=max_points, direction=direction, throw=throw,
        )  # fmt: skip
    names, bnds = _check_pair(base, param, bounds)
    x = jnp.asarray(point.state, float)
    n = int(x.shape[0])
    lam = np.array([float(get_parameter(base, k)) for k in names])
    omega, q = (np.asarray(a) for a in _critical_pair_jit(x, base))
    v = np.real(q) if np.linalg.norm(np.real(q)) > 0.3 else np.imag(q)
    v = v / np.linalg.norm(v)
    u0 = np.concatenate([np.asarray(x), lam, v, [float(omega) ** 2]])
    family = _family(base, names)
    w0 = _hopf_border(n, jnp.asarray(u0), family)
    curve = _HopfCurve("hopf", names, n, (family, w0), base)
    branch = _continue_curve(
        curve,
        u0,
        names,
        bnds,
        base,
        ds=ds,
        ds_min=ds_min,
        ds_max=ds_max,
        max_points=max_points,
        direction=direction,
        progress=progress,
    )
    return _finish(branch, f"Hopf curve in {', '.join(names)}", throw)


@_on_cpu
def continue_fold(
    params: Params,
    point: SpecialPoint,
    param,
    bounds,
    *,
    ds: float = 0.005,
    ds_min: float = 1e-6,
    ds_max: float = 0.02,
    max_points: int = 2000,
    direction: str = "both",
    progress: bool = False,
    throw: bool = True,
) -> Branch:
    """Continue a fold (limit point) of equilibria in two parameters by pseudo-arclength on
    F = 0, A v = 0, <v, v> = 1. Codimension-two points (regula falsi along the curve): 'bt'
    (det [[A, v], [v^T, 0]] = 0: a second zero eigenvalue), 'cusp' (a = 0; a also changes sign
    through a pole at BT, which is not reported), 'zh' (a complex pair crosses the imaginary
    axis).

    Parameters
    ----------
    params : Params
        Supplies the other parameter values.
    point : SpecialPoint
        A 'fold' point.
    param, bounds, ds, ds_min, ds_max, max_points, direction, progress, throw
        As in `continue_hopf`.

    Returns
    -------
    Branch
        kind 'fold', with data['a'] (the fold's quadratic normal-form coefficient), `stable`
        (the n - 1 non-critical eigenvalues in the left half plane), `status`, `message`.

    Raises
    ------
    ParameterError
        A point of another kind, unknown names, bad bounds.
    ContinuationError
        With `throw`, when the corrector fails.

    Examples
    --------
    With a small jump in adaptation the branch folds; along the fold curve the Jacobian keeps
    a zero eigenvalue:

    >>> import jax
    >>> jax.config.update("jax_enable_x64", True)
    >>> import numpy as np
    >>> from jaxmf import bifurcation as bf, presets
    >>> p = presets.chen_campbell_2022(rounded=True, w_jump=0.001)
    >>> b = bf.continue_equilibria(p, "eta_bar", (-0.5, 0.3))
    >>> fold = [sp for sp in b.special_points if sp.kind == "fold"][0]
    >>> curve = bf.continue_fold(p, fold, ("eta_bar", "w_jump"), ((-1.0, 1.0), (0.0, 0.1)),
    ...                          max_points=10)
    >>> x, (eta, w_jump) = curve.states[-1], curve.values[-1]
    >>> A = jax.jacfwd(bf.meanfield_vector_field)(x, p.replace(eta_bar=eta, w_jump=w_jump))
    >>> bool(np.min(np.abs(np.linalg.eigvals(np.asarray(A)))) < 1e-8)
    True
    """
    params = check_params(params)
    if point.kind != "fold":
        raise ParameterError("point", f"needs a 'fold' point; got {point.kind!r}")
    _check_steps(ds, ds_min, ds_max, max_points)
    base = _point_params(params, point)
    names, bnds = _check_pair(base, param, bounds)
    x = jnp.asarray(point.state, float)
    n = int(x.shape[0])
    lam = np.array([float(get_parameter(base, k)) for k in names])
    ev, vecs = np.linalg.eig(np.asarray(_jacobian(x, base)))
    v = np.real(vecs[:, int(np.argmin(np.abs(ev)))])
    u0 = np.concatenate([np.asarray(x), lam, v / np.linalg.norm(v)])
    curve = _Curve("fold", names, n, (_family(base, names),), base)
    branch = _continue_curve(
        curve,
        u0,
        names,
        bnds,
        base,
        ds=ds,
        ds_min=ds_min,
        ds_max=ds_max,
        max_points=max_points,
        direction=direction,
        progress=progress,
    )
    return _finish(branch, f"fold curve in {', '.join(names)}", throw)


def _continue_curve(
    curve: _Curve, u0, names, bnds, base, *, ds, ds_min, ds_max, max_points, direction, progress
) -> Branch:
    n, system = curve.n, curve.system
    c = np.zeros_like(u0)
    c[n + 1] = 1.0
    u0, _, _, ok = curve.correct(u0, c, u0[n + 1], c)
    if not ok:
        raise ContinuationError(
            f"Newton did not converge onto the {system} curve from the given point"
        )
    curve.update(u0)
    t0 = _initial_tangent(curve, u0, n + 1)
    bounds = [(n, *bnds[0]), (n + 1, *bnds[1])]
    us, ts, status, message = _both_directions(
        curve,
        u0,
        t0,
        direction,
        progress,
        ds=ds,
        ds_min=ds_min,
        ds_max=ds_max,
        max_points=max_points,
        bounds=bounds,
    )
    # Re-observe with the border of each point (the Hopf border follows the curve).
    ev_rows, stable_rows, test_rows = [], [], []
    borders = []
    for u, t in zip(us, ts):
        curve.update(u)
        borders.append(curve.args)
        e, s, f = curve.observe(u, t)
        ev_rows.append(e)
        stable_rows.append(s)
        test_rows.append(f)
    ev, stable, tests = np.stack(ev_rows), np.array(stable_rows), np.stack(test_rows)
    kinds = _TESTS[system]
    changes = {kind: _sign_changes(tests, j) for j, kind in enumerate(kinds)}
    points = []
    for j, kind in enumerate(kinds):
        for i in changes[kind]:
            if (
                system == "hopf"
                and kind in ("gh", "zh", "hh")
                and not (tests[i, 0] > 0 and tests[i + 1, 0] > 0)
            ):
                continue  # only on the Hopf part (k > 0), not the neutral-saddle part
            if kind in ("cusp", "zh") and system == "fold" and i in changes["bt"]:
                continue  # a passes through a pole at BT
            curve.args = borders[i]
            u, t, f, found = curve.locate(us[i], ts[i], us[i + 1], j, tests[i, j], tests[i + 1, j])
            e, _, obs = curve.observe(u, t)
            if kind == "cusp" and not found:
                continue  # a sign change through a pole, not a zero
            if kind == "hh" or (kind == "zh" and system == "fold"):
                critical = (
                    e[np.argsort(np.abs(e))[1:]]
                    if system == "fold"
                    else e[
                        np.argsort(
                            np.minimum(
                                np.abs(e - np.sqrt(-obs[0] + 0j)), np.abs(e + np.sqrt(-obs[0] + 0j))
                            )
                        )[2:]
                    ]
                )
                if _critical_kind(critical) != "hopf":
                    continue  # a real pair +-mu: neutral saddle, not a bifurcation
            extra = {}
            if system == "hopf":
                k = float(obs[0])
                omega = np.sqrt(max(k, 0.0)) if kind != "bt" else 0.0
                extra = dict(frequency=jnp.asarray(omega), data={"kappa": k})
                if kind != "bt":  # l1 and the period are undefined at omega = 0
                    extra.update(
                        first_lyapunov=jnp.asarray(obs[1]), period=jnp.asarray(2 * np.pi / omega)
                    )
            else:  # a passes through a pole at BT
                extra = dict(data={} if kind == "bt" else {"a": float(obs[1])})
            points.append(_curve_point(kind, names, u, n, base, _nearest(us, u, i), found, **extra))
    curve.args = borders[0]
    points.sort(key=lambda sp: sp.index)
    data = {}
    if system == "hopf":
        kappa = tests[:, 0]
        data = {
            "kappa": kappa,
            "omega": np.where(kappa > 0, np.sqrt(np.abs(kappa)), np.nan),
            "l1": tests[:, 1],
        }
    else:
        data = {"a": tests[:, 1]}
    return Branch(
        kind=system,
        param=names,
        values=jnp.asarray(us[:, n : n + 2]),
        states=jnp.asarray(us[:, :n]),
        eigenvalues=jnp.asarray(ev),
        stable=jnp.asarray(stable),
        base=base,
        special_points=tuple(points),
        message=message,
        status=status,
        data={k: jnp.asarray(v) for k, v in data.items()},
    )
