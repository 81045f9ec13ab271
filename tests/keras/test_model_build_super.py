"""A subclassed Model whose build() creates a weight and ends in super().build(input_shape),
as Keras 2 programs write it: reached from a first call it recursed without end (the model's
build called the model); Keras 2's Model.build runs call() there."""

import numpy as np
import pytest

from xlaflow import keras


class Scaled(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(3, kernel_initializer="ones")

    def build(self, input_shape):
        self.scale = self.add_weight("scale", shape=(input_shape[-1],), initializer="ones")
        super().build(input_shape)

    def call(self, x):
        return self.dense(x * self.scale)


X = np.arange(8, dtype=np.float32).reshape(2, 4)


def _names(model):
    return sorted(w.name.split("/")[-1].split(":")[0] for w in model.weights)


@pytest.mark.parametrize("how", ["call", "build"])
def test_build_ending_in_super_build(how):
    model = Scaled()
    if how == "build":
        model.build((None, 4))
        assert model.built
    out = model(X)
    # scale and kernel are ones, the bias zeros: each output is the row's sum
    np.testing.assert_allclose(out, np.repeat(X.sum(1, keepdims=True), 3, 1))
    assert _names(model) == ["bias", "kernel", "scale"]


def test_such_a_model_trains():
    model = Scaled()
    model.compile("sgd", "mse")
    before = model(X).numpy()
    model.fit(X, np.zeros((2, 3), np.float32), epochs=2, verbose=0)
    assert np.abs(model(X).numpy()).sum() < np.abs(before).sum()
    assert len(model.trainable_weights) == 3
