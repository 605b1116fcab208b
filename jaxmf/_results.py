"""One vocabulary of outcomes for every computation in jaxmf.

Every result object carries a `status` that is an item of `RESULTS` (an `equinox.Enumeration`,
as in diffrax and optimistix), batched like the result under `vmap`. Compare it with
`res.status == jaxmf.RESULTS.successful`; `RESULTS[item]` is its message. Codes from diffrax and
optimistix are mapped through their public enumerations. `throw=True` (the default of every
entry point) raises on any status other than `successful`; `throw=False` returns the flagged
result instead. Ctrl-C during a long run raises an `Interrupted` carrying the part that finished.
"""

from __future__ import annotations

from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

__all__ = [
    "RESULTS",
    "Interrupted",
    "NumericalError",
    "status_names",
    "status_codes",
    "from_codes",
    "where",
    "from_diffrax",
    "from_optimistix",
    "is_successful",
    "status_message",
]


class RESULTS(eqx.Enumeration):
    """Outcome of a simulation, solve, root find, continuation, fit or sweep point."""

    successful = ""
    diverged = "non-finite values (blow-up, or a loss/solve that failed)"
    max_steps_reached = "the maximum number of steps was reached before the end"
    interrupted = "interrupted (Ctrl-C); the part computed before it is kept"
    not_converged = "the iteration did not converge to the requested tolerance"
    solver_failed = "the solver failed (step size underflow, singular system or breakdown)"
    out_of_domain = "the computation left the valid parameter domain"


# Short labels for files and tables (a sweep's `status` variable, CLI summaries). The order is the
# integer code written to files: append new members at the end, never reorder.
_NAMES = {
    "successful": "ok",
    "diverged": "diverged",
    "max_steps_reached": "max_steps",
    "interrupted": "interrupted",
    "not_converged": "not_converged",
    "solver_failed": "solver_failed",
    "out_of_domain": "out_of_domain",
}
_MEMBERS = tuple(_NAMES)


def _items():
    return tuple(getattr(RESULTS, m) for m in _MEMBERS)


def status_codes(status) -> jax.Array:
    """Integer codes (0 = successful) of a (possibly batched) `RESULTS` item, for files."""
    return jnp.select(
        [status == item for item in _items()],
        [jnp.asarray(i, jnp.int8) for i in range(len(_MEMBERS))],
        jnp.asarray(-1, jnp.int8),
    )


def where(pred, a, b) -> Any:
    """`RESULTS.where` for a predicate of any shape (equinox's takes a scalar): the item `a`
    where `pred` holds, else `b`, batched like `pred`."""
    pred = jnp.asarray(pred)
    f = lambda q: RESULTS.where(q, a, b)
    for _ in range(pred.ndim):
        f = jax.vmap(f)
    return f(pred)


def _from_code(code) -> Any:
    out = RESULTS.successful
    for i, item in enumerate(_items()[1:], start=1):
        out = RESULTS.where(code == i, item, out)
    return out


def from_codes(codes) -> Any:
    """Inverse of `status_codes` (traceable; any shape)."""
    codes = jnp.asarray(codes)
    f = _from_code
    for _ in range(codes.ndim):
        f = jax.vmap(f)
    return f(codes)


def status_names(status) -> np.ndarray:
    """Short labels ('ok', 'diverged', 'max_steps', ...) of a concrete `RESULTS` item, as strings
    of the item's batch shape."""
    codes = np.asarray(status_codes(status))
    labels = np.asarray(list(_NAMES.values()) + ["unknown"], dtype=object)
    return labels[codes]


def is_successful(status) -> jax.Array:
    return status == RESULTS.successful


def status_message(status) -> str:
    """Message of a concrete status; for a batch, the distinct messages of its failed elements."""
    names = np.atleast_1d(status_names(status))
    bad = [n for n in dict.fromkeys(names.tolist()) if n != "ok"]
    if not bad:
        return ""
    # RESULTS[item] is the item's message (equinox's metaclass); mypy misses it (equinox#1121).
    return "; ".join(
        RESULTS[getattr(RESULTS, _MEMBERS[list(_NAMES.values()).index(n)])]  # type: ignore[misc]
        for n in bad
    )


def from_diffrax(result) -> Any:
    """diffrax's `RESULTS` item (a `Solution.result`) in jaxmf's vocabulary."""
    ok = result == diffrax.RESULTS.successful
    steps = result == diffrax.RESULTS.max_steps_reached
    return RESULTS.where(
        ok,
        RESULTS.successful,
        RESULTS.where(steps, RESULTS.max_steps_reached, RESULTS.solver_failed),
    )


def from_optimistix(result) -> Any:
    """optimistix's `RESULTS` item in jaxmf's vocabulary."""
    ok = result == optx.RESULTS.successful
    steps = result == optx.RESULTS.nonlinear_max_steps_reached
    diverged = result == optx.RESULTS.nonlinear_divergence
    return RESULTS.where(
        ok,
        RESULTS.successful,
        RESULTS.where(
            steps,
            RESULTS.not_converged,
            RESULTS.where(diverged, RESULTS.diverged, RESULTS.solver_failed),
        ),
    )


class NumericalError(RuntimeError):
    """A computation failed numerically (`throw=True`); `.result` holds what was computed, with its
    `status` saying why."""

    def __init__(self, message: str, result: Any = None):
        super().__init__(message)
        self.result = result


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a long run. `.result` holds the finished part (or None), `.resume` says how
    to continue (the call to repeat, or the checkpoint/parts path it resumes from)."""

    def __init__(self, message: str, result: Any = None, resume: str | None = None):
        super().__init__(message)
        self.result = result
        self.resume = resume

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "interrupted"
