"""TF's replica-context API on the two forced host CPU devices: strategy.run per replica,
PerReplica values, reduce / local results, xf.nn's loss scaling, and the ported custom
training loop of TF's "Custom training with tf.distribute.Strategy" tutorial."""

import jax
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.keras import layers, models

RNG = np.random.default_rng(7)
X = RNG.normal(size=(64, 8)).astype(np.float32)
Y = (X[:, 0] > X[:, 1]).astype(np.int32)
SUM, MEAN = xf.distribute.ReduceOp.SUM, xf.distribute.ReduceOp.MEAN


def distributed(strategy, *arrays):
    """The arrays as one batch of a distributed dataset (each replica gets its rows)."""
    dataset = xf.data.Dataset.from_tensor_slices(arrays).batch(len(arrays[0]))
    return next(iter(strategy.experimental_distribute_dataset(dataset)))


@pytest.mark.two_devices
def test_contexts_follow_tf():
    default = xf.distribute.get_replica_context()
    assert default is not None and default.num_replicas_in_sync == 1
    assert int(default.replica_id_in_sync_group) == 0
    assert not xf.distribute.has_strategy() and not xf.distribute.in_cross_replica_context()
    np.testing.assert_array_equal(default.all_reduce("sum", np.arange(3.0)), np.arange(3.0))
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        assert xf.distribute.get_replica_context() is None
        assert xf.distribute.in_cross_replica_context() and xf.distribute.has_strategy()
        assert xf.distribute.get_strategy() is strategy
    seen = {}

    def fn():
        context = xf.distribute.get_replica_context()
        seen.update(strategy=xf.distribute.get_strategy(), cross=(
            xf.distribute.in_cross_replica_context()), has=xf.distribute.has_strategy(),
            replicas=context.num_replicas_in_sync)
        return context.replica_id_in_sync_group

    ids = strategy.run(fn)  # outside the scope: run still enters the replica context
    assert seen == dict(strategy=strategy, cross=False, has=True, replicas=2)
    assert [int(i) for i in strategy.experimental_local_results(ids)] == [0, 1]
    assert ids.stacked.dtype == np.int32
    with pytest.raises(NotImplementedError, match="all_reduce"):
        strategy.run(lambda: xf.distribute.get_replica_context().merge_call(lambda s: 0))


@pytest.mark.two_devices
def test_run_splits_batches_and_all_reduces():
    strategy = xf.distribute.MirroredStrategy()
    x = RNG.normal(size=(6, 3)).astype(np.float32)
    scale = np.float32(2.0)

    def fn(batch, factor):
        context = xf.distribute.get_replica_context()
        local = xf.reduce_sum(batch, axis=0) * factor
        return {"local": local, "sum": context.all_reduce(SUM, local),
                "mean": context.all_reduce(MEAN, local), "rows": batch}

    (batch,) = distributed(strategy, x)
    out = strategy.run(fn, args=(batch, scale))
    halves = [x[:3].sum(0) * 2, x[3:].sum(0) * 2]  # replica r gets rows 3r .. 3r+2
    local = strategy.experimental_local_results(out["local"])
    for got, want in zip(local, halves):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    for got in strategy.experimental_local_results(out["sum"]):
        np.testing.assert_allclose(got, halves[0] + halves[1], rtol=1e-6)
    for got in strategy.experimental_local_results(out["mean"]):
        np.testing.assert_allclose(got, (halves[0] + halves[1]) / 2, rtol=1e-6)
    np.testing.assert_allclose(strategy.reduce(SUM, out["local"], axis=None),
                               halves[0] + halves[1], rtol=1e-6)
    np.testing.assert_allclose(strategy.reduce("mean", out["local"], axis=None),
                               (halves[0] + halves[1]) / 2, rtol=1e-6)
    np.testing.assert_allclose(strategy.reduce(SUM, out["rows"], axis=0), x.sum(0),
                               rtol=1e-6)
    np.testing.assert_allclose(strategy.reduce(MEAN, out["rows"], axis=0), x.mean(0),
                               rtol=1e-6)
    np.testing.assert_array_equal(strategy.gather(out["rows"], axis=0), x)
    with pytest.raises(ValueError, match="not a PerReplica value"):
        strategy.reduce(SUM, xf.constant(1.0), axis=None)
    assert float(strategy.reduce(MEAN, xf.constant(1.0), axis=None)) == 1.0
    with pytest.raises(ValueError, match="reduce_op must be"):
        strategy.reduce("max", out["local"], axis=None)
    with pytest.raises(ValueError, match="batch of 5 examples cannot be split evenly "
                                         "over 2 replicas"):
        distributed(strategy, x[:5])


