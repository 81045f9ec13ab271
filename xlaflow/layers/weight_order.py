"""Keras 2's order of a layer's and a model's `weights` (get_weights, set_weights).

A Layer lists `trainable_weights + non_trainable_weights` (base_layer.py), each layer's own
trainable weights before its others; a Model goes layer by layer instead, each tracked
layer's `weights` and then the model's own (training.py `_undeduplicated_weights`).
"""

from __future__ import annotations

from xlaflow.module import Module


def own_weights(layer):
    """`layer`'s own add_weight weights, trainable ones first: Keras 2 keeps them in two
    lists (_trainable_weights, _non_trainable_weights) and always lists them in that order."""
    own = layer._own_weights
    return [w for w in own if w.trainable] + [w for w in own if not w.trainable]


def is_layer(value):
    return isinstance(value, Module) and "_own_weights" in vars(value)


def child_layers(layer):
    """The layers `layer` holds itself (through lists, dicts and plain Modules, not through
    other layers), in attribute order: the sublayers a Keras 2 Model tracks."""
    found, seen = {}, {id(layer)}

    def walk(obj):
        values = vars(obj).values() if isinstance(obj, Module) else (
            obj.values() if isinstance(obj, dict) else obj)
        for value in values:
            if is_layer(value):
                found.setdefault(id(value), value)
            elif isinstance(value, (Module, list, tuple, dict)) and id(value) not in seen:
                seen.add(id(value))
                walk(value)

    walk(layer)
    return list(found.values())


def model_weights(model):
    """Keras 2's Model.weights: each tracked layer's `weights` in turn (so a frozen layer
    keeps its place), then the model's own weights; each weight once."""
    found = {}
    for layer in child_layers(model):
        for weight in layer.weights:
            found.setdefault(id(weight), weight)
    for weight in own_weights(model):
        found.setdefault(id(weight), weight)
    return list(found.values())
