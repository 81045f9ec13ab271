"""The shared parts of TF's "Classification on imbalanced data" port
(test_tf2_ports_twentyfirst_imbalanced.py and _b.py): the synthetic credit-card table and
the tutorial's data section, its make_model, plots and dataset helpers as written, and the
NumPy oracles of the compiled metrics."""

import importlib.util
import math
import os

import numpy as np

import xlaflow as tf
from xlaflow import keras

# matplotlib is not a dependency: the tutorial's plots run only where it is installed
PLOTS = importlib.util.find_spec("matplotlib") is not None
SHIFT = np.array([2.0, -1.8, 1.6, 1.4, -1.2, 1.0] + [0.0] * 22)  # the positives' mean in V1..V28

EPOCHS = 30  # the tutorial's 100, fewer for the test suite
BATCH_SIZE = 2048


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


def _keras_auc(labels, predictions, curve, num_thresholds=200):
    """Keras 2's AUC from NumPy: counts on its evenly spaced grid (a score clipped to
    [0, 1] is above thresholds 0 .. max(ceil(p (n - 1)) - 1, 0), in float32), then the
    trapezoid over (fpr, tpr) for ROC, or Keras' interpolated precision for PR."""
    n = num_thresholds
    p = np.clip(np.asarray(predictions, np.float32).reshape(-1), 0, 1)
    bucket = np.maximum(np.ceil(p * np.float32(n - 1)) - 1, 0)
    above = (bucket[None, :] >= np.arange(n)[:, None]).astype(np.float64)
    y = np.asarray(labels).reshape(-1) != 0
    tp, fp = above @ y, above @ ~y
    fn, tn = y.sum() - tp, (~y).sum() - fp

    def ratio(a, b):
        return np.where(b > 0, a / np.where(b > 0, b, 1), 0.0)

    if curve == 'ROC':
        tpr, fpr = ratio(tp, tp + fn), ratio(fp, fp + tn)
        return np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2)
    dtp, positives = tp[:-1] - tp[1:], tp + fp
    slope = ratio(dtp, np.maximum(positives[:-1] - positives[1:], 0))
    intercept = tp[1:] - slope * positives[1:]
    both = (positives[:-1] > 0) & (positives[1:] > 0)
    log_ratio = np.log(np.where(both, positives[:-1] / np.where(both, positives[1:], 1), 1))
    return np.sum(ratio(slope * (dtp + intercept * log_ratio), tp[1:] + fn[1:]))


def _check_against_numpy(results, labels, predictions, rtol=2e-4):
    expected = _numpy_metrics(labels, predictions)
    for name in ('tp', 'fp', 'tn', 'fn'):
        assert results[name] == expected[name], name  # counts: exact
    for name in ('loss', 'cross entropy', 'Brier score', 'accuracy', 'precision', 'recall'):
        np.testing.assert_allclose(results[name], expected[name], rtol=rtol, atol=1e-6,
                                   err_msg=name)
    # the two AUCs on Keras' 200-threshold grid (closer than the exact-AUC bound checks)
    for name, curve in (('auc', 'ROC'), ('prc', 'PR')):
        np.testing.assert_allclose(results[name], _keras_auc(labels, predictions, curve),
                                   rtol=rtol, atol=1e-6, err_msg=name)


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


def _make_ds(features, labels, BUFFER_SIZE=100000):
    ds = tf.data.Dataset.from_tensor_slices((features, labels))  # .cache()
    ds = ds.shuffle(BUFFER_SIZE).repeat()
    return ds


