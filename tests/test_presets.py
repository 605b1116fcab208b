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
