"""RaggedTensor additions for TF's "Ragged tensors" guide: tile, reverse, map_fn over rows,
from_uniform_row_length, broadcasting along ragged axes, xf.function with a
RaggedTensorSpec input_signature. Oracles: the same operation on Python lists."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.errors import InvalidArgumentError

RT = xf.RaggedTensor
ROWS = [[3, 1, 4, 1], [], [5, 9, 2], [6], []]


def rows_rt(rows=ROWS):
    return xf.ragged.constant(rows)


def test_tile_repeats_rows_and_row_contents():
    for m0, m1 in [(1, 2), (2, 0)]:
        want = [r * m1 for r in ROWS] * m0
        assert xf.tile(rows_rt(), [m0, m1]).to_list() == want
    traced = xf.function(lambda rt: xf.tile(rt, [2, 3]))(rows_rt())
    assert traced.to_list() == [r * 3 for r in ROWS] * 2
    nested = [[[1, 2], [3]], [], [[4]]]
    assert xf.tile(xf.ragged.constant(nested), [1, 2, 2]).to_list() == [
        [r * 2 for r in row] * 2 for row in nested]
    words = xf.ragged.constant([["a", "b"], ["c"]])
    assert xf.tile(words, [1, 2]).to_list() == [[b"a", b"b", b"a", b"b"], [b"c", b"c"]]
    with pytest.raises(ValueError, match="one int >= 0 per axis"):
        xf.tile(rows_rt(), [2])


def test_reverse_rows_and_inside_rows():
    rt = rows_rt()
    assert xf.reverse(rt, [1]).to_list() == [r[::-1] for r in ROWS]
    assert xf.reverse(rt, [0]).to_list() == ROWS[::-1]
    assert xf.function(lambda x: xf.reverse(x, [0, 1]))(rt).to_list() == \
        [r[::-1] for r in ROWS[::-1]]
    nested = [[[1, 2], [3]], [], [[4, 5, 6]]]
    assert xf.reverse(xf.ragged.constant(nested), [2]).to_list() == [
        [r[::-1] for r in row] for row in nested]
    assert xf.reverse(xf.ragged.constant(nested), [1]).to_list() == [row[::-1] for row in nested]


def test_map_fn_over_rows():
    rt = rows_rt()
    assert xf.map_fn(xf.math.square, rt).to_list() == [[v * v for v in r] for r in ROWS]
    sums = xf.map_fn(xf.reduce_sum, rt, fn_output_signature=xf.int32)
    np.testing.assert_array_equal(sums, [sum(r) for r in ROWS])
    doubled = xf.map_fn(lambda r: xf.concat([r, r], 0), rt,
                        fn_output_signature=xf.RaggedTensorSpec([None, None], xf.int32))
    assert doubled.to_list() == [r + r for r in ROWS]
    with pytest.raises(ValueError, match="rows of different shapes"):
        xf.map_fn(lambda r: r, rt, fn_output_signature=xf.int32)
    with pytest.raises(InvalidArgumentError, match="returned dtype float32"):
        xf.map_fn(lambda r: xf.cast(r, xf.float32), rt)
    traced = xf.function(lambda x: xf.map_fn(xf.math.square, x))
    with pytest.raises(TypeError, match="map_flat_values"):
        traced(rt)


def test_map_fn_traced_over_uniform_rows():
    rt = RT.from_uniform_row_length(np.arange(6, dtype=np.int32), 3)
    got = xf.function(lambda x: xf.map_fn(lambda r: r[::-1], x))(rt)
    assert got.to_list() == [[2, 1, 0], [5, 4, 3]]
    assert got.shape.as_list() == [2, 3]


def test_from_uniform_row_length_and_shape():
    inner = RT.from_row_splits(list(range(10, 20)), [0, 3, 5, 9, 10])
    rt = RT.from_uniform_row_length(inner, 2)
    assert rt.to_list() == [[[10, 11, 12], [13, 14]], [[15, 16, 17, 18], [19]]]
    assert rt.shape.as_list() == [2, 2, None]
    assert rt.ragged_rank == 2 and int(rt.uniform_row_length) == 2
    assert inner.uniform_row_length is None
    assert (rt * 2).shape.as_list() == [2, 2, None]
    empty = RT.from_uniform_row_length(np.zeros(0, np.int32), 0, nrows=3)
    assert empty.to_list() == [[], [], []]
    with pytest.raises(ValueError, match="must equal the number of values, 4"):
        RT.from_uniform_row_length([1, 2, 3, 4], 3)
    with pytest.raises(ValueError, match="uniform_row_length must be an integer >= 0"):
        RT.from_uniform_row_length([1, 2], -1)


def test_broadcasting_along_ragged_axes():
    x = xf.ragged.constant([[10, 87, 12], [19, 53], [12, 32]])
    assert (x + [[1000], [2000], [3000]]).to_list() == [
        [v + 1000 * (i + 1) for v in r] for i, r in enumerate(x.to_list())]
    square = xf.ragged.constant([[1, 2], [3, 4]])
    dense = np.array([[10, 20], [30, 40]], np.int32)
    assert (square + dense).to_list() == (np.array([[1, 2], [3, 4]]) + dense).tolist()
    uneven = xf.ragged.constant([[1, 2], [3, 4, 5, 6], [7]])
    with pytest.raises(InvalidArgumentError, match="mismatch in dimension 1"):
        uneven + np.ones((3, 4), np.int32)
    with pytest.raises(InvalidArgumentError, match="mismatch in dimension 1"):
        xf.function(lambda a, b: a + b)(uneven, np.ones((3, 4), np.int32))


def test_ragged_constant_refuses_mixed_types_and_depths():
    with pytest.raises(ValueError, match="mixed types"):
        xf.ragged.constant([["one", "two"], [3, 4]])
    with pytest.raises(ValueError, match="same nesting depth"):
        xf.ragged.constant(["A", ["B", "C"]])


def test_function_with_ragged_tensor_spec_signature():
    calls = []

    @xf.function(input_signature=[xf.RaggedTensorSpec(shape=[None, None], dtype=xf.int32)])
    def row_max(rt):
        calls.append(1)
        return xf.reduce_max(rt, axis=1)

    np.testing.assert_array_equal(row_max(xf.ragged.constant([[1, 5], [7]])), [5, 7])
    np.testing.assert_array_equal(row_max(xf.ragged.constant([[2, 1], [0]])), [2, 0])
    assert len(calls) == 1  # same sizes: one trace
    row_max(xf.ragged.constant([[1], [2], [3]]))
    assert len(calls) == 2  # new sizes: traced again (XLA shapes are static)
    with pytest.raises(TypeError, match="argument 'rt' expected dtype int32"):
        row_max(xf.ragged.constant([[1.0]]))
    with pytest.raises(ValueError, match="argument 'rt' expected ragged_rank 1"):
        row_max(xf.ragged.constant([[[1]]]))
    with pytest.raises(TypeError, match="argument 'rt' expected a RaggedTensor"):
        row_max(np.ones((2, 2), np.int32))
    with pytest.raises(TypeError, match="no row lengths"):
        row_max.get_concrete_function()
    two_rows = xf.function(lambda rt: rt + 1, input_signature=[
        xf.RaggedTensorSpec(shape=[2, None], dtype=xf.int32)])
    with pytest.raises(ValueError, match=r"expected shape \(2, None\)"):
        two_rows(xf.ragged.constant([[1], [2], [3]]))


def test_embedding_lookup_of_ragged_ids_and_text_concat():
    table = np.arange(12, dtype=np.float32).reshape(6, 2)
    ids = xf.ragged.constant([[0, 5], [], [3]])
    got = xf.nn.embedding_lookup(table, ids)
    assert got.to_list() == [[table[i].tolist() for i in r] for r in ids.to_list()]
    words = xf.ragged.constant([["a"], ["b", "c"]])
    marker = xf.fill([words.nrows(), 1], "#")
    assert xf.concat([marker, words, marker], axis=1).to_list() == [
        [b"#", b"a", b"#"], [b"#", b"b", b"c", b"#"]]


def test_saving_a_ragged_signature_is_refused_before_writing(tmp_path):
    module = xf.Module()
    module.f = xf.function(lambda rt: rt + 1, input_signature=[
        xf.RaggedTensorSpec([None, None], xf.int32)])
    with pytest.raises(NotImplementedError, match="RaggedTensorSpec.*not provided"):
        xf.saved_model.save(module, str(tmp_path / "m"))
    assert list(tmp_path.iterdir()) == []
