"""dropout/recurrent_dropout in SimpleRNN, LSTM, GRU and their cells, checked against a NumPy
recurrence written from Keras 2's cell formulas (implementation=1: one mask per gate) given
the masks the layer drew; and unroll/time_major against the default path."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow.keras import layers

RNG = np.random.default_rng(11)
TOL = {"rtol": 1e-4, "atol": 1e-5}
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def numpy_rnn(kind, x, weights, in_masks, rec_masks, states=None, keep=None):
    """Keras 2's cells step by step: gate g's input is x * in_masks[g] (one mask for all
    gates when in_masks holds one), its state input h * rec_masks[g]; returns (outputs
    (batch, time, units), final states)."""
    kernel, recurrent, bias = (np.asarray(w, np.float64) for w in weights)
    units, gates = recurrent.shape[0], GATES[kind]
    batch = x.shape[0]
    zeros = np.zeros((batch, units))
    h, c = (zeros, zeros) if states is None else (states[0], states[-1])

    def cols(m, g):
        return m[..., g * units:(g + 1) * units]

    def drop(v, masks, g):
        return v if masks is None else v * np.asarray(masks[min(g, len(masks) - 1)], np.float64)

    outputs = []
    for t in range(x.shape[1]):
        xs = [drop(x[:, t], in_masks, g) @ cols(kernel, g) for g in range(gates)]
        hs = [drop(h, rec_masks, g) @ cols(recurrent, g) for g in range(gates)]
        if kind == "SimpleRNN":
            new_h, new_c = np.tanh(xs[0] + hs[0] + bias), c
        elif kind == "LSTM":
            i, f, g_, o = (xs[g] + hs[g] + cols(bias, g) for g in range(4))
            new_c = sigmoid(f) * c + sigmoid(i) * np.tanh(g_)
            new_h = sigmoid(o) * np.tanh(new_c)
        else:  # GRU, reset_after: the recurrent bias inside the reset product
            z = sigmoid(xs[0] + cols(bias[0], 0) + hs[0] + cols(bias[1], 0))
            r = sigmoid(xs[1] + cols(bias[0], 1) + hs[1] + cols(bias[1], 1))
            cand = np.tanh(xs[2] + cols(bias[0], 2) + r * (hs[2] + cols(bias[1], 2)))
            new_h, new_c = z * h + (1 - z) * cand, c
        if keep is not None:
            k = keep[:, t:t + 1]
            new_h, new_c = np.where(k, new_h, h), np.where(k, new_c, c)
        h, c = new_h, new_c
        outputs.append(h)
    return np.stack(outputs, 1), ((h, c) if kind == "LSTM" else (h,))


def record_masks(owner):
    """Wraps owner._draw_masks so each call's (input masks, state masks) are kept."""
    drawn, original = [], owner._draw_masks

    def draw(*args, **kwargs):
        out = original(*args, **kwargs)
        drawn.append(out)
        return out
    owner._draw_masks = draw
    return drawn


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_training_output_is_the_recurrence_with_the_drawn_masks(kind):
    x = RNG.normal(size=(3, 5, 4)).astype(np.float32)
    layer = getattr(layers, kind)(6, dropout=0.4, recurrent_dropout=0.3,
                                  return_sequences=True, bias_initializer="normal")
    drawn = record_masks(layer)
    out = np.asarray(layer(x, training=True))
    (in_masks, rec_masks), = drawn
    gates = GATES[kind]
    assert in_masks.shape == (gates, 3, 4) and rec_masks.shape == (gates, 3, 6)
    expected, _ = numpy_rnn(kind, x.astype(np.float64), layer.get_weights(),
                            in_masks, rec_masks)
    np.testing.assert_allclose(out, expected, **TOL)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_dropout_alone_keeps_implementation_2_with_one_input_mask(kind):
    x = RNG.normal(size=(2, 4, 3)).astype(np.float32)
    layer = getattr(layers, kind)(5, dropout=0.5)
    assert layer.implementation == 2
    drawn = record_masks(layer)
    out = layer(x, training=True)
    (in_masks, rec_masks), = drawn
    assert in_masks.shape == (1, 2, 3) and rec_masks is None
    expected, _ = numpy_rnn(kind, x.astype(np.float64), layer.get_weights(), in_masks, None)
    np.testing.assert_allclose(out, expected[:, -1], **TOL)
    assert getattr(layers, kind)(5, dropout=0.5, implementation=1).implementation == 1
    assert getattr(layers, kind)(5, recurrent_dropout=0.1).implementation == 1  # Keras 2


