"""AUC(multi_label=True) and AUC(label_weights=...) against Keras 2.12's rules, worked out
in NumPy: each label's confusion counts at the thresholds, its ROC/PR area by the same
Riemann sums, then their (weighted) mean; or, without multi_label, one flattened count
with each column's label weight."""

import numpy as np
import pytest

from xlaflow import keras

M = keras.metrics
EPS = 1e-7


def grid(num_thresholds):
    return np.array([-EPS] + [(i + 1) / (num_thresholds - 1)
                              for i in range(num_thresholds - 2)] + [1 + EPS])


def counts(labels, scores, thresholds, weights=None):
    """(tp, fp, tn, fn) per threshold of one flat column: a score counts positive above a
    threshold (random scores never land on a grid point, so Keras' buckets agree)."""
    labels, scores = np.ravel(labels) != 0, np.ravel(scores).astype(np.float64)
    w = np.ones(scores.shape) if weights is None else np.ravel(weights).astype(np.float64)
    above = scores[None, :] > thresholds[:, None]
    pos, neg = w * labels, w * ~labels
    return above @ pos, above @ neg, ~above @ neg, ~above @ pos


def ratio(a, b):
    return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)


def area(tp, fp, tn, fn, curve, method):
    """One label's area, as Keras 2's AUC.result / interpolate_pr_auc write it out."""
    if curve == "PR" and method == "interpolation":
        dtp, p = tp[:-1] - tp[1:], tp + fp
        slope = ratio(dtp, np.maximum(p[:-1] - p[1:], 0))
        intercept = tp[1:] - slope * p[1:]
        safe = np.where((p[:-1] > 0) & (p[1:] > 0), ratio(p[:-1], p[1:]), 1.0)
        return np.sum(ratio(slope * (dtp + intercept * np.log(safe)),
                            np.maximum(tp[1:] + fn[1:], 0)))
    recall = ratio(tp, tp + fn)
    x, y = (ratio(fp, fp + tn), recall) if curve == "ROC" else (recall, ratio(tp, tp + fp))
    heights = {"interpolation": (y[:-1] + y[1:]) / 2, "minoring": np.minimum(y[:-1], y[1:]),
               "majoring": np.maximum(y[:-1], y[1:])}[method]
    return np.sum((x[:-1] - x[1:]) * heights)


def multi_label_auc(labels, scores, thresholds, curve="ROC", method="interpolation",
                    sample_weight=None, label_weights=None):
    n_labels = labels.shape[1]
    w = np.ones(labels.shape) if sample_weight is None else \
        np.broadcast_to(np.reshape(sample_weight, (-1, 1)), labels.shape)
    areas = np.array([area(*counts(labels[:, j], scores[:, j], thresholds, w[:, j]),
                           curve, method) for j in range(n_labels)])
    if label_weights is None:
        return areas.mean()
    return np.sum(areas * label_weights) / np.sum(label_weights)


def data(seed, n=60, labels=3):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, labels)) < [0.3, 0.5, 0.7][:labels]).astype(np.float32)
    scores = np.clip(0.35 * y + 0.65 * rng.random((n, labels)), 0, 1).astype(np.float32)
    return y, scores, rng.random(n).astype(np.float32)


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("method", ["interpolation", "minoring", "majoring"])
@pytest.mark.parametrize("thresholds", [None, [0.2, 0.45, 0.7, 0.9]])
def test_multi_label_averages_each_labels_area(curve, method, thresholds):
    y, p, w = data(0)
    grid_ = grid(25) if thresholds is None else np.array([-EPS, *thresholds, 1 + EPS])
    for label_weights in (None, [0.5, 2.0, 1.0]):
        m = M.AUC(num_thresholds=25, curve=curve, summation_method=method,
                  thresholds=thresholds, multi_label=True, label_weights=label_weights)
        m.update_state(y[:30], p[:30], sample_weight=w[:30])
        m.update_state(y[30:], p[30:], sample_weight=w[30:])
        assert m.true_positives.shape == (len(grid_), 3)
        expected = multi_label_auc(y, p, grid_, curve, method, w, label_weights)
        np.testing.assert_allclose(m.result(), expected, rtol=2e-5, atol=1e-6)


def test_one_label_column_equals_the_plain_auc():
    y, p, _ = data(1, labels=1)
    for curve in ("ROC", "PR"):
        multi = M.AUC(curve=curve, multi_label=True, num_labels=1)
        assert multi.true_positives.shape == (200, 1)  # built at construction
        np.testing.assert_allclose(multi(y, p), M.AUC(curve=curve)(y, p), rtol=1e-6)


