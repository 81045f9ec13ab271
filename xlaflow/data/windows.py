"""`Dataset.window`: sliding windows of elements, each window itself a Dataset (or, for
structured elements, that structure of Datasets), as TF's window.

A window is a small in-memory dataset, so `ds.window(3, 1).flat_map(lambda w: w.batch(3))`
runs the usual batch on it; `DatasetSpec` describes such a component in element_spec.
"""

from __future__ import annotations

import collections

from xlaflow.data import structure
from xlaflow.data.arguments import positive_argument
from xlaflow.data.dataset import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.errors import Failed
from xlaflow.data.passes import OnePass, upstream


class DatasetSpec:
    """TF's `tf.data.DatasetSpec`: the spec of an element component that is a Dataset --
    the structure of TensorSpecs its own elements have."""

    __slots__ = ("element_spec",)

    def __init__(self, element_spec):
        self.element_spec = element_spec

    def __eq__(self, other):
        return isinstance(other, DatasetSpec) and other.element_spec == self.element_spec

    def __hash__(self):
        return hash(("DatasetSpec", repr(self.element_spec)))

    def __repr__(self):
        return f"DatasetSpec({self.element_spec!r}, TensorShape([]))"


class Elements(Dataset):
    """A dataset of the given elements, held in memory: one window's component."""

    def __init__(self, elements, spec):
        self._elements = elements
        self._spec = spec

    def _iterate(self):
        yield from self._elements

    def _cardinality(self):
        return len(self._elements)


def input_spec(dataset, element, tolerant):
    """`dataset.element_spec`, for a window of its elements; in a tolerant pass, when that
    fails (a map's spec is its first output's, which may be one that failed), the spec of
    `element`, a surviving one, stands in -- as ignore_errors infers its own."""
    try:
        return dataset.element_spec
    except Exception:
        if not tolerant:
            raise
        return structure.spec_of(element)


class Window(OnePass, Dataset):
    """`Dataset.window(size, shift, stride, drop_remainder)`, TF's WindowDataset.

    Window k holds the elements at `k*shift + i*stride` for i < size. Without
    `drop_remainder`, the windows that start before the end but run past it are kept,
    shorter; with it, only full windows. Under ignore_errors a failed element keeps its
    position, as in TF's (which buffers each input's status): every window that holds it
    fails, and the others are unchanged.
    """

    def __init__(self, dataset, size, shift=None, stride=1, drop_remainder=False):
        self._size = positive_argument(size, "window", "size")
        self._shift = self._size if shift is None else positive_argument(shift, "window",
                                                                          "shift")
        self._stride = positive_argument(stride, "window", "stride")
        self._drop = bool(drop_remainder)
        self._input = dataset

    def _pass(self, tolerant):
        # TF's algorithm: a buffer holds the span of the next window; after each window
        # the buffer drops `shift` elements (reading and discarding past it if needed).
        span = (self._size - 1) * self._stride + 1
        specs = None
        buffer = collections.deque()
        with upstream(self._input, tolerant) as it:
            input_done = False
            while True:
                while not input_done and len(buffer) < span:
                    element = next(it, _END)
                    if element is _END:
                        input_done = True
                    else:
                        buffer.append(element)
                if not buffer or (self._drop and len(buffer) < span):
                    return
                picked = [buffer[i] for i in range(0, len(buffer), self._stride)]
                failed = [e for e in picked if type(e) is Failed] if tolerant else ()
                if failed:
                    yield failed[0]
                else:
                    if specs is None:
                        specs = structure.flatten(input_spec(self._input, picked[0],
                                                             tolerant))
                    columns = zip(*map(structure.flatten, picked))
                    yield structure.pack_as(picked[0], [
                        Elements(list(column), spec) for column, spec in zip(columns, specs)])
                if self._shift >= len(buffer):
                    for _ in range(self._shift - len(buffer)):
                        if input_done or next(it, _END) is _END:
                            input_done = True
                            break
                    buffer.clear()
                else:
                    for _ in range(self._shift):
                        buffer.popleft()

    def _infer_spec(self):
        return structure.map_structure(DatasetSpec, self._input.element_spec)

    def _cardinality(self):
        # TF's WindowDataset::CardinalityInternal.
        n = self._input._cardinality()
        if n in (INFINITE_CARDINALITY, UNKNOWN_CARDINALITY):
            return n
        if self._drop:
            rest = n - ((self._size - 1) * self._stride + 1)
            return 0 if rest < 0 else rest // self._shift + 1
        return -(-n // self._shift)


_END = object()
