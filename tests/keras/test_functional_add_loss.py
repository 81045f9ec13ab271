"""Keras 2's model.add_loss / model.add_metric of a functional model's graph tensors (the
functional VAE: `vae.add_loss(kl_loss); vae.compile("adam"); vae.fit(x)`).

Oracle: the same penalty computed with NumPy from the layers' weights.
"""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


def build():
    inputs = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(3, activation="tanh", name="hidden")(inputs)
    outputs = keras.layers.Dense(1, name="out")(hidden)
    model = keras.Model(inputs, outputs)
    return model, hidden


def numpy_hidden(model, x):
    kernel, bias = model.get_layer("hidden").get_weights()
    return np.tanh(x @ kernel + bias)


def test_a_graph_tensor_added_as_a_loss_joins_every_calls_losses():
    model, hidden = build()
    model.add_loss(0.1 * xf.reduce_mean(xf.square(hidden)))
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    model(x)
    (penalty,) = model.losses
    np.testing.assert_allclose(penalty, 0.1 * np.mean(numpy_hidden(model, x) ** 2), rtol=1e-5)
    y = np.ones((8, 1), np.float32)
    model.compile("sgd", "mse")
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    prediction = model.predict(x, verbose=0)
    expected = np.mean((prediction - y) ** 2) + 0.1 * np.mean(numpy_hidden(model, x) ** 2)
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-5)


def test_a_model_compiled_without_a_loss_trains_on_the_added_one_and_logs_its_metric():
    model, hidden = build()
    model.add_loss(xf.reduce_mean(xf.square(hidden - 0.5)))
    model.add_metric(xf.reduce_mean(hidden), name="hidden_mean")
    x = np.random.default_rng(1).normal(size=(32, 4)).astype("float32")
    model.compile(keras.optimizers.SGD(0.5))
    history = model.fit(x, epochs=4, batch_size=8, verbose=0, validation_data=(x,))
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    last_mean = np.mean(numpy_hidden(model, x))
    np.testing.assert_allclose(history.history["val_hidden_mean"][-1], last_mean, rtol=1e-4)
    assert len(history.history["hidden_mean"]) == 4


def test_an_added_metric_needs_a_name():
    model, hidden = build()
    with pytest.raises(ValueError, match="expected a name"):
        model.add_metric(xf.reduce_mean(hidden))
    with pytest.raises(NotImplementedError, match="aggregation='sum'"):
        model.add_metric(xf.reduce_mean(hidden), name="m", aggregation="sum")


def test_a_loss_through_a_layer_off_the_outputs_path_trains_that_layer():
    # Keras 2 inserts the layers an added loss needs into the model: their weights train
    inputs = keras.Input(shape=(4,))
    outputs = keras.layers.Dense(1, name="out")(inputs)
    side = keras.layers.Dense(2, name="side")
    model = keras.Model(inputs, outputs)
    model.add_loss(xf.reduce_mean(xf.square(side(inputs))))
    names = [layer.name for layer in model.layers]
    assert names[1] == "out" and "side" in names[2:]  # after the outputs' layers
    assert {w.name for w in model.trainable_weights} >= {"side/kernel", "side/bias"}
    x = np.random.default_rng(2).normal(size=(16, 4)).astype("float32")
    kernel, bias = (w.copy() for w in side.get_weights())
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(x, np.zeros((16, 1), np.float32), epochs=1, batch_size=16, verbose=0)
    # one SGD step on mean((x @ k + b)^2): its gradient by hand
    h = x @ kernel + bias
    np.testing.assert_allclose(side.get_weights()[0],
                               kernel - 0.1 * x.T @ (2 * h / h.size), rtol=1e-4, atol=1e-6)


def test_added_losses_and_metrics_survive_the_config_and_save(tmp_path):
    # get_config raised KeyError on the loss's op layers; Keras 2 keeps them in the config
    model, hidden = build()
    model.add_loss(0.1 * xf.reduce_mean(xf.square(hidden)))
    model.add_metric(xf.reduce_mean(hidden), name="hidden_mean")
    x = np.random.default_rng(3).normal(size=(8, 4)).astype("float32")
    y = np.ones((8, 1), np.float32)
    model.compile("sgd", "mse")
    expected = model.evaluate(x, y, verbose=0, return_dict=True)
    penalty = 0.1 * np.mean(numpy_hidden(model, x) ** 2)
    rebuilt = keras.Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    rebuilt(x)
    (got,) = rebuilt.losses
    np.testing.assert_allclose(got, penalty, rtol=1e-5)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    logs = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "hidden_mean"}
    np.testing.assert_allclose(logs["loss"], expected["loss"], rtol=1e-5)
    np.testing.assert_allclose(logs["hidden_mean"], np.mean(numpy_hidden(model, x)),
                               rtol=1e-5)


def test_a_tensor_from_another_graph_is_refused_before_the_model_changes():
    model, hidden = build()
    other = keras.Input(shape=(4,))
    mixed = xf.reduce_mean(keras.layers.Dense(2)(hidden)) + xf.reduce_mean(other)
    nodes, layers = list(model._graph.nodes), model.layers
    with pytest.raises(ValueError, match="not among the model's inputs"):
        model.add_loss(mixed)
    assert model._graph.nodes == nodes and model.layers == layers


def test_a_clone_keeps_the_added_losses_and_metrics():
    model, hidden = build()
    model.add_loss(0.1 * xf.reduce_mean(xf.square(hidden)))
    model.add_metric(xf.reduce_mean(hidden), name="hidden_mean")
    clone = keras.models.clone_model(model)
    x = np.random.default_rng(2).normal(size=(4, 4)).astype("float32")
    clone(x)
    (penalty,) = clone.losses
    np.testing.assert_allclose(penalty, 0.1 * np.mean(numpy_hidden(clone, x) ** 2), rtol=1e-5)
    clone.compile("sgd", "mse")
    logs = clone.evaluate(x, np.zeros((4, 1)), verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["hidden_mean"], np.mean(numpy_hidden(clone, x)),
                               rtol=1e-5)
