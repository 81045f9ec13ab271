"""The rest of Keras 2's metrics: top-k accuracies, the cross-entropies, and the means of
the other losses (cosine similarity counted positive, as Keras' metric does), registered
with keras.metrics.get under Keras' names and string aliases.
"""

from __future__ import annotations

import jax.numpy as jnp

from xlaflow import losses as losses_lib
from xlaflow import losses_extra
from xlaflow import metrics as base
from xlaflow.math_extra import in_top_k


def _sparse_top_k(labels, y_pred, k):
    labels, y_pred = jnp.asarray(labels), jnp.asarray(y_pred)
    if labels.ndim == y_pred.ndim:  # (batch, 1) labels, as Keras squeezes them
        labels = jnp.squeeze(labels, -1)
    hit = in_top_k(jnp.reshape(labels, (-1,)), jnp.reshape(y_pred, (-1, y_pred.shape[-1])), k)
    return jnp.reshape(hit, labels.shape).astype(jnp.float32)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where the true class (the argmax of one-hot y_true) is among the `k` largest
    predictions (classes tied at the boundary count, as TF's in_top_k)."""
    return _sparse_top_k(jnp.argmax(jnp.asarray(y_true), -1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """As top_k_categorical_accuracy, with integer labels."""
    return _sparse_top_k(jnp.asarray(y_true).astype(jnp.int32), y_pred, k)


def cosine_similarity(y_true, y_pred, axis=-1):
    """The cosine of the angle between y_true and y_pred along `axis` (1: same direction)."""
    return -losses_extra.cosine_similarity(y_true, y_pred, axis)


class TopKCategoricalAccuracy(base.MeanMetricWrapper):
    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(top_k_categorical_accuracy, name, dtype, k=k)


class SparseTopKCategoricalAccuracy(base.MeanMetricWrapper):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(sparse_top_k_categorical_accuracy, name, dtype, k=k)


class CosineSimilarity(base.MeanMetricWrapper):
    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        super().__init__(cosine_similarity, name, dtype, axis=axis)


class CategoricalCrossentropy(base.MeanMetricWrapper):
    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0, axis=-1):
        super().__init__(losses_lib.categorical_crossentropy, name, dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)


class BinaryCrossentropy(base.MeanMetricWrapper):
    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(losses_lib.binary_crossentropy, name, dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing)


class SparseCategoricalCrossentropy(base.MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_crossentropy", dtype=None,
                 from_logits=False, axis=-1):
        super().__init__(losses_lib.sparse_categorical_crossentropy, name, dtype,
                         from_logits=from_logits, axis=axis)


def _mean_of(class_name, fn, default_name):
    def __init__(self, name=default_name, dtype=None):
        base.MeanMetricWrapper.__init__(self, fn, name, dtype)

    return type(class_name, (base.MeanMetricWrapper,), {
        "__init__": __init__, "__module__": __name__,
        "__doc__": f"Keras' {class_name} metric: the mean of {fn.__name__} over all examples."})


KLDivergence = _mean_of("KLDivergence", losses_extra.kl_divergence,
                        "kullback_leibler_divergence")
Hinge = _mean_of("Hinge", losses_extra.hinge, "hinge")
SquaredHinge = _mean_of("SquaredHinge", losses_extra.squared_hinge, "squared_hinge")
CategoricalHinge = _mean_of("CategoricalHinge", losses_extra.categorical_hinge,
                            "categorical_hinge")
Poisson = _mean_of("Poisson", losses_extra.poisson, "poisson")
LogCoshError = _mean_of("LogCoshError", losses_extra.log_cosh, "logcosh")
MeanSquaredLogarithmicError = _mean_of("MeanSquaredLogarithmicError",
                                       losses_extra.mean_squared_logarithmic_error,
                                       "mean_squared_logarithmic_error")
MeanAbsolutePercentageError = _mean_of("MeanAbsolutePercentageError",
                                       losses_extra.mean_absolute_percentage_error,
                                       "mean_absolute_percentage_error")

_NAMES = {
    TopKCategoricalAccuracy: ("top_k_categorical_accuracy",),
    SparseTopKCategoricalAccuracy: ("sparse_top_k_categorical_accuracy",),
    CosineSimilarity: ("cosine_similarity",),
    CategoricalCrossentropy: ("categorical_crossentropy",),
    BinaryCrossentropy: ("binary_crossentropy",),
    SparseCategoricalCrossentropy: ("sparse_categorical_crossentropy",),
    KLDivergence: ("kullback_leibler_divergence", "kl_divergence", "kld", "KLD"),
    Hinge: ("hinge",), SquaredHinge: ("squared_hinge",),
    CategoricalHinge: ("categorical_hinge",), Poisson: ("poisson",),
    LogCoshError: ("logcosh", "log_cosh"),
    MeanSquaredLogarithmicError: ("mean_squared_logarithmic_error", "msle", "MSLE"),
    MeanAbsolutePercentageError: ("mean_absolute_percentage_error", "mape", "MAPE"),
}
for _cls, _aliases in _NAMES.items():
    base._BY_CLASS_NAME[_cls.__name__] = _cls
    for _alias in _aliases:
        base._BY_NAME[_alias] = _cls

# MeanIoU, FBetaScore and F1Score register themselves in the same tables.
from xlaflow import metrics_fbeta, metrics_iou  # noqa: F401
