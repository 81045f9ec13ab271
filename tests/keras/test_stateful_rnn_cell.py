"""keras.layers.RNN(cell, stateful=True) over a user's cell, as Keras 2.12 documents stateful
RNNs: a call goes on from the states the last one left (so a sequence fed in chunks gives
what one pass over it gives), reset_states() zeroes or sets them, fit with shuffle=False
continues row i of a batch from row i of the batch before, and a stateful layer must know
its batch size. Oracle: the cell's recurrence in NumPy."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow.keras import layers

RNG = np.random.default_rng(41)
TOL = {"rtol": 1e-4, "atol": 1e-5}


class LeakyCell(layers.Layer):
    """Two states: h' = tanh(x W + h U) and a running sum s' = s + h'; output h'."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                name="recurrent_kernel")

    def call(self, inputs, states):
        h, total = states
        new = xf.tanh(xf.matmul(inputs, self.kernel) + xf.matmul(h, self.recurrent_kernel))
        return new, [new, total + new]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def leaky_numpy(x, kernel, recurrent, h=None, total=None):
    """(outputs per step, final h, final running sum) over (batch, time, features)."""
    h = np.zeros((x.shape[0], recurrent.shape[0])) if h is None else h
    total = np.zeros_like(h) if total is None else total
    outputs = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ kernel + h @ recurrent)
        total = total + h
        outputs.append(h)
    return np.stack(outputs, 1), h, total


def weights(layer):
    return [np.asarray(w, np.float64) for w in layer.get_weights()]


def test_a_sequence_fed_in_chunks_equals_one_pass_and_reset_states():
    layer = layers.RNN(LeakyCell(3), stateful=True, return_sequences=True)
    x = RNG.normal(size=(2, 9, 4)).astype(np.float32)
    chunks = [np.asarray(layer(x[:, a:b])) for a, b in ((0, 3), (3, 7), (7, 9))]
    expected, h, total = leaky_numpy(x.astype(np.float64), *weights(layer))
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), expected, **TOL)
    np.testing.assert_allclose(layer.states[0], h, **TOL)
    np.testing.assert_allclose(layer.states[1], total, **TOL)
    assert len(layer.weights) == 2 and len(layer.variables) == 4  # states, not weights
    layer.reset_states()
    assert all(np.all(np.asarray(s) == 0) for s in layer.states)
    np.testing.assert_allclose(layer(x[:, :3]), expected[:, :3], **TOL)
    start = [RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))]
    layer.reset_states(start)
    again, _, total = leaky_numpy(x[:, :4].astype(np.float64), *weights(layer), *start)
    np.testing.assert_allclose(layer(x[:, :4]), again, **TOL)
    np.testing.assert_allclose(layer.states[1], total, **TOL)
    with pytest.raises(ValueError, match="batches of 2; received a batch of 5"):
        layer(np.zeros((5, 3, 4), np.float32))


def test_fit_with_shuffle_false_continues_each_row_from_the_batch_before():
    model = keras.Sequential([keras.Input((5, 4), batch_size=2),
                              layers.RNN(LeakyCell(3), stateful=True)])
    # a zero learning rate keeps the weights, so that NumPy can replay the epoch
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    x = RNG.normal(size=(4, 5, 4)).astype(np.float32)
    y = RNG.normal(size=(4, 3)).astype(np.float32)
    history = model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    w = weights(model.layers[0])
    first, h1, s1 = leaky_numpy(x[:2].astype(np.float64), *w)
    second, h2, s2 = leaky_numpy(x[2:].astype(np.float64), *w, h=h1, total=s1)
    losses = [np.mean((first[:, -1] - y[:2]) ** 2), np.mean((second[:, -1] - y[2:]) ** 2)]
    np.testing.assert_allclose(history.history["loss"][0], np.mean(losses), **TOL)
    np.testing.assert_allclose(model.layers[0].states[0], h2, **TOL)
    np.testing.assert_allclose(model.layers[0].states[1], s2, **TOL)
    model.reset_states()
    assert all(np.all(np.asarray(s) == 0) for s in model.layers[0].states)


def test_bidirectional_over_a_stateful_cell_layer_resets_both_directions():
    with keras.utils.custom_object_scope({"LeakyCell": LeakyCell}):  # the layer is copied
        layer = layers.Bidirectional(layers.RNN(LeakyCell(2), stateful=True))
    x = RNG.normal(size=(3, 4, 2)).astype(np.float32)
    before = np.asarray(layer(x))
    assert layer.stateful and not np.allclose(layer(x), before)  # went on from the states
    layer.reset_states()
    np.testing.assert_allclose(layer(x), before, **TOL)


@pytest.mark.parametrize("build", [
    lambda: layers.RNN(LeakyCell(2), stateful=True)(keras.Input((4, 5))),
    lambda: keras.Sequential([layers.RNN(LeakyCell(2), stateful=True, input_shape=(4, 5))]),
    lambda: layers.RNN(LeakyCell(2), stateful=True).build((None, 4, 5)),
    lambda: layers.RNN(LeakyCell(2), stateful=True).reset_states(),  # never called
], ids=["functional", "input_shape", "build", "reset"])
def test_a_stateful_cell_layer_without_a_batch_size_is_keras2s_error(build):
    with pytest.raises(ValueError, match="stateful, it needs to know its batch size.*"
                                         "batch_size= to keras.Input"):
        build()


def test_a_declared_batch_size_the_config_and_reset_of_a_plain_layer():
    inputs = keras.Input((4, 5), batch_size=3)
    model = keras.Model(inputs, layers.RNN(LeakyCell(2), stateful=True, name="r")(inputs))
    x = RNG.normal(size=(3, 4, 5)).astype(np.float32)
    out = model.predict(x, batch_size=3, verbose=0)
    np.testing.assert_allclose(model.get_layer("r").states[0], out, **TOL)
    config = model.get_layer("r").get_config()
    assert config["stateful"] is True
    with keras.utils.custom_object_scope({"LeakyCell": LeakyCell}):
        again = layers.RNN.from_config(config)
    assert again.stateful and again.states == [None, None]
    assert layers.RNN(LeakyCell(2)).get_config()["stateful"] is False
    with pytest.raises(AttributeError, match="stateful=True"):
        layers.RNN(LeakyCell(2)).reset_states()
