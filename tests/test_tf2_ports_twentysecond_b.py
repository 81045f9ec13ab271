"""The twenty-second round, continued: Keras 2's (TF 2.12) "Customizing what happens in fit()"
guide as written, imports changed; the GAN on small synthetic 28x28 images for MNIST.

Oracles: each example's fit again with one full batch per epoch, whose logged loss and
metrics must equal NumPy's at the weights a callback saw when the epoch began (so also that
the `metrics` are reset each epoch, as the guide documents), Keras 2's weighted loss (sum of
w * loss / batch size; compile's `metrics` are not weighted, its `weighted_metrics` are),
and for the GAN
the generator loss recomputed from the discriminator the step left.
"""

import math
import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


class _WeightsAtEpochBegin(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append([w.astype("float64") for w in self.model.get_weights()])


def _full_batch_epochs(model, x, y, epochs=2, **kwargs):
    """fit with one step per epoch; the weights each epoch began with, and the history."""
    recorder = _WeightsAtEpochBegin()
    history = model.fit(x, y, batch_size=len(x), epochs=epochs, shuffle=False, verbose=0,
                        callbacks=[recorder], **kwargs)
    return recorder.seen, history.history


def test_a_first_simple_example_with_compiled_loss_and_metrics():
    class CustomModel(keras.Model):
        def train_step(self, data):
            # Unpack the data. Its structure depends on your model and
            # on what you pass to `fit()`.
            x, y = data

            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)  # Forward pass
                # Compute the loss value
                # (the loss function is configured in `compile()`)
                loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)

            # Compute gradients
            trainable_vars = self.trainable_variables
            gradients = tape.gradient(loss, trainable_vars)
            # Update weights
            self.optimizer.apply_gradients(zip(gradients, trainable_vars))
            # Update metrics (includes the metric that tracks the loss)
            self.compiled_metrics.update_state(y, y_pred)
            # Return a dict mapping metric names to current value
            return {m.name: m.result() for m in self.metrics}

    # Construct and compile an instance of CustomModel
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])

    # Just use `fit` as usual
    x = np.random.random((1000, 32))
    y = np.random.random((1000, 1))
    history = model.fit(x, y, epochs=3, verbose=0)

    assert [m.name for m in model.metrics] == ["loss", "mae"]
    assert list(history.history) == ["loss", "mae"] and len(history.history["loss"]) == 3
    assert int(model.optimizer.iterations.numpy()) == 3 * 32  # ceil(1000 / 32) per epoch
    assert history.history["loss"][-1] < history.history["loss"][0]

    seen, logs = _full_batch_epochs(model, x, y)
    for epoch, (kernel, bias) in enumerate(seen):
        error = x @ kernel + bias - y
        np.testing.assert_allclose(logs["loss"][epoch], np.mean(error ** 2), rtol=1e-4)
        np.testing.assert_allclose(logs["mae"][epoch], np.mean(np.abs(error)), rtol=1e-4)


