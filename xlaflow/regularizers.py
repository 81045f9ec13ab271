"""Weight regularizers (Keras' tf.keras.regularizers): penalties on a weight's value that
Model.losses collects and fit/evaluate add to the compiled loss."""

from __future__ import annotations

import jax.numpy as jnp

from xlaflow._keras_lookup import Lookup


class Regularizer:
    """A callable `weight -> scalar penalty`; subclasses define __call__ and get_config."""

    def __call__(self, x):
        return jnp.float32(0.0)

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """`l1 * sum(|x|) + l2 * sum(x**2)` (Keras' L1L2; no factor 1/2 on the square)."""

    def __init__(self, l1=0.0, l2=0.0):
        for name, value in (("l1", l1), ("l2", l2)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{type(self).__name__}: {name} must be a number >= 0; "
                                 f"received {value!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        x = jnp.asarray(x, jnp.float32)  # a float16 weight's penalty summed in float32
        penalty = jnp.float32(0.0)
        if self.l1:
            penalty = penalty + self.l1 * jnp.sum(jnp.abs(x))
        if self.l2:
            penalty = penalty + self.l2 * jnp.sum(jnp.square(x))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.get_config().items())})"


class L1(L1L2):
    """`l1 * sum(|x|)`; Keras' default l1 is 0.01."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """`l2 * sum(x**2)`; Keras' default l2 is 0.01."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1_l2(l1=0.01, l2=0.01):
    """Keras' `l1_l2` shortcut (both factors 0.01 by default, unlike the L1L2 class)."""
    return L1L2(l1=l1, l2=l2)


l1, l2 = L1, L2  # Keras' lower-case aliases
_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "L1": L1, "L2": L2, "L1L2": L1L2}


_LOOKUP = Lookup("regularizer", Regularizer, (L1, L2, L1L2), _BY_NAME)


def get(identifier):
    """A regularizer from None, a name ('l1', 'l2', 'l1_l2', a class name), a
    `{class_name, config}` dict, a Regularizer or any callable `weight -> scalar`."""
    return _LOOKUP.get(identifier)


def serialize(regularizer):
    """`{"class_name", "config"}` for a built-in regularizer (None stays None). A user's
    callable goes through xf.keras.saving (register it to save the model)."""
    return _LOOKUP.serialize(regularizer)


def deserialize(config, custom_objects=None):
    """The regularizer `serialize` described (a name or dict of a built-in, or a registered
    or `custom_objects` class)."""
    return _LOOKUP.deserialize(config, custom_objects)
