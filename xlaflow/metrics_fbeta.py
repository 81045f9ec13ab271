"""Keras 2.13's FBetaScore and F1Score: true/false positives and false negatives summed
per class (or over all, average='micro') across batches, then F-beta from them."""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp

from xlaflow import metrics as base
from xlaflow.metric_base import Metric

_AVERAGES = (None, "micro", "macro", "weighted")
_COUNTS = ("true_positives", "false_positives", "false_negatives", "intermediate_weights")


class FBetaScore(Metric):
    """`(1 + beta^2) * P * R / (beta^2 * P + R)` from counts of 2-D (batch, classes) labels
    and scores. A score counts as predicted when above `threshold`, or (None) when it is
    its row's largest and nonzero. average: None (one score per class), 'micro' (counts
    pooled over classes), 'macro' (mean of per-class scores), 'weighted' (that mean
    weighted by each class's true count). The counts are made at the first update, when
    the number of classes is known (Keras' build)."""

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score",
                 dtype=None):
        if average not in _AVERAGES:
            raise ValueError(f"{type(self).__name__}: average must be one of {_AVERAGES}; "
                             f"received {average!r}")
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
            raise TypeError(f"{type(self).__name__}: beta must be a float > 0; received "
                            f"{beta!r}")
        if not beta > 0:
            raise ValueError(f"{type(self).__name__}: beta must be a float > 0; received "
                             f"{beta!r}")
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
                raise TypeError(f"{type(self).__name__}: threshold must be None or a float "
                                f"in (0, 1]; received {threshold!r}")
            if not 0 < threshold <= 1:
                raise ValueError(f"{type(self).__name__}: threshold must be None or a float "
                                 f"in (0, 1]; received {threshold!r}")
            threshold = float(threshold)
        super().__init__(name, dtype)
        self.average, self.beta, self.threshold = average, float(beta), threshold
        self.num_classes = None

    def _build(self, num_classes):
        shape = () if self.average == "micro" else (num_classes,)
        # made at trace time if the first update is compiled: zeros, never input-dependent
        with jax.ensure_compile_time_eval():
            for count in _COUNTS:
                setattr(self, count, self.add_variable(count, shape))
        self.num_classes = num_classes

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = jnp.asarray(y_true, self.dtype)
        y_pred = jnp.asarray(y_pred, self.dtype)
        if y_true.ndim != 2 or y_pred.ndim != 2 or y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: expected y_true and y_pred of one 2-D shape "
                             f"(batch_size, num_classes); received {y_true.shape} and "
                             f"{y_pred.shape}")
        if self.num_classes is not None and y_pred.shape[1] != self.num_classes:
            raise ValueError(f"{self.name}: built for {self.num_classes} classes; received "
                             f"y_pred of shape {y_pred.shape}")
        weight = None
        if sample_weight is not None:
            weight = jnp.asarray(sample_weight, self.dtype)
            if weight.size != y_true.shape[0]:
                raise ValueError(f"{self.name}: sample_weight must hold one weight per "
                                 f"example ({y_true.shape[0]}); received shape "
                                 f"{weight.shape}")
            weight = jnp.reshape(weight, (-1, 1))
        if self.num_classes is None:
            self._build(y_pred.shape[1])
        if self.threshold is None:
            # the row's largest score (ties all count); an all-zero row predicts nothing
            top = jnp.max(y_pred, axis=-1, keepdims=True)
            predicted = (y_pred >= top) & (jnp.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted = predicted.astype(self.dtype)
        axis = None if self.average == "micro" else 0

        def weighted_sum(value):
            return jnp.sum(value if weight is None else value * weight, axis=axis)

        self.true_positives.assign_add(weighted_sum(predicted * y_true))
        self.false_positives.assign_add(weighted_sum(predicted * (1 - y_true)))
        self.false_negatives.assign_add(weighted_sum((1 - predicted) * y_true))
        self.intermediate_weights.assign_add(weighted_sum(y_true))

    def result(self):
        if self.num_classes is None:
            raise ValueError(f"{self.name}: result() before any update_state; the number "
                             "of classes is not known yet")
        tp, fp, fn = (getattr(self, c).value for c in _COUNTS[:3])
        precision = _divide_no_nan(tp, tp + fp)
        recall = _divide_no_nan(tp, tp + fn)
        beta2 = self.beta ** 2
        score = (1 + beta2) * _divide_no_nan(precision * recall, beta2 * precision + recall)
        if self.average == "weighted":
            support = self.intermediate_weights.value
            return jnp.sum(score * _divide_no_nan(support, jnp.sum(support)))
        if self.average is not None:
            return jnp.mean(score)
        return score

    def reset_state(self):
        if self.num_classes is not None:
            super().reset_state()

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """FBetaScore with beta = 1: the harmonic mean of precision and recall."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average, 1.0, threshold, name, dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


def _divide_no_nan(numerator, denominator):
    """numerator / denominator, 0 where the denominator is 0 (TF's divide_no_nan)."""
    safe = jnp.where(denominator == 0, 1, denominator)
    return jnp.where(denominator == 0, 0, numerator / safe)


for _cls in (FBetaScore, F1Score):
    base._BY_CLASS_NAME[_cls.__name__] = _cls
