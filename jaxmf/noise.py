"""Independent noise on every neuron's v: Cauchy (exact mean field) and Gaussian (approximate).

The network with noise (neuron i of population m; `Params.gamma` and `Params.sigma`, per
population, each optional):

    dv_i = (v_i (v_i - alpha) - w_i + eta_i + i_ext + (gs)(e_r - v_i)) dt
           + gamma_m dL_i(t) + sigma_m dW_i(t)

L_i are independent standard Cauchy processes (the alpha = 1 stable Levy process: the increment
over a time h is Cauchy with centre 0 and half-width h) and W_i independent Wiener processes. Over
a step dt the network adds, after the scheme's deterministic step, the kick
gamma dt xi_i + sigma sqrt(dt) zeta_i with xi_i standard Cauchy and zeta_i standard normal
(`add_noise`; first-order Lie splitting, the order of the spike schemes). The random numbers of
step k are drawn from ``fold_in(state.key, k)`` (`step_key`), so a run is reproducible from its
key, does not depend on how it is cut into chunks, and a resumed run continues the same stream. A
network split across devices (``simulate_network(..., devices=K)``) draws on each device its own
neurons' share of that same stream (`split_draws`), so it equals the one-device run bit for bit.

At the cut-off (`EulerReset`, v_peak = -v_reset standing for infinity) a kick may not carry v
further outside [v_reset, v_peak] than the deterministic step already did: a kick to or past
v_peak leaves the neuron at v_peak, so it spikes at the next step (counted, reset, w += w_jump);
in the v_peak = inf model it would reach +inf within about 1/v_peak time units anyway. A kick
below v_reset leaves the neuron at v_reset, where a neuron re-enters after a spike, without a
spike. Without the clamp one heavy-tailed kick to v = -10^4 makes the next Euler step jump to
v = +9 10^4, the skipped passage that `EulerReset.reset_dt` guards against. `ExactPassage` and
`MobiusPassage` integrate the v_peak = inf model, where an additive kick never crosses infinity
(every v is finite), so their kicks are added unclamped.

Mean field with Cauchy noise (exact for N -> inf under the closure w_i = <w> of the noiseless
model). For excitability eta the density of v obeys the fractional Fokker-Planck equation whose
noise term, in Fourier space, multiplies the characteristic function by exp(-gamma |k| dt) per
step; a Lorentzian of centre y and half-width x has characteristic function exp(i k y - x |k|),
so the noise keeps the Lorentzian and adds gamma to x' (= pi r') while y (= <v>, a principal
value: the kick's centre is 0) is unchanged. Averaging over the Lorentzian eta (Montbrio, Pazo &
Roxin 2015) gives, per population,

    r'   = (delta_eta + gamma)/pi + 2 r <v> - r (alpha + gs)
    <v>' = <v>^2 - alpha <v> - pi^2 r^2 + gs (e_r - <v>) - <w> + eta_bar + i_ext
    <w>' = a (b <v> - <w>) + w_jump r
    s'   = -s/tau_s + s_jump r

or z = <v> + i pi r: z' = z^2 - (alpha + gs) z + eta_bar + i (delta_eta + gamma) + gs e_r - <w>
+ i_ext. Noise of scale gamma acts on the mean field exactly as heterogeneity delta_eta + gamma
(Pyragas & Pyragas 2023, arXiv:2305.02193; Goldobin et al. 2023, arXiv:2308.08194, for the QIF
without adaptation; the adaptation closure is untouched since the noise acts on v only).

Gaussian noise does not keep the Lorentzian (its factor is exp(-sigma^2 k^2 dt / 2)); the mean
field offered is an approximation (Goldobin, di Volo & Torcini 2021 give a systematic one with
pseudo-cumulants): an effective half-width delta_eta + gamma + gamma_sigma, with gamma_sigma
chosen so that a lone noise-driven QIF at rheobase, v' = v^2 + sigma xi(t), fires at the rate of
the mean field's noise-only population at eta = 0. Its rate is r_1 (sigma^2/2)^(1/3) with
r_1 = 3 / (sqrt(pi) 12^(1/6) Gamma(1/6)) = 0.20096 (the inverse mean passage time from -inf to
+inf), and the Lorentzian population of half-width gamma at eta = 0 fires at sqrt(gamma/2)/pi,
so gamma_sigma = 2 pi^2 r_1^2 (sigma^2/2)^(2/3) = 0.7972 (sigma^2/2)^(2/3)
(`gaussian_equivalent_gamma`). Its error against the network is measured in
tests/test_noise.py and notebooks/10_noise_and_heterogeneity.ipynb.
"""

