"""tf.strided_slice's shrink_axis_mask takes one index, which TF checks against the axis:
NumPy-style clamping would quietly return another row than the one asked for."""

import numpy as np
import pytest

import xlaflow as xf


def test_a_shrunk_axis_index_outside_the_axis_is_refused_naming_begin():
    x = np.arange(24).reshape(2, 3, 4)
    with pytest.raises(ValueError, match=r"begin\[0\]=5.*axis 0 \(size 2\)"):
        xf.strided_slice(x, [5], [6], [1], shrink_axis_mask=1)
    with pytest.raises(ValueError, match=r"begin\[0\]=-3.*axis 0 \(size 2\)"):
        xf.strided_slice(x, [-3], [0], [1], shrink_axis_mask=1)
    # after an ellipsis, position 1 is the input's last axis (size 4)
    with pytest.raises(ValueError, match=r"begin\[1\]=4.*axis 2 \(size 4\)"):
        xf.strided_slice(x, [0, 4], [0, 5], [1, 1], ellipsis_mask=1, shrink_axis_mask=2)
    # a new axis takes no input axis: position 1 is axis 0 again
    with pytest.raises(ValueError, match=r"begin\[1\]=2.*axis 0 \(size 2\)"):
        xf.strided_slice(x, [0, 2], [1, 3], [1, 1], new_axis_mask=1, shrink_axis_mask=2)
    # in range, negative indices count from the end, as in NumPy
    np.testing.assert_array_equal(
        xf.strided_slice(x, [-1, 0, -4], [0, 3, 0], [1, 1, 1], shrink_axis_mask=5), x[-1, :, -4])
    np.testing.assert_array_equal(
        xf.strided_slice(x, [0, -1], [0, 0], [1, 1], ellipsis_mask=1, shrink_axis_mask=2),
        x[..., -1])
    np.testing.assert_array_equal(
        xf.strided_slice(x, [0, 1], [1, 2], [1, 1], new_axis_mask=1, shrink_axis_mask=2),
        x[None, 1])
