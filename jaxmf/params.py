"""Parameter sets of the Izhikevich network with adaptation and its mean field.

`Params` holds the dimensionless model that jaxmf simulates and analyses; `DimensionalParams`
holds the same model in physical units (pF, nS/mV, mV, ms, pA, nS). The conversion is exact in both
directions (Chen & Campbell 2022, section 2):

    v = 1 + V/|V_R|,  w = W/(k V_R^2),  t = (k |V_R| / C) T.

Both carry P populations. Per-population fields have shape (P,); the conductance matrix `g` has
shape (P, P) with `g[m, k]` the conductance from population k onto population m; `fractions[k]` is
the share of neurons in population k (kappa, 1 - kappa in the paper). A neuron of population m feels
`sum_k g[m, k] * fractions[k] * s[k]`, with the synaptic reversal `e_r[k]` of the presynaptic
population.
Scalars given for per-population fields are broadcast to all populations.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._results import RESULTS, status_names

__all__ = [
    "ParameterError",
    "Params",
    "DimensionalParams",
    "DIMENSIONAL_UNITS",
    "set_dimensional",
    "physical_name",
    "PER_POPULATION_FIELDS",
    "SCALAR_FIELDS",
    "ParameterAddress",
    "parse_parameter",
    "get_parameter",
    "set_parameter",
    "set_parameters",
    "parameter_names",
    "stack_params",
    "first_params",
    "synaptic_drive",
    "check_params",
    "check_real",
    "check_positive",
    "check_whole",
    "promote_params",
    "array_summary",
    "module_repr",
]


class ParameterError(ValueError):
    """A parameter is outside its allowed range; `.name` is the parameter's name."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name


PER_POPULATION_FIELDS = (
    "alpha",
    "eta_bar",
    "delta_eta",
    "i_ext",
    "a",
    "b",
    "w_jump",
    "tau_s",
    "s_jump",
    "e_r",
    "fractions",
)
SCALAR_FIELDS = ("v_peak", "v_reset")
_DIMENSIONAL_PER_POPULATION = (
    "v_t",
    "beta",
    "eta_bar",
    "delta_eta",
    "i_ext",
    "tau_w",
    "w_jump",
    "tau_syn",
    "s_jump",
    "e_rev",
    "fractions",
)


def check_real(name: str, x: Any) -> Any:
    """`x` unchanged if it holds real numbers (or is traced), else a ParameterError naming
    `name`: None, strings, bytes, mappings, ragged lists and complex values are refused."""
    if isinstance(x, jax.core.Tracer):
        if not jnp.issubdtype(x.dtype, jnp.floating) and not jnp.issubdtype(x.dtype, jnp.integer):
            raise ParameterError(name, f"must be real numbers; got a traced {x.dtype} value")
        return x
    what = "a real number or an array of real numbers"
    if x is None or isinstance(x, (str, bytes, dict, set)):
        raise ParameterError(name, f"must be {what}; got {type(x).__name__}")
    try:
        kind = x.dtype.kind if isinstance(x, (jax.Array, np.ndarray)) else np.asarray(x).dtype.kind
    except (TypeError, ValueError):
        raise ParameterError(name, f"must be {what}; got {type(x).__name__}") from None
    if kind not in "biuf":
        got = "complex values" if kind == "c" else f"values of dtype kind {kind!r}"
        raise ParameterError(name, f"must be {what}; got {got}")
    if np.size(x) == 0:
        raise ParameterError(name, f"must be {what}; got an empty array")
    return x


def _float_array(x: Any) -> jax.Array:
    if isinstance(x, jax.core.Tracer):
        return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(float)
    arr = jnp.asarray(x)
    if jnp.issubdtype(arr.dtype, jnp.floating) and not arr.weak_type:
        return arr
    # Python numbers become the default float (float64 under jax_enable_x64), not weakly typed.
    return jnp.asarray(arr, dtype=jax.dtypes.canonicalize_dtype(float))


