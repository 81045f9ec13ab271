"""Server-side batching: concurrent requests for one signature run as one padded batch.

Requests queue per (model, version, signature). A dispatcher takes rows until
`max_batch_size` or until the oldest request has waited `batch_timeout_micros`, pads the
batch to an allowed size (so XLA sees a few shapes, compiled at warm-up, and never
recompiles under load), runs it on a shared pool and hands each request its rows. A full
queue answers UNAVAILABLE at once instead of growing without bound.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time

import numpy as np

from xlaflow.serving.errors import ServingError


class _Task:
    __slots__ = ("inputs", "rows", "future", "enqueued", "shapes")

    def __init__(self, inputs, rows):
        self.inputs, self.rows = inputs, rows
        self.future = concurrent.futures.Future()
        self.enqueued = time.perf_counter()
        self.shapes = tuple((a.shape[1:], a.dtype) for a in inputs)


class _Queue:
    def __init__(self, scheduler, key, run, model_name):
        self.scheduler, self.key, self.run, self.model_name = scheduler, key, run, model_name
        self.tasks, self.rows = [], 0  # rows waiting to be taken into a batch
        self.pending = 0  # rows accepted and not yet answered: what the bound limits
        self.wakeup = threading.Condition()
        self.thread = threading.Thread(target=self._dispatch, daemon=True,
                                       name=f"xlaflow-batch-{model_name}")
        self.thread.start()

    def put(self, task):
        params = self.scheduler.params
        with self.wakeup:
            if self.pending + task.rows > params.max_enqueued_batches * params.max_batch_size:
                raise ServingError("UNAVAILABLE", "The batch scheduling queue to which this "
                                   "task was submitted is full")
            self.tasks.append(task)
            self.rows += task.rows
            self.pending += task.rows
            self.wakeup.notify()

    def _take(self):
        """Wait for a batch's worth of rows (or the timeout) and remove it from the queue."""
        params = self.scheduler.params
        timeout = params.batch_timeout_micros / 1e6
        with self.wakeup:
            while not self.tasks:
                if self.scheduler.closed:
                    return None
                self.wakeup.wait(0.5)
            deadline = self.tasks[0].enqueued + timeout
            while self.rows < params.max_batch_size and time.perf_counter() < deadline:
                self.wakeup.wait(max(deadline - time.perf_counter(), 0))
            first = self.tasks[0].shapes
            batch, rows, rest = [], 0, []
            for task in self.tasks:
                if rows + task.rows <= params.max_batch_size and task.shapes == first:
                    batch.append(task)
                    rows += task.rows
                else:
                    rest.append(task)
            self.tasks, self.rows = rest, self.rows - rows
            return batch

    def _dispatch(self):
        while True:
            batch = self._take()
            if batch is None:
                return
            self.scheduler.pool.submit(self.scheduler.execute, self, batch)


class BatchScheduler:
    """`submit(key, run, inputs, model_name)` -> a Future of that request's outputs."""

    def __init__(self, params, metrics=None):
        self.params, self.metrics = params, metrics
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=params.num_batch_threads, thread_name_prefix="xlaflow-batch-run")
        self.queues, self.lock, self.closed = {}, threading.Lock(), False

    def submit(self, key, run, inputs, model_name):
        """Queue one request: `inputs` are arrays sharing a leading batch dimension, `run`
        maps a list of batched arrays to a list of batched outputs."""
        rows = int(inputs[0].shape[0]) if inputs and inputs[0].ndim else 0
        if rows < 1 or any(a.ndim == 0 or a.shape[0] != rows for a in inputs):
            raise ServingError("INVALID_ARGUMENT", "batching needs every input to have the "
                               "same leading (batch) dimension of at least 1")
        if rows > self.params.max_batch_size:
            raise ServingError("INVALID_ARGUMENT", f"Task size {rows} is larger than maximum "
                               f"input batch size {self.params.max_batch_size}")
        with self.lock:
            queue = self.queues.get(key)
            if queue is None:
                queue = self.queues[key] = _Queue(self, key, run, model_name)
        task = _Task(inputs, rows)
        queue.put(task)
        if self.metrics is not None:
            self.metrics.input_batch_size.labels(model_name=model_name).observe(rows)
        return task.future

    def execute(self, queue, batch):
        rows = sum(t.rows for t in batch)
        try:
            self._execute(queue, batch, rows)
        finally:
            with queue.wakeup:
                queue.pending -= rows

    def _execute(self, queue, batch, rows):
        size = self.params.padded_size(rows)
        try:
            inputs = []
            for i in range(len(batch[0].inputs)):
                parts = [t.inputs[i] for t in batch]
                if size > rows:  # padding rows are copies of real data, cut off below
                    parts.append(np.repeat(parts[0][:1], size - rows, axis=0))
                inputs.append(np.concatenate(parts) if len(parts) > 1 else parts[0])
            outputs = [np.asarray(o) for o in queue.run(inputs)]
            if any(o.ndim == 0 or o.shape[0] != size for o in outputs):
                raise ServingError("INVALID_ARGUMENT", "an output has no batch dimension, so "
                                   "batched requests cannot be split; disable batching")
        except Exception as exc:  # every request of the batch gets the error
            for task in batch:
                task.future.set_exception(exc)
            return
        start = 0
        now = time.perf_counter()
        for task in batch:
            task.future.set_result([o[start:start + task.rows] for o in outputs])
            start += task.rows
        if self.metrics is not None:
            m, name = self.metrics, queue.model_name
            m.processed_batch_size.labels(model_name=name).observe(size)
            m.padding_size.labels(model_name=name).observe(size - rows)
            m.wrapped_run_count.labels(model_name=name).inc()
            for task in batch:
                m.queuing_latency.labels(model_name=name).observe((now - task.enqueued) * 1e6)

    def close(self):
        self.closed = True
        self.pool.shutdown(wait=True)
