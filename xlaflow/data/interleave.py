"""`Dataset.interleave`: TF's cycle over `cycle_length` open inner datasets, taking
`block_length` elements from each in turn; a thread pool may read them ahead.

The order is TF's InterleaveDataset's, computed by one loop on the consumer's thread. The
pool only reads each open inner dataset's next element ahead, so it cannot change it.
Under ignore_errors a failure takes no place in that order, as in TF's: a failed input
element (or call of the function) leaves its slot to the next input element, and a failed
inner element does not count towards its block.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

from xlaflow.data.arguments import positive_argument
from xlaflow.data.dataset import AUTOTUNE
from xlaflow.data.errors import Failed
from xlaflow.data.iterator import deterministic, thread_count
from xlaflow.data.mapping import FlatMap, checked
from xlaflow.data.passes import open_pass, upstream

# What cycle_length=None / AUTOTUNE means. TF takes the number of schedulable CPU cores,
# so the same pipeline yields a different order on another machine; a fixed count keeps
# the order reproducible everywhere (pass cycle_length to choose it).
AUTOTUNE_CYCLE_LENGTH = 16

_END = object()


class _Serial:
    """An open inner dataset read on the consumer's thread."""

    def __init__(self, dataset, tolerant):
        self._gen = open_pass(dataset, tolerant)

    def ready(self):
        return True

    def next(self):
        return next(self._gen, _END)

    def close(self):
        self._gen.close()


class _Ahead:
    """An open inner dataset whose next element is always being read on the pool.

    At most one read is in flight per inner dataset (its generator runs on one thread at a
    time), so the pool reads up to one element ahead for each open dataset.
    """

    def __init__(self, pool, dataset, tolerant):
        self._pool = pool
        self._gen = open_pass(dataset, tolerant)
        self._future = pool.submit(self._read)

    def _read(self):
        return next(self._gen, _END)

    def ready(self):
        return self._future is None or self._future.done()

    def next(self):
        out = self._future.result()  # re-raises the inner dataset's error, in order
        self._future = None if out is _END else self._pool.submit(self._read)
        return out

    def close(self):
        # A read in progress runs the generator: it must finish before the generator closes.
        if self._future is not None and not self._future.cancel():
            with contextlib.suppress(BaseException):  # its error: the pass is abandoned
                self._future.result()
        self._gen.close()


class Interleave(FlatMap):
    """`Dataset.interleave`: TF's deterministic order, with or without a pool.

    `cycle_length` inner datasets are open at once; `block_length` consecutive elements
    come from each in turn. An exhausted one is replaced by the next input element's when
    the cycle comes back to its slot. `cycle_length=1` is `flat_map`. With
    `num_parallel_calls` a pool of that many threads reads ahead; `deterministic=False`
    then lets a ready inner dataset go before one still reading (as TF allows). Inner
    datasets are made, and element_spec found, as flat_map's.
    """

    _method = "interleave"

    def __init__(self, dataset, fn, cycle_length, block_length, num_parallel_calls,
                 deterministic):
        if not callable(fn):
            raise TypeError(f"Dataset.interleave: map_func must be callable; received "
                            f"{type(fn).__name__}")
        self._cycle = positive_argument(cycle_length, "interleave", "cycle_length",
                                        AUTOTUNE_CYCLE_LENGTH)
        # TF 2's default block_length is None, meaning 1; AUTOTUNE is no block length.
        self._block = 1 if block_length is None else positive_argument(
            block_length, "interleave", "block_length")
        workers = positive_argument(num_parallel_calls, "interleave", "num_parallel_calls",
                                    self._cycle)
        if num_parallel_calls is not None and cycle_length not in (None, AUTOTUNE) and \
                workers > self._cycle:
            # As TF: more threads than open inner datasets would have nothing to read.
            raise ValueError(f"Dataset.interleave: num_parallel_calls must be <= cycle_length "
                             f"({self._cycle}); received {workers}")
        self._workers = None if num_parallel_calls is None else workers
        # None: the pipeline's Options.deterministic decides, ordered by default (as TF).
        self._deterministic = deterministic
        self._input = dataset
        self._fn = fn

    def _pass(self, tolerant):
        if self._workers is None:
            yield from self._cycle_through(lambda dataset: _Serial(dataset, tolerant),
                                           eager=False, ordered=True, tolerant=tolerant)
            return
        pool = ThreadPoolExecutor(thread_count(self._workers),
                                  thread_name_prefix="xf.data.interleave")
        try:
            yield from self._cycle_through(lambda dataset: _Ahead(pool, dataset, tolerant),
                                           eager=True, tolerant=tolerant,
                                           ordered=deterministic(self._deterministic))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _cycle_through(self, open_inner, eager, ordered, tolerant):
        # TF's InterleaveDatasetOp::GetNextInternal, one slot per open inner dataset.
        #
        # `eager` (the pool) fills every slot at the start, in slot order, and refills a
        # slot as soon as it is freed, so that all of them are read ahead. The order stays
        # TF's: the lazy loop also fills the empty slots first in slot order, and later in
        # the order they were freed (a freed slot is next visited after all the others),
        # so each slot receives the same input element either way.
        slots = [None] * self._cycle  # (inner reader, its input element's index)
        position = block = opened = 0
        input_done = False
        template = None

        def fill(slot_index):
            # Opens the next input element's inner dataset in the slot, unless the input
            # is done; the failures met on the way are yielded (tolerant passes only).
            nonlocal input_done, opened
            while True:
                element = next(it, _END)
                if element is _END:
                    input_done = True
                    return
                index, opened = opened, opened + 1
                if type(element) is not Failed:
                    try:
                        slots[slot_index] = (open_inner(self._inner(element, index)), index)
                        return
                    except Exception as e:
                        if not tolerant:
                            raise
                        element = Failed(e)
                yield element

        with upstream(self._input, tolerant) as it:
            try:
                for slot_index in range(self._cycle if eager else 0):
                    if not input_done:
                        yield from fill(slot_index)
                while not input_done or any(slots):
                    slot = slots[position]
                    if slot is None:
                        if not input_done:
                            yield from fill(position)
                            continue
                    elif not ordered and not slot[0].ready() and any(
                            s is not None and s[0].ready() for s in slots):
                        pass  # another inner dataset has an element ready: take it first
                    else:
                        out = slot[0].next()
                        if out is not _END:
                            try:
                                template = checked(out, template, "Dataset.interleave",
                                                   slot[1])
                            except Exception as e:
                                if not tolerant:
                                    raise
                                out = Failed(e)
                            yield out
                            if type(out) is Failed:
                                continue  # not counted: the slot goes on with its block
                            block += 1
                            if block < self._block:
                                continue
                        else:
                            slots[position] = None
                            slot[0].close()
                            if eager and not input_done:
                                yield from fill(position)
                    position, block = (position + 1) % self._cycle, 0
            finally:
                for slot in slots:
                    if slot is not None:
                        slot[0].close()
