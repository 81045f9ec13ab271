"""RaggedTensor components of Dataset elements, held on the host as TF's tf.data holds them.

As sparse_elements.py for SparseTensors: a ragged component is an xf.RaggedTensor whose
values and row_splits are NumPy arrays (no device transfer per element; text stays host
text), and slicing, batching and unbatching work on those arrays alone. A row of a
ragged_rank-1 value is dense, as in TF (RaggedTensorSpec with ragged_rank 0): it travels as
a `RaggedRow`, an ndarray that `batch` stacks into a RaggedTensor again.
"""

from __future__ import annotations

import numpy as np

from xlaflow.ragged_spec import RaggedTensorSpec
from xlaflow.ragged_tensor import RaggedTensor, splits_dtype
from xlaflow.tensors import shapes_compatible


class RaggedRow(np.ndarray):
    """A dense row of a ragged component (TF's RaggedTensorSpec with ragged_rank 0): NumPy
    in every respect, but `batch` stacks a column of them into a RaggedTensor.

    Map functions may see it; what they return is normalised to a plain array (a dense
    TensorSpec), as TF's map gives a Tensor for such a component.
    """

    splits_dtype = None  # the row_splits dtype the batch gets (None: TF's int64)

    def __array_finalize__(self, obj):
        self.splits_dtype = getattr(obj, "splits_dtype", None)


def as_row(array, dtype=None):
    """`array` viewed as a RaggedRow whose batch gets row_splits of `dtype`."""
    out = np.asarray(array).view(RaggedRow)
    out.splits_dtype = None if dtype is None else np.dtype(dtype)
    return out


def _plain(array):
    array = np.asarray(array)
    return array.view(np.ndarray) if type(array) is not np.ndarray else array


def host(rt):
    """`rt` with NumPy values and row_splits: a pipeline leaf."""
    from xlaflow.sparse_tensor import traced

    if traced(rt.flat_values, *rt.nested_row_splits):
        raise TypeError("xf.data: a RaggedTensor component must be known (not traced inside "
                        "xf.function) to become a Dataset element")
    values = rt.values
    values = host(values) if isinstance(values, RaggedTensor) else _plain(values)
    return RaggedTensor._unchecked(values, _plain(rt.row_splits))


def viewed(rt, view):
    """`rt` with `view` applied to its values and row_splits (HostTensor views)."""
    values = rt.values
    values = viewed(values, view) if isinstance(values, RaggedTensor) else view(values)
    return RaggedTensor._unchecked(values, view(rt.row_splits))


def spec(rt):
    """TF's spec of one ragged element: [nrows, None per ragged dim, inner dims]."""
    return RaggedTensorSpec.from_value(rt)


def row_spec(row):
    """The RaggedTensorSpec (ragged_rank 0) of a RaggedRow."""
    return RaggedTensorSpec(row.shape, row.dtype, 0, row.splits_dtype or "int64")


def batched(s, dim):
    """`s` as batch reports it: one more (ragged) dimension in front, of size `dim`."""
    shape = None if s.shape is None else [dim, *s.shape]
    return RaggedTensorSpec(shape, s.dtype, s.ragged_rank + 1, s.row_splits_dtype)


def unbatched(s):
    """`s` as unbatch reports it: one dimension less; a ragged_rank-0 spec's rows are dense."""
    from xlaflow.tensors import TensorSpec

    shape = None if s.shape is None else list(s.shape)[1:]
    if s.ragged_rank == 0:
        return TensorSpec(shape, s.dtype)
    return RaggedTensorSpec(shape, s.dtype, s.ragged_rank - 1, s.row_splits_dtype)


def common(a, b):
    """The RaggedTensorSpec both `a` and `b` satisfy (dims that differ become None)."""
    if a.ragged_rank != b.ragged_rank or a.row_splits_dtype != b.row_splits_dtype:
        return None
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
        shape = None
    else:
        shape = [da if da == db else None for da, db in zip(a.shape, b.shape)]
    return RaggedTensorSpec(shape, a.dtype, a.ragged_rank, a.row_splits_dtype)


def _nrows(item):
    return item.nrows_static if isinstance(item, RaggedTensor) else np.shape(item)[0]


def _slice(values, begin, end):
    """Rows begin..end of `values` (an array or a NumPy-backed RaggedTensor)."""
    if not isinstance(values, RaggedTensor):
        return values[begin:end]
    splits = values.row_splits[begin:end + 1]
    return RaggedTensor._unchecked(_slice(values.values, splits[0], splits[-1]),
                                   splits - splits[0])


def _concat(items, what):
    """Items (arrays or RaggedTensors of one ragged_rank) joined along their rows."""
    if not isinstance(items[0], RaggedTensor):
        inner = {np.shape(a)[1:] for a in items}
        if len(inner) > 1:
            raise ValueError(f"Dataset.{what}: the ragged component's rows differ in their "
                             f"uniform inner dimensions {sorted(inner)}; only the ragged "
                             "dimensions may vary (for ragged_batch, those of unknown size "
                             "in element_spec, else the first: from_generator's "
                             "output_signature can mark more as None)")
        texts = {np.asarray(a).dtype.kind for a in items}
        if "O" in texts and texts & {"U", "S"}:  # bytes beside str: TF's form, bytes
            from xlaflow.data.structure import bytes_array
            items = [bytes_array(a) if np.asarray(a).dtype.kind == "U" else a for a in items]
        return np.concatenate([_plain(a) for a in items])
    dtype = items[0].row_splits.dtype
    offsets = np.cumsum([0] + [_nrows(rt.values) for rt in items])
    splits = [items[0].row_splits[:1].astype(dtype)] + [
        (rt.row_splits[1:] + offset).astype(dtype) for rt, offset in zip(items, offsets)]
    return RaggedTensor._unchecked(_concat([rt.values for rt in items], what),
                                   np.concatenate(splits))


