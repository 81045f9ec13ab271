"""Keras 2's colour augmentation layers RandomContrast and RandomBrightness: random in
training (keys from the layer's SeedGenerator Variable), identity otherwise.

As in Keras 2, RandomContrast draws one factor per call (tf.image.random_contrast's) and
clips to [0, 255]; RandomBrightness draws one shift per image and clips to `value_range`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow.layers.augmentation import _RandomImageLayer, is_number, json_factor


class RandomContrast(_RandomImageLayer):
    """`(x - mean) * f + mean` per image and channel (mean over height and width), with one
    f drawn per call from [1 - lower, 1 + upper] (a number means lower = upper = factor)."""

    def __init__(self, factor, seed=None, **kwargs):
        if is_number(factor):
            lower = upper = float(factor)
        elif isinstance(factor, (tuple, list)) and len(factor) == 2 and all(
                is_number(f) for f in factor):
            lower, upper = float(factor[0]), float(factor[1])
        else:
            raise ValueError(f"RandomContrast: factor must be a number or a (lower, upper) "
                             f"pair; received {factor!r}")
        if lower < 0.0 or upper < 0.0 or lower > 1.0:
            raise ValueError(f"RandomContrast: factor must have values >= 0, and a lower "
                             f"bound <= 1 (the factor is drawn from [1 - lower, 1 + upper]); "
                             f"received {factor!r}")
        super().__init__(seed=seed, **kwargs)
        self.lower, self.upper = lower, upper
        self.factor = json_factor(factor)

    def _factors(self, key, n):
        """The contrast factor of a call: one scalar for the whole batch, as Keras 2."""
        del n
        return jax.random.uniform(key, (), jnp.float32, 1.0 - self.lower, 1.0 + self.upper)

    def _augment(self, images, key):
        factor = self._factors(key, images.shape[0])
        x = images.astype(jnp.float32)
        mean = jnp.mean(x, axis=(1, 2), keepdims=True)
        return jnp.clip((x - mean) * factor + mean, 0.0, 255.0).astype(images.dtype)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _pair(name, value):
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(
            is_number(v) for v in value)):
        raise ValueError(f"RandomBrightness: {name} must be a (lower, upper) pair of "
                         f"numbers; received {value!r}")
    return sorted(float(v) for v in value)


class RandomBrightness(_RandomImageLayer):
    """Adds `delta * (high - low)` to each image, delta drawn per image from `factor` (a
    number f means [-f, f], in [-1, 1]), then clips to `value_range` = (low, high)."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        bounds = [factor, factor] if is_number(factor) else factor
        lower, upper = _pair("factor", bounds)
        if is_number(factor):
            lower, upper = -abs(lower), abs(upper)
        if lower < -1.0 or upper > 1.0:
            raise ValueError(f"RandomBrightness: factor must have values in [-1, 1]; "
                             f"received {factor!r}")
        low, high = _pair("value_range", value_range)
        super().__init__(seed=seed, **kwargs)
        self.lower, self.upper = lower, upper
        self.factor = json_factor(factor)
        self.value_range = [low, high]

    def _factors(self, key, n):
        """The brightness shift of each image, as a fraction of the value range."""
        return jax.random.uniform(key, (n, 1, 1, 1), jnp.float32, self.lower, self.upper)

    def _augment(self, images, key):
        low, high = self.value_range
        delta = self._factors(key, images.shape[0]) * (high - low)
        out = jnp.clip(images.astype(jnp.float32) + delta, low, high)
        return out.astype(images.dtype)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor,
                "value_range": self.value_range}
