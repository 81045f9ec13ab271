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
(`0003_kernel`), so a freshly built copy of a model (with new unique layer names) restores;
a compiled model's node carries its optimizer too (`optimizer/...`, checkpoint_graph.py).
"""

from __future__ import annotations

import glob
import os
import shutil
import uuid
import weakref

import jax
import numpy as np

from xlaflow.data import iterator_state
from xlaflow.layers.base import Layer
from xlaflow.optimizers import Optimizer
from xlaflow.saving import atomic, checkpoint_deferred
from xlaflow.saving.checkpoint_files import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointIntegrityError,  # noqa: F401 (xf.train's)
    _check_is_checkpoint,
    _digest,
    _read_manifest,
    _read_state,
    _verify_seal,
    record_latest,
    seal,
)
from xlaflow.saving.checkpoint_graph import (
    SLOT_OF,
    Expected,
    RestoreStatus,
    Slot,
    expected,
    locations,
    match_object,
    pair_slots,
    recorded_owner,
    saved_variables,
    slot_of,
    slot_owners,
    state_fits,
)
from xlaflow.variables import Variable

_PLAIN = (bool, int, float, np.ndarray, np.generic, jax.Array)


def _ocp():
    import orbax.checkpoint as ocp  # imported on use: a heavy dependency
    return ocp


def _is_iterator(obj):
    from xlaflow.data.iterator import Iterator  # a light module: no pipeline stages
    return isinstance(obj, Iterator)


def _check_trackable(name, obj, top=True):
    if isinstance(obj, _PLAIN) and not _storable(np.asarray(obj).dtype):
        # Refused now: orbax would fail only at save, deep in tensorstore, after logging.
        raise TypeError(f"Checkpoint: {name} is an array of dtype {np.asarray(obj).dtype}; "
                        "expected numbers or bools (strings and objects cannot be saved "
                        "in a checkpoint)")
    if isinstance(obj, Checkpoint):
        # TF's partial-graph restore (Checkpoint(net=Checkpoint(l1=Checkpoint(bias=v))))
        # matches by attribute path; xlaflow keys a model's arrays by position instead
        raise NotImplementedError(
            f"Checkpoint: {name} is a Checkpoint; nesting Checkpoints to restore part of "
            "an object graph is not supported. Read one array with xf.train.load_variable("
            "path, '<object>/<key>') (the names xf.train.list_variables gives) and assign "
            "it, or track the objects themselves at the top level")
    if isinstance(obj, (*_PLAIN, Variable)) or hasattr(obj, "variables"):
        return
    if _is_iterator(obj):  # its position: data/iterator_state.py
        if not top:
            raise TypeError(f"Checkpoint: {name} is an xf.data iterator; iterators are "
                            f"tracked only at the top level (Checkpoint(iterator=...))")
        return
    if isinstance(obj, (list, tuple, dict)):
        for sub, item in (obj.items() if isinstance(obj, dict) else enumerate(obj)):
            if isinstance(item, _PLAIN):
                raise TypeError(f"Checkpoint: {name}[{sub!r}] is a plain value; plain values "
                                f"are tracked only at the top level (Checkpoint({name}_"
                                f"{sub}=...))")
            _check_trackable(f"{name}[{sub!r}]", item, top=False)
        return
    raise TypeError(f"Checkpoint: {name} is a {type(obj).__name__}; expected a Module/Layer/"
                    "Model, an optimizer, a Variable, a list/dict of those, or an int, float "
                    "or array")


def _storable(dtype):
    # Numbers and bools, including JAX's extra floats (bfloat16: NumPy kind "V").
    return dtype.kind in "biufc" or dtype.type.__module__ == "ml_dtypes"


class Checkpoint:
    """`Checkpoint(model=..., optimizer=..., step=0, **more)`, like `tf.train.Checkpoint`.

    Objects are Modules/Layers/Models (their `variables`), optimizers (iterations, learning
    rate and optax state), Variables, lists/dicts of those, plain ints, floats and arrays
    (read back as attributes: `ckpt.step`), or xf.data iterators (their position, replayed
    into the rebuilt pipeline's iterator at restore: data/iterator_state.py). A compiled model carries its optimizer, as
    in TF: `Checkpoint(model=model)` saves and restores the optimizer's state too. An
    optimizer that has not made its state yet (its first apply does) is built on restore
    for the model that owns it (`model.optimizer is optimizer`, else the one model tracked
    here, else the one its stored slots are marked with), exactly as its first training
    step would build it; a Keras 2.11-form subclass's build runs first on a copy of it, to
    learn its slots before anything is assigned.
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
        what an asynchronous save writes. A Variable reached twice (`model` and `optimizer=
        model.optimizer`) is written once; its second entry names the first (`same_as`)."""
        tree, manifest, first = {}, {}, {}
        # Each optimizer slot is marked with the Variable it belongs to (`slot_of`), so a
        # restore pairs them by that, not by position (checkpoint_graph.pair_slots).
        where, owners = locations(self._objects), {}
        for obj in self._objects.values():
            if not isinstance(obj, _PLAIN) and not _is_iterator(obj):
                owners.update(slot_owners(obj))
        for name, obj in self._objects.items():
            arrays, shared, marks = {}, {}, {}
            if isinstance(obj, _PLAIN):
                arrays["value"] = np.array(obj, copy=True)
            elif _is_iterator(obj):  # refuses a pipeline no replay reproduces
                arrays.update(iterator_state.save(obj))
            else:
                for key, var in saved_variables(obj).items():
                    mark = slot_of(var, owners, where)
                    if mark is not None:
                        marks[key] = {SLOT_OF: mark}
                    if id(var) in first:
                        shared[key] = first[id(var)]
                    else:
                        first[id(var)] = [name, key]
                        arrays[key] = np.array(var.numpy(), copy=True)
            manifest[name] = {k: {"shape": list(a.shape), "dtype": a.dtype.name,
                                  "sha256": _digest(a), **marks.get(k, {})}
                              for k, a in arrays.items()}
            for key, (owner, owner_key) in shared.items():
                manifest[name][key] = {**manifest[owner][owner_key], **marks.get(key, {}),
                                       "same_as": [owner, owner_key]}
            if arrays:
                tree[name] = arrays
        # Version 2 only when it has `same_as` entries: others stay readable by version 1.
        version = FORMAT_VERSION if any("same_as" in e for entries in manifest.values()
                                        for e in entries.values()) else 1
        return tree, {"format": FORMAT, "format_version": version,
                      "save_counter": self.save_counter, "objects": manifest}

    def _expected(self, name, obj, stored, where):
        """The Expected (checkpoint_graph.py) of object `name`, given its stored keys
        (`where`: this side's locations of Variables, which slot marks name)."""
        if isinstance(obj, _PLAIN):
            value, kind = np.asarray(obj), type(obj)

            def assign(v):  # a Python number comes back as the same type
                self._objects[name] = kind(v) if kind in (bool, int, float) else v
            want = Expected()
            want.slots["value"] = Slot(value.shape, value.dtype, assign, name)
            return want
        return expected(name, obj, stored,
                        lambda opt, entries: self._owner(name, opt, entries), where)

    def _owner(self, name, opt, stored):
        """The one model a top-level optimizer without state trains: `model.optimizer is
        opt`, else the one model tracked here, else the one tracked model whose variables
        the stored slots are marked with (`slot_of`), else the one whose variables give the
        stored state's shapes (TF's DCGAN checkpoints two models, two optimizers)."""
        models = {n: o for n, o in self._objects.items()
                  if getattr(o, "optimizer", None) is opt} or {
            n: o for n, o in self._objects.items()
            if hasattr(o, "trainable_variables") and not isinstance(o, Optimizer)}
        if len(models) == 1:
            return next(iter(models.values()))
        if not models:
            raise ValueError(
                f"Checkpoint.restore: optimizer {name!r} has no state yet (its first apply "
                "creates it) and this Checkpoint tracks no model for it to be built for; "
                "track that model in the same Checkpoint, or call "
                f"{name}.build(model.trainable_variables) before restoring")
        # TF pairs slots with variables through its object graph; here the marks do, and
        # for a checkpoint without them only a model the positional state fits, and no
        # other, can be the one
        marked = recorded_owner(stored, list(models.values()), locations(self._objects))
        if marked is not None:
            return marked
        fits = [n for n, o in models.items() if state_fits(opt, o, stored)]
        if len(fits) == 1:
            return models[fits[0]]
        raise ValueError(
            f"Checkpoint.restore: optimizer {name!r} has no state yet (its first apply "
            f"creates it) and cannot be told which of the models tracked here "
            f"({', '.join(models)}) it trains: its stored slots are not marked with one "
            "model's variables (a checkpoint written before such marks, or an optimizer of "
            "several models' variables), and the stored state's shapes fit "
            f"{', '.join(fits) if fits else 'none of them'}. Before restoring, call "
            f"{name}.build(<model>.trainable_variables) with the variables it trains, or "
            f"track the optimizer under its model: <model>.compile(optimizer={name}, ...) "
            "(a model's optimizer is built for that model, and Checkpoint(<name>=<model>) "
            "then carries it)")

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
            return RestoreStatus(None, restored=False)
        path = os.path.abspath(os.fspath(save_path))
        from xlaflow.saving.checkpoint_manager import finish_pending  # (it imports this)
        finish_pending(path)  # a manager's save of `path` may still be being written
        if not os.path.isdir(path):
            raise FileNotFoundError(f"Checkpoint.{what}: {path} is not a checkpoint "
                                    "directory (it does not exist)")
        _check_is_checkpoint(path, what)
        _verify_seal(path)
        ocp = _ocp()
        with ocp.Checkpointer(ocp.CompositeCheckpointHandler()) as checkpointer:
            manifest = _read_manifest(ocp, checkpointer, path)
            stored = manifest["objects"]
            slots, unused, unbound, waiting = self._match(stored, path)
            values = _read_state(ocp, checkpointer, path, stored)
        # An iterator's position is checked, then replayed, before anything is assigned:
        # another pipeline's (or a replay that ends early) leaves every object as it was.
        for name, obj in self._objects.items():
            if _is_iterator(obj):
                iterator_state.restore(obj, values.get(name, {}),
                                       f"Checkpoint.{what}: {path}, object {name!r},")
        for name, slot_map in slots.items():
            for key, slot in slot_map.items():
                slot.assign(values[name][slot.source or key])
            if isinstance(self._objects[name], Layer):
                checkpoint_deferred.cancel(self._objects[name])  # restored now instead
        deferred = []
        for name, group in waiting.items():  # [a model, optimizers built at its first call]
            apply = checkpoint_deferred.waiting_values(
                {n: (weakref.ref(self._objects[n]), stored[n], values[n]) for n in group}, path)
            deferred.append(checkpoint_deferred.defer(self._objects[name], ", ".join(group),
                                                      apply))
        self.save_counter = int(manifest.get("save_counter", 0))
        return RestoreStatus(path, set(stored) - set(self._objects), unused, unbound,
                             deferred=deferred)

    def _match(self, stored, path):
        """({object: {key: Slot}}, unused values, unbound optimizers, {name of a model
        whose values wait for its first call: [it, and optimizers built then]}), after
        checking the file holds exactly what each other object expects; every mismatch is
        reported at once."""
        slots, problems, unused, unbound, bound = {}, [], [], [], []
        where = locations(self._objects)  # for pairing optimizer slots (pair_slots)
        for name in self._objects:
            if name not in stored:
                raise ValueError(f"Checkpoint.restore: {path} has no object {name!r}; it "
                                 f"holds {sorted(stored)}")
        # TF's delayed restoration: an unbuilt model's values wait for its first call, and
        # so do those of an optimizer without state that trains it (built then, for it)
        waiting = {name: [name] for name, obj in self._objects.items()
                   if stored[name] and checkpoint_deferred.is_waiting_kind(obj)}
        for name, obj in self._objects.items():
            if waiting and getattr(obj, "_state", 0) is None and \
                    hasattr(obj, "apply_gradients") and set(stored[name]) - set(
                        saved_variables(obj)):
                owner = self._owner(name, obj, stored[name])
                trains = [n for n in waiting if self._objects[n] is owner]
                if trains:
                    waiting[trains[0]].append(name)
        for name, obj in self._objects.items():
            if any(name in group for group in waiting.values()) or _is_iterator(obj):
                continue  # an iterator's position is checked as a whole, in _restore
            want = self._expected(name, obj, stored[name], where)
            slots[name] = want.slots
            unbound += want.unbound
            bound += want.bound
            pair_slots(slots[name], stored[name], where)
            found, spare = match_object(name, want, stored[name])
            problems += found
            unused += spare
        if problems:
            raise ValueError(f"Checkpoint.restore: {path} does not match the objects; "
                             "nothing was restored:\n  " + "\n  ".join(problems))
        # An optimizer restored under another name here (`optimizer=model.optimizer` with
        # a file from before models carried it) did get its values.
        unbound = [label for label, opt in unbound if not any(opt is b for b in bound)]
        return slots, unused, unbound, waiting


def _save_args(ocp, tree, manifest):
    items = {"digest": ocp.args.JsonSave(manifest)}
    if tree:
        items["state"] = ocp.args.StandardSave(tree)
    return ocp.args.Composite(**items)
