"""Order-keeping transformations: repeat, take, skip, cache, zip, concatenate, enumerate.

None of these look inside elements; they only choose which elements pass and in what
sequence, so each is a short generator plus TF's cardinality rule. Under ignore_errors a
failed element (`Failed`) is passed on at once and not counted, as TF's kernels return the
input's error before counting it; zip and enumerate keep positions instead (see there).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading

import numpy as np

from xlaflow.data import structure
from xlaflow.data.arguments import integer_argument
from xlaflow.data.dataset import INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.errors import Failed
from xlaflow.data.passes import OnePass, closing, upstream
from xlaflow.tensors import TensorSpec

_UNSIZED = (INFINITE_CARDINALITY, UNKNOWN_CARDINALITY)


def _count(value, what):
    value = integer_argument(value, what, "count")
    if value < -1:
        raise ValueError(f"Dataset.{what}: count must be >= -1 (-1 meaning all); "
                         f"received {value}")
    return value


class Repeat(Dataset):
    """`Dataset.repeat`: fresh passes over the input, `count` times or forever."""

    def __init__(self, dataset, count):
        self._input = dataset
        self._count = -1 if count is None else _count(count, "repeat")

    def _iterate(self):
        return self._repeat(self._input._iterate)

    def _iterate_or_fail(self):
        return self._repeat(self._input._iterate_or_fail)

    def _rows(self):
        rows = self._input._rows()
        return None if rows is None else (rows[0], lambda: self._repeat(rows[1]))

    def _repeat(self, start_pass):
        passes = itertools.count() if self._count == -1 else range(self._count)
        for _ in passes:
            produced = False
            with closing(start_pass()) as it:
                for element in it:
                    produced = produced or type(element) is not Failed
                    yield element
            if not produced:
                # As TF: repeating an empty dataset (or one whose every element fails,
                # under ignore_errors) ends instead of spinning forever.
                return

    def _infer_spec(self):
        return self._input.element_spec

    def _cardinality(self):
        n = self._input._cardinality()
        if self._count == 0 or n == 0:
            return 0
        if self._count == -1:  # as TF: forever, unless the input turns out empty
            return INFINITE_CARDINALITY
        if n in _UNSIZED:
            return n
        return n * self._count


class Take(Dataset):
    """`Dataset.take`: at most the first `count` elements (-1: all)."""

    def __init__(self, dataset, count):
        self._input = dataset
        self._count = _count(count, "take")

    def _iterate(self):
        if self._count == 0:
            return  # do not even start the input (a generator source would run for nothing)
        with upstream(self._input) as it:
            yield from (it if self._count == -1 else itertools.islice(it, self._count))

    def _iterate_or_fail(self):
        if self._count == 0:
            return
        left = math.inf if self._count == -1 else self._count
        with upstream(self._input, tolerant=True) as it:
            for element in it:
                yield element
                if type(element) is not Failed:
                    left -= 1
                    if not left:
                        return  # read no further than the last element taken

    def _rows(self):
        rows = self._input._rows()
        if rows is None or self._count == -1:
            return rows
        return rows[0], lambda: itertools.islice(rows[1](), self._count)

    def _infer_spec(self):
        return self._input.element_spec

    def _cardinality(self):
        n = self._input._cardinality()
        if self._count == -1 or n == UNKNOWN_CARDINALITY:
            return n
        return self._count if n == INFINITE_CARDINALITY else min(n, self._count)


class Skip(Dataset):
    """`Dataset.skip`: all but the first `count` elements (-1: none)."""

    def __init__(self, dataset, count):
        self._input = dataset
        self._count = _count(count, "skip")

    def _iterate(self):
        with upstream(self._input) as it:
            if self._count == -1:
                for _ in it:
                    pass
                return
            yield from itertools.islice(it, self._count, None)

    def _iterate_or_fail(self):
        left = math.inf if self._count == -1 else self._count
        with upstream(self._input, tolerant=True) as it:
            for element in it:
                if type(element) is Failed:
                    yield element
                elif left:
                    left -= 1
                else:
                    yield element

    def _rows(self):
        rows = self._input._rows()
        if rows is None or self._count == -1:
            return None
        return rows[0], lambda: itertools.islice(rows[1](), self._count, None)

    def _infer_spec(self):
        return self._input.element_spec

    def _cardinality(self):
        n = self._input._cardinality()
        if n in _UNSIZED:
            return n
        return 0 if self._count == -1 else max(0, n - self._count)


class Cache(OnePass, Dataset):
    """`Dataset.cache`: the first complete pass is recorded in memory, later passes replay it.

    Only a pass that reaches the end is kept: one abandoned midway (a `take`, a `break`)
    would otherwise freeze a truncated dataset. Until one completes, passes read the input.
    """

    def __init__(self, dataset):
        self._input = dataset
        self._recorded = None
        self._lock = threading.Lock()

    def _pass(self, tolerant):
        # A tolerant pass records the elements that did not fail (as TF's cache, which
        # stores what its input returns): later passes replay them, without the errors.
        recorded = self._recorded
        if recorded is not None:
            yield from recorded
            return
        elements = []
        with upstream(self._input, tolerant) as it:
            for element in it:
                if type(element) is not Failed:
                    elements.append(element)
                yield element
        with self._lock:  # two concurrent first passes: the first to finish is kept
            if self._recorded is None:
                self._recorded = elements

    def _infer_spec(self):
        return self._input.element_spec

    def _cardinality(self):
        return self._input._cardinality()


class Zip(OnePass, Dataset):
    """`Dataset.zip`: a structure (tuple/dict) of datasets gives that structure of elements,
    one from each, until the shortest ends."""

    def __init__(self, datasets):
        leaves = structure.flatten(datasets)
        bad = [type(d).__name__ for d in leaves if not isinstance(d, Dataset)]
        if bad or not leaves:
            raise TypeError(f"Dataset.zip: expects a tuple or dict of Datasets; found "
                            f"{', '.join(bad) or 'none'}")
        self._structure = datasets
        self._inputs = leaves

    def _pass(self, tolerant):
        # Tolerant: every input advances by one element each time, and a zipped element
        # with a failed component fails whole, so the inputs stay aligned (an input left
        # unread after another's error would pair elements of different positions from
        # then on).
        with contextlib.ExitStack() as stack:
            its = [stack.enter_context(upstream(d, tolerant)) for d in self._inputs]
            for elements in zip(*its):
                failed = [e for e in elements if type(e) is Failed] if tolerant else ()
                yield failed[0] if failed else structure.pack_as(self._structure, elements)

    def _infer_spec(self):
        return structure.pack_as(self._structure, [d.element_spec for d in self._inputs])

    def _cardinality(self):
        counts = [d._cardinality() for d in self._inputs]
        if UNKNOWN_CARDINALITY in counts:
            return UNKNOWN_CARDINALITY
        finite = [n for n in counts if n != INFINITE_CARDINALITY]
        return min(finite) if finite else INFINITE_CARDINALITY


class Concatenate(OnePass, Dataset):
    """`Dataset.concatenate`: one dataset's elements, then the other's."""

    def __init__(self, first, second):
        if not isinstance(second, Dataset):
            raise TypeError(f"Dataset.concatenate: expects a Dataset; received "
                            f"{type(second).__name__}")
        # Checked now, as TF checks at construction; sizes that differ become None.
        spec = structure.most_specific_common(first.element_spec, second.element_spec)
        if spec is None:
            raise TypeError(
                "Dataset.concatenate: the datasets' elements must have the same structure and "
                f"dtypes; received {structure.describe(first.element_spec)} and "
                f"{structure.describe(second.element_spec)}")
        self._inputs = (first, second)
        self._spec = spec

    def _pass(self, tolerant):
        for dataset in self._inputs:
            with upstream(dataset, tolerant) as it:
                yield from it

    def _cardinality(self):
        a, b = (d._cardinality() for d in self._inputs)
        if INFINITE_CARDINALITY in (a, b):
            return INFINITE_CARDINALITY
        if UNKNOWN_CARDINALITY in (a, b):
            return UNKNOWN_CARDINALITY
        return a + b


class Enumerate(Dataset):
    """`Dataset.enumerate`: `(index, element)` with an int64 index from `start`."""

    def __init__(self, dataset, start=0):
        self._input = dataset
        self._start = integer_argument(start, "enumerate", "start")

    def _iterate(self):
        with upstream(self._input) as it:
            for index, element in enumerate(it, self._start):
                yield np.int64(index), element

    def _iterate_or_fail(self):
        # A failed element keeps its index, as TF's enumerate (a zip with a range, which
        # reads the range first) uses one up for it.
        with upstream(self._input, tolerant=True) as it:
            for index, element in enumerate(it, self._start):
                yield element if type(element) is Failed else (np.int64(index), element)

    def _infer_spec(self):
        return TensorSpec((), np.int64), self._input.element_spec

    def _cardinality(self):
        return self._input._cardinality()


class Shard(Dataset):
    """`Dataset.shard`: every `num_shards`-th element, from element `index` on (one worker's
    part of the input, as TF)."""

    def __init__(self, dataset, num_shards, index):
        num_shards = integer_argument(num_shards, "shard", "num_shards")
        index = integer_argument(index, "shard", "index")
        if num_shards < 1:
            raise ValueError(f"Dataset.shard: num_shards must be >= 1; received {num_shards}")
        if not 0 <= index < num_shards:
            raise ValueError(f"Dataset.shard: index must be in [0, {num_shards}); received "
                             f"{index}")
        self._input, self._num, self._index = dataset, num_shards, index

    def _iterate(self):
        with upstream(self._input) as it:
            yield from itertools.islice(it, self._index, None, self._num)

    def _iterate_or_fail(self):
        # A failed element takes no position (TF counts an element once read without
        # error); every one is passed on, so each shard's ignore_errors sees all of them.
        position = 0
        with upstream(self._input, tolerant=True) as it:
            for element in it:
                if type(element) is Failed:
                    yield element
                    continue
                if position % self._num == self._index:
                    yield element
                position += 1

    def _infer_spec(self):
        return self._input.element_spec

    def _cardinality(self):
        n = self._input._cardinality()
        if n in _UNSIZED:
            return n
        return max(0, (n - self._index + self._num - 1) // self._num)
