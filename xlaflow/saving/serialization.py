"""Keras objects as JSON: `{"class_name", "registered_name", "config"}` and back.

Built-in classes are found by class name; user classes by the name they registered with
`@register_serializable(package=...)` ("package>Name") or through `custom_objects`.
Loading only ever looks classes up here: a config cannot name arbitrary Python to import.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import re
import threading

_REGISTERED = {}  # "package>Name" -> class or function
_SCOPE = threading.local()


def register_serializable(package="Custom", name=None):
    """Class decorator making a custom layer/model/loss/... loadable by `load_model`."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_serializable: package must be a string without '>'; "
                         f"received {package!r}")

    def decorate(obj):
        key = f"{package}>{name or obj.__name__}"
        if key in _REGISTERED and _REGISTERED[key] is not obj and \
                _REGISTERED[key].__qualname__ != obj.__qualname__:
            raise ValueError(f"register_serializable: {key!r} is already registered to "
                             f"{_REGISTERED[key]!r}")
        _REGISTERED[key] = obj
        obj._xf_registered_name = key
        return obj

    return decorate


def get_registered_name(obj):
    """The name a class (or an instance's class) is saved under."""
    cls = obj if inspect.isclass(obj) or inspect.isfunction(obj) else type(obj)
    # vars(): a subclass of a registered class is not saved under its parent's name
    return vars(cls).get("_xf_registered_name") or cls.__name__


def get_custom_objects():
    """Keras' live global registry ({name: class or function}): what the decorator
    registered, under "package>Name"; an entry added by hand is found under its key."""
    return _REGISTERED


@contextlib.contextmanager
def custom_object_scope(custom_objects):
    """Make `custom_objects` ({name: class}) resolvable while loading inside the block."""
    previous = getattr(_SCOPE, "objects", {})
    _SCOPE.objects = {**previous, **(custom_objects or {})}
    try:
        yield
    finally:
        _SCOPE.objects = previous


def _builtins():
    from xlaflow import initializers, layers, losses, metrics, models, optimizers
    from xlaflow.keras import layers as keras_layers  # Lambda, ... (not in xf.layers)
    found = {}
    for module in (layers, keras_layers, models, initializers, losses, metrics, optimizers):
        for attr in dir(module):
            value = getattr(module, attr)
            if inspect.isclass(value) and value.__module__.startswith("xlaflow."):
                found.setdefault(value.__name__, value)
    return found


def get_registered_object(name, custom_objects=None, module=None):
    """The class saved under `name`: from custom_objects, the registry, or the built-ins
    (looked up in `module` first when it is one of xlaflow's: a loss and a metric can share
    a class name)."""
    scoped = {**getattr(_SCOPE, "objects", {}), **(custom_objects or {})}
    short = name.split(">", 1)[-1]
    for candidate in (name, short):
        if candidate in scoped:
            return scoped[candidate]
    if name in _REGISTERED:
        return _REGISTERED[name]
    if ">" not in name:
        if isinstance(module, str) and _XLAFLOW_MODULE.fullmatch(module):
            try:  # only xlaflow's own modules are ever imported by name from a config
                found = getattr(importlib.import_module(module), name, None)
            except ImportError:
                found = None
            # ... and only classes defined in xlaflow, not ones its modules import
            if inspect.isclass(found) and found.__module__.startswith("xlaflow."):
                return found
        if module is None or (isinstance(module, str) and module.startswith("xlaflow.")):
            return _builtins().get(name)
        # A class of the user's own (module __main__, say) named like a built-in: the
        # built-in would load as a different model, silently.
    return None


# `xlaflow.<identifier>...`, no dunder parts (`xlaflow.__init__` would run the package again)
_XLAFLOW_MODULE = re.compile(r"xlaflow(?:\.(?!__)[A-Za-z_][A-Za-z0-9_]*)+")


