"""More of tf.math with TF's arguments and edge cases: cumulative ops (exclusive, reverse),
floor division and modulo, top_k / in_top_k, l2_normalize, the confusion
matrix, and special functions. Re-exported by xf.math (and xf.nn where TF has them too).
"""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import debugging, ops
from xlaflow import tensors as _tensors
from xlaflow.tensors import as_dtype, int32


def _cumulative(op, identity, x, axis, exclusive, reverse):
    x = jnp.asarray(x)
    axis = int(axis) % max(x.ndim, 1)
    if reverse:
        x = jnp.flip(x, axis)
    out = op(x, axis=axis)
    if exclusive:  # shift by one along the axis, the identity first (an empty axis stays so)
        pad = jnp.full((*out.shape[:axis], 1, *out.shape[axis + 1:]), identity, out.dtype)
        out = jax.lax.slice_in_dim(jnp.concatenate([pad, out], axis=axis), 0,
                                   out.shape[axis], axis=axis)
    return jnp.flip(out, axis) if reverse else out


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    """Running sums along `axis` (TF: `exclusive` leaves out each element itself,
    `reverse` sums from the end)."""
    return _cumulative(jnp.cumsum, 0, x, axis, exclusive, reverse)


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None):
    """Running products along `axis`, with TF's `exclusive` and `reverse`."""
    return _cumulative(jnp.cumprod, 1, x, axis, exclusive, reverse)


def floordiv(x, y, name=None):
    """Division rounded toward minus infinity (Python's //)."""
    return jnp.floor_divide(jnp.asarray(x), jnp.asarray(y))


def floormod(x, y, name=None):
    """The remainder of floordiv, with the sign of `y` (Python's %); also tf.math.mod."""
    return jnp.remainder(jnp.asarray(x), jnp.asarray(y))


mod = floormod


def truediv(x, y, name=None):
    return jnp.true_divide(jnp.asarray(x), jnp.asarray(y))


def squared_difference(x, y, name=None):
    d = jnp.asarray(x) - jnp.asarray(y)
    return d * d


def log_sigmoid(x, name=None):
    """log(sigmoid(x)), computed stably as -softplus(-x)."""
    return -jax.nn.softplus(-jnp.asarray(x))


def reduce_euclidean_norm(input_tensor, axis=None, keepdims=False, name=None):
    x = jnp.asarray(input_tensor)
    axis = tuple(axis) if isinstance(axis, list) else axis
    return jnp.sqrt(jnp.sum(x * x, axis=axis, keepdims=keepdims))


def count_nonzero(input, axis=None, keepdims=None, dtype="int64", name=None):
    """The number of non-zero entries over `axis` (TF's default int64 is int32 unless
    64-bit mode is on, as every int64 in JAX)."""
    axis = tuple(axis) if isinstance(axis, list) else axis
    out = jnp.count_nonzero(jnp.asarray(input), axis=axis, keepdims=bool(keepdims))
    return out.astype(jax.dtypes.canonicalize_dtype(as_dtype(dtype)))


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """x / sqrt(max(sum(x**2, axis), epsilon)), as TF (all axes when `axis` is None)."""
    x = jnp.asarray(x)
    axis = dim if axis is None else axis
    axis = tuple(axis) if isinstance(axis, list) else axis
    square_sum = jnp.sum(x * x, axis=axis, keepdims=True)
    return x * jax.lax.rsqrt(jnp.maximum(square_sum, epsilon))


TopKV2 = collections.namedtuple("TopKV2", ["values", "indices"])


def top_k(input, k=1, sorted=True, name=None):
    """The `k` largest entries of the last axis and their indices (int32), largest first;
    among equal entries the lower index comes first, as TF."""
    input = jnp.asarray(input)
    if not 0 <= int(k) <= input.shape[-1]:
        raise ValueError(f"top_k: `k` must be in [0, {input.shape[-1]}] (the last axis), "
                         f"received k={k!r}")
    values, indices = jax.lax.top_k(input, int(k))
    return TopKV2(values, indices.astype(int32))


def in_top_k(targets, predictions, k, name=None):
    """Whether each row's target class is among its `k` largest predictions; classes tied
    at the boundary all count as in; a non-finite prediction row or a target outside the
    classes never does (TF)."""
    predictions = jnp.asarray(predictions)
    targets = jnp.asarray(targets).astype(jnp.int32)
    # a target outside the classes is never in (TF's kernel "cannot say"); clamp it only
    # to read some prediction, the row is masked out below
    in_range = (targets >= 0) & (targets < predictions.shape[1])
    safe = jnp.clip(targets, 0, predictions.shape[1] - 1)
    target_value = jnp.take_along_axis(predictions, safe[:, None], axis=1)
    above = jnp.sum(predictions > target_value, axis=1)
    finite = jnp.all(jnp.isfinite(predictions), axis=1)
    return (above < k) & finite & in_range


