"""Activation, noise, Rescaling and merging layers added for Keras 2 parity, against NumPy
oracles written here; the noise layers' training and inference behaviour."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import initializers, layers, models

RNG = np.random.default_rng(6)
POINTS = np.array([-3.0, -1.0, 0.0, 0.5, 1.5, 2.0, 7.0], np.float32)


def _floats(*shape):
    return RNG.normal(size=shape).astype(np.float32)


# -- activation layers ------------------------------------------------------------------------
def relu_numpy(x, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras 2's relu: x above the threshold (clipped at max_value), else the slope times the
    distance below it."""
    above = x if max_value is None else np.minimum(x, max_value)
    return np.where(x > threshold, above, negative_slope * (x - threshold))


def test_relu_keras_documented_values():
    x = np.array([-3.0, -1.0, 0.0, 2.0], np.float32)
    np.testing.assert_array_equal(layers.ReLU()(x), [0, 0, 0, 2])
    np.testing.assert_array_equal(layers.ReLU(max_value=1.0)(x), [0, 0, 0, 1])
    np.testing.assert_array_equal(layers.ReLU(negative_slope=1.0)(x), [-3, -1, 0, 2])
    np.testing.assert_array_equal(layers.ReLU(threshold=1.5)(x), [0, 0, 0, 2])


@pytest.mark.parametrize("arguments", [{"max_value": 6.0}, {"negative_slope": 0.2},
                                       {"max_value": 1.0, "negative_slope": 0.1, "threshold": 0.5},
                                       {"threshold": 1.0, "negative_slope": 0.5}])
def test_relu_matches_the_oracle(arguments):
    np.testing.assert_allclose(layers.ReLU(**arguments)(POINTS), relu_numpy(POINTS, **arguments),
                               rtol=1e-6)


def test_leaky_relu_and_elu():
    np.testing.assert_allclose(layers.LeakyReLU()(np.array([-3.0, -1.0, 0.0, 2.0], np.float32)),
                               [-0.9, -0.3, 0.0, 2.0], rtol=1e-6)  # Keras' alpha=0.3
    np.testing.assert_allclose(layers.LeakyReLU(alpha=0.1)(POINTS),
                               np.where(POINTS > 0, POINTS, 0.1 * POINTS), rtol=1e-6)
    np.testing.assert_allclose(layers.ELU()(POINTS),
                               np.where(POINTS > 0, POINTS, np.expm1(POINTS)), rtol=1e-6)
    np.testing.assert_allclose(layers.ELU(alpha=0.5)(POINTS),
                               np.where(POINTS > 0, POINTS, 0.5 * np.expm1(POINTS)), rtol=1e-6)


def test_prelu_weight_shapes_and_values():
    x = _floats(2, 4, 3, 5)
    layer = layers.PReLU()
    np.testing.assert_array_equal(layer(x), np.maximum(x, 0))  # alpha starts at zeros
    assert [w.shape for w in layer.weights] == [(4, 3, 5)]
    shared = layers.PReLU(initializers.RandomUniform(0.1, 0.9, seed=1), shared_axes=[1, 2])
    out = shared(x)
    (alpha,) = shared.get_weights()
    assert alpha.shape == (1, 1, 5) and shared.weights[0].name.endswith("/alpha")
    np.testing.assert_allclose(out, np.where(x > 0, x, alpha * x), rtol=1e-6)
    assert layers.PReLU(shared_axes=2).get_config()["shared_axes"] == [2]


def test_prelu_learns_its_slope_in_fit():
    x = _floats(64, 3)
    y = np.where(x > 0, x, 0.25 * x)
    model = models.Sequential([layers.PReLU(input_shape=(3,))])
    model.compile(optimizer=xf.keras.optimizers.SGD(0.5), loss="mse")
    model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    np.testing.assert_allclose(model.get_weights()[0], 0.25, atol=0.02)


