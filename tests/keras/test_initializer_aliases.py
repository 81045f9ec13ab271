"""Keras 2's snake-case initializer names (tf.initializers.zeros, keras.initializers.he_normal):
each is its class, so a call makes the same initializer and draws the same values."""

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras

# Keras 2.12's keras.initializers exports these snake-case names for its classes
KERAS_ALIASES = {
    "zeros": "Zeros", "ones": "Ones", "constant": "Constant",
    "random_normal": "RandomNormal", "random_uniform": "RandomUniform",
    "truncated_normal": "TruncatedNormal", "variance_scaling": "VarianceScaling",
    "glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal",
    "he_normal": "HeNormal", "he_uniform": "HeUniform", "lecun_normal": "LecunNormal",
    "lecun_uniform": "LecunUniform",
    "orthogonal": "Orthogonal", "identity": "Identity",
}


@pytest.mark.parametrize("alias", sorted(KERAS_ALIASES))
def test_snake_case_name_is_the_class_in_both_namespaces(alias):
    cls = getattr(keras.initializers, KERAS_ALIASES[alias])
    assert getattr(keras.initializers, alias) is cls
    assert getattr(tf.initializers, alias) is cls
    assert isinstance(getattr(tf.keras.initializers, alias)(), cls)


def test_zeros_alias_in_a_dense_layer_starts_its_output_at_the_bias():
    # the time-series tutorial's ResidualWrapper: the last Dense starts at zero
    layer = keras.layers.Dense(3, kernel_initializer=tf.initializers.zeros())
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    np.testing.assert_array_equal(layer(x), np.zeros((4, 3), "float32"))
    np.testing.assert_array_equal(
        tf.initializers.constant(2.5)((2, 2), "float32"), np.full((2, 2), 2.5, "float32"))


def test_lecun_uniform_draws_within_its_limit_and_loads_from_its_config():
    # Keras 2: uniform in [-limit, limit], limit = sqrt(3 / fan_in)
    values = np.asarray(keras.initializers.LecunUniform(seed=3)((300, 200), "float32"))
    limit = np.sqrt(3.0 / 300)
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > 0.99 * limit
    np.testing.assert_allclose(values.var(), limit ** 2 / 3, rtol=0.02)
    layer = keras.layers.Dense(2, kernel_initializer="lecun_uniform")
    config = keras.layers.Dense.from_config(layer.get_config()).get_config()
    assert config["kernel_initializer"]["class_name"] == "LecunUniform"
