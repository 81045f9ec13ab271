"""Callbacks against Keras' documented behaviour: one-argument LearningRateScheduler
schedules, the rate logged as 'lr' and 'learning_rate', CSVLogger's val_* columns with
validation_freq, batch counting under steps_per_execution, and NaN never becoming `best`."""

import csv
import math
import os
import warnings

import numpy as np
import pytest

from tests.test_summary import read_events
from xlaflow.keras import callbacks, layers, models, optimizers

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 3)).astype(np.float32)
Y = (X @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]


def model(**compile_options):
    net = models.Sequential([layers.Dense(1, input_shape=(3,))])
    net.compile(optimizer=compile_options.pop("optimizer", "sgd"), loss="mse",
                **compile_options)
    return net


def test_learning_rate_scheduler_takes_one_argument_schedules_and_logs_lr():
    history = model().fit(X, Y, epochs=3, verbose=0, callbacks=[
        callbacks.LearningRateScheduler(lambda epoch: 0.1 * 0.5 ** epoch)])
    np.testing.assert_allclose(history.history["lr"], [0.1, 0.05, 0.025], rtol=1e-6)
    assert history.history["learning_rate"] == history.history["lr"]

    def two(epoch, lr):
        return lr * 0.5

    net = model(optimizer=optimizers.SGD(0.4))
    history = net.fit(X, Y, epochs=2, verbose=0,
                      callbacks=[callbacks.LearningRateScheduler(two)])
    np.testing.assert_allclose(history.history["lr"], [0.2, 0.1], rtol=1e-6)
    with pytest.raises(ValueError, match="should return a float"):
        model().fit(X, Y, epochs=1, verbose=0,
                    callbacks=[callbacks.LearningRateScheduler(lambda epoch: "fast")])


def test_reduce_lr_on_plateau_logs_lr_too():
    history = model().fit(X, Y, epochs=2, verbose=0, callbacks=[
        callbacks.ReduceLROnPlateau(monitor="loss", patience=1)])
    assert history.history["lr"] == history.history["learning_rate"]


def _rows(path):
    with open(path) as handle:
        return list(csv.reader(handle))


def test_csv_logger_has_val_columns_from_the_first_epoch_with_validation_freq(tmp_path):
    path = tmp_path / "log.csv"
    model().fit(X, Y, epochs=4, verbose=0, validation_data=(X, Y), validation_freq=2,
                callbacks=[callbacks.CSVLogger(path)])
    rows = _rows(path)
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert [row[2] == "NA" for row in rows[1:]] == [True, False, True, False]
    assert all(float(row[1]) > 0 for row in rows[1:])
    plain = tmp_path / "plain.csv"  # no validation: no val_* columns
    model().fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(plain)])
    assert _rows(plain)[0] == ["epoch", "loss"]


def test_csv_logger_adds_no_val_column_for_the_rate(tmp_path):
    path = tmp_path / "log.csv"
    model().fit(X, Y, epochs=2, verbose=0, validation_data=(X, Y), validation_freq=2,
                callbacks=[callbacks.LearningRateScheduler(lambda e: 0.01),
                           callbacks.CSVLogger(path)])
    assert _rows(path)[0] == ["epoch", "learning_rate", "loss", "lr", "val_loss"]


@pytest.mark.parametrize("spe, save_freq, expected", [
    (4, 4, ["e1-b04", "e1-b08", "e1-b12", "e1-b16", "e2-b04", "e2-b08", "e2-b12",
            "e2-b16"]),
    (1, 6, ["e1-b06", "e1-b12", "e2-b02", "e2-b08", "e2-b14"]),
    (4, 6, ["e1-b08", "e1-b16", "e2-b08", "e2-b16"]),  # Keras: the count restarts at a save
])
def test_model_checkpoint_save_freq_counts_batches(tmp_path, spe, save_freq, expected):
    net = model(steps_per_execution=spe)
    checkpoint = callbacks.ModelCheckpoint(
        os.path.join(tmp_path, "e{epoch}-b{batch:02d}.weights.h5"), save_weights_only=True,
        save_freq=save_freq)
    net.fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[checkpoint])
    assert sorted(name.split(".")[0] for name in os.listdir(tmp_path)) == expected


def test_tensorboard_update_freq_counts_batches(tmp_path):
    board = callbacks.TensorBoard(log_dir=tmp_path, update_freq=4)
    model(steps_per_execution=4).fit(X, Y, batch_size=4, epochs=1, verbose=0,
                                     callbacks=[board])
    assert [step for step, _ in read_events(tmp_path / "train")["batch_loss"]] == [
        4, 8, 12, 16]


