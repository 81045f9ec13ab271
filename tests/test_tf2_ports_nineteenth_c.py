"""The nineteenth round, part c (see test_tf2_ports_nineteenth.py): the Keras 2 (TF 2.12)
guide "Serialization and saving": whole models (.keras and SavedModel directories) saved,
loaded and trained further; custom objects (registered, passed, scoped); the config
methods (its weights sections are in _d). The guide's relative paths are made under
tmp_path.

Oracles: the saved model's own outputs and weights (a reload is identical), two models
resuming from the same state staying identical, NumPy forward passes of Dense stacks.
"""

import json
import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras


@pytest.fixture(autouse=True)
def _seeded(tmp_path, monkeypatch):
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))
    monkeypatch.chdir(tmp_path)  # the guide saves to relative paths


def _dense_stack_np(x, weights, relu_layers):
    """x through Dense layers given as [kernel, bias, ...], relu on the first relu_layers."""
    h = np.asarray(x, np.float64)
    for i in range(0, len(weights), 2):
        h = h @ weights[i] + weights[i + 1]
        if i // 2 < relu_layers:
            h = np.maximum(h, 0.0)
    return h


def get_model():
    # Create a simple model.
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mean_squared_error")
    return model


@pytest.mark.parametrize("path", ["my_model.keras", "my_model"])
def test_saving_guide_whole_model_reloads_and_resumes_training(path):
    model = get_model()

    # Train the model.
    test_input = np.random.random((128, 32))
    test_target = np.random.random((128, 1))
    model.fit(test_input, test_target, verbose=0)

    # Calling `save('my_model.keras')` creates a zip archive `my_model.keras`
    # (`save('my_model')`: a SavedModel directory, the 2.12 guide's other form)
    model.save(path)

    # It can be used to reconstruct the model identically.
    reconstructed_model = keras.models.load_model(path)

    # Let's check:
    np.testing.assert_allclose(
        model.predict(test_input, verbose=0), reconstructed_model.predict(test_input, verbose=0)
    )

    # The reconstructed model is already compiled and has retained the optimizer
    # state, so training can resume:
    assert int(reconstructed_model.optimizer.iterations) == 4  # 128 samples / 32
    model.fit(test_input, test_target, verbose=0, shuffle=False)  # not in the guide:
    reconstructed_model.fit(test_input, test_target, verbose=0, shuffle=False)  # both go on
    for a, b in zip(model.get_weights(), reconstructed_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # Adam's moments came along


class CustomModel(keras.Model):
    def __init__(self, hidden_units):
        super(CustomModel, self).__init__()  # noqa: UP008 -- as the guide writes it
        self.hidden_units = hidden_units
        self.dense_layers = [keras.layers.Dense(u) for u in hidden_units]

    def call(self, inputs):
        x = inputs
        for layer in self.dense_layers:
            x = layer(x)
        return x

    def get_config(self):
        return {"hidden_units": self.hidden_units}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def test_saving_guide_subclassed_model_saved_model_with_and_without_its_class():
    model = CustomModel([16, 16, 10])
    # Build the model by calling it
    input_arr = tf.random.uniform((1, 5))
    outputs = model(input_arr)
    model.save("my_model")

    # Option 1: Load with the custom_object argument.
    loaded_1 = keras.models.load_model(
        "my_model", custom_objects={"CustomModel": CustomModel}
    )
    np.testing.assert_allclose(loaded_1(input_arr), outputs, rtol=1e-6)
    assert isinstance(loaded_1, CustomModel) and loaded_1.hidden_units == [16, 16, 10]
    np.testing.assert_allclose(outputs, _dense_stack_np(input_arr, model.get_weights(), 0),
                               rtol=1e-5, atol=1e-6)

    # Option 2 (TF revives a Keras-like object without the class): xlaflow never rebuilds
    # a class it does not know; load_model says so, naming the export's loader, whose
    # serving signature computes the same outputs
    with pytest.raises(ValueError, match=r"custom_objects=.*xf\.saved_model\.load"):
        keras.models.load_model("my_model")
    loaded_2 = tf.saved_model.load("my_model")
    (served,) = loaded_2.signatures["serving_default"](inputs=input_arr).values()
    np.testing.assert_allclose(served, outputs, rtol=1e-6)


def test_saving_guide_registered_custom_objects_and_get_custom_objects():
    registry = keras.saving.get_custom_objects()
    saved_registry = dict(registry)
    try:
        # Clear all previously registered custom objects
        keras.saving.get_custom_objects().clear()
        assert keras.utils.get_custom_objects() == {}  # the same live dictionary

        # Upon registration, you can optionally specify a package or a name.
        # If left blank, the package defaults to `Custom` and the name defaults to
        # the class name.
        @keras.saving.register_keras_serializable(package="MyLayers")
        class CustomLayer(keras.layers.Layer):
            def __init__(self, factor):
                super().__init__()
                self.factor = factor

            def call(self, x):
                return x * self.factor

            def get_config(self):
                return {"factor": self.factor}

        @keras.saving.register_keras_serializable(package="my_package", name="custom_fn")
        def custom_fn(x):
            return x**2

        assert registry == {"MyLayers>CustomLayer": CustomLayer,
                            "my_package>custom_fn": custom_fn}

        # Create the model.
        def get_model():
            inputs = keras.Input(shape=(4,))
            mid = CustomLayer(0.5)(inputs)
            outputs = keras.layers.Dense(1, activation=custom_fn)(mid)
            model = keras.Model(inputs, outputs)
            model.compile(optimizer="rmsprop", loss="mean_squared_error")
            return model

        # Train the model.
        def train_model(model):
            input = np.random.random((4, 4))
            target = np.random.random((4, 1))
            model.fit(input, target, verbose=0)
            return model

        test_input = np.random.random((4, 4))

        model = get_model()
        model = train_model(model)
        model.save("custom_model.keras")

        # Now, we can simply load without worrying about our custom objects.
        reconstructed_model = keras.models.load_model("custom_model.keras")

        # Let's check:
        np.testing.assert_allclose(
            model.predict(test_input, verbose=0),
            reconstructed_model.predict(test_input, verbose=0)
        )
        kernel, bias = model.layers[-1].get_weights()
        np.testing.assert_allclose(reconstructed_model.predict(test_input, verbose=0),
                                   (0.5 * test_input @ kernel + bias) ** 2, rtol=1e-5)
        assert isinstance(reconstructed_model.layers[1], CustomLayer)

        # Keras' registry also takes a plain name by hand (get_custom_objects()["X"] = X)
        class Doubler(keras.layers.Layer):
            def call(self, x):
                return 2.0 * x

        keras.saving.get_custom_objects()["Doubler"] = Doubler
        config = keras.saving.serialize_keras_object(Doubler())
        assert isinstance(keras.saving.deserialize_keras_object(config), Doubler)
    finally:
        registry.clear()
        registry.update(saved_registry)


class CustomLayer(keras.layers.Layer):
    def __init__(self, a):
        self.var = tf.Variable(a, name="var_a")

    def call(self, inputs, training=False):
        if training:
            return inputs * self.var
        else:
            return inputs

    def get_config(self):
        return {"a": self.var.numpy()}

    # There's actually no need to define `from_config` here, since returning
    # `cls(**config)` is the default behavior.
    @classmethod
    def from_config(cls, config):
        return cls(**config)


def test_saving_guide_config_methods_and_custom_object_scope():
    layer = CustomLayer(5)
    layer.var.assign(2)

    serialized_layer = keras.layers.serialize(layer)
    new_layer = keras.layers.deserialize(
        serialized_layer, custom_objects={"CustomLayer": CustomLayer}
    )
    assert int(new_layer.var.numpy()) == 2  # (the guide never calls it: no Layer.__init__)
    assert new_layer is not layer and new_layer.var is not layer.var

    layer = keras.layers.Dense(3, activation="relu")
    layer_config = layer.get_config()
    new_layer = keras.layers.Dense.from_config(layer_config)
    assert new_layer.get_config() == layer_config and layer_config["units"] == 3

    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(1)])
    config = model.get_config()
    new_model = keras.Sequential.from_config(config)
    assert [w.shape for w in new_model.weights] == [(32, 1), (1,)]

    inputs = keras.Input((32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)
    config = model.get_config()
    new_model = keras.Model.from_config(config)
    assert [w.shape for w in new_model.weights] == [(32, 1), (1,)]

    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(1)])
    json_config = model.to_json()
    new_model = keras.models.model_from_json(json_config)
    assert json.loads(json_config)["class_name"] == "Sequential"
    assert [type(layer).__name__ for layer in new_model.layers] == ["Dense"]

    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(1)])
    config = keras.saving.serialize_keras_object(model)
    new_model = keras.saving.deserialize_keras_object(config)
    assert isinstance(new_model, keras.Sequential)

    class DenseLayer(keras.layers.Layer):  # the guide's second CustomLayer
        def __init__(self, units=32, **kwargs):
            super(DenseLayer, self).__init__(**kwargs)  # noqa: UP008 -- the guide's form
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                     initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal",
                                     trainable=True)

        def call(self, inputs):
            return tf.matmul(inputs, self.w) + self.b

        def get_config(self):
            config = super(DenseLayer, self).get_config()  # noqa: UP008
            config.update({"units": self.units})
            return config

    def custom_activation(x):
        return tf.nn.tanh(x) ** 2

    # Make a model with the CustomLayer and custom_activation
    inputs = keras.Input((32,))
    x = DenseLayer(32)(inputs)
    outputs = keras.layers.Activation(custom_activation)(x)
    model = keras.Model(inputs, outputs)

    # Retrieve the config
    config = model.get_config()

    # At loading time, register the custom objects with a `custom_object_scope`:
    custom_objects = {"DenseLayer": DenseLayer, "custom_activation": custom_activation}
    with keras.utils.custom_object_scope(custom_objects):
        new_model = keras.Model.from_config(config)
    with keras.saving.custom_object_scope(custom_objects):  # 2.12's keras.saving spelling
        cloned = keras.models.clone_model(model)
    x = np.random.default_rng(0).normal(size=(3, 32)).astype("float32")
    for rebuilt in (new_model, cloned):
        rebuilt.set_weights(model.get_weights())
        w, b = model.get_weights()
        np.testing.assert_allclose(rebuilt(x), np.tanh(x @ w + b) ** 2, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="DenseLayer"):
        keras.Model.from_config(config)  # outside the scope the class is unknown
