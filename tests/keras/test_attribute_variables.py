"""Variables assigned to a layer's attributes, as Keras 2's Layer.__setattr__ tracks them:
nested in lists and dicts (tf.nest.flatten of the value), and dropped from the weights when
the attribute is reassigned or deleted (Layer.__delattr__), unless still held."""

import numpy as np

import xlaflow as xf

keras = xf.keras


class Nested(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.frozen = xf.Variable(1.0, trainable=False)
        self.table = {"inner": {"w": xf.Variable(2.0)}, "pair": [(xf.Variable(3.0),)]}
        self.e = xf.Variable(4.0)

    def call(self, inputs):
        return inputs * self.table["inner"]["w"] * self.table["pair"][0][0] * self.e


def test_variables_nested_in_attribute_containers_are_weights_that_fit_trains():
    layer = Nested()
    # Keras 2: trainable weights in assignment order, then the non-trainable ones
    assert [float(w.numpy()) for w in layer.weights] == [2.0, 3.0, 4.0, 1.0]
    inputs = keras.Input((1,))
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    model.fit(np.ones((2, 1), "float32"), np.zeros((2, 1), "float32"), batch_size=2,
              verbose=0)
    # d/dw of (w * v * e)^2 at 24 is 2 * 24 * v * e; one SGD step on each factor
    expected = [2.0 - 0.01 * 48 * 12, 3.0 - 0.01 * 48 * 8, 4.0 - 0.01 * 48 * 6, 1.0]
    np.testing.assert_allclose([w.numpy() for w in layer.weights], expected, rtol=1e-6)


class Holder(keras.layers.Layer):
    def __init__(self, shared):
        super().__init__()
        self.w = xf.Variable(5.0)
        self.b = xf.Variable(0.0)
        self.shared = shared
        self.also = [shared]


def test_a_reassigned_or_deleted_attribute_variable_is_no_longer_a_weight():
    shared = xf.Variable(9.0)
    layer = Holder(shared)
    layer.w = xf.Variable(3.0)
    assert [float(w.numpy()) for w in layer.weights] == [0.0, 9.0, 3.0]
    del layer.b
    assert [float(w.numpy()) for w in layer.weights] == [9.0, 3.0]
    layer.w = None
    assert [float(w.numpy()) for w in layer.weights] == [9.0]
    # still held by another attribute: it stays a weight
    layer.shared = None
    assert layer.weights == [shared]
    layer.w = layer.w  # reassigning the same value keeps it as it is
    assert layer.weights == [shared]
