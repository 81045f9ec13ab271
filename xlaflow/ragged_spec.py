"""tf.RaggedTensorSpec: a RaggedTensor's shape (None on ragged dims), dtype, ragged_rank
and row_splits dtype, as a Dataset's element_spec describes a ragged component."""

from __future__ import annotations

import numpy as np

from xlaflow.ragged_tensor import RaggedTensor, splits_dtype
from xlaflow.tensor_shape import TensorShape
from xlaflow.tensors import shapes_compatible


class RaggedTensorSpec:
    """TF's RaggedTensorSpec(shape, dtype, ragged_rank, row_splits_dtype)."""

    __slots__ = ("shape", "dtype", "ragged_rank", "row_splits_dtype")

    def __init__(self, shape=None, dtype="float32", ragged_rank=None,
                 row_splits_dtype="int64", flat_values_spec=None):
        from xlaflow.tensors import SpecShape, TensorSpec

        if flat_values_spec is not None:
            raise NotImplementedError("xf.RaggedTensorSpec: flat_values_spec is not "
                                      "provided; give shape and dtype")
        if isinstance(shape, TensorShape):
            shape = None if shape.rank is None else shape.as_list()
        self.dtype = TensorSpec((), dtype).dtype
        self.shape = None if shape is None else SpecShape(
            None if d is None else int(d) for d in shape)
        rank = None if shape is None else len(self.shape)
        if ragged_rank is None:
            if rank is None:
                raise ValueError("xf.RaggedTensorSpec: give ragged_rank when shape is "
                                 "unknown")
            ragged_rank = rank - 1
        # ragged_rank 0 (TF allows it) describes a dense row of a ragged value: what a
        # Dataset sliced from a RaggedTensor yields, and what its batch makes ragged again
        if not isinstance(ragged_rank, (int, np.integer)) or ragged_rank < 0 or (
                rank is not None and ragged_rank >= rank):
            raise ValueError(f"xf.RaggedTensorSpec: ragged_rank must be an int in "
                             f"[0, rank - 1] (rank {rank}); received {ragged_rank!r}")
        self.ragged_rank = int(ragged_rank)
        self.row_splits_dtype = splits_dtype(row_splits_dtype)

    @classmethod
    def from_value(cls, value):
        if not isinstance(value, RaggedTensor):
            raise TypeError(f"RaggedTensorSpec.from_value: value must be a RaggedTensor; "
                            f"received {type(value).__name__}")
        return cls(value.shape, value.dtype, value.ragged_rank, value.row_splits.dtype)

    def is_compatible_with(self, other):
        """True if `other` (a RaggedTensorSpec or RaggedTensor) fits shape, dtype, ragged_rank
        and row_splits dtype."""
        if isinstance(other, RaggedTensor):
            other = RaggedTensorSpec.from_value(other)
        if not isinstance(other, RaggedTensorSpec):
            return False
        same_dtype = np.dtype(self.dtype) == np.dtype(other.dtype) or (
            np.dtype(self.dtype).kind in "USO" and np.dtype(other.dtype).kind in "USO")
        return same_dtype and self.ragged_rank == other.ragged_rank and \
            self.row_splits_dtype == other.row_splits_dtype and \
            shapes_compatible(self.shape, other.shape)

    def __eq__(self, other):
        return isinstance(other, RaggedTensorSpec) and self.shape == other.shape and \
            self.dtype == other.dtype and self.ragged_rank == other.ragged_rank and \
            self.row_splits_dtype == other.row_splits_dtype

    def __hash__(self):
        return hash(("ragged", self.shape, self.dtype, self.ragged_rank,
                     self.row_splits_dtype))

    def __repr__(self):
        shape = "None" if self.shape is None else repr(list(self.shape))
        return (f"RaggedTensorSpec(TensorShape({shape}), tf.{self.dtype.name}, "
                f"{self.ragged_rank}, tf.{self.row_splits_dtype.name})")
