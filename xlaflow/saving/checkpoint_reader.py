"""tf.train.list_variables / load_variable / load_checkpoint: read what a checkpoint holds
without the objects that wrote it, each array named '<object>/<key>' ('model/0001_w')."""

from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np

from xlaflow.saving.checkpoint_files import (
    _check_is_checkpoint,
    _read_manifest,
    _read_state,
    _verify_seal,
)


def _checkpoint_path(ckpt_dir_or_file, what):
    """One checkpoint's directory: the path itself, or a folder's latest (as TF takes)."""
    from xlaflow.saving.checkpoint_manager import finish_pending, latest_checkpoint

    path = os.path.abspath(os.fspath(ckpt_dir_or_file))
    finish_pending(path)  # a manager's save there may still be being written
    if not os.path.isdir(path):
        raise FileNotFoundError(f"xf.train.{what}: {path} is not a checkpoint directory "
                                "(it does not exist)")
    latest = None if os.path.isdir(os.path.join(path, "digest")) else latest_checkpoint(path)
    path = latest or path
    _check_is_checkpoint(path, what)
    _verify_seal(path)
    return path


def _manifest(path):
    import orbax.checkpoint as ocp  # imported on use: a heavy dependency

    with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:
        return _read_manifest(ocp, checkpointer, path)


def list_variables(ckpt_dir_or_file):
    """[(name, shape)] of every array in the checkpoint, sorted by name (TF's
    tf.train.list_variables); a folder of checkpoints lists its latest."""
    path = _checkpoint_path(ckpt_dir_or_file, "list_variables")
    manifest = _manifest(path)
    return sorted((f"{obj}/{key}", list(entry["shape"]))
                  for obj, entries in manifest["objects"].items()
                  for key, entry in entries.items())


def load_variable(ckpt_dir_or_file, name):
    """The array stored under `name` (a name list_variables gives), its digest checked."""
    path = _checkpoint_path(ckpt_dir_or_file, "load_variable")
    import orbax.checkpoint as ocp

    with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:
        stored = _read_manifest(ocp, checkpointer, path)["objects"]
        obj, _, key = str(name).partition("/")
        if key not in stored.get(obj, {}):
            names = sorted(f"{o}/{k}" for o, entries in stored.items() for k in entries)
            raise ValueError(f"xf.train.load_variable: {path} holds no variable {name!r}; "
                             f"it holds {names[:8]}{' ...' if len(names) > 8 else ''}")
        # The whole state: orbax refuses a part of the tree of a CheckpointManager's step,
        # and an array written once for two objects is stored under the first (`same_as`)
        values = _read_state(ocp, checkpointer, path, stored)
    return np.asarray(values[obj][key])


class CheckpointReader:
    """What `load_checkpoint` returns (TF's CheckpointReader): one checkpoint's names,
    shapes and dtypes from its manifest, and its arrays read on request."""

    def __init__(self, path):
        self._path = path
        self._entries = {f"{obj}/{key}": entry
                         for obj, entries in _manifest(path)["objects"].items()
                         for key, entry in entries.items()}

    def get_variable_to_shape_map(self):
        """{name: shape as a list}, the names list_variables gives."""
        return {name: list(entry["shape"]) for name, entry in self._entries.items()}

    def get_variable_to_dtype_map(self):
        """{name: dtype} (a NumPy dtype: `.name` is TF's dtype name, 'float32')."""
        return {name: np.dtype(jnp.dtype(entry["dtype"])) for name, entry in
                self._entries.items()}

    def has_tensor(self, name):
        return str(name) in self._entries

    def get_tensor(self, name):
        """The array stored under `name`, its digest checked (load_variable)."""
        return load_variable(self._path, name)


def load_checkpoint(ckpt_dir_or_file):
    """A CheckpointReader of the checkpoint (a folder of checkpoints: its latest), as TF's
    tf.train.load_checkpoint."""
    return CheckpointReader(_checkpoint_path(ckpt_dir_or_file, "load_checkpoint"))
