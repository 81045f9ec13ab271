"""model.save / load_model: a serving export plus what Keras needs to rebuild the model.

The directory is an xf.saved_model export (so the server and `xf.saved_model.load` read
it without the model's code) with a `keras/` part: the architecture and compile config
(`keras/model.json`) and the optimizer state (`keras/optimizer/`, orbax). The weights are
stored once, in the export's `variables/`, and `keras/model.json` lists their keys. Each
optimizer slot's entry names the weight it belongs to (`slot_of`), so load_model pairs
slots with weights by that, not by position (files without it load by position).
A path ending in .keras is TF 2.12's zip instead (keras_v3.py), an .h5 path one HDF5 file
(hdf5_model.py); load_model reads all three, and the directory form at a .keras path.
"""

from __future__ import annotations

import json
import os
import types
import warnings

import numpy as np

from xlaflow.saving import arrays, atomic, export, hdf5_weights, serialization

KERAS_DIR, MODEL_FILE, OPTIMIZER_DIR = "keras", "model.json", "optimizer"
SLOT_OF = "slot_of"  # an optimizer slot's record of the weight it belongs to
TF_SAVED_MODEL = "saved_model.pb"  # what TF's model.save(directory) writes


def check_save_format(filepath, save_format):
    """The file format `model.save` writes: "h5" (one HDF5 file, Keras 2's layout) for
    save_format="h5" or a path ending in .h5/.hdf5; "keras" (TF 2.12's zip,
    keras_v3.py) for save_format="keras" or a path ending in .keras; else "tf" (a
    directory); checked before anything is written."""
    from xlaflow.saving import keras_v3
    if save_format not in (None, "tf", "h5", "keras"):
        raise ValueError(f"save: save_format must be None, 'tf', 'h5' or 'keras'; received "
                         f"{save_format!r}")
    if save_format == "h5" or (save_format is None and hdf5_weights.is_hdf5_path(filepath)):
        hdf5_weights.require_h5py("model.save to an HDF5 file")
        return "h5"
    if save_format == "keras" or (save_format is None and keras_v3.is_keras_v3_path(filepath)):
        if not keras_v3.is_keras_v3_path(filepath):  # as TF 2.12's saving_lib
            raise ValueError(f"save: save_format='keras' needs a filepath ending in "
                             f".keras; received {filepath!r}")
        hdf5_weights.require_h5py("model.save to a .keras file")
        return "keras"
    return "tf"


def save_model(model, filepath, overwrite=True, include_optimizer=True, save_format=None,
               platforms=None):
    """Write `model` to the directory `filepath` (see the module docstring), to one
    HDF5 file (xlaflow/saving/hdf5_model.py) for save_format="h5" or an .h5 path, or to
    TF 2.12's .keras zip (keras_v3.py) for save_format="keras" or a .keras path."""
    from xlaflow.models.ragged_fed import refuse_saving
    refuse_saving(model, "save")  # before any file is written
    kind = check_save_format(filepath, save_format)
    if kind == "h5":
        from xlaflow.saving import hdf5_model
        return hdf5_model.save_model(model, filepath, overwrite, include_optimizer)
    if kind == "keras":
        from xlaflow.saving import keras_v3
        return keras_v3.save_model(model, filepath, overwrite, include_optimizer)
    lowered = export.lower_all({export.DEFAULT_SIGNATURE: model._serving_function()},
                               platforms, shared_batch=True)  # Keras: one batch
    from xlaflow.layers.rnn_stateful import kept_states
    states = {id(v) for v in kept_states(model)}
    variables = [v for v in model.variables if id(v) not in states]
    architecture = serialization.serialize_keras_object(model)
    json.dumps(architecture)  # fails here, before anything is written, if not JSON
    compile_config = _compile_config(model)
    optimizer = model.optimizer if include_optimizer and compile_config is not None else None
    opt_vars = list(optimizer.variables) if optimizer is not None else []
    owners = _slot_owners(optimizer)
    input_shapes, input_dtypes = model._input_spec_to_save()

    def fill(tmp, keys):
        os.mkdir(os.path.join(tmp, KERAS_DIR))
        description = {
            "model": architecture,
            "build_input_shape": _encode_shapes(input_shapes),
            "build_input_dtype": input_dtypes,
            "variables": [keys[id(v)] for v in variables],
            "compile_config": compile_config,
            "optimizer_variables": [{"key": f"o{i:04d}", "name": v.name,
                                     "shape": list(v.shape), "dtype": np.dtype(v.dtype).name,
                                     **_slot_of(v, owners, keys)}
                                    for i, v in enumerate(opt_vars)],
            "optimizer_built": bool(optimizer is not None and optimizer._state is not None)}
        if opt_vars:
            arrays.save_arrays(os.path.join(tmp, KERAS_DIR, OPTIMIZER_DIR),
                               {f"o{i:04d}": v.value for i, v in enumerate(opt_vars)})
        atomic.write_json(os.path.join(tmp, KERAS_DIR, MODEL_FILE), description)

    return export.write(filepath, lowered, overwrite=overwrite, extra_variables=variables,
                        fill_extra=fill, header={"keras_model": True})


