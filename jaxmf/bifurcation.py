"""Bifurcation analysis of the exact mean field: branches, special points, continuation.

Continuation parameters are named by strings over `Params` fields:

- ``"eta_bar"``: every population's entry moves together (one value);
- ``"eta_bar[1]"``: population 1 only; ``"g[0,1]"``: one entry of the conductance matrix;
- ``"kappa"``: the share of the first population (fractions = (kappa, 1 - kappa), P = 2).

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
point, every parameter name and every call.
"""

from __future__ import annotations

import csv
import functools
import itertools
import json
import re
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .meanfield import MeanFieldState, chen_campbell, meanfield_equilibria
from .params import PER_POPULATION_FIELDS, ParameterError, Params

__all__ = [
    "Branch", "SpecialPoint", "get_parameter", "set_parameter", "flat_state", "unflat_state",
    "SPECIAL_KINDS", "BRANCH_KINDS", "continue_equilibria", "continue_hopf", "continue_fold",
    "locate_hopf", "locate_fold", "sensitivity", "hopf_sensitivity", "first_lyapunov_coefficient",
]

# Special-point labels: equilibria (fold = limit point LP, hopf = HB, bp = branch point),
# cycles (lpc = fold of cycles, pd = period doubling, ns = Neimark-Sacker/torus, homoclinic =
# period blow-up), codimension two (bt = Bogdanov-Takens, cusp, gh = generalised Hopf (Bautin),
# zh = zero-Hopf, hh = double Hopf), 'endpoint' where continuation stopped, and 'neutral_saddle'
# (a real eigenvalue pair +-mu: the Hopf test function vanishes there but nothing bifurcates).
SPECIAL_KINDS = ("fold", "hopf", "bp", "lpc", "pd", "ns", "homoclinic", "bt", "cusp", "gh", "zh",
                 "hh", "endpoint", "neutral_saddle")
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
    special_points: detected bifurcations. message: why continuation stopped. data: further
    per-point columns by name, each (n,) (e.g. 'omega', 'l1', 'kappa' on a Hopf curve, 'a' on a
    fold curve); written to CSV/JSON as extra columns.
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
        for name, x in self.data.items():
            cols.setdefault(name, np.asarray(x))
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
        standard = set(cls(kind=doc["kind"], param=param, values=np.zeros((1, len(param))),
                           states=np.zeros((1, 4 * p)), eigenvalues=np.zeros((1, n_ev)),
                           stable=np.zeros(1, bool), base=base,
                           period=np.zeros(1) if "period" in cols else None,
                           minima=np.zeros((1, 4 * p)) if table("_min") is not None else None,
                           maxima=np.zeros((1, 4 * p)) if table("_max") is not None else None
                           )._columns())
        data = {k: jnp.asarray(v) for k, v in cols.items() if k not in standard}
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
                   message=doc["message"], data=data)


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


# ------------------------------------------------------------------------------------------------
# Vector field, derivatives, normal-form coefficients


def _vector_field(params: Params, x: jax.Array) -> jax.Array:
    """The Chen-Campbell mean field on a flat state (autonomous: no extra input)."""
    return flat_state(chen_campbell(0.0, unflat_state(x), (params, None)))


def _with(params: Params, names: tuple[str, ...], values) -> Params:
    for k, name in enumerate(names):
        params = set_parameter(params, name, values[k])
    return params


class _Family(NamedTuple):
    """Params as an affine function of the free parameters: origin + sum_k lam_k directions[k].
    Every named parameter enters `Params` affinely (kappa too: fractions = (kappa, 1 - kappa)),
    so compiled kernels take the family as data and never recompile for another name."""

    origin: Params
    directions: tuple[Params, ...]


def _family(params: Params, names: tuple[str, ...]) -> _Family:
    zero = _with(params, names, [0.0] * len(names))
    dirs = tuple(jax.tree.map(jnp.subtract, set_parameter(zero, name, 1.0), zero)
                 for name in names)
    return _Family(zero, dirs)


def _at(family: _Family, lam) -> Params:
    return jax.tree.map(lambda c, *ds: c + sum(lam[k] * d for k, d in enumerate(ds)),
                        family.origin, *family.directions)


def _d2(f, x, u, v):
    return jax.jvp(lambda y: jax.jvp(f, (y,), (u,))[1], (x,), (v,))[1]


def _d3(f, x, u, v, w):
    return jax.jvp(lambda y: _d2(f, y, u, v), (x,), (w,))[1]


def _multilinear(real_form, *vectors):
    """Complex multilinear form from its real version, expanding every argument in re + i im."""
    out = 0.0
    for picks in itertools.product((0, 1), repeat=len(vectors)):
        args = [jnp.imag(z) if k else jnp.real(z) for z, k in zip(vectors, picks)]
        term = real_form(*args)
        out = out + jnp.asarray(1j ** sum(picks), _complex(term.dtype)) * term.astype(
            _complex(term.dtype))
    return out


def _complex(dtype):
    return jnp.complex128 if jnp.dtype(dtype) == jnp.float64 else jnp.complex64


