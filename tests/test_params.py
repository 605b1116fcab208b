import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmf
from jaxmf.params import ParameterError, array_summary, promote_params

from .conftest import tree_allclose


def test_paper_dimensionless_values():
    # model.md section 1: the paper's 4-digit dimensionless values, from its dimensional set.
    p = jaxmf.presets.chen_campbell_2022()
    expected = dict(
        alpha=0.6215,
        g=1.2308,
        e_r=1.0,
        a=0.0077,
        b=-0.0062,
        w_jump=0.0189,
        s_jump=1.2308,
        tau_s=2.6,
    )
    for name, value in expected.items():
        assert float(np.ravel(getattr(p, name))[0]) == pytest.approx(value, abs=6e-5), name
    assert float(p.v_peak) == 200.0 and float(p.v_reset) == -200.0
    assert float(p.delta_eta[0]) == pytest.approx(0.02, rel=1e-12)


def test_rounded_preset_and_overrides():
    q = jaxmf.presets.chen_campbell_2022(rounded=True, w_jump=0.03)
    assert float(q.alpha[0]) == 0.6215 and float(q.a[0]) == 0.0077
    assert float(q.w_jump[0]) == 0.03
    assert float(jaxmf.presets.tonic().eta_bar[0]) == 0.25
    assert float(jaxmf.presets.bursting().eta_bar[0]) == 0.12


def test_round_trip_conversion():
    d = jaxmf.DimensionalParams()
    back = d.to_dimensionless().to_dimensional()
    assert tree_allclose(d, back, rtol=1e-12, atol=1e-12)
    p = jaxmf.presets.two_population(kappa=0.7, eta_bar=[0.1, 0.2])
    assert tree_allclose(
        p, p.to_dimensional(C=100.0, k=0.7, v_r=-60.0).to_dimensionless(), rtol=1e-12, atol=1e-12
    )


def test_dimensional_defaults_follow_paper():
    d = jaxmf.DimensionalParams()
    # V_T = V_R + 40 - beta/k
    assert float(d.v_t[0]) == pytest.approx(-65 + 40 - (-1) / 2.5)
    # One time unit is C/(k|V_R|) ms; a rate r is 1000 r k|V_R|/C Hz.
    assert float(d.time_unit_ms) == pytest.approx(250 / (2.5 * 65))
    assert float(d.rate_to_hz(0.1)) == pytest.approx(1000 * 0.1 * 2.5 * 65 / 250)
    assert float(d.hz_to_rate(d.rate_to_hz(0.1234))) == pytest.approx(0.1234, rel=1e-14)
    assert float(d.ms_to_time(d.time_to_ms(3.5))) == pytest.approx(3.5, rel=1e-14)


def test_two_population_preset():
    p = jaxmf.presets.two_population()
    assert p.n_populations == 2
    np.testing.assert_allclose(p.fractions, [0.8, 0.2])
    np.testing.assert_allclose(p.a[1], 10 * p.a[0], rtol=1e-12)  # tau_W 20 ms vs 200 ms
    np.testing.assert_allclose(p.w_jump, [0.0189, 0.0095], atol=6e-5)
    assert p.g.shape == (2, 2)
    one = jaxmf.presets.two_population(kappa=1.0)
    assert one.n_populations == 1


@pytest.mark.parametrize(
    "field,value,fragment",
    [
        ("delta_eta", -0.1, ">= 0"),
        ("tau_s", 0.0, "> 0"),
        ("a", -1.0, "> 0"),
        ("eta_bar", math.nan, "finite"),
        ("v_reset", 300.0, "< v_peak"),
        ("g", -1.0, ">= 0"),
    ],
)
def test_invariants_name_the_parameter(field, value, fragment):
    with pytest.raises(ParameterError, match=fragment) as err:
        jaxmf.presets.chen_campbell_2022(**{field: value})
    assert err.value.name == field
    assert str(err.value).startswith(field)


