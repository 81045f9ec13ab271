"""SimpleRNN against a NumPy loop; Bidirectional against NumPy LSTM/SimpleRNN loops run
forward and over the reversed sequence; TimeDistributed against the layer on each step."""

import numpy as np
import pytest

from xlaflow.keras import layers, regularizers

RNG = np.random.default_rng(12)
X = RNG.normal(size=(3, 5, 4)).astype(np.float32)
TOL = {"rtol": 1e-4, "atol": 1e-5}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def simple_rnn_numpy(x, kernel, recurrent, bias, h=None, activation=np.tanh):
    """(sequence (batch, time, units), last h)."""
    h = np.zeros((x.shape[0], recurrent.shape[0])) if h is None else h
    outputs = []
    for t in range(x.shape[1]):
        h = activation(x[:, t] @ kernel + h @ recurrent + bias)
        outputs.append(h)
    return np.stack(outputs, 1), h


def lstm_numpy(x, kernel, recurrent, bias, h=None, c=None):
    """(sequence, last h, last c), Keras' gate order (i, f, c, o)."""
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units)) if h is None else h
    c = np.zeros((x.shape[0], units)) if c is None else c
    outputs = []
    for t in range(x.shape[1]):
        i, f, g, o = np.split(x[:, t] @ kernel + h @ recurrent + bias, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, 1), h, c


# -- SimpleRNN --------------------------------------------------------------------------------
def test_simple_rnn_matches_numpy():
    layer = layers.SimpleRNN(6, return_sequences=True, return_state=True,
                             bias_initializer="random_normal")
    seq, h = layer(X)
    assert layer.name.startswith("simple_rnn")
    assert [(w.name.split("/")[1], w.shape) for w in layer.weights] == [
        ("kernel", (4, 6)), ("recurrent_kernel", (6, 6)), ("bias", (6,))]
    e_seq, e_h = simple_rnn_numpy(X, *layer.get_weights())
    np.testing.assert_allclose(seq, e_seq, **TOL)
    np.testing.assert_allclose(h, e_h, **TOL)
    np.testing.assert_allclose(layers.SimpleRNN(6)(X).shape, (3, 6))


def test_simple_rnn_go_backwards_initial_state_activation_and_no_bias():
    layer = layers.SimpleRNN(3, activation="relu", use_bias=False, go_backwards=True,
                             return_sequences=True)
    h0 = RNG.normal(size=(3, 3)).astype(np.float32)
    out = layer(X, initial_state=h0)
    kernel, recurrent = layer.get_weights()
    expect, _ = simple_rnn_numpy(X[:, ::-1], kernel, recurrent, 0.0, h0,
                                 lambda z: np.maximum(z, 0))
    np.testing.assert_allclose(out, expect, **TOL)  # in processing order, as Keras
    np.testing.assert_allclose(layer(X, initial_state=[h0]), out, **TOL)


def test_simple_rnn_integer_sequence_equals_float():
    layer = layers.SimpleRNN(3)
    ints = RNG.integers(0, 5, (2, 4, 2))
    np.testing.assert_array_equal(layer(ints), layer(ints.astype(np.float32)))


def test_simple_rnn_arguments():
    config = layers.SimpleRNN(2, recurrent_regularizer="l2").get_config()
    assert "recurrent_activation" not in config and config["activation"] == "tanh"
    assert config["recurrent_regularizer"]["class_name"] == "L2"
    assert config["recurrent_initializer"]["class_name"] == "Orthogonal"
    with pytest.raises(TypeError, match="recurrent_activation"):
        layers.SimpleRNN(2, recurrent_activation="sigmoid")
    with pytest.raises(ValueError, match="SimpleRNN: units must be a positive integer; "
                                         "received 0"):
        layers.SimpleRNN(0)
    with pytest.raises(ValueError, match="SimpleRNN: recurrent_constraint: Unknown"):
        layers.SimpleRNN(2, recurrent_constraint="l2")
    with pytest.raises(ValueError, match=r"initial_state must hold 1 state"):
        layers.SimpleRNN(2)(X, initial_state=[np.zeros((3, 2)), np.zeros((3, 2))])


