"""Convolution, pooling, normalization, embedding and merging layers against NumPy loops."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models

RNG = np.random.default_rng(2)


def conv2d_numpy(x, k, stride, padding):
    """Direct cross-correlation, the oracle for Conv2D (NHWC, HWIO)."""
    kh, kw = k.shape[:2]
    if padding == "same":
        out_h, out_w = -(-x.shape[1] // stride), -(-x.shape[2] // stride)
        pad_h = max((out_h - 1) * stride + kh - x.shape[1], 0)
        pad_w = max((out_w - 1) * stride + kw - x.shape[2], 0)
        x = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2),
                       (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    out_h = (x.shape[1] - kh) // stride + 1
    out_w = (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, k.shape[3]))
    for i in range(out_h):
        for j in range(out_w):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.einsum("bhwc,hwcf->bf", patch, k)
    return out


@pytest.mark.parametrize("stride, padding", [(1, "valid"), (2, "same"), (1, "same")])
def test_conv2d(stride, padding):
    x = RNG.normal(size=(2, 7, 6, 3)).astype(np.float32)
    layer = layers.Conv2D(4, (3, 2), strides=stride, padding=padding)
    out = layer(x)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(out, conv2d_numpy(x, kernel, stride, padding) + bias,
                               rtol=1e-4, atol=1e-5)


def test_conv1d():
    x = RNG.normal(size=(2, 9, 3)).astype(np.float32)
    layer = layers.Conv1D(5, 3, activation="relu")
    out = layer(x)
    kernel, bias = layer.get_weights()
    expect = conv2d_numpy(x[:, :, None, :], kernel[:, None], 1, "valid")[:, :, 0, :] + bias
    np.testing.assert_allclose(out, np.maximum(expect, 0), rtol=1e-4, atol=1e-5)


def test_pooling():
    x = RNG.normal(size=(2, 6, 4, 3)).astype(np.float32)
    blocks = x.reshape(2, 3, 2, 2, 2, 3)
    np.testing.assert_allclose(layers.MaxPooling2D()(x), blocks.max(axis=(2, 4)))
    np.testing.assert_allclose(layers.AveragePooling2D()(x), blocks.mean(axis=(2, 4)),
                               rtol=1e-6)
    np.testing.assert_allclose(layers.GlobalAveragePooling2D()(x), x.mean(axis=(1, 2)),
                               rtol=1e-6)
    odd = RNG.normal(size=(1, 3, 3, 1)).astype(np.float32)
    same = np.asarray(layers.AveragePooling2D(padding="same")(odd))
    np.testing.assert_allclose(same[0, 1, 1, 0], odd[0, 2, 2, 0], rtol=1e-6)  # a 1x1 window


def test_batch_normalization_training_and_inference():
    x = RNG.normal(3.0, 2.0, size=(32, 4)).astype(np.float32)
    layer = layers.BatchNormalization(momentum=0.9)
    out = np.asarray(layer(x, training=True))
    np.testing.assert_allclose(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 + 0.1 * x.var(0), rtol=1e-5)
    inference = np.asarray(layer(x, training=False))
    np.testing.assert_allclose(inference, (x - layer.moving_mean.numpy()) / np.sqrt(
        layer.moving_variance.numpy() + 1e-3), rtol=1e-5)
    assert [w.name.split("/")[1] for w in layer.non_trainable_weights] == [
        "moving_mean", "moving_variance"]


@pytest.mark.usefixtures("host_batches")
def test_batch_normalization_statistics_update_inside_fit():
    model = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.BatchNormalization(),
                               layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    bn = model.layers[1]
    model.fit(RNG.normal(size=(64, 3)), RNG.normal(size=(64, 1)), epochs=1, batch_size=16,
              verbose=0)
    assert not np.allclose(bn.moving_mean.numpy(), 0.0)
    assert model.trainer._compiled_train_step.tracing_count == 1


def test_layer_normalization():
    x = RNG.normal(size=(3, 5, 4)).astype(np.float32)
    out = layers.LayerNormalization()(x)
    expect = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(out, expect, rtol=1e-4, atol=1e-5)
    both = layers.LayerNormalization(axis=[1, 2])(x)
    expect = (x - x.mean((1, 2), keepdims=True)) / np.sqrt(x.var((1, 2), keepdims=True) + 1e-3)
    np.testing.assert_allclose(both, expect, rtol=1e-4, atol=1e-5)


def test_embedding_add_concatenate():
    layer = layers.Embedding(10, 3)
    ids = np.array([[1, 4], [9, 0]])
    table = None
    out = layer(ids)
    table = layer.get_weights()[0]
    np.testing.assert_array_equal(out, table[ids])
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 2))
    np.testing.assert_allclose(layers.Add()([a, a, a]), 3 * a, rtol=1e-6)
    np.testing.assert_allclose(layers.Concatenate()([a, b]), np.concatenate([a, b], -1))
    with pytest.raises(ValueError, match="expects a list of at least 2 inputs"):
        layers.Add()(a)


def test_layer_argument_errors():
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="Conv2D: data_format must be 'channels_last' or "
                                         "'channels_first'; received 'NCHW'"):
        layers.Conv2D(2, 3, data_format="NCHW")
    with pytest.raises(ValueError, match=r"expects inputs of rank 4 .* received shape \(2, 5\)"):
        layers.Conv2D(2, 3)(jnp.ones((2, 5)))


def test_small_cnn_trains():
    xf.keras.utils.set_random_seed(0)
    x = RNG.normal(size=(64, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4].mean((1, 2, 3)) > x[:, 4:].mean((1, 2, 3))).astype(np.int32)
    model = models.Sequential([layers.Conv2D(8, 3, activation="relu", input_shape=(8, 8, 1)),
                               layers.MaxPooling2D(), layers.Flatten(),
                               layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
