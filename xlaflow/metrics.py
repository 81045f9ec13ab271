"""Keras metrics: stateful objects whose state is Variables (update_state/result/reset).

Because the state is Variables, `update_state` works eagerly, inside xf.function and inside
fit's compiled step alike, without a separate functional metric API.
"""

from __future__ import annotations

import jax.numpy as jnp

from xlaflow import _eager_pairs
from xlaflow import losses as losses_lib
from xlaflow._host_arrays import on_device
from xlaflow.metric_base import Metric  # the base class lives there; re-exported here
from xlaflow.metric_base import div_no_nan as _div_no_nan
from xlaflow.metrics_auc import AUC
from xlaflow.metrics_confusion import (
    FalseNegatives,
    FalsePositives,
    Precision,
    Recall,
    TrueNegatives,
    TruePositives,
)


class Mean(Metric):
    """The (weighted) mean of the values it is given."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)
        self.total = self.add_variable("total")
        self.count = self.add_variable("count")

    def update_state(self, values, sample_weight=None):
        values = jnp.asarray(values, self.dtype)
        if sample_weight is None:
            self.total.assign_add(jnp.sum(values))
            self.count.assign_add(jnp.asarray(values.size, self.dtype))
            return
        values, weight = _weighted(self, values, sample_weight, jnp.mean)
        self.total.assign_add(jnp.sum(values * weight))
        self.count.assign_add(jnp.sum(weight))

    def result(self):
        return _div_no_nan(self.total.value, self.count.value)


class Sum(Metric):
    """The (weighted) sum of the values it is given (Keras 2's metrics.Sum)."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name, dtype)
        self.total = self.add_variable("total")

    def update_state(self, values, sample_weight=None):
        values = jnp.asarray(values, self.dtype)
        if sample_weight is not None:
            values, weight = _weighted(self, values, sample_weight, jnp.sum)
            values = values * weight
        self.total.assign_add(jnp.sum(values))

    def result(self):
        return self.total.value


def _weighted(metric, values, sample_weight, reduce):
    """(values, weights) of one shape, as Keras 2's Reduce metrics line them up: weights
    broadcast to the values; weights that cannot (a (batch, time) mask on the scalar a
    custom metric returns) take the values broadcast to them instead, the values first
    reduced by `reduce` over any axes past the weights' (TF's try/except ValueError)."""
    weight = losses_lib.align_weight(jnp.asarray(sample_weight, metric.dtype), values.ndim)
    try:
        return values, jnp.broadcast_to(weight, values.shape)
    except ValueError:
        pass
    values = reduce(values, axis=tuple(range(weight.ndim, values.ndim)))
    try:
        return jnp.broadcast_to(values, weight.shape), weight
    except ValueError:
        raise ValueError(f"{metric.name}: sample_weight of shape {tuple(weight.shape)} "
                         f"does not line up with the values of shape {tuple(values.shape)}"
                         ) from None


class MeanMetricWrapper(Mean):
    """Mean of `fn(y_true, y_pred)` over all examples seen."""

    def __init__(self, fn, name=None, dtype=None, **options):
        super().__init__(name or fn.__name__, dtype)
        self.fn, self.options = fn, options

    def update_state(self, y_true, y_pred, sample_weight=None):
        # Lists as in Keras' documented examples become arrays before the function sees them.
        y_true, y_pred = _array(y_true), _array(y_pred)
        super().update_state(_eager_pairs.apply(self.fn, self.options, y_true, y_pred),
                             sample_weight)

    def get_config(self):
        config = {**super().get_config(), **self.options}
        if type(self) is MeanMetricWrapper:  # subclasses pass their function themselves
            config["fn"] = _function_name(self.fn)
        return config

    @classmethod
    def from_config(cls, config):
        if cls is MeanMetricWrapper:
            functions = _builtin_functions()
            if config.get("fn") not in functions:
                raise ValueError(f"MeanMetricWrapper config: fn must name one of "
                                 f"{sorted(functions)}; received {config.get('fn')!r}")
            config = {**config, "fn": functions[config["fn"]]}
        return cls(**config)


def _array(value):
    """An array of `value` (a list, a NumPy array, a number); a dict, as a user function on
    several outputs may take, stays a dict."""
    return value if isinstance(value, dict) else jnp.asarray(on_device(value))


def sparse_categorical_accuracy(y_true, y_pred):
    labels, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
    if labels.ndim == y_pred.ndim:
        labels = jnp.squeeze(labels, -1)
    return (jnp.argmax(y_pred, axis=-1) == labels.astype(jnp.int32)).astype(jnp.float32)


def categorical_accuracy(y_true, y_pred):
    y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
    return (jnp.argmax(y_pred, -1) == jnp.argmax(y_true, -1)).astype(jnp.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per element (as Keras 3), so batches of any size weigh by their examples."""
    y_true, y_pred = losses_lib.align_ranks(y_true, y_pred)
    predicted = (y_pred > threshold).astype(jnp.float32)
    return (predicted == y_true.astype(jnp.float32)).astype(jnp.float32)


def accuracy(y_true, y_pred):
    y_true, y_pred = losses_lib.align_ranks(y_true, y_pred)
    return (y_true == y_pred).astype(jnp.float32)


def accuracy_by_shape(y_true, y_pred):
    """Keras 2's 'accuracy' where the loss does not say which: binary for one output per
    example, sparse categorical for labels of lower rank (or one column against several),
    categorical otherwise. Shapes are static, so the choice is made at trace time."""
    rank_t, rank_p = jnp.ndim(y_true), jnp.ndim(y_pred)
    if rank_p <= 1 or jnp.shape(y_pred)[-1] == 1:
        return binary_accuracy(y_true, y_pred)
    if rank_t < rank_p or jnp.shape(y_true)[-1] == 1:
        return sparse_categorical_accuracy(y_true, y_pred)
    return categorical_accuracy(y_true, y_pred)


class ShapedAccuracy(MeanMetricWrapper):
    """`metrics=['accuracy']` with a loss that is not a cross-entropy (see
    accuracy_by_shape)."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy_by_shape, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)


class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name, dtype)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses_lib.mean_squared_error, name, dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses_lib.mean_absolute_error, name, dtype)


