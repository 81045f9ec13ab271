"""keras.metrics.FBetaScore / F1Score (Keras 2.13) against scikit-learn's fbeta_score on
labels binarized in NumPy, over several batches, with sample weights and inside fit."""

import csv

import numpy as np
import pytest

from xlaflow import keras

# scikit-learn comes with the `datasets` extra: an oracle written by others
fbeta_score = pytest.importorskip("sklearn.metrics").fbeta_score

RNG = np.random.default_rng(3)
Y_TRUE = (RNG.uniform(size=(20, 4)) < 0.4).astype(np.float32)
Y_PRED = RNG.uniform(size=(20, 4)).astype(np.float32)
Y_PRED[5] = 0.0  # an all-zero row predicts nothing when threshold is None
WEIGHT = RNG.uniform(0.1, 2.0, size=20).astype(np.float32)


def oracle(average, beta, threshold, weight=None):
    if threshold is None:
        predicted = (Y_PRED >= Y_PRED.max(1, keepdims=True)) & (np.abs(Y_PRED) > 1e-9)
    else:
        predicted = Y_PRED > threshold
    return fbeta_score(Y_TRUE.astype(int), predicted.astype(int), beta=beta,
                       average=average, sample_weight=weight, zero_division=0)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("beta, threshold", [(1.0, None), (0.5, 0.5), (2.0, 0.3)])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_sklearn_over_batches(average, beta, threshold, weighted):
    metric = keras.metrics.FBetaScore(average=average, beta=beta, threshold=threshold)
    for rows in (slice(0, 7), slice(7, 20)):  # counts accumulate across batches
        metric.update_state(Y_TRUE[rows], Y_PRED[rows],
                            WEIGHT[rows] if weighted else None)
    expect = oracle(average, beta, threshold, WEIGHT if weighted else None)
    np.testing.assert_allclose(metric.result(), expect, rtol=1e-5, atol=1e-7)
    metric.reset_state()
    metric.update_state(Y_TRUE[:7], Y_PRED[:7])
    assert np.shape(metric.result()) == (() if average else (4,))


def test_f1_score_is_beta_one_and_its_config_has_no_beta():
    metric = keras.metrics.F1Score(average="macro", threshold=0.5)
    metric.update_state(Y_TRUE, Y_PRED)
    np.testing.assert_allclose(metric.result(), oracle("macro", 1.0, 0.5), rtol=1e-6)
    assert metric.name == "f1_score"
    assert metric.get_config() == {"name": "f1_score", "dtype": "float32",
                                   "average": "macro", "threshold": 0.5}


def test_in_fit_logs_the_epoch_score():
    x = RNG.normal(size=(32, 3)).astype(np.float32)
    y = (x @ RNG.normal(size=(3, 2)) > 0).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, "sigmoid")])
    model.compile("sgd", "binary_crossentropy",
                  metrics=[keras.metrics.F1Score(average="micro", threshold=0.5)])
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    predicted = (model.predict(x, verbose=0) > 0.5).astype(int)
    expect = fbeta_score(y.astype(int), predicted, beta=1.0, average="micro",
                         zero_division=0)
    np.testing.assert_allclose(logs["f1_score"], expect, rtol=1e-5)



def test_per_class_scores_in_fit_evaluate_and_a_checkpoint(tmp_path, capsys):
    # F1Score()'s default average=None logs one score per class: Keras 2.13 keeps the
    # array in History and evaluate, and its progress bar shows the array's mean
    x = RNG.normal(size=(32, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 32)]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, "softmax")])
    model.compile(keras.optimizers.SGD(0.0), "categorical_crossentropy",
                  metrics=[keras.metrics.F1Score()])  # a rate of 0: fixed predictions
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "w{epoch}.weights.h5"), save_weights_only=True)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=2, callbacks=[checkpoint])
    scores = model.predict(x, verbose=0)
    expect = fbeta_score(y.argmax(1), scores.argmax(1), beta=1.0, average=None,
                         labels=[0, 1, 2], zero_division=0)
    np.testing.assert_allclose(history.history["f1_score"][0], expect, rtol=1e-5)
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["f1_score"], expect, rtol=1e-5)
    assert f"f1_score: {np.mean(expect):.4f}" in capsys.readouterr().out
    assert (tmp_path / "w1.weights.h5").exists()


def test_per_class_scores_in_a_csv_log(tmp_path):
    # Keras 2's CSVLogger writes an iterable value as the text "[a, b, c]", quotes included
    x = RNG.normal(size=(16, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 16)]
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, "softmax")])
    model.compile("sgd", "categorical_crossentropy", metrics=[keras.metrics.F1Score()])
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.CSVLogger(path)])
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row, scores in zip(rows, history.history["f1_score"]):
        assert row["f1_score"] == '"[' + ", ".join(map(str, scores)) + ']"'
        assert float(row["loss"]) > 0

@pytest.mark.parametrize("kwargs, error, message", [
    ({"average": "mean"}, ValueError, "average must be one of"),
    ({"beta": 0.0}, ValueError, "beta must be a float > 0; received 0.0"),
    ({"beta": "1"}, TypeError, "beta must be a float > 0; received '1'"),
    ({"threshold": 1.5}, ValueError, r"threshold must be None or a float in \(0, 1\]"),
    ({"threshold": 0}, ValueError, r"threshold must be None or a float in \(0, 1\]"),
])
def test_bad_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        keras.metrics.FBetaScore(**kwargs)


def test_inputs_must_be_2d_and_keep_their_class_count():
    metric = keras.metrics.F1Score()
    with pytest.raises(ValueError, match=r"2-D shape .* received \(20,\)"):
        metric.update_state(Y_TRUE[:, 0], Y_PRED[:, 0])
    metric.update_state(Y_TRUE, Y_PRED)
    with pytest.raises(ValueError, match="built for 4 classes"):
        metric.update_state(Y_TRUE[:, :3], Y_PRED[:, :3])
