"""xf.RaggedTensor and xf.ragged against the row lists (the oracle), eager and traced."""

import functools
import operator

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xlaflow as xf
from xlaflow.errors import InvalidArgumentError

RT = xf.RaggedTensor
ROWS = [[3, 1, 4, 1], [], [5, 9, 2], [6], []]
SPLITS = [0, 4, 4, 7, 8, 8]
FLAT = [3, 1, 4, 1, 5, 9, 2, 6]


def test_constructors_agree_with_tf_guide_example():
    made = [RT.from_row_splits(FLAT, SPLITS), RT.from_row_lengths(FLAT, [4, 0, 3, 1, 0]),
            RT.from_value_rowids(FLAT, [0, 0, 0, 0, 2, 2, 2, 3], nrows=5),
            RT.from_row_starts(FLAT, [0, 4, 4, 7, 8]),
            RT.from_row_limits(FLAT, [4, 4, 7, 8, 8]), xf.ragged.constant(ROWS)]
    for rt in made:
        assert rt.to_list() == ROWS
        assert rt.shape.as_list() == [5, None]
        assert rt.row_splits.dtype == jax.dtypes.canonicalize_dtype(jnp.int64)
    assert repr(made[0]) == "<tf.RaggedTensor [[3, 1, 4, 1], [], [5, 9, 2], [6], []]>"
    rt32 = RT.from_row_splits(FLAT, np.asarray(SPLITS, np.int32))
    assert rt32.row_splits.dtype == np.int32


def test_partition_views():
    rt = RT.from_row_splits(FLAT, SPLITS)
    assert rt.row_lengths().tolist() == [4, 0, 3, 1, 0]
    assert rt.value_rowids().tolist() == [0, 0, 0, 0, 2, 2, 2, 3]
    assert rt.row_starts().tolist() == SPLITS[:-1]
    assert rt.row_limits().tolist() == SPLITS[1:]
    assert int(rt.nrows()) == 5 and len(rt) == 5
    assert rt.bounding_shape().tolist() == [5, 4]
    assert [r.tolist() for r in rt] == ROWS


def test_nested():
    rows = [[[1, 2, 3], []], [], [[4, 5, 6]]]
    rt = RT.from_nested_row_lengths([1, 2, 3, 4, 5, 6], [[2, 0, 1], [3, 0, 3]])
    assert rt.to_list() == rows and rt.ragged_rank == 2
    same = RT.from_nested_row_splits([1, 2, 3, 4, 5, 6], [[0, 2, 2, 3], [0, 3, 3, 6]])
    assert same.to_list() == rows
    assert rt.merge_dims(0, 1).to_list() == [r for row in rows for r in row]
    assert rt.merge_dims(1, 2).to_list() == [functools.reduce(operator.iadd, row, []) for row in rows]
    assert rt.merge_dims(0, -1).tolist() == [1, 2, 3, 4, 5, 6]
    assert rt.to_tensor().tolist() == [[[1, 2, 3], [0, 0, 0]], [[0, 0, 0], [0, 0, 0]],
                                       [[4, 5, 6], [0, 0, 0]]]
    assert xf.reduce_sum(rt, axis=2).to_list() == [[6, 0], [], [15]]
    assert rt.nested_row_lengths()[1].tolist() == [3, 0, 3]


def test_to_tensor_numpy_sparse_and_back():
    rt = RT.from_row_splits(FLAT, SPLITS)
    dense = np.zeros((5, 4), np.int32)
    for i, r in enumerate(ROWS):
        dense[i, :len(r)] = r
    np.testing.assert_array_equal(rt.to_tensor(), dense)
    np.testing.assert_array_equal(rt.to_tensor(default_value=-1, shape=[3, 2]),
                                  [[3, 1], [-1, -1], [5, 9]])
    arr = rt.numpy()
    assert arr.dtype == object and [a.tolist() for a in arr] == ROWS
    assert RT.from_row_lengths([1, 2, 3, 4], [2, 2]).numpy().tolist() == [[1, 2], [3, 4]]
    sp = rt.to_sparse()
    np.testing.assert_array_equal(xf.sparse.to_dense(sp), dense)
    assert RT.from_sparse(sp).to_list() == ROWS
    assert RT.from_tensor(dense, padding=0).to_list() == ROWS
    assert RT.from_tensor(dense, lengths=[4, 0, 3, 1, 0]).to_list() == ROWS
    assert RT.from_tensor(dense).to_list() == dense.tolist()


def test_text_values():
    rt = xf.ragged.constant([["a", "bc"], [], ["d"]])
    assert rt.to_list() == [[b"a", b"bc"], [], [b"d"]]
    assert rt.dtype == xf.string
    assert rt.to_tensor().tolist() == [[b"a", b"bc"], [b"", b""], [b"d", b""]]


