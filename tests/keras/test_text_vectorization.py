"""TextVectorization (host-side) against Python oracles: str methods and string.punctuation
for standardize and split, a Counter vocabulary, hand-built padded ids, n-grams and
multi-hot/count/tf-idf vectors with Keras 2's idf log(1 + N / (1 + df))."""

import itertools
import math
import string
from collections import Counter

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow.keras import layers

TEXTS = ["The cat sat on the mat.", "  The DOG ate my homework!!  ",
         "A cat, a dog; and (a) bird?", "it's the cat's toy\tnow", "bird\nbird   bird"]


def _standardize(text):
    return text.lower().translate(str.maketrans("", "", string.punctuation))


def _ranked(tokens, limit=None):
    counts = Counter(tokens)
    return sorted(counts, key=lambda t: (counts[t], t), reverse=True)[:limit]


def test_adapt_and_int_output_match_python_standardize_split_and_counter():
    layer = layers.TextVectorization(max_tokens=12, output_sequence_length=6)
    layer.adapt(TEXTS)
    docs = [_standardize(t).split() for t in TEXTS]
    vocab = ["", "[UNK]", *_ranked([w for d in docs for w in d], 10)]
    assert layer.get_vocabulary() == vocab
    assert layer.vocabulary_size() == 12
    index = {w: i for i, w in enumerate(vocab)}
    ids = layer(np.array(TEXTS))
    want = [([index.get(w, 1) for w in d] + [0] * 6)[:6] for d in docs]
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, want)
    # without output_sequence_length: padded to the longest text of the batch
    free = layers.TextVectorization(vocabulary=vocab[2:])
    out = free(np.array([["cat dog"], ["the cat sat on"]]))  # (batch, 1) is squeezed
    np.testing.assert_array_equal(out, [[index["cat"], index["dog"], 0, 0],
                                        [index[w] for w in ["the", "cat", "sat", "on"]]])
    np.testing.assert_array_equal(free("the bird"), [index["the"], index["bird"]])


def test_lowercasing_is_ascii_only_as_tf_strings_lower():
    layer = layers.TextVectorization(standardize="lower", split=None, output_mode=None)
    assert layer(["ÉCOLE École ABC"]).tolist() == ["École École abc"]  # É stays


def test_standardize_and_split_options():
    strip = layers.TextVectorization(standardize="strip_punctuation", output_mode=None)
    assert strip(["Hi, There!"]).tolist() == [["Hi", "There"]]
    chars = layers.TextVectorization(split="character", output_mode=None,
                                     standardize=None)
    assert chars(["ab", "ç"]).tolist() == [["a", "b"], ["ç", ""]]
    whole = layers.TextVectorization(split=None, vocabulary=["red apple", "pear"])
    np.testing.assert_array_equal(whole([["Red apple"], ["kiwi"]]), [[2], [1]])

    def no_html(texts):  # a callable standardize gets and returns the NumPy str array
        return np.char.replace(np.char.lower(texts), "<br />", " ")

    def on_commas(texts):  # a callable split returns one token list per text
        return [t.split(",") for t in texts]

    custom = layers.TextVectorization(standardize=no_html, split=on_commas,
                                      vocabulary=["a b", "c"])
    np.testing.assert_array_equal(custom(["A<br />B,C", "c"]), [[2, 3], [3, 0]])


def test_ngrams_match_hand_built_ngrams():
    layer = layers.TextVectorization(ngrams=3, output_mode=None)
    tokens = ["to", "be", "or", "not"]
    want = tokens + [" ".join(p) for p in itertools.pairwise(tokens)] + \
        [" ".join(p) for p in zip(tokens, tokens[1:], tokens[2:], strict=False)]
    assert layer(["To be, or not"]).tolist() == [want]
    pairs = layers.TextVectorization(ngrams=(2,), output_mode=None)
    assert pairs("a b c").tolist() == ["a b", "b c"]


def test_multi_hot_count_and_tf_idf_match_hand_built_vectors():
    docs = [_standardize(t).split() for t in TEXTS]
    tokens = _ranked([w for d in docs for w in d])
    query = ["the cat the", "zebra cat"]
    qdocs = [q.split() for q in query]
    counts = np.zeros((2, len(tokens) + 1), np.float32)
    for r, d in enumerate(qdocs):
        for w in d:
            counts[r, tokens.index(w) + 1 if w in tokens else 0] += 1
    for mode, want in [("count", counts), ("multi_hot", np.minimum(counts, 1))]:
        layer = layers.TextVectorization(output_mode=mode)
        layer.adapt(xf.data.Dataset.from_tensor_slices(TEXTS).batch(2))
        assert layer.get_vocabulary() == ["[UNK]", *tokens]
        np.testing.assert_array_equal(layer(query), want)
    idf = [math.log(1 + len(docs) / (1 + sum(w in d for d in docs))) for w in tokens]
    idf = np.array([np.mean(idf), *idf], np.float32)
    tf_idf = layers.TextVectorization(output_mode="tf_idf")
    tf_idf.adapt(TEXTS)
    np.testing.assert_allclose(tf_idf(query), counts * idf, rtol=1e-6)
    padded = layers.TextVectorization(output_mode="multi_hot", max_tokens=40,
                                      pad_to_max_tokens=True, vocabulary=tokens)
    assert padded(query).shape == (2, 40)


