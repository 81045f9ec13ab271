"""Keras 2's `RNN.get_initial_state(inputs)`: one zero array per state for a batch like
`inputs`, which `initial_state=` takes back (TF's text-generation tutorial calls it)."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers

X = np.random.default_rng(3).normal(size=(4, 6, 5)).astype("float32")


@pytest.mark.parametrize("make, count", [
    (lambda: layers.GRU(3, return_state=True), 1),
    (lambda: layers.LSTM(3, return_state=True), 2),
    (lambda: layers.SimpleRNN(3, return_state=True), 1),
    (lambda: layers.RNN(layers.LSTMCell(3), return_state=True), 2),
    (lambda: layers.RNN(layers.GRUCell(3), return_state=True), 1),
])
def test_zero_states_per_state_for_the_batch_of_the_inputs(make, count):
    layer = make()
    states = layer.get_initial_state(X)
    assert isinstance(states, list) and len(states) == count
    for state in states:
        assert state.shape == (4, 3) and state.dtype == np.float32
        np.testing.assert_array_equal(state, np.zeros((4, 3)))
    # given back as initial_state, they are the default start: the same outputs
    given = layer(X, initial_state=states)
    default = layer(X)
    for a, b in zip(given, default):
        np.testing.assert_array_equal(a, b)


def test_time_major_takes_the_batch_from_the_second_axis():
    layer = layers.GRU(2, time_major=True)
    states = layer.get_initial_state(np.zeros((6, 4, 5), "float32"))
    assert [s.shape for s in states] == [(4, 2)]


def test_the_state_dtype_is_the_inputs_and_a_nested_input_gives_its_first():
    layer = layers.LSTM(2)
    states = layer.get_initial_state([X.astype("float16"), np.zeros((9, 6, 1), "float32")])
    assert [(s.shape, s.dtype) for s in states] == [((4, 2), np.float16)] * 2


def test_carried_states_continue_the_sequence_as_one_call():
    # The tutorial's loop: the state one call returns starts the next, so two halves of a
    # sequence give the outputs of the whole (against the layer on the whole sequence)
    xf.random.set_seed(0)
    gru = layers.GRU(3, return_sequences=True, return_state=True)
    whole, _ = gru(X, initial_state=gru.get_initial_state(X))
    first, state = gru(X[:, :4], initial_state=gru.get_initial_state(X))
    second, _ = gru(X[:, 4:], initial_state=state)
    np.testing.assert_allclose(np.concatenate([first, second], 1), whole, rtol=1e-5,
                               atol=1e-6)
