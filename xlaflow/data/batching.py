"""batch and padded_batch: consecutive elements stacked along a new first axis (unbatch
and rebatch, which split them off it, are in unbatching.py).

Stacking needs equal shapes, so this is where sizes that vary between elements surface:
batch names the offending element, padded_batch pads. Under ignore_errors a failed element
loses the batch it interrupts, as TF's (its elements were gathered in the failed GetNext).
"""

from __future__ import annotations

import itertools

import numpy as np

from xlaflow.data import ragged_elements, structure
from xlaflow.data.arguments import integer_argument
from xlaflow.data.dataset import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.errors import Failed
from xlaflow.data.passes import OnePass, spec_from_output, upstream
from xlaflow.ragged_spec import RaggedTensorSpec
from xlaflow.ragged_tensor import RaggedTensor, splits_dtype
from xlaflow.sparse_tensor import SparseTensor, SparseTensorSpec
from xlaflow.tensors import TensorSpec

_END = object()


def _batch_size(value, what):
    value = integer_argument(value, what, "batch_size")
    if value < 1:
        raise ValueError(f"Dataset.{what}: batch_size must be >= 1; received {value}")
    return value


def _chunks(it, size, drop_remainder):
    """(index of the first element, list of elements) for each batch of a pass."""
    start = 0
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk or (drop_remainder and len(chunk) < size):
            return
        yield start, chunk
        start += len(chunk)


def _tolerant_batches(dataset, make, size, drop_remainder):
    """A tolerant pass of batches of `dataset`, `make(chunk, start)` building each.

    As TF's batch: a failed element is passed on in place of the batch being gathered (the
    elements read before it are lost) and the next batch starts after it; a batch that
    cannot be built (unequal shapes) fails alone.
    """
    chunk, start = [], 0
    with upstream(dataset, tolerant=True) as it:
        for element in itertools.chain(it, [_END]):
            if type(element) is Failed:
                start += len(chunk)
                chunk = []
                yield element
                continue
            if element is not _END:
                chunk.append(element)
                if len(chunk) < size:
                    continue
            elif not chunk or (drop_remainder and len(chunk) < size):
                return  # the end
            try:
                yield make(chunk, start)
            except Exception as e:  # noqa: BLE001  (handed to ignore_errors)
                yield Failed(e)
            start += len(chunk)
            chunk = []


def _columns(chunk, start, what):
    """Per component, its values across the chunk, in `flatten`'s order.

    Stages upstream keep the elements of a pass alike (map and flat_map check each output,
    from_generator conforms it), so only the leaf counts are compared here; `_explain`
    finds the culprit when stacking fails.
    """
    first = chunk[0]
    if structure.is_flat_tuple(first):
        flat = chunk  # flat tuples, the common `(x, y)`: already one list per element
        alike = all(structure.is_flat_tuple(e) and len(e) == len(first) for e in chunk)
    else:
        flat = [structure.flatten(e) for e in chunk]
        alike = all(len(leaves) == len(flat[0]) for leaves in flat)
    if not alike:
        _explain(chunk, start, what)
    return list(zip(*flat))


def _explain(chunk, start, what):
    """Raise the error that names the first element unlike the batch's first."""
    first = chunk[0]
    for j, element in enumerate(chunk[1:], 1):
        if structure.signature(element) != structure.signature(first):
            raise TypeError(
                f"Dataset.{what}: element {start + j} has structure "
                f"{structure.describe(element)} but element {start} has "
                f"{structure.describe(first)}")
    for path, arrays in zip(structure.paths(first), zip(*map(structure.flatten, chunk))):
        for j, a in enumerate(arrays[1:], 1):
            if not structure.same_dtype(a.dtype, arrays[0].dtype):
                raise TypeError(
                    f"Dataset.{what}: element {start + j}{structure.where(path)} has dtype "
                    f"{a.dtype.name} but element {start}'s has {arrays[0].dtype.name}")
            if what == "batch" and type(a) is np.ndarray and \
                    np.shape(a) != np.shape(arrays[0]):  # sparse and ragged: sizes vary
                raise ValueError(
                    f"Dataset.batch: element {start + j}{structure.where(path)} has shape "
                    f"{np.shape(a)} but element {start}'s (first of its batch) has "
                    f"{np.shape(arrays[0])}; batch needs equal shapes: use padded_batch to pad "
                    "them")


