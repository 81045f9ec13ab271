"""The functional API's Model graph: the recorded layer calls between Inputs and outputs,
run in dependency order on real values."""

from __future__ import annotations

import jax

from xlaflow.layers.symbolic import is_symbolic


class Graph:
    """The nodes between `inputs` and `outputs`, in an order that respects dependencies."""

    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = inputs, outputs
        input_leaves = jax.tree_util.tree_leaves(inputs, is_leaf=is_symbolic)
        if not input_leaves or not all(is_symbolic(t) and t.node is None for t in input_leaves):
            raise ValueError("Model(inputs=...) must be tensors made by xf.keras.Input")
        known = {id(t) for t in input_leaves}
        self.nodes = []
        seen = set()

        def visit(tensor):
            if id(tensor) in known:
                return
            if tensor.node is None:
                raise ValueError(f"{tensor!r} is an Input that is not among the model's "
                                 "inputs; add it to Model(inputs=...)")
            node = tensor.node
            if id(node) in seen:
                return
            for parent in jax.tree_util.tree_leaves(node.inputs, is_leaf=is_symbolic):
                if is_symbolic(parent):
                    visit(parent)
            seen.add(id(node))
            self.nodes.append(node)

        for tensor in jax.tree_util.tree_leaves(outputs, is_leaf=is_symbolic):
            if not is_symbolic(tensor):
                raise ValueError("Model(outputs=...) must be tensors computed from the inputs")
            visit(tensor)
        self.layers = list({id(n.layer): n.layer for n in self.nodes}.values())

    def run(self, inputs, training):
        """Evaluate the graph on real `inputs` (same structure as the symbolic inputs)."""
        symbols, tree = jax.tree_util.tree_flatten(self.inputs, is_leaf=is_symbolic)
        values = tree.flatten_up_to(inputs) if not isinstance(inputs, jax.Array) or \
            len(symbols) != 1 else [inputs]
        env = {id(s): v for s, v in zip(symbols, values)}
        for node in self.nodes:
            args = jax.tree_util.tree_map(lambda s: env[id(s)] if is_symbolic(s) else s,
                                          node.inputs, is_leaf=is_symbolic)
            out = node.layer(args, *node.args, training=training, **node.kwargs)
            for s, v in zip(jax.tree_util.tree_leaves(node.outputs, is_leaf=is_symbolic),
                            jax.tree_util.tree_leaves(out)):
                env[id(s)] = v
        return jax.tree_util.tree_map(lambda s: env[id(s)], self.outputs, is_leaf=is_symbolic)

    def output_names(self):
        if isinstance(self.outputs, dict):
            return list(self.outputs)
        leaves = jax.tree_util.tree_leaves(self.outputs, is_leaf=is_symbolic)
        return [t.node.layer.name for t in leaves]
