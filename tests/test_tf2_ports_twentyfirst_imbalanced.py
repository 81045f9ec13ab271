"""The twenty-first round of whole TF2 programs (see test_tf2_ports.py), second part: TF's
tutorial "Classification on imbalanced data" (TF 2.12 era) as written, on a synthetic
credit-card-like table (20,000 rows, 0.5% positives, Time, V1..V28, Amount, Class) whose
positives are shifted so that they can be learned. Only the imports change, except where
a line says why: pandas and sklearn are not dependencies, so their lines are done in
NumPy; the loss and metric plots run only where matplotlib is installed, and the seaborn
jointplot and heatmap are left out (neither is a dependency; plot_cm's confusion matrix and
prints are NumPy); the epochs are fewer, for the test suite.

Oracles: NumPy on the model's own predictions (the confusion counts, precision, recall,
accuracy, cross-entropy and Brier score that evaluate reports), the closed-form binary
entropy of the base rate (the tutorial's "initial loss" check), NumPy's weighted BCE
(class_weight), a binomial tolerance (oversampled batches), and the Bayes-optimal AUC
of the synthetic data, Phi(|shift| / sqrt(2)), as a bound the model must approach.
"""

import math
import os

import numpy as np
import pytest

from tests.imbalanced_tutorial import (
    BATCH_SIZE,
    EPOCHS,
    METRICS_NAMES,
    PLOTS,
    SHIFT,
    _check_against_numpy,
    _early_stopping,
    _exact_auc,
    _initial_weights,
    _make_model_fn,
    _numpy_confusion_matrix,
    _prepared,
    plot_loss,
    plot_metrics,
)
from xlaflow import keras


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


@pytest.fixture(scope="module")
def data():
    return _prepared()


def test_data_processing_in_numpy(data):
    assert data['total'] == 20_000 and data['pos'] + data['neg'] == 20_000
    assert 60 <= data['pos'] <= 140  # 0.5% of 20,000, within binomial noise
    assert len(data['columns']) == 29 and data['columns'][-1] == 'Log Amount'
    assert data['train_features'].shape == (12_800, 29)
    assert data['val_features'].shape == (3_200, 29)
    assert data['test_features'].shape == (4_000, 29)
    # the scaler's training columns: mean 0, standard deviation 1 before the clip
    assert np.abs(data['train_features']).max() <= 5
    np.testing.assert_allclose(data['train_features'].mean(axis=0), 0, atol=0.03)


def test_metrics_initial_bias_and_checkpoint(data, tmp_path, capsys):
    train_features, train_labels = data['train_features'], data['train_labels']
    pos, neg = data['pos'], data['neg']
    make_model = _make_model_fn(train_features)

    model = make_model()
    model.summary()

    model.predict(train_features[:10])

    results = model.evaluate(train_features, train_labels, batch_size=BATCH_SIZE, verbose=0)
    print(f"Loss: {results[0]:0.4f}")
    zero_bias_loss = results[0]
    assert model.metrics_names == METRICS_NAMES

    initial_bias = np.log([pos/neg])
    print(initial_bias)

    model = make_model(output_bias=initial_bias)
    predictions = model.predict(train_features[:10])
    print(predictions)

    results = model.evaluate(train_features, train_labels, batch_size=BATCH_SIZE, verbose=0)
    print(f"Loss: {results[0]:0.4f}")
    # the tutorial's check: with the careful bias, the loss starts near the binary
    # entropy of the base rate, -p0 log p0 - (1 - p0) log(1 - p0) (about 0.03 here)
    p0 = train_labels.mean()
    entropy = -p0 * np.log(p0) - (1 - p0) * np.log(1 - p0)
    assert abs(results[0] - entropy) < 0.5 * entropy
    assert results[0] < zero_bias_loss / 5  # the zero bias starts near log(2)
    np.testing.assert_allclose(model.layers[-1].bias.numpy(), initial_bias, rtol=1e-6)

    # every compiled metric against NumPy on the model's own predictions
    by_name = model.evaluate(train_features, train_labels, batch_size=BATCH_SIZE, verbose=0,
                             return_dict=True)
    assert list(by_name) == METRICS_NAMES
    all_predictions = model.predict(train_features, batch_size=BATCH_SIZE)
    _check_against_numpy(by_name, train_labels, all_predictions)

    # the tutorial's tempfile.mkdtemp(), in the test's own directory
    initial_weights = os.path.join(str(tmp_path), 'initial_weights')
    model.save_weights(initial_weights)

    model = make_model()
    model.load_weights(initial_weights)
    np.testing.assert_allclose(model.predict(train_features[:10]), predictions, rtol=1e-6)
    model.layers[-1].bias.assign([0.0])
    assert model.layers[-1].bias.numpy().tolist() == [0.0]


