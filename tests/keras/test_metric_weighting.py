"""compile(metrics=..., weighted_metrics=...): which metrics see sample and class weights."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models

RNG = np.random.default_rng(3)
X = RNG.normal(size=(64, 4)).astype(np.float32)
Y = RNG.normal(size=(64, 1)).astype(np.float32)
W = RNG.uniform(0.1, 3.0, size=64).astype(np.float32)


def regressor(**compile_options):
    model = models.Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0), loss="mse", **compile_options)
    return model


def _errors(model):
    return np.abs(model.predict(X, verbose=0) - Y)[:, 0]


def test_metrics_ignore_sample_weight_and_weighted_metrics_use_it():
    model = regressor(metrics=["mae"], weighted_metrics=["mae"])
    logs = model.evaluate(X, Y, sample_weight=W, batch_size=16, verbose=0, return_dict=True)
    errors = _errors(model)
    assert set(logs) == {"loss", "mae", "weighted_mae"}
    np.testing.assert_allclose(logs["mae"], errors.mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["weighted_mae"], (errors * W).sum() / W.sum(), rtol=1e-5)


def test_fit_gives_class_weights_to_weighted_metrics_only():
    model = models.Sequential([layers.Dense(2, activation="softmax", input_shape=(4,))])
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["accuracy"])
    labels = (X[:, 0] > 0).astype(np.int32)
    class_weight = {0: 1.0, 1: 4.0}
    history = model.fit(X, labels, epochs=1, batch_size=64, verbose=0,
                        class_weight=class_weight).history
    hits = (model.predict(X, verbose=0).argmax(-1) == labels).astype(np.float64)
    weights = np.where(labels == 1, 4.0, 1.0)
    np.testing.assert_allclose(history["accuracy"][0], hits.mean(), rtol=1e-5)
    np.testing.assert_allclose(history["weighted_accuracy"][0],
                               (hits * weights).sum() / weights.sum(), rtol=1e-5)


def test_a_weighted_metric_alone_keeps_its_name():
    model = regressor(weighted_metrics=["mae"])
    logs = model.evaluate(X, Y, sample_weight=W, verbose=0, return_dict=True)
    errors = _errors(model)
    assert set(logs) == {"loss", "mae"}
    np.testing.assert_allclose(logs["mae"], (errors * W).sum() / W.sum(), rtol=1e-5)


def test_weighted_metrics_survive_save_and_load(tmp_path):
    model = regressor(metrics=["mae"], weighted_metrics=["mae"])
    model.save(tmp_path / "m")
    loaded = xf.keras.models.load_model(tmp_path / "m")
    logs = loaded.evaluate(X, Y, sample_weight=W, verbose=0, return_dict=True)
    errors = _errors(model)
    np.testing.assert_allclose(logs["weighted_mae"], (errors * W).sum() / W.sum(), rtol=1e-5)
    np.testing.assert_allclose(logs["mae"], errors.mean(), rtol=1e-5)


def test_a_dict_of_weighted_metrics_naming_no_output_is_refused():
    # as Keras 2: a dict is keyed by output name, and a key naming no output is an error
    with pytest.raises(ValueError, match=r"keys \['out'\] that name no model output"):
        regressor(weighted_metrics={"out": ["mae"]})