def _population_count(values: dict[str, Any], per_pop: tuple[str, ...], matrix: str) -> int:
    sizes = {name: np.shape(values[name]) for name in per_pop}
    counts = {s[-1] for s in sizes.values() if len(s) >= 1}
    mshape = np.shape(values[matrix])
    if len(mshape) == 2:
        counts.add(mshape[0])
    if len(counts) > 1:
        counts.discard(1)  # size-1 fields broadcast, as in numpy
    if len(counts) > 1:
        detail = ", ".join(f"{k}{list(v)}" for k, v in sizes.items() if v)
        raise ParameterError(
            "populations",
            f"per-population fields disagree on the number of "
            f"populations: {detail}, {matrix}{list(mshape)}",
        )
    return counts.pop() if counts else 1


def _broadcast(
    values: dict[str, Any], per_pop: tuple[str, ...], matrix: str, scalars: tuple[str, ...]
) -> dict[str, jax.Array]:
    values = {name: check_real(name, values[name]) for name in (*per_pop, matrix, *scalars)}
    n_pop = _population_count(values, per_pop, matrix)
    out = {}
    for name in per_pop:
        x = _float_array(values[name])
        if x.ndim > 1:
            raise ParameterError(name, f"expected a scalar or shape ({n_pop},), got {x.shape}")
        out[name] = jnp.broadcast_to(x, (n_pop,))
    gm = _float_array(values[matrix])
    if gm.ndim > 2 or (gm.ndim == 2 and gm.shape not in ((n_pop, n_pop), (1, 1))) or gm.ndim == 1:
        raise ParameterError(
            matrix, f"expected a scalar or shape ({n_pop}, {n_pop}), got {gm.shape}"
        )
    out[matrix] = jnp.broadcast_to(gm, (n_pop, n_pop))
    for name in scalars:
        x = _float_array(values[name])
        if x.ndim != 0:
            raise ParameterError(name, f"expected a scalar, got shape {x.shape}")
        out[name] = x
    return out


def _concrete(x) -> np.ndarray | None:
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x, dtype=float)


def _check(name: str, x, ok, allowed: str) -> None:
    v = _concrete(x)
    if v is None:
        return
    if not np.all(np.isfinite(v)):
        raise ParameterError(name, f"must be finite; got {v.tolist()}")
    if ok is not None and not np.all(ok(v)):
        raise ParameterError(name, f"must be {allowed}; got {v.tolist()}")


def _checked_at_run_time(name: str, x, rule):
    """A traced value passed through `equinox.error_if` with its range rule: the check the
    concrete path makes at construction runs when the computation does (NaN passes, so that a
    diverging fit stays a flagged result)."""
    if rule is None or not isinstance(x, jax.core.Tracer):
        return x
    ok, allowed = rule
    return eqx.error_if(x, jnp.any(~ok(x) & ~jnp.isnan(x)), f"{name}: must be {allowed}")


# Range rules of the Params fields (the others only need to be finite).
_PARAMS_RULES = {
    "delta_eta": (lambda x: x >= 0, ">= 0 (Lorentzian half-width)"),
    "a": (lambda x: x > 0, "> 0 (adaptation rate)"),
    "w_jump": (lambda x: x >= 0, ">= 0 (adaptation increment per spike)"),
    "tau_s": (lambda x: x > 0, "> 0 (synaptic time constant)"),
    "s_jump": (lambda x: x >= 0, ">= 0 (synaptic jump per spike)"),
    "g": (lambda x: x >= 0, ">= 0 (conductance)"),
    "fractions": (lambda f: (f > 0) & (f <= 1), "in (0, 1]"),
    "v_peak": (lambda x: x > 0, "> 0 (spike cut-off)"),
}


def _check_fractions(fractions) -> None:
    _check("fractions", fractions, lambda f: (f > 0) & (f <= 1), "in (0, 1]")
    f = _concrete(fractions)
    if f is not None and f.size > 1 and np.all(f == 1.0):
        raise ParameterError(
            "fractions",
            f"per-population values made {f.size} populations; give "
            f"their shares of the neurons (summing to 1), e.g. fractions="
            f"{[round(1 / f.size, 3)] * f.size}",
        )
    if f is not None and abs(f.sum() - 1.0) > 1e-6:
        raise ParameterError("fractions", f"must sum to 1; got {f.tolist()} (sum {f.sum()})")


