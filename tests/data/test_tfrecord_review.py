"""Review of TFRecord / tf.train.Example / xf.io as a TF 2 user meets it: records (bytes
that may end in NUL) through sources, padded_batch and the file cache, and xf.io's
TensorProto and file helpers, against hand-built bytes and TF's documented behaviour."""

import os
import struct

import numpy as np
import pytest

import xlaflow as xf

# an Example whose last feature is int64 0: its wire form ends in a NUL byte (packed
# varint 0), as a label of 0 in TF's tutorials does
_LABEL0 = b"\n\x10\n\x0e\n\x05label\x12\x05\x1a\x03\n\x01\x00"
_LABEL = {"label": xf.io.FixedLenFeature([], xf.int64)}


def _records(ds):
    # (a str element comes out as NumPy's str: compared as its UTF-8 bytes)
    return [v.item() if isinstance(v, np.ndarray) else
            v.encode("utf-8") if isinstance(v, str) else bytes(v)
            for v in ds.as_numpy_iterator()]


def test_the_oracle_example_is_what_xf_train_writes():
    ex = xf.train.Example(features=xf.train.Features(feature={
        "label": xf.train.Feature(int64_list=xf.train.Int64List(value=[0]))}))
    assert ex.SerializeToString() == _LABEL0


def test_sources_keep_serialized_examples_that_end_in_nul():
    # tf.data.Dataset.from_tensor_slices(list_of_serialized) is how TF users feed protos
    ds = xf.data.Dataset.from_tensor_slices([_LABEL0, b"x\x00\x00", b"y"])
    assert _records(ds) == [_LABEL0, b"x\x00\x00", b"y"]
    parsed = ds.take(1).map(lambda r: xf.io.parse_single_example(r, _LABEL))
    assert [int(e["label"]) for e in parsed.as_numpy_iterator()] == [0]
    pairs = xf.data.Dataset.from_tensor_slices(([_LABEL0, b"a\x00"], [1, 2])).batch(2)
    (records, labels), = pairs.as_numpy_iterator()
    assert list(records) == [_LABEL0, b"a\x00"] and list(labels) == [1, 2]
    assert xf.data.Dataset.from_tensors(_LABEL0).get_single_element().numpy() == _LABEL0
    batch = xf.data.Dataset.from_tensors([_LABEL0, b"z"]).get_single_element().numpy()
    assert list(batch) == [_LABEL0, b"z"]
    # strings without trailing NULs keep the pipeline's usual NumPy string arrays
    assert xf.data.Dataset.from_tensor_slices([b"a", b"bc"]).element_spec.dtype.kind == "S"


def test_from_generator_string_signature_takes_bytes_lists_and_numpy_bytes():
    spec = xf.TensorSpec((None,), xf.string)
    ds = xf.data.Dataset.from_generator(lambda: iter([[_LABEL0, b"b"], [b"c\x00"]]),
                                        output_signature=spec)
    assert [list(v) for v in ds.as_numpy_iterator()] == [[_LABEL0, b"b"], [b"c\x00"]]
    scalar = xf.data.Dataset.from_generator(lambda: iter([np.bytes_(b"ab"), "cd"]),
                                            output_signature=xf.TensorSpec((), xf.string))
    assert _records(scalar) == [b"ab", b"cd"]
    # a first batch of plain strings, then one that must stay whole: batched together
    mixed = xf.data.Dataset.from_generator(lambda: iter([[b"a"], [b"b\x00"]]),
                                           output_signature=spec).unbatch().batch(2)
    assert [v.tolist() for v in mixed.as_numpy_iterator()] == [[b"a", b"b\x00"]]


def test_padded_batch_pads_records_and_string_features_with_empty_bytes(tmp_path):
    path = str(tmp_path / "r.tfrecord")
    toks = [[b"a", b"b\x00"], [b"c"], []]
    with xf.io.TFRecordWriter(path) as w:
        for i, t in enumerate(toks):
            w.write(xf.train.Example(features=xf.train.Features(feature={
                "i": xf.train.Feature(int64_list=xf.train.Int64List(value=[i])),
                "t": xf.train.Feature(bytes_list=xf.train.BytesList(value=t))}))
                .SerializeToString())
    raw = xf.data.TFRecordDataset(path)
    (batch,) = raw.padded_batch(3).as_numpy_iterator()
    assert batch.dtype == object and batch.shape == (3,)
    assert [type(v) for v in batch] == [bytes] * 3  # the records, not arrays nested in one
    desc = {"i": xf.io.FixedLenFeature([], xf.int64), "t": xf.io.VarLenFeature(xf.string)}
    # VarLenFeature gives TF's SparseTensor: densified (to_dense pads strings with b"")
    parsed = raw.map(lambda r: xf.io.parse_single_example(r, desc)).map(
        lambda e: {"i": e["i"], "t": xf.sparse.to_dense(e["t"])})
    (out,) = parsed.padded_batch(3).as_numpy_iterator()
    # TF pads strings with "" (and to_dense of parse_example's own batch does the same)
    want = np.array([[b"a", b"b\x00"], [b"c", b""], [b"", b""]], dtype=object)
    assert out["t"].shape == (3, 2) and out["t"].tolist() == want.tolist()
    (direct,) = raw.batch(3).map(lambda r: xf.io.parse_example(r, desc)).as_numpy_iterator()
    assert xf.sparse.to_dense(direct["t"]).tolist() == want.tolist()