def _bilinear(f, x, u, v):
    """B(u, v) = D^2 f(x)[u, v] for complex u, v."""
    return _multilinear(lambda a, b: _d2(f, x, a, b), u, v)


def _trilinear(f, x, u, v, w):
    """C(u, v, w) = D^3 f(x)[u, v, w] for complex u, v, w."""
    return _multilinear(lambda a, b, c: _d3(f, x, a, b, c), u, v, w)


def _adjoint_eigenvector(A, q, omega):
    """p with A^T p = -i omega p and <p, q> = conj(p) . q = 1 (bordered solve: differentiable)."""
    n = A.shape[0]
    eye = jnp.eye(n, dtype=A.dtype)
    shift = jax.lax.complex(jnp.zeros_like(eye), omega * eye).astype(q.dtype)
    M = jnp.block([[A.T.astype(q.dtype) + shift, q[:, None]],
                   [jnp.conj(q)[None, :], jnp.zeros((1, 1), q.dtype)]])
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
    h20 = jnp.linalg.solve(jax.lax.complex(-A, 2 * omega * eye).astype(q.dtype),
                           _bilinear(f, x, q, q))
    value = (jnp.vdot(p, _trilinear(f, x, q, q, qb)) - 2 * jnp.vdot(p, _bilinear(f, x, q, h11))
             + jnp.vdot(p, _bilinear(f, x, qb, h20)))
    return jnp.real(value) / (2 * omega.astype(jnp.real(value).dtype))


