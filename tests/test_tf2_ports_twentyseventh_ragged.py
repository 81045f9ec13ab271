"""The twenty-seventh round of whole TF2 programs (see test_tf2_ports.py): TF's guide "Ragged
tensors" as written, imports changed.

What changed, each line saying why: reduce_mean of int32 rows gives float32 where TF gives
float64 (JAX's floats are 32-bit unless x64 is on); the RaggedTensor-vs-SparseTensor lines
concatenate SparseTensors of ids, not text (xlaflow's SparseTensor holds numbers only); the
tf.Example inputs of the tf.data section are written as the RaggedTensors they parse to;
make_palindrome runs on text eagerly (a compiled program holds no strings). The Keras,
tf.Example and SavedModel sections are left to their own ports.

Oracles: the guide's printed outputs, each also computed from Python lists or with NumPy.
"""

import math

import numpy as np
import pytest

import xlaflow as tf

ROWS = [[3, 1, 4, 1], [], [5, 9, 2], [6], []]


def test_overview_ops_indexing_operators_and_conversion():
    digits = tf.ragged.constant([[3, 1, 4, 1], [], [5, 9, 2], [6], []])
    words = tf.ragged.constant([["So", "long"], ["thanks", "for", "all", "the", "fish"]])
    assert str(tf.add(digits, 3)) == "<tf.RaggedTensor [[6, 4, 7, 4], [], [8, 12, 5], [9], []]>"
    mean = tf.reduce_mean(digits, axis=1)  # float32 here, float64 in TF (module docstring)
    np.testing.assert_allclose(mean, [2.25, np.nan, 5.33333333, 6.0, np.nan], rtol=1e-6)
    assert tf.concat([digits, [[5, 3]]], axis=0).to_list() == ROWS + [[5, 3]]
    assert str(tf.tile(digits, [1, 2])) == (
        "<tf.RaggedTensor [[3, 1, 4, 1, 3, 1, 4, 1], [], [5, 9, 2, 5, 9, 2], [6, 6], []]>")
    assert str(tf.strings.substr(words, 0, 2)) == (
        "<tf.RaggedTensor [[b'So', b'lo'], [b'th', b'fo', b'al', b'th', b'fi']]>")
    assert str(tf.map_fn(tf.math.square, digits)) == (
        "<tf.RaggedTensor [[9, 1, 16, 1], [], [25, 81, 4], [36], []]>")

    np.testing.assert_array_equal(digits[0], ROWS[0])  # First row
    assert digits[:, :2].to_list() == [r[:2] for r in ROWS]
    assert digits[:, -2:].to_list() == [r[-2:] for r in ROWS]

    assert (digits + 3).to_list() == [[v + 3 for v in r] for r in ROWS]
    other = tf.ragged.constant([[1, 2, 3, 4], [], [5, 6, 7], [8], []])
    assert str(digits + other) == "<tf.RaggedTensor [[4, 3, 7, 5], [], [10, 15, 9], [14], []]>"

    times_two_plus_one = lambda x: x * 2 + 1
    assert str(tf.ragged.map_flat_values(times_two_plus_one, digits)) == (
        "<tf.RaggedTensor [[7, 3, 9, 3], [], [11, 19, 5], [13], []]>")

    assert digits.to_list() == ROWS
    as_numpy = digits.numpy()
    assert as_numpy.dtype == object and [r.tolist() for r in as_numpy] == ROWS


