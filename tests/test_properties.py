"""Property-based tests of every public entry point (issue 13): for any drawn input, a call ends in
exactly one of
  (a) a named error: `ParameterError` (or TypeError for a wrong Python type) naming the argument;
  (b) a finite result with status successful that satisfies the model's invariants (rates and
      synaptic variables >= 0, branch points inside the parameter domain, ...);
  (c) a flagged result (status not successful, or a `NumericalError` under throw=True);
never an exception from inside jax/diffrax/equinox, never NaN/inf with status ok. The command line
exits 0, 1 (flagged) or 2 with one stderr line naming the option, never a traceback.

Profiles: "default" (a few drawn examples per test plus the explicit issue-13 calls, derandomized
so CI is reproducible, no shrinking; under 30 CPU-s for the module, mostly first compilations) and
"slow" (150 draws with shrinking: the `*_slow` copies of each test, marked slow, or
HYPOTHESIS_PROFILE=slow for every test). Entry points whose first compilation alone costs several
CPU-seconds (gradients, jacfwd, vmap, traced counts, continuation, fit, compare) run only in
the slow profile. Shapes are fixed (one population, n = 20, t1 = 0.5 or 5) so that repeated draws
reuse compiled functions.
"""

from __future__ import annotations

import math
import os

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings

import jaxmf
from jaxmf import presets

from .strategies import (
    DOMAIN,
    FIELDS,
    NON_FINITE,
    WRONG_TYPES,
    params_override,
    valid_override,
)

# The default profile does not shrink: the explicit cases already are the minimal calls of the
# issue-13 bullets, and shrinking an expected failure (xfail) would cost minutes.
settings.register_profile(
    "default",
    max_examples=6,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    report_multiple_bugs=False,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=list(HealthCheck),
)
settings.register_profile(
    "slow",
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
_SLOW_COPIES: dict = {}

FLAGGED_ERRORS = (jaxmf.NumericalError, jaxmf.SimulationError, jaxmf.ContinuationError)


def prop(examples, /, *, marks=(), cases=(), slow_only=False, **strategies):
    """A hypothesis test with `examples` drawn examples in the default profile plus the explicit
    `cases` (dicts of arguments: the calls named in issue 13), and a `<name>_slow` copy (marked
    slow) that draws the slow profile's count. `slow_only`: the entry point's first compilation
    costs several CPU-seconds, so only the slow copy (under the test's own name) exists."""

    def wrap(body):
        fast_settings = settings(
            settings.get_profile(PROFILE),
            **({"max_examples": examples} if PROFILE == "default" else {}),
        )
        fast = given(**strategies)(body)
        slow = given(**strategies)(body)
        for case in cases:
            fast, slow = example(**case)(fast), example(**case)(slow)
        fast = fast_settings(fast)
        slow = pytest.mark.slow(settings(settings.get_profile("slow"))(slow))
        for mark in marks:
            fast, slow = mark(fast), mark(slow)
        if slow_only:
            return slow
        _SLOW_COPIES[body.__name__ + "_slow"] = slow
        return fast

    return wrap


def is_ok(status) -> np.ndarray:
    """status == successful, for a RESULTS item or the integer codes (0 = ok) some results
    still carry."""
    if hasattr(status, "_enumeration"):
        return np.asarray(status == jaxmf.RESULTS.successful)
    return np.asarray(status) == 0


def named_error(exc: BaseException, names) -> None:
    """The error names one of the arguments (message or `.name`)."""
    text = f"{getattr(exc, 'name', '')} {exc}"
    assert any(n in text for n in names), f"{type(exc).__name__} does not name {names}: {exc}"


def outcome(call, names):
    """Run `call`; return (None, result) or (exception, None) for a named or flagged error.
    Anything else (an error from inside jax, an unnamed ValueError, ...) propagates and fails."""
    try:
        return None, call()
    except (jaxmf.ParameterError, TypeError) as e:
        named_error(e, names)
        return e, None
    except FLAGGED_ERRORS as e:
        return e, None


def finite(*xs) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(x)))) for x in xs)


def base_params(field=None, value=None) -> jaxmf.Params:
    p = presets.chen_campbell_2022()
    return p if field is None else p.replace(**{field: value})


def params_or_skip(field, value):
    """The paper's set with one field changed, or None when `Params` refuses it (in any way:
    how `Params` refuses is the Params tests' business, not the entry point's)."""
    try:
        return base_params(field, value)
    except Exception:
        return None


def numeric_scalar(x) -> bool:
    if isinstance(x, (bool, str, bytes, complex)) or x is None:
        return False
    try:
        arr = np.asarray(x)
    except Exception:
        return False
    return arr.dtype.kind in "fiu" and arr.shape in ((), (1,))


