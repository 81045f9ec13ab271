"""A fourth round of whole TF2 programs, written as TF2 tutorials and Keras 2 examples write
them, with only the imports changed (`import xlaflow as tf`, `from xlaflow import keras`).

Each asserts an outcome known without xlaflow: pixel accuracy and IoU the data allows,
denoising below the noise a projection leaves, checkpointed models equal to the saved
ones, a policy reaching the closed-form optimal return. The programs of this round go on
in test_tf2_ports_fifth.py.
"""

import os

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


def _blocks(rng, n, size=16):
    """Noise images with a bright and a dark square at random places; per-pixel masks
    0 (background), 1 (bright square), 2 (dark square)."""
    images = rng.normal(0.0, 0.3, (n, size, size, 1)).astype("float32")
    masks = np.zeros((n, size, size), "int32")
    for i in range(n):
        for cls, value in ((1, 1.5), (2, -1.5)):
            r, c = rng.integers(0, size - 5, 2)
            images[i, r:r + 5, c:c + 5, 0] += value
            masks[i, r:r + 5, c:c + 5] = cls
    return images, masks


def test_unet_segmentation_with_per_pixel_loss_and_mean_iou():
    rng = np.random.default_rng(0)
    images, masks = _blocks(rng, 256)
    x_train, y_train, x_val, y_val = images[:192], masks[:192], images[192:], masks[192:]

    def unet(num_classes=3):
        inputs = keras.Input(shape=(16, 16, 1))
        c1 = layers.Conv2D(8, 3, activation="relu", padding="same")(inputs)
        p1 = layers.MaxPooling2D((2, 2))(c1)
        c2 = layers.Conv2D(16, 3, activation="relu", padding="same")(p1)
        p2 = layers.MaxPooling2D((2, 2))(c2)
        b = layers.Conv2D(16, 3, activation="relu", padding="same")(p2)
        u2 = layers.Conv2DTranspose(16, 2, strides=2, padding="same")(b)
        u2 = layers.concatenate([u2, c2])
        c3 = layers.Conv2D(16, 3, activation="relu", padding="same")(u2)
        u1 = layers.UpSampling2D(2)(c3)
        u1 = layers.concatenate([u1, c1])
        c4 = layers.Conv2D(8, 3, activation="relu", padding="same")(u1)
        outputs = layers.Conv2D(num_classes, 1)(c4)  # logits per pixel
        return keras.Model(inputs, outputs, name="unet")

    tf.random.set_seed(0)
    model = unet()
    assert model.output_shape == (None, 16, 16, 3)
    iou = keras.metrics.MeanIoU(num_classes=3, sparse_y_pred=False, name="mean_iou")
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy", iou])
    history = model.fit(x_train, y_train, batch_size=32, epochs=6,
                        validation_data=(x_val, y_val), verbose=0)
    assert history.history["val_accuracy"][-1] > 0.95  # background alone is ~0.8
    assert history.history["val_mean_iou"][-1] > 0.8

    # the metric against a confusion matrix counted in NumPy on the predictions
    logits = model.predict(x_val, verbose=0)
    predicted = np.argmax(logits, axis=-1)
    confusion = np.zeros((3, 3))
    np.add.at(confusion, (y_val.ravel(), predicted.ravel()), 1)
    tp = np.diag(confusion)
    expected_iou = np.mean(tp / (confusion.sum(0) + confusion.sum(1) - tp))
    iou.reset_state()
    iou.update_state(y_val, logits)
    assert float(iou.result()) == pytest.approx(expected_iou, rel=1e-5)
    np.testing.assert_array_equal(iou.total_cm.numpy(), confusion)
    logs = model.evaluate(x_val, y_val, verbose=0, return_dict=True)
    assert logs["mean_iou"] == pytest.approx(expected_iou, rel=1e-5)

    # one-hot masks with the categorical loss give the same number as sparse labels
    onehot = keras.utils.to_categorical(y_val, num_classes=3)
    assert onehot.shape == (64, 16, 16, 3)
    dense_loss = keras.losses.CategoricalCrossentropy(from_logits=True)(onehot, logits)
    sparse_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y_val, logits)
    assert float(dense_loss) == pytest.approx(float(sparse_loss), rel=1e-5)
    assert logs["loss"] == pytest.approx(float(sparse_loss), rel=1e-4)


