"""The `.keras` zip's config.json (Keras 2.12's serialization_lib) to and from the forms
xlaflow reads: Keras 2's `{"class_name", "config"}` (keras2_config.py) and its own.

Keras 2.12 writes every object as `{"module", "class_name", "config", "registered_name"}`
("registered_name" null for its built-ins, "Package>Name" or the class name for a user's
class), a model also with "build_config" and "compile_config", a function as
`{"class_name": "function", "config": name, ...}`, a repeated object with
"shared_object_id". Reading drops what Keras 2's form has no place for; writing gives
xlaflow's built-ins Keras' public module ("keras.layers", ...) so TF 2.12 finds them.
"""

from __future__ import annotations

# A nested config's Keras module, by the key it sits under (its suffix) or its kind
_MODULE_BY_KEY = (("_initializer", "keras.initializers"), ("_regularizer", "keras.regularizers"),
                  ("_constraint", "keras.constraints"), ("layer", "keras.layers"),
                  ("cell", "keras.layers"))
_MODULE_BY_XLAFLOW = (("xlaflow.layers", "keras.layers"), ("xlaflow.keras.layers", "keras.layers"),
                      ("xlaflow.optimizers", "keras.optimizers"),
                      ("xlaflow.optimizer", "keras.optimizers"),
                      ("xlaflow.losses", "keras.losses"), ("xlaflow.metrics", "keras.metrics"),
                      ("xlaflow.initializers", "keras.initializers"),
                      ("xlaflow.schedules", "keras.optimizers.schedules"),
                      ("xlaflow.loss_scale", "keras.mixed_precision"))
_OBJECT_KEYS = {"module", "class_name", "config", "registered_name"}


def is_v3_object(value):
    return isinstance(value, dict) and isinstance(value.get("class_name"), str) and \
        "config" in value and ("module" in value or "registered_name" in value)


def to_legacy(value):
    """Keras 2's form of a config.json value: each object `{"class_name", "config"}`
    (class_name its registered name, when it has one), a function by its name, a
    Functional layer entry keeping "name" and "inbound_nodes"."""
    if isinstance(value, list):
        return [to_legacy(v) for v in value]
    if not isinstance(value, dict):
        return value
    special = value.get("class_name")
    if special == "__tuple__" and isinstance(value.get("config"), dict):
        return [to_legacy(v) for v in value["config"].get("value", [])]
    if special == "__bytes__" and isinstance(value.get("config"), dict):
        return value["config"].get("value")
    if not is_v3_object(value):
        return {k: to_legacy(v) for k, v in value.items()}
    registered = value.get("registered_name")
    if special == "function":  # a built-in's name, or the user's registered one
        return registered if isinstance(registered, str) else value["config"]
    out = {"class_name": registered if isinstance(registered, str) else special,
           "config": to_legacy(value["config"])}
    for key in ("name", "inbound_nodes"):
        if key in value:
            out[key] = to_legacy(value[key])
    return out


def compile_arguments(compile_config):
    """Keras 2.12's compile_config as Keras 2's training config (the compile keyword
    arguments keras2_training reads); its null run_eagerly / steps_per_execution /
    jit_compile mean compile's defaults."""
    config = to_legacy(dict(compile_config))
    for key in ("run_eagerly", "steps_per_execution", "jit_compile"):
        if config.get(key) is None:
            config.pop(key, None)
    return config


def build_shape(config):
    """The input shape in a model's "build_config" (None without one)."""
    build = config.get("build_config") if isinstance(config, dict) else None
    shape = build.get("input_shape") if isinstance(build, dict) else None
    return to_legacy(shape)


# -- writing -----------------------------------------------------------------------------
def to_keras(value, key=""):
    """xlaflow's serialized value in Keras 2.12's form: its own objects
    ({"module": "xlaflow...", "registered_name", ...}) and Keras 2 style nested dicts
    ({"class_name", "config"}) both as `{"module", "class_name", "config",
    "registered_name"}`."""
    if isinstance(value, list):
        return [to_keras(v, key) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"xlaflow_function"}:  # a user's function (keras_model._FUNCTION)
        name = value["xlaflow_function"]
        return {"module": "builtins", "class_name": "function", "config": name.split(">")[-1],
                "registered_name": name}
    if isinstance(value.get("class_name"), str) and "config" in value and \
            set(value) <= _OBJECT_KEYS:
        return _object(value, key)
    return {k: to_keras(v, k) for k, v in value.items()}


