"""Keras 2.12's weights-only files of the v3 layout: `save_weights("x.weights.h5")` and
`load_weights` of such a file or of a `.keras` zip (saving_api.py / saving_lib.py).

TF 2.12 routes a path ending in `.weights.h5` to saving_lib.save_weights_only, which walks
the whole model as model.save("m.keras") does, so the file is that zip's model.weights.h5:
the layers' weights (keras_v3_weights.py) and a compiled model's optimizer state under
`optimizer/vars`. load_weights reads such a file, or the weights of a `.keras` zip, by the
model's structure (by_name is not consulted there); skip_mismatch=True skips, with a
warning, the layers whose weights do not fit. A built optimizer takes the saved state; an
unbuilt one only its iteration count (TF assigns the variables the optimizer has).
"""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np

from xlaflow.saving import hdf5_weights, keras_v3_weights

SUFFIX = ".weights.h5"


def is_weights_path(filepath):
    return str(os.fspath(filepath)).endswith(SUFFIX)


def is_v3_weights_source(filepath):
    """True for what TF 2.12's load_weights reads with saving_lib: a `.keras` path that is
    a zip, or a `.weights.h5` path that is no Keras 2 weights file (a file xlaflow wrote
    there before this layout keeps its Keras 2 reader)."""
    path = os.fspath(filepath)
    if str(path).endswith(".keras"):
        return os.path.isfile(path) and zipfile.is_zipfile(path)
    if not is_weights_path(path) or not os.path.isfile(path):
        return False
    h5py = hdf5_weights.require_h5py("load_weights of a .weights.h5 file")
    if not h5py.is_hdf5(path):
        return True  # the reader names the damage
    with h5py.File(path, "r") as f:
        return "layer_names" not in f.attrs and "model_weights" not in f


def save_weights(model, filepath, overwrite=True):
    """The model's weights (and a compiled model's built optimizer state, in TF's order
    where xlaflow knows it) to the h5 file `filepath` at TF 2.12's paths, atomically."""
    hdf5_weights.require_h5py("save_weights to a .weights.h5 file")
    path = hdf5_weights.target_path(model, filepath, overwrite, "save_weights")
    keras_v3_weights.check_placed(model, "save_weights")

    def fill(f):
        keras_v3_weights.write_model(f, model)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and getattr(optimizer, "_state", None) is not None and \
                keras_v3_weights.tf_order(optimizer, list(model.trainable_weights)):
            keras_v3_weights.write_optimizer(f, optimizer, list(model.trainable_weights), {})

    hdf5_weights.write_atomically(path, fill)


def load_weights(model, filepath, skip_mismatch=False):
    """Assign the weights of the `.weights.h5` file or `.keras` zip `filepath` to `model`
    (all checked before any is assigned, unless skip_mismatch)."""
    h5py = hdf5_weights.require_h5py("load_weights of a .keras or .weights.h5 file")
    if not model.weights and not model.built:
        raise ValueError(f"load_weights: build {model.name} before loading weights into it")
    from xlaflow.saving.atomic import CorruptSaveError
    path = os.fspath(filepath)
    try:
        if str(path).endswith(".keras"):
            with zipfile.ZipFile(path) as zf:
                if "model.weights.h5" not in zf.namelist():
                    raise ValueError(f"load_weights: {filepath} is a zip without the "
                                     "model.weights.h5 of a .keras model (it holds "
                                     f"{zf.namelist()[:5]})")
                source = io.BytesIO(zf.read("model.weights.h5"))
        else:
            source = path
        with h5py.File(source, "r") as f:
            pairs = keras_v3_weights.read_model(f, model, filepath, "load_weights",
                                                skip_mismatch)
            optimizer_pairs = _optimizer_pairs(model, f, filepath)
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise CorruptSaveError(f"load_weights: {filepath} cannot be read: it is truncated "
                               f"or damaged ({exc})") from exc
    for variable, value in pairs + optimizer_pairs:
        variable.assign(value.astype(variable.dtype))


def _optimizer_pairs(model, f, filepath):
    optimizer = getattr(model, "optimizer", None)
    group = f.get(f"{keras_v3_weights.OPTIMIZER}/vars")
    if optimizer is None or group is None or not len(group):
        return []
    if getattr(optimizer, "_state", None) is None:  # unbuilt: TF has only `iteration`
        return [(optimizer.iterations, np.asarray(group["0"]))]
    return keras_v3_weights.read_optimizer(f, optimizer, list(model.trainable_weights),
                                           filepath, "load_weights")