def softmax_numpy(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_softmax():
    x = _floats(2, 3, 4)
    np.testing.assert_allclose(layers.Softmax()(x), softmax_numpy(x, -1), rtol=1e-5)
    np.testing.assert_allclose(layers.Softmax(axis=1)(x), softmax_numpy(x, 1), rtol=1e-5)
    np.testing.assert_allclose(layers.Softmax(axis=[1, 2])(x), softmax_numpy(x, (1, 2)),
                               rtol=1e-5)
    mask = np.array([[1, 1, 0, 0]] * 3 + [[1, 0, 1, 1]] * 3, bool).reshape(2, 3, 4)
    out = np.asarray(layers.Softmax()(x, mask=mask))
    kept = np.where(mask, np.exp(x - x.max(-1, keepdims=True)), 0.0)
    np.testing.assert_allclose(out, kept / kept.sum(-1, keepdims=True), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("make, message", [
    (lambda: layers.ReLU(max_value=-1.0),
     r"ReLU: max_value must be a number >= 0 or None; received -1.0"),
    (lambda: layers.ReLU(negative_slope=-0.1),
     r"ReLU: negative_slope must be a number >= 0; received -0.1"),
    (lambda: layers.ReLU(threshold="1"), r"ReLU: threshold must be a number >= 0; received '1'"),
    (lambda: layers.LeakyReLU(alpha=None), r"LeakyReLU: alpha must be a number; received None"),
    (lambda: layers.ELU(alpha=None), r"ELU: alpha must be a number; received None"),
    (lambda: layers.PReLU(shared_axes=[0]),
     r"PReLU: shared_axes must be None, an int or a list of ints >= 1 .*received \[0\]"),
    (lambda: layers.Softmax(axis="last"),
     r"Softmax: axis must be an int or a list of ints; received 'last'"),
    (lambda: layers.GaussianNoise(-0.5),
     r"GaussianNoise: stddev must be a number >= 0; received -0.5"),
    (lambda: layers.GaussianDropout(1.0),
     r"GaussianDropout: rate must be a number in \[0, 1\); received 1.0"),
    (lambda: layers.SpatialDropout1D(1.2),
     r"SpatialDropout1D: rate must be a number in \[0, 1\); received 1.2"),
    (lambda: layers.SpatialDropout2D(0.5, noise_shape=(None, 1, 1, 3)),
     r"SpatialDropout2D: noise_shape is fixed to \(batch, 1, 1, channels\)"),
    (lambda: layers.Rescaling("1/255"),
     r"Rescaling: scale must be a number or a 1-D list of numbers .*received '1/255'"),
    (lambda: layers.Rescaling(1.0, offset=[[1.0]]),
     r"Rescaling: offset must be .*received \[\[1.0\]\]"),
])
def test_bad_arguments_name_the_argument_and_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_prelu_shared_axis_beyond_the_input_is_named():
    with pytest.raises(ValueError, match=r"shared_axes \[3\] names axis 3, but inputs of shape "
                                         r"\(2, 4, 3\) have 2 axes after the batch"):
        layers.PReLU(shared_axes=3)(_floats(2, 4, 3))


# -- noise ------------------------------------------------------------------------------------
NOISE = [lambda: layers.GaussianNoise(0.5, seed=1), lambda: layers.GaussianDropout(0.3, seed=2),
         lambda: layers.SpatialDropout1D(0.4, seed=3)]


@pytest.mark.parametrize("make", NOISE)
def test_noise_is_identity_in_inference_and_reproducible_in_training(make):
    layer, x = make(), _floats(4, 10, 6)
    for kwargs in ({}, {"training": False}, {"training": None}):
        np.testing.assert_array_equal(layer(x, **kwargs), x)
    first = np.asarray(layer(x, training=True))
    assert not np.array_equal(first, x)
    assert not np.array_equal(layer(x, training=True), first)  # the key advanced
    np.testing.assert_array_equal(make()(x, training=True), first)  # same seed, same draw
    np.testing.assert_array_equal(layer(x), x)


@pytest.mark.parametrize("make", NOISE)
def test_noise_under_xf_function_draws_fresh_noise_without_retracing(make):
    layer = make()
    step = xf.function(lambda x: layer(x, training=True))
    x = jnp.ones((2, 8, 4))
    first, second = step(x), step(x)
    assert step.tracing_count == 1 and not np.array_equal(first, second)


def test_gaussian_noise_statistics():
    x = np.full((200, 500), 3.0, np.float32)
    noise = np.asarray(layers.GaussianNoise(0.5, seed=0)(x, training=True)) - 3.0
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.5) < 0.01


def test_gaussian_dropout_statistics():
    x = np.full((200, 500), 2.0, np.float32)
    factor = np.asarray(layers.GaussianDropout(0.2, seed=0)(x, training=True)) / 2.0
    assert abs(factor.mean() - 1.0) < 0.01
    assert abs(factor.std() - np.sqrt(0.2 / 0.8)) < 0.01


@pytest.mark.parametrize("layer, shape", [(layers.SpatialDropout1D(0.3, seed=4), (50, 7, 40)),
                                          (layers.SpatialDropout2D(0.3, seed=5),
                                           (50, 3, 4, 40))])
def test_spatial_dropout_drops_whole_channels(layer, shape):
    out = np.asarray(layer(np.ones(shape, np.float32), training=True))
    channels = out.reshape(shape[0], -1, shape[-1])
    np.testing.assert_array_equal(channels, channels[:, :1].repeat(channels.shape[1], 1))
    kept = channels[:, 0] != 0
    np.testing.assert_allclose(channels[:, 0][kept], 1 / 0.7, rtol=1e-6)
    assert 0.65 < kept.mean() < 0.75


def test_spatial_dropout_of_the_wrong_rank_is_named():
    with pytest.raises(ValueError, match=r"expects inputs of rank 4 .*received shape \(2, 3\)"):
        layers.SpatialDropout2D(0.5)(np.ones((2, 3), np.float32))


def test_noise_is_active_in_fit_and_not_in_predict():
    x = _floats(32, 4)
    model = models.Sequential([layers.GaussianNoise(1.0, seed=0, input_shape=(4,)),
                               layers.GaussianDropout(0.5, seed=1)])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    model.compile(optimizer="sgd", loss="mse")
    loss = model.evaluate(x, x, verbose=0)
    assert loss == 0.0
    history = model.fit(x, x, epochs=1, batch_size=32, verbose=0)
    assert history.history["loss"][0] > 0.5  # the training pass was noisy


# -- Rescaling --------------------------------------------------------------------------------
def test_rescaling():
    image = RNG.integers(0, 256, (2, 3, 3, 3)).astype(np.uint8)
    out = layers.Rescaling(1 / 255)(image)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, image / 255, rtol=1e-6)
    np.testing.assert_allclose(layers.Rescaling(1 / 127.5, offset=-1)(image),
                               image / 127.5 - 1, rtol=1e-5, atol=1e-6)
    per_channel = layers.Rescaling([1.0, 0.5, 2.0], offset=[0.0, 1.0, -1.0])(image)
    np.testing.assert_allclose(per_channel, image * [1.0, 0.5, 2.0] + [0.0, 1.0, -1.0],
                               rtol=1e-6)
    assert layers.Rescaling(np.float32(0.5)).get_config()["scale"] == 0.5


