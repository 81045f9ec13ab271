"""The twenty-third round of whole TF2 programs (see test_tf2_ports.py): TF's "Deep
Convolutional Generative Adversarial Network" tutorial (TF 2.12) as written, imports changed,
on MNIST-shaped synthetic digits made here ("Mixed precision" is in _twentythird_b.py).

What changed, each line saying why: the widths are the tutorial's divided by 8, BATCH_SIZE is
32 on 300 images (a CPU test); matplotlib's figure becomes the same 4x4 grid saved with PIL;
IPython's display and the imageio GIF are left out (notebook-only; imageio is not installed).
test_tf2_ports_fourth.py has an earlier, smaller DCGAN (8x8 images, its own architecture).

Oracles: the untrained generator's and discriminator's outputs equal a NumPy forward pass of
their weights (transposed convolutions as scatter-adds); the trained generator's images
have the digits' dark border (the untrained one's are grey there) and their mean correlates
with the digits' mean image (a GAN after 500 steps: the bounds hold over seeds 0-3); the
restored checkpoint (epoch 45) draws exactly the grid that was saved at epoch 45.
"""

import math
import os
import time

import numpy as np
import PIL.Image
import pytest

import xlaflow as tf
from xlaflow.keras import layers


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tutorial writes its checkpoints and images here
    tf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _synthetic_mnist(n=300):
    """MNIST-shaped uint8 digits: a '1' (a vertical bar) or a '0' (a ring), jittered."""
    rng = np.random.default_rng(23)
    yy, xx = np.mgrid[0:28, 0:28]
    labels = rng.integers(0, 2, n).astype("uint8")
    images = np.zeros((n, 28, 28), "float64")
    for i, (label, dy, dx) in enumerate(zip(labels, *rng.integers(-2, 3, (2, n)))):
        if label == 1:
            images[i] = (abs(xx - 14 - dx) <= 1) & (abs(yy - 14 - dy) <= 8)
        else:
            radius = np.hypot(yy - 14 - dy, xx - 14 - dx)
            images[i] = (radius >= 5) & (radius <= 8)
    images = np.clip(images * 255 + rng.normal(0, 20, images.shape), 0, 255)
    return (images.astype("uint8"), labels), (None, None)


def _leaky_relu(x):
    return np.where(x > 0, x, 0.3 * x)  # LeakyReLU's TF2 default alpha


def _same_padding(size_in, k, s, size_out):
    """TF's 'same' padding before the first row, of a conv from size_out to size_in."""
    return max((size_in - 1) * s + k - size_out, 0) // 2