def _critical_pair(A):
    """(omega, q) of the eigenvalue with the smallest |Re| among those with Im > 0."""
    ev, vecs = jnp.linalg.eig(A)
    score = jnp.where(jnp.imag(ev) > 0, jnp.abs(jnp.real(ev)), jnp.inf)
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
    """
    x = jnp.asarray(x)
    if omega is None or q is None:
        w0, q0 = _critical_pair(jax.jacfwd(f)(jax.lax.stop_gradient(x)))
        omega = w0 if omega is None else omega
        q = q0 if q is None else q
    return _lyapunov(f, x, jnp.asarray(q, complex), omega)


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


# ------------------------------------------------------------------------------------------------
# Defining systems. Unknowns u are flat; `names` (static) are the free parameters.
#   equilibrium: u = (x, lam)                 G = F(x, lam)
#   fold curve:  u = (x, lam1, lam2, v)       G = (F, A v, <v, v> - 1)
#   hopf curve:  u = (x, lam1, lam2, v, k)    G = (F, (A^2 + k) v, <v, v> - 1, <v, w0>), k = omega^2
# The Hopf-curve system stays regular through Bogdanov-Takens points (k = 0) and continues as a
# neutral-saddle curve (k < 0); Kuznetsov's book, section 10.2.2.


def _split(system: str, u, n: int):
    if system == "equilibrium":
        return u[:n], u[n:n + 1], None, None
    if system == "fold":
        return u[:n], u[n:n + 2], u[n + 2:2 * n + 2], None
    return u[:n], u[n:n + 2], u[n + 2:2 * n + 2], u[2 * n + 2]


def _system(system: str, n: int, u, args):
    x, lam, v, k = _split(system, u, n)
    p = _at(args[0], lam)
    f = lambda y: _vector_field(p, y)
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

    def cond(state):
        _, k, err = state
        return (k < max_iter) & (err > tol) & jnp.isfinite(err)

    def body(state):
        u, k, _ = state
        g = jnp.concatenate([G(u), (c @ u - target)[None]])
        M = jnp.concatenate([jax.jacfwd(G)(u), c[None]], axis=0)
        du = jnp.linalg.solve(M, g)
        return u - du, k + 1, jnp.max(jnp.abs(du))

    u, k, err = jax.lax.while_loop(cond, body, (u_pred, 0, jnp.asarray(1e300, u_pred.dtype)))
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
    f = lambda y: _vector_field(p, y)
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
        tests = jnp.stack([jnp.linalg.det(bordered), _fold_coefficient(f, x, v),
                           _pair_sum_product(others)])
        return ev, jnp.all(jnp.real(others) < 0), tests
    mu = jnp.sqrt((-k).astype(ev.dtype))
    dist = jnp.minimum(jnp.abs(ev - mu), jnp.abs(ev + mu))
    others = ev[jnp.argsort(dist)[2:]]
    omega = jnp.sqrt(jnp.maximum(k, 0.0))
    q = jax.lax.complex(A @ v, omega * v)
    l1 = jnp.where(k > 0, _lyapunov(f, x, q, jnp.where(k > 0, omega, 1.0)), jnp.nan)
    tests = jnp.stack([k, l1, jnp.real(jnp.prod(others)), _pair_sum_product(others)])
    return ev, jnp.all(jnp.real(others) < 0), tests


# ------------------------------------------------------------------------------------------------
# Newton refinement of fold and Hopf points on their standard defining systems (the refined point
# is differentiable in `params` by the implicit function theorem)
#   fold: y = (x, lam, v),             F = 0, A v = 0, <v, v> = 1
#   hopf: y = (x, lam, Re q, Im q, w), F = 0, (A - i w) q = 0, <q0, q> = 1 (q0 fixed reference)


def _fold_residual(y, args, n):
    family, _ = args
    x, v = y[:n], y[n + 1:]
    p = _at(family, y[n:n + 1])
    fx, Av = jax.jvp(lambda z: _vector_field(p, z), (x,), (v,))
    return jnp.concatenate([fx, Av, (v @ v - 1)[None]])


def _hopf_residual(y, args, n):
    family, q0 = args
    x, qr, qi, om = y[:n], y[n + 1:2 * n + 1], y[2 * n + 1:3 * n + 1], y[3 * n + 1]
    p = _at(family, y[n:n + 1])
    f = lambda z: _vector_field(p, z)
    fx, Aqr = jax.jvp(f, (x,), (qr,))
    Aqi = jax.jvp(f, (x,), (qi,))[1]
    q0r, q0i = jnp.real(q0), jnp.imag(q0)
    norm = jnp.stack([q0r @ qr + q0i @ qi - 1, q0r @ qi - q0i @ qr])
    return jnp.concatenate([fx, Aqr + om * qi, Aqi - om * qr, norm])


_NEWTON_TOL = 1e-10


def _newton(fn, y0, tol=1e-13, max_iter=40):
    """Plain Newton with an exact (jacfwd) Jacobian; stops when the step is below tol."""

    def cond(state):
        _, k, err = state
        return (k < max_iter) & (err > tol) & jnp.isfinite(err)

    def body(state):
        y, k, _ = state
        dy = jnp.linalg.solve(jax.jacfwd(fn)(y), fn(y))
        return y - dy, k + 1, jnp.max(jnp.abs(dy))

    return jax.lax.while_loop(cond, body, (y0, 0, jnp.asarray(1e300, y0.dtype)))[0]


def _newton_root(fn, y0):
    """Root of fn by Newton, differentiable through `fn`'s closure by the implicit function
    theorem (lax.custom_root: one linear solve with the Jacobian at the root)."""
    tangent_solve = lambda g, y: jnp.linalg.solve(jax.jacfwd(g)(y), y)
    return jax.lax.custom_root(fn, y0, lambda g, y: _newton(g, y), tangent_solve)


@partial(jax.jit, static_argnames=("kind", "n"))
def _refine(kind, n, family, y0, ref):
    """Newton on the defining system; returns (y, converged, residual, coefficient) where the
    coefficient is l1 (Hopf) or the fold normal-form coefficient a."""
    residual = partial(_fold_residual if kind == "fold" else _hopf_residual, n=n)
    y = _newton_root(lambda z: residual(z, (family, ref)), y0)
    res = jnp.max(jnp.abs(residual(y, (family, ref))))
    ok = (res < _NEWTON_TOL) & jnp.all(jnp.isfinite(y))
    x = y[:n]
    f = lambda z: _vector_field(_at(family, y[n:n + 1]), z)
    if kind == "fold":
        coefficient = _fold_coefficient(f, x, y[n + 1:])
    else:
        q = jax.lax.complex(y[n + 1:2 * n + 1], y[2 * n + 1:3 * n + 1])
        coefficient = _lyapunov(f, x, q, jnp.abs(y[3 * n + 1]))
    return y, ok, res, coefficient


def _refine_guess(kind: str, name: str, params: Params, state, value):
    """Initial y and reference vector for `_refine` from an approximate point."""
    return _refine_guess_jit(kind, _family(params, (name,)), jnp.asarray(state, float),
                             jnp.asarray(value, float))


@partial(jax.jit, static_argnames=("kind",))
def _refine_guess_jit(kind, family, x, value):
    p = _at(family, value.reshape(1))
    A = jax.jacfwd(lambda z: _vector_field(p, z))(x)
    lam = value.reshape(1)
    if kind == "fold":
        ev, vecs = jnp.linalg.eig(A)
        k = jnp.argmin(jnp.abs(ev))
        v = jnp.real(vecs[:, k])
        v = v / jnp.linalg.norm(v)
        return jnp.concatenate([x, lam, v]), v
    omega, q = _critical_pair(A)
    return jnp.concatenate([x, lam, jnp.real(q), jnp.imag(q), omega[None]]), q


def _special_from_refined(kind: str, name: str, params: Params, y, ok: bool, coefficient,
                          index: int, n: int) -> SpecialPoint:
    x, lam = y[:n], y[n]
    p = set_parameter(params, name, lam)
    if kind == "fold":
        a = coefficient
        return SpecialPoint(kind="fold", param=(name,), value=lam, state=x, params=p, index=index,
                            converged=bool(ok), data={"a": a})
    omega = jnp.abs(y[3 * n + 1])
    l1 = coefficient
    return SpecialPoint(kind="hopf", param=(name,), value=lam, state=x, params=p, index=index,
                        converged=bool(ok), first_lyapunov=l1, frequency=omega,
                        period=2 * jnp.pi / omega)


@_on_cpu
def locate_fold(params: Params, param: str, state, value=None, *, index: int = -1) -> SpecialPoint:
    """Refine a fold (limit point) of equilibria in `param` by Newton on F = 0, A v = 0, <v, v> = 1
    from an approximate equilibrium `state` (flat, 4P) at `value` (default: params' value).
    `converged` is False when Newton did not reach a residual below 1e-10; data['a'] is the
    normal-form coefficient a = <p, B(q, q)>/2."""
    _parse(param, params)
    value = get_parameter(params, param) if value is None else value
    y0, ref = _refine_guess("fold", param, params, state, value)
    n = (y0.shape[0] - 1) // 2
    y, ok, _, a = _refine("fold", n, _family(params, (param,)), y0, ref)
    return _special_from_refined("fold", param, params, y, ok, a, index, n)


@_on_cpu
def locate_hopf(params: Params, param: str, state, value=None, *, index: int = -1) -> SpecialPoint:
    """Refine a Hopf point of equilibria in `param` by Newton on F = 0, (A - i omega) q = 0,
    <q0, q> = 1 from an approximate equilibrium `state` (flat, 4P) at `value` (default: params'
    value); q0 is the eigenvector of the eigenvalue pair nearest the imaginary axis there. Fills
    `frequency` (omega), `period` (2 pi / omega) and `first_lyapunov` (Kuznetsov's l1).
    `converged` is False when Newton did not reach a residual below 1e-10."""
    _parse(param, params)
    value = get_parameter(params, param) if value is None else value
    y0, ref = _refine_guess("hopf", param, params, state, value)
    n = (y0.shape[0] - 2) // 3
    y, ok, _, l1 = _refine("hopf", n, _family(params, (param,)), y0, ref)
    return _special_from_refined("hopf", param, params, y, ok, l1, index, n)


@_on_cpu
def sensitivity(point: SpecialPoint, name: str) -> jax.Array:
    """d(point.value)/d(name): how a refined fold or Hopf point moves in its continuation
    parameter when another parameter `name` changes (implicit function theorem on the defining
    system: forward-mode derivative through lax.custom_root around the Newton solve; one compiled
    kernel for every `name`). E.g. sensitivity(hopf, 'w_jump'). Compare `locate_hopf` at nearby
    parameter values for a finite-difference check."""
    if point.kind not in ("fold", "hopf") or len(point.param) != 1:
        raise ParameterError("point", f"needs a one-parameter fold or Hopf point; got {point.kind}"
                             f" in {point.param}")
    kind, param = point.kind, point.param[0]
    _parse(name, point.params)
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


# ------------------------------------------------------------------------------------------------
# Pseudo-arclength continuation (Keller): tangent predictor u + ds t, corrector on
# [G(u); t.(u - u_pred)] = 0, step adapted to the Newton iteration count. One compiled corrector
# and one compiled observer per (system, parameter names, dimension), reused for every point.

_TESTS = {"equilibrium": ("fold", "hopf", "bp"), "fold": ("bt", "cusp", "zh"),
          "hopf": ("bt", "gh", "zh", "hh")}
_TOL = 1e-10


class _Curve:
    """Host-side handle on one defining system: correct, observe, trace, locate."""

    def __init__(self, system: str, names: tuple[str, ...], n: int, args, n_populations: int):
        self.system, self.names, self.n, self.args = system, names, n, args
        self.n_populations = n_populations

    def correct(self, u_pred, c, target, t_orient, tol=_TOL):
        u, t, k, ok = _correct(self.system, self.n, jnp.asarray(u_pred),
                               jnp.asarray(c), jnp.asarray(target), jnp.asarray(t_orient),
                               self.args, tol)
        return np.asarray(u), np.asarray(t), int(k), bool(ok)

    def observe(self, u, t):
        ev, stable, tests = _observe(self.system, self.n, jnp.asarray(u),
                                     jnp.asarray(t), self.args)
        return np.asarray(ev), bool(stable), np.asarray(tests)

    def update(self, u):
        """Hook for systems whose borders follow the curve (the Hopf curve's w0)."""

    def physical(self, u) -> bool:
        return bool(np.all(u[:self.n_populations] > 0))

    def trace(self, u0, t0, *, ds, ds_min, ds_max, max_points, bounds):
        """Points (list of u) and tangents along one direction from (u0, t0) until a bound
        (index into u, lo, hi), max_points, or a step below ds_min. Returns (us, ts, message)."""
        us, ts = [np.asarray(u0)], [np.asarray(t0)]
        h = ds
        message = f"max_points={max_points} reached"
        while len(us) < max_points:
            u, t = us[-1], ts[-1]
            up = u + h * t
            un, tn, iters, ok = self.correct(up, t, t @ up, t)
            # Reject jumps: the tangent may turn by less than ~25 degrees and the corrector must
            # stay near the prediction.
            ok = ok and float(t @ tn) > 0.9 and float(np.linalg.norm(un - up)) < max(0.5 * h, 1e-9)
            if not ok:
                if h <= ds_min * (1 + 1e-9):
                    message = f"corrector failed at step size ds_min={ds_min}"
                    break
                h = max(h / 2, ds_min)
                continue
            crossed = [(i, lo, hi) for i, lo, hi in bounds if not lo <= un[i] <= hi]
            if crossed:
                i, lo, hi = crossed[0]
                b = lo if un[i] < lo else hi
                guess = u + (b - u[i]) / (un[i] - u[i]) * (un - u)
                c = np.zeros_like(u)
                c[i] = 1.0
                ue, te, _, ok_e = self.correct(guess, c, b, t)
                if ok_e:
                    us.append(ue)
                    ts.append(te)
                message = f"reached the bound {b:g} of {self._label(i)}"
                break
            if not self.physical(un):
                # Keep this first point past r = 0 so that a crossing (e.g. the transcritical
                # branch point with the r = 0 branch at delta_eta = 0) is still detected.
                us.append(un)
                ts.append(tn)
                message = "rate reached zero"
                break
            us.append(un)
            ts.append(tn)
            self.update(un)
            if len(us) > 8 and float(np.linalg.norm(un - us[0])) < 0.75 * h and t @ ts[0] > 0:
                message = "closed curve"
                break
            if iters <= 3:
                h = min(1.5 * h, ds_max)
            elif iters >= 6:
                h = max(h / 2, ds_min)
        return us, ts, message

    def _label(self, i):
        k = i - self.n
        return self.names[k] if 0 <= k < len(self.names) else f"u[{i}]"

    def locate(self, ua, ta, ub, j, fa, fb, max_iter=60):
        """Zero of test function j between consecutive points a, b (Illinois regula falsi on
        the chord parameter; every trial point is corrected onto the curve on the hyperplane
        orthogonal to the chord). Returns (u, t, value, converged)."""
        d = ub - ua
        c = d / np.linalg.norm(d)
        sa, sb = 0.0, 1.0
        scale = max(abs(fa), abs(fb))
        best = (ua, ta, fa) if abs(fa) < abs(fb) else (ub, ta, fb)
        side = 0
        for _ in range(max_iter):
            s = (sa * fb - sb * fa) / (fb - fa)
            if not np.isfinite(s) or not sa < s < sb:
                s = 0.5 * (sa + sb)
            up = ua + s * d
            u, t, _, ok = self.correct(up, c, c @ up, ta)
            if not ok:
                break
            fs = float(self.observe(u, t)[2][j])
            if not np.isfinite(fs):
                break
            best = (u, t, fs)
            if fs == 0.0 or (sb - sa) < 1e-14:
                break
            if np.sign(fs) == np.sign(fa):
                sa, fa = s, fs
                if side == -1:
                    fb *= 0.5
                side = -1
            else:
                sb, fb = s, fs
                if side == 1:
                    fa *= 0.5
                side = 1
            if (sb - sa) * np.linalg.norm(d) < 1e-13:
                break
        u, t, fs = best
        return u, t, fs, bool(abs(fs) <= 1e-9 * scale)


class _HopfCurve(_Curve):
    def update(self, u):
        self.args = (self.args[0], _hopf_border(self.n, jnp.asarray(u), self.args[0]))


@partial(jax.jit, static_argnames=("n",))
def _hopf_border(n, u, family):
    """w0 = A v - (v.A v) v normalised: in the critical 2-plane, orthogonal to the current v."""
    x, lam, v, _ = _split("hopf", u, n)
    p = _at(family, lam)
    Av = jax.jvp(lambda y: _vector_field(p, y), (x,), (v,))[1]
    w = Av - (v @ Av) * v
    return w / jnp.linalg.norm(w)


def _both_directions(curve: _Curve, u0, t0, direction: str, **kwargs):
    """Trace forward (+t0) and/or backward; merge into one consistently oriented list."""
    if direction not in ("both", "forward", "backward"):
        raise ParameterError("direction", f"must be 'both', 'forward' or 'backward'; got "
                             f"{direction!r}")
    us, ts, messages = [np.asarray(u0)], [np.asarray(t0)], []
    args0 = curve.args
    if direction in ("both", "backward"):
        ub, tb, mb = curve.trace(u0, -t0, **kwargs)
        us, ts = [u for u in ub[::-1]], [-t for t in tb[::-1]]
        messages.append(f"backward: {mb}")
    if direction in ("both", "forward"):
        curve.args = args0
        uf, tf, mf = curve.trace(u0, t0, **kwargs)
        us, ts = us + uf[1:], ts + tf[1:]
        messages.append(f"forward: {mf}")
    if direction == "backward":
        # Report the branch in the order it was traced.
        us, ts = us[::-1], [-t for t in ts[::-1]]
    curve.args = args0
    return np.stack(us), np.stack(ts), "; ".join(messages)


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
        raise ParameterError("start", f"meanfield_equilibria found no equilibrium at {param}="
                             f"{float(get_parameter(params, param))}; pass a state")
    k = 0 if start is None else int(start)
    if k >= valid.size:
        raise ParameterError("start", f"index {k} but only {valid.size} equilibria were found")
    i = valid[k]
    return flat_state(MeanFieldState(eq.r[i], eq.v[i], eq.w[i], eq.s[i]))


@partial(jax.jit, static_argnames=("system", "n"))
def _system_jacobian(system, n, u, args):
    return jax.jacfwd(lambda w: _system(system, n, w, args))(u)


@jax.jit
def _jacobian(params, x):
    return jax.jacfwd(lambda z: _vector_field(params, z))(x)


@jax.jit
def _critical_pair_jit(params, x):
    return _critical_pair(_jacobian(params, x))


def _initial_tangent(curve: _Curve, u, sign_index: int):
    """Kernel of G_u at u (last right singular vector), oriented so that u[sign_index] grows."""
    Gu = np.asarray(_system_jacobian(curve.system, curve.n, jnp.asarray(u), curve.args))
    t = np.linalg.svd(Gu)[2][-1]
    if t[sign_index] < 0:
        t = -t
    return t


def _check_model(model: str):
    if model != "chen_campbell":
        raise ParameterError("model", f"continuation is implemented for the exact mean field "
                             f"'chen_campbell' only; got {model!r}")


def _check_bounds(name, bounds, value):
    lo, hi = (float(b) for b in bounds)
    if not lo < hi:
        raise ParameterError("bounds", f"need lo < hi for {name}; got {bounds}")
    if not lo <= float(value) <= hi:
        raise ParameterError("bounds", f"the start {name}={float(value):g} is outside {bounds}")
    return lo, hi


@_on_cpu
def continue_equilibria(params: Params, param: str, bounds=(0.0, 0.3), *, start=None,
                        ds: float = 0.005, ds_min: float = 1e-6, ds_max: float = 0.02,
                        max_points: int = 1000, direction: str = "both",
                        model: str = "chen_campbell") -> Branch:
    """Continue a branch of equilibria of the exact mean field in one parameter.

    params: the starting parameters (P populations). param: any continuation parameter name
    ('eta_bar', 'eta_bar[1]', 'delta_eta', 'w_jump', 'i_ext', 'g[0,1]', 'kappa', ...). bounds:
    the parameter interval; continuation stops on reaching either end (the last point lies on
    the bound). start: the starting equilibrium: None (the first of `meanfield_equilibria`), an
    index into that list, or a flat state (r, v, w, s blocks). ds, ds_min, ds_max: initial,
    smallest and largest pseudo-arclength step in (state, parameter) space; lower ds_max for a
    finer table. max_points: per direction. direction: 'both', 'forward' (increasing the
    parameter) or 'backward'.

    Stability from the Jacobian's eigenvalues (jax.jacfwd). Special points: folds (the tangent's
    parameter component changes sign) and Hopf points (the bialternate-product determinant
    prod_{i<j}(l_i + l_j) changes sign with a complex critical pair), both refined by Newton on
    their standard defining systems (`locate_fold`, `locate_hopf`) to a residual below 1e-10,
    with l1 and omega at Hopf points; sign changes with a real critical pair are reported as
    'neutral_saddle', not Hopf. Branch points ('bp'): sign change of det [G_u; t^T], located by
    regula falsi along the branch. A point whose refinement failed is kept with
    `converged=False` (its value is then the located zero of the test function).
    """
    _check_model(model)
    value = get_parameter(params, param)
    lo, hi = _check_bounds(param, bounds, value)
    x0 = _default_state(params, param, start)
    n = int(x0.shape[0])
    names = (param,)
    curve = _Curve("equilibrium", names, n, (_family(params, names),), params.n_populations)
    u0 = np.concatenate([np.asarray(x0), [float(value)]])
    c = np.zeros(n + 1)
    c[n] = 1.0
    u0, _, _, ok = curve.correct(u0, c, float(value), c)
    if not ok:
        raise ParameterError("start", f"Newton did not converge to an equilibrium at {param}="
                             f"{float(value):g} from the given start")
    t0 = _initial_tangent(curve, u0, n)
    us, ts, message = _both_directions(curve, u0, t0, direction, ds=ds, ds_min=ds_min,
                                       ds_max=ds_max, max_points=max_points,
                                       bounds=[(n, lo, hi)])
    ev, stable, tests = _scan(curve, us, ts)
    points = []
    for j, kind in enumerate(_TESTS["equilibrium"]):
        for i in _sign_changes(tests, j):
            u, t, _, found = curve.locate(us[i], ts[i], us[i + 1], j, tests[i, j], tests[i + 1, j])
            index = _nearest(us, u, i)
            if kind == "bp":
                p = set_parameter(params, param, u[n])
                points.append(SpecialPoint(kind="bp", param=names, value=jnp.asarray(u[n]),
                                           state=jnp.asarray(u[:n]), params=p, index=index,
                                           converged=found))
                continue
            if kind == "hopf":
                ev_u = curve.observe(u, t)[0]
                if _critical_kind(ev_u) == "neutral_saddle":
                    p = set_parameter(params, param, u[n])
                    points.append(SpecialPoint(kind="neutral_saddle", param=names,
                                               value=jnp.asarray(u[n]), state=jnp.asarray(u[:n]),
                                               params=p, index=index, converged=found))
                    continue
            locate = locate_fold if kind == "fold" else locate_hopf
            sp = locate(params, param, u[:n], u[n], index=index)
            if not sp.converged or abs(float(sp.value) - u[n]) > 1e-3 * (1 + abs(u[n])):
                # Newton failed or wandered off: keep the located zero, flagged.
                p = set_parameter(params, param, u[n])
                sp = SpecialPoint(kind=kind, param=names, value=jnp.asarray(u[n]),
                                  state=jnp.asarray(u[:n]), params=p, index=index,
                                  converged=False, first_lyapunov=sp.first_lyapunov,
                                  frequency=sp.frequency, period=sp.period)
            points.append(sp)
    points.sort(key=lambda sp: (sp.index, float(np.asarray(sp.value))))
    return Branch(kind="equilibrium", param=names, values=jnp.asarray(us[:, n:]),
                  states=jnp.asarray(us[:, :n]), eigenvalues=jnp.asarray(ev),
                  stable=jnp.asarray(stable), base=params, special_points=tuple(points),
                  message=message)


def _check_pair(params: Params, names, bounds):
    names = tuple(names)
    if len(names) != 2 or names[0] == names[1]:
        raise ParameterError("param", f"needs two different parameter names; got {names}")
    for name in names:
        _parse(name, params)
    if bounds is None or len(bounds) != 2:
        raise ParameterError("bounds", "needs one (lo, hi) interval per parameter")
    return names, [_check_bounds(name, b, get_parameter(params, name))
                   for name, b in zip(names, bounds)]


def _point_params(params: Params, point: SpecialPoint) -> Params:
    """`params` with the point's own parameter values (the refined location)."""
    values = np.atleast_1d(np.asarray(point.value))
    return _with(params, point.param[:len(values)], values)


def _curve_point(kind, names, u, n, base, index, converged, **extra) -> SpecialPoint:
    p = _with(base, names, u[n:n + 2])
    return SpecialPoint(kind=kind, param=names, value=jnp.asarray(u[n:n + 2]),
                        state=jnp.asarray(u[:n]), params=p, index=index, converged=converged,
                        **extra)


@_on_cpu
def continue_hopf(params: Params, point: SpecialPoint, param, bounds, *, ds: float = 0.005,
                  ds_min: float = 1e-6, ds_max: float = 0.02, max_points: int = 2000,
                  direction: str = "both") -> Branch:
    """Continue a Hopf point in two parameters `param` = (p1, p2) within `bounds` =
    ((lo1, hi1), (lo2, hi2)) by pseudo-arclength on F = 0, (A^2 + k) v = 0, <v, v> = 1,
    <v, w0> = 0 (k = omega^2; w0 follows the curve). The system stays regular at Bogdanov-Takens
    points, beyond which (k < 0) the curve continues as a neutral-saddle curve.

    point: a 'hopf' SpecialPoint (e.g. from `continue_equilibria`); `params` supplies the other
    parameter values. Returns Branch(kind='hopf') with values (n, 2), data['omega'] (NaN on the
    neutral-saddle part), data['l1'], data['kappa'] and `stable` = every non-critical eigenvalue
    in the left half plane. Codimension-two points (refined by regula falsi along the curve):
    'bt' (k = 0), 'gh' (generalised Hopf, l1 = 0), 'zh' (zero-Hopf: a real eigenvalue crosses
    0), 'hh' (double Hopf: a second pair crosses the imaginary axis).
    """
    if point.kind != "hopf":
        raise ParameterError("point", f"needs a 'hopf' point; got {point.kind!r}")
    base = _point_params(params, point)
    names, bnds = _check_pair(base, param, bounds)
    x = jnp.asarray(point.state, float)
    n = int(x.shape[0])
    lam = np.array([float(get_parameter(base, k)) for k in names])
    omega, q = (np.asarray(a) for a in _critical_pair_jit(base, x))
    v = np.real(q) if np.linalg.norm(np.real(q)) > 0.3 else np.imag(q)
    v = v / np.linalg.norm(v)
    u0 = np.concatenate([np.asarray(x), lam, v, [float(omega) ** 2]])
    family = _family(base, names)
    w0 = _hopf_border(n, jnp.asarray(u0), family)
    curve = _HopfCurve("hopf", names, n, (family, w0), base.n_populations)
    return _continue_curve(curve, u0, names, bnds, base, ds=ds, ds_min=ds_min, ds_max=ds_max,
                           max_points=max_points, direction=direction)


@_on_cpu
def continue_fold(params: Params, point: SpecialPoint, param, bounds, *, ds: float = 0.005,
                  ds_min: float = 1e-6, ds_max: float = 0.02, max_points: int = 2000,
                  direction: str = "both") -> Branch:
    """Continue a fold (limit point) of equilibria in two parameters `param` = (p1, p2) within
    `bounds` by pseudo-arclength on F = 0, A v = 0, <v, v> = 1.

    point: a 'fold' SpecialPoint; `params` supplies the other parameter values. Returns
    Branch(kind='fold') with data['a'] (the fold's quadratic normal-form coefficient) and
    `stable` = the n - 1 non-critical eigenvalues in the left half plane. Codimension-two points
    (regula falsi along the curve): 'bt' (det [[A, v], [v^T, 0]] = 0: a second zero eigenvalue),
    'cusp' (a = 0; a also changes sign through a pole at BT, which is not reported), 'zh'
    (a complex pair crosses the imaginary axis).
    """
    if point.kind != "fold":
        raise ParameterError("point", f"needs a 'fold' point; got {point.kind!r}")
    base = _point_params(params, point)
    names, bnds = _check_pair(base, param, bounds)
    x = jnp.asarray(point.state, float)
    n = int(x.shape[0])
    lam = np.array([float(get_parameter(base, k)) for k in names])
    ev, vecs = np.linalg.eig(np.asarray(_jacobian(base, x)))
    v = np.real(vecs[:, int(np.argmin(np.abs(ev)))])
    u0 = np.concatenate([np.asarray(x), lam, v / np.linalg.norm(v)])
    curve = _Curve("fold", names, n, (_family(base, names),), base.n_populations)
    return _continue_curve(curve, u0, names, bnds, base, ds=ds, ds_min=ds_min, ds_max=ds_max,
                           max_points=max_points, direction=direction)


def _continue_curve(curve: _Curve, u0, names, bnds, base, *, ds, ds_min, ds_max, max_points,
                    direction) -> Branch:
    n, system = curve.n, curve.system
    c = np.zeros_like(u0)
    c[n + 1] = 1.0
    u0, _, _, ok = curve.correct(u0, c, u0[n + 1], c)
    if not ok:
        raise ParameterError("point", f"Newton did not converge onto the {system} curve from "
                             "the given point")
    curve.update(u0)
    t0 = _initial_tangent(curve, u0, n + 1)
    bounds = [(n, *bnds[0]), (n + 1, *bnds[1])]
    us, ts, message = _both_directions(curve, u0, t0, direction, ds=ds, ds_min=ds_min,
                                       ds_max=ds_max, max_points=max_points, bounds=bounds)
    # Re-observe with the border of each point (the Hopf border follows the curve).
    ev, stable, tests = [], [], []
    borders = []
    for u, t in zip(us, ts):
        curve.update(u)
        borders.append(curve.args)
        e, s, f = curve.observe(u, t)
        ev.append(e)
        stable.append(s)
        tests.append(f)
    ev, stable, tests = np.stack(ev), np.array(stable), np.stack(tests)
    kinds = _TESTS[system]
    changes = {kind: _sign_changes(tests, j) for j, kind in enumerate(kinds)}
    points = []
    for j, kind in enumerate(kinds):
        for i in changes[kind]:
            if system == "hopf" and kind in ("gh", "zh", "hh") and not (
                    tests[i, 0] > 0 and tests[i + 1, 0] > 0):
                continue  # only on the Hopf part (k > 0), not the neutral-saddle part
            if kind in ("cusp", "zh") and system == "fold" and i in changes["bt"]:
                continue  # a passes through a pole at BT
            curve.args = borders[i]
            u, t, f, found = curve.locate(us[i], ts[i], us[i + 1], j, tests[i, j],
                                          tests[i + 1, j])
            e, _, obs = curve.observe(u, t)
            if kind == "cusp" and not found:
                continue  # a sign change through a pole, not a zero
            if kind == "hh" or (kind == "zh" and system == "fold"):
                critical = e[np.argsort(np.abs(e))[1:]] if system == "fold" else \
                    e[np.argsort(np.minimum(np.abs(e - np.sqrt(-obs[0] + 0j)),
                                            np.abs(e + np.sqrt(-obs[0] + 0j))))[2:]]
                if _critical_kind(critical) != "hopf":
                    continue  # a real pair +-mu: neutral saddle, not a bifurcation
            extra = {}
            if system == "hopf":
                k = float(obs[0])
                omega = np.sqrt(max(k, 0.0)) if kind != "bt" else 0.0
                extra = dict(frequency=jnp.asarray(omega), data={"kappa": k})
                if kind != "bt":  # l1 and the period are undefined at omega = 0
                    extra.update(first_lyapunov=jnp.asarray(obs[1]),
                                 period=jnp.asarray(2 * np.pi / omega))
            else:  # a passes through a pole at BT
                extra = dict(data={} if kind == "bt" else {"a": float(obs[1])})
            points.append(_curve_point(kind, names, u, n, base, _nearest(us, u, i), found,
                                       **extra))
    curve.args = borders[0]
    points.sort(key=lambda sp: sp.index)
    data = {}
    if system == "hopf":
        k = tests[:, 0]
        data = {"kappa": k, "omega": np.where(k > 0, np.sqrt(np.abs(k)), np.nan),
                "l1": tests[:, 1]}
    else:
        data = {"a": tests[:, 1]}
    return Branch(kind=system, param=names, values=jnp.asarray(us[:, n:n + 2]),
                  states=jnp.asarray(us[:, :n]), eigenvalues=jnp.asarray(ev),
                  stable=jnp.asarray(stable), base=base, special_points=tuple(points),
                  message=message, data={k: jnp.asarray(v) for k, v in data.items()})
