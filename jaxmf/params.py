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

Model extensions are optional fields (`OPTIONAL_FIELDS`: gamma, sigma, g_el, tau_r, delay). Each
defaults to None, meaning absent: the model without that extension, decided statically, so the
code path does not exist and costs nothing. Given (even 0.0) it becomes an array like the other
fields and the extension is part of the computation, so it can be swept or fitted from 0. An
absent field reads as 0 through `get_parameter`.
"""

from __future__ import annotations

import contextvars
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
    "params_to_dict",
    "Params",
    "DimensionalParams",
    "DIMENSIONAL_UNITS",
    "set_dimensional",
    "physical_name",
    "PER_POPULATION_FIELDS",
    "SCALAR_FIELDS",
    "OPTIONAL_FIELDS",
    "MATRIX_FIELDS",
    "has_extension",
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
    "RANGE_CHECKS",
    "replace_deferred",
    "promote_params",
    "array_summary",
    "module_repr",
]


class ParameterError(ValueError):
    """A parameter is outside its allowed range, of the wrong kind, or unknown.

    A `ValueError`, so code that catches bad values in general catches it too. The message starts
    with the parameter's name.

    Parameters
    ----------
    name : str
        The parameter's name (a field, an address such as ``'eta_bar[1]'``, or an argument name).
    message : str
        What is wrong, in the user's words.

    Attributes
    ----------
    name : str
        The parameter's name, for programs that react to a particular parameter.

    Examples
    --------
    >>> from jaxmf.params import Params, ParameterError
    >>> try:
    ...     Params(tau_s=-1.0)
    ... except ParameterError as err:
    ...     print(err.name)
    tau_s
    """

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
"""The `Params` fields with one value per population, shape (P,)."""
SCALAR_FIELDS = ("v_peak", "v_reset")
"""The `Params` fields shared by every population: the spike cut-off and reset."""
_OPTIONAL_POPULATION = ("gamma", "sigma", "tau_r")
_OPTIONAL_MATRIX = ("g_el", "delay")
OPTIONAL_FIELDS = ("gamma", "sigma", "g_el", "tau_r", "delay")
"""The optional `Params` fields (model extensions): None means absent (see the module docstring)."""
MATRIX_FIELDS = ("g", "g_el", "delay")
"""The `Params` fields of shape (P, P), entry [m, k] from population k onto population m."""
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
_DIMENSIONAL_OPTIONAL_POPULATION = ("gamma", "sigma", "tau_rise")
_DIMENSIONAL_OPTIONAL_MATRIX = ("g_el", "delay")
_DIMENSIONAL_OPTIONAL = ("gamma", "sigma", "g_el", "tau_rise", "delay")


def check_real(name: str, x: Any) -> Any:
    """Refuse anything that is not real numbers, naming the parameter.

    None, strings, bytes, mappings, sets, ragged lists, empty arrays and complex values are refused;
    a traced value passes when its dtype is floating or integer (its values are checked where the
    computation runs).

    Parameters
    ----------
    name : str
        The parameter's name, used in the error message.
    x : Any
        The value to check.

    Returns
    -------
    Any
        `x` itself, unchanged.

    Raises
    ------
    ParameterError
        When `x` does not hold real numbers.

    Examples
    --------
    >>> from jaxmf.params import check_real
    >>> check_real("eta_bar", [0.1, 0.2])
    [0.1, 0.2]
    >>> check_real("eta_bar", "0.1")
    Traceback (most recent call last):
    ...
    jaxmf.params.ParameterError: eta_bar: must be a real number or an array of real numbers; got str
    """
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


def _population_count(values: dict[str, Any], per_pop: tuple[str, ...], matrices) -> int:
    sizes = {name: np.shape(values[name]) for name in per_pop if values[name] is not None}
    counts = {s[-1] for s in sizes.values() if len(s) >= 1}
    mshapes = {name: np.shape(values[name]) for name in matrices if values[name] is not None}
    counts.update(shape[0] for shape in mshapes.values() if len(shape) == 2)
    if len(counts) > 1:
        counts.discard(1)  # size-1 fields broadcast, as in numpy
    if len(counts) > 1:
        detail = ", ".join(f"{k}{list(v)}" for k, v in (*sizes.items(), *mshapes.items()) if v)
        raise ParameterError(
            "populations",
            f"per-population fields disagree on the number of populations: {detail}",
        )
    return counts.pop() if counts else 1


def _broadcast(
    values: dict[str, Any],
    per_pop: tuple[str, ...],
    matrix: str,
    scalars: tuple[str, ...],
    optional_per_pop: tuple[str, ...] = (),
    optional_matrix: tuple[str, ...] = (),
) -> dict[str, jax.Array | None]:
    given = (*per_pop, matrix, *scalars) + tuple(
        name for name in (*optional_per_pop, *optional_matrix) if values[name] is not None
    )
    values = {
        name: check_real(name, values[name]) if name in given else None
        for name in (*per_pop, matrix, *scalars, *optional_per_pop, *optional_matrix)
    }
    n_pop = _population_count(values, (*per_pop, *optional_per_pop), (matrix, *optional_matrix))
    out: dict[str, jax.Array | None] = {}
    for name in (*per_pop, *optional_per_pop):
        if values[name] is None:
            out[name] = None
            continue
        x = _float_array(values[name])
        if x.ndim > 1:
            raise ParameterError(name, f"expected a scalar or shape ({n_pop},), got {x.shape}")
        out[name] = jnp.broadcast_to(x, (n_pop,))
    for name in (matrix, *optional_matrix):
        if values[name] is None:
            out[name] = None
            continue
        gm = _float_array(values[name])
        if (
            gm.ndim > 2
            or (gm.ndim == 2 and gm.shape not in ((n_pop, n_pop), (1, 1)))
            or gm.ndim == 1
        ):
            raise ParameterError(
                name, f"expected a scalar or shape ({n_pop}, {n_pop}), got {gm.shape}"
            )
        out[name] = jnp.broadcast_to(gm, (n_pop, n_pop))
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
    if rule is None or not isinstance(x, jax.core.Tracer) or _DEFERRED.get():
        return x
    ok, allowed = rule
    return eqx.error_if(x, _out_of_range(ok, x), f"{name}: must be {allowed} and finite")


def _out_of_range(ok, x) -> jax.Array:
    """True where a traced value breaks its range rule or is infinite (as the concrete check
    refuses it); NaN passes."""
    return jnp.any((~ok(x) | jnp.isinf(x)) & ~jnp.isnan(x))


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
    "gamma": (lambda x: x >= 0, ">= 0 (Cauchy noise scale)"),
    "sigma": (lambda x: x >= 0, ">= 0 (Gaussian noise intensity)"),
    "g_el": (lambda x: x >= 0, ">= 0 (gap-junction conductance)"),
    "tau_r": (lambda x: x > 0, "> 0 (synaptic rise time)"),
    "delay": (lambda x: x >= 0, ">= 0 (synaptic delay)"),
}


# Set while `replace_deferred` builds a Params: its caller checks the ranges itself.
_DEFERRED = contextvars.ContextVar("jaxmf_params_deferred", default=False)

# The range checks in the order of `replace_deferred`'s codes (code k + 1: check k failed).
RANGE_CHECKS = (*_PARAMS_RULES, "v_reset")


def replace_deferred(params: Params, **changes) -> tuple[Params, jax.Array]:
    """`params.replace(**changes)` for a compiled program that reports out-of-range values
    itself: the copy is built without run-time `equinox.error_if` checks (whose host callbacks
    keep a program out of JAX's persistent compilation cache), and the check comes back as a
    code the program can act on or return, to raise on the host.

    Concrete values are checked at once, as by `Params.replace`.

    Parameters
    ----------
    params : Params
        The parameters to change.
    **changes
        Field values, as for `Params.replace` (traced values allowed).

    Returns
    -------
    tuple of (Params, jax.Array)
        The changed copy, and an int32 code (batched like the fields under `vmap`): 0 when
        every field is in its range (NaN passes, as at construction; an infinite value fails),
        else k + 1 for the first failed check ``RANGE_CHECKS[k]`` (``"v_reset"``: v_reset <
        v_peak).

    Raises
    ------
    ParameterError
        A concrete value out of range, or an unknown field.

    Examples
    --------
    >>> import jax
    >>> from jaxmf.params import Params, RANGE_CHECKS, replace_deferred
    >>> params = Params()
    >>> code = jax.jit(lambda w: replace_deferred(params, w_jump=w)[1])
    >>> int(code(0.01)), RANGE_CHECKS[int(code(-0.01)) - 1]
    (0, 'w_jump')
    """
    token = _DEFERRED.set(True)
    try:
        new = params.replace(**changes)
    finally:
        _DEFERRED.reset(token)
    failed = []
    for name, (ok, _) in _PARAMS_RULES.items():
        x = getattr(new, name)
        failed.append(jnp.zeros((), bool) if x is None else _out_of_range(ok, x))
    failed.append(jnp.any(new.v_reset >= new.v_peak))
    failed_ = jnp.stack(failed)
    code = jnp.where(jnp.any(failed_), jnp.argmax(failed_) + 1, 0)
    return new, code.astype(jnp.int32)


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
    """Dimensionless parameters: the model that is simulated and analysed.

    Every field is a JAX array, so a `Params` is a pytree that `jax.jit`, `jax.vmap` and `jax.grad`
    go through. Scalars given for per-population fields are broadcast to all P populations; P
    comes from the fields given as arrays, which must agree. Concrete values are checked at
    construction (finite, and the ranges below); traced values are checked when the computation
    runs, through `equinox.error_if` (NaN passes, so a diverging fit stays a flagged result).
    The defaults are the exact conversion of the paper's dimensional set (Chen & Campbell 2022,
    section 2) with eta_bar = 0.12: the bursting regime.

    Attributes
    ----------
    alpha : jax.Array
        Shape (P,). Threshold term of the quadratic current v (v - alpha), 1 + V_T/|V_R|.
    eta_bar : jax.Array
        Shape (P,). Centre of the Lorentzian excitability distribution.
    delta_eta : jax.Array
        Shape (P,). Half-width of the Lorentzian excitability (>= 0).
    i_ext : jax.Array
        Shape (P,). External input current.
    a : jax.Array
        Shape (P,). Adaptation rate (> 0), the inverse adaptation time constant C/(tau_W k |V_R|).
    b : jax.Array
        Shape (P,). Adaptation coupling to the membrane potential, w' = a (b v - w).
    w_jump : jax.Array
        Shape (P,). Spike-triggered adaptation increment (>= 0).
    tau_s : jax.Array
        Shape (P,). Synaptic time constant of the presynaptic population (> 0).
    s_jump : jax.Array
        Shape (P,). Synaptic jump per spike (>= 0).
    e_r : jax.Array
        Shape (P,). Synaptic reversal potential of the presynaptic population.
    fractions : jax.Array
        Shape (P,). Share of neurons in each population, in (0, 1], summing to 1
        (kappa, 1 - kappa in the paper).
    g : jax.Array
        Shape (P, P). Conductances, `g[m, k]` from population k onto population m (>= 0).
    v_peak : jax.Array
        Scalar. Spike cut-off (> 0); the paper's 200 stands for +inf.
    v_reset : jax.Array
        Scalar. Reset after a spike (< v_peak); the paper's -200 stands for -inf.
    gamma : jax.Array or None
        Shape (P,). Scale of independent Cauchy white noise on each neuron's v (>= 0): the kick
        over dt is Cauchy(0, gamma dt); the mean field is exact with delta_eta + gamma (see
        `jaxmf.noise`). None: no Cauchy noise.
    sigma : jax.Array or None
        Shape (P,). Intensity of independent Gaussian white noise on each neuron's v,
        dv = ... dt + sigma dW (>= 0); the mean field approximates it by an effective half-width
        (`jaxmf.noise.gaussian_equivalent_gamma`). None: no Gaussian noise.
    g_el : jax.Array or None
        Shape (P, P). Gap-junction conductances (>= 0), `g_el[m, k]` from population k onto m;
        None: no electrical coupling.
    tau_r : jax.Array or None
        Shape (P,). Synaptic rise time of the presynaptic population (> 0); None: first-order
        synapses (instantaneous rise).
    delay : jax.Array or None
        Shape (P, P). Synaptic transmission delay (>= 0), `delay[m, k]` from population k onto
        m: population m feels s_k(t - delay[m, k]) (`jaxmf.delay`); None: no delay.

    Raises
    ------
    ParameterError
        When a concrete value is not finite, outside its range, or the shapes disagree on the
        number of populations.

    Examples
    --------
    >>> from jaxmf.params import Params
    >>> p = Params(eta_bar=0.3)
    >>> p.n_populations, round(float(p.eta_bar[0]), 6)
    (1, 0.3)
    >>> Params(eta_bar=[0.1, 0.2], fractions=[0.5, 0.5]).g.shape
    (2, 2)
    >>> Params().gamma is None, Params(gamma=0.0).gamma.shape
    (True, (1,))
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
    gamma: jax.Array | None
    sigma: jax.Array | None
    g_el: jax.Array | None
    tau_r: jax.Array | None
    delay: jax.Array | None

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
        gamma=None,
        sigma=None,
        g_el=None,
        tau_r=None,
        delay=None,
    ):
        # Defaults are the exact conversion of the paper's dimensional set; see presets.py.
        values = _broadcast(
            dict(locals()),
            PER_POPULATION_FIELDS,
            "g",
            ("v_peak", "v_reset"),
            _OPTIONAL_POPULATION,
            _OPTIONAL_MATRIX,
        )
        values = {
            name: None if x is None else _checked_at_run_time(name, x, _PARAMS_RULES.get(name))
            for name, x in values.items()
        }
        if (
            isinstance(values["v_reset"], jax.core.Tracer)
            or isinstance(values["v_peak"], jax.core.Tracer)
        ) and not _DEFERRED.get():
            values["v_reset"] = eqx.error_if(
                values["v_reset"],
                values["v_reset"] >= values["v_peak"],
                "v_reset: must be < v_peak",
            )
        for name, x in values.items():
            setattr(self, name, x)

    def __check_init__(self):
        for name in (*PER_POPULATION_FIELDS, "g", *SCALAR_FIELDS, *OPTIONAL_FIELDS):
            if name == "fractions":
                _check_fractions(self.fractions)
                continue
            if getattr(self, name) is None:
                continue
            ok, allowed = _PARAMS_RULES.get(name, (None, ""))
            _check(name, getattr(self, name), ok, allowed)
        vp, vr = _concrete(self.v_peak), _concrete(self.v_reset)
        if vp is not None and vr is not None and not vr < vp:
            raise ParameterError("v_reset", f"must be < v_peak={float(vp)}; got {float(vr)}")

    @property
    def n_populations(self) -> int:
        """The number of populations P.

        Returns
        -------
        int
            The length of the per-population fields.
        """
        return self.eta_bar.shape[-1]

    @property
    def dtype(self) -> np.dtype:
        """The widest floating dtype among the fields (what `promote_params` casts to).

        Returns
        -------
        numpy.dtype
            float64 when any field is float64, else float32 (or the default float).
        """
        return _widest_dtype(self)

    def __repr__(self) -> str:
        return module_repr(self, _present_fields(self))

    def replace(self, **changes) -> Params:
        """A copy with some fields changed.

        Scalars broadcast to every population; the new set is checked like a new `Params`. An
        optional field set to None becomes absent.

        Parameters
        ----------
        **changes : Any
            New values by field name.

        Returns
        -------
        Params
            The changed copy; `self` is untouched.

        Raises
        ------
        ParameterError
            When a name is not a field or a value is out of range.

        Examples
        --------
        >>> from jaxmf.params import Params
        >>> round(float(Params().replace(w_jump=0.0).w_jump[0]), 6)
        0.0
        """
        return _replace(self, changes)

    def to_dimensional(
        self, C: float = 250.0, k: float = 2.5, v_r: float = -65.0
    ) -> DimensionalParams:
        """The same model in physical units.

        Needs the three scales the dimensionless form drops; the paper's values by default.

        Parameters
        ----------
        C : float, default 250.0
            Membrane capacitance (pF).
        k : float, default 2.5
            Gain of the quadratic current (nS/mV).
        v_r : float, default -65.0
            Resting potential V_R (mV).

        Returns
        -------
        DimensionalParams
            The physical parameter set; `.to_dimensionless()` gives `self` back.

        Examples
        --------
        >>> from jaxmf.params import Params
        >>> d = Params(eta_bar=0.12).to_dimensional()
        >>> round(float(d.eta_bar[0]), 3), round(float(d.tau_w[0]), 3)
        (1267.5, 200.0)
        """
        vr = abs(v_r)
        cur = k * vr**2  # pA per unit of dimensionless current
        tu = C / (k * vr)  # ms per unit of dimensionless time
        optional = {
            "gamma": (self.gamma, cur),
            "sigma": (self.sigma, cur * tu**0.5),
            "g_el": (self.g_el, k * vr),
            "tau_rise": (self.tau_r, tu),
            "delay": (self.delay, tu),
        }
        return DimensionalParams(
            **{name: None if x is None else x * scale for name, (x, scale) in optional.items()},
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
    """Physical parameters of the Izhikevich network with adaptation.

    The defaults are the paper's one-population set (Chen & Campbell 2022, section 2) with
    eta_bar = 0.12 (dimensionless) expressed in pA and V_T = V_R + 40 - beta/k. Per-population
    fields have shape (P,), `g_syn` shape (P, P); the scales and spike bounds are scalars. The
    printed form shows each value with its unit (`DIMENSIONAL_UNITS`).

    Attributes
    ----------
    C : jax.Array
        Membrane capacitance (pF, > 0).
    k : jax.Array
        Gain of the quadratic current (nS/mV, > 0).
    v_r : jax.Array
        Resting potential (mV, < 0).
    v_t : jax.Array
        Threshold potential (mV).
    beta : jax.Array
        Adaptation coupling (nS).
    eta_bar : jax.Array
        Centre of the Lorentzian input current (pA).
    delta_eta : jax.Array
        Half-width of the Lorentzian input current (pA, >= 0).
    i_ext : jax.Array
        External input current (pA).
    tau_w : jax.Array
        Adaptation time constant (ms, > 0).
    w_jump : jax.Array
        Spike-triggered adaptation increment (pA, >= 0).
    tau_syn : jax.Array
        Synaptic time constant (ms, > 0).
    s_jump : jax.Array
        Synaptic jump per spike (dimensionless, >= 0).
    e_rev : jax.Array
        Synaptic reversal potential (mV).
    fractions : jax.Array
        Share of neurons in each population, summing to 1.
    g_syn : jax.Array
        Maximal synaptic conductances (nS, >= 0), `g_syn[m, k]` from k onto m.
    v_peak : jax.Array
        Spike cut-off (mV).
    v_reset : jax.Array
        Reset potential (mV, < v_peak).
    gamma : jax.Array or None
        Cauchy noise scale (pA, >= 0); None: absent.
    sigma : jax.Array or None
        Gaussian noise intensity (pA ms^1/2, >= 0); None: absent.
    g_el : jax.Array or None
        Gap-junction conductances (nS, >= 0), shape (P, P); None: absent.
    tau_rise : jax.Array or None
        Synaptic rise time (ms, > 0); None: first-order synapses.
    delay : jax.Array or None
        Synaptic delay (ms, >= 0), shape (P, P); None: absent.

    Raises
    ------
    ParameterError
        When a concrete value is not finite or outside its range.

    Examples
    --------
    >>> from jaxmf.params import DimensionalParams
    >>> d = DimensionalParams(i_ext=5.0)
    >>> round(float(d.to_dimensionless().i_ext[0]) * 2.5 * 65.0**2, 6)
    5.0
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
    gamma: jax.Array | None
    sigma: jax.Array | None
    g_el: jax.Array | None
    tau_rise: jax.Array | None
    delay: jax.Array | None

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
        gamma=None,
        sigma=None,
        g_el=None,
        tau_rise=None,
        delay=None,
    ):
        values = _broadcast(
            dict(locals()),
            _DIMENSIONAL_PER_POPULATION,
            "g_syn",
            ("C", "k", "v_r", "v_peak", "v_reset"),
            _DIMENSIONAL_OPTIONAL_POPULATION,
            _DIMENSIONAL_OPTIONAL_MATRIX,
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
        for name, ok, allowed in (
            ("gamma", lambda x: x >= 0, ">= 0 pA"),
            ("sigma", lambda x: x >= 0, ">= 0 pA ms^1/2"),
            ("g_el", lambda x: x >= 0, ">= 0 nS"),
            ("tau_rise", lambda x: x > 0, "> 0 ms"),
            ("delay", lambda x: x >= 0, ">= 0 ms"),
        ):
            if getattr(self, name) is not None:
                _check(name, getattr(self, name), ok, allowed)
        for name in ("v_t", "beta", "eta_bar", "i_ext", "e_rev", "v_peak", "v_reset"):
            _check(name, getattr(self, name), None, "")
        _check_fractions(self.fractions)
        vp, vr = _concrete(self.v_peak), _concrete(self.v_reset)
        if vp is not None and vr is not None and not vr < vp:
            raise ParameterError("v_reset", f"must be < v_peak={float(vp)} mV; got {float(vr)}")

    @property
    def n_populations(self) -> int:
        """The number of populations P.

        Returns
        -------
        int
            The length of the per-population fields.
        """
        return self.eta_bar.shape[-1]

    def __repr__(self) -> str:
        names = _present_fields(self)
        values = {
            name: _WithUnit(getattr(self, name), DIMENSIONAL_UNITS[name])
            for name in names
            if DIMENSIONAL_UNITS.get(name)
        }
        return module_repr(self, names, values=values)

    @property
    def time_unit_ms(self) -> jax.Array:
        """Milliseconds per dimensionless time unit, C / (k |V_R|).

        Returns
        -------
        jax.Array
            About 1.54 ms at the paper's scales.

        Examples
        --------
        >>> from jaxmf.params import DimensionalParams
        >>> round(float(DimensionalParams().time_unit_ms), 4)
        1.5385
        """
        return self.C / (self.k * jnp.abs(self.v_r))

    def time_to_ms(self, t):
        """Dimensionless time to milliseconds.

        Parameters
        ----------
        t : array_like
            Times in dimensionless units.

        Returns
        -------
        jax.Array
            The same times in ms, in `t`'s floating precision.

        Examples
        --------
        >>> from jaxmf.params import DimensionalParams
        >>> round(float(DimensionalParams().time_to_ms(100.0)), 2)
        153.85
        """
        return _scaled(t, self.time_unit_ms)

    def ms_to_time(self, t_ms):
        """Milliseconds to dimensionless time (the inverse of `time_to_ms`).

        Parameters
        ----------
        t_ms : array_like
            Times in ms.

        Returns
        -------
        jax.Array
            The same times in dimensionless units.

        Examples
        --------
        >>> from jaxmf.params import DimensionalParams
        >>> round(float(DimensionalParams().ms_to_time(200.0)), 2)
        130.0
        """
        return _scaled(t_ms, 1.0 / self.time_unit_ms)

    def rate_to_hz(self, r):
        """Dimensionless population rate (spikes per neuron per time unit) to Hz.

        Parameters
        ----------
        r : array_like
            Rates in spikes per neuron per dimensionless time unit.

        Returns
        -------
        jax.Array
            The same rates in Hz.

        Examples
        --------
        >>> from jaxmf.params import DimensionalParams
        >>> round(float(DimensionalParams().rate_to_hz(0.01)), 3)
        6.5
        """
        return _scaled(r, 1000.0 / self.time_unit_ms)

    def hz_to_rate(self, hz):
        """Hz to dimensionless population rate (the inverse of `rate_to_hz`).

        Parameters
        ----------
        hz : array_like
            Rates in Hz.

        Returns
        -------
        jax.Array
            The same rates in spikes per neuron per dimensionless time unit.

        Examples
        --------
        >>> from jaxmf.params import DimensionalParams
        >>> round(float(DimensionalParams().hz_to_rate(6.5)), 6)
        0.01
        """
        return _scaled(hz, self.time_unit_ms / 1000.0)

    def voltage_to_mv(self, v):
        """Dimensionless membrane potential to mV: V = (v - 1) |V_R|.

        Parameters
        ----------
        v : array_like
            Dimensionless potentials (v = 1 is the resting potential, v = 0 is 0 mV).

        Returns
        -------
        jax.Array
            The same potentials in mV.

        Examples
        --------
        >>> from jaxmf.params import DimensionalParams
        >>> round(float(DimensionalParams().voltage_to_mv(0.0)), 3)
        -65.0
        """
        vr = jnp.abs(self.v_r)
        return _scaled(jnp.asarray(v) - 1, vr)

    def current_to_pa(self, x):
        """A dimensionless current (eta, I_ext, w, w_jump) to pA: X = x k V_R^2.

        Parameters
        ----------
        x : array_like
            Dimensionless currents.

        Returns
        -------
        jax.Array
            The same currents in pA.

        Examples
        --------
        >>> from jaxmf.params import DimensionalParams
        >>> round(float(DimensionalParams().current_to_pa(0.12)), 3)
        1267.5
        """
        return _scaled(x, self.k * self.v_r**2)

    def replace(self, **changes) -> DimensionalParams:
        """A copy with some fields changed (in their physical units).

        Parameters
        ----------
        **changes : Any
            New values by field name.

        Returns
        -------
        DimensionalParams
            The changed copy; `self` is untouched.

        Raises
        ------
        ParameterError
            When a name is not a field or a value is out of range.

        Examples
        --------
        >>> from jaxmf.params import DimensionalParams
        >>> float(DimensionalParams().replace(tau_w=100.0).tau_w[0])
        100.0
        """
        return _replace(self, changes)

    def to_dimensionless(self) -> Params:
        """The dimensionless `Params` of this physical set (Chen & Campbell 2022, section 2).

        Returns
        -------
        Params
            v = 1 + V/|V_R|, w = W/(k V_R^2), t = (k |V_R| / C) T applied to every field.

        Raises
        ------
        ParameterError
            When the converted values are out of the dimensionless ranges.

        Examples
        --------
        >>> from jaxmf.params import DimensionalParams
        >>> round(float(DimensionalParams().to_dimensionless().eta_bar[0]), 6)
        0.12
        """
        vr = jnp.abs(self.v_r)
        cur = self.k * vr**2
        tu = self.C / (self.k * vr)
        optional = {
            "gamma": (self.gamma, cur),
            "sigma": (self.sigma, cur * jnp.sqrt(tu)),
            "g_el": (self.g_el, self.k * vr),
            "tau_r": (self.tau_rise, tu),
            "delay": (self.delay, tu),
        }
        return Params(
            **{name: None if x is None else x / scale for name, (x, scale) in optional.items()},
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
    "gamma": "pA",
    "sigma": "pA ms^1/2",
    "g_el": "nS",
    "tau_rise": "ms",
    "delay": "ms",
}
"""The unit of each `DimensionalParams` field ('' for a pure number), as printed with it."""
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
    "gamma": ("gamma",),
    "sigma": ("sigma",),
    "g_el": ("g_el",),
    "tau_rise": ("tau_r",),
    "delay": ("delay",),
}
_SCALES = ("C", "k", "v_r")


def physical_name(name: str) -> str:
    """The `DimensionalParams` field a physical parameter name means.

    Accepts the field itself or the paper's spelling, in any case: 'I_ext', 'V_R', 'tau_W',
    'W_jump', 'E_r', 'S_jump', 'tau_syn', 'v_rest', ...

    Parameters
    ----------
    name : str
        A physical parameter name.

    Returns
    -------
    str
        The field name of `DimensionalParams`.

    Raises
    ------
    ParameterError
        When `name` is no physical parameter.

    Examples
    --------
    >>> from jaxmf.params import physical_name
    >>> physical_name("I_ext"), physical_name("tau_W"), physical_name("E_r")
    ('i_ext', 'tau_w', 'e_rev')
    """
    if name in DIMENSIONAL_UNITS:
        return name
    aliases = {"e_r": "e_rev", "v_rest": "v_r", "tau_s": "tau_syn", "tau_r": "tau_rise"}
    lower = aliases.get(name.lower(), name.lower())
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
    """Set some values of a dimensionless parameter set from physical units.

    Values are given by `DimensionalParams` field (pA, ms, mV, nS; see `DIMENSIONAL_UNITS`) and
    converted at the scales C, k, V_R. Only the dimensionless fields a physical value determines
    change, so the other values stay exactly as they were; a new scale (C, k or v_r among
    `physical`) changes the meaning of every value and converts them all.

    Parameters
    ----------
    params : Params
        The dimensionless parameter set to change.
    scales : dict of str to float, optional
        ``{'C': ..., 'k': ..., 'v_r': ...}`` used for the conversion; the paper's 250 pF,
        2.5 nS/mV and -65 mV by default.
    **physical : float or array_like
        Physical values by `DimensionalParams` field name or the paper's spelling, e.g.
        ``i_ext=5.0`` (pA), ``tau_w=100.0`` (ms).

    Returns
    -------
    Params
        The changed copy.

    Raises
    ------
    ParameterError
        When a name is unknown or a value is outside its allowed range.

    Examples
    --------
    >>> from jaxmf.params import Params, set_dimensional
    >>> p = set_dimensional(Params(), I_ext=5.0)  # 5 pA
    >>> bool(abs(float(p.i_ext[0]) - 5.0 / (2.5 * 65.0**2)) < 1e-9)
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
    """Cast every field to the widest floating dtype among them.

    A float32 field among float64 ones is widened; an all-float32 set is unchanged. Traceable.

    Parameters
    ----------
    params : Params
        A parameter set (or any pytree of floating arrays).

    Returns
    -------
    Params
        The same pytree in one dtype; the identical object when nothing changes.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.params import Params, promote_params
    >>> p = Params(eta_bar=jnp.float32(0.1))
    >>> promote_params(p).dtype == p.dtype
    True
    """
    dtype = _widest_dtype(params)
    if all(jnp.result_type(x) == dtype for x in jax.tree.leaves(params)):
        return params
    return jax.tree.map(lambda x: jnp.asarray(x, dtype), params)


def array_summary(x, max_size: int = 8) -> str:
    """A short text for an array in a result's repr.

    The numbers for a scalar or an array of up to `max_size` entries (6 significant digits), else
    dtype, shape and range, with the non-finite entries counted.

    Parameters
    ----------
    x : Any
        An array, a Python number, a string or None (shown by `repr`); a tracer is shown by its
        dtype and shape.
    max_size : int, default 8
        The largest array whose entries are listed.

    Returns
    -------
    str
        The summary.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.params import array_summary
    >>> array_summary(np.array([0.5, 1.25]))
    '[0.5, 1.25]'
    >>> array_summary(np.array([0.0, np.nan, 2.0]), max_size=2)
    'float64[3] min=0 max=2 (1 non-finite)'
    """
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
    """``Name(field=value, ...)`` for a result or parameter object.

    Each array is shortened by `array_summary`; a status (a `RESULTS` item) is shown by its labels.

    Parameters
    ----------
    obj : Any
        The object; its class name heads the text.
    fields : Sequence of str
        The attribute names to show, in order.
    extra : dict of str to Any, optional
        Further entries appended after the fields.
    values : dict of str to Any, optional
        Values shown instead of some fields' own (e.g. without padding rows).

    Returns
    -------
    str
        The text.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> from jaxmf.params import module_repr
    >>> module_repr(SimpleNamespace(t=np.arange(3.0)), ["t"], extra={"n": 3})
    'SimpleNamespace(t=[0, 1, 2], n=3)'
    """
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


def _present_fields(module) -> list[str]:
    """The fields of a parameter set that are given (the absent optional ones left out)."""
    return [f.name for f in dataclasses.fields(module) if getattr(module, f.name) is not None]


def has_extension(params: Params, name: str) -> bool:
    """Whether an optional model extension is present in a parameter set.

    Parameters
    ----------
    params : Params
        The parameter set.
    name : str
        One of `OPTIONAL_FIELDS`.

    Returns
    -------
    bool
        True when the field is given (even as 0.0), False when it is absent (None).

    Raises
    ------
    ParameterError
        When `name` is not an optional field.

    Examples
    --------
    >>> from jaxmf.params import Params, has_extension
    >>> has_extension(Params(), "gamma"), has_extension(Params(gamma=0.0), "gamma")
    (False, True)
    """
    if name not in OPTIONAL_FIELDS:
        raise ParameterError(
            name, f"not an optional field; choose from {', '.join(OPTIONAL_FIELDS)}"
        )
    return getattr(params, name) is not None


def _value_or_zeros(params: Params, field: str) -> jax.Array:
    """A field's value; zeros of its shape and dtype when it is an absent optional field."""
    x = getattr(params, field)
    if x is None:
        return jnp.zeros_like(params.g if field in MATRIX_FIELDS else params.eta_bar)
    return x


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
    """Where a named parameter lives in `Params`.

    Made by `parse_parameter`; accepted wherever a parameter name is.

    Attributes
    ----------
    field : str
        A `Params` field, or "kappa" for fractions = [kappa, 1 - kappa].
    index : tuple of int or None
        A population ``(m,)``, one entry ``(m, k)`` of g, or None for every entry.

    Examples
    --------
    >>> from jaxmf.params import ParameterAddress
    >>> ParameterAddress("g", (0, 1)).name
    'g[0,1]'
    """

    field: str
    # The public field name shadows tuple.index on purpose; mypy reports any such override.
    index: tuple[int, ...] | None  # type: ignore[assignment]

    @property
    def name(self) -> str:
        """Canonical form: 'eta_bar', 'eta_bar[1]', 'g[0,1]', 'kappa'.

        Returns
        -------
        str
            The address as `parse_parameter` reads it back.
        """
        return (
            self.field
            if self.index is None
            else f"{self.field}[{','.join(str(i) for i in self.index)}]"
        )

    @property
    def key(self) -> str:
        """Identifier form for table columns and dataset coordinates: 'eta_bar_1', 'g_0_1'.

        Returns
        -------
        str
            The address with indices joined by underscores.
        """
        return self.field + "".join(f"_{i}" for i in self.index or ())


def parse_parameter(name: str, n_populations: int | None = None) -> ParameterAddress:
    """Parse a parameter address.

    An address is a `Params` field ('w_jump': every population), one population ('w_jump[1]' or
    'w_jump_1'), one entry of a (P, P) field ('g[0,1]' or 'g_0_1'; also g_el and delay) or
    'kappa' (the first population's share, two populations only). The optional fields
    (`OPTIONAL_FIELDS`) are addressed like the others, present or not.

    Parameters
    ----------
    name : str
        The address.
    n_populations : int, optional
        When given, indices and 'kappa' are checked against it.

    Returns
    -------
    ParameterAddress
        The field and index.

    Raises
    ------
    ParameterError
        When the field is unknown, the index does not fit the field, or (with `n_populations`)
        an index is out of range.

    Examples
    --------
    >>> from jaxmf.params import parse_parameter
    >>> parse_parameter("g_0_1")
    ParameterAddress(field='g', index=(0, 1))
    >>> parse_parameter("eta_bar[1]").key
    'eta_bar_1'
    """
    m = _ADDRESS.match(name.strip()) if isinstance(name, str) else None
    known = (*PER_POPULATION_FIELDS, "g", *SCALAR_FIELDS, *OPTIONAL_FIELDS, "kappa")
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
    if field in MATRIX_FIELDS and len(idx) == 1:
        raise ParameterError(
            str(name), f"{field} is a (P, P) matrix: give {field} (every entry) or {field}[m,k]"
        )
    if field not in MATRIX_FIELDS and len(idx) > 1:
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
    """The scalar value of a named parameter.

    An unindexed per-population field or g gives its first entry; 'kappa' gives fractions[0];
    an absent optional field gives 0.

    Parameters
    ----------
    params : Params
        The parameter set.
    name : str or ParameterAddress
        The address (see `parse_parameter`).

    Returns
    -------
    jax.Array
        A scalar (batched sets give one value per set for 'kappa').

    Raises
    ------
    ParameterError
        When the address is invalid for `params`.

    Examples
    --------
    >>> from jaxmf.params import Params, get_parameter
    >>> p = Params(eta_bar=[0.1, 0.2], fractions=[0.5, 0.5])
    >>> round(float(get_parameter(p, "eta_bar[1]")), 6)
    0.2
    """
    addr = _address(params, name)
    if addr.field == "kappa":
        return params.fractions[..., 0]
    x = _value_or_zeros(params, addr.field)
    return x[addr.index] if addr.index is not None else x.reshape(-1)[0]


def set_parameters(params: Params, names: Sequence[str | ParameterAddress], values) -> Params:
    """Set several named parameters.

    An unindexed field is set on every entry; 'kappa' sets fractions to [kappa, 1 - kappa]; an
    absent optional field becomes present (zeros but for the entries set). Traceable (works under
    jit, vmap and grad): no value checks, so validate values with `Params(...)` or
    `params.replace(...)` where they are concrete.

    Parameters
    ----------
    params : Params
        The parameter set.
    names : Sequence of str or ParameterAddress
        The addresses (see `parse_parameter`).
    values : Sequence of array_like
        One scalar per address, cast to the field's dtype.

    Returns
    -------
    Params
        The changed copy.

    Raises
    ------
    ParameterError
        When an address is invalid for `params`.

    Examples
    --------
    >>> from jaxmf.params import Params, set_parameters
    >>> p = set_parameters(Params(), ["eta_bar", "w_jump"], [0.3, 0.0])
    >>> round(float(p.eta_bar[0]), 6), float(p.w_jump[0])
    (0.3, 0.0)
    """
    new: dict[str, jax.Array] = {}
    for name, value in zip(names, values):
        addr = _address(params, name)
        if addr.field == "kappa":
            value = jnp.asarray(value, params.fractions.dtype)
            new["fractions"] = jnp.stack([value, 1 - value])
            continue
        cur = new.get(addr.field, _value_or_zeros(params, addr.field))
        value = jnp.asarray(value, cur.dtype)
        new[addr.field] = (
            jnp.full_like(cur, value) if addr.index is None else cur.at[addr.index].set(value)
        )
    fields = list(new)
    return eqx.tree_at(
        lambda p: [getattr(p, f) for f in fields],
        params,
        [new[f] for f in fields],
        is_leaf=lambda x: x is None,
    )


def set_parameter(params: Params, name: str | ParameterAddress, value) -> Params:
    """Set one named parameter (traceable, see `set_parameters`).

    Parameters
    ----------
    params : Params
        The parameter set.
    name : str or ParameterAddress
        The address (see `parse_parameter`).
    value : array_like
        The new scalar value.

    Returns
    -------
    Params
        The changed copy.

    Raises
    ------
    ParameterError
        When the address is invalid for `params`.

    Examples
    --------
    >>> from jaxmf.params import Params, set_parameter
    >>> p = set_parameter(Params(eta_bar=[0.1, 0.2], fractions=[0.5, 0.5]), "g[0,1]", 0.0)
    >>> p.g.tolist()[0][1]
    0.0
    """
    return set_parameters(params, [name], [value])


def parameter_names(params: Params) -> tuple[str, ...]:
    """Every address of a parameter set.

    Each field, each population of it (when P > 1), each g[m,k], v_peak, v_reset, the present
    optional fields likewise, and 'kappa' for two populations.

    Parameters
    ----------
    params : Params
        The parameter set (its number of populations decides the indices).

    Returns
    -------
    tuple of str
        The addresses, in field order.

    Examples
    --------
    >>> from jaxmf.params import Params, parameter_names
    >>> parameter_names(Params())[:4]
    ('alpha', 'eta_bar', 'delta_eta', 'i_ext')
    """
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
    for field in OPTIONAL_FIELDS:
        if getattr(params, field) is None:
            continue
        names.append(field)
        if p > 1 and field in MATRIX_FIELDS:
            names.extend(f"{field}[{m},{k}]" for m in range(p) for k in range(p))
        elif p > 1:
            names.extend(f"{field}[{i}]" for i in range(p))
    if p == 2:
        names.append("kappa")
    return tuple(names)


def stack_params(params_list) -> Params:
    """A batch of parameter sets, stacked on a new leading axis.

    For `simulate_network` (which runs a batch at once) or `jax.vmap`.

    Parameters
    ----------
    params_list : Sequence of Params
        Parameter sets with the same number of populations.

    Returns
    -------
    Params
        One `Params` whose fields have a leading batch axis.

    Examples
    --------
    >>> from jaxmf.params import Params, stack_params
    >>> stack_params([Params(eta_bar=0.1), Params(eta_bar=0.2)]).eta_bar.shape
    (2, 1)
    """
    return jax.tree.map(lambda *xs: jnp.stack(xs), *params_list)


def first_params(params: Params) -> Params:
    """The first parameter set of a batch made by `stack_params`; an unbatched set unchanged.

    Parameters
    ----------
    params : Params
        A batched or unbatched parameter set.

    Returns
    -------
    Params
        An unbatched parameter set.

    Examples
    --------
    >>> from jaxmf.params import Params, first_params, stack_params
    >>> round(float(first_params(stack_params([Params(eta_bar=0.1), Params()])).eta_bar[0]), 6)
    0.1
    """
    return jax.tree.map(lambda x: x[0], params) if jnp.ndim(params.eta_bar) == 2 else params


def synaptic_drive(params: Params, s: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The conductance terms each population feels for given synaptic activations.

    (gs)_m = sum_k g[m, k] fractions[k] s_k and (gs e_r)_m = sum_k g[m, k] fractions[k] s_k e_r[k].
    The network, the mean field and the theta network all use this one definition.

    Parameters
    ----------
    params : Params
        The parameter set.
    s : jax.Array
        Synaptic activations, shape (P,).

    Returns
    -------
    gs : jax.Array
        Total conductance onto each population, shape (P,).
    gs_er : jax.Array
        Conductance weighted by the presynaptic reversal potentials, shape (P,).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.params import Params, synaptic_drive
    >>> gs, gs_er = synaptic_drive(Params(g=2.0, e_r=0.5), jnp.array([0.25]))
    >>> float(gs[0]), float(gs_er[0])
    (0.5, 0.25)
    """
    fs = params.fractions * s
    return params.g @ fs, params.g @ (fs * params.e_r)


def check_params(params: Any, name: str = "params") -> Params:
    """Refuse anything that is not a `Params`, with the fix for a `DimensionalParams`.

    Parameters
    ----------
    params : Any
        The value to check.
    name : str, default "params"
        The argument's name, used in the error message.

    Returns
    -------
    Params
        `params` itself.

    Raises
    ------
    ParameterError
        When `params` is not a `Params`; a `DimensionalParams` is told to convert with
        ``.to_dimensionless()``.

    Examples
    --------
    >>> from jaxmf.params import DimensionalParams, check_params
    >>> check_params(DimensionalParams())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    jaxmf.params.ParameterError: params: must be jaxmf.Params; got DimensionalParams ...
    """
    if isinstance(params, Params):
        return params
    hint = " (convert it with .to_dimensionless())" if isinstance(params, DimensionalParams) else ""
    raise ParameterError(name, f"must be jaxmf.Params; got {type(params).__name__}{hint}")


def check_positive(name: str, x: Any, *, allow_zero: bool = False) -> float:
    """A finite number > 0 (or >= 0) as a float, else an error naming it.

    For step sizes, tolerances, times and memory budgets. Strings, booleans and complex numbers are
    refused.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    x : Any
        The value to check.
    allow_zero : bool, default False
        Accept 0 as well.

    Returns
    -------
    float
        `x` as a float.

    Raises
    ------
    ParameterError
        When `x` is not a finite number in range.

    Examples
    --------
    >>> from jaxmf.params import check_positive
    >>> check_positive("dt", "0.1")
    Traceback (most recent call last):
    ...
    jaxmf.params.ParameterError: dt: must be a finite number > 0; got '0.1'
    >>> check_positive("t0", 0, allow_zero=True)
    0.0
    """
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
    """A whole number >= `minimum` as an int, else an error naming it.

    For counts, seeds and chunk sizes: 2.0 is accepted, 2.5 and True are not.

    Parameters
    ----------
    name : str
        The argument's name, used in the error message.
    x : Any
        The value to check.
    minimum : int, default 1
        The smallest value allowed.

    Returns
    -------
    int
        `x` as an int.

    Raises
    ------
    ParameterError
        When `x` is not a whole number >= `minimum`.

    Examples
    --------
    >>> from jaxmf.params import check_whole
    >>> check_whole("n", 2.0)
    2
    >>> check_whole("seed", -1, minimum=0)
    Traceback (most recent call last):
    ...
    jaxmf.params.ParameterError: seed: must be a whole number >= 0; got -1
    """
    if (
        isinstance(x, bool)
        or not isinstance(x, (int, float, np.integer, np.floating))
        or not float(x).is_integer()
        or x < minimum
    ):
        raise ParameterError(name, f"must be a whole number >= {minimum}; got {x!r}")
    return int(x)


def params_to_dict(params: Params) -> dict[str, Any]:
    """The JSON-safe form of a parameter set (`jaxmf.io` writes it; `jaxmf.io.params_from_dict`
    reads it back).

    Each field becomes a (nested) list of floats, plus the dtype; floats print with enough digits
    to read back bit for bit with `params_from_dict`.

    Parameters
    ----------
    params : Params
        A parameter set (batched sets give nested lists).

    Returns
    -------
    dict of str to Any
        Field name to list of floats, and 'dtype' (float64 when the fields' dtypes differ).

    Examples
    --------
    >>> import jaxmf
    >>> from jaxmf.params import params_to_dict
    >>> d = params_to_dict(jaxmf.presets.tonic())
    >>> d["eta_bar"], d["dtype"] in ("float32", "float64")
    ([0.25], True)
    """
    fields = {
        f.name: np.asarray(getattr(params, f.name))
        for f in dataclasses.fields(params)
        if getattr(params, f.name) is not None  # an absent model extension is left out
    }
    dtypes = {str(x.dtype) for x in fields.values()}
    out: dict[str, Any] = {name: x.tolist() for name, x in fields.items()}
    out["dtype"] = dtypes.pop() if len(dtypes) == 1 else "float64"
    return out