class Params(eqx.Module):
    """Dimensionless parameters (the model that is simulated and analysed).

    Per-population fields (shape (P,)): `alpha` (threshold-like curvature term), `eta_bar` and
    `delta_eta` (centre and half-width of the Lorentzian excitability), `i_ext` (external input),
    `a`, `b` (adaptation rate and coupling), `w_jump` (spike-triggered adaptation increment),
    `tau_s`, `s_jump`, `e_r` (synaptic time constant, jump and reversal of the presynaptic
    population), `fractions` (share of neurons). `g` is the (P, P) conductance matrix.
    `v_peak`, `v_reset` are the spike cut-off and reset (the paper uses +-200 standing for +-inf).
    """

    alpha: jax.Array
    eta_bar: jax.Array
    delta_eta: jax.Array
    i_ext: jax.Array
    a: jax.Array
    b: jax.Array
    w_jump: jax.Array
    tau_s: jax.Array
    s_jump: jax.Array
    e_r: jax.Array
    fractions: jax.Array
    g: jax.Array
    v_peak: jax.Array
    v_reset: jax.Array

    def __init__(
        self,
        *,
        alpha=1 - 24.6 / 65,
        eta_bar=0.12,
        delta_eta=0.02,
        i_ext=0.0,
        a=250 / (200 * 2.5 * 65),
        b=-1 / (2.5 * 65),
        w_jump=200 / (2.5 * 65**2),
        tau_s=4 * 2.5 * 65 / 250,
        s_jump=0.8 * 250 / (2.5 * 65),
        e_r=1.0,
        fractions=1.0,
        g=200 / (2.5 * 65),
        v_peak=200.0,
        v_reset=-200.0,
    ):
        # Defaults are the exact conversion of the paper's dimensional set; see presets.py.
        values = _broadcast(dict(locals()), PER_POPULATION_FIELDS, "g", ("v_peak", "v_reset"))
        values = {
            name: _checked_at_run_time(name, x, _PARAMS_RULES.get(name))
            for name, x in values.items()
        }
        if isinstance(values["v_reset"], jax.core.Tracer) or isinstance(
            values["v_peak"], jax.core.Tracer
        ):
            values["v_reset"] = eqx.error_if(
                values["v_reset"],
                values["v_reset"] >= values["v_peak"],
                "v_reset: must be < v_peak",
            )
        for name, x in values.items():
            setattr(self, name, x)

    def __check_init__(self):
        for name in (*PER_POPULATION_FIELDS, "g", *SCALAR_FIELDS):
            if name == "fractions":
                _check_fractions(self.fractions)
                continue
            ok, allowed = _PARAMS_RULES.get(name, (None, ""))
            _check(name, getattr(self, name), ok, allowed)
        vp, vr = _concrete(self.v_peak), _concrete(self.v_reset)
        if vp is not None and vr is not None and not vr < vp:
            raise ParameterError("v_reset", f"must be < v_peak={float(vp)}; got {float(vr)}")

    @property
    def n_populations(self) -> int:
        return self.eta_bar.shape[-1]

    @property
    def dtype(self) -> np.dtype:
        """The widest floating dtype among the fields (what `promote_params` casts to)."""
        return _widest_dtype(self)

    def __repr__(self) -> str:
        return module_repr(self, [f.name for f in dataclasses.fields(self)])

    def replace(self, **changes) -> Params:
        """A copy with some fields changed (scalars broadcast to every population)."""
        return _replace(self, changes)

    def to_dimensional(
        self, C: float = 250.0, k: float = 2.5, v_r: float = -65.0
    ) -> DimensionalParams:
        """Physical units, given the three scales the dimensionless form drops (C in pF,
        k in nS/mV, V_R in mV; the paper's values by default)."""
        vr = abs(v_r)
        cur = k * vr**2  # pA per unit of dimensionless current
        return DimensionalParams(
            C=C,
            k=k,
            v_r=v_r,
            v_t=(self.alpha - 1) * vr,
            beta=self.b * k * vr,
            eta_bar=self.eta_bar * cur,
            delta_eta=self.delta_eta * cur,
            i_ext=self.i_ext * cur,
            tau_w=C / (self.a * k * vr),
            w_jump=self.w_jump * cur,
            g_syn=self.g * k * vr,
            e_rev=(self.e_r - 1) * vr,
            tau_syn=self.tau_s * C / (k * vr),
            s_jump=self.s_jump * k * vr / C,
            fractions=self.fractions,
            v_peak=(self.v_peak - 1) * vr,
            v_reset=(self.v_reset - 1) * vr,
        )


