"""The nineteenth round, part d (see test_tf2_ports_nineteenth.py): the weights sections
of the Keras 2 (TF 2.12) guide "Serialization and saving": get_weights/set_weights between
layers and models, save_weights/load_weights in both formats with the restore status, the
guide's transfer-learning weights example, and a tf.train.Checkpoint of chosen variables.
The guide's relative paths are made under tmp_path.

Oracles: the saved weights themselves, and NumPy forward passes of the Dense stacks.
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from tests.test_tf2_ports_nineteenth_c import _dense_stack_np
from xlaflow import keras


@pytest.fixture(autouse=True)
def _seeded(tmp_path, monkeypatch):
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))
    monkeypatch.chdir(tmp_path)  # the guide saves to relative paths


def _three_layer_mlp(name="3_layer_mlp", dropout=False, units=10):
    inputs = keras.Input(shape=(784,), name="digits")
    x = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = keras.layers.Dense(64, activation="relu", name="dense_2")(x)
    if dropout:
        # Add a dropout layer, which does not contain any weights.
        x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(units, name="predictions")(x)
    return keras.Model(inputs=inputs, outputs=outputs, name=name)


class SubclassedModel(keras.Model):
    def __init__(self, output_dim, name=None):
        super().__init__(name=name)
        self.output_dim = output_dim
        self.dense_1 = keras.layers.Dense(64, activation="relu", name="dense_1")
        self.dense_2 = keras.layers.Dense(64, activation="relu", name="dense_2")
        self.dense_3 = keras.layers.Dense(output_dim, name="predictions")

    def call(self, inputs):
        x = self.dense_1(inputs)
        x = self.dense_2(x)
        x = self.dense_3(x)
        return x

    def get_config(self):
        return {"output_dim": self.output_dim, "name": self.name}


def test_saving_guide_weights_between_layers_and_models_in_memory():
    def create_layer():
        layer = keras.layers.Dense(64, activation="relu", name="dense_2")
        layer.build((None, 784))
        return layer

    layer_1 = create_layer()
    layer_2 = create_layer()

    # Copy weights from layer 1 to layer 2
    layer_2.set_weights(layer_1.get_weights())
    for a, b in zip(layer_1.weights, layer_2.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    # Create a simple functional model
    functional_model = _three_layer_mlp()

    subclassed_model = SubclassedModel(10)
    # Call the subclassed model once to create the weights.
    subclassed_model(tf.ones((1, 784)))

    # Copy weights from functional_model to subclassed_model.
    subclassed_model.set_weights(functional_model.get_weights())

    assert len(functional_model.weights) == len(subclassed_model.weights)
    for a, b in zip(functional_model.weights, subclassed_model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy())

    functional_model_with_dropout = _three_layer_mlp(dropout=True)
    functional_model_with_dropout.set_weights(functional_model.get_weights())

    x = np.random.default_rng(1).random((4, 784)).astype("float32")
    expected = _dense_stack_np(x, functional_model.get_weights(), 2)
    for model in (functional_model, subclassed_model, functional_model_with_dropout):
        np.testing.assert_allclose(model(x), expected, rtol=1e-4, atol=1e-5)


def test_saving_guide_weights_files_and_the_transfer_learning_example():
    # Runnable example
    sequential_model = keras.Sequential(
        [
            keras.Input(shape=(784,), name="digits"),
            keras.layers.Dense(64, activation="relu", name="dense_1"),
            keras.layers.Dense(64, activation="relu", name="dense_2"),
            keras.layers.Dense(10, name="predictions"),
        ]
    )
    sequential_model.save_weights("ckpt")
    load_status = sequential_model.load_weights("ckpt")

    # `assert_consumed` can be used as validation that all variable values have been
    # restored from the checkpoint. See `tf.train.Checkpoint.restore` for other
    # methods in the Status object.
    load_status.assert_consumed()

    # the .h5 format, and a fresh copy reading both (not in the guide)
    sequential_model.save_weights("weights.h5")
    saved = sequential_model.get_weights()
    copy = keras.models.clone_model(sequential_model)
    assert copy.load_weights("weights.h5") is None  # Keras 2 returns no status for HDF5
    for a, b in zip(copy.get_weights(), saved):
        np.testing.assert_array_equal(a, b)
    copy = keras.models.clone_model(sequential_model)
    copy.load_weights("ckpt").assert_existing_objects_matched()
    for a, b in zip(copy.get_weights(), saved):
        np.testing.assert_array_equal(a, b)

    functional_model = _three_layer_mlp()
    # Extract a portion of the functional model defined in the Setup section.
    # The following lines produce a new model that excludes the final output
    # layer of the functional model.
    pretrained = keras.Model(
        functional_model.inputs, functional_model.layers[-1].input, name="pretrained_model"
    )
    # Randomly assign "trained" weights.
    for w in pretrained.weights:
        w.assign(tf.random.normal(w.shape))
    pretrained.save_weights("pretrained_ckpt")

    # Assume this is a separate program where only 'pretrained_ckpt' exists.
    # Create a new functional model with a different output dimension.
    model = _three_layer_mlp(name="new_model", units=5)

    # TF matches the checkpoint's objects to the new model's and leaves the new head
    # alone; xlaflow loads all of a model's weights or none, and names what is missing
    with pytest.raises(ValueError, match="missing"):
        model.load_weights("pretrained_ckpt")

    # the guide's Sequential form: load into the recreated pretrained part itself
    inputs = keras.Input(shape=(784,), name="digits")
    x = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = keras.layers.Dense(64, activation="relu", name="dense_2")(x)
    pretrained_model = keras.Model(inputs=inputs, outputs=x, name="pretrained")

    # Sequential example:
    model = keras.Sequential([pretrained_model, keras.layers.Dense(5, name="predictions")])

    pretrained_model.load_weights("pretrained_ckpt")

    # Check that all of the pretrained weights have been loaded.
    for a, b in zip(pretrained.weights, model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy())
    assert len(model.weights) == 6


def test_saving_guide_checkpoint_of_chosen_variables_into_a_contrived_model():
    functional_model = _three_layer_mlp()
    for w in functional_model.weights:
        w.assign(tf.random.normal(w.shape))
    # First, save the weights of functional_model's first and last dense layers.
    first_dense = functional_model.layers[1]
    last_dense = functional_model.layers[-1]
    ckpt_path = tf.train.Checkpoint(
        dense=first_dense, kernel=last_dense.kernel, bias=last_dense.bias
    ).save("ckpt")

    # Define the subclassed model.
    class ContrivedModel(keras.Model):
        def __init__(self):
            super(ContrivedModel, self).__init__()  # noqa: UP008 -- as the guide writes it
            self.first_dense = keras.layers.Dense(64)
            self.kernel = self.add_variable("kernel", shape=(64, 10))
            self.bias = self.add_variable("bias", shape=(10,))

        def call(self, inputs):
            x = self.first_dense(inputs)
            return tf.matmul(x, self.kernel) + self.bias

    model = ContrivedModel()
    # Call model on inputs to create the variables of the dense layer.
    _ = model(tf.ones((1, 784)))

    # Create a Checkpoint with the same structure as before, and load the weights.
    tf.train.Checkpoint(
        dense=model.first_dense, kernel=model.kernel, bias=model.bias
    ).restore(ckpt_path).assert_consumed()

    for a, b in ((model.first_dense.kernel, first_dense.kernel),
                 (model.first_dense.bias, first_dense.bias),
                 (model.kernel, last_dense.kernel), (model.bias, last_dense.bias)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert len(model.trainable_weights) == 4  # add_variable made trainable weights
