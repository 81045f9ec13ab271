"""The seventh round of whole TF2 programs, continued (see test_tf2_ports_seventh.py): TF's
"Overfit and underfit" tutorial on a gzip'd CSV, with its InverseTimeDecay schedule, model
sizes, L2 and Dropout, with only the imports changed.

It asserts outcomes known without xlaflow: the schedule's closed form, validation losses
recomputed in NumPy from the trained weights, the L2 penalty from the kernels.
"""

import gzip
import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers, regularizers


@pytest.fixture(autouse=True)
def _seeded():
    # xlaflow's, NumPy's and Python's streams (fit shuffles with NumPy's): a run does not
    # depend on the tests before it in the worker; XF_PORT_SEED chooses another seed
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _write_higgs_like(path, n, features, rng):
    # HIGGS's layout: gzip'd CSV, no header, the 0/1 label first, then the features
    x = rng.normal(size=(n, features))
    score = x[:, 0] * x[:, 1] + np.sin(2 * x[:, 2]) + 0.5 * x[:, 3] ** 2 - 0.5
    y = (score + 0.5 * rng.normal(size=n) > 0).astype(np.float64)
    with gzip.open(path, "wt") as f:
        f.writelines(f"{label:.18e}," + ",".join(f"{v:.18e}" for v in row) + "\n"
                     for label, row in zip(y, x))
    return x.astype(np.float32), y.astype(np.float32)


def _bce_from_logits(y, logits):
    return np.mean(np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits))))


