"""Functional API review fixes: an explicit training= in the graph, symbolic tensors as extra
arguments, and operators on symbolic tensors.

Oracles: NumPy and known answers (BatchNormalization's initial moving statistics, inverted
dropout's {0, x / (1 - rate)}), the same layer objects called eagerly on arrays, and the
model itself before a save/load round trip.
"""

import json

import numpy as np
import pytest

import xlaflow as xf
from tests.local_platform import HERE
from xlaflow.keras import layers, models

RNG = np.random.default_rng(11)
X = RNG.normal(3.0, 2.0, size=(32, 4)).astype(np.float32)
Y = RNG.normal(size=(32, 1)).astype(np.float32)


def _fit(model, x=X, y=Y, epochs=2):
    model.compile(optimizer=xf.keras.optimizers.SGD(0.01), loss="mse")
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0)


def _round_trip(model, tmp_path):
    model.save(tmp_path / "m", platforms=HERE)
    return models.load_model(tmp_path / "m")


def _moving_stats(bn):
    return np.asarray(bn.moving_mean.value), np.asarray(bn.moving_variance.value)


# -- 1. training= given in the graph ------------------------------------------------------------
def test_batchnorm_called_with_training_false_keeps_its_moving_statistics_in_fit(tmp_path):
    inputs = xf.keras.Input((4,))
    frozen, free = layers.BatchNormalization(), layers.BatchNormalization()
    outputs = layers.Dense(1)(layers.Add()([frozen(inputs, training=False), free(inputs)]))
    model = models.Model(inputs, outputs)
    _fit(model)
    mean, variance = _moving_stats(frozen)
    np.testing.assert_array_equal(mean, np.zeros(4))  # the initial statistics: untouched
    np.testing.assert_array_equal(variance, np.ones(4))
    assert np.all(np.abs(_moving_stats(free)[0]) > 0.1)  # without the flag: fit's training
    # in a training call too, `frozen` normalizes with its moving statistics
    gamma, beta = np.asarray(frozen.gamma.value), np.asarray(frozen.beta.value)
    expected = X / np.sqrt(1.0 + frozen.epsilon) * gamma + beta
    probe = models.Model(inputs, frozen(inputs, training=False))
    np.testing.assert_allclose(probe(X, training=True), expected, rtol=1e-5, atol=1e-6)

    loaded = _round_trip(model, tmp_path)
    _fit(loaded)
    frozen_loaded, free_loaded = [layer for layer in loaded.layers
                                  if isinstance(layer, layers.BatchNormalization)]
    np.testing.assert_array_equal(_moving_stats(frozen_loaded)[0], np.zeros(4))
    np.testing.assert_array_equal(_moving_stats(frozen_loaded)[1], np.ones(4))
    assert not np.allclose(_moving_stats(free_loaded)[0], _moving_stats(free)[0])


def _is_inverted_dropout(out, x, rate):
    out, x = np.asarray(out), np.asarray(x)
    dropped = out == 0
    np.testing.assert_allclose(out[~dropped], x[~dropped] / (1 - rate), rtol=1e-6)
    return dropped.mean()


def test_dropout_with_training_true_drops_in_predict_mc_dropout(tmp_path):
    inputs = xf.keras.Input((4,))
    model = models.Model(inputs, layers.Dropout(0.5, seed=3)(inputs, training=True))
    x = np.abs(RNG.normal(size=(256, 4))).astype(np.float32) + 0.5
    first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert 0.35 < _is_inverted_dropout(first, x, 0.5) < 0.65
    assert not np.array_equal(first == 0, second == 0)  # a fresh mask each time
    assert 0.35 < _is_inverted_dropout(model(x, training=False), x, 0.5) < 0.65
    loaded = _round_trip(model, tmp_path)
    assert 0.35 < _is_inverted_dropout(loaded.predict(x, verbose=0), x, 0.5) < 0.65
    node, = loaded.get_config()["nodes"]
    assert node["kwargs"] == {"dict": {"training": {"value": True}}}


def test_dropout_with_training_false_never_drops_even_in_training():
    inputs = xf.keras.Input((4,))
    model = models.Model(inputs, layers.Dropout(0.9)(inputs, training=False))
    np.testing.assert_array_equal(model(X, training=True), X)