from __future__ import annotations

import math

import jax
import jax.extend.random as jax_random
import jax.numpy as jnp
import numpy as np

from .params import ParameterError, Params

__all__ = [
    "RHEOBASE_RATE",
    "add_noise",
    "effective_half_width",
    "gaussian_equivalent_gamma",
    "gaussian_rheobase_rate",
    "has_noise",
    "step_key",
    "split_draws",
    "check_split_noise",
]

RHEOBASE_RATE = 3.0 / (math.sqrt(math.pi) * 12.0 ** (1.0 / 6.0) * math.gamma(1.0 / 6.0))
"""Rate of v' = v^2 + sqrt(2) xi(t) (Gaussian white noise of intensity D = 1) at rheobase."""


def gaussian_rheobase_rate(sigma):
    """Firing rate of a lone QIF neuron v' = v^2 + sigma xi(t) at rheobase (eta = 0).

    With D = sigma^2 / 2 the mean passage time from -inf to +inf is
    T = sqrt(pi / D) int_0^inf z^(-1/2) exp(-z^3 / (12 D)) dz = sqrt(pi) 12^(1/6) Gamma(1/6) / 3
    D^(-1/3), so the rate is RHEOBASE_RATE * D^(1/3).

    Parameters
    ----------
    sigma : float or jax.Array
        Gaussian noise intensity (>= 0).

    Returns
    -------
    jax.Array
        The rate (spikes per time unit).

    Examples
    --------
    >>> from jaxmf.noise import gaussian_rheobase_rate
    >>> round(float(gaussian_rheobase_rate(2**0.5)), 5)  # D = 1
    0.20096
    """
    d = 0.5 * jnp.square(sigma)
    return RHEOBASE_RATE * jnp.cbrt(d)


def gaussian_equivalent_gamma(sigma):
    """The Cauchy noise scale that the approximate mean field uses for Gaussian noise sigma.

    gamma_sigma = 2 pi^2 r_0(sigma)^2 with r_0 = `gaussian_rheobase_rate`: a Lorentzian
    population of half-width gamma_sigma at eta = 0 fires at sqrt(gamma_sigma / 2) / pi = r_0,
    the rate of a lone neuron driven by the Gaussian noise at rheobase.

    Parameters
    ----------
    sigma : float or jax.Array
        Gaussian noise intensity (>= 0).

    Returns
    -------
    jax.Array
        0.7972 (sigma^2 / 2)^(2/3).

    Examples
    --------
    >>> from jaxmf.noise import gaussian_equivalent_gamma
    >>> round(float(gaussian_equivalent_gamma(0.1)), 5)
    0.02331
    """
    # |sigma|^(4/3) rather than (sigma^2)^(2/3): its derivative at sigma = 0 is 0, not NaN.
    return (2.0 * math.pi**2 * RHEOBASE_RATE**2 * 0.5 ** (2.0 / 3.0)) * jnp.abs(sigma) ** (
        4.0 / 3.0
    )


def has_noise(params: Params) -> bool:
    """Whether the parameters carry noise (`gamma` or `sigma` given, even as 0): static.

    Parameters
    ----------
    params : Params
        The model parameters.

    Returns
    -------
    bool
        True when the noise code path is compiled in.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.noise import has_noise
    >>> has_noise(presets.chen_campbell_2022()), has_noise(presets.chen_campbell_2022(gamma=0.0))
    (False, True)
    """
    return params.gamma is not None or params.sigma is not None


