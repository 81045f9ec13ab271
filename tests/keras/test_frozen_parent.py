"""Keras 2's `trainable` on a parent: a frozen layer or model trains none of its weights, its
unfrozen sublayers' included, and lists them in Keras 2's order (base_layer.py, training.py)."""

import numpy as np
import pytest

from xlaflow import keras
from xlaflow.layers import Layer

L = keras.layers


def _data(n=8):
    rng = np.random.RandomState(0)
    return rng.rand(n, 3).astype("float32"), rng.rand(n, 2).astype("float32")


def _ids(weights):
    return [id(w) for w in weights]


def _base():
    inputs = keras.Input((3,))
    x = L.Dense(4, name="d1")(inputs)
    x = L.Dense(4, name="d2")(x)
    return keras.Model(inputs, L.Dense(3, name="d3")(x), name="base")


def test_guide_counts_dense_and_batch_normalization():
    # the transfer-learning guide's "Layers & models have three weight attributes"
    dense = L.Dense(3)
    dense.build((None, 4))
    dense.trainable = False
    assert (len(dense.weights), len(dense.trainable_weights),
            len(dense.non_trainable_weights)) == (2, 0, 2)
    norm = L.BatchNormalization()
    norm.build((None, 4))
    assert (len(norm.weights), len(norm.trainable_weights),
            len(norm.non_trainable_weights)) == (4, 2, 2)


def test_guide_recursive_setting_of_the_trainable_attribute():
    inner = keras.Sequential([keras.Input((3,)), L.Dense(3, activation="relu"),
                              L.Dense(3, activation="relu")])
    model = keras.Sequential([keras.Input((3,)), inner, L.Dense(3, activation="sigmoid")])
    model.trainable = False
    assert inner.trainable is False and inner.layers[0].trainable is False
    assert (len(model.weights), len(model.trainable_weights),
            len(model.non_trainable_weights)) == (6, 0, 6)


def test_an_unfrozen_child_of_a_frozen_parent_trains_nothing_through_it():
    base = _base()
    base.trainable = False
    base.layers[-1].trainable = True
    assert base.trainable_weights == []
    assert len(base.layers[-1].trainable_weights) == 2
    assert len(base.non_trainable_weights) == 6
    # training.py: a frozen Model lists its layers' trainable_weights first
    d1, d2, d3 = base.layers[1:]
    assert _ids(base.non_trainable_weights) == _ids(d3.weights + d1.weights + d2.weights)
    assert _ids(base.weights) == _ids(d1.weights + d2.weights + d3.weights)  # layer by layer
    inputs = keras.Input((3,))
    head = L.Dense(2, name="head")
    outer = keras.Model(inputs, head(base(inputs)))
    assert _ids(outer.trainable_weights) == _ids(head.weights)


