"""Keras 2's cropping preprocessing layers: CenterCrop (deterministic) and RandomCrop (one
random window per call in training; Keras 2's smart_resize otherwise).

Both fall back, as Keras 2.9+ does, to smart_resize (crop to the target's aspect ratio,
then bilinear resize) when the input is smaller than the target in either dimension.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
from jax import lax

from xlaflow.layers.augmentation import _RandomImageLayer, check_images
from xlaflow.layers.base import Layer
from xlaflow.layers.input_casting import cast_integer_inputs
from xlaflow.layers.preprocessing import smart_resize


def _size(layer, name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive int; received {value!r}")
    return int(value)


def _crop_at(images, top, left, height, width):
    images = lax.dynamic_slice_in_dim(images, top, height, axis=images.ndim - 3)
    return lax.dynamic_slice_in_dim(images, left, width, axis=images.ndim - 2)


class CenterCrop(Layer):
    """The centred (height, width) window of each image (the top/left offsets round down);
    an image smaller than that is smart-resized to it instead, as Keras 2."""

    def __init__(self, height, width, **kwargs):
        height, width = _size("CenterCrop", "height", height), _size("CenterCrop", "width",
                                                                      width)
        super().__init__(**kwargs)
        self.height, self.width = height, width

    def call(self, inputs):
        check_images("CenterCrop", inputs)
        images = cast_integer_inputs(jnp.asarray(inputs), self.compute_dtype)
        h, w = images.shape[-3], images.shape[-2]
        if h < self.height or w < self.width:
            return smart_resize(images, self.height, self.width).astype(self.compute_dtype)
        top, left = (h - self.height) // 2, (w - self.width) // 2
        return images[..., top:top + self.height, left:left + self.width, :]

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-3], self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


class RandomCrop(_RandomImageLayer):
    """In training, one random (height, width) window, the same for every image of the
    batch (as Keras 2); at inference, or for a smaller input, Keras 2's smart_resize."""

    def __init__(self, height, width, seed=None, **kwargs):
        height, width = _size("RandomCrop", "height", height), _size("RandomCrop", "width",
                                                                      width)
        super().__init__(seed=seed, **kwargs)
        self.height, self.width = height, width

    def call(self, inputs, training=True):
        check_images("RandomCrop", inputs)
        images = cast_integer_inputs(jnp.asarray(inputs), self.compute_dtype)
        h, w = images.shape[-3], images.shape[-2]
        if not training or h < self.height or w < self.width:
            return smart_resize(images, self.height, self.width).astype(self.compute_dtype)
        top, left = self._offsets(self.seed_generator.next(), h, w)
        return _crop_at(images, top, left, self.height, self.width)

    def _offsets(self, key, h, w):
        """The window's top and left corner, uniform over every window that fits."""
        return jax.random.randint(key, (2,), 0, jnp.array(
            [h - self.height + 1, w - self.width + 1]))

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-3], self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
