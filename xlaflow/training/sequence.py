"""keras.utils.Sequence and the batches fit/evaluate/predict read from one.

A Sequence is indexed batch by batch (`__len__`, `__getitem__`), so unlike a generator an
epoch is exactly `len(sequence)` batches; fit may visit them in a shuffled order, and
`on_epoch_end` runs after every epoch (as Keras 2's data adapter does).
"""

from __future__ import annotations

import numpy as np

from xlaflow.training.data import IterableBatches


class Sequence:
    """Base class of a dataset of batches: define `__len__` (batches per epoch) and
    `__getitem__(index)` (the batch: x, (x, y) or (x, y, sample_weight))."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index)")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__()")

    def on_epoch_end(self):
        """Called after every epoch (reshuffle here); does nothing by default."""

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]


class SequenceBatches(IterableBatches):
    """A Sequence's batches: `len(sequence)` per epoch (or the first `steps` of them), in
    order or, when fit shuffles, in a new order each epoch. As Keras 2 reads a Sequence
    (a new pass of `len` batches each epoch), `steps` beyond its length run out of data,
    unless `cycle`: Keras 2's worker queue (workers > 1 or use_multiprocessing) goes round
    the Sequence endlessly, calling `on_epoch_end()` (and reshuffling) at each wrap."""

    def __init__(self, sequence, steps=None, shuffle=False, cycle=False):
        size = len(sequence)
        if size <= 0:
            raise ValueError(f"the Sequence {type(sequence).__name__} has len() {size}; it "
                             "must have at least one batch")
        super().__init__(sequence, steps if steps is not None else size)
        self.size, self.shuffle, self.cycle = size, bool(shuffle), bool(cycle)
        # Batch orders from NumPy's global stream (set_random_seed repeats them), as fit's
        # shuffles of arrays.
        self._seed = int(np.random.randint(2 ** 31 - 1)) if shuffle else None

    def _order(self, index, sweep):
        if not self.shuffle:
            return np.arange(self.size)
        key = [self._seed, index] + ([sweep] if sweep else [])
        return np.random.default_rng(key).permutation(self.size)

    def epoch(self, index=0, start=0):
        current, order = None, None
        for position in range(start, self.steps if self.cycle else min(
                self.steps, self.size)):
            sweep, at = divmod(position, self.size)
            if sweep != current:
                if current is not None:  # wrapped around within this epoch
                    self.iterable.on_epoch_end()
                current, order = sweep, self._order(index, sweep)
            yield self._normalize(self.iterable[int(order[at])])

    def first_batch(self):
        return self._normalize(self.iterable[0])

    def close(self):
        pass  # indexed on demand: no pass to stop


def end_epoch(batches):
    """After an epoch of fit (its callbacks done), an evaluate or a predict: a Sequence's
    `on_epoch_end()`, where Keras 2's data adapter calls it."""
    if isinstance(batches, SequenceBatches):
        batches.iterable.on_epoch_end()
