"""The functional API's Model graph: the recorded layer calls between Inputs and outputs,
run in dependency order on real values."""

from __future__ import annotations

import warnings

import jax

from xlaflow.layers import keras_mask
from xlaflow.layers.symbolic import input_layer_of, is_symbolic
from xlaflow.models import shapes
from xlaflow.models.ragged_fed import carry_mask


class Graph:
    """The nodes between `inputs` and `outputs`, in an order that respects dependencies."""

    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = inputs, outputs
        input_leaves = jax.tree_util.tree_leaves(inputs, is_leaf=is_symbolic)
        if not input_leaves or not all(is_symbolic(t) and t.node is None for t in input_leaves):
            raise ValueError("Model(inputs=...) must be tensors made by xf.keras.Input")
        self._known = {id(t) for t in input_leaves}
        self.nodes = []
        self._seen = set()
        self.sides = []  # (kind, tensor, name): model.add_loss/add_metric of graph tensors
        for tensor in jax.tree_util.tree_leaves(outputs, is_leaf=is_symbolic):
            if not is_symbolic(tensor):
                raise ValueError("Model(outputs=...) must be tensors computed from the inputs")
            self._visit(tensor)
        self.input_layers = [input_layer_of(t) for t in input_leaves]
        self.layers = keras_layer_order(input_leaves, self.nodes, outputs)

    def _visit(self, tensor):
        """Add the nodes `tensor` needs after those already there (parents first); the
        nodes added. A tensor from outside the graph raises before anything is added."""
        new = []
        self._collect(tensor, new, set())
        self._seen.update(id(node) for node in new)
        self.nodes.extend(new)
        return new

    def _collect(self, tensor, new, new_ids):
        if id(tensor) in self._known:
            return
        if tensor.node is None:
            raise ValueError(f"{tensor!r} is an Input that is not among the model's "
                             "inputs; add it to Model(inputs=...)")
        node = tensor.node
        if id(node) in self._seen or id(node) in new_ids:
            return
        for parent in _symbols(node):  # keyword tensors (initial_state=) are parents too
            self._collect(parent, new, new_ids)
        new_ids.add(id(node))
        new.append(node)

    def add_side(self, kind, tensor, name=None):
        """Also compute `tensor` (a loss or metric of the model, Keras 2's model.add_loss
        of a graph tensor) on every run: `run_with_sides` returns its value. The layers it
        needs join `layers` (their weights train), after the others, as Keras 2 inserts
        them."""
        known = {id(layer) for layer in self.layers}
        for node in self._visit(tensor):
            if id(node.layer) not in known:
                known.add(id(node.layer))
                self.layers.append(node.layer)  # in place: the model owns this list
        self.sides.append((kind, tensor, name))

    def arrange(self, inputs):
        """`inputs` in the structure of the symbolic inputs: as in Keras, a dict keyed by the
        Inputs' names also feeds a model built with a list (or one) of Inputs."""
        if isinstance(inputs, dict) and isinstance(self.inputs, dict):
            return self._known_keys(inputs)
        if not isinstance(inputs, dict):
            return inputs
        symbols, tree = jax.tree_util.tree_flatten(self.inputs, is_leaf=is_symbolic)
        names = [s.name for s in symbols]
        missing = [n for n in names if n not in inputs]
        if missing:
            raise ValueError(f"the model's inputs are named {names}; the dict of inputs has no "
                             f"{missing} (received keys {sorted(map(str, inputs))})")
        extra = sorted(str(k) for k in inputs if k not in names)
        if extra:
            warnings.warn(f"the dict of inputs has keys {extra} that name none of the model's "
                          f"inputs {names}; they are ignored", UserWarning, stacklevel=4)
        return tree.unflatten([inputs[n] for n in names])

    def _known_keys(self, inputs):
        """A dict fed to a model of dict Inputs, without (and warning of) keys that name none
        of them, as Keras 2 ignores a DataFrame's unused columns."""
        if not all(is_symbolic(v) for v in self.inputs.values()):
            return inputs  # nested structures are matched as they are
        extra = sorted(str(k) for k in inputs if k not in self.inputs)
        if not extra:
            return inputs
        warnings.warn(f"the dict of inputs has keys {extra} that name none of the model's "
                      f"inputs {sorted(map(str, self.inputs))}; they are ignored",
                      UserWarning, stacklevel=4)
        return {k: v for k, v in inputs.items() if k in self.inputs}

    def run_with_sides(self, inputs, training, host=None):
        """(outputs, [(kind, value, name) for each side tensor]) on real `inputs`; with a
        HostPrefix `host`, `inputs` are its output (a dict) and its nodes do not run."""
        if host is not None:
            env = {id(t): inputs[name] for name, t in host.fed.items()}
            nodes = [node for node in self.nodes if id(node) not in host.node_ids]
        else:
            env, nodes = self._input_env(inputs), self.nodes

        def value(s):
            return env[id(s)] if is_symbolic(s) else s

        for node in nodes:
            inputs, args, kwargs = jax.tree_util.tree_map(
                value, (node.inputs, node.args, node.kwargs), is_leaf=is_symbolic)
            # An explicit training= in the graph (`bn(x, training=False)`) wins, as Keras 2
            kwargs.setdefault("training", training)
            out = node.layer(inputs, *args, **kwargs)
            for s, v in zip(jax.tree_util.tree_leaves(node.outputs, is_leaf=is_symbolic),
                            jax.tree_util.tree_leaves(out)):
                env[id(s)] = v
                if s.ragged_source is not None and id(s.ragged_source) in env:
                    carry_mask(s, v, env[id(s.ragged_source)])
        outputs = jax.tree_util.tree_map(lambda s: env[id(s)], self.outputs,
                                         is_leaf=is_symbolic)
        return outputs, [(kind, env[id(t)], name) for kind, t, name in self.sides]

    def _input_env(self, inputs):
        """{id(Input): value} for real `inputs` (same structure as the symbolic inputs)."""
        inputs = self.arrange(inputs)
        symbols, tree = jax.tree_util.tree_flatten(self.inputs, is_leaf=is_symbolic)
        data = not any(is_symbolic(leaf) for leaf in jax.tree_util.tree_leaves(
            inputs, is_leaf=is_symbolic))  # data, not a graph being built
        if data:  # fits Keras 2's _conform_to_reference_input: shapes, then dtypes
            inputs = shapes.conform(inputs, [tuple(s.shape) for s in symbols])
        values = tree.flatten_up_to(inputs) if not isinstance(inputs, jax.Array) or \
            len(symbols) != 1 else [inputs]
        if data:  # a cast input keeps its mask (a ragged Input's rows: ragged_fed.py)
            values = [keras_mask.keep_mask(v, _as_input_dtype(v, s.dtype))
                      for v, s in zip(values, symbols)]
        return {id(s): v for s, v in zip(symbols, values)}

    def output_names(self):
        if isinstance(self.outputs, dict):
            return list(self.outputs)
        leaves = jax.tree_util.tree_leaves(self.outputs, is_leaf=is_symbolic)
        return [t.node.layer.name for t in leaves]


