"""What fit/evaluate/predict iterate: batches from arrays, dicts of arrays, or iterables.

Arrays are checked up front (lengths, finite sizes) so bad input fails before any weight
changes, shuffled by one permutation per epoch and cut into contiguous slices; iterables
(generators, lists of batches, datasets) are passed through batch by batch.
"""

from __future__ import annotations

import collections.abc
import itertools
import math

import jax
import numpy as np

from xlaflow.training.ragged_batches import (
    RaggedRows,
    host_batches,
    host_rows,
    refuse_ragged,
)


def _is_array(x):
    return isinstance(x, (np.ndarray, jax.Array)) or (
        hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "__getitem__"))


def is_array_data(x):
    """An array, or a dict/list/tuple of arrays (named or several inputs). A list of tuples
    is an iterable of batches instead."""
    if _is_array(x):
        return True
    if isinstance(x, dict):
        values = list(x.values())
    elif isinstance(x, (list, tuple)):
        values = list(x)
    else:
        return False
    return bool(values) and all(_is_array(v) for v in values)


def _as_host(x):
    """NumPy arrays for slicing; float64 becomes float32 (TF/Keras' default float)."""
    def convert(a):
        if isinstance(a, RaggedRows):  # sliced by rows itself: each batch padded
            return a
        a = np.asarray(a)
        return a.astype(np.float32) if a.dtype == np.float64 else a
    return jax.tree_util.tree_map(convert, x)


def _length(x, what):
    lengths = {int(np.shape(leaf)[0]) if np.ndim(leaf) else None
               for leaf in jax.tree_util.tree_leaves(x)}
    if None in lengths:
        raise ValueError(f"{what}: every array needs a leading batch dimension; received a "
                         "scalar")
    if len(lengths) > 1:
        raise ValueError(f"{what}: arrays have different lengths {sorted(lengths)}; all must "
                         "have the same number of examples")
    return lengths.pop()


def _rows(order, begin, count):
    """The rows of one batch: a slice in order, or its part of the epoch's permutation."""
    return slice(begin, begin + count) if order is None else order[begin:begin + count]


def _keep(a, piece):
    """The rows `piece` of `a`, as data to cut again (RaggedRows stay rows, unpadded)."""
    return a.rows(piece) if isinstance(a, RaggedRows) else a[piece]


def _cut(value, piece):
    if value is None:
        return None
    if isinstance(value, np.ndarray):  # the common case, without a pytree walk
        return value[piece]
    return jax.tree_util.tree_map(lambda a: a[piece], value)


