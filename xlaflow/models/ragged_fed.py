"""A model with an Input(ragged=True) fed RaggedTensors (Keras 2): each ragged input runs
as its padded dense form with the rows' mask, and outputs that keep the rows come back
as RaggedTensors (from the eager call and predict) with the input's row lengths.

Keras 2 passes a RaggedTensor from layer to layer; here the layers see the padded form,
and every tensor that keeps the rows (symbolic.py marks it `ragged_source`) carries the
rows' mask, so masking layers (RNNs, pooling, attention) see only each row's own steps,
even after a layer that makes no mask of its own (Embedding(mask_zero=False), Dense).
"""

from __future__ import annotations

import jax

from xlaflow.layers import keras_mask, symbolic
from xlaflow.ragged_tensor import RaggedTensor
from xlaflow.training.ragged_batches import RaggedBatch, has_ragged, is_ragged, padded


class RaggedFed:
    """Mixed into Model: `model(x)` with RaggedTensors (or the RaggedBatches fit and
    predict feed its compiled steps) among its inputs."""

    def __call__(self, inputs, *args, **kwargs):
        if not has_ragged(inputs) or symbolic.has_symbolic((inputs, args, kwargs)):
            return super().__call__(inputs, *args, **kwargs)
        sources = input_symbols(self)
        if sources is None or all(s.ragged_source is None for s in sources):
            if not any(isinstance(leaf, RaggedBatch) for leaf in jax.tree_util.tree_leaves(
                    inputs, is_leaf=is_ragged)):
                # as Keras 2, a model with no ragged Input (a subclass) gets the RaggedTensor
                return super().__call__(inputs, *args, **kwargs)
            raise NotImplementedError(
                f"{self.name} was fed ragged rows (a RaggedTensor x in fit/evaluate/predict) "
                "but has no ragged Input: build it from keras.Input(shape=[None], "
                "ragged=True) (functional or Sequential), or feed rt.to_tensor() and a mask")
        graph = self.__dict__.get("_graph")
        if graph is not None:  # a dict keyed by Input names, in the Inputs' order
            inputs = graph.arrange(inputs)
        leaves, tree = jax.tree_util.tree_flatten(inputs, is_leaf=is_ragged)
        fed = any(isinstance(leaf, RaggedBatch) for leaf in leaves)  # fit/predict's steps
        batches = [padded(leaf) if isinstance(leaf, RaggedTensor) else leaf
                   for leaf in leaves]
        dense = [b.dense if isinstance(b, RaggedBatch) else b for b in batches]
        masks = [b.mask() if isinstance(b, RaggedBatch) else None for b in batches]
        if "mask" not in kwargs:
            kwargs["mask"] = tree.unflatten(masks)
        out = super().__call__(tree.unflatten(dense), *args, **kwargs)
        return _ragged_outputs(self, out, _batch_by_source(sources, batches), fed)


def input_symbols(model):
    """The model's Input tensors in its inputs' flat order, or None (a subclassed model)."""
    graph = model.__dict__.get("_graph")
    if graph is not None:
        return jax.tree_util.tree_leaves(graph.inputs, is_leaf=symbolic.is_symbolic)
    chain = model.__dict__.get("_symbolic_chain")
    return [chain[0]] if chain else None


def output_symbols(model):
    """The model's output tensors in flat order, or None (a subclassed model)."""
    graph = model.__dict__.get("_graph")
    if graph is not None:
        return jax.tree_util.tree_leaves(graph.outputs, is_leaf=symbolic.is_symbolic)
    chain = model.__dict__.get("_symbolic_chain")
    return [chain[-1]] if chain else None


def ragged_outputs(model):
    """The names of the model's outputs that keep a ragged input's rows."""
    outputs = output_symbols(model) or []
    return [t.name for t in outputs if t.ragged_source is not None]


def refuse_ragged_outputs(model, what):
    """NotImplementedError for fit/evaluate on ragged rows when an output keeps them."""
    names = ragged_outputs(model)
    if names:
        raise NotImplementedError(
            f"{what} with ragged x: {model.name}'s output {names[0]!r} keeps the ragged "
            "rows (Keras 2 returns a RaggedTensor there), and losses on ragged outputs are "
            "not supported; end the model with a layer that reduces the rows (an RNN "
            "without return_sequences, GlobalAveragePooling1D), or use predict, which "
            "returns the RaggedTensor")


def _batch_by_source(sources, batches):
    """{id(ragged Input): its RaggedBatch}: each Input's own value when the values line up
    with the Inputs, else (one value for the model) that value."""
    if len(sources) == len(batches):
        return {id(s): b for s, b in zip(sources, batches)
                if isinstance(b, RaggedBatch) and s.ragged_source is s}
    ragged = [b for b in batches if isinstance(b, RaggedBatch)]
    return {id(s): ragged[0] for s in sources if s.ragged_source is s} \
        if len(ragged) == 1 else {}


def _ragged_outputs(model, out, fed_rows, fed):
    symbols = output_symbols(model)
    leaves, tree = jax.tree_util.tree_flatten(out)
    if symbols is None or len(symbols) != len(leaves):
        return out
    result = []
    for symbol, value in zip(symbols, leaves):
        source = symbol.ragged_source
        if source is None or id(source) not in fed_rows:
            result.append(value)
            continue
        given = fed_rows[id(source)]
        if tuple(jax.numpy.shape(value))[:2] != given.shape[:2]:  # (a Flatten of the rows)
            raise NotImplementedError(
                f"{model.name}: output {symbol.name!r} has shape {symbol.shape}, whose "
                "axis 1 varies with the ragged rows but is not their steps (padded to "
                f"{given.shape[1]}, it is {jax.numpy.shape(value)[1]} long); reduce the "
                "rows first (GlobalAveragePooling1D, an RNN) or keep one vector per step")
        rows = RaggedBatch(value, given.lengths)
        result.append(rows if fed else rows.to_ragged())
    return tree.unflatten(result)


def carry_mask(symbol, value, source_value):
    """Give `value` (the real output for `symbol`) the rows' mask when `symbol` keeps a
    ragged input's rows: the layer's own mask, if any, also keeps only the rows' steps."""
    if getattr(symbol, "ragged_source", None) is None:
        return
    rows = keras_mask.get_mask(source_value)
    if rows is None or tuple(jax.numpy.shape(value))[:2] != tuple(rows.shape):
        return
    own = keras_mask.get_mask(value)
    if own is None:
        keras_mask.set_mask(value, rows)
    elif tuple(own.shape) == tuple(rows.shape):
        keras_mask.set_mask(value, own & rows)


def refuse_saving(model, what):
    """NotImplementedError, before anything is written, for saving a model with a ragged
    Input: its serving signature and files would take the padded form, not the rows (a
    file that loads as another model). Its weights save and load as any model's."""
    sources = input_symbols(model) if hasattr(model, "__dict__") else None
    ragged = [s.name for s in sources or () if s.ragged_source is s]
    if ragged:
        raise NotImplementedError(
            f"{what}: {model.name} has a ragged Input ({ragged[0]!r}, Input(ragged=True)), "
            "which xlaflow's saved formats cannot describe; save its weights "
            "(model.save_weights) and build the model again from code, or save a model of "
            "a dense Input fed rt.to_tensor() and a mask")
