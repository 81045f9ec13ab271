"""Keras 2's order of a layer's and a model's `weights` (get_weights, set_weights), and
which of them train: its `trainable_weights` and `non_trainable_weights`.

A Layer lists `trainable_weights + non_trainable_weights` (base_layer.py), each layer's own
trainable weights before its others; a Model goes layer by layer instead, each tracked
layer's `weights` and then the model's own (training.py `_undeduplicated_weights`).
A layer whose own `trainable` is False trains nothing, whatever its sublayers' flags say.
Only add_weight weights count: other Variables a layer holds (random seed states) are
lifted and checkpointed, not trained, counted or set by set_weights.
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
    found.pop(id(layer), None)  # reached back through an attribute: not its own sublayer
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


def dedup(weights):
    found = {}
    for weight in weights:
        found.setdefault(id(weight), weight)
    return list(found.values())


def _gather(children, attribute):
    return [w for child in children for w in getattr(child, attribute)]


def trainable_weights(layer):
    """Keras 2's `trainable_weights`: [] for a frozen layer; else its own trainable weights
    and each sublayer's `trainable_weights` (a Model: the sublayers' first, base_layer.py and
    training.py), so an unfrozen sublayer of a frozen parent trains nothing through it."""
    if not layer.trainable:
        return []
    own = [w for w in layer._own_weights if w.trainable]
    children = _gather(child_layers(layer), "trainable_weights")
    return dedup(children + own if layer._children_weights_first else own + children)


def non_trainable_weights(layer):
    """Keras 2's `non_trainable_weights`. A frozen Layer lists its own weights, then each
    sublayer's `weights`; a frozen Model lists its sublayers' trainable_weights and its own
    trainable ones before all non-trainable ones; the HDF5 order follows from these."""
    own = layer._own_weights
    own_trainable = [w for w in own if w.trainable]
    own_frozen = [w for w in own if not w.trainable]
    children = child_layers(layer)
    if layer.trainable:
        below = _gather(children, "non_trainable_weights")
        return dedup(below + own_frozen if layer._children_weights_first
                      else own_frozen + below)
    if layer._children_weights_first:
        return dedup(_gather(children, "trainable_weights") + own_trainable +
                      _gather(children, "non_trainable_weights") + own_frozen)
    return dedup(own_trainable + own_frozen + _gather(children, "weights"))