def test_going_lower_level_own_loss_tracker_and_metrics_property():
    loss_tracker = keras.metrics.Mean(name="loss")
    mae_metric = keras.metrics.MeanAbsoluteError(name="mae")

    class CustomModel(keras.Model):
        def train_step(self, data):
            x, y = data

            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)  # Forward pass
                # Compute our own loss
                loss = keras.losses.mean_squared_error(y, y_pred)

            # Compute gradients
            trainable_vars = self.trainable_variables
            gradients = tape.gradient(loss, trainable_vars)

            # Update weights
            self.optimizer.apply_gradients(zip(gradients, trainable_vars))

            # Compute our own metrics
            loss_tracker.update_state(loss)
            mae_metric.update_state(y, y_pred)
            return {"loss": loss_tracker.result(), "mae": mae_metric.result()}

        @property
        def metrics(self):
            # We list our `Metric` objects here so that `reset_states()` can be
            # called automatically at the start of each epoch
            # or at the start of `evaluate()`.
            # If you don't implement this property, you have to call
            # `reset_states()` yourself at the time of your choosing.
            return [loss_tracker, mae_metric]

    # Construct an instance of CustomModel
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)

    # We don't passs a loss or metrics here.
    model.compile(optimizer="adam")

    # Just use `fit` as usual -- you can use callbacks, etc.
    x = np.random.random((1000, 32))
    y = np.random.random((1000, 1))
    history = model.fit(x, y, epochs=5, verbose=0)
    assert list(history.history) == ["loss", "mae"] and len(history.history["loss"]) == 5
    assert history.history["loss"][-1] < history.history["loss"][0]

    # reset at each epoch's start: the second epoch logs its own step, not the mean of two
    seen, logs = _full_batch_epochs(model, x, y, epochs=3)
    for epoch, (kernel, bias) in enumerate(seen):
        error = x @ kernel + bias - y
        np.testing.assert_allclose(logs["loss"][epoch], np.mean(error ** 2), rtol=1e-4)
        np.testing.assert_allclose(logs["mae"][epoch], np.mean(np.abs(error)), rtol=1e-4)
    np.testing.assert_allclose(float(loss_tracker.result()), logs["loss"][-1], rtol=1e-6)
    assert logs["loss"][2] < logs["loss"][1] < logs["loss"][0]  # Adam's steps descend


def test_supporting_sample_weight():
    class CustomModel(keras.Model):
        def train_step(self, data):
            # Unpack the data. Its structure depends on your model and
            # on what you pass to `fit()`.
            if len(data) == 3:
                x, y, sample_weight = data
            else:
                sample_weight = None
                x, y = data

            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)  # Forward pass
                # Compute the loss value.
                # The loss function is configured in `compile()`.
                loss = self.compiled_loss(
                    y,
                    y_pred,
                    sample_weight=sample_weight,
                    regularization_losses=self.losses,
                )

            # Compute gradients
            trainable_vars = self.trainable_variables
            gradients = tape.gradient(loss, trainable_vars)

            # Update weights
            self.optimizer.apply_gradients(zip(gradients, trainable_vars))

            # Update the metrics.
            # Metrics are configured in `compile()`.
            self.compiled_metrics.update_state(y, y_pred, sample_weight=sample_weight)

            # Return a dict mapping metric names to current value.
            # Note that it will include the loss (tracked in self.metrics).
            return {m.name: m.result() for m in self.metrics}

    # Construct and compile an instance of CustomModel
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])

    # You can now use sample_weight argument
    x = np.random.random((1000, 32))
    y = np.random.random((1000, 1))
    sw = np.random.random((1000, 1))
    history = model.fit(x, y, sample_weight=sw, epochs=3, verbose=0)
    assert list(history.history) == ["loss", "mae"] and len(history.history["loss"]) == 3

    seen, logs = _full_batch_epochs(model, x, y, sample_weight=sw)
    for epoch, (kernel, bias) in enumerate(seen):
        error = x @ kernel + bias - y
        # Keras 2: the weighted loss is summed over the batch size; compile's `metrics`
        # take only masks, not sample weights (those go to its `weighted_metrics`)
        np.testing.assert_allclose(logs["loss"][epoch], np.sum(sw * error ** 2) / len(x),
                                   rtol=1e-4)
        np.testing.assert_allclose(logs["mae"][epoch], np.mean(np.abs(error)), rtol=1e-4)
    # and without weights the step takes its two-element branch
    seen, logs = _full_batch_epochs(model, x, y, epochs=1)
    error = x @ seen[0][0] + seen[0][1] - y
    np.testing.assert_allclose(logs["loss"][0], np.mean(error ** 2), rtol=1e-4)


