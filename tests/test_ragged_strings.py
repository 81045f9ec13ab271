"""xf.strings' ragged results and element-wise ops on RaggedTensors, against Python's own
str/bytes methods (the oracle); TextVectorization(ragged=True) and the lookups on rows.

TF runs text ops inside tf.function too; xlaflow keeps text on the host: a traced text
argument is refused, text known when tracing is worked on then (its results are constants).
"""

import re

import numpy as np
import pytest

import xlaflow as xf
from xlaflow import keras
from xlaflow.errors import InvalidArgumentError

S = xf.strings
TEXTS = ["Hello wörld", "", "  アヒル 🦆  ", "a\tb\nc", "x"]


def as_bytes(rows):
    return [[p.encode() if isinstance(p, str) else p for p in row] for row in rows]


def test_split_gives_ragged_rows_as_python_split():
    rt = S.split(TEXTS)
    assert isinstance(rt, xf.RaggedTensor) and rt.ragged_rank == 1
    assert rt.shape.as_list() == [5, None] and rt.dtype == xf.string
    assert rt.to_list() == [t.encode().split() for t in TEXTS]  # empty rows: "" and "  "
    assert rt.row_splits.tolist() == [0, 2, 2, 4, 7, 8]
    rows = ["a,b,,c", "", ",", "d"]
    assert S.split(rows, sep=",").to_list() == [r.encode().split(b",") for r in rows]
    assert S.split(rows, sep=",", maxsplit=1).to_list() == \
        [r.encode().split(b",", 1) for r in rows]
    assert S.split("a b").numpy().tolist() == [b"a", b"b"]  # a scalar stays 1-D dense
    assert S.split([]).to_list() == []


def test_split_of_nd_and_ragged_inputs_adds_a_ragged_dimension():
    grid = [["a b", ""], ["c", "d e f"]]
    rt = S.split(grid)
    # TF splits RaggedTensor.from_tensor(grid): a uniform row length keeps the dim known
    assert rt.ragged_rank == 2 and rt.shape.as_list() == [2, 2, None]
    assert rt.to_list() == [[t.encode().split() for t in row] for row in grid]
    rows = xf.ragged.constant([["a b", "c"], [], ["d e f"]])
    deeper = S.split(rows)
    assert deeper.ragged_rank == 2
    assert deeper.to_list() == [[b"a b".split(), [b"c"]], [], [b"d e f".split()]]
    int32 = xf.RaggedTensor.from_row_splits(np.array(["a b", "c"]), np.array([0, 1, 2],
                                                                                  np.int32))
    assert S.split(int32).row_splits_dtype == np.int32  # TF keeps the splits dtype


def test_bytes_split_and_unicode_split_are_pythons_bytes_and_chars():
    assert S.bytes_split(TEXTS).to_list() == \
        [[bytes([b]) for b in t.encode()] for t in TEXTS]
    assert S.unicode_split(TEXTS, "UTF-8").to_list() == as_bytes([list(t) for t in TEXTS])
    utf16 = [t.encode("utf-16-be") for t in TEXTS]
    assert S.unicode_split(utf16, "UTF-16-BE").to_list() == \
        [[c.encode("utf-16-be") for c in t] for t in TEXTS]


def test_unicode_decode_gives_code_points_and_byte_offsets():
    points = S.unicode_decode(TEXTS, "UTF-8")
    assert points.flat_values.dtype == np.int32
    assert points.to_list() == [[ord(c) for c in t] for t in TEXTS]
    codes, starts = S.unicode_decode_with_offsets(TEXTS, "UTF-8")
    assert codes.to_list() == points.to_list()
    expected = [[len(t[:i].encode()) for i in range(len(t))] for t in TEXTS]
    assert starts.to_list() == expected and starts.flat_values.dtype == np.int64
    chars, char_starts = S.unicode_split_with_offsets(TEXTS, "UTF-8")
    assert chars.to_list() == as_bytes([list(t) for t in TEXTS])
    assert char_starts.to_list() == expected
    utf32 = [t.encode("utf-32-be") for t in TEXTS]
    assert S.unicode_decode(utf32, "UTF-32-BE").to_list() == points.to_list()
    scalar = S.unicode_decode("añ🦆", "UTF-8")  # a scalar: the dense row
    assert scalar.tolist() == [ord(c) for c in "añ🦆"]


