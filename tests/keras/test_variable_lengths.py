"""Sizes given as None past the batch (variable lengths) stay None in symbolic shapes, and
models built from them run at any length, as in Keras."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models

RNG = np.random.default_rng(11)


def test_symbolic_shapes_keep_unknown_lengths():
    x = xf.keras.Input((None, 8))
    conv = layers.Conv1D(4, 5)(x)  # a window longer than any small placeholder
    assert conv.shape == (None, None, 4)
    assert layers.GlobalMaxPooling1D()(conv).shape == (None, 4)
    assert layers.Cropping1D((1, 1))(x).shape == (None, None, 8)
    assert layers.LSTM(4, return_sequences=True)(x).shape == (None, None, 4)
    assert layers.Dense(3).compute_output_shape((None, None, 8)) == (None, None, 3)
    image = xf.keras.Input((None, None, 3))
    assert layers.Conv2DTranspose(2, 3, strides=2, padding="same")(image).shape == \
        (None, None, None, 2)
    assert layers.MaxPooling1D(2)(xf.keras.Input((10, 8))).shape == (None, 5, 8)


def test_a_text_cnn_runs_at_any_length_and_matches_numpy():
    tokens = xf.keras.Input((None, 3))
    conv = layers.Conv1D(2, 3, activation="relu")
    model = models.Model(tokens, layers.GlobalMaxPooling1D()(conv(tokens)))
    kernel, bias = conv.get_weights()
    for length in (4, 9):
        x = RNG.normal(size=(2, length, 3)).astype(np.float32)
        windows = np.stack([x[:, i:i + 3].reshape(2, -1) for i in range(length - 2)], 1)
        expected = np.maximum(windows @ kernel.reshape(-1, 2) + bias, 0).max(1)
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5)


def test_sequential_with_an_unknown_length_builds_and_trains():
    model = models.Sequential([layers.LSTM(4, input_shape=(None, 8)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    for length in (5, 9):
        x = RNG.normal(size=(4, length, 8)).astype(np.float32)
        assert model.predict(x, verbose=0).shape == (4, 1)
        model.fit(x, np.zeros((4, 1), np.float32), verbose=0)
    assert model.layers[0].get_weights()[0].shape == (8, 16)


def test_a_layer_that_needs_an_unknown_size_is_named():
    x = xf.keras.Input((None, 8))
    with pytest.raises(ValueError, match=r"dense.*None sizes may vary.*Give them in the "
                                         r"Input shape"):
        layers.Dense(3)(layers.Permute((2, 1))(x))
    with pytest.raises(ValueError, match=r"leaves sizes unknown .*give them in input_shape"):
        models.Sequential([layers.Flatten(input_shape=(None, 4)), layers.Dense(2)])
