"""xf.TensorShape against tf.TensorShape's documented behaviour."""

import jax.numpy as jnp
import numpy as np
import pytest

import xlaflow as xf


def test_known_shape_of_an_array():
    x = jnp.zeros((2, 3, 4))
    shape = xf.TensorShape(x.shape)
    assert shape.as_list() == [2, 3, 4]
    assert shape.rank == shape.ndims == len(shape) == 3
    assert shape.num_elements() == 24 == np.prod(x.shape)
    assert shape.is_fully_defined()
    assert shape == (2, 3, 4) and shape == [2, 3, 4] and (2, 3, 4) == shape
    assert shape != (2, 3) and shape != xf.TensorShape(None)
    assert hash(shape) == hash((2, 3, 4))
    assert shape[1] == 3 and isinstance(shape[1], int)
    assert shape[1:] == xf.TensorShape([3, 4]) and isinstance(shape[1:], xf.TensorShape)
    assert shape[-1] == 4 and list(shape) == [2, 3, 4]
    assert repr(shape) == "TensorShape([2, 3, 4])" and str(shape) == "(2, 3, 4)"
    assert str(xf.TensorShape([5])) == "(5,)"
    assert xf.TensorShape(np.int64(7)) == [7]  # a single int is one dimension, as in TF
    assert xf.TensorShape([]).num_elements() == 1 and bool(xf.TensorShape([]))


def test_partly_and_wholly_unknown_shapes():
    partial = xf.TensorShape([None, 3])
    assert partial.as_list() == [None, 3] and partial[0] is None
    assert not partial.is_fully_defined() and partial.num_elements() is None
    assert str(partial) == "(None, 3)"
    assert partial.is_compatible_with((8, 3)) and not partial.is_compatible_with((8, 4))
    assert partial.merge_with([8, None]) == (8, 3)
    with pytest.raises(ValueError, match="not compatible"):
        partial.merge_with([8, 4])
    assert partial.concatenate([5]) == [None, 3, 5]
    unknown = xf.TensorShape(None)
    assert unknown.rank is None and not unknown and str(unknown) == "<unknown>"
    assert unknown.is_compatible_with([1, 2, 3]) and unknown.num_elements() is None
    with pytest.raises(ValueError, match="unknown TensorShape"):
        unknown.as_list()
    with pytest.raises(ValueError, match="unknown rank"):
        len(unknown)
    assert unknown.with_rank(2) == [None, None]
    with pytest.raises(ValueError, match="must have rank 3"):
        partial.with_rank(3)


def test_bad_dimensions_are_refused():
    with pytest.raises(TypeError, match="ints or None; received 2.5"):
        xf.TensorShape([2.5])
    with pytest.raises(ValueError, match=">= 0; received -1"):
        xf.TensorShape([-1, 2])
    assert (xf.TensorShape([1]) == "ab") is False


def test_plus_concatenates_and_rank_bounds_as_tf():
    # TF: TensorShape.__add__/__radd__ are concatenate; with_rank_at_least/at_most
    # return the shape or raise ValueError
    assert xf.TensorShape([1, None]) + xf.TensorShape([3]) == [1, None, 3]
    assert xf.TensorShape([1]) + [2, 3] == (1, 2, 3)
    assert [2, 3] + xf.TensorShape([1]) == xf.TensorShape([2, 3, 1])
    assert (xf.TensorShape(None) + [1]).rank is None
    shape = xf.TensorShape([4, 5])
    assert shape.with_rank_at_least(2) is shape and shape.with_rank_at_most(2) is shape
    with pytest.raises(ValueError, match="at least 3"):
        shape.with_rank_at_least(3)
    with pytest.raises(ValueError, match="at most 1"):
        shape.with_rank_at_most(1)
    assert xf.TensorShape(None).with_rank_at_least(2).rank is None


def test_ensure_shape_returns_the_tensor_when_its_shape_fits():
    # tf.ensure_shape: None leaves a dimension (or, for the whole shape, the rank) open
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for shape in ([2, 3, 4], [None, 3, None], xf.TensorShape([None, None, 4]), None):
        np.testing.assert_array_equal(xf.ensure_shape(x, shape), x)


@pytest.mark.parametrize("shape", [[2, 3, 5], [None, 4, None], [2, 3], [None, None, 4, 1]])
def test_ensure_shape_refuses_a_shape_that_does_not_fit(shape):
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(xf.errors.InvalidArgumentError, match=r"\[2,3,4\] is not compatible"):
        xf.ensure_shape(x, shape)