class ArrayBatches:
    """Batches of (x, y, sample_weight) from in-memory arrays."""

    def __init__(self, x, y=None, sample_weight=None, batch_size=32, shuffle=False, seed=None):
        if batch_size is None or int(batch_size) <= 0:
            raise ValueError(f"batch_size must be a positive integer; received {batch_size!r}")
        self.x, self.y, self.sample_weight = _as_host(x), _as_host(y), _as_host(sample_weight)
        self.size = _length(self.x, "x")
        for name, value in (("y", self.y), ("sample_weight", self.sample_weight)):
            length = None if value is None else _length(value, name)
            if length is not None and length != self.size:
                raise ValueError(f"x has {self.size} examples but {name} has {length}; they "
                                 "must match")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.steps = math.ceil(self.size / self.batch_size)
        # ragged rows pad to each batch's own width: batches are never stacked in blocks
        self.ragged = any(isinstance(leaf, RaggedRows)
                          for leaf in jax.tree_util.tree_leaves(self.x))
        self.epoch_steps = self.steps  # != steps: epochs cut one stream (see `stream`)
        self.origin, self.limit = 0, None  # the stream's first epoch and its batches

    def stream(self, steps_per_epoch, first_epoch=0, epochs=1):
        """Epochs of `steps_per_epoch` batches cut from one stream of passes over the data
        (each pass shuffled anew), as Keras 2 reads arrays when steps_per_epoch is given:
        epoch e starts where epoch e-1 stopped, not at the first batch again. As Keras 2's
        adapter, the stream is `epochs - first_epoch` passes long (its dataset repeats
        that often): epochs asking for more batches run out of data."""
        self.epoch_steps = int(steps_per_epoch)
        self.origin = int(first_epoch)
        self.limit = max(int(epochs) - self.origin, 0) * self.steps

    def split(self, fraction, validation_weight=None, validation_batch_size=None):
        """(training part, validation part): the last `fraction` of the examples, unshuffled,
        as Keras' validation_split, the validation part in batches of
        `validation_batch_size` (default: the training batch size). It weighs its examples by
        `validation_weight` (per example, all rows) when given: class weights are for
        training only."""
        if not 0 < fraction < 1:
            raise ValueError(f"validation_split must be in (0, 1); received {fraction}")
        cut = int(self.size * (1 - fraction))
        if cut == 0 or cut == self.size:
            raise ValueError(f"validation_split={fraction} leaves an empty split of "
                             f"{self.size} examples")
        head = lambda v: None if v is None else jax.tree_util.tree_map(
            lambda a: _keep(a, slice(None, cut)), v)
        tail = lambda v: None if v is None else jax.tree_util.tree_map(
            lambda a: _keep(a, slice(cut, None)), v)
        return (ArrayBatches(head(self.x), head(self.y), head(self.sample_weight),
                             self.batch_size, self.shuffle, self.seed),
                ArrayBatches(tail(self.x), tail(self.y), tail(
                    self.sample_weight if validation_weight is None else validation_weight),
                    validation_batch_size or self.batch_size, False))

    def epoch(self, index=0, start=0):
        """An iterator over one epoch's batches (a fresh permutation when shuffling), from
        batch `start` on (a resumed fit skips the batches it already trained on)."""
        x, y, w = self.x, self.y, self.sample_weight
        for order, begin, count in self.positions(index, start, self._order):
            piece = _rows(order, begin, count)
            yield _cut(x, piece), _cut(y, piece), _cut(w, piece)

    def positions(self, index, start, order):
        """(permutation, first row, rows) of each batch of epoch `index` from batch `start`
        on, the permutation `order(pass)` made once per pass: the one place the batches'
        arithmetic lives (DeviceArrays passes its own `order`, putting it on the device).
        A stream's epoch `index` is batches (index-origin)*epoch_steps + start ... of the
        passes laid end to end (a position, not a state: a resumed fit finds its place),
        none past the stream's `limit`: an epoch cut short there has run out of data."""
        streamed = self.epoch_steps != self.steps
        first = (index - self.origin) * self.epoch_steps + start if streamed else start
        last = (index - self.origin + 1) * self.epoch_steps if streamed else self.steps
        if streamed and self.limit is not None:
            last = min(last, self.limit)
        current, permutation = None, None
        for position in range(first, last):
            sweep, batch = divmod(position, self.steps)
            if sweep != current:
                current, permutation = sweep, order(sweep if streamed else index)
            begin = batch * self.batch_size
            yield permutation, begin, min(self.batch_size, self.size - begin)

    def blocks(self, index, n, steps=None, start=0):
        """Like `epoch`, but groups of `n` full batches stacked on a new leading axis (for
        steps_per_execution), then the remaining batches one by one, `steps` batches at
        most. A group is a reshaped contiguous slice: no copy beyond the epoch's shuffle.
        Groups count from batch `start`, so a fit resumed at a group's end groups the rest
        of the epoch as the uninterrupted fit did."""
        x, y, w = self.x, self.y, self.sample_weight

        def stacked(value, rows):
            if value is None:
                return None
            return jax.tree_util.tree_map(
                lambda a: a[rows].reshape(n, self.batch_size, *a.shape[1:]), value)

        for is_block, (order, begin, count) in self.block_positions(
                index, n, steps, start, self._order):
            piece = _rows(order, begin, count)
            if is_block:
                yield True, (stacked(x, piece), stacked(y, piece), stacked(w, piece))
            else:
                yield False, (_cut(x, piece), _cut(y, piece), _cut(w, piece))

    def block_positions(self, index, n, steps, start, order):
        """(is_block, (permutation, first row, rows)) of `blocks`: a block is `n` full
        batches from that row. A stream's batches cross passes: one at a time."""
        if self.epoch_steps != self.steps or self.ragged:
            for position in self.positions(index, start, order):
                yield False, position
            return
        permutation = order(index)
        group = n * self.batch_size
        size = self.size if steps is None else min(self.size, steps * self.batch_size)
        first = min(start * self.batch_size, size)
        whole = first + (size - first) // group * group
        for begin in range(first, whole, group):
            yield True, (permutation, begin, group)
        for begin in range(whole, size, self.batch_size):
            yield False, (permutation, begin, min(self.batch_size, size - begin))

    def _order(self, index):
        """This epoch's permutation when shuffling, else None. Each batch gathers its own
        rows with it: no copy of the whole arrays per epoch."""
        if not self.shuffle:
            return None
        seed = None if self.seed is None else self.seed + index
        return np.random.default_rng(seed).permutation(self.size)

    def first_batch(self):
        return next(self.epoch())

    def close(self):
        pass  # slices of arrays: no pass to stop


