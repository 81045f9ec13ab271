"""The eleventh round, continued: Keras 2's "The Sequential model" and "Making new layers
and models via subclassing" guides (TF 2.12 era), as written, imports changed.

MNIST is replaced by small synthetic arrays. Outcomes come from NumPy forward passes over
`get_weights()`, the sums and counts the guides print, and closed forms for added losses.
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


def test_sequential_guide_layers_add_pop_and_lazy_weights(capsys):
    # Define Sequential model with 3 layers
    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu", name="layer1"),
            layers.Dense(3, activation="relu", name="layer2"),
            layers.Dense(4, name="layer3"),
        ]
    )
    # Call model on a test input
    x = tf.ones((3, 3))
    y = model(x)
    w = model.get_weights()
    expected = _relu(_relu(np.ones((3, 3)) @ w[0] + w[1]) @ w[2] + w[3]) @ w[4] + w[5]
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in model.layers] == ["layer1", "layer2", "layer3"]

    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    model.pop()
    print(len(model.layers))  # 2
    assert capsys.readouterr().out == "2\n"

    layer = layers.Dense(3)
    assert layer.weights == []  # Empty
    x = tf.ones((1, 4))
    y = layer(x)
    assert [tuple(v.shape) for v in layer.weights] == [(4, 3), (3,)]

    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu"),
            layers.Dense(3, activation="relu"),
            layers.Dense(4),
        ]
    )  # No weights at this stage!
    # "At this point, you can't do this: model.weights" -- nor model.summary()
    with pytest.raises(ValueError):
        model.summary()
    # Call the model on a test input
    x = tf.ones((1, 4))
    y = model(x)
    print("Number of weights after calling the model:", len(model.weights))  # 6
    assert capsys.readouterr().out == "Number of weights after calling the model: 6\n"

    # or build it with the batch input shape, then its weights exist
    model = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(4)])
    model.build((None, 4))
    assert [tuple(v.shape) for v in model.weights] == [(4, 2), (2,), (2, 4), (4,)]
    model.summary()
    assert "Total params: 22" in capsys.readouterr().out

    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(2, activation="relu"))
    assert len(model.layers) == 1  # the Input object is not a layer
    model.summary()
    assert "Total params: 10" in capsys.readouterr().out

    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu", input_shape=(4,)))
    assert len(model.weights) == 2


def test_sequential_guide_debugging_workflow_and_feature_extraction(capsys):
    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))  # 250x250 RGB images
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    # Can you guess what the current output shape is at this point? Probably not.
    model.summary()
    assert "(None, 40, 40, 32)" in capsys.readouterr().out
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(2))
    model.summary()
    assert "(None, 4, 4, 32)" in capsys.readouterr().out
    model.add(layers.GlobalMaxPooling2D())
    model.add(layers.Dense(10))
    assert tuple(model.output_shape) == (None, 10)
    # 2,432 + 4 * 9,248 + 330, as the guide's summary
    assert model.count_params() == 49002  # 2,432 + 5 * 9,248 + 330

    # feature extraction with a Sequential model (a smaller image than the guide's 250x250)
    initial_model = keras.Sequential(
        [
            keras.Input(shape=(25, 25, 3)),
            layers.Conv2D(32, 5, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu", name="my_intermediate_layer"),
            layers.Conv2D(32, 3, activation="relu"),
        ]
    )
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=[layer.output for layer in initial_model.layers],
    )
    # Call feature extractor on test input.
    x = tf.ones((1, 25, 25, 3))
    features = feature_extractor(x)
    assert [tuple(f.shape) for f in features] == [(1, 11, 11, 32), (1, 9, 9, 32),
                                                  (1, 7, 7, 32)]
    np.testing.assert_allclose(np.asarray(features[-1]), np.asarray(initial_model(x)),
                               rtol=1e-5, atol=1e-6)

    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=initial_model.get_layer(name="my_intermediate_layer").output,
    )
    np.testing.assert_allclose(np.asarray(feature_extractor(x)), np.asarray(features[1]),
                               rtol=1e-5, atol=1e-6)


def test_sequential_guide_transfer_learning_freezes_all_but_the_last_layer(tmp_path):
    model = keras.Sequential([
        keras.Input(shape=(784)),
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(32, activation='relu'),
        layers.Dense(10),
    ])
    # Presumably you would want to first load pre-trained weights.
    pretrained = str(tmp_path / "pretrained.weights.h5")
    model.save_weights(pretrained)
    model.load_weights(pretrained)
    # Freeze all layers except the last one.
    for layer in model.layers[:-1]:
        layer.trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 6

    rng = np.random.default_rng(0)
    x = rng.random((128, 784)).astype("float32")
    y = rng.integers(0, 10, size=128)
    before = model.get_weights()
    # Recompile and train (this will only update the weights of the last layer).
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    after = model.get_weights()
    for old, new in zip(before[:6], after[:6]):
        np.testing.assert_array_equal(old, new)
    assert not np.allclose(before[6], after[6]) and not np.allclose(before[7], after[7])


class Linear(keras.layers.Layer):
    """The subclassing guide's Linear, in its lazy (build) and serializable form."""

    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
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
        config = super().get_config()
        config.update({"units": self.units})
        return config


