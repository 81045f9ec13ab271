"""Reshaping and pooling layers added for Keras 2 parity, against NumPy oracles written here:
ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D, RepeatVector, Permute, MaxPooling1D,
AveragePooling1D and the global poolings."""

import numpy as np
import pytest

from xlaflow.keras import layers

RNG = np.random.default_rng(5)


def _floats(*shape):
    return RNG.normal(size=shape).astype(np.float32)


# -- padding and cropping ---------------------------------------------------------------------
@pytest.mark.parametrize("padding, pads", [(2, ((2, 2), (2, 2))), ((1, 3), ((1, 1), (3, 3))),
                                           (((0, 1), (2, 0)), ((0, 1), (2, 0))),
                                           ((1, (0, 2)), ((1, 1), (0, 2)))])
def test_zero_padding2d(padding, pads):
    x = _floats(2, 3, 4, 2)
    out = np.asarray(layers.ZeroPadding2D(padding)(x))
    np.testing.assert_array_equal(out, np.pad(x, ((0, 0), *pads, (0, 0))))


def test_zero_padding1d_and_cropping1d():
    x = _floats(2, 5, 3)
    np.testing.assert_array_equal(layers.ZeroPadding1D()(x), np.pad(x, ((0, 0), (1, 1), (0, 0))))
    np.testing.assert_array_equal(layers.ZeroPadding1D((0, 2))(x),
                                  np.pad(x, ((0, 0), (0, 2), (0, 0))))
    np.testing.assert_array_equal(layers.Cropping1D()(x), x[:, 1:4])
    np.testing.assert_array_equal(layers.Cropping1D((2, 0))(x), x[:, 2:])
    assert layers.ZeroPadding1D(2).get_config()["padding"] == [2, 2]


def test_cropping2d():
    x = _floats(2, 6, 5, 3)
    np.testing.assert_array_equal(layers.Cropping2D()(x), x)  # Keras' default crops nothing
    np.testing.assert_array_equal(layers.Cropping2D(1)(x), x[:, 1:5, 1:4])
    np.testing.assert_array_equal(layers.Cropping2D((2, 1))(x), x[:, 2:4, 1:4])
    np.testing.assert_array_equal(layers.Cropping2D(((0, 3), (2, 0)))(x), x[:, 0:3, 2:])
    assert layers.Cropping2D((2, 1)).get_config()["cropping"] == [[2, 2], [1, 1]]


def test_cropping_everything_is_an_error_naming_the_sizes():
    with pytest.raises(ValueError, match=r"cropping 3 \+ 2 leaves nothing of axis 1 .*size 5"):
        layers.Cropping1D((3, 2))(_floats(1, 5, 2))
    with pytest.raises(ValueError, match=r"cropping 2 \+ 2 leaves nothing of axis 2"):
        layers.Cropping2D(((0, 0), (2, 2)))(_floats(1, 5, 4, 2))


# -- upsampling -------------------------------------------------------------------------------
def test_upsampling_nearest_repeats():
    seq = _floats(2, 3, 4)
    np.testing.assert_array_equal(layers.UpSampling1D()(seq), np.repeat(seq, 2, axis=1))
    image = _floats(2, 3, 2, 4)
    expect = np.repeat(np.repeat(image, 2, axis=1), 3, axis=2)
    np.testing.assert_array_equal(layers.UpSampling2D((2, 3))(image), expect)
    ints = RNG.integers(0, 255, (1, 2, 2, 1)).astype(np.uint8)
    out = layers.UpSampling2D()(ints)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.repeat(np.repeat(ints, 2, 1), 2, 2))


def bilinear_numpy(x, size):
    """tf.image.resize(method='bilinear') for an upscale by integer `size` (half-pixel
    centers, clamped at the edges), pixel by pixel in float64."""
    batch, height, width, channels = x.shape
    out_h, out_w = height * size[0], width * size[1]
    out = np.zeros((batch, out_h, out_w, channels))

    def source(i, n_in, n_out):
        position = (i + 0.5) * n_in / n_out - 0.5
        below = int(np.floor(position))
        return (min(max(below, 0), n_in - 1), min(max(below + 1, 0), n_in - 1),
                position - below)

    for i in range(out_h):
        y0, y1, wy = source(i, height, out_h)
        for j in range(out_w):
            x0, x1, wx = source(j, width, out_w)
            top = x[:, y0, x0] * (1 - wx) + x[:, y0, x1] * wx
            bottom = x[:, y1, x0] * (1 - wx) + x[:, y1, x1] * wx
            out[:, i, j] = top * (1 - wy) + bottom * wy
    return out


