"""State monitors: v, w and spikes of chosen neurons of a network run, like Brian2's StateMonitor.

``simulate_network(..., monitor=Monitor(indices=[0, 500, 999], every=10))`` records the
membrane potential and adaptation of those neurons every 10 steps, and their spike counts
between samples, into ``NetworkResult.monitor`` (a `MonitorRecord`). The size of the record is
known before the run (samples x neurons x 20 bytes in float64) and is checked against the memory
like the network's state; it survives `resume` (the samples continue in absolute time) and
`jaxmf.io` saves it with the result (`monitor_arrays` / `monitor_from_arrays`).
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .params import ParameterError

__all__ = [
    "Monitor",
    "MonitorRecord",
    "MonitorRows",
    "monitor_indices",
    "monitor_every",
    "pick",
    "monitor_bytes",
    "monitor_record",
    "monitor_arrays",
    "monitor_from_arrays",
]


class Monitor(eqx.Module):
    """Which neurons to record and how often (a static, hashable description).

    Samples are taken after every `every` steps, at t = k * every * dt (k = 1, 2, ...), the
    state after that step, like the population records at the end of each bin; `spikes` counts
    each neuron's spikes since the previous sample (with every=1, its exact spike steps).

    Parameters
    ----------
    indices : int or sequence of int
        A count (that many neurons evenly spaced in index across each population, i.e. across
        the excitability range for quantile samples, split by the populations' sizes) or the
        neurons' indices in the whole network (population m's neurons follow those of 0..m-1).
    every : int, optional
        Steps between samples; must divide the run's `record_every` (default: `record_every`,
        one sample per recording bin).

    Raises
    ------
    ParameterError
        When the indices are not whole numbers >= 0 or `every` is not >= 1.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.monitors import Monitor
    >>> from jaxmf.network import simulate_network
    >>> res = simulate_network(presets.chen_campbell_2022(), n=200, t1=2.0, record_every=100,
    ...                        monitor=Monitor(indices=[0, 199], every=10), progress=False)
    >>> res.monitor.v.shape, res.monitor.indices, round(float(res.monitor.t[0]), 6)
    ((200, 2), (0, 199), 0.01)
    """

    indices: int | tuple[int, ...] = eqx.field(static=True)
    every: int | None = eqx.field(static=True, default=None)

    def __init__(self, indices, every: int | None = None):
        if isinstance(indices, (int, np.integer)) and not isinstance(indices, bool):
            if indices < 1:
                raise ParameterError("indices", f"must be a count >= 1; got {indices}")
            self.indices = int(indices)
        else:
            ix = np.asarray(indices)
            if ix.size == 0 or ix.dtype.kind not in "iu" or np.any(ix < 0):
                raise ParameterError(
                    "indices", "must be a count or neuron indices (whole numbers >= 0)"
                )
            self.indices = tuple(int(i) for i in ix.reshape(-1))
        if every is not None and (
            isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1
        ):
            raise ParameterError("every", f"must be an integer >= 1 (steps); got {every!r}")
        self.every = None if every is None else int(every)


class MonitorRows(NamedTuple):
    """A monitor's samples as `jaxmf.network.run` returns them: per recording bin, the bin's
    samples of all monitored neurons flattened, shape (..., bins, samples_per_bin * R).

    Attributes
    ----------
    v, w : jax.Array
        Membrane potentials and adaptation currents.
    spikes : jax.Array
        Spike counts since the previous sample (int32).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.monitors import MonitorRows
    >>> MonitorRows(*(jnp.zeros((3, 4)) for _ in range(3)))._fields
    ('v', 'w', 'spikes')
    """

    v: jax.Array
    w: jax.Array
    spikes: jax.Array


class MonitorRecord(eqx.Module):
    """What a `Monitor` recorded: ``NetworkResult.monitor``.

    Attributes
    ----------
    t : jax.Array
        Shape (S,). Sample times.
    indices : tuple of int
        The neurons' indices in the whole network (`index`: the same as an array).
    v, w : jax.Array
        Shape (S, R) (batched runs: (B, S, R)). Membrane potential and adaptation of each neuron.
    spikes : jax.Array
        Shape like v, int32. Spikes since the previous sample.
    every : int
        Steps between samples.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.monitors import Monitor
    >>> from jaxmf.network import simulate_network
    >>> res = simulate_network(presets.tonic(), n=100, t1=20.0, monitor=Monitor(3),
    ...                        progress=False)
    >>> rec = res.monitor
    >>> rec.indices, rec.v.shape, rec.every
    ((0, 50, 99), (200, 3), 100)
    """

    t: jax.Array
    indices: tuple[int, ...] = eqx.field(static=True)
    v: jax.Array
    w: jax.Array
    spikes: jax.Array
    every: int = eqx.field(static=True)

    def __init__(self, t, indices, v, w, spikes, every):
        self.t, self.v, self.w, self.spikes = t, v, w, spikes
        self.indices = tuple(int(i) for i in np.asarray(indices).reshape(-1))
        self.every = int(every)

    @property
    def monitor(self) -> Monitor:
        """The `Monitor` that continues this record (what a resumed run uses)."""
        return Monitor(list(self.indices), every=self.every)

    def select(self, i: int) -> MonitorRecord:
        """Element i of a batched record.

        Parameters
        ----------
        i : int
            The index in the batch.

        Returns
        -------
        MonitorRecord
            The record of parameter set i.

        Examples
        --------
        >>> import numpy as np
        >>> from jaxmf.monitors import MonitorRecord
        >>> rec = MonitorRecord(np.arange(2.0), [0], np.zeros((3, 2, 1)), np.zeros((3, 2, 1)),
        ...                     np.zeros((3, 2, 1), np.int32), every=1)
        >>> rec.select(1).v.shape
        (2, 1)
        """
        return MonitorRecord(
            self.t, self.index, self.v[i], self.w[i], self.spikes[i], every=self.every
        )

    @property
    def index(self) -> np.ndarray:
        """The neurons' indices in the whole network as an integer array."""
        return np.asarray(self.indices, dtype=np.int64)

    def spike_times(self) -> tuple[np.ndarray, np.ndarray]:
        """(spike times, neuron indices) of the monitored neurons.

        A spike is dated by the sample that counts it (exact to dt with every=1).

        Returns
        -------
        times : numpy.ndarray
            The sample times of the spikes (repeated for several spikes between samples).
        neurons : numpy.ndarray
            The neurons' indices in the whole network.

        Raises
        ------
        ValueError
            For a batched record (take one element with `select` first).

        Examples
        --------
        >>> import numpy as np
        >>> from jaxmf.monitors import MonitorRecord
        >>> rec = MonitorRecord(np.array([1.0, 2.0]), [7], np.zeros((2, 1)), np.zeros((2, 1)),
        ...                     np.array([[0], [2]], np.int32), every=1)
        >>> [x.tolist() for x in rec.spike_times()]
        [[2.0, 2.0], [7, 7]]
        """
        counts = np.asarray(self.spikes)
        if counts.ndim != 2:
            raise ValueError("spike_times: take one element of a batched record first")
        k, j = np.nonzero(counts)
        reps = counts[k, j]
        return np.repeat(np.asarray(self.t)[k], reps), np.repeat(self.index[j], reps)


