"""TF's TFRecordDataset: the records of TFRecord files, read and checksummed on the host.

A record is arbitrary bytes (usually a serialized tf.train.Example), which NumPy's str and
bytes dtypes cannot hold (they drop trailing NUL bytes), so each element is a 0-d object
array holding the `bytes`, and a batch of them an object array: TF's own `.numpy()` form.
"""

from __future__ import annotations

import os

import numpy as np

from xlaflow.data.arguments import integer_argument, positive_argument
from xlaflow.data.csv import _filenames, existing
from xlaflow.data.dataset import UNKNOWN_CARDINALITY, Dataset
from xlaflow.tensors import TensorSpec

_BYTES = np.dtype(object)


def record(data):
    """`data` (bytes) as a record element: a 0-d object array holding it."""
    out = np.empty((), dtype=object)
    out[()] = data
    return out


def _name(value):
    # a file name from a Dataset of names (str, bytes or a 0-d array of either)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"TFRecordDataset: a Dataset of file names must hold strings; "
                        f"received {type(value).__name__} {value!r:.60}")
    return os.fspath(value)


class TFRecordDataset(Dataset):
    """TF's `tf.data.TFRecordDataset`: every record of every file in turn, as bytes.

    `filenames` is a name, a list of names or a Dataset of names (read lazily, as TF's);
    `num_parallel_reads` > 1 interleaves that many files a record at a time (TF's
    deterministic order). `buffer_size` only tunes TF's I/O and is accepted and ignored.
    """

    def __init__(self, filenames, compression_type=None, buffer_size=None,
                 num_parallel_reads=None, name=None):
        from xlaflow.io.records import compression_argument  # xf.io (protobuf) on first use
        self._compression = compression_argument(compression_type, "TFRecordDataset")
        if isinstance(filenames, Dataset):
            self._names, self._name_dataset = None, filenames
        else:
            self._names = _filenames(filenames, "TFRecordDataset")
            self._name_dataset = None
        if buffer_size is not None and integer_argument(
                buffer_size, "TFRecordDataset", "buffer_size") < 0:
            raise ValueError(f"TFRecordDataset: buffer_size must be >= 0 bytes (or None); "
                             f"received {buffer_size}")
        self._parallel = positive_argument(num_parallel_reads, "TFRecordDataset",
                                           "num_parallel_reads", default=1)
        self._spec = TensorSpec((), _BYTES)

    def _files(self):
        if self._names is not None:
            return iter(self._names)
        return (_name(value) for value in self._name_dataset)

    def _iterate(self):
        from xlaflow.io.records import read_records
        if self._parallel > 1:
            names = list(self._files())
            if len(names) > 1:
                files = Dataset.from_tensor_slices(np.array(names))
                yield from files.interleave(
                    lambda path: TFRecordDataset(str(path), self._compression),
                    cycle_length=self._parallel, block_length=1)._iterate()
                return
            files = iter(names)
        else:
            files = self._files()
        for path in files:
            for data in read_records(existing(path, "TFRecordDataset"), self._compression):
                yield record(data)

    def _cardinality(self):
        return UNKNOWN_CARDINALITY


class TFRecordWriter:
    """TF's `tf.data.experimental.TFRecordWriter`: `write(dataset)` writes a dataset of
    scalar strings (serialized Examples) as one TFRecord file, atomically."""

    def __init__(self, filename, compression_type=None):
        from xlaflow.io.records import compression_argument
        self._filename = os.fspath(filename)
        self._compression = compression_argument(compression_type,
                                                 "experimental.TFRecordWriter")

    def write(self, dataset):
        """Every element of `dataset` (scalar strings) as a record, in order."""
        from xlaflow.io.records import TFRecordOptions
        from xlaflow.io.records import TFRecordWriter as Writer
        if not isinstance(dataset, Dataset):
            raise TypeError(f"experimental.TFRecordWriter.write: `dataset` must be an "
                            f"xf.data.Dataset; received {type(dataset).__name__}")
        spec = dataset.element_spec
        if not isinstance(spec, TensorSpec) or spec.dtype.kind not in "USO" or (
                spec.shape is not None and len(spec.shape) != 0):
            raise TypeError(f"experimental.TFRecordWriter.write: `dataset` must have scalar "
                            f"string elements; its element_spec is {spec}")
        with Writer(self._filename, TFRecordOptions(self._compression)) as writer:
            for value in dataset.as_numpy_iterator():  # bytes, or str written as UTF-8
                writer.write(value.item() if isinstance(value, np.ndarray) else value)
