"""The twenty-fifth round, time series, part b (see test_tf2_ports_twentyfifth_timeseries.py):
the multi-output models of TF's "Time series forecasting" tutorial (TF 2.12) as written,
imports changed: Baseline, Dense and LSTM predicting every column, and the ResidualWrapper.

What changed, each line saying why: pandas is not a dependency, so a dict of NumPy columns
stands in for the DataFrame and a 2-D array for the split frames; MAX_EPOCHS is 4 (the
tutorial's 20: a few epochs keep the test in seconds); IPython's clear_output is left out.

Oracles: the baseline's error equals NumPy's on the same windows; the trained models beat it
by margins chance cannot reach; a ResidualWrapper whose last layer starts at zero predicts
its input exactly; shapes as the tutorial prints them.
"""
import datetime
import os

import numpy as np
import pytest

import xlaflow as tf


@pytest.fixture(autouse=True)
def _seeded():
    # xlaflow's, NumPy's and Python's streams (fit shuffles with NumPy's)
    tf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _weather_csv_columns(n_kept, rng):
    """A few of the Jena climate CSV's columns, logged hourly (Jena's logger: every ten
    minutes), so that the tutorial's df[5::6] keeps one row in six hours and `n_kept` rows
    span years, as the Year sin/cos features need: daily and yearly cycles in T, pressure
    and humidity following it, noisy wind with the CSV's bad -9999 speeds."""
    n = 6 * n_kept
    start = datetime.datetime(2009, 1, 1, 1, 0)
    stamps = [start + datetime.timedelta(hours=i) for i in range(n)]
    hours = np.arange(n) + 1.0
    weather = np.zeros(n)  # day-to-day weather: a stationary AR(1) process
    shocks = rng.normal(scale=0.3, size=n)
    for i in range(1, n):
        weather[i] = 0.98 * weather[i - 1] + shocks[i]
    temperature = (9.0 - 8.0 * np.cos(2 * np.pi * hours / (24 * 365.2425))
                   - 5.0 * np.cos(2 * np.pi * (hours - 3) / 24) + weather
                   + 0.1 * rng.normal(size=n))
    wv = np.abs(2.0 + rng.normal(size=n))
    max_wv = wv + np.abs(rng.normal(size=n))
    # the CSV's bad readings, on rows that df[5::6] keeps
    wv[6 * rng.choice(n_kept, 5, replace=False) + 5] = -9999.0
    max_wv[6 * rng.choice(n_kept, 5, replace=False) + 5] = -9999.0
    return {
        "Date Time": np.array([s.strftime("%d.%m.%Y %H:%M:%S") for s in stamps]),
        "p (mbar)": 990.0 - 0.4 * temperature + 0.2 * rng.normal(size=n),
        "T (degC)": temperature,
        "rh (%)": 75.0 - 2.0 * temperature + 3.0 * rng.normal(size=n),
        "wv (m/s)": wv,
        "max. wv (m/s)": max_wv,
        "wd (deg)": rng.uniform(0, 360, size=n),
    }


def _engineered_frame(df):
    """The tutorial's feature engineering, line for line, on the dict of columns."""
    # df = df[5::6]: every sixth row from the fifth (a dict slices column by column;
    # copies, as pandas' slice is one for the assignments below)
    df = {name: column[5::6].copy() for name, column in df.items()}
    # pd.to_datetime(df.pop('Date Time'), format='%d.%m.%Y %H:%M:%S'); pandas' naive
    # Timestamp.timestamp() counts from the UTC epoch
    date_time = [datetime.datetime.strptime(s, "%d.%m.%Y %H:%M:%S").replace(
        tzinfo=datetime.timezone.utc) for s in df.pop("Date Time")]
    wv = df["wv (m/s)"]
    bad_wv = wv == -9999.0
    wv[bad_wv] = 0.0
    max_wv = df["max. wv (m/s)"]
    bad_max_wv = max_wv == -9999.0
    max_wv[bad_max_wv] = 0.0

    wv = df.pop("wv (m/s)")
    max_wv = df.pop("max. wv (m/s)")
    # Convert to radians.
    wd_rad = df.pop("wd (deg)") * np.pi / 180
    # Calculate the wind x and y components.
    df["Wx"] = wv * np.cos(wd_rad)
    df["Wy"] = wv * np.sin(wd_rad)
    # Calculate the max wind x and y components.
    df["max Wx"] = max_wv * np.cos(wd_rad)
    df["max Wy"] = max_wv * np.sin(wd_rad)

    timestamp_s = np.array([d.timestamp() for d in date_time])  # date_time.map(...)
    day = 24 * 60 * 60
    year = (365.2425) * day
    df["Day sin"] = np.sin(timestamp_s * (2 * np.pi / day))
    df["Day cos"] = np.cos(timestamp_s * (2 * np.pi / day))
    df["Year sin"] = np.sin(timestamp_s * (2 * np.pi / year))
    df["Year cos"] = np.cos(timestamp_s * (2 * np.pi / year))
    return df, timestamp_s


