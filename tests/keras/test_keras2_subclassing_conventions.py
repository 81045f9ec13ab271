"""Keras 2 conventions the subclassing guide relies on: a Variable assigned to a layer is a
weight, `layer.metrics` lists held Metric objects, initializers are called as `init(shape,
dtype)`, TF DataType enum values are dtypes, and add_loss alone is a loss for fit."""

import numpy as np
import pytest

import xlaflow as xf

keras = xf.keras
layers = keras.layers


class Scale(layers.Layer):
    def __init__(self):
        super().__init__()
        self.w = xf.Variable(np.full((3,), 2.0, "float32"))
        self.count = xf.Variable(0.0, trainable=False)

    def call(self, inputs):
        self.count.assign_add(1.0)
        return inputs * self.w


def test_a_variable_attribute_is_a_weight_that_fit_trains():
    layer = Scale()
    assert layer.trainable_weights == [layer.w] and layer.non_trainable_weights == [
        layer.count]
    inputs = keras.Input((3,))
    model = keras.Model(inputs, layer(inputs))
    assert model.count_params() == 4
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = np.ones((4, 3), "float32")
    model.fit(x, np.zeros((4, 3), "float32"), batch_size=4, epochs=1, verbose=0)
    # one SGD step on mean((x * w)^2): w - 0.1 * 2 * w / 3 (the mean runs over 3 features)
    np.testing.assert_allclose(layer.w.numpy(), np.full(3, 2.0 - 0.1 * 4.0 / 3), rtol=1e-6)
    layer.w = layer.w  # assigning the same Variable again does not list it twice
    assert len(layer.weights) == 2


def test_layer_metrics_lists_held_metric_objects_of_sublayers():
    class Inner(layers.Layer):
        def __init__(self):
            super().__init__()
            self.acc = keras.metrics.BinaryAccuracy()
            self.pair = [keras.metrics.Mean(name="m"), 3]

    class Outer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = Inner()

    outer = Outer()
    assert outer.metrics == [outer.inner.acc, outer.inner.pair[0]]
    assert layers.Dense(2).metrics == []


def test_layer_metrics_finds_metrics_nested_in_attribute_containers():
    # Keras 2's __setattr__ tracks the Metrics of tf.nest.flatten(value): any depth
    class Deep(layers.Layer):
        def __init__(self):
            super().__init__()
            self.table = {"x": {"y": keras.metrics.Mean(name="deep")}}
            self.rows = [[keras.metrics.Mean(name="row")], ()]

    deep = Deep()
    assert deep.metrics == [deep.table["x"]["y"], deep.rows[0][0]]


def test_initializers_are_called_as_tf_calls_them():
    init = keras.initializers.RandomNormal(stddev=0.5, seed=3)
    a = init(shape=(200, 5))
    assert a.dtype == np.float32 and a.shape == (200, 5)
    np.testing.assert_array_equal(np.asarray(init((200, 5), dtype="float32")), np.asarray(a))
    assert 0.4 < float(np.std(np.asarray(a))) < 0.6
    keras.utils.set_random_seed(1)
    first = np.asarray(xf.random_normal_initializer()(shape=(4,)))
    second = np.asarray(xf.random_normal_initializer()(shape=(4,)))
    assert not np.array_equal(first, second)  # unseeded calls draw from the global stream
    keras.utils.set_random_seed(1)
    np.testing.assert_array_equal(np.asarray(xf.random_normal_initializer()(shape=(4,))),
                                  first)
    np.testing.assert_array_equal(np.asarray(xf.zeros_initializer()((2,), "int32")),
                                  np.zeros(2, "int32"))
    np.testing.assert_array_equal(np.asarray(xf.constant_initializer(1.5)((2,))),
                                  [1.5, 1.5])


def test_tf_datatype_enum_values_are_dtypes():
    assert xf.zeros(1, 1).dtype == np.float32 and xf.zeros(1, 1).shape == (1,)
    assert xf.ones((2,), 3).dtype == np.int32 and xf.zeros((2,), 10).dtype == np.bool_
    with pytest.raises(TypeError, match="not a TF DataType enum value"):
        xf.zeros((2,), 7)  # 7 is DT_STRING


def test_keras_backend_std_and_random_normal():
    x = np.arange(12.0, dtype="float32").reshape(3, 4)
    np.testing.assert_allclose(np.asarray(keras.backend.std(x, axis=0)), np.std(x, axis=0),
                               rtol=1e-6)
    draws = np.asarray(keras.backend.random_normal((4000,), mean=1.0, stddev=2.0))
    assert draws.dtype == np.float32 and abs(draws.mean() - 1.0) < 0.15
    assert abs(draws.std() - 2.0) < 0.15


def test_compile_without_a_loss_trains_on_added_losses_only():
    class Penalty(layers.Layer):
        def call(self, inputs):
            self.add_loss(xf.reduce_sum(inputs ** 2))
            return inputs

    inputs = keras.Input((2,))
    model = keras.Model(inputs, Penalty()(layers.Dense(2)(inputs)))
    model.compile(optimizer="sgd")
    x = np.ones((8, 2), "float32")
    kernel, bias = model.get_weights()
    logs = model.evaluate(x, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(np.sum((x @ kernel + bias) ** 2), rel=1e-5)
    plain = keras.Sequential([keras.Input((2,)), layers.Dense(2)])
    plain.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="no loss and the model added none"):
        plain.fit(x, x, verbose=0)


def test_a_lone_argument_that_is_no_keras_tensor_is_ignored_by_model_init():
    # Keras 2.12's Model.__init__ builds a functional model only from inputs and outputs;
    # a lone other argument is dropped. TF's text-generation tutorial passes `self`.
    class Passes(keras.Model):
        def __init__(self):
            super().__init__(self)
            self.dense = layers.Dense(2, kernel_initializer="ones")

        def call(self, inputs):
            return self.dense(inputs)

    model = Passes()
    np.testing.assert_allclose(model(np.ones((1, 3), "float32")), [[3.0, 3.0]])
    # a Keras tensor alone still means a functional model missing its outputs
    with pytest.raises(ValueError, match="needs both inputs= and outputs="):
        keras.Model(keras.Input((3,)))
