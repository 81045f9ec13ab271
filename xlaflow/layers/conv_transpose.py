"""Transposed convolutions Conv1DTranspose and Conv2DTranspose (channels-last): the
gradient of a convolution with respect to its input, as Keras 2 computes them through
tf.nn.conv2d_transpose, written as one lax.conv_general_dilated of the stride-dilated input
with the spatially flipped kernel."""

from __future__ import annotations

import jax

from xlaflow.layers.conv import _FilterConv
from xlaflow.layers.input_casting import cast_integer_inputs


def deconv_output_length(length, kernel_size, padding, output_padding, stride, dilation):
    """Keras' `conv_utils.deconv_output_length` (paddings 'valid' and 'same')."""
    if length is None:
        return None
    kernel_size = (kernel_size - 1) * dilation + 1
    if output_padding is None:
        return length * stride + (max(kernel_size - stride, 0) if padding == "valid" else 0)
    pad = kernel_size // 2 if padding == "same" else 0
    return (length - 1) * stride + kernel_size - 2 * pad + output_padding


class _ConvTranspose(_FilterConv):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate,
                         activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, **kwargs)
        name = type(self).__name__
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise NotImplementedError(
                f"{name}: strides={list(self.strides)} with dilation_rate="
                f"{list(self.dilation_rate)} is not supported (nor by Keras 2 on CPU); use "
                "dilation_rate=1, or strides=1 with the dilation")
        if output_padding is None:
            self.output_padding = None
        else:
            self.output_padding = tuple(
                int(p) for p in ((output_padding,) * self.rank
                                 if isinstance(output_padding, int) else output_padding))
            if len(self.output_padding) != self.rank or any(
                    not 0 <= p < s for p, s in zip(self.output_padding, self.strides)):
                raise ValueError(
                    f"{name}: output_padding must be None or {self.rank} int(s), each >= 0 "
                    f"and smaller than its stride (strides={list(self.strides)}); received "
                    f"{output_padding!r}")

    def _kernel_shape(self, channels):
        return (*self.kernel_size, self.filters, channels)  # Keras: (..., out, in)

    def build(self, input_shape):
        super().build(input_shape)
        if None not in self._spatial(input_shape):  # raises now for sizes it cannot produce
            self._spatial_padding(self._spatial(input_shape))

    def _output_lengths(self, lengths):
        padding = self.output_padding or (None,) * self.rank
        return tuple(deconv_output_length(n, k, self.padding, p, s, d) for n, k, p, s, d in zip(
            lengths, self.kernel_size, padding, self.strides, self.dilation_rate))

    def _spatial_padding(self, lengths):
        """(low, high) padding of the stride-dilated input, per spatial axis, so that the
        convolution with the flipped kernel gives the adjoint of the forward convolution
        (TensorFlow's padding of that forward convolution over the output length)."""
        pairs = []
        for n, out, k, s, d in zip(lengths, self._output_lengths(lengths), self.kernel_size,
                                   self.strides, self.dilation_rate):
            k = (k - 1) * d + 1
            before = 0
            if self.padding == "same":
                if -(-out // s) != n:  # TensorFlow refuses this output_padding as well
                    raise ValueError(
                        f"{self.name}: output_padding={list(self.output_padding)} with "
                        f"padding='same', kernel_size={list(self.kernel_size)} and strides="
                        f"{list(self.strides)} gives an output length {out} whose 'same' "
                        f"convolution has length {-(-out // s)}, not the input's {n}; use "
                        "output_padding=None or another value")
                before = max((n - 1) * s + k - out, 0) // 2
            low = k - 1 - before
            pairs.append((low, out + k - 2 - (n - 1) * s - low))
        return pairs

    def call(self, inputs):
        inputs = cast_integer_inputs(inputs, self.compute_dtype)  # as Conv: no wrapping sums
        kernel = self.kernel.value.astype(inputs.dtype)
        # (..., out, in) flipped in space is the forward kernel of the adjoint: (..., in, out)
        kernel = jax.numpy.flip(kernel, axis=tuple(range(self.rank))).swapaxes(-1, -2)
        outputs = jax.lax.conv_general_dilated(
            inputs, kernel, (1,) * self.rank, self._spatial_padding(self._spatial(inputs.shape)),
            lhs_dilation=self.strides, rhs_dilation=self.dilation_rate,
            dimension_numbers=self.dimension_numbers)
        return self._finish(outputs)

    def get_config(self):
        return {**super().get_config(), "output_padding": None if self.output_padding is None
                else list(self.output_padding)}


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-D convolution over (batch, steps, channels); kernel
    (width, filters, in)."""

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-D convolution over (batch, height, width, channels); kernel
    (h, w, filters, in). Output size per axis (Keras' deconv_output_length): 'valid'
    `n * stride + max(k - stride, 0)`, 'same' `n * stride`; with output_padding p,
    `(n - 1) * stride + k - 2 * pad + p` (pad = k // 2 for 'same', 0 for 'valid')."""

    rank = 2