# Params, DimensionalParams and presets.


@prop(
    40,
    cases=[
        dict(fv=("eta_bar", 0.1 + 0.2j)),
        dict(fv=("eta_bar", "0.1")),
        dict(fv=("eta_bar", None)),
        dict(fv=("delta_eta", math.nan)),
    ],
    fv=params_override(),
)
def test_params_accepts_only_its_domain(fv):
    field, value = fv
    names = [field]
    if isinstance(value, np.ndarray) and value.size and value.ndim <= 2:
        names += ["fractions", "populations"]  # the shape sets the number of populations
    err, p = outcome(lambda: jaxmf.Params(**{field: value}), names)
    if err is not None:
        return
    # Constructed: the field holds exactly the given real number (no truncation of complex
    # values, no strings parsed, no shapes silently broadcast) and lies in the domain.
    assert numeric_scalar(value), f"Params accepted {field}={value!r}"
    got = np.asarray(getattr(p, field))
    assert got.dtype.kind == "f" and finite(got)
    np.testing.assert_array_equal(got.reshape(-1)[:1], np.asarray(value, float).reshape(-1)[:1])
    if field in DOMAIN:
        assert np.all(DOMAIN[field](got))
    if field == "v_reset":
        assert np.all(got < np.asarray(p.v_peak))


@prop(
    15,
    fv=params_override(),
)
def test_replace_checks_like_the_constructor(fv):
    field, value = fv
    p0 = base_params()
    names = [field, "fractions", "populations"]
    err_new, _ = outcome(lambda: jaxmf.Params(**{field: value}), names)
    err_rep, p = outcome(lambda: p0.replace(**{field: value}), names)
    assert (err_new is None) == (err_rep is None), (err_new, err_rep)


_DIMENSIONAL = (
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
    "C",
    "k",
    "v_r",
    "v_peak",
    "v_reset",
)


@prop(
    20,
    field=st.sampled_from(_DIMENSIONAL),
    value=st.one_of(st.sampled_from(NON_FINITE + WRONG_TYPES + (-1.0, 0.0, 1e300))),
)
def test_dimensional_params_refuse_or_convert_finitely(field, value):
    err, d = outcome(lambda: jaxmf.DimensionalParams(**{field: value}), [field])
    if err is not None:
        return
    assert numeric_scalar(value), f"DimensionalParams accepted {field}={value!r}"
    err, p = outcome(d.to_dimensionless, [field])
    if err is None:
        assert all(finite(x) for x in jax.tree.leaves(p))


@prop(12, cases=[dict(arg=0.3)], arg=st.sampled_from([0.3, True, 1, "x", None]))
def test_presets_take_keywords_only(arg):
    # chen_campbell_2022(0.3) used to return the rounded preset (issue 13): positional misuse
    # must be a TypeError.
    with pytest.raises(TypeError):
        presets.chen_campbell_2022(arg)


@prop(
    12,
    kappa=st.sampled_from(
        [0.8, 0.5, 1.0, 0.0, -0.2, 1.5, math.nan, math.inf, None, "0.8", 0.8 + 0j]
    ),
)
def test_two_population_kappa(kappa):
    err, p = outcome(lambda: presets.two_population(kappa=kappa), ["kappa"])
    if err is None:
        assert numeric_scalar(kappa) and 0 < kappa <= 1
        f = np.asarray(p.fractions)
        assert np.isclose(f.sum(), 1.0) and np.all(f > 0)


@prop(
    8, name=st.sampled_from(list(presets.PRESETS) + ["nope", "", "BURSTING"]), fv=valid_override()
)
def test_preset_by_name(name, fv):
    err, p = outcome(lambda: presets.get(name, **{fv[0]: fv[1]}), ["preset", fv[0]])
    if err is None:
        assert name in presets.PRESETS and all(finite(x) for x in jax.tree.leaves(p))


@prop(
    6,
    obj=st.sampled_from(["dict", "dimensional", "string", "none", "array"]),
)
def test_wrong_parameter_object(obj):
    wrong = {
        "dict": {"eta_bar": 0.1},
        "dimensional": jaxmf.DimensionalParams(),
        "string": "bursting",
        "none": None,
        "array": np.ones(4),
    }[obj]
    for call in (
        lambda: jaxmf.solve_meanfield(wrong, t1=2.0),
        lambda: jaxmf.simulate_network(wrong, n=20, t1=0.5, progress=False),
        lambda: jaxmf.meanfield_equilibria(wrong),
    ):
        err, _ = outcome(call, ["params", "Params"])
        assert err is not None


