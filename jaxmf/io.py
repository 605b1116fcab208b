"""Saving and loading results with provenance.

A network run is stored as two files with a common stem: `<stem>.npz` (every array: records,
spike raster, Lorentzian samples and the final state, so the run can be resumed) and `<stem>.json`
(what produced it: versions, device, command line, parameters, run settings and summary numbers).
Mean-field solutions (`save_meanfield_result`) and network-versus-mean-field comparisons
(`save_comparison`) are stored the same way. In the JSON, NaN is written as null and infinities
as the strings "inf" / "-inf" (strict JSON has no literal for either). Statuses are stored as
`jaxmf.RESULTS` codes and read back as RESULTS items.
Files are written through the file layer (`jaxmf._files`: atomic, fsync'ed), so an interrupted
save never leaves a half-written file under the final name. Reading a damaged, empty or
truncated file raises `ValueError` naming it.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._files import atomic_write, dumps, provenance, read_json, write_json
from ._results import RESULTS, from_codes
from ._results import status_codes as _result_codes
from .analysis import regime_name, trace_summary, transient_time
from .connectivity import coupling_from_arrays, coupling_to_arrays
from .delay import DelayLine
from .monitors import MonitorRecord, monitor_arrays, monitor_from_arrays
from .network import Network, NetworkResult, NetworkState
from .params import Params, first_params, params_to_dict, stack_params

__all__ = [
    "provenance",
    "params_to_dict",
    "params_from_dict",
    "summarize",
    "save_network_result",
    "load_network_result",
    "restore_network_result",
    "SavedRun",
    "summarize_meanfield",
    "equilibria_to_dicts",
    "save_meanfield_result",
    "save_comparison",
    "write_json",
    "read_json",
    "stem",
    "write_pair",
    "write_csv",
    "read_npz",
    "read_csv",
    "status_codes",
    "status_labels",
    "FORMAT_VERSION",
]

# 2: statuses are `jaxmf.RESULTS` codes (`_results.status_codes`); 1: each result's own codes.
FORMAT_VERSION = 2
"""Version of the file formats written here (network runs of version 1 are still read)."""
# A network rate is analysed smoothed over this many time units with this burst-detection
# hysteresis: finite-size fluctuations are otherwise taken for bursts (as in `compare`).
NETWORK_SMOOTH_TIME = 10.0
NETWORK_HYSTERESIS = 0.3
# Network status codes of format 1 files (ok, non-finite, interrupted) in RESULTS codes.
_NETWORK_CODES_V1 = np.array([0, 1, 3], np.int8)
_ITEM = type(RESULTS.successful)


def status_codes(status) -> np.ndarray:
    """Integer codes of a result's status, as stored in files.

    0 is successful; the others follow the order of `jaxmf.RESULTS`. A plain integer status is
    taken as such a code already.

    Parameters
    ----------
    status : RESULTS or array_like of int
        A (possibly batched) status item, or codes.

    Returns
    -------
    numpy.ndarray
        int8 codes of the status's batch shape.

    Examples
    --------
    >>> import jaxmf
    >>> from jaxmf import io
    >>> int(io.status_codes(jaxmf.RESULTS.diverged))
    1
    """
    if isinstance(status, _ITEM):
        return np.asarray(_result_codes(status))
    return np.asarray(status).astype(np.int8)


def _status_from_codes(codes) -> Any:
    """`jaxmf.RESULTS` item of the codes' shape (`from_codes` is vmapped over batch axes)."""
    codes = jnp.asarray(codes, jnp.int8)
    convert = from_codes
    for _ in range(codes.ndim):
        convert = jax.vmap(convert)
    return convert(codes)


def status_labels(status) -> Any:
    """Short labels of a status, for JSON sidecars and summaries.

    Parameters
    ----------
    status : RESULTS or array_like of int
        A (possibly batched) status item, or its integer codes.

    Returns
    -------
    str or list
        'ok', 'diverged', 'max_steps', ... : a string for one status, a nested list for a batch.

    Examples
    --------
    >>> import jaxmf
    >>> from jaxmf import io
    >>> io.status_labels(jaxmf.RESULTS.max_steps_reached), io.status_labels([0, 1])
    ('max_steps', ['ok', 'diverged'])
    """
    from ._results import status_names

    names = status_names(_status_from_codes(status_codes(status)))
    return np.asarray(names).tolist()


