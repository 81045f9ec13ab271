"""Fixes from an adversarial review of xf.RaggedTensor against TF 2.12's documented
behaviour; each test's oracle is a Python list or NumPy computation."""

import functools

import jax
import numpy as np
import pytest

import xlaflow as xf
from xlaflow.errors import InvalidArgumentError


def test_traced_operands_with_different_value_counts_fail_as_tf():
    # same number of rows, different number of values: the partitions cannot match, so
    # the traced op refuses it (before, JAX's broadcasting TypeError escaped)
    a = xf.ragged.constant([[1, 2, 3], [], [4]])
    b = xf.ragged.constant([[1], [2, 3, 4], [5, 6]])
    with pytest.raises(InvalidArgumentError, match="4 and 6 values"):
        jax.jit(lambda x, y: x + y)(a, b)
    with pytest.raises(InvalidArgumentError):
        a + b
    assert jax.jit(lambda x, y: x + y)(a, a).to_list() == [[2, 4, 6], [], [8]]


def test_text_ragged_compares_with_eq_and_ne():
    rows = [[b"hello", b"world"], [], [b"a", b"b", b"a"]]
    words = xf.ragged.constant(rows)
    assert (words == "a").to_list() == [[w == b"a" for w in r] for r in rows]
    assert (words == b"a").to_list() == [[w == b"a" for w in r] for r in rows]
    assert (words != "a").to_list() == [[w != b"a" for w in r] for r in rows]
    same = words
    assert (words == same).to_list() == [[True] * len(r) for r in rows]
    with pytest.raises(TypeError, match="== and != only"):
        _ = words < "b"


def test_eq_is_false_for_none_and_operands_that_do_not_broadcast():
    # TF's documented RaggedTensor.__eq__: False (and != True) instead of an error
    rt1 = xf.ragged.constant([[1, 2], [3]])
    rt3 = xf.ragged.constant([[1, 2], [3, 4]])
    assert (rt1 == None) is False
    assert (rt1 != None) is True
    assert (rt1 == rt3) is False
    assert (rt1 != rt3) is True
    assert (rt1 == np.array([[1, 2], [3, 4]])) is False
    rt4 = xf.ragged.constant([[1, 2], [3, 5]])
    assert (rt4 == np.array([[1, 2], [3, 4]])).to_list() == [[True, True], [True, False]]
    assert (rt1 == xf.ragged.constant([[1, 2], [4]])).to_list() == [[True, True], [False]]


def test_numpy_operands_on_the_left_use_the_reflected_operator():
    rows = [[1, 2, 3], [], [4]]
    rt = xf.ragged.constant(rows)
    assert (np.int32(2) + rt).to_list() == [[2 + v for v in r] for r in rows]
    assert (np.int32(2) < rt).to_list() == [[2 < v for v in r] for r in rows]
    column = np.array([[10], [20], [30]])
    assert (column - rt).to_list() == [[int(c[0]) - v for v in r]
                                       for c, r in zip(column, rows)]
    assert (np.float32(0.5) * xf.cast(rt, xf.float32)).to_list() == \
        [[0.5 * v for v in r] for r in rows]


def test_logical_operators_take_bool_only_as_tf():
    rows = [[1, 0, 3], [], [4]]
    rt = xf.ragged.constant(rows)
    mask = rt > 0
    assert (~mask).to_list() == [[not v > 0 for v in r] for r in rows]
    assert (mask & True).to_list() == [[v > 0 for v in r] for r in rows]
    assert (mask ^ mask).to_list() == [[False] * len(r) for r in rows]
    for bad in (lambda: ~rt, lambda: rt & rt, lambda: mask | 1, lambda: 1 ^ mask):
        with pytest.raises(TypeError, match="take bool values"):
            bad()


def _combine(items, depth, op, identity):
    """TF's ragged reduction over the outer axis of `items`: nested lists combined element
    by element, each row as long as the longest (the oracle)."""
    if depth == 0:
        return functools.reduce(op, items, identity)
    width = max((len(i) for i in items), default=0)
    return [_combine([i[j] for i in items if j < len(i)], depth - 1, op, identity)
            for j in range(width)]


