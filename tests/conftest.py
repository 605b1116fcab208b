import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture
def key():
    return jax.random.key(1234)


def tree_allclose(a, b, *, rtol, atol):
    """True when every leaf of two pytrees agrees within rtol/atol (state tolerances at each use)."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    if len(la) != len(lb):
        return False
    def arr(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        return np.asarray(x, float)

    return all(np.allclose(arr(x), arr(y), rtol=rtol, atol=atol) for x, y in zip(la, lb))