def test_upsampling2d_bilinear_uses_half_pixel_centers():
    # tf.image.resize([[1, 2], [3, 4]], (4, 4)): Keras 2 UpSampling2D(interpolation='bilinear')
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)[None, :, :, None]
    out = np.asarray(layers.UpSampling2D(interpolation="bilinear")(x))[0, :, :, 0]
    np.testing.assert_allclose(out, [[1.0, 1.25, 1.75, 2.0], [1.5, 1.75, 2.25, 2.5],
                                     [2.5, 2.75, 3.25, 3.5], [3.0, 3.25, 3.75, 4.0]])


@pytest.mark.parametrize("size", [(2, 2), (3, 2), (1, 4)])
def test_upsampling2d_bilinear_matches_the_oracle(size):
    x = _floats(2, 3, 5, 2)
    out = layers.UpSampling2D(size, interpolation="bilinear")(x)
    np.testing.assert_allclose(out, bilinear_numpy(x.astype(np.float64), size), rtol=1e-5,
                               atol=1e-6)


def test_upsampling2d_bilinear_of_integers_gives_floats():
    x = np.arange(8, dtype=np.uint8).reshape(1, 2, 4, 1) * 30
    out = layers.UpSampling2D(interpolation="bilinear")(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, bilinear_numpy(x.astype(np.float64), (2, 2)), rtol=1e-6)


# -- RepeatVector and Permute -----------------------------------------------------------------
def test_repeat_vector_and_permute():
    v = _floats(2, 3)
    np.testing.assert_array_equal(layers.RepeatVector(4)(v), np.repeat(v[:, None], 4, axis=1))
    x = _floats(2, 3, 4, 5)
    np.testing.assert_array_equal(layers.Permute((3, 1, 2))(x), np.transpose(x, (0, 3, 1, 2)))
    np.testing.assert_array_equal(layers.Permute((2, 1))(x[..., 0]),
                                  np.transpose(x[..., 0], (0, 2, 1)))


