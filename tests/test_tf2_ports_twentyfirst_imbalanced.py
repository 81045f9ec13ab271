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

import importlib.util
import math
import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras

# matplotlib is not a dependency: the tutorial's plots run only where it is installed
PLOTS = importlib.util.find_spec("matplotlib") is not None
SHIFT = np.array([2.0, -1.8, 1.6, 1.4, -1.2, 1.0] + [0.0] * 22)  # the positives' mean in V1..V28

EPOCHS = 30  # the tutorial's 100, fewer for the test suite
BATCH_SIZE = 2048


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _raw_columns(n=20_000, positive_rate=0.005, seed=0):
    """The Kaggle table's layout, in place of pd.read_csv(<creditcard.csv URL>)."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < positive_rate).astype(np.int64)
    v = rng.standard_normal((n, 28)) + label[:, None] * SHIFT
    amount = np.exp(rng.normal(3.0, 1.5, n)) * np.where(label == 1, 1.5, 1.0)
    amount[rng.random(n) < 0.01] = 0.0  # the real column has zero amounts, hence eps
    names = ["Time"] + [f"V{i}" for i in range(1, 29)] + ["Amount", "Class"]
    values = [np.sort(rng.uniform(0, 172_792, n))] + list(v.T) + [amount, label]
    return dict(zip(names, values))


def _prepared():
    """The tutorial's data section, NumPy for its pandas and sklearn lines."""
    raw_df = _raw_columns()
    # raw_df[[...]].describe(): count, mean, std, min, max of a few columns
    for name in ("Time", "V1", "V2", "V3", "V4", "V5", "V26", "V27", "V28", "Amount", "Class"):
        col = raw_df[name]
        print(f"{name:>6} {col.size} {col.mean():.4f} {col.std(ddof=1):.4f} {col.min():.4f} "
              f"{col.max():.4f}")

    neg, pos = np.bincount(raw_df['Class'])
    total = neg + pos
    print(f'Examples:\n    Total: {total}\n    Positive: {pos} ({100 * pos / total:.2f}% of total)\n')

    cleaned_df = dict(raw_df)  # raw_df.copy()

    # You don't want the `Time` column.
    cleaned_df.pop('Time')

    # The `Amount` column covers a huge range. Convert to log-space.
    eps = 0.001  # 0 => 0.1¢
    cleaned_df['Log Amount'] = np.log(cleaned_df.pop('Amount') + eps)

    # train_test_split(cleaned_df, test_size=0.2), twice: a shuffled split whose test part
    # is ceil(0.2 * n) rows, as sklearn's
    columns = [c for c in cleaned_df if c != 'Class']
    table = np.stack([cleaned_df[c] for c in columns], axis=1)
    labels = np.asarray(cleaned_df['Class'])
    rng = np.random.default_rng(1)

    def train_test_split(n, test_size):
        order = rng.permutation(n)
        n_test = math.ceil(test_size * n)
        return order[n_test:], order[:n_test]

    train_idx, test_idx = train_test_split(len(labels), 0.2)
    fit_idx, val_idx = train_test_split(len(train_idx), 0.2)
    train_idx, val_idx = train_idx[fit_idx], train_idx[val_idx]

    # Form np arrays of labels and features.
    train_labels = labels[train_idx]
    bool_train_labels = train_labels != 0
    val_labels = labels[val_idx]
    test_labels = labels[test_idx]

    train_features = table[train_idx]
    val_features = table[val_idx]
    test_features = table[test_idx]

    # scaler = StandardScaler(); scaler.fit_transform / scaler.transform: the training
    # columns' mean and (population) standard deviation
    mean, scale = train_features.mean(axis=0), train_features.std(axis=0)
    train_features = (train_features - mean) / scale

    val_features = (val_features - mean) / scale
    test_features = (test_features - mean) / scale

    train_features = np.clip(train_features, -5, 5)
    val_features = np.clip(val_features, -5, 5)
    test_features = np.clip(test_features, -5, 5)

    print('Training labels shape:', train_labels.shape)
    print('Validation labels shape:', val_labels.shape)
    print('Test labels shape:', test_labels.shape)

    print('Training features shape:', train_features.shape)
    print('Validation features shape:', val_features.shape)
    print('Test features shape:', test_features.shape)
    return dict(neg=neg, pos=pos, total=total, columns=columns,
                train_features=train_features, train_labels=train_labels,
                bool_train_labels=bool_train_labels, val_features=val_features,
                val_labels=val_labels, test_features=test_features, test_labels=test_labels)


@pytest.fixture(scope="module")
def data():
    return _prepared()