def _conv2d_numpy(x, kernel, s):
    """Keras Conv2D, 'same' padding: a cross-correlation with stride s (kernel: kh,kw,in,out)."""
    n, h, w, _ = x.shape
    k = kernel.shape[0]
    h_out, w_out = -(-h // s), -(-w // s)
    pad = _same_padding(h_out, k, s, h)
    xp = np.pad(x, ((0, 0), (pad, k + s * h_out), (pad, k + s * w_out), (0, 0)))
    out = np.zeros((n, h_out, w_out, kernel.shape[3]))
    for ki in range(k):
        for kj in range(k):
            window = xp[:, ki:ki + s * h_out:s, kj:kj + s * w_out:s]
            out += window @ kernel[ki, kj]
    return out


def _conv2d_transpose_numpy(x, kernel, s):
    """Keras Conv2DTranspose, 'same' padding: each input pixel adds kernel[ki, kj] @ x at
    (i*s + ki - pad, j*s + kj - pad), the gradient of Conv2D (kernel: kh,kw,out,in)."""
    n, h, w, _ = x.shape
    k = kernel.shape[0]
    pad = _same_padding(h, k, s, h * s)
    out = np.zeros((n, h * s + 2 * k, w * s + 2 * k, kernel.shape[2]))
    for ki in range(k):
        for kj in range(k):
            out[:, ki:ki + s * h:s, kj:kj + s * w:s] += x @ kernel[ki, kj].T
    return out[:, pad:pad + h * s, pad:pad + w * s]


def _batch_norm_inference(x, layer):
    gamma, beta, mean, var = (np.float64(w) for w in layer.get_weights())
    return (x - mean) / np.sqrt(var + layer.epsilon) * gamma + beta


def _generator_numpy(generator, noise):
    dense, bn1, _, reshape, ct1, bn2, _, ct2, bn3, _, ct3 = generator.layers
    x = _leaky_relu(_batch_norm_inference(np.float64(noise) @ dense.kernel.numpy(), bn1))
    x = x.reshape((-1, *reshape.target_shape))
    x = _leaky_relu(_batch_norm_inference(_conv2d_transpose_numpy(x, ct1.kernel.numpy(), 1),
                                          bn2))
    x = _leaky_relu(_batch_norm_inference(_conv2d_transpose_numpy(x, ct2.kernel.numpy(), 2),
                                          bn3))
    return np.tanh(_conv2d_transpose_numpy(x, ct3.kernel.numpy(), 2))


def _discriminator_numpy(discriminator, images):
    conv1, _, _, conv2, _, _, _, dense = discriminator.layers
    x = _leaky_relu(_conv2d_numpy(np.float64(images), conv1.kernel.numpy(), 2)
                    + conv1.bias.numpy())
    x = _leaky_relu(_conv2d_numpy(x, conv2.kernel.numpy(), 2) + conv2.bias.numpy())
    return x.reshape(len(x), -1) @ dense.kernel.numpy() + dense.bias.numpy()


def _border_mean(images):
    """The mean of the top and bottom 4 rows, which no synthetic digit reaches."""
    return float(np.mean(np.concatenate([images[:, :4], images[:, -4:]], axis=1)))


def _correlation(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@pytest.mark.slow  # 500 steps of 32 images and two traces: ~20 s on a loaded 2-core CPU
def test_dcgan_tutorial(capsys):
    print(tf.__version__)

    # tf.keras.datasets.mnist.load_data() downloads; the synthetic digits stand in
    (train_images, train_labels), (_, _) = _synthetic_mnist()  # noqa: RUF059
    train_images = train_images.reshape(train_images.shape[0], 28, 28, 1).astype('float32')
    train_images = (train_images - 127.5) / 127.5  # Normalize the images to [-1, 1]
    BUFFER_SIZE = 60000
    # 256 in the tutorial: a CPU test (300 images leave a last batch of 12). The 500 steps
    # the bounds below need cost half what batches of 64 on 600 images did
    BATCH_SIZE = 32
    # Batch and shuffle the data
    train_dataset = tf.data.Dataset.from_tensor_slices(train_images).shuffle(
        BUFFER_SIZE).batch(BATCH_SIZE)

    def make_generator_model():
        model = tf.keras.Sequential()
        # every width is the tutorial's / 8 (256, 128, 64 -> 32, 16, 8): a CPU test
        model.add(layers.Dense(7*7*32, use_bias=False, input_shape=(100,)))
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())

        model.add(layers.Reshape((7, 7, 32)))
        assert model.output_shape == (None, 7, 7, 32)  # Note: None is the batch size

        model.add(layers.Conv2DTranspose(16, (5, 5), strides=(1, 1), padding='same',
                                         use_bias=False))
        assert model.output_shape == (None, 7, 7, 16)
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())

        model.add(layers.Conv2DTranspose(8, (5, 5), strides=(2, 2), padding='same',
                                         use_bias=False))
        assert model.output_shape == (None, 14, 14, 8)
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())

        model.add(layers.Conv2DTranspose(1, (5, 5), strides=(2, 2), padding='same',
                                         use_bias=False, activation='tanh'))
        assert model.output_shape == (None, 28, 28, 1)

        return model

    generator = make_generator_model()

    noise = tf.random.normal([1, 100])
    generated_image = generator(noise, training=False)

    # plt.imshow(generated_image[0, :, :, 0], cmap='gray'): no matplotlib; the oracle instead
    np.testing.assert_allclose(generated_image, _generator_numpy(generator, noise),
                               rtol=1e-4, atol=1e-5)

    def make_discriminator_model():
        model = tf.keras.Sequential()
        model.add(layers.Conv2D(8, (5, 5), strides=(2, 2), padding='same',  # 64 / 8
                                input_shape=[28, 28, 1]))
        model.add(layers.LeakyReLU())
        model.add(layers.Dropout(0.3))

        model.add(layers.Conv2D(16, (5, 5), strides=(2, 2), padding='same'))  # 128 / 8
        model.add(layers.LeakyReLU())
        model.add(layers.Dropout(0.3))

        model.add(layers.Flatten())
        model.add(layers.Dense(1))

        return model

    discriminator = make_discriminator_model()
    decision = discriminator(generated_image)
    print(decision)
    assert decision.shape == (1, 1)
    np.testing.assert_allclose(decision, _discriminator_numpy(discriminator, generated_image),
                               rtol=1e-4, atol=1e-5)

    # This method returns a helper function to compute cross entropy loss
    cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)

    def discriminator_loss(real_output, fake_output):
        real_loss = cross_entropy(tf.ones_like(real_output), real_output)
        fake_loss = cross_entropy(tf.zeros_like(fake_output), fake_output)
        total_loss = real_loss + fake_loss
        return total_loss

    def generator_loss(fake_output):
        return cross_entropy(tf.ones_like(fake_output), fake_output)

    generator_optimizer = tf.keras.optimizers.Adam(1e-4)
    discriminator_optimizer = tf.keras.optimizers.Adam(1e-4)

    checkpoint_dir = './training_checkpoints'
    checkpoint_prefix = os.path.join(checkpoint_dir, "ckpt")
    checkpoint = tf.train.Checkpoint(generator_optimizer=generator_optimizer,
                                     discriminator_optimizer=discriminator_optimizer,
                                     generator=generator,
                                     discriminator=discriminator)

    EPOCHS = 50
    noise_dim = 100
    num_examples_to_generate = 16

    # You will reuse this seed overtime (so it's easier)
    # to visualize progress in the animated GIF)
    seed = tf.random.normal([num_examples_to_generate, noise_dim])

    # Notice the use of `tf.function`
    # This annotation causes the function to be "compiled".
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

    def train(dataset, epochs):
        for epoch in range(epochs):
            start = time.time()

            for image_batch in dataset:
                train_step(image_batch)

            # Produce images for the GIF as you go
            # (display.clear_output(wait=True) is IPython's, left out)
            generate_and_save_images(generator,
                                     epoch + 1,
                                     seed)

            # Save the model every 15 epochs
            if (epoch + 1) % 15 == 0:
                checkpoint.save(file_prefix=checkpoint_prefix)

            print('Time for epoch {} is {} sec'.format(epoch + 1, time.time()-start))  # noqa: UP032

        # Generate after the final epoch
        generate_and_save_images(generator,
                                 epochs,
                                 seed)

    def generate_and_save_images(model, epoch, test_input):
        # Notice `training` is set to False.
        # This is so all layers run in inference mode (batchnorm).
        predictions = model(test_input, training=False)

        # plt.figure(figsize=(4, 4)) of 4x4 subplots -> the same grid as one 112x112 image
        grid = np.zeros((4 * 28, 4 * 28), 'uint8')

        for i in range(predictions.shape[0]):
            row, col = divmod(i, 4)  # plt.subplot(4, 4, i+1)
            grid[row*28:(row+1)*28, col*28:(col+1)*28] = predictions[i, :, :, 0] * 127.5 + 127.5

        # plt.savefig(...) -> PIL; plt.show() left out
        PIL.Image.fromarray(grid).save('image_at_epoch_{:04d}.png'.format(epoch))  # noqa: UP032

    untrained = generator(seed, training=False)
    real_mean = train_images.mean(axis=0)
    assert abs(_border_mean(untrained)) < 0.1

    train(train_dataset, EPOCHS)

    # TF traces once for the full batches and once for the last, shorter one
    assert train_step.experimental_get_tracing_count() == 2
    assert capsys.readouterr().out.count("Time for epoch") == EPOCHS
    steps_per_epoch = math.ceil(len(train_images) / BATCH_SIZE)
    assert int(generator_optimizer.iterations) == EPOCHS * steps_per_epoch

    fakes = generator(seed, training=False)
    # the generator has learned where digits' ink is (bright middle, dark border)
    assert _correlation(np.mean(fakes, axis=0), real_mean) > 0.2
    # and that the border is background: rows no digit reaches, -0.94 on average in the data
    assert _border_mean(fakes) < -0.2

    checkpoint.restore(tf.train.latest_checkpoint(checkpoint_dir))
    assert tf.train.latest_checkpoint(checkpoint_dir) == checkpoint_prefix + "-3"
    assert int(generator_optimizer.iterations) == 45 * steps_per_epoch

    # Display a single image using the epoch number
    def display_image(epoch_no):
        return PIL.Image.open('image_at_epoch_{:04d}.png'.format(epoch_no))  # noqa: UP032

    final = np.asarray(display_image(EPOCHS))
    assert final.shape == (112, 112)
    np.testing.assert_array_equal(final[:28, 28:56],
                                  (np.asarray(fakes[1, :, :, 0]) * 127.5 + 127.5).astype('uint8'))
    # the restored generator is epoch 45's: it draws the grid saved then
    generate_and_save_images(generator, 145, seed)
    np.testing.assert_array_equal(np.asarray(display_image(145)), np.asarray(display_image(45)))
    assert not np.array_equal(np.asarray(display_image(45)), final)

    # The tutorial's animated GIF (imageio) is left out: it exercises imageio, not the model
