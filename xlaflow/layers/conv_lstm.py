"""Keras 2's ConvLSTM1D/2D/3D: an LSTM whose products are convolutions, one lax.scan over time.

Gates i, f, c, o (Keras 2's ConvLSTMCell) come from conv(x_t, kernel) + bias +
conv(h, recurrent_kernel), the recurrent one always 'same' with stride and dilation 1; the
input convolution of every step is done at once, outside the scan. Masks, go_backwards,
stateful, initial_state and dropout/recurrent_dropout (one mask per gate, fixed for the call,
as Keras 2's DropoutRNNCellMixin with count=4) follow recurrent.py's LSTM.

With data_format='channels_first', inputs (batch, time, channels, *spatial), outputs and
states (batch, filters, *spatial) are in that layout, as Keras 2's; the steps compute
channels-last (one transpose of the inputs and of the outputs per call), so the kernels,
and dropout masks drawn from the same seed, are those of the channels-last layer.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow import activations as activations_lib
from xlaflow import initializers as initializers_lib
from xlaflow.layers import _data_format
from xlaflow.layers.base import Layer
from xlaflow.layers.conv import _padding, _positive, _tuple
from xlaflow.layers.input_casting import cast_integer_inputs
from xlaflow.layers.recurrent import _Recurrent, checked_states
from xlaflow.layers.rnn_dropout import DropoutConfig, _draw
from xlaflow.layers.rnn_stateful import StatefulStates
from xlaflow.layers.rnn_steps import forget_bias_init


def _output_length(length, kernel, padding, stride, dilation):
    """Keras 2's conv_utils.conv_output_length for 'valid' and 'same' (None stays None)."""
    if length is None:
        return None
    if padding == "valid":
        length -= (kernel - 1) * dilation
    return (length + stride - 1) // stride


