"""keras.layers.StackedRNNCells and RNN([cells]): one scan running the cells in turn.

Oracle: the same cells as separate RNN layers (return_sequences=True on all but the last),
with the same weights, which is what stacking means.
"""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


class MinimalRNNCell(keras.layers.Layer):
    """The Keras guide's user cell."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                name="recurrent_kernel")

    def call(self, inputs, states):
        output = inputs @ self.kernel + states[0] @ self.recurrent_kernel
        return output, [output]


def separate_layers(cells_like, x):
    """Each cell in its own RNN layer, the last returning its sequence or not."""
    layers = [keras.layers.RNN(cell, return_sequences=True, return_state=True)
              for cell in cells_like]
    states = []
    for layer in layers:
        x, *final = layer(x)
        states.extend(final)
    return x, states, layers


@pytest.mark.parametrize("make", [
    lambda: [keras.layers.LSTMCell(4), keras.layers.LSTMCell(6)],
    lambda: [keras.layers.GRUCell(5), keras.layers.SimpleRNNCell(3), MinimalRNNCell(2)],
])
def test_a_list_of_cells_equals_the_same_cells_as_stacked_layers(make):
    x = np.random.default_rng(0).normal(size=(3, 7, 4)).astype("float32")
    stacked = keras.layers.RNN(make(), return_sequences=True, return_state=True)
    out, *states = stacked(x)
    expected, expected_states, layers = separate_layers(make(), x)
    # the same weights: the stacked cells' in order, one layer's after another's
    weights = stacked.get_weights()
    for layer in layers:
        n = len(layer.weights)
        layer.set_weights(weights[:n])
        weights = weights[n:]
    expected, expected_states, _ = separate_layers([layer.cell for layer in layers], x)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    # Keras 2: one entry per cell, a list where the cell has several states (LSTM's h, c)
    assert len(states) == len(stacked.cell.cells)
    assert [isinstance(s, list) for s in states] == [
        isinstance(c.state_size, list) for c in stacked.cell.cells]
    states = [s for group in states for s in (group if isinstance(group, list) else [group])]
    assert len(states) == len(expected_states)
    for got, want in zip(states, expected_states):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    last = keras.layers.RNN(stacked.cell)(x)  # the last step's output only
    np.testing.assert_allclose(last, expected[:, -1], rtol=1e-5, atol=1e-6)


def test_stacked_cells_save_train_and_take_dropout_and_masks():
    cells = keras.layers.StackedRNNCells([keras.layers.LSTMCell(4, dropout=0.5),
                                          keras.layers.GRUCell(3, recurrent_dropout=0.5)])
    model = keras.Sequential([keras.layers.Masking(),
                              keras.layers.RNN(cells), keras.layers.Dense(1)])
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 6, 2)).astype("float32")
    x[:, 4:] = 0.0  # masked steps: the final output is the one at step 3
    y = x[:, :4].sum(axis=(1, 2))[:, None]
    inference = model.predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x[:, :4], verbose=0), inference, rtol=1e-5,
                               atol=1e-6)
    assert not np.allclose(model(x, training=True), inference)  # dropout in training
    clone = keras.Sequential.from_config(model.get_config())
    clone(x[:1])  # built by a call, as Keras 2 needs for a model without an input shape
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), inference, rtol=1e-6)
    assert isinstance(clone.layers[1].cell, keras.layers.StackedRNNCells)
    model.compile("adam", "mse")
    # judged without dropout: fit's own losses carry its draws, and so the tests' order
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, verbose=0)
    assert model.evaluate(x, y, verbose=0) < before


def test_bad_cells_are_refused():
    with pytest.raises(ValueError, match="non-empty list of cells"):
        keras.layers.StackedRNNCells([])
    with pytest.raises(ValueError, match="each cell must be a Layer with a `state_size`"):
        keras.layers.StackedRNNCells([keras.layers.Dense(3)])
    assert xf.keras.layers.StackedRNNCells is keras.layers.StackedRNNCells


def test_states_are_grouped_by_cell_and_go_back_in_as_initial_state():
    # Keras 2: state_size is the cells' in a tuple; return_state gives [out, [h1, c1], h2],
    # which initial_state takes back. Oracle: two halves of a sequence, the second started
    # from the first's states, give what the whole sequence gives.
    x = np.random.default_rng(2).normal(size=(3, 6, 4)).astype("float32")
    layer = keras.layers.RNN([keras.layers.LSTMCell(4), keras.layers.GRUCell(3)],
                             return_sequences=True, return_state=True)
    assert layer.cell.state_size == ([4, 4], 3)
    whole, (h1, c1), h2 = layer(x)
    assert (h1.shape, c1.shape, h2.shape) == ((3, 4), (3, 4), (3, 3))
    first, *states = layer(x[:, :4])
    assert isinstance(states[0], list) and len(states) == 2
    second, *_ = layer(x[:, 4:], initial_state=states)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole,
                               rtol=1e-5, atol=1e-6)
    # a functional encoder-decoder passes the grouped Keras tensors on the same way
    enc_in, dec_in = keras.Input((4, 4)), keras.Input((2, 4))
    encoded = layer(enc_in)
    model = keras.Model([enc_in, dec_in], layer(dec_in, initial_state=encoded[1:])[0])
    np.testing.assert_allclose(model([x[:, :4], x[:, 4:]]), second, rtol=1e-5, atol=1e-6)


def test_bidirectional_stacked_cells_return_each_directions_states():
    # it raised AttributeError: Bidirectional asked keras.layers.RNN for _initial_states
    x = np.random.default_rng(3).normal(size=(2, 5, 3)).astype("float32")
    bi = keras.layers.Bidirectional(keras.layers.RNN(
        [keras.layers.LSTMCell(2), keras.layers.GRUCell(3)], return_state=True))
    out, *states = bi(x)
    assert out.shape == (2, 6) and len(states) == 4
    forward, *forward_states = bi.forward_layer(x)
    for got, want in zip(states[:2], forward_states):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
    np.testing.assert_allclose(out[:, :3], forward, rtol=1e-6)
    plain = keras.layers.Bidirectional(keras.layers.RNN(keras.layers.LSTMCell(2),
                                                        return_state=True))
    assert len(plain(x)) == 5
