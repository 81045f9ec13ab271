"""The eighteenth round of whole TF2 programs (see test_tf2_ports.py): the Keras 2 guides
"Working with RNNs" (built-in layers and their summaries, outputs and states, an
encoder-decoder, cells, stacked cells, cross-batch statefulness, Bidirectional, the CuDNN
section's two models, the NestedCell) and "Understanding masking & padding", at the guides'
sizes where they are quick (the NestedCell and the MNIST data are smaller and synthetic).
Only the imports change, except where a line says why.

Oracles: the recurrences written in NumPy from the layers' weights (masked steps skipped as
Keras 2's backend.rnn skips them), the guides' printed parameter counts, shapes and masks.
"""

import os
import re

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers

TOL = {"rtol": 1e-4, "atol": 1e-5}


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


# -- NumPy oracles (float64), Keras 2's gate orders ------------------------------------------

def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _weights(layer):
    return [np.asarray(w, np.float64) for w in layer.get_weights()]


def _run(step, x, states, mask=None):
    """Keras 2's backend.rnn in NumPy: every step's output and the final states; a masked
    step keeps the states and repeats the previous output."""
    x = np.asarray(x, np.float64)
    output = np.zeros_like(states[0])
    outputs = []
    for t in range(x.shape[1]):
        new_output, new_states = step(x[:, t], states)
        if mask is None:
            output, states = new_output, new_states
        else:
            keep = np.asarray(mask)[:, t, None]
            output = np.where(keep, new_output, output)
            states = [np.where(keep, n, s) for n, s in zip(new_states, states)]
        outputs.append(output)
    return np.stack(outputs, 1), states


