"""tf.math's segment reductions against NumPy loops over the rows, with TF's values for
empty segments (sorted: 0, prod 1; unsorted max/min: the dtype's lowest/highest)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xlaflow as xf

REDUCERS = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod,
            "sqrt_n": lambda rows, axis: np.sum(rows, axis) / np.sqrt(len(rows))}


def _oracle(kind, data, ids, count, empty):
    out = np.empty((count,) + data.shape[1:], data.dtype)
    for j in range(count):
        rows = data[ids == j]
        out[j] = REDUCERS[kind](rows, axis=0) if len(rows) else empty
    return out


# fixed lengths keep the shapes (and so the compilations) few
sorted_ids = st.lists(st.integers(0, 6), min_size=8, max_size=8).map(sorted)
COUNT = 8  # unsorted: ids in [-1, 5], so segments 6 and 7 always stay empty
KINDS = ["sum", "mean", "max", "min", "prod", "sqrt_n"]


def _compiled(kind):
    op = getattr(xf.math, f"unsorted_segment_{kind}")
    return xf.function(lambda d, i: op(d, i, COUNT))


COMPILED = {kind: _compiled(kind) for kind in KINDS}


@settings(max_examples=25, deadline=None)
@given(ids=sorted_ids, kind=st.sampled_from(["sum", "mean", "max", "min", "prod"]),
       seed=st.integers(0, 2 ** 16))
def test_sorted_segments_match_a_numpy_loop(ids, kind, seed):
    ids = np.asarray(ids, np.int32)
    data = np.random.default_rng(seed).uniform(-2, 2, (len(ids), 3)).astype(np.float32)
    empty = 1.0 if kind == "prod" else 0.0  # TF: "If the max is empty ... output[i] = 0"
    out = getattr(xf.math, f"segment_{kind}")(data, ids)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _oracle(kind, data, ids, ids.max() + 1, empty),
                               rtol=1e-5, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(ids=st.lists(st.integers(-1, 5), min_size=8, max_size=8),
       kind=st.sampled_from(KINDS), seed=st.integers(0, 2 ** 16))
def test_unsorted_segments_match_a_numpy_loop_eager_and_compiled(ids, kind, seed):
    ids, count = np.asarray(ids, np.int32), COUNT
    data = np.random.default_rng(seed).uniform(-2, 2, (len(ids), 2)).astype(np.float32)
    info = np.finfo(np.float32)
    empty = {"max": info.min, "min": info.max, "prod": 1.0}.get(kind, 0.0)
    expected = _oracle(kind, data, ids, count, empty)  # id -1 is in no segment: dropped
    op = getattr(xf.math, f"unsorted_segment_{kind}")
    np.testing.assert_allclose(op(data, ids, count), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(COMPILED[kind](data, ids), expected, rtol=1e-5, atol=1e-6)


def test_integer_data_empty_segments_and_multi_dimensional_ids():
    ints = np.array([1, 2, 4, 7, 5], np.int32)
    # TF's SegmentMean kernel divides in the data's type: 7 // 3 = 2
    np.testing.assert_array_equal(xf.math.segment_mean(ints, [0, 0, 0, 2, 2]), [2, 0, 6])
    iinfo = np.iinfo(np.int32)
    np.testing.assert_array_equal(xf.math.unsorted_segment_max(ints, [1, 1, 1, 1, 1], 3),
                                  [iinfo.min, 7, iinfo.min])
    np.testing.assert_array_equal(xf.math.unsorted_segment_min(ints, [2, 2, 0, 0, 0], 3),
                                  [4, iinfo.max, 1])
    # ids may cover a prefix of data's shape; the output keeps the remaining axes
    data = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    ids = np.array([[0, 1, 0], [1, 1, 2]], np.int32)
    expected = _oracle("sum", data.reshape(6, 2), ids.reshape(6), 3, 0.0)
    np.testing.assert_array_equal(xf.math.unsorted_segment_sum(data, ids, 3), expected)


def test_bad_segment_ids_are_refused_as_tf_does():
    data = np.ones((3, 2), np.float32)
    with pytest.raises(xf.errors.InvalidArgumentError, match="not increasing"):
        xf.math.segment_max(data, [1, 0, 1])
    with pytest.raises(xf.errors.InvalidArgumentError, match=">= 0"):
        xf.math.segment_sum(data, [-1, 0, 0])
    with pytest.raises(ValueError, match="one id per row"):
        xf.math.segment_min(data, [0, 0])
    with pytest.raises(xf.errors.InvalidArgumentError, match="< num_segments = 2, received 4"):
        xf.math.unsorted_segment_prod(data, [0, 4, 1], 2)
    with pytest.raises(TypeError, match="floating point"):
        xf.math.unsorted_segment_mean(np.ones(3, np.int32), [0, 0, 1], 2)
    with pytest.raises(TypeError, match="integers"):
        xf.math.unsorted_segment_sum(data, [0.0, 1.0, 1.0], 2)
    with pytest.raises(TypeError, match="unsorted_segment_max"):
        xf.function(lambda d, i: xf.math.segment_max(d, i))(data, np.zeros(3, np.int32))
    compiled = xf.function(lambda d, i: xf.math.unsorted_segment_max(d, i, 2))
    with pytest.raises(xf.errors.InvalidArgumentError, match="received 3"):
        compiled(data, np.array([0, 3, 1], np.int32))


def test_num_segments_and_data_of_the_wrong_kind_are_refused_by_name():
    data = np.arange(4, dtype=np.float32)
    ids = np.array([0, 0, 1, 1])
    # TF's num_segments is int32/int64: 2.5 was truncated to 2, then blamed on the ids
    with pytest.raises(TypeError, match=r"num_segments must be an integer.*2\.5"):
        xf.math.unsorted_segment_sum(data, ids, 2.5)
    # TF has no max/min/prod of booleans; NumPy's "Invalid integer data type 'b'" came out
    with pytest.raises(TypeError, match="unsorted_segment_max: data must be numeric.*bool"):
        xf.math.unsorted_segment_max(np.array([True, False]), np.array([0, 0]), 1)


def test_products_are_differentiable_with_tfs_gradient_at_zeros():
    # jax.ops.segment_prod has no reverse-mode rule for repeated ids; TF's
    # SegmentProd/UnsortedSegmentProd gradients: the product of the other rows of the
    # segment (a single zero gets the product of the non-zeros; two zeros give 0)
    import jax
    import jax.numpy as jnp

    x = jnp.float32([2.0, 3.0, 0.0, 5.0, 0.0, 0.0, 4.0, 7.0])
    ids = np.array([0, 0, 1, 1, 2, 2, -1, 3])
    grad = jax.grad(lambda v: xf.math.unsorted_segment_prod(v, ids, 4).sum())(x)
    np.testing.assert_array_equal(grad, [3.0, 2.0, 5.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    sorted_grad = jax.grad(lambda v: (xf.math.segment_prod(v[:4], ids[:4]) *
                                      jnp.float32([1.0, 10.0])).sum())(x)
    np.testing.assert_array_equal(sorted_grad[:4], [3.0, 2.0, 50.0, 0.0])
    rows = jnp.float32([[1.0, 2.0], [3.0, 4.0]])  # per column: d(a*b)/da = b
    np.testing.assert_array_equal(
        jax.grad(lambda v: xf.math.segment_prod(v, np.array([0, 0])).sum())(rows),
        [[3.0, 4.0], [1.0, 2.0]])
