"""Keras 2's model configs (TF 2.12's `model.to_json()`, written here by hand as it writes
them) rebuilt by `keras.models.model_from_json`: layer names, classes, output shapes and
parameter counts as Keras 2's summary reports them, and the forward pass against NumPy."""

import json

import numpy as np
import pytest

from tests.saving.keras2_json import (
    CNN,
    GLOROT,
    MLP,
    PENALTIES,
    ZEROS,
    dense,
    fill,
    functional,
    input_layer,
    layer_entry,
    lstm,
    random_weights,
    sequential,
    sigmoid,
    softmax,
    summary,
)
from xlaflow import keras


def test_sequential_mlp():
    model = keras.models.model_from_json(MLP)
    assert type(model) is keras.Sequential and model.name == "mlp"
    assert summary(model) == [("dense", "Dense", (None, 4), 16),
                              ("dropout", "Dropout", (None, 4), 0),
                              ("dense_1", "Dense", (None, 2), 10)]
    assert model.count_params() == 26
    assert [tuple(w.shape) for w in model.get_weights()] == [(3, 4), (4,), (4, 2), (2,)]
    w1, b1 = random_weights(model.layers[0], 1)
    w2, b2 = random_weights(model.layers[2], 2)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    expected = softmax(np.maximum(x @ w1 + b1, 0) @ w2 + b2)
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-6)


def test_sequential_cnn_with_batch_normalization():
    model = keras.models.model_from_json(CNN)
    assert summary(model) == [
        ("conv2d", "Conv2D", (None, 6, 6, 4), 40),
        ("batch_normalization", "BatchNormalization", (None, 6, 6, 4), 16),
        ("max_pooling2d", "MaxPooling2D", (None, 3, 3, 4), 0),
        ("flatten", "Flatten", (None, 36), 0),
        ("dense", "Dense", (None, 3), 111)]
    kernel, bias = random_weights(model.layers[0], 1)
    gamma, beta, mean, var = random_weights(model.layers[1], 2)
    var = np.abs(var) + 0.5
    model.layers[1].set_weights([gamma, beta, mean, var])
    w, b = random_weights(model.layers[4], 3)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype("float32")
    conv = np.zeros((2, 6, 6, 4), "float32")
    for i in range(6):
        for j in range(6):
            conv[:, i, j] = np.einsum("bhwc,hwcf->bf", x[:, i:i + 3, j:j + 3], kernel)
    h = np.maximum(conv + bias, 0)
    h = (h - mean) / np.sqrt(var + 0.001) * gamma + beta  # inference: moving statistics
    h = h.reshape(2, 3, 2, 3, 2, 4).max(axis=(2, 4))
    expected = softmax(h.reshape(2, 36) @ w + b)
    np.testing.assert_allclose(np.asarray(model(x, training=False)), expected,
                               rtol=1e-4, atol=1e-5)


def lstm_numpy(x, kernel, recurrent, bias, reverse=False):
    """Keras' LSTM (gates i, f, c, o) over (batch, time, features): the last output."""
    units = recurrent.shape[0]
    h = c = np.zeros((x.shape[0], units), "float32")
    steps = range(x.shape[1])
    for t in (reversed(steps) if reverse else steps):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
    return h


TEXT = sequential("text", [
    ("InputLayer", input_layer("embedding_input", [5])),
    ("Embedding", '{"name": "embedding", "trainable": true, "dtype": "float32", '
                  '"batch_input_shape": [null, 5], "input_dim": 20, "output_dim": 4, '
                  '"embeddings_initializer": {"class_name": "RandomUniform", "config": '
                  '{"minval": -0.05, "maxval": 0.05, "seed": null}}, '
                  '"embeddings_regularizer": null, "activity_regularizer": null, '
                  '"embeddings_constraint": null, "mask_zero": false, "input_length": 5}'),
    ("LSTM", lstm("lstm", 3)),
    ("Dense", dense("dense", 1, "sigmoid"))])


def test_sequential_lstm_text_model():
    model = keras.models.model_from_json(TEXT)
    assert summary(model) == [("embedding", "Embedding", (None, 5, 4), 80),
                              ("lstm", "LSTM", (None, 3), 96),
                              ("dense", "Dense", (None, 1), 4)]
    (table,) = random_weights(model.layers[0], 1)
    kernel, recurrent, bias = random_weights(model.layers[1], 2)
    assert (kernel.shape, recurrent.shape, bias.shape) == ((4, 12), (3, 12), (12,))
    w, b = random_weights(model.layers[2], 3)
    ids = np.random.default_rng(0).integers(0, 20, size=(3, 5))
    expected = sigmoid(lstm_numpy(table[ids], kernel, recurrent, bias) @ w + b)
    np.testing.assert_allclose(np.asarray(model(ids)), expected, rtol=1e-4, atol=1e-5)