def test_zero_and_careful_bias_then_baseline_with_early_stopping(data, tmp_path):
    train_features, train_labels = data['train_features'], data['train_labels']
    val_features, val_labels = data['val_features'], data['val_labels']
    test_features, test_labels = data['test_features'], data['test_labels']
    make_model = _make_model_fn(train_features)
    initial_weights = _initial_weights(make_model, data, tmp_path)

    model = make_model()
    model.load_weights(initial_weights)
    model.layers[-1].bias.assign([0.0])
    zero_bias_history = model.fit(
        train_features,
        train_labels,
        batch_size=BATCH_SIZE,
        epochs=4,  # the tutorial's 20
        validation_data=(val_features, val_labels),
        verbose=0)

    model = make_model()
    model.load_weights(initial_weights)
    careful_bias_history = model.fit(
        train_features,
        train_labels,
        batch_size=BATCH_SIZE,
        epochs=4,  # the tutorial's 20
        validation_data=(val_features, val_labels),
        verbose=0)
    # the tutorial's plot_loss reads these; the careful bias starts far lower
    for history in (zero_bias_history, careful_bias_history):
        assert history.epoch == [0, 1, 2, 3]
        assert set(history.history) == set(METRICS_NAMES) | {
            'val_' + name for name in METRICS_NAMES}
    if PLOTS:  # matplotlib and seaborn are not dependencies: plotted only where installed
        import matplotlib.pyplot as plt
        plot_loss(zero_bias_history, "Zero Bias", 0)
        plot_loss(careful_bias_history, "Careful Bias", 1)
        plt.close('all')
    assert careful_bias_history.history['loss'][0] < zero_bias_history.history['loss'][0] / 3
    assert careful_bias_history.history['val_loss'][-1] < zero_bias_history.history['val_loss'][-1]

    early_stopping = _early_stopping()
    model = make_model()
    model.load_weights(initial_weights)
    baseline_history = model.fit(
        train_features,
        train_labels,
        batch_size=BATCH_SIZE,
        epochs=EPOCHS,
        callbacks=[early_stopping],
        validation_data=(val_features, val_labels),
        verbose=0)
    if PLOTS:
        import matplotlib.pyplot as plt
        plot_metrics(baseline_history)
        plt.close('all')
    val_prc = baseline_history.history['val_prc']
    assert len(val_prc) <= EPOCHS
    # restore_best_weights (Keras 2): the best epoch's weights when training stopped early,
    # else the last epoch's
    expected_prc = max(val_prc) if early_stopping.stopped_epoch else val_prc[-1]
    now = model.evaluate(val_features, val_labels, batch_size=BATCH_SIZE, verbose=0,
                         return_dict=True)
    np.testing.assert_allclose(now['prc'], expected_prc, rtol=1e-5)

    train_predictions_baseline = model.predict(train_features, batch_size=BATCH_SIZE)
    test_predictions_baseline = model.predict(test_features, batch_size=BATCH_SIZE)
    assert train_predictions_baseline.shape == (len(train_labels), 1)

    baseline_results = model.evaluate(test_features, test_labels,
                                      batch_size=BATCH_SIZE, verbose=0)
    for name, value in zip(model.metrics_names, baseline_results):
        print(name, ': ', value)
    print()
    results = dict(zip(model.metrics_names, baseline_results))
    _check_against_numpy(results, test_labels, test_predictions_baseline)

    # plot_cm's confusion_matrix and prints, in NumPy
    cm = _numpy_confusion_matrix(test_labels, test_predictions_baseline[:, 0] > 0.5)
    print('Legitimate Transactions Detected (True Negatives): ', cm[0][0])
    print('Legitimate Transactions Incorrectly Detected (False Positives): ', cm[0][1])
    print('Fraudulent Transactions Missed (False Negatives): ', cm[1][0])
    print('Fraudulent Transactions Detected (True Positives): ', cm[1][1])
    print('Total Fraudulent Transactions: ', np.sum(cm[1]))
    assert [[results['tn'], results['fp']], [results['fn'], results['tp']]] == cm.tolist()

    # the model ranks fraud well: near the Bayes-optimal AUC of the synthetic data
    bayes_auc = 0.5 * (1 + math.erf(np.linalg.norm(SHIFT) / 2))  # Phi(|shift| / sqrt(2))
    exact = _exact_auc(test_labels, test_predictions_baseline[:, 0])
    assert 0.95 < exact <= bayes_auc + 0.03
    # Keras' AUC counts at 200 thresholds, coarse where most scores crowd near 0
    assert abs(results['auc'] - exact) < 0.05
    assert 0 < results['prc'] <= 1


