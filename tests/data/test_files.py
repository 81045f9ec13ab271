"""TextLineDataset, Dataset.list_files and Dataset.counter against Python's own reading."""

import gzip
import itertools
import os
import zlib

import numpy as np
import pytest

import xlaflow as xf
from xlaflow.data import Dataset, TextLineDataset
from xlaflow.errors import InvalidArgumentError


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def test_text_lines_without_their_endings_file_after_file(tmp_path):
    a = _write(tmp_path / "a.txt", "x,1\r\nhé\n\nlast".encode())
    b = _write(tmp_path / "b.txt", b"b1\nb2\n")
    ds = TextLineDataset([a, b])
    assert ds.element_spec.shape == () and ds.element_spec.dtype.kind == "U"
    assert list(ds.as_numpy_iterator()) == [b"x,1", "hé".encode(), b"", b"last", b"b1", b"b2"]
    assert [line.numpy() for line in TextLineDataset(a)] == [b"x,1", "hé".encode(), b"", b"last"]
    assert int(ds.cardinality()) == xf.data.UNKNOWN_CARDINALITY
    assert list(ds.skip(4).map(lambda s: s.upper()).as_numpy_iterator()) == [b"B1", b"B2"]


def test_text_lines_compressed_and_interleaved(tmp_path):
    lines = [f"row {i}".encode() for i in range(5)]
    text = b"\n".join(lines) + b"\n"
    gz = tmp_path / "t.gz"
    with gzip.open(gz, "wb") as f:
        f.write(text)
    z = _write(tmp_path / "t.z", zlib.compress(text))
    assert list(TextLineDataset(str(gz), compression_type="GZIP").as_numpy_iterator()) == lines
    assert list(TextLineDataset(z, compression_type="ZLIB").as_numpy_iterator()) == lines
    p = _write(tmp_path / "p.txt", b"p0\np1\np2\n")
    q = _write(tmp_path / "q.txt", b"q0\n")
    both = TextLineDataset([p, q], num_parallel_reads=2)  # TF: one line from each in turn
    assert list(both.as_numpy_iterator()) == [b"p0", b"q0", b"p1", b"p2"]
    missing = TextLineDataset(str(tmp_path / "missing.txt"))  # TF opens lazily
    with pytest.raises(FileNotFoundError, match="no such file"):
        list(missing)
    with pytest.raises(ValueError, match="compression_type"):
        TextLineDataset(p, compression_type="BZ2")


def test_list_files_sorted_or_shuffled_and_no_match_is_an_error(tmp_path):
    for name in ("b.csv", "a.csv", "c.txt"):
        _write(tmp_path / name, b"")
    os.mkdir(tmp_path / "d")
    _write(tmp_path / "d" / "e.csv", b"")
    pattern = str(tmp_path / "*.csv")
    expected = sorted([os.fsencode(tmp_path / "a.csv"), os.fsencode(tmp_path / "b.csv")])
    assert list(Dataset.list_files(pattern, shuffle=False).as_numpy_iterator()) == expected
    both = Dataset.list_files([pattern, str(tmp_path / "*" / "*.csv"), pattern], shuffle=False)
    assert list(both.as_numpy_iterator()) == sorted(expected + [os.fsencode(tmp_path / "d" / "e.csv")])
    shuffled = Dataset.list_files(pattern, seed=3)  # TF shuffles by default
    assert sorted(shuffled.as_numpy_iterator()) == expected
    with pytest.raises(InvalidArgumentError, match="no files matched pattern"):
        Dataset.list_files(str(tmp_path / "*.json"))


def test_counter_counts_forever_from_start_by_step():
    got = list(Dataset.counter(5, -2).take(4).as_numpy_iterator())
    assert got == [5, 3, 1, -1] and type(got[0]) is np.int64
    counter = xf.data.experimental.Counter(dtype=xf.int32)
    assert counter.element_spec.dtype == np.int32
    assert int(counter.cardinality()) == xf.data.INFINITE_CARDINALITY
    pairs = Dataset.zip((counter, Dataset.range(10, 13)))
    assert [(int(n), int(v)) for n, v in pairs] == list(zip(itertools.count(), range(10, 13)))
    with pytest.raises(TypeError, match="dtype must be an integer type"):
        Dataset.counter(dtype="float32")
