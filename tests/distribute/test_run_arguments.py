"""strategy.run's arguments as TF distributes them, on the two forced host CPU devices:
a distributed dataset's batch is split (each replica its block of rows), every other
argument goes whole to every replica. Oracles: NumPy slices and jax.grad."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf

pytestmark = pytest.mark.two_devices

RNG = np.random.default_rng(11)
X = RNG.normal(size=(8, 3)).astype(np.float32)
LABELS = np.array([0, 1, 1, 0, 1, 1, 1, 0], np.int32)
CLASS_WEIGHTS = np.array([0.25, 2.0], np.float32)  # shape (2,): as many as the replicas


def first_batch(strategy, arrays, batch_size=8):
    dataset = xf.data.Dataset.from_tensor_slices(arrays).batch(batch_size)
    return next(iter(strategy.experimental_distribute_dataset(dataset)))


@pytest.mark.parametrize("make", [np.asarray, xf.constant, jnp.asarray],
                         ids=["numpy", "tensor", "jax"])
def test_a_plain_array_argument_arrives_whole_on_each_replica(make):
    strategy = xf.distribute.MirroredStrategy()
    for value in (CLASS_WEIGHTS, X[:5]):  # 5 rows: no longer "split" (nor refused)
        out = strategy.run(lambda v: v, args=(make(value),))
        local = strategy.experimental_local_results(out)
        assert len(local) == 2
        for got in local:
            np.testing.assert_array_equal(np.asarray(got), value)
    shapes = strategy.run(lambda v, *, w: (v.shape[0], w.shape[0]),
                          args=(make(X),), kwargs={"w": make(CLASS_WEIGHTS)})
    assert [int(n) for n in strategy.experimental_local_results(shapes[0])] == [8, 8]
    assert [int(n) for n in strategy.experimental_local_results(shapes[1])] == [2, 2]


def test_a_distributed_dataset_batch_arrives_split():
    strategy = xf.distribute.MirroredStrategy()
    x, labels = first_batch(strategy, (X, LABELS))
    assert isinstance(x, xf.distribute.PerReplica)
    for r, component in enumerate(strategy.experimental_local_results(x)):
        np.testing.assert_array_equal(np.asarray(component), X[4 * r:4 * r + 4])
        assert component.devices() == {jax.devices()[r]}  # the shard already on its device
    seen = strategy.run(lambda a, b: (a, b), args=(x, labels))
    for r in range(2):
        np.testing.assert_array_equal(
            np.asarray(strategy.experimental_local_results(seen[0])[r]), X[4 * r:4 * r + 4])
        np.testing.assert_array_equal(
            np.asarray(strategy.experimental_local_results(seen[1])[r]),
            LABELS[4 * r:4 * r + 4])
    np.testing.assert_array_equal(np.asarray(strategy.gather(x, axis=0)), X)
    np.testing.assert_allclose(strategy.reduce("SUM", x, axis=0), X.sum(0), rtol=1e-6)
    np.testing.assert_allclose(strategy.reduce("SUM", x, axis=None),
                               X[:4] + X[4:], rtol=1e-6)
    with pytest.raises(TypeError, match="experimental_local_results"):
        np.asarray(x)  # not one array, as in TF


def test_distributed_batch_and_whole_weights_in_one_step_through_xf_function():
    """The porting case: class weights passed beside the batch weigh every replica's
    examples by the whole table; each replica's gradient is its own (jax.grad oracle)."""
    strategy = xf.distribute.MirroredStrategy()
    w0 = RNG.normal(size=(3,)).astype(np.float32)
    with strategy.scope():
        w = xf.Variable(w0)

    def loss_fn(weight, x, labels, table):
        return jnp.sum(table[labels] * jnp.tanh(x @ weight) ** 2) / 8.0

    def replica_step(x, labels, table):
        with xf.GradientTape() as tape:
            loss = loss_fn(w, x, labels, table)
        return loss, tape.gradient(loss, w)

    @xf.function
    def step(x, labels, table):
        return strategy.run(replica_step, args=(x, labels, table))

    x, labels = first_batch(strategy, (X, LABELS))
    losses, grads = step(x, labels, CLASS_WEIGHTS)
    for r in range(2):
        rows = slice(4 * r, 4 * r + 4)
        want_loss, want_grad = jax.value_and_grad(loss_fn)(w0, X[rows], LABELS[rows],
                                                           CLASS_WEIGHTS)
        np.testing.assert_allclose(strategy.experimental_local_results(losses)[r],
                                   want_loss, rtol=1e-5)
        np.testing.assert_allclose(strategy.experimental_local_results(grads)[r],
                                   want_grad, rtol=1e-5, atol=1e-6)


