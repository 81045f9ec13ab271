"""LSTM, GRU and MultiHeadAttention against NumPy step-by-step implementations."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models

RNG = np.random.default_rng(4)
X = RNG.normal(size=(3, 6, 4)).astype(np.float32)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_numpy(x, kernel, recurrent, bias):
    units = recurrent.shape[0]
    h = c = np.zeros((x.shape[0], units))
    outputs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, 1), h, c


def gru_numpy(x, kernel, recurrent, bias):
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))
    outputs = []
    for t in range(x.shape[1]):
        xz, xr, xh = np.split(x[:, t] @ kernel + bias[0], 3, -1)
        hz, hr, hh = np.split(h @ recurrent + bias[1], 3, -1)
        z, r = sigmoid(xz + hz), sigmoid(xr + hr)
        h = z * h + (1 - z) * np.tanh(xh + r * hh)
        outputs.append(h)
    return np.stack(outputs, 1), h


def test_lstm_matches_numpy():
    layer = layers.LSTM(5, return_sequences=True, return_state=True)
    seq, h, c = layer(X)
    kernel, recurrent, bias = layer.get_weights()
    np.testing.assert_allclose(bias[5:10], 1.0)  # unit_forget_bias
    e_seq, e_h, e_c = lstm_numpy(X, kernel, recurrent, bias)
    np.testing.assert_allclose(seq, e_seq, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h, e_h, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c, e_c, rtol=1e-4, atol=1e-5)


def test_gru_matches_numpy_and_go_backwards():
    layer = layers.GRU(4, return_sequences=True)
    out = layer(X)
    kernel, recurrent, bias = layer.get_weights()
    np.testing.assert_allclose(out, gru_numpy(X, kernel, recurrent, bias)[0], rtol=1e-4,
                               atol=1e-5)
    backwards = layers.GRU(4, go_backwards=True)
    last = backwards(X)
    np.testing.assert_allclose(last, gru_numpy(X[:, ::-1], *backwards.get_weights())[1],
                               rtol=1e-4, atol=1e-5)


def test_orthogonal_recurrent_initializer():
    layer = layers.LSTM(6)
    layer(X)
    w = layer.recurrent_kernel.numpy()  # (6, 24): orthonormal rows
    np.testing.assert_allclose(w @ w.T, np.eye(6), atol=1e-5)


def mha_numpy(query, value, layer):
    w = {name: [p.numpy() for p in pair] for name, pair in layer.projections.items()}
    q = np.einsum("bqd,dhk->bqhk", query, w["query"][0]) + w["query"][1]
    k = np.einsum("bsd,dhk->bshk", value, w["key"][0]) + w["key"][1]
    v = np.einsum("bsd,dhk->bshk", value, w["value"][0]) + w["value"][1]
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(layer.key_dim)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    context = np.einsum("bhqk,bkhd->bqhd", weights, v)
    return np.einsum("bqhd,hdo->bqo", context, layer.output_kernel.numpy()) + \
        layer.output_bias.numpy(), weights


def test_multi_head_attention_matches_numpy():
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    value = RNG.normal(size=(3, 5, 7)).astype(np.float32)
    out, scores = layer(X, value, return_attention_scores=True)
    expect, expect_scores = mha_numpy(X, value, layer)
    assert out.shape == (3, 6, 4) and scores.shape == (3, 2, 6, 5)
    np.testing.assert_allclose(out, expect, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores, expect_scores, rtol=1e-4, atol=1e-6)
    mask = np.ones((3, 6, 5), bool)
    mask[:, :, 2:] = False
    _, masked = layer(X, value, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(masked)[..., 2:], 0.0, atol=1e-7)


def test_sequence_model_trains():
    xf.keras.utils.set_random_seed(1)
    y = (X.sum((1, 2)) > 0).astype(np.int32)
    x = np.concatenate([X] * 8)
    y = np.concatenate([y] * 8)
    model = models.Sequential([layers.LSTM(8, input_shape=(6, 4)),
                               layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_recurrent_input_rank_error():
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, time, features\)"):
        layers.LSTM(3)(np.ones((2, 4), np.float32))
