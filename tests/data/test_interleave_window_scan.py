"""interleave, window, scan, unique and rebatch against TF's documented outputs and
plain-Python list references; element_spec, cardinality and the argument errors."""

import itertools
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlaflow.data import AUTOTUNE, INFINITE_CARDINALITY, UNKNOWN_CARDINALITY, Dataset, DatasetSpec
from xlaflow.data.interleave import AUTOTUNE_CYCLE_LENGTH
from xlaflow.tensors import TensorSpec

FAST = settings(max_examples=40, deadline=None)


def ints(ds):
    return [np.asarray(v).tolist() for v in ds]


# --- interleave ---------------------------------------------------------------------------

def reference_interleave_tf(inners, cycle, block):
    """TF's interleave order on plain lists, one item per step as its kernel reads: `cycle`
    slots, `block` items per visit; an exhausted slot is freed when a read finds it empty,
    and refilled from the input when the cycle comes back to it."""
    pending = [list(x) for x in inners]
    slots = [None] * cycle
    out, i, b = [], 0, 0
    while pending or any(s is not None for s in slots):
        if slots[i] is not None:
            if slots[i]:
                out.append(slots[i].pop(0))
                b += 1
                if b == block:
                    i, b = (i + 1) % cycle, 0
                continue
            slots[i] = None  # exhausted: freed, and the cycle moves on
        elif pending:
            slots[i] = pending.pop(0)
            continue
        i, b = (i + 1) % cycle, 0
    return out


def test_interleave_matches_tf_documented_example():
    # tf.data.Dataset.interleave's docstring, cycle_length=2, block_length=4.
    want = [1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 4, 4,
            5, 5, 5, 5, 5, 5]
    assert reference_interleave_tf([[k] * 6 for k in range(1, 6)], 2, 4) == want
    for calls in (None, 1, 2, AUTOTUNE):
        ds = Dataset.range(1, 6).interleave(lambda x: Dataset.from_tensors(x).repeat(6),
                                            cycle_length=2, block_length=4,
                                            num_parallel_calls=calls)
        assert ints(ds) == want
        assert ints(ds) == want  # a second pass is the same
    ds = Dataset.range(1, 6).interleave(lambda x: Dataset.from_tensors(x).repeat(6),
                                        cycle_length=2, block_length=4)
    assert ds.element_spec == TensorSpec((), np.int64)
    assert int(ds.cardinality()) == UNKNOWN_CARDINALITY


@FAST
@given(lengths=st.lists(st.integers(0, 6), max_size=8), cycle=st.integers(1, 4),
       block=st.integers(1, 4), calls=st.sampled_from([None, 1, "cycle"]))
def test_interleave_is_tfs_order(lengths, cycle, block, calls):
    inners = [[100 * k + j for j in range(n)] for k, n in enumerate(lengths)]
    ds = Dataset.range(len(lengths)).interleave(
        lambda k: Dataset.range(100 * k, 100 * k + np.asarray(lengths)[k]),
        cycle_length=cycle, block_length=block,
        num_parallel_calls=cycle if calls == "cycle" else calls)
    want = reference_interleave_tf(inners, cycle, block)
    assert ints(ds) == want
    assert sorted(want) == sorted(itertools.chain(*inners))


def test_interleave_defaults_block_1_and_autotune_cycle():
    inners = [[k, k] for k in range(AUTOTUNE_CYCLE_LENGTH + 3)]

    def make(k):
        return Dataset.from_tensors(k).repeat(2)

    want = reference_interleave_tf(inners, AUTOTUNE_CYCLE_LENGTH, 1)
    assert ints(Dataset.range(len(inners)).interleave(make)) == want
    assert ints(Dataset.range(len(inners)).interleave(make, AUTOTUNE,
                                                      num_parallel_calls=AUTOTUNE)) == want
    # cycle_length=1 is flat_map
    assert ints(Dataset.range(4).interleave(lambda k: Dataset.range(k), 1)) == \
        [j for k in range(4) for j in range(k)]


def test_interleave_with_tuple_elements_spreads_them():
    ds = Dataset.from_tensor_slices((np.array([1, 2]), np.array([10, 20]))).interleave(
        lambda a, b: Dataset.from_tensor_slices(np.array([a, b])), cycle_length=2)
    assert ints(ds) == [1, 2, 10, 20]


def test_interleave_nondeterministic_yields_the_same_elements():
    ds = Dataset.range(6).interleave(lambda k: Dataset.range(10 * k, 10 * k + 5),
                                     cycle_length=3, num_parallel_calls=3,
                                     deterministic=False)
    assert sorted(ints(ds)) == sorted(10 * k + j for k in range(6) for j in range(5))


