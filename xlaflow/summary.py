"""xf.summary: TF2's tf.summary writer API (create_file_writer, as_default, scalar,
histogram, text) on tensorboardX's event files, readable by TensorBoard without TensorFlow.

Inside an xf.function the values are traced, so a write runs as a jax.debug.callback when
the compiled program runs (each call writes, as TF's summary ops do), not at trace time.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import types
import weakref

import jax
import numpy as np

from xlaflow import _host_callbacks

_default = []  # the writers entered with as_default / set_as_default, innermost last
_step = threading.local()


class SummaryWriter:
    """One event-file directory (TF's tf.summary.SummaryWriter); use as_default() to make
    the summary functions write here."""

    def __init__(self, logdir, filename_suffix=""):
        from tensorboardX.event_file_writer import EventsWriter
        self.logdir = os.fspath(logdir)
        # the synchronous writer: tensorboardX's SummaryWriter queues events to a thread
        # that its flush() does not wait for, so a flushed file could lack the last ones
        self._events = EventsWriter(os.path.join(self.logdir, "events"), filename_suffix)
        self._closed = False
        self._lock = threading.Lock()
        # a writer dropped without close() still closes its file (TF's writers do)
        self._finalizer = weakref.finalize(self, self._events.close)

    @contextlib.contextmanager
    def as_default(self, step=None):
        """Summaries in this block go to this writer (and use `step` when given)."""
        _default.append(self)
        previous = get_step()
        if step is not None:
            set_step(step)
        try:
            yield self
        finally:
            if step is not None:
                set_step(previous)
            _default.remove(self)
            self.flush()

    def set_as_default(self, step=None):
        _default.append(self)
        if step is not None:
            set_step(step)

    def init(self):
        return None  # the event file is opened on construction

    def flush(self):
        if not self._closed:
            jax.effects_barrier()  # writes from compiled calls still in flight land first
            self._events.flush()

    def close(self):
        if not self._closed:
            jax.effects_barrier()
            self._finalizer()
            self._closed = True
            while self in _default:
                _default.remove(self)

    def _write(self, kind, name, data, step, buckets=None):
        from tensorboardX import summary as protos
        from tensorboardX.proto import event_pb2
        if self._closed:
            raise RuntimeError(f"tf.summary.{kind}({name!r}): the writer for {self.logdir} "
                               f"is closed")
        if kind == "scalar":
            summary = protos.scalar(name, float(np.asarray(data)))
        elif kind == "histogram":
            summary = protos.histogram(name, np.asarray(data, np.float64).ravel(),
                                       30 if buckets is None else int(buckets))
        else:
            summary = protos.text(name, data if isinstance(data, str) else
                                  str(np.asarray(data).item()))
        event = event_pb2.Event(summary=summary, wall_time=time.time(),
                                step=int(np.asarray(step)))
        with self._lock:  # compiled calls write from JAX's callback thread
            self._events.write_event(event)


def create_file_writer(logdir, max_queue=None, flush_millis=None, filename_suffix=None,
                       name=None, experimental_trackable=False, experimental_mesh=None):
    """A SummaryWriter writing event files under `logdir` (created if missing)."""
    # max_queue and flush_millis tune TF's buffering; events are written as they come
    os.makedirs(os.fspath(logdir), exist_ok=True)
    return SummaryWriter(logdir, filename_suffix or "")


def set_step(step):
    """The step a summary uses when it is given none (tf.summary.experimental.set_step)."""
    _step.value = step


def get_step():
    return getattr(_step, "value", None)


def _summary(kind, name, data, step, buckets=None):
    if not isinstance(name, str) or not name:
        raise ValueError(f"tf.summary.{kind}: name must be a non-empty string; received "
                         f"{name!r}")
    if not _default:
        return False  # TF writes nothing and returns False without a default writer
    step = get_step() if step is None else step
    if step is None:
        raise ValueError(f"tf.summary.{kind}({name!r}): no step; pass step=, or set one "
                         f"with tf.summary.experimental.set_step or as_default(step=...)")
    writer = _default[-1]
    step = getattr(step, "value", step)  # a Variable (optimizer.iterations): its value
    if kind == "text" and isinstance(data, str):
        writer._write(kind, name, data, step)
        return True
    if any(isinstance(x, jax.core.Tracer) for x in (data, step)):
        # compiled: the write happens each time the program runs, with its values
        _host_callbacks.refuse(f"tf.summary.{kind}({name!r})",
                               "write summaries from the training code, not the exported "
                               "function")
        jax.debug.callback(lambda d, s: writer._write(kind, name, d, s, buckets), data,
                           step)
    else:
        writer._write(kind, name, data, step, buckets)
    return True


def scalar(name, data, step=None, description=None):
    """Write one scalar under `name` at `step` to the default writer."""
    if np.size(data) != 1:
        raise ValueError(f"tf.summary.scalar({name!r}): data must be a scalar; received "
                         f"shape {np.shape(data)}")
    return _summary("scalar", name, data, step)


def histogram(name, data, step=None, buckets=None, description=None):
    """Write the distribution of `data`'s values under `name` at `step` (`buckets`
    equal-width buckets over [min, max], 30 by default as TF)."""
    return _summary("histogram", name, data, step, buckets)


def text(name, data, step=None, description=None):
    """Write a string under `name` at `step`."""
    return _summary("text", name, data, step)


def flush(writer=None, name=None):
    for w in ([writer] if writer is not None else _default[-1:]):
        w.flush()


# TF's namespace: tf.summary.experimental.set_step / get_step
experimental = types.SimpleNamespace(set_step=set_step, get_step=get_step)
