"""RandomFlip and RandomRotation against NumPy: flips are exact reversals, a quarter turn
is np.rot90, and inference is the identity (Keras 2)."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow.layers.augmentation import rotate


def _images(n=16, h=5, w=5, c=2):
    return np.random.default_rng(0).random((n, h, w, c)).astype(np.float32)


def test_random_flip_flips_each_image_or_not_and_is_identity_in_inference():
    images = _images(64)
    layer = keras.layers.RandomFlip("horizontal", seed=3)
    np.testing.assert_array_equal(layer(images, training=False), images)
    out = np.asarray(layer(images, training=True))
    flipped = np.all(out == images[:, :, ::-1], axis=(1, 2, 3))
    kept = np.all(out == images, axis=(1, 2, 3))
    assert np.all(flipped ^ kept) and 10 < flipped.sum() < 54
    again = np.asarray(layer(images, training=True))  # a new key each call
    assert not np.array_equal(again, out)
    both = np.asarray(keras.layers.RandomFlip(seed=1)(images, training=True))
    options = [images, images[:, ::-1], images[:, :, ::-1], images[:, ::-1, ::-1]]
    matches = [np.all(both == o, axis=(1, 2, 3)) for o in options]
    assert np.all(np.sum(matches, axis=0) == 1) and all(m.any() for m in matches)
    with pytest.raises(ValueError, match="mode must be one of"):
        keras.layers.RandomFlip("diagonal")


def test_quarter_turn_is_numpy_rot90_and_small_turns_keep_the_centre():
    images = _images(3)
    quarter = keras.layers.RandomRotation((0.25, 0.25))(images, training=True)
    np.testing.assert_allclose(quarter, np.rot90(images, 1, axes=(1, 2)), atol=1e-5)
    clockwise = rotate(xf.constant(images), xf.constant([-np.pi / 2] * 3))
    np.testing.assert_allclose(clockwise, np.rot90(images, -1, axes=(1, 2)), atol=1e-5)
    layer = keras.layers.RandomRotation(0.1, seed=0)
    np.testing.assert_array_equal(layer(images, training=False), images)
    out = np.asarray(layer(images, training=True))
    np.testing.assert_allclose(out[:, 2, 2], images[:, 2, 2], atol=1e-5)  # the pivot
    assert not np.allclose(out, images)


def test_rotation_fill_modes_follow_tf():
    # a quarter turn of a 2x4 image about its centre (x 1.5, y 0.5): output pixel (0, 0)
    # reads source (y -1, x 2), a whole row outside, so "constant" gives fill_value and
    # "nearest" the edge pixel (0, 2); (0, 1) reads (0, 2) itself
    image = np.arange(1.0, 9.0, dtype=np.float32).reshape(1, 2, 4, 1)
    quarter = xf.constant([np.pi / 2])
    const = rotate(xf.constant(image), quarter, "constant", fill_value=-1.0)
    assert float(const[0, 0, 0, 0]) == -1.0
    np.testing.assert_allclose(const[0, 0, 1, 0], image[0, 0, 2, 0], atol=1e-5)
    nearest = rotate(xf.constant(image), quarter, "nearest")
    np.testing.assert_allclose(nearest[0, 0, 0, 0], image[0, 0, 2, 0], atol=1e-5)
    with pytest.raises(ValueError, match="factor must be"):
        keras.layers.RandomRotation("a lot")
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        keras.layers.RandomRotation(0.1, fill_mode="mirror")


def test_augmentation_in_a_compiled_model_draws_fresh_each_step():
    model = keras.Sequential([keras.Input((5, 5, 2)), keras.layers.RandomFlip(seed=2),
                              keras.layers.RandomRotation(0.2, seed=2)])
    step = xf.function(lambda x: model(x, training=True))
    images = _images(8)
    first, second = np.asarray(step(images)), np.asarray(step(images))
    assert step.tracing_count == 1 and not np.array_equal(first, second)
    np.testing.assert_array_equal(model.predict(images, verbose=0), images)
