"""data_format='channels_first' on the convolution, pooling, padding, cropping, upsampling,
flatten and spatial-dropout layers: the same weights on (batch, channels, ...) data give
the channels-last layer's answer with the channels axis moved, checked against NumPy where
the math is short; configs, Keras 2 JSON and .keras files keep the layout."""

import json

import numpy as np
import pytest

import xlaflow as xf
from tests.saving.keras2_json import CNN
from xlaflow import keras

layers = keras.layers
RNG = np.random.default_rng(3)

CASES = {
    "Conv1D": (lambda df: layers.Conv1D(4, 3, padding="causal", data_format=df), 1),
    "Conv2D": (lambda df: layers.Conv2D(4, 3, padding="same", strides=2, data_format=df), 2),
    "Conv3D": (lambda df: layers.Conv3D(2, 2, dilation_rate=1, data_format=df), 3),
    "Conv1DTranspose": (lambda df: layers.Conv1DTranspose(3, 3, strides=2, data_format=df), 1),
    "Conv2DTranspose": (lambda df: layers.Conv2DTranspose(
        4, 3, strides=2, padding="same", output_padding=1, data_format=df), 2),
    "SeparableConv2D": (lambda df: layers.SeparableConv2D(4, 3, data_format=df), 2),
    "DepthwiseConv2D": (lambda df: layers.DepthwiseConv2D(
        3, depth_multiplier=2, padding="same", data_format=df), 2),
    "MaxPooling1D": (lambda df: layers.MaxPooling1D(2, data_format=df), 1),
    "AveragePooling1D": (lambda df: layers.AveragePooling1D(
        3, 2, padding="same", data_format=df), 1),
    "MaxPooling2D": (lambda df: layers.MaxPooling2D(padding="same", data_format=df), 2),
    "AveragePooling2D": (lambda df: layers.AveragePooling2D(
        3, 2, padding="same", data_format=df), 2),
    "GlobalAveragePooling1D": (lambda df: layers.GlobalAveragePooling1D(data_format=df), 1),
    "GlobalMaxPooling1D": (lambda df: layers.GlobalMaxPooling1D(
        data_format=df, keepdims=True), 1),
    "GlobalAveragePooling2D": (lambda df: layers.GlobalAveragePooling2D(
        data_format=df, keepdims=True), 2),
    "GlobalMaxPooling2D": (lambda df: layers.GlobalMaxPooling2D(data_format=df), 2),
    "ZeroPadding2D": (lambda df: layers.ZeroPadding2D(((1, 2), (0, 1)), data_format=df), 2),
    "Cropping2D": (lambda df: layers.Cropping2D(((1, 2), (0, 1)), data_format=df), 2),
    "UpSampling2D": (lambda df: layers.UpSampling2D((2, 3), data_format=df), 2),
    "UpSampling2D_bilinear": (lambda df: layers.UpSampling2D(
        2, data_format=df, interpolation="bilinear"), 2),
}


