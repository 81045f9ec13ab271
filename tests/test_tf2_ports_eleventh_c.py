"""The eleventh round, concluded: Keras 2's "Training & evaluation with the built-in
methods" guide (TF 2.12 era), as written, imports changed.

MNIST is replaced by 784-pixel synthetic "digits" (a class is a bright block of pixels).
Losses and metrics are recomputed in NumPy from `predict`; schedules from their formulas.
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras
from xlaflow.keras import layers


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _digits(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n)
    x = rng.random((n, 784)).astype("float32") * 0.5
    for i, label in enumerate(y):
        x[i, label * 78:(label + 1) * 78] += 0.5
    return x, y


def get_uncompiled_model():
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


def get_compiled_model():
    model = get_uncompiled_model()
    model.compile(
        optimizer="rmsprop",
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    return model


def _np_sparse_cce(y, probs, weights=None):
    per_example = -np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1 - 1e-7))
    weights = np.ones(len(y)) if weights is None else weights
    return np.sum(per_example * weights) / len(y)  # Keras 2: sum over batch size


def test_training_guide_end_to_end_and_custom_losses():
    x_train, y_train = _digits(600)
    x_test, y_test = _digits(200, seed=1)
    # Reserve 100 samples for validation
    x_val = x_train[-100:]
    y_val = y_train[-100:]
    x_train = x_train[:-100]
    y_train = y_train[:-100]

    model = get_uncompiled_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(),  # Optimizer
        # Loss function to minimize
        loss=keras.losses.SparseCategoricalCrossentropy(),
        # List of metrics to monitor
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=64,
        epochs=2,
        # We pass some validation for
        # monitoring validation loss and metrics
        # at the end of each epoch
        validation_data=(x_val, y_val),
        verbose=0,
    )
    assert set(history.history) == {"loss", "sparse_categorical_accuracy", "val_loss",
                                    "val_sparse_categorical_accuracy"}
    results = model.evaluate(x_test, y_test, batch_size=200, verbose=0)
    predictions = model.predict(x_test[:3], verbose=0)
    assert predictions.shape == (3, 10)
    probs = model.predict(x_test, verbose=0)
    assert results[0] == pytest.approx(_np_sparse_cce(y_test, probs), rel=1e-4)
    assert results[1] == pytest.approx(np.mean(probs.argmax(1) == y_test), abs=1e-6)
    assert results[1] > 0.9

    def custom_mean_squared_error(y_true, y_pred):
        return tf.math.reduce_mean(tf.square(y_true - y_pred))

    model = get_uncompiled_model()
    model.compile(optimizer=keras.optimizers.Adam(), loss=custom_mean_squared_error)
    # We need to one-hot encode the labels to use MSE
    y_train_one_hot = tf.one_hot(y_train, depth=10)
    model.fit(x_train, y_train_one_hot, batch_size=64, epochs=1, verbose=0)
    probs = model.predict(x_test, verbose=0)
    loss = model.evaluate(x_test, tf.one_hot(y_test, depth=10), batch_size=200, verbose=0)
    assert loss == pytest.approx(np.mean((np.eye(10)[y_test] - probs) ** 2), rel=1e-4)

    class CustomMSE(keras.losses.Loss):
        def __init__(self, regularization_factor=0.1, name="custom_mse"):
            super().__init__(name=name)
            self.regularization_factor = regularization_factor

        def call(self, y_true, y_pred):
            mse = tf.math.reduce_mean(tf.square(y_true - y_pred))
            reg = tf.math.reduce_mean(tf.square(0.5 - y_pred))
            return mse + reg * self.regularization_factor

    model = get_uncompiled_model()
    model.compile(optimizer=keras.optimizers.Adam(), loss=CustomMSE())
    y_train_one_hot = tf.one_hot(y_train, depth=10)
    model.fit(x_train, y_train_one_hot, batch_size=64, epochs=1, verbose=0)
    probs = model.predict(x_test, verbose=0)
    loss = model.evaluate(x_test, tf.one_hot(y_test, depth=10), batch_size=200, verbose=0)
    expected = np.mean((np.eye(10)[y_test] - probs) ** 2) + 0.1 * np.mean((0.5 - probs) ** 2)
    assert loss == pytest.approx(expected, rel=1e-4)



def test_training_guide_custom_metric_categorical_true_positives():
    x_train, y_train = _digits(500)
    x_test, y_test = _digits(200, seed=1)

    class CategoricalTruePositives(keras.metrics.Metric):
        def __init__(self, name="categorical_true_positives", **kwargs):
            super(CategoricalTruePositives, self).__init__(name=name, **kwargs)  # noqa: UP008
            self.true_positives = self.add_weight(name="ctp", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = tf.reshape(tf.argmax(y_pred, axis=1), shape=(-1, 1))
            values = tf.cast(y_true, "int32") == tf.cast(y_pred, "int32")
            values = tf.cast(values, "float32")
            if sample_weight is not None:
                sample_weight = tf.cast(sample_weight, "float32")
                values = tf.multiply(values, sample_weight)
            self.true_positives.assign_add(tf.reduce_sum(values))

        def result(self):
            return self.true_positives

        def reset_state(self):
            # The state of the metric will be reset at the start of each epoch.
            self.true_positives.assign(0.0)

    model = get_uncompiled_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[CategoricalTruePositives()],
    )
    model.fit(x_train, y_train, batch_size=64, epochs=3, verbose=0)
    logs = model.evaluate(x_test, y_test, batch_size=64, verbose=0, return_dict=True)
    probs = model.predict(x_test, verbose=0)
    # Keras 2's metrics container gives a metric rank-1 labels as (N, 1) when y_pred is
    # rank 2 (match_dtype_and_rank): the count is of correct predictions, not N x N pairs
    expected = np.sum(probs.argmax(1) == y_test)
    assert logs["categorical_true_positives"] == pytest.approx(expected)


def test_training_guide_losses_and_metrics_added_in_layers_and_functional_models():
    x_train, y_train = _digits(256)

    class ActivityRegularizationLayer(layers.Layer):
        def call(self, inputs):
            self.add_loss(tf.reduce_sum(inputs) * 0.1)
            return inputs  # Pass-through layer.

    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    # Insert activity regularization as a layer
    x = ActivityRegularizationLayer()(x)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    # The displayed loss will be much higher than before
    # due to the regularization component.
    w = model.get_weights()
    loss = model.evaluate(x_train, y_train, batch_size=256, verbose=0)
    hidden = np.maximum(x_train @ w[0] + w[1], 0)
    logits = np.maximum(hidden @ w[2] + w[3], 0) @ w[4] + w[5]
    shifted = logits - logits.max(1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    expected = -np.mean(log_probs[np.arange(256), y_train]) + 0.1 * hidden.sum()
    assert loss == pytest.approx(expected, rel=1e-4)
    model.fit(x_train, y_train, batch_size=64, epochs=1, verbose=0)

    class MetricLoggingLayer(layers.Layer):
        def call(self, inputs):
            # The `aggregation` argument defines
            # how to aggregate the per-batch values
            # over each epoch:
            # in this case we simply average them.
            self.add_metric(
                keras.backend.std(inputs), name="std_of_activation", aggregation="mean"
            )
            return inputs  # Pass-through layer.

    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    # Insert std logging as a layer.
    x = MetricLoggingLayer()(x)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    w = model.get_weights()
    logs = model.evaluate(x_train, y_train, batch_size=128, verbose=0, return_dict=True)
    hidden = np.maximum(x_train @ w[0] + w[1], 0)
    expected = np.mean([hidden[:128].std(), hidden[128:].std()])
    assert logs["std_of_activation"] == pytest.approx(expected, rel=1e-4)
    history = model.fit(x_train, y_train, batch_size=64, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "std_of_activation"}

    # In the Functional API, you can also call model.add_loss(loss_tensor), or
    # model.add_metric(metric_tensor, name, aggregation).
    inputs = keras.Input(shape=(784,), name="digits")
    x1 = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x2 = layers.Dense(64, activation="relu", name="dense_2")(x1)
    outputs = layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.add_loss(tf.reduce_sum(x1) * 0.1)
    model.add_metric(keras.backend.std(x1), name="std_of_activation", aggregation="mean")
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    w = model.get_weights()
    logs = model.evaluate(x_train[:128], y_train[:128], batch_size=128, verbose=0,
                          return_dict=True)
    hidden = np.maximum(x_train[:128] @ w[0] + w[1], 0)
    logits = np.maximum(hidden @ w[2] + w[3], 0) @ w[4] + w[5]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    cross_entropy = -log_probs[np.arange(128), y_train[:128]].mean()
    assert logs["loss"] == pytest.approx(cross_entropy + 0.1 * hidden.sum(), rel=1e-4)
    assert logs["std_of_activation"] == pytest.approx(hidden.std(), rel=1e-4)
    history = model.fit(x_train, y_train, batch_size=64, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "std_of_activation"}

def test_training_guide_validation_split_datasets_and_steps(caplog):
    x_train, y_train = _digits(640)
    x_test, y_test = _digits(128, seed=1)
    model = get_compiled_model()
    history = model.fit(x_train, y_train, batch_size=64, validation_split=0.2, epochs=1,
                        verbose=0)
    # validation_split holds out the last 20% before any shuffling, as Keras 2
    val_logs = model.evaluate(x_train[512:], y_train[512:], batch_size=128, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(val_logs[0], rel=1e-5)

    model = get_compiled_model()
    # First, let's create a training Dataset instance.
    # For the sake of our example, we'll use the same MNIST data as before.
    train_dataset = tf.data.Dataset.from_tensor_slices((x_train, y_train))
    # Shuffle and slice the dataset.
    train_dataset = train_dataset.shuffle(buffer_size=1024).batch(64)
    # Now we get a test dataset.
    test_dataset = tf.data.Dataset.from_tensor_slices((x_test, y_test))
    test_dataset = test_dataset.batch(64)
    # Since the dataset already takes care of batching,
    # we don't pass a `batch_size` argument.
    model.fit(train_dataset, epochs=3, verbose=0)
    # You can also evaluate or predict on a dataset.
    result = model.evaluate(test_dataset, verbose=0)
    logs = dict(zip(model.metrics_names, result))
    assert set(logs) == {"loss", "sparse_categorical_accuracy"}
    probs = model.predict(x_test, verbose=0)
    assert logs["loss"] == pytest.approx(_np_sparse_cce(y_test, probs), rel=1e-4)
    assert logs["sparse_categorical_accuracy"] > 0.9

    model = get_compiled_model()
    counter = []

    class CountBatches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            counter.append(batch)

    # Only use the 5 batches per epoch (that's 64 * 5 samples)
    model.fit(train_dataset, epochs=3, steps_per_epoch=5, callbacks=[CountBatches()],
              verbose=0)
    # The guide's 50000 MNIST examples make 782 batches; these 640 make 10. Keras 2 reads
    # one pass on across the epochs (5 != 10 batches): it runs out at the third epoch's
    # start, logs a warning and stops.
    assert counter == [0, 1, 2, 3, 4] * 2
    assert "Your input ran out of data" in caplog.text

    model = get_compiled_model()
    # Prepare the validation dataset
    val_dataset = tf.data.Dataset.from_tensor_slices((x_test, y_test))
    val_dataset = val_dataset.batch(64)
    history = model.fit(
        train_dataset,
        epochs=1,
        # Only run validation using the first 1 batch of the dataset
        # using the `validation_steps` argument
        validation_data=val_dataset,
        validation_steps=1,
        verbose=0,
    )
    probs = model.predict(x_test[:64], verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(
        _np_sparse_cce(y_test[:64], probs), rel=1e-4)


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
    score, classes = model.predict([img_data, ts_data], verbose=0)
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

    # Fit on lists
    model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=32, epochs=1,
              verbose=0)
    # Alternatively, fit on dicts
    model.fit(
        {"img_input": img_data, "ts_input": ts_data},
        {"score_output": score_targets, "class_output": class_targets},
        batch_size=32,
        epochs=1,
        verbose=0,
    )
    train_dataset = tf.data.Dataset.from_tensor_slices(
        (
            {"img_input": img_data, "ts_input": ts_data},
            {"score_output": score_targets, "class_output": class_targets},
        )
    )
    train_dataset = train_dataset.shuffle(buffer_size=1024).batch(64)
    history = model.fit(train_dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    # List loss version: no loss for the score output
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[None, keras.losses.CategoricalCrossentropy()],
    )
    score, classes = model.predict([img_data, ts_data], verbose=0)
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
