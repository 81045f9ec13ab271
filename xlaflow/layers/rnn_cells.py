"""SimpleRNNCell, LSTMCell and GRUCell: one time step of SimpleRNN/LSTM/GRU (the same
weights and step functions), for keras.layers.RNN and for loops that step a cell by hand
(the time-series tutorial's autoregressive FeedBack model)."""

from __future__ import annotations

import numbers

from xlaflow import activations as activations_lib
from xlaflow import initializers as initializers_lib
from xlaflow.layers import rnn_steps
from xlaflow.layers.base import Layer


class _Cell(Layer):
    gates = None
    _penalty_arguments = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                          "activity_regularizer", "kernel_constraint", "recurrent_constraint",
                          "bias_constraint")

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", dropout=0.0, recurrent_dropout=0.0, **kwargs):
        for name, value in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if value != 0.0:
                raise NotImplementedError(
                    f"{type(self).__name__}: {name}={value!r} is not supported (0.0 is); put "
                    "a Dropout layer before or after the RNN")
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

    def call(self, inputs, states):
        states = tuple(states) if isinstance(states, (list, tuple)) else (states,)
        new = self._step(inputs @ self.kernel.value, states, self.recurrent_kernel.value,
                         None if self.bias is None else self.bias.value)
        return new[0], list(new)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations_lib.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers_lib.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers_lib.serialize(self.recurrent_initializer),
                "bias_initializer": initializers_lib.serialize(self.bias_initializer),
                "dropout": 0.0, "recurrent_dropout": 0.0}


class _GatedCell(_Cell):
    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations_lib.get(recurrent_activation)

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations_lib.serialize(
            self.recurrent_activation)}


class SimpleRNNCell(_Cell):
    """One step of SimpleRNN: `h = activation(x @ kernel + h @ recurrent_kernel + bias)`."""

    gates = 1

    @property
    def state_size(self):
        return self.units

    def _step(self, z, states, recurrent_kernel, bias):
        return rnn_steps.simple_step(z, states, recurrent_kernel, bias, self.activation)


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

    def _step(self, z, states, recurrent_kernel, bias):
        return rnn_steps.lstm_step(z, states, recurrent_kernel, bias, self.activation,
                                   self.recurrent_activation)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_GatedCell):
    """One step of GRU with Keras' default reset_after=True (gates z, r, h)."""

    gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        if not reset_after:
            raise NotImplementedError("GRUCell(reset_after=False) is not supported; the "
                                      "default reset_after=True layout is")
        super().__init__(units, **kwargs)

    @property
    def state_size(self):
        return self.units

    def _bias_shape(self):
        return (2, self.gates * self.units)

    def _step(self, z, states, recurrent_kernel, bias):
        return rnn_steps.gru_step(z, states, recurrent_kernel, bias, self.activation,
                                  self.recurrent_activation)

    def get_config(self):
        return {**super().get_config(), "reset_after": True}
