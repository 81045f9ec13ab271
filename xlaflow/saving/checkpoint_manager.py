"""CheckpointManager (tf.train.CheckpointManager) over orbax's, and latest_checkpoint.

Each step directory is a checkpoint in checkpoint.py's format. Saves are asynchronous:
`save` returns once the values are copied to the host and orbax writes them in the
background; whatever reads the directory (or the process's exit through `close`) first
waits for the pending save, then seals it. A damaged checkpoint is moved aside on restore,
so that orbax neither restores it nor counts it as the latest step (which would make it
skip the next save of that number). TF saves synchronously, so a second manager or a
reader of the same directory, and the process's exit, first finish this process's pending
saves there (`finish_pending`): none sees a directory without the newest save.
"""

from __future__ import annotations

import datetime
import os
import threading
import uuid
import warnings

from xlaflow.saving.checkpoint import Checkpoint, _ocp, _save_args
from xlaflow.saving.checkpoint_files import (
    CheckpointIntegrityError,
    record_latest,
    recorded_latest,
    seal,
)

# Managers with saves orbax may still be writing, held until those are sealed (so a
# manager the program dropped still gets its last save finished).
_PENDING = set()
_EXIT_HOOK = []  # registered once: [True]
# Saves made into each directory by this process's managers: a manager that did not make
# the last of them re-reads the directory's steps before numbering its own (orbax caches
# them, so two managers of one directory would both write the next step and collide).
_SAVES = {}


def finish_pending(path=None):
    """Finish (and seal) this process's pending saves into `path` (a manager's directory
    or a checkpoint in it; None: every directory) before it is read."""
    path = None if path is None else os.path.abspath(os.fspath(path))
    for manager in list(_PENDING):
        if path is None or path == manager._directory or \
                path.startswith(manager._directory + os.sep):
            manager.wait_until_finished()


def _user_threads():
    """The non-daemon threads the interpreter will join at exit, less the executors' own
    (their workers and managers stop only when their exit hooks, after ours, run)."""
    from concurrent.futures import thread as futures_thread

    return [t for t in threading.enumerate()
            if not t.daemon and t is not threading.current_thread()
            and t is not threading.main_thread()
            and not isinstance(t, threading._DummyThread)
            and getattr(t, "_target", None) is not futures_thread._worker
            and not type(t).__module__.startswith(("concurrent.", "multiprocessing.",
                                                    "asyncio."))]


def _finish_at_exit():
    # The interpreter joins the other non-daemon threads only after the executors orbax
    # writes with refuse new work: a thread that saves while the main thread exits (TF
    # saves synchronously, so that works there) is joined first, while they still run.
    for thread in _user_threads():
        thread.join()
    try:
        finish_pending()
    except Exception as exc:  # noqa: BLE001 (report, and let the other exit hooks run)
        warnings.warn(f"CheckpointManager: a pending save failed at exit: {exc}",
                      RuntimeWarning, stacklevel=1)


def _register_exit_hook():
    # threading's exit hooks run in reverse order of registration, before its executors
    # refuse new work (concurrent.futures' own hook): orbax's commit thread needs them,
    # and atexit's hooks run too late for that. Imported first so that ours runs before.
    if _EXIT_HOOK:
        return
    import concurrent.futures.thread  # noqa: F401
    register = getattr(threading, "_register_atexit", None)
    if register is None:  # not CPython's threading: the close() call is then the user's
        return
    register(_finish_at_exit)
    _EXIT_HOOK.append(True)


