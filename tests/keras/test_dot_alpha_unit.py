"""Dot (and `dot`), AlphaDropout and UnitNormalization as Keras 2.12.

Oracles: np.einsum for Dot (Keras' batch_dot: x's other axes, then y's; (batch, 1) for two
vectors); Keras 2's AlphaDropout formula (alpha_p = -1.7580993408473766, a and b closed
form) and mean/variance preservation on many standard-normal values; NumPy
x / max(||x||, 1e-6) for UnitNormalization.
"""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models
from xlaflow.layers import keras_mask

RNG = np.random.default_rng(8)


def _floats(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def _close(got, want, tol=1e-5):
    np.testing.assert_allclose(np.asarray(got), want, rtol=tol, atol=tol)


def _unit(x, axis):
    return x / np.maximum(np.sqrt((x.astype(np.float64) ** 2).sum(axis, keepdims=True)), 1e-6)


# -- Dot -------------------------------------------------------------------------------------
@pytest.mark.parametrize("axes, x_shape, y_shape, spec", [
    (1, (2, 4), (2, 4), "bi,bi->b"),
    (-1, (2, 3, 4), (2, 5, 4), "bti,bsi->bts"),
    ((1, 2), (2, 5, 3), (2, 3, 5), "bit,bsi->bts"),
    ([2, -2], (2, 3, 4), (2, 4, 6), "bti,bis->bts"),
    ((1, 1), (2, 4), (2, 4, 3), "bi,bis->bs"),
])
def test_dot_sums_over_the_given_axes_as_batch_dot(axes, x_shape, y_shape, spec):
    x, y = _floats(*x_shape), _floats(*y_shape)
    want = np.einsum(spec, x.astype(np.float64), y)
    if want.ndim == 1:
        want = want[:, None]  # batch_dot keeps a feature axis
    _close(layers.Dot(axes)([x, y]), want)
    _close(layers.dot([x, y], axes=axes), want)


def test_dot_normalize_gives_the_cosine_proximity():
    x, y = _floats(3, 5), _floats(3, 5)
    cos = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    _close(layers.Dot(axes=1, normalize=True)([x, y]), cos[:, None])
    x3, y3 = _floats(2, 4, 3), _floats(2, 4, 6)
    want = np.einsum("bit,bis->bts", _unit(x3, 1), _unit(y3, 1))
    _close(layers.dot([x3, y3], axes=1, normalize=True), want)


def test_dot_in_a_functional_model_drops_masks_and_round_trips_its_config():
    x_in, y_in = xf.keras.Input((4, 3)), xf.keras.Input((4, 3))
    masked = layers.Masking(0.0)(x_in)
    out = layers.Dot(axes=(2, 2))([masked, y_in])
    assert out.shape == (None, 4, 4) and out._keras_mask is None  # Keras 2: no mask
    model = models.Model([x_in, y_in], out)
    x, y = _floats(2, 4, 3), _floats(2, 4, 3)
    _close(model([x, y]), np.einsum("bti,bsi->bts", x, y))
    layer = layers.Dot(axes=(1, -1), normalize=True, name="d")
    assert layer.get_config()["axes"] == [1, -1]
    assert layers.Dot.from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.parametrize("axes, inputs, error, match", [
    (1, lambda: [_floats(2, 4), _floats(2, 5)], ValueError,
     r"size 4 at axis 1 != size 5 at axis 1; input shapes \(2, 4\), \(2, 5\)"),
    (0, lambda: [_floats(2, 4), _floats(2, 4)], ValueError, "batch axis 0"),
    (-3, lambda: [_floats(2, 4, 3), _floats(2, 4, 3)], ValueError, "batch axis 0"),
    (3, lambda: [_floats(2, 4, 3), _floats(2, 4, 3)], ValueError,
     r"axes=3 is out of range for input 0 of shape \(2, 4, 3\)"),
    (1, lambda: [_floats(2, 4)] * 3, ValueError, "list of 2 tensors"),
    (1, lambda: _floats(2, 4), ValueError, r"list of 2 tensors.*\(2, 4\)"),
    (1, lambda: [_floats(2, 4), _floats(3, 4)], ValueError, "batch sizes differ"),
    (1, lambda: [_floats(2), _floats(2)], ValueError, r"rank >= 2.*\(2,\)"),
])
def test_dot_refuses_bad_inputs_naming_the_shapes(axes, inputs, error, match):
    with pytest.raises(error, match=match):
        layers.Dot(axes)(inputs())


def test_dot_refuses_bad_axes_arguments():
    with pytest.raises(TypeError, match="axes must be an int or a list/tuple of two ints"):
        layers.Dot("1")
    with pytest.raises(ValueError, match=r"received \(1, 2, 3\)"):
        layers.Dot((1, 2, 3))
    with pytest.raises(ValueError, match=r"received \[1, 1.5\]"):
        layers.Dot([1, 1.5])


# -- AlphaDropout ----------------------------------------------------------------------------
ALPHA_P = -1.7580993408473766


def _affine(rate):
    a = ((1 - rate) * (1 + rate * ALPHA_P ** 2)) ** -0.5
    return a, -a * ALPHA_P * rate


def test_alpha_dropout_is_the_identity_outside_training():
    x = _floats(4, 6)
    layer = layers.AlphaDropout(0.4, seed=1)
    for out in (layer(x), layer(x, training=False), xf.function(layer)(x)):
        np.testing.assert_array_equal(np.asarray(out), x)


def test_alpha_dropout_maps_kept_values_affinely_and_sets_dropped_ones_to_a_alpha_p_plus_b():
    rate = 0.3
    a, b = _affine(rate)
    x = _floats(50, 40)
    out = np.asarray(layers.AlphaDropout(rate, seed=2)(x, training=True), np.float64)
    dropped = np.isclose(out, a * ALPHA_P + b, rtol=0, atol=1e-6)
    assert abs(dropped.mean() - rate) < 0.03
    _close(out[~dropped], a * x[~dropped] + b)


def test_alpha_dropout_keeps_zero_mean_and_unit_variance():
    x = RNG.normal(size=(1000, 1000)).astype(np.float32)  # SELU's fixed point: N(0, 1)
    for rate in (0.1, 0.5):
        out = np.asarray(layers.AlphaDropout(rate, seed=3)(x, training=True), np.float64)
        assert abs(out.mean()) < 0.01 and abs(out.var() - 1) < 0.01, (rate, out.mean(),
                                                                      out.var())
    # the formula's own claim, checked in closed form: E = 0, Var = 1 for x ~ N(0, 1)
    for rate in (0.05, 0.2, 0.7):
        a, b = _affine(rate)
        mean = a * (rate * ALPHA_P) + b
        var = a ** 2 * ((1 - rate) + rate * ALPHA_P ** 2 - (rate * ALPHA_P) ** 2)
        assert abs(mean) < 1e-12 and abs(var - 1) < 1e-12


def test_alpha_dropout_noise_shape_shares_the_draw_along_size_one_axes():
    x = _floats(4, 7, 3)
    a, b = _affine(0.5)
    out = np.asarray(layers.AlphaDropout(0.5, noise_shape=(None, 1, 3), seed=4)(
        x, training=True), np.float64)
    dropped = np.isclose(out, a * ALPHA_P + b, rtol=0, atol=1e-6)
    assert (dropped == dropped[:, :1, :]).all() and 0 < dropped.mean() < 1
    with pytest.raises(ValueError, match=r"noise_shape \(4, 2, 3\).*\(4, 7, 3\)"):
        layers.AlphaDropout(0.5, noise_shape=(4, 2, 3))(x, training=True)


def test_alpha_dropout_draws_fresh_noise_each_training_step_in_xf_function():
    layer = layers.AlphaDropout(0.5, seed=5)
    step = xf.function(lambda x: layer(x, training=True))
    x = _floats(8, 8)
    first, second = np.asarray(step(x)), np.asarray(step(x))
    assert not np.array_equal(first, second) and step.tracing_count == 1


def test_alpha_dropout_passes_the_mask_on_and_refuses_bad_rates():
    x = _floats(2, 5, 3)
    x[:, 3:] = 0
    inp = xf.keras.Input((5, 3))
    out = layers.AlphaDropout(0.2)(layers.Masking(0.0)(inp))
    assert out._keras_mask is not None
    eager = layers.AlphaDropout(0.2)(layers.Masking(0.0)(x), training=True)
    np.testing.assert_array_equal(keras_mask.get_mask(eager), [[1, 1, 1, 0, 0]] * 2)
    for rate in (1.0, -0.1, "0.5"):
        with pytest.raises(ValueError, match=r"rate must be a number in \[0, 1\)"):
            layers.AlphaDropout(rate)
    with pytest.raises(ValueError, match="noise_shape must be a list of positive ints"):
        layers.AlphaDropout(0.5, noise_shape=3)


# -- UnitNormalization ------------------------------------------------------------------------
@pytest.mark.parametrize("axis, np_axis", [(-1, -1), (1, 1), ([1, 2], (1, 2)), ((-2,), -2)])
def test_unit_normalization_divides_by_the_l2_norm(axis, np_axis):
    x = _floats(3, 4, 5)
    _close(layers.UnitNormalization(axis=axis)(x), _unit(x, np_axis))


def test_unit_normalization_of_a_zero_or_tiny_vector_uses_the_epsilon():
    x = np.array([[0.0, 0.0], [3e-7, 4e-7], [3.0, 4.0]], np.float32)
    out = np.asarray(layers.UnitNormalization()(x))
    assert np.isfinite(out).all()
    # ||x|| = 5e-7 < 1e-6: divided by 1e-6 (sqrt of TF's 1e-12 on the squared norm)
    _close(out, [[0, 0], [0.3, 0.4], [0.6, 0.8]], tol=1e-4)


def test_unit_normalization_resolves_its_axis_at_build_as_keras2():
    layer = layers.UnitNormalization(axis=(-1, 1))
    assert layer.get_config()["axis"] == [-1, 1]
    layer(_floats(2, 3, 4))
    assert layer.get_config()["axis"] == [2, 1]
    clone = layers.UnitNormalization.from_config(layer.get_config())
    x = _floats(2, 3, 4)
    np.testing.assert_array_equal(clone(x), layer(x))


def test_unit_normalization_refuses_bad_axes_and_passes_masks():
    with pytest.raises(ValueError, match=r"axis=3 is out of range for inputs of shape "
                                         r"\(2, 3, 4\)"):
        layers.UnitNormalization(axis=3)(_floats(2, 3, 4))
    with pytest.raises(TypeError, match="axis must be an int or a list/tuple of ints"):
        layers.UnitNormalization(axis="last")
    x = _floats(2, 5, 3)
    x[:, 4] = 0
    out = layers.UnitNormalization()(layers.Masking(0.0)(x))
    np.testing.assert_array_equal(keras_mask.get_mask(out), [[1, 1, 1, 1, 0]] * 2)


def test_unit_normalization_in_sequential_and_xf_function():
    x = _floats(4, 6)
    model = models.Sequential([layers.InputLayer((6,)), layers.UnitNormalization()])
    _close(model.predict(x, verbose=0), _unit(x, -1))
    _close(xf.function(layers.UnitNormalization())(x), _unit(x, -1))
