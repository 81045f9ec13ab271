"""Keras 2's image augmentation layers RandomFlip and RandomRotation: random per image in
training (keys from a SeedGenerator Variable, fresh each step under jit), identity otherwise.

RandomRotation samples as Keras 2's rotation matrix does (angles in factor * 2 pi, positive
counter-clockwise, about the image centre) through image_transform's projective transform.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp

from xlaflow.layers.base import Layer, cast_integer_inputs
from xlaflow.layers.image_transform import (
    check_fill_mode_and_interpolation,
    rotation_transforms,
    transform,
)
from xlaflow.random import SeedGenerator

_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _check_images(layer, inputs):
    if inputs.ndim not in (3, 4):
        raise ValueError(f"{layer}: inputs must be images (height, width, channels), 3-D or "
                         f"batched 4-D; received shape {tuple(inputs.shape)}")


class _RandomImageLayer(Layer):
    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = SeedGenerator(seed, name=f"{self.name}/seed_generator")

    def call(self, inputs, training=None):
        if not training:
            return inputs
        inputs = cast_integer_inputs(jnp.asarray(inputs), self.compute_dtype)
        _check_images(type(self).__name__, inputs)
        batched = inputs if inputs.ndim == 4 else inputs[None]
        out = self._augment(batched, self.seed_generator.next())
        return out if inputs.ndim == 4 else out[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class RandomFlip(_RandomImageLayer):
    """Flips each image left-right and/or up-down, each with probability 1/2."""

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        if mode not in _FLIP_MODES:
            raise ValueError(f"RandomFlip: mode must be one of {_FLIP_MODES}; received "
                             f"{mode!r}")
        super().__init__(seed=seed, **kwargs)
        self.mode = mode

    def _augment(self, images, key):
        horizontal_key, vertical_key = jax.random.split(key)
        coin = (images.shape[0], 1, 1, 1)
        if self.mode != "vertical":
            images = jnp.where(jax.random.bernoulli(horizontal_key, 0.5, coin),
                               images[:, :, ::-1], images)
        if self.mode != "horizontal":
            images = jnp.where(jax.random.bernoulli(vertical_key, 0.5, coin),
                               images[:, ::-1], images)
        return images

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _factor_range(factor):
    if isinstance(factor, numbers.Real) and not isinstance(factor, bool):
        lower, upper = -abs(float(factor)), abs(float(factor))
    elif isinstance(factor, (tuple, list)) and len(factor) == 2 and all(
            isinstance(f, numbers.Real) and not isinstance(f, bool) for f in factor):
        lower, upper = float(factor[0]), float(factor[1])
    else:
        raise ValueError(f"RandomRotation: factor must be a number or a (lower, upper) pair "
                         f"of fractions of 2 pi; received {factor!r}")
    if upper < lower:
        raise ValueError(f"RandomRotation: factor's lower bound must not exceed its upper "
                         f"one; received {factor!r}")
    return lower, upper


def rotate(images, angles, fill_mode="reflect", interpolation="bilinear", fill_value=0.0):
    """`images` (n, h, w, c) rotated counter-clockwise by `angles` (n,) radians about
    their centres: Keras 2's rotation matrix maps each output pixel to its source."""
    _, h, w, _ = images.shape
    transforms = rotation_transforms(jnp.asarray(angles, jnp.float32), h, w)
    return transform(images, transforms, fill_mode, interpolation, fill_value)


class RandomRotation(_RandomImageLayer):
    """Rotates each image by an angle drawn uniformly from factor * 2 pi (a number f means
    [-f, f]); positive turns counter-clockwise. Pixels from outside follow `fill_mode`."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        self.lower, self.upper = _factor_range(factor)
        check_fill_mode_and_interpolation("RandomRotation", fill_mode, interpolation)
        super().__init__(seed=seed, **kwargs)
        self.factor = list(factor) if isinstance(factor, tuple) else factor  # JSON's form
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = float(fill_value)

    def _augment(self, images, key):
        angles = jax.random.uniform(key, (images.shape[0],), jnp.float32,
                                    self.lower * 2 * math.pi, self.upper * 2 * math.pi)
        return rotate(images, angles, self.fill_mode, self.interpolation, self.fill_value)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}
