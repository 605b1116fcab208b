"""The numerical core shared by `bifurcation` and `cycles`: one Newton loop, one regula falsi,
one way to address the continuation parameter.

- `newton(step, y0, tol=, max_iter=)`: y <- y + step(y) inside a compiled `lax.while_loop`. The
  caller's `step` holds the residual and the linear solve (a dense bordered solve for equilibria
  and codimension-two curves, the condensed collocation solve for cycles), so every corrector is
  this loop. `newton_root` wraps it in `lax.custom_root` so that refined points are
  differentiable in the parameters (implicit function theorem).
- `regula_falsi(evaluate, fa, fb, ...)`: the Illinois variant on a scalar interval, for zeros of
  test functions between two points of a branch (folds, Hopf, codimension-two points, folds and
  flips of cycles).
- `parameter_value` / `with_parameter` / `outside_domain`: a continuation parameter of `Params`
  (any address of `jaxmf.params`) or of a plain dict of scalars (cycles of user vector fields).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .params import ParameterError, Params, get_parameter, set_parameter, set_parameters

__all__ = [
    "newton",
    "newton_root",
    "regula_falsi",
    "parameter_value",
    "with_parameter",
    "with_parameters",
    "outside_domain",
]


def max_step(y, dy):
    return jnp.max(jnp.abs(dy))


def newton(step: Callable, y0: jax.Array, *, tol, max_iter, size: Callable = max_step):
    """Newton's iteration y <- y + step(y) (traceable: a `lax.while_loop`).

    step(y) -> dy is the signed correction (-J^-1 G(y) for the caller's residual G and solve).
    It stops when size(y, dy) (default max |dy|) is <= tol, is not finite, or after `max_iter`
    steps. Returns (y, iterations, size of the last step).
    """

    def cond(state):
        _, k, err = state
        return (k < max_iter) & (err > tol) & jnp.isfinite(err)

    def body(state):
        y, k, _ = state
        dy = step(y)
        return y + dy, k + 1, size(y, dy)

    start = (y0, jnp.zeros((), jnp.int32), jnp.asarray(jnp.finfo(y0.dtype).max, y0.dtype))
    return jax.lax.while_loop(cond, body, start)


def dense_step(fn: Callable) -> Callable:
    """The Newton correction -J^-1 fn(y) with the exact (jacfwd) Jacobian."""
    return lambda y: -jnp.linalg.solve(jax.jacfwd(fn)(y), fn(y))


def newton_root(fn: Callable, y0: jax.Array, *, tol: float = 1e-13, max_iter: int = 40):
    """Root of fn by dense Newton from y0, differentiable through `fn`'s closure by the implicit
    function theorem (`lax.custom_root`: one linear solve with the Jacobian at the root)."""
    solve = lambda g, y: newton(dense_step(g), y, tol=tol, max_iter=max_iter)[0]
    tangent_solve = lambda g, y: jnp.linalg.solve(jax.jacfwd(g)(y), y)
    return jax.lax.custom_root(fn, y0, solve, tangent_solve)


def regula_falsi(
    evaluate: Callable[[float], tuple[float, Any]],
    fa: float,
    fb: float,
    *,
    a: float = 0.0,
    b: float = 1.0,
    x_tol: float,
    max_iter: int = 60,
):
    """Zero of a function g on [a, b] with g(a) = fa and g(b) = fb of opposite signs (Illinois
    regula falsi: the retained end's value is halved when the same end is kept twice).

    evaluate(s) -> (g(s), payload); a payload of None or a non-finite g ends the search.
    Stops when g(s) = 0, when the bracket is shorter than `x_tol`, or after `max_iter` trials.
    Returns (payload, g) of the last trial that evaluated, or (None, nan) when none did.
    """
    best: tuple[Any, float] = (None, float("nan"))
    side = 0
    for _ in range(max_iter):
        s = (a * fb - b * fa) / (fb - fa)
        if not np.isfinite(s) or not a < s < b:
            s = 0.5 * (a + b)
        fs, payload = evaluate(s)
        if payload is None or not np.isfinite(fs):
            break
        best = (payload, fs)
        if fs == 0.0:
            break
        if np.sign(fs) == np.sign(fa):
            a, fa = s, fs
            if side == -1:
                fb *= 0.5
            side = -1
        else:
            b, fb = s, fs
            if side == 1:
                fa *= 0.5
            side = 1
        if b - a < x_tol:
            break
    return best


def parameter_value(params, name: str) -> jax.Array:
    """The value of continuation parameter `name`: any `jaxmf.params` address for `Params`, a key
    for a dict of scalars (the parameters of a user vector field)."""
    if isinstance(params, Params):
        return get_parameter(params, name)
    _check_key(params, name)
    return jnp.asarray(params[name])


def with_parameter(params, name: str, value):
    """`params` with `name` set to `value` (traceable); `Params` or a dict of scalars."""
    if isinstance(params, Params):
        return set_parameter(params, name, value)
    _check_key(params, name)
    return {**params, name: jnp.asarray(value, jnp.asarray(params[name]).dtype)}


def with_parameters(params, names, values):
    if isinstance(params, Params):
        return set_parameters(params, names, values)
    for name, value in zip(names, values):
        params = with_parameter(params, name, value)
    return params


def outside_domain(params, names, values) -> str:
    """Why `params` with `names` set to `values` violates the range rules of `Params` (e.g.
    w_jump >= 0, tau_s > 0), or '' when the values are valid (always for a dict of scalars)."""
    if not isinstance(params, Params):
        return ""
    try:
        set_parameters(params, names, [float(v) for v in values]).replace()
    except ParameterError as e:
        return str(e)
    return ""


def _check_key(params, name):
    if not isinstance(params, dict):
        raise ParameterError(
            "params", f"must be Params or a dict of scalars; got {type(params).__name__}"
        )
    if name not in params:
        raise ParameterError(str(name), f"not a key of params ({', '.join(map(str, params))})")
