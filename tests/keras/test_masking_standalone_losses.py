"""Loss objects called by hand (`loss_obj(y, model(x))`, a custom training loop) weigh the
steps by the mask the prediction carries, as tf.keras 2.12+ Loss.__call__: 'sum_over_batch_size'
divides by the kept steps, 'sum' adds them, 'none' zeroes the masked ones.

Oracles: per-step losses in NumPy from the model's predictions, reduced by hand, and a
compiled fit step from the same weights (which tf.keras computes the same way).
"""

import numpy as np
import pytest

import xlaflow as xf
from tests.keras.test_masking_losses import CLASSES, IDS, LABELS, MASK, B, F, T, _log_softmax
from xlaflow.keras import layers, losses, models

RNG = np.random.default_rng(29)


def _tagger():
    """Embedding(mask_zero=True) -> SimpleRNN(return_sequences) -> Dense logits."""
    return models.Sequential([xf.keras.Input((T,), dtype="int32"),
                              layers.Embedding(9, F, mask_zero=True),
                              layers.SimpleRNN(8, return_sequences=True),
                              layers.Dense(CLASSES)])


def _step_losses(logits):
    logits = np.asarray(logits, np.float64)
    return -np.take_along_axis(_log_softmax(logits), LABELS[..., None], -1)[..., 0]


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_a_loss_called_on_a_masked_output_reduces_over_the_kept_steps(reduction):
    model = _tagger()
    out = model(IDS)
    step = _step_losses(out)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
    want = {"sum_over_batch_size": (step * MASK).sum() / MASK.sum(),
            "sum": (step * MASK).sum(), "none": step * MASK}[reduction]
    np.testing.assert_allclose(np.asarray(loss(LABELS, out)), want, rtol=1e-5, atol=1e-7)
    # the unmasked prediction (the same values, no mask) counts every step
    plain = np.asarray(out) + 0.0
    np.testing.assert_allclose(
        np.asarray(losses.SparseCategoricalCrossentropy(from_logits=True)(LABELS, plain)),
        step.mean(), rtol=1e-5)


def test_sample_weights_scale_the_kept_steps_and_the_count_stays_the_kept_steps():
    model = _tagger()
    out = model(IDS)
    step = _step_losses(out)
    weights = np.array([2.0, 0.5, 1.0], np.float32)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    np.testing.assert_allclose(np.asarray(loss(LABELS, out, sample_weight=weights)),
                               (step * weights[:, None] * MASK).sum() / MASK.sum(), rtol=1e-5)
    per_step = RNG.uniform(0.5, 2.0, (B, T)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loss(LABELS, out, sample_weight=per_step)),
                               (step * per_step * MASK).sum() / MASK.sum(), rtol=1e-5)


def test_a_regression_loss_on_a_masking_model_averages_the_kept_steps():
    model = models.Sequential([layers.Masking(input_shape=(T, F)), layers.Dense(2)])
    x = np.where(MASK[..., None], RNG.normal(size=(B, T, F)), 0.0).astype(np.float32)
    y = RNG.normal(size=(B, T, 2)).astype(np.float32)
    out = model(x)
    se = ((np.asarray(out, np.float64) - y) ** 2).mean(-1)
    np.testing.assert_allclose(np.asarray(losses.MeanSquaredError()(y, out)),
                               (se * MASK).sum() / MASK.sum(), rtol=1e-5)
    ae = np.abs(np.asarray(out, np.float64) - y).mean(-1)
    np.testing.assert_allclose(np.asarray(losses.get("mae")(y, out)),
                               (ae * MASK).sum() / MASK.sum(), rtol=1e-5)


def test_a_custom_training_loop_matches_compiled_fit_and_the_hand_reduced_loss():
    tape_model, fit_model = _tagger(), _tagger()
    fit_model.set_weights(tape_model.get_weights())
    step = _step_losses(tape_model.predict(IDS, verbose=0))
    want = (step * MASK).sum() / MASK.sum()
    loss_obj = losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = xf.keras.optimizers.SGD(0.5)

    @xf.function
    def train_step(x, y):
        with xf.GradientTape() as tape:
            loss = loss_obj(y, tape_model(x, training=True))
        grads = tape.gradient(loss, tape_model.trainable_variables)
        optimizer.apply_gradients(zip(grads, tape_model.trainable_variables))
        return loss

    tape_loss = float(train_step(IDS, LABELS))
    fit_model.compile(xf.keras.optimizers.SGD(0.5), loss_obj)
    fit_loss = fit_model.fit(IDS, LABELS, epochs=1, batch_size=B, verbose=0).history["loss"]
    np.testing.assert_allclose(tape_loss, want, rtol=1e-5)
    np.testing.assert_allclose(fit_loss, [want], rtol=1e-5)
    # the same gradient: the weights moved alike (a padded step moving them would differ)
    for got, ref in zip(tape_model.get_weights(), fit_model.get_weights()):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_every_step_masked_gives_zero_not_nan():
    out = _tagger()(np.zeros_like(IDS))
    assert float(losses.SparseCategoricalCrossentropy(from_logits=True)(LABELS, out)) == 0.0


def test_a_loss_that_reduces_over_the_masked_steps_is_refused():
    def keep_the_mask(inputs, mask):
        return mask
    model = models.Sequential([xf.keras.Input((T,), dtype="int32"),
                               layers.Embedding(9, F, mask_zero=True),
                               layers.Lambda(lambda v: v[..., 0], mask=keep_the_mask)])
    out = model(IDS)  # (batch, time) with a (batch, time) mask; mse averages over time
    with pytest.raises(ValueError, match=r"y_pred carries a mask of shape \(3, 6\) that does "
                                         r"not line up with the loss values of shape \(3,\)"):
        losses.MeanSquaredError()(np.zeros((B, T), np.float32), out)


class _MeanSquare(losses.Loss):
    """A custom Loss whose call already reduces to one scalar (a common tf.keras pattern)."""

    def call(self, y_true, y_pred):
        return xf.reduce_mean(xf.square(y_true - y_pred))


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
def test_a_scalar_loss_on_a_masked_output_is_weighed_as_keras_broadcasts_it(reduction):
    # tf.keras 2.12+ multiplies the scalar by the (batch, time) weights and reduces them:
    # 'sum_over_batch_size' gives the scalar itself (the weights average to 1 over the kept
    # steps' rescaling), 'sum' the scalar times the kept steps. Not an error.
    model = _tagger()
    out = model(IDS)
    target = RNG.normal(size=np.shape(out)).astype(np.float32)
    scalar = np.mean((target.astype(np.float64) - np.asarray(out, np.float64)) ** 2)
    want = scalar if reduction == "sum_over_batch_size" else scalar * MASK.sum()
    got = _MeanSquare(reduction=reduction)(target, out)
    np.testing.assert_allclose(float(got), want, rtol=1e-5)
