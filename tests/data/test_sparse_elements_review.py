"""Review of SparseTensor dataset elements against NumPy: rank-3 slicing, batching rows of
differing dense shapes, empty rows, unbatch/rebatch round trips and VarLenFeature rows."""

import numpy as np

import xlaflow as xf
from xlaflow.data import Dataset


def _dense(sp):
    return np.asarray(xf.sparse.to_dense(sp))


def _rank3():
    rng = np.random.default_rng(0)
    d = ((rng.random((7, 4, 3)) < 0.3) * rng.integers(1, 9, (7, 4, 3))).astype(np.float32)
    d[3] = 0  # a row with no entries
    return d, xf.SparseTensor(np.argwhere(d), d[d != 0], d.shape)


def test_rank3_shuffle_batch_unbatch_rebatch_match_numpy():
    d, sp = _rank3()
    sparse = Dataset.from_tensor_slices(sp).shuffle(7, seed=2)
    dense = Dataset.from_tensor_slices(d).shuffle(7, seed=2)
    assert repr(sparse.batch(3).element_spec) == \
        "SparseTensorSpec(TensorShape([None, 4, 3]), tf.float32)"
    for got, want in zip(sparse.batch(3), dense.batch(3), strict=True):
        np.testing.assert_array_equal(_dense(got), want)
    for got, want in zip(sparse.batch(3).unbatch(), dense, strict=True):
        assert list(np.asarray(got.dense_shape)) == [4, 3]
        np.testing.assert_array_equal(_dense(got), want)
    for got, want in zip(sparse.batch(3).rebatch(2), dense.batch(2), strict=True):
        np.testing.assert_array_equal(_dense(got), want)


def test_batch_of_rows_with_differing_dense_shapes_pads_to_the_largest():
    rows = [([[0]], [1], [2]), (np.zeros((0, 1), np.int64), np.zeros(0, np.int32), [5]),
            ([[3], [0]], [4, 5], [4])]
    signature = xf.SparseTensorSpec([None], xf.int32)
    ds = Dataset.from_generator(lambda: (xf.SparseTensor(*r) for r in rows),
                                output_signature=signature)
    batch = next(iter(ds.batch(3)))
    assert list(np.asarray(batch.dense_shape)) == [3, 5]  # TF: the largest row, per dim
    want = np.zeros((3, 5), np.int32)
    want[0, 0], want[2, 3], want[2, 0] = 1, 4, 5
    np.testing.assert_array_equal(_dense(xf.sparse.reorder(batch)), want)
    unbatched = list(Dataset.from_tensors(batch).unbatch())
    assert [list(np.asarray(r.dense_shape)) for r in unbatched] == [[5]] * 3  # TF's rows
    assert [r.values.tolist() for r in unbatched] == [[1], [], [4, 5]]


def _example(values):
    feature = xf.train.Feature(bytes_list=xf.train.BytesList(value=values))
    return xf.train.Example(features=xf.train.Features(feature={"v": feature}))


def test_varlen_rows_without_values_give_no_entries():
    records = [_example(v).SerializeToString() for v in ([b"a", b"bc"], [], [b"d"])]
    records.append(xf.train.Example().SerializeToString())  # the feature absent
    spec = {"v": xf.io.VarLenFeature(xf.string)}
    batched = xf.io.parse_example(records, spec)["v"]
    assert batched.indices.tolist() == [[0, 0], [0, 1], [2, 0]]
    assert list(batched.values) == [b"a", b"bc", b"d"]
    assert list(np.asarray(batched.dense_shape)) == [4, 2]
    rows = Dataset.from_tensor_slices(records).map(
        lambda r: xf.io.parse_single_example(r, spec)["v"])
    assert [list(np.asarray(r.dense_shape)) for r in rows] == [[2], [0], [1], [0]]
    again = next(iter(rows.batch(4)))  # batching the rows gives parse_example's tensor
    assert again.indices.tolist() == batched.indices.tolist()
    assert list(again.values) == list(batched.values)
    assert list(np.asarray(again.dense_shape)) == [4, 2]