def effective_half_width(params: Params) -> jax.Array:
    """The Lorentzian half-width the mean field uses: delta_eta + gamma (+ gamma_sigma).

    Exact for Cauchy noise (see the module docstring); the Gaussian term
    `gaussian_equivalent_gamma` (sigma) is an approximation. Without noise it is
    ``params.delta_eta`` itself, so noiseless results are unchanged bit for bit.

    Parameters
    ----------
    params : Params
        The model parameters.

    Returns
    -------
    jax.Array
        Shape (P,) (with the parameters' batch axes).

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.noise import effective_half_width
    >>> round(float(effective_half_width(presets.chen_campbell_2022(gamma=0.01))[0]), 6)
    0.03
    """
    width = params.delta_eta
    if params.gamma is not None:
        width = width + params.gamma
    if params.sigma is not None:
        width = width + gaussian_equivalent_gamma(params.sigma)
    return width


def step_key(key: jax.Array, step) -> jax.Array:
    """The PRNG key of the noise of step `step` (counted from the run's start, resumes included).

    Parameters
    ----------
    key : jax.Array
        The run's key (`NetworkState.key`).
    step : int or jax.Array
        The step's index.

    Returns
    -------
    jax.Array
        ``jax.random.fold_in(key, step)``.

    Examples
    --------
    >>> import jax
    >>> from jaxmf.noise import step_key
    >>> k = jax.random.key(0)
    >>> bool((jax.random.key_data(step_key(k, 3)) == jax.random.key_data(step_key(k, 3))).all())
    True
    """
    return jax.random.fold_in(key, step)


def _draw(kind: str, key: jax.Array, v: jax.Array, axis_name) -> jax.Array:
    """Standard Cauchy or normal numbers, one per neuron of `v` (this device's share when the
    population is split along `axis_name`)."""
    if axis_name is None:
        return getattr(jax.random, kind)(key, v.shape, v.dtype)
    start = jax.lax.axis_index(axis_name) * v.shape[0]
    return split_draws(key, kind, start, v.shape[0], v.dtype)


def add_noise(params: Params, v: tuple, key: jax.Array, dt, bounds=None, axis_name=None) -> tuple:
    """Add one step's noise kicks gamma dt xi + sigma sqrt(dt) zeta to every neuron's v.

    Parameters
    ----------
    params : Params
        The model parameters (with `gamma` and/or `sigma`), in the state's dtype.
    v : tuple of jax.Array
        Per population, the membrane potentials after the deterministic step.
    key : jax.Array
        The step's key (`step_key`); population m draws from ``fold_in(key, m)``.
    dt : float or jax.Array
        The time step.
    bounds : tuple, optional
        ``(v_reset, v_peak)`` for a scheme with a cut-off: a kick may not carry v further
        outside [v_reset, v_peak] than it already is (see the module docstring). None: no
        clamp (the passage schemes).
    axis_name : str, optional
        Inside `jax.shard_map` with each population's neurons split evenly along this mesh
        axis: each device draws its own neurons' share of the one-device kicks (`split_draws`),
        so the split run equals the one-device run bit for bit.

    Returns
    -------
    tuple of jax.Array
        The kicked potentials.

    Examples
    --------
    >>> import jax
    >>> import jax.numpy as jnp
    >>> from jaxmf import presets
    >>> from jaxmf.noise import add_noise
    >>> p = presets.chen_campbell_2022(gamma=0.01)
    >>> (v,) = add_noise(p, (jnp.zeros(4),), jax.random.key(0), 1e-3, bounds=(-200.0, 200.0))
    >>> v.shape, bool(jnp.all(jnp.abs(v) <= 200.0))
    ((4,), True)
    """
    out = []
    for m, vm in enumerate(v):
        key_cauchy, key_normal = jax.random.split(jax.random.fold_in(key, m))
        kick = jnp.zeros_like(vm)
        if params.gamma is not None:
            scale = (params.gamma[m] * dt).astype(vm.dtype)
            kick = kick + scale * _draw("cauchy", key_cauchy, vm, axis_name)
        if params.sigma is not None:
            scale = (params.sigma[m] * jnp.sqrt(dt)).astype(vm.dtype)
            kick = kick + scale * _draw("normal", key_normal, vm, axis_name)
        kicked = vm + kick
        if bounds is not None:
            v_reset, v_peak = bounds
            kicked = jnp.clip(kicked, jnp.minimum(vm, v_reset), jnp.maximum(vm, v_peak))
        out.append(kicked)
    return tuple(out)


