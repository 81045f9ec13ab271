"""Review of the confusion metrics and AUC against Keras 2.12's update rules, worked out in
NumPy: labels cast to bool everywhere, evenly spaced thresholds counted by Keras' bucket
formula on predictions clipped to [0, 1], Keras' spellings of the AUC options, merge_state."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras

M = keras.metrics
EPS = 1e-7


def compiled_update(metric, *args):
    """update_state inside xf.function: scores outside [0, 1] are refused eagerly (Keras 2's
    asserts) but not checked in compiled steps, where the counting rules below apply."""
    xf.function(lambda *a: metric.update_state(*a))(*args)


def keras_counts(labels, scores, thresholds, weights=None):
    """(tp, fp, tn, fn) per threshold as Keras 2's update_confusion_matrix_variables: a
    label is positive when nonzero; evenly spaced thresholds (0, 1/(n-1), ..., 1, the ends
    possibly moved out by epsilon) take the optimized path, which clips the scores to
    [0, 1] and counts a score above thresholds 0..ceil(p (n - 1)) - 1 in float32 (the
    first one always when the ends carry epsilon); other thresholds compare score > t."""
    thresholds = np.asarray(thresholds, np.float64)
    scores = np.ravel(np.asarray(scores, np.float32))
    labels = np.ravel(np.asarray(labels, np.float32)) != 0
    w = np.ones(scores.shape) if weights is None else np.ravel(weights).astype(np.float64)
    n = len(thresholds)
    inner = thresholds.copy()
    with_epsilon = thresholds[0] < 0 or thresholds[-1] > 1
    inner[0], inner[-1] = (0.0, 1.0) if with_epsilon else (inner[0], inner[-1])
    even = n >= 3 and np.allclose(inner, np.arange(n, dtype=np.float32) / (n - 1), atol=EPS)
    if even:
        bucket = np.ceil(np.clip(scores, 0, 1) * np.float32(n - 1)) - 1
        if with_epsilon:
            bucket = np.maximum(bucket, 0)
        above = bucket[None, :] >= np.arange(n)[:, None]
    else:
        above = scores[None, :] > thresholds.astype(np.float32)[:, None]
    pos, neg = w * labels, w * ~labels
    return above @ pos, above @ neg, ~above @ neg, ~above @ pos


def div_no_nan(a, b):
    return np.where(b > 0, a / np.where(b > 0, b, 1), 0)


def keras_roc_auc(tp, fp, tn, fn):
    tpr, fpr = div_no_nan(tp, tp + fn), div_no_nan(fp, fp + tn)
    return np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)


def auc_grid(num_thresholds):
    return [-EPS] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + \
        [1 + EPS]


def state(metric):
    return [np.asarray(v.numpy()) for v in (metric.true_positives, metric.false_positives,
                                              metric.true_negatives, metric.false_negatives)]


@pytest.mark.parametrize("labels", [[0, 2, 2, 0, 0.25], [False, True, True, False, True],
                                    [0, 1, 1, 0, -1]])
def test_auc_labels_count_as_positive_when_nonzero_on_both_paths(labels):
    # Keras 2 casts y_true to bool on the evenly spaced (default) path as on the other:
    # 2, 0.25 and -1 are positives, never a fraction of one (or a negative count)
    scores = [0.1, 0.8, 0.4, 0.6, 0.9]
    weights = [1.0, 2.0, 0.5, 1.5, 3.0]
    for make, grid in ((lambda: M.AUC(num_thresholds=5), auc_grid(5)),
                       (lambda: M.AUC(thresholds=[0.3, 0.7]), [-EPS, 0.3, 0.7, 1 + EPS])):
        auc = make()
        auc.update_state(labels, scores, sample_weight=weights)
        expected = keras_counts(labels, scores, grid, weights)
        for got, want in zip(state(auc), expected):
            np.testing.assert_allclose(got, want, rtol=1e-6)
        np.testing.assert_allclose(auc.result(), keras_roc_auc(*expected), rtol=1e-6)
        assert 0 <= float(auc.result()) <= 1


def test_auc_clips_scores_outside_unit_interval_on_the_evenly_spaced_grid():
    # raw logits passed without from_logits (compiled: eagerly they are refused): Keras 2's
    # optimized path clips them, so -0.5 counts as 0 (above -epsilon) and 1.5 as 1 (not
    # above 1 + epsilon): tpr [1, 1, 0], fpr [1, 0, 0], an area of 1 (unclipped it would
    # be 0)
    auc = M.AUC(num_thresholds=3)
    compiled_update(auc, np.array([0, 1, 1.0]), np.array([-0.5, 1.5, 0.7]))
    tp, fp = state(auc)[:2]
    np.testing.assert_array_equal(tp, [2, 2, 0])
    np.testing.assert_array_equal(fp, [1, 0, 0])
    np.testing.assert_allclose(auc.result(), 1.0)
    # explicit uneven thresholds take Keras' other path: no clipping, score > threshold
    uneven = M.AUC(thresholds=[0.3])
    compiled_update(uneven, np.array([0, 1, 1.0]), np.array([-0.5, 1.5, 0.7]))
    expected = keras_counts([0, 1, 1], [-0.5, 1.5, 0.7], [-EPS, 0.3, 1 + EPS])
    for got, want in zip(state(uneven), expected):
        np.testing.assert_array_equal(got, want)
    assert state(uneven)[0].tolist() == [2, 2, 1]


def test_auc_scores_on_grid_points_fall_in_keras_buckets():
    # on 101 thresholds float32(0.3) * 100 rounds to just above 30, so Keras counts a score
    # of 0.3 above the threshold 0.3 (bucket ceil(30.000002) - 1 = 30); likewise 0.15, 0.6
    rng = np.random.default_rng(0)
    scores = np.array([0.15, 0.27, 0.3, 0.54, 0.6, 0.5, 0.0, 1.0, *rng.random(12)],
                      np.float32)
    labels = (rng.random(scores.size) < 0.5).astype(np.float32)
    auc = M.AUC(num_thresholds=101)
    auc.update_state(labels, scores)
    expected = keras_counts(labels, scores, auc_grid(101))
    for got, want in zip(state(auc), expected):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(auc.result(), keras_roc_auc(*expected), rtol=1e-6)


@pytest.mark.parametrize("metric", [M.TruePositives, M.FalsePositives, M.TrueNegatives,
                                    M.FalseNegatives, M.Precision, M.Recall])
def test_evenly_spaced_threshold_lists_follow_keras_optimized_path(metric):
    # [0, 0.25, 0.5, 0.75, 1] is evenly spaced: Keras clips 1.5 to 1, not above 1.0
    thresholds = [0.0, 0.25, 0.5, 0.75, 1.0]
    labels = np.array([1, 0, 1, 1, 0, 2], np.float32)
    scores = np.array([1.5, 1.2, 0.5, 0.25, -0.2, 0.8], np.float32)
    weights = np.array([1, 2, 3, 4, 5, 6], np.float32)
    m = metric(thresholds=thresholds)
    compiled_update(m, labels[:, None], scores[:, None], weights)  # eagerly 1.5 is refused
    tp, fp, tn, fn = keras_counts(labels, scores, thresholds, weights)
    expected = {"TruePositives": tp, "FalsePositives": fp, "TrueNegatives": tn,
                "FalseNegatives": fn, "Precision": div_no_nan(tp, tp + fp),
                "Recall": div_no_nan(tp, tp + fn)}[metric.__name__]
    np.testing.assert_allclose(m.result(), expected, rtol=1e-6)
    assert tp[-1] == 0  # the clipped 1.5 and 1.2 are not above 1.0


def test_auc_accepts_keras_spellings_of_its_options_only():
    # Keras 2's AUCSummationMethod.from_str / AUCCurve.from_str
    for spelling, method in (("Interpolation", "interpolation"), ("Majoring", "majoring"),
                             ("Minoring", "minoring")):
        assert M.AUC(summation_method=spelling).summation_method == method
    assert M.AUC(curve="pr").curve == "PR" and M.AUC(curve="roc").curve == "ROC"
    for curve in ("Pr", "Roc"):
        with pytest.raises(ValueError, match=f"invalid curve '{curve}'"):
            M.AUC(curve=curve)
    with pytest.raises(ValueError, match="summation_method 'MAJORING'"):
        M.AUC(summation_method="MAJORING")


def test_merge_state_adds_the_other_metrics_accumulators():
    # Keras 2's Metric.merge_state: the sum of the states, as one metric over all batches
    rng = np.random.default_rng(1)
    labels = (rng.random(40) < 0.4).astype(np.float32)
    scores = rng.random(40).astype(np.float32)
    for make in (lambda: M.AUC(num_thresholds=20), lambda: M.AUC(curve="PR"),
                 lambda: M.Precision(thresholds=[0.3, 0.6]), lambda: M.FalseNegatives(),
                 lambda: M.Mean()):
        whole, parts = make(), [make() for _ in range(3)]
        args = (lambda s: (scores[s],)) if isinstance(whole, M.Mean) else \
            (lambda s: (labels[s], scores[s]))
        whole.update_state(*args(slice(None)))
        for part, s in zip(parts, (slice(0, 10), slice(10, 25), slice(25, 40))):
            part.update_state(*args(s))
        parts[0].merge_state(parts[1:])
        np.testing.assert_allclose(parts[0].result(), whole.result(), rtol=1e-5)
    # Keras' example: Accuracy of 1/2 and 2/2 merges to 0.75
    m1, m2 = M.Accuracy(), M.Accuracy()
    m1.update_state([[1], [2]], [[0], [2]])
    m2.update_state([[3], [4]], [[3], [4]])
    m2.merge_state([m1])
    assert float(m2.result()) == 0.75


def test_merge_state_refuses_an_incompatible_metric_before_changing_anything():
    auc, other = M.AUC(num_thresholds=5), M.AUC(num_thresholds=7)
    auc.update_state([0, 1], [0.2, 0.9])
    before = state(auc)
    compatible = M.AUC(num_thresholds=5)
    compatible.update_state([1], [0.4])
    with pytest.raises(ValueError, match="merge_state.*not compatible"):
        auc.merge_state([compatible, other])
    for got, want in zip(state(auc), before):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="merge_state.*not compatible"):
        auc.merge_state([M.Precision()])


def test_class_id_past_the_last_column_is_refused_not_clamped():
    # TF's slice y[..., 5] of 3 columns fails; JAX would quietly read column 2 instead
    labels = np.eye(3)[[0, 1, 2, 1]]
    scores = np.random.default_rng(2).random((4, 3)).astype(np.float32)
    for metric in (M.Precision(class_id=5), M.Recall(class_id=3)):
        with pytest.raises(ValueError, match=r"class_id \d is out of range for predictions "
                                             r"of shape \(4, 3\)"):
            metric.update_state(labels, scores)
        np.testing.assert_array_equal(metric.true_positives.numpy(), [0.0])
    last = M.Recall(class_id=2)
    last.update_state(labels, scores)
    expected = np.sum((scores[:, 2] > 0.5) & (labels[:, 2] == 1)) / np.sum(labels[:, 2])
    np.testing.assert_allclose(last.result(), expected)


@pytest.mark.two_devices
def test_bucketed_counts_in_a_mirrored_multi_step_evaluate_match_numpy():
    # the bucketed path inside one compiled multi-step program, replicas' counts summed
    rng = np.random.default_rng(3)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x[:, 0] + 0.3 * rng.normal(size=64) > 0).astype(np.float32)
    w = rng.random(64).astype(np.float32)
    with xf.distribute.MirroredStrategy().scope():
        model = keras.Sequential([keras.layers.Dense(1, activation="sigmoid",
                                                     input_shape=(3,))])
        model.compile("sgd", "binary_crossentropy", steps_per_execution=3,
                      weighted_metrics=[M.AUC(num_thresholds=11, name="auc"),
                                        M.TrueNegatives([0.0, 0.5, 1.0], name="tn"),
                                        M.Recall([0.0, 0.25, 0.5, 0.75, 1.0], name="r")])
    logs = model.evaluate(x, y, sample_weight=w, batch_size=8, verbose=0, return_dict=True)
    scores = model.predict(x, verbose=0)[:, 0]
    counts = keras_counts(y, scores, auc_grid(11), w)
    np.testing.assert_allclose(logs["auc"], keras_roc_auc(*counts), rtol=1e-5)
    np.testing.assert_allclose(logs["tn"], keras_counts(y, scores, [0, 0.5, 1], w)[2],
                               rtol=1e-5)
    tp, _, _, fn = keras_counts(y, scores, [0, 0.25, 0.5, 0.75, 1], w)
    np.testing.assert_allclose(logs["r"], div_no_nan(tp, tp + fn), rtol=1e-5)


@pytest.mark.parametrize("metric", [M.Precision, M.Recall, M.TruePositives, M.AUC])
def test_label_shape_unlike_the_scores_is_refused_not_broadcast(metric):
    # sparse labels against softmax scores: Keras 2 checks the shapes are compatible and
    # raises; broadcasting (3,) over (3, 3) would pair each label with a column instead
    labels, scores = np.array([0, 2, 1]), np.eye(3, dtype=np.float32)[[0, 2, 1]]
    m = metric()
    with pytest.raises(ValueError, match=r"received \(3,\) and \(3, 3\)"):
        m.update_state(labels, scores)
    assert all(not np.any(v.numpy()) for v in m.variables)
    # one-hot labels of the same shape are fine, as is a (n, 1) column against (n,)
    np.testing.assert_allclose(metric()(np.eye(3)[[0, 2, 1]], scores),
                               metric()(np.eye(3)[[0, 2, 1]].ravel(), scores.ravel()))
    np.testing.assert_allclose(metric()(labels[:, None] == 2, scores[:, 2]),
                               metric()(labels == 2, scores[:, 2]))


def keras_pr_interpolated(tp, fp, tn, fn):
    """Keras 2's interpolate_pr_auc in float64: precision interpolated along tp between
    thresholds, integrated in closed form over recall (Davis & Goadrich)."""
    dtp, positives = tp[:-1] - tp[1:], tp + fp
    slope = div_no_nan(dtp, np.maximum(positives[:-1] - positives[1:], 0))
    intercept = tp[1:] - slope * positives[1:]
    both = (positives[:-1] > 0) & (positives[1:] > 0)
    log_ratio = np.log(np.where(both, positives[:-1] / np.where(both, positives[1:], 1), 1))
    return np.sum(div_no_nan(slope * (dtp + intercept * log_ratio), tp[1:] + fn[1:]))


@pytest.mark.parametrize("weight_shape", [(-1,), (-1, 1)])
def test_weighted_auc_summations_against_numpy(weight_shape):
    rng = np.random.default_rng(4)
    labels = (rng.random(30) < 0.4).astype(np.float32)
    scores = np.round(rng.random(30), 1).astype(np.float32)  # many ties, some on the grid
    weights = rng.random(30).astype(np.float32)
    counts = keras_counts(labels, scores, auc_grid(6), weights)
    tp, fp, tn, fn = counts
    recall, precision = div_no_nan(tp, tp + fn), div_no_nan(tp, tp + fp)
    fpr = div_no_nan(fp, fp + tn)
    expected = {
        ("PR", "interpolation"): keras_pr_interpolated(*counts),
        ("PR", "minoring"): np.sum((recall[:-1] - recall[1:])
                                   * np.minimum(precision[:-1], precision[1:])),
        ("PR", "majoring"): np.sum((recall[:-1] - recall[1:])
                                   * np.maximum(precision[:-1], precision[1:])),
        ("ROC", "interpolation"): keras_roc_auc(*counts),
        ("ROC", "minoring"): np.sum((fpr[:-1] - fpr[1:]) * np.minimum(recall[:-1], recall[1:])),
        ("ROC", "majoring"): np.sum((fpr[:-1] - fpr[1:]) * np.maximum(recall[:-1], recall[1:])),
    }
    for (curve, method), area in expected.items():
        auc = M.AUC(num_thresholds=6, curve=curve, summation_method=method)
        auc.update_state(labels[:, None], scores[:, None], weights.reshape(weight_shape))
        np.testing.assert_allclose(auc.result(), area, rtol=1e-5, err_msg=f"{curve} {method}")