def test_interleave_parallel_reads_ahead_of_the_consumer():
    produced = []
    cond = threading.Condition()

    def count(x):
        with cond:
            produced.append(int(x))
            cond.notify_all()
        return x

    ds = Dataset.range(3).interleave(lambda k: Dataset.range(10 * k, 10 * k + 4).map(count),
                                     cycle_length=3, num_parallel_calls=3)
    it = iter(ds)
    assert int(next(it)) == 0
    with cond:  # the first element of each open inner dataset is read without asking
        assert cond.wait_for(lambda: {10, 20} <= set(produced), timeout=10)
    assert ints(it) == [10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23]
    it.close()


def test_interleave_errors_come_in_order_and_name_things():
    def inner(k):
        def gen():
            yield k
            if k == 1:
                raise RuntimeError("boom")
            yield k
        return Dataset.from_generator(gen, output_signature=TensorSpec((), np.int64))

    for calls in (None, 2):
        it = iter(Dataset.range(3).interleave(inner, cycle_length=2, num_parallel_calls=calls))
        assert [int(next(it)) for _ in range(3)] == [0, 1, 0]
        with pytest.raises(RuntimeError, match="boom"):
            next(it)
        it.close()
    with pytest.raises(TypeError, match="must return a Dataset; for element 0 it returned "
                                        "int"):
        list(Dataset.range(2).interleave(lambda k: 3))
    def fails_on_1(k):
        if k == 1:
            raise KeyError("no file for 1")
        return Dataset.range(k)

    with pytest.raises(KeyError) as info:
        list(Dataset.range(2).interleave(fails_on_1))
    assert "Dataset.interleave on element 1" in str(info.value.__notes__)
    mixed = Dataset.range(2).interleave(
        lambda k: Dataset.range(2) if k == 0 else Dataset.from_tensors(np.float32(1)))
    with pytest.raises(TypeError, match="Dataset.interleave: element 1 has dtype float32"):
        list(mixed)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"cycle_length": 0}, ValueError, r"cycle_length must be >= 1 or AUTOTUNE; received 0"),
    ({"cycle_length": 1.5}, TypeError, r"interleave: cycle_length must be an integer"),
    ({"block_length": 0}, ValueError, r"block_length must be >= 1; received 0"),
    ({"block_length": AUTOTUNE}, ValueError, r"block_length must be >= 1; received -1"),
    ({"num_parallel_calls": 0}, ValueError, r"num_parallel_calls must be >= 1 or AUTOTUNE"),
    ({"cycle_length": 2, "num_parallel_calls": 3}, ValueError,
     r"num_parallel_calls must be <= cycle_length \(2\); received 3"),
])
def test_interleave_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        Dataset.range(3).interleave(Dataset.range, **kwargs)
    with pytest.raises(TypeError, match="map_func must be callable"):
        Dataset.range(3).interleave(3)


# --- window -------------------------------------------------------------------------------

def reference_windows(n, size, shift, stride, drop):
    out = []
    for start in range(0, n, shift):
        window = [start + i * stride for i in range(size) if start + i * stride < n]
        if drop and start + (size - 1) * stride >= n:
            continue
        out.append(window)
    return out


