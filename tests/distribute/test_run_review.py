"""strategy.run under review: a Variable's declared aggregation decides how the replicas'
writes combine (TF's rules), and eager calls with fresh functions do not pile up compiled
programs. Oracles: the per-replica arithmetic written out with NumPy."""

import numpy as np
import pytest

import xlaflow as xf

pytestmark = pytest.mark.two_devices
A, SYNC = xf.VariableAggregation, xf.VariableSynchronization
X = np.arange(8, dtype=np.float32).reshape(4, 2)  # replica 0: rows 0-1, replica 1: 2-3


def distributed(strategy, x):
    """`x` as one batch of a distributed dataset: each replica gets its two rows."""
    return next(iter(strategy.experimental_distribute_dataset(
        xf.data.Dataset.from_tensor_slices(x).batch(len(x)))))


def test_declared_aggregation_combines_the_replicas_writes_as_tf():
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        total = xf.Variable(1.0, synchronization=SYNC.ON_READ, aggregation=A.SUM)
        count = xf.Variable(0.0, synchronization=SYNC.ON_READ, aggregation=A.SUM)
        first = xf.Variable(np.zeros(2, np.float32), trainable=False,
                            aggregation=A.ONLY_FIRST_REPLICA)
        mean = xf.Variable(np.zeros(2, np.float32), aggregation=A.MEAN)

    def fn(batch):
        total.assign_add(xf.reduce_sum(batch))  # each replica adds its rows' sum
        count.assign_add(1.0)                   # the same update on both: counted twice
        first.assign(xf.reduce_sum(batch, axis=0))
        mean.assign(xf.reduce_sum(batch, axis=0))  # trainable, but declared MEAN
        return batch

    strategy.run(fn, args=(distributed(strategy, X),))
    halves = [X[:2].sum(0), X[2:].sum(0)]
    assert float(total.numpy()) == pytest.approx(1.0 + X.sum())
    assert float(count.numpy()) == 2.0
    np.testing.assert_allclose(first.numpy(), halves[0])
    np.testing.assert_allclose(mean.numpy(), (halves[0] + halves[1]) / 2)


def test_undeclared_trainable_write_is_still_refused_with_the_fix_named():
    strategy = xf.distribute.MirroredStrategy()
    with strategy.scope():
        weight = xf.Variable(np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="aggregation="):
        strategy.run(lambda b: weight.assign(xf.reduce_sum(b, axis=0)),
                     args=(distributed(strategy, X),))
    np.testing.assert_array_equal(weight.numpy(), np.zeros(2))


def test_eager_run_with_fresh_functions_keeps_a_bounded_cache():
    strategy = xf.distribute.MirroredStrategy()
    batch = distributed(strategy, X)
    for k in range(12):
        out = strategy.run(lambda b, k=k: b * k, args=(batch,))  # a new function each call
        np.testing.assert_allclose(strategy.gather(out, axis=0), X * k)
    assert len(strategy._run_functions) <= 8  # not one compiled program per call forever
    fn = lambda b: b + 1  # one function reused: compiled once
    for _ in range(3):
        strategy.run(fn, args=(batch,))
    assert strategy._run_functions[fn].experimental_get_tracing_count() == 1


def test_a_per_replica_value_of_another_replica_count_is_refused_by_name():
    strategy = xf.distribute.MirroredStrategy()
    three = xf.distribute.PerReplica(np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="argument leaf 1 is a PerReplica value .*runs 2"):
        strategy.run(lambda a, v: v * a, args=(2.0, three))
