"""Dataset sources: slices of arrays, a single element, a Python generator, an integer range
and an endless counter.

Sources fix the element structure and spec that every later stage builds on, so they
validate their input up front and name what is wrong.
"""

from __future__ import annotations

import numpy as np

from xlaflow.data import element_checks, ragged_elements, sparse_elements, structure
from xlaflow.data.arguments import integer_argument
from xlaflow.data.dataset import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.errors import Failed
from xlaflow.data.passes import OnePass, closing
from xlaflow.ragged_tensor import RaggedTensor
from xlaflow.sparse_tensor import SparseTensor, SparseTensorSpec
from xlaflow.tensors import TensorSpec, as_dtype


def _read_only(leaf):
    # Elements are views of the given arrays (no copy of a large training set); a read-only
    # view makes an in-place edit by a consumer fail instead of silently changing the data
    # every later pass sees, as TF's immutable tensors would. The caller's array stays
    # writable.
    if isinstance(leaf, np.ndarray):
        leaf = leaf.view()
        leaf.flags.writeable = False
    return leaf


class TensorSlices(Dataset):
    """`from_tensor_slices`: element i is every leaf's row i."""

    def __init__(self, tensors):
        element = structure.normalize(tensors)
        self._structure = element
        # a SparseTensor's entries are grouped by row once, for every pass
        self._leaves = [sparse_elements.Rows(leaf) if type(leaf) is SparseTensor and leaf.ndim
                        else ragged_elements.Rows(leaf) if type(leaf) is RaggedTensor
                        else _read_only(leaf) for leaf in structure.flatten(element)]
        if not self._leaves:
            raise ValueError("Dataset.from_tensor_slices: the structure has no arrays")
        names = structure.paths(element)
        for path, leaf in zip(names, self._leaves):
            if np.ndim(leaf) == 0:
                raise ValueError(
                    f"Dataset.from_tensor_slices: component {path or '(the value)'} is a "
                    "scalar; slicing needs at least one dimension (use from_tensors for a "
                    "single element)")
        lengths = [leaf.shape[0] for leaf in self._leaves]
        if len(set(lengths)) > 1:
            listed = ", ".join(f"{p}: {n}" for p, n in zip(names, lengths))
            raise ValueError(
                "Dataset.from_tensor_slices: all components must have the same size in their "
                f"first dimension; received {listed}")
        self._n = lengths[0]
        self._spec = structure.pack_as(element, [
            leaf.element_spec() if type(leaf) is ragged_elements.Rows else
            (SparseTensorSpec if type(leaf) is sparse_elements.Rows else TensorSpec)(
                leaf.shape[1:], leaf.dtype) for leaf in self._leaves])

    def _iterate(self):
        leaves = self._leaves
        if len(leaves) == 1 and not isinstance(self._structure, (tuple, dict)) and \
                type(leaves[0]) is np.ndarray and leaves[0].dtype != object:
            yield from iter(leaves[0])  # the common single-array case, without repacking
            return
        pack = structure.packer(self._structure)
        for i in range(self._n):  # row: a bytes value stays a 0-d object array (a record)
            yield pack([structure.row(leaf, i) for leaf in leaves])

    def _cardinality(self):
        return self._n

    def _rows(self):
        return self, lambda: iter(range(self._n))

    def gather(self, rows):
        """The batch of elements at `rows` (an integer array), stacked."""
        return structure.pack_as(self._structure, [leaf[rows] for leaf in self._leaves])


class Tensors(Dataset):
    """`from_tensors`: the whole value as a single element."""

    def __init__(self, tensors):
        element = structure.normalize(tensors)
        self._element = structure.pack_as(
            element, [_read_only(leaf) for leaf in structure.flatten(element)])
        self._spec = structure.spec_of(element)

    def _iterate(self):
        yield self._element

    def _cardinality(self):
        return 1


class Generator(OnePass, Dataset):
    """`from_generator`: each pass calls `generator(*args)` afresh and checks what it yields."""

    def __init__(self, generator, output_signature, args, output_types, output_shapes):
        if not callable(generator):
            raise TypeError(
                "Dataset.from_generator: `generator` must be a callable that returns an "
                f"iterator (the generator function, not a {type(generator).__name__} object), "
                "so that every pass over the dataset can start anew")
        if output_signature is None:
            if output_types is None:
                raise TypeError("Dataset.from_generator: give output_signature, a structure "
                                "of xf.TensorSpec describing each element")
            # TF's older form: dtypes, and optionally shapes, as parallel structures.
            shapes = output_shapes if output_shapes is not None else structure.map_structure(
                lambda _: None, output_types)
            output_signature = structure.pack_as(output_types, [
                TensorSpec(shape, dtype) for dtype, shape in zip(
                    structure.flatten(output_types),
                    structure.flatten_up_to(output_types, shapes, "output_shapes"))])
        if not structure.is_spec_structure(output_signature):
            raise TypeError("Dataset.from_generator: output_signature must be a (nested) "
                            "structure of xf.TensorSpec (xf.SparseTensorSpec for sparse, "
                            "xf.RaggedTensorSpec for ragged "
                            "components); received "
                            f"{structure.describe(output_signature)}")
        self._generator = generator
        self._args = tuple(args) if args is not None else ()
        self._spec = output_signature

    def _pass(self, tolerant):
        # Tolerant (ignore_errors): an element unlike the signature is dropped and the
        # generator goes on; an error the generator raises finishes it, and so the pass
        # (as in TF). The generator is closed before that error is handed on.
        try:
            with closing(iter(self._generator(*self._args))) as source:
                for index, value in enumerate(source):
                    try:
                        out = element_checks.conform(value, self._spec, "Dataset.from_generator",
                                                index)
                    except Exception as e:
                        if not tolerant:
                            raise
                        out = Failed(e)
                    yield out
        except Exception as e:
            if not tolerant:
                raise
            yield Failed(e)

    def _cardinality(self):
        return UNKNOWN_CARDINALITY


class Range(Dataset):
    """`Dataset.range`: integers as scalars of `output_type` (int64 by default)."""

    def __init__(self, *args, output_type=None):
        if not 1 <= len(args) <= 3:
            raise TypeError(f"Dataset.range takes 1 to 3 arguments (start, stop, step); "
                            f"received {len(args)}")
        names = ("stop",) if len(args) == 1 else ("start", "stop", "step")
        self._range = range(*(integer_argument(a, "range", n) for a, n in zip(args, names)))
        self._dtype = as_dtype(output_type if output_type is not None else "int64")
        self._spec = TensorSpec((), self._dtype)

    def _iterate(self):
        make = self._dtype.type
        for value in self._range:
            yield make(value)

    def _cardinality(self):
        return len(self._range)


class Counter(Dataset):
    """`Dataset.counter` (TF's experimental.Counter): start, start + step, ... forever."""

    def __init__(self, start, step, dtype):
        self._start = integer_argument(start, "counter", "start")
        self._step = integer_argument(step, "counter", "step")
        self._dtype = as_dtype(dtype)
        if self._dtype.kind not in "iu":
            raise TypeError(f"Dataset.counter: dtype must be an integer type; received "
                            f"{self._dtype.name}")
        self._spec = TensorSpec((), self._dtype)

    def _iterate(self):
        make, value = self._dtype.type, self._start
        while True:
            yield make(value)
            value += self._step

    def _cardinality(self):
        return INFINITE_CARDINALITY