def params_from_dict(d: dict[str, Any]) -> Params:
    """The parameter set of a dict written by `params_to_dict`.

    Batched parameter sets are restacked. float64 values need `jax_enable_x64`; without it they
    are rounded to float32.

    Parameters
    ----------
    d : dict of str to Any
        Field name to (nested) list of floats, and optionally 'dtype'.

    Returns
    -------
    Params
        The parameter set.

    Raises
    ------
    ParameterError
        When a value is invalid or a field is unknown.

    Examples
    --------
    >>> import jaxmf
    >>> from jaxmf import io
    >>> p = jaxmf.presets.two_population()
    >>> q = io.params_from_dict(io.params_to_dict(p))
    >>> all(bool((getattr(p, f) == getattr(q, f)).all()) for f in ("eta_bar", "a", "g"))
    True
    """
    d = dict(d)
    dtype = d.pop("dtype", None)
    if dtype == "float64" and not jax.config.read("jax_enable_x64"):
        dtype = "float32"
    values = {name: np.asarray(x, dtype=dtype or float) for name, x in d.items()}
    if values["eta_bar"].ndim == 2:
        return stack_params(
            [
                Params(**{k: v[i] for k, v in values.items()})
                for i in range(values["eta_bar"].shape[0])
            ]
        )
    return Params(**{k: jnp.asarray(v) for k, v in values.items()})


def summarize(res: NetworkResult, transient: float | None = None) -> dict[str, Any]:
    """Summary numbers of a network run.

    Parameters
    ----------
    res : NetworkResult
        A network run (a batched one gives one value per batch element).
    transient : float, optional
        The analysed window is t > transient; by default the first quarter of the run is left out
        (`analysis.transient_time`), as in `compare`.

    Returns
    -------
    dict of str to Any
        status (labels), message, t_end, n_records, rate_from_t, max_nonfinite, raster_spikes and,
        when the window holds records, the time-averaged rate per population and over the network
        (dimensionless and in Hz at the paper's scales: rate, rate_hz, network_rate,
        network_rate_hz); for one run also each population's regime and burst period
        (`analysis.trace_summary` of its rate smoothed over `NETWORK_SMOOTH_TIME`), the period
        also in ms (period_ms).

    Examples
    --------
    >>> import jaxmf, tempfile, pathlib
    >>> from jaxmf import io
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> s = io.summarize(cmp.network)
    >>> s["status"], s["t_end"], s["rate_from_t"]
    ('ok', 40.0, 10.0)
    >>> abs(s["rate_hz"][0] / s["rate"][0] - 650.0) < 1e-3  # Hz per unit rate at 1.54 ms per unit
    True
    """
    t = np.asarray(res.t)
    r = np.asarray(res.r, dtype=float)
    sizes = np.asarray(res.network.sizes, dtype=float)
    t_end = float(t[-1]) if t.size else 0.0
    t_from = transient_time(t_end, transient)
    keep = t > t_from
    out: dict[str, Any] = {
        "status": status_labels(res.status),
        "message": res.message,
        "t_end": t_end,
        "n_records": int(t.size),
        "rate_from_t": t_from,
        "max_nonfinite": int(np.max(res.n_nonfinite, initial=0)),
        "raster_spikes": int(np.sum(res.spike_count)),
    }
    if not keep.any():
        return out
    rate = r[..., keep, :].mean(axis=-2)
    network_rate = rate @ sizes / sizes.sum()
    hz = float(first_params(res.params).to_dimensional().rate_to_hz(1.0))
    out.update(
        rate=rate.tolist(),
        rate_hz=(hz * rate).tolist(),
        network_rate=network_rate.tolist(),
        network_rate_hz=(hz * network_rate).tolist(),
    )
    if r.ndim == 2 and keep.sum() >= 3:
        window = max(1, int(round(NETWORK_SMOOTH_TIME / (res.dt * res.record_every))))
        stats = [
            trace_summary(
                jnp.asarray(t[keep]),
                jnp.asarray(r[keep, m]),
                smooth_window=window,
                hysteresis=NETWORK_HYSTERESIS,
            )
            for m in range(r.shape[1])
        ]
        period = [float(s.period) for s in stats]
        ms = float(first_params(res.params).to_dimensional().time_unit_ms)
        out.update(
            regime=[regime_name(s.regime) for s in stats],
            period=period,
            period_ms=[ms * x for x in period],
        )
    return out


def stem(path) -> Path:
    """The common stem of a result's two files: `path` without a .npz / .json suffix.

    Parameters
    ----------
    path : str or os.PathLike
        A path with or without suffix.

    Returns
    -------
    pathlib.Path
        The path without .npz / .json (other suffixes are kept).

    Examples
    --------
    >>> from jaxmf import io
    >>> io.stem("results/run.npz").as_posix(), io.stem("results/run.v2").as_posix()
    ('results/run', 'results/run.v2')
    """
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".npz", ".json") else path


