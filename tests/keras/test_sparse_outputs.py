"""sparse=True in IntegerLookup, StringLookup, TextVectorization, Hashing and
CategoryEncoding: eagerly a SparseTensor of the encoding (TF's values), checked against
NumPy encodings; traced or in a model, a refusal that names what to do."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


def _dense_of(sp):
    assert isinstance(sp, xf.SparseTensor)
    values = np.asarray(sp.values)
    assert values.dtype == np.float32 and np.all(values != 0)  # only the nonzeros, as TF
    out = np.zeros(sp.dense_shape.numpy(), np.float32)
    out[tuple(np.asarray(sp.indices).T)] = values
    return out


def test_integer_lookup_multi_hot_sparse():
    layer = keras.layers.IntegerLookup(vocabulary=[10, 20, 30], output_mode="multi_hot",
                                       sparse=True)
    out = layer(np.array([[10, 30], [20, 99]]))
    # index 0 is the OOV bucket (99); 10, 20, 30 are 1, 2, 3
    np.testing.assert_array_equal(_dense_of(out), [[0, 1, 0, 1], [1, 0, 1, 0]])
    assert keras.layers.IntegerLookup.from_config(layer.get_config()).sparse is True


def test_string_lookup_and_text_vectorization_count_sparse():
    layer = keras.layers.StringLookup(vocabulary=["a", "b"], output_mode="count", sparse=True)
    out = layer(np.array([["a", "a", "c"], ["b", "b", "b"]]))
    np.testing.assert_array_equal(_dense_of(out), [[1, 2, 0], [0, 0, 3]])
    vectorize = keras.layers.TextVectorization(vocabulary=["x", "y"], output_mode="count",
                                               sparse=True)
    out = vectorize(np.array(["x y x", "z"]))
    # columns "[UNK]", "x", "y" (Keras 2 gives the mask token a column in int mode only)
    np.testing.assert_array_equal(_dense_of(out), [[0, 2, 1], [1, 0, 0]])


def test_hashing_one_hot_sparse_is_the_one_hot_of_its_int_bins():
    values = np.array(["cat", "dog", "emu", "cat"])
    bins = np.asarray(keras.layers.Hashing(5)(values))
    out = keras.layers.Hashing(5, output_mode="one_hot", sparse=True)(values)
    np.testing.assert_array_equal(_dense_of(out), np.eye(5, dtype=np.float32)[bins])


def test_category_encoding_weighted_count_sparse():
    ids = np.array([[0, 2, 2], [3, 3, 1]])
    weights = np.array([[0.5, 1.0, 2.0], [1.5, 1.5, 4.0]], np.float32)
    out = keras.layers.CategoryEncoding(num_tokens=5, output_mode="count", sparse=True)(
        ids, count_weights=weights)
    want = np.stack([np.bincount(r, w, minlength=5) for r, w in zip(ids, weights)])
    np.testing.assert_allclose(_dense_of(out), want)


def test_sparse_outputs_in_a_dataset_map_are_sparse_elements():
    layer = keras.layers.StringLookup(vocabulary=["a", "b"], output_mode="multi_hot",
                                      sparse=True)
    ds = xf.data.Dataset.from_tensor_slices(np.array([["a", "z"], ["b", "b"]])).map(layer)
    assert ds.element_spec == xf.SparseTensorSpec([3], xf.float32)
    (batch,) = list(ds.batch(2))
    np.testing.assert_array_equal(_dense_of(batch), [[1, 1, 0], [0, 0, 1]])


def test_traced_and_model_uses_are_refused_by_name():
    encode = keras.layers.CategoryEncoding(num_tokens=3, output_mode="one_hot", sparse=True)
    with pytest.raises(NotImplementedError, match=r"CategoryEncoding\(sparse=True\) inside a "
                                                  r"traced function.*sparse=False"):
        xf.function(encode)(np.array([0, 2]))
    lookup = keras.layers.IntegerLookup(vocabulary=[1], output_mode="count", sparse=True)
    with pytest.raises(NotImplementedError, match=r"IntegerLookup\(sparse=True\) inside"):
        xf.function(lambda x: lookup(x))(np.array([[1, 1]]))
    strings = keras.layers.StringLookup(vocabulary=["a"], output_mode="count", sparse=True)
    with pytest.raises(NotImplementedError, match=r"StringLookup\(sparse=True\) in a "
                                                  r"functional"):
        strings(keras.Input(shape=(2,), dtype="string"))
