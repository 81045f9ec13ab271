"""The nineteenth round, part b (see test_tf2_ports_nineteenth.py): the Keras 2 (TF 2.12)
guide "Transfer learning & fine-tuning" without its download: the trainable-attribute
section as written, then the typical workflow and the end-to-end example (augmentation,
rescaling, a frozen base called with training=False, a low-rate fine-tune) and the custom
loop, with a small convolutional base built here in place of Xception.

Oracles: the guide's printed weight counts; weights compared before and after training; the
fine-tuned model's inference output as a NumPy forward pass (convolution, BatchNormalization
from its moving statistics, pooling); Adam's first step (lr * sign(g)) from a NumPy gradient.
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


def _counts(layer):
    return len(layer.weights), len(layer.trainable_weights), len(layer.non_trainable_weights)


def test_transfer_guide_trainable_attribute_section(capsys):
    layer = keras.layers.Dense(3)
    layer.build((None, 4))  # Create the weights
    assert _counts(layer) == (2, 2, 0)  # the guide prints weights: 2, trainable: 2, ...: 0

    layer = keras.layers.BatchNormalization()
    layer.build((None, 4))  # Create the weights
    assert _counts(layer) == (4, 2, 2)

    layer = keras.layers.Dense(3)
    layer.build((None, 4))  # Create the weights
    layer.trainable = False  # Freeze the layer
    assert _counts(layer) == (2, 0, 2)

    # Make a model with 2 layers
    layer1 = keras.layers.Dense(3, activation="relu")
    layer2 = keras.layers.Dense(3, activation="sigmoid")
    model = keras.Sequential([keras.Input(shape=(3,)), layer1, layer2])

    # Freeze the first layer
    layer1.trainable = False

    # Keep a copy of the weights of layer1 for later reference
    initial_layer1_weights_values = layer1.get_weights()
    initial_layer2_weights_values = layer2.get_weights()  # not in the guide: it trains

    # Train the model
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.random.random((2, 3)), np.random.random((2, 3)))

    # Check that the weights of layer1 have not changed during training
    final_layer1_weights_values = layer1.get_weights()
    np.testing.assert_allclose(
        initial_layer1_weights_values[0], final_layer1_weights_values[0]
    )
    np.testing.assert_allclose(
        initial_layer1_weights_values[1], final_layer1_weights_values[1]
    )
    # Adam's first step moves a trainable weight by lr = 1e-3 or, with no gradient (a relu
    # that is off for both samples), not at all; the biases all have a gradient
    kernel_before, bias_before = initial_layer2_weights_values
    kernel_after, bias_after = layer2.get_weights()
    np.testing.assert_allclose(np.abs(bias_after - bias_before), 1e-3, rtol=1e-2)
    assert np.max(np.abs(kernel_after - kernel_before)) <= 1.01e-3
    assert "1/1" in capsys.readouterr().out  # fit's default verbose=1 progress bar

    inner_model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(3, activation="relu"),
            keras.layers.Dense(3, activation="relu"),
        ]
    )

    model = keras.Sequential(
        [keras.Input(shape=(3,)), inner_model, keras.layers.Dense(3, activation="sigmoid")]
    )

    model.trainable = False  # Freeze the outer model

    assert inner_model.trainable == False  # All layers in `model` are now frozen
    assert inner_model.layers[0].trainable == False  # `trainable` is propagated recursively
    assert _counts(model) == (6, 0, 6)


def test_transfer_guide_frozen_batch_normalization_runs_in_inference_mode():
    # "Important notes about BatchNormalization": trainable=False means inference mode,
    # even when called with training=True (Keras 2's special case for this layer)
    bn = keras.layers.BatchNormalization()
    x = np.random.default_rng(1).normal(2.0, 3.0, size=(16, 4)).astype("float32")
    bn.build((None, 4))
    bn.moving_mean.assign([1.0, -1.0, 0.5, 0.0])
    bn.moving_variance.assign([4.0, 1.0, 0.25, 2.0])
    bn.trainable = False
    expected = (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-3)
    np.testing.assert_allclose(bn(x, training=True), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.moving_mean.numpy(), [1.0, -1.0, 0.5, 0.0])
    bn.trainable = True  # a trainable one normalizes by the batch's own statistics
    batch = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3)
    np.testing.assert_allclose(bn(x, training=True), batch, rtol=1e-4, atol=1e-4)


def _images(n, seed):
    """Two classes of 12x12 RGB images in [0, 255]: class 1 has a bright vertical bar."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    images = rng.uniform(0, 160, size=(n, 12, 12, 3)).astype("float32")
    images[labels == 1, :, 5:7, :] += 90.0
    return images, labels.astype("float32")


