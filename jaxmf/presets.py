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
    """One population, Delta_eta = 0.02, I_ext = 0, eta_bar = 0.12 (bursting) unless overridden.

    Parameters
    ----------
    rounded : the paper's 4-digit rounded dimensionless values (its bifurcation diagrams).
    units : 'dimensionless' (overrides are `Params` fields) or 'dimensional' (overrides are
        `DimensionalParams` fields in pA, ms, mV, nS, e.g. i_ext=5.0 for 5 pA).
    **overrides : fields to replace, e.g. eta_bar=0.25.

    Returns
    -------
    Params (always dimensionless: the model that is simulated).

    Example
    -------
    >>> p = chen_campbell_2022(units="dimensional", i_ext=5.0, tau_w=100.0)   # 5 pA, 100 ms
    """
    base = DimensionalParams().to_dimensionless()
    if rounded:
        base = base.replace(**_ROUNDED)
    return _override(base, units, overrides)


def two_population(
    *, kappa: float = 0.8, rounded: bool = False, units: str = "dimensionless", **overrides
) -> Params:
    """Strongly (p, fraction kappa) and weakly (q, 1 - kappa) adapting populations, equal
    conductances; each population has its own synaptic variable and Lorentzian excitability.

    Parameters
    ----------
    kappa : fraction of the strongly adapting population, in (0, 1]; 1 is the one-population
        model.
    rounded : the paper's 4-digit rounded values for both populations.
    units : 'dimensionless' or 'dimensional' (overrides in pA, ms, mV, nS), as in
        `chen_campbell_2022`.
    **overrides : fields to replace (per-population values as lists).

    Returns
    -------
    Params
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
    Overrides as in `chen_campbell_2022`."""
    return _override(chen_campbell_2022(eta_bar=0.12), units, overrides)


def tonic(*, units: str = "dimensionless", **overrides) -> Params:
    """eta_bar = 0.25: tonic, asynchronous firing at a stable equilibrium (Figure 1a).
    Overrides as in `chen_campbell_2022`."""
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


def get(name: str, **overrides) -> Params:
    """Preset by name (the command line's `--preset`), with `overrides` of its fields
    (`units='dimensional'` among them gives the overrides in physical units).

    Raises ParameterError('preset') for an unknown name."""
    try:
        factory = PRESETS[name]
    except KeyError:
        raise ParameterError(
            "preset", f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None
    return factory(**overrides)