def _to_first(x):
    return np.moveaxis(x, -1, 1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_channels_first_is_channels_last_with_the_axis_moved(name):
    make, rank = CASES[name]
    x = RNG.normal(size=(2, *(7, 6, 5)[:rank], 3)).astype(np.float32)
    last, first = make("channels_last"), make("channels_first")
    want = np.asarray(last(x))
    first.build((None, *_to_first(x).shape[1:]))
    first.set_weights(last.get_weights())  # the same kernels: Keras keeps (..., in, out)
    got = np.asarray(first(_to_first(x)))
    np.testing.assert_allclose(got, _to_first(want) if want.ndim > 2 else want,
                               rtol=1e-5, atol=1e-5)
    config = first.get_config()
    assert config["data_format"] == "channels_first"
    again = type(first).from_config(config)
    assert again.data_format == "channels_first"


def test_conv2d_channels_first_against_numpy():
    x = RNG.normal(size=(2, 3, 5, 4)).astype(np.float32)  # (batch, channels, h, w)
    conv = layers.Conv2D(2, (2, 3), data_format="channels_first")
    out = np.asarray(conv(x))
    kernel, bias = conv.get_weights()  # (2, 3, in=3, out=2)
    want = np.zeros((2, 2, 4, 2), np.float32)
    for i in range(4):
        for j in range(2):
            patch = x[:, :, i:i + 2, j:j + 3]  # (batch, in, 2, 3)
            want[:, :, i, j] = np.einsum("bchw,hwco->bo", patch, kernel) + bias
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_pooling_and_flatten_against_numpy():
    x = RNG.normal(size=(2, 3, 4, 6)).astype(np.float32)
    pooled = np.asarray(layers.MaxPooling2D(2, data_format="channels_first")(x))
    np.testing.assert_array_equal(pooled, x.reshape(2, 3, 2, 2, 3, 2).max((3, 5)))
    # Flatten moves the channels last first (as Keras), so a Dense after it sees features in
    # a channels-last model's order
    flat = np.asarray(layers.Flatten(data_format="channels_first")(x))
    np.testing.assert_array_equal(flat, np.moveaxis(x, 1, -1).reshape(2, -1))
    mask = np.array([[1, 1, 0, 0, 1, 0], [1, 0, 0, 0, 0, 0]], bool)
    steps = x[:, :, 0, :]  # (batch, channels, steps)
    mean = layers.GlobalAveragePooling1D(data_format="channels_first")(steps, mask=mask)
    want = (steps * mask[:, None]).sum(-1) / mask.sum(-1)[:, None]
    np.testing.assert_allclose(mean, want, rtol=1e-6)


def test_spatial_dropout_drops_whole_channels():
    x = np.ones((4, 8, 5, 5), np.float32)
    out = np.asarray(layers.SpatialDropout2D(0.5, data_format="channels_first", seed=1)(
        x, training=True))
    per_map = out.reshape(4, 8, 25)
    assert np.all((per_map == 0).all(-1) | (per_map == 2.0).all(-1))  # a map kept or dropped
    assert 0 < (per_map == 0).all(-1).sum() < 32


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((1, 12, 12)),
        layers.Conv2D(4, 3, activation="relu", data_format="channels_first"),
        layers.BatchNormalization(axis=1),
        layers.MaxPooling2D(data_format="channels_first"),
        layers.Flatten(data_format="channels_first"),
        layers.Dense(3, activation="softmax")])


