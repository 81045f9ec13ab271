"""Regularization noise, active only when called with training=True (identity otherwise):
GaussianNoise, GaussianDropout, SpatialDropout1D, SpatialDropout2D and AlphaDropout.

Their random keys come from a SeedGenerator Variable, as Dropout's: reproducible given
`seed`, fresh at every step under jit and in fit, and unchanged in inference.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp

from xlaflow.layers import _data_format
from xlaflow.layers.base import Layer
from xlaflow.layers.core import Dropout
from xlaflow.layers.input_casting import cast_integer_inputs
from xlaflow.random import SeedGenerator, drawn_flat


def _check(layer, name, value, ok, expected):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not ok(value):
        raise ValueError(f"{layer}: {name} must be {expected}; received {value!r}")
    return float(value)


class _Noise(Layer):
    supports_masking = True  # the input mask goes on to the output (Keras 2)

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = SeedGenerator(seed, name=f"{self.name}/seed_generator")

    def call(self, inputs, training=None):
        if not training or self._inactive():
            return inputs
        inputs = cast_integer_inputs(inputs, self.compute_dtype)
        return self._noisy(inputs, self.seed_generator.next())

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class GaussianNoise(_Noise):
    """Adds zero-centered normal noise of standard deviation `stddev` in training."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = _check("GaussianNoise", "stddev", stddev, lambda s: s >= 0,
                             "a number >= 0")

    def _inactive(self):
        return self.stddev == 0

    def _noisy(self, inputs, key):
        noise = drawn_flat(lambda k, s: jax.random.normal(k, s, inputs.dtype), key,
                           inputs.shape)
        return inputs + self.stddev * noise

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev}


class GaussianDropout(_Noise):
    """Multiplies inputs by normal noise of mean 1 and standard deviation
    sqrt(rate / (1 - rate)) in training."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _check("GaussianDropout", "rate", rate, lambda r: 0 <= r < 1,
                           "a number in [0, 1)")

    def _inactive(self):
        return self.rate == 0

    def _noisy(self, inputs, key):
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noise = drawn_flat(lambda k, s: jax.random.normal(k, s, inputs.dtype), key,
                           inputs.shape)
        return inputs * (1.0 + stddev * noise)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


class _SpatialDropout(Dropout):
    """Dropout of whole channels: one keep/drop draw per (example, channel), shared by all
    the steps or pixels; kept channels are scaled by 1 / (1 - rate)."""

    rank = None

    def __init__(self, rate, noise_shape=None, **kwargs):
        name = type(self).__name__
        _check(name, "rate", rate, lambda r: 0 <= r < 1, "a number in [0, 1)")
        if noise_shape is not None:  # Keras' config of a spatial dropout holds None
            raise ValueError(f"{name}: noise_shape is fixed to (batch, {'1, ' * self.rank}"
                             f"channels) and cannot be given; received {noise_shape!r}")
        super().__init__(rate, **kwargs)
        self.data_format = _data_format.LAST  # SpatialDropout2D takes channels_first too

    def call(self, inputs, training=None):
        if inputs.ndim != self.rank + 2:
            raise ValueError(f"{self.name} expects inputs of rank {self.rank + 2} "
                             f"{_data_format.describe(self.data_format, self.rank)}; "
                             f"received shape {tuple(inputs.shape)}")
        if not training or self.rate == 0:
            return inputs
        channels = inputs.shape[_data_format.channel_axis(self.data_format)]
        shape = _data_format.per_axis(self.data_format, (1,) * self.rank, inputs.shape[0],
                                      channels)
        key = self.seed_generator.next()
        keep = drawn_flat(lambda k, s: jax.random.bernoulli(k, 1.0 - self.rate, s), key, shape)
        return jnp.where(keep, inputs / (1.0 - self.rate), jnp.zeros_like(inputs))


class SpatialDropout1D(_SpatialDropout):
    """Drops whole feature channels of (batch, steps, channels) in training."""

    rank = 1


class SpatialDropout2D(_SpatialDropout):
    """Drops whole channels (feature maps) of (batch, height, width, channels) in training."""

    rank = 2

    def __init__(self, rate, data_format=None, **kwargs):
        data_format = _data_format.resolve(type(self).__name__, data_format)
        super().__init__(rate, **kwargs)
        self.data_format = data_format

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


# SELU's constants (Klambauer et al. 2017), as Keras 2's AlphaDropout writes them
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class AlphaDropout(_Noise):
    """Dropout that keeps SELU's self-normalization: in training a `rate` fraction of the
    inputs is set to alpha' = -scale * alpha (SELU's negative saturation), then all values
    are mapped through `a * x + b` so that zero-mean, unit-variance inputs keep mean 0 and
    variance 1 (Keras 2's formula). `noise_shape` (None entries: the input's size) shares
    one keep/drop draw along its size-1 axes."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        rate = _check("AlphaDropout", "rate", rate, lambda r: 0 <= r < 1,
                      "a number in [0, 1)")
        if noise_shape is not None and (
                not isinstance(noise_shape, (list, tuple)) or not all(
                    n is None or (isinstance(n, int) and not isinstance(n, bool) and n > 0)
                    for n in noise_shape)):
            raise ValueError(f"AlphaDropout: noise_shape must be a list of positive ints (or "
                             f"None entries); received {noise_shape!r}")
        super().__init__(seed=seed, **kwargs)
        self.rate = rate
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def _inactive(self):
        return self.rate == 0

    def _shape(self, inputs):
        if self.noise_shape is None:
            return inputs.shape
        if len(self.noise_shape) != inputs.ndim:
            raise ValueError(f"{self.name}: noise_shape {self.noise_shape} must have the "
                             f"input's rank {inputs.ndim}; received input shape "
                             f"{tuple(inputs.shape)}")
        shape = tuple(s if n is None else n for s, n in zip(inputs.shape, self.noise_shape))
        if any(n not in (1, s) for n, s in zip(shape, inputs.shape)):
            raise ValueError(f"{self.name}: noise_shape {self.noise_shape} must be 1 or the "
                             f"input's size on each axis; received input shape "
                             f"{tuple(inputs.shape)}")
        return shape

    def _noisy(self, inputs, key):
        rate = self.rate
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * rate
        keep = drawn_flat(lambda k, s: jax.random.bernoulli(k, 1.0 - rate, s), key,
                          self._shape(inputs))
        return a * jnp.where(keep, inputs, jnp.asarray(alpha_p, inputs.dtype)) + b

    def get_config(self):
        noise_shape = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": noise_shape}
