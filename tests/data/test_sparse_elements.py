"""xf.data with SparseTensor components (TF's tf.data sparse elements): slices, map, batch,
unbatch, rebatch and element_spec, each checked against NumPy's dense equivalent."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.data import Dataset
from xlaflow.tensors import TensorSpec

INDICES = [[0, 0], [1, 0], [1, 2], [3, 1], [4, 2]]
VALUES = [1.0, 2.0, 3.0, 4.0, 5.0]
SHAPE = [5, 3]


def _sparse():
    return xf.SparseTensor(INDICES, np.array(VALUES, np.float32), SHAPE)


def _dense():  # the oracle: the same entries written into a NumPy array
    out = np.zeros(SHAPE, np.float32)
    for index, value in zip(INDICES, VALUES):
        out[tuple(index)] = value
    return out


def _densify(sp):
    assert isinstance(sp, xf.SparseTensor)
    out = np.zeros(sp.dense_shape.numpy(), np.asarray(sp.values).dtype)
    for index, value in zip(np.asarray(sp.indices), np.asarray(sp.values)):
        out[tuple(index)] = value
    return out


def test_from_tensor_slices_gives_rank_k_minus_1_sparse_rows():
    ds = Dataset.from_tensor_slices(_sparse())
    assert ds.element_spec == xf.SparseTensorSpec([3], xf.float32)
    rows = list(ds)
    assert len(rows) == 5
    for row, want in zip(rows, _dense()):
        assert isinstance(row, xf.SparseTensor)
        assert row.dense_shape.numpy().tolist() == [3]
        assert row.indices.numpy().dtype == np.int64  # TF's int64 indices, on the host
        np.testing.assert_array_equal(_densify(row), want)
        np.testing.assert_array_equal(xf.sparse.to_dense(row), want)  # xf.sparse takes it


def test_batch_stacks_rows_and_unbatch_splits_them_back():
    ds = Dataset.from_tensor_slices(_sparse())
    batched = ds.batch(2)
    assert batched.element_spec == xf.SparseTensorSpec([None, 3], xf.float32)
    assert ds.batch(2, drop_remainder=True).element_spec == \
        xf.SparseTensorSpec([2, 3], xf.float32)
    dense = _dense()
    got = [_densify(b) for b in batched]
    assert [g.shape for g in got] == [(2, 3), (2, 3), (1, 3)]
    np.testing.assert_array_equal(np.concatenate(got), dense)
    # the same through the generic stacking path (a map before batch)
    mapped = [_densify(b) for b in ds.map(lambda s: s).batch(2)]
    np.testing.assert_array_equal(np.concatenate(mapped), dense)
    unbatched = batched.unbatch()
    assert unbatched.element_spec == xf.SparseTensorSpec([3], xf.float32)
    np.testing.assert_array_equal(np.stack([_densify(r) for r in unbatched]), dense)
    rebatched = [_densify(b) for b in batched.rebatch(3)]
    assert [r.shape for r in rebatched] == [(3, 3), (2, 3)]
    np.testing.assert_array_equal(np.concatenate(rebatched), dense)


def test_batch_takes_the_largest_dense_shape_of_the_batch():
    # TF's batch of sparse elements whose dense shapes differ: each dimension the largest
    def make(i):
        n = int(i) + 1
        return xf.SparseTensor([[n - 1]], np.array([n], np.int32), [n])

    ds = Dataset.range(4).map(make)
    assert ds.element_spec == xf.SparseTensorSpec([1], xf.int32)  # the first output's
    (batch,) = list(ds.batch(4))
    assert batch.dense_shape.numpy().tolist() == [4, 4]
    np.testing.assert_array_equal(_densify(batch), np.diag([1, 2, 3, 4]))
    with pytest.raises(TypeError, match="padded batching of sparse components"):
        ds.padded_batch(2)


def test_map_takes_and_returns_sparse_components_beside_dense_ones():
    labels = np.arange(5, dtype=np.int64)
    ds = Dataset.from_tensor_slices({"x": _sparse(), "y": labels})
    assert ds.element_spec == {"x": xf.SparseTensorSpec([3], xf.float32),
                               "y": TensorSpec((), np.int64)}
    doubled = ds.map(lambda e: (e["x"] * 2.0, xf.sparse.to_dense(e["x"]), e["y"]),
                     num_parallel_calls=2)
    spec = doubled.element_spec
    assert spec[0] == xf.SparseTensorSpec([3], xf.float32)
    assert spec[1] == TensorSpec((3,), np.float32)
    for (sp, dense, label), want in zip(doubled, _dense()):
        np.testing.assert_array_equal(_densify(sp), want * 2)
        np.testing.assert_array_equal(np.asarray(dense), want)
    assert [int(label) for _, _, label in doubled] == labels.tolist()
    # the empty input's spec: the function runs once on an empty SparseTensor
    assert ds.take(0).map(lambda e: e["x"]).element_spec == \
        xf.SparseTensorSpec([3], xf.float32)


def test_from_tensors_keeps_the_sparse_tensor_whole():
    ds = Dataset.from_tensors(_sparse())
    assert ds.element_spec == xf.SparseTensorSpec(SHAPE, xf.float32)
    np.testing.assert_array_equal(_densify(ds.get_single_element()), _dense())


def test_errors_name_the_sparse_component():
    def mixed(i):
        return _sparse() if int(i) == 0 else np.zeros(SHAPE, np.float32)

    with pytest.raises(TypeError, match="element 1 is a dense array but the first element's "
                                        "is a SparseTensor"):
        list(Dataset.range(2).map(mixed))

    def ranks(i):
        shape = [2] if int(i) == 0 else [2, 2]
        return xf.SparseTensor([[0] * len(shape)], [1.0], shape)

    with pytest.raises(ValueError, match="rank"):
        list(Dataset.range(2).map(ranks))
    with pytest.raises(TypeError, match="must be dense tensors.*to_dense"):
        Dataset.from_tensor_slices(_sparse()).unique()


def test_sparse_tensor_spec():
    spec = xf.SparseTensorSpec([None, 3], xf.int32)
    assert repr(spec) == "SparseTensorSpec(TensorShape([None, 3]), tf.int32)"
    assert spec.shape.as_list() == [None, 3]
    assert spec != TensorSpec([None, 3], xf.int32)
    assert spec.is_compatible_with(xf.SparseTensor([[1, 2]], [7], [4, 3]))
    assert not spec.is_compatible_with(xf.SparseTensor([[1, 2]], [7], [4, 5]))
    assert not spec.is_compatible_with(xf.SparseTensor([[1, 2]], [7.0], [4, 3]))
    assert not spec.is_compatible_with(np.zeros((4, 3), np.int32))
    assert xf.SparseTensorSpec.from_value(_sparse()) == xf.SparseTensorSpec(SHAPE, xf.float32)


def test_xf_sparse_ops_and_functions_take_dataset_elements():
    # elements hold NumPy (int64 indices); xf.sparse ops and xf.function take them as is
    (batch,) = list(Dataset.from_tensor_slices(_sparse()).batch(5))
    kernel = np.arange(6, dtype=np.float32).reshape(3, 2)
    np.testing.assert_allclose(xf.sparse.sparse_dense_matmul(batch, kernel), _dense() @ kernel)
    np.testing.assert_array_equal(xf.sparse.add(batch, np.ones(SHAPE, np.float32)),
                                  _dense() + 1)
    total = xf.function(lambda sp: xf.sparse.reduce_sum(sp, axis=1))(batch)
    np.testing.assert_allclose(total, _dense().sum(axis=1))


def test_from_generator_with_a_sparse_tensor_spec():
    def rows():
        for row in _dense():
            yield xf.sparse.from_dense(row)

    spec = xf.SparseTensorSpec([None], xf.float32)
    ds = Dataset.from_generator(rows, output_signature=spec)
    assert ds.element_spec == spec
    np.testing.assert_array_equal(np.stack([_densify(r) for r in ds]), _dense())
    with pytest.raises(ValueError, match=r"dense_shape \[3\] where the signature expects"):
        list(Dataset.from_generator(rows, output_signature=xf.SparseTensorSpec([4])))
    with pytest.raises(TypeError, match="is a ndarray where the signature expects"):
        list(Dataset.from_generator(lambda: iter([np.zeros(3)]), output_signature=spec))
    (batch,) = list(Dataset.from_tensor_slices(
        xf.SparseTensor([[1], [3]], [5, 7], [4])).batch(4))  # rank-0 rows, stacked
    np.testing.assert_array_equal(_densify(batch), [0, 5, 0, 7])