def test_bidirectional_wraps_a_keras2_lstm_config():
    text = sequential("bi", [
        ("InputLayer", input_layer("embedding_input", [5])),
        ("Embedding", TEXT.split('"Embedding", "config": ')[1].split('}, {"class_name"')[0]),
        ("Bidirectional", fill('{"name": "bidirectional", "trainable": true, "dtype": '
                               '"float32", "layer": {"class_name": "LSTM", "config": @}, '
                               '"merge_mode": "concat"}', lstm("lstm", 3)))])
    model = keras.models.model_from_json(text)
    assert summary(model)[1] == ("bidirectional", "Bidirectional", (None, 6), 192)
    (table,) = random_weights(model.layers[0], 1)
    fk, fr, fb, bk, br, bb = random_weights(model.layers[1], 2)
    ids = np.random.default_rng(0).integers(0, 20, size=(3, 5))
    expected = np.concatenate([lstm_numpy(table[ids], fk, fr, fb),
                               lstm_numpy(table[ids], bk, br, bb, reverse=True)], axis=-1)
    np.testing.assert_allclose(np.asarray(model(ids)), expected, rtol=1e-4, atol=1e-5)


def test_xlaflows_own_format_still_round_trips():
    model = keras.models.model_from_json(MLP)
    again = keras.models.model_from_json(model.to_json())
    assert summary(again) == summary(model)


def test_keras_layers_deserialize_maps_keras2_keys():
    layer = keras.layers.deserialize({"class_name": "InputLayer", "config": json.loads(
        input_layer("ids", [5], "int32"))})
    assert type(layer) is keras.layers.InputLayer and layer.name == "ids"


def test_sequential_built_from_build_input_shape_and_a_mixed_precision_policy():
    config = json.loads(MLP)
    layers = config["config"]["layers"] = config["config"]["layers"][1:]  # no InputLayer
    del layers[0]["config"]["batch_input_shape"]
    layers[0]["config"]["dtype"] = {"class_name": "Policy", "config": {"name": "mixed_float16"}}
    config["config"]["build_input_shape"] = [None, 3]
    model = keras.models.model_from_json(json.dumps(config))
    assert model.built and model.count_params() == 26
    assert model.layers[0]._dtype_policy.name == "mixed_float16"


def test_multi_head_attention_with_keras2s_build_shapes_and_a_value_kwarg():
    mha = fill('{"name": "mha", "trainable": true, "dtype": "float32", "num_heads": 2, '
               '"key_dim": 4, "value_dim": 4, "dropout": 0.0, "use_bias": true, '
               '"output_shape": null, "attention_axes": [1], "kernel_initializer": @, '
               '"bias_initializer": @, @, "query_shape": [null, 5, 8], '
               '"key_shape": [null, 5, 8], "value_shape": [null, 5, 8]}',
               GLOROT, ZEROS, PENALTIES)
    model = keras.models.model_from_json(functional("att", [
        layer_entry("InputLayer", input_layer("x", [5, 8]), []),
        layer_entry("MultiHeadAttention", mha, [[["x", 0, 0, {"value": ["x", 0, 0]}]]])],
        [["x", 0, 0]], [["mha", 0, 0]]))
    assert summary(model)[1] == ("mha", "MultiHeadAttention", (None, 5, 8), 288)
    wq, bq, wk, bk, wv, bv, wo, bo = random_weights(model.get_layer("mha"), 1)
    assert wq.shape == (8, 2, 4) and wo.shape == (2, 4, 8)  # Keras 2's EinsumDense layout
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    q, k, v = (np.einsum("btd,dhk->bthk", x, w) + b for w, b in
               ((wq, bq), (wk, bk), (wv, bv)))
    attention = softmax(np.einsum("bqhk,bthk->bhqt", q, k) / 2.0)
    expected = np.einsum("bqhk,hkd->bqd", np.einsum("bhqt,bthk->bqhk", attention, v), wo) + bo
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-4, atol=1e-5)
    other_axes = mha.replace('"attention_axes": [1]', '"attention_axes": [2]')
    with pytest.raises(NotImplementedError, match=r"'mha'.*attention_axes=\[2\]"):
        keras.layers.deserialize({"class_name": "MultiHeadAttention",
                                  "config": json.loads(other_axes)})


TEMPORAL = sequential("temporal", [
    ("InputLayer", input_layer("conv1d_input", [6, 2])),
    ("Conv1D", fill('{"name": "conv1d", "trainable": true, "dtype": "float32", '
               '"batch_input_shape": [null, 6, 2], "filters": 3, "kernel_size": [2], '
               '"strides": [1], "padding": "causal", "data_format": "channels_last", '
               '"dilation_rate": [2], "groups": 1, "activation": "linear", "use_bias": true, '
               '"kernel_initializer": @, "bias_initializer": @, @}',
               GLOROT, ZEROS, PENALTIES))])


def test_sequential_causal_conv1d():
    model = keras.models.model_from_json(TEMPORAL)
    assert summary(model) == [("conv1d", "Conv1D", (None, 6, 3), 15)]
    assert model.layers[0].get_config()["padding"] == "causal"
    kernel, bias = random_weights(model.layers[0], 1)
    x = np.random.default_rng(0).normal(size=(2, 6, 2)).astype("float32")
    # out[t] = x[t - 2] @ kernel[0] + x[t] @ kernel[1] + bias, x before step 0 being zeros
    shifted = np.concatenate([np.zeros((2, 2, 2), "float32"), x[:, :-2]], axis=1)
    expected = shifted @ kernel[0] + x @ kernel[1] + bias
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-5)
