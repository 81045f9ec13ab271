"""Convolutions Conv1D, Conv2D and Conv3D (channels last or first), through
lax.conv_general_dilated,
and the argument handling the other convolution layers (conv_transpose.py, separable.py)
share."""

from __future__ import annotations

import numbers

import jax

from xlaflow import activations as activations_lib
from xlaflow import initializers as initializers_lib
from xlaflow.layers import _data_format
from xlaflow.layers.base import Layer
from xlaflow.layers.input_casting import cast_integer_inputs


def _tuple(value, rank, name):
    value = (value,) * rank if isinstance(value, int) else tuple(value)
    if len(value) != rank or any(int(v) <= 0 for v in value):
        raise ValueError(f"{name} must be a positive int or a tuple of {rank} positive ints; "
                         f"received {value!r}")
    return tuple(int(v) for v in value)


def _padding(padding):
    padding = padding.lower() if isinstance(padding, str) else padding
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same'; received {padding!r}")
    return padding


def _positive(layer, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive integer; received {value!r}")
    return int(value)


class _Conv(Layer):
    """Base of every convolution layer (the trainer looks for it): the arguments they share (kernel_size, strides, padding, data_format,
    dilation_rate, activation, use_bias, bias_initializer), the input-rank check and the
    bias-then-activation epilogue."""

    rank = None
    _causal = False  # padding='causal' accepted (Keras 2: Conv1D and SeparableConv1D only)
    _grouped = False  # groups > 1 accepted (Keras 2: Conv1D/2D/3D)

    def __init__(self, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, bias_initializer="zeros",
                 **kwargs):
        groups = kwargs.pop("groups", 1)  # in every Keras 2 conv config
        if not self._grouped and groups != 1:
            raise NotImplementedError(
                f"{type(self).__name__}: groups={groups!r} is not supported (1 is accepted; "
                "Conv1D/2D/3D take groups); split the channels and concatenate separate "
                "convolutions instead")
        self.groups = _positive(type(self).__name__, "groups", groups)
        super().__init__(**kwargs)
        self.data_format = _data_format.resolve(type(self).__name__, data_format)
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size")
        self.strides = _tuple(strides, self.rank, "strides")
        self.dilation_rate = _tuple(dilation_rate, self.rank, "dilation_rate")
        self.padding = self._conv_padding(padding)
        self.activation = activations_lib.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers_lib.get(bias_initializer)

    def _conv_padding(self, padding):
        """'valid', 'same', or 'causal' where the layer takes it; Keras 2's Conv refuses
        causal for every other convolution with this message."""
        if isinstance(padding, str) and padding.lower() == "causal":
            if not self._causal:
                raise ValueError(
                    f"{type(self).__name__}: Causal padding is only supported for `Conv1D` "
                    f"and `SeparableConv1D`; received padding={padding!r}")
            return "causal"
        return _padding(padding)

    def _lax_padding(self):
        """The padding argument of lax.conv_general_dilated: 'causal' pads the time axis on
        the left only, by dilation_rate * (kernel_size - 1), then convolves 'valid' (Keras
        2's _compute_causal_padding), so output step t sees only inputs up to step t."""
        if self.padding == "causal":
            return [(self.dilation_rate[0] * (self.kernel_size[0] - 1), 0)]
        return self.padding.upper()

    @property
    def dimension_numbers(self):
        return _data_format.dimension_numbers(self.data_format, self.rank)

    def _check_rank(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{self.name} expects inputs of rank {self.rank + 2} "
                             f"{_data_format.describe(self.data_format, self.rank)}; "
                             f"received shape {input_shape}")

    def _channels(self, shape):
        return shape[_data_format.channel_axis(self.data_format)]

    def _spatial(self, shape):
        return _data_format.spatial_shape(self.data_format, shape)

    def _add_bias(self, width):
        self.bias = self.add_weight("bias", (width,), initializer=self.bias_initializer) \
            if self.use_bias else None

    def _finish(self, outputs):
        if self.bias is not None:
            bias = self.bias.value
            if self.data_format == _data_format.FIRST:
                bias = bias.reshape((-1,) + (1,) * self.rank)
            outputs = outputs + bias
        return self.activation(outputs)

    def get_config(self):
        return {**super().get_config(), "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding,
                "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
                "activation": activations_lib.serialize(self.activation),
                "use_bias": self.use_bias,
                "bias_initializer": initializers_lib.serialize(self.bias_initializer)}


class _FilterConv(_Conv):
    _penalty_arguments = ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                          "kernel_constraint", "bias_constraint")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, **kwargs)
        self.filters = _positive(type(self).__name__, "filters", filters)
        if self.filters % self.groups:
            raise ValueError(f"{type(self).__name__}: the number of filters must be evenly "
                             f"divisible by the number of groups; received groups="
                             f"{self.groups}, filters={self.filters}")
        self.kernel_initializer = initializers_lib.get(kernel_initializer)

    def _kernel_shape(self, channels):
        return (*self.kernel_size, channels // self.groups, self.filters)

    def build(self, input_shape):
        self._check_rank(input_shape)
        channels = self._channels(input_shape)
        if channels % self.groups:
            raise ValueError(f"{self.name}: the number of input channels must be evenly "
                             f"divisible by the number of groups; received groups="
                             f"{self.groups}, but the input has {channels} channels (full "
                             f"input shape {tuple(input_shape)})")
        self.kernel = self.add_weight("kernel", self._kernel_shape(channels),
                                      initializer=self.kernel_initializer)
        self._add_bias(self.filters)
        self.built = True

    def call(self, inputs):
        # The kernel is cast to the input's dtype below (a float16 input stays float16), so
        # an integer input must first become the compute dtype, or the sums wrap.
        inputs = cast_integer_inputs(inputs, self.compute_dtype)
        outputs = jax.lax.conv_general_dilated(
            inputs, self.kernel.value.astype(inputs.dtype), self.strides,
            self._lax_padding(), rhs_dilation=self.dilation_rate,
            dimension_numbers=self.dimension_numbers, feature_group_count=self.groups)
        return self._finish(outputs)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "groups": self.groups,
                "kernel_initializer": initializers_lib.serialize(self.kernel_initializer)}


class Conv1D(_FilterConv):
    """1-D convolution over (batch, steps, channels); kernel (width, in, filters).
    padding='causal' (as Keras 2) makes output step t depend on input steps <= t only."""

    rank = 1
    _causal = True
    _grouped = True

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", **kwargs):
        # Keras 2's Conv1D defaults to channels_last, not to image_data_format()
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, **kwargs)


class Conv2D(_FilterConv):
    """2-D convolution over (batch, height, width, channels); kernel (h, w, in, filters).
    With `groups` g, the channels split into g groups convolved separately: kernel
    (h, w, in / g, filters), group k's filters seeing group k's channels (as Keras)."""

    rank = 2
    _grouped = True


class Conv3D(_FilterConv):
    """3-D convolution over (batch, depth, height, width, channels); kernel
    (d, h, w, in, filters)."""

    rank = 3
    _grouped = True
