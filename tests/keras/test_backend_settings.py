"""keras.backend's settings: epsilon (read by losses when they run), floatx (the default
dtype of new layers, under any explicit global policy), clear_session, int_shape."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xlaflow import keras, mixed_precision


@pytest.fixture
def restore_backend():
    yield
    keras.backend.set_epsilon(1e-7)
    keras.backend.set_floatx("float32")
    mixed_precision.set_global_policy(None)


def test_epsilon_is_read_by_the_losses(restore_backend):
    assert keras.backend.epsilon() == 1e-7
    loss = keras.losses.BinaryCrossentropy()
    y_true, y_pred = np.array([[1.0]], np.float32), np.array([[0.0]], np.float32)
    np.testing.assert_allclose(loss(y_true, y_pred), -np.log(1e-7), rtol=1e-5)
    keras.backend.set_epsilon(1e-3)
    # the closed form: y=1, p clipped to eps, so -log(eps)
    np.testing.assert_allclose(loss(y_true, y_pred), -np.log(1e-3), rtol=1e-5)
    cce = keras.losses.categorical_crossentropy(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(cce, [-np.log(1e-3)], rtol=1e-5)
    with pytest.raises(ValueError, match="positive number; received 0"):
        keras.backend.set_epsilon(0)


def test_floatx_sets_the_dtype_of_new_layers(restore_backend):
    assert keras.backend.floatx() == "float32"
    keras.backend.set_floatx("bfloat16")
    dense = keras.layers.Dense(2)
    y = dense(np.ones((1, 3), np.float32))
    assert dense.kernel.dtype == jnp.bfloat16 and y.dtype == jnp.bfloat16
    assert keras.backend.cast_to_floatx([1.0]).dtype == jnp.bfloat16
    mixed_precision.set_global_policy("mixed_float16")  # an explicit policy wins
    dense = keras.layers.Dense(2)
    dense(np.ones((1, 3), np.float32))
    assert dense.kernel.dtype == jnp.float32 and dense.compute_dtype == jnp.float16
    mixed_precision.set_global_policy(None)  # back to floatx, as Keras
    assert mixed_precision.global_policy().name == "bfloat16"
    with pytest.raises(ValueError, match="one of"):
        keras.backend.set_floatx("int32")
    if not jax.config.jax_enable_x64:
        with pytest.raises(ValueError, match="jax_enable_x64"):
            keras.backend.set_floatx("float64")
    assert keras.backend.floatx() == "bfloat16"  # a refused value changes nothing


def test_clear_session_restarts_layer_names_and_other_helpers():
    keras.backend.clear_session()
    names = [keras.layers.Dense(1).name for _ in range(2)]
    assert names == ["dense", "dense_1"]
    keras.backend.clear_session()
    assert keras.layers.Dense(1).name == "dense"
    assert keras.backend.image_data_format() == "channels_last"
    keras.backend.set_image_data_format("channels_first")
    keras.backend.clear_session()  # as Keras: the data format is not a session's
    assert keras.backend.image_data_format() == "channels_first"
    keras.backend.set_image_data_format("channels_last")
    assert keras.backend.int_shape(keras.Input((5, 3))) == (None, 5, 3)
    assert keras.backend.int_shape(jnp.zeros((2, 4))) == (2, 4)
    with pytest.raises(TypeError, match="received list"):
        keras.backend.int_shape([1, 2])
