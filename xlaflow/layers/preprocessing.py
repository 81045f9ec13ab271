"""Preprocessing layers: Rescaling."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from xlaflow.layers.base import Layer


def _scalar_or_list(name, value):
    """A float, or a list of floats (per channel, broadcast against the last axes)."""
    try:
        array = None if isinstance(value, (bool, str)) else np.asarray(value, np.float64)
    except (TypeError, ValueError):
        array = None
    if array is None or array.ndim > 1 or array.size == 0:
        raise ValueError(f"Rescaling: {name} must be a number or a 1-D list of numbers (one "
                         f"per channel); received {value!r}")
    return float(array) if array.ndim == 0 else array.tolist()


class Rescaling(Layer):
    """`inputs * scale + offset`, computed in the layer's dtype (a uint8 image becomes
    float32): Rescaling(1 / 255) maps [0, 255] to [0, 1], Rescaling(1 / 127.5, offset=-1)
    to [-1, 1]."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _scalar_or_list("scale", scale)
        self.offset = _scalar_or_list("offset", offset)

    def call(self, inputs):
        dtype = self.compute_dtype
        return (jnp.asarray(inputs).astype(dtype) * jnp.asarray(self.scale, dtype)
                + jnp.asarray(self.offset, dtype))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
