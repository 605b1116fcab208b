"""The file layer every writer in jaxmf uses: atomic writes, strict JSON, provenance, fingerprints.

- `atomic_write(path, write)`: a temporary file in the same folder, flushed and fsync'ed, then
  `os.replace`d onto the final name (and the folder fsync'ed): a crash or Ctrl-C never leaves a
  half-written file under the final name.
- JSON: strict (no NaN literal). NaN is written as null, infinities as the strings "inf" /
  "-inf"; `from_json_number` reads either back.
- `fingerprint(obj)`: SHA-256 of the canonical JSON of `obj` (arrays by their bytes), used to
  decide whether a saved chunk, checkpoint or dataset belongs to the computation asking for it.
- `checksum(path)`: SHA-256 of a file's bytes, stored beside it to detect damage.
- `provenance()`: versions, platform, devices, time and command line.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import platform
import shlex
import sys
import uuid
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "json_safe",
    "dumps",
    "write_json",
    "read_json",
    "from_json_number",
    "fingerprint",
    "checksum",
    "provenance",
    "package_version",
]


def package_version() -> str:
    """jaxmf's version, from the installed package metadata (pyproject.toml is the one source)."""
    try:
        return metadata.version("jaxmf")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(target, write: Callable[[Any], Any]) -> Path:
    """Call `write(f)` on a binary file object and move the result onto `target` atomically."""
    target = Path(target)
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
    _fsync_dir(target.parent)
    return target


def atomic_write_text(target, text: str) -> Path:
    data = text.encode()
    return atomic_write(target, lambda f: f.write(data))


def json_safe(x: Any) -> Any:
    """`x` with numpy/jax scalars and arrays as lists, NaN as None and +-inf as "inf"/"-inf"."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if hasattr(x, "__array__") and not isinstance(x, (str, bytes)):
        arr = np.asarray(x)
        if arr.dtype.kind == "c":
            return json_safe(np.stack([arr.real, arr.imag], axis=-1).tolist())
        return json_safe(arr.tolist())
    if isinstance(x, np.generic):
        return json_safe(x.item())
    if isinstance(x, complex):
        return [json_safe(x.real), json_safe(x.imag)]
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"  # null would lose the sign
    return x


def from_json_number(x: Any) -> Any:
    """Inverse of `json_safe` for numbers and nested lists: None -> NaN, "inf" -> inf."""
    if isinstance(x, list):
        return [from_json_number(v) for v in x]
    if x is None:
        return math.nan
    if isinstance(x, str) and x in ("inf", "-inf", "Infinity", "-Infinity"):
        return math.inf if not x.startswith("-") else -math.inf
    return x


def dumps(obj: Any, *, indent: int | None = 1) -> str:
    return json.dumps(json_safe(obj), indent=indent, allow_nan=False)


def write_json(path, obj: Any) -> Path:
    """Write `obj` as strict JSON (NaN -> null, inf -> "inf"), atomically; returns the path."""
    return atomic_write_text(path, dumps(obj) + "\n")


def read_json(path, *, what: str = "file") -> Any:
    """Read a JSON file; a missing, empty or damaged file raises `ValueError` naming it."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a JSON {what} (binary content)") from None
    if not text.strip():
        raise ValueError(f"{path}: empty {what}")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{path}: damaged {what} ({str(e).splitlines()[0]})") from None


def _canonical(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if hasattr(obj, "__array__") and not isinstance(obj, (str, bytes)):
        arr = np.asarray(obj)
        if arr.dtype.kind in "biufc":
            data = np.ascontiguousarray(arr).tobytes()
            return {
                "dtype": str(arr.dtype),
                "shape": list(arr.shape),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        return json_safe(arr.tolist())
    return json_safe(obj)


def fingerprint(obj: Any) -> str:
    """SHA-256 of `obj`'s canonical JSON form (dict keys sorted, arrays hashed by bytes)."""
    return hashlib.sha256(json.dumps(_canonical(obj), allow_nan=False).encode()).hexdigest()


def checksum(path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(**extra) -> dict[str, Any]:
    """Where and with what a result was computed: package versions, Python, platform, JAX backend
    and devices, UTC time and command line. `extra` entries are added (and win on clashes)."""
    import jax
    import jaxlib

    info = {
        "jaxmf": package_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "backend": jax.default_backend(),
        "devices": [
            f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in jax.devices()
        ],
        "x64": bool(jax.config.read("jax_enable_x64")),
        "time_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(sys.argv),
    }
    info.update(extra)
    return info