def _split_and_normalize(df):
    column_indices = {name: i for i, name in enumerate(df)}  # enumerate(df.columns)
    columns = list(df)
    df = np.stack([df[name] for name in columns], axis=1)  # the frame's values
    n = len(df)
    train_df = df[0:int(n * 0.7)]
    val_df = df[int(n * 0.7):int(n * 0.9)]
    test_df = df[int(n * 0.9):]
    num_features = df.shape[1]
    train_mean = train_df.mean(axis=0)
    train_std = train_df.std(axis=0, ddof=1)  # pandas' std is the sample one
    train_df = (train_df - train_mean) / train_std
    val_df = (val_df - train_mean) / train_std
    test_df = (test_df - train_mean) / train_std
    return columns, column_indices, num_features, train_df, val_df, test_df


class WindowGenerator:
    """The tutorial's window maker; the frames are 2-D arrays and `columns` their names
    (the tutorial reads them from train_df.columns). `plot` is left out (matplotlib)."""

    def __init__(self, input_width, label_width, shift, train_df, val_df, test_df, columns,
                 label_columns=None):
        # Store the raw data.
        self.train_df = train_df
        self.val_df = val_df
        self.test_df = test_df
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

    def __repr__(self):
        return "\n".join([
            f"Total window size: {self.total_window_size}",
            f"Input indices: {self.input_indices}",
            f"Label indices: {self.label_indices}",
            f"Label column name(s): {self.label_columns}"])

    def split_window(self, features):
        inputs = features[:, self.input_slice, :]
        labels = features[:, self.labels_slice, :]
        if self.label_columns is not None:
            labels = tf.stack(
                [labels[:, :, self.column_indices[name]] for name in self.label_columns],
                axis=-1)
        # Slicing doesn't preserve static shape information, so set the shapes manually.
        # (Tensor.set_shape: xlaflow's tensors are jax.Arrays with static shapes, and
        # tf.ensure_shape checks the same thing.)
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

    @property
    def example(self):
        """Get and cache an example batch of `inputs, labels` for plotting."""
        result = getattr(self, "_example", None)
        if result is None:
            # No example batch was found, so get one from the `.train` dataset
            result = next(iter(self.train))
            # And cache it for next time
            self._example = result
        return result




def _windowed_step_mae(frame, width):
    """NumPy: mean |x[t+1] - x[t]| over every column and every window of `width` labels."""
    step = np.abs(np.diff(frame.astype(np.float32), axis=0))
    return np.lib.stride_tricks.sliding_window_view(step, width, axis=0).mean()


def _multi_output_setup():
    rng = np.random.default_rng(251)
    df, _ = _engineered_frame(_weather_csv_columns(2000, rng))
    columns, _, num_features, train_df, val_df, test_df = \
        _split_and_normalize(df)
    frames = dict(train_df=train_df, val_df=val_df, test_df=test_df, columns=columns)
    return num_features, frames


class Baseline(tf.keras.Model):
    def __init__(self, label_index=None):
        super().__init__()
        self.label_index = label_index

    def call(self, inputs):
        if self.label_index is None:
            return inputs
        result = inputs[:, :, self.label_index]
        return result[:, :, tf.newaxis]


class ResidualWrapper(tf.keras.Model):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def call(self, inputs, *args, **kwargs):
        delta = self.model(inputs, *args, **kwargs)
        # The prediction for each time step is the input
        # from the previous time step plus the delta
        # calculated by the model.
        return inputs + delta


MAX_EPOCHS = 4  # the tutorial's 20: a few epochs keep the test in seconds


def compile_and_fit(model, window, patience=2):
    early_stopping = tf.keras.callbacks.EarlyStopping(monitor="val_loss",
                                                      patience=patience, mode="min")
    model.compile(loss=tf.keras.losses.MeanSquaredError(),
                  optimizer=tf.keras.optimizers.Adam(),
                  metrics=[tf.keras.metrics.MeanAbsoluteError()])
    history = model.fit(window.train, epochs=MAX_EPOCHS, validation_data=window.val,
                        callbacks=[early_stopping])
    return history


