"""load_weights(path.h5, by_name=True): Keras 2's HDF5 load by layer name, where the model's
topology may differ from the saved one's (transfer learning: a new head on a saved body).

Each saved layer group goes into the layers of `model.layers` with its name; saved layers
no layer is named after, and layers no group is named after, are left alone. A layer whose
weight count differs, or a weight whose shape does, is an error before anything is
assigned, or with skip_mismatch=True is skipped with a logged warning each (Keras 2 skips
the layer on a count mismatch and only the weight on a shape mismatch).
"""

from __future__ import annotations

import logging
import os

import numpy as np

from xlaflow.layers import weight_order
from xlaflow.saving import hdf5_weights

_log = logging.getLogger("xlaflow.saving")

# Keras 2.12's HDF5 writer keeps a model's own weights (add_weight on the model) in a group
# of this name; xlaflow's in a group named after the model.
TOP_LEVEL = "top_level_model_weights"


def load_weights_by_name(model, filepath, skip_mismatch=False):
    """Assign the HDF5 file's weights to `model`'s layers of the same names (Keras 2's
    load_weights_from_hdf5_group_by_name); all checks come before the first assignment."""
    h5py = hdf5_weights.require_h5py()
    if not model.weights and not model.built:
        raise ValueError(f"load_weights: build {model.name} before loading weights into it "
                         "(call it on data, or give the first layer input_shape=)")
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"load_weights: {filepath} does not exist")
    if not h5py.is_hdf5(os.fspath(filepath)):
        raise ValueError(f"load_weights: {filepath} is not an HDF5 file")

    def read(f):
        whole = "model_weights" in f and not hdf5_weights.read_names(f, "layer_names")
        root = f["model_weights"] if whole else f
        saved = hdf5_weights.read_group(root)
        if TOP_LEVEL in root:
            names = hdf5_weights.read_names(root[TOP_LEVEL], "weight_names")
            saved.append((TOP_LEVEL, [np.asarray(root[TOP_LEVEL][n]) for n in names], names))
        return saved

    saved = hdf5_weights.read_file(filepath, read, "load_weights")
    pairs = _matched(model, saved, skip_mismatch, filepath)
    for weight, value in pairs:
        weight.assign(value.astype(weight.dtype))


def _targets(model):
    """{saved group name: [(label, weights)]}: each layer of `model.layers` under its name,
    in the order its HDF5 group lists them, and the model's own weights under its name
    (unless a layer has it) and Keras 2's top-level group name."""
    index = {}
    for layer in model.layers:
        weights = weight_order.dedup(layer.trainable_weights + layer.non_trainable_weights)
        index.setdefault(layer.name, []).append((layer.name, weights))
    own = weight_order.own_weights(model)
    if own:
        index.setdefault(model.name, [(model.name, own)])
        index[TOP_LEVEL] = [(model.name, own)]
    return index


def _matched(model, saved, skip_mismatch, filepath):
    """[(weight, value)] to assign; raises ValueError on a mismatch unless skip_mismatch."""
    index, pairs = _targets(model), []

    def mismatch(kind, message, skipped):
        if not skip_mismatch:
            raise ValueError(f"load_weights(by_name=True): {kind} mismatch {message}. "
                             "Pass skip_mismatch=True to skip it")
        _log.warning("load_weights: skipping %s %s", skipped, message)

    for k, (saved_name, values, names) in enumerate(saved):
        for label, weights in index.get(saved_name, ()):
            layer_values = hdf5_weights.without_counts(
                weights, hdf5_weights.by_name(weights, values, names), names)
            if len(layer_values) != len(weights):
                mismatch("weight count", f"for layer #{k} (named {label!r}; {saved_name!r} in "
                         f"{filepath}): the layer has {len(weights)} weight(s), the file "
                         f"holds {len(layer_values)}", "the weights")
                continue
            for weight, value in zip(weights, layer_values):
                if tuple(value.shape) != tuple(weight.shape):
                    mismatch("shape", f"in layer #{k} (named {label!r}): weight {weight.name} "
                             f"has shape {tuple(weight.shape)}, the file's has "
                             f"{tuple(value.shape)}", "a weight")
                    continue
                pairs.append((weight, value))
    return pairs
