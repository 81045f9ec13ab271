"""keras.models.clone_model: the same architecture with new layers (and so new, freshly
initialized weights), for Sequential and functional models, as Keras 2 clones them.
"""

from __future__ import annotations

import jax

from xlaflow.layers.base import Layer
from xlaflow.layers.core import InputLayer
from xlaflow.layers.symbolic import Input, is_symbolic
from xlaflow.models.model import Model
from xlaflow.models.sequential import Sequential


def _clone_layer(layer):
    """Keras' default: a new layer of the same class from the layer's config."""
    return layer.__class__.from_config(layer.get_config())


def _cloned(clone_function, layer):
    clone = clone_function(layer)
    if not isinstance(clone, Layer):
        raise TypeError(f"clone_model: clone_function must return a Layer; for layer "
                        f"{layer.name!r} it returned {type(clone).__name__}")
    return clone


def _input_list(input_tensors, count):
    tensors = input_tensors if isinstance(input_tensors, (list, tuple)) else [input_tensors]
    bad = [t for t in tensors if not (is_symbolic(t) and t.node is None)]
    if bad:
        raise ValueError(f"clone_model: input_tensors must be tensors made by "
                         f"xf.keras.Input; received {bad!r}")
    if len(tensors) != count:
        raise ValueError(f"clone_model: the model has {count} input(s), but input_tensors "
                         f"holds {len(tensors)}")
    return list(tensors)


def _clone_sequential(model, input_tensors, clone_function):
    layers = [layer for layer in model._layers if not isinstance(layer, InputLayer)]
    first = [] if not model._layers or not isinstance(model._layers[0], InputLayer) \
        else [_clone_layer(model._layers[0])]  # an InputLayer is recreated, never passed on
    if input_tensors is not None:
        (tensor,) = _input_list(input_tensors, 1)
        first = [tensor]  # Sequential.add turns an Input into its InputLayer
    return Sequential(first + [_cloned(clone_function, layer) for layer in layers],
                      name=model.name, trainable=model.trainable)


def _clone_functional(model, input_tensors, clone_function):
    graph = model._graph
    old_inputs = jax.tree_util.tree_leaves(graph.inputs, is_leaf=is_symbolic)
    if input_tensors is None:
        new_inputs = [Input(t.shape[1:], batch_size=t.shape[0], dtype=t.dtype, name=t.name)
                      for t in old_inputs]
    else:
        new_inputs = _input_list(input_tensors, len(old_inputs))
    env = {id(old): new for old, new in zip(old_inputs, new_inputs)}
    clones = {}  # a layer called at several nodes stays one (shared) layer in the clone

    def value(x):
        return env[id(x)] if is_symbolic(x) else x

    for node in graph.nodes:
        layer = node.layer
        if id(layer) not in clones:
            clones[id(layer)] = _cloned(clone_function, layer)
        inputs, args, kwargs = jax.tree_util.tree_map(
            value, (node.inputs, node.args, node.kwargs), is_leaf=is_symbolic)
        out = clones[id(layer)](inputs, *args, **kwargs)
        for old, new in zip(jax.tree_util.tree_leaves(node.outputs, is_leaf=is_symbolic),
                            jax.tree_util.tree_leaves(out, is_leaf=is_symbolic)):
            env[id(old)] = new
    inputs = jax.tree_util.tree_map(value, graph.inputs, is_leaf=is_symbolic)
    outputs = jax.tree_util.tree_map(value, graph.outputs, is_leaf=is_symbolic)
    clone = Model(inputs=inputs, outputs=outputs, name=model.name, trainable=model.trainable)
    # model.add_loss/add_metric of graph tensors: their nodes were cloned with the rest
    clone._add_sides([(kind, env[id(tensor)], name) for kind, tensor, name in graph.sides])
    return clone


def clone_model(model, input_tensors=None, clone_function=None):
    """A new model of `model`'s architecture: each layer replaced by
    `clone_function(layer)` (default: a new layer from its config, with new weights), its
    inputs new Inputs or `input_tensors`. Subclassed models have no graph to clone."""
    if clone_function is None:
        clone_function = _clone_layer
    elif not callable(clone_function):
        raise TypeError(f"clone_model: clone_function must be callable; received "
                        f"{clone_function!r}")
    if isinstance(model, Sequential):
        return _clone_sequential(model, input_tensors, clone_function)
    if isinstance(model, Model) and model._graph is not None:
        return _clone_functional(model, input_tensors, clone_function)
    raise ValueError(f"clone_model: expected a Sequential or functional Model; received "
                     f"{type(model).__name__}, a subclassed model whose layers are wired in "
                     f"Python code. Create a new instance of the class instead")
