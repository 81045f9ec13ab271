"""Server-side batching: concurrent requests for one signature run as one padded batch.

Requests queue per (model, version, signature) on the server's event loop. A dispatcher
takes rows until `max_batch_size` or until the oldest request has waited
`batch_timeout_micros`, pads the batch to an allowed size (so XLA sees a few shapes,
compiled at warm-up, and never recompiles under load) and runs it on the batch threads;
while they are all busy, the next batch keeps filling. Requests wait as asyncio futures, so
a batch costs one hand-off to a thread and back, not one per request.

The queue's bound is TF's `max_enqueued_batches`: it counts the rows accepted and not yet
being processed on a batch thread (queued, or in a formed batch waiting for a thread);
beyond it a request gets UNAVAILABLE at once. A batch running on a thread no longer counts,
and at most `num_batch_threads` batches run at once (the slots), so what is held in memory
stays bounded. A queue idle for IDLE_QUEUE_SECONDS is dropped when another is created, so
versions that come and go leave no dispatchers behind; the next request for it makes a new
one.
"""

from __future__ import annotations

import asyncio
import collections
import time

import numpy as np

from xlaflow.serving.errors import ServingError
from xlaflow.serving.workers import Workers

IDLE_QUEUE_SECONDS = 60.0


class _Task:
    __slots__ = ("enqueued", "future", "inputs", "rows", "run", "shapes")

    def __init__(self, run, inputs, rows, future):
        # `run` travels with the task, not the queue: an idle queue must not keep an
        # unloaded version's programs alive.
        self.run, self.inputs, self.rows, self.future = run, inputs, rows, future
        self.enqueued = time.perf_counter()
        self.shapes = tuple((a.shape[1:], a.dtype) for a in inputs)


class _Waiting:
    """A full batch handed to the pool while every batch thread was busy: its rows count
    toward its queue's bound until a finishing batch hands it that batch's slot."""

    __slots__ = ("queue", "rows", "slot")

    def __init__(self, queue, rows):
        self.queue, self.rows, self.slot = queue, rows, False