def _describe(obj) -> dict[str, Any] | None:
    if obj is None:
        return None
    fields = (
        {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        if dataclasses.is_dataclass(obj)
        else {}
    )
    return {"name": type(obj).__name__, **fields}


def save_network_result(
    path, res: NetworkResult, *, scheme=None, sampler=None, seed=None, **provenance_extra
) -> tuple[Path, Path]:
    """Write a network run to ``<path>.npz`` and ``<path>.json``.

    The .npz holds every array: records, spike raster, Lorentzian samples and the final state, so
    the run can be resumed (`restore_network_result`). The .json sidecar holds what produced it:
    provenance, parameters, run settings and the `summarize` numbers. Both are written atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The common stem (a .npz / .json suffix is dropped).
    res : NetworkResult
        The network run.
    scheme : EulerReset or ExactPassage, optional
        The spike scheme the run used (not stored in `res`), recorded in the sidecar.
    sampler : Quantiles or RandomDraws, optional
        The sampler the run used, recorded in the sidecar.
    seed : int, optional
        The seed the run used, recorded in the sidecar.
    **provenance_extra : Any
        Added to the sidecar's provenance (e.g. ``command=...``).

    Returns
    -------
    npz : pathlib.Path
        The arrays file.
    json : pathlib.Path
        The sidecar.

    Raises
    ------
    TypeError
        When `provenance_extra` holds something JSON cannot store (nothing is written then).

    Examples
    --------
    >>> import jaxmf, tempfile, pathlib
    >>> from jaxmf import io
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> npz, sidecar = io.save_network_result(folder / "run", cmp.network, seed=0)
    >>> npz.name, sidecar.name
    ('run.npz', 'run.json')
    """
    state = res.state
    arrays = {
        name: np.asarray(getattr(res, name))
        for name in ("t", "r", "v_mean", "w_mean", "s", "n_nonfinite", "spike_first", "spike_count")
    }
    arrays["status"] = status_codes(res.status)
    if arrays["spike_first"].ndim == 2:
        arrays["spike_times"], arrays["spike_ids"] = res.spike_raster()
    for m in range(len(res.network.sizes)):
        arrays[f"raster_index_{m}"] = np.asarray(res.raster_index[m])
        arrays[f"z_{m}"] = np.asarray(res.network.z[m])
        arrays[f"state_v_{m}"] = np.asarray(state.v[m])
        arrays[f"state_w_{m}"] = np.asarray(state.w[m])
    if res.monitor is not None:
        arrays.update(monitor_arrays(res.monitor))
    # The model extensions' state: without them a restored run would resume as another model.
    if res.network.coupling is not None:
        arrays.update(
            {f"coupling_{k}": x for k, x in coupling_to_arrays(res.network.coupling).items()}
        )
        for m, syn in enumerate(state.syn):
            arrays[f"state_syn_{m}"] = np.asarray(syn)
    if state.past is not None:
        arrays["state_past_s"] = np.asarray(state.past.s)
        arrays["state_past_head"] = np.asarray(state.past.head)
    if state.x is not None:
        arrays["state_x"] = np.asarray(state.x)
    arrays["state_s"] = np.asarray(state.s)
    arrays["state_step"] = np.asarray(state.step)
    arrays["state_key"] = np.asarray(jax.random.key_data(state.key))

    meta = {
        "format": "jaxmf.network_result",
        "format_version": FORMAT_VERSION,
        "provenance": provenance(**provenance_extra),
        "params": params_to_dict(res.params),
        "n": res.network.n,
        "sizes": list(res.network.sizes),
        "dt": res.dt,
        "record_every": res.record_every,
        "dtype": str(np.asarray(state.s).dtype),
        "scheme": _describe(scheme),
        "sampler": _describe(sampler),
        "seed": seed,
        "key_impl": str(jax.random.key_impl(state.key)),
        "n_raster": int(sum(np.size(ix) for ix in res.raster_index)),
        "summary": summarize(res),
    }
    return write_pair(path, arrays, meta)


def write_pair(path, arrays: dict[str, Any], meta: dict) -> tuple[Path, Path]:
    """Write ``<stem>.npz`` (the arrays) and ``<stem>.json`` (strict JSON of `meta`) atomically.

    The JSON text is made first, so metadata that cannot be serialised fails before anything is
    written.

    Parameters
    ----------
    path : str or os.PathLike
        The common stem; it may carry either suffix.
    arrays : dict of str to array_like
        The arrays, by name.
    meta : dict
        The sidecar's content (NaN is written as null, infinities as "inf" / "-inf").

    Returns
    -------
    npz : pathlib.Path
        The arrays file.
    json : pathlib.Path
        The sidecar.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from jaxmf import io
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> npz, sidecar = io.write_pair(folder / "pair.json", {"x": [1.0, 2.0]}, {"note": "demo"})
    >>> io.read_npz(npz)["x"].tolist(), io.read_json(sidecar)["note"]
    ([1.0, 2.0], 'demo')
    """
    base = stem(path)
    npz, sidecar = base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")
    text = dumps(meta) + "\n"  # fails (unserialisable meta) before anything is written
    atomic_write(npz, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]
    atomic_write(sidecar, lambda f: f.write(text.encode()))
    return npz, sidecar


def write_csv(path, rows: np.ndarray, header: str) -> Path:
    """Write a table of numbers as CSV with a header line, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    rows : array_like
        Shape (rows, columns); written with 10 significant digits.
    header : str
        Comma-separated column names.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from jaxmf import io
    >>> path = io.write_csv(pathlib.Path(tempfile.mkdtemp()) / "t.csv", [[1, 2], [3, 4]], "a,b")
    >>> path.read_text().splitlines()
    ['a,b', '1,2', '3,4']
    """
    rows = np.asarray(rows, float)

    def write(f):
        np.savetxt(f, rows, delimiter=",", header=header, comments="", fmt="%.10g")

    return atomic_write(path, write)


def read_npz(path, *, what: str = "file") -> dict[str, np.ndarray]:
    """Every array of an .npz file, with errors that name the file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    what : str, default "file"
        What the file is, for the error message (e.g. "network run").

    Returns
    -------
    dict of str to numpy.ndarray
        The arrays by name (pickled objects are refused).

    Raises
    ------
    OSError
        When the file is missing.
    ValueError
        When the file is empty, truncated or otherwise damaged.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from jaxmf import io
    >>> bad = pathlib.Path(tempfile.mkdtemp()) / "bad.npz"
    >>> _ = bad.write_text("not a zip")
    >>> io.read_npz(bad, what="network run")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: .../bad.npz: damaged network run (not an .npz archive; ...)
    """
    path = Path(path)
    if path.exists() and path.stat().st_size == 0:
        raise ValueError(f"{path}: empty {what}")
    if path.exists() and not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path}: damaged {what} (not an .npz archive; truncated or another kind of file)"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, EOFError, ValueError, KeyError, zipfile.LargeZipFile) as e:
        raise ValueError(
            f"{path}: damaged {what} ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'unreadable'})"
        ) from None
    except OSError as e:
        if not path.exists():
            raise
        raise ValueError(f"{path}: damaged {what} ({e.strerror or e})") from None


