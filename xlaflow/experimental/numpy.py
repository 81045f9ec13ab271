"""tf.experimental.numpy (`tnp`): NumPy's API on xlaflow tensors, which is jax.numpy.

xlaflow's tensors are JAX arrays, so `tnp.sum(x)` or `tnp.asarray(...)` is jax.numpy's own
function (traceable, differentiable, compiled by XLA) and `tnp.ndarray` is `jax.Array`.
One difference from TF: without JAX's 64-bit mode a Python float becomes float32, which is
TF's `prefer_float32=True` behaviour; TF's default (float64) needs
`jax.config.update("jax_enable_x64", True)`.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as _jnp

ndarray = jax.Array


def experimental_enable_numpy_behavior(prefer_float32=False, dtype_conversion_mode="legacy"):
    """TF turns on NumPy methods and promotion for tf.Tensor; JAX arrays always have them
    (`x.T`, `x.reshape`, `x.astype`, NumPy's type promotion), so this only checks that the
    options asked for are the behaviour JAX gives."""
    if dtype_conversion_mode != "legacy":
        raise NotImplementedError(
            "tnp.experimental_enable_numpy_behavior: dtype_conversion_mode="
            f"{dtype_conversion_mode!r} is not provided (only 'legacy'); JAX's own "
            "promotion rules are set with jax.numpy_dtype_promotion('standard'|'strict')")
    if not prefer_float32 and not jax.config.jax_enable_x64:
        # A port's first line: warn rather than fail, since everything else holds
        warnings.warn(
            "tnp.experimental_enable_numpy_behavior(prefer_float32=False): TF makes Python "
            "floats float64, JAX only in 64-bit mode, so they stay float32 here; call "
            "jax.config.update('jax_enable_x64', True) first for TF's float64, or pass "
            "prefer_float32=True to say float32 is meant", UserWarning, stacklevel=2)


def __getattr__(name):
    try:
        return getattr(_jnp, name)
    except AttributeError:
        raise AttributeError(f"module 'xlaflow.experimental.numpy' has no attribute {name!r} "
                             "(it is jax.numpy's API, and jax.numpy has none)") from None


def __dir__():
    return sorted(set(globals()) | {n for n in dir(_jnp) if not n.startswith("_")})
