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
from xlaflow.layers import operators

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


# -- 3. operators on symbolic tensors ---------------------------------------------------------
W = RNG.normal(size=(3, 2)).astype(np.float32)
OPERATORS = {  # name: (symbolic form, numpy form) of x, y (batch, 3)
    "x + y": (lambda x, y: x + y, lambda x, y: x + y),
    "x - y": (lambda x, y: x - y, lambda x, y: x - y),
    "x * 2": (lambda x, y: x * 2, lambda x, y: x * 2),
    "2 * x": (lambda x, y: 2 * x, lambda x, y: 2 * x),
    "1 - x": (lambda x, y: 1 - x, lambda x, y: 1 - x),
    "x / y": (lambda x, y: x / y, lambda x, y: x / y),
    "1.5 / x": (lambda x, y: 1.5 / x, lambda x, y: 1.5 / x),
    "-x": (lambda x, y: -x, lambda x, y: -x),
    "x @ w": (lambda x, y: x @ W, lambda x, y: x @ W),
    "x * row": (lambda x, y: x * W[:, 0], lambda x, y: x * W[:, 0]),
    "np scalar * x": (lambda x, y: np.float32(3) * x, lambda x, y: 3 * x),
    "x[:, 0]": (lambda x, y: x[:, 0], lambda x, y: x[:, 0]),
    "x[..., :2]": (lambda x, y: x[..., :2], lambda x, y: x[..., :2]),
    "x[:, None, ::-1]": (lambda x, y: x[:, None, ::-1], lambda x, y: x[:, None, ::-1]),
    "(x - y)[..., 1] * -y[:, 2]": (lambda x, y: (x - y)[..., 1] * -y[:, 2],
                                   lambda x, y: (x - y)[..., 1] * -y[:, 2]),
}


def test_operators_on_symbolic_tensors_compute_as_numpy_and_save(tmp_path):
    x, y = xf.keras.Input((3,), name="x"), xf.keras.Input((3,), name="y")
    names = sorted(OPERATORS)
    outputs = [OPERATORS[n][0](x, y) for n in names]
    # a weight, too: load_model of a model without any fails on its own (reported apart)
    model = models.Model([x, y], [*outputs, layers.Dense(2)(x)])
    a = RNG.normal(size=(6, 3)).astype(np.float32)
    b = RNG.uniform(0.5, 2.0, size=(6, 3)).astype(np.float32)
    got = model.predict([a, b], verbose=0)
    for name, symbolic, value in zip(names, outputs, got):
        expected = OPERATORS[name][1](a, b)
        assert symbolic.shape == (None, *expected.shape[1:]), name
        assert value.dtype == np.float32, name
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-6, err_msg=name)
    json.dumps(model.get_config())  # plain JSON: slices, Ellipsis and arrays encoded
    loaded = _round_trip(model, tmp_path)
    for name, before, after in zip([*names, "dense"], got, loaded.predict([a, b], verbose=0)):
        np.testing.assert_array_equal(after, before, err_msg=name)


def test_an_operator_between_layers_trains(tmp_path):
    inputs = xf.keras.Input((4,))
    dense = layers.Dense(1)
    residual = 0.5 * dense(inputs) + inputs[:, :1]
    model = models.Model(inputs, residual)
    _fit(model)
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(model.predict(X, verbose=0),
                               0.5 * (X @ kernel + bias) + X[:, :1], rtol=1e-5, atol=1e-5)
    loaded = _round_trip(model, tmp_path)
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_batched_matmul_of_two_symbolic_tensors():
    a, b = xf.keras.Input((2, 3)), xf.keras.Input((3, 4))
    model = models.Model([a, b], a @ b)
    left, right = RNG.normal(size=(5, 2, 3)), RNG.normal(size=(5, 3, 4))
    np.testing.assert_allclose(model([left.astype(np.float32), right.astype(np.float32)]),
                               left @ right, rtol=1e-5, atol=1e-5)


