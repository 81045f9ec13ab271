"""Weight regularizers: Model.losses, and fit/evaluate adding them to the loss (Keras 2)."""

import numpy as np
import pytest

import xlaflow as xf
from tests.local_platform import HERE
from xlaflow.keras import layers, models, regularizers

RNG = np.random.default_rng(7)
X = RNG.normal(size=(16, 3)).astype(np.float32)
Y = RNG.normal(size=(16, 1)).astype(np.float32)


def linear(regularizer, lr=0.1):
    model = models.Sequential([layers.Dense(1, use_bias=False, input_shape=(3,),
                                            kernel_regularizer=regularizer)])
    model.compile(optimizer=xf.keras.optimizers.SGD(lr), loss="mse")
    return model


@pytest.mark.parametrize("regularizer, l1, l2", [
    (regularizers.L2(0.05), 0.0, 0.05), ("l2", 0.0, 0.01), ("l1", 0.01, 0.0),
    (regularizers.l1_l2(0.02, 0.03), 0.02, 0.03), ({"class_name": "L1L2",
                                                    "config": {"l1": 0.0, "l2": 0.2}}, 0.0, 0.2)])
def test_fit_adds_the_penalty_to_the_loss_and_its_gradient(regularizer, l1, l2):
    model = linear(regularizer)
    (w,) = model.get_weights()
    [penalty] = model.losses
    np.testing.assert_allclose(penalty, l1 * np.abs(w).sum() + l2 * (w ** 2).sum(), rtol=1e-5)
    history = model.fit(X, Y, batch_size=16, epochs=1, shuffle=False, verbose=0).history
    residual = X @ w - Y
    expected_loss = np.mean(residual ** 2) + l1 * np.abs(w).sum() + l2 * (w ** 2).sum()
    np.testing.assert_allclose(history["loss"][0], expected_loss, rtol=1e-5)
    grad = 2 * X.T @ residual / len(X) + l1 * np.sign(w) + 2 * l2 * w
    np.testing.assert_allclose(model.get_weights()[0], w - 0.1 * grad, rtol=1e-5, atol=1e-6)
    (w,) = model.get_weights()
    np.testing.assert_allclose(
        model.evaluate(X, Y, verbose=0),
        np.mean((X @ w - Y) ** 2) + l1 * np.abs(w).sum() + l2 * (w ** 2).sum(), rtol=1e-5)


def test_recurrent_and_bias_regularizers_reach_their_weights():
    lstm = layers.LSTM(2, recurrent_regularizer=regularizers.L2(1.0),
                       bias_regularizer=regularizers.L1(1.0))
    lstm(np.zeros((1, 3, 4), np.float32))
    _, recurrent, bias = lstm.get_weights()
    np.testing.assert_allclose(sorted(float(p) for p in lstm.losses),
                               sorted([(recurrent ** 2).sum(), np.abs(bias).sum()]), rtol=1e-5)


def test_regularizers_survive_get_config_and_save(tmp_path):
    model = linear(regularizers.L1L2(l1=0.1, l2=0.2))
    config = model.layers[0].get_config()
    assert config["kernel_regularizer"] == {"class_name": "L1L2",
                                            "config": {"l1": 0.1, "l2": 0.2}}
    assert config["bias_regularizer"] is None
    model.save(tmp_path / "m", platforms=HERE)
    loaded = models.load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.losses, model.losses, rtol=1e-6)
    np.testing.assert_allclose(loaded.evaluate(X, Y, verbose=0), model.evaluate(X, Y, verbose=0),
                               rtol=1e-6)


def test_a_custom_train_step_passes_the_losses_to_compiled_loss():
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
                                  kernel_regularizer=regularizers.L2(0.5))])
    custom.compile(optimizer=xf.keras.optimizers.SGD(0.1), loss="mse")
    builtin = linear(regularizers.L2(0.5))
    builtin.set_weights(custom.get_weights())
    for model in (custom, builtin):
        model.fit(X, Y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(custom.get_weights()[0], builtin.get_weights()[0], rtol=1e-5)


def test_bad_regularizers_are_named():
    with pytest.raises(ValueError, match=r"Unknown regularizer 'l3'"):
        layers.Dense(2, kernel_regularizer="l3")
    with pytest.raises(ValueError, match=r"L2: l2 must be a number >= 0; received -1"):
        regularizers.L2(-1)
