"""Layers that merge a list of inputs: Add and Concatenate."""

from __future__ import annotations

import functools

import jax.numpy as jnp

from xlaflow.layers.base import Layer


def _check_list(layer, inputs):
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
        raise ValueError(f"{layer.name} expects a list of at least 2 inputs; received "
                         f"{type(inputs).__name__}")


class Add(Layer):
    """The elementwise sum of its inputs."""

    def call(self, inputs):
        _check_list(self, inputs)
        return functools.reduce(jnp.add, inputs)


class Concatenate(Layer):
    """Its inputs joined along `axis`."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def call(self, inputs):
        _check_list(self, inputs)
        return jnp.concatenate(list(inputs), axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