def _reduce_lists(rows, axis, depth, op, identity):
    if axis == 0:
        return _combine(rows, depth - 1, op, identity)
    return [_reduce_lists(r, axis - 1, depth - 1, op, identity) for r in rows]


@pytest.mark.parametrize("rows", [
    [[[1, 2], [3]], [], [[4]], [[5, 6, 7], [], [8]]],
    [[[[1], [2, 3]], []], [[[4]]], [[[5, 6]], [[7]], [[], [8]]]],
])
def test_reduce_every_axis_of_deeper_ragged_tensors(rows):
    rt = xf.ragged.constant(rows)
    depth = rt.ndim
    low = np.iinfo(rt.dtype).min
    for axis in range(depth):
        want_sum = _reduce_lists(rows, axis, depth, lambda a, b: a + b, 0)
        got = xf.reduce_sum(rt, axis=axis)
        got = got.to_list() if isinstance(got, xf.RaggedTensor) else np.asarray(got).tolist()
        assert got == want_sum, axis
        want_max = _reduce_lists(rows, axis, depth, max, low)
        got = xf.reduce_max(rt, axis=axis)
        got = got.to_list() if isinstance(got, xf.RaggedTensor) else np.asarray(got).tolist()
        assert got == want_max, axis
    # keepdims adds a size-1 (uniform) dimension where the axis was
    kept = xf.reduce_sum(rt, axis=1, keepdims=True)
    assert kept.shape[1] == 1
    assert kept.to_list() == [[r] for r in _reduce_lists(rows, 1, depth,
                                                          lambda a, b: a + b, 0)]
    kept0 = xf.reduce_sum(rt, axis=0, keepdims=True)
    assert kept0.shape[0] == 1
    assert kept0.to_list() == [_reduce_lists(rows, 0, depth, lambda a, b: a + b, 0)]


def test_reduce_mean_over_an_outer_ragged_axis():
    rows = [[[1.0, 2.0], [3.0]], [], [[4.0]]]
    got = xf.reduce_mean(xf.ragged.constant(rows), axis=1).to_list()
    assert got == [[2.0, 2.0], [], [4.0]]


def test_gather_with_ragged_indices_keeps_their_rows():
    ids = [[2, 0], [], [1, 1, 2]]
    table = [10, 20, 30]
    got = xf.gather(xf.constant(table), xf.ragged.constant(ids))
    assert got.to_list() == [[table[i] for i in r] for r in ids]
    traced = jax.jit(lambda t, i: xf.gather(t, i))(xf.constant(table), xf.ragged.constant(ids))
    assert traced.to_list() == got.to_list()
    params = [[1, 2], [], [3]]
    got = xf.gather(xf.ragged.constant(params), xf.ragged.constant(ids))
    assert got.to_list() == [[params[i] for i in r] for r in ids]
    matrix = np.arange(6).reshape(3, 2)
    got = xf.gather(matrix, xf.ragged.constant(ids))
    assert got.to_list() == [[matrix[i].tolist() for i in r] for r in ids]


def test_more_element_wise_ops_dispatch_to_ragged_tensors():
    rows = [[1.0, -2.0, 3.0], [], [0.0, 5.0]]
    rt = xf.ragged.constant(rows)

    def per_value(fn):
        return [[float(fn(v)) for v in r] for r in rows]
    assert xf.nn.relu(rt).to_list() == per_value(lambda v: max(v, 0.0))
    assert xf.nn.leaky_relu(rt, alpha=0.5).to_list() == per_value(
        lambda v: v if v > 0 else 0.5 * v)
    assert xf.math.is_nan(rt / 0.0).to_list() == [[v == 0 for v in r] for r in rows]
    assert xf.clip_by_value(rt, 0.0, 2.0).to_list() == per_value(lambda v: min(max(v, 0), 2))
    assert xf.math.pow(rt, 2.0).to_list() == per_value(lambda v: v ** 2)
    assert xf.math.divide_no_nan(rt, rt).to_list() == per_value(lambda v: 1.0 if v else 0.0)
    assert xf.ones_like(rt).to_list() == per_value(lambda v: 1.0)
    assert xf.zeros_like(rt, dtype=xf.int32).to_list() == [[0] * len(r) for r in rows]
    assert xf.identity(rt).to_list() == rows
    assert xf.math.add_n([rt, rt, 1.0]).to_list() == per_value(lambda v: 2 * v + 1)
    assert xf.expand_dims(rt, 0).to_list() == [rows]
    assert xf.expand_dims(rt, 1).to_list() == [[r] for r in rows]
    assert xf.expand_dims(rt, -1).to_list() == [[[v] for v in r] for r in rows]
    assert xf.expand_dims(rt, 1).shape.as_list() == [3, 1, None]
    assert jax.jit(xf.nn.relu)(rt).to_list() == per_value(lambda v: max(v, 0.0))


