"""Keras 2's model configs (TF 2.x `model.to_json()`, an HDF5 file's model_config) rebuilt
as xlaflow models and layers, so that architectures written by TF port without TF.

Keras 2 writes `{"class_name", "config"}` with no "registered_name" (2.13+: null for its
built-ins; xlaflow's own format always names one): layers are found by class name among xlaflow's built-ins, `custom_objects` and the
registered classes; a Sequential's config lists its layers, an InputLayer first; a
Functional one lists layers with their "inbound_nodes", replayed by keras2_graph.py. A
Keras-2-only key is dropped only at its default (where it changes nothing here); any other
value of it raises NotImplementedError naming it, before that layer is made.
"""

from __future__ import annotations

import copy

# Keras 2 keys with no counterpart here, by class: dropped only at the value Keras 2 writes
# when the feature is off (InputLayer(sparse=False) is an ordinary Input).
_KERAS2_ONLY = {
    "InputLayer": {"sparse": False, "type_spec": None},  # ragged: InputLayer(ragged=)
    "Embedding": {"sparse": False},
    "BatchNormalization": {"renorm": False, "virtual_batch_size": None, "fused": None,
                           "synchronized": False},
    "CategoryEncoding": {"sparse": False},
}
_GLOROT = {"class_name": "GlorotUniform", "config": {"seed": None}}
for _separable in ("SeparableConv1D", "SeparableConv2D"):  # Conv's unused kernel_* args
    _KERAS2_ONLY[_separable] = {"kernel_initializer": _GLOROT, "kernel_regularizer": None,
                                "kernel_constraint": None}
# What the non-default value asks for, to say it in the error
_WHY = {"sparse": "sparse tensors", "ragged": "ragged tensors", "type_spec": "a TypeSpec",
        "renorm": "batch renormalization",
        "virtual_batch_size": "ghost batch normalization", "fused": "the fused kernel choice",
        "synchronized": "synchronized statistics"}
# Keys Keras 2's lookup layers write that only record what follows from the others: the
# vocabulary's size (its IndexLookup drops it on load too)
_DERIVED = {"StringLookup": ("vocabulary_size",), "IntegerLookup": ("vocabulary_size",)}
# Layers whose Keras 2 config says dtype "string", which here is no layer dtype: Keras 2's
# TextVectorization has no other, and its StringLookup clears it ("legacy versions")
_STRING_DTYPE = ("TextVectorization", "StringLookup")
# Keys holding a whole layer's Keras 2 config (wrappers, RNN cells)
_NESTED_LAYER_KEYS = ("layer", "backward_layer", "cell")
# Keras 2 writes these tuple arguments as lists of one axis; xlaflow takes the int
_SINGLE_AXIS = {"Normalization": "axis", "Discretization": "axis"}


def is_keras2_config(value):
    """Whether `value` is a Keras 2 `{"class_name", "config"}` dict: no "registered_name"
    (xlaflow's own objects always carry one), or Keras 2.13+'s null for a built-in."""
    return isinstance(value, dict) and isinstance(value.get("class_name"), str) and \
        "config" in value and value.get("registered_name") is None


def deserialize(config, custom_objects=None):
    """The model or layer a Keras 2 `{"class_name", "config"}` dict describes (fresh
    weights). Nested dicts (wrapped layers, inner models) are read the same way."""
    from xlaflow.saving import serialization
    class_name = config["class_name"]
    cls = _find_class(class_name, custom_objects)
    if cls is None and class_name in ("TFOpLambda", "SlicingOpLambda"):
        from xlaflow.saving.keras2_ops import Keras2Op  # a TF op on symbolic tensors
        return Keras2Op(class_name, config["config"])
    if cls is None:  # Keras 2 names a registered class "Package>Name": suggest Name
        raise serialization.unknown_class_error(class_name.rpartition(">")[2], class_name)
    with serialization.custom_object_scope(custom_objects):
        return _build(cls, class_name, copy.deepcopy(config["config"]))


def _find_class(class_name, custom_objects):
    from xlaflow.models import Model
    from xlaflow.saving import serialization
    cls = serialization.get_registered_object(class_name, custom_objects)
    if cls is None and class_name == "Functional":  # Keras 2's class of Model(inputs, ...)
        return Model
    return cls


def _build(cls, class_name, config):
    from xlaflow.layers.base import Layer
    from xlaflow.models import Model, Sequential
    if isinstance(cls, type) and issubclass(cls, Sequential):
        return _sequential(cls, config)
    if isinstance(cls, type) and issubclass(cls, Model) and isinstance(config, dict) and \
            "input_layers" in config:
        from xlaflow.saving import keras2_graph
        inputs, outputs = keras2_graph.replay(config, deserialize)
        return cls(inputs=inputs, outputs=outputs, name=config.get("name"),
                   **({"trainable": config["trainable"]} if "trainable" in config else {}))
    if isinstance(cls, type) and issubclass(cls, Layer):
        return _layer(cls, class_name, config)
    from_config = getattr(cls, "from_config", None)
    if from_config is None:
        raise ValueError(f"cannot load {class_name!r}: {cls!r} has no from_config")
    return from_config(config)


