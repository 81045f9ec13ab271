"""SimpleRNNCell, LSTMCell and GRUCell: one time step of SimpleRNN/LSTM/GRU (the same
weights and step functions), for keras.layers.RNN and for loops that step a cell by hand
(the time-series tutorial's autoregressive FeedBack model).

With dropout/recurrent_dropout, keras.layers.RNN draws the masks once per call (Keras 2's
reset_dropout_mask) and the cell uses them at every step; a cell called on its own in
training draws fresh masks at each call (a traced mask cannot outlive its trace).
"""

from __future__ import annotations

import numbers

from xlaflow import activations as activations_lib
from xlaflow import initializers as initializers_lib
from xlaflow.layers import rnn_steps
from xlaflow.layers.base import Layer
from xlaflow.layers.rnn_dropout import DropoutConfig, project


class _Cell(DropoutConfig, Layer):
    gates = None
    _penalty_arguments = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                          "activity_regularizer", "kernel_constraint", "recurrent_constraint",
                          "bias_constraint")

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0, **kwargs):
        implementation = kwargs.pop("implementation", 2)
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units <= 0:
            raise ValueError(f"{type(self).__name__}: units must be a positive integer; "
                             f"received {units!r}")
        self.units = int(units)
        self.activation = activations_lib.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers_lib.get(kernel_initializer)
        self.recurrent_initializer = initializers_lib.get(recurrent_initializer)
        self.bias_initializer = initializers_lib.get(bias_initializer)
        self._init_dropout(dropout, recurrent_dropout, implementation)
        self._call_masks = None  # set by keras.layers.RNN for the length of its call

    def begin_dropout(self, inputs, training):
        """Draws the masks that every step of one RNN call uses (`inputs`: one step's);
        `end_dropout` forgets them."""
        self._call_masks = self._draw_masks(inputs.shape[0], inputs.shape[-1],
                                            inputs.dtype, training)

    def end_dropout(self):
        self._call_masks = None

    @property
    def output_size(self):
        return self.units

    def build(self, input_shape):
        width = self.gates * self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], width),
                                      initializer=self.kernel_initializer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                initializer=self.recurrent_initializer)
        self.bias = self.add_weight("bias", self._bias_shape(), initializer=self._bias_init()) \
            if self.use_bias else None
        self.built = True

    def _bias_shape(self):
        return (self.gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def call(self, inputs, states, training=None):
        states = tuple(states) if isinstance(states, (list, tuple)) else (states,)
        masks = self._call_masks
        if masks is None:  # called on its own: masks for this call only
            masks = self._draw_masks(inputs.shape[0], inputs.shape[-1], inputs.dtype,
                                     training)
        in_masks, rec_masks = masks
        new = self._step(project(inputs, self.kernel.value, in_masks), states,
                         self.recurrent_kernel.value,
                         None if self.bias is None else self.bias.value, rec_masks)
        return new[0], list(new)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations_lib.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers_lib.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers_lib.serialize(self.recurrent_initializer),
                "bias_initializer": initializers_lib.serialize(self.bias_initializer),
                **self._dropout_config()}


class _GatedCell(_Cell):
    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations_lib.get(recurrent_activation)

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations_lib.serialize(
            self.recurrent_activation), "implementation": self.implementation}


class SimpleRNNCell(_Cell):
    """One step of SimpleRNN: `h = activation(x @ kernel + h @ recurrent_kernel + bias)`."""

    gates = 1

    @property
    def state_size(self):
        return self.units

    def _step(self, z, states, recurrent_kernel, bias, rec_masks):
        return rnn_steps.simple_step(z, states, recurrent_kernel, bias, self.activation,
                                     rec_masks)


class LSTMCell(_GatedCell):
    """One step of LSTM (gates i, f, c, o); states [h, c]."""

    gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        return rnn_steps.forget_bias_init(self.units, self.bias_initializer)

    def _step(self, z, states, recurrent_kernel, bias, rec_masks):
        return rnn_steps.lstm_step(z, states, recurrent_kernel, bias, self.activation,
                                   self.recurrent_activation, rec_masks)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_GatedCell):
    """One step of GRU (gates z, r, h); reset_after as GRU's."""

    gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    @property
    def state_size(self):
        return self.units

    def _bias_shape(self):
        return (2, self.gates * self.units) if self.reset_after else (self.gates * self.units,)

    def _step(self, z, states, recurrent_kernel, bias, rec_masks):
        step = rnn_steps.gru_step if self.reset_after else rnn_steps.gru_step_reset_before
        return step(z, states, recurrent_kernel, bias, self.activation,
                    self.recurrent_activation, rec_masks)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
