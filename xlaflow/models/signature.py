"""A model's serving signature: its call as an xf.function of named inputs that returns
named outputs, with the batch dimension left free (what model.save exports).

Names follow TF's Keras SavedModels: functional inputs keep their Input names and outputs
their layers' names; a Sequential's input is `<first layer>_input` and its output its last
layer's name; a subclassed model takes `inputs` (or `input_<i>`) and returns `output_<i>`.
"""

from __future__ import annotations

import jax

from xlaflow.function import function
from xlaflow.layers.core import InputLayer
from xlaflow.layers.symbolic import is_symbolic
from xlaflow.saving.export import unique_names
from xlaflow.tensors import TensorSpec


def _is_shape(s):
    return isinstance(s, tuple) and all(d is None or isinstance(d, int) for d in s)


def _input_names(model, shapes, count):
    if model.__dict__.get("_host") is not None:  # the compiled part's: strings stay out
        return [str(k) for k in sorted(shapes)]
    if model._graph is not None:
        return [t.name for t in jax.tree_util.tree_leaves(model._graph.inputs,
                                                          is_leaf=is_symbolic)]
    layers = getattr(model, "_layers", None)
    if layers:
        return [layers[0].name if isinstance(layers[0], InputLayer) else
                f"{layers[0].name}_input"]
    if count == 1:
        return ["inputs"]
    if isinstance(shapes, dict):
        return [str(k) for k in sorted(shapes)]  # jax flattens dicts in sorted key order
    return [f"input_{i}" for i in range(count)]


def _output_names(model, count):
    if model._graph is not None:
        names = model.output_names
    elif getattr(model, "_layers", None):
        names = [model._layers[-1].name] if count == 1 else []
    else:
        names = []
    if len(names) != count:
        names = [f"output_{i}" for i in range(count)]
    return unique_names(names)


def serving_function(model):
    """The model's `serving_default`: an xf.function with an input_signature."""
    shapes, dtypes = model._input_spec_to_save()
    if shapes is None:
        raise ValueError(f"{model.name} does not know its input shape: saving needs it to "
                         "export the serving signature. Call it or run fit/predict/evaluate "
                         "on data, call model.build((None, ...)), or declare it (input_shape= on "
                         "the first layer, or xf.keras.Input)")
    flat_shapes, tree = jax.tree_util.tree_flatten(shapes, is_leaf=_is_shape)
    batch = _stateful_batch(model)
    if batch is not None:  # its states are kept for that batch size (Keras 2 exports so)
        flat_shapes = [(batch, *shape[1:]) for shape in flat_shapes]
    flat_dtypes = jax.tree_util.tree_leaves(dtypes) if dtypes is not None else \
        ["float32"] * len(flat_shapes)
    names = _input_names(model, shapes, len(flat_shapes))
    specs = [TensorSpec(shape, dtype, name)
             for shape, dtype, name in zip(flat_shapes, flat_dtypes, names)]

    def serve(*flat):
        with model._compiled_part():  # after any host layers: they give the inputs
            outputs = model(jax.tree_util.tree_unflatten(tree, list(flat)), training=False)
        if isinstance(outputs, dict):
            return outputs
        leaves = jax.tree_util.tree_leaves(outputs)
        return dict(zip(_output_names(model, len(leaves)), leaves))

    serve.__name__ = f"{model.name}_serving_default"
    return function(serve, input_signature=specs, autograph=False)



def _stateful_batch(model):
    """The batch size a stateful RNN inside `model` keeps its states for, else None."""
    from xlaflow.layers.rnn_stateful import kept_states
    states = kept_states(model)
    return int(states[0].shape[0]) if states else None
