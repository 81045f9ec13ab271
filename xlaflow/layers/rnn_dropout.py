"""Dropout inside the recurrent layers and cells (Keras 2's DropoutRNNCellMixin): one mask
per call on the inputs and one on the state h, the same at every time step.

Keras 2 forces implementation=1 when recurrent_dropout is set; implementation 1 draws one
mask per gate (gate g's kernel columns see the inputs times mask g), implementation 2 one
input mask for all gates. A mask holds 0 or 1/(1-rate); it is drawn only in training.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from xlaflow.random import SeedGenerator, drawn_flat


def check_rate(owner, name, rate):
    """`rate` as a float in [0, 1), else a ValueError naming `owner`'s argument `name`."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise ValueError(f"{owner}: {name} must be a float in [0, 1); received {rate!r}")
    return float(rate)


def check_implementation(owner, implementation, recurrent_dropout):
    """Keras 2's `implementation` (1: per-gate products, 2: one fused product); 1 whenever
    recurrent_dropout is set, as Keras 2 switches to it."""
    if implementation not in (1, 2) or isinstance(implementation, bool):
        raise ValueError(f"{owner}: implementation must be 1 or 2; received "
                         f"{implementation!r}")
    return 1 if recurrent_dropout else int(implementation)


class DropoutConfig:
    """The dropout arguments of a recurrent layer or cell, and the masks it draws.

    The owner sets `dropout`, `recurrent_dropout`, `implementation`, `gates` and `units`,
    then calls `_init_dropout`; its SeedGenerator (made only when a rate is set, so that
    layers without dropout draw no key) follows xf.random.set_seed.
    """

    def _init_dropout(self, dropout, recurrent_dropout, implementation=2):
        owner = type(self).__name__
        self.dropout = check_rate(owner, "dropout", dropout)
        self.recurrent_dropout = check_rate(owner, "recurrent_dropout", recurrent_dropout)
        self.implementation = check_implementation(owner, implementation,
                                                   self.recurrent_dropout)
        self._dropout_seed = SeedGenerator(name=f"{self.name}/dropout_seed") \
            if self.dropout or self.recurrent_dropout else None

    def _dropout_config(self):
        return {"dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout}

    def _draw_masks(self, batch, input_dim, dtype, training):
        """(input masks (count, batch, input_dim), state masks (gates, batch, units)), each
        None when its rate is 0 or not in training."""
        if not training:
            return None, None
        in_masks = rec_masks = None
        if self.dropout:
            count = self.gates if self.implementation == 1 else 1
            in_masks = _draw(self._dropout_seed.next(), self.dropout,
                             (count, batch, input_dim), dtype)
        if self.recurrent_dropout:
            rec_masks = _draw(self._dropout_seed.next(), self.recurrent_dropout,
                              (self.gates, batch, self.units), dtype)
        return in_masks, rec_masks


def _draw(key, rate, shape, dtype):
    keep = drawn_flat(lambda k, s: jax.random.bernoulli(k, 1.0 - rate, s), key, shape)
    return jnp.where(keep, 1.0 / (1.0 - rate), 0.0).astype(dtype)


def project(x, kernel, masks):
    """`x @ kernel` with x (batch, ..., d) dropped by `masks` (count, batch, d): count 1
    drops x once for all columns; else gate g's columns (kernel split in `count` equal
    blocks, Keras' gate layout) see x times mask g. masks None: the plain product."""
    if masks is None:
        return x @ kernel
    count, batch, depth = masks.shape
    masks = masks.reshape(count, batch, *(1,) * (x.ndim - 2), depth)
    if count == 1:
        return (x * masks[0]) @ kernel
    width = kernel.shape[-1]
    per_gate = kernel.reshape(depth, count, width // count)
    out = jnp.einsum("g...d,dgv->...gv", x[None] * masks, per_gate)
    return out.reshape(*x.shape[:-1], width)
