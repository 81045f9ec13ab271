"""RaggedTensor <-> dense, SparseTensor, Python lists and NumPy; merge_dims.

to_tensor with a `shape` runs inside xf.function (a scatter into a fixed shape); without
one the shape is the longest row's, known only eagerly. from_tensor with lengths or
padding, to_sparse, to_list and numpy() read values, so they run eagerly too.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.ragged_tensor import RaggedTensor, need_known, splits_dtype
from xlaflow.sparse_tensor import SparseTensor, traced


def rows_known(rt, op):
    need_known(op, "the rows (row_splits and values)", rt)


def host_values(values):
    """Values as NumPy, text as TF's bytes (`.numpy()` of a tf.string is bytes)."""
    host = np.asarray(values)
    if host.dtype.kind == "U":
        return np.char.encode(host, "utf-8").astype(object)
    return host


def to_list(rt):
    """The nested Python list (TF's to_list: text as bytes)."""
    rows_known(rt, "RaggedTensor.to_list")
    items = host_values(rt.flat_values).tolist()
    for splits in reversed(rt.nested_row_splits):
        s = np.asarray(splits).tolist()
        items = [items[s[i]:s[i + 1]] for i in range(len(s) - 1)]
    return items


def to_numpy(rt):
    """TF's eager RaggedTensor.numpy(): rows of equal shape stack into one array; ragged
    rows make a 1-D object array of row arrays."""
    rows_known(rt, "RaggedTensor.numpy")
    values = to_numpy(rt.values) if isinstance(rt.values, RaggedTensor) else \
        host_values(rt.values)
    s = np.asarray(rt.row_splits).tolist()
    rows = [values[s[i]:s[i + 1]] for i in range(len(s) - 1)]
    if not rows:
        return np.zeros((0, 0) + values.shape[1:], dtype=values.dtype)
    if all(r.shape == rows[0].shape for r in rows):
        out = np.empty((len(rows),) + rows[0].shape, dtype=rows[0].dtype)
    else:
        out = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        out[i] = row
    return out


def positions(rt):
    """(outer row of each flat value, its position along each ragged axis...)."""
    index = jnp.arange(rt.flat_values.shape[0], dtype=rt.row_splits.dtype)
    out = []
    level = rt
    levels = []
    while isinstance(level, RaggedTensor):
        levels.append(level)
        level = level.values
    for part in reversed(levels):
        row = part.value_rowids()[index]
        out.insert(0, index - part.row_splits[row])
        index = row
    return (index, *out)


def _target_shape(rt, shape):
    rank = rt.ndim
    if shape is None:
        shape = [None] * rank
    if hasattr(shape, "as_list"):
        shape = [None] * rank if shape.rank is None else shape.as_list()
    shape = list(shape)
    if len(shape) != rank:
        raise ValueError(f"xf.RaggedTensor.to_tensor: shape must have rank {rank} (the "
                         f"RaggedTensor's); received {shape}")
    if any(d is None for d in shape):
        need_known("RaggedTensor.to_tensor", "the longest row (pass shape=[...] with every "
                   "dimension known)", rt.nested_row_splits)
        bounds = np.asarray(rt.bounding_shape()).tolist()
        shape = [b if d is None else d for d, b in zip(shape, bounds)]
    if any(traced(d) for d in shape):
        raise TypeError("xf.RaggedTensor.to_tensor: shape must be Python ints (XLA compiles "
                        f"static shapes); received {shape}")
    return [int(d) for d in shape]


