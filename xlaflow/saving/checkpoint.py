"""Checkpoints that resume training exactly: `Checkpoint` (tf.train.Checkpoint) and the
format that CheckpointManager (checkpoint_manager.py) writes too.

A checkpoint is one orbax directory with two items: `state`, every tracked array as a host
copy (`{object: {key: array}}`), and `digest`, a JSON manifest naming each array's shape,
dtype and SHA-256. Orbax writes the directory under a temporary name and renames it when
complete, so a crash leaves no directory that looks finished; but it does not notice a
changed data byte, so restore reads the manifest, checks every shape and dtype against the
objects, restores, verifies every digest, and only then assigns anything.

Once orbax has finished, a seal (`xlaflow_seal.json`: size and SHA-256 of every file of
the two items) is added under a temporary name and renamed. Restore checks it first, so a
truncated or flipped file is named before orbax reads it: a read that fails inside orbax
leaves tensorstore callbacks firing on a closed event loop ("Event loop is closed" noise).
A checkpoint whose process stopped before sealing it still has its array digests. Those
checks and the files around the arrays are in checkpoint_files.py.

Keys within an object are its Variables' positions and names without the owner's prefix
(`0003_kernel`), so a freshly built copy of a model (with new unique layer names) restores.
"""

from __future__ import annotations

import glob
import os
import shutil
import uuid

import jax
import numpy as np

from xlaflow.optimizers import Optimizer
from xlaflow.saving import atomic
from xlaflow.saving.checkpoint_files import (
    FORMAT,
    FORMAT_VERSION,
    _check_is_checkpoint,
    _digest,
    _read_manifest,
    _read_state,
    _verify_seal,
    record_latest,
    seal,
)
from xlaflow.saving.checkpoint_files import CheckpointIntegrityError  # noqa: F401 (xf.train's)
from xlaflow.saving.weights import position_key
from xlaflow.variables import Variable

_PLAIN = (bool, int, float, np.ndarray, np.generic, jax.Array)


def _ocp():
    import orbax.checkpoint as ocp  # imported on use: a heavy dependency
    return ocp


def _variables(obj, prefix=""):
    """{key: Variable} of a Variable, a Module (anything with `.variables`) or a list/dict
    of those."""
    if isinstance(obj, Variable):
        return {prefix + "value": obj}
    if isinstance(obj, (list, tuple, dict)):
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        found = {}
        for sub, item in items:
            found.update(_variables(item, f"{prefix}{sub}-"))
        return found
    return {prefix + position_key(i, v.name): v for i, v in enumerate(obj.variables)}


def _check_trackable(name, obj):
    if isinstance(obj, _PLAIN) and not _storable(np.asarray(obj).dtype):
        # Refused now: orbax would fail only at save, deep in tensorstore, after logging.
        raise TypeError(f"Checkpoint: {name} is an array of dtype {np.asarray(obj).dtype}; "
                        "expected numbers or bools (strings and objects cannot be saved "
                        "in a checkpoint)")
    if isinstance(obj, (*_PLAIN, Variable)) or hasattr(obj, "variables"):
        return
    if isinstance(obj, (list, tuple, dict)):
        for sub, item in (obj.items() if isinstance(obj, dict) else enumerate(obj)):
            if isinstance(item, _PLAIN):
                raise TypeError(f"Checkpoint: {name}[{sub!r}] is a plain value; plain values "
                                f"are tracked only at the top level (Checkpoint({name}_"
                                f"{sub}=...))")
            _check_trackable(f"{name}[{sub!r}]", item)
        return
    raise TypeError(f"Checkpoint: {name} is a {type(obj).__name__}; expected a Module/Layer/"
                    "Model, an optimizer, a Variable, a list/dict of those, or an int, float "
                    "or array")


def _storable(dtype):
    # Numbers and bools, including JAX's extra floats (bfloat16: NumPy kind "V").
    return dtype.kind in "biufc" or dtype.type.__module__ == "ml_dtypes"


class _Slot:
    """One array to restore: what it must look like, and how to assign it."""

    def __init__(self, shape, dtype, assign, label):
        self.shape, self.dtype, self.assign, self.label = tuple(shape), np.dtype(dtype), \
            assign, label


class _RestoreStatus:
    """What restore returns (TF's status object): restore is all-or-nothing per object, so
    only objects in the file that this Checkpoint does not track can be left unused."""

    def __init__(self, unused, path, restored=True):
        self._unused, self._path, self._restored = unused, path, restored

    def assert_consumed(self):
        if not self._restored:
            raise AssertionError("nothing was restored: restore() was given None (no "
                                 "checkpoint yet)")
        if self._unused:
            raise AssertionError(f"{self._path} holds objects this Checkpoint does not track: "
                                 f"{self._unused}")
        return self

    def assert_existing_objects_matched(self):
        return self

    def expect_partial(self):
        return self


