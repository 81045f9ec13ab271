"""keras.layers.RNN over a user's cell, against the recurrence in NumPy: last output or
all of them, go_backwards, initial_state, masks (Keras 2's backend.rnn rules), multiple
states, Bidirectional, the config round trip, and refusals that name the alternative."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow.keras import layers

RNG = np.random.default_rng(7)
TOL = {"rtol": 1e-4, "atol": 1e-5}


class ElmanCell(layers.Layer):
    """h' = tanh(x W + h U); output h'."""

    def __init__(self, units, **kwargs):
        self.units = units
        self.state_size = units  # before Layer.__init__, as Keras 2 cells often do
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel",
                                      initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                name="recurrent_kernel",
                                                initializer="glorot_uniform")

    def call(self, inputs, states):
        h = xf.tanh(xf.matmul(inputs, self.kernel) + xf.matmul(states[0], self.recurrent_kernel))
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class TwoStateCell(layers.Layer):
    """A running sum and a running max of x W: two states, state_size [u, u]."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, inputs, states):
        z = xf.matmul(inputs, self.kernel)
        total, peak = states
        return total + z, (total + z, xf.maximum(peak, z))


def elman_numpy(x, kernel, recurrent, h=None, keep=None):
    """(outputs per step, final h); a masked step keeps h and repeats the last output."""
    h = np.zeros((x.shape[0], recurrent.shape[0])) if h is None else h
    out, outputs = np.zeros_like(h), []
    for t in range(x.shape[1]):
        new = np.tanh(x[:, t] @ kernel + h @ recurrent)
        k = np.ones((len(x), 1), bool) if keep is None else keep[:, t:t + 1]
        h, out = np.where(k, new, h), np.where(k, new, out)
        outputs.append(out)
    return np.stack(outputs, 1), h


def _w(layer):
    return [np.asarray(w, np.float64) for w in layer.get_weights()]


def test_last_output_sequences_backwards_and_initial_state():
    x = RNG.normal(size=(3, 5, 4)).astype(np.float32)
    cell = ElmanCell(6)
    layer = layers.RNN(cell, return_sequences=True, return_state=True)
    sequence, final = layer(x)
    expected, h = elman_numpy(x.astype(np.float64), *_w(cell))
    np.testing.assert_allclose(sequence, expected, **TOL)
    np.testing.assert_allclose(final, h, **TOL)
    np.testing.assert_allclose(layers.RNN(cell)(x), h, **TOL)  # the same (built) cell
    # as Keras: go_backwards reads the steps last to first and does not reverse the outputs
    backwards = layers.RNN(cell, go_backwards=True, return_sequences=True)(x)
    np.testing.assert_allclose(backwards, elman_numpy(x[:, ::-1].astype(np.float64),
                                                      *_w(cell))[0], **TOL)
    start = RNG.normal(size=(3, 6))
    np.testing.assert_allclose(layers.RNN(cell)(x, initial_state=[start]),
                               elman_numpy(x.astype(np.float64), *_w(cell), h=start)[1],
                               **TOL)
    with pytest.raises(ValueError, match=r"initial_state must be 1 state\(s\) of shapes"):
        layers.RNN(cell)(x, initial_state=[start, start])


def test_masked_steps_keep_the_state_and_repeat_the_output():
    x = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    x[0, 3:] = 0.0  # padding that Masking hides
    keep = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    inputs = keras.Input((5, 3))
    cell = ElmanCell(4)
    masked = layers.Masking()(inputs)
    model = keras.Model(inputs, [layers.RNN(cell, return_sequences=True)(masked),
                                 layers.RNN(cell)(masked)])
    sequence, last = model.predict(x, verbose=0)
    expected, h = elman_numpy(x.astype(np.float64), *_w(cell), keep=keep)
    np.testing.assert_allclose(sequence, expected, **TOL)
    np.testing.assert_allclose(last, h, **TOL)


