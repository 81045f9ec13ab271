"""Keras 2's confusion-matrix metrics: TruePositives, FalsePositives, TrueNegatives,
FalseNegatives, Precision and Recall, weighted counts of the binary confusion matrix at
one threshold (a scalar result) or at a list of them (one result per threshold).
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from xlaflow import losses as losses_lib
from xlaflow.metric_base import Metric, div_no_nan

# Keras 2's metrics_utils.NEG_INF: the default threshold under top_k, below every score
# that survives the top-k filter and above the -inf the filter gives the others
NEG_INF = -1e10


def parse_thresholds(thresholds, default, owner):
    """Keras 2's parse_init_thresholds: a number or a list of numbers in [0, 1] (None: the
    default) as a tuple of floats, checked before the metric makes any state."""
    if thresholds is None:
        return (float(default),)
    values = list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds]
    bad = [t for t in values if isinstance(t, bool) or not isinstance(t, numbers.Real)
           or not 0 <= t <= 1]
    if not values or bad:
        raise ValueError(f"{owner}: thresholds must be a number or a non-empty list of "
                         f"numbers in [0, 1]; received {thresholds!r}")
    return tuple(float(t) for t in values)


def _check_index(value, argument, owner):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 0 or (argument == "top_k" and value == 0)):
        low = 1 if argument == "top_k" else 0
        raise ValueError(f"{owner}: {argument} must be None or an int >= {low}; received "
                         f"{value!r}")


def confusion_counts(y_true, y_pred, thresholds, sample_weight=None, dtype=jnp.float32,
                     top_k=None, class_id=None, soft_labels=False):
    """Weighted (tp, fp, tn, fn), each of shape (len(thresholds),), as Keras 2's
    update_confusion_matrix_variables: a prediction counts as positive when it is above
    the threshold, a label when nonzero (`soft_labels`: a label y counts y positive and
    1 - y negative, as Keras' AUC does on its evenly spaced thresholds). Every element of
    y_pred is one prediction; `top_k` keeps each row's k largest scores (the others become
    NEG_INF, below every threshold), `class_id` keeps one column."""
    y_true, y_pred = losses_lib.align_ranks(jnp.asarray(y_true, dtype),
                                            jnp.asarray(y_pred, dtype))
    if top_k is not None:  # exactly k per row, ties to the lower index (TF's top_k)
        picked = jax.lax.top_k(y_pred, top_k)[1]
        keep = jnp.sum(jax.nn.one_hot(picked, y_pred.shape[-1], dtype=dtype), axis=-2)
        y_pred = jnp.where(keep > 0, y_pred, jnp.asarray(NEG_INF, dtype))
    if class_id is not None:  # its axis stays, so a per-example weight lines up
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    y_true, y_pred = jnp.broadcast_arrays(y_true, y_pred)
    weight = jnp.ones_like(y_pred)
    if sample_weight is not None:
        weight = jnp.broadcast_to(losses_lib.align_weight(
            jnp.asarray(sample_weight, dtype), y_pred.ndim), y_pred.shape)
    labels, weight = jnp.reshape(y_true, (-1,)), jnp.reshape(weight, (-1,))
    if soft_labels:
        positive, negative = labels * weight, (1 - labels) * weight
    else:
        truth = (labels != 0).astype(dtype)
        positive, negative = truth * weight, (1 - truth) * weight
    above = (jnp.reshape(y_pred, (1, -1)) >
             jnp.asarray(thresholds, dtype)[:, None]).astype(dtype)
    below = 1 - above  # each cell summed directly: totals minus counts would round
    return above @ positive, above @ negative, below @ negative, below @ positive


class _ConditionCount(Metric):
    """One cell of the confusion matrix, summed over batches, at each threshold."""

    _cell = None  # the index into confusion_counts' (tp, fp, tn, fn)

    def __init__(self, thresholds=None, name=None, dtype=None):
        self.thresholds = parse_thresholds(thresholds, 0.5, type(self).__name__)
        super().__init__(name, dtype)
        self.init_thresholds = thresholds  # what get_config gives back, as Keras 2
        self.accumulator = self.add_variable("accumulator", (len(self.thresholds),))

    def update_state(self, y_true, y_pred, sample_weight=None):
        counts = confusion_counts(y_true, y_pred, self.thresholds, sample_weight, self.dtype)
        self.accumulator.assign_add(counts[self._cell])

    def result(self):
        value = self.accumulator.value
        return value[0] if len(self.thresholds) == 1 else value

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    """The weighted count of positive labels predicted positive (above the threshold)."""

    _cell = 0


class FalsePositives(_ConditionCount):
    """The weighted count of negative labels predicted positive."""

    _cell = 1


class TrueNegatives(_ConditionCount):
    """The weighted count of negative labels predicted negative."""

    _cell = 2


class FalseNegatives(_ConditionCount):
    """The weighted count of positive labels predicted negative."""

    _cell = 3


class _PrecisionRecall(Metric):
    """True/false positives and false negatives at each threshold, optionally among each
    row's `top_k` scores or in column `class_id` only (Keras 2's Precision and Recall)."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        owner = type(self).__name__
        _check_index(top_k, "top_k", owner)
        _check_index(class_id, "class_id", owner)
        # under top_k the default keeps every surviving score (Keras 2's NEG_INF)
        self.thresholds = parse_thresholds(thresholds, 0.5 if top_k is None else NEG_INF,
                                           owner)
        super().__init__(name, dtype)
        self.init_thresholds, self.top_k, self.class_id = thresholds, top_k, class_id
        shape = (len(self.thresholds),)
        self.true_positives = self.add_variable("true_positives", shape)
        self.false_positives = self.add_variable("false_positives", shape)
        self.false_negatives = self.add_variable("false_negatives", shape)

    def update_state(self, y_true, y_pred, sample_weight=None):
        tp, fp, _, fn = confusion_counts(y_true, y_pred, self.thresholds, sample_weight,
                                         self.dtype, self.top_k, self.class_id)
        self.true_positives.assign_add(tp)
        self.false_positives.assign_add(fp)
        self.false_negatives.assign_add(fn)

    def _ratio(self, other):
        tp = self.true_positives.value
        value = div_no_nan(tp, tp + other)
        return value[0] if len(self.thresholds) == 1 else value

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """tp / (tp + fp): of the examples predicted positive, the fraction that are."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision",
                 dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        return self._ratio(self.false_positives.value)


class Recall(_PrecisionRecall):
    """tp / (tp + fn): of the positive examples, the fraction predicted positive."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall",
                 dtype=None):
        super().__init__(thresholds, top_k, class_id, name, dtype)

    def result(self):
        return self._ratio(self.false_negatives.value)
