"""A Keras 2 Functional config's graph replayed on fresh layers, node by node, as Keras 2's
reconstruct_from_config does: each layer is called again on the tensors its saved nodes name.

A node names its inputs `[layer_name, node_index, tensor_index, kwargs]` (the structure of
the call's first argument, its other arguments in kwargs) or, in later writers, as
`{"args": [...], "kwargs": {...}}` with `{"class_name": "__keras_tensor__", "config":
{"keras_history": [layer_name, node_index, tensor_index]}}` for each tensor. A node index
counts the layer's calls in this model; a nested model built on its own Input numbers its
first call here 1 (Keras 2 keeps its own node 0 out of the outer config).
"""

from __future__ import annotations

import jax
import numpy as np


class _NotReady(Exception):
    """A node reads an output of a call not replayed yet: retried after the others."""


def replay(config, deserialize):
    """(inputs, outputs): symbolic tensors of the model, its layers called again in the
    order of their saved nodes. `deserialize` rebuilds one layer's {"class_name", ...}."""
    from xlaflow.layers.core import InputLayer
    from xlaflow.layers.symbolic import input_of
    layers, first_index, pending = {}, {}, []
    for entry in config.get("layers", ()):
        name = entry.get("name", entry.get("config", {}).get("name"))
        if not isinstance(name, str) or name in layers:
            raise ValueError(f"a Keras 2 functional config must name each layer once "
                             f"(\"name\"); received {name!r} for a {entry.get('class_name')}")
        layers[name] = deserialize(entry)
        first_index[name] = int(_starts_at_own_input(entry))
        nodes = entry.get("inbound_nodes", [])
        if not isinstance(layers[name], InputLayer) and nodes:
            pending.append([name, list(nodes)])
    graph = _Replay(layers, first_index)
    for name, layer in layers.items():
        if isinstance(layer, InputLayer):
            graph.outputs[(name, 0)] = [input_of(layer)]
    while pending:  # Keras 2's loop: each layer's calls in order, a blocked one retried
        progressed = False
        for item in pending:
            name, nodes = item
            while nodes:
                try:
                    graph.call(name, nodes[0])
                except _NotReady:
                    break
                nodes.pop(0)
                progressed = True
        pending = [item for item in pending if item[1]]
        if pending and not progressed:
            name, nodes = pending[0]
            try:  # again, for what the first blocked call reads
                graph.call(name, nodes[0])
            except _NotReady:
                pass
            raise ValueError(f"a Keras 2 functional config cannot be replayed: layer "
                             f"{name!r} is called on {graph.missing} (node {nodes[0]!r}), "
                             "an output that no call in the config makes")
    inputs = graph.endpoints(config.get("input_layers"), "input_layers")
    outputs = graph.endpoints(config.get("output_layers"), "output_layers")
    return inputs, outputs


def _starts_at_own_input(entry):
    """Keras 2's _should_skip_first_node: a model whose config starts with an InputLayer
    (Functional, or a Sequential given its input shape) has a call of its own, node 0. A
    Sequential of Keras < 2.4 lists no InputLayer: its first layer's batch_input_shape
    makes one when it is added."""
    inner = entry.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if not layers or not isinstance(layers[0], dict):
        return False
    first = layers[0].get("config")
    return layers[0].get("class_name") == "InputLayer" or (
        entry.get("class_name") == "Sequential" and isinstance(first, dict) and
        first.get("batch_input_shape") is not None)


def _is_reference(value):
    """`[layer_name, node_index, tensor_index]` (+ kwargs): Keras 2's serialized tensor."""
    return isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str) \
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:3]) and \
        (len(value) == 3 or isinstance(value[3], dict))


def _is_constant(value):
    """`["_CONSTANT_VALUE", -1, value]` (+ kwargs): a constant where Keras 2 expected a
    tensor (`2.0 - x`: TF's op gets the constant first)."""
    return isinstance(value, list) and len(value) in (3, 4) and \
        value[0] == "_CONSTANT_VALUE" and (len(value) == 3 or isinstance(value[3], dict))


def _flat(value):
    """The leaves of nested lists and dicts (dicts in key order, as tf.nest)."""
    if isinstance(value, list):
        return [leaf for v in value for leaf in _flat(v)]
    if isinstance(value, dict):
        return [leaf for k in sorted(value) for leaf in _flat(value[k])]
    return [value]