class DimensionalParams(eqx.Module):
    """Physical parameters: C (pF), k (nS/mV), v_r, v_t, v_peak, v_reset, e_rev (mV), beta (nS),
    tau_w, tau_syn (ms), w_jump, eta_bar, delta_eta, i_ext (pA), g_syn (nS), s_jump (1).

    Defaults are the paper's one-population set with eta_bar = 0.12 (dimensionless) in pA and
    V_T = V_R + 40 - beta/k. Per-population fields have shape (P,), `g_syn` shape (P, P).
    """

    C: jax.Array
    k: jax.Array
    v_r: jax.Array
    v_t: jax.Array
    beta: jax.Array
    eta_bar: jax.Array
    delta_eta: jax.Array
    i_ext: jax.Array
    tau_w: jax.Array
    w_jump: jax.Array
    tau_syn: jax.Array
    s_jump: jax.Array
    e_rev: jax.Array
    fractions: jax.Array
    g_syn: jax.Array
    v_peak: jax.Array
    v_reset: jax.Array

    def __init__(
        self,
        *,
        C=250.0,
        k=2.5,
        v_r=-65.0,
        v_t=-24.6,
        beta=-1.0,
        eta_bar=0.12 * 2.5 * 65**2,
        delta_eta=0.02 * 2.5 * 65**2,
        i_ext=0.0,
        tau_w=200.0,
        w_jump=200.0,
        tau_syn=4.0,
        s_jump=0.8,
        e_rev=0.0,
        fractions=1.0,
        g_syn=200.0,
        v_peak=199 * 65.0,
        v_reset=-201 * 65.0,
    ):
        values = _broadcast(
            dict(locals()),
            _DIMENSIONAL_PER_POPULATION,
            "g_syn",
            ("C", "k", "v_r", "v_peak", "v_reset"),
        )
        for name, x in values.items():
            setattr(self, name, x)

    def __check_init__(self):
        _check("C", self.C, lambda x: x > 0, "> 0 pF")
        _check("k", self.k, lambda x: x > 0, "> 0 nS/mV")
        _check("v_r", self.v_r, lambda x: x < 0, "< 0 mV (resting potential)")
        _check("tau_w", self.tau_w, lambda x: x > 0, "> 0 ms")
        _check("tau_syn", self.tau_syn, lambda x: x > 0, "> 0 ms")
        _check("delta_eta", self.delta_eta, lambda x: x >= 0, ">= 0 pA")
        _check("w_jump", self.w_jump, lambda x: x >= 0, ">= 0 pA")
        _check("s_jump", self.s_jump, lambda x: x >= 0, ">= 0")
        _check("g_syn", self.g_syn, lambda x: x >= 0, ">= 0 nS")
        for name in ("v_t", "beta", "eta_bar", "i_ext", "e_rev", "v_peak", "v_reset"):
            _check(name, getattr(self, name), None, "")
        _check_fractions(self.fractions)
        vp, vr = _concrete(self.v_peak), _concrete(self.v_reset)
        if vp is not None and vr is not None and not vr < vp:
            raise ParameterError("v_reset", f"must be < v_peak={float(vp)} mV; got {float(vr)}")

    @property
    def n_populations(self) -> int:
        return self.eta_bar.shape[-1]

    def __repr__(self) -> str:
        names = [f.name for f in dataclasses.fields(self)]
        values = {
            name: _WithUnit(getattr(self, name), DIMENSIONAL_UNITS[name])
            for name in names
            if DIMENSIONAL_UNITS.get(name)
        }
        return module_repr(self, names, values=values)

    @property
    def time_unit_ms(self) -> jax.Array:
        """Milliseconds per dimensionless time unit, C / (k |V_R|)."""
        return self.C / (self.k * jnp.abs(self.v_r))

    def time_to_ms(self, t):
        return _scaled(t, self.time_unit_ms)

    def ms_to_time(self, t_ms):
        return _scaled(t_ms, 1.0 / self.time_unit_ms)

    def rate_to_hz(self, r):
        """Dimensionless population rate (spikes per neuron per time unit) to Hz."""
        return _scaled(r, 1000.0 / self.time_unit_ms)

    def hz_to_rate(self, hz):
        return _scaled(hz, self.time_unit_ms / 1000.0)

    def voltage_to_mv(self, v):
        """Dimensionless membrane potential v to mV: V = (v - 1) |V_R|."""
        vr = jnp.abs(self.v_r)
        return _scaled(jnp.asarray(v) - 1, vr)

    def current_to_pa(self, x):
        """A dimensionless current (eta, I_ext, w, w_jump) to pA: X = x k V_R^2."""
        return _scaled(x, self.k * self.v_r**2)

    def replace(self, **changes) -> DimensionalParams:
        return _replace(self, changes)

    def to_dimensionless(self) -> Params:
        vr = jnp.abs(self.v_r)
        cur = self.k * vr**2
        return Params(
            alpha=1 + self.v_t / vr,
            eta_bar=self.eta_bar / cur,
            delta_eta=self.delta_eta / cur,
            i_ext=self.i_ext / cur,
            a=self.C / (self.tau_w * self.k * vr),
            b=self.beta / (self.k * vr),
            w_jump=self.w_jump / cur,
            tau_s=self.tau_syn * self.k * vr / self.C,
            s_jump=self.s_jump * self.C / (self.k * vr),
            e_r=1 + self.e_rev / vr,
            fractions=self.fractions,
            g=self.g_syn / (self.k * vr),
            v_peak=1 + self.v_peak / vr,
            v_reset=1 + self.v_reset / vr,
        )


