"""TF 2.12 behaviours of xf.data checked against TF's documentation: strings come out of
`as_numpy_iterator` and `.numpy()` as bytes, and file datasets open their files lazily."""

import numpy as np
import pytest

import xlaflow as xf


def _types(values):
    return [type(v) for v in values]


def test_as_numpy_iterator_gives_bytes_for_text_slices():
    """TF: `from_tensor_slices(["a", "b"]).as_numpy_iterator()` yields b'a', b'b' (bytes:
    tf.string holds bytes, and as_numpy_iterator documents bytes for string elements)."""
    values = list(xf.data.Dataset.from_tensor_slices(["a", "é"]).as_numpy_iterator())
    assert values == [b"a", "é".encode()]
    assert _types(values) == [bytes, bytes]


def test_as_numpy_iterator_gives_bytes_inside_structures():
    """TF: every string leaf of a nested element is bytes; numeric leaves are unchanged."""
    ds = xf.data.Dataset.from_tensor_slices(
        {"s": ["a", "b"], "pair": (np.array([1, 2], np.int32), ["x", "y"])})
    first = next(iter(ds.as_numpy_iterator()))
    assert type(first["s"]) is bytes and first["s"] == b"a"
    assert type(first["pair"][1]) is bytes and first["pair"][1] == b"x"
    assert first["pair"][0] == 1 and first["pair"][0].dtype == np.int32


def test_as_numpy_iterator_gives_object_array_of_bytes_for_batches():
    """TF: a batch of strings is a NumPy object array of bytes (`.numpy()`'s form)."""
    (batch,) = list(xf.data.Dataset.from_tensor_slices(["a", "bc"]).batch(2)
                    .as_numpy_iterator())
    assert isinstance(batch, np.ndarray) and batch.dtype == object
    assert batch.tolist() == [b"a", b"bc"]


def test_as_numpy_iterator_gives_bytes_for_text_lines_and_scalars(tmp_path):
    """TF: TextLineDataset lines and a from_tensors string are bytes, not np.str_/np.bytes_."""
    path = tmp_path / "lines.txt"
    path.write_text("one\ntwo\n")
    lines = list(xf.data.TextLineDataset(str(path)).as_numpy_iterator())
    assert lines == [b"one", b"two"] and _types(lines) == [bytes, bytes]
    (one,) = list(xf.data.Dataset.from_tensors("abc").as_numpy_iterator())
    assert type(one) is bytes and one == b"abc"
    binary = list(xf.data.Dataset.from_tensor_slices([b"ab", b"\xff"]).as_numpy_iterator())
    assert binary == [b"ab", b"\xff"] and _types(binary) == [bytes, bytes]


def test_as_numpy_iterator_leaves_numeric_elements_alone():
    """Numeric elements pass through as the NumPy values the pipeline made."""
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    values = list(xf.data.Dataset.from_tensor_slices((x, np.arange(3))).as_numpy_iterator())
    np.testing.assert_array_equal(np.stack([v[0] for v in values]), x)
    assert all(type(v[0]) is np.ndarray and v[0].dtype == np.float32 for v in values)


def test_string_element_numpy_is_bytes():
    """TF: `.numpy()` of a scalar tf.string element is bytes; of a vector, an object array
    of bytes."""
    for element in xf.data.Dataset.from_tensor_slices(["a"]):
        assert type(element.numpy()) is bytes and element.numpy() == b"a"
    for batch in xf.data.Dataset.from_tensor_slices(["a", "b"]).batch(2):
        assert batch.numpy().dtype == object and batch.numpy().tolist() == [b"a", b"b"]


def _csv(*names):
    return xf.data.experimental.CsvDataset(list(names), [xf.int32])


@pytest.mark.parametrize("make", [xf.data.TFRecordDataset, xf.data.TextLineDataset, _csv],
                         ids=["tfrecord", "textline", "csv"])
def test_file_datasets_open_their_files_when_iterated(tmp_path, make):
    """TF: `TFRecordDataset(["missing.tfrecord"])` (TextLineDataset, CsvDataset) constructs
    without looking at the file; iterating raises tf.errors.NotFoundError naming it, after
    the files before it were read."""
    present = tmp_path / "present"
    if make is xf.data.TFRecordDataset:
        with xf.io.TFRecordWriter(str(present)) as writer:
            writer.write(b"7")
    else:
        present.write_text("7\n")
    missing = str(tmp_path / "missing.tfrecord")
    ds = make([str(present), missing])
    it = iter(ds)
    first = next(it)
    assert (first[0] if isinstance(first, tuple) else first).numpy() in (b"7", 7)
    with pytest.raises(xf.errors.NotFoundError, match="missing.tfrecord"):
        next(it)
    with pytest.raises(xf.errors.NotFoundError, match="missing.tfrecord"):
        list(make(missing).as_numpy_iterator())