# Mean field.

TS = np.linspace(0.0, 5.0, 11)


_SOLVE_OK = dict(fv=("eta_bar", 0.12), t1=5.0, ts="grid", rtol=1e-8, max_steps=4096, y0="zeros")


@prop(
    10,
    cases=[
        {**_SOLVE_OK, "ts": "nan"},
        {**_SOLVE_OK, "t1": math.inf},
        {**_SOLVE_OK, "ts": "decreasing"},
        {**_SOLVE_OK, "rtol": -1e-6},
        {**_SOLVE_OK, "max_steps": 0},
        {**_SOLVE_OK, "y0": "nan"},
        {**_SOLVE_OK, "fv": ("eta_bar", np.float32(0.12))},
    ],
    fv=params_override(),
    t1=st.sampled_from([5.0, 0.0, -1.0, math.nan, math.inf, None, "5", np.float32(5.0)]),
    ts=st.sampled_from(["grid", "nan", "decreasing", "beyond", "2d", "none"]),
    rtol=st.sampled_from([1e-8, 1e-6, 0.0, -1e-6, 10.0, math.nan]),
    max_steps=st.sampled_from([4096, 0, -1, 2.5, 3]),
    y0=st.sampled_from(["zeros", "nan", "shape"]),
)
def test_solve_meanfield(fv, t1, ts, rtol, max_steps, y0):
    field, value = fv
    p = params_or_skip(field, value)
    if p is None:
        return
    t_end = 5.0 if not numeric_scalar(t1) or not np.isfinite(float(t1)) else float(t1)
    ts_arr = {
        "grid": np.linspace(0, t_end, 11),
        "nan": np.array([math.nan]),
        "decreasing": np.linspace(t_end, 0, 11),
        "beyond": np.linspace(0, 2 * t_end + 1, 11),
        "2d": np.ones((2, 3)),
        "none": None,
    }[ts]
    y0_val = {
        "zeros": None,
        "nan": jaxmf.MeanFieldState(*(np.full(1, v) for v in (math.nan, 0.0, 0.0, 0.0))),
        "shape": jaxmf.MeanFieldState(*(np.zeros(3) for _ in range(4))),
    }[y0]
    names = ["t1", "ts", "rtol", "max_steps", "y0"]
    err, res = outcome(
        lambda: jaxmf.solve_meanfield(
            p, t1=t1, ts=ts_arr, rtol=rtol, max_steps=max_steps, y0=y0_val, throw=False
        ),
        names,
    )
    if err is not None:
        return
    if is_ok(res.status):
        assert finite(res.r, res.v, res.w, res.s, res.t)
        # Exact mean field: r' = delta/pi > 0 at r = 0 and s' = s_jump r at s = 0 keep both >= 0.
        assert np.all(np.asarray(res.r) >= -1e-12) and np.all(np.asarray(res.s) >= -1e-12)
        t = np.asarray(res.t)
        assert np.all(np.diff(t) >= 0) and t[0] >= 0 and t[-1] <= float(t1) + 1e-9


_EQ_OK = dict(fv=("eta_bar", 0.12), r_range=(1e-10, 10.0), big_eta=False)


@prop(
    6,
    cases=[
        {**_EQ_OK, "r_range": (0.0, 10.0)},
        {**_EQ_OK, "r_range": (-1.0, 10.0)},
        {**_EQ_OK, "big_eta": True},
    ],
    fv=params_override(),
    r_range=st.sampled_from(
        [
            (1e-10, 10.0),
            (0.0, 10.0),
            (-1.0, 10.0),
            (10.0, 1e-3),
            (1.0, 1.0),
            (math.nan, 10.0),
            (1e-10, math.inf),
            (1e-10, 1.0, 2.0),
            5.0,
        ]
    ),
    big_eta=st.booleans(),
)
def test_meanfield_equilibria(fv, r_range, big_eta):
    field, value = fv
    p = params_or_skip(field, value)
    if p is None:
        return
    if big_eta:
        p = p.replace(eta_bar=1e6)
    err, eq = outcome(lambda: jaxmf.meanfield_equilibria(p, r_range=r_range), ["r_range"])
    if err is not None:
        return
    status = getattr(eq, "status", jaxmf.RESULTS.successful)
    valid = np.asarray(eq.valid)
    if not np.all(is_ok(status)):
        return
    # Every valid row is a true equilibrium with r > 0 (checked here on the vector field).
    for k in np.nonzero(valid)[0]:
        y = jaxmf.MeanFieldState(*(np.asarray(getattr(eq, f))[k] for f in "rvws"))
        assert finite(*y) and np.all(y.r > 0)
        f = jaxmf.meanfield.chen_campbell(0.0, y, (p, None))
        assert max(float(np.max(np.abs(x))) for x in f) < 1e-6 * max(
            1.0, float(np.max(np.abs(y.v))) ** 2
        )
    # With delta_eta > 0 there is always one (the scalar residual goes from < 0 at r -> 0 to > 0
    # at large r): none found with status ok means a root outside the range went unreported.
    if float(np.asarray(p.delta_eta)[0]) > 0:
        assert valid.sum() >= 1, "no equilibrium and no flag"