def lstm_np(x, kernel, recurrent_kernel, bias, states=None, mask=None):
    units = recurrent_kernel.shape[0]

    def step(x_t, states):
        h, c = states
        i, f, g, o = np.split(x_t @ kernel + h @ recurrent_kernel + bias, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        return h, [h, c]

    zeros = [np.zeros((len(x), units))] * 2
    return _run(step, x, zeros if states is None else [np.asarray(s, np.float64)
                                                       for s in states], mask)


def gru_np(x, kernel, recurrent_kernel, bias, mask=None):
    """reset_after=True (Keras 2's default): gates z, r, h; bias rows input, recurrent."""
    def step(x_t, states):
        (h,) = states
        xz, xr, xh = np.split(x_t @ kernel + bias[0], 3, axis=-1)
        hz, hr, hh = np.split(h @ recurrent_kernel + bias[1], 3, axis=-1)
        z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
        h = z * h + (1 - z) * np.tanh(xh + r * hh)
        return h, [h]

    return _run(step, x, [np.zeros((len(x), recurrent_kernel.shape[0]))], mask)


def simple_rnn_np(x, kernel, recurrent_kernel, bias, mask=None):
    def step(x_t, states):
        h = np.tanh(x_t @ kernel + states[0] @ recurrent_kernel + bias)
        return h, [h]

    return _run(step, x, [np.zeros((len(x), recurrent_kernel.shape[0]))], mask)


def _summary_rows(capsys, model):
    """model.summary()'s rows as {layer name: (output shape text, parameter count)}, with the
    fields Keras 2.12 wraps onto the next line ('bidirectional (Bidirectiona' / 'l)') joined."""
    model.summary()
    rows, current = {}, None
    for line in capsys.readouterr().out.splitlines():
        fields = re.split(r"\s{2,}", line.strip())
        if not line.strip() or not line.startswith(" ") or fields[0] == "Layer (type)":
            current = None  # the blank line after each row, rules, totals, the header
        elif re.fullmatch(r"[\d,]+", fields[-1]) and len(fields) == 3:
            current = [fields[1], int(fields[2].replace(",", ""))]
            rows[fields[0].split(" (")[0]] = current
        elif current is not None and len(line) - len(line.lstrip()) > 20:
            current[0] += line.strip()  # the output shape, continued
    return {name: tuple(row) for name, row in rows.items()}


# -- Working with RNNs ----------------------------------------------------------------------

def test_rnn_guide_built_in_layers_summaries_and_outputs(capsys):
    model = keras.Sequential()
    # Add an Embedding layer expecting input vocab of size 1000, and
    # output embedding dimension of size 64.
    model.add(layers.Embedding(input_dim=1000, output_dim=64))

    # Add a LSTM layer with 128 internal units.
    model.add(layers.LSTM(128))

    # Add a Dense layer with 10 units.
    model.add(layers.Dense(10))

    # Embedding declares input_shape=(None,), as Keras 2's: summary() prints at once
    rows = _summary_rows(capsys, model)
    # the guide's printed shapes and parameter counts
    assert [rows[layer.name] for layer in model.layers] == [
        ("(None, None, 64)", 64000), ("(None, 128)", 98816), ("(None, 10)", 1290)]
    tokens = np.random.randint(0, 1000, size=(4, 9))
    output = model(tokens)
    assert model.count_params() == 164106
    embedded = _weights(model.layers[0])[0][tokens]
    _, (h, _) = lstm_np(embedded, *_weights(model.layers[1]))
    kernel, bias = _weights(model.layers[2])
    np.testing.assert_allclose(output, h @ kernel + bias, **TOL)

    model = keras.Sequential()
    model.add(layers.Embedding(input_dim=1000, output_dim=64))

    # The output of GRU will be a 3D tensor of shape (batch_size, timesteps, 256)
    model.add(layers.GRU(256, return_sequences=True))

    # The output of SimpleRNN will be a 2D tensor of shape (batch_size, 128)
    model.add(layers.SimpleRNN(128))

    model.add(layers.Dense(10))

    rows = _summary_rows(capsys, model)
    assert [rows[layer.name] for layer in model.layers] == [
        ("(None, None, 64)", 64000), ("(None, None, 256)", 247296), ("(None, 128)", 49280),
        ("(None, 10)", 1290)]
    output = model.predict(tokens, verbose=0)
    assert model.count_params() == 361866
    embedded = _weights(model.layers[0])[0][tokens]
    sequence, _ = gru_np(embedded, *_weights(model.layers[1]))
    assert model.layers[1](embedded.astype("float32")).shape == (4, 9, 256)
    _, (h,) = simple_rnn_np(sequence, *_weights(model.layers[2]))
    kernel, bias = _weights(model.layers[3])
    np.testing.assert_allclose(output, h @ kernel + bias, **TOL)


def test_embedding_input_length_declares_the_input_shape_as_keras_2(capsys):
    # Keras 2's Embedding(..., input_length=n): input_shape=(n,), so a Sequential model
    # is built at once and Flatten knows its size (it raised TypeError: unexpected keyword)
    model = keras.Sequential([layers.Embedding(1000, 8, input_length=10), layers.Flatten(),
                              layers.Dense(1)])
    rows = _summary_rows(capsys, model)
    assert [rows[layer.name] for layer in model.layers] == [
        ("(None, 10, 8)", 8000), ("(None, 80)", 0), ("(None, 1)", 81)]
    tokens = np.random.randint(0, 1000, size=(3, 10))
    table, kernel, bias = _weights(model)
    np.testing.assert_allclose(model.predict(tokens, verbose=0),
                               table[tokens].reshape(3, 80) @ kernel + bias, **TOL)
    config = model.layers[0].get_config()
    assert config["input_length"] == 10 and config["batch_input_shape"] == [None, 10]
    assert layers.Embedding.from_config(config).input_length == 10
    assert layers.Embedding(5, 2).get_config()["input_length"] is None
    for bad in (0, 2.5, "10"):
        with pytest.raises(ValueError, match=rf"input_length must be a positive int or None; "
                                             rf"received {re.escape(repr(bad))}"):
            layers.Embedding(5, 2, input_length=bad)


def test_rnn_guide_encoder_decoder_passes_the_encoder_states(capsys):
    encoder_vocab = 1000
    decoder_vocab = 2000

    encoder_input = layers.Input(shape=(None,))
    encoder_embedded = layers.Embedding(input_dim=encoder_vocab, output_dim=64)(
        encoder_input
    )

    # Return states in addition to output
    output, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(
        encoder_embedded
    )
    encoder_state = [state_h, state_c]

    decoder_input = layers.Input(shape=(None,))
    decoder_embedded = layers.Embedding(input_dim=decoder_vocab, output_dim=64)(
        decoder_input
    )

    # Pass the 2 states to a new LSTM layer, as initial state
    decoder_output = layers.LSTM(64, name="decoder")(
        decoder_embedded, initial_state=encoder_state
    )
    output = layers.Dense(10)(decoder_output)

    model = keras.Model([encoder_input, decoder_input], output)
    rows = _summary_rows(capsys, model)
    # the guide's counts (its Inputs are input_1, input_2, as Keras 2 names them)
    counts = {name: count for name, (_, count) in rows.items()}
    assert counts["encoder"] == counts["decoder"] == 33024
    assert sorted(counts.values()) == [0, 0, 650, 33024, 33024, 64000, 128000]
    assert rows["decoder"][0] == "(None, 64)"
    assert model.count_params() == 258698

    source = np.random.randint(0, encoder_vocab, size=(3, 7))
    target = np.random.randint(0, decoder_vocab, size=(3, 5))
    embed = {layer.input_dim: _weights(layer)[0] for layer in model.layers
             if isinstance(layer, layers.Embedding)}
    _, states = lstm_np(embed[encoder_vocab][source], *_weights(model.get_layer("encoder")))
    _, (h, _) = lstm_np(embed[decoder_vocab][target], *_weights(model.get_layer("decoder")),
                        states=states)
    kernel, bias = _weights(model.layers[-1])
    np.testing.assert_allclose(model.predict([source, target], verbose=0), h @ kernel + bias,
                               **TOL)
    encoder = keras.Model(encoder_input, encoder_state)
    for got, want in zip(encoder.predict(source, verbose=0), states):
        np.testing.assert_allclose(got, want, **TOL)


def test_rnn_guide_cells_in_keras_layers_rnn_equal_the_built_in_layers():
    # "Mathematically, RNN(LSTMCell(10)) produces the same result as LSTM(10)": the same
    # weights give the same outputs, for the three cells, and a list of cells stacks them
    x = np.random.random((4, 6, 5)).astype(np.float32)
    for cell, built_in, oracle in [(layers.LSTMCell(10), layers.LSTM(10), lstm_np),
                                   (layers.GRUCell(10), layers.GRU(10), gru_np),
                                   (layers.SimpleRNNCell(10), layers.SimpleRNN(10),
                                    simple_rnn_np)]:
        rnn = layers.RNN(cell, return_sequences=True)
        expected = built_in(x)
        # built, not called: each eager call of an RNN layer compiles its scan anew
        rnn.build(x.shape)
        rnn.set_weights(built_in.get_weights())
        sequence, _ = oracle(x, *_weights(built_in))
        np.testing.assert_allclose(rnn(x), sequence, **TOL)
        np.testing.assert_allclose(expected, sequence[:, -1], **TOL)

    # 10 units each, as above: the same recurrent kernel shapes, whose orthogonal
    # initializer (some 25 eager ops, each compiled per shape) then runs no new programs;
    # the GRU still reads 10 features where the LSTM reads 5
    stacked = layers.RNN([layers.LSTMCell(10), layers.GRUCell(10)], return_state=True)
    output, lstm_states, gru_state = stacked(x)
    first, second = stacked.cell.cells
    sequence, want_lstm = lstm_np(x, *_weights(first))
    _, (want_gru,) = gru_np(sequence, *_weights(second))
    np.testing.assert_allclose(output, want_gru, **TOL)
    np.testing.assert_allclose(gru_state, want_gru, **TOL)
    for got, want in zip(lstm_states, want_lstm):
        np.testing.assert_allclose(got, want, **TOL)
    cells = layers.StackedRNNCells([layers.LSTMCell(10), layers.GRUCell(10)])
    again = layers.RNN(cells)
    again.build(x.shape)
    again.set_weights(stacked.get_weights())
    np.testing.assert_allclose(again(x), want_gru, **TOL)


def test_rnn_guide_cross_batch_statefulness_reset_and_state_reuse():
    paragraph1 = np.random.random((20, 10, 50)).astype(np.float32)
    paragraph2 = np.random.random((20, 10, 50)).astype(np.float32)
    paragraph3 = np.random.random((20, 10, 50)).astype(np.float32)

    lstm_layer = layers.LSTM(64, stateful=True)
    output = lstm_layer(paragraph1)
    output = lstm_layer(paragraph2)
    output = lstm_layer(paragraph3)

    # one sequence of 30 steps, seen in three batches of 10
    whole = np.concatenate([paragraph1, paragraph2, paragraph3], axis=1)
    _, (h, c) = lstm_np(whole, *_weights(lstm_layer))
    np.testing.assert_allclose(output, h, **TOL)
    np.testing.assert_allclose(lstm_layer.states[1], c, **TOL)

    # reset_states() will reset the cached state to the original initial_state.
    # If no initial_state was provided, zero-states will be used by default.
    lstm_layer.reset_states()
    for state in lstm_layer.states:
        np.testing.assert_array_equal(state, np.zeros((20, 64)))
    _, (h1, _) = lstm_np(paragraph1, *_weights(lstm_layer))
    np.testing.assert_allclose(lstm_layer(paragraph1), h1, **TOL)

    # RNN State Reuse
    paragraph1 = np.random.random((20, 10, 50)).astype(np.float32)
    paragraph2 = np.random.random((20, 10, 50)).astype(np.float32)
    paragraph3 = np.random.random((20, 10, 50)).astype(np.float32)

    lstm_layer = layers.LSTM(64, stateful=True)
    output = lstm_layer(paragraph1)
    output = lstm_layer(paragraph2)

    existing_state = lstm_layer.states

    new_lstm_layer = layers.LSTM(64)
    new_output = new_lstm_layer(paragraph3, initial_state=existing_state)

    # "The recorded states of the RNN layer are not included in the layer.weights()"
    assert len(lstm_layer.weights) == 3
    _, states = lstm_np(np.concatenate([paragraph1, paragraph2], axis=1),
                        *_weights(lstm_layer))
    _, (h, _) = lstm_np(paragraph3, *_weights(new_lstm_layer), states=states)
    np.testing.assert_allclose(new_output, h, **TOL)


def test_rnn_guide_bidirectional_summary_and_both_directions(capsys):
    model = keras.Sequential()

    model.add(
        layers.Bidirectional(layers.LSTM(64, return_sequences=True), input_shape=(5, 10))
    )
    model.add(layers.Bidirectional(layers.LSTM(32)))
    model.add(layers.Dense(10))

    rows = _summary_rows(capsys, model)
    assert [rows[layer.name] for layer in model.layers] == [
        ("(None, 5, 128)", 38400), ("(None, 64)", 41216), ("(None, 10)", 650)]
    assert model.count_params() == 80266

    # "Bidirectional will copy the RNN layer passed in, and flip the go_backwards field":
    # the backward copy reads the sequence reversed, its outputs turned back to time order
    x = np.random.random((3, 5, 10)).astype(np.float32)
    first, second, dense = model.layers
    assert first.backward_layer.go_backwards and not first.forward_layer.go_backwards
    forward, _ = lstm_np(x, *_weights(first.forward_layer))
    backward, _ = lstm_np(x[:, ::-1], *_weights(first.backward_layer))
    sequence = np.concatenate([forward, backward[:, ::-1]], axis=-1)
    np.testing.assert_allclose(first(x), sequence, **TOL)
    _, (h_forward, _) = lstm_np(sequence, *_weights(second.forward_layer))
    _, (h_backward, _) = lstm_np(sequence[:, ::-1], *_weights(second.backward_layer))
    kernel, bias = _weights(dense)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               np.concatenate([h_forward, h_backward], -1) @ kernel + bias,
                               **TOL)
    # "If you need a different merging behavior ... change the merge_mode parameter"
    summed = layers.Bidirectional(layers.LSTM(4), merge_mode="sum")
    summed_output = summed(x)  # (checked once: each eager call compiles its scans anew)
    _, (h_forward, _) = lstm_np(x, *_weights(summed.forward_layer))
    _, (h_backward, _) = lstm_np(x[:, ::-1], *_weights(summed.backward_layer))
    np.testing.assert_allclose(summed_output, h_forward + h_backward, **TOL)