class IterableBatches:
    """Batches from an iterable of `x`, `(x, y)` or `(x, y, sample_weight)` items."""

    def __init__(self, iterable, steps=None, resume=True, size=None):
        self.iterable = iterable
        self.steps = self.epoch_steps = steps
        # As Keras 2's adapters: an iterator (a generator) is read on, never restarted;
        # a re-iterable starts a new pass each epoch when no `steps` is given or `steps` is
        # its length (`size`, when known), else one pass continues across epochs. `resume`
        # False (validation) restarts a re-iterable at every pass.
        self.recreate = not isinstance(iterable, collections.abc.Iterator) and (
            not resume or steps is None or steps == size)
        self._iterator = None
        self._peeked = None
        self._exhausted = False  # the continuing iterator ended: later epochs get nothing

    def _normalize(self, item):
        item = as_keras_tuple(item)
        if isinstance(item, tuple):
            if len(item) == 1:
                return host_batches(item[0]), None, None
            if len(item) == 2:
                return host_batches(item[0]), item[1], None
            if len(item) == 3:
                return (host_batches(item[0]), *item[1:])
            raise ValueError(f"a batch must be x, (x, y) or (x, y, sample_weight); received a "
                             f"tuple of {len(item)}")
        return host_batches(item), None, None

    def epoch(self, index=0, start=0):
        """One epoch: a fresh pass over a re-iterable (lists, datasets), or, with `steps`,
        the next `steps` items of a continuing iterator (as Keras reads generators). Fewer
        items than `steps` means the data ran out (fit stops, as Keras 2). The first `start`
        items are read and dropped (a resumed fit): exact for a re-iterable, while a
        generator's position before the interruption cannot be recovered."""
        return itertools.islice(self._pass(), start, None)

    def _pass(self):
        produced = 0
        if self._peeked is not None:  # first_batch() started this pass: continue it
            first, self._peeked = self._peeked, None
            produced = 1
            yield first
        elif self._iterator is None and not self._exhausted or self.recreate:
            self._iterator, self._exhausted = self._new_iterator(), False
        while (self.steps is None or produced < self.steps) and not self._exhausted:
            try:
                item = next(self._iterator)
            except StopIteration:
                # Kept ended: a continuing pass stays at its end (Keras 2 reuses the one
                # iterator); a recreated one starts anew at the next epoch.
                self._exhausted = True
                return
            produced += 1
            yield self._normalize(item)

    def blocks(self, index, n, steps=None, start=0):
        for batch in self.epoch(index, start):
            yield False, batch

    def first_batch(self):
        if self._peeked is None:
            self._iterator, self._exhausted = self._new_iterator(), False
            self._peeked = self._normalize(next(self._iterator))
        return self._peeked

    def _new_iterator(self):
        self.close()
        return iter(self.iterable)

    def close(self):
        """Stop a pass left unfinished (its prefetch threads); fit/evaluate/predict call it
        when they return, as a continuing iterator (`steps`) is left where it stopped."""
        iterator, self._iterator, self._peeked = self._iterator, None, None
        close = getattr(iterator, "close", None)
        # Only an iterator made here (a Dataset pass, a DevicePrefetcher): a generator given
        # as the data is its own iterator, and the caller may go on reading it.
        if close is not None and iterator is not self.iterable:
            close()


class DatasetBatches(IterableBatches):
    """An xf.data.Dataset: a pass per epoch (or `steps` batches of a repeating one), put on
    the device `prefetch` batches ahead by a background thread (training/prefetch.py)."""

    def __init__(self, dataset, steps=None, resume=True, prefetch=2):
        cardinality = int(dataset.cardinality())
        if steps is None and cardinality == -1:
            raise ValueError("the dataset repeats forever: pass steps_per_epoch (and "
                             "validation_steps) to say how many batches make an epoch")
        # As Keras 2: a steps count equal to the dataset's length reads a new pass each
        # epoch; a smaller or larger one continues one pass (which may run out).
        super().__init__(dataset, steps, resume, cardinality)
        self.epoch_steps = steps if steps is not None else (
            cardinality if cardinality >= 0 else None)
        self.prefetch = prefetch
        self.place = None  # fit sets it under a strategy: batches arrive already sharded

    def _new_iterator(self):
        from xlaflow.config import device_prefetch_enabled
        from xlaflow.training.prefetch import DevicePrefetcher
        self.close()
        batches = _numpy_batches(self.iterable)  # plain arrays: the step takes them
        if not device_prefetch_enabled():
            return batches
        return DevicePrefetcher(batches, self.prefetch, place=self.place)


