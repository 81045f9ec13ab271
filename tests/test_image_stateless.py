"""xf.image.stateless_random_*: each op's draw replayed with xf.random.stateless_uniform
from the same seed (TF's recipe), the result checked against a NumPy oracle."""

import jax
import numpy as np
import pytest

import xlaflow as xf

RNG = np.random.default_rng(0)
IMAGE = RNG.random((6, 5, 3)).astype(np.float32)
BATCH = RNG.random((8, 4, 3, 2)).astype(np.float32)
SEEDS = [(0, 0), (1, 2), (3, 4), (9, 7), (123, 5)]


def _draw(seed, shape, lo, hi, dtype="float32"):
    return np.asarray(xf.random.stateless_uniform(shape, seed, lo, hi, dtype))


def test_brightness_adds_the_delta_the_seed_draws():
    for seed in SEEDS:
        out = xf.image.stateless_random_brightness(IMAGE, max_delta=0.3, seed=seed)
        delta = _draw(seed, [], -0.3, 0.3)
        assert isinstance(out, np.ndarray) and out.dtype == np.float32
        np.testing.assert_allclose(out, IMAGE + delta, rtol=1e-6)
        assert -0.3 <= delta < 0.3
    a, b = (xf.image.stateless_random_brightness(IMAGE, 0.3, s) for s in SEEDS[:2])
    assert not np.allclose(a, b)


def test_brightness_on_uint8_scales_to_unit_range_and_saturates():
    image = np.array([[[0], [128], [255]]], np.uint8)
    out = xf.image.stateless_random_brightness(image, 0.5, seed=(1, 2))
    delta = _draw((1, 2), [], -0.5, 0.5)
    expected = np.clip((image / 255.0 + delta) * 255.5, 0, 255).astype(np.uint8)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_contrast_scales_each_channel_about_its_mean():
    for seed in SEEDS:
        out = xf.image.stateless_random_contrast(BATCH, lower=0.2, upper=1.8, seed=seed)
        factor = _draw(seed, [], 0.2, 1.8)
        mean = BATCH.mean(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(out, (BATCH - mean) * factor + mean, rtol=1e-5, atol=1e-6)
        assert 0.2 <= factor < 1.8


@pytest.mark.parametrize("op,axis", [("flip_left_right", 1), ("flip_up_down", 0)])
def test_flips_follow_the_seeds_coin(op, axis):
    fn = getattr(xf.image, f"stateless_random_{op}")
    outcomes = set()
    for seed in SEEDS + [(5, 5), (6, 6), (7, 7)]:
        flipped = _draw(seed, [], 0.0, 1.0) < 0.5
        out = fn(IMAGE, seed=seed)
        np.testing.assert_array_equal(out, np.flip(IMAGE, axis) if flipped else IMAGE)
        outcomes.add(bool(flipped))
    assert outcomes == {True, False}  # the seeds chosen show both outcomes
    # a batch follows TF's other rule, flips = round(u): flipped where u > 1/2 (0.5
    # rounds to even, 0), so the batch of one image is the complement of the 3-D case
    coins = np.round(_draw((2, 3), [len(BATCH)], 0.0, 1.0)) == 1
    assert 0 < coins.sum() < len(BATCH)  # the seed shows both outcomes
    out = fn(BATCH, seed=(2, 3))
    for image, got, coin in zip(BATCH, out, coins):
        np.testing.assert_array_equal(got, np.flip(image, axis) if coin else image)
    for seed in SEEDS:
        single = fn(IMAGE[None], seed=seed)[0]
        flipped = _draw(seed, [1], 0.0, 1.0)[0] > 0.5
        np.testing.assert_array_equal(single, np.flip(IMAGE, axis) if flipped else IMAGE)


def test_crop_is_the_window_at_the_seeds_offsets():
    value = np.arange(6 * 5 * 3).reshape(6, 5, 3)
    for seed in SEEDS:
        out = xf.image.stateless_random_crop(value, size=[3, 2, 3], seed=seed)
        offsets = _draw(seed, [3], 0, np.iinfo(np.int32).max, "int32") % [4, 4, 1]
        o = offsets
        np.testing.assert_array_equal(out, value[o[0]:o[0] + 3, o[1]:o[1] + 2, :])
    assert len({xf.image.stateless_random_crop(value, [3, 2, 3], s)[0, 0, 0]
                for s in SEEDS}) > 1


def test_same_results_in_xf_function_and_on_jax_arrays():
    @xf.function
    def augment(image, seed):
        image = xf.image.stateless_random_flip_left_right(image, seed)
        image = xf.image.stateless_random_brightness(image, 0.2, seed)
        image = xf.image.stateless_random_contrast(image, 0.5, 1.5, seed)
        return xf.image.stateless_random_crop(image, [4, 4, 3], seed)

    seed = np.array([4, 2], np.int32)
    host = IMAGE
    for step in (lambda x: xf.image.stateless_random_flip_left_right(x, seed),
                 lambda x: xf.image.stateless_random_brightness(x, 0.2, seed),
                 lambda x: xf.image.stateless_random_contrast(x, 0.5, 1.5, seed),
                 lambda x: xf.image.stateless_random_crop(x, [4, 4, 3], seed)):
        host = step(host)
    assert isinstance(host, np.ndarray)
    np.testing.assert_allclose(augment(IMAGE, seed), host, rtol=1e-5, atol=1e-6)
    on_device = xf.image.stateless_random_crop(jax.numpy.asarray(IMAGE), [4, 4, 3], seed)
    assert isinstance(on_device, jax.Array)


def test_bad_arguments_are_refused_naming_them():
    with pytest.raises(ValueError, match="max_delta must be non-negative; received -0.1"):
        xf.image.stateless_random_brightness(IMAGE, -0.1, (1, 2))
    with pytest.raises(ValueError, match="upper must be > lower"):
        xf.image.stateless_random_contrast(IMAGE, 0.5, 0.5, (1, 2))
    with pytest.raises(ValueError, match="lower must be non-negative"):
        xf.image.stateless_random_contrast(IMAGE, -0.5, 0.5, (1, 2))
    with pytest.raises(ValueError, match=r"seed must be a shape \[2\] integer.*\(3,\)"):
        xf.image.stateless_random_flip_up_down(IMAGE, (1, 2, 3))
    with pytest.raises(ValueError, match=r"size must have one entry per dimension.*\[7, 2, 3\]"):
        xf.image.stateless_random_crop(IMAGE, [7, 2, 3], (1, 2))
    with pytest.raises(ValueError, match="image must be 3-D"):
        xf.image.stateless_random_flip_left_right(IMAGE[0], (1, 2))


def test_hue_saturation_and_jpeg_are_refused_with_guidance():
    assert not hasattr(xf.image, "stateless_random_hue")
    with pytest.raises(AttributeError, match="stateless_random_saturation is not provided; "
                                             "needs an RGB<->HSV"):
        xf.image.stateless_random_saturation  # noqa: B018
    with pytest.raises(AttributeError, match="JPEG re-encoding is not an XLA op"):
        xf.image.stateless_random_jpeg_quality  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'no_such_op'$"):
        xf.image.no_such_op  # noqa: B018
