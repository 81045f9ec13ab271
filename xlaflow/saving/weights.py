"""save_weights / load_weights: a model's weights in an orbax checkpoint directory.

Weights are keyed by their position in `model.weights` and their name within their layer
(`0003_kernel`), not by global layer names, so a freshly built copy of the model (whose
layers got new unique names) loads them. The checkpoint is written to a temporary sibling
and renamed into place, so a crash never leaves a directory that looks complete.
"""

from __future__ import annotations

import os
import shutil
import uuid

import numpy as np


def _keys(model):
    return [f"{i:04d}_{w.name.split('/', 1)[-1].replace('/', '.')}"
            for i, w in enumerate(model.weights)]


def _checkpointer():
    import orbax.checkpoint as ocp  # imported on use: a heavy dependency
    return ocp.StandardCheckpointer()


def save_weights(model, filepath, overwrite=True):
    """Write every weight of `model` (trainable and not) to the directory `filepath`."""
    path = os.path.abspath(os.fspath(filepath))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"save_weights: {path} exists and overwrite=False")
    if os.path.exists(path) and not os.path.isdir(path):
        raise FileExistsError(f"save_weights: {path} is a file; weights are a directory")
    if not model.weights:
        raise ValueError(f"save_weights: {model.name} has no weights yet; build it first "
                         "(call it on data, or give the first layer input_shape=)")
    partial = f"{path}.partial-{uuid.uuid4().hex[:8]}"
    checkpointer = _checkpointer()
    try:
        checkpointer.save(partial, dict(zip(_keys(model), (w.value for w in model.weights))))
        checkpointer.wait_until_finished()
        if os.path.exists(path):
            old = f"{path}.old-{uuid.uuid4().hex[:8]}"
            os.replace(path, old)
            os.replace(partial, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            shutil.rmtree(partial, ignore_errors=True)


def _complete(path):
    """`path`, or the previous checkpoint if a save died between its two renames."""
    if os.path.exists(path):
        return path
    parent, name = os.path.split(path)
    olds = [n for n in os.listdir(parent or ".") if n.startswith(name + ".old-")] \
        if os.path.isdir(parent or ".") else []
    return os.path.join(parent, olds[0]) if len(olds) == 1 else path


def load_weights(model, filepath):
    """Assign the weights saved by save_weights; everything is checked before any
    assignment, and a missing or mismatched weight is named."""
    path = _complete(os.path.abspath(os.fspath(filepath)))
    if not os.path.isdir(path) or not os.path.exists(os.path.join(path, "_CHECKPOINT_METADATA")):
        raise FileNotFoundError(f"load_weights: {path} is not a complete weights checkpoint "
                                "(expected the directory save_weights writes)")
    if not model.weights:
        raise ValueError(f"load_weights: build {model.name} before loading weights into it")
    stored = _checkpointer().restore(path)
    keys = _keys(model)
    extra = sorted(set(stored) - set(keys))
    missing = [k for k in keys if k not in stored]
    if missing or extra:
        raise ValueError(f"load_weights: the checkpoint does not match {model.name}: missing "
                         f"{missing}, unexpected {extra}")
    for key, weight in zip(keys, model.weights):
        if tuple(np.shape(stored[key])) != weight.shape:
            raise ValueError(f"load_weights: {weight.name} has shape {weight.shape}, the "
                             f"checkpoint's {key} has {tuple(np.shape(stored[key]))}")
    for key, weight in zip(keys, model.weights):
        weight.assign(np.asarray(stored[key], weight.dtype))
