"""`Dataset.cache(filename)`: the first complete pass written to a file that later passes,
and later pipelines given the same filename, read instead of the input (as TF's file cache).

The file is `filename + ".xfcache.npz"`: a NumPy archive of every element's leaves (no
pickles), written under a temporary name and renamed, so a pass broken off leaves no file.
"""

from __future__ import annotations

import os
import tempfile
import threading

import numpy as np

from xlaflow.data import structure
from xlaflow.data.dataset import Dataset
from xlaflow.data.errors import Failed
from xlaflow.data.passes import OnePass, upstream
from xlaflow.data.ragged_elements import RaggedRow

SUFFIX = ".xfcache.npz"


_LENGTHS = ".lengths"  # beside a leaf of bytes values: the length of each


def _all_bytes(leaf):
    return isinstance(leaf, np.ndarray) and leaf.dtype == object and all(
        isinstance(v, bytes) for v in leaf.flat)


def _load(archive, key, names):
    """Leaf `key` of the archive; a bytes leaf is cut back into its values."""
    if key + _LENGTHS not in names:
        return archive[key]
    data, lengths = archive[key].tobytes(), archive[key + _LENGTHS]
    out = np.empty(lengths.shape, dtype=object)
    ends = np.cumsum(lengths.reshape(-1))
    for index, end, n in zip(np.ndindex(*lengths.shape), ends, lengths.reshape(-1)):
        out[index] = data[end - n:end]
    return out


def _kind(leaf):
    return "ragged component (a row of a RaggedTensor)" if type(leaf) is RaggedRow else \
        type(leaf).__name__


class FileCache(OnePass, Dataset):
    """Elements from the cache file when it exists; else the input's, recorded and written
    to it once a pass reaches the end."""

    def __init__(self, dataset, filename):
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"Dataset.cache: filename must be a str or path; received "
                            f"{type(filename).__name__} {filename!r:.60}")
        filename = os.fspath(filename)
        self._input = dataset
        self._path = filename + SUFFIX
        self._lock = threading.Lock()

    def _pass(self, tolerant):
        if os.path.exists(self._path):
            yield from self._read()
            return
        elements = []
        with upstream(self._input, tolerant) as it:
            for element in it:
                if type(element) is not Failed:
                    elements.append(element)
                yield element
        with self._lock:  # two concurrent first passes: the first to finish writes
            if not os.path.exists(self._path):
                self._write(elements)

    def _write(self, elements):
        arrays = {"count": np.int64(len(elements))}
        for i, element in enumerate(elements):
            for j, leaf in enumerate(structure.flatten(element)):
                if _all_bytes(leaf):
                    # records and parsed string features: their bytes, end to end, and
                    # each value's length (the archive holds no pickles)
                    arrays[f"e{i}_{j}"] = np.frombuffer(b"".join(leaf.flat), np.uint8)
                    arrays[f"e{i}_{j}{_LENGTHS}"] = np.vectorize(
                        len, otypes=[np.int64])(leaf).reshape(leaf.shape)
                    continue
                if not isinstance(leaf, (np.ndarray, np.generic)) or leaf.dtype.kind == "O" \
                        or type(leaf) is RaggedRow:  # a ragged row would come back dense
                    raise TypeError(
                        f"Dataset.cache({self._path[:-len(SUFFIX)]!r}): only elements of "
                        f"NumPy arrays can be written to a file; element {i} has a "
                        f"{_kind(leaf)}. Use cache() without a filename")
                arrays[f"e{i}_{j}"] = leaf
        directory = os.path.dirname(os.path.abspath(self._path))
        fd, tmp = tempfile.mkstemp(prefix=".xfcache-", suffix=".npz", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, self._path)
        except BaseException:
            os.unlink(tmp)
            raise

    def _read(self):
        pack = structure.packer(self.element_spec)
        width = len(structure.flatten(self.element_spec))
        with np.load(self._path, allow_pickle=False) as archive:
            count = int(archive["count"])
            names = set(archive.files)
            if count and f"e0_{width - 1}" not in names or f"e0_{width}" in names:
                raise ValueError(
                    f"Dataset.cache: {self._path} holds elements of another structure than "
                    f"this pipeline's {structure.describe(self.element_spec)}; delete it or "
                    "give another filename")
            for i in range(count):
                leaves = [_load(archive, f"e{i}_{j}", names) for j in range(width)]
                yield pack([leaf[()] if leaf.ndim == 0 and leaf.dtype != object else leaf
                            for leaf in leaves])

    def _infer_spec(self):
        return self._input.element_spec

    def _cardinality(self):
        return self._input._cardinality()
