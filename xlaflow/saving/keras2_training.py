"""Keras 2's training_config (an HDF5 model file's compile arguments) as xlaflow's compile
arguments, so that a file TF wrote loads compiled as Keras 2's load_model compiles it.

Keras 2 writes losses and metrics as `{"class_name", "config"}` (no "registered_name"), a
user's function by its name ("my_loss", or "Custom>my_loss" when registered) and a metric
function as a MeanMetricWrapper naming it; its optimizers carry keys that only matter with
features that are off (EMA, the legacy flag). Names resolve through `custom_objects` and the
registry, as Keras 2's load_model resolves them in its custom object scope.
"""

from __future__ import annotations

from xlaflow.saving import keras2_config, keras_model, serialization

# Keras 2.11+ writes these EMA settings whatever they are; with use_ema=False they are unused
_EMA_KEYS = ("ema_momentum", "ema_overwrite_frequency")
# Keras 2.12's loss arguments with no counterpart here, dropped at the value that changes
# nothing (any other value is refused by name)
_LOSS_ONLY = {"BinaryCrossentropy": {"axis": -1}, "CategoricalCrossentropy": {"axis": -1},
              "SparseCategoricalCrossentropy": {"ignore_class": None}}
# Keras 2's mixed precision wrapper (2.11+ saves its optimizer as LossScaleOptimizerV3)
_LOSS_SCALE = ("LossScaleOptimizer", "LossScaleOptimizerV3")


def compile_arguments(training, custom_objects=None):
    """The compile keyword arguments of Keras 2's `training` dict (xlaflow's own, whose
    objects carry "registered_name", pass through unchanged)."""
    config = dict(training)
    mode = config.pop("sample_weight_mode", None)  # Keras <= 2.3 wrote it; None is the default
    if mode is not None:
        raise NotImplementedError(f"load_model: the file was compiled with Keras 2's "
                                  f"sample_weight_mode={mode!r}, which is not supported here; "
                                  "load it with compile=False and compile it in code")
    for key in ("optimizer_config", "optimizer"):
        if keras2_config.is_keras2_config(config.get(key)):
            config[key] = _optimizer(config[key], custom_objects)
    if "loss" in config:
        config["loss"] = _objects(config["loss"], "loss", custom_objects)
    for key in ("metrics", "weighted_metrics"):
        if key in config:
            config[key] = _objects(config[key], "metric", custom_objects)
    return config


def _optimizer(config, custom_objects):
    """Keras 2's optimizer dict, read as xlaflow's optimizers read theirs: TF 2.11+ saves
    `optimizers.legacy.Adam` as "Custom>Adam" with is_legacy_optimizer set; a
    LossScaleOptimizer (mixed precision) is made here around its inner optimizer's."""
    if config["class_name"] in _LOSS_SCALE and _user(config["class_name"],
                                                     custom_objects) is None:
        return _loss_scale(config["config"], custom_objects)
    config = {**config, "config": dict(config["config"])}
    inner = config["config"]
    legacy = config.pop("is_legacy_optimizer", False) or inner.pop("is_legacy_optimizer", False)
    name = config["class_name"]
    if legacy and name.startswith("Custom>") and serialization.get_registered_object(
            name, custom_objects, module="") is None:
        config["class_name"] = name.split(">", 1)[1]
    if not inner.get("use_ema", False):
        for key in _EMA_KEYS:
            inner.pop(key, None)
    from xlaflow.optimizer_base import Optimizer
    user = _user(config.get("registered_name") or name, custom_objects)
    if isinstance(user, type) and issubclass(user, Optimizer) and \
            user.__module__ != "xlaflow.optimizers":
        return user.from_config(inner)  # the user's Optimizer class, as its loss or metric
    return config


def _loss_scale(config, custom_objects):
    from xlaflow import optimizers
    from xlaflow.loss_scale import LossScaleOptimizer
    if not config.get("dynamic", True):
        raise NotImplementedError(
            "load_model: the file's LossScaleOptimizer has dynamic=False (a fixed loss "
            "scale), which is not supported here (only the dynamic one); load it with "
            "compile=False and compile it in code")
    inner = config.get("inner_optimizer", config.get("optimizer"))
    if not keras2_config.is_keras2_config(inner):
        raise ValueError(f"load_model: the file's LossScaleOptimizer config has no inner "
                         f"optimizer {{'class_name', 'config'}}; received {inner!r}")
    return LossScaleOptimizer(optimizers.get(_optimizer(inner, custom_objects)),
                              config.get("initial_scale", 2.0 ** 15),
                              config.get("dynamic_growth_steps", 2000))


def _objects(value, kind, custom_objects):
    """The loss or metric arguments in `value` (a name, a Keras 2 dict, or lists and dicts
    of them per output) with the user's objects and Keras 2's dicts made into objects."""
    if isinstance(value, str):
        return _named(value, custom_objects)
    if keras2_config.is_keras2_config(value):
        return _object(value, kind, custom_objects)
    if isinstance(value, list):
        return [_objects(v, kind, custom_objects) for v in value]
    if isinstance(value, dict) and not serialization.is_serialized_object(value) and \
            set(value) != {keras_model._FUNCTION}:  # xlaflow's own objects stay as they are
        return {k: _objects(v, kind, custom_objects) for k, v in value.items()}
    return value


def _user(name, custom_objects):
    """What `custom_objects` or the registry hold under `name` (never a built-in)."""
    return serialization.get_registered_object(name, custom_objects, module="")


def _named(name, custom_objects):
    found = _user(name, custom_objects)
    if found is None:
        return name  # a built-in name ("mse", "accuracy"): compile reads it
    return found() if isinstance(found, type) else found


def _object(value, kind, custom_objects):
    class_name, config = value["class_name"], dict(value["config"] or {})
    cls = _user(class_name, custom_objects)
    if cls is not None:  # the user's Loss or Metric class
        with serialization.custom_object_scope(custom_objects):
            return cls.from_config(config)
    if kind == "metric" and class_name == "MeanMetricWrapper" and \
            isinstance(config.get("fn"), str):
        fn = _user(config["fn"], custom_objects)
        if fn is not None:  # the user's metric function, saved by name
            from xlaflow.metrics import MeanMetricWrapper
            config.pop("fn")
            return MeanMetricWrapper(fn, **config)
    if kind == "loss":
        from xlaflow import losses
        for key, default in _LOSS_ONLY.get(class_name, {}).items():
            if config.get(key, default) != default:
                raise NotImplementedError(
                    f"load_model: the file's {class_name} loss has Keras 2's {key}="
                    f"{config[key]!r}, which is not supported here (only {default!r}); "
                    "load it with compile=False and compile it in code")
            config.pop(key, None)
        # deserialized here: a dict given to compile as loss would read as per output
        return losses.deserialize({"class_name": class_name, "config": config})
    return value  # a built-in metric's dict: compile's metrics.get reads it
