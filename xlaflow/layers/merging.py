"""Layers that merge a list of inputs: Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate, and Keras' functional helpers (`add([a, b])`, `concatenate(...)`, ...)."""

from __future__ import annotations

import functools

import jax.numpy as jnp

from xlaflow.layers.base import Layer


def _check_list(layer, inputs):
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
        raise ValueError(f"{layer.name} expects a list of at least 2 inputs; received "
                         f"{type(inputs).__name__}")


def _mask_list(layer, inputs, mask):
    """The inputs' masks as a list (None: no input has one), checked as Keras 2 does."""
    if mask is None:
        return None
    if not isinstance(mask, (list, tuple)) or not isinstance(inputs, (list, tuple)) or \
            len(mask) != len(inputs):
        raise ValueError(f"{layer.name}: mask must be a list with one entry (or None) per "
                         f"input; received {mask!r}")
    return None if all(m is None for m in mask) else list(mask)


class _Merge(Layer):
    """An elementwise merge. As Keras 2, inputs of lower rank gain axes after the batch
    (a (batch, n) input meets a (batch, k, n) one as (batch, 1, n)); the shapes must then
    broadcast (equal, or 1) axis by axis. The output's mask keeps what every input's mask
    keeps (inputs without one keep everything)."""

    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        masks = _mask_list(self, inputs, mask)
        if masks is None:
            return None
        return functools.reduce(jnp.logical_and,
                                [jnp.asarray(m, bool) for m in masks if m is not None])

    def _merge_function(self, inputs):
        raise NotImplementedError

    def call(self, inputs):
        _check_list(self, inputs)
        inputs = [jnp.asarray(x) for x in inputs]
        rank = max(x.ndim for x in inputs)
        inputs = [jnp.reshape(x, x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:])
                  for x in inputs]
        for axis in range(rank):
            sizes = {x.shape[axis] for x in inputs} - {1}
            if len(sizes) > 1:
                raise ValueError(f"{self.name}: inputs have incompatible shapes "
                                 f"{[tuple(x.shape) for x in inputs]} (axis {axis})")
        return self._merge_function(inputs)


class Add(_Merge):
    """The elementwise sum of its inputs."""

    def _merge_function(self, inputs):
        return functools.reduce(jnp.add, inputs)


class Subtract(_Merge):
    """`inputs[0] - inputs[1]`, for exactly two inputs."""

    def _merge_function(self, inputs):
        if len(inputs) != 2:
            raise ValueError(f"{self.name}: Subtract takes exactly 2 inputs; received "
                             f"{len(inputs)}")
        return inputs[0] - inputs[1]


class Multiply(_Merge):
    """The elementwise product of its inputs."""

    def _merge_function(self, inputs):
        return functools.reduce(jnp.multiply, inputs)


class Average(_Merge):
    """The elementwise mean of its inputs."""

    def _merge_function(self, inputs):
        return functools.reduce(jnp.add, inputs) / len(inputs)


class Maximum(_Merge):
    """The elementwise maximum of its inputs."""

    def _merge_function(self, inputs):
        return functools.reduce(jnp.maximum, inputs)


class Minimum(_Merge):
    """The elementwise minimum of its inputs."""

    def _merge_function(self, inputs):
        return functools.reduce(jnp.minimum, inputs)


class Concatenate(Layer):
    """Its inputs joined along `axis`. As Keras 2, the output's mask is the inputs' masks
    (all-true for an input without one) joined along `axis`, then kept where every
    feature is kept."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        _check_list(self, inputs)
        return jnp.concatenate(list(inputs), axis=self.axis)

    def compute_mask(self, inputs, mask=None):
        masks = _mask_list(self, inputs, mask)
        if masks is None:
            return None
        full = []
        for x, m in zip(inputs, masks):
            shape = tuple(jnp.shape(x))
            if m is None:
                full.append(jnp.ones(shape, bool))
                continue
            m = jnp.asarray(m, bool)
            # A (batch, time) mask of a (batch, time, features) input covers its features.
            m = jnp.reshape(m, m.shape + (1,) * (len(shape) - m.ndim))
            full.append(jnp.broadcast_to(m, shape))
        return jnp.all(jnp.concatenate(full, axis=self.axis), axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


# Keras' functional interface: build the layer and call it on the list of inputs.
def add(inputs, **kwargs):
    """`Add(**kwargs)(inputs)`: the elementwise sum of a list of tensors."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """`Subtract(**kwargs)(inputs)`: `inputs[0] - inputs[1]`."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """`Multiply(**kwargs)(inputs)`: the elementwise product of a list of tensors."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """`Average(**kwargs)(inputs)`: the elementwise mean of a list of tensors."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """`Maximum(**kwargs)(inputs)`: the elementwise maximum of a list of tensors."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """`Minimum(**kwargs)(inputs)`: the elementwise minimum of a list of tensors."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """`Concatenate(axis=axis, **kwargs)(inputs)`: a list of tensors joined along `axis`."""
    return Concatenate(axis=axis, **kwargs)(inputs)
