"""The eleventh round, concluded (see test_tf2_ports_eleventh_c.py for the data and models):
Keras 2's "Training & evaluation with the built-in methods" guide (TF 2.12 era), its
class and sample weights, multi-input/multi-output models, callbacks, checkpoints and
learning-rate schedules, as written, imports changed.
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from tests.test_tf2_ports_eleventh_c import (
    _digits,
    _np_sparse_cce,
    get_compiled_model,
    get_uncompiled_model,
)
from xlaflow import keras
from xlaflow.keras import layers


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def test_training_guide_class_weight_and_sample_weight_arrays_and_datasets():
    x_train, y_train = _digits(256)
    class_weight = {
        0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0,
        # Set weight "2" for class "5",
        # making this class 2x more important
        5: 2.0,
        6: 1.0, 7: 1.0, 8: 1.0, 9: 1.0,
    }
    sample_weight = np.ones(shape=(len(y_train),))
    sample_weight[y_train == 5] = 2.0

    keras.utils.set_random_seed(3)
    by_class = get_compiled_model()
    keras.utils.set_random_seed(3)
    by_sample = get_compiled_model()
    keras.utils.set_random_seed(3)
    by_dataset = get_compiled_model()
    start = by_class.get_weights()
    for model in (by_sample, by_dataset):
        for a, b in zip(start, model.get_weights()):
            np.testing.assert_array_equal(a, b)

    # the first batch's weighted loss, before any step, from NumPy
    first = by_class.predict(x_train[:64], verbose=0)
    logs = by_class.evaluate(x_train[:64], y_train[:64], sample_weight=sample_weight[:64],
                             batch_size=64, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(
        _np_sparse_cce(y_train[:64], first, sample_weight[:64]), rel=1e-4)

    by_class.fit(x_train, y_train, class_weight=class_weight, batch_size=64, epochs=1,
                 shuffle=False, verbose=0)
    by_sample.fit(x_train, y_train, sample_weight=sample_weight, batch_size=64, epochs=1,
                  shuffle=False, verbose=0)
    # Create a Dataset that includes sample weights
    # (3rd element in the return tuple).
    train_dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train, sample_weight))
    train_dataset = train_dataset.batch(64)
    by_dataset.fit(train_dataset, epochs=1, verbose=0)
    for a, b, c in zip(by_class.get_weights(), by_sample.get_weights(),
                       by_dataset.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
    assert not np.allclose(start[0], by_class.get_weights()[0])


def test_training_guide_multi_input_multi_output_losses_metrics_and_datasets():
    image_input = keras.Input(shape=(32, 32, 3), name="img_input")
    timeseries_input = keras.Input(shape=(None, 10), name="ts_input")
    x1 = layers.Conv2D(3, 3)(image_input)
    x1 = layers.GlobalMaxPooling2D()(x1)
    x2 = layers.Conv1D(3, 3)(timeseries_input)
    x2 = layers.GlobalMaxPooling1D()(x2)
    x = layers.concatenate([x1, x2])
    score_output = layers.Dense(1, name="score_output")(x)
    class_output = layers.Dense(5, name="class_output")(x)
    model = keras.Model(
        inputs=[image_input, timeseries_input], outputs=[score_output, class_output]
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[keras.losses.MeanSquaredError(), keras.losses.CategoricalCrossentropy()],
        metrics=[
            [
                keras.metrics.MeanAbsolutePercentageError(),
                keras.metrics.MeanAbsoluteError(),
            ],
            [keras.metrics.CategoricalAccuracy()],
        ],
    )
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={
            "score_output": keras.losses.MeanSquaredError(),
            "class_output": keras.losses.CategoricalCrossentropy(),
        },
        metrics={
            "score_output": [
                keras.metrics.MeanAbsolutePercentageError(),
                keras.metrics.MeanAbsoluteError(),
            ],
            "class_output": [keras.metrics.CategoricalAccuracy()],
        },
        loss_weights={"score_output": 2.0, "class_output": 1.0},
    )
    # Generate dummy NumPy data
    img_data = np.random.random_sample(size=(100, 32, 32, 3))
    ts_data = np.random.random_sample(size=(100, 20, 10))
    score_targets = np.random.random_sample(size=(100, 1))
    class_targets = np.random.random_sample(size=(100, 5))
    # the logged numbers, before any step, from NumPy (Keras 2's CategoricalCrossentropy
    # of probabilities: rescaled to sum to 1, clipped to [1e-7, 1 - 1e-7])
    score, classes = model.predict([img_data, ts_data], batch_size=100, verbose=0)
    logs = model.evaluate([img_data, ts_data], [score_targets, class_targets],
                          batch_size=100, verbose=0, return_dict=True)
    mse = np.mean((score_targets - score) ** 2)
    probs = np.clip(classes / classes.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    cce = np.mean(-(class_targets * np.log(probs)).sum(-1))
    assert logs["score_output_loss"] == pytest.approx(mse, rel=1e-4)
    assert logs["class_output_loss"] == pytest.approx(cce, rel=1e-3)
    assert logs["loss"] == pytest.approx(2.0 * mse + cce, rel=1e-3)
    assert logs["score_output_mean_absolute_error"] == pytest.approx(
        np.mean(np.abs(score_targets - score)), rel=1e-4)
    assert logs["class_output_categorical_accuracy"] == pytest.approx(
        np.mean(classes.argmax(-1) == class_targets.argmax(-1)), abs=1e-6)
    assert set(logs) == {"loss", "score_output_loss", "class_output_loss",
                         "score_output_mean_absolute_percentage_error",
                         "score_output_mean_absolute_error",
                         "class_output_categorical_accuracy"}

    # Fit on lists (batches of 25, 32 in the guide, and 50 below, 64 there: sizes that
    # divide the 100 examples, so no last partial batch compiles a train step of its own)
    model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=25, epochs=1,
              verbose=0)
    # Alternatively, fit on dicts
    model.fit(
        {"img_input": img_data, "ts_input": ts_data},
        {"score_output": score_targets, "class_output": class_targets},
        batch_size=25,
        epochs=1,
        verbose=0,
    )
    train_dataset = tf.data.Dataset.from_tensor_slices(
        (
            {"img_input": img_data, "ts_input": ts_data},
            {"score_output": score_targets, "class_output": class_targets},
        )
    )
    train_dataset = train_dataset.shuffle(buffer_size=1024).batch(50)
    history = model.fit(train_dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    # List loss version: no loss for the score output
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[None, keras.losses.CategoricalCrossentropy()],
    )
    score, classes = model.predict([img_data, ts_data], batch_size=100, verbose=0)
    probs = np.clip(classes / classes.sum(-1, keepdims=True), 1e-7, 1 - 1e-7)
    loss = model.evaluate([img_data, ts_data], [score_targets, class_targets],
                          batch_size=100, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(np.mean(-(class_targets * np.log(probs)).sum(-1)),
                                 rel=1e-3)
    # Or dict loss version
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={"class_output": keras.losses.CategoricalCrossentropy()},
    )
    again = model.evaluate([img_data, ts_data], [score_targets, class_targets],
                           batch_size=100, verbose=0, return_dict=True)["loss"]
    assert again == pytest.approx(loss, rel=1e-5)


def test_training_guide_callbacks_checkpoints_and_learning_rate_schedules(tmp_path):
    x_train, y_train = _digits(320)
    model = get_compiled_model()
    callbacks = [
        keras.callbacks.EarlyStopping(
            # Stop training when `val_loss` is no longer improving
            monitor="val_loss",
            # "no longer improving" being defined as "no better than 1e-2 less"
            min_delta=1e-2,
            # "no longer improving" being further defined as "for at least 2 epochs"
            patience=2,
            verbose=1,
        )
    ]
    history = model.fit(x_train, y_train, epochs=20, batch_size=64, callbacks=callbacks,
                        validation_split=0.2, verbose=0)
    # it stopped after 2 epochs in a row that did not beat the best by more than 1e-2
    val = history.history["val_loss"]
    best, wait, epochs_run = np.inf, 0, 20
    for epoch, value in enumerate(val):
        if value < best - 1e-2:
            best, wait = value, 0
        else:
            wait += 1
            if wait >= 2:
                epochs_run = epoch + 1
                break
    assert len(val) == epochs_run

    class LossHistory(keras.callbacks.Callback):
        def on_train_begin(self, logs):
            self.per_batch_losses = []

        def on_batch_end(self, batch, logs):
            self.per_batch_losses.append(logs.get("loss"))

    model = get_compiled_model()
    loss_history = LossHistory()
    history = model.fit(x_train, y_train, epochs=2, batch_size=64,
                        callbacks=[loss_history], verbose=0)
    assert len(loss_history.per_batch_losses) == 10
    # a batch's "loss" is the running mean over the epoch: its last is the epoch's
    assert loss_history.per_batch_losses[4] == pytest.approx(history.history["loss"][0])
    assert loss_history.per_batch_losses[9] == pytest.approx(history.history["loss"][1])

    model = get_compiled_model()
    callbacks = [
        keras.callbacks.ModelCheckpoint(
            # Path where to save the model
            # The two parameters below mean that we will overwrite
            # the current checkpoint if and only if
            # the `val_loss` score has improved.
            # The saved model name will include the current epoch.
            filepath=str(tmp_path / "mymodel_{epoch}"),
            save_best_only=True,  # Only save a model if `val_loss` has improved.
            monitor="val_loss",
            verbose=1,
        )
    ]
    history = model.fit(x_train, y_train, epochs=3, batch_size=64, callbacks=callbacks,
                        validation_split=0.2, verbose=0)
    val = history.history["val_loss"]
    improved = [i + 1 for i in range(3) if val[i] == min(val[:i + 1])]
    assert sorted(os.listdir(tmp_path)) == sorted(f"mymodel_{e}" for e in improved)
    restored = keras.models.load_model(str(tmp_path / f"mymodel_{improved[-1]}"))
    if improved[-1] == 3:  # the last epoch's model is the one fit returned
        np.testing.assert_allclose(restored.predict(x_train[:8], verbose=0),
                                   model.predict(x_train[:8], verbose=0), rtol=1e-5)

    initial_learning_rate = 0.1
    lr_schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True
    )
    optimizer = keras.optimizers.RMSprop(learning_rate=lr_schedule)
    for step, expected in [(0, 0.1), (99999, 0.1), (100000, 0.096), (250000, 0.1 * 0.96 ** 2)]:
        assert float(lr_schedule(step)) == pytest.approx(expected, rel=1e-6)
    model = get_uncompiled_model()
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0)
    assert int(optimizer.iterations) == 5