METRICS_NAMES = ['loss', 'cross entropy', 'Brier score', 'tp', 'fp', 'tn', 'fn', 'accuracy',
                 'precision', 'recall', 'auc', 'prc']


def _make_model_fn(train_features):
    METRICS = [
        keras.metrics.BinaryCrossentropy(name='cross entropy'),  # same as model's loss
        keras.metrics.MeanSquaredError(name='Brier score'),
        keras.metrics.TruePositives(name='tp'),
        keras.metrics.FalsePositives(name='fp'),
        keras.metrics.TrueNegatives(name='tn'),
        keras.metrics.FalseNegatives(name='fn'),
        keras.metrics.BinaryAccuracy(name='accuracy'),
        keras.metrics.Precision(name='precision'),
        keras.metrics.Recall(name='recall'),
        keras.metrics.AUC(name='auc'),
        keras.metrics.AUC(name='prc', curve='PR'),  # precision-recall curve
    ]

    def make_model(metrics=METRICS, output_bias=None):
        if output_bias is not None:
            output_bias = tf.keras.initializers.Constant(output_bias)
        model = keras.Sequential([
            keras.layers.Dense(
                16, activation='relu',
                input_shape=(train_features.shape[-1],)),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(1, activation='sigmoid',
                               bias_initializer=output_bias),
        ])

        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=1e-3),
            loss=keras.losses.BinaryCrossentropy(),
            metrics=metrics)

        return model
    return make_model


def _numpy_metrics(labels, predictions, weights=None):
    """What each compiled metric reports, from NumPy: Keras 2's formulas."""
    p = np.asarray(predictions, np.float64).reshape(-1)
    y = np.asarray(labels, np.float64).reshape(-1)
    w = np.ones_like(p) if weights is None else np.asarray(weights, np.float64)
    clipped = np.clip(p, 1e-7, 1 - 1e-7)
    bce = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    hit = p > 0.5
    tp, fp = np.sum(w * (hit & (y == 1))), np.sum(w * (hit & (y == 0)))
    tn, fn = np.sum(w * (~hit & (y == 0))), np.sum(w * (~hit & (y == 1)))
    return {'loss': np.sum(w * bce) / len(p), 'cross entropy': np.sum(w * bce) / np.sum(w),
            'Brier score': np.sum(w * (y - p) ** 2) / np.sum(w), 'tp': tp, 'fp': fp,
            'tn': tn, 'fn': fn, 'accuracy': (tp + tn) / np.sum(w),
            'precision': tp / (tp + fp) if tp + fp else 0.0,
            'recall': tp / (tp + fn) if tp + fn else 0.0}


def _check_against_numpy(results, labels, predictions, rtol=2e-4):
    expected = _numpy_metrics(labels, predictions)
    for name in ('tp', 'fp', 'tn', 'fn'):
        assert results[name] == expected[name], name  # counts: exact
    for name in ('loss', 'cross entropy', 'Brier score', 'accuracy', 'precision', 'recall'):
        np.testing.assert_allclose(results[name], expected[name], rtol=rtol, atol=1e-6,
                                   err_msg=name)


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


def _early_stopping():
    return tf.keras.callbacks.EarlyStopping(
        monitor='val_prc',
        verbose=1,
        patience=10,
        mode='max',
        restore_best_weights=True)


def _initial_weights(make_model, data, directory):
    """The tutorial's careful-bias model, saved as its shared starting point."""
    initial_bias = np.log([data['pos']/data['neg']])
    model = make_model(output_bias=initial_bias)
    initial_weights = os.path.join(str(directory), 'initial_weights')
    model.save_weights(initial_weights)
    return initial_weights


def _numpy_confusion_matrix(labels, predictions):
    """sklearn.metrics.confusion_matrix(labels, predictions): rows true, columns predicted."""
    cm = np.zeros((2, 2), np.int64)
    np.add.at(cm, (np.asarray(labels, np.int64), np.asarray(predictions, np.int64)), 1)
    return cm