def _digit_rows(n, rng):
    """MNIST-like 28x28 images (values 0-255) of ten classes: a class is a set of bright
    rows, so reading the image row by row (the guide's timesteps) tells them apart."""
    labels = rng.integers(0, 10, size=n)
    images = rng.uniform(0, 60, size=(n, 28, 28))
    for k in range(10):
        images[labels == k, 2 * k + 3:2 * k + 6, 4:24] += 180
    return images.round().clip(0, 255).astype(np.uint8), labels.astype(np.uint8)


def test_rnn_guide_cudnn_section_layer_and_cell_models_share_weights():
    batch_size = 64
    # Each MNIST image batch is a tensor of shape (batch_size, 28, 28).
    # Each input sequence will be of size (28, 28) (height is treated like time).
    input_dim = 28

    units = 64
    output_size = 10  # labels are from 0 to 9

    # Build the RNN model
    def build_model(allow_cudnn_kernel=True):
        # CuDNN is only available at the layer level, and not at the cell level.
        # This means `LSTM(units)` will use the CuDNN kernel,
        # while RNN(LSTMCell(units)) will run on non-CuDNN kernel.
        if allow_cudnn_kernel:
            # The LSTM layer with default options uses CuDNN.
            lstm_layer = keras.layers.LSTM(units, input_shape=(None, input_dim))
        else:
            # Wrapping a LSTMCell in a RNN layer will not use CuDNN.
            lstm_layer = keras.layers.RNN(
                keras.layers.LSTMCell(units), input_shape=(None, input_dim)
            )
        model = keras.models.Sequential(
            [
                lstm_layer,
                keras.layers.BatchNormalization(),
                keras.layers.Dense(output_size),
            ]
        )
        return model

    # mnist.load_data(): synthetic images of the same shapes and dtypes (no download)
    rng = np.random.default_rng(0)
    (x_train, y_train), (x_test, y_test) = _digit_rows(512, rng), _digit_rows(128, rng)
    x_train, x_test = x_train / 255.0, x_test / 255.0
    sample, sample_label = x_train[0], y_train[0]

    model = build_model(allow_cudnn_kernel=True)

    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer="sgd",
        metrics=["accuracy"],
    )

    history = model.fit(
        x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size, epochs=1,
        verbose=0,
    )
    assert len(history.history["val_accuracy"]) == 1

    noncudnn_model = build_model(allow_cudnn_kernel=False)
    noncudnn_model.set_weights(model.get_weights())
    # the same weights, the same function (the guide's point): checked before it trains
    np.testing.assert_allclose(noncudnn_model.predict(x_test, verbose=0),
                               model.predict(x_test, verbose=0), **TOL)
    noncudnn_model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer="sgd",
        metrics=["accuracy"],
    )
    # in fit's batches of 64 (evaluate's default is 32): the program fit's validation runs
    before = noncudnn_model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0)[0]
    noncudnn_model.fit(
        x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size, epochs=1,
        verbose=0,
    )
    assert noncudnn_model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0)[0] < before

    with tf.device("CPU:0"):
        cpu_model = build_model(allow_cudnn_kernel=True)
        cpu_model.set_weights(model.get_weights())
        result = tf.argmax(cpu_model.predict_on_batch(tf.expand_dims(sample, 0)), axis=1)
        print(
            f"Predicted result is: {result.numpy()}, target result is: {sample_label}"
        )
        # (plt.imshow(sample) left out: no figure is checked)
        # the logits checked below, in the same scope (a call outside it is placed, and
        # compiled, anew)
        cpu_logits = cpu_model.predict_on_batch(tf.expand_dims(sample, 0))

    # inference in NumPy: the LSTM, BatchNormalization's moving statistics, the Dense
    _, (h, _) = lstm_np(sample[None], *_weights(model.layers[0]))
    gamma, beta, mean, variance = _weights(model.layers[1])
    kernel, bias = _weights(model.layers[2])
    logits = ((h - mean) / np.sqrt(variance + 1e-3) * gamma + beta) @ kernel + bias
    np.testing.assert_allclose(cpu_logits, logits, **TOL)
    np.testing.assert_array_equal(result.numpy(), logits.argmax(axis=1))