def _batched_cardinality(n, size, drop_remainder):
    if n in (INFINITE_CARDINALITY, UNKNOWN_CARDINALITY):
        return n
    return n // size if drop_remainder else -(-n // size)


class Batch(Dataset):
    """`Dataset.batch`: leaves of `batch_size` consecutive elements stacked on a new axis."""

    def __init__(self, dataset, batch_size, drop_remainder=False):
        self._input = dataset
        self._size = _batch_size(batch_size, "batch")
        self._drop = bool(drop_remainder)

    def _iterate(self):
        rows = self._input._rows()
        if rows is not None:  # rows of arrays: one fancy-indexing per array and batch
            source, indices = rows
            order = indices()
            array = getattr(order, "array", None)  # a whole pass's order, known up front
            if array is not None:
                end = len(array) - len(array) % self._size if self._drop else len(array)
                for begin in range(0, end, self._size):
                    yield source.gather(array[begin:begin + self._size])
                return
            for _, chunk in _chunks(order, self._size, self._drop):
                yield source.gather(np.array(chunk, dtype=np.intp))
            return
        with upstream(self._input) as it:
            for start, chunk in _chunks(it, self._size, self._drop):
                yield self._stack(chunk, start)

    def _iterate_or_fail(self):
        if self._input._rows() is not None:
            return self._iterate()  # rows of arrays: nothing can fail
        return _tolerant_batches(self._input, self._stack, self._size, self._drop)

    def _stack(self, chunk, start):
        columns = _columns(chunk, start, "batch")
        try:
            # np.array stacks equal-shaped arrays several times faster than np.stack
            leaves = [structure.stack(column) for column in columns]
        except ValueError:  # unequal shapes: say which element, then NumPy's words
            _explain(chunk, start, "batch")
            raise
        if any(type(leaf) not in (SparseTensor, RaggedTensor) and
               leaf.shape[1:] != np.shape(column[0])
               for leaf, column in zip(leaves, columns)):
            _explain(chunk, start, "batch")  # e.g. ragged object arrays
            raise ValueError(f"Dataset.batch: cannot stack the batch of elements "
                             f"{start}..{start + len(chunk) - 1}")
        return structure.pack_as(chunk[0], leaves)

    def _infer_spec(self):
        return structure.with_leading(self._input.element_spec,
                                      self._size if self._drop else None)

    def _cardinality(self):
        return _batched_cardinality(self._input._cardinality(), self._size, self._drop)


def _padded_shape(shape, spec, path):
    if shape is None:
        return None if spec.shape is None else (None,) * len(spec.shape)
    dims = tuple(None if d is None or int(d) == -1 else int(d) for d in shape)
    if spec.shape is not None and len(dims) != len(spec.shape):
        raise ValueError(f"Dataset.padded_batch: padded_shapes{structure.where(path)} is "
                         f"{tuple(shape)} (rank {len(dims)}) but the elements have rank "
                         f"{len(spec.shape)} ({spec})")
    return dims


