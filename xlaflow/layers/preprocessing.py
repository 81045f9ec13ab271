"""Preprocessing layers: Rescaling, and Resizing (tf.image.resize inside a model)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from xlaflow import image as image_ops
from xlaflow.layers.base import Layer


def _scalar_or_list(name, value):
    """A float, or a list of floats (per channel, broadcast against the last axes)."""
    try:
        array = None if isinstance(value, (bool, str)) else np.asarray(value, np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim > 1 or array.size == 0:
        raise ValueError(f"Rescaling: {name} must be a number or a 1-D list of numbers (one "
                         f"per channel); received {value!r}")
    return float(array) if array.ndim == 0 else array.tolist()


class Rescaling(Layer):
    """`inputs * scale + offset`, computed in the layer's dtype (a uint8 image becomes
    float32): Rescaling(1 / 255) maps [0, 255] to [0, 1], Rescaling(1 / 127.5, offset=-1)
    to [-1, 1]."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _scalar_or_list("scale", scale)
        self.offset = _scalar_or_list("offset", offset)

    def call(self, inputs):
        dtype = self.compute_dtype
        return (jnp.asarray(inputs).astype(dtype) * jnp.asarray(self.scale, dtype)
                + jnp.asarray(self.offset, dtype))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


def crop_to_aspect_ratio(images, height, width):
    """The largest centred window of `images` (..., h, w, c) with the aspect ratio of
    height:width, as Keras 2's smart_resize crops before it resizes."""
    h, w = images.shape[-3], images.shape[-2]
    crop_h = min(h, int(w * height / width))
    crop_w = min(w, int(h * width / height))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return images[..., top:top + crop_h, left:left + crop_w, :]


def smart_resize(images, height, width):
    """Keras 2's image_utils.smart_resize: crop to the target's aspect ratio, then resize
    bilinearly to (height, width); float32 out."""
    return image_ops.resize(crop_to_aspect_ratio(images, height, width), (height, width))


class Resizing(Layer):
    """Images (NHWC, or HWC) resized to (height, width) by tf.image.resize's rule
    (half-pixel centres); `crop_to_aspect_ratio` crops the largest centred window of the
    target's aspect ratio first, as Keras 2."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = int(height), int(width)
        self.interpolation, self.crop_to_aspect_ratio = interpolation, crop_to_aspect_ratio
        image_ops.check_method(interpolation)

    def call(self, inputs):
        images = jnp.asarray(inputs)
        if self.crop_to_aspect_ratio:
            images = crop_to_aspect_ratio(images, self.height, self.width)
        return image_ops.resize(images, (self.height, self.width),
                                method=self.interpolation)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-3], self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio}
