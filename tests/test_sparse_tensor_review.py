"""Review of xf.SparseTensor construction: a rank-0 SparseTensor's entry (indices [[]], one
row of no columns) is kept, as TF keeps it, rather than read as TF's `[]` (no entries)."""

import numpy as np
import pytest

import xlaflow as xf


@pytest.mark.parametrize("indices", [[[]], np.zeros((1, 0), np.int64)])
def test_a_scalar_sparse_tensor_keeps_its_entry(indices):
    sp = xf.SparseTensor(indices, [5.0], [])
    assert sp.indices.shape == (1, 0)
    assert float(xf.sparse.to_dense(sp)) == 5.0
    assert float(xf.sparse.reduce_sum(sp)) == 5.0


def test_empty_indices_still_mean_no_entries_at_any_rank():
    sp = xf.SparseTensor([], [], [2, 3])
    assert sp.indices.shape == (0, 2)
    np.testing.assert_array_equal(xf.sparse.to_dense(sp), np.zeros((2, 3), np.float32))


def test_a_row_of_no_columns_is_refused_at_rank_two():
    with pytest.raises(ValueError, match=r"indices must have shape \[N, 2\]"):
        xf.SparseTensor([[]], [5.0], [2, 3])