@prop(
    10,
    cases=[dict(times=[50.0, 10.0], n_values=3)],
    times=st.sampled_from(
        [[10.0], [10.0, 50.0], [50.0, 10.0], [math.nan], [math.inf], [], "x", None]
    ),
    n_values=st.sampled_from([1, 2, 3]),
)
def test_step_input(times, n_values):
    values = [0.1 * k for k in range(n_values)]
    err, inp = outcome(lambda: jaxmf.StepInput(times, values), ["times", "values"])
    if err is not None:
        return
    t = np.asarray(inp.times)
    assert finite(t) and np.all(np.diff(t) > 0), f"StepInput accepted times={times!r}"
    assert np.asarray(inp.values).shape[0] == t.size + 1


@prop(1, slow_only=True, cases=[dict(eta=0.12)], eta=st.sampled_from([0.12, 0.2]))
def test_meanfield_equilibria_grad(eta):
    # jax.grad through the equilibria (issue 13: vmapped root_find with unbatched parameters),
    # against forward mode and a central difference.
    p0 = base_params()
    f = lambda e: jnp.nansum(jaxmf.meanfield_equilibria(p0.replace(eta_bar=e)).r)
    g = jax.grad(f)(jnp.asarray(eta))
    jf = jax.jacfwd(f)(jnp.asarray(eta))
    h = 1e-6
    fd = (f(jnp.asarray(eta + h)) - f(jnp.asarray(eta - h))) / (2 * h)
    assert np.isclose(float(g), float(jf), rtol=1e-6) and np.isclose(float(g), float(fd), rtol=1e-4)


@prop(1, slow_only=True, cases=[dict(eta=0.12)], eta=st.sampled_from([0.12, 0.25]))
def test_traced_count_and_default_ts(eta):
    # Equilibria.count and solve_meanfield without ts on traced inputs (issue 13).
    p0 = base_params()
    r_end = jax.jit(lambda e: jaxmf.solve_meanfield(p0.replace(eta_bar=e), t1=5.0).r[-1, 0])(
        jnp.asarray(eta)
    )
    assert np.isfinite(float(r_end))
    count = jax.jit(lambda e: jnp.asarray(jaxmf.meanfield_equilibria(p0.replace(eta_bar=e)).count))
    assert int(count(jnp.asarray(eta))) == jaxmf.meanfield_equilibria(p0.replace(eta_bar=eta)).count


# Spiking network (tiny).

N_NET, T_NET = 20, 0.5


_NET_OK = dict(fv=("eta_bar", 0.12), dt=1e-3, t1=T_NET, record_every=100, n=N_NET, tau_small=False)
_BAD_NET = dict(
    dt=(0.05, 1.0, 0.0, -1e-3, None, "1e-3"),
    t1=(0.0, -1.0, None, 0.55),
    record_every=(0, -1, 2.5, True, None),
    n=(0, -5, 2.5, "20", None, (10, 10)),
)


