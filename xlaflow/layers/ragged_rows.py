"""Which layers may take a ragged Input's rows: those that mix neighbouring steps (convolution,
local pooling, padding, cropping, upsampling) are refused, as Keras 2 refuses them.

A ragged Input runs as its padded form with the rows' mask (models/ragged_fed.py). A layer
that honours no mask and reads across steps would mix a row's last steps with the padding,
and the padding depends on the batch's longest row: a row's result would change with the
rows batched beside it. Keras 2 gives these layers the RaggedTensor, and they fail there.
"""

from __future__ import annotations


def _step_mixing():
    from xlaflow.layers.conv import _Conv
    from xlaflow.layers.pooling import _Pooling1D
    from xlaflow.layers.reshaping import Cropping1D, UpSampling1D, ZeroPadding1D
    return (_Conv, _Pooling1D, Cropping1D, UpSampling1D, ZeroPadding1D)


def refuse_step_mixing(layer, inputs):
    """A TypeError, before `layer` builds, if it mixes steps and one of the symbolic
    `inputs` follows a ragged Input's rows."""
    ragged = [t for t in inputs if getattr(t, "ragged_source", None) is not None]
    if ragged and isinstance(layer, _step_mixing()):
        raise TypeError(
            f"{layer.name} ({type(layer).__name__}) received {ragged[0]!r}, which follows "
            f"the rows of the ragged Input {ragged[0].ragged_source.name!r}; it reads across "
            "steps and honours no mask, so it cannot take ragged rows (Keras 2 fails to "
            "convert the RaggedTensor there): reduce the rows first (an RNN, "
            "GlobalAveragePooling1D), or feed rt.to_tensor() to an Input without "
            "ragged=True, with a Masking layer or Embedding(mask_zero=True)")