class CheckpointManager:
    """Numbered checkpoints of one Checkpoint in `directory`, keeping the newest
    `max_to_keep` (None: all) and every `keep_period`-th.

    `save_interval_steps` follows orbax: the first save, then checkpoint numbers that are
    multiples of it; a number not above the latest is skipped too (`save` returns None).
    `restore_or_initialize` restores the newest good checkpoint, falling back past damaged
    ones with a warning. Set `async_save=False` to write each save before `save` returns.
    """

    def __init__(self, checkpoint, directory, max_to_keep=5, save_interval_steps=1,
                 keep_period=None, init_fn=None, async_save=True, *,
                 keep_checkpoint_every_n_hours=None, checkpoint_name="ckpt",
                 step_counter=None, checkpoint_interval=None):
        # TF's keywords: keep_checkpoint_every_n_hours keeps one checkpoint per period
        # beyond max_to_keep; with checkpoint_interval, save() skips until `step_counter`
        # (a Variable or int-like) has advanced that many steps since the last save.
        if checkpoint_name != "ckpt":
            raise NotImplementedError(
                "CheckpointManager: checkpoint_name is not supported: checkpoints are "
                "numbered directories (<directory>/<n>); use one directory per name")
        if checkpoint_interval is not None and step_counter is None:
            raise ValueError("CheckpointManager: checkpoint_interval needs step_counter (as "
                             "in TF)")
        self._step_counter, self._interval = step_counter, checkpoint_interval
        self._last_saved_step = None
        if not isinstance(checkpoint, Checkpoint):
            raise TypeError(f"CheckpointManager: checkpoint must be an xf.train.Checkpoint; "
                            f"received {type(checkpoint).__name__}")
        if max_to_keep is not None and (not isinstance(max_to_keep, int) or max_to_keep < 1):
            raise ValueError(f"CheckpointManager: max_to_keep must be a positive int or None; "
                             f"received {max_to_keep!r}")
        if not isinstance(save_interval_steps, int) or save_interval_steps < 1:
            raise ValueError(f"CheckpointManager: save_interval_steps must be a positive int; "
                             f"received {save_interval_steps!r}")
        ocp = _ocp()
        self._checkpoint, self._init_fn = checkpoint, init_fn
        self._directory = os.path.abspath(os.fspath(directory))
        self._unsealed = []  # steps this manager saved that orbax may still be writing
        # another manager's save still being written here would be missed (and renumbered)
        finish_pending(self._directory)
        _register_exit_hook()
        self._saves_seen = _SAVES.get(self._directory, 0)
        self._manager = ocp.CheckpointManager(
            self._directory, item_names=("state", "digest"),
            options=ocp.CheckpointManagerOptions(
                max_to_keep=max_to_keep, save_interval_steps=save_interval_steps,
                keep_period=keep_period, enable_async_checkpointing=async_save, create=True,
                keep_time_interval=None if keep_checkpoint_every_n_hours is None else
                datetime.timedelta(hours=float(keep_checkpoint_every_n_hours))))

    @property
    def directory(self):
        return self._directory

    def _path(self, step):
        return os.path.join(self._directory, str(step))

    def wait_until_finished(self):
        """Block until the pending save is written (and sealed)."""
        self._manager.wait_until_finished()
        # Only after orbax's wait: its finalize also deletes the steps past max_to_keep.
        for step in self._unsealed:
            if os.path.isdir(self._path(step)):
                seal(self._path(step))
        self._unsealed = []
        _PENDING.discard(self)

    def _steps(self):
        self.wait_until_finished()
        return sorted(self._manager.all_steps())

    @property
    def checkpoints(self):
        """Paths of the kept checkpoints, oldest first."""
        return [self._path(s) for s in self._steps()]

    @property
    def latest_checkpoint(self):
        steps = self._steps()
        return self._path(steps[-1]) if steps else None

    def save(self, checkpoint_number=None, check_interval=True):
        """Save as step `checkpoint_number` (default: the latest + 1); returns its path, or
        None when the interval (or an existing newer step) skips it."""
        current = None if self._step_counter is None else int(
            getattr(self._step_counter, "numpy", lambda: self._step_counter)())
        if check_interval and self._interval is not None and \
                self._last_saved_step is not None and \
                current - self._last_saved_step < self._interval:
            return None
        if _SAVES.get(self._directory, 0) != self._saves_seen:  # another manager saved here
            finish_pending(self._directory)
            self._manager.reload()
        latest = self._manager.latest_step()
        step = (latest or 0) + 1 if checkpoint_number is None else int(checkpoint_number)
        if check_interval and not self._manager.should_save(step):
            if checkpoint_number is not None and latest is not None and step <= latest:
                # TF would write it; orbax numbers by step and cannot go back: say so.
                warnings.warn(f"CheckpointManager.save: checkpoint_number={step} is not above "
                              f"the latest checkpoint ({latest}); nothing was saved. Start a "
                              "new directory, or restore the latest first and number on "
                              "from it", RuntimeWarning, stacklevel=2)
            return None
        self.wait_until_finished()  # orbax would wait anyway; this seals the previous save
        if step in self._manager.all_steps():
            raise ValueError(f"CheckpointManager.save: checkpoint {self._path(step)} already "
                             "exists; pass a new checkpoint_number")
        self._checkpoint.save_counter += 1
        tree, manifest = self._checkpoint._snapshot()
        saved = self._manager.save(step, args=_save_args(_ocp(), tree, manifest),
                                   force=not check_interval)
        if not saved:
            return None
        self._unsealed.append(step)
        _PENDING.add(self)
        _SAVES[self._directory] = self._saves_seen = _SAVES.get(self._directory, 0) + 1
        record_latest(self._path(step))  # latest_checkpoint(directory) finds it, as in TF
        if current is not None:
            self._last_saved_step = current
        return self._path(step)

    def restore_or_initialize(self):
        """Restore the newest good checkpoint and return its path; a damaged one is moved
        aside (`corrupt-<step>-*`, kept for inspection) with a warning and the one before
        it is tried. With no checkpoint, call `init_fn` (if given) and return None."""
        for step in reversed(self._steps()):
            path = self._path(step)
            try:
                self._checkpoint.restore(path)
                return path
            except CheckpointIntegrityError as exc:
                aside = os.path.join(self._directory, f"corrupt-{step}-{uuid.uuid4().hex[:8]}")
                os.replace(path, aside)
                self._manager.reload()
                warnings.warn(f"{exc}\nMoved it to {aside}; falling back to the previous "
                              "checkpoint.", RuntimeWarning, stacklevel=2)
        if self._init_fn is not None:
            self._init_fn()
        return None

    def close(self):
        """Finish (and seal) any pending save and release orbax's resources."""
        self.wait_until_finished()
        self._manager.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def latest_checkpoint(directory):
    """The newest complete checkpoint in `directory`: the one Checkpoint.save last wrote
    there, else a CheckpointManager's newest step; None if none (tf.train.latest_checkpoint).
    As TF, the path is under `directory` as given: 'training_2' gives 'training_2/cp-0050'."""
    given = os.fspath(directory)
    directory = os.path.abspath(given)
    finish_pending(directory)
    if not os.path.isdir(directory):
        return None
    recorded = recorded_latest(directory)  # Checkpoint.save's `<prefix>-<n>`
    if recorded is not None:
        return os.path.join(given, os.path.basename(recorded))
    steps = _ocp().step.checkpoint_steps(directory)
    return os.path.join(given, str(max(steps))) if steps else None
