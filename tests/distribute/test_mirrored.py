"""MirroredStrategy on the two forced host CPU devices (tests/conftest.py): the batch is
really sharded, variables are replicated, and training matches one device."""

import jax
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models
from xlaflow.training import data as data_lib

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 8)).astype(np.float32)
Y = (X[:, 0] - X[:, 1] > 0).astype(np.int32)


def build(seed=3):
    xf.random.set_global_seed(seed)
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
                               layers.BatchNormalization(),
                               layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_devices_by_tf_names():
    cpus = xf.config.list_physical_devices("CPU")
    assert [d.name for d in cpus] == ["/physical_device:CPU:0", "/physical_device:CPU:1"]
    assert xf.config.list_physical_devices("GPU") == [] or jax.default_backend() == "gpu"
    with xf.device("cpu:1"):
        v = xf.Variable(np.ones(3, np.float32))
        w = xf.constant([1.0, 2.0])
    assert v.value.devices() == {jax.devices("cpu")[1]}
    assert w.devices() == {jax.devices("cpu")[1]}
    with pytest.raises(ValueError, match="has 2 CPU device"):
        xf.device("cpu:7")


@pytest.mark.two_devices
def test_fit_under_mirrored_strategy_matches_one_device():
    single = build()
    single.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    strategy = xf.distribute.MirroredStrategy()
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        mirrored = build()
    assert all(w.value.sharding.is_fully_replicated and len(w.value.devices()) == 2
               for w in mirrored.weights)
    mirrored.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for a, b in zip(single.get_weights(), mirrored.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(single.predict(X, verbose=0), mirrored.predict(X, verbose=0),
                               rtol=1e-5, atol=1e-5)
    assert np.allclose(single.evaluate(X, Y, verbose=0), mirrored.evaluate(X, Y, verbose=0),
                       rtol=1e-5)


@pytest.mark.two_devices
def test_the_batch_is_sharded_inside_the_step():
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        w = xf.Variable(np.ones((8, 2), np.float32))
    seen = {}

    @xf.function
    def step(x):
        seen["x"] = x.sharding if hasattr(x, "sharding") else None
        return xf.reduce_sum(x @ w)

    batch = strategy.distribute_batch(X[:16])
    assert batch.sharding.spec == jax.sharding.PartitionSpec("batch")
    assert [s.data.shape for s in batch.addressable_shards] == [(8, 8), (8, 8)]
    (per_replica,) = next(iter(strategy.experimental_distribute_dataset(
        xf.data.Dataset.from_tensor_slices((X[:16],)).batch(16))))
    out = strategy.run(step, args=(per_replica,))  # each replica: its 8 rows
    np.testing.assert_allclose(strategy.reduce(xf.distribute.ReduceOp.SUM, out, axis=None),
                               (X[:16] @ np.ones((8, 2))).sum(), rtol=1e-5)
    lowered = step.get_concrete_function(batch).as_text()
    assert "mhlo.sharding" in lowered or "sharding" in lowered


@pytest.mark.two_devices
def test_uneven_batches_are_refused_before_training():
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        model = build()
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"batches of \[1, 16\] examples cannot be split "
                                         "evenly over 2 replicas"):
        model.fit(X[:17], Y[:17], epochs=1, batch_size=16, verbose=0)
    with pytest.raises(ValueError, match="cannot be split evenly over 2 replicas"):
        model.predict(X[:15], batch_size=15, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_custom_loop_with_distributed_dataset():
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        model = build()
        optimizer = xf.keras.optimizers.SGD(0.1)
    loss_fn = xf.keras.losses.SparseCategoricalCrossentropy()

    @xf.function
    def train_step(x, y):
        with xf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    batches = [(X[i:i + 16], Y[i:i + 16]) for i in range(0, 64, 16)]
    # run gives each replica's mean loss; their mean is the loss over the global batch
    losses = [strategy.reduce("MEAN", strategy.run(train_step, args=b), axis=None)
              for b in strategy.experimental_distribute_dataset(batches)]
    assert all(np.isfinite(float(v)) for v in losses)
    assert float(losses[-1]) < float(losses[0])


def test_dataset_batches_arrive_sharded():
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        model = build()
    seen = []

    class Spy(xf.keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    dataset = xf.data.Dataset.from_tensor_slices((X, Y)).batch(16)
    data = data_lib.adapt(dataset)
    data.place = strategy.distribute_batch
    with xf.config.override(device_prefetch="on"):
        iterator = data._new_iterator()
    x, y = next(iterator)
    iterator.close()
    assert x.sharding.spec == jax.sharding.PartitionSpec("batch")
    assert y.sharding.spec == jax.sharding.PartitionSpec("batch")
    single = build()
    single.fit(dataset, epochs=1, verbose=0)
    model.fit(dataset, epochs=1, verbose=0, callbacks=[Spy()])
    assert seen == [0, 1, 2, 3]
    for a, b in zip(single.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