def test_unicode_decode_malformed_text_and_control_characters():
    bad = [b"a\xffb", b"\xe2\x82", b"ok"]
    assert S.unicode_decode(bad, "UTF-8").to_list() == [[97, 0xFFFD, 98], [0xFFFD] * 2,
                                                         [111, 107]]
    assert S.unicode_decode(bad, "UTF-8", errors="ignore").to_list() == \
        [[97, 98], [], [111, 107]]
    assert S.unicode_decode(bad, "UTF-8", replacement_char=ord("?")).to_list()[0] == \
        [97, 63, 98]
    _, starts = S.unicode_decode_with_offsets(bad, "UTF-8")
    assert starts.to_list() == [[0, 1, 2], [0, 1], [0, 1]]
    with pytest.raises(InvalidArgumentError, match=r"unicode_decode: invalid UTF-8"):
        S.unicode_decode(bad, "UTF-8", errors="strict")
    assert S.unicode_decode(["a\tb\x00"], "UTF-8", replace_control_characters=True) \
        .to_list() == [[97, 0xFFFD, 98, 0xFFFD]]
    with pytest.raises(ValueError, match="input_encoding.*'latin-1'"):
        S.unicode_decode(["a"], "latin-1")
    with pytest.raises(ValueError, match="replacement_char.*-1"):
        S.unicode_decode(["a"], "UTF-8", replacement_char=-1)


def test_elementwise_ops_keep_the_rows():
    words = ["Äpfel", "  b ", "", "ÉTÉ", "42", "-7.5"]
    rt = xf.RaggedTensor.from_row_lengths(words, [2, 0, 1, 3])

    def rows(fn):
        return [[fn(w) for w in words[a:b]] for a, b in ((0, 2), (2, 2), (2, 3), (3, 6))]

    assert S.lower(rt, encoding="utf-8").to_list() == rows(lambda w: w.lower().encode())
    assert S.upper(rt).to_list() == rows(  # encoding "": ASCII letters only, as TF's
        lambda w: w.encode().upper())
    assert S.strip(rt).to_list() == rows(lambda w: w.strip().encode())
    assert S.length(rt).to_list() == rows(lambda w: len(w.encode()))
    assert S.length(rt, unit="UTF8_CHAR").to_list() == rows(len)
    assert S.substr(rt, 0, 2, unit="UTF8_CHAR").to_list() == rows(lambda w: w[:2].encode())
    assert S.regex_replace(rt, r"[aeiou ]", "_").to_list() == \
        rows(lambda w: re.sub(r"[aeiou ]", "_", w).encode())
    assert S.regex_full_match(rt, r"-?[0-9.]+").to_list() == \
        rows(lambda w: re.fullmatch(r"-?[0-9.]+", w) is not None)
    dense = S.to_hash_bucket_fast(words, 7).tolist()  # the dense op is TF's (test_strings)
    assert S.to_hash_bucket_fast(rt, 7).flat_values.tolist() == dense
    numbers = xf.ragged.constant([["42", "-7.5"], []])
    assert S.to_number(numbers).to_list() == [[42.0, -7.5], []]
    joined = S.join([rt, "!", rt], separator="|")
    assert joined.to_list() == rows(lambda w: f"{w}|!|{w}".encode())
    with pytest.raises(InvalidArgumentError, match="row_splits differ"):
        S.join([rt, xf.RaggedTensor.from_row_lengths(words, [3, 3, 0, 0])])


def test_reduce_join_joins_each_row():
    rt = S.split(TEXTS)
    assert S.reduce_join(rt, axis=-1, separator="-").numpy().tolist() == \
        ["-".join(t.split()).encode() for t in TEXTS]
    assert S.reduce_join(rt, axis=1, keepdims=True).numpy().tolist() == \
        [["".join(t.split()).encode()] for t in TEXTS]
    assert S.reduce_join(rt).numpy() == "".join("".join(TEXTS).split()).encode()
    nested = S.split(xf.ragged.constant([["a b", ""], ["c d"]]))
    assert S.reduce_join(nested, axis=-1, separator="+").to_list() == [[b"a+b", b""],
                                                                       [b"c+d"]]
    with pytest.raises(NotImplementedError, match=r"axis=0.*axis=-1"):
        S.reduce_join(rt, axis=0)


@pytest.mark.parametrize("kwargs, expected", [
    # TF's string_ngrams_op_test cases: data [[a, b, c, d], [e, f]], separator "|"
    (dict(ngram_width=2, pad_values=("LP", "RP"), padding_width=1),
     [["LP|a", "a|b", "b|c", "c|d", "d|RP"], ["LP|e", "e|f", "f|RP"]]),
    (dict(ngram_width=3, pad_values=("LP", "RP"), padding_width=1),
     [["LP|a|b", "a|b|c", "b|c|d", "c|d|RP"], ["LP|e|f", "e|f|RP"]]),
    (dict(ngram_width=3, pad_values=("LP", "RP")),  # padding_width: n - 1
     [["LP|LP|a", "LP|a|b", "a|b|c", "b|c|d", "c|d|RP", "d|RP|RP"],
      ["LP|LP|e", "LP|e|f", "e|f|RP", "f|RP|RP"]]),
    (dict(ngram_width=3), [["a|b|c", "b|c|d"], []]),
    (dict(ngram_width=3, preserve_short_sequences=True), [["a|b|c", "b|c|d"], ["e|f"]]),
    (dict(ngram_width=[1, 2]), [["a", "b", "c", "d", "a|b", "b|c", "c|d"], ["e", "f", "e|f"]]),
])
def test_ngrams_match_tfs_kernel(kwargs, expected):
    data = xf.ragged.constant([["a", "b", "c", "d"], ["e", "f"]])
    out = S.ngrams(data, separator="|", **kwargs)
    assert out.to_list() == as_bytes(expected)


