"""Saving and loading results with provenance.

A network run is stored as two files with a common stem: `<stem>.npz` (every array: records,
spike raster, Lorentzian samples and the final state, so the run can be resumed) and `<stem>.json`
(what produced it: versions, device, command line, parameters, run settings and summary numbers).
Mean-field solutions (`save_meanfield_result`) and network-versus-mean-field comparisons
(`save_comparison`) are stored the same way. In the JSON, NaN is written as null and infinities
as the strings "inf" / "-inf" (strict JSON has no literal for either).
Files are written atomically (a temporary file in the same folder, then `os.replace`), so an
interrupted save never leaves a half-written file under the final name.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import shlex
import sys
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .network import Network, NetworkResult, NetworkState, stack_params
from .params import Params

__all__ = [
    "provenance", "params_to_dict", "params_from_dict", "summarize", "save_network_result",
    "load_network_result", "restore_network_result", "SavedRun", "summarize_meanfield",
    "equilibria_to_dicts", "save_meanfield_result", "save_comparison", "write_json",
]

FORMAT_VERSION = 1


def provenance(**extra) -> dict[str, Any]:
    """Where and with what a result was computed: package versions, Python, platform, JAX backend
    and devices, UTC time and command line. `extra` entries are added (and win on clashes)."""
    import jaxlib

    from . import __version__

    info = {
        "jaxmf": __version__,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "backend": jax.default_backend(),
        "devices": [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip()
                    for d in jax.devices()],
        "x64": bool(jax.config.jax_enable_x64),
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(sys.argv),
    }
    info.update(extra)
    return info


def params_to_dict(params: Params) -> dict[str, Any]:
    """JSON-safe form of `Params`: each field as a (nested) list of floats, plus their dtype.
    Floats print with enough digits to read back bit for bit (`params_from_dict`)."""
    fields = {f.name: np.asarray(getattr(params, f.name)) for f in dataclasses.fields(params)}
    dtypes = {str(x.dtype) for x in fields.values()}
    out: dict[str, Any] = {name: x.tolist() for name, x in fields.items()}
    out["dtype"] = dtypes.pop() if len(dtypes) == 1 else "float64"
    return out


def params_from_dict(d: dict[str, Any]) -> Params:
    """Inverse of `params_to_dict` (also takes batched parameter sets, restacked).

    float64 values need `jax_enable_x64`; without it they are rounded to float32."""
    d = dict(d)
    dtype = d.pop("dtype", None)
    if dtype == "float64" and not jax.config.jax_enable_x64:
        dtype = "float32"
    values = {name: np.asarray(x, dtype=dtype or float) for name, x in d.items()}
    if values["eta_bar"].ndim == 2:
        return stack_params([Params(**{k: v[i] for k, v in values.items()})
                             for i in range(values["eta_bar"].shape[0])])
    return Params(**{k: jnp.asarray(v) for k, v in values.items()})


def _first(params: Params) -> Params:
    return jax.tree.map(lambda x: x[0], params) if jnp.ndim(params.eta_bar) == 2 else params


def summarize(res: NetworkResult, transient: float = 0.2) -> dict[str, Any]:
    """Summary numbers of a run: time-averaged rates (per population and over the network,
    dimensionless and in Hz at the paper's scales) over t > transient * t_end, status, counts.
    Batched results give one value per batch element."""
    t = np.asarray(res.t)
    r = np.asarray(res.r, dtype=float)
    sizes = np.asarray(res.network.sizes, dtype=float)
    t_end = float(t[-1]) if t.size else 0.0
    keep = t > transient * t_end
    out: dict[str, Any] = {
        "status": np.asarray(res.status).tolist(), "message": res.message,
        "t_end": t_end, "n_records": int(t.size), "rate_from_t": transient * t_end,
        "max_nonfinite": int(np.max(res.n_nonfinite, initial=0)),
        "raster_spikes": int(np.sum(res.spike_count)),
    }
    if keep.any():
        rate = r[..., keep, :].mean(axis=-2)
        network_rate = rate @ sizes / sizes.sum()
        hz = float(_first(res.params).to_dimensional().rate_to_hz(1.0))
        out.update(rate=rate.tolist(), rate_hz=(hz * rate).tolist(),
                   network_rate=network_rate.tolist(), network_rate_hz=(hz * network_rate).tolist())
    return out


def _stem(path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".npz", ".json") else path


def _atomic_write(target: Path, write) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # A unique name in the same folder (os.replace must not cross file systems); opened with
    # open() rather than mkstemp so the file gets the usual umask permissions, not 0600.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _json_safe(x):
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.generic, np.ndarray)):
        return _json_safe(x.tolist())
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, float) and math.isinf(x):
        return str(x)  # "inf", "-inf": null would lose the sign
    return x


def write_json(path, meta: dict) -> Path:
    """Write `meta` as strict JSON (NaN -> null, inf -> "inf"), atomically; returns the path."""
    path = Path(path)
    text = json.dumps(_json_safe(meta), indent=1, allow_nan=False) + "\n"
    _atomic_write(path, lambda f: f.write(text.encode()))
    return path


def _describe(obj) -> dict[str, Any] | None:
    if obj is None:
        return None
    fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)} \
        if dataclasses.is_dataclass(obj) else {}
    return {"name": type(obj).__name__, **fields}


def save_network_result(path, res: NetworkResult, *, scheme=None, sampler=None, seed=None,
                        **provenance_extra) -> tuple[Path, Path]:
    """Write `<path>.npz` and `<path>.json` (a `.npz`/`.json` suffix on `path` is dropped).

    scheme, sampler, seed: what the run used (not stored in `res`), recorded in the sidecar.
    provenance_extra: added to the sidecar's provenance (e.g. `command=...`).
    Returns the two paths.
    """
    stem = _stem(path)
    state = res.state
    arrays = {name: np.asarray(getattr(res, name)) for name in
              ("t", "r", "v_mean", "w_mean", "s", "n_nonfinite", "spike_first", "spike_count",
               "status")}
    if arrays["spike_first"].ndim == 2:
        arrays["spike_times"], arrays["spike_ids"] = res.spike_raster()
    for m in range(len(res.network.sizes)):
        arrays[f"raster_index_{m}"] = np.asarray(res.raster_index[m])
        arrays[f"z_{m}"] = np.asarray(res.network.z[m])
        arrays[f"state_v_{m}"] = np.asarray(state.v[m])
        arrays[f"state_w_{m}"] = np.asarray(state.w[m])
    arrays["state_s"] = np.asarray(state.s)
    arrays["state_step"] = np.asarray(state.step)
    arrays["state_key"] = np.asarray(jax.random.key_data(state.key))

    meta = {
        "format": "jaxmf.network_result", "format_version": FORMAT_VERSION,
        "provenance": provenance(**provenance_extra),
        "params": params_to_dict(res.params),
        "n": res.network.n, "sizes": list(res.network.sizes),
        "dt": res.dt, "record_every": res.record_every,
        "dtype": str(np.asarray(state.s).dtype),
        "scheme": _describe(scheme), "sampler": _describe(sampler), "seed": seed,
        "key_impl": str(jax.random.key_impl(state.key)),
        "n_raster": int(sum(np.size(ix) for ix in res.raster_index)),
        "summary": summarize(res),
    }
    return _write_pair(stem, arrays, meta)


def _write_pair(stem: Path, arrays: dict, meta: dict) -> tuple[Path, Path]:
    npz, sidecar = stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")
    text = json.dumps(_json_safe(meta), indent=1, allow_nan=False) + "\n"  # fails before writing
    _atomic_write(npz, lambda f: np.savez(f, **arrays))
    _atomic_write(sidecar, lambda f: f.write(text.encode()))
    return npz, sidecar


class SavedRun(NamedTuple):
    """A saved network run as plain arrays (see `NetworkResult` for their meaning), its parameters
    and the sidecar's metadata. `state` holds the final state arrays: v, w (per-population
    tuples), s, step, key (raw key data); `z` the standard Lorentzian samples per population."""

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
    status: np.ndarray
    params: Params
    meta: dict[str, Any]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(self.meta["sizes"])

    def spike_raster(self) -> tuple[np.ndarray, np.ndarray]:
        if self.spike_times is None:
            raise ValueError("spike_raster: not stored for batched results")
        return self.spike_times, self.spike_ids


def load_network_result(path) -> SavedRun:
    """Read a run written by `save_network_result` (`path` with or without suffix)."""
    stem = _stem(path)
    with np.load(stem.with_name(stem.name + ".npz")) as f:
        a = {k: f[k] for k in f.files}
    meta = json.loads(stem.with_name(stem.name + ".json").read_text())
    n_pop = len(meta["sizes"])
    per_pop = lambda name: tuple(a[f"{name}_{m}"] for m in range(n_pop))
    state = {"v": per_pop("state_v"), "w": per_pop("state_w"), "s": a["state_s"],
             "step": a["state_step"], "key": a["state_key"]}
    return SavedRun(
        t=a["t"], r=a["r"], v_mean=a["v_mean"], w_mean=a["w_mean"], s=a["s"],
        n_nonfinite=a["n_nonfinite"], spike_first=a["spike_first"], spike_count=a["spike_count"],
        spike_times=a.get("spike_times"), spike_ids=a.get("spike_ids"),
        raster_index=per_pop("raster_index"), z=per_pop("z"), state=state, status=a["status"],
        params=params_from_dict(meta["params"]), meta=meta)


def restore_network_result(saved: SavedRun | str | os.PathLike) -> NetworkResult:
    """A `NetworkResult` to continue from (`simulate_network(..., resume=...)`), rebuilt from a
    saved run; the run continues exactly as if it had not stopped. A float64 run needs
    `jax_enable_x64` switched on first."""
    if not isinstance(saved, SavedRun):
        saved = load_network_result(saved)
    if saved.meta["dtype"] == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("dtype: this run was computed in float64; call "
                         "jax.config.update('jax_enable_x64', True) before restoring it")
    st = saved.state
    state = NetworkState(
        v=tuple(jnp.asarray(x) for x in st["v"]), w=tuple(jnp.asarray(x) for x in st["w"]),
        s=jnp.asarray(st["s"]), step=jnp.asarray(st["step"]),
        key=jax.random.wrap_key_data(st["key"], impl=saved.meta.get("key_impl", "threefry2x32")))
    network = Network(sizes=saved.sizes, z=tuple(jnp.asarray(z) for z in saved.z))
    return NetworkResult(
        t=saved.t, r=saved.r, v_mean=saved.v_mean, w_mean=saved.w_mean, s=saved.s,
        n_nonfinite=saved.n_nonfinite, spike_first=saved.spike_first,
        spike_count=saved.spike_count, raster_index=saved.raster_index, state=state,
        network=network, params=saved.params, status=saved.status, dt=saved.meta["dt"],
        record_every=saved.meta["record_every"])


def _trace_stats(t: np.ndarray, x: np.ndarray) -> dict[str, Any]:
    from .analysis import classify_regime, detect_bursts, regime_name

    b = detect_bursts(jnp.asarray(t), jnp.asarray(x))
    return {"mean": float(np.mean(x)), "period": float(b.period), "peak": float(b.peak),
            "low": float(b.low), "regime": regime_name(classify_regime(jnp.asarray(t),
                                                                       jnp.asarray(x)))}


def summarize_meanfield(res, params: Params | None = None, windows=None) -> dict[str, Any]:
    """Summary numbers of a mean-field solution: status, steps and, for each time window
    (t_from, t_to) (default the last three quarters of the run), per population the mean of
    r, <v>, <w>, s, the burst period, peak and lowest rate and the regime. With `params`, mean
    rates are also given in Hz at the paper's scales."""
    t = np.asarray(res.t, float)
    t_end = float(t[-1]) if t.size else 0.0
    t_start = float(t[0]) if t.size else 0.0
    if windows is None:
        windows = [(t_start + 0.25 * (t_end - t_start), t_end)]
    hz = None if params is None else float(_first(params).to_dimensional().rate_to_hz(1.0))
    out: dict[str, Any] = {"model": res.model, "status": int(np.max(np.asarray(res.status))),
                           "message": res.message, "n_steps": int(np.asarray(res.n_steps)),
                           "t_end": t_end, "windows": []}
    traces = {k: np.asarray(getattr(res, k), float) for k in ("r", "v", "w", "s")}
    for t_from, t_to in windows:
        keep = (t > t_from) & (t <= t_to) & np.all(np.isfinite(traces["r"]), axis=-1)
        row: dict[str, Any] = {"t_from": float(t_from), "t_to": float(t_to)}
        if keep.sum() >= 3:
            stats = [_trace_stats(t[keep], traces["r"][keep, m])
                     for m in range(traces["r"].shape[-1])]
            row.update(r_mean=[st["mean"] for st in stats],
                       v_mean=traces["v"][keep].mean(0).tolist(),
                       w_mean=traces["w"][keep].mean(0).tolist(),
                       s_mean=traces["s"][keep].mean(0).tolist(),
                       period=[st["period"] for st in stats], peak=[st["peak"] for st in stats],
                       low=[st["low"] for st in stats], regime=[st["regime"] for st in stats])
            if hz is not None:
                row["r_mean_hz"] = [hz * st["mean"] for st in stats]
        out["windows"].append(row)
    return out