def _identity_rnn(rate, recurrent_rate=0.0, units=40, features=None):
    """A linear SimpleRNN whose output at step t is the dropped input (identity kernel, no
    recurrence), or with recurrent_rate the dropped state (identity recurrent kernel)."""
    features = units if features is None else features
    layer = layers.SimpleRNN(units, activation="linear", use_bias=False,
                             dropout=rate, recurrent_dropout=recurrent_rate,
                             return_sequences=True)
    layer.build((None, 3, features))
    recurrent = np.eye(units) if recurrent_rate else np.zeros((units, units))
    layer.set_weights([np.eye(features, units, dtype=np.float32),
                       recurrent.astype(np.float32)])
    return layer


def test_input_mask_is_constant_over_time_scaled_and_keeps_the_expected_fraction():
    rate, batch, units = 0.3, 250, 40
    layer = _identity_rnn(rate, units=units)
    out = np.asarray(layer(np.ones((batch, 3, units), np.float32), training=True))
    for t in (1, 2):
        np.testing.assert_array_equal(out[:, t], out[:, 0])  # one mask for every step
    values = np.unique(out)
    np.testing.assert_allclose(values, [0.0, 1 / (1 - rate)], rtol=1e-6)
    kept, n = (out[:, 0] != 0).mean(), batch * units
    assert abs(kept - (1 - rate)) < 4 * np.sqrt(rate * (1 - rate) / n)


def test_recurrent_mask_drops_the_state_not_the_input():
    rate, batch, units = 0.25, 250, 40
    layer = _identity_rnn(0.0, recurrent_rate=rate, units=units)
    start = np.ones((batch, units), np.float32)
    out = np.asarray(layer(np.zeros((batch, 3, units), np.float32), initial_state=start,
                           training=True))
    mask = out[:, 0]  # h1 = (h0 * mask) @ I
    np.testing.assert_allclose(np.unique(mask), [0.0, 1 / (1 - rate)], rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], mask * mask, rtol=1e-6)  # the same mask again
    kept, n = (mask != 0).mean(), batch * units
    assert abs(kept - (1 - rate)) < 4 * np.sqrt(rate * (1 - rate) / n)
    # the input is not dropped by recurrent_dropout
    np.testing.assert_array_equal(
        layer(np.ones((batch, 3, units), np.float32), training=True)[:, 0],
        np.ones((batch, units)))


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_inference_is_the_plain_recurrence(kind):
    x = RNG.normal(size=(3, 5, 4)).astype(np.float32)
    layer = getattr(layers, kind)(6, dropout=0.5, recurrent_dropout=0.5)
    plain = getattr(layers, kind)(6)
    plain.build(x.shape)
    plain.set_weights(layer.get_weights() if layer.built else _build(layer, x))
    np.testing.assert_array_equal(layer(x), plain(x))
    np.testing.assert_array_equal(layer(x, training=False), plain(x))
    assert not np.allclose(layer(x, training=True), plain(x))


def _build(layer, x):
    layer.build(x.shape)
    return layer.get_weights()


def test_each_call_and_each_compiled_call_draws_new_masks():
    x = np.ones((8, 3, 10), np.float32)
    layer = _identity_rnn(0.5, units=10)
    first, second = layer(x, training=True), layer(x, training=True)
    assert not np.array_equal(first, second)
    step = xf.function(lambda v: layer(v, training=True))
    assert not np.array_equal(step(x), step(x))


def test_gradients_flow_through_the_dropped_recurrence():
    x = RNG.normal(size=(4, 5, 3)).astype(np.float32)
    layer = layers.LSTM(6, dropout=0.3, recurrent_dropout=0.3)
    layer.build(x.shape)

    @xf.function
    def grads_of(v):
        with xf.GradientTape() as tape:
            loss = xf.reduce_sum(layer(v, training=True) ** 2)
        return tape.gradient(loss, layer.trainable_weights)

    grads = grads_of(x)
    assert len(grads) == 3
    for g in grads:
        g = np.asarray(g)
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0


def _model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((6, 2)),
                              layers.LSTM(8, dropout=0.2, recurrent_dropout=0.2),
                              layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    return model