def test_fit_leaves_every_weight_of_the_frozen_parent_as_it_was():
    x, y = _data()
    base = _base()
    base.trainable = False
    base.layers[-1].trainable = True
    inputs = keras.Input((3,))
    outer = keras.Model(inputs, L.Dense(2, name="head")(base(inputs)))
    before_base, before_head = base.get_weights(), outer.layers[-1].get_weights()
    outer.compile(keras.optimizers.SGD(0.1), "mse")
    outer.fit(x, y, epochs=2, batch_size=4, verbose=0)
    for a, b in zip(before_base, base.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(before_head[0], outer.layers[-1].get_weights()[0])


def test_constructor_trainable_false_freezes_the_model_not_its_layers_flags():
    # Keras 2's Layer.__init__ sets only the model's own flag; its weights still freeze
    inputs = keras.Input((3,))
    model = keras.Model(inputs, L.Dense(2)(L.Dense(4)(inputs)), trainable=False)
    assert model.trainable is False and model.layers[1].trainable is True
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 4
    assert len(model.layers[1].trainable_weights) == 2
    x, y = _data()
    before = model.get_weights()
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(x, y, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_nested_models_freeze_through_every_level():
    x, y = _data()
    base = _base()
    middle = keras.Sequential([keras.Input((3,)), base, L.Dense(3, name="mid")], name="mid_m")
    outer = keras.Sequential([keras.Input((3,)), middle, L.Dense(2, name="top")])
    middle.trainable = False
    base.layers[1].trainable = True  # unfrozen two levels down: still frozen through middle
    assert base.layers[1].trainable_weights and not base.trainable_weights
    assert middle.trainable_weights == []
    assert _ids(outer.trainable_weights) == _ids(outer.layers[-1].weights)
    before = middle.get_weights()
    outer.compile(keras.optimizers.SGD(0.1), "mse")
    outer.fit(x, y, verbose=0)
    for a, b in zip(before, middle.get_weights()):
        np.testing.assert_array_equal(a, b)
    middle.trainable = True  # unfreezing the parent unfreezes everything below again
    assert len(outer.trainable_weights) == 2 * 5


class _Block(Layer):
    """A custom layer holding a Dense and a BatchNormalization (its own weight first)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(3)
        self.norm = L.BatchNormalization()

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(), initializer="ones")
        super().build(input_shape)

    def call(self, inputs, training=None):
        return self.norm(self.dense(inputs) * self.scale, training=training)


def test_a_frozen_layer_lists_its_own_weights_then_each_sublayers_weights():
    block = _Block()
    block(np.zeros((2, 3), np.float32))
    block.trainable = False
    block.norm.trainable = True  # base_layer.py: still frozen through block
    assert block.trainable_weights == []
    assert _ids(block.non_trainable_weights) == _ids(
        [block.scale] + block.dense.weights + block.norm.weights)
    block.trainable = True
    assert _ids(block.trainable_weights) == _ids(
        [block.scale, block.dense.kernel, block.dense.bias, block.norm.gamma, block.norm.beta])
    assert _ids(block.non_trainable_weights) == _ids(
        [block.norm.moving_mean, block.norm.moving_variance])


def test_batch_normalization_in_a_frozen_parent_runs_in_inference_mode():
    inputs = keras.Input((3,))
    norm = L.BatchNormalization()
    base = keras.Model(inputs, norm(L.Dense(3)(inputs)))
    base.trainable = False  # sets norm.trainable too: Keras 2 runs a frozen BN in inference
    assert norm.trainable is False
    x, y = _data()
    stats = [norm.moving_mean.numpy(), norm.moving_variance.numpy()]
    np.testing.assert_allclose(np.asarray(base(x, training=True)),
                               np.asarray(base(x, training=False)), rtol=1e-6)
    outer = keras.Sequential([keras.Input((3,)), base, L.Dense(2)])
    outer.compile(keras.optimizers.SGD(0.1), "mse")
    outer.fit(x, y, verbose=0)
    np.testing.assert_array_equal(norm.moving_mean.numpy(), stats[0])
    np.testing.assert_array_equal(norm.moving_variance.numpy(), stats[1])


def test_a_change_of_trainable_takes_effect_in_fit_at_the_next_compile():
    # Keras 2: fit keeps the step it built until compile is called again
    x, y = _data()
    model = keras.Sequential([keras.Input((3,)), L.Dense(4), L.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    model.fit(x, y, verbose=0)
    model.layers[0].trainable = False
    before = model.layers[0].get_weights()
    model.fit(x, y, verbose=0)
    assert not np.allclose(before[0], model.layers[0].get_weights()[0])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    before = model.layers[0].get_weights()
    model.fit(x, y, verbose=0)
    np.testing.assert_array_equal(before[0], model.layers[0].get_weights()[0])


@pytest.mark.parametrize("trainable", [True, False])
def test_set_weights_follows_weights_whatever_is_frozen(trainable):
    block = _Block()
    block(np.zeros((2, 3), np.float32))
    block.trainable = trainable
    values = [np.full(w.shape, i, np.float32) for i, w in enumerate(block.weights)]
    block.set_weights(values)
    for value, weight in zip(values, block.weights):
        np.testing.assert_array_equal(weight.numpy(), value)