DIMENSIONAL_UNITS = {
    "C": "pF",
    "k": "nS/mV",
    "v_r": "mV",
    "v_t": "mV",
    "beta": "nS",
    "eta_bar": "pA",
    "delta_eta": "pA",
    "i_ext": "pA",
    "tau_w": "ms",
    "w_jump": "pA",
    "tau_syn": "ms",
    "s_jump": "",
    "e_rev": "mV",
    "fractions": "",
    "g_syn": "nS",
    "v_peak": "mV",
    "v_reset": "mV",
}
# The dimensionless field(s) each physical field sets (C, k and v_r set every field: the scales).
_PHYSICAL_TO_FIELDS = {
    "v_t": ("alpha",),
    "beta": ("b",),
    "eta_bar": ("eta_bar",),
    "delta_eta": ("delta_eta",),
    "i_ext": ("i_ext",),
    "tau_w": ("a",),
    "w_jump": ("w_jump",),
    "tau_syn": ("tau_s",),
    "s_jump": ("s_jump",),
    "e_rev": ("e_r",),
    "fractions": ("fractions",),
    "g_syn": ("g",),
    "v_peak": ("v_peak",),
    "v_reset": ("v_reset",),
}
_SCALES = ("C", "k", "v_r")


def physical_name(name: str) -> str:
    """The `DimensionalParams` field a physical parameter name means: the field itself, or the
    paper's spelling ('I_ext', 'V_R', 'tau_W', 'W_jump', 'E_r', 'S_jump', 'tau_syn', ...).

    Raises
    ------
    ParameterError : a name that is no physical parameter.
    """
    if name in DIMENSIONAL_UNITS:
        return name
    lower = {"e_r": "e_rev", "v_rest": "v_r", "tau_s": "tau_syn"}.get(name.lower(), name.lower())
    if lower in DIMENSIONAL_UNITS:
        return lower
    raise ParameterError(
        name, "not a physical parameter; choose from " + ", ".join(DIMENSIONAL_UNITS)
    )


class _WithUnit:
    """A value shown with its unit in a repr."""

    def __init__(self, value, unit: str):
        self.value, self.unit = value, unit

    def __repr__(self) -> str:
        return f"{array_summary(self.value)} {self.unit}"


