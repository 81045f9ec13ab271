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


def _triple():
    return [[_floats(SEQ), _floats((2, 5, 2)), _floats((2, 5, 3))]]


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
    "ReLU": (lambda: layers.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2), _seq, {}),
    "LeakyReLU": (lambda: layers.LeakyReLU(alpha=0.1), _seq, {}),
    "PReLU": (lambda: layers.PReLU(initializers.RandomUniform(0.1, 0.5, seed=3),
                                   shared_axes=[1]), _seq, {}),
    "ELU": (lambda: layers.ELU(alpha=0.5), _seq, {}),
    "Softmax": (lambda: layers.Softmax(axis=[1, 2]), _seq, {}),
    "GaussianNoise": (lambda: layers.GaussianNoise(0.3, seed=4), _seq, {"training": True}),
    "GaussianDropout": (lambda: layers.GaussianDropout(0.4, seed=5), _seq,
                        {"training": True}),
    "SpatialDropout1D": (lambda: layers.SpatialDropout1D(0.5, seed=6), _seq,
                         {"training": True}),
    "SpatialDropout2D": (lambda: layers.SpatialDropout2D(0.5, seed=7), _image,
                         {"training": True}),
    "Rescaling": (lambda: layers.Rescaling([0.5, 1.0, 2.0], offset=-1.0), _seq, {}),
    "Subtract": (lambda: layers.Subtract(), _pair, {}),
    "Multiply": (lambda: layers.Multiply(), _pair, {}),
    "Average": (lambda: layers.Average(), _pair, {}),
    "Maximum": (lambda: layers.Maximum(), _pair, {}),
    "Minimum": (lambda: layers.Minimum(), _pair, {}),
    # Keras 2's dense attention, Dot, AlphaDropout, UnitNormalization
    "Attention": (lambda: layers.Attention(use_scale=True, score_mode="concat", dropout=0.3,
                                           seed=8), _pair, {"training": True}),
    "AdditiveAttention": (lambda: layers.AdditiveAttention(use_scale=False, dropout=0.2,
                                                           seed=9), _triple,
                          {"training": True}),
    "Dot": (lambda: layers.Dot(axes=[1, -2], normalize=True), _pair, {}),
    "AlphaDropout": (lambda: layers.AlphaDropout(0.3, noise_shape=(None, 1, 3), seed=10),
                     _seq, {"training": True}),
    "UnitNormalization": (lambda: layers.UnitNormalization(axis=[1, -1]), _seq, {}),
    # Keras 2's convolutional LSTMs (inputs (batch, time, *spatial, channels))
    "ConvLSTM1D": (lambda: layers.ConvLSTM1D(
        2, 2, padding="same", recurrent_activation="sigmoid", unit_forget_bias=False,
        return_sequences=True, go_backwards=True, dropout=0.3,
        recurrent_dropout=0.2), lambda: [_floats((2, 3, 4, 3))], {}),
    "ConvLSTM2D": (lambda: layers.ConvLSTM2D(
        2, (2, 3), strides=(2, 1), dilation_rate=1, activation="relu",
        kernel_initializer=initializers.HeUniform(seed=2), bias_initializer="ones"),
        lambda: [_floats((2, 3, 4, 4, 3))], {}),
    "ConvLSTM3D": (lambda: layers.ConvLSTM3D(2, 2, dilation_rate=(1, 2, 1), use_bias=False),
                   lambda: [_floats((1, 2, 3, 4, 3, 2))], {}),
}