def test_label_weights_without_multi_label_weigh_the_flattened_counts():
    y, p, w = data(2)
    lw = np.array([1.0, 0.0, 3.0])
    m = M.AUC(num_thresholds=50, label_weights=lw)
    m.update_state(y, p, sample_weight=w)
    assert m.true_positives.shape == (50,)
    weights = w[:, None] * lw[None, :]
    expected = area(*counts(y, p, grid(50), weights), "ROC", "interpolation")
    np.testing.assert_allclose(m.result(), expected, rtol=1e-5)
    # a zero label weight drops the column: the same as scoring the others alone
    kept = M.AUC(num_thresholds=50)
    kept.update_state(y[:, [0, 2]], p[:, [0, 2]], sample_weight=w[:, None] * [1.0, 3.0])
    np.testing.assert_allclose(m.result(), kept.result(), rtol=1e-6)


def test_num_labels_inferred_on_first_update_reset_and_merge():
    y, p, _ = data(3)
    m = M.AUC(multi_label=True, from_logits=True)
    assert not m.variables  # Keras 2 builds on the first update without num_labels
    with pytest.raises(ValueError, match="first update_state"):
        m.result()
    logits = np.log(p + 1e-3) - np.log1p(-p + 1e-3)
    m.update_state(y[:40], logits[:40])
    assert [v.shape for v in m.variables] == [(200, 3)] * 4
    other = M.AUC(multi_label=True, num_labels=3, from_logits=True)
    other.update_state(y[40:], logits[40:])
    m.merge_state([other])
    probs = 1 / (1 + np.exp(-logits.astype(np.float64)))
    np.testing.assert_allclose(m.result(), multi_label_auc(y, probs, grid(200)), rtol=2e-5)
    m.reset_state()
    assert [v.shape for v in m.variables] == [(200, 3)] * 4
    assert not any(np.any(v.numpy()) for v in m.variables)
    with pytest.raises(ValueError, match="not compatible"):
        m.merge_state([M.AUC(multi_label=True, num_labels=2)])


def test_config_round_trip():
    m = M.AUC(num_thresholds=7, curve="PR", multi_label=True, num_labels=2,
              label_weights=[0.25, 1.5], summation_method="majoring")
    config = m.get_config()
    assert config["multi_label"] is True and config["num_labels"] == 2
    assert config["label_weights"] == [0.25, 1.5]
    again = M.AUC.from_config(config)
    assert again.get_config() == config
    y, p, _ = data(4, labels=2)
    np.testing.assert_allclose(again(y, p), m(y, p))


def test_bad_arguments_and_shapes_are_refused_before_any_state():
    with pytest.raises(ValueError, match="num_labels is needed only"):
        M.AUC(num_labels=3)
    with pytest.raises(ValueError, match="non-negative"):
        M.AUC(multi_label=True, label_weights=[1.0, -0.5])
    with pytest.raises(ValueError, match="num_labels=3 weights"):
        M.AUC(multi_label=True, num_labels=3, label_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="num_labels must be"):
        M.AUC(multi_label=True, num_labels=0)
    y, p, _ = data(5)
    lazy = M.AUC(multi_label=True)
    with pytest.raises(ValueError, match="rank 2"):
        lazy.update_state(y[:, 0], p[:, 0])
    with pytest.raises(ValueError, match="not consistent"):
        lazy.update_state(y[:, :2], p)
    assert not lazy.variables  # a refused batch builds nothing
    built = M.AUC(multi_label=True, num_labels=2)
    with pytest.raises(ValueError, match="not consistent"):
        built.update_state(y, p)
    weighted = M.AUC(label_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="not consistent"):
        weighted.update_state(y, p)
    assert not any(np.any(v.numpy()) for v in built.variables + weighted.variables)


def test_multi_label_auc_in_fit_and_evaluate_of_a_multi_output_sigmoid_model():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(96, 4)).astype(np.float32)
    y = (x[:, :3] + 0.5 * rng.normal(size=(96, 3)) > 0).astype(np.float32)
    model = keras.Sequential([keras.layers.Dense(3, activation="sigmoid", input_shape=(4,))])
    model.compile("adam", "binary_crossentropy",
                  metrics=[M.AUC(multi_label=True, name="auc"),
                           M.AUC(multi_label=True, label_weights=[1.0, 0.0, 2.0],
                                 num_thresholds=50, name="wauc")])
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert len(history.history["auc"]) == 2
    logs = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    scores = np.asarray(model.predict(x, verbose=0))
    np.testing.assert_allclose(logs["auc"], multi_label_auc(y, scores, grid(200)),
                               rtol=1e-5)
    np.testing.assert_allclose(
        logs["wauc"], multi_label_auc(y, scores, grid(50), label_weights=[1.0, 0.0, 2.0]),
        rtol=1e-5)
