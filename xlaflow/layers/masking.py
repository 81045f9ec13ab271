"""Masking: marks the time steps whose features all equal `mask_value` as padding, for
the recurrent, pooling and loss computations downstream (Keras 2's Masking layer)."""

from __future__ import annotations

import numbers

import jax.numpy as jnp

from xlaflow.layers.base import Layer


class Masking(Layer):
    """(batch, steps, features) -> the same, with steps whose features all equal
    `mask_value` zeroed; the mask (batch, steps) (True: a real step) goes with the output
    to the layers after it (in a model, or through `compute_mask`)."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Number):
            raise TypeError(f"Masking: mask_value must be a number; received "
                             f"{mask_value!r}")
        self.mask_value = mask_value

    def _keep(self, inputs, keepdims):
        return jnp.any(jnp.not_equal(inputs, self.mask_value), axis=-1, keepdims=keepdims)

    def compute_mask(self, inputs, mask=None):
        # As Keras 2: computed from the inputs alone; an incoming mask is replaced.
        return self._keep(jnp.asarray(inputs), keepdims=False)

    def call(self, inputs):
        inputs = jnp.asarray(inputs)
        return inputs * self._keep(inputs, keepdims=True).astype(inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
