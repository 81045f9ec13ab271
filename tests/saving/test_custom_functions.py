"""User functions in saved Keras configs: activations and losses saved by their registered
name (or __name__) and found again through the registry, custom_objects or a scope, as
Keras 2 resolves them. Oracle: the functions applied in NumPy."""

import os

import numpy as np
import pytest

from xlaflow import keras
from xlaflow.keras import layers


@keras.utils.register_keras_serializable(package="tests_fn")
def cube(x):
    return x ** 3


@keras.utils.register_keras_serializable(package="tests_fn")
def twice_mae(y_true, y_pred):
    return abs(y_true - y_pred).mean(axis=-1) * 2.0


def halved(x):
    return x / 2


def test_registered_and_plain_activation_functions_save_by_name(tmp_path):
    dense = layers.Dense(2, activation=cube)
    assert dense.get_config()["activation"] == "tests_fn>cube"
    assert keras.activations.get("tests_fn>cube") is cube
    assert layers.Dense(2, activation=halved).get_config()["activation"] == "halved"
    with pytest.raises(ValueError, match="Unknown activation 'halved'.*custom_objects"):
        keras.activations.get("halved")
    with keras.utils.custom_object_scope({"halved": halved}):
        assert keras.activations.get("halved") is halved
    with pytest.raises(ValueError, match="lambda|no Keras name"):
        layers.Dense(2, activation=lambda x: x).get_config()

    inputs = keras.Input((3,))
    model = keras.Model(inputs, layers.Dense(2, activation=halved)(
        layers.Dense(3, activation=cube)(inputs)))
    path = os.fspath(tmp_path / "m.keras")
    model.save(path)
    with keras.utils.CustomObjectScope({"halved": halved}):
        loaded = keras.models.load_model(path)
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    _, first, second = model.layers  # Keras 2 lists the InputLayer first
    hidden = (x @ first.kernel.numpy() + first.bias.numpy()) ** 3
    np.testing.assert_allclose(loaded(x), (hidden @ second.kernel.numpy() +
                                           second.bias.numpy()) / 2, rtol=1e-5)


def test_losses_get_finds_registered_and_scoped_losses():
    y_true = np.array([[0.0, 1.0]], np.float32)
    y_pred = np.array([[0.5, 0.0]], np.float32)
    loss = keras.losses.get("tests_fn>twice_mae")
    assert float(loss(y_true, y_pred)) == pytest.approx(1.5)

    class Scaled(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return 10.0 * abs(y_true - y_pred).mean(axis=-1)

    with pytest.raises(ValueError, match="Unknown loss 'Scaled'.*custom_objects"):
        keras.losses.get("Scaled")
    with keras.utils.custom_object_scope({"Scaled": Scaled}):
        assert float(keras.losses.get("Scaled")(y_true, y_pred)) == pytest.approx(7.5)
