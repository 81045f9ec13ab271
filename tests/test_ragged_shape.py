"""xf.shape / xf.size of a RaggedTensor, as TF 2's tf.shape (a DynamicRaggedShape) and
tf.size (the number of values). Oracle: the Python lists the tensors are made from."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf

ROWS = [[1, 2], [3], [], [4, 5, 6]]
NESTED = [[[1, 2], [3]], [[4]], [[5, 6, 7], [], [8]]]


def test_shape_of_rows_counts_rows_and_refuses_the_ragged_axis():
    rt = xf.ragged.constant(ROWS)
    shape = xf.shape(rt)
    assert isinstance(shape, xf.experimental.DynamicRaggedShape)
    assert shape.rank == 2 and shape.num_row_partitions == 1
    assert shape[0] == len(ROWS) and shape[-2] == len(ROWS)
    assert shape[0].dtype == np.int32
    with pytest.raises(ValueError, match="Index 1 is not uniform"):
        shape[1]
    with pytest.raises(IndexError, match="index 2 is out of range for rank 2"):
        shape[2]
    assert shape.static_lengths() == [4, tuple(len(r) for r in ROWS)]
    assert shape.static_lengths(ragged_lengths=False) == [4, None]
    np.testing.assert_array_equal(shape.inner_shape, [sum(map(len, ROWS))])
    assert repr(shape) == "<DynamicRaggedShape lengths=[4, (2, 1, 0, 3)] num_row_partitions=1>"
    assert xf.size(rt) == sum(map(len, ROWS)) and xf.size(rt).dtype == np.int32
    assert xf.size(rt, out_type=xf.float32).dtype == np.float32


def test_two_ragged_axes_and_uniform_inner_dims():
    rt = xf.ragged.constant(NESTED)
    shape = xf.shape(rt)
    assert shape.rank == 3 and shape.num_row_partitions == 2
    for axis in (1, 2):
        with pytest.raises(ValueError, match=f"Index {axis} is not uniform"):
            shape[axis]
    assert shape.static_lengths() == [3, (2, 1, 3), (2, 1, 1, 3, 0, 1)]
    assert xf.size(rt) == 8
    # rows of fixed-size vectors: the inner axis is uniform and indexable
    dense = np.arange(24, dtype=np.float32).reshape(4, 3, 2)
    vectors = xf.RaggedTensor.from_tensor(dense, lengths=[3, 0, 2, 1])
    shape = xf.shape(vectors)
    assert shape.rank == 3 and shape[2] == 2 and shape[-1] == 2
    assert shape.static_lengths() == [4, (3, 0, 2, 1), 2]
    assert xf.size(vectors) == 6 * 2
    # a partition made with a uniform row length is indexable too
    uniform = xf.RaggedTensor.from_uniform_row_length(np.arange(6), 3)
    assert xf.shape(uniform)[1] == 3 and xf.shape(uniform)[0] == 2


def test_ones_and_zeros_of_the_shape_keep_the_rows():
    rt = xf.ragged.constant(NESTED)
    ones = xf.ones(xf.shape(rt))
    assert ones.to_list() == [[[1.0] * len(v) for v in row] for row in NESTED]
    zeros = xf.zeros(xf.shape(rt), dtype=xf.int32)
    assert zeros.dtype == jnp.int32
    assert zeros.to_list() == [[[0] * len(v) for v in row] for row in NESTED]


def test_inside_xf_function_the_counts_size_other_tensors():
    @xf.function
    def f(rt):
        shape = xf.shape(rt)
        # static counts: they shape a dense tensor and a TensorArray while tracing
        table = xf.zeros((shape[0], 2))
        ta = xf.TensorArray(xf.float32, size=xf.size(rt))
        ta = ta.write(0, 1.0)
        return table, ta.stack(), xf.ones(shape) * 2.0

    table, stacked, twos = f(xf.ragged.constant(ROWS, dtype=xf.float32))
    assert table.shape == (len(ROWS), 2)
    assert stacked.shape == (sum(map(len, ROWS)),)
    assert twos.to_list() == [[2.0] * len(r) for r in ROWS]


def test_bad_indices_are_named():
    shape = xf.shape(xf.ragged.constant(ROWS))
    with pytest.raises(TypeError, match="indices must be ints; received 'a'"):
        shape["a"]
    with pytest.raises(NotImplementedError, match="index one axis at a time"):
        shape[:1]