def test_multi_output_baseline_and_dense_predict_every_column():
    num_features, frames = _multi_output_setup()
    single_step_window = WindowGenerator(
        # `WindowGenerator` returns all features as labels if you
        # don't set the `label_columns` argument.
        input_width=1, label_width=1, shift=1, **frames)
    wide_window = WindowGenerator(input_width=24, label_width=24, shift=1, **frames)
    for example_inputs, example_labels in wide_window.train.take(1):
        assert example_inputs.shape == (32, 24, num_features)
        assert example_labels.shape == (32, 24, num_features)

    baseline = Baseline()
    baseline.compile(loss=tf.keras.losses.MeanSquaredError(),
                     metrics=[tf.keras.metrics.MeanAbsoluteError()])
    val_performance = {}
    performance = {}
    val_performance["Baseline"] = baseline.evaluate(wide_window.val)
    performance["Baseline"] = baseline.evaluate(wide_window.test, verbose=0)
    baseline_mae = _windowed_step_mae(frames["test_df"], 24)
    assert performance["Baseline"][1] == pytest.approx(baseline_mae, rel=1e-5)
    assert val_performance["Baseline"][1] == pytest.approx(
        _windowed_step_mae(frames["val_df"], 24), rel=1e-5)

    dense = tf.keras.Sequential([
        tf.keras.layers.Dense(units=64, activation="relu"),
        tf.keras.layers.Dense(units=64, activation="relu"),
        tf.keras.layers.Dense(units=num_features)
    ])
    history = compile_and_fit(dense, single_step_window)
    assert 1 <= len(history.history["loss"]) <= MAX_EPOCHS
    val_performance["Dense"] = dense.evaluate(single_step_window.val)
    performance["Dense"] = dense.evaluate(single_step_window.test, verbose=0)
    assert dense(wide_window.example[0]).shape == (32, 24, num_features)
    # the wind columns are noise (the baseline's step doubles their spread) and the clock
    # columns turn a quarter day a step: an untrained model is near 0.8, a trained one far
    # under the baseline
    assert performance["Dense"][1] < 0.6 * baseline_mae, (performance, baseline_mae)
    assert [f"{name:15s}: {value[1]:0.4f}" for name, value in performance.items()] == [
        f"Baseline       : {baseline_mae:0.4f}",
        f"Dense          : {performance['Dense'][1]:0.4f}"]


def test_multi_output_lstm_and_a_residual_lstm_that_starts_at_its_input():
    num_features, frames = _multi_output_setup()
    wide_window = WindowGenerator(input_width=24, label_width=24, shift=1, **frames)
    baseline_mae = _windowed_step_mae(frames["test_df"], 24)
    performance = {}

    lstm_model = tf.keras.models.Sequential([
        # Shape [batch, time, features] => [batch, time, lstm_units]
        tf.keras.layers.LSTM(32, return_sequences=True),
        # Shape => [batch, time, features]
        tf.keras.layers.Dense(units=num_features)
    ])
    compile_and_fit(lstm_model, wide_window)
    # the tutorial's later revisions keep dicts (evaluate's return_dict=True) and index
    # them by metric name; the values are the list form's, named by metrics_names
    performance["LSTM"] = lstm_model.evaluate(wide_window.test, verbose=0, return_dict=True)
    assert performance["LSTM"] == pytest.approx(dict(zip(
        lstm_model.metrics_names, lstm_model.evaluate(wide_window.test, verbose=0))))

    residual_lstm = ResidualWrapper(
        tf.keras.Sequential([
            tf.keras.layers.LSTM(32, return_sequences=True),
            tf.keras.layers.Dense(
                num_features,
                # The predicted deltas should start small.
                # Therefore, initialize the output layer with zeros.
                kernel_initializer=tf.initializers.zeros())
        ]))
    inputs = wide_window.example[0]
    # untrained, the wrapper is the baseline: "the next step is this step", exactly
    np.testing.assert_array_equal(residual_lstm(inputs), inputs)
    compile_and_fit(residual_lstm, wide_window)
    performance["Residual LSTM"] = residual_lstm.evaluate(wide_window.test, verbose=0,
                                                          return_dict=True)
    assert residual_lstm(inputs).shape == (32, 24, num_features)
    assert not np.array_equal(residual_lstm(inputs), inputs)
    metric_name = "mean_absolute_error"
    for name, value in performance.items():
        assert value[metric_name] < 0.7 * baseline_mae, (name, value, baseline_mae)