def test_constructing_and_what_you_can_store():
    sentences = tf.ragged.constant([
        ["Let's", "build", "some", "ragged", "tensors", "!"],
        ["We", "can", "use", "tf.ragged.constant", "."]])
    assert sentences.to_list()[1] == [b"We", b"can", b"use", b"tf.ragged.constant", b"."]
    paragraphs = tf.ragged.constant([
        [['I', 'have', 'a', 'cat'], ['His', 'name', 'is', 'Mat']],
        [['Do', 'you', 'want', 'to', 'come', 'visit'], ["I'm", 'free', 'tomorrow']],
    ])
    assert paragraphs.ragged_rank == 2 and paragraphs.to_list()[1][1] == [
        b"I'm", b"free", b"tomorrow"]
    want = "<tf.RaggedTensor [[3, 1, 4, 1], [], [5, 9], [2]]>"
    assert str(tf.RaggedTensor.from_value_rowids(
        values=[3, 1, 4, 1, 5, 9, 2], value_rowids=[0, 0, 0, 0, 2, 2, 3])) == want
    assert str(tf.RaggedTensor.from_row_lengths(
        values=[3, 1, 4, 1, 5, 9, 2], row_lengths=[4, 0, 2, 1])) == want
    assert str(tf.RaggedTensor.from_row_splits(
        values=[3, 1, 4, 1, 5, 9, 2], row_splits=[0, 4, 4, 6, 7])) == want

    assert tf.ragged.constant([["Hi"], ["How", "are", "you"]]).to_list() == [
        [b"Hi"], [b"How", b"are", b"you"]]  # ok: type=string, rank=2
    assert tf.ragged.constant([[[1, 2], [3]], [[4, 5]]]).ndim == 3  # ok: type=int32, rank=3
    with pytest.raises(ValueError, match="mixed types"):
        tf.ragged.constant([["one", "two"], [3, 4]])  # bad: multiple types
    with pytest.raises(ValueError, match="same nesting depth"):
        tf.ragged.constant(["A", ["B", "C"]])  # bad: multiple nesting depths


def test_bigram_embedding_example():
    tf.random.set_seed(0)
    queries = tf.ragged.constant([['Who', 'is', 'Dan', 'Smith'],
                                  ['Pause'],
                                  ['Will', 'it', 'rain', 'later', 'today']])
    num_buckets = 1024
    embedding_size = 4
    embedding_table = tf.Variable(
        tf.random.truncated_normal([num_buckets, embedding_size],
                                   stddev=1.0 / math.sqrt(embedding_size)))
    word_buckets = tf.strings.to_hash_bucket_fast(queries, num_buckets)
    word_embeddings = tf.nn.embedding_lookup(embedding_table, word_buckets)     # ①
    marker = tf.fill([queries.nrows(), 1], '#')
    padded = tf.concat([marker, queries, marker], axis=1)                       # ②
    bigrams = tf.strings.join([padded[:, :-1], padded[:, 1:]], separator='+')   # ③
    bigram_buckets = tf.strings.to_hash_bucket_fast(bigrams, num_buckets)
    bigram_embeddings = tf.nn.embedding_lookup(embedding_table, bigram_buckets) # ④
    all_embeddings = tf.concat([word_embeddings, bigram_embeddings], axis=1)    # ⑤
    avg_embedding = tf.reduce_mean(all_embeddings, axis=1)                      # ⑥
    assert avg_embedding.shape == (3, 4)

    # oracle: the same steps on Python lists and NumPy
    words = queries.to_list()
    assert bigrams.to_list()[1] == [b"#+Pause", b"Pause+#"]
    table = np.asarray(embedding_table.numpy())
    wb, bb = word_buckets.to_list(), bigram_buckets.to_list()
    want = [table[wb[i] + bb[i]].mean(axis=0) for i in range(len(words))]
    np.testing.assert_allclose(avg_embedding, want, rtol=1e-5, atol=1e-6)


def test_ragged_and_uniform_dimensions_and_sparse_comparison():
    hi = tf.ragged.constant([["Hi"], ["How", "are", "you"]])
    assert hi.shape.as_list() == [2, None]
    np.testing.assert_array_equal(hi.bounding_shape(), [2, 3])

    ragged_x = tf.ragged.constant([["John"], ["a", "big", "dog"], ["my", "cat"]])
    ragged_y = tf.ragged.constant([["fell", "asleep"], ["barked"], ["is", "fuzzy"]])
    assert tf.concat([ragged_x, ragged_y], axis=1).to_list() == [
        [b'John', b'fell', b'asleep'], [b'a', b'big', b'dog', b'barked'],
        [b'my', b'cat', b'is', b'fuzzy']]
    # xlaflow's SparseTensor holds numbers: the guide's sparse concat runs on word ids
    ids_x = tf.ragged.constant([[1], [2, 3, 4], [5, 6]])
    ids_y = tf.ragged.constant([[7, 8], [9], [10, 11]])
    sparse_result = tf.sparse.concat(sp_inputs=[ids_x.to_sparse(), ids_y.to_sparse()], axis=1)
    np.testing.assert_array_equal(tf.sparse.to_dense(sparse_result, 0), [
        [1, 0, 0, 7, 8], [2, 3, 4, 9, 0], [5, 6, 0, 10, 11]])


