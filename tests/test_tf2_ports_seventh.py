"""The seventh round of whole TF2 programs (see test_tf2_ports.py): TF's "Custom training:
walkthrough" on a CSV file and the time-series tutorial's WindowGenerator, with only the
imports changed (more in test_tf2_ports_seventh_b.py and _c.py).

Each asserts an outcome known without xlaflow: the CSV's rows as NumPy parses them, windows
equal to NumPy slices, accuracies and errors recomputed in NumPy from the trained weights.
"""

import os

import numpy as np
import pytest

import xlaflow as tf
from xlaflow import keras


@pytest.fixture(autouse=True)
def _seeded():
    # xlaflow's, NumPy's and Python's streams (fit shuffles with NumPy's): a run does not
    # depend on the tests before it in the worker; XF_PORT_SEED chooses another seed
    keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


IRIS_CENTERS = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.1]])


def _write_iris_like(path, n, rng):
    # iris's layout: a first line of counts and class names, then 4 features and the label
    labels = rng.integers(0, 3, size=n)
    features = np.round(IRIS_CENTERS[labels] + rng.normal(scale=0.3, size=(n, 4)), 1)
    with open(path, "w") as f:
        f.write(f"{n},4,setosa,versicolor,virginica\n")
        f.writelines(",".join(f"{v:.1f}" for v in row) + f",{label}\n"
                     for row, label in zip(features, labels))
    return features.astype(np.float32), labels


def _numpy_logits(weights, x):
    h = x
    for i in range(0, len(weights) - 2, 2):
        h = np.maximum(h @ weights[i] + weights[i + 1], 0.0)
    return h @ weights[-2] + weights[-1]


