"""Callbacks and progress output during fit (EarlyStopping, ReduceLROnPlateau, CSVLogger,
TensorBoard, LearningRateScheduler, ModelCheckpoint, Keras 2 hook names) against Keras."""

import csv

import numpy as np
import pytest

import xlaflow as xf
from tests.keras.test_training import X, Y, mlp
from xlaflow.keras import callbacks


def test_callbacks(tmp_path):
    model = mlp(optimizer=xf.keras.optimizers.SGD(0.0))  # no progress: the loss stays flat
    seen = []
    stop = callbacks.EarlyStopping(monitor="loss", patience=1)
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1)
    logger = callbacks.CSVLogger(tmp_path / "log.csv")
    lam = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    history = model.fit(X, Y, epochs=10, verbose=0, shuffle=False,
                        callbacks=[stop, plateau, logger, lam])
    assert stop.stopped_epoch == 1 and len(history.history["loss"]) == 2 and seen == [0, 1]
    assert history.history["learning_rate"][-1] == 0.0
    with open(tmp_path / "log.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][0] == "epoch" and len(rows) == 3


def test_one_callback_need_not_be_in_a_list():
    # Keras 2 nest.flattens `callbacks`: TF's audio tutorial passes one EarlyStopping bare
    model = mlp(optimizer=xf.keras.optimizers.SGD(0.0))  # flat loss: stops after patience
    stop = callbacks.EarlyStopping(monitor="loss", patience=1)
    history = model.fit(X, Y, epochs=10, verbose=0, shuffle=False, callbacks=stop)
    assert stop.stopped_epoch == 1 and len(history.history["loss"]) == 2
    seen = []
    lam = callbacks.LambdaCallback(on_test_end=lambda logs: seen.append("test"),
                                   on_predict_end=lambda logs: seen.append("predict"))
    model.evaluate(X, Y, verbose=0, callbacks=(lam,))
    model.predict(X, verbose=0, callbacks=lam)
    assert seen == ["test", "predict"]


def test_a_monitored_metric_missing_this_epoch_warns_and_skips_as_keras():
    model = mlp()
    stop = callbacks.EarlyStopping(patience=0)  # monitors val_loss
    plateau = callbacks.ReduceLROnPlateau(patience=0)
    with pytest.warns(RuntimeWarning) as caught:
        history = model.fit(X, Y, epochs=4, verbose=0, validation_split=0.25,
                            validation_freq=2, callbacks=[stop, plateau])
    assert sorted({str(w.message) for w in caught}) == [
        f"{name}: metric 'val_loss' is not in this epoch's logs {keys}; skipping the epoch"
        for name, keys in (("EarlyStopping", ['accuracy', 'loss']),  # the plateau: its rate
                           ("ReduceLROnPlateau", ['accuracy', 'learning_rate', 'loss',
                                                  'lr']))]
    assert len(history.history["loss"]) >= 2  # epoch 0 (no val_loss) did not stop training


@pytest.mark.usefixtures("host_batches")
def test_reduce_lr_changes_rate_without_retracing():
    model = mlp(optimizer=xf.keras.optimizers.SGD(0.1))
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10)
    model.fit(X, Y, epochs=3, batch_size=50, verbose=0, callbacks=[plateau])
    # The first epoch sets the reference; each of the next two reduces the rate.
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1 * 0.5 ** 2)
    assert model.trainer._compiled_train_step.tracing_count == 1


def test_terminate_on_nan():
    model = mlp()
    history = model.fit(np.full_like(X, np.nan), Y, epochs=5, batch_size=10, verbose=0,
                        callbacks=[callbacks.TerminateOnNaN()])
    assert len(history.history["loss"]) == 1 and model.stop_training


