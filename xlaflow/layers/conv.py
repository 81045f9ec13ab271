"""Convolutions: Conv1D and Conv2D (channels-last), through lax.conv_general_dilated."""

from __future__ import annotations

import jax

from xlaflow import activations as activations_lib
from xlaflow import initializers as initializers_lib
from xlaflow.layers.base import Layer, cast_integer_inputs


def _tuple(value, rank, name):
    value = (value,) * rank if isinstance(value, int) else tuple(value)
    if len(value) != rank or any(int(v) <= 0 for v in value):
        raise ValueError(f"{name} must be a positive int or a tuple of {rank} positive ints; "
                         f"received {value!r}")
    return tuple(int(v) for v in value)


def _padding(padding):
    padding = padding.lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same'; received {padding!r}")
    return padding


def _channels_last(data_format):
    if data_format not in (None, "channels_last"):
        raise NotImplementedError(
            f"data_format={data_format!r}: xlaflow layers are channels-last; transpose the "
            "input (jnp.moveaxis(x, 1, -1)) and use the default")


class _Conv(Layer):
    _penalty_arguments = ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                          "kernel_constraint", "bias_constraint")  # None only
    rank = None
    dimension_numbers = None

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format)
        if int(filters) <= 0:
            raise ValueError(f"{type(self).__name__}: filters must be positive; received "
                             f"{filters!r}")
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size")
        self.strides = _tuple(strides, self.rank, "strides")
        self.dilation_rate = _tuple(dilation_rate, self.rank, "dilation_rate")
        self.padding = _padding(padding)
        self.activation = activations_lib.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers_lib.get(kernel_initializer)
        self.bias_initializer = initializers_lib.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{self.name} expects inputs of rank {self.rank + 2} (batch, "
                             f"{'spatial, ' * self.rank}channels); received shape "
                             f"{input_shape}")
        self.kernel = self.add_weight("kernel", (*self.kernel_size, input_shape[-1],
                                                 self.filters),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.filters,),
                                    initializer=self.bias_initializer) if self.use_bias else None
        self.built = True

    def call(self, inputs):
        # The kernel is cast to the input's dtype below (a float16 input stays float16), so
        # an integer input must first become the compute dtype, or the sums wrap.
        inputs = cast_integer_inputs(inputs, self.compute_dtype)
        outputs = jax.lax.conv_general_dilated(
            inputs, self.kernel.value.astype(inputs.dtype), self.strides,
            self.padding.upper(), rhs_dilation=self.dilation_rate,
            dimension_numbers=self.dimension_numbers)
        if self.bias is not None:
            outputs = outputs + self.bias.value
        return self.activation(outputs)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": "channels_last",
                "dilation_rate": list(self.dilation_rate),
                "activation": activations_lib.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers_lib.serialize(self.kernel_initializer),
                "bias_initializer": initializers_lib.serialize(self.bias_initializer)}


class Conv1D(_Conv):
    """1-D convolution over (batch, steps, channels); kernel (width, in, filters)."""

    rank = 1
    dimension_numbers = ("NWC", "WIO", "NWC")


class Conv2D(_Conv):
    """2-D convolution over (batch, height, width, channels); kernel (h, w, in, filters)."""

    rank = 2
    dimension_numbers = ("NHWC", "HWIO", "NHWC")