# -- merging ----------------------------------------------------------------------------------
def test_merging_layers_match_numpy():
    a, b, c = _floats(2, 3), _floats(2, 3), _floats(2, 3)
    np.testing.assert_allclose(layers.Subtract()([a, b]), a - b, rtol=1e-6)
    np.testing.assert_allclose(layers.Multiply()([a, b, c]), a * b * c, rtol=1e-6)
    np.testing.assert_allclose(layers.Average()([a, b, c]), (a + b + c) / 3, rtol=1e-6)
    np.testing.assert_array_equal(layers.Maximum()([a, b, c]), np.maximum(np.maximum(a, b), c))
    np.testing.assert_array_equal(layers.Minimum()([a, b, c]), np.minimum(np.minimum(a, b), c))


def test_merging_inputs_of_lower_rank_gain_axes_after_the_batch():
    # as Keras 2: (batch, 3) meets (batch, 4, 3) as (batch, 1, 3)
    small, big = _floats(2, 3), _floats(2, 4, 3)
    np.testing.assert_allclose(layers.Add()([small, big]), small[:, None] + big, rtol=1e-6)
    np.testing.assert_allclose(layers.Multiply()([big, small]), big * small[:, None], rtol=1e-6)
    column = _floats(2, 1)  # a size-1 axis broadcasts
    np.testing.assert_allclose(layers.Subtract()([small, column]), small - column, rtol=1e-6)


def test_merging_errors():
    a = _floats(2, 3)
    with pytest.raises(ValueError, match=r"Subtract takes exactly 2 inputs; received 3"):
        layers.Subtract()([a, a, a])
    with pytest.raises(ValueError, match=r"inputs have incompatible shapes \[\(2, 3\), "
                                         r"\(2, 4\)\] \(axis 1\)"):
        layers.Maximum()([a, _floats(2, 4)])
    with pytest.raises(ValueError, match="expects a list of at least 2 inputs"):
        layers.Average()(a)


def test_functional_merge_helpers_build_models():
    left, right = xf.keras.Input((3,)), xf.keras.Input((3,))
    outputs = [layers.add([left, right]), layers.subtract([left, right]),
               layers.multiply([left, right]), layers.average([left, right]),
               layers.maximum([left, right]), layers.minimum([left, right]),
               layers.concatenate([left, right]), layers.concatenate([left, left, right], axis=1)]
    model = models.Model([left, right], outputs)
    a, b = _floats(2, 3), _floats(2, 3)
    expect = [a + b, a - b, a * b, (a + b) / 2, np.maximum(a, b), np.minimum(a, b),
              np.concatenate([a, b], -1), np.concatenate([a, a, b], 1)]
    for out, want in zip(model([a, b]), expect, strict=True):
        np.testing.assert_allclose(out, want, rtol=1e-6)
    np.testing.assert_allclose(layers.add([a, b]), a + b, rtol=1e-6)  # eager tensors too


def test_hard_sigmoid_is_keras_2s_and_an_lstm_takes_it_by_name():
    # Keras 2.x: clip(0.2 * x + 0.5, 0, 1), the recurrent_activation of older LSTM configs
    np.testing.assert_allclose(xf.keras.activations.hard_sigmoid(POINTS),
                               np.clip(0.2 * POINTS + 0.5, 0, 1), rtol=1e-6)
    lstm = layers.LSTM(2, recurrent_activation="hard_sigmoid")
    assert lstm.get_config()["recurrent_activation"] == "hard_sigmoid"
    assert lstm(RNG.normal(size=(1, 3, 2)).astype(np.float32)).shape == (1, 2)
