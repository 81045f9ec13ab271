"""TFRecord files: TF's record framing (tensorflow/core/lib/io/record_writer), written
atomically and read back with every checksum verified, uncompressed, GZIP or ZLIB.

Each record is: length (uint64, little-endian), masked CRC32C of those 8 bytes, the data,
masked CRC32C of the data. Compression wraps the whole stream, as TF's does.
"""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
import zlib

from xlaflow.errors import DataLossError
from xlaflow.io.crc32c import masked_crc32c

_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_TUNING = ("flush_mode", "input_buffer_size", "output_buffer_size")
_UNSUPPORTED = ("window_bits", "compression_method", "mem_level", "compression_strategy")


def compression_argument(value, what):
    """TF's compression_type: None or "" (none), "GZIP" or "ZLIB"."""
    if value is None:
        return ""
    if not isinstance(value, str) or value.upper() not in ("", "GZIP", "ZLIB"):
        raise ValueError(f"{what}: `compression_type` must be None, '', 'GZIP' or 'ZLIB'; "
                         f"received {value!r}")
    return value.upper()


class TFRecordOptions:
    """TF's `tf.io.TFRecordOptions`: the compression of a TFRecord file.

    compression_level (0-9) is honoured; TF's buffer sizes and flush mode only tune its
    own I/O and are accepted and ignored; zlib's finer knobs are not provided.
    """

    def __init__(self, compression_type=None, flush_mode=None, input_buffer_size=None,
                 output_buffer_size=None, window_bits=None, compression_level=None,
                 compression_method=None, mem_level=None, compression_strategy=None):
        self.compression_type = compression_argument(compression_type, "TFRecordOptions")
        given = dict(window_bits=window_bits, compression_method=compression_method,
                     mem_level=mem_level, compression_strategy=compression_strategy)
        for name in _UNSUPPORTED:
            if given[name] is not None:
                raise NotImplementedError(
                    f"TFRecordOptions: `{name}` is not provided; use compression_type and "
                    "compression_level (zlib's defaults otherwise)")
        if compression_level is not None and (
                not isinstance(compression_level, int) or not -1 <= compression_level <= 9):
            raise ValueError(f"TFRecordOptions: `compression_level` must be an int from -1 "
                             f"to 9; received {compression_level!r}")
        self.compression_level = compression_level
        self.flush_mode, self.input_buffer_size = flush_mode, input_buffer_size
        self.output_buffer_size = output_buffer_size

    @classmethod
    def get_compression_type_string(cls, options):
        """The compression type string of `options` (TFRecordOptions, a string or None)."""
        return _options(options, "TFRecordOptions").compression_type


def _options(options, what):
    if options is None or isinstance(options, str):
        return TFRecordOptions(compression_type=options)
    if isinstance(options, TFRecordOptions):
        return options
    raise TypeError(f"{what}: `options` must be a TFRecordOptions, a compression type "
                    f"string or None; received {type(options).__name__}")


class _ZlibWriter:
    # a streaming zlib stream (TF's ZLIB: zlib-wrapped deflate) over a binary file
    def __init__(self, raw, level):
        self._raw, self._z = raw, zlib.compressobj(-1 if level is None else level)

    def write(self, data):
        self._raw.write(self._z.compress(data))

    def flush(self):
        self._raw.write(self._z.flush(zlib.Z_SYNC_FLUSH))
        self._raw.flush()

    def close(self):
        self._raw.write(self._z.flush())
        self._raw.close()


