"""keras.metrics.MeanIoU / OneHotMeanIoU against the numbers in TF's docstrings and a
confusion matrix counted in NumPy."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


def test_tf_docstring_examples():
    m = keras.metrics.MeanIoU(num_classes=2)
    m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
    assert float(m.result()) == pytest.approx(1 / 3, rel=1e-6)  # TF: 0.33333334
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    assert float(m.result()) == pytest.approx(0.23809525, rel=1e-6)
    one_hot = keras.metrics.OneHotMeanIoU(num_classes=3)
    one_hot.update_state([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]],
                         [[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1],
                          [0.1, 0.4, 0.5]], sample_weight=[0.1, 0.2, 0.3, 0.4])
    # cm [[0, 0, .6], [.3, 0, 0], [0, 0, .1]]: (0 + 0 + .1 / (.7 + .1 - .1)) / 3
    assert float(one_hot.result()) == pytest.approx(0.048, abs=5e-4)  # TF: 0.048


def _numpy_mean_iou(y_true, y_pred, n, ignore=None):
    keep = np.ones(y_true.shape, bool) if ignore is None else y_true != ignore
    cm = np.zeros((n, n))
    np.add.at(cm, (y_true[keep], y_pred[keep]), 1)
    tp = np.diag(cm)
    denominator = cm.sum(0) + cm.sum(1) - tp
    return np.mean(tp[denominator > 0] / denominator[denominator > 0]), cm


def test_per_pixel_logits_accumulate_across_batches_as_numpy():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, (6, 5, 5))
    logits = rng.normal(size=(6, 5, 5, 4)).astype("float32")
    logits[..., 3] -= 10.0  # class 3 is never predicted: its IoU is 0, still counted
    expected, cm = _numpy_mean_iou(y_true.ravel(), logits.argmax(-1).ravel(), 4)
    m = keras.metrics.MeanIoU(num_classes=4, sparse_y_pred=False)
    update = xf.function(m.update_state)  # compiled, as in fit
    update(y_true[:3], logits[:3])
    update(y_true[3:], logits[3:])
    assert float(m.result()) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_array_equal(m.total_cm.numpy(), cm)


def test_absent_classes_and_ignore_class_are_left_out():
    y_true = np.array([0, 0, 1, 255, 255])
    y_pred = np.array([0, 1, 1, 0, 1])
    m = keras.metrics.MeanIoU(num_classes=3, ignore_class=255)
    m.update_state(y_true, y_pred)
    expected, _ = _numpy_mean_iou(y_true, y_pred, 3, ignore=255)  # class 2: absent
    assert float(m.result()) == pytest.approx(expected, rel=1e-6) == pytest.approx(0.5)
    assert float(keras.metrics.MeanIoU(num_classes=2).result()) == 0.0  # nothing seen


def test_fit_logs_it_and_the_config_round_trips():
    x = np.random.default_rng(1).normal(size=(64, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.MeanIoU(2, sparse_y_pred=False, name="iou")])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    expected, _ = _numpy_mean_iou(y, model.predict(x, verbose=0).argmax(-1), 2)
    assert logs["iou"] == pytest.approx(expected, rel=1e-6)
    config = keras.metrics.serialize(keras.metrics.MeanIoU(5, ignore_class=0, axis=1))
    clone = keras.metrics.deserialize(config)
    assert (clone.num_classes, clone.ignore_class, clone.axis) == (5, 0, 1)
    with pytest.raises(ValueError, match="num_classes must be an int >= 2; received 1"):
        keras.metrics.MeanIoU(num_classes=1)


def test_a_sample_weight_with_one_value_per_label_in_another_shape_is_flattened():
    # Keras 2 flattens labels, predictions and weights alike, so (b, H, W, 1) or flat (N,)
    # weights go with (b, H, W) masks; a per-example (b,) weight spreads over its pixels
    rng = np.random.default_rng(3)
    y_true, y_pred = rng.integers(0, 3, (2, 4, 4)), rng.integers(0, 3, (2, 4, 4))
    weight = rng.random((2, 4, 4))
    cm = np.zeros((3, 3))
    np.add.at(cm, (y_true.ravel(), y_pred.ravel()), weight.ravel())
    tp = np.diag(cm)
    expected = np.mean(tp / (cm.sum(0) + cm.sum(1) - tp))
    for shaped in (weight[..., None], weight.reshape(-1), weight.reshape(4, 8)):
        m = keras.metrics.MeanIoU(num_classes=3)
        m.update_state(y_true, y_pred, sample_weight=shaped)
        np.testing.assert_allclose(m.total_cm.numpy(), cm, rtol=1e-6)
        assert float(m.result()) == pytest.approx(expected, rel=1e-6)
    per_example = keras.metrics.MeanIoU(num_classes=3)
    per_example.update_state(y_true, y_pred, sample_weight=[0.5, 2.0])
    cm = np.zeros((3, 3))
    np.add.at(cm, (y_true.ravel(), y_pred.ravel()), np.repeat([0.5, 2.0], 16))
    np.testing.assert_allclose(per_example.total_cm.numpy(), cm, rtol=1e-6)
    with pytest.raises(ValueError, match=r"sample_weight has shape \(3,\)"):
        keras.metrics.MeanIoU(num_classes=3).update_state(y_true, y_pred, [1.0, 2.0, 3.0])


def test_num_classes_may_be_a_numpy_integer():
    # MeanIoU(num_classes=y.max() + 1) passes np.int64, which Keras accepts
    y = np.array([0, 2, 1, 2])
    m = keras.metrics.MeanIoU(num_classes=y.max() + 1)
    assert m.num_classes == 3 and type(m.num_classes) is int
    m.update_state(y, y)
    assert float(m.result()) == 1.0
    with pytest.raises(ValueError, match="num_classes must be an int >= 2; received 2.0"):
        keras.metrics.MeanIoU(num_classes=2.0)