def test_what_has_no_value_raises_a_clear_type_error():
    import jax.numpy as jnp
    x = xf.keras.Input((3,))
    for action in (lambda: np.asarray(x), lambda: bool(x), lambda: list(x), lambda: len(x),
                   lambda: float(x[:, 0])):
        with pytest.raises(TypeError, match="symbolic tensor.*a layer from xf.keras.layers"):
            action()
    with pytest.raises(TypeError, match="SymbolicTensor"):  # JAX's own message names it
        jnp.mean(x)
    with pytest.raises(TypeError, match="unsupported operand"):
        x + "a"
    with pytest.raises(TypeError, match=r"indexed with integers, slices.*received \[0, 1\]"):
        x[[0, 1]]
    with pytest.raises(IndexError, match="batch axis"):
        x[0]
    with pytest.raises(IndexError, match="batch axis"):
        x[None]
    with pytest.raises(ValueError, match="same rank"):
        x + xf.keras.Input((2, 3))
    with pytest.raises(ValueError, match=r"constant of shape \(4, 3\).*not the batch"):
        x * np.ones((4, 3), np.float32)
    with pytest.raises(ValueError, match="w must be a vector or matrix"):
        x @ np.ones((2, 3, 2), np.float32)


# -- Lambda: other jax.numpy code, saved by the function's name --------------------------------
@xf.keras.saving.register_serializable(package="tests")
def scaled_log1p(x, scale=1.0):
    import jax.numpy as jnp
    return scale * jnp.log1p(jnp.abs(x))


def unregistered_square(x):
    return x * x


def test_lambda_layers_compute_and_save_by_function_name(tmp_path):
    inputs = xf.keras.Input((4,))
    hidden = layers.Lambda(scaled_log1p, arguments={"scale": 2.0})(inputs)
    model = models.Model(inputs, layers.Dense(1)(layers.Lambda(unregistered_square)(hidden)))
    kernel, bias = model.get_weights()
    expected = (2.0 * np.log1p(np.abs(X))) ** 2 @ kernel + bias
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-5)
    model.save(tmp_path / "m", platforms=HERE)
    with pytest.raises(ValueError, match=r"'unregistered_square' is not known here.*"
                                         r"custom_objects"):
        models.load_model(tmp_path / "m")
    loaded = models.load_model(tmp_path / "m",
                               custom_objects={"unregistered_square": unregistered_square})
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_a_lambda_runs_but_refuses_to_save(tmp_path):
    inputs = xf.keras.Input((4,))
    model = models.Model(inputs, layers.Dense(1)(layers.Lambda(lambda x: x[:, :2] * 3)(inputs)))
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(model(X), X[:, :2] * 3 @ kernel + bias, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="has no name to load it by.*register_serializable"):
        model.save(tmp_path / "m", platforms=HERE)
    assert not (tmp_path / "m").exists()


def test_operators_keep_float16_under_a_mixed_policy():
    from xlaflow import mixed_precision
    mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = xf.keras.Input((3,))
        hidden = layers.Dense(4)(inputs)
        model = models.Model(inputs, [hidden, 2 * hidden[:, :2] - 1])
    finally:
        mixed_precision.set_global_policy("float32")
    hidden_value, out = model(X[:, :3])
    assert hidden_value.dtype == out.dtype == np.float16  # no cast to float32 and back
    np.testing.assert_array_equal(out, 2 * np.asarray(hidden_value)[:, :2] - 1)


@pytest.mark.parametrize("make", [
    lambda: operators.Operator("getitem", key=operators.encode_key((Ellipsis, slice(1, None),
                                                                    None))),
    lambda: operators.Operator("subtract", constant={"array": [1.0, 2.5], "dtype": "float32"},
                               reverse=True),
    lambda: operators.Operator("matmul"),
    lambda: layers.Lambda(scaled_log1p, arguments={"scale": 3.0}, name="log"),
], ids=["getitem", "constant", "two_inputs", "lambda"])
def test_operator_and_lambda_configs_round_trip(make):
    """tests/keras/test_configs.py's checks (those layers are not exported in xlaflow.layers,
    which that file covers)."""
    from tests.keras.test_configs import RENAMED, _arguments, _json
    layer = make()
    if layer.get_config().get("op") == "matmul":  # a batch of (2, 3) @ (3, 2) matrices
        args = [np.repeat(X[:, :2, None], 3, axis=2), np.ones((32, 3, 2), np.float32)]
    else:
        args = X[:, :2]
    expected = layer(args)
    config = layer.get_config()
    missing = _arguments(type(layer)) - RENAMED - set(config)
    assert not missing, f"get_config() lacks constructor arguments {sorted(missing)}"
    clone = type(layer).from_config(_json(config))
    assert type(clone) is type(layer) and clone.get_config() == config
    np.testing.assert_array_equal(clone(args), expected)
