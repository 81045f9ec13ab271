"""Distribution regressions found in review: per-replica datasets, the default strategy,
duplicate devices, mixed strategies, and uneven evaluate/predict batches."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models

RNG = np.random.default_rng(5)
X = RNG.normal(size=(32, 4)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int32)


def build(seed=1):
    xf.random.set_global_seed(seed)
    model = models.Sequential([layers.Dense(2, activation="softmax", input_shape=(4,))])
    model.compile(optimizer=xf.keras.optimizers.SGD(0.1),
                  loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.two_devices
def test_datasets_from_function_batch_per_replica_and_join_one_per_replica():
    strategy = xf.distribute.MirroredStrategy()
    sizes = []

    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(16)
        sizes.append((context.num_input_pipelines, context.input_pipeline_id, per_replica))
        return xf.data.Dataset.from_tensor_slices((X, Y)).batch(per_replica)

    with strategy.scope():
        model = build()
    model.fit(strategy.distribute_datasets_from_function(dataset_fn), epochs=1, verbose=0)
    oracle = build()
    oracle.fit(X, Y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert sizes == [(1, 0, 8)]
    assert int(model.optimizer.iterations.numpy()) == 2  # two global batches of 16
    for got, want in zip(model.get_weights(), oracle.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    batches = list(strategy.distribute_datasets_from_function(dataset_fn))
    assert len(batches) == 2
    # each replica's component is one per-replica batch of 8: consecutive batches joined
    for got, want in zip(strategy.experimental_local_results(batches[1][0]),
                         (X[16:24], X[24:])):
        np.testing.assert_array_equal(np.asarray(got), want)
    np.testing.assert_array_equal(np.asarray(strategy.gather(batches[1][1], axis=0)), Y[16:])


def test_the_default_strategy_distributes_datasets_as_they_are():
    strategy = xf.distribute.get_strategy()
    got = list(strategy.distribute_datasets_from_function(
        lambda context: [np.ones((4, 2)) * context.input_pipeline_id]))
    assert len(got) == 1 and got[0].shape == (4, 2)
    iterator = iter(strategy.experimental_distribute_dataset(
        xf.data.Dataset.from_tensor_slices(X).batch(8)))
    np.testing.assert_array_equal(np.asarray(iterator.get_next()), X[:8])
    assert xf.distribute.InputContext().get_per_replica_batch_size(8) == 8
    with pytest.raises(NotImplementedError, match="InputOptions"):
        strategy.experimental_distribute_dataset([X], options=object())


def test_duplicate_devices_are_refused():
    with pytest.raises(ValueError, match="devices must be distinct"):
        xf.distribute.MirroredStrategy(["cpu:0", "cpu:0"])


@pytest.mark.two_devices
def test_mixing_strategies_is_refused_before_training():
    first = xf.distribute.MirroredStrategy(["cpu:0", "cpu:1"])
    second = xf.distribute.MirroredStrategy(["cpu:1"])
    with first.scope():
        model = models.Sequential([layers.Dense(2, input_shape=(4,))])
    with second.scope(), pytest.raises(ValueError, match="created under MirroredStrategy.*"
                                                         "compiled under"):
        model.compile(optimizer="sgd", loss="mse")
    with first.scope(), pytest.raises(ValueError, match="Mixing different strategies"), \
            second.scope():
        pass
    with first.scope(), first.scope():  # the same strategy may be entered again
        pass


@pytest.mark.two_devices
def test_uneven_evaluate_and_predict_batches_are_refused_before_the_first_step():
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        model = build()
    with pytest.raises(ValueError, match=r"batches of \[7, 8\] examples cannot be split"):
        model.evaluate(X[:31], Y[:31], batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"batches of \[7, 8\] examples cannot be split"):
        model.predict(X[:31], batch_size=8, verbose=0)