class _Replay:
    """The symbolic outputs of the calls replayed so far, by (layer name, node index)."""

    def __init__(self, layers, first_index):
        self.layers, self.outputs, self.missing = layers, {}, None
        self.calls = dict(first_index)  # the node index this model gives a layer's next call

    def tensor(self, name, node_index, tensor_index):
        from xlaflow.layers.core import InputLayer
        if name not in self.layers:
            raise ValueError(f"a Keras 2 functional config refers to layer {name!r}, which "
                             f"is not among its layers {sorted(self.layers)}")
        if isinstance(self.layers[name], InputLayer):
            node_index = 0  # as Keras 2: an InputLayer has the one node
        found = self.outputs.get((name, node_index))
        if found is None:
            self.missing = [name, node_index, tensor_index]
            raise _NotReady
        if not 0 <= tensor_index < len(found):
            raise ValueError(f"a Keras 2 functional config reads output {tensor_index} of "
                             f"layer {name!r}'s call {node_index}, which has {len(found)}")
        return found[tensor_index]

    def call(self, name, node):
        """Call layer `name` as its saved `node` says; record its outputs."""
        if isinstance(node, dict) and "args" in node:
            args = self._revive(node["args"])
            kwargs = self._revive(node.get("kwargs", {}))
            out = self.layers[name](*args, **kwargs)
        else:
            inputs, kwargs = self._legacy_inputs(name, node)
            out = self.layers[name](inputs, **kwargs)
        from xlaflow.layers.symbolic import is_symbolic
        self.outputs[(name, self.calls[name])] = jax.tree_util.tree_leaves(
            out, is_leaf=is_symbolic)
        self.calls[name] += 1

    def _legacy_inputs(self, name, node):
        """The first argument (the structure of `node`, a tensor where it names one) and
        the keyword arguments, which Keras 2 repeats with every tensor of it."""
        kwargs = {}

        def tensor(entry):
            nonlocal kwargs
            if len(entry) == 4:
                kwargs = entry[3]
            if entry[0] == "_CONSTANT_VALUE":  # a constant given where tensors go
                return entry[2]
            return self.tensor(*entry[:3])

        inputs = _map_references(
            node, lambda v: _is_reference(v) or _is_constant(v), tensor,
            lambda v: f"layer {name!r}: a Keras 2 inbound node holds {v!r} where "
                      "[layer_name, node_index, tensor_index, kwargs] was expected")
        kwargs = self._revive_references(kwargs)
        if isinstance(inputs, list) and len(_flat(inputs)) == 1 and not getattr(
                self.layers[name], "preserve_input_structure", False):
            inputs = _flat(inputs)[0]  # Keras 2's unnest_if_single_tensor
        return inputs, kwargs

    def _revive_references(self, value):
        """Tensors in a node's kwargs (mask=, initial_state=) are `[name, node, tensor]`."""
        if _is_reference(value):
            return self.tensor(*value[:3])
        if isinstance(value, list):
            return [self._revive_references(v) for v in value]
        if isinstance(value, dict):
            return {k: self._revive_references(v) for k, v in value.items()}
        return value

    def _revive(self, value):
        """The later form's arguments: its `__keras_tensor__`s, tuples and arrays."""
        if isinstance(value, list):
            return [self._revive(v) for v in value]
        if not isinstance(value, dict):
            return value
        kind, config = value.get("class_name"), value.get("config")
        if kind == "__keras_tensor__":
            return self.tensor(*config["keras_history"][:3])
        if kind == "__tuple__":
            return tuple(self._revive(v) for v in config["value"])
        if kind in ("__tensor__", "__numpy__"):
            return np.asarray(config["value"], dtype=config.get("dtype"))
        return {k: self._revive(v) for k, v in value.items()}

    def endpoints(self, spec, key):
        """The model's inputs or outputs from "input_layers"/"output_layers": a tensor
        where there is one (Keras 2 unnests a single one), else their list or dict."""
        if spec is None:
            raise ValueError(f"a Keras 2 functional config needs {key!r}")

        def made(value):
            try:
                return self.tensor(*value[:3])
            except _NotReady:
                raise ValueError(f"a Keras 2 functional config's {key} names "
                                 f"{value[:3]}, a call no layer makes") from None

        tensors = _map_references(
            spec, _is_reference, made,
            lambda v: f"a Keras 2 functional config's {key} holds {v!r} where "
                      "[layer_name, node_index, tensor_index] was expected")
        if isinstance(tensors, list) and len(tensors) == 1:
            return tensors[0]
        return tensors


def _map_references(value, is_leaf, leaf, bad):
    """`value`'s lists and dicts rebuilt with `leaf(x)` for each x where `is_leaf(x)`;
    anything else raises ValueError(bad(x))."""
    if is_leaf(value):
        return leaf(value)
    if isinstance(value, list):
        return [_map_references(v, is_leaf, leaf, bad) for v in value]
    if isinstance(value, dict):
        return {k: _map_references(v, is_leaf, leaf, bad) for k, v in value.items()}
    raise ValueError(bad(value))