def read_csv(path, *, what: str = "file") -> dict[str, np.ndarray]:
    """Columns of a CSV file with a header line, as float arrays by name.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    what : str, default "file"
        What the file is, for the error message.

    Returns
    -------
    dict of str to numpy.ndarray
        Column name to values.

    Raises
    ------
    OSError
        When the file is missing.
    ValueError
        When the file is empty, binary, has no rows, a non-numeric value or ragged rows.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from jaxmf import io
    >>> path = io.write_csv(pathlib.Path(tempfile.mkdtemp()) / "t.csv", [[1, 2], [3, 4]], "a,b")
    >>> io.read_csv(path)["b"].tolist()
    [2.0, 4.0]
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a CSV {what} (binary content)") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path}: empty {what}")
    names = [name.strip() for name in lines[0].split(",")]
    try:
        rows = [[float(x) for x in line.split(",")] for line in lines[1:]]
    except ValueError:
        raise ValueError(
            f"{path}: {what} has a value that is not a number (expected a header "
            "line, then numbers)"
        ) from None
    if not rows:
        raise ValueError(f"{path}: {what} has a header but no rows")
    if any(len(row) != len(names) for row in rows):
        raise ValueError(f"{path}: {what} rows must have {len(names)} values, like the header")
    table = np.asarray(rows, float)
    return {name: table[:, k] for k, name in enumerate(names)}


class SavedRun(NamedTuple):
    """A saved network run as plain numpy arrays, its parameters and the sidecar's metadata.

    Read by `load_network_result`; `restore_network_result` turns it back into a `NetworkResult`.
    The arrays mean what they mean in `NetworkResult`.

    Attributes
    ----------
    t : numpy.ndarray
        Recording times.
    r : numpy.ndarray
        Population rates, (T, P).
    v_mean : numpy.ndarray
        Mean membrane potentials, (T, P).
    w_mean : numpy.ndarray
        Mean adaptation currents, (T, P).
    s : numpy.ndarray
        Synaptic activations, (T, P).
    n_nonfinite : numpy.ndarray
        Non-finite neurons per record and population.
    spike_first : numpy.ndarray
        First spike step in each record of each raster neuron.
    spike_count : numpy.ndarray
        Spikes in each record of each raster neuron.
    spike_times : numpy.ndarray or None
        Raster spike times (None for a batched run).
    spike_ids : numpy.ndarray or None
        Raster neuron ids of those spikes (None for a batched run).
    raster_index : tuple of numpy.ndarray
        Per population, the neurons recorded in the raster.
    z : tuple of numpy.ndarray
        Per population, the standard Lorentzian samples of the neurons.
    state : dict of str to Any
        The final state: v, w (per-population tuples), s, step, key (raw key data).
    status : RESULTS
        The run's status.
    params : Params
        The parameters of the run.
    meta : dict of str to Any
        The JSON sidecar.
    monitor : MonitorRecord or None
        What a `jaxmf.Monitor` recorded (None without one).
    coupling : dict of str to numpy.ndarray or None
        The sparse connectivity's tables (`jaxmf.connectivity.coupling_to_arrays`; None for
        an all-to-all network).

    Examples
    --------
    >>> import jaxmf, tempfile, pathlib
    >>> from jaxmf import io
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = io.save_network_result(folder / "run", cmp.network)
    >>> saved = io.load_network_result(folder / "run")
    >>> saved.sizes, saved.t.shape == cmp.network.t.shape
    ((100,), True)
    """

    t: np.ndarray
    r: np.ndarray
    v_mean: np.ndarray
    w_mean: np.ndarray
    s: np.ndarray
    n_nonfinite: np.ndarray
    spike_first: np.ndarray
    spike_count: np.ndarray
    spike_times: np.ndarray | None
    spike_ids: np.ndarray | None
    raster_index: tuple[np.ndarray, ...]
    z: tuple[np.ndarray, ...]
    state: dict[str, Any]
    status: Any  # a jaxmf.RESULTS item
    params: Params
    meta: dict[str, Any]
    monitor: MonitorRecord | None = None
    coupling: dict[str, np.ndarray] | None = None

    @property
    def sizes(self) -> tuple[int, ...]:
        """Neurons per population.

        Returns
        -------
        tuple of int
            From the sidecar.
        """
        return tuple(self.meta["sizes"])

    def spike_raster(self) -> tuple[np.ndarray, np.ndarray]:
        """The stored spike raster: spike times and neuron ids.

        Returns
        -------
        times : numpy.ndarray
            Spike times.
        ids : numpy.ndarray
            Raster neuron ids, one per spike.

        Raises
        ------
        ValueError
            For a batched run, which stores no raster.

        Examples
        --------
        >>> import jaxmf, tempfile, pathlib
        >>> from jaxmf import io
        >>> net = jaxmf.simulate_network(jaxmf.presets.tonic(), n=100, t1=40.0, raster=5,
        ...                              progress=False)
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = io.save_network_result(folder / "run", net)
        >>> times, ids = io.load_network_result(folder / "run").spike_raster()
        >>> len(times) == len(ids) > 0, len(set(ids.tolist())) <= 5  # 5 neurons recorded
        (True, True)
        """
        if self.spike_times is None:
            raise ValueError("spike_raster: not stored for batched results")
        return self.spike_times, self.spike_ids


def load_network_result(path) -> SavedRun:
    """Read a run written by `save_network_result`.

    Parameters
    ----------
    path : str or os.PathLike
        The common stem, with or without suffix.

    Returns
    -------
    SavedRun
        The arrays, status, parameters and metadata.

    Raises
    ------
    OSError
        When a file is missing.
    ValueError
        When a file is empty, truncated or damaged, or the files are not a jaxmf network run.

    Examples
    --------
    >>> import jaxmf, tempfile, pathlib
    >>> from jaxmf import io
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = io.save_network_result(folder / "run", cmp.network)
    >>> saved = io.load_network_result(folder / "run.json")
    >>> io.status_labels(saved.status), saved.meta["n"]
    ('ok', 100)
    """
    base = stem(path)
    npz = base.with_name(base.name + ".npz")
    a = read_npz(npz, what="network run")
    meta = read_json(base.with_name(base.name + ".json"), what="network run sidecar")
    try:
        if meta.get("format") != "jaxmf.network_result":
            raise KeyError("format")
        n_pop = len(meta["sizes"])

        def per_pop(name):
            return tuple(a[f"{name}_{m}"] for m in range(n_pop))

        state = {
            "v": per_pop("state_v"),
            "w": per_pop("state_w"),
            "s": a["state_s"],
            "step": a["state_step"],
            "key": a["state_key"],
        }
        if "state_syn_0" in a:
            state["syn"] = per_pop("state_syn")
        for name in ("past_s", "past_head", "x"):
            if f"state_{name}" in a:
                state[name] = a[f"state_{name}"]
        coupling = {name[len("coupling_") :]: a[name] for name in a if name.startswith("coupling_")}
        codes = a["status"]
        if meta.get("format_version", 1) < 2:
            codes = _NETWORK_CODES_V1[np.clip(codes, 0, 2)]
        return SavedRun(
            t=a["t"],
            r=a["r"],
            v_mean=a["v_mean"],
            w_mean=a["w_mean"],
            s=a["s"],
            n_nonfinite=a["n_nonfinite"],
            spike_first=a["spike_first"],
            spike_count=a["spike_count"],
            spike_times=a.get("spike_times"),
            spike_ids=a.get("spike_ids"),
            raster_index=per_pop("raster_index"),
            z=per_pop("z"),
            state=state,
            status=_status_from_codes(codes),
            params=params_from_dict(meta["params"]),
            meta=meta,
            monitor=monitor_from_arrays(a),
            coupling=coupling or None,
        )
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{npz}: not a jaxmf network run (missing {e})") from None


def restore_network_result(saved: SavedRun | str | os.PathLike) -> NetworkResult:
    """A `NetworkResult` to continue from, rebuilt from a saved run.

    Pass it as ``simulate_network(..., resume=...)``: the run continues exactly as if it had not
    stopped. A float64 run needs `jax_enable_x64` switched on first.

    Parameters
    ----------
    saved : SavedRun or str or os.PathLike
        A loaded run, or the path of one.

    Returns
    -------
    NetworkResult
        Records as numpy arrays, the final state as JAX arrays.

    Raises
    ------
    ValueError
        When the run is float64 and `jax_enable_x64` is off, or the files are damaged.
    OSError
        When a file is missing.

    Examples
    --------
    >>> import jaxmf, tempfile, pathlib
    >>> from jaxmf import io
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = io.save_network_result(folder / "run", cmp.network)
    >>> res = io.restore_network_result(folder / "run")
    >>> more = jaxmf.simulate_network(res.params, n=100, t1=80.0, progress=False, resume=res)
    >>> float(more.t[-1])
    80.0
    """
    if not isinstance(saved, SavedRun):
        saved = load_network_result(saved)
    if saved.meta["dtype"] == "float64" and not jax.config.read("jax_enable_x64"):
        raise ValueError(
            "dtype: this run was computed in float64; call "
            "jax.config.update('jax_enable_x64', True) before restoring it"
        )
    st = saved.state
    state = NetworkState(
        v=tuple(jnp.asarray(x) for x in st["v"]),
        w=tuple(jnp.asarray(x) for x in st["w"]),
        s=jnp.asarray(st["s"]),
        step=jnp.asarray(st["step"]),
        key=jax.random.wrap_key_data(st["key"], impl=saved.meta.get("key_impl", "threefry2x32")),
        syn=tuple(jnp.asarray(x) for x in st["syn"]) if "syn" in st else None,
        past=(
            DelayLine(s=jnp.asarray(st["past_s"]), head=jnp.asarray(st["past_head"]))
            if "past_s" in st
            else None
        ),
        x=jnp.asarray(st["x"]) if "x" in st else None,
    )
    coupling = None if saved.coupling is None else coupling_from_arrays(saved.coupling, saved.sizes)
    network = Network(
        sizes=saved.sizes, z=tuple(jnp.asarray(z) for z in saved.z), coupling=coupling
    )
    # The records stay numpy arrays (as a finished run hands them back); only the state is jax.
    records: dict[str, Any] = {
        name: getattr(saved, name)
        for name in (
            "t",
            "r",
            "v_mean",
            "w_mean",
            "s",
            "n_nonfinite",
            "spike_first",
            "spike_count",
            "raster_index",
            "params",
            "status",
        )
    }
    return NetworkResult(
        **records,
        state=state,
        network=network,
        dt=saved.meta["dt"],
        record_every=saved.meta["record_every"],
        monitor=saved.monitor,
    )


def _physical(row: dict[str, Any], dim) -> dict[str, Any]:
    """The physical forms (Hz, ms, mV, pA at the scales of `dim`) of a summary row's numbers."""
    hz = float(np.ravel(dim.rate_to_hz(1.0))[0])
    ms = float(np.ravel(dim.time_unit_ms)[0])
    return {
        "r_mean_hz": [hz * x for x in row["r_mean"]],
        "peak_hz": [hz * x for x in row["peak"]],
        "low_hz": [hz * x for x in row["low"]],
        "period_ms": [ms * x for x in row["period"]],
        "v_mean_mv": np.ravel(dim.voltage_to_mv(np.asarray(row["v_mean"]))).tolist(),
        "w_mean_pa": np.ravel(dim.current_to_pa(np.asarray(row["w_mean"]))).tolist(),
    }