def test_tf_data_batch_unbatch_ragged_batch_and_map():
    # the tf.Example section's parsed features, written as the RaggedTensors they are
    feature_tensors = {
        'colors': tf.ragged.constant([["red", "blue"], ["orange"], ["black", "yellow"],
                                      ["green"]]),
        'lengths': tf.ragged.constant([[7], [], [1, 3], [3, 5, 2]])}
    dataset = tf.data.Dataset.from_tensor_slices(feature_tensors)
    lengths = [e['lengths'].tolist() for e in dataset]
    assert lengths == [[7], [], [1, 3], [3, 5, 2]]
    batched_dataset = dataset.batch(2)
    batches = [(e['colors'].to_list(), e['lengths'].to_list()) for e in batched_dataset]
    assert batches == [([[b'red', b'blue'], [b'orange']], [[7], []]),
                       ([[b'black', b'yellow'], [b'green']], [[1, 3], [3, 5, 2]])]
    unbatched_dataset = batched_dataset.unbatch()
    assert [e['lengths'].tolist() for e in unbatched_dataset] == lengths

    non_ragged_dataset = tf.data.Dataset.from_tensor_slices([1, 5, 3, 2, 8])
    non_ragged_dataset = non_ragged_dataset.map(tf.range)
    batched_non_ragged_dataset = non_ragged_dataset.ragged_batch(2)
    assert [str(e) for e in batched_non_ragged_dataset] == [
        "<tf.RaggedTensor [[0], [0, 1, 2, 3, 4]]>", "<tf.RaggedTensor [[0, 1, 2], [0, 1]]>",
        "<tf.RaggedTensor [[0, 1, 2, 3, 4, 5, 6, 7]]>"]

    def transform_lengths(features):
        return {
            'mean_length': tf.math.reduce_mean(features['lengths']),
            'length_ranges': tf.ragged.range(features['lengths'])}
    transformed = list(dataset.map(transform_lengths))
    assert [int(e['mean_length']) for e in transformed] == [7, 0, 2, 3]
    assert [e['length_ranges'].to_list() for e in transformed] == [
        [list(range(n)) for n in row] for row in lengths]


def test_tf_function_signatures_and_concrete_functions():
    digits = tf.ragged.constant([[3, 1, 4, 1], [], [5, 9, 2], [6], []])

    @tf.function
    def make_palindrome(x, axis):
        return tf.concat([x, tf.reverse(x, [axis])], axis)

    assert str(make_palindrome(digits, axis=1)) == (
        "<tf.RaggedTensor [[3, 1, 4, 1, 1, 4, 1, 3], [], [5, 9, 2, 2, 9, 5], [6, 6], []]>")
    sentences = tf.ragged.constant([["Hello", "there"], ["Bye"]])
    # text is a host value: the same function body runs eagerly on it (module docstring)
    assert make_palindrome.python_function(sentences, axis=1).to_list() == [
        [b"Hello", b"there", b"there", b"Hello"], [b"Bye", b"Bye"]]

    @tf.function(
        input_signature=[tf.RaggedTensorSpec(shape=[None, None], dtype=tf.int32)])
    def max_and_min(rt):
        return (tf.math.reduce_max(rt, axis=-1), tf.math.reduce_min(rt, axis=-1))

    high, low = max_and_min(digits)
    i32 = np.iinfo(np.int32)
    np.testing.assert_array_equal(high, [max(r, default=i32.min) for r in ROWS])
    np.testing.assert_array_equal(low, [min(r, default=i32.max) for r in ROWS])

    @tf.function
    def increment(x):
        return x + 1

    rt = tf.ragged.constant([[1, 2], [3], [4, 5, 6]])
    cf = increment.get_concrete_function(rt)
    assert str(cf(rt)) == "<tf.RaggedTensor [[2, 3], [4], [5, 6, 7]]>"