def test_file_cache_writes_and_reads_records_losslessly(tmp_path):
    recs = [_LABEL0, b"", b"\x00\x00", b"\xff\xfe"]
    path = str(tmp_path / "r.tfrecord")
    with xf.io.TFRecordWriter(path) as w:
        for r in recs:
            w.write(r)
    cache = str(tmp_path / "cache")
    ds = xf.data.TFRecordDataset(path).cache(cache)
    assert _records(ds) == recs  # first pass: from the file, writing the cache
    with xf.io.TFRecordWriter(path) as w:  # later pipelines must read the cache alone
        w.write(b"changed")
    again = xf.data.TFRecordDataset(path).cache(cache)
    assert _records(again) == recs
    # batched records and parsed string features (object arrays of rank >= 1) too
    desc = {"label": xf.io.FixedLenFeature([], xf.int64), "s": xf.io.VarLenFeature(xf.string)}
    def parse(r):
        parsed = xf.io.parse_example(r, desc)
        return r, {"label": parsed["label"], "s": xf.sparse.to_dense(parsed["s"])}

    src = xf.data.Dataset.from_tensor_slices([_LABEL0, _LABEL0]).batch(2).map(parse)
    first = list(src.cache(str(tmp_path / "c2")).as_numpy_iterator())
    second = list(src.cache(str(tmp_path / "c2")).as_numpy_iterator())
    for (r1, p1), (r2, p2) in zip(first, second):
        assert r2.dtype == object and r2.tolist() == r1.tolist() == [_LABEL0, _LABEL0]
        assert p2["s"].shape == p1["s"].shape == (2, 0) and p2["s"].dtype == object
        assert p2["label"].tolist() == [0, 0]


def _tensor_proto(dtype_enum, shape, content=b""):
    # TensorProto by hand: dtype (field 1 varint), tensor_shape (2) with dims (2) of size
    # (1), tensor_content (4)
    def varint(n):
        out = b""
        while True:
            out += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
            n >>= 7
            if not n:
                return out
    dims = b"".join(b"\x12" + varint(len(d)) + d for d in
                    (b"\x08" + varint(s) if s else b"" for s in shape))
    out = b"\x08" + varint(dtype_enum) + b"\x12" + varint(len(dims)) + dims
    return out + (b"\x22" + varint(len(content)) + content if content else b"")


def test_serialize_tensor_converts_python_values_as_tf_does():
    # TF converts Python floats to float32 and ints to int32 (tf.constant's defaults)
    assert xf.io.serialize_tensor(1.5).numpy() == _tensor_proto(
        1, (), struct.pack("<f", 1.5))
    assert xf.io.serialize_tensor([1, 2]).numpy() == _tensor_proto(
        3, (2,), struct.pack("<2i", 1, 2))
    assert xf.io.parse_tensor(xf.io.serialize_tensor(1.5), xf.float32).numpy() == 1.5
    strings = xf.io.parse_tensor(xf.io.serialize_tensor([b"a\x00", b"b"]), xf.string)
    assert strings.numpy().tolist() == [b"a\x00", b"b"]
    words = xf.io.parse_tensor(xf.io.serialize_tensor(["é", "x"]), xf.string)
    assert words.numpy().tolist() == ["é".encode(), b"x"]


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, np.float32, np.int8])
def test_empty_tensors_round_trip(dtype):
    empty = np.zeros((0, 3), dtype)
    back = xf.io.parse_tensor(xf.io.serialize_tensor(empty), dtype).numpy()
    assert back.dtype == np.dtype(dtype) and back.shape == (0, 3)


def test_write_file_creates_missing_folders_as_tf(tmp_path):
    # TF's write_file: "creates the file and recursively creates directory if not existing"
    path = tmp_path / "a" / "b" / "f.bin"
    xf.io.write_file(str(path), b"x\x00")
    assert path.read_bytes() == b"x\x00"
    assert sorted(os.listdir(path.parent)) == ["f.bin"]  # no temporary left behind


def test_zlib_files_written_one_after_another_are_read_whole(tmp_path):
    # like gzip's members: appending a second ZLIB-compressed TFRecord file's bytes must
    # not silently lose its records
    parts = []
    for i, rec in enumerate([b"one\x00", b"two"]):
        path = tmp_path / f"part{i}"
        with xf.io.TFRecordWriter(str(path), "ZLIB") as w:
            w.write(rec)
        parts.append(path.read_bytes())
    whole = tmp_path / "whole"
    whole.write_bytes(b"".join(parts))
    assert _records(xf.data.TFRecordDataset(str(whole), "ZLIB")) == [b"one\x00", b"two"]
    (tmp_path / "junk").write_bytes(parts[0] + b"junk")
    with pytest.raises(xf.errors.DataLossError, match="ZLIB"):
        _records(xf.data.TFRecordDataset(str(tmp_path / "junk"), "ZLIB"))


@pytest.mark.parametrize("dtype, default", [(xf.int64, "x"), (xf.float32, b"\xff"),
                                            (xf.string, 3)])
def test_a_default_of_the_wrong_type_names_its_feature(dtype, default):
    spec = {"feat": xf.io.FixedLenFeature([], dtype, default_value=default)}
    with pytest.raises(ValueError, match="default_value of feature 'feat'"):
        xf.io.parse_single_example(_LABEL0, spec)