def test_providing_your_own_evaluation_step(capsys):
    class CustomModel(keras.Model):
        def test_step(self, data):
            # Unpack the data
            x, y = data
            # Compute predictions
            y_pred = self(x, training=False)
            # Updates the metrics tracking the loss
            self.compiled_loss(y, y_pred, regularization_losses=self.losses)
            # Update the metrics.
            self.compiled_metrics.update_state(y, y_pred)
            # Return a dict mapping metric names to current value.
            # Note that it will include the loss (tracked in self.metrics).
            return {m.name: m.result() for m in self.metrics}

    # Construct an instance of CustomModel
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(loss="mse", metrics=["mae"])

    # Evaluate with our custom test_step
    x = np.random.random((1000, 32))
    y = np.random.random((1000, 1))
    results = model.evaluate(x, y)

    kernel, bias = (w.astype("float64") for w in model.get_weights())
    error = x @ kernel + bias - y
    # batches of 32 (the last of 8): the loss tracker's batch-size-weighted mean is the mean
    np.testing.assert_allclose(results, [np.mean(error ** 2), np.mean(np.abs(error))],
                               rtol=1e-4)
    assert "32/32" in capsys.readouterr().out  # the progress bar's steps
    # evaluate resets the metrics first: a second call gives the same values, not a mean
    np.testing.assert_allclose(model.evaluate(x[:100], y[:100], verbose=0),
                               [np.mean(error[:100] ** 2), np.mean(np.abs(error[:100]))],
                               rtol=1e-4)


