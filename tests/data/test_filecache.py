"""Dataset.cache(filename): a completed pass is written to a file that later passes and
later pipelines read instead of running the input."""

import os

import numpy as np
import pytest

from xlaflow import TensorSpec, float32, int64
from xlaflow.data import Dataset


def _counting_source(calls):
    def gen():
        calls.append(1)
        for i in range(5):
            yield {"x": np.full(3, i, np.float32), "y": np.int64(i)}
    return Dataset.from_generator(gen, output_signature={
        "x": TensorSpec((3,), float32), "y": TensorSpec((), int64)})


def _rows(ds):
    return [(e["x"].tolist(), int(e["y"])) for e in ds]


def test_cache_file_is_written_by_a_complete_pass_and_read_by_later_pipelines(tmp_path):
    calls = []
    filename = str(tmp_path / "cache")
    expected = [([float(i)] * 3, i) for i in range(5)]
    ds = _counting_source(calls).cache(filename)
    assert _rows(ds.take(2)) == expected[:2]  # a pass broken off writes nothing
    assert not any(p.name.endswith(".npz") for p in tmp_path.iterdir())
    assert _rows(ds) == expected and len(calls) == 2
    assert _rows(ds) == expected and len(calls) == 2  # replayed from the file
    # A pipeline built afresh (another program run, as TF's) reads the file too.
    again = _counting_source(calls).cache(filename)
    assert _rows(again) == expected and len(calls) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["cache.xfcache.npz"]  # no temp left


def test_cache_file_keeps_strings_and_refuses_another_structure(tmp_path):
    filename = os.fspath(tmp_path / "c")
    words = Dataset.from_tensor_slices(np.array([b"ab", b"c"]))
    assert list(words.cache(filename + "w")) == list(words.cache(filename + "w")) == [b"ab", b"c"]
    list(Dataset.range(3).cache(filename))
    assert [int(x) for x in Dataset.range(10).cache(filename)] == [0, 1, 2]  # as TF: the file
    with pytest.raises(ValueError, match="another structure"):
        list(Dataset.zip((Dataset.range(2), Dataset.range(2))).cache(filename))
