"""Keras 2's confusion metrics (TruePositives, FalsePositives, TrueNegatives, FalseNegatives,
Precision, Recall with threshold lists, top_k and class_id) and AUC's curves and summation
methods, against NumPy counts and the closed forms of Keras 2's documented examples."""

import math

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras

COUNTS = {"tp": keras.metrics.TruePositives, "fp": keras.metrics.FalsePositives,
          "tn": keras.metrics.TrueNegatives, "fn": keras.metrics.FalseNegatives}


def _numpy_counts(labels, scores, threshold, weights=None):
    labels, scores = np.ravel(labels) != 0, np.ravel(scores)
    w = np.ones(scores.shape) if weights is None else np.ravel(weights)
    above = scores > threshold
    return {"tp": np.sum(w * (above & labels)), "fp": np.sum(w * (above & ~labels)),
            "tn": np.sum(w * (~above & ~labels)), "fn": np.sum(w * (~above & labels))}


def _batches(seed=0, n=64):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.3).astype(np.float32)
    scores = np.clip(rng.random(n) * 0.7 + 0.3 * labels, 0, 1).astype(np.float32)
    weights = rng.random(n).astype(np.float32)
    return labels, scores, weights


@pytest.mark.parametrize("cell", sorted(COUNTS))
def test_counts_at_several_thresholds_against_numpy(cell):
    labels, scores, weights = _batches()
    thresholds = [0.0, 0.25, 0.5, 0.8, 1.0]
    metric = COUNTS[cell](thresholds=thresholds)
    # two batches, sigmoid-shaped (n, 1) predictions against (n,) labels: summed
    metric.update_state(labels[:40], scores[:40, None])
    metric.update_state(labels[40:], scores[40:, None], sample_weight=weights[40:])
    expected = [_numpy_counts(labels[:40], scores[:40], t)[cell]
                + _numpy_counts(labels[40:], scores[40:], t, weights[40:])[cell]
                for t in thresholds]
    result = metric.result()
    assert result.shape == (5,)
    np.testing.assert_allclose(result, expected, rtol=1e-5)
    # one threshold (the default 0.5, or a list of one): a scalar, as Keras 2
    single = COUNTS[cell]()
    single.update_state(labels, scores, sample_weight=weights[:, None])
    assert single.result().shape == ()
    np.testing.assert_allclose(single.result(),
                               _numpy_counts(labels, scores, 0.5, weights)[cell], rtol=1e-5)
    assert COUNTS[cell](thresholds=[0.5])(labels, scores).shape == ()


def test_counts_reset_config_and_names():
    labels, scores, _ = _batches(1)
    metric = keras.metrics.FalseNegatives(thresholds=[0.2, 0.6], name="fn")
    metric.update_state(labels, scores)
    assert float(np.sum(metric.result())) > 0
    metric.reset_state()
    np.testing.assert_array_equal(metric.result(), [0.0, 0.0])
    config = metric.get_config()
    assert config == {"name": "fn", "dtype": "float32", "thresholds": [0.2, 0.6]}
    clone = keras.metrics.FalseNegatives.from_config(config)
    assert clone.thresholds == metric.thresholds and clone.name == "fn"
    again = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(again) is keras.metrics.FalseNegatives
    assert keras.metrics.TruePositives().name == "true_positives"
    assert type(keras.metrics.get("TrueNegatives")) is keras.metrics.TrueNegatives
    # labels are positive when nonzero (Keras 2 casts them to bool)
    assert float(keras.metrics.TruePositives()([0.3, 0.0], [0.9, 0.9])) == 1.0


@pytest.mark.parametrize("thresholds", [1.5, -0.1, [0.2, 2.0], [], "0.5", True])
def test_thresholds_outside_unit_interval_are_refused(thresholds):
    with pytest.raises(ValueError, match=r"thresholds must be .* in \[0, 1\]"):
        keras.metrics.TruePositives(thresholds=thresholds)
    with pytest.raises(ValueError, match="thresholds"):
        keras.metrics.Precision(thresholds=thresholds)