@keras.utils.register_keras_serializable()
class NestedCell(keras.layers.Layer):
    def __init__(self, unit_1, unit_2, unit_3, **kwargs):
        self.unit_1 = unit_1
        self.unit_2 = unit_2
        self.unit_3 = unit_3
        self.state_size = [tf.TensorShape([unit_1]), tf.TensorShape([unit_2, unit_3])]
        self.output_size = [tf.TensorShape([unit_1]), tf.TensorShape([unit_2, unit_3])]
        super().__init__(**kwargs)

    def build(self, input_shapes):
        # expect input_shape to contain 2 items, [(batch, i1), (batch, i2, i3)]
        i1 = input_shapes[0][1]
        i2 = input_shapes[1][1]
        i3 = input_shapes[1][2]

        self.kernel_1 = self.add_weight(
            shape=(i1, self.unit_1), initializer="uniform", name="kernel_1"
        )
        self.kernel_2_3 = self.add_weight(
            shape=(i2, i3, self.unit_2, self.unit_3),
            initializer="uniform",
            name="kernel_2_3",
        )

    def call(self, inputs, states):
        # inputs should be in [(batch, input_1), (batch, input_2, input_3)]
        # state should be in shape [(batch, unit_1), (batch, unit_2, unit_3)]
        input_1, input_2 = tf.nest.flatten(inputs)
        s1, s2 = states

        output_1 = tf.matmul(input_1, self.kernel_1)
        output_2_3 = tf.einsum("bij,ijkl->bkl", input_2, self.kernel_2_3)
        state_1 = s1 + output_1
        state_2_3 = s2 + output_2_3

        output = (output_1, output_2_3)
        new_states = (state_1, state_2_3)

        return output, new_states

    def get_config(self):
        return {"unit_1": self.unit_1, "unit_2": self.unit_2, "unit_3": self.unit_3}


