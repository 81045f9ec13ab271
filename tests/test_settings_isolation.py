"""Keras' global settings (floatx, epsilon, the global dtype policy, the image data format)
do not leak from one test into the next: conftest's autouse fixture restores them, as it
does xf.config's flags. The two tests run in file order; the first changes everything and
cleans up nothing."""

import jax.numpy as jnp
import numpy as np

from xlaflow import keras, mixed_precision


def test_a_test_that_changes_the_settings_and_leaves_them():
    keras.backend.set_floatx("float16")
    keras.backend.set_epsilon(1e-3)
    mixed_precision.set_global_policy("mixed_bfloat16")
    keras.backend.set_image_data_format("channels_first")
    assert keras.layers.Dense(1).compute_dtype == jnp.bfloat16


def test_the_next_test_starts_from_keras_defaults():
    assert keras.backend.floatx() == "float32"
    assert keras.backend.epsilon() == 1e-7
    assert mixed_precision.global_policy().name == "float32"
    assert keras.backend.image_data_format() == "channels_last"
    dense = keras.layers.Dense(1)
    assert dense(np.ones((1, 2), np.float32)).dtype == jnp.float32
    # no explicit policy is left behind either: floatx still decides a new layer's dtype
    keras.backend.set_floatx("bfloat16")
    assert keras.layers.Dense(1).compute_dtype == jnp.bfloat16
