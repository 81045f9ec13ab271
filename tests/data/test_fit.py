"""fit/evaluate/predict on xf.data Datasets: same result as arrays in the same order,
batches prefetched to the device ahead of the step, repeating datasets with steps."""

import time

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import callbacks, layers, models

RNG = np.random.default_rng(5)
X = RNG.normal(size=(96, 6)).astype(np.float32)
Y = (X[:, 0] > X[:, 1]).astype(np.int32)


def build():
    xf.random.set_global_seed(11)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_fit_on_a_dataset_equals_fit_on_the_same_arrays():
    on_arrays, on_dataset = build(), build()
    on_arrays.fit(X, Y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    dataset = xf.data.Dataset.from_tensor_slices((X, Y)).batch(16).prefetch(2)
    history = on_dataset.fit(dataset, epochs=3, verbose=0,
                             validation_data=xf.data.Dataset.from_tensor_slices(
                                 (X[:32], Y[:32])).batch(8))
    for a, b in zip(on_arrays.get_weights(), on_dataset.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert "val_loss" in history.history
    np.testing.assert_allclose(on_dataset.evaluate(dataset, verbose=0),
                               on_arrays.evaluate(X, Y, batch_size=16, verbose=0), rtol=1e-6)
    features = xf.data.Dataset.from_tensor_slices(X).batch(32)
    np.testing.assert_array_equal(on_dataset.predict(features, verbose=0),
                                  on_arrays.predict(X, verbose=0))


def test_a_repeating_dataset_needs_steps_per_epoch():
    model = build()
    forever = xf.data.Dataset.from_tensor_slices((X, Y)).shuffle(96, seed=0).batch(16) \
        .repeat()
    with pytest.raises(ValueError, match="repeats forever: pass steps_per_epoch"):
        model.fit(forever, epochs=1, verbose=0)
    history = model.fit(forever, epochs=2, steps_per_epoch=4, verbose=0)
    assert len(history.history["loss"]) == 2
    assert int(model.optimizer.iterations.numpy()) == 8


def test_prefetch_prepares_batches_while_the_step_runs():
    produced = []

    def slow_identity(x, y):
        produced.append(1)
        time.sleep(0.002)
        return x, y

    dataset = xf.data.Dataset.from_tensor_slices((X, Y)).map(slow_identity).batch(16)
    ahead = []

    def record(batch, logs):
        # while batch `batch` is being consumed, the pipeline has already made more
        deadline = time.monotonic() + 2.0
        while len(produced) < 16 * (batch + 2) and time.monotonic() < deadline:
            time.sleep(0.001)
        ahead.append(len(produced) - 16 * (batch + 1))

    model = build()
    with xf.config.override(device_prefetch="on"):  # 'auto' leaves it off on CPU
        model.fit(dataset, epochs=1, verbose=0,
                  callbacks=[callbacks.LambdaCallback(on_train_batch_begin=record)])
    assert all(a >= 16 for a in ahead[:-1]), ahead  # at least one batch ahead of the step


def test_iterating_a_dataset_inside_a_compiled_function_is_explained():
    dataset = xf.data.Dataset.range(4)

    @xf.function
    def total(x):
        for element in dataset:
            x = x + element
        return x

    with pytest.raises(TypeError, match="Input pipelines run on the host, in Python"):
        total(xf.constant(0))


def test_fit_takes_a_grain_dataset_like_any_iterable_of_batches():
    grain = pytest.importorskip("grain")  # the optional package (in the test extra)
    source = grain.MapDataset.source(list(range(96))).map(
        lambda i: (X[i], Y[i])).batch(16)
    on_grain, on_arrays = build(), build()
    on_grain.fit(source, epochs=2, verbose=0)
    on_arrays.fit(X, Y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(on_grain.get_weights(), on_arrays.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("steps", [6, 3, 4])
def test_steps_per_epoch_over_a_finite_dataset_continues_one_pass_as_keras2(steps, caplog):
    seen = []

    class Count(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(0)

        def on_train_batch_end(self, batch, logs=None):
            seen[-1] += 1

    dataset = xf.data.Dataset.from_tensor_slices((X, Y)).batch(16)  # 6 batches
    model = build()
    history = model.fit(dataset, epochs=3, steps_per_epoch=steps, verbose=0,
                        callbacks=[Count()])
    # Keras 2 (DatasetAdapter.should_recreate_iterator): steps == the length reads a new
    # pass each epoch; other steps continue one pass, which runs out: the epoch it ends in
    # still ends, and fit stops there (an epoch begun at its very end trains no batch)
    assert seen == {6: [6, 6, 6], 3: [3, 3, 0], 4: [4, 2]}[steps]
    assert len(history.history["loss"]) == len(seen)
    assert int(model.optimizer.iterations) == (18 if steps == 6 else 6)  # or each batch once
    ran_out = [r for r in caplog.records if "ran out of data" in r.getMessage()]
    assert len(ran_out) == (0 if steps == 6 else 1)
