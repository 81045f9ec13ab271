"""One time step of SimpleRNN, LSTM and GRU (Keras' gate layouts), shared by the layers
and their cells; the input projection z = x_t @ kernel is made by the caller.

`rec_masks` (gates or 1, batch, units), when given, drop the state h fed to the recurrent
kernel (Keras 2's recurrent_dropout, per gate); the carried h and c are never dropped.
"""

from __future__ import annotations

import jax.numpy as jnp

from xlaflow.layers.rnn_dropout import project


def simple_step(z, states, recurrent, bias, activation, rec_masks=None):
    """One SimpleRNN step from the projected input z = x_t @ kernel."""
    (h,) = states
    z = z + project(h, recurrent, rec_masks)
    return (activation(z if bias is None else z + bias),)


def lstm_step(z, states, recurrent, bias, activation, recurrent_activation, rec_masks=None):
    """One LSTM step (gates i, f, c, o) from the projected input z = x_t @ kernel."""
    h, c = states
    z = z + project(h, recurrent, rec_masks)
    if bias is not None:
        z = z + bias
    i, f, g, o = jnp.split(z, 4, axis=-1)
    c = recurrent_activation(f) * c + recurrent_activation(i) * activation(g)
    return recurrent_activation(o) * activation(c), c


def gru_step(z, states, recurrent, bias, activation, recurrent_activation, rec_masks=None):
    """One GRU step (reset_after=True; z, r, h) from the projected input z = x_t @ kernel;
    bias (2, 3 * units): the input's and the recurrent one."""
    (h,) = states
    inner = project(h, recurrent, rec_masks)
    if bias is not None:
        z, inner = z + bias[0], inner + bias[1]
    xz, xr, xh = jnp.split(z, 3, axis=-1)
    hz, hr, hh = jnp.split(inner, 3, axis=-1)
    update = recurrent_activation(xz + hz)
    candidate = activation(xh + recurrent_activation(xr + hr) * hh)
    return (update * h + (1 - update) * candidate,)


def forget_bias_init(units, base):
    """LSTM's unit_forget_bias: `base`, with the forget gate's slice set to 1."""
    def init(shape, dtype, key):
        return base(shape, dtype, key).at[units:2 * units].set(1.0)
    return init
