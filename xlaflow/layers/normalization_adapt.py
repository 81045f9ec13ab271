"""Keras 2's adaptable Normalization: feature-wise standardization learned by adapt().

(The string layers, StringLookup and TextVectorization, run on the host: string_lookup.py,
text_vectorization.py.)
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from xlaflow import backend_config
from xlaflow.layers.base import Layer


class Normalization(Layer):
    """`(x - mean) / sqrt(variance)` per feature along `axis`; mean and variance are given,
    or learned by `adapt(data)` over every other axis (Keras 2). `invert=True` undoes it."""

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization: pass both mean and variance, or neither (and "
                             f"call adapt); received mean={mean!r}, variance={variance!r}")
        if not (axis is None or isinstance(axis, int)):
            raise ValueError(f"Normalization: axis must be an int or None; received "
                             f"{axis!r}")
        self.axis, self.invert = axis, bool(invert)
        self.input_mean = None if mean is None else np.asarray(mean, np.float32).tolist()
        self.input_variance = None if variance is None else \
            np.asarray(variance, np.float32).tolist()
        self.mean = self.variance = None

    def _stat_shape(self, shape):
        if self.axis is None:
            return (1,) * len(shape)
        axis = self.axis % len(shape)
        return tuple(shape[i] if i == axis else 1 for i in range(len(shape)))

    def build(self, input_shape):
        stat = self._stat_shape(tuple(input_shape))
        self.mean = self.add_weight("mean", stat[1:], initializer="zeros", trainable=False)
        self.variance = self.add_weight("variance", stat[1:], initializer="ones",
                                        trainable=False)
        if self.input_mean is not None:
            self.mean.assign(jnp.broadcast_to(jnp.asarray(self.input_mean, jnp.float32),
                                              stat[1:]))
            self.variance.assign(jnp.broadcast_to(
                jnp.asarray(self.input_variance, jnp.float32), stat[1:]))
        self.built = True

    def adapt(self, data, batch_size=None, steps=None):
        """Learn mean and variance from `data`: an array, or an iterable of batches."""
        if self.input_mean is not None:
            raise ValueError("Normalization.adapt: this layer was given mean and variance")
        batches = [np.asarray(data)] if hasattr(data, "shape") else \
            [np.asarray(b) for b in data]
        values = np.concatenate([b.reshape(-1, *b.shape[1:]) for b in batches]).astype(
            np.float64)
        if values.ndim == 1:
            values = values[:, None]
        stat = self._stat_shape(values.shape)
        reduce = tuple(i for i, s in enumerate(stat) if s == 1)
        if not self.built:
            self.build(values.shape)
        self.mean.assign(values.mean(axis=reduce).reshape(stat[1:]).astype(np.float32))
        self.variance.assign(values.var(axis=reduce).reshape(stat[1:]).astype(np.float32))

    def call(self, inputs):
        x = jnp.asarray(inputs, self.compute_dtype)
        if x.ndim == 1:
            x = x[:, None]
        mean = jnp.asarray(self.mean.value, x.dtype)
        std = jnp.maximum(jnp.sqrt(jnp.asarray(self.variance.value, x.dtype)),
                          backend_config.epsilon())  # the floor of the standard deviation
        return x * std + mean if self.invert else (x - mean) / std

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "mean": self.input_mean,
                "variance": self.input_variance, "invert": self.invert}