def _pretrained_base():
    """Stands in for keras.applications.Xception(weights="imagenet", include_top=False):
    conv + BatchNormalization + relu, its weights and moving statistics set to non-default
    values as a pre-training would leave them (fitting here would only cost time)."""
    base_model = keras.Sequential([
        keras.Input((12, 12, 3)),
        layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv"),
        layers.BatchNormalization(name="bn"),
        layers.Activation("relu"),
    ], name="base")
    rng = np.random.default_rng(2)
    kernel = rng.normal(0, 0.3, size=(3, 3, 3, 4))
    gamma, beta = rng.uniform(0.5, 1.5, size=4), rng.normal(0, 0.2, size=4)
    moving_mean, moving_var = rng.normal(0, 0.3, size=4), rng.uniform(0.5, 2.0, size=4)
    base_model.set_weights([w.astype("float32") for w in (kernel, gamma, beta, moving_mean,
                                                            moving_var)])
    return base_model


def _pooled_np(images, base_model):
    """Rescaling, 3x3 'same' convolution, BatchNormalization from its moving statistics,
    relu and global average pooling, in float64 NumPy."""
    x = images.astype(np.float64) / 127.5 - 1.0
    kernel = base_model.get_layer("conv").kernel.numpy().astype(np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))), (3, 3), axis=(1, 2))
    h = np.einsum("nhwcij,ijco->nhwo", windows, kernel)
    gamma, beta, mean, var = (w.astype(np.float64)
                              for w in base_model.get_layer("bn").get_weights())
    h = np.maximum(gamma * (h - mean) / np.sqrt(var + 1e-3) + beta, 0.0)
    return h.mean(axis=(1, 2))


def _forward_np(images, base_model, dense):
    """_pooled_np, then the Dense head."""
    kernel, bias = dense.get_weights()
    return _pooled_np(images, base_model) @ kernel + bias


