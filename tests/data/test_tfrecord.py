"""TFRecord framing, TFRecordDataset and CRC32C against independent oracles: a bitwise
CRC (no table) and RFC 3720's vectors, bytes built by hand from TF's record layout, and
Python's gzip/zlib modules."""

import gzip
import os
import struct
import zlib

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.errors import DataLossError
from xlaflow.io.crc32c import crc32c, masked_crc32c


def _bitwise_crc32c(data):
    # the CRC32C definition, bit by bit: reflected polynomial 0x82F63B78, init and
    # final xor 0xFFFFFFFF
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _mask(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % 2**32


def _framed(data):
    # TF's record_writer layout, written out by hand with the bitwise CRC
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", _mask(_bitwise_crc32c(length))) + data +
            struct.pack("<I", _mask(_bitwise_crc32c(data))))


def test_crc32c_known_vectors():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    # RFC 3720 (iSCSI) appendix B.4
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C


@pytest.mark.parametrize("n", [1, 255, 32767, 32768, 40_001])
def test_crc32c_long_inputs_and_continuation_match_the_bitwise_definition(n):
    # from 32 KiB the NumPy lanes take over: the same value as the definition
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    assert crc32c(data) == _bitwise_crc32c(data)
    assert crc32c(data[n // 3:], crc32c(data[:n // 3])) == crc32c(data)
    assert masked_crc32c(data) == _mask(_bitwise_crc32c(data))


def test_writer_lays_out_records_as_tf(tmp_path):
    path = str(tmp_path / "a.tfrecord")
    records = [b"hello", b"", b"\x00tail\x00\x00"]
    with xf.io.TFRecordWriter(path) as writer:
        for r in records:
            writer.write(r)
    with open(path, "rb") as f:
        assert f.read() == b"".join(_framed(r) for r in records)


def test_dataset_reads_hand_framed_files_keeping_every_byte(tmp_path):
    records = [b"a", b"\x00\x00", b"", b"bc\x00", bytes(range(256))]
    a, b = tmp_path / "a.rec", tmp_path / "b.rec"
    a.write_bytes(b"".join(_framed(r) for r in records[:3]))
    b.write_bytes(b"".join(_framed(r) for r in records[3:]))
    ds = xf.data.TFRecordDataset([str(a), str(b)])
    assert ds.element_spec.shape == ()
    assert [r.numpy() for r in ds] == records
    # trailing NUL bytes survive batching and unbatching (NumPy's bytes dtype drops them)
    batches = [batch.numpy() for batch in ds.batch(2)]
    assert [list(batch) for batch in batches] == [records[0:2], records[2:4], records[4:]]
    assert [r.numpy() for r in ds.batch(3).unbatch()] == records
    assert [batch[1].numpy() for batch in ds.batch(2).take(1)] == [b"\x00\x00"]
    assert list(ds.map(lambda r: r).as_numpy_iterator()) == records


def test_files_as_a_dataset_of_names_and_parallel_reads(tmp_path):
    names = []
    for i in range(3):
        path = tmp_path / f"{i}.rec"
        path.write_bytes(b"".join(_framed(f"{i}-{j}".encode()) for j in range(i + 2)))
        names.append(str(path))
    lazily = xf.data.TFRecordDataset(xf.data.Dataset.from_tensor_slices(names))
    assert [r.numpy() for r in lazily] == [f"{i}-{j}".encode() for i in range(3)
                                           for j in range(i + 2)]
    # TF's deterministic interleave: one record from each open file in turn; a finished
    # file's slot takes the next file when the cycle comes back to it
    mixed = xf.data.TFRecordDataset(names, num_parallel_reads=2)
    assert [r.numpy().decode() for r in mixed] == [
        "0-0", "1-0", "0-1", "1-1", "1-2", "2-0", "2-1", "2-2", "2-3"]


@pytest.mark.parametrize("where,message", [
    (20, "the data's checksum does not match"),  # in the data
    (3, "the length's checksum does not match"),  # in the length
    (9, "the length's checksum does not match"),  # in the length's CRC
])
def test_a_corrupt_record_is_data_loss_naming_file_and_offset(tmp_path, where, message):
    path = tmp_path / "bad.rec"
    first = _framed(b"ok")
    second = bytearray(_framed(b"0123456789abcdef"))
    second[where] ^= 0x40
    path.write_bytes(first + bytes(second))
    ds = xf.data.TFRecordDataset(str(path))
    it = iter(ds)
    assert next(it).numpy() == b"ok"
    with pytest.raises(DataLossError, match=f"offset {len(first)} of .*bad.rec.*{message}"):
        next(it)


@pytest.mark.parametrize("keep", [5, 14, 20])
def test_a_truncated_file_is_data_loss(tmp_path, keep):
    path = tmp_path / "cut.rec"
    path.write_bytes(_framed(b"whole") + _framed(b"0123456789")[:keep])
    with pytest.raises(DataLossError, match=r"truncated record at offset 21 of .*cut.rec"):
        list(xf.data.TFRecordDataset(str(path)))


@pytest.mark.parametrize("kind", ["GZIP", "ZLIB"])
def test_compressed_files_round_trip_against_gzip_and_zlib(tmp_path, kind):
    records = [b"x" * 1000, b"\x00", b"last"]
    plain = b"".join(_framed(r) for r in records)
    written = str(tmp_path / "w.rec")
    with xf.io.TFRecordWriter(written, xf.io.TFRecordOptions(compression_type=kind)) as w:
        for r in records:
            w.write(r)
    with open(written, "rb") as f:
        raw = f.read()
    assert (gzip.decompress(raw) if kind == "GZIP" else zlib.decompress(raw)) == plain
    # and a file the oracle compressed reads back
    other = tmp_path / "o.rec"
    other.write_bytes(gzip.compress(plain) if kind == "GZIP" else zlib.compress(plain))
    for path in (written, str(other)):
        assert [r.numpy() for r in xf.data.TFRecordDataset(path, compression_type=kind)] \
            == records
    with pytest.raises(DataLossError):  # read without its compression: not TFRecords
        list(xf.data.TFRecordDataset(written))


def test_writer_is_atomic(tmp_path):
    path = tmp_path / "atomic.rec"
    writer = xf.io.TFRecordWriter(str(path))
    writer.write(b"one")
    writer.flush()
    assert not path.exists()  # nothing under the name until close
    writer.close()
    writer.close()  # a second close does nothing
    assert [r.numpy() for r in xf.data.TFRecordDataset(str(path))] == [b"one"]
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"two")

    failed = tmp_path / "failed.rec"
    with pytest.raises(RuntimeError, match="boom"), xf.io.TFRecordWriter(str(failed)) as w:
        w.write(b"partial")
        raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["atomic.rec"]  # no file, no temporary left


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="compression_type.*'LZ4'"):
        xf.data.TFRecordDataset(str(tmp_path / "x"), compression_type="LZ4")
    missing = xf.data.TFRecordDataset(str(tmp_path / "missing.rec"))  # TF opens lazily
    with pytest.raises(xf.errors.NotFoundError, match="no such file"):
        list(missing)
    writer = xf.io.TFRecordWriter(str(tmp_path / "w.rec"))
    with pytest.raises(TypeError, match="record.*must be bytes.*int"):
        writer.write(3)
    writer.close()
    with pytest.raises(ValueError, match="compression_type"):
        xf.io.TFRecordOptions(compression_type="zip")
    with pytest.raises(NotImplementedError, match="window_bits.*compression_level"):
        xf.io.TFRecordOptions(window_bits=9)
    assert xf.io.TFRecordOptions.get_compression_type_string("gzip") == "GZIP"


def test_dataset_writer_and_generator_bytes_keep_trailing_nuls(tmp_path):
    # a serialized Example often ends in a zero byte (an int64 0 last): from_generator
    # must not drop it, nor must tf.data.experimental.TFRecordWriter
    records = [b"a\x00", b"\x00\x00", b"plain"]
    ds = xf.data.Dataset.from_generator(
        lambda: iter(records), output_signature=xf.TensorSpec((), xf.string))
    assert [r.numpy() for r in ds] == records
    path = str(tmp_path / "w.rec")
    xf.data.experimental.TFRecordWriter(path).write(ds)
    with open(path, "rb") as f:
        assert f.read() == b"".join(_framed(r) for r in records)
    gz = str(tmp_path / "w.rec.gz")
    xf.data.experimental.TFRecordWriter(gz, compression_type="GZIP").write(
        xf.data.TFRecordDataset(path))
    with open(gz, "rb") as f:
        assert gzip.decompress(f.read()) == b"".join(_framed(r) for r in records)
    with pytest.raises(TypeError, match="scalar string elements.*int64"):
        xf.data.experimental.TFRecordWriter(path).write(xf.data.Dataset.range(3))
