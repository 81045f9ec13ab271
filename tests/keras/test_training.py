"""compile/fit/evaluate/predict against a hand-written JAX loop (Keras' Adam), and their errors."""

import csv

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import callbacks, layers, models

RNG = np.random.default_rng(0)
X = RNG.normal(size=(100, 6)).astype(np.float32)
Y = (X[:, :3].sum(-1) > 0).astype(np.int32) + (X[:, 3] > 1).astype(np.int32)


def mlp(**compile_options):
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=compile_options.pop("optimizer", xf.keras.optimizers.Adam(0.01)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  **compile_options)
    return model


def hand_written(weights, epochs, batch_size):
    """The same model and updates in plain JAX, over the same batches."""
    params = [jnp.asarray(w) for w in weights]
    # Keras' Adam (not optax.adam: Keras adds epsilon to sqrt(v), bias correction in the
    # rate), written out: lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t); w -= lr_t m / (sqrt(v) + eps)
    moments = [(jnp.zeros_like(p), jnp.zeros_like(p)) for p in params]
    t = 0

    def loss_fn(p, x, y):
        h = jax.nn.relu(x @ p[0] + p[1])
        probs = jax.nn.softmax(h @ p[2] + p[3])
        log_p = jnp.log(jnp.clip(probs / probs.sum(-1, keepdims=True), 1e-7, 1 - 1e-7))
        return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], 1))

    for _ in range(epochs):
        for i in range(0, len(X), batch_size):
            grads = jax.grad(loss_fn)(params, X[i:i + batch_size], Y[i:i + batch_size])
            t += 1
            lr_t = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
            moments = [(0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g)
                       for (m, v), g in zip(moments, grads)]
            params = [p - lr_t * m / (jnp.sqrt(v) + 1e-7) for p, (m, v) in zip(params, moments)]
    return params


def test_fit_matches_hand_written_jax_optax_loop():
    model = mlp()
    start = model.get_weights()
    history = model.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    expected = hand_written(start, 3, 16)
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)
    assert set(history.history) == {"loss", "accuracy"} and len(history.history["loss"]) == 3
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_steps_per_execution_gives_the_same_weights():
    a, b = mlp(), mlp(steps_per_execution=4)
    b.set_weights(a.get_weights())
    a.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    b.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    block = b.trainer._compiled_train_block
    eqns = {e.primitive.name for e in block.get_concrete_function(
        np.zeros((4, 8, 6), np.float32), np.zeros((4, 8), np.int32), None).jaxpr.eqns}
    assert "scan" in eqns


def test_partial_last_batch_compiles_once_not_every_epoch():
    model = mlp()
    model.fit(X, Y, epochs=1, batch_size=32, verbose=0)  # 3 full batches and one of 4
    traces = model.trainer._compiled_train_step.tracing_count
    model.fit(X, Y, epochs=3, batch_size=32, verbose=0)
    assert traces == 2 and model.trainer._compiled_train_step.tracing_count == traces


def test_evaluate_and_predict():
    model = mlp()
    model.fit(X, Y, epochs=2, batch_size=10, verbose=0)
    loss, accuracy = model.evaluate(X, Y, batch_size=7, verbose=0)
    probs = np.asarray(model(X))
    expected_loss = -np.log(np.clip(probs[np.arange(100), Y], 1e-7, 1)).mean()
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-4)
    np.testing.assert_allclose(accuracy, (probs.argmax(-1) == Y).mean(), rtol=1e-6)
    np.testing.assert_allclose(model.predict(X, batch_size=33, verbose=0), probs, rtol=1e-5,
                               atol=1e-6)
    assert model.evaluate(X, Y, verbose=0, return_dict=True).keys() == {"loss", "accuracy"}
    assert model.metrics_names == ["loss", "accuracy"]


def test_on_batch_methods():
    model = mlp()
    loss, acc = model.train_on_batch(X[:20], Y[:20])
    assert np.isfinite(loss) and 0 <= acc <= 1
    assert model.test_on_batch(X[:20], Y[:20], return_dict=True).keys() == {"loss", "accuracy"}
    assert model.predict_on_batch(X[:5]).shape == (5, 3)


