"""Named parameter sets from the paper (Chen & Campbell 2022), with overrides.

`chen_campbell_2022()` is the one-population set converted exactly from the dimensional values;
`rounded=True` gives the 4-digit values the paper's bifurcation diagrams were computed with.
Every preset accepts overrides of any `Params` field, e.g. `chen_campbell_2022(eta_bar=0.25)`.
Arguments are keyword-only: `chen_campbell_2022(0.3)` would otherwise read 0.3 as `rounded`.
"""

from __future__ import annotations

import numpy as np

from .params import DimensionalParams, ParameterError, Params, set_dimensional

__all__ = ["chen_campbell_2022", "two_population", "bursting", "tonic", "PRESETS", "get"]

_ROUNDED = dict(
    alpha=0.6215, g=1.2308, e_r=1.0, a=0.0077, b=-0.0062, w_jump=0.0189, s_jump=1.2308, tau_s=2.6
)
# Weakly adapting population q of section 2 (tau_W = 20 ms, W_jump = 100 pA): a_q = 10 a_p.
_ROUNDED_Q = dict(a=0.077, w_jump=0.0095)


UNITS = ("dimensionless", "dimensional")


def _override(base: Params, units: str, overrides: dict) -> Params:
    """`base` with `overrides` in the model's units, or in physical units (pA, ms, mV, nS at
    the paper's scales; `params.set_dimensional`)."""
    if units not in UNITS:
        raise ParameterError("units", f"must be one of {', '.join(UNITS)}; got {units!r}")
    if not overrides:
        return base
    if units == "dimensional":
        return set_dimensional(base, **overrides)
    return base.replace(**overrides)


def chen_campbell_2022(
    *, rounded: bool = False, units: str = "dimensionless", **overrides
) -> Params:
    """The paper's one-population parameter set, with overrides.

    Delta_eta = 0.02, I_ext = 0 and eta_bar = 0.12 (bursting) unless overridden; the values are the
    exact conversion of the dimensional set (Chen & Campbell 2022, section 2).

    Parameters
    ----------
    rounded : bool, default False
        Use the paper's 4-digit rounded dimensionless values, with which its bifurcation diagrams
        were computed.
    units : {'dimensionless', 'dimensional'}, default 'dimensionless'
        'dimensionless': overrides are `Params` fields. 'dimensional': overrides are
        `DimensionalParams` fields in pA, ms, mV, nS (e.g. ``i_ext=5.0`` for 5 pA), converted at the
        paper's scales.
    **overrides : float or array_like
        Fields to replace, e.g. ``eta_bar=0.25``.

    Returns
    -------
    Params
        Always dimensionless: the model that is simulated.

    Raises
    ------
    ParameterError
        When `units` is unknown, or an override names no field or is out of range.

    Examples
    --------
    >>> from jaxmf import presets
    >>> p = presets.chen_campbell_2022(units="dimensional", i_ext=5.0, tau_w=100.0)  # 5 pA, 100 ms
    >>> round(float(p.i_ext[0]) * 2.5 * 65**2, 6), round(float(p.a[0]), 6)
    (5.0, 0.015385)
    >>> round(float(presets.chen_campbell_2022(rounded=True).g[0, 0]), 6)
    1.2308
    """
    base = DimensionalParams().to_dimensionless()
    if rounded:
        base = base.replace(**_ROUNDED)
    return _override(base, units, overrides)


