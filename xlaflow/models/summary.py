"""The text of Model.summary() as Keras 2.12 prints it: one row per layer, then parameter
totals; a functional model that is not a chain adds Keras' "Connected to" column."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp

from xlaflow import _lifting
from xlaflow.layers.base import Layer
from xlaflow.layers.symbolic import is_symbolic


def _layer_rows(model, input_shape=None):
    """(name, type, output shape, params, layer, its input shape or None) for each layer,
    tracing shapes when known; `input_shape` stands in for a model that was only called
    inside another one (a nested Sequential records none)."""
    layers = getattr(model, "layers", None)
    if layers is None:
        layers = [m for m in model.submodules if isinstance(m, Layer)]
    shape = model._build_input_shape or input_shape
    rows, inputs = [], {}
    graph = getattr(model, "_graph", None)
    if graph is not None:  # Keras 2: a row per layer of model.layers, InputLayers first
        texts = {}
        for node in graph.nodes:
            outs = jax.tree_util.tree_leaves(node.outputs, is_leaf=is_symbolic)
            texts.setdefault(id(node.layer), set()).add(", ".join(str(t.shape) for t in outs))
        for tensor in jax.tree_util.tree_leaves(graph.inputs, is_leaf=is_symbolic):
            texts[id(tensor.input_layer)] = {f"[{tensor.shape}]"}  # Keras 2 prints a list
        for node in reversed(graph.nodes):  # the first call's input, for nested rows
            first = jax.tree_util.tree_leaves(node.inputs, is_leaf=is_symbolic)
            if first:
                inputs[id(node.layer)] = tuple(first[0].shape)
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
            inputs[id(layer)] = _open_shape(*specs)
            specs = [_lifting.eval_shape(lambda x, layer=layer: layer(x, training=False), s)
                     for s in specs]
            if layer in layers:
                rows.append((layer, _open_shapes(*specs)))
    else:
        rows = [(layer, "?" if not layer.built else "multiple") for layer in layers]
    return [(layer.name, keras_class_name(layer), out, layer.count_params(), layer,
             inputs.get(id(layer))) for layer, out in rows]


def keras_class_name(layer):
    """The class name Keras 2 shows for `layer` (summary, plot_model): a functional Model is
    Keras 2's Functional; a layer whose Keras 2 class differs says so (`_keras2_class_name`,
    as operators: TFOpLambda, SlicingOpLambda); any other, its own class name."""
    from xlaflow.models.model import Model
    if type(layer) is Model and getattr(layer, "_graph", None) is not None:
        return "Functional"  # Keras 2's Model(inputs, outputs) is an instance of Functional
    shown = getattr(layer, "_keras2_class_name", None)
    return shown if isinstance(shown, str) else type(layer).__name__


def _open_shape(first, second):
    """One input traced at two open sizes as a shape: None where they disagree, or None
    when it is not one array."""
    if not (hasattr(first, "shape") and hasattr(second, "shape")):
        return None
    return (None, *(x if x == y else None for x, y in zip(first.shape[1:], second.shape[1:])))


def _open_shapes(first, second):
    """The row text of one output (or several) traced at two open sizes: None where the
    two disagree, and for the batch."""
    shapes = [(None, *(x if x == y else None for x, y in zip(a.shape[1:], b.shape[1:])))
              for a, b in zip(jax.tree_util.tree_leaves(first),
                              jax.tree_util.tree_leaves(second))]
    return str(shapes[0]) if len(shapes) == 1 else ", ".join(map(str, shapes))


def _sequential_like(model):
    """Keras 2's test: a Sequential, a subclassed model, or a functional chain (one input
    per call, each layer called once, each tensor feeding at most one call)."""
    graph = getattr(model, "_graph", None)
    if graph is None:
        return True
    fed, layers = set(), set()
    for node in graph.nodes:
        inputs = jax.tree_util.tree_leaves(node.inputs, is_leaf=is_symbolic)
        if len(inputs) > 1 or id(node.layer) in layers or any(id(t) in fed for t in inputs):
            return False
        layers.add(id(node.layer))
        fed.update(id(t) for t in inputs)
    return True


def _connections(model, layer):
    """Keras 2's "Connected to" entries of `layer` in `model`: 'producer[node][tensor]'."""
    out = []
    for node in model._graph.nodes:
        if node.layer is not layer:
            continue
        for tensor in jax.tree_util.tree_leaves(node.inputs, is_leaf=is_symbolic):
            if tensor.node is None:  # an Input: its InputLayer's only node
                out.append(f"{tensor.input_layer.name}[0][0]")
                continue
            producer = tensor.node.layer
            calls = producer.__dict__.get("_inbound_nodes", [])
            index = next((i for i, n in enumerate(calls) if n is tensor.node), 0)
            outputs = jax.tree_util.tree_leaves(tensor.node.outputs, is_leaf=is_symbolic)
            position = next((i for i, t in enumerate(outputs) if t is tensor), 0)
            out.append(f"{producer.name}[{index}][{position}]")
    return out


