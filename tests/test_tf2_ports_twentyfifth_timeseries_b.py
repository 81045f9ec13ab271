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
import os

import numpy as np
import pytest

import xlaflow as tf
from tests.test_tf2_ports_twentyfifth_timeseries import (  # the tutorial's data and windows
    WindowGenerator,
    _engineered_frame,
    _split_and_normalize,
    _weather_csv_columns,
)


@pytest.fixture(autouse=True)
def _seeded():
    # xlaflow's, NumPy's and Python's streams (fit shuffles with NumPy's)
    tf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


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
    trained = residual_lstm(inputs)  # one eager call: each compiles the LSTM's scan anew
    assert trained.shape == (32, 24, num_features)
    assert not np.array_equal(trained, inputs)
    metric_name = "mean_absolute_error"
    for name, value in performance.items():
        assert value[metric_name] < 0.7 * baseline_mae, (name, value, baseline_mae)
