"""Review of delayed restoration and the text shape ops: cases found wrong, each against
NumPy or TF 2.12's documented behaviour."""

import numpy as np
import pytest

import xlaflow as xf

TEXT = np.array([["a", "b", "c"], ["d", "e", "f"]])


def test_text_spec_is_compatible_with_any_width_of_text():
    # TF: one tf.string, so a spec accepts every text tensor of a fitting shape
    spec = xf.TensorSpec([None], xf.string)
    assert spec.is_compatible_with(xf.constant(["ab", "c"]))
    assert spec.is_compatible_with(np.array([b"x"], dtype=object))
    assert spec.is_compatible_with(xf.TensorSpec([3], np.dtype("<U5")))
    assert not spec.is_compatible_with(np.array([1.0]))
    assert not spec.is_compatible_with(xf.constant([["a"]]))
    assert not xf.TensorSpec([None]).is_compatible_with(xf.constant(["a"]))


def test_text_gather_batch_dims_refuses_unequal_batch_dimensions():
    # TF requires params.shape[:batch_dims] == indices.shape[:batch_dims]; zip truncated
    with pytest.raises(ValueError, match="batch_dims"):
        xf.gather(xf.constant(TEXT), [[0], [1], [2]], batch_dims=1)
    out = xf.gather(xf.constant(TEXT), [[2, 0], [1, 1]], batch_dims=1)
    assert out.tolist() == np.take_along_axis(TEXT, np.array([[2, 0], [1, 1]]), 1).tolist()


@pytest.mark.parametrize("tensor", [TEXT, np.arange(6.0).reshape(2, 3)])
def test_boolean_mask_refuses_scalar_mask(tensor):
    # TF 2.12: ValueError("mask cannot be scalar."); NumPy's x[True] added an axis instead
    with pytest.raises(ValueError, match="cannot be scalar"):
        xf.boolean_mask(xf.constant(tensor), True)


def test_numeric_boolean_mask_checks_the_mask_shape_from_axis():
    # TF checks tensor.shape[axis:axis + mask.ndim] against the mask's shape: a negative axis
    # selects the empty slice and is refused, where the numeric form masked axis 0
    x = np.arange(9.0).reshape(3, 3)
    with pytest.raises(ValueError, match="does not match"):
        xf.boolean_mask(x, [True, False, True], axis=-1)
    with pytest.raises(ValueError, match="does not match"):
        xf.boolean_mask(x, [True, False], axis=1)
    np.testing.assert_array_equal(xf.boolean_mask(x, [True, False, True], axis=1),
                                  x[:, [0, 2]])