def test_where_with_ragged_tensors():
    rows = [[1, -2, 3], [], [-4, 5]]
    rt = xf.ragged.constant(rows)
    got = xf.where(rt > 0, rt, -rt)
    assert got.to_list() == [[abs(v) for v in r] for r in rows]
    got = xf.where(rt > 0, rt, np.array([[100], [200], [300]]))
    assert got.to_list() == [[v if v > 0 else 100 * (i + 1) for v in r]
                             for i, r in enumerate(rows)]
    assert jax.jit(lambda r: xf.where(r > 0, r, 0))(rt).to_list() == \
        [[max(v, 0) for v in r] for r in rows]
    coords = xf.where(rt > 0)
    want = [[i, j] for i, r in enumerate(rows) for j, v in enumerate(r) if v > 0]
    assert np.asarray(coords).tolist() == want
    deep = xf.ragged.constant([[[True, False]], [], [[False], [True, True]]])
    want = [[0, 0, 0], [2, 1, 0], [2, 1, 1]]
    assert np.asarray(xf.where(deep)).tolist() == want


def test_concat_refuses_mixed_dtypes_and_raises_ragged_rank_as_tf():
    numbers = xf.ragged.constant([[1, 2], [3]])
    with pytest.raises(TypeError, match="one dtype"):
        xf.concat([numbers, xf.ragged.constant([["a"]])], 0)  # was silently text
    with pytest.raises(TypeError, match="one dtype"):
        xf.concat([numbers, xf.ragged.constant([[1.5]])], 0)
    uniform_inner = xf.ragged.constant([[[1, 2]], [[3, 4], [5, 6]]], ragged_rank=1)
    deeper = xf.ragged.constant([[[7]], [[8, 9, 10]]])
    got = xf.concat([uniform_inner, deeper], 0)
    assert got.ragged_rank == 2
    assert got.to_list() == uniform_inner.to_list() + deeper.to_list()
    got = xf.concat([uniform_inner, deeper], 1)
    assert got.to_list() == [a + b for a, b in zip(uniform_inner.to_list(), deeper.to_list())]
    with pytest.raises(ValueError, match="one rank"):
        xf.concat([numbers, deeper], 0)


def test_concat_inside_rows_and_of_ragged_rank_two_rows():
    a = [[[1], [2, 3]], [], [[4]]]
    b = [[[5, 6]], [[7]], []]
    got = xf.concat([xf.ragged.constant(a), xf.ragged.constant(b)], 1)
    assert got.to_list() == [x + y for x, y in zip(a, b)]
    c = [[[1, 2], [3]], [], [[4]]]
    d = [[[9], []], [], [[8, 7]]]
    got = xf.concat([xf.ragged.constant(c), xf.ragged.constant(d)], 2)
    assert got.to_list() == [[p + q for p, q in zip(x, y)] for x, y in zip(c, d)]
    dense_inner = xf.ragged.constant([[[1, 2]], [[3, 4], [5, 6]]], ragged_rank=1)
    got = xf.concat([dense_inner, dense_inner * 10], -1)
    assert got.to_list() == [[p + [10 * v for v in p] for p in r]
                             for r in dense_inner.to_list()]
    with pytest.raises(InvalidArgumentError):
        xf.concat([xf.ragged.constant(c), xf.ragged.constant([[[1]], [], [[2], [3]]])], 2)