# -- pooling ----------------------------------------------------------------------------------
def pool1d_numpy(x, size, stride, padding, reduce):
    """Windows over axis 1 as TF pools: 'same' pads (total // 2 before, the rest after) and
    only real elements enter a window."""
    steps = x.shape[1]
    if padding == "same":
        out = -(-steps // stride)
        before = max((out - 1) * stride + size - steps, 0) // 2
    else:
        out, before = (steps - size) // stride + 1, 0
    windows = []
    for i in range(out):
        start = i * stride - before
        lo, hi = max(start, 0), min(start + size, steps)
        windows.append(reduce(x[:, lo:hi], axis=1))
    return np.stack(windows, axis=1)


@pytest.mark.parametrize("size, stride, padding", [(2, None, "valid"), (3, 1, "same"),
                                                   (3, 2, "same"), (2, 3, "valid"),
                                                   (4, 3, "same")])
def test_pooling1d(size, stride, padding):
    x = _floats(2, 7, 3)
    max_out = layers.MaxPooling1D(size, strides=stride, padding=padding)(x)
    avg_out = layers.AveragePooling1D(size, strides=stride, padding=padding)(x)
    stride = stride or size
    np.testing.assert_array_equal(max_out, pool1d_numpy(x, size, stride, padding, np.max))
    np.testing.assert_allclose(avg_out, pool1d_numpy(x, size, stride, padding, np.mean),
                               rtol=1e-6, atol=1e-7)


def test_average_pooling1d_of_integers_does_not_wrap():
    x = np.full((1, 4, 1), 200, np.uint8)
    out = layers.AveragePooling1D()(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.full((1, 2, 1), 200.0))


def test_global_poolings():
    seq, image = _floats(2, 5, 3), _floats(2, 4, 3, 2)
    # a GPU sums in another order than NumPy: float32 agrees to a few ulps, not to one
    np.testing.assert_allclose(layers.GlobalAveragePooling1D()(seq), seq.mean(1), rtol=1e-5)
    np.testing.assert_allclose(layers.GlobalAveragePooling1D(keepdims=True)(seq),
                               seq.mean(1, keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(layers.GlobalMaxPooling1D()(seq), seq.max(1))
    np.testing.assert_array_equal(layers.GlobalMaxPooling1D(keepdims=True)(seq),
                                  seq.max(1, keepdims=True))
    np.testing.assert_array_equal(layers.GlobalMaxPooling2D()(image), image.max((1, 2)))
    np.testing.assert_array_equal(layers.GlobalMaxPooling2D(keepdims=True)(image),
                                  image.max((1, 2), keepdims=True))


def test_global_average_pooling1d_with_a_mask_counts_the_kept_steps():
    seq = _floats(2, 5, 3)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    out = np.asarray(layers.GlobalAveragePooling1D()(seq, mask=mask))
    np.testing.assert_allclose(out[0], seq[0, :2].mean(0), rtol=1e-6)
    np.testing.assert_allclose(out[1], seq[1].mean(0), rtol=1e-6)


# -- argument and input errors ----------------------------------------------------------------
@pytest.mark.parametrize("make, message", [
    (lambda: layers.ZeroPadding1D((1, 2, 3)),
     (r"ZeroPadding1D: padding must be an int or a tuple of 2 ints, all >= 0; received "
     r"\(1, 2, 3\)")),
    (lambda: layers.ZeroPadding1D(-1), r"padding must be .*>= 0; received -1"),
    (lambda: layers.ZeroPadding2D((1, 2, 3)),
     r"ZeroPadding2D: padding must be an int, a tuple of 2 ints or a tuple of 2 tuples"),
    (lambda: layers.ZeroPadding2D(((1, 2), (1, -1))),
     r"ZeroPadding2D: padding \(width\) must be .*received \(1, -1\)"),
    (lambda: layers.Cropping1D("2"), r"Cropping1D: cropping must be .*received '2'"),
    (lambda: layers.Cropping2D(((1,), (0, 0))), r"Cropping2D: cropping \(height\) must be"),
    (lambda: layers.UpSampling1D(0),
     r"UpSampling1D: size must be a positive int or a tuple of 1 positive ints; received 0"),
    (lambda: layers.UpSampling2D((2, 2, 2)),
     r"UpSampling2D: size must be .*tuple of 2 positive ints; received \(2, 2, 2\)"),
    (lambda: layers.UpSampling2D(interpolation="linear"),
     r"UpSampling2D: interpolation must be one of \['nearest', 'bilinear'.*received 'linear'"),
    (lambda: layers.RepeatVector(0), r"RepeatVector: n must be a positive int; received 0"),
    (lambda: layers.Permute((1, 3)), (r"Permute: dims must be a permutation of 1..n .*"
                                     r"received \(1, 3\)")),
    (lambda: layers.Permute((0, 1)), r"received \(0, 1\)"),
    (lambda: layers.MaxPooling1D(0), r"pool_size must be a positive int or a tuple of 1"),
    (lambda: layers.AveragePooling1D(2, padding="causal"),
     r"padding must be 'valid' or 'same'; received 'causal'"),
    (lambda: layers.GlobalMaxPooling1D(data_format="NWC"),
     (r"GlobalMaxPooling1D: data_format must be 'channels_last' or 'channels_first'; received "
     r"'NWC'")),
])
def test_bad_arguments_name_the_argument_and_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_unsupported_interpolation_names_the_supported_ones():
    with pytest.raises(NotImplementedError, match=r"interpolation='bicubic' .*'nearest' or "
                                                  r"'bilinear'"):
        layers.UpSampling2D(interpolation="bicubic")


def test_channels_first_global_pooling_reduces_the_spatial_axes():
    x = _floats(2, 3, 4, 5)  # (batch, channels, height, width)
    out = layers.GlobalMaxPooling2D(keepdims=True, data_format="channels_first")(x)
    np.testing.assert_array_equal(out, x.max((2, 3), keepdims=True))


@pytest.mark.parametrize("layer, shape, message", [
    (layers.ZeroPadding2D(), (2, 3, 4), (r"expects inputs of rank 4 \(batch, height, width, "
                                        r"channels\); received shape \(2, 3, 4\)")),
    (layers.Cropping1D(), (2, 3), r"expects inputs of rank 3 .*received shape \(2, 3\)"),
    (layers.UpSampling1D(), (2, 3, 4, 1), r"expects inputs of rank 3"),
    (layers.RepeatVector(2), (2, 3, 4), (r"expects inputs of rank 2 \(batch, features\); "
                                        r"received shape \(2, 3, 4\)")),
    (layers.Permute((2, 1)), (2, 3, 4, 5), (r"dims \(2, 1\) permute 2 axes, but the input has 3 "
                                           r"after the batch")),
    (layers.MaxPooling1D(), (2, 4), r"expects inputs of rank 3 .*received shape \(2, 4\)"),
    (layers.GlobalMaxPooling2D(), (2, 4, 3), r"expects inputs of rank 4"),
])
def test_inputs_of_the_wrong_rank_are_named(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer(np.zeros(shape, np.float32))