def test_counts_in_fit_history_and_evaluate():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(96, 3)).astype(np.float32)
    y = (x[:, 0] > 0.3).astype(np.float32)
    model = keras.Sequential([keras.layers.Dense(1, activation="sigmoid",
                                                 input_shape=(3,))])
    model.compile("sgd", "binary_crossentropy",
                  metrics=[keras.metrics.TruePositives(name="tp"),
                           keras.metrics.FalsePositives(name="fp"),
                           keras.metrics.TrueNegatives(name="tn"),
                           keras.metrics.FalseNegatives(thresholds=[0.3, 0.7], name="fn")])
    history = model.fit(x, y, batch_size=32, epochs=2, validation_data=(x, y), verbose=0)
    assert {"tp", "fp", "tn", "fn", "val_tp", "val_fn"} <= set(history.history)
    assert model.metrics_names == ["loss", "tp", "fp", "tn", "fn"]
    logs = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    scores = model.predict(x, verbose=0)[:, 0]
    for name in ("tp", "fp", "tn"):
        assert logs[name] == _numpy_counts(y, scores, 0.5)[name]
    np.testing.assert_array_equal(logs["fn"], [_numpy_counts(y, scores, t)["fn"]
                                               for t in (0.3, 0.7)])
    # the validation pass of the last epoch saw the same data with the same weights
    assert history.history["val_tp"][-1] == logs["tp"]


def test_precision_recall_threshold_lists_top_k_and_class_id_against_numpy():
    labels, scores, weights = _batches(3)
    precision = keras.metrics.Precision(thresholds=[0.3, 0.6])
    recall = keras.metrics.Recall(thresholds=[0.3, 0.6])
    for metric in (precision, recall):
        metric.update_state(labels, scores, sample_weight=weights)
    for i, t in enumerate((0.3, 0.6)):
        c = _numpy_counts(labels, scores, t, weights)
        np.testing.assert_allclose(precision.result()[i], c["tp"] / (c["tp"] + c["fp"]),
                                   rtol=1e-5)
        np.testing.assert_allclose(recall.result()[i], c["tp"] / (c["tp"] + c["fn"]),
                                   rtol=1e-5)

    # Keras 2's documented top_k example: only each row's largest k scores count
    m = keras.metrics.Precision(top_k=2)
    m.update_state([0, 0, 1, 1], [1, 1, 1, 1])  # ties: the first two, both negative
    assert float(m.result()) == 0.0
    rng = np.random.default_rng(4)
    multi = rng.random((20, 5)).astype(np.float32)
    truth = (rng.random((20, 5)) < 0.4).astype(np.float32)
    top2 = np.zeros_like(truth, bool)
    top2[np.arange(20)[:, None], np.argsort(-multi, axis=1)[:, :2]] = True
    tp, fp = np.sum(top2 & (truth == 1)), np.sum(top2 & (truth == 0))
    np.testing.assert_allclose(keras.metrics.Precision(top_k=2)(truth, multi), tp / (tp + fp),
                               rtol=1e-6)
    # class_id: column 3 only, one weight per example
    w = rng.random(20).astype(np.float32)
    c = _numpy_counts(truth[:, 3], multi[:, 3], 0.5, w)
    np.testing.assert_allclose(keras.metrics.Recall(class_id=3)(truth, multi, w),
                               c["tp"] / (c["tp"] + c["fn"]), rtol=1e-5)
    # Keras 2's positional order: thresholds, top_k, class_id, name, dtype
    positional = keras.metrics.Precision(None, 1, 2, "p_at_1")
    assert (positional.top_k, positional.class_id, positional.name) == (1, 2, "p_at_1")
    with pytest.raises(ValueError, match="top_k must be None or an int >= 1"):
        keras.metrics.Recall(top_k=0)


def test_auc_closed_forms_of_keras_2_examples():
    # Keras 2's AUC docstring: thresholds [-eps, 0.5, 1 + eps]; tpr [1, 0.5, 0], fpr [1, 0, 0]
    labels, scores = [0, 0, 1, 1], [0, 0.5, 0.3, 0.9]
    roc = keras.metrics.AUC(num_thresholds=3)
    roc.update_state(labels, scores)
    np.testing.assert_allclose(roc.result(), (1 + 0.5) / 2 * 1, rtol=1e-6)
    for method, area in (("minoring", 0.5), ("majoring", 1.0)):
        np.testing.assert_allclose(
            keras.metrics.AUC(num_thresholds=3, summation_method=method)(labels, scores),
            area, rtol=1e-6)
    # PR, interpolated as Keras 2: tp [2, 1, 0], predicted positives [4, 1, 0], fn [0, 1, 2];
    # slopes dtp/dp = [1/3, 1], intercepts [2/3, 0], p ratios [4, 1]:
    # (1/3)(1 + (2/3) ln 4) / 2 + 1 * 1 / 2
    pr = keras.metrics.AUC(num_thresholds=3, curve="PR")
    np.testing.assert_allclose(pr(labels, scores), (1 + 2 / 3 * math.log(4)) / 6 + 0.5,
                               rtol=1e-6)
    # PR with the trapezoid: recall x [1, 0.5, 0], precision y [0.5, 1, 0]
    np.testing.assert_allclose(
        keras.metrics.AUC(num_thresholds=3, curve="PR", summation_method="majoring")(
            labels, scores), 0.5 * 1 + 0.5 * 1, rtol=1e-6)
    # from_logits: the same counts from the logits of the same probabilities
    probs = np.array([0.01, 0.5, 0.3, 0.9])
    logits = np.log(probs / (1 - probs))
    np.testing.assert_allclose(keras.metrics.AUC(num_thresholds=3, from_logits=True)(
        labels, logits), keras.metrics.AUC(num_thresholds=3)(labels, probs), rtol=1e-6)


