"""`weights`/get_weights/set_weights order, checked against Keras 2's rules.

Keras 2 (base_layer.py): Layer.weights = trainable_weights + non_trainable_weights, each
recursive over the sublayers, a frozen layer's weights all non-trainable; training.py:
Model.weights = each tracked layer's `variables` (its `weights`) in turn, then the model's
own. The expected lists below are those rules worked out by hand.
"""

import numpy as np

from xlaflow import keras

layers = keras.layers


class Block(layers.Layer):
    """A residual-style block written as a Layer (not a Model): Dense, BN, Dense."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d1 = layers.Dense(3, name="d1")
        self.bn = layers.BatchNormalization(name="bn")
        self.d2 = layers.Dense(3, name="d2")

    def call(self, x, training=None):
        return self.d2(self.bn(self.d1(x), training=training))


class CountsThenScales(layers.Layer):
    """A non-trainable weight created before a trainable one of the same shape."""

    def build(self, input_shape):
        self.count = self.add_weight("count", (3,), trainable=False, initializer="zeros")
        self.scale = self.add_weight("scale", (3,), initializer="ones")

    def call(self, inputs):
        return inputs * self.scale + self.count


def _names(weights):
    return [w.name for w in weights]


def _x():
    return np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)


def test_a_batch_normalization_lists_gamma_beta_then_the_moving_statistics():
    bn = layers.BatchNormalization(name="bn")
    bn.build((None, 3))
    assert _names(bn.weights) == ["bn/gamma", "bn/beta", "bn/moving_mean",
                                  "bn/moving_variance"]
    bn.trainable = False  # all four non-trainable, same order
    assert _names(bn.weights) == _names(bn.non_trainable_weights) == [
        "bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance"]


def test_a_layer_lists_its_trainable_weights_before_its_others_whatever_the_creation_order():
    layer = CountsThenScales(name="cs")
    layer(_x())
    assert _names(layer.weights) == ["cs/scale", "cs/count"]
    layer.set_weights([np.float32([2, 3, 4]), np.float32([5, 6, 7])])  # Keras 2's list
    np.testing.assert_array_equal(layer.scale.numpy(), [2, 3, 4])
    np.testing.assert_array_equal(layer.count.numpy(), [5, 6, 7])


def test_a_layer_with_sublayers_lists_every_trainable_weight_before_the_moving_statistics():
    block = Block(name="block")
    block(_x())
    assert _names(block.weights) == ["d1/kernel", "d1/bias", "bn/gamma", "bn/beta",
                                     "d2/kernel", "d2/bias", "bn/moving_mean",
                                     "bn/moving_variance"]
    assert block.weights == block.trainable_weights + block.non_trainable_weights


def test_freezing_a_sublayer_moves_its_weights_into_the_non_trainable_part():
    block = Block(name="block")
    block(_x())
    block.d1.trainable = False
    # non_trainable = own (none) + each child's non_trainable_variables in order:
    # d1 (frozen: all), bn (moving statistics), d2 (none)
    assert _names(block.weights) == ["bn/gamma", "bn/beta", "d2/kernel", "d2/bias",
                                     "d1/kernel", "d1/bias", "bn/moving_mean",
                                     "bn/moving_variance"]


def test_set_weights_takes_a_keras_2_list_without_swapping_equally_shaped_weights():
    block = Block(name="block")
    block(_x())
    # value i at Keras 2 position i: each weight must hold its own position's value
    values = [np.full(w.shape, i, np.float32) for i, w in enumerate(block.weights)]
    block.set_weights(values)
    expected = {"d1/kernel": 0, "d1/bias": 1, "bn/gamma": 2, "bn/beta": 3, "d2/kernel": 4,
                "d2/bias": 5, "bn/moving_mean": 6, "bn/moving_variance": 7}
    for weight in (block.d1.kernel, block.d1.bias, block.bn.gamma, block.bn.beta,
                   block.d2.kernel, block.d2.bias, block.bn.moving_mean,
                   block.bn.moving_variance):
        np.testing.assert_array_equal(weight.numpy(), expected[weight.name])
    np.testing.assert_array_equal(block.get_weights()[6], np.full((3,), 6, np.float32))


def test_a_model_goes_layer_by_layer_with_each_layers_own_order():
    inputs = keras.Input((3,))
    outputs = layers.Dense(3, name="head")(Block(name="block")(inputs))
    model = keras.Model(inputs, outputs)
    assert _names(model.weights) == ["d1/kernel", "d1/bias", "bn/gamma", "bn/beta",
                                     "d2/kernel", "d2/bias", "bn/moving_mean",
                                     "bn/moving_variance", "head/kernel", "head/bias"]
    model.get_layer("head").trainable = False  # a Model's layers keep their places
    assert _names(model.weights)[-2:] == ["head/kernel", "head/bias"]


def test_a_subclassed_models_own_weights_come_after_its_layers():
    class Scaled(keras.Model):
        def __init__(self):
            super().__init__(name="scaled")
            self.dense = layers.Dense(3, name="dense")
            self.offset = self.add_weight("offset", (3,), trainable=False,
                                          initializer="zeros")
            self.scale = self.add_weight("scale", (3,), initializer="ones")

        def call(self, x):
            return self.dense(x) * self.scale + self.offset

    model = Scaled()
    model(_x())
    assert _names(model.weights) == ["dense/kernel", "dense/bias", "scaled/scale",
                                     "scaled/offset"]
    assert set(map(id, model.weights)) == set(map(id, model.trainable_weights
                                                  + model.non_trainable_weights))