def _object(value, key):
    module, registered = value.get("module"), value.get("registered_name")
    class_name = value["class_name"]
    builtin = registered in (None, class_name) and (module is None or module.startswith(
        "xlaflow."))
    if builtin:
        module = _keras_module(module, key)
        registered = None
    config = value["config"]
    if isinstance(config, dict):
        config = {k: to_keras(v, k) for k, v in config.items()
                  # Keras 2's InputLayer takes no `trainable` (an unknown argument there)
                  if not (class_name == "InputLayer" and builtin and k == "trainable")}
    return {"module": module, "class_name": class_name, "config": config,
            "registered_name": registered}


def _keras_module(module, key):
    for prefix, keras in _MODULE_BY_XLAFLOW:
        if module and (module == prefix or module.startswith(prefix + ".")):
            return keras
    for suffix, keras in _MODULE_BY_KEY:
        if key.endswith(suffix):
            return keras
    return "keras.layers" if module is None else module


def model_config(model, architecture):
    """Keras 2.12's config of `model` (its xlaflow serialization `architecture`): a
    Sequential as Keras', a functional model as Keras' Functional with each layer's
    "inbound_nodes" (None when its graph has calls Keras 2's node form cannot say)."""
    config = architecture["config"]
    name = architecture["class_name"]
    if name == "Sequential" and architecture.get("registered_name") in (None, name):
        layers = [to_keras(layer, "layer") for layer in config["layers"]]
        return {"module": "keras", "class_name": "Sequential",
                "config": {"name": config["name"], "layers": layers},
                "registered_name": None}
    if "nodes" in config and architecture.get("registered_name") in (None, "Model"):
        functional = _functional(config)
        if functional is None:
            return None
        return {"module": "keras.engine.functional", "class_name": "Functional",
                "config": functional, "registered_name": "Functional"}
    return to_keras(architecture)


def _functional(config):
    """xlaflow's functional config (layers, input_layers, nodes of refs, outputs) as
    Keras 2's (layers with "name" and "inbound_nodes", input_layers, output_layers)."""
    layers = config["layers"]
    names = [layer["config"].get("name") if isinstance(layer.get("config"), dict) else None
             for layer in layers]
    if not all(isinstance(n, str) for n in names):
        return None  # a layer whose config names it not: Keras 2's nodes need the name
    inputs = [names[i] for i in config["input_layers"]]
    calls, node_layer = {}, []
    for node in config["nodes"]:
        node_layer.append((node["layer"], calls.get(node["layer"], 0)))
        calls[node["layer"]] = calls.get(node["layer"], 0) + 1

    def tensor(ref):
        if not (isinstance(ref, dict) and set(ref) == {"ref"}):
            return None
        kind, *where = ref["ref"]
        if kind == "input":
            return [inputs[where[0]], 0, 0]
        layer, index = node_layer[where[0]]
        return [names[layer], index, where[1] if len(where) > 1 else 0]

    inbound = [[] for _ in layers]
    for node in config["nodes"]:
        refs = node["inputs"].get("list", [node["inputs"]]) if isinstance(
            node["inputs"], dict) else None
        tensors = [tensor(r) for r in refs] if refs is not None else [None]
        if None in tensors or node.get("args") not in (None, {"list": []}) or \
                node.get("kwargs") not in (None, {"dict": {}}):
            return None  # nested inputs or other call arguments: not in this form
        inbound[node["layer"]].append([[*t, {}] for t in tensors])
    outputs = config["outputs"]
    outs = [tensor(r) for r in outputs.get("list", [outputs])] if isinstance(
        outputs, dict) else [None]
    if None in outs:
        return None
    entries = []
    for layer, nodes, name in zip(layers, inbound, names):
        entry = to_keras(layer, "layer")
        entry.update({"name": name, "inbound_nodes": nodes})
        entries.append(entry)
    return {"name": config["name"], "trainable": config.get("trainable", True),
            "layers": entries, "input_layers": [[n, 0, 0] for n in inputs],
            "output_layers": outs}
