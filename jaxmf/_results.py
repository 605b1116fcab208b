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
    """Outcome of a simulation, solve, root find, continuation, fit or sweep point.

    An `equinox.Enumeration`, as in diffrax and optimistix: a result's `status` is one of these
    items, batched like the result under `vmap`. ``RESULTS[item]`` is the item's message. Files and
    tables store an integer code (the member's position) and a short label ('ok', 'diverged',
    'max_steps', 'interrupted', 'not_converged', 'solver_failed', 'out_of_domain').

    Attributes
    ----------
    successful
        The computation finished as asked.
    diverged
        Non-finite values: a blow-up, or a loss or solve that failed.
    max_steps_reached
        The maximum number of steps was reached before the end.
    interrupted
        Ctrl-C; the part computed before it is kept.
    not_converged
        An iteration did not reach its tolerance.
    solver_failed
        The solver failed: step size underflow, a singular system or a breakdown.
    out_of_domain
        The computation left the valid parameter domain.

    Examples
    --------
    >>> import jaxmf
    >>> status = jaxmf.RESULTS.diverged
    >>> bool(status == jaxmf.RESULTS.successful)
    False
    >>> jaxmf.RESULTS[status]
    'non-finite values (blow-up, or a loss/solve that failed)'
    """

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
    """Integer codes of a (possibly batched) `RESULTS` item, for files.

    Parameters
    ----------
    status : RESULTS
        A status item, of any batch shape. Traceable.

    Returns
    -------
    jax.Array
        int8 codes of the status's batch shape: 0 for successful, the member's position otherwise,
        -1 for an unknown item.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf._results import RESULTS, status_codes, where
    >>> status_codes(where(jnp.array([True, False]), RESULTS.successful, RESULTS.diverged)).tolist()
    [0, 1]
    """
    return jnp.select(
        [status == item for item in _items()],
        [jnp.asarray(i, jnp.int8) for i in range(len(_MEMBERS))],
        jnp.asarray(-1, jnp.int8),
    )


def where(pred, a, b) -> Any:
    """Choose between two `RESULTS` items elementwise, for a predicate of any shape.

    equinox's ``RESULTS.where`` takes a scalar predicate; this one maps it over every axis.

    Parameters
    ----------
    pred : array_like of bool
        The predicate, of any shape.
    a : RESULTS
        The item where `pred` holds.
    b : RESULTS
        The item elsewhere.

    Returns
    -------
    RESULTS
        An item batched like `pred`.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf._results import RESULTS, status_names, where
    >>> status_names(where(jnp.array([True, False]), RESULTS.successful, RESULTS.diverged)).tolist()
    ['ok', 'diverged']
    """
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
    """The `RESULTS` items of integer codes: the inverse of `status_codes`.

    Parameters
    ----------
    codes : array_like of int
        Codes of any shape, as written by `status_codes`. Traceable.

    Returns
    -------
    RESULTS
        Items batched like `codes`.

    Examples
    --------
    >>> from jaxmf._results import from_codes, status_names
    >>> status_names(from_codes([0, 2])).tolist()
    ['ok', 'max_steps']
    """
    codes = jnp.asarray(codes)
    f = _from_code
    for _ in range(codes.ndim):
        f = jax.vmap(f)
    return f(codes)


def status_names(status) -> np.ndarray:
    """Short labels of a concrete `RESULTS` item: 'ok', 'diverged', 'max_steps', ...

    Parameters
    ----------
    status : RESULTS
        A concrete (not traced) status item of any batch shape.

    Returns
    -------
    numpy.ndarray
        Strings (dtype object) of the item's batch shape; 'unknown' for an unknown item.

    Examples
    --------
    >>> from jaxmf._results import RESULTS, status_names
    >>> str(status_names(RESULTS.not_converged))
    'not_converged'
    """
    codes = np.asarray(status_codes(status))
    labels = np.asarray(list(_NAMES.values()) + ["unknown"], dtype=object)
    return labels[codes]


def is_successful(status) -> jax.Array:
    """Where a status is `RESULTS.successful`.

    Parameters
    ----------
    status : RESULTS
        A status item of any batch shape. Traceable.

    Returns
    -------
    jax.Array
        Booleans of the status's batch shape.

    Examples
    --------
    >>> from jaxmf._results import RESULTS, is_successful
    >>> bool(is_successful(RESULTS.successful))
    True
    """
    return status == RESULTS.successful


