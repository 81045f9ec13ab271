"""Keras' `get` / `serialize` / `deserialize` for a family of small callables (weight
regularizers, weight constraints): built-ins by name or `{class_name, config}` dict,
instances and plain callables as they are, user classes through xf.keras.saving."""

from __future__ import annotations


class Lookup:
    """`kind` names the family in errors; `base` is its class; `builtin` its own classes;
    `by_name` maps every accepted name (class names, Keras' aliases) to a class or factory."""

    def __init__(self, kind, base, builtin, by_name):
        self.kind, self.base, self.builtin, self.by_name = kind, base, builtin, by_name
        self._builtin_names = {cls.__name__ for cls in builtin}

    def get(self, identifier):
        if identifier is None or isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str) and identifier in self.by_name:
            return self.by_name[identifier]()
        if isinstance(identifier, dict) and identifier.get("class_name") in self._builtin_names:
            return self.by_name[identifier["class_name"]].from_config(
                identifier.get("config", {}))
        if callable(identifier) and not isinstance(identifier, (str, dict, type)):
            return identifier
        raise ValueError(f"Unknown {self.kind} {identifier!r}; expected None, one of "
                         f"{sorted(self.by_name)}, a {{class_name, config}} dict or a "
                         "callable")

    def serialize(self, value):
        if value is None:
            return None
        if type(value) in self.builtin:
            return {"class_name": type(value).__name__, "config": value.get_config()}
        from xlaflow.saving import serialization
        return serialization.serialize_keras_object(value)

    def deserialize(self, config, custom_objects=None):
        if isinstance(config, dict) and config.get("class_name") not in self._builtin_names:
            from xlaflow.saving import serialization
            return serialization.deserialize_keras_object(config, custom_objects)
        return self.get(config)
