"""Activation functions by Keras name (`'relu'`, `'softmax'`, ...), resolved with `get`."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp

from xlaflow import _eager_nn


def linear(x):
    return x


def relu(x):
    return _eager_nn.relu(x)


def relu6(x):
    return _eager_nn.relu6(x)


def sigmoid(x):
    return jax.nn.sigmoid(x)


def tanh(x):
    return jnp.tanh(x)


def softmax(x, axis=-1):
    return _eager_nn.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    return jax.nn.log_softmax(x, axis=axis)


def elu(x, alpha=1.0):
    return jax.nn.elu(x, alpha)


def selu(x):
    return jax.nn.selu(x)


def gelu(x, approximate=False):
    return _eager_nn.gelu(x, approximate=approximate)


def silu(x):
    return jax.nn.silu(x)


def softplus(x):
    return jax.nn.softplus(x)


def softsign(x):
    return jax.nn.soft_sign(x)


def leaky_relu(x, negative_slope=0.2):
    return jax.nn.leaky_relu(x, negative_slope)


def exponential(x):
    return jnp.exp(x)


def hard_sigmoid(x):
    """Keras 2's piecewise-linear sigmoid, `clip(0.2 * x + 0.5, 0, 1)` (Keras 3 changed
    the slope to 1/6; configs saved by Keras 2 LSTMs name this one)."""
    return jnp.clip(0.2 * jnp.asarray(x) + 0.5, 0.0, 1.0)


swish = silu

_BY_NAME = {f.__name__: f for f in (linear, relu, relu6, sigmoid, tanh, softmax, log_softmax,
                                    elu, selu, gelu, silu, softplus, softsign, leaky_relu,
                                    exponential, hard_sigmoid)}
_BY_NAME["swish"] = silu


def get(identifier):
    """The activation for a name, a callable (returned as is) or None (linear)."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    if isinstance(identifier, str):
        # a user's function, saved by name: registered, or given as custom_objects
        from xlaflow.saving.serialization import get_registered_object
        found = get_registered_object(identifier, module="user")
        if inspect.isfunction(found):
            return found
        raise ValueError(
            f"Unknown activation {identifier!r}; expected one of {sorted(_BY_NAME)}, a "
            "callable, or the name of a function registered with "
            "@keras.utils.register_keras_serializable or passed in custom_objects")
    raise ValueError(f"Unknown activation {identifier!r}; expected one of "
                     f"{sorted(_BY_NAME)} or a callable")


def serialize(activation):
    """The Keras name of an activation (for get_config): a built-in's, or a user function's
    registered name ('package>name') or __name__, which loading resolves as Keras 2 does."""
    for name, fn in _BY_NAME.items():
        if fn is activation:
            return name
    if inspect.isfunction(activation) and activation.__name__ != "<lambda>":
        from xlaflow.saving.serialization import get_registered_name
        return get_registered_name(activation)
    raise ValueError(f"activation {activation!r} has no Keras name: give it one with `def` "
                     "(and @keras.utils.register_keras_serializable, or custom_objects when "
                     "loading), or register the layer with a custom get_config to save it")


def deserialize(name):
    """The activation `serialize` named (configs hold activations by name, as Keras 3)."""
    if not isinstance(name, str) or name not in _BY_NAME:
        raise ValueError(f"Unknown activation {name!r} in config; expected one of "
                         f"{sorted(_BY_NAME)}")
    return _BY_NAME[name]