def summarize_meanfield(res, params: Params | None = None, windows=None) -> dict[str, Any]:
    """Summary numbers of a mean-field solution.

    Parameters
    ----------
    res : MeanFieldResult
        The solution.
    params : Params, optional
        The parameters solved; with them every number is also given in physical units at the
        paper's scales (r_mean_hz, peak_hz, low_hz, period_ms, v_mean_mv, w_mean_pa).
    windows : Sequence of tuple of float, optional
        (t_from, t_to) pairs analysed separately; by default one window leaving out the first
        quarter of the run (`analysis.transient_time`).

    Returns
    -------
    dict of str to Any
        model, status (label), message, n_steps, t_end and 'windows': per window, per population,
        the means of r, ⟨v⟩, ⟨w⟩, s and the regime, burst period, peak and lowest rate of r from
        `analysis.trace_summary` (the convention of compare, fit and sweep).

    Examples
    --------
    >>> import jaxmf, tempfile, pathlib
    >>> from jaxmf import io
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> mf = cmp.meanfield["chen_campbell"]
    >>> s = io.summarize_meanfield(mf, jaxmf.presets.tonic(), windows=[(20.0, 40.0)])
    >>> s["model"], s["status"], [w["t_from"] for w in s["windows"]]
    ('chen_campbell', 'ok', [20.0])
    >>> sorted(k for k in s["windows"][0] if k.endswith(("_hz", "_ms", "_mv", "_pa")))
    ['low_hz', 'peak_hz', 'period_ms', 'r_mean_hz', 'v_mean_mv', 'w_mean_pa']
    """
    t = np.asarray(res.t, float)
    t_end = float(t[-1]) if t.size else 0.0
    t_start = float(t[0]) if t.size else 0.0
    if windows is None:
        windows = [(transient_time(t_end, t_start=t_start), t_end)]
    dim = None if params is None else first_params(params).to_dimensional()
    codes = status_codes(res.status)
    out: dict[str, Any] = {
        "model": res.model,
        "status": status_labels(np.max(codes)),
        "message": res.message,
        "n_steps": int(np.asarray(res.n_steps)),
        "t_end": t_end,
        "windows": [],
    }
    traces = {k: np.asarray(getattr(res, k), float) for k in ("r", "v", "w", "s")}
    for t_from, t_to in windows:
        keep = (t > t_from) & (t <= t_to) & np.all(np.isfinite(traces["r"]), axis=-1)
        row: dict[str, Any] = {"t_from": float(t_from), "t_to": float(t_to)}
        if keep.sum() >= 3:
            stats = [
                trace_summary(jnp.asarray(t[keep]), jnp.asarray(traces["r"][keep, m]))
                for m in range(traces["r"].shape[-1])
            ]
            row.update(
                r_mean=[float(st.mean) for st in stats],
                v_mean=traces["v"][keep].mean(0).tolist(),
                w_mean=traces["w"][keep].mean(0).tolist(),
                s_mean=traces["s"][keep].mean(0).tolist(),
                period=[float(st.period) for st in stats],
                peak=[float(st.peak) for st in stats],
                low=[float(st.low) for st in stats],
                regime=[regime_name(st.regime) for st in stats],
            )
            if dim is not None:
                row.update(_physical(row, dim))
        out["windows"].append(row)
    return out