def test_overfit_and_underfit_inverse_time_decay_l2_and_dropout_histories(tmp_path):
    FEATURES = 8
    gz = str(tmp_path / "HIGGS.csv.gz")
    all_x, all_y = _write_higgs_like(gz, 1400, FEATURES, np.random.default_rng(3))
    ds = tf.data.experimental.CsvDataset(gz, [float(), ] * (FEATURES + 1),  # noqa: UP018
                                         compression_type="GZIP")

    def pack_row(*row):
        label = row[0]
        features = tf.stack(row[1:], 1)
        return features, label

    packed_ds = ds.batch(10000).map(pack_row).unbatch()
    N_VALIDATION, N_TRAIN, BUFFER_SIZE, BATCH_SIZE = 200, 1000, 1000, 100
    STEPS_PER_EPOCH = N_TRAIN // BATCH_SIZE
    validate_ds = packed_ds.take(N_VALIDATION).cache()
    train_ds = packed_ds.skip(N_VALIDATION).take(N_TRAIN).cache()
    first_features, first_label = next(iter(train_ds))
    np.testing.assert_array_equal(first_features, all_x[N_VALIDATION])
    assert float(first_label) == all_y[N_VALIDATION]
    validate_ds = validate_ds.batch(BATCH_SIZE)
    train_ds = train_ds.shuffle(BUFFER_SIZE).repeat().batch(BATCH_SIZE)

    lr_schedule = tf.keras.optimizers.schedules.InverseTimeDecay(
        0.01, decay_steps=STEPS_PER_EPOCH * 10, decay_rate=1, staircase=False)
    step = np.linspace(0, 1000)
    lr = lr_schedule(step)
    np.testing.assert_allclose(lr, 0.01 / (1 + step / (STEPS_PER_EPOCH * 10)), rtol=1e-6)
    stairs = tf.keras.optimizers.schedules.InverseTimeDecay(0.5, 10, 2.0, staircase=True)
    np.testing.assert_allclose([float(stairs(s)) for s in (0, 9, 10, 25)],
                               [0.5, 0.5, 0.5 / 3, 0.5 / 5], rtol=1e-6)

    def get_optimizer():
        return tf.keras.optimizers.Adam(lr_schedule)

    def get_callbacks(name):
        return [
            tf.keras.callbacks.EarlyStopping(monitor="val_binary_crossentropy", patience=200),
            tf.keras.callbacks.TensorBoard(str(tmp_path / "sizes" / name)),
        ]

    # 10 epochs of 10 steps (the tutorial: up to 10,000, stopped by EarlyStopping): enough
    # for its outcomes, checked below with margins (seeds 0-3): the large model's validation
    # accuracy 0.785-0.855 (bound 0.7), its training loss 0.32-0.43 against the tiny one's
    # 0.60-0.62, dropout's training loss 0.55-0.57 over its inference loss's 0.48-0.50
    def compile_and_fit(model, name, optimizer=None, max_epochs=10):
        if optimizer is None:
            optimizer = get_optimizer()
        model.compile(optimizer=optimizer,
                      loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=[tf.keras.metrics.BinaryCrossentropy(
                          from_logits=True, name="binary_crossentropy"), "accuracy"])
        history = model.fit(train_ds, steps_per_epoch=STEPS_PER_EPOCH, epochs=max_epochs,
                            validation_data=validate_ds, callbacks=get_callbacks(name),
                            verbose=0)
        return history

    size_histories = {}
    tf.random.set_seed(0)
    tiny_model = tf.keras.Sequential([
        layers.Dense(16, activation="elu", input_shape=(FEATURES,)),
        layers.Dense(1)
    ])
    size_histories["Tiny"] = compile_and_fit(tiny_model, "sizes/Tiny")
    tf.random.set_seed(0)
    large_model = tf.keras.Sequential([
        layers.Dense(128, activation="elu", input_shape=(FEATURES,)),
        layers.Dense(128, activation="elu"),
        layers.Dense(128, activation="elu"),
        layers.Dense(1)
    ])
    size_histories["large"] = compile_and_fit(large_model, "sizes/large")

    val_x, val_y = all_x[:N_VALIDATION], all_y[:N_VALIDATION]
    for name, model in (("Tiny", tiny_model), ("large", large_model)):
        history = size_histories[name].history
        assert set(history) == {"loss", "binary_crossentropy", "accuracy", "val_loss",
                                "val_binary_crossentropy", "val_accuracy"}
        assert len(history["loss"]) == 10  # patience=200 never stops these
        # the last epoch's validation numbers are the final weights' (no restore_best)
        # in the validation set's batches of 100: one compiled shape (predict's 32 leave 8)
        logits = model.predict(val_x, batch_size=BATCH_SIZE, verbose=0)[:, 0]
        assert history["val_binary_crossentropy"][-1] == pytest.approx(
            _bce_from_logits(val_y, logits), rel=1e-4)
        # Keras 2's "accuracy" here is binary_accuracy, threshold 0.5 on what the model
        # outputs, logits here (as in TF: from_logits on the loss does not change it)
        assert history["val_accuracy"][-1] == pytest.approx(np.mean((logits > 0.5) == val_y))
        assert history["binary_crossentropy"][-1] < history["binary_crossentropy"][0]
        assert os.listdir(tmp_path / "sizes" / "sizes" / name / "train")
    # capacity: the large model fits the training set closer than the tiny one
    assert (size_histories["large"].history["binary_crossentropy"][-1]
            < size_histories["Tiny"].history["binary_crossentropy"][-1])
    # and it has learned the rule (chance is 0.5, the best possible about 0.85)
    assert size_histories["large"].history["val_accuracy"][-1] > 0.7

    tf.random.set_seed(0)
    l2_model = tf.keras.Sequential([
        layers.Dense(128, activation="elu", kernel_regularizer=regularizers.l2(0.001),
                     input_shape=(FEATURES,)),
        layers.Dense(128, activation="elu", kernel_regularizer=regularizers.l2(0.001)),
        layers.Dense(128, activation="elu", kernel_regularizer=regularizers.l2(0.001)),
        layers.Dense(1)
    ])
    regularizer_histories = {"l2": compile_and_fit(l2_model, "regularizers/l2")}
    kernels = [w for w in l2_model.get_weights() if w.ndim == 2][:3]
    penalty = sum(0.001 * np.sum(np.square(k.astype(np.float64))) for k in kernels)
    assert len(l2_model.losses) == 3
    assert float(tf.add_n(l2_model.losses)) == pytest.approx(penalty, rel=1e-5)
    # the compiled loss is the data loss plus the penalty; the metric is the data loss alone
    loss, bce, _ = l2_model.evaluate(validate_ds, verbose=0)
    assert loss - bce == pytest.approx(penalty, rel=1e-3)
    large_kernels = [w for w in large_model.get_weights() if w.ndim == 2][:3]
    assert sum(np.sum(k ** 2) for k in kernels) < sum(np.sum(k ** 2) for k in large_kernels)

    tf.random.set_seed(0)
    dropout_model = tf.keras.Sequential([
        layers.Dense(128, activation="elu", input_shape=(FEATURES,)),
        layers.Dropout(0.5),
        layers.Dense(128, activation="elu"),
        layers.Dropout(0.5),
        layers.Dense(1)
    ])
    regularizer_histories["dropout"] = compile_and_fit(dropout_model, "regularizers/dropout")
    history = regularizer_histories["dropout"].history
    assert history["binary_crossentropy"][-1] < history["binary_crossentropy"][0]
    inference = np.asarray(dropout_model(val_x, training=False))
    np.testing.assert_array_equal(inference, np.asarray(dropout_model(val_x, training=False)))
    assert not np.allclose(np.asarray(dropout_model(val_x, training=True)), inference)
    # fit's loss averages dropped-out training passes: above the same weights' inference loss
    assert history["binary_crossentropy"][-1] > _bce_from_logits(
        all_y[N_VALIDATION:], np.asarray(dropout_model(all_x[N_VALIDATION:]))[:, 0])
