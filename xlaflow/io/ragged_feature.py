"""TF's tf.io.RaggedFeature: a feature's value list parsed as a RaggedTensor row, cut into
nested rows by partition features (row splits, lengths, starts, limits, row ids).

Everything stays on the host: values are NumPy (int64, float32, bytes objects) and
row_splits NumPy of row_splits_dtype, as xf.data holds ragged elements. One Example gives
what TF's parse_single_example gives: a 1-D array without partitions (dense, also when
only UniformRowLength partitions reshape it), else a RaggedTensor; a batch of Examples
stacks those as the rows of one more ragged dimension (TF's parse_example). Partitions
are always checked (host arrays, cheap): `validate` is kept for TF's signature only.
"""

from __future__ import annotations

import collections

import numpy as np

from xlaflow.errors import InvalidArgumentError
from xlaflow.ragged_tensor import RaggedTensor, splits_dtype

_FIELDS = ["dtype", "value_key", "partitions", "row_splits_dtype", "validate"]


class RaggedFeature(collections.namedtuple("RaggedFeature", _FIELDS)):
    """A feature parsed as a RaggedTensor (TF's tf.io.RaggedFeature).

    `value_key` names the Example feature holding the flat values (default: the features
    dict's key); `partitions`, outermost first, are RowSplits/RowLengths/RowStarts/
    RowLimits/ValueRowIds(key) naming int64 features, or UniformRowLength(length).
    """

    RowSplits = collections.namedtuple("RowSplits", ["key"])
    RowLengths = collections.namedtuple("RowLengths", ["key"])
    RowStarts = collections.namedtuple("RowStarts", ["key"])
    RowLimits = collections.namedtuple("RowLimits", ["key"])
    ValueRowIds = collections.namedtuple("ValueRowIds", ["key"])
    UniformRowLength = collections.namedtuple("UniformRowLength", ["length"])

    def __new__(cls, dtype, value_key=None, partitions=(), row_splits_dtype="int32",
                validate=False):
        from xlaflow.tensors import as_dtype, is_string_dtype

        if value_key is not None and (not isinstance(value_key, str) or not value_key):
            raise ValueError(f"RaggedFeature: `value_key` must be a non-empty string or "
                             f"None; received {value_key!r}")
        try:
            name = "string" if is_string_dtype(dtype) else as_dtype(dtype).name
        except TypeError:
            name = None
        if name not in ("int64", "float32", "string"):
            raise ValueError(f"RaggedFeature: `dtype` must be int64, float32 or string; "
                             f"received {dtype!r}")
        splits_dtype(row_splits_dtype)  # ValueError unless int32 or int64
        if not isinstance(partitions, (list, tuple)):
            raise TypeError(f"RaggedFeature: `partitions` must be a list or tuple; received "
                            f"{type(partitions).__name__}")
        kinds = (cls.RowSplits, cls.RowLengths, cls.RowStarts, cls.RowLimits,
                 cls.ValueRowIds, cls.UniformRowLength)
        for p in partitions:
            if not isinstance(p, kinds):
                raise TypeError(f"RaggedFeature: each partition must be a RaggedFeature."
                                f"RowSplits, RowLengths, RowStarts, RowLimits, ValueRowIds "
                                f"or UniformRowLength; received {p!r:.80}")
            if isinstance(p, cls.UniformRowLength):
                if isinstance(p.length, bool) or not isinstance(p.length, (int, np.integer)) \
                        or p.length < 1:
                    raise ValueError(f"RaggedFeature: UniformRowLength's length must be an "
                                     f"int >= 1; received {p.length!r}")
            elif not isinstance(p.key, str) or not p.key:
                raise ValueError(f"RaggedFeature: a partition's key must be a non-empty "
                                 f"string; received {p!r}")
        if not isinstance(validate, bool):
            raise TypeError(f"RaggedFeature: `validate` must be a bool; received {validate!r}")
        return super().__new__(cls, dtype, value_key, tuple(partitions), row_splits_dtype,
                               validate)