class TFRecordWriter:
    """TF's `tf.io.TFRecordWriter`: `write(record)` appends one record.

    The records go to a temporary file beside `path` that becomes `path` on `close()` (or
    at the end of a `with` block), so no half-written file is ever seen under `path`; a
    `with` block left by an exception discards what it wrote.
    """

    def __init__(self, path, options=None):
        path = os.fspath(path)
        opts = _options(options, "TFRecordWriter")
        folder = os.path.dirname(path) or "."
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"TFRecordWriter: the folder of {path!r} does not exist")
        self._path = path
        fd, self._temp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                          suffix=".tmp")
        raw = os.fdopen(fd, "wb")
        if opts.compression_type == "GZIP":
            level = 9 if opts.compression_level in (None, -1) else opts.compression_level
            self._file = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level, mtime=0)
            self._raw = raw  # GzipFile does not close a file object it was given
        elif opts.compression_type == "ZLIB":
            self._file, self._raw = _ZlibWriter(raw, opts.compression_level), None
        else:
            self._file, self._raw = raw, None
        self._closed = False

    def write(self, record):
        """Append `record` (bytes, or a str written as UTF-8) as one record."""
        self._check_open("write")
        if isinstance(record, str):
            record = record.encode("utf-8")
        elif hasattr(record, "numpy") and not isinstance(record, (bytes, bytearray)):
            record = record.numpy()
        if not isinstance(record, (bytes, bytearray, memoryview)):
            raise TypeError(f"TFRecordWriter.write: `record` must be bytes (e.g. "
                            f"example.SerializeToString()); received {type(record).__name__}")
        record = bytes(record)
        header = _LENGTH.pack(len(record))
        self._file.write(header + _CRC.pack(masked_crc32c(header)) + record +
                         _CRC.pack(masked_crc32c(record)))

    def flush(self):
        """Push buffered records to the temporary file (the file appears at close)."""
        self._check_open("flush")
        self._file.flush()

    def close(self):
        """Finish the file and move it to `path`; closing twice does nothing."""
        if self._closed:
            return
        self._closed = True
        self._file.close()
        if self._raw is not None:
            self._raw.close()
        os.replace(self._temp, self._path)

    def _discard(self):
        self._closed = True
        try:
            self._file.close()
            if self._raw is not None:
                self._raw.close()
        finally:
            os.unlink(self._temp)

    def _check_open(self, what):
        if self._closed:
            raise ValueError(f"TFRecordWriter.{what}: the writer for {self._path!r} is closed")

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            self.close()
        else:
            self._discard()


class _ZlibReader:
    # reads a zlib stream in chunks, so a large file is not inflated in memory at once
    def __init__(self, path):
        self._raw = open(path, "rb")  # noqa: SIM115  (closed by close(), as a file's)
        self._z, self._buf = zlib.decompressobj(), b""

    def read(self, n):
        while len(self._buf) < n:
            if self._z.eof:  # streams written one after another (as gzip's members)
                rest, self._z = self._z.unused_data, zlib.decompressobj()
            else:
                rest = b""
            chunk = rest or self._raw.read(1 << 16)
            if not chunk:
                break
            self._buf += self._z.decompress(chunk)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def close(self):
        self._raw.close()


def _open(path, compression):
    if compression == "GZIP":
        return gzip.open(path, "rb")
    if compression == "ZLIB":
        return _ZlibReader(path)
    return open(path, "rb")


def read_records(path, compression="", what="TFRecordDataset"):
    """The records of one TFRecord file, in order, each checked against its CRCs; a
    DataLossError names the file and the record's offset (in the uncompressed stream)."""
    f = _open(path, compression)
    offset = 0
    try:
        while True:
            try:
                head = f.read(12)
            except (OSError, EOFError, zlib.error) as e:  # a broken GZIP/ZLIB stream
                raise DataLossError(None, None, f"{what}: corrupted {compression} stream in "
                                    f"{path!r} near offset {offset}: {e}") from None
            if not head:
                return
            if len(head) < 12:
                raise DataLossError(None, None, f"{what}: truncated record at offset {offset} "
                                    f"of {path!r}: {len(head)} of the 12 header bytes")
            length, crc = _LENGTH.unpack_from(head)[0], _CRC.unpack_from(head, 8)[0]
            if masked_crc32c(head[:8]) != crc:
                raise DataLossError(None, None, f"{what}: corrupted record at offset {offset} "
                                    f"of {path!r}: the length's checksum does not match")
            try:
                body = f.read(length + 4)
            except (OSError, EOFError, zlib.error) as e:
                raise DataLossError(None, None, f"{what}: corrupted {compression} stream in "
                                    f"{path!r} near offset {offset}: {e}") from None
            if len(body) < length + 4:
                raise DataLossError(None, None, f"{what}: truncated record at offset {offset} "
                                    f"of {path!r}: {len(body)} of {length + 4} bytes of data "
                                    "and checksum")
            data = body[:length]
            if masked_crc32c(data) != _CRC.unpack_from(body, length)[0]:
                raise DataLossError(None, None, f"{what}: corrupted record at offset {offset} "
                                    f"of {path!r}: the data's checksum does not match")
            yield data
            offset += 16 + length
    finally:
        f.close()