def test_getitem():
    rt = RT.from_row_splits(FLAT, SPLITS)
    assert rt[2].tolist() == [5, 9, 2]
    assert rt[-2].tolist() == [6]
    assert rt[1:4].to_list() == ROWS[1:4]
    assert rt[::2].to_list() == ROWS[::2]
    assert int(rt[2, 1]) == 9
    assert rt[:, :2].to_list() == [r[:2] for r in ROWS]
    full = RT.from_row_lengths([1, 2, 3, 4, 5], [2, 1, 2])
    assert full[:, 0].tolist() == [1, 3, 4]
    assert full[:, -1].tolist() == [2, 3, 5]
    with pytest.raises(InvalidArgumentError, match="row 1 of length 0"):
        rt[:, 0]
    with pytest.raises(IndexError, match="row index 5"):
        rt[5]


def test_operators_and_broadcasting():
    rt = RT.from_row_splits(np.asarray(FLAT, np.float32), SPLITS)
    assert (rt + 1).to_list() == [[v + 1 for v in r] for r in ROWS]
    assert (2 * rt - rt).to_list() == ROWS
    assert (rt * rt).to_list() == [[v * v for v in r] for r in ROWS]
    col = np.arange(5, dtype=np.float32).reshape(5, 1)
    assert (rt + col).to_list() == [[v + i for v in r] for i, r in enumerate(ROWS)]
    assert (rt > 2).to_list() == [[v > 2 for v in r] for r in ROWS]
    assert (-rt).to_list() == [[-v for v in r] for r in ROWS]
    ints = RT.from_row_splits(FLAT, SPLITS)
    assert (ints // 2).to_list() == [[v // 2 for v in r] for r in ROWS]
    assert (ints % 3).to_list() == [[v % 3 for v in r] for r in ROWS]
    other = RT.from_row_lengths(FLAT, [4, 1, 2, 1, 0])
    with pytest.raises(InvalidArgumentError, match="row_splits differ"):
        rt + other
    with pytest.raises(InvalidArgumentError, match="dimension size mismatch in dimension 1"):
        rt + np.ones((5, 3), np.float32)


def test_dispatched_ops():
    rt = RT.from_row_splits(np.asarray(FLAT, np.float32), SPLITS)
    assert xf.reduce_sum(rt, axis=1).tolist() == [sum(r) for r in ROWS]
    mean = xf.reduce_mean(rt, axis=1)
    np.testing.assert_allclose(mean, [np.mean(r) if r else np.nan for r in ROWS])
    low = np.finfo(np.float32).min
    assert xf.reduce_max(rt, axis=1).tolist() == [max(r) if r else low for r in ROWS]
    assert xf.reduce_min(rt, axis=1).tolist() == [min(r) if r else -low for r in ROWS]
    assert xf.reduce_prod(rt, axis=1).tolist() == [float(np.prod(r)) for r in ROWS]
    assert xf.reduce_any(rt > 4, axis=1).tolist() == [any(v > 4 for v in r) for r in ROWS]
    assert xf.reduce_all(rt > 4, axis=1).tolist() == [all(v > 4 for v in r) for r in ROWS]
    assert float(xf.reduce_sum(rt)) == sum(FLAT)
    assert xf.reduce_max(rt, axis=0).tolist() == [6, 9, 4, 1]
    np.testing.assert_allclose(xf.exp(rt).flat_values, np.exp(FLAT), rtol=1e-6)
    np.testing.assert_allclose(xf.math.sqrt(rt).flat_values, np.sqrt(FLAT), rtol=1e-6)
    np.testing.assert_allclose(xf.sigmoid(rt).flat_values, 1 / (1 + np.exp(-np.array(FLAT))),
                               rtol=1e-6)
    assert xf.cast(rt, xf.int32).to_list() == ROWS
    assert xf.concat([rt, rt], 0).to_list() == ROWS + ROWS
    assert xf.concat([rt, rt], 1).to_list() == [r + r for r in ROWS]
    assert xf.stack([rt, rt[:2]]).to_list() == [ROWS, ROWS[:2]]
    assert xf.gather(rt, [3, 0]).to_list() == [ROWS[3], ROWS[0]]


def test_ragged_namespace():
    assert xf.ragged.range([3, 5, 2]).to_list() == [[0, 1, 2], [0, 1, 2, 3, 4], [0, 1]]
    assert xf.ragged.range([0, 5, 8], [3, 3, 12], 2).to_list() == [[0, 2], [], [8, 10]]
    assert xf.ragged.row_splits_to_segment_ids(SPLITS).tolist() == [0, 0, 0, 0, 2, 2, 2, 3]
    assert xf.ragged.segment_ids_to_row_splits([0, 0, 0, 0, 2, 2, 2, 3], 5).tolist() == SPLITS
    rt = RT.from_row_splits(FLAT, SPLITS)
    assert xf.ragged.map_flat_values(lambda v: v * 10, rt).to_list() == \
        [[v * 10 for v in r] for r in ROWS]
    mask = rt > 3
    assert xf.ragged.boolean_mask(rt, mask).to_list() == [[v for v in r if v > 3] for r in ROWS]
    assert xf.ragged.boolean_mask(rt, [True, False, True, False, False]).to_list() == \
        [ROWS[0], ROWS[2]]
    spec = xf.RaggedTensorSpec([5, None], xf.int32)
    assert spec.is_compatible_with(rt) and spec.ragged_rank == 1
    assert not xf.RaggedTensorSpec([4, None], xf.int32).is_compatible_with(rt)


def test_validate_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"row_splits\[-1\] = 7 must equal .* 8"):
        RT.from_row_splits(FLAT, [0, 4, 7])
    with pytest.raises(ValueError, match=r"row_splits\[0\] must be 0"):
        RT.from_row_splits(FLAT, [1, 4, 8])
    with pytest.raises(ValueError, match="must not decrease"):
        RT.from_row_splits(FLAT, [0, 5, 4, 8])
    with pytest.raises(ValueError, match=r"sum\(row_lengths\) = 7"):
        RT.from_row_lengths(FLAT, [4, 3])
    with pytest.raises(ValueError, match="must be greater than value_rowids"):
        RT.from_value_rowids(FLAT, [0, 0, 0, 0, 2, 2, 2, 3], nrows=3)
    with pytest.raises(ValueError, match="constructor is private"):
        RT(FLAT, SPLITS)