def test_a_channels_first_model_trains_saves_and_loads(tmp_path):
    model = _model()
    assert model.output_shape == (None, 3)
    assert model.layers[0].output.shape == (None, 4, 10, 10)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = RNG.random((64, 1, 12, 12)).astype(np.float32)
    y = (x[:, 0, :6].mean((1, 2)) > x[:, 0, 6:].mean((1, 2))).astype(np.int32)
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "cf.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert restored.layers[0].data_format == "channels_first"
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_a_keras2_channels_first_model_loads_with_the_same_weights():
    config = json.loads(CNN)
    for entry in config["config"]["layers"]:
        layer = entry["config"]
        if "data_format" in layer:
            layer["data_format"] = "channels_first"
        if "batch_input_shape" in layer:
            layer["batch_input_shape"] = [None, 1, 8, 8]
        if entry["class_name"] == "BatchNormalization":
            layer["axis"] = [1]
    first = keras.models.model_from_json(json.dumps(config))
    last = keras.models.model_from_json(CNN)
    first.set_weights(last.get_weights())  # the same shapes in both layouts
    x = RNG.random((3, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(first(_to_first(x)), last(x), rtol=1e-5, atol=1e-6)


def test_bad_values_and_the_global_default_are_refused():
    with pytest.raises(ValueError, match="MaxPooling2D: data_format must be 'channels_last' "
                                         "or 'channels_first'; received 'NCHW'"):
        layers.MaxPooling2D(data_format="NCHW")
    with pytest.raises(ValueError, match=r"conv2d\w* expects inputs of rank 4 \(batch, channels, "
                                         r"spatial, spatial\); received shape \(2, 3, 4\)"):
        layers.Conv2D(2, 3, data_format="channels_first")(np.ones((2, 3, 4), np.float32))


def test_spatial_dropout1d_takes_no_data_format_as_keras_2():
    with pytest.raises(TypeError, match="data_format"):
        layers.SpatialDropout1D(0.5, data_format="channels_first")
    layer = layers.SpatialDropout2D(0.5, data_format="channels_first")
    assert layers.SpatialDropout2D.from_config(layer.get_config()).data_format == \
        "channels_first"
    with pytest.raises(ValueError, match=r"expects inputs of rank 4 \(batch, channels, "
                                         r"spatial, spatial\)"):
        layer(np.ones((2, 3, 4), np.float32), training=True)


@pytest.fixture
def channels_first_default():
    backend = xf.keras.backend
    backend.set_image_data_format("channels_first")
    try:
        yield
    finally:
        backend.set_image_data_format("channels_last")


def test_the_global_default_changes_the_layers_made_after_it(channels_first_default):
    assert xf.keras.backend.image_data_format() == "channels_first"
    model = keras.Sequential([keras.Input((1, 12, 12)), layers.Conv2D(4, 3),
                              layers.MaxPooling2D(), layers.Flatten(), layers.Dense(2)])
    assert all(layer.data_format == "channels_first" for layer in model.layers[:3])
    assert model.layers[0].output.shape == (None, 4, 10, 10)
    assert layers.Conv2D(2, 3, data_format="channels_last").data_format == "channels_last"
    # Keras 2's 1-D layers default to channels_last itself, not to the global setting
    for one_d in (layers.Conv1D(2, 3), layers.MaxPooling1D(), layers.GlobalAveragePooling1D()):
        assert one_d.data_format == "channels_last"
    with pytest.raises(NotImplementedError, match="built channels-last here"):
        keras.applications.ResNet50(weights=None)
    assert layers.ConvLSTM2D(2, 3).data_format == "channels_first"  # as Keras 2's
    # a config keeps the layout it was made with, whatever the default when it is loaded
    config = model.get_config()
    xf.keras.backend.set_image_data_format("channels_last")
    again = keras.Sequential.from_config(config)
    assert again.layers[0].data_format == "channels_first"


def test_a_bad_global_default_is_refused():
    with pytest.raises(ValueError, match="set_image_data_format: data_format must be "
                                         "'channels_last' or 'channels_first'; received 'NCHW'"):
        xf.keras.backend.set_image_data_format("NCHW")
    assert xf.keras.backend.image_data_format() == "channels_last"


# -- ConvLSTM1D/2D/3D ---------------------------------------------------------------------
def _conv_lstm_pair(cls, seed=7, **kwargs):
    """The same ConvLSTM in both layouts: fresh layers drawing from the same seed."""
    xf.random.set_seed(seed)
    last = cls(3, 3, **kwargs)
    xf.random.set_seed(seed)
    first = cls(3, 3, data_format="channels_first", **kwargs)
    return last, first


def _seq_to_first(x):  # (batch, time, *spatial, channels) -> (batch, time, channels, ...)
    return np.moveaxis(x, -1, 2)


@pytest.mark.parametrize("cls, spatial", [(layers.ConvLSTM1D, (7,)),
                                          (layers.ConvLSTM2D, (5, 6)),
                                          (layers.ConvLSTM3D, (3, 4, 5))])
@pytest.mark.parametrize("options", [
    {"padding": "same", "return_sequences": True, "return_state": True},
    {"strides": 2, "go_backwards": True, "return_state": True},
    {"padding": "same", "dropout": 0.3, "recurrent_dropout": 0.2, "return_sequences": True},
], ids=["sequences_and_states", "strided_backwards", "dropout"])
def test_conv_lstm_channels_first_is_channels_last_with_the_axis_moved(cls, spatial, options):
    x = RNG.random((2, 3, *spatial, 4)).astype(np.float32)
    last, first = _conv_lstm_pair(cls, **options)
    training = bool(options.get("dropout"))
    last(x)  # both build: then the same weights
    first(_seq_to_first(x))
    first.set_weights(last.get_weights())
    xf.random.set_seed(11)
    want = last(x, training=training)
    xf.random.set_seed(11)
    got = first(_seq_to_first(x), training=training)
    want, got = (want, got) if isinstance(want, list) else ([want], [got])
    moved = [np.moveaxis(np.asarray(got[0]), 2 if options.get("return_sequences") else 1, -1),
             *(np.moveaxis(np.asarray(state), 1, -1) for state in got[1:])]
    assert len(moved) == len(want)
    for g, w in zip(moved, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_conv_lstm_channels_first_states_masks_and_initial_state_are_in_its_layout():
    x = RNG.random((2, 4, 5, 6, 2)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], bool)
    last, first = _conv_lstm_pair(layers.ConvLSTM2D, padding="same", stateful=True,
                                  return_sequences=True)
    last(x, mask=mask)
    first(_seq_to_first(x), mask=mask)
    first.set_weights(last.get_weights())
    last.reset_states(), first.reset_states()
    assert first.states[0].shape == (2, 3, 5, 6)  # (batch, filters, rows, cols), as Keras 2
    h0 = RNG.random((2, 5, 6, 3)).astype(np.float32)
    c0 = RNG.random((2, 5, 6, 3)).astype(np.float32)
    want = [last(x, mask=mask, initial_state=[h0, c0]), last(x, mask=mask)]
    got = [first(_seq_to_first(x), mask=mask, initial_state=[np.moveaxis(h0, -1, 1),
                                                             np.moveaxis(c0, -1, 1)]),
           first(_seq_to_first(x), mask=mask)]  # the second call starts from the kept states
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.moveaxis(np.asarray(g), 2, -1), w, rtol=1e-5, atol=1e-6)
    for g, w in zip(first.states, last.states):
        np.testing.assert_allclose(np.moveaxis(np.asarray(g.value), 1, -1), w.value,
                                   rtol=1e-5, atol=1e-6)
    first.reset_states([np.moveaxis(h0, -1, 1), np.moveaxis(c0, -1, 1)])
    np.testing.assert_array_equal(first.states[0].value, np.moveaxis(h0, -1, 1))
    with pytest.raises(ValueError, match=r"\(batch, filters, \*output_spatial\) = "
                                         r"\(2, 3, 5, 6\); received \(2, 5, 6, 3\)"):
        first.reset_states([h0, c0])  # channels-last states for a channels-first layer
    with pytest.raises(ValueError, match=r"rank 5 \(batch, time, channels, spatial, "
                                         r"spatial\); received shape \(2, 4, 5, 6\)"):
        layers.ConvLSTM2D(2, 3, data_format="channels_first")(x[..., 0])


def test_a_channels_first_conv_lstm_model_trains_saves_and_loads(tmp_path):
    x = RNG.random((8, 3, 2, 6, 6)).astype(np.float32)
    y = RNG.random((8, 1)).astype(np.float32)
    model = keras.Sequential([
        keras.Input((3, 2, 6, 6)),
        layers.ConvLSTM2D(4, 3, padding="same", data_format="channels_first"),
        layers.Flatten(data_format="channels_first"), layers.Dense(1)])
    assert model.output_shape == (None, 1)
    assert model.layers[0].output.shape == (None, 4, 6, 6)
    model.compile("adam", "mse")
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = keras.models.load_model(path)
    assert again.layers[0].data_format == "channels_first"
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