def test_custom_training_walkthrough_iris_csv_with_a_tape_loop(tmp_path):
    rng = np.random.default_rng(0)
    train_dataset_fp, test_dataset_fp = tmp_path / "iris_training.csv", tmp_path / "iris_test.csv"
    train_x, train_y = _write_iris_like(train_dataset_fp, 128, rng)
    test_x, test_y = _write_iris_like(test_dataset_fp, 30, rng)

    # column order in CSV file
    column_names = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    feature_names = column_names[:-1]
    label_name = column_names[-1]
    batch_size = 32
    train_dataset = tf.data.experimental.make_csv_dataset(
        str(train_dataset_fp), batch_size, column_names=column_names, label_name=label_name,
        num_epochs=1)
    features, labels = next(iter(train_dataset))
    assert list(features.keys()) == feature_names
    assert features["sepal_length"].dtype == np.float32 and labels.dtype == np.int32
    assert labels.shape == (batch_size,)

    def pack_features_vector(features, labels):
        """Pack the features into a single array."""
        features = tf.stack(list(features.values()), axis=1)
        return features, labels

    train_dataset = train_dataset.map(pack_features_vector)
    # one epoch holds every row once, shuffled: the rows as NumPy reads the file
    seen_x, seen_y = zip(*[(np.asarray(x), np.asarray(y)) for x, y in train_dataset])
    assert [len(y) for y in seen_y] == [32, 32, 32, 32]
    seen_x, seen_y = np.concatenate(seen_x), np.concatenate(seen_y)
    order, expected = np.lexsort(seen_x.T), np.lexsort(train_x.T)
    np.testing.assert_array_equal(seen_x[order], train_x[expected])
    np.testing.assert_array_equal(seen_y[order], train_y[expected])
    assert not np.array_equal(seen_x, train_x)  # shuffle=True is the default

    tf.random.set_seed(0)
    model = tf.keras.Sequential([
        tf.keras.layers.Dense(10, activation=tf.nn.relu, input_shape=(4,)),  # input shape required
        tf.keras.layers.Dense(10, activation=tf.nn.relu),
        tf.keras.layers.Dense(3)
    ])
    features, labels = next(iter(train_dataset))
    predictions = model(features)
    assert tf.nn.softmax(predictions[:5]).shape == (5, 3)

    loss_object = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss(model, x, y, training):
        # training=training is needed only if there are layers with different
        # behavior during training versus inference (e.g. Dropout).
        y_ = model(x, training=training)
        return loss_object(y_true=y, y_pred=y_)

    # The tutorial runs this eagerly; xlaflow's tape is a rewrite of the compiled block
    # (there is no op-by-op eager tape in JAX), so the one change is @tf.function here.
    @tf.function
    def grad(model, inputs, targets):
        with tf.GradientTape() as tape:
            loss_value = loss(model, inputs, targets, training=True)
        return loss_value, tape.gradient(loss_value, model.trainable_variables)

    optimizer = tf.keras.optimizers.SGD(learning_rate=0.02)
    initial_loss = float(loss(model, features, labels, training=False))
    loss_value, grads = grad(model, features, labels)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    assert int(optimizer.iterations) == 1
    assert float(loss(model, features, labels, training=False)) < initial_loss

    train_loss_results, train_accuracy_results = [], []
    num_epochs = 40
    for _epoch in range(num_epochs):
        epoch_loss_avg = tf.keras.metrics.Mean()
        epoch_accuracy = tf.keras.metrics.SparseCategoricalAccuracy()
        # Training loop - using batches of 32
        for x, y in train_dataset:
            # Optimize the model
            loss_value, grads = grad(model, x, y)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            # Track progress
            epoch_loss_avg.update_state(loss_value)  # Add current batch loss
            # Compare predicted label to actual label
            # training=True is needed only if there are layers with different
            # behavior during training versus inference (e.g. Dropout).
            epoch_accuracy.update_state(y, model(x, training=True))
        train_loss_results.append(epoch_loss_avg.result())
        train_accuracy_results.append(epoch_accuracy.result())
    assert float(train_loss_results[-1]) < 0.5 * float(train_loss_results[0])
    assert float(train_accuracy_results[-1]) > 0.85  # chance is 1/3

    test_dataset = tf.data.experimental.make_csv_dataset(
        str(test_dataset_fp), batch_size, column_names=column_names, label_name="species",
        num_epochs=1, shuffle=False)
    test_dataset = test_dataset.map(pack_features_vector)
    test_accuracy = tf.keras.metrics.Accuracy()
    ds_test_batch = test_dataset
    for (x, y) in ds_test_batch:
        # training=False is needed only if there are layers with different
        # behavior during training versus inference (e.g. Dropout).
        logits = model(x, training=False)
        prediction = tf.math.argmax(logits, axis=1, output_type=tf.int32)
        test_accuracy(prediction, y)
    # the oracle: the trained weights' forward pass in NumPy over the file's rows in order
    numpy_predictions = _numpy_logits(model.get_weights(), test_x).argmax(1)
    assert float(test_accuracy.result()) == pytest.approx(np.mean(numpy_predictions == test_y))
    assert float(test_accuracy.result()) > 0.85

    predict_dataset = tf.convert_to_tensor([
        [5.1, 3.3, 1.7, 0.5],
        [5.9, 3.0, 4.2, 1.5],
        [6.9, 3.1, 5.4, 2.1]
    ])
    # training=False is needed only if there are layers with different
    # behavior during training versus inference (e.g. Dropout).
    predictions = model(predict_dataset, training=False)
    class_names = ["Iris setosa", "Iris versicolor", "Iris virginica"]
    named = []
    for logits in predictions:
        # TF's `.numpy()` on a tensor: xlaflow's tensors are jax.Arrays, int() reads one
        class_idx = int(tf.math.argmax(logits))
        p = tf.nn.softmax(logits)[class_idx]
        assert 1 / 3 < float(p) <= 1
        named.append(class_names[class_idx])
    assert named == ["Iris setosa", "Iris versicolor", "Iris virginica"]