@prop(
    25,
    cases=[
        {**_NET_OK, "tau_small": True},
        {**_NET_OK, "dt": 1.0},
        {**_NET_OK, "dt": "jax"},
        {**_NET_OK, "t1": math.inf},
    ],
    fv=params_override(),
    dt=st.sampled_from(
        [1e-3, 2e-3, 0.05, 1.0, 0.0, -1e-3, math.nan, math.inf, None, "1e-3", "jax"]
    ),
    t1=st.sampled_from([T_NET, 0.0, -1.0, math.inf, math.nan, 0.55, None]),
    record_every=st.sampled_from([100, 0, -1, 2.5, True, None]),
    n=st.sampled_from([N_NET, 0, -5, 2.5, "20", None, (10, 10)]),
    tau_small=st.booleans(),
)
def test_simulate_network(fv, dt, t1, record_every, n, tau_small):
    field, value = fv
    p = params_or_skip(field, value)
    if p is None:
        return
    if tau_small:
        # tau_s below dt makes the explicit synaptic update unstable (issue 13); eta_bar = 20 makes
        # the neurons fire within t1, so s is updated by spikes.
        p = p.replace(tau_s=1e-6, eta_bar=20.0)
    dt_val = jnp.asarray(1e-3) if isinstance(dt, str) and dt == "jax" else dt
    given_args = dict(dt=dt, t1=t1, record_every=record_every, n=n)
    # The error names the argument that is wrong; when all are well-formed it may blame dt (too
    # large for these parameters) or the parameter that makes it so.
    bad = [
        k
        for k, v in given_args.items()
        if any(v is b or (type(v) is type(b) and v == b) for b in _BAD_NET[k])
        or (isinstance(v, float) and not math.isfinite(v))
    ]
    names = bad or ["dt", field, "tau_s"]
    err, res = outcome(
        lambda: jaxmf.simulate_network(
            p, n=n, t1=t1, dt=dt_val, record_every=record_every, progress=False, throw=False
        ),
        names,
    )
    if err is not None:
        return
    if is_ok(res.status):
        assert finite(res.r, res.s, res.v_mean, res.w_mean)
        # Rates are spike counts and s relaxes towards 0 between non-negative jumps.
        assert np.all(np.asarray(res.r) >= 0)
        assert np.all(np.asarray(res.s) >= -1e-12), "s < 0 with status ok"


@prop(
    10,
    fv=params_override(),
    t1=st.sampled_from([0.5, 0.0, -1.0, math.inf, math.nan, 0.55, None, "1"]),
    record_every=st.sampled_from([100, 0, 2.5, None]),
)
def test_simulate_theta(fv, t1, record_every):
    field, value = fv
    p = params_or_skip(field, value)
    if p is None:
        return
    err, res = outcome(
        lambda: jaxmf.simulate_theta(p, t1, record_every, model=jaxmf.ThetaNetwork(n=N_NET)),
        ["t1", "record_every"],
    )
    if err is None and is_ok(res.status):
        assert finite(res.r) and np.all(np.asarray(res.r) >= -1e-12)  # smoothed pulses


@prop(
    2,
    slow_only=True,
    dt=st.sampled_from([1e-3, 0.05, -1.0, None]),
    models=st.sampled_from([("chen_campbell",), ("nope",), (), "chen_campbell"]),
    tau_small=st.booleans(),
)
def test_compare(dt, models, tau_small):
    p = presets.bursting(tau_s=1e-6, eta_bar=20.0) if tau_small else presets.bursting()
    err, c = outcome(
        lambda: jaxmf.compare(p, n=N_NET, t1=1.0, dt=dt, models=models, progress=False, raster=0),
        ["dt", "models", "tau_s"],
    )
    if err is not None:
        return
    if np.all(is_ok(c.network.status)):
        assert np.all(np.asarray(c.network.s) >= -1e-12)
        for res in c.meanfield.values():
            assert not is_ok(res.status) or finite(res.r)


# Bifurcation analysis.


@prop(
    4,
    slow_only=True,
    cases=[dict(param="w_jump", bounds=(-0.05, 0.05), ds=0.005, max_points=12)],
    param=st.sampled_from(["eta_bar", "w_jump", "tau_s", "nope", "eta_bar[3]"]),
    bounds=st.sampled_from(
        [(0.0, 0.3), (-0.05, 0.05), 0.1, (0.0, 0.1, 0.2), (math.nan, 0.3), (0.3, 0.0)]
    ),
    ds=st.sampled_from([0.005, 0.0, -0.01, math.nan]),
    max_points=st.sampled_from([12, 0, -1, 2.5]),
)
def test_continue_equilibria(param, bounds, ds, max_points):
    p = presets.chen_campbell_2022()
    err, br = outcome(
        lambda: jaxmf.continue_equilibria(
            p, param, bounds, ds=ds, max_points=max_points, throw=False
        ),
        ["param", "bounds", "ds", "max_points", param],
    )
    if err is not None:
        return
    values = np.asarray(br.values).reshape(-1)
    lo, hi = sorted(map(float, bounds))
    assert np.all((values >= lo - 1e-9) & (values <= hi + 1e-9))
    if param in DOMAIN:
        assert np.all(DOMAIN[param](values)), f"branch left the domain of {param}"
    for sp in br.special_points:
        v = float(np.asarray(sp.value).reshape(-1)[0])
        assert lo - 1e-9 <= v <= hi + 1e-9
        if param in DOMAIN:
            assert DOMAIN[param](v)
    if is_ok(br.status):
        assert finite(br.states)