class Plan:
    """One RaggedFeature checked against its features key, before any Example is read."""

    def __init__(self, key, feature):
        self.value_key = feature.value_key or key
        self.partitions = feature.partitions
        self.dtype = np.dtype(splits_dtype(feature.row_splits_dtype))
        self.keys = [p.key for p in self.partitions
                     if not isinstance(p, RaggedFeature.UniformRowLength)]
        # a uniform partition outside a ragged one needs TF's uniform_row_length, which
        # xf.RaggedTensor does not hold; inside (nearer the values) it is a reshape
        ragged_seen = False
        for p in reversed(self.partitions):
            if not isinstance(p, RaggedFeature.UniformRowLength):
                ragged_seen = True
            elif ragged_seen:
                raise NotImplementedError(
                    f"parse_example: feature {key!r}: a UniformRowLength partition outside "
                    "a ragged one (RowSplits, RowLengths, ...) is not provided (xf."
                    "RaggedTensor has no uniform_row_length); put UniformRowLength "
                    "partitions last (innermost), or give the rows as a RowLengths feature")
        self.inner = tuple(p.length for p in self.partitions  # all inside the ragged ones
                           if isinstance(p, RaggedFeature.UniformRowLength))
        self.key = key

    def build(self, values, parts, index):
        """One Example's result from its flat `values` and its partition features' int64
        arrays (`parts`, by key): the partitions applied innermost first, as TF's."""
        out = values
        for p in reversed(self.partitions):
            if isinstance(p, RaggedFeature.UniformRowLength):
                if out.shape[0] % p.length:
                    self._fail(index, f"{out.shape[0]} values cannot form rows of "
                                      f"UniformRowLength {p.length}")
                out = out.reshape((-1, p.length) + out.shape[1:])
                continue
            nvals = out.nrows_static if isinstance(out, RaggedTensor) else out.shape[0]
            splits = self._splits(p, np.asarray(parts[p.key], np.int64), nvals, index)
            out = RaggedTensor._unchecked(out, splits.astype(self.dtype))
        return out

    def _fail(self, index, message):
        raise InvalidArgumentError(None, None, f"Name: {index}, Feature: {self.key}: "
                                   f"{message}")

    def _splits(self, p, given, nvals, index):
        """A partition feature's values as row_splits over `nvals` values, checked."""
        kind = type(p).__name__
        if isinstance(p, RaggedFeature.RowSplits):
            splits = given
        elif isinstance(p, RaggedFeature.RowLengths):
            if np.any(given < 0):
                self._fail(index, f"RowLengths {p.key!r} must be >= 0; received "
                                  f"{given.tolist()[:20]}")
            splits = np.concatenate([[0], np.cumsum(given)])
        elif isinstance(p, RaggedFeature.RowStarts):
            splits = np.concatenate([given, [nvals]])
        elif isinstance(p, RaggedFeature.RowLimits):
            splits = np.concatenate([[0], given])
        else:  # ValueRowIds: rows 0 .. the last id, as TF's from_value_rowids
            if given.size != nvals or np.any(given < 0) or np.any(np.diff(given) < 0):
                self._fail(index, f"ValueRowIds {p.key!r} must be {nvals} sorted ids >= 0 "
                                  f"(one per value); received {given.tolist()[:20]}")
            counts = np.bincount(given, minlength=int(given.max(initial=-1)) + 1)
            splits = np.concatenate([[0], np.cumsum(counts)])
        splits = splits.astype(np.int64)
        if splits[0] != 0 or np.any(np.diff(splits) < 0) or splits[-1] != nvals:
            self._fail(index, f"{kind} {p.key!r} = {given.tolist()[:20]} does not partition "
                              f"{nvals} values (row_splits {splits.tolist()[:20]} must "
                              f"start at 0, never decrease and end at {nvals})")
        return splits

    def empty(self, values):
        """The result for no Examples: `values` (none) under every partition."""
        out = values.reshape((0,) + self.inner)
        for _ in self.keys:
            out = RaggedTensor._unchecked(out, np.zeros(1, self.dtype))
        return out

    def stack(self, rows, values):
        """Examples' results as the rows of one RaggedTensor (TF's parse_example)."""
        if not rows:
            return RaggedTensor._unchecked(self.empty(values), np.zeros(1, self.dtype))
        return RaggedTensor._unchecked(_concat(rows), _outer(rows, self.dtype))


def _nrows(item):
    return item.nrows_static if isinstance(item, RaggedTensor) else item.shape[0]


def _outer(items, dtype):
    splits = np.zeros(len(items) + 1, dtype)
    np.cumsum([_nrows(item) for item in items], out=splits[1:])
    return splits


def _concat(items):
    """Arrays, or RaggedTensors of one ragged_rank, joined along their rows."""
    if not isinstance(items[0], RaggedTensor):
        return np.concatenate(items)
    offsets = np.cumsum([0] + [_nrows(rt.values) for rt in items])
    splits = [items[0].row_splits[:1]] + [rt.row_splits[1:] + offset
                                          for rt, offset in zip(items, offsets)]
    return RaggedTensor._unchecked(_concat([rt.values for rt in items]),
                                   np.concatenate(splits).astype(items[0].row_splits.dtype))


def viewed(value, view):
    """`value` (an array or a RaggedTensor) with `view` applied to each of its arrays."""
    if not isinstance(value, RaggedTensor):
        return view(value)
    return RaggedTensor._unchecked(viewed(value.values, view), view(value.row_splits))
