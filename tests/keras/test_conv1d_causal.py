"""Conv1D(padding="causal") as Keras 2.12: the time axis is padded on the left by
dilation_rate * (kernel_size - 1), then convolved "valid" (Conv._compute_causal_padding), so
the output has ceil(steps / strides) steps and step t sees inputs up to step t only; every
other convolution refuses it (Conv._validate_init). Oracle: a NumPy loop."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models


def causal_numpy(x, kernel, bias, strides, dilation):
    """out[b, i] = sum over taps k of x[b, i*strides - (K-1-k)*dilation] @ kernel[k] + bias,
    a tap before step 0 reading zeros."""
    width = kernel.shape[0]
    steps = -(-x.shape[1] // strides)
    out = np.zeros((x.shape[0], steps, kernel.shape[-1]), np.float64)
    for i in range(steps):
        for k in range(width):
            t = i * strides - (width - 1 - k) * dilation
            if t >= 0:
                out[:, i] += x[:, t].astype(np.float64) @ kernel[k]
    return out + bias


def random_conv(layer, channels, seed):
    layer.build((None, None, channels))
    rng = np.random.default_rng(seed)
    values = [rng.normal(size=w.shape).astype(np.float32) for w in layer.get_weights()]
    layer.set_weights(values)
    return values


@pytest.mark.parametrize("kernel_size, dilation, strides", [
    (3, 1, 1), (3, 2, 1), (2, 3, 2), (4, 2, 3), (1, 1, 2), (5, 1, 1)])
def test_causal_conv1d_matches_numpy_with_dilation_and_strides(kernel_size, dilation, strides):
    layer = layers.Conv1D(4, kernel_size, strides=strides, padding="causal",
                          dilation_rate=dilation)
    kernel, bias = random_conv(layer, 3, seed=kernel_size)
    x = np.random.default_rng(1).normal(size=(2, 7, 3)).astype(np.float32)
    out = np.asarray(layer(x))
    assert out.shape == (2, -(-7 // strides), 4)
    np.testing.assert_allclose(out, causal_numpy(x, kernel, bias, strides, dilation),
                               rtol=1e-5, atol=1e-5)


def test_a_later_step_never_changes_an_earlier_output():
    layer = layers.Conv1D(2, 3, padding="causal", dilation_rate=2, activation="tanh")
    random_conv(layer, 1, seed=3)
    x = np.random.default_rng(2).normal(size=(1, 9, 1)).astype(np.float32)
    changed = x.copy()
    changed[:, 5:] += 10.0
    before, after = np.asarray(layer(x)), np.asarray(layer(changed))
    np.testing.assert_array_equal(before[:, :5], after[:, :5])
    assert not np.allclose(before[:, 5:], after[:, 5:])


def test_output_shapes_config_round_trip_and_training():
    inputs = xf.keras.Input((None, 3))
    model = models.Model(inputs, layers.Conv1D(2, 3, strides=2, padding="causal",
                                               dilation_rate=2, name="c")(inputs))
    assert model.output_shape == (None, None, 2)
    fixed = models.Sequential([layers.Conv1D(2, 3, strides=2, padding="causal",
                                             input_shape=(9, 3))])
    assert fixed.output_shape == (None, 5, 2)
    layer = model.get_layer("c")
    config = layer.get_config()
    assert (config["padding"], config["dilation_rate"], config["strides"]) == (
        "causal", [2], [2])
    again = layers.Conv1D.from_config(config)
    again.build((None, None, 3))
    again.set_weights(layer.get_weights())
    x = np.random.default_rng(4).normal(size=(4, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(model(x)))
    model.compile(optimizer=xf.keras.optimizers.SGD(0.1), loss="mse")
    y = np.zeros((4, 4, 2), np.float32)
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(2, 3, padding="causal"),
    lambda: layers.Conv3D(2, 3, padding="Causal"),
    lambda: layers.Conv1DTranspose(2, 3, padding="causal"),
    lambda: layers.Conv2DTranspose(2, 3, padding="causal"),
    lambda: layers.DepthwiseConv2D(3, padding="causal"),
    lambda: layers.SeparableConv2D(2, 3, padding="causal"),
])
def test_other_convolutions_refuse_causal_padding_as_keras2(make):
    with pytest.raises(ValueError, match=r"Causal padding is only supported for `Conv1D`"):
        make()
