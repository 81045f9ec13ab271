"""TF's "Classification on imbalanced data", continued (see
test_tf2_ports_twentyfirst_imbalanced.py, whose docstring says what changed and the
oracles): the class-weight and oversampling sections, as written.
"""

import math
import os

import numpy as np
import pytest

import xlaflow as tf
from tests.imbalanced_tutorial import (
    BATCH_SIZE,
    _early_stopping,
    _initial_weights,
    _make_ds,
    _make_model_fn,
    _numpy_metrics,
    _prepared,
)
from xlaflow import keras


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


@pytest.fixture(scope="module")
def data():
    return _prepared()


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