def test_rnn_guide_nested_cell_trains_on_float64_numpy_data():
    unit_1 = 10
    unit_2 = 20
    unit_3 = 30

    i1 = 32
    i2 = 64
    i3 = 32
    batch_size = 64
    num_batches = 2  # the guide's 10 and 50 steps: the same program, a CPU's seconds
    timestep = 8

    cell = NestedCell(unit_1, unit_2, unit_3)
    rnn = keras.layers.RNN(cell)

    input_1 = keras.Input((None, i1))
    input_2 = keras.Input((None, i2, i3))

    outputs = rnn((input_1, input_2))

    model = keras.models.Model([input_1, input_2], outputs)

    model.compile(optimizer="adam", loss="mse", metrics=["accuracy"])

    input_1_data = np.random.random((batch_size * num_batches, timestep, i1))
    input_2_data = np.random.random((batch_size * num_batches, timestep, i2, i3))
    target_1_data = np.random.random((batch_size * num_batches, unit_1))
    target_2_data = np.random.random((batch_size * num_batches, unit_2, unit_3))
    input_data = [input_1_data, input_2_data]
    target_data = [target_1_data, target_2_data]

    kernel_1, kernel_2_3 = _weights(cell)
    out_1, out_2 = model.predict(input_data, verbose=0)  # the last step's outputs
    np.testing.assert_allclose(out_1, input_1_data[:, -1] @ kernel_1, **TOL)
    np.testing.assert_allclose(out_2, np.einsum("bij,ijkl->bkl", input_2_data[:, -1],
                                                kernel_2_3), **TOL)
    # the states add up every step's outputs; as Keras 2, return_state gives the cell's
    # output tuple as one entry, then the states (it gave 4 entries, then failed on masks)
    (_, _), state_1, state_2_3 = keras.layers.RNN(cell, return_state=True)(
        [input_1_data[:4], input_2_data[:4]])
    np.testing.assert_allclose(state_1, input_1_data[:4].sum(1) @ kernel_1, **TOL)
    np.testing.assert_allclose(state_2_3, np.einsum("bij,ijkl->bkl",
                                                    input_2_data[:4].sum(1), kernel_2_3),
                               rtol=1e-4, atol=1e-4)

    # a mask goes on to each of the cell's outputs with return_sequences (it raised)
    mask = np.arange(timestep) < np.array([[3], [5], [8], [1]])
    seq_1, seq_2_3 = keras.layers.RNN(cell, return_sequences=True)(
        [input_1_data[:4], input_2_data[:4]], mask=mask)
    for sequence in (seq_1, seq_2_3):
        np.testing.assert_array_equal(keras.backend.get_keras_mask(sequence), mask)
    # a masked step repeats the last kept step's output
    np.testing.assert_allclose(seq_1[0, 3:], np.broadcast_to(seq_1[0, 2], (5, unit_1)))

    history = model.fit(input_data, target_data, batch_size=batch_size, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert history.history["loss"][1] < history.history["loss"][0]


# -- Understanding masking & padding -------------------------------------------------------

RAW_INPUTS = [
    [711, 632, 71],
    [73, 8, 3215, 55, 927],
    [83, 91, 1, 645, 1253, 927],
]


def test_masking_guide_padding_and_the_mask_generating_layers():
    raw_inputs = RAW_INPUTS

    # By default, this will pad using 0s; it is configurable via the
    # "value" parameter.
    # Note that you could "pre" padding (at the beginning) or
    # "post" padding (at the end).
    # We recommend using "post" padding when working with RNN layers
    # (in order to be able to use the
    # CuDNN implementation of the layers).
    padded_inputs = tf.keras.preprocessing.sequence.pad_sequences(
        raw_inputs, padding="post"
    )
    # the guide's printed array
    np.testing.assert_array_equal(padded_inputs, [[711, 632, 71, 0, 0, 0],
                                                  [73, 8, 3215, 55, 927, 0],
                                                  [83, 91, 1, 645, 1253, 927]])
    printed_mask = np.array([[True, True, True, False, False, False],
                             [True, True, True, True, True, False],
                             [True, True, True, True, True, True]])

    embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
    masked_output = embedding(padded_inputs)

    # print(masked_output._keras_mask): an eager result is a jax.Array, which takes no
    # attributes; xlaflow keeps its mask beside it for keras.backend.get_keras_mask
    np.testing.assert_array_equal(keras.backend.get_keras_mask(masked_output), printed_mask)

    masking_layer = layers.Masking()
    # Simulate the embedding lookup by expanding the 2D input to 3D,
    # with embedding dimension of 10.
    unmasked_embedding = tf.cast(
        tf.tile(tf.expand_dims(padded_inputs, axis=-1), [1, 1, 10]), tf.float32
    )

    masked_embedding = masking_layer(unmasked_embedding)
    np.testing.assert_array_equal(keras.backend.get_keras_mask(masked_embedding),
                                  printed_mask)
    np.testing.assert_array_equal(masked_embedding, unmasked_embedding)

    class TemporalSplit(keras.layers.Layer):
        """Split the input tensor into 2 tensors along the time dimension."""

        def call(self, inputs):
            # Expect the input to be 3D and mask to be 2D, split the input tensor into 2
            # subtensors along the time axis (axis 1).
            return tf.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            # Also split the mask into 2 if it presents.
            if mask is None:
                return None
            return tf.split(mask, 2, axis=1)

    first_half, second_half = TemporalSplit()(masked_embedding)
    np.testing.assert_array_equal(keras.backend.get_keras_mask(first_half),
                                  printed_mask[:, :3])
    np.testing.assert_array_equal(keras.backend.get_keras_mask(second_half),
                                  printed_mask[:, 3:])

    class CustomEmbedding(keras.layers.Layer):
        def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
            super().__init__(**kwargs)
            self.input_dim = input_dim
            self.output_dim = output_dim
            self.mask_zero = mask_zero

        def build(self, input_shape):
            self.embeddings = self.add_weight(
                shape=(self.input_dim, self.output_dim),
                initializer="random_normal",
                dtype="float32",
            )

        def call(self, inputs):
            return tf.nn.embedding_lookup(self.embeddings, inputs)

        def compute_mask(self, inputs, mask=None):
            if not self.mask_zero:
                return None
            return tf.not_equal(inputs, 0)

    layer = CustomEmbedding(10, 32, mask_zero=True)
    x = np.random.random((3, 10)) * 9
    x = x.astype("int32")

    y = layer(x)
    mask = layer.compute_mask(x)

    np.testing.assert_array_equal(mask, x != 0)
    np.testing.assert_array_equal(y, layer.embeddings.numpy()[x])
    np.testing.assert_array_equal(keras.backend.get_keras_mask(y), x != 0)


def test_masking_guide_mask_propagation_reaches_the_lstm():
    padded = tf.keras.preprocessing.sequence.pad_sequences(RAW_INPUTS, padding="post")
    mask = padded != 0

    model = keras.Sequential(
        [layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True), layers.LSTM(32),]
    )
    embedding, lstm = model.layers
    # the padded steps are skipped: each sequence gives what it gives alone, unpadded
    got = model.predict(padded, verbose=0)
    for row, seq in enumerate(RAW_INPUTS):
        _, (h, _) = lstm_np(_weights(embedding)[0][np.array([seq])], *_weights(lstm))
        np.testing.assert_allclose(got[row], h[0], **TOL)

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    outputs = layers.LSTM(32)(x)

    model = keras.Model(inputs, outputs)
    _, embedding, lstm = model.layers
    _, (h, _) = lstm_np(_weights(embedding)[0][padded], *_weights(lstm), mask=mask)
    np.testing.assert_allclose(model(padded), h, **TOL)
    _, (unmasked, _) = lstm_np(_weights(embedding)[0][padded], *_weights(lstm))
    assert not np.allclose(h, unmasked, **TOL)  # the mask changes the outputs


