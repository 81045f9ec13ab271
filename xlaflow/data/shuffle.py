"""`Dataset.shuffle`: TF's buffer algorithm, deterministic given the seed.

A buffer of `buffer_size` elements is filled; each output is a random buffer slot, which
the next input element then takes. A buffer as large as the dataset is a uniform shuffle.
Under ignore_errors a failed element is passed on as it is read, taking no slot and no
random draw (TF's fill returns its error): the others come in the order shuffling them
alone would give.
"""

from __future__ import annotations

import threading

import numpy as np

from xlaflow.data.arguments import integer_argument
from xlaflow.data.dataset import Dataset
from xlaflow.data.errors import Failed
from xlaflow.data.iterator_state import pass_index
from xlaflow.data.passes import OnePass, upstream

_END = object()


def _uniforms(rng):
    # Drawn in blocks: one Generator call per element would cost more than the shuffle.
    while True:
        yield from rng.random(1024).tolist()


class RowOrder:
    """One pass's row numbers: an iterator like any pass, whose `array` lets `batch` slice
    whole batches out of it instead of collecting them element by element."""

    def __init__(self, rows):
        self.array = np.asarray(rows, dtype=np.intp)
        self._it = iter(rows)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)


class Shuffle(OnePass, Dataset):
    """Shuffled elements; each pass (epoch) a different order unless reshuffling is off.

    Seeding: an explicit `seed` fixes everything. Without one, a seed is drawn once, when
    the dataset is built, from NumPy's global generator -- so `np.random.seed` (and
    `xf.keras.utils.set_random_seed`) make it reproducible, as fit's own shuffling is.
    Pass k uses a generator seeded by (seed, k): the k-th order is a function of the seed
    alone, and with `reshuffle_each_iteration=False` every pass uses pass 0's order.
    """

    def __init__(self, dataset, buffer_size, seed=None, reshuffle_each_iteration=True):
        buffer_size = integer_argument(buffer_size, "shuffle", "buffer_size")
        if buffer_size < 1:
            raise ValueError(f"Dataset.shuffle: buffer_size must be >= 1; received "
                             f"{buffer_size}")
        self._input = dataset
        self._buffer_size = buffer_size
        self._seeded = seed is not None  # a drawn seed is saved with an iterator's position
        self._seed = int(np.random.randint(2 ** 31 - 1)) if seed is None else \
            integer_argument(seed, "shuffle", "seed")
        self._reshuffle = bool(reshuffle_each_iteration)
        self._passes = 0
        self._lock = threading.Lock()

    def _pass_index(self):
        return pass_index(self, self._reshuffle)  # an element_spec peek counts nothing

    def _pass(self, tolerant):
        with upstream(self._input, tolerant) as it:
            yield from self._shuffled(it)

    def _rows(self):
        # Shuffling row numbers gives the order shuffling the rows would: batch can gather.
        rows = self._input._rows()
        if rows is None:
            return None
        source, indices = rows
        if self._input._cardinality() < 0:  # endless or unknown: shuffle as they come
            return source, lambda: self._shuffled(indices())
        return source, lambda: RowOrder(self._shuffled_list(list(indices())))

    def _shuffled_list(self, items):
        """`_shuffled` over a known list of row numbers, in one tight loop: the same order
        (the same uniforms, one per output), several times faster than the generator."""
        uniforms = np.random.default_rng([self._seed, self._pass_index()]).random(
            len(items)).tolist()
        total = len(items)
        size = min(self._buffer_size, total)
        buffer, pos, out = items[:size], size, []
        append = out.append
        for u in uniforms:  # per element; kept to plain list and int operations
            n = len(buffer)
            slot = int(u * n)
            if slot == n:  # u * n can round up to n
                slot -= 1
            append(buffer[slot])
            if pos < total:
                buffer[slot] = items[pos]
                pos += 1
            else:
                buffer[slot] = buffer[-1]
                buffer.pop()
        return out

    def _shuffled(self, it):
        """One pass of the buffer algorithm over the iterator `it`."""
        uniform = _uniforms(np.random.default_rng([self._seed, self._pass_index()]))
        buffer = []
        for element in it:
            if type(element) is Failed:
                yield element
                continue
            buffer.append(element)
            if len(buffer) == self._buffer_size:
                break
        while buffer:
            slot = min(int(next(uniform) * len(buffer)), len(buffer) - 1)
            yield buffer[slot]
            # Refill after the yield: the input is read no further ahead than TF's.
            element = next(it, _END)
            while type(element) is Failed:
                yield element
                element = next(it, _END)
            if element is _END:
                buffer[slot] = buffer[-1]
                buffer.pop()
            else:
                buffer[slot] = element

    def _infer_spec(self):
        return self._input.element_spec

    def _cardinality(self):
        return self._input._cardinality()
