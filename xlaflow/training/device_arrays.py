"""fit/evaluate on in-memory arrays with the arrays put on the device once per call: each
step's compiled program gathers its batch's rows itself, so no batch is copied per step.

On a GPU a launch-bound step spends about half its time copying each batch's NumPy slices
to the device (one transfer per array per step, benchmarks/fit_step_profile.py). Here x, y
and the per-sample weights go to the device once; each epoch's shuffle permutation (the
same one ArrayBatches draws) once per epoch; every batch's first row, as device scalars,
once per model and sizes. A step then takes only device arrays: it slices the permutation
(`lax.dynamic_slice`), takes those rows on axis 0 and runs the very step body the host path
compiles, so batches, order and math are the host path's: the compiled host step is called
inside the gathering one, which inlines it (the same AutoGraph conversion, the same trace).
A last partial batch has its own static size: one more trace, as on the host path.
steps_per_execution blocks gather their n batches the same way and run the compiled block
step inside.
"""

from __future__ import annotations

import jax
import numpy as np
from jax import lax

from xlaflow import config
from xlaflow.training import data as data_lib
from xlaflow.training.trainer import _given

MAX_BYTES = 1 << 30  # 'auto' budget: the arrays' total size...
MAX_DEVICE_FRACTION = 0.25  # ...and at most this share of the device's memory
# Gathering steps kept on a trainer. One fit uses at most 6 (train and validation, full
# and last batch, a block): a bound far above that evicts only programs of earlier fits.
MAX_STEPS = 32


def _backend():
    return jax.default_backend()


def _leaves(sources):
    return [np.asarray(leaf) for data in sources if data is not None
            for leaf in jax.tree_util.tree_leaves((data.x, data.y, data.sample_weight))]


def _device_limit():
    """The default device's memory in bytes, or None where it does not say."""
    try:
        stats = jax.devices()[0].memory_stats()
    except (RuntimeError, NotImplementedError):  # a backend without statistics: no limit
        return None
    return (stats or {}).get("bytes_limit")


def applies(trainer, *sources):
    """Whether this fit/evaluate keeps its arrays on the device (the fit_arrays_on_device
    flag): numeric in-memory arrays only, never under a distribution strategy (its batches
    are sharded over replicas on the host path). 'on' skips the backend and budget checks."""
    mode = config.fit_arrays_on_device_mode()
    if mode == "off" or trainer.strategy is not None or not all(
            data is None or isinstance(data, data_lib.ArrayBatches) for data in sources):
        return False
    if any(getattr(data, "ragged", False) for data in sources):
        return False  # each batch padded to its own width on the host
    leaves = _leaves(sources)
    if any(leaf.dtype.kind not in "biufc" for leaf in leaves):
        return False  # strings or objects: the host path's step decides what they mean
    if mode == "on":
        return True
    if _backend() == "cpu":  # host memory already: the copy is cheap, the arrays held twice
        return False
    total, limit = sum(leaf.nbytes for leaf in leaves), _device_limit()
    return total <= MAX_BYTES and (limit is None or total <= MAX_DEVICE_FRACTION * limit)


def _take(leaf, order, start, count):
    if order is None:  # unshuffled: the batch is a contiguous block
        return lax.dynamic_slice_in_dim(leaf, start, count, axis=0)
    rows = lax.dynamic_slice_in_dim(order, start, count)
    # Rows of a permutation are in bounds: no clamp or fill in the gather.
    return leaf.at[rows].get(mode="promise_in_bounds")