def equilibria_to_dicts(eq, **fields) -> list[dict[str, Any]]:
    """The valid rows of mean-field equilibria as JSON-ready dicts.

    Parameters
    ----------
    eq : Equilibria
        From `meanfield_equilibria`.
    **fields : Any
        Added to each dict (e.g. the input current they belong to).

    Returns
    -------
    list of dict
        One dict per valid equilibrium: r, v, w, s (per population), stable,
        max_real_eigenvalue, eigenvalues as [re, im] pairs, residual.

    Examples
    --------
    >>> import jaxmf
    >>> from jaxmf import io
    >>> rows = io.equilibria_to_dicts(jaxmf.meanfield_equilibria(jaxmf.presets.tonic()), i_ext=0.0)
    >>> sorted(rows[0])  # doctest: +NORMALIZE_WHITESPACE
    ['eigenvalues', 'i_ext', 'max_real_eigenvalue', 'r', 'residual', 's', 'stable', 'v', 'w']
    """
    out = []
    valid = np.asarray(eq.valid)
    for k in np.nonzero(valid)[0]:
        eig = np.asarray(eq.eigenvalues)[k]
        out.append(
            {
                **fields,
                **{name: np.asarray(getattr(eq, name))[k].tolist() for name in "rvws"},
                "stable": bool(np.asarray(eq.stable)[k]),
                "max_real_eigenvalue": float(np.max(eig.real)),
                "eigenvalues": np.stack([eig.real, eig.imag], -1).tolist(),
                "residual": float(np.asarray(eq.residual)[k]),
            }
        )
    return out