def status_message(status) -> str:
    """The message of a concrete status; for a batch, the distinct messages of its failed elements.

    Parameters
    ----------
    status : RESULTS
        A concrete status item of any batch shape.

    Returns
    -------
    str
        The messages joined by '; ', or '' when every element succeeded.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from jaxmf._results import RESULTS, status_message, where
    >>> status_message(where(jnp.array([True, True]), RESULTS.successful, RESULTS.diverged))
    ''
    >>> status_message(RESULTS.max_steps_reached)
    'the maximum number of steps was reached before the end'
    """
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
    """diffrax's `RESULTS` item (a ``Solution.result``) in jaxmf's vocabulary.

    successful stays successful, max_steps_reached stays max_steps_reached, every other failure
    becomes solver_failed.

    Parameters
    ----------
    result : diffrax.RESULTS
        A diffrax status item (scalar). Traceable.

    Returns
    -------
    RESULTS
        The jaxmf item.

    Examples
    --------
    >>> import diffrax
    >>> from jaxmf._results import from_diffrax, status_names
    >>> str(status_names(from_diffrax(diffrax.RESULTS.max_steps_reached)))
    'max_steps'
    """
    ok = result == diffrax.RESULTS.successful
    steps = result == diffrax.RESULTS.max_steps_reached
    return RESULTS.where(
        ok,
        RESULTS.successful,
        RESULTS.where(steps, RESULTS.max_steps_reached, RESULTS.solver_failed),
    )


def from_optimistix(result) -> Any:
    """optimistix's `RESULTS` item in jaxmf's vocabulary.

    successful stays successful; nonlinear_max_steps_reached becomes not_converged,
    nonlinear_divergence becomes diverged, every other failure solver_failed.

    Parameters
    ----------
    result : optimistix.RESULTS
        An optimistix status item (scalar). Traceable.

    Returns
    -------
    RESULTS
        The jaxmf item.

    Examples
    --------
    >>> import optimistix as optx
    >>> from jaxmf._results import from_optimistix, status_names
    >>> str(status_names(from_optimistix(optx.RESULTS.nonlinear_max_steps_reached)))
    'not_converged'
    """
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
    """A computation failed numerically and `throw=True` asked for an exception.

    Catch it to look at what was computed: its `result` holds the flagged result object, whose
    `status` says why it failed.

    Parameters
    ----------
    message : str
        What failed, in the user's words.
    result : Any, optional
        The result object computed before the failure.

    Attributes
    ----------
    result : Any
        The flagged result (or None).

    Examples
    --------
    >>> import jaxmf
    >>> err = jaxmf.NumericalError("solve diverged", result=None)
    >>> isinstance(err, RuntimeError), str(err)
    (True, 'solve diverged')
    """

    def __init__(self, message: str, result: Any = None):
        super().__init__(message)
        self.result = result


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a long run, carrying the part that finished.

    A `KeyboardInterrupt`, so an uncaught one stops a script as Ctrl-C always does.

    Parameters
    ----------
    message : str
        What was interrupted and how far it got.
    result : Any, optional
        The finished part of the computation.
    resume : str, optional
        How to continue: the call to repeat, or the checkpoint / parts path it resumes from.

    Attributes
    ----------
    result : Any
        The finished part (or None).
    resume : str or None
        How to continue.

    Examples
    --------
    >>> import jaxmf
    >>> err = jaxmf.Interrupted("sweep stopped after 3 of 10 chunks", resume="run again")
    >>> isinstance(err, KeyboardInterrupt), err.resume
    (True, 'run again')
    """

    def __init__(self, message: str, result: Any = None, resume: str | None = None):
        super().__init__(message)
        self.result = result
        self.resume = resume

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "interrupted"


def raise_or_flag(result, field: str, what: str, advice: str, bad=None):
    """`result` if its status is successful; else raise `NumericalError` (concrete status) or,
    under tracing, make the array `result.<field>` fail at run time (`equinox.error_if`).

    Parameters
    ----------
    result : equinox.Module
        A result with a `status` (a `RESULTS` item) and an array field `field`.
    field : str
        The array that carries the run-time check under tracing.
    what : str
        The computation, for the message (e.g. 'solve_dde').
    advice : str
        What to try instead.
    bad : Array, optional
        The failure flags when already computed (status != successful).

    Returns
    -------
    The result (with the run-time check attached under tracing).

    Raises
    ------
    NumericalError
        On a concrete failed status; `.result` holds the flagged result.

    Examples
    --------
    >>> import equinox as eqx, jax.numpy as jnp
    >>> class Out(eqx.Module):
    ...     x: jax.Array
    ...     status: Any
    >>> out = Out(jnp.zeros(1), RESULTS.max_steps_reached)
    >>> try:
    ...     raise_or_flag(out, "x", "demo", "raise max_steps")
    ... except NumericalError as err:
    ...     print(err)  # doctest: +ELLIPSIS
    demo: the maximum number of steps was reached before the end; raise max_steps. Pass...
    """
    if bad is None:
        bad = result.status != RESULTS.successful
    if isinstance(bad, jax.core.Tracer):
        checked = eqx.error_if(getattr(result, field), bad, f"{what} failed; {advice}")
        return eqx.tree_at(lambda x: getattr(x, field), result, checked)
    if np.any(np.asarray(bad)):
        raise NumericalError(
            f"{what}: {status_message(result.status)}; {advice}. Pass throw=False "
            "to get the flagged result.",
            result,
        )
    return result