def test_a_cell_with_two_states_and_a_trained_model():
    keras.utils.set_random_seed(0)
    x = RNG.normal(size=(8, 4, 3)).astype(np.float32)
    cell = TwoStateCell(2)
    output, total, peak = layers.RNN(cell, return_state=True)(x)
    z = x.astype(np.float64) @ _w(cell)[0]
    np.testing.assert_allclose(output, z.sum(1), **TOL)
    np.testing.assert_allclose(total, z.sum(1), **TOL)
    np.testing.assert_allclose(peak, np.maximum(z.max(1), 0.0), **TOL)

    # fit moves the cell's weights: the summed projection learns a linear target
    x = np.random.default_rng(0).normal(size=(16, 4, 3)).astype(np.float32)
    target = x.sum(1) @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = keras.Sequential([keras.Input((4, 3)), layers.RNN(TwoStateCell(1))])
    model.compile(optimizer=keras.optimizers.SGD(0.02), loss="mse")
    history = model.fit(x, target, epochs=100, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.01 * history.history["loss"][0]


def test_bidirectional_rnn_and_the_config_round_trip():
    x = RNG.normal(size=(2, 4, 3)).astype(np.float32)
    with keras.utils.custom_object_scope({"ElmanCell": ElmanCell}):
        both = layers.Bidirectional(layers.RNN(ElmanCell(2), return_sequences=True))
        out = both(x)
        forward = elman_numpy(x.astype(np.float64), *_w(both.forward_layer))[0]
        backward = elman_numpy(x[:, ::-1].astype(np.float64), *_w(both.backward_layer))[0]
        np.testing.assert_allclose(out, np.concatenate([forward, backward[:, ::-1]], -1),
                                   **TOL)
        layer = layers.RNN(ElmanCell(5), return_sequences=True)
        again = layers.RNN.from_config(layer.get_config())
    assert isinstance(again.cell, ElmanCell) and again.cell.units == 5
    assert again.return_sequences and not again.return_state


def test_refusals_name_what_to_use_instead():
    assert isinstance(layers.RNN([ElmanCell(2), ElmanCell(2)]).cell, layers.StackedRNNCells)
    with pytest.raises(ValueError, match="state_size"):
        layers.RNN(layers.Dense(2))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_built_in_cells_step_as_their_layers_in_numpy():
    x = RNG.normal(size=(2, 4, 3)).astype(np.float32)
    x64 = x.astype(np.float64)
    lstm = layers.RNN(layers.LSTMCell(5), return_state=True)
    out, h_state, c_state = lstm(x)
    kernel, recurrent, bias = _w(lstm.cell)
    np.testing.assert_array_equal(bias[5:10], np.ones(5))  # unit_forget_bias
    h, c = np.zeros((2, 5)), np.zeros((2, 5))
    for t in range(4):
        i, f, g, o = np.split(x64[:, t] @ kernel + h @ recurrent + bias, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
    for actual, expected in ((out, h), (h_state, h), (c_state, c)):
        np.testing.assert_allclose(actual, expected, **TOL)

    gru = layers.RNN(layers.GRUCell(5), return_sequences=True)
    sequence = gru(x)
    kernel, recurrent, bias = _w(gru.cell)
    h, steps = np.zeros((2, 5)), []
    for t in range(4):
        xz, xr, xh = np.split(x64[:, t] @ kernel + bias[0], 3, axis=-1)
        hz, hr, hh = np.split(h @ recurrent + bias[1], 3, axis=-1)
        z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
        h = z * h + (1 - z) * np.tanh(xh + r * hh)
        steps.append(h)
    np.testing.assert_allclose(sequence, np.stack(steps, 1), **TOL)

    # stepped by hand (the time-series tutorial's FeedBack model): cell(x_t, states)
    cell = layers.SimpleRNNCell(5)
    states = [np.zeros((2, 5), np.float32)]
    for t in range(4):
        output, states = cell(x[:, t], states=states)
    kernel, recurrent, bias = _w(cell)
    h = np.zeros((2, 5))
    for t in range(4):
        h = np.tanh(x64[:, t] @ kernel + h @ recurrent + bias)
    np.testing.assert_allclose(output, h, **TOL)
    np.testing.assert_allclose(states[0], h, **TOL)
    with pytest.raises(ValueError, match=r"LSTMCell: recurrent_dropout must be a float in "
                       r"\[0, 1\); received 1.0"):
        layers.LSTMCell(3, recurrent_dropout=1.0)