def test_bad_shapes_and_unknown_names():
    with pytest.raises(ParameterError, match="fractions"):
        jaxmf.Params(fractions=[0.5, 0.6], eta_bar=[0.1, 0.1])
    with pytest.raises(ParameterError, match="unknown parameter"):
        jaxmf.presets.chen_campbell_2022(etabar=0.1)
    with pytest.raises(ParameterError, match="kappa"):
        jaxmf.presets.two_population(kappa=1.5)
    with pytest.raises(ParameterError, match="preset"):
        jaxmf.presets.get("nope")


def test_params_are_pytrees_under_jit_and_vmap():
    p = jaxmf.presets.chen_campbell_2022()
    f = jax.jit(lambda q: q.replace(eta_bar=q.eta_bar * 2).to_dimensional().eta_bar)
    np.testing.assert_allclose(f(p), 2 * p.to_dimensional().eta_bar, rtol=1e-14)
    batch = jaxmf.stack_params([p, p.replace(eta_bar=0.3)])
    out = jax.vmap(lambda q: q.to_dimensional().to_dimensionless().eta_bar)(batch)
    np.testing.assert_allclose(out[:, 0], [0.12, 0.3], rtol=1e-12)


def test_range_checks_run_at_run_time_on_tracers():
    p = jaxmf.presets.tonic()
    widths = jax.jit(lambda d: p.replace(delta_eta=d).delta_eta)
    np.testing.assert_array_equal(widths(0.02), [0.02])
    with pytest.raises(Exception, match="delta_eta: must be >= 0"):
        jax.block_until_ready(widths(-0.02))
    # NaN passes the range check (a diverging fit stays a flagged result, not a crash).
    assert np.isnan(float(widths(float("nan"))[0]))
    # An infinite value is refused as at construction (tau_s = inf is no synapse model here).
    with pytest.raises(ParameterError, match="tau_s"):
        p.replace(tau_s=float("inf"))
    with pytest.raises(Exception, match="tau_s: must be > 0 .* and finite"):
        jax.block_until_ready(jax.jit(lambda t: p.replace(tau_s=t).tau_s)(float("inf")))
    with pytest.raises(Exception, match="v_reset: must be < v_peak"):
        jax.block_until_ready(jax.jit(lambda v: p.replace(v_reset=v).v_reset)(300.0))


def test_mixed_precision_is_widened_and_values_print():
    p = jaxmf.presets.tonic()
    mixed = eqx.tree_at(lambda q: q.eta_bar, p, p.eta_bar.astype(jnp.float32))
    assert mixed.dtype == np.float64
    wide = promote_params(mixed)
    assert all(x.dtype == jnp.float64 for x in jax.tree.leaves(wide))
    assert float(wide.eta_bar[0]) == float(np.float32(p.eta_bar[0]))
    assert promote_params(p) is p
    assert array_summary(np.arange(20.0)) == "float64[20] min=0 max=19"
    assert (
        array_summary(np.array([1.5, np.nan] * 5)) == "float64[10] min=1.5 max=1.5 (5 non-finite)"
    )
    assert array_summary(np.array([0.25, 2.0])) == "[0.25, 2]"


def test_optional_extensions_are_absent_by_default_and_read_as_zero():
    from jaxmf.params import OPTIONAL_FIELDS, get_parameter, has_extension, parameter_names

    p = jaxmf.presets.chen_campbell_2022()
    assert all(not has_extension(p, f) for f in OPTIONAL_FIELDS)
    assert len(jax.tree.leaves(p)) == 14  # absent fields add no leaves: the same compiled code
    assert all(float(get_parameter(p, f)) == 0.0 for f in OPTIONAL_FIELDS)
    assert not set(OPTIONAL_FIELDS) & set(parameter_names(p))
    assert "gamma" not in repr(p)
    with pytest.raises(ParameterError, match="not an optional field"):
        has_extension(p, "eta_bar")


