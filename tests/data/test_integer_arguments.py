"""Counts and sizes must be integers: a fractional one is refused by name, never truncated.

`ds.batch(len(x) / 10)` gave batches of int(12.8) = 12 in silence; TF refuses any float
(int64 arguments). The oracle for the accepted forms is Python's own slicing of a list.
"""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.data import Dataset

DS = Dataset.range(10)


@pytest.mark.parametrize("call, name", [
    (lambda: DS.batch(2.5), "batch: batch_size"),
    (lambda: DS.padded_batch(2.5), "padded_batch: batch_size"),
    (lambda: DS.shuffle(3.5), "shuffle: buffer_size"),
    (lambda: DS.shuffle(4, seed=1.5), "shuffle: seed"),
    (lambda: DS.take(1.5), "take: count"),
    (lambda: DS.skip(1.5), "skip: count"),
    (lambda: DS.repeat(1.5), "repeat: count"),
    (lambda: DS.prefetch(1.5), "prefetch: buffer_size"),
    (lambda: DS.shard(2.5, 0), "shard: num_shards"),
    (lambda: DS.shard(2, 0.5), "shard: index"),
    (lambda: DS.enumerate(0.5), "enumerate: start"),
    (lambda: DS.map(abs, num_parallel_calls=1.5), "map: num_parallel_calls"),
    (lambda: Dataset.range(0, 3.5), "range: stop"),
    (lambda: DS.batch("4"), "batch: batch_size"),
])
def test_a_fractional_or_non_numeric_count_is_refused_by_name(call, name):
    with pytest.raises(TypeError, match=rf"Dataset\.{name} must be an integer; received "):
        call()


def test_integers_of_any_kind_are_taken():
    values = list(range(10))
    for size in (4, np.int64(4), np.array(4), xf.constant(4), 4.0):
        got = [b.tolist() for b in DS.batch(size)]
        assert got == [values[i:i + 4] for i in range(0, 10, 4)]
    assert [int(x) for x in DS.take(np.int32(3))] == values[:3]
    assert [int(x) for x in DS.skip(xf.constant(7))] == values[7:]
    assert [int(x) for x in Dataset.range(np.int64(2), 5)] == [2, 3, 4]
    assert [int(i) for i, _ in DS.enumerate(np.int64(5)).take(2)] == [5, 6]
