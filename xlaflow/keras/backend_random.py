"""Keras 2's K.random_normal and K.random_uniform: tf.random's samplers with Keras' default
dtype (floatx), drawn from the global stream unless a seed is given."""

from xlaflow import random as random_lib
from xlaflow.backend_config import floatx


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Keras 2's K.random_normal: tf.random.normal of floatx by default (drawn from the
    global stream unless `seed` is given, so a tf.function's calls differ)."""
    return random_lib.normal(shape, mean, stddev, dtype or floatx(), seed)


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Keras 2's K.random_uniform: tf.random.uniform of floatx by default."""
    return random_lib.uniform(shape, minval, maxval, dtype or floatx(), seed)
