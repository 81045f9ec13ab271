"""Symbolic tensors for the functional API: `Input(...)`, and layers called on them.

A layer called on symbolic tensors builds itself and infers its output with jax.eval_shape,
recording the call as a node; models/functional.py turns the recorded nodes into a Model.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import _lifting


class SymbolicTensor:
    """A placeholder for a tensor in a functional graph: shape (None = batch) and dtype."""

    def __init__(self, shape, dtype, node=None, name=None):
        self.shape = tuple(shape)
        self.dtype = jnp.dtype(dtype)
        self.node = node
        self.name = name

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype.name} name={self.name}>"


class Node:
    """One layer call in the graph: the layer, its symbolic inputs and extra arguments."""

    def __init__(self, layer, inputs, args, kwargs, outputs):
        self.layer, self.inputs, self.args, self.kwargs = layer, inputs, args, kwargs
        self.outputs = outputs


def is_symbolic(x):
    return isinstance(x, SymbolicTensor)


def has_symbolic(inputs):
    return any(is_symbolic(leaf) for leaf in jax.tree_util.tree_leaves(
        inputs, is_leaf=is_symbolic))


def Input(shape, batch_size=None, dtype="float32", name=None):  # noqa: N802 (Keras' name)
    """A symbolic input of one example's `shape` (the batch dimension is added)."""
    if name is None:  # unique, as Keras: exported signatures name their inputs after them
        from xlaflow.layers.base import unique_name
        name = unique_name("input_layer")
    return SymbolicTensor((batch_size, *tuple(shape)), dtype, None, name)


def symbolic_call(layer, inputs, args, kwargs, training=None):
    """Record `layer(inputs, *args, **kwargs)` in the graph and return its symbolic outputs.

    Symbolic tensors may sit anywhere in the arguments (`MultiHeadAttention()(q, v,
    attention_mask=m)`, `LSTM()(x, initial_state=[h, c])`): each becomes a shape spec for
    the shape inference and a dependency of the node. An explicit `training` is recorded:
    as in Keras 2, it then wins over the training flag the model is run with."""
    leaves, tree = jax.tree_util.tree_flatten((inputs, tuple(args), dict(kwargs)),
                                              is_leaf=is_symbolic)
    where = [i for i, leaf in enumerate(leaves) if is_symbolic(leaf)]

    def concrete(t):
        return jax.ShapeDtypeStruct(tuple(2 if d is None else d for d in t.shape), t.dtype)

    def call(*values):  # constants (flags, None, strings) stay Python values, not tracers
        filled = list(leaves)
        for i, value in zip(where, values):
            filled[i] = value
        x, a, k = tree.unflatten(filled)
        return layer(x, *a, **k)

    call.__name__ = f"{layer.name}.call"
    out = _lifting.eval_shape(call, *[concrete(leaves[i]) for i in where])
    batch = leaves[where[0]].shape[0]
    outputs = jax.tree_util.tree_map(
        lambda o: SymbolicTensor((batch, *o.shape[1:]), o.dtype, None, layer.name), out)
    kwargs = dict(kwargs)
    if training is not None:
        kwargs["training"] = _training_flag(layer, training)
    node = Node(layer, inputs, tuple(args), kwargs, outputs)
    for leaf in jax.tree_util.tree_leaves(outputs, is_leaf=is_symbolic):
        leaf.node = node
    return outputs


def _training_flag(layer, training):
    if isinstance(training, (bool, int, np.bool_, np.integer)):
        return bool(training)
    raise TypeError(f"{layer.name}: training= in a functional graph must be True, False or "
                    f"None; received {training!r} ({type(training).__name__})")
