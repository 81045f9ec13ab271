"""Conv1D/2D/3D with `groups`: the channels split into groups convolved separately (Keras'
grouped convolution), against NumPy and against separate convolutions per group."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers

RNG = np.random.default_rng(21)


def test_grouped_conv1d_against_numpy():
    x = RNG.normal(size=(2, 7, 6)).astype(np.float32)  # 6 channels, 3 groups of 2
    conv = layers.Conv1D(9, 3, groups=3)
    out = np.asarray(conv(x))
    kernel, bias = conv.get_weights()
    assert kernel.shape == (3, 2, 9)  # (width, in / groups, filters)
    want = np.zeros((2, 5, 9), np.float32)
    for t in range(5):
        for f in range(9):
            g = f // 3  # 9 filters, 3 per group: filter f sees its group's channels
            patch = x[:, t:t + 3, 2 * g:2 * g + 2]
            want[:, t, f] = np.einsum("btc,tc->b", patch, kernel[:, :, f]) + bias[f]
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_grouped_conv2d_is_separate_convolutions_concatenated(data_format):
    x = RNG.normal(size=(2, 8, 7, 4)).astype(np.float32)
    if data_format == "channels_first":
        x = np.moveaxis(x, -1, 1)
    axis = 1 if data_format == "channels_first" else -1
    grouped = layers.Conv2D(6, 3, groups=2, padding="same", strides=2,
                            data_format=data_format)
    out = np.asarray(grouped(x))
    kernel, bias = grouped.get_weights()
    parts = []
    for g in range(2):
        single = layers.Conv2D(3, 3, padding="same", strides=2, data_format=data_format)
        part = np.take(x, range(2 * g, 2 * g + 2), axis=axis)
        single.build(part.shape)
        single.set_weights([kernel[..., 3 * g:3 * g + 3], bias[3 * g:3 * g + 3]])
        parts.append(np.asarray(single(part)))
    np.testing.assert_allclose(out, np.concatenate(parts, axis=axis), rtol=1e-5, atol=1e-5)


def test_grouped_conv3d_trains_and_round_trips_its_config(tmp_path):
    xf.keras.utils.set_random_seed(0)
    model = xf.keras.Sequential([xf.keras.Input((4, 4, 4, 4)),
                                 layers.Conv3D(4, 2, groups=4, activation="relu"),
                                 layers.Flatten(), layers.Dense(1)])
    model.compile("adam", "mse")
    x = RNG.normal(size=(16, 4, 4, 4, 4)).astype(np.float32)
    y = x.mean(axis=(1, 2, 3, 4))[:, None]
    model.fit(x, y, epochs=2, verbose=0)
    assert model.layers[0].get_config()["groups"] == 4
    model.save(tmp_path / "g.keras")
    loaded = xf.keras.models.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_groups_that_do_not_divide_are_refused_before_any_state():
    with pytest.raises(ValueError, match="Conv2D: the number of filters must be evenly "
                                         "divisible by the number of groups; received "
                                         "groups=4, filters=6"):
        layers.Conv2D(6, 3, groups=4)
    conv = layers.Conv2D(6, 3, groups=3)
    with pytest.raises(ValueError, match=r"input channels must be evenly divisible by the "
                                         r"number of groups; received groups=3, but the "
                                         r"input has 4 channels"):
        conv(np.ones((1, 5, 5, 4), np.float32))
    assert not conv.built and not conv.weights
    with pytest.raises(NotImplementedError, match="Conv2DTranspose: groups=2 is not "
                                                  "supported"):
        layers.Conv2DTranspose(4, 3, groups=2)
    with pytest.raises(ValueError, match="groups must be a positive integer; received 0"):
        layers.Conv1D(4, 3, groups=0)
