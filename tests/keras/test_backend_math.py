"""keras.backend's math (K.dot, K.sum, ...) against NumPy and Keras 2's documented rules."""

import numpy as np

from xlaflow import keras

K = keras.backend
RNG = np.random.default_rng(3)


def test_dot_is_numpy_dot_for_n_d_tensors():
    # Keras' documented example: (2, 3) . (4, 3, 5) -> (2, 4, 5)
    x, y = RNG.normal(size=(2, 3)), RNG.normal(size=(4, 3, 5))
    assert K.dot(x, y).shape == (2, 4, 5)
    np.testing.assert_allclose(K.dot(x, y), np.dot(x, y), rtol=1e-5, atol=1e-6)
    a, b = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(4, 6))
    np.testing.assert_allclose(K.dot(a, b), a @ b, rtol=1e-5, atol=1e-6)


def test_reductions_and_elementwise_match_numpy_and_keras_rules():
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(K.sum(x, axis=1, keepdims=True), x.sum(1, keepdims=True),
                               rtol=1e-5)
    np.testing.assert_allclose(K.mean(x, axis=0), x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(K.max(x), x.max())
    np.testing.assert_allclose(K.min(x, axis=-1), x.min(-1))
    assert float(K.mean(np.array([True, False, True, True]))) == 0.75
    # an integer mean stays integer, truncated toward zero (Keras 2's tf.reduce_mean)
    ints = K.mean(np.array([[1, 2], [-7, 0]], np.int32), axis=1)
    assert ints.dtype == np.int32 and ints.tolist() == [1, -3]
    np.testing.assert_array_equal(K.sqrt(np.array([-4.0, 4.0])), [0.0, 2.0])  # no NaN
    np.testing.assert_array_equal(K.clip(np.array([-2.0, 0.5, 3.0]), 1.0, 0.0), [1, 1, 1])
    np.testing.assert_allclose(K.l2_normalize(x, axis=1),
                               x / np.linalg.norm(x, axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(K.softmax(x), np.exp(x) / np.exp(x).sum(-1, keepdims=True),
                               rtol=1e-5)
    assert K.cast(x, "int32").dtype == np.int32
    assert K.concatenate([x, x]).shape == (3, 8) and K.expand_dims(x).shape == (3, 4, 1)
    assert K.stack([x, x], axis=1).shape == (3, 2, 4)
    np.testing.assert_array_equal(K.shape(x), [3, 4])
