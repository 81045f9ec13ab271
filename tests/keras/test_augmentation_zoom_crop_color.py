"""RandomZoom, RandomTranslation, RandomContrast, RandomBrightness, RandomCrop and CenterCrop
against NumPy: fixed zooms are nearest-neighbour index maps, integer shifts are np.roll/np.pad,
the colour layers replay their draw from the same seed, crops are slices (Keras 2)."""

import jax
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow.random import SeedGenerator

layers = keras.layers


def _images(n=3, h=5, w=5, c=2, scale=1.0):
    return (np.random.default_rng(0).random((n, h, w, c)) * scale).astype(np.float32)


def _nearest_zoom(images, y_zoom, x_zoom, fill):
    """Output pixel (y, x) reads input pixel round(zoom * (p - centre) + centre), or `fill`
    where that lies outside the image."""
    _, h, w, _ = images.shape
    ys = np.rint(y_zoom * (np.arange(h) - (h - 1) / 2) + (h - 1) / 2).astype(int)
    xs = np.rint(x_zoom * (np.arange(w) - (w - 1) / 2) + (w - 1) / 2).astype(int)
    out = np.full_like(images, fill)
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            if 0 <= y < h and 0 <= x < w:
                out[:, i, j] = images[:, y, x]
    return out


def _bilinear_resize(images, out_h, out_w):
    """tf.image.resize's bilinear rule: half-pixel centres, edges clamped."""
    def weights(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi, t = np.minimum(lo + 1, n_in - 1), src - np.floor(src)
        matrix = np.zeros((n_out, n_in))
        np.add.at(matrix, (np.arange(n_out), lo), 1 - t)
        np.add.at(matrix, (np.arange(n_out), hi), t)
        return matrix
    _, h, w, _ = images.shape
    return np.einsum("yh,nhwc,xw->nyxc", weights(h, out_h), images, weights(w, out_w))


def test_a_fixed_zoom_is_a_nearest_neighbour_index_map():
    images = _images(3, 6, 5)
    # height zoomed in 2x (0.5 of the source's span), width zoomed out 2x: centres 2.5 and 2
    # keep every source coordinate off the .5 rounding ties
    layer = layers.RandomZoom((-0.5, -0.5), (1.0, 1.0), fill_mode="constant",
                              interpolation="nearest", fill_value=-1.0)
    np.testing.assert_array_equal(layer(images, training=False), images)  # inference: the identity
    np.testing.assert_array_equal(layer(images, training=True),
                                  _nearest_zoom(images, 0.5, 2.0, -1.0))
    square = _images(2, 6, 6)
    both = layers.RandomZoom((-0.5, -0.5), interpolation="nearest")  # width follows height
    np.testing.assert_array_equal(both(square, training=True),
                                  _nearest_zoom(square, 0.5, 0.5, 0.0))


def test_random_zoom_draws_per_image_within_the_range():
    ramp = np.broadcast_to(np.arange(9, dtype=np.float32)[None, None, :, None], (64, 9, 9, 1))
    out = np.asarray(layers.RandomZoom(0.0, (-0.5, -0.2), seed=1)(ramp, training=True))
    # a linear ramp zoomed by z about its centre 4 is 4 + z * (x - 4): read z off column 8
    zooms = (out[:, 0, 8, 0] - 4) / 4
    assert np.all(zooms <= 0.8 + 1e-5) and np.all(zooms >= 0.5 - 1e-5)
    assert np.ptp(zooms) > 0.1  # differs between images
    np.testing.assert_allclose(out[:, :, 4], ramp[:, :, 4], atol=1e-5)  # the centre stays


@pytest.mark.parametrize("fill_mode, pad_mode", [
    ("reflect", "symmetric"), ("nearest", "edge"), ("wrap", "wrap"), ("constant", None)])
def test_an_integer_translation_is_a_numpy_shift_with_the_fill(fill_mode, pad_mode):
    images = _images(2)
    # 0.2 of 5 rows down, 0.4 of 5 columns left: a shift of (+1, -2) pixels
    layer = layers.RandomTranslation((0.2, 0.2), (-0.4, -0.4), fill_mode=fill_mode,
                                     fill_value=7.0)
    if pad_mode is None:
        padded = np.pad(images, ((0, 0), (1, 0), (0, 2), (0, 0)), constant_values=7.0)
    else:
        padded = np.pad(images, ((0, 0), (1, 0), (0, 2), (0, 0)), mode=pad_mode)
    expected = padded[:, :5, 2:]
    if fill_mode == "wrap":
        np.testing.assert_array_equal(expected, np.roll(images, (1, -2), axis=(1, 2)))
    np.testing.assert_allclose(layer(images, training=True), expected, atol=1e-5)
    np.testing.assert_array_equal(layer(images, training=False), images)


def test_random_translation_moves_each_image_its_own_way():
    images = np.repeat(_images(1), 16, axis=0)
    out = np.asarray(layers.RandomTranslation(0.3, 0.3, seed=4)(images, training=True))
    assert len({o.tobytes() for o in out}) == 16


def test_random_contrast_is_mean_preserving_scaling_by_the_seeded_factor():
    images = _images(4, scale=255.0)
    layer = layers.RandomContrast((0.3, 0.6), seed=7)
    out = np.asarray(layer(images, training=True))
    # replay Keras 2's draw from the same seed: one factor per call in [1 - 0.3, 1 + 0.6]
    factor = float(jax.random.uniform(SeedGenerator(7).next(), (), minval=0.7, maxval=1.6))
    mean = images.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, np.clip((images - mean) * factor + mean, 0, 255),
                               rtol=1e-5, atol=1e-3)
    inside = (out > 0) & (out < 255) & (np.abs(images - mean) > 1)
    np.testing.assert_allclose(((out - mean) / (images - mean))[inside], factor, rtol=1e-4)
    assert not np.allclose(layer(images, training=True), out)  # a new factor per call
    np.testing.assert_array_equal(layer(images, training=False), images)


