"""The seventh round of whole TF2 programs, continued (see test_tf2_ports_seventh.py): TF's
FGSM adversarial-example tutorial and the Keras guide "Working with RNNs", with only the
imports changed.

Each asserts an outcome known without xlaflow: the input gradient equal to jax.grad of the
same network written in jax.numpy, and every recurrent output equal to the recurrence
written in NumPy from the layer's weights.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers


@pytest.fixture(autouse=True)
def _seeded():
    # xlaflow's, NumPy's and Python's streams (fit shuffles with NumPy's): a run does not
    # depend on the tests before it in the worker; XF_PORT_SEED chooses another seed
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _patterns(n, rng, templates):
    labels = rng.integers(0, len(templates), size=n)
    images = np.clip(templates[labels] + 0.3 * rng.normal(size=(n, 8, 8)), -1, 1)
    return images[..., None].astype("float32"), labels


def test_fgsm_signed_input_gradient_raises_the_loss_and_matches_jax_grad():
    rng = np.random.default_rng(0)
    templates = rng.uniform(-0.6, 0.6, size=(4, 8, 8))
    x_train, y_train = _patterns(512, rng, templates)
    x_test, y_test = _patterns(16, rng, templates)
    pretrained_model = tf.keras.Sequential([
        tf.keras.layers.Flatten(input_shape=(8, 8, 1)),
        tf.keras.layers.Dense(32, activation="relu"),
        tf.keras.layers.Dense(4, activation="softmax"),
    ])
    pretrained_model.compile(optimizer="adam", loss="categorical_crossentropy",
                             metrics=["accuracy"])
    pretrained_model.fit(x_train, tf.one_hot(y_train, 4), epochs=5, batch_size=32, verbose=0)
    pretrained_model.trainable = False
    image = tf.convert_to_tensor(x_test)
    image_probs = pretrained_model.predict(image, verbose=0)
    assert np.mean(image_probs.argmax(1) == y_test) > 0.9

    loss_object = tf.keras.losses.CategoricalCrossentropy()

    # The tutorial runs this eagerly; xlaflow's tape is a rewrite of the compiled block
    # (there is no op-by-op eager tape in JAX), so the one change is @tf.function here.
    @tf.function
    def create_adversarial_pattern(input_image, input_label):
        with tf.GradientTape() as tape:
            tape.watch(input_image)
            prediction = pretrained_model(input_image)
            loss = loss_object(input_label, prediction)
        # Get the gradients of the loss w.r.t to the input image.
        gradient = tape.gradient(loss, input_image)
        # Get the sign of the gradients to create the perturbation
        signed_grad = tf.sign(gradient)
        return signed_grad, gradient

    label = tf.one_hot(y_test, image_probs.shape[-1])
    perturbations, gradient = create_adversarial_pattern(image, label)

    # the oracle: the same network and Keras' crossentropy in jax.numpy, under jax.grad
    w1, b1, w2, b2 = (jnp.asarray(w) for w in pretrained_model.get_weights())

    def loss_of(images):
        probs = jax.nn.softmax(jax.nn.relu(images.reshape(len(images), -1) @ w1 + b1) @ w2 + b2)
        probs = jnp.clip(probs / probs.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
        return jnp.mean(-jnp.sum(jax.nn.one_hot(y_test, 4) * jnp.log(probs), axis=-1))

    expected = jax.grad(loss_of)(jnp.asarray(x_test))
    np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_array_equal(perturbations, np.sign(expected))

    def loss_on(images):
        return float(loss_object(label, pretrained_model(images, training=False)))

    epsilons = [0, 0.01, 0.1, 0.15]
    losses = []
    for eps in epsilons:
        adv_x = image + eps * perturbations
        adv_x = tf.clip_by_value(adv_x, -1, 1)
        assert float(tf.reduce_max(tf.abs(adv_x - image))) <= eps + 1e-6
        losses.append(loss_on(adv_x))
    assert losses[0] == pytest.approx(float(loss_of(jnp.asarray(x_test))), rel=1e-5)
    assert losses == sorted(losses) and losses[-1] > losses[0]
    # the signed gradient is the steepest step: a random sign pattern of the same size
    # raises the loss far less
    noise = np.sign(rng.normal(size=x_test.shape)).astype("float32")
    assert loss_on(tf.clip_by_value(image + 0.15 * noise, -1, 1)) < losses[-1]


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _lstm_numpy(x, kernel, recurrent_kernel, bias, h=None, c=None):
    """Keras' LSTM in NumPy (gates i, f, c, o): every step's h, and the final (h, c)."""
    units = recurrent_kernel.shape[0]
    h = np.zeros((len(x), units)) if h is None else np.asarray(h, np.float64)
    c = np.zeros((len(x), units)) if c is None else np.asarray(c, np.float64)
    outputs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, 1), h, c


def _gru_numpy(x, kernel, recurrent_kernel, bias):
    """Keras' GRU (reset_after=True, gates z, r, h) in NumPy: every step's h."""
    h = np.zeros((len(x), recurrent_kernel.shape[0]))
    outputs = []
    for t in range(x.shape[1]):
        xz, xr, xh = np.split(x[:, t] @ kernel + bias[0], 3, axis=-1)
        hz, hr, hh = np.split(h @ recurrent_kernel + bias[1], 3, axis=-1)
        z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
        h = z * h + (1 - z) * np.tanh(xh + r * hh)
        outputs.append(h)
    return np.stack(outputs, 1)


def _weights64(layer):
    return [np.asarray(w, np.float64) for w in layer.get_weights()]


def test_working_with_rnns_guide_states_stateful_bidirectional_and_custom_cells():
    tol = {"rtol": 1e-4, "atol": 1e-5}
    # (the guide's sizes, 64 to 256, are all 16 here: fewer shapes to compile eagerly)
    model = keras.Sequential()
    # Add an Embedding layer expecting input vocab of size 1000, and
    # output embedding dimension of size 16.
    model.add(layers.Embedding(input_dim=1000, output_dim=16))
    # The output of GRU will be a 3D tensor of shape (batch_size, timesteps, 16)
    model.add(layers.GRU(16, return_sequences=True))
    # The output of SimpleRNN will be a 2D tensor of shape (batch_size, 16)
    model.add(layers.SimpleRNN(16))
    model.add(layers.Dense(10))
    tokens = np.random.randint(1, 1000, size=(4, 7))
    assert model(tokens).shape == (4, 10)
    embedded = np.asarray(model.layers[0](tokens), np.float64)
    np.testing.assert_allclose(model.layers[1](embedded),
                               _gru_numpy(embedded, *_weights64(model.layers[1])), **tol)

    # encoder-decoder: the encoder's final states start the decoder
    encoder_vocab, decoder_vocab = 1000, 2000
    encoder_input = layers.Input(shape=(None,))
    encoder_embedded = layers.Embedding(input_dim=encoder_vocab, output_dim=16)(encoder_input)
    # Return states in addition to output
    output, state_h, state_c = layers.LSTM(16, return_state=True, name="encoder")(
        encoder_embedded)
    encoder_state = [state_h, state_c]
    decoder_input = layers.Input(shape=(None,))
    decoder_embedded = layers.Embedding(input_dim=decoder_vocab, output_dim=16)(decoder_input)
    # Pass the 2 states to a new LSTM layer, as initial state
    decoder_output = layers.LSTM(16, name="decoder")(decoder_embedded,
                                                     initial_state=encoder_state)
    output = layers.Dense(10)(decoder_output)
    seq2seq = keras.Model([encoder_input, decoder_input], output)
    source = np.random.randint(1, encoder_vocab, size=(3, 6))
    target = np.random.randint(1, decoder_vocab, size=(3, 4))
    encoder, decoder = seq2seq.get_layer("encoder"), seq2seq.get_layer("decoder")
    embedding = {la.input_dim: la for la in seq2seq.layers if isinstance(la, layers.Embedding)}
    embed_source = np.asarray(embedding[encoder_vocab](source), np.float64)
    embed_target = np.asarray(embedding[decoder_vocab](target), np.float64)
    _, h, c = _lstm_numpy(embed_source, *_weights64(encoder))
    _, h, _ = _lstm_numpy(embed_target, *_weights64(decoder), h=h, c=c)
    dense_kernel, dense_bias = _weights64(seq2seq.layers[-1])
    np.testing.assert_allclose(seq2seq.predict([source, target], verbose=0),
                               h @ dense_kernel + dense_bias, **tol)

    # a stateful LSTM: each call goes on from the states the last one left
    paragraph1 = np.random.random((20, 10, 16)).astype(np.float32)
    paragraph2 = np.random.random((20, 10, 16)).astype(np.float32)
    paragraph3 = np.random.random((20, 10, 16)).astype(np.float32)
    lstm_layer = layers.LSTM(16, stateful=True)
    output = lstm_layer(paragraph1)
    output = lstm_layer(paragraph2)
    output = lstm_layer(paragraph3)
    whole = np.concatenate([paragraph1, paragraph2, paragraph3], axis=1).astype(np.float64)
    _, h, c = _lstm_numpy(whole, *_weights64(lstm_layer))
    np.testing.assert_allclose(output, h, **tol)
    np.testing.assert_allclose(lstm_layer.states[0], h, **tol)
    np.testing.assert_allclose(lstm_layer.states[1], c, **tol)
    assert len(lstm_layer.weights) == 3  # the states are variables, not weights
    # reset_states() will reset the cached state to the original initial_state.
    # If no initial_state was provided, zero-states will be used by default.
    lstm_layer.reset_states()
    np.testing.assert_array_equal(lstm_layer.states[0], np.zeros((20, 16)))
    _, h1, _ = _lstm_numpy(paragraph1.astype(np.float64), *_weights64(lstm_layer))
    np.testing.assert_allclose(lstm_layer(paragraph1), h1, **tol)

    # RNN state reuse: a new layer starts from the stateful layer's states
    existing_state = lstm_layer.states
    new_lstm_layer = layers.LSTM(16)
    new_output = new_lstm_layer(paragraph3, initial_state=existing_state)
    _, h3, _ = _lstm_numpy(paragraph3.astype(np.float64), *_weights64(new_lstm_layer),
                           h=np.asarray(existing_state[0]), c=np.asarray(existing_state[1]))
    np.testing.assert_allclose(new_output, h3, **tol)

    # Bidirectional
    model = keras.Sequential()
    model.add(layers.Bidirectional(layers.LSTM(16, return_sequences=True),
                                   input_shape=(5, 16)))
    model.add(layers.Bidirectional(layers.LSTM(16)))
    model.add(layers.Dense(10))
    x = np.random.random((2, 5, 16)).astype(np.float32)
    assert model(x).shape == (2, 10)
    first = model.layers[0]
    forward, _, _ = _lstm_numpy(x.astype(np.float64), *_weights64(first.forward_layer))
    backward, _, _ = _lstm_numpy(x[:, ::-1].astype(np.float64),
                                 *_weights64(first.backward_layer))
    np.testing.assert_allclose(first(x), np.concatenate([forward, backward[:, ::-1]], -1),
                               **tol)


class MinimalRNNCell(keras.layers.Layer):
    """The RNN layer docs' cell: state_size set before Layer.__init__, as Keras 2 allows."""

    def __init__(self, units, **kwargs):
        self.units = units
        self.state_size = units
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                      initializer="uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                initializer="uniform",
                                                name="recurrent_kernel")
        self.built = True

    def call(self, inputs, states):
        prev_output = states[0]
        h = keras.backend.dot(inputs, self.kernel)
        output = h + keras.backend.dot(prev_output, self.recurrent_kernel)
        return output, [output]