def _padding_value(value, spec, path):
    if value is None:  # TF's default: zero, or the empty string for strings
        return b"" if spec.dtype == object else np.zeros((), spec.dtype)[()]
    if spec.dtype == object:  # bytes (records, parsed string features): kept whole
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        if isinstance(value, str):
            value = value.encode("utf-8")
        if not isinstance(value, (bytes, np.bytes_)):
            raise TypeError(f"Dataset.padded_batch: padding_values{structure.where(path)} "
                            f"must be a string for the string component; received "
                            f"{type(value).__name__} {value!r:.60}")
        return bytes(value)
    if hasattr(value, "dtype") and not structure.same_dtype(value.dtype, spec.dtype):
        raise TypeError(f"Dataset.padded_batch: padding_values{structure.where(path)} has dtype "
                        f"{np.dtype(value.dtype).name} but the component is {spec.dtype.name}")
    value = np.asarray(value, dtype=spec.dtype)
    if value.shape != ():
        raise ValueError(f"Dataset.padded_batch: padding_values{structure.where(path)} must be "
                         f"a scalar; received shape {value.shape}")
    return value[()]


class PaddedBatch(Dataset):
    """`Dataset.padded_batch`: batches padded at the end of each dimension.

    A dimension given in `padded_shapes` pads to that size (a larger element is an error
    naming it); any other (None, -1, or no padded_shapes) pads to the batch's largest. In
    element_spec those others are None: their size may change from batch to batch.
    """

    def __init__(self, dataset, batch_size, padded_shapes=None, padding_values=None,
                 drop_remainder=False):
        self._input = dataset
        self._size = _batch_size(batch_size, "padded_batch")
        self._drop = bool(drop_remainder)
        spec = dataset.element_spec  # the per-component arguments follow its structure
        specs = structure.flatten(spec)
        names = structure.paths(spec)
        for path, component in zip(names, specs):
            if isinstance(component, RaggedTensorSpec):  # TF: "only supported for ... tensor"
                raise TypeError(f"Dataset.padded_batch: component{structure.where(path)} is "
                                f"ragged ({component}); padded_batch is only supported for "
                                "dense components, as in TF: use batch (a RaggedTensor "
                                "batch; its to_tensor() pads) or map to_tensor() first")
            if isinstance(component, SparseTensorSpec):  # TF refuses them too
                raise TypeError(f"Dataset.padded_batch: component{structure.where(path)} is a "
                                f"SparseTensor ({component}); padded batching of sparse "
                                "components is not supported, as in TF: use batch, which "
                                "stacks them with each dimension the batch's largest")
        shapes = [None] * len(specs) if padded_shapes is None else structure.flatten_up_to(
            spec, padded_shapes, "Dataset.padded_batch: padded_shapes")
        if padding_values is None or not isinstance(padding_values, (tuple, dict)):
            values = [padding_values] * len(specs)  # one value for every component, as TF
        else:
            values = structure.flatten_up_to(spec, padding_values,
                                             "Dataset.padded_batch: padding_values")
        self._shapes = [_padded_shape(s, c, p) for s, c, p in zip(shapes, specs, names)]
        self._values = [_padding_value(v, c, p) for v, c, p in zip(values, specs, names)]
        self._spec = structure.pack_as(spec, [
            TensorSpec(None if dims is None else (self._size if self._drop else None,) + dims,
                       c.dtype) for dims, c in zip(self._shapes, specs)])

    def _pad(self, path, arrays, dims, value, start):
        rank = np.ndim(arrays[0])
        for j, a in enumerate(arrays):
            if np.ndim(a) != rank or (dims is not None and len(dims) != np.ndim(a)):
                raise ValueError(
                    f"Dataset.padded_batch: element {start + j}{structure.where(path)} has "
                    f"shape {np.shape(a)}; every element must have rank "
                    f"{rank if dims is None else len(dims)}")
        largest = np.max([np.shape(a) for a in arrays], axis=0) if rank else ()
        target = []
        for axis in range(rank):
            want = None if dims is None else dims[axis]
            if want is None:
                target.append(int(largest[axis]))
                continue
            for j, a in enumerate(arrays):
                if np.shape(a)[axis] > want:
                    raise ValueError(
                        f"Dataset.padded_batch: element {start + j}{structure.where(path)} "
                        f"has shape {np.shape(a)}, larger than padded_shapes "
                        f"{tuple(dims)} in dimension {axis}")
            target.append(want)
        if any(np.asarray(a).dtype == object for a in arrays):  # bytes beside str: bytes
            arrays = [structure.bytes_array(a) if np.asarray(a).dtype.kind == "U" else a
                      for a in arrays]
        dtype = np.result_type(*arrays)  # strings: the widest of the batch
        out = np.full((len(arrays), *target), value, dtype=dtype)
        for j, a in enumerate(arrays):  # `...`: a 0-d object array gives its value
            out[(j, *(slice(0, d) for d in np.shape(a)), Ellipsis)] = a
        return out

    def _iterate(self):
        with upstream(self._input) as it:
            for start, chunk in _chunks(it, self._size, self._drop):
                yield self._padded(chunk, start)

    def _iterate_or_fail(self):
        return _tolerant_batches(self._input, self._padded, self._size, self._drop)

    def _padded(self, chunk, start):
        columns = _columns(chunk, start, "padded_batch")
        paths = structure.paths(chunk[0])
        return structure.pack_as(chunk[0], [
            self._pad(*args, start) for args in zip(paths, columns, self._shapes,
                                                    self._values)])

    def _cardinality(self):
        return _batched_cardinality(self._input._cardinality(), self._size, self._drop)