def confusion_matrix(labels, predictions, num_classes=None, weights=None, dtype="int32",
                     name=None):
    """m[i, j] = the (weighted) number of examples with label i predicted as j; ids must
    lie in [0, num_classes) (InvalidArgumentError otherwise, as TF)."""
    labels = jnp.asarray(labels).astype(jnp.int32).reshape(-1)
    predictions = jnp.asarray(predictions).astype(jnp.int32).reshape(-1)
    if labels.shape != predictions.shape:
        raise ValueError(f"confusion_matrix: labels {labels.shape} and predictions "
                         f"{predictions.shape} must have one entry per example")
    # TF's assertions: an id outside [0, num_classes) is an error, not a wrapped (-1) or
    # dropped entry; concrete ids fail at once, traced ones when the program runs
    for arg, ids in (("labels", labels), ("predictions", predictions)):
        debugging.assert_non_negative(ids, message=f"`{arg}` contains negative values")
    if num_classes is None:
        if isinstance(labels, jax.core.Tracer) or isinstance(predictions, jax.core.Tracer):
            raise ValueError("confusion_matrix: the matrix's size comes from the largest id "
                             "when `num_classes` is None, and traced ids have no value yet; "
                             "pass num_classes=<the number of classes> inside xf.function")
        num_classes = int(max(int(jnp.max(labels)), int(jnp.max(predictions)))) + 1
    else:
        for arg, ids in (("labels", labels), ("predictions", predictions)):
            debugging.assert_less(ids, jnp.asarray(num_classes, ids.dtype),
                                  message=f"`{arg}` out of bound")
    dtype = as_dtype(dtype)
    w = jnp.ones(labels.shape, dtype) if weights is None else \
        jnp.asarray(weights, dtype).reshape(-1)
    return jnp.zeros((int(num_classes),) * 2, dtype).at[labels, predictions].add(w)


def erf(x, name=None):
    return jax.scipy.special.erf(jnp.asarray(x))


def lgamma(x, name=None):
    x = jnp.asarray(x)
    return jax.lax.lgamma(x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(float))


def atan2(y, x, name=None):
    return jnp.arctan2(jnp.asarray(y), jnp.asarray(x))


def complex(real, imag, name=None):  # TF's name (shadows the builtin here only)
    """real + 1j * imag (TF's tf.complex): float32 parts give complex64, float64 complex128;
    any other pair is a TypeError, as TF refuses to guess a precision."""
    real, imag = _tensors.convert_to_tensor(real), _tensors.convert_to_tensor(imag)
    if real.dtype != imag.dtype or real.dtype not in (jnp.float32, jnp.float64):
        raise TypeError(f"complex: real and imag must both be float32 or both float64; "
                        f"received {real.dtype} and {imag.dtype}")
    return jax.lax.complex(real, imag)


def logical_xor(x, y, name=None):
    return jnp.logical_xor(jnp.asarray(x), jnp.asarray(y))


def moments(x, axes, shift=None, keepdims=False, name=None):
    """(mean, variance) of `x` over `axes` (tf.nn.moments; population variance)."""
    x = jnp.asarray(x)
    axes = tuple(np.asarray(axes).reshape(-1).tolist())
    mean = jnp.mean(x, axis=axes, keepdims=True)
    variance = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
    if not keepdims:
        mean, variance = jnp.squeeze(mean, axes), jnp.squeeze(variance, axes)
    return mean, variance


def embedding_lookup(params, ids, max_norm=None, name=None):
    """Rows of `params` at `ids` (tf.nn.embedding_lookup). A list of shards is TF 2's "div"
    partitioning: contiguous id ranges, the first (total % len) shards one id longer."""
    if isinstance(params, (list, tuple)):
        params = _div_table(params)
    ids = jnp.asarray(ids)
    rows = jnp.take(jnp.asarray(params), ids, axis=0)
    if max_norm is None:
        return rows
    # TF's _clip: clip_by_norm over every axis after the ids' (the whole embedding)
    return ops.clip_by_norm(rows, max_norm, axes=list(range(ids.ndim, rows.ndim)))


def _div_table(shards):
    """The table that `shards` split under TF's "div" strategy (their concatenation, once
    their sizes are the ones that strategy gives)."""
    shards = [jnp.asarray(p) for p in shards]
    if not shards:
        raise ValueError("embedding_lookup: `params` must be a tensor or a non-empty list "
                         "of shards, received an empty list")
    if len(shards) == 1:
        return shards[0]
    if len({p.shape[1:] for p in shards}) > 1:
        raise ValueError("embedding_lookup: shards must agree on every axis but the first, "
                         f"received shapes {[p.shape for p in shards]}")
    sizes = [p.shape[0] for p in shards]
    per, extras = divmod(sum(sizes), len(sizes))
    expected = [per + 1] * extras + [per] * (len(sizes) - extras)
    if sizes != expected:
        raise ValueError(f"embedding_lookup: TF 2 splits {sum(sizes)} ids over {len(sizes)} "
                         f"shards by the 'div' strategy into sizes {expected}, received "
                         f"shards of sizes {sizes}")
    return jnp.concatenate(shards, axis=0)
