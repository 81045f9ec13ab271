"""jax.nn's custom_jvp activations (relu, relu6, gelu, softmax) run compiled when called
eagerly, and as they are when traced.

An eager call of a custom_jvp function goes through JAX's Python tracing machinery:
jax.nn.relu of a 32x128 array takes ~200 µs on the 2-core CPU, against ~8 µs for the same
function under jax.jit, so relu was most of an eager Dense layer's time (Keras models
called in notebooks, generation loops, eager training). Traced (xf.function, fit, a tape),
the functions are called directly, so programs keep the same equations.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

_array_types = (jax.Array, np.ndarray)


def compiled_when_eager(fn, *static_argnames):
    """`fn(x, ...)` as one jax.jit program when `x` is a concrete array; `fn` itself when
    `x` is traced or not an array (lists, RaggedTensors: `fn` decides)."""
    jitted = jax.jit(fn, static_argnames=static_argnames)

    @functools.wraps(fn)
    def call(x, *args, **kwargs):
        if isinstance(x, _array_types) and not isinstance(x, jax.core.Tracer):
            return jitted(x, *args, **kwargs)
        return fn(x, *args, **kwargs)

    return call


relu = compiled_when_eager(jax.nn.relu)
relu6 = compiled_when_eager(jax.nn.relu6)
_gelu = compiled_when_eager(jax.nn.gelu, "approximate")


def gelu(x, approximate=True):
    """jax.nn.gelu, compiled when eager; `approximate` may be a 0-d tensor (as in TF)."""
    return _gelu(x, approximate=bool(approximate))


def _softmax(x, axis=-1):
    return jax.nn.softmax(x, axis=axis)


_softmax_compiled = compiled_when_eager(_softmax, "axis")


def softmax(x, axis=-1):
    """jax.nn.softmax, compiled when eager. `axis` may be a list or a tensor (as in TF):
    it is a static argument, so it becomes an int or a tuple of ints."""
    if not isinstance(axis, int):
        axis = np.asarray(axis).tolist()
        axis = tuple(axis) if isinstance(axis, list) else axis
    return _softmax_compiled(x, axis=axis)
