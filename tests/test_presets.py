"""Named parameter sets: keyword-only arguments, overrides, lookup by name."""

import numpy as np
import pytest

import jaxmf
from jaxmf import presets


def test_presets_are_keyword_only():
    # issue 13: chen_campbell_2022(0.3) used to return the rounded preset (0.3 read as `rounded`).
    with pytest.raises(TypeError):
        presets.chen_campbell_2022(0.3)
    with pytest.raises(TypeError):
        presets.two_population(0.5)
    assert float(presets.chen_campbell_2022(eta_bar=0.3).eta_bar[0]) == 0.3


def test_rounded_and_two_population_match_the_paper():
    rounded = presets.chen_campbell_2022(rounded=True)
    # The paper's 4-digit values (model.md): w_jump = 0.0189, g = 1.2308, tau_s = 2.6.
    np.testing.assert_array_equal(rounded.w_jump, [0.0189])
    np.testing.assert_array_equal(rounded.tau_s, [2.6])
    two = presets.two_population(kappa=0.6)
    np.testing.assert_allclose(two.fractions, [0.6, 0.4], rtol=1e-15)
    # kappa = 1 empties population q: the one-population model.
    assert presets.two_population(kappa=1.0).n_populations == 1
    with pytest.raises(jaxmf.ParameterError, match="kappa"):
        presets.two_population(kappa=1.5)


def test_get_by_name_with_overrides():
    assert presets.get("bursting", eta_bar=0.2).eta_bar[0] == 0.2
    np.testing.assert_array_equal(
        presets.get("rounded").w_jump, presets.chen_campbell_2022(rounded=True).w_jump
    )
    with pytest.raises(jaxmf.ParameterError, match="unknown preset 'nope'"):
        presets.get("nope")


def test_physical_overrides_convert_by_the_papers_formulas():
    """units='dimensional': I_ext in pA is I/(k V_R^2), tau_W in ms gives a = C/(tau_W k|V_R|)
    (model.md section 1), and the other fields stay exactly as they were."""
    base = presets.chen_campbell_2022(rounded=True)
    p = presets.chen_campbell_2022(rounded=True, units="dimensional", I_ext=5.0, tau_w=100.0)
    np.testing.assert_allclose(p.i_ext, [5.0 / (2.5 * 65.0**2)], rtol=1e-15)
    np.testing.assert_allclose(p.a, [250.0 / (100.0 * 2.5 * 65.0)], rtol=1e-15)
    for field in ("alpha", "eta_bar", "b", "w_jump", "tau_s", "g"):
        np.testing.assert_array_equal(getattr(p, field), getattr(base, field))
    b = presets.bursting(units="dimensional", W_jump=100.0)
    np.testing.assert_allclose(b.w_jump, [100.0 / (2.5 * 65.0**2)], rtol=1e-15)
    np.testing.assert_array_equal(b.eta_bar, [0.12])  # the preset's own value is dimensionless
    with pytest.raises(jaxmf.ParameterError, match="alpha"):
        presets.chen_campbell_2022(units="dimensional", alpha=0.6)
    with pytest.raises(jaxmf.ParameterError, match="units"):
        presets.tonic(units="SI")


def test_physical_values_round_trip_field_by_field():
    """Setting any physical field to its current value leaves every dimensionless field as it
    was (to round-off): the two conversions are inverse."""
    from jaxmf.params import DIMENSIONAL_UNITS, set_dimensional

    p = presets.two_population()
    dim = p.to_dimensional()
    for name in DIMENSIONAL_UNITS:
        q = set_dimensional(p, **{name: getattr(dim, name)})
        for field in ("alpha", "eta_bar", "a", "b", "w_jump", "tau_s", "s_jump", "g", "v_peak"):
            np.testing.assert_allclose(
                getattr(q, field), getattr(p, field), rtol=1e-13, err_msg=name
            )


def test_dimensional_params_print_their_units():
    text = repr(jaxmf.DimensionalParams())
    for part in ("C=250 pF", "tau_w=200 ms", "w_jump=200 pA", "v_r=-65 mV", "g_syn=200 nS"):
        assert part in text