def _numpy_batches(dataset):
    """The dataset's batches as NumPy arrays, its RaggedTensors kept as they are (the step
    pads them to their bucket: as_numpy_iterator's TF form, object arrays of rows, is not
    something a model takes)."""
    from xlaflow.ragged_spec import RaggedTensorSpec
    from xlaflow.ragged_tensor import RaggedTensor
    specs = jax.tree_util.tree_leaves(dataset.element_spec,
                                      is_leaf=lambda s: isinstance(s, RaggedTensorSpec))
    if not any(isinstance(s, RaggedTensorSpec) for s in specs):
        return dataset.as_numpy_iterator()

    def keep(leaf):
        return leaf if isinstance(leaf, RaggedTensor) else np.asarray(leaf)
    return (jax.tree_util.tree_map(keep, element, is_leaf=lambda x: isinstance(x, RaggedTensor))
            for element in dataset)


def is_dataset(x):
    from xlaflow.data import Dataset  # cheap: the pipeline is NumPy-only
    return isinstance(x, Dataset)


def as_keras_tuple(item):
    """Keras 2 reads a list [x, y] or [x, y, sample_weight] (a batch, validation_data) as
    the tuple; anything else as it is."""
    return tuple(item) if isinstance(item, list) and len(item) in (2, 3) else item


def adapt(x, y=None, sample_weight=None, batch_size=None, shuffle=False, steps=None,
          seed=None, resume=True, cycle=False):
    """ArrayBatches for array data, IterableBatches for anything iterable (`cycle`: a
    Sequence read as Keras 2's worker queue reads it, round and round)."""
    x = host_rows(x, "x")  # a RaggedTensor's rows: each batch padded to its bucket
    refuse_ragged(y, "y")
    refuse_ragged(sample_weight, "sample_weight")
    if y is not None and not is_array_data(x) and isinstance(x, (list, dict)):
        # Nested lists (or dicts of lists) with separate labels are array data, as in Keras.
        x = {k: np.asarray(v) for k, v in x.items()} if isinstance(x, dict) else np.asarray(x)
    if is_array_data(x):
        if shuffle and seed is None:
            # One base seed per fit from NumPy's global stream: set_random_seed makes the
            # shuffles reproducible, and every epoch still gets its own permutation.
            seed = int(np.random.randint(2 ** 31 - 1))
        if not batch_size and steps:  # Keras 2: `steps` batches cover the arrays
            batch_size = max(1, math.ceil(_length(x, "x") / int(steps)))
        return ArrayBatches(x, y, sample_weight, batch_size or 32, shuffle, seed)
    if y is not None or sample_weight is not None:
        raise ValueError("when x is an iterable of batches, y and sample_weight must come "
                         "inside its items, not as separate arguments")
    if is_dataset(x):
        return DatasetBatches(x, steps, resume)
    from xlaflow.training.sequence import Sequence, SequenceBatches
    if isinstance(x, Sequence):
        return SequenceBatches(x, steps, shuffle, cycle)
    from xlaflow.distribute import input as distributed_input
    if isinstance(x, (distributed_input.DistributedDataset,
                      distributed_input.DistributedIterator)):
        x = x.global_batches()  # Keras reads a distributed dataset's global batches
    if not hasattr(x, "__iter__"):
        raise TypeError(f"x must be an array, a dict/list of arrays or an iterable of "
                        f"batches; received {type(x).__name__}")
    return IterableBatches(x, steps, resume, None if steps is None else _size(x))


def _size(iterable):
    """The length of a sized re-iterable (a list, a grain dataset), else None: one whose
    len() refuses (an endless one) has no length to match steps against."""
    if not isinstance(iterable, collections.abc.Sized):
        return None
    try:
        return len(iterable)
    except (TypeError, ValueError, OverflowError):
        return None