def _slot_owners(optimizer):
    """{id(slot): (its weight, slot name)} (a LossScaleOptimizer forwards to its inner)."""
    owners = getattr(optimizer, "slot_owners", None)
    return owners() if owners is not None else {}


def _slot_of(slot, owners, keys):
    """{"slot_of": {"variable": the weight's key, "slot": name}}, or {} for a Variable
    that is no weight's slot (iterations, the learning rate) or one of an unsaved weight."""
    owner = owners.get(id(slot))
    if owner is None or id(owner[0]) not in keys:
        return {}
    return {SLOT_OF: {"variable": keys[id(owner[0])], "slot": owner[1]}}


def _recorded_weights(model, specs, weight_keys):
    """The weights the saved slots belong to (in `model.variables` order) when they are not
    its trainable ones: an optimizer built before a layer was frozen (fine-tuning with the
    same one) holds slots of untrainable weights. None without records, when they name the
    trainable weights, or one this model lacks."""
    by_key = {weight_keys[id(v)]: v for v in model.variables if id(v) in weight_keys}
    named = set()
    for spec in specs:
        mark = spec.get(SLOT_OF) if isinstance(spec, dict) else None
        if not isinstance(mark, dict):
            continue
        weight = by_key.get(mark.get("variable"))
        if weight is None:
            return None
        named.add(id(weight))
    if not named or named == {id(v) for v in model.trainable_weights}:
        return None
    return [v for v in model.variables if id(v) in named]


def _paired(optimizer, variables, specs, weight_keys):
    """`specs` reordered so that each of `variables` (the optimizer's) faces the entry
    recorded as the same slot of the same weight (`weight_keys`: {id(weight): key} here).
    All or nothing: a file without the records (written before them), or a slot whose
    weight the file does not name, keeps the positional order."""
    marked = {}
    for i, spec in enumerate(specs):
        mark = spec.get(SLOT_OF) if isinstance(spec, dict) else None
        if isinstance(mark, dict) and isinstance(mark.get("variable"), str):
            marked[(mark["variable"], mark.get("slot"))] = i
    owners = _slot_owners(optimizer)
    order = list(range(len(specs)))
    moved = {}
    for j, variable in enumerate(variables):
        owner = owners.get(id(variable))
        if owner is None:
            continue
        source = marked.get((weight_keys.get(id(owner[0])), owner[1]))
        if source is None:
            return specs
        moved[j] = source
    if sorted(moved.values()) != sorted(moved):  # the same entries, only reordered
        return specs
    for j, source in moved.items():
        order[j] = source
    return [specs[i] for i in order]


def _compile_config(model):
    config = getattr(model.trainer, "compile_config", None)
    if config is None:
        return None
    try:
        return {"optimizer": serialization.serialize_keras_object(model.optimizer),
                **{k: _serialize_value(v) for k, v in config.items()}}
    except ValueError as exc:
        warnings.warn(f"{model.name}: the compile config cannot be saved ({exc}); "
                      "load_model will return an uncompiled model", UserWarning, stacklevel=3)
        return None


def _serialize_value(value):
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_serialize_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _serialize_value(v) for k, v in value.items()}
    if isinstance(value, types.FunctionType):
        from xlaflow import losses, metrics
        for module in (losses, metrics):
            if getattr(module, value.__name__, None) is value:
                return value.__name__
        if value.__name__ == "<lambda>":
            raise ValueError(f"the lambda {value.__qualname__} has no name to load it by; "
                             "define it with def and register it")
        # A user's function, by name as Keras saves it: load_model finds it registered
        # (@register_serializable) or in custom_objects.
        return {_FUNCTION: serialization.get_registered_name(value)}
    return serialization.serialize_keras_object(value)


_FUNCTION = "xlaflow_function"


