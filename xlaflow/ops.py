"""TF-named operations where jax.numpy's name or signature differs (run-time `print` is in
print_ops.py, re-exported here).

These are thin aliases so ported TF code keeps its spelling. Where TF and jnp agree on the
name (exp, sqrt, maximum, ...) `xlaflow` re-exports the jnp function itself.
"""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _host_text
from xlaflow.print_ops import _one_device, print, print_to  # noqa: F401  (xf.print)
from xlaflow.tensors import as_dtype, int32


def _axis(axis):
    # TF accepts lists for axes; jnp wants an int or a tuple.
    return tuple(axis) if isinstance(axis, list) else axis


def _tensor(x):
    """A Python list or tuple as an array, anything else as it is: TF converts lists where a
    tensor is expected and jnp refuses them, while scalars stay Python numbers so that they
    keep JAX's weak typing (`pow(x16, 2.0)` stays float16). Text is a TypeError, which
    leads the op to its text form (jnp would first read 'a' as a dtype name)."""
    if isinstance(x, (list, tuple, str, bytes)):
        if _host_text.is_text(x):  # (~0.3 us on lists of numbers, 1% of their path)
            raise TypeError(f"received text {x!r:.60}; XLA holds no strings")
        return jnp.asarray(x)
    return x


def reduce_sum(input_tensor, axis=None, keepdims=False, name=None):
    """Sum over `axis` (all axes when None)."""
    return jnp.sum(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def reduce_mean(input_tensor, axis=None, keepdims=False, name=None):
    """Mean over `axis` (all axes when None). An integer tensor's mean keeps its dtype, the
    quotient truncated toward zero, as TF's Mean kernel (tf.reduce_mean([1, 2]) is 1)."""
    x = _tensor(input_tensor)
    if jnp.issubdtype(jnp.result_type(x), jnp.integer):
        return _integer_mean(jnp.asarray(x), _axis(axis), keepdims)
    return jnp.mean(x, axis=_axis(axis), keepdims=keepdims)


def _integer_mean(x, axis, keepdims):
    # TF sums int8/16/32 in int64 (uint* in uint64) and divides in C++, which truncates
    # toward zero; lax.div truncates the same way. Without jax_enable_x64 the widest integer
    # is 32 bits, so the sum wraps past 2**31 there, as xf.reduce_sum's does.
    wide = jax.config.jax_enable_x64
    signed = jnp.issubdtype(x.dtype, jnp.signedinteger)
    acc = (jnp.int64 if wide else jnp.int32) if signed else (jnp.uint64 if wide else jnp.uint32)
    total = jnp.sum(x, axis=axis, dtype=acc, keepdims=keepdims)  # checks `axis` first
    if axis is None:  # (this module's `range` is TF's, a tensor)
        sizes = x.shape
    else:
        axes = axis if isinstance(axis, tuple) else (axis,)
        sizes = [x.shape[operator.index(a) % x.ndim] for a in axes]
    count = 1
    for size in sizes:
        count = count * size  # a symbolic size stays symbolic
    # An empty reduction is 0, as TF fills integer means with the sum's identity (XLA's
    # integer x / 0 would be -1).
    count = jnp.maximum(jnp.asarray(count, acc), jnp.asarray(1, acc))
    return jax.lax.div(total, count).astype(x.dtype)


def reduce_max(input_tensor, axis=None, keepdims=False, name=None):
    """Maximum over `axis` (all axes when None)."""
    return jnp.max(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def reduce_min(input_tensor, axis=None, keepdims=False, name=None):
    """Minimum over `axis` (all axes when None)."""
    return jnp.min(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def reduce_prod(input_tensor, axis=None, keepdims=False, name=None):
    """Product over `axis` (all axes when None)."""
    return jnp.prod(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def reduce_any(input_tensor, axis=None, keepdims=False, name=None):
    """Logical or over `axis` (all axes when None)."""
    return jnp.any(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def reduce_all(input_tensor, axis=None, keepdims=False, name=None):
    """Logical and over `axis` (all axes when None)."""
    return jnp.all(_tensor(input_tensor), axis=_axis(axis), keepdims=keepdims)


def matmul(a, b, transpose_a=False, transpose_b=False, adjoint_a=False, adjoint_b=False,
           name=None):
    """Matrix product of the last two axes, optionally transposing/adjointing either side."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    if transpose_a or adjoint_a:
        a = jnp.swapaxes(a, -1, -2)
        a = jnp.conj(a) if adjoint_a else a
    if transpose_b or adjoint_b:
        b = jnp.swapaxes(b, -1, -2)
        b = jnp.conj(b) if adjoint_b else b
    return jnp.matmul(a, b)


def cast(x, dtype, name=None):
    """Convert to `dtype` (float to int truncates toward zero, as in TF)."""
    return jnp.asarray(x).astype(as_dtype(dtype))


def range(start, limit=None, delta=1, dtype=None, name=None):
    """`range(limit)` or `range(start, limit, delta)` as a 1-D tensor (TF's tf.range)."""
    if limit is None:
        start, limit = 0, start
    return jnp.arange(start, limit, delta, dtype=None if dtype is None else as_dtype(dtype))


def shape(input, out_type=int32, name=None):
    """The shape as an integer tensor (TF's tf.shape). Sizes known when tracing give a NumPy
    array, so `xf.zeros(xf.shape(x))` or `xf.shape(x)[0]` in a shape work inside
    xf.function, where a traced one could not; sizes an `input_signature` leaves None are
    traced symbolically and known when the program runs."""
    dims = jnp.shape(input)
    if all(isinstance(d, int) for d in dims):
        return np.asarray(dims, dtype=as_dtype(out_type))
    return jnp.asarray(dims, dtype=as_dtype(out_type))


def rank(input, name=None):
    """Number of dimensions as an int32 scalar: a NumPy one, as ranks are always known when
    tracing (so it can size things inside xf.function, as xf.shape's sizes can)."""
    return np.asarray(jnp.ndim(input), dtype=int32)


def size(input, out_type=int32, name=None):
    """Number of elements as an integer scalar; a NumPy one when every size is known when
    tracing (as xf.shape), so `TensorArray(size=xf.size(x))` works inside xf.function."""
    from xlaflow.ragged_tensor import RaggedTensor
    if isinstance(input, RaggedTensor):  # jnp.size only warns on it (JAX 0.10)
        from xlaflow.ragged_shape import size as ragged_size
        return ragged_size(input, out_type)
    n = jnp.size(input)
    if isinstance(n, int):
        return np.asarray(n, dtype=as_dtype(out_type))
    return jnp.asarray(n, dtype=as_dtype(out_type))


def reshape(tensor, shape, name=None):
    """Reshape; one dimension may be -1. `shape` must be static (a list, tuple or array). A
    shape that cannot hold the tensor is TF's InvalidArgumentError, with TF's message."""
    tensor = _tensor(tensor)
    dims = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    _check_reshape(jnp.shape(tensor), dims)
    return jnp.reshape(tensor, dims)


def _check_reshape(have, dims):
    if not all(isinstance(d, int) for d in have):
        return  # symbolic sizes (an export's): checked when they are known
    from xlaflow.errors import InvalidArgumentError

    size = int(np.prod(have, dtype=np.int64))
    unknown = [i for i, d in enumerate(dims) if d == -1]
    known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
    if len(unknown) > 1:
        raise InvalidArgumentError(None, None, f"Only one input size may be -1, not both "
                                               f"{unknown[0]} and {unknown[1]}")
    if any(d < -1 for d in dims):
        raise InvalidArgumentError(None, None, f"Size {dims.index(min(dims))} must be "
                                               f"non-negative, not {min(dims)}")
    if unknown and known == 0:
        raise InvalidArgumentError(None, None, "Reshape cannot infer the missing input size "
                                               "for an empty tensor unless all specified "
                                               "input sizes are non-zero")
    if unknown and size % known:
        raise InvalidArgumentError(None, None, f"Input to reshape is a tensor with {size} "
                                               f"values, but the requested shape requires a "
                                               f"multiple of {known}")
    if not unknown and known != size:
        raise InvalidArgumentError(None, None, f"Input to reshape is a tensor with {size} "
                                               f"values, but the requested shape has {known}")


def concat(values, axis, name=None):
    """Concatenate a list of tensors along `axis`."""
    return jnp.concatenate([_tensor(v) for v in values], axis=axis)


def stack(values, axis=0, name=None):
    """Stack a list of same-shaped tensors along a new `axis`."""
    return jnp.stack([_tensor(v) for v in values], axis=axis)


def squeeze(input, axis=None, name=None):
    """Remove size-1 dimensions (only those in `axis` when given)."""
    return jnp.squeeze(_tensor(input), axis=_axis(axis))


def expand_dims(input, axis, name=None):
    """Insert a size-1 dimension at `axis`."""
    return jnp.expand_dims(_tensor(input), axis)


def transpose(a, perm=None, conjugate=False, name=None):
    """Permute dimensions (reverse them when `perm` is None)."""
    out = jnp.transpose(_tensor(a), perm)
    return jnp.conj(out) if conjugate else out


def zeros(shape, dtype="float32", name=None):
    """A tensor of zeros; TF's default dtype is float32."""
    return jnp.zeros(shape, as_dtype(dtype))


def ones(shape, dtype="float32", name=None):
    """A tensor of ones; TF's default dtype is float32."""
    return jnp.ones(shape, as_dtype(dtype))


def fill(dims, value, name=None):
    """A tensor of shape `dims` filled with `value`."""
    return jnp.full(tuple(dims), value)


def identity(input, name=None):
    """Returns its input as a tensor."""
    return jnp.asarray(input)


def argmax(input, axis=None, output_type=int32, name=None):
    """Index of the maximum along `axis` (default 0, as in TF).

    TF's default output type is int64; without `jax_enable_x64` JAX has no int64, so the
    default here is int32.
    """
    return jnp.argmax(_tensor(input), axis=0 if axis is None else axis).astype(as_dtype(output_type))


def argmin(input, axis=None, output_type=int32, name=None):
    """Index of the minimum along `axis` (default 0, as in TF); int32 by default."""
    return jnp.argmin(_tensor(input), axis=0 if axis is None else axis).astype(as_dtype(output_type))


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """Clamp every element into [clip_value_min, clip_value_max]."""
    return jnp.clip(_tensor(t), clip_value_min, clip_value_max)


def clip_by_norm(t, clip_norm, axes=None, name=None):
    """`t * clip_norm / max(norm(t), clip_norm)`: `t` rescaled so its L2 norm over `axes`
    (all by default) is at most `clip_norm`."""
    t = jnp.asarray(t)
    axes = None if axes is None else tuple(np.atleast_1d(axes).tolist())
    l2sum = jnp.sum(jnp.square(t), axis=axes, keepdims=True)
    # TF's double where: sqrt's gradient at 0 is inf, so an all-zero slice takes its sqrt
    # of 1 instead, or its gradient (1 where the clip is inactive) would be NaN
    positive = l2sum > 0
    norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, l2sum, 1)), l2sum)
    return (t * clip_norm / jnp.maximum(norm, clip_norm)).astype(t.dtype)


def global_norm(t_list, name=None):
    """sqrt of the sum of squares of every element of every tensor in `t_list` (None
    entries are skipped, as TF's tf.linalg.global_norm)."""
    if isinstance(t_list, (jax.Array, np.ndarray)) or not hasattr(t_list, "__iter__"):
        raise TypeError(f"global_norm: t_list must be a list of tensors; received "
                        f"{type(t_list).__name__}")
    squares = [jnp.sum(jnp.square(jnp.asarray(t, jnp.float32))) for t in t_list
               if t is not None]
    return jnp.sqrt(sum(squares)) if squares else jnp.zeros((), jnp.float32)


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """TF's gradient clipping: `(list of t * clip_norm / max(global_norm, clip_norm),
    global_norm)`, None entries kept as None; `use_norm` replaces the computed norm."""
    t_list = list(t_list) if not isinstance(t_list, (jax.Array, np.ndarray)) else t_list
    norm = global_norm(t_list) if use_norm is None else jnp.asarray(use_norm, jnp.float32)
    # `+ (norm - norm)`: an inf or NaN norm makes every entry NaN, TF's documented signal
    # of a broken step (without it an inf norm would silently zero the gradients)
    scale = clip_norm / jnp.maximum(norm, clip_norm) + (norm - norm)
    clipped = [None if t is None else (jnp.asarray(t) * scale).astype(jnp.asarray(t).dtype)
               for t in t_list]
    return clipped, norm


def one_hot(indices, depth, on_value=1.0, off_value=0.0, axis=-1, dtype="float32",
            name=None):
    """One-hot encoding of integer `indices` with `depth` classes along `axis`."""
    hot = jax.nn.one_hot(indices, depth, axis=axis, dtype=as_dtype(dtype))
    if on_value == 1.0 and off_value == 0.0:
        return hot
    return jnp.where(hot == 1, on_value, off_value).astype(as_dtype(dtype))

