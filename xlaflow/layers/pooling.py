"""Pooling (channels last or first): MaxPooling1D/2D, AveragePooling1D/2D, GlobalAveragePooling1D/2D
and GlobalMaxPooling1D/2D. The 1-D and 2-D layers share one windowed implementation."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from xlaflow.layers import _data_format
from xlaflow.layers.base import Layer
from xlaflow.layers.conv import _padding, _tuple
from xlaflow.layers.input_casting import cast_integer_inputs


class _Pooling(Layer):
    rank = None

    def __init__(self, pool_size, strides, padding, data_format, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format.resolve(type(self).__name__, data_format)
        self.pool_size = _tuple(pool_size, self.rank, "pool_size")
        self.strides = _tuple(strides, self.rank, "strides") if strides is not None \
            else self.pool_size
        self.padding = _padding(padding)

    def _window(self, inputs, init, op):
        _check_rank(self, inputs)
        return jax.lax.reduce_window(inputs, init, op,
                                     _data_format.per_axis(self.data_format, self.pool_size),
                                     _data_format.per_axis(self.data_format, self.strides),
                                     self.padding.upper())

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding,
                "data_format": self.data_format}


def _check_rank(layer, inputs):
    if inputs.ndim != layer.rank + 2:
        raise ValueError(f"{layer.name} expects inputs of rank {layer.rank + 2} "
                         f"{_data_format.describe(layer.data_format, layer.rank)}; "
                         f"received shape {tuple(inputs.shape)}")


class _Max:
    def call(self, inputs):
        return self._window(inputs, -jnp.inf, jax.lax.max)


class _Average:
    """The mean of each window; with 'same' padding only real elements count (as Keras)."""

    def call(self, inputs):
        inputs = cast_integer_inputs(inputs, self.compute_dtype)  # a uint8 sum would wrap
        total = self._window(inputs, 0.0, jax.lax.add)
        if self.padding == "valid":
            return total / math.prod(self.pool_size)
        ones = jnp.ones(_data_format.per_axis(
            self.data_format, _data_format.spatial_shape(self.data_format, inputs.shape)),
            inputs.dtype)
        return total / self._window(ones, 0.0, jax.lax.add)


class _Pooling1D(_Pooling):
    rank = 1

    def __init__(self, pool_size=2, strides=None, padding="valid",
                 data_format="channels_last", **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _Pooling2D(_Pooling):
    rank = 2

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling1D(_Max, _Pooling1D):
    """The maximum of each pool_size window of (batch, steps, features)."""


class AveragePooling1D(_Average, _Pooling1D):
    """The mean of each window of (batch, steps, features); with 'same' padding only real
    elements count (as Keras)."""


class MaxPooling2D(_Max, _Pooling2D):
    """The maximum of each pool_size window."""


class AveragePooling2D(_Average, _Pooling2D):
    """The mean of each window; with 'same' padding only real elements count (as Keras)."""


class _GlobalPooling(Layer):
    rank = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format.resolve(type(self).__name__, data_format)
        self.keepdims = bool(keepdims)

    def _axes(self, inputs):
        _check_rank(self, inputs)
        return _data_format.spatial_axes(self.data_format, inputs.ndim)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling):
    """The mean over the steps: (batch, features), or keepdims (batch, 1, features). A
    `mask` (batch, steps) of the steps to count may be passed to the call (a model passes
    the mask of its input, as Keras 2); the output has no mask."""

    rank = 1
    supports_masking = True
    _per_value = "masked"  # a RaggedTensor runs padded, with its mask (ragged_calls)

    def __init__(self, data_format="channels_last", keepdims=False, **kwargs):
        super().__init__(data_format, keepdims, **kwargs)

    def call(self, inputs, mask=None):
        axes = self._axes(inputs)
        if mask is None:
            return jnp.mean(inputs, axis=axes, keepdims=self.keepdims)
        weights = jnp.expand_dims(jnp.asarray(mask, inputs.dtype),
                                  _data_format.channel_axis(self.data_format))
        return (jnp.sum(inputs * weights, axis=axes, keepdims=self.keepdims)
                / jnp.sum(weights, axis=axes, keepdims=self.keepdims))

    def compute_mask(self, inputs, mask=None):
        return None  # the steps are averaged away


class GlobalAveragePooling2D(_GlobalPooling):
    """The mean over height and width: (batch, channels), or keepdims (batch, 1, 1, ch)."""

    rank = 2

    def call(self, inputs):
        return jnp.mean(inputs, axis=self._axes(inputs), keepdims=self.keepdims)


class GlobalMaxPooling1D(_GlobalPooling):
    """The maximum over the steps: (batch, features), or keepdims (batch, 1, features).
    As Keras 2, it does not support masking: masked steps count, and the mask stops."""

    rank = 1

    def __init__(self, data_format="channels_last", keepdims=False, **kwargs):
        super().__init__(data_format, keepdims, **kwargs)

    def call(self, inputs):
        return jnp.max(inputs, axis=self._axes(inputs), keepdims=self.keepdims)


class GlobalMaxPooling2D(_GlobalPooling):
    """The maximum over height and width: (batch, channels), or keepdims (batch, 1, 1, ch)."""

    rank = 2

    def call(self, inputs):
        return jnp.max(inputs, axis=self._axes(inputs), keepdims=self.keepdims)
