"""model.save("m.h5") / load_model("m.h5"): a whole model in one HDF5 file, Keras 2's layout.

Root attributes `model_config` (the architecture, JSON) and `training_config` (the compile
config with `optimizer_config`, JSON), `keras_version` and `backend`; the weights under
`model_weights` as save_weights writes them, and the optimizer's variables under
`optimizer_weights`. xlaflow adds `xlaflow_build_input` (the input the model is built for)
and, on the optimizer group, each variable's slot record, so slots pair with their weights
by name. The file is written under a temporary name and renamed; on load, everything is
checked before any weight is assigned. A file Keras 2 wrote loads its architecture,
weights and compile config; its optimizer state is left out with a warning (its variables
are ordered by TF's optimizer), as Keras 2 does when it cannot restore one.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np

from xlaflow.saving import hdf5_weights, keras2_training, keras_model, serialization

BUILD_INPUT, SLOTS, BUILT = "xlaflow_build_input", "xlaflow_slots", "xlaflow_optimizer_built"


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Write `model` (built) to the HDF5 file `filepath`; see the module docstring."""
    path = hdf5_weights.target_path(model, filepath, overwrite, "save")
    architecture = json.dumps(serialization.serialize_keras_object(model))
    groups = hdf5_weights.groups_of(model)
    compile_config = keras_model._compile_config(model)
    training = None
    if compile_config is not None:
        training = dict(compile_config)
        training["optimizer_config"] = training.pop("optimizer")
        training = json.dumps(training)
    optimizer = model.optimizer if include_optimizer and training is not None else None
    opt_vars = list(optimizer.variables) if optimizer is not None else []
    keys = {id(v): f"w{i:04d}" for i, v in enumerate(model.variables)}
    owners = keras_model._slot_owners(optimizer)
    specs = [{"key": f"o{i:04d}", "name": v.name, "shape": list(v.shape),
              "dtype": np.dtype(v.dtype).name, **keras_model._slot_of(v, owners, keys)}
             for i, v in enumerate(opt_vars)]
    shapes, dtypes = model._input_spec_to_save()
    build = json.dumps({"shape": keras_model._encode_shapes(shapes), "dtype": dtypes}) \
        if shapes is not None else None

    def fill(f):
        f.attrs["keras_version"] = "xlaflow"
        f.attrs["backend"] = "jax"
        f.attrs["model_config"] = architecture
        if training is not None:
            f.attrs["training_config"] = training
        if build is not None:
            f.attrs[BUILD_INPUT] = build
        hdf5_weights.write_group(f.create_group("model_weights"), groups)
        if opt_vars:
            group = f.create_group("optimizer_weights")
            names = hdf5_weights._unique([v.name for v in opt_vars])
            hdf5_weights.write_names(group, "weight_names", names)
            group.attrs[SLOTS] = json.dumps(specs)
            group.attrs[BUILT] = optimizer._state is not None
            for name, variable in zip(names, opt_vars):
                group.create_dataset(name, data=hdf5_weights._storable(variable.value))

    hdf5_weights.write_atomically(path, fill)


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _json_attr(f, name, filepath):
    if name not in f.attrs:
        return None
    try:
        return json.loads(_text(f.attrs[name]))
    except ValueError as exc:
        raise ValueError(f"load_model: {filepath}'s {name} is not JSON ({exc})") from None


def load_model(filepath, custom_objects=None, compile=True):
    """Rebuild the model in the HDF5 file `filepath`: architecture, weights and (when
    `compile`) compile config and optimizer state."""
    h5py = hdf5_weights.require_h5py("load_model of an HDF5 file")
    if not h5py.is_hdf5(os.fspath(filepath)):
        import zipfile
        if zipfile.is_zipfile(os.fspath(filepath)):  # not a .keras zip (no config.json)
            raise ValueError(
                f"load_model: {filepath} is a zip archive without the config.json of a "
                ".keras model (TF 2.12's model.save('m.keras'), which load_model reads); "
                "it holds no model load_model knows")
        raise ValueError(f"load_model: {filepath} is a file but not an HDF5 file; a model "
                         "saved by model.save(path) is a directory (or an .h5 file)")

    def read(f):
        config = _json_attr(f, "model_config", filepath)
        if config is None:
            raise ValueError(f"load_model: {filepath} holds weights only (save_weights wrote "
                             "it): rebuild the model in code and call model.load_weights")
        training = _json_attr(f, "training_config", filepath) if compile else None
        build = _json_attr(f, BUILD_INPUT, filepath)
        saved = hdf5_weights.read_group(f["model_weights"]) if "model_weights" in f else []
        opt = _optimizer_state(f, filepath) if training is not None else None
        return config, training, build, saved, opt

    config, training, build, saved, opt = hdf5_weights.read_file(filepath, read, "load_model")
    model = serialization.deserialize_keras_object(config, custom_objects)
    if build is not None and model._build_input_shape is None:
        model._prepare(keras_model._decode_shapes(build["shape"], build.get("dtype")))
    if not model.weights and saved:
        raise ValueError(f"load_model: {model.name} from {filepath} has no weights after "
                         "rebuilding (its input shape is unknown); the file holds "
                         f"{sum(len(entry[1]) for entry in saved)} weights")
    hdf5_weights.assign(model, hdf5_weights.groups_of(model), saved, filepath, "load_model")
    if training is not None:
        _compile(model, training, custom_objects, opt)
    return model


def _optimizer_state(f, filepath):
    """(specs, {key: value}, built) of xlaflow's optimizer group; None when there is none,
    or a warning and None for one written by Keras 2 (ordered by TF's optimizer)."""
    if "optimizer_weights" not in f:
        return None
    group = f["optimizer_weights"]
    if SLOTS not in group.attrs:
        warnings.warn(f"load_model: {filepath}'s optimizer state was written by Keras 2 and "
                      "is not restored (its variables follow TF's optimizer); the model "
                      "is compiled with a fresh optimizer", UserWarning, stacklevel=6)
        return None
    specs = json.loads(_text(group.attrs[SLOTS]))
    names = hdf5_weights.read_names(group, "weight_names")
    if len(names) != len(specs):
        raise ValueError(f"load_model: {filepath}'s optimizer_weights lists {len(names)} "
                         f"weights and {len(specs)} slot records")
    values = {s["key"]: np.asarray(group[n]) for s, n in zip(specs, names)}
    return specs, values, bool(group.attrs.get(BUILT, False))


def _compile(model, training, custom_objects, opt):
    config = keras2_training.compile_arguments(training, custom_objects)
    if "optimizer_config" in config:
        config["optimizer"] = config.pop("optimizer_config")
    specs, values, built = opt if opt is not None else ([], {}, False)
    keys = {id(v): f"w{i:04d}" for i, v in enumerate(model.variables)}
    keras_model.compile_loaded(model, config, custom_objects, specs, built, keys,
                               lambda wanted: {s["key"]: values[s["key"]] for s in wanted})
