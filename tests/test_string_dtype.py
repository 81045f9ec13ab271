"""xf.string is TF's tf.string: TF 2.12 documents one string dtype named "string" that a
string tensor's dtype equals (`tf.constant(["a"]).dtype == tf.string`), that
`tf.as_dtype("string")` returns, and that no numeric dtype equals."""

import operator
import pickle

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


@pytest.mark.parametrize("value", [["a"], "a", [b"a", b"bc"], [b"\xff"], [["x", "yz"]], []],
                         ids=["list", "scalar", "bytes", "binary", "nested", "empty"])
def test_a_string_tensor_has_dtype_string(value):
    x = xf.constant(value, dtype=xf.string if value == [] else None)
    assert x.dtype == xf.string and xf.string == x.dtype
    assert operator.ne(x.dtype, xf.string) is False  # __ne__ agrees with __eq__
    assert x.dtype.name == "string"
    assert x.dtype == "string"  # TF compares a DType with its name too


def test_string_equals_itself_as_dtype_and_no_numeric_dtype():
    assert xf.string == xf.string and hash(xf.string) == hash(xf.string)
    assert xf.as_dtype("string") == xf.string and xf.as_dtype(xf.string) == xf.string
    assert xf.as_dtype("string").name == "string"
    for numeric in (xf.float32, xf.int32, xf.bool, xf.int64, np.float64, "float32"):
        assert xf.string != numeric and operator.eq(xf.string, numeric) is False
        assert xf.as_dtype(numeric) != xf.string
    assert xf.constant([1.0]).dtype != xf.string
    assert operator.eq(xf.constant([1.0]).dtype, xf.string) is False
    assert pickle.loads(pickle.dumps(xf.string)) is xf.string


def test_specs_inputs_and_dataset_elements_of_text_are_string():
    """TF: element_spec.dtype, TensorSpec(..., tf.string).dtype and a string Input's dtype
    are all tf.string; a record dataset's elements are tf.string too."""
    assert xf.TensorSpec((), xf.string).dtype == xf.string
    assert xf.TensorSpec((), "string").dtype.name == "string"
    ds = xf.data.Dataset.from_tensor_slices(["a", "bc"])
    assert ds.element_spec.dtype == xf.string
    assert next(iter(ds)).dtype == xf.string and next(iter(ds)).dtype.name == "string"
    assert keras.Input((1,), dtype="string").dtype == xf.string
    assert keras.Input((1,), dtype=xf.string).dtype.name == "string"
    assert xf.data.TFRecordDataset(["never.tfrecord"]).element_spec.dtype == xf.string


def test_string_names_a_required_csv_column(tmp_path):
    """TF's CsvDataset takes tf.string in record_defaults for a required text column."""
    path = tmp_path / "t.csv"
    path.write_text("n,s\n1,x\n")
    ds = xf.data.experimental.CsvDataset(str(path), [xf.int32, xf.string], header=True)
    assert list(ds.as_numpy_iterator()) == [(1, b"x")]
    assert ds.element_spec[1].dtype == xf.string


def test_a_string_dtype_still_works_as_numpy_dtype():
    """The host form stays NumPy: the dtype of a text tensor gives NumPy its str dtype."""
    x = xf.constant(["ab", "c"])
    assert np.dtype(x.dtype) == np.dtype("<U2") and x.dtype.kind == "U"
    np.testing.assert_array_equal(np.asarray(["q"], dtype=x.dtype), ["q"])
    assert np.asarray(x).dtype == np.dtype("<U2")


def test_element_spec_of_text_reads_as_tfs(tmp_path):
    """TF prints TensorSpec(shape=(), dtype=tf.string, name=None) for text sources, maps
    returning text and batches of text: named "string" whatever NumPy width the text has,
    while padding and batching still use the NumPy dtype inside."""
    path = tmp_path / "lines.txt"
    path.write_text("hello\nworld\n")
    datasets = [xf.data.TextLineDataset(str(path)),
                xf.data.Dataset.from_tensor_slices(["a", "bcd"]),
                xf.data.Dataset.range(2).map(lambda i: "x"),
                xf.data.Dataset.from_tensor_slices(np.array([b"\xff", b"ab"], dtype=object)),
                xf.data.TFRecordDataset([str(path)])]
    for ds in datasets:
        spec = ds.element_spec
        assert repr(spec) == "TensorSpec(shape=(), dtype=string, name=None)", repr(spec)
        assert spec.dtype.name == "string" and spec.dtype == xf.string
        assert spec == xf.TensorSpec((), xf.string)
    words = xf.data.Dataset.from_tensor_slices(["a", "bcd", "ef"])
    batched = words.padded_batch(2, padded_shapes=[], padding_values="-")
    assert batched.element_spec.dtype.name == "string"
    assert [b.numpy().tolist() for b in batched] == [[b"a", b"bcd"], [b"ef"]]
    pairs = xf.data.Dataset.from_tensor_slices((["a", "b"], [1, 2])).batch(2)
    text_spec, number_spec = pairs.element_spec
    assert text_spec.dtype.name == "string" and number_spec.dtype == xf.int32
    # a spec built from a NumPy text dtype directly is TF's string too
    assert xf.TensorSpec([None], np.dtype("<U7")).dtype.name == "string"
    assert np.dtype(xf.TensorSpec([None], np.dtype("<U7")).dtype) == np.dtype("<U7")


def test_numpys_testing_helpers_compare_text_tensors():
    """np.testing asks type(x.dtype)._is_numeric; a text tensor's TextDType answers False,
    as NumPy's own string DType does, so text results compare as NumPy strings."""
    x = xf.constant(["a", "b"])
    np.testing.assert_array_equal(x, np.array(["a", "b"]))
    with pytest.raises(AssertionError):
        np.testing.assert_array_equal(x, np.array(["a", "c"]))
