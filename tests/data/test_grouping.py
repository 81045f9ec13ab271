"""group_by_window and bucket_by_sequence_length against groupings computed in plain Python
(dicts and lists), following TF's GroupByWindow order."""


import numpy as np
import pytest

import xlaflow as xf
from xlaflow.data import Dataset


def _expected_windows(values, key, size_of):
    """TF's order by hand: a window as soon as full, then the rest by increasing key."""
    groups, out = {}, []
    for v in values:
        k = key(v)
        groups.setdefault(k, []).append(v)
        if len(groups[k]) == size_of(k):
            out.append((k, groups.pop(k)))
    out.extend((k, groups[k]) for k in sorted(groups))
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 50])
def test_group_by_window_fixed_size(size):
    values = [5, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9]
    ds = Dataset.from_tensor_slices(np.array(values, np.int64)).group_by_window(
        lambda v: v % 3, lambda k, w: w.batch(size), window_size=size)
    want = [vs for _, vs in _expected_windows(values, lambda v: v % 3, lambda k: size)]
    assert [b.tolist() for b in ds] == want
    assert [b.tolist() for b in ds] == want  # a second pass: the same


def test_group_by_window_size_func_key_and_flush_order():
    values = list(range(20))
    key = lambda v: (v * 7) % 5 - 2
    size_of = lambda k: abs(k) + 1
    seen = []

    def size_func(k):
        seen.append(int(k))
        assert k.dtype == np.int64 and k.shape == ()
        return abs(k) + 1

    def reduce_func(k, w):
        assert k.dtype == np.int64
        return w.map(lambda v: (k, v))

    ds = Dataset.range(20).group_by_window(lambda v: key(v), reduce_func,
                                           window_size_func=size_func)
    got = [(int(k), int(v)) for k, v in ds]
    want = [(k, v) for k, vs in _expected_windows(values, key, size_of) for v in vs]
    assert got == want
    assert sorted(seen) == sorted(set(seen))  # window_size_func: once per key
    assert ds.element_spec == (xf.TensorSpec((), "int64"), xf.TensorSpec((), "int64"))
    assert int(ds.cardinality()) == xf.data.UNKNOWN_CARDINALITY