def test_window_matches_tf_documented_examples():
    assert [ints(w) for w in Dataset.range(7).window(3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [ints(w) for w in Dataset.range(7).window(3, 2, 1, True)] == \
        [[0, 1, 2], [2, 3, 4], [4, 5, 6]]
    assert [ints(w) for w in Dataset.range(7).window(3, 1, 2, True)] == \
        [[0, 2, 4], [1, 3, 5], [2, 4, 6]]
    pairs = Dataset.from_tensor_slices(([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])).window(2)
    assert [(ints(a), ints(b)) for a, b in pairs] == [([1, 2], [6, 7]), ([3, 4], [8, 9]),
                                                      ([5], [10])]
    named = Dataset.from_tensor_slices({"a": [1, 2, 3], "b": [4, 5, 6]}).window(2)
    assert [{k: ints(v) for k, v in w.items()} for w in named] == \
        [{"a": [1, 2], "b": [4, 5]}, {"a": [3], "b": [6]}]
    assert named.element_spec == {"a": DatasetSpec(TensorSpec((), np.int32)),
                                  "b": DatasetSpec(TensorSpec((), np.int32))}


@FAST
@given(n=st.integers(0, 15), size=st.integers(1, 5), shift=st.one_of(st.none(),
       st.integers(1, 6)), stride=st.integers(1, 3), drop=st.booleans())
def test_window_is_tfs_sliding_window(n, size, shift, stride, drop):
    ds = Dataset.range(n).window(size, shift, stride, drop)
    want = reference_windows(n, size, size if shift is None else shift, stride, drop)
    assert [ints(w) for w in ds] == want
    assert int(ds.cardinality()) == len(want)
    assert [int(w.cardinality()) for w in ds] == [len(w) for w in want]
    # the cardinality holds for an input of unknown length too, and the windows agree
    assert [ints(w) for w in Dataset.range(n).filter(lambda v: True).window(
        size, shift, stride, drop)] == want


def test_window_then_flat_map_batch_gives_sliding_batches():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    ds = Dataset.range(7).window(3, 1).flat_map(lambda w: w.batch(3))
    assert ints(ds) == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 6], [5, 6], [6]]
    frames = Dataset.from_tensor_slices((x, np.arange(6))).window(4, 2, drop_remainder=True)
    pairs = frames.flat_map(lambda a, b: Dataset.zip((a.batch(4), b.batch(4))))
    got = [(a.tolist(), b.tolist()) for a, b in pairs]
    assert got == [(x[s:s + 4].tolist(), list(range(s, s + 4))) for s in (0, 2)]
    assert pairs.element_spec == (TensorSpec((None, 2), np.float32),
                                  TensorSpec((None,), np.int64))


def test_window_spec_cardinality_and_errors():
    assert Dataset.range(7).window(3).element_spec == DatasetSpec(TensorSpec((), np.int64))
    assert int(Dataset.range(5).repeat().window(2).cardinality()) == INFINITE_CARDINALITY
    assert int(Dataset.range(5).filter(lambda v: True).window(2).cardinality()) == \
        UNKNOWN_CARDINALITY
    assert next(iter(Dataset.range(5).repeat().window(2, 3, 2))) is not None
    for name, args in (("size", (0,)), ("shift", (2, 0)), ("stride", (2, 1, 0))):
        with pytest.raises(ValueError, match=rf"Dataset.window: {name} must be >= 1; "
                                             rf"received 0"):
            Dataset.range(3).window(*args)
    with pytest.raises(TypeError, match="Dataset.window: size must be an integer"):
        Dataset.range(3).window(2.5)


# --- scan ---------------------------------------------------------------------------------

def test_scan_running_sum_as_tf_documents():
    ds = Dataset.range(10).scan(np.int64(0), lambda state, i: (state + i, state + i))
    want = list(itertools.accumulate(range(10)))
    assert ints(ds) == want == [0, 1, 3, 6, 10, 15, 21, 28, 36, 45]
    assert ints(ds) == want  # every pass starts again from initial_state
    assert ds.element_spec == TensorSpec((), np.int64)
    assert int(ds.cardinality()) == 10
    assert int(Dataset.range(3).repeat().scan(0, lambda s, x: (s, x)).cardinality()) == \
        INFINITE_CARDINALITY


def test_scan_with_structured_state_and_elements():
    pairs = Dataset.from_tensor_slices((np.arange(5), np.arange(5) * 10))
    # the element is one argument, a tuple; the state a dict; Python numbers take its dtype
    ds = pairs.scan({"n": np.int64(0), "total": np.float32(0)},
                    lambda s, e: ({"n": s["n"] + 1, "total": s["total"] + np.float32(e[1])},
                                  (s["n"], s["total"] + np.float32(e[0]))))
    totals = list(itertools.accumulate([0] + [10 * k for k in range(4)]))
    assert [(int(n), float(t)) for n, t in ds] == [(k, float(totals[k] + k)) for k in range(5)]
    assert ds.element_spec == (TensorSpec((), np.int64), TensorSpec((), np.float32))
    # the state's shape may grow (TF relaxes it); a Python number becomes its dtype
    grow = Dataset.range(4).scan(np.zeros(0, np.int64), lambda s, x: (np.append(s, x), s.size))
    assert ints(grow) == [0, 1, 2, 3]
    counter = Dataset.range(3).scan(np.int64(5), lambda s, x: (7, s))
    assert ints(counter) == [5, 7, 7]


