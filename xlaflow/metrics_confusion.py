"""Keras 2's confusion-matrix metrics: TruePositives, FalsePositives, TrueNegatives,
FalseNegatives, Precision and Recall, weighted counts of the binary confusion matrix at
one threshold (a scalar result) or at a list of them (one result per threshold).
"""

from __future__ import annotations

import functools
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import losses as losses_lib
from xlaflow.errors import InvalidArgumentError
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


def evenly_spaced(thresholds, epsilon=1e-7):
    """Keras 2's is_evenly_distributed_thresholds: at least 3 thresholds, i / (n - 1) within
    epsilon; such a list takes Keras' bucketed counting (see confusion_counts)."""
    n = len(thresholds)
    return n >= 3 and bool(np.allclose(thresholds, np.arange(n, dtype=np.float32) / (n - 1),
                                       atol=epsilon))


def check_predictions(y_pred, metric):
    """Keras 2's asserts in update_confusion_matrix_variables: every prediction in [0, 1]
    (a NaN fails), else InvalidArgumentError naming `metric` and the values that fail.

    Checked on concrete values only. Under tracing (fit, xf.function) it is skipped: a
    run-time check there makes every step wait for its results and keeps its Variables
    from being donated, which cost more than 3% of a small fit step (see the commit)."""
    y_pred = jnp.asarray(y_pred, metric.dtype)
    if isinstance(y_pred, jax.core.Tracer) or bool(_in_unit_interval(y_pred)):
        return
    values = np.asarray(y_pred, np.float64)
    # TF runs the >= 0 assert first, so a NaN (failing both) reports that one
    for bound, bad in ((">= 0", ~(values >= 0)), ("<= 1", ~(values <= 1))):
        if bad.any():
            raise InvalidArgumentError(
                None, None, f"{type(metric).__name__} {metric.name!r}: predictions must be "
                f"{bound}; received {int(bad.sum())} that are not among predictions of "
                f"shape {values.shape}, the first {values[bad][:3].tolist()} (scores are "
                f"probabilities; for logits apply a sigmoid first)")


@jax.jit
def _in_unit_interval(y_pred):
    return jnp.all((y_pred >= 0) & (y_pred <= 1))  # a NaN is in neither half


def operand(value):
    """An array, or `value` made one on the host (a list of labels): a compiled update's
    argument, whose dtype it then casts as the eager ops did."""
    return value if value is None or isinstance(value, (jax.Array, np.ndarray)) else \
        np.asarray(value)


@functools.partial(jax.jit, static_argnames=("thresholds", "dtype", "top_k", "class_id",
                                             "evenly"))
def compiled_counts(y_true, y_pred, sample_weight, *, thresholds, dtype, top_k=None,
                    class_id=None, evenly=False):
    """confusion_counts as one compiled program per shape (inlined when fit traces the
    update): run eagerly op by op, an update compiled ~25 programs for each new batch
    shape. `thresholds` a tuple. Pass arrays through `operand`."""
    return confusion_counts(y_true, y_pred, thresholds, sample_weight, dtype, top_k,
                            class_id, evenly)


