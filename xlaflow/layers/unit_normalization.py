"""UnitNormalization: each example scaled to unit l2 norm along `axis` (Keras 2.9+)."""

from __future__ import annotations

import jax.numpy as jnp

from xlaflow.layers.base import Layer
from xlaflow.math_extra import l2_normalize


def _axis_argument(axis):
    if isinstance(axis, int) and not isinstance(axis, bool):
        return axis
    if isinstance(axis, (list, tuple)) and all(
            isinstance(a, int) and not isinstance(a, bool) for a in axis):
        return list(axis)
    raise TypeError(f"UnitNormalization: axis must be an int or a list/tuple of ints; "
                    f"received {axis!r}")


class UnitNormalization(Layer):
    """`x * rsqrt(max(sum(x**2, axis), 1e-12))`, i.e. x / max(||x||, 1e-6) along `axis`
    (tf.math.l2_normalize, as Keras 2). Building resolves `axis` to a list of non-negative
    axes, which get_config then holds, as Keras 2's validate_axis does."""

    supports_masking = True  # the input mask goes on to the output (Keras 2)

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis_argument(axis)

    def build(self, input_shape):
        self.axis = self._resolved(input_shape)
        self.built = True

    def _resolved(self, shape):
        rank = len(shape)
        axes = [self.axis] if isinstance(self.axis, int) else list(self.axis)
        for axis in axes:
            if not -rank <= axis < rank:
                raise ValueError(f"{self.name} (UnitNormalization): axis={self.axis!r} is "
                                 f"out of range for inputs of shape {tuple(shape)}: each "
                                 f"axis must be in [{-rank}, {rank})")
        return [axis % rank for axis in axes]

    def call(self, inputs):
        axes = self._resolved(inputs.shape)
        # integer inputs compute in the layer's dtype (Keras 2 casts to compute_dtype)
        if not jnp.issubdtype(inputs.dtype, jnp.floating):
            inputs = inputs.astype(self.compute_dtype)
        return l2_normalize(inputs, tuple(axes))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
