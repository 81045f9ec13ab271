"""Keras callbacks: hooks into fit/evaluate/predict (History, EarlyStopping, ...).

Epoch-level hooks receive logs as Python floats. Batch-level hooks receive the step's logs
as device arrays; reading one waits for that step, so only callbacks that need per-batch
values (TerminateOnNaN) do.
"""

from __future__ import annotations

import csv
import math
import os
import warnings

import numpy as np


class Callback:
    """Base class: override any of the on_* hooks; `self.model` is set by fit."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass  # noqa: E704
    def on_train_end(self, logs=None): pass  # noqa: E704
    def on_epoch_begin(self, epoch, logs=None): pass  # noqa: E704
    def on_epoch_end(self, epoch, logs=None): pass  # noqa: E704
    # Keras 2's names for the training batch hooks: the defaults forward to them.
    def on_batch_begin(self, batch, logs=None): pass  # noqa: E704
    def on_batch_end(self, batch, logs=None): pass  # noqa: E704

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs=None): pass  # noqa: E704
    def on_test_end(self, logs=None): pass  # noqa: E704
    def on_test_batch_begin(self, batch, logs=None): pass  # noqa: E704
    def on_test_batch_end(self, batch, logs=None): pass  # noqa: E704
    def on_predict_begin(self, logs=None): pass  # noqa: E704
    def on_predict_end(self, logs=None): pass  # noqa: E704
    def on_predict_batch_begin(self, batch, logs=None): pass  # noqa: E704
    def on_predict_batch_end(self, batch, logs=None): pass  # noqa: E704


_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
                "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end")


_ALIASES = {"on_train_batch_begin": ("on_batch_begin",),
            "on_train_batch_end": ("on_batch_end",)}


def _overrides(cb, hook):
    return hook in vars(cb) or getattr(type(cb), hook) is not getattr(Callback, hook)


class BatchCounter:
    """Batches trained, counted from the batch indices the hooks receive (as Keras), so a
    steps_per_execution block (one on_train_batch_end call, index of its last batch) counts
    all of its batches."""

    def __init__(self):
        self.total, self._last = 0, -1

    def new_epoch(self):
        self._last = -1

    def advance(self, batch):
        """Count up to `batch` (an index within the epoch); returns the total."""
        self.total += batch + 1 if batch <= self._last else batch - self._last
        self._last = batch
        return self.total


def as_list(callbacks):
    """`callbacks` as a flat list, as Keras 2 takes them (it nest.flattens): None, one
    callback (`callbacks=EarlyStopping(...)`, as TF's audio tutorial passes it), or
    lists/tuples of them."""
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        return [callbacks]
    return [cb for item in callbacks for cb in as_list(item)]


class CallbackList:
    """Dispatches each hook to every callback; batch hooks only to those that define them."""

    def __init__(self, callbacks, model, params):
        self.callbacks = as_list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self._batch_users = {hook: [cb for cb in self.callbacks if any(
            _overrides(cb, name) for name in (hook, *_ALIASES.get(hook, ())))]
            for hook in _BATCH_HOOKS}

    def wants(self, hook):
        return bool(self._batch_users.get(hook, self.callbacks))

    def __getattr__(self, hook):
        targets = self._batch_users.get(hook, self.callbacks)

        # Keras 2 hands every hook its logs positionally ({} when there are none), so a
        # callback may declare `def on_train_begin(self, logs):` without a default
        wanted = 2 if ("epoch" in hook or "batch" in hook) else 1

        def call(*args, **kwargs):
            if len(args) < wanted and "logs" not in kwargs:
                args = (*args, {})
            for cb in targets:
                getattr(cb, hook)(*args, **kwargs)

        return call


class History(Callback):
    """Records epoch logs: `history.history['loss']` is the list of epoch losses."""

    def __init__(self):
        super().__init__()
        self.epoch, self.history = [], {}

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _monitor_mode(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max'; received {mode!r}")
    if mode == "auto":
        mode = "max" if any(k in monitor for k in ("acc", "auc", "precision", "recall")) \
            else "min"
    return mode


def _worst(mode):
    """The initial `best` (Keras): a first value improves on it unless it is NaN, and NaN
    never improves (every comparison with it is False)."""
    return math.inf if mode == "min" else -math.inf


def _monitored(callback, what, logs):
    """The monitored value, or None with a warning when this epoch's logs lack it (as
    Keras: no validation this epoch with validation_freq, or no validation data)."""
    value = (logs or {}).get(callback.monitor)
    if value is None:
        warnings.warn(f"{what}: metric {callback.monitor!r} is not in this epoch's logs "
                      f"{sorted(logs or {})}; skipping the epoch", RuntimeWarning, stacklevel=3)
    return value


class EarlyStopping(Callback):
    """Stop training when `monitor` has not improved by `min_delta` for `patience` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.mode = _monitor_mode(monitor, mode)
        self.min_delta = abs(min_delta)
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.stopped_epoch = 0

    def _improved(self, value, reference):
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta

    def on_train_begin(self, logs=None):
        self.wait, self.best, self.best_weights, self.stopped_epoch = 0, _worst(self.mode), \
            None, 0
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        # Keras 3's rule: the best epoch is tracked (and its weights kept) from the first
        # one on, but the wait restarts only on an epoch that also beats the baseline.
        value = _monitored(self, "EarlyStopping", logs)
        if value is None:
            return
        if epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self.restore_best_weights and self.best_weights is None:
            # Keras: the first epoch's weights, restored if no epoch ever improves (NaN)
            self.best_weights = self.model.get_weights()
        if self._improved(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)
            if self.verbose:
                print(f"Epoch {epoch + 1}: early stopping")


