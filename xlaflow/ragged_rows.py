"""tf.ragged's row-partition helpers: segment ids <-> row splits, and tf.ragged.range.

Splits from segment ids need the number of rows: given, they run inside xf.function;
left out, it is read from the ids, eagerly only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.sparse_tensor import traced


def _ids(segment_ids, op):
    if traced(segment_ids):
        ids = segment_ids
    else:
        ids = np.asarray(segment_ids)
        if ids.size == 0 and ids.dtype.kind == "f":
            ids = ids.astype(np.int64)
    if ids.ndim != 1 or not jnp.issubdtype(ids.dtype, jnp.integer):
        raise ValueError(f"xf.{op}: segment_ids must be a 1-D integer tensor; received "
                         f"shape {tuple(ids.shape)} dtype {ids.dtype}")
    return ids


def segment_ids_to_row_splits(segment_ids, num_segments=None, out_type=None, name=None,
                              op="ragged.segment_ids_to_row_splits"):
    """Row splits of `segment_ids` (TF's segment_ids_to_row_splits, a bincount): row i is as
    long as the number of ids equal to i; `num_segments` (default max id + 1) sets the number
    of rows, ids at or past it are not counted (TF's maxlength)."""
    from xlaflow.ragged_tensor import need_known, splits_dtype

    ids = _ids(segment_ids, op)
    dtype = splits_dtype(out_type) if out_type is not None else splits_dtype()
    if num_segments is None:
        need_known(op, "the largest segment id (pass num_segments / nrows)", ids)
        host = np.asarray(ids)
        num_segments = int(host.max()) + 1 if host.size else 0
    elif traced(num_segments):
        raise TypeError(f"xf.{op}: num_segments (nrows) sets the result's size, so it must "
                        "be known when the function is traced (a Python int); received a "
                        "tensor computed in the function")
    count = int(np.asarray(num_segments))
    if count < 0:
        raise ValueError(f"xf.{op}: num_segments (nrows) must be >= 0; received {count}")
    if not traced(ids) and np.any(np.asarray(ids) < 0):  # TF's bincount refuses them
        from xlaflow.errors import InvalidArgumentError

        raise InvalidArgumentError(None, None, f"xf.{op}: segment ids must be >= 0; "
                                               f"received {np.asarray(ids).tolist()[:20]}")
    ids = jnp.asarray(ids)
    # a count per row (ids need not be sorted), jittable at a static size; ids out of
    # [0, count) are sent past the end, where the scatter drops them
    safe = jnp.where(ids >= 0, ids, count)
    counts = jnp.zeros(count, dtype).at[safe].add(1, mode="drop")
    return jnp.concatenate([jnp.zeros(1, dtype), jnp.cumsum(counts, dtype=dtype)])


def row_splits_to_segment_ids(splits, name=None, out_type=None):
    """The segment (row) id of each value that `splits` partitions."""
    from xlaflow.ragged_tensor import RaggedTensor, partition

    splits = partition(splits, "splits", "row_splits_to_segment_ids")
    if splits.shape[0] == 0:
        raise ValueError("xf.ragged.row_splits_to_segment_ids: splits must have at least "
                         "one element")
    if traced(splits):
        raise TypeError("xf.ragged.row_splits_to_segment_ids: the number of ids is "
                        "splits[-1], which XLA needs when the function is traced; use "
                        "rt.value_rowids() of a RaggedTensor (its values fix the size)")
    count = int(np.asarray(splits)[-1])
    rt = RaggedTensor.from_row_splits(jnp.zeros(count, jnp.int8), splits)
    ids = rt.value_rowids()
    return ids if out_type is None else ids.astype(out_type)


def range(starts, limits=None, deltas=1, dtype=None, name=None, row_splits_dtype="int64"):
    """Row i is range(starts[i], limits[i], deltas[i]) (tf.ragged.range; scalars broadcast);
    an empty row where the range is empty, as Python's range. Eager: sizes depend on values."""
    from xlaflow.ragged_tensor import RaggedTensor, need_known, splits_dtype
    from xlaflow.tensors import as_dtype, convert_to_tensor

    if limits is None:
        starts, limits = 0, starts
    need_known("ragged.range", "starts, limits and deltas", starts, limits, deltas)
    arrays = [np.asarray(convert_to_tensor(v)) for v in (starts, limits, deltas)]
    for name_, value in zip(("starts", "limits", "deltas"), arrays):
        if value.ndim > 1:
            raise ValueError(f"xf.ragged.range: {name_} must be a scalar or 1-D; received "
                             f"shape {value.shape}")
    try:
        starts_, limits_, deltas_ = np.broadcast_arrays(*arrays)
    except ValueError:
        raise ValueError(f"xf.ragged.range: starts, limits and deltas must have the same "
                         f"length (or be scalars); received shapes "
                         f"{[a.shape for a in arrays]}") from None
    if np.any(deltas_ == 0):
        raise ValueError("xf.ragged.range: deltas must not be 0 (a range would never end); "
                         f"received {deltas_.tolist()}")
    out_dtype = jax.dtypes.canonicalize_dtype(
        as_dtype(dtype) if dtype is not None else jnp.result_type(*arrays))
    rows = [np.arange(s, lim, d) for s, lim, d in
            zip(starts_.reshape(-1), limits_.reshape(-1), deltas_.reshape(-1))]
    lengths = np.asarray([len(r) for r in rows], np.int64)
    flat = np.concatenate(rows) if rows else np.zeros(0)
    splits = np.concatenate([[0], np.cumsum(lengths)])
    return RaggedTensor._unchecked(jnp.asarray(flat, out_dtype),
                                   jnp.asarray(splits, splits_dtype(row_splits_dtype)))