def two_population(
    *, kappa: float = 0.8, rounded: bool = False, units: str = "dimensionless", **overrides
) -> Params:
    """Strongly and weakly adapting populations (the paper's section 2 and Figure 4).

    Population p (fraction kappa) has tau_W = 200 ms and W_jump = 200 pA; population q
    (1 - kappa) has tau_W = 20 ms and W_jump = 100 pA. Conductances are equal; each population has
    its own synaptic variable and Lorentzian excitability.

    Parameters
    ----------
    kappa : float, default 0.8
        Fraction of the strongly adapting population, in (0, 1]; 1 gives the one-population model.
    rounded : bool, default False
        Use the paper's 4-digit rounded values for both populations.
    units : {'dimensionless', 'dimensional'}, default 'dimensionless'
        Units of the overrides, as in `chen_campbell_2022`.
    **overrides : float or array_like
        Fields to replace (per-population values as lists).

    Returns
    -------
    Params
        Two populations (one when kappa = 1), dimensionless.

    Raises
    ------
    ParameterError
        When kappa is not a number in (0, 1], or an override is invalid.

    Examples
    --------
    >>> from jaxmf import presets
    >>> p = presets.two_population(kappa=0.7)
    >>> p.n_populations, [round(x, 6) for x in p.fractions.tolist()]
    (2, [0.7, 0.3])
    """
    if (
        isinstance(kappa, bool)
        or not isinstance(kappa, (int, float, np.integer, np.floating))
        or not 0 < kappa <= 1
    ):
        raise ParameterError("kappa", f"must be a number in (0, 1]; got {kappa!r}")
    if kappa == 1:
        # With kappa = 1 population q is empty: it is the one-population model.
        return chen_campbell_2022(rounded=rounded, units=units, **overrides)
    d = DimensionalParams(tau_w=[200.0, 20.0], w_jump=[200.0, 100.0], fractions=[kappa, 1 - kappa])
    base = d.to_dimensionless()
    if rounded:
        base = base.replace(**_ROUNDED).replace(
            a=[_ROUNDED["a"], _ROUNDED_Q["a"]], w_jump=[_ROUNDED["w_jump"], _ROUNDED_Q["w_jump"]]
        )
    return _override(base, units, overrides)


def bursting(*, units: str = "dimensionless", **overrides) -> Params:
    """eta_bar = 0.12: collective bursting (slow adaptation oscillation), the paper's Figure 1b.

    Parameters
    ----------
    units : {'dimensionless', 'dimensional'}, default 'dimensionless'
        Units of the overrides, as in `chen_campbell_2022`.
    **overrides : float or array_like
        Fields to replace.

    Returns
    -------
    Params
        The one-population set at eta_bar = 0.12.

    Raises
    ------
    ParameterError
        When `units` or an override is invalid.

    Examples
    --------
    >>> from jaxmf import presets
    >>> round(float(presets.bursting().eta_bar[0]), 6)
    0.12
    """
    return _override(chen_campbell_2022(eta_bar=0.12), units, overrides)


def tonic(*, units: str = "dimensionless", **overrides) -> Params:
    """eta_bar = 0.25: tonic, asynchronous firing at a stable equilibrium (the paper's Figure 1a).

    Parameters
    ----------
    units : {'dimensionless', 'dimensional'}, default 'dimensionless'
        Units of the overrides, as in `chen_campbell_2022`.
    **overrides : float or array_like
        Fields to replace.

    Returns
    -------
    Params
        The one-population set at eta_bar = 0.25.

    Raises
    ------
    ParameterError
        When `units` or an override is invalid.

    Examples
    --------
    >>> from jaxmf import presets
    >>> round(float(presets.tonic(delta_eta=0.05).delta_eta[0]), 6)
    0.05
    """
    return _override(chen_campbell_2022(eta_bar=0.25), units, overrides)


def _rounded(**overrides) -> Params:
    return chen_campbell_2022(rounded=True, **overrides)


PRESETS = {
    "chen_campbell_2022": chen_campbell_2022,
    "chen_campbell_2022_rounded": _rounded,
    "rounded": _rounded,
    "bursting": bursting,
    "tonic": tonic,
    "two_population": two_population,
}
"""The presets by name, as `get` and the command line's `--preset` take them."""


def get(name: str, **overrides) -> Params:
    """A preset by name (the command line's ``--preset``), with overrides.

    Names are the keys of `PRESETS`: 'chen_campbell_2022', 'chen_campbell_2022_rounded' (alias
    'rounded'), 'bursting', 'tonic', 'two_population'.

    Parameters
    ----------
    name : str
        The preset's name.
    **overrides : Any
        Passed to the preset: fields to replace, and ``units='dimensional'`` to give them in
        physical units (``kappa`` for 'two_population').

    Returns
    -------
    Params
        The parameter set.

    Raises
    ------
    ParameterError
        When the name is unknown (its `name` is 'preset'), or an override is invalid.

    Examples
    --------
    >>> from jaxmf import presets
    >>> presets.get("tonic", units="dimensional", i_ext=10.0).n_populations
    1
    >>> presets.get("fast")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    jaxmf.params.ParameterError: preset: unknown preset 'fast'; choose one of ...
    """
    try:
        factory = PRESETS[name]
    except KeyError:
        raise ParameterError(
            "preset", f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None
    return factory(**overrides)
