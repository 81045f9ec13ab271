"""A layer's place in functional graphs: Keras 2's `input`, `output`, `input_shape`,
`output_shape` and their `get_*_at(node_index)` forms, read from the calls it recorded.

Each call of a layer on symbolic tensors (the functional API, or a Sequential model given
its input shape) appends a Node to the layer's `_inbound_nodes`; these accessors read them
with Keras 2's rules and its AttributeError messages, so `hasattr(layer, "output_shape")`
is False until the layer has been connected, as in Keras 2.
"""

from __future__ import annotations

import jax

from xlaflow.layers.symbolic import is_symbolic


def record(layer, node):
    """Append `node`, a call of `layer` on symbolic tensors, to the layer's inbound nodes."""
    layer.__dict__.setdefault("_inbound_nodes", []).append(node)


def _shapes(tensors):
    """Shape tuples in the structure of `tensors`; a list of one tensor gives its shape, as
    Keras 2's Node.input_shapes/output_shapes unwrap it."""
    shapes = jax.tree_util.tree_map(lambda t: tuple(t.shape), tensors, is_leaf=is_symbolic)
    return shapes[0] if isinstance(shapes, list) and len(shapes) == 1 else shapes


def _tensors(tensors):
    return tensors[0] if isinstance(tensors, list) and len(tensors) == 1 else tensors


_ATTRIBUTES = {"input": lambda node: _tensors(node.inputs),
               "output": lambda node: _tensors(node.outputs),
               "input shape": lambda node: _shapes(node.inputs),
               "output shape": lambda node: _shapes(node.outputs)}


class NodeAccessors:
    """Keras 2's Layer properties over the functional-graph calls the layer took part in."""

    @property
    def inbound_nodes(self):
        """The recorded calls on symbolic tensors, first call first (Keras 2)."""
        return list(self.__dict__.get("_inbound_nodes", ()))

    def _node_attribute(self, node_index, what):
        nodes = self.inbound_nodes
        if not nodes:
            raise RuntimeError(f"The layer has never been called and thus has no defined "
                               f"{what}.")
        if not isinstance(node_index, int) or not -len(nodes) <= node_index < len(nodes):
            raise ValueError(f"Asked to get {what} at node {node_index!r}, but the layer "
                             f"has only {len(nodes)} inbound nodes.")
        return _ATTRIBUTES[what](nodes[node_index])

    def get_input_at(self, node_index):
        """The input tensor(s) of the layer's `node_index`-th call (0: the first)."""
        return self._node_attribute(node_index, "input")

    def get_output_at(self, node_index):
        """The output tensor(s) of the layer's `node_index`-th call (0: the first)."""
        return self._node_attribute(node_index, "output")

    def get_input_shape_at(self, node_index):
        """The input shape(s) of the layer's `node_index`-th call, None for the batch."""
        return self._node_attribute(node_index, "input shape")

    def get_output_shape_at(self, node_index):
        """The output shape(s) of the layer's `node_index`-th call, None for the batch."""
        return self._node_attribute(node_index, "output shape")

    @property
    def input(self):
        """The input tensor(s) of the layer's first call on symbolic tensors (Keras 2)."""
        if not self.inbound_nodes:
            raise AttributeError(f"Layer {self.name} is not connected, no input to return.")
        return self.get_input_at(0)

    @property
    def output(self):
        """The output tensor(s) of the layer's first call on symbolic tensors (Keras 2)."""
        if not self.inbound_nodes:
            raise AttributeError(f"Layer {self.name} has no inbound nodes.")
        return self.get_output_at(0)

    @property
    def input_shape(self):
        """The shape(s) the layer is called with, None for the batch; ill-defined (an
        AttributeError) for a layer shared between inputs of different shapes."""
        return self._one_shape("input shape")

    @property
    def output_shape(self):
        """The shape(s) the layer returns, None for the batch; ill-defined (an
        AttributeError) for a layer shared between calls giving different shapes."""
        return self._one_shape("output shape")

    def _one_shape(self, what):
        nodes = self.inbound_nodes
        if not nodes:
            note = (" Note that the `input_shape` property is only available for Functional "
                    "and Sequential models.") if what == "input shape" else ""
            raise AttributeError(f'The layer "{self.name}" has never been called and thus '
                                 f"has no defined {what}.{note}")
        shapes = [_ATTRIBUTES[what](node) for node in nodes]
        if any(s != shapes[0] for s in shapes[1:]):
            at = what.replace(" ", "_")
            raise AttributeError(
                f'The layer "{self.name}" has multiple inbound nodes, with different {what}s. '
                f'Hence the notion of "{what}" is ill-defined for the layer. Use '
                f"`get_{at}_at(node_index)` instead.")
        return shapes[0]
