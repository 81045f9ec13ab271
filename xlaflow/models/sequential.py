"""Sequential: a stack of layers, each feeding the next."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow import _lifting
from xlaflow.layers import keras_mask, symbolic
from xlaflow.layers.base import Layer
from xlaflow.layers.core import InputLayer
from xlaflow.layers.symbolic import SymbolicTensor
from xlaflow.models.model import Model


class Sequential(Model):
    """`Sequential([Flatten(input_shape=(28, 28)), Dense(10)])`; built at once when the first
    layer declares its input shape, otherwise on first use."""

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self._layers = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Append a layer (building the model when the input shape becomes known)."""
        if isinstance(layer, SymbolicTensor):  # Sequential([Input((28, 28)), ...])
            layer = InputLayer(batch_input_shape=layer.shape, dtype=layer.dtype)
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a Layer; received {type(layer).__name__}")
        self._layers.append(layer)
        self._build_input_shape = None
        declared = self._declared_input_shape()
        if declared is not None:  # an InputLayer also declares the dtype (int token ids)
            first = self._layers[0]
            dtype = first.dtype if isinstance(first, InputLayer) else jnp.float32
            self._build_declared(tuple(declared[1:]), dtype)

    def _build_declared(self, dims, dtype):
        """Build for the declared shape. A size given as None (a variable length) is built
        at one placeholder size and checked at another: no weight may depend on it."""
        sizes = symbolic.VARYING if None in dims else symbolic.VARYING[:1]
        for n, size in enumerate(sizes):
            spec = jax.ShapeDtypeStruct((1, *(size if d is None else d for d in dims)), dtype)
            if n == 0:
                self._prepare(spec)
                continue
            try:
                _lifting.eval_shape(lambda x: self(x, training=False), spec)
            except Exception as exc:
                raise ValueError(
                    f"{self.name}: the input shape {(None, *dims)} leaves sizes unknown "
                    "(None) that a layer's weights or a reshape need; give them in "
                    "input_shape") from exc
        self._build_input_shape = (None, *dims)

    def pop(self):
        layer = self._layers.pop()
        self._build_input_shape = None
        return layer

    @property
    def layers(self):
        """The layers, without an InputLayer (as Keras lists them)."""
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)]

    def _declared_input_shape(self):
        if self._layers and self._layers[0]._batch_input_shape is not None:
            return self._layers[0]._batch_input_shape
        return self._batch_input_shape

    def call(self, inputs, training=None, mask=None):
        with keras_mask.given(inputs, mask):
            for layer in self._layers:
                inputs = layer(inputs, training=training)
        return inputs

    def get_config(self):
        from xlaflow.saving.serialization import serialize_keras_object
        return {"name": self.name, "trainable": self.trainable,
                "layers": [serialize_keras_object(layer) for layer in self._layers]}

    @classmethod
    def from_config(cls, config):
        from xlaflow.saving.serialization import deserialize_keras_object
        return cls([deserialize_keras_object(layer) for layer in config["layers"]],
                   name=config.get("name"), trainable=config.get("trainable", True))
