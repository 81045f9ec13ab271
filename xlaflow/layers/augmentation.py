"""Keras 2's geometric augmentation layers RandomFlip, RandomRotation, RandomZoom and
RandomTranslation: random per image in training (keys from a SeedGenerator Variable, fresh
each step under jit), identity otherwise.

Rotation, zoom and translation sample as Keras 2's matrices do (angles in factor * 2 pi,
positive counter-clockwise, about the image centre) through image_transform's projective
transform. RandomHeight/RandomWidth are refused: their output shape changes per call.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp

from xlaflow.layers.base import Layer
from xlaflow.layers.image_transform import (
    check_fill_mode_and_interpolation,
    rotation_transforms,
    transform,
    translation_transforms,
    zoom_transforms,
)
from xlaflow.layers.input_casting import cast_integer_inputs
from xlaflow.random import SeedGenerator

_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def check_images(layer, inputs):
    """Refuse inputs that are not an image (h, w, c) or a batch of them (n, h, w, c)."""
    if jnp.ndim(inputs) not in (3, 4):
        raise ValueError(f"{layer}: inputs must be images (height, width, channels), 3-D or "
                         f"batched 4-D; received shape {tuple(jnp.shape(inputs))}")


class _RandomImageLayer(Layer):
    """Base of the random image layers: `_augment(batch, key)` in training, else the
    identity; a single image goes through as a batch of one."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = SeedGenerator(seed, name=f"{self.name}/seed_generator")

    def call(self, inputs, training=True):
        check_images(type(self).__name__, inputs)
        if not training:
            return inputs
        inputs = cast_integer_inputs(jnp.asarray(inputs), self.compute_dtype)
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


def factor_bounds(layer, name, factor, unit=""):
    """(lower, upper) of a Keras factor argument: a number f means (-|f|, |f|), a pair is
    taken as (lower, upper); anything else, or lower > upper, is a ValueError."""
    if is_number(factor):
        lower, upper = -abs(float(factor)), abs(float(factor))
    elif isinstance(factor, (tuple, list)) and len(factor) == 2 and all(
            is_number(f) for f in factor):
        lower, upper = float(factor[0]), float(factor[1])
    else:
        raise ValueError(f"{layer}: {name} must be a number or a (lower, upper) pair{unit}; "
                         f"received {factor!r}")
    if upper < lower:
        raise ValueError(f"{layer}: {name}'s lower bound must not exceed its upper one; "
                         f"received {factor!r}")
    return lower, upper


def json_factor(factor):
    """A factor as its config keeps it: a float, or a [lower, upper] list of floats."""
    if isinstance(factor, (tuple, list)):
        return [float(f) for f in factor]
    return float(factor)


def is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def rotate(images, angles, fill_mode="reflect", interpolation="bilinear", fill_value=0.0):
    """`images` (n, h, w, c) rotated counter-clockwise by `angles` (n,) radians about
    their centres: Keras 2's rotation matrix maps each output pixel to its source."""
    _, h, w, _ = images.shape
    transforms = rotation_transforms(jnp.asarray(angles, jnp.float32), h, w)
    return transform(images, transforms, fill_mode, interpolation, fill_value)


class _GeometricLayer(_RandomImageLayer):
    """Shared arguments of the layers that resample through a projective transform."""

    def __init__(self, fill_mode, interpolation, seed, fill_value, **kwargs):
        check_fill_mode_and_interpolation(type(self).__name__, fill_mode, interpolation)
        if not is_number(fill_value):
            raise ValueError(f"{type(self).__name__}: fill_value must be a number; received "
                             f"{fill_value!r}")
        super().__init__(seed=seed, **kwargs)
        self.fill_mode, self.interpolation = fill_mode, interpolation
        self.fill_value = float(fill_value)

    def _augment(self, images, key):
        _, h, w, _ = images.shape
        return transform(images, self._transforms(key, images.shape[0], h, w),
                         self.fill_mode, self.interpolation, self.fill_value)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


