"""Review of IntegerLookup as a TF user writes it: an inverse lookup with num_oov_indices=0
(the inverse of a layer that has no OOV index), a vocabulary from a file (Keras 2 documents
a path), and an empty vocabulary refused by name. Oracles: Python dicts over the vocabulary."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras

IL = keras.layers.IntegerLookup
VOCAB = [12, 36, 1138, 42]


def _inverse_oracle(ids, vocabulary, oov_token=-1):
    table = dict(enumerate(vocabulary))
    return np.vectorize(lambda i: table.get(int(i), oov_token))(ids)


@pytest.mark.parametrize("mask_token", [None, 0])
def test_inverse_lookup_without_oov_indices(mask_token):
    # Keras 2's inverse lookup never checks for OOV ids (only the forward one does): an id
    # past the vocabulary gives oov_token; with a mask token, id 0 gives it back
    layer = IL(vocabulary=VOCAB, num_oov_indices=0, mask_token=mask_token, invert=True)
    special = [] if mask_token is None else [mask_token]
    assert layer.get_vocabulary() == special + VOCAB
    ids = np.array([[0, 1, 2, 3], [4, 5, 9, 1]])
    expected = _inverse_oracle(ids, special + VOCAB)
    np.testing.assert_array_equal(layer(ids), expected)
    np.testing.assert_array_equal(xf.function(layer)(ids), expected)
    again = IL.from_config(layer.get_config())
    np.testing.assert_array_equal(again(ids), expected)


def test_the_forward_lookup_without_oov_indices_is_still_refused_by_name():
    with pytest.raises(NotImplementedError, match="num_oov_indices=0"):
        IL(vocabulary=VOCAB, num_oov_indices=0)


def _write(tmp_path, lines):
    path = tmp_path / "vocab.txt"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_vocabulary_from_a_file_of_one_integer_per_line(tmp_path):
    path = _write(tmp_path, VOCAB)
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    index = {v: i + 1 for i, v in enumerate(VOCAB)}  # after the one OOV index, 0
    expected = np.vectorize(lambda v: index.get(int(v), 0))(data)
    for vocabulary in (str(path), path):  # a str, as Keras 2 documents, or a pathlib.Path
        forward = IL(vocabulary=vocabulary)
        assert forward.get_vocabulary() == [-1, *VOCAB]
        np.testing.assert_array_equal(forward(data), expected)
    inverse = IL(vocabulary=str(path), mask_token=0, invert=True)
    ids = np.array([0, 1, 2, 5, 6])
    np.testing.assert_array_equal(inverse(ids), _inverse_oracle(ids, [0, -1, *VOCAB]))
    layer = IL()
    layer.set_vocabulary(str(path))
    assert layer.get_vocabulary() == [-1, *VOCAB]


def test_a_bad_vocabulary_file_or_an_empty_vocabulary_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        IL(vocabulary=str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="line 2 is 'x'"):
        IL(vocabulary=str(_write(tmp_path, [3, "x"])))
    with pytest.raises(ValueError, match="empty vocabulary"):
        IL(vocabulary=[])
    layer = IL(vocabulary=VOCAB)
    with pytest.raises(ValueError, match="empty vocabulary"):
        layer.set_vocabulary(np.zeros((0,), np.int64))
    assert layer.get_vocabulary() == [-1, *VOCAB]  # refused before any change
