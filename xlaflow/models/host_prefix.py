"""A functional model's host prefix: the host layers (StringLookup, TextVectorization) its
string Inputs feed, run eagerly on NumPy before the compiled part, which XLA traces.

XLA holds no strings, so a model whose Inputs are strings is two parts: the host nodes
turn raw columns into ids, and the compiled part takes a dict of their numeric outputs and
the numeric Inputs, keyed by name. fit/predict/save and the serving export see that dict
(models/host_fed.py), as a Sequential's leading host layers give its compiled layers ids.
"""

from __future__ import annotations

import jax
import numpy as np

from xlaflow.layers import host_strings
from xlaflow.layers.symbolic import is_symbolic, is_text
from xlaflow.models import shapes


def split(graph):
    """The HostPrefix of `graph`, or None when it has no host layers (the common case)."""
    nodes = [node for node in graph.nodes if getattr(node.layer, "host_side", False)]
    return HostPrefix(graph, nodes) if nodes else None


class HostPrefix:
    """The host nodes of a graph, and the tensors the compiled part is fed (`fed`: name ->
    symbolic tensor, the numeric Inputs by their names and the host outputs by their
    layers' names)."""

    def __init__(self, graph, nodes):
        self.graph, self.nodes = graph, nodes
        self.node_ids = {id(node) for node in nodes}
        text_out = [t for t in jax.tree_util.tree_leaves(graph.outputs, is_leaf=is_symbolic)
                    if is_text(t)]
        if text_out:
            raise NotImplementedError(
                f"a functional model's outputs must be numbers; {text_out[0]!r} is strings "
                "(a host layer's, such as StringLookup(invert=True)): XLA holds no strings. "
                "Return the ids and apply the inverting lookup to the predictions")
        self.symbols = jax.tree_util.tree_leaves(graph.inputs, is_leaf=is_symbolic)
        self.fed = {}
        for tensor in [*self.symbols, *(node.outputs for node in nodes)]:
            if not is_text(tensor):
                name, n = tensor.name, 1
                while name in self.fed:  # a shared layer's second call, ...
                    name, n = f"{tensor.name}_{n}", n + 1
                self.fed[name] = tensor

    def spec(self):
        """The compiled part's inputs: ({name: shape}, {name: dtype name})."""
        return ({k: tuple(t.shape) for k, t in self.fed.items()},
                {k: t.dtype.name for k, t in self.fed.items()})

    def run(self, model, inputs):
        """The compiled part's input dict for raw `inputs` (arrays, lists, HostTensors or
        jax arrays; a dict keyed by Input names, a list, or one value): each column checked
        against its Input, then the host layers run on the host."""
        values = self._columns(model, inputs)
        env = {}
        for symbol, value in zip(self.symbols, values):
            env[id(symbol)] = column(model, symbol, value)
        for node in self.nodes:
            env[id(node.outputs)] = checked(node, node.layer(env[id(node.inputs)]))
        return {name: env[id(t)] for name, t in self.fed.items()}

    def _columns(self, model, inputs):
        """`inputs` as one value per Input, in the Inputs' flat order."""
        inputs = self.graph.arrange(inputs)  # a dict keyed by the Inputs' names
        symbols, tree = jax.tree_util.tree_flatten(self.graph.inputs, is_leaf=is_symbolic)
        if len(symbols) == 1 and not isinstance(inputs, dict) and (
                not isinstance(inputs, (list, tuple)) or _is_column(inputs)):
            return [inputs]  # one Input: its column, whatever structure the model names
        try:
            return tree.flatten_up_to(inputs)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{model.name} takes inputs structured as its Inputs "
                             f"{[s.name for s in symbols]} ({type(self.graph.inputs).__name__}"
                             f"); received {type(inputs).__name__}: {exc}") from None


def checked(node, value):
    """A host layer's output, checked against the shape the compiled part was built for:
    an encoding's width follows the vocabulary, which adapt() may change after that."""
    have, want = tuple(np.shape(value)), tuple(node.outputs.shape)
    if len(have) == len(want) and all(w is None or w == h
                                      for w, h in zip(want[1:], have[1:])):
        return value
    layer = node.layer
    why = ""
    if hasattr(layer, "vocabulary_size"):
        why = (f": its vocabulary (now {layer.vocabulary_size()} indices) changed after the "
               "model was built; adapt() or set_vocabulary() before calling the layer on "
               "the Input, or build the model again")
    raise ValueError(f"{layer.name} ({type(layer).__name__}) gives shape {have}, but the "
                     f"model was built for {want} (None is the batch){why}")


def _is_column(values):
    """Whether a list holds a column's values (strings, numbers) rather than columns."""
    return all(isinstance(v, (str, bytes, int, float, np.generic)) for v in values)


def column(model, symbol, value):
    """One raw column, checked against its Input: strings for a string Input, numbers
    otherwise, conformed to its rank (a (n,) column feeds shape (1,)) and its sizes."""
    argument = f"input {symbol.name!r}"
    if is_text(symbol):
        value = host_strings.as_strings(value, model.name, argument)
    else:
        if not hasattr(value, "dtype"):
            value = np.asarray(value)
        if np.dtype(value.dtype).kind in "USO":
            raise TypeError(f"{model.name}: {argument} is a {symbol.dtype.name} Input; "
                            f"received strings of dtype {value.dtype} (only string Inputs, "
                            "keras.Input(dtype='string'), take text)")
    value = shapes.conform(value, symbol.shape)
    have, want = tuple(np.shape(value)), symbol.shape
    if len(have) != len(want) or any(w is not None and w != h
                                     for w, h in zip(want[1:], have[1:])):
        raise ValueError(f"{model.name}: {argument} has shape {have}, but the Input's shape "
                         f"is {want} (None is the batch)")
    return value