def to_tensor(rt, default_value=None, shape=None):
    """Rows padded with `default_value` (0, or b"" for text) to `shape` (default: the
    bounding shape); longer rows are cut, as TF's to_tensor(shape=...)."""
    target = _target_shape(rt, shape)
    flat = rt.flat_values
    ragged = rt.ragged_rank
    inner = target[ragged + 1:]
    text = isinstance(flat, np.ndarray) and flat.dtype.kind in "USO"
    if text:
        rows_known(rt, "RaggedTensor.to_tensor")
        flat = host_values(flat)
        fill = b"" if default_value is None else default_value
        fill = fill.encode("utf-8") if isinstance(fill, str) else fill
        out = np.empty(target, dtype=object)
        out[...] = fill
        cut = flat[(slice(None),) + tuple(slice(0, d) for d in inner)]
        index = tuple(np.asarray(p) for p in positions(rt))
        keep = np.all([i < d for i, d in zip(index, target)], axis=0) if index[0].size \
            else np.zeros(0, bool)
        region = tuple(i[keep] for i in index) + tuple(slice(0, d) for d in cut.shape[1:])
        out[region] = cut[keep]
        from xlaflow.data.host_tensor import HostTensor

        return out.view(HostTensor)
    from xlaflow.tensors import convert_to_tensor

    # TF converts default_value to the values' dtype: -1.5 for ints is a TypeError, not -1
    fill = jnp.asarray(0, flat.dtype) if default_value is None else \
        jnp.asarray(convert_to_tensor(default_value, dtype=flat.dtype), flat.dtype)
    # inner uniform dims first cut or padded to the target's
    cut = flat[(slice(None),) + tuple(slice(0, d) for d in inner)]
    pad = [(0, 0)] + [(0, d - c) for d, c in zip(inner, cut.shape[1:])]
    if any(p[1] for p in pad):
        cut = _pad_with(cut, pad, fill)
    out = jnp.broadcast_to(fill, target) if fill.ndim <= len(inner) else None
    if out is None:
        raise ValueError(f"xf.RaggedTensor.to_tensor: default_value must be a scalar or "
                         f"broadcast to the inner shape {inner}; received shape {fill.shape}")
    return out.at[positions(rt)].set(cut, mode="drop")


def _pad_with(x, pad, fill):
    """`x` padded by `pad` widths with `fill` (a scalar or an inner-shape tensor)."""
    if fill.ndim == 0:
        return jnp.pad(x, pad, constant_values=fill)
    full = jnp.broadcast_to(fill, (x.shape[0],) + tuple(a + b for a, (_, b) in
                                                        zip(x.shape[1:], pad[1:])))
    return full.at[(slice(None),) + tuple(slice(0, d) for d in x.shape[1:])].set(x)


def to_sparse(rt):
    """A SparseTensor with one entry per flat value (and inner position), at its row and
    positions; dense_shape is the bounding shape. Eager: the shape depends on the rows."""
    rows_known(rt, "RaggedTensor.to_sparse")
    dense_shape = np.asarray(rt.bounding_shape()).tolist()
    flat = rt.flat_values
    index = np.stack([np.asarray(p) for p in positions(rt)], axis=1)
    inner = flat.shape[1:]
    if inner:
        within = np.indices(inner).reshape(len(inner), -1).T
        index = np.concatenate([np.repeat(index, len(within), axis=0),
                                np.tile(within, (index.shape[0], 1))], axis=1)
    values = flat.reshape(-1)
    if isinstance(flat, np.ndarray) and flat.dtype.kind in "USO":
        return SparseTensor._unchecked(index.astype(np.int64), values, dense_shape)
    from xlaflow.sparse_tensor import index_dtype

    return SparseTensor._unchecked(jnp.asarray(index, index_dtype()), values, dense_shape)


def from_sparse(st, row_splits_dtype="int64"):
    """Rows of a 2-D SparseTensor whose entries fill each row from column 0 in order."""
    from xlaflow import _runtime_checks
    from xlaflow.ragged_rows import segment_ids_to_row_splits

    if not isinstance(st, SparseTensor):
        raise TypeError(f"xf.RaggedTensor.from_sparse: st_input must be a SparseTensor; "
                        f"received {type(st).__name__}")
    if st.ndim != 2:
        raise ValueError(f"xf.RaggedTensor.from_sparse: st_input must be 2-D; received "
                         f"dense_shape {list(st.shape.as_list())}")
    indices = jnp.asarray(st.indices)
    rows, cols = indices[:, 0], indices[:, 1]
    splits = segment_ids_to_row_splits(rows, st.shape[0], out_type=row_splits_dtype,
                                       op="RaggedTensor.from_sparse")
    rt = RaggedTensor._unchecked(st.values, splits)
    expected = jnp.arange(rows.shape[0], dtype=splits.dtype) - splits[rt.value_rowids()]
    ok = jnp.all(cols.astype(splits.dtype) == expected) & jnp.all(jnp.diff(rows) >= 0)
    message = ("xf.RaggedTensor.from_sparse: st_input must be ragged-right: each row's "
               "entries in order at columns 0, 1, 2, ... (call xf.sparse.reorder first, and "
               "drop gaps); received indices {}")
    if traced(ok):
        _runtime_checks.check(ok, lambda idx: ValueError(message.format(idx.tolist()[:10])),
                              indices)
    elif not bool(ok):
        raise ValueError(message.format(np.asarray(indices).tolist()[:10]))
    return rt


