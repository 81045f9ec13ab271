"""Recurrent layers SimpleRNN, LSTM and GRU: one lax.scan over time (Keras' gate layouts).

`stateful=True` keeps the final states for the next call until `reset_states()` (Keras 2's
behaviour; see rnn_stateful).
With a mask (batch, time) (from Embedding(mask_zero=True) or Masking, or passed as
`mask=`), a masked step keeps the states unchanged and outputs the previous output (zeros
before the first kept step), or zeros with `zero_output_for_mask` (Keras 2's backend.rnn).
`dropout`/`recurrent_dropout` (in training only) drop the inputs and the state h with masks
fixed for the call (see rnn_dropout); `unroll` unrolls the scan; `time_major` takes and
gives (time, batch, ...) tensors, its mask (time, batch), as Keras 2's backend.rnn.
"""

from __future__ import annotations

import functools
import numbers

import jax
import jax.numpy as jnp

from xlaflow import activations as activations_lib
from xlaflow import initializers as initializers_lib
from xlaflow.layers.base import Layer
from xlaflow.layers.input_casting import cast_integer_inputs
from xlaflow.layers.rnn_dropout import DropoutConfig, project
from xlaflow.layers.rnn_stateful import StatefulStates
from xlaflow.layers.rnn_steps import (
    forget_bias_init,
    gru_step,
    gru_step_reset_before,
    lstm_step,
    simple_step,
)


class _Recurrent(StatefulStates, DropoutConfig, Layer):
    supports_masking = True
    _per_value = "masked"  # a RaggedTensor runs padded, with its mask (ragged_calls)
    _penalty_arguments = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                          "activity_regularizer", "kernel_constraint", "recurrent_constraint",
                          "bias_constraint")
    gates = None

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, dropout=0.0, recurrent_dropout=0.0,
                 unroll=False, time_major=False, **kwargs):
        implementation = kwargs.pop("implementation", 2)
        # Keras 2 takes it through **kwargs; Bidirectional sets it to return_sequences.
        self.zero_output_for_mask = bool(kwargs.pop("zero_output_for_mask", False))
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
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards = bool(go_backwards)
        self._init_stateful(stateful)
        self.unroll, self.time_major = bool(unroll), bool(time_major)
        self._init_dropout(dropout, recurrent_dropout, implementation)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{self.name} expects inputs of shape (batch, time, features); "
                             f"received {input_shape}")
        self._check_batch_size(input_shape[int(self.time_major)])
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

    def call(self, inputs, initial_state=None, mask=None, training=None):
        # Integer sequences become the compute dtype: the scan's state must keep one dtype.
        inputs = cast_integer_inputs(inputs, self.compute_dtype)
        if self.time_major:  # (time, batch, ...) inputs and mask: batch-major inside
            inputs = jnp.swapaxes(inputs, 0, 1)
            if mask is not None:
                mask = jnp.swapaxes(jnp.asarray(mask[0] if isinstance(mask, (list, tuple))
                                                else mask), 0, 1)
        keep = None if mask is None else self._time_major_mask(mask, inputs.shape)
        in_masks, rec_masks = self._draw_masks(inputs.shape[0], inputs.shape[-1],
                                               inputs.dtype, training)
        # The input projection of every step at once, outside the scan (a dropout mask
        # is the same at every step, so it can be applied here).
        projected = jnp.swapaxes(project(inputs, self.kernel.value, in_masks), 0, 1)
        states = self._starting_states(self._initial_states(inputs.shape[0], projected.dtype),
                                       initial_state)
        if self.go_backwards:  # as Keras 2, the mask is reversed with the steps
            projected = projected[::-1]
            keep = None if keep is None else keep[::-1]
        recurrent = self.recurrent_kernel.value
        bias = None if self.bias is None else self.bias.value

        if keep is None:
            final, outputs = self._scan((recurrent, bias, rec_masks), states, projected,
                                        unroll=self.unroll)
        else:
            final, outputs = self._scan(
                (recurrent, bias, rec_masks), (states, jnp.zeros_like(states[0])),
                (projected, keep), initial_state is not None or self.stateful, self.unroll)
            final = final[0]
        self._keep_states(final)
        if self.return_sequences:
            out = outputs if self.time_major else jnp.swapaxes(outputs, 0, 1)
        else:  # the output of the last step, which a masked step carries (or zeroes)
            out = final[0] if keep is None else outputs[-1]
        return [out, *final] if self.return_state else out

    def _scan(self, weights, init, xs, carry_output=None, unroll=1):
        """The scan over time with `weights` (recurrent, bias, rec_masks): the plain step
        (carry_output None) or the masked one (xs: (projected inputs, keep)). Run eagerly,
        a scan of a step closing over the weights compiled anew at every call; so then it
        is one jitted function per layer and kind of step, taking them as arguments and
        compiled once per shape. Traced (fit, xf.function, shape inference): the scan."""
        if any(isinstance(leaf, jax.core.Tracer)
               for leaf in jax.tree_util.tree_leaves((weights, init, xs))):
            return self._scan_steps(carry_output, unroll, weights, init, xs)
        compiled = self.__dict__.setdefault("_eager_scans", {})  # not tracked (__setattr__)
        key = (carry_output, unroll)
        if key not in compiled:
            compiled[key] = jax.jit(functools.partial(self._scan_steps, carry_output, unroll))
        return compiled[key](weights, init, xs)

    def _scan_steps(self, carry_output, unroll, weights, init, xs):
        recurrent, bias, rec_masks = weights
        if carry_output is None:
            def step(carry, x_t):
                new = self._step(x_t, carry, recurrent, bias, rec_masks)
                return new, new[0]
        else:
            step = self._masked_step(recurrent, bias, rec_masks, carry_output)
        return jax.lax.scan(step, init, xs, unroll=unroll)

    def _masked_step(self, recurrent, bias, rec_masks, carry_output):
        """The scan step with a mask: one select per state. The output (h) is then the
        kept h itself, unless it must differ: zeros with zero_output_for_mask, or the
        previous output (zeros at first) when an initial_state makes h start elsewhere."""
        zero_output = self.zero_output_for_mask

        def step(carry, xs):
            states, previous = carry
            x_t, keep_t = xs
            new = self._step(x_t, states, recurrent, bias, rec_masks)
            new = tuple(jnp.where(keep_t, n, s) for n, s in zip(new, states))
            if zero_output:
                out = jnp.where(keep_t, new[0], jnp.zeros_like(new[0]))
            elif carry_output:
                out = jnp.where(keep_t, new[0], previous)
            else:
                out = new[0]  # from zero states, the kept h is the previous output
            return (new, out if carry_output else previous), out
        return step

    def _time_major_mask(self, mask, input_shape):
        """`mask` (batch, time) as bools (time, batch, 1), checked against the inputs."""
        if isinstance(mask, (list, tuple)):  # one mask per input: the sequence's is first
            mask = mask[0]
        mask = jnp.asarray(mask)
        if tuple(mask.shape) != tuple(input_shape[:2]):
            raise ValueError(f"{self.name}: mask must have shape (batch, time) = "
                             f"{tuple(input_shape[:2])}; received {tuple(mask.shape)}")
        return jnp.swapaxes(mask.astype(bool), 0, 1)[:, :, None]

    def compute_mask(self, inputs, mask=None):
        """As Keras 2: the input mask goes on with return_sequences (not reversed for
        go_backwards), else none; the returned states have none."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self._initial_states(1, jnp.float32))
        return output_mask

    def _given_states(self, initial_state, zeros):
        return checked_states(self.name, initial_state, zeros,
                              f"(batch, units={self.units})")

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations_lib.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers_lib.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers_lib.serialize(self.recurrent_initializer),
                "bias_initializer": initializers_lib.serialize(self.bias_initializer),
                "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards,
                "stateful": self.stateful, **self._dropout_config(),
                "unroll": self.unroll, "time_major": self.time_major,
                **({"zero_output_for_mask": True} if self.zero_output_for_mask else {})}


class _Gated(_Recurrent):
    """A recurrent layer with gates, and their recurrent_activation."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations_lib.get(recurrent_activation)

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations_lib.serialize(
            self.recurrent_activation), "implementation": self.implementation}


