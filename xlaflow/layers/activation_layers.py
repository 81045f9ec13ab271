"""Activation layers with arguments: ReLU, LeakyReLU, PReLU, ELU and Softmax (Keras 2).

(`Activation`, which applies a named activation function, is in core.py.)
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from xlaflow import _eager_nn
from xlaflow import initializers as initializers_lib
from xlaflow.layers.base import Layer


def _number(layer, name, value, minimum=None, allow_none=False):
    """`value` as a float, checked: a real number (>= minimum), or None where allowed."""
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or (
            minimum is not None and value < minimum):
        expected = "a number" + ("" if minimum is None else f" >= {minimum}") + (
            " or None" if allow_none else "")
        raise ValueError(f"{layer}: {name} must be {expected}; received {value!r}")
    return float(value)


class ReLU(Layer):
    """Keras 2's ReLU: `min(x, max_value)` where x > threshold, else
    `negative_slope * (x - threshold)`."""

    supports_masking = True  # the input mask goes on to the output (Keras 2)

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = _number("ReLU", "max_value", max_value, 0, allow_none=True)
        self.negative_slope = _number("ReLU", "negative_slope", negative_slope, 0)
        self.threshold = _number("ReLU", "threshold", threshold, 0)

    def call(self, inputs):
        outputs = inputs
        if self.max_value is not None:
            outputs = jnp.minimum(outputs, jnp.asarray(self.max_value, inputs.dtype))
        below = jnp.zeros_like(inputs) if self.negative_slope == 0 else \
            (inputs - self.threshold) * self.negative_slope
        return jnp.where(inputs > self.threshold, outputs, below.astype(inputs.dtype))

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Layer):
    """`x` where x > 0, else `alpha * x` (Keras 2's default alpha is 0.3)."""

    supports_masking = True  # the input mask goes on to the output (Keras 2)

    def __init__(self, alpha=0.3, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _number("LeakyReLU", "alpha", alpha)

    def call(self, inputs):
        return jax.nn.leaky_relu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """Leaky ReLU with a learned slope: `x` where x > 0, else `alpha * x`, alpha a weight of
    the input's shape without the batch; `shared_axes` (1-based, as Keras: 1 is the first
    axis after the batch) share one slope, e.g. shared_axes=[1, 2] for images."""

    supports_masking = True  # the input mask goes on to the output (Keras 2)

    _penalty_arguments = ("alpha_regularizer", "alpha_constraint")

    def __init__(self, alpha_initializer="zeros", shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers_lib.get(alpha_initializer)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, int) else shared_axes
            try:
                ok = all(isinstance(a, int) and not isinstance(a, bool) and a >= 1
                         for a in axes)
            except TypeError:
                ok = False
            if not ok:
                raise ValueError(f"PReLU: shared_axes must be None, an int or a list of ints "
                                 f">= 1 (axes after the batch); received {shared_axes!r}")
            self.shared_axes = [int(a) for a in axes]

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if axis > len(shape):
                raise ValueError(f"{self.name}: shared_axes {self.shared_axes} names axis "
                                 f"{axis}, but inputs of shape {tuple(input_shape)} have "
                                 f"{len(shape)} axes after the batch")
            shape[axis - 1] = 1
        self.alpha = self.add_weight("alpha", tuple(shape), initializer=self.alpha_initializer)
        self.built = True

    def call(self, inputs):
        alpha = self.alpha.value.astype(inputs.dtype)
        return jnp.where(inputs > 0, inputs, alpha * inputs)

    def get_config(self):
        return {**super().get_config(),
                "alpha_initializer": initializers_lib.serialize(self.alpha_initializer),
                "shared_axes": self.shared_axes}


class ELU(Layer):
    """`x` where x > 0, else `alpha * (exp(x) - 1)`."""

    supports_masking = True  # the input mask goes on to the output (Keras 2)

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _number("ELU", "alpha", alpha)

    def call(self, inputs):
        return jax.nn.elu(inputs, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


def _large_negative(dtype):
    """What Keras 2's Softmax adds where the mask is off: -1e9, or float16's lowest."""
    return float(jnp.finfo(dtype).min) if jnp.dtype(dtype) == jnp.float16 else -1e9


class Softmax(Layer):
    """Softmax over `axis` (an int or a list of ints). A `mask` (1 keeps, 0 drops) may be
    passed to the call, as Keras 2: masked positions get ~zero probability."""

    supports_masking = True  # the input mask goes on to the output (Keras 2)

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, int) and not isinstance(axis, bool):
            self.axis = int(axis)
        else:
            try:
                ok = len(axis) > 0 and all(isinstance(a, int) and not isinstance(a, bool)
                                           for a in axis)
            except TypeError:
                ok = False
            if not ok:
                raise ValueError(f"Softmax: axis must be an int or a list of ints; received "
                                 f"{axis!r}")
            self.axis = [int(a) for a in axis]

    def call(self, inputs, mask=None):
        if mask is not None:
            keep = jnp.asarray(mask, inputs.dtype)
            inputs = inputs + (1.0 - keep) * _large_negative(inputs.dtype)
        axis = self.axis if isinstance(self.axis, int) else tuple(self.axis)
        return _eager_nn.softmax(inputs, axis=axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