def test_validation_split_and_data():
    model = mlp()
    h = model.fit(X, Y, epochs=2, validation_split=0.2, verbose=0)
    assert {"val_loss", "val_accuracy"} <= set(h.history)
    h = model.fit(X, Y, epochs=1, validation_data=(X[:10], Y[:10]), verbose=0)
    np.testing.assert_allclose(h.history["val_loss"][0], model.evaluate(X[:10], Y[:10],
                                                                        verbose=0)[0],
                               rtol=1e-5)


def test_iterable_of_batches():
    model = mlp()
    batches = [(X[i:i + 25], Y[i:i + 25]) for i in range(0, 100, 25)]
    history = model.fit(batches, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    generator = ((X[i:i + 25], Y[i:i + 25]) for i in range(0, 100, 25))
    model.fit(generator, epochs=1, verbose=0)


@pytest.mark.parametrize("x, y, message", [
    (X[:, :5], Y, r"has shape \(32, 5\), but the model expects \(None, 6\)"),
    (X[:, :, None], Y, r"has shape \(32, 6, 1\), but the model expects \(None, 6\)"),
    (X, Y[:90], "x has 100 examples but y has 90"),
    (X, Y + 5, r"labels in \[0, 3\) .* received labels in \[5, 7\]"),
])
def test_bad_inputs_fail_before_any_weight_changes(x, y, message):
    model = mlp()
    before = model.get_weights()
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_fit_before_compile_is_an_error():
    model = models.Sequential([layers.Dense(2)])
    with pytest.raises(RuntimeError, match=r"call compile\(optimizer=..., loss=...\) before "
                                           r"fit\(\)"):
        model.fit(X, Y)


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


def test_subclassed_model_with_python_control_flow():
    class Gated(models.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(8, activation="relu")
            self.out = layers.Dense(3, activation="softmax")

        def call(self, inputs, training=None):
            h = self.hidden(inputs)
            if jnp.mean(h) > 100.0:  # a tensor condition: AutoGraph makes it lax.cond
                h = h * 0.0
            return self.out(h)

    model = Gated()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(X, Y, epochs=3, batch_size=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert len(model.trainable_weights) == 4


def test_summary_and_weights_round_trip(capsys):
    model = mlp()
    model.summary()
    text = capsys.readouterr().out
    assert "(None, 8)" in text and "Total params: 83" in text
    clone = mlp()
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(X, verbose=0), model.predict(X, verbose=0))


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
    assert len(lines) == 2 and lines[0].startswith("2/2 [")


def test_class_weight_scales_each_examples_loss():
    a, b = mlp(), mlp()
    b.set_weights(a.get_weights())
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    a.fit(X, Y, epochs=1, batch_size=20, shuffle=False, verbose=0, class_weight=weights)
    b.fit(X, Y, epochs=1, batch_size=20, shuffle=False, verbose=0,
          sample_weight=np.asarray([weights[int(c)] for c in Y], np.float32))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)
    with pytest.raises(ValueError, match=r"class_weight has no weight for classes \[2\]"):
        mlp().fit(X, Y, epochs=1, verbose=0, class_weight={0: 1.0, 1: 1.0})


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


def test_list_of_batches_is_read_once_per_epoch():
    model = mlp()
    batches = [(X[i:i + 25], Y[i:i + 25]) for i in range(0, 100, 25)]
    assert model.evaluate(batches, verbose=0)[0] == pytest.approx(
        model.evaluate(X, Y, batch_size=25, verbose=0)[0], rel=1e-5)


def test_steps_per_epoch_with_steps_per_execution():
    model = mlp(steps_per_execution=2)
    model.fit(X, Y, epochs=1, batch_size=10, steps_per_epoch=3, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 3


def test_shuffled_fits_are_reproducible_after_set_random_seed():
    results = []
    for _ in range(2):
        xf.keras.utils.set_random_seed(3)
        model = mlp()
        model.fit(X, Y, epochs=2, batch_size=16, shuffle=True, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_validation_steps_reads_the_same_batches_each_epoch():
    seen = []

    class Recording:
        def __iter__(self):
            for i in range(0, 100, 10):
                seen.append(i)
                yield X[i:i + 10], Y[i:i + 10]

    model = mlp()
    model.fit(X, Y, epochs=3, verbose=0, validation_data=Recording(), validation_steps=2)
    assert seen == [0, 10] * 3


def test_list_batches_and_nested_list_inputs():
    model = mlp()
    model.fit(([X[i:i + 25], Y[i:i + 25]] for i in range(0, 100, 25)), epochs=1, verbose=0)
    model.fit(X.tolist(), Y, epochs=1, verbose=0)


def test_model_checkpoint_skips_missing_metric_with_a_warning(tmp_path):
    model = mlp()
    with pytest.warns(RuntimeWarning, match="metric 'val_loss' is not in the logs"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(
            str(tmp_path / "best"), save_best_only=True, save_weights_only=True)])


class TrackedLoss(xf.keras.Model):
    """TF2's 'customizing fit' model: its own loss tracker, listed by `metrics`."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1)
        self.loss_tracker = xf.keras.metrics.Mean(name="loss")

    def call(self, x, training=None):
        return self.dense(x)

    def train_step(self, data):
        x, y = data
        with xf.GradientTape() as tape:
            loss = xf.keras.losses.MeanSquaredError()(y, self(x, training=True))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]


def test_a_models_own_metric_trackers_reset_each_epoch_as_in_keras():
    x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(32, 1)).astype(np.float32)
    model = TrackedLoss()
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0))  # weights stay: losses repeat
    seen = []
    logger = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(
        float(logs["loss"])))
    model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0, callbacks=[logger])
    p = model.predict(x, verbose=0)
    first, second = np.mean((p[:16] - y[:16]) ** 2), np.mean((p[16:] - y[16:]) ** 2)
    np.testing.assert_allclose(seen, [first, (first + second) / 2] * 2, rtol=1e-5)


def test_class_weights_weigh_training_not_the_validation_split():
    model = mlp(optimizer=xf.keras.optimizers.SGD(0.0))
    history = model.fit(X, Y, epochs=1, verbose=0, validation_split=0.25, shuffle=False,
                        class_weight={0: 10.0, 1: 10.0, 2: 10.0})
    cut = int(len(X) * 0.75)
    plain = model.evaluate(X[cut:], Y[cut:], verbose=0, return_dict=True)
    np.testing.assert_allclose(history.history["val_loss"][0], plain["loss"], rtol=1e-5)
    trained = model.evaluate(X[:cut], Y[:cut], verbose=0, return_dict=True)
    np.testing.assert_allclose(history.history["loss"][0], 10 * trained["loss"], rtol=1e-4)


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


class Customized(xf.keras.Model):
    """TF 2's 'customizing what happens in fit': train/test/predict steps of its own, with
    compiled_loss and compiled_metrics."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1)

    def call(self, x, training=None):
        return self.dense(x)

    def train_step(self, data):
        x, y = data
        with xf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compiled_loss(y, y_pred, regularization_losses=self.losses)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.compiled_metrics.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        self.compiled_metrics.update_state(y, 2.0 * self(x, training=False))  # its own rule
        return {m.name: m.result() for m in self.compiled_metrics.metrics}

    def predict_step(self, data):
        return self(data, training=False) + 100.0


def test_custom_train_test_and_predict_steps_with_compiled_loss_and_metrics():
    x = np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(30, 1)).astype(np.float32)
    model = Customized()
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0), loss="mse", metrics=["mae"])
    history = model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    p = np.asarray(model(x))
    np.testing.assert_allclose(history.history["loss"], [np.mean((p - y) ** 2)], rtol=1e-5)
    np.testing.assert_allclose(history.history["mae"], [np.mean(np.abs(p - y))], rtol=1e-5)
    scores = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)  # test_step
    assert list(scores) == ["mae"]
    np.testing.assert_allclose(scores["mae"], np.mean(np.abs(2 * p - y)),
                               rtol=1e-5)
    np.testing.assert_allclose(model.predict(x, batch_size=8, verbose=0), p + 100.0,
                               rtol=1e-6)  # predict_step