# -- Bidirectional ----------------------------------------------------------------------------
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_lstm_sequences_match_numpy(merge_mode):
    layer = layers.Bidirectional(layers.LSTM(3, return_sequences=True),
                                 merge_mode=merge_mode)
    out = layer(X)
    assert [w.name for w in layer.weights] == [
        f"{side}_{layer.forward_layer.name[8:]}/{weight}" for side in ("forward", "backward")
        for weight in ("kernel", "recurrent_kernel", "bias")]
    weights = layer.get_weights()
    forward = lstm_numpy(X, *weights[:3])[0]
    backward = lstm_numpy(X[:, ::-1], *weights[3:])[0][:, ::-1]  # back in time order
    expect = {"concat": lambda: np.concatenate([forward, backward], -1),
              "sum": lambda: forward + backward, "mul": lambda: forward * backward,
              "ave": lambda: (forward + backward) / 2}
    if merge_mode is None:
        assert isinstance(out, list) and len(out) == 2
        np.testing.assert_allclose(out[0], forward, **TOL)
        np.testing.assert_allclose(out[1], backward, **TOL)
    else:
        np.testing.assert_allclose(out, expect[merge_mode](), **TOL)


def test_bidirectional_states_and_initial_state_split_forward_then_backward():
    layer = layers.Bidirectional(layers.LSTM(2, return_state=True))
    states = [RNG.normal(size=(3, 2)).astype(np.float32) for _ in range(4)]
    out, fh, fc, bh, bc = layer(X, initial_state=states)
    weights = layer.get_weights()
    _, e_fh, e_fc = lstm_numpy(X, *weights[:3], *states[:2])
    _, e_bh, e_bc = lstm_numpy(X[:, ::-1], *weights[3:], *states[2:])
    for actual, expect in [(fh, e_fh), (fc, e_fc), (bh, e_bh), (bc, e_bc)]:
        np.testing.assert_allclose(actual, expect, **TOL)
    np.testing.assert_allclose(out, np.concatenate([e_fh, e_bh], -1), **TOL)
    both = layers.Bidirectional(layers.SimpleRNN(2, return_state=True), merge_mode=None)
    assert len(both(X)) == 4  # [forward out, backward out, forward h, backward h]
    with pytest.raises(ValueError, match=r"initial_state must list the forward layer's "
                                         r"states then the backward layer's.*received 3"):
        layer(X, initial_state=states[:3])


def test_bidirectional_is_the_layer_run_forward_and_on_the_reversed_sequence():
    layer = layers.Bidirectional(layers.GRU(3, return_sequences=True), merge_mode=None)
    forward, backward = layer(X)
    gru = layers.GRU(3, return_sequences=True)
    gru(X)
    gru.set_weights(layer.backward_layer.get_weights())
    np.testing.assert_allclose(backward, np.asarray(gru(X[:, ::-1]))[:, ::-1], **TOL)
    gru.set_weights(layer.forward_layer.get_weights())
    np.testing.assert_allclose(forward, gru(X), **TOL)


def test_bidirectional_with_a_backward_layer_and_its_config():
    forward = layers.SimpleRNN(2, return_sequences=True, name="fw")
    backward = layers.LSTM(2, return_sequences=True, go_backwards=True, name="bw")
    layer = layers.Bidirectional(forward, merge_mode="sum", backward_layer=backward)
    out = layer(X)
    assert layer.backward_layer is backward and backward.name == "backward_bw"
    assert layer.forward_layer is not forward and layer.forward_layer.name == "forward_fw"
    assert not forward.built  # the given layer is a template, as in Keras 2
    weights = layer.get_weights()
    expect = simple_rnn_numpy(X, *weights[:3])[0] + lstm_numpy(
        X[:, ::-1], *weights[3:])[0][:, ::-1]
    np.testing.assert_allclose(out, expect, **TOL)
    config = layer.get_config()
    assert config["layer"]["class_name"] == "SimpleRNN"
    assert config["layer"]["config"]["name"] == "fw"
    assert config["backward_layer"]["config"]["name"] == "bw"
    assert config["merge_mode"] == "sum"
    clone = layers.Bidirectional.from_config(config)
    assert clone.get_config() == config
    assert [w.name for w in clone.weights] == []  # not built yet
    clone(X)
    assert [w.name.split("/")[0] for w in clone.weights] == ["forward_fw"] * 3 + [
        "backward_bw"] * 3