class NestedCell(keras.layers.Layer):
    """The guide's cell with nested inputs and states."""

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
        self.kernel_1 = self.add_weight(shape=(i1, self.unit_1), initializer="uniform",
                                        name="kernel_1")
        self.kernel_2_3 = self.add_weight(shape=(i2, i3, self.unit_2, self.unit_3),
                                          initializer="uniform", name="kernel_2_3")

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


def test_custom_cells_in_keras_layers_rnn_match_their_recurrence_and_train():
    tol = {"rtol": 1e-4, "atol": 1e-5}
    cell = MinimalRNNCell(32)
    x = keras.Input((None, 5))
    layer = keras.layers.RNN(cell)
    y = layer(x)
    model = keras.Model(x, y)
    data = np.random.random((3, 6, 5)).astype(np.float32)
    kernel, recurrent = _weights64(cell)
    h = np.zeros((3, 32))
    steps = []
    for t in range(6):
        h = data[:, t] @ kernel + h @ recurrent
        steps.append(h)
    np.testing.assert_allclose(model.predict(data, verbose=0), h, **tol)
    sequences = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    all_steps, last = sequences(data)
    np.testing.assert_allclose(all_steps, np.stack(steps, 1), **tol)
    np.testing.assert_allclose(last, h, **tol)

    unit_1, unit_2, unit_3 = 10, 20, 30
    i1, i2, i3 = 32, 64, 32
    batch_size, num_batches, timestep = 64, 2, 5
    cell = NestedCell(unit_1, unit_2, unit_3)
    rnn = keras.layers.RNN(cell)
    input_1 = keras.Input((None, i1))
    input_2 = keras.Input((None, i2, i3))
    outputs = rnn((input_1, input_2))
    model = keras.models.Model([input_1, input_2], outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["accuracy"])

    input_1_data = np.random.random((batch_size * num_batches, timestep, i1)).astype("float32")
    input_2_data = np.random.random((batch_size * num_batches, timestep, i2, i3)).astype(
        "float32")
    target_1_data = np.random.random((batch_size * num_batches, unit_1)).astype("float32")
    target_2_data = np.random.random((batch_size * num_batches, unit_2, unit_3)).astype(
        "float32")
    input_data = [input_1_data, input_2_data]
    target_data = [target_1_data, target_2_data]
    # the outputs are the last step's (no accumulation): x_T @ kernel, in NumPy
    kernel_1, kernel_2_3 = _weights64(cell)
    out_1, out_2 = model.predict(input_data, verbose=0)
    np.testing.assert_allclose(out_1, input_1_data[:, -1] @ kernel_1, **tol)
    np.testing.assert_allclose(out_2, np.einsum("bij,ijkl->bkl", input_2_data[:, -1],
                                                kernel_2_3), **tol)
    history = model.fit(input_data, target_data, batch_size=batch_size, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
