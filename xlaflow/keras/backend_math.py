"""Keras 2's backend math (`K.dot`, `K.sum`, `K.sqrt`, ...) that custom layers and cells
written against `keras.backend` call: jax.numpy with Keras' argument names and rules.

On symbolic Keras tensors each records an op layer (Keras 2's TFOpLambda), saved by its
public name "keras.backend.sum", as the xf.* ops do (_op_dispatch.expose, at the end)."""

import jax
import jax.numpy as jnp

from xlaflow import _eager_nn, _op_dispatch
from xlaflow.ops import reduce_mean
from xlaflow.tensors import as_dtype


def dot(x, y):
    """Keras' dot: for N-D tensors, a sum over x's last axis and y's second-to-last
    (NumPy's dot), e.g. (2, 3) . (4, 3, 5) -> (2, 4, 5)."""
    return jnp.dot(x, y)


def sum(x, axis=None, keepdims=False):  # Keras' name (shadows the builtin here)
    return jnp.sum(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """As Keras 2 (tf.reduce_mean): a bool tensor is averaged as floatx, an integer one
    keeps its dtype, the quotient truncated toward zero."""
    x = jnp.asarray(x)
    return reduce_mean(x.astype(jnp.float32) if x.dtype == jnp.bool_ else x, axis=axis,
                       keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # Keras' name (shadows the builtin here)
    return jnp.max(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # Keras' name (shadows the builtin here)
    return jnp.min(x, axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    """Keras' std: the population standard deviation (ddof 0); a bool tensor as floatx."""
    x = jnp.asarray(x)
    return jnp.std(x.astype(jnp.float32) if x.dtype == jnp.bool_ else x, axis=axis,
                   keepdims=keepdims)


def sqrt(x):
    """As Keras: negative values count as 0 (no NaN)."""
    return jnp.sqrt(jnp.maximum(x, 0))


def clip(x, min_value, max_value):
    """As Keras: a max_value below min_value is raised to it."""
    max_value = jnp.maximum(max_value, min_value) if max_value is not None else None
    return jnp.clip(x, min_value, max_value)


def l2_normalize(x, axis=None):
    return x / jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(x), axis=axis, keepdims=True), 1e-12))


def cast(x, dtype):
    return jnp.asarray(x).astype(as_dtype(dtype))


def concatenate(tensors, axis=-1):
    return jnp.concatenate(tensors, axis=axis)


def expand_dims(x, axis=-1):
    return jnp.expand_dims(x, axis)


def softmax(x, axis=-1):
    return _eager_nn.softmax(x, axis=axis)


def stack(x, axis=0):
    return jnp.stack(x, axis=axis)


def shape(x):
    """The shape as a tensor (NumPy when known, as xf.shape)."""
    from xlaflow.ops import shape as xf_shape
    return xf_shape(x)


square, exp, log, abs, sigmoid, tanh = (  # Keras' names
    jnp.square, jnp.exp, jnp.log, jnp.abs, jax.nn.sigmoid, jnp.tanh)
maximum, minimum, pow, transpose, reshape = (
    jnp.maximum, jnp.minimum, jnp.power, jnp.transpose, jnp.reshape)
zeros_like, ones_like = jnp.zeros_like, jnp.ones_like

_op_dispatch.expose(globals(), "keras.backend")