def monitor_indices(monitor: Monitor, sizes: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Per population, the local indices of the monitored neurons.

    Parameters
    ----------
    monitor : Monitor
        The monitor.
    sizes : tuple of int
        Neurons per population.

    Returns
    -------
    tuple of numpy.ndarray
        One int32 array per population.

    Raises
    ------
    ParameterError
        When an index is beyond the network's size.

    Examples
    --------
    >>> from jaxmf.monitors import Monitor, monitor_indices
    >>> [ix.tolist() for ix in monitor_indices(Monitor([0, 5, 12]), (10, 5))]
    [[0, 5], [2]]
    """
    n = sum(sizes)
    if isinstance(monitor.indices, int):
        counts = [min(size, max(1, round(monitor.indices * size / n))) for size in sizes]
        return tuple(
            np.unique(np.round(np.linspace(0, size - 1, c)).astype(np.int32))
            for size, c in zip(sizes, counts)
        )
    ix = np.asarray(monitor.indices, np.int64)
    if ix.max() >= n:
        raise ParameterError("indices", f"the network has {n} neurons; got index {ix.max()}")
    offsets = np.cumsum([0, *sizes])
    return tuple(
        np.sort(ix[(ix >= lo) & (ix < hi)] - lo).astype(np.int32)
        for lo, hi in zip(offsets[:-1], offsets[1:])
    )


def pick(x: jax.Array, index: jax.Array, axis_name=None) -> jax.Array:
    """``x[index]`` of one population's neurons; inside `jax.shard_map` with the neurons split
    along `axis_name` (`index` global), the entries this device holds and zero (False) for the
    others, so that a sum across the devices gathers them.

    Parameters
    ----------
    x : jax.Array
        Shape (n,): this device's share of a population's v, w or spike mask.
    index : jax.Array
        Monitored neurons of the population (indices into the whole population).
    axis_name : str, optional
        The mesh axis the neurons are split along (None: `x` is the whole population).

    Returns
    -------
    jax.Array
        Shape index.shape.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.monitors import pick
    >>> pick(jnp.arange(5.0), jnp.asarray([0, 3])).tolist()
    [0.0, 3.0]
    """
    if axis_name is None:
        return x[index]
    n = x.shape[0]
    local = index - jax.lax.axis_index(axis_name) * n
    mine = (local >= 0) & (local < n)
    return jnp.where(mine, x[jnp.clip(local, 0, n - 1)], jnp.zeros((), x.dtype))


def monitor_every(monitor: Monitor, record_every: int) -> int:
    """Steps between samples, checked against the run's `record_every`.

    Parameters
    ----------
    monitor : Monitor
        The monitor.
    record_every : int
        Steps per recording bin of the run.

    Returns
    -------
    int
        `monitor.every`, or `record_every` when it is None.

    Raises
    ------
    ParameterError
        When `every` does not divide `record_every`.

    Examples
    --------
    >>> from jaxmf.monitors import Monitor, monitor_every
    >>> monitor_every(Monitor(3, every=10), 100), monitor_every(Monitor(3), 100)
    (10, 100)
    """
    every = record_every if monitor.every is None else monitor.every
    if record_every % every:
        raise ParameterError(
            "every",
            f"the monitor samples within recording bins: every={every} must divide "
            f"record_every={record_every}",
        )
    return every


def monitor_bytes(monitor: Monitor, sizes, n_steps: int, record_every: int, dtype) -> float:
    """Bytes a monitor's record takes for a run of `n_steps` steps (v, w and int32 spikes).

    Parameters
    ----------
    monitor : Monitor
        The monitor.
    sizes : tuple of int
        Neurons per population.
    n_steps : int
        Steps of the run.
    record_every : int
        Steps per recording bin.
    dtype : dtype
        The state's dtype.

    Returns
    -------
    float
        The size in bytes.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.monitors import Monitor, monitor_bytes
    >>> monitor_bytes(Monitor([0, 1]), (100,), 1000, 100, np.float64)
    400.0
    """
    n_mon = sum(len(ix) for ix in monitor_indices(monitor, tuple(sizes)))
    samples = n_steps // monitor_every(monitor, record_every)
    return float(samples * n_mon * (2 * np.dtype(dtype).itemsize + 4))


def monitor_record(
    rows: MonitorRows, t_bins, monitor: Monitor, sizes, dt: float, record_every: int
) -> MonitorRecord:
    """A `MonitorRecord` from the per-bin rows of `run` (bins ending at `t_bins`).

    Parameters
    ----------
    rows : MonitorRows
        Shape (..., bins, samples_per_bin * R).
    t_bins : array_like
        Shape (bins,). The bins' end times.
    monitor : Monitor
        The monitor.
    sizes : tuple of int
        Neurons per population.
    dt : float
        The time step.
    record_every : int
        Steps per recording bin.

    Returns
    -------
    MonitorRecord
        Samples in time order, shape (..., S, R).

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.monitors import Monitor, MonitorRows, monitor_record
    >>> rows = MonitorRows(*(np.zeros((2, 4)) for _ in range(3)))
    >>> rec = monitor_record(rows, [1.0, 2.0], Monitor([0, 1], every=5), (10,), 0.1, 10)
    >>> rec.t.tolist(), rec.v.shape
    ([0.5, 1.0, 1.5, 2.0], (4, 2))
    """
    index = monitor_indices(monitor, tuple(sizes))
    offsets = np.cumsum([0, *sizes[:-1]])
    ids = np.concatenate([ix.astype(np.int64) + off for ix, off in zip(index, offsets)])
    every = monitor_every(monitor, record_every)
    per_bin = record_every // every
    xp = jnp if any(isinstance(x, jax.core.Tracer) for x in rows) else np

    def samples(x):
        shape = x.shape[:-2] + (x.shape[-2] * per_bin, ids.size)
        return xp.reshape(x, shape)

    t_bins = np.asarray(t_bins, dtype=float)
    offsets_t = (np.arange(1, per_bin + 1) * every - record_every) * dt
    t = (t_bins[:, None] + offsets_t[None, :]).reshape(-1)
    return MonitorRecord(
        t, ids, samples(rows.v), samples(rows.w), samples(rows.spikes), every=every
    )


def monitor_arrays(record: MonitorRecord) -> dict[str, np.ndarray]:
    """A monitor record as named numpy arrays (for `jaxmf.io`'s .npz files).

    Parameters
    ----------
    record : MonitorRecord
        The record.

    Returns
    -------
    dict of str to numpy.ndarray
        monitor_t, monitor_indices, monitor_v, monitor_w, monitor_spikes, monitor_every.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.monitors import MonitorRecord, monitor_arrays, monitor_from_arrays
    >>> rec = MonitorRecord(np.array([1.0]), [3], np.ones((1, 1)), np.zeros((1, 1)),
    ...                     np.zeros((1, 1), np.int32), every=1)
    >>> sorted(monitor_arrays(rec))[:2], monitor_from_arrays(monitor_arrays(rec)).indices
    (['monitor_every', 'monitor_indices'], (3,))
    """
    return {
        "monitor_t": np.asarray(record.t),
        "monitor_indices": record.index,
        "monitor_v": np.asarray(record.v),
        "monitor_w": np.asarray(record.w),
        "monitor_spikes": np.asarray(record.spikes),
        "monitor_every": np.asarray(record.every),
    }


def monitor_from_arrays(arrays) -> MonitorRecord | None:
    """The monitor record stored by `monitor_arrays` (None when the arrays hold none).

    Parameters
    ----------
    arrays : mapping of str to array_like
        Arrays read back from a file.

    Returns
    -------
    MonitorRecord or None
        The record.

    Examples
    --------
    >>> from jaxmf.monitors import monitor_from_arrays
    >>> monitor_from_arrays({}) is None
    True
    """
    if "monitor_v" not in arrays:
        return None
    return MonitorRecord(
        np.asarray(arrays["monitor_t"]),
        np.asarray(arrays["monitor_indices"]),
        np.asarray(arrays["monitor_v"]),
        np.asarray(arrays["monitor_w"]),
        np.asarray(arrays["monitor_spikes"]),
        every=int(np.asarray(arrays["monitor_every"])),
    )
