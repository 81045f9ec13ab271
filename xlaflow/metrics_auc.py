"""Keras 2's AUC metric: the area under the ROC or precision-recall curve, from confusion
counts at fixed thresholds summed over batches, with Keras 2's Riemann sums and its
interpolated PR area (Davis & Goadrich, 2006).
"""

from __future__ import annotations

import functools
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow import losses as losses_lib
from xlaflow.metric_base import Metric, div_no_nan
from xlaflow.metrics_confusion import check_predictions, confusion_counts, evenly_spaced, operand

_EPSILON = 1e-7  # Keras' backend.epsilon(): the end thresholds, so 0 and 1 scores count
# the spellings Keras 2's AUCCurve.from_str and AUCSummationMethod.from_str accept
_CURVES = {"roc": "ROC", "ROC": "ROC", "pr": "PR", "PR": "PR"}
_SUMMATIONS = {name: name for name in ("interpolation", "minoring", "majoring")}
_SUMMATIONS.update({name.capitalize(): name for name in list(_SUMMATIONS)})


class AUC(Metric):
    """Area under the ROC curve (true positive rate over false positive rate) or, with
    curve='PR', under the precision-recall curve, as Keras 2's AUC: counts at
    `num_thresholds` evenly spaced thresholds in [0, 1] (or the given `thresholds` plus
    the two ends), summed by `summation_method`: 'interpolation' (the trapezoidal rule;
    for PR, Keras 2's interpolation of precision along true positives), 'minoring' or
    'majoring' (the lower or upper rectangles)."""

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name="auc", dtype=None, thresholds=None, multi_label=False,
                 num_labels=None, label_weights=None, from_logits=False):
        curve_name = _CURVES.get(curve) if isinstance(curve, str) else None
        if curve_name is None:
            raise ValueError(f'AUC: invalid curve {curve!r}; expected one of "ROC", "PR"')
        method = _SUMMATIONS.get(summation_method) if isinstance(summation_method, str) \
            else None
        if method is None:
            raise ValueError(f"AUC: invalid summation_method {summation_method!r}; "
                             f"expected one of {sorted(set(_SUMMATIONS.values()))}")
        multi_label = bool(multi_label)
        if num_labels is not None and (isinstance(num_labels, bool) or not isinstance(
                num_labels, (int, np.integer)) or num_labels < 1):
            raise ValueError(f"AUC: num_labels must be None or an int >= 1; received "
                             f"num_labels={num_labels!r}")
        if num_labels and not multi_label:  # Keras 2's check
            raise ValueError(f"AUC: num_labels is needed only when multi_label=True; "
                             f"received num_labels={num_labels!r} with multi_label=False")
        weights = _label_weights(label_weights, num_labels)
        if thresholds is not None:
            given = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) \
                else [thresholds]
            if not all(isinstance(t, numbers.Real) and 0 <= t <= 1 for t in given):
                raise ValueError(f"AUC: thresholds must be numbers in [0, 1]; received "
                                 f"{thresholds!r}")
            inner = sorted(float(t) for t in given)
            num_thresholds = len(inner) + 2
            self._evenly = evenly_spaced([0.0, *inner, 1.0], _EPSILON)
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or \
                    num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be an int > 1; received "
                                 f"{num_thresholds!r}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        super().__init__(name, dtype)
        self._init_from_thresholds = thresholds is not None
        self.num_thresholds, self.curve = int(num_thresholds), curve_name
        self.summation_method, self.from_logits = method, bool(from_logits)
        self.multi_label = multi_label
        self.num_labels = None if num_labels is None else int(num_labels)
        # a NumPy vector in the metric's dtype (Keras 2 keeps a constant of it), or None
        self.label_weights = None if weights is None else weights.astype(self.dtype)
        self.thresholds = [-_EPSILON, *inner, 1.0 + _EPSILON]
        self._num_labels = None  # the labels the state counts (multi_label), once built
        # Keras 2 builds the state now, unless multi_label waits for the first batch to
        # tell the number of labels
        if not multi_label or self.num_labels:
            self._build(self.num_labels)

    def _build(self, num_labels):
        """The confusion counts: one per threshold, or per threshold and label (a
        (num_thresholds, num_labels) matrix) under multi_label."""
        shape = (self.num_thresholds,)
        if self.multi_label:
            self._num_labels = int(num_labels)
            shape += (self._num_labels,)
        self.true_positives = self.add_variable("true_positives", shape)
        self.false_positives = self.add_variable("false_positives", shape)
        self.true_negatives = self.add_variable("true_negatives", shape)
        self.false_negatives = self.add_variable("false_negatives", shape)

    @property
    def built(self):
        return hasattr(self, "true_positives")

    def _check_labels(self, y_true, y_pred):
        """Keras 2's shape checks for multi-label data: labels and predictions of shape
        (examples, labels), label_weights one per label; builds the state if it waits."""
        if y_true.ndim != 2 or y_pred.ndim != 2:
            raise ValueError(f"AUC(multi_label={self.multi_label}, label_weights=...): "
                             f"y_true and y_pred must have rank 2 (examples, labels); "
                             f"received shapes {y_true.shape} and {y_pred.shape}")
        labels = y_pred.shape[1]
        expected = self._num_labels if self.multi_label and self.built else labels
        weights = self.label_weights
        if y_true.shape != y_pred.shape or labels != expected or \
                (weights is not None and len(weights) != labels):
            raise ValueError(
                f"AUC: the number of labels is not consistent; received y_true of shape "
                f"{y_true.shape} and y_pred of shape {y_pred.shape}, expected "
                f"(examples, {expected if weights is None else len(weights)}) (the "
                f"state's labels, or one per label weight)")
        if not self.built:  # checked first, so a refused batch builds nothing
            self._build(labels)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = jnp.asarray(y_true, self.dtype), jnp.asarray(y_pred, self.dtype)
        if not self.from_logits:  # Keras 2 checks the scores it counts: logits' sigmoids
            check_predictions(y_pred, self)  # (before a multi_label state is built)
        if self.multi_label or self.label_weights is not None:
            self._check_labels(y_true, y_pred)
        tp, fp, tn, fn = _counts(y_true, y_pred, operand(sample_weight), self.label_weights,
                                 thresholds=tuple(self.thresholds), dtype=self.dtype,
                                 evenly=self._evenly, multi_label=self.multi_label,
                                 from_logits=self.from_logits)
        self.true_positives.assign_add(tp)
        self.false_positives.assign_add(fp)
        self.true_negatives.assign_add(tn)
        self.false_negatives.assign_add(fn)

    def interpolate_pr_auc(self):
        """Keras 2's PR area: between two thresholds precision is interpolated along the
        true positives, tp = slope * p + intercept (p: predicted positives), and integrated
        in closed form over recall = tp / (tp + fn)."""
        return self._area("PR", "interpolation")

    def result(self):
        if not self.built:
            raise ValueError(f"{self.name}: AUC(multi_label=True) without num_labels has no "
                             f"state until its first update_state, which tells the number "
                             f"of labels; pass num_labels to build it at construction")
        return self._area(self.curve, self.summation_method)

    def _area(self, curve, method):
        return _area(self.true_positives.value, self.false_positives.value,
                     self.true_negatives.value, self.false_negatives.value,
                     self.label_weights, curve=curve, method=method,
                     multi_label=self.multi_label)

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": self.multi_label, "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else
                  self.label_weights.tolist(), "from_logits": self.from_logits}
        # the ends come back at construction, as Keras 2 (which leaves out a None)
        config["thresholds"] = self.thresholds[1:-1] if self._init_from_thresholds else None
        return config