class RootMeanSquaredError(MeanSquaredError):
    """sqrt of the mean squared error over all examples seen (Keras' RMSE)."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name, dtype)

    def result(self):
        return jnp.sqrt(super().result())


_BY_NAME = {
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy, "binary_accuracy": BinaryAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "precision": Precision, "recall": Recall, "auc": AUC,
}

_ACCURACY_FOR_LOSS = {
    losses_lib.SparseCategoricalCrossentropy: SparseCategoricalAccuracy,
    losses_lib.CategoricalCrossentropy: CategoricalAccuracy,
    losses_lib.BinaryCrossentropy: BinaryAccuracy,
}


def get(identifier, loss=None):
    """A Metric from a name, a Metric or a function; 'accuracy'/'acc' picks the accuracy that
    matches `loss` (sparse categorical, categorical or binary), as Keras does."""
    if isinstance(identifier, Metric):
        return identifier
    if identifier in ("accuracy", "acc"):
        cls = _ACCURACY_FOR_LOSS.get(type(loss), ShapedAccuracy)
        return cls(name=identifier)
    if isinstance(identifier, str):
        if identifier in _BY_CLASS_NAME and identifier not in _NEED_ARGUMENTS:
            return _BY_CLASS_NAME[identifier]()  # 'AUC' logs as 'auc', Keras' default name
        if identifier not in _BY_NAME:
            raise ValueError(f"Unknown metric {identifier!r}; expected one of "
                             f"{sorted(_BY_NAME) + ['accuracy']}, a class name such as "
                             f"'AUC', a Metric or a function")
        return _BY_NAME[identifier](name=identifier)  # logged as named: 'mae', as Keras
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Unknown metric {identifier!r}")


_BY_CLASS_NAME = {cls.__name__: cls for cls in (
    Mean, Sum, MeanMetricWrapper, SparseCategoricalAccuracy, CategoricalAccuracy, BinaryAccuracy,
    Accuracy, ShapedAccuracy, MeanSquaredError, MeanAbsoluteError, RootMeanSquaredError,
    Precision, Recall, AUC, TruePositives, FalsePositives, TrueNegatives, FalseNegatives)}


# Class names `get` does not make from a string: a wrapper needs its function, and
# ShapedAccuracy is what 'accuracy' becomes, not a Keras class.
_NEED_ARGUMENTS = {"MeanMetricWrapper", "ShapedAccuracy"}


def _builtin_functions():
    """The functions a MeanMetricWrapper config may name: this module's and the losses'."""
    functions = (sparse_categorical_accuracy, categorical_accuracy, binary_accuracy, accuracy,
                 accuracy_by_shape, *losses_lib._FUNCTIONS)
    return {fn.__name__: fn for fn in functions}


def _function_name(fn):
    name = getattr(fn, "__name__", None)
    if _builtin_functions().get(name) is not fn:
        raise ValueError(f"metric function {fn!r} is not a built-in metric or loss function "
                         f"and cannot be serialized; expected one of "
                         f"{sorted(_builtin_functions())}")
    return name


def serialize(metric):
    """`{"class_name": <Keras class name>, "config": get_config()}` of a built-in Metric."""
    if type(metric) not in _BY_CLASS_NAME.values():
        raise ValueError(f"metric {metric!r} is not a built-in Metric and cannot be "
                         f"serialized; expected one of {sorted(_BY_CLASS_NAME)}")
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config):
    """The Metric of a `serialize` dict."""
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = _BY_CLASS_NAME.get(name)
    if cls is None:
        raise ValueError(f"Unknown metric in config: {config!r}; expected class_name one of "
                         f"{sorted(_BY_CLASS_NAME)}")
    return cls.from_config(config.get("config", {}))


# Keras 2's other metrics live in metrics_extra, which registers them in the tables above.
from xlaflow import metrics_extra  # noqa: F401