class WindowGenerator:
    """The time-series tutorial's window maker (a NumPy array and a list of column names
    stand in for its pandas DataFrames: pandas is not a dependency here)."""

    def __init__(self, input_width, label_width, shift, train_df, val_df, test_df,
                 columns, label_columns=None):
        # Store the raw data.
        self.train_df, self.val_df, self.test_df = train_df, val_df, test_df
        # Work out the label column indices.
        self.label_columns = label_columns
        if label_columns is not None:
            self.label_columns_indices = {name: i for i, name in enumerate(label_columns)}
        self.column_indices = {name: i for i, name in enumerate(columns)}
        # Work out the window parameters.
        self.input_width = input_width
        self.label_width = label_width
        self.shift = shift
        self.total_window_size = input_width + shift
        self.input_slice = slice(0, input_width)
        self.input_indices = np.arange(self.total_window_size)[self.input_slice]
        self.label_start = self.total_window_size - self.label_width
        self.labels_slice = slice(self.label_start, None)
        self.label_indices = np.arange(self.total_window_size)[self.labels_slice]

    def split_window(self, features):
        inputs = features[:, self.input_slice, :]
        labels = features[:, self.labels_slice, :]
        if self.label_columns is not None:
            labels = tf.stack(
                [labels[:, :, self.column_indices[name]] for name in self.label_columns],
                axis=-1)
        # Slicing doesn't preserve static shape information, so set the shapes
        # manually. This way the `tf.data.Datasets` are easier to inspect.
        # (TF's Tensor.set_shape is a method; xlaflow's tensors are jax.Arrays, whose shapes
        # are always static: tf.ensure_shape checks the same thing and returns the tensor.)
        inputs = tf.ensure_shape(inputs, [None, self.input_width, None])
        labels = tf.ensure_shape(labels, [None, self.label_width, None])
        return inputs, labels

    def make_dataset(self, data):
        data = np.array(data, dtype=np.float32)
        ds = tf.keras.utils.timeseries_dataset_from_array(
            data=data, targets=None, sequence_length=self.total_window_size,
            sequence_stride=1, shuffle=True, batch_size=32)
        ds = ds.map(self.split_window)
        return ds

    @property
    def train(self):
        return self.make_dataset(self.train_df)

    @property
    def val(self):
        return self.make_dataset(self.val_df)

    @property
    def test(self):
        return self.make_dataset(self.test_df)


def _weather_like(n, rng):
    # hourly rows: a daily cycle in "T", pressure following it, noisy humidity
    t = np.arange(n)
    temperature = 8.0 + 6.0 * np.sin(2 * np.pi * t / 24) + 0.2 * rng.normal(size=n)
    pressure = 1000.0 - 0.5 * temperature + 0.3 * rng.normal(size=n)
    humidity = 60.0 + 10.0 * rng.normal(size=n)
    return np.stack([pressure, temperature, humidity], axis=1)