def _ragged_rank_for(spec, from_output):
    """The ragged_rank ragged_batch gives a dense component (None: it stays dense).

    TF's rule: the last dimension of unknown size; a shape known in full stays dense. But
    xlaflow's map reports its first output's exact shape where TF says None (TF's
    `(None, features)` for sequences reads `(5, features)` here), so where the spec came
    from an output (`from_output`) a known shape proves nothing: its first dimension is
    taken as varying (ragged_rank 0).
    """
    if type(spec) is not TensorSpec or spec.shape is None or len(spec.shape) == 0:
        return None
    unknown = [axis for axis, size in enumerate(spec.shape) if size is None]
    if unknown:
        return max(unknown)
    return 0 if from_output else None


def _ragged_shape(shape, ragged_rank):
    # a shape known in full was taken as varying in its first dimension (ragged_rank 0)
    return list(shape) if None in shape else [None, *shape[1:]]


def _to_ragged(array, ragged_rank, dtype):
    """A dense element leaf as a ragged one of `ragged_rank` (uniform rows)."""
    if ragged_rank == 0:
        return ragged_elements.as_row(array, dtype)
    shape = np.shape(array)
    out = np.asarray(array).reshape((-1,) + shape[ragged_rank + 1:])
    for axis in range(ragged_rank, 0, -1):
        rows = int(np.prod(shape[:axis], dtype=np.int64))
        out = RaggedTensor._unchecked(out, np.arange(rows + 1, dtype=dtype) * shape[axis])
    return out


class DenseToRagged(OnePass, Dataset):
    """The first half of `Dataset.ragged_batch` (TF's _DenseToRaggedDataset): dense
    components of rank >= 1 made ragged, so that batch stacks rows of any length."""

    def __init__(self, dataset, row_splits_dtype):
        self._input = dataset
        self._dtype = splits_dtype(row_splits_dtype)

    def _ranks(self):
        from_output = spec_from_output(self._input)
        return [_ragged_rank_for(s, from_output)
                for s in structure.flatten(self._input.element_spec)]

    def _pass(self, tolerant):
        ranks = self._ranks()
        with upstream(self._input, tolerant) as it:
            for element in it:
                if type(element) is not Failed:
                    leaves = structure.flatten(element)
                    element = structure.pack_as(element, [
                        leaf if rank is None else _to_ragged(leaf, rank, self._dtype)
                        for leaf, rank in zip(leaves, ranks)])
                yield element

    def _infer_spec(self):
        spec = self._input.element_spec
        return structure.pack_as(spec, [
            s if rank is None else RaggedTensorSpec(_ragged_shape(s.shape, rank), s.dtype,
                                                    rank, self._dtype)
            for s, rank in zip(structure.flatten(spec), self._ranks())])

    def _cardinality(self):
        return self._input._cardinality()
