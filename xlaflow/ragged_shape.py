"""tf.shape and tf.size of a RaggedTensor: TF's DynamicRaggedShape and the count of values.

`xf.shape(rt)` answers what TF 2's `tf.shape(rt)` does: a shape whose dimensions are the
number of rows, each ragged axis (whose length differs from row to row, so indexing it is
an error, as in TF) and the flat values' inner dimensions. Row counts and value counts are
static in xlaflow (each new one traces again), so `xf.shape(rt)[0]` and `xf.size(rt)` are
NumPy scalars even inside xf.function and can size other tensors there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.ragged_tensor import RaggedTensor
from xlaflow.tensors import as_dtype, int32


@jax.tree_util.register_pytree_node_class
class DynamicRaggedShape:
    """The shape of a RaggedTensor (TF's tf.experimental.DynamicRaggedShape): its row
    partitions, outermost first, and the shape of its flat values (`inner_shape`)."""

    def __init__(self, row_splits, uniform, inner_shape, dtype=int32):
        self._splits = tuple(row_splits)  # one per ragged axis, outermost first
        self._uniform = tuple(uniform)  # each partition's uniform row length, or None
        self._inner = tuple(int(d) for d in inner_shape)
        self._dtype = np.dtype(as_dtype(dtype))

    @classmethod
    def from_tensor(cls, t, dtype=int32):
        """The shape of `t`: a RaggedTensor's partitions, or a dense tensor's dims."""
        if not isinstance(t, RaggedTensor):
            return cls((), (), np.shape(t), dtype)
        splits, uniform, level = [], [], t
        while isinstance(level, RaggedTensor):
            splits.append(level._row_splits)
            uniform.append(level._uniform)
            level = level._values
        return cls(splits, uniform, level.shape, dtype)

    # -- pytree: the splits are traced; partition lengths and inner dims are static ------
    def tree_flatten(self):
        return self._splits, (self._uniform, self._inner, self._dtype)

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        return cls(leaves, *aux)

    # -- TF's surface -----------------------------------------------------------------------
    @property
    def rank(self):
        return len(self._splits) + len(self._inner)

    @property
    def num_row_partitions(self):
        return len(self._splits)

    @property
    def dtype(self):
        return self._dtype

    @property
    def inner_shape(self):
        """The flat values' shape, [number of values, inner dims...]."""
        return np.asarray(self._inner, self._dtype)

    def _nrows(self):
        return self._splits[0].shape[0] - 1 if self._splits else self._inner[0]

    def __getitem__(self, index):
        if isinstance(index, slice):
            raise NotImplementedError(
                "xf.shape(rt)[a:b] (a DynamicRaggedShape slice) is not provided; index one "
                "axis at a time, or use rt.shape (a TensorShape with None at ragged axes)")
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"DynamicRaggedShape indices must be ints; received {index!r}")
        axis = int(index) + self.rank if index < 0 else int(index)
        if not 0 <= axis < self.rank:
            raise IndexError(f"DynamicRaggedShape index {index} is out of range for rank "
                             f"{self.rank}")
        if axis == 0:
            return np.asarray(self._nrows(), self._dtype)
        if axis <= self.num_row_partitions:
            if self._uniform[axis - 1] is None:
                raise ValueError(f"Index {index} is not uniform")  # TF's words
            return np.asarray(self._uniform[axis - 1], self._dtype)
        return np.asarray(self._inner[axis - self.num_row_partitions], self._dtype)

    def static_lengths(self, ragged_lengths=True):
        """Each axis' length as Python values: rows, then per ragged axis the tuple of its
        row lengths (or None when they are traced, or ragged_lengths=False), then the
        inner dims. A uniform axis gives its length."""
        out = [self._nrows()]
        for splits, uniform in zip(self._splits, self._uniform):
            if uniform is not None:
                out.append(int(uniform))
            elif ragged_lengths and not isinstance(splits, jax.core.Tracer):
                host = np.asarray(splits)
                out.append(tuple(int(n) for n in host[1:] - host[:-1]))
            else:
                out.append(None)
        return out + list(self._inner[1:])

    def __repr__(self):
        return (f"<DynamicRaggedShape lengths={self.static_lengths()} "
                f"num_row_partitions={self.num_row_partitions}>")

    # -- tensors of this shape ----------------------------------------------------------
    def _filled(self, value, dtype):
        level = jnp.full(self._inner, value, as_dtype(dtype))
        for splits, uniform in reversed(list(zip(self._splits, self._uniform))):
            level = RaggedTensor._unchecked(level, splits, uniform)
        return level


def shape(input, out_type=int32, name=None):
    """tf.shape of a RaggedTensor: its DynamicRaggedShape."""
    return DynamicRaggedShape.from_tensor(input, out_type)


def size(input, out_type=int32, name=None):
    """tf.size of a RaggedTensor: how many values it holds (its flat values' size)."""
    return np.asarray(np.prod(input.flat_values.shape, dtype=np.int64), as_dtype(out_type))


def zeros(shape, dtype="float32", name=None):
    """tf.zeros of a DynamicRaggedShape: a RaggedTensor of zeros with its row partitions."""
    return shape._filled(0, dtype)


def ones(shape, dtype="float32", name=None):
    """tf.ones of a DynamicRaggedShape: a RaggedTensor of ones with its row partitions."""
    return shape._filled(1, dtype)