def from_tensor(tensor, lengths=None, padding=None, ragged_rank=1,
                row_splits_dtype="int64"):
    """TF's RaggedTensor.from_tensor (see the classmethod)."""
    from xlaflow.tensors import convert_to_tensor

    if not traced(tensor) and not isinstance(tensor, np.ndarray):
        tensor = convert_to_tensor(tensor)
    dtype = splits_dtype(row_splits_dtype)
    if not isinstance(ragged_rank, (int, np.integer)) or not 1 <= ragged_rank < tensor.ndim:
        raise ValueError(f"xf.RaggedTensor.from_tensor: ragged_rank must be an int in "
                         f"[1, {tensor.ndim - 1}] (below the tensor's rank {tensor.ndim}); "
                         f"received {ragged_rank!r}")
    if lengths is not None and padding is not None:
        raise ValueError("xf.RaggedTensor.from_tensor: pass lengths or padding, not both")
    shape = tuple(tensor.shape)
    if lengths is None and padding is None:  # every row full: a reshape, jittable
        result = tensor.reshape((math.prod(shape[:ragged_rank + 1]),) + shape[ragged_rank + 1:])
        for k in range(ragged_rank, 0, -1):
            splits = jnp.arange(math.prod(shape[:k]) + 1, dtype=dtype) * shape[k]
            # uniform row lengths, as TF's from_tensor: the shape stays fully known
            result = RaggedTensor._unchecked(result, splits, shape[k])
        return result
    if ragged_rank != 1:
        raise NotImplementedError("xf.RaggedTensor.from_tensor: lengths or padding with "
                                  "ragged_rank > 1 is not provided; build the inner rows "
                                  "with from_tensor(..., ragged_rank=1) and wrap them with "
                                  "from_row_lengths")
    need_known("RaggedTensor.from_tensor", "lengths or padding (the number of values kept)",
               tensor, lengths, padding)
    host = np.asarray(tensor)
    ncols = shape[1]
    if lengths is not None:
        given = np.asarray(lengths)
        if given.shape != (shape[0],) or given.dtype.kind not in "iu":
            raise ValueError(f"xf.RaggedTensor.from_tensor: lengths must be {shape[0]} "
                             f"integers (one per row); received {given.tolist()!r:.80}")
        kept = np.clip(given, 0, ncols)
    else:
        pad = np.asarray(padding, host.dtype) if host.dtype.kind not in "USO" else \
            np.asarray(padding)
        is_pad = host == pad
        is_pad = is_pad.reshape(shape[0], ncols, -1).all(axis=2)
        # the length is past the last element that is not padding
        not_pad = ~is_pad
        kept = np.where(not_pad.any(axis=1), ncols - np.argmax(not_pad[:, ::-1], axis=1), 0)
    mask = np.arange(ncols)[None, :] < kept[:, None]
    values = host[mask] if isinstance(tensor, np.ndarray) else tensor[mask]
    splits = np.concatenate([[0], np.cumsum(kept)])
    return RaggedTensor._unchecked(values, jnp.asarray(splits, dtype))


def merge_dims(rt, outer_axis, inner_axis):
    """Axes outer_axis..inner_axis merged into one (TF's merge_dims)."""
    rank = rt.ndim
    axes = []
    for name, axis in (("outer_axis", outer_axis), ("inner_axis", inner_axis)):
        if not isinstance(axis, (int, np.integer)) or not -rank <= axis < rank:
            raise ValueError(f"xf.RaggedTensor.merge_dims: {name} must be an int in "
                             f"[{-rank}, {rank}); received {axis!r}")
        axes.append(int(axis) % rank)
    outer, inner = axes
    if outer > inner:
        raise ValueError(f"xf.RaggedTensor.merge_dims: outer_axis ({outer_axis}) must not "
                         f"be after inner_axis ({inner_axis})")
    return _merge(rt, outer, inner)


def _merge(x, outer, inner):
    if outer == inner:
        return x
    if outer > 0:
        if not isinstance(x, RaggedTensor):
            return x.reshape(x.shape[:outer] + (-1,) + x.shape[inner + 1:])
        merged = _merge(x.values, outer - 1, inner - 1)
        if outer > 1:
            return RaggedTensor._unchecked(merged, x.row_splits)
        return RaggedTensor._unchecked(merged, _offsets(x.values, inner - 1, x.row_splits))
    if not isinstance(x, RaggedTensor):
        return x.reshape((-1,) + x.shape[inner + 1:])
    return _merge(x.values, 0, inner - 1)


