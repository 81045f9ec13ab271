"""The text of Model.summary(): one row per layer, then parameter totals."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow import _lifting
from xlaflow.layers.base import Layer
from xlaflow.layers.symbolic import is_symbolic


def _layer_rows(model):
    """(name, type, output shape, params) for each layer, tracing shapes when known."""
    layers = getattr(model, "layers", None)
    if layers is None:
        layers = [m for m in model.submodules if isinstance(m, Layer)]
    shape = model._build_input_shape
    rows = []
    graph = getattr(model, "_graph", None)
    if graph is not None:  # Keras 2: a row per layer of model.layers, InputLayers first
        texts = {}
        for node in graph.nodes:
            outs = jax.tree_util.tree_leaves(node.outputs, is_leaf=is_symbolic)
            texts.setdefault(id(node.layer), set()).add(", ".join(str(t.shape) for t in outs))
        for tensor in jax.tree_util.tree_leaves(graph.inputs, is_leaf=is_symbolic):
            texts[id(tensor.input_layer)] = {f"[{tensor.shape}]"}  # Keras 2 prints a list
        for layer in graph.layers:  # a shared layer with calls of several shapes: multiple
            shapes = texts[id(layer)]
            rows.append((layer, shapes.pop() if len(shapes) == 1 else "multiple"))
    elif shape is not None and hasattr(model, "_layers"):
        dtype = model._build_input_dtype if isinstance(model._build_input_dtype, str) \
            else jnp.float32
        # A size the input leaves open (None: any sequence length) is traced as 2 and as 3:
        # an output size that differs between the two is open too.
        specs = [jax.ShapeDtypeStruct((1, *(n if d is None else d for d in shape[1:])),
                                      dtype) for n in (2, 3)]
        # leading host-side layers (Sequential runs them first): the model's recorded input
        # is their output, so the last one's row shows it and tracing starts after them
        host = model._host_layers() if hasattr(model, "_host_layers") else []
        for layer in host:
            if layer in layers:  # not a string Input's InputLayer (Keras lists none)
                rows.append((layer, str((None, *shape[1:])) if layer is host[-1] else "?"))
        for layer in model._layers[len(host):]:
            specs = [_lifting.eval_shape(lambda x, layer=layer: layer(x, training=False), s)
                     for s in specs]
            if layer in layers:
                rows.append((layer, _open_shapes(*specs)))
    else:
        rows = [(layer, "?" if not layer.built else "multiple") for layer in layers]
    return [(layer.name, type(layer).__name__, out, layer.count_params()) for layer, out in rows]


def _open_shapes(first, second):
    """The row text of one output (or several) traced at two open sizes: None where the
    two disagree, and for the batch."""
    shapes = [(None, *(x if x == y else None for x, y in zip(a.shape[1:], b.shape[1:])))
              for a, b in zip(jax.tree_util.tree_leaves(first),
                              jax.tree_util.tree_leaves(second))]
    return str(shapes[0]) if len(shapes) == 1 else ", ".join(map(str, shapes))


def _bytes(count):
    size = count * 4
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}" if unit != "B" else f"{size} B"
        size /= 1024
    return f"{size:.2f} GB"


def summary_lines(model):
    rows = _layer_rows(model)
    # wide enough for the longest "name (type)": op layers' are ("tf.math.reduce_mean
    # (TFOpLambda)"), and a row must not run into its output shape
    width = (max([30, *(len(name) + len(kind) + 4 for name, kind, _, _ in rows)]), 26, 12)
    line = "─" * sum(width)
    out = [f'Model: "{model.name}"', line,
           f"{'Layer (type)':<{width[0]}}{'Output Shape':<{width[1]}}{'Param #':>{width[2]}}",
           line]
    for name, kind, shape, params in rows:
        out.append(f"{f'{name} ({kind})':<{width[0]}}{shape:<{width[1]}}{params:>{width[2]},}")
    out.append(line)
    trainable = sum(int(w.size) for w in model.trainable_weights)
    total = sum(int(w.size) for w in model.weights)
    out += [f" Total params: {total:,} ({_bytes(total)})",
            f" Trainable params: {trainable:,} ({_bytes(trainable)})",
            f" Non-trainable params: {total - trainable:,} ({_bytes(total - trainable)})",
            line]
    return out