def test_overloaded_operators_and_indexing():
    x = tf.ragged.constant([[1, 2], [3], [4, 5, 6]])
    y = tf.ragged.constant([[1, 1], [2], [3, 3, 3]])
    assert str(x + y) == "<tf.RaggedTensor [[2, 3], [5], [7, 8, 9]]>"
    assert str(x + 3) == "<tf.RaggedTensor [[4, 5], [6], [7, 8, 9]]>"

    queries = tf.ragged.constant(
        [['Who', 'is', 'George', 'Washington'],
         ['What', 'is', 'the', 'weather', 'tomorrow'],
         ['Goodnight']])
    lists = queries.to_list()
    assert [w.encode() for w in np.asarray(queries[1]).tolist()] == lists[1]
    assert str(np.asarray(queries[1, 2])) == "the"
    assert queries[1:].to_list() == lists[1:]
    assert queries[:, :3].to_list() == [r[:3] for r in lists]
    assert queries[:, -2:].to_list() == [r[-2:] for r in lists]

    rt = tf.ragged.constant([[[1, 2, 3], [4]],
                             [[5], [], [6]],
                             [[7]],
                             [[8, 9], [10]]])
    nested = rt.to_list()
    assert rt[1].to_list() == nested[1]
    np.testing.assert_array_equal(rt[3, 0], [8, 9])
    assert str(rt[:, 1:3]) == "<tf.RaggedTensor [[[4]], [[], [6]], [], [[10]]]>"
    assert str(rt[:, -1:]) == "<tf.RaggedTensor [[[4]], [[6]], [[7]], [[10]]]>"


def test_conversion_and_evaluation():
    ragged_sentences = tf.ragged.constant([
        ['Hi'], ['Welcome', 'to', 'the', 'fair'], ['Have', 'fun']])
    padded = ragged_sentences.to_tensor(default_value='', shape=[None, 10])
    assert padded.shape == (3, 10)
    assert padded.tolist()[2] == [b'Have', b'fun'] + [b''] * 8
    x = [[1, 3, -1, -1], [2, -1, -1, -1], [4, 5, 8, 9]]
    assert str(tf.RaggedTensor.from_tensor(x, padding=-1)) == (
        "<tf.RaggedTensor [[1, 3], [2], [4, 5, 8, 9]]>")
    st = ragged_sentences.to_sparse()
    np.testing.assert_array_equal(st.indices, [[0, 0], [1, 0], [1, 1], [1, 2], [1, 3],
                                               [2, 0], [2, 1]])
    np.testing.assert_array_equal(st.dense_shape, [3, 4])
    # from_sparse: xlaflow's SparseTensor holds numbers (module docstring), so ids here
    st = tf.SparseTensor(indices=[[0, 0], [2, 0], [2, 1]], values=[1, 2, 3],
                         dense_shape=[3, 3])
    assert str(tf.RaggedTensor.from_sparse(st)) == "<tf.RaggedTensor [[1], [], [2, 3]]>"

    rt = tf.ragged.constant([[1, 2], [3, 4, 5], [6], [], [7]])
    assert rt.to_list() == [[1, 2], [3, 4, 5], [6], [], [7]]
    assert [r.tolist() for r in rt.numpy()] == rt.to_list()
    np.testing.assert_array_equal(rt.values, [1, 2, 3, 4, 5, 6, 7])
    np.testing.assert_array_equal(rt.row_splits, [0, 2, 5, 6, 6, 7])
    np.testing.assert_array_equal(rt[1], [3, 4, 5])