def set_dimensional(params: Params, scales: dict[str, float] | None = None, **physical) -> Params:
    """`params` with some values given in physical units (the fields of `DimensionalParams`:
    pA, ms, mV, nS; see `DIMENSIONAL_UNITS`), converted at the scales C, k, V_R (`scales`, the
    paper's 250 pF, 2.5 nS/mV, -65 mV by default). Only the dimensionless fields a physical
    value determines change, so the other values stay exactly as they were; a new scale (C, k
    or v_r among `physical`) changes the meaning of every value and converts them all.

    Parameters
    ----------
    params : the dimensionless `Params` to change.
    scales : {'C': ..., 'k': ..., 'v_r': ...} used for the conversion (default the paper's).
    **physical : physical values by `DimensionalParams` field name, e.g. i_ext=5.0 (pA),
        tau_w=100.0 (ms).

    Returns
    -------
    Params

    Raises
    ------
    ParameterError : an unknown field name, or a value outside its allowed range.

    Example
    -------
    >>> p = set_dimensional(Params(), i_ext=5.0)          # 5 pA
    >>> float(p.i_ext[0]) == 5.0 / (2.5 * 65.0**2)
    True
    """
    physical = {physical_name(name): value for name, value in physical.items()}
    dim = params.to_dimensional(**(scales or {}))
    converted = dim.replace(**physical).to_dimensionless()
    if any(name in physical for name in _SCALES):
        return converted
    changes = {
        field: getattr(converted, field) for name in physical for field in _PHYSICAL_TO_FIELDS[name]
    }
    return params.replace(**changes)


def _widest_dtype(params) -> np.dtype:
    dtypes = [
        jnp.result_type(x)
        for x in jax.tree.leaves(params)
        if jnp.issubdtype(jnp.result_type(x), jnp.floating)
    ]
    return (
        np.dtype(max(dtypes, key=lambda d: np.dtype(d).itemsize))
        if dtypes
        else np.dtype(jax.dtypes.canonicalize_dtype(float))
    )


def promote_params(params: Params) -> Params:
    """`params` with every field in one dtype, the widest among them (a float32 field among
    float64 ones is widened; an all-float32 set is unchanged). Traceable.

    Parameters
    ----------
    params : a `Params` (or any pytree of floating arrays).

    Returns
    -------
    The same pytree, cast to its widest floating dtype (the identical object when nothing
    changes).
    """
    dtype = _widest_dtype(params)
    if all(jnp.result_type(x) == dtype for x in jax.tree.leaves(params)):
        return params
    return jax.tree.map(lambda x: jnp.asarray(x, dtype), params)


def array_summary(x, max_size: int = 8) -> str:
    """A short text for an array in a result's repr: the numbers for a scalar or an array of up
    to `max_size` entries, else shape, dtype and range (NaN entries counted)."""
    if isinstance(x, jax.core.Tracer):
        return f"{x.dtype}{list(x.shape)} (traced)"
    if isinstance(x, (bool, int, float, str)) or x is None:
        return repr(x)
    a = np.asarray(x)
    if a.dtype.kind not in "biufc":
        return f"{a.dtype}{list(a.shape)}"
    if a.size <= max_size:
        fmt = (lambda v: f"{v:.6g}") if a.dtype.kind in "fc" else str
        if a.ndim == 0:
            return fmt(a.item())
        if a.size == 1:
            return fmt(a.reshape(()).item())
        return np.array2string(a, separator=", ", formatter={"all": fmt}).replace("\n", "")
    finite = a[np.isfinite(a)] if a.dtype.kind in "fc" else a
    rng = f" min={finite.min():.6g} max={finite.max():.6g}" if finite.size else ""
    bad = a.size - finite.size
    return f"{a.dtype}{list(a.shape)}{rng}" + (f" ({bad} non-finite)" if bad else "")


_STATUS_TYPE = type(RESULTS.successful)


def module_repr(
    obj,
    fields: Sequence[str],
    extra: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
) -> str:
    """`Name(field=value, ...)` with each array shortened by `array_summary`; a status (a
    `RESULTS` item) shown by its labels. `values` replaces some fields' values (e.g. without
    padding rows); `extra` appends other entries."""
    parts = []
    for name in fields:
        value = (values or {}).get(name, getattr(obj, name))
        if isinstance(value, _STATUS_TYPE):
            if any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(value)):
                parts.append(f"{name}=(traced)")
            else:
                labels = np.asarray(status_names(value))
                parts.append(f"{name}={labels.item() if labels.ndim == 0 else labels.tolist()}")
        elif isinstance(value, _WithUnit):
            parts.append(f"{name}={value!r}")
        else:
            parts.append(f"{name}={array_summary(value)}")
    for name, value in (extra or {}).items():
        parts.append(
            f"{name}={value!r}" if not hasattr(value, "shape") else f"{name}={array_summary(value)}"
        )
    return f"{type(obj).__name__}({', '.join(parts)})"


