"""Hypothesis strategies for the property tests: valid values of each `Params` field and the
wrong values a user can pass instead (wrong Python types, non-finite, out-of-range, wrong shapes).

Valid draws come from a few fixed values per field so that repeated examples reuse compiled
functions (the shapes never change; only values that are traced arguments vary).
"""

from __future__ import annotations

import math

import hypothesis.strategies as st
import jax.numpy as jnp
import numpy as np

# Inside-domain values of each dimensionless field (one population), near the paper's set.
VALID = {
    "alpha": (0.6215, 0.3, 0.9),
    "eta_bar": (0.12, 0.25, -0.1, 0.0),
    "delta_eta": (0.02, 0.001, 0.1),
    "i_ext": (0.0, 0.05, -0.05),
    "a": (0.0077, 0.077, 0.002),
    "b": (-0.0062, 0.0, 0.01),
    "w_jump": (0.0189, 0.0, 0.05),
    "tau_s": (2.6, 1.0, 5.0),
    "s_jump": (1.2308, 0.0, 2.0),
    "e_r": (1.0, 0.5),
    "g": (1.2308, 0.0, 2.0),
    "v_peak": (200.0, 100.0),
    "v_reset": (-200.0, -100.0),
    "fractions": (1.0,),
}

# The domain `Params` promises (model.md / Params.__check_init__), as predicates on a value.
DOMAIN = {
    "delta_eta": lambda x: x >= 0,
    "a": lambda x: x > 0,
    "w_jump": lambda x: x >= 0,
    "tau_s": lambda x: x > 0,
    "s_jump": lambda x: x >= 0,
    "g": lambda x: x >= 0,
    "v_peak": lambda x: x > 0,
    "fractions": lambda x: (x > 0) & (x <= 1),
}

FIELDS = tuple(VALID)

NON_FINITE = (math.nan, math.inf, -math.inf)

# Objects that are not numbers at all, or numbers of the wrong kind.
WRONG_TYPES = (None, "0.1", b"1", 0.1 + 0.2j, {"eta_bar": 0.1}, object(), [None], (1.0, "x"))


def wrong_shapes(n_pop: int = 1):
    """Arrays whose shape no field of an `n_pop`-population `Params` accepts."""
    return st.sampled_from(
        [
            np.ones((2, 2, 2)),
            np.ones((n_pop + 2,)) * 0.1,
            np.ones((3, n_pop + 1)) * 0.1,
            np.zeros((0,)),
        ]
    )


def valid_value(field: str):
    """A valid value of `field` as a Python float, a NumPy scalar or a JAX scalar."""
    base = st.sampled_from(VALID[field])
    # float32 among float64 fields: the solve's dtype must not be taken from one field.
    return st.one_of(
        base, base.map(np.float64), base.map(np.float32), base.map(lambda x: jnp.asarray(x))
    )


def edge_value(field: str):
    """Values on or just past the edge of the field's domain, and huge magnitudes."""
    return st.sampled_from([0.0, -0.0, -1e-12, 1e-12, -1.0, 1e6, -1e6, 1e300, -1e300, 5e-324])


def any_value(field: str, n_pop: int = 1):
    """Anything a user might pass for `field`: valid, edge, non-finite, wrong type or shape."""
    return st.one_of(
        valid_value(field),
        edge_value(field),
        st.sampled_from(NON_FINITE),
        st.sampled_from(WRONG_TYPES),
        wrong_shapes(n_pop),
    )


def params_override():
    """(field, value) for one field of the paper's parameter set, valid or not."""
    return st.sampled_from(FIELDS).flatmap(lambda f: st.tuples(st.just(f), any_value(f)))


def valid_override():
    """(field, value) for one field, always inside the domain (a model that must run)."""
    return st.sampled_from(FIELDS).flatmap(
        lambda f: st.tuples(st.just(f), st.sampled_from(VALID[f]))
    )