def _sequential(cls, config):
    """Keras 2's Sequential.from_config: its layers added in order (an InputLayer first
    declares the input), then built for "build_input_shape" if nothing declared one."""
    if isinstance(config, list):  # Keras < 2.2.3 wrote the bare list of layers
        config = {"layers": config}
    model = cls(name=config.get("name"), **(
        {"trainable": config["trainable"]} if "trainable" in config else {}))
    for layer_config in config.get("layers", ()):
        model.add(deserialize(layer_config))
    shape = config.get("build_input_shape")
    if not model.built and isinstance(shape, (list, tuple)) and shape:
        model.build(tuple(shape))
    return model


def layer_arguments(class_name, config):
    """Keras 2's config of a `class_name` layer as xlaflow's constructor arguments: the
    dtype policy by name, nested layers rebuilt, Keras-2-only keys at their default
    dropped (NotImplementedError naming any other value of them)."""
    config = dict(config)
    name = config.get("name", class_name)
    for key, default in _KERAS2_ONLY.get(class_name, {}).items():
        if key not in config:
            continue
        value = config.pop(key)
        if value != default:
            raise NotImplementedError(
                f"{class_name} layer {name!r}: Keras 2's {key}={value!r} "
                f"({_WHY.get(key, 'a Keras 2 feature')}) is not supported here; only "
                f"{key}={default!r} is. Rebuild the layer without it")
    for key in _DERIVED.get(class_name, ()):
        config.pop(key, None)
    if class_name in _STRING_DTYPE and config.get("dtype") in ("string", "str"):
        config.pop("dtype")
    dtype = config.get("dtype")
    if isinstance(dtype, dict):  # a mixed precision Policy: {"class_name": "Policy", ...}
        config["dtype"] = dtype.get("config", {}).get("name")
    for key in _NESTED_LAYER_KEYS:
        if is_keras2_config(config.get(key)):
            config[key] = deserialize(config[key])
    if isinstance(config.get("cells"), list):  # StackedRNNCells
        config["cells"] = [deserialize(c) if is_keras2_config(c) else c
                           for c in config["cells"]]
    adapt = _ADAPT.get(class_name)
    if adapt is not None:
        adapt(name, config)
    axis_key = _SINGLE_AXIS.get(class_name)
    if axis_key and isinstance(config.get(axis_key), list) and len(config[axis_key]) == 1:
        config[axis_key] = config[axis_key][0]
    return config


def _multi_head_attention(name, config):
    """Keras 2 records the shapes it was built for (dropped: they only say how it was
    built) and, once built, the attention axes it chose: the default ones are dropped."""
    query_shape = config.pop("query_shape", None)
    config.pop("key_shape", None)
    config.pop("value_shape", None)
    axes = config.pop("attention_axes", None)
    if axes is None:
        return
    axes = [axes] if isinstance(axes, int) else list(axes)
    # Keras 2's default: every axis between the batch and the features
    if query_shape is None or axes != list(range(1, len(query_shape) - 1)):
        raise NotImplementedError(
            f"MultiHeadAttention layer {name!r}: Keras 2's attention_axes={axes!r} "
            "(attention over other axes than the sequence) is not supported here")


def _lambda(name, config):
    """A Lambda saved by function name loads through custom_objects (where the function
    lived, "module", is not needed for that); one saved as bytecode never loads."""
    kinds = {"function": config.pop("function_type", "function"),
             "output_shape": config.pop("output_shape_type", "raw")}
    config.pop("module", None)
    config.pop("output_shape_module", None)
    for key, kind in kinds.items():
        if kind == "lambda":
            raise NotImplementedError(
                f"Lambda layer {name!r}: Keras 2 saved its {key} as Python bytecode "
                f"({key}_type 'lambda'), which is never executed here. Define it with "
                "def, pass it in custom_objects, and rebuild the Lambda layer in code")


_ADAPT = {"MultiHeadAttention": _multi_head_attention, "Lambda": _lambda}


def _layer(cls, class_name, config):
    arguments = layer_arguments(class_name, config)
    try:
        return cls.from_config(arguments)
    except (TypeError, ValueError, NotImplementedError) as exc:
        if type(exc) not in (TypeError, ValueError, NotImplementedError):
            raise
        # The layer's own message (an unexpected key, a bad value), said of the saved layer
        raise type(exc)(f"loading Keras 2's {class_name} layer "
                        f"{config.get('name')!r}: {exc}") from exc