@prop(
    6,
    state=st.sampled_from(["near", "nan", "shape", "none"]),
    value=st.sampled_from([None, 0.1, math.nan, "x"]),
)
def test_locate_hopf(state, value):
    p = presets.chen_campbell_2022()
    eq = jaxmf.meanfield_equilibria(p)
    x0 = np.concatenate([np.asarray(getattr(eq, f))[0] for f in "rvws"])
    x = {"near": x0, "nan": np.full(4, math.nan), "shape": np.zeros(3), "none": None}[state]
    err, sp = outcome(
        lambda: jaxmf.locate_hopf(p, "eta_bar", x, value, throw=False), ["state", "value"]
    )
    if err is not None:
        return
    if sp.converged:
        assert finite(sp.value, sp.state, sp.frequency) and float(sp.frequency) > 0


# Fitting and sweeps.


@prop(
    2,
    slow_only=True,
    cases=[
        dict(free=("eta_bar",), n_starts=2.5, steps=2, t1=5.0),
        dict(free=("eta_bar",), n_starts=1, steps=2, t1=0.5),
    ],
    free=st.sampled_from([("eta_bar",), (), ("nope",), "eta_bar"]),
    n_starts=st.sampled_from([1, 0, 2.5, -1]),
    steps=st.sampled_from([2, 0, -3]),
    t1=st.sampled_from([5.0, math.inf, 0.5]),
)
def test_fit(free, n_starts, steps, t1):
    target = jaxmf.BurstTarget.from_features(period=30.0, duty=0.3)
    err, res = outcome(
        lambda: jaxmf.fit(
            presets.bursting(),
            target,
            free,
            n_starts=n_starts,
            steps=steps,
            t1=t1,
            transient=1.0,
            key=jax.random.key(0),
        ),
        ["free", "n_starts", "steps", "t1", "transient"],
    )
    if err is not None:
        return
    ok = is_ok(res.status)
    assert np.all(~ok | np.isfinite(np.asarray(res.final_loss)))


@prop(
    4,
    cases=[dict(names=("eta_bar", "eta_bar_0"), values="ok")],
    names=st.sampled_from([("eta_bar",), ("eta_bar", "eta_bar_0"), ("nope",), ("tau_s",)]),
    values=st.sampled_from(["ok", "nan", "empty", "str", "neg"]),
)
@pytest.mark.slow  # tests/test_sweep.py covers the sweep
def test_sweep_grid(names, values):
    vals = {"ok": [0.1, 0.2], "nan": [math.nan, 0.1], "empty": [], "str": "x", "neg": [-1.0, 0.1]}
    err, grid = outcome(
        lambda: jaxmf.Grid.product(**{n: vals[values] for n in names}), ["grid", *names]
    )
    if err is not None:
        return
    err, ds = outcome(
        lambda: jaxmf.sweep(presets.bursting(), grid, t1=5.0, transient=1.0, progress=False),
        ["grid", *names],
    )
    if err is not None:
        return
    status = np.asarray(ds["status"]) if "status" in ds else np.zeros(1)
    r = np.asarray(ds["r_mean"])
    assert np.all(np.isfinite(r[np.broadcast_to(status == 0, r.shape)]))


@prop(12, bad=st.sampled_from(["ok", "nan", "neg", "inf", "short", "shape", "t_nan", "t_dec"]))
def test_burst_target_from_trace(bad):
    t = np.linspace(0.0, 10.0, 101)
    r = 0.5 + 0.4 * np.sin(t)
    if bad == "nan":
        r[5] = math.nan
    elif bad == "neg":
        r[5] = -1.0
    elif bad == "inf":
        r[5] = math.inf
    elif bad == "short":
        t, r = t[:2], r[:2]
    elif bad == "shape":
        r = r[:-1]
    elif bad == "t_nan":
        t = t.copy()
        t[3] = math.nan
    elif bad == "t_dec":
        t = t[::-1].copy()
    err, tgt = outcome(lambda: jaxmf.BurstTarget.from_trace(t, r), ["r", "t", "target"])
    assert (err is None) == (bad == "ok"), f"{bad}: {err}"
    if err is None:
        assert finite(tgt.period if tgt.period is not None else 0.0, tgt.mean)


