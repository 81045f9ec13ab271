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
    # batches of 50 (64 in the guide) and predictions in one batch of 200: sizes that divide
    # the 500 training, 100 validation and 200 test examples, so no last partial batch
    # compiles a step of its own
    history = model.fit(
        x_train,
        y_train,
        batch_size=50,
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
    probs = model.predict(x_test, batch_size=200, verbose=0)
    assert results[0] == pytest.approx(_np_sparse_cce(y_test, probs), rel=1e-4)
    assert results[1] == pytest.approx(np.mean(probs.argmax(1) == y_test), abs=1e-6)
    assert results[1] > 0.9

    def custom_mean_squared_error(y_true, y_pred):
        return tf.math.reduce_mean(tf.square(y_true - y_pred))

    model = get_uncompiled_model()
    model.compile(optimizer=keras.optimizers.Adam(), loss=custom_mean_squared_error)
    # We need to one-hot encode the labels to use MSE
    y_train_one_hot = tf.one_hot(y_train, depth=10)
    model.fit(x_train, y_train_one_hot, batch_size=50, epochs=1, verbose=0)
    probs = model.predict(x_test, batch_size=200, verbose=0)
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
    model.fit(x_train, y_train_one_hot, batch_size=50, epochs=1, verbose=0)
    probs = model.predict(x_test, batch_size=200, verbose=0)
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
