"""TF's ops that locate or count values: unique / unique_with_counts, searchsorted and
tf.math.bincount, with TF's output order, dtypes and length rules.

unique's output length is data-dependent, so it is eager only (tf.data maps, plain Python);
bincount runs traced when its length is fixed by minlength == maxlength.
"""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import errors
from xlaflow.tensors import as_dtype

Unique = collections.namedtuple("Unique", ["y", "idx"])
UniqueWithCounts = collections.namedtuple("UniqueWithCounts", ["y", "idx", "count"])


def _traced(*values):
    return any(isinstance(v, jax.core.Tracer) for v in values)


def _index_dtype(op, out_idx):
    dtype = as_dtype(out_idx)
    if dtype not in (jnp.int32, jnp.int64):
        raise ValueError(f"xf.{op}: out_idx must be int32 or int64; received {dtype}")
    return dtype


def _unique(op, x, out_idx):
    if _traced(x):
        raise TypeError(
            f"xf.{op}: the number of unique values depends on x's values, which XLA needs "
            f"when the function is traced; inside xf.function use jnp.unique(x, size=<the "
            f"most values>, fill_value=...) (fixed length, sorted), or call xf.{op} eagerly "
            f"(e.g. in a tf.data map)")
    dtype = _index_dtype(op, out_idx)
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"xf.{op}: x must be 1-D; received shape {x.shape}")
    # equal_nan=False: TF's kernel compares with ==, so each NaN is a value of its own
    values, first, inverse, counts = np.unique(x, return_index=True, return_inverse=True,
                                               return_counts=True, equal_nan=False)
    # TF orders the unique values by first occurrence, where np.unique sorts them
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    y = values[order]
    # jax holds no strings: TF's tf.string input (e.g. a vocabulary) keeps NumPy's values
    y = y if y.dtype.kind in "OSU" else jnp.asarray(y)
    return y, jnp.asarray(rank[inverse.reshape(-1)], dtype), jnp.asarray(counts[order], dtype)


def unique(x, out_idx="int32", name=None):
    """tf.unique: `y`, the distinct values of 1-D `x` in order of first occurrence, and
    `idx`, with x == y[idx]. Eager only: y's length depends on the values."""
    y, idx, _ = _unique("unique", x, out_idx)
    return Unique(y, idx)


def unique_with_counts(x, out_idx="int32", name=None):
    """tf.unique_with_counts: unique's `y` and `idx`, and `count[i]`, how often y[i]
    occurs in x. Eager only."""
    return UniqueWithCounts(*_unique("unique_with_counts", x, out_idx))


def searchsorted(sorted_sequence, values, side="left", out_type="int32", name=None):
    """tf.searchsorted: for each of `values`, the index in the innermost dimension of
    `sorted_sequence` where it would be inserted keeping it sorted; leading dims pair up."""
    if side not in ("left", "right"):
        raise ValueError(f"xf.searchsorted: side must be 'left' or 'right'; received "
                         f"{side!r}")
    dtype = _index_dtype("searchsorted", out_type)
    seq, vals = jnp.asarray(sorted_sequence), jnp.asarray(values)
    if seq.ndim < 1 or vals.ndim != seq.ndim or seq.shape[:-1] != vals.shape[:-1]:
        raise ValueError(f"xf.searchsorted: sorted_sequence and values must have the same "
                         f"rank (at least 1) and leading dimensions; received shapes "
                         f"{seq.shape} and {vals.shape}")
    search = lambda s, v: jnp.searchsorted(s, v, side=side)
    for _ in range(seq.ndim - 1):  # one search per row of the leading dimensions
        search = jax.vmap(search)
    return search(seq, vals).astype(dtype)


def bincount(arr, weights=None, minlength=None, maxlength=None, dtype="int32", name=None,
             axis=None, binary_output=False):
    """tf.math.bincount: out[i] = how often (or the summed weight with which) i occurs in
    `arr`; length max(arr) + 1, at least minlength, at most maxlength (larger values are
    dropped). axis=-1 counts each row of a 2-D arr; None or 0 flatten it first. Traced
    needs minlength == maxlength."""
    if weights is not None and binary_output:
        raise ValueError("xf.math.bincount: weights and binary_output=True are mutually "
                         "exclusive; received both")
    if isinstance(axis, bool) or axis not in (None, 0, -1):
        raise ValueError(f"xf.math.bincount: axis must be None, 0 or -1; received {axis!r}")
    arr = jnp.asarray(arr)
    if arr.size == 0 and not _traced(arr):
        arr = arr.astype(jnp.int32)  # TF converts arr to int32: [] is float32 to jnp
    if not jnp.issubdtype(arr.dtype, jnp.integer):
        raise ValueError(f"xf.math.bincount: arr must hold integers; received dtype "
                         f"{arr.dtype}")
    if axis == -1 and arr.ndim != 2:
        raise ValueError(f"xf.math.bincount: axis=-1 needs a 2-D arr; received shape "
                         f"{arr.shape}")
    if weights is not None:
        weights = jnp.asarray(weights)
        if weights.shape != arr.shape:
            raise ValueError(f"xf.math.bincount: weights must have arr's shape {arr.shape}; "
                             f"received {weights.shape}")
    if _traced(arr):
        if minlength is None or maxlength is None or minlength < maxlength:
            raise ValueError(
                "xf.math.bincount: the output's length is max(arr) + 1, which traced "
                "values do not have yet; inside xf.function pass minlength=n, maxlength=n "
                f"(a fixed length); received minlength={minlength!r}, maxlength={maxlength!r}")
        # negatives cannot be refused before the program runs; they are dropped, as XLA
        # drops out-of-range indices
        length = int(maxlength)
    else:
        if arr.size and int(jnp.min(arr)) < 0:
            raise errors.InvalidArgumentError(
                None, None, "xf.math.bincount: arr must be non-negative; received a minimum "
                f"of {int(jnp.min(arr))}")
        length = int(jnp.max(arr)) + 1 if arr.size else 0
        if minlength is not None:
            length = max(length, int(minlength))
        if maxlength is not None:
            length = min(length, int(maxlength))
    out_dtype = weights.dtype if weights is not None else as_dtype(dtype)
    amounts = jnp.ones(arr.shape, out_dtype) if weights is None else weights
    # negatives would wrap around in .at[]; send them past the end, where mode="drop" drops
    index = jnp.where(arr < 0, length, arr)
    if axis == -1:
        rows = jnp.broadcast_to(jnp.arange(arr.shape[0])[:, None], arr.shape)
        out = jnp.zeros((arr.shape[0], length), out_dtype).at[rows, index].add(
            amounts, mode="drop")
    else:
        out = jnp.zeros((length,), out_dtype).at[index.reshape(-1)].add(
            amounts.reshape(-1), mode="drop")
    return (out > 0).astype(out_dtype) if binary_output else out
