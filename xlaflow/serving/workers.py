"""Worker threads that answer asyncio futures directly: the model calls' hand-off from the
event loop, at a fraction of `loop.run_in_executor`'s cost.

run_in_executor builds a concurrent.futures.Future (a Condition, a lock, callbacks both
ways) and an asyncio future chained to it for every call; measured on the server's hot
path that is ~15 µs of event-loop time per request, and the worker then takes the GIL again
to notify the Condition. Here a call is one asyncio future and one put on a C queue; the
worker hands the result back with a single `call_soon_threadsafe`. Calls run in the order
they were submitted (the batch scheduler's slot accounting relies on it).
"""

from __future__ import annotations

import asyncio
import queue
import threading

_STOP = object()


def _resolve(future, result, error):
    """On the loop: answer `future` unless its caller gave up (cancelled it) meanwhile."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _run(loop, future, fn, args):
    if future.done():  # its caller gave up before it started: not computed
        return
    result = error = None
    try:
        result = fn(*args)
    except BaseException as exc:  # noqa: BLE001 - the caller gets it, as from run_in_executor
        error = exc
    try:
        loop.call_soon_threadsafe(_resolve, future, result, error)
    except RuntimeError:  # the loop closed meanwhile: nobody is waiting any more
        pass


class Workers:
    """`workers.submit(fn, *args)`: an asyncio future (of the calling loop) for
    `fn(*args)`, run on one of `count` threads; `close()` lets them finish and joins them."""

    def __init__(self, count, name="xlaflow-worker"):
        if type(count) is not int or count < 1:
            raise ValueError(f"count must be an integer >= 1; received {count!r}")
        self._queue = queue.SimpleQueue()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
                         for i in range(count)]
        for thread in self._threads:
            thread.start()

    def submit(self, fn, *args):
        if self._closed:
            raise RuntimeError("these workers are closed: no more calls are taken")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((loop, future, fn, args))
        return future

    def _work(self):
        # One call per _run: its locals (the caller's inputs and outputs, the model) are
        # gone when it returns, so an idle thread keeps no unloaded version alive.
        while (item := self._queue.get()) is not _STOP:
            _run(*item)
            item = None

    def close(self):
        """No new calls; the queued ones still run, then the threads end."""
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._queue.put(_STOP)
        for thread in self._threads:
            thread.join()