def _scaled(x, scale):
    """x * scale in x's precision (float32 traces stay float32)."""
    x = jnp.asarray(x) if not isinstance(x, jax.Array) else x
    dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else scale.dtype
    return x.astype(dtype) * scale.astype(dtype)


def _replace(module, changes: dict[str, Any]):
    names = {f.name for f in dataclasses.fields(module)}
    unknown = set(changes) - names
    if unknown:
        raise ParameterError(
            sorted(unknown)[0], f"unknown parameter; known: {', '.join(sorted(names))}"
        )
    current = {name: getattr(module, name) for name in names}
    current.update(changes)
    return type(module)(**current)


_ADDRESS = re.compile(r"^([a-z_]+?)(?:\[(\d+)(?:,\s*(\d+))?\]|_(\d+)(?:_(\d+))?)?$")


class ParameterAddress(NamedTuple):
    """Where a named parameter lives in `Params`: `field` (a Params field, or "kappa" for
    fractions = [kappa, 1 - kappa]) and `index` (a population, (m, k) for one entry of g, or None
    for every entry)."""

    field: str
    # The public field name shadows tuple.index on purpose; mypy reports any such override.
    index: tuple[int, ...] | None  # type: ignore[assignment]

    @property
    def name(self) -> str:
        """Canonical form: 'eta_bar', 'eta_bar[1]', 'g[0,1]', 'kappa'."""
        return (
            self.field
            if self.index is None
            else f"{self.field}[{','.join(str(i) for i in self.index)}]"
        )

    @property
    def key(self) -> str:
        """Identifier form for table columns and dataset coordinates: 'eta_bar_1', 'g_0_1'."""
        return self.field + "".join(f"_{i}" for i in self.index or ())


def parse_parameter(name: str, n_populations: int | None = None) -> ParameterAddress:
    """Parse a parameter address: a Params field ('w_jump': every population), one population
    ('w_jump[1]' or 'w_jump_1'), one conductance ('g[0,1]' or 'g_0_1') or 'kappa'. With
    `n_populations`, indices and 'kappa' are checked against it."""
    m = _ADDRESS.match(name.strip()) if isinstance(name, str) else None
    known = (*PER_POPULATION_FIELDS, "g", *SCALAR_FIELDS, "kappa")
    field = m.group(1) if m else None
    if field not in known:
        raise ParameterError(
            str(name),
            f"unknown parameter; use a Params field ({', '.join(known)})"
            ", optionally indexed: 'eta_bar[1]' for population 1, 'g[0,1]' for "
            "one conductance",
        )
    idx = [int(x) for x in (m.group(2), m.group(3)) if x is not None] or [
        int(x) for x in (m.group(4), m.group(5)) if x is not None
    ]
    if field in (*SCALAR_FIELDS, "kappa") and idx:
        raise ParameterError(str(name), f"{field} has no populations to index")
    if field == "g" and len(idx) == 1:
        raise ParameterError(str(name), "g is a (P, P) matrix: give g (every entry) or g[m,k]")
    if field != "g" and len(idx) > 1:
        raise ParameterError(str(name), f"{field} takes one population index, e.g. {field}[0]")
    if n_populations is not None:
        if field == "kappa" and n_populations != 2:
            raise ParameterError(
                "kappa", f"needs two populations; these params have {n_populations}"
            )
        if any(i >= n_populations for i in idx):
            raise ParameterError(
                str(name),
                f"index must be in [0, {n_populations - 1}] ({n_populations} population(s))",
            )
    return ParameterAddress(field, tuple(idx) or None)


def _address(params: Params, name) -> ParameterAddress:
    if isinstance(name, ParameterAddress):
        return name
    return parse_parameter(name, params.n_populations)


def get_parameter(params: Params, name: str | ParameterAddress) -> jax.Array:
    """The scalar value of a named parameter (the first entry for an unindexed per-population
    field or g; fractions[0] for 'kappa')."""
    addr = _address(params, name)
    if addr.field == "kappa":
        return params.fractions[..., 0]
    x = getattr(params, addr.field)
    return x[addr.index] if addr.index is not None else x.reshape(-1)[0]


