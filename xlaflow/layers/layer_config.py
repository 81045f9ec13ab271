"""A layer's Keras configuration: `get_config` (the constructor arguments that rebuild it,
with its regularizers and constraints serialized) and `from_config`.

A user's subclass that defines no get_config is configured from the arguments it was made
with (`InitArgs`, captured by Layer.__new__), as Keras 3 does for such classes.
"""

from __future__ import annotations

from xlaflow import constraints as constraints_lib
from xlaflow import regularizers as regularizers_lib


def _user_class_without_config(cls):
    """True for a class outside xlaflow whose get_config comes from xlaflow's base classes:
    its config is then its constructor arguments, captured when it was made."""
    owner = next(c for c in cls.__mro__ if "get_config" in vars(c))
    return not cls.__module__.startswith("xlaflow.") and owner.__module__.startswith("xlaflow.")


class InitArgs:
    """`(args, kwargs)` a layer was made with. Not a tuple: `Module.variables` walks tuples,
    and the layers among the arguments must count only through the attributes holding them
    (in attribute order, the same after load_model; a popped layer must drop out)."""

    __slots__ = ("args", "kwargs")

    def __init__(self, args, kwargs):
        self.args, self.kwargs = args, kwargs

    def __iter__(self):
        return iter((self.args, self.kwargs))


class LayerConfig:
    """Layer's get_config/from_config (a mixin: Layer holds the attributes they read)."""

    def get_config(self):
        """The constructor arguments that rebuild this layer (without its weights)."""
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": self._dtype_policy.name}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        if _user_class_without_config(type(self)):
            from xlaflow.saving import serialization
            return serialization.auto_config(self, config)
        config.update(dict.fromkeys(self._penalty_arguments))  # None where not given
        config.update({argument: regularizers_lib.serialize(value)
                       for argument, value in self._regularizers.items()})
        config.update({argument: constraints_lib.serialize(value)
                       for argument, value in self._constraints.items()})
        if self.activity_regularizer is not None or \
                "activity_regularizer" in self._penalty_arguments:
            config["activity_regularizer"] = regularizers_lib.serialize(
                self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        """Rebuild from get_config's dict (saved Keras objects inside it are revived)."""
        from xlaflow.saving import serialization
        return cls(**serialization.revive_arguments(config))
