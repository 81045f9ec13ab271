"""xf.unique / unique_with_counts, xf.searchsorted and xf.math.bincount against NumPy
oracles and TF's documented examples (unique keeps first-occurrence order)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def test_unique_follows_tfs_documented_example():
    y, idx = xf.unique([1, 1, 2, 4, 4, 4, 7, 8, 8])
    np.testing.assert_array_equal(y, [1, 2, 4, 7, 8])
    np.testing.assert_array_equal(idx, [0, 0, 1, 2, 2, 2, 3, 4, 4])
    assert idx.dtype == jnp.int32


def test_unique_keeps_first_occurrence_order_and_counts():
    x = np.random.default_rng(0).integers(0, 20, size=200)
    y, idx, count = xf.unique_with_counts(x)
    seen = list(dict.fromkeys(x.tolist()))  # first-occurrence order, by Python's dict
    np.testing.assert_array_equal(y, seen)
    np.testing.assert_array_equal(np.asarray(y)[np.asarray(idx)], x)
    np.testing.assert_array_equal(count, [np.sum(x == v) for v in seen])
    empty = xf.unique(np.zeros([0], np.float32))
    assert empty.y.shape == (0,) and empty.idx.shape == (0,)


def test_unique_refuses_traced_input_naming_jnp_unique():
    with pytest.raises(TypeError, match=r"jnp.unique\(x, size="):
        xf.function(lambda x: xf.unique(x).y)(np.array([1, 2, 2]))
    with pytest.raises(ValueError, match=r"x must be 1-D; received shape \(2, 2\)"):
        xf.unique([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="out_idx must be int32 or int64; received float32"):
        xf.unique([1, 2], out_idx="float32")


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted_matches_numpy_per_row(side):
    rng = np.random.default_rng(1)
    seq = np.sort(rng.integers(0, 10, size=(3, 4, 8)), axis=-1)
    values = rng.integers(-1, 11, size=(3, 4, 5))
    out = xf.searchsorted(seq, values, side=side)
    expected = np.stack([np.searchsorted(s, v, side=side)
                         for s, v in zip(seq.reshape(-1, 8), values.reshape(-1, 5))])
    np.testing.assert_array_equal(out, expected.reshape(3, 4, 5))
    assert out.dtype == jnp.int32
    traced = jax.jit(lambda s, v: xf.searchsorted(s, v, side=side))(seq[0, 0], values[0, 0])
    np.testing.assert_array_equal(traced, np.searchsorted(seq[0, 0], values[0, 0], side))


def test_searchsorted_refuses_bad_side_and_shapes():
    with pytest.raises(ValueError, match="side must be 'left' or 'right'; received 'middle'"):
        xf.searchsorted([1, 2], [1], side="middle")
    with pytest.raises(ValueError, match=r"received shapes \(2, 3\) and \(3, 1\)"):
        xf.searchsorted(np.zeros((2, 3)), np.zeros((3, 1)))


def test_bincount_lengths_and_weights_as_tf():
    arr = np.array([1, 1, 3, 0, 7])
    np.testing.assert_array_equal(xf.math.bincount(arr), np.bincount(arr))
    np.testing.assert_array_equal(xf.math.bincount(arr, minlength=10),
                                  np.bincount(arr, minlength=10))
    # maxlength cuts the output and drops the larger values
    np.testing.assert_array_equal(xf.math.bincount(arr, maxlength=3), np.bincount(arr)[:3])
    w = np.array([0.5, 1.5, 2.0, 3.0, 4.0], np.float32)
    out = xf.math.bincount(arr, weights=w)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, np.bincount(arr, weights=w))
    np.testing.assert_array_equal(xf.math.bincount(arr, binary_output=True),
                                  (np.bincount(arr) > 0).astype(np.int32))
    assert xf.math.bincount(np.zeros([0], np.int32)).shape == (0,)


def test_bincount_per_row_with_axis_minus_one():
    arr = np.array([[1, 2, 2], [0, 0, 4]])
    out = xf.math.bincount(arr, axis=-1)
    np.testing.assert_array_equal(out, [np.bincount(r, minlength=5) for r in arr])


def test_bincount_traced_needs_a_fixed_length():
    @xf.function
    def counts(x):
        return xf.math.bincount(x, minlength=6, maxlength=6)

    arr = np.array([5, 1, 1, 9])  # 9 >= maxlength: dropped, as TF
    np.testing.assert_array_equal(counts(arr), np.bincount(arr)[:6])
    with pytest.raises(ValueError, match="pass minlength=n, maxlength=n.*minlength=None"):
        xf.function(lambda x: xf.math.bincount(x))(arr)


def test_bincount_refuses_bad_arguments():
    with pytest.raises(xf.errors.InvalidArgumentError, match="non-negative.*-2"):
        xf.math.bincount([1, -2])
    with pytest.raises(ValueError, match="weights and binary_output=True are mutually"):
        xf.math.bincount([1], weights=[1.0], binary_output=True)
    with pytest.raises(ValueError, match=r"weights must have arr's shape \(2,\)"):
        xf.math.bincount([1, 2], weights=[1.0])
    with pytest.raises(ValueError, match="arr must hold integers; received dtype float32"):
        xf.math.bincount(np.array([1.0], np.float32))


def test_unique_of_strings_on_the_host():
    # TF's unique takes tf.string (a vocabulary in a tf.data map); jax holds no strings,
    # so y stays a NumPy array of the input's bytes/str values
    for x in (np.array([b"b", b"a", b"b", b"c", b"a"]), ["b", "a", "b", "c", "a"]):
        y, idx, count = xf.unique_with_counts(x)
        np.testing.assert_array_equal(y, np.asarray(x)[[0, 1, 3]])
        np.testing.assert_array_equal(idx, [0, 1, 0, 2, 1])
        np.testing.assert_array_equal(count, [2, 2, 1])
        assert isinstance(y, np.ndarray) and idx.dtype == jnp.int32


def test_bincount_of_an_empty_list_is_minlength_zeros():
    # TF converts arr to int32, so [] (float32 to NumPy and jax) counts nothing
    out = xf.math.bincount([], minlength=3)
    np.testing.assert_array_equal(out, np.zeros(3, np.int32))
    assert out.dtype == jnp.int32
    assert xf.math.bincount([]).shape == (0,)
    np.testing.assert_array_equal(xf.math.bincount([[], []], axis=-1, minlength=2),
                                  np.zeros((2, 2), np.int32))


def test_bincount_axis_zero_flattens_as_none():
    # TF documents axis 0 and -1, with None "identical to passing 0": all axes flattened
    arr = np.array([[1, 2, 2], [0, 4, 2]])
    weights = np.array([[0.5, 1.0, 2.0], [3.0, 1.5, 0.25]], np.float32)
    np.testing.assert_array_equal(xf.math.bincount(arr, axis=0),
                                  np.bincount(arr.reshape(-1)))
    np.testing.assert_allclose(xf.math.bincount(arr, weights=weights, axis=0),
                               np.bincount(arr.reshape(-1), weights.reshape(-1)))
    with pytest.raises(ValueError, match="axis must be None, 0 or -1; received 1"):
        xf.math.bincount(arr, axis=1)


def test_unique_keeps_every_nan_apart():
    # TF's kernel compares with ==, so NaN != NaN: each NaN is its own unique value
    # (np.unique would fold them into one); Python's dict of distinct NaN objects agrees
    x = np.array([np.nan, 1.0, np.nan, 1.0, 2.0], np.float32)
    y, idx, count = xf.unique_with_counts(x)
    expected = list(dict.fromkeys(x.tolist()))
    assert len(expected) == 4
    np.testing.assert_array_equal(y, np.array(expected, np.float32))  # NaN == NaN here
    np.testing.assert_array_equal(idx, [0, 1, 2, 1, 3])
    np.testing.assert_array_equal(count, [1, 2, 1, 1])