def equilibria_to_dicts(eq, **fields) -> list[dict[str, Any]]:
    """The valid rows of an `Equilibria` (from `meanfield_equilibria`) as JSON-ready dicts: r, v,
    w, s (per population), stable, max_real_eigenvalue, eigenvalues as [re, im] pairs,
    residual. `fields` are added to each (e.g. the input current they belong to)."""
    out = []
    valid = np.asarray(eq.valid)
    for k in np.nonzero(valid)[0]:
        eig = np.asarray(eq.eigenvalues)[k]
        out.append({**fields,
                    **{name: np.asarray(getattr(eq, name))[k].tolist() for name in "rvws"},
                    "stable": bool(np.asarray(eq.stable)[k]),
                    "max_real_eigenvalue": float(np.max(eig.real)),
                    "eigenvalues": np.stack([eig.real, eig.imag], -1).tolist(),
                    "residual": float(np.asarray(eq.residual)[k])})
    return out


def _meanfield_arrays(res, prefix: str = "") -> dict[str, np.ndarray]:
    return {prefix + name: np.asarray(getattr(res, name))
            for name in ("t", "r", "v", "w", "s", "status", "n_steps")}


def save_meanfield_result(path, res, *, params: Params | None = None, i_ext=None, windows=None,
                          equilibria: list[dict] | None = None,
                          **provenance_extra) -> tuple[Path, Path]:
    """Write a `MeanFieldResult` to `<path>.npz` (t, r, v, w, s, status, n_steps and, with i_ext,
    its switch times and values) and `<path>.json` (provenance, model, parameters, input,
    `summarize_meanfield` numbers over `windows`, equilibria).

    params: the `Params` solved (not stored in `res`). i_ext: the `StepInput` used, if any.
    equilibria: JSON-ready dicts (`equilibria_to_dicts`). provenance_extra: added to the
    sidecar's provenance (e.g. `command=...`). Returns the two paths.
    """
    stem = _stem(path)
    arrays = _meanfield_arrays(res)
    step = None
    if i_ext is not None:
        step = {"times": np.asarray(i_ext.times).tolist(),
                "values": np.asarray(i_ext.values).tolist()}
        arrays.update(i_ext_times=np.asarray(i_ext.times), i_ext_values=np.asarray(i_ext.values))
    meta = {
        "format": "jaxmf.meanfield_result", "format_version": FORMAT_VERSION,
        "provenance": provenance(**provenance_extra),
        "model": res.model,
        "params": None if params is None else params_to_dict(params),
        "dtype": str(np.asarray(res.r).dtype),
        "i_ext_step": step,
        "summary": summarize_meanfield(res, params, windows),
        "equilibria": equilibria,
    }
    return _write_pair(stem, arrays, meta)


