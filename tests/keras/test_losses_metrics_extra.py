"""Keras 2's remaining losses and metrics, against the values in Keras' API docs (each
example's data and results) and NumPy formulas."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras

L, M = keras.losses, keras.metrics

# (loss class, y_true, y_pred, plain, sample_weight, weighted, SUM, NONE): Keras' docs
LOSS_DOCS = [
    (L.KLDivergence, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.458, [0.8, 0.2], 0.366,
     0.916, [0.916, -3.08e-06]),
    (L.CosineSimilarity, [[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]], -0.5, [0.8, 0.2],
     -0.0999, -0.999, [0.0, -0.999]),
    (L.Hinge, [[0., 1.], [0., 0.]], [[0.6, 0.4], [0.4, 0.6]], 1.3, [1, 0], 0.55, 2.6,
     [1.1, 1.5]),
    (L.SquaredHinge, [[0., 1.], [0., 0.]], [[0.6, 0.4], [0.4, 0.6]], 1.86, [1, 0], 0.73,
     3.72, [1.46, 2.26]),
    (L.CategoricalHinge, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 1.4, [1, 0], 0.6, 2.8,
     [1.2, 1.6]),
    (L.Poisson, [[0., 1.], [0., 0.]], [[1., 1.], [0., 0.]], 0.5, [0.8, 0.2], 0.4, 0.999,
     [0.999, 0.0]),
    (L.LogCosh, [[0., 1.], [0., 0.]], [[1., 1.], [0., 0.]], 0.108, [0.8, 0.2], 0.087, 0.217,
     [0.217, 0.0]),
    (L.MeanSquaredLogarithmicError, [[0., 1.], [0., 0.]], [[1., 1.], [1., 0.]], 0.240,
     [0.7, 0.3], 0.120, 0.480, [0.240, 0.240]),
    (L.MeanAbsolutePercentageError, [[2., 1.], [2., 3.]], [[1., 1.], [1., 0.]], 50.0,
     [0.7, 0.3], 20.0, 100.0, [25.0, 75.0]),
]


@pytest.mark.parametrize("cls, y_true, y_pred, plain, weight, weighted, total, none",
                         LOSS_DOCS, ids=[case[0].__name__ for case in LOSS_DOCS])
def test_losses_match_keras_docs(cls, y_true, y_pred, plain, weight, weighted, total, none):
    y_true, y_pred = np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32)
    np.testing.assert_allclose(cls()(y_true, y_pred), plain, atol=1e-3)
    np.testing.assert_allclose(cls()(y_true, y_pred, sample_weight=np.asarray(weight)),
                               weighted, atol=1e-3)
    np.testing.assert_allclose(cls(reduction="sum")(y_true, y_pred), total, atol=1e-3)
    np.testing.assert_allclose(cls(reduction="none")(y_true, y_pred), none, atol=1e-3)
    restored = L.deserialize(L.serialize(cls(name="custom")))
    assert type(restored) is cls and restored.get_config() == cls(name="custom").get_config()


def test_loss_formulas_against_numpy_and_string_aliases():
    rng = np.random.default_rng(0)
    t = rng.uniform(0.1, 2.0, size=(4, 3)).astype(np.float32)
    p = rng.uniform(0.1, 2.0, size=(4, 3)).astype(np.float32)
    err = p - t
    np.testing.assert_allclose(L.log_cosh(t, p), np.mean(np.log(np.cosh(err)), -1),
                               rtol=1e-5)
    np.testing.assert_allclose(L.msle(t, p), np.mean((np.log1p(p) - np.log1p(t)) ** 2, -1),
                               rtol=1e-5)
    np.testing.assert_allclose(L.mape(t, p), 100 * np.mean(np.abs(err / t), -1), rtol=1e-5)
    np.testing.assert_allclose(L.poisson(t, p), np.mean(p - t * np.log(p + 1e-7), -1),
                               rtol=1e-5)
    cos = np.sum(t * p, -1) / np.linalg.norm(t, axis=-1) / np.linalg.norm(p, axis=-1)
    np.testing.assert_allclose(L.cosine_similarity(t, p), -cos, rtol=1e-5)
    big = np.array([[1000.0]], np.float32)  # log(cosh(1000)) = 1000 - log 2, no overflow
    np.testing.assert_allclose(L.log_cosh(np.zeros_like(big), big), [1000 - np.log(2)])
    for alias, cls in [("kld", L.KLDivergence), ("logcosh", L.LogCosh), ("huber", L.Huber),
                       ("msle", L.MeanSquaredLogarithmicError), ("hinge", L.Hinge),
                       ("mape", L.MeanAbsolutePercentageError), ("poisson", L.Poisson),
                       ("cosine_similarity", L.CosineSimilarity), ("KLDivergence",
                                                                  L.KLDivergence)]:
        assert type(L.get(alias)) is cls
    assert type(L.get(L.kld)) is L.KLDivergence
    assert L.CosineSimilarity(axis=0).get_config()["axis"] == 0


# (metric, kwargs, y_true, y_pred, result, sample_weight, weighted): Keras' docs
METRIC_DOCS = [
    (M.TopKCategoricalAccuracy, {"k": 1}, [[0, 0, 1], [0, 1, 0]],
     [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], 0.5, [0.7, 0.3], 0.3),
    (M.SparseTopKCategoricalAccuracy, {"k": 1}, [2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
     0.5, [0.7, 0.3], 0.3),
    (M.CosineSimilarity, {"axis": 1}, [[0., 1.], [1., 1.]], [[1., 0.], [1., 1.]], 0.5,
     [0.3, 0.7], 0.7),
    (M.LogCoshError, {}, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.10844523, [1, 0], 0.21689045),
    (M.Poisson, {}, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.5, [1, 0], 1.0),
    (M.KLDivergence, {}, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.45814306, [1, 0],
     0.9162892),
    (M.Hinge, {}, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 1.3, [1, 0], 1.1),
    (M.SquaredHinge, {}, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 1.86, [1, 0], 1.46),
    (M.CategoricalHinge, {}, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 1.4, [1, 0], 1.2),
    (M.MeanSquaredLogarithmicError, {}, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 0.12011322,
     [1, 0], 0.24022643),
    (M.MeanAbsolutePercentageError, {}, [[0, 1], [0, 0]], [[1, 1], [0, 0]], 250000000.0,
     [1, 0], 500000000.0),
    (M.CategoricalCrossentropy, {}, [[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
     1.1769392, [0.3, 0.7], 1.6271976),
    (M.BinaryCrossentropy, {}, [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.81492424,
     [1, 0], 0.9162905),
    (M.SparseCategoricalCrossentropy, {}, [1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
     1.1769392, [0.3, 0.7], 1.6271976),
]


@pytest.mark.parametrize("cls, kwargs, y_true, y_pred, result, weight, weighted",
                         METRIC_DOCS, ids=[case[0].__name__ for case in METRIC_DOCS])
def test_metrics_match_keras_docs(cls, kwargs, y_true, y_pred, result, weight, weighted):
    y_true, y_pred = np.asarray(y_true, np.float32), np.asarray(y_pred, np.float32)
    metric = cls(**kwargs)
    metric.update_state(y_true, y_pred)
    np.testing.assert_allclose(metric.result(), result, rtol=1e-5)
    metric.reset_state()
    metric.update_state(y_true, y_pred, sample_weight=np.asarray(weight, np.float32))
    np.testing.assert_allclose(metric.result(), weighted, rtol=1e-5)
    restored = M.deserialize(M.serialize(metric))
    assert type(restored) is cls and restored.get_config() == metric.get_config()


def test_top_k_ties_and_metric_aliases_in_compile():
    # TF's in_top_k: classes tied at the k-th value all count as in the top k
    acc = M.top_k_categorical_accuracy([[0, 0, 1]], [[0.5, 0.2, 0.5]], k=1)
    np.testing.assert_array_equal(acc, [1.0])
    for alias, cls in [("top_k_categorical_accuracy", M.TopKCategoricalAccuracy),
                       ("sparse_top_k_categorical_accuracy", M.SparseTopKCategoricalAccuracy),
                       ("kld", M.KLDivergence), ("logcosh", M.LogCoshError),
                       ("cosine_similarity", M.CosineSimilarity), ("mape",
                                                                   M.MeanAbsolutePercentageError)]:
        metric = M.get(alias)
        assert type(metric) is cls and metric.name == alias
    model = keras.Sequential([keras.layers.Dense(4, input_shape=(3,))])
    model.compile("sgd", loss="logcosh", metrics=["top_k_categorical_accuracy", "kld"])
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[np.arange(8) % 4]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = np.asarray(model.predict(x, verbose=0))
    err = pred - y
    np.testing.assert_allclose(logs["loss"], np.mean(np.log(np.cosh(err))), rtol=1e-4)
    # top-5 of 4 classes: every label is in
    np.testing.assert_allclose(logs["top_k_categorical_accuracy"], 1.0)
    assert xf.keras.metrics.TopKCategoricalAccuracy().get_config()["k"] == 5