def test_group_by_window_edges():
    # Empty input: nothing, and element_spec from reducing an empty window (as TF traces).
    empty = Dataset.range(0).group_by_window(lambda v: v, lambda k, w: w.batch(4), 3)
    assert list(empty) == []
    assert empty.element_spec == xf.TensorSpec((None,), "int64")
    # A key with a single element is flushed at the end, alone.
    ds = Dataset.range(7).group_by_window(lambda v: v // 6, lambda k, w: w.batch(10), 10)
    assert [b.tolist() for b in ds] == [[0, 1, 2, 3, 4, 5], [6]]
    # Structured elements keep their structure in the window; int32 keys are accepted.
    pairs = Dataset.from_tensor_slices((np.arange(6), np.arange(6) * 10))
    ds = pairs.group_by_window(lambda a, b: a % 2, lambda k, w: w.batch(3), 3)
    assert [(a.tolist(), b.tolist()) for a, b in ds] == [
        ([0, 2, 4], [0, 20, 40]), ([1, 3, 5], [10, 30, 50])]


def test_group_by_window_bad_arguments_raise_before_running():
    calls = []
    ds = Dataset.range(4).map(lambda v: calls.append(1) or v)
    calls.clear()
    with pytest.raises(ValueError, match="exactly one of window_size and window_size_func"):
        ds.group_by_window(lambda v: v, lambda k, w: w, 2, lambda k: 2)
    with pytest.raises(ValueError, match="exactly one of window_size and window_size_func"):
        ds.group_by_window(lambda v: v, lambda k, w: w)
    with pytest.raises(ValueError, match=r"group_by_window: window_size must be >= 1; "
                                         r"received 0"):
        ds.group_by_window(lambda v: v, lambda k, w: w, 0)
    with pytest.raises(TypeError, match="window_size must be an integer; received 2.5"):
        ds.group_by_window(lambda v: v, lambda k, w: w, 2.5)
    with pytest.raises(TypeError, match="reduce_func must be callable; received int"):
        ds.group_by_window(lambda v: v, 3, 2)
    with pytest.raises(TypeError, match="window_size_func must be callable"):
        ds.group_by_window(lambda v: v, lambda k, w: w, window_size_func=4)
    assert calls == []
    with pytest.raises(TypeError, match=r"key_func must return an integer \(int64\) scalar; "
                                        r"for element 0 it returned float32"):
        list(ds.group_by_window(lambda v: np.float32(v), lambda k, w: w, 2))
    with pytest.raises(ValueError, match="window_size_func returned -1 for key 0"):
        list(ds.group_by_window(lambda v: v, lambda k, w: w, window_size_func=lambda k: k - 1))
    with pytest.raises(TypeError, match="reduce_func must return a Dataset; for key 0"):
        list(ds.group_by_window(lambda v: v * 0, lambda k, w: [1], 2))


def _lengths_dataset(lengths, dtype="int64"):
    seqs = [np.arange(1, n + 1, dtype=dtype) for n in lengths]
    return seqs, Dataset.from_generator(lambda: iter(seqs),
                                        output_signature=xf.TensorSpec([None], dtype))


def _expected_buckets(seqs, boundaries, sizes, filler_of=None):
    bucket = lambda s: next(i for i, b in enumerate(boundaries + [2**31 - 1])
                            if len(s) < b)
    out = []
    for k, group in _expected_windows(range(len(seqs)), lambda i: bucket(seqs[i]),
                                      lambda k: sizes[k]):
        group = [seqs[i] for i in group]
        width = max(len(s) for s in group) if filler_of is None else filler_of(k)
        out.append([list(s) + [0] * (width - len(s)) for s in group])
    return out


def test_bucket_by_sequence_length_pads_to_the_longest_or_the_boundary():
    lengths = [1, 3, 5, 2, 7, 4, 9, 1, 6, 3, 3]
    seqs, ds = _lengths_dataset(lengths)
    boundaries, sizes = [3, 6, 10], [2, 2, 3, 2]
    got = ds.bucket_by_sequence_length(lambda s: np.shape(s)[0], boundaries, sizes)
    assert [b.tolist() for b in got] == _expected_buckets(seqs, boundaries, sizes)
    assert got.element_spec == xf.TensorSpec((None, None), "int64")
    to_boundary = ds.bucket_by_sequence_length(lambda s: np.shape(s)[0], boundaries, sizes,
                                               pad_to_bucket_boundary=True)
    assert [b.tolist() for b in to_boundary] == _expected_buckets(
        seqs, boundaries, sizes, filler_of=lambda k: boundaries[k] - 1)


def test_bucket_by_sequence_length_options():
    lengths = [2, 2, 4, 4, 4, 2, 5]
    seqs, ds = _lengths_dataset(lengths)
    # drop_remainder drops each bucket's short last batch.
    dropped = ds.bucket_by_sequence_length(len, [3], [2, 2], drop_remainder=True)
    assert [b.tolist() for b in dropped] == [
        b for b in _expected_buckets(seqs, [3], [2, 2]) if len(b) == 2]
    # padding_values and a fixed padded shape.
    padded = ds.bucket_by_sequence_length(len, [3], [2, 2], padded_shapes=[6],
                                          padding_values=np.int64(-1))
    want = [[list(s) + [-1] * (6 - len(s)) for s in b]
            for b in _expected_buckets(seqs, [3], [2, 2])]
    assert [b.tolist() for b in padded] == [[[v if v else -1 for v in row] for row in b]
                                            for b in want]
    # no_padding: equal lengths per batch, so batch stacks them.
    same = Dataset.from_tensor_slices(np.arange(12).reshape(6, 2)).bucket_by_sequence_length(
        lambda s: s[0] % 3, [1, 2], [2, 2, 2], no_padding=True)
    rows = np.arange(12).reshape(6, 2).tolist()
    assert [b.tolist() for b in same] == [
        [rows[i] for i in g] for _, g in _expected_windows(
            range(6), lambda i: rows[i][0] % 3, lambda k: 2)]


def test_bucket_by_sequence_length_errors():
    _, ds = _lengths_dataset([1, 8])
    with pytest.raises(ValueError, match=r"len\(bucket_batch_sizes\) must equal "
                                         r"len\(bucket_boundaries\) \+ 1; received "
                                         r"len\(bucket_batch_sizes\)=2 and "
                                         r"len\(bucket_boundaries\)=2"):
        ds.bucket_by_sequence_length(len, [3, 5], [2, 2])
    with pytest.raises(ValueError, match="bucket_batch_sizes must be >= 1; received 0"):
        ds.bucket_by_sequence_length(len, [3], [2, 0])
    with pytest.raises(ValueError, match="bucket_boundaries must be in increasing order"):
        ds.bucket_by_sequence_length(len, [5, 3], [2, 2, 2])
    with pytest.raises(TypeError, match="element_length_func must be callable"):
        ds.bucket_by_sequence_length(None, [3], [2, 2])
    with pytest.raises(ValueError, match=r"padded_shapes is \(2, 2\) \(rank 2\)"):
        ds.bucket_by_sequence_length(len, [3], [2, 2], padded_shapes=[2, 2])
    too_long = ds.bucket_by_sequence_length(len, [3], [1, 1], pad_to_bucket_boundary=True)
    with pytest.raises(ValueError, match=r"elements must have length < "
                                         r"bucket_boundaries\[-1\] \(3\)"):
        list(too_long)