def _exact_auc(labels, scores):
    """The area under the exact ROC curve: the chance that a positive outranks a negative
    (ties half), in place of sklearn.metrics.roc_curve plus a trapezoid."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).mean()
    return greater + 0.5 * (pos[:, None] == neg[None, :]).mean()


def plot_loss(history, label, n):
    import matplotlib.pyplot as plt
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    # Use a log scale on y-axis to show the wide range of values.
    plt.semilogy(history.epoch, history.history['loss'],
                 color=colors[n], label='Train ' + label)
    plt.semilogy(history.epoch, history.history['val_loss'],
                 color=colors[n], label='Val ' + label,
                 linestyle="--")
    plt.xlabel('Epoch')
    plt.ylabel('Loss')


def plot_metrics(history):
    import matplotlib.pyplot as plt
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    metrics = ['loss', 'prc', 'precision', 'recall']
    for n, metric in enumerate(metrics):
        name = metric.replace("_", " ").capitalize()
        plt.subplot(2, 2, n+1)
        plt.plot(history.epoch, history.history[metric], color=colors[0], label='Train')
        plt.plot(history.epoch, history.history['val_'+metric],
                 color=colors[0], linestyle="--", label='Val')
        plt.xlabel('Epoch')
        plt.ylabel(name)
        if metric == 'loss':
            plt.ylim([0, plt.ylim()[1]])
        elif metric == 'auc':
            plt.ylim([0.8, 1])
        else:
            plt.ylim([0, 1])

        plt.legend()


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


def test_class_weights(data, tmp_path):
    train_features, train_labels = data['train_features'], data['train_labels']
    val_features, val_labels = data['val_features'], data['val_labels']
    neg, pos, total = data['neg'], data['pos'], data['total']
    make_model = _make_model_fn(train_features)
    initial_weights = _initial_weights(make_model, data, tmp_path)

    # Scaling by total/2 helps keep the loss to a similar magnitude.
    # The sum of the weights of all examples stays the same.
    weight_for_0 = (1 / neg) * (total / 2.0)
    weight_for_1 = (1 / pos) * (total / 2.0)

    class_weight = {0: weight_for_0, 1: weight_for_1}

    print(f'Weight for class 0: {weight_for_0:.2f}')
    print(f'Weight for class 1: {weight_for_1:.2f}')

    weighted_model = make_model()
    weighted_model.load_weights(initial_weights)

    weighted_history = weighted_model.fit(
        train_features,
        train_labels,
        batch_size=BATCH_SIZE,
        epochs=6,  # the tutorial's EPOCHS
        callbacks=[_early_stopping()],
        validation_data=(val_features, val_labels),
        # The class weights go here
        class_weight=class_weight,
        verbose=0)
    assert len(weighted_history.history['prc']) == 6
    # the weights push the model towards the positives: from the same start, its scores on
    # the validation positives rise above those of a plain fit (the tutorial's 100 epochs
    # carry them past 0.5; these few do not)
    plain_model = make_model()
    plain_model.load_weights(initial_weights)
    plain_model.fit(train_features, train_labels, batch_size=BATCH_SIZE, epochs=6,
                    verbose=0)
    positives = val_features[val_labels == 1]
    assert weighted_model.predict(positives).mean() > 2 * plain_model.predict(positives).mean()

    # What fit reports under class_weight, against NumPy on one full batch of a model
    # without dropout (whose predictions are known) and a learning rate of 0: the loss is
    # sum(w * bce) / batch size (Keras 2 does not renormalise by the weights); compile's
    # `metrics` are not weighted (Keras 2 weighs only `weighted_metrics`)
    probe = keras.Sequential([keras.layers.Dense(1, activation='sigmoid',
                                                 input_shape=(train_features.shape[-1],))])
    probe.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0),
                  loss=keras.losses.BinaryCrossentropy(),
                  metrics=[keras.metrics.BinaryCrossentropy(name='cross entropy'),
                           keras.metrics.MeanSquaredError(name='Brier score'),
                           keras.metrics.TruePositives(name='tp'),
                           keras.metrics.FalsePositives(name='fp'),
                           keras.metrics.TrueNegatives(name='tn'),
                           keras.metrics.FalseNegatives(name='fn'),
                           keras.metrics.BinaryAccuracy(name='accuracy'),
                           keras.metrics.Precision(name='precision'),
                           keras.metrics.Recall(name='recall')])
    predictions = probe.predict(train_features, batch_size=BATCH_SIZE)
    logs = probe.fit(train_features, train_labels, batch_size=len(train_labels), epochs=1,
                     class_weight=class_weight, shuffle=False, verbose=0).history
    w = np.where(train_labels == 1, weight_for_1, weight_for_0)
    expected = _numpy_metrics(train_labels, predictions)
    expected['loss'] = _numpy_metrics(train_labels, predictions, w)['loss']
    for name, value in expected.items():
        np.testing.assert_allclose(logs[name][0], value, rtol=2e-4, err_msg=name)


def _make_ds(features, labels, BUFFER_SIZE=100000):
    ds = tf.data.Dataset.from_tensor_slices((features, labels))  # .cache()
    ds = ds.shuffle(BUFFER_SIZE).repeat()
    return ds


def test_oversampling(data, tmp_path):
    train_features, train_labels = data['train_features'], data['train_labels']
    bool_train_labels = data['bool_train_labels']
    val_features, val_labels = data['val_features'], data['val_labels']
    neg = data['neg']
    make_model = _make_model_fn(train_features)
    initial_weights = _initial_weights(make_model, data, tmp_path)

    pos_features = train_features[bool_train_labels]
    neg_features = train_features[~bool_train_labels]

    pos_labels = train_labels[bool_train_labels]
    neg_labels = train_labels[~bool_train_labels]

    # Using NumPy
    ids = np.arange(len(pos_features))
    choices = np.random.choice(ids, len(neg_features))

    res_pos_features = pos_features[choices]
    res_pos_labels = pos_labels[choices]

    print(res_pos_features.shape)

    resampled_features = np.concatenate([res_pos_features, neg_features], axis=0)
    resampled_labels = np.concatenate([res_pos_labels, neg_labels], axis=0)

    order = np.arange(len(resampled_labels))
    np.random.shuffle(order)
    resampled_features = resampled_features[order]
    resampled_labels = resampled_labels[order]

    print(resampled_features.shape)
    assert resampled_labels.mean() == 0.5

    # Using tf.data
    pos_ds = _make_ds(pos_features, pos_labels)
    neg_ds = _make_ds(neg_features, neg_labels)

    for features, label in pos_ds.take(1):
        print("Features:\n", features.numpy())
        print()
        print("Label: ", label.numpy())
        assert label.numpy() == 1
        assert (np.abs(pos_features - features.numpy()).max(axis=1) == 0).any()

    resampled_ds = tf.data.Dataset.sample_from_datasets([pos_ds, neg_ds], weights=[0.5, 0.5])
    resampled_ds = resampled_ds.batch(BATCH_SIZE).prefetch(2)

    # about half of each batch is positive: within 5 standard deviations of a binomial
    tolerance = 5 * math.sqrt(0.25 / BATCH_SIZE)
    for features, label in resampled_ds.take(1):
        print(label.numpy().mean())
        assert features.shape == (BATCH_SIZE, 29)
        assert abs(label.numpy().mean() - 0.5) < tolerance
    # TF 2.6's spelling, which the tutorial once used
    older = tf.data.experimental.sample_from_datasets([pos_ds, neg_ds], weights=[0.5, 0.5])
    labels = np.array([label for _, label in older.take(400).as_numpy_iterator()])
    assert abs(labels.mean() - 0.5) < 5 * math.sqrt(0.25 / 400)

    resampled_steps_per_epoch = np.ceil(2.0*neg/BATCH_SIZE)
    print(resampled_steps_per_epoch)

    resampled_model = make_model()
    resampled_model.load_weights(initial_weights)

    # Reset the bias to zero, since this dataset is balanced.
    output_layer = resampled_model.layers[-1]
    output_layer.bias.assign([0])

    val_ds = tf.data.Dataset.from_tensor_slices((val_features, val_labels)).cache()
    val_ds = val_ds.batch(BATCH_SIZE).prefetch(2)

    resampled_history = resampled_model.fit(
        resampled_ds,
        epochs=2,  # the tutorial's EPOCHS
        steps_per_epoch=resampled_steps_per_epoch,
        callbacks=[_early_stopping()],
        validation_data=val_ds,
        verbose=0)
    history = resampled_history.history
    assert len(history['prc']) == 2 and 'val_prc' in history
    # an epoch is resampled_steps_per_epoch batches of BATCH_SIZE: the counts add up
    seen = sum(history[name][-1] for name in ('tp', 'fp', 'tn', 'fn'))
    assert seen == resampled_steps_per_epoch * BATCH_SIZE
    # and about half of them are positive
    positives = (history['tp'][-1] + history['fn'][-1]) / seen
    assert abs(positives - 0.5) < 5 * math.sqrt(0.25 / seen)
    # the validation counts are the validation set's
    assert history['val_tp'][-1] + history['val_fn'][-1] == val_labels.sum()

    # Re-train, with "epochs" of 20 steps so that early stopping looks more often
    resampled_model = make_model()
    resampled_model.load_weights(initial_weights)
    output_layer = resampled_model.layers[-1]
    output_layer.bias.assign([0])
    resampled_history = resampled_model.fit(
        resampled_ds,
        # These are not real epochs
        steps_per_epoch=4,  # the tutorial's 20
        epochs=3,  # the tutorial's 10*EPOCHS
        callbacks=[_early_stopping()],
        validation_data=(val_ds),
        verbose=0)
    assert resampled_history.epoch == [0, 1, 2]
    assert sum(resampled_history.history[name][-1] for name in ('tp', 'fp', 'tn', 'fn')) \
        == 4 * BATCH_SIZE
