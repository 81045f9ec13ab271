"""xf.io.RaggedFeature (TF's tf.io.RaggedFeature) on Examples built by hand: the written
Python lists (sliced by the partitions' own definitions) are the oracle, and TF's
documented example its printed results; through TFRecordDataset, map, batch and
ragged_batch too."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.errors import InvalidArgumentError
from xlaflow.ragged_tensor import splits_dtype

R = xf.io.RaggedFeature
_LISTS = {int: ("int64_list", xf.train.Int64List), float: ("float_list", xf.train.FloatList),
          bytes: ("bytes_list", xf.train.BytesList)}


def _example(empty=int, **features):
    """An Example of int, float or bytes lists (the type of the first value; an empty list
    is of type `empty`, as TF's parser checks the list's kind even when it is empty)."""
    feats = {}
    for key, values in features.items():
        field, cls = _LISTS[type(values[0]) if values else empty]
        feats[key] = xf.train.Feature(**{field: cls(value=values)})
    return xf.train.Example(features=xf.train.Features(feature=feats)).SerializeToString()


def _rows(values, lengths):
    """`values` cut into rows of `lengths` (the plain-Python oracle)."""
    out, start = [], 0
    for n in lengths:
        out.append(values[start:start + n])
        start += n
    assert start == len(values)
    return out


def test_tfs_documented_example():
    batch = [_example(v=[3, 1, 4, 1, 5, 9], s1=[0, 2, 3, 3, 6], s2=[0, 2, 3, 4]),
             _example(v=[2, 7, 1, 8, 2, 8, 1], s1=[0, 3, 4, 5, 7], s2=[0, 1, 1, 4])]
    features = {"f1": R(value_key="v", dtype=xf.int64),
                "f2": R(value_key="v", dtype=xf.int64, partitions=[R.RowSplits("s1")]),
                "f3": R(value_key="v", dtype=xf.int64,
                        partitions=[R.RowSplits("s2"), R.RowSplits("s1")])}
    one = xf.io.parse_single_example(batch[0], features)
    assert not isinstance(one["f1"], xf.RaggedTensor)  # zero partitions: a 1-D tensor
    assert one["f1"].dtype == np.int64 and one["f1"].numpy().tolist() == [3, 1, 4, 1, 5, 9]
    assert one["f2"].to_list() == [[3, 1], [4], [], [1, 5, 9]]
    assert one["f3"].to_list() == [[[3, 1], [4]], [[]], [[1, 5, 9]]]
    many = xf.io.parse_example(batch, features)
    assert many["f1"].to_list() == [[3, 1, 4, 1, 5, 9], [2, 7, 1, 8, 2, 8, 1]]
    assert many["f2"].to_list() == [[[3, 1], [4], [], [1, 5, 9]],
                                    [[2, 7, 1], [8], [2], [8, 1]]]
    assert many["f3"].to_list() == [[[[3, 1], [4]], [[]], [[1, 5, 9]]],
                                    [[[2, 7, 1]], [], [[8], [2], [8, 1]]]]
    assert [rt.ragged_rank for _, rt in sorted(many.items())] == [1, 2, 3]


@pytest.mark.parametrize("dtype, lists", [
    (xf.int64, [[1, -2, 3], [], [2 ** 40]]),
    (xf.float32, [[0.5], [], [1.25, -2.0]]),
    (xf.string, [[b"a", b"b\x00c"], [], [b""]]),
])
def test_value_lists_become_rows_empty_and_missing_included(dtype, lists):
    kind = type(lists[0][0])
    records = [_example(kind, x=values) for values in lists] + [_example()]  # no x
    want = lists + [[]]
    out = xf.io.parse_example(records, {"x": R(dtype)})["x"]  # value_key: the dict's key
    assert isinstance(out, xf.RaggedTensor) and out.ragged_rank == 1
    assert out.to_list() == want
    assert out.flat_values.dtype == {xf.int64: np.int64, xf.float32: np.float32,
                                     xf.string: object}[dtype]
    assert out.row_splits.dtype == np.int32  # TF's default row_splits_dtype
    for record, values in zip(records, want):
        single = xf.io.parse_single_example(record, {"x": R(dtype)})["x"]
        assert single.numpy().tolist() == values
    wide = xf.io.parse_example(records, {"x": R(dtype, row_splits_dtype=xf.int64)})["x"]
    assert wide.row_splits.dtype == splits_dtype("int64") and wide.to_list() == want


def test_each_partition_kind_cuts_the_values_as_its_definition():
    values = [10, 11, 12, 13, 14, 15]
    lengths = [2, 0, 3, 1]  # the oracle's rows
    splits = np.cumsum([0] + lengths).tolist()
    record = _example(v=values, splits=splits, lengths=lengths, starts=splits[:-1],
                      limits=splits[1:], ids=[0, 0, 2, 2, 2, 3])
    kinds = {"splits": R.RowSplits, "lengths": R.RowLengths, "starts": R.RowStarts,
             "limits": R.RowLimits, "ids": R.ValueRowIds}
    want = _rows(values, lengths)
    for key, kind in kinds.items():
        feature = {"r": R(xf.int64, value_key="v", partitions=[kind(key)])}
        one = xf.io.parse_single_example(record, feature)["r"]
        assert one.to_list() == want, key
        batch = xf.io.parse_example([record, _example(v=[], splits=[0], lengths=[],
                                                      starts=[], limits=[], ids=[]),
                                     record], feature)["r"]
        assert batch.to_list() == [want, [], want], key


def test_uniform_row_length_innermost_is_a_dense_dimension():
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    record = _example(v=values, n=[1, 2])
    one = xf.io.parse_single_example(record, {"u": R(xf.float32, value_key="v", partitions=[
        R.UniformRowLength(2)])})["u"]
    assert not isinstance(one, xf.RaggedTensor) and one.shape == (3, 2)  # a reshape
    assert one.numpy().tolist() == _rows(values, [2, 2, 2])
    feature = {"u": R(xf.float32, value_key="v", partitions=[R.RowLengths("n"),
                                                            R.UniformRowLength(2)])}
    nested = xf.io.parse_single_example(record, feature)["u"]
    assert nested.shape.as_list() == [2, None, 2]
    assert nested.to_list() == [[[1.0, 2.0]], [[3.0, 4.0], [5.0, 6.0]]]
    batch = xf.io.parse_example([record, _example(float, v=[])], feature)["u"]  # no n
    assert batch.shape.as_list() == [2, None, None, 2]
    assert batch.to_list() == [nested.to_list(), []]


def test_no_examples_give_an_empty_ragged_tensor_of_the_right_rank():
    feature = {"r": R(xf.int64, partitions=[R.RowLengths("n"), R.UniformRowLength(3)])}
    out = xf.io.parse_example(np.array([], dtype=object), feature)["r"]
    assert out.ragged_rank == 2 and out.shape.as_list() == [0, None, None, 3]
    assert out.to_list() == []


def test_bad_partitions_and_specs_are_refused_by_name():
    record = _example(v=[1, 2, 3], s=[0, 2], f=[0.5], ids=[1, 0, 0])
    with pytest.raises(InvalidArgumentError, match=r"Feature: r: RowSplits 's' = \[0, 2\] "
                                                   r"does not partition 3 values"):
        xf.io.parse_single_example(record, {"r": R(xf.int64, "v", [R.RowSplits("s")])})
    with pytest.raises(InvalidArgumentError, match=r"ValueRowIds 'ids' must be 3 sorted"):
        xf.io.parse_example([record], {"r": R(xf.int64, "v", [R.ValueRowIds("ids")])})
    with pytest.raises(InvalidArgumentError, match=r"3 values cannot form rows of "
                                                   r"UniformRowLength 2"):
        xf.io.parse_single_example(record, {"r": R(xf.int64, "v", [R.UniformRowLength(2)])})
    with pytest.raises(InvalidArgumentError, match=r"Feature: f.  Data types don't match. "
                                                   r"Data type: float32 but expected type: "
                                                   r"int64"):
        xf.io.parse_single_example(record, {"r": R(xf.int64, "v", [R.RowLengths("f")])})
    with pytest.raises(NotImplementedError, match=r"UniformRowLength partition outside a "
                                                  r"ragged one"):
        xf.io.parse_single_example(record, {"r": R(xf.int64, "v", [
            R.UniformRowLength(1), R.RowSplits("s")])})
    for kwargs, error, match in [
            (dict(dtype=xf.int32), ValueError, r"`dtype` must be int64, float32 or string; "
                                               r"received"),
            (dict(dtype=xf.int64, value_key=""), ValueError, r"`value_key` must be a "
                                                             r"non-empty string"),
            (dict(dtype=xf.int64, partitions=R.RowSplits("s")), TypeError,
             r"each partition must be"),
            (dict(dtype=xf.int64, partitions="s"), TypeError, r"`partitions` must be a list"),
            (dict(dtype=xf.int64, partitions=[R.UniformRowLength(0)]), ValueError,
             r"length must be an int >= 1; received 0"),
            (dict(dtype=xf.int64, row_splits_dtype=xf.float32), ValueError,
             r"row_splits_dtype must be int32 or int64"),
            (dict(dtype=xf.int64, validate=1), TypeError, r"`validate` must be a bool")]:
        with pytest.raises(error, match=match):
            R(**kwargs)
    with pytest.raises(TypeError, match=r"SparseFeature is not provided"):
        xf.io.parse_single_example(record, {"r": object()})


def test_through_a_tfrecord_dataset_with_map_batch_and_ragged_batch(tmp_path):
    tokens = [[b"a", b"bc"], [], [b"d"], [b"e", b"f", b"g"]]
    path = str(tmp_path / "r.tfrecord")
    with xf.io.TFRecordWriter(path) as writer:
        for row in tokens:  # each Example: its tokens, and their lengths in one row
            writer.write(_example(bytes, t=row, n=[len(row)]))
    flat = {"t": R(xf.string)}
    ds = xf.data.TFRecordDataset(path).map(lambda r: xf.io.parse_single_example(r, flat))
    batches = [b["t"] for b in ds.ragged_batch(3)]
    assert all(isinstance(b, xf.RaggedTensor) for b in batches)
    assert [b.to_list() for b in batches] == [tokens[:3], tokens[3:]]
    nested = {"t": R(xf.string, partitions=[R.RowLengths("n")])}
    ds = xf.data.TFRecordDataset(path).map(lambda r: xf.io.parse_single_example(r, nested))
    (batch,) = [b["t"] for b in ds.batch(4)]
    assert batch.ragged_rank == 2 and batch.to_list() == [[row] for row in tokens]
    parsed = xf.data.TFRecordDataset(path).batch(3).map(
        lambda rs: xf.io.parse_example(rs, flat))
    assert [b["t"].to_list() for b in parsed] == [tokens[:3], tokens[3:]]