def test_fit_with_dropout_trains_and_repeats_under_set_random_seed():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 2)).astype(np.float32)
    y = x[:, :, 0].sum(axis=1, keepdims=True)
    runs = []
    for _ in range(2):
        model = _model(3)
        history = model.fit(x, y, epochs=15, batch_size=16, verbose=0, shuffle=False)
        runs.append(history.history["loss"])
    assert runs[0][-1] < 0.5 * runs[0][0]
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-6)


def test_stateful_with_dropout_continues_from_the_kept_states():
    x1, x2 = (RNG.normal(size=(2, 4, 3)).astype(np.float32) for _ in range(2))
    layer = layers.LSTM(5, stateful=True, dropout=0.3, recurrent_dropout=0.3,
                        return_sequences=True)
    drawn = record_masks(layer)
    out1, out2 = layer(x1, training=True), layer(x2, training=True)
    weights = layer.get_weights()
    exp1, states = numpy_rnn("LSTM", x1.astype(np.float64), weights, *drawn[0])
    exp2, states = numpy_rnn("LSTM", x2.astype(np.float64), weights, *drawn[1], states=states)
    np.testing.assert_allclose(out1, exp1, **TOL)
    np.testing.assert_allclose(out2, exp2, **TOL)
    np.testing.assert_allclose(layer.states[0], states[0], **TOL)
    np.testing.assert_allclose(layer.states[1], states[1], **TOL)


@pytest.mark.parametrize("kind", ["SimpleRNN", "GRU"])
def test_embedding_mask_and_dropout(kind):
    tokens = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]])
    embed = layers.Embedding(10, 4, mask_zero=True)
    layer = getattr(layers, kind)(6, dropout=0.4, recurrent_dropout=0.4)
    drawn = record_masks(layer)
    vectors = embed(tokens)
    out = layer(vectors, mask=embed.compute_mask(tokens), training=True)
    expected, _ = numpy_rnn(kind, np.asarray(vectors, np.float64), layer.get_weights(),
                            *drawn[0], keep=tokens != 0)
    np.testing.assert_allclose(out, expected[:, -1], **TOL)
    model_out = keras.Sequential([embed, layer])(tokens)  # inference: no masks drawn
    assert model_out.shape == (2, 6) and all(d == (None, None) for d in drawn[1:])


def _seeded(make, seed=7):
    keras.utils.set_random_seed(seed)
    return make()


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("training", [False, True])
def test_unroll_and_time_major_equal_the_default_path(kind, training):
    x = RNG.normal(size=(3, 5, 4)).astype(np.float32)
    args = {"dropout": 0.3, "recurrent_dropout": 0.2, "return_sequences": True,
            "return_state": True}
    cls = getattr(layers, kind)
    base = _seeded(lambda: cls(6, **args))(x, training=training)
    unrolled = _seeded(lambda: cls(6, unroll=True, **args))(x, training=training)
    major = _seeded(lambda: cls(6, time_major=True, **args))(np.swapaxes(x, 0, 1),
                                                             training=training)
    for b, u, m in zip(base, unrolled, major):
        np.testing.assert_allclose(u, b, **TOL)
        np.testing.assert_allclose(np.swapaxes(m, 0, 1) if m.ndim == 3 else m, b, **TOL)


def test_time_major_takes_a_time_major_mask_and_keeps_it():
    x = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    keep = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    layer = layers.GRU(4, return_sequences=True)
    major = layers.GRU(4, return_sequences=True, time_major=True)
    major.build((5, 2, 3))
    major.set_weights(_build(layer, x))
    expected = layer(x, mask=keep)
    got = major(np.swapaxes(x, 0, 1), mask=keep.T)
    np.testing.assert_allclose(np.swapaxes(got, 0, 1), expected, **TOL)
    np.testing.assert_array_equal(major.compute_mask(x, keep.T), keep.T)


