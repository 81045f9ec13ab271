"""Layers that assign or create Variables in call()/build() work in every way a model is
built: Sequential with an Input, the functional API, subclassed models, and by fit()."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


class Counter(keras.layers.Layer):
    """Counts its calls: a weight assigned in call(), and a plain Variable from build()."""

    def build(self, input_shape):
        self.count = self.add_weight("count", shape=(), dtype="int32", initializer="zeros",
                                     trainable=False)
        self.seen = xf.Variable(jnp.zeros((), jnp.int32), trainable=False, name="seen")

    def call(self, x):
        self.count.assign_add(1)
        self.seen.assign_add(jnp.int32(x.shape[0]))
        return x * 2.0


class Sub(keras.Model):
    def __init__(self):
        super().__init__()
        self.counter = Counter()
        self.dense = keras.layers.Dense(1)

    def call(self, x):
        return self.dense(self.counter(x))


def functional():
    inputs = keras.layers.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(1)(Counter()(inputs)))


@pytest.mark.parametrize("make", [
    lambda: keras.Sequential([Counter(), keras.layers.Dense(1)]),
    lambda: keras.Sequential([keras.layers.Input((3,)), Counter(), keras.layers.Dense(1)]),
    functional,
    Sub,
], ids=["sequential-built-by-fit", "sequential-with-input", "functional", "subclassed"])
def test_building_does_not_count_as_a_call(make):
    model = make()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 3), np.float32), np.ones((4, 1), np.float32), batch_size=2,
              epochs=1, verbose=0)
    counter = next(layer for layer in model.layers if isinstance(layer, Counter)) \
        if not isinstance(model, Sub) else model.counter
    assert int(counter.count.numpy()) == 2  # two training steps; the build traced none
    assert int(counter.seen.numpy()) == 4