def test_metric_names_and_accuracy_follow_keras():
    x = np.random.default_rng(2).normal(size=(40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    model = models.Sequential([layers.Dense(1, activation="sigmoid", input_shape=(3,))])
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0), loss="mse",
                  metrics=["accuracy", "mae", "acc", xf.keras.metrics.Precision(),
                           xf.keras.metrics.Precision(thresholds=0.7)])
    scores = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(scores) == ["loss", "accuracy", "mae", "acc", "precision", "precision_1"]
    assert model.metrics_names == list(scores)
    p = np.asarray(model(x))[:, 0]
    # with a loss that is no cross-entropy, 'accuracy' follows the shapes: binary here
    np.testing.assert_allclose(scores["accuracy"], np.mean((p > 0.5) == y), rtol=1e-6)
    np.testing.assert_allclose(scores["acc"], scores["accuracy"])
    np.testing.assert_allclose(scores["mae"], np.mean(np.abs(p - y)), rtol=1e-5)
    hits = lambda t: np.sum((p > t) & (y == 1)) / max(np.sum(p > t), 1)
    np.testing.assert_allclose([scores["precision"], scores["precision_1"]],
                               [hits(0.5), hits(0.7)], rtol=1e-5)
    assert len(model.evaluate(x, y, verbose=0)) == 6