# One compiled program per shape for an update and for a result (inlined when fit traces
# them): run eagerly op by op, each compiled ~25 programs for every new shape.
@functools.partial(jax.jit, static_argnames=("thresholds", "dtype", "evenly", "multi_label",
                                             "from_logits"))
def _counts(y_true, y_pred, sample_weight, label_weights, *, thresholds, dtype, evenly,
            multi_label, from_logits):
    """(tp, fp, tn, fn) of one batch (already checked by AUC.update_state)."""
    if from_logits:
        y_pred = jax.nn.sigmoid(y_pred)
    weight = sample_weight
    if multi_label or label_weights is not None:
        # Keras 2's broadcast_weights: a per-example weight covers each label
        weight = jnp.ones_like(y_pred) if sample_weight is None else jnp.broadcast_to(
            losses_lib.align_weight(jnp.asarray(sample_weight, dtype), 2), y_pred.shape)
    if multi_label:  # each label's column counted on its own: (thresholds, labels)
        return jax.vmap(lambda t, p, w: confusion_counts(t, p, thresholds, w, dtype,
                                                         evenly=evenly),
                        in_axes=1, out_axes=1)(y_true, y_pred, weight)
    if label_weights is not None:  # weighs each column before flattening
        weight = weight * jnp.asarray(label_weights, dtype)
    return confusion_counts(y_true, y_pred, thresholds, weight, dtype, evenly=evenly)


