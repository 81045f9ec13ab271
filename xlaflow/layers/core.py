"""Core layers: InputLayer, Dense, Flatten, Reshape, Activation, Dropout."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from xlaflow import activations as activations_lib
from xlaflow import initializers as initializers_lib
from xlaflow._string_dtype import HOST_STRING
from xlaflow.layers import _data_format
from xlaflow.layers.base import Layer, unique_name
from xlaflow.random import SeedGenerator, drawn_flat
from xlaflow.tensors import is_string_dtype


class InputLayer(Layer):
    """Declares the model's input shape (without the batch); passes inputs through."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, ragged=False,
                 **kwargs):
        self.ragged = bool(ragged)  # Keras 2: rows of any length (symbolic.make_ragged)
        if shape is None and "input_shape" in kwargs:
            shape = kwargs.pop("input_shape")
        if shape is None and "batch_input_shape" not in kwargs:
            raise ValueError("InputLayer needs `shape` (the shape of one example)")
        if shape is not None:
            kwargs["batch_input_shape"] = (batch_size, *tuple(shape))
        text = dtype is not None and is_string_dtype(dtype)
        if name is None:  # Keras 2's InputLayer: input_1, input_2, ... (as Input's)
            name = unique_name("input", zero_based=False)
        super().__init__(name=name, dtype=None if text else dtype, **kwargs)
        if text:  # an Input of strings, for host layers (StringLookup): no dtype policy
            self.dtype = HOST_STRING
        self.built = True  # no weights to make (Keras 2)

    def get_config(self):
        config = super().get_config()
        if is_string_dtype(self.dtype):
            config["dtype"] = "string"  # TF's name, as Keras 2 saves it
        config["ragged"] = self.ragged  # Keras 2 writes it, False or True
        return config

    def call(self, inputs):
        return inputs

    @property
    def input(self):
        """The Input tensor this layer stands for (Keras 2: its input is its output)."""
        return self.output

    @property
    def output(self):
        tensor = self.__dict__.get("_input_tensor")
        if tensor is None:
            raise AttributeError(f"Layer {self.name} has no inbound nodes: only the "
                                 "InputLayer of an xf.keras.Input has a symbolic output")
        return tensor

    @property
    def input_shape(self):
        """`[batch_input_shape]`: Keras 2's InputLayer node wraps its one tensor in a list,
        so `model.layers[0].input_shape` reads `[(None, 3)]` (the summary's row)."""
        return [self._batch_input_shape]

    @property
    def output_shape(self):
        """The same `[batch_input_shape]` as input_shape: the layer passes its input on."""
        return [self._batch_input_shape]


class Dense(Layer):
    """`activation(inputs @ kernel + bias)` over the last axis."""

    _per_value = "last axis"  # a RaggedTensor keeps its rows (ragged_calls)

    supports_masking = True  # the input mask goes on to the output (Keras 2)

    _penalty_arguments = ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                          "kernel_constraint", "bias_constraint")

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if int(units) <= 0:
            raise ValueError(f"Dense: units must be a positive integer; received {units!r}")
        self.units = int(units)
        self.activation = activations_lib.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers_lib.get(kernel_initializer)
        self.bias_initializer = initializers_lib.get(bias_initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight("bias", (self.units,), initializer=self.bias_initializer) \
            if self.use_bias else None
        self.built = True

    def call(self, inputs):
        shape = jnp.shape(inputs)  # (a distributed batch says here how to use it)
        if shape[-1:] != self.kernel.shape[:1]:  # (as Keras' input_spec, by name)
            raise ValueError(
                f"Input of layer {self.name!r} is incompatible with the layer: expected axis "
                f"-1 of input shape to have value {self.kernel.shape[0]}, but received input "
                f"with shape {tuple(shape)}")
        outputs = jnp.matmul(inputs, self.kernel.value)
        if self.bias is not None:
            outputs = outputs + self.bias.value
        return self.activation(outputs)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations_lib.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers_lib.serialize(self.kernel_initializer),
                "bias_initializer": initializers_lib.serialize(self.bias_initializer)}


class Flatten(Layer):
    """Flattens everything but the batch axis. With data_format='channels_first', the
    channels axis is moved last first (as Keras), so the features come in the order a
    channels-last model flattens them: a Dense after it keeps its weights across layouts."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format.resolve(type(self).__name__, data_format)

    def call(self, inputs):
        if self.data_format == _data_format.FIRST and inputs.ndim > 2:
            inputs = jnp.moveaxis(inputs, 1, -1)
        return jnp.reshape(inputs, (inputs.shape[0], math.prod(inputs.shape[1:])))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes each example to `target_shape` (one dimension may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)

    def call(self, inputs):
        return jnp.reshape(inputs, (inputs.shape[0], *self.target_shape))

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Activation(Layer):
    """Applies an activation function by name or callable."""

    _per_value = "values"  # a RaggedTensor keeps its rows (ragged_calls)

    supports_masking = True  # the input mask goes on to the output (Keras 2)

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations_lib.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(),
                "activation": activations_lib.serialize(self.activation)}


class Dropout(Layer):
    """Zeroes a `rate` fraction of inputs in training (scaling the rest by 1/(1-rate)).

    Its random key is a Variable (see xf.random.SeedGenerator): reproducible given `seed`,
    fresh at every step under jit, and unchanged in inference.
    """

    _per_value = "values"  # a RaggedTensor keeps its rows (ragged_calls)

    supports_masking = True  # the input mask goes on to the output (Keras 2)

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= float(rate) < 1:
            raise ValueError(f"Dropout: rate must be in [0, 1); received {rate!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self.seed_generator = SeedGenerator(seed, name=f"{self.name}/seed_generator")

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        shape = inputs.shape if self.noise_shape is None else tuple(
            s if n is None else n for s, n in zip(inputs.shape, self.noise_shape))
        key = self.seed_generator.next()
        keep = drawn_flat(lambda k, s: jax.random.bernoulli(k, 1.0 - self.rate, s), key, shape)
        return jnp.where(keep, inputs / (1.0 - self.rate), jnp.zeros_like(inputs))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape)}