def test_pr_auc_separated_and_near_average_precision():
    # perfectly separated scores: precision 1 at every recall
    perfect = keras.metrics.AUC(curve="PR")
    perfect.update_state([0, 0, 1, 1, 1], [0.1, 0.2, 0.7, 0.8, 0.95])
    np.testing.assert_allclose(perfect.result(), 1.0, rtol=1e-5)
    # many distinct scores: Keras' interpolated area is close to NumPy's average precision
    labels, scores, _ = _batches(5, n=2000)
    order = np.argsort(-scores)
    hits = labels[order]
    precision_at = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    average_precision = np.sum(precision_at * hits) / hits.sum()
    pr = keras.metrics.AUC(curve="PR", num_thresholds=1000)
    pr.update_state(labels[:1000], scores[:1000])
    pr.update_state(labels[1000:], scores[1000:])
    np.testing.assert_allclose(pr.result(), average_precision, atol=0.01)


def test_auc_options_config_and_refusals():
    auc = keras.metrics.AUC(thresholds=[0.7, 0.2], curve="pr", name="prc")
    assert auc.curve == "PR" and auc.num_thresholds == 4
    config = auc.get_config()
    assert config["thresholds"] == [0.2, 0.7] and config["curve"] == "PR"
    assert config["summation_method"] == "interpolation" and config["from_logits"] is False
    clone = keras.metrics.AUC.from_config(config)
    assert clone.thresholds == auc.thresholds and clone.name == "prc"
    # both of Keras 2's paths cast labels to bool: y = 0.25 is one positive, on explicit
    # thresholds as on the evenly spaced default (its optimized path included)
    explicit = keras.metrics.AUC(thresholds=[0.3])  # [0, 0.3, 1]: not evenly spaced
    explicit.update_state([0.25], [0.9])
    assert float(explicit.true_positives.numpy()[1]) == 1.0
    even = keras.metrics.AUC(num_thresholds=3)
    even.update_state([0.25], [0.9])
    np.testing.assert_array_equal(even.true_positives.numpy(), [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(even.false_positives.numpy(), [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="invalid curve 'XY'"):
        keras.metrics.AUC(curve="XY")
    with pytest.raises(ValueError, match="summation_method 'careful'"):
        keras.metrics.AUC(summation_method="careful")
    with pytest.raises(ValueError, match="num_thresholds must be an int > 1; received 1"):
        keras.metrics.AUC(num_thresholds=1)
    # multi_label is supported (test_metrics_auc_multilabel.py); num_labels alone is not
    with pytest.raises(ValueError, match="num_labels is needed only when multi_label"):
        keras.metrics.AUC(num_labels=2)


def test_dense_with_none_initializer_draws_glorot_uniform_as_keras_2():
    # Keras 2: initializers.get(None) is None and add_weight(initializer=None) draws
    # glorot_uniform for a float weight, limit sqrt(6 / (fan_in + fan_out)), a 1-D shape's
    # fans both its length (the imbalanced-data tutorial's make_model passes None)
    xf.random.set_seed(0)
    layer = keras.layers.Dense(400, bias_initializer=None)
    layer.build((None, 3))
    bias = layer.bias.numpy()
    limit = math.sqrt(6 / 800)
    assert np.abs(bias).max() <= limit and np.abs(bias).max() > 0.9 * limit
    np.testing.assert_allclose(bias.std(), limit / math.sqrt(3), rtol=0.15)
    assert isinstance(keras.initializers.get(None), keras.initializers.GlorotUniform)
    # an integer weight with no initializer starts at zeros, as Keras 2's add_weight
    counts = layer.add_weight("counts", (3,), dtype="int32", initializer=None,
                              trainable=False)
    assert counts.numpy().tolist() == [0, 0, 0] and counts.dtype == np.int32