class _Queue:
    def __init__(self, scheduler, model_name):
        self.scheduler, self.model_name = scheduler, model_name
        # pending: rows accepted and not yet being processed on a batch thread (TF's
        # definition of what max_enqueued_batches bounds)
        self.tasks, self.rows, self.pending = [], 0, 0
        self.last_used = time.monotonic()
        self.arrived = asyncio.Event()
        # this model's metric children, looked up once (not .labels() five times a request)
        self.series = None if scheduler.metrics is None else _Series(scheduler.metrics,
                                                                     model_name)
        self.dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    def admit(self, rows):
        """Count `rows` as waiting for a batch thread, or refuse them when the queue is
        full."""
        params = self.scheduler.params
        if self.pending + rows > params.max_enqueued_batches * params.max_batch_size:
            raise ServingError("UNAVAILABLE", "The batch scheduling queue to which this "
                               "task was submitted is full")
        self.pending += rows
        self.last_used = time.monotonic()

    def idle_since(self, moment):
        return self.pending == 0 and not self.tasks and self.last_used < moment

    def put(self, tasks):
        """Queue the tasks of one request, all or none."""
        rows = sum(task.rows for task in tasks)
        self.admit(rows)
        self.tasks.extend(tasks)
        self.rows += rows
        for task in tasks:
            task.future.add_done_callback(lambda future, task=task: self._drop(task))
        self.arrived.set()

    def _drop(self, task):
        """A queued task whose request gave up (its deadline passed, the client left) leaves
        the queue: it is not computed and no longer counts toward the queue's bound."""
        if task.future.cancelled() and task in self.tasks:
            self.tasks.remove(task)
            self.rows -= task.rows
            self.pending -= task.rows

    async def run_alone(self, task):
        """A task that fills a batch by itself, with nothing queued before it: nothing could
        join it, so it goes straight to the batch threads' queue. Not through the dispatcher:
        measured, handing full batches over one at a time costs 65 µs of event-loop work per
        request, where the pool's own queue keeps its threads busy. With a thread free it
        takes a slot and starts at once, outside the bound; otherwise it waits in the pool's
        queue and counts as enqueued until a finishing batch hands it a slot."""
        slots = self.scheduler.slots
        if slots.locked():
            self.admit(task.rows)
            waiting = _Waiting(self, task.rows)
            self.scheduler.backlog.append(waiting)
        else:
            self.last_used = time.monotonic()
            await slots.acquire()  # free, so this does not wait
            waiting = None
        self._start([task], task.rows, waiting)
        return await task.future

    async def _take(self):
        """Wait for a batch's worth of rows (or the timeout); remove it from the queue.

        One timer per batch, armed when its first request waits, wakes the same event as
        arrivals (an `asyncio.wait_for` per wake made a task and a timer each time). The
        loop's timer resolution decides how exactly the timeout is kept: uvloop's counts
        whole milliseconds, so a timeout under 0.5 ms ends at the loop's next turn and a
        longer one may end up to about a millisecond early or late."""
        params = self.scheduler.params
        limit = params.execution_batch_size  # max_batch_size unless large batches split
        loop = asyncio.get_running_loop()
        while True:
            while not self.tasks:
                self.arrived.clear()
                await self.arrived.wait()
            left = self.tasks[0].enqueued + params.batch_timeout_micros / 1e6 - \
                time.perf_counter()
            if self.rows < limit and left > 0:
                expired = []
                timer = loop.call_later(left, self._expire, expired)
                try:
                    while self.rows < limit and self.tasks and not expired:
                        self.arrived.clear()
                        await self.arrived.wait()
                finally:
                    timer.cancel()
            if self.tasks:  # (requests that gave up meanwhile may have emptied it)
                break
        first = self.tasks[0].shapes
        batch, rows, rest = [], 0, []
        for task in self.tasks:
            if rows + task.rows <= limit and task.shapes == first:
                batch.append(task)
                rows += task.rows
            else:
                rest.append(task)
        self.tasks, self.rows = rest, self.rows - rows
        return batch

    def _expire(self, expired):
        """The batch timer: the batch goes as it is (the loop's timer resolution decides
        how exactly; uvloop's is a millisecond)."""
        expired.append(True)
        self.arrived.set()

    async def _dispatch(self):
        slots = self.scheduler.slots
        while True:
            batch = await self._take()
            await slots.acquire()  # while every batch thread is busy, the next batch grows
            rows = sum(task.rows for task in batch)
            self.pending -= rows  # on a thread now: no longer enqueued
            self._start(batch, rows)
            # Not held while waiting for the next batch: an idle queue of an unloaded
            # version would keep its last tasks' programs and weights alive.
            batch = None

    def _start(self, batch, rows, waiting=None):
        """Hand `batch` to the batch threads; a callback answers its requests. No request
        awaits the thread's future itself: one that gives up (its deadline) must not end
        the batch's accounting while its thread still computes it."""
        size = self.scheduler.params.padded_size(rows)
        now = time.perf_counter()
        future = self.scheduler.pool.submit(_compute, batch[0].run, batch, rows, size)
        future.add_done_callback(
            lambda future: self._finish(future, batch, rows, size, now, waiting))

    def _finish(self, future, batch, rows, size, now, waiting):
        if waiting is None or waiting.slot:
            self.scheduler.thread_done()
        else:  # finished before a slot was handed to it (completions seen out of order)
            self.scheduler.backlog.remove(waiting)
            self.pending -= rows
        if future.cancelled():  # the loop is shutting down
            for task in batch:
                task.future.cancel()
            return
        if future.exception() is not None:  # every request of the batch gets the error
            for task in batch:
                if not task.future.done():
                    task.future.set_exception(future.exception())
            return
        outputs = future.result()
        start = 0
        for task in batch:
            if not task.future.done():  # a request that timed out is gone
                task.future.set_result([o[start:start + task.rows] for o in outputs])
            start += task.rows
        series = self.series
        if series is not None:
            series.processed.observe(size)
            series.padding.observe(size - rows)
            series.runs.inc()
            for task in batch:
                series.queuing.observe((now - task.enqueued) * 1e6)