def _as_input_dtype(value, want):
    """`value` cast to its Input's numeric dtype, as Keras 2 casts every input (floats fed
    to an Input(dtype="int32") truncate toward zero, tf.cast's rule); text stays as it is."""
    have = getattr(value, "dtype", None)
    # (xf.string is no NumPy dtype, but has NumPy's kind of text, as every dtype here)
    if have is None or have.kind not in "biufc" or want.kind not in "biufc":
        return value
    # compared as JAX holds them: int64 data for an int32 Input without x64 is no cast
    want = jax.dtypes.canonicalize_dtype(want)
    if jax.dtypes.canonicalize_dtype(have) == want:
        return value
    return value.astype(want) if hasattr(value, "astype") else jax.numpy.asarray(value, want)


def keras_layer_order(inputs, nodes, outputs):
    """The layers as Keras 2's `model.layers` lists them (functional._map_graph_network):
    by depth, farthest from the outputs first (so InputLayers lead), and at equal depth in
    the order a depth-first walk back from the outputs first meets them. A layer's depth is
    the largest of its calls'; an Input that no output needs comes at depth 0, first."""
    def parents(node):  # a node's parent nodes; an Input's node is its tensor
        return [t if t.node is None else t.node for t in _symbols(node)] \
            if not is_symbolic(node) else []

    def layer(node):
        return input_layer_of(node) if is_symbolic(node) else node.layer

    first_seen, post_order, done = {}, [], set()

    def walk(node):  # the graph is acyclic (built forwards), so no cycle check is needed
        if id(node) in done:
            return
        first_seen.setdefault(id(layer(node)), len(first_seen))
        for parent in parents(node):
            walk(parent)
        done.add(id(node))
        post_order.append(node)

    for tensor in jax.tree_util.tree_leaves(outputs, is_leaf=is_symbolic):
        walk(tensor if tensor.node is None else tensor.node)
    node_depth, layer_depth, layers = {}, {}, {}
    for node in reversed(post_order):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(layer(node)), 0))
        layer_depth[id(layer(node))] = node_depth[id(node)] = depth
        layers[id(layer(node))] = layer(node)
        for parent in parents(node):
            node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for tensor in inputs:  # Inputs the outputs do not need (a loss may use them)
        if id(input_layer_of(tensor)) not in layer_depth:
            layer_depth[id(input_layer_of(tensor))] = 0
            first_seen[id(input_layer_of(tensor))] = -1
            layers[id(input_layer_of(tensor))] = input_layer_of(tensor)
    return sorted(layers.values(), key=lambda lay: (-layer_depth[id(lay)],
                                                    first_seen[id(lay)]))


