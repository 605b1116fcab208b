"""Sparse random coupling of the spiking network: who receives whose spikes.

All-to-all (the default, `connectivity=None`) every neuron feels the same synaptic variable
s_k of each population k. With a connectivity rule each neuron i of population m has its own
synaptic variables s_ik, driven only by its presynaptic neurons' spikes:

    s_ik' = -s_ik / tau_s,k + (s_jump,k / K_mk) sum_{j in pre(i), j in k} sum_spikes delta(t - t_j)
    (gs)_i = sum_k g[m, k] fractions[k] s_ik

K_mk is the mean in-degree of neuron population m from population k (its synapse count divided
by N_m; exactly k for `FixedInDegree(k)`, about p N_k for `FixedProbability(p)`), so a synapse
carries the weight g / K and the K -> infinity limit is the all-to-all network and the mean
field. With K_mk = N_k (every neuron connected to every neuron, self included) every s_ik equals
the all-to-all s_k. Multiple populations: the rule's k (or p) is one number for every
(post, pre) pair or a P x P nested sequence indexed `[post][pre]`, like `Params.g`.

Propagation is event-driven: the connectivity is stored as each presynaptic neuron's outgoing
targets (a table padded to the largest out-degree); per step the spiking neurons are found
(a two-level search, `spike_batch` at a time) and their rows scatter-added into the receivers'
counts. Nothing of size N x N is formed; the table takes 4 bytes per synapse (int32) plus the
padding to the largest out-degree (a few percent at K = 1000).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._loop import check_memory
from .params import ParameterError

__all__ = [
    "FixedInDegree",
    "FixedProbability",
    "Connections",
    "SparseCoupling",
    "build_coupling",
    "split_coupling",
    "coupling_bytes",
    "sparse_step",
    "mean_synapse",
    "coupling_to_arrays",
    "coupling_from_arrays",
    "check_coupling_memory",
]


class _Drive(NamedTuple):
    """Per-neuron constants of the voltage equation v' = v^2 - A v + eta_i + c - w."""

    A: jax.Array
    c: jax.Array


