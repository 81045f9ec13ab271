"""model.input_shape / model.output_shape as Keras 2 reports them (TF's DCGAN tutorial
asserts `model.output_shape == (None, 7, 7, 256)` after each add)."""

import numpy as np
import pytest

from xlaflow import keras
from xlaflow.keras import layers


def test_sequential_output_shape_follows_each_add():
    # closed forms: Dense -> units; Conv2DTranspose stride 2 'same' doubles; Reshape as given
    model = keras.Sequential()
    model.add(layers.Dense(2 * 2 * 4, use_bias=False, input_shape=(6,)))
    assert model.input_shape == (None, 6) and model.output_shape == (None, 16)
    model.add(layers.Reshape((2, 2, 4)))
    assert model.output_shape == (None, 2, 2, 4)
    model.add(layers.Conv2DTranspose(3, 3, strides=2, padding="same"))
    assert model.output_shape == (None, 4, 4, 3)
    model.add(layers.Conv2D(5, 3))  # 'valid': 4 - 3 + 1
    assert model.output_shape == (None, 2, 2, 5)


def test_a_variable_length_stays_none():
    model = keras.Sequential([keras.Input((None,), dtype="int32"), layers.Embedding(10, 3),
                              layers.GRU(5, return_sequences=True)])
    assert model.input_shape == (None, None)
    assert model.output_shape == (None, None, 5)


def test_functional_model_lists_several_inputs_and_outputs():
    a, b = keras.Input((3,)), keras.Input((5,), batch_size=4)
    model = keras.Model([a, b], [layers.Dense(2)(a), layers.concatenate([a, a])])
    assert model.input_shape == [(None, 3), (4, 5)]
    assert model.output_shape == [(None, 2), (None, 6)]
    single = keras.Model(a, layers.Dense(7)(a))
    assert single.input_shape == (None, 3) and single.output_shape == (None, 7)


def test_built_subclassed_model_and_unbuilt_model():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(4)

        def call(self, x):
            return self.dense(x)[:, :3]

    net = Net()
    net.build((None, 8))
    assert net.input_shape == (None, 8) and net.output_shape == (None, 3)
    unbuilt = keras.Sequential([layers.Dense(3)])
    assert not hasattr(unbuilt, "output_shape")  # an AttributeError, as Keras
    with pytest.raises(AttributeError, match="output_shape is not known before the model"):
        unbuilt.output_shape  # noqa: B018


def test_functional_shapes_keep_the_structure_of_inputs_and_outputs():
    # Keras 2: tf.nest.map_structure(int_shape, model.input), a one-element list unwrapped
    a, b = keras.Input((3,), name="a"), keras.Input((4,), name="b")
    joined = keras.layers.Dense(2)(keras.layers.Concatenate()([a, b]))
    other = keras.layers.Dense(5)(a)
    by_name = keras.Model({"a": a, "b": b}, {"x": joined, "y": other})
    assert by_name.input_shape == {"a": (None, 3), "b": (None, 4)}
    assert by_name.output_shape == {"x": (None, 2), "y": (None, 5)}
    pair = keras.Model((a, b), (joined, other))
    assert pair.input_shape == ((None, 3), (None, 4))
    assert pair.output_shape == ((None, 2), (None, 5))
    single = keras.Model([a], [other])
    assert single.input_shape == (None, 3) and single.output_shape == (None, 5)


def test_a_sequential_whose_first_layer_is_a_model_with_an_input_shape_is_built():
    # Keras 2 finds the input shape in the first layer of the deepest nested model
    # (get_input_shape_and_dtype), so the outer Sequential is built at once
    inner = keras.Sequential([layers.Dense(2, input_shape=(3,))])
    outer = keras.Sequential([inner, layers.Dense(6)])
    assert outer.input_shape == (None, 3) and outer.output_shape == (None, 6)
    assert [tuple(w.shape) for w in outer.weights] == [(3, 2), (2,), (2, 6), (6,)]
    x = keras.Input((4,))
    functional = keras.Model(x, layers.Dense(5)(x))
    stacked = keras.Sequential([keras.Sequential([functional]), layers.Dense(1)])
    assert stacked.input_shape == (None, 4) and stacked.output_shape == (None, 1)
    tokens = keras.Sequential([keras.Input((5,), dtype="int32"), layers.Embedding(10, 2)])
    classifier = keras.Sequential([tokens, layers.Flatten(), layers.Dense(1)])
    assert classifier.output_shape == (None, 1)
    assert classifier.predict(np.arange(10).reshape(2, 5), verbose=0).shape == (2, 1)
