"""The convolution and recurrent additions (Conv1DTranspose, Conv2DTranspose, Conv3D,
DepthwiseConv2D, SeparableConv2D, SimpleRNN, Bidirectional, TimeDistributed) eagerly, in
xf.function, in Sequential and functional models, through fit, model.save/load_model; and
their config cases for tests/keras/test_configs.py's round trip."""

import numpy as np
import pytest

import xlaflow as xf
from tests.local_platform import HERE
from xlaflow.keras import initializers, layers, models, optimizers
from xlaflow.layers.base import _snake_case

RNG = np.random.default_rng(13)


def _floats(shape):
    return RNG.normal(size=shape).astype(np.float32)


SEQ, IMAGE, VOLUME = (2, 4, 3), (2, 4, 4, 3), (2, 3, 4, 4, 2)

# (constructor, input shape with the batch): the layers as a model uses them
CASES = {
    "Conv1DTranspose": (lambda: layers.Conv1DTranspose(3, 3, strides=2, padding="same"),
                        SEQ),
    "Conv2DTranspose": (lambda: layers.Conv2DTranspose(2, 3, strides=2, output_padding=1),
                        IMAGE),
    "Conv3D": (lambda: layers.Conv3D(2, 2, padding="same", activation="relu"), VOLUME),
    "DepthwiseConv2D": (lambda: layers.DepthwiseConv2D(3, depth_multiplier=2), IMAGE),
    "SeparableConv2D": (lambda: layers.SeparableConv2D(4, 3, padding="same"), IMAGE),
    "SimpleRNN": (lambda: layers.SimpleRNN(3, return_sequences=True), SEQ),
    "Bidirectional": (lambda: layers.Bidirectional(layers.LSTM(2), merge_mode="ave"), SEQ),
    "TimeDistributed": (lambda: layers.TimeDistributed(layers.Dense(3, activation="tanh")),
                        SEQ),
}


def test_every_addition_is_covered():
    assert set(CASES) == set(CONFIG_CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_eager_function_and_sequential_agree(name):
    make, shape = CASES[name]
    layer, x = make(), _floats(shape)
    eager = np.asarray(layer(x))
    np.testing.assert_allclose(xf.function(lambda v: layer(v))(x), eager, rtol=1e-5,
                               atol=1e-6)
    model = models.Sequential([layers.InputLayer(shape=shape[1:]), layer, layers.Flatten()])
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               eager.reshape(len(eager), -1), rtol=1e-5, atol=1e-6)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *eager.shape[1:])


@pytest.mark.parametrize("name", sorted(CASES))
def test_functional_model_trains_saves_and_loads(name, tmp_path):
    make, shape = CASES[name]
    xf.keras.utils.set_random_seed(3)
    inputs = layers.Input(shape[1:])
    layer = make()
    outputs = layers.Dense(1)(layers.Flatten()(layer(inputs)))
    model = models.Model(inputs, outputs)
    x, y = _floats((8, *shape[1:])), _floats((8, 1))
    model.compile(optimizer=optimizers.SGD(0.01), loss="mse")
    before = layer.get_weights()
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    assert history["loss"][-1] < history["loss"][0]
    for old, new in zip(before, layer.get_weights(), strict=True):
        assert np.isfinite(new).all() and not np.array_equal(old, new)  # every weight trained
    model.save(tmp_path / "m", platforms=HERE)
    loaded = models.load_model(tmp_path / "m")
    [twin] = [each for each in loaded.layers if each.name == layer.name]
    assert type(twin) is type(layer) and twin.get_config() == layer.get_config()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    for expect, actual in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(actual, expect)


def test_sequential_with_input_shape_on_the_wrapper():
    model = models.Sequential([
        layers.Bidirectional(layers.SimpleRNN(4, return_sequences=True), input_shape=(5, 3)),
        layers.TimeDistributed(layers.Dense(2)), layers.Flatten(), layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = _floats((8, 5, 3))
    history = model.fit(x, x.sum((1, 2))[:, None], epochs=2, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert model.layers[0].count_params() == 2 * (3 * 4 + 4 * 4 + 4)


def test_default_names_are_keras_snake_case():
    """Keras 2's to_snake_case, which also names the weights ('conv2d_transpose/kernel')."""
    expected = {"Conv2DTranspose": "conv2d_transpose", "Conv1DTranspose": "conv1d_transpose",
                "Conv3D": "conv3d", "DepthwiseConv2D": "depthwise_conv2d",
                "SeparableConv2D": "separable_conv2d", "SimpleRNN": "simple_rnn",
                "Bidirectional": "bidirectional", "TimeDistributed": "time_distributed",
                "Conv2D": "conv2d", "GlobalAveragePooling2D": "global_average_pooling2d"}
    assert {name: _snake_case(name) for name in expected} == expected


# -- config cases, merged into test_configs.LAYERS (non-default arguments) ---------------------
CONFIG_CASES = {
    "Conv1DTranspose": (lambda: layers.Conv1DTranspose(
        3, 2, strides=2, padding="same", output_padding=1, activation="relu",
        kernel_initializer=initializers.HeUniform(seed=2)), lambda: [_floats(SEQ)], {}),
    "Conv2DTranspose": (lambda: layers.Conv2DTranspose(
        3, (3, 2), strides=(1, 2), padding="same", use_bias=False, dilation_rate=1,
        data_format="channels_last", kernel_regularizer="l2"), lambda: [_floats(IMAGE)], {}),
    "Conv3D": (lambda: layers.Conv3D(
        3, (2, 1, 2), strides=(1, 2, 1), dilation_rate=1, activation="elu",
        bias_initializer=initializers.Constant(np.float32(0.1))),
        lambda: [_floats(VOLUME)], {}),
    "DepthwiseConv2D": (lambda: layers.DepthwiseConv2D(
        (3, 2), strides=2, padding="same", depth_multiplier=2, dilation_rate=1,
        activation="relu6", depthwise_initializer=initializers.GlorotNormal(seed=5),
        depthwise_regularizer="l1"), lambda: [_floats(IMAGE)], {}),
    "SeparableConv2D": (lambda: layers.SeparableConv2D(
        3, 3, padding="same", dilation_rate=(2, 1), depth_multiplier=3, use_bias=False,
        pointwise_initializer=initializers.LecunNormal(seed=1),
        pointwise_regularizer="l2"), lambda: [_floats(IMAGE)], {}),
    "SimpleRNN": (lambda: layers.SimpleRNN(
        3, activation="relu", use_bias=False, return_sequences=True, return_state=True,
        go_backwards=True, recurrent_initializer=initializers.Orthogonal(gain=0.5, seed=2),
        recurrent_regularizer="l2"), lambda: [_floats(SEQ)], {}),
    "Bidirectional": (lambda: layers.Bidirectional(
        layers.GRU(3, return_sequences=True), merge_mode="mul",
        backward_layer=layers.SimpleRNN(3, return_sequences=True, go_backwards=True),
        trainable=False), lambda: [_floats(SEQ)], {}),
    "TimeDistributed": (lambda: layers.TimeDistributed(layers.Dropout(0.5, seed=3)),
                        lambda: [_floats(SEQ)], {"training": True}),
}
