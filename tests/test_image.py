"""xf.image against NumPy oracles and TF2's documented rules (half-pixel bilinear resize,
convert_image_dtype's scaling)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def _bilinear_half_pixel(image, out_h, out_w):
    """TF2's bilinear resize written out: source coordinate (i + 0.5) * in / out - 0.5,
    clamped to the edges, linear weights."""
    def axis_weights(n_in, n_out):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        w = np.zeros((n_out, n_in))
        w[np.arange(n_out), lo] += 1 - (src - lo)
        w[np.arange(n_out), hi] += src - lo
        return w
    wh, ww = axis_weights(image.shape[0], out_h), axis_weights(image.shape[1], out_w)
    return np.einsum("ai,bj,ijc->abc", wh, ww, image)


def test_resize_bilinear_matches_half_pixel_oracle():
    rng = np.random.default_rng(0)
    image = rng.random((5, 7, 3)).astype(np.float32)
    for out in [(10, 14), (9, 4), (3, 3)]:
        got = xf.image.resize(image, out)
        assert got.dtype == np.float32 and got.shape == (*out, 3)
        np.testing.assert_allclose(got, _bilinear_half_pixel(image, *out), atol=1e-5)
    batch = np.stack([image, image[::-1]])
    got = xf.image.resize(jnp.asarray(batch), (10, 14))
    np.testing.assert_allclose(got[1], _bilinear_half_pixel(image[::-1], 10, 14), atol=1e-5)
    uint8 = (image * 255).astype(np.uint8)
    assert xf.image.resize(uint8, (4, 4)).dtype == np.float32  # TF: float32 out
    assert xf.image.resize(uint8, (4, 4), method="nearest").dtype == np.uint8


def test_resize_refuses_what_it_does_not_do():
    image = np.zeros((4, 4, 1), np.float32)
    with pytest.raises(NotImplementedError, match="area"):
        xf.image.resize(image, (2, 2), method="area")
    with pytest.raises(NotImplementedError, match="preserve_aspect_ratio"):
        xf.image.resize(image, (2, 2), preserve_aspect_ratio=True)
    with pytest.raises(ValueError, match=r"size must be.*\(2,\)"):
        xf.image.resize(image, (2,))
    with pytest.raises(ValueError, match=r"3-D .* received shape \(4, 4\)"):
        xf.image.resize(image[..., 0], (2, 2))


def test_convert_image_dtype_follows_tf_scaling():
    u8 = np.array([0, 1, 128, 255], np.uint8)
    np.testing.assert_allclose(xf.image.convert_image_dtype(u8, xf.float32), u8 / 255.0,
                               rtol=1e-7)
    floats = np.array([0.0, 0.25, 0.5, 1.0], np.float32)
    # float -> int: x * (MAX + 0.5), truncated
    np.testing.assert_array_equal(xf.image.convert_image_dtype(floats, xf.uint8),
                                  (floats * 255.5).astype(np.uint8))
    over = np.array([1.5, -0.5], np.float32)
    np.testing.assert_array_equal(
        xf.image.convert_image_dtype(over, xf.uint8, saturate=True), [255, 0])
    np.testing.assert_array_equal(xf.image.convert_image_dtype(u8, xf.uint16),
                                  u8.astype(np.uint16) * 256)
    assert xf.image.convert_image_dtype(floats, xf.float16).dtype == np.float16


def test_flips_and_rot90_match_numpy():
    image = np.arange(2 * 3 * 4 * 2).reshape(2, 3, 4, 2)
    np.testing.assert_array_equal(xf.image.flip_left_right(image), image[:, :, ::-1])
    np.testing.assert_array_equal(xf.image.flip_up_down(image[0]), image[0, ::-1])
    np.testing.assert_array_equal(xf.image.rot90(image, k=3),
                                  np.rot90(image, 3, axes=(1, 2)))
    assert isinstance(xf.image.flip_left_right(image), np.ndarray)  # stays on the host


def test_random_flip_is_a_seeded_per_image_coin():
    images = np.arange(64 * 1 * 3 * 1, dtype=np.float32).reshape(64, 1, 3, 1)
    out = np.asarray(xf.image.random_flip_left_right(images, seed=5))
    flipped = np.all(out == images[:, :, ::-1], axis=(1, 2, 3))
    kept = np.all(out == images, axis=(1, 2, 3))
    assert np.all(flipped ^ kept) and 10 < flipped.sum() < 54  # each image one or other
    with pytest.raises(NotImplementedError,
                       match=r"stateless_random_flip_up_down\(image, seed\) or keras"):
        xf.function(lambda x: xf.image.random_flip_up_down(x))(jnp.zeros((2, 2, 1)))


def test_random_flips_repeat_after_set_seed_as_tf(monkeypatch):
    images = np.arange(16 * 2 * 2 * 1, dtype=np.float32).reshape(16, 2, 2, 1)
    for seed in (None, 7):  # no op seed, then an op seed: set_seed restarts both
        xf.random.set_seed(3)
        first = [np.asarray(xf.image.random_flip_left_right(images, seed=seed))
                 for _ in range(2)]
        assert not np.array_equal(*first)  # 16 coins: the two draws differ
        xf.random.set_seed(3)
        again = [np.asarray(xf.image.random_flip_left_right(images, seed=seed))
                 for _ in range(2)]
        np.testing.assert_array_equal(np.stack(first), np.stack(again))
    # an op seed alone (no set_seed in this run) repeats from run to run, as in TF
    from xlaflow import image, random
    runs = []
    for _ in range(2):  # two "runs": no global seed, no streams yet
        monkeypatch.setattr(random, "_set_seed", [None])
        monkeypatch.setattr(image, "_generators", {})
        runs.append(np.asarray(xf.image.random_flip_up_down(images, seed=11)))
    np.testing.assert_array_equal(runs[0], runs[1])


def test_resize_runs_one_compiled_program_per_shape_and_static_arguments(monkeypatch):
    # An eager call on NumPy runs a cached program: jax.image.resize is reached only when
    # that program is traced, once per (shape, dtype, size, method, antialias), and the
    # result is jax.image.resize's, bit for bit.
    real, traced = jax.image.resize, []

    def counting(image, shape, method, antialias=True, precision=None):
        traced.append((shape, method, antialias))
        return real(image, shape, method, antialias=antialias, precision=precision)

    monkeypatch.setattr(jax.image, "resize", counting)
    rng = np.random.default_rng(3)
    images = rng.random((3, 6, 11, 2)).astype(np.float32)  # a shape no other test resizes
    jax_names = {"bilinear": "linear", "nearest": "nearest", "bicubic": "cubic",
                 "lanczos3": "lanczos3"}
    for method, antialias, size in itertools.product(jax_names, (False, True),
                                                     ((4, 9), (12, 5))):
        before = len(traced)
        for image in (*images, jnp.asarray(images[0])):
            got = xf.image.resize(image, size, method=method, antialias=antialias)
            assert isinstance(got, type(image))
            want = real(jnp.asarray(image), (*size, 2), jax_names[method],
                        antialias=antialias)
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        assert traced[before:] == [((*size, 2), jax_names[method], antialias)]
    batch = xf.image.resize(images, (4, 9))  # 4-D: one more program, the same rows
    np.testing.assert_array_equal(batch[1], xf.image.resize(images[1], (4, 9)))
    assert len(traced) == 2 * 2 * 4 + 1