def _meanfield_arrays(res, prefix: str = "") -> dict[str, np.ndarray]:
    arrays = {
        prefix + name: np.asarray(getattr(res, name))
        for name in ("t", "r", "v", "w", "s", "n_steps")
    }
    arrays[prefix + "status"] = status_codes(res.status)
    return arrays


def save_meanfield_result(
    path,
    res,
    *,
    params: Params | None = None,
    i_ext=None,
    windows=None,
    equilibria: list[dict] | None = None,
    **provenance_extra,
) -> tuple[Path, Path]:
    """Write a mean-field solution to ``<path>.npz`` and ``<path>.json``.

    The .npz holds t, r, v, w, s, status, n_steps and, with `i_ext`, its switch times and values;
    the .json holds provenance, model, parameters, input, the `summarize_meanfield` numbers over
    `windows`, and the equilibria.

    Parameters
    ----------
    path : str or os.PathLike
        The common stem (a .npz / .json suffix is dropped).
    res : MeanFieldResult
        The solution.
    params : Params, optional
        The parameters solved (not stored in `res`).
    i_ext : StepInput, optional
        The input used, if any.
    windows : Sequence of tuple of float, optional
        (t_from, t_to) pairs for `summarize_meanfield`.
    equilibria : list of dict, optional
        JSON-ready dicts (`equilibria_to_dicts`).
    **provenance_extra : Any
        Added to the sidecar's provenance (e.g. ``command=...``).

    Returns
    -------
    npz : pathlib.Path
        The arrays file.
    json : pathlib.Path
        The sidecar.

    Examples
    --------
    >>> import jaxmf, tempfile, pathlib
    >>> from jaxmf import io
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> mf = cmp.meanfield["chen_campbell"]
    >>> npz, sidecar = io.save_meanfield_result(folder / "mf", mf, params=jaxmf.presets.tonic())
    >>> io.read_json(sidecar)["format"], sorted(io.read_npz(npz))[:3]
    ('jaxmf.meanfield_result', ['n_steps', 'r', 's'])
    """
    arrays = _meanfield_arrays(res)
    step = None
    if i_ext is not None:
        step = {
            "times": np.asarray(i_ext.times).tolist(),
            "values": np.asarray(i_ext.values).tolist(),
        }
        arrays.update(i_ext_times=np.asarray(i_ext.times), i_ext_values=np.asarray(i_ext.values))
    meta = {
        "format": "jaxmf.meanfield_result",
        "format_version": FORMAT_VERSION,
        "provenance": provenance(**provenance_extra),
        "model": res.model,
        "params": None if params is None else params_to_dict(params),
        "dtype": str(np.asarray(res.r).dtype),
        "i_ext_step": step,
        "summary": summarize_meanfield(res, params, windows),
        "equilibria": equilibria,
    }
    return write_pair(path, arrays, meta)


