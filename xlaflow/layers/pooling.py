"""Pooling: MaxPooling2D, AveragePooling2D and GlobalAveragePooling2D (channels-last)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow.layers.base import Layer, cast_integer_inputs
from xlaflow.layers.conv import _channels_last, _padding, _tuple


class _Pooling2D(Layer):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format)
        self.pool_size = _tuple(pool_size, 2, "pool_size")
        self.strides = _tuple(strides, 2, "strides") if strides is not None else self.pool_size
        self.padding = _padding(padding)

    def _window(self, inputs, init, op):
        return jax.lax.reduce_window(inputs, init, op, (1, *self.pool_size, 1),
                                     (1, *self.strides, 1), self.padding.upper())

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding,
                "data_format": "channels_last"}


class MaxPooling2D(_Pooling2D):
    """The maximum of each pool_size window."""

    def call(self, inputs):
        return self._window(inputs, -jnp.inf, jax.lax.max)


class AveragePooling2D(_Pooling2D):
    """The mean of each window; with 'same' padding only real elements count (as Keras)."""

    def call(self, inputs):
        inputs = cast_integer_inputs(inputs, self.compute_dtype)  # a uint8 sum would wrap
        total = self._window(inputs, 0.0, jax.lax.add)
        if self.padding == "valid":
            return total / (self.pool_size[0] * self.pool_size[1])
        counts = self._window(jnp.ones(inputs.shape[1:3] + (1,), inputs.dtype)[None], 0.0,
                              jax.lax.add)
        return total / counts


class GlobalAveragePooling2D(Layer):
    """The mean over height and width: (batch, channels), or keepdims (batch, 1, 1, ch)."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format)
        self.keepdims = bool(keepdims)

    def call(self, inputs):
        return jnp.mean(inputs, axis=(1, 2), keepdims=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last",
                "keepdims": self.keepdims}