def _function(name, custom_objects):
    found = serialization.get_registered_object(name, custom_objects, module="")
    if not callable(found):
        raise ValueError(  # noqa: TRY004 - an unknown name (None), as Keras reports it
            f"cannot compile the loaded model: it was compiled with the function "
            f"{name!r}, which is not known here. Import the module that defines "
            f"it, decorated with @xf.keras.saving.register_serializable(), or "
            f"pass custom_objects={{{name.split('>')[-1]!r}: ...}}")
    return found


def _deserialize_value(value, custom_objects):
    if isinstance(value, dict) and set(value) == {_FUNCTION}:
        return _function(value[_FUNCTION], custom_objects)
    if serialization.is_serialized_object(value):
        return serialization.deserialize_keras_object(value, custom_objects)
    if isinstance(value, list):
        return [_deserialize_value(v, custom_objects) for v in value]
    if isinstance(value, dict):
        return {k: _deserialize_value(v, custom_objects) for k, v in value.items()}
    return value


def _encode_shapes(tree):
    if isinstance(tree, tuple) and all(d is None or isinstance(d, int) for d in tree):
        return {"shape": list(tree)}
    if isinstance(tree, dict):
        return {"dict": {k: _encode_shapes(v) for k, v in tree.items()}}
    if isinstance(tree, (list, tuple)):
        return {type(tree).__name__: [_encode_shapes(v) for v in tree]}
    raise ValueError(f"unexpected input shape structure {tree!r}")


def _decode_shapes(data, dtypes):
    """A tree of jax.ShapeDtypeStruct with batch size 1, from the saved shapes/dtypes."""
    import jax
    (kind, value), = data.items()
    if kind == "shape":
        return jax.ShapeDtypeStruct(tuple(1 if d is None else d for d in value),
                                    np.dtype(dtypes or "float32"))
    if kind == "dict":
        return {k: _decode_shapes(v, dtypes and dtypes[k]) for k, v in value.items()}
    items = [_decode_shapes(v, dtypes and dtypes[i]) for i, v in enumerate(value)]
    return tuple(items) if kind == "tuple" else items


