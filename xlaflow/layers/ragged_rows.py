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


def refuse_lost_rows(layer, inputs, outputs):
    """A NotImplementedError if `layer`, a Lambda or an xf op on symbolic tensors, takes a
    ragged Input's rows and gives an output without them (a reduction over the steps):
    Keras 2 runs it on the RaggedTensor, each row's own steps; here it would see the padded
    rows, and a sum or max would count the padding."""
    from xlaflow.layers.lambda_layer import Lambda
    from xlaflow.layers.op_layer import TFOpLambda
    ragged = [t for t in inputs if getattr(t, "ragged_source", None) is not None]
    if not ragged or not isinstance(layer, (Lambda, TFOpLambda)):
        return
    lost = [o for o in outputs if len(o.shape) < 2 or o.shape[1] is not None]
    if lost:
        raise NotImplementedError(
            f"{layer.name} ({type(layer).__name__}) takes {ragged[0]!r}, which follows the "
            f"rows of the ragged Input {ragged[0].ragged_source.name!r}, and gives "
            f"{lost[0]!r} without them: xlaflow runs it on the padded rows, where a "
            "reduction over the steps would count the padding. Reduce the rows with a "
            "layer that honours their mask (GlobalAveragePooling1D, GlobalMaxPooling1D, an "
            "RNN), or feed rt.to_tensor() to an Input without ragged=True")