def test_scan_errors_name_the_state():
    ds = Dataset.range(3)
    with pytest.raises(TypeError, match=r"new state returned for element 0 has dtype float64 "
                                        r"but initial_state's is int64"):
        list(ds.scan(np.int64(0), lambda s, x: (s * 1.5, x)))
    with pytest.raises(TypeError, match=r"new state returned for element 0 has structure"):
        list(ds.scan((np.int64(0), np.int64(0)), lambda s, x: (s[0], x)))
    with pytest.raises(TypeError, match=r"must return a pair \(new_state, output\); for "
                                        r"element 0"):
        list(ds.scan(np.int64(0), lambda s, x: s + x))
    with pytest.raises(TypeError, match="scan_func must be callable"):
        ds.scan(0, None)
    assert Dataset.range(0).scan(np.int64(0), lambda s, x: (s, (x, s))).element_spec == \
        (TensorSpec((), np.int64), TensorSpec((), np.int64))


# --- unique, rebatch ----------------------------------------------------------------------

@FAST
@given(values=st.lists(st.integers(-3, 3), max_size=20))
def test_unique_keeps_first_occurrences(values):
    ds = Dataset.from_tensor_slices(np.array(values, dtype=np.int64)).unique()
    assert ints(ds) == list(dict.fromkeys(values))
    assert int(ds.cardinality()) == UNKNOWN_CARDINALITY


def test_unique_as_tf_documents_and_refuses_what_tf_refuses():
    assert sorted(ints(Dataset.from_tensor_slices([1, 37, 2, 37, 2, 1]).unique())) == [1, 2, 37]
    words = Dataset.from_tensor_slices(np.array(["b", "a", "b", "ccc"])).unique()
    assert [str(w) for w in words] == ["b", "a", "ccc"]
    rows = Dataset.from_tensor_slices(np.array([[1, 2], [1, 2], [2, 1]])).unique()
    assert ints(rows) == [[1, 2], [2, 1]]
    with pytest.raises(TypeError, match="int32, int64 or strings.*float32"):
        Dataset.from_tensor_slices(np.zeros(3, np.float32)).unique()
    with pytest.raises(TypeError, match="single component"):
        Dataset.from_tensor_slices((np.arange(3), np.arange(3))).unique()


def reference_rebatch(n, sizes, drop):
    rows, out = list(range(n)), []
    for size in itertools.cycle(sizes):
        if not rows or (drop and len(rows) < size):
            return out
        out.append(rows[:size])
        rows = rows[size:]


def test_rebatch_as_tf_documents():
    assert ints(Dataset.range(8).batch(3).rebatch(2)) == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert ints(Dataset.range(16).batch(4).rebatch([2, 1, 1])) == \
        [[0, 1], [2], [3], [4, 5], [6], [7], [8, 9], [10], [11], [12, 13], [14], [15]]


@FAST
@given(n=st.integers(0, 30), batch=st.integers(1, 7),
       sizes=st.lists(st.integers(1, 5), min_size=1, max_size=3), drop=st.booleans())
def test_rebatch_is_unbatch_then_cycled_batches(n, batch, sizes, drop):
    x = np.arange(n)
    ds = Dataset.from_tensor_slices((x, x * 2.0)).batch(batch).rebatch(
        sizes if len(sizes) > 1 else sizes[0], drop_remainder=drop)
    want = reference_rebatch(n, sizes, drop)
    got = [(a.tolist(), b.tolist()) for a, b in ds]
    assert got == [(w, [2.0 * v for v in w]) for w in want]
    lead = sizes[0] if drop and len(set(sizes)) == 1 else None
    assert ds.element_spec == (TensorSpec((lead,), np.int64), TensorSpec((lead,), np.float64))


def test_rebatch_errors_and_cardinality():
    batched = Dataset.range(10).batch(4)
    assert int(batched.rebatch(2).cardinality()) == UNKNOWN_CARDINALITY
    assert int(batched.repeat().rebatch(2).cardinality()) == INFINITE_CARDINALITY
    with pytest.raises(ValueError, match="rebatch: component is a scalar"):
        Dataset.range(3).rebatch(2)
    with pytest.raises(ValueError, match=r"batch_size must be >= 1 \(each of them\); "
                                         r"received \[2, 0\]"):
        batched.rebatch([2, 0])
    with pytest.raises(TypeError, match="Dataset.rebatch: batch_size must be an integer"):
        batched.rebatch(1.5)


def test_the_implemented_methods_are_no_longer_refused():
    ds = Dataset.range(3)
    for name in ("interleave", "window", "scan", "unique", "rebatch", "group_by_window",
                 "bucket_by_sequence_length", "ignore_errors", "with_options", "options",
                 "ragged_batch"):
        assert callable(getattr(ds, name))
    with pytest.raises(NotImplementedError, match="Dataset.snapshot is not implemented"):
        ds.snapshot  # noqa: B018