def test_optional_extensions_given_become_arrays_and_are_addressable():
    from jaxmf.params import get_parameter, parameter_names, set_parameter

    two = jaxmf.presets.two_population()
    q = two.replace(gamma=0.01, g_el=[[0.0, 0.1], [0.2, 0.0]], delay=0.0)
    assert q.gamma.shape == (2,) and q.g_el.shape == (2, 2) and q.delay.shape == (2, 2)
    assert float(get_parameter(q, "g_el[1,0]")) == 0.2
    assert {"gamma[1]", "g_el[0,1]", "delay"} <= set(parameter_names(q))
    # Setting an absent field creates it: zeros but for the entry set (traceable).
    r = jax.jit(lambda x: set_parameter(two, "delay[0,1]", x))(1.5)
    np.testing.assert_array_equal(np.asarray(r.delay), [[0.0, 1.5], [0.0, 0.0]])
    assert jax.grad(lambda x: get_parameter(set_parameter(two, "tau_r", x), "tau_r[1]"))(0.3) == 1
    assert q.replace(gamma=None).gamma is None
    batch = jaxmf.params.stack_params([q, q.replace(gamma=0.02)])
    np.testing.assert_allclose(jax.vmap(lambda b: b.gamma[0])(batch), [0.01, 0.02])


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("gamma", -0.1, "gamma: must be >= 0"),
        ("sigma", -1.0, "sigma: must be >= 0"),
        ("g_el", -0.2, "g_el: must be >= 0"),
        ("tau_r", 0.0, "tau_r: must be > 0"),
        ("delay", -1.0, "delay: must be >= 0"),
        ("delay", [1.0, 2.0], "delay: expected a scalar or shape"),
    ],
)
def test_optional_extensions_are_checked(field, value, fragment):
    with pytest.raises(ParameterError, match=fragment):
        jaxmf.params.Params(**{field: value})


def test_optional_extensions_convert_to_physical_units_and_back():
    # Cauchy noise scales like a current, Gaussian noise like current x sqrt(time), gap junctions
    # like g, rise time and delay like time (C = 250 pF, k = 2.5 nS/mV, V_R = -65 mV).
    p = jaxmf.params.Params(gamma=0.01, sigma=0.02, g_el=0.05, tau_r=0.5, delay=2.0)
    d = p.to_dimensional()
    cur, tu = 2.5 * 65.0**2, 250.0 / (2.5 * 65.0)
    np.testing.assert_allclose(float(d.gamma[0]), 0.01 * cur, rtol=1e-14)
    np.testing.assert_allclose(float(d.sigma[0]), 0.02 * cur * math.sqrt(tu), rtol=1e-14)
    np.testing.assert_allclose(float(d.g_el[0, 0]), 0.05 * 2.5 * 65.0, rtol=1e-14)
    np.testing.assert_allclose(float(d.tau_rise[0]), 0.5 * tu, rtol=1e-14)
    np.testing.assert_allclose(float(d.delay[0, 0]), 2.0 * tu, rtol=1e-14)
    assert "ms" in repr(d) and "pA ms^1/2" in repr(d)
    assert tree_allclose(d.to_dimensionless(), p, rtol=1e-13, atol=1e-15)
    q = jaxmf.params.set_dimensional(jaxmf.params.Params(), delay=3.0, tau_r=2.0)
    np.testing.assert_allclose(float(q.delay[0, 0]), 3.0 / tu, rtol=1e-14)
    np.testing.assert_allclose(float(q.tau_r[0]), 2.0 / tu, rtol=1e-14)
    assert q.gamma is None


def test_optional_extensions_round_trip_through_files():
    from jaxmf import io

    p = jaxmf.presets.chen_campbell_2022(gamma=0.01)
    d = io.params_to_dict(p)
    assert "gamma" in d and "delay" not in d
    q = io.params_from_dict(d)
    assert q.delay is None and tree_allclose(q, p, rtol=0, atol=0)
