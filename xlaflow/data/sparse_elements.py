"""SparseTensor components of Dataset elements, held on the host as TF's tf.data holds them.

The pipeline keeps NumPy, so a sparse component is an xf.SparseTensor whose indices (int64)
and values are NumPy arrays; slicing, batching and unbatching work on those arrays alone.
"""

from __future__ import annotations

import numpy as np

from xlaflow.sparse_tensor import SparseTensor, SparseTensorSpec


def host(sp):
    """`sp` with NumPy indices (int64, TF's dtype) and values: a pipeline leaf."""
    from xlaflow.sparse_tensor import traced

    if traced(sp.indices, sp.values):
        raise TypeError("xf.data: a SparseTensor component must be known (not traced inside "
                        "xf.function) to become a Dataset element")
    values = np.asarray(sp.values)
    if type(values) is not np.ndarray:
        values = values.view(np.ndarray)
    indices = np.asarray(sp.indices, np.int64)
    if type(indices) is not np.ndarray:
        indices = indices.view(np.ndarray)
    return SparseTensor._unchecked(indices, values, sp._dense_shape)


def viewed(sp, view):
    """`sp` with `view` applied to its indices and values (HostTensor views for iteration)."""
    return SparseTensor._unchecked(view(sp.indices), view(sp.values), sp._dense_shape)


def spec(sp):
    return SparseTensorSpec(sp._dense_shape, sp.values.dtype)


def conform(value, spec_, label):
    """A generator's `value` for a SparseTensorSpec: held on the host, checked against the
    spec's dtype and dense shape; errors start with `label` (which element, component)."""
    if not isinstance(value, SparseTensor):
        raise TypeError(f"{label} is a {type(value).__name__} where the signature expects "
                        f"{spec_}")
    value = host(value)
    kinds = {np.dtype(value.values.dtype).kind, np.dtype(spec_.dtype).kind}
    if np.dtype(value.values.dtype) != np.dtype(spec_.dtype) and not kinds <= set("USO"):
        raise TypeError(f"{label} has dtype {value.values.dtype.name} where the signature "
                        f"expects {spec_}")
    if not spec_.shape_compatible(value._dense_shape):
        raise ValueError(f"{label} has dense_shape {list(value._dense_shape)} where the "
                         f"signature expects {spec_}")
    return value


def empty(spec_):
    """A SparseTensor with no entries fitting `spec_` (unknown sizes taken as 0)."""
    dims = tuple(d or 0 for d in (spec_.shape or ()))
    return SparseTensor._unchecked(np.zeros((0, len(dims)), np.int64),
                                   np.zeros((0,), np.dtype(spec_.dtype)), dims)


class Rows:
    """A rank >= 1 SparseTensor split along its first dimension: row i is the rank-(k-1)
    SparseTensor of the entries whose first index is i (TF's from_tensor_slices/unbatch).

    The entries are grouped by row once (a stable sort keeps each row's order), so a pass
    over all rows costs one sort, not one scan of the entries per row.
    """

    def __init__(self, sp):
        if sp.ndim == 0:
            raise ValueError("a scalar SparseTensor has no rows to slice")
        order = np.argsort(sp.indices[:, 0], kind="stable")
        self._indices = sp.indices[order]
        self._values = sp.values[order]
        self._dense_shape = sp._dense_shape
        self._starts = np.searchsorted(self._indices[:, 0], np.arange(sp._dense_shape[0] + 1))
        self.shape = sp._dense_shape
        self.dtype = self._values.dtype
        self.ndim = len(sp._dense_shape)

    def __len__(self):
        return self._dense_shape[0]

    def row(self, i):
        begin, end = self._starts[i], self._starts[i + 1]
        return SparseTensor._unchecked(self._indices[begin:end, 1:], self._values[begin:end],
                                       self._dense_shape[1:])

    def __getitem__(self, rows):
        """The rows at `rows` (an integer array) as one SparseTensor, as batch stacks them."""
        return stack([self.row(int(i)) for i in rows])


def stack(column, what="batch"):
    """SparseTensors of one rank as one with a new leading dimension (TF's batch of sparse
    components): each other dimension of the dense shape is the largest in the column."""
    ranks = {sp.ndim for sp in column}
    if len(ranks) != 1:
        raise ValueError(f"Dataset.{what}: SparseTensor components of one batch must have one "
                         f"rank; received dense shapes {[list(sp._dense_shape) for sp in column]}")
    rank = ranks.pop()
    dims = tuple(max(sp._dense_shape[d] for sp in column) for d in range(rank))
    counts = [sp.indices.shape[0] for sp in column]
    position = np.repeat(np.arange(len(column), dtype=np.int64), counts)[:, None]
    indices = np.concatenate([np.asarray(sp.indices, np.int64).reshape(len(sp.indices), rank)
                              for sp in column])
    values = np.concatenate([np.asarray(sp.values) for sp in column])
    return SparseTensor._unchecked(np.concatenate([position, indices], axis=1), values,
                                   (len(column),) + dims)