def _symbols(node):
    """The symbolic tensors a node reads: its inputs, then those among its arguments."""
    leaves = jax.tree_util.tree_leaves((node.inputs, node.args, node.kwargs),
                                       is_leaf=is_symbolic)
    return [leaf for leaf in leaves if is_symbolic(leaf)]


# -- configuration: the graph as JSON ----------------------------------------------------
def _encode(tree, ref):
    """JSON for a tree of symbolic tensors and constants; `ref(tensor)` names a tensor."""
    if is_symbolic(tree):
        return {"ref": ref(tree)}
    if isinstance(tree, tuple):
        return {"tuple": [_encode(t, ref) for t in tree]}
    if isinstance(tree, list):
        return {"list": [_encode(t, ref) for t in tree]}
    if isinstance(tree, dict):
        if not all(isinstance(k, str) for k in tree):
            raise ValueError(f"a functional model's dict keys must be strings to be saved; "
                             f"received {sorted(map(repr, tree))}")
        return {"dict": {k: _encode(v, ref) for k, v in tree.items()}}
    if tree is None or isinstance(tree, (str, int, float, bool)):
        return {"value": tree}
    raise ValueError(f"a functional model passes {tree!r} ({type(tree).__name__}) to a layer; "
                     "only tensors, Python numbers and strings can be saved")


def _decode(data, lookup):
    (kind, value), = data.items()
    if kind == "ref":
        return lookup(value)
    if kind in ("tuple", "list"):
        items = [_decode(v, lookup) for v in value]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {k: _decode(v, lookup) for k, v in value.items()}
    return value


def graph_config(graph):
    """The layers (InputLayers among them, in `model.layers` order, as Keras 2's config
    lists them), the model's inputs, its calls and its outputs as JSON-ready data."""
    from xlaflow.saving.serialization import serialize_keras_object
    layer_index = {id(layer): i for i, layer in enumerate(graph.layers)}
    inputs = jax.tree_util.tree_leaves(graph.inputs, is_leaf=is_symbolic)
    names = {id(t): ["input", i] for i, t in enumerate(inputs)}
    nodes = []
    for n, node in enumerate(graph.nodes):
        ref = lambda t: names[id(t)]
        nodes.append({"layer": layer_index[id(node.layer)], "inputs": _encode(node.inputs, ref),
                      "args": _encode(list(node.args), ref),
                      "kwargs": _encode(dict(node.kwargs), ref)})
        for k, out in enumerate(jax.tree_util.tree_leaves(node.outputs, is_leaf=is_symbolic)):
            names[id(out)] = ["node", n, k]
    config = {"layers": [serialize_keras_object(layer) for layer in graph.layers],
              "input_layers": [layer_index[id(input_layer_of(t))] for t in inputs],
              "input_structure": _encode(graph.inputs, lambda t: names[id(t)]),
              "nodes": nodes,
              "outputs": _encode(graph.outputs, lambda t: names[id(t)])}
    if graph.sides:  # model.add_loss/add_metric of graph tensors, kept as Keras 2 keeps them
        config["sides"] = [{"kind": kind, "name": name,
                            "tensor": _encode(tensor, lambda t: names[id(t)])}
                           for kind, tensor, name in graph.sides]
    return config


def graph_from_config(config):
    """(inputs, outputs): the symbolic graph rebuilt by calling fresh layers again. Configs
    written before InputLayers joined "layers" give the Inputs as "inputs" specs."""
    from xlaflow.layers.core import InputLayer
    from xlaflow.layers.symbolic import Input, input_of
    from xlaflow.saving.serialization import deserialize_keras_object
    layers = [deserialize_keras_object(c) for c in config["layers"]]
    if "input_layers" in config:
        inputs = []
        for i in config["input_layers"]:
            if not isinstance(layers[i], InputLayer):
                raise TypeError(f"a functional model's config names layer {i} "
                                 f"({type(layers[i]).__name__}) as an input; expected an "
                                 "InputLayer")
            inputs.append(input_of(layers[i]))
    else:
        inputs = [Input(tuple(spec["shape"][1:]), batch_size=spec["shape"][0],
                        dtype=spec["dtype"], name=spec["name"]) for spec in config["inputs"]]
    outputs = []

    def lookup(ref):
        return inputs[ref[1]] if ref[0] == "input" else outputs[ref[1]][ref[2]]

    for node in config["nodes"]:
        out = layers[node["layer"]](_decode(node["inputs"], lookup),
                                    *_decode(node["args"], lookup),
                                    **_decode(node["kwargs"], lookup))
        outputs.append(jax.tree_util.tree_leaves(out, is_leaf=is_symbolic))
    sides = [(side["kind"], _decode(side["tensor"], lookup), side["name"])
             for side in config.get("sides", ())]
    return (_decode(config["input_structure"], lookup), _decode(config["outputs"], lookup),
            sides)
