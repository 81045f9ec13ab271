"""keras.layers.Hashing against TF's documented examples, SipHash-2-4's published test
vectors, and xf.strings.to_hash_bucket_fast (FarmHash Fingerprint64, itself checked against
FarmHash's vectors) as the oracle for other inputs; in models and Dataset.map. Also the
lookups' several OOV indices (StringLookup hashes an unknown string, IntegerLookup takes an
unknown value mod their number), which share the hash."""

import jax
import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow._siphash import siphash24

layers = keras.layers
LETTERS = [["A"], ["B"], ["C"], ["D"], ["E"]]


def _bucket(strings, bins):
    return np.asarray(xf.strings.to_hash_bucket_fast(np.asarray(strings), bins))


def test_tf_documented_examples():
    # tf.keras.layers.Hashing's docstring (Keras 2.7-2.12), FarmHash64 and SipHash64
    np.testing.assert_array_equal(layers.Hashing(num_bins=3)(LETTERS), [[1], [0], [1], [1], [2]])
    masked = layers.Hashing(num_bins=3, mask_value="")([["A"], ["B"], [""], ["C"], ["D"]])
    np.testing.assert_array_equal(masked, [[1], [1], [0], [2], [2]])
    salted = layers.Hashing(num_bins=3, salt=[133, 137])(LETTERS)
    np.testing.assert_array_equal(salted, [[1], [2], [1], [0], [2]])
    np.testing.assert_array_equal(layers.Hashing(num_bins=3, salt=133)(LETTERS),
                                  [[0], [0], [2], [1], [0]])
    assert layers.Hashing(num_bins=3)(LETTERS).dtype == np.int64


def test_siphash24_matches_the_reference_vectors():
    # veorq/SipHash vectors.h: key 00..0f, message 00..(n-1), SipHash-2-4, 64-bit output
    # (n = 0, 1, 7, 8, 15, 16, 63: the empty, partial-word and whole-word tails)
    expected = {0: 0x726FDB47DD0E0E31, 1: 0x74F839C593DC67FD, 7: 0xAB0200F58B01D137,
                8: 0x93F5F5799A932462, 15: 0xA129CA6149BE45E5, 16: 0x3F2ACC7F57C29BDB,
                63: 0x958A324CEB064572}
    key0 = int.from_bytes(bytes(range(8)), "little")
    key1 = int.from_bytes(bytes(range(8, 16)), "little")
    for n, want in expected.items():
        assert siphash24(key0, key1, bytes(range(n))) == want, n


def test_strings_and_integers_hash_as_to_hash_bucket_fast():
    rng = np.random.default_rng(0)
    words = np.array(["", "a", "ab", "abcd", "abcdefgh", "日本語", "x" * 17, "y" * 40,
                      "long " * 30, *[f"w{i}" for i in rng.integers(0, 10**6, 20)]])
    for bins in (1, 2, 7, 1000):
        np.testing.assert_array_equal(layers.Hashing(bins)(words), _bucket(words, bins))
    as_bytes = np.char.encode(words, "utf-8")
    np.testing.assert_array_equal(layers.Hashing(9)(as_bytes), _bucket(words, 9))
    # integers hash as their decimal strings (Keras 2: tf.as_string first)
    ints = np.array([[0, 7, -3], [2**63 - 1, -2**63, 123456789]], np.int64)
    np.testing.assert_array_equal(layers.Hashing(11)(ints),
                                  _bucket([[str(v) for v in row] for row in ints.tolist()], 11))
    small = np.array([5, 17, 5], np.int32)
    np.testing.assert_array_equal(layers.Hashing(4)(small), _bucket(["5", "17", "5"], 4))
    np.testing.assert_array_equal(layers.Hashing(4)(xf.constant(small)), layers.Hashing(4)(small))


def test_mask_value_takes_bin_zero_and_the_rest_shift_by_one():
    words = np.array([["a", "[PAD]", "b"], ["c", "d", "[PAD]"]])
    got = layers.Hashing(6, mask_value="[PAD]")(words)
    want = np.where(words == "[PAD]", 0, _bucket(words, 5) + 1)
    np.testing.assert_array_equal(got, want)
    ints = np.array([3, 0, 8, 0])
    np.testing.assert_array_equal(layers.Hashing(4, mask_value=0)(ints),
                                  np.where(ints == 0, 0, _bucket(["3", "0", "8", "0"], 3) + 1))
    # Keras 2 keeps a mask bin only when another is left: num_bins=1 hashes all to 0
    np.testing.assert_array_equal(layers.Hashing(1, mask_value="a")(["a", "b"]), [0, 0])


