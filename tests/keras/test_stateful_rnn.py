"""stateful=True recurrent layers as Keras 2 documents them: each call (or batch of
predict) goes on from the states the last one left, reset_states() zeroes or sets them,
checked against the recurrence in NumPy over the joined sequence."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow.keras import layers

RNG = np.random.default_rng(5)
TOL = {"rtol": 1e-4, "atol": 1e-5}


def simple_rnn_numpy(x, kernel, recurrent, bias, h=None):
    h = np.zeros((x.shape[0], recurrent.shape[0])) if h is None else h
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ kernel + h @ recurrent + bias)
    return h


def _weights(layer):
    return [np.asarray(w, np.float64) for w in layer.get_weights()]


def test_calls_continue_from_the_kept_states_until_reset():
    layer = layers.SimpleRNN(3, stateful=True)
    first, second = (RNG.normal(size=(2, 4, 5)).astype(np.float32) for _ in range(2))
    layer(first)
    out = layer(second)
    joined = np.concatenate([first, second], axis=1).astype(np.float64)
    np.testing.assert_allclose(out, simple_rnn_numpy(joined, *_weights(layer)), **TOL)
    np.testing.assert_allclose(layer.states[0], out, **TOL)
    assert len(layer.weights) == 3 and len(layer.variables) == 4  # a state, not a weight
    layer.reset_states()
    np.testing.assert_array_equal(layer.states[0], np.zeros((2, 3)))
    np.testing.assert_allclose(layer(second), simple_rnn_numpy(
        second.astype(np.float64), *_weights(layer)), **TOL)
    start = RNG.normal(size=(2, 3))
    layer.reset_states([start])
    np.testing.assert_allclose(layer(second), simple_rnn_numpy(
        second.astype(np.float64), *_weights(layer), h=start), **TOL)
    with pytest.raises(ValueError, match="batches of 2; received a batch of 5"):
        layer(np.zeros((5, 4, 5), np.float32))


def test_predict_batches_continue_row_by_row_and_model_reset_states():
    # Keras 2: row i of a batch goes on from row i of the batch before it
    model = keras.Sequential([keras.Input((4, 5), batch_size=2),
                              layers.SimpleRNN(3, stateful=True)])
    x = RNG.normal(size=(4, 4, 5)).astype(np.float32)
    out = model.predict(x, batch_size=2, verbose=0)
    weights = _weights(model.layers[0])
    h1 = simple_rnn_numpy(x[:2].astype(np.float64), *weights)
    np.testing.assert_allclose(out[:2], h1, **TOL)
    np.testing.assert_allclose(out[2:], simple_rnn_numpy(x[2:].astype(np.float64), *weights,
                                                         h=h1), **TOL)
    np.testing.assert_allclose(model.layers[0].states[0], out[2:], **TOL)
    model.reset_states()
    np.testing.assert_array_equal(model.layers[0].states[0], np.zeros((2, 3)))


def test_bidirectional_stateful_lstm_resets_both_directions():
    layer = layers.Bidirectional(layers.LSTM(2, stateful=True))
    x = RNG.normal(size=(3, 4, 2)).astype(np.float32)
    before = np.asarray(layer(x))
    assert layer.stateful and not np.allclose(layer(x), before)  # went on from the states
    layer.reset_states()
    assert all(np.all(np.asarray(s) == 0) for s in
               layer.forward_layer.states + layer.backward_layer.states)
    np.testing.assert_allclose(layer(x), before, **TOL)


def test_the_first_computing_call_fixes_the_batch_size():
    # a model's shape pass (a placeholder batch) makes no states; predict does
    model = keras.Sequential([keras.Input((4, 5), batch_size=3), layers.GRU(3, stateful=True)])
    gru = model.layers[0]
    assert gru.states == [None]
    with pytest.raises(ValueError, match="stateful, it needs to know its batch size"):
        layers.GRU(3, stateful=True).reset_states()  # never called: no batch size
    x = RNG.normal(size=(3, 4, 5)).astype(np.float32)
    out = model.predict(x, batch_size=3, verbose=0)
    assert gru.states[0].shape == (3, 3)
    np.testing.assert_allclose(gru.states[0], out, **TOL)
    with pytest.raises(ValueError, match="batches of 3; received a batch of 2"):
        model.predict(x[:2], verbose=0)


@pytest.mark.parametrize("build", [
    lambda: layers.LSTM(2, stateful=True)(keras.Input((4, 5))),
    lambda: keras.Sequential([keras.Input((4, 5)), layers.GRU(2, stateful=True)]),
    lambda: keras.Sequential([layers.SimpleRNN(2, stateful=True, input_shape=(4, 5))]),
    lambda: layers.Bidirectional(layers.LSTM(2, stateful=True))(keras.Input((4, 5))),
    lambda: layers.LSTM(2, stateful=True).build((None, 4, 5)),
], ids=["functional", "sequential", "input_shape", "bidirectional", "build"])
def test_a_stateful_layer_built_for_an_unknown_batch_size_is_an_error(build):
    # Keras 2: "If a RNN is stateful, it needs to know its batch size. ..." at build
    with pytest.raises(ValueError, match="stateful, it needs to know its batch size.*"
                                         "batch_size= to keras.Input"):
        build()


def test_a_declared_batch_size_or_an_array_call_builds_a_stateful_layer():
    x = RNG.normal(size=(3, 4, 5)).astype(np.float32)
    inputs = keras.Input((4, 5), batch_size=3)
    model = keras.Model(inputs, layers.Bidirectional(layers.LSTM(2, stateful=True))(inputs))
    assert model.predict(x, batch_size=3, verbose=0).shape == (3, 4)
    sequential = keras.Sequential([layers.GRU(2, stateful=True, batch_input_shape=(3, 4, 5))])
    assert sequential.predict(x, batch_size=3, verbose=0).shape == (3, 2)
    assert layers.SimpleRNN(2, stateful=True)(x).shape == (3, 2)
    assert layers.LSTM(2)(keras.Input((4, 5))).shape == (None, 2)  # only stateful needs it


def test_reset_needs_stateful_and_the_config_keeps_it():
    with pytest.raises(AttributeError, match="stateful=True"):
        layers.GRU(3).reset_states()
    assert layers.GRU(3).states == [None]
    config = layers.LSTM(3, stateful=True).get_config()
    assert config["stateful"] is True and layers.LSTM.from_config(config).stateful
    assert xf.keras.layers.LSTM(3).get_config()["stateful"] is False


@pytest.mark.parametrize("name", ["m", "m.keras", "m.h5"])
def test_a_called_stateful_model_saves_and_loads_with_fresh_states(tmp_path, name):
    """Its export takes the batch size the states are kept for (a batch-1 trace raised)
    and serves from the states saved; the kept states are state, not weights: the loaded
    Keras model starts at zeros, as after reset_states (NumPy recurrence as the oracle)."""
    model = keras.Sequential([layers.SimpleRNN(3, stateful=True, batch_input_shape=(2, 4, 5)),
                              layers.Dense(1)])
    first, second = (RNG.normal(size=(2, 4, 5)).astype(np.float32) for _ in range(2))
    model(first)
    path = str(tmp_path / name)
    model.save(path)
    loaded = keras.models.load_model(path)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    rnn = _weights(model.layers[0])
    kernel, bias = _weights(model.layers[1])
    fresh = simple_rnn_numpy(second.astype(np.float64), *rnn) @ kernel + bias
    np.testing.assert_allclose(loaded(second), fresh, **TOL)
    if name == "m":  # the directory form's serving export, for the kept batch size
        signature = xf.saved_model.load(path).signatures["serving_default"]
        out = next(iter(signature(**{signature.input_names[0]: second}).values()))
        joined = np.concatenate([first, second], axis=1).astype(np.float64)
        np.testing.assert_allclose(out, simple_rnn_numpy(joined, *rnn) @ kernel + bias, **TOL)
