"""IntegerLookup against a Python dict built the way Keras 2 documents its vocabulary:
OOV (and mask) first, then values by frequency, ties by the larger value."""

from collections import Counter

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras


def _oracle(data, max_tokens, start):
    counts = Counter(np.asarray(data).reshape(-1).tolist())
    ranked = sorted(counts, key=lambda v: (-counts[v], -v))[:max_tokens - start]
    return {v: i + start for i, v in enumerate(ranked)}


def test_adapt_orders_by_frequency_and_maps_unknown_values_to_oov():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 12, size=(300, 1))
    layer = keras.layers.IntegerLookup(max_tokens=8)
    layer.adapt(xf.data.Dataset.from_tensor_slices(data).batch(64))  # batches, as Keras
    table = _oracle(data, 8, 1)
    assert layer.get_vocabulary() == [-1, *table]
    assert layer.vocabulary_size() == 8
    queries = np.arange(-3, 15).reshape(-1, 1)
    want = np.array([[table.get(int(q), 0)] for q in queries[:, 0]])
    np.testing.assert_array_equal(layer(queries), want)
    # the same ids from a compiled function and, encoded, from a model
    np.testing.assert_array_equal(xf.function(lambda q: layer(q))(queries), want)
    inputs = keras.Input((1,), dtype="int32")
    model = keras.Model(inputs, keras.layers.CategoryEncoding(8)(layer(inputs)))
    np.testing.assert_array_equal(model.predict(queries, verbose=0),
                                  np.eye(8, dtype=np.float32)[want[:, 0]])


def test_given_vocabulary_mask_token_output_modes_and_config():
    layer = keras.layers.IntegerLookup(vocabulary=[12, 36, 1138, 42], mask_token=0)
    assert layer.get_vocabulary() == [0, -1, 12, 36, 1138, 42]
    x = np.array([[12, 1138, 0], [42, 7, 36]])
    np.testing.assert_array_equal(layer(x), [[2, 4, 0], [5, 1, 3]])
    multi = keras.layers.IntegerLookup(vocabulary=[12, 36], output_mode="multi_hot")
    np.testing.assert_array_equal(multi(np.array([[12, 5], [36, 36]])), [[1, 1, 0], [0, 0, 1]])
    count = keras.layers.IntegerLookup(vocabulary=[12, 36], output_mode="count")
    np.testing.assert_array_equal(count(np.array([[36, 36, 9]])), [[1, 0, 2]])
    clone = keras.layers.IntegerLookup.from_config(layer.get_config())
    np.testing.assert_array_equal(clone(x), layer(x))


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="repeated values"):
        keras.layers.IntegerLookup(vocabulary=[1, 2, 1])
    # Keras 2 takes a vocabulary that starts with the special tokens (get_vocabulary's
    # output); the mask token further on is refused
    assert keras.layers.IntegerLookup(vocabulary=[-1, 2]).get_vocabulary() == [-1, 2]
    with pytest.raises(ValueError, match="must not hold the reserved tokens"):
        keras.layers.IntegerLookup(vocabulary=[2, 0], mask_token=0)
    with pytest.raises(ValueError, match="output_mode must be one of"):
        keras.layers.IntegerLookup(output_mode="tfidf")
    with pytest.raises(ValueError, match="inputs must be integers"):
        keras.layers.IntegerLookup(vocabulary=[1])(np.array([1.5]))
    with pytest.raises(NotImplementedError, match=r"num_oov_indices=0.*num_oov_indices=1"):
        keras.layers.IntegerLookup(num_oov_indices=0)
    with pytest.raises(ValueError, match="num_oov_indices must be an int >= 0"):
        keras.layers.IntegerLookup(num_oov_indices=-1)


def test_the_mask_token_has_an_index_in_int_mode_only_as_keras_2():
    # Keras 2's index_lookup reserves index 0 for the mask in int mode; encoded modes drop
    # a mask value (it counts nowhere) and their vectors have no mask column
    encoded = keras.layers.IntegerLookup(vocabulary=[7, 5], mask_token=0, output_mode="count")
    assert encoded.get_vocabulary() == [-1, 7, 5] and encoded.vocabulary_size() == 3
    np.testing.assert_array_equal(encoded(np.array([[5, 0, 9, 5]])), [[1.0, 0.0, 2.0]])
    ints = keras.layers.IntegerLookup(vocabulary=[7, 5], mask_token=0)
    assert ints.get_vocabulary() == [0, -1, 7, 5]
    np.testing.assert_array_equal(ints(np.array([[5, 0, 9, 7]])), [[3, 0, 1, 2]])