@pytest.mark.parametrize("make, error, match", [
    (lambda: layers.Bidirectional(layers.Dense(2)), ValueError, (
     r"Bidirectional: layer must be a recurrent layer instance \(SimpleRNN, LSTM, GRU\); "
     r"received <Dense")),
    (lambda: layers.Bidirectional(layers.LSTM), ValueError, "layer must be a recurrent"),
    (lambda: layers.Bidirectional(layers.LSTM(2), merge_mode="max"), ValueError,
     r"merge_mode must be one of \['concat', 'sum', 'mul', 'ave', None\]; received 'max'"),
    (lambda: layers.Bidirectional(layers.LSTM(2), backward_layer=layers.LSTM(2)), ValueError,
     "different go_backwards; received go_backwards=False for both"),
    (lambda: layers.Bidirectional(layers.LSTM(2), backward_layer=layers.LSTM(
        2, go_backwards=True, return_sequences=True)), ValueError,
     r"same return_sequences; received False \(forward\) and True \(backward\)"),
    (lambda: layers.TimeDistributed("dense"), ValueError,
     "TimeDistributed: layer must be a Layer instance; received 'dense'"),
])
def test_wrapper_argument_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bidirectional_regularizers_apply_to_both_directions():
    layer = layers.Bidirectional(layers.SimpleRNN(2, kernel_regularizer=regularizers.L2(1.0)))
    layer(X)
    weights = layer.get_weights()
    np.testing.assert_allclose(sorted(float(p) for p in layer.losses),
                               sorted([(weights[0] ** 2).sum(), (weights[3] ** 2).sum()]),
                               rtol=1e-5)


# -- TimeDistributed --------------------------------------------------------------------------
def test_time_distributed_dense_is_the_dense_of_every_step():
    dense = layers.Dense(5, activation="relu")
    layer = layers.TimeDistributed(dense)
    out = layer(X)
    assert layer.weights == dense.weights and len(layer.weights) == 2  # shared, not copied
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(out, np.maximum(X @ kernel + bias, 0), **TOL)
    assert layer.name.startswith("time_distributed")
    for t in range(X.shape[1]):
        np.testing.assert_allclose(out[:, t], dense(X[:, t]), **TOL)


def test_time_distributed_conv2d_and_training_flag():
    frames = RNG.normal(size=(2, 3, 5, 5, 2)).astype(np.float32)
    conv = layers.Conv2D(4, 3)
    out = layers.TimeDistributed(conv)(frames)
    assert out.shape == (2, 3, 3, 3, 4)
    np.testing.assert_allclose(out[:, 1], conv(frames[:, 1]), **TOL)
    dropout = layers.TimeDistributed(layers.Dropout(0.5, seed=1))
    np.testing.assert_array_equal(dropout(X), X)
    dropped = np.asarray(dropout(X, training=True))
    assert (dropped == 0).any() and dropped.shape == X.shape


def test_time_distributed_needs_a_time_axis():
    with pytest.raises(ValueError, match=r"expects inputs of rank 3 or more \(batch, time, "
                                         r"\.\.\.\); received shape \(3, 4\)"):
        layers.TimeDistributed(layers.Dense(2))(X[:, 0])


def test_wrappers_made_untrainable_freeze_their_sublayers():
    for layer in (layers.Bidirectional(layers.SimpleRNN(2), trainable=False),
                  layers.TimeDistributed(layers.Dense(2), trainable=False)):
        layer(X)
        assert layer.trainable_weights == [] and len(layer.non_trainable_weights) >= 2
        layer.trainable = True
        assert layer.non_trainable_weights == []
