import gc
import os

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture(autouse=True, scope="session")
def _compilation_cache(tmp_path_factory):
    """JAX's persistent compilation cache in a per-session folder: the caches are cleared after
    every module (below), and a program compiled again in a later module is then read from disk
    (measured on test_meanfield/test_sweep/test_cli: 98 instead of 106 CPU-s, peak memory 1.4
    GB). The CLI tests (run in-process) use the same folder, never the user's.
    JAXMF_TEST_CACHE=0 runs the session without it (for such measurements)."""
    if os.environ.get("JAXMF_TEST_CACHE", "1") == "0":
        os.environ["JAXMF_NO_CACHE"] = "1"
        yield
        return
    from jaxmf.cache import enable_compilation_cache

    folder = tmp_path_factory.mktemp("jax-compilation-cache")
    os.environ["JAXMF_CACHE_DIR"] = str(folder)
    enable_compilation_cache(folder)
    yield


@pytest.fixture
def key():
    return jax.random.key(1234)


def _as_array(x) -> np.ndarray:
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    x = np.asarray(x)
    return x if x.dtype.kind in "fc" else x.astype(float)


def assert_tree_allclose(a, b, *, rtol, atol):
    """Assert that two pytrees have the same structure and every leaf agrees within
    |a - b| <= atol + rtol |b| (NaN equal to NaN); state the tolerances next to each use.

    The AssertionError names the first failing leaf's path and its largest absolute and relative
    differences (and where they are)."""
    la, ta = jax.tree_util.tree_flatten_with_path(a)
    lb, tb = jax.tree_util.tree_flatten_with_path(b)
    if ta != tb:
        raise AssertionError(f"tree structures differ:\n  {ta}\n  {tb}")
    for (path, x), (_, y) in zip(la, lb):
        name = jax.tree_util.keystr(path) or "<root>"
        x, y = _as_array(x), _as_array(y)
        if x.shape != y.shape:
            raise AssertionError(f"{name}: shapes differ, {x.shape} vs {y.shape}")
        if np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True):
            continue
        both_nan = np.isnan(x) & np.isnan(y)
        diff = np.where(both_nan, 0.0, np.abs(x - y))
        diff = np.where(np.isnan(diff), np.inf, diff)  # NaN against a number
        rel = diff / np.maximum(np.abs(y), np.finfo(float).tiny)
        i, j = (
            np.unravel_index(np.argmax(diff), diff.shape),
            np.unravel_index(np.argmax(rel), rel.shape),
        )
        raise AssertionError(
            f"{name}: not close (rtol={rtol:g}, atol={atol:g}): largest absolute difference "
            f"{diff[i]:.3e} at {tuple(map(int, i))} ({x[i]!r} vs {y[i]!r}), largest relative "
            f"difference {rel[j]:.3e} at {tuple(map(int, j))}; "
            f"{int(np.sum(~np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=True)))} of {x.size} "
            "entries differ"
        )


def tree_allclose(a, b, *, rtol, atol):
    """`assert_tree_allclose` for `assert tree_allclose(...)`: True, or the AssertionError
    naming the largest difference."""
    assert_tree_allclose(a, b, rtol=rtol, atol=atol)
    return True


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_functions():
    """Drop JAX's compilation caches after each test module: the suite's peak memory otherwise
    grows with every module's compiled functions, which no later module reuses."""
    yield
    jax.clear_caches()
    gc.collect()


def run_on_fake_devices(script: str, devices: int = 4) -> None:
    """Run `script` in a fresh interpreter with `devices` fake CPU devices (the flag must be set
    before JAX starts) and check that it exited cleanly and printed "ok" last."""
    import subprocess
    import sys

    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
