"""ignore_errors through every stage: an error raised upstream drops its element and the
pipeline goes on, each stage treating the failure as TF's kernel does. Every expected list
is worked out by hand from the failing positions."""

import numpy as np
import pytest

from tests.data.plain import as_lists
from xlaflow.data import Dataset

BAD = {0, 3, 4, 9}
SURVIVORS = [10, 20, 50, 60, 70, 80, 100, 110]  # range(12).map(_f), BAD dropped


def _f(v):
    if int(v) in BAD:
        raise ValueError(f"bad element {int(v)}")
    return v * 10


def _fails_at(*positions, then=lambda v: v):
    def fn(v):
        if int(v) in positions:
            raise ValueError(f"bad element {int(v)}")
        return then(v)
    return fn


def ints(ds):
    """`ds.ignore_errors()`'s elements as plain Python values."""
    return as_lists(ds.ignore_errors())


def test_take_skip_shard_take_while_count_only_what_did_not_fail():
    read = []
    ds = Dataset.range(12).map(lambda v: read.append(int(v)) or _f(v))
    assert ints(ds.take(3)) == [10, 20, 50]
    assert max(read) == 5  # no further than the third survivor
    assert ints(ds.take(-1)) == SURVIVORS
    assert ints(ds.skip(2)) == [50, 60, 70, 80, 100, 110]
    assert ints(ds.skip(-1)) == []
    assert ints(ds.shard(3, 1)) == [20, 70, 110]  # survivors 1, 4 and 7
    assert ints(ds.take_while(lambda v: v < 80)) == [10, 20, 50, 60, 70]
    # A predicate that raises drops its element; the stage goes on.
    assert ints(ds.take_while(lambda v: 1 // (int(v) - 50) < 5)) == [10, 20, 60, 70, 80, 100,
                                                                    110]


def test_repeat_concatenate_enumerate_and_cache():
    ds = Dataset.range(12).map(_f)
    assert ints(ds.repeat(2)) == SURVIVORS * 2
    assert ints(ds.repeat().take(10)) == SURVIVORS + SURVIVORS[:2]
    # Forever over a dataset whose every element fails ends, as over an empty one.
    assert ints(Dataset.from_tensor_slices(np.array([0, 3, 4])).map(_f).repeat()) == []
    tail = Dataset.range(1, 12).map(_f)  # its first element succeeds: concatenate needs the spec
    assert ints(tail.concatenate(tail)) == SURVIVORS * 2
    # A failed element keeps its index (TF's enumerate zips with a range read first).
    assert ints(Dataset.range(1, 6).map(_f).enumerate()) == [(0, 10), (1, 20), (4, 50)]

    cached = ds.cache()
    with pytest.raises(ValueError, match="bad element 0"):
        list(cached)  # a failed pass records nothing
    assert ints(cached) == SURVIVORS
    assert [int(v) for v in cached] == SURVIVORS  # replayed: the errors are not re-run


def test_zip_drops_the_zipped_element_when_any_component_fails():
    a = Dataset.range(12).map(_f)
    b = Dataset.range(12).map(_fails_at(2, 3))
    kept = [1, 5, 6, 7, 8, 10, 11]  # in neither {0, 3, 4, 9} nor {2, 3}
    assert ints(Dataset.zip((a, b))) == [(10 * v, v) for v in kept]
    got = list(Dataset.zip({"a": a, "b": b}).ignore_errors())
    assert [(int(e["a"]), int(e["b"])) for e in got] == [(10 * v, v) for v in kept]


def test_shuffle_shuffles_the_survivors_as_if_alone():
    got = ints(Dataset.range(12).map(_f).shuffle(3, seed=7))
    assert sorted(got) == SURVIVORS
    # Same seed, buffer and survivors: the order a dataset of the survivors alone gets.
    alone = Dataset.from_tensor_slices(np.array(SURVIVORS, np.int64)).shuffle(3, seed=7)
    assert got == [int(v) for v in alone]


def test_unique_and_scan():
    values = np.array([1, 1, 2, 3, 2, 5])
    ds = Dataset.range(6).map(_fails_at(2, then=lambda i: values[i]))
    assert ints(ds.unique()) == [1, 3, 2, 5]  # the failed 2 was not seen

    def running_sum(state, x):
        return state + x, state + x

    six = Dataset.range(1, 7).map(_f)  # 10, 20, F, F, 50, 60
    assert ints(six.scan(np.int64(0), running_sum)) == [10, 30, 80, 140]

    def fails_on_50(state, x):
        if int(x) == 50:
            raise ValueError("no 50")
        return state + x, state + x
    # The failed call leaves the state as it was.
    assert ints(six.scan(np.int64(0), fails_on_50)) == [10, 30, 90]


def test_padded_batch_loses_the_batch_an_error_interrupts():
    ds = Dataset.range(1, 12).map(_fails_at(3, 4, 9, then=lambda v: np.full(v % 3 + 1, v)))
    # [1, 2, F3] lost, F4, [5, 6, 7], [8, F9] lost, [10, 11]; lengths v % 3 + 1.
    assert ints(ds.padded_batch(3)) == [[[5, 5, 5], [6, 0, 0], [7, 7, 0]],
                                        [[10, 10, 0], [11, 11, 11]]]
    # A batch that cannot be padded (longer than padded_shapes) fails alone.
    assert ints(ds.padded_batch(1, padded_shapes=[2])) == [[[1, 1]], [[6, 0]], [[7, 7]],
                                                           [[10, 10]]]


def test_unbatch_and_rebatch():
    pairs = Dataset.range(6).map(_fails_at(2, then=lambda v: np.full(2, v)))
    assert ints(pairs.unbatch()) == [0, 0, 1, 1, 3, 3, 4, 4, 5, 5]
    # The row of 1 held for the batch being built is lost with the failed element 2.
    assert ints(pairs.rebatch(3)) == [[0, 0, 1], [3, 3, 4], [4, 5, 5]]
    # An element whose components differ in their first dimension cannot be split.
    uneven = Dataset.range(5).map(lambda v: (np.full(2 if v == 3 else 1, v), np.full(1, v)))
    assert ints(uneven.unbatch()) == [(0, 0), (1, 1), (2, 2), (4, 4)]


def test_flat_map_and_interleave_drop_failed_inner_elements():
    def inner(v):
        if int(v) == 3:
            raise ValueError("no dataset for 3")
        # v*10, v*10 + 1 (fails), v*10 + 2
        return Dataset.range(v * 10, v * 10 + 3).map(
            lambda x: x if int(x) % 10 != 1 else np.int64(1 // 0))

    ds = Dataset.range(5).map(_fails_at(2))  # 0, 1, F, 3 (its map_func fails), 4
    assert ints(ds.flat_map(inner)) == [0, 2, 10, 12, 40, 42]
    # TF's cycle of 2, one element at a time: a failure takes no turn.
    for workers in (None, 2):
        assert ints(ds.interleave(inner, cycle_length=2, block_length=1,
                                  num_parallel_calls=workers)) == [0, 10, 2, 12, 40, 42]


def test_window_fails_the_windows_holding_a_failed_element():
    ds = Dataset.range(12).map(_f)
    windows = ds.window(3, shift=1).flat_map(lambda w: w.batch(3))
    assert ints(windows) == [[50, 60, 70], [60, 70, 80], [100, 110], [110]]
    # Windows from 0, 3, 6, 9 pick positions {0, 2}, {3, 5}, {6, 8}, {9, 11}.
    strided = ds.window(2, shift=3, stride=2, drop_remainder=True)
    assert ints(strided.flat_map(lambda w: w.batch(2))) == [[60, 80]]


def test_group_by_window_and_bucket_by_sequence_length():
    def key(v):
        return int(v) % 2 + 0 * (1 // (int(v) - 6))  # fails for 6

    ds = Dataset.range(10).map(_fails_at(3))
    assert ints(ds.group_by_window(key, lambda k, w: w.batch(2), window_size=2)) == [
        [0, 2], [1, 5], [4, 8], [7, 9]]

    def odd_fails(k, window):
        if int(k) == 1:
            raise ValueError("no odd windows")
        return window.batch(2)
    assert ints(ds.group_by_window(key, odd_fails, window_size=2)) == [[0, 2], [4, 8]]

    def length(x):
        if len(x) == 5:
            raise ValueError("no length for 5")
        return len(x)
    seqs = Dataset.range(1, 8).map(_fails_at(3, then=lambda v: np.full(v, v)))
    got = ints(seqs.bucket_by_sequence_length(length, [4], [2, 2], padded_shapes=[None]))
    assert got == [[[1, 0], [2, 2]], [[4, 4, 4, 4, 0, 0], [6] * 6], [[7] * 7]]


def test_a_stage_without_a_tolerant_pass_is_refused_when_ignore_errors_is_applied():
    class Doubled(Dataset):  # a stage written without an _iterate_or_fail
        def __init__(self, dataset):
            self._input = dataset

        def _iterate(self):
            for v in self._input._iterate():
                yield v * 2

    with pytest.raises(NotImplementedError, match="the stage Doubled cannot drop a failed"):
        Doubled(Dataset.range(3)).ignore_errors()
    with pytest.raises(NotImplementedError, match="Doubled"):
        Dataset.zip((Dataset.range(3), Doubled(Dataset.range(3)).take(2))).ignore_errors()
    assert [int(v) for v in Doubled(Dataset.range(3).ignore_errors())] == [0, 2, 4]