def test_random_brightness_adds_a_seeded_shift_per_image_and_clips():
    images = _images(5, scale=255.0).round().astype(np.uint8)
    out = np.asarray(layers.RandomBrightness(0.2, seed=3)(images, training=True))
    delta = jax.random.uniform(SeedGenerator(3).next(), (5, 1, 1, 1), minval=-0.2,
                               maxval=0.2) * 255.0
    assert out.dtype == np.float32 and np.ptp(np.asarray(delta)) > 0
    np.testing.assert_allclose(out, np.clip(images + np.asarray(delta), 0, 255), rtol=1e-6)
    unit = _images(1, scale=1.0)[0]  # a single image, value_range (0, 1), factor (0.5, 0.5)
    brighter = layers.RandomBrightness((0.5, 0.5), value_range=(0, 1))(unit, training=True)
    np.testing.assert_allclose(brighter, np.minimum(unit + 0.5, 1.0), rtol=1e-6)


def test_center_crop_is_slicing_and_a_smaller_image_is_smart_resized():
    images = _images(2, 7, 6, 3)
    np.testing.assert_array_equal(layers.CenterCrop(3, 4)(images), images[:, 2:5, 1:5])
    np.testing.assert_array_equal(layers.CenterCrop(3, 4)(images[0]), images[0, 2:5, 1:5])
    as_uint8 = (images * 255).astype(np.uint8)
    cropped = np.asarray(layers.CenterCrop(3, 4)(as_uint8))
    assert cropped.dtype == np.float32
    np.testing.assert_array_equal(cropped, as_uint8[:, 2:5, 1:5])
    small = _images(2, 4, 6, 1)  # the centred 4x4, upsampled to 8x8
    np.testing.assert_allclose(layers.CenterCrop(8, 8)(small),
                               _bilinear_resize(small[:, :, 1:5], 8, 8), atol=1e-5)


def test_random_crop_takes_one_window_per_call_and_smart_resizes_at_inference():
    images = _images(3, 6, 7, 2)
    layer = layers.RandomCrop(3, 4, seed=0)
    corners = set()
    for _ in range(12):
        out = np.asarray(layer(images, training=True))
        windows = [(t, left) for t in range(4) for left in range(4)
                   if np.array_equal(out, images[:, t:t + 3, left:left + 4])]
        assert len(windows) == 1  # a contiguous window, the same for the whole batch
        corners.add(windows[0])
    assert len(corners) > 3
    square = _images(2, 6, 6)  # inference: 6x6 -> 3x3 bilinear is the mean of 2x2 blocks
    np.testing.assert_allclose(layers.RandomCrop(3, 3)(square, training=False),
                               square.reshape(2, 3, 2, 3, 2, 2).mean(axis=(2, 4)), atol=1e-6)
    small = _images(2, 4, 6, 1)  # smaller than the target: smart_resize in training too
    np.testing.assert_allclose(layers.RandomCrop(8, 8)(small, training=True),
                               _bilinear_resize(small[:, :, 1:5], 8, 8), atol=1e-5)