def _per_pair(value, n_pop: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.full((n_pop, n_pop), float(arr))
    if arr.shape != (n_pop, n_pop):
        raise ParameterError(
            name, f"give one number or a {n_pop} x {n_pop} [post][pre] table; got shape {arr.shape}"
        )
    return arr


def _to_static(value):
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value.item() if isinstance(value, np.generic) else value
    return tuple(tuple(x) for x in np.asarray(value).tolist())


def _rng(key) -> np.random.Generator:
    key = jax.random.key(0) if key is None else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng(np.asarray(key, np.uint32).ravel().tolist())


def _distinct_rows(rng, n_rows: int, k: int, n: int, exclude_diag: bool) -> np.ndarray:
    """(n_rows, k) int32: row i holds k distinct uniform draws from range(n) (without i when
    `exclude_diag`). Duplicates are redrawn until none is left; the procedure commutes with any
    relabelling of range(n), so every k-subset is equally likely."""
    pool = n - 1 if exclude_diag else n
    if k > pool:
        raise ParameterError("connectivity", f"in-degree {k} exceeds the {pool} candidates")
    rows = np.arange(n_rows)[:, None]
    if 2 * k > pool:
        # Dense rows: draw the pool - k excluded ones instead (cheap), in slices of rows.
        out = np.empty((n_rows, k), np.int32)
        step = max(1, 2**24 // max(pool, 1))
        for start in range(0, n_rows, step):
            stop = min(n_rows, start + step)
            drop = _distinct_rows(rng, stop - start, pool - k, pool, False)
            keep = np.ones((stop - start, pool), bool)
            keep[np.arange(stop - start)[:, None], drop] = False
            out[start:stop] = np.nonzero(keep)[1].reshape(stop - start, k)
        draw = out
    else:
        draw = rng.integers(0, pool, size=(n_rows, k), dtype=np.int32)
        todo = np.arange(n_rows)
        while todo.size and k > 1:
            sub = np.sort(draw[todo], axis=1)
            dup = np.zeros(sub.shape, bool)
            dup[:, 1:] = sub[:, 1:] == sub[:, :-1]
            sub[dup] = rng.integers(0, pool, size=int(dup.sum()), dtype=np.int32)
            draw[todo] = sub
            todo = todo[dup.any(axis=1)]
    if exclude_diag:
        draw = draw + (draw >= rows).astype(np.int32)
    return draw


class FixedInDegree(eqx.Module):
    """Every neuron receives from exactly k distinct neurons of each population.

    The presynaptic neurons of each neuron are drawn uniformly without replacement, independently
    per neuron and population pair, from a key. A synapse has weight g / k (see the module
    docstring), so k = N (with autapses) is the all-to-all network exactly.

    Attributes
    ----------
    k : int or nested tuple of int
        The in-degree: one number, or a P x P table indexed `[post][pre]`.
    autapses : bool
        Whether a neuron may be its own presynaptic neuron (default True, as all-to-all).
    spike_batch : int
        Spiking neurons propagated per pass (static, default 8): per step about
        ceil(spikes / spike_batch) passes, and each pass scatters `spike_batch` target rows
        (unused ones into a dummy). Results do not depend on it, speed does: 8 was the fastest
        of 4 to 16 both at 1.5 and at 19 spikes per step (N = 10^4, K = 100; N = 10^5,
        K = 1000).

    Examples
    --------
    >>> import jax
    >>> from jaxmf import presets
    >>> from jaxmf.connectivity import FixedInDegree
    >>> from jaxmf.network import simulate_network
    >>> res = simulate_network(presets.tonic(), n=200, t1=10.0, connectivity=FixedInDegree(20),
    ...                        key=jax.random.key(1), progress=False)
    >>> res.network.coupling.in_degree.tolist(), res.r.shape
    ([[20.0]], (100, 1))
    """

    k: int | tuple[tuple[int, ...], ...] = eqx.field(static=True, converter=_to_static)
    autapses: bool = eqx.field(default=True, static=True)
    spike_batch: int = eqx.field(default=8, static=True)

    def __check_init__(self):
        table = np.asarray(self.k, dtype=float)
        if np.any(table < 1) or np.any(table != np.round(table)):
            raise ParameterError("k", f"in-degrees must be whole numbers >= 1; got {self.k!r}")
        _check_batch(self.spike_batch)

    def pairs(self, sizes: Sequence[int], key=None) -> tuple[np.ndarray, np.ndarray]:
        """The synapses as (pre, post) global neuron indices.

        Parameters
        ----------
        sizes : sequence of int
            Neurons per population.
        key : jax.Array, optional
            PRNG key (default ``jax.random.key(0)``): the same key gives the same synapses.

        Returns
        -------
        pre, post : numpy.ndarray
            int32 arrays of equal length, one entry per synapse.

        Raises
        ------
        ParameterError
            When an in-degree exceeds the presynaptic population.

        Examples
        --------
        >>> import numpy as np
        >>> from jaxmf.connectivity import FixedInDegree
        >>> pre, post = FixedInDegree(3).pairs((10,))
        >>> np.bincount(post).tolist() == [3] * 10
        True
        """
        k = _per_pair(self.k, len(sizes), "k").astype(int)
        rng = _rng(key)
        offsets = np.cumsum([0, *sizes])
        pre, post = [], []
        for m, n_post in enumerate(sizes):
            for j, n_pre in enumerate(sizes):
                draw = _distinct_rows(
                    rng, n_post, int(k[m, j]), n_pre, m == j and not self.autapses
                )
                pre.append(draw.ravel() + offsets[j])
                post.append(np.repeat(np.arange(n_post, dtype=np.int32), k[m, j]) + offsets[m])
        return np.concatenate(pre).astype(np.int32), np.concatenate(post).astype(np.int32)

    def synapse_count(self, sizes: Sequence[int]) -> int:
        """The number of synapses of a network with these population sizes (exact).

        Parameters
        ----------
        sizes : sequence of int
            Neurons per population.

        Returns
        -------
        int
            The count.

        Examples
        --------
        >>> from jaxmf.connectivity import FixedInDegree
        >>> FixedInDegree(k=10).synapse_count((100,))
        1000
        """
        k = _per_pair(self.k, len(sizes), "k")
        return int(np.sum(k * np.asarray(sizes, float)[:, None]))


class FixedProbability(eqx.Module):
    """Every ordered pair of neurons is connected independently with probability p.

    A neuron's in-degree is then binomial; synapses carry g / K with K the realised mean in-degree
    of the population pair (about p N_pre), so p = 1 with autapses is the all-to-all network.

    Attributes
    ----------
    p : float or nested tuple of float
        The connection probability: one number, or a P x P table indexed `[post][pre]`.
    autapses : bool
        Whether a neuron may connect to itself (default True).
    spike_batch : int
        Spiking neurons propagated per pass (see `FixedInDegree`).

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.connectivity import FixedProbability
    >>> pre, post = FixedProbability(0.1).pairs((1000,))
    >>> round(pre.size / 1000**2, 2)
    0.1
    """

    p: float | tuple[tuple[float, ...], ...] = eqx.field(static=True, converter=_to_static)
    autapses: bool = eqx.field(default=True, static=True)
    spike_batch: int = eqx.field(default=8, static=True)

    def __check_init__(self):
        table = np.asarray(self.p, dtype=float)
        if not np.all((table > 0) & (table <= 1)):
            raise ParameterError("p", f"probabilities must be in (0, 1]; got {self.p!r}")
        _check_batch(self.spike_batch)

    def pairs(self, sizes: Sequence[int], key=None) -> tuple[np.ndarray, np.ndarray]:
        """The synapses as (pre, post) global neuron indices (see `FixedInDegree.pairs`).

        Parameters
        ----------
        sizes : sequence of int
            Neurons per population.
        key : jax.Array, optional
            PRNG key (default ``jax.random.key(0)``).

        Returns
        -------
        pre, post : numpy.ndarray
            int32 arrays, one entry per synapse.

        Examples
        --------
        >>> from jaxmf.connectivity import FixedProbability
        >>> pre, post = FixedProbability(1.0).pairs((4,))
        >>> pre.size
        16
        """
        p = _per_pair(self.p, len(sizes), "p")
        rng = _rng(key)
        offsets = np.cumsum([0, *sizes])
        pre, post = [], []
        for m, n_post in enumerate(sizes):
            for j, n_pre in enumerate(sizes):
                diag = m == j and not self.autapses
                pool = n_pre - 1 if diag else n_pre
                # A binomial in-degree, then that many distinct uniform neurons: the same law as
                # independent Bernoulli(p) pairs.
                degree = rng.binomial(pool, p[m, j], size=n_post)
                if degree.max(initial=0) == 0:
                    continue
                width = int(degree.max())
                draw = _distinct_rows(rng, n_post, width, pool, False)
                if diag:
                    draw = draw + (draw >= np.arange(n_post)[:, None]).astype(np.int32)
                keep = np.arange(width)[None, :] < degree[:, None]
                pre.append(draw[keep] + offsets[j])
                post.append(np.repeat(np.arange(n_post, dtype=np.int32), degree) + offsets[m])
        if not pre:
            return np.zeros(0, np.int32), np.zeros(0, np.int32)
        return np.concatenate(pre).astype(np.int32), np.concatenate(post).astype(np.int32)

    def synapse_count(self, sizes: Sequence[int]) -> int:
        """The expected number of synapses (the realised one is binomial about it).

        Parameters
        ----------
        sizes : sequence of int
            Neurons per population.

        Returns
        -------
        int
            The count.

        Examples
        --------
        >>> from jaxmf.connectivity import FixedProbability
        >>> FixedProbability(p=0.1).synapse_count((100,))
        1000
        """
        p = _per_pair(self.p, len(sizes), "p")
        return int(np.ceil(np.sum(p * np.outer(sizes, sizes))))


class Connections(eqx.Module):
    """An explicit synapse list: neuron `pre[s]` drives neuron `post[s]`.

    Indices are global (population 0's neurons first). Repeated pairs are separate synapses.
    Use it to load a connectivity from a file (e.g. to simulate the very network another
    simulator runs) or for small hand-built networks.

    Attributes
    ----------
    pre, post : numpy.ndarray
        int32 arrays of equal length.
    spike_batch : int
        Spiking neurons propagated per pass (see `FixedInDegree`).

    Examples
    --------
    >>> from jaxmf.connectivity import Connections
    >>> ring = Connections(pre=[0, 1, 2], post=[1, 2, 0])
    >>> ring.pairs((3,))[0].tolist()
    [0, 1, 2]
    """

    pre: np.ndarray = eqx.field(converter=lambda x: np.asarray(x, np.int32).ravel())
    post: np.ndarray = eqx.field(converter=lambda x: np.asarray(x, np.int32).ravel())
    spike_batch: int = eqx.field(default=8, static=True)

    def __check_init__(self):
        if self.pre.shape != self.post.shape:
            raise ParameterError("connectivity", "pre and post need one entry per synapse each")
        _check_batch(self.spike_batch)

    def pairs(self, sizes: Sequence[int], key=None) -> tuple[np.ndarray, np.ndarray]:
        """The synapses (checked against the network's size).

        Parameters
        ----------
        sizes : sequence of int
            Neurons per population.
        key : jax.Array, optional
            Unused (the list is explicit).

        Returns
        -------
        pre, post : numpy.ndarray
            The int32 arrays.

        Raises
        ------
        ParameterError
            When an index lies outside the network.

        Examples
        --------
        >>> from jaxmf.connectivity import Connections
        >>> Connections(pre=[0], post=[1]).pairs((2,))[1].tolist()
        [1]
        """
        del key
        n = int(sum(sizes))
        for name, ix in (("pre", self.pre), ("post", self.post)):
            if ix.size and (ix.min() < 0 or ix.max() >= n):
                raise ParameterError("connectivity", f"{name} indices must lie in [0, {n - 1}]")
        return self.pre, self.post

    def synapse_count(self, sizes: Sequence[int]) -> int:
        """The number of synapses.

        Parameters
        ----------
        sizes : sequence of int
            Neurons per population.

        Returns
        -------
        int
            The count.

        Examples
        --------
        >>> from jaxmf.connectivity import Connections
        >>> Connections(pre=[0, 1], post=[1, 0]).synapse_count((100,))
        2
        """
        return int(self.pre.size)


def _check_batch(batch) -> None:
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ParameterError("spike_batch", f"must be an integer >= 1; got {batch!r}")


class SparseCoupling(eqx.Module):
    """A built connectivity, part of the `Network`: each presynaptic neuron's targets.

    Attributes
    ----------
    targets : tuple of jax.Array
        Per presynaptic population k, int32 of shape (N_k + 1, D_k): the global indices of
        neuron j's targets in row j, padded with N (a dummy receiver) to the largest out-degree
        D_k; the last row is all padding.
    in_degree : jax.Array
        Shape (P, P): the mean in-degree K[m, k] of population m from population k, the weights'
        denominator.
    n_synapses : int
        The number of synapses.
    spike_batch : int
        Spiking neurons propagated per pass.
    rule : FixedInDegree, FixedProbability or Connections
        The rule it was built from.

    Examples
    --------
    >>> from jaxmf.connectivity import Connections, build_coupling
    >>> c = build_coupling(Connections(pre=[0, 0, 1], post=[1, 2, 2]), (3,))
    >>> c.targets[0].tolist(), c.in_degree.tolist()
    ([[1, 2], [2, 3], [3, 3], [3, 3]], [[1.0]])
    """

    targets: tuple[jax.Array, ...]
    in_degree: jax.Array
    n_synapses: int = eqx.field(static=True)
    spike_batch: int = eqx.field(static=True)
    rule: eqx.Module

    @property
    def nbytes(self) -> int:
        """Bytes the tables take (4 per entry, padding included)."""
        return int(sum(t.size for t in self.targets) * 4)


def build_coupling(rule, sizes: Sequence[int], key=None) -> SparseCoupling:
    """Draw the synapses of `rule` for populations of these sizes and build the target tables.

    Parameters
    ----------
    rule : FixedInDegree, FixedProbability or Connections
        The connectivity rule.
    sizes : sequence of int
        Neurons per population.
    key : jax.Array, optional
        PRNG key for the random rules (default ``jax.random.key(0)``).

    Returns
    -------
    SparseCoupling
        The tables.

    Raises
    ------
    ParameterError
        A rule that does not fit the network.

    Examples
    --------
    >>> from jaxmf.connectivity import FixedInDegree, build_coupling
    >>> c = build_coupling(FixedInDegree(5), (50,))
    >>> c.n_synapses, c.in_degree.tolist()
    (250, [[5.0]])
    """
    sizes = tuple(int(x) for x in sizes)
    n = sum(sizes)
    offsets = np.cumsum([0, *sizes])
    pre, post = rule.pairs(sizes, key)
    pop_of = np.repeat(np.arange(len(sizes)), sizes)
    block = np.zeros((len(sizes), len(sizes)))
    np.add.at(block, (pop_of[post], pop_of[pre]), 1.0)
    in_degree = block / np.asarray(sizes, float)[:, None]
    targets = []
    for k, n_k in enumerate(sizes):
        sel = (pre >= offsets[k]) & (pre < offsets[k + 1])
        pre_k = pre[sel] - offsets[k]
        post_k = post[sel]
        del sel
        # Any grouping by presynaptic neuron will do (a row's order is a sum's): no stable sort.
        order = np.argsort(pre_k)
        degree = np.bincount(pre_k, minlength=n_k)
        width = max(1, int(degree.max(initial=0)))
        table = np.full((n_k + 1, width), n, np.int32)
        col = np.arange(pre_k.size) - np.repeat(np.cumsum(degree) - degree, degree)
        table[pre_k[order], col] = post_k[order]
        del order, col
        targets.append(jnp.asarray(table))
    return SparseCoupling(
        targets=tuple(targets),
        # Empty blocks get K = 1: they receive nothing anyway.
        in_degree=jnp.asarray(np.where(in_degree > 0, in_degree, 1.0)),
        n_synapses=int(pre.size),
        spike_batch=int(rule.spike_batch),
        rule=rule,
    )


def split_coupling(coupling: SparseCoupling, sizes: Sequence[int], n_parts: int) -> SparseCoupling:
    """The tables of a network whose every population is split evenly into `n_parts` parts
    (devices): part d holds the neurons d N_m / n_parts ... (d + 1) N_m / n_parts - 1 of each
    population m, and of every presynaptic neuron only its targets in that part.

    Parameters
    ----------
    coupling : SparseCoupling
        The tables of the whole network (`build_coupling`).
    sizes : sequence of int
        Neurons per population, each a multiple of `n_parts`.
    n_parts : int
        The number of parts.

    Returns
    -------
    SparseCoupling
        The same synapses, `targets[k]` of shape (n_parts, N_k + 1, D'_k): in part d, row j
        holds neuron j's targets in part d as indices into that part's neurons (population 0's
        share first), padded with the part's neuron count (its dummy receiver) to the largest
        out-degree D'_k into one part. Each part takes about 1 / n_parts of the synapses.

    Raises
    ------
    ParameterError
        When a population is not a multiple of `n_parts`.

    Examples
    --------
    >>> from jaxmf.connectivity import Connections, build_coupling, split_coupling
    >>> c = build_coupling(Connections(pre=[0, 0, 1], post=[1, 2, 3]), (4,))
    >>> split_coupling(c, (4,), 2).targets[0].tolist()  # part 0: neurons 0-1, part 1: 2-3
    [[[1], [2], [2], [2], [2]], [[0], [1], [2], [2], [2]]]
    """
    sizes = tuple(int(x) for x in sizes)
    if any(size % n_parts for size in sizes):
        raise ParameterError(
            "n", f"population sizes {sizes} are not multiples of the {n_parts} parts"
        )
    n = sum(sizes)
    offsets = np.cumsum([0, *sizes])
    local = np.asarray(sizes) // n_parts
    n_local = int(local.sum())
    local_offsets = np.cumsum([0, *local])
    pop_of = np.repeat(np.arange(len(sizes)), sizes)
    tables = []
    for whole in coupling.targets:
        table = np.asarray(whole)
        real = table < n
        glob = np.where(real, table, 0)
        pop = pop_of[glob]
        within = glob - offsets[pop]
        part = np.where(real, within // local[pop], n_parts)
        index = (local_offsets[pop] + within % local[pop]).astype(np.int32)
        width = max(1, max(int((part == d).sum(axis=1).max()) for d in range(n_parts)))
        out = np.full((n_parts, table.shape[0], width), n_local, np.int32)
        for d in range(n_parts):
            keep = part == d
            # A row's targets in this part packed to its front (their order is a sum's).
            order = np.argsort(~keep, axis=1, kind="stable")[:, :width]
            packed = np.take_along_axis(np.where(keep, index, n_local), order, axis=1)
            out[d, :, : packed.shape[1]] = packed
        tables.append(jnp.asarray(out))
    return SparseCoupling(
        targets=tuple(tables),
        in_degree=coupling.in_degree,
        n_synapses=coupling.n_synapses,
        spike_batch=coupling.spike_batch,
        rule=coupling.rule,
    )


def coupling_bytes(rule, sizes: Sequence[int]) -> float:
    """Memory the connectivity needs: the int32 tables (4 bytes per synapse, about 1.1x with
    padding) and the build's temporaries (pre, post, sort order: about 4 words per synapse).

    Parameters
    ----------
    rule : FixedInDegree, FixedProbability or Connections
        The connectivity rule.
    sizes : sequence of int
        Neurons per population.

    Returns
    -------
    float
        Bytes at the peak of `build_coupling`.

    Examples
    --------
    >>> from jaxmf.connectivity import FixedInDegree, coupling_bytes
    >>> coupling_bytes(FixedInDegree(1000), (100_000,)) / 1e9  # 10^8 synapses
    2.0
    """
    return float(rule.synapse_count(sizes)) * 4 * 5


def check_coupling_memory(rule, sizes: Sequence[int], max_memory=None) -> None:
    """Refuse a connectivity that would not fit in memory (see `coupling_bytes`).

    Parameters
    ----------
    rule : FixedInDegree, FixedProbability or Connections
        The connectivity rule.
    sizes : sequence of int
        Neurons per population.
    max_memory : float, optional
        Bytes allowed (default: the memory available now).

    Returns
    -------
    None
        Returns only when the check passes.

    Raises
    ------
    ParameterError
        Naming `connectivity`, with the need and the limit.

    Examples
    --------
    >>> from jaxmf.connectivity import FixedInDegree, check_coupling_memory
    >>> check_coupling_memory(FixedInDegree(10), (100,), max_memory=1e6)
    """
    count = rule.synapse_count(sizes)
    check_memory(
        coupling_bytes(rule, sizes),
        "connectivity",
        f"{count:.3g} synapses (int32 tables: {4 * count / 2**20:.3g} MiB)",
        max_memory,
    )


_BLOCK = 128  # neurons per block of the spike search, at most


def _block_size(n: int) -> int:
    """Neurons per search block: a divisor of n a little below _BLOCK where there is one (the
    mask then reshapes into blocks as it is, not through a padded copy), else _BLOCK."""
    for size in range(_BLOCK, _BLOCK - 16, -1):
        if n % size == 0:
            return size
    return _BLOCK


def _received(mask, table, n_total, batch, axis_name=None):
    """Spikes each neuron receives from one population this step (the spiking neurons' rows of
    `table` scatter-added) and the population's spike count.

    The spiking neurons are found in two levels, as `jnp.nonzero` over all N neurons (a prefix
    sum and a scatter of N elements) costs several neuron updates. Block b holds the neurons
    b, b + B, b + 2B, ... (B = N / size blocks of `_block_size(N)` neurons, a strided layout):
    neurons are ordered by excitability, so those that fire together are neighbours, and
    strided blocks spread them over different blocks. One reduction flags the blocks that hold
    a spike; then each pass takes up to `batch` flagged blocks (`nonzero` over the B flags) and
    propagates, per block, its next spiking neuron (a search over that block's entries only).
    Passes repeat until every spike is propagated: ceil(spikes / batch) of them, more only when
    a block holds several spikes. `axis_name`: inside `jax.shard_map`, where the gathered
    mask and this device's table vary along that axis."""
    n_pre = mask.shape[0]
    size = _block_size(n_pre)
    n_blocks = -(-n_pre // size)
    grid = mask if n_blocks * size == n_pre else jnp.pad(mask, (0, n_blocks * size - n_pre))
    grid = grid.reshape(size, n_blocks)
    # Flags, not counts: XLA's CPU column sum is several times slower than a column `any`.
    has = jnp.any(grid, axis=0)
    rows = jnp.arange(size, dtype=jnp.int32)[:, None]

    def cond(carry):
        return jnp.any(carry[1])

    def body(carry):
        acc, has, last, done = carry
        blocks = jnp.nonzero(has, size=batch, fill_value=n_blocks)[0].astype(jnp.int32)
        valid = blocks < n_blocks
        b = jnp.minimum(blocks, n_blocks - 1)
        # Each block's next spiking neuron: the first after the one its last pass took.
        col = grid[:, b]
        row = jnp.min(jnp.where(col & (rows > last[b]), rows, size), axis=0)
        ids = jnp.where(valid, row * n_blocks + b, n_pre)
        # One dynamic slice per row, not one gather: XLA's CPU gather works out an index per
        # element, a row slice is one contiguous copy (a quarter of the step at N = 10^5).
        targets = jnp.concatenate(
            [jax.lax.dynamic_slice_in_dim(table, ids[i], 1) for i in range(batch)]
        )
        acc = acc.at[targets.ravel()].add(1, mode="promise_in_bounds")
        more = jnp.any(col & (rows > row), axis=0)
        has = has.at[blocks].set(more, mode="drop")
        last = last.at[blocks].set(row, mode="drop")
        return acc, has, last, done + jnp.sum(valid, dtype=jnp.int32)

    acc0 = jnp.zeros((n_total + 1,), jnp.int32)
    last0 = jnp.full((n_blocks,), -1, jnp.int32)
    done0 = jnp.zeros((), jnp.int32)
    if axis_name is not None:
        # The carry varies along the axis, like the gathered mask it is computed from.
        acc0, last0, done0 = jax.lax.pcast((acc0, last0, done0), (axis_name,), to="varying")
    acc, _, _, n_spikes = jax.lax.while_loop(cond, body, (acc0, has, last0, done0))
    return acc[:n_total], n_spikes


def sparse_step(coupling: SparseCoupling, params, etas, sizes, vws, dt, scheme, axis_name=None):
    """One step of the sparsely coupled network (the connectivity branch of the network's step).

    Parameters
    ----------
    coupling : SparseCoupling
        The tables.
    params : Params
        The parameters, cast to the state's dtype.
    etas : tuple of jax.Array
        Per population, the excitabilities as the scheme prepared them.
    sizes : tuple of int
        Neurons per population.
    vws : tuple
        (v, w, s, syn): per population v and w, the population s (carried unchanged) and per
        population the per-neuron synaptic variables of shape (N_m, P).
    dt : float or jax.Array
        The time step.
    scheme : EulerReset, ExactPassage or MobiusPassage
        How a spike is handled (its `population_step` and `synapse_step`).
    axis_name : str, optional
        Inside `jax.shard_map` with every population split evenly along this mesh axis (`vws`
        this device's neurons, `coupling` its part of `split_coupling`): the spike masks are
        gathered so that every device propagates every spike into its own neurons (integer
        counts: the same as on one device), and the spike counts summed across the axis.

    Returns
    -------
    vws : tuple
        The new (v, w, s, syn).
    counts : jax.Array
        Shape (P,): spikes of each population.
    masks : list of jax.Array
        Per population, which neurons spiked.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.params import Params
    >>> from jaxmf.network import EulerReset
    >>> from jaxmf.connectivity import Connections, build_coupling, sparse_step
    >>> c = build_coupling(Connections(pre=[0], post=[1]), (2,))
    >>> p = Params(s_jump=0.25)  # one synapse onto two neurons: mean in-degree K = 1/2
    >>> vws = ((jnp.array([300.0, 0.0]),), (jnp.zeros(2),), jnp.zeros(1), (jnp.zeros((2, 1)),))
    >>> (v, w, s, syn), counts, _ = sparse_step(c, p, (jnp.zeros(2),), (2,), vws, 1e-3,
    ...                                         EulerReset())
    >>> counts.tolist(), [round(float(x), 6) for x in syn[0][:, 0]]  # s_jump / K into neuron 1
    ([1], [0.0, 0.5])
    """
    v, w, s, syn = vws
    dtype = s.dtype
    new_v, new_w, masks = [], [], []
    for m in range(len(sizes)):
        fs = params.fractions * syn[m]
        drive = _Drive(
            A=params.alpha[m] + jnp.sum(fs * params.g[m], axis=-1),
            c=params.i_ext[m] + jnp.sum((fs * params.e_r) * params.g[m], axis=-1),
        )
        vm, wm, spk = scheme.population_step(
            v[m],
            w[m],
            etas[m],
            drive,
            params.a[m],
            params.b[m],
            params.w_jump[m],
            params.v_peak,
            params.v_reset,
            dt,
        )
        new_v.append(vm)
        new_w.append(wm)
        masks.append(spk)
    # The neurons this device holds (all of them on one device): the tables index into them.
    held = tuple(int(x.shape[0]) for x in v)
    n_total = sum(held)
    gathered = masks
    if axis_name is not None:
        gathered = [jax.lax.all_gather(mk, axis_name, tiled=True) for mk in masks]
    # The search counts the spikes: a separate sum would recompute the whole neuron update (XLA
    # duplicates elementwise producers into each consumer).
    per_pre, counts = zip(
        *(
            _received(mk, table, n_total, coupling.spike_batch, axis_name)
            for mk, table in zip(gathered, coupling.targets)
        )
    )
    if axis_name is not None:
        # The same integers, but summed across the axis: equal on every device by type too.
        counts = tuple(jax.lax.psum(jnp.sum(mk, dtype=jnp.int32), axis_name) for mk in masks)
    received = jnp.stack(per_pre, axis=-1).astype(dtype)
    offsets = np.cumsum([0, *held])
    new_syn = []
    for m in range(len(sizes)):
        jump = (
            params.s_jump
            * received[offsets[m] : offsets[m + 1]]
            / coupling.in_degree[m].astype(dtype)
        )
        new_syn.append(scheme.synapse_step(syn[m], params.tau_s, jump, dt))
    return (tuple(new_v), tuple(new_w), s, tuple(new_syn)), jnp.stack(counts), masks


def mean_synapse(syn: tuple[jax.Array, ...], axis_name=None) -> jax.Array:
    """The population-level s_k recorded for a sparse network: s_ik averaged over every neuron i.

    Parameters
    ----------
    syn : tuple of jax.Array
        Per population, the per-neuron synaptic variables of shape (N_m, P).
    axis_name : str, optional
        Inside `jax.shard_map` with the neurons split evenly along this mesh axis: the sums of
        the devices' neurons are summed across it (equal to the one-device mean to rounding).

    Returns
    -------
    jax.Array
        Shape (P,).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf.connectivity import mean_synapse
    >>> mean_synapse((jnp.array([[0.0], [1.0]]),)).tolist()
    [0.5]
    """
    total = sum(jnp.sum(x, axis=0) for x in syn)
    if axis_name is None:
        return jnp.asarray(total / sum(x.shape[0] for x in syn))
    n = sum(x.shape[0] for x in syn) * jax.lax.axis_size(axis_name)
    return jnp.asarray(jax.lax.psum(total, axis_name) / n)


def coupling_to_arrays(coupling: SparseCoupling) -> dict[str, np.ndarray]:
    """A built connectivity as named numpy arrays, to store beside a network run's state.

    Parameters
    ----------
    coupling : SparseCoupling
        The tables.

    Returns
    -------
    dict of str to numpy.ndarray
        ``targets_<k>`` per presynaptic population, ``in_degree`` and ``spike_batch``.

    Examples
    --------
    >>> from jaxmf.connectivity import Connections, build_coupling, coupling_to_arrays
    >>> sorted(coupling_to_arrays(build_coupling(Connections([0], [1]), (2,))))
    ['in_degree', 'spike_batch', 'targets_0']
    """
    out = {f"targets_{k}": np.asarray(t) for k, t in enumerate(coupling.targets)}
    out["in_degree"] = np.asarray(coupling.in_degree)
    out["spike_batch"] = np.asarray(coupling.spike_batch)
    return out


def coupling_from_arrays(arrays, sizes: Sequence[int]) -> SparseCoupling:
    """The connectivity stored by `coupling_to_arrays`, rebuilt with the same synapses (its rule
    becomes the equivalent `Connections`).

    Parameters
    ----------
    arrays : mapping of str to array_like
        What `coupling_to_arrays` returned.
    sizes : sequence of int
        Neurons per population.

    Returns
    -------
    SparseCoupling
        The tables, equal to the stored ones.

    Examples
    --------
    >>> import numpy as np
    >>> from jaxmf.connectivity import (Connections, build_coupling, coupling_from_arrays,
    ...                                 coupling_to_arrays)
    >>> c = build_coupling(Connections([0, 2], [1, 1]), (3,))
    >>> back = coupling_from_arrays(coupling_to_arrays(c), (3,))
    >>> back.rule.pre.tolist(), back.rule.post.tolist(), back.n_synapses
    ([0, 2], [1, 1], 2)
    """
    n = int(sum(sizes))
    offsets = np.cumsum([0, *sizes])
    pre, post = [], []
    for k in range(len(sizes)):
        table = np.asarray(arrays[f"targets_{k}"])[:-1]
        j, _ = np.nonzero(table < n)
        pre.append(j + offsets[k])
        post.append(table[table < n])
    rule = Connections(
        np.concatenate(pre), np.concatenate(post), spike_batch=int(arrays["spike_batch"])
    )
    built = build_coupling(rule, sizes)
    return eqx.tree_at(lambda c: c.in_degree, built, jnp.asarray(arrays["in_degree"]))