def save_comparison(path, cmp, *, scheme=None, sampler=None, seed=None,
                    **provenance_extra) -> tuple[Path, Path]:
    """Write a `Comparison` to `<path>.npz` (the network's records and spike raster as
    `network_*`, each mean-field model's traces as `mf_<model>_*`) and `<path>.json` (provenance,
    parameters, network settings, per-model solver status, the metrics and the network summary).

    scheme, sampler, seed: what the network run used (not stored in the result).
    provenance_extra: added to the sidecar's provenance. Returns the two paths.
    """
    stem = _stem(path)
    net = cmp.network
    arrays = {f"network_{name}": np.asarray(getattr(net, name))
              for name in ("t", "r", "v_mean", "w_mean", "s", "n_nonfinite", "status")}
    if np.ndim(net.spike_first) == 2:
        arrays["network_spike_times"], arrays["network_spike_ids"] = net.spike_raster()
    for model, mf in cmp.meanfield.items():
        arrays.update(_meanfield_arrays(mf, prefix=f"mf_{model}_"))
    meta = {
        "format": "jaxmf.comparison", "format_version": FORMAT_VERSION,
        "provenance": provenance(**provenance_extra),
        "params": params_to_dict(net.params),
        "n": net.network.n, "sizes": list(net.network.sizes),
        "dt": net.dt, "record_every": net.record_every,
        "dtype": str(np.asarray(net.state.s).dtype),
        "scheme": _describe(scheme), "sampler": _describe(sampler), "seed": seed,
        "models": {model: {"status": int(np.max(np.asarray(mf.status))), "message": mf.message,
                           "n_steps": int(np.asarray(mf.n_steps)),
                           "dtype": str(np.asarray(mf.r).dtype)}
                   for model, mf in cmp.meanfield.items()},
        "metrics": dict(cmp.metrics),
        "network_summary": summarize(net),
    }
    return _write_pair(stem, arrays, meta)