def test_broadcasting_examples_and_errors():
    x = tf.ragged.constant([[1, 2], [3]])
    y = 3
    assert str(x + y) == "<tf.RaggedTensor [[4, 5], [6]]>"
    x = tf.ragged.constant([[10, 87, 12], [19, 53], [12, 32]])
    y = [[1000], [2000], [3000]]
    assert str(x + y) == "<tf.RaggedTensor [[1010, 1087, 1012], [2019, 2053], [3012, 3032]]>"
    x = tf.ragged.constant([[[1, 2], [3, 4], [5, 6]], [[7, 8]]], ragged_rank=1)
    y = tf.constant([[10]])
    assert str(x + y) == "<tf.RaggedTensor [[[11, 12], [13, 14], [15, 16]], [[17, 18]]]>"
    x = tf.ragged.constant([[[[1], [2]], [], [[3]], [[4]]], [[[5], [6]], [[7]]]],
                           ragged_rank=2)
    y = tf.constant([10, 20, 30])
    assert (x + y).to_list() == [
        [[[v + d for d in (10, 20, 30)] for [v] in inner] for inner in row]
        for row in x.to_list()]

    x = tf.ragged.constant([[1, 2], [3, 4, 5, 6], [7]])
    y = tf.constant([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="dimension size mismatch"):
        x + y
    x = tf.ragged.constant([[1, 2, 3], [4], [5, 6]])
    y = tf.ragged.constant([[10, 20], [30, 40], [50]])
    with pytest.raises(tf.errors.InvalidArgumentError):
        x + y
    x = tf.ragged.constant([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10]]])
    y = tf.ragged.constant([[[1, 2, 0], [3, 4, 0], [5, 6, 0]], [[7, 8, 0], [9, 10, 0]]])
    with pytest.raises(tf.errors.InvalidArgumentError):
        x + y


def test_ragged_tensor_encoding():
    rt = tf.RaggedTensor.from_row_splits(values=[3, 1, 4, 1, 5, 9, 2],
                                         row_splits=[0, 4, 4, 6, 7])
    assert str(rt) == "<tf.RaggedTensor [[3, 1, 4, 1], [], [5, 9], [2]]>"
    np.testing.assert_array_equal(rt.value_rowids(), [0, 0, 0, 0, 2, 2, 3])
    np.testing.assert_array_equal(rt.row_lengths(), [4, 0, 2, 1])
    np.testing.assert_array_equal(rt.row_starts(), [0, 4, 4, 6])
    np.testing.assert_array_equal(rt.row_limits(), [4, 4, 6, 7])

    want = "<tf.RaggedTensor [[[10, 11, 12]], [], [[], [13, 14], [15, 16, 17, 18], [19]]]>"
    rt = tf.RaggedTensor.from_row_splits(
        values=tf.RaggedTensor.from_row_splits(
            values=[10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
            row_splits=[0, 3, 3, 5, 9, 10]),
        row_splits=[0, 1, 1, 5])
    assert str(rt) == want
    assert f"Shape: {rt.shape}" == "Shape: (3, None, None)"
    assert rt.ragged_rank == 2
    rt = tf.RaggedTensor.from_nested_row_splits(
        flat_values=[10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
        nested_row_splits=([0, 1, 1, 5], [0, 3, 3, 5, 9, 10]))
    assert str(rt) == want

    conversations = tf.ragged.constant(
        [[[["I", "like", "ragged", "tensors."]],
          [["Oh", "yeah?"], ["What", "can", "you", "use", "them", "for?"]],
          [["Processing", "variable", "length", "data!"]]],
         [[["I", "like", "puppies."]],
          [["Oh", "yeah?"]]]])
    assert conversations.ragged_rank == 3
    flat = [w for c in conversations.to_list() for p in c for s in p for w in s]
    assert [w.encode() for w in np.asarray(conversations.flat_values).tolist()] == flat

    rt = tf.RaggedTensor.from_row_splits(
        values=[[1, 3], [0, 0], [1, 3], [5, 3], [3, 3], [1, 2]],
        row_splits=[0, 3, 4, 6])
    assert str(rt) == ("<tf.RaggedTensor [[[1, 3], [0, 0], [1, 3]], [[5, 3]], "
                       "[[3, 3], [1, 2]]]>")
    assert f"Shape: {rt.shape}" == "Shape: (3, None, 2)"
    assert rt.ragged_rank == 1 and rt.flat_values.shape == (6, 2)

    rt = tf.RaggedTensor.from_uniform_row_length(
        values=tf.RaggedTensor.from_row_splits(
            values=[10, 11, 12, 13, 14, 15, 16, 17, 18, 19],
            row_splits=[0, 3, 5, 9, 10]),
        uniform_row_length=2)
    assert str(rt) == "<tf.RaggedTensor [[[10, 11, 12], [13, 14]], [[15, 16, 17, 18], [19]]]>"
    assert f"Shape: {rt.shape}" == "Shape: (2, 2, None)"
    assert rt.ragged_rank == 2 and int(rt.uniform_row_length) == 2