_NO_INDEX_HOOKS = ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
                   "on_predict_begin", "on_predict_end")


class LambdaCallback(Callback):
    """A callback from functions: `LambdaCallback(on_epoch_end=lambda epoch, logs: ...)`;
    any hook of Callback may be given (as Keras: `on_test_end=lambda logs: ...`, ...)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None,
                 on_batch_end=None, on_train_begin=None, on_train_end=None, **kwargs):
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_batch_begin=on_batch_begin, on_batch_end=on_batch_end, **kwargs)
        unknown = sorted(name for name in hooks if not name.startswith("on_") or
                         not callable(getattr(Callback, name, None)))
        if unknown:
            raise TypeError(f"LambdaCallback: {unknown} are not callback hooks")
        for name, fn in hooks.items():
            if fn is not None:
                # Keras calls these with (epoch or batch, logs) or (logs); logs may be absent.
                arity = 1 if name in _NO_INDEX_HOOKS else 2
                setattr(self, name, lambda *args, fn=fn, arity=arity, **kwargs: fn(
                    *(list(args) + [kwargs.get("logs")] * (arity - len(args)))))


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: invalid loss, terminating training")
            self.model.stop_training = True


_RATE_KEYS = ("learning_rate", "lr")  # logged by the rate callbacks: no val_ column


class CSVLogger(Callback):
    """Append one CSV row of epoch logs per epoch to `filename` ('NA' for a value an epoch
    lacks, such as val_* on epochs validation_freq skips)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append

    def on_train_begin(self, logs=None):
        self.keys = None
        if not self.append and os.path.exists(self.filename):
            os.remove(self.filename)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.params.get("do_validation") and not any(
                    k.startswith("val_") for k in self.keys):
                # validation_freq > 1: this epoch has no val_* keys yet; their columns
                # come up front (as Keras), 'NA' where an epoch has no value.
                self.keys = sorted([*self.keys, *(f"val_{k}" for k in self.keys
                                                  if k not in _RATE_KEYS)])
        new_file = not os.path.exists(self.filename) or os.path.getsize(self.filename) == 0
        with open(self.filename, "a", newline="") as handle:
            writer = csv.writer(handle, delimiter=self.separator)
            if new_file:
                writer.writerow(["epoch", *self.keys])
            writer.writerow([epoch, *[_csv_value(logs[k]) if k in logs else "NA"
                                      for k in self.keys]])


def _csv_value(value):
    """A log value as Keras 2's CSVLogger writes it: a number, or an array (a per-class
    metric) as the text "[a, b, c]", quotes included."""
    value = np.asarray(value)
    if value.ndim == 0:
        return value.item()
    return '"[' + ", ".join(map(str, value.reshape(-1))) + ']"'