def test_traced_matches_eager_and_data_dependent_ops_refuse():
    rt = RT.from_row_splits(np.asarray(FLAT, np.float32), SPLITS)

    @xf.function
    def f(r):
        return (xf.reduce_sum(r * 2.0, axis=1), r.to_tensor(shape=[5, 4]), r + r,
                xf.reduce_max(r, axis=1), r.value_rowids())

    out = f(rt)
    assert out[0].tolist() == xf.reduce_sum(rt * 2.0, axis=1).tolist()
    np.testing.assert_array_equal(out[1], rt.to_tensor())
    assert isinstance(out[2], RT) and out[2].to_list() == (rt + rt).to_list()
    assert out[3].tolist() == xf.reduce_max(rt, axis=1).tolist()
    assert out[4].tolist() == rt.value_rowids().tolist()

    @xf.function
    def g(r):
        return r.to_tensor()

    with pytest.raises(TypeError, match="shape="):
        g(rt)

    @jax.jit
    def column(r):
        return r[:, 0]

    with pytest.raises(Exception, match="out of bounds for row 1"):
        jax.block_until_ready(column(rt))


def test_grad_through_reduce_sum_matches_dense():
    w = np.arange(1, 6, dtype=np.float32).reshape(5, 1)
    flat = np.asarray(FLAT, np.float32)

    def ragged_loss(values):
        rt = RT.from_row_splits(values, SPLITS, validate=False)
        return xf.reduce_sum(xf.reduce_sum(rt * w, axis=1) ** 2)

    def dense_loss(values):
        ids = np.repeat(np.arange(5), np.diff(SPLITS))
        return jnp.sum(jax.ops.segment_sum(values * w[ids, 0], ids, 5) ** 2)

    np.testing.assert_allclose(jax.grad(ragged_loss)(flat), jax.grad(dense_loss)(flat),
                               rtol=1e-6)


@settings(max_examples=12, deadline=None)
@given(st.lists(st.lists(st.integers(-50, 50), max_size=3), max_size=3))
def test_random_partitions(rows):
    rt = xf.ragged.constant(rows, dtype=xf.int32, ragged_rank=1)
    assert rt.to_list() == rows
    assert rt.row_lengths().tolist() == [len(r) for r in rows]
    assert xf.reduce_sum(rt, axis=1).tolist() == [sum(r) for r in rows]
    assert (rt * 3).to_list() == [[3 * v for v in r] for r in rows]
    again = RT.from_value_rowids(rt.flat_values, rt.value_rowids(), nrows=len(rows))
    assert again.to_list() == rows
    if rows:
        assert xf.concat([rt, rt], 1).to_list() == [r + r for r in rows]
        width = max(len(r) for r in rows)
        dense = rt.to_tensor(shape=[len(rows), width + 1])
        assert RT.from_tensor(dense, lengths=[len(r) for r in rows]).to_list() == rows


def test_an_op_without_a_ragged_form_says_what_to_do():
    rt = xf.ragged.constant([[1.0, 2.0], [3.0]])
    with pytest.raises(TypeError, match=r"tf.math.top_k does not take a RaggedTensor.*"
                                        r"map_flat_values.*to_tensor"):
        xf.math.top_k(rt, k=1)
    with pytest.raises(TypeError, match=r"does not take a RaggedTensor"):
        xf.linalg.matmul([rt], rt)  # found inside a list too
