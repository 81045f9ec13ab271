"""RaggedTensor.with_values / with_flat_values keep NumPy values on the host with their
dtype (TF keeps the new values' dtype), as xf.data's ragged elements hold them."""

import numpy as np
import pytest

import xlaflow as xf

ROWS = [[1, 2], [], [3]]
NESTED = [[[1], [2, 3]], [], [[4]]]


@pytest.mark.parametrize("values", [np.array([4, 5, 6], np.int64),
                                    np.array([0.5, 1.5, 2.5]),
                                    np.array([b"a", b"", b"cd"], object),
                                    np.array([[1, 2], [3, 4], [5, 6]], np.int64)])
def test_with_values_keeps_numpy_values_and_their_dtype(values):
    rt = xf.ragged.constant(ROWS)
    out = rt.with_values(values)
    assert type(out.values) is np.ndarray and out.values.dtype == values.dtype
    want = [values[0:2].tolist(), [], values[2:3].tolist()]  # ROWS' row partition
    assert out.to_list() == want
    assert out.row_splits.tolist() == rt.row_splits.tolist()


def test_with_flat_values_keeps_numpy_values_in_a_nested_tensor():
    rt = xf.ragged.constant(NESTED)
    values = np.array([10, 20, 30, 40], np.int64)
    out = rt.with_flat_values(values)
    assert out.ragged_rank == 2 and out.flat_values is values
    assert out.to_list() == [[[10], [20, 30]], [], [[40]]]


def test_with_values_still_converts_lists_and_checks_the_row_count():
    rt = xf.ragged.constant(ROWS)
    assert rt.with_values([7, 8, 9]).to_list() == [[7, 8], [], [9]]
    with pytest.raises(ValueError, match=r"new_values must have 3 rows \(as values\); "
                                         r"received 2"):
        rt.with_values(np.array([1, 2], np.int64))
    with pytest.raises(ValueError, match=r"values must have rank >= 1"):
        rt.with_values(np.array(5))
