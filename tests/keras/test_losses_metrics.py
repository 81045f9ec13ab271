"""Losses and metrics against NumPy formulas."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import losses, metrics

RNG = np.random.default_rng(1)
LOGITS = RNG.normal(size=(6, 4)).astype(np.float32)
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
LABELS = RNG.integers(0, 4, 6)
ONE_HOT = np.eye(4, dtype=np.float32)[LABELS]


def test_sparse_and_categorical_crossentropy():
    expected = -np.log(PROBS[np.arange(6), LABELS]).mean()
    np.testing.assert_allclose(losses.SparseCategoricalCrossentropy()(LABELS, PROBS), expected,
                               rtol=1e-5)
    np.testing.assert_allclose(
        losses.SparseCategoricalCrossentropy(from_logits=True)(LABELS, LOGITS), expected,
        rtol=1e-5)
    np.testing.assert_allclose(losses.get("categorical_crossentropy")(ONE_HOT, PROBS), expected,
                               rtol=1e-5)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(LABELS[:, None], PROBS),
                               -np.log(PROBS[np.arange(6), LABELS]), rtol=1e-5)


def test_binary_crossentropy_mse_mae_huber():
    y = RNG.integers(0, 2, (5, 3)).astype(np.float32)
    p = RNG.uniform(0.05, 0.95, (5, 3)).astype(np.float32)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    np.testing.assert_allclose(losses.BinaryCrossentropy()(y, p), bce, rtol=1e-5)
    logits = np.log(p / (1 - p))
    np.testing.assert_allclose(losses.BinaryCrossentropy(from_logits=True)(y, logits), bce,
                               rtol=1e-4)
    np.testing.assert_allclose(losses.get("mse")(y, p), ((y - p) ** 2).mean(), rtol=1e-6)
    np.testing.assert_allclose(losses.get("mae")(y, p), np.abs(y - p).mean(), rtol=1e-6)
    err = np.array([[0.5, 2.0]], np.float32)
    np.testing.assert_allclose(losses.Huber(delta=1.0)(np.zeros_like(err), err),
                               np.mean([0.125, 1.5]), rtol=1e-6)


def test_sample_weight_and_reductions():
    w = np.array([1, 0, 2, 0, 1, 1], np.float32)
    per = -np.log(PROBS[np.arange(6), LABELS])
    np.testing.assert_allclose(losses.SparseCategoricalCrossentropy()(LABELS, PROBS, w),
                               (per * w).sum() / 6, rtol=1e-5)
    np.testing.assert_allclose(
        losses.SparseCategoricalCrossentropy(reduction="sum")(LABELS, PROBS), per.sum(),
        rtol=1e-5)
    np.testing.assert_allclose(
        losses.SparseCategoricalCrossentropy(reduction="none")(LABELS, PROBS), per, rtol=1e-5)
    with pytest.raises(ValueError, match="reduction must be"):
        losses.MeanSquaredError(reduction="mean")


def test_accuracy_metrics_accumulate_and_reset():
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(LABELS[:3], PROBS[:3])
    m.update_state(LABELS[3:], PROBS[3:])
    np.testing.assert_allclose(m.result(), (PROBS.argmax(-1) == LABELS).mean(), rtol=1e-6)
    m.reset_state()
    assert float(m.count.numpy()) == 0.0
    assert isinstance(xf.metrics.get("accuracy", losses.get("categorical_crossentropy")),
                      metrics.CategoricalAccuracy)
    assert isinstance(xf.metrics.get("acc", losses.get("binary_crossentropy")),
                      metrics.BinaryAccuracy)


def test_mean_with_weights_and_precision_recall():
    mean = metrics.Mean()
    mean.update_state([1.0, 3.0], sample_weight=[1.0, 3.0])
    np.testing.assert_allclose(mean.result(), 2.5)
    y = np.array([1, 0, 1, 1, 0], np.float32)
    p = np.array([0.9, 0.8, 0.2, 0.7, 0.1], np.float32)
    precision, recall = metrics.Precision(), metrics.Recall()
    precision.update_state(y, p)
    recall.update_state(y, p)
    np.testing.assert_allclose(precision.result(), 2 / 3, rtol=1e-6)
    np.testing.assert_allclose(recall.result(), 2 / 3, rtol=1e-6)


def test_metric_update_inside_xf_function():
    m = metrics.Mean()
    step = xf.function(lambda v: m.update_state(v))
    for v in (1.0, 2.0, 6.0):
        step(np.float32(v))
    np.testing.assert_allclose(m.result(), 3.0)


def test_auc_matches_the_rank_statistic():
    y = RNG.integers(0, 2, 500)
    scores = np.clip(y * 0.3 + RNG.uniform(0, 0.7, 500), 0, 1).astype(np.float32)
    pos, neg = scores[y == 1], scores[y == 0]
    # The probability that a positive outranks a negative (ties count half): the exact AUC.
    exact = ((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    auc = metrics.AUC(num_thresholds=2000)
    auc.update_state(y[:250], scores[:250])
    auc.update_state(y[250:], scores[250:])
    np.testing.assert_allclose(auc.result(), exact, atol=2e-3)
    weighted = metrics.AUC(num_thresholds=2000)
    weighted.update_state(y, scores, sample_weight=np.full(500, 2.0, np.float32))
    np.testing.assert_allclose(weighted.result(), auc.result(), rtol=1e-5)
    assert isinstance(xf.metrics.get("auc"), metrics.AUC)


def test_labels_of_rank_n_minus_1_line_up_with_single_unit_outputs():
    y = np.array([1.0, 0.0, 1.0], np.float32)
    exact = y[:, None]
    np.testing.assert_allclose(losses.get("mse")(y, exact), 0.0, atol=1e-7)
    np.testing.assert_allclose(losses.get("mae")(y, exact + 0.5), 0.5, rtol=1e-6)
    p = np.array([[0.9], [0.2], [0.7]], np.float32)
    bce = -np.mean(y * np.log(p[:, 0]) + (1 - y) * np.log(1 - p[:, 0]))
    np.testing.assert_allclose(losses.get("binary_crossentropy")(y, p), bce, rtol=1e-5)
    np.testing.assert_allclose(losses.get("binary_crossentropy")(y[:, None], p[:, 0]), bce,
                               rtol=1e-5)
    m = metrics.BinaryAccuracy()
    m.update_state(y, p)
    np.testing.assert_allclose(m.result(), 1.0)
    m.update_state(np.array([1.0]), np.array([[0.1]]), sample_weight=np.array([2.0]))
    np.testing.assert_allclose(m.result(), 3 / 5)  # examples weigh, not batches


def test_a_column_of_sample_weights_weighs_each_example_once():
    rng = np.random.default_rng(3)
    y = (rng.random(6) > 0.5).astype(np.float32)
    p = rng.uniform(0.05, 0.95, 6).astype(np.float32)
    w = rng.uniform(0.5, 2.0, 6).astype(np.float32)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(
        xf.keras.losses.BinaryCrossentropy()(y, p[:, None], sample_weight=w[:, None]),
        np.sum(bce * w) / 6, rtol=1e-5)
    np.testing.assert_allclose(
        xf.keras.losses.MeanSquaredError()(y[:, None], p[:, None], sample_weight=w[:, None]),
        np.sum((y - p) ** 2 * w) / 6, rtol=1e-5)
    mean = xf.keras.metrics.Mean()
    mean.update_state(p, sample_weight=w[:, None])
    np.testing.assert_allclose(mean.result(), np.sum(p * w) / np.sum(w), rtol=1e-5)


def test_sum_metric_and_identity_initializer_as_keras_2():
    # keras.metrics.Sum: the (weighted) running total; keras.initializers.Identity: gain * I
    total = xf.keras.metrics.Sum()
    total.update_state([1.0, 3.0, 5.0, 7.0])
    total.update_state([2.0, 4.0], sample_weight=[0.5, 0.0])
    assert float(total.result()) == 17.0 and total.name == "sum"
    total.reset_state()
    assert float(total.result()) == 0.0
    assert type(xf.keras.metrics.get("Sum")) is xf.keras.metrics.Sum
    init = xf.keras.initializers.Identity(gain=2.0)
    np.testing.assert_array_equal(init((2, 3)), 2.0 * np.eye(2, 3))
    layer = xf.keras.layers.Dense(3, kernel_initializer="identity")
    layer.build((None, 3))
    np.testing.assert_array_equal(layer.kernel.numpy(), np.eye(3))
    with pytest.raises(ValueError, match=r"shape must be 2-D; received \(2, 2, 2\)"):
        init((2, 2, 2))
