"""BatchNormalization and LayerNormalization."""

from __future__ import annotations

import jax.numpy as jnp

from xlaflow import initializers as initializers_lib
from xlaflow.layers.base import Layer


def _axes(axis, rank, name):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = tuple(sorted(a % rank for a in axes))
    if any(not -rank <= a < rank for a in axes):
        raise ValueError(f"{name}: axis {axis} is out of range for inputs of rank {rank}")
    return normalized


def _axis_argument(axis):
    """An int, or a list of ints: what JSON gives back, so a config round-trips unchanged."""
    return int(axis) if isinstance(axis, int) else [int(a) for a in axis]


class BatchNormalization(Layer):
    """Normalize with the batch's statistics in training (updating moving averages) and
    with the moving averages in inference; a frozen layer always uses the latter."""

    supports_masking = True  # the input mask goes on to the output (Keras 2)

    _penalty_arguments = ("beta_regularizer", "gamma_regularizer", "beta_constraint",
                          "gamma_constraint")

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 **kwargs):
        super().__init__(**kwargs)
        self.axis = _axis_argument(axis)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.initializers = [initializers_lib.get(i) for i in (
            beta_initializer, gamma_initializer, moving_mean_initializer,
            moving_variance_initializer)]

    def build(self, input_shape):
        self.axes = _axes(self.axis, len(input_shape), self.name)
        shape = tuple(input_shape[a] for a in self.axes)
        beta, gamma, mean, variance = self.initializers
        self.gamma = self.add_weight("gamma", shape, initializer=gamma) if self.scale else None
        self.beta = self.add_weight("beta", shape, initializer=beta) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", shape, initializer=mean,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, initializer=variance,
                                               trainable=False)
        self.built = True

    def _broadcast(self, value, rank):
        shape = [1] * rank
        for a, size in zip(self.axes, value.shape):
            shape[a] = size
        return jnp.reshape(value, shape)

    def call(self, inputs, training=None):
        rank = inputs.ndim
        reduce = tuple(a for a in range(rank) if a not in self.axes)
        if training and self.trainable:
            mean = jnp.mean(inputs, axis=reduce)
            variance = jnp.var(inputs, axis=reduce)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean.value * m + mean * (1 - m))
            self.moving_variance.assign(self.moving_variance.value * m + variance * (1 - m))
        else:
            mean, variance = self.moving_mean.value, self.moving_variance.value
        out = (inputs - self._broadcast(mean, rank)) / jnp.sqrt(
            self._broadcast(variance, rank) + self.epsilon)
        if self.gamma is not None:
            out = out * self._broadcast(self.gamma.value, rank)
        if self.beta is not None:
            out = out + self._broadcast(self.beta.value, rank)
        return out

    def get_config(self):
        names = ("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                 "moving_variance_initializer")
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                **{name: initializers_lib.serialize(init)
                   for name, init in zip(names, self.initializers)}}


class LayerNormalization(Layer):
    """Normalize each example over `axis` (the features), then scale and shift."""

    supports_masking = True  # the input mask goes on to the output (Keras 2)

    _penalty_arguments = ("beta_regularizer", "gamma_regularizer", "beta_constraint",
                          "gamma_constraint")

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon = _axis_argument(axis), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers_lib.get(beta_initializer)
        self.gamma_initializer = initializers_lib.get(gamma_initializer)

    def build(self, input_shape):
        self.axes = _axes(self.axis, len(input_shape), self.name)
        shape = tuple(input_shape[a] for a in self.axes)
        self.gamma = self.add_weight("gamma", shape, initializer=self.gamma_initializer) \
            if self.scale else None
        self.beta = self.add_weight("beta", shape, initializer=self.beta_initializer) \
            if self.center else None
        self.built = True

    def call(self, inputs):
        mean = jnp.mean(inputs, axis=self.axes, keepdims=True)
        variance = jnp.var(inputs, axis=self.axes, keepdims=True)
        out = (inputs - mean) / jnp.sqrt(variance + self.epsilon)
        shape = [1] * inputs.ndim
        for a in self.axes:
            shape[a] = inputs.shape[a]
        if self.gamma is not None:
            out = out * jnp.reshape(self.gamma.value, shape)
        if self.beta is not None:
            out = out + jnp.reshape(self.beta.value, shape)
        return out

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers_lib.serialize(self.beta_initializer),
                "gamma_initializer": initializers_lib.serialize(self.gamma_initializer)}