def test_progress_bar_output(capsys):
    model = mlp()
    model.fit(X, Y, epochs=1, batch_size=50, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "2/2 [==============================]" in out
    assert "loss:" in out and "accuracy:" in out


def test_verbose_2_prints_one_line_per_epoch(capsys):
    model = mlp()
    model.fit(X, Y, epochs=2, batch_size=50, verbose=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if "loss:" in line]
    # Keras 2's verbose=2 line: no bar; the epoch's time and the time per step at the end
    assert len(lines) == 2 and lines[0].startswith("2/2 - ") and "[" not in lines[0]
    assert lines[0].split(" - ")[-2].endswith("/epoch") and lines[0].endswith("/step")


def test_tensorboard_writes_readable_event_files(tmp_path):
    import struct

    from tensorboardX.proto import event_pb2

    model = mlp()
    model.fit(X, Y, epochs=2, batch_size=50, verbose=0, validation_split=0.2,
              callbacks=[callbacks.TensorBoard(tmp_path / "logs", update_freq=1)])
    scalars = {}
    for run in ("train", "validation"):
        folder = tmp_path / "logs" / run
        for path in folder.iterdir():
            data = path.read_bytes()
            offset = 0
            while offset < len(data):  # TFRecord framing: length, crc, payload, crc
                (length,) = struct.unpack("<Q", data[offset:offset + 8])
                event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
                offset += 16 + length
                for value in event.summary.value:
                    scalars.setdefault((run, value.tag), []).append(value.simple_value)
    assert len(scalars[("train", "epoch_loss")]) == 2
    assert len(scalars[("validation", "epoch_accuracy")]) == 2
    assert len(scalars[("train", "batch_loss")]) == 4  # 2 batches per epoch, 2 epochs
    np.testing.assert_allclose(scalars[("train", "epoch_loss")][-1],
                               model.history.history["loss"][-1], rtol=1e-5)


@pytest.mark.usefixtures("host_batches")
def test_learning_rate_scheduler_sets_the_rate_each_epoch():
    model = mlp(optimizer=xf.keras.optimizers.SGD(1.0))
    rates = []
    history = model.fit(X, Y, epochs=3, batch_size=50, verbose=0, callbacks=[
        callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1)),
        callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: rates.append(
            float(model.optimizer.learning_rate)))])
    np.testing.assert_allclose(rates, [0.1, 0.05, 0.1 / 3], rtol=1e-6)
    np.testing.assert_allclose(history.history["learning_rate"], rates, rtol=1e-6)
    assert model.trainer._compiled_train_step.tracing_count == 1


def test_model_checkpoint_skips_missing_metric_with_a_warning(tmp_path):
    model = mlp()
    with pytest.warns(RuntimeWarning, match="metric 'val_loss' is not in the logs"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(
            str(tmp_path / "best"), save_best_only=True, save_weights_only=True)])


def test_keras_2_batch_hook_names_are_called():
    class Old(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_batch_begin(self, batch, logs=None):
            self.calls.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            self.calls.append(("end", batch, sorted(logs)))

    old, ends = Old(), []
    lam = callbacks.LambdaCallback(on_batch_end=lambda batch, logs: ends.append(batch))
    mlp().fit(X, Y, epochs=1, batch_size=50, verbose=0, callbacks=[old, lam])
    assert old.calls == [("begin", 0), ("end", 0, ["accuracy", "loss"]),
                         ("begin", 1), ("end", 1, ["accuracy", "loss"])]
    assert ends == [0, 1]


def test_fits_validation_calls_the_test_hooks_and_train_end_gets_the_last_logs():
    calls = []

    class Hooks(callbacks.Callback):
        def on_test_begin(self, logs=None):
            calls.append("test_begin")

        def on_test_batch_end(self, batch, logs=None):
            calls.append(f"test_batch_{batch}")

        def on_test_end(self, logs=None):
            calls.append(("test_end", sorted(logs)))

        def on_epoch_end(self, epoch, logs=None):
            calls.append(f"epoch_end_{epoch}")

        def on_train_end(self, logs=None):
            calls.append(("train_end", sorted(logs)))

    mlp().fit(X, Y, epochs=1, batch_size=50, verbose=0, validation_data=(X[:40], Y[:40]),
              callbacks=[Hooks()])
    assert calls == ["test_begin", "test_batch_0", ("test_end", ["accuracy", "loss"]),
                     "epoch_end_0",
                     ("train_end", ["accuracy", "loss", "val_accuracy", "val_loss"])]


def test_early_stopping_with_a_baseline_restores_the_best_epoch_as_keras():
    scores = iter([3.0, 1.0, 2.0, 5.0, 5.0])
    model = mlp(optimizer=xf.keras.optimizers.SGD(0.5))
    kept = []

    class Score(callbacks.Callback):  # a made-up monitored value, and each epoch's weights
        def on_epoch_end(self, epoch, logs=None):
            logs["score"] = next(scores)
            kept.append(self.model.get_weights())

    stop = callbacks.EarlyStopping(monitor="score", mode="min", baseline=0.5, patience=3,
                                   restore_best_weights=True)
    history = model.fit(X, Y, epochs=5, verbose=0, callbacks=[Score(), stop])
    # no epoch beat the baseline: stopped after 3 epochs, with the best one's (epoch 1) weights
    assert len(history.history["loss"]) == 3 and stop.stopped_epoch == 2
    assert stop.best_epoch == 1
    for a, b in zip(model.get_weights(), kept[1]):
        np.testing.assert_array_equal(a, b)
