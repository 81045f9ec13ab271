"""The learning-rate callbacks: LearningRateScheduler and ReduceLROnPlateau.

Both set `model.optimizer.learning_rate` (a Variable: no retrace) and log the rate each
epoch as 'learning_rate' (Keras 3) and 'lr' (Keras 2).
"""

from __future__ import annotations

import inspect

from xlaflow.callbacks import Callback, _monitor_mode, _monitored, _worst


def _takes_rate(schedule):
    """Whether `schedule` takes (epoch, lr) (Keras 2 also calls one-argument schedules
    `schedule(epoch)`); decided once, from the signature when it has one."""
    try:
        inspect.signature(schedule).bind(0, 0.0)
        return True
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): try both, as Keras 2
        return None


def _log_rate(model, logs):
    """The rate as Keras 3 ('learning_rate') and Keras 2 ('lr') log it."""
    if logs is not None:
        rate = float(model.optimizer.learning_rate)
        logs["learning_rate"] = logs["lr"] = rate


class LearningRateScheduler(Callback):
    """Set the learning rate at each epoch start to `schedule(epoch, lr)` (or
    `schedule(epoch)` for a one-argument schedule, as Keras 2). Epoch logs get the rate as
    'learning_rate' (Keras 3) and 'lr' (Keras 2)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose
        self._takes_rate = _takes_rate(schedule)

    def _rate(self, epoch, lr):
        if self._takes_rate is None:
            try:
                return self.schedule(epoch, lr)
            except TypeError:
                return self.schedule(epoch)
        return self.schedule(epoch, lr) if self._takes_rate else self.schedule(epoch)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        lr = self._rate(epoch, float(optimizer.learning_rate))
        try:
            lr = float(lr)
        except (TypeError, ValueError):
            raise ValueError(f"LearningRateScheduler: the schedule should return a float; "
                             f"returned {lr!r} for epoch {epoch}") from None
        optimizer.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}")

    def on_epoch_end(self, epoch, logs=None):
        _log_rate(self.model, logs)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` after `patience` epochs without improvement."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1; received {factor}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, factor, patience, \
            verbose
        self.mode = _monitor_mode(monitor, mode)
        self.min_delta, self.cooldown, self.min_lr = min_delta, cooldown, min_lr

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = _worst(self.mode), 0, 0

    def on_epoch_end(self, epoch, logs=None):
        # The rate this epoch trained at, before any reduction (Keras), as 'learning_rate'
        # and Keras 2's 'lr'.
        _log_rate(self.model, logs)
        value = _monitored(self, "ReduceLROnPlateau", logs)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        better = value < self.best - self.min_delta if self.mode == "min" else \
            value > self.best + self.min_delta
        if better:
            self.best, self.wait = value, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                optimizer = self.model.optimizer
                old = float(optimizer.learning_rate)
                new = max(old * self.factor, self.min_lr)
                if new < old:
                    optimizer.learning_rate = new
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new}")
                self.cooldown_counter, self.wait = self.cooldown, 0