class _ConvLSTM(StatefulStates, DropoutConfig, Layer):
    """Base of ConvLSTM1D/2D/3D: inputs (batch, time, *spatial, channels); kernel
    (*kernel_size, channels, 4 * filters), recurrent_kernel (*kernel_size, filters,
    4 * filters), bias (4 * filters,); states h and c (batch, *output_spatial, filters).
    channels_first: inputs (batch, time, channels, *spatial), states (batch, filters,
    *output_spatial), the same weights."""

    rank = None
    gates = 4
    supports_masking = True
    _penalty_arguments = _Recurrent._penalty_arguments
    # The masked scan step and the mask check are the LSTM's (states gain spatial axes).
    _masked_step = _Recurrent._masked_step
    _scan, _scan_steps = _Recurrent._scan, _Recurrent._scan_steps
    _time_major_mask = _Recurrent._time_major_mask

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="hard_sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, dropout=0.0, recurrent_dropout=0.0,
                 unroll=False, time_major=False, **kwargs):
        owner = type(self).__name__
        filters = _positive(owner, "filters", filters)
        data_format = _data_format.resolve(owner, data_format)
        sizes = [_tuple(value, self.rank, f"{owner}: {name}") for name, value in (
            ("kernel_size", kernel_size), ("strides", strides),
            ("dilation_rate", dilation_rate))]
        try:
            padding = _padding(padding)
        except ValueError as exc:
            raise ValueError(f"{owner}: {exc}") from None
        if unroll:  # Keras 2's ConvRNN refuses it with a TypeError too
            raise TypeError(f"{owner}: Unrolling is not possible with convolutional RNNs; "
                            f"received unroll={unroll!r}")
        if time_major:
            raise NotImplementedError(
                f"{owner}: time_major=True is not supported (Keras 2's ConvRNN ignores it); "
                "pass (batch, time, ...) inputs: jnp.swapaxes(x, 0, 1)")
        super().__init__(**kwargs)
        self.filters, self.padding, self.data_format = filters, padding, data_format
        self.kernel_size, self.strides, self.dilation_rate = sizes
        self.activation = activations_lib.get(activation)
        self.recurrent_activation = activations_lib.get(recurrent_activation)
        self.use_bias, self.unit_forget_bias = bool(use_bias), bool(unit_forget_bias)
        self.kernel_initializer = initializers_lib.get(kernel_initializer)
        self.recurrent_initializer = initializers_lib.get(recurrent_initializer)
        self.bias_initializer = initializers_lib.get(bias_initializer)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = self.time_major = False
        self.zero_output_for_mask = False  # the masked step reads it (Bidirectional's)
        self._init_stateful(stateful)
        self._init_dropout(dropout, recurrent_dropout)
        self._state_spatial = None  # the states' spatial shape, known from the inputs'

    # -- weights and shapes ----------------------------------------------------------------
    def build(self, input_shape):
        given = tuple(input_shape)
        if len(given) != self.rank + 3:
            layout = _data_format.describe(self.data_format, self.rank)
            raise ValueError(f"{self.name} expects inputs of rank {self.rank + 3} "
                             f"{layout.replace('batch', 'batch, time')}; received shape "
                             f"{given}")
        # the computation's own layout: channels last
        input_shape = (*given[:2], *given[3:], given[2]) if self._first else given
        if input_shape[-1] is None:
            raise ValueError(f"{self.name}: the channel axis of the inputs must be known; "
                             f"received shape {given}")
        self._check_batch_size(input_shape[0])
        spatial = tuple(_output_length(n, k, self.padding, s, d) for n, k, s, d in zip(
            input_shape[2:-1], self.kernel_size, self.strides, self.dilation_rate))
        if None not in spatial:
            self._state_spatial = spatial
        width = self.gates * self.filters
        self.kernel = self.add_weight("kernel", (*self.kernel_size, input_shape[-1], width),
                                      initializer=self.kernel_initializer)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (*self.kernel_size, self.filters, width),
            initializer=self.recurrent_initializer)
        bias_init = forget_bias_init(self.filters, self.bias_initializer) \
            if self.unit_forget_bias else self.bias_initializer
        self.bias = self.add_weight("bias", (width,), initializer=bias_init) \
            if self.use_bias else None
        self.built = True

    @property
    def _first(self):
        return self.data_format == _data_format.FIRST

    def _initial_states(self, batch, dtype):
        """Zero states h and c, in the layer's layout."""
        if self._state_spatial is None:
            raise ValueError(f"{self.name}: the states' shape is known once the layer is "
                             "built on inputs of known spatial size; call it first")
        shape = (batch, self.filters, *self._state_spatial) if self._first else \
            (batch, *self._state_spatial, self.filters)
        zeros = jnp.zeros(shape, dtype)
        return zeros, zeros

    @property
    def states(self):
        """The stateful layer's state Variables [h, c]; Nones otherwise."""
        return [None, None] if self._state_variables is None else list(self._state_variables)

    def _given_states(self, initial_state, zeros):
        return checked_states(self.name, initial_state, zeros,
                              "(batch, filters, *output_spatial)" if self._first else
                              "(batch, *output_spatial, filters)")

    def _to_last(self, x, axis):
        """`x` with its channel axis (`axis`) moved last, for a channels_first layer."""
        return jnp.moveaxis(x, axis, -1) if self._first else x

    def _from_last(self, x, axis):
        return jnp.moveaxis(x, -1, axis) if self._first else x

    # -- computation -----------------------------------------------------------------------
    def _conv(self, x, kernel, strides, padding, dilation, groups):
        return jax.lax.conv_general_dilated(
            x, kernel.astype(x.dtype), strides, padding, rhs_dilation=dilation,
            dimension_numbers=_data_format.dimension_numbers(_data_format.LAST, self.rank),
            feature_group_count=groups)

    def _gated(self, x, masks):
        """`x` (batch, ..., d) as the grouped convolution's input: once, or with masks
        (4, batch, ..., d) one dropped copy per gate side by side, so that gate g's
        kernel columns (group g of feature_group_count=4) see x times mask g."""
        if masks is None:
            return x, 1
        return jnp.concatenate([x * m for m in masks], axis=-1), self.gates

    def _step(self, z, states, recurrent, bias=None, rec_masks=None):
        """One step from the projected input z = conv(x_t, kernel) + bias (Keras 2's
        ConvLSTMCell.call): `bias` is unused, added to z before the scan."""
        h, c = states
        h_in, groups = self._gated(h, rec_masks)
        z = z + self._conv(h_in, recurrent, (1,) * self.rank, "SAME", (1,) * self.rank,
                           groups)
        i, f, g, o = jnp.split(z, 4, axis=-1)
        gate = self.recurrent_activation
        c = gate(f) * c + gate(i) * self.activation(g)
        return gate(o) * self.activation(c), c

    def _draw_conv_masks(self, x_shape, h_shape, dtype, training):
        """Keras 2's count=4 dropout masks of a step's inputs and of h, or None each."""
        if not training:
            return None, None
        in_masks = _draw(self._dropout_seed.next(), self.dropout, (4, *x_shape), dtype) \
            if self.dropout else None
        rec_masks = _draw(self._dropout_seed.next(), self.recurrent_dropout,
                          (4, *h_shape), dtype) if self.recurrent_dropout else None
        return in_masks, rec_masks

    def call(self, inputs, initial_state=None, mask=None, training=None):
        inputs = self._to_last(cast_integer_inputs(inputs, self.compute_dtype), 2)
        batch, steps = inputs.shape[:2]
        keep = None if mask is None else self._time_major_mask(mask, inputs.shape)
        spatial = tuple(_output_length(n, k, self.padding, s, d) for n, k, s, d in zip(
            inputs.shape[2:-1], self.kernel_size, self.strides, self.dilation_rate))
        if min(spatial) <= 0:
            raise ValueError(f"{self.name}: inputs of spatial shape {inputs.shape[2:-1]} are "
                             f"smaller than the dilated kernel {self.kernel_size} with "
                             f"padding='valid'")
        self._state_spatial = spatial
        in_masks, rec_masks = self._draw_conv_masks(
            (batch, *inputs.shape[2:]), (batch, *spatial, self.filters), inputs.dtype,
            training)
        # The input convolution of every step at once: time folds into the batch (a
        # dropout mask is the same at every step, so it broadcasts over time).
        x, groups = self._gated(inputs, None if in_masks is None else in_masks[:, :, None])
        x = x.reshape(batch * steps, *x.shape[2:])
        z = self._conv(x, self.kernel.value, self.strides, self.padding.upper(),
                       self.dilation_rate, groups)
        if self.bias is not None:
            z = z + self.bias.value.astype(z.dtype)
        z = jnp.swapaxes(z.reshape(batch, steps, *z.shape[1:]), 0, 1)
        states = tuple(self._to_last(s, 1) for s in self._starting_states(
            self._initial_states(batch, z.dtype), initial_state))
        if keep is not None:  # (time, batch, 1) -> one axis per state axis
            keep = keep.reshape(*keep.shape, *(1,) * self.rank)
        if self.go_backwards:  # as Keras 2, the mask is reversed with the steps
            z = z[::-1]
            keep = None if keep is None else keep[::-1]
        recurrent = self.recurrent_kernel.value
        if keep is None:
            final, outputs = self._scan((recurrent, None, rec_masks), states, z)
        else:
            final, outputs = self._scan(
                (recurrent, None, rec_masks), (states, jnp.zeros_like(states[0])), (z, keep),
                initial_state is not None or self.stateful)
            final = final[0]
        final = tuple(self._from_last(s, 1) for s in final)
        self._keep_states(final)
        if self.return_sequences:
            out = self._from_last(jnp.swapaxes(outputs, 0, 1), 2)
        else:  # the output of the last step, which a masked step carries
            out = final[0] if keep is None else self._from_last(outputs[-1], 1)
        return [out, *final] if self.return_state else out

    def compute_mask(self, inputs, mask=None):
        """As Keras 2's RNN: the input mask goes on with return_sequences, else none; the
        returned states have none."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        return [output_mask, None, None] if self.return_state else output_mask

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate),
                "activation": activations_lib.serialize(self.activation),
                "recurrent_activation": activations_lib.serialize(self.recurrent_activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers_lib.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers_lib.serialize(self.recurrent_initializer),
                "bias_initializer": initializers_lib.serialize(self.bias_initializer),
                "unit_forget_bias": self.unit_forget_bias,
                "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards,
                "stateful": self.stateful, **self._dropout_config(),
                "unroll": False, "time_major": False}


class ConvLSTM1D(_ConvLSTM):
    """Convolutional LSTM over (batch, time, steps, channels); kernel (width, channels,
    4 * filters)."""

    rank = 1


class ConvLSTM2D(_ConvLSTM):
    """Convolutional LSTM over (batch, time, height, width, channels); kernel (h, w,
    channels, 4 * filters)."""

    rank = 2


class ConvLSTM3D(_ConvLSTM):
    """Convolutional LSTM over (batch, time, depth, height, width, channels); kernel
    (d, h, w, channels, 4 * filters)."""

    rank = 3