def _row(fields, positions, nested=0):
    """Keras 2.12's print_row: each field cut to its column, continued on the next lines,
    breaking after '),', '},', '],' or "'," where one falls within the column; a row of a
    layer nested `nested` models deep is framed by that many '|' on each side."""
    left, lines = [str(f) for f in fields], []
    while any(left):
        line = ""
        for col in range(len(left)):
            start = positions[col - 1] if col else 0
            last = col == len(positions) - 1
            space = 0 if last else 2
            cutoff = positions[col] - start - space - (nested if col == 0 else 0)
            fit = left[col][:cutoff]
            breaks = [fit.find(b) + len(b) for b in ("),", "},", "],", "',") if b in fit]
            if breaks:
                cutoff = min(breaks)
                fit = fit[:cutoff]
            line += ("|" * nested + " " if col == 0 else "") + fit + " " * space
            left[col] = left[col][cutoff:]
            line += " " * (positions[col] - len(line) - (nested if last else 0))
        lines.append(line + "|" * nested)
    return lines


def _layer_range(model, layer_range):
    """[first, last + 1) of model.layers for Keras' `layer_range` (two names or regexes:
    the first layer matching the one, the last matching the other)."""
    layers = model.layers
    if layer_range is None:
        return 0, len(layers)
    if len(layer_range) != 2:
        raise ValueError(f"layer_range must be a list or tuple of length 2. Received: "
                         f"layer_range = {layer_range} of length {len(layer_range)}")
    if not all(isinstance(name, str) for name in layer_range):
        raise ValueError(f"layer_range should contain string type only. Received: "
                         f"{layer_range}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError(f"Passed layer_names do not match the layer names in the model. "
                         f"Received: {layer_range}")
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1


def summary_lines(model, line_length=None, positions=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    first, stop = _layer_range(model, layer_range)  # (raises before anything is printed)
    chain = _sequential_like(model)
    line_length = line_length or (65 if chain else 98)
    positions = list(positions or ([0.45, 0.85, 1.0] if chain else [0.33, 0.55, 0.67, 1.0]))
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    header = ["Layer (type)", "Output Shape", "Param #"] + ([] if chain else ["Connected to"])
    if show_trainable:
        line_length += 11
        positions.append(line_length)
        header.append("Trainable")
    out = [f'Model: "{model.name}"', "_" * line_length, *_row(header, positions),
           "=" * line_length]

    def rows_of(owner, nested, chosen=None, input_shape=None):
        rows = _layer_rows(owner, input_shape)
        if chosen is not None:
            wanted = {id(layer) for layer in chosen}
            rows = [row for row in rows if id(row[4]) in wanted]
        for i, (name, kind, shape, params, layer, given) in enumerate(rows):
            fields = [f"{name} ({kind})", shape, params]
            if not chain:  # as Keras 2, a nested layer's calls are not the outer graph's
                fields.append(_connections(model, layer) if nested == 0 else [])
            if show_trainable:
                fields.append("Y" if layer.trainable else "N")
            out.extend(_row(fields, positions, nested))
            inner = getattr(layer, "layers", None)
            if expand_nested and inner and getattr(layer, "built", False):
                out.append("|" * (nested + 1) + "\u00af" * (line_length - 2 * nested - 2)
                           + "|" * (nested + 1))
                rows_of(layer, nested + 1, input_shape=given)
                out.append("|" * nested + "\u00af" * (line_length - 2 * nested)
                           + "|" * nested)
            if nested == 0 or i < len(rows) - 1:  # Keras 2 skips it after a nested last
                out.append("|" * nested + " " * (line_length - 2 * nested) + "|" * nested)

    rows_of(model, 0, model.layers[first:stop])
    trainable = sum(int(w.size) for w in model.trainable_weights)
    total = sum(int(w.size) for w in model.weights)
    out += ["=" * line_length, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}", "_" * line_length]
    return out
