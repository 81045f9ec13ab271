"""RaggedTensors in and out of xf.strings: rows of pieces (split, decode) as TF's ragged
results, and the element-wise text ops over a RaggedTensor's flat values.

TF gives a RaggedTensor whenever one string makes a row of pieces: ragged_rank is the
input's rank (outer dims kept as uniform row splits), and a RaggedTensor input gains one
more ragged dimension. Element-wise ops keep the row partition (TF's map_flat_values).
Text stays on the host: the flat values are host string arrays, the row splits arrays.
"""

from __future__ import annotations

import functools
import math

import jax.numpy as jnp
import numpy as np

from xlaflow.ragged_tensor import RaggedTensor, splits_dtype


def is_ragged(value):
    return isinstance(value, RaggedTensor)


def elementwise(fn):
    """`fn` (an op on dense text or numbers) mapped over the flat values when a RaggedTensor
    is among its arguments (those must share one row partition, as TF's)."""
    from xlaflow.ragged_math import map_flat_values

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if any(isinstance(a, RaggedTensor) for a in (*args, *kwargs.values())):
            return map_flat_values(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    return wrapper


def rows_of(op, input, pieces_fn, result_fn, array_fn):
    """TF's ragged result of an op that makes one row of pieces per string.

    `array_fn(input)` reads the strings as an object array of bytes, `pieces_fn(bytes)` gives
    one string's list of pieces and `result_fn(list)` makes the host values of a flat list
    of pieces. A scalar input gives the dense 1-D row; an N-D input a RaggedTensor of
    ragged_rank N; a RaggedTensor one more ragged dimension over its flat values."""
    if isinstance(input, RaggedTensor):
        flat = rows_of(op, _flat_text(input), pieces_fn, result_fn, array_fn)
        inner = flat.with_row_splits_dtype(input.row_splits_dtype)
        return input.with_flat_values(inner)
    array = array_fn(input)
    if array.ndim == 0:
        return result_fn(pieces_fn(array[()]))
    rows = [pieces_fn(v) for v in array.reshape(-1).tolist()]
    return nest(result_fn([p for row in rows for p in row]), [len(r) for r in rows],
                array.shape)


def _flat_text(rt):
    """A RaggedTensor's flat values (1-D host text: TF's ragged text is rank 1 inside)."""
    flat = rt.flat_values
    if np.ndim(flat) != 1:
        raise NotImplementedError(f"xf.strings: a RaggedTensor with uniform inner dimensions "
                                  f"(flat values of shape {tuple(np.shape(flat))}) is not "
                                  "split; merge them into the ragged ones first")
    return flat


def nest(values, lengths, shape, dtype=None):
    """`values` cut into rows of `lengths`, one row per element of `shape` (row-major): a
    RaggedTensor of shape [*shape, None], the outer dims as uniform row splits (TF's)."""
    dtype = splits_dtype(dtype)
    splits = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(dtype)
    # built here, so valid; _unchecked keeps host values as they are (TF's int64 ids stay
    # int64 NumPy, as the dense results of the same ops)
    out = RaggedTensor._unchecked(values, jnp.asarray(splits))
    for axis in range(len(shape) - 1, 0, -1):
        outer = math.prod(shape[:axis])
        out = RaggedTensor._unchecked(out, jnp.arange(outer + 1, dtype=dtype) * shape[axis],
                                      shape[axis])  # a uniform dimension, as TF's
    return out


def pieces_array(pieces, dtype=object):
    """A flat list as a 1-D array, element by element (a list of bytes would pass through
    NumPy's bytes type, which drops trailing NULs)."""
    out = np.empty(len(pieces), dtype=dtype)
    if dtype is object:
        out[:] = pieces  # one C loop: an object array keeps each piece as it is
        return out
    for i, piece in enumerate(pieces):
        out[i] = piece
    return out