def set_parameters(params: Params, names: Sequence[str | ParameterAddress], values) -> Params:
    """`params` with each named parameter set to its value (an unindexed field on every entry).

    Traceable (works under jit, vmap and grad): no value checks, so validate values with
    `Params(...)` or `params.replace(...)` where they are concrete."""
    new: dict[str, jax.Array] = {}
    for name, value in zip(names, values):
        addr = _address(params, name)
        if addr.field == "kappa":
            value = jnp.asarray(value, params.fractions.dtype)
            new["fractions"] = jnp.stack([value, 1 - value])
            continue
        cur = new.get(addr.field, getattr(params, addr.field))
        value = jnp.asarray(value, cur.dtype)
        new[addr.field] = (
            jnp.full_like(cur, value) if addr.index is None else cur.at[addr.index].set(value)
        )
    fields = list(new)
    return eqx.tree_at(lambda p: [getattr(p, f) for f in fields], params, [new[f] for f in fields])


def set_parameter(params: Params, name: str | ParameterAddress, value) -> Params:
    """`params` with one named parameter set to `value` (traceable, see `set_parameters`)."""
    return set_parameters(params, [name], [value])


def parameter_names(params: Params) -> tuple[str, ...]:
    """Every address of `params`: each field, each population of it, each g[m,k], and 'kappa'
    for two populations."""
    p = params.n_populations
    names: list[str] = []
    for field in PER_POPULATION_FIELDS:
        names.append(field)
        if p > 1:
            names.extend(f"{field}[{i}]" for i in range(p))
    names.append("g")
    if p > 1:
        names.extend(f"g[{m},{k}]" for m in range(p) for k in range(p))
    names.extend(SCALAR_FIELDS)
    if p == 2:
        names.append("kappa")
    return tuple(names)


def stack_params(params_list) -> Params:
    """A batch of parameter sets (leading axis) for `simulate_network` or `jax.vmap`."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *params_list)


def first_params(params: Params) -> Params:
    """The first parameter set of a batch (`stack_params`); an unbatched set unchanged."""
    return jax.tree.map(lambda x: x[0], params) if jnp.ndim(params.eta_bar) == 2 else params


def synaptic_drive(params: Params, s: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The conductance terms population m feels for synaptic activations `s` (P,):
    (gs)_m = sum_k g[m, k] fractions[k] s_k and (gs e_r)_m = sum_k g[m, k] fractions[k] s_k e_r[k].
    The network, the mean field and the theta network all use this one definition."""
    fs = params.fractions * s
    return params.g @ fs, params.g @ (fs * params.e_r)


def check_params(params: Any, name: str = "params") -> Params:
    """`params` if it is a `Params`, else a ParameterError naming `name` (with the fix for a
    `DimensionalParams`, which must be converted first)."""
    if isinstance(params, Params):
        return params
    hint = " (convert it with .to_dimensionless())" if isinstance(params, DimensionalParams) else ""
    raise ParameterError(name, f"must be jaxmf.Params; got {type(params).__name__}{hint}")


def check_positive(name: str, x: Any, *, allow_zero: bool = False) -> float:
    """`x` as a float, or a ParameterError naming `name` unless it is a finite number > 0
    (>= 0 with `allow_zero`): step sizes, tolerances, times, memory budgets."""
    try:
        v = float(x) if not isinstance(x, (str, bytes, complex, bool)) else np.nan
    except (TypeError, ValueError):
        v = np.nan
    if not (np.isfinite(v) and (v > 0 or (allow_zero and v == 0))):
        raise ParameterError(
            name, f"must be a finite number {'>=' if allow_zero else '>'} 0; got {x!r}"
        )
    return v


def check_whole(name: str, x: Any, minimum: int = 1) -> int:
    """`x` as an int, or a ParameterError naming `name` unless it is a whole number >= `minimum`
    (counts, seeds, chunk sizes; 2.0 is accepted, 2.5 and True are not)."""
    if (
        isinstance(x, bool)
        or not isinstance(x, (int, float, np.integer, np.floating))
        or not float(x).is_integer()
        or x < minimum
    ):
        raise ParameterError(name, f"must be a whole number >= {minimum}; got {x!r}")
    return int(x)
