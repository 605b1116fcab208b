"""The right-hand side of the Chen & Campbell 2022 exact mean field, given its conductance terms.

`meanfield.chen_campbell` (the ODE) and `delay.delayed_meanfield_field` (the DDE) both call
`exact_rates`: they differ only in where (gs, gse) come from (the present s, or s read from the
past), so the two fields cannot drift apart. This module sits below both (it imports only the
parameter layer and the noise and gap-junction terms).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .noise import effective_half_width
from .params import Params
from .synapses import gap_junction_drive

__all__ = ["exact_rates"]


def exact_rates(params: Params, r, v, w, s, gs, gse, i_total) -> tuple[jax.Array, ...]:
    """(r', v', w', s') of the exact mean field for given conductance terms.

    Noise widens the Lorentzian (`jaxmf.noise.effective_half_width`); gap junctions couple the
    present voltages (they act without delay); s' is the first-order synapse (second-order
    synapses replace it, `jaxmf.meanfield`).

    Parameters
    ----------
    params : Params
        The parameters (unbatched).
    r, v, w, s : jax.Array
        Shape (P,). The state.
    gs, gse : jax.Array
        Shape (P,). (gs)_m and (gs e_r)_m, from the present s or the delayed one.
    i_total : jax.Array
        Scalar or shape (P,). params.i_ext plus the extra input at this time.

    Returns
    -------
    tuple of jax.Array
        (r', v', w', s'), shape (P,) each.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets
    >>> from jaxmf.params import synaptic_drive
    >>> p = presets.chen_campbell_2022(eta_bar=0.25)
    >>> r, v, w, s = (jnp.full(1, x) for x in (0.1, -0.5, 0.0, 0.0))
    >>> gs, gse = synaptic_drive(p, s)
    >>> [round(float(d[0]), 4) for d in exact_rates(p, r, v, w, s, gs, gse, p.i_ext)]
    [-0.1558, 0.7121, 0.0019, 0.1231]
    """
    dr = effective_half_width(params) / jnp.pi + 2 * r * v - r * (params.alpha + gs)
    dv = v * v - params.alpha * v - (jnp.pi * r) ** 2 + gse - gs * v - w + params.eta_bar + i_total
    if params.g_el is not None:
        G, G_vbar = gap_junction_drive(params, v)
        dr = dr - G * r
        dv = dv + (G_vbar - G * v)
    dw = params.a * (params.b * v - w) + params.w_jump * r
    ds = -s / params.tau_s + params.s_jump * r
    return dr, dv, dw, ds
