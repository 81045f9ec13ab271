"""compile/fit/evaluate/predict against a hand-written JAX loop (Keras' Adam), and their errors.
Callbacks are in test_training_callbacks.py, custom train steps in test_training_custom_steps.py."""


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

    # One jitted step (one program per batch size): op by op, each of its ops would be a
    # program compiled for the full batches and again for the last one (~120 compiles).
    @jax.jit
    def step(params, moments, x, y, lr_t):
        grads = jax.grad(loss_fn)(params, x, y)
        moments = [(0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g)
                   for (m, v), g in zip(moments, grads)]
        return [p - lr_t * m / (jnp.sqrt(v) + 1e-7) for p, (m, v) in zip(params, moments)], \
            moments

    for _ in range(epochs):
        for i in range(0, len(X), batch_size):
            t += 1
            lr_t = np.float32(0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t))
            params, moments = step(params, moments, X[i:i + batch_size], Y[i:i + batch_size],
                                   lr_t)
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


@pytest.mark.usefixtures("host_batches")
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
    # Keras 2 unpacks a list [x, y] (or [x, y, sample_weight]) as the tuple
    h = model.fit(X, Y, epochs=1, validation_data=[X[:10], Y[:10]], verbose=0)
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
    # (X[:, :, None] would be conformed to (None, 6), as Keras 2 squeezes a size-1 last axis)
    (np.stack([X, X], -1), Y, r"has shape \(32, 6, 2\), but the model expects \(None, 6\)"),
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


def test_summary_and_weights_round_trip(capsys):
    model = mlp()
    model.summary()
    text = capsys.readouterr().out
    assert "(None, 8)" in text and "Total params: 83" in text
    clone = mlp()
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(X, verbose=0), model.predict(X, verbose=0))


def test_summary_of_a_model_never_built_is_an_error_as_keras_2(capsys):
    # Keras 2 raises rather than printing a table of unknown shapes and zero parameters
    model = models.Sequential([layers.Dense(2), layers.Dense(3)])
    with pytest.raises(ValueError, match="has not yet been built"):
        model.summary()
    assert capsys.readouterr().out == ""
    model.build((None, 4))
    model.summary()
    assert "Total params: 19" in capsys.readouterr().out
    # Keras 2's InputLayer takes an int shape: Input(shape=(784)) is one of 784 features
    model = models.Sequential([xf.keras.Input(shape=(784)), layers.Dense(1)])
    assert tuple(model.input_shape) == (None, 784) and model.count_params() == 785


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


def test_class_weights_weigh_training_not_the_validation_split():
    model = mlp(optimizer=xf.keras.optimizers.SGD(0.0))
    history = model.fit(X, Y, epochs=1, verbose=0, validation_split=0.25, shuffle=False,
                        class_weight={0: 10.0, 1: 10.0, 2: 10.0})
    cut = int(len(X) * 0.75)
    plain = model.evaluate(X[cut:], Y[cut:], verbose=0, return_dict=True)
    np.testing.assert_allclose(history.history["val_loss"][0], plain["loss"], rtol=1e-5)
    trained = model.evaluate(X[:cut], Y[:cut], verbose=0, return_dict=True)
    np.testing.assert_allclose(history.history["loss"][0], 10 * trained["loss"], rtol=1e-4)


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
