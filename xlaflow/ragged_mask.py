"""tf.ragged.boolean_mask: the items of a RaggedTensor (or dense tensor) where a mask is
true, outer rows kept; a ragged mask's row partitions are a prefix of the data's. Eager:
the result's size depends on the mask's values. tf.boolean_mask dispatches here too.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from xlaflow.ragged_tensor import RaggedTensor, need_known


def boolean_mask(data, mask, name=None):
    """tf.ragged.boolean_mask: the values of `data` where `mask` is true, rows kept (a
    ragged mask picks inside rows; a 1-D dense mask picks rows). Eager only."""
    from xlaflow.ragged_getitem import gather_rows

    need_known("ragged.boolean_mask", "the mask's values", data, mask)
    if isinstance(mask, RaggedTensor):
        if not isinstance(data, RaggedTensor):
            raise TypeError("xf.ragged.boolean_mask: a ragged mask needs ragged data")
        return _ragged_mask(data, mask)
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:  # TF converts the mask to bool: numbers are refused
        raise TypeError(f"xf.ragged.boolean_mask: mask must be bool; received {mask.dtype}")
    if mask.ndim > 1 and not isinstance(data, RaggedTensor):
        # TF's: both dense, the mask's rank - 1 outer dims become ragged rows
        from xlaflow.ragged_convert import from_tensor

        rank = mask.ndim - 1
        return boolean_mask(from_tensor(data, ragged_rank=rank),
                            from_tensor(mask, ragged_rank=rank))
    if mask.ndim != 1:
        raise NotImplementedError("xf.ragged.boolean_mask: a dense mask of rank > 1 over "
                                  "RaggedTensor data is not provided; pass the mask as a "
                                  "RaggedTensor with the data's row partition")
    if isinstance(data, RaggedTensor):
        return gather_rows(data, np.nonzero(mask)[0])
    return jnp.asarray(data)[np.nonzero(mask)[0]]


def dense_api_boolean_mask(tensor, mask, axis=None, name=None):
    """tf.boolean_mask given a RaggedTensor: TF dispatches it to tf.ragged.boolean_mask."""
    if axis not in (None, 0):
        raise NotImplementedError("xf.boolean_mask: a RaggedTensor is masked from axis 0 "
                                  "only (its mask's shape a prefix of its own)")
    return boolean_mask(tensor, mask)


def _ragged_mask(data, mask):
    """A RaggedTensor mask over the outer dims of `data` (its row partitions a prefix of
    data's, as TF's): the items at the mask's depth where it is true, outer rows kept."""
    from xlaflow.errors import InvalidArgumentError
    from xlaflow.ragged_getitem import gather_rows
    from xlaflow.ragged_math import same_splits

    depth = mask.ragged_rank
    if depth > data.ragged_rank:
        raise ValueError(f"xf.ragged.boolean_mask: the mask's ragged_rank {depth} exceeds "
                         f"the data's {data.ragged_rank}; its shape must be a prefix of "
                         "the data's")
    for level, (a, b) in enumerate(zip(data.nested_row_splits, mask.nested_row_splits)):
        same_splits(a, b, "ragged.boolean_mask", level)
    keep = np.asarray(mask.flat_values)
    if keep.dtype != np.bool_:  # TF converts the mask to bool: numbers are refused
        raise TypeError(f"xf.ragged.boolean_mask: mask must be bool; received {keep.dtype}")
    if keep.ndim != 1:
        raise NotImplementedError("xf.ragged.boolean_mask: a ragged mask with uniform inner "
                                  "dims is not provided; make them ragged (from_tensor)")
    items = data
    for _ in range(depth):
        items = items.values
    count = items.nrows_static if isinstance(items, RaggedTensor) else items.shape[0]
    if count != keep.shape[0]:
        raise InvalidArgumentError(None, None, f"xf.ragged.boolean_mask: the mask holds "
                                               f"{keep.shape[0]} values where the data has "
                                               f"{count} items")
    picked = np.nonzero(keep)[0]
    values = gather_rows(items, picked) if isinstance(items, RaggedTensor) else items[picked]
    outer, kept = [], keep
    for splits, ids in zip(reversed(mask.nested_row_splits), reversed(_flat_rowids(mask))):
        counts = np.bincount(np.asarray(ids)[kept], minlength=splits.shape[0] - 1)
        outer.insert(0, np.concatenate([[0], np.cumsum(counts)]))
        kept = np.ones(splits.shape[0] - 1, bool)
    dtype = data.row_splits.dtype
    return RaggedTensor.from_nested_row_splits(values, [jnp.asarray(s, dtype) for s in outer],
                                               validate=False)


def _flat_rowids(rt):
    """For each ragged level, the row id of each of that level's values."""
    out, level = [], rt
    while isinstance(level, RaggedTensor):
        out.append(level.value_rowids())
        level = level.values
    return out