def _offsets(x, k, rows):
    """Where rows `rows` of `x` start once x's axes 0..k are merged."""
    if k == 0:
        return rows
    if isinstance(x, RaggedTensor):
        return _offsets(x.values, k - 1, x.row_splits[rows])
    return rows * math.prod(x.shape[1:k + 1])


def constant(pylist, dtype=None, ragged_rank=None, inner_shape=None, name=None,
             row_splits_dtype="int64"):
    """A RaggedTensor from nested Python lists (tf.ragged.constant); text becomes xlaflow's
    host string values. Lists nested deeper than ragged_rank + 1 are uniform inner dims."""
    from xlaflow.tensors import constant as dense_constant

    if isinstance(pylist, RaggedTensor):
        raise TypeError("xf.ragged.constant: pylist is already a RaggedTensor")
    dtype_splits = splits_dtype(row_splits_dtype)
    depth = _depth(pylist)
    if depth == 0:
        raise ValueError(f"xf.ragged.constant: pylist must be a nested list of rank >= 1; "
                         f"received the scalar {pylist!r:.60}")
    inner_rank = len(inner_shape) if inner_shape is not None else None
    if ragged_rank is None:
        ragged_rank = max(0, depth - 1 - (inner_rank or 0))
    if ragged_rank < 0 or (inner_rank is not None and ragged_rank + 1 + inner_rank < depth):
        raise ValueError(f"xf.ragged.constant: ragged_rank={ragged_rank} and inner_shape="
                         f"{inner_shape} do not fit pylist's nesting depth {depth}")
    if ragged_rank == 0:
        return dense_constant(pylist, dtype=dtype)
    nested_splits = []
    level = list(pylist)
    for _ in range(ragged_rank):
        lengths = []
        level = [_rows_of(item) for item in level]  # NumPy arrays nest as lists (TF's)
        for item in level:
            nested = isinstance(item, (list, tuple))
            if not nested:  # TF's ValueError: the value's depth is wrong, not its type
                raise ValueError(f"xf.ragged.constant: all scalar values must have the "
                                 f"same nesting depth; found {item!r:.40} at depth "
                                 f"{len(nested_splits) + 1}")
            lengths.append(len(item))
        nested_splits.append(np.concatenate([[0], np.cumsum(lengths)]))
        level = [child for item in level for child in item]
    inner = tuple(inner_shape) if inner_shape is not None else None
    scalars = list(_scalars(level))
    text = [isinstance(v, (str, bytes)) for v in scalars]
    if any(text) and not all(text):  # TF refuses, where NumPy would make 3 the text "3"
        first = scalars[text.index(not text[0])]
        raise ValueError(f"xf.ragged.constant: Can't convert Python sequence with mixed "
                         f"types to Tensor: found {scalars[0]!r:.30} and {first!r:.30}")
    if level:
        try:
            flat = dense_constant(level, dtype=dtype)
        except ValueError as error:
            raise ValueError(f"xf.ragged.constant: the inner values are not uniform (all "
                             f"lists past ragged_rank={ragged_rank} must have one length): "
                             f"{error}") from None
    else:
        empty_dtype = dtype if dtype is not None else "float32"
        flat = dense_constant(np.zeros((0,) + (inner or ())), dtype=empty_dtype)
    if inner is not None and tuple(flat.shape[1:]) != inner:
        raise ValueError(f"xf.ragged.constant: the inner values have shape "
                         f"{tuple(flat.shape[1:])}, not inner_shape {inner}")
    result = flat
    for splits in reversed(nested_splits):
        result = RaggedTensor._unchecked(result, jnp.asarray(splits, dtype_splits))
    return result


def _rows_of(item):
    """An array of rank >= 1 as the list of its rows; anything else as it is."""
    if isinstance(item, (np.ndarray, jax.Array)) and item.ndim:
        return list(np.asarray(item))
    return item


def _scalars(items):
    """The scalars in nested lists (and arrays), in order."""
    for item in items:
        item = _rows_of(item)
        if isinstance(item, (list, tuple)):
            yield from _scalars(item)
        else:
            yield item


def _depth(value):
    """The deepest nesting of lists in `value` (0 for a scalar)."""
    if isinstance(value, (list, tuple)):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, (np.ndarray, jax.Array)):
        return value.ndim
    return 0