def serialize_keras_object(obj):
    """`{"class_name", "registered_name", "config"}` for a layer, model, optimizer, ..."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    get_config = getattr(obj, "get_config", None)
    if get_config is None:
        raise ValueError(f"cannot serialize {obj!r}: it has no get_config(); give its class "
                         "get_config/from_config and @register_serializable()")
    return {"module": type(obj).__module__, "class_name": type(obj).__name__,
            "registered_name": get_registered_name(obj), "config": get_config()}


def is_serialized_object(value):
    return isinstance(value, dict) and {"class_name", "registered_name", "config"} <= set(
        value) <= {"module", "class_name", "registered_name", "config"}


def deserialize_keras_object(config, custom_objects=None):
    """Rebuild an object from `serialize_keras_object`'s dict, or from Keras 2's
    `{"class_name", "config"}` (TF's to_json, an HDF5 model_config: keras2_config.py)."""
    from xlaflow.saving import keras2_config
    if keras2_config.is_keras2_config(config):
        return keras2_config.deserialize(config, custom_objects)
    if not is_serialized_object(config) or not isinstance(config["registered_name"], str):
        raise ValueError(f"not a serialized Keras object (expected class_name, "
                         f"registered_name (a string) and config, or Keras 2's class_name "
                         f"and config): {config!r}")
    cls = get_registered_object(config["registered_name"], custom_objects,
                                config.get("module"))
    if cls is None:
        raise unknown_class_error(config["class_name"], config["registered_name"])
    with custom_object_scope(custom_objects):
        from_config = getattr(cls, "from_config", None)
        if from_config is None:
            raise ValueError(f"cannot load {config['class_name']!r}: {cls!r} has no "
                             "from_config")
        return from_config(config["config"])


def unknown_class_error(class_name, registered_name):
    """The ValueError for a saved class that is not known here, saying how to make it so."""
    return ValueError(
        f"cannot load {class_name!r}: the saved model names the class "
        f"{registered_name!r}, which is not known here. Import the module that "
        "defines it, decorated with @xf.keras.saving.register_serializable(), or pass "
        f"custom_objects={{{class_name!r}: {class_name}}}. To run "
        "the model without its Python code use xf.saved_model.load(path).")


# -- configs of user subclasses, captured from their constructor arguments ---------------
def auto_config(obj, base):
    """`base` plus the arguments `obj` was constructed with, for classes that define no
    get_config (Keras 3's behaviour); raises if an argument cannot be saved as JSON."""
    args, kwargs = getattr(obj, "_xf_init_args", ((), {}))
    try:
        bound = inspect.signature(type(obj).__init__).bind(obj, *args, **kwargs)
    except TypeError:
        return dict(base)
    params = inspect.signature(type(obj).__init__).parameters
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    config = {k: v for k, v in base.items() if takes_kwargs or k in params}
    for name, value in list(bound.arguments.items())[1:]:
        kind = params[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            raise ValueError(f"{type(obj).__name__}: *{name} arguments cannot be saved; "
                             "define get_config() and from_config()")
        items = value.items() if kind is inspect.Parameter.VAR_KEYWORD else [(name, value)]
        for key, item in items:
            config[key] = _jsonable(type(obj).__name__, key, item)
    return config


def _jsonable(owner, key, value):
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(owner, key, v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _jsonable(owner, key, v) for k, v in value.items()}
    if hasattr(value, "get_config"):
        return serialize_keras_object(value)
    raise ValueError(
        f"{owner}: constructor argument {key!r} of type {type(value).__name__} cannot be saved "
        f"as JSON; define {owner}.get_config() returning its constructor arguments (and "
        "from_config to rebuild objects from them)")


def revive_arguments(config):
    """Rebuild the serialized objects inside an auto-captured config."""
    def revive(value):
        if is_serialized_object(value):
            return deserialize_keras_object(value)
        if isinstance(value, list):
            return [revive(v) for v in value]
        if isinstance(value, dict):
            return {k: revive(v) for k, v in value.items()}
        return value
    return {k: revive(v) for k, v in config.items()}
