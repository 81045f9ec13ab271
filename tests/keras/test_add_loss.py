"""Layer.add_loss (Keras 2): a tensor added inside call() joins `losses` for that forward
pass (replaced by the next one) and the training loss in fit; a zero-argument callable is
read each time. Checked against NumPy."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import Input, layers, models, optimizers

RNG = np.random.default_rng(7)
X = RNG.normal(size=(8, 3)).astype(np.float32)
Y = RNG.normal(size=(8, 1)).astype(np.float32)
RATE = 0.1


class MeanSquarePenalty(layers.Layer):
    """Passes its input through and adds RATE * mean(x^2) as a loss."""

    def call(self, inputs):
        self.add_loss(RATE * xf.reduce_mean(xf.square(inputs)))
        return inputs


def _model():
    inputs = Input((3,))
    return models.Model(inputs, layers.Dense(1, use_bias=False)(MeanSquarePenalty()(inputs)))


def test_an_added_tensor_is_this_calls_loss_and_the_next_call_replaces_it():
    model = _model()
    model(X)
    assert len(model.losses) == 1
    np.testing.assert_allclose(float(model.losses[0]), RATE * np.mean(X ** 2), rtol=1e-6)
    model(X[:2])
    assert len(model.losses) == 1  # replaced, not accumulated
    np.testing.assert_allclose(float(model.losses[0]), RATE * np.mean(X[:2] ** 2), rtol=1e-6)


def test_fit_adds_the_loss_to_the_compiled_loss():
    model = _model()
    model.compile(optimizer=optimizers.SGD(0.0), loss="mse")
    kernel = model.layers[-1].kernel.numpy()
    logs = model.evaluate(X, Y, batch_size=8, verbose=0, return_dict=True)
    expected = np.mean((X @ kernel - Y) ** 2) + RATE * np.mean(X ** 2)
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-5)
    history = model.fit(X, Y, batch_size=8, epochs=1, verbose=0)  # lr 0: weights unchanged
    np.testing.assert_allclose(history.history["loss"][0], expected, rtol=1e-5)


def test_a_custom_loop_reads_the_loss_inside_the_tape_and_gets_its_gradient():
    layer = MeanSquarePenalty()
    x = xf.Variable(X)

    @xf.function
    def step():
        with xf.GradientTape() as tape:
            layer(x)
            loss = xf.add_n(layer.losses)
        return loss, tape.gradient(loss, x)

    loss, grad = step()
    np.testing.assert_allclose(float(loss), RATE * np.mean(X ** 2), rtol=1e-6)
    np.testing.assert_allclose(grad, RATE * 2 * X / X.size, rtol=1e-5)


def test_a_callable_loss_is_read_on_every_access():
    dense = layers.Dense(1, use_bias=False)
    dense.build((None, 3))
    dense.add_loss(lambda: xf.reduce_sum(dense.kernel))
    np.testing.assert_allclose(float(dense.losses[0]), dense.kernel.numpy().sum(), rtol=1e-6)
    dense.kernel.assign(np.ones((3, 1), np.float32))
    assert [float(v) for v in dense.losses] == [3.0]


def test_a_tensor_outside_call_is_refused_before_anything_is_recorded():
    dense = layers.Dense(1)
    with pytest.raises(ValueError, match="zero-argument `lambda`"):
        dense.add_loss([lambda: 1.0, xf.constant(2.0)])
    assert dense.losses == []


def test_a_symbolic_tensor_says_what_to_use_instead():
    inputs = Input((3,))
    model = models.Model(inputs, layers.Dense(1)(inputs))
    with pytest.raises(NotImplementedError, match="self.add_loss.*functional model's own"):
        layers.Dense(2).add_loss(inputs)  # a layer's: only a functional model takes them
    model.add_loss(xf.reduce_sum(inputs))
    model(np.ones((2, 3), np.float32))
    assert [float(loss) for loss in model.losses] == [6.0]