def _discriminator_logits(weights, images):
    """The guide's discriminator in plain jax.lax: two stride-2 SAME convs with
    LeakyReLU(0.2), a global max pool and a Dense."""
    import jax
    k1, b1, k2, b2, w, b = (np.asarray(v, "float32") for v in weights)
    x = np.asarray(images, "float32")
    for kernel, bias in ((k1, b1), (k2, b2)):
        x = jax.lax.conv_general_dilated(x, kernel, (2, 2), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC")) + bias
        x = np.where(x > 0, x, 0.2 * np.asarray(x))
    return np.asarray(x).max(axis=(1, 2)).astype("float64") @ w + b


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


class _DiscriminatorAtBatches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.begin, self.end = [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.begin.append(self.model.discriminator.get_weights())

    def on_train_batch_end(self, batch, logs=None):
        self.end.append(self.model.discriminator.get_weights())


def test_wrapping_up_an_end_to_end_gan_example():
    from xlaflow.keras import layers

    # Create the discriminator (every width is the guide's / 4, 64 and 128 -> 16 and 32: the
    # oracle below holds at any width, and the guide's cost ~10 s of a CPU test's time)
    discriminator = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.Conv2D(32, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ],
        name="discriminator",
    )

    # Create the generator
    latent_dim = 128
    generator = keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            # We want to generate 128 coefficients to reshape into a 7x7x128 map (7x7x32)
            layers.Dense(7 * 7 * 32),
            layers.LeakyReLU(alpha=0.2),
            layers.Reshape((7, 7, 32)),
            layers.Conv2DTranspose(32, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.Conv2DTranspose(32, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(alpha=0.2),
            layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )

    class GAN(keras.Model):
        def __init__(self, discriminator, generator, latent_dim):
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.latent_dim = latent_dim
            self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
            self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

        def compile(self, d_optimizer, g_optimizer, loss_fn):
            super().compile()
            self.d_optimizer = d_optimizer
            self.g_optimizer = g_optimizer
            self.loss_fn = loss_fn

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

        def train_step(self, real_images):
            if isinstance(real_images, tuple):
                real_images = real_images[0]
            # Sample random points in the latent space
            batch_size = tf.shape(real_images)[0]
            random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))

            # Decode them to fake images
            generated_images = self.generator(random_latent_vectors)

            # Combine them with real images
            combined_images = tf.concat([generated_images, real_images], axis=0)

            # Assemble labels discriminating real from fake images
            labels = tf.concat(
                [tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0
            )
            # Add random noise to the labels - important trick!
            labels += 0.05 * tf.random.uniform(tf.shape(labels))

            # Train the discriminator
            with tf.GradientTape() as tape:
                predictions = self.discriminator(combined_images)
                d_loss = self.loss_fn(labels, predictions)
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(
                zip(grads, self.discriminator.trainable_weights)
            )

            # Sample random points in the latent space
            random_latent_vectors = tf.random.normal(shape=(batch_size, self.latent_dim))

            # Assemble labels that say "all real images"
            misleading_labels = tf.zeros((batch_size, 1))

            # Train the generator (note that we should *not* update the weights
            # of the discriminator)!
            with tf.GradientTape() as tape:
                predictions = self.discriminator(self.generator(random_latent_vectors))
                g_loss = self.loss_fn(misleading_labels, predictions)
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

            # Update metrics and return their value.
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {
                "d_loss": self.d_loss_tracker.result(),
                "g_loss": self.g_loss_tracker.result(),
            }

    # Prepare the dataset (48 synthetic 28x28 "digits", bright strokes on black, in place
    # of MNIST's 70,000, and batches of 16 for the guide's 64: a CPU test's budget)
    batch_size = 16
    rng = np.random.default_rng(4)
    all_digits = np.zeros((48, 28, 28), "uint8")
    for image, (row, col) in zip(all_digits, rng.integers(4, 20, size=(48, 2))):
        image[row:row + 8, col:col + 2] = 255
    all_digits = all_digits.astype("float32") / 255.0
    all_digits = np.reshape(all_digits, (-1, 28, 28, 1))
    dataset = tf.data.Dataset.from_tensor_slices(all_digits)
    dataset = dataset.shuffle(buffer_size=1024).batch(batch_size)

    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
    )

    # To limit the execution time, we only train on 100 batches (2 here).
    history = gan.fit(dataset.take(2), epochs=1, verbose=0)
    assert list(history.history) == ["d_loss", "g_loss"]
    assert all(np.isfinite(v[0]) for v in history.history.values())
    assert int(gan.d_optimizer.iterations.numpy()) == 2
    assert int(gan.g_optimizer.iterations.numpy()) == 2

    # The oracle: a generator whose last conv is zero draws the same flat 0.5 image from
    # every latent vector (and keeps drawing it: its optimizer's rate is 0), so the losses
    # depend only on the discriminator, whose weights a callback records around each step
    kernel, bias = generator.layers[-1].get_weights()
    generator.layers[-1].set_weights([np.zeros_like(kernel), np.zeros_like(bias)])
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    one_batch = tf.data.Dataset.from_tensor_slices(all_digits[:batch_size]).shuffle(
        buffer_size=1024).batch(batch_size)  # the mean loss ignores the batch's order
    recorder = _DiscriminatorAtBatches()
    logs = gan.fit(one_batch, epochs=2, verbose=0, callbacks=[recorder]).history
    flat = np.full((batch_size, 28, 28, 1), 0.5, "float32")
    for epoch in range(2):
        # the generator step sees the discriminator its own step's update left, and
        # changes it no further; the trackers were reset when the epoch began
        after = _discriminator_logits(recorder.end[epoch], flat)
        np.testing.assert_allclose(logs["g_loss"][epoch], np.mean(_softplus(after)),
                                   rtol=1e-4)
        # the discriminator's loss at the weights before its update, up to the labels'
        # uniform noise: BCE is linear in the label, so |change| <= 0.05 * mean |logit|
        before = _discriminator_logits(recorder.begin[epoch],
                                       np.concatenate([flat, all_digits[:batch_size]]))
        labels = np.concatenate([np.ones((batch_size, 1)), np.zeros((batch_size, 1))])
        base = np.mean(_softplus(before) - before * labels)
        assert abs(logs["d_loss"][epoch] - base) <= 0.05 * np.mean(np.abs(before)) + 1e-5
    assert not np.allclose(recorder.end[0][-2], recorder.begin[0][-2])  # D was trained
    np.testing.assert_array_equal(generator.layers[-1].get_weights()[0], 0)
    assert math.isfinite(logs["d_loss"][1])
