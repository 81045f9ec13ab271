"""Keras 2's `model.compiled_loss` and `model.compiled_metrics`: what a custom train_step
written for TF 2 calls to use the loss and metrics given to compile()."""

from __future__ import annotations

import jax.numpy as jnp


class CompiledLoss:
    """`model.compiled_loss(y, y_pred, sample_weight=None, regularization_losses=None)`: the
    compiled loss (plus any regularization terms), also averaged into the `loss` metric."""

    def __init__(self, trainer):
        self._trainer = trainer

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None):
        loss = self._trainer._loss(y_true, y_pred, sample_weight)
        if regularization_losses:
            loss = loss + sum(jnp.sum(term) for term in regularization_losses)
        self._trainer.track_loss(loss, y_pred, {})
        return loss

    @property
    def metrics(self):
        return [self._trainer.loss_tracker]


class CompiledMetrics:
    """`model.compiled_metrics.update_state(y, y_pred, sample_weight=None)`: the metrics
    given to compile()."""

    def __init__(self, trainer):
        self._trainer = trainer

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._trainer.update_compiled_metrics(y_true, y_pred, sample_weight)

    def reset_state(self):
        for metric in self._trainer.metrics:
            metric.reset_state()

    @property
    def metrics(self):
        return list(self._trainer.metrics)