@prop(
    15,
    cases=[dict(period=-5.0, duty=2.0, mean=None)],
    period=st.sampled_from([None, 30.0, -5.0, 0.0, math.nan, math.inf, "30"]),
    duty=st.sampled_from([None, 0.3, 2.0, 0.0, -0.1, math.nan]),
    mean=st.sampled_from([None, 0.5, -1.0, math.inf]),
)
def test_burst_target_from_features(period, duty, mean):
    err, tgt = outcome(
        lambda: jaxmf.BurstTarget.from_features(period=period, duty=duty, mean=mean),
        ["period", "duty", "mean", "features"],
    )
    if err is not None:
        return
    for name, v, ok in (
        ("period", period, lambda x: x > 0),
        ("duty", duty, lambda x: 0 < x < 1),
        ("mean", mean, lambda x: x >= 0),
    ):
        if v is not None:
            assert numeric_scalar(v) and math.isfinite(float(v)) and ok(float(v)), (
                f"from_features accepted {name}={v!r}"
            )


# Command line, in-process.


def run_cli(argv, capsys):
    from jaxmf.cli import main

    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, err


def check_cli(code, err, options):
    assert code in (0, 1, 2), f"exit code {code}"
    assert "Traceback" not in err
    if code == 2:
        lines = [line for line in err.strip().splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
        assert any(o in lines[0] for o in options), f"{lines[0]!r} names none of {options}"


@prop(
    5,
    cases=[
        dict(t1="5", rtol="10", setting="eta_bar=0.2"),
        dict(t1="inf", rtol="1e-8", setting="eta_bar=0.2"),
    ],
    t1=st.sampled_from(["5", "0", "-1", "nan", "inf", "abc", "1e400"]),
    rtol=st.sampled_from(["1e-8", "10", "-1", "nan", "x"]),
    setting=st.sampled_from(
        [
            "eta_bar=0.2",
            "eta_bar=nan",
            "delta_eta=-1",
            "tau_s=0",
            "nope=1",
            "eta_bar",
            "eta_bar=1+2j",
            "g=1;2",
        ]
    ),
)
def test_cli_meanfield(t1, rtol, setting, tmp_path_factory, capsys):
    out = tmp_path_factory.mktemp("mf")
    code, err = run_cli(
        ["meanfield", "--t1", t1, "--rtol", rtol, "--set", setting, "--out", str(out), "--no-plot"],
        capsys,
    )
    check_cli(code, err, ["--t1", "t1", "--rtol", "rtol", "--set", setting.split("=")[0]])


@prop(
    5,
    cases=[
        dict(n="1e20", dt="1e-3", t1="0.5"),
        dict(n="20", dt="1", t1="0.5"),
        dict(n="1e20", dt="nan", t1="0.5"),
    ],
    n=st.sampled_from(["20", "0", "-5", "2.5", "1e20", "x"]),
    dt=st.sampled_from(["1e-3", "1", "0", "nan", "-1e-3"]),
    t1=st.sampled_from(["0.5", "inf", "0.55"]),
)
def test_cli_simulate(n, dt, t1, tmp_path_factory, capsys):
    out = tmp_path_factory.mktemp("sim")
    code, err = run_cli(
        [
            "simulate",
            "--n",
            n,
            "--dt",
            dt,
            "--t1",
            t1,
            "--record-every",
            "100",
            "--out",
            str(out),
            "--no-plot",
            "--quiet",
        ],
        capsys,
    )
    check_cli(code, err, ["--n", "--dt", "--t1", "n", "dt", "t1"])
    if dt == "1" and n == "20" and t1 == "0.5":
        assert code == 2 and "dt" in err  # dt = 1 blames dt, not t1 (issue 13)


# Inside the user's jit / vmap / grad / jacfwd: traced invalid values must give a run-time error
# or a flagged status, never numbers with status ok.


def traced_fields(field, value) -> jax.Array:
    """Every field of the paper's set as one array, `field` set to `value`: the Params is then
    built from tracers inside jit, and every draw reuses one compilation."""
    p0 = base_params()
    vals = [float(np.asarray(getattr(p0, f)).reshape(-1)[0]) for f in FIELDS]
    vals[FIELDS.index(field)] = float(value)
    return jnp.asarray(vals)


def params_from(vals) -> jaxmf.Params:
    return jaxmf.Params(**{f: vals[i] for i, f in enumerate(FIELDS)})


_solve_traced = jax.jit(
    lambda vals: jaxmf.solve_meanfield(params_from(vals), t1=5.0, ts=TS, throw=False)
)
_network_traced = jax.jit(
    lambda vals, dt: jaxmf.simulate_network(
        params_from(vals), n=N_NET, t1=T_NET, dt=dt, progress=False, throw=False
    ),
    static_argnames="dt",
)


_RUNTIME_ERRORS = (
    "EquinoxRuntimeError",
    "_EquinoxRuntimeError",
    "JaxRuntimeError",
    "XlaRuntimeError",
)


def traced_outcome(call, names):
    """(error, result): a trace-time ParameterError, or a run-time error raised by an
    `eqx.error_if` check (under jax.jit it arrives wrapped in jax's runtime error), naming one
    of `names`."""
    try:
        return None, call()
    except jaxmf.ParameterError as e:
        named_error(e, names)
        return e, None
    except Exception as e:
        # jax re-raises a failed callback as its runtime error, or as the callback's own type
        # with the equinox message inside.
        if type(e).__name__ not in _RUNTIME_ERRORS and "EquinoxRuntimeError" not in str(e):
            raise
        named_error(e, names)
        return e, None


@prop(3, cases=[dict(fv=("delta_eta", -0.02)), dict(fv=("tau_s", 0.0))], fv=params_override())
def test_solve_meanfield_under_jit(fv):
    field, value = fv
    if not isinstance(value, (float, int)) or isinstance(value, bool):
        return  # only numbers can be traced
    err, res = traced_outcome(lambda: _solve_traced(traced_fields(field, value)), [field])
    if err is not None:
        return
    eager_err, _ = outcome(lambda: base_params(field, value), [field])
    ok = bool(np.all(is_ok(res.status)))
    # A value the eager constructor refuses must not come back as a successful traced solve
    # (v_peak and v_reset do not enter the mean field, so its numbers stay right without them).
    if field in ("v_peak", "v_reset"):
        eager_err = None
    assert eager_err is None or not ok, f"{field}={value!r}: refused eagerly, ok under jit"
    if ok:
        assert finite(res.r) and np.all(np.asarray(res.r) >= -1e-12)


@prop(6, slow_only=True, delta=st.sampled_from([0.02, -0.02, math.nan, 0.0]))
def test_solve_meanfield_under_vmap(delta):
    p0 = base_params()
    deltas = jnp.asarray([0.02, delta])
    f = lambda d: jaxmf.solve_meanfield(p0.replace(delta_eta=d), t1=5.0, ts=TS, throw=False)
    err, res = traced_outcome(lambda: jax.vmap(f)(deltas), ["delta_eta"])
    if err is not None:
        return
    ok = is_ok(res.status).reshape(-1)
    assert ok[0], "the valid element must succeed"
    if not (delta >= 0):
        assert not ok[1], f"delta_eta={delta} under vmap returned status ok"
    for k in np.nonzero(ok)[0]:
        assert finite(res.r[k])


@prop(2, slow_only=True, eta=st.sampled_from([0.12, 0.25]))
def test_solve_meanfield_grad_matches_finite_difference(eta):
    p0 = base_params()
    loss = lambda e: jnp.mean(jaxmf.solve_meanfield(p0.replace(eta_bar=e), t1=5.0, ts=TS).r)
    g = jax.grad(loss)(jnp.asarray(eta))
    h = 1e-6
    fd = (loss(jnp.asarray(eta + h)) - loss(jnp.asarray(eta - h))) / (2 * h)
    assert np.isfinite(float(g)) and np.isclose(float(g), float(fd), rtol=1e-4, atol=1e-7)


@prop(
    2,
    slow_only=True,
    eta=st.sampled_from([0.12, 0.25]),
)
def test_solve_meanfield_jacfwd(eta):
    p0 = base_params()
    f = lambda e: jaxmf.solve_meanfield(p0.replace(eta_bar=e), t1=5.0, ts=TS).r[-1]
    j = jax.jacfwd(f)(jnp.asarray(eta))
    g = jax.grad(lambda e: f(e)[0])(jnp.asarray(eta))
    assert np.isclose(float(j[0]), float(g), rtol=1e-6)


@prop(
    8,
    cases=[dict(fv=("eta_bar", 0.12), dt=5e-3)],
    fv=params_override(),
    dt=st.sampled_from([1e-3, 5e-3]),
)
def test_simulate_network_under_jit(fv, dt):
    field, value = fv
    if not isinstance(value, (float, int)) or isinstance(value, bool):
        return
    err, res = traced_outcome(
        lambda: _network_traced(traced_fields(field, value), dt=dt), [field, "dt"]
    )
    if err is not None:
        return
    eager_err, _ = outcome(
        lambda: jaxmf.simulate_network(
            base_params(field, value), n=N_NET, t1=T_NET, dt=dt, progress=False, throw=False
        ),
        [field, "dt"],
    )
    ok = bool(np.all(is_ok(res.status)))
    assert eager_err is None or not ok, f"{field}={value!r}, dt={dt}: refused eagerly, ok under jit"
    if ok:
        assert finite(res.r, res.s) and np.all(np.asarray(res.s) >= -1e-12)


globals().update(_SLOW_COPIES)