class SimpleRNN(_Recurrent):
    """Fully connected recurrence `h = activation(x_t @ kernel + h @ recurrent_kernel +
    bias)`; kernel (features, units), recurrent_kernel (units, units), bias (units,)."""

    gates = 1

    def _initial_states(self, batch, dtype):
        return (jnp.zeros((batch, self.units), dtype),)

    def _step(self, x_t, states, recurrent, bias, rec_masks=None):
        return simple_step(x_t, states, recurrent, bias, self.activation, rec_masks)


class LSTM(_Gated):
    """Long short-term memory; gates in Keras' order (input, forget, cell, output)."""

    gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        return forget_bias_init(self.units, self.bias_initializer)  # the forget gate open

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}

    def _initial_states(self, batch, dtype):
        zeros = jnp.zeros((batch, self.units), dtype)
        return zeros, zeros

    def _step(self, x_t, states, recurrent, bias, rec_masks=None):
        return lstm_step(x_t, states, recurrent, bias, self.activation,
                         self.recurrent_activation, rec_masks)


class GRU(_Gated):
    """Gated recurrent unit (update, reset, candidate); reset_after=True (Keras 2's default)
    applies the reset gate after the recurrent product, False before it (TF 1's GRU)."""

    gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}

    def _bias_shape(self):
        # reset_after: input and recurrent biases; else the input's only
        return (2, self.gates * self.units) if self.reset_after else (self.gates * self.units,)

    def _initial_states(self, batch, dtype):
        return (jnp.zeros((batch, self.units), dtype),)

    def _step(self, x_t, states, recurrent, bias, rec_masks=None):
        step = gru_step if self.reset_after else gru_step_reset_before
        return step(x_t, states, recurrent, bias, self.activation, self.recurrent_activation,
                    rec_masks)


def checked_states(name, initial_state, zeros, described):
    """`initial_state` as the tuple of states the scan carries, checked against `zeros`
    (the default states, each of shape `described`): one bare array is the whole state of
    a one-state layer (GRU), as Keras accepts; LSTM and ConvLSTM take a list [h, c]."""
    given = tuple(initial_state) if isinstance(initial_state, (list, tuple)) else \
        (initial_state,)
    if len(given) != len(zeros):
        expected = "[h, c]" if len(zeros) == 2 else "h (an array or a 1-element list)"
        raise ValueError(f"{name}: initial_state must hold {len(zeros)} state(s), "
                         f"{expected}, each of shape {described}; received {len(given)}")
    states = []
    for state, zero in zip(given, zeros):
        state = jnp.asarray(state)
        if state.shape != zero.shape:
            raise ValueError(f"{name}: each initial_state must have shape {described} = "
                             f"{zero.shape}; received {state.shape}")
        states.append(state.astype(zero.dtype))  # the scan's carry keeps one dtype
    return tuple(states)