@functools.partial(jax.jit, static_argnames=("curve", "method", "multi_label"))
def _area(tp, fp, tn, fn, label_weights, *, curve, method, multi_label):
    """The area from the summed counts, averaged over labels under multi_label."""
    if curve == "PR" and method == "interpolation":
        return _average(_interpolated_pr_areas(tp, fp, fn), multi_label, label_weights)
    recall = div_no_nan(tp, tp + fn)
    if curve == "ROC":
        x, y = div_no_nan(fp, fp + tn), recall
    else:
        x, y = recall, div_no_nan(tp, tp + fp)
    if method == "interpolation":
        heights = (y[:-1] + y[1:]) / 2
    elif method == "minoring":
        heights = jnp.minimum(y[:-1], y[1:])
    else:
        heights = jnp.maximum(y[:-1], y[1:])
    # thresholds rise, so x falls: each step's width is x[i] - x[i + 1]
    return _average(jnp.sum((x[:-1] - x[1:]) * heights, axis=0), multi_label, label_weights)


def _interpolated_pr_areas(tp, fp, fn):
    """AUC.interpolate_pr_auc's area of each label (one, without multi_label)."""
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    dp = p[:-1] - p[1:]
    slope = div_no_nan(dtp, jnp.maximum(dp, 0))
    intercept = tp[1:] - slope * p[1:]
    ratio = jnp.where((p[:-1] > 0) & (p[1:] > 0),
                      div_no_nan(p[:-1], jnp.maximum(p[1:], 0)), jnp.ones_like(p[1:]))
    increments = div_no_nan(slope * (dtp + intercept * jnp.log(ratio)),
                            jnp.maximum(tp[1:] + fn[1:], 0))
    return jnp.sum(increments, axis=0)


def _average(areas, multi_label, label_weights):
    """The AUC from the area under each label's curve (multi_label: the mean, or the
    label_weights' weighted mean, as Keras 2; else the one area)."""
    if not multi_label:
        return areas
    if label_weights is None:
        return jnp.mean(areas)
    weights = jnp.asarray(label_weights, areas.dtype)
    return div_no_nan(jnp.sum(areas * weights), jnp.sum(weights))


def _label_weights(label_weights, num_labels):
    """Keras 2's label_weights: None, or a vector of non-negative weights (one per label),
    as a float NumPy array checked before the metric makes any state."""
    if label_weights is None:
        return None
    weights = np.asarray(label_weights, np.float64)
    if weights.ndim != 1 or weights.size == 0 or not np.all(np.isfinite(weights)):
        raise ValueError(f"AUC: label_weights must be a non-empty vector of numbers, one per "
                         f"label; received label_weights={label_weights!r}")
    if np.any(weights < 0):
        raise ValueError(f"AUC: all values of label_weights must be non-negative; received "
                         f"label_weights={label_weights!r}")
    if num_labels and len(weights) != num_labels:
        raise ValueError(f"AUC: label_weights must hold num_labels={num_labels} weights; "
                         f"received {len(weights)}")
    return weights
