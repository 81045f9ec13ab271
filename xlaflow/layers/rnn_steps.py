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


def gru_step_reset_before(z, states, recurrent, bias, activation, recurrent_activation,
                          rec_masks=None):
    """One GRU step with reset_after=False (Keras 2's other layout, TF 1's): the reset gate
    multiplies h before its recurrent product; bias (3 * units,), the input's only."""
    (h,) = states
    if bias is not None:
        z = z + bias
    xz, xr, xh = jnp.split(z, 3, axis=-1)
    units = h.shape[-1]
    # per-gate masks (3, ...): z and r's for the first product, h's for the candidate's
    gates_masks, h_masks = (rec_masks, rec_masks) if rec_masks is None or \
        rec_masks.shape[0] == 1 else (rec_masks[:2], rec_masks[2:])
    hz, hr = jnp.split(project(h, recurrent[:, :2 * units], gates_masks), 2, axis=-1)
    update = recurrent_activation(xz + hz)
    reset = recurrent_activation(xr + hr)
    candidate = activation(xh + project(reset * h, recurrent[:, 2 * units:], h_masks))
    return (update * h + (1 - update) * candidate,)


def forget_bias_init(units, base):
    """LSTM's unit_forget_bias: `base`, with the forget gate's slice set to 1."""
    def init(shape, dtype, key):
        return base(shape, dtype, key).at[units:2 * units].set(1.0)
    return init