# -- NaN is never the best -------------------------------------------------------------------
class _Stub:
    def __init__(self):
        self.optimizer, self.stop_training, self.weights = optimizers.SGD(1.0), False, 0

    def get_weights(self):
        return [self.weights]

    def set_weights(self, weights):
        self.weights = weights[0]


def _drive(callback, values, key="val_loss"):
    stub = _Stub()
    callback.set_model(stub)
    callback.on_train_begin()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch, value in enumerate(values):
            stub.weights = epoch
            callback.on_epoch_end(epoch, {key: value})
            if stub.stop_training:
                return epoch, stub
    return None, stub


def test_early_stopping_nan_first_value_is_not_the_best():
    stop = callbacks.EarlyStopping(patience=2)
    stopped, _ = _drive(stop, [math.nan, 5.0, 4.0, 3.0, 2.0, 1.0])
    assert stopped is None and stop.best == 1.0
    maximise = callbacks.EarlyStopping(monitor="val_acc", patience=1)
    stopped, _ = _drive(maximise, [math.nan, 0.5, 0.6], key="val_acc")
    assert stopped is None and maximise.best == 0.6


def test_early_stopping_never_improving_restores_the_first_weights():
    stop = callbacks.EarlyStopping(patience=1, restore_best_weights=True)
    stopped, stub = _drive(stop, [math.nan, math.nan, math.nan])
    assert stopped == 1 and stub.weights == 0


def test_reduce_lr_on_plateau_nan_first_value_is_not_the_best():
    plateau = callbacks.ReduceLROnPlateau(patience=1, factor=0.5, min_delta=0.0)
    _, stub = _drive(plateau, [math.nan, 5.0, 4.0, 3.0])
    # Keras: the NaN epoch is one without improvement (patience 1: a reduction), and the
    # next value becomes the best.
    assert plateau.best == 3.0 and float(stub.optimizer.learning_rate) == 0.5


def test_model_checkpoint_nan_first_value_is_not_the_best(tmp_path):
    values = iter([math.nan, 5.0, 4.0, 6.0])

    class Inject(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(values)

    checkpoint = callbacks.ModelCheckpoint(os.path.join(tmp_path, "w{epoch}.weights.h5"),
                                           save_best_only=True, save_weights_only=True)
    model().fit(X, Y, epochs=4, verbose=0, callbacks=[Inject(), checkpoint])
    assert sorted(os.listdir(tmp_path)) == ["w2.weights.h5", "w3.weights.h5"]
    assert checkpoint.best == 4.0


def test_model_checkpoint_prints_keras_2s_messages(tmp_path, capsys):
    """Keras 2's words: 'saving model to' (weights too), and with save_best_only the
    improvement from the best so far (inf first) or that it did not improve."""
    values = iter([5.0, 4.0, 6.0])

    class Inject(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(values)

    best = os.path.join(tmp_path, "best.weights.h5")
    every = os.path.join(tmp_path, "e{epoch}.weights.h5")
    model().fit(X, Y, epochs=3, verbose=0, callbacks=[
        Inject(), callbacks.ModelCheckpoint(best, save_best_only=True, save_weights_only=True,
                                            verbose=1),
        callbacks.ModelCheckpoint(every, save_weights_only=True, verbose=1)])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert lines == [
        f"Epoch 1: val_loss improved from inf to 5.00000, saving model to {best}",
        f"Epoch 1: saving model to {every.format(epoch=1)}",
        f"Epoch 2: val_loss improved from 5.00000 to 4.00000, saving model to {best}",
        f"Epoch 2: saving model to {every.format(epoch=2)}",
        "Epoch 3: val_loss did not improve from 4.00000",
        f"Epoch 3: saving model to {every.format(epoch=3)}"]


# -- LambdaCallback --------------------------------------------------------------------------
def test_lambda_callback_takes_any_hook():
    seen = []
    hooks = callbacks.LambdaCallback(on_test_end=lambda logs: seen.append(sorted(logs)),
                                     on_test_begin=lambda logs: seen.append("begin"))
    model().fit(X, Y, epochs=1, verbose=0, validation_data=(X, Y), callbacks=[hooks])
    assert seen == ["begin", ["loss"]]
    with pytest.raises(TypeError, match="on_tset_end"):
        callbacks.LambdaCallback(on_tset_end=print)