def test_denoising_autoencoder_subclass_with_encoder_and_decoder_sequentials(tmp_path):
    # clean signals lie on a 3-dimensional subspace of R^24: the best linear denoiser, the
    # projection onto it, keeps 3/24 of the noise; anything learnt must beat the raw noise
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.normal(size=(24, 3)))[0].T.astype("float32")
    x_train = (rng.normal(size=(1024, 3)) @ basis).astype("float32")
    x_test = (rng.normal(size=(256, 3)) @ basis).astype("float32")
    noise_factor = 0.3
    x_train_noisy = x_train + noise_factor * tf.random.normal(shape=x_train.shape)
    x_test_noisy = x_test + noise_factor * tf.random.normal(shape=x_test.shape)

    latent_dim = 3

    class Denoise(keras.Model):
        def __init__(self):
            super().__init__()
            self.encoder = keras.Sequential([
                layers.Input(shape=(24,)),
                layers.Dense(16, activation="relu"),
                layers.Dense(latent_dim),
            ])
            self.decoder = keras.Sequential([
                layers.Dense(16, activation="relu"),
                layers.Dense(24),
            ])

        def call(self, x):
            encoded = self.encoder(x)
            decoded = self.decoder(encoded)
            return decoded

    tf.random.set_seed(1)
    autoencoder = Denoise()
    autoencoder.compile(optimizer="adam", loss=keras.losses.MeanSquaredError())
    history = autoencoder.fit(x_train_noisy, x_train, epochs=20, shuffle=True, batch_size=32,
                              validation_data=(x_test_noisy, x_test), verbose=0)
    noise_mse = float(np.mean((np.asarray(x_test_noisy) - x_test) ** 2))
    assert noise_mse == pytest.approx(noise_factor ** 2, rel=0.05)
    assert history.history["val_loss"][-1] < 0.5 * noise_mse  # projection: 0.125x

    # TF's `.numpy()` on a tensor: xlaflow's tensors are jax.Arrays, np.asarray reads them
    encoded_imgs = np.asarray(autoencoder.encoder(x_test_noisy))
    decoded_imgs = np.asarray(autoencoder.decoder(encoded_imgs))
    assert encoded_imgs.shape == (256, latent_dim)
    np.testing.assert_allclose(decoded_imgs, autoencoder.predict(x_test_noisy, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert len(autoencoder.encoder.trainable_weights) == 4

    path = str(tmp_path / "denoise.weights.h5")
    autoencoder.save_weights(path)
    restored = Denoise()
    # build, as Keras needs before load_weights (on the batch the calls above compiled)
    restored(x_test_noisy)
    restored.load_weights(path)
    np.testing.assert_array_equal(restored.predict(x_test_noisy, verbose=0),
                                  autoencoder.predict(x_test_noisy, verbose=0))


def test_siamese_network_shared_tower_lambda_distance_and_contrastive_loss():
    # points from 4 clusters in R^8; a pair is labelled 1 when its points come from
    # different clusters (the Keras example's convention), 0 when from the same
    rng = np.random.default_rng(2)
    centers = rng.normal(0.0, 2.0, (4, 8))

    def pairs(n):
        a_cls = rng.integers(0, 4, n)
        same = rng.random(n) < 0.5
        b_cls = np.where(same, a_cls, (a_cls + rng.integers(1, 4, n)) % 4)
        a = centers[a_cls] + rng.normal(0.0, 0.7, (n, 8))
        b = centers[b_cls] + rng.normal(0.0, 0.7, (n, 8))
        # (n,) labels against (n, 1) distances: the loss function sees them squeezed to one
        # rank, as in Keras 2 (else `y_true * margin_square` would be an (n, n) matrix)
        return a.astype("float32"), b.astype("float32"), (~same).astype("float32")

    a_train, b_train, y_train = pairs(1024)
    a_test, b_test, y_test = pairs(256)

    def euclidean_distance(vects):
        x, y = vects
        sum_square = tf.math.reduce_sum(tf.math.square(x - y), axis=1, keepdims=True)
        return tf.math.sqrt(tf.math.maximum(sum_square, keras.backend.epsilon()))

    def loss(margin=1):
        def contrastive_loss(y_true, y_pred):
            square_pred = tf.math.square(y_pred)
            margin_square = tf.math.square(tf.math.maximum(margin - (y_pred), 0))
            return tf.math.reduce_mean(y_true * margin_square + (1 - y_true) * square_pred)
        return contrastive_loss

    tf.random.set_seed(2)
    embedding_network = keras.Sequential([
        keras.Input((8,)), layers.Dense(16, activation="tanh"), layers.Dense(4)],
        name="tower")
    input_1 = layers.Input((8,))
    input_2 = layers.Input((8,))
    tower_1 = embedding_network(input_1)
    tower_2 = embedding_network(input_2)  # the same weights: one tower, called twice
    distance = layers.Lambda(euclidean_distance, name="distance")([tower_1, tower_2])
    siamese = keras.Model(inputs=[input_1, input_2], outputs=distance)
    assert len(siamese.trainable_weights) == 4
    # a distance above 0.5 (half the margin) says "different"
    siamese.compile(loss=loss(margin=1), optimizer=keras.optimizers.RMSprop(1e-2),
                    metrics=[keras.metrics.BinaryAccuracy(threshold=0.5)])
    history = siamese.fit([a_train, b_train], y_train, batch_size=64, epochs=10,
                          validation_data=([a_test, b_test], y_test), verbose=0)
    assert history.history["val_binary_accuracy"][-1] > 0.9  # chance is 0.5

    d = siamese.predict([a_test, b_test], verbose=0).ravel()
    np.testing.assert_allclose(
        d, np.linalg.norm(embedding_network.predict(a_test, verbose=0)
                          - embedding_network.predict(b_test, verbose=0), axis=1),
        rtol=1e-4, atol=1e-5)
    labels = y_test.ravel()
    expected_loss = np.mean(labels * np.maximum(1 - d, 0) ** 2 + (1 - labels) * d ** 2)
    expected_accuracy = np.mean((d > 0.5) == (labels == 1))
    test_loss, test_accuracy = siamese.evaluate([a_test, b_test], y_test, verbose=0)
    assert test_loss == pytest.approx(expected_loss, rel=1e-4)
    assert test_accuracy == pytest.approx(expected_accuracy, abs=1e-6)


def test_dcgan_conv_transpose_batchnorm_two_tapes_and_checkpoint(tmp_path):
    # "real" 8x8 images: bright top half, dark bottom half, with noise
    rng = np.random.default_rng(3)
    real = rng.normal(0.0, 0.1, (512, 8, 8, 1)).astype("float32")
    real[:, :4] += 0.6
    real[:, 4:] -= 0.6
    BATCH_SIZE, noise_dim = 64, 8
    train_dataset = tf.data.Dataset.from_tensor_slices(real).shuffle(512, seed=3) \
        .batch(BATCH_SIZE, drop_remainder=True)

    def make_generator_model():
        model = keras.Sequential()
        model.add(layers.Dense(2 * 2 * 16, use_bias=False, input_shape=(noise_dim,)))
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())
        model.add(layers.Reshape((2, 2, 16)))
        assert model.output_shape == (None, 2, 2, 16)
        model.add(layers.Conv2DTranspose(8, (3, 3), strides=(2, 2), padding="same",
                                         use_bias=False))
        assert model.output_shape == (None, 4, 4, 8)
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())
        model.add(layers.Conv2DTranspose(1, (3, 3), strides=(2, 2), padding="same",
                                         use_bias=False, activation="tanh"))
        assert model.output_shape == (None, 8, 8, 1)
        return model

    def make_discriminator_model():
        model = keras.Sequential()
        model.add(layers.Conv2D(8, (3, 3), strides=(2, 2), padding="same",
                                input_shape=[8, 8, 1]))
        model.add(layers.LeakyReLU())
        model.add(layers.Dropout(0.3))
        model.add(layers.Flatten())
        model.add(layers.Dense(1))
        return model

    tf.random.set_seed(3)
    generator = make_generator_model()
    discriminator = make_discriminator_model()
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)

    def discriminator_loss(real_output, fake_output):
        real_loss = cross_entropy(tf.ones_like(real_output), real_output)
        fake_loss = cross_entropy(tf.zeros_like(fake_output), fake_output)
        return real_loss + fake_loss

    def generator_loss(fake_output):
        return cross_entropy(tf.ones_like(fake_output), fake_output)

    generator_optimizer = keras.optimizers.Adam(5e-3, beta_1=0.5)
    discriminator_optimizer = keras.optimizers.Adam(5e-3, beta_1=0.5)
    checkpoint_prefix = os.path.join(str(tmp_path / "training_checkpoints"), "ckpt")
    checkpoint = tf.train.Checkpoint(generator_optimizer=generator_optimizer,
                                     discriminator_optimizer=discriminator_optimizer,
                                     generator=generator, discriminator=discriminator)

    @tf.function
    def train_step(images):
        noise = tf.random.normal([BATCH_SIZE, noise_dim])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = generator_loss(fake_output)
            disc_loss = discriminator_loss(real_output, fake_output)
        gradients_of_generator = gen_tape.gradient(gen_loss, generator.trainable_variables)
        gradients_of_discriminator = disc_tape.gradient(
            disc_loss, discriminator.trainable_variables)
        generator_optimizer.apply_gradients(
            zip(gradients_of_generator, generator.trainable_variables))
        discriminator_optimizer.apply_gradients(
            zip(gradients_of_discriminator, discriminator.trainable_variables))
        return gen_loss, disc_loss

    seed = tf.random.normal([256, noise_dim])

    def top_minus_bottom():
        fake = np.asarray(generator(seed, training=False))
        return float(fake[:, :4].mean() - fake[:, 4:].mean())

    assert abs(top_minus_bottom()) < 0.3  # the real images' gap is 1.2
    for epoch in range(15):
        for image_batch in train_dataset:
            gen_loss, disc_loss = train_step(image_batch)
        if (epoch + 1) % 5 == 0:
            path = checkpoint.save(file_prefix=checkpoint_prefix)
    assert train_step.experimental_get_tracing_count() == 1
    assert np.isfinite(float(gen_loss)) and np.isfinite(float(disc_loss))
    assert top_minus_bottom() > 0.6
    assert path.endswith("ckpt-3")
    assert tf.train.latest_checkpoint(str(tmp_path / "training_checkpoints")) == path

    # a fresh pair restored from the last checkpoint generates the same images
    expected = np.asarray(generator(seed, training=False))
    moving_mean = generator.layers[1].moving_mean.numpy()
    generator2, discriminator2 = make_generator_model(), make_discriminator_model()
    g_opt2 = keras.optimizers.Adam(5e-3, beta_1=0.5)
    d_opt2 = keras.optimizers.Adam(5e-3, beta_1=0.5)
    restore = tf.train.Checkpoint(generator_optimizer=g_opt2, discriminator_optimizer=d_opt2,
                                  generator=generator2, discriminator=discriminator2)
    restore.restore(tf.train.latest_checkpoint(str(tmp_path / "training_checkpoints")))
    np.testing.assert_array_equal(generator2(seed, training=False), expected)
    np.testing.assert_array_equal(generator2.layers[1].moving_mean.numpy(), moving_mean)
    assert int(g_opt2.iterations) == int(generator_optimizer.iterations) == 15 * 8