def confusion_counts(y_true, y_pred, thresholds, sample_weight=None, dtype=jnp.float32,
                     top_k=None, class_id=None, evenly=False):
    """Weighted (tp, fp, tn, fn), each of shape (len(thresholds),), as Keras 2's
    update_confusion_matrix_variables: a label counts positive when nonzero (Keras casts it
    to bool), a prediction when above the threshold. Every element of y_pred is one
    prediction; `top_k` keeps each row's k largest scores (the others become NEG_INF, below
    every threshold), `class_id` keeps one column. `evenly` (evenly spaced thresholds,
    perhaps with the ends moved out by epsilon) counts as Keras' optimized path does."""
    y_true, y_pred = losses_lib.align_ranks(jnp.asarray(y_true, dtype),
                                            jnp.asarray(y_pred, dtype))
    if y_true.shape != y_pred.shape:  # Keras' assert_is_compatible_with: never broadcast
        raise ValueError(f"y_true and y_pred must have one shape (up to a last axis of 1); "
                         f"received {y_true.shape} and {y_pred.shape} (sparse class "
                         f"labels against per-class scores need class_id on one-hot "
                         f"labels)")
    if top_k is not None:  # exactly k per row, ties to the lower index (TF's top_k)
        picked = jax.lax.top_k(y_pred, top_k)[1]
        keep = jnp.sum(jax.nn.one_hot(picked, y_pred.shape[-1], dtype=dtype), axis=-2)
        y_pred = jnp.where(keep > 0, y_pred, jnp.asarray(NEG_INF, dtype))
    if class_id is not None:  # its axis stays, so a per-example weight lines up
        # (a static index past the end would be clamped to the last column by JAX)
        if y_pred.ndim == 0 or class_id >= y_pred.shape[-1]:
            raise ValueError(f"class_id {class_id} is out of range for predictions of "
                             f"shape {y_pred.shape}; expected class_id < "
                             f"{y_pred.shape[-1] if y_pred.ndim else 0} (the last axis)")
        y_true, y_pred = y_true[..., class_id, None], y_pred[..., class_id, None]
    weight = jnp.ones_like(y_pred)
    if sample_weight is not None:
        weight = jnp.broadcast_to(losses_lib.align_weight(
            jnp.asarray(sample_weight, dtype), y_pred.ndim), y_pred.shape)
    labels, weight = jnp.reshape(y_true, (-1,)), jnp.reshape(weight, (-1,))
    truth = (labels != 0).astype(dtype)
    positive, negative = truth * weight, (1 - truth) * weight
    scores = jnp.reshape(y_pred, (-1,))
    if evenly:
        above = _bucketed_above(scores, thresholds, dtype)
    else:
        above = (scores[None, :] > jnp.asarray(thresholds, dtype)[:, None]).astype(dtype)
    below = 1 - above  # each cell summed directly: totals minus counts would round
    return above @ positive, above @ negative, below @ negative, below @ positive


def _bucketed_above(scores, thresholds, dtype):
    """Keras 2's _update_confusion_matrix_variables_optimized: a score clipped to [0, 1]
    lies in bucket ceil(score * (n - 1)) - 1 (in the metric's dtype, so a score on a grid
    point rounds as Keras' does) and counts above thresholds 0 ... bucket; with the ends at
    -epsilon and 1 + epsilon bucket -1 becomes 0, so a score of 0 is above the first."""
    n = len(thresholds)
    bucket = jnp.ceil(jnp.clip(scores, 0, 1) * (n - 1)) - 1
    if thresholds[0] < 0 or thresholds[-1] > 1:
        bucket = jnp.maximum(bucket, 0)
    # compared as floats: a NaN score is in no bucket (Keras' int cast drops it too)
    return (bucket[None, :] >= jnp.arange(n, dtype=jnp.float32)[:, None]).astype(dtype)


class _ConditionCount(Metric):
    """One cell of the confusion matrix, summed over batches, at each threshold."""

    _cell = None  # the index into confusion_counts' (tp, fp, tn, fn)

    def __init__(self, thresholds=None, name=None, dtype=None):
        self.thresholds = parse_thresholds(thresholds, 0.5, type(self).__name__)
        super().__init__(name, dtype)
        self.init_thresholds = thresholds  # what get_config gives back, as Keras 2
        self._evenly = evenly_spaced(self.thresholds)
        self.accumulator = self.add_variable("accumulator", (len(self.thresholds),))

    def update_state(self, y_true, y_pred, sample_weight=None):
        check_predictions(y_pred, self)
        counts = compiled_counts(operand(y_true), operand(y_pred), operand(sample_weight),
                                 thresholds=self.thresholds, dtype=self.dtype,
                                 evenly=self._evenly)
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
        self._evenly = evenly_spaced(self.thresholds)
        shape = (len(self.thresholds),)
        self.true_positives = self.add_variable("true_positives", shape)
        self.false_positives = self.add_variable("false_positives", shape)
        self.false_negatives = self.add_variable("false_negatives", shape)

    def update_state(self, y_true, y_pred, sample_weight=None):
        check_predictions(y_pred, self)
        tp, fp, _, fn = compiled_counts(operand(y_true), operand(y_pred),
                                        operand(sample_weight), thresholds=self.thresholds,
                                        dtype=self.dtype, top_k=self.top_k,
                                        class_id=self.class_id, evenly=self._evenly)
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