def test_transfer_guide_end_to_end_freeze_then_fine_tune():
    train_x, train_y = _images(96, seed=3)
    val_x, val_y = _images(32, seed=4)
    train_ds = tf.data.Dataset.from_tensor_slices((train_x, train_y)).batch(32)
    validation_ds = tf.data.Dataset.from_tensor_slices((val_x, val_y)).batch(32)

    data_augmentation = keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)]
    )
    # inference: augmentation is the identity; training: RandomFlip("horizontal") mirrors
    # each image's width axis or leaves it (the documented behaviour)
    np.testing.assert_array_equal(data_augmentation(train_x[:4], training=False), train_x[:4])
    flipped = np.asarray(layers.RandomFlip("horizontal")(train_x[:16], training=True))
    for image, out in zip(train_x[:16], flipped):
        assert np.array_equal(out, image) or np.array_equal(out, image[:, ::-1])

    base_model = _pretrained_base()
    base_model.trainable = False
    pretrained = base_model.get_weights()

    # Create new model on top
    inputs = keras.Input(shape=(12, 12, 3))
    x = data_augmentation(inputs)  # Apply random data augmentation

    # Pre-trained Xception weights requires that input be scaled
    # from (0, 255) to a range of (-1., +1.), the rescaling layer
    # outputs: `(inputs * scale) + offset`
    scale_layer = keras.layers.Rescaling(scale=1 / 127.5, offset=-1)
    x = scale_layer(x)

    # The base model contains batchnorm layers. We want to keep them in inference mode
    # when we unfreeze the base model for fine-tuning, so we make sure that the
    # base_model is running in inference mode here.
    x = base_model(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)  # Regularize with dropout
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    assert len(model.trainable_weights) == 2  # only the new head trains

    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy()],
    )

    epochs = 3
    model.fit(train_ds, epochs=epochs, validation_data=validation_ds, verbose=0)
    for before, after in zip(pretrained, base_model.get_weights()):
        np.testing.assert_array_equal(after, before)  # the frozen base did not move

    # Unfreeze the base_model. Note that it keeps running in inference mode
    # since we passed `training=False` when calling it. This means that
    # the batchnorm layers will not update their batch statistics.
    # This prevents the batchnorm layers from undoing all the training
    # we've done so far.
    base_model.trainable = True
    assert len(model.trainable_weights) == 2 + 3  # conv kernel, gamma, beta join

    model.compile(
        optimizer=keras.optimizers.Adam(1e-5),  # Low learning rate
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy()],
    )

    epochs = 2
    history = model.fit(train_ds, epochs=epochs, validation_data=validation_ds, verbose=0)
    assert sorted(history.history) == ["binary_accuracy", "loss", "val_binary_accuracy",
                                       "val_loss"]
    kernel, gamma, beta, moving_mean, moving_var = pretrained
    tuned = base_model.get_layer("bn")
    np.testing.assert_array_equal(tuned.moving_mean.numpy(), moving_mean)
    np.testing.assert_array_equal(tuned.moving_variance.numpy(), moving_var)
    # 6 Adam steps at 1e-5 move each trainable weight by at most ~6e-5, and do move it
    for before, after in ((kernel, base_model.get_layer("conv").kernel.numpy()),
                          (gamma, tuned.gamma.numpy()), (beta, tuned.beta.numpy())):
        assert 0 < np.max(np.abs(after - before)) <= 6.1e-5

    np.testing.assert_allclose(model.predict(val_x, verbose=0),
                               _forward_np(val_x, base_model, model.layers[-1]),
                               rtol=1e-4, atol=1e-4)


def test_transfer_guide_custom_training_loop_updates_only_the_head():
    base_model = _pretrained_base()
    # Freeze base model
    base_model.trainable = False
    pretrained = base_model.get_weights()

    # Create new model on top.
    inputs = keras.Input(shape=(12, 12, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)  # the guide feeds scaled data
    x = base_model(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)

    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam()

    images, labels = _images(32, seed=5)
    new_dataset = tf.data.Dataset.from_tensor_slices((images, labels[:, None])).batch(32)
    head = model.layers[-1]
    kernel0, bias0 = head.get_weights()

    # Iterate over the batches of a dataset.
    for inputs, targets in new_dataset:
        # Open a GradientTape.
        with tf.GradientTape() as tape:
            # Forward pass.
            predictions = model(inputs)
            # Compute the loss value for this batch.
            loss_value = loss_fn(targets, predictions)

        # Get gradients of loss wrt the *trainable* weights.
        gradients = tape.gradient(loss_value, model.trainable_weights)
        # Update the weights of the model.
        optimizer.apply_gradients(zip(gradients, model.trainable_weights))

    assert len(gradients) == 2
    for before, after in zip(pretrained, base_model.get_weights()):
        np.testing.assert_array_equal(after, before)
    # d(mean BCE with logits)/d(logit) = (sigmoid(z) - y) / n; the head is linear in features
    pooled = _pooled_np(images, base_model)
    z = pooled @ kernel0 + bias0
    dz = (1 / (1 + np.exp(-z)) - labels[:, None]) / len(labels)
    grad_kernel, grad_bias = pooled.T @ dz, dz.sum(0)
    # Adam's first step is lr * g / (|g| + eps'): lr * sign(g) where |g| is not tiny
    kernel1, bias1 = head.get_weights()
    for g, before, after in ((grad_kernel, kernel0, kernel1), (grad_bias, bias0, bias1)):
        big = np.abs(g) > 1e-4
        np.testing.assert_allclose((before - after)[big], 1e-3 * np.sign(g[big]), rtol=1e-2)
    assert float(loss_value) == pytest.approx(
        np.mean(np.logaddexp(0, z) - labels[:, None] * z), rel=1e-4)