def test_stack_along_inner_axes():
    a = [[1, 2], [], [3]]
    b = [[4], [5, 6], []]
    got = xf.stack([xf.ragged.constant(a), xf.ragged.constant(b)], axis=1)
    assert got.to_list() == [[x, y] for x, y in zip(a, b)]
    c = [[1, 2], [], [3]]
    got = xf.stack([xf.ragged.constant(a), xf.ragged.constant(c)], axis=-1)
    assert got.to_list() == [[[p, q] for p, q in zip(x, y)] for x, y in zip(a, c)]
    assert xf.stack([xf.ragged.constant(a)] * 2, axis=0).to_list() == [a, a]


def test_ragged_boolean_mask_with_dense_data_and_mask_of_rank_two():
    data = np.array([[1, 2, 3], [4, 5, 6]])
    mask = np.array([[True, False, True], [False, False, False]])
    got = xf.ragged.boolean_mask(data, mask)
    assert got.to_list() == [[int(v) for v, m in zip(r, k) if m] for r, k in zip(data, mask)]
    cube = np.arange(12).reshape(2, 3, 2)
    got = xf.ragged.boolean_mask(cube, mask)
    assert got.to_list() == [[v.tolist() for v, m in zip(r, k) if m]
                             for r, k in zip(cube, mask)]


def test_lookup_layers_adapt_to_ragged_tensors():
    from collections import Counter

    from xlaflow import keras

    rows = [["b", "a", "b"], [], ["c", "b"]]
    layer = keras.layers.StringLookup()
    layer.adapt(xf.ragged.constant(rows))
    counts = Counter(t for r in rows for t in r)
    # Keras 2 ranks by count, ties by the token, both descending (np.lexsort(...)[::-1])
    want = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
    assert layer.get_vocabulary() == ["[UNK]"] + want
    idf = keras.layers.StringLookup(output_mode="tf_idf")
    idf.adapt(xf.ragged.constant(rows))
    docs = Counter(t for r in rows for t in set(r))
    vocabulary = idf.get_vocabulary()[1:]
    want = [np.log(1 + 3 / (1 + docs[t])) for t in vocabulary]  # the empty row counts
    encoded = np.asarray(idf(xf.constant([vocabulary])))[0, 1:]
    np.testing.assert_allclose(encoded, want, rtol=1e-6)
    ints = keras.layers.IntegerLookup()
    ints.adapt(xf.ragged.constant([[5, 9, 9], [], [7, 9]]))
    assert ints.get_vocabulary() == [-1, 9, 7, 5]  # ties: the larger value first


def test_text_vectorization_of_a_ragged_tensor_says_what_to_pass():
    from xlaflow import keras

    layer = keras.layers.TextVectorization(ragged=True, split=None)
    layer.adapt(["a b c", "b"])
    with pytest.raises(NotImplementedError, match="takes dense strings") as info:
        layer(xf.ragged.constant([["a b", "c"], []]))
    assert "element-wise only (output_mode='int')" not in str(info.value)


def test_nest_expand_composites_gives_the_ragged_components():
    rt = xf.ragged.constant([[[1, 2]], [], [[3], [4, 5]]])
    # TF: a RaggedTensor is a leaf, or [flat_values, *nested_row_splits] when expanded
    leaves = xf.nest.flatten({"a": rt})
    assert len(leaves) == 1 and leaves[0] is rt
    parts = xf.nest.flatten({"a": rt, "b": 7}, expand_composites=True)
    assert [np.asarray(p).tolist() for p in parts] == [[1, 2, 3, 4, 5], [0, 1, 1, 3],
                                                       [0, 2, 3, 5], 7]
    # the 5 flat values doubled, the splits (4 and 3 entries) kept
    doubled = xf.nest.map_structure(lambda x: x * 2 if x.shape[0] == 5 else x, rt,
                                    expand_composites=True)
    assert doubled.to_list() == [[[2, 4]], [], [[6], [8, 10]]]
    packed = xf.nest.pack_sequence_as([rt], parts[:3], expand_composites=True)
    assert packed[0].to_list() == rt.to_list()
    uniform = xf.RaggedTensor.from_uniform_row_length(xf.constant([1, 2, 3, 4]), 2)
    again = xf.nest.pack_sequence_as(uniform, xf.nest.flatten(uniform, True), True)
    assert again.shape.as_list() == [2, 2]


