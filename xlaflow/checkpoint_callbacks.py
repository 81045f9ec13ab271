"""The callbacks that write checkpoints: ModelCheckpoint (weights or the whole model, as
model.save writes it) and BackupAndRestore (resumable training through xf.train)."""

from __future__ import annotations

import os
import shutil
import uuid
import warnings

from xlaflow.callbacks import BatchCounter, Callback, _monitor_mode, _worst
from xlaflow.training.progress import host_value


class ModelCheckpoint(Callback):
    """Save the model (`model.save`: architecture, weights, optimizer, export) or only its
    weights every epoch (or every `save_freq` batches), optionally only when `monitor`
    improves. `filepath` may hold `{epoch}`, `{batch}` (with an int save_freq) and log keys:
    'ckpt/{epoch:02d}-{val_loss:.2f}'.
    `platforms` picks what the full-model export is lowered for (model.save's default)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None, platforms=None):
        super().__init__()
        self.save_weights_only, self.platforms = bool(save_weights_only), platforms
        if save_freq != "epoch" and (not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"save_freq must be 'epoch' or a positive int; received "
                             f"{save_freq!r}")
        if not save_weights_only:  # refused now, not at the end of the first epoch
            from xlaflow.saving import keras_model
            keras_model.check_save_format(filepath, None)
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_freq = save_best_only, save_freq
        self.mode = _monitor_mode(monitor, mode)
        # As Keras: the first value saves unless it is NaN (NaN never improves).
        self.best = _worst(self.mode) if initial_value_threshold is None else \
            float(initial_value_threshold)
        self._batches, self._epoch, self._since_save = BatchCounter(), 0, 0
        if save_freq != "epoch":
            self.on_train_batch_end = self._batch_end

    def _improved(self, value):
        return value < self.best if self.mode == "min" else value > self.best

    def _save(self, epoch, logs, batch=None):
        logs = logs or {}
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:  # as Keras: warn and skip (batch logs have no val_* metrics)
                warnings.warn(f"ModelCheckpoint: metric {self.monitor!r} is not in the logs "
                              f"{sorted(logs)}; skipping this checkpoint", RuntimeWarning,
                              stacklevel=2)
                return
            if not self._improved(float(value)):
                if self.verbose:  # Keras 2's messages, word for word
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
        # the monitored value among them; a per-class metric stays an array (Keras)
        fields = {k: host_value(v) for k, v in logs.items()}
        if batch is not None:  # Keras: `{batch}` with an int save_freq (1-based)
            fields["batch"] = batch + 1
        try:
            path = self.filepath.format(epoch=epoch + 1, **fields)
        except KeyError as exc:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} names {exc}, which is "
                           f"not among epoch, batch (with an int save_freq) and the logs "
                           f"{sorted(logs)}") from None
        if self.verbose:
            change = f"{self.monitor} improved from {self.best:.5f} to " \
                f"{float(fields[self.monitor]):.5f}, " if self.save_best_only else ""
            print(f"Epoch {epoch + 1}: {change}saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path, platforms=self.platforms)
        if self.save_best_only:  # only once saved: a failed save leaves the best unchanged
            self.best = fields[self.monitor]

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._batches.new_epoch()

    def _batch_end(self, batch, logs=None):
        # Batches counted from the index (a steps_per_execution block is several); as
        # Keras, a save every `save_freq` batches seen since the last save.
        before = self._batches.total
        self._since_save += self._batches.advance(batch) - before
        if self._since_save >= self.save_freq:
            self._since_save = 0
            self._save(self._epoch, logs, batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, logs)


class BackupAndRestore(Callback):
    """Back up the whole training state to `backup_dir` every epoch (or every `save_freq`
    batches); a killed fit, run again, resumes at the last backup exactly: weights,
    optimizer and metric state, RNG seed Variables, epoch, batch and shuffle seed (on CPU
    its final weights are bit-identical; array data resumes exactly, a generator restarts).
    The backup is deleted when fit completes (`delete_checkpoint`); `double_checkpoint`
    keeps the previous one too, to fall back on if the newest is damaged."""

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True,
                 double_checkpoint=False):
        super().__init__()
        if save_freq != "epoch" and (not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch' or a positive int; "
                             f"received {save_freq!r}")
        self.backup_dir, self.save_freq = os.path.abspath(os.fspath(backup_dir)), save_freq
        self.delete_checkpoint, self.double_checkpoint = delete_checkpoint, double_checkpoint
        self._manager = self._ckpt = self._state = None
        self._seen = 0
        if save_freq != "epoch":
            self.on_train_batch_end = self._batch_end

    def on_train_begin(self, logs=None):
        from xlaflow.saving.checkpoint import Checkpoint
        from xlaflow.saving.checkpoint_manager import CheckpointManager
        if self._manager is not None:  # a fit that raised: its last save may be pending
            self._manager.close()
        self._state = getattr(self.model, "_fit_state", None)
        if self._state is None:
            raise RuntimeError("BackupAndRestore works inside model.fit(callbacks=[...])")
        # The fit's position as plain ints (-1: no shuffle seed); `batches` counts every
        # batch since the first fit began, so the save rhythm survives a resume.
        self._ckpt = Checkpoint(model=self.model, optimizer=self.model.optimizer,
                                metrics=list(self.model.metrics), epoch=0, step=0,
                                shuffle_seed=-1, batches=0)
        self._manager = CheckpointManager(self._ckpt, self.backup_dir,
                                          max_to_keep=2 if self.double_checkpoint else 1)
        if self._manager.restore_or_initialize() is not None:
            self._state.epoch, self._state.step = self._ckpt.epoch, self._ckpt.step
            seed = self._ckpt.shuffle_seed
            self._state.shuffle_seed = None if seed < 0 else seed

    def on_epoch_begin(self, epoch, logs=None):
        self._seen = self._state.step  # a resumed epoch starts past its first batches

    def _save(self, epoch, step):
        seed = self._state.shuffle_seed
        self._ckpt.epoch, self._ckpt.step = epoch, step
        self._ckpt.shuffle_seed = -1 if seed is None else int(seed)
        self._manager.save()

    def _batch_end(self, batch, logs=None):
        done, self._seen = self._state.step - self._seen, self._state.step  # a block: many
        before = self._ckpt.batches
        self._ckpt.batches += done
        if before // self.save_freq != self._ckpt.batches // self.save_freq:
            self._save(self._state.epoch, self._state.step)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1, 0)

    def on_train_end(self, logs=None):
        self._manager.close()
        self._manager = None
        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            # Renamed first: a kill during the deletion must not leave a half-deleted
            # backup for the next fit to resume from.
            doomed = f"{self.backup_dir}.deleting-{uuid.uuid4().hex[:8]}"
            os.replace(self.backup_dir, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