def test_salted_hash_is_siphash_under_the_two_words():
    words = ["alpha", "beta", "", "gamma" * 5]
    want = [siphash24(2**64 - 1, 42, w.encode()) % 13 for w in words]
    np.testing.assert_array_equal(layers.Hashing(13, salt=(2**64 - 1, 42))(words), want)
    masked = layers.Hashing(13, salt=7, mask_value="beta")(words)
    np.testing.assert_array_equal(
        masked, [0 if w == "beta" else siphash24(7, 7, w.encode()) % 12 + 1 for w in words])


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
def test_encoded_output_modes_match_category_encoding_of_the_bins(mode):
    words = np.array([["a", "b", "a"], ["c", "a", "d"]])
    ids = layers.Hashing(5)(words)
    got = layers.Hashing(5, output_mode=mode)(words)
    np.testing.assert_array_equal(got, layers.CategoryEncoding(5, mode)(ids))
    assert got.dtype == np.float32
    column = np.array([["a"], ["b"]])
    np.testing.assert_array_equal(layers.Hashing(5, output_mode="one_hot")(column),
                                  np.eye(5)[_bucket(column[:, 0], 5)])
    assert layers.Hashing(5, output_mode=mode).compute_output_shape((None, 3)) == \
        ((None, 3, 5) if mode == "one_hot" else (None, 5))


def test_config_round_trip():
    layer = layers.Hashing(7, mask_value="", salt=5, output_mode="multi_hot", name="h")
    config = layer.get_config()
    assert {k: config[k] for k in ("num_bins", "mask_value", "salt", "output_mode",
                                   "sparse")} == {"num_bins": 7, "mask_value": "",
                                                  "salt": [5, 5], "output_mode": "multi_hot",
                                                  "sparse": False}
    clone = layers.Hashing.from_config(config)
    query = [["x", "", "y"]]
    np.testing.assert_array_equal(clone(query), layer(query))
    assert clone.get_config() == config


def _head():
    return [layers.Embedding(8, 3), layers.Flatten(), layers.Dense(1)]


def _predict_head(model, ids):
    x = np.asarray(ids)
    for layer in model.layers[-3:]:
        x = layer(x)
    return np.asarray(x)


X_TEXT = np.array([["red"], ["green"], ["blue"], ["red"], ["teal"], ["green"]])
X_INTS = np.array([[3], [14], [15], [3], [92], [14]])
Y = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0], np.float32)


@pytest.mark.parametrize("kind", ["sequential", "sequential_int_input", "functional",
                                  "functional_int"])
def test_fit_and_predict_run_the_hashing_on_the_host(kind):
    xf.random.set_seed(0)
    x = X_INTS if "int" in kind else X_TEXT
    hashing = layers.Hashing(8)
    if kind.startswith("sequential"):
        front = [keras.Input(shape=(1,), dtype="int64")] if kind.endswith("input") else []
        model = keras.Sequential([*front, hashing, *_head()])
    else:
        inputs = keras.Input(shape=(1,), dtype="string" if x is X_TEXT else "int64")
        out = hashing(inputs)
        for layer in _head():
            out = layer(out)
        model = keras.Model(inputs, out)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    history = model.fit(x, Y, epochs=8, batch_size=6, shuffle=False, verbose=0)  # full batch
    assert history.history["loss"][-1] < history.history["loss"][0]
    # the compiled part saw the bins: the head on hashing's output predicts the same
    np.testing.assert_allclose(model.predict(x, verbose=0), _predict_head(model, hashing(x)),
                               rtol=1e-5)


def test_dataset_map_and_traced_inputs():
    layer = layers.Hashing(5)
    ds = xf.data.Dataset.from_tensor_slices((X_TEXT[:, 0], Y))
    assert [int(b) for b, _ in ds.map(lambda x, y: (layer(x), y))] == \
        _bucket(X_TEXT[:, 0], 5).tolist()
    ints = xf.data.Dataset.from_tensor_slices(X_INTS[:, 0]).batch(4).map(layer)
    np.testing.assert_array_equal(np.concatenate([np.asarray(b) for b in ints]),
                                  _bucket([str(v) for v in X_INTS[:, 0]], 5))
    # integers hash as strings on the host too: a traced integer input is refused
    with pytest.raises(TypeError, match=r"Hashing: it hashes on the host.*dataset.map"):
        xf.function(lambda ids: layer(ids))(np.array([1, 2]))
    with pytest.raises(TypeError, match="cannot be traced"):
        jax.jit(lambda ids: layer(ids))(np.array([1, 2]))