def test_subclassing_guide_linear_compute_sum_lazy_build_and_composition(capsys):
    class EagerLinear(keras.layers.Layer):
        def __init__(self, units=32, input_dim=32):
            super().__init__()
            w_init = tf.random_normal_initializer()
            self.w = tf.Variable(
                initial_value=w_init(shape=(input_dim, units), dtype="float32"),
                trainable=True,
            )
            b_init = tf.zeros_initializer()
            self.b = tf.Variable(
                initial_value=b_init(shape=(units,), dtype="float32"), trainable=True
            )

        def call(self, inputs):
            return tf.matmul(inputs, self.w) + self.b

    x = tf.ones((2, 2))
    linear_layer = EagerLinear(4, 2)
    y = linear_layer(x)
    assert linear_layer.weights == [linear_layer.w, linear_layer.b]
    np.testing.assert_allclose(np.asarray(y), np.ones((2, 2)) @ linear_layer.w.numpy(),
                               rtol=1e-6)
    np.testing.assert_array_equal(linear_layer.b.numpy(), np.zeros(4))
    assert 0 < np.std(linear_layer.w.numpy()) < 0.2  # random_normal's stddev is 0.05

    class ComputeSum(keras.layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = tf.Variable(initial_value=tf.zeros((input_dim,)), trainable=False)

        def call(self, inputs):
            self.total.assign_add(tf.reduce_sum(inputs, axis=0))
            return self.total

    x = tf.ones((2, 2))
    my_sum = ComputeSum(2)
    y = my_sum(x)
    print(y.numpy())
    y = my_sum(x)
    print(y.numpy())
    print("weights:", len(my_sum.weights))
    print("non-trainable weights:", len(my_sum.non_trainable_weights))
    # It's not included in the trainable weights:
    print("trainable_weights:", my_sum.trainable_weights)
    assert capsys.readouterr().out == ("[2. 2.]\n[4. 4.]\nweights: 1\n"
                                       "non-trainable weights: 1\ntrainable_weights: []\n")

    # At instantiation, we don't know on what inputs this is going to get called
    linear_layer = Linear(32)
    assert linear_layer.weights == []
    # The layer's weights are created dynamically the first time the layer is called
    y = linear_layer(x)
    assert tuple(y.shape) == (2, 32) and len(linear_layer.weights) == 2

    class MLPBlock(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.linear_1 = Linear(32)
            self.linear_2 = Linear(32)
            self.linear_3 = Linear(1)

        def call(self, inputs):
            x = self.linear_1(inputs)
            x = tf.nn.relu(x)
            x = self.linear_2(x)
            x = tf.nn.relu(x)
            return self.linear_3(x)

    mlp = MLPBlock()
    y = mlp(tf.ones(shape=(3, 64)))  # The first call to the `mlp` will create the weights
    print("weights:", len(mlp.weights))
    print("trainable weights:", len(mlp.trainable_weights))
    assert capsys.readouterr().out == "weights: 6\ntrainable weights: 6\n"
    w = [v.numpy() for v in mlp.weights]
    expected = _relu(_relu(np.ones((3, 64)) @ w[0] + w[1]) @ w[2] + w[3]) @ w[4] + w[5]
    np.testing.assert_allclose(np.asarray(y), expected, rtol=1e-5, atol=1e-6)


def test_subclassing_guide_add_loss_losses_reset_and_fit_with_added_losses():
    # A layer that creates an activity regularization loss
    class ActivityRegularizationLayer(keras.layers.Layer):
        def __init__(self, rate=1e-2):
            super().__init__()
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * tf.reduce_sum(inputs))
            return inputs

    class OuterLayer(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularizationLayer(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    layer = OuterLayer()
    assert len(layer.losses) == 0  # No losses yet since the layer has never been called
    _ = layer(tf.zeros(1, 1))
    assert len(layer.losses) == 1  # We created one loss value
    # `layer.losses` gets reset at the start of each __call__
    _ = layer(tf.zeros(1, 1))
    assert len(layer.losses) == 1  # This is the loss created during the call above

    class OuterLayerWithKernelRegularizer(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(
                32, kernel_regularizer=tf.keras.regularizers.l2(1e-3)
            )

        def call(self, inputs):
            return self.dense(inputs)

    layer = OuterLayerWithKernelRegularizer()
    _ = layer(tf.zeros((1, 1)))
    # This is `1e-3 * sum(layer.dense.kernel ** 2)`, created by the `kernel_regularizer`
    (penalty,) = layer.losses
    assert float(penalty) == pytest.approx(
        1e-3 * np.sum(layer.dense.kernel.numpy() ** 2), rel=1e-5)

    # the guide's custom loop over a model with added losses
    inputs = keras.Input(shape=(4,))
    outputs = OuterLayerWithKernelRegularizer()(inputs)
    model = keras.Model(inputs, outputs)
    optimizer = tf.keras.optimizers.SGD(learning_rate=1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    rng = np.random.default_rng(0)
    x_all = rng.random((64, 4)).astype("float32")
    y_all = rng.integers(0, 32, size=64)
    train_dataset = tf.data.Dataset.from_tensor_slices((x_all, y_all)).batch(32)

    # xlaflow records a tape in compiled code only: the guide's loop body, unchanged, is
    # the body of a tf.function (the documented alternative, as test_tf2_port_gaps says)
    @tf.function
    def train_step(x_batch_train, y_batch_train):
        with tf.GradientTape() as tape:
            logits = model(x_batch_train)  # Logits for this minibatch
            # Loss value for this minibatch
            loss_value = loss_fn(y_batch_train, logits)
            # Add extra losses created during this forward pass:
            loss_value += sum(model.losses)
        grads = tape.gradient(loss_value, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))

    for x_batch_train, y_batch_train in train_dataset:
        kernel_before = model.layers[1].dense.kernel.numpy()
        bias_before = model.layers[1].dense.bias.numpy()
        train_step(x_batch_train, y_batch_train)
    # the last step by hand: softmax cross-entropy's gradient plus 2e-3 * kernel
    x_batch_train, y_batch_train = np.asarray(x_batch_train), np.asarray(y_batch_train)
    logits = x_batch_train @ kernel_before + bias_before
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    probs[np.arange(32), y_batch_train] -= 1.0
    grad_kernel = x_batch_train.T @ probs / 32 + 2e-3 * kernel_before
    np.testing.assert_allclose(model.layers[1].dense.kernel.numpy(),
                               kernel_before - 1e-3 * grad_kernel, rtol=1e-4, atol=1e-7)

    # These losses also work seamlessly with fit() (they get automatically summed and
    # added to the main loss, if any):
    inputs = keras.Input(shape=(3,))
    outputs = ActivityRegularizationLayer()(inputs)
    model = keras.Model(inputs, outputs)
    # If there is a loss passed in `compile`, the regularization losses get added to it
    model.compile(optimizer="adam", loss="mse")
    x, y = np.random.random((2, 3)), np.random.random((2, 3))
    history = model.fit(x, y, verbose=0)
    expected = np.mean((y - x) ** 2) + 1e-2 * np.sum(x)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    # It's also possible not to pass any loss in `compile`, since the model already has a
    # loss to minimize, via the `add_loss` call during the forward pass!
    model.compile(optimizer="adam")
    history = model.fit(x, y, verbose=0)
    assert history.history["loss"][0] == pytest.approx(1e-2 * np.sum(x), rel=1e-5)


class LogisticEndpoint(keras.layers.Layer):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
        self.accuracy_fn = keras.metrics.BinaryAccuracy()

    def call(self, targets, logits, sample_weights=None):
        # Compute the training-time loss value and add it
        # to the layer using `self.add_loss()`.
        loss = self.loss_fn(targets, logits, sample_weights)
        self.add_loss(loss)
        # Log accuracy as a metric and add it
        # to the layer using `self.add_metric()`.
        acc = self.accuracy_fn(targets, logits, sample_weights)
        self.add_metric(acc, name="accuracy")
        # Return the inference-time prediction tensor (for `.predict()`).
        return tf.nn.softmax(logits)


def test_subclassing_guide_add_metric_logistic_endpoint_config_and_training_flag():
    layer = LogisticEndpoint()
    targets = tf.ones((2, 2))
    logits = tf.ones((2, 2))
    y = layer(targets, logits)
    np.testing.assert_allclose(np.asarray(y), np.full((2, 2), 0.5))
    print("layer.metrics:", layer.metrics)
    assert len(layer.metrics) == 1
    print("current accuracy value:", float(layer.metrics[0].result()))
    assert float(layer.metrics[0].result()) == 1.0  # logits 1 > threshold 0.5

    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    logits = keras.layers.Dense(10)(inputs)
    predictions = LogisticEndpoint(name="predictions")(logits, targets)
    model = keras.Model(inputs=[inputs, targets], outputs=predictions)
    model.compile(optimizer="adam")
    data = {
        "inputs": np.random.random((3, 3)),
        "targets": np.random.random((3, 10)),
    }
    (dense,) = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    kernel, bias = dense.get_weights()
    history = model.fit(data, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    # as written, the call passes the logits as `targets` and the targets as `logits`
    lg = data["targets"]
    tg = data["inputs"] @ kernel + bias
    bce = np.mean(np.maximum(lg, 0) - lg * tg + np.log1p(np.exp(-np.abs(lg))))
    assert history.history["loss"][0] == pytest.approx(bce, rel=1e-4)
    # BinaryAccuracy thresholds y_pred only: real-valued "targets" never equal 0 or 1
    assert history.history["accuracy"][0] == pytest.approx(
        np.mean(tg == (lg > 0.5)), abs=1e-6) == 0.0

    layer = Linear(64)
    config = layer.get_config()
    assert config["units"] == 64 and config["trainable"] is True
    new_layer = Linear.from_config(config)
    assert new_layer.units == 64 and new_layer.name == layer.name

    class CustomDropout(keras.layers.Layer):
        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs, training=None):
            if training:
                return tf.nn.dropout(inputs, rate=self.rate)
            return inputs

    drop = CustomDropout(0.5)
    ones = tf.ones((4, 1000))
    np.testing.assert_array_equal(np.asarray(drop(ones)), np.ones((4, 1000)))
    dropped = np.asarray(drop(ones, training=True))
    assert set(np.unique(dropped)) == {0.0, 2.0}  # kept values scaled by 1 / (1 - rate)
    assert 0.45 < np.mean(dropped == 0.0) < 0.55


def test_subclassing_guide_variational_autoencoder_custom_loop_and_fit():
    class Sampling(layers.Layer):
        """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = tf.shape(z_mean)[0]
            dim = tf.shape(z_mean)[1]
            epsilon = tf.keras.backend.random_normal(shape=(batch, dim))
            return z_mean + tf.exp(0.5 * z_log_var) * epsilon

    class Encoder(layers.Layer):
        """Maps MNIST digits to a triplet (z_mean, z_log_var, z)."""

        def __init__(self, latent_dim=32, intermediate_dim=64, name="encoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_mean = layers.Dense(latent_dim)
            self.dense_log_var = layers.Dense(latent_dim)
            self.sampling = Sampling()

        def call(self, inputs):
            x = self.dense_proj(inputs)
            z_mean = self.dense_mean(x)
            z_log_var = self.dense_log_var(x)
            z = self.sampling((z_mean, z_log_var))
            return z_mean, z_log_var, z

    class Decoder(layers.Layer):
        """Converts z, the encoded digit vector, back into a readable digit."""

        def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
            self.dense_output = layers.Dense(original_dim, activation="sigmoid")

        def call(self, inputs):
            x = self.dense_proj(inputs)
            return self.dense_output(x)

    class VariationalAutoEncoder(keras.Model):
        """Combines the encoder and decoder into an end-to-end model for training."""

        def __init__(self, original_dim, intermediate_dim=64, latent_dim=32,
                     name="autoencoder", **kwargs):
            super().__init__(name=name, **kwargs)
            self.original_dim = original_dim
            self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
            self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

        def call(self, inputs):
            z_mean, z_log_var, z = self.encoder(inputs)
            reconstructed = self.decoder(z)
            # Add KL divergence regularization loss.
            kl_loss = -0.5 * tf.reduce_mean(
                z_log_var - tf.square(z_mean) - tf.exp(z_log_var) + 1
            )
            self.add_loss(kl_loss)
            return reconstructed

    # 8x8 "digits": two latent factors draw a bar's position and brightness
    rng = np.random.default_rng(0)
    pos = rng.integers(0, 8, size=1024)
    x_train = np.zeros((1024, 8, 8), "float32")
    x_train[np.arange(1024), :, pos] = 1.0
    original_dim = 64
    x_train = x_train.reshape(1024, original_dim)
    # predicting each pixel's mean: the error a model that learned nothing is left with
    baseline = float(np.mean(x_train.var(axis=0)))

    vae = VariationalAutoEncoder(original_dim, 64, 32)
    optimizer = tf.keras.optimizers.Adam(learning_rate=1e-3)
    mse_loss_fn = tf.keras.losses.MeanSquaredError()
    loss_metric = tf.keras.metrics.Mean()
    train_dataset = tf.data.Dataset.from_tensor_slices(x_train)
    train_dataset = train_dataset.shuffle(buffer_size=1024).batch(64)

    # the guide's step, unchanged, as a tf.function's body (xlaflow records tapes there)
    @tf.function
    def train_step(x_batch_train):
        with tf.GradientTape() as tape:
            reconstructed = vae(x_batch_train)
            # Compute reconstruction loss
            loss = mse_loss_fn(x_batch_train, reconstructed)
            loss += sum(vae.losses)  # Add KLD regularization loss
        grads = tape.gradient(loss, vae.trainable_weights)
        optimizer.apply_gradients(zip(grads, vae.trainable_weights))
        loss_metric(loss)

    epochs = 10
    means = []
    for epoch in range(epochs):
        # Iterate over the batches of the dataset.
        for step, x_batch_train in enumerate(train_dataset):
            train_step(x_batch_train)
        means.append(float(loss_metric.result()))
    assert len(vae.weights) == 10  # five Dense layers
    # KL >= 0, so the mean loss bounds the reconstruction error from above
    recon = np.asarray(vae(x_train))
    now = np.mean((recon - x_train) ** 2) + float(sum(vae.losses))
    # from 0.28 (sigmoid outputs of 0.5) to at most the loss of predicting each pixel's
    # mean with no KL cost, within 10%: this short run reaches it, not yet below
    assert means[-1] < means[0] and now < 1.1 * baseline

    vae = VariationalAutoEncoder(original_dim, 64, 32)  # the guide's 784 is MNIST's size
    optimizer = tf.keras.optimizers.Adam(learning_rate=1e-3)
    vae.compile(optimizer, loss=tf.keras.losses.MeanSquaredError())
    history = vae.fit(x_train, x_train, epochs=10, batch_size=64, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] and losses[-1] < 1.1 * baseline
    # the loss a call adds is the KL term of the encoder's outputs
    _ = vae(x_train[:64])
    (kl_added,) = vae.losses
    z_mean, z_log_var, _ = vae.encoder(x_train[:64])
    z_mean, z_log_var = np.asarray(z_mean), np.asarray(z_log_var)
    kl = -0.5 * np.mean(z_log_var - z_mean ** 2 - np.exp(z_log_var) + 1)
    assert float(kl_added) == pytest.approx(kl, rel=1e-4, abs=1e-6)
