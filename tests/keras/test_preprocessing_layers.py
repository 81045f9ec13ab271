"""Keras 2's Discretization, CategoryEncoding and Resizing layers, checked against NumPy
(np.digitize, one-hot by indexing, block means and np.repeat) and Keras 2's documented
examples, eagerly and inside a compiled model."""

import numpy as np
import pytest

from xlaflow import keras
from xlaflow.keras import layers


def test_discretization_is_numpy_digitize():
    x = np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]], np.float32)
    out = np.asarray(layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0])(x))
    np.testing.assert_array_equal(out, [[0, 2, 3, 1], [1, 3, 2, 1]])  # Keras' example
    rng = np.random.default_rng(0)
    x, edges = rng.normal(size=(50, 3)).astype(np.float32), [-1.0, -0.25, 0.3, 2.0]
    np.testing.assert_array_equal(np.asarray(layers.Discretization(edges)(x)),
                                  np.digitize(x, edges))
    with pytest.raises(ValueError, match="must be sorted"):
        layers.Discretization([1.0, 0.0])
    with pytest.raises(NotImplementedError, match="bin_boundaries"):
        layers.Discretization(num_bins=4)


def _one_hot(ids, n):
    return np.eye(n, dtype=np.float32)[ids]


def test_category_encoding_modes():
    ids = np.array([[0, 1], [0, 0], [1, 2], [3, 1]])
    np.testing.assert_array_equal(
        np.asarray(layers.CategoryEncoding(4, "one_hot")(np.array([3, 2, 0, 1]))),
        _one_hot([3, 2, 0, 1], 4))
    np.testing.assert_array_equal(
        np.asarray(layers.CategoryEncoding(4, "one_hot")(np.array([[3], [1]]))),
        _one_hot([3, 1], 4))
    np.testing.assert_array_equal(np.asarray(layers.CategoryEncoding(4, "multi_hot")(ids)),
                                  _one_hot(ids, 4).max(axis=1))
    np.testing.assert_array_equal(np.asarray(layers.CategoryEncoding(4, "count")(ids)),
                                  _one_hot(ids, 4).sum(axis=1))
    weights = np.array([[0.1, 0.2], [0.1, 0.1], [0.2, 0.3], [0.4, 0.2]], np.float32)
    np.testing.assert_allclose(
        np.asarray(layers.CategoryEncoding(4, "count")(ids, count_weights=weights)),
        (_one_hot(ids, 4) * weights[..., None]).sum(axis=1), rtol=1e-6)
    # a rank-1 input is one sample's ids (Keras 2)
    np.testing.assert_array_equal(
        np.asarray(layers.CategoryEncoding(5, "multi_hot")(np.array([4, 0, 4]))),
        [1, 0, 0, 0, 1])
    with pytest.raises(ValueError, match=r"\[0, 4\); received values from 0 to 7"):
        layers.CategoryEncoding(4)(np.array([0, 7]))
    with pytest.raises(ValueError, match="output_mode must be one of"):
        layers.CategoryEncoding(4, "tf_idf")


def test_resizing_against_block_means_repeats_and_centre_crops():
    rng = np.random.default_rng(1)
    images = rng.random((2, 4, 6, 3)).astype(np.float32)
    halves = images.reshape(2, 2, 2, 3, 2, 3).mean(axis=(2, 4))  # 2x2 block means
    np.testing.assert_allclose(np.asarray(layers.Resizing(2, 3)(images)), halves, rtol=1e-5)
    doubled = np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)
    np.testing.assert_array_equal(
        np.asarray(layers.Resizing(8, 12, interpolation="nearest")(images)), doubled)
    square = layers.Resizing(2, 2, crop_to_aspect_ratio=True)(images)  # the centre 4x4
    centre = images[:, :, 1:5, :].reshape(2, 2, 2, 2, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(np.asarray(square), centre, rtol=1e-5)


def test_the_layers_inside_a_compiled_model():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = keras.Sequential([keras.Input((3,)), layers.Discretization([-0.5, 0.0, 0.5]),
                              layers.CategoryEncoding(4, "count"), layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, verbose=0)
    encoded = _one_hot(np.digitize(x, [-0.5, 0.0, 0.5]), 4).sum(axis=1)
    kernel, bias = (np.asarray(w) for w in model.layers[-1].get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0), encoded @ kernel + bias,
                               rtol=1e-5, atol=1e-5)