def check_split_noise(params: Params) -> None:
    """Refuse noise on a network split across devices where the split draws could not equal the
    one-device stream (`split_draws` needs the default threefry keys with
    ``jax_threefry_partitionable``, JAX's default since 0.5).

    Parameters
    ----------
    params : Params
        The run's parameters.

    Raises
    ------
    ParameterError
        Noise with another PRNG implementation or ``jax_threefry_partitionable=False``.

    Examples
    --------
    >>> from jaxmf import presets
    >>> from jaxmf.noise import check_split_noise
    >>> check_split_noise(presets.chen_campbell_2022(gamma=0.01)) is None
    True
    """
    if not has_noise(params):
        return
    impl = jax.config.jax_default_prng_impl  # type: ignore[attr-defined]
    partitionable = jax.config.jax_threefry_partitionable  # type: ignore[attr-defined]
    if impl != "threefry2x32" or not partitionable:
        raise ParameterError(
            "devices",
            "noise on a network split across devices needs the threefry2x32 PRNG with "
            f"jax_threefry_partitionable=True (here {impl}, partitionable={partitionable}); "
            "run it on one device",
        )


def _uniform_slice(key: jax.Array, start, n: int, dtype, minval, maxval) -> jax.Array:
    """``jax.random.uniform(key, (N,), dtype, minval, maxval)[start:start + n]`` for any N >
    start + n, drawing only those n values: with partitionable threefry, value i is the hash of
    the counter i (jax._src.random.threefry2x32 and core._uniform, public pieces only)."""
    finfo = jnp.finfo(dtype)
    nbits, nmant = finfo.bits, finfo.nmant
    lo = (jnp.asarray(start, jnp.uint32) + jnp.arange(n, dtype=jnp.uint32)).astype(jnp.uint32)
    hashed = jax_random.threefry_2x32(
        jax.random.key_data(key), jnp.concatenate([jnp.zeros_like(lo), lo])
    )
    b1, b2 = hashed[:n], hashed[n:]
    if nbits == 64:
        uint = jnp.uint64
        bits = jax.lax.shift_left(b1.astype(uint), jnp.asarray(32, uint)) | b2.astype(uint)
    else:
        uint = jnp.uint32
        bits = b1 ^ b2
    float_bits = jax.lax.shift_right_logical(bits, jnp.asarray(nbits - nmant, uint))
    float_bits = float_bits | jnp.asarray(np.array(1.0, dtype).view(np.dtype(uint)), uint)
    floats = jax.lax.bitcast_convert_type(float_bits, dtype) - jnp.asarray(1.0, dtype)
    minval, maxval = jnp.asarray(minval, dtype), jnp.asarray(maxval, dtype)
    return jax.lax.max(minval, floats * (maxval - minval) + minval)


def split_draws(key: jax.Array, kind: str, start, n: int, dtype) -> jax.Array:
    """Entries start..start + n of ``jax.random.<kind>(key, (N,), dtype)``, computing only those:
    a device holding neurons start..start + n - 1 of a population draws exactly their share of
    the one-device run's noise (needs `check_split_noise`'s conditions).

    Parameters
    ----------
    key : jax.Array
        A threefry PRNG key.
    kind : str
        'cauchy' or 'normal'.
    start : int or jax.Array
        The first index (traced is fine; start + n < 2^32).
    n : int
        How many values.
    dtype : dtype
        float32 or float64.

    Returns
    -------
    jax.Array
        Shape (n,).

    Examples
    --------
    >>> import jax
    >>> from jaxmf.noise import split_draws
    >>> key = jax.random.key(1)
    >>> whole = jax.random.cauchy(key, (10,), "float32")
    >>> bool((split_draws(key, "cauchy", 4, 3, "float32") == whole[4:7]).all())
    True
    """
    dtype = jnp.dtype(dtype)
    if kind == "cauchy":
        u = _uniform_slice(key, start, n, dtype, jnp.finfo(dtype).eps, 1.0)
        pi = jnp.asarray(np.pi, dtype)
        return jax.lax.tan(pi * (u - jnp.asarray(0.5, dtype)))
    if kind == "normal":
        lo = np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype), dtype=dtype)
        u = _uniform_slice(key, start, n, dtype, lo, 1.0)
        return jnp.asarray(np.sqrt(2), dtype) * jax.lax.erf_inv(u)
    raise ValueError(f"kind: 'cauchy' or 'normal'; got {kind!r}")
