"""Dataset sources over files: TF's TextLineDataset (lines of text files, GZIP/ZLIB too)
and Dataset.list_files (the files a glob pattern matches), read on the host.

Lines are NumPy str scalars, as CSV string columns are: XLA has no string tensors, and an
element's `.numpy()` gives TF's UTF-8 bytes.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib

import numpy as np

from xlaflow.data.arguments import positive_argument
from xlaflow.data.csv import _compression, _filenames, existing
from xlaflow.data.dataset import UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.tfrecord import record
from xlaflow.errors import InvalidArgumentError
from xlaflow.tensors import TensorSpec

_STRING = np.dtype(str)


def _open_binary(path, compression_type):
    if compression_type == "GZIP":
        return gzip.open(path, "rb")
    if compression_type == "ZLIB":
        with open(path, "rb") as f:
            return io.BytesIO(zlib.decompress(f.read()))
    return open(path, "rb")  # closed by the caller (a `with`)


def _line(data):
    # UTF-8 text as a str scalar; any other bytes (a Latin-1 file, binary junk) and text with
    # a NUL (a NumPy str array drops trailing ones) kept whole as a bytes record, as TF's
    # lines are bytes
    if b"\x00" not in data:
        try:
            return np.str_(data.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    return record(data)


class TextLineDataset(Dataset):
    """TF's `tf.data.TextLineDataset`: each line of each file in turn, without its "\\n"
    or any "\\r" (TF's ReadLine), as a str scalar (bytes that are not UTF-8: a record);
    `num_parallel_reads` > 1 interleaves that many files a line at a time (TF's
    deterministic order)."""

    def __init__(self, filenames, compression_type=None, buffer_size=None,
                 num_parallel_reads=None, name=None):
        self._names = _filenames(filenames, "TextLineDataset")
        self._compression = _compression(compression_type, "TextLineDataset")
        self._parallel = positive_argument(num_parallel_reads, "TextLineDataset",
                                           "num_parallel_reads", default=1)
        self._spec = TensorSpec((), _STRING)

    def _iterate(self):
        if self._parallel > 1 and len(self._names) > 1:
            files = Dataset.from_tensor_slices(np.array(self._names))
            yield from files.interleave(
                lambda path: TextLineDataset(str(path), self._compression),
                cycle_length=self._parallel, block_length=1)._iterate()
            return
        for path in self._names:
            with _open_binary(existing(path, "TextLineDataset"), self._compression) as f:
                for line in f:
                    # TF's ReadLine drops every "\r" of a line (not only one before the
                    # "\n"), and a last line with nothing else is no line
                    ended = line.endswith(b"\n")
                    line = (line[:-1] if ended else line).replace(b"\r", b"")
                    if ended or line:
                        yield _line(line)

    def _cardinality(self):
        return UNKNOWN_CARDINALITY


def list_files(file_pattern, shuffle=None, seed=None):
    """`Dataset.list_files`: the names of the files matching `file_pattern` (a glob, or a
    list of them), each once; shuffled unless `shuffle=False` (TF's default), else sorted."""
    patterns = [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else \
        list(np.asarray(file_pattern, dtype=object).ravel())
    if not patterns:
        raise ValueError("Dataset.list_files: `file_pattern` is empty")
    from xlaflow.io.gfile import glob  # TF's matching: hidden files too
    matches = glob([os.fspath(str(p)) for p in patterns])
    if not matches:
        shown = ", ".join(repr(os.fspath(str(p))) for p in patterns)
        raise InvalidArgumentError(None, None, f"Dataset.list_files: no files matched "
                                   f"pattern: {shown}")
    dataset = Dataset.from_tensor_slices(np.array(matches, dtype=str))
    if shuffle is None or shuffle:
        dataset = dataset.shuffle(len(matches), seed=seed)
    return dataset
