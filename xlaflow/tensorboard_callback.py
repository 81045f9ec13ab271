"""keras.callbacks.TensorBoard: epoch and batch scalars, weight histograms, steps per
second and a profile of chosen batches, written for TensorBoard without TensorFlow."""

from __future__ import annotations

import os
import time
import warnings

import jax
import numpy as np

from xlaflow import errors, summary
from xlaflow.callbacks import BatchCounter, Callback
from xlaflow.profiler import experimental as profiler


class TensorBoard(Callback):
    """Write epoch (and optionally every-N-batch) scalars for TensorBoard under `log_dir`
    (train/ and validation/ runs) through xf.summary's writer (tensorboardX's event
    format, no TensorFlow), which writes synchronously: every epoch's events are in the
    files when its on_epoch_end returns, and all of them when fit returns.

    `update_freq='epoch'` writes at epoch ends only; an integer N also writes the training
    logs every N batches (each such write waits for that step's values). `histogram_freq=N`
    writes each weight's histogram every N epochs. `write_steps_per_second` adds
    `epoch_steps_per_second` (and `batch_steps_per_second` over each update_freq interval).
    `profile_batch=N` or `(start, stop)` traces those training batches (counted from 1
    across epochs, as Keras) with JAX's profiler into train/plugins/profile, which
    TensorBoard's profile plugin reads. There is no TF graph to draw: with `write_graph`
    (Keras' default) the Graphs tab stays empty; `model.lower(...)` or
    `xf.function(...).get_concrete_function(...).as_text()` show the XLA program instead.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        refused = {"write_images": (write_images, "write weights as images"),
                   "embeddings_freq": (embeddings_freq, "the embedding projector")}
        for name, (value, what) in refused.items():
            if value not in (0, False, None):
                raise NotImplementedError(
                    f"TensorBoard({name}={value!r}) is not implemented ({what}); leave it at "
                    "its default")
        if embeddings_metadata is not None:
            raise NotImplementedError("TensorBoard(embeddings_metadata=...) is not "
                                      "implemented (the embedding projector)")
        if isinstance(histogram_freq, bool) or not isinstance(histogram_freq, int) or \
                histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be an int >= 0; received "
                             f"{histogram_freq!r}")
        self._profile_range = _profile_range(profile_batch)
        self.histogram_freq, self.write_graph = histogram_freq, write_graph
        self.write_steps_per_second = bool(write_steps_per_second)
        try:
            import tensorboardX  # noqa: F401
        except ImportError as e:
            raise ImportError("TensorBoard needs tensorboardX: pip install "
                              "'xlaflow[tensorboard]'") from e
        if update_freq != "epoch" and (not isinstance(update_freq, int) or update_freq < 1):
            raise ValueError(f"update_freq must be 'epoch' or a positive int; received "
                             f"{update_freq!r}")
        self.log_dir, self.update_freq = os.fspath(log_dir), update_freq
        self._writers = {}
        self._batches = BatchCounter()
        self._profiled = 0  # training batches begun, for profile_batch (as Keras counts)
        self._tracing = False
        # Batch hooks only when something needs them: each call is per-step Python work
        if update_freq != "epoch" or self._profile_range:
            self.on_train_batch_end = self._batch_end
        if self._profile_range:
            self.on_train_batch_begin = self._batch_begin

    def _writer(self, run):
        if run not in self._writers:
            self._writers[run] = summary.create_file_writer(os.path.join(self.log_dir, run))
        return self._writers[run]

    def _write(self, run, step, scalars=(), histograms=()):
        """(tag, value) pairs at `step` into `run`'s files, flushed when the block exits."""
        with self._writer(run).as_default():
            for tag, value in scalars:
                summary.scalar(tag, float(value), step=step)
            for tag, value in histograms:
                summary.histogram(tag, value, step=step)

    def on_train_begin(self, logs=None):
        self._batches = BatchCounter()
        self._profiled = 0
        self._last_write = (0, time.perf_counter())

    def on_epoch_begin(self, epoch, logs=None):
        self._batches.new_epoch()
        self._epoch_start = (self._batches.total, time.perf_counter())

    def _batch_begin(self, batch, logs=None):
        self._profiled += 1
        if self._profiled == self._profile_range[0]:
            try:
                profiler.start(os.path.join(self.log_dir, "train"))
                self._tracing = True
            except errors.AlreadyExistsError as e:  # another trace: as Keras, a warning
                warnings.warn(f"TensorBoard: profile_batch={self._profile_range} is not "
                              f"traced: {e}", UserWarning, stacklevel=2)

    def _batch_end(self, batch, logs=None):
        before = self._batches.total
        done = self._batches.advance(batch)  # a steps_per_execution block: several
        if self._tracing and self._profiled >= self._profile_range[1]:
            jax.block_until_ready(logs)  # the traced steps' work, not just their dispatch
            self._stop_trace()
        if self.update_freq != "epoch" and \
                before // self.update_freq != done // self.update_freq:
            scalars = [(f"batch_{key}", value) for key, value in (logs or {}).items()]
            if self.write_steps_per_second:
                steps, since = self._last_write
                now = time.perf_counter()
                scalars.append(("batch_steps_per_second", (done - steps) / (now - since)))
                self._last_write = (done, now)
            self._write("train", done, scalars)

    def _stop_trace(self):
        self._tracing = False
        profiler.stop()

    def on_epoch_end(self, epoch, logs=None):
        runs = {"train": [], "validation": []}
        for key, value in (logs or {}).items():
            run, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            runs[run].append((f"epoch_{name}", value))
        if self.write_steps_per_second:  # as Keras: the epoch's steps over its wall time
            steps, since = self._epoch_start
            runs["train"].append(("epoch_steps_per_second", (self._batches.total - steps)
                                  / (time.perf_counter() - since)))
        histograms = []
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            # Keras 2 tags them by the weight's name
            histograms = [(weight.name.replace(":", "_"), np.asarray(weight.value))
                          for weight in self.model.weights]
        for run, scalars in runs.items():
            if scalars or (run == "train" and histograms):
                self._write(run, epoch, scalars, histograms if run == "train" else ())

    def on_train_end(self, logs=None):
        if self._tracing:  # fit ended inside the profiled range
            self._stop_trace()
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _profile_range(profile_batch):
    """(start, stop) of Keras' profile_batch (an int N: (N, N); a pair, or its "a,b"
    string), or None for 0; Keras' ValueError for anything else."""
    value = profile_batch
    if isinstance(value, str):
        try:
            value = [int(part) for part in value.split(",")]
        except ValueError:
            value = None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        start, stop = int(value[0]), int(value[1])
        if start == stop == 0:
            return None
        if 0 < start <= stop:
            return start, stop
    raise ValueError("profile_batch must be a non-negative integer or 2-tuple of positive "
                     "integers. A pair of positive integers signifies a range of batches to "
                     f"profile. Found: {profile_batch!r}")
