"""More tf.math / tf.nn ops (xlaflow/math_extra.py) against NumPy and TF's documented
examples."""

import math

import numpy as np
import pytest

import xlaflow as xf

RNG = np.random.default_rng(13)
X = RNG.normal(size=(3, 4)).astype(np.float32)


def test_cumulative_ops_with_exclusive_and_reverse_as_tf_documents():
    np.testing.assert_array_equal(xf.math.cumsum([1, 2, 3]), [1, 3, 6])
    np.testing.assert_array_equal(xf.math.cumsum([1, 2, 3], exclusive=True), [0, 1, 3])
    np.testing.assert_array_equal(xf.math.cumsum([1, 2, 3], reverse=True), [6, 5, 3])
    np.testing.assert_array_equal(xf.math.cumsum([1, 2, 3], exclusive=True, reverse=True),
                                  [5, 3, 0])
    np.testing.assert_array_equal(xf.math.cumprod([2, 3, 4], exclusive=True), [1, 2, 6])
    np.testing.assert_allclose(xf.math.cumsum(X, axis=1), np.cumsum(X, axis=1), rtol=1e-5)


def test_floor_division_modulo_and_elementwise_ops_as_python():
    a, b = np.array([7, -7, 7, -7]), np.array([3, 3, -3, -3])
    np.testing.assert_array_equal(xf.math.floordiv(a, b), a // b)
    np.testing.assert_array_equal(xf.math.floormod(a, b), a % b)
    np.testing.assert_array_equal(xf.math.mod(a, b), a % b)
    np.testing.assert_allclose(xf.math.squared_difference(X, 1.0), (X - 1.0) ** 2, rtol=1e-6)
    np.testing.assert_allclose(xf.math.log_sigmoid(np.array([-100.0, 0.0, 3.0])),
                               [-100.0, math.log(0.5), -math.log1p(math.exp(-3.0))],
                               rtol=1e-6)
    np.testing.assert_allclose(xf.math.erf([0.5]), [math.erf(0.5)], rtol=1e-6)
    np.testing.assert_allclose(xf.math.lgamma([4.5]), [math.lgamma(4.5)], rtol=1e-6)
    np.testing.assert_allclose(xf.math.atan2([1.0], [-1.0]), [math.atan2(1.0, -1.0)],
                               rtol=1e-6)
    np.testing.assert_array_equal(xf.math.logical_xor([True, False], [True, True]),
                                  [False, True])


def test_norms_counts_and_l2_normalize():
    np.testing.assert_allclose(xf.math.reduce_euclidean_norm(X, axis=1),
                               np.linalg.norm(X, axis=1), rtol=1e-6)
    counted = xf.math.count_nonzero(np.array([[0, 1], [2, 0], [3, 4]]), axis=0)
    np.testing.assert_array_equal(counted, [2, 2])
    normalized = xf.math.l2_normalize(X, axis=1)
    np.testing.assert_allclose(normalized, X / np.linalg.norm(X, axis=1, keepdims=True),
                               rtol=1e-5)
    np.testing.assert_array_equal(xf.nn.l2_normalize(np.zeros(3)), np.zeros(3))  # epsilon


def test_top_k_and_in_top_k_with_ties():
    values, indices = xf.math.top_k(np.array([1.0, 3.0, 3.0, 2.0]), k=3)
    np.testing.assert_array_equal(values, [3.0, 3.0, 2.0])
    np.testing.assert_array_equal(indices, [1, 2, 3])  # ties: lower index first
    assert indices.dtype == np.int32
    with pytest.raises(ValueError, match="k=5"):
        xf.math.top_k(np.ones(4), k=5)
    predictions = np.array([[0.1, 0.9, 0.9, 0.0], [0.5, 0.2, 0.1, 0.2], [np.nan, 1, 0, 0]])
    # row 0: class 2 ties with class 1 at the top: in for k=1; row 1: class 3 ties class 1
    np.testing.assert_array_equal(xf.math.in_top_k([2, 3, 1], predictions, 1),
                                  [True, False, False])
    np.testing.assert_array_equal(xf.math.in_top_k([2, 3, 1], predictions, 2),
                                  [True, True, False])


def test_segment_sums_and_confusion_matrix():
    data = np.array([[1, 2], [3, 4], [5, 6], [7, 8]], np.float32)
    np.testing.assert_array_equal(xf.math.segment_sum(data, [0, 0, 1, 3]),
                                  [[4, 6], [5, 6], [0, 0], [7, 8]])
    with pytest.raises(xf.errors.InvalidArgumentError, match="sorted"):  # TF's error class
        xf.math.segment_sum(data, [1, 0, 0, 0])
    np.testing.assert_array_equal(xf.math.unsorted_segment_sum(data, [1, 0, 1, 0], 3),
                                  [[10, 12], [6, 8], [0, 0]])
    np.testing.assert_array_equal(xf.math.confusion_matrix([1, 2, 4], [2, 2, 4]), [
        [0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1]])
    weighted = xf.math.confusion_matrix([0, 0, 1], [0, 1, 1], num_classes=2,
                                        weights=[0.5, 2.0, 1.0], dtype=xf.float32)
    np.testing.assert_array_equal(weighted, [[0.5, 2.0], [0.0, 1.0]])


def test_nn_moments_and_embedding_lookup():
    mean, variance = xf.nn.moments(X, axes=[0])
    np.testing.assert_allclose(mean, X.mean(0), rtol=1e-5)
    np.testing.assert_allclose(variance, X.var(0), rtol=1e-5)
    mean, variance = xf.nn.moments(X, axes=[0, 1], keepdims=True)
    assert mean.shape == (1, 1)
    np.testing.assert_allclose(variance, X.var(keepdims=True), rtol=1e-5)
    np.testing.assert_array_equal(xf.nn.embedding_lookup(X, [[2, 0]]), X[[[2, 0]]])
    clipped = xf.nn.embedding_lookup(X, [1], max_norm=0.5)
    np.testing.assert_allclose(np.linalg.norm(clipped, axis=-1),
                               [min(0.5, np.linalg.norm(X[1]))], rtol=1e-5)


def test_in_top_k_target_out_of_range_is_false_as_tf():
    # TF's kernel: a target outside [0, num_classes) "cannot say", so the row is False
    # (jnp's gather filled NaN, and nothing compares above NaN: every such row was True)
    predictions = [[0.1, 0.9], [0.3, 0.2], [0.5, 0.4]]
    out = xf.math.in_top_k([5, -1, 0], predictions, 1)
    np.testing.assert_array_equal(out, [False, False, True])
    traced = xf.function(lambda t, p: xf.math.in_top_k(t, p, 2))
    np.testing.assert_array_equal(traced(np.int32([2, 1]), np.float32(predictions[:2])),
                                  [False, True])


@pytest.mark.parametrize("labels, predictions, match", [
    ([1, -1], [2, 2], "`labels` contains negative values"),
    ([1, 1], [-2, 2], "`predictions` contains negative values"),
    ([1, 5], [2, 2], "`labels` out of bound"),
    ([1, 0], [3, 2], "`predictions` out of bound"),
])
def test_confusion_matrix_refuses_ids_outside_the_classes_as_tf(labels, predictions, match):
    # TF asserts labels/predictions >= 0 and < num_classes; a -1 wrapped to the last row
    # and a 5 was dropped without a word
    with pytest.raises(xf.errors.InvalidArgumentError, match=match):
        xf.math.confusion_matrix(labels, predictions, num_classes=3)
    traced = xf.function(lambda l, p: xf.math.confusion_matrix(l, p, num_classes=3))
    with pytest.raises(xf.errors.InvalidArgumentError, match=match):
        traced(np.int32(labels), np.int32(predictions))


def test_confusion_matrix_traced_without_num_classes_says_what_to_pass():
    traced = xf.function(lambda l, p: xf.math.confusion_matrix(l, p))
    with pytest.raises(ValueError, match="num_classes"):
        traced(np.int32([0, 1]), np.int32([1, 1]))
    np.testing.assert_array_equal(
        xf.function(lambda l, p: xf.math.confusion_matrix(l, p, 2))(np.int32([0, 1]),
                                                                    np.int32([1, 1])),
        [[0, 1], [0, 1]])


def test_embedding_lookup_over_shards_uses_tf2s_div_partitioning():
    # TF 2's docstring: the strategy is always "div", 13 ids over 5 shards go
    # [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10], [11, 12]]; the lookup then equals a
    # gather from the whole table those shards were cut from
    table = RNG.normal(size=(13, 4)).astype(np.float32)
    shards = [table[0:3], table[3:6], table[6:9], table[9:11], table[11:13]]
    ids = np.array([[12, 0, 5], [9, 3, 11]])
    np.testing.assert_array_equal(xf.nn.embedding_lookup(shards, ids), table[ids])
    traced = xf.function(lambda a, b, i: xf.nn.embedding_lookup([a, b], i))
    np.testing.assert_array_equal(traced(table[:7], table[7:], np.int32([6, 7, 12])),
                                  table[[6, 7, 12]])
    with pytest.raises(ValueError, match=r"'div'.*\[3, 3, 3, 2, 2\].*\[2, 4, 3, 2, 2\]"):
        xf.nn.embedding_lookup([table[0:2]] + [table[2:6]] + shards[2:], ids)


def test_embedding_lookup_max_norm_clips_each_whole_embedding():
    # TF clips over every axis after the ids' (clip_by_norm on the gathered rows), so a
    # [n, 2, 3] table's embedding is clipped as one 6-vector, not per row of 3
    table = RNG.normal(size=(4, 2, 3)).astype(np.float32)
    ids = np.array([[1, 3]])
    rows = table[ids]
    norms = np.sqrt((rows ** 2).sum(axis=(-2, -1), keepdims=True))
    expected = rows * 0.5 / np.maximum(norms, 0.5)
    np.testing.assert_allclose(xf.nn.embedding_lookup(table, ids, max_norm=0.5), expected,
                               rtol=1e-6)


@pytest.mark.parametrize("op, np_op, identity", [(xf.math.cumsum, np.cumsum, 0.0),
                                                 (xf.math.cumprod, np.cumprod, 1.0)])
def test_exclusive_cumulative_ops_on_an_empty_axis_stay_empty(op, np_op, identity):
    # the shift by one took a first entry that an empty axis does not have (IndexError)
    x = np.zeros((2, 0), np.float32)
    for reverse in (False, True):
        out = op(x, axis=-1, exclusive=True, reverse=reverse)
        assert out.shape == (2, 0) and out.dtype == np.float32
    y = RNG.normal(size=(2, 3)).astype(np.float32)
    shifted = np.concatenate([np.full((2, 1), identity), np_op(y, axis=-1)[:, :-1]],
                             axis=-1)
    np.testing.assert_allclose(op(y, axis=-1, exclusive=True), shifted, rtol=1e-6)


def test_segment_sum_traced_ids_point_to_unsorted_segment_sum():
    # the output size is the largest id + 1, unknown while tracing
    with pytest.raises(TypeError, match=r"unsorted_segment_sum\(.*num_segments"):
        xf.function(lambda d, i: xf.math.segment_sum(d, i))(np.ones(3, np.float32),
                                                            np.int32([0, 0, 1]))