class RandomRotation(_GeometricLayer):
    """Rotates each image by an angle drawn uniformly from factor * 2 pi (a number f means
    [-f, f]); positive turns counter-clockwise. Pixels from outside follow `fill_mode`."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        self.lower, self.upper = factor_bounds("RandomRotation", "factor", factor,
                                               " of fractions of 2 pi")
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor = json_factor(factor)

    def _transforms(self, key, n, h, w):
        angles = jax.random.uniform(key, (n,), jnp.float32, self.lower * 2 * math.pi,
                                    self.upper * 2 * math.pi)
        return rotation_transforms(angles, h, w)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _check_within(layer, name, factor, bounds, low, high):
    if not (low <= bounds[0] and bounds[1] <= high):
        raise ValueError(f"{layer}: {name} must have values in [{low}, {high}]; received "
                         f"{factor!r}")


class RandomZoom(_GeometricLayer):
    """Zooms each image about its centre by 1 + f, f drawn per image from `height_factor`
    (and `width_factor`, else the same zoom both ways): f > 0 zooms out, f < 0 zooms in."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        self.height_lower, self.height_upper = factor_bounds(
            "RandomZoom", "height_factor", height_factor)
        _check_within("RandomZoom", "height_factor", height_factor,
                      (self.height_lower, self.height_upper), -1.0, 1.0)
        if width_factor is not None:
            self.width_lower, self.width_upper = factor_bounds(
                "RandomZoom", "width_factor", width_factor)
            # Keras 2 bounds only the zoom-in side of the width (a zoom of 0 or less)
            _check_within("RandomZoom", "width_factor", width_factor,
                          (self.width_lower, self.width_upper), -1.0, math.inf)
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor = json_factor(height_factor)
        self.width_factor = None if width_factor is None else json_factor(width_factor)

    def _transforms(self, key, n, h, w):
        height_key, width_key = jax.random.split(key)
        y_zooms = jax.random.uniform(height_key, (n,), jnp.float32, 1.0 + self.height_lower,
                                     1.0 + self.height_upper)
        x_zooms = y_zooms if self.width_factor is None else jax.random.uniform(
            width_key, (n,), jnp.float32, 1.0 + self.width_lower, 1.0 + self.width_upper)
        return zoom_transforms(x_zooms, y_zooms, h, w)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


class RandomTranslation(_GeometricLayer):
    """Shifts each image by fractions of its height and width drawn per image from
    `height_factor` and `width_factor` (positive moves down and right)."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        self.height_lower, self.height_upper = factor_bounds(
            "RandomTranslation", "height_factor", height_factor)
        _check_within("RandomTranslation", "height_factor", height_factor,
                      (self.height_lower, self.height_upper), -1.0, 1.0)
        self.width_lower, self.width_upper = factor_bounds(
            "RandomTranslation", "width_factor", width_factor)
        _check_within("RandomTranslation", "width_factor", width_factor,
                      (self.width_lower, self.width_upper), -1.0, 1.0)
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor = json_factor(height_factor)
        self.width_factor = json_factor(width_factor)

    def _transforms(self, key, n, h, w):
        height_key, width_key = jax.random.split(key)
        dy = jax.random.uniform(height_key, (n,), jnp.float32, self.height_lower,
                                self.height_upper) * h
        dx = jax.random.uniform(width_key, (n,), jnp.float32, self.width_lower,
                                self.width_upper) * w
        return translation_transforms(dx, dy)

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


def _refused(name, axis, zoom):
    class Refused:
        def __init__(self, *args, **kwargs):
            raise NotImplementedError(
                f"keras.layers.{name} is not supported in xlaflow: its output {axis} changes "
                f"from call to call, which a compiled (jit) program cannot have; use "
                f"keras.layers.Resizing for a fixed size, or keras.layers.RandomZoom({zoom}) "
                f"to rescale the {axis} randomly at a fixed shape")
    Refused.__name__ = Refused.__qualname__ = name
    Refused.__doc__ = f"Keras' {name}: refused (its output shape is random); use RandomZoom"
    return Refused


RandomHeight = _refused("RandomHeight", "height", "height_factor=factor, width_factor=0.0")
RandomWidth = _refused("RandomWidth", "width", "height_factor=0.0, width_factor=factor")
