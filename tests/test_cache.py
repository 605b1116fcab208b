"""Programs jaxmf compiles itself carry no host callbacks (`equinox.error_if`), which JAX never
writes to its persistent compilation cache: their checks come back as values and are acted on
in the program or on the host."""

import os
import subprocess
import sys

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmf
from jaxmf import presets
from jaxmf.params import RANGE_CHECKS, ParameterError, replace_deferred

from .conftest import assert_tree_allclose


def host_callbacks(lowered) -> int:
    return lowered.as_text().count("callback")


def test_replace_deferred_flags_what_the_constructor_refuses():
    p = presets.chen_campbell_2022()
    # v_reset >= v_peak is refused through the pair, the others through their own rule.
    cases = [("w_jump", 0.01), ("w_jump", -0.01), ("tau_s", 0.0), ("delta_eta", 0.03)]
    cases += [("v_reset", 300.0), ("eta_bar", -5.0), ("w_jump", float("nan"))]
    cases += [("tau_s", float("inf")), ("w_jump", float("inf"))]
    code = jax.jit(lambda name, x: replace_deferred(p, **{name: x})[1], static_argnums=0)
    for name, value in cases:
        try:
            p.replace(**{name: value})
            refused = None
        except ParameterError as e:
            refused = e.name
        got = int(code(name, value))
        if value != value:  # NaN passes the range checks (a diverging fit stays a flagged result)
            assert got == 0
            continue
        assert (RANGE_CHECKS[got - 1] if got else None) == refused, (name, value)
    lowered = jax.jit(lambda x: replace_deferred(p, w_jump=x)).lower(0.01)
    assert host_callbacks(lowered) == 0
    # The plain constructor under the user's jit keeps its run-time check.
    assert host_callbacks(jax.jit(lambda x: p.replace(w_jump=x)).lower(0.01)) > 0
    batched = jax.vmap(lambda x: replace_deferred(p, w_jump=x))(jnp.asarray([0.01, -0.01]))
    np.testing.assert_array_equal(batched[1], [0, RANGE_CHECKS.index("w_jump") + 1])
    np.testing.assert_allclose(batched[0].w_jump[:, 0], [0.01, -0.01])


TS = jnp.linspace(0.0, 30.0, 31)
PAPER = presets.chen_campbell_2022()


def forward_rate(x, **kw):
    # replace_deferred: the Params checks under this jit are not what is tested here
    p = replace_deferred(PAPER, eta_bar=x[0], w_jump=x[1])[0]
    return jaxmf.solve_meanfield(p, 30.0, ts=TS, rtol=1e-9, atol=1e-11, throw=False, **kw).r[:, 0]


def test_forward_mode_solve_has_no_host_callback_and_right_derivative():
    """jacfwd of solve_meanfield (what least-squares fits use) runs the block-saving loop, not
    diffeqsolve with its run-time checks of ts; its Jacobian matches central differences."""
    x = jnp.asarray([0.12, 0.0189])
    jac = jax.jit(jax.jacfwd(lambda x: forward_rate(x, adjoint=diffrax.ForwardMode())))
    assert host_callbacks(jac.lower(x)) == 0
    got = jac(x)
    solve = jax.jit(forward_rate)
    for i, h in enumerate((1e-6, 1e-7)):
        e = jnp.zeros(2).at[i].set(h)
        fd = (solve(x + e) - solve(x - e)) / (2 * h)
        # central differences: O(h^2) truncation plus tolerance-level noise / h
        assert_tree_allclose(got[:, i], fd, rtol=1e-4, atol=2e-5 * float(jnp.max(jnp.abs(fd))))


@pytest.mark.slow  # two CLI fits in fresh processes, each compiling for ~15-60 s
def test_cli_fit_is_read_back_from_the_cache(tmp_path):
    env = {
        **os.environ,
        "JAXMF_CACHE_DIR": str(tmp_path / "cache"),
        "JAX_EXPLAIN_CACHE_MISSES": "1",
    }
    env.pop("JAXMF_NO_CACHE", None)
    out = ["--no-plot", "--quiet", "--out", str(tmp_path)]

    def jaxmf_cli(*argv):
        done = subprocess.run(
            [sys.executable, "-m", "jaxmf", *argv, *out],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stderr

    jaxmf_cli("meanfield", "--t1", "400", "--no-cache")
    argv = ("fit", "--target", str(tmp_path / "meanfield.npz"), "--set", "eta_bar=0.11")
    first = jaxmf_cli(*argv)
    assert "host callbacks" not in first
    assert "PERSISTENT COMPILATION CACHE MISS for 'jit__run'" in first
    second = jaxmf_cli(*argv)
    assert "PERSISTENT COMPILATION CACHE MISS" not in second, second[-2000:]
