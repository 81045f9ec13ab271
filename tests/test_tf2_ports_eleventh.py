"""An eleventh round of whole TF2 programs: Keras 2's "The Functional API" and "The
Sequential model" guides (TF 2.12 era), as their code is written, imports changed.

MNIST and CIFAR-10 are replaced by small synthetic arrays; the shapes, layer names and
parameter counts are the ones the guides print, and every forward pass is checked against
NumPy run on `get_weights()`.
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _relu(x):
    return np.maximum(x, 0.0)


def _np_dense_stack(x, weights, activations):
    for (kernel, bias), act in zip(zip(weights[::2], weights[1::2]), activations):
        x = x @ kernel + bias
        x = _relu(x) if act == "relu" else x
    return x


def test_functional_api_mnist_model_summary_training_save_and_feature_extraction(
        tmp_path, capsys):
    inputs = keras.Input(shape=(784,))
    img_inputs = keras.Input(shape=(32, 32, 3))
    assert tuple(inputs.shape) == (None, 784) and inputs.dtype == tf.float32
    assert tuple(img_inputs.shape) == (None, 32, 32, 3)
    dense = layers.Dense(64, activation="relu")
    x = dense(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    model.summary()
    printed = capsys.readouterr().out
    assert 'Model: "mnist_model"' in printed
    assert "Total params: 55,050" in printed  # the guide's printed count

    # 10 "digits": a class is which block of 78 pixels is bright
    rng = np.random.default_rng(0)
    y_train = rng.integers(0, 10, size=600)
    x_train = rng.random((600, 784)).astype("float32") * 0.5
    for i, label in enumerate(y_train):
        x_train[i, label * 78:(label + 1) * 78] += 0.5
    x_test, y_test = x_train[500:], y_train[500:]
    x_train, y_train = x_train[:500], y_train[:500]

    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=["accuracy"],
    )
    # batches of 50 (64 in the guide) divide the 400 training, 100 validation and 100 test
    # examples: one compiled train step and one test step, where a last partial batch
    # would compile its own
    history = model.fit(x_train, y_train, batch_size=50, epochs=2, validation_split=0.2,
                        verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    test_scores = model.evaluate(x_test, y_test, batch_size=50, verbose=0)
    assert test_scores[1] > 0.6  # "Test accuracy" after 16 steps; chance is 0.1

    path = str(tmp_path / "path_to_my_model.keras")
    model.save(path)
    expected = model.predict(x_test, batch_size=50, verbose=0)
    del model
    model = keras.models.load_model(path)
    np.testing.assert_allclose(model.predict(x_test, batch_size=50, verbose=0), expected,
                               rtol=1e-5, atol=1e-5)

    # "extract and reuse nodes in the graph of layers" (the guide does it with VGG19)
    features_list = [layer.output for layer in model.layers]
    feat_extraction_model = keras.Model(inputs=model.input, outputs=features_list)
    img = x_test[:4]
    extracted = feat_extraction_model(img)
    assert len(extracted) == 4  # the InputLayer and three Dense layers
    weights = model.get_weights()
    np.testing.assert_allclose(np.asarray(extracted[0]), img)
    for depth in (1, 2, 3):
        acts = ["relu", "relu", None][:depth]
        np.testing.assert_allclose(
            np.asarray(extracted[depth]), _np_dense_stack(img, weights[:2 * depth], acts),
            rtol=1e-4, atol=1e-4)


def test_functional_api_autoencoder_models_as_layers_and_ensembling():
    encoder_input = keras.Input(shape=(28, 28, 1), name="img")
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    encoder_output = layers.GlobalMaxPooling2D()(x)
    encoder = keras.Model(encoder_input, encoder_output, name="encoder")

    x = layers.Reshape((4, 4, 1))(encoder_output)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    decoder_output = layers.Conv2DTranspose(1, 3, activation="relu")(x)
    autoencoder = keras.Model(encoder_input, decoder_output, name="autoencoder")
    # the shapes the guide's summaries print
    assert [tuple(layer.output.shape) for layer in encoder.layers] == [
        (None, 28, 28, 1), (None, 26, 26, 16), (None, 24, 24, 32), (None, 8, 8, 32),
        (None, 6, 6, 32), (None, 4, 4, 16), (None, 16)]
    assert [tuple(layer.output.shape) for layer in autoencoder.layers[-6:]] == [
        (None, 4, 4, 1), (None, 6, 6, 16), (None, 8, 8, 32), (None, 24, 24, 32),
        (None, 26, 26, 16), (None, 28, 28, 1)]
    assert encoder.count_params() == 18672 and autoencoder.count_params() == 28241

    # "All models are callable, just like layers": the decoder as its own model
    decoder_input = keras.Input(shape=(16,), name="encoded_img")
    x = layers.Reshape((4, 4, 1))(decoder_input)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    decoder_output = layers.Conv2DTranspose(1, 3, activation="relu")(x)
    decoder = keras.Model(decoder_input, decoder_output, name="decoder")
    autoencoder_input = keras.Input(shape=(28, 28, 1), name="img")
    encoded_img = encoder(autoencoder_input)
    decoded_img = decoder(encoded_img)
    autoencoder = keras.Model(autoencoder_input, decoded_img, name="autoencoder")
    imgs = np.random.default_rng(1).random((2, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(autoencoder(imgs)),
                               np.asarray(decoder(encoder(imgs))), rtol=1e-5, atol=1e-6)
    assert len(autoencoder.trainable_weights) == len(encoder.trainable_weights) + len(
        decoder.trainable_weights)

    def get_model():
        inputs = keras.Input(shape=(128,))
        outputs = layers.Dense(1)(inputs)
        return keras.Model(inputs, outputs)

    model1 = get_model()
    model2 = get_model()
    model3 = get_model()
    inputs = keras.Input(shape=(128,))
    y1 = model1(inputs)
    y2 = model2(inputs)
    y3 = model3(inputs)
    outputs = layers.average([y1, y2, y3])
    ensemble_model = keras.Model(inputs=inputs, outputs=outputs)
    data = np.random.default_rng(2).random((5, 128)).astype("float32")
    expected = np.mean([data @ m.get_weights()[0] + m.get_weights()[1]
                        for m in (model1, model2, model3)], axis=0)
    np.testing.assert_allclose(np.asarray(ensemble_model(data)), expected, rtol=1e-5,
                               atol=1e-5)


def _np_bce_logits(y, logits):
    return np.mean(np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits))))


def _np_cce_logits(y, logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return np.mean(-(y * log_probs).sum(axis=-1))


def test_functional_api_ticket_classifier_list_and_dict_losses_fit_on_dicts():
    num_tags = 12  # Number of unique issue tags
    num_words = 100  # Size of vocabulary obtained when preprocessing text data
    num_departments = 4  # Number of departments for predictions

    title_input = keras.Input(shape=(None,), name="title")  # Variable-length sequence of ints
    body_input = keras.Input(shape=(None,), name="body")  # Variable-length sequence of ints
    tags_input = keras.Input(shape=(num_tags,), name="tags")  # Binary vectors of size `num_tags`
    title_features = layers.Embedding(num_words, 16)(title_input)
    body_features = layers.Embedding(num_words, 16)(body_input)
    title_features = layers.LSTM(16)(title_features)
    body_features = layers.LSTM(8)(body_features)
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    model = keras.Model(
        inputs=[title_input, body_input, tags_input],
        outputs=[priority_pred, department_pred],
    )
    assert model.input_names == ["title", "body", "tags"]
    assert model.output_names == ["priority", "department"]

    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[
            keras.losses.BinaryCrossentropy(from_logits=True),
            keras.losses.CategoricalCrossentropy(from_logits=True),
        ],
        loss_weights=[1.0, 0.2],
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={
            "priority": keras.losses.BinaryCrossentropy(from_logits=True),
            "department": keras.losses.CategoricalCrossentropy(from_logits=True),
        },
        loss_weights={"priority": 1.0, "department": 0.2},
    )
    # Dummy input data
    title_data = np.random.randint(num_words, size=(128, 10))
    body_data = np.random.randint(num_words, size=(128, 20))
    tags_data = np.random.randint(2, size=(128, num_tags)).astype("float32")
    # Dummy target data
    priority_targets = np.random.random(size=(128, 1))
    dept_targets = np.random.randint(2, size=(128, num_departments))
    history = model.fit(
        {"title": title_data, "body": body_data, "tags": tags_data},
        {"priority": priority_targets, "department": dept_targets},
        epochs=2,
        batch_size=32,
        verbose=0,
    )
    assert set(history.history) == {"loss", "priority_loss", "department_loss"}

    # the weighted total, and each head's loss, from NumPy on the predictions
    inputs = {"title": title_data, "body": body_data, "tags": tags_data}
    priority, department = model.predict(inputs, verbose=0)
    logs = model.evaluate(inputs, {"priority": priority_targets, "department": dept_targets},
                          batch_size=128, verbose=0, return_dict=True)
    p_loss = _np_bce_logits(priority_targets, priority)
    d_loss = _np_cce_logits(dept_targets, department)
    assert logs["priority_loss"] == pytest.approx(p_loss, rel=1e-4)
    assert logs["department_loss"] == pytest.approx(d_loss, rel=1e-4)
    assert logs["loss"] == pytest.approx(p_loss + 0.2 * d_loss, rel=1e-4)


def test_functional_api_toy_resnet_shared_embedding_and_custom_layer_config(capsys):
    inputs = keras.Input(shape=(32, 32, 3), name="img")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)

    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])

    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])

    x = layers.Conv2D(64, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)

    model = keras.Model(inputs, outputs, name="toy_resnet")
    model.summary()
    printed = capsys.readouterr().out
    assert 'Model: "toy_resnet"' in printed and "Total params: 223,242" in printed
    # a merge layer lists both of its inbound layers, as Keras 2's summary does
    add_layers = [layer for layer in model.layers if isinstance(layer, layers.Add)]
    assert len(add_layers) == 2
    assert tuple(block_3_output.shape) == (None, 9, 9, 64)

    rng = np.random.default_rng(3)
    y_train = rng.integers(0, 10, size=(40, 1))
    x_train = rng.random((40, 32, 32, 3)).astype("float32")
    y_train = keras.utils.to_categorical(y_train, 10)
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["acc"],
    )
    history = model.fit(x_train, y_train, batch_size=16, epochs=1, validation_split=0.2,
                        verbose=0)
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert np.isfinite(history.history["loss"][0])

    # shared layers: one Embedding encodes two inputs with one weight matrix
    shared_embedding = layers.Embedding(1000, 128)
    text_input_a = keras.Input(shape=(None,), dtype="int32")
    text_input_b = keras.Input(shape=(None,), dtype="int32")
    encoded_input_a = shared_embedding(text_input_a)
    encoded_input_b = shared_embedding(text_input_b)
    both = keras.Model([text_input_a, text_input_b], [encoded_input_a, encoded_input_b])
    assert len(both.weights) == 1
    a, b = both([np.array([[3, 7]]), np.array([[7, 999, 3]])])
    table = shared_embedding.get_weights()[0]
    np.testing.assert_allclose(np.asarray(a)[0], table[[3, 7]])
    np.testing.assert_allclose(np.asarray(b)[0], table[[7, 999, 3]])

    class CustomDense(layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(
                shape=(input_shape[-1], self.units),
                initializer="random_normal",
                trainable=True,
            )
            self.b = self.add_weight(
                shape=(self.units,), initializer="random_normal", trainable=True
            )

        def call(self, inputs):
            return tf.matmul(inputs, self.w) + self.b

        def get_config(self):
            return {"units": self.units}

    inputs = keras.Input((4,))
    outputs = CustomDense(10)(inputs)
    model = keras.Model(inputs, outputs)
    config = model.get_config()
    new_model = keras.Model.from_config(config, custom_objects={"CustomDense": CustomDense})
    assert isinstance(new_model.layers[-1], CustomDense) and new_model.layers[-1].units == 10
    new_model.set_weights(model.get_weights())
    data = np.random.default_rng(4).random((3, 4)).astype("float32")
    w, bias = model.get_weights()
    np.testing.assert_allclose(np.asarray(new_model(data)), data @ w + bias, rtol=1e-5)


def test_functional_api_mixing_functional_and_subclassed_rnn(capsys):
    units = 32
    timesteps = 10
    input_dim = 5

    # Define a Functional model
    inputs = keras.Input((None, units))
    x = layers.GlobalAveragePooling1D()(inputs)
    outputs = layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)

    class CustomRNN(layers.Layer):
        def __init__(self):
            super().__init__()
            self.units = units
            self.projection_1 = layers.Dense(units=units, activation="tanh")
            self.projection_2 = layers.Dense(units=units, activation="tanh")
            # Our previously-defined Functional model
            self.classifier = model

        def call(self, inputs):
            outputs = []
            state = tf.zeros(shape=(inputs.shape[0], self.units))
            for t in range(inputs.shape[1]):
                x = inputs[:, t, :]
                h = self.projection_1(x)
                y = h + self.projection_2(state)
                state = y
                outputs.append(y)
            features = tf.stack(outputs, axis=1)
            print(features.shape)
            return self.classifier(features)

    rnn_model = CustomRNN()
    data = np.random.default_rng(5).random((1, timesteps, input_dim)).astype("float32")
    result = rnn_model(data)
    assert "(1, 10, 32)" in capsys.readouterr().out

    def np_forward(data):
        k1, b1 = rnn_model.projection_1.get_weights()
        k2, b2 = rnn_model.projection_2.get_weights()
        state = np.zeros((data.shape[0], units), "float32")
        outs = []
        for t in range(data.shape[1]):
            state = np.tanh(data[:, t] @ k1 + b1) + np.tanh(state @ k2 + b2)
            outs.append(state)
        kc, bc = model.get_weights()
        return np.stack(outs, axis=1).mean(axis=1) @ kc + bc

    np.testing.assert_allclose(np.asarray(result), np_forward(data), rtol=1e-4, atol=1e-5)

    # and the other way round: the subclassed layer inside a Functional model
    batch_size = 1
    inputs = keras.Input(batch_shape=(batch_size, timesteps, input_dim))
    x = layers.Conv1D(32, 3)(inputs)
    outputs = CustomRNN()(x)
    functional = keras.Model(inputs, outputs)
    assert "(1, 8, 32)" in capsys.readouterr().out
    rnn_model = functional.layers[-1]
    conv_k, conv_b = functional.layers[1].get_weights()
    conv = np.stack([np.einsum("bki,kio->bo", data[:, t:t + 3], conv_k) + conv_b
                     for t in range(timesteps - 2)], axis=1)
    np.testing.assert_allclose(np.asarray(functional(data)), np_forward(conv),
                               rtol=1e-4, atol=1e-5)
