"""save_weights / load_weights: a model's weights in a sealed orbax checkpoint directory.

Weights are keyed by their position in `model.weights` and their name within their layer
(`0003_kernel`), not by global layer names, so a freshly built copy of the model (whose
layers got new unique names) loads them. Format 1 used the order `model.weights` had
before it followed Keras 2 (layer by layer in creation order, the model's own first);
such a directory loads in that order, so no weight lands on another's key. The directory is written atomically and sealed
with a manifest (saving/atomic.py), so a partial or modified one is refused by name.
"""

from __future__ import annotations

import os
import re

import numpy as np

from xlaflow.saving import arrays, atomic

FORMAT, FORMAT_VERSION, MANIFEST = "xlaflow.weights", 2, "xlaflow_weights.json"


def position_key(index, name):
    """'0003_kernel': the position and the name without its owner's (layer's) unique
    name, so a freshly built copy of a model (new layer names) matches (checkpoints too)."""
    tail = name.split("/", 1)[-1]
    return f"{index:04d}_{re.sub(r'[^A-Za-z0-9_.-]', '.', tail)}"


def _format_1_order(model):
    """`model.weights` as format 1 wrote it: the model, then every layer inside it depth
    first in attribute order, each one's weights in creation order."""
    found = {}
    for layer in (model, *model.submodules):
        for weight in getattr(layer, "_own_weights", ()):
            found.setdefault(id(weight), weight)
    return list(found.values())


def _ordered(model, version):
    return model.weights if version >= 2 else _format_1_order(model)


def _keys(weights):
    return [position_key(i, w.name) for i, w in enumerate(weights)]


def save_weights(model, filepath, overwrite=True):
    """Write every weight of `model` (trainable and not) to the directory `filepath`."""
    if not model.weights:
        raise ValueError(f"save_weights: {model.name} has no weights yet; build it first "
                         "(call it on data, or give the first layer input_shape=)")
    values = dict(zip(_keys(model.weights), (w.value for w in model.weights)))
    atomic.write_directory(
        filepath, lambda tmp: arrays.save_arrays(os.path.join(tmp, "weights"), values),
        manifest=MANIFEST, header={"format": FORMAT, "format_version": FORMAT_VERSION},
        overwrite=overwrite, what="save_weights")
    # as TF's save_weights: the directory's `checkpoint` file names the newest, so
    # tf.train.latest_checkpoint finds ModelCheckpoint's `ckpt_{epoch}` weights
    # (unless the weights themselves are named `checkpoint`: then that name is taken)
    from xlaflow.saving.checkpoint_files import STATE_FILE, record_latest
    path = os.path.abspath(os.fspath(filepath))
    if os.path.basename(path) != STATE_FILE:
        record_latest(path)


def load_weights(model, filepath):
    """Assign the weights saved by save_weights; everything is checked before any
    assignment, and a missing or mismatched weight is named. A plain file is HDF5 (this
    format is a directory): Keras 2 reads one whatever its name, as save_format="h5" writes.
    Into an unbuilt model, as Keras 2's TF format, the values wait for its first call (the
    checkpoint_deferred.Deferred returned; else None)."""
    if os.path.isfile(filepath):
        from xlaflow.saving import hdf5_weights
        return hdf5_weights.load_weights(model, filepath)
    version, stored, values = atomic.read_stable(filepath, lambda path: _read(model, path),
                                                 "load_weights")
    if not model.weights:
        from xlaflow.saving import checkpoint_deferred  # it imports the layers

        def apply(built):  # holds no model: the registry's weak key must be able to die
            _assign(built, _checked(built, version, stored), values)
            return [], []
        return checkpoint_deferred.defer(model, model.name, apply)
    _assign(model, _checked(model, version, stored), values)
    return None


def _assign(model, weights, values):
    for key, weight in zip(_keys(weights), weights):
        weight.assign(np.asarray(values[key]).astype(weight.dtype, copy=False))


def _read(model, path):
    """(format version, stored {key: (shape, dtype)}, their values), checked against the
    model's weights unless its values are to wait for its first call."""
    header = atomic.verify_directory(path, manifest=MANIFEST, format_name=FORMAT,
                                     max_version=FORMAT_VERSION, what="load_weights")
    stored = arrays.stored_specs(os.path.join(path, "weights"))
    version = header["format_version"]
    if not model.weights:
        from xlaflow.saving import checkpoint_deferred
        if not checkpoint_deferred.is_waiting_kind(model) or not stored:
            raise ValueError(f"load_weights: build {model.name} before loading weights into "
                             "it")
    else:
        _checked(model, version, stored)
    return version, stored, arrays.restore_arrays(os.path.join(path, "weights"), stored)


def _checked(model, version, stored):
    """The model's weights in the directory's order, each checked against `stored`."""
    weights = _ordered(model, version)
    keys = _keys(weights)
    extra = sorted(set(stored) - set(keys))
    missing = [k for k in keys if k not in stored]
    if missing or extra:
        raise ValueError(f"load_weights: the checkpoint does not match {model.name}: missing "
                         f"{missing}, unexpected {extra}")
    for key, weight in zip(keys, weights):
        if tuple(stored[key][0]) != weight.shape:
            raise ValueError(f"load_weights: {weight.name} has shape {weight.shape}, the "
                             f"checkpoint's {key} has {tuple(stored[key][0])}")
    return weights
