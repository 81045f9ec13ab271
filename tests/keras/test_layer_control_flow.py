"""A Layer's `call` with tensor control flow converts whenever its values are traced: inputs,
weights lifted by xf.function (constant inputs), or weights a tape traces eagerly."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


class AbsSum(keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight("w", shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        y = jnp.sum(x * self.w)
        if y > 0:  # a tensor condition
            return y
        return -y


X = np.array([[1.0, -3.0]], np.float32)


def test_call_on_a_constant_inside_xf_function():
    layer = AbsSum()
    assert float(layer(X)) == 2.0  # eagerly: Python semantics

    @xf.function
    def on_constant():
        return layer(X)  # X is a NumPy constant; the weight is lifted (traced)

    assert float(on_constant()) == 2.0


class Wrapped(keras.Model):
    def __init__(self):
        super().__init__()
        self.inner = AbsSum()

    def call(self, x):
        return jnp.reshape(self.inner(x), (1, 1))

    def train_step(self, data):
        x, y = data
        with xf.GradientTape() as tape:
            loss = jnp.mean((self(x) - y) ** 2)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


@pytest.mark.parametrize("eager", [False, True])
def test_custom_train_step_with_a_tape_runs_compiled_and_eagerly(eager):
    xf.config.run_functions_eagerly(eager)
    try:
        model = Wrapped()
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(X, np.zeros((1, 1), np.float32), epochs=1, verbose=0)
    finally:
        xf.config.run_functions_eagerly(False)
    # |1*1 + (-3)*1| = 2, squared error against 0
    assert history.history["loss"] == [pytest.approx(4.0)]
