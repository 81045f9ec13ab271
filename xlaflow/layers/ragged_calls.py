"""A Keras layer called on a RaggedTensor outside a model, as Keras 2 allows for some.

Layers that act on each value (Activation, Dropout, Embedding's ids) or on a uniform last
axis (Dense) run on flat_values and keep the rows; layers that honour masks (RNNs, Bidirectional,
GlobalAveragePooling1D) run on the padded rows with their mask, and
an output that keeps the steps becomes a RaggedTensor again. A ragged last axis, or rows
of more than one ragged dimension for a masking layer, are refused with what to do.
"""

from __future__ import annotations

import numpy as np


def call(layer, rt, args, training, kwargs):
    """`layer(rt, *args, training=training, **kwargs)` for a RaggedTensor `rt`."""
    kind = layer._per_value
    inner = len(rt.shape) - rt.ragged_rank - 1  # uniform dims below the last ragged one
    if kind == "values" or kind == "last axis" and inner >= 1:
        out = layer(rt.flat_values, *args, training=training, **kwargs)
        return rt.with_flat_values(out)
    if kind == "masked" and rt.ragged_rank == 1 and "mask" not in kwargs:
        from xlaflow.training.ragged_batches import RaggedBatch, padded
        batch = padded(rt)
        out = layer(batch.dense, *args, training=training, mask=batch.mask(), **kwargs)
        if isinstance(out, (list, tuple)):  # return_state: the states stay dense
            first = out[0]
            return type(out)([_rows_again(first, batch, RaggedBatch), *out[1:]])
        return _rows_again(out, batch, RaggedBatch)
    raise TypeError(
        f"{layer.name} ({type(layer).__name__}) does not take a RaggedTensor of shape "
        f"{rt.shape} here: pad it (rt.to_tensor(), with a mask), or build a model from "
        "keras.Input(shape=[None], ragged=True), which pads each batch and carries the "
        "rows' mask")


def _rows_again(out, batch, ragged_batch):
    """An output that keeps the padded steps as a RaggedTensor of the input's rows (Keras
    2's return_sequences on a RaggedTensor); any other output as it is."""
    if np.ndim(out) >= 3 and np.shape(out)[1] == np.shape(batch.dense)[1]:
        return ragged_batch(out, batch.lengths).to_ragged()
    return out