def test_config_round_trip():
    def upper(texts):
        return np.char.upper(texts)

    layer = layers.TextVectorization(max_tokens=8, ngrams=2, output_sequence_length=5,
                                     standardize=upper)
    layer.adapt(TEXTS)
    clone = layers.TextVectorization.from_config(layer.get_config())
    assert clone.get_vocabulary() == layer.get_vocabulary()
    np.testing.assert_array_equal(clone(TEXTS), layer(TEXTS))
    tf_idf = layers.TextVectorization(output_mode="tf_idf")
    tf_idf.adapt(TEXTS)
    clone = layers.TextVectorization.from_config(tf_idf.get_config())
    np.testing.assert_allclose(clone(TEXTS), tf_idf(TEXTS))


def test_traced_inputs_are_refused_and_dataset_map_works():
    layer = layers.TextVectorization(vocabulary=["a", "b"], output_sequence_length=3)
    with pytest.raises(TypeError, match=r"TextVectorization: strings cannot be traced.*"
                                        r"dataset.map"):
        xf.function(lambda x: layer(x))(np.array([[1, 2]]))
    ds = xf.data.Dataset.from_tensor_slices((np.array(["a b", "b z a c"]), np.array([0, 1])))
    one = [x.tolist() for x, _ in ds.map(lambda x, y: (layer(x), y))]
    assert one == [[2, 3, 0], [3, 1, 2]]
    (batch, labels), = list(ds.batch(2).map(lambda x, y: (layer(x), y)))
    np.testing.assert_array_equal(batch, one)
    np.testing.assert_array_equal(labels, [0, 1])


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="standardize must be"):
        layers.TextVectorization(standardize="upper")
    with pytest.raises(ValueError, match="split must be"):
        layers.TextVectorization(split="comma")
    with pytest.raises(ValueError, match="output_sequence_length needs output_mode='int'"):
        layers.TextVectorization(output_mode="count", output_sequence_length=3)
    with pytest.raises(ValueError, match="ngrams must be"):
        layers.TextVectorization(ngrams=0)
    with pytest.raises(ValueError, match="ragged=True needs output_mode='int'.*'count'"):
        layers.TextVectorization(ragged=True, output_mode="count")
    with pytest.raises(ValueError, match="output_sequence_length must not be set"):
        layers.TextVectorization(ragged=True, output_sequence_length=3)
    with pytest.raises(ValueError, match="last axis of size 1"):
        layers.TextVectorization()(np.array([["a", "b"]]))


def test_sequential_export_model_runs_the_vectorizer_on_the_host():
    vectorize = layers.TextVectorization(max_tokens=10, output_sequence_length=4)
    vectorize.adapt(TEXTS)
    model = keras.Sequential([layers.Embedding(10, 3), layers.GlobalAveragePooling1D(),
                              layers.Dense(1)])
    ids = vectorize(np.array(TEXTS))
    labels = np.array([0, 1, 0, 1, 0])
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(ids, labels, epochs=1, verbose=0)
    export = keras.Sequential([vectorize, model, layers.Activation("sigmoid")])
    export.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(),
                   metrics=["accuracy"])
    want = 1 / (1 + np.exp(-model.predict(ids, verbose=0)))
    np.testing.assert_allclose(export.predict(TEXTS, verbose=0), want, rtol=1e-5)
    np.testing.assert_allclose(export(np.array(TEXTS)), want, rtol=1e-5)
    ds = xf.data.Dataset.from_tensor_slices((np.array(TEXTS), labels)).batch(2)
    loss = export.evaluate(ds, verbose=0, return_dict=True)["loss"]
    bce = -np.mean(labels * np.log(want[:, 0]) + (1 - labels) * np.log(1 - want[:, 0]))
    assert loss == pytest.approx(bce, rel=1e-4)
    # fit runs the vectorizer on each batch (and on validation_data) before the compiled step
    history = export.fit(np.array(TEXTS), labels, validation_data=(TEXTS, labels), epochs=2,
                         batch_size=2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert export.evaluate(ds, verbose=0, return_dict=True)["loss"] != pytest.approx(loss)
    predicted = export.predict((x for x in [np.array(TEXTS[:2]), np.array(TEXTS[2:])]),
                               verbose=0)
    np.testing.assert_allclose(predicted, export.predict(TEXTS, verbose=0), rtol=1e-5)
    with pytest.raises(NotImplementedError, match="leading host-side layers"):
        export.predict(keras.utils.Sequence(), verbose=0)
