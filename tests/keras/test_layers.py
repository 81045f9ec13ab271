"""Layers against plain jax.numpy with the same weights; building, naming, config."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers

RNG = np.random.default_rng(0)


def test_dense_matches_jnp_and_builds_lazily():
    layer = layers.Dense(4, activation="relu")
    assert not layer.built and layer.weights == []
    x = RNG.normal(size=(3, 5)).astype(np.float32)
    out = layer(x)
    assert layer.built and [w.name for w in layer.weights] == [
        f"{layer.name}/kernel", f"{layer.name}/bias"]
    kernel, bias = layer.get_weights()
    assert kernel.shape == (5, 4) and bias.shape == (4,)
    np.testing.assert_allclose(out, np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-6)


def test_dense_without_bias_and_with_initializers():
    layer = layers.Dense(2, use_bias=False, kernel_initializer="ones")
    np.testing.assert_allclose(layer(np.ones((1, 3), np.float32)), [[3.0, 3.0]])
    assert len(layer.weights) == 1
    seeded = [layers.Dense(3, kernel_initializer=xf.keras.initializers.GlorotUniform(seed=1))
              for _ in range(2)]
    for s in seeded:
        s(np.ones((1, 4), np.float32))
    np.testing.assert_array_equal(seeded[0].get_weights()[0], seeded[1].get_weights()[0])


def test_glorot_uniform_range():
    layer = layers.Dense(300)
    layer(np.ones((1, 200), np.float32))
    limit = np.sqrt(6 / (200 + 300))
    kernel = layer.get_weights()[0]
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit


def test_flatten_reshape_activation():
    x = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(layers.Flatten()(x), x.reshape(2, 12))
    np.testing.assert_array_equal(layers.Reshape((4, 3))(x), x.reshape(2, 4, 3))
    np.testing.assert_allclose(layers.Activation("softmax")(x), jax.nn.softmax(x, -1),
                               rtol=1e-6)


def test_dropout_training_and_inference():
    layer = layers.Dropout(0.5, seed=3)
    x = np.ones((4, 1000), np.float32)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)
    out = np.asarray(layer(x, training=True))
    kept = out != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_allclose(out[kept], 2.0)
    again = np.asarray(layer(x, training=True))
    assert not np.array_equal(again, out)  # the key advanced
    replay = layers.Dropout(0.5, seed=3)
    np.testing.assert_array_equal(replay(x, training=True), out)  # same seed, same mask


def test_dropout_under_xf_function_draws_fresh_masks():
    layer = layers.Dropout(0.5, seed=0)
    step = xf.function(lambda x: layer(x, training=True))
    x = jnp.ones((1, 64))
    first, second = step(x), step(x)
    assert step.tracing_count == 1 and not np.array_equal(first, second)


def test_unique_names_and_config_round_trip():
    xf.keras.backend.clear_session()
    a, b = layers.Dense(2), layers.Dense(2)
    assert (a.name, b.name) == ("dense", "dense_1")
    config = layers.Dense(3, activation="tanh", use_bias=False, name="proj").get_config()
    clone = layers.Dense.from_config(config)
    assert clone.name == "proj" and clone.units == 3 and not clone.use_bias
    assert clone.get_config() == config


def test_unknown_arguments_and_bad_values_are_errors():
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['unit'\]"):
        layers.Dense(3, unit=4)
    with pytest.raises(ValueError, match="units must be a positive integer"):
        layers.Dense(0)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        layers.Dropout(1.5)
    with pytest.raises(ValueError, match="Unknown activation 'relux'"):
        layers.Dense(3, activation="relux")


def test_gradients_flow_finite_differences():
    layer = layers.Dense(2, activation="tanh")
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    layer(x)

    def loss():
        return jnp.sum(layer(x) ** 2)

    _, (g_kernel, g_bias) = xf.value_and_grad(loss, wrt=[layer.kernel, layer.bias])()
    kernel = layer.kernel.numpy().astype(np.float64)
    eps = 1e-3
    for index in [(0, 0), (2, 1)]:
        def value(k):
            h = np.tanh(x.astype(np.float64) @ k + layer.bias.numpy())
            return np.sum(h ** 2)
        up, down = kernel.copy(), kernel.copy()
        up[index] += eps
        down[index] -= eps
        numeric = (value(up) - value(down)) / (2 * eps)
        np.testing.assert_allclose(g_kernel[index], numeric, rtol=1e-2, atol=1e-3)
    assert np.all(np.isfinite(g_bias))


def test_trainable_flag_freezes_weights():
    layer = layers.Dense(2)
    layer(np.ones((1, 2), np.float32))
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