def test_a_nested_model_called_with_training_false_runs_in_inference(tmp_path):
    """Keras' transfer-learning recipe: `base(inputs, training=False)`."""
    base_in = xf.keras.Input((4,))
    bn = layers.BatchNormalization()
    base = models.Model(base_in, layers.Dropout(0.9)(bn(base_in)))
    inputs = xf.keras.Input((4,))
    model = models.Model(inputs, layers.Dense(1)(base(inputs, training=False)))
    kernel_before = model.get_weights()[-2].copy()
    _fit(model)
    np.testing.assert_array_equal(_moving_stats(bn)[0], np.zeros(4))
    assert not np.array_equal(model.get_weights()[-2], kernel_before)  # the head trained
    # no dropout and the moving statistics, in a training call: as numpy computes it
    gamma, beta = np.asarray(bn.gamma.value), np.asarray(bn.beta.value)
    features = X / np.sqrt(1.0 + bn.epsilon) * gamma + beta
    kernel, bias = model.get_weights()[-2:]
    np.testing.assert_allclose(model(X, training=True), features @ kernel + bias, rtol=1e-5,
                               atol=1e-5)
    loaded = _round_trip(model, tmp_path)
    np.testing.assert_allclose(loaded(X, training=True), features @ kernel + bias, rtol=1e-5,
                               atol=1e-5)


def test_training_must_be_a_python_flag():
    with pytest.raises(TypeError, match="training= .* True, False or None; received 'yes'"):
        layers.Dropout(0.5)(xf.keras.Input((4,)), training="yes")


# -- 2. symbolic tensors as extra positional and keyword arguments -----------------------------
def test_encoder_decoder_lstm_with_initial_state_equals_the_eager_layers(tmp_path):
    encoder_in, decoder_in = xf.keras.Input((6, 3), name="enc"), xf.keras.Input((5, 2),
                                                                                 name="dec")
    encoder = layers.LSTM(4, return_state=True)
    decoder = layers.LSTM(4, return_sequences=True)
    head = layers.Dense(3)
    _, h, c = encoder(encoder_in)
    outputs = head(decoder(decoder_in, initial_state=[h, c]))
    model = models.Model([encoder_in, decoder_in], outputs)
    assert outputs.shape == (None, 5, 3)
    enc = RNG.normal(size=(8, 6, 3)).astype(np.float32)
    dec = RNG.normal(size=(8, 5, 2)).astype(np.float32)
    _, h_eager, c_eager = encoder(enc)
    expected = np.asarray(head(decoder(dec, initial_state=[h_eager, c_eager])))
    zero_state = np.asarray(head(decoder(dec)))
    assert not np.allclose(expected, zero_state)  # the state matters here
    np.testing.assert_allclose(model.predict([enc, dec], verbose=0), expected, rtol=1e-5,
                               atol=1e-6)
    y = RNG.normal(size=(8, 5, 3)).astype(np.float32)
    _fit(model, [enc, dec], y, epochs=1)  # trains through the state into the encoder
    loaded = _round_trip(model, tmp_path)
    np.testing.assert_array_equal(loaded.predict([enc, dec], verbose=0),
                                  model.predict([enc, dec], verbose=0))


def test_self_attention_and_a_mask_input_equal_the_eager_layer(tmp_path):
    query = xf.keras.Input((5, 8), name="query")
    mask = xf.keras.Input((5, 5), dtype="bool", name="mask")
    self_attention = layers.MultiHeadAttention(2, 4)
    masked = layers.MultiHeadAttention(2, 4)
    out_a = self_attention(query, query)
    out_b = masked(query, out_a, attention_mask=mask)
    model = models.Model([query, mask], [out_a, out_b])
    q = RNG.normal(size=(3, 5, 8)).astype(np.float32)
    m = np.tril(np.ones((5, 5), bool))[None].repeat(3, 0)
    eager_a = np.asarray(self_attention(q, q))
    eager_b = np.asarray(masked(q, eager_a, attention_mask=m))
    assert not np.allclose(eager_b, np.asarray(masked(q, eager_a)))  # the mask matters
    got_a, got_b = model.predict([q, m], verbose=0)
    np.testing.assert_allclose(got_a, eager_a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, eager_b, rtol=1e-5, atol=1e-6)
    loaded = _round_trip(model, tmp_path)
    for a, b in zip(loaded.predict([q, m], verbose=0), (got_a, got_b)):
        np.testing.assert_array_equal(a, b)
    config = json.dumps(loaded.get_config())
    assert '"attention_mask": {"ref": ["input", 1]}' in config


def test_a_keyword_tensor_from_outside_the_model_inputs_is_named():
    query, stray = xf.keras.Input((5, 8)), xf.keras.Input((5, 5), dtype="bool")
    out = layers.MultiHeadAttention(2, 4)(query, query, attention_mask=stray)
    with pytest.raises(ValueError, match="is an Input that is not among the model's inputs"):
        models.Model(query, out)
