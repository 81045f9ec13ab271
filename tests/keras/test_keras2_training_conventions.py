"""Keras 2 conventions of fit/evaluate the training guide relies on: rank-1 labels reach
metrics as (batch, 1), fit's own steps never raise RetracingWarning, hooks get their logs
positionally, a None loss entry skips an output, and a whole-batch scalar is a graph
tensor."""

import numpy as np
import pytest

import xlaflow as xf

keras = xf.keras
layers = keras.layers


def _model(outputs=3):
    inputs = keras.Input((4,))
    return keras.Model(inputs, layers.Dense(outputs)(inputs))


def test_rank_one_labels_reach_a_metric_as_a_column():
    shapes = []

    class LabelShape(keras.metrics.Metric):
        def __init__(self):
            super().__init__(name="label_shape")
            self.rows = self.add_weight(name="rows", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            shapes.append(tuple(y_true.shape))
            # a row-by-row comparison: (8, 1) == (8, 1), not an (8, 8) broadcast
            hits = xf.cast(xf.cast(y_true, "int32") == xf.reshape(
                xf.cast(xf.argmax(y_pred, axis=1), "int32"), (-1, 1)), "float32")
            self.rows.assign_add(xf.reduce_sum(hits))

        def result(self):
            return self.rows

    model = _model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=[LabelShape()])
    x = np.random.default_rng(0).random((8, 4)).astype("float32")
    y = np.arange(8) % 3
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert shapes[-1] == (8, 1)
    assert logs["label_shape"] == np.sum(model.predict(x, verbose=0).argmax(1) == y)


def test_fit_on_many_batch_shapes_raises_no_retracing_warning():
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((16, 4), "float32")
    for n in range(1, 9):  # eight batch shapes: past the warning threshold of 5
        data = xf.data.Dataset.from_tensor_slices((x[:n], x[:n, :3])).batch(16)
        model.fit(data, verbose=0)
    assert model.trainer._compiled_train_step.experimental_get_tracing_count() >= 8


def test_callback_hooks_get_their_logs_positionally():
    seen = []

    class Strict(keras.callbacks.Callback):
        def on_train_begin(self, logs):
            seen.append(("train_begin", logs))

        def on_epoch_begin(self, epoch, logs):
            seen.append(("epoch_begin", logs))

        def on_batch_end(self, batch, logs):
            seen.append(("batch_end", sorted(logs)))

    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 4), "float32")
    model.fit(x, x[:, :3], batch_size=4, callbacks=[Strict()], verbose=0)
    assert seen == [("train_begin", {}), ("epoch_begin", {}), ("batch_end", ["loss"])]


def test_a_none_loss_entry_leaves_that_output_untrained():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, [layers.Dense(1, name="a")(inputs),
                                 layers.Dense(2, name="b")(inputs)])
    model.compile(optimizer="sgd", loss=[None, "mse"])
    x = np.random.default_rng(1).random((8, 4)).astype("float32")
    ya, yb = np.zeros((8, 1), "float32"), np.ones((8, 2), "float32")
    _, b = model.predict(x, verbose=0)
    loss = model.evaluate(x, [ya, yb], batch_size=8, verbose=0)
    loss = loss[0] if isinstance(loss, list) else loss
    assert loss == pytest.approx(np.mean((yb - b) ** 2), rel=1e-5)
    before = model.get_layer("a").get_weights()
    model.fit(x, [ya, yb], batch_size=8, verbose=0)
    for old, new in zip(before, model.get_layer("a").get_weights()):
        np.testing.assert_array_equal(old, new)


def test_a_whole_batch_scalar_is_a_graph_tensor():
    inputs = keras.Input((3,))
    hidden = layers.Dense(2)(inputs)
    total = xf.reduce_sum(hidden) * 0.5
    assert tuple(total.shape) == ()
    model = keras.Model(inputs, [hidden, total])
    x = np.arange(12, dtype="float32").reshape(4, 3)
    kernel, bias = model.get_weights()
    _, scalar = model(x)
    assert float(scalar) == pytest.approx(0.5 * np.sum(x @ kernel + bias), rel=1e-5)


def test_an_input_one_rank_off_with_a_size_1_last_axis_is_conformed_as_keras_2():
    # Keras 2's _conform_to_reference_input: a (n,) column feeds Input(shape=(1,)) (the
    # regression tutorial's horsepower_model.predict(horsepower[:10])), and (n, 3, 1)
    # feeds Input(shape=(3,)); other rank mismatches are still refused
    column = np.arange(6, dtype=np.float32)
    seq = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    kernel, bias = seq.get_weights()
    want = column[:, None] @ kernel + bias
    np.testing.assert_allclose(seq.predict(column, verbose=0), want, rtol=1e-6)
    np.testing.assert_allclose(seq(column), want, rtol=1e-6)
    seq.compile(optimizer="sgd", loss="mse")
    assert np.isfinite(seq.evaluate(column, column, verbose=0))
    seq.fit(column, column, epochs=1, verbose=0)

    inp = keras.Input((3,))
    functional = keras.Model(inp, keras.layers.Dense(2)(inp))
    k, b = functional.get_weights()
    x = np.arange(12, dtype=np.float32).reshape(4, 3, 1)
    np.testing.assert_allclose(functional(x), x[..., 0] @ k + b, rtol=1e-6)
    np.testing.assert_allclose(functional.predict(x, verbose=0), x[..., 0] @ k + b, rtol=1e-6)
    with pytest.raises(ValueError, match=r"has shape \(4, 3, 2\)"):
        functional.predict(np.ones((4, 3, 2), np.float32), verbose=0)


def test_validation_batch_size_applies_to_validation_split_too():
    # Keras 2 builds the split's validation data handler with validation_batch_size
    class CountValidationBatches(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = 0

        def on_test_batch_end(self, batch, logs=None):
            self.batches += 1

    model = keras.Sequential([keras.layers.Dense(1, input_shape=(2,))])
    model.compile("sgd", "mse")
    counter = CountValidationBatches()
    model.fit(np.ones((20, 2), np.float32), np.ones(20, np.float32), batch_size=10,
              validation_split=0.5, validation_batch_size=5, epochs=1, verbose=0,
              callbacks=[counter])
    assert counter.batches == 2  # 10 validation examples in batches of 5
