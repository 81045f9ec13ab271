"""Device prefetch: a background thread pulls batches from the host pipeline and puts them
on the device `size` batches ahead, so input preparation and the host-to-device copy overlap
the running training step instead of adding to it.
"""

from __future__ import annotations

import queue
import threading

import jax

_END = object()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error):
        self.error = error


class DevicePrefetcher:
    """An iterator over `iterable` whose items are already on the device: `place(item)`
    (default `jax.device_put`) runs on the thread. Close it (or exhaust it) to stop the
    thread."""

    def __init__(self, iterable, size=2, place=None):
        if size < 1:
            raise ValueError(f"prefetch size must be >= 1; received {size}")
        self._source = iter(iterable)
        self._queue = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._place = place or jax.device_put
        self._done = False
        self._thread = threading.Thread(target=self._fill, name="xlaflow-prefetch",
                                        daemon=True)
        self._thread.start()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self):
        try:
            self._produce()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer, where it belongs
            self._put(_Failure(exc))
        else:
            self._put(_END)

    def _produce(self):
        try:
            for item in self._source:
                if not self._put(self._place(item)):
                    return
        finally:
            # Closed here, on the thread that runs it (a generator cannot be closed from
            # another thread while it runs): a Dataset pass stops its own threads now.
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END or isinstance(item, _Failure):
            self._done = True
            self._thread.join()
            if isinstance(item, _Failure):
                raise item.error
            raise StopIteration
        return item

    def close(self):
        """Stop the thread and drop what it prepared."""
        self._stop.set()
        self._done = True
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()
