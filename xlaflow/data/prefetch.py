"""`Dataset.prefetch`: a background thread runs the input pipeline ahead of the consumer.

While the training step computes on the accelerator, the host prepares the next batches;
a bounded buffer caps the memory and the work done ahead.
"""

from __future__ import annotations

import collections
import contextvars
import sys
import threading
import time

from xlaflow.data.arguments import integer_argument
from xlaflow.data.dataset import AUTOTUNE, Dataset
from xlaflow.data.passes import OnePass, upstream

# What AUTOTUNE means for prefetch: two elements keep one batch ready while the next is
# prepared (double buffering); TF's autotuner rarely settles much higher for host input.
AUTOTUNE_BUFFER = 2
# AUTOTUNE also decides whether a thread pays at all: each pass starts inline and times
# PROBE elements; a thread starts only when producing took longer than consuming (WORTH).
# Below that, the consumer would rarely wait, and the thread's GIL hand-offs and wake-ups
# cost more than they hide: measured with fit on 2 cores, a cheap shuffle/batch pipeline
# ran at 0.88x the arrays' speed with its thread and 1.01x without.
PROBE, WORTH = 8, 1.0

_ELEMENT, _END, _ERROR = "element", "end", "error"


class _Channel:
    """A bounded FIFO from one producer thread to one consumer; closing wakes both."""

    def __init__(self, capacity):
        self._items = collections.deque()
        self._capacity = capacity
        self._closed = False
        self._cond = threading.Condition()

    def wait_for_room(self):
        """Block until a slot is free; False once the consumer has closed the channel."""
        with self._cond:
            while len(self._items) >= self._capacity and not self._closed:
                self._cond.wait()
            return not self._closed

    def put(self, kind, value=None):
        with self._cond:
            self._items.append((kind, value))
            self._cond.notify_all()

    def get(self):
        with self._cond:
            while not self._items:
                self._cond.wait()
            item = self._items.popleft()
            self._cond.notify_all()  # the producer may be waiting for this slot
            return item

    def close(self):
        with self._cond:
            self._closed = True
            self._items.clear()  # drop buffered elements now, not when the thread is gone
            self._cond.notify_all()


class Prefetch(OnePass, Dataset):
    """Up to `buffer_size` elements produced ahead on a thread (`buffer_size` 0: none;
    AUTOTUNE: two, when timing the first elements shows the thread pays, else none).

    Lifecycle of one pass: the thread starts at the first `next()`, waits for a free slot
    before producing each element (so it is never more than `buffer_size` ahead), and ends
    at the end of the input, at an error (re-raised by the consumer's next `next()`, in
    order after the elements before it), or when the consumer's iterator is closed or
    dropped -- which then joins it, after the element in progress, if any, completes.
    """

    def __init__(self, dataset, buffer_size):
        buffer_size = integer_argument(buffer_size, "prefetch", "buffer_size")
        self._auto = buffer_size == AUTOTUNE
        if buffer_size == AUTOTUNE:
            buffer_size = AUTOTUNE_BUFFER
        if buffer_size < 0:
            raise ValueError(f"Dataset.prefetch: buffer_size must be >= 0 or AUTOTUNE; "
                             f"received {buffer_size}")
        self._input = dataset
        self._size = buffer_size

    @staticmethod
    def _produce(channel, it):
        try:
            while channel.wait_for_room():
                try:
                    element = next(it)
                except StopIteration:
                    channel.put(_END)
                    return
                channel.put(_ELEMENT, element)
        except BaseException as e:  # noqa: BLE001  (the consumer re-raises it)
            channel.put(_ERROR, e)

    def _pass(self, tolerant):
        # A Failed element is an element like another to the thread: it passes through.
        # The input's pass is made now, with this one; _prefetch enters it at the first next().
        return self._prefetch(upstream(self._input, tolerant))

    def _prefetch(self, source):
        """The elements of `source`, an upstream() of the input, produced ahead."""
        with source as it:
            if self._size == 0:
                yield from it
                return
            if self._auto:
                worth = yield from self._probe(it)
                if not worth:  # producing is cheap next to consuming: no thread
                    yield from it
                    return
            yield from self._threaded(it)

    @staticmethod
    def _probe(it):
        """Yield PROBE elements inline, timing producer and consumer; True when a thread
        would hide enough producer time to pay for itself."""
        produced = consumed = 0.0
        for index in range(PROBE + 1):
            start = time.perf_counter()
            try:
                element = next(it)
            except StopIteration:
                return False
            ready = time.perf_counter()
            yield element
            if index:  # the first element pays the pipeline's start-up: not timed
                produced += ready - start
                consumed += time.perf_counter() - ready
        return produced > WORTH * consumed

    def _threaded(self, it, _finalizing=sys.is_finalizing):
        # (bound here, as the stdlib binds what its __del__ methods call: at shutdown the
        # module's globals may already be None when a dropped pass is finalized)
        channel = _Channel(self._size)
        # The thread runs in a copy of this context, so that context-scoped settings (an
        # element_spec peek in progress) hold for the stages it runs.
        thread = threading.Thread(target=contextvars.copy_context().run,
                                  args=(self._produce, channel, it), name="xf.data.prefetch",
                                  daemon=True)  # never keeps the interpreter from exiting
        thread.start()
        try:
            while True:
                kind, value = channel.get()
                if kind == _END:
                    return
                if kind == _ERROR:
                    raise value
                yield value
        finally:
            channel.close()
            # An iterator dropped while the interpreter shuts down is finalized after
            # threading's globals are gone (join would fail, printing "Exception
            # ignored"); the daemon thread ends with the process anyway.
            if not _finalizing():
                thread.join()

    def _infer_spec(self):
        return self._input.element_spec

    def _cardinality(self):
        return self._input._cardinality()
