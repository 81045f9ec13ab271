"""Config round-trip cases of the reshaping, 1-D/global pooling, activation, noise,
preprocessing and merging layers, in test_configs.LAYERS' format: (constructor with
non-default arguments, inputs, keyword arguments of the compared call)."""

import numpy as np

from xlaflow.keras import initializers, layers

RNG = np.random.default_rng(1)
SEQ, IMAGE = (2, 4, 3), (2, 4, 4, 3)


def _floats(shape):
    return RNG.normal(size=shape).astype(np.float32)


def _seq():
    return [_floats(SEQ)]


def _image():
    return [_floats(IMAGE)]


def _pair():
    return [[_floats(SEQ), _floats(SEQ)]]


ADDED_LAYERS = {
    "ZeroPadding1D": (lambda: layers.ZeroPadding1D((1, 2)), _seq, {}),
    "ZeroPadding2D": (lambda: layers.ZeroPadding2D(((1, 0), (2, 1))), _image, {}),
    "Cropping1D": (lambda: layers.Cropping1D((0, 2)), _seq, {}),
    "Cropping2D": (lambda: layers.Cropping2D(((1, 0), (0, 2)), data_format="channels_last"),
                   _image, {}),
    "UpSampling1D": (lambda: layers.UpSampling1D(3), _seq, {}),
    "UpSampling2D": (lambda: layers.UpSampling2D((2, 3), interpolation="bilinear"), _image,
                     {}),
    "RepeatVector": (lambda: layers.RepeatVector(4), lambda: [_floats((2, 3))], {}),
    "Permute": (lambda: layers.Permute((2, 1)), _seq, {}),
    "MaxPooling1D": (lambda: layers.MaxPooling1D(3, strides=1, padding="same"), _seq, {}),
    "AveragePooling1D": (lambda: layers.AveragePooling1D(3, strides=2, padding="same"), _seq,
                         {}),
    "GlobalAveragePooling1D": (lambda: layers.GlobalAveragePooling1D(keepdims=True), _seq, {}),
    "GlobalMaxPooling1D": (lambda: layers.GlobalMaxPooling1D(keepdims=True), _seq, {}),
    "GlobalMaxPooling2D": (lambda: layers.GlobalMaxPooling2D(keepdims=True), _image, {}),
}