def save_comparison(
    path, cmp, *, scheme=None, sampler=None, seed=None, **provenance_extra
) -> tuple[Path, Path]:
    """Write a `Comparison` to ``<path>.npz`` and ``<path>.json``.

    The .npz holds the network's records and spike raster (``network_*``) and each mean-field
    model's traces (``mf_<model>_*``); the .json holds provenance, parameters, network settings,
    per-model solver status, the metrics and the network summary over the comparison's own
    transient.

    Parameters
    ----------
    path : str or os.PathLike
        The common stem (a .npz / .json suffix is dropped).
    cmp : Comparison
        From `jaxmf.compare`.
    scheme : EulerReset or ExactPassage, optional
        The network's spike scheme (not stored in the result).
    sampler : Quantiles or RandomDraws, optional
        The network's sampler.
    seed : int, optional
        The network's seed.
    **provenance_extra : Any
        Added to the sidecar's provenance.

    Returns
    -------
    npz : pathlib.Path
        The arrays file.
    json : pathlib.Path
        The sidecar.

    Examples
    --------
    >>> import jaxmf, tempfile, pathlib
    >>> from jaxmf import io
    >>> cmp = jaxmf.compare(jaxmf.presets.tonic(), n=100, t1=40.0, progress=False)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> npz, sidecar = io.save_comparison(folder / "compare", cmp, seed=0)
    >>> meta = io.read_json(sidecar)
    >>> meta["format"], list(meta["models"]), meta["metrics"]["n"]
    ('jaxmf.comparison', ['chen_campbell'], 100)
    """
    net = cmp.network
    arrays = {
        f"network_{name}": np.asarray(getattr(net, name))
        for name in ("t", "r", "v_mean", "w_mean", "s", "n_nonfinite")
    }
    arrays["network_status"] = status_codes(net.status)
    if np.ndim(net.spike_first) == 2:
        arrays["network_spike_times"], arrays["network_spike_ids"] = net.spike_raster()
    for model, mf in cmp.meanfield.items():
        arrays.update(_meanfield_arrays(mf, prefix=f"mf_{model}_"))
    meta = {
        "format": "jaxmf.comparison",
        "format_version": FORMAT_VERSION,
        "provenance": provenance(**provenance_extra),
        "params": params_to_dict(net.params),
        "n": net.network.n,
        "sizes": list(net.network.sizes),
        "dt": net.dt,
        "record_every": net.record_every,
        "dtype": str(np.asarray(net.state.s).dtype),
        "scheme": _describe(scheme),
        "sampler": _describe(sampler),
        "seed": seed,
        "models": {
            model: {
                "status": status_labels(np.max(status_codes(mf.status))),
                "message": mf.message,
                "n_steps": int(np.asarray(mf.n_steps)),
                "dtype": str(np.asarray(mf.r).dtype),
            }
            for model, mf in cmp.meanfield.items()
        },
        "metrics": dict(cmp.metrics),
        "network_summary": summarize(net, cmp.metrics.get("transient")),
    }
    return write_pair(path, arrays, meta)
