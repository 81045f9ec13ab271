"""Keras 2's AUC metric: the area under the ROC or precision-recall curve, from confusion
counts at fixed thresholds summed over batches, with Keras 2's Riemann sums and its
interpolated PR area (Davis & Goadrich, 2006).
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from xlaflow.metric_base import Metric, div_no_nan
from xlaflow.metrics_confusion import confusion_counts, evenly_spaced

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
        if multi_label or label_weights is not None:
            raise NotImplementedError(
                "AUC(multi_label=True) and AUC(label_weights=...) are not supported; use one "
                "AUC per label column (a MeanMetricWrapper can slice the column) and average "
                "their results")
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
        self.multi_label, self.num_labels, self.label_weights = False, num_labels, None
        self.thresholds = [-_EPSILON, *inner, 1.0 + _EPSILON]
        shape = (self.num_thresholds,)
        self.true_positives = self.add_variable("true_positives", shape)
        self.false_positives = self.add_variable("false_positives", shape)
        self.true_negatives = self.add_variable("true_negatives", shape)
        self.false_negatives = self.add_variable("false_negatives", shape)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = jnp.asarray(y_pred, self.dtype)
        if self.from_logits:
            y_pred = jax.nn.sigmoid(y_pred)
        tp, fp, tn, fn = confusion_counts(y_true, y_pred, self.thresholds, sample_weight,
                                          self.dtype, evenly=self._evenly)
        self.true_positives.assign_add(tp)
        self.false_positives.assign_add(fp)
        self.true_negatives.assign_add(tn)
        self.false_negatives.assign_add(fn)

    def interpolate_pr_auc(self):
        """Keras 2's PR area: between two thresholds precision is interpolated along the
        true positives, tp = slope * p + intercept (p: predicted positives), and integrated
        in closed form over recall = tp / (tp + fn)."""
        tp, fp = self.true_positives.value, self.false_positives.value
        fn = self.false_negatives.value
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = div_no_nan(dtp, jnp.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = jnp.where((p[:-1] > 0) & (p[1:] > 0),
                          div_no_nan(p[:-1], jnp.maximum(p[1:], 0)), jnp.ones_like(p[1:]))
        increments = div_no_nan(slope * (dtp + intercept * jnp.log(ratio)),
                                jnp.maximum(tp[1:] + fn[1:], 0))
        return jnp.sum(increments)

    def result(self):
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self.interpolate_pr_auc()
        tp, fp = self.true_positives.value, self.false_positives.value
        recall = div_no_nan(tp, tp + self.false_negatives.value)
        if self.curve == "ROC":
            x, y = div_no_nan(fp, fp + self.true_negatives.value), recall
        else:
            x, y = recall, div_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2
        elif self.summation_method == "minoring":
            heights = jnp.minimum(y[:-1], y[1:])
        else:
            heights = jnp.maximum(y[:-1], y[1:])
        # thresholds rise, so x falls: each step's width is x[i] - x[i + 1]
        return jnp.sum((x[:-1] - x[1:]) * heights)

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": False, "num_labels": self.num_labels,
                  "label_weights": None, "from_logits": self.from_logits}
        # the ends come back at construction, as Keras 2 (which leaves out a None)
        config["thresholds"] = self.thresholds[1:-1] if self._init_from_thresholds else None
        return config
