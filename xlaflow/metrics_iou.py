"""Keras 2's MeanIoU (and OneHotMeanIoU): a confusion matrix summed over batches, and the
mean over classes of true positives / (true + predicted - true positives)."""

from __future__ import annotations

import numbers

import jax.numpy as jnp

from xlaflow import metrics as base
from xlaflow.metric_base import Metric


class MeanIoU(Metric):
    """Rows of `total_cm` are true classes, columns predicted ones, as Keras. Classes that
    never occur in either are left out of the mean; labels outside [0, num_classes) and
    `ignore_class` count nowhere (TF raises on the former; compiled code cannot)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        # any integer (np.int64 from y.max() + 1 too), but not a bool or a float
        if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) \
                or num_classes < 2:
            raise ValueError(f"{type(self).__name__}: num_classes must be an int >= 2; "
                             f"received {num_classes!r}")
        num_classes = int(num_classes)
        super().__init__(name, dtype)
        self.num_classes, self.ignore_class, self.axis = num_classes, ignore_class, axis
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        # Keras counts in float64; float32 counts exactly up to 2**24 pixels per cell
        self.total_cm = self.add_variable("total_confusion_matrix",
                                          (num_classes, num_classes))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
        if not self.sparse_y_true:
            y_true = jnp.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = jnp.argmax(y_pred, axis=self.axis)
        if y_true.size != y_pred.size:
            raise ValueError(f"{self.name}: y_true has {y_true.size} labels and y_pred "
                             f"{y_pred.size} (after the argmax that sparse_y_pred=False "
                             "asks for); they must match")
        weight = jnp.ones(y_true.shape, self.dtype)
        if sample_weight is not None:
            weight = self._weights(jnp.asarray(sample_weight, self.dtype), y_true)
        y_true = jnp.reshape(y_true.astype(jnp.int32), (-1,))
        y_pred = jnp.reshape(y_pred.astype(jnp.int32), (-1,))
        weight = jnp.reshape(weight, (-1,))
        n = self.num_classes
        keep = (y_true >= 0) & (y_true < n) & (y_pred >= 0) & (y_pred < n)
        if self.ignore_class is not None:
            keep &= y_true != self.ignore_class
        # negative indices would wrap around: count those entries as 0 at (0, 0)
        rows, cols = jnp.where(keep, y_true, 0), jnp.where(keep, y_pred, 0)
        current = jnp.zeros((n, n), self.dtype).at[rows, cols].add(
            jnp.where(keep, weight, 0))
        self.total_cm.assign_add(current)

    def _weights(self, sample_weight, y_true):
        """One weight per label: Keras flattens the weights as the labels, so any shape
        of the labels' size fits; a per-example weight (batch, ...) spreads over the rest."""
        if sample_weight.size == y_true.size:
            return jnp.reshape(sample_weight, y_true.shape)
        lead = sample_weight.shape
        while lead and lead[-1] == 1:
            lead = lead[:-1]
        if lead != y_true.shape[:len(lead)]:
            raise ValueError(f"{self.name}: sample_weight has shape {sample_weight.shape}; "
                             f"expected one weight per label (size {y_true.size}, labels "
                             f"{y_true.shape}) or per example (leading axes of "
                             f"{y_true.shape})")
        lead_weight = jnp.reshape(sample_weight, lead)
        return jnp.broadcast_to(jnp.reshape(lead_weight, lead + (1,) * (
            y_true.ndim - len(lead))), y_true.shape)

    def result(self):
        cm = self.total_cm.value
        true_positives = jnp.diagonal(cm)
        denominator = jnp.sum(cm, axis=0) + jnp.sum(cm, axis=1) - true_positives
        present = denominator != 0
        iou = jnp.where(present, true_positives / jnp.where(present, denominator, 1), 0)
        count = jnp.sum(present)
        return jnp.where(count > 0, jnp.sum(iou) / jnp.maximum(count, 1), 0).astype(
            self.dtype)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotMeanIoU(MeanIoU):
    """MeanIoU for one-hot labels and per-class scores (both argmax-ed along `axis`)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name, dtype, ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


for _cls in (MeanIoU, OneHotMeanIoU):
    base._BY_CLASS_NAME[_cls.__name__] = _cls
    base._NEED_ARGUMENTS.add(_cls.__name__)  # num_classes has no default