class Checkpoint:
    """`Checkpoint(model=..., optimizer=..., step=0, **more)`, like `tf.train.Checkpoint`.

    Objects are Modules/Layers/Models (their `variables`), optimizers (iterations, learning
    rate and optax state), Variables, lists/dicts of those, or plain ints, floats and arrays
    (read back as attributes: `ckpt.step`). An optimizer that has not made its state yet
    (its first apply does) is built on restore for the model that owns it in this
    Checkpoint (`model.optimizer is optimizer`, else the one model tracked here).
    """

    def __init__(self, **objects):
        object.__setattr__(self, "_objects", {})
        object.__setattr__(self, "save_counter", 0)
        for name, obj in objects.items():
            setattr(self, name, obj)

    def __getattr__(self, name):
        objects = self.__dict__.get("_objects", {})
        if name in objects:
            return objects[name]
        raise AttributeError(f"Checkpoint has no object {name!r}; it tracks {sorted(objects)}")

    def __setattr__(self, name, value):
        if name == "save_counter" or name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        if hasattr(type(self), name):
            raise ValueError(f"Checkpoint: {name!r} is a method name; track the object under "
                             "another name")
        _check_trackable(name, value)
        self._objects[name] = value

    # -- what is saved ----------------------------------------------------------------------
    def _snapshot(self):
        """(state tree of host copies, manifest): taken now, so later steps cannot change
        what an asynchronous save writes."""
        tree, manifest = {}, {}
        for name, obj in self._objects.items():
            if isinstance(obj, _PLAIN):
                arrays = {"value": np.array(obj, copy=True)}
            else:
                arrays = {k: np.array(v.numpy(), copy=True)
                          for k, v in _variables(obj).items()}
            manifest[name] = {k: {"shape": list(a.shape), "dtype": a.dtype.name,
                                  "sha256": _digest(a)} for k, a in arrays.items()}
            if arrays:
                tree[name] = arrays
        return tree, {"format": FORMAT, "format_version": FORMAT_VERSION,
                      "save_counter": self.save_counter, "objects": manifest}

    def _slots(self, name, obj, stored):
        """{key: _Slot} the object expects; `stored` (the manifest's keys) decides whether
        an optimizer without state yet must be built."""
        if isinstance(obj, _PLAIN):
            value, kind = np.asarray(obj), type(obj)

            def assign(v):  # a Python number comes back as the same type
                self._objects[name] = kind(v) if kind in (bool, int, float) else v
            return {"value": _Slot(value.shape, value.dtype, assign, name)}
        slots = {k: _Slot(v.shape, v.dtype, v.assign, v.name)
                 for k, v in _variables(obj).items()}
        if isinstance(obj, Optimizer) and getattr(obj, "_state", None) is None \
                and set(stored) - set(slots):
            slots.update(self._unbuilt_optimizer_slots(name, obj, len(slots)))
        return slots

    def _unbuilt_optimizer_slots(self, name, opt, offset):
        owners = [o for o in self._objects.values() if getattr(o, "optimizer", None) is opt]
        if not owners:
            owners = [o for o in self._objects.values() if hasattr(o, "trainable_variables")
                      and not isinstance(o, Optimizer)]
        if len(owners) != 1:
            raise ValueError(
                f"Checkpoint.restore: optimizer {name!r} has no state yet (its first apply "
                "creates it) and this Checkpoint does not say which model it trains; track "
                "that one model in the same Checkpoint, or call "
                f"{name}.build(model.trainable_variables) before restoring")
        weights = list(owners[0].trainable_variables)
        with jax.ensure_compile_time_eval():
            leaves = jax.tree_util.tree_leaves(jax.eval_shape(
                opt._transform.init, [w.value for w in weights]))
        built = []

        def assign_leaf(value, j):
            if not built:  # the first leaf builds the state, as the first apply would
                opt.build(weights)
                built.append(True)
            opt._state[j].assign(value)
        return {position_key(offset + j, f"{opt.name}/state_{j}"): _Slot(
            leaf.shape, leaf.dtype, lambda v, j=j: assign_leaf(v, j), f"{opt.name}/state_{j}")
            for j, leaf in enumerate(leaves)}

    # -- TF's API ---------------------------------------------------------------------------
    def save(self, file_prefix):
        """Write `<file_prefix>-<n>` (n counts saves, as TF) and return that path; the
        directory's `checkpoint` file then names it, for train.latest_checkpoint."""
        self.save_counter += 1
        try:
            path = self.write(f"{os.fspath(file_prefix)}-{self.save_counter}")
        except BaseException:
            self.save_counter -= 1  # nothing was saved: the next save reuses the number
            raise
        record_latest(path)
        return path

    def write(self, path):
        """Write the checkpoint directory `path` (replacing one that exists); returns it."""
        path = os.path.abspath(os.fspath(path))
        if os.path.exists(path):
            atomic.check_replaceable(path, "Checkpoint.write")
        tree, manifest = self._snapshot()
        ocp = _ocp()
        # Written and sealed under a temporary name, then renamed: `path` is complete or
        # absent, and an existing checkpoint is swapped out only once the new one is done.
        partial = f"{path}.partial-{uuid.uuid4().hex[:8]}"
        try:
            with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:
                checkpointer.save(partial, args=_save_args(ocp, tree, manifest))
            seal(partial)
            atomic.replace_directory(partial, path)
        finally:
            # orbax writes into `partial.orbax-checkpoint-tmp*` first; a failed save
            # leaves that behind too (the random suffix makes the pattern ours alone).
            orbax_tmp = glob.glob(glob.escape(partial) + ".orbax-checkpoint-tmp*")
            for leftover in [partial, *orbax_tmp]:
                shutil.rmtree(leftover, ignore_errors=True)
        return path

    def restore(self, save_path):
        """Restore every tracked object from `save_path` (written by `write`/`save` or a
        CheckpointManager step). Shapes, dtypes and digests are all checked before any
        assignment: a mismatch raises ValueError naming the object, a damaged checkpoint
        CheckpointIntegrityError naming the directory, and nothing changes."""
        return self._restore(save_path, "restore")

    def read(self, save_path):
        """Restore every tracked object from `save_path` as `restore` does, but leave
        save_counter alone (TF's counterpart of `write`, which does not count saves)."""
        counter = self.save_counter
        status = self._restore(save_path, "read")
        self.save_counter = counter
        return status

    def _restore(self, save_path, what):
        if save_path is None:  # TF: latest_checkpoint found none, so nothing to restore
            return _RestoreStatus([], None, restored=False)
        path = os.path.abspath(os.fspath(save_path))
        if not os.path.isdir(path):
            raise FileNotFoundError(f"Checkpoint.{what}: {path} is not a checkpoint "
                                    "directory (it does not exist)")
        _check_is_checkpoint(path, what)
        _verify_seal(path)
        ocp = _ocp()
        with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:
            manifest = _read_manifest(ocp, checkpointer, path)
            stored = manifest["objects"]
            slots = self._match(stored, path)
            values = _read_state(ocp, checkpointer, path, stored)
        for name, slot_map in slots.items():
            for key, slot in slot_map.items():
                slot.assign(values[name][key])
        self.save_counter = int(manifest.get("save_counter", 0))
        return _RestoreStatus(sorted(set(stored) - set(self._objects)), path)

    def _match(self, stored, path):
        """{object: {key: _Slot}}, after checking the file holds exactly what each object
        expects; every mismatch is reported at once."""
        slots, problems = {}, []
        for name, obj in self._objects.items():
            if name not in stored:
                raise ValueError(f"Checkpoint.restore: {path} has no object {name!r}; it "
                                 f"holds {sorted(stored)}")
            slots[name] = self._slots(name, obj, stored[name])
            missing = sorted(set(slots[name]) - set(stored[name]))
            extra = sorted(set(stored[name]) - set(slots[name]))
            if missing or extra:
                hint = " (it has no variables yet: build it first, e.g. call it on data)" \
                    if not slots[name] else ""
                problems.append(f"{name}{hint}: the checkpoint lacks {missing} and has "
                                f"unexpected {extra}")
                continue
            for key, slot in slots[name].items():
                entry = stored[name][key]
                shape, dtype = tuple(entry["shape"]), np.dtype(jax.numpy.dtype(entry["dtype"]))
                if shape != slot.shape or dtype != slot.dtype:
                    problems.append(f"{name}.{key} ({slot.label}): expected shape {slot.shape} "
                                    f"dtype {slot.dtype.name}, received shape {shape} dtype "
                                    f"{dtype.name}")
        if problems:
            raise ValueError(f"Checkpoint.restore: {path} does not match the objects; "
                             "nothing was restored:\n  " + "\n  ".join(problems))
        return slots


def _save_args(ocp, tree, manifest):
    items = {"digest": ocp.args.JsonSave(manifest)}
    if tree:
        items["state"] = ocp.args.StandardSave(tree)
    return ocp.args.Composite(**items)