def test_loss_weights_of_one_output_validation_freq_lists_and_the_lr_log():
    x = np.random.default_rng(4).normal(size=(16, 6)).astype(np.float32)
    y = np.random.default_rng(5).integers(0, 3, 16)
    weighted, plain = mlp(loss_weights=[3.0]), mlp()
    plain.set_weights(weighted.get_weights())
    np.testing.assert_allclose(weighted.evaluate(x, y, verbose=0)[0],
                               3 * plain.evaluate(x, y, verbose=0)[0], rtol=1e-5)
    seen = []
    logger = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(
        "val_loss" in logs))
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0,
                                          min_delta=100)  # reduces after every epoch
    model = mlp(optimizer=xf.keras.optimizers.SGD(0.1))
    history = model.fit(x, y, epochs=3, verbose=0, validation_data=(x, y),
                        validation_freq=[1, 3], callbacks=[logger, plateau])
    assert seen == [True, False, True]
    # each epoch logs the rate it trained at: the first sets the reference, the second
    # reduces the rate for the third
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.1, 0.05], rtol=1e-6)
    with pytest.raises(ValueError, match=r"validation_freq must be a positive int or a list"):
        model.fit(x, y, validation_freq=0, verbose=0)


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


def test_steps_per_epoch_on_arrays_continues_through_the_data_as_keras():
    x = np.arange(50, dtype=np.float32)[:, None] / 10
    y = np.zeros((50, 1), np.float32)
    model = models.Sequential([layers.Dense(1, input_shape=(1,), kernel_initializer="ones")])
    model.compile(optimizer=xf.keras.optimizers.SGD(0.0), loss="mse")
    history = model.fit(x, y, epochs=4, batch_size=8, steps_per_epoch=3, shuffle=False,
                        verbose=0)
    # 7 batches per pass (the last of 2 rows); epochs take batches 0-2, 3-5, 6 0 1, 2-4
    batches = [x[i:i + 8] for i in range(0, 50, 8)]

    def epoch_loss(ids):
        rows = np.concatenate([batches[i] for i in ids])
        return np.mean(rows[:, 0] ** 2)
    expected = [epoch_loss(ids) for ids in ([0, 1, 2], [3, 4, 5], [6, 0, 1], [2, 3, 4])]
    np.testing.assert_allclose(history.history["loss"], expected, rtol=1e-5)


def test_class_weights_with_a_column_or_list_of_sample_weights():
    model = mlp(optimizer=xf.keras.optimizers.SGD(0.0))
    weights = {0: 1.0, 1: 3.0, 2: 2.0}
    column = np.linspace(0.5, 1.5, len(X)).astype(np.float32)
    a = model.fit(X, Y, epochs=1, batch_size=16, shuffle=False, verbose=0,
                  class_weight=weights, sample_weight=column[:, None]).history["loss"]
    b = model.fit(X, Y, epochs=1, batch_size=16, shuffle=False, verbose=0,
                  class_weight=weights, sample_weight=column).history["loss"]
    np.testing.assert_allclose(a, b, rtol=1e-6)
    c = model.fit(X, Y, epochs=1, batch_size=16, shuffle=False, verbose=0,
                  class_weight=weights, sample_weight=list(column), validation_split=0.2)
    assert "val_loss" in c.history