def test_datasets_from_function_batches_are_distributed_too():
    strategy = xf.distribute.MirroredStrategy()
    batches = strategy.distribute_datasets_from_function(
        lambda context: xf.data.Dataset.from_tensor_slices(X).batch(
            context.get_per_replica_batch_size(4)))
    got = [strategy.run(lambda b: b * 2.0, args=(b,)) for b in batches]
    assert len(got) == 2
    for step, out in enumerate(got):  # replica r: per-replica batch 2 * step + r
        for r, component in enumerate(strategy.experimental_local_results(out)):
            start = 4 * step + 2 * r
            np.testing.assert_allclose(component, X[start:start + 2] * 2.0, rtol=1e-6)


def test_one_replica_yields_plain_arrays_and_a_foreign_batch_is_refused():
    one = xf.distribute.OneDeviceStrategy("cpu:1")
    (plain,) = first_batch(one, (X,))
    assert not isinstance(plain, xf.distribute.PerReplica)  # as TF: plain tensors
    np.testing.assert_array_equal(np.asarray(plain), X)
    two = xf.distribute.MirroredStrategy()
    (batch,) = first_batch(two, (X,))
    with pytest.raises(ValueError, match="argument leaf 0 is a distributed batch of "
                                         r"shape \(8, 3\) over 2 replicas.*runs 1"):
        one.run(lambda b: b, args=(batch,))


def test_fit_reads_a_distributed_dataset_and_its_iterator_as_global_batches():
    from xlaflow.keras import layers, models

    def build(strategy=None):
        xf.random.set_global_seed(4)
        with strategy.scope() if strategy else contextlib.nullcontext():
            model = models.Sequential([layers.Dense(1, input_shape=(3,))])
            model.compile(optimizer=xf.keras.optimizers.SGD(0.1), loss="mse")
        return model

    y = (X @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    dataset = xf.data.Dataset.from_tensor_slices((X, y)).batch(4)
    oracle = build()
    weights = [np.asarray(v) for v in oracle.get_weights()]
    for xb, yb in ((X[:4], y[:4]), (X[4:], y[4:])):  # SGD on the MSE, by hand
        error = xb @ weights[0] + weights[1] - yb
        weights = [weights[0] - 0.1 * 2 * xb.T @ error / 4,
                   weights[1] - 0.1 * 2 * error.mean(0)]
    strategy = xf.distribute.MirroredStrategy()
    for data in (strategy.experimental_distribute_dataset(dataset),
                 iter(strategy.experimental_distribute_dataset(dataset))):
        model = build(strategy)
        model.fit(data, epochs=1, verbose=0)
        for got, want in zip(model.get_weights(), weights):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gather_takes_a_structure_of_per_replica_values():
    # TF's strategy.gather takes a nested structure of distributed values (what run
    # returns for a tuple): each is joined along the axis, replica 0 first.
    strategy = xf.distribute.MirroredStrategy()
    x, labels = first_batch(strategy, (X, LABELS))
    doubled, same = strategy.run(lambda a, b: (a * 2.0, b), args=(x, labels))
    got = strategy.gather({"doubled": doubled, "labels": same}, axis=0)
    np.testing.assert_allclose(np.asarray(got["doubled"]), X * 2.0, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(got["labels"]), LABELS)


def test_local_results_of_a_structure_give_one_structure_per_replica():
    # TF's experimental_local_results maps over a nested structure: replica r's result is
    # the structure with each distributed value's r-th component, other leaves as they are.
    strategy = xf.distribute.MirroredStrategy()
    x, _ = first_batch(strategy, (X, LABELS))
    out = strategy.run(lambda a: (a * 2.0, {"rows": a.shape[0]}), args=(x,))
    results = strategy.experimental_local_results((out, "tag"))
    half = X.shape[0] // 2
    assert len(results) == 2
    for r, ((doubled, extra), tag) in enumerate(results):
        np.testing.assert_allclose(np.asarray(doubled), X[r * half:(r + 1) * half] * 2.0,
                                   rtol=1e-6)
        assert int(np.asarray(extra["rows"])) == half and tag == "tag"
    assert strategy.experimental_local_results(3.0) == (3.0,)