RANDOM_LAYERS = {
    "RandomZoom": lambda: layers.RandomZoom(0.3, seed=5),
    "RandomTranslation": lambda: layers.RandomTranslation(0.2, (-0.1, 0.3), seed=5),
    "RandomContrast": lambda: layers.RandomContrast(0.5, seed=5),
    "RandomBrightness": lambda: layers.RandomBrightness(0.3, value_range=(0, 1), seed=5),
    "RandomCrop": lambda: layers.RandomCrop(3, 2, seed=5),
}


@pytest.mark.parametrize("name", sorted(RANDOM_LAYERS))
def test_a_single_image_is_a_batch_of_one_eager_and_compiled(name):
    image = _images(1)[0]
    single = np.asarray(RANDOM_LAYERS[name]()(image, training=True))
    batch = np.asarray(RANDOM_LAYERS[name]()(image[None], training=True))
    np.testing.assert_allclose(single, batch[0], atol=1e-6)
    layer = RANDOM_LAYERS[name]()
    step = xf.function(lambda x: layer(x, training=True))
    first, second = np.asarray(step(image[None])), np.asarray(step(image[None]))
    np.testing.assert_allclose(first, batch, atol=1e-6)  # same seed, same first draw
    assert step.tracing_count == 1 and not np.array_equal(first, second)


@pytest.mark.parametrize("make, message", [
    (lambda: layers.RandomZoom(1.5), r"height_factor must have values in \[-1.0, 1.0\]; "
                                     r"received 1.5"),
    (lambda: layers.RandomZoom(0.1, (-2, 0)), r"width_factor .* received \(-2, 0\)"),
    (lambda: layers.RandomZoom("big"), "height_factor must be a number"),
    (lambda: layers.RandomTranslation(0.1, (0.5, 0.2)), "width_factor's lower bound"),
    (lambda: layers.RandomTranslation(1.2, 0.1), "height_factor .* received 1.2"),
    (lambda: layers.RandomTranslation(0.1, 0.1, fill_mode="mirror"), "fill_mode .*'mirror'"),
    (lambda: layers.RandomZoom(0.1, interpolation="bicubic"), "interpolation .*'bicubic'"),
    (lambda: layers.RandomContrast(-0.1), r"factor must have values >= 0.*-0.1"),
    (lambda: layers.RandomContrast((1.5, 0.2)), r"received \(1.5, 0.2\)"),
    (lambda: layers.RandomBrightness(1.5), "factor must have values in .*1.5"),
    (lambda: layers.RandomBrightness(0.1, value_range=(0,)), r"value_range .*\(0,\)"),
    (lambda: layers.RandomCrop(0, 3), "height must be a positive int; received 0"),
    (lambda: layers.CenterCrop(3, 2.5), "width must be a positive int; received 2.5"),
])
def test_bad_arguments_name_the_argument_and_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_wrong_rank_inputs_and_random_height_width_are_refused():
    flat = np.zeros((4, 4), np.float32)
    for layer in (layers.RandomFlip(), layers.RandomZoom(0.1), layers.RandomContrast(0.1),
                  layers.CenterCrop(2, 2), layers.RandomCrop(2, 2)):
        with pytest.raises(ValueError, match=r"inputs must be images .* shape \(4, 4\)"):
            layer(flat)  # at inference too
    for cls in (layers.RandomHeight, layers.RandomWidth):
        with pytest.raises(NotImplementedError, match="Resizing .*RandomZoom"):
            cls(0.2)


def test_an_augmenting_sequential_trains_with_fit_and_predicts_deterministically():
    xf.random.set_global_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 3)), layers.RandomFlip("horizontal"), layers.RandomRotation(0.1),
        layers.RandomZoom(0.1), layers.RandomTranslation(0.1, 0.1), layers.RandomContrast(0.2),
        layers.RandomBrightness(0.1, value_range=(0, 1)), layers.RandomCrop(6, 6),
        layers.CenterCrop(4, 4), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(1)])
    x, y = _images(16, 8, 8, 3), np.ones((16, 1), np.float32)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    predicted = model.predict(x, verbose=0)
    assert predicted.shape == (16, 1)
    np.testing.assert_array_equal(predicted, model.predict(x, verbose=0))
