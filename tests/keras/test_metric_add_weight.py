"""Metric.add_weight's initializers as Keras 2's custom metrics pass them: None starts at
zeros, names and callables give their values, a seeded initializer draws from its seed."""

import jax
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


class State(keras.metrics.Metric):
    """One state Variable made by add_weight(**kwargs): what a custom metric does."""

    def __init__(self, **kwargs):
        super().__init__(name="state")
        self.state = self.add_weight(name="state", **kwargs)

    def update_state(self, values):
        self.state.assign_add(values)

    def result(self):
        return self.state.value


def test_initializer_none_starts_at_zeros_for_floats_and_ints():
    metric = State(shape=(2, 3), initializer=None)
    assert metric.state.dtype == np.float32
    np.testing.assert_array_equal(metric.state.numpy(), np.zeros((2, 3), np.float32))
    counts = State(shape=(4,), initializer=None, dtype="int32")
    np.testing.assert_array_equal(counts.state.numpy(), np.zeros(4, np.int32))
    metric.update_state(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(metric.result(), np.ones((2, 3)))


def test_names_and_callables_give_their_values():
    np.testing.assert_array_equal(State(shape=(3,), initializer="ones").state.numpy(),
                                  np.ones(3, np.float32))
    seen = []

    def arange(shape, dtype, key):  # xlaflow's callable initializer: (shape, dtype, key)
        seen.append((shape, np.dtype(dtype)))
        return np.arange(np.prod(shape)).reshape(shape)

    metric = State(shape=(2, 2), initializer=arange)
    assert seen == [((2, 2), np.dtype(np.float32))]
    np.testing.assert_array_equal(metric.state.numpy(), np.arange(4.0).reshape(2, 2))
    with pytest.raises(ValueError, match="Unknown initializer 'zero'"):
        State(initializer="zero")


def test_a_seeded_initializer_draws_from_its_seed_not_the_global_stream():
    made = []
    for global_seed in (1, 2):
        xf.random.set_seed(global_seed)  # a different global stream each time
        made.append(State(shape=(50,), initializer=keras.initializers.RandomUniform(
            -1.0, 1.0, seed=7)).state.numpy())
    np.testing.assert_array_equal(made[0], made[1])
    want = jax.random.uniform(jax.random.PRNGKey(7), (50,), np.float32, -1.0, 1.0)
    np.testing.assert_array_equal(made[0], np.asarray(want))
    assert made[0].min() >= -1.0 and made[0].max() < 1.0 and made[0].std() > 0.3
    # the same seed on a layer's weight: the same values, as in Keras
    layer = keras.layers.Dense(1, kernel_initializer=keras.initializers.RandomUniform(
        -1.0, 1.0, seed=7))
    layer.build((None, 50))
    np.testing.assert_array_equal(layer.kernel.numpy()[:, 0], made[0])
