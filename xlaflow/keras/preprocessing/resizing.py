"""TF2's tf.image.resize (antialias off) for one decoded image, in NumPy on the host.

A dataset's images come in many sizes; xf.image.resize would compile one XLA program per
input shape, so a directory of photos would spend its time compiling. The same weights,
separable per axis and a few taps wide, cost a few vector ops per image and compile nothing.
"""

from __future__ import annotations

import numpy as np

# TF's scale_and_translate kernels (sampling_kernels.h) as functions of |distance| in input
# pixels, each with its radius: beyond it a kernel is 0.


def _triangle(x):
    return np.maximum(0.0, 1.0 - x)


def _keys_cubic(x):  # Keys' cubic with a = -0.5, TF's bicubic with half-pixel centres
    return np.where(x >= 2.0, 0.0,
                    np.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0,
                             ((1.5 * x - 2.5) * x) * x + 1.0))


def _lanczos(radius):
    def kernel(x):
        safe = np.where(x > 1e-3, x, 1.0)
        value = radius * np.sin(np.pi * safe) * np.sin(np.pi * safe / radius) / (
            np.pi ** 2 * safe ** 2)
        return np.where(x > radius, 0.0, np.where(x > 1e-3, value, 1.0))
    return kernel


def _gaussian(x):  # radius 1.5 and sigma = radius / 3, TF's GaussianKernelFunc
    sigma = 0.5
    return np.where(x >= 1.5, 0.0, np.exp(-x * x / (2.0 * sigma * sigma)))


def _mitchell_cubic(x):  # Mitchell-Netravali with B = C = 1/3, TF's MitchellCubicKernelFunc
    return np.where(x >= 2.0, 0.0,
                    np.where(x >= 1.0,
                             (((-7.0 / 18.0) * x + 2.0) * x - 10.0 / 3.0) * x + 16.0 / 9.0,
                             (((7.0 / 6.0) * x - 2.0) * x) * x + 8.0 / 9.0))


_KERNELS = {"bilinear": _triangle, "bicubic": _keys_cubic, "lanczos3": _lanczos(3.0),
            "lanczos5": _lanczos(5.0), "gaussian": _gaussian, "mitchellcubic": _mitchell_cubic}

# The `interpolation` names Keras 2 accepts (image_utils.get_interpolation).
INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian",
                  "mitchellcubic")


def _kernel_weights(in_size, out_size, kernel):
    """TF's ScaleAndTranslate weights without antialiasing: output pixel o samples the input
    at (o + 0.5) * in / out; input pixel i (centre i + 0.5) weighs kernel(distance), and
    the weights are renormalized so that pixels past the border drop out."""
    sample = (np.arange(out_size) + 0.5) * (in_size / out_size)
    distance = np.abs((np.arange(in_size) + 0.5)[None, :] - sample[:, None])
    weights = kernel(distance)
    total = weights.sum(axis=1, keepdims=True)
    usable = np.abs(total) >= 1000.0 * np.finfo(np.float32).tiny
    return np.where(usable, weights / np.where(usable, total, 1.0), 0.0)


def _nearest_weights(in_size, out_size):
    """TF's ResizeNearestNeighbor with half-pixel centres, in its float32 arithmetic:
    source floor((o + 0.5) * (in / out)), kept inside the image."""
    scale = np.float32(in_size) / np.float32(out_size)
    source = np.floor((np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale)
    source = np.clip(source.astype(np.int64), 0, in_size - 1)
    weights = np.zeros((out_size, in_size))
    weights[np.arange(out_size), source] = 1.0
    return weights


def _area_weights(in_size, out_size):
    """TF's ResizeArea: output pixel o averages the input over [o * s, (o + 1) * s),
    s = in / out, each input pixel weighted by how much of it the box covers."""
    scale = in_size / out_size
    start = np.arange(out_size)[:, None] * scale
    stop = start + scale
    left = np.arange(in_size)[None, :]
    overlap = np.clip(np.minimum(left + 1, stop) - np.maximum(left, start), 0.0, None)
    return overlap / scale


def _weights(in_size, out_size, interpolation):
    if interpolation == "nearest":
        return _nearest_weights(in_size, out_size)
    if interpolation == "area":
        return _area_weights(in_size, out_size)
    return _kernel_weights(in_size, out_size, _KERNELS[interpolation])


def _band(weights):
    """(indices, weights), each (out, taps): the nonzero weights of each output pixel, a
    run of consecutive input pixels for every method, so that resizing gathers `taps`
    input lines per output line instead of multiplying by a mostly zero matrix."""
    nonzero = weights != 0
    first = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), 0)
    last = weights.shape[1] - 1 - nonzero[:, ::-1].argmax(axis=1)
    taps = int(max(1, (last - first + 1).max()))
    first = np.clip(first, 0, weights.shape[1] - taps)
    indices = first[:, None] + np.arange(taps)[None, :]
    return indices, np.take_along_axis(weights, indices, axis=1).astype(np.float32)


def _along_first_axis(array, weights):
    indices, taps = _band(weights)
    out = taps[:, 0, None, None] * array[indices[:, 0]]
    for k in range(1, indices.shape[1]):
        out += taps[:, k, None, None] * array[indices[:, k]]
    return out


def resize(image, size, interpolation):
    """`image` (height, width, channels) resized to `size` (height, width) as TF2's
    tf.image.resize(method=interpolation, antialias=False) does, as float32."""
    height, width, _ = image.shape
    pixels = image.astype(np.float32)
    tall = _along_first_axis(pixels, _weights(height, size[0], interpolation))
    wide = _along_first_axis(tall.transpose(1, 0, 2), _weights(width, size[1], interpolation))
    return np.ascontiguousarray(wide.transpose(1, 0, 2))


def crop_to_aspect_ratio(image, size):
    """The largest centred window of `image` with the aspect ratio of `size`, as Keras 2's
    smart_resize cuts it (its float32 arithmetic, truncated to ints)."""
    height, width = image.shape[:2]
    target_height, target_width = size
    crop_height = min(height, int(np.float32(width * target_height) / np.float32(target_width)))
    crop_width = min(width, int(np.float32(height * target_width) / np.float32(target_height)))
    top = int(np.float32(height - crop_height) / np.float32(2))
    left = int(np.float32(width - crop_width) / np.float32(2))
    return image[top:top + crop_height, left:left + crop_width]
