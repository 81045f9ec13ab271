"""Normalization against NumPy's mean and variance."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


def test_adapt_learns_feature_statistics_and_standardizes():
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(200, 3)) * [1.0, 5.0, 0.1] + [2.0, -3.0, 7.0]).astype(np.float32)
    layer = keras.layers.Normalization()
    layer.adapt(xf.data.Dataset.from_tensor_slices(data).batch(64))  # batches, as Keras
    np.testing.assert_allclose(layer.mean.numpy(), data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(layer.variance.numpy(), data.var(0), rtol=1e-4)
    out = np.asarray(layer(data))
    np.testing.assert_allclose(out, (data - data.mean(0)) / data.std(0), atol=1e-4)
    scalar = keras.layers.Normalization(axis=None)
    scalar.adapt(data)
    np.testing.assert_allclose(scalar(data), (data - data.mean()) / data.std(), atol=1e-4)


def test_given_statistics_invert_and_inside_a_model():
    layer = keras.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 0.0])
    x = np.array([[3.0, 2.5]], np.float32)
    np.testing.assert_allclose(layer(x), [[1.0, 0.5 / 1e-7]], rtol=1e-5)  # std floored
    inverse = keras.layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 1.0], invert=True)
    np.testing.assert_allclose(inverse(np.array([[1.0, 1.0]], np.float32)), [[3.0, 3.0]])
    norm = keras.layers.Normalization()
    norm.adapt(np.array([[0.0], [2.0]], np.float32))
    model = keras.Sequential([keras.Input((1,)), norm])
    np.testing.assert_allclose(model.predict(np.array([[4.0]], np.float32), verbose=0), [[3.0]])
    with pytest.raises(ValueError, match="both mean and variance"):
        keras.layers.Normalization(mean=[1.0])