def test_bad_arguments_are_refused_by_name():
    for bins in (0, -2, None, 2.5, True):
        with pytest.raises(ValueError, match="num_bins must be a positive int"):
            layers.Hashing(bins)
    for salt in ("a", [1], [1, 2, 3], -1, [1, 2**64], 1.5):
        with pytest.raises(ValueError, match="salt must be None"):
            layers.Hashing(3, salt=salt)
    with pytest.raises(ValueError, match="output_mode must be one of"):
        layers.Hashing(3, output_mode="tf_idf")
    with pytest.raises(ValueError, match="mask_value must be None, a string or an int"):
        layers.Hashing(3, mask_value=1.5)
    with pytest.raises(ValueError, match="sparse=True needs an encoded output_mode"):
        layers.Hashing(3, sparse=True)
    with pytest.raises(TypeError, match="inputs must be strings or integers; received dtype "
                                        "float32"):
        layers.Hashing(3)(np.array([1.5], np.float32))
    with pytest.raises(TypeError, match="integer inputs need an integer mask_value"):
        layers.Hashing(3, mask_value="")(np.array([1, 2]))
    with pytest.raises(TypeError, match="string inputs need a string mask_value"):
        layers.Hashing(3, mask_value=0)(["a"])
    with pytest.raises(TypeError, match="takes strings or integers"):
        layers.Hashing(3)(keras.Input(shape=(1,)))


def test_saved_model_rebuilds_the_hashing_and_predicts_the_same(tmp_path):
    inputs = keras.Input(shape=(1,), dtype="int64")
    model = keras.Model(inputs, layers.Dense(1)(layers.Hashing(
        6, salt=[1, 2], mask_value=0, output_mode="one_hot")(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X_INTS, Y, epochs=1, verbose=0)
    model.save(tmp_path / "m")
    loaded = keras.models.load_model(tmp_path / "m")
    assert isinstance(loaded.layers[1], layers.Hashing)
    assert loaded.layers[1].get_config() == model.layers[1].get_config()
    np.testing.assert_allclose(loaded.predict(X_INTS, verbose=0),
                               model.predict(X_INTS, verbose=0), rtol=1e-6)


# -- StringLookup / IntegerLookup with several OOV indices ----------------------------------
def test_lookups_with_two_oov_indices_match_the_keras_documented_examples():
    # Keras 2's StringLookup docstring: "m" goes to OOV index 0, "z" to 1 (FarmHash)
    strings = layers.StringLookup(vocabulary=["a", "b", "c", "d"], num_oov_indices=2)
    np.testing.assert_array_equal(strings([["a", "c", "d"], ["m", "z", "b"]]),
                                  [[2, 4, 5], [0, 1, 3]])
    assert strings.get_vocabulary() == ["[UNK]", "[UNK]", "a", "b", "c", "d"]
    # and IntegerLookup's: 37 goes to 1, 1000 to 0 (the value mod num_oov_indices)
    integers = layers.IntegerLookup(vocabulary=[12, 36, 1138, 42], num_oov_indices=2)
    np.testing.assert_array_equal(integers(np.array([[12, 1138, 42], [37, 1000, 36]])),
                                  [[2, 4, 5], [1, 0, 3]])
    assert integers.get_vocabulary() == [-1, -1, 12, 36, 1138, 42]


def test_string_oov_tokens_hash_into_the_oov_block():
    layer = layers.StringLookup(vocabulary=["x", "y"], num_oov_indices=5, mask_token="")
    words = np.array([["x", "", "q", "r"], ["long unknown " * 9, "y", "q", "日本"]])
    known = {"": 0, "x": 6, "y": 7}
    want = np.where(np.isin(words, list(known)), np.vectorize(lambda w: known.get(w, -1))(
        words), 1 + _bucket(words, 5))
    np.testing.assert_array_equal(layer(words), want)
    counts = layers.StringLookup(vocabulary=["x"], num_oov_indices=3, output_mode="count")
    row = ["x", "p", "q", "r", "s"]
    want = np.bincount(np.r_[3, _bucket(row[1:], 3)], minlength=4).astype(np.float32)
    np.testing.assert_array_equal(counts([row]), [want])
    clone = layers.StringLookup.from_config(layer.get_config())
    assert clone.num_oov_indices == 5
    np.testing.assert_array_equal(clone(words), layer(words))
    inverse = layers.StringLookup(vocabulary=["x"], num_oov_indices=2, invert=True)
    assert inverse([0, 1, 2, 7]).tolist() == ["[UNK]", "[UNK]", "x", "[UNK]"]


def test_integer_oov_values_take_their_floor_mod_inside_compiled_code():
    layer = layers.IntegerLookup(vocabulary=[4, 9], num_oov_indices=3, mask_token=0)
    values = np.array([[4, 0, 10, -7], [9, 11, 12, -1]])
    want = np.where(values == 4, 4, np.where(values == 9, 5, np.where(
        values == 0, 0, 1 + np.mod(values, 3))))
    np.testing.assert_array_equal(layer(values), want)
    np.testing.assert_array_equal(xf.function(lambda v: layer(v))(values), want)
    clone = layers.IntegerLookup.from_config(layer.get_config())
    np.testing.assert_array_equal(clone(values), want)
    with pytest.raises(ValueError, match="max_tokens must be None or an int counting"):
        layers.IntegerLookup(num_oov_indices=3, max_tokens=3)