def test_ragged_reductions_take_axis_tensors():
    rows = [[1, 2, 3], [], [4]]
    rt = xf.ragged.constant(rows)
    assert np.asarray(xf.reduce_sum(rt, axis=xf.constant(1))).tolist() == [sum(r) for r in rows]
    assert int(xf.reduce_sum(rt, axis=xf.constant([0, 1]))) == sum(map(sum, rows))
    assert np.asarray(xf.reduce_max(rt, axis=np.int64(0))).tolist() == [4, 2, 3]


def test_from_tensor_rows_have_a_uniform_length_as_tf():
    # TF's from_tensor (no lengths or padding) partitions by from_uniform_row_length
    cube = np.arange(24).reshape(2, 3, 4)
    rt = xf.RaggedTensor.from_tensor(cube)
    assert rt.shape.as_list() == [2, 3, 4]
    assert int(rt.uniform_row_length) == 3
    deep = xf.RaggedTensor.from_tensor(cube, ragged_rank=2)
    assert deep.shape.as_list() == [2, 3, 4] and deep.to_list() == cube.tolist()
    assert xf.RaggedTensor.from_tensor(cube[:, :, 0], lengths=[1, 2]).shape.as_list() == \
        [2, None]
    assert xf.strings.split(xf.constant([["a b"], ["c"]])).shape.as_list() == [2, 1, None]


def test_tile_by_zero_rows_and_reverse_with_a_repeated_axis():
    rt = xf.ragged.constant([[[1], [2, 3]], [], [[4]]])
    none = xf.tile(rt, [0, 1, 1])
    assert none.to_list() == [] and none.ragged_rank == 2
    assert xf.tile(rt, [2, 1, 1]).to_list() == rt.to_list() * 2
    with pytest.raises(InvalidArgumentError, match="more than once"):
        xf.reverse(rt, [1, -2])
    assert xf.reverse(rt, [0, 2]).to_list() == [[r[::-1] for r in row]
                                                for row in rt.to_list()[::-1]]


def test_ragged_constant_reads_numpy_rows_as_lists():
    # TF's ragged.constant nests anything with np.ndim > 0 as a list
    rows = [np.array([1, 2]), np.array([3])]
    assert xf.ragged.constant(rows).to_list() == [r.tolist() for r in rows]
    words = [np.array(["a", "b"]), np.array([], str)]
    assert xf.ragged.constant(words).to_list() == [[b"a", b"b"], []]
    pairs = [[np.array([1, 2])], [np.array([3, 4]), np.array([5, 6])]]
    got = xf.ragged.constant(pairs, ragged_rank=1)
    assert got.shape.as_list() == [2, None, 2]
    assert got.to_list() == [[p.tolist() for p in r] for r in pairs]


