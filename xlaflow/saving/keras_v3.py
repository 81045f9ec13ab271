"""model.save("m.keras") / load_model("m.keras"): one zip, the "Keras v3" format of TF 2.12.

The zip (Keras 2.12's keras/saving/saving_lib.py) holds three members:

- `metadata.json`: `{"keras_version": "2.12.0", "date_saved": "%Y-%m-%d@%H:%M:%S"}`.
- `config.json`: the model as serialization_lib writes it (keras_v3_config.py):
  `{"module", "class_name", "config", "registered_name", "build_config": {"input_shape"},
  "compile_config": {"optimizer", "loss", "metrics", "loss_weights", "weighted_metrics",
  "run_eagerly", "steps_per_execution", "jit_compile"}}`, each nested object (layers,
  initializers, the optimizer, a loss) again `{"module", "class_name", "config",
  "registered_name"}`; a Functional model's layers also carry "name" and Keras 2's
  "inbound_nodes" (`[[[layer, node, tensor, kwargs], ...], ...]`).
- `model.weights.h5`: each object's own variables under `<path>/vars/<i>` (`vars` at the
  root for the model's own), the path being the attributes TF's walk took: a Sequential or
  Functional model's layer `_layer_checkpoint_dependencies/<snake_case class>[_k]`
  (keras_v3_weights.py says how the suffix is chosen), the optimizer `optimizer` with
  `vars/0` its iteration count (int64) and then its slots in TF's build order; a compiled
  model TF trained also keeps its metrics' totals under `metrics/...`, not read here.
  An `assets/` folder holds what lookup layers save (none of xlaflow's layers need it).

xlaflow writes the same three members (its built-ins under Keras' module names, so TF 2.12
can rebuild what it has a class for) and adds under config.json's "xlaflow" key its own
description of the model and compile arguments, which is what it reads back (exactly);
without that key (a file TF wrote) it reads Keras' config through keras2_config.py. The
file is written under a temporary name and renamed.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import shutil
import uuid
import zipfile

from xlaflow.saving import (
    atomic,
    hdf5_weights,
    keras2_config,
    keras2_training,
    keras_model,
    keras_v3_config,
    keras_v3_weights,
    serialization,
)

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
KERAS_VERSION = "2.12.0"  # the writer whose layout this is
XLAFLOW = "xlaflow"  # config.json's key for xlaflow's own description


def is_keras_v3_path(filepath):
    return str(filepath).endswith(".keras")


def is_keras_v3_file(filepath):
    """A zip file holding a config.json (what Keras 2.12+ writes for model.save('m.keras')),
    or a .keras file that is no HDF5 file (a damaged zip: its reader says so)."""
    if not os.path.isfile(filepath):
        return False
    if zipfile.is_zipfile(os.fspath(filepath)):
        with zipfile.ZipFile(os.fspath(filepath)) as zf:
            return CONFIG in zf.namelist()
    if not is_keras_v3_path(filepath):
        return False
    try:
        import h5py
    except ImportError:
        return True
    return not h5py.is_hdf5(os.fspath(filepath))


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Write `model` to the zip `filepath` (see the module docstring)."""
    h5py = hdf5_weights.require_h5py("model.save to a .keras file")
    path = os.path.realpath(os.fspath(filepath))
    if os.path.exists(path):
        if not overwrite:
            raise FileExistsError(f"save: {filepath} exists and overwrite=False")
        if os.path.isdir(path):  # an earlier xlaflow save of the directory form
            atomic.check_replaceable(path, "save")
    if not model.weights and not model.built:
        raise ValueError(f"save: {model.name} has no weights yet; build it first (call it "
                         "on data, or give the first layer input_shape=)")
    architecture = serialization.serialize_keras_object(model)
    compile_config = keras_model._compile_config(model)
    shapes, dtypes = model._input_spec_to_save()
    config = keras_v3_config.model_config(model, architecture) or \
        keras_v3_config.to_keras(architecture)
    if shapes is not None:
        config["build_config"] = {"input_shape": _plain(shapes)}
    if compile_config is not None:
        config["compile_config"] = {
            "loss_weights": None, "weighted_metrics": None, "run_eagerly": None,
            "steps_per_execution": None, "jit_compile": None,
            **keras_v3_config.to_keras(compile_config)}
    own = {"model": architecture, "compile_config": compile_config,
           "build_input_shape": keras_model._encode_shapes(shapes) if shapes else None,
           "build_input_dtype": dtypes}
    optimizer = model.optimizer if include_optimizer and compile_config is not None else None

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        keras_v3_weights.write_model(f, model)
        if optimizer is not None and optimizer._state is not None:
            keys = {id(v): f"w{i:04d}" for i, v in enumerate(model.variables)}
            own["optimizer_variables"] = keras_v3_weights.write_optimizer(
                f, optimizer, list(model.trainable_weights), keys)
            own["optimizer_built"] = True
    config[XLAFLOW] = own
    text = json.dumps(config)  # fails here, before anything is written, if not JSON
    metadata = json.dumps({"keras_version": KERAS_VERSION, "date_saved":
                           datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")})
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if os.path.isdir(path):
        _replace_directory(path, metadata, text, buffer.getvalue())
        return
    with atomic.replacing(path) as tmp:
        _write_zip(tmp, metadata, text, buffer.getvalue())


def _write_zip(target, metadata, config, weights):
    with zipfile.ZipFile(target, "w") as zf:
        zf.writestr(METADATA, metadata)
        zf.writestr(CONFIG, config)
        zf.writestr(WEIGHTS, weights)
    with open(target, "rb") as f:
        os.fsync(f.fileno())


def _replace_directory(path, metadata, config, weights):
    """The zip in place of an earlier save's directory: written beside it, the directory
    moved aside, the zip renamed in, the directory removed (a crash leaves one of them)."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    old = f"{path}.old-{uuid.uuid4().hex[:8]}"
    try:
        _write_zip(tmp, metadata, config, weights)
        os.replace(path, old)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    shutil.rmtree(old, ignore_errors=True)


def _plain(shapes):
    if isinstance(shapes, dict):
        return {k: _plain(v) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)) and shapes and not all(
            d is None or isinstance(d, int) for d in shapes):
        return [_plain(s) for s in shapes]
    return list(shapes)


def load_model(filepath, custom_objects=None, compile=True):
    """Rebuild the model in the `.keras` zip `filepath`: architecture, weights and (when
    `compile`) compile config and optimizer state; classes not built into xlaflow come
    from `custom_objects` or the registry."""
    h5py = hdf5_weights.require_h5py("load_model of a .keras file")
    try:
        with zipfile.ZipFile(os.fspath(filepath)) as zf:
            names = zf.namelist()
            missing = [n for n in (CONFIG, WEIGHTS) if n not in names]
            if missing:
                raise ValueError(f"load_model: {filepath} is a zip without the {missing} "
                                 f"of a .keras model (it holds {names[:5]})")
            config = json.loads(zf.read(CONFIG).decode("utf-8"))
            weights = zf.read(WEIGHTS)
    except (zipfile.BadZipFile, ValueError, KeyError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith("load_model:"):
            raise
        raise atomic.CorruptSaveError(f"load_model: {filepath} cannot be read as a .keras "
                                      f"zip: it is truncated or damaged ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise atomic.CorruptSaveError(f"load_model: {filepath}'s {CONFIG} is not a Keras "
                                      f"model config (no class_name): {str(config)[:80]}")
    own = config.get(XLAFLOW)
    model = _rebuild(config, own, custom_objects)
    with h5py.File(io.BytesIO(weights), "r") as f:
        pairs = keras_v3_weights.read_model(f, model, filepath)
        for weight, value in pairs:
            weight.assign(value.astype(weight.dtype))
        if compile:
            _compile(model, config, own, custom_objects, f, filepath)
    return model


def _rebuild(config, own, custom_objects):
    if isinstance(own, dict):  # xlaflow wrote it: its own description, exactly
        model = serialization.deserialize_keras_object(own["model"], custom_objects)
        if own.get("build_input_shape") and model._build_input_shape is None:
            model._prepare(keras_model._decode_shapes(own["build_input_shape"],
                                                      own.get("build_input_dtype")))
        return model
    model = keras2_config.deserialize(keras_v3_config.to_legacy(config), custom_objects)
    shape = keras_v3_config.build_shape(config)
    if not model.built and isinstance(shape, list) and shape:
        model.build(tuple(shape) if all(d is None or isinstance(d, int) for d in shape)
                    else shape)
    return model


def _compile(model, config, own, custom_objects, f, filepath):
    if isinstance(own, dict):
        if own.get("compile_config") is None:
            return
        specs = own.get("optimizer_variables")
        keras_model.compile_loaded(
            model, own["compile_config"], custom_objects, specs or [],
            own.get("optimizer_built"), {id(v): f"w{i:04d}" for i, v in
                                         enumerate(model.variables)},
            lambda wanted: {s["key"]: f[f"{keras_v3_weights.XLAFLOW_OPTIMIZER}/vars"][
                s["key"]][()] for s in wanted})
        if specs is None:  # TF's order (xlaflow's own order keeps the specs above)
            _restore_optimizer(model, f, filepath)
        return
    if not isinstance(config.get("compile_config"), dict):
        return
    arguments = keras2_training.compile_arguments(
        keras_v3_config.compile_arguments(config["compile_config"]), custom_objects)
    keras_model.compile_loaded(model, arguments, custom_objects, [], False, {}, None)
    _restore_optimizer(model, f, filepath)


def _restore_optimizer(model, f, filepath):
    pairs = keras_v3_weights.read_optimizer(f, model.optimizer,
                                            list(model.trainable_weights), filepath)
    for variable, value in pairs:
        variable.assign(value.astype(variable.dtype))