def test_masking_guide_passing_the_mask_directly_skips_zeros_anywhere():
    class MyLayer(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
            self.lstm = layers.LSTM(32)

        def call(self, inputs):
            x = self.embedding(inputs)
            # Note that you could also prepare a `mask` tensor manually.
            # It only needs to be a boolean tensor
            # with the right shape, i.e. (batch_size, timesteps).
            mask = self.embedding.compute_mask(inputs)
            output = self.lstm(x, mask=mask)  # The layer will ignore the masked values
            return output

    layer = MyLayer()
    x = np.random.random((32, 10)) * 100
    x = x.astype("int32")
    x[:4, 3] = 0  # zeros inside the sequences, which random data may lack
    got = layer(x)
    _, (h, _) = lstm_np(_weights(layer.embedding)[0][x], *_weights(layer.lstm), mask=x != 0)
    np.testing.assert_allclose(got, h, **TOL)


def test_masking_guide_opting_in_to_propagation_and_a_mask_consumer():
    class MyActivation(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # Signal that the layer is safe for mask propagation
            self.supports_masking = True

        def call(self, inputs):
            return tf.nn.relu(inputs)

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    x = MyActivation()(x)  # Will pass the mask along
    print("Mask found:", x._keras_mask)
    assert x._keras_mask is not None and x._keras_mask.shape == (None, None)
    outputs = layers.LSTM(32)(x)  # Will receive the mask

    model = keras.Model(inputs, outputs)
    padded = tf.keras.preprocessing.sequence.pad_sequences(RAW_INPUTS)  # "pre" padding
    embedding, lstm = model.layers[1], model.layers[-1]
    relu = np.maximum(_weights(embedding)[0][padded], 0)
    _, (h, _) = lstm_np(relu, *_weights(lstm), mask=padded != 0)
    np.testing.assert_allclose(model(padded), h, **TOL)

    class TemporalSoftmax(keras.layers.Layer):
        def call(self, inputs, mask=None):
            broadcast_float_mask = tf.expand_dims(tf.cast(mask, "float32"), -1)
            inputs_exp = tf.exp(inputs) * broadcast_float_mask
            inputs_sum = tf.reduce_sum(inputs * broadcast_float_mask, axis=1, keepdims=True)
            return inputs_exp / inputs_sum

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=10, output_dim=32, mask_zero=True)(inputs)
    x = layers.Dense(1)(x)
    outputs = TemporalSoftmax()(x)

    model = keras.Model(inputs, outputs)
    tokens = np.random.randint(0, 10, size=(32, 100))
    # the guide's second argument lands in `training`, which none of these layers reads
    y = model(tokens, np.random.random((32, 100, 1)))

    # the guide's formula as written (its denominator sums the inputs, not their exp)
    _, embedding, dense, _ = model.layers
    kernel, bias = _weights(dense)
    logits = _weights(embedding)[0][tokens] @ kernel + bias
    keep = (tokens != 0)[..., None]
    denominator = (logits * keep).sum(axis=1, keepdims=True)
    expected = np.exp(logits) * keep / denominator
    # a sum of signed float32 terms loses digits as it nears zero: its condition number
    # (sum |terms| / |sum|) scales the tolerance, row by row
    condition = np.abs(logits * keep).sum(axis=1, keepdims=True) / np.abs(denominator)
    assert np.all(np.abs(y - expected) <= 1e-4 * condition * np.abs(expected) + 1e-6)
    assert y.shape == (32, 100, 1)