def test_ragged_reduce_variance_and_std():
    rows = [[1.0, 2.0, 4.0], [3.0], [5.0, 7.0]]
    rt = xf.ragged.constant(rows)
    np.testing.assert_allclose(xf.math.reduce_variance(rt, axis=1), [np.var(r) for r in rows],
                               rtol=1e-6)
    np.testing.assert_allclose(xf.math.reduce_std(rt, axis=1), [np.std(r) for r in rows],
                               rtol=1e-6)
    columns = [[r[j] for r in rows if j < len(r)] for j in range(3)]
    np.testing.assert_allclose(xf.math.reduce_variance(rt, axis=0),
                               [np.var(c) for c in columns], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(xf.math.reduce_std(rt), np.std([v for r in rows for v in r]), rtol=1e-6)


def test_gather_by_a_matrix_of_row_ids_keeps_its_dims_known():
    rows = [[1, 2, 3], [], [4]]
    ids = [[2, 0], [1, 1]]
    got = xf.gather(xf.ragged.constant(rows), ids)
    assert got.to_list() == [[rows[i] for i in r] for r in ids]
    assert got.shape.as_list() == [2, 2, None]


def test_to_tensor_default_value_converts_as_tf():
    rt = xf.ragged.constant([[1, 2], [3]])
    with pytest.raises(TypeError, match="-1.5"):
        rt.to_tensor(default_value=-1.5)  # was silently truncated to -1
    assert np.asarray(rt.to_tensor(default_value=-1)).tolist() == [[1, 2], [3, -1]]
    floats = xf.ragged.constant([[1.0, 2.0], [3.0]])
    assert np.asarray(floats.to_tensor(default_value=2)).tolist() == [[1, 2], [3, 2]]
    traced = jax.jit(lambda r: r.to_tensor(default_value=9, shape=[2, 3]))(rt)
    assert np.asarray(traced).tolist() == [[1, 2, 9], [3, 9, 9]]


def test_ragged_boolean_mask_by_a_prefix_mask_and_bool_only():
    rows = [[[1], [2, 3]], [], [[4], [], [5]]]
    keep = [[True, False], [], [False, True, True]]
    got = xf.ragged.boolean_mask(xf.ragged.constant(rows), xf.ragged.constant(keep))
    assert got.to_list() == [[x for x, k in zip(r, m) if k] for r, m in zip(rows, keep)]
    inner = [[[1, 2]], [[3, 4], [5, 6]]]
    got = xf.ragged.boolean_mask(xf.ragged.constant(inner, ragged_rank=1),
                                 xf.ragged.constant([[False], [True, False]]))
    assert got.to_list() == [[], [[3, 4]]]
    with pytest.raises(TypeError, match="must be bool"):
        xf.ragged.boolean_mask(xf.ragged.constant([[1, 2]]), xf.ragged.constant([[1, 0]]))
    with pytest.raises(TypeError, match="must be bool"):
        xf.ragged.boolean_mask(xf.ragged.constant([[1, 2]]), [1])


def test_tf_boolean_mask_dispatches_to_the_ragged_form():
    rows = [[1, 5, 3], [], [7]]
    rt = xf.ragged.constant(rows)
    assert xf.boolean_mask(rt, rt > 2).to_list() == [[v for v in r if v > 2] for r in rows]
    assert xf.boolean_mask(rt, [True, False, True]).to_list() == [rows[0], rows[2]]


def test_segment_ids_to_row_splits_counts_as_tf_bincount():
    def oracle(ids, n):
        counts = np.bincount(np.asarray(ids, np.int64), minlength=n)[:n]
        return np.concatenate([[0], np.cumsum(counts)]).tolist()
    for ids, n in (([2, 0], None), ([0, 0, 2], None), ([0, 0, 2], 2), ([1, 1], 4), ([], 2)):
        got = xf.ragged.segment_ids_to_row_splits(ids, num_segments=n)
        want = oracle(ids, n if n is not None else (max(ids) + 1 if ids else 0))
        assert np.asarray(got).tolist() == want, (ids, n)
    with pytest.raises(InvalidArgumentError, match=">= 0"):
        xf.ragged.segment_ids_to_row_splits([-1, 0])
    traced = jax.jit(lambda i: xf.ragged.segment_ids_to_row_splits(i, num_segments=3))
    assert np.asarray(traced(np.array([2, 0, 2]))).tolist() == oracle([2, 0, 2], 3)


def test_dense_text_compares_with_bytes_and_str_as_tf():
    # TF's strings are bytes: t == b"a" and tf.equal(t, "a") are element-wise text equality
    t = xf.constant(["a", "b", "é"])
    np.testing.assert_array_equal(t == b"a", [True, False, False])
    np.testing.assert_array_equal(t != "b", [True, False, True])
    np.testing.assert_array_equal(xf.equal(t, "é".encode()), [False, False, True])
    np.testing.assert_array_equal(xf.math.not_equal(t, xf.constant(["a", "c", "é"])),
                                  [False, True, False])
    with pytest.raises(xf.errors.InvalidArgumentError, match="broadcast"):
        xf.equal(t, xf.constant(["a", "b"]))