def _gathering(body, treedef, count, shuffled, steps=None):
    """`body(x, y, sample_weight)` on the `count` rows from `start` (through `order` when
    shuffled), called as f([order,] start, *leaves): device arrays only, positionally, so
    each call takes xf.function's fast path. With `steps`, the rows are stacked as
    `steps` batches of count // steps on a new leading axis (a steps_per_execution block)."""

    def gathered(*args):
        order, args = (args[0], args[1:]) if shuffled else (None, args)
        start, leaves = args[0], args[1:]
        batch = [_take(leaf, order, start, count) for leaf in leaves]
        if steps is not None:
            batch = [b.reshape(steps, count // steps, *b.shape[1:]) for b in batch]
        x, y, w = jax.tree_util.tree_unflatten(treedef, batch)
        return body(*_given(x, y, w))

    gathered.__name__ = f"{getattr(body, '__name__', 'step')}_on_device_{count}"
    return gathered


def _starts(trainer, size, batch):
    """Every batch's first row as a device scalar: a step then takes no host value. Kept
    on the trainer for the next fit/evaluate with these sizes, as making them costs
    ~25 µs a scalar (measured on the 2-core CPU: 0.1 s for 4,096 batches)."""
    cache = trainer.gathering_starts
    starts = cache.get((size, batch))
    if starts is None:
        if len(cache) >= 4:  # a training and a validation size, and a little more
            cache.clear()
        starts = cache[size, batch] = jax.device_put(
            [np.int32(row) for row in range(0, size, batch)])
    return starts


class DeviceArrays:
    """An ArrayBatches' arrays on the device, iterated like it: `epoch` yields (step, args)
    where `step(*args)` runs the compiled, gathering step; `blocks` yields (is_block, that)."""

    def __init__(self, data, trainer):
        self.data = data  # the ArrayBatches: its seed, order and sizes rule
        self.trainer = trainer
        leaves, self.treedef = jax.tree_util.tree_flatten((data.x, data.y, data.sample_weight))
        self.leaves = tuple(jax.device_put(leaves))
        self.signature = tuple((leaf.shape, leaf.dtype) for leaf in self.leaves)
        self.starts = _starts(trainer, data.size, data.batch_size)

    @property
    def epoch_steps(self):
        return self.data.epoch_steps

    def test_steps(self):
        """The unshuffled batches of one evaluation, each (compiled test step, args)."""
        return self.epoch(0, 0, self.trainer._compiled_test_step)

    def close(self):
        pass  # device arrays: freed with this object, no thread to stop

    def _step(self, body, count, shuffled, steps=None):
        # On the trainer, not here: a new program per fit call would compile again. One
        # per shape of the arrays as well: each fit on new lengths is a trace anyway, and
        # one function retracing per fit would raise xf.function's RetracingWarning.
        cache = self.trainer.gathering_steps
        key = (body, self.treedef, self.signature, count, shuffled, steps)
        step = cache.get(key)
        if step is None:
            while len(cache) >= MAX_STEPS:  # the oldest first: the programs of past fits
                del cache[next(iter(cache))]
            step = cache[key] = self.trainer.compile_fn(
                _gathering(body, self.treedef, count, shuffled, steps))
        return step

    def _order(self, index):
        """The permutation ArrayBatches draws for pass `index` (None unshuffled), on the
        device: one transfer per pass."""
        order = self.data._order(index)
        return None if order is None else jax.device_put(order.astype(np.int32))

    def _call(self, body, order, begin, count, steps=None):
        step = self._step(body, count, order is not None, steps)
        head = (self.starts[begin // self.data.batch_size],)
        return step, ((order, *head) if order is not None else head) + self.leaves

    def epoch(self, index=0, start=0, body=None):
        """One epoch's steps, as ArrayBatches.epoch cuts them (a stream when
        steps_per_epoch is set), from batch `start` on."""
        body = body or self.trainer._compiled_train_step
        for order, begin, count in self.data.positions(index, start, self._order):
            yield self._call(body, order, begin, count)

    def blocks(self, index, n, steps=None, start=0):
        """As ArrayBatches.blocks: groups of `n` full batches (one gathering block program),
        then the remaining batches one by one, `steps` batches at most."""
        trainer = self.trainer
        for is_block, (order, begin, count) in self.data.block_positions(
                index, n, steps, start, self._order):
            if is_block:
                yield True, self._call(trainer._compiled_train_block, order, begin, count, n)
            else:
                yield False, self._call(trainer._compiled_train_step, order, begin, count)


def run(step, args):
    """The step_fn/block_fn of fit's loop for DeviceArrays' batches."""
    return step(*args)
