"""IntegerLookup(invert=True), output_mode='tf_idf' with idf_weights, and
pad_to_max_tokens, against Keras 2.12's IntegerLookup docstring examples (exact outputs)
and NumPy lookups from the vocabulary."""

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras

L = keras.layers.IntegerLookup
VOCAB = [12, 36, 1138, 42]


def test_keras_2_docstring_inverse_lookup_and_round_trip():
    layer = L(vocabulary=VOCAB, invert=True)
    np.testing.assert_array_equal(layer(np.array([[1, 3, 4], [4, 0, 2]])),
                                  [[12, 1138, 42], [42, -1, 36]])
    forward = L(vocabulary=VOCAB)
    inverse = L(vocabulary=forward.get_vocabulary(), invert=True)
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    np.testing.assert_array_equal(inverse(forward(data)), [[12, 1138, 42], [42, -1, 36]])


def test_inverse_lookup_matches_numpy_indexing_in_and_out_of_programs():
    rng = np.random.default_rng(0)
    vocab = rng.choice(np.arange(100, 10000), size=50, replace=False)
    for mask_token, num_oov in ((None, 1), (0, 1), (0, 3), (None, 2)):
        layer = L(vocabulary=vocab, mask_token=mask_token, num_oov_indices=num_oov,
                  oov_token=-7, invert=True)
        table = np.concatenate([[mask_token] if mask_token is not None else [],
                                [-7] * num_oov, vocab]).astype(np.int64)
        ids = rng.integers(-3, len(table) + 3, size=(4, 9))
        want = np.where((ids >= 0) & (ids < len(table)),
                        table[np.clip(ids, 0, len(table) - 1)], -7)
        # the mask index gives the mask token, the OOV indices and unknown ids the OOV one
        np.testing.assert_array_equal(layer(ids), want)
        np.testing.assert_array_equal(xf.function(lambda i, lookup=layer: lookup(i))(ids), want)
    model = keras.Sequential([keras.Input((3,), dtype="int32"), L(vocabulary=VOCAB,
                                                                  invert=True)])
    np.testing.assert_array_equal(model.predict(np.array([[1, 2, 9]]), verbose=0),
                                  [[12, 36, -1]])


def test_keras_2_docstring_tf_idf_examples():
    data = np.array([[12, 1138, 42, 42], [42, 7, 36, 7]])  # 7 is out of vocabulary
    layer = L(output_mode="tf_idf", vocabulary=VOCAB, idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(layer(data), [[0.0, 0.25, 0.0, 0.6, 0.8],
                                             [1.0, 0.0, 0.75, 0.0, 0.4]], rtol=1e-6)
    with_oov = L(output_mode="tf-idf")  # Keras 2's older spelling
    with_oov.set_vocabulary([-1, *VOCAB], idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(with_oov(data), [[0.0, 0.25, 0.0, 0.6, 0.8],
                                                [1.8, 0.0, 0.75, 0.0, 0.4]], rtol=1e-6)


def test_adapted_tf_idf_weights_are_keras_2s_document_frequencies():
    rng = np.random.default_rng(1)
    docs = rng.integers(0, 9, size=(40, 6))
    layer = L(output_mode="tf_idf")
    layer.adapt(docs)
    vocab = layer.get_vocabulary(include_special_tokens=False)
    df = np.array([sum(v in row for row in docs.tolist()) for v in vocab])
    idf = np.log(1 + len(docs) / (1 + df))
    weights = np.concatenate([[idf.mean()], idf])
    counts = np.zeros((len(docs), len(weights)))
    for r, row in enumerate(docs.tolist()):
        for v in row:
            counts[r, vocab.index(v) + 1] += 1
    np.testing.assert_allclose(layer(docs), counts * weights, rtol=1e-5)
    np.testing.assert_allclose(xf.function(lambda d: layer(d))(docs), counts * weights,
                               rtol=1e-5)


@pytest.mark.parametrize("mode", ["multi_hot", "count", "tf_idf"])
def test_pad_to_max_tokens_widens_the_encoding_to_max_tokens(mode):
    idf = [0.5, 2.0] if mode == "tf_idf" else None
    layer = L(max_tokens=6, vocabulary=[12, 36], output_mode=mode, idf_weights=idf,
              pad_to_max_tokens=True)
    data = np.array([[12, 12, 5], [36, 36, 36]])
    counts = np.array([[1, 2, 0], [0, 0, 3]], np.float32)
    if mode == "multi_hot":
        counts = np.minimum(counts, 1)
    if mode == "tf_idf":
        counts = counts * [1.25, 0.5, 2.0]  # the OOV weight: the mean of those given
    want = np.concatenate([counts, np.zeros((2, 3), np.float32)], axis=1)
    np.testing.assert_allclose(layer(data), want, rtol=1e-6)
    assert layer.compute_output_shape((None, 3)) == (None, 6)
    clone = L.from_config(layer.get_config())
    np.testing.assert_allclose(clone(data), want, rtol=1e-6)


def test_config_round_trips():
    inverse = L(vocabulary=VOCAB, mask_token=0, invert=True)
    config = inverse.get_config()
    assert config["invert"] is True and config["vocabulary"] == VOCAB
    ids = np.array([0, 1, 2, 5, 6])
    np.testing.assert_array_equal(L.from_config(config)(ids), inverse(ids))
    np.testing.assert_array_equal(inverse(ids), [0, -1, 12, 42, -1])
    tf_idf = L(output_mode="tf_idf", vocabulary=[-1, *VOCAB],
               idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    config = tf_idf.get_config()
    assert config["vocabulary"] == [-1, *VOCAB]
    np.testing.assert_allclose(config["idf_weights"], [0.9, 0.25, 0.75, 0.6, 0.4], rtol=1e-6)
    data = np.array([[7, 12, 12]])
    np.testing.assert_allclose(L.from_config(config)(data), tf_idf(data))
    assert L.from_config(L(output_mode="tf_idf").get_config()).get_vocabulary() == [-1]


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="invert=True needs output_mode='int'"):
        L(invert=True, output_mode="count")
    with pytest.raises(ValueError, match="idf_weights needs output_mode='tf_idf'"):
        L(vocabulary=VOCAB, idf_weights=[1.0] * 4)
    with pytest.raises(ValueError, match="needs idf_weights too"):
        L(vocabulary=VOCAB, output_mode="tf_idf")
    with pytest.raises(ValueError, match="pad_to_max_tokens=True needs max_tokens"):
        L(pad_to_max_tokens=True, output_mode="count")
    with pytest.raises(ValueError, match="one weight per vocabulary entry"):
        L(vocabulary=VOCAB, output_mode="tf_idf", idf_weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="sparse=True needs an encoded output_mode"):
        L(sparse=True)
    # inverting, the OOV token past the start would name two indices (Keras 2 refuses)
    with pytest.raises(ValueError, match="reserved tokens"):
        L(vocabulary=[12, -1], invert=True)
    layer = L(vocabulary=VOCAB, output_mode="tf_idf", idf_weights=[1.0] * 4)
    with pytest.raises(ValueError, match="idf_weights go with"):
        layer.set_vocabulary([5, 6])
    np.testing.assert_allclose(layer(np.array([[12]])), [[0, 1, 0, 0, 0]])  # unchanged
    with pytest.raises(ValueError, match="inputs must be integers"):
        L(vocabulary=VOCAB, invert=True)(np.array([1.0]))
