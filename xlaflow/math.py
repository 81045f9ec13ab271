"""xf.math: TF's tf.math namespace. The top-level TF names (xf.exp, xf.reduce_sum, ...)
under their tf.math spelling, plus the tf.math-only reductions and elementwise ops."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.numpy import (  # noqa: F401  (TF and jnp agree on these names)
    abs,
    add,
    ceil,
    cos,
    cosh,
    divide,
    equal,
    exp,
    expm1,
    floor,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    multiply,
    negative,
    not_equal,
    reciprocal,
    round,
    sign,
    sin,
    sinh,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
)

from xlaflow import _op_dispatch
from xlaflow.counting_ops import bincount  # noqa: F401
from xlaflow.math_extra import (  # noqa: F401
    atan2,
    confusion_matrix,
    count_nonzero,
    cumprod,
    cumsum,
    erf,
    floordiv,
    floormod,
    in_top_k,
    l2_normalize,
    lgamma,
    log_sigmoid,
    logical_xor,
    mod,
    reduce_euclidean_norm,
    squared_difference,
    top_k,
    truediv,
)
from xlaflow.nn_ops import sigmoid, softplus  # noqa: F401  (tf.math.sigmoid is tf.nn's)
from xlaflow.ops import (  # noqa: F401
    _axis,
    _tensor,
    argmax,
    argmin,
    reduce_all,
    reduce_any,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_sum,
)
from xlaflow.segment_ops import (  # noqa: F401
    segment_max,
    segment_mean,
    segment_min,
    segment_prod,
    segment_sum,
    unsorted_segment_max,
    unsorted_segment_mean,
    unsorted_segment_min,
    unsorted_segment_prod,
    unsorted_segment_sqrt_n,
    unsorted_segment_sum,
)

# TF's short names for jnp's inverse trigonometric and hyperbolic functions
acos, asin, atan = jnp.arccos, jnp.arcsin, jnp.arctan
acosh, asinh, atanh = jnp.arccosh, jnp.arcsinh, jnp.arctanh


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    """Population variance over `axis` (all axes when None), as TF (no Bessel correction)."""
    return jnp.var(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    """Population standard deviation over `axis` (all axes when None), as TF."""
    return jnp.std(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def reduce_logsumexp(input_tensor, axis=None, keepdims=False, name=None):
    """log(sum(exp(x))) over `axis`, computed stably."""
    return jax.scipy.special.logsumexp(_tensor(input_tensor), axis=_axis(axis),
                                       keepdims=keepdims)


def pow(x, y, name=None):  # TF's name
    return jnp.power(_tensor(x), _tensor(y))


def is_nan(x, name=None):
    return jnp.isnan(_tensor(x))


def is_inf(x, name=None):
    return jnp.isinf(_tensor(x))


def is_finite(x, name=None):
    return jnp.isfinite(_tensor(x))


def divide_no_nan(x, y, name=None):
    """x / y, and 0 where y is 0 (TF's safe division)."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    safe = jnp.where(y == 0, jnp.ones_like(y), y)
    return jnp.where(y == 0, jnp.zeros_like(x / safe), x / safe)


def rsqrt(x, name=None):
    """1 / sqrt(x)."""
    return jax.lax.rsqrt(jnp.asarray(x))


def add_n(inputs, name=None):
    """The elementwise sum of a list of tensors of one shape and dtype (TF's add_n); the
    usual way to total `model.losses`."""
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else None
    if not inputs:
        raise ValueError("add_n: inputs must be a non-empty list or tuple of tensors, "
                         f"received {inputs!r}")
    arrays = [jnp.asarray(x) for x in inputs]
    kinds = {(a.shape, a.dtype) for a in arrays}
    if len(kinds) > 1:
        raise ValueError("add_n: inputs must all have one shape and dtype, received "
                         f"{[(a.shape, str(a.dtype)) for a in arrays]}")
    total = arrays[0]
    for a in arrays[1:]:
        total = total + a
    return total

# Last, once every function exists: the public ones accept symbolic Keras tensors
_op_dispatch.expose(globals(), "math")
