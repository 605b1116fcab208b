"""One network split across two processes under `jax.distributed` (loopback, CPU, two fake
devices each), all-to-all and sparse: bit-identical to the one-device run."""

import os
import socket
import subprocess
import sys

import pytest

_WORKER = """
import sys
import jax
jax.config.update("jax_enable_x64", True)
jax.distributed.initialize(coordinator_address="127.0.0.1:" + sys.argv[2], num_processes=2,
                           process_id=int(sys.argv[1]), initialization_timeout=120)
import jax.numpy as jnp, numpy as np, jaxmf
from jax.experimental import multihost_utils
from jaxmf import network as nw
from jaxmf.connectivity import FixedInDegree
assert jax.device_count() == 4 and jax.local_device_count() == 2
cases = [
    (nw.EulerReset(), 1e-3, jaxmf.presets.bursting(), 400, jnp.float64),
    (nw.MobiusPassage(), 2e-2, jaxmf.presets.two_population(), (320, 80), jnp.float32),
]
for scheme, dt, p, n, dtype in cases:
    kw = dict(n=n, t1=4.0, dt=dt, record_every=int(round(0.4 / dt)), scheme=scheme,
              dtype=dtype, progress=False)
    one = jaxmf.simulate_network(p, **kw)
    every = jaxmf.simulate_network(p, devices="all", **kw)
    for a, b in [(one.r, every.r), (one.s, every.s)]:
        assert np.array_equal(np.asarray(a), np.asarray(b))
    for m, size in enumerate(one.network.sizes):
        v = every.state.v[m]
        # Each device holds its quarter of every population (v, w and the samples z).
        assert {s.data.shape for s in v.addressable_shards} == {(size // 4,)}
        assert len(v.addressable_shards) == 2
        for a, b in [(one.state.v[m], v), (one.state.w[m], every.state.w[m])]:
            assert np.array_equal(np.asarray(a), multihost_utils.process_allgather(b, tiled=True))
    assert float(np.sum(one.r)) > 0
    np.testing.assert_allclose(every.w_mean, one.w_mean, rtol=4 * np.finfo(dtype).eps)
# A sparse network: the spike masks gathered across the processes.
for scheme, dt, p, n, dtype in cases:
    kw = dict(n=n, t1=4.0, dt=dt, record_every=int(round(0.4 / dt)), scheme=scheme,
              dtype=dtype, progress=False, connectivity=FixedInDegree(20), key=jax.random.key(3))
    p = p.replace(eta_bar=3 * p.eta_bar)  # a hundred spikes or more
    one = jaxmf.simulate_network(p, **kw)
    every = jaxmf.simulate_network(p, devices="all", **kw)
    assert np.array_equal(np.asarray(one.r), np.asarray(every.r))
    assert float(np.sum(one.r * np.asarray(one.network.sizes))) * 0.4 > 100
    for m in range(len(one.network.sizes)):
        for a, b in [(one.state.v[m], every.state.v[m]), (one.state.syn[m], every.state.syn[m])]:
            assert np.array_equal(np.asarray(a), multihost_utils.process_allgather(b, tiled=True))
    np.testing.assert_allclose(every.s, one.s, rtol=4 * np.finfo(dtype).eps)
print("ok")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # ~60 CPU-s: two fresh interpreters, each compiling eight runs
def test_network_split_across_two_processes_equals_one_device():
    # The spike counts are psum'd integers (across processes through the CPU collectives), so
    # the state, rates and s are bit-identical to the one-device run.
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(i), port],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=600))
    finally:
        for p in procs:
            p.kill()
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
        assert out.strip().endswith("ok")
