"""TF 2's 'customizing what happens in fit': models with their own train/test/predict steps,
metric trackers, compiled_loss and compiled_metrics, and a subclassed model's call."""

import jax.numpy as jnp
import numpy as np

import xlaflow as xf
from tests.keras.test_training import X, Y
from xlaflow.keras import callbacks, layers, models


def test_subclassed_model_with_python_control_flow():
    class Gated(models.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(8, activation="relu")
            self.out = layers.Dense(3, activation="softmax")

        def call(self, inputs, training=None):
            h = self.hidden(inputs)
            if jnp.mean(h) > 100.0:  # a tensor condition: AutoGraph makes it lax.cond
                h = h * 0.0
            return self.out(h)

    model = Gated()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(X, Y, epochs=3, batch_size=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert len(model.trainable_weights) == 4


class TrackedLoss(xf.keras.Model):
    """TF2's 'customizing fit' model: its own loss tracker, listed by `metrics`."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1)
        self.loss_tracker = xf.keras.metrics.Mean(name="loss")

    def call(self, x, training=None):
        return self.dense(x)

    def train_step(self, data):
        x, y = data
        with xf.GradientTape() as tape:
            loss = xf.keras.losses.MeanSquaredError()(y, self(x, training=True))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]


def test_a_models_own_metric_trackers_reset_each_epoch_as_in_keras():
    x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(32, 1)).astype(np.float32)
    model = TrackedLoss()
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0))  # weights stay: losses repeat
    seen = []
    logger = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(
        float(logs["loss"])))
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0, callbacks=[logger])
    p = model.predict(x, verbose=0)
    first, second = np.mean((p[:16] - y[:16]) ** 2), np.mean((p[16:] - y[16:]) ** 2)
    np.testing.assert_allclose(seen, [first, (first + second) / 2] * 2, rtol=1e-5)


class Customized(xf.keras.Model):
    """TF 2's 'customizing what happens in fit': train/test/predict steps of its own, with
    compiled_loss and compiled_metrics."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1)

    def call(self, x, training=None):
        return self.dense(x)

    def train_step(self, data):
        x, y = data
        with xf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        self.compiled_metrics.update_state(y, 2.0 * self(x, training=False))  # its own rule
        return {m.name: m.result() for m in self.compiled_metrics.metrics}

    def predict_step(self, data):
        return self(data, training=False) + 100.0


def test_custom_train_test_and_predict_steps_with_compiled_loss_and_metrics():
    x = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(30, 1)).astype(np.float32)
    model = Customized()
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0), loss="mse", metrics=["mae"])
    history = model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    p = np.asarray(model(x))
    np.testing.assert_allclose(history.history["loss"], [np.mean((p - y) ** 2)], rtol=1e-5)
    np.testing.assert_allclose(history.history["mae"], [np.mean(np.abs(p - y))], rtol=1e-5)
    scores = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)  # test_step
    assert list(scores) == ["mae"]
    np.testing.assert_allclose(scores["mae"], np.mean(np.abs(2 * p - y)),
                               rtol=1e-5)
    np.testing.assert_allclose(model.predict(x, batch_size=8, verbose=0), p + 100.0,
                               rtol=1e-6)  # predict_step