def stack(column, what="batch"):
    """RaggedRows or RaggedTensors as one RaggedTensor with a new outer ragged dimension
    (TF's batch of ragged components): row i of the result is column[i]."""
    first = column[0]
    if isinstance(first, RaggedTensor):
        ranks = {rt.ragged_rank for rt in column}
        if len(ranks) > 1:
            raise ValueError(f"Dataset.{what}: RaggedTensor components of one batch must "
                             f"have one ragged_rank; received {sorted(ranks)}")
        dtype = first.row_splits.dtype
    else:
        dtype = getattr(first, "splits_dtype", None) or splits_dtype()
    lengths = [_nrows(item) for item in column]
    splits = np.zeros(len(column) + 1, dtype)
    np.cumsum(lengths, out=splits[1:])
    return RaggedTensor._unchecked(_concat(list(column), what), splits)


class Rows:
    """A RaggedTensor split along its first dimension (TF's from_tensor_slices/unbatch of
    a ragged component): row i is dense (a RaggedRow) for ragged_rank 1, else a RaggedTensor
    of one ragged dimension less."""

    def __init__(self, rt):
        self._rt = rt
        self.shape = (rt.nrows_static,)
        self.ndim = rt.ndim
        self.dtype = rt.dtype
        self._splits = np.asarray(rt.row_splits)

    def __len__(self):
        return self.shape[0]

    def row(self, i):
        out = _slice(self._rt.values, self._splits[i], self._splits[i + 1])
        return out if isinstance(out, RaggedTensor) else as_row(out, self._splits.dtype)

    def __getitem__(self, rows):
        """The rows at `rows` (an integer array) as one RaggedTensor, as batch stacks them."""
        return stack([self.row(int(i)) for i in rows])

    def element_spec(self):
        rt = self._rt
        inner = list(rt.flat_values.shape[1:])
        return RaggedTensorSpec([None] * rt.ragged_rank + inner, rt.dtype, rt.ragged_rank - 1,
                                rt.row_splits.dtype)


def conform(value, spec_, label):
    """A generator's `value` for a RaggedTensorSpec, held on the host and checked against
    the spec; errors start with `label` (which element, component)."""
    from xlaflow.data.structure import same_dtype

    if spec_.ragged_rank == 0:  # a dense row, as TF decodes such a component
        if isinstance(value, RaggedTensor):
            raise TypeError(f"{label} is a RaggedTensor where the signature expects {spec_} "
                            "(ragged_rank 0: a dense row)")
        array = np.asarray(value) if hasattr(value, "dtype") else np.asarray(
            value, dtype=spec_.dtype if spec_.dtype.kind not in "USO" else None)
        have = (array.dtype, array.shape)
    else:
        if not isinstance(value, RaggedTensor):
            raise TypeError(f"{label} is a {type(value).__name__} where the signature "
                            f"expects {spec_}; yield an xf.RaggedTensor (e.g. "
                            "xf.ragged.constant(rows))")
        if value.ragged_rank != spec_.ragged_rank:
            raise ValueError(f"{label} has ragged_rank {value.ragged_rank} where the "
                             f"signature expects {spec_}")
        value = host(value)
        have = (value.flat_values.dtype, tuple(value.shape.as_list()))
    dtype, shape = have
    # cast within a kind (int64 -> int32 as TF converts), never across (float -> int)
    if not same_dtype(dtype, spec_.dtype) and np.dtype(dtype).kind != np.dtype(spec_.dtype).kind:
        raise TypeError(f"{label} has dtype {np.dtype(dtype).name} where the signature "
                        f"expects {spec_}")
    if not shapes_compatible(spec_.shape, shape):
        raise ValueError(f"{label} has shape {list(shape)} where the signature expects "
                         f"{spec_} (None dimensions accept any size)")
    if spec_.ragged_rank == 0:
        if array.ndim == 0:
            raise ValueError(f"{label} is a scalar where the signature expects {spec_}")
        if array.dtype.kind not in "USO":
            array = array.astype(spec_.dtype)
        return as_row(array.copy(), spec_.row_splits_dtype)
    if np.dtype(dtype).kind not in "USO":
        value = value.with_flat_values(np.asarray(value.flat_values, spec_.dtype))
        value = host(value)
    return _with_splits(value, spec_.row_splits_dtype)


def _with_splits(rt, dtype):
    values = rt.values
    if isinstance(values, RaggedTensor):
        values = _with_splits(values, dtype)
    return RaggedTensor._unchecked(values, np.asarray(rt.row_splits, dtype))


def empty(spec_):
    """A RaggedTensor (or RaggedRow) with no values fitting `spec_` (unknown sizes 0)."""
    dims = [d or 0 for d in (spec_.shape or [0] * (spec_.ragged_rank + 1))]
    inner = dims[spec_.ragged_rank + 1:]
    dtype = np.dtype(spec_.dtype) if np.dtype(spec_.dtype).kind not in "USO" else np.dtype("U")
    out = np.zeros([0] + inner, dtype)
    if spec_.ragged_rank == 0:
        return as_row(np.zeros(dims, dtype), spec_.row_splits_dtype)
    for _ in range(spec_.ragged_rank - 1):
        out = RaggedTensor._unchecked(out, np.zeros(1, spec_.row_splits_dtype))
    return RaggedTensor._unchecked(out, np.zeros(dims[0] + 1, spec_.row_splits_dtype))
