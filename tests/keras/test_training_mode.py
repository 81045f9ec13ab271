"""Keras 2's training mode: an explicit `training=` wins, then the enclosing layer call's
mode, then the default in the layer's `call` signature (True for the augmentation layers)."""

import numpy as np

import xlaflow as xf
from xlaflow import keras
from xlaflow.keras import layers


class Records(keras.layers.Layer):
    """Remembers the `training` each call received; its own default is False."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = []

    def call(self, inputs, training=False):
        self.seen.append(training)
        return inputs


class Forgets(keras.layers.Layer):
    """A custom block that calls its sublayers without forwarding `training`, as many
    user layers do: Keras 2 hands them the mode of the enclosing call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = Records()
        self.dropout = layers.Dropout(0.5, seed=0)

    def call(self, inputs):
        return self.dropout(self.inner(inputs))


def test_the_enclosing_call_mode_reaches_sublayers_that_are_not_passed_it():
    block = Forgets()
    x = np.ones((8, 64), np.float32)
    np.testing.assert_array_equal(block(x), x)  # no mode anywhere: the defaults
    assert block.inner.seen == [False]
    out = np.asarray(block(x, training=True))
    assert block.inner.seen[-1] is True
    assert set(np.unique(out)) == {0.0, 2.0}  # the dropout ran: kept values scaled by 2
    np.testing.assert_array_equal(block(x, training=False), x)
    assert block.inner.seen[-1] is False


def test_an_explicit_mode_wins_over_the_enclosing_one():
    inner = Records()

    class Outer(keras.layers.Layer):
        def call(self, inputs, training=None):
            return inner(inputs, training=False)

    Outer()(np.ones((2, 2), np.float32), training=True)
    assert inner.seen == [False]


def test_fit_reaches_a_dropout_the_model_does_not_forward_training_to():
    class Model(keras.Model):
        def __init__(self):
            super().__init__()
            self.block = Forgets()
            self.out = layers.Dense(1)

        def call(self, inputs):
            return self.out(self.block(inputs))

    model = Model()
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((16, 64), np.float32)
    model.fit(x, np.zeros((16, 1), np.float32), epochs=1, batch_size=16, verbose=0)
    assert True in model.block.inner.seen  # traced with the training mode
    predictions = model.predict(x, verbose=0)
    np.testing.assert_allclose(predictions, model.predict(x, verbose=0))  # no dropout
    assert model.block.inner.seen[-1] is False


def test_augmentation_layers_augment_when_called_directly_as_in_keras_2():
    images = np.random.default_rng(0).random((32, 6, 6, 1)).astype(np.float32)
    flip = layers.RandomFlip("horizontal", seed=1)
    out = np.asarray(flip(images))  # call's default is training=True
    flipped = np.all(out == images[:, :, ::-1], axis=(1, 2, 3))
    assert 0 < flipped.sum() < 32
    augment = keras.Sequential([layers.RandomFlip("horizontal", seed=2)])
    assert not np.array_equal(np.asarray(augment(images)), images)
    np.testing.assert_array_equal(augment(images, training=False), images)


def test_predict_and_evaluate_do_not_augment_but_fit_does():
    images = np.random.default_rng(1).random((32, 6, 6, 1)).astype(np.float32)
    model = keras.Sequential([layers.RandomFlip("horizontal", seed=3), layers.Flatten()])
    np.testing.assert_array_equal(model.predict(images, verbose=0),
                                  images.reshape(32, -1))
    model.compile(loss="mse")
    # the loss against the unflipped images is 0 only if nothing was flipped
    assert model.evaluate(images, images.reshape(32, -1), verbose=0) == 0.0
    step = xf.function(lambda x: model(x))  # traced: the direct call's default again
    assert not np.array_equal(np.asarray(step(images)), images.reshape(32, -1))


def test_training_passed_positionally_is_the_explicit_mode_as_in_keras_2():
    # `self.dropout(x, training)`: Keras 2 finds `training` among the positional arguments
    x = np.ones((8, 64), np.float32)
    dropout = layers.Dropout(0.5, seed=0)
    assert set(np.unique(np.asarray(dropout(x, True)))) == {0.0, 2.0}
    np.testing.assert_array_equal(dropout(x, False), x)
    inner = Records()

    class Outer(keras.layers.Layer):
        def call(self, inputs, training=None):
            return inner(inputs, False)

    Outer()(x, training=True)
    assert inner.seen == [False]  # the positional value wins over the enclosing mode
    inputs = keras.Input((64,))
    model = keras.Model(inputs, layers.Dropout(0.5, seed=1)(inputs, True))
    assert set(np.unique(np.asarray(model(x, training=False)))) == {0.0, 2.0}


def test_arguments_after_a_positional_training_keep_their_places():
    class Scaled(keras.layers.Layer):
        def call(self, inputs, training=None, scale=1.0):
            return inputs * scale * (2.0 if training else 1.0)

    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(Scaled()(x, True, 3.0), x * 6.0)
    np.testing.assert_array_equal(Scaled()(x, False, 3.0), x * 3.0)