def test_ngrams_dense_empty_rows_and_errors():
    assert S.ngrams(["A", "B", "C", "D"], 2).numpy().tolist() == [b"A B", b"B C", b"C D"]
    dense = S.ngrams([["a", "b", "c"], ["d", "e", "f"]], 2)  # dense in, dense out (TF's)
    assert dense.numpy().tolist() == [[b"a b", b"b c"], [b"d e", b"e f"]]
    empty = xf.ragged.constant([[], ["x"]], dtype=xf.string)
    assert S.ngrams(empty, 2).to_list() == [[], []]
    assert S.ngrams(empty, 2, pad_values="#").to_list() == [[b"# #"], [b"# x", b"x #"]]
    with pytest.raises(ValueError, match="pad_values must be provided"):
        S.ngrams(empty, 2, padding_width=1)
    with pytest.raises(ValueError, match="greater than 0.*0"):
        S.ngrams(empty, 0)
    with pytest.raises(TypeError, match="pad_values must be a string"):
        S.ngrams(empty, 2, pad_values=3)


def test_text_vectorization_ragged_ids():
    texts = ["The cat sat", "", "a dog, the CAT!"]
    padded = keras.layers.TextVectorization()
    padded.adapt(texts)
    ragged = keras.layers.TextVectorization(ragged=True, vocabulary=padded.get_vocabulary())
    out = ragged(texts)
    assert isinstance(out, xf.RaggedTensor) and out.flat_values.dtype == np.int64
    vocab = padded.get_vocabulary()
    assert out.to_list() == [[vocab.index(w) for w in re.sub(r"[^\w\s]", "", t.lower())
                              .split()] for t in texts]
    dense = padded(texts).numpy()
    assert [row[:n].tolist() for row, n in zip(dense, out.row_lengths().tolist())] == \
        out.to_list()
    with pytest.raises(ValueError, match="ragged=True needs output_mode='int'"):
        keras.layers.TextVectorization(ragged=True, output_mode="multi_hot")
    with pytest.raises(NotImplementedError, match=r"ragged=True\) in a functional"):
        ragged(keras.Input(shape=(1,), dtype="string"))


def test_lookup_layers_map_a_ragged_tensors_values():
    rt = S.split(["a b", "", "c a z"])
    lookup = keras.layers.StringLookup(vocabulary=["a", "b", "c"])
    ids = lookup(rt)
    assert ids.to_list() == [[1, 2], [], [3, 1, 0]]  # 0: the OOV index
    inverse = keras.layers.StringLookup(vocabulary=["a", "b", "c"], invert=True)
    assert inverse(ids).to_list() == [[b"a", b"b"], [], [b"c", b"a", b"[UNK]"]]
    hashing = keras.layers.Hashing(num_bins=5)
    assert hashing(rt).flat_values.tolist() == hashing(["a", "b", "c", "a", "z"]).tolist()
    numbers = xf.ragged.constant([[10, 30], [], [20]])
    assert keras.layers.IntegerLookup(vocabulary=[10, 20])(numbers).to_list() == \
        [[1, 0], [], [2]]
    with pytest.raises(NotImplementedError, match="output_mode='multi_hot'.*to_tensor"):
        keras.layers.StringLookup(vocabulary=["a"], output_mode="multi_hot")(rt)


def test_inside_xf_function_text_stays_on_the_host():
    @xf.function
    def lengths_times(n):
        lengths = S.length(S.split(["a bb", "", "ccc d"]))  # known text: worked on here
        return xf.reduce_sum(lengths, axis=-1) * n

    assert lengths_times(xf.constant(2)).tolist() == [6, 0, 8]

    @xf.function
    def split_traced(x):
        return S.split(x)

    with pytest.raises(TypeError, match="holds text"):  # TF traces it; XLA holds no text
        split_traced(xf.constant(["a b"]))
    ids = keras.layers.StringLookup(vocabulary=["a", "b"])(S.split(["a b", "b"]))
    assert xf.function(lambda r: r * 2)(ids).to_list() == [[2, 4], [4]]  # ids do enter


def test_ragged_nested_lists_name_xf_ragged_constant():
    with pytest.raises(ValueError, match=r"xf.ragged.constant"):
        S.lower([["a"], ["b", "c"]])
    with pytest.raises(ValueError, match=r"xf.ragged.constant"):
        xf.constant([["a"], ["b", "c"]])