def test_time_series_window_generator_baseline_linear_and_lstm_with_early_stopping():
    rng = np.random.default_rng(2)
    # the first 766 of 800 rows: int(0.7 * 766) - 24 = 512 training windows for the LSTM's
    # wide window, 16 full batches, so its fit compiles one train step (a last partial
    # batch compiles another)
    df = _weather_like(800, rng)[:766]
    columns = ["p (mbar)", "T (degC)", "rh (%)"]
    column_indices = {name: i for i, name in enumerate(columns)}
    n = len(df)
    train_df = df[0:int(n * 0.7)]
    val_df = df[int(n * 0.7):int(n * 0.9)]
    test_df = df[int(n * 0.9):]
    train_mean = train_df.mean(axis=0)
    train_std = train_df.std(axis=0)
    train_df = (train_df - train_mean) / train_std
    val_df = (val_df - train_mean) / train_std
    test_df = (test_df - train_mean) / train_std

    w2 = WindowGenerator(input_width=6, label_width=1, shift=1, train_df=train_df,
                         val_df=val_df, test_df=test_df, columns=columns,
                         label_columns=["T (degC)"])
    assert list(w2.input_indices) == [0, 1, 2, 3, 4, 5] and list(w2.label_indices) == [6]
    # Stack three slices, the length of the total window.
    example_window = tf.stack([np.array(train_df[:w2.total_window_size]),
                               np.array(train_df[100:100 + w2.total_window_size]),
                               np.array(train_df[200:200 + w2.total_window_size])])
    example_inputs, example_labels = w2.split_window(example_window)
    assert example_inputs.shape == (3, 6, 3) and example_labels.shape == (3, 1, 1)
    for row, start in enumerate([0, 100, 200]):
        np.testing.assert_allclose(example_inputs[row], train_df[start:start + 6], rtol=1e-6)
        np.testing.assert_allclose(example_labels[row, :, 0], train_df[start + 6:start + 7, 1],
                                   rtol=1e-6)

    # one epoch of w2.train: every window once, shuffled, each equal to a NumPy slice
    data = train_df.astype(np.float32)
    start_of = {data[i].tobytes(): i for i in range(len(data))}
    starts = []
    for inputs, labels in w2.train:
        assert inputs.shape[1:] == (6, 3) and labels.shape[1:] == (1, 1)
        for window_inputs, window_labels in zip(np.asarray(inputs), np.asarray(labels)):
            s = start_of[window_inputs[0].tobytes()]
            np.testing.assert_array_equal(window_inputs, data[s:s + 6])
            np.testing.assert_array_equal(window_labels[:, 0], data[s + 6:s + 7, 1])
            starts.append(s)
    assert sorted(starts) == list(range(len(data) - 7 + 1))
    assert starts != sorted(starts)

    class Baseline(tf.keras.Model):
        def __init__(self, label_index=None):
            super().__init__()
            self.label_index = label_index

        def call(self, inputs):
            if self.label_index is None:
                return inputs
            result = inputs[:, :, self.label_index]
            return result[:, :, tf.newaxis]

    single_step_window = WindowGenerator(input_width=1, label_width=1, shift=1,
                                         train_df=train_df, val_df=val_df, test_df=test_df,
                                         columns=columns, label_columns=["T (degC)"])
    baseline = Baseline(label_index=column_indices["T (degC)"])
    baseline.compile(loss=tf.keras.losses.MeanSquaredError(),
                     metrics=[tf.keras.metrics.MeanAbsoluteError()])
    val_loss, val_mae = baseline.evaluate(single_step_window.val, verbose=0)
    # "tomorrow is today": the next hour's T minus this hour's, over the validation rows
    step = np.diff(val_df[:, 1].astype(np.float32))
    assert val_mae == pytest.approx(np.mean(np.abs(step)), rel=1e-5)
    assert val_loss == pytest.approx(np.mean(step ** 2), rel=1e-5)

    MAX_EPOCHS = 12

    def compile_and_fit(model, window, patience=2):
        early_stopping = tf.keras.callbacks.EarlyStopping(monitor="val_loss",
                                                          patience=patience, mode="min")
        model.compile(loss=tf.keras.losses.MeanSquaredError(),
                      optimizer=tf.keras.optimizers.Adam(),
                      metrics=[tf.keras.metrics.MeanAbsoluteError()])
        history = model.fit(window.train, epochs=MAX_EPOCHS, validation_data=window.val,
                            callbacks=[early_stopping], verbose=0)
        return history

    def stopped_as_early_stopping_says(history, patience=2):
        val = history.history["val_loss"]
        # it stops `patience` epochs after the best one (a tie is no improvement)
        return len(val) == MAX_EPOCHS or int(np.argmin(val)) == len(val) - 1 - patience

    tf.random.set_seed(0)
    linear = tf.keras.Sequential([tf.keras.layers.Dense(units=1)])
    history = compile_and_fit(linear, single_step_window)
    assert stopped_as_early_stopping_says(history)
    assert set(history.history) == {"loss", "mean_absolute_error", "val_loss",
                                    "val_mean_absolute_error"}
    kernel, bias = linear.get_weights()
    prediction = val_df[:-1].astype(np.float32) @ kernel + bias
    numpy_mae = np.mean(np.abs(prediction[:, 0] - val_df[1:, 1]))
    assert linear.evaluate(single_step_window.val, verbose=0)[1] == pytest.approx(
        numpy_mae, rel=1e-4)

    wide_window = WindowGenerator(input_width=24, label_width=24, shift=1, train_df=train_df,
                                  val_df=val_df, test_df=test_df, columns=columns,
                                  label_columns=["T (degC)"])
    baseline_wide = baseline.evaluate(wide_window.val, verbose=0)[1]
    lstm_model = tf.keras.models.Sequential([
        # Shape [batch, time, features] => [batch, time, lstm_units]
        tf.keras.layers.LSTM(32, return_sequences=True),
        # Shape => [batch, time, features]
        tf.keras.layers.Dense(units=1)
    ])
    history = compile_and_fit(lstm_model, wide_window)
    assert stopped_as_early_stopping_says(history)
    assert lstm_model.predict(np.zeros((2, 24, 3), np.float32), verbose=0).shape == (2, 24, 1)
    lstm_mae = lstm_model.evaluate(wide_window.val, verbose=0)[1]
    # the LSTM learns the daily cycle: better than repeating the last hour
    assert lstm_mae < 0.8 * baseline_wide
