"""Sequential: a stack of layers, each feeding the next."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from xlaflow import _lifting
from xlaflow.layers import keras_mask, symbolic
from xlaflow.layers.base import Layer
from xlaflow.layers.core import InputLayer
from xlaflow.layers.symbolic import SymbolicTensor
from xlaflow.models import host_prefix, shapes
from xlaflow.models.model import Model
from xlaflow.models.ragged_fed import carry_mask
from xlaflow.tensors import is_string_dtype


class Sequential(Model):
    """`Sequential([Flatten(input_shape=(28, 28)), Dense(10)])`; built at once when the first
    layer declares its input shape, otherwise on first use."""

    def __init__(self, layers=None, name=None, trainable=True):
        super().__init__(name=name, trainable=trainable)
        self._layers = []
        # Once the input shape is known: the Input, then each layer's symbolic output
        self._symbolic_chain = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Append a layer (building the model when the input shape becomes known)."""
        if isinstance(layer, SymbolicTensor):  # Sequential([Input((28, 28)), ...])
            if layer.node is not None:
                raise TypeError(f"Sequential.add expects a Layer or an xf.keras.Input; "
                                f"received {layer!r}, the output of layer "
                                f"{layer.node.layer.name!r}")
            layer = symbolic.input_layer_of(layer)  # Keras 2: the Input's own InputLayer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a Layer; received {type(layer).__name__}")
        if isinstance(layer, Model) and layer._host_feed() is not None:
            return self._add_host_fed(layer)
        self._layers.append(layer)
        self._build_input_shape = None
        declared = self._declared_input_shape()
        if declared is not None:  # an InputLayer also declares the dtype (int token ids)
            first = self._layers[0]
            dtype = first.dtype if isinstance(first, InputLayer) else \
                getattr(first, "_declared_input_dtype", jnp.float32)  # Embedding: int ids
            if isinstance(first, Model) and isinstance(first._build_input_dtype, str):
                dtype = first._build_input_dtype  # a nested model's (int token ids too)
            if is_string_dtype(dtype) or self._host_layers():
                # host layers first: the compiled part takes their output (ids)
                self._connect(declared, dtype)
                ids = self._symbolic_chain[len(self._host_layers())]
                with self._compiled_part():
                    self._build_declared(tuple(ids.shape[1:]), ids.dtype, declared[0])
                return
            self._build_declared(tuple(declared[1:]), dtype, declared[0])
            self._connect(declared, dtype)
        elif self._symbolic_chain:  # connected by build(input_shape): the new layer too
            source = self._symbolic_chain[0]
            self._build_declared(tuple(source.shape[1:]), source.dtype, source.shape[0])
            self._connect(None, None)

    def _add_host_fed(self, model):
        """A model with host layers (strings) added: a Sequential's layers join this one's
        (its host layers must lead, to run before the compiled part), as a functional
        graph takes them in (models/host_fed.py)."""
        if not isinstance(model, Sequential) or any(
                not getattr(layer, "host_side", False) and not isinstance(layer, InputLayer)
                for layer in self._layers):
            raise NotImplementedError(
                f"Sequential.add({model.name}): a model with host layers (StringLookup, "
                "TextVectorization) runs them before its compiled part, so it can only lead "
                "a Sequential, and only as a Sequential; build a functional model instead: "
                f"keras.Model(inputs, rest({model.name}(inputs)))")
        for layer in model._layers:
            if not (isinstance(layer, InputLayer) and self._layers):
                self.add(layer)

    def _build_declared(self, dims, dtype, batch=None):
        """Build for the declared shape (and batch size, if declared: an Input(batch_size=)
        accepts no other). A size given as None (a variable length) is built at one
        placeholder size and checked at another: no weight may depend on it."""
        sizes = symbolic.VARYING if None in dims else symbolic.VARYING[:1]
        for n, size in enumerate(sizes):
            spec = jax.ShapeDtypeStruct((1 if batch is None else batch,
                                         *(size if d is None else d for d in dims)), dtype)
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

    def _connect(self, declared, dtype):
        """Call the layers not yet connected on the symbolic output of those before them, as
        Keras 2's Sequential does once its input shape is known: each layer then has its
        `input`, `output`, `input_shape` and `output_shape`, and the model its `input` and
        `output`, for `Model(model.input, model.layers[i].output)`."""
        chain = self._symbolic_chain
        if not chain:  # an xf.keras.Input's own tensor, else named as Keras 2 names it
            first = self._layers[0]
            chain.append(symbolic.input_of(first) if isinstance(first, InputLayer) else
                         symbolic.Input(declared[1:], batch_size=declared[0], dtype=dtype,
                                        name=f"{first.name}_input"))
        for layer in self._layers[len(chain) - 1:]:
            chain.append(chain[-1] if isinstance(layer, InputLayer) else layer(chain[-1]))

    def _built_for(self, input_shape):
        """After Keras 2's `model.build((None, 8))`: the layers connected on a symbolic
        input of that shape, so each has its `output` and `output_shape`."""
        if isinstance(input_shape, (tuple, list)) and self._layers and \
                not self._symbolic_chain and not self._host_layers() and \
                all(d is None or isinstance(d, int) for d in input_shape):
            dtype = getattr(self._layers[0], "_declared_input_dtype", jnp.float32)
            self._connect(tuple(input_shape), dtype)

    def pop(self):
        layer = self._layers.pop()
        self._build_input_shape = None
        del self._symbolic_chain[len(self._layers) + 1:]
        return layer

    @property
    def input(self):
        """The symbolic input, once the input shape is declared (Keras 2)."""
        return self._symbolic_chain[0] if self._symbolic_chain else super().input

    @property
    def output(self):
        """The last layer's symbolic output, once the input shape is declared (Keras 2)."""
        return self._symbolic_chain[-1] if len(self._symbolic_chain) > 1 else super().output

    @property
    def input_shape(self):
        """The declared input's shape: with a string Input, the raw strings' (Keras 2), not
        the shape of the host layers' output that the compiled part is built for."""
        if self._symbolic_chain and self._host_layers():
            return tuple(self._symbolic_chain[0].shape)
        return super().input_shape

    @property
    def output_shape(self):
        with self._compiled_part():  # traced from the host layers' output, as it is built
            return super().output_shape

    @property
    def layers(self):
        """The layers, without an InputLayer (as Keras lists them)."""
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)]

    def _flat_tensors(self, which):
        return [self.input if which == "inputs" else self.output]

    def _declared_input_shape(self):
        if self.__dict__.get("_host_layers_ran"):  # the compiled part's: the host output's
            host = len(self._host_layers())
            if host and len(self._symbolic_chain) > host:
                return tuple(self._symbolic_chain[host].shape)
        if self._layers:
            declared = _first_input_shape(self._layers[0])
            if declared is not None:
                return declared
        return self._batch_input_shape

    def call(self, inputs, training=None, mask=None):
        layers = self._layers
        if self.__dict__.get("_host_layers_ran"):  # fit/evaluate/predict fed their output
            layers = layers[len(self._host_layers()):]
        else:
            declared = self._declared_input_shape()
            if declared is not None and not isinstance(inputs, SymbolicTensor):
                inputs = shapes.conform(inputs, declared)  # Keras 2: (n,) feeds (None, 1)
        chain = self._symbolic_chain
        # each output's symbol, to give it a ragged Input's rows' mask (ragged_fed.py)
        symbols = chain[len(chain) - len(layers):] if chain and chain[0].ragged_source \
            is not None and len(chain) == len(self._layers) + 1 else None
        with keras_mask.given(inputs, mask):
            source = inputs
            for i, layer in enumerate(layers):
                inputs = layer(inputs, training=training)
                if symbols is not None:
                    carry_mask(symbols[i], inputs, source)
        return inputs

    # Leading host-side layers (StringLookup, TextVectorization: strings, which XLA cannot
    # hold) run eagerly on each batch before the compiled steps (models/host_fed.py). What is
    # built, traced and saved is the compiled part: its inputs are the host layers' output.
    def _host_feed(self):
        host = self._host_layers()
        if not host:
            return None
        if isinstance(host[0], InputLayer):  # raw strings checked against the Input first
            return functools.partial(_checked_host_run, self, host)
        return functools.partial(_host_run, host)

    def _prepare(self, x):
        with self._compiled_part():
            return super()._prepare(x)

    def _check_input_shape(self, inputs):
        # A first direct call on strings records the host layers' output as the input spec
        host = self._host_layers()
        if host and not self.__dict__.get("_host_layers_ran"):
            inputs = _host_run(host, inputs)
        super()._check_input_shape(inputs)

    def _host_layers(self):
        """The leading host layers (with a string Input's InputLayer before them, or an
        integer Input's before a host layer that takes integers: Hashing)."""
        first = self._layers[0] if self._layers else None
        count = int(isinstance(first, InputLayer) and (
            is_string_dtype(first.dtype) or
            getattr(self._layers[1] if len(self._layers) > 1 else None, "host_side", False)))
        while count < len(self._layers) and getattr(self._layers[count], "host_side", False):
            count += 1
        return self._layers[:count]

    def get_config(self):
        from xlaflow.saving.serialization import serialize_keras_object
        config = {"name": self.name, "trainable": self.trainable,
                  "layers": [serialize_keras_object(layer) for layer in self._layers]}
        if self._symbolic_chain and self._declared_input_shape() is None:
            # built by build(input_shape): Keras 2 records it and from_config builds again
            config["build_input_shape"] = list(self._symbolic_chain[0].shape)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from xlaflow.saving.serialization import deserialize_keras_object
        model = cls([deserialize_keras_object(layer, custom_objects)
                     for layer in config["layers"]],
                    name=config.get("name"), trainable=config.get("trainable", True))
        shape = config.get("build_input_shape")
        if isinstance(shape, (list, tuple)) and shape and not model._symbolic_chain:
            model.build(tuple(shape))
        return model


def _host_run(host, x):
    for layer in host:
        x = layer(x)
    return x


def _checked_host_run(model, host, x):
    """The host layers on `x`, once checked against (and conformed to) the string Input."""
    x = host_prefix.column(model, model._symbolic_chain[0], x)
    for layer, symbol in zip(host[1:], model._symbolic_chain[2:]):
        x = host_prefix.checked(symbol.node, layer(x))
    return x


def _first_input_shape(layer):
    """The input shape `layer` declares, looking into a nested Sequential or single-input
    functional model as Keras 2 does (Sequential([inner_model, Dense(6)]) is built at once)."""
    if isinstance(layer, Sequential):
        return layer._declared_input_shape()
    if isinstance(layer, Model) and layer._graph is not None:
        shape = layer._build_input_shape
        if isinstance(shape, list) and len(shape) == 1:
            shape = shape[0]
        return tuple(shape) if isinstance(shape, tuple) else None
    return layer._batch_input_shape