@pytest.mark.two_devices
def test_values_from_function_and_per_replica_arguments():
    strategy = xf.distribute.MirroredStrategy()
    values = strategy.experimental_distribute_values_from_function(
        lambda ctx: np.full((2,), ctx.replica_id_in_sync_group * 10.0 +
                            ctx.num_replicas_in_sync, np.float32))
    assert [np.asarray(v).tolist() for v in strategy.experimental_local_results(values)] \
        == [[2.0, 2.0], [12.0, 12.0]]
    assert [d for s in values.stacked.addressable_shards for d in s.data.devices()] \
        == jax.devices()[:2]
    doubled = strategy.run(lambda v: v * 2, args=(values,))
    np.testing.assert_allclose(strategy.reduce(SUM, doubled, axis=None), [28.0, 28.0])
    with pytest.raises(ValueError, match="same shape and dtype"):
        strategy.experimental_distribute_values_from_function(
            lambda ctx: np.zeros(ctx.replica_id_in_sync_group + 1))
    assert strategy.experimental_local_results(3.0) == (3.0,)


@pytest.mark.two_devices
def test_one_device_strategy_and_the_default_strategy():
    strategy = xf.distribute.OneDeviceStrategy("cpu:1")
    assert strategy.num_replicas_in_sync == 1 and strategy.devices == [jax.devices()[1]]
    with strategy.scope():
        v = xf.Variable(np.ones(3, np.float32))
    assert v.value.devices() == {jax.devices()[1]}
    out = strategy.run(lambda x: xf.reduce_sum(x * v), args=(X[:4, :3],))
    np.testing.assert_allclose(out, X[:4, :3].sum(), rtol=1e-6)  # plain value: one replica
    default = xf.distribute.get_strategy()
    assert default.run(lambda a: a + 1, args=(1,)) == 2
    assert default.experimental_local_results(5) == (5,)
    assert default.experimental_distribute_values_from_function(
        lambda ctx: ctx.replica_id_in_sync_group) == 0


def test_compute_average_loss_matches_tf_definition():
    losses = np.array([1.0, 2.0, 3.0, 6.0], np.float32)
    assert float(xf.nn.compute_average_loss(losses)) == pytest.approx(3.0)
    assert float(xf.nn.compute_average_loss(losses, global_batch_size=8)) \
        == pytest.approx(1.5)
    weights = np.array([1.0, 0.0, 2.0, 0.5], np.float32)
    want = (losses * weights).sum() / 4
    assert float(xf.nn.compute_average_loss(losses, sample_weight=weights)) \
        == pytest.approx(want)
    assert float(xf.nn.compute_average_loss(losses, sample_weight=weights[:, None])) \
        == pytest.approx(want)  # a trailing size-1 axis is squeezed, as TF does
    per_token = np.arange(8, dtype=np.float32).reshape(4, 2)
    assert float(xf.nn.compute_average_loss(per_token, sample_weight=weights)) \
        == pytest.approx((per_token * weights[:, None]).sum() / 4)
    assert float(xf.nn.scale_regularization_loss(np.array([1.0, 3.0]))) == 4.0
    with pytest.raises(ValueError, match="at least rank 1"):
        xf.nn.compute_average_loss(np.float32(1.0))
    for bad in (0, 2.5, -3, [4]):
        with pytest.raises(ValueError, match="global_batch_size must be a positive"):
            xf.nn.compute_average_loss(losses, global_batch_size=bad)
    with pytest.raises(ValueError, match="does not broadcast"):
        xf.nn.compute_average_loss(losses, sample_weight=np.ones(3))


@pytest.mark.two_devices
def test_loss_scaling_inside_and_outside_run():
    strategy = xf.distribute.MirroredStrategy()
    losses = np.array([1.0, 2.0, 3.0, 6.0], np.float32)

    def fn(per_example):
        return (xf.nn.compute_average_loss(per_example),
                xf.nn.scale_regularization_loss(xf.constant(4.0)))

    average, regularization = strategy.run(fn, args=distributed(strategy, losses))
    # each replica divides its sum by 2 rows * 2 replicas: the replicas' sum is the mean
    assert [float(v) for v in strategy.experimental_local_results(average)] == \
        pytest.approx([3.0 / 4, 9.0 / 4])
    assert float(strategy.reduce(SUM, average, axis=None)) == pytest.approx(losses.mean())
    assert float(strategy.reduce(SUM, regularization, axis=None)) == pytest.approx(4.0)
    with strategy.scope():
        with pytest.raises(RuntimeError, match="cross replica context"):
            xf.nn.compute_average_loss(losses)
        with pytest.raises(RuntimeError, match="cross replica context"):
            xf.nn.scale_regularization_loss(1.0)
        assert float(xf.nn.compute_average_loss(losses, global_batch_size=4)) == 3.0