def _read(path):
    file = os.path.join(path, KERAS_DIR, MODEL_FILE)
    if not os.path.isfile(file):
        raise ValueError(f"load_model: {path} is an export without a Keras model (written by "
                         "xf.saved_model.save or model.export); run it with "
                         "xf.saved_model.load(path) instead")
    try:
        with open(file, encoding="utf-8") as f:
            description = json.load(f)
        description["model"], description["variables"]  # presence check
    except (ValueError, KeyError, TypeError) as exc:
        raise atomic.CorruptSaveError(f"load_model: {file} is malformed ({exc!r})") from None
    try:
        with open(os.path.join(path, export.SIGNATURES_FILE), encoding="utf-8") as f:
            stored = {v["key"]: v for v in json.load(f)["variables"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise atomic.CorruptSaveError(f"load_model: {path}/{export.SIGNATURES_FILE} is "
                                      f"malformed ({exc!r})") from None
    keys = description["variables"]
    unknown = [k for k in keys if k not in stored] if isinstance(keys, list) else keys
    if unknown or not isinstance(keys, list):
        raise atomic.CorruptSaveError(f"load_model: {file} lists variables {unknown!r} that "
                                      f"{export.SIGNATURES_FILE} does not hold")
    return description, stored


def load_model(filepath, custom_objects=None, compile=True):
    """Rebuild the model saved by `model.save(filepath)`: same architecture, weights and
    (when `compile`) compile config and optimizer state. Classes not built into xlaflow
    must be registered (`@register_serializable`) or passed in `custom_objects`."""
    if hdf5_weights.is_hdf5_path(filepath) and not os.path.exists(filepath):
        raise FileNotFoundError(f"load_model: no file or directory at {filepath}")
    from xlaflow.saving import keras_v3
    if keras_v3.is_keras_v3_file(filepath):  # TF 2.12's model.save("m.keras")
        return keras_v3.load_model(filepath, custom_objects, compile)
    if os.path.isfile(filepath):  # Keras 2 reads a file as HDF5, whatever its name
        from xlaflow.saving import hdf5_model
        return hdf5_model.load_model(filepath, custom_objects, compile)
    if os.path.isfile(os.path.join(filepath, TF_SAVED_MODEL)) and not os.path.exists(
            os.path.join(filepath, export.MANIFEST)):
        raise ValueError(
            f"load_model: {filepath} is a TensorFlow SavedModel ({TF_SAVED_MODEL}: TF's "
            "graph), which xlaflow does not read. In TensorFlow, load it and save it as one "
            "HDF5 file (model.save('model.h5')), then load_model('model.h5') here")
    return atomic.read_stable(filepath, lambda path: _load_model(path, custom_objects, compile),
                              "load_model")


def _load_model(path, custom_objects, compile):
    atomic.verify_directory(path, manifest=export.MANIFEST, format_name=export.FORMAT,
                            max_version=export.FORMAT_VERSION, what="load_model")
    description, stored = _read(path)
    model = serialization.deserialize_keras_object(description["model"], custom_objects)
    if description.get("build_input_shape") and model._build_input_shape is None:
        model._prepare(_decode_shapes(description["build_input_shape"],
                                      description.get("build_input_dtype")))
    variables = list(model.variables)
    keys = description["variables"]
    _check_match(model.name, variables, [stored[k] for k in keys], "weights")
    weight_keys = {id(v): k for k, v in zip(keys, variables)}  # for the optimizer's slots
    # all the export's arrays (orbax restores a whole tree): a stateful RNN's kept states
    # are there for the signature, though no weight of the rebuilt model
    values = arrays.restore_arrays(os.path.join(path, export.VARIABLES_DIR),
                                   {k: (v["shape"], v["dtype"]) for k, v in stored.items()})
    for key, variable in zip(keys, variables):
        variable.assign(values[key])
    config = description.get("compile_config")
    if compile and config is not None:
        _compile(model, config, custom_objects, path, description, weight_keys)
    return model


def _compile(model, config, custom_objects, path, description, weight_keys):
    compile_loaded(model, config, custom_objects, description.get("optimizer_variables"),
                   description.get("optimizer_built"), weight_keys,
                   lambda specs: arrays.restore_arrays(
                       os.path.join(path, KERAS_DIR, OPTIMIZER_DIR),
                       {s["key"]: (s["shape"], s["dtype"]) for s in specs}))


def compile_loaded(model, config, custom_objects, opt_specs, optimizer_built, weight_keys,
                   read_values):
    """Compile a loaded model from its saved config, then restore the optimizer's state:
    `opt_specs` describe the saved variables (key, name, shape, dtype, slot_of) and
    `read_values(specs)` returns {key: value}; all checked before any assignment."""
    config = _deserialize_value(dict(config), custom_objects)
    try:
        model.compile(**config)
    except ValueError as exc:  # an unknown loss/metric/optimizer name: say how to give it
        raise type(exc)(f"load_model: the saved compile config does not compile here: {exc}. "
                        "A loss, metric or optimizer of your own is found when passed in "
                        "custom_objects={name: object} (or registered); or load with "
                        "compile=False and compile the model in code") from exc
    opt_specs = opt_specs or []
    if not opt_specs:
        return
    optimizer = model.optimizer
    if optimizer_built:
        optimizer.build(_recorded_weights(model, opt_specs, weight_keys) or
                        model.trainable_weights)
    variables = list(optimizer.variables)
    if len(variables) == len(opt_specs):
        opt_specs = _paired(optimizer, variables, opt_specs, weight_keys)
    _check_match(f"{model.name}'s optimizer", variables, opt_specs, "optimizer variables")
    values = read_values(opt_specs)
    for spec, variable in zip(opt_specs, variables):
        variable.assign(values[spec["key"]])


def _check_match(owner, variables, specs, what):
    """Every shape and dtype checked before any assignment."""
    if len(variables) != len(specs):
        raise ValueError(f"load_model: {owner} has {len(variables)} {what} after rebuilding; "
                         f"the saved model has {len(specs)} (did the class change?)")
    for variable, spec in zip(variables, specs):
        if list(variable.shape) != list(spec["shape"]) or \
                np.dtype(variable.dtype) != np.dtype(spec["dtype"]):
            raise ValueError(f"load_model: {variable.name} is {np.dtype(variable.dtype).name}"
                             f"{list(variable.shape)} after rebuilding {owner}; the saved "
                             f"{spec.get('name')} is {spec['dtype']}{list(spec['shape'])}")


def model_to_json(model, **kwargs):
    """Keras' `model.to_json()`: the architecture (no weights) as a JSON string;
    `kwargs` go to json.dumps (indent=...)."""
    return json.dumps(serialization.serialize_keras_object(model), **kwargs)


def model_from_json(json_string, custom_objects=None):
    """Keras' `model_from_json`: a new, freshly initialized model from `to_json()`'s
    string (weights come separately: set_weights or load_weights)."""
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model_from_json: json_string must be the JSON text of "
                         f"model.to_json(); received {str(json_string)[:60]!r} ({exc})") from None
    return serialization.deserialize_keras_object(config, custom_objects)