@pytest.mark.parametrize("cell", ["SimpleRNNCell", "LSTMCell", "GRUCell"])
def test_cells_in_rnn_use_one_mask_set_per_call(cell):
    x = RNG.normal(size=(3, 5, 4)).astype(np.float32)
    kind = cell[:-4]
    rnn = layers.RNN(getattr(layers, cell)(6, dropout=0.4, recurrent_dropout=0.3),
                     return_sequences=True)
    drawn = record_masks(rnn.cell)
    out = rnn(x, training=True)
    assert len(drawn) == 1 and rnn.cell._call_masks is None  # drawn once, then forgotten
    expected, _ = numpy_rnn(kind, x.astype(np.float64), rnn.get_weights(), *drawn[0])
    np.testing.assert_allclose(out, expected, **TOL)
    plain = layers.RNN(getattr(layers, cell)(6), return_sequences=True)
    plain.build(x.shape)
    plain.set_weights(rnn.get_weights())
    np.testing.assert_array_equal(rnn(x), plain(x))
    # the layer and RNN(cell) draw the same masks from the same seed
    layer = _seeded(lambda: getattr(layers, kind)(6, dropout=0.4, recurrent_dropout=0.3,
                                                  return_sequences=True))
    wrapped = _seeded(lambda: layers.RNN(getattr(layers, cell)(
        6, dropout=0.4, recurrent_dropout=0.3), return_sequences=True))
    wrapped.build(x.shape)
    wrapped.set_weights(_build(layer, x))
    np.testing.assert_allclose(wrapped(x, training=True), layer(x, training=True), **TOL)


def test_rnn_unroll_and_time_major_equal_the_default_path():
    x = RNG.normal(size=(3, 5, 4)).astype(np.float32)
    keep = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)

    def make(**kw):
        return layers.RNN(layers.LSTMCell(6, dropout=0.3), return_sequences=True, **kw)
    for training in (False, True):
        base = _seeded(make)(x, mask=keep, training=training)
        unrolled = _seeded(lambda: make(unroll=True))(x, mask=keep, training=training)
        major = _seeded(lambda: make(time_major=True))(np.swapaxes(x, 0, 1), mask=keep.T,
                                                       training=training)
        np.testing.assert_allclose(unrolled, base, **TOL)
        np.testing.assert_allclose(np.swapaxes(major, 0, 1), base, **TOL)


def test_a_cell_called_alone_in_training_drops_its_inputs():
    cell = layers.SimpleRNNCell(30, dropout=0.5, activation="linear", use_bias=False)
    cell.build((None, 30))
    cell.set_weights([np.eye(30, dtype=np.float32), np.zeros((30, 30), np.float32)])
    ones, h = np.ones((20, 30), np.float32), [np.zeros((20, 30), np.float32)]
    np.testing.assert_array_equal(cell(ones, h)[0], ones)
    out = np.asarray(cell(ones, h, training=True)[0])
    np.testing.assert_allclose(np.unique(out), [0.0, 2.0])


@pytest.mark.parametrize("make", [
    lambda: layers.LSTM(3, dropout=0.2, recurrent_dropout=0.1, unroll=True, time_major=True),
    lambda: layers.GRU(3, dropout=0.25, implementation=1),
    lambda: layers.SimpleRNN(3, recurrent_dropout=0.5, unroll=True),
    lambda: layers.LSTMCell(3, dropout=0.2, recurrent_dropout=0.1),
    lambda: layers.GRUCell(3, dropout=0.2),
    lambda: layers.RNN(layers.SimpleRNNCell(3, dropout=0.1), unroll=True, time_major=True),
])
def test_config_round_trips(make):
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    owner = getattr(layer, "cell", layer)
    assert config.get("cell", {}).get("config", config)["dropout"] == owner.dropout


@pytest.mark.parametrize("argument,value", [("dropout", 1.0), ("dropout", -0.1),
                                            ("recurrent_dropout", "0.2"),
                                            ("recurrent_dropout", True)])
@pytest.mark.parametrize("make", [layers.LSTM, layers.GRUCell, layers.SimpleRNN])
def test_rates_are_checked(make, argument, value):
    with pytest.raises(ValueError, match=rf"{make.__name__}: {argument} must be a float in "
                                         rf"\[0, 1\); received {value!r}"):
        make(2, **{argument: value})


def test_implementation_is_checked():
    with pytest.raises(ValueError, match=r"LSTM: implementation must be 1 or 2; received 3"):
        layers.LSTM(2, implementation=3)


def test_time_major_stateful_keeps_states_for_the_second_axis():
    layer = layers.SimpleRNN(2, stateful=True, time_major=True)
    x = RNG.normal(size=(5, 4, 3)).astype(np.float32)  # (time, batch, features)
    out = layer(x)
    assert out.shape == (4, 2) and layer.states[0].shape == (4, 2)
    np.testing.assert_allclose(layer.states[0], out, **TOL)
    with pytest.raises(ValueError, match="needs to know its batch size"):
        layers.SimpleRNN(2, stateful=True, time_major=True)(keras.Input((None, 3),
                                                                       batch_size=5))
