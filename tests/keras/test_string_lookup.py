"""StringLookup (host-side) against Python oracles: a collections.Counter vocabulary ranked
as Keras 2 documents it (by count, ties by the larger string), dict lookups, and one-hot,
multi-hot, count and tf-idf vectors built by hand."""

import math
from collections import Counter

import jax
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras

WORDS = ["apple", "pear", "fig", "kiwi", "plum", "lime", "date", "yuzu"]


def _ranked(tokens, limit=None):
    counts = Counter(tokens)
    # ties by the larger string first: sort by (count, string) and reverse, as np.lexsort
    return sorted(counts, key=lambda t: (counts[t], t), reverse=True)[:limit]


def test_adapt_ranks_by_count_ties_by_larger_string_and_looks_up_like_a_dict():
    rng = np.random.default_rng(0)
    data = rng.choice(WORDS, size=(200, 3))
    layer = keras.layers.StringLookup(max_tokens=6)
    layer.adapt(xf.data.Dataset.from_tensor_slices(data).batch(64))
    want = _ranked(data.reshape(-1).tolist(), 5)
    assert layer.get_vocabulary() == ["[UNK]", *want]
    assert layer.get_vocabulary(include_special_tokens=False) == want
    assert layer.vocabulary_size() == 6
    table = {w: i + 1 for i, w in enumerate(want)}
    queries = np.array([["fig", "nope", "yuzu"], ["apple", "plum", ""]])
    ids = layer(queries)
    assert ids.dtype == np.int64 and ids.shape == (2, 3)
    np.testing.assert_array_equal(ids, [[table.get(q, 0) for q in row] for row in queries])
    # bytes, lists and scalars are strings too
    np.testing.assert_array_equal(layer(np.char.encode(queries)), ids)
    np.testing.assert_array_equal(layer(queries.tolist()), ids)
    assert int(layer(b"fig")) == table.get("fig", 0) and layer("fig").shape == ()


def test_ties_at_the_cut_keep_the_larger_strings():
    layer = keras.layers.StringLookup(max_tokens=3)
    layer.adapt(np.array(["b", "a", "c", "c", "d"]))
    assert layer.get_vocabulary() == ["[UNK]", "c", "d"]  # a, b, d tie: d is the largest


def test_given_vocabulary_mask_token_and_invert():
    layer = keras.layers.StringLookup(vocabulary=["a", "b", "c"], mask_token="")
    assert layer.get_vocabulary() == ["", "[UNK]", "a", "b", "c"]
    np.testing.assert_array_equal(layer([["c", "", "z"]]), [[4, 0, 1]])
    # the special tokens may lead the given vocabulary
    same = keras.layers.StringLookup(vocabulary=["", "[UNK]", "a", "b", "c"], mask_token="")
    assert same.get_vocabulary() == layer.get_vocabulary()
    inverse = keras.layers.StringLookup(vocabulary=["a", "b", "c"], mask_token="",
                                        invert=True)
    tokens = inverse(np.array([[4, 0, 1, 2, 9]]))
    assert tokens.tolist() == [["c", "", "[UNK]", "a", "[UNK]"]]
    np.testing.assert_array_equal(layer(tokens[:, :4]), [[4, 0, 1, 2]])
    strict = keras.layers.StringLookup(vocabulary=["a"], num_oov_indices=0)
    assert strict.get_vocabulary() == ["a"]
    np.testing.assert_array_equal(strict(["a", "a"]), [0, 0])
    with pytest.raises(ValueError, match=r"num_oov_indices=0.*\['zz'\]"):
        strict(["a", "zz"])


def test_vocabulary_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("x\ny\nz\n", encoding="utf-8")
    layer = keras.layers.StringLookup(vocabulary=str(path))
    assert layer.get_vocabulary() == ["[UNK]", "x", "y", "z"]


def test_encoded_output_modes_match_hand_built_vectors():
    vocab = ["a", "b", "c"]
    x = np.array([["a", "c", "c", "q"], ["b", "b", "", "a"]])
    index = {w: i + 1 for i, w in enumerate(vocab)}
    counts = np.zeros((2, 4), np.float32)
    for r, row in enumerate(x):
        for t in row:
            if t != "":  # the mask token is dropped outside int mode
                counts[r, index.get(t, 0)] += 1
    for mode, want in [("count", counts), ("multi_hot", np.minimum(counts, 1))]:
        layer = keras.layers.StringLookup(vocabulary=vocab, mask_token="", output_mode=mode)
        assert layer.get_vocabulary() == ["[UNK]", *vocab]  # no mask index here
        out = layer(x)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, want)
    one_hot = keras.layers.StringLookup(vocabulary=vocab, output_mode="one_hot")
    np.testing.assert_array_equal(one_hot(["c", "zz"]), np.eye(4)[[3, 0]])
    np.testing.assert_array_equal(one_hot([["c"], ["a"]]), np.eye(4)[[3, 1]])
    padded = keras.layers.StringLookup(vocabulary=vocab, output_mode="multi_hot",
                                       max_tokens=6, pad_to_max_tokens=True)
    np.testing.assert_array_equal(padded([["a", "b"]]), [[0, 1, 1, 0, 0, 0]])