class _Series:
    """One model's batching metric children."""

    __slots__ = ("inputs", "padding", "processed", "queuing", "runs")

    def __init__(self, metrics, name):
        self.inputs = metrics.input_batch_size.labels(model_name=name)
        self.processed = metrics.processed_batch_size.labels(model_name=name)
        self.padding = metrics.padding_size.labels(model_name=name)
        self.runs = metrics.wrapped_run_count.labels(model_name=name)
        self.queuing = metrics.queuing_latency.labels(model_name=name)


def _compute(run, batch, rows, size):
    """On a batch thread: concatenate, pad with copies of a real row, run, fetch."""
    inputs = []
    for i in range(len(batch[0].inputs)):
        parts = [t.inputs[i] for t in batch]
        if size > rows:
            parts.append(np.repeat(parts[0][:1], size - rows, axis=0))
        inputs.append(np.concatenate(parts) if len(parts) > 1 else parts[0])
    outputs = [np.asarray(o) for o in run(inputs)]
    if any(o.ndim == 0 or o.shape[0] != size for o in outputs):
        raise ServingError("INVALID_ARGUMENT", "an output has no batch dimension, so batched "
                           "requests cannot be split; serve this model without batching")
    return outputs


class BatchScheduler:
    """`await scheduler.run(key, run, inputs, model_name)`: that request's outputs, computed
    in a batch with whatever else arrived for `key` meanwhile. Lives on one event loop."""

    def __init__(self, params, metrics=None):
        self.params, self.metrics = params, metrics
        self.pool = Workers(params.num_batch_threads, name="xlaflow-batch")
        self.queues = {}
        self._slots = None
        # full batches waiting in the pool's queue for a thread, oldest first (the pool
        # runs its queue in order, so the oldest is the one a freed thread takes)
        self.backlog = collections.deque()

    @property
    def slots(self):
        if self._slots is None:  # created on the loop that uses it
            self._slots = asyncio.Semaphore(self.params.num_batch_threads)
        return self._slots

    def thread_done(self):
        """A batch holding a slot finished: its thread has taken the oldest batch waiting
        in the pool's queue, which gets the slot and stops counting as enqueued; with none
        waiting, the slot is freed."""
        if self.backlog:
            waiting = self.backlog.popleft()
            waiting.slot = True
            waiting.queue.pending -= waiting.rows
        else:
            self.slots.release()

    async def run(self, key, run, inputs, model_name):
        """Queue one request: `inputs` share a leading batch dimension; `run` maps a list
        of batched arrays to a list of batched outputs."""
        rows = int(inputs[0].shape[0]) if inputs and inputs[0].ndim else 0
        if rows < 1 or any(a.ndim == 0 or a.shape[0] != rows for a in inputs):
            raise ServingError("INVALID_ARGUMENT", "batching needs every input to have the "
                               "same leading (batch) dimension of at least 1")
        if rows > self.params.max_batch_size:
            raise ServingError("INVALID_ARGUMENT", f"Task size {rows} is larger than maximum "
                               f"input batch size {self.params.max_batch_size}")
        queue = self.queues.get(key)
        if queue is None:
            self._drop_idle_queues()
            queue = self.queues[key] = _Queue(self, model_name)
        # enable_large_batch_splitting: a request larger than one run takes several tasks
        limit = self.params.execution_batch_size
        loop = asyncio.get_running_loop()
        tasks = [_Task(run, [a[start:start + limit] for a in inputs],
                       min(limit, rows - start), loop.create_future())
                 for start in range(0, rows, limit)]
        if queue.series is not None:
            queue.series.inputs.observe(rows)
        if len(tasks) == 1 and rows == limit and not queue.tasks:
            return await queue.run_alone(tasks[0])
        queue.put(tasks)
        if len(tasks) == 1:
            return await tasks[0].future
        parts = await asyncio.gather(*(task.future for task in tasks))
        return [np.concatenate(outputs) for outputs in zip(*parts)]

    def _drop_idle_queues(self):
        moment = time.monotonic() - IDLE_QUEUE_SECONDS
        for key, queue in list(self.queues.items()):
            if queue.idle_since(moment):
                queue.dispatcher.cancel()  # it waits for arrivals: nothing is in flight
                del self.queues[key]

    def close(self):
        self.pool.close()
