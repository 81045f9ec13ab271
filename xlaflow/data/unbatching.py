"""unbatch and rebatch: elements split along their first axis, the rows passed on one by
one (unbatch) or regrouped into batches of another size (rebatch).

Under ignore_errors an input that fails, or whose components do not share their first
dimension, is dropped; rebatch also loses the rows gathered for the batch it interrupts.
"""

from __future__ import annotations

import collections
import itertools

import numpy as np

from xlaflow.data import ragged_elements, sparse_elements, structure
from xlaflow.data.arguments import integer_argument
from xlaflow.data.dataset import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.errors import Failed
from xlaflow.data.passes import OnePass, upstream
from xlaflow.ragged_spec import RaggedTensorSpec
from xlaflow.ragged_tensor import RaggedTensor
from xlaflow.sparse_tensor import SparseTensor


def _no_scalars(spec, what):
    for path, component in zip(structure.paths(spec), structure.flatten(spec)):
        if component.shape == ():
            raise ValueError(f"Dataset.{what}: component{structure.where(path)} is a scalar; "
                             f"{what} needs a first dimension to split")


def _split(element, index, what):
    """`element`'s leaves and their shared first dimension (an error names the sizes)."""
    leaves = [sparse_elements.Rows(leaf) if type(leaf) is SparseTensor and leaf.ndim else
              ragged_elements.Rows(leaf) if type(leaf) is RaggedTensor else
              leaf.view(np.ndarray) if type(leaf) is ragged_elements.RaggedRow else leaf
              for leaf in structure.flatten(element)]  # a ragged row's rows are dense
    sizes = [np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in leaves]
    if None in sizes or len(set(sizes)) != 1:
        listed = ", ".join(f"{p or 'element'}: {np.shape(leaf)}" for p, leaf in
                           zip(structure.paths(element), leaves))
        raise ValueError(f"Dataset.{what}: element {index}'s components must share their "
                         f"first dimension; received {listed}")
    return leaves, sizes[0]


def _unbatched(spec):
    return structure.map_structure(
        lambda s: ragged_elements.unbatched(s) if type(s) is RaggedTensorSpec else
        type(s)(None if s.shape is None else s.shape[1:], s.dtype), spec)


def _split_cardinality(n):
    # Only an infinite or empty input has a certain answer: the other first dimensions
    # are known for sure only by reading the elements (map's spec shows the first).
    return n if n in (INFINITE_CARDINALITY, 0) else UNKNOWN_CARDINALITY


class Unbatch(OnePass, Dataset):
    """`Dataset.unbatch`: each element split along its first dimension (shared by all its
    components) into that many elements."""

    def __init__(self, dataset):
        self._input = dataset
        _no_scalars(dataset.element_spec, "unbatch")

    def _pass(self, tolerant):
        with upstream(self._input, tolerant) as it:
            for index, element in enumerate(it):
                if type(element) is Failed:
                    yield element
                    continue
                try:
                    leaves, size = _split(element, index, "unbatch")
                except ValueError as e:
                    if not tolerant:
                        raise
                    yield Failed(e)
                    continue
                for i in range(size):
                    yield structure.pack_as(element, [structure.row(leaf, i) for leaf in leaves])

    def _infer_spec(self):
        return _unbatched(self._input.element_spec)

    def _cardinality(self):
        return _split_cardinality(self._input._cardinality())


def _batch_sizes(value):
    """rebatch's batch_size: one size or a vector of sizes, each >= 1."""
    array = None if isinstance(value, str) else np.asarray(value)
    if array is not None and array.ndim == 1 and array.size:
        sizes = [integer_argument(v, "rebatch", "batch_size") for v in array]
    elif array is not None and array.ndim == 1:
        raise ValueError("Dataset.rebatch: batch_size must not be an empty vector")
    else:
        sizes = [integer_argument(value, "rebatch", "batch_size")]
    if min(sizes) < 1:
        raise ValueError(f"Dataset.rebatch: batch_size must be >= 1 (each of them); "
                         f"received {value!r}")
    return sizes


class Rebatch(OnePass, Dataset):
    """`Dataset.rebatch`: the rows of the input batches regrouped into batches of
    `batch_size` (a vector of sizes is cycled through), as `unbatch().batch(...)` would.

    Rows are sliced out of the input batches and concatenated, never split one by one.
    """

    def __init__(self, dataset, batch_size, drop_remainder=False):
        self._sizes = _batch_sizes(batch_size)
        self._drop = bool(drop_remainder)
        _no_scalars(dataset.element_spec, "rebatch")
        if any(isinstance(s, RaggedTensorSpec) for s in structure.flatten(dataset.element_spec)):
            raise NotImplementedError(
                "Dataset.rebatch of ragged components is not provided in xlaflow; use "
                "unbatch().batch(batch_size), which regroups their rows")
        self._input = dataset
        known = self._drop and len(set(self._sizes)) == 1  # TF's rule for a static size
        self._spec = structure.with_leading(_unbatched(dataset.element_spec),
                                            self._sizes[0] if known else None)

    def _pass(self, tolerant):
        pieces = collections.deque()  # [leaves, rows already taken] of the input batches
        sizes = itertools.cycle(self._sizes)
        need, have, first = next(sizes), 0, None
        with upstream(self._input, tolerant) as it:
            for index, element in enumerate(it):
                failed = element if type(element) is Failed else None
                if failed is None:
                    try:
                        leaves, size = _split(element, index, "rebatch")
                    except ValueError as e:
                        if not tolerant:
                            raise
                        failed = Failed(e)
                if failed is not None:
                    # As TF's rebatch: the rows gathered for the batch being built are lost
                    # with it (all the rows held: a full batch is passed on at once), and
                    # that batch is then built anew, of the same size.
                    pieces.clear()
                    have = 0
                    yield failed
                    continue
                first = element if first is None else first
                if size:
                    pieces.append([leaves, 0])
                    have += size
                while have >= need:
                    yield self._batch(first, pieces, need, tolerant)
                    have, need = have - need, next(sizes)
        if have and not self._drop:
            yield self._batch(first, pieces, have, tolerant)

    def _batch(self, first, pieces, count, tolerant):
        try:
            return structure.pack_as(first, self._take(pieces, count))
        except ValueError as e:  # rows of unequal shapes: their rows are used up either way
            if not tolerant:
                raise
            return Failed(e)

    @staticmethod
    def _take(pieces, count):
        parts = []
        while count:
            piece = pieces[0]
            leaves, start = piece
            rows = min(count, np.shape(leaves[0])[0] - start)
            parts.append([[leaf.row(i) for i in range(start, start + rows)]
                          if type(leaf) is sparse_elements.Rows else leaf[start:start + rows]
                          for leaf in leaves])
            piece[1] += rows
            if piece[1] == np.shape(leaves[0])[0]:
                pieces.popleft()
            count -= rows
        if len(parts) == 1 and not any(type(p) is list for p in parts[0]):
            return parts[0]
        try:  # a sparse column is its rows, stacked as batch stacks them
            return [sparse_elements.stack([r for rows in column for r in rows], "rebatch")
                    if type(column[0]) is list else np.concatenate(column)
                    for column in zip(*parts)]
        except ValueError as e:
            raise ValueError(f"Dataset.rebatch: the input batches' rows differ in shape, so "
                             f"they cannot be regrouped: {e}") from None

    def _cardinality(self):
        return _split_cardinality(self._input._cardinality())
