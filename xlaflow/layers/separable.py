"""Depthwise and depthwise-separable 2-D convolutions (channels last or first): DepthwiseConv2D and
SeparableConv2D, as lax.conv_general_dilated with one feature group per input channel."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow import initializers as initializers_lib
from xlaflow.layers import _data_format
from xlaflow.layers.conv import _Conv, _positive
from xlaflow.layers.input_casting import cast_integer_inputs


class _Depthwise(_Conv):
    """A depthwise convolution: each input channel convolved with its own `depth_multiplier`
    filters; output channel `c * depth_multiplier + m` (TensorFlow's order)."""

    rank = 2

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, **kwargs)
        self.depth_multiplier = _positive(type(self).__name__, "depth_multiplier",
                                          depth_multiplier)
        self.depthwise_initializer = initializers_lib.get(depthwise_initializer)

    def _add_depthwise_kernel(self, input_shape):
        self._check_rank(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel",
            (*self.kernel_size, self._channels(input_shape), self.depth_multiplier),
            initializer=self.depthwise_initializer)
        return self._channels(input_shape) * self.depth_multiplier

    def _depthwise(self, inputs):
        # An integer input becomes the compute dtype first, as in Conv: no wrapping sums.
        inputs = cast_integer_inputs(inputs, self.compute_dtype)
        kernel = self.depthwise_kernel.value.astype(inputs.dtype)
        channels = kernel.shape[-2]
        # (h, w, in, mult) -> (h, w, 1, in * mult): group c makes outputs c * mult + m
        kernel = kernel.reshape((*kernel.shape[:-2], 1, channels * kernel.shape[-1]))
        return jax.lax.conv_general_dilated(
            inputs, kernel, self.strides, self._lax_padding(),
            rhs_dilation=self.dilation_rate, dimension_numbers=self.dimension_numbers,
            feature_group_count=channels)

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers_lib.serialize(self.depthwise_initializer)}


class DepthwiseConv2D(_Depthwise):
    """Depthwise 2-D convolution over (batch, height, width, channels): depthwise_kernel
    (h, w, in, depth_multiplier), bias (in * depth_multiplier,)."""

    _penalty_arguments = ("depthwise_regularizer", "bias_regularizer", "activity_regularizer",
                          "depthwise_constraint", "bias_constraint")

    def build(self, input_shape):
        self._add_bias(self._add_depthwise_kernel(input_shape))
        self.built = True

    def call(self, inputs):
        return self._finish(self._depthwise(inputs))


class SeparableConv2D(_Depthwise):
    """A depthwise convolution (strides and dilation apply here) then a 1x1 convolution to
    `filters` channels: depthwise_kernel (h, w, in, depth_multiplier), pointwise_kernel
    (1, 1, in * depth_multiplier, filters), bias (filters,)."""

    _penalty_arguments = ("depthwise_regularizer", "pointwise_regularizer", "bias_regularizer",
                          "activity_regularizer", "depthwise_constraint",
                          "pointwise_constraint", "bias_constraint")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding,
                         depth_multiplier=depth_multiplier, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        self.filters = _positive(type(self).__name__, "filters", filters)
        self.pointwise_initializer = initializers_lib.get(pointwise_initializer)

    def build(self, input_shape):
        width = self._add_depthwise_kernel(input_shape)
        self.pointwise_kernel = self.add_weight("pointwise_kernel", (1, 1, width, self.filters),
                                                initializer=self.pointwise_initializer)
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs):
        depthwise = self._depthwise(inputs)
        pointwise = self.pointwise_kernel.value.astype(depthwise.dtype)[0, 0]  # a 1x1 conv
        if self.data_format == _data_format.FIRST:
            return self._finish(jnp.moveaxis(
                jnp.tensordot(depthwise, pointwise, axes=[[1], [0]]), -1, 1))
        return self._finish(depthwise @ pointwise)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "pointwise_initializer": initializers_lib.serialize(self.pointwise_initializer)}