def _tutorial(strategy, global_batch_size=16, epochs=2):
    """TF's custom-training tutorial, ported: per-example losses averaged over the global
    batch, the step in strategy.run, the losses summed with strategy.reduce."""
    with strategy.scope():
        xf.random.set_global_seed(3)
        model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
                                   layers.Dense(2)])
        loss_object = xf.keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="none")
        optimizer = xf.keras.optimizers.Adam(0.01)
        train_accuracy = xf.keras.metrics.SparseCategoricalAccuracy()

    def compute_loss(labels, predictions):
        per_example_loss = loss_object(labels, predictions)
        loss = xf.nn.compute_average_loss(per_example_loss,
                                          global_batch_size=global_batch_size)
        return loss + xf.nn.scale_regularization_loss(
            1e-3 * xf.reduce_sum(model.trainable_variables[0] ** 2))

    def train_step(inputs):
        images, labels = inputs
        with xf.GradientTape() as tape:
            predictions = model(images, training=True)
            loss = compute_loss(labels, predictions)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        train_accuracy.update_state(labels, predictions)
        return loss

    @xf.function
    def distributed_train_step(dataset_inputs):
        per_replica_losses = strategy.run(train_step, args=(dataset_inputs,))
        return strategy.reduce(SUM, per_replica_losses, axis=None)

    dataset = xf.data.Dataset.from_tensor_slices((X, Y)).batch(global_batch_size)
    losses = []
    for _ in range(epochs):
        for batch in strategy.experimental_distribute_dataset(dataset):
            losses.append(float(distributed_train_step(batch)))
    return losses, model.get_weights(), float(train_accuracy.result())


def _one_device_oracle(global_batch_size=16, epochs=2):
    """The same training written with plain jax.grad on the whole global batch."""
    xf.random.set_global_seed(3)
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(8,)),
                               layers.Dense(2)])
    params = [np.asarray(w) for w in model.get_weights()]

    def loss_fn(p, x, y):
        logits = jax.nn.relu(x @ p[0] + p[1]) @ p[2] + p[3]
        nll = -jax.numpy.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1)[:, 0]
        return nll.mean() + 1e-3 * (p[0] ** 2).sum(), logits

    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    losses, correct, step = [], 0, 0
    for _ in range(epochs):
        for i in range(0, len(X), global_batch_size):
            x, y = X[i:i + global_batch_size], Y[i:i + global_batch_size]
            (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, y)
            correct += int((np.argmax(logits, 1) == y).sum())
            step += 1
            for k, g in enumerate(grads):  # Keras Adam, epsilon 1e-7
                m[k] = 0.9 * m[k] + 0.1 * np.asarray(g)
                v[k] = 0.999 * v[k] + 0.001 * np.asarray(g) ** 2
                lr = 0.01 * np.sqrt(1 - 0.999 ** step) / (1 - 0.9 ** step)
                params[k] = params[k] - lr * m[k] / (np.sqrt(v[k]) + 1e-7)
            losses.append(float(loss))
    return losses, params, correct / (epochs * len(X))


@pytest.mark.two_devices
def test_tutorial_custom_loop_matches_one_device_on_the_global_batch():
    losses, weights, accuracy = _tutorial(xf.distribute.MirroredStrategy())
    want_losses, want_weights, want_accuracy = _one_device_oracle()
    np.testing.assert_allclose(losses, want_losses, rtol=2e-5, atol=2e-6)
    for got, want in zip(weights, want_weights):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5)
    assert accuracy == pytest.approx(want_accuracy)  # metric counts summed over replicas
    one_losses, one_weights, one_accuracy = _tutorial(xf.distribute.OneDeviceStrategy("cpu:0"))
    np.testing.assert_allclose(one_losses, want_losses, rtol=2e-5, atol=2e-6)
    for got, want in zip(one_weights, want_weights):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5)
    assert one_accuracy == pytest.approx(want_accuracy)


@pytest.mark.two_devices
def test_variable_writes_inside_run():
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        stat = xf.Variable(np.zeros(2, np.float32), trainable=False)
        weight = xf.Variable(np.zeros(2, np.float32))
        counter = xf.Variable(np.zeros((), np.int32), trainable=False)
    x = RNG.normal(size=(4, 2)).astype(np.float32)

    def update(batch):
        stat.assign(xf.reduce_mean(batch, axis=0))   # differs per replica: averaged
        counter.assign_add(1)                         # the same on every replica
        return stat.read_value()

    out = strategy.run(update, args=distributed(strategy, x))
    np.testing.assert_allclose(stat.numpy(), x.mean(0), rtol=1e-6)
    assert int(counter.numpy()) == 1
    np.testing.assert_allclose(strategy.experimental_local_results(out)[1], x[2:].mean(0),
                               rtol=1e-6)
    before = weight.numpy().copy()
    with pytest.raises(ValueError, match="trainable and was assigned a different value"):
        strategy.run(lambda b: weight.assign(xf.reduce_sum(b, axis=0)),
                     args=distributed(strategy, x))
    np.testing.assert_array_equal(weight.numpy(), before)


@pytest.mark.two_devices
def test_a_distributed_batch_used_as_one_array_says_what_to_do():
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        model = models.Sequential([layers.Dense(2, input_shape=(8,))])
    (batch,) = distributed(strategy, X[:8])
    with pytest.raises(TypeError, match="PerReplicaBatch value .* strategy.run"):
        model(batch)  # outside strategy.run
    with pytest.raises(TypeError, match="experimental_local_results"):
        jax.numpy.asarray(batch)
    # inside run each replica gets its rows: the oracle is the model on the plain array
    out = strategy.run(lambda rows: model(rows), args=(batch,))
    np.testing.assert_allclose(np.concatenate(strategy.experimental_local_results(out)),
                               np.asarray(model(X[:8])), rtol=1e-5, atol=1e-6)
