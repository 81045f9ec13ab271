"""activity_regularizer (Keras 2): `penalty(output) / batch size` joins `layer.losses` after
each forward pass and the training loss in fit; checked against numpy."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models, regularizers

RNG = np.random.default_rng(5)
X = RNG.normal(size=(8, 3)).astype(np.float32)
Y = RNG.normal(size=(8, 1)).astype(np.float32)
L1, L2 = 0.03, 0.2


def _penalty(out):
    return (L1 * np.abs(out).sum() + L2 * (out ** 2).sum()) / out.shape[0]


def _reg():
    return regularizers.L1L2(L1, L2)


def _sequential():
    return models.Sequential([layers.Dense(1, use_bias=False, input_shape=(3,),
                                           activity_regularizer=_reg())])


def _functional():
    inputs = xf.keras.Input((3,))
    return models.Model(inputs, layers.Dense(1, use_bias=False,
                                             activity_regularizer=_reg())(inputs))


class _Subclassed(models.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1, use_bias=False, activity_regularizer=_reg())

    def call(self, x):
        return self.dense(x)


BUILDERS = {"sequential": _sequential, "functional": _functional, "subclassed": _Subclassed}


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_eager_call_puts_the_penalty_in_losses_and_the_next_call_replaces_it(kind):
    model = BUILDERS[kind]()
    out = np.asarray(model(X))
    [loss] = model.losses
    np.testing.assert_allclose(loss, _penalty(out), rtol=1e-5)
    out = np.asarray(model(X[:3] * 2))
    [loss] = model.losses  # the last pass only
    np.testing.assert_allclose(loss, _penalty(out), rtol=1e-5)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_fit_adds_the_penalty_to_the_loss_and_its_gradient(kind):
    model = BUILDERS[kind]()
    model(X)  # build
    model.compile(optimizer=xf.keras.optimizers.SGD(0.1), loss="mse")
    (w,) = model.get_weights()
    history = model.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    out = X @ w
    np.testing.assert_allclose(history["loss"][0], np.mean((out - Y) ** 2) + _penalty(out),
                               rtol=1e-5)
    grad = X.T @ (2 * (out - Y) + L1 * np.sign(out) + 2 * L2 * out) / len(X)
    np.testing.assert_allclose(model.get_weights()[0], w - 0.1 * grad, rtol=1e-5, atol=1e-6)
    (w,) = model.get_weights()
    out = X @ w
    np.testing.assert_allclose(model.evaluate(X, Y, verbose=0),
                               np.mean((out - Y) ** 2) + _penalty(out), rtol=1e-5)


def test_every_output_and_every_call_counts():
    shared = layers.Dense(2, activity_regularizer=regularizers.L2(1.0))
    lstm = layers.LSTM(2, return_state=True, activity_regularizer=regularizers.L1(1.0))
    a, b = X[:, :2], X[:, 1:]
    inputs = [xf.keras.Input((2,)), xf.keras.Input((2,))]
    model = models.Model(inputs, layers.Add()([shared(inputs[0]), shared(inputs[1])]))
    model([a, b])
    expected = [(np.asarray(shared(v)) ** 2).sum() / len(v) for v in (a, b)]
    model([a, b])  # the calls above were outermost themselves: refresh the model's own pass
    np.testing.assert_allclose(sorted(map(float, model.losses)), sorted(expected), rtol=1e-5)
    seq = RNG.normal(size=(4, 5, 3)).astype(np.float32)
    outputs = lstm(seq)
    assert len(outputs) == 3 and len(lstm.losses) == 3  # Keras: output, h and c
    np.testing.assert_allclose(lstm.losses, [np.abs(np.asarray(o)).sum() / 4 for o in outputs],
                               rtol=1e-5)


def test_a_custom_train_step_reads_the_penalty_inside_the_tape():
    class Custom(models.Sequential):
        def train_step(self, data):
            x, y = data
            with xf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return {"loss": loss}

    custom = Custom([layers.Dense(1, use_bias=False, input_shape=(3,),
                                  activity_regularizer=_reg())])
    custom.compile(optimizer=xf.keras.optimizers.SGD(0.1), loss="mse")
    (w,) = custom.get_weights()
    logs = custom.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    out = X @ w
    np.testing.assert_allclose(logs["loss"][0], np.mean((out - Y) ** 2) + _penalty(out),
                               rtol=1e-5)


def test_a_functional_loss_in_a_custom_loop_sees_the_penalty():
    model = _sequential()
    model(X)
    (w,) = model.get_weights()

    def loss():
        return jnp.mean((model(X) - Y) ** 2) + sum(model.losses)

    value, (grad,) = xf.value_and_grad(loss, wrt=model.trainable_variables)()
    out = X @ w
    np.testing.assert_allclose(value, np.mean((out - Y) ** 2) + _penalty(out), rtol=1e-5)
    np.testing.assert_allclose(
        grad, X.T @ (2 * (out - Y) + L1 * np.sign(out) + 2 * L2 * out) / len(X), rtol=1e-5)
    # a penalty traced in a finished trace is not handed out afterwards
    assert model.losses == []


def test_weight_and_activity_penalties_together_and_config_round_trip():
    dense = layers.Dense(2, kernel_regularizer=regularizers.L2(1.0),
                         activity_regularizer=regularizers.L1(0.5))
    out = np.asarray(dense(X))
    kernel_penalty, activity_penalty = (float(p) for p in dense.losses)
    np.testing.assert_allclose(kernel_penalty, (dense.kernel.numpy() ** 2).sum(), rtol=1e-5)
    np.testing.assert_allclose(activity_penalty, 0.5 * np.abs(out).sum() / len(X), rtol=1e-5)
    config = dense.get_config()
    assert config["activity_regularizer"] == {"class_name": "L1", "config": {"l1": 0.5}}
    clone = layers.Dense.from_config(config)
    assert isinstance(clone.activity_regularizer, regularizers.L1)
    assert clone.get_config() == config