def test_tf_idf_weights_follow_keras_formula():
    docs = [["a", "b", "a"], ["a", "c", "c"], ["b", "b", "d"]]
    layer = keras.layers.StringLookup(output_mode="tf_idf")
    layer.adapt(np.array(docs))  # each row is one document
    tokens = _ranked([t for d in docs for t in d])
    assert layer.get_vocabulary() == ["[UNK]", *tokens]
    df = {t: sum(t in d for d in docs) for t in tokens}
    idf = [math.log(1 + len(docs) / (1 + df[t])) for t in tokens]
    idf = [sum(idf) / len(idf), *idf]  # OOV: the mean weight
    query = ["a", "a", "d", "zz"]
    tf = Counter({tokens.index(t) + 1 if t in tokens else 0: 0 for t in query})
    tf.update(tokens.index(t) + 1 if t in tokens else 0 for t in query)
    want = np.array([tf[i] * idf[i] for i in range(len(idf))], np.float32)
    np.testing.assert_allclose(layer(query), want, rtol=1e-6)
    given = keras.layers.StringLookup(vocabulary=tokens, idf_weights=idf[1:],
                                      output_mode="tf_idf")
    np.testing.assert_allclose(given(query), want, rtol=1e-6)


def test_config_round_trip_keeps_the_learned_vocabulary_and_weights():
    layer = keras.layers.StringLookup(output_mode="tf_idf", mask_token="[M]", max_tokens=5)
    layer.adapt([["x", "y", "x"], ["z", "x", "[M]"]])
    clone = keras.layers.StringLookup.from_config(layer.get_config())
    assert clone.get_vocabulary() == layer.get_vocabulary()
    query = [["x", "z", "w"]]
    np.testing.assert_allclose(clone(query), layer(query))
    inverse = keras.layers.StringLookup(vocabulary=["p", "q"], invert=True)
    assert keras.layers.StringLookup.from_config(inverse.get_config())([2]).tolist() == ["q"]


def test_traced_inputs_are_refused_naming_the_dataset_map():
    layer = keras.layers.StringLookup(vocabulary=["a"])
    with pytest.raises(TypeError, match=r"strings cannot be traced.*dataset.map"):
        xf.function(lambda ids: layer(ids))(np.array([1, 2]))
    with pytest.raises(TypeError, match="strings cannot be traced"):
        jax.jit(lambda ids: layer(ids))(np.array([1, 2]))
    with pytest.raises(TypeError, match="must be strings"):
        layer(np.array([1.5]))


def test_dataset_map_per_element_and_per_batch():
    layer = keras.layers.StringLookup(vocabulary=["a", "b"])
    ds = xf.data.Dataset.from_tensor_slices((np.array(["b", "z", "a"]), np.array([1, 0, 1])))
    assert [(int(i), int(y)) for i, y in ds.map(lambda x, y: (layer(x), y))] == \
        [(2, 1), (0, 0), (1, 1)]
    batches = list(ds.batch(2).map(lambda x, y: (layer(x), y)))
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), [2, 0, 1])


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="repeated tokens: \\['a'\\]"):
        keras.layers.StringLookup(vocabulary=["a", "b", "a"])
    with pytest.raises(ValueError, match="reserved token"):
        keras.layers.StringLookup(vocabulary=["a", ""], mask_token="")
    with pytest.raises(ValueError, match="exceeds max_tokens=3"):
        keras.layers.StringLookup(vocabulary=["a", "b", "c"], max_tokens=3)
    with pytest.raises(ValueError, match="output_mode must be one of"):
        keras.layers.StringLookup(output_mode="hashed")
    with pytest.raises(ValueError, match="needs idf_weights"):
        keras.layers.StringLookup(vocabulary=["a"], output_mode="tf_idf")
    with pytest.raises(ValueError, match="invert=True needs output_mode='int'"):
        keras.layers.StringLookup(invert=True, output_mode="count")
    with pytest.raises(ValueError, match="num_oov_indices must be an int >= 0"):
        keras.layers.StringLookup(num_oov_indices=-1)
    with pytest.raises(ValueError, match="cannot adapt a layer constructed with"):
        keras.layers.StringLookup(vocabulary=["a"]).adapt(["b"])
    layer = keras.layers.StringLookup()
    with pytest.raises(TypeError, match="yield strings only"):
        layer.adapt(xf.data.Dataset.from_tensor_slices((np.array(["a"]), np.array([1]))))
    assert layer.get_vocabulary() == ["[UNK]"]
